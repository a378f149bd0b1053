//! The `fints` driver: German banks' own online-banking protocol, FinTS 3.0 with PIN/TAN security,
//! spoken natively (the message codec is the `fints` crate, whose documentation lists the segment
//! layouts used here).
//!
//! A sync is one dialog. The first sync of a login runs a synchronisation dialog before it (PIN
//! only): the bank gives a customer system id and its parameters ([`params`]), which are kept,
//! sealed, in the source's state. A dialog opens with HKIDN + HKVVB + HKTAN (process 4): the bank
//! answers that no strong authentication is needed (3076: within the exemption the bank grants for
//! reading accounts), asks for a TAN (0030 → `additionalInformationNeeded` with a `tan` field), or
//! for an approval in its app (3955 → `decoupled`). Then: the SEPA accounts (HKSPA), their
//! balances (HKSAL), and their history as camt.052 (HKCAZ) or MT940/MT942 (HKKAZ), page after page
//! (touchdown, 3040), read by bankd's own statement parsers.
//!
//! A dialog waiting for a TAN stays open at the bank: its id, message number and task reference
//! are kept in the state, and the run that brings the TAN (or the approval) continues it. A
//! background sync never asks: it reads only the days the exemption covers, and a bank that wants
//! an authentication all the same leaves the connection `SCARequired`.

pub mod dialog;
pub mod directory;
mod history;
pub mod params;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use fints::Segment;
use fints::message::ONE_STEP;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::{ApiSettings, Field, FieldKind, FieldValue};
use crate::domain::bank::{BankAccount, BankTransaction};
use crate::sources::{Source, SourceError, SourceRequest, SourceResult, SourceSession, Timeouts};
use dialog::{Answer, Bank, DIALOG_ENDED, Dialog};
pub use directory::Directory;
use history::{History, Statement};
use params::{Parameters, TanProcedure};

/// What every FinTS source of this process shares: the product registration that banks require
/// and the operator's directory of banks.
#[derive(Clone)]
pub struct FintsRuntime {
    /// The product id the FinTS office registered for whoever operates this bankd
    /// (`BANKD_FINTS_PRODUCT_ID`); `None`: FinTS connectors are not offered.
    pub product_id: Option<String>,
    /// The bank codes' FinTS addresses, imported by the operator (`bankd catalog import-fints`).
    pub directory: Arc<dyn Directory>,
}

/// The product id sent to bankd's own sandbox bank, which is no real bank and needs no
/// registration.
const SANDBOX_PRODUCT_ID: &str = "BANKDSANDBOX";
/// The bank's codes for a TAN it refused (the task stays open: the user may type it again) and
/// for an approval still awaited in its app.
const TAN_REFUSED: &str = "9941";
const NOT_APPROVED_YET: &str = "3956";
/// The bank no longer allows the TAN procedure the user picked.
const PROCEDURE_REFUSED: &str = "9955";
/// Days of history a bank lets an account be read without a strong authentication (PSD2 RTS
/// art. 10): what a background sync asks.
const EXEMPT_DAYS: i64 = 90;
/// The versions of HKKAZ bankd sends: 5 and 6 name the account nationally, 7 by IBAN.
const HKKAZ_VERSIONS: [u32; 3] = [5, 6, 7];

pub struct FintsSource {
    http: reqwest::Client,
    /// The bank's FinTS address when the catalog gives it; else the user's or the directory's.
    url: Option<String>,
    bank_code: Option<String>,
    /// The catalog's address is on bankd itself: the sandbox bank, which needs no product id.
    sandbox: bool,
    runtime: FintsRuntime,
    timeouts: Timeouts,
}

impl FintsSource {
    /// The driver of a catalog source; `api` (optional) names the bank's address (`base_url`, a
    /// path meaning bankd's own) and `bank_code`.
    pub fn new(
        api: Option<&ApiSettings>,
        own_url: &str,
        runtime: FintsRuntime,
        timeouts: Timeouts,
    ) -> Result<FintsSource, String> {
        let sandbox = api.is_some_and(|api| api.base_url.starts_with('/'));
        let url = api.map(|api| match api.base_url.strip_prefix('/') {
            Some(path) => format!("{}/{path}", own_url.trim_end_matches('/')),
            None => api.base_url.clone(),
        });
        let bank_code = api.and_then(|api| api.bank_code.clone());
        if let Some(code) = &bank_code {
            valid_bank_code(code)?;
        }
        let http = timeouts
            .apply(reqwest::Client::builder())
            .user_agent(concat!("bankd/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(FintsSource { http, url, bank_code, sandbox, runtime, timeouts })
    }

    /// The bank of this connection: its address and the user's identity there.
    async fn bank(&self, request: &SourceRequest) -> SourceResult<Bank> {
        let credentials = &request.credentials;
        let wrong = |message: &str| SourceError::WrongPass { message: Some(message.to_owned()) };
        let login = credentials.get("login").filter(|l| !l.is_empty()).ok_or_else(|| wrong("The login is missing"))?;
        let pin = credentials.get("pin").or_else(|| credentials.get("password")).unwrap_or_default();
        if pin.is_empty() || !fints::codec::is_latin1(pin) {
            return Err(wrong("The PIN is missing or holds characters FinTS cannot carry"));
        }
        let bank_code = match (&self.bank_code, credentials.get("bank_code")) {
            (Some(code), _) => code.clone(),
            (None, Some(code)) => valid_bank_code(code.trim()).map_err(|why| wrong(&why))?.to_owned(),
            (None, None) => return Err(wrong("The bank code (BLZ) is missing")),
        };
        let url = self.url(&bank_code, request).await?;
        let product_id = match (&self.runtime.product_id, self.sandbox) {
            (Some(id), _) => id.clone(),
            (None, true) => SANDBOX_PRODUCT_ID.to_owned(),
            (None, false) => {
                return Err(SourceError::NotSupported(
                    "FinTS banks serve registered products only: set BANKD_FINTS_PRODUCT_ID".into(),
                ));
            }
        };
        let customer_id = credentials.get("customer_id").filter(|c| !c.trim().is_empty()).unwrap_or(login);
        Ok(Bank {
            http: self.http.clone(),
            url,
            timeouts: self.timeouts,
            bank_code,
            user_id: login.to_owned(),
            customer_id: customer_id.trim().to_owned(),
            pin: pin.to_owned(),
            product_id,
        })
    }

    /// The catalog's address, else the one the user gave, else the directory's.
    async fn url(&self, bank_code: &str, request: &SourceRequest) -> SourceResult<String> {
        if let Some(url) = &self.url {
            return Ok(url.clone());
        }
        if let Some(url) = request.credentials.get("fints_url").map(str::trim).filter(|u| !u.is_empty()) {
            return match reqwest::Url::parse(url) {
                Ok(parsed) if parsed.scheme() == "https" => Ok(url.to_owned()),
                _ => Err(SourceError::WrongPass { message: Some(format!("'{url}' is not an https:// address")) }),
            };
        }
        let known = self.runtime.directory.fints_url(bank_code).await;
        match known.map_err(|e| SourceError::Bug(format!("reading the FinTS bank directory: {e}")))? {
            Some(url) => Ok(url),
            None => Err(SourceError::WrongPass {
                message: Some(format!(
                    "No FinTS address is known for bank code {bank_code}: check the code, or give the bank's \
                     FinTS URL"
                )),
            }),
        }
    }
}

fn valid_bank_code(code: &str) -> Result<&str, String> {
    if code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(format!("'{code}' is not a bank code (BLZ): 8 digits"))
    }
}

/// The source's memory between syncs (sealed by bankd).
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The customer system id the bank gave this installation (HISYN).
    system_id: Option<String>,
    #[serde(default)]
    params: Parameters,
    /// The TAN procedure the user picked (its security function).
    tan_method: Option<String>,
    /// The user's TAN media (HKTAB), when a procedure needs one named, and the one picked.
    #[serde(default)]
    tan_media: Vec<String>,
    tan_medium: Option<String>,
    /// A dialog left open for the user's TAN or approval.
    waiting: Option<Waiting>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Waiting {
    dialog: Dialog,
    task_reference: String,
    decoupled: bool,
    task: Task,
}

/// What the TAN is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Task {
    /// The dialog's start.
    Login,
    /// An account's history (the days beyond the exemption).
    History { account: String, from: Option<NaiveDate> },
}

/// A SEPA account as HKSPA lists it: what HKSAL, HKKAZ and HKCAZ name.
#[derive(Debug, Clone)]
struct SepaAccount {
    iban: Option<String>,
    bic: Option<String>,
    number: String,
    sub_account: String,
    bank_code: String,
}

impl SepaAccount {
    fn webid(&self) -> &str {
        self.iban.as_deref().unwrap_or(&self.number)
    }

    /// `IBAN:BIC:number:sub-account:280:bank code`.
    fn international(&self) -> Vec<String> {
        let mut items = vec![self.iban.clone().unwrap_or_default(), self.bic.clone().unwrap_or_default()];
        items.extend(self.national());
        items
    }

    /// `number:sub-account:280:bank code`.
    fn national(&self) -> Vec<String> {
        vec![self.number.clone(), self.sub_account.clone(), "280".into(), self.bank_code.clone()]
    }
}

/// One sync's dialog with the bank, kept in the session between the source's calls.
struct Live {
    bank: Bank,
    state: State,
    dialog: Option<Dialog>,
    /// HNSHK's security function: the TAN procedure, or one-step.
    security_function: String,
    accounts: Vec<SepaAccount>,
    /// The history a TAN just released, for `transactions` to take.
    released: Option<(String, Option<NaiveDate>, Answer)>,
}

impl Live {
    fn system_id(&self) -> String {
        self.state.system_id.clone().unwrap_or_else(|| "0".into())
    }

    async fn send(&mut self, tan: Option<&str>, segments: Vec<Segment>) -> SourceResult<Answer> {
        let system_id = self.system_id();
        self.bank.send(self.dialog.as_mut(), &system_id, &self.security_function, tan, segments).await
    }

    /// Logs in; `true` when a strong authentication succeeded during it.
    async fn login(&mut self, request: &SourceRequest) -> SourceResult<bool> {
        if let Some(waiting) = self.state.waiting.take()
            && let Some(strong) = self.resume(waiting, request).await?
        {
            return Ok(strong);
        }
        // A procedure the bank stopped allowing is learnt again, once.
        for _ in 0..2 {
            if self.state.system_id.is_none() || self.state.params.bpd_version.is_empty() {
                self.synchronise().await?;
            }
            self.security_function = self.pick_procedure(request)?;
            self.pick_medium(request)?;
            if self.open(request).await? {
                return Ok(false);
            }
        }
        Err(SourceError::Bug("the bank refuses the TAN procedures it lists for the user".into()))
    }

    /// The synchronisation dialog (PIN only): a customer system id, the bank's parameters and the
    /// user's accounts.
    async fn synchronise(&mut self) -> SourceResult<()> {
        self.security_function = ONE_STEP.to_owned();
        self.dialog = None;
        let segments = vec![self.hkidn("0"), self.hkvvb(), Segment::new("HKSYN", 3).push("0")];
        let answer = self.bank.send(None, "0", ONE_STEP, None, segments).await?;
        answer.check()?;
        self.state.params.absorb(&answer.message);
        let system_id = answer.message.find("HISYN").and_then(|s| s.text(0, 0));
        self.state.system_id = Some(
            system_id.ok_or_else(|| SourceError::Bug("the bank's synchronisation gave no system id".into()))?.into(),
        );
        self.dialog = answer.message.dialog_id().map(|id| Dialog { id: id.to_owned(), next_number: 2 });
        let media = self.list_tan_media().await;
        self.close().await;
        media
    }

    /// The user's TAN media, read in the synchronisation dialog when a procedure of theirs needs
    /// one named (HKTAB).
    async fn list_tan_media(&mut self) -> SourceResult<()> {
        let params = &self.state.params;
        let needed = params.usable_procedures().iter().any(|p| p.medium_required);
        let Some(version) = params.version("HKTAB", &[4, 5]).filter(|_| needed) else { return Ok(()) };
        let answer = self.send(None, vec![Segment::new("HKTAB", version).push("0").push("A")]).await?;
        answer.check()?;
        // The medium's name is the 13th item of each medium (v4), the 14th in v5.
        let name = if version >= 5 { 13 } else { 12 };
        let listed = answer.message.all("HITAB").flat_map(|s| s.elements.iter().skip(1));
        self.state.tan_media = listed.filter_map(|medium| medium.text(name).map(str::to_owned)).collect();
        Ok(())
    }

    /// The TAN procedure: the one the user picked, the only one, or a question.
    fn pick_procedure(&mut self, request: &SourceRequest) -> SourceResult<String> {
        let usable: Vec<&TanProcedure> = self.state.params.usable_procedures();
        if usable.is_empty() {
            return Ok(ONE_STEP.to_owned());
        }
        let is_usable = |code: &str| usable.iter().any(|p| p.code == code);
        if let Some(picked) = request.input.fields.get("tan_method").filter(|c| is_usable(c)) {
            self.state.tan_method = Some(picked.to_owned());
        }
        match &self.state.tan_method {
            Some(code) if is_usable(code) => return Ok(code.clone()),
            _ if usable.len() == 1 => {
                self.state.tan_method = Some(usable[0].code.clone());
                return Ok(usable[0].code.clone());
            }
            _ => {}
        }
        let values = usable.iter().map(|p| FieldValue { label: p.name.clone(), value: p.code.clone() }).collect();
        Err(SourceError::AdditionalInformationNeeded {
            fields: vec![list_field("tan_method", "How you confirm with your bank (TAN procedure)", values)],
            message: Some("Pick the TAN procedure bankd should use with your bank".into()),
        })
    }

    /// The TAN medium, when the procedure needs one named: the one picked, the only one, or a
    /// question.
    fn pick_medium(&mut self, request: &SourceRequest) -> SourceResult<()> {
        let procedure = self.state.params.procedure(&self.security_function);
        if !procedure.is_some_and(|p| p.medium_required) {
            return Ok(());
        }
        let media = &self.state.tan_media;
        if let Some(picked) = request.input.fields.get("tan_medium").filter(|m| media.iter().any(|k| k == m)) {
            self.state.tan_medium = Some(picked.to_owned());
        }
        if self.state.tan_medium.as_ref().is_some_and(|m| media.contains(m)) {
            return Ok(());
        }
        match media.as_slice() {
            [] => Err(SourceError::ActionNeeded {
                message: Some("The bank lists no TAN medium for this TAN procedure: register one with the bank".into()),
            }),
            [only] => {
                self.state.tan_medium = Some(only.clone());
                Ok(())
            }
            several => {
                let values = several.iter().map(|m| FieldValue { label: m.clone(), value: m.clone() }).collect();
                Err(SourceError::AdditionalInformationNeeded {
                    fields: vec![list_field("tan_medium", "Where the bank sends your TANs (TAN medium)", values)],
                    message: Some("Pick the TAN medium bankd should name to your bank".into()),
                })
            }
        }
    }

    /// Opens the dialog: the bank may ask for a strong authentication. `false`: the bank no longer
    /// allows the picked procedure, and the parameters are to be read again.
    async fn open(&mut self, request: &SourceRequest) -> SourceResult<bool> {
        self.dialog = None;
        let mut segments = vec![self.hkidn(&self.system_id()), self.hkvvb()];
        segments.extend(self.hktan_process4("HKIDN"));
        let answer = self.send(None, segments).await?;
        if answer.has(PROCEDURE_REFUSED) {
            self.state.tan_method = None;
            self.state.tan_medium = None;
            self.state.params.bpd_version.clear();
            return Ok(false);
        }
        answer.check()?;
        self.state.params.absorb(&answer.message);
        let id = answer.message.dialog_id().filter(|id| *id != "0");
        let id = id.ok_or_else(|| SourceError::Bug("the bank opened no dialog (no dialog id)".into()))?;
        self.dialog = Some(Dialog { id: id.to_owned(), next_number: 2 });
        self.challenge(&answer, Task::Login, request)?;
        Ok(true)
    }

    /// Continues the dialog left waiting, with the user's TAN or after their approval. `None`:
    /// there is nothing to continue with (no TAN given, or the bank ended the dialog meanwhile).
    async fn resume(&mut self, waiting: Waiting, request: &SourceRequest) -> SourceResult<Option<bool>> {
        let tan = request.input.fields.get("tan").map(str::trim).filter(|t| !t.is_empty());
        let poll = waiting.decoupled && request.input.resume;
        let Some(code) = self.state.tan_method.clone().filter(|_| tan.is_some() || poll) else {
            return Ok(None);
        };
        let version = self.state.params.procedure(&code).map_or(6, |p| p.hktan_version);
        self.security_function = code;
        self.dialog = Some(waiting.dialog.clone());
        let process = if poll && version >= 7 { "S" } else { "2" };
        let hktan = Segment::new("HKTAN", version)
            .push(process)
            .push("")
            .push("")
            .push("")
            .push(waiting.task_reference.as_str())
            .push("N");
        let answer = self.send(tan, vec![hktan]).await?;
        if answer.has(DIALOG_ENDED) {
            self.dialog = None;
            return Ok(None);
        }
        let pending = answer.has(NOT_APPROVED_YET);
        let refused_tan = answer.feedback.iter().find(|f| f.code == TAN_REFUSED).map(|f| f.text.clone());
        if pending || refused_tan.is_some() {
            let dialog = self.dialog.clone().unwrap_or(waiting.dialog.clone());
            self.state.waiting = Some(Waiting { dialog, ..waiting });
            return Err(match refused_tan {
                Some(said) => self.ask_tan(Some(said)),
                None => {
                    SourceError::Decoupled { message: Some("Still waiting for your approval in the bank's app".into()) }
                }
            });
        }
        answer.check()?;
        if let Task::History { account, from } = waiting.task {
            self.released = Some((account, from, answer));
        }
        Ok(Some(true))
    }

    /// Reads whether `answer` asks for a strong authentication for `task`, and if so leaves the
    /// dialog waiting and says what the user must do.
    fn challenge(&mut self, answer: &Answer, task: Task, request: &SourceRequest) -> SourceResult<()> {
        let decoupled = answer.has("3955");
        if !decoupled && !answer.has("0030") {
            return Ok(());
        }
        if request.unattended {
            return Err(SourceError::ScaRequired {
                message: Some("The bank asks for a strong authentication: sync with the user present".into()),
            });
        }
        let hitan = answer.message.find("HITAN");
        let reference = hitan.and_then(|s| s.text(2, 0));
        let reference =
            reference.ok_or_else(|| SourceError::Bug("the bank asked for a TAN without a task (HITAN)".into()))?;
        let challenge = hitan.and_then(|s| s.text(3, 0)).map(str::to_owned);
        let picture = hitan.and_then(|s| s.binary(4)).is_some_and(|data| !data.is_empty());
        if picture && challenge.is_none() && !decoupled {
            return Err(self.another_procedure());
        }
        let dialog = self.dialog.clone().ok_or_else(|| SourceError::Bug("a TAN asked outside a dialog".into()))?;
        self.state.waiting = Some(Waiting { dialog, task_reference: reference.to_owned(), decoupled, task });
        if decoupled {
            let message = challenge.or_else(|| Some("Approve the access in your bank's app".into()));
            return Err(SourceError::Decoupled { message });
        }
        Err(self.ask_tan(challenge))
    }

    /// The procedure's challenge is a picture only (a photoTAN's matrix code, a flicker code),
    /// which bankd cannot show: the user picks another procedure, when the bank offers one.
    fn another_procedure(&mut self) -> SourceError {
        let current = self.state.tan_method.take().unwrap_or_default();
        let params = &self.state.params;
        let name = params.procedure(&current).map_or(current.clone(), |p| p.name.clone());
        let others: Vec<FieldValue> = params
            .usable_procedures()
            .into_iter()
            .filter(|p| p.code != current)
            .map(|p| FieldValue { label: p.name.clone(), value: p.code.clone() })
            .collect();
        let why = format!("{name} shows a picture to scan, which bankd cannot display");
        if others.is_empty() {
            return SourceError::ActionNeeded {
                message: Some(format!("{why}, and the bank offers no other procedure: enable one with the bank")),
            };
        }
        SourceError::AdditionalInformationNeeded {
            fields: vec![list_field("tan_method", "How you confirm with your bank (TAN procedure)", others)],
            message: Some(format!("{why}: pick another procedure")),
        }
    }

    /// The question for a TAN, labelled as the bank's procedure calls it.
    fn ask_tan(&self, message: Option<String>) -> SourceError {
        let procedure = self.state.params.procedure(&self.security_function);
        let field = Field {
            name: "tan".into(),
            label: procedure.map_or("TAN", |p| &p.answer_label).to_owned(),
            kind: FieldKind::Text,
            required: true,
            regex: None,
            values: None,
            default: None,
        };
        SourceError::AdditionalInformationNeeded { fields: vec![field], message }
    }

    /// Sends a business transaction (with HKTAN process 4 when the bank wants a TAN for it).
    async fn job(&mut self, segment: Segment, task: Task, request: &SourceRequest) -> SourceResult<Answer> {
        let kind = segment.kind.clone();
        let mut segments = vec![segment];
        if self.state.params.needs_tan(&kind) {
            segments.extend(self.hktan_process4(&kind));
        }
        let answer = self.send(None, segments).await?;
        answer.check()?;
        self.challenge(&answer, task, request)?;
        Ok(answer)
    }

    /// Ends the dialog (best effort: the bank ends it anyway after a while).
    async fn close(&mut self) {
        let Some(id) = self.dialog.as_ref().map(|d| d.id.clone()) else { return };
        if let Err(e) = self.send(None, vec![Segment::new("HKEND", 1).push(id)]).await {
            tracing::debug!(error = %e, "the FinTS dialog's end was not acknowledged");
        }
        self.dialog = None;
    }

    fn hkidn(&self, system_id: &str) -> Segment {
        Segment::new("HKIDN", 2)
            .push(["280", self.bank.bank_code.as_str()])
            .push(self.bank.customer_id.as_str())
            .push(system_id)
            .push("1")
    }

    fn hkvvb(&self) -> Segment {
        let params = &self.state.params;
        let version = |v: &str| if v.is_empty() { "0".to_owned() } else { v.to_owned() };
        Segment::new("HKVVB", 3)
            .push(version(&params.bpd_version))
            .push(version(&params.upd_version))
            .push("0")
            .push(self.bank.product_id.as_str())
            // The product version field holds five characters.
            .push(&env!("CARGO_PKG_VERSION")[..env!("CARGO_PKG_VERSION").len().min(5)])
    }

    /// HKTAN process 4 for `kind` (naming the TAN medium when the procedure needs it), unless the
    /// dialog is one-step.
    fn hktan_process4(&self, kind: &str) -> Option<Segment> {
        let procedure = self.state.params.procedure(&self.security_function)?;
        let hktan = Segment::new("HKTAN", procedure.hktan_version).push("4").push(kind);
        let medium = self.state.tan_medium.as_deref().filter(|_| procedure.medium_required);
        // Elements 3 to 10 are empty for process 4; 11 is the medium's name.
        Some(match medium {
            Some(medium) => (3..=10).fold(hktan, |segment, _| segment.push("")).push(medium),
            None => hktan,
        })
    }

    async fn sepa_accounts(&mut self, request: &SourceRequest) -> SourceResult<Vec<SepaAccount>> {
        let bank_code = self.bank.bank_code.clone();
        if self.state.params.version("HKSPA", &[1]).is_none() {
            let upd = self.state.params.accounts.iter();
            return Ok(upd
                .map(|a| SepaAccount {
                    iban: a.iban.clone(),
                    bic: None,
                    number: a.number.clone(),
                    sub_account: a.sub_account.clone(),
                    bank_code: bank_code.clone(),
                })
                .collect());
        }
        let answer = self.job(Segment::new("HKSPA", 1), Task::Login, request).await?;
        let listed = answer.message.all("HISPA").flat_map(|s| s.elements.iter());
        Ok(listed
            .filter_map(|account| {
                Some(SepaAccount {
                    iban: account.text(1).map(str::to_owned),
                    bic: account.text(2).map(str::to_owned),
                    number: account.text(3)?.to_owned(),
                    sub_account: account.text(4).unwrap_or_default().to_owned(),
                    bank_code: account.text(6).unwrap_or(&bank_code).to_owned(),
                })
            })
            .collect())
    }

    /// The booked balance and the pending entries' sum (HKSAL), when the bank offers them.
    async fn balance(
        &mut self,
        account: &SepaAccount,
        request: &SourceRequest,
    ) -> SourceResult<Option<(Decimal, Option<Decimal>, Option<String>)>> {
        let Some(version) = self.state.params.version("HKSAL", &[5, 6, 7]) else { return Ok(None) };
        let named = if version >= 7 { account.international() } else { account.national() };
        let hksal = Segment::new("HKSAL", version).push(named).push("N");
        let answer = self.job(hksal, Task::Login, request).await?;
        let Some(hisal) = answer.message.find("HISAL") else { return Ok(None) };
        let booked = hisal.element(3).map(history::balance).transpose()?;
        let pending = hisal.element(4).filter(|e| e.text(1).is_some()).map(history::balance).transpose()?;
        Ok(booked.map(|booked| (booked, pending, hisal.text(2, 0).map(str::to_owned))))
    }

    /// The history of `account` from `from`, every page of it.
    async fn history(
        &mut self,
        account: &SepaAccount,
        from: Option<NaiveDate>,
        request: &SourceRequest,
    ) -> SourceResult<Vec<BankTransaction>> {
        let params = &self.state.params;
        let statement = match (
            params.version("HKCAZ", &[1]),
            params.camt_descriptors.last(),
            params.version("HKKAZ", &HKKAZ_VERSIONS),
        ) {
            (Some(_), Some(descriptor), _) => Statement::Camt { descriptor: descriptor.clone() },
            (_, _, Some(version)) => Statement::Mt940 { version },
            _ => return Err(SourceError::NotSupported("the bank offers no account history over FinTS".into())),
        };
        let webid = account.webid().to_owned();
        let released = self.released.take_if(|(released, _, _)| *released == webid);
        let (from, mut answer) = match released {
            Some((_, from, answer)) => (from, answer),
            None => {
                let task = Task::History { account: webid.clone(), from };
                (from, self.job(statement.request(account, from, None), task, request).await?)
            }
        };
        let mut history = History::default();
        loop {
            history.take(&statement, &answer.message);
            let Some(point) = answer.param_of("3040").map(str::to_owned) else { break };
            let task = Task::History { account: webid.clone(), from };
            answer = self.job(statement.request(account, from, Some(&point)), task, request).await?;
        }
        history.transactions(&statement)
    }
}

/// From when a sync asks an account's history: a background sync only within the days the bank
/// lets it read without a strong authentication; a user who is there may be asked for a TAN.
fn history_from(since: Option<NaiveDate>, request: &SourceRequest) -> Option<NaiveDate> {
    if !request.unattended {
        return since;
    }
    let exempt = request.now.date_naive() - Duration::days(EXEMPT_DAYS - 1);
    Some(since.map_or(exempt, |since| since.max(exempt)))
}

#[async_trait]
impl Source for FintsSource {
    async fn login(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<()> {
        let state = match serde_json::from_value::<State>(session.state.clone()) {
            Ok(state) => state,
            Err(e) if !session.state.is_null() => {
                tracing::warn!(error = %e, "the FinTS source's state cannot be read; synchronising again");
                State::default()
            }
            Err(_) => State::default(),
        };
        let bank = self.bank(request).await?;
        session.set_live(Live {
            bank,
            state,
            dialog: None,
            security_function: ONE_STEP.to_owned(),
            accounts: Vec::new(),
            released: None,
        });
        let live = live(session)?;
        let strong = live.login(request).await?;
        session.strongly_authenticated |= strong;
        Ok(())
    }

    async fn accounts(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<Vec<BankAccount>> {
        let live = live(session)?;
        live.accounts = live.sepa_accounts(request).await?;
        let mut accounts = Vec::new();
        for sepa in live.accounts.clone() {
            let upd =
                live.state.params.accounts.iter().find(|a| a.number == sepa.number || a.iban == sepa.iban).cloned();
            let (balance, coming, currency) = live.balance(&sepa, request).await?.unwrap_or_default();
            let name = upd.as_ref().and_then(|a| a.product.clone().or(a.holder.clone()));
            accounts.push(BankAccount {
                webid: sepa.webid().to_owned(),
                name: name.unwrap_or_else(|| format!("Konto {}", sepa.number)),
                number: Some(sepa.number.clone()),
                iban: sepa.iban.clone(),
                bic: sepa.bic.clone(),
                kind: params::account_type(upd.as_ref().and_then(|a| a.kind)),
                currency: currency.or(upd.and_then(|a| a.currency)).unwrap_or_else(|| "EUR".into()),
                balance,
                coming,
                usage: "PRIV",
            });
        }
        Ok(accounts)
    }

    async fn transactions(
        &self,
        request: &SourceRequest,
        session: &mut SourceSession,
        account_webid: &str,
        since: Option<NaiveDate>,
    ) -> SourceResult<Vec<BankTransaction>> {
        let live = live(session)?;
        let account = live.accounts.iter().find(|a| a.webid() == account_webid).cloned();
        let account = account.ok_or_else(|| SourceError::Bug(format!("account {account_webid} is not listed")))?;
        live.history(&account, history_from(since, request), request).await
    }

    /// Ends the dialog unless it waits for the user, and keeps what the run learnt.
    async fn end(&self, session: &mut SourceSession) {
        let Some(mut live) = session.take_live::<Live>() else { return };
        if live.state.waiting.is_none() {
            live.close().await;
        }
        match serde_json::to_value(&live.state) {
            Ok(state) => session.state = state,
            Err(e) => tracing::warn!(error = %e, "the FinTS source's state was not kept"),
        }
    }
}

/// A `list` field of the values the bank offers.
fn list_field(name: &str, label: &str, values: Vec<FieldValue>) -> Field {
    Field {
        name: name.into(),
        label: label.into(),
        kind: FieldKind::List,
        required: true,
        regex: None,
        values: Some(values),
        default: None,
    }
}

fn live(session: &mut SourceSession) -> SourceResult<&mut Live> {
    session.live::<Live>().ok_or_else(|| SourceError::Bug("the FinTS dialog of this sync is gone".into()))
}

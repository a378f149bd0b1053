//! The `woob` driver: a bridge to woob's bank modules (Python, LGPL), the open engine that keeps
//! working scrapers for hundreds of banks. Each call runs the helper shipped in `woob/` as a
//! subprocess of `BANKD_WOOB_PYTHON`, speaking JSON lines: it loads the catalog's `module` with the
//! connection's credentials (and any answer the user just gave) as its configuration and the
//! backend storage saved by the previous call, runs the call, and hands the storage back. bankd
//! seals that storage in the source's state, so a module's cookies and "trusted device" flags
//! survive between runs as they do in a woob user's home directory.
//!
//! woob's exceptions are its way of saying what the bank wants; each maps to one [`SourceError`].

use std::path::PathBuf;
use std::process::Stdio;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::catalog::{ConnectorSource, Field, FieldKind};
use crate::domain::bank::{ACCOUNT_TYPES, BankAccount, BankTransaction, TRANSACTION_TYPES};
use crate::sources::{Source, SourceError, SourceRequest, SourceResult, SourceSession};

/// The helper, run with `python -c`: no file to install beside the binary.
const HELPER: &str = include_str!("../../woob/bankd_woob.py");
/// The longest a module may take for one call (a history of several years is many pages).
const CALL_TIMEOUT: Duration = Duration::from_secs(300);

pub struct WoobModule {
    python: String,
    module: String,
    modules_path: Option<PathBuf>,
}

impl WoobModule {
    /// The driver of a catalog source; refused (and bankd does not start) when the source names
    /// no module or `python` cannot import woob.
    pub fn new(source: &ConnectorSource, python: &str) -> Result<WoobModule, String> {
        let module = source.module.clone().ok_or("the woob driver needs `module`")?;
        check_woob(python)?;
        Ok(WoobModule { python: python.to_owned(), module, modules_path: source.modules_path.clone() })
    }

    /// Starts the helper and logs the module in: the session every call runs in. A refused login
    /// still keeps the module's storage (see [`Helper::close`]).
    async fn open(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<Helper> {
        let mut helper = Helper::start(&self.python)?;
        let mut config: serde_json::Map<String, Value> =
            request.credentials.0.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        config.extend(request.input.fields.0.iter().map(|(k, v)| (k.clone(), json!(v))));
        // woob's sign that a user is present (its two-factor browsers ask questions only then),
        // and that they validated in their app.
        if !request.unattended {
            config.insert("request_information".into(), json!({}));
        }
        if request.input.resume {
            config.insert("resume".into(), json!(true));
        }
        let storage = if session.state.is_null() { Value::Null } else { session.state.clone() };
        let params = json!({
            "module": self.module,
            "modules_path": self.modules_path,
            "config": config,
            "storage": storage,
        });
        if let Err(refused) = helper.call("login", params).await {
            helper.close(session).await;
            return Err(refused);
        }
        Ok(helper)
    }
}

/// Runs the helper's `check` once, at start-up.
fn check_woob(python: &str) -> Result<(), String> {
    let failed = |why: String| format!("the woob driver needs a Python that can import woob ({python}): {why}");
    let mut child = std::process::Command::new(python)
        .args(["-c", HELPER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin.write_all(b"{\"id\": 0, \"method\": \"check\"}\n").map_err(|e| failed(e.to_string()))?;
    }
    let output = child.wait_with_output().map_err(|e| failed(e.to_string()))?;
    let answer: Answer = String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .and_then(|line| serde_json::from_str(line).ok())
        .ok_or_else(|| failed(String::from_utf8_lossy(&output.stderr).trim().to_owned()))?;
    match answer.error {
        Some(error) => Err(failed(format!("{}: {}", error.kind, error.message))),
        None => Ok(()),
    }
}

/// One running helper: requests go in as JSON lines, answers come back the same way.
struct Helper {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    result: Value,
    error: Option<WoobError>,
}

#[derive(Deserialize)]
struct WoobError {
    kind: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    fields: Vec<QuestionField>,
}

#[derive(Deserialize)]
struct QuestionField {
    name: String,
    label: String,
    #[serde(default, rename = "type")]
    kind: String,
}

impl Helper {
    fn start(python: &str) -> SourceResult<Helper> {
        let mut child = Command::new(python)
            .args(["-c", HELPER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // A module's traceback is for the operator's logs, not the connection's.
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SourceError::Bug(format!("starting the woob helper: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(SourceError::Bug("the woob helper has no pipes".into()));
        };
        Ok(Helper { child, stdin, stdout: BufReader::new(stdout).lines(), next_id: 1 })
    }

    async fn call(&mut self, method: &str, params: Value) -> SourceResult<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = json!({"id": id, "method": method, "params": params}).to_string();
        line.push('\n');
        let lost = |e: std::io::Error| SourceError::Bug(format!("woob helper, {method}: {e}"));
        self.stdin.write_all(line.as_bytes()).await.map_err(lost)?;
        self.stdin.flush().await.map_err(lost)?;
        let answer = tokio::time::timeout(CALL_TIMEOUT, self.stdout.next_line()).await.map_err(|_| {
            SourceError::WebsiteUnavailable { message: Some(format!("the bank module took over {CALL_TIMEOUT:?}")) }
        })?;
        let answer =
            answer.map_err(lost)?.ok_or_else(|| SourceError::Bug(format!("woob helper, {method}: it exited")))?;
        let answer: Answer = serde_json::from_str(&answer)
            .map_err(|e| SourceError::Bug(format!("woob helper, {method}: unreadable answer: {e}")))?;
        match answer.error {
            Some(error) => Err(source_error(error)),
            None => Ok(answer.result),
        }
    }

    /// Keeps the module's storage in the session, then lets the helper go. After a failure too: a
    /// module that asked a question (an SMS code) keeps there the half-done login that the
    /// answer resumes. A helper that cannot say leaves the previous storage as it was.
    async fn close(mut self, session: &mut SourceSession) {
        match self.call("storage", Value::Null).await {
            Ok(storage) => session.state = storage,
            Err(e) => tracing::warn!(error = %e, "the woob helper kept no storage"),
        }
        drop(self.stdin);
        _ = self.child.wait().await;
    }
}

/// What each woob exception means for the connection.
fn source_error(error: WoobError) -> SourceError {
    let message = Some(error.message.clone()).filter(|m| !m.is_empty());
    match error.kind.as_str() {
        // A configuration woob refuses is a credential the user must fix.
        "BrowserIncorrectPassword" | "BrowserForbidden" | "ConfigError" => SourceError::WrongPass { message },
        "BrowserPasswordExpired" => SourceError::PasswordExpired { message },
        "BrowserQuestion" => SourceError::AdditionalInformationNeeded {
            fields: error.fields.into_iter().map(question_field).collect(),
            message,
        },
        "AppValidation" => SourceError::Decoupled { message },
        "AppValidationCancelled" | "AppValidationExpired" => SourceError::WrongPass { message },
        kind if kind.starts_with("NeedInteractive") => SourceError::ScaRequired { message },
        kind if kind.starts_with("ActionNeeded") || kind.starts_with("AuthMethodNotImplemented") => {
            SourceError::ActionNeeded { message }
        }
        "BrowserUnavailable" | "BrowserHTTPError" | "BrowserHTTPNotFound" | "BrowserServerError" => {
            SourceError::WebsiteUnavailable { message }
        }
        "BrowserTooManyRequests" => SourceError::RateLimited { retry_after: None, message },
        "ModuleInstallError" | "ModuleLoadError" | "WoobMissing" => {
            SourceError::NotSupported(format!("{}: {}", error.kind, error.message))
        }
        _ => SourceError::Bug(format!("the bank module raised {}: {}", error.kind, error.message)),
    }
}

fn question_field(field: QuestionField) -> Field {
    Field {
        name: field.name,
        label: field.label,
        kind: if field.kind == "password" { FieldKind::Password } else { FieldKind::Text },
        required: true,
        regex: None,
        values: None,
    }
}

#[async_trait]
impl Source for WoobModule {
    async fn login(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<()> {
        let mut helper = self.open(request, session).await?;
        // woob modules log in lazily: reading the accounts is what proves the credentials.
        let answer = helper.call("accounts", Value::Null).await;
        helper.close(session).await;
        answer.map(drop)
    }

    async fn accounts(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<Vec<BankAccount>> {
        let mut helper = self.open(request, session).await?;
        let answer = helper.call("accounts", Value::Null).await;
        helper.close(session).await;
        let accounts: Vec<WoobAccount> = parse(answer?, "accounts")?;
        accounts.into_iter().map(WoobAccount::into_bank).collect()
    }

    async fn transactions(
        &self,
        request: &SourceRequest,
        session: &mut SourceSession,
        account_webid: &str,
        since: Option<NaiveDate>,
    ) -> SourceResult<Vec<BankTransaction>> {
        let mut helper = self.open(request, session).await?;
        let booked = helper.call("history", json!({"account": account_webid, "since": since})).await;
        let coming = match booked {
            Ok(_) => helper.call("coming", json!({"account": account_webid})).await,
            Err(_) => Ok(Value::Null),
        };
        helper.close(session).await;
        let booked: Vec<WoobTransaction> = parse(booked?, "history")?;
        let coming: Vec<WoobTransaction> = parse(coming?, "coming")?;
        let booked = booked.into_iter().map(|t| t.into_bank(false));
        booked.chain(coming.into_iter().map(|t| t.into_bank(true))).collect()
    }
}

fn parse<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> SourceResult<T> {
    serde_json::from_value(value).map_err(|e| SourceError::Bug(format!("woob helper, {what}: {e}")))
}

/// A woob `Account`, as the helper writes it.
#[derive(Deserialize)]
struct WoobAccount {
    id: String,
    label: String,
    number: Option<String>,
    iban: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    currency: Option<String>,
    balance: String,
    coming: Option<String>,
}

impl WoobAccount {
    fn into_bank(self) -> SourceResult<BankAccount> {
        Ok(BankAccount {
            // woob's id is the module's own key for the account, which its history calls take.
            webid: self.id,
            name: self.label,
            number: self.number,
            iban: self.iban,
            bic: None,
            kind: account_type(&self.kind),
            currency: self.currency.unwrap_or_else(|| "EUR".into()),
            balance: decimal(&self.balance)?,
            coming: self.coming.as_deref().map(decimal).transpose()?,
            usage: "PRIV",
        })
    }
}

/// A woob `Transaction`, as the helper writes it.
#[derive(Deserialize)]
struct WoobTransaction {
    id: Option<String>,
    date: NaiveDate,
    rdate: Option<NaiveDate>,
    vdate: Option<NaiveDate>,
    amount: String,
    label: String,
    raw: Option<String>,
    #[serde(rename = "type")]
    kind: String,
}

impl WoobTransaction {
    fn into_bank(self, coming: bool) -> SourceResult<BankTransaction> {
        Ok(BankTransaction {
            // A pending operation's id, when a module gives one, changes on booking.
            webid: self.id.filter(|id| !id.is_empty() && !coming),
            date: self.date,
            rdate: self.rdate.unwrap_or(self.date),
            vdate: self.vdate,
            value: decimal(&self.amount)?,
            original_wording: self.raw.filter(|raw| !raw.is_empty()).unwrap_or(self.label),
            kind: transaction_type(&self.kind),
            coming,
            card: None,
            counterparty: None,
        })
    }
}

fn decimal(text: &str) -> SourceResult<Decimal> {
    Decimal::from_str(text).map_err(|e| SourceError::Bug(format!("woob helper: amount '{text}': {e}")))
}

/// woob's account type names onto Powens' (`life_insurance` is Powens' `lifeinsurance`).
fn account_type(woob: &str) -> &'static str {
    let name = match woob {
        "life_insurance" => "lifeinsurance",
        other => other,
    };
    ACCOUNT_TYPES.iter().map(|t| t.name).find(|known| *known == name).unwrap_or("unknown")
}

/// woob's transaction type names onto Powens'.
fn transaction_type(woob: &str) -> &'static str {
    let name = match woob {
        "card_summary" => "summary_card",
        "instant" => "transfer",
        "cash_deposit" => "deposit",
        other => other,
    };
    TRANSACTION_TYPES.iter().copied().find(|known| *known == name).unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: &str) -> WoobError {
        WoobError { kind: kind.into(), message: "why".into(), fields: Vec::new() }
    }

    #[test]
    fn woob_exceptions_map_to_connection_states() {
        let cases = [
            ("BrowserIncorrectPassword", "wrongpass"),
            ("BrowserPasswordExpired", "passwordExpired"),
            ("BrowserQuestion", "additionalInformationNeeded"),
            ("AppValidation", "decoupled"),
            ("NeedInteractiveFor2FA", "SCARequired"),
            ("ActionNeeded", "actionNeeded"),
            ("ActionNeededOnWebsite", "actionNeeded"),
            ("BrowserUnavailable", "websiteUnavailable"),
            ("ModuleInstallError", "bug"),
            ("KeyError", "bug"),
        ];
        for (kind, state) in cases {
            assert_eq!(source_error(error(kind)).state().as_str(), state, "{kind}");
        }
        let question = WoobError {
            fields: vec![QuestionField { name: "otp".into(), label: "Code SMS".into(), kind: "text".into() }],
            ..error("BrowserQuestion")
        };
        let fields = source_error(question).fields().map(<[Field]>::to_vec).unwrap();
        assert_eq!((fields[0].name.as_str(), fields[0].label.as_str()), ("otp", "Code SMS"));
    }

    #[test]
    fn woob_types_map_to_powens_types() {
        assert_eq!(account_type("checking"), "checking");
        assert_eq!(account_type("life_insurance"), "lifeinsurance");
        assert_eq!(account_type("mystery"), "unknown");
        assert_eq!(transaction_type("card_summary"), "summary_card");
        assert_eq!(transaction_type("order"), "order");
        assert_eq!(transaction_type(""), "unknown");
    }
}

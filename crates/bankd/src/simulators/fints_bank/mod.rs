//! Sandbox Bank (FinTS): a German bank's FinTS 3.0 PIN/TAN server, for bankd's `fints` driver.
//! `POST /sandbox/fints` takes a message as base64 of its bytes and answers one the same way. Bank
//! code `99999999`, BPD version 1, UPD version 3; PIN `1234` for every login (anything after it
//! is ignored, so that tests can tell PINs apart); TAN `123456`.
//!
//! The login (HKIDN's customer id and the signature's user id) picks the customer:
//! - `demo`: TAN procedure 912 only; no strong customer authentication (SCA) needed (3076).
//!   Transactions as camt.052 (HKCAZ) and MT940 (HKKAZ).
//! - `tan`: procedures 912 and 946. A dialog signed with 912 asks for the TAN `123456` (0030 +
//!   HITAN; a wrong one is 9941 and the task stays open); signed with 946, the decoupled flow of
//!   `decoupled`. After an SCA the login is exempt for 90 days (3076).
//! - `decoupled`: procedure 946 only: 3955 and a task the client polls (HKTAN v7 process `S`):
//!   the first poll is 3956 (not yet), the second 0020. Exempt for 90 days after.
//! - `camt`: like `demo`, camt.052 only. `mt940`: like `demo`, MT940 only, 25 booked entries a
//!   page whose text is cut inside a `:86:` field (continued by touchdown, 3040).
//! - `medium`: procedure 912 needs the name of a TAN medium (HITANS); HKTAB, allowed in the
//!   synchronisation dialog, lists two phones, and a dialog start naming neither is refused
//!   (9210). The TAN is asked at dialog start, as for `tan`.
//! - `phototan`: procedures 902 (photoTAN: the challenge is a picture, no text) and 912; the TAN
//!   is asked at dialog start, as for `tan`.
//! - `oldtan`: like `demo`, but reading transactions from more than 90 days back (or without a
//!   from-date) needs the TAN `123456` (0030, then HKTAN process 2).
//! - `locked`: 3938 (access locked) at dialog start; `unregistered`: 9078 (product not
//!   registered); `busy`: 9999 to every message. Any other login: 9931, as a wrong PIN.
//!
//! Each account shows three pending entries at its first read, booked from the next read on.
//! The state (dialogs, exemptions, first reads) lives in the router's memory; dialogs are
//! forgotten after 10 minutes without a message. System ids need no memory: each carries a
//! hash of the login, so the bank recognises its own after a restart.

mod ledger;
mod parameters;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{Days, NaiveDate, Utc};
use fints::message::{self, Feedback, hirmg, hirms};
use fints::{Element, Message, Segment, Signature};
use rand::Rng;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use ledger::{Account, CAMT_02, CAMT_08, Entry};
use parameters::{BPD_VERSION, UPD_VERSION};

/// Every login's PIN, as a prefix: what follows is ignored, so that tests can tell PINs apart.
const PIN: &str = "1234";
const TAN: &str = "123456";
const CHIP_TAN: &str = "912";
const PUSH_TAN: &str = "946";
const PHOTO_TAN: &str = "902";
/// A dialog is forgotten after this long without a message.
const DIALOG_LIFETIME: Duration = Duration::from_secs(600);
/// How long a login needs no SCA after one.
const EXEMPTION_DAYS: u64 = 90;
/// Transactions older than this many days need a TAN (`oldtan`).
const RECENT_DAYS: u64 = 90;
/// Booked entries per page: MT940 (cut inside the last entry's `:86:`) and camt.052.
const MT940_PAGE: usize = 25;
const CAMT_PAGE: usize = 200;
/// Polls before a decoupled approval is given.
const POLLS_TO_APPROVE: u32 = 2;

/// The scripted customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Login {
    Demo,
    Tan,
    Decoupled,
    Camt,
    Mt940,
    Locked,
    Unregistered,
    OldTan,
    Busy,
    Medium,
    PhotoTan,
}

impl Login {
    fn of(login: &str) -> Option<Login> {
        Some(match login {
            "demo" => Login::Demo,
            "tan" => Login::Tan,
            "decoupled" => Login::Decoupled,
            "camt" => Login::Camt,
            "mt940" => Login::Mt940,
            "locked" => Login::Locked,
            "unregistered" => Login::Unregistered,
            "oldtan" => Login::OldTan,
            "busy" => Login::Busy,
            "medium" => Login::Medium,
            "phototan" => Login::PhotoTan,
            _ => return None,
        })
    }

    /// The TAN procedures allowed (the parameters of 3920).
    fn procedures(self) -> &'static [&'static str] {
        match self {
            Login::Tan => &[CHIP_TAN, PUSH_TAN],
            Login::Decoupled => &[PUSH_TAN],
            Login::PhotoTan => &[PHOTO_TAN, CHIP_TAN],
            _ => &[CHIP_TAN],
        }
    }

    /// The TAN media HKTAB lists; a login with some must name one in HKTAN.
    fn media(self) -> &'static [&'static str] {
        match self {
            Login::Medium => &["Handy Max", "Handy Erika"],
            _ => &[],
        }
    }

    fn offers_mt940(self) -> bool {
        self != Login::Camt
    }

    fn offers_camt(self) -> bool {
        self != Login::Mt940
    }
}

/// A task waiting for its SCA.
#[derive(Debug, Clone)]
struct Task {
    reference: String,
    /// Decoupled: the polls so far; `None` for a typed TAN.
    polls: Option<u32>,
    /// photoTAN: the challenge is a picture only, no text.
    picture: bool,
    /// The business segment to run once approved; `None`: the dialog itself.
    order: Option<Segment>,
}

#[derive(Debug, Clone)]
struct Dialog {
    login: String,
    /// The number the next message must carry.
    next: u32,
    /// Business transactions allowed: the SCA is done or was not needed.
    authenticated: bool,
    /// The synchronisation dialog: HKTAB only.
    synchronising: bool,
    task: Option<Task>,
    touched: Instant,
}

#[derive(Default)]
struct Books {
    dialogs: HashMap<String, Dialog>,
    /// Logins that need no SCA until the day given.
    exempt_until: HashMap<String, NaiveDate>,
    /// The day each (login, account number) was first read: its pending entries' date.
    first_reads: HashMap<(String, String), NaiveDate>,
}

#[derive(Clone, Default)]
struct Bank(Arc<Mutex<Books>>);

/// The bank's route: `POST /fints`.
pub fn router() -> Router {
    Router::new().route("/fints", post(endpoint)).with_state(Bank::default())
}

async fn endpoint(State(bank): State<Bank>, body: axum::body::Bytes) -> Response {
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    let answer = {
        let mut books = bank.0.lock().unwrap_or_else(PoisonError::into_inner);
        books.answer(&body, today, Instant::now())
    };
    ([(header::CONTENT_TYPE, "text/plain; charset=ISO-8859-1")], message::to_wire(&answer)).into_response()
}

fn code(code: &str, text: &str) -> Feedback {
    Feedback::new(code, text)
}

fn done() -> Feedback {
    code("0020", "Der Auftrag wurde ausgeführt.")
}

/// What a message gets: data segments, and return codes per request segment.
#[derive(Default)]
struct Reply {
    codes: Vec<(u32, Vec<Feedback>)>,
    data: Vec<Segment>,
    /// Codes for the whole message beside the summary.
    message: Vec<Feedback>,
}

impl Reply {
    fn add(&mut self, segment: u32, feedback: Feedback) {
        match self.codes.iter_mut().find(|(s, _)| *s == segment) {
            Some((_, list)) => list.push(feedback),
            None => self.codes.push((segment, vec![feedback])),
        }
    }

    /// HIRMG (0010, or 9050 when a segment failed, 3060 with warnings), the HIRMS, the data.
    fn segments(self) -> Vec<Segment> {
        let segment_codes = self.codes.iter().flat_map(|(_, c)| c);
        let mut summary = self.message.clone();
        if !summary.iter().any(Feedback::is_error) {
            if segment_codes.clone().any(Feedback::is_error) {
                summary.push(code("9050", "Die Nachricht enthält Fehler."));
            } else {
                summary.push(code("0010", "Nachricht entgegengenommen."));
                if segment_codes.clone().any(|c| c.code.starts_with('3')) {
                    summary.push(code("3060", "Bitte beachten Sie die enthaltenen Warnungen/Hinweise."));
                }
            }
        }
        let mut segments = vec![hirmg(&summary)];
        segments.extend(self.codes.iter().map(|(segment, codes)| hirms(*segment, codes)));
        segments.extend(self.data);
        segments
    }
}

/// A system id: a random part and a hash of it with the login.
fn system_id(login: &str, nonce: u32) -> String {
    let digest = Sha256::digest(format!("bankd fints sandbox system id:{login}:{nonce:08X}"));
    let tag: String = digest[..8].iter().map(|b| format!("{b:02X}")).collect();
    format!("{nonce:08X}{tag}")
}

fn issued(login: &str, id: &str) -> bool {
    id.len() == 24 && u32::from_str_radix(&id[..8], 16).is_ok_and(|nonce| system_id(login, nonce) == id)
}

fn random_id() -> String {
    format!("{:016X}", rand::thread_rng().r#gen::<u64>())
}

fn date(segment: &Segment, index: usize) -> Result<Option<NaiveDate>, Feedback> {
    match segment.text(index, 0) {
        None => Ok(None),
        Some(text) => NaiveDate::parse_from_str(text, "%Y%m%d")
            .map(Some)
            .map_err(|_| code("9010", &format!("Datum {text} ist ungültig."))),
    }
}

/// HITAN answering an HKTAN of `version`.
fn hitan(version: u32, reference: u32, process: &str, task: &str, challenge: &str) -> Segment {
    Segment::new("HITAN", version).answering(reference).push(process).push("").push(task).push(challenge)
}

/// The HITAN (process 4) that asks for a task's SCA, and its return code.
fn challenge(hktan: &Segment, task: &Task, reply: &mut Reply) -> Segment {
    let (feedback, text) = if task.polls.is_some() {
        let text = "Bitte bestätigen Sie den Vorgang in Ihrer Sandbox-App.";
        (code("3955", text), text)
    } else {
        let text = "Bitte geben Sie die TAN 123456 aus Ihrer Sandbox-TAN-Liste ein.";
        (code("0030", "Auftrag empfangen - Sicherheitsfreigabe erforderlich."), text)
    };
    reply.add(hktan.number, feedback);
    if task.picture {
        // A photoTAN: the matrix code to scan, as its MIME type's length, the type and the image.
        let image = b"\x00\x09image/png\x00\x08\x89PNG\r\n\x1a\n".to_vec();
        return hitan(hktan.version, hktan.number, "4", &task.reference, "").push(fints::Element::binary(image));
    }
    hitan(hktan.version, hktan.number, "4", &task.reference, text)
}

impl Books {
    fn answer(&mut self, body: &[u8], today: NaiveDate, now: Instant) -> Vec<u8> {
        self.dialogs.retain(|_, d| now.duration_since(d.touched) < DIALOG_LIFETIME);
        let refused = |dialog: &str, number: u32, feedback: Feedback| {
            message::answer(dialog, number, number, Reply { message: vec![feedback], ..Reply::default() }.segments())
        };
        let Ok(request) = message::from_wire(body).and_then(|bytes| Message::decode(&bytes).map(|m| (bytes, m))) else {
            return refused("0", 0, code("9010", "Die Nachricht ist syntaktisch falsch."));
        };
        let (bytes, request) = request;
        let dialog_id = request.dialog_id().unwrap_or("0").to_owned();
        let number = request.number().unwrap_or(0);
        let Some(signature) = request.signature() else {
            return refused(&dialog_id, number, code("9010", "Die Nachricht ist nicht signiert."));
        };
        if Login::of(&signature.user_id) == Some(Login::Busy) {
            let text = "Das System ist zur Zeit nicht verfügbar. Bitte versuchen Sie es später erneut.";
            return refused(&dialog_id, number, code("9999", text));
        }
        let size = request.find("HNHBK").and_then(|h| h.text(0, 0)).and_then(|t| t.parse::<usize>().ok());
        let end = request.find("HNHBS").and_then(|h| h.text(0, 0)).and_then(|t| t.parse::<u32>().ok());
        if size != Some(bytes.len()) {
            return refused(&dialog_id, number, code("9010", "Die Nachrichtengröße stimmt nicht."));
        }
        if end != Some(number) {
            return refused(&dialog_id, number, code("9120", "Nachrichtennummer im Nachrichtenabschluss falsch."));
        }
        if dialog_id == "0" {
            if number != 1 {
                return refused(&dialog_id, number, code("9120", "Nachrichtennummer nicht in der erwarteten Folge."));
            }
            let (dialog, reply) = self.open(&request, &signature, today, now);
            return message::answer(dialog.as_deref().unwrap_or("0"), number, number, reply.segments());
        }
        let Some(dialog) = self.dialogs.get_mut(&dialog_id).filter(|d| d.login == signature.user_id) else {
            return refused(&dialog_id, number, code("9800", "Dialog abgebrochen"));
        };
        if number != dialog.next {
            return refused(&dialog_id, number, code("9120", "Nachrichtennummer nicht in der erwarteten Folge."));
        }
        dialog.next += 1;
        dialog.touched = now;
        let mut dialog = dialog.clone();
        let mut reply = Reply::default();
        if !signature.pin.starts_with(PIN) {
            let hkidn = request.business().next().map_or(0, |s| s.number);
            reply.add(hkidn, code("9931", "Anmeldename oder PIN ist falsch."));
            self.dialogs.remove(&dialog_id);
            return message::answer(&dialog_id, number, number, reply.segments());
        }
        let ended = self.in_dialog(&mut dialog, &request, &signature, &mut reply, today);
        if ended {
            self.dialogs.remove(&dialog_id);
        } else {
            self.dialogs.insert(dialog_id.clone(), dialog);
        }
        message::answer(&dialog_id, number, number, reply.segments())
    }

    /// A dialog's first message: its id when it opens, and the answer.
    fn open(
        &mut self,
        request: &Message,
        signature: &Signature,
        today: NaiveDate,
        now: Instant,
    ) -> (Option<String>, Reply) {
        let mut reply = Reply::default();
        let (Some(hkidn), Some(hkvvb)) = (request.find("HKIDN"), request.find("HKVVB")) else {
            reply.message.push(code("9010", "Dialoginitialisierung ohne HKIDN und HKVVB."));
            return (None, reply);
        };
        let user = signature.user_id.as_str();
        let login = Login::of(user).filter(|_| hkidn.text(1, 0) == Some(user));
        let wrong = |mut reply: Reply| {
            reply.add(hkidn.number, code("9931", "Anmeldename oder PIN ist falsch."));
            (None, reply)
        };
        let Some(login) = login else { return wrong(reply) };
        if login == Login::Locked {
            reply.message.push(code("9050", "Die Nachricht enthält Fehler."));
            reply.add(hkidn.number, code("3938", "Ihr Zugang ist vorläufig gesperrt - Bitte PIN-Sperre aufheben."));
            return (None, reply);
        }
        if login == Login::Unregistered || hkvvb.text(3, 0).is_none() {
            let unregistered = code("9078", "Ihr Produkt ist nicht registriert.");
            reply.message.push(unregistered.clone());
            reply.add(hkvvb.number, unregistered);
            return (None, reply);
        }
        if !signature.pin.starts_with(PIN) {
            return wrong(reply);
        }
        let hksyn = request.find("HKSYN");
        let function = signature.security_function.as_str();
        let hktan = request.all("HKTAN").find(|s| s.text(0, 0) == Some("4"));
        if hksyn.is_none() {
            if !hkidn.text(2, 0).is_some_and(|id| issued(user, id)) {
                reply.add(hkidn.number, code("9010", "Kundensystem-ID unbekannt: bitte neu synchronisieren."));
                return (None, reply);
            }
            if !login.procedures().contains(&function) {
                let at = hktan.map_or(hkidn.number, |s| s.number);
                reply.add(at, code("9955", "Gewähltes Zwei-Schritt-Verfahren nicht zugelassen."));
                return (None, reply);
            }
            let medium = hktan.and_then(|s| s.text(10, 0));
            if !login.media().is_empty() && !medium.is_some_and(|m| login.media().contains(&m)) {
                let at = hktan.map_or(hkidn.number, |s| s.number);
                reply.add(at, code("9210", "Bezeichnung des TAN-Mediums fehlt oder ist unbekannt."));
                return (None, reply);
            }
        }
        let mut dialog = Dialog {
            login: user.to_owned(),
            next: 2,
            authenticated: false,
            synchronising: hksyn.is_some(),
            task: None,
            touched: now,
        };
        let mut procedures = code("3920", "Zugelassene Zwei-Schritt-Verfahren für den Benutzer.");
        procedures.params = login.procedures().iter().map(|p| (*p).to_owned()).collect();
        reply.add(hkidn.number, done());
        reply.add(hkidn.number, procedures);
        reply.add(hkvvb.number, code("0020", "Informationen fehlerfrei entgegengenommen."));
        let number = |index: usize| hkvvb.text(index, 0).and_then(|t| t.parse::<u32>().ok()).unwrap_or(0);
        let parameters = |segments: Vec<Segment>| segments.into_iter().map(move |s| s.answering(hkvvb.number));
        if hksyn.is_some() || number(0) < BPD_VERSION {
            reply.data.extend(parameters(parameters::bpd(login)));
        }
        if hksyn.is_some() || number(1) < UPD_VERSION {
            reply.data.extend(parameters(parameters::upd(user)));
        }
        let exempt = !matches!(login, Login::Tan | Login::Decoupled | Login::Medium | Login::PhotoTan)
            || self.exempt_until.get(user).is_some_and(|until| today < *until);
        if let Some(hksyn) = hksyn {
            reply.add(hksyn.number, done());
            let id = system_id(user, rand::thread_rng().r#gen());
            reply.data.push(Segment::new("HISYN", 4).answering(hksyn.number).push(id));
            if let Some(hktan) = hktan {
                reply.add(hktan.number, code("3076", "Starke Kundenauthentifizierung nicht notwendig."));
                reply.data.push(hitan(hktan.version, hktan.number, "4", "noref", ""));
            }
        } else if exempt {
            dialog.authenticated = true;
            if let Some(hktan) = hktan {
                reply.add(hktan.number, code("3076", "Starke Kundenauthentifizierung nicht notwendig."));
                reply.data.push(hitan(hktan.version, hktan.number, "4", "noref", ""));
            }
        } else {
            let Some(hktan) = hktan else {
                reply.add(hkidn.number, code("9075", "Starke Kundenauthentifizierung notwendig."));
                return (None, reply);
            };
            let task = Task {
                reference: random_id(),
                polls: (function == PUSH_TAN).then_some(0),
                picture: function == PHOTO_TAN,
                order: None,
            };
            let hitan = challenge(hktan, &task, &mut reply);
            reply.data.push(hitan);
            dialog.task = Some(task);
        }
        let id = random_id();
        self.dialogs.insert(id.clone(), dialog);
        (Some(id), reply)
    }

    /// A message in an open dialog; `true` when it ends the dialog.
    fn in_dialog(
        &mut self,
        dialog: &mut Dialog,
        request: &Message,
        signature: &Signature,
        reply: &mut Reply,
        today: NaiveDate,
    ) -> bool {
        let login = Login::of(&dialog.login).unwrap_or(Login::Demo);
        let hktan4 = request.all("HKTAN").find(|s| s.text(0, 0) == Some("4"));
        let mut sca_asked = false;
        let mut ended = false;
        for segment in request.business() {
            match segment.kind.as_str() {
                "HKEND" => {
                    reply.add(segment.number, code("0100", "Dialog beendet."));
                    ended = true;
                }
                "HKTAN" => match segment.text(0, 0) {
                    Some("4") => {}
                    Some("2") | Some("S") => self.approve(dialog, segment, signature, reply, today),
                    _ => reply.add(segment.number, code("9010", "TAN-Prozess nicht unterstützt.")),
                },
                "HKSPA" | "HKSAL" | "HKKAZ" | "HKCAZ" | "HKTAB" => {
                    let listing_media = dialog.synchronising && segment.kind == "HKTAB";
                    if !dialog.authenticated && !listing_media {
                        reply.add(segment.number, code("9075", "Starke Kundenauthentifizierung notwendig."));
                    } else if self.needs_tan(login, segment, today) {
                        match hktan4 {
                            Some(hktan) if dialog.task.is_none() => {
                                let task = Task {
                                    reference: random_id(),
                                    polls: None,
                                    picture: false,
                                    order: Some(segment.clone()),
                                };
                                let hitan = challenge(hktan, &task, reply);
                                reply.data.push(hitan);
                                dialog.task = Some(task);
                                sca_asked = true;
                            }
                            _ => reply.add(segment.number, code("9075", "Starke Kundenauthentifizierung notwendig.")),
                        }
                    } else {
                        self.run(login, &dialog.login, segment, segment.number, reply, today);
                    }
                }
                _ => reply.add(segment.number, code("9010", "Geschäftsvorfall wird nicht unterstützt.")),
            }
        }
        if let Some(hktan) = hktan4.filter(|_| !sca_asked) {
            reply.add(hktan.number, code("3076", "Starke Kundenauthentifizierung nicht notwendig."));
            reply.data.push(hitan(hktan.version, hktan.number, "4", "noref", ""));
        }
        ended
    }

    /// HKTAN process 2 (the TAN for a task) or `S` (has the app approved it?).
    fn approve(
        &mut self,
        dialog: &mut Dialog,
        hktan: &Segment,
        signature: &Signature,
        reply: &mut Reply,
        today: NaiveDate,
    ) {
        let process = hktan.text(0, 0).unwrap_or_default();
        let Some(task) = dialog.task.as_mut().filter(|t| hktan.text(4, 0) == Some(t.reference.as_str())) else {
            reply.add(hktan.number, code("9010", "Auftragsreferenz unbekannt."));
            return;
        };
        let echo = hitan(hktan.version, hktan.number, process, &task.reference, "");
        match (process, task.polls.as_mut()) {
            ("2", None) if signature.tan.as_deref() == Some(TAN) => {}
            ("2", None) => return reply.add(hktan.number, code("9941", "TAN ungültig.")),
            ("S", Some(polls)) if hktan.version >= 7 => {
                *polls += 1;
                if *polls < POLLS_TO_APPROVE {
                    reply.add(hktan.number, code("3956", "Starke Kundenauthentifizierung noch ausstehend."));
                    reply.data.push(echo);
                    return;
                }
            }
            _ => return reply.add(hktan.number, code("9010", "TAN-Prozess passt nicht zum Auftrag.")),
        }
        let order = dialog.task.take().and_then(|t| t.order);
        reply.data.push(echo);
        match order {
            Some(order) => {
                let login = Login::of(&dialog.login).unwrap_or(Login::Demo);
                self.run(login, &dialog.login, &order, hktan.number, reply, today);
            }
            None => {
                reply.add(hktan.number, done());
                dialog.authenticated = true;
                self.exempt_until.insert(dialog.login.clone(), today + Days::new(EXEMPTION_DAYS));
            }
        }
    }

    /// `oldtan` reading more than 90 days back, from the first page.
    fn needs_tan(&self, login: Login, segment: &Segment, today: NaiveDate) -> bool {
        let (from, touchdown) = match segment.kind.as_str() {
            "HKKAZ" => (2, 5),
            "HKCAZ" => (3, 6),
            _ => return false,
        };
        let recent = |from: NaiveDate| from >= today - Days::new(RECENT_DAYS);
        login == Login::OldTan
            && segment.text(touchdown, 0).is_none()
            && !date(segment, from).ok().flatten().is_some_and(recent)
    }

    /// A business transaction; its answers name request segment `at`.
    fn run(&mut self, login: Login, user: &str, segment: &Segment, at: u32, reply: &mut Reply, today: NaiveDate) {
        let accounts = ledger::accounts(user);
        let account = || {
            let named = |a: &&Account| {
                segment.text(0, 0) == Some(a.iban.as_str()) || segment.text(0, 2) == Some(a.number.as_str())
            };
            accounts.iter().find(named).cloned()
        };
        let offered = match (segment.kind.as_str(), segment.version) {
            ("HKSPA", 1) | ("HKSAL", 7) | ("HKTAB", 4) => true,
            ("HKKAZ", 7) => login.offers_mt940(),
            ("HKCAZ", 1) => login.offers_camt(),
            _ => false,
        };
        if !offered {
            return reply.add(at, code("9010", "Geschäftsvorfall in dieser Version nicht unterstützt."));
        }
        let result = match segment.kind.as_str() {
            "HKSPA" => {
                let mut hispa = Segment::new("HISPA", 1).answering(at);
                for account in &accounts {
                    let mut items = vec!["J".to_owned()];
                    items.extend(account.international());
                    hispa = hispa.push(items);
                }
                reply.data.push(hispa);
                Ok(done())
            }
            "HKTAB" => {
                reply.data.push(parameters::hitab(login, at));
                Ok(done())
            }
            "HKSAL" => match account() {
                Some(account) => {
                    reply.data.push(self.balance(user, &account, at, today));
                    Ok(done())
                }
                None => Err(code("9010", "Konto unbekannt.")),
            },
            _ => match account() {
                Some(account) => self.transactions(user, &account, segment, at, reply, today),
                None => Err(code("9010", "Konto unbekannt.")),
            },
        };
        match result {
            Ok(feedback) | Err(feedback) => reply.add(at, feedback),
        }
    }

    /// The account's pending entries if it was never read, else those booked since.
    fn pending_state(&self, user: &str, account: &Account, today: NaiveDate) -> (Vec<Entry>, Vec<Entry>) {
        match self.first_reads.get(&(user.to_owned(), account.number.clone())) {
            None => (ledger::pending(user, account, today), Vec::new()),
            Some(first) => (Vec::new(), ledger::pending(user, account, *first)),
        }
    }

    fn balance(&self, user: &str, account: &Account, at: u32, today: NaiveDate) -> Segment {
        let (pending, settled) = self.pending_state(user, account, today);
        let (_, now) = ledger::booked(user, account, today, &settled);
        let money = |amount: Decimal| -> Element {
            let side = if amount.is_sign_negative() { "D" } else { "C" };
            [side, &ledger::comma(amount), "EUR", &today.format("%Y%m%d").to_string()].into()
        };
        let mut hisal = Segment::new("HISAL", 7)
            .answering(at)
            .push(account.international())
            .push(account.name)
            .push("EUR")
            .push(money(now));
        if !pending.is_empty() {
            hisal = hisal.push(money(pending.iter().map(|e| e.amount).sum()));
        }
        hisal
    }

    /// HKKAZ / HKCAZ: a page of booked entries from `from` to `to` (and the pending ones with the
    /// first page). The touchdown point is `<page>-<S|P>`: the next page, and whether the read
    /// began after the pending entries were booked, so that every page cuts the same text.
    fn transactions(
        &mut self,
        user: &str,
        account: &Account,
        segment: &Segment,
        at: u32,
        reply: &mut Reply,
        today: NaiveDate,
    ) -> Result<Feedback, Feedback> {
        let camt = segment.kind == "HKCAZ";
        let (from_at, to_at, touchdown_at) = if camt { (3, 4, 6) } else { (2, 3, 5) };
        let from = date(segment, from_at)?.unwrap_or(ledger::oldest(today)).max(ledger::oldest(today));
        let to = date(segment, to_at)?.unwrap_or(today).min(today);
        let bad_touchdown = || code("9010", "Aufsetzpunkt ungültig.");
        let (page, settled_known) = match segment.text(touchdown_at, 0) {
            None => (0, None),
            Some(point) => {
                let (page, state) = point.split_once('-').ok_or_else(bad_touchdown)?;
                let page: usize = page.parse().map_err(|_| bad_touchdown())?;
                (page, Some(state == "S"))
            }
        };
        let key = (user.to_owned(), account.number.clone());
        let (pending, settled) = match settled_known {
            None => self.pending_state(user, account, today),
            Some(false) => (Vec::new(), Vec::new()),
            Some(true) => {
                (Vec::new(), ledger::pending(user, account, self.first_reads.get(&key).copied().unwrap_or(today)))
            }
        };
        let state = if settled.is_empty() { "P" } else { "S" };
        self.first_reads.entry(key).or_insert(today);
        let descriptor = if camt {
            let accepted = segment.element(1).map(|e| e.texts_from(0)).unwrap_or_default();
            let descriptor = [CAMT_08, CAMT_02].into_iter().find(|d| accepted.contains(d));
            Some(descriptor.ok_or_else(|| code("9010", "Kein unterstütztes camt-Format angefragt."))?)
        } else {
            None
        };
        let (all, now) = ledger::booked(user, account, today, &settled);
        let first = all.partition_point(|e| e.booked < from);
        let end = all.partition_point(|e| e.booked <= to);
        let entries = &all[first..end.max(first)];
        let opening = ledger::balance_at(&all, now, from.pred_opt().unwrap_or(from));
        let (data, more) = match descriptor {
            Some(descriptor) => {
                let chunk = entries.chunks(CAMT_PAGE).nth(page).unwrap_or_default();
                let before = page * CAMT_PAGE;
                let start = opening + entries[..before.min(entries.len())].iter().map(|e| e.amount).sum::<Decimal>();
                let close = start + chunk.iter().map(|e| e.amount).sum::<Decimal>();
                let document = ledger::camt052(descriptor, account, chunk, Some((start, close)), today, false);
                let mut hicaz = Segment::new("HICAZ", 1)
                    .answering(at)
                    .push(account.international())
                    .push(descriptor)
                    .push(Element::binary(document));
                if page == 0 && !pending.is_empty() {
                    hicaz =
                        hicaz.push(Element::binary(ledger::camt052(descriptor, account, &pending, None, today, true)));
                }
                (hicaz, entries.len() > (page + 1) * CAMT_PAGE)
            }
            None => {
                let (text, offsets) = ledger::mt940(account, entries, opening, from, to);
                // Page `n` ends a few bytes into the wording of entry 25·(n+1).
                let cut = |n: usize| if n == 0 { Some(0) } else { offsets.get(n * MT940_PAGE - 1).map(|o| o + 5) };
                let start = cut(page).ok_or_else(bad_touchdown)?;
                let stop = cut(page + 1).filter(|_| entries.len() > (page + 1) * MT940_PAGE);
                let booked = text[start..stop.unwrap_or(text.len())].to_vec();
                let mut hikaz = Segment::new("HIKAZ", 7).answering(at).push(Element::binary(booked));
                if page == 0 && !pending.is_empty() {
                    hikaz = hikaz.push(Element::binary(ledger::mt942(account, &pending, today)));
                }
                (hikaz, stop.is_some())
            }
        };
        reply.data.push(data);
        if more {
            let point = format!("{}-{state}", page + 1);
            reply.add(at, code("3040", "Es liegen weitere Informationen vor.").with_params([point]));
        }
        Ok(done())
    }
}

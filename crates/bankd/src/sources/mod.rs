//! The source plug-in boundary: one trait every way of reaching a bank implements (PSD2 APIs in
//! [`psd2`]; web scraping and statement files later; the in-process Sandbox Bank of `simulators`).
//!
//! A source knows nothing of the store or the API. It is handed the connection's credentials,
//! whatever the user just supplied, and its own session state from the previous run (cookies,
//! consent ids, tokens — saved sealed by bankd between runs). It answers with what the bank said —
//! accounts, transactions — or with a [`SourceError`] that is either an interaction the user must
//! complete (OTP, redirect, app validation) or a classified failure. The sync engine turns that
//! answer into connection states and stored rows through the domain rules.

pub mod entries;
pub mod fints;
pub mod psd2;
pub mod tls;
pub mod web;
pub mod woob;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::catalog::{Catalog, Field};
use crate::domain::bank::{BankAccount, BankTransaction};
use crate::domain::states::ConnectionState;

/// The credential values of a connection (`login`, `password`, …). Never printed: `Debug` shows
/// the field names only.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials(pub BTreeMap<String, String>);

impl Credentials {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys().map(|k| format!("{k}: <redacted>"))).finish()
    }
}

/// What the user brought to this run, beyond the stored credentials.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct UserInput {
    /// Values for fields the bank asked for (an OTP, an answer), by field name.
    pub fields: Credentials,
    /// The user says they validated in their bank app (`decoupled`).
    pub resume: bool,
    /// The user came back from the bank's page (`webauthRequired`) with this code; empty when the
    /// bank sends none (XS2A's redirect: the source asks the bank for the consent's status).
    pub webauth_code: Option<String>,
    /// The user is present and authenticating now (new credentials, `refresh_auth`, a reconnect):
    /// the bank may run a strong customer authentication.
    pub authenticating: bool,
    /// The user's IP address, when they are present and it is known (PSD2's `PSU-IP-Address`).
    #[serde(default)]
    pub psu_ip: Option<String>,
}

impl fmt::Debug for UserInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInput")
            .field("fields", &self.fields)
            .field("resume", &self.resume)
            .field("webauth_code", &self.webauth_code.as_ref().map(|_| "<redacted>"))
            .field("authenticating", &self.authenticating)
            .field("psu_ip", &self.psu_ip)
            .finish()
    }
}

/// Everything a source is told for one run.
#[derive(Debug, Clone)]
pub struct SourceRequest {
    pub credentials: Credentials,
    pub input: UserInput,
    /// Where a bank's consent page must send the user back (with `state` and `code`).
    pub webauth_callback: String,
    /// Opaque value to pass to the consent page as `state`; bankd maps it back to this connection.
    pub webauth_state: String,
    pub now: DateTime<Utc>,
    /// No user is present (a background refresh): PSD2 APIs count such reads against a daily budget.
    pub unattended: bool,
}

/// The source's memory between runs, plus what it learnt during this one.
#[derive(Debug, Default)]
pub struct SourceSession {
    /// Source-private state (cookies, consent ids, tokens…); persisted sealed, `Null` at first.
    pub state: serde_json::Value,
    /// Set by the source when a strong customer authentication succeeded during this run: the
    /// PSD2 180-day clock restarts.
    pub strongly_authenticated: bool,
    /// Until when the bank's consent lets this source read, when the bank says (a PSD2 consent's
    /// `validUntil`); otherwise 180 days from a strong authentication.
    pub access_expire: Option<DateTime<Utc>>,
    /// What a driver keeps alive between the calls of one run (a woob helper process); never
    /// persisted, and released by [`Source::end`].
    live: Option<Live>,
}

/// A driver's value of one run, of the driver's own type.
struct Live(Box<dyn std::any::Any + Send>);

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Live(..)")
    }
}

impl SourceSession {
    /// The session of a run, from the state the previous one left.
    pub fn new(state: serde_json::Value) -> SourceSession {
        SourceSession { state, ..SourceSession::default() }
    }

    /// The run's live value, if the driver set one of this type.
    pub fn live<T: 'static>(&mut self) -> Option<&mut T> {
        self.live.as_mut().and_then(|live| live.0.downcast_mut())
    }

    pub fn set_live<T: Send + 'static>(&mut self, value: T) {
        self.live = Some(Live(Box::new(value)));
    }

    pub fn take_live<T: 'static>(&mut self) -> Option<T> {
        let live = self.live.take()?;
        live.0.downcast().ok().map(|value| *value)
    }
}

/// Why a source stopped: an interaction the user must complete, or a classified failure. Each
/// maps to exactly one connection state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    #[error("the bank asks for more information")]
    AdditionalInformationNeeded { fields: Vec<Field>, message: Option<String> },
    #[error("the bank's own page must be visited")]
    WebauthRequired { url: String },
    #[error("validate the operation in the bank's app, then resume")]
    Decoupled { message: Option<String> },
    #[error("a strong customer authentication is required")]
    ScaRequired { message: Option<String> },
    #[error("the bank refused the credentials")]
    WrongPass { message: Option<String> },
    #[error("the user must act on the bank's website")]
    ActionNeeded { message: Option<String> },
    #[error("the password has expired at the bank")]
    PasswordExpired { message: Option<String> },
    #[error("the bank is unavailable")]
    WebsiteUnavailable { message: Option<String> },
    #[error("the bank is throttling requests")]
    RateLimited { retry_after: Option<Duration>, message: Option<String> },
    /// The source cannot read this bank at all (shown as `bug` on the wire, per Powens' closed list).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// An unexpected answer or a defect on our side.
    #[error("source failure: {0}")]
    Bug(String),
}

/// The connection's message while the person must authorise at the bank's website.
const WEBAUTH_MESSAGE: &str = "Authorise the access on your bank's website";

impl SourceError {
    pub fn state(&self) -> ConnectionState {
        match self {
            SourceError::AdditionalInformationNeeded { .. } => ConnectionState::AdditionalInformationNeeded,
            SourceError::WebauthRequired { .. } => ConnectionState::WebauthRequired,
            SourceError::Decoupled { .. } => ConnectionState::Decoupled,
            SourceError::ScaRequired { .. } => ConnectionState::ScaRequired,
            SourceError::WrongPass { .. } => ConnectionState::WrongPass,
            SourceError::ActionNeeded { .. } => ConnectionState::ActionNeeded,
            SourceError::PasswordExpired { .. } => ConnectionState::PasswordExpired,
            SourceError::WebsiteUnavailable { .. } => ConnectionState::WebsiteUnavailable,
            SourceError::RateLimited { .. } => ConnectionState::RateLimiting,
            SourceError::NotSupported(_) | SourceError::Bug(_) => ConnectionState::Bug,
        }
    }

    /// The message to show on the connection (`error_message`), without NUL characters, which
    /// PostgreSQL's text refuses: whatever a bank or a module said, the sync's end is written.
    pub fn message(&self) -> Option<String> {
        self.raw_message().map(|message| message.replace('\0', "\u{FFFD}"))
    }

    fn raw_message(&self) -> Option<String> {
        match self {
            SourceError::AdditionalInformationNeeded { message, .. }
            | SourceError::Decoupled { message }
            | SourceError::ScaRequired { message }
            | SourceError::WrongPass { message }
            | SourceError::ActionNeeded { message }
            | SourceError::PasswordExpired { message }
            | SourceError::WebsiteUnavailable { message }
            | SourceError::RateLimited { message, .. } => message.clone(),
            // Not the bank's page itself: its URL often carries the consent id, and this message is
            // kept in the connection's log for good. `/webauth-url` hands the page out when needed.
            SourceError::WebauthRequired { .. } => Some(WEBAUTH_MESSAGE.to_owned()),
            SourceError::NotSupported(what) => Some(format!("Not supported: {what}")),
            // What went wrong, for the connection's log: which call, what came back.
            SourceError::Bug(detail) => Some(detail.clone()),
        }
    }

    /// The fields the user must fill in now, if any.
    pub fn fields(&self) -> Option<&[Field]> {
        match self {
            SourceError::AdditionalInformationNeeded { fields, .. } => Some(fields),
            _ => None,
        }
    }
}

pub type SourceResult<T> = Result<T, SourceError>;

/// One way of reaching a bank. A run calls `login`, then `accounts`, then `transactions` for each
/// account the user consented to, all with the same session, and `end` whatever happened.
#[async_trait]
pub trait Source: Send + Sync {
    /// Opens (or reuses) an authenticated session. May ask for an interaction.
    async fn login(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<()>;

    /// Every account the bank shows for these credentials.
    async fn accounts(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<Vec<BankAccount>>;

    /// Transactions of the account with this `webid`, booked or pending, from `since` (inclusive;
    /// `None`: all the history the bank gives).
    async fn transactions(
        &self,
        request: &SourceRequest,
        session: &mut SourceSession,
        account_webid: &str,
        since: Option<NaiveDate>,
    ) -> SourceResult<Vec<BankTransaction>>;

    /// The run is over, however it went: the last word on the session's `state` before it is
    /// saved, and the moment to release what the run kept alive.
    async fn end(&self, _session: &mut SourceSession) {}
}

/// `pairs` as an `application/x-www-form-urlencoded` query.
pub fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("string pairs always urlencode")
}

/// What building the drivers needs besides the catalog.
pub struct DriverContext<'a> {
    /// bankd's base URL: an `api.base_url` that is a path (`/sandbox/xs2a`) is on bankd itself.
    pub own_url: &'a str,
    /// How woob's modules are run.
    pub woob: &'a woob::helper::WoobRuntime,
    /// The limits of every HTTP call to a bank.
    pub timeouts: Timeouts,
    /// The FinTS product registration and bank directory every `fints` source shares.
    pub fints: fints::FintsRuntime,
    /// bankd's registrations with PSD2 banks (`bankd psd2 register`), for STET sources without
    /// a `client_id`.
    pub registrations: Arc<dyn psd2::registration::Registrations>,
}

/// How long an HTTP call to a bank may take: a client without both limits can wait forever on a
/// bank that accepted the connection and went quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open the connection (TCP and TLS).
    pub connect: Duration,
    /// The whole call: connection, request and the last byte of the answer.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(10), total: Duration::from_secs(30) }
    }
}

impl Timeouts {
    /// `builder` with both limits.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder.connect_timeout(self.connect.min(self.total)).timeout(self.total)
    }
}

/// Whether rustls refused the connection somewhere down the error's causes (a bank that is not
/// TLS, a certificate not trusted). rustls' error travels inside `io::Error`s, whose `source`
/// skips their inner error: the walk goes through the inner error instead.
fn is_tls_failure(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if current.is::<rustls::Error>() {
            return true;
        }
        cause = match current.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(inner) => Some(inner),
            None => current.source(),
        };
    }
    false
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3); a date past is no wait.
pub fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    Some((at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or_default())
}

/// What went wrong with an HTTP call to a bank, for the connection's log: the kind of failure and
/// the innermost cause (`connection closed before message completed`, `invalid peer certificate`),
/// never the URL, whose query may carry what the log should not keep.
pub fn describe_http_error(error: &reqwest::Error, timeouts: &Timeouts) -> String {
    let kind = if error.is_timeout() {
        format!("no answer within {} s", timeouts.total.as_secs_f64())
    } else if is_tls_failure(error) {
        "the TLS handshake failed".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_redirect() {
        "redirected too many times (a redirect loop)".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the answer broke off before its end".to_owned()
    } else {
        "the call failed".to_owned()
    };
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let cause = cause.to_string();
    if error.is_timeout() || cause == error.to_string() { kind } else { format!("{kind}: {cause}") }
}

/// The implementation of every source of the catalog, built once at start.
#[derive(Clone, Default)]
pub struct Drivers {
    by_source: HashMap<i64, Arc<dyn Source>>,
}

#[derive(Debug, thiserror::Error)]
#[error("catalog source {id} of {connector}: {why}")]
pub struct DriverError {
    pub connector: String,
    pub id: i64,
    pub why: String,
}

impl Drivers {
    /// Builds each catalog source's driver: a PSD2 client or a web module from its `api`
    /// settings, a woob module, or one of the `in_process` ones by name. Statement files have none:
    /// they are imported (`crate::import`).
    pub fn build(
        catalog: &Catalog,
        context: &DriverContext<'_>,
        in_process: &[(&str, Arc<dyn Source>)],
    ) -> Result<Drivers, DriverError> {
        let own_url = context.own_url;
        let mut by_source = HashMap::new();
        for connector in &catalog.connectors {
            for source in connector.sources.iter().filter(|s| s.driver != crate::catalog::FILE_DRIVER) {
                let fail = |why: String| DriverError { connector: connector.name.clone(), id: source.id, why };
                let driver: Arc<dyn Source> = match (source.driver.as_str(), &source.api) {
                    (name @ ("xs2a" | "stet"), Some(api)) => {
                        psd2::build(name, source.id, api, own_url, context.timeouts, context.registrations.clone())
                            .map_err(fail)?
                    }
                    ("web", Some(api)) => {
                        Arc::new(web::sandbox_web::SandboxWeb::new(api, own_url, context.timeouts).map_err(fail)?)
                    }
                    ("woob", _) => Arc::new(woob::WoobModule::new(source, context.woob).map_err(fail)?),
                    ("fints", api) => Arc::new(
                        fints::FintsSource::new(api.as_ref(), own_url, context.fints.clone(), context.timeouts)
                            .map_err(fail)?,
                    ),
                    (name @ ("xs2a" | "stet" | "web"), None) => {
                        return Err(fail(format!("the {name} driver needs [connector.source.api]")));
                    }
                    (name, _) => match in_process.iter().find(|(known, _)| *known == name) {
                        Some((_, driver)) => driver.clone(),
                        None => return Err(fail(format!("unknown driver '{name}'"))),
                    },
                };
                by_source.insert(source.id, driver);
            }
        }
        Ok(Drivers { by_source })
    }

    /// The driver of the catalog source `id`.
    pub fn get(&self, id: i64) -> Option<Arc<dyn Source>> {
        self.by_source.get(&id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(source: &str) -> Catalog {
        let text = format!(
            "[[connector]]\nid = 1\nuuid = \"00000000-0000-0000-0000-000000000001\"\nname = \"Bank\"\n\
             [[connector.source]]\nid = 7\nname = \"openapi\"\npriority = 1\n{source}"
        );
        toml::from_str(&text).unwrap()
    }

    fn build(source: &str) -> Result<Drivers, String> {
        let sandbox: Arc<dyn Source> = Arc::new(crate::simulators::sandbox_bank::SandboxBank::new("http://bankd"));
        let woob =
            woob::helper::WoobRuntime::new("python3", std::path::Path::new("/nonexistent"), Duration::from_secs(1), 1);
        let fints = fints::FintsRuntime { product_id: None, directory: Arc::new(fints::directory::NoDirectory) };
        let registrations = psd2::registration::NoRegistrations::shared();
        let context =
            DriverContext { own_url: "http://bankd", woob: &woob, timeouts: Timeouts::default(), fints, registrations };
        Drivers::build(&catalog(source), &context, &[("sandbox", sandbox)]).map_err(|e| e.to_string())
    }

    #[test]
    fn a_message_with_a_nul_can_be_stored() {
        let garbled = SourceError::Bug("the answer began with: a\0b".into());
        assert_eq!(garbled.message().as_deref(), Some("the answer began with: a\u{FFFD}b"));
    }

    #[test]
    fn every_catalog_source_gets_its_driver_or_bankd_does_not_start() {
        assert!(build("driver = \"sandbox\"").unwrap().get(7).is_some());
        let xs2a = build("driver = \"xs2a\"\n[connector.source.api]\nbase_url = \"/sandbox/xs2a\"").unwrap();
        assert!(xs2a.get(7).is_some() && xs2a.get(8).is_none());
        let refused = [
            ("driver = \"scraper\"", "catalog source 7 of Bank: unknown driver 'scraper'"),
            ("driver = \"woob\"", "catalog source 7 of Bank: the woob driver needs `module`"),
            ("driver = \"xs2a\"", "catalog source 7 of Bank: the xs2a driver needs [connector.source.api]"),
            (
                "driver = \"stet\"\n[connector.source.api]\nbase_url = \"https://bank.example\"",
                "the stet driver needs authorize_url",
            ),
            (
                "driver = \"stet\"\n[connector.source.api]\nbase_url = \"https://bank.example\"\n\
                 authorize_url = \"/authorize\"\ntoken_url = \"/token\"",
                "the stet driver needs client_id, or registration_url to register",
            ),
        ];
        for (source, why) in refused {
            assert!(build(source).err().unwrap().ends_with(why), "{source}");
        }
    }
}

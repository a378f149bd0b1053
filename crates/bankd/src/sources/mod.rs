//! The source plug-in boundary: one trait every way of reaching a bank implements (the sandbox
//! today; PSD2 APIs, web scraping and statement files later).
//!
//! A source knows nothing of the store or the API. It is handed the connection's credentials,
//! whatever the user just supplied, and its own session state from the previous run (cookies,
//! consent ids, tokens — saved sealed by bankd between runs). It answers with what the bank said —
//! accounts, transactions — or with a [`SourceError`] that is either an interaction the user must
//! complete (OTP, redirect, app validation) or a classified failure. The sync engine turns that
//! answer into connection states and stored rows through the domain rules.

pub mod sandbox;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::catalog::Field;
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
    /// The code the bank's consent page sent back (`webauthRequired`).
    pub webauth_code: Option<String>,
    /// The user is present and authenticating now (new credentials, `refresh_auth`, a reconnect):
    /// the bank may run a strong customer authentication.
    pub authenticating: bool,
}

impl fmt::Debug for UserInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInput")
            .field("fields", &self.fields)
            .field("resume", &self.resume)
            .field("webauth_code", &self.webauth_code.as_ref().map(|_| "<redacted>"))
            .field("authenticating", &self.authenticating)
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
}

/// The source's memory between runs, plus what it learnt during this one.
#[derive(Debug, Clone, Default)]
pub struct SourceSession {
    /// Source-private state (cookies, consent ids, tokens…); persisted sealed, `Null` at first.
    pub state: serde_json::Value,
    /// Set by the source when a strong customer authentication succeeded during this run: the
    /// PSD2 180-day clock restarts.
    pub strongly_authenticated: bool,
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

    /// The message to show on the connection (`error_message`).
    pub fn message(&self) -> Option<String> {
        match self {
            SourceError::AdditionalInformationNeeded { message, .. }
            | SourceError::Decoupled { message }
            | SourceError::ScaRequired { message }
            | SourceError::WrongPass { message }
            | SourceError::ActionNeeded { message }
            | SourceError::PasswordExpired { message }
            | SourceError::WebsiteUnavailable { message }
            | SourceError::RateLimited { message, .. } => message.clone(),
            SourceError::WebauthRequired { url } => Some(format!("Redirecting to {url}")),
            SourceError::NotSupported(what) => Some(format!("Not supported: {what}")),
            SourceError::Bug(_) => None,
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
/// account the user consented to, all with the same session.
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
}

/// The sources bankd can run, by catalog `driver` name.
#[derive(Clone)]
pub struct Drivers {
    sandbox: Arc<sandbox::SandboxBank>,
}

impl Drivers {
    /// `public_url`: base of the links handed to users (the sandbox's consent page lives there).
    pub fn new(public_url: &str) -> Drivers {
        Drivers { sandbox: Arc::new(sandbox::SandboxBank::new(public_url)) }
    }

    pub fn get(&self, driver: &str) -> Option<Arc<dyn Source>> {
        match driver {
            "sandbox" => Some(self.sandbox.clone()),
            _ => None,
        }
    }
}

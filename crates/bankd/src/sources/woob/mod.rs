//! The `woob` driver: a bridge to woob's bank modules (Python, LGPL), the open engine that keeps
//! working scrapers for hundreds of banks. A sync runs one [`helper`] process for its whole run: it
//! loads the module with the connection's credentials (and any answer the user just gave) as its
//! configuration and the backend storage saved by the previous sync, logs in once, lists the
//! accounts, reads each history, and hands the storage back once at the end. bankd seals that
//! storage in the source's state, so a module's cookies and "trusted device" flags survive between
//! syncs as they do in a woob user's home directory. [`modules`] turns the installed bank modules
//! into connectors.
//!
//! woob's exceptions are its way of saying what the bank wants; each maps to one [`SourceError`].

pub mod helper;
pub mod modules;

use std::path::PathBuf;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalog::{ConnectorSource, Field, FieldKind};
use crate::domain::bank::{ACCOUNT_TYPES, BankAccount, BankTransaction, TRANSACTION_TYPES};
use crate::sources::{Source, SourceError, SourceRequest, SourceResult, SourceSession};
use helper::{Helper, HelperError, QuestionField, WoobRuntime};

pub struct WoobModule {
    runtime: WoobRuntime,
    module: String,
    modules_path: Option<PathBuf>,
}

/// The helper of the sync under way, kept in the session between the source's calls, with the
/// accounts its login read (a woob login is proven by reading them).
struct Live {
    helper: Helper,
    accounts: Option<Value>,
}

impl WoobModule {
    /// The driver of a catalog source; refused (and bankd does not start) when the source names
    /// no module. Whether the Python imports woob is checked once for every source (`Drivers`).
    pub fn new(source: &ConnectorSource, runtime: &WoobRuntime) -> Result<WoobModule, String> {
        let module = source.module.clone().ok_or("the woob driver needs `module`")?;
        Ok(WoobModule { runtime: runtime.clone(), module, modules_path: source.modules_path.clone() })
    }

    /// The sync's helper: started and logged in at the first call, then the same one. A refused
    /// login keeps its helper too, so that [`Source::end`] saves the half-done login's storage.
    async fn live<'s>(&self, request: &SourceRequest, session: &'s mut SourceSession) -> SourceResult<&'s mut Live> {
        if session.live::<Live>().is_none() {
            let mut helper = Helper::start(&self.runtime, &self.module).await.map_err(source_error)?;
            let login = helper.call("login", self.login_params(request, session)).await;
            session.set_live(Live { helper, accounts: None });
            login.map_err(source_error)?;
        }
        session.live::<Live>().ok_or_else(|| SourceError::Bug("the woob helper of this sync is gone".into()))
    }

    fn login_params(&self, request: &SourceRequest, session: &SourceSession) -> Value {
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
        json!({"module": self.module, "modules_path": self.modules_path, "config": config, "storage": storage})
    }
}

/// What each woob exception (or a helper failure) means for the connection.
fn source_error(error: HelperError) -> SourceError {
    let (kind, message, fields) = match error {
        HelperError::Raised { kind, message, fields } => (kind, message, fields),
        HelperError::Timeout(_) => return SourceError::WebsiteUnavailable { message: Some(error.to_string()) },
        HelperError::Broken(why) => return SourceError::Bug(format!("woob helper: {why}")),
    };
    let message = Some(message).filter(|m| !m.is_empty());
    match kind.as_str() {
        // A configuration woob refuses is a credential the user must fix.
        "BrowserIncorrectPassword" | "BrowserForbidden" | "ConfigError" => SourceError::WrongPass { message },
        "BrowserPasswordExpired" => SourceError::PasswordExpired { message },
        "BrowserQuestion" => SourceError::AdditionalInformationNeeded {
            fields: fields.into_iter().map(question_field).collect(),
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
            SourceError::NotSupported(format!("{kind}: {}", message.unwrap_or_default()))
        }
        _ => SourceError::Bug(format!("the bank module raised {kind}: {}", message.unwrap_or_default())),
    }
}

/// A field the module asks for mid-login, with its own label and check.
fn question_field(field: QuestionField) -> Field {
    Field {
        name: field.name,
        label: field.label,
        kind: if field.kind == "password" { FieldKind::Password } else { FieldKind::Text },
        required: true,
        regex: field.regexp,
        values: None,
        default: None,
    }
}

#[async_trait]
impl Source for WoobModule {
    async fn login(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<()> {
        let live = self.live(request, session).await?;
        // woob modules log in lazily: reading the accounts is what proves the credentials.
        live.accounts = Some(live.helper.call("accounts", Value::Null).await.map_err(source_error)?);
        Ok(())
    }

    async fn accounts(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<Vec<BankAccount>> {
        let live = self.live(request, session).await?;
        let answer = match live.accounts.take() {
            Some(read) => read,
            None => live.helper.call("accounts", Value::Null).await.map_err(source_error)?,
        };
        let accounts: Vec<WoobAccount> = parse(answer, "accounts")?;
        accounts.into_iter().map(WoobAccount::into_bank).collect()
    }

    async fn transactions(
        &self,
        request: &SourceRequest,
        session: &mut SourceSession,
        account_webid: &str,
        since: Option<NaiveDate>,
    ) -> SourceResult<Vec<BankTransaction>> {
        let helper = &mut self.live(request, session).await?.helper;
        let booked = helper.call("history", json!({"account": account_webid, "since": since})).await;
        let booked: Vec<WoobTransaction> = parse(booked.map_err(source_error)?, "history")?;
        let coming = helper.call("coming", json!({"account": account_webid})).await;
        let coming: Vec<WoobTransaction> = parse(coming.map_err(source_error)?, "coming")?;
        let booked = booked.into_iter().map(|t| t.into_bank(false));
        booked.chain(coming.into_iter().map(|t| t.into_bank(true))).collect()
    }

    /// Keeps the module's storage in the session, then lets the helper go. After a failure too: a
    /// module that asked a question (an SMS code) keeps there the half-done login that the answer
    /// resumes. A helper that cannot say (killed at its timeout, say) leaves the previous storage.
    async fn end(&self, session: &mut SourceSession) {
        let Some(Live { mut helper, .. }) = session.take_live::<Live>() else { return };
        if helper.is_alive() {
            match helper.call("storage", Value::Null).await {
                Ok(storage) => session.state = storage,
                Err(e) => tracing::warn!(module = self.module, error = %e, "the woob helper kept no storage"),
            }
        }
        helper.close().await;
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

    fn error(kind: &str) -> HelperError {
        HelperError::Raised { kind: kind.into(), message: "why".into(), fields: Vec::new() }
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
        let otp = QuestionField {
            name: "otp".into(),
            label: "Code SMS".into(),
            kind: "text".into(),
            regexp: Some(r"^\d{6}$".into()),
        };
        let question =
            HelperError::Raised { kind: "BrowserQuestion".into(), message: String::new(), fields: vec![otp] };
        let fields = source_error(question).fields().map(<[Field]>::to_vec).unwrap();
        assert_eq!((fields[0].name.as_str(), fields[0].label.as_str()), ("otp", "Code SMS"));
        assert_eq!(fields[0].regex.as_deref(), Some(r"^\d{6}$"), "the module's own check");
        let timeout = source_error(HelperError::Timeout(std::time::Duration::from_secs(3)));
        assert_eq!(timeout.state().as_str(), "websiteUnavailable");
        assert_eq!(source_error(HelperError::Broken("it exited".into())).state().as_str(), "bug");
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

//! STET PSD2 account information (the French standard, v1.4 to 1.6): the `stet` driver.
//!
//! The PSU authenticates at the bank's OAuth2 server (authorization code with PKCE: bankd's
//! `webauthRequired`, back through `/webauth/callback`); the bearer token then reads `/accounts`,
//! `/accounts/{id}/balances` and `/accounts/{id}/transactions`, following `_links.next`. Tokens
//! live in the source's sealed session state and are refreshed when they run out; a refused
//! refresh makes the connection `SCARequired`.
//!
//! Not done: STET's `PUT /consents` (forwarding which accounts the PSU chose: the bank's
//! authorization page covers every account here) and the `Signature` header that some banks
//! require on top of mutual TLS (signing with a QSealC).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::mapping::{self, Balance, Entry, Party};
use super::oauth::{OAuth, Tokens};
use super::registration::Registrations;
use super::{Api, Overlap, Pages, Reading, Resource, link_href};
use crate::catalog::ApiSettings;
use crate::domain::bank::{BankAccount, BankTransaction};
use crate::sources::{Source, SourceError, SourceRequest, SourceResult, SourceSession};

/// The scope asked when the catalog names none.
pub const DEFAULT_SCOPE: &str = "aisp extended_transaction_history";

pub struct Stet {
    api: Api,
    /// The bank's OAuth2 server, with the catalog's `client_id` when it gives one.
    oauth: OAuth,
    /// Without a `client_id` in the catalog: the catalog source whose stored registration
    /// (`bankd psd2 register`) gives it, read at each use so a new registration or an update
    /// takes effect without a restart.
    registered: Option<(i64, Arc<dyn Registrations>)>,
    scope: String,
    reading: Reading,
}

impl Stet {
    pub fn new(
        api: Api,
        settings: &ApiSettings,
        source: i64,
        registrations: Arc<dyn Registrations>,
    ) -> Result<Stet, String> {
        let endpoint = |url: &Option<String>, name: &str| -> Result<String, String> {
            let url = url.as_deref().ok_or(format!("the stet driver needs {name}"))?;
            api.href(url).map_err(|e| format!("{name}: {e}"))
        };
        let oauth = OAuth {
            authorize_url: endpoint(&settings.authorize_url, "authorize_url")?,
            token_url: endpoint(&settings.token_url, "token_url")?,
            client_id: settings.client_id.clone().unwrap_or_default(),
            client_secret: settings.client_secret.clone(),
        };
        let registered = match (&settings.client_id, &settings.registration_url) {
            (Some(_), _) => None,
            (None, Some(_)) => Some((source, registrations)),
            (None, None) => return Err("the stet driver needs client_id, or registration_url to register".into()),
        };
        let scope = settings.scope.clone().unwrap_or_else(|| DEFAULT_SCOPE.into());
        Ok(Stet { api, oauth, registered, scope, reading: Reading::new(settings)? })
    }

    /// The bank's OAuth2 server with bankd's client: the catalog's, else the stored registration.
    async fn oauth(&self) -> SourceResult<OAuth> {
        let Some((source, registrations)) = &self.registered else { return Ok(self.oauth.clone()) };
        let registration = registrations.registration(*source).await.map_err(SourceError::Bug)?;
        let Some(registration) = registration else {
            return Err(SourceError::WebsiteUnavailable {
                message: Some(format!(
                    "bankd is not registered with this bank yet: the operator runs `bankd psd2 register --source \
                     {source}`"
                )),
            });
        };
        Ok(OAuth {
            client_id: registration.client_id,
            client_secret: registration.secret.client_secret,
            ..self.oauth.clone()
        })
    }

    /// A token call's outcome, or the client to call again with: when the call failed and the
    /// stored registration changed meanwhile (`bankd psd2 register --update` ran while this
    /// run held the old secret, which the bank refuses from then on).
    async fn again_if_updated(&self, used: &OAuth, outcome: SourceResult<Tokens>) -> SourceResult<Retry> {
        let Err(error) = outcome else { return outcome.map(Retry::Done) };
        if self.registered.is_none() || matches!(error, SourceError::ScaRequired { .. }) {
            return Err(error);
        }
        match self.oauth().await {
            Ok(current) if current != *used => Ok(Retry::With(current)),
            _ => Err(error),
        }
    }
}

/// A token call done, or to do again with an updated registration.
enum Retry {
    Done(Tokens),
    With(OAuth),
}

/// What the driver keeps between runs (sealed by bankd).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Memory {
    tokens: Option<Tokens>,
    /// The authorization the PSU was sent to, until they come back.
    pending: Option<Pending>,
    /// Each account's resource id and transactions link, by bankd's webid.
    accounts: BTreeMap<String, Resource>,
    /// When the PSU last authorised bankd at the bank (`full_history_minutes`).
    last_sca: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    url: String,
    verifier: String,
    redirect_uri: String,
}

fn load(session: &SourceSession) -> Memory {
    serde_json::from_value(session.state.clone()).unwrap_or_default()
}

fn save(memory: &Memory, session: &mut SourceSession) -> SourceResult<()> {
    session.state = serde_json::to_value(memory).map_err(|e| SourceError::Bug(format!("saving the tokens: {e}")))?;
    Ok(())
}

fn reconnect() -> SourceError {
    SourceError::ScaRequired { message: Some("The bank's authorization is no longer valid: reconnect".into()) }
}

impl Stet {
    /// Tokens to read with, an authorization to send the PSU to, or `SCARequired`.
    async fn authorise(&self, request: &SourceRequest, memory: &mut Memory) -> SourceResult<bool> {
        let input = &request.input;
        if let (Some(pending), Some(code)) = (memory.pending.take(), &input.webauth_code) {
            let oauth = self.oauth().await?;
            let exchanged = oauth.exchange(&self.api, request, code, &pending.redirect_uri, &pending.verifier).await;
            let tokens = match self.again_if_updated(&oauth, exchanged).await? {
                Retry::Done(tokens) => tokens,
                Retry::With(updated) => {
                    updated.exchange(&self.api, request, code, &pending.redirect_uri, &pending.verifier).await?
                }
            };
            memory.tokens = Some(tokens);
            return Ok(true);
        }
        match &memory.tokens {
            Some(_) if !input.authenticating => Ok(false),
            None if request.unattended => Err(reconnect()),
            _ => {
                let started = self.oauth().await?.start(request, &self.scope);
                let url = started.url.clone();
                memory.pending =
                    Some(Pending { url: started.url, verifier: started.verifier, redirect_uri: started.redirect_uri });
                Err(SourceError::WebauthRequired { url })
            }
        }
    }

    /// A GET with the bearer token, refreshed first when it ran out or when the bank refuses it.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        request: &SourceRequest,
        memory: &mut Memory,
        url: &str,
    ) -> SourceResult<T> {
        let tokens = memory.tokens.clone().ok_or_else(|| SourceError::Bug("no bank token: login first".into()))?;
        let tokens = if tokens.stale(request.now) { self.renew(request, memory, &tokens).await? } else { tokens };
        let answer =
            self.api.send(self.api.request(Method::GET, url, request).bearer_auth(&tokens.access_token)).await?;
        if answer.status == reqwest::StatusCode::UNAUTHORIZED {
            let renewed = self.renew(request, memory, &tokens).await?;
            return self.api.call(self.api.request(Method::GET, url, request).bearer_auth(&renewed.access_token)).await;
        }
        if answer.status == reqwest::StatusCode::FORBIDDEN {
            // STET: a valid token the bank refuses means the PSU's consent is gone (withdrawn at
            // the bank, or past its scope): only a new authorisation brings it back.
            let said = answer.codes().1.map(|text| format!(" ({text})")).unwrap_or_default();
            return Err(SourceError::ScaRequired {
                message: Some(format!("The bank refuses the access{said}: reconnect to authorise it again")),
            });
        }
        if !answer.status.is_success() {
            return Err(answer.error());
        }
        answer.json()
    }

    async fn renew(&self, request: &SourceRequest, memory: &mut Memory, tokens: &Tokens) -> SourceResult<Tokens> {
        let oauth = self.oauth().await?;
        let refreshed = match self.again_if_updated(&oauth, oauth.refresh(&self.api, request, tokens).await).await {
            Ok(Retry::Done(renewed)) => Ok(renewed),
            Ok(Retry::With(updated)) => updated.refresh(&self.api, request, tokens).await,
            Err(error) => Err(error),
        };
        match refreshed {
            Ok(renewed) => {
                memory.tokens = Some(renewed.clone());
                Ok(renewed)
            }
            Err(SourceError::ScaRequired { .. }) => {
                memory.tokens = None;
                Err(reconnect())
            }
            Err(other) => Err(other),
        }
    }

    async fn list(&self, request: &SourceRequest, memory: &mut Memory) -> SourceResult<Vec<BankAccount>> {
        let mut pages = Pages::new(self.api.endpoint("/accounts"));
        let mut accounts = Vec::new();
        let mut resources = BTreeMap::new();
        while let Some(url) = pages.next_url()? {
            let page: AccountPage = self.read(request, memory, &url).await?;
            for resource in page.accounts {
                let balances = match &resource.balances {
                    Some(balances) if !balances.is_empty() => balances.clone(),
                    _ => self.balances(request, memory, &resource).await?,
                };
                let (account, where_) = resource.into_account(&balances)?;
                resources.insert(account.webid.clone(), where_);
                accounts.push(account);
            }
            pages.follow(&self.api, &page.links)?;
        }
        memory.accounts = resources;
        Ok(accounts)
    }

    async fn balances(
        &self,
        request: &SourceRequest,
        memory: &mut Memory,
        account: &StetAccount,
    ) -> SourceResult<Vec<StetBalance>> {
        #[derive(Deserialize)]
        struct Balances {
            balances: Vec<StetBalance>,
        }
        let url = self.api.endpoint(&format!("/accounts/{}/balances", account.resource_id));
        Ok(self.read::<Balances>(request, memory, &url).await?.balances)
    }

    async fn history(
        &self,
        request: &SourceRequest,
        memory: &mut Memory,
        webid: &str,
        since: Option<NaiveDate>,
    ) -> SourceResult<Vec<BankTransaction>> {
        let resource = Resource::of(&memory.accounts, webid)?;
        let today = request.now.date_naive();
        let mut overlap = Overlap::default();
        let mut entries = Vec::new();
        for window in self.reading.windows(self.reading.first_day(since, request.now, memory.last_sca), today) {
            overlap.next_window();
            let mut pages =
                Pages::new(resource.transactions_url(&self.api, "/accounts/{id}/transactions", window, &[]));
            while let Some(url) = pages.next_url()? {
                let page: TransactionPage = self.read(request, memory, &url).await?;
                for entry in page.transactions.into_iter().filter_map(StetTransaction::into_entry) {
                    let entry = entry.map_err(SourceError::Bug)?;
                    if overlap.keep(mapping::key(&entry)) {
                        entries.push(entry);
                    }
                }
                pages.follow(&self.api, &page.links)?;
            }
        }
        mapping::bank_transactions(entries, request.now.date_naive()).map_err(SourceError::Bug)
    }
}

#[async_trait]
impl Source for Stet {
    async fn login(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<()> {
        let mut memory = load(session);
        session.strongly_authenticated = false;
        let outcome = self.authorise(request, &mut memory).await;
        if let Ok(strong) = outcome {
            session.strongly_authenticated = strong;
            if strong {
                memory.last_sca = Some(request.now);
            }
        }
        save(&memory, session)?;
        outcome.map(drop)
    }

    async fn accounts(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<Vec<BankAccount>> {
        let mut memory = load(session);
        let result = self.list(request, &mut memory).await;
        save(&memory, session)?;
        result
    }

    async fn transactions(
        &self,
        request: &SourceRequest,
        session: &mut SourceSession,
        account_webid: &str,
        since: Option<NaiveDate>,
    ) -> SourceResult<Vec<BankTransaction>> {
        let mut memory = load(session);
        let result = self.history(request, &mut memory, account_webid, since).await;
        save(&memory, session)?;
        result
    }
}

// ---- STET's JSON, as read ----

#[derive(Debug, Deserialize)]
struct AccountPage {
    #[serde(default)]
    accounts: Vec<StetAccount>,
    #[serde(rename = "_links", default)]
    links: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StetAccount {
    resource_id: String,
    bic_fi: Option<String>,
    account_id: Option<AccountId>,
    name: Option<String>,
    product: Option<String>,
    usage: Option<String>,
    cash_account_type: Option<String>,
    balances: Option<Vec<StetBalance>>,
    #[serde(rename = "_links", default)]
    links: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct AccountId {
    iban: Option<String>,
    other: Option<OtherId>,
    currency: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OtherId {
    identification: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StetBalance {
    balance_amount: StetAmount,
    balance_type: String,
}

#[derive(Debug, Clone, Deserialize)]
struct StetAmount {
    currency: String,
    amount: String,
}

impl StetAmount {
    fn value(&self) -> Result<rust_decimal::Decimal, String> {
        self.amount.trim().parse().map_err(|_| format!("'{}' is not an amount", self.amount))
    }
}

impl StetAccount {
    fn into_account(self, balances: &[StetBalance]) -> SourceResult<(BankAccount, Resource)> {
        let bug = |why: String| SourceError::Bug(format!("account {}: {why}", self.resource_id));
        let balances = balances
            .iter()
            .map(|b| {
                let kind = mapping::stet_balance_type(&b.balance_type).to_owned();
                Ok(Balance { kind, amount: b.balance_amount.value()?, credit_limit_included: false })
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(bug)?;
        let (balance, coming) =
            mapping::balance_and_coming(&balances).ok_or_else(|| bug("the bank gives no balance".into()))?;
        let iban = self.account_id.as_ref().and_then(|a| a.iban.clone());
        let other = self.account_id.as_ref().and_then(|a| a.other.as_ref()).map(|o| o.identification.clone());
        let currency = self.account_id.as_ref().and_then(|a| a.currency.clone());
        let currency =
            currency.or_else(|| self.balances.iter().flatten().next().map(|b| b.balance_amount.currency.clone()));
        let is_card = self.cash_account_type.as_deref() == Some("CARD");
        let webid = iban.clone().or(other.clone()).unwrap_or_else(|| self.resource_id.clone());
        let account = BankAccount {
            name: self.name.clone().or(self.product.clone()).unwrap_or_else(|| webid.clone()),
            webid,
            number: other,
            iban,
            bic: self.bic_fi.clone(),
            kind: mapping::account_type(self.cash_account_type.as_deref(), is_card),
            currency: currency.unwrap_or_else(|| "EUR".into()),
            balance,
            coming,
            usage: mapping::usage(self.usage.as_deref()),
        };
        let resource = Resource { id: self.resource_id.clone(), transactions: link_href(&self.links, "transactions") };
        Ok((account, resource))
    }
}

#[derive(Debug, Deserialize)]
struct TransactionPage {
    #[serde(default)]
    transactions: Vec<StetTransaction>,
    #[serde(rename = "_links", default)]
    links: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StetTransaction {
    resource_id: Option<String>,
    entry_reference: Option<String>,
    transaction_amount: StetAmount,
    credit_debit_indicator: String,
    status: String,
    booking_date: Option<NaiveDate>,
    value_date: Option<NaiveDate>,
    transaction_date: Option<NaiveDate>,
    /// An array of lines (v1.4) or `{unstructured: [...], structured: [...]}` (v1.6).
    #[serde(default)]
    remittance_information: Value,
    /// v1.6 nests the parties; v1.4 has them at the top level.
    related_parties: Option<Parties>,
    #[serde(flatten)]
    parties: Parties,
    bank_transaction_code: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parties {
    creditor: Option<Named>,
    creditor_account: Option<AccountId>,
    debtor: Option<Named>,
    debtor_account: Option<AccountId>,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: Option<String>,
}

impl StetTransaction {
    /// The entry, unless the bank reports a rejected or information-only line.
    fn into_entry(self) -> Option<Result<Entry, String>> {
        let pending = match self.status.as_str() {
            "BOOK" | "OTHR" => false,
            "PDNG" => true,
            _ => return None,
        };
        Some(self.entry(pending))
    }

    fn entry(self, pending: bool) -> Result<Entry, String> {
        let amount = self.transaction_amount.value()?.abs();
        let amount = match self.credit_debit_indicator.as_str() {
            "DBIT" => -amount,
            "CRDT" => amount,
            other => return Err(format!("'{other}' is not a credit or debit indicator")),
        };
        let lines = match &self.remittance_information {
            Value::Array(lines) => lines.clone(),
            info => {
                let part = |key: &str| info.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
                [part("unstructured"), part("structured")].concat()
            }
        };
        let wording = lines
            .iter()
            .filter_map(|line| line.as_str().or(line.get("reference").and_then(Value::as_str)).map(str::to_owned))
            .collect();
        let parties = self.related_parties.unwrap_or(self.parties);
        let party = |named: Option<Named>, account: Option<AccountId>| {
            let name = named.and_then(|n| n.name);
            let iban = account.and_then(|a| a.iban);
            (name.is_some() || iban.is_some()).then_some(Party { name, iban, bban: None })
        };
        let code = self.bank_transaction_code.as_ref().and_then(|code| {
            let part = |key: &str| code.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
            code.as_str()
                .map(str::to_owned)
                .or_else(|| Some(format!("{}-{}-{}", part("domain"), part("family"), part("subFamily"))))
        });
        Ok(Entry {
            id: self.resource_id,
            entry_reference: self.entry_reference,
            booking_date: self.booking_date,
            value_date: self.value_date,
            transaction_date: self.transaction_date,
            amount,
            pending,
            wording,
            creditor: party(parties.creditor, parties.creditor_account),
            debtor: party(parties.debtor, parties.debtor_account),
            bank_transaction_code: code,
            masked_pan: None,
        })
    }
}

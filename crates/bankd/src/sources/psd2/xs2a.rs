//! Berlin Group NextGenPSD2 (XS2A 1.3) account information: the `xs2a` driver.
//!
//! A run asks the bank for a consent (`POST /v1/consents`: every PSD2 account, recurring, 180
//! days, 4 unattended reads a day), and the bank picks how the PSU authorises it; the answer's
//! links say which ([`next_step`]):
//!
//! - **redirect** (`scaRedirect`): the PSU visits the bank's page, which sends them back to bankd's
//!   `/webauth/callback` (our `TPP-Redirect-URI`, carrying the `state`); the resumed run asks the
//!   consent's status. `scaOAuth` is the same dance through the bank's OAuth2 server.
//! - **decoupled** (`scaStatus` with a `psuMessage`): the PSU validates in the bank's app; each
//!   resumed run polls the authorisation until `finalised` or `failed`.
//! - **embedded** (`startAuthorisationWithPsuAuthentication`, then `selectAuthenticationMethod`
//!   and `authoriseTransaction`): bankd asks the user for the password, the SCA method when there
//!   are several, then the one-time code, one `additionalInformationNeeded` at a time.
//!
//! The consent (id, status, `validUntil`, the step in progress) lives in the source's sealed
//! session state. A consent the bank calls expired, invalid or unknown makes the connection
//! `SCARequired`, until the user reconnects (`refresh_auth`, new credentials): that run asks a new one.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use super::mapping::{self, Balance, Entry, Party};
use super::oauth::{OAuth, Tokens};
use super::{Answer, Api, Overlap, Pages, Reading, Resource, link_href};
use crate::catalog::{ApiSettings, Field, FieldKind, FieldValue, OAuthMode, OAuthSettings};
use crate::domain::bank::{BankAccount, BankTransaction};
use crate::sources::{Source, SourceError, SourceRequest, SourceResult, SourceSession};

/// PSD2: a consent is valid at most this long.
const CONSENT_DAYS: u64 = 180;
/// PSD2: unattended reads per day the consent asks for, unless the catalog says.
const FREQUENCY_PER_DAY: u32 = 4;
/// JSON, as the standard has it; camt XML from the banks that give account reports that way.
const ACCEPTED: &str = "application/json, application/xml;q=0.9";

pub struct Xs2a {
    api: Api,
    redirect_preferred: bool,
    with_balance: bool,
    reading: Reading,
    /// Ask a bank-offered consent (`accounts: []`, the PSU picks at the bank) rather than one on
    /// every PSD2 account (`allPsd2`), which some banks refuse.
    bank_offered_consent: bool,
    /// bankd's client id at the bank's OAuth2 server (`scaOAuth`).
    client_id: Option<String>,
    frequency_per_day: u32,
    /// The `PSU-ID-Type` sent with the `PSU-ID`.
    psu_id_type: Option<String>,
    /// The scope asked of a `scaOAuth` server, `{consentId}` standing for the consent's id.
    sca_scope: String,
    /// The OAuth2 token the bank wants before the consent, if it does.
    before_consent: Option<BeforeConsent>,
}

/// An OAuth2 token a bank wants before the consent is asked (the catalog's `oauth` table).
struct BeforeConsent {
    mode: OAuthMode,
    oauth: OAuth,
    scope: String,
}

impl BeforeConsent {
    fn new(
        api: &Api,
        settings: &OAuthSettings,
        certificate: Option<&std::path::Path>,
    ) -> Result<BeforeConsent, String> {
        let url = |what: &str, url: &str| api.href(url).map_err(|e| format!("oauth.{what} '{url}': {e}"));
        let client_id = match (&settings.client_id, settings.client_id_from_certificate, certificate) {
            (Some(id), false, _) => id.clone(),
            (None, true, Some(certificate)) => super::qwac::organization_identifier(certificate)?,
            (None, true, None) => return Err("oauth.client_id_from_certificate needs the QWAC as certificate".into()),
            _ => return Err("oauth: give either client_id or client_id_from_certificate = true".into()),
        };
        let authorize_url = match (settings.mode, &settings.authorize_url) {
            (OAuthMode::PreStep, Some(authorize)) => url("authorize_url", authorize)?,
            (OAuthMode::PreStep, None) => return Err("oauth: the pre-step needs an authorize_url".into()),
            (OAuthMode::ClientCredentials, _) => String::new(),
        };
        let scope = settings.scope.clone().unwrap_or_else(|| "AIS".into());
        if scope.contains("{consentId}") {
            return Err("oauth.scope: there is no consent yet when this token is asked".into());
        }
        let token_url = url("token_url", &settings.token_url)?;
        let oauth = OAuth { authorize_url, token_url, client_id, client_secret: None };
        Ok(BeforeConsent { mode: settings.mode, oauth, scope })
    }
}

impl Xs2a {
    pub fn new(api: Api, settings: &ApiSettings) -> Result<Xs2a, String> {
        let before_consent = match &settings.oauth {
            Some(oauth) => Some(BeforeConsent::new(&api, oauth, settings.certificate.as_deref())?),
            None => None,
        };
        Ok(Xs2a {
            api,
            redirect_preferred: settings.redirect_preferred,
            with_balance: settings.with_balance,
            // `build` refuses settings it cannot read, before any driver is made.
            reading: Reading::new(settings)?,
            bank_offered_consent: settings.bank_offered_consent,
            client_id: settings.client_id.clone(),
            frequency_per_day: settings.frequency_per_day.unwrap_or(FREQUENCY_PER_DAY),
            psu_id_type: settings.psu_id_type.clone(),
            sca_scope: settings.scope.clone().unwrap_or_else(|| "AIS:{consentId}".into()),
            before_consent,
        })
    }
}

/// What the driver keeps between runs (sealed by bankd).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Memory {
    /// Whose consent this is: under another PSU-ID, everything starts afresh.
    psu_id: String,
    consent: Option<Consent>,
    /// The bank's `resourceId` and transaction link of each account, by bankd's webid.
    accounts: BTreeMap<String, Resource>,
    /// When the PSU last authenticated strongly (a consent authorised): whether the bank still
    /// serves the whole history (`full_history_minutes`).
    last_sca: Option<DateTime<Utc>>,
    /// The pre-step authorization the PSU was sent to, before any consent.
    pre_step: Option<PreStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PreStep {
    verifier: String,
    redirect_uri: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Consent {
    id: String,
    valid: bool,
    valid_until: NaiveDate,
    step: Step,
    /// The bank's OAuth2 server and tokens, when it authorises through `scaOAuth`.
    oauth: Option<OAuth>,
    tokens: Option<Tokens>,
}

/// The authorisation step in progress. `start`: the step's link starts the authorisation (POST)
/// rather than updating it (PUT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Step {
    Done,
    Redirect { url: String },
    OAuth { oauth: OAuth, verifier: String, redirect_uri: String, url: String },
    Decoupled { status: String, message: Option<String> },
    Password { href: String, start: bool },
    Method { href: String, start: bool, methods: Vec<(String, String)> },
    Otp { href: String, start: bool, prompt: Option<String> },
}

impl Memory {
    fn load(state: &Value, psu_id: &str) -> Memory {
        match serde_json::from_value::<Memory>(state.clone()) {
            Ok(memory) if memory.psu_id == psu_id => memory,
            _ => Memory { psu_id: psu_id.to_owned(), ..Memory::default() },
        }
    }
}

fn field(name: &str, label: &str, kind: FieldKind, values: Option<Vec<FieldValue>>) -> Field {
    Field { name: name.into(), label: label.into(), kind, required: true, regex: None, values, default: None }
}

fn ask(field: Field, message: impl Into<String>) -> SourceError {
    SourceError::AdditionalInformationNeeded { fields: vec![field], message: Some(message.into()) }
}

fn ask_password(message: &str) -> SourceError {
    ask(field("password", "Password at your bank", FieldKind::Password, None), message)
}

fn ask_method(methods: &[(String, String)]) -> SourceError {
    let values = methods.iter().map(|(id, name)| FieldValue { label: name.clone(), value: id.clone() }).collect();
    ask(
        field("sca_method", "How to receive your code", FieldKind::List, Some(values)),
        "Choose how your bank authenticates you",
    )
}

fn ask_otp(prompt: &Option<String>, message: &str) -> SourceError {
    let label = prompt.clone().unwrap_or_else(|| "One-time code".into());
    ask(field("otp", &label, FieldKind::Text, None), message)
}

/// What the bank's answer to a consent or authorisation call asks next.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ScaAnswer {
    consent_status: Option<String>,
    sca_status: Option<String>,
    psu_message: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    sca_methods: Vec<ScaMethod>,
    chosen_sca_method: Option<ScaMethod>,
    challenge_data: Option<Value>,
    #[serde(rename = "_links", deserialize_with = "null_as_default")]
    links: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ScaMethod {
    authentication_method_id: String,
    name: Option<String>,
    authentication_type: Option<String>,
}

impl ScaAnswer {
    fn link(&self, name: &str) -> Option<String> {
        link_href(&self.links, name)
    }
}

/// Where a consent or authorisation answer leads; `Explicit` is a start the TPP must call now.
#[derive(Debug, PartialEq)]
enum Next {
    Step(Step),
    Explicit(String),
    OAuthMetadata(String),
    Failed,
}

/// Reads the links of an answer into the next step of the authorisation.
fn next_step(answer: &ScaAnswer) -> SourceResult<Next> {
    let status = answer.sca_status.as_deref();
    if matches!(status, Some("finalised" | "exempted")) || answer.consent_status.as_deref() == Some("valid") {
        return Ok(Next::Step(Step::Done));
    }
    if status == Some("failed") || answer.consent_status.as_deref() == Some("rejected") {
        return Ok(Next::Failed);
    }
    if let Some(url) = answer.link("scaRedirect") {
        return Ok(Next::Step(Step::Redirect { url }));
    }
    if let Some(metadata) = answer.link("scaOAuth") {
        return Ok(Next::OAuthMetadata(metadata));
    }
    for (name, start) in [
        ("startAuthorisationWithPsuAuthentication", true),
        ("startAuthorisationWithEncryptedPsuAuthentication", true),
        ("updatePsuAuthentication", false),
        ("updateEncryptedPsuAuthentication", false),
    ] {
        if let Some(href) = answer.link(name) {
            return Ok(Next::Step(Step::Password { href, start }));
        }
    }
    let select = [("startAuthorisationWithAuthenticationMethodSelection", true), ("selectAuthenticationMethod", false)];
    if let Some((href, start)) = select.iter().find_map(|(name, start)| Some((answer.link(name)?, *start))) {
        let methods = answer
            .sca_methods
            .iter()
            .map(|m| {
                let name =
                    m.name.clone().or(m.authentication_type.clone()).unwrap_or(m.authentication_method_id.clone());
                (m.authentication_method_id.clone(), name)
            })
            .collect();
        return Ok(Next::Step(Step::Method { href, start, methods }));
    }
    let authorise = [("startAuthorisationWithTransactionAuthorisation", true), ("authoriseTransaction", false)];
    if let Some((href, start)) = authorise.iter().find_map(|(name, start)| Some((answer.link(name)?, *start))) {
        let challenge = answer.challenge_data.as_ref().and_then(|c| c.get("additionalInformation"));
        let prompt = challenge
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(answer.chosen_sca_method.as_ref().and_then(|m| m.name.clone()));
        return Ok(Next::Step(Step::Otp { href, start, prompt }));
    }
    for name in ["startAuthorisation", "startAuthorisationWithPsuIdentification"] {
        if let Some(href) = answer.link(name) {
            return Ok(Next::Explicit(href));
        }
    }
    if let Some(status) = answer.link("scaStatus") {
        return Ok(Next::Step(Step::Decoupled { status, message: answer.psu_message.clone() }));
    }
    Err(SourceError::Bug(format!("the bank's consent answer offers no way to authorise it: {:?}", answer.links.keys())))
}

/// A link that starts an authorisation is POSTed; one that updates it is PUT.
fn verb(start: bool) -> Method {
    if start { Method::POST } else { Method::PUT }
}

fn refused() -> SourceError {
    SourceError::WrongPass { message: Some("The bank refused the authentication".into()) }
}

/// The interaction a step waits for.
fn user_step(step: &Step) -> SourceError {
    match step {
        Step::Done => SourceError::Bug("the bank ended the authorisation but the consent is not valid".into()),
        Step::Redirect { url } | Step::OAuth { url, .. } => SourceError::WebauthRequired { url: url.clone() },
        Step::Decoupled { message, .. } => SourceError::Decoupled {
            message: message.clone().or_else(|| Some("Validate the access in your bank's app".into())),
        },
        Step::Password { .. } => ask_password("Enter your bank password to authorise the access"),
        Step::Method { methods, .. } => ask_method(methods),
        Step::Otp { prompt, .. } => ask_otp(prompt, "Enter the code your bank sent you"),
    }
}

impl Xs2a {
    /// A call under the consent: its id, and the OAuth2 token when the bank gave one.
    fn under_consent(
        &self,
        method: Method,
        url: &str,
        request: &SourceRequest,
        consent: &Consent,
    ) -> reqwest::RequestBuilder {
        let mut call = self.api.request(method, url, request).header("Consent-ID", &consent.id);
        if let Some(tokens) = &consent.tokens {
            call = call.bearer_auth(&tokens.access_token);
        }
        call
    }

    /// The consent request: every PSD2 account (or the bank's own choice screen), recurring.
    fn consent_body(&self, today: NaiveDate, known: &BTreeMap<String, Resource>) -> Value {
        let access = if self.bank_offered_consent {
            // Once the accounts are known, a renewal names them; before, the PSU picks at the bank.
            let ibans: Vec<Value> =
                known.keys().filter(|k| looks_like_iban(k)).map(|iban| json!({ "iban": iban })).collect();
            json!({ "accounts": ibans, "balances": ibans, "transactions": ibans })
        } else {
            json!({ "allPsd2": "allAccounts" })
        };
        json!({
            "access": access,
            "recurringIndicator": true,
            "validUntil": today + Days::new(CONSENT_DAYS),
            "frequencyPerDay": self.frequency_per_day,
            "combinedServiceIndicator": false,
        })
    }

    /// The token the bank wants before the consent: bankd's own (`client_credentials`), or the
    /// PSU's from the pre-step, which sends them to the bank first and trades the code they come
    /// back with.
    async fn token_before_consent(&self, request: &SourceRequest, memory: &mut Memory) -> SourceResult<Option<Tokens>> {
        let Some(before) = &self.before_consent else { return Ok(None) };
        if before.mode == OAuthMode::ClientCredentials {
            return before.oauth.client_credentials(&self.api, request, &before.scope).await.map(Some);
        }
        match (memory.pre_step.take(), &request.input.webauth_code) {
            (Some(pending), Some(code)) => {
                let tokens = before.oauth.exchange(&self.api, request, code, &pending.redirect_uri, &pending.verifier);
                tokens.await.map(Some)
            }
            _ => {
                let started = before.oauth.start(request, &before.scope);
                memory.pre_step = Some(PreStep { verifier: started.verifier, redirect_uri: started.redirect_uri });
                Err(SourceError::WebauthRequired { url: started.url })
            }
        }
    }

    async fn create_consent(&self, request: &SourceRequest, memory: &mut Memory) -> SourceResult<bool> {
        let bearer = self.token_before_consent(request, memory).await?;
        let today = request.now.date_naive();
        let back = &request.webauth_callback;
        let state = super::super::encode_pairs(&[("state", &request.webauth_state)]);
        let denied = super::super::encode_pairs(&[("state", &request.webauth_state), ("error", "access_denied")]);
        let mut call = self.api.request(Method::POST, &self.api.endpoint("/v1/consents"), request);
        if let Some(tokens) = &bearer {
            call = call.bearer_auth(&tokens.access_token);
        }
        if let Some(kind) = &self.psu_id_type {
            call = call.header("PSU-ID-Type", kind);
        }
        let call = call
            .header("PSU-ID", &memory.psu_id)
            .header("TPP-Redirect-Preferred", self.redirect_preferred.to_string())
            .header("TPP-Redirect-URI", format!("{back}?{state}"))
            .header("TPP-Nok-Redirect-URI", format!("{back}?{denied}"))
            .json(&self.consent_body(today, &memory.accounts));
        let answer = self.api.send(call).await?;
        if !answer.status.is_success() {
            return Err(answer.error());
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            consent_id: String,
        }
        let created: Created = answer.json()?;
        let sca: ScaAnswer = answer.json()?;
        let valid_until = today + Days::new(CONSENT_DAYS);
        // The token before the consent goes with every call under it, and is renewed like any.
        let oauth = bearer.as_ref().and(self.before_consent.as_ref()).map(|before| before.oauth.clone());
        let mut consent =
            Consent { id: created.consent_id, valid: false, valid_until, step: Step::Done, oauth, tokens: bearer };
        let outcome = self.follow(request, &mut consent, &sca, 0).await;
        memory.consent = Some(consent);
        outcome
    }

    /// Moves the consent to the step `answer` leads to, calling explicit starts and single SCA
    /// methods at once; `Ok(true)` once the consent is valid.
    async fn follow(
        &self,
        request: &SourceRequest,
        consent: &mut Consent,
        answer: &ScaAnswer,
        depth: u8,
    ) -> SourceResult<bool> {
        if depth > 3 {
            return Err(SourceError::Bug("the bank's authorisation goes round in circles".into()));
        }
        match next_step(answer)? {
            Next::Failed => Err(refused()),
            Next::Explicit(href) => {
                let url = self.api.href(&href)?;
                let call = self.under_consent(Method::POST, &url, request, consent).json(&json!({}));
                let next: ScaAnswer = self.api.call(call).await?;
                Box::pin(self.follow(request, consent, &next, depth + 1)).await
            }
            Next::OAuthMetadata(href) => {
                let Some(client_id) = &self.client_id else {
                    let why = "the bank authorises through OAuth2 (scaOAuth): give its client_id in the catalog";
                    return Err(SourceError::NotSupported(why.into()));
                };
                let oauth = OAuth::discover(&self.api, &self.api.href(&href)?, request, client_id).await?;
                let started = oauth.start(request, &self.sca_scope.replace("{consentId}", &consent.id));
                let url = started.url.clone();
                consent.step = Step::OAuth {
                    oauth,
                    verifier: started.verifier,
                    redirect_uri: started.redirect_uri,
                    url: started.url,
                };
                Err(SourceError::WebauthRequired { url })
            }
            Next::Step(Step::Method { href, start, methods }) if methods.len() == 1 => {
                let body = json!({ "authenticationMethodId": methods[0].0 });
                let next = self.authorise(request, consent, verb(start), &href, body).await?;
                Box::pin(self.follow(request, consent, &next, depth + 1)).await
            }
            Next::Step(step) => {
                consent.step = step;
                self.interaction(request, consent).await
            }
        }
    }

    /// What the consent's current step asks of the user, or `Ok(true)` when it is over.
    async fn interaction(&self, request: &SourceRequest, consent: &mut Consent) -> SourceResult<bool> {
        match &consent.step {
            Step::Done => self.confirm(request, consent).await,
            step => Err(user_step(step)),
        }
    }

    /// Carries the consent's pending step on with what the user just brought.
    async fn resume(&self, request: &SourceRequest, consent: &mut Consent) -> SourceResult<bool> {
        let fields = &request.input.fields;
        let step = consent.step.clone();
        let answer = match &step {
            Step::Done => return self.confirm(request, consent).await,
            Step::Redirect { .. } => return self.confirm(request, consent).await,
            Step::OAuth { oauth, verifier, redirect_uri, .. } => {
                let code = request.input.webauth_code.clone().unwrap_or_default();
                consent.tokens = Some(oauth.exchange(&self.api, request, &code, redirect_uri, verifier).await?);
                consent.oauth = Some(oauth.clone());
                return self.confirm(request, consent).await;
            }
            Step::Decoupled { status, .. } => {
                let url = self.api.href(status)?;
                let answer: ScaAnswer = self.api.call(self.under_consent(Method::GET, &url, request, consent)).await?;
                return match answer.sca_status.as_deref() {
                    Some("finalised" | "exempted") => self.confirm(request, consent).await,
                    Some("failed") => Err(refused()),
                    // Still waiting for the app.
                    _ => Err(user_step(&consent.step)),
                };
            }
            Step::Password { href, start } => {
                let Some(password) = fields.get("password") else { return self.interaction(request, consent).await };
                let body = json!({ "psuData": { "password": password } });
                match self.send_step(request, consent, verb(*start), href, body).await? {
                    Ok(answer) => answer,
                    Err(_) => return Err(ask_password("Wrong password, try again")),
                }
            }
            Step::Method { href, start, methods } => match fields.get("sca_method") {
                Some(id) if methods.iter().any(|(known, _)| known == id) => {
                    self.authorise(request, consent, verb(*start), href, json!({ "authenticationMethodId": id }))
                        .await?
                }
                _ => return Err(ask_method(methods)),
            },
            Step::Otp { href, start, prompt } => {
                let Some(otp) = fields.get("otp").map(str::trim) else {
                    return self.interaction(request, consent).await;
                };
                match self
                    .send_step(request, consent, verb(*start), href, json!({ "scaAuthenticationData": otp }))
                    .await?
                {
                    Ok(answer) => answer,
                    Err(_) => return Err(ask_otp(prompt, "Wrong code, try again")),
                }
            }
        };
        self.follow(request, consent, &answer, 0).await
    }

    async fn authorise(
        &self,
        request: &SourceRequest,
        consent: &Consent,
        method: Method,
        href: &str,
        body: Value,
    ) -> SourceResult<ScaAnswer> {
        self.send_step(request, consent, method, href, body).await?.map_err(|refused| refused.error())
    }

    /// Sends an embedded step; a refusal of what the PSU typed is `Ok(Err(answer))`.
    async fn send_step(
        &self,
        request: &SourceRequest,
        consent: &Consent,
        method: Method,
        href: &str,
        body: Value,
    ) -> SourceResult<Result<ScaAnswer, Answer>> {
        let url = self.api.href(href)?;
        let answer = self.api.send_link(self.under_consent(method, &url, request, consent).json(&body)).await?;
        if answer.status.is_success() {
            return answer.json().map(Ok);
        }
        let (codes, _) = answer.codes();
        let refused = ["PSU_CREDENTIALS_INVALID", "SCA_INVALID", "FORMAT_ERROR"];
        if matches!(answer.status, StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST)
            && codes.iter().any(|c| refused.contains(&c.as_str()))
        {
            return Ok(Err(answer));
        }
        Err(answer.error())
    }

    /// Reads the consent back once its authorisation is over: valid, and until when.
    async fn confirm(&self, request: &SourceRequest, consent: &mut Consent) -> SourceResult<bool> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Info {
            consent_status: String,
            #[serde(default, deserialize_with = "lenient_date")]
            valid_until: Option<NaiveDate>,
        }
        let url = self.api.endpoint(&format!("/v1/consents/{}", consent.id));
        let info: Info = self.api.call(self.under_consent(Method::GET, &url, request, consent)).await?;
        match info.consent_status.as_str() {
            "valid" => {
                consent.valid = true;
                consent.step = Step::Done;
                consent.valid_until = info.valid_until.unwrap_or(consent.valid_until);
                Ok(true)
            }
            "received" | "partiallyAuthorised" => Err(user_step(&consent.step)),
            "rejected" => Err(SourceError::WrongPass { message: Some("The access was refused at the bank".into()) }),
            _ => Err(SourceError::ScaRequired {
                message: Some("The bank's consent is no longer valid: reconnect".into()),
            }),
        }
    }

    /// The whole authorisation: reuse a valid consent, carry on a pending step, or ask a new one.
    async fn authorise_run(&self, request: &SourceRequest, memory: &mut Memory) -> SourceResult<bool> {
        let input = &request.input;
        let answering = input.webauth_code.is_some() || input.resume || !input.fields.0.is_empty();
        let consent = memory.consent.take();
        let first = consent.is_none();
        match consent {
            Some(consent) if consent.valid && !input.authenticating => {
                memory.consent = Some(consent);
                Ok(false)
            }
            Some(mut consent)
                if !consent.valid && consent.step != Step::Done && (answering || !input.authenticating) =>
            {
                // A redirect the user has not come back from is asked afresh when they are here.
                if matches!(consent.step, Step::Redirect { .. } | Step::OAuth { .. }) && input.webauth_code.is_none() {
                    return self.create_consent(request, memory).await;
                }
                let outcome = self.resume(request, &mut consent).await;
                memory.consent = Some(consent);
                outcome
            }
            // A new consent when the user asks to authenticate, or for the connection's first run.
            _ if input.authenticating || (first && !request.unattended) => self.create_consent(request, memory).await,
            dead => {
                memory.consent = dead;
                Err(SourceError::ScaRequired {
                    message: Some("The bank's consent is no longer valid: reconnect".into()),
                })
            }
        }
    }

    fn consent<'a>(&self, memory: &'a Memory) -> SourceResult<&'a Consent> {
        memory
            .consent
            .as_ref()
            .filter(|c| c.valid)
            .ok_or_else(|| SourceError::Bug("no valid consent: login first".into()))
    }

    /// Runs an account data call; an error that kills the consent is remembered.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        request: &SourceRequest,
        memory: &mut Memory,
        url: &str,
    ) -> SourceResult<T> {
        self.read_answer(request, memory, url).await?.json()
    }

    /// A successful answer to an account data call, whatever its format.
    async fn read_answer(&self, request: &SourceRequest, memory: &mut Memory, url: &str) -> SourceResult<Answer> {
        self.refresh_tokens(request, memory).await?;
        let consent = self.consent(memory)?;
        let call = self.under_consent(Method::GET, url, request, consent).header(ACCEPT, ACCEPTED);
        let result = match self.api.send_link(call).await {
            Ok(answer) if answer.status.is_success() => Ok(answer),
            Ok(answer) => Err(answer.error()),
            Err(e) => Err(e),
        };
        if let Err(SourceError::ScaRequired { .. }) = &result
            && let Some(consent) = &mut memory.consent
        {
            consent.valid = false;
        }
        result
    }
}

impl Xs2a {
    /// Renews an OAuth2 access token that ran out.
    async fn refresh_tokens(&self, request: &SourceRequest, memory: &mut Memory) -> SourceResult<()> {
        if let Some(consent) = &mut memory.consent
            && let (Some(oauth), Some(tokens)) = (&consent.oauth, &consent.tokens)
            && tokens.stale(request.now)
        {
            consent.tokens = Some(match &self.before_consent {
                // bankd's own token: asked again.
                Some(before) if before.mode == OAuthMode::ClientCredentials && tokens.refresh_token.is_none() => {
                    before.oauth.client_credentials(&self.api, request, &before.scope).await?
                }
                _ => oauth.refresh(&self.api, request, tokens).await?,
            });
        }
        Ok(())
    }
}

/// The standard's IBAN pattern, `[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}`: a masked card number is not one.
fn looks_like_iban(text: &str) -> bool {
    let bytes = text.as_bytes();
    (5..=34).contains(&bytes.len())
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..4].iter().all(u8::is_ascii_digit)
        && bytes.iter().all(u8::is_ascii_alphanumeric)
}

fn save(memory: &Memory, session: &mut SourceSession) -> SourceResult<()> {
    session.state = serde_json::to_value(memory).map_err(|e| SourceError::Bug(format!("saving the consent: {e}")))?;
    Ok(())
}

#[async_trait]
impl Source for Xs2a {
    async fn login(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<()> {
        let psu_id = request.credentials.get("login").map(str::trim).unwrap_or_default();
        if psu_id.is_empty() {
            return Err(SourceError::WrongPass { message: Some("Your bank login is missing".into()) });
        }
        let mut memory = Memory::load(&session.state, psu_id);
        session.strongly_authenticated = false;
        // Saved even on failure: it holds the step in progress.
        let outcome = self.authorise_run(request, &mut memory).await;
        if let Ok(strong) = outcome {
            session.strongly_authenticated = strong;
            if strong {
                memory.last_sca = Some(request.now);
            }
        }
        session.access_expire = memory.consent.as_ref().filter(|c| c.valid).map(|c| midnight(c.valid_until));
        save(&memory, session)?;
        outcome.map(drop)
    }

    async fn accounts(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<Vec<BankAccount>> {
        let psu_id = request.credentials.get("login").map(str::trim).unwrap_or_default();
        let mut memory = Memory::load(&session.state, psu_id);
        let query = if self.with_balance { "?withBalance=true" } else { "" };
        let url = self.api.endpoint(&format!("/v1/accounts{query}"));
        let listed = self.read::<AccountList>(request, &mut memory, &url).await;
        let mut accounts = Vec::new();
        let mut resources = BTreeMap::new();
        let result = async {
            for details in listed?.accounts.into_iter().filter(|a| a.status.as_deref() != Some("deleted")) {
                let balances = match &details.balances {
                    Some(balances) if !balances.is_empty() => balances.clone(),
                    _ => self.balances(request, &mut memory, &details).await?,
                };
                let (account, resource) = details.into_account(&balances)?;
                resources.insert(account.webid.clone(), resource);
                accounts.push(account);
            }
            Ok(())
        }
        .await;
        if result.is_ok() {
            memory.accounts = resources;
        }
        save(&memory, session)?;
        result.map(|()| accounts)
    }

    async fn transactions(
        &self,
        request: &SourceRequest,
        session: &mut SourceSession,
        account_webid: &str,
        since: Option<NaiveDate>,
    ) -> SourceResult<Vec<BankTransaction>> {
        let psu_id = request.credentials.get("login").map(str::trim).unwrap_or_default();
        let mut memory = Memory::load(&session.state, psu_id);
        let result = self.history(request, &mut memory, account_webid, since).await;
        save(&memory, session)?;
        result
    }
}

impl Xs2a {
    async fn balances(
        &self,
        request: &SourceRequest,
        memory: &mut Memory,
        details: &AccountDetails,
    ) -> SourceResult<Vec<BgBalance>> {
        #[derive(Deserialize)]
        struct Balances {
            balances: Vec<BgBalance>,
        }
        // The standard's path on the API's base: the listing's link may carry a prefix the API is
        // not served under.
        let Some(id) = &details.resource_id else {
            return Err(SourceError::Bug("an account without resourceId".into()));
        };
        let url = self.api.endpoint(&format!("/v1/accounts/{id}/balances"));
        Ok(self.read::<Balances>(request, memory, &url).await?.balances)
    }

    /// Every page of the account's report, booked and pending, from `since` (or as far back as
    /// the bank serves a first read), window by window when the bank serves only so many days
    /// a request. The report is JSON, or camt.052 XML at the banks that answer that way.
    async fn history(
        &self,
        request: &SourceRequest,
        memory: &mut Memory,
        webid: &str,
        since: Option<NaiveDate>,
    ) -> SourceResult<Vec<BankTransaction>> {
        let resource = Resource::of(&memory.accounts, webid)?;
        let today = request.now.date_naive();
        let from = self.reading.first_day(since, request.now, memory.last_sca);
        let mut overlap = Overlap::default();
        let (mut entries, mut camt) = (Vec::new(), Vec::new());
        for window in self.reading.windows(from, today) {
            overlap.next_window();
            let first = resource.transactions_url(
                &self.api,
                "/v1/accounts/{id}/transactions",
                window,
                &[("bookingStatus", "both")],
            );
            let mut pages = Pages::new(first);
            while let Some(url) = pages.next_url()? {
                let answer = self.read_answer(request, memory, &url).await?;
                if is_xml(&answer) {
                    let read = super::camt_entries(&answer)?;
                    camt.extend(read.into_iter().filter(|e| overlap.keep(super::camt_key(e))));
                    continue;
                }
                let page: ReportPage = answer.json()?;
                let report = page.transactions.unwrap_or_default();
                let zone = self.reading.zone;
                let booked = report.booked.into_iter().map(|t| t.into_entry(false, zone));
                for entry in booked.chain(report.pending.into_iter().map(|t| t.into_entry(true, zone))) {
                    let entry = entry.map_err(SourceError::Bug)?;
                    if overlap.keep(mapping::key(&entry)) {
                        entries.push(entry);
                    }
                }
                pages.follow(&self.api, &report.links)?;
            }
        }
        let mut transactions = mapping::bank_transactions(entries, today).map_err(SourceError::Bug)?;
        transactions.extend(crate::sources::entries::transactions(&camt));
        Ok(transactions)
    }
}

/// An answer in XML (camt) rather than JSON, by its type.
fn is_xml(answer: &Answer) -> bool {
    let kind = answer.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    kind.contains("xml")
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

// ---- The standard's JSON, as read (unknown fields ignored, optional ones optional) ----

/// A list or map the standard says is there or absent, which some banks send as `null`.
fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A date as the standard writes it (`2026-11-24`); a few banks send a date-time, whose day counts.
fn lenient_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<NaiveDate>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    text.map(|t| NaiveDate::parse_from_str(t.get(..10).unwrap_or(&t), "%Y-%m-%d").map_err(serde::de::Error::custom))
        .transpose()
}

#[derive(Debug, Deserialize)]
struct AccountList {
    accounts: Vec<AccountDetails>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountDetails {
    resource_id: Option<String>,
    iban: Option<String>,
    bban: Option<String>,
    msisdn: Option<String>,
    masked_pan: Option<String>,
    currency: String,
    name: Option<String>,
    display_name: Option<String>,
    product: Option<String>,
    owner_name: Option<String>,
    cash_account_type: Option<String>,
    status: Option<String>,
    bic: Option<String>,
    usage: Option<String>,
    balances: Option<Vec<BgBalance>>,
    #[serde(rename = "_links", default, deserialize_with = "null_as_default")]
    links: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BgBalance {
    balance_amount: Amount,
    balance_type: String,
    #[serde(default)]
    credit_limit_included: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
struct Amount {
    currency: String,
    amount: String,
}

impl Amount {
    fn value(&self) -> Result<rust_decimal::Decimal, String> {
        self.amount.trim().parse().map_err(|_| format!("'{}' is not an amount", self.amount))
    }
}

impl AccountDetails {
    fn link(&self, name: &str) -> Option<String> {
        link_href(&self.links, name)
    }

    /// The account, and where its transactions are. Its webid is what identifies it across
    /// consents (IBAN, card number, …): many banks issue new `resourceId`s with each consent.
    fn into_account(self, balances: &[BgBalance]) -> SourceResult<(BankAccount, Resource)> {
        let bug = |why: String| SourceError::Bug(format!("account {:?}: {why}", self.resource_id));
        // A multicurrency account (`XXX`) is shown in the currency of its first balance.
        let currency = match balances.iter().any(|b| b.balance_amount.currency == self.currency) {
            true => self.currency.clone(),
            false => balances.first().map_or(self.currency.clone(), |b| b.balance_amount.currency.clone()),
        };
        let balances = balances
            .iter()
            .filter(|b| b.balance_amount.currency == currency)
            .map(|b| {
                let amount = b.balance_amount.value()?;
                Ok(Balance {
                    kind: b.balance_type.clone(),
                    amount,
                    credit_limit_included: b.credit_limit_included.unwrap_or(false),
                })
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(bug)?;
        let (balance, coming) =
            mapping::balance_and_coming(&balances).ok_or_else(|| bug("the bank gives no balance".into()))?;
        let webid = [&self.iban, &self.masked_pan, &self.bban, &self.msisdn, &self.resource_id]
            .into_iter()
            .find_map(|id| id.clone())
            .ok_or_else(|| bug("no identifier".into()))?;
        let resource = Resource {
            id: self.resource_id.clone().ok_or_else(|| bug("no resourceId to read it by".into()))?,
            transactions: self.link("transactions"),
        };
        let is_card = self.masked_pan.is_some() && self.iban.is_none();
        let kind = mapping::account_type(self.cash_account_type.as_deref(), is_card);
        if let (Some(code), "unknown") = (&self.cash_account_type, kind) {
            tracing::warn!(cash_account_type = code, "an account type outside the standard, read as unknown");
        }
        for unknown in balances.iter().filter(|b| !mapping::is_balance_type(&b.kind)) {
            tracing::warn!(balance_type = unknown.kind, "a balance type outside the standard, not the balance");
        }
        let name = [&self.name, &self.display_name, &self.product, &self.owner_name]
            .into_iter()
            .find_map(|n| n.clone().filter(|n| !n.trim().is_empty()))
            .unwrap_or_else(|| webid.clone());
        let account = BankAccount {
            webid,
            name,
            number: self.bban.clone().or(self.masked_pan.clone()),
            iban: self.iban.clone(),
            bic: self.bic.clone(),
            kind,
            currency,
            balance,
            coming,
            usage: mapping::usage(self.usage.as_deref()),
        };
        Ok((account, resource))
    }
}

#[derive(Debug, Deserialize)]
struct ReportPage {
    transactions: Option<Report>,
}

#[derive(Debug, Default, Deserialize)]
struct Report {
    #[serde(default)]
    booked: Vec<BgTransaction>,
    #[serde(default)]
    pending: Vec<BgTransaction>,
    #[serde(rename = "_links", default, deserialize_with = "null_as_default")]
    links: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BgTransaction {
    transaction_id: Option<String>,
    entry_reference: Option<String>,
    /// Dates, or date-times as some banks send them ([`mapping::bank_day`]).
    booking_date: Option<String>,
    value_date: Option<String>,
    /// Card transactions only.
    transaction_date: Option<String>,
    /// When the operation happened, where the bank says to the second.
    transaction_date_time: Option<String>,
    transaction_amount: Amount,
    creditor_name: Option<String>,
    creditor_account: Option<AccountReference>,
    debtor_name: Option<String>,
    debtor_account: Option<AccountReference>,
    /// The standard says a string; some banks send an array of lines.
    remittance_information_unstructured: Option<Value>,
    remittance_information_unstructured_array: Option<Value>,
    /// A string in some versions of the standard, an object with a `reference` in others.
    remittance_information_structured: Option<Value>,
    remittance_information_structured_array: Option<Value>,
    additional_information: Option<String>,
    bank_transaction_code: Option<String>,
    masked_pan: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountReference {
    iban: Option<String>,
    bban: Option<String>,
}

impl BgTransaction {
    /// The transaction in neutral terms; its date-times dated in the bank's `zone`.
    fn into_entry(self, pending: bool, zone: chrono_tz::Tz) -> Result<Entry, String> {
        let lines = |value: &Option<Value>| value.as_ref().map(mapping::remittance_lines).unwrap_or_default();
        let mut wording = lines(&self.remittance_information_unstructured);
        wording.extend(lines(&self.remittance_information_unstructured_array));
        if wording.is_empty() {
            wording.extend(lines(&self.remittance_information_structured));
            wording.extend(lines(&self.remittance_information_structured_array));
        }
        if wording.is_empty() {
            wording.extend(self.additional_information);
        }
        let party = |name: Option<String>, account: Option<AccountReference>| {
            let (iban, bban) = account.map(|a| (a.iban, a.bban)).unwrap_or_default();
            (name.is_some() || iban.is_some() || bban.is_some()).then_some(Party { name, iban, bban })
        };
        let day = |text: Option<String>| {
            text.map(|text| mapping::bank_day(&text, zone).ok_or_else(|| format!("'{text}' is not a date"))).transpose()
        };
        let transaction_date = match day(self.transaction_date)? {
            Some(date) => Some(date),
            None => day(self.transaction_date_time)?,
        };
        Ok(Entry {
            id: self.transaction_id,
            entry_reference: self.entry_reference,
            booking_date: day(self.booking_date)?,
            value_date: day(self.value_date)?,
            transaction_date,
            amount: self.transaction_amount.value()?,
            pending,
            wording,
            creditor: party(self.creditor_name, self.creditor_account),
            debtor: party(self.debtor_name, self.debtor_account),
            bank_transaction_code: self.bank_transaction_code,
            masked_pan: self.masked_pan,
        })
    }
}

#[cfg(test)]
mod tests {
    //! The standard's JSON (NextGenPSD2 1.3.x), shaped as ASPSPs send it, read into bankd's terms.

    use rust_decimal_macros::dec;

    use super::*;

    fn day(month: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, month, d).unwrap()
    }

    /// The account, with the balances its listing carries.
    fn read_account(details: AccountDetails) -> SourceResult<(BankAccount, Resource)> {
        let balances = details.balances.clone().unwrap_or_default();
        details.into_account(&balances)
    }

    fn account(details: Value) -> SourceResult<(BankAccount, Resource)> {
        read_account(serde_json::from_value(details).unwrap())
    }

    fn balance(kind: &str, amount: &str) -> Value {
        json!({ "balanceAmount": { "currency": "EUR", "amount": amount }, "balanceType": kind,
                "referenceDate": "2026-11-20", "lastChangeDateTime": "2026-11-20T08:30:00Z" })
    }

    const ACCOUNT: &str = "/v1/accounts/3dc3d5b3-7023-4848-9853-f5400a64e80f";

    #[test]
    fn an_account_list_reads_checking_card_savings_and_bban_accounts() {
        let list: AccountList = serde_json::from_value(json!({ "accounts": [
            { "resourceId": "3dc3d5b3-7023-4848-9853-f5400a64e80f", "iban": "DE89370400440532013000",
              "currency": "EUR", "name": "Main Account", "product": "Girokonto", "cashAccountType": "CACC",
              "status": "enabled", "bic": "COBADEFFXXX", "usage": "PRIV", "ownerName": "Heike Mustermann",
              "balances": [balance("closingBooked", "500.00"), balance("expected", "470.50")],
              "_links": { "balances": { "href": format!("{ACCOUNT}/balances") },
                          "transactions": { "href": format!("{ACCOUNT}/transactions") } } },
            { "resourceId": "3d9a81b3", "maskedPan": "525412******3241", "currency": "EUR",
              "name": "Main Credit Card", "balances": [balance("interimBooked", "-120.40")] },
            { "resourceId": "a8d5c3f1", "iban": "DE75512108001245126199", "currency": "EUR", "product": "Tagesgeld",
              "cashAccountType": "SVGS", "usage": "ORGA", "balances": [balance("interimAvailable", "12000")] },
            { "resourceId": "old-1", "iban": "DE02120300000000202051", "currency": "EUR", "status": "deleted",
              "balances": [balance("closingBooked", "0")] },
            { "resourceId": "b-42", "bban": "3704004405320130", "currency": "EUR", "details": "no IBAN here",
              "balances": [balance("closingBooked", "7.5")] },
        ]}))
        .unwrap();
        let read: Vec<_> = list.accounts.into_iter().map(|a| read_account(a).unwrap()).collect();
        let summary: Vec<_> = read
            .iter()
            .map(|(a, _)| {
                (a.webid.as_str(), a.name.as_str(), a.kind, a.number.as_deref(), a.balance, a.coming, a.usage)
            })
            .collect();
        let (iban, pan, bban) = ("DE89370400440532013000", "525412******3241", "3704004405320130");
        assert_eq!(
            summary,
            [
                // coming = expected − closingBooked
                (iban, "Main Account", "checking", None, dec!(500.00), Some(dec!(-29.50)), "PRIV"),
                (pan, "Main Credit Card", "card", Some(pan), dec!(-120.40), None, "PRIV"),
                ("DE75512108001245126199", "Tagesgeld", "savings", None, dec!(12000), None, "ORGA"),
                // Not `into_account`'s business: `accounts()` leaves it out.
                ("DE02120300000000202051", "DE02120300000000202051", "unknown", None, dec!(0), None, "PRIV"),
                (bban, bban, "unknown", Some(bban), dec!(7.5), None, "PRIV"),
            ]
        );
        let (checking, resource) = &read[0];
        assert_eq!((checking.iban.as_deref(), checking.bic.as_deref()), (Some(iban), Some("COBADEFFXXX")));
        assert_eq!(resource.id, "3dc3d5b3-7023-4848-9853-f5400a64e80f");
        assert_eq!(resource.transactions, Some(format!("{ACCOUNT}/transactions")));
        assert_eq!((read[1].0.iban.as_deref(), read[1].1.transactions.as_deref()), (None, None));
    }

    #[test]
    fn an_account_without_balance_or_with_an_unreadable_one_is_refused() {
        let bare = json!({ "resourceId": "r1", "iban": "DE89370400440532013000", "currency": "EUR" });
        assert!(matches!(account(bare), Err(SourceError::Bug(why)) if why.contains("no balance")));
        let comma = json!({ "resourceId": "r1", "iban": "DE89370400440532013000", "currency": "EUR",
                            "balances": [balance("closingBooked", "1.234,56")] });
        assert!(matches!(account(comma), Err(SourceError::Bug(why)) if why.contains("not an amount")));
    }

    #[test]
    fn webid_prefers_iban_then_masked_pan_then_bban_then_msisdn_then_resource_id() {
        let ids = [
            ("iban", "DE89370400440532013000"),
            ("maskedPan", "525412******3241"),
            ("bban", "3704004405320130"),
            ("msisdn", "+49 170 1234567"),
            ("resourceId", "3dc3d5b3-7023"),
        ];
        for first in 0..ids.len() {
            let mut details = json!({ "currency": "EUR", "balances": [balance("closingBooked", "1")] });
            for (key, value) in &ids[first..] {
                details[key] = json!(value);
            }
            assert_eq!(account(details).unwrap().0.webid, ids[first].1, "{ids:?}[{first}..]");
        }
    }

    #[test]
    fn a_multicurrency_account_keeps_its_balances() {
        // accountDetails: "If the account is a multicurrency account currency code in currency is set to XXX".
        let details = json!({ "resourceId": "mc-1", "iban": "DE89370400440532013000", "currency": "XXX", "balances": [
            { "balanceAmount": { "currency": "EUR", "amount": "100.00" }, "balanceType": "closingBooked" },
            { "balanceAmount": { "currency": "USD", "amount": "50.00" }, "balanceType": "closingBooked" } ] });
        assert!(account(details).is_ok());
    }

    // ---- Transactions (accountReport) ----

    /// A booked transaction: `fields` over a minimal one (the standard requires only the amount).
    fn booked(fields: Value) -> Value {
        let mut row =
            json!({ "transactionAmount": { "currency": "EUR", "amount": "-12.30" }, "bookingDate": "2026-11-20" });
        row.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        row
    }

    fn entries(booked: Vec<Value>, pending: Vec<Value>) -> Result<Vec<Entry>, String> {
        let page: ReportPage = serde_json::from_value(json!({
            "account": { "iban": "DE89370400440532013000" },
            "transactions": { "booked": booked, "pending": pending, "_links": { "account": { "href": ACCOUNT } } },
            "balances": [balance("closingBooked", "500.00")],
        }))
        .unwrap();
        let report = page.transactions.unwrap();
        let zone = chrono_tz::Europe::Paris;
        let booked = report.booked.into_iter().map(|t| t.into_entry(false, zone));
        booked.chain(report.pending.into_iter().map(|t| t.into_entry(true, zone))).collect()
    }

    fn rows(booked: Vec<Value>, pending: Vec<Value>) -> Vec<BankTransaction> {
        mapping::bank_transactions(entries(booked, pending).unwrap(), day(11, 26)).unwrap()
    }

    fn row(fields: Value) -> BankTransaction {
        rows(vec![booked(fields)], vec![]).remove(0)
    }

    #[test]
    fn webid_is_transaction_id_else_entry_reference_else_a_fingerprint() {
        let with_id = booked(json!({ "transactionId": "1234567", "entryReference": "E-1" }));
        let with_reference = booked(json!({ "entryReference": "E-2" }));
        let bare = booked(json!({ "remittanceInformationUnstructured": "CB CAFE" }));
        let webids: Vec<_> = rows(vec![with_id, with_reference, bare], vec![]).into_iter().map(|t| t.webid).collect();
        assert_eq!(webids[..2], [Some("1234567".to_owned()), Some("E-2".to_owned())]);
        let fingerprint = webids[2].clone().unwrap();
        assert!(fingerprint.starts_with("fp-") && fingerprint.ends_with("-1") && fingerprint.len() == 21);
    }

    #[test]
    fn amounts_are_signed_decimal_strings() {
        assert_eq!(row(json!({})).value, dec!(-12.30));
        let credit = row(json!({ "transactionAmount": { "currency": "EUR", "amount": "1500.00" } }));
        assert_eq!(credit.value, dec!(1500.00));
        let word = booked(json!({ "transactionAmount": { "currency": "EUR", "amount": "twelve" } }));
        assert_eq!(entries(vec![word], vec![]).unwrap_err(), "'twelve' is not an amount");
    }

    #[test]
    fn dates_are_read_and_a_date_time_counts_as_its_day() {
        let read = row(json!({ "bookingDate": "2026-11-20T10:00:00", "valueDate": "2026-11-19" }));
        assert_eq!((read.date, read.rdate, read.vdate), (day(11, 20), day(11, 20), Some(day(11, 19))));
        #[derive(Debug, Deserialize)]
        struct Dated {
            #[serde(default, deserialize_with = "lenient_date")]
            date: Option<NaiveDate>,
        }
        let read = |v: Value| serde_json::from_value::<Dated>(v).map(|d| d.date);
        assert_eq!(read(json!({ "date": "2026-11-20" })).unwrap(), Some(day(11, 20)));
        assert_eq!(read(json!({ "date": "2026-11-20T23:59:59.123+01:00" })).unwrap(), Some(day(11, 20)));
        assert_eq!(read(json!({ "date": null })).unwrap(), None);
        assert_eq!(read(json!({})).unwrap(), None);
        assert!(read(json!({ "date": "20.11.2026" })).is_err());
    }

    #[test]
    fn unstructured_remittance_lines_are_joined_in_order() {
        let read = row(json!({ "remittanceInformationUnstructured": "SEPA TRANSFER",
                               "remittanceInformationUnstructuredArray": ["Ref Number Merchant", "Some Other Text"],
                               "remittanceInformationStructured": "RF18539007547034" }));
        assert_eq!(read.original_wording, "SEPA TRANSFER Ref Number Merchant Some Other Text");
    }

    #[test]
    fn structured_remittance_is_read_as_string_or_object() {
        let as_string = row(json!({ "remittanceInformationStructured": "RF18539007547034" }));
        assert_eq!(as_string.original_wording, "RF18539007547034");
        let as_object = row(json!({ "remittanceInformationStructured":
            { "reference": "RF18539007547034", "referenceType": "SCOR", "referenceIssuer": "ISO" } }));
        assert_eq!(as_object.original_wording, "RF18539007547034");
        let array = row(json!({ "remittanceInformationStructuredArray":
            [{ "reference": "RF18539007547034", "referenceType": "SCOR" }, { "reference": "INV-2026-11" }] }));
        assert_eq!(array.original_wording, "RF18539007547034 INV-2026-11");
    }

    #[test]
    fn additional_information_is_the_last_resort() {
        let read = row(json!({ "additionalInformation": "Some additional transaction related information." }));
        assert_eq!(read.original_wording, "Some additional transaction related information.");
        let both = row(json!({ "additionalInformation": "ignored", "remittanceInformationUnstructured": "RENT" }));
        assert_eq!(both.original_wording, "RENT");
    }

    #[test]
    fn the_counterparty_is_the_creditor_of_a_debit_and_the_debtor_of_a_credit() {
        let party = |t: &BankTransaction| {
            let p = t.counterparty.clone().unwrap();
            (p.label, p.kind, p.account_scheme_name.unwrap(), p.account_identification.unwrap())
        };
        let debit = row(json!({ "creditorName": "John Miles", "creditorAccount": { "iban": "DE67100100101306118605" },
                                "debtorName": "Me", "debtorAccount": { "iban": "DE89370400440532013000" } }));
        let creditor = ("John Miles".into(), "creditor", "iban".into(), "DE67100100101306118605".into());
        assert_eq!(party(&debit), creditor);
        let credit = row(json!({ "transactionAmount": { "currency": "EUR", "amount": "1500.00" },
                                 "debtorName": "Paul Simpson", "debtorAccount": { "bban": "1306118605" },
                                 "creditorName": "Me" }));
        assert_eq!(party(&credit), ("Paul Simpson".into(), "debtor", "bban".into(), "1306118605".into()));
        // No remittance information: the counterparty names the row.
        assert_eq!(credit.original_wording, "Paul Simpson");
    }

    #[test]
    fn a_card_payment_code_makes_a_card_transaction() {
        assert_eq!(row(json!({ "bankTransactionCode": "PMNT-CCRD-POSD" })).kind, "card");
        assert_eq!(row(json!({ "bankTransactionCode": "PMNT-RDDT-ESDD" })).kind, "order");
        assert_eq!(row(json!({})).kind, "unknown");
    }

    #[test]
    fn a_pending_entry_is_coming_and_dated_by_its_value_date() {
        let pending = json!({ "transactionAmount": { "currency": "EUR", "amount": "-8.90" }, "valueDate": "2026-11-25",
                              "remittanceInformationUnstructured": "CARD PAYMENT BAKERY" });
        let read = rows(vec![], vec![pending]).remove(0);
        assert_eq!((read.coming, read.date, read.vdate, read.webid), (true, day(11, 25), Some(day(11, 25)), None));
    }

    #[test]
    fn unknown_and_unused_fields_are_ignored() {
        let read = row(json!({ "transactionId": "T-9", "endToEndId": "E2E-1", "mandateId": "M-1",
            "creditorId": "DE98ZZZ09999999999", "purposeCode": "GDSV", "proprietaryBankTransactionCode": "005",
            "balanceAfterTransaction": balance("interimBooked", "487.70"), "someBankExtension": { "any": [1, 2] },
            "_links": { "transactionDetails": { "href": format!("{ACCOUNT}/transactions/T-9") } } }));
        assert_eq!((read.webid.as_deref(), read.value), (Some("T-9"), dec!(-12.30)));
    }

    // ---- Consent and authorisation answers ----

    const CONSENT: &str = "/v1/consents/1234-wertiq-983";
    const START: &str = "/v1/consents/1234-wertiq-983/authorisations";
    const AUTH: &str = "/v1/consents/1234-wertiq-983/authorisations/123auth456";

    fn next(answer: Value) -> SourceResult<Next> {
        next_step(&serde_json::from_value(answer).unwrap())
    }

    fn step(answer: Value) -> Step {
        match next(answer) {
            Ok(Next::Step(step)) => step,
            other => panic!("{other:?}"),
        }
    }

    /// A consent creation answer (consentsResponse-201) with these links.
    fn created(links: Value) -> Value {
        json!({ "consentStatus": "received", "consentId": "1234-wertiq-983", "_links": links })
    }

    #[test]
    fn lists_sent_as_null_read_as_empty() {
        let answer = json!({ "consentStatus": "valid", "consentId": "1", "scaMethods": null, "_links": null });
        assert_eq!(step(answer), Step::Done);
    }

    #[test]
    fn redirect_and_oauth_links_lead_to_the_bank() {
        let redirect = created(json!({ "scaRedirect": { "href": "https://www.testbank.com/authentication/983" },
                                       "status": { "href": format!("{CONSENT}/status") },
                                       "scaStatus": { "href": AUTH } }));
        assert_eq!(step(redirect), Step::Redirect { url: "https://www.testbank.com/authentication/983".into() });
        let metadata = "https://www.testbank.com/.well-known/oauth-authorization-server";
        let oauth = created(json!({ "scaOAuth": { "href": metadata } }));
        assert_eq!(next(oauth), Ok(Next::OAuthMetadata(metadata.into())));
    }

    #[test]
    fn embedded_links_ask_the_password_the_method_then_the_code() {
        let start = created(json!({ "startAuthorisationWithPsuAuthentication": { "href": START } }));
        assert_eq!(step(start), Step::Password { href: START.into(), start: true });
        let update = json!({ "scaStatus": "psuIdentified", "authorisationId": "123auth456",
                             "_links": { "updatePsuAuthentication": { "href": AUTH } } });
        assert_eq!(step(update), Step::Password { href: AUTH.into(), start: false });
        let select = json!({ "scaStatus": "psuAuthenticated", "scaMethods": [
                { "authenticationType": "SMS_OTP", "authenticationMethodId": "sms", "name": "SMS OTP on phone 28" },
                { "authenticationType": "PUSH_OTP", "authenticationMethodId": "push" } ],
            "_links": { "selectAuthenticationMethod": { "href": AUTH } } });
        let methods = vec![("sms".into(), "SMS OTP on phone 28".into()), ("push".into(), "PUSH_OTP".into())];
        assert_eq!(step(select), Step::Method { href: AUTH.into(), start: false, methods });
        let chosen = json!({ "authenticationType": "SMS_OTP", "authenticationMethodId": "sms", "name": "SMS to 28" });
        let otp = json!({ "scaStatus": "scaMethodSelected", "chosenScaMethod": chosen,
            "challengeData": { "otpMaxLength": 6, "otpFormat": "integer", "additionalInformation": "Code sent to 28" },
            "_links": { "authoriseTransaction": { "href": AUTH } } });
        assert_eq!(step(otp), Step::Otp { href: AUTH.into(), start: false, prompt: Some("Code sent to 28".into()) });
        let no_challenge = json!({ "scaStatus": "scaMethodSelected", "chosenScaMethod": chosen,
                                   "_links": { "authoriseTransaction": { "href": AUTH } } });
        assert_eq!(step(no_challenge), Step::Otp { href: AUTH.into(), start: false, prompt: Some("SMS to 28".into()) });
    }

    #[test]
    fn an_explicit_start_and_a_decoupled_authorisation() {
        let explicit = created(json!({ "startAuthorisation": { "href": START } }));
        assert_eq!(next(explicit), Ok(Next::Explicit(START.into())));
        let mut decoupled = created(json!({ "self": { "href": CONSENT },
            "status": { "href": format!("{CONSENT}/status") }, "scaStatus": { "href": AUTH } }));
        decoupled["psuMessage"] = json!("Please use your BankApp for transaction Authorisation.");
        let message = Some("Please use your BankApp for transaction Authorisation.".into());
        assert_eq!(step(decoupled), Step::Decoupled { status: AUTH.into(), message });
    }

    #[test]
    fn final_statuses_end_the_authorisation() {
        let links = json!({ "scaStatus": { "href": AUTH } });
        let finished = [json!({ "scaStatus": "finalised", "_links": links }), json!({ "scaStatus": "exempted" })];
        for done in finished.into_iter().chain([json!({ "consentStatus": "valid" })]) {
            assert_eq!(next(done.clone()), Ok(Next::Step(Step::Done)), "{done}");
        }
        assert_eq!(next(json!({ "scaStatus": "failed", "_links": links })), Ok(Next::Failed));
        assert_eq!(next(json!({ "consentStatus": "rejected" })), Ok(Next::Failed));
    }

    #[test]
    fn links_given_as_bare_strings_still_work() {
        let redirect = created(json!({ "scaRedirect": "https://bank.example/sca" }));
        assert_eq!(step(redirect), Step::Redirect { url: "https://bank.example/sca".into() });
        let update = json!({ "scaStatus": "psuIdentified", "_links": { "updatePsuAuthentication": AUTH } });
        assert_eq!(step(update), Step::Password { href: AUTH.into(), start: false });
    }

    #[test]
    fn an_answer_without_a_usable_link_is_a_bug() {
        let answer = created(json!({ "self": { "href": CONSENT }, "status": { "href": format!("{CONSENT}/status") } }));
        assert!(matches!(next(answer), Err(SourceError::Bug(_))));
        assert!(matches!(next(json!({})), Err(SourceError::Bug(_))));
    }

    #[test]
    fn a_start_with_method_selection_asks_the_method() {
        let mut answer = created(json!({
            "startAuthorisationWithAuthenticationMethodSelection": { "href": START } }));
        answer["scaMethods"] = json!([{ "authenticationType": "SMS_OTP", "authenticationMethodId": "sms" },
                                      { "authenticationType": "PUSH_OTP", "authenticationMethodId": "push" }]);
        assert!(matches!(next(answer), Ok(Next::Step(Step::Method { start: true, .. }))));
    }

    // ---- The consent request ----

    fn built(settings: &str) -> Result<Xs2a, String> {
        let settings: ApiSettings = toml::from_str(settings).unwrap();
        Xs2a::new(Api::new(&settings, "http://127.0.0.1:1", crate::sources::Timeouts::default()).unwrap(), &settings)
    }

    fn xs2a(settings: &str) -> Xs2a {
        built(settings).unwrap()
    }

    #[test]
    fn a_token_before_the_consent_is_described_whole_or_stops_bankd_at_start() {
        let base = "base_url = \"https://aspsp.example/psd2\"\n[oauth]\n";
        let error = |oauth: &str| built(&format!("{base}{oauth}")).err().unwrap();
        assert!(error("mode = \"pre-step\"\ntoken_url = \"/token\"\nclient_id = \"x\"").contains("authorize_url"));
        assert!(error("mode = \"client-credentials\"\ntoken_url = \"/token\"").contains("either client_id"));
        assert!(
            error("mode = \"client-credentials\"\ntoken_url = \"/t\"\nclient_id_from_certificate = true")
                .contains("QWAC")
        );
        let scope = "mode = \"pre-step\"\nauthorize_url = \"/a\"\ntoken_url = \"/t\"\nclient_id = \"x\"\nscope = \"AIS:{consentId}\"";
        assert!(error(scope).contains("no consent yet"));
        let other_host = "mode = \"pre-step\"\nauthorize_url = \"https://login.example/authorize\"\ntoken_url = \"/token\"\nclient_id = \"x\"";
        let before = built(&format!("{base}{other_host}")).unwrap().before_consent.unwrap();
        assert_eq!(before.oauth.authorize_url, "https://login.example/authorize");
        assert_eq!(before.oauth.token_url, "https://aspsp.example/token");
    }

    fn known(webids: &[&str]) -> BTreeMap<String, Resource> {
        webids.iter().map(|w| (w.to_string(), Resource { id: format!("r-{w}"), transactions: None })).collect()
    }

    #[test]
    fn the_consent_asks_all_psd2_accounts_recurring_for_180_days_four_times_a_day() {
        let body = xs2a(r#"base_url = "https://aspsp.example/psd2""#).consent_body(day(11, 20), &known(&[]));
        let expected = json!({ "access": { "allPsd2": "allAccounts" }, "recurringIndicator": true,
                               "validUntil": "2027-05-19", "frequencyPerDay": 4, "combinedServiceIndicator": false });
        assert_eq!(body, expected);
    }

    #[test]
    fn a_bank_offered_consent_lists_nothing_then_the_known_ibans() {
        let xs2a = xs2a("base_url = \"https://aspsp.example/psd2\"\nbank_offered_consent = true");
        let first = xs2a.consent_body(day(11, 20), &known(&[]));
        assert_eq!(first["access"], json!({ "accounts": [], "balances": [], "transactions": [] }));
        assert_eq!(first["validUntil"], "2027-05-19");
        let webids = ["DE89370400440532013000", "525412******3241", "3704004405320130"];
        let renewal = xs2a.consent_body(day(11, 20), &known(&webids));
        let ibans = json!([{ "iban": "DE89370400440532013000" }]);
        assert_eq!(renewal["access"], json!({ "accounts": ibans, "balances": ibans, "transactions": ibans }));
    }

    #[test]
    fn a_masked_pan_of_capital_xs_is_not_named_as_an_iban() {
        assert!(!looks_like_iban("XXXXXXXXXXXX3241"));
    }
}

//! Sandbox ASPSP: a bank's Berlin Group NextGenPSD2 (XS2A 1.3) account information interface,
//! serving the same customers as the Sandbox Bank (by `PSU-ID`), so that bankd's `xs2a` driver runs
//! against real HTTP. Mounted by `bankd serve` under `/sandbox/xs2a`.
//!
//! The `PSU-ID` sent with `POST /v1/consents` picks the SCA approach and the bank's mood:
//! `demo`, `redirect` and any other login: redirect (the consent page under `/authorize/{id}`);
//! `oauth`: the OAuth2 approach (`scaOAuth`: metadata, authorization page, tokens under `/oauth`);
//! `decoupled`: validated in the "app" two seconds after the consent is asked; `embedded`: password
//! `1234`, then a choice of two SCA methods, then the one-time code `123456`. Consents of the
//! failure logins need no SCA (an exemption): `expired` sees its consent expire at its second
//! account listing (`CONSENT_EXPIRED`), `revoked` and `terminated` see it withdrawn then
//! (`revokedByPsu`, `terminatedByTpp`: `CONSENT_INVALID`), `forgotten` sees the bank forget it
//! (`CONSENT_UNKNOWN`); `ratelimit` gets 429 on every account read; `unavailable` gets 503 on
//! everything; `garbage` gets transactions that break the schema from its second read;
//! `big` has 100,000 transactions, 500 a page. Account listings without a `PSU-IP-Address` (the
//! PSU is not there) beyond the consent's `frequencyPerDay` get 429, as PSD2 has it.
//!
//! Logins for the ways real banks bend the standard (all exempted from SCA but `prefixed`):
//!
//! - `window90`: 400 days of history, but a transactions request may span at most 90 days
//!   (`dateFrom`..`dateTo`, or `dateFrom`..today without `dateTo`): beyond, `400 PERIOD_INVALID`.
//! - `prefixed`: the embedded approach, and every `_links` href under `/psd2/v1/…` — a prefix the
//!   API is not served at (404 there) — with pages of 20 transactions.
//! - `naive`: bookings dated by date-times (`bookingDate` `…T08:00:00`), a `transactionDateTime`
//!   at 23:30 without an offset on debits and in UTC (`+00:00`, the next day in Paris) on credits,
//!   and balances whose `referenceDate` and `lastChangeDateTime` carry no offset.
//! - `remittance`: remittance information in turn as an array of lines in
//!   `remittanceInformationUnstructured`, a structured object (`reference`), and
//!   `remittanceInformationUnstructuredArray`.
//! - `unknownenum`: values no version of the standard has — the savings account's
//!   `cashAccountType` `XXXX` and `usage` `MIXD`, a `weird` balance listed first, an
//!   `information` list next to `booked` and `pending`, and bank transaction codes `PMNT-ZZZZ-ZZZZ`.
//! - `camtxml`: transactions answered as camt.052 XML (`application/xml`), one document a request.
//!
//! Logins whose bank wants more of each call (no SCA, so that the demand is what a test meets):
//! `apikey` wants `X-API-Key: sandbox-api-key`, `psuidtype` a `PSU-ID-Type` with its `PSU-ID`,
//! `dated` a `Date` within five minutes of its clock, `acceptjson` `Accept: application/json`
//! (406 otherwise), `psuip` a `PSU-IP-Address` on every call, the unattended ones too.
//!
//! Under `/sandbox/xs2a-prestep`, the ASPSP wants an OAuth2 token before the consent: the PSU
//! signs in at `/oauth/authorize` (any scope, PKCE S256) and the token from `/oauth/token` goes with
//! the consent request and every call after; its consents need no SCA of their own. Under
//! `/sandbox/xs2a-cc`, it wants bankd's own token first (`client_credentials` at `/oauth/token`,
//! `client_id` an eIDAS organizationIdentifier such as `PSDFR-ACPR-12345`: over plain HTTP the
//! sandbox cannot see the certificate), and its consents are authorised as the login says.
//!
//! Consents live in this process's memory: the sandbox is for one `bankd serve`, not a cluster.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::customers::{Cursor, Customer, Product, Profile, bank_transaction_code};
use super::oauth::{self, OAuthServer};
use super::{PageError, escape_html, page};
use crate::domain::bank::{BankAccount, BankTransaction};

const PASSWORD: &str = "1234";
const OTP: &str = "123456";
/// How long the PSU "takes" to validate in the app (`decoupled`).
const DECOUPLED_DELAY: TimeDelta = TimeDelta::seconds(2);
const PAGE_SIZE: usize = 500;
/// `prefixed`'s pages: small, so that its `next` links are followed.
const PREFIXED_PAGE_SIZE: usize = 20;
/// The API key the `apikey` login's bank wants in `X-API-Key`.
pub const API_KEY: &str = "sandbox-api-key";

/// How a login's consent is authorised, and how its bank misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mood {
    Redirect,
    OAuth,
    Decoupled,
    Embedded,
    Expired,
    /// The PSU withdraws the consent at their bank (`revokedByPsu`) after its first account listing.
    Revoked,
    /// Another of the TPP's own systems ends the consent (`terminatedByTpp`) likewise.
    Terminated,
    /// The bank forgets the consent (a reset on its side): `CONSENT_UNKNOWN` from the second listing.
    Forgotten,
    RateLimit,
    Unavailable,
    Garbage,
    Big,
    /// Down (503) for the login's first consent request, up afterwards: a bank's PSD2 API in an
    /// outage while its website works (the failover of a connector with both sources).
    Outage,
    /// Wants `X-API-Key` on every call.
    ApiKey,
    /// Wants `PSU-ID-Type` with the `PSU-ID`.
    PsuIdType,
    /// Wants a current `Date` on every call.
    Dated,
    /// Answers only `Accept: application/json` (406 otherwise).
    AcceptJson,
    /// Wants `PSU-IP-Address` on every call, with the PSU or without.
    PsuIp,
    /// Valid without SCA, for the logins whose quirk is in their data ([`Quirk`]).
    Exempt,
}

/// How a login's bank bends the standard when it answers (the module's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quirk {
    None,
    Window90,
    Prefixed,
    Naive,
    Remittance,
    UnknownEnum,
    CamtXml,
}

/// `window90`'s longest period, in days between `dateFrom` and `dateTo`.
const MAX_PERIOD_DAYS: i64 = 90;
/// The path prefix of `prefixed`'s links, under which nothing is served.
const FALSE_PREFIX: &str = "/psd2";

impl Quirk {
    fn of(login: &str) -> Quirk {
        match login {
            "window90" => Quirk::Window90,
            "prefixed" => Quirk::Prefixed,
            "naive" => Quirk::Naive,
            "remittance" => Quirk::Remittance,
            "unknownenum" => Quirk::UnknownEnum,
            "camtxml" => Quirk::CamtXml,
            _ => Quirk::None,
        }
    }
}

impl Mood {
    fn of(login: &str) -> Mood {
        match login {
            "oauth" => Mood::OAuth,
            "decoupled" => Mood::Decoupled,
            "embedded" => Mood::Embedded,
            "expired" => Mood::Expired,
            "revoked" => Mood::Revoked,
            "terminated" => Mood::Terminated,
            "forgotten" => Mood::Forgotten,
            "ratelimit" => Mood::RateLimit,
            "unavailable" => Mood::Unavailable,
            "garbage" => Mood::Garbage,
            "big" => Mood::Big,
            "outage" => Mood::Outage,
            "apikey" => Mood::ApiKey,
            "psuidtype" => Mood::PsuIdType,
            "dated" => Mood::Dated,
            "acceptjson" => Mood::AcceptJson,
            "psuip" => Mood::PsuIp,
            "prefixed" => Mood::Embedded,
            _ if Quirk::of(login) != Quirk::None => Mood::Exempt,
            _ => Mood::Redirect,
        }
    }

    /// The failure logins and those of demanding banks skip SCA, so that their failure or demand
    /// is what a test meets first.
    fn exempted(self) -> bool {
        matches!(
            self,
            Mood::Expired
                | Mood::Revoked
                | Mood::Terminated
                | Mood::Forgotten
                | Mood::RateLimit
                | Mood::Garbage
                | Mood::Big
                | Mood::Outage
                | Mood::Exempt
                | Mood::ApiKey
                | Mood::PsuIdType
                | Mood::Dated
                | Mood::AcceptJson
                | Mood::PsuIp
        )
    }
}

/// Where an authorisation stands (the standard's `scaStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sca {
    Received,
    PsuAuthenticated,
    MethodSelected,
    Finalised,
    Failed,
    Exempted,
}

impl Sca {
    fn as_str(self) -> &'static str {
        match self {
            Sca::Received => "received",
            Sca::PsuAuthenticated => "psuAuthenticated",
            Sca::MethodSelected => "scaMethodSelected",
            Sca::Finalised => "finalised",
            Sca::Failed => "failed",
            Sca::Exempted => "exempted",
        }
    }
}

#[derive(Debug, Clone)]
struct Consent {
    login: String,
    mood: Mood,
    quirk: Quirk,
    created: DateTime<Utc>,
    valid_until: NaiveDate,
    /// `received`, `valid`, `rejected` or `expired`.
    status: &'static str,
    sca: Sca,
    redirect_ok: Option<String>,
    redirect_nok: Option<String>,
    /// Account listings so far (`expired` expires at the second).
    listings: u32,
    /// Listings a day without the PSU (no `PSU-IP-Address`) the consent allows, and today's so far.
    frequency_per_day: u32,
    unattended: (NaiveDate, u32),
    /// Transaction reads so far (`garbage` breaks from the second).
    reads: u32,
}

impl Consent {
    fn customer(&self) -> Customer {
        let profile = match (self.mood, self.quirk) {
            (Mood::Big, _) => Profile::Big,
            (_, Quirk::Window90) => Profile::Long,
            _ => Profile::Plain,
        };
        Customer::new(&self.login, profile, self.created.date_naive())
    }

    fn products(&self) -> Vec<Product> {
        self.customer().products(1).collect()
    }
}

/// What this ASPSP wants before a consent is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// The PSU's OAuth2 token (authorization code, PKCE).
    PreStep,
    /// The TPP's own token (`client_credentials`).
    ClientCredentials,
}

#[derive(Clone)]
struct Aspsp {
    gate: Gate,
    /// The browser-facing URL of this ASPSP (its consent page lives under it).
    public_url: String,
    /// The path prefix of the API's own links (`/sandbox/xs2a`).
    prefix: String,
    consents: Arc<Mutex<HashMap<String, Consent>>>,
    /// The `outage` logins whose first consent request was refused already.
    outages_over: Arc<Mutex<HashSet<String>>>,
    /// The authorization server of the `scaOAuth` approach; a grant's subject is a consent id.
    oauth: OAuthServer,
}

/// The ASPSP's routes; `public_url` is where they are served (e.g. `http://host/sandbox/xs2a`).
pub fn router(public_url: &str) -> Router {
    gated_router(public_url, Gate::Open)
}

/// The ASPSP's routes, wanting `gate` before any consent.
pub fn gated_router(public_url: &str, gate: Gate) -> Router {
    let public_url = public_url.trim_end_matches('/').to_owned();
    let prefix = public_url.splitn(4, '/').nth(3).map(|path| format!("/{path}")).unwrap_or_default();
    let aspsp = Aspsp {
        gate,
        public_url,
        prefix,
        consents: Arc::default(),
        outages_over: Arc::default(),
        oauth: OAuthServer::default(),
    };
    Router::new()
        .route("/v1/consents", post(create_consent))
        .route("/v1/consents/{id}", get(consent_info).delete(delete_consent))
        .route("/v1/consents/{id}/status", get(consent_status))
        .route("/v1/consents/{id}/authorisations", post(start_authorisation))
        .route("/v1/consents/{id}/authorisations/{auth}", get(sca_status).put(update_authorisation))
        .route("/v1/accounts", get(accounts))
        .route("/v1/accounts/{id}/balances", get(balances))
        .route("/v1/accounts/{id}/transactions", get(transactions))
        .route("/authorize/{id}", get(consent_page).post(consent_decision))
        .route("/.well-known/oauth-authorization-server", get(oauth_metadata))
        .route("/oauth/authorize", get(oauth_page).post(oauth_decision))
        .route("/oauth/token", post(oauth_token))
        .with_state(aspsp)
}

/// An XS2A error: the status and one `tppMessages` entry (the form most ASPSPs still send).
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    text: String,
    retry_after: Option<u32>,
}

impl From<oauth::Refused> for Refusal {
    fn from((status, code, text): oauth::Refused) -> Refusal {
        error(status, code, text)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({ "tppMessages": [{ "category": "ERROR", "code": self.code, "text": self.text }] });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

type Answer = Result<Response, Refusal>;

fn ok(body: Value) -> Answer {
    Ok(Json(body).into_response())
}

fn unknown_consent() -> Refusal {
    error(StatusCode::FORBIDDEN, "CONSENT_UNKNOWN", "No such consent")
}

/// `CONSENT_UNKNOWN` for a `Consent-ID` header (401, where the consent's own paths answer 403).
fn unknown_header_consent() -> Refusal {
    error(StatusCode::UNAUTHORIZED, "CONSENT_UNKNOWN", "No such consent")
}

fn error(status: StatusCode, code: &'static str, text: &str) -> Refusal {
    Refusal { status, code, text: text.to_owned(), retry_after: None }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty())
}

/// Checks what every call needs: an `X-Request-ID`, and the bank being up.
fn precheck(headers: &HeaderMap, mood: Option<Mood>) -> Result<(), Refusal> {
    if mood == Some(Mood::Unavailable) {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Sandbox ASPSP is under maintenance",
        ));
    }
    if header_str(headers, "x-request-id").is_none() {
        return Err(error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", "X-Request-ID is missing"));
    }
    demands(headers, mood)
}

/// What a demanding bank (`apikey`, `dated`, `acceptjson`, `psuip`) wants of every call.
fn demands(headers: &HeaderMap, mood: Option<Mood>) -> Result<(), Refusal> {
    let format = |text: &str| Err(error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", text));
    match mood {
        Some(Mood::ApiKey) if header_str(headers, "x-api-key") != Some(API_KEY) => {
            format("This ASPSP wants its API key in X-API-Key")
        }
        Some(Mood::Dated) => {
            let date = header_str(headers, "date").and_then(|d| DateTime::parse_from_rfc2822(d).ok());
            match date {
                Some(date) if (Utc::now() - date.to_utc()).abs() <= TimeDelta::minutes(5) => Ok(()),
                _ => format("This ASPSP wants a current Date header (RFC 7231)"),
            }
        }
        Some(Mood::AcceptJson) if header_str(headers, "accept") != Some("application/json") => {
            Err(error(StatusCode::NOT_ACCEPTABLE, "FORMAT_ERROR", "This ASPSP answers only Accept: application/json"))
        }
        Some(Mood::PsuIp) if header_str(headers, "psu-ip-address").is_none() => {
            format("This ASPSP wants PSU-IP-Address on every call")
        }
        _ => Ok(()),
    }
}

impl Aspsp {
    /// A link to `path` of the API, as the consent's bank writes its links.
    fn link(&self, quirk: Quirk, path: &str) -> Value {
        let prefix = if quirk == Quirk::Prefixed { FALSE_PREFIX } else { &self.prefix };
        json!({ "href": format!("{prefix}{path}") })
    }

    fn quirk(&self, id: &str) -> Quirk {
        self.with(id, |c| c.quirk).unwrap_or(Quirk::None)
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&mut Consent) -> T) -> Option<T> {
        self.consents.lock().expect("consents lock").get_mut(id).map(f)
    }

    /// The consent named by `Consent-ID`, valid for reading account data.
    fn readable(&self, headers: &HeaderMap) -> Result<Consent, Refusal> {
        let id = header_str(headers, "consent-id")
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", "Consent-ID is missing"))?;
        let consent = self.with(id, |c| c.clone()).ok_or_else(unknown_header_consent)?;
        precheck(headers, Some(consent.mood))?;
        if self.gate != Gate::Open {
            self.oauth.bearer(headers)?;
        } else if consent.mood == Mood::OAuth && self.oauth.bearer(headers)? != id {
            return Err(error(StatusCode::UNAUTHORIZED, "TOKEN_INVALID", "The bearer token is not for this consent"));
        }
        match consent.status {
            "valid" => Ok(consent),
            "expired" => Err(error(StatusCode::UNAUTHORIZED, "CONSENT_EXPIRED", "The consent has expired")),
            _ => Err(error(StatusCode::UNAUTHORIZED, "CONSENT_INVALID", "The consent is not authorised")),
        }
    }

    /// Moves a decoupled authorisation on once the PSU had time to validate in the app.
    fn settle(&self, id: &str) {
        self.with(id, |c| {
            if c.mood == Mood::Decoupled && c.sca == Sca::Received && Utc::now() - c.created >= DECOUPLED_DELAY {
                c.sca = Sca::Finalised;
                c.status = "valid";
            }
        });
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsentRequest {
    access: Value,
    recurring_indicator: bool,
    valid_until: NaiveDate,
    frequency_per_day: u32,
}

async fn create_consent(State(aspsp): State<Aspsp>, headers: HeaderMap, body: axum::body::Bytes) -> Answer {
    let Some(login) = header_str(&headers, "psu-id").map(|l| l.trim().to_lowercase()) else {
        return Err(error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", "PSU-ID is required by this ASPSP"));
    };
    let (mood, quirk) = (Mood::of(&login), Quirk::of(&login));
    precheck(&headers, Some(mood))?;
    if aspsp.gate != Gate::Open && aspsp.oauth.bearer(&headers).is_err() {
        let text = match aspsp.gate {
            Gate::PreStep => "This ASPSP wants the PSU's OAuth2 token (pre-step) before the consent",
            _ => "This ASPSP wants the TPP's client_credentials token before the consent",
        };
        return Err(error(StatusCode::UNAUTHORIZED, "TOKEN_INVALID", text));
    }
    // The PSU authenticated in the pre-step already.
    let exempt = mood.exempted() || aspsp.gate == Gate::PreStep;
    if mood == Mood::PsuIdType && header_str(&headers, "psu-id-type").is_none() {
        return Err(error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", "This ASPSP wants the PSU-ID-Type of the PSU-ID"));
    }
    if mood == Mood::Outage && aspsp.outages_over.lock().expect("outages lock").insert(login.clone()) {
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "The PSD2 API is down"));
    }
    let request: ConsentRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return Err(error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", &format!("consent request: {e}"))),
    };
    let today = Utc::now().date_naive();
    if request.valid_until < today || request.valid_until > today + Days::new(180) || request.frequency_per_day == 0 {
        return Err(error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", "validUntil must be within 180 days"));
    }
    let global = request.access.get("allPsd2").or(request.access.get("availableAccounts"));
    if global.is_none() && request.access.get("accounts").is_none() {
        return Err(error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", "access lists no account"));
    }
    let id = crate::crypto::random_secret();
    let consent = Consent {
        login,
        mood,
        quirk,
        created: Utc::now(),
        valid_until: request.valid_until,
        status: if exempt { "valid" } else { "received" },
        sca: if exempt { Sca::Exempted } else { Sca::Received },
        redirect_ok: header_str(&headers, "tpp-redirect-uri").map(str::to_owned),
        redirect_nok: header_str(&headers, "tpp-nok-redirect-uri").map(str::to_owned),
        listings: 0,
        frequency_per_day: request.frequency_per_day,
        unattended: (today, 0),
        reads: 0,
    };
    if mood == Mood::Redirect && !exempt && consent.redirect_ok.is_none() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "FORMAT_ERROR",
            "TPP-Redirect-URI is required for the redirect approach",
        ));
    }
    let _ = request.recurring_indicator;
    aspsp.consents.lock().expect("consents lock").insert(id.clone(), consent.clone());

    let base = format!("/v1/consents/{id}");
    let mut links = serde_json::Map::new();
    links.insert("self".into(), aspsp.link(quirk, &base));
    links.insert("status".into(), aspsp.link(quirk, &format!("{base}/status")));
    let mut body = json!({ "consentStatus": consent.status, "consentId": id });
    match mood {
        _ if exempt => body["scaStatus"] = json!("exempted"),
        Mood::Redirect => {
            let page = json!({ "href": format!("{}/authorize/{id}", aspsp.public_url) });
            links.insert("scaRedirect".into(), page);
            links.insert("scaStatus".into(), aspsp.link(quirk, &format!("{base}/authorisations/1")));
        }
        Mood::OAuth => {
            links.insert("scaOAuth".into(), aspsp.link(quirk, "/.well-known/oauth-authorization-server"));
        }
        // An implicit start: the PSU has been notified already.
        Mood::Decoupled => {
            links.insert("scaStatus".into(), aspsp.link(quirk, &format!("{base}/authorisations/1")));
            body["psuMessage"] = json!("Validate the access in your Sandbox Bank app");
            body["scaStatus"] = json!("received");
        }
        Mood::Embedded => {
            links.insert(
                "startAuthorisationWithPsuAuthentication".into(),
                aspsp.link(quirk, &format!("{base}/authorisations")),
            );
        }
        _ => body["scaStatus"] = json!("exempted"),
    }
    body["_links"] = Value::Object(links);
    Ok((StatusCode::CREATED, [("aspsp-sca-approach", approach(mood))], Json(body)).into_response())
}

fn approach(mood: Mood) -> &'static str {
    match mood {
        Mood::Decoupled => "DECOUPLED",
        Mood::Embedded => "EMBEDDED",
        _ => "REDIRECT",
    }
}

async fn consent_status(State(aspsp): State<Aspsp>, Path(id): Path<String>, headers: HeaderMap) -> Answer {
    aspsp.settle(&id);
    let (status, mood) = aspsp.with(&id, |c| (c.status, c.mood)).ok_or_else(unknown_consent)?;
    precheck(&headers, Some(mood))?;
    ok(json!({ "consentStatus": status }))
}

async fn consent_info(State(aspsp): State<Aspsp>, Path(id): Path<String>, headers: HeaderMap) -> Answer {
    aspsp.settle(&id);
    let consent = aspsp.with(&id, |c| c.clone()).ok_or_else(unknown_consent)?;
    precheck(&headers, Some(consent.mood))?;
    ok(json!({
        "access": { "allPsd2": "allAccounts" },
        "recurringIndicator": true,
        "validUntil": consent.valid_until,
        "frequencyPerDay": consent.frequency_per_day,
        "lastActionDate": Utc::now().date_naive(),
        "consentStatus": consent.status,
    }))
}

async fn delete_consent(State(aspsp): State<Aspsp>, Path(id): Path<String>) -> StatusCode {
    match aspsp.consents.lock().expect("consents lock").remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::FORBIDDEN,
    }
}

async fn sca_status(State(aspsp): State<Aspsp>, Path((id, _auth)): Path<(String, String)>) -> Answer {
    aspsp.settle(&id);
    let sca = aspsp.with(&id, |c| c.sca).ok_or_else(unknown_consent)?;
    ok(json!({ "scaStatus": sca.as_str() }))
}

/// Embedded approach, step 1: the PSU's password.
async fn start_authorisation(
    State(aspsp): State<Aspsp>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    precheck(&headers, None)?;
    let mood = aspsp.with(&id, |c| c.mood).ok_or_else(unknown_consent)?;
    if mood != Mood::Embedded {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "SERVICE_INVALID",
            "This consent is not authorised in the embedded approach",
        ));
    }
    if body.pointer("/psuData/password").and_then(Value::as_str) != Some(PASSWORD) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "PSU_CREDENTIALS_INVALID",
            "Wrong password (the sandbox password is 1234)",
        ));
    }
    aspsp.with(&id, |c| c.sca = Sca::PsuAuthenticated);
    let auth = format!("/v1/consents/{id}/authorisations/1");
    let quirk = aspsp.quirk(&id);
    let body = json!({
        "authorisationId": "1",
        "scaStatus": "psuAuthenticated",
        "scaMethods": [
            { "authenticationType": "SMS_OTP", "authenticationMethodId": "sms", "name": "SMS to +33 6** ** ** 42" },
            { "authenticationType": "PUSH_OTP", "authenticationMethodId": "app", "name": "Code in the Sandbox Bank app" },
        ],
        "_links": { "selectAuthenticationMethod": aspsp.link(quirk, &auth), "scaStatus": aspsp.link(quirk, &auth) },
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Embedded approach, steps 2 and 3: the SCA method, then the one-time code.
async fn update_authorisation(
    State(aspsp): State<Aspsp>,
    Path((id, _auth)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    precheck(&headers, None)?;
    let sca = aspsp.with(&id, |c| c.sca).ok_or_else(unknown_consent)?;
    let link = aspsp.link(aspsp.quirk(&id), &format!("/v1/consents/{id}/authorisations/1"));
    match (sca, body.get("authenticationMethodId"), body.get("scaAuthenticationData")) {
        (Sca::PsuAuthenticated | Sca::MethodSelected, Some(method), _) => {
            let name = match method.as_str() {
                Some("sms") => "SMS to +33 6** ** ** 42",
                Some("app") => "Code in the Sandbox Bank app",
                _ => return Err(error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", "unknown authenticationMethodId")),
            };
            aspsp.with(&id, |c| c.sca = Sca::MethodSelected);
            ok(json!({
                "scaStatus": "scaMethodSelected",
                "chosenScaMethod": { "authenticationType": "SMS_OTP", "authenticationMethodId": method, "name": name },
                "challengeData": { "otpMaxLength": 6, "otpFormat": "integer",
                                   "additionalInformation": format!("Enter the code sent to you ({OTP} in the sandbox)") },
                "_links": { "authoriseTransaction": link.clone(), "scaStatus": link },
            }))
        }
        (Sca::MethodSelected, None, Some(code)) if code.as_str() == Some(OTP) => {
            aspsp.with(&id, |c| {
                c.sca = Sca::Finalised;
                c.status = "valid";
            });
            ok(json!({ "scaStatus": "finalised", "_links": { "scaStatus": link } }))
        }
        (Sca::MethodSelected, None, Some(_)) => {
            Err(error(StatusCode::UNAUTHORIZED, "PSU_CREDENTIALS_INVALID", "Wrong code (the sandbox code is 123456)"))
        }
        _ => Err(error(StatusCode::CONFLICT, "STATUS_INVALID", "This authorisation does not expect that step now")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountsQuery {
    #[serde(default)]
    with_balance: bool,
}

async fn accounts(State(aspsp): State<Aspsp>, headers: HeaderMap, Query(query): Query<AccountsQuery>) -> Answer {
    let consent = aspsp.readable(&headers)?;
    let today = Utc::now().date_naive();
    let attended = header_str(&headers, "psu-ip-address").is_some();
    let listings = aspsp.with(header_str(&headers, "consent-id").unwrap_or_default(), |c| {
        c.listings += 1;
        if !attended {
            let (day, count) = c.unattended;
            c.unattended = if day == today { (day, count + 1) } else { (today, 1) };
        }
        (c.listings, c.unattended.1 > c.frequency_per_day && !attended)
    });
    match (consent.mood, listings) {
        // PSD2: the consent's frequencyPerDay bounds the reads made without the PSU.
        (_, Some((_, true))) => return Err(rate_limited()),
        (Mood::Expired, Some((n, _))) if n >= 2 => {
            aspsp.with(header_str(&headers, "consent-id").unwrap_or_default(), |c| c.status = "expired");
            return Err(error(StatusCode::UNAUTHORIZED, "CONSENT_EXPIRED", "The consent has expired"));
        }
        (Mood::Revoked | Mood::Terminated, Some((n, _))) if n >= 2 => {
            let status = if consent.mood == Mood::Revoked { "revokedByPsu" } else { "terminatedByTpp" };
            aspsp.with(header_str(&headers, "consent-id").unwrap_or_default(), |c| c.status = status);
            return Err(error(StatusCode::UNAUTHORIZED, "CONSENT_INVALID", &format!("The consent is {status}")));
        }
        (Mood::Forgotten, Some((n, _))) if n >= 2 => {
            aspsp
                .consents
                .lock()
                .expect("consents lock")
                .remove(header_str(&headers, "consent-id").unwrap_or_default());
            return Err(unknown_header_consent());
        }
        (Mood::RateLimit, _) => return Err(rate_limited()),
        _ => {}
    }
    let customer = consent.customer();
    let list: Vec<Value> = consent
        .products()
        .into_iter()
        .map(|product| {
            let account = customer.account(product, today, 0);
            let mut details = account_details(&aspsp, &account, product, consent.quirk);
            if query.with_balance {
                details["balances"] = balance_list(&account, today, consent.quirk);
            }
            details
        })
        .collect();
    ok(json!({ "accounts": list }))
}

fn rate_limited() -> Refusal {
    let text = "The access on this account has been exceeding the consented multiplicity per day";
    Refusal { retry_after: Some(3600), ..error(StatusCode::TOO_MANY_REQUESTS, "ACCESS_EXCEEDED", text) }
}

/// `accountDetails`: ISO 20022 cash account type, and a card shown by its masked PAN.
fn account_details(aspsp: &Aspsp, account: &BankAccount, product: Product, quirk: Quirk) -> Value {
    let id = &account.webid;
    let odd = quirk == Quirk::UnknownEnum && product == Product::Savings;
    let mut details = json!({
        "resourceId": id,
        "currency": account.currency,
        "name": account.name,
        "product": account.name,
        "cashAccountType": match product {
            _ if odd => "XXXX",
            Product::Checking => "CACC",
            Product::Savings => "SVGS",
            Product::Card => "CARD",
        },
        "status": "enabled",
        "usage": if odd { "MIXD" } else { "PRIV" },
        "_links": {
            "balances": aspsp.link(quirk, &format!("/v1/accounts/{id}/balances")),
            "transactions": aspsp.link(quirk, &format!("/v1/accounts/{id}/transactions")),
        },
    });
    match (&account.iban, &account.number) {
        (Some(iban), _) => details["iban"] = json!(iban),
        (None, Some(number)) if product == Product::Card => details["maskedPan"] = json!(number),
        (None, Some(number)) => details["bban"] = json!(number),
        (None, None) => {}
    }
    if let Some(bic) = &account.bic {
        details["bic"] = json!(bic);
    }
    details
}

/// The booked balance at yesterday's close, and the expected one with pending operations.
fn balance_list(account: &BankAccount, today: NaiveDate, quirk: Quirk) -> Value {
    let amount = |value: rust_decimal::Decimal| json!({ "currency": account.currency, "amount": value.to_string() });
    let expected = account.balance + account.coming.unwrap_or_default();
    let yesterday = today - Days::new(1);
    let mut list = vec![
        json!({ "balanceAmount": amount(account.balance), "balanceType": "closingBooked",
                "referenceDate": yesterday }),
        json!({ "balanceAmount": amount(expected), "balanceType": "expected", "creditLimitIncluded": false }),
    ];
    match quirk {
        Quirk::Naive => {
            list[0]["referenceDate"] = json!(format!("{yesterday}T00:00:00"));
            list[1]["lastChangeDateTime"] = json!(format!("{today}T08:30:00"));
        }
        Quirk::UnknownEnum => list.insert(
            0,
            json!({ "balanceAmount": amount(expected * rust_decimal::Decimal::TEN),
                                                      "balanceType": "weird" }),
        ),
        _ => {}
    }
    Value::Array(list)
}

/// The consented account `id`, or the standard's 404.
fn find_account(consent: &Consent, id: &str) -> Result<(Customer, Product), Refusal> {
    let customer = consent.customer();
    let product = consent.products().into_iter().find(|p| customer.webid(*p) == id);
    product
        .map(|p| (customer, p))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "RESOURCE_UNKNOWN", "No such account under this consent"))
}

async fn balances(State(aspsp): State<Aspsp>, Path(id): Path<String>, headers: HeaderMap) -> Answer {
    let consent = aspsp.readable(&headers)?;
    if consent.mood == Mood::RateLimit {
        return Err(rate_limited());
    }
    let (customer, product) = find_account(&consent, &id)?;
    let today = Utc::now().date_naive();
    let account = customer.account(product, today, 0);
    ok(json!({ "account": { "iban": account.iban }, "balances": balance_list(&account, today, consent.quirk) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransactionsQuery {
    booking_status: String,
    date_from: Option<NaiveDate>,
    date_to: Option<NaiveDate>,
    /// This sandbox's page cursor: `<days back>-<rows of that day already sent>`.
    page: Option<String>,
}

async fn transactions(
    State(aspsp): State<Aspsp>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TransactionsQuery>,
) -> Answer {
    let consent = aspsp.readable(&headers)?;
    if consent.mood == Mood::RateLimit {
        return Err(rate_limited());
    }
    let reads = aspsp.with(header_str(&headers, "consent-id").unwrap_or_default(), |c| {
        c.reads += 1;
        c.reads
    });
    if consent.mood == Mood::Garbage && reads >= Some(2) {
        let broken = json!({ "transactions": { "booked": "<html>maintenance</html>", "_links": {} } });
        return ok(broken);
    }
    let (customer, product) = find_account(&consent, &id)?;
    if !["booked", "pending", "both"].contains(&query.booking_status.as_str()) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "PARAMETER_NOT_SUPPORTED",
            "bookingStatus must be booked, pending or both",
        ));
    }
    let Some(date_from) = query.date_from else {
        return Err(error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", "dateFrom is required"));
    };
    let today = Utc::now().date_naive();
    let date_to = query.date_to.unwrap_or(today).min(today);
    if consent.quirk == Quirk::Window90 && (query.date_to.unwrap_or(today) - date_from).num_days() > MAX_PERIOD_DAYS {
        let text = format!("dateFrom to dateTo may span at most {MAX_PERIOD_DAYS} days");
        return Err(error(StatusCode::BAD_REQUEST, "PERIOD_INVALID", &text));
    }
    if consent.quirk == Quirk::CamtXml {
        let (booked, _) = customer.booked_page(product, date_from, date_to, today, Cursor::default(), usize::MAX);
        let iban = customer.account(product, today, 0).iban.unwrap_or_default();
        let xml = camt_report(&iban, &booked, today);
        return Ok(([(header::CONTENT_TYPE, "application/xml")], xml).into_response());
    }
    let page_size = if consent.quirk == Quirk::Prefixed { PREFIXED_PAGE_SIZE } else { PAGE_SIZE };
    let cursor = match query.page.as_deref().map(Cursor::parse) {
        Some(Some(cursor)) => cursor,
        Some(None) => return Err(error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", "unknown page")),
        None => Cursor::default(),
    };
    let (booked, next) = customer.booked_page(product, date_from, date_to, today, cursor, page_size);
    let wants = |status: &str| query.booking_status == status || query.booking_status == "both";
    let quirk = consent.quirk;
    let mut report = json!({ "_links": { "account": aspsp.link(quirk, &format!("/v1/accounts/{id}")) } });
    if wants("booked") {
        report["booked"] = booked.iter().enumerate().map(|(i, t)| bent(transaction(t), t, i, quirk)).collect();
    }
    if quirk == Quirk::UnknownEnum {
        report["information"] = json!([{ "transactionAmount": { "currency": "EUR", "amount": "-10.00" },
                                         "remittanceInformationUnstructured": "STANDING ORDER" }]);
    }
    // Pending operations come with the first page only.
    if wants("pending") && cursor == Cursor::default() {
        let pending = customer.pending_rows(product, 0);
        report["pending"] = pending.iter().map(transaction).collect();
    }
    if let Some(next) = next {
        let query = super::encode_query(&[
            ("bookingStatus", query.booking_status.as_str()),
            ("dateFrom", &date_from.to_string()),
            ("dateTo", &date_to.to_string()),
            ("page", &next.to_string()),
        ]);
        report["_links"]["next"] = aspsp.link(quirk, &format!("/v1/accounts/{id}/transactions?{query}"));
    }
    ok(json!({ "account": { "iban": customer.account(product, today, 0).iban }, "transactions": report }))
}

/// One `transactions` entry. Pending rows have no `transactionId` yet, as at most banks.
fn transaction(t: &BankTransaction) -> Value {
    let mut row = json!({
        "bookingDate": t.date,
        "transactionAmount": { "currency": "EUR", "amount": t.value.to_string() },
        "remittanceInformationUnstructured": t.original_wording,
        "bankTransactionCode": bank_transaction_code(t).join("-"),
    });
    if let Some(webid) = &t.webid {
        row["transactionId"] = json!(webid);
    }
    if let Some(vdate) = t.vdate {
        row["valueDate"] = json!(vdate);
    }
    if t.coming {
        row.as_object_mut().map(|o| o.remove("bookingDate"));
        row["valueDate"] = json!(t.date);
    }
    if let Some(party) = &t.counterparty {
        let name = if party.kind == "creditor" { "creditorName" } else { "debtorName" };
        row[name] = json!(party.label);
    }
    row
}

/// The `i`-th booked row of a page as the login's bank bends it.
fn bent(mut row: Value, t: &BankTransaction, i: usize, quirk: Quirk) -> Value {
    match quirk {
        Quirk::Naive => {
            row["bookingDate"] = json!(format!("{}T08:00:00", t.date));
            let offset = if t.value.is_sign_negative() { "" } else { "+00:00" };
            row["transactionDateTime"] = json!(format!("{}T23:30:00{offset}", t.date));
        }
        Quirk::Remittance => {
            let wording = row.as_object_mut().and_then(|o| o.remove("remittanceInformationUnstructured"));
            let text = wording.as_ref().and_then(Value::as_str).unwrap_or_default().to_owned();
            match i % 3 {
                0 => {
                    let (first, rest) = text.split_once(' ').unwrap_or((&text, ""));
                    row["remittanceInformationUnstructured"] = json!([first, rest]);
                }
                1 => row["remittanceInformationStructured"] = json!({ "reference": text, "referenceType": "SCOR" }),
                _ => row["remittanceInformationUnstructuredArray"] = json!([text]),
            }
        }
        Quirk::UnknownEnum if i.is_multiple_of(2) => row["bankTransactionCode"] = json!("PMNT-ZZZZ-ZZZZ"),
        _ => {}
    }
    row
}

/// A camt.052.001.08 account report of `booked`, as banks that report in XML answer.
fn camt_report(iban: &str, booked: &[BankTransaction], today: NaiveDate) -> String {
    let entries: String = booked
        .iter()
        .map(|t| {
            let side = if t.value.is_sign_negative() { "DBIT" } else { "CRDT" };
            let [domain, family, sub] = bank_transaction_code(t);
            let party = t
                .counterparty
                .as_ref()
                .map(|p| {
                    let role = if p.kind == "creditor" { "Cdtr" } else { "Dbtr" };
                    format!("<RltdPties><{role}><Pty><Nm>{}</Nm></Pty></{role}></RltdPties>", escape_html(&p.label))
                })
                .unwrap_or_default();
            format!(
                "<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>{side}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
                 <BookgDt><Dt>{date}</Dt></BookgDt><ValDt><Dt>{vdate}</Dt></ValDt>\
                 <AcctSvcrRef>{reference}</AcctSvcrRef>\
                 <BkTxCd><Domn><Cd>{domain}</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>{sub}</SubFmlyCd></Fmly></Domn></BkTxCd>\
                 <NtryDtls><TxDtls>{party}<RmtInf><Ustrd>{wording}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>",
                amount = t.value.abs(),
                date = t.date,
                vdate = t.vdate.unwrap_or(t.date),
                reference = escape_html(t.webid.as_deref().unwrap_or_default()),
                wording = escape_html(&t.original_wording),
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.052.001.08\"><BkToCstmrAcctRpt>\
         <GrpHdr><MsgId>SBX-{today}</MsgId><CreDtTm>{today}T00:00:00</CreDtTm></GrpHdr>\
         <Rpt><Id>SBX-{today}</Id><CreDtTm>{today}T00:00:00</CreDtTm><Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>\
         {entries}</Rpt></BkToCstmrAcctRpt></Document>"
    )
}

// ---- The consent page (redirect approach) ----

async fn consent_page(State(aspsp): State<Aspsp>, Path(id): Path<String>) -> Response {
    let action = format!("{}/authorize/{id}", aspsp.public_url);
    consent_form(&aspsp, &id, &action, &[])
}

/// The page where the PSU sees what the TPP asks and decides; `hidden` fields go back with the form.
fn consent_form(aspsp: &Aspsp, id: &str, action: &str, hidden: &[(&str, &str)]) -> Response {
    let Some(consent) = aspsp.with(id, |c| c.clone()) else {
        let gone =
            page("Sandbox ASPSP — unknown request", "<p>This consent request does not exist or has expired.</p>");
        return (StatusCode::NOT_FOUND, gone).into_response();
    };
    let today = Utc::now().date_naive();
    let customer = consent.customer();
    let names: String = consent
        .products()
        .into_iter()
        .map(|p| format!("<li>{}</li>", escape_html(&customer.account(p, today, 0).name)))
        .collect();
    let hidden: String = hidden
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape_html(value)))
        .collect();
    let body = format!(
        "<p>Hello {login}. An application asks to read, until {until}, the balances and transactions of:</p>\
         <ul>{names}</ul>\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Authorize</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        login = escape_html(&consent.login),
        until = consent.valid_until,
        action = escape_html(action),
    );
    page("Sandbox ASPSP — authorize access", &body).into_response()
}

#[derive(Deserialize)]
struct Decision {
    decision: String,
}

impl Aspsp {
    /// Records the PSU's decision on a consent still waiting for it; whether they allowed it.
    fn decide(&self, id: &str, decision: &str) -> Option<bool> {
        let allow = decision == "allow";
        self.with(id, |c| {
            if c.status == "received" {
                (c.status, c.sca) = if allow { ("valid", Sca::Finalised) } else { ("rejected", Sca::Failed) };
            }
            allow
        })
    }
}

/// The PSU's answer: the consent becomes valid (or rejected) and the browser goes back to the TPP.
async fn consent_decision(State(aspsp): State<Aspsp>, Path(id): Path<String>, Form(form): Form<Decision>) -> Response {
    let Some(allow) = aspsp.decide(&id, &form.decision) else {
        return (StatusCode::NOT_FOUND, "unknown consent").into_response();
    };
    let back = aspsp
        .with(&id, |c| if allow { c.redirect_ok.clone() } else { c.redirect_nok.clone().or(c.redirect_ok.clone()) });
    match back.flatten() {
        Some(uri) => Redirect::to(&uri).into_response(),
        None => Html("<p>You may close this page.</p>".to_owned()).into_response(),
    }
}

// ---- The OAuth2 approach (`scaOAuth`) ----

/// RFC 8414 metadata of this ASPSP's authorization server.
async fn oauth_metadata(State(aspsp): State<Aspsp>) -> Json<Value> {
    Json(json!({
        "issuer": aspsp.public_url,
        "authorization_endpoint": format!("{}/oauth/authorize", aspsp.public_url),
        "token_endpoint": format!("{}/oauth/token", aspsp.prefix),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

#[derive(Deserialize)]
struct OAuthAuthorization {
    scope: String,
    redirect_uri: String,
    state: String,
    code_challenge: String,
    #[serde(default)]
    decision: String,
}

impl OAuthAuthorization {
    /// The consent the scope `AIS:<consent id>` (or `AIS: <consent id>`) names.
    fn consent(&self) -> Result<&str, PageError> {
        self.scope
            .strip_prefix("AIS:")
            .map(str::trim_start)
            .ok_or_else(|| PageError(format!("scope '{}' names no consent", self.scope)))
    }
}

async fn oauth_page(State(aspsp): State<Aspsp>, Query(form): Query<OAuthAuthorization>) -> Result<Response, PageError> {
    super::back_to(&form.redirect_uri, &[])?;
    let fields = [("scope", form.scope.as_str()), ("redirect_uri", &form.redirect_uri), ("state", &form.state)];
    let fields = [&fields[..], &[("code_challenge", form.code_challenge.as_str())]].concat();
    if aspsp.gate == Gate::PreStep {
        return Ok(sign_in_form(&aspsp, &form.scope, &fields));
    }
    Ok(consent_form(&aspsp, form.consent()?, &format!("{}/oauth/authorize", aspsp.public_url), &fields))
}

/// The pre-step's sign-in page: the PSU allows the TPP `scope` before any consent exists.
fn sign_in_form(aspsp: &Aspsp, scope: &str, hidden: &[(&str, &str)]) -> Response {
    let hidden: String = hidden
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape_html(value)))
        .collect();
    let body = format!(
        "<p>An application asks to access your accounts ({scope}) in order to ask for a consent.</p>\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Sign in</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        scope = escape_html(scope),
        action = escape_html(&format!("{}/oauth/authorize", aspsp.public_url)),
    );
    page("Sandbox ASPSP — sign in", &body).into_response()
}

async fn oauth_decision(
    State(aspsp): State<Aspsp>,
    Form(form): Form<OAuthAuthorization>,
) -> Result<Redirect, PageError> {
    // The pre-step's grant is the PSU's, before any consent; the `scaOAuth` one is a consent's.
    let (id, allow) = if aspsp.gate == Gate::PreStep {
        ("psu", form.decision == "allow")
    } else {
        let id = form.consent()?;
        (id, aspsp.decide(id, &form.decision).ok_or_else(|| PageError("unknown consent".into()))?)
    };
    let back = if allow {
        let code = aspsp.oauth.issue_code(id, &form.redirect_uri, &form.code_challenge);
        super::back_to(&form.redirect_uri, &[("state", &form.state), ("code", &code)])?
    } else {
        super::back_to(&form.redirect_uri, &[("state", &form.state), ("error", "access_denied")])?
    };
    Ok(Redirect::to(&back))
}

async fn oauth_token(State(aspsp): State<Aspsp>, Form(form): Form<oauth::TokenRequest>) -> Answer {
    if aspsp.gate == Gate::ClientCredentials {
        // An eIDAS organizationIdentifier: `PSD`, the country, the authority, the number.
        let eidas = |id: &str| id.starts_with("PSD") && id.split('-').count() == 3;
        return ok(aspsp.oauth.client_token(form, eidas)?);
    }
    let (_, answer) = aspsp.oauth.token(form, |_| 3600)?;
    ok(answer)
}

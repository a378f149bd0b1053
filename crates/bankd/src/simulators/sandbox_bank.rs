//! Sandbox Bank: an in-process fake bank, so that bankd, its clients and their tests can exercise
//! every connection state without a real bank account.
//!
//! The `login` credential picks the behaviour (the password is always `1234`): `demo` is a plain
//! bank; `otp`, `decoupled`, `webauth` and `sca` ask for each kind of user interaction;
//! `actionneeded`, `expired`, `unavailable`, `ratelimit` and `bug` fail at login; `closing`,
//! `pending` and `big` exercise vanishing accounts, pending-to-booked reconciliation and volume.
//! Any other login behaves like `demo` with its own data. Logins are trimmed and case-insensitive.
//!
//! Unlike the other simulators it runs inside bankd and speaks the [`Source`] trait directly (it
//! is registered as the `sandbox` driver): it exercises the sync engine without any protocol.
//! Its data comes from [`super::customers`].

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::Query;
use axum::response::Html;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::customers::{Customer, Product, Profile};
use super::{PageError, back_to, encode_query, page, require};
use crate::catalog::{Field, FieldKind};
use crate::domain::bank::{BankAccount, BankTransaction};
use crate::sources::{Credentials, Source, SourceError, SourceRequest, SourceResult, SourceSession};

const PASSWORD: &str = "1234";
const OTP: &str = "123456";
/// How long the user "takes" to validate in the app, for `decoupled`.
const DECOUPLED_DELAY: TimeDelta = TimeDelta::seconds(2);

/// The Sandbox Bank source. `public_url` is where bankd serves [`authorize`] (under `/sandbox`).
pub struct SandboxBank {
    public_url: String,
}

impl SandboxBank {
    pub fn new(public_url: &str) -> SandboxBank {
        SandboxBank { public_url: public_url.trim_end_matches('/').to_owned() }
    }

    fn consent_url(&self, request: &SourceRequest) -> String {
        let query = encode_query(&[("state", &request.webauth_state), ("redirect_uri", &request.webauth_callback)]);
        format!("{}/sandbox/authorize?{query}", self.public_url)
    }
}

/// The code the consent page issues for `state`. Derived rather than stored, so the page and the
/// source agree without sharing anything.
pub fn consent_code(state: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("sandbox-consent:{state}")))
}

/// What a login does, chosen by the `login` credential.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Behaviour {
    Plain,
    Otp,
    Decoupled,
    Webauth,
    Sca,
    Closing,
    Pending,
    Big,
}

impl Behaviour {
    fn profile(self) -> Profile {
        match self {
            Behaviour::Closing => Profile::Closing,
            Behaviour::Pending => Profile::Pending,
            Behaviour::Big => Profile::Big,
            _ => Profile::Plain,
        }
    }
}

fn behaviour(login: &str) -> SourceResult<Behaviour> {
    let message = |text: &str| Some(text.to_owned());
    Ok(match login {
        "otp" => Behaviour::Otp,
        "decoupled" => Behaviour::Decoupled,
        "webauth" => Behaviour::Webauth,
        "sca" => Behaviour::Sca,
        "closing" => Behaviour::Closing,
        "pending" => Behaviour::Pending,
        "big" => Behaviour::Big,
        "actionneeded" => {
            let message = message("Accept the new terms and conditions on the Sandbox Bank website");
            return Err(SourceError::ActionNeeded { message });
        }
        "expired" => {
            let message = message("Your password has expired: choose a new one on the Sandbox Bank website");
            return Err(SourceError::PasswordExpired { message });
        }
        "unavailable" => {
            let message = message("Sandbox Bank is under maintenance, try again later");
            return Err(SourceError::WebsiteUnavailable { message });
        }
        "ratelimit" => {
            let message = message("Too many requests, try again in an hour");
            let retry_after = Some(Duration::from_secs(3600));
            return Err(SourceError::RateLimited { retry_after, message });
        }
        "bug" => return Err(SourceError::Bug("Sandbox Bank answered with a malformed page".into())),
        _ => Behaviour::Plain,
    })
}

/// The normalised login, once the password is right.
fn check_credentials(credentials: &Credentials) -> SourceResult<String> {
    let login = credentials.get("login").map(|l| l.trim().to_lowercase()).unwrap_or_default();
    if login.is_empty() || credentials.get("password") != Some(PASSWORD) {
        let message = Some(format!("Wrong login or password (the sandbox password is {PASSWORD})"));
        return Err(SourceError::WrongPass { message });
    }
    Ok(login)
}

/// What the sandbox keeps in `session.state` between runs.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Memory {
    /// Whose session this is: under another login, the session starts afresh.
    login: String,
    /// Successful logins so far (`closing` changes with it).
    runs: u32,
    /// Reads of the checking account's transactions so far: `pending` books its operations from
    /// the second read (the first one happens once the user has enabled the account).
    checking_reads: u32,
    /// A session is open: later runs reuse it without authenticating.
    authenticated: bool,
    /// Day of the first successful login: `pending`'s operations are dated from it.
    first_run: Option<NaiveDate>,
    /// When the pending app validation started (`decoupled`).
    decoupled_since: Option<DateTime<Utc>>,
    /// The `state` handed to the consent page (`webauth`).
    webauth_state: Option<String>,
}

impl Memory {
    /// `login`'s session. An unreadable state is a fresh session, like a bank that lost its cookie.
    fn load(state: &serde_json::Value, login: &str) -> Memory {
        match serde_json::from_value::<Memory>(state.clone()) {
            Ok(memory) if memory.login == login => memory,
            _ => Memory { login: login.to_owned(), ..Memory::default() },
        }
    }

    fn save(&self) -> SourceResult<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| SourceError::Bug(format!("saving the sandbox session: {e}")))
    }
}

impl SandboxBank {
    /// Whether this run strongly authenticated the user, or the interaction it needs.
    fn authenticate(&self, behaviour: Behaviour, request: &SourceRequest, memory: &mut Memory) -> SourceResult<bool> {
        let reuse = memory.authenticated && !request.input.authenticating;
        match behaviour {
            Behaviour::Sca if reuse => Err(SourceError::ScaRequired {
                message: Some("Sandbox Bank requires a new strong authentication".into()),
            }),
            _ if reuse => Ok(false),
            Behaviour::Otp => check_otp(request),
            Behaviour::Decoupled => check_decoupled(request, memory),
            Behaviour::Webauth => {
                let expected = memory.webauth_state.as_deref().map(consent_code);
                if request.input.webauth_code.is_some() && request.input.webauth_code == expected {
                    memory.webauth_state = None;
                    return Ok(true);
                }
                memory.webauth_state = Some(request.webauth_state.clone());
                Err(SourceError::WebauthRequired { url: self.consent_url(request) })
            }
            // The sandbox counts a credentials login as a strong authentication.
            _ => Ok(true),
        }
    }

    /// The customer whose session is open, with the sandbox's memory of it.
    fn open(&self, request: &SourceRequest, session: &SourceSession) -> SourceResult<(Customer, Memory)> {
        let login = check_credentials(&request.credentials)?;
        let behaviour = behaviour(&login)?;
        let memory = Memory::load(&session.state, &login);
        match memory.first_run {
            Some(first_run) if memory.authenticated => {
                Ok((Customer::new(&login, behaviour.profile(), first_run), memory))
            }
            _ => Err(SourceError::Bug("no open Sandbox Bank session: login first".into())),
        }
    }
}

fn check_otp(request: &SourceRequest) -> SourceResult<bool> {
    let message = match request.input.fields.get("otp").map(str::trim) {
        Some(OTP) => return Ok(true),
        Some(_) => "Wrong code, try again (the sandbox code is 123456)",
        None => "Enter the code Sandbox Bank sent you by SMS",
    };
    Err(SourceError::AdditionalInformationNeeded {
        fields: vec![Field {
            name: "otp".into(),
            label: format!("One-time code ({OTP})"),
            kind: FieldKind::Text,
            required: true,
            regex: Some("^[0-9]{6}$".into()),
            values: None,
            default: None,
        }],
        message: Some(message.into()),
    })
}

fn check_decoupled(request: &SourceRequest, memory: &mut Memory) -> SourceResult<bool> {
    match memory.decoupled_since {
        Some(start) if request.now - start >= DECOUPLED_DELAY => {
            memory.decoupled_since = None;
            return Ok(true);
        }
        Some(_) => {}
        None => memory.decoupled_since = Some(request.now),
    }
    Err(SourceError::Decoupled { message: Some("Validate in your Sandbox Bank app".into()) })
}

#[async_trait]
impl Source for SandboxBank {
    async fn login(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<()> {
        let login = check_credentials(&request.credentials)?;
        let behaviour = behaviour(&login)?;
        let mut memory = Memory::load(&session.state, &login);
        session.strongly_authenticated = false;
        // The state is saved even on failure: it holds the pending decoupled or webauth flow.
        let outcome = self.authenticate(behaviour, request, &mut memory);
        if let Ok(strong) = outcome {
            memory.authenticated = true;
            memory.runs += 1;
            memory.first_run.get_or_insert(request.now.date_naive());
            session.strongly_authenticated = strong;
        }
        session.state = memory.save()?;
        outcome.map(drop)
    }

    async fn accounts(&self, request: &SourceRequest, session: &mut SourceSession) -> SourceResult<Vec<BankAccount>> {
        let (customer, memory) = self.open(request, session)?;
        let today = request.now.date_naive();
        let products = customer.products(memory.runs);
        Ok(products.map(|p| customer.account(p, today, memory.checking_reads)).collect())
    }

    async fn transactions(
        &self,
        request: &SourceRequest,
        session: &mut SourceSession,
        account_webid: &str,
        since: Option<NaiveDate>,
    ) -> SourceResult<Vec<BankTransaction>> {
        let (customer, mut memory) = self.open(request, session)?;
        let product = customer
            .products(memory.runs)
            .find(|p| customer.webid(*p) == account_webid)
            .ok_or_else(|| SourceError::Bug(format!("Sandbox Bank has no account {account_webid}")))?;
        let reads = memory.checking_reads;
        if product == Product::Checking {
            memory.checking_reads += 1;
            session.state = memory.save()?;
        }
        let mut rows = customer.history(product, request.now.date_naive(), reads);
        if let Some(since) = since {
            rows.retain(|t| t.date >= since);
        }
        Ok(rows)
    }
}

// ---- Consent page (`webauth`) ----

/// The Sandbox Bank consent page (`GET /sandbox/authorize?state&redirect_uri`): links back with the
/// code for `state`, or with `error=access_denied`.
pub async fn authorize(Query(params): Query<HashMap<String, String>>) -> Result<Html<String>, PageError> {
    let state = require(&params, "state")?;
    let redirect_uri = require(&params, "redirect_uri")?;
    let allow = back_to(redirect_uri, &[("state", state), ("code", &consent_code(state))])?;
    let deny = back_to(redirect_uri, &[("state", state), ("error", "access_denied")])?;
    Ok(page(
        "Sandbox Bank — authorize access",
        &format!(
            "<p>An application asks to read your Sandbox Bank accounts (request <code>{}</code>).</p>\
             <p><a href=\"{}\">Authorize</a> · <a href=\"{}\">Deny</a></p>",
            super::escape_html(state),
            super::escape_html(&allow),
            super::escape_html(&deny),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Instant;

    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use chrono::TimeZone;
    use rust_decimal_macros::dec;
    use tower::ServiceExt;

    use super::*;
    use crate::domain::bank::{ACCOUNT_TYPES, TRANSACTION_TYPES};
    use crate::sources::UserInput;
    use chrono::Days;

    type Data = (Vec<BankAccount>, Vec<BankTransaction>);

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 24, 10, 0, 0).unwrap()
    }

    fn today() -> NaiveDate {
        now().date_naive()
    }

    fn request(login: &str, password: &str) -> SourceRequest {
        let credentials = [("login", login), ("password", password)].map(|(k, v)| (k.into(), v.into()));
        SourceRequest {
            credentials: Credentials(credentials.into()),
            input: UserInput::default(),
            webauth_callback: "https://app.example/callback?x=1".into(),
            webauth_state: "state-1".into(),
            now: now(),
            unattended: false,
        }
    }

    fn bank() -> SandboxBank {
        SandboxBank::new("https://bankd.example/")
    }

    async fn login(request: &SourceRequest, session: &mut SourceSession) -> SourceResult<()> {
        bank().login(request, session).await
    }

    /// A whole run: login, accounts, then every account's transactions.
    async fn sync(request: &SourceRequest, session: &mut SourceSession) -> SourceResult<Data> {
        login(request, session).await?;
        let accounts = bank().accounts(request, session).await?;
        let mut rows = Vec::new();
        for account in &accounts {
            rows.extend(bank().transactions(request, session, &account.webid, None).await?);
        }
        Ok((accounts, rows))
    }

    async fn sync_once(request: &SourceRequest) -> Data {
        sync(request, &mut SourceSession::default()).await.unwrap()
    }

    #[tokio::test]
    async fn a_wrong_or_missing_password_is_refused_for_every_login() {
        let mut no_password = request("demo", "");
        no_password.credentials.0.remove("password");
        let refused = ["demo", "otp", "big", "bug", "x"].map(|login| request(login, "0000"));
        for request in refused.iter().chain([&no_password, &request(" ", "1234")]) {
            let err = sync(request, &mut SourceSession::default()).await.unwrap_err();
            assert!(matches!(err, SourceError::WrongPass { message: Some(_) }), "{err:?}");
        }
    }

    #[tokio::test]
    async fn demo_has_three_accounts_and_about_200_realistic_transactions() {
        let (accounts, rows) = sync_once(&request("demo", "1234")).await;
        let kinds: Vec<_> = accounts.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["checking", "savings", "card"]);
        assert!(accounts.iter().all(|a| ACCOUNT_TYPES.iter().any(|t| t.name == a.kind) && a.currency == "EUR"));
        assert!((150..=250).contains(&rows.len()), "{} transactions", rows.len());
        for t in &rows {
            assert!(TRANSACTION_TYPES.contains(&t.kind), "{}", t.kind);
            assert!(t.rdate <= t.date && t.date <= today() && t.date > today() - Days::new(90));
            assert!(t.value.scale() == 2 && t.webid.is_some() && !t.coming);
        }
        assert_eq!(rows.iter().map(|t| &t.webid).collect::<HashSet<_>>().len(), rows.len());
        let salary = |t: &&BankTransaction| t.original_wording == "VIR SALAIRE ACME" && t.value > dec!(2000);
        assert_eq!(rows.iter().filter(salary).count(), 3);
        assert!(rows.iter().filter(|t| t.value.is_sign_negative()).count() > rows.len() * 3 / 4);
        assert!(rows.iter().any(|t| t.kind == "deferred_card") && rows.iter().any(|t| t.kind == "summary_card"));
    }

    #[tokio::test]
    async fn the_checking_iban_is_checksum_valid() {
        let (accounts, _) = sync_once(&request("demo", "1234")).await;
        let iban = accounts[0].iban.clone().unwrap();
        let rotated = format!("{}FR76", &iban[4..]);
        let digits: String = rotated.chars().map(|c| c.to_digit(36).unwrap().to_string()).collect();
        let remainder = digits.bytes().fold(0, |r, b| (r * 10 + u64::from(b - b'0')) % 97);
        assert_eq!((iban.len(), remainder), (27, 1), "{iban}");
    }

    #[tokio::test]
    async fn data_depends_only_on_the_login_and_the_day() {
        let demo = sync_once(&request("demo", "1234")).await;
        assert_eq!(demo, sync_once(&request(" DeMo ", "1234")).await);
        assert_ne!(demo, sync_once(&request("alice", "1234")).await);
        // A day later the window has slid; the days seen both times are unchanged.
        let mut tomorrow = request("demo", "1234");
        tomorrow.now += TimeDelta::days(1);
        let (_, later) = sync_once(&tomorrow).await;
        let oldest = later.iter().map(|t| t.date).min().unwrap();
        assert!(demo.1.iter().filter(|t| t.date >= oldest).all(|t| later.contains(t)));
    }

    #[tokio::test]
    async fn transactions_since_a_date_are_filtered_on_the_booking_date() {
        let (request, mut session) = (request("demo", "1234"), SourceSession::default());
        let (accounts, _) = sync(&request, &mut session).await.unwrap();
        let since = NaiveDate::from_ymd_opt(2025, 11, 1);
        let webid = &accounts[0].webid;
        let all = bank().transactions(&request, &mut session, webid, None).await.unwrap();
        let recent = bank().transactions(&request, &mut session, webid, since).await.unwrap();
        assert!(!recent.is_empty() && recent.len() < all.len());
        assert_eq!(recent, all.into_iter().filter(|t| Some(t.date) >= since).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_session_is_reused_and_only_an_authentication_is_strong() {
        let (mut demo, otp, mut session) = (request("demo", "1234"), request("otp", "1234"), SourceSession::default());
        let mut strong = Vec::new();
        for authenticating in [false, false, true] {
            demo.input.authenticating = authenticating;
            login(&demo, &mut session).await.unwrap();
            strong.push(session.strongly_authenticated);
        }
        assert_eq!(strong, [true, false, true]);
        // Another login does not inherit the session: `otp` asks for its code.
        assert!(login(&otp, &mut session).await.unwrap_err().fields().is_some());
        let err = bank().accounts(&demo, &mut SourceSession::default()).await.unwrap_err();
        assert!(matches!(err, SourceError::Bug(_)), "data calls need a login first");
    }

    #[tokio::test]
    async fn otp_asks_for_the_code_until_it_is_right() {
        let (mut request, mut session) = (request("otp", "1234"), SourceSession::default());
        let err = login(&request, &mut session).await.unwrap_err();
        let field = &err.fields().unwrap()[0];
        assert_eq!((field.name.as_str(), field.regex.as_deref()), ("otp", Some("^[0-9]{6}$")));
        request.input.fields.0.insert("otp".into(), "654321".into());
        let err = login(&request, &mut session).await.unwrap_err();
        assert!(err.fields().is_some() && err.message().unwrap().contains("Wrong code"), "{err:?}");
        request.input.fields.0.insert("otp".into(), "123456".into());
        login(&request, &mut session).await.unwrap();
        assert!(session.strongly_authenticated);
        request.input.fields = Credentials::default();
        login(&request, &mut session).await.expect("the session is reused");
        request.input.authenticating = true;
        assert!(login(&request, &mut session).await.unwrap_err().fields().is_some());
    }

    #[tokio::test]
    async fn decoupled_succeeds_once_the_app_had_two_seconds() {
        let (mut request, mut session) = (request("decoupled", "1234"), SourceSession::default());
        let message = Some("Validate in your Sandbox Bank app".into());
        let waiting = Err(SourceError::Decoupled { message });
        assert_eq!(login(&request, &mut session).await, waiting);
        request.input.resume = true;
        request.now += TimeDelta::milliseconds(1999);
        assert_eq!(login(&request, &mut session).await, waiting);
        request.now += TimeDelta::milliseconds(1);
        login(&request, &mut session).await.unwrap();
        assert!(session.strongly_authenticated);
    }

    #[tokio::test]
    async fn webauth_sends_the_user_to_the_consent_page_and_checks_its_code() {
        let (mut request, mut session) = (request("webauth", "1234"), SourceSession::default());
        let url = "https://bankd.example/sandbox/authorize?state=state-1\
                   &redirect_uri=https%3A%2F%2Fapp.example%2Fcallback%3Fx%3D1";
        assert_eq!(login(&request, &mut session).await, Err(SourceError::WebauthRequired { url: url.into() }));
        request.webauth_state = "state-2".into();
        request.input.webauth_code = Some(consent_code("state-2"));
        let err = login(&request, &mut session).await.unwrap_err();
        let SourceError::WebauthRequired { url } = err else { panic!("a wrong code restarts: {err:?}") };
        assert!(url.contains("?state=state-2&"));
        login(&request, &mut session).await.expect("the consent page's code for state-2");
        assert!(session.strongly_authenticated);
        assert_eq!(consent_code("s"), "ewbQOly9IYMx2GijaTn-UM8W27jqjH0g2huFjiH1Hj4");
    }

    #[tokio::test]
    async fn sca_is_required_again_until_the_user_reauthenticates() {
        let (mut request, mut session) = (request("sca", "1234"), SourceSession::default());
        login(&request, &mut session).await.unwrap();
        assert!(session.strongly_authenticated);
        let err = login(&request, &mut session).await.unwrap_err();
        assert!(matches!(err, SourceError::ScaRequired { message: Some(_) }));
        request.input.authenticating = true;
        login(&request, &mut session).await.unwrap();
        assert!(session.strongly_authenticated);
    }

    #[tokio::test]
    async fn failing_logins_fail_with_their_state() {
        use crate::domain::states::ConnectionState::*;
        let expected = [ActionNeeded, PasswordExpired, WebsiteUnavailable, RateLimiting, Bug];
        let logins = ["actionneeded", "expired", "unavailable", "ratelimit", "bug"];
        for (login_name, state) in logins.into_iter().zip(expected) {
            let err = login(&request(login_name, "1234"), &mut SourceSession::default()).await.unwrap_err();
            assert_eq!(err.state(), state, "{login_name}");
            assert!(err.message().is_some() || state == Bug);
        }
        let err = login(&request("ratelimit", "1234"), &mut SourceSession::default()).await;
        assert!(matches!(err, Err(SourceError::RateLimited { retry_after: Some(d), .. }) if d.as_secs() == 3600));
    }

    #[tokio::test]
    async fn closing_loses_its_savings_account_every_other_run() {
        let (request, mut session) = (request("closing", "1234"), SourceSession::default());
        let mut savings = Vec::new();
        for _ in 0..4 {
            let (accounts, _) = sync(&request, &mut session).await.unwrap();
            savings.push(accounts.iter().filter(|a| a.kind == "savings").count());
        }
        assert_eq!(savings, [1, 0, 1, 0]);
    }

    #[tokio::test]
    async fn pending_transactions_come_back_booked_on_the_second_read() {
        let (request, mut session) = (request("pending", "1234"), SourceSession::default());
        let (accounts, first) = sync(&request, &mut session).await.unwrap();
        let pending: Vec<_> = first.iter().filter(|t| t.coming).collect();
        assert_eq!(pending.len(), 4);
        assert!(pending.iter().all(|t| t.webid.is_none() && t.original_wording.starts_with("CB PENDING SHOP")));
        assert_eq!(accounts[0].coming, Some(pending.iter().map(|t| t.value).sum()));
        let (_, second) = sync(&request, &mut session).await.unwrap();
        assert!(second.iter().all(|t| !t.coming && t.webid.is_some()));
        let booked: Vec<_> = second.iter().filter(|t| t.webid.as_ref().unwrap().contains("-PND-")).collect();
        assert_eq!(booked.len(), 3);
        for (before, after) in pending.iter().zip(&booked) {
            assert_eq!((after.value, after.rdate), (before.value, before.date));
            assert!((1..=2).contains(&(after.date - before.date).num_days()));
            assert_ne!(after.original_wording, before.original_wording);
        }
        assert_eq!(booked[0].original_wording, "CARTE 24/11 SHOP 1 PARIS");
        assert_eq!(second.len(), first.len() - 1);
    }

    #[tokio::test]
    async fn big_has_exactly_100_000_transactions_on_any_day() {
        let started = Instant::now();
        let (accounts, rows) = sync_once(&request("big", "1234")).await;
        println!("big: {} transactions in {:?}", rows.len(), started.elapsed());
        assert_eq!((accounts.len(), rows.len()), (1, 100_000));
        let mut later = request("big", "1234");
        later.now += TimeDelta::days(40);
        assert_eq!(sync_once(&later).await.1.len(), 100_000);
    }

    async fn get(uri: &str) -> (StatusCode, String) {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        let response = super::super::router("https://bankd.example", false).oneshot(request).await.unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_consent_page_links_back_with_the_code() {
        let (status, page) = get("/authorize?state=a%3Cb%26c&redirect_uri=https%3A%2F%2Fapp.example%2Fcb").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<title>Sandbox Bank — authorize access</title>") && page.contains("a&lt;b&amp;c"));
        let allow = format!("href=\"https://app.example/cb?state=a%3Cb%26c&amp;code={}\"", consent_code("a<b&c"));
        assert!(page.contains(&allow), "{page}");
        assert!(page.contains("href=\"https://app.example/cb?state=a%3Cb%26c&amp;error=access_denied\""));
        let (_, page) = get("/authorize?state=s&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1").await;
        assert!(page.contains("https://app.example/cb?x=1&amp;state=s&amp;code="));
    }

    #[tokio::test]
    async fn the_consent_page_rejects_bad_parameters() {
        let (status, page) = get("/authorize?redirect_uri=https%3A%2F%2Fapp.example").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("missing parameter &#39;state&#39;"), "{page}");
        let (status, page) = get("/authorize?state=s&redirect_uri=javascript%3Aalert(1)").await;
        assert_eq!((status, page.contains("is not an http(s) URL")), (StatusCode::BAD_REQUEST, true));
    }
}

//! Sandbox Bank: an in-process fake bank, so that bankd, its clients and their tests can exercise
//! every connection state without a real bank account.
//!
//! The `login` credential picks the behaviour (the password is always `1234`): `demo` is a plain
//! bank; `otp`, `decoupled`, `webauth` and `sca` ask for each kind of user interaction;
//! `actionneeded`, `expired`, `unavailable`, `ratelimit` and `bug` fail at login; `closing`,
//! `pending` and `big` exercise vanishing accounts, pending-to-booked reconciliation and volume.
//! Any other login behaves like `demo` with its own data. Logins are trimmed and case-insensitive.
//!
//! Data is derived, never stored: a seeded [`ChaCha8Rng`] per (login, account, day) makes it
//! identical on every run and lets a day's transactions stay put while the window slides.

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Datelike, Days, TimeDelta};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::*;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::Query;
use crate::catalog::FieldKind;
use crate::domain::bank::Counterparty;

const PASSWORD: &str = "1234";
const OTP: &str = "123456";
/// How long the user "takes" to validate in the app, for `decoupled`.
const DECOUPLED_DELAY: TimeDelta = TimeDelta::seconds(2);
const HISTORY_DAYS: u64 = 90;
const BIG_DAYS: u64 = 365;

/// The Sandbox Bank source. `public_url` is where bankd serves [`consent_router`] (under `/sandbox`).
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
            Some(first_run) if memory.authenticated => Ok((Customer::new(&login, behaviour, first_run), memory)),
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

// ---- Generated data ----

#[derive(Debug, Clone, Copy, PartialEq)]
enum Product {
    Checking,
    Savings,
    Card,
}

impl Product {
    fn code(self) -> &'static str {
        match self {
            Product::Checking => "CHK",
            Product::Savings => "LIV",
            Product::Card => "CB",
        }
    }
}

/// A wording, its type, its amount range in signed cents, and its counterparty.
struct Template(&'static str, &'static str, i64, i64, Option<&'static str>);

#[rustfmt::skip]
const SHOPS: [Template; 10] = [
    Template("CB MONOPRIX PARIS",          "card", -8500,  -450,  None),
    Template("CB CARREFOUR CITY PARIS 11", "card", -6000,  -300,  None),
    Template("CB BOULANGERIE PAUL",        "card", -1500,  -180,  None),
    Template("CB PHARMACIE DU MARCHE",     "card", -4500,  -490,  None),
    Template("CB SNCF INTERNET",           "card", -14000, -1900, None),
    Template("CB AMAZON EU SARL",          "card", -9000,  -999,  None),
    Template("CB UBER EATS",               "card", -4500,  -1200, None),
    Template("CB FNAC PARIS",              "card", -20000, -999,  None),
    Template("CB TOTALENERGIES",           "card", -8000,  -3000, None),
    Template("CB LE PETIT BISTROT",        "card", -6500,  -1400, None),
];

#[rustfmt::skip]
const OTHERS: [Template; 5] = [
    Template("RETRAIT DAB PARIS BASTILLE",      "withdrawal", -10000, -2000, None),
    Template("RETRAIT DAB LYON PART DIEU",      "withdrawal", -8000,  -2000, None),
    Template("VIR SEPA M DUPONT REMBOURSEMENT", "transfer",   1000,   6000,  Some("M DUPONT")),
    Template("VIR SEPA LYDIA",                  "transfer",   -5000,  -1000, Some("LYDIA SOLUTIONS")),
    Template("AVOIR CB AMAZON EU SARL",         "payback",    999,    4999,  None),
];

/// Checking-account operations that come back on a fixed day of each month.
#[rustfmt::skip]
const MONTHLY: [(u32, Template); 7] = [
    (1,  Template("VIR SEPA LOYER SCI LES LILAS", "transfer", -85000, -85000, Some("SCI LES LILAS"))),
    (5,  Template("PRLV SEPA EDF",                "order",    -12000, -6000,  Some("EDF"))),
    (8,  Template("PRLV SEPA FREE MOBILE",        "order",    -1999,  -1999,  Some("FREE MOBILE"))),
    (10, Template("VIR EPARGNE LIVRET A",         "transfer", -10000, -10000, None)),
    (12, Template("PRLV SEPA COMUTITRES NAVIGO",  "order",    -8640,  -8640,  Some("COMUTITRES"))),
    (15, Template("FRAIS TENUE DE COMPTE",        "bank",     -250,   -250,   None)),
    (28, Template("VIR SALAIRE ACME",             "transfer", 235000, 265000, Some("ACME SAS"))),
];

/// The savings side of the monthly `VIR EPARGNE LIVRET A`.
const SAVINGS_IN: Template = Template("VIR DEPUIS COMPTE CHEQUES", "transfer", 10000, 10000, None);
const SAVINGS_DAY: u32 = 10;
/// The day the deferred card's monthly total is debited from checking.
const CARD_DEBIT_DAY: u32 = 3;

/// A generator seeded by SHA-256 of length-prefixed parts, so `("ab", "c")` and `("a", "bc")` differ.
fn rng(parts: &[&[u8]]) -> ChaCha8Rng {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    ChaCha8Rng::from_seed(hasher.finalize().into())
}

/// One sandbox customer's bank, derived from the login.
struct Customer {
    login: String,
    behaviour: Behaviour,
    /// Short stable prefix of every webid.
    tag: String,
    account_number: u64,
    card_mask: String,
    first_run: NaiveDate,
}

impl Customer {
    fn new(login: &str, behaviour: Behaviour, first_run: NaiveDate) -> Customer {
        let mut rng = rng(&[login.as_bytes(), b"customer"]);
        let tag: u32 = rng.r#gen();
        Customer {
            login: login.to_owned(),
            behaviour,
            tag: format!("SBX{tag:08X}"),
            account_number: rng.gen_range(0..100_000_000_000),
            card_mask: format!("XXXXXXXXXXXX{:04}", rng.gen_range(0..10_000)),
            first_run,
        }
    }

    fn products(&self, runs: u32) -> impl Iterator<Item = Product> + use<> {
        let products = match self.behaviour {
            Behaviour::Big => &[Product::Checking][..],
            // Every other run the savings account has vanished from the bank's website.
            Behaviour::Closing if runs.is_multiple_of(2) => &[Product::Checking, Product::Card],
            _ => &[Product::Checking, Product::Savings, Product::Card],
        };
        products.iter().copied()
    }

    fn webid(&self, product: Product) -> String {
        format!("{}-{}", self.tag, product.code())
    }

    /// The `i`-th transaction booked on `date`: stable as long as the day's generation is.
    fn row_webid(&self, product: Product, date: NaiveDate, i: usize) -> String {
        format!("{}-{}-{}-{i}", self.tag, product.code(), date.num_days_from_ce())
    }

    /// `checking_reads`: how often the checking account's transactions were read before.
    fn account(&self, product: Product, today: NaiveDate, checking_reads: u32) -> BankAccount {
        let mut rng = rng(&[self.login.as_bytes(), b"balance"]);
        let masked = |digits: u64| format!("XXXXXXX{:04}", digits % 10_000);
        let (name, kind, balance, number) = match product {
            Product::Checking => {
                let balance = Decimal::new(rng.gen_range(80_000..450_000), 2);
                ("Compte de chèques", "checking", balance, masked(self.account_number))
            }
            Product::Savings => {
                let balance = Decimal::new(rng.gen_range(300_000..2_500_000), 2);
                ("Livret A", "savings", balance, masked(self.account_number / 10_000))
            }
            // A deferred card owes what was spent since the last monthly debit.
            Product::Card => {
                let owed = self.card_total(today.with_day(1).unwrap_or(today), today);
                ("Visa Premier (débit différé)", "card", owed, self.card_mask.clone())
            }
        };
        let checking = product == Product::Checking;
        let pending = checking && self.behaviour == Behaviour::Pending && checking_reads == 0;
        BankAccount {
            webid: self.webid(product),
            name: name.into(),
            number: Some(number),
            iban: checking.then(|| self.iban()),
            bic: checking.then(|| "SBXBFRPPXXX".into()),
            kind,
            currency: "EUR".into(),
            balance,
            coming: pending.then(|| self.pending_values().iter().sum()),
            usage: "PRIV",
        }
    }

    /// A checksum-valid French IBAN: the RIB key makes the check digits always `76`.
    fn iban(&self) -> String {
        let (bank, branch, account) = (99_999u64, 1u64, self.account_number);
        let key = 97 - (89 * bank + 15 * branch + 3 * account) % 97;
        format!("FR76{bank:05}{branch:05}{account:011}{key:02}")
    }

    fn history(&self, product: Product, today: NaiveDate, checking_reads: u32) -> Vec<BankTransaction> {
        if self.behaviour == Behaviour::Big {
            let days = (0..BIG_DAYS).map(|back| today - Days::new(back));
            return days.flat_map(|day| self.big_day(day)).collect();
        }
        let mut rows = Vec::new();
        if self.behaviour == Behaviour::Pending && product == Product::Checking {
            rows.extend(self.pending(checking_reads));
        }
        rows.extend((0..HISTORY_DAYS).flat_map(|back| self.day(product, today - Days::new(back))));
        rows
    }

    /// The transactions booked on `date`; they depend on nothing else, so they never change.
    fn day(&self, product: Product, date: NaiveDate) -> Vec<BankTransaction> {
        let day = date.num_days_from_ce().to_le_bytes();
        let mut rng = rng(&[self.login.as_bytes(), product.code().as_bytes(), &day]);
        let mut templates: Vec<&Template> = Vec::new();
        match product {
            Product::Checking => {
                templates.extend(MONTHLY.iter().filter(|(day, _)| *day == date.day()).map(|(_, t)| t));
                // Shops are closed on Sundays.
                let most = if date.weekday() == chrono::Weekday::Sun { 1 } else { 4 };
                for _ in 0..rng.gen_range(0..=most) {
                    templates.push(pick(&mut rng));
                }
            }
            Product::Savings if date.day() == SAVINGS_DAY => templates.push(&SAVINGS_IN),
            Product::Savings => {}
            Product::Card if rng.gen_bool(0.15) => templates.push(&SHOPS[rng.gen_range(0..SHOPS.len())]),
            Product::Card => {}
        }
        let mut rows: Vec<_> =
            (templates.iter().enumerate()).map(|(i, t)| self.booked(&mut rng, t, product, date, i)).collect();
        if product == Product::Checking && date.day() == CARD_DEBIT_DAY {
            rows.push(self.card_debit(date, rows.len()));
        }
        rows
    }

    /// One booked row from a template. Card payments were made 1–2 days before their booking.
    fn booked(
        &self,
        rng: &mut ChaCha8Rng,
        t: &Template,
        product: Product,
        date: NaiveDate,
        i: usize,
    ) -> BankTransaction {
        let Template(wording, kind, min, max, counterparty) = *t;
        let mut cents = rng.gen_range(min..=max);
        if kind == "withdrawal" {
            cents -= cents % 1000; // cash machines give tens
        }
        let card = kind == "card";
        let delay = if card { rng.gen_range(1..=2) } else { 0 };
        BankTransaction {
            webid: Some(self.row_webid(product, date, i)),
            date,
            rdate: date - Days::new(delay),
            vdate: Some(date),
            value: Decimal::new(cents, 2),
            original_wording: wording.to_owned(),
            // On the card account itself the same payments are deferred ones.
            kind: if product == Product::Card { "deferred_card" } else { kind },
            coming: false,
            card: card.then(|| self.card_mask.clone()),
            counterparty: counterparty.map(|label| Counterparty {
                label: label.to_owned(),
                account_scheme_name: None,
                account_identification: None,
                kind: if cents < 0 { "creditor" } else { "debtor" },
            }),
        }
    }

    /// Total of the deferred card's payments booked from `from` to `to`, inclusive (negative).
    fn card_total(&self, from: NaiveDate, to: NaiveDate) -> Decimal {
        from.iter_days().take_while(|d| *d <= to).flat_map(|d| self.day(Product::Card, d)).map(|t| t.value).sum()
    }

    /// The monthly debit on checking of last month's deferred card payments.
    fn card_debit(&self, date: NaiveDate, i: usize) -> BankTransaction {
        let last_month_end = date.with_day(1).and_then(|d| d.pred_opt()).unwrap_or(date);
        let last_month_start = last_month_end.with_day(1).unwrap_or(last_month_end);
        BankTransaction {
            webid: Some(self.row_webid(Product::Checking, date, i)),
            date,
            rdate: date,
            vdate: Some(date),
            value: self.card_total(last_month_start, last_month_end),
            original_wording: format!("RELEVE CARTE DIFFEREE {}", &self.card_mask[12..]),
            kind: "summary_card",
            coming: false,
            card: Some(self.card_mask.clone()),
            counterparty: None,
        }
    }

    /// `big`'s day: 273 or 274 rows, so that any 365 consecutive days hold exactly 100,000 (365 =
    /// 5 × 73: every window has ten days whose number is 0 or 1 modulo 73, and 355 × 274 + 10 × 273
    /// = 100,000). One seed per day and static wordings keep it fast.
    fn big_day(&self, date: NaiveDate) -> Vec<BankTransaction> {
        let day = date.num_days_from_ce();
        let count = if day.rem_euclid(73) < 2 { 273 } else { 274 };
        let mut rng = rng(&[self.login.as_bytes(), b"big", &day.to_le_bytes()]);
        (0..count)
            .map(|i| {
                let template = pick(&mut rng);
                self.booked(&mut rng, template, Product::Checking, date, i)
            })
            .collect()
    }

    fn pending_values(&self) -> [Decimal; 4] {
        let mut rng = rng(&[self.login.as_bytes(), b"pending"]);
        [(); 4].map(|()| Decimal::new(rng.gen_range(-6000..-500), 2))
    }

    /// `pending`'s four card payments: pending at the first read; from the second, three are
    /// booked under a new wording and webid, and the fourth was cancelled.
    fn pending(&self, checking_reads: u32) -> Vec<BankTransaction> {
        let booked = checking_reads > 0;
        let values = self.pending_values().into_iter().enumerate();
        let rows = values.map(|(i, value)| {
            let n = i + 1;
            let rdate = self.first_run - Days::new(i as u64 / 2);
            let date = rdate + Days::new(if booked { 1 + n as u64 % 2 } else { 0 });
            BankTransaction {
                webid: booked.then(|| format!("{}-CHK-PND-{n}", self.tag)),
                date,
                rdate,
                vdate: booked.then_some(date),
                value,
                original_wording: if booked {
                    format!("CARTE {} SHOP {n} PARIS", rdate.format("%d/%m"))
                } else {
                    format!("CB PENDING SHOP {n}")
                },
                kind: "card",
                coming: !booked,
                card: Some(self.card_mask.clone()),
                counterparty: None,
            }
        });
        rows.take(if booked { 3 } else { 4 }).collect()
    }
}

/// A random everyday operation: three in four are card payments.
fn pick(rng: &mut ChaCha8Rng) -> &'static Template {
    if rng.gen_bool(0.75) { &SHOPS[rng.gen_range(0..SHOPS.len())] } else { &OTHERS[rng.gen_range(0..OTHERS.len())] }
}

// ---- Consent page (`webauth`) ----

/// The Sandbox Bank consent page, for bankd to mount under `/sandbox`.
pub fn consent_router() -> Router {
    Router::new().route("/authorize", get(authorize))
}

async fn authorize(Query(params): Query) -> ApiResult<Html<String>> {
    let state = params.require_str("state")?;
    let redirect_uri = params.require_str("redirect_uri")?;
    // Escaping is not enough against a `javascript:` link.
    if !(redirect_uri.starts_with("https://") || redirect_uri.starts_with("http://")) {
        return Err(ApiError::invalid("redirect_uri", "expected an http(s) URL"));
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let code = consent_code(&state);
    let back = |key, value| format!("{redirect_uri}{separator}{}", encode_query(&[("state", &state), (key, value)]));
    let (allow, deny) = (back("code", &code), back("error", "access_denied"));
    Ok(Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Sandbox Bank — authorize access</title></head><body>\
         <h1>Sandbox Bank — authorize access</h1>\
         <p>An application asks to read your Sandbox Bank accounts (request <code>{}</code>).</p>\
         <p><a href=\"{}\">Authorize</a> · <a href=\"{}\">Deny</a></p></body></html>\n",
        escape_html(&state),
        escape_html(&allow),
        escape_html(&deny),
    )))
}

fn encode_query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("string pairs always urlencode")
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
        use ConnectionState::*;
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
        let response = consent_router().oneshot(request).await.unwrap();
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
    async fn the_consent_page_rejects_bad_parameters_with_an_envelope() {
        let (status, body) = get("/authorize?redirect_uri=https%3A%2F%2Fapp.example").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let missing =
            r#"{"code":"missingParameter","description":"missing parameter 'state'","message":null,"request_id":null}"#;
        assert_eq!(body, missing);
        let (status, body) = get("/authorize?state=s&redirect_uri=javascript%3Aalert(1)").await;
        assert_eq!((status, body.contains("\"invalidValue\"")), (StatusCode::BAD_REQUEST, true));
    }
}

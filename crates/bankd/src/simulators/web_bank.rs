//! Sandbox web bank: a French-style HTML web-banking site serving the same customers as the
//! Sandbox Bank (same logins, password `1234`), for bankd's web scrapers to read. Mounted by
//! `bankd serve` under `/sandbox/web`; every link and redirect is relative, so it works under any
//! prefix.
//!
//! The pages, which a scraper relies on:
//! - `GET login`: sets the `sbx_session` cookie (HttpOnly) when the browser has no session, and
//!   shows `form#login-form` (hidden `csrf`, `username`, `password`).
//! - `POST login`: a wrong or missing CSRF token is 403 (`p.error` "Session expirée"); a wrong
//!   password shows the form again with `p.error`; `unavailable` is 503 (`div#maintenance`);
//!   `actionneeded` is sent to `terms` (`form#terms-form`, never accepted); `otp` to `otp`
//!   (`form#otp-form`: hidden `csrf`, `code`, the code is `123456`); anyone else to `accounts`.
//! - `GET accounts`: `table#accounts`, one `tr.account[data-id]` per account with `td.label`
//!   (a link to its history), `td.number`, `td.iban` (spaced by 4, empty if none), `td.balance`
//!   (`1 234,56 €`). `bug` gets a redesigned page without that table; so does any login once
//!   `POST redesign?login=…` (a test's switch: the bank changes its site under a working module).
//! - `GET history?account=ID&page=N`: `table#operations`, 50 booked `tr.operation[data-ref]` a page
//!   (`td.date` `24/11/2026`, `td.label`, `td.amount`), newest first, and `a.next` while more
//!   remain; page 1 also has `table#upcoming`, the operations not booked yet (empty `data-ref`).
//!
//! A session stays open while the server runs, so a scraper that keeps its cookie skips the login
//! and the code next time. Sessions and each login's counters live in this process's memory: an
//! accounts page view is a run (`closing` loses its savings account every other one), and a read
//! of the checking account's first history page is a read (`pending` books its operations from
//! the second). The Sandbox Bank's other logins (`sca`, `expired`, …) are plain customers here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;

use super::customers::{Cursor, Customer, Product, Profile};
use super::{escape_html, page};
use crate::domain::bank::{BankAccount, BankTransaction};

const PASSWORD: &str = "1234";
const OTP: &str = "123456";
const COOKIE: &str = "sbx_session";
const PAGE_SIZE: usize = 50;
/// Past this many sessions, those not logged in are forgotten when a new one opens.
const MAX_SESSIONS: usize = 10_000;

/// One browser's session.
#[derive(Debug, Clone, Default)]
struct Session {
    csrf: String,
    /// Who logged in (or is logging in: waiting for the code, or for the terms).
    login: Option<String>,
    authenticated: bool,
    otp_pending: bool,
}

/// What the bank remembers of a login across sessions, for the customer generator.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    /// Accounts page views: `closing` changes with it.
    runs: u32,
    /// Reads of the checking account's history (its first page).
    checking_reads: u32,
    /// Day of the first successful login: `pending`'s operations are dated from it.
    first_run: Option<NaiveDate>,
    /// The bank redesigned its account list for this login (`POST redesign`).
    redesigned: bool,
}

/// Where each page of an account's booked history starts (`big` only: the others are small enough
/// to be generated whole), for one day.
type Cursors = (NaiveDate, HashMap<String, Vec<Cursor>>);

#[derive(Clone, Default)]
struct WebBank {
    sessions: Arc<Mutex<HashMap<String, Session>>>,
    counters: Arc<Mutex<HashMap<String, Counters>>>,
    cursors: Arc<Mutex<Cursors>>,
}

/// The web bank's routes, to be nested (under `/sandbox/web` in bankd).
pub fn router() -> Router {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/otp", get(otp_page).post(otp))
        .route("/terms", get(terms).post(terms))
        .route("/accounts", get(accounts))
        .route("/history", get(history))
        .route("/redesign", post(redesign))
        .with_state(WebBank::default())
}

/// A lock that outlives a panicking holder: the maps stay consistent after each single update.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The session id the browser sent, if any.
fn cookie(headers: &HeaderMap) -> Option<String> {
    let values = headers.get_all(header::COOKIE).into_iter().filter_map(|v| v.to_str().ok());
    values
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .map(str::to_owned)
}

fn profile(login: &str) -> Profile {
    match login {
        "closing" => Profile::Closing,
        "pending" => Profile::Pending,
        "big" => Profile::Big,
        _ => Profile::Plain,
    }
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

impl WebBank {
    /// The browser's session, or a new one (with its id, to be set as a cookie).
    fn session_or_new(&self, headers: &HeaderMap) -> (Session, Option<String>) {
        let mut sessions = lock(&self.sessions);
        if let Some(session) = cookie(headers).and_then(|id| sessions.get(&id).cloned()) {
            return (session, None);
        }
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.authenticated);
        }
        let id = crate::crypto::random_secret();
        let session = Session { csrf: crate::crypto::random_secret(), ..Session::default() };
        sessions.insert(id.clone(), session.clone());
        (session, Some(id))
    }

    /// The id of the browser's session, if the form carries its CSRF token.
    fn checked(&self, headers: &HeaderMap, form: &HashMap<String, String>) -> Option<(String, Session)> {
        let id = cookie(headers)?;
        let session = lock(&self.sessions).get(&id).cloned()?;
        (form.get("csrf") == Some(&session.csrf)).then_some((id, session))
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Session)) {
        if let Some(session) = lock(&self.sessions).get_mut(id) {
            f(session);
        }
    }

    /// The login whose session the browser holds, once authenticated.
    fn authenticated(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers)?;
        let sessions = lock(&self.sessions);
        sessions.get(&id).filter(|s| s.authenticated).and_then(|s| s.login.clone())
    }

    /// Opens the session of `login`.
    fn authenticate(&self, id: &str, login: &str) {
        self.update(id, |s| {
            s.login = Some(login.to_owned());
            (s.authenticated, s.otp_pending) = (true, false);
        });
        lock(&self.counters).entry(login.to_owned()).or_default().first_run.get_or_insert_with(today);
    }

    /// `login`'s counters after `f` changed them.
    fn counters(&self, login: &str, f: impl FnOnce(&mut Counters)) -> Counters {
        let mut counters = lock(&self.counters);
        let entry = counters.entry(login.to_owned()).or_default();
        f(entry);
        *entry
    }

    /// Page `page` (from 1) of `big`'s booked history, and whether more follow. The cursor of each
    /// page reached is kept, so reading the pages in order generates each once.
    fn big_page(&self, customer: &Customer, product: Product, today: NaiveDate, page: usize) -> Paged {
        let mut cursors = lock(&self.cursors);
        if cursors.0 != today {
            *cursors = (today, HashMap::new());
        }
        let known = cursors.1.entry(customer.webid(product)).or_insert_with(|| vec![Cursor::default()]);
        let fetch = |cursor, size| customer.booked_page(product, NaiveDate::MIN, today, today, cursor, size);
        while known.len() < page {
            let last = known.last().copied().unwrap_or_default();
            match fetch(last, PAGE_SIZE).1 {
                Some(next) => known.push(next),
                None => return (Vec::new(), false),
            }
        }
        let (rows, next) = fetch(known[page - 1], PAGE_SIZE);
        // A page that ends with a day may end the history too: the cursor does not know.
        let next = next.filter(|next| !fetch(*next, 1).0.is_empty());
        if let (Some(next), true) = (next, known.len() == page) {
            known.push(next);
        }
        (rows, next.is_some())
    }
}

/// A page of booked operations, and whether another follows.
type Paged = (Vec<BankTransaction>, bool);

/// Page `page` (from 1) of the account's booked history, newest first.
fn booked_page(customer: &Customer, product: Product, today: NaiveDate, reads: u32, page: usize) -> Paged {
    // `pending`'s operations, once booked, are dated among the others.
    let mut rows: Vec<_> = customer.history(product, today, reads).into_iter().filter(|t| !t.coming).collect();
    rows.sort_by_key(|t| std::cmp::Reverse(t.date));
    let start = (page - 1).saturating_mul(PAGE_SIZE);
    let more = rows.len() > start.saturating_add(PAGE_SIZE);
    (rows.into_iter().skip(start).take(PAGE_SIZE).collect(), more)
}

// ---- Rendering ----

/// `1 234,56 €`, `-12,30 €`: a space between thousands, a decimal comma.
fn amount(value: Decimal) -> String {
    let value = value.round_dp(2);
    let digits = format!("{:.2}", value.abs());
    let (units, cents) = digits.split_once('.').unwrap_or((&digits, "00"));
    let mut grouped = String::with_capacity(units.len() + units.len() / 3);
    for (i, digit) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    let sign = if value.is_sign_negative() && !value.is_zero() { "-" } else { "" };
    format!("{sign}{grouped},{cents} €")
}

/// `FR76 9999 9000 01…`: an IBAN as printed, by groups of four.
fn spaced(iban: &str) -> String {
    let chars: Vec<char> = iban.chars().collect();
    chars.chunks(4).map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

fn error(text: &str) -> String {
    format!("<p class=\"error\">{}</p>", escape_html(text))
}

fn hidden_csrf(csrf: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", escape_html(csrf))
}

fn login_form(csrf: &str, message: Option<&str>) -> Html<String> {
    let body = format!(
        "{}<form id=\"login-form\" method=\"post\" action=\"login\">{}\
         <label>Identifiant <input name=\"username\" autocomplete=\"username\"></label>\
         <label>Mot de passe <input type=\"password\" name=\"password\" autocomplete=\"current-password\"></label>\
         <button type=\"submit\">Se connecter</button></form>",
        message.map(error).unwrap_or_default(),
        hidden_csrf(csrf),
    );
    page("Sandbox Banque — Connexion", &body)
}

fn otp_form(csrf: &str, message: Option<&str>) -> Html<String> {
    let body = format!(
        "<p>Saisissez le code reçu par SMS.</p>{}<form id=\"otp-form\" method=\"post\" action=\"otp\">{}\
         <label>Code <input name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\"></label>\
         <button type=\"submit\">Valider</button></form>",
        message.map(error).unwrap_or_default(),
        hidden_csrf(csrf),
    );
    page("Sandbox Banque — Code de sécurité", &body)
}

fn expired() -> Response {
    let body = format!("{}<p><a href=\"login\">Se reconnecter</a></p>", error("Session expirée"));
    (StatusCode::FORBIDDEN, page("Sandbox Banque — Session expirée", &body)).into_response()
}

fn maintenance() -> Response {
    let body = "<div id=\"maintenance\">Site en maintenance</div><p>Merci de réessayer plus tard.</p>";
    (StatusCode::SERVICE_UNAVAILABLE, page("Sandbox Banque — Maintenance", body)).into_response()
}

fn not_found(what: &str) -> Response {
    let body = format!("{}<p><a href=\"accounts\">Mes comptes</a></p>", error(what));
    (StatusCode::NOT_FOUND, page("Sandbox Banque — Page introuvable", &body)).into_response()
}

fn to_login() -> Response {
    Redirect::to("login").into_response()
}

fn account_row(account: &BankAccount) -> String {
    let id = escape_html(&account.webid);
    format!(
        "<tr class=\"account\" data-id=\"{id}\"><td class=\"label\"><a href=\"history?account={id}\">{}</a></td>\
         <td class=\"number\">{}</td><td class=\"iban\">{}</td><td class=\"balance\">{}</td></tr>",
        escape_html(&account.name),
        escape_html(account.number.as_deref().unwrap_or_default()),
        escape_html(&account.iban.as_deref().map(spaced).unwrap_or_default()),
        escape_html(&amount(account.balance)),
    )
}

fn operations_table(id: &str, rows: &[BankTransaction]) -> String {
    let rows: String = rows
        .iter()
        .map(|t| {
            format!(
                "<tr class=\"operation\" data-ref=\"{}\"><td class=\"date\">{}</td><td class=\"label\">{}</td>\
                 <td class=\"amount\">{}</td></tr>",
                escape_html(t.webid.as_deref().unwrap_or_default()),
                t.date.format("%d/%m/%Y"),
                escape_html(&t.original_wording),
                escape_html(&amount(t.value)),
            )
        })
        .collect();
    format!(
        "<table id=\"{id}\"><thead><tr><th>Date</th><th>Libellé</th><th>Montant</th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    )
}

// ---- Handlers ----

async fn login_page(State(bank): State<WebBank>, headers: HeaderMap) -> Response {
    let (session, new_id) = bank.session_or_new(&headers);
    let mut response = login_form(&session.csrf, None).into_response();
    if let Some(id) = new_id {
        let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    response
}

async fn login(State(bank): State<WebBank>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let Some((id, session)) = bank.checked(&headers, &form) else { return expired() };
    // A new login closes whatever the session had open.
    bank.update(&id, |s| *s = Session { csrf: s.csrf.clone(), ..Session::default() });
    let login = form.get("username").map(|l| l.trim().to_lowercase()).unwrap_or_default();
    if login.is_empty() || form.get("password").map(String::as_str) != Some(PASSWORD) {
        return login_form(&session.csrf, Some("Identifiant ou mot de passe incorrect")).into_response();
    }
    let next = match login.as_str() {
        "unavailable" => return maintenance(),
        "actionneeded" => {
            bank.update(&id, |s| s.login = Some(login.clone()));
            "terms"
        }
        "otp" => {
            bank.update(&id, |s| (s.login, s.otp_pending) = (Some(login.clone()), true));
            "otp"
        }
        _ => {
            bank.authenticate(&id, &login);
            "accounts"
        }
    };
    Redirect::to(next).into_response()
}

/// The session waiting for its one-time code, if the browser holds one.
fn waiting_for_code(bank: &WebBank, headers: &HeaderMap) -> Option<Session> {
    let session = lock(&bank.sessions).get(&cookie(headers)?).cloned()?;
    session.otp_pending.then_some(session)
}

async fn otp_page(State(bank): State<WebBank>, headers: HeaderMap) -> Response {
    match waiting_for_code(&bank, &headers) {
        Some(session) => otp_form(&session.csrf, None).into_response(),
        None => to_login(),
    }
}

async fn otp(State(bank): State<WebBank>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let Some((id, session)) = bank.checked(&headers, &form) else { return expired() };
    let Some(login) = session.login.filter(|_| session.otp_pending) else { return to_login() };
    if form.get("code").map(|c| c.trim()) != Some(OTP) {
        return otp_form(&session.csrf, Some("Code incorrect")).into_response();
    }
    bank.authenticate(&id, &login);
    Redirect::to("accounts").into_response()
}

/// The new terms and conditions (`actionneeded`): the sandbox never lets them be accepted, as
/// the Sandbox Bank keeps asking.
async fn terms() -> Html<String> {
    page(
        "Sandbox Banque — Conditions générales",
        "<form id=\"terms-form\" method=\"post\" action=\"terms\">\
         <p>Acceptez les nouvelles conditions générales pour accéder à vos comptes.</p>\
         <button type=\"submit\">J'accepte</button></form>",
    )
}

/// `POST redesign?login=…`: from now on, that login's account list is the redesigned one.
async fn redesign(State(bank): State<WebBank>, Query(params): Query<HashMap<String, String>>) -> StatusCode {
    match params.get("login") {
        Some(login) => {
            bank.counters(&login.trim().to_lowercase(), |c| c.redesigned = true);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn accounts(State(bank): State<WebBank>, headers: HeaderMap) -> Response {
    let Some(login) = bank.authenticated(&headers) else { return to_login() };
    let today = today();
    let counters = bank.counters(&login, |c| c.runs += 1);
    let customer = Customer::new(&login, profile(&login), counters.first_run.unwrap_or(today));
    let accounts: Vec<_> =
        customer.products(counters.runs).map(|p| customer.account(p, today, counters.checking_reads)).collect();
    let title = "Sandbox Banque — Mes comptes";
    // The redesigned site: cards instead of the table a scraper knows.
    if login == "bug" || counters.redesigned {
        let cards: String = accounts
            .iter()
            .map(|a| {
                format!(
                    "<div class=\"card-account\"><span>{}</span> <strong>{}</strong></div>",
                    escape_html(&a.name),
                    escape_html(&amount(a.balance))
                )
            })
            .collect();
        let body =
            format!("<p>Découvrez votre nouvel espace client !</p><section class=\"dashboard\">{cards}</section>");
        return page(title, &body).into_response();
    }
    let rows: String = accounts.iter().map(account_row).collect();
    let body = format!(
        "<p>Bonjour {}.</p><table id=\"accounts\"><thead><tr><th>Compte</th><th>Numéro</th><th>IBAN</th>\
         <th>Solde</th></tr></thead><tbody>{rows}</tbody></table>",
        escape_html(&login)
    );
    page(title, &body).into_response()
}

async fn history(
    State(bank): State<WebBank>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(login) = bank.authenticated(&headers) else { return to_login() };
    let Some(page_number) = query.get("page").map_or(Some(1), |p| p.parse::<usize>().ok().filter(|n| *n > 0)) else {
        return not_found("Page introuvable");
    };
    let today = today();
    let counters = bank.counters(&login, |_| {});
    let customer = Customer::new(&login, profile(&login), counters.first_run.unwrap_or(today));
    let webid = query.get("account").map(String::as_str).unwrap_or_default();
    let Some(product) = customer.products(counters.runs).find(|p| customer.webid(*p) == webid) else {
        return not_found("Compte introuvable");
    };
    // A read is the first page's; the next pages show the same read.
    let reads = match (product, page_number) {
        (Product::Checking, 1) => bank.counters(&login, |c| c.checking_reads += 1).checking_reads - 1,
        _ => counters.checking_reads.saturating_sub(1),
    };
    let (booked, more) = if profile(&login) == Profile::Big {
        bank.big_page(&customer, product, today, page_number)
    } else {
        booked_page(&customer, product, today, reads, page_number)
    };
    let account = customer.account(product, today, reads);
    let mut body = format!(
        "<p><a href=\"accounts\">Mes comptes</a></p><h2>{}</h2><h3>Opérations</h3>{}",
        escape_html(&account.name),
        operations_table("operations", &booked)
    );
    if more {
        let next =
            format!("history?{}", super::encode_query(&[("account", webid), ("page", &(page_number + 1).to_string())]));
        body.push_str(&format!("<p><a class=\"next\" href=\"{}\">Suivant</a></p>", escape_html(&next)));
    }
    if page_number == 1 {
        let upcoming: Vec<_> = customer.pending_rows(product, reads).into_iter().filter(|t| t.coming).collect();
        body.push_str(&format!("<h3>Opérations à venir</h3>{}", operations_table("upcoming", &upcoming)));
    }
    page("Sandbox Banque — Historique", &body).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use regex::Regex;
    use reqwest::redirect::Policy;

    use super::*;

    /// A browser that keeps the session cookie by hand and never follows redirects.
    struct Browser {
        client: reqwest::Client,
        base: String,
        session: Option<String>,
    }

    struct Page {
        status: u16,
        location: Option<String>,
        body: String,
    }

    impl Browser {
        /// A browser on a new web bank, served on a free port under `/sandbox/web`.
        async fn new() -> Browser {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let app = Router::new().nest("/sandbox/web", router());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            Browser::on(&format!("http://{address}/sandbox/web/"))
        }

        fn on(base: &str) -> Browser {
            let client = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
            Browser { client, base: base.to_owned(), session: None }
        }

        async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
            let request = match &self.session {
                Some(id) => request.header("cookie", format!("other=1; {COOKIE}={id}")),
                None => request,
            };
            let response = request.send().await.unwrap();
            if let Some(set) = response.headers().get("set-cookie") {
                let set = set.to_str().unwrap();
                assert!(set.contains("; Path=/") && set.contains("; HttpOnly"), "{set}");
                let pair = set.split(';').next().unwrap();
                self.session = Some(pair.strip_prefix("sbx_session=").unwrap().to_owned());
            }
            let status = response.status().as_u16();
            let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
            let body = response.text().await.unwrap();
            let document = body.starts_with("<!doctype html>") && body.trim_end().ends_with("</html>");
            assert!(document || (status == 303 && body.is_empty()), "{status}: {body}");
            Page { status, location, body }
        }

        async fn get(&mut self, path: &str) -> Page {
            let request = self.client.get(format!("{}{path}", self.base));
            self.send(request).await
        }

        async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
            let request = self.client.post(format!("{}{path}", self.base)).form(form);
            self.send(request).await
        }

        async fn login(&mut self, login: &str, password: &str) -> Page {
            let form = self.get("login").await;
            assert_eq!(form.status, 200);
            assert!(form.body.contains("<form id=\"login-form\" method=\"post\" action=\"login\">"));
            assert!(form.body.contains("<input name=\"username\"") && form.body.contains("name=\"password\""));
            let csrf = csrf(&form.body);
            self.post("login", &[("csrf", &csrf), ("username", login), ("password", password)]).await
        }
    }

    fn csrf(body: &str) -> String {
        let re = Regex::new(r#"<input type="hidden" name="csrf" value="([^"]+)">"#).unwrap();
        re.captures(body).unwrap()[1].to_owned()
    }

    fn redirect(page: &Page, to: &str) {
        assert_eq!((page.status, page.location.as_deref()), (303, Some(to)), "{}", page.body);
    }

    /// Parses `1 234,56 €` back.
    fn parse_amount(text: &str) -> Decimal {
        text.trim_end_matches(" €").replace(' ', "").replace(',', ".").parse().unwrap()
    }

    /// `(data-id, cells)` of every account row.
    fn account_rows(body: &str) -> Vec<(String, [String; 4])> {
        let re = Regex::new(
            r#"<tr class="account" data-id="([^"]+)"><td class="label"><a href="history\?account=([^"]+)">([^<]+)</a></td><td class="number">([^<]*)</td><td class="iban">([^<]*)</td><td class="balance">([^<]+)</td></tr>"#,
        )
        .unwrap();
        re.captures_iter(body)
            .map(|c| {
                assert_eq!(c[1], c[2]);
                (c[1].to_owned(), [3, 4, 5, 6].map(|i| c[i].to_owned()))
            })
            .collect()
    }

    /// `(data-ref, date, label, amount)` of the rows of `table#id`.
    fn operations(body: &str, id: &str) -> Vec<(String, String, String, String)> {
        let start = body.find(&format!("<table id=\"{id}\">")).unwrap();
        let table = &body[start..start + body[start..].find("</table>").unwrap()];
        let re = Regex::new(
            r#"<tr class="operation" data-ref="([^"]*)"><td class="date">([^<]+)</td><td class="label">([^<]+)</td><td class="amount">([^<]+)</td></tr>"#,
        )
        .unwrap();
        re.captures_iter(table).map(|c| (c[1].into(), c[2].into(), c[3].into(), c[4].into())).collect()
    }

    fn next_link(body: &str) -> Option<String> {
        let re = Regex::new(r#"<a class="next" href="([^"]+)">Suivant</a>"#).unwrap();
        re.captures(body).map(|c| c[1].replace("&amp;", "&"))
    }

    #[test]
    fn amounts_and_ibans_are_printed_the_french_way() {
        let cases =
            [("1234.56", "1 234,56 €"), ("-12.3", "-12,30 €"), ("0", "0,00 €"), ("-1234567.891", "-1 234 567,89 €")];
        for (value, text) in cases {
            assert_eq!(amount(value.parse().unwrap()), text);
        }
        assert_eq!(amount(Decimal::new(-999, 2)), "-9,99 €");
        assert_eq!(spaced("FR7699999000010123456789012"), "FR76 9999 9000 0101 2345 6789 012");
    }

    #[tokio::test]
    async fn demo_logs_in_and_sees_its_three_accounts() {
        let mut browser = Browser::new().await;
        redirect(&browser.get("accounts").await, "login");
        redirect(&browser.login(" Demo ", "1234").await, "accounts");
        let page = browser.get("accounts").await;
        assert_eq!(page.status, 200);
        let rows = account_rows(&page.body);
        let today = today();
        let customer = Customer::new("demo", Profile::Plain, today);
        let expected: Vec<_> = customer.products(1).map(|p| customer.account(p, today, 0)).collect();
        assert_eq!(rows.len(), 3, "{}", page.body);
        for ((id, [name, number, iban, balance]), account) in rows.iter().zip(&expected) {
            assert_eq!(
                (id, &escape_html(&account.name), number),
                (&account.webid, name, account.number.as_ref().unwrap())
            );
            assert_eq!(parse_amount(balance), account.balance.round_dp(2));
            assert_eq!(iban.replace(' ', ""), account.iban.clone().unwrap_or_default());
        }
        assert!(rows[0].1[2].starts_with("FR76 ") && rows[1].1[2].is_empty());
    }

    #[tokio::test]
    async fn a_wrong_password_shows_the_form_again() {
        let mut browser = Browser::new().await;
        for (login, password) in [("demo", "0000"), ("demo", ""), ("  ", "1234")] {
            let page = browser.login(login, password).await;
            assert_eq!(page.status, 200);
            assert!(page.body.contains("<p class=\"error\">Identifiant ou mot de passe incorrect</p>"));
            assert!(page.body.contains("id=\"login-form\""));
        }
        redirect(&browser.get("accounts").await, "login");
    }

    #[tokio::test]
    async fn a_missing_or_forged_csrf_token_is_refused() {
        let mut browser = Browser::new().await;
        let token = csrf(&browser.get("login").await.body);
        let forms: [&[(&str, &str)]; 2] = [
            &[("username", "demo"), ("password", "1234")],
            &[("csrf", "forged"), ("username", "demo"), ("password", "1234")],
        ];
        for form in forms {
            let page = browser.post("login", form).await;
            assert_eq!(page.status, 403);
            assert!(page.body.contains("<p class=\"error\">Session expirée</p>"));
        }
        // The right token without the session cookie is no better.
        let mut stranger = Browser::on(&browser.base);
        let page = stranger.post("login", &[("csrf", &token), ("username", "demo"), ("password", "1234")]).await;
        assert_eq!(page.status, 403);
        redirect(&browser.get("accounts").await, "login");
    }

    #[tokio::test]
    async fn otp_asks_for_the_code_and_the_session_is_reused_later() {
        let mut browser = Browser::new().await;
        redirect(&browser.login("otp", "1234").await, "otp");
        redirect(&browser.get("accounts").await, "login");
        let form = browser.get("otp").await;
        assert!(form.body.contains("<form id=\"otp-form\" method=\"post\" action=\"otp\">"));
        assert!(form.body.contains("<input name=\"code\""));
        let token = csrf(&form.body);
        let page = browser.post("otp", &[("csrf", &token), ("code", "654321")]).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("<p class=\"error\">Code incorrect</p>") && page.body.contains("id=\"otp-form\""));
        assert_eq!(browser.post("otp", &[("csrf", "forged"), ("code", "123456")]).await.status, 403);
        redirect(&browser.post("otp", &[("csrf", &token), ("code", "123456")]).await, "accounts");
        // The next sync: a browser with the saved cookie goes straight to the accounts.
        let mut later = Browser::on(&browser.base);
        later.session = browser.session.clone();
        let page = later.get("accounts").await;
        assert_eq!((page.status, account_rows(&page.body).len()), (200, 3));
        redirect(&later.get("otp").await, "login");
    }

    #[tokio::test]
    async fn the_history_pages_show_every_booked_operation_once() {
        let mut browser = Browser::new().await;
        redirect(&browser.login("demo", "1234").await, "accounts");
        let accounts = account_rows(&browser.get("accounts").await.body);
        let today = today();
        let customer = Customer::new("demo", Profile::Plain, today);
        for (product, (id, _)) in customer.products(1).zip(&accounts) {
            let expected = customer.history(product, today, 0);
            let (mut seen, mut path, mut pages) = (Vec::new(), format!("history?account={id}"), 0);
            loop {
                let page = browser.get(&path).await;
                assert_eq!(page.status, 200);
                let rows = operations(&page.body, "operations");
                assert_eq!(page.body.contains("<table id=\"upcoming\">"), pages == 0);
                pages += 1;
                seen.extend(rows.iter().cloned());
                match next_link(&page.body) {
                    Some(next) => {
                        assert_eq!(rows.len(), PAGE_SIZE);
                        assert_eq!(next, format!("history?account={id}&page={}", pages + 1));
                        path = next;
                    }
                    None => break,
                }
            }
            assert_eq!(pages, expected.len().div_ceil(PAGE_SIZE).max(1));
            let refs: HashSet<_> = seen.iter().map(|(r, ..)| r.as_str()).collect();
            assert_eq!(refs.len(), seen.len());
            for ((webid, date, label, value), t) in seen.iter().zip(&expected) {
                assert_eq!(Some(webid), t.webid.as_ref());
                assert_eq!(date, &t.date.format("%d/%m/%Y").to_string());
                assert_eq!((label, parse_amount(value)), (&t.original_wording, t.value));
            }
            assert_eq!(seen.len(), expected.len());
        }
        assert_eq!(browser.get("history?account=nope").await.status, 404);
        assert_eq!(browser.get(&format!("history?account={}&page=0", accounts[0].0)).await.status, 404);
    }

    #[test]
    fn big_pages_follow_on_from_the_kept_cursors() {
        let (bank, today) = (WebBank::default(), today());
        let customer = Customer::new("big", Profile::Big, today);
        let (first, more) = bank.big_page(&customer, Product::Checking, today, 1);
        assert_eq!((first.len(), more), (PAGE_SIZE, true));
        let (third, _) = bank.big_page(&customer, Product::Checking, today, 3);
        let (all, _) =
            customer.booked_page(Product::Checking, NaiveDate::MIN, today, today, Cursor::default(), 3 * PAGE_SIZE);
        assert_eq!((&first[..], &third[..]), (&all[..PAGE_SIZE], &all[2 * PAGE_SIZE..]));
        // The history's last day ends a full page: no next page, and none beyond.
        let last_day = customer.day(Product::Checking, today - chrono::Days::new(364));
        let near_end = Cursor::parse(&format!("364-{}", last_day.len() - 2 * PAGE_SIZE)).unwrap();
        lock(&bank.cursors).1.insert(customer.webid(Product::Checking), vec![near_end]);
        let (one, more) = bank.big_page(&customer, Product::Checking, today, 1);
        assert_eq!((one.len(), more), (PAGE_SIZE, true));
        let (two, more) = bank.big_page(&customer, Product::Checking, today, 2);
        assert_eq!((&two[..], more), (&last_day[last_day.len() - PAGE_SIZE..], false));
        assert_eq!(bank.big_page(&customer, Product::Checking, today, 3), (Vec::new(), false));
    }

    #[tokio::test]
    async fn pending_operations_are_upcoming_then_booked() {
        let mut browser = Browser::new().await;
        redirect(&browser.login("pending", "1234").await, "accounts");
        let checking = account_rows(&browser.get("accounts").await.body)[0].0.clone();
        let first = browser.get(&format!("history?account={checking}")).await.body;
        let upcoming = operations(&first, "upcoming");
        assert_eq!(upcoming.len(), 4);
        assert!(upcoming.iter().all(|(r, _, label, _)| r.is_empty() && label.starts_with("CB PENDING SHOP")));
        // The second page belongs to the same read.
        let second_page = browser.get(&format!("history?account={checking}&page=2")).await.body;
        assert!(!second_page.contains("-PND-") && !second_page.contains("id=\"upcoming\""));
        let second = browser.get(&format!("history?account={checking}")).await.body;
        assert!(operations(&second, "upcoming").is_empty());
        let mut booked = Vec::new();
        let mut path = Some(format!("history?account={checking}"));
        while let Some(p) = path {
            let body = browser.get(&p).await.body;
            booked.extend(operations(&body, "operations").into_iter().filter(|(r, ..)| r.contains("-PND-")));
            path = next_link(&body);
        }
        assert_eq!(booked.len(), 3);
        assert!(booked.iter().all(|(_, _, label, _)| label.starts_with("CARTE ")));
    }

    #[tokio::test]
    async fn failing_logins_show_their_page() {
        let mut browser = Browser::new().await;
        let page = browser.login("unavailable", "1234").await;
        assert_eq!(page.status, 503);
        assert!(page.body.contains("<div id=\"maintenance\">Site en maintenance</div>"));
        redirect(&browser.login("actionneeded", "1234").await, "terms");
        let page = browser.get("terms").await;
        assert!(
            page.body.contains("<form id=\"terms-form\"")
                && page.body.contains("Acceptez les nouvelles conditions générales")
        );
        redirect(&browser.get("accounts").await, "login");
        redirect(&browser.login("bug", "1234").await, "accounts");
        let page = browser.get("accounts").await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("id=\"accounts\"") && !page.body.contains("class=\"account\""));
    }
}

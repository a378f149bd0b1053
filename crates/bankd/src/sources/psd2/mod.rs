//! PSD2 account information APIs: the `openapi` sources. One module per dialect — [`xs2a`]
//! (Berlin Group NextGenPSD2, most of Europe) and [`stet`] (French banks) — over what they share:
//! an HTTP client identified by the TPP's certificate ([`Api`]), the reading of a bank's errors
//! into connection states ([`classify`]), and the ISO 20022 mapping ([`mapping`]).
//!
//! A new dialect (the Polish API, UK Open Banking, …) is one more module here: its consent or
//! token dance in `login`, its JSON read into [`mapping::Entry`] and [`mapping::Balance`], and a
//! line in [`build`].

pub mod mapping;
pub mod oauth;
mod qwac;
pub mod registration;
pub mod signing;
pub mod stet;
pub mod xs2a;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use reqwest::header::{ACCEPT, DATE, HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::tls::TppTls;
use super::{Source, SourceError, SourceRequest, SourceResult, Timeouts, describe_http_error, retry_after};
use crate::catalog::{ApiSettings, PsuIpRule};

/// The most of one answer bankd reads: a page of transactions is far below it.
const MAX_BODY: usize = 32 << 20;
/// How much of an unreadable answer goes into the connection's log.
const EXCERPT: usize = 200;
/// A bank that pages further than this is looping.
const MAX_PAGES: usize = 10_000;
/// How far back a first read goes away from a strong authentication (`full_history_minutes`):
/// PSD2's RTS lets banks serve 90 days without one, and a day less keeps clear of their clocks.
const UNATTENDED_HISTORY_DAYS: u32 = 89;
/// A bank's zone when the catalog names none.
const DEFAULT_ZONE: chrono_tz::Tz = chrono_tz::Europe::Paris;

/// Builds the `name` driver (`xs2a` or `stet`) for the catalog source `id`; a STET source without
/// a `client_id` reads bankd's registration from `registrations`.
pub fn build(
    name: &str,
    id: i64,
    settings: &ApiSettings,
    own_url: &str,
    timeouts: Timeouts,
    registrations: Arc<dyn registration::Registrations>,
) -> Result<Arc<dyn Source>, String> {
    let dialect = if name == "xs2a" { signing::Dialect::Xs2a } else { signing::Dialect::Stet };
    let mut api = Api::new(settings, own_url, timeouts)?;
    api.signer = settings.signing.as_ref().map(|signing| signing::Signer::load(signing, dialect)).transpose()?;
    Ok(match name {
        "xs2a" => Arc::new(xs2a::Xs2a::new(api, settings)?),
        _ => Arc::new(stet::Stet::new(api, settings, id, registrations)?),
    })
}

/// How a driver reads an account's history: how far back, in which windows, and in which zone
/// the bank's date-times are.
#[derive(Debug, Clone)]
pub struct Reading {
    history_days: u32,
    max_window_days: Option<u32>,
    full_history_minutes: Option<u32>,
    pub zone: chrono_tz::Tz,
}

/// Days `from` to `to`, both included; `to: None` is an open end (the bank's today).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

impl Reading {
    pub fn new(settings: &ApiSettings) -> Result<Reading, String> {
        let zone = match &settings.timezone {
            Some(name) => name.parse().map_err(|_| format!("timezone '{name}' is not an IANA time zone"))?,
            None => DEFAULT_ZONE,
        };
        if settings.max_window_days.is_some_and(|days| days < 2) {
            return Err("max_window_days must be at least 2".into());
        }
        Ok(Reading {
            history_days: settings.history_days,
            max_window_days: settings.max_window_days,
            full_history_minutes: settings.full_history_minutes,
            zone,
        })
    }

    /// The first day to read: `since` when the account was read before; else the whole history
    /// (`history_days`), unless the bank gives it only shortly after a strong authentication
    /// (`full_history_minutes`) and the last one, `last_sca`, is older than that.
    pub fn first_day(
        &self,
        since: Option<NaiveDate>,
        now: DateTime<Utc>,
        last_sca: Option<DateTime<Utc>>,
    ) -> NaiveDate {
        if let Some(since) = since {
            return since;
        }
        let fresh = |minutes: u32| last_sca.is_some_and(|sca| now - sca < chrono::Duration::minutes(minutes.into()));
        let days = match self.full_history_minutes {
            Some(minutes) if !fresh(minutes) => self.history_days.min(UNATTENDED_HISTORY_DAYS),
            _ => self.history_days,
        };
        now.date_naive() - Days::new(u64::from(days))
    }

    /// The windows that cover `from` to `today`, oldest first: one open window when the bank
    /// serves any period, else slices of `max_window_days`. Each slice starts on the day the one
    /// before ends, so whether a bank's `dateTo` is inclusive or not, no day falls between two;
    /// [`Overlap`] drops what that shared day brings twice.
    pub fn windows(&self, from: NaiveDate, today: NaiveDate) -> Vec<Window> {
        let Some(max) = self.max_window_days else { return vec![Window { from, to: None }] };
        let span = Days::new(u64::from(max.max(2) - 1));
        let mut windows = Vec::new();
        let mut start = from;
        loop {
            let end = start + span;
            if end >= today {
                windows.push(Window { from: start, to: Some(today) });
                return windows;
            }
            windows.push(Window { from: start, to: Some(end) });
            start = end;
        }
    }
}

/// Joins the windows of one read without the rows the bank sends twice (those of the day two
/// windows share): of entries with one key — the bank's id, else their whole content — a window
/// adds only those beyond what an earlier window brought. Two identical coffees of one day stay
/// two; the same two seen again in the next window add nothing.
#[derive(Default)]
pub struct Overlap {
    kept: HashMap<String, usize>,
    in_window: HashMap<String, usize>,
}

impl Overlap {
    /// The next window starts.
    pub fn next_window(&mut self) {
        self.in_window.clear();
    }

    /// Whether the window's entry under `key` is one no earlier window brought.
    pub fn keep(&mut self, key: String) -> bool {
        let seen = self.in_window.entry(key.clone()).or_default();
        *seen += 1;
        let kept = self.kept.entry(key).or_default();
        if *seen > *kept {
            *kept = *seen;
            true
        } else {
            false
        }
    }
}

/// An HTTP client for one bank's API.
pub struct Api {
    client: reqwest::Client,
    /// The API's base (no trailing slash); endpoints are appended to it.
    base: String,
    timeouts: Timeouts,
    /// Signs every request, for a bank that requires HTTP message signatures.
    signer: Option<signing::Signer>,
    /// What the catalog says every call to this bank carries.
    extra: Extra,
}

/// The headers a bank's catalog entry adds to every call (`headers`, `date_header`, `accept_json`,
/// `psu_ip_address`).
#[derive(Default)]
struct Extra {
    headers: Vec<(HeaderName, HeaderValue)>,
    date: bool,
    accept_json: bool,
    psu_ip: PsuIpRule,
    psu_ip_fallback: Option<String>,
}

impl Extra {
    fn new(settings: &ApiSettings) -> Result<Extra, String> {
        let mut headers = Vec::new();
        for (name, value) in &settings.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header '{name}': {e}"))?;
            if OWN_HEADERS.contains(&header.as_str()) {
                return Err(format!("header '{name}' is bankd's to send: see the api settings that shape it"));
            }
            let value = HeaderValue::from_str(&expand_env(value, |var| std::env::var(var).ok())?)
                .map_err(|e| format!("header '{name}': {e}"))?;
            headers.push((header, value));
        }
        if settings.psu_ip_address == PsuIpRule::Always && settings.psu_ip_fallback.is_none() {
            return Err("psu_ip_address = \"always\" needs psu_ip_fallback, the address sent without the user".into());
        }
        Ok(Extra {
            headers,
            date: settings.date_header,
            accept_json: settings.accept_json,
            psu_ip: settings.psu_ip_address,
            psu_ip_fallback: settings.psu_ip_fallback.map(|ip| ip.to_string()),
        })
    }

    /// The `PSU-IP-Address` a call carries, if any.
    fn psu_ip<'a>(&'a self, source: &'a SourceRequest) -> Option<&'a str> {
        let present = source.input.psu_ip.as_deref().filter(|_| !source.unattended);
        match self.psu_ip {
            PsuIpRule::WhenPresent => present,
            PsuIpRule::Always => present.or(self.psu_ip_fallback.as_deref()),
            PsuIpRule::Never => None,
        }
    }
}

/// Headers bankd sets itself (some through a setting): `headers` may not send a second one.
const OWN_HEADERS: [&str; 10] = [
    "x-request-id",
    "consent-id",
    "psu-id",
    "psu-id-type",
    "psu-ip-address",
    "date",
    "accept",
    "authorization",
    "content-type",
    "tpp-redirect-uri",
];

/// `text` with each `${NAME}` replaced by the environment variable `NAME`; an unset one is an error,
/// so that a bank is not called with a half-made key.
fn expand_env(text: &str, var: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else { return Err(format!("'{text}': an unclosed ${{")) };
        let name = &rest[start + 2..start + end];
        out.push_str(&var(name).ok_or_else(|| format!("'{text}': the environment variable {name} is not set"))?);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The TPP's identity and trust, from the catalog's PEM files.
fn client(settings: &ApiSettings, timeouts: Timeouts) -> Result<reqwest::Client, String> {
    let builder = timeouts
        .apply(reqwest::Client::builder())
        .user_agent(concat!("bankd/", env!("CARGO_PKG_VERSION")))
        // A bank's API answers where it is asked; a redirect would carry our headers elsewhere.
        .redirect(reqwest::redirect::Policy::none());
    TppTls::load(settings)?.apply(builder).build().map_err(|e| format!("building the HTTP client: {e}"))
}

impl Api {
    pub fn new(settings: &ApiSettings, own_url: &str, timeouts: Timeouts) -> Result<Api, String> {
        let base = match settings.base_url.strip_prefix('/') {
            Some(path) => format!("{}/{path}", own_url.trim_end_matches('/')),
            None => settings.base_url.clone(),
        };
        Url::parse(&base).map_err(|e| format!("base_url '{base}': {e}"))?;
        Ok(Api {
            client: client(settings, timeouts)?,
            base: base.trim_end_matches('/').to_owned(),
            timeouts,
            signer: None,
            extra: Extra::new(settings)?,
        })
    }

    /// The client itself (the TPP's identity, no redirects), for calls outside an account read.
    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }

    /// An endpoint of the API (`/v1/accounts`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `url` (a link the bank handed out, or an endpoint) with `pairs` added to its query.
    pub fn with_query(&self, url: &str, pairs: &[(&str, &str)]) -> String {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{}", crate::sources::encode_pairs(pairs))
    }

    /// A link the bank handed out: absolute, or relative to the API's host.
    pub fn href(&self, href: &str) -> SourceResult<String> {
        let base = Url::parse(&self.base).map_err(|e| SourceError::Bug(e.to_string()))?;
        let url = base.join(href).map_err(|e| SourceError::Bug(format!("the bank sent a bad link '{href}': {e}")))?;
        Ok(url.to_string())
    }

    /// A request with the headers every PSD2 call carries: a fresh `X-Request-ID`, the PSU's IP
    /// address when the PSU is present (an unattended read sends none, as the standards expect,
    /// unless the catalog's `psu_ip_address` says otherwise), and the catalog's extra headers. The
    /// `Date` of `date_header` is set here, once: a signature that covers `Date` must sign this one
    /// rather than add its own.
    ///
    /// The X-Request-ID stays a fresh UUID rather than bankd's request id: Berlin Group and STET
    /// require a UUID, unique per call, and bankd's id is an integer shared by every call of a sync.
    /// Dressing it as a UUID would break uniqueness, so the link is made in the log instead: this
    /// line carries the UUID and, through the job's span, the `request_id` that asked for the sync.
    pub fn request(&self, method: Method, url: &str, source: &SourceRequest) -> RequestBuilder {
        let x_request_id = uuid::Uuid::new_v4().to_string();
        tracing::debug!(%method, url = loggable(url), x_request_id, "PSD2 call");
        let mut request = self.client.request(method, url).header("X-Request-ID", x_request_id);
        if let Some(ip) = self.extra.psu_ip(source) {
            request = request.header("PSU-IP-Address", ip);
        }
        if self.extra.accept_json {
            request = request.header(ACCEPT, "application/json");
        }
        if self.extra.date {
            request = request.header(DATE, chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string());
        }
        for (name, value) in &self.extra.headers {
            request = request.header(name, value);
        }
        request
    }

    /// Sends the request and reads the answer, whatever its status.
    pub async fn send(&self, request: RequestBuilder) -> SourceResult<Answer> {
        let mut request = request.build().map_err(|e| SourceError::Bug(format!("building a request: {e}")))?;
        let what = format!("{} {}", request.method(), request.url().path());
        if let Some(signer) = &self.signer {
            signer
                .sign(&mut request, chrono::Utc::now())
                .map_err(|e| SourceError::Bug(format!("signing {what}: {e}")))?;
        }
        let mut response = self.client.execute(request).await.map_err(|e| self.unreachable(&what, &e))?;
        let (status, headers) = (response.status(), response.headers().clone());
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable(&what, &e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err(SourceError::Bug(format!("{what}: the answer is over {MAX_BODY} bytes")));
            }
        }
        Ok(Answer { status, headers, body, what })
    }

    /// A bank that could not be reached or did not finish answering: down, as far as this sync
    /// is concerned. The message names the call and what broke, for the connection's log.
    fn unreachable(&self, what: &str, e: &reqwest::Error) -> SourceError {
        let why = describe_http_error(e, &self.timeouts);
        tracing::warn!(request = what, error = %why, "the bank did not answer");
        SourceError::WebsiteUnavailable { message: Some(format!("The bank's API did not answer {what}: {why}")) }
    }

    /// Sends a request to a link the bank handed out: when it answers 404 and the link's path is
    /// not under the API's base, it is sent once more under the base ([`Api::rebased`]) — some
    /// banks write their links under a path prefix their API is not served at.
    pub async fn send_link(&self, request: RequestBuilder) -> SourceResult<Answer> {
        let (client, request) = request.build_split();
        let request = request.map_err(|e| SourceError::Bug(format!("building a request: {e}")))?;
        let retry = request.try_clone().and_then(|mut retry| {
            *retry.url_mut() = self.rebased(retry.url())?;
            // Each call has its own X-Request-ID.
            let fresh = uuid::Uuid::new_v4().to_string().parse().ok()?;
            retry.headers_mut().insert("X-Request-ID", fresh);
            Some(retry)
        });
        let answer = self.send(RequestBuilder::from_parts(client.clone(), request)).await?;
        match retry {
            Some(retry) if answer.status == StatusCode::NOT_FOUND => {
                tracing::info!(
                    url = loggable(retry.url().as_str()),
                    "the bank's link is not served: tried under base_url"
                );
                self.send(RequestBuilder::from_parts(client, retry)).await
            }
            _ => Ok(answer),
        }
    }

    /// `url` under the API's base when its path is not: the part of its path from the API's
    /// version segment (`/v1/…`) — or after it, when the base ends with one (STET's
    /// `…/stet/psd2/v1`) — appended to the base. None for a URL under the base, or elsewhere.
    fn rebased(&self, url: &Url) -> Option<Url> {
        let base = Url::parse(&self.base).ok()?;
        if url.origin() != base.origin() || url.path().starts_with(&format!("{}/", base.path().trim_end_matches('/'))) {
            return None;
        }
        let is_version = |s: &str| s.len() > 1 && s.starts_with('v') && s[1..].chars().all(|c| c.is_ascii_digit());
        let base_version = base.path_segments()?.next_back().filter(|last| is_version(last)).map(str::to_owned);
        let segments: Vec<&str> = url.path_segments()?.collect();
        let at = match &base_version {
            Some(version) => segments.iter().position(|s| s == version)? + 1,
            None => segments.iter().position(|s| is_version(s))?,
        };
        let mut rebased = base.clone();
        rebased.set_path(&format!("{}/{}", base.path().trim_end_matches('/'), segments[at..].join("/")));
        rebased.set_query(url.query());
        (rebased != *url).then_some(rebased)
    }

    /// Sends the request and reads a successful answer as `T`; any other answer is an error.
    pub async fn call<T: DeserializeOwned>(&self, request: RequestBuilder) -> SourceResult<T> {
        let answer = self.send_link(request).await?;
        if !answer.status.is_success() {
            return Err(answer.error());
        }
        answer.json()
    }
}

/// A bank URL as the log shows it: without its query, and with the path's ids (`{id}`) — a consent
/// id in a path (`/v1/consents/{consentId}`) is one of what opens the person's data.
fn loggable(url: &str) -> String {
    let Ok(url) = Url::parse(url) else { return "(not a URL)".into() };
    let is_id =
        |segment: &&str| segment.len() >= 20 || (segment.len() >= 8 && segment.chars().any(|c| c.is_ascii_digit()));
    let segments = url.path_segments().into_iter().flatten();
    let path: String = segments.map(|segment| format!("/{}", if is_id(&segment) { "{id}" } else { segment })).collect();
    format!("{}{path}", url.origin().ascii_serialization())
}

/// Where bankd reads an account at its bank: the bank's `resourceId`, and the transactions link
/// it gave. Kept in the source's state by webid, from one listing to the next read.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Resource {
    pub id: String,
    pub transactions: Option<String>,
}

impl Resource {
    /// The account `webid` of the last listing.
    pub fn of(accounts: &BTreeMap<String, Resource>, webid: &str) -> SourceResult<Resource> {
        let missing = || SourceError::Bug(format!("the bank did not list the account {webid}"));
        accounts.get(webid).cloned().ok_or_else(missing)
    }

    /// The first page of the account's transactions in `window`: the standard's path on the API's
    /// base (`endpoint`, `{id}` standing for the resource id) — not the link the account listing
    /// gave, which some banks write under a prefix their API is not served at — with the
    /// dialect's `query`, `dateFrom` and, for a closed window, `dateTo`.
    pub fn transactions_url(&self, api: &Api, endpoint: &str, window: Window, query: &[(&str, &str)]) -> String {
        let base = api.endpoint(&endpoint.replace("{id}", &self.id));
        let (from, to) = (window.from.to_string(), window.to.map(|to| to.to_string()));
        let mut pairs = [query, &[("dateFrom", from.as_str())]].concat();
        if let Some(to) = &to {
            pairs.push(("dateTo", to));
        }
        api.with_query(&base, &pairs)
    }
}

/// The entries of a camt.052 (or .053) account report, read by bankd's statement parser.
pub fn camt_entries(answer: &Answer) -> SourceResult<Vec<statements::Entry>> {
    let mut entries = Vec::new();
    let mut sink = |event| {
        if let statements::Event::Entry(entry) = event {
            entries.push(entry);
        }
    };
    statements::parse(statements::Format::Camt, answer.body.as_slice(), &statements::Options::default(), &mut sink)
        .map_err(|e| answer.unexpected(&format!("the camt report cannot be read: {e}")))?;
    Ok(entries)
}

/// What makes two camt entries of overlapping windows one: the bank's reference and day, else
/// everything about them.
pub fn camt_key(entry: &statements::Entry) -> String {
    match &entry.reference {
        Some(reference) => format!("ref:{}:{reference}", entry.booking_date),
        None => format!("{entry:?}"),
    }
}

/// The pages of a paginated read, from a first URL through each page's `_links.next`. A link that
/// comes back (or an endless run of them) stops the read with a `bug` instead of looping.
pub struct Pages {
    next: Option<String>,
    seen: HashSet<String>,
}

impl Pages {
    pub fn new(first: String) -> Pages {
        Pages { next: Some(first), seen: HashSet::new() }
    }

    /// The URL to read next, if any.
    pub fn next_url(&mut self) -> SourceResult<Option<String>> {
        let Some(url) = self.next.take() else { return Ok(None) };
        if !self.seen.insert(url.clone()) || self.seen.len() > MAX_PAGES {
            return Err(SourceError::Bug(format!("the bank's pages loop back to {url}")));
        }
        Ok(Some(url))
    }

    /// Takes the `next` link of the page just read.
    pub fn follow(&mut self, api: &Api, links: &BTreeMap<String, Value>) -> SourceResult<()> {
        self.next = link_href(links, "next").map(|href| api.href(&href)).transpose()?;
        Ok(())
    }
}

/// The `href` of a link in a `_links` object; a few banks send the bare string.
fn link_href(links: &BTreeMap<String, Value>, name: &str) -> Option<String> {
    let link = links.get(name)?;
    link.get("href").and_then(Value::as_str).or(link.as_str()).map(str::to_owned)
}

/// A bank's answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Method and path, for messages.
    pub what: String,
}

impl Answer {
    /// The body as `T`; anything else is a `bug` that says where and shows the first bytes.
    pub fn json<T: DeserializeOwned>(&self) -> SourceResult<T> {
        serde_json::from_slice(&self.body).map_err(|e| self.unexpected(&e.to_string()))
    }

    pub fn unexpected(&self, why: &str) -> SourceError {
        // Control characters (a NUL in a garbled answer) are replaced: PostgreSQL's text refuses
        // NUL, and the log line must be stored whatever the bank sent.
        let excerpt: String = String::from_utf8_lossy(&self.body)
            .chars()
            .take(EXCERPT)
            .map(|c| if c.is_control() { char::REPLACEMENT_CHARACTER } else { c })
            .collect();
        let body = if excerpt.is_empty() {
            "the answer was empty".to_owned()
        } else {
            format!("the answer began with: {excerpt}")
        };
        SourceError::Bug(format!("{} answered {}: {why}; {body}", self.what, self.status.as_u16()))
    }

    /// The bank's error codes (`tppMessages[].code`, RFC 7807's `code` and `additionalErrors`,
    /// STET's `error`), and its first human-readable text.
    pub fn codes(&self) -> (Vec<String>, Option<String>) {
        let Ok(body) = serde_json::from_slice::<Value>(&self.body) else { return (Vec::new(), None) };
        let mut codes = Vec::new();
        let mut text = None;
        let mut read = |item: &Value| {
            if let Some(code) = item.get("code").or(item.get("error")).and_then(Value::as_str) {
                codes.push(code.to_owned());
            }
            let said = ["text", "detail", "message", "error_description", "title"]
                .iter()
                .find_map(|key| item.get(*key).and_then(Value::as_str));
            text = text.take().or(said.map(str::to_owned));
        };
        read(&body);
        for list in ["tppMessages", "additionalErrors"] {
            body.get(list).and_then(Value::as_array).into_iter().flatten().for_each(&mut read);
        }
        (codes, text)
    }

    /// What an unsuccessful answer means for the connection.
    pub fn error(&self) -> SourceError {
        let (codes, text) = self.codes();
        let retry_after = self.headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry_after);
        if self.status.is_redirection() {
            // A PSD2 API answers where it is asked: bankd does not follow (our headers would go
            // along), so a redirect — a loop or not — is a misconfigured base URL or a broken bank.
            let location = self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("nowhere");
            return self.unexpected(&format!("a redirect to {location}, which a PSD2 API must not answer"));
        }
        match classify(self.status, &codes, text.clone(), retry_after) {
            // The call and its status go into the message: the connection's log then says which
            // call the bank refused, and how.
            Some(SourceError::WebsiteUnavailable { message }) => {
                SourceError::WebsiteUnavailable { message: Some(self.named(message)) }
            }
            Some(SourceError::RateLimited { retry_after, message }) => {
                let wait = retry_after.map(|wait| format!(" (Retry-After: {} s)", wait.as_secs())).unwrap_or_default();
                SourceError::RateLimited { retry_after, message: Some(format!("{}{wait}", self.named(message))) }
            }
            Some(SourceError::Bug(message)) => SourceError::Bug(self.named(Some(message))),
            Some(other) => other,
            // The bank's own words say best what it wanted (a header, a format).
            None => self.unexpected(text.as_deref().unwrap_or("unexpected error")),
        }
    }

    /// `message`, after the call and the status that answered it.
    fn named(&self, message: Option<String>) -> String {
        let status = self.status.as_u16();
        format!("{} answered {status}: {}", self.what, message.unwrap_or_default())
    }
}

/// The bank refused the request's signature or the certificate that made it: bankd's
/// configuration (`[connector.source.api.signing]`) or the bank's, never the user's to fix.
const SIGNATURE_CODES: [&str; 6] = [
    "SIGNATURE_INVALID",
    "SIGNATURE_MISSING",
    "CERTIFICATE_INVALID",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_BLOCKED",
    "CERTIFICATE_MISSING",
];

/// Consent problems: the PSU must authenticate again.
const CONSENT_CODES: [&str; 4] = ["CONSENT_EXPIRED", "CONSENT_INVALID", "CONSENT_UNKNOWN", "TOKEN_EXPIRED"];

/// The connection state an error answer leads to; `None` when it says nothing bankd can act on
/// (a defect on one side or the other: `bug`).
pub fn classify(
    status: StatusCode,
    codes: &[String],
    text: Option<String>,
    retry_after: Option<Duration>,
) -> Option<SourceError> {
    let has = |wanted: &[&str]| codes.iter().any(|c| wanted.contains(&c.as_str()));
    if let Some(code) = codes.iter().find(|c| SIGNATURE_CODES.contains(&c.as_str())) {
        // Before the 401 below: reconnecting would only be refused the same way.
        let said = text.map(|text| format!(": {text}")).unwrap_or_default();
        return Some(SourceError::Bug(format!(
            "the bank refused bankd's request signature ({code}{said}); check [connector.source.api.signing]"
        )));
    }
    if status == StatusCode::TOO_MANY_REQUESTS || has(&["ACCESS_EXCEEDED"]) {
        let message = text.or_else(|| Some("The bank limits how often accounts may be read".into()));
        return Some(SourceError::RateLimited { retry_after, message });
    }
    if has(&CONSENT_CODES) || status == StatusCode::UNAUTHORIZED || has(&["invalid_token", "invalid_grant"]) {
        let message = text.or_else(|| Some("The bank's consent is no longer valid: reconnect".into()));
        return Some(SourceError::ScaRequired { message });
    }
    if status.is_server_error() || has(&["SERVICE_UNAVAILABLE"]) {
        let message = text.or_else(|| Some("The bank's API is unavailable".into()));
        return Some(SourceError::WebsiteUnavailable { message });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::states::ConnectionState;

    #[test]
    fn logged_urls_keep_no_id_and_no_query() {
        let url = "https://bank.example:8443/psd2/v1/consents/0nI673J9A94GLl_hhAx5KRF1klceQcQo/status?x=secret";
        assert_eq!(loggable(url), "https://bank.example:8443/psd2/v1/consents/{id}/status");
        assert_eq!(
            loggable("https://bank.example/v1/accounts/acc-12345678/transactions"),
            "https://bank.example/v1/accounts/{id}/transactions"
        );
        assert_eq!(loggable("not a url"), "(not a URL)");
    }

    fn answer(status: u16, body: &str, retry: Option<&str>) -> Answer {
        let mut headers = HeaderMap::new();
        if let Some(retry) = retry {
            headers.insert(RETRY_AFTER, retry.parse().unwrap());
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.as_bytes().to_vec(),
            what: "GET /v1/accounts".into(),
        }
    }

    #[test]
    fn errors_of_both_shapes_map_to_connection_states() {
        let tpp = |code: &str| format!(r#"{{"tppMessages":[{{"category":"ERROR","code":"{code}","text":"said"}}]}}"#);
        let rfc7807 =
            |code: &str| format!(r#"{{"type":"https://berlin-group.org/x","code":"{code}","detail":"said"}}"#);
        let cases = [
            (401, tpp("CONSENT_EXPIRED"), ConnectionState::ScaRequired),
            (401, rfc7807("CONSENT_INVALID"), ConnectionState::ScaRequired),
            (403, tpp("CONSENT_UNKNOWN"), ConnectionState::ScaRequired),
            (401, "".to_owned(), ConnectionState::ScaRequired),
            (401, tpp("SIGNATURE_MISSING"), ConnectionState::Bug),
            (401, rfc7807("SIGNATURE_INVALID"), ConnectionState::Bug),
            (401, tpp("CERTIFICATE_EXPIRED"), ConnectionState::Bug),
            (429, tpp("ACCESS_EXCEEDED"), ConnectionState::RateLimiting),
            (429, "".to_owned(), ConnectionState::RateLimiting),
            (503, "<html>down</html>".to_owned(), ConnectionState::WebsiteUnavailable),
            (500, rfc7807("INTERNAL_SERVER_ERROR"), ConnectionState::WebsiteUnavailable),
            (400, tpp("FORMAT_ERROR"), ConnectionState::Bug),
            (404, "not json".to_owned(), ConnectionState::Bug),
        ];
        for (status, body, state) in cases {
            assert_eq!(answer(status, &body, None).error().state(), state, "{status} {body}");
        }
        assert_eq!(answer(401, &tpp("CONSENT_EXPIRED"), None).error().message().as_deref(), Some("said"));
    }

    #[test]
    fn header_values_read_the_environment() {
        let env = |name: &str| (name == "BANK_KEY").then(|| "s3cret".to_owned());
        assert_eq!(expand_env("Key ${BANK_KEY}!", env).unwrap(), "Key s3cret!");
        assert_eq!(expand_env("plain", env).unwrap(), "plain");
        assert!(expand_env("${MISSING}", env).unwrap_err().contains("MISSING is not set"));
        assert!(expand_env("${BANK_KEY", env).unwrap_err().contains("unclosed"));
        let always: ApiSettings =
            toml::from_str("base_url = \"https://bank.example\"\npsu_ip_address = \"always\"").unwrap();
        assert!(Api::new(&always, "", Timeouts::default()).err().unwrap().contains("psu_ip_fallback"));
        let twice: ApiSettings =
            toml::from_str("base_url = \"https://bank.example\"\nheaders = { Date = \"today\" }").unwrap();
        assert!(Api::new(&twice, "", Timeouts::default()).err().unwrap().contains("bankd's to send"));
    }

    #[test]
    fn pages_follow_next_links_and_stop_when_one_comes_back() {
        let settings: ApiSettings = toml::from_str("base_url = \"https://bank.example/psd2\"").unwrap();
        let api = Api::new(&settings, "", Timeouts::default()).unwrap();
        let links = |next: &str| BTreeMap::from([("next".to_owned(), serde_json::json!({ "href": next }))]);
        let mut pages = Pages::new(api.endpoint("/accounts"));
        assert_eq!(pages.next_url().unwrap().as_deref(), Some("https://bank.example/psd2/accounts"));
        pages.follow(&api, &links("/psd2/accounts?page=2")).unwrap();
        assert_eq!(pages.next_url().unwrap().as_deref(), Some("https://bank.example/psd2/accounts?page=2"));
        pages.follow(&api, &links("https://bank.example/psd2/accounts")).unwrap();
        assert!(matches!(pages.next_url(), Err(SourceError::Bug(why)) if why.contains("loop back")));
        let mut last = Pages::new(api.endpoint("/accounts"));
        last.next_url().unwrap();
        last.follow(&api, &BTreeMap::new()).unwrap();
        assert_eq!(last.next_url().unwrap(), None);
    }

    fn settings(extra: &str) -> ApiSettings {
        toml::from_str(&format!("base_url = \"https://bank.example/sandbox/xs2a\"\n{extra}")).unwrap()
    }

    fn day(month: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, month, d).unwrap()
    }

    #[test]
    fn windows_cover_every_day_each_sharing_its_first_with_the_one_before() {
        let open = Reading::new(&settings("")).unwrap();
        assert_eq!(open.windows(day(1, 1), day(11, 20)), [Window { from: day(1, 1), to: None }]);
        let windowed = Reading::new(&settings("max_window_days = 90")).unwrap();
        let windows = windowed.windows(day(1, 1), day(11, 20));
        assert_eq!(windows[0], Window { from: day(1, 1), to: Some(day(3, 31)) });
        assert_eq!(windows[1].from, day(3, 31));
        assert!(windows.windows(2).all(|w| w[0].to == Some(w[1].from)));
        assert!(windows.iter().all(|w| (w.to.unwrap() - w.from).num_days() <= 89));
        assert_eq!(windows.last().unwrap().to, Some(day(11, 20)));
        assert_eq!(windowed.windows(day(11, 1), day(11, 20)), [Window { from: day(11, 1), to: Some(day(11, 20)) }]);
        assert!(Reading::new(&settings("max_window_days = 1")).is_err());
        assert!(Reading::new(&settings("timezone = \"Europe/Pariss\"")).unwrap_err().contains("Europe/Pariss"));
    }

    #[test]
    fn the_full_history_is_read_only_right_after_a_strong_authentication() {
        let now = day(11, 20).and_hms_opt(12, 0, 0).unwrap().and_utc();
        let reading = Reading::new(&settings("full_history_minutes = 20")).unwrap();
        let (fresh, stale) = (Some(now - chrono::Duration::minutes(5)), Some(now - chrono::Duration::minutes(25)));
        assert_eq!(reading.first_day(None, now, fresh), day(11, 20) - Days::new(730));
        assert_eq!(reading.first_day(None, now, stale), day(11, 20) - Days::new(89));
        assert_eq!(reading.first_day(None, now, None), day(11, 20) - Days::new(89));
        assert_eq!(reading.first_day(Some(day(11, 1)), now, None), day(11, 1), "a later sync reads from `since`");
        let always = Reading::new(&settings("")).unwrap();
        assert_eq!(always.first_day(None, now, None), day(11, 20) - Days::new(730));
    }

    #[test]
    fn overlapping_windows_keep_each_entry_once_and_identical_ones_as_often_as_a_window_has_them() {
        let mut overlap = Overlap::default();
        let kept = |overlap: &mut Overlap, keys: &[&str]| keys.iter().filter(|k| overlap.keep(k.to_string())).count();
        assert_eq!(kept(&mut overlap, &["id:1", "coffee", "coffee"]), 3);
        overlap.next_window();
        // The shared day again: its id and both coffees are known; a third coffee is new.
        assert_eq!(kept(&mut overlap, &["id:1", "coffee", "coffee", "coffee", "id:2"]), 2);
    }

    #[test]
    fn a_link_under_another_prefix_is_rebased_from_its_version_segment() {
        let api = Api::new(&settings(""), "", Timeouts::default()).unwrap();
        let rebased = |url: &str| api.rebased(&Url::parse(url).unwrap()).map(|u| u.to_string());
        assert_eq!(
            rebased("https://bank.example/psd2/v1/accounts/a1/transactions?page=2").as_deref(),
            Some("https://bank.example/sandbox/xs2a/v1/accounts/a1/transactions?page=2")
        );
        assert_eq!(rebased("https://bank.example/sandbox/xs2a/v1/accounts"), None, "already under the base");
        assert_eq!(rebased("https://other.example/psd2/v1/accounts"), None, "another host");
        assert_eq!(rebased("https://bank.example/psd2/accounts"), None, "no version to rebase from");
        let stet: ApiSettings = toml::from_str("base_url = \"https://bank.example/stet/psd2/v1\"").unwrap();
        let stet = Api::new(&stet, "", Timeouts::default()).unwrap();
        assert_eq!(
            stet.rebased(&Url::parse("https://bank.example/api/v1/accounts?page=2").unwrap()).map(|u| u.to_string()),
            Some("https://bank.example/stet/psd2/v1/accounts?page=2".to_owned())
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        let error = answer(429, "", Some("120")).error();
        assert_eq!(
            error,
            SourceError::RateLimited { retry_after: Some(Duration::from_secs(120)), message: error.message() }
        );
        let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc2822();
        let Some(after) = retry_after(&later) else { panic!("an HTTP date") };
        assert!((3590..=3600).contains(&after.as_secs()), "{after:?}");
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn an_unreadable_answer_is_a_bug_naming_the_request_and_its_first_bytes() {
        let long = format!("<html>{}</html>", "x".repeat(500));
        let err = answer(200, &long, None).json::<Value>().unwrap_err();
        let SourceError::Bug(detail) = &err else { panic!("{err:?}") };
        assert!(detail.starts_with("GET /v1/accounts answered 200: ") && detail.contains("began with: <html>xxx"));
        assert!(detail.len() < 400, "only the first bytes: {detail}");
    }
}

#[cfg(test)]
mod mtls {
    use super::*;
    use crate::sources::UserInput;
    use crate::sources::tls::testing::TlsBank;

    fn request() -> SourceRequest {
        SourceRequest {
            credentials: Default::default(),
            input: UserInput::default(),
            webauth_callback: String::new(),
            webauth_state: String::new(),
            now: chrono::Utc::now(),
            unattended: true,
        }
    }

    #[tokio::test]
    async fn the_tpp_certificate_is_presented_to_a_bank_that_requires_one() {
        let bank = TlsBank::start().await;
        let settings = |with_identity: bool| {
            let text = format!("base_url = \"https://localhost:{}/psd2\"\n{}", bank.port, bank.settings(with_identity));
            toml::from_str::<ApiSettings>(&text).unwrap()
        };

        let api = Api::new(&settings(true), "http://unused", Timeouts::default()).unwrap();
        let answer: Value =
            api.call(api.request(Method::GET, &api.endpoint("/v1/accounts"), &request())).await.unwrap();
        assert_eq!(answer, serde_json::json!({}));
        let anonymous = Api::new(&settings(false), "http://unused", Timeouts::default()).unwrap();
        let refused = anonymous
            .call::<Value>(anonymous.request(Method::GET, &anonymous.endpoint("/v1/accounts"), &request()))
            .await;
        assert!(matches!(refused, Err(SourceError::WebsiteUnavailable { .. })), "{refused:?}");
    }

    #[test]
    fn an_unusable_identity_stops_bankd_at_start() {
        let parse = |text: &str| toml::from_str::<ApiSettings>(text).unwrap();
        let missing = parse(
            "base_url = \"https://bank.example\"\ncertificate = \"/nonexistent.pem\"\nprivate_key = \"/nonexistent.key\"",
        );
        assert!(Api::new(&missing, "", Timeouts::default()).err().unwrap().contains("reading /nonexistent.pem"));
        let half = parse("base_url = \"https://bank.example\"\ncertificate = \"/nonexistent.pem\"");
        assert_eq!(Api::new(&half, "", Timeouts::default()).err().unwrap(), "certificate and private_key go together");
        let bad_key = parse(&format!(
            "base_url = \"https://bank.example\"\n[signing]\ncertificate = \"{0}/tpp.pem\"\nprivate_key = \"{0}/other.key\"",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/psd2-signing")
        ));
        let no_registrations = Arc::new(registration::NoRegistrations);
        let refused = build("xs2a", 1, &bad_key, "", Timeouts::default(), no_registrations).err().unwrap();
        assert!(refused.contains("other.key is not the key of") && refused.contains("tpp.pem"), "{refused}");
        assert!(
            Api::new(&parse("base_url = \"not a url\""), "", Timeouts::default())
                .err()
                .unwrap()
                .starts_with("base_url")
        );
    }
}

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
pub mod stet;
pub mod xs2a;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
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

/// Builds the `name` driver (`xs2a` or `stet`) for a catalog source.
pub fn build(name: &str, settings: &ApiSettings, own_url: &str, timeouts: Timeouts) -> Result<Arc<dyn Source>, String> {
    let api = Api::new(settings, own_url, timeouts)?;
    Ok(match name {
        "xs2a" => Arc::new(xs2a::Xs2a::new(api, settings)?),
        _ => Arc::new(stet::Stet::new(api, settings)?),
    })
}

/// An HTTP client for one bank's API.
pub struct Api {
    client: reqwest::Client,
    /// The API's base (no trailing slash); endpoints are appended to it.
    base: String,
    timeouts: Timeouts,
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
        let extra = Extra::new(settings)?;
        Ok(Api { client: client(settings, timeouts)?, base: base.trim_end_matches('/').to_owned(), timeouts, extra })
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
        let request = request.build().map_err(|e| SourceError::Bug(format!("building a request: {e}")))?;
        let what = format!("{} {}", request.method(), request.url().path());
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

    /// Sends the request and reads a successful answer as `T`; any other answer is an error.
    pub async fn call<T: DeserializeOwned>(&self, request: RequestBuilder) -> SourceResult<T> {
        let answer = self.send(request).await?;
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

    /// The first page of the account's transactions from `since` (else `history_days` ago): the
    /// bank's link, else `endpoint` (the standard's path, `{id}` standing for the resource id),
    /// with `dateFrom` and the dialect's `query`.
    pub fn transactions_url(
        &self,
        api: &Api,
        endpoint: &str,
        since: Option<NaiveDate>,
        request: &SourceRequest,
        history_days: u32,
        query: &[(&str, &str)],
    ) -> SourceResult<String> {
        let base = match &self.transactions {
            Some(href) => api.href(href)?,
            None => api.endpoint(&endpoint.replace("{id}", &self.id)),
        };
        let from = since.unwrap_or(request.now.date_naive() - chrono::Days::new(u64::from(history_days)));
        let from = from.to_string();
        Ok(api.with_query(&base, &[query, &[("dateFrom", from.as_str())]].concat()))
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
        assert!(
            Api::new(&parse("base_url = \"not a url\""), "", Timeouts::default())
                .err()
                .unwrap()
                .starts_with("base_url")
        );
    }
}

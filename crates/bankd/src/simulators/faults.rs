//! Fault switches for every simulated bank: a test (or a TPP developer) arms a fault on one bank
//! (`xs2a`, `stet`, `web`, `fints`), and that bank's next answers misbehave the way real banks do, for real
//! on the wire — a late answer, a 5xx, a 429 with `Retry-After`, a body cut short or garbled, a
//! connection dropped mid-body, a redirect to itself.
//!
//! The switch is `PUT /sandbox/faults/{bank}` with `{"fault": "...", "path": "..."}` (`path`: only
//! requests whose path contains it) and `DELETE /sandbox/faults/{bank}` to clear it. It exists only
//! when `BANKD_SANDBOX_FAULTS` is on: a public sandbox must not let one visitor break everyone's
//! banks. Faults are kept by the router, so each bankd (each test server) has its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// How long a `slow` answer takes unless the switch says otherwise: far past any client's timeout.
const SLOW: Duration = Duration::from_secs(60);
/// What a throttled client is told to wait, in seconds (`429-seconds`) or as a date (`429-date`).
pub const RETRY_AFTER_SECONDS: u64 = 7200;
/// A body that is neither JSON nor the HTML page a scraper expects.
const GARBLED: &str = "<<<\u{0}garbled {\"accounts\": [ not json, nor the page you expect";
/// The bytes sent before a truncated or reset body stops.
const PARTIAL: &str = "{\"accounts\": [{\"resourceId\": \"";

/// A way a bank misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// The answer comes after `seconds` (default 60): later than the client's timeout.
    #[serde(rename = "slow")]
    Slow,
    #[serde(rename = "500")]
    Status500,
    #[serde(rename = "502")]
    Status502,
    #[serde(rename = "503")]
    Status503,
    /// 429 with `Retry-After` in seconds.
    #[serde(rename = "429-seconds")]
    RateLimitSeconds,
    /// 429 with `Retry-After` as an HTTP date.
    #[serde(rename = "429-date")]
    RateLimitDate,
    /// `Content-Length` larger than what is sent, then the connection closes.
    #[serde(rename = "truncated")]
    Truncated,
    /// 200 with a body that parses as neither JSON nor the bank's HTML.
    #[serde(rename = "garbled")]
    Garbled,
    /// A chunked body that stops after a few bytes: the connection is dropped mid-body.
    #[serde(rename = "reset")]
    Reset,
    /// 302 to the same URL, forever.
    #[serde(rename = "redirect-loop")]
    RedirectLoop,
}

/// A fault armed on one bank.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Armed {
    pub fault: Fault,
    /// Only requests whose path contains this (e.g. `/transactions`); every request when absent.
    #[serde(default)]
    pub path: Option<String>,
    /// How long a `slow` answer takes, in seconds.
    #[serde(default)]
    pub seconds: Option<u64>,
}

/// The armed faults, by bank (the first segment under `/sandbox`).
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<HashMap<String, Armed>>>);

impl Faults {
    fn armed(&self, bank: &str, path: &str) -> Option<Armed> {
        let faults = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let armed = faults.get(bank)?;
        armed.path.as_deref().is_none_or(|part| path.contains(part)).then(|| armed.clone())
    }

    fn set(&self, bank: String, armed: Option<Armed>) {
        let mut faults = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match armed {
            Some(armed) => faults.insert(bank, armed),
            None => faults.remove(&bank),
        };
    }
}

/// The banks a fault can be armed on.
const BANKS: [&str; 4] = ["xs2a", "stet", "web", "fints"];

/// `PUT /faults/{bank}`: arms a fault.
pub async fn arm(State(faults): State<Faults>, Path(bank): Path<String>, Json(armed): Json<Armed>) -> Response {
    if !BANKS.contains(&bank.as_str()) {
        return (StatusCode::NOT_FOUND, format!("no simulated bank '{bank}'")).into_response();
    }
    tracing::info!(bank, fault = ?armed.fault, path = armed.path, "sandbox fault armed");
    faults.set(bank, Some(armed.clone()));
    Json(armed).into_response()
}

/// `DELETE /faults/{bank}`: the bank behaves again.
pub async fn clear(State(faults): State<Faults>, Path(bank): Path<String>) -> StatusCode {
    faults.set(bank, None);
    StatusCode::NO_CONTENT
}

/// The middleware in front of every simulated bank: answers with the armed fault, if any.
pub async fn inject(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let bank = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    let Some(armed) = faults.armed(bank, &path) else { return next.run(request).await };
    tracing::warn!(bank, path, fault = ?armed.fault, "sandbox fault injected");
    let html = bank == "web";
    match armed.fault {
        Fault::Slow => {
            tokio::time::sleep(armed.seconds.map_or(SLOW, Duration::from_secs)).await;
            next.run(request).await
        }
        Fault::Status500 => status(StatusCode::INTERNAL_SERVER_ERROR, html),
        Fault::Status502 => status(StatusCode::BAD_GATEWAY, html),
        Fault::Status503 => status(StatusCode::SERVICE_UNAVAILABLE, html),
        Fault::RateLimitSeconds => throttled(RETRY_AFTER_SECONDS.to_string()),
        Fault::RateLimitDate => throttled(http_date_in(RETRY_AFTER_SECONDS)),
        Fault::Truncated => truncated(html),
        Fault::Garbled => with_type(StatusCode::OK, html, Body::from(GARBLED)),
        Fault::Reset => reset(html),
        Fault::RedirectLoop => redirect_to(&request),
    }
}

fn content_type(html: bool) -> HeaderValue {
    HeaderValue::from_static(if html { "text/html; charset=utf-8" } else { "application/json" })
}

fn with_type(status: StatusCode, html: bool, body: Body) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, content_type(html));
    response
}

/// An error page as a load balancer in front of a bank serves it.
fn status(code: StatusCode, html: bool) -> Response {
    let body = if html {
        format!("<html><body><h1>{code}</h1></body></html>")
    } else {
        format!("{{\"tppMessages\":[{{\"category\":\"ERROR\",\"code\":\"INTERNAL\",\"text\":\"{code}\"}}]}}")
    };
    with_type(code, html, Body::from(body))
}

fn throttled(retry_after: String) -> Response {
    let mut response = StatusCode::TOO_MANY_REQUESTS.into_response();
    if let Ok(value) = HeaderValue::from_str(&retry_after) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The HTTP date (RFC 9110's IMF-fixdate) `seconds` from now.
fn http_date_in(seconds: u64) -> String {
    let at = chrono::Utc::now() + chrono::Duration::seconds(seconds as i64);
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Announces ten times what it sends. The body is a stream, so the server keeps our
/// `Content-Length` rather than counting the bytes, and closes the connection when it falls short.
fn truncated(html: bool) -> Response {
    let sent = Bytes::from_static(PARTIAL.as_bytes());
    let announced = sent.len() * 10;
    let stream = futures::stream::iter([Ok::<_, std::io::Error>(sent)]).chain(after_a_pause(None));
    let mut response = with_type(StatusCode::OK, html, Body::from_stream(stream));
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(announced));
    response
}

/// A chunked body whose stream fails after its first bytes: the server drops the connection
/// without the final chunk.
fn reset(html: bool) -> Response {
    let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "sandbox fault: reset mid-body");
    let stream = futures::stream::iter([Ok(Bytes::from_static(PARTIAL.as_bytes()))]).chain(after_a_pause(Some(reset)));
    with_type(StatusCode::OK, html, Body::from_stream(stream))
}

/// Ends a body stream — with `error`, or cleanly — after a pause, so that the server has put the
/// status, the headers and the first bytes on the wire before the connection goes.
fn after_a_pause(
    error: Option<std::io::Error>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::once(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        error
    })
    .filter_map(|error| futures::future::ready(error.map(Err)))
}

/// A redirect to the URL asked, as bankd's router saw it before the sandbox's prefix was stripped.
fn redirect_to(request: &Request) -> Response {
    let uri = request.extensions().get::<OriginalUri>().map_or(request.uri(), |original| &original.0);
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(&uri.to_string()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_armed_per_bank_and_per_path() {
        let faults = Faults::default();
        let armed = Armed { fault: Fault::Status503, path: Some("/transactions".into()), seconds: None };
        faults.set("xs2a".into(), Some(armed));
        assert!(faults.armed("xs2a", "/xs2a/v1/accounts/1/transactions").is_some());
        assert!(faults.armed("xs2a", "/xs2a/v1/accounts").is_none(), "another path");
        assert!(faults.armed("stet", "/stet/transactions").is_none(), "another bank");
        faults.set("xs2a".into(), None);
        assert!(faults.armed("xs2a", "/xs2a/v1/accounts/1/transactions").is_none());
    }

    #[test]
    fn the_switch_names_faults_as_the_docs_do() {
        let armed: Armed = serde_json::from_str(r#"{"fault": "429-date"}"#).unwrap();
        assert_eq!(armed.fault, Fault::RateLimitDate);
        assert!(http_date_in(0).ends_with(" GMT"));
        assert!(chrono::DateTime::parse_from_rfc2822(&http_date_in(60)).is_ok(), "clients read it as RFC 2822");
    }
}

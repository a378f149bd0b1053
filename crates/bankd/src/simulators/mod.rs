//! Simulated banks: the bank's side of every protocol bankd speaks, so that bankd, its client apps
//! and its tests can run every situation without a real bank account.
//!
//! A simulator is a bank, not a part of bankd: it may use axum and the customer generator that all
//! of them share ([`customers`]), never bankd's API or store. bankd's side — the clients that talk to
//! these banks — lives under `sources/` and knows nothing of this tree. `bankd serve` mounts
//! [`router`] under `/sandbox` while `BANKD_SANDBOX` is on; tests can serve it alone.
//!
//! - [`sandbox_bank`]: the in-process Sandbox Bank (the `sandbox` driver) and its consent page.
//! - [`xs2a`]: a Berlin Group NextGenPSD2 ASPSP, under `/sandbox/xs2a`; the same behind an OAuth2
//!   pre-step under `/sandbox/xs2a-prestep`, behind a `client_credentials` token under `/sandbox/xs2a-cc`.
//! - [`stet`]: a STET PSD2 bank and its OAuth2 server (with [`registration`], RFC 7591), under
//!   `/sandbox/stet`.
//! - [`signatures`]: both PSD2 banks again, requiring signed requests, under
//!   `/sandbox/xs2a-signed` and `/sandbox/stet-signed`.
//! - [`web_bank`]: an HTML web-banking site for the scrapers, under `/sandbox/web`.
//! - [`fints_bank`]: a German bank's FinTS 3.0 PIN/TAN server, at `POST /sandbox/fints`.
//! - [`faults`]: switches that make any of them misbehave (`BANKD_SANDBOX_FAULTS`).
//!
//! Sandbox Bank (FinTS) logins (bank code `99999999`, PIN `1234`, TAN `123456`; details in
//! [`fints_bank`]):
//! - `demo`: chipTAN 912, no SCA needed; camt.052 and MT940.
//! - `tan`: 912 or 946; a TAN (912) or an app approval (946) at dialog start, then exempt 90 days.
//! - `decoupled`: 946 only; approved at the second status poll, then exempt 90 days.
//! - `camt` / `mt940`: transactions only as camt.052 / only as MT940 (25 entries a page).
//! - `oldtan`: a TAN for transactions from more than 90 days back.
//! - `locked` (3938), `unregistered` (9078), `busy` (9999 to everything); any other login: 9931.

pub mod customers;
pub mod faults;
pub mod fints_bank;
pub mod oauth;
pub mod registration;
pub mod sandbox_bank;
pub mod signatures;
pub mod stet;
pub mod web_bank;
pub mod xs2a;

use std::collections::HashMap;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, put};

/// Every simulated bank, for bankd to mount under `/sandbox`. `public_url` is bankd's base URL:
/// the banks' pages link to themselves through it. `with_faults` adds the fault switches
/// (`/faults/{bank}`) and the layer that obeys them.
pub fn router(public_url: &str, with_faults: bool) -> Router {
    let sandbox = format!("{}/sandbox", public_url.trim_end_matches('/'));
    let banks = Router::new()
        .route("/authorize", get(sandbox_bank::authorize))
        .nest("/xs2a", xs2a::router(&format!("{sandbox}/xs2a")))
        .nest("/xs2a-prestep", xs2a::gated_router(&format!("{sandbox}/xs2a-prestep"), xs2a::Gate::PreStep))
        .nest("/xs2a-cc", xs2a::gated_router(&format!("{sandbox}/xs2a-cc"), xs2a::Gate::ClientCredentials))
        .nest("/stet", stet::router(&format!("{sandbox}/stet")))
        .nest("/xs2a-signed", signed(xs2a::router(&format!("{sandbox}/xs2a-signed")), signatures::Style::Xs2a))
        .nest("/stet-signed", signed(stet::router(&format!("{sandbox}/stet-signed")), signatures::Style::Stet))
        .nest("/web", web_bank::router())
        .merge(fints_bank::router());
    if !with_faults {
        return banks;
    }
    let switches = faults::Faults::default();
    banks
        .layer(axum::middleware::from_fn_with_state(switches.clone(), faults::inject))
        .route("/faults/{bank}", put(faults::arm).delete(faults::clear).with_state(switches))
}

/// `bank`, verifying the signature of every API call first.
fn signed(bank: Router, style: signatures::Style) -> Router {
    bank.layer(axum::middleware::from_fn_with_state(signatures::Verifier::new(style), signatures::require))
}

/// A bank page that cannot be shown: 400 with a short page saying why.
#[derive(Debug)]
pub struct PageError(String);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = page("Sandbox Bank — bad request", &format!("<p>{}</p>", escape_html(&self.0)));
        (StatusCode::BAD_REQUEST, body).into_response()
    }
}

/// The query parameter `name`, which the page cannot do without.
fn require<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, PageError> {
    params.get(name).map(String::as_str).ok_or_else(|| PageError(format!("missing parameter '{name}'")))
}

/// `uri` with `pairs` appended to its query; refuses anything but an http(s) URL, since escaping
/// is not enough against a `javascript:` link.
fn back_to(uri: &str, pairs: &[(&str, &str)]) -> Result<String, PageError> {
    if !(uri.starts_with("https://") || uri.starts_with("http://")) {
        return Err(PageError(format!("'{uri}' is not an http(s) URL")));
    }
    let separator = if uri.contains('?') { '&' } else { '?' };
    Ok(format!("{uri}{separator}{}", encode_query(pairs)))
}

/// A whole HTML page; `body` is trusted markup.
fn page(title: &str, body: &str) -> Html<String> {
    let title = escape_html(title);
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>\n"
    ))
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

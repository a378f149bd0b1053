//! A webview journey's session: who the person is, for which client app, and where the journey
//! ends. It lives in one cookie, sealed with the master key (AES-GCM: neither readable nor
//! forgeable by the browser), so any bankd process can serve the next page and nothing is stored
//! server-side — as Powens' webview keeps nothing long-term.
//!
//! The cookie is `HttpOnly`, `SameSite=Lax` (it comes back from the bank's page, a top-level GET
//! navigation), `Secure` unless bankd is served over plain HTTP, scoped to `/webview`, and lasts
//! 30 minutes. Each form also carries the session's CSRF token.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::WebviewError;
use crate::state::AppState;

const COOKIE_NAME: &str = "bankd_webview";
const LIFETIME_SECONDS: i64 = 1800;
/// Binds the sealed cookie to its use: a sealed value from elsewhere does not open as a session.
const AAD: &str = "webview-session";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    Connect,
    Reconnect,
    Manage,
}

impl Flow {
    pub fn parse(name: &str) -> Option<Flow> {
        match name {
            "connect" => Some(Flow::Connect),
            "reconnect" => Some(Flow::Reconnect),
            "manage" => Some(Flow::Manage),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub id_client: i64,
    /// The client app's name, shown on every page.
    pub app: String,
    /// `None` until a connect journey without `code` creates its user.
    pub id_user: Option<i64>,
    /// The journey created the user: its end hands the app a `code` for it.
    pub created_user: bool,
    pub flow: Flow,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub csrf: String,
    /// `connector_uuids` of the link: the banks offered (all when empty).
    pub connectors: Vec<String>,
    /// `connector_capabilities` of the link (default `bank`).
    pub capabilities: Vec<String>,
    pub reset_credentials: bool,
    /// Connections added during the journey, in order.
    pub added: Vec<i64>,
    pub deleted: bool,
    /// Unix seconds.
    pub expires: i64,
}

impl Session {
    pub fn new(id_client: i64, app: String, flow: Flow) -> Session {
        Session {
            id_client,
            app,
            id_user: None,
            created_user: false,
            flow,
            redirect_uri: None,
            state: None,
            csrf: crate::crypto::random_secret(),
            connectors: Vec::new(),
            capabilities: vec!["bank".to_owned()],
            reset_credentials: false,
            added: Vec::new(),
            deleted: false,
            expires: chrono::Utc::now().timestamp() + LIFETIME_SECONDS,
        }
    }

    /// The `Set-Cookie` header carrying this session.
    pub fn cookie(&self, state: &AppState) -> (HeaderName, HeaderValue) {
        // A session is a plain struct: it always serializes.
        let json = serde_json::to_vec(self).expect("a session serializes");
        let value = URL_SAFE_NO_PAD.encode(state.key().seal(&json, AAD));
        let cookie = format!("{COOKIE_NAME}={value}; Max-Age={LIFETIME_SECONDS}{}", attributes(state));
        (SET_COOKIE, HeaderValue::from_str(&cookie).expect("base64 is a valid header value"))
    }

    /// The `Set-Cookie` header that ends the session.
    pub fn cleared(state: &AppState) -> (HeaderName, HeaderValue) {
        let cookie = format!("{COOKIE_NAME}=; Max-Age=0{}", attributes(state));
        (SET_COOKIE, HeaderValue::from_str(&cookie).expect("a valid header value"))
    }

    /// Whether a form's token is the session's.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), WebviewError> {
        match token {
            Some(token) if bool::from(token.as_bytes().ct_eq(self.csrf.as_bytes())) => Ok(()),
            _ => Err(WebviewError::Expired),
        }
    }

    pub fn user(&self) -> Result<i64, WebviewError> {
        self.id_user.ok_or(WebviewError::Expired)
    }
}

fn attributes(state: &AppState) -> &'static str {
    // Over plain HTTP (a developer's loopback) a Secure cookie would never come back.
    if state.public_url.starts_with("https://") {
        "; Path=/webview; HttpOnly; SameSite=Lax; Secure"
    } else {
        "; Path=/webview; HttpOnly; SameSite=Lax"
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = WebviewError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebviewError> {
        let cookies = parts.headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok());
        let value = cookies
            .flat_map(|header| header.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE_NAME)
            .map(|(_, value)| value)
            .ok_or(WebviewError::Expired)?;
        let sealed = URL_SAFE_NO_PAD.decode(value).map_err(|_| WebviewError::Expired)?;
        let json = state.key().open(&sealed, AAD).map_err(|_| WebviewError::Expired)?;
        let session: Session = serde_json::from_slice(&json).map_err(|_| WebviewError::Expired)?;
        if session.expires < chrono::Utc::now().timestamp() {
            return Err(WebviewError::Expired);
        }
        Ok(session)
    }
}

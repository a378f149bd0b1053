//! bankd's registration with a PSD2 bank's authorization server: OAuth2 dynamic client
//! registration (RFC 7591) and its update (RFC 7592), as STET banks offer it to an AISP identified
//! by its eIDAS certificate. `bankd psd2 register` runs it; the store keeps what the bank returned
//! (the secret parts sealed), and the `stet` driver reads it at each authorization
//! ([`Registrations`]), so a registration made while bankd runs is used at once.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Api;
use crate::catalog::ApiSettings;
use crate::sources::Timeouts;

/// How the driver authenticates at the token endpoint when the catalog does not say.
pub const DEFAULT_AUTH_METHOD: &str = "client_secret_basic";

/// What a bank returned for bankd: the client id, and what only bankd may know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    pub client_id: String,
    #[serde(flatten)]
    pub secret: RegistrationSecret,
}

/// The sealed part of a registration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistrationSecret {
    /// None for a client that authenticates with its certificate alone (`tls_client_auth`).
    pub client_secret: Option<String>,
    /// RFC 7592: the bearer token and the URI that read, update or delete the registration.
    pub registration_access_token: Option<String>,
    pub registration_client_uri: Option<String>,
}

/// Where the drivers find the registrations `bankd psd2 register` stored, by catalog source id.
#[async_trait]
pub trait Registrations: Send + Sync {
    async fn registration(&self, source: i64) -> Result<Option<Registration>, String>;
}

/// No registration at all (tests, and tools that build drivers without a store).
pub struct NoRegistrations;

#[async_trait]
impl Registrations for NoRegistrations {
    async fn registration(&self, _source: i64) -> Result<Option<Registration>, String> {
        Ok(None)
    }
}

impl NoRegistrations {
    pub fn shared() -> Arc<dyn Registrations> {
        Arc::new(NoRegistrations)
    }
}

/// Why a registration did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The catalog or the stored registration does not allow it.
    #[error("{0}")]
    Setup(String),
    /// The bank could not be reached, or answered what is not a registration.
    #[error("{0}")]
    Bank(String),
    /// The bank refused, with RFC 7591's error code and description.
    #[error("the bank refused the registration (HTTP {status}): {error}{}", description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused { status: u16, error: String, description: Option<String> },
}

/// The client metadata bankd asks to be registered with (RFC 7591 §2).
pub fn metadata(settings: &ApiSettings, redirect_uri: &str) -> Result<Value, RegistrationError> {
    let method = settings.token_endpoint_auth_method.as_deref().unwrap_or(DEFAULT_AUTH_METHOD);
    if !["client_secret_basic", "tls_client_auth"].contains(&method) {
        return Err(RegistrationError::Setup(format!(
            "token_endpoint_auth_method '{method}': bankd knows client_secret_basic and tls_client_auth"
        )));
    }
    if method == "tls_client_auth" && settings.certificate.is_none() {
        return Err(RegistrationError::Setup(
            "token_endpoint_auth_method tls_client_auth needs the TPP certificate (certificate, private_key)".into(),
        ));
    }
    let mut body = json!({
        "client_name": settings.client_name.as_deref().unwrap_or("bankd"),
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
        "scope": settings.scope.as_deref().unwrap_or(super::stet::DEFAULT_SCOPE),
    });
    if let Some(path) = &settings.software_statement {
        let statement = std::fs::read_to_string(path)
            .map_err(|e| RegistrationError::Setup(format!("reading software_statement {}: {e}", path.display())))?;
        body["software_statement"] = Value::String(statement.trim().to_owned());
    }
    Ok(body)
}

/// Registers bankd (`previous` is `None`: POST to the registration endpoint) or updates its
/// registration (PUT to the registration's URI with its access token), presenting the TPP's
/// certificate when the catalog gives one. `redirect_uri` is bankd's webauth callback.
pub async fn register(
    settings: &ApiSettings,
    own_url: &str,
    timeouts: Timeouts,
    redirect_uri: &str,
    previous: Option<&Registration>,
) -> Result<Registration, RegistrationError> {
    let setup = RegistrationError::Setup;
    let api = Api::new(settings, own_url, timeouts).map_err(setup)?;
    let mut body = metadata(settings, redirect_uri)?;
    let request = match previous {
        None => {
            let url = settings.registration_url.as_deref().ok_or_else(|| setup("no registration_url".into()))?;
            let url =
                api.href(url).map_err(|e| setup(format!("registration_url: {}", e.message().unwrap_or_default())))?;
            api.http().request(Method::POST, url)
        }
        Some(previous) => {
            let (Some(uri), Some(token)) =
                (&previous.secret.registration_client_uri, &previous.secret.registration_access_token)
            else {
                return Err(setup(
                    "the bank gave no registration URI and access token (RFC 7592): it does not allow updates; \
                     register again with the bank's own procedure"
                        .into(),
                ));
            };
            body["client_id"] = Value::String(previous.client_id.clone());
            let url = api
                .href(uri)
                .map_err(|e| setup(format!("registration_client_uri: {}", e.message().unwrap_or_default())))?;
            api.http().request(Method::PUT, url).bearer_auth(token)
        }
    };
    let request = request.header("X-Request-ID", uuid::Uuid::new_v4().to_string()).json(&body);
    let response = request.send().await.map_err(|e| {
        RegistrationError::Bank(format!(
            "the bank did not answer: {}",
            crate::sources::describe_http_error(&e, &timeouts)
        ))
    })?;
    let status = response.status();
    let text = response.text().await.map_err(|e| RegistrationError::Bank(format!("reading the answer: {e}")))?;
    if !status.is_success() {
        return Err(refusal(status.as_u16(), &text));
    }
    let answer: Answer = serde_json::from_str(&text)
        .map_err(|e| RegistrationError::Bank(format!("the bank's answer is not a registration ({e})")))?;
    // RFC 7592 lets an update leave out what did not change.
    let kept = previous.map(|p| p.secret.clone()).unwrap_or_default();
    let secret = RegistrationSecret {
        client_secret: answer.client_secret.or(kept.client_secret),
        registration_access_token: answer.registration_access_token.or(kept.registration_access_token),
        registration_client_uri: answer.registration_client_uri.or(kept.registration_client_uri),
    };
    Ok(Registration { client_id: answer.client_id, secret })
}

#[derive(Deserialize)]
struct Answer {
    client_id: String,
    client_secret: Option<String>,
    registration_access_token: Option<String>,
    registration_client_uri: Option<String>,
}

/// An error answer: RFC 7591's `{error, error_description}` when the bank sends it, else the
/// status and the first bytes of the answer.
fn refusal(status: u16, body: &str) -> RegistrationError {
    #[derive(Deserialize)]
    struct Error {
        error: String,
        error_description: Option<String>,
    }
    match serde_json::from_str::<Error>(body) {
        Ok(e) => RegistrationError::Refused { status, error: e.error, description: e.error_description },
        Err(_) => {
            let excerpt: String = body.chars().take(200).filter(|c| !c.is_control()).collect();
            RegistrationError::Refused { status, error: "no RFC 7591 error".into(), description: Some(excerpt) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rfc_7591_error_is_read_and_anything_else_shown() {
        let refused = refusal(400, r#"{"error":"invalid_redirect_uri","error_description":"not https"}"#);
        assert_eq!(
            refused.to_string(),
            "the bank refused the registration (HTTP 400): invalid_redirect_uri: not https"
        );
        let other = refusal(502, "<html>Bad gateway</html>");
        assert!(other.to_string().contains("HTTP 502") && other.to_string().contains("Bad gateway"), "{other}");
    }
}

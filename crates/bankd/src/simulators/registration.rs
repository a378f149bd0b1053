//! A bank's OAuth2 dynamic client registration (RFC 7591) and its management (RFC 7592), as STET
//! banks offer it to AISPs: a TPP posts its metadata and gets a client id, a client secret and a
//! registration access token; with that token it updates its registration, which issues a new
//! secret (the old one stops working). Clients live in memory.
//!
//! A real bank takes only TPPs whose eIDAS certificate (mutual TLS) and software statement it
//! trusts; the sandbox serves plain HTTP, so it checks the statement's form only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use serde_json::{Value, json};

use super::oauth::Refused;

#[derive(Clone, Default)]
pub struct Registrar {
    clients: Arc<Mutex<HashMap<String, Client>>>,
}

struct Client {
    /// None for a client that authenticates with its certificate (`tls_client_auth`).
    secret: Option<String>,
    registration_token: String,
    redirect_uris: Vec<String>,
}

/// A refused registration: RFC 7591's `{error, error_description}`.
pub struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl Refusal {
    fn invalid(error: &'static str, description: impl Into<String>) -> Refusal {
        Refusal { status: StatusCode::BAD_REQUEST, error, description: description.into() }
    }

    fn unauthorized() -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_token",
            description: "The registration access token is missing or wrong".into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.error, "error_description": self.description }));
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = format!("Bearer error=\"{}\"", self.error);
            return (self.status, [(header::WWW_AUTHENTICATE, challenge)], body).into_response();
        }
        (self.status, body).into_response()
    }
}

/// The metadata the sandbox keeps, once checked.
struct Metadata {
    redirect_uris: Vec<String>,
    auth_method: String,
    echoed: Value,
}

/// Where the sandbox lets a PSU be sent back to: https, or this machine (tests, a local bankd).
fn acceptable_redirect(uri: &str) -> bool {
    let local = ["http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/"];
    uri.starts_with("https://") || local.iter().any(|prefix| uri.starts_with(prefix))
}

/// A JWT's form: three base64url parts, the first a JSON header.
fn is_jwt(statement: &str) -> bool {
    let parts: Vec<&str> = statement.split('.').collect();
    let header = parts.first().and_then(|h| URL_SAFE_NO_PAD.decode(h).ok());
    parts.len() == 3 && header.is_some_and(|h| serde_json::from_slice::<serde_json::Map<String, Value>>(&h).is_ok())
}

fn check(body: &Value) -> Result<Metadata, Refusal> {
    let uris = body.get("redirect_uris").and_then(Value::as_array);
    let uris: Vec<String> = uris.into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
    if uris.is_empty() {
        return Err(Refusal::invalid("invalid_redirect_uri", "redirect_uris is required"));
    }
    if let Some(bad) = uris.iter().find(|uri| !acceptable_redirect(uri)) {
        return Err(Refusal::invalid("invalid_redirect_uri", format!("'{bad}' is neither https nor this machine")));
    }
    let grants = body.get("grant_types").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(grant) =
        grants.iter().find(|g| !["authorization_code", "refresh_token"].contains(&g.as_str().unwrap_or("")))
    {
        return Err(Refusal::invalid("invalid_client_metadata", format!("grant type {grant} is not offered")));
    }
    let method = body.get("token_endpoint_auth_method").and_then(Value::as_str).unwrap_or("client_secret_basic");
    if !["client_secret_basic", "tls_client_auth"].contains(&method) {
        return Err(Refusal::invalid("invalid_client_metadata", format!("token_endpoint_auth_method {method}")));
    }
    if let Some(statement) = body.get("software_statement")
        && !statement.as_str().is_some_and(is_jwt)
    {
        return Err(Refusal::invalid("invalid_software_statement", "the software statement is not a JWT"));
    }
    let mut echoed = json!({
        "redirect_uris": uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    });
    for name in ["client_name", "scope"] {
        if let Some(value) = body.get(name).and_then(Value::as_str) {
            echoed[name] = json!(value);
        }
    }
    Ok(Metadata { redirect_uris: uris, auth_method: method.to_owned(), echoed })
}

impl Registrar {
    /// `POST /register`: a new client; `base` is where its registration will be managed.
    pub fn register(&self, body: &Value, base: &str) -> Result<Response, Refusal> {
        let metadata = check(body)?;
        let client_id = format!("sbx-{}", &crate::crypto::random_hex_secret()[..16]);
        let answer = self.issue(&client_id, metadata, base);
        Ok((StatusCode::CREATED, Json(answer)).into_response())
    }

    /// `PUT /register/{client_id}`: the client's metadata replaced, with a new secret and token.
    pub fn update(&self, client_id: &str, headers: &HeaderMap, body: &Value, base: &str) -> Result<Response, Refusal> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(Refusal::unauthorized)?;
        let known = self.clients.lock().expect("clients lock").get(client_id).map(|c| c.registration_token.clone());
        if known.as_deref() != Some(token) {
            return Err(Refusal::unauthorized());
        }
        if body.get("client_id").and_then(Value::as_str).is_some_and(|id| id != client_id) {
            return Err(Refusal::invalid("invalid_client_metadata", "client_id does not match the registration"));
        }
        let metadata = check(body)?;
        Ok(Json(self.issue(client_id, metadata, base)).into_response())
    }

    fn issue(&self, client_id: &str, metadata: Metadata, base: &str) -> Value {
        let secret = (metadata.auth_method != "tls_client_auth").then(crate::crypto::random_secret);
        let registration_token = crate::crypto::random_secret();
        let mut answer = metadata.echoed;
        answer["client_id"] = json!(client_id);
        answer["client_id_issued_at"] = json!(Utc::now().timestamp());
        answer["registration_access_token"] = json!(registration_token);
        answer["registration_client_uri"] = json!(format!("{base}/register/{client_id}"));
        if let Some(secret) = &secret {
            answer["client_secret"] = json!(secret);
            answer["client_secret_expires_at"] = json!(0);
        }
        let client = Client { secret, registration_token, redirect_uris: metadata.redirect_uris };
        self.clients.lock().expect("clients lock").insert(client_id.to_owned(), client);
        answer
    }

    /// Whether `redirect_uri` may receive the codes of `client_id`: any, for a client not
    /// registered here (the catalog's `bankd-sandbox`); one of its own, for a registered one.
    pub fn redirect_allowed(&self, client_id: &str, redirect_uri: &str) -> bool {
        let clients = self.clients.lock().expect("clients lock");
        clients.get(client_id).is_none_or(|c| c.redirect_uris.iter().any(|uri| uri == redirect_uri))
    }

    /// Authenticates a token request: a registered client with a secret must send it (HTTP Basic);
    /// a client the bank does not know is the public `bankd-sandbox` and passes, as before
    /// registration existed (one with a secret is refused: there is nothing to check it against).
    pub fn authenticate(&self, headers: &HeaderMap, form_client_id: Option<&str>) -> Result<(), Refused> {
        let refused = (StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed");
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .map(|b| STANDARD.decode(b).ok().and_then(|b| String::from_utf8(b).ok()).ok_or(refused))
            .transpose()?;
        let clients = self.clients.lock().expect("clients lock");
        match basic {
            Some(pair) => {
                let (id, secret) = pair.split_once(':').ok_or(refused)?;
                match clients.get(id) {
                    Some(client) if client.secret.as_deref() == Some(secret) => Ok(()),
                    _ => Err(refused),
                }
            }
            None => match form_client_id.and_then(|id| clients.get(id)) {
                Some(client) if client.secret.is_some() => Err(refused),
                _ => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_required_and_must_be_https_or_this_machine() {
        let refused = |body: Value| check(&body).err().map(|r| r.error);
        assert_eq!(refused(json!({})), Some("invalid_redirect_uri"));
        assert_eq!(refused(json!({"redirect_uris": ["http://bank.example/cb"]})), Some("invalid_redirect_uri"));
        assert_eq!(
            refused(json!({"redirect_uris": ["https://a/cb"], "grant_types": ["password"]})),
            Some("invalid_client_metadata")
        );
        assert_eq!(
            refused(json!({"redirect_uris": ["https://a/cb"], "software_statement": "x"})),
            Some("invalid_software_statement")
        );
        assert!(check(&json!({"redirect_uris": ["http://127.0.0.1:8080/cb"]})).is_ok());
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        assert!(
            check(&json!({"redirect_uris": ["https://a/cb"], "software_statement": format!("{header}.e30.sig")}))
                .is_ok()
        );
    }
}

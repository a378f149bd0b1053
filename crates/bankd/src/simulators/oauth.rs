//! A bank's OAuth2 authorization server, as the simulated banks need it: authorization codes
//! bound to a redirect URI and a PKCE challenge (S256), bearer tokens, refresh tokens. The subject
//! of a grant is whatever the bank authorises: a PSU's login (STET), a consent (XS2A `scaOAuth`).
//! Grants live in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Clone, Default)]
pub struct OAuthServer {
    grants: Arc<Mutex<Grants>>,
}

#[derive(Default)]
struct Grants {
    codes: HashMap<String, Code>,
    access: HashMap<String, (String, DateTime<Utc>)>,
    refresh: HashMap<String, String>,
}

struct Code {
    subject: String,
    redirect_uri: String,
    challenge: String,
}

/// A token request (`application/x-www-form-urlencoded`).
#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    /// The client, for a public client or one authenticating with its certificate (a secret comes
    /// in the Basic header).
    pub client_id: Option<String>,
}

/// Why a token request or a bearer is refused: the status and RFC 6749's error code.
pub type Refused = (StatusCode, &'static str, &'static str);

impl OAuthServer {
    /// A single-use code for `subject`, to be exchanged with the verifier of `challenge`.
    pub fn issue_code(&self, subject: &str, redirect_uri: &str, challenge: &str) -> String {
        let code = crate::crypto::random_secret();
        let grant = Code {
            subject: subject.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            challenge: challenge.to_owned(),
        };
        self.grants.lock().expect("grants lock").codes.insert(code.clone(), grant);
        code
    }

    /// Answers a token request; `lifetime` gives each subject's access token lifetime in seconds.
    /// Returns the subject with the token answer.
    pub fn token(&self, form: TokenRequest, lifetime: impl Fn(&str) -> i64) -> Result<(String, Value), Refused> {
        let invalid = (StatusCode::BAD_REQUEST, "invalid_grant", "The grant is unknown, used or does not match");
        let mut grants = self.grants.lock().expect("grants lock");
        let subject = match form.grant_type.as_str() {
            "authorization_code" => {
                let code = form.code.and_then(|code| grants.codes.remove(&code)).ok_or(invalid)?;
                let challenge = form.code_verifier.map(|v| URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())));
                if challenge.as_ref() != Some(&code.challenge) || form.redirect_uri.as_ref() != Some(&code.redirect_uri)
                {
                    return Err(invalid);
                }
                code.subject
            }
            "refresh_token" => form.refresh_token.and_then(|t| grants.refresh.get(&t).cloned()).ok_or(invalid)?,
            _ => return Err((StatusCode::BAD_REQUEST, "unsupported_grant_type", "Unsupported grant type")),
        };
        let seconds = lifetime(&subject);
        let (access, refresh) = (crate::crypto::random_secret(), crate::crypto::random_secret());
        grants.access.insert(access.clone(), (subject.clone(), Utc::now() + Duration::seconds(seconds)));
        grants.refresh.insert(refresh.clone(), subject.clone());
        let answer =
            json!({ "access_token": access, "token_type": "Bearer", "expires_in": seconds, "refresh_token": refresh });
        Ok((subject, answer))
    }

    /// Answers a `client_credentials` request (RFC 6749 §4.4) from a client `accepted` names: an
    /// access token whose subject is the client, and no refresh token.
    pub fn client_token(&self, form: TokenRequest, accepted: impl Fn(&str) -> bool) -> Result<Value, Refused> {
        if form.grant_type != "client_credentials" {
            return Err((StatusCode::BAD_REQUEST, "unsupported_grant_type", "Only client_credentials is offered"));
        }
        let client = form.client_id.filter(|id| accepted(id)).ok_or((
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client_id must be the organizationIdentifier of the TPP's certificate",
        ))?;
        let (access, seconds) = (crate::crypto::random_secret(), 3600);
        let until = Utc::now() + Duration::seconds(seconds);
        self.grants.lock().expect("grants lock").access.insert(access.clone(), (format!("client:{client}"), until));
        Ok(json!({ "access_token": access, "token_type": "Bearer", "expires_in": seconds }))
    }

    /// The subject of the request's live bearer token.
    pub fn bearer(&self, headers: &HeaderMap) -> Result<String, Refused> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or((StatusCode::UNAUTHORIZED, "invalid_token", "A bearer token is required"))?;
        let grants = self.grants.lock().expect("grants lock");
        match grants.access.get(token) {
            Some((subject, until)) if *until > Utc::now() => Ok(subject.clone()),
            Some(_) => Err((StatusCode::UNAUTHORIZED, "invalid_token", "The access token has expired")),
            None => Err((StatusCode::UNAUTHORIZED, "invalid_token", "Unknown access token")),
        }
    }
}

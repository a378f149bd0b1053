//! OAuth2 authorization code grant with PKCE (RFC 6749, RFC 7636), as PSD2 banks use it: STET's
//! way to authenticate the PSU, and XS2A's `scaOAuth` approach. The PSU visits the bank's
//! authorization page (bankd's `webauthRequired`), comes back to bankd's callback with a `code`,
//! and the run exchanges it for tokens; later runs refresh them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Api;
use crate::sources::{SourceError, SourceRequest, SourceResult};

/// A bank's authorization server and bankd's registration with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuth {
    pub authorize_url: String,
    pub token_url: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// Tokens the bank issued; kept in the source's sealed session state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Tokens {
    /// Whether the access token has (nearly) run out.
    pub fn stale(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at - Duration::seconds(30) <= now)
    }
}

/// An authorization the PSU has been sent to: the page, and what the exchange will need.
#[derive(Debug, Clone)]
pub struct Started {
    pub url: String,
    pub verifier: String,
    pub redirect_uri: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
}

impl OAuth {
    /// The server described by an RFC 8414 metadata document (XS2A's `scaOAuth` link).
    pub async fn discover(
        api: &Api,
        metadata_url: &str,
        request: &SourceRequest,
        client_id: &str,
    ) -> SourceResult<OAuth> {
        #[derive(Deserialize)]
        struct Metadata {
            authorization_endpoint: String,
            token_endpoint: String,
        }
        let metadata: Metadata = api.call(api.request(Method::GET, metadata_url, request)).await?;
        Ok(OAuth {
            authorize_url: api.href(&metadata.authorization_endpoint)?,
            token_url: api.href(&metadata.token_endpoint)?,
            client_id: client_id.to_owned(),
            client_secret: None,
        })
    }

    /// The authorization page to send the PSU to, for `scope`.
    pub fn start(&self, request: &SourceRequest, scope: &str) -> Started {
        let verifier = crate::crypto::random_secret();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let redirect_uri = request.webauth_callback.clone();
        let query = crate::sources::encode_pairs(&[
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", &redirect_uri),
            ("scope", scope),
            ("state", &request.webauth_state),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let separator = if self.authorize_url.contains('?') { '&' } else { '?' };
        Started { url: format!("{}{separator}{query}", self.authorize_url), verifier, redirect_uri }
    }

    /// Trades the code the PSU came back with for tokens.
    pub async fn exchange(
        &self,
        api: &Api,
        request: &SourceRequest,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> SourceResult<Tokens> {
        if code.is_empty() {
            return Err(SourceError::ScaRequired { message: Some("The bank sent no authorization code back".into()) });
        }
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("client_id", &self.client_id),
        ];
        self.token(api, request, &form).await
    }

    /// A token for bankd itself (RFC 6749 §4.4), authenticated by its client certificate (mTLS)
    /// and its `client_id`, as banks ask before a consent.
    pub async fn client_credentials(&self, api: &Api, request: &SourceRequest, scope: &str) -> SourceResult<Tokens> {
        let form = [("grant_type", "client_credentials"), ("client_id", &self.client_id), ("scope", scope)];
        self.token(api, request, &form).await
    }

    /// New tokens from the refresh token; without one, the PSU must authenticate again.
    pub async fn refresh(&self, api: &Api, request: &SourceRequest, tokens: &Tokens) -> SourceResult<Tokens> {
        let Some(refresh) = &tokens.refresh_token else {
            return Err(SourceError::ScaRequired { message: Some("The bank's access has expired: reconnect".into()) });
        };
        let form =
            [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("client_id", &self.client_id)];
        let mut renewed = self.token(api, request, &form).await?;
        // Servers that do not rotate refresh tokens leave the old one valid.
        renewed.refresh_token = renewed.refresh_token.or_else(|| tokens.refresh_token.clone());
        Ok(renewed)
    }

    async fn token(&self, api: &Api, request: &SourceRequest, form: &[(&str, &str)]) -> SourceResult<Tokens> {
        let mut call = api.request(Method::POST, &self.token_url, request).form(form);
        if let Some(secret) = &self.client_secret {
            call = call.basic_auth(&self.client_id, Some(secret));
        }
        let answer = api.send(call).await?;
        if !answer.status.is_success() {
            return Err(refusal(&answer));
        }
        let answer: TokenAnswer = answer.json()?;
        Ok(Tokens {
            access_token: answer.access_token,
            refresh_token: answer.refresh_token,
            expires_at: answer.expires_in.map(|s| request.now + Duration::seconds(s)),
        })
    }
}

/// A refused token request. `invalid_client` (RFC 6749 §5.2) is about bankd's own registration —
/// a wrong or rotated secret, a registration the bank dropped — not the PSU's consent: the
/// tokens stay, and the operator is told what to fix.
fn refusal(answer: &super::Answer) -> SourceError {
    if answer.codes().0.iter().any(|code| code == "invalid_client") {
        let status = answer.status.as_u16();
        return SourceError::WebsiteUnavailable {
            message: Some(format!(
                "{} answered {status}: the bank refused bankd's client credentials (invalid_client); check the \
                 catalog's client_id and client_secret, or update the registration (`bankd psd2 register --update`)",
                answer.what
            )),
        };
    }
    answer.error()
}

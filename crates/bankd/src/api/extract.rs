//! Extractors: how a request's body, query, path and credentials become typed values — or an
//! [`ApiError`] envelope, never axum's plain-text rejections.
//!
//! Powens clients send bodies as JSON, as urlencoded forms and as multipart forms (SDKs generated
//! from its Swagger file do), and query flags as `true/false/1/0` or bare (`?all`). All of them land
//! in one [`Params`] map with one set of coercion rules, so every handler reads input the same way.

use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::store::clients::Client;
use crate::store::users::Token;

/// Largest request body accepted (JSON and forms); larger ones get `413 payloadTooLarge`.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Named input values from a body or a query string, with typed, error-reporting accessors.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Map<String, Value>);

impl Params {
    fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Params {
        Params(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A text value; numbers are accepted and rendered as text, `null` is absent.
    pub fn str(&self, name: &str) -> ApiResult<Option<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(ApiError::invalid(name, "expected a string")),
        }
    }

    pub fn require_str(&self, name: &str) -> ApiResult<String> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::missing(name)),
        }
    }

    /// A boolean: `true/false`, `1/0`, or their text; a bare flag (empty text) means true.
    pub fn bool(&self, name: &str) -> ApiResult<Option<bool>> {
        let value = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(v) => v,
        };
        let parsed = match value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "" | "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                "null" => return Ok(None),
                _ => None,
            },
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| ApiError::invalid(name, "expected a boolean (true, false, 1 or 0)"))
    }

    pub fn flag(&self, name: &str) -> ApiResult<bool> {
        Ok(self.bool(name)?.unwrap_or(false))
    }

    /// An integer, from a JSON number or its text.
    pub fn i64(&self, name: &str) -> ApiResult<Option<i64>> {
        let invalid = || ApiError::invalid(name, "expected an integer");
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(invalid),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
            Some(_) => Err(invalid()),
        }
    }

    pub fn require_i64(&self, name: &str) -> ApiResult<i64> {
        self.i64(name)?.ok_or_else(|| ApiError::missing(name))
    }
}

/// The request body as [`Params`]: JSON object, urlencoded form or multipart form (text parts).
pub struct Body(pub Params);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            return parse_multipart(req, state).await.map(Body);
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Params::default()));
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|e| ApiError::invalid("body", format!("malformed form: {e}")))?;
            return Ok(Body(Params::from_pairs(pairs)));
        }
        // JSON is the default: Powens clients do not always set a content type.
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Body(Params(map))),
            Ok(_) => Err(ApiError::invalid("body", "expected a JSON object")),
            Err(e) => Err(ApiError::invalid(
                "body",
                format!("malformed JSON at line {}, column {}: {e}", e.line(), e.column()),
            )),
        }
    }
}

async fn parse_multipart<S: Send + Sync>(req: Request, state: &S) -> ApiResult<Params> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::invalid("body", format!("malformed multipart form: {e}"))
    };
    let mut multipart = Multipart::from_request(req, state)
        .await
        .map_err(|e| ApiError::invalid("body", format!("malformed multipart form: {e}")))?;
    let mut pairs = Vec::new();
    let mut total = 0usize;
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let text = field.text().await.map_err(bad)?;
        total += name.len() + text.len();
        if total > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
        }
        pairs.push((name, text));
    }
    Ok(Params::from_pairs(pairs))
}

/// The query string as [`Params`].
pub struct Query(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::invalid("query", format!("malformed query string: {e}")))?;
        Ok(Query(Params::from_pairs(pairs)))
    }
}

/// Path parameters, with bad ones reported as `invalidValue` envelopes.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(t)| Path(t))
            .map_err(|e| ApiError::invalid("path", e.body_text()))
    }
}

/// Parses an id from a path segment: a positive integer.
pub fn parse_id(segment: &str, name: &str) -> ApiResult<i64> {
    match segment.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::invalid(name, format!("'{segment}' is not a positive integer id"))),
    }
}

/// Who is calling: a user (bearer token) or a client application (HTTP Basic `client_id:client_secret`,
/// our extension for client-level calls such as deleting one of its users).
#[derive(Debug, Clone)]
pub enum Caller {
    User(Token),
    Client(Client),
}

impl Caller {
    /// Resolves the `{id_user}` path segment (`me` or an id) to a user this caller may act on.
    /// A user reaches only itself; a client only the users it created.
    pub async fn user_id(&self, state: &AppState, segment: &str) -> ApiResult<i64> {
        match self {
            Caller::User(token) if segment == "me" => Ok(token.id_user),
            Caller::User(token) => {
                let id = parse_id(segment, "id_user")?;
                if id == token.id_user {
                    Ok(id)
                } else {
                    Err(ApiError::Forbidden("this token does not give access to that user".into()))
                }
            }
            Caller::Client(_) if segment == "me" => {
                Err(ApiError::Forbidden("'me' needs a user token, not client credentials".into()))
            }
            Caller::Client(client) => {
                let id = parse_id(segment, "id_user")?;
                match state.store.user(id).await? {
                    Some(user) if user.id_client == Some(client.id) => Ok(id),
                    _ => Err(ApiError::not_found("userNotFound", "user")),
                }
            }
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::MissingToken)?
            .to_str()
            .map_err(|_| ApiError::InvalidToken)?
            .trim();
        let (scheme, credentials) = header.split_once(' ').ok_or(ApiError::InvalidToken)?;
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let token = state.store.find_token(credentials).await?.ok_or(ApiError::InvalidToken)?;
            return Ok(Caller::User(token));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD.decode(credentials).map_err(|_| ApiError::InvalidToken)?;
            let decoded = String::from_utf8(decoded).map_err(|_| ApiError::InvalidToken)?;
            let (id, secret) = decoded.split_once(':').ok_or(ApiError::InvalidToken)?;
            let client = state.store.authenticate_client(id, secret).await?.ok_or(ApiError::InvalidToken)?;
            return Ok(Caller::Client(client));
        }
        Err(ApiError::InvalidToken)
    }
}

/// A caller that must be a user (bearer token).
pub struct UserToken(pub Token);

impl FromRequestParts<AppState> for UserToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::User(token) => Ok(UserToken(token)),
            Caller::Client(_) => Err(ApiError::Forbidden("this call needs a user token".into())),
        }
    }
}

/// `limit`: `default` when absent, refused above `max` or below 1.
pub fn page_limit(query: &Params, default: i64, max: i64) -> ApiResult<i64> {
    match query.i64("limit")? {
        None => Ok(default),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::invalid("limit", format!("must be between 1 and {max}"))),
    }
}

/// `offset`: 0 when absent, never negative.
pub fn page_offset(query: &Params) -> ApiResult<i64> {
    match query.i64("offset")? {
        None => Ok(0),
        Some(offset) if offset >= 0 => Ok(offset),
        Some(_) => Err(ApiError::invalid("offset", "must not be negative")),
    }
}

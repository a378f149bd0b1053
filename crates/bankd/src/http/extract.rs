//! Extractors: how a request's body, query, path and credentials become typed values — or an
//! [`ApiError`] envelope, never axum's plain-text rejections.
//!
//! Powens clients send bodies as JSON, as urlencoded forms and as multipart forms (SDKs generated
//! from its Swagger file do), and query flags as `true/false/1/0` or bare (`?all`). All of them land
//! in one [`Params`] map with one set of coercion rules, so every handler and page reads input the
//! same way. An uploaded file is spooled to disk as it arrives ([`receive_upload`]).

use std::io::{Seek, SeekFrom, Write};

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Multipart, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::users::Token;
use crate::wire::error::{ApiError, ApiResult};
use crate::wire::params::{Params, parse_id};

/// Largest request body accepted (JSON and forms) when no [`BodyLimit`] is set; larger ones get
/// `413 payloadTooLarge`.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The request body limit in force (`BANKD_MAX_BODY_BYTES`), set on each request by
/// `middleware::limit_body` for the extractors that read a body themselves.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    pub fn of(request: &Request) -> usize {
        request.extensions().get::<BodyLimit>().map_or(MAX_BODY_BYTES, |limit| limit.0)
    }
}

/// The request body as [`Params`]: JSON object, urlencoded form or multipart form (text parts).
pub struct Body(pub Params);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let limit = BodyLimit::of(&req);
        if content_type.starts_with("multipart/form-data") {
            return parse_multipart(req, state, limit).await.map(Body);
        }
        let bytes =
            axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| ApiError::PayloadTooLarge { limit })?;
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

async fn parse_multipart<S: Send + Sync>(req: Request, state: &S, limit: usize) -> ApiResult<Params> {
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
        if total > limit {
            return Err(ApiError::PayloadTooLarge { limit });
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

/// Counts the request against its address's allowance, on a route that takes secrets. Put first
/// among a handler's arguments, it refuses before the body is read or a secret is checked.
pub struct Throttle;

impl FromRequestParts<AppState> for Throttle {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Requests served without a socket (tests through `oneshot`) have no address to count.
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied() else {
            return Ok(Throttle);
        };
        let forwarded = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        state.limits.check_address(state.limits.client_address(peer.ip(), forwarded))?;
        Ok(Throttle)
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

/// `413 payloadTooLarge` for an upload over `limit` bytes.
pub fn too_large(limit: u64) -> ApiError {
    ApiError::PayloadTooLarge { limit: usize::try_from(limit).unwrap_or(usize::MAX) }
}

/// The form: the `file` part spooled to a temporary file (refused past `limit` bytes), the other
/// parts as text.
pub async fn receive_upload(mut multipart: Multipart, limit: u64) -> ApiResult<(std::fs::File, Params)> {
    let bad = |e: axum::extract::multipart::MultipartError| ApiError::invalid("body", format!("malformed form: {e}"));
    let spool = |e: std::io::Error| ApiError::Internal(anyhow::anyhow!("spooling the upload: {e}"));
    let mut file = None;
    let mut fields = serde_json::Map::new();
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name != "file" {
            fields.insert(name, field.text().await.map_err(bad)?.into());
            continue;
        }
        let mut spooled = tempfile::tempfile().map_err(spool)?;
        let mut size = 0u64;
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            size += chunk.len() as u64;
            if size > limit {
                return Err(too_large(limit));
            }
            spooled.write_all(&chunk).map_err(spool)?;
        }
        spooled.seek(SeekFrom::Start(0)).map_err(spool)?;
        file = Some(spooled);
    }
    Ok((file.ok_or_else(|| ApiError::missing("file"))?, Params(fields)))
}

//! The Connect webview: the pages where a person picks a bank, authenticates, chooses the accounts
//! to share, and later repairs or manages connections (shared/api/webview.md).
//!
//! Served under `/webview/{lang}/{flow}` like Powens' (`lang` optional: the browser's language
//! decides), server-rendered from [`templates`] with no script at all: pages that wait for the bank
//! refresh themselves. The pages act through the same use-cases as the API (`usecases::connections::
//! connect` and `answer`, `usecases::accounts::consent`, `usecases::statements`), so the rules live in
//! one place.
//!
//! A journey starts at [`entry`]: the link's `client_id` and `redirect_uri` (registered, exact
//! match) are checked before anything else — a bad link gets an error page and is never redirected
//! — and its single-use `code` is exchanged at once for the [`session`] cookie, so the code does not
//! linger in the address bar or the history.

mod chart;
mod connect;
mod i18n;
mod manage;
mod session;
mod templates;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::header::{ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use crate::http::extract::{Path, Query};
use crate::state::AppState;
use crate::wire::error::ApiError;
use crate::wire::params::Params;
use i18n::Lang;
use session::{Flow, Session};

pub use templates::render;

pub fn router(max_upload_bytes: u64) -> Router<AppState> {
    let upload_limit = usize::try_from(max_upload_bytes).unwrap_or(usize::MAX).saturating_add(1 << 20);
    Router::new()
        .route("/webview/static/webview.css", get(stylesheet))
        .route("/webview/icons/{file}", get(connect::icon))
        .route("/webview/{flow}", get(entry_without_lang))
        .route("/webview/{lang}/{flow}", get(entry))
        .route("/webview/{lang}/banks", get(connect::banks))
        .route("/webview/{lang}/banks/{uuid}", get(connect::bank_form).post(connect::connect))
        .route(
            "/webview/{lang}/banks/{uuid}/upload",
            axum::routing::post(connect::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/webview/{lang}/connections", get(manage::list))
        .route("/webview/{lang}/connections/{id}", get(connect::step).post(connect::answer))
        .route("/webview/{lang}/connections/{id}/resume", get(connect::resume))
        .route("/webview/{lang}/connections/{id}/back", get(connect::back_from_bank))
        .route("/webview/{lang}/connections/{id}/accounts", get(connect::accounts).post(connect::share))
        .route("/webview/{lang}/connections/{id}/reconnect", get(manage::reconnect_page).post(manage::reconnect))
        .route("/webview/{lang}/connections/{id}/delete", get(manage::delete_page).post(manage::delete))
        .route("/webview/{lang}/accounts/{id}", axum::routing::post(manage::toggle_account))
        .route("/webview/{lang}/sources/{id}", axum::routing::post(manage::toggle_source))
        .route("/webview/{lang}/simplefin", axum::routing::post(manage::simplefin))
        .route("/webview/{lang}/close", axum::routing::post(connect::close))
        .layer(middleware::from_fn(security_headers))
}

/// What every page may load, and who may frame it: nothing but its own stylesheet, no script, no
/// frame. Forms post to the webview only; leaving for the bank or the app is a link or a refresh.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; \
               frame-ancestors 'none'";
    for (name, value) in [
        ("content-security-policy", csp),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> Response {
    let css = include_str!("static/webview.css");
    ([(CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response()
}

/// A page's failure, shown as a page (never an API envelope, never a redirect).
#[derive(Debug, thiserror::Error)]
pub enum WebviewError {
    /// The link is wrong: unknown app, unregistered `redirect_uri`, a used or expired `code`.
    #[error("bad link: {0}")]
    BadLink(String),
    /// No session, or an expired or forged one, or a form without its token.
    #[error("session expired")]
    Expired,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<crate::store::StoreError> for WebviewError {
    fn from(e: crate::store::StoreError) -> Self {
        WebviewError::Api(e.into())
    }
}

impl IntoResponse for WebviewError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            WebviewError::BadLink(why) => (StatusCode::BAD_REQUEST, Some(why.clone())),
            WebviewError::Expired => (StatusCode::BAD_REQUEST, None),
            WebviewError::NotFound => (StatusCode::NOT_FOUND, None),
            WebviewError::Api(e) => {
                tracing::error!(error = %e, "webview page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, None)
            }
        };
        let context = serde_json::json!({"lang": "en", "app": "", "message": message});
        let page = render("error.html", Lang::En, context);
        (status, page).into_response()
    }
}

pub type PageResult = Result<Response, WebviewError>;

/// A rendered page with the session's new cookie.
pub fn page(state: &AppState, session: &Session, lang: Lang, template: &str, mut context: Value) -> Response {
    if let Value::Object(fields) = &mut context {
        fields.insert("app".into(), session.app.clone().into());
        fields.insert("csrf".into(), session.csrf.clone().into());
        fields.insert("lang".into(), lang.code().into());
    }
    let html = render(template, lang, context);
    ([session.cookie(state)], html).into_response()
}

/// `303 See Other` to a page of the webview, keeping the session.
pub fn to(state: &AppState, session: &Session, lang: Lang, path: &str) -> Response {
    let location = format!("/webview/{}/{}", lang.code(), path.trim_start_matches('/'));
    (StatusCode::SEE_OTHER, [(LOCATION, location)], [session.cookie(state)]).into_response()
}

/// The `{lang}` path segment.
pub fn lang(segment: &str) -> Result<Lang, WebviewError> {
    Lang::parse(segment).ok_or(WebviewError::NotFound)
}

/// A posted form: every pair, repeated names kept (the accounts a person ticks).
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The answers as API parameters, the CSRF token left out.
    pub fn params(&self) -> Params {
        Params(self.0.iter().filter(|(k, _)| k != "csrf").map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = WebviewError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebviewError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|_| WebviewError::Expired)?;
        serde_urlencoded::from_bytes(&bytes).map(Form).map_err(|_| WebviewError::Expired)
    }
}

async fn entry_without_lang(
    state: State<AppState>,
    headers: HeaderMap,
    Path(flow): Path<String>,
    query: Query,
) -> PageResult {
    let accepted = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    start(state, Lang::from_accept_language(accepted), &flow, query).await
}

async fn entry(state: State<AppState>, Path((lang_code, flow)): Path<(String, String)>, query: Query) -> PageResult {
    start(state, lang(&lang_code)?, &flow, query).await
}

/// Checks the link, exchanges its code for the session cookie, and sends the person to the flow's
/// first page.
async fn start(State(state): State<AppState>, lang: Lang, flow: &str, Query(query): Query) -> PageResult {
    let flow = Flow::parse(flow).ok_or(WebviewError::NotFound)?;
    let bad = |why: &str| WebviewError::BadLink(why.to_owned());
    let text = |name: &str| query.str(name).ok().flatten().filter(|v| !v.is_empty());
    let client_id = text("client_id").ok_or_else(|| bad("client_id is missing"))?;
    let client = state.store.client_by_client_id(&client_id).await?.ok_or_else(|| bad("unknown client_id"))?;
    let redirect_uri = text("redirect_uri");
    let registered = state.store.client_redirect_uris(client.id).await?;
    // An app with no redirect URI at all is a person's own (`bankd user create`): its journeys
    // end on "you can close this page".
    if redirect_uri.is_none() && flow != Flow::Manage && !registered.is_empty() {
        return Err(bad("redirect_uri is missing"));
    }
    if let Some(uri) = &redirect_uri
        && !registered.contains(uri)
    {
        return Err(bad("redirect_uri is not registered for this application"));
    }
    let mut session = Session::new(client.id, client.name.clone(), flow);
    session.redirect_uri = redirect_uri;
    session.state = text("state");
    session.reset_credentials = text("reset_credentials").as_deref() == Some("true");
    let list = |text: String| text.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    session.connectors = text("connector_uuids").map(list).unwrap_or_default();
    if let Some(capabilities) = text("connector_capabilities").map(list) {
        session.capabilities = capabilities;
    }
    session.id_user = match text("code") {
        Some(code) => Some(redeem(&state, &code, client.id).await?),
        None if flow == Flow::Connect => None,
        None => return Err(bad("code is missing")),
    };
    let first = match flow {
        Flow::Connect if session.connectors.len() == 1 => format!("banks/{}", session.connectors[0]),
        Flow::Connect => "banks".to_owned(),
        Flow::Manage => "connections".to_owned(),
        Flow::Reconnect => {
            let id = text("connection_id").ok_or_else(|| bad("connection_id is missing"))?;
            let id = id.parse::<i64>().map_err(|_| bad("connection_id is not an id"))?;
            state.store.connection(session.user()?, id).await?.ok_or_else(|| bad("unknown connection_id"))?;
            format!("connections/{id}/reconnect")
        }
    };
    Ok(to(&state, &session, lang, &first))
}

/// The user a link's `code` stands for: single-use codes are burnt here.
async fn redeem(state: &AppState, code: &str, id_client: i64) -> Result<i64, WebviewError> {
    let expired = || WebviewError::BadLink("the code has expired or was already used".into());
    let code = state.store.find_code(code).await?.ok_or_else(expired)?;
    // Whose code it is is checked before it is burnt: another app's link must not spend it.
    match state.store.user(code.id_user).await? {
        Some(user) if user.id_client == Some(id_client) => {}
        _ => return Err(expired()),
    }
    if !state.store.take_code(&code).await? {
        return Err(expired());
    }
    Ok(code.id_user)
}

/// The end of a journey: a page that sends the person back to the app's `redirect_uri` with the
/// outcome (or says they can close it when the link had none), and the session ended.
pub fn finish(state: &AppState, session: &Session, lang: Lang, outcome: Vec<(&str, String)>) -> Response {
    let mut pairs = outcome;
    if let Some(client_state) = &session.state {
        pairs.push(("state", client_state.clone()));
    }
    let target = session.redirect_uri.as_ref().map(|uri| {
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        let separator = if uri.contains('?') { '&' } else { '?' };
        format!("{uri}{separator}{query}")
    });
    let context = serde_json::json!({"app": session.app, "lang": lang.code(), "target": target});
    ([Session::cleared(state)], render("returning.html", lang, context)).into_response()
}

//! The connect journey: pick a bank, give its credentials (or a statement file), go through
//! whatever the bank asks (a code, its own page, a validation in its app), choose the accounts to
//! share, and back to the app. Each step is the connection's state read again: the page for
//! `additionalInformationNeeded` is the question, for `decoupled` a page that waits, and so on —
//! the same states an app sees through the API.

use std::collections::HashSet;

use axum::extract::{Multipart, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::i18n::Lang;
use super::session::{Flow, Session};
use super::{Form, PageResult, WebviewError, finish, lang, page, to};
use crate::catalog::{Connector, Field};
use crate::http::extract::{Path, Query};
use crate::state::AppState;
use crate::store::rows::Connection;
use crate::store::users::TokenKind;
use crate::usecases::accounts::consent;
use crate::usecases::connections::{answer as sync_answer, answer_request, connect as sync_connect, credentials_from};
use crate::wire::error::ApiError;
use crate::wire::params::Params;

/// How long the `code` a journey hands back for the user it created stays valid.
const CODE_TTL: chrono::Duration = chrono::Duration::minutes(30);

/// Whether the link offers this bank: listed, with every capability it asks for, among its
/// `connector_uuids`.
fn offers(session: &Session, connector: &Connector) -> bool {
    !connector.hidden
        && session.capabilities.iter().all(|cap| connector.capabilities.contains(cap))
        && (session.connectors.is_empty() || session.connectors.contains(&connector.uuid.to_string()))
}

fn offered_connector<'a>(state: &'a AppState, session: &Session, uuid: &str) -> Result<&'a Connector, WebviewError> {
    let connectors = &state.catalog.connectors;
    connectors.iter().find(|c| c.uuid.to_string() == uuid && offers(session, c)).ok_or(WebviewError::NotFound)
}

/// The session user's connection with this id.
pub async fn connection_of(state: &AppState, session: &Session, id: i64) -> Result<Connection, WebviewError> {
    state.store.connection(session.user()?, id).await?.ok_or(WebviewError::NotFound)
}

pub fn connector_of<'a>(state: &'a AppState, connection: &Connection) -> Result<&'a Connector, WebviewError> {
    state.catalog.connector(connection.id_connector).ok_or(WebviewError::NotFound)
}

/// `GET banks`: the searchable list.
pub async fn banks(
    State(state): State<AppState>,
    session: Session,
    Path(lang_code): Path<String>,
    Query(query): Query,
) -> PageResult {
    let lang = lang(&lang_code)?;
    let q = query.str("q").ok().flatten().unwrap_or_default();
    let needle = q.trim().to_lowercase();
    let banks: Vec<Value> = (state.catalog.connectors.iter())
        .filter(|c| offers(&session, c) && matches(c, &needle))
        .map(
            |c| json!({"uuid": c.uuid.to_string(), "name": c.name, "countries": c.countries, "icon": c.icon.is_some()}),
        )
        .collect();
    Ok(page(&state, &session, lang, "banks.html", json!({"banks": banks, "q": q})))
}

/// A bank answers a search by its name or its slug (`cragr`, `bnp`), whatever the case.
fn matches(connector: &Connector, needle: &str) -> bool {
    connector.name.to_lowercase().contains(needle)
        || connector.slug.as_ref().is_some_and(|slug| slug.to_lowercase().contains(needle))
}

/// `GET icons/{uuid}.png`: a bank's icon, served from the file its catalog entry names (woob
/// modules ship theirs), never fetched from the bank's site.
pub async fn icon(State(state): State<AppState>, Path(file): Path<String>) -> PageResult {
    let uuid = file.strip_suffix(".png").and_then(|u| u.parse().ok()).ok_or(WebviewError::NotFound)?;
    let path = state.catalog.connector_by_uuid(uuid).and_then(|c| c.icon.clone()).ok_or(WebviewError::NotFound)?;
    let png = tokio::fs::read(path).await.map_err(|_| WebviewError::NotFound)?;
    let headers = [(CONTENT_TYPE, "image/png"), (CACHE_CONTROL, "public, max-age=86400")];
    Ok((headers, png).into_response())
}

/// `GET banks/{uuid}`: the bank's credential form, or the upload form of statement files.
pub async fn bank_form(
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, uuid)): Path<(String, String)>,
) -> PageResult {
    let lang = lang(&lang_code)?;
    let connector = offered_connector(&state, &session, &uuid)?;
    if connector.is_passive() {
        let action = format!("/webview/{}/banks/{uuid}/upload", lang.code());
        return Ok(page(&state, &session, lang, "upload.html", json!({"bank": connector.name, "action": action})));
    }
    Ok(credentials_page(&state, &session, lang, connector, &format!("banks/{uuid}"), None, &Params::default()))
}

/// The form of a connector's credentials, posting to `action` (a webview path).
pub fn credentials_page(
    state: &AppState,
    session: &Session,
    lang: Lang,
    connector: &Connector,
    action: &str,
    alert: Option<String>,
    values: &Params,
) -> Response {
    let bank = [("bank", connector.name.as_str())];
    let context = json!({
        "heading": lang.fill("connect_to", &bank),
        "help": lang.fill("credentials_help", &bank),
        "action": format!("/webview/{}/{action}", lang.code()),
        "form_fields": connector.fields,
        "submit": lang.fill("connect", &[]),
        "alert": alert,
        "values": shown_again(&values.0, &connector.fields),
        "hidden": {},
    });
    page(state, session, lang, "form.html", context)
}

/// What a form shows again after a refusal: what the person typed, never a password.
fn shown_again(values: &Map<String, Value>, fields: &[Field]) -> Map<String, Value> {
    values
        .iter()
        .filter(|(name, _)| fields.iter().any(|f| f.name == **name && f.kind != crate::catalog::FieldKind::Password))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What to tell the person about a refused form, or `None` if it is not theirs to fix.
fn alert(e: &ApiError, lang: Lang, fields: &[Field]) -> Option<String> {
    let label = |name: &str| fields.iter().find(|f| f.name == name).map_or(name.to_owned(), |f| f.label.clone());
    match e {
        ApiError::MissingParameter(name) => {
            Some(lang.fill("invalid_field", &[("field", &label(name)), ("why", lang.fill("required", &[]).as_str())]))
        }
        ApiError::InvalidValue { field, why } => {
            Some(lang.fill("invalid_field", &[("field", &label(field)), ("why", why)]))
        }
        ApiError::Bank { code, message, .. } => Some(message.clone().unwrap_or_else(|| code.to_string())),
        ApiError::ConnectionLocked => Some(lang.fill("busy", &[])),
        _ => None,
    }
}

/// The journey's user, created now when the link came without a `code`.
async fn user(state: &AppState, session: &mut Session) -> Result<i64, WebviewError> {
    if let Some(id) = session.id_user {
        return Ok(id);
    }
    let user = state.store.create_user(Some(session.id_client), "webview").await?;
    session.id_user = Some(user.id);
    session.created_user = true;
    Ok(user.id)
}

/// `POST banks/{uuid}`: creates the connection, the bank checking the credentials at once.
pub async fn connect(
    State(state): State<AppState>,
    mut session: Session,
    Path((lang_code, uuid)): Path<(String, String)>,
    form: Form,
) -> PageResult {
    let lang = lang(&lang_code)?;
    session.check_csrf(form.get("csrf"))?;
    let connector = offered_connector(&state, &session, &uuid)?;
    let params = form.params();
    let refused = |e: ApiError, session: &Session| match alert(&e, lang, &connector.fields) {
        Some(text) => {
            Ok(credentials_page(&state, session, lang, connector, &format!("banks/{uuid}"), Some(text), &params))
        }
        None => Err(WebviewError::Api(e)),
    };
    let credentials = match credentials_from(&params, connector, true) {
        Ok(credentials) => credentials,
        Err(e) => return refused(e, &session),
    };
    let id_user = user(&state, &mut session).await?;
    match sync_connect(&state, id_user, connector, &credentials, None, true).await {
        Ok(connection) => {
            session.added.push(connection.id);
            Ok(to(&state, &session, lang, &format!("connections/{}", connection.id)))
        }
        Err(e) => refused(e, &session),
    }
}

/// `POST banks/{uuid}/upload`: a statement file instead of credentials.
pub async fn upload(
    State(state): State<AppState>,
    mut session: Session,
    Path((lang_code, uuid)): Path<(String, String)>,
    multipart: Multipart,
) -> PageResult {
    let lang = lang(&lang_code)?;
    let connector = offered_connector(&state, &session, &uuid)?;
    let (file, fields) = crate::http::extract::receive_upload(multipart, state.settings.max_upload_bytes).await?;
    session.check_csrf(fields.str("csrf").ok().flatten().as_deref())?;
    let id_user = user(&state, &mut session).await?;
    match crate::usecases::statements::import_received(&state, id_user, file, &Params::default()).await {
        Ok(imported) => {
            session.added.push(imported.connection.id);
            Ok(to(&state, &session, lang, &format!("connections/{}", imported.connection.id)))
        }
        Err(e) => {
            let text = match &e {
                ApiError::InvalidStatement(why) => why.to_string(),
                other => alert(other, lang, &[]).ok_or(WebviewError::Api(e))?,
            };
            let action = format!("/webview/{}/banks/{uuid}/upload", lang.code());
            let context = json!({"bank": connector.name, "action": action, "alert": text});
            Ok(page(&state, &session, lang, "upload.html", context))
        }
    }
}

/// `GET connections/{id}`: the page for where the connection stands now.
pub async fn step(
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
    Query(query): Query,
) -> PageResult {
    let lang = lang(&lang_code)?;
    let connection = connection_of(&state, &session, id).await?;
    let connector = connector_of(&state, &connection)?;
    let bank = [("bank", connector.name.as_str())];
    let here = format!("/webview/{}/connections/{id}", lang.code());
    let message = connection.error_message.clone();
    let Some(connection_state) = connection.state.as_deref() else {
        return synced(&state, &session, lang, &connection).await;
    };
    let context = match connection_state {
        "validating" => json!({
            "template": "wait.html", "heading": lang.fill("wait_title", &bank), "help": lang.fill("wait_help", &[]),
            "next": here,
        }),
        "decoupled" => json!({
            "template": "wait.html", "heading": lang.fill("decoupled_title", &[]),
            "help": lang.fill("decoupled_help", &bank), "message": message, "next": format!("{here}/resume"),
        }),
        "additionalInformationNeeded" => {
            let fields: Vec<Field> =
                connection.fields.as_deref().and_then(|f| serde_json::from_str(f).ok()).unwrap_or_default();
            json!({
                "template": "form.html", "heading": lang.fill("more_info", &bank), "message": message,
                "action": here, "form_fields": fields, "submit": lang.fill("continue", &[]), "hidden": {}, "values": {},
            })
        }
        "webauthRequired" => {
            let pending = state.store.latest_webauth_request(id).await?.ok_or(WebviewError::NotFound)?;
            let back = format!("{}/webview/{}/connections/{id}/back", state.public_url, lang.code());
            state.store.set_webauth_return(&pending.state, &back, None).await?;
            let denied = query.str("denied").ok().flatten().map(|_| lang.fill("webauth_denied", &bank));
            json!({"template": "webauth.html", "bank": connector.name, "url": pending.bank_url, "alert": denied})
        }
        "wrongpass" | "passwordExpired" => {
            let alert = lang.fill(&format!("state_{connection_state}"), &bank);
            let page = credentials_page(
                &state,
                &session,
                lang,
                connector,
                &format!("connections/{id}"),
                Some(alert),
                &Params::default(),
            );
            return Ok(page);
        }
        "SCARequired" => return Ok(to(&state, &session, lang, &format!("connections/{id}/reconnect"))),
        other => json!({
            "template": "problem.html", "bank": connector.name, "id": id, "message": message,
            "explanation": state_text(lang, other, &connector.name),
        }),
    };
    let template = context["template"].as_str().unwrap_or("error.html").to_owned();
    Ok(page(&state, &session, lang, &template, context))
}

/// What a connection's state means for the person, in their language.
pub fn state_text(lang: Lang, state: &str, bank: &str) -> String {
    let key = format!("state_{state}");
    let key = if lang.text(&key).is_some() { key } else { "state_other".to_owned() };
    lang.fill(&key, &[("bank", bank)])
}

/// Where a healthy connection's journey goes next: choosing accounts after a new connection, the
/// app after a reconnection, the list when managing.
async fn synced(state: &AppState, session: &Session, lang: Lang, connection: &Connection) -> PageResult {
    let added = session.added.contains(&connection.id);
    Ok(match session.flow {
        _ if added => to(state, session, lang, &format!("connections/{}/accounts", connection.id)),
        Flow::Manage => to(state, session, lang, "connections"),
        Flow::Connect | Flow::Reconnect => {
            finish(state, session, lang, vec![("connection_id", connection.id.to_string())])
        }
    })
}

/// `POST connections/{id}`: the person's answer (a code, new credentials, or "try again").
pub async fn answer(
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
    form: Form,
) -> PageResult {
    let lang = lang(&lang_code)?;
    session.check_csrf(form.get("csrf"))?;
    let connection = connection_of(&state, &session, id).await?;
    let connector = connector_of(&state, &connection)?;
    sync_and_continue(&state, &session, lang, &connection, connector, &form.params(), &format!("connections/{id}"))
        .await
}

/// Runs the sync `params` ask for (see `usecases::connections::answer_request`), then shows where the
/// connection stands; a refusal shows the credential form again, posting to `form_path`.
pub async fn sync_and_continue(
    state: &AppState,
    session: &Session,
    lang: Lang,
    connection: &Connection,
    connector: &Connector,
    params: &Params,
    form_path: &str,
) -> PageResult {
    let result = match answer_request(params, connector, None) {
        Ok(request) => sync_answer(state, connection, &request, true).await.map(drop),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) | Err(ApiError::ConnectionLocked) => {
            Ok(to(state, session, lang, &format!("connections/{}", connection.id)))
        }
        Err(e) => match alert(&e, lang, &connector.fields) {
            Some(text) => Ok(credentials_page(state, session, lang, connector, form_path, Some(text), params)),
            None => Err(WebviewError::Api(e)),
        },
    }
}

/// `GET connections/{id}/resume`: the waiting page's refresh asks the bank whether the person has
/// validated in its app.
pub async fn resume(
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
) -> PageResult {
    let lang = lang(&lang_code)?;
    let connection = connection_of(&state, &session, id).await?;
    if connection.state.as_deref() != Some("decoupled") {
        return Ok(to(&state, &session, lang, &format!("connections/{id}")));
    }
    let connector = connector_of(&state, &connection)?;
    let resume = Params([("resume".to_owned(), Value::from("true"))].into_iter().collect());
    sync_and_continue(&state, &session, lang, &connection, connector, &resume, &format!("connections/{id}")).await
}

/// `GET connections/{id}/back`: where the bank's page returns (through `/2.0/webauth/callback`,
/// which already synced with the bank's answer).
pub async fn back_from_bank(
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
    Query(query): Query,
) -> PageResult {
    let lang = lang(&lang_code)?;
    // Only the connection's owner is sent on to its page; anyone else learns nothing, not even that
    // the id exists.
    connection_of(&state, &session, id).await?;
    let denied = query.str("error").ok().flatten().is_some();
    let path = if denied { format!("connections/{id}?denied=1") } else { format!("connections/{id}") };
    Ok(to(&state, &session, lang, &path))
}

/// `GET connections/{id}/accounts`: every account the bank listed, to tick those to share.
pub async fn accounts(
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
) -> PageResult {
    let lang = lang(&lang_code)?;
    let connection = connection_of(&state, &session, id).await?;
    let connector = connector_of(&state, &connection)?;
    let accounts: Vec<Value> = state
        .store
        .accounts_of_connection(id)
        .await?
        .iter()
        .filter(|a| a.deleted.is_none())
        .map(|a| json!({"id": a.id, "name": a.name.as_ref().unwrap_or(&a.original_name), "shared": a.disabled.is_none()}))
        .collect();
    Ok(page(&state, &session, lang, "accounts.html", json!({"id": id, "bank": connector.name, "accounts": accounts})))
}

/// `POST connections/{id}/accounts`: the ticked accounts are enabled (the consent), the others not.
pub async fn share(
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
    form: Form,
) -> PageResult {
    let lang = lang(&lang_code)?;
    session.check_csrf(form.get("csrf"))?;
    let connection = connection_of(&state, &session, id).await?;
    let ticked: HashSet<i64> = form.all("account").filter_map(|id| id.parse().ok()).collect();
    for account in state.store.accounts_of_connection(connection.id).await? {
        let share = ticked.contains(&account.id);
        if account.deleted.is_none() && share != account.disabled.is_none() {
            consent(&state, &account, share).await?;
        }
    }
    if session.flow == Flow::Manage {
        return Ok(to(&state, &session, lang, "connections"));
    }
    let mut outcome = vec![("connection_id", connection.id.to_string())];
    if session.added.len() > 1 {
        outcome.push(("connection_ids", session.added.iter().map(i64::to_string).collect::<Vec<_>>().join(",")));
    }
    if session.created_user {
        let code = state.store.issue_token(session.user()?, TokenKind::Code, true, Some(CODE_TTL)).await?;
        outcome.push(("code", code.secret));
    }
    Ok(finish(&state, &session, lang, outcome))
}

/// `POST close`: the person leaves — cancelling (`cancel`), or closing the manage pages.
pub async fn close(
    State(state): State<AppState>,
    session: Session,
    Path(lang_code): Path<String>,
    form: Form,
) -> PageResult {
    let lang = lang(&lang_code)?;
    session.check_csrf(form.get("csrf"))?;
    let outcome = match (session.flow, form.get("cancel").is_some()) {
        // Leaving a bank added from the manage pages goes back to them.
        (Flow::Manage, true) => return Ok(to(&state, &session, lang, "connections")),
        (Flow::Manage, false) if session.deleted => vec![("connection_deleted", "true".to_owned())],
        (Flow::Manage, false) => vec![],
        _ => vec![("error", "access_denied".to_owned()), ("error_description", lang.fill("cancelled", &[]))],
    };
    Ok(finish(&state, &session, lang, outcome))
}

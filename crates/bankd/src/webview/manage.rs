//! The manage pages — a person's connections with their state, the accounts shared with the app
//! (each with its balance over the last 90 days) and the sources used, to enable, disable,
//! reconnect or delete — and the reconnect page, which a `reconnect` link opens directly.

use axum::extract::State;
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use super::chart::polyline_points;
use super::connect::{connection_of, connector_of, state_text, sync_and_continue};
use super::i18n::Lang;
use super::session::Session;
use super::{Form, PageResult, WebviewError, lang, page, to};
use crate::http::extract::{Path, Throttle};
use crate::state::AppState;
use crate::store::now;
use crate::store::rows::Account;
use crate::usecases::accounts::consent;
use crate::usecases::connections::set_source_disabled;
use crate::usecases::simplefin::setup_token;
use crate::wire::error::ApiError;
use crate::wire::{CurrencyView, formatted_amount};

/// States in which the person, not bankd, must act.
const NEEDS_YOU: [&str; 6] =
    ["wrongpass", "passwordExpired", "SCARequired", "webauthRequired", "additionalInformationNeeded", "actionNeeded"];

/// `GET connections`: every connection of the person.
pub async fn list(State(state): State<AppState>, session: Session, Path(lang_code): Path<String>) -> PageResult {
    let lang = lang(&lang_code)?;
    let mut connections = Vec::new();
    for connection in state.store.connections_of_user(session.user()?, true).await? {
        let connector = connector_of(&state, &connection)?;
        let accounts = account_rows(&state, lang, connection.id).await?;
        let sources: Vec<Value> = state
            .store
            .connection_sources(connection.id)
            .await?
            .iter()
            .map(|s| json!({"id": s.id, "name": s.name, "enabled": s.disabled.is_none()}))
            .collect();
        let status = match connection.state.as_deref() {
            None => lang.fill("state_ok", &[]),
            Some(current) => state_text(lang, current, &connector.name),
        };
        connections.push(json!({
            "id": connection.id,
            "bank": connector.name,
            "status": status,
            "needs_you": connection.state.as_deref().is_some_and(|s| NEEDS_YOU.contains(&s)),
            "last_update": connection.last_update.map(|at| state.clock.datetime(at)),
            "accounts": accounts,
            "sources": sources,
            "passive": connector.is_passive(),
        }));
    }
    Ok(page(&state, &session, lang, "manage.html", json!({"connections": connections})))
}

/// The connection's present accounts, each shared one with its balance curve.
async fn account_rows(state: &AppState, lang: Lang, id_connection: i64) -> Result<Vec<Value>, WebviewError> {
    let mut rows = Vec::new();
    for a in state.store.accounts_of_connection(id_connection).await?.iter().filter(|a| a.deleted.is_none()) {
        let shared = a.disabled.is_none();
        let curve = if shared { balance_curve(state, lang, a).await? } else { None };
        let name = a.name.as_ref().unwrap_or(&a.original_name);
        rows.push(json!({"id": a.id, "name": name, "shared": shared, "curve": curve}));
    }
    Ok(rows)
}

/// The days a curve shows: the last 90, today included.
const CURVE_DAYS: i64 = 90;
/// The box the curve is drawn in, in the SVG's units (manage.html puts the labels around it).
const CURVE_WIDTH: u32 = 320;
const CURVE_HEIGHT: u32 = 56;

/// What manage.html needs to draw an account's balance over the last days; `None` without history.
async fn balance_curve(state: &AppState, lang: Lang, account: &Account) -> Result<Option<Value>, WebviewError> {
    let since = now().date_naive() - Duration::days(CURVE_DAYS - 1);
    let days = state.store.balance_history(account.id, Some(since), None).await?;
    let (Some(first), Some(last)) = (days.first(), days.last()) else { return Ok(None) };
    let currency = CurrencyView::of(account.currency.as_deref().unwrap_or_default());
    let money = |units: i64| formatted_amount(units, &currency);
    let rows: Vec<(NaiveDate, i64)> = days.iter().map(|day| (day.date, day.balance)).collect();
    let (low, high) = (rows.iter().map(|r| r.1).min(), rows.iter().map(|r| r.1).max());
    let (first_date, last_date) = (first.date.to_string(), last.date.to_string());
    let label = lang.fill(
        "balance_curve",
        &[
            ("first", &money(first.balance)),
            ("first_date", &first_date),
            ("last", &money(last.balance)),
            ("last_date", &last_date),
        ],
    );
    Ok(Some(json!({
        "points": polyline_points(&rows, f64::from(CURVE_WIDTH), f64::from(CURVE_HEIGHT)),
        "width": CURVE_WIDTH,
        "height": CURVE_HEIGHT,
        "first_date": first_date,
        "last_date": last_date,
        "min": low.map(money),
        "max": high.map(money),
        "label": label,
    })))
}

/// `GET connections/{id}/reconnect`: what went wrong and a button to authenticate again — with
/// the credential form when the bank refused them or the link asks for them all again.
pub async fn reconnect_page(
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
) -> PageResult {
    let lang = lang(&lang_code)?;
    let connection = connection_of(&state, &session, id).await?;
    let connector = connector_of(&state, &connection)?;
    let bank = [("bank", connector.name.as_str())];
    let asks_credentials =
        session.reset_credentials || matches!(connection.state.as_deref(), Some("wrongpass" | "passwordExpired"));
    let fields = if asks_credentials { connector.fields.clone() } else { Vec::new() };
    let context = json!({
        "heading": lang.fill("reconnect_title", &bank),
        "help": connection.state.as_deref().map(|s| state_text(lang, s, &connector.name)),
        "message": connection.error_message,
        "action": format!("/webview/{}/connections/{id}/reconnect", lang.code()),
        "form_fields": fields,
        "submit": lang.fill("reconnect", &[]),
        "hidden": {},
        "values": {},
    });
    Ok(page(&state, &session, lang, "form.html", context))
}

/// `POST connections/{id}/reconnect`: a strong authentication again (with new credentials if
/// given); the bank's next steps are the connect journey's.
pub async fn reconnect(
    _: Throttle,
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
    form: Form,
) -> PageResult {
    let lang = lang(&lang_code)?;
    session.check_csrf(form.get("csrf"))?;
    // Credentials and one-time codes typed here go to the bank: guessing them costs time.
    state.limits.check_client(session.id_client).map_err(ApiError::from)?;
    let connection = connection_of(&state, &session, id).await?;
    let connector = connector_of(&state, &connection)?;
    let mut params = form.params();
    params.0.insert("refresh_auth".into(), Value::from("true"));
    let form_path = format!("connections/{id}/reconnect");
    sync_and_continue(&state, &session, lang, &connection, connector, &params, &form_path).await
}

/// `GET connections/{id}/delete`: asks for confirmation.
pub async fn delete_page(
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
) -> PageResult {
    let lang = lang(&lang_code)?;
    let connection = connection_of(&state, &session, id).await?;
    let connector = connector_of(&state, &connection)?;
    Ok(page(&state, &session, lang, "delete.html", json!({"id": id, "bank": connector.name})))
}

/// `POST connections/{id}/delete`: deletes the connection with its accounts and transactions.
pub async fn delete(
    State(state): State<AppState>,
    mut session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
    form: Form,
) -> PageResult {
    let lang = lang(&lang_code)?;
    session.check_csrf(form.get("csrf"))?;
    let connection = connection_of(&state, &session, id).await?;
    state.store.delete_connection(connection.id_user, connection.id).await?;
    session.deleted = true;
    Ok(to(&state, &session, lang, "connections"))
}

/// `POST accounts/{id}`: shares an account with the app, or stops sharing it.
pub async fn toggle_account(
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
    form: Form,
) -> PageResult {
    let lang = lang(&lang_code)?;
    session.check_csrf(form.get("csrf"))?;
    let account = state.store.account(session.user()?, id).await?.ok_or(WebviewError::NotFound)?;
    let enabled = form.get("enabled") == Some("true");
    match consent(&state, &account, enabled).await {
        Ok(()) | Err(ApiError::ConnectionLocked) => Ok(to(&state, &session, lang, "connections")),
        Err(e) => Err(WebviewError::Api(e)),
    }
}

/// `POST sources/{id}`: lets a sync use one of the connection's sources, or not.
pub async fn toggle_source(
    State(state): State<AppState>,
    session: Session,
    Path((lang_code, id)): Path<(String, i64)>,
    form: Form,
) -> PageResult {
    let lang = lang(&lang_code)?;
    session.check_csrf(form.get("csrf"))?;
    let source = state.store.user_source(session.user()?, id).await?.ok_or(WebviewError::NotFound)?;
    set_source_disabled(&state, &source, form.get("enabled") != Some("true")).await?;
    Ok(to(&state, &session, lang, "connections"))
}

/// `POST simplefin`: a SimpleFIN setup token of the person, for their budgeting app.
pub async fn simplefin(
    State(state): State<AppState>,
    session: Session,
    Path(lang_code): Path<String>,
    form: Form,
) -> PageResult {
    let lang = lang(&lang_code)?;
    session.check_csrf(form.get("csrf"))?;
    let token = setup_token(&state.store, &state.public_url, session.user()?).await?;
    Ok(page(&state, &session, lang, "simplefin.html", json!({"token": token})))
}

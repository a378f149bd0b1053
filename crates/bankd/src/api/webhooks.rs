//! `/webhooks`: what a client app (HTTP Basic client credentials) subscribes to.
//!
//! - Powens' auth providers, `POST/GET /webhooks/auth`, `DELETE /webhooks/auth/{id}`: the HMAC
//!   secrets deliveries are signed with, shown once at creation.
//! - bankd's subscriptions, `GET/POST /webhooks`, `DELETE /webhooks/{id}`: a URL for an event.
//! - The delivery log, `GET /webhooks/{id}/deliveries`, and `POST /webhooks/deliveries/{id}/replay`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::extract::{Body, Caller, Path, Query};
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::outbox::Event;
use crate::store::webhooks::{AuthProvider, Delivery, HMAC_SIGNATURE, Webhook};
use crate::webhooks::safety::check_webhook_url;
use crate::wire::ApiClock;
use crate::wire::error::{ApiError, ApiResult, ErrorBody};
use crate::wire::params::{page_limit, parse_id};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_auth_providers, create_auth_provider))
        .routes(routes!(delete_auth_provider))
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(replay_delivery))
}

#[derive(Serialize, ToSchema)]
pub struct AuthProviderView {
    id: i64,
    /// `hmac_signature`.
    r#type: String,
    name: String,
    /// Only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<AuthConfig>,
}

#[derive(Serialize, ToSchema)]
pub struct AuthConfig {
    /// The HMAC key of `BI-Signature`; `whsec_` followed by it is the Standard Webhooks secret.
    secret_key: String,
}

impl AuthProviderView {
    fn new(provider: &AuthProvider, secret_key: Option<String>) -> Self {
        AuthProviderView {
            id: provider.id,
            r#type: provider.kind.clone(),
            name: provider.name.clone(),
            config: secret_key.map(|secret_key| AuthConfig { secret_key }),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuthProviderList {
    authproviders: Vec<AuthProviderView>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    id: i64,
    event: String,
    url: String,
    /// The auth provider its deliveries are signed with.
    id_auth: Option<i64>,
    created: String,
}

impl WebhookView {
    fn new(webhook: &Webhook, clock: &ApiClock) -> Self {
        WebhookView {
            id: webhook.id,
            event: webhook.event.clone(),
            url: webhook.url.clone(),
            id_auth: webhook.id_auth,
            created: clock.datetime(webhook.created),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    webhooks: Vec<WebhookView>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    id: i64,
    id_webhook: i64,
    /// The event's id: the `webhook-id` header is `evt_` and this.
    id_event: i64,
    event: String,
    url: String,
    id_user: i64,
    /// `pending`, `delivered` or `failed`.
    state: String,
    attempts: i64,
    /// The last answer's HTTP status; none if the receiver did not answer.
    last_status: Option<i64>,
    last_latency_ms: Option<i64>,
    last_error: Option<String>,
    last_attempt: Option<String>,
    /// When a pending delivery is tried next.
    next_try: Option<String>,
    created: String,
}

impl DeliveryView {
    pub fn new(d: &Delivery, clock: &ApiClock) -> Self {
        DeliveryView {
            id: d.id,
            id_webhook: d.id_webhook,
            id_event: d.id_event,
            event: d.event.clone(),
            url: d.url.clone(),
            id_user: d.id_user,
            state: d.state.clone(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_latency_ms: d.last_latency_ms,
            last_error: d.last_error.clone(),
            last_attempt: clock.opt_datetime(d.last_attempt),
            next_try: (d.state == "pending").then(|| clock.datetime(d.run_at)),
            created: clock.datetime(d.created),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    deliveries: Vec<DeliveryView>,
}

/// Webhook calls are the client app's own.
fn client(caller: Caller) -> ApiResult<Client> {
    match caller {
        Caller::Client(client) => Ok(client),
        Caller::User(_) => Err(ApiError::Forbidden("webhooks are managed with client credentials".into())),
    }
}

/// Powens' auth provider names are short and alphanumeric.
fn check_provider_name(name: &str) -> ApiResult<()> {
    if name.len() <= 32 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(ApiError::invalid("name", "at most 32 letters, digits or underscores"))
    }
}

/// The client app's webhook auth providers (secrets are never shown again).
#[utoipa::path(get, path = "/webhooks/auth", tag = "webhooks", security(("client" = [])),
    responses((status = 200, body = AuthProviderList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_auth_providers(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<AuthProviderList>> {
    let client = client(caller)?;
    let providers = state.store.auth_providers(client.id).await?;
    Ok(Json(AuthProviderList { authproviders: providers.iter().map(|p| AuthProviderView::new(p, None)).collect() }))
}

/// Create an HMAC auth provider: `type=hmac_signature`, a short alphanumeric `name`. The answer's
/// `config.secret_key` is shown this once.
#[utoipa::path(post, path = "/webhooks/auth", tag = "webhooks", security(("client" = [])),
    params(("type" = Option<String>, Query, pattern = "^hmac_signature$"), ("name" = String, Query, pattern = "^[A-Za-z0-9_]{1,32}$")),
    responses((status = 200, body = AuthProviderView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_auth_provider(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query,
    Body(body): Body,
) -> ApiResult<Json<AuthProviderView>> {
    let client = client(caller)?;
    // Powens takes both in the query string; a body works too.
    let param = |name: &str| -> ApiResult<Option<String>> { Ok(query.str(name)?.or(body.str(name)?)) };
    let kind = param("type")?.unwrap_or_else(|| HMAC_SIGNATURE.to_owned());
    if kind != HMAC_SIGNATURE {
        return Err(ApiError::invalid("type", "the only type is hmac_signature"));
    }
    let name = param("name")?.filter(|n| !n.is_empty()).ok_or_else(|| ApiError::missing("name"))?;
    check_provider_name(&name)?;
    let (provider, secret) = state.store.create_auth_provider(client.id, &name, state.key()).await?;
    Ok(Json(AuthProviderView::new(&provider, Some(secret))))
}

/// Delete an auth provider: the subscriptions it signed are sent unsigned from then on.
#[utoipa::path(delete, path = "/webhooks/auth/{id}", tag = "webhooks", security(("client" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_auth_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let client = client(caller)?;
    if !state.store.delete_auth_provider(client.id, parse_id(&id, "id")?).await? {
        return Err(ApiError::not_found("webhookAuthNotFound", "webhook auth provider"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The client app's subscriptions.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", security(("client" = [])),
    responses((status = 200, body = WebhookList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_webhooks(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<WebhookList>> {
    let client = client(caller)?;
    let webhooks = state.store.webhooks(Some(client.id)).await?;
    Ok(Json(WebhookList { webhooks: webhooks.iter().map(|w| WebhookView::new(w, &state.clock)).collect() }))
}

/// Subscribe a URL to an event (`event`, `url`, optional `id_auth` to sign with).
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", security(("client" = [])),
    request_body(content = NewWebhook, description = "JSON or form"),
    responses((status = 200, body = WebhookView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> ApiResult<Json<WebhookView>> {
    let client = client(caller)?;
    let name = body.require_str("event")?;
    let event = Event::parse(&name).ok_or_else(|| {
        let known: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
        ApiError::invalid("event", format!("unknown event {name:?}; one of {}", known.join(", ")))
    })?;
    let url = check_webhook_url(&body.require_str("url")?, state.settings.webhook_allow_private())
        .await
        .map_err(|e| ApiError::invalid("url", e.to_string()))?;
    let id_auth = body.i64("id_auth")?;
    let webhook = state.store.create_webhook(client.id, event, url.as_str(), id_auth).await.map_err(|e| match e {
        crate::store::StoreError::NotFound => ApiError::invalid("id_auth", "not one of this client's auth providers"),
        e => e.into(),
    })?;
    Ok(Json(WebhookView::new(&webhook, &state.clock)))
}

/// `POST /webhooks`'s body (the handler reads `Params`; this only describes it to the document).
#[derive(ToSchema)]
#[allow(dead_code)]
struct NewWebhook {
    /// `USER_CREATED`, `CONNECTION_SYNCED`, `ACCOUNT_SYNCED`, …: the list is [`list_events`]'s.
    event: String,
    /// Public http(s) URL the deliveries are POSTed to.
    #[schema(format = "uri")]
    url: String,
    /// One of the client's auth providers, to sign the deliveries.
    #[schema(minimum = 1)]
    id_auth: Option<i64>,
}

/// Names every event `NewWebhook.event` takes, from the list the server parses, so the two
/// cannot drift apart.
pub(super) fn list_events(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Schema};
    let Some(components) = openapi.components.as_mut() else { return };
    let Some(RefOr::T(Schema::Object(body))) = components.schemas.get_mut("NewWebhook") else { return };
    if let Some(RefOr::T(Schema::Object(event))) = body.properties.get_mut("event") {
        event.enum_values = Some(Event::ALL.iter().map(|e| serde_json::json!(e.as_str())).collect());
    }
}

/// The client app's subscription with this id.
async fn own_webhook(state: &AppState, client: &Client, id: &str) -> ApiResult<Webhook> {
    match state.store.webhook(parse_id(id, "id")?).await? {
        Some(webhook) if webhook.id_client == client.id => Ok(webhook),
        _ => Err(ApiError::not_found("webhookNotFound", "webhook")),
    }
}

/// Remove a subscription; its pending deliveries are dropped.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", security(("client" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let client = client(caller)?;
    let webhook = own_webhook(&state, &client, &id).await?;
    state.store.delete_webhook(webhook.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A subscription's deliveries, newest first (`limit`, default 100).
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", security(("client" = [])),
    params(("id" = i64, Path), ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "default 100")),
    responses((status = 200, body = DeliveryList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query,
) -> ApiResult<Json<DeliveryList>> {
    let client = client(caller)?;
    let webhook = own_webhook(&state, &client, &id).await?;
    let deliveries = state.store.deliveries(webhook.id, page_limit(&query, 100, 1000)?).await?;
    Ok(Json(DeliveryList { deliveries: deliveries.iter().map(|d| DeliveryView::new(d, &state.clock)).collect() }))
}

/// Send a delivery's event again, now, as a new delivery (same `webhook-id`).
#[utoipa::path(post, path = "/webhooks/deliveries/{id}/replay", tag = "webhooks", security(("client" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = DeliveryView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn replay_delivery(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryView>> {
    let client = client(caller)?;
    let delivery = match state.store.delivery(parse_id(&id, "id")?).await? {
        Some(delivery) if delivery.id_client == client.id => delivery,
        _ => return Err(ApiError::not_found("deliveryNotFound", "delivery")),
    };
    let replayed = state.store.replay_delivery(delivery.id).await?;
    Ok(Json(DeliveryView::new(&replayed, &state.clock)))
}

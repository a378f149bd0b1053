//! The Powens-compatible HTTP API under `/2.0`, and the OpenAPI document generated from the
//! handlers' annotations (served at `/2.0/openapi.json`, browsable at `/docs`).
//!
//! Handlers are thin: they parse with `http::extract`, call the store or a use-case of
//! `usecases`, and render the Powens views of `wire`. Every failure is a
//! `wire::error::ApiError` rendered as the Powens envelope.

pub mod account_types;
pub mod accounts;
pub mod auth;
pub mod connections;
pub mod connectors;
mod document;
pub mod exports;
pub mod simplefin;
pub mod statements;
pub mod transactions;
pub mod users;
pub mod webauth;
pub mod webhooks;
pub mod webview;

use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;
use crate::wire::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "bankd",
        description = "Self-hosted bank aggregation, wire-compatible with the Powens API 2.0 (Bank product)."
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("client", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}

/// Every route of the API under `/2.0`, its OpenAPI document and the documentation UI at `/docs`.
pub fn router(max_upload_bytes: u64) -> Router<AppState> {
    let api = OpenApiRouter::new()
        .merge(auth::routes())
        .merge(users::routes())
        .merge(connectors::routes())
        .merge(connections::routes())
        .merge(accounts::routes())
        .merge(account_types::routes())
        .merge(transactions::routes())
        .merge(statements::routes(max_upload_bytes))
        .merge(webauth::routes())
        .merge(webhooks::routes())
        .merge(simplefin::routes())
        .merge(exports::routes())
        .merge(webview::routes());
    let (api, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/2.0", api).split_for_parts();
    // After the routes are in: ApiDoc's own modifiers run before any path exists.
    document::SharedAnswers.modify(&mut openapi);
    webhooks::list_events(&mut openapi);
    api.merge(SwaggerUi::new("/docs").url("/2.0/openapi.json", openapi))
}

//! The HTTP layer: the router. Handlers per resource parse requests into
//! domain types, call one use case of the application layer, and render.

use std::sync::Arc;

use axum::{middleware, Extension, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;
use crate::config::HttpSettings;

pub mod auth;
pub mod browsers;
pub mod deadline;
pub mod error;
pub mod events;
pub mod extract;
pub mod field_reader;
pub mod guards;
pub mod openapi;
pub mod ops;
pub mod orders;
pub mod request_context;
pub mod request_tracking;
pub mod responses;
pub mod users;
pub mod webhooks;

pub use error::ApiError;

/// What every handler reaches: the use cases.
pub type AppState = Arc<App>;

/// The whole application: every route and layer, as served by `main` and
/// by the tests. Each route is registered through its handler's OpenAPI
/// description (`routes!`), so the document lists exactly what is served.
///
/// Every `/api/` path, served or not, sits behind the API-key check; the
/// operations routes (health, metrics, this document) need no key.
pub fn router(app: AppState, http: &HttpSettings) -> Router {
    let api_v1 = OpenApiRouter::new()
        .routes(routes!(users::list, users::create))
        .routes(routes!(
            users::get,
            users::replace,
            users::update,
            users::delete
        ))
        .routes(routes!(orders::list_for_user))
        .routes(routes!(orders::list, orders::create))
        .routes(routes!(orders::get, orders::replace, orders::update))
        .routes(routes!(events::list))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::resend));
    let (routes, mut api) = OpenApiRouter::with_openapi(openapi::skeleton())
        .merge(api_v1)
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(openapi::openapi))
        .split_for_parts();
    openapi::require_api_key_on("/api/", &mut api);
    openapi::describe_webhooks(&mut api);
    let routes = routes
        .layer(Extension(openapi::Document::new(&api)))
        .merge(openapi::docs_page())
        .fallback(ops::not_found)
        .with_state(app.clone())
        .layer(middleware::from_fn_with_state(
            guards::Guards {
                app,
                request_timeout: http.request_timeout,
            },
            guards::guard,
        ))
        .layer(browsers::compression());
    // Outside everything that answers: preflights are answered before the
    // key check, and every answer (a 401, a timeout's 503) carries the
    // CORS headers a script needs to read it.
    let routes = match browsers::cors(&http.cors_origins) {
        Some(cors) => routes.layer(cors),
        None => routes,
    };
    routes.layer(middleware::from_fn(request_tracking::track_request))
}

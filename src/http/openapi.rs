//! The OpenAPI 3.1 document, generated from the code: every route is
//! registered through its handler's `#[utoipa::path]` (see `super::router`),
//! so a route cannot exist without its description. Served at
//! `/openapi.json`, and rendered for people at `/docs` by Swagger UI, whose
//! files orderly serves itself (vendored from crates.io, no CDN, no outside
//! validator).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

pub mod params;
pub mod responses;
pub mod schemas;

pub use responses::{BodyFailures, Failures, WriteFailures};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orderly",
        description = "Users and their orders, over HTTP and JSON. Errors are \
            `application/problem+json` (RFC 9457). Every answer carries an \
            `x-request-id` header: the client's own when it sends a sane one \
            (1 to 128 of `A-Z a-z 0-9 - _ . :`), else a new UUID. The \
            reference page is at `/docs`."
    ),
    tags(
        (name = "users", description = "Create, read, update, delete and list users."),
        (name = "orders", description = "Create orders, move them along their status machine, list them."),
        (name = "events", description = "The feed of committed changes, in order, never skipping one."),
        (name = "webhooks", description = "Where events are delivered, signed (Standard Webhooks); admin keys only."),
        (name = "operations", description = "Liveness, readiness, metrics and this document."),
    )
)]
struct ApiDoc;

/// The document's skeleton (info, tags), which the router fills with paths.
pub fn skeleton() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The name of the API-key scheme in the document.
const API_KEY_SCHEME: &str = "api_key";

/// Declares the bearer API key and requires it on every operation under
/// `prefix`, as the router does.
pub fn require_api_key_on(prefix: &str, api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
    let scheme = Http::builder()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("orderly API key")
        .description(Some(
            "`Authorization: Bearer orderly_...`, a key from `orderly keys create`. \
             Needed once any key exists; a `read` key may only `GET`.",
        ))
        .build();
    api.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(API_KEY_SCHEME, SecurityScheme::Http(scheme));
    let required = SecurityRequirement::new(API_KEY_SCHEME, Vec::<String>::new());
    for (path, item) in api.paths.paths.iter_mut() {
        if !path.starts_with(prefix) {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            operation.security = Some(vec![required.clone()]);
        }
    }
}

/// The finished document, serialised once.
#[derive(Clone)]
pub struct Document(Bytes);

impl Document {
    pub fn new(api: &utoipa::openapi::OpenApi) -> Self {
        Self(Bytes::from(
            api.to_json().expect("the OpenAPI document serialises"),
        ))
    }
}

/// The reference page at `/docs`, reading `/openapi.json`.
pub fn docs_page() -> SwaggerUi {
    SwaggerUi::new("/docs").config(Config::new(["/openapi.json"]).validator_url("none"))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    summary = "This OpenAPI document",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi(Extension(document): Extension<Document>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document.0).into_response()
}

/// The deliveries orderly sends, as OpenAPI 3.1 `webhooks`: one per event
/// type, each a `POST` of the `Event` JSON with the Standard Webhooks
/// headers.
pub fn describe_webhooks(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{
        HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
    };
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{ContentBuilder, PathsBuilder, Ref, Required, Response};

    let header = |name: &str, description: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(description))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build()
    };
    let mut paths = PathsBuilder::new();
    for kind in crate::domain::EventType::ALL {
        let operation = OperationBuilder::new()
            .tag("webhooks")
            .operation_id(Some(format!("webhook_{}", kind.as_str().replace('.', "_"))))
            .summary(Some(format!(
                "`{}`, POSTed to each subscribed endpoint",
                kind.as_str()
            )))
            .description(Some(
                "The event as `GET /api/v1/events` shows it. At least once: deduplicate on \
                 `webhook-id`. Verify the signature with a Standard Webhooks library and the \
                 endpoint's `whsec_` secret. Answer 2xx within `--webhook-timeout-ms`; anything \
                 else is retried with backoff for `--webhook-retry-hours`; 410 Gone disables \
                 the endpoint.",
            ))
            .parameter(header(
                "webhook-id",
                "The event's id; the same on every retry.",
            ))
            .parameter(header(
                "webhook-timestamp",
                "Unix seconds when this attempt was signed.",
            ))
            .parameter(header(
                "webhook-signature",
                "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`.",
            ))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Event")))
                            .build(),
                    )
                    .build(),
            ))
            .response("2XX", Response::new("Received; not sent again"))
            .response("410", Response::new("Gone: the endpoint is disabled"))
            .response("default", Response::new("Not received: retried later"));
        paths = paths.path(kind.as_str(), PathItem::new(HttpMethod::Post, operation));
    }
    api.webhooks = Some(paths.build());
}

//! `GET /openapi.json` describes exactly what the router serves, with the
//! domain's own limits; `GET /docs` is served by orderly itself.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{header, Backend, TestApp};
use orderly::domain::order::{MAX_ITEMS, QUANTITY_MAX, SKU_MAX_CHARS, UNIT_PRICE_MAX};
use orderly::domain::page::MAX_LIMIT;
use orderly::domain::user::{EMAIL_MAX_CHARS, NAME_MAX_CHARS};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let resp = app.get("/openapi.json").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "application/json");
    resp.json().await.unwrap()
}

/// The document's methods on `path`, upper case.
fn documented_methods(doc: &Value, path: &str) -> BTreeSet<String> {
    doc["paths"][path]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| METHODS.contains(&k.as_str()))
        .map(|k| k.to_uppercase())
        .collect()
}

/// Both ways, path by path: every documented operation is routed (not the
/// fallback's 404, not 405), and the router's `Allow` for the path names
/// exactly the documented methods. Routes exist only through their
/// description (`routes!` in `http::router`), so no path can be served
/// without being documented; `/docs` is the one route outside the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_and_the_router_agree() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths.len(), 14, "{paths:?}");

    for path in paths {
        let concrete = path.replace("{id}", "1");
        let documented = documented_methods(&doc, path);
        for method in &documented {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let resp = app
                .client
                .request(method.clone(), app.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is documented, not routed");
            assert!(
                !(status == 404 && body.contains("no such route")),
                "{method} {path} is documented, not routed"
            );
        }

        let resp = app
            .client
            .request(reqwest::Method::TRACE, app.url(&concrete))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "TRACE {path}");
        let allowed: BTreeSet<String> = header(&resp, "allow")
            .split(',')
            .map(|m| m.trim().to_owned())
            .filter(|m| m != "HEAD") // axum answers HEAD wherever GET is
            .collect();
        assert_eq!(allowed, documented, "{path}: routed vs documented");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_header_of_the_contract_is_described() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    let parameter = |path: &str, method: &str, name: &str| {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == name && p["in"] == "header")
    };
    assert!(parameter("/api/v1/users", "post", "Idempotency-Key"));
    assert!(parameter("/api/v1/orders", "post", "Idempotency-Key"));
    for method in ["put", "patch"] {
        assert!(parameter("/api/v1/users/{id}", method, "If-Match"));
        assert!(parameter("/api/v1/orders/{id}", method, "If-Match"));
    }
    let response_headers = |path: &str, method: &str, status: &str| -> BTreeSet<String> {
        doc["paths"][path][method]["responses"][status]["headers"]
            .as_object()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default()
    };
    for path in ["/api/v1/users", "/api/v1/orders"] {
        let created = response_headers(path, "post", "201");
        for name in ["Location", "ETag", "Idempotent-Replayed"] {
            assert!(created.contains(name), "{path} 201 lacks {name}");
        }
    }
    assert!(response_headers("/api/v1/users/{id}", "get", "200").contains("ETag"));
    // Every operation on the API documents its 503 with Retry-After, and
    // every error body as problem+json.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not problem+json"
                    );
                }
            }
            if path.starts_with("/api/") {
                assert!(
                    response_headers(path, method, "503").contains("Retry-After"),
                    "{method} {path} has no 503 with Retry-After"
                );
            }
        }
    }
}

/// The schemas carry the limits the domain enforces, from the same numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schemas_carry_the_domains_limits() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let field = |schema: &str, field: &str| schemas[schema]["properties"][field].clone();
    assert_eq!(field("NewUser", "email")["maxLength"], EMAIL_MAX_CHARS);
    assert_eq!(field("NewUser", "name")["maxLength"], NAME_MAX_CHARS);
    assert_eq!(field("NewUser", "name")["minLength"], 1);
    assert_eq!(field("LineItem", "sku")["maxLength"], SKU_MAX_CHARS);
    assert_eq!(field("LineItem", "quantity")["maximum"], QUANTITY_MAX);
    assert_eq!(field("LineItem", "unit_price")["maximum"], UNIT_PRICE_MAX);
    assert_eq!(field("NewOrder", "items")["maxItems"], MAX_ITEMS);
    assert_eq!(field("NewOrder", "items")["minItems"], 1);
    let statuses: BTreeSet<&str> = schemas["OrderStatus"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let domain: BTreeSet<&str> = orderly::domain::OrderStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(statuses, domain);
    let limit = doc["paths"]["/api/v1/users"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(limit["schema"]["maximum"], MAX_LIMIT);
    for response in ["User", "Order", "UserPage", "OrderPage", "Problem"] {
        assert_eq!(
            schemas[response]["additionalProperties"], false,
            "{response} must list exactly the keys the API answers with"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_are_served_by_orderly_itself() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for asset in [
        "./swagger-ui-bundle.js",
        "./swagger-ui.css",
        "./swagger-initializer.js",
    ] {
        assert!(html.contains(asset), "{asset} not referenced");
        let served = app.get(&format!("/docs/{}", &asset[2..])).await;
        assert_eq!(served.status(), 200, "{asset} not served");
        assert!(served.bytes().await.unwrap().len() > 100);
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "a page asset from elsewhere"
    );
    let init = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(init.contains("\"url\": \"/openapi.json\""), "{init}");
    assert!(
        init.contains("\"validatorUrl\": \"none\""),
        "an outside validator: {init}"
    );
}

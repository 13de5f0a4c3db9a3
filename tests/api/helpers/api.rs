//! The HTTP client every test talks to orderly through, however orderly
//! runs (in this process: `TestApp`; as a real process: `OrderlyProcess`;
//! an instance beside either): its address and the request helpers the
//! tests share, written once. Both harnesses dereference to it.

use std::time::Duration;

use serde_json::{json, Value};

/// orderly at `address`, and a client straight to it.
#[derive(Clone)]
pub struct Api {
    pub address: String,
    pub client: reqwest::Client,
}

/// The tests' HTTP client: straight to the app on loopback, never through
/// a proxy from the environment.
#[allow(deprecated)] // ring: see `orderly::storage::postgres::tls`.
pub fn http_client() -> reqwest::Client {
    // orderly's own client (webhooks) brings reqwest's rustls without a
    // provider, which every client in this process then needs: ring, as
    // orderly uses. Plain HTTP here; only the build asks for it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client")
}

impl Api {
    pub fn at(address: String) -> Self {
        Self {
            address,
            client: http_client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// The JSON body of `GET path`.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.expect("a JSON body")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send_json(reqwest::Method::POST, path, body, None)
            .await
    }

    /// Sends `body` as JSON with `method`, and an `If-Match` when given.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path)).json(body);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.send().await.expect("request sent")
    }

    /// Sends `body` byte for byte as JSON with an `Idempotency-Key`,
    /// waiting 10 s at most for the answer (an error past that, for load
    /// loops to count).
    pub async fn try_post_with_key(
        &self,
        path: &str,
        key: &str,
        body: &str,
    ) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body.to_owned())
            .timeout(Duration::from_secs(10))
            .send()
            .await
    }

    /// As `try_post_with_key`, for tests in which it must be answered.
    pub async fn post_with_key(&self, path: &str, key: &str, body: &str) -> reqwest::Response {
        self.try_post_with_key(path, key, body)
            .await
            .expect("request answered")
    }

    /// Arrange step: creates a user over HTTP and returns its JSON.
    pub async fn create_user(&self, email: &str, name: &str) -> Value {
        let resp = self
            .post_json("/api/v1/users", &json!({"email": email, "name": name}))
            .await;
        assert_eq!(resp.status(), 201, "creating {email}");
        resp.json().await.expect("a user")
    }

    /// Arrange step: creates the buyer user and returns its id.
    pub async fn a_user(&self) -> i64 {
        self.create_user("buyer@example.com", "Buyer").await["id"]
            .as_i64()
            .expect("an id")
    }

    /// Arrange step: creates an order of `items` for `user_id` over HTTP.
    pub async fn create_order(&self, user_id: i64, items: Value) -> Value {
        let resp = self
            .post_json(
                "/api/v1/orders",
                &json!({"user_id": user_id, "items": items}),
            )
            .await;
        assert_eq!(resp.status(), 201, "creating an order for {user_id}");
        resp.json().await.expect("an order")
    }

    /// Follows the event feed from `after` to its present end: every event
    /// it serves now, and the cursor to go on from.
    pub async fn drain_feed(&self, mut after: Option<String>) -> (Vec<Value>, Option<String>) {
        let mut events = Vec::new();
        loop {
            let path = match &after {
                Some(cursor) => format!("/api/v1/events?limit=200&after={cursor}"),
                None => "/api/v1/events?limit=200".to_owned(),
            };
            let resp = self.get(&path).await;
            assert_eq!(resp.status(), 200, "GET {path}");
            let page: Value = resp.json().await.expect("a page of events");
            let items = page["items"].as_array().expect("items").clone();
            after = page["next_cursor"].as_str().map(str::to_owned);
            if items.is_empty() {
                return (events, after);
            }
            events.extend(items);
        }
    }

    /// Adds a webhook endpoint for `url` over the API; its id and secret.
    pub async fn add_webhook(&self, url: &str, events: Option<&[&str]>) -> (i64, String) {
        let mut body = json!({"url": url});
        if let Some(events) = events {
            body["events"] = json!(events);
        }
        let resp = self.post_json("/api/v1/webhook-endpoints", &body).await;
        assert_eq!(resp.status(), 201, "adding a webhook endpoint for {url}");
        let endpoint: Value = resp.json().await.expect("an endpoint");
        (
            endpoint["id"].as_i64().expect("an id"),
            endpoint["secret"].as_str().expect("a secret").to_owned(),
        )
    }
}

//! Deliveries under faults from outside: orderly killed (SIGKILL) under
//! write load with deliveries in flight, and three instances on one
//! PostgreSQL sharing the work.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::deliveries::{fast_retries, until_received};
use crate::helpers::process::{stop_load, OrderlyProcess};
use crate::helpers::receiver::Receiver;
use crate::helpers::{Api, Backend, TestApp};

/// Every event id in the database, as the API shows it.
async fn stored_event_ids(app: &OrderlyProcess, backend: Backend) -> BTreeSet<String> {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT coalesce(string_agg(replace(id::text, '-', ''), ','), '') FROM orderly_events"
        }
        Backend::Sqlite => "SELECT coalesce(group_concat(id, ','), '') FROM orderly_events",
    };
    let joined = app.db_pool.text(sql).await;
    joined
        .split(',')
        .filter(|id| !id.is_empty())
        .map(|id| format!("evt_{id}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigkill_with_deliveries_in_flight_loses_no_event() {
    sigkill_with_deliveries_in_flight(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigkill_with_deliveries_in_flight_loses_no_event() {
    sigkill_with_deliveries_in_flight(Backend::Sqlite).await
}

/// Writers create users as fast as they can while a slow receiver (30 ms
/// an answer) takes deliveries; orderly is killed mid-way and restarted.
/// Afterwards every event in the database reaches the receiver at least
/// once, every acknowledged create has its event, and the receiver got
/// nothing that is not in the database.
async fn sigkill_with_deliveries_in_flight(backend: Backend) {
    let env = [
        ("ORDERLY_WEBHOOKS_ALLOW_PRIVATE", "true"),
        ("ORDERLY_WEBHOOK_RETRY_FIRST_MS", "200"),
        ("ORDERLY_WEBHOOK_RETRY_MAX_DELAY_MS", "1000"),
        ("ORDERLY_WEBHOOK_TIMEOUT_MS", "2000"),
    ];
    let mut app = OrderlyProcess::start(backend, &env).await;
    let mut receiver = Receiver::on_a_free_port();
    let (_, secret) = app.add_webhook(&receiver.url(), None).await;
    receiver.with_secret(&secret).listen(200, 30).await;

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, acknowledged, api) = (stop.clone(), acknowledged.clone(), Api::clone(&app));
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let email = format!("k{w}-{n}@example.com");
                    let sent = api
                        .client
                        .post(api.url("/api/v1/users"))
                        .json(&json!({"email": email, "name": "K"}))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    match sent {
                        Ok(resp) if resp.status() == 201 => {
                            acknowledged.lock().unwrap().push(email)
                        }
                        Ok(_) => {}
                        // Cut off by the kill: the process is gone.
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_kill = receiver.ids().len();
    app.signal("KILL");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let acknowledged = stop_load(&stop, workers, acknowledged).await;
    app.restart().await;

    let stored = stored_event_ids(&app, backend).await;
    until_received(&receiver, &stored, Duration::from_secs(60)).await;
    let got = receiver.ids();
    let distinct: BTreeSet<String> = got.iter().cloned().collect();
    assert!(
        distinct.is_subset(&stored),
        "an event reached the receiver that the database does not hold"
    );
    assert!(receiver.received().iter().all(|r| r["verified"] == true));
    // Every acknowledged create has its event.
    let users = app.db_pool.count("users").await;
    assert_eq!(stored.len() as i64, users, "one event per stored user");
    assert!(acknowledged.len() as i64 <= users);
    println!(
        "{backend:?}: {} users acknowledged before the kill, {users} stored, {} events, {} delivered \
         before the kill, {} requests to the receiver in all, {} duplicates",
        acknowledged.len(),
        stored.len(),
        before_kill,
        got.len(),
        got.len() - distinct.len()
    );
}

/// Three instances on one PostgreSQL, each with its dispatcher, writes
/// spread over them: every event delivered, and exactly once (no instance
/// died, so no duplicate is allowed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_instances_deliver_every_event_once() {
    let app = TestApp::spawn_in_own_database(Backend::Postgres, fast_retries).await;
    let instances = [app.another_instance().await, app.another_instance().await];
    let apis: Vec<Api> = std::iter::once((*app).clone())
        .chain(instances.iter().map(|i| Api::at(i.address.clone())))
        .collect();
    let mut receiver = Receiver::on_a_free_port();
    let (_, secret) = app.add_webhook(&receiver.url(), None).await;
    receiver.with_secret(&secret).listen(200, 5).await;
    let writers: Vec<_> = apis
        .iter()
        .enumerate()
        .map(|(i, api)| {
            let api = api.clone();
            tokio::spawn(async move {
                for n in 0..40 {
                    api.create_user(&format!("i{i}-{n}@example.com"), "I").await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let (feed, _) = app.drain_feed(None).await;
    let ids: BTreeSet<String> = feed
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 120);
    until_received(&receiver, &ids, Duration::from_secs(60)).await;
    // Once every delivery is recorded delivered, no attempt is in flight:
    // any duplicate would have arrived.
    crate::helpers::time_until("every delivery is recorded", async || {
        let sql = "SELECT count(*) FROM orderly_webhook_deliveries WHERE state <> 'delivered'";
        app.db_pool.scalar(sql).await == 0
    })
    .await;
    let got = receiver.ids();
    let mut times: HashMap<&str, usize> = HashMap::new();
    for id in &got {
        *times.entry(id).or_default() += 1;
    }
    let duplicates: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "three instances: {} events, {} requests, {} duplicates",
        ids.len(),
        got.len(),
        got.len() - times.len()
    );
    assert!(duplicates.is_empty(), "sent twice: {duplicates:?}");
    assert_eq!(times.len(), ids.len());
}

//! A commit whose wait for the synchronous standby is cut short is never
//! acknowledged, whatever language the server speaks: on a throwaway
//! primary with a synchronous standby, its `lc_messages` German and then
//! French (locales made by `scripts/install/locales.sh`), and
//! `client_min_messages = error` for every session that does not ask for
//! more (the warning is orderly's only word of a cut-short wait). With the standby
//! stopped, so that every commit waits for it, a keyless and a keyed order
//! each have their wait cut short three ways: orderly's own statement
//! time limit, an operator's `pg_cancel_backend`, and the primary shut
//! down (then started again at once). None is answered 201; each is kept
//! once at most. A retry of the keyed one under its key is not answered
//! 201 either while the standby is away, and is once the standby is back.
//! Then a switchover under keyless order load writes no order twice and
//! loses none that was acknowledged.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::cluster::{Cluster, Node};
use crate::helpers::process::{stop_load, OrderlyProcess};

/// orderly's statement limit is this plus one second of grace.
const QUERY_TIMEOUT_MS: &str = "1500";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_german_no_cut_short_commit_is_acknowledged_and_a_switchover_writes_nothing_twice() {
    cut_short_commits_and_a_switchover("de_DE", 27132).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_french_no_cut_short_commit_is_acknowledged_and_a_switchover_writes_nothing_twice() {
    cut_short_commits_and_a_switchover("fr_FR", 27232).await;
}

async fn cut_short_commits_and_a_switchover(locale: &str, port: u16) {
    ensure_locale(locale);
    let lc_messages = format!("{locale}.UTF-8");
    let cluster = Cluster::up_with(
        &format!("in-{locale}"),
        port,
        // And WARNINGs kept from clients by default, as a role or a
        // server may be set: orderly asks for them on its own sessions.
        &format!("lc_messages = '{lc_messages}'\nclient_min_messages = error\n"),
    );
    assert_eq!(
        cluster.sql(Node::Primary, "SHOW lc_messages").await,
        lc_messages,
        "the server speaks {locale}"
    );
    let app = OrderlyProcess::start_on_url(
        &cluster.writable_url(),
        &[
            ("ORDERLY_DB_QUERY_TIMEOUT_MS", QUERY_TIMEOUT_MS),
            ("ORDERLY_DB_CONNECT_TIMEOUT_MS", "1000"),
            ("ORDERLY_REQUEST_TIMEOUT_MS", "30000"),
        ],
    )
    .await;
    assert!(
        app.log()
            .iter()
            .any(|line| line.contains("names the routine of its warnings")),
        "start-up says how an unconfirmed commit is recognised on this server"
    );
    let user_id = app.a_user().await;
    let order = |sku: String, key: Option<String>| {
        let (client, url) = (app.client.clone(), app.url("/api/v1/orders"));
        async move {
            let mut request = client
                .post(url)
                .json(&json!({"user_id": user_id, "items": [{"sku": sku, "quantity": 1, "unit_price": 5}]}))
                .timeout(Duration::from_secs(30));
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    let mut answered: BTreeMap<String, u16> = BTreeMap::new();

    cluster.crash(Node::Standby1);

    // orderly's statement limit: the commits still wait when it gives up.
    for (sku, key) in cases("LIMIT") {
        answered.insert(sku.clone(), order(sku, key).await);
    }
    // Those commits wait on, for a client that is gone: out of the way.
    terminate_waiting(&cluster).await;

    // An operator cancels each wait.
    for (sku, key) in cases("CANCEL") {
        let answer = tokio::spawn(order(sku.clone(), key));
        cluster.until_waiting_for_the_standby(1).await;
        cluster
            .sql(
                Node::Primary,
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
            )
            .await;
        answered.insert(sku, answer.await.unwrap());
    }
    let retried_while_away = order("CANCEL-keyed".into(), Some("CANCEL-key".into())).await;
    terminate_waiting(&cluster).await;

    // The primary shuts down while both wait, and starts again at once.
    let both: Vec<_> = cases("SHUTDOWN")
        .into_iter()
        .map(|(sku, key)| (sku.clone(), tokio::spawn(order(sku, key))))
        .collect();
    cluster.until_waiting_for_the_standby(2).await;
    cluster.stop(Node::Primary);
    cluster.start(Node::Primary);
    for (sku, answer) in both {
        answered.insert(sku, answer.await.unwrap());
    }

    cluster.start(Node::Standby1);
    cluster.until_standbys_replayed_all();
    let retried_once_back = order("CANCEL-keyed".into(), Some("CANCEL-key".into())).await;
    let kept = kept_per_sku(
        &cluster,
        Node::Primary,
        "SELECT sku, count(*)::text FROM order_items GROUP BY sku",
    )
    .await;

    println!("{locale}: case, status answered, orders kept");
    for (sku, status) in &answered {
        println!("  {sku}: {status}, {}", kept.get(sku).copied().unwrap_or(0));
    }
    println!(
        "  the keyed cancelled order retried under its key: {retried_while_away} while the standby was away, {retried_once_back} once it was back"
    );
    for (sku, status) in &answered {
        assert_ne!(
            *status, 201,
            "{locale}: {sku} was acknowledged, though no standby confirmed it"
        );
        assert_eq!(*status, 503, "{locale}: {sku}");
        assert!(
            kept.get(sku).copied().unwrap_or(0) <= 1,
            "{locale}: {sku} written twice: {kept:?}"
        );
    }
    for sku in [
        "CANCEL-keyless",
        "CANCEL-keyed",
        "SHUTDOWN-keyless",
        "SHUTDOWN-keyed",
    ] {
        assert_eq!(
            kept.get(sku),
            Some(&1),
            "{locale}: PostgreSQL kept {sku} locally: {kept:?}"
        );
    }
    assert_eq!(
        retried_while_away, 503,
        "{locale}: a replay must not acknowledge what no standby has"
    );
    assert_eq!(
        retried_once_back, 201,
        "{locale}: the replay, once the standby has it"
    );

    switchover_under_keyless_load(&cluster, &app, user_id, locale).await;
}

/// The keyless and the keyed order of one case, by their SKUs.
fn cases(case: &str) -> [(String, Option<String>); 2] {
    [
        (format!("{case}-keyless"), None),
        (format!("{case}-keyed"), Some(format!("{case}-key"))),
    ]
}

/// Keyless clients write orders, each with a SKU of its own, while the
/// primary shuts down cleanly and the synchronous standby is promoted:
/// no order is written twice (a statement certain not to have run is
/// tried again; one that may have run never is), every acknowledged one
/// is on the new primary, and nothing is answered 500.
async fn switchover_under_keyless_load(
    cluster: &Cluster,
    app: &OrderlyProcess,
    user_id: i64,
    locale: &str,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (stop, answers) = (stop.clone(), answers.clone());
            let (client, url) = (app.client.clone(), app.url("/api/v1/orders"));
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let sku = format!("SW-{worker}-{n}");
                    let status = client
                        .post(&url)
                        .json(&json!({"user_id": user_id, "items": [{"sku": sku, "quantity": 1, "unit_price": 5}]}))
                        .timeout(Duration::from_secs(20))
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16());
                    answers.lock().unwrap().push((sku, status));
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let switched = Instant::now();
    cluster.switch_over();
    let took = switched.elapsed();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answers = stop_load(&stop, workers, answers).await;

    let kept = kept_per_sku(
        cluster,
        Node::Standby1,
        "SELECT sku, count(*)::text FROM order_items WHERE sku LIKE 'SW-%' GROUP BY sku",
    )
    .await;
    let twice: Vec<_> = kept.iter().filter(|(_, n)| **n > 1).collect();
    let acknowledged: HashSet<&str> = answers
        .iter()
        .filter(|(_, status)| *status == 201)
        .map(|(sku, _)| sku.as_str())
        .collect();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|sku| !kept.contains_key(**sku))
        .collect();
    let unavailable = answers.iter().filter(|(_, s)| *s == 503).count();
    println!(
        "{locale}: switchover ({took:?}) under keyless load: {} requests, {} acknowledged, {unavailable} answered 503, {} rows, {} written twice, {} acknowledged and lost",
        answers.len(),
        acknowledged.len(),
        kept.len(),
        twice.len(),
        lost.len()
    );
    assert!(
        twice.is_empty(),
        "{locale}: orders written twice: {twice:?}"
    );
    assert!(
        lost.is_empty(),
        "{locale}: acknowledged orders lost: {lost:?}"
    );
    let others: Vec<_> = answers
        .iter()
        .filter(|(_, s)| *s != 201 && *s != 503)
        .collect();
    assert!(
        others.is_empty(),
        "{locale}: answers other than 201 and 503: {others:?}"
    );
    assert!(
        answers
            .iter()
            .rev()
            .take(4)
            .any(|(_, status)| *status == 201),
        "{locale}: writes did not resume on the new primary"
    );
}

/// Makes `locale` (UTF-8) known to the C library, as CI does beforehand.
fn ensure_locale(locale: &str) {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/install/locales.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(locale)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "scripts/install/locales.sh {locale} failed (it needs Debian's locales package, installed as root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each SKU and how many order items carry it, on `node`.
async fn kept_per_sku(cluster: &Cluster, node: Node, sql: &str) -> BTreeMap<String, u32> {
    cluster
        .client(node)
        .await
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get::<_, String>(1).parse().unwrap()))
        .collect()
}

/// Ends the waits of commits whose clients are gone, so that the next
/// case counts only its own.
async fn terminate_waiting(cluster: &Cluster) {
    cluster
        .sql(
            Node::Primary,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
        )
        .await;
    cluster.until_waiting_for_the_standby(0).await;
}

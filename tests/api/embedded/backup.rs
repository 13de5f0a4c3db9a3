//! `orderly backup PATH` while orders are written as fast as clients can:
//! the backup opens alone (no log beside it), passes SQLite's integrity
//! check, holds every order acknowledged before it began, whole; orderly
//! serves throughout; an existing PATH is refused; and the documented
//! restore (stop, copy over, start) brings back exactly the backup.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::process::{orderly_command, stop_load, OrderlyProcess};
use crate::helpers::{Api, Backend, DbPool};

const CLIENTS: usize = 6;

type Acked = Arc<Mutex<Vec<(i64, Instant)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_holds_every_acknowledged_order_and_restores() {
    let mut app = OrderlyProcess::start(Backend::Sqlite, &[]).await;
    let buyer = app.a_user().await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Acked = Arc::default();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|client| order_load(&app, buyer, client, &stop, &acked))
        .collect();
    until(
        || acked.lock().unwrap().len() >= 300,
        "300 orders acknowledged",
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("orderly-backup.db");
    let began = Instant::now();
    let (code, _, stderr) =
        orderly_command(&app.database_url(), &["backup", backup.to_str().unwrap()]).await;
    let ended = Instant::now();
    assert_eq!(code, Some(0), "orderly backup failed: {stderr}");
    let copy = open(&backup).await;
    let newest_in_backup = copy.scalar("SELECT MAX(id) FROM orders").await;
    // An order newer than the backup, which a restore must drop.
    let newer = || {
        acked
            .lock()
            .unwrap()
            .iter()
            .any(|(id, _)| *id > newest_in_backup)
    };
    until(newer, "an order acknowledged after the backup").await;
    let acked = stop_load(&stop, workers, acked).await;
    let before: Vec<i64> = acked
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(id, _)| *id)
        .collect();
    let during = acked
        .iter()
        .filter(|(_, at)| (began..ended).contains(at))
        .count();
    assert!(during > 0, "no order was acknowledged while the backup ran");

    // The backup alone: one file, intact, every order acknowledged before it.
    assert!(!PathBuf::from(format!("{}-wal", backup.display())).exists());
    let DbPool::Sqlite(pool) = &copy else {
        unreachable!()
    };
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    copy.assert_every_order_whole().await;
    let ids = before
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let kept = copy
        .scalar(&format!("SELECT COUNT(*) FROM orders WHERE id IN ({ids})"))
        .await;
    assert_eq!(
        kept as usize,
        before.len(),
        "orders acknowledged before the backup are missing"
    );
    let orders_in_backup = copy.scalar("SELECT COUNT(*) FROM orders").await;
    let bytes = std::fs::metadata(&backup).unwrap().len();

    // A second backup to the same path changes nothing.
    let (code, _, stderr) =
        orderly_command(&app.database_url(), &["backup", backup.to_str().unwrap()]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("exists already"), "{stderr}");
    assert_eq!(std::fs::metadata(&backup).unwrap().len(), bytes);

    // Restore as docs/sqlite.md says: stop, copy the backup over, start.
    app.signal("TERM");
    assert_eq!(app.exit_code(Duration::from_secs(10)).await, Some(0));
    let live = PathBuf::from(app.database_url().trim_start_matches("sqlite://"));
    for stale in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{stale}", live.display()));
    }
    std::fs::copy(&backup, &live).unwrap();
    app.restart().await;
    let last_before = *before.last().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/orders/{last_before}"))
            .await
            .status(),
        200
    );
    // Exactly the backup's orders: none acknowledged after its snapshot.
    let restored = open(&live).await;
    assert_eq!(
        restored.scalar("SELECT COUNT(*) FROM orders").await,
        orders_in_backup
    );
    let newest = acked.iter().map(|(id, _)| *id).max().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/orders/{newest}")).await.status(),
        404
    );

    println!(
        "backup: {} ms under load from {CLIENTS} clients; {bytes} bytes, {orders_in_backup} orders; \
         {} orders acknowledged before it, {during} while it ran, {} in all",
        (ended - began).as_millis(),
        before.len(),
        acked.len()
    );
}

/// A client creating orders (two items each) one after another until
/// `stop`, recording each order acknowledged and when.
fn order_load(
    api: &Api,
    buyer: i64,
    client: usize,
    stop: &Arc<AtomicBool>,
    acked: &Acked,
) -> tokio::task::JoinHandle<()> {
    let (api, stop, acked) = (api.clone(), stop.clone(), acked.clone());
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let items = json!([
                {"sku": format!("SKU-{client}"), "quantity": n % 5 + 1, "unit_price": 100 + n},
                {"sku": "EXTRA", "quantity": 1, "unit_price": 7},
            ]);
            let body = json!({"user_id": buyer, "items": items});
            let resp = api.post_json("/api/v1/orders", &body).await;
            assert_eq!(resp.status(), 201, "orderly keeps taking orders");
            let id = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
            acked.lock().unwrap().push((id, Instant::now()));
        }
    })
}

/// Waits until `done` holds, within 10 s.
async fn until(done: impl Fn() -> bool, what: &str) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no {what} within 10 s");
}

/// The tests' own pool on a SQLite file, read-only (after a restore, a
/// new one: the test's first pool knew the replaced file's log).
async fn open(path: &Path) -> DbPool {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("the database opens");
    DbPool::Sqlite(pool)
}

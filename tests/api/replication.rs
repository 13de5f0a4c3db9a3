//! PostgreSQL replication, on throwaway clusters of the tests' own
//! (`helpers::cluster`): reads from hot standbys without ever missing the
//! caller's own writes, and a failover that loses nothing acknowledged.
//! Each test has its own ports, so they run beside each other.

mod across_instances;
mod failover;
mod in_any_language;
mod read_your_writes;
mod sync_standby;

use std::time::Duration;

/// The value of the sample `series` (name and labels, exactly as
/// exposed) in a `/metrics` text; `None` when absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().expect("a number"))
}

/// Scrapes `/metrics` at `base`.
async fn scrape(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Reads served by `target` (`primary` or a replica's `host:port`).
async fn reads_by(client: &reqwest::Client, base: &str, target: &str) -> f64 {
    let text = scrape(client, base).await;
    sample(
        &text,
        &format!("orderly_db_reads_total{{target=\"{target}\"}}"),
    )
    .unwrap_or(0.0)
}

/// `orderly_db_replica_usable` of `replica` (`host:port`), now.
async fn usable(client: &reqwest::Client, base: &str, replica: &str) -> Option<f64> {
    let text = scrape(client, base).await;
    sample(
        &text,
        &format!("orderly_db_replica_usable{{replica=\"{replica}\"}}"),
    )
}

/// Waits (20 s at most) until every replica serves reads and is caught up.
async fn until_replicas_caught_up(client: &reqwest::Client, base: &str, replicas: &[String]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(client, base).await;
        let ready = replicas.iter().all(|r| {
            sample(
                &text,
                &format!("orderly_db_replica_usable{{replica=\"{r}\"}}"),
            ) == Some(1.0)
                && sample(
                    &text,
                    &format!("orderly_db_replica_lag_seconds{{replica=\"{r}\"}}"),
                )
                .is_some_and(|lag| lag < 0.5)
        });
        if ready {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replicas not caught up after 20 s:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

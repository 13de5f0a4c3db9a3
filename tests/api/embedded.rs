//! SQLite only, the embedded default: writes committed in batches by one
//! writer, each isolated from its neighbours; a 2xx only once the batch is
//! flushed under `--sqlite-synchronous full` (proven from outside, by
//! tracing the process's system calls); online backups under write load.

mod backup;
mod flushes;
mod group_commit;

use crate::helpers::Api;

/// The value of the sample `name` (with its labels, as exposed) in
/// orderly's `/metrics`; 0 when absent.
async fn metric(api: &Api, name: &str) -> f64 {
    let text = api
        .get("/metrics")
        .await
        .text()
        .await
        .expect("a metrics page");
    text.lines()
        .find_map(|line| {
            let (sample, value) = line.rsplit_once(' ')?;
            (sample == name).then(|| value.parse().expect("a number"))
        })
        .unwrap_or(0.0)
}

/// Waits until `n` writes wait for the SQLite writer (as `/metrics` tells),
/// within 4 s: the writer waits 5 s for the test's lock before it refuses.
async fn until_writes_wait(api: &Api, n: usize) {
    let waiting = r#"orderly_db_waiting{pool="sqlite_writer"}"#;
    for _ in 0..200 {
        if metric(api, waiting).await as usize >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{n} writes never waited for the writer together");
}

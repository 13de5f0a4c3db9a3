//! What `--sqlite-synchronous` promises, seen from outside the process:
//! `strace` attaches to a running orderly and records its writes to the
//! log (`orderly.db-wal`), its flushes of it (`fsync`, `fdatasync`), and
//! the requests it reads and the responses it sends on each socket. Under
//! `full`, every 201 leaves after a write to the log and a flush that both
//! came after its request was read, and writes that waited together share
//! one flush; under `normal`, the log is never flushed at commit.
//!
//! Needs Debian's `strace` (`.ci/run` installs it: `scripts/install/strace.sh`).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{metric, until_writes_wait};
use crate::helpers::process::OrderlyProcess;
use crate::helpers::{Api, Backend};

const BATCHES: &str = "orderly_sqlite_commit_batch_size_count";

/// Writes sent one after another, each its own batch.
const ONE_BY_ONE: usize = 20;
/// Writes sent while the writer waits for the lock, one batch together.
const TOGETHER: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_full_every_201_leaves_after_the_flush_of_its_batch() {
    let seen = trace_creates("full").await;
    assert_eq!(seen.acks, ONE_BY_ONE + TOGETHER, "{seen:?}");
    assert_eq!(
        seen.acked_unflushed,
        0,
        "201s sent before their flush: {seen:?}\n{}",
        seen.first_unflushed.as_deref().unwrap_or_default()
    );
    // One flush per batch that wrote: one per lone write, one for the rest.
    assert!(seen.flushes > ONE_BY_ONE, "{seen:?}");
    assert!(
        seen.flushes < ONE_BY_ONE + TOGETHER,
        "no flush was shared: {seen:?}"
    );
    assert_eq!(seen.batches, ONE_BY_ONE + 1, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_normal_the_log_is_not_flushed_at_commit() {
    let seen = trace_creates("normal").await;
    assert_eq!(seen.acks, ONE_BY_ONE + TOGETHER, "{seen:?}");
    assert_eq!(seen.flushes, 0, "{seen:?}");
    assert_eq!(seen.acked_unflushed, seen.acks, "{seen:?}");
    assert_eq!(seen.batches, ONE_BY_ONE + 1, "{seen:?}");
}

/// What the trace showed.
#[derive(Default)]
struct Seen {
    /// 201 responses sent.
    acks: usize,
    /// 201 responses sent without a write to the log and its flush after
    /// their request was read.
    acked_unflushed: usize,
    /// Flushes of the log.
    flushes: usize,
    /// The trace up to the first 201 counted unflushed, to show why.
    first_unflushed: Option<String>,
    /// Commits, as orderly's `/metrics` counts them.
    batches: usize,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} 201s ({} unflushed), {} flushes, {} batches",
            self.acks, self.acked_unflushed, self.flushes, self.batches
        )
    }
}

/// Creates users under `strace`, one by one and then many at once, on
/// orderly with `--sqlite-synchronous synchronous`; what the trace shows.
async fn trace_creates(synchronous: &str) -> Seen {
    let app = OrderlyProcess::start(
        Backend::Sqlite,
        &[("ORDERLY_SQLITE_SYNCHRONOUS", synchronous)],
    )
    .await;
    app.a_user().await;
    let dir = tempfile::tempdir().unwrap();
    let trace_file = dir.path().join("trace");
    let batches_before = metric(&app, BATCHES).await;
    let strace = Strace::attach(app.pid(), &trace_file).await;

    for n in 0..ONE_BY_ONE {
        let body = json!({"email": format!("one-{n}@example.com"), "name": "One"});
        assert_eq!(app.post_json("/api/v1/users", &body).await.status(), 201);
    }
    let lock = app.db_pool.hold_write_lock().await;
    let creates: Vec<_> = (0..TOGETHER)
        .map(|n| {
            let api = Api::clone(&app);
            tokio::spawn(async move {
                let body = json!({"email": format!("many-{n}@example.com"), "name": "Many"});
                api.post_json("/api/v1/users", &body).await.status()
            })
        })
        .collect();
    until_writes_wait(&app, TOGETHER - 1).await;
    lock.release().await;
    for status in join_all(creates).await {
        assert_eq!(status.unwrap(), 201);
    }
    strace.detach().await;

    let batches = metric(&app, BATCHES).await - batches_before;
    let trace = std::fs::read_to_string(&trace_file).expect("strace wrote its trace");
    let seen = Seen {
        batches: batches as usize,
        ..read_trace(&trace)
    };
    println!("synchronous={synchronous}: {seen:?}");
    seen
}

/// Walks the trace in order, following each request from when orderly
/// read it (on its socket) to its 201: the request counts as flushed if a
/// write to the log came after it was read, and a finished flush of the
/// log after that write, before its 201 left. A 201 sent before any write
/// (an answer before the commit) or before the flush counts as unflushed.
fn read_trace(trace: &str) -> Seen {
    let mut seen = Seen::default();
    // Per socket with a request read: (log written since, flushed since).
    let mut requests: HashMap<String, (bool, bool)> = HashMap::new();
    // Flushes of the log begun and not yet finished, by thread.
    let mut flushing: HashSet<String> = HashSet::new();
    // Reads of a socket begun and not yet finished, by thread.
    let mut reading: HashMap<String, String> = HashMap::new();
    let lines: Vec<&str> = trace.lines().collect();
    for (at, line) in lines.iter().enumerate() {
        let mut words = line.split_whitespace();
        let thread = words.next().unwrap_or_default().to_owned();
        let rest = words.collect::<Vec<_>>().join(" ");
        let call = rest.split('(').next().unwrap_or_default();
        let returned = rest.rsplit_once("= ").map(|(_, r)| r.trim());
        let ok = returned.is_some_and(|r| !r.starts_with('-'));
        let on_log = first_fd(&rest).is_some_and(|fd| fd.ends_with("-wal"));
        let flush = ["fsync", "fdatasync"].contains(&call);
        let socket = first_fd(&rest).filter(|fd| fd.starts_with("socket:"));
        let read = call == "read" || call == "recvfrom";
        if read && rest.contains("<unfinished") {
            if let Some(socket) = socket {
                reading.insert(thread, socket.to_owned());
            }
        } else if read && ok {
            if let Some(socket) = socket {
                requests.insert(socket.to_owned(), (false, false));
            }
        } else if rest.starts_with("<... read resumed>")
            || rest.starts_with("<... recvfrom resumed>")
        {
            if let Some(socket) = reading.remove(&thread).filter(|_| ok) {
                requests.insert(socket, (false, false));
            }
        } else if call == "pwrite64" && on_log {
            for state in requests.values_mut() {
                *state = (true, false);
            }
        } else if flush && on_log && rest.contains("<unfinished") {
            flushing.insert(thread);
        } else if (flush && on_log && ok)
            || (rest.starts_with("<... fsync resumed>")
                || rest.starts_with("<... fdatasync resumed>"))
                && ok
                && flushing.remove(&thread)
        {
            seen.flushes += 1;
            for state in requests.values_mut() {
                state.1 |= state.0;
            }
        } else if ["write", "writev", "sendto", "sendmsg"].contains(&call)
            && rest.contains("HTTP/1.1 201")
        {
            seen.acks += 1;
            let socket = first_fd(&rest).unwrap_or_default();
            if requests.remove(socket) != Some((true, true)) {
                seen.acked_unflushed += 1;
                let around = lines[at.saturating_sub(40)..=at].join("\n");
                seen.first_unflushed.get_or_insert(around);
            }
        }
    }
    seen
}

/// What `strace -y` shows of a call's first argument, a file descriptor:
/// `9<socket:[1234]>` gives `socket:[1234]`.
fn first_fd(call: &str) -> Option<&str> {
    let args = call.split_once('(')?.1;
    let shown = args.split_once('<')?.1;
    Some(shown.split_once('>')?.0)
}

/// `strace` attached to a running process and all its threads.
struct Strace {
    child: Child,
}

impl Strace {
    /// Attaches to every thread of `pid`; returns once they are traced.
    async fn attach(pid: u32, trace_file: &Path) -> Self {
        let mut child = Command::new("strace")
            .args(["-f", "-y", "-s", "16", "-o"])
            .arg(trace_file)
            .args([
                "-e",
                "trace=read,recvfrom,pwrite64,fsync,fdatasync,write,writev,sendto,sendmsg",
            ])
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("strace runs: install Debian's strace (bash scripts/install/strace.sh)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        // "Process N attached with T threads": every thread, at once.
        let attached = async {
            while let Ok(Some(line)) = lines.next_line().await {
                assert!(
                    !line.contains("Operation not permitted"),
                    "strace may not trace here: {line}"
                );
                if line.contains("attached") {
                    return;
                }
            }
            panic!("strace stopped before it attached");
        };
        tokio::time::timeout(Duration::from_secs(20), attached)
            .await
            .expect("strace attached within 20 s");
        // Keep draining its messages, so that it never blocks on them.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child }
    }

    /// Detaches (the process runs on) and waits for the trace to be written.
    async fn detach(mut self) {
        let pid = self.child.id().expect("strace runs").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("strace detached within 10 s")
            .expect("strace's exit status");
    }
}

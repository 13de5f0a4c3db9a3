//! Logging through `tracing`: human-readable or JSON lines, filtered by
//! `RUST_LOG` (default `info`), written to stderr by a background thread.
//!
//! A request never waits for its log line: lines go into a bounded queue
//! that a writer thread drains. When the queue is full (stderr slower than
//! the requests, a stuck pipe), new lines are dropped and counted rather
//! than slowing the service down; `/metrics` shows the count.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Lines the queue holds before it drops new ones: at about 200 bytes a
/// line, a few MiB at most, and seconds of headroom at full load.
const QUEUE_LINES: usize = 16_384;

/// The writer thread collects the lines waiting in the queue into one
/// write of up to this many bytes, flushed whenever the queue runs empty:
/// under load, one system call carries hundreds of lines instead of one.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// The writer's count of dropped lines, once logging is set up.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Lines dropped because the log queue was full, since start.
pub fn dropped_log_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}

/// Sets up logging. Keep the returned guard alive until the process ends:
/// dropping it flushes the queued lines.
///
/// A second call (tests build many apps in one process) keeps the first
/// set-up and returns `None`.
pub fn init(format: LogFormat) -> Option<WorkerGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUE_LINES)
        .lossy(true)
        .thread_name("orderly-log")
        .finish(std::io::BufWriter::with_capacity(
            WRITE_BUFFER_BYTES,
            std::io::stderr(),
        ));
    let dropped = writer.error_counter();
    // Colour codes only for a person at a terminal, never in a file or pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    match installed {
        Ok(()) => {
            let _ = DROPPED.set(dropped);
            Some(guard)
        }
        Err(_) => None,
    }
}

//! Logging through `tracing`: human-readable or JSON lines, filtered by
//! `RUST_LOG` (default `info`), written to stderr by a background thread.
//!
//! A request never waits for its log line: lines go into a bounded buffer
//! that a writer thread writes out (`log_writer`). When the buffer is full
//! (stderr slower than the requests, a stuck pipe), new lines are dropped
//! and counted rather than slowing the service down; `/metrics` shows the
//! count.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

use super::log_writer::{self, LineBuffer, WriterGuard};
use crate::config::LogFormat;

/// The log's buffer, once logging is set up.
static BUFFER: OnceLock<LineBuffer> = OnceLock::new();

/// Lines dropped because the log buffer was full, since start.
pub fn dropped_log_lines() -> u64 {
    BUFFER.get().map_or(0, LineBuffer::dropped)
}

/// Sets up logging. Keep the returned guard alive until the process ends:
/// dropping it flushes the queued lines.
///
/// A second call (tests build many apps in one process) keeps the first
/// set-up and returns `None`.
pub fn init(format: LogFormat) -> Option<WriterGuard> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // At debug, tokio-postgres logs every statement's parameters: users'
        // e-mail addresses and names, personal data that no log level may
        // carry.
        .add_directive(
            "tokio_postgres::query=info"
                .parse()
                .expect("a valid directive"),
        );
    let (writer, guard) = log_writer::spawn(std::io::stderr());
    let buffer = writer.clone();
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
            let _ = BUFFER.set(buffer);
            Some(guard)
        }
        Err(_) => None,
    }
}

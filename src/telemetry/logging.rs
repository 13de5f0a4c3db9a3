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

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use super::line_layer::LineLayer;
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
    let lines = LineLayer {
        format,
        // Colour codes only for a person at a terminal, never in a file or pipe.
        ansi: std::io::stderr().is_terminal(),
        out: writer,
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .try_init();
    match installed {
        Ok(()) => {
            let _ = BUFFER.set(buffer);
            Some(guard)
        }
        Err(_) => None,
    }
}

//! Log lines formatted by hand, straight into a buffer of the thread's own,
//! and handed whole to the log writer. The lines are those
//! tracing-subscriber's `fmt` layer wrote (human:
//! `TIME LEVEL request{request_id="..."}: TARGET: MESSAGE FIELDS`; JSON: one
//! object per line, the event's fields flattened, the request id under
//! `span`), for less of the per-event work: no span is looked up (the
//! request id is the task's, `request_id`), no writer is made per line, and
//! the date part of the timestamp is formatted once a second.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, Layer};

use super::log_writer::LineBuffer;
use super::request_id;
use crate::config::LogFormat;

/// Formats every event that passes the filter into one line.
pub struct LineLayer {
    pub format: LogFormat,
    /// Colour codes, for a person at a terminal.
    pub ansi: bool,
    pub out: LineBuffer,
}

/// A thread's line under construction, reused from one line to the next.
#[derive(Default)]
struct Line {
    bytes: Vec<u8>,
    /// The message and the other fields, apart: the message comes first.
    message: String,
    fields: String,
    /// The second `date` holds the formatted date and time of, to the second.
    second: u64,
    date: String,
}

thread_local! {
    static LINE: RefCell<Line> = RefCell::new(Line::default());
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        // A line logged while formatting a line (a field's Debug that logs)
        // is dropped rather than borrowed twice.
        let _ = LINE.try_with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                return;
            };
            line.bytes.clear();
            line.message.clear();
            line.fields.clear();
            match self.format {
                LogFormat::Human => line.human(event, self.ansi),
                LogFormat::Json => line.json(event),
            }
            line.bytes.push(b'\n');
            self.out.push(&line.bytes);
        });
    }
}

impl Line {
    /// `2026-12-06T04:57:02.394245Z`, UTC, to the microsecond.
    fn timestamp(&mut self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if now.as_secs() != self.second || self.date.is_empty() {
            self.second = now.as_secs();
            self.date.clear();
            let at = chrono::DateTime::from_timestamp(now.as_secs() as i64, 0).unwrap_or_default();
            let _ = write!(self.date, "{}", at.format("%Y-%m-%dT%H:%M:%S"));
        }
        self.bytes.extend_from_slice(self.date.as_bytes());
        let _ = std::io::Write::write_fmt(
            &mut self.bytes,
            format_args!(".{:06}Z", now.subsec_micros()),
        );
    }

    fn human(&mut self, event: &Event<'_>, ansi: bool) {
        self.timestamp();
        // A line from the `log` crate (tokio-postgres logs through it)
        // carries its real target here, not `log`'s.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let level = *meta.level();
        let (start, end) = match ansi {
            true => (colour(level), "\x1b[0m"),
            false => ("", ""),
        };
        self.fields.clear();
        let _ = write!(self.fields, " {start}{level:>5}{end} ");
        self.bytes.extend_from_slice(self.fields.as_bytes());
        request_id::with_current(|id| {
            if let Some(id) = id {
                self.bytes.extend_from_slice(b"request{request_id=\"");
                self.bytes.extend_from_slice(id.as_bytes());
                self.bytes.extend_from_slice(b"\"}: ");
            }
        });
        self.bytes.extend_from_slice(meta.target().as_bytes());
        self.bytes.extend_from_slice(b": ");
        self.fields.clear();
        event.record(&mut HumanFields {
            message: &mut self.message,
            fields: &mut self.fields,
        });
        self.bytes.extend_from_slice(self.message.as_bytes());
        let fields = match self.message.is_empty() {
            true => self.fields.trim_start(),
            false => &self.fields,
        };
        self.bytes.extend_from_slice(fields.as_bytes());
    }

    fn json(&mut self, event: &Event<'_>) {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        self.bytes.extend_from_slice(b"{\"timestamp\":\"");
        self.timestamp();
        let level = meta.level().as_str();
        let _ =
            std::io::Write::write_fmt(&mut self.bytes, format_args!("\",\"level\":\"{level}\""));
        event.record(&mut JsonFields {
            bytes: &mut self.bytes,
            scratch: &mut self.message,
        });
        self.bytes.extend_from_slice(b",\"target\":");
        json_string(&mut self.bytes, meta.target());
        request_id::with_current(|id| {
            // A request id is made of `A-Z a-z 0-9 - _ . :` only: no escapes.
            if let Some(id) = id {
                self.bytes
                    .extend_from_slice(b",\"span\":{\"request_id\":\"");
                self.bytes.extend_from_slice(id.as_bytes());
                self.bytes.extend_from_slice(b"\",\"name\":\"request\"}");
            }
        });
        self.bytes.push(b'}');
    }
}

fn colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        Level::DEBUG => "\x1b[34m",
        Level::TRACE => "\x1b[35m",
    }
}

/// `message`, then ` name=value` for each other field: strings quoted, as
/// `fmt` wrote them.
struct HumanFields<'a> {
    message: &'a mut String,
    fields: &'a mut String,
}

/// The fields the `log` bridge adds (`log.target`, `log.file`, ...),
/// already in the line's target.
fn from_log_bridge(field: &Field) -> bool {
    field.name().starts_with("log.")
}

impl Visit for HumanFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            _ if from_log_bridge(field) => {}
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            _ if from_log_bridge(field) => {}
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}

/// `,"name":value` for each field: numbers and booleans as themselves,
/// anything else as a string.
struct JsonFields<'a> {
    bytes: &'a mut Vec<u8>,
    scratch: &'a mut String,
}

impl JsonFields<'_> {
    fn key(&mut self, field: &Field) -> bool {
        if from_log_bridge(field) {
            return false;
        }
        self.bytes.push(b',');
        json_string(self.bytes, field.name());
        self.bytes.push(b':');
        true
    }

    fn plain(&mut self, field: &Field, value: impl fmt::Display) {
        if self.key(field) {
            let _ = std::io::Write::write_fmt(self.bytes, format_args!("{value}"));
        }
    }
}

impl Visit for JsonFields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.plain(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.plain(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.plain(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        match value.is_finite() {
            true => self.plain(field, value),
            false => self.record_debug(field, &value),
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            json_string(self.bytes, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key(field) {
            self.scratch.clear();
            let _ = write!(self.scratch, "{value:?}");
            json_string(self.bytes, self.scratch);
        }
    }
}

fn json_string(bytes: &mut Vec<u8>, text: &str) {
    let _ = serde_json::to_writer(bytes, text);
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::telemetry::log_writer;

    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<Vec<u8>>>);

    impl Write for Collected {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines `log` writes in `format`.
    fn lines(format: LogFormat, log: impl FnOnce()) -> Vec<String> {
        let sink = Collected::default();
        let (out, guard) = log_writer::spawn(sink.clone());
        let layer = LineLayer {
            format,
            ansi: false,
            out,
        };
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    fn in_request(id: &'static str, log: impl FnOnce()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let id = axum::http::HeaderValue::from_static(id);
        runtime.block_on(request_id::with_request_id(id, async { log() }));
    }

    #[test]
    fn human_lines_read_as_fmt_wrote_them() {
        let log = lines(LogFormat::Human, || {
            in_request(
                "req-1",
                || tracing::info!(method = "GET", route = %"/api/v1/users/{id}", status = 404_u16, "request"),
            );
            tracing::warn!(error = "a \"quoted\" cause", "outside any request");
        });
        assert_eq!(log.len(), 2, "{log:?}");
        let (time, rest) = log[0].split_once(' ').unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        assert!(time.ends_with('Z') && time.len() == 27, "{time}");
        assert_eq!(
            rest,
            " INFO request{request_id=\"req-1\"}: orderly::telemetry::line_layer::tests: request \
             method=\"GET\" route=/api/v1/users/{id} status=404"
        );
        assert!(
            log[1].ends_with(
                "  WARN orderly::telemetry::line_layer::tests: outside any request error=\"a \\\"quoted\\\" cause\""
            ),
            "{}",
            log[1]
        );
    }

    #[test]
    fn json_lines_are_one_object_with_the_fields_flattened() {
        let log = lines(LogFormat::Json, || {
            in_request(
                "req-2",
                || tracing::error!(status = 500_u16, latency_us = 12_u64, ok = false, cause = %"bad \"thing\"\n", "request failed"),
            );
        });
        let line: serde_json::Value = serde_json::from_str(&log[0]).unwrap();
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["message"], "request failed");
        assert_eq!(line["status"], 500);
        assert_eq!(line["latency_us"], 12);
        assert_eq!(line["ok"], false);
        assert_eq!(line["cause"], "bad \"thing\"\n");
        assert_eq!(line["target"], "orderly::telemetry::line_layer::tests");
        assert_eq!(line["span"]["request_id"], "req-2");
        assert!(chrono::DateTime::parse_from_rfc3339(line["timestamp"].as_str().unwrap()).is_ok());
    }
}

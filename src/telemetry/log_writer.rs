//! The log's writer: requests append their formatted lines to a bounded
//! in-memory buffer, and a background thread writes the buffer out every
//! 10 milliseconds, in one system call.
//!
//! Why not `tracing-appender`'s non-blocking writer: it hands each line
//! over a channel and wakes its writer thread for it. On the 2-core
//! machine that thread switch per line cost a third of the throughput of
//! SQLite creates (8,600 against 14,000 req/s with a line per request,
//! while with no request lines both were at 13,000). Here a line costs a
//! lock and a copy; the writer wakes on a timer, whatever the load.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Bytes of formatted lines waiting at most; past it, new lines are
/// dropped and counted. About 1,300 lines of 200 bytes: at 10 ms a batch,
/// room for 130,000 lines a second, several times what the service
/// answers on the 2-core machine. Both buffers are allocated at this size
/// once, so they never grow (a growing buffer left several MiB behind).
const BUFFER_BYTES: usize = 256 * 1024;

/// How often the waiting lines are written out.
const WRITE_EVERY: Duration = Duration::from_millis(10);

struct Shared {
    waiting: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    stop: AtomicBool,
}

/// The writer the log formatter writes each line to. Cheap to clone.
#[derive(Clone)]
pub struct LineBuffer(Arc<Shared>);

/// Owns the writer thread; dropping it writes out what is waiting and
/// stops the thread.
pub struct WriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A buffer and its writer thread, which writes to `sink`.
pub fn spawn(sink: impl Write + Send + 'static) -> (LineBuffer, WriterGuard) {
    let shared = Arc::new(Shared {
        waiting: Mutex::new(Vec::with_capacity(BUFFER_BYTES)),
        dropped: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let writer = shared.clone();
    // Both buffers are allocated here, not in the writer thread: a first
    // large allocation in a new thread made mimalloc commit several MiB
    // for that thread alone.
    let batch = Vec::with_capacity(BUFFER_BYTES);
    let thread = std::thread::Builder::new()
        .name("orderly-log".into())
        .spawn(move || write_out(&writer, batch, sink))
        .expect("a thread for the log writer");
    (
        LineBuffer(shared.clone()),
        WriterGuard {
            shared,
            thread: Some(thread),
        },
    )
}

impl LineBuffer {
    /// Appends one whole line, or drops it whole (and counts it) when the
    /// buffer is full.
    pub fn push(&self, line: &[u8]) {
        let mut waiting = self.0.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.len() + line.len() > BUFFER_BYTES {
            drop(waiting);
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            waiting.extend_from_slice(line);
        }
    }

    /// Lines dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

impl Write for LineBuffer {
    /// The formatter writes each line with one call: a line goes in whole
    /// or is dropped whole.
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The writer thread: every interval, takes what is waiting and writes it
/// while the requests go on filling the other buffer.
fn write_out(shared: &Shared, mut batch: Vec<u8>, mut sink: impl Write) {
    loop {
        let stopping = shared.stop.load(Ordering::Acquire);
        if !stopping {
            std::thread::park_timeout(WRITE_EVERY);
        }
        std::mem::swap(
            &mut batch,
            &mut *shared.waiting.lock().unwrap_or_else(|e| e.into_inner()),
        );
        if !batch.is_empty() {
            // A failing sink (a closed pipe) loses the batch, not the service.
            let _ = sink.write_all(&batch).and_then(|()| sink.flush());
            batch.clear();
        }
        if stopping {
            return;
        }
    }
}

/// How long exiting waits for the last lines to be written: a stuck stderr
/// must not keep a stopping process alive.
const FINAL_WRITE_LIMIT: Duration = Duration::from_secs(2);

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let Some(thread) = self.thread.take() else {
            return;
        };
        thread.thread().unpark();
        let deadline = std::time::Instant::now() + FINAL_WRITE_LIMIT;
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read, shared with the writer thread.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<Vec<u8>>>);

    impl Write for Collected {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_reach_the_sink_in_order_and_all_by_the_guards_drop() {
        let sink = Collected::default();
        let (mut buffer, guard) = spawn(sink.clone());
        for n in 0..1000 {
            buffer.write_all(format!("line {n}\n").as_bytes()).unwrap();
        }
        drop(guard);
        let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 1000);
        assert_eq!(lines[0], "line 0");
        assert_eq!(lines[999], "line 999");
        assert_eq!(buffer.dropped(), 0);
    }

    /// A sink that never returns: the pipe is stuck.
    struct Stuck;

    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            std::thread::park();
            Ok(0)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_sink_drops_whole_lines_and_counts_them_without_blocking() {
        let (mut buffer, guard) = spawn(Stuck);
        let line = [b'x'; 1000];
        // Twice what the buffer holds, written at once: nothing waits.
        let writes = 2 * BUFFER_BYTES / line.len();
        for _ in 0..writes {
            assert_eq!(buffer.write(&line).unwrap(), line.len());
        }
        let dropped = buffer.dropped() as usize;
        // At least a full buffer went in (the writer may have taken one
        // batch before it got stuck), and the rest was dropped.
        assert!(dropped > 0, "nothing dropped");
        assert!(
            dropped <= writes - BUFFER_BYTES / line.len(),
            "dropped {dropped}"
        );
        let waiting = buffer.0.waiting.lock().unwrap().len();
        assert_eq!(waiting % line.len(), 0, "a partial line is waiting");
        let started = std::time::Instant::now();
        drop(guard); // Gives up on the stuck thread after a while.
        assert!(started.elapsed() < FINAL_WRITE_LIMIT + Duration::from_secs(1));
    }
}

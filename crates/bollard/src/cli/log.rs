//! `bollard serve`'s log lines, written to stderr in batches (issue 16).
//!
//! Under load the gateway logs a line per call; written one at a time, each was a system call
//! and a turn at stderr's lock, which the runtime's threads queued for (about 4 µs a call of
//! the gate's CPU, measured against the same binary logging to `/dev/null`). Here a line at
//! `info` or below joins the lines waiting, and they are written together: by a thread of
//! their own at most [`PERIOD`] after the first of them, or by the logging thread itself once
//! [`MAX_PENDING`] bytes wait. A line at `warn` or `error` is written at once, after the lines
//! waiting before it, so the log stays in order and nothing that explains a failure waits.
//! The process writes what is waiting when it ends (`flush`), and on a panic before the panic
//! message; only a process killed outright (SIGKILL) loses what it had not written yet, at
//! most its last [`PERIOD`] of `info` lines. The audit log is the record of every call; these
//! lines are the operator's view of it.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How long an `info` line can wait to be written.
pub const PERIOD: Duration = Duration::from_millis(50);
/// What the logging threads let wait before they write it themselves: about 300 lines.
pub const MAX_PENDING: usize = 64 * 1024;

/// Lines waiting, and the output they go to. Whoever writes holds `out` first and then takes
/// what waits, so lines leave in the order they joined.
#[derive(Debug)]
pub struct Batched<W> {
    pending: Mutex<Vec<u8>>,
    /// Signalled when lines start waiting, for the thread that writes them.
    waiting: Condvar,
    out: Mutex<W>,
    max_pending: usize,
}

impl<W: Write + Send + 'static> Batched<W> {
    pub fn new(out: W, max_pending: usize) -> Arc<Self> {
        Arc::new(Self {
            pending: Mutex::new(Vec::new()),
            waiting: Condvar::new(),
            out: Mutex::new(out),
            max_pending,
        })
    }

    /// Starts the thread that writes waiting lines at most `period` after the first of them.
    /// It ends within a second of the buffer's last other holder letting it go.
    pub fn start_writer(self: &Arc<Self>, period: Duration) -> std::io::Result<()> {
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("bollard-log".into())
            .spawn(move || {
                loop {
                    let Some(this) = weak.upgrade() else { return };
                    let mut pending = lock(&this.pending);
                    // Woken at least once a second to notice a dropped buffer.
                    while pending.is_empty() {
                        pending = this
                            .waiting
                            .wait_timeout(pending, Duration::from_secs(1))
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                        if pending.is_empty() && Arc::strong_count(&this) == 1 {
                            return;
                        }
                    }
                    drop(pending);
                    drop(this);
                    std::thread::sleep(period);
                    let Some(this) = weak.upgrade() else { return };
                    this.flush();
                }
            })
            .map(|_| ())
    }

    /// Adds a line to those waiting; writes them all if that makes too many.
    fn append(&self, line: &[u8]) {
        let mut pending = lock(&self.pending);
        let first = pending.is_empty();
        pending.extend_from_slice(line);
        let full = pending.len() >= self.max_pending;
        drop(pending);
        if full {
            self.flush();
        } else if first {
            self.waiting.notify_one();
        }
    }

    /// Writes the lines waiting, then `line`.
    fn write_through(&self, line: &[u8]) -> std::io::Result<()> {
        let mut out = lock(&self.out);
        // Lines that cannot be written are dropped, as lines written directly would be.
        self.write_waiting(&mut out);
        out.write_all(line)?;
        out.flush()
    }

    /// Writes every line waiting now.
    pub fn flush(&self) {
        self.write_waiting(&mut lock(&self.out));
    }

    /// [`Self::flush`], unless the output is held (by this very thread, when it panicked
    /// while writing: the lock is not reentrant).
    fn try_flush(&self) {
        if let Ok(mut out) = self.out.try_lock() {
            self.write_waiting(&mut out);
        }
    }

    fn write_waiting(&self, out: &mut W) {
        let pending = std::mem::take(&mut *lock(&self.pending));
        if !pending.is_empty() {
            let _ = out.write_all(&pending);
            let _ = out.flush();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A thread that panicked while holding it left whole lines or none: go on.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `tracing_subscriber`'s writer over a [`Batched`] output.
#[derive(Debug)]
pub struct BatchedWriter<W>(pub Arc<Batched<W>>);

/// One log line's writer: `urgent` lines are written at once.
#[derive(Debug)]
pub struct Line<'a, W> {
    to: &'a Batched<W>,
    urgent: bool,
}

impl<W: Write + Send + 'static> Write for Line<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // tracing-subscriber's formatter hands over each event whole, in one call.
        if self.urgent {
            self.to.write_through(buf)?;
        } else {
            self.to.append(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + Send + 'static> MakeWriter<'a> for BatchedWriter<W> {
    type Writer = Line<'a, W>;

    /// Without the line's level: written at once.
    fn make_writer(&'a self) -> Self::Writer {
        Line {
            to: &self.0,
            urgent: true,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        Line {
            to: &self.0,
            // tracing orders levels by verbosity: ERROR < WARN < INFO.
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

static STDERR: OnceLock<Arc<Batched<std::io::Stderr>>> = OnceLock::new();

/// Stderr for log lines. `batched`: the process's batched stderr, its writing thread started,
/// and a panic hook that writes what waits before the panic's message. Otherwise nothing
/// waits: every line is written by the thread that logs it.
pub fn stderr(batched: bool) -> BatchedWriter<std::io::Stderr> {
    let unbatched = || Batched::new(std::io::stderr(), 0);
    if !batched {
        return BatchedWriter(unbatched());
    }
    let batched = STDERR.get_or_init(|| {
        let b = Batched::new(std::io::stderr(), MAX_PENDING);
        if b.start_writer(PERIOD).is_err() {
            return unbatched();
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(b) = STDERR.get() {
                b.try_flush();
            }
            previous(info);
        }));
        b
    });
    BatchedWriter(batched.clone())
}

/// Writes the lines waiting on stderr, if they are batched; for the end of the process.
pub fn flush() {
    if let Some(b) = STDERR.get() {
        b.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An output the test can read while the buffer holds it.
    #[derive(Clone, Debug, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Waits up to five seconds for `done`.
    fn eventually(what: &str, done: impl Fn() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(5), "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn subscriber(b: &Arc<Batched<Shared>>) -> impl tracing::Subscriber + use<> {
        tracing_subscriber::fmt()
            .with_writer(BatchedWriter(b.clone()))
            .with_max_level(Level::INFO)
            .without_time()
            .with_ansi(false)
            .finish()
    }

    #[test]
    fn info_lines_wait_and_a_warning_writes_them_first_in_order() {
        let out = Shared::default();
        let b = Batched::new(out.clone(), MAX_PENDING);
        tracing::subscriber::with_default(subscriber(&b), || {
            tracing::info!("one");
            tracing::info!("two");
            assert_eq!(out.text(), "", "info lines wait");
            tracing::warn!("three");
            let text = out.text();
            let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in {text}"));
            assert!(at("one") < at("two") && at("two") < at("three"), "{text}");
            tracing::error!("four");
            assert!(out.text().contains("four"), "an error is written at once");
        });
    }

    #[test]
    fn flush_writes_what_waits_and_a_full_buffer_writes_itself() {
        let out = Shared::default();
        let b = Batched::new(out.clone(), MAX_PENDING);
        b.append(b"a\n");
        b.append(b"b\n");
        assert_eq!(out.text(), "");
        b.flush();
        assert_eq!(out.text(), "a\nb\n");
        b.flush();
        assert_eq!(out.text(), "a\nb\n", "nothing is written twice");

        let out = Shared::default();
        let b = Batched::new(out.clone(), 8);
        b.append(b"1234\n");
        assert_eq!(out.text(), "");
        b.append(b"5678\n");
        assert_eq!(
            out.text(),
            "1234\n5678\n",
            "past the limit the logger writes"
        );

        // Unbatched (`stderr(false)`, every command but `serve`): nothing waits.
        let out = Shared::default();
        let b = Batched::new(out.clone(), 0);
        b.append(b"at once\n");
        assert_eq!(out.text(), "at once\n");
    }

    /// What a panic's hook does: write what waits, unless the output is held (by the
    /// panicking thread itself, which would otherwise wait on its own lock forever).
    #[test]
    fn the_panic_path_writes_what_waits_without_waiting_on_a_held_output() {
        let out = Shared::default();
        let b = Batched::new(out.clone(), MAX_PENDING);
        b.append(b"before the panic\n");
        let held = b.out.lock().unwrap();
        b.try_flush();
        drop(held);
        assert_eq!(out.text(), "", "the held output was left alone");
        b.try_flush();
        assert_eq!(out.text(), "before the panic\n");
    }

    #[test]
    fn the_writing_thread_writes_a_waiting_line_within_its_period() {
        let out = Shared::default();
        let b = Batched::new(out.clone(), MAX_PENDING);
        b.start_writer(Duration::from_millis(20)).unwrap();
        for line in ["first\n", "second\n"] {
            b.append(line.as_bytes());
            eventually(&format!("{line} was not written"), || {
                out.text().contains(line)
            });
        }
        assert_eq!(out.text(), "first\nsecond\n");
    }

    #[test]
    fn the_writing_thread_ends_with_its_buffer() {
        let out = Shared::default();
        let b = Batched::new(out.clone(), MAX_PENDING);
        b.start_writer(Duration::from_millis(1)).unwrap();
        let weak = Arc::downgrade(&b);
        drop(b);
        // The thread holds it while it waits for lines, at most a second at a time, and then
        // lets it go for good.
        eventually("the writing thread kept its buffer", || {
            weak.upgrade().is_none()
        });
    }
}

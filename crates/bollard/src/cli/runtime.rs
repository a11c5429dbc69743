//! The async runtime `bollard` runs on, sized for the threads Bollard keeps beside it.
//!
//! Beside the runtime's workers, a SQLite store writes every audit batch from a thread of its
//! own (`store::sqlite::audit_thread`), a fifth of the gateway's CPU under load, one batch at a
//! time. With a worker on every core, the workers and that thread take turns on the same
//! cores, and the workers wake one another to share tasks: on two cores (issue 16, SQLite
//! `normal`, 16 connections) a worker per core spent 141-145 µs a call at 9,000-9,300 calls/s;
//! one worker, leaving the other core to the audit thread, 108-115 µs at 10,300-11,300 calls/s,
//! and at one connection p50 fell from 439 µs to 377 µs. So the default is one worker fewer
//! than the cores, and at least one. `TOKIO_WORKER_THREADS`, tokio's own setting, overrides it.

use std::num::NonZeroUsize;

/// The runtime, with the workers [`workers`] gives for this machine and environment.
pub fn build() -> Result<tokio::runtime::Runtime, String> {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let setting = std::env::var("TOKIO_WORKER_THREADS").ok();
    let n = workers(setting.as_deref(), cores)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(n)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// How many workers: `setting` (`TOKIO_WORKER_THREADS`) when given, else one fewer than
/// `cores`, at least one.
pub fn workers(setting: Option<&str>, cores: usize) -> Result<usize, String> {
    match setting {
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!(
                "TOKIO_WORKER_THREADS is {s:?}; it takes a whole number of threads, at least 1"
            )),
        },
        None => Ok(cores.saturating_sub(1).max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::workers;

    #[test]
    fn one_worker_fewer_than_the_cores_unless_told() {
        assert_eq!(workers(None, 1), Ok(1));
        assert_eq!(workers(None, 2), Ok(1));
        assert_eq!(workers(None, 16), Ok(15));
        assert_eq!(workers(Some("4"), 2), Ok(4));
        assert_eq!(workers(Some(" 2 "), 16), Ok(2));
        for bad in ["0", "-1", "two", ""] {
            let e = workers(Some(bad), 2).unwrap_err();
            assert!(e.contains("TOKIO_WORKER_THREADS"), "{e}");
        }
    }
}

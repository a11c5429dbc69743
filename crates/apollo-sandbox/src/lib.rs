//! A faithful local Apollo.io REST API for tests, demos and benchmarks.
//!
//! [`Sandbox::spawn`] starts one on a port (0 is fine) inside a test; [`serve`] runs one
//! until a cancellation token fires (what `bollard sandbox` uses). It answers Apollo's
//! twenty endpoints under `/api/v1` and `/v1` with Apollo's shapes, keys, rate limits,
//! credits and errors, over a prospect database generated from a seed. A control surface
//! under `/__sandbox/` (master key) exposes the journal, faults and clock over HTTP.

pub mod args;
mod clock;
mod config;
mod credit;
mod data;
mod endpoint;
mod error;
mod fault;
mod journal;
mod paging;
mod ratelimit;
mod route;
mod server;
mod state;
mod team;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use clock::Clock;
pub use config::{PlanLimits, Prices, SandboxConfig, random_key};
pub use credit::{CreditKind, CreditLedger};
pub use fault::{FaultSettings, Faults};
pub use journal::{JournalEntry, KeyUsed};
pub use team::Fixtures;

use state::State;

/// Why a sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("could not read the listener's address: {0}")]
    LocalAddr(#[source] std::io::Error),
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
}

fn validate(config: &SandboxConfig) -> Result<(), SandboxError> {
    if config.master_key.is_empty() || config.scoped_key.is_empty() {
        return Err(SandboxError::Config("keys must not be empty".into()));
    }
    if config.master_key == config.scoped_key {
        return Err(SandboxError::Config(
            "the master and scoped keys must differ".into(),
        ));
    }
    Ok(())
}

/// Runs a sandbox on `listener` until `shutdown` is cancelled, logging one line per
/// request through `tracing`. Open connections are drained before it returns.
pub async fn serve(
    config: SandboxConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), SandboxError> {
    validate(&config)?;
    let state = Arc::new(State::new(config));
    server::run(state, listener, shutdown).await;
    Ok(())
}

/// A sandbox running in this process, with handles on its journal, faults, clock and
/// credit ledger.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Sandbox {
    /// Binds `listen` (port 0 picks a free port) and starts serving in the background.
    pub async fn spawn(config: SandboxConfig, listen: SocketAddr) -> Result<Sandbox, SandboxError> {
        validate(&config)?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(SandboxError::LocalAddr)?;
        let state = Arc::new(State::new(config));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server::run(state.clone(), listener, shutdown.clone()));
        Ok(Sandbox {
            addr,
            state,
            shutdown,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (the bound address; an unspecified address becomes loopback).
    pub fn base_url(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            match self.addr {
                SocketAddr::V4(_) => "127.0.0.1".to_owned(),
                SocketAddr::V6(_) => "[::1]".to_owned(),
            }
        } else if self.addr.is_ipv6() {
            format!("[{}]", self.addr.ip())
        } else {
            self.addr.ip().to_string()
        };
        format!("http://{ip}:{}", self.addr.port())
    }

    pub fn master_key(&self) -> &str {
        &self.state.config.master_key
    }

    pub fn scoped_key(&self) -> &str {
        &self.state.config.scoped_key
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.state.config
    }

    /// The requests that reached the sandbox, oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.state.journal.entries()
    }

    pub fn clear_journal(&self) {
        self.state.journal.clear();
    }

    /// Fault injection; the handle is cheap to clone and acts on the running sandbox.
    pub fn faults(&self) -> Faults {
        self.state.faults.clone()
    }

    pub fn clock(&self) -> Clock {
        self.state.config.clock.clone()
    }

    /// Credits consumed so far, by kind.
    pub fn credits(&self) -> CreditLedger {
        self.state.credits.snapshot()
    }

    /// Ids of the seeded team records (users, email accounts, sequences, stages, ...).
    pub fn fixtures(&self) -> Fixtures {
        self.state.team().fixtures()
    }

    /// Webhooks (delivered, failed) so far.
    pub fn webhook_counts(&self) -> (u64, u64) {
        self.state.webhooks.counts()
    }

    /// Stops accepting, lets open requests finish, cancels pending webhooks.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

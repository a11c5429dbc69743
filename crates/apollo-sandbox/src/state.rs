//! Everything a request can touch, shared by the connection tasks. Locks are held for
//! one handler call at most and never across an await.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::SandboxConfig;
use crate::credit::Credits;
use crate::data::Database;
use crate::fault::Faults;
use crate::journal::{Journal, KeyUsed};
use crate::ratelimit::RateLimiter;
use crate::team::Team;
use crate::webhook::Webhooks;

/// People whose private data the team has already revealed. Apollo returns such data
/// on later matches even when the call did not ask for it; the sandbox does the same.
#[derive(Debug, Default)]
pub struct Revealed {
    pub personal_emails: HashSet<usize>,
    pub phone_numbers: HashSet<usize>,
}

#[derive(Debug)]
pub struct State {
    pub config: SandboxConfig,
    pub db: Arc<Database>,
    team: RwLock<Team>,
    revealed: Mutex<Revealed>,
    pub limiter: RateLimiter,
    pub credits: Credits,
    pub journal: Journal,
    pub faults: Faults,
    pub webhooks: Webhooks,
    request_seq: AtomicU64,
    /// What each webhook delivery carried, by request id, for `GET /webhook_result/{id}`.
    results: Mutex<HashMap<String, (&'static str, String, serde_json::Value)>>,
}

impl State {
    pub fn new(config: SandboxConfig) -> Self {
        let db = database(config.seed, config.people);
        let team = Team::seeded(config.seed, &db, config.clock.now());
        Self {
            db,
            team: RwLock::new(team),
            revealed: Mutex::default(),
            limiter: RateLimiter::new(config.limits),
            credits: Credits::default(),
            journal: Journal::new(config.journal_capacity),
            faults: Faults::default(),
            webhooks: Webhooks::new(config.webhook_delay),
            request_seq: AtomicU64::new(0),
            results: Mutex::default(),
            config,
        }
    }

    pub fn key_used(&self, key: Option<&str>) -> KeyUsed {
        match key {
            None => KeyUsed::Missing,
            Some(k) if k == self.config.master_key => KeyUsed::Master,
            Some(k) if k == self.config.scoped_key => KeyUsed::Scoped,
            Some(_) => KeyUsed::Unknown,
        }
    }

    pub fn team(&self) -> RwLockReadGuard<'_, Team> {
        self.team.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn team_mut(&self) -> RwLockWriteGuard<'_, Team> {
        self.team.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn revealed(&self) -> std::sync::MutexGuard<'_, Revealed> {
        self.revealed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh id for `request_id` fields: digits, as Apollo's are (its webhook result
    /// route takes an integer).
    pub fn request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed);
        format!("1{:09}{:09}", self.config.seed % 1_000_000_000, n)
    }

    /// Keeps what a webhook delivery of `request_id` carries (`kind`: phone or waterfall).
    pub fn keep_result(&self, request_id: &str, kind: &'static str, payload: serde_json::Value) {
        let at = crate::clock::format_time(self.config.clock.now());
        self.results
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(request_id.to_owned(), (kind, at, payload));
    }

    /// What a delivery of `request_id` carried: (kind, when, payload).
    pub fn result(&self, request_id: &str) -> Option<(&'static str, String, serde_json::Value)> {
        self.results
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(request_id)
            .cloned()
    }
}

/// Databases are immutable and a pure function of (seed, size): sandboxes in one process
/// (a test suite) share them instead of generating the same people again.
type DatabaseCache = Mutex<HashMap<(u64, usize), Arc<Database>>>;

fn database(seed: u64, people: usize) -> Arc<Database> {
    static CACHE: OnceLock<DatabaseCache> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    cache
        .entry((seed, people))
        .or_insert_with(|| Arc::new(Database::generate(seed, people)))
        .clone()
}

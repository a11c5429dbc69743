//! The one conformance suite: every test is written once, against `&dyn Store`, and run
//! against each backend (SQLite in a temporary file, SQLite in memory, PostgreSQL in a fresh
//! database per test). The replica tests open two stores on one database and race them.
//!
//! PostgreSQL: the suite connects to `BOLLARD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), creates `bollard_t_<random>` for each test
//! and drops it afterwards, whether the test passed or not.

use std::sync::Arc;

use futures::future::{BoxFuture, join_all};
use sqlx::Connection;
use time::OffsetDateTime;
use time::macros::datetime;

use super::{
    AgentPatch, AuditEntry, AuditFilter, BudgetCheck, BudgetUsage, GENESIS_HASH, Hold, Instance,
    Limits, NewAgent, NewAuditEntry, RateLimits, RateTake, Reserve, SchemaState, Store, StoreError,
    WindowCheck, chain_hash,
};
use bollard_policy::Grants;

mod agents;
mod audit;
mod limits;
mod oauth;
mod proofs;
mod relays;
mod replicas;

use agents::*;
use audit::*;
use limits::*;
use oauth::*;
use proofs::*;
use relays::*;
use replicas::*;

// --- harness ------------------------------------------------------------------------------

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

enum Backend {
    SqliteFile,
    SqliteMemory,
    Postgres,
}

/// A database for one test, removed when the test is over.
enum TestDb {
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    Memory,
    Postgres {
        url: String,
        admin: String,
        name: String,
    },
}

impl TestDb {
    async fn create(backend: Backend) -> Self {
        match backend {
            Backend::SqliteFile => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("bollard.db").display());
                TestDb::Sqlite { url, _dir: dir }
            }
            Backend::SqliteMemory => TestDb::Memory,
            Backend::Postgres => {
                let admin = std::env::var("BOLLARD_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
                let name = format!("bollard_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at BOLLARD_TEST_POSTGRES_URL must be reachable: {e}")
                    });
                sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                conn.close().await.ok();
                let url = with_database(&admin, &name);
                TestDb::Postgres { url, admin, name }
            }
        }
    }

    fn url(&self) -> String {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url.clone(),
            TestDb::Memory => "sqlite::memory:".to_owned(),
        }
    }

    async fn destroy(self) {
        // Best effort: a database left behind by a crash is harmless and clearly named.
        if let TestDb::Postgres { admin, name, .. } = self
            && let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await
        {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sqlx::raw_sql(&drop).execute(&mut conn).await.ok();
            conn.close().await.ok();
        }
    }
}

/// The admin URL with its database replaced by `name`.
fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority..].find('/') {
        Some(i) => &base[..authority + i],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// Runs one test on a fresh database of the backend, then drops the database, passing any
/// panic on only after the clean-up.
async fn run<F>(backend: Backend, test: F)
where
    F: for<'a> FnOnce(&'a dyn Store, &'a str) -> BoxFuture<'a, ()> + Send + 'static,
{
    let db = TestDb::create(backend).await;
    let url = db.url();
    let outcome = tokio::spawn(async move {
        let store = super::open(&url)
            .await
            .expect("the store opens and migrates");
        test(&*store, &url).await;
    })
    .await;
    db.destroy().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// For each test, one `#[tokio::test]` per backend: `store::conformance::sqlite::NAME`,
/// `...::sqlite_memory::NAME`, `...::postgres::NAME`. Replica tests need a database two
/// stores can share, so they skip the in-memory one.
macro_rules! conformance {
    (store: [$($test:ident),* $(,)?], replicas: [$($replica:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::run(super::Backend::SqliteFile, |s, _| Box::pin(super::$test(s))).await
            })*
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $replica() {
                super::run(super::Backend::SqliteFile, |_, url| Box::pin(super::$replica(url))).await
            })*
        }
        mod sqlite_memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::run(super::Backend::SqliteMemory, |s, _| Box::pin(super::$test(s))).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::run(super::Backend::Postgres, |s, _| Box::pin(super::$test(s))).await
            })*
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $replica() {
                super::run(super::Backend::Postgres, |_, url| Box::pin(super::$replica(url))).await
            })*
        }
    };
}

conformance! {
    store: [
        reports_a_current_schema_and_takes_a_write,
        creates_an_agent_with_an_agt_id_no_grants_and_no_limits,
        finds_an_agent_by_id_or_by_name_in_any_case,
        refuses_a_second_agent_with_the_same_name_in_any_case,
        reports_unknown_agents_as_not_found,
        lists_agents_and_their_key_hashes_in_creation_order,
        updates_name_description_and_expiry,
        refuses_renaming_an_agent_onto_another_agents_name,
        revokes_an_agent_once_keeping_the_first_time,
        rotates_an_agent_key_replacing_hash_and_prefix,
        stores_grants_and_limits_as_given,
        refuses_a_change_made_from_an_old_reading,
        adds_lists_and_removes_rules,
        refuses_a_second_rule_with_the_same_name_for_one_agent,
        config_version_grows_with_every_admin_change,
        finds_admin_keys_by_hash,
        revoked_admin_keys_stop_working_and_stay_listed,
        keeps_one_installation_secret,
        starts_the_audit_chain_at_genesis,
        appends_audit_entries_as_one_continuous_chain,
        appending_no_audit_entries_changes_nothing,
        the_writers_append_continues_the_same_chain,
        concurrent_audit_appends_form_one_contiguous_chain,
        queries_the_audit_newest_first_by_every_filter,
        pages_the_audit_range_oldest_first,
        takes_a_request_in_every_window_or_in_none,
        learns_a_price_only_upwards_and_forgets_them_all,
        keeps_one_reconciliation_per_interval_and_the_latest,
        counts_the_calls_sent_to_apollo_per_action_since_a_time,
        releases_spending_that_proved_not_charged_never_below_zero,
        keeps_an_mcp_sessions_owner_and_state_until_deleted_or_pruned,
        counts_rate_windows_per_agent_scope_and_start,
        never_takes_more_than_the_rate_limit_under_concurrency,
        reserves_credits_in_every_period_or_in_none,
        settles_credits_releasing_the_reservation_and_adding_the_spending,
        finds_the_reservations_of_dead_processes_and_settles_each_once,
        never_reserves_more_than_the_budget_under_concurrency,
        reports_budget_usage_per_period,
        keeps_checkpoints_in_size_order_once_each,
        prunes_entries_up_to_the_cut_and_keeps_what_proves_the_rest,
        oauth_clients_keep_their_status_when_their_document_is_read_again,
        oauth_codes_are_redeemed_once,
        oauth_refresh_tokens_rotate_once_and_reuse_revokes,
        oauth_a_refresh_token_rotated_twice_at_once_rotates_once,
        oauth_connections_are_listed_and_revoked_by_agent_and_client,
        oauth_connect_links_work_once_until_they_expire,
        oauth_purges_spent_secrets_in_bounded_batches,
        a_relay_address_takes_one_delivery_before_it_expires,
    ],
    replicas: [
        two_replicas_append_to_one_chain,
        two_replicas_share_rate_windows_and_budgets,
        two_replicas_agree_on_the_installation_secret_and_config_version,
        reopening_a_store_keeps_its_data,
    ],
}

#[tokio::test]
async fn rejects_a_database_url_it_does_not_understand() {
    let err = super::open("mysql://root@localhost/bollard")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadUrl), "{err:?}");
}

#[test]
fn replaces_the_database_of_an_admin_url() {
    assert_eq!(
        with_database("postgres://u@h:5432/postgres", "t"),
        "postgres://u@h:5432/t"
    );
    assert_eq!(
        with_database("postgres://u@h:5432", "t"),
        "postgres://u@h:5432/t"
    );
    assert_eq!(
        with_database("postgres://u@h/postgres?sslmode=disable", "t"),
        "postgres://u@h/t?sslmode=disable"
    );
}

// --- fixtures -----------------------------------------------------------------------------

fn key(seed: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(seed.as_bytes()).into()
}

fn new_agent(name: &str) -> NewAgent {
    NewAgent {
        id: super::new_agent_id(),
        name: name.to_owned(),
        description: format!("{name} does things"),
        key_hash: key(&format!("key of {name}")),
        key_prefix: "bol_agent_3f9a".to_owned(),
        expires_at: None,
    }
}

/// A time with nanoseconds, to prove they survive the round trip.
const T0: OffsetDateTime = datetime!(2025-06-01 12:00:00.123456789 UTC);

fn entry(
    request_id: &str,
    agent_id: Option<&str>,
    action: Option<&str>,
    decision: &str,
    kind: &str,
) -> NewAuditEntry {
    NewAuditEntry {
        at: T0,
        request_id: request_id.to_owned(),
        kind: kind.to_owned(),
        agent_id: agent_id.map(str::to_owned),
        action: action.map(str::to_owned),
        decision: decision.to_owned(),
        content: format!(r#"{{"request_id":"{request_id}","decision":"{decision}"}}"#),
    }
}

fn simple_entry(request_id: &str) -> NewAuditEntry {
    entry(
        request_id,
        Some("agt_x"),
        Some("people.search"),
        "allowed",
        "decision",
    )
}

fn as_new(e: &AuditEntry) -> NewAuditEntry {
    NewAuditEntry {
        at: e.at,
        request_id: e.request_id.clone(),
        kind: e.kind.clone(),
        agent_id: e.agent_id.clone(),
        action: e.action.clone(),
        decision: e.decision.clone(),
        content: e.content.clone(),
    }
}

/// Reads the whole chain and checks every link; returns it.
async fn assert_chain(s: &dyn Store) -> Vec<AuditEntry> {
    let all = s.audit_range(0, 0).await.unwrap();
    let mut prev = GENESIS_HASH.to_owned();
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "seqs are contiguous from 1");
        assert_eq!(
            e.prev_hash, prev,
            "entry {} points back to its predecessor",
            e.seq
        );
        assert_eq!(
            e.hash,
            chain_hash(&prev, e.seq, &as_new(e)),
            "entry {} hashes as written",
            e.seq
        );
        prev = e.hash.clone();
    }
    assert_eq!(
        s.audit_head().await.unwrap(),
        (all.len() as i64, prev),
        "the head is the last entry"
    );
    all
}

fn minute(start: i64, limit: u64) -> WindowCheck {
    WindowCheck {
        window: "minute",
        start,
        limit,
    }
}

fn hour(start: i64, limit: u64) -> WindowCheck {
    WindowCheck {
        window: "hour",
        start,
        limit,
    }
}

fn day(start: i64, limit_milli: i64) -> BudgetCheck {
    BudgetCheck {
        period: "day",
        start,
        limit_milli,
    }
}

fn month(start: i64, limit_milli: i64) -> BudgetCheck {
    BudgetCheck {
        period: "month",
        start,
        limit_milli,
    }
}

fn not_found(r: Result<impl std::fmt::Debug, StoreError>) -> String {
    match r {
        Err(StoreError::NotFound(m)) => m,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn conflict(r: Result<impl std::fmt::Debug, StoreError>) -> String {
    match r {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// PostgreSQL only: SQLite has one writer per file, and a stalled one is a process holding the
/// file, bounded by its busy timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_stalled_lock_holder_does_not_stop_the_other_replicas() {
    run(Backend::Postgres, |_, url| {
        Box::pin(a_stalled_lock_holder_does_not_stop_the_other_replicas(url))
    })
    .await
}

mod approvals;

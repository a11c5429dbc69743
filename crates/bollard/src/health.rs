//! Readiness: whether this replica can do its job now, so a load balancer routes around a sick
//! one. Ready means the audit log takes a write (no call can pass without one), the schema is
//! the one this binary was built for, and Apollo did not just refuse the team's key. Every
//! check is re-run on each probe, so a replica recovers by itself once the fault is gone.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{SchemaState, Store};

/// A probe that takes longer than this is an answer in itself: a stalled database.
const PROBE_DEADLINE: Duration = Duration::from_secs(2);

/// How long a refused key keeps the replica unready. Calls stop coming once it is unready, so
/// the refusal must expire for the next call to test the key again; a key still refused is
/// caught by that call and the replica goes unready once more.
const KEY_REFUSAL_HOLD: Duration = Duration::from_secs(30);

/// Why the replica is not ready, in the sentence `/readyz` answers with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotReady {
    #[error("not ready: the audit log cannot be written, so every call would be refused")]
    AuditUnwritable,
    #[error("not ready: the database did not answer within {} s", PROBE_DEADLINE.as_secs())]
    DatabaseStalled,
    #[error("not ready: the database has no Bollard schema")]
    SchemaMissing,
    #[error(
        "not ready: the database was made by a newer Bollard (schema version {found}; this \
         Bollard knows up to {known}); upgrade this replica"
    )]
    SchemaNewer { found: i64, known: i64 },
    #[error(
        "not ready: the database schema is older than this Bollard (version {found}, needs \
         {known}); restart to migrate it"
    )]
    SchemaOlder { found: i64, known: i64 },
    #[error("not ready: Apollo refused the team's API key on a recent call")]
    KeyRefused,
}

/// What forwarded calls have taught about the team's Apollo key.
#[derive(Debug, Default)]
pub struct KeyHealth {
    refused_at: Mutex<Option<Instant>>,
}

impl KeyHealth {
    /// Notes whether Apollo accepted the team's key on a forwarded call.
    pub fn observe(&self, accepted: bool) {
        let mut at = self.refused_at.lock().unwrap_or_else(|p| p.into_inner());
        *at = (!accepted).then(Instant::now);
    }

    fn refused(&self) -> bool {
        let at = self.refused_at.lock().unwrap_or_else(|p| p.into_inner());
        at.is_some_and(|t| t.elapsed() < KEY_REFUSAL_HOLD)
    }
}

/// Runs every readiness check; the first that fails is the answer.
pub async fn check(store: &dyn Store, key: &KeyHealth) -> Result<(), NotReady> {
    let state = tokio::time::timeout(PROBE_DEADLINE, store.readiness())
        .await
        .map_err(|_| NotReady::DatabaseStalled)?;
    match state {
        Ok(SchemaState::Current) => {}
        Ok(SchemaState::Missing) => return Err(NotReady::SchemaMissing),
        Ok(SchemaState::Newer { found, known }) => {
            return Err(NotReady::SchemaNewer { found, known });
        }
        Ok(SchemaState::Older { found, known }) => {
            return Err(NotReady::SchemaOlder { found, known });
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the audit log cannot be written");
            return Err(NotReady::AuditUnwritable);
        }
    }
    if key.refused() {
        return Err(NotReady::KeyRefused);
    }
    Ok(())
}

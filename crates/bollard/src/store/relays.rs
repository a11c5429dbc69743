//! The webhook relay's addresses (#11): one row per forwarded call whose `webhook_url` Bollard
//! replaced with its own single-use address, so that Apollo's later delivery comes through
//! Bollard and any replica can take it. The address's token is kept only as its SHA-256
//! digest; a delivery's payload (phone numbers, emails) is never stored.
//!
//! One SQL body serves both databases (SQLite reads `$1` placeholders too); the backends
//! differ only in how a connection and a transaction are had.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;
use super::codec;
use super::postgres::PgStore;
use super::sqlite::SqliteStore;

/// A relay address as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// SHA-256 hex of the address's token.
    pub token_hash: String,
    /// The forwarded call whose delivery this address receives.
    pub request_id: String,
    pub agent_id: String,
    pub action: String,
    /// Where the agent asked for the delivery (under an allowed prefix when it was asked).
    pub target: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub state: RelayState,
    pub attempts: i64,
}

/// Where a relay address is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayState {
    /// Waiting for Apollo's delivery.
    Open,
    /// Apollo delivered; Bollard is forwarding it to the agent.
    Received,
    /// Forwarded to the agent's address, which accepted it.
    Delivered,
    /// Not forwarded: the agent may no longer receive it, or its address failed every try.
    Dropped,
}

impl RelayState {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayState::Open => "open",
            RelayState::Received => "received",
            RelayState::Delivered => "delivered",
            RelayState::Dropped => "dropped",
        }
    }

    fn parse(s: &str) -> RelayState {
        match s {
            "open" => RelayState::Open,
            "received" => RelayState::Received,
            "delivered" => RelayState::Delivered,
            // Fail closed: an unknown state is one that accepts nothing more.
            _ => RelayState::Dropped,
        }
    }
}

/// What claiming an address for a delivery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The address was open and is now this delivery's (it accepts no other).
    Claimed(Relay),
    /// The address exists but takes no delivery: used already, or expired.
    Spent(Relay),
    /// No such address.
    Unknown,
}

#[async_trait]
pub trait RelayStore: Send + Sync {
    async fn open_relay(&self, relay: &Relay) -> StoreResult<()>;
    /// Takes the address for one delivery, atomically across replicas: only one claim of an
    /// open, unexpired address succeeds.
    async fn claim_relay(&self, token_hash: &str, now: OffsetDateTime) -> StoreResult<Claim>;
    /// Records how the delivery ended.
    async fn finish_relay(
        &self,
        token_hash: &str,
        state: RelayState,
        attempts: i64,
    ) -> StoreResult<()>;
    /// Forgets addresses that expired before `before`, whatever their state; how many.
    async fn purge_relays(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

pub(super) type RelayRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    i64,
);

pub(super) const COLUMNS: &str =
    "token_hash, request_id, agent_id, action, target, created_at, expires_at, state, attempts";

pub(super) fn relay(row: RelayRow) -> StoreResult<Relay> {
    let (token_hash, request_id, agent_id, action, target, created, expires, state, attempts) = row;
    Ok(Relay {
        token_hash,
        request_id,
        agent_id,
        action,
        target,
        created_at: codec::from_nanos(created)?,
        expires_at: codec::from_nanos(expires)?,
        state: RelayState::parse(&state),
        attempts,
    })
}

/// The one body of `RelayStore`, over a backend's `relay_read` (a connection) and
/// `relay_write` (a transaction with `commit`).
macro_rules! relay_store_impl {
    ($store:ty) => {
        #[async_trait]
        impl RelayStore for $store {
            async fn open_relay(&self, r: &Relay) -> StoreResult<()> {
                let mut tx = self.relay_write().await?;
                sqlx::query(&format!(
                    "INSERT INTO webhook_relays ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .bind(&r.token_hash)
                .bind(&r.request_id)
                .bind(&r.agent_id)
                .bind(&r.action)
                .bind(&r.target)
                .bind(codec::nanos(r.created_at)?)
                .bind(codec::nanos(r.expires_at)?)
                .bind(r.state.as_str())
                .bind(r.attempts)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn claim_relay(&self, token_hash: &str, now: OffsetDateTime) -> StoreResult<Claim> {
                let mut tx = self.relay_write().await?;
                let claimed: Option<RelayRow> = sqlx::query_as(&format!(
                    "UPDATE webhook_relays SET state = 'received' \
                     WHERE token_hash = $1 AND state = 'open' AND expires_at > $2 \
                     RETURNING {COLUMNS}"
                ))
                .bind(token_hash)
                .bind(codec::nanos(now)?)
                .fetch_optional(&mut *tx)
                .await?;
                let found = match claimed {
                    Some(row) => Some((true, row)),
                    None => sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM webhook_relays WHERE token_hash = $1"
                    ))
                    .bind(token_hash)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| (false, row)),
                };
                tx.commit().await?;
                Ok(match found {
                    Some((true, row)) => Claim::Claimed(relay(row)?),
                    Some((false, row)) => Claim::Spent(relay(row)?),
                    None => Claim::Unknown,
                })
            }

            async fn finish_relay(
                &self,
                token_hash: &str,
                state: RelayState,
                attempts: i64,
            ) -> StoreResult<()> {
                let mut tx = self.relay_write().await?;
                sqlx::query(
                    "UPDATE webhook_relays SET state = $2, attempts = $3 WHERE token_hash = $1",
                )
                .bind(token_hash)
                .bind(state.as_str())
                .bind(attempts)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn purge_relays(&self, before: OffsetDateTime) -> StoreResult<u64> {
                let mut tx = self.relay_write().await?;
                let n = sqlx::query("DELETE FROM webhook_relays WHERE expires_at < $1")
                    .bind(codec::nanos(before)?)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }
        }
    };
}

impl SqliteStore {
    async fn relay_write(&self) -> StoreResult<super::sqlite::WriteTx<'_>> {
        self.begin().await
    }
}

impl PgStore {
    async fn relay_write(&self) -> StoreResult<sqlx::Transaction<'_, sqlx::Postgres>> {
        Ok(self.pool().begin().await?)
    }
}

relay_store_impl!(SqliteStore);
relay_store_impl!(PgStore);

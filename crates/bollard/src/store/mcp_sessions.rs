//! MCP sessions of the sessions era, shared by replicas (#12): which agent opened each, and the
//! client's `initialize` parameters, so any replica can serve a session another opened. Ids
//! are kept as SHA-256 hex digests, never in clear.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;
use super::codec;
use super::postgres::PgStore;
use super::sqlite::SqliteStore;

/// One stored session: its owner and its `initialize` state, each once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub agent_id: Option<String>,
    pub state: Option<String>,
}

#[async_trait]
pub trait McpSessions: Send + Sync {
    /// Records the agent that opened the session (creating the row if needed).
    async fn set_mcp_session_owner(
        &self,
        id_hash: &str,
        agent_id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Records the session's `initialize` state (creating the row if needed).
    async fn set_mcp_session_state(
        &self,
        id_hash: &str,
        state: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
    async fn mcp_session(&self, id_hash: &str) -> StoreResult<Option<StoredSession>>;
    async fn delete_mcp_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Forgets sessions opened before `before`; how many.
    async fn prune_mcp_sessions(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

type Row = (Option<String>, Option<String>);

fn upsert(column: &str, placeholders: [&str; 3]) -> String {
    let [a, b, c] = placeholders;
    format!(
        "INSERT INTO mcp_sessions (id_hash, {column}, created_at) VALUES ({a}, {b}, {c}) \
         ON CONFLICT (id_hash) DO UPDATE SET {column} = excluded.{column}"
    )
}

/// Which column of a session's row a write sets (the row is created if needed).
#[derive(Debug, Clone, Copy)]
enum Column {
    Owner,
    State,
}

impl Column {
    fn upsert(self, placeholders: [&str; 3]) -> String {
        upsert(
            match self {
                Column::Owner => "agent_id",
                Column::State => "state",
            },
            placeholders,
        )
    }
}

impl SqliteStore {
    async fn set_session(
        &self,
        column: Column,
        id_hash: &str,
        value: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(&column.upsert(["?", "?", "?"]))
            .bind(id_hash)
            .bind(value)
            .bind(codec::nanos(at)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}

impl PgStore {
    async fn set_session(
        &self,
        column: Column,
        id_hash: &str,
        value: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query(&column.upsert(["$1", "$2", "$3"]))
            .bind(id_hash)
            .bind(value)
            .bind(codec::nanos(at)?)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[async_trait]
impl McpSessions for SqliteStore {
    async fn set_mcp_session_owner(
        &self,
        id_hash: &str,
        agent_id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        self.set_session(Column::Owner, id_hash, agent_id, at).await
    }

    async fn set_mcp_session_state(
        &self,
        id_hash: &str,
        state: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        self.set_session(Column::State, id_hash, state, at).await
    }

    async fn mcp_session(&self, id_hash: &str) -> StoreResult<Option<StoredSession>> {
        let mut r = self.reader().await?;
        let row: Option<Row> =
            sqlx::query_as("SELECT agent_id, state FROM mcp_sessions WHERE id_hash = ?")
                .bind(id_hash)
                .fetch_optional(&mut *r)
                .await?;
        Ok(row.map(|(agent_id, state)| StoredSession { agent_id, state }))
    }

    async fn delete_mcp_session(&self, id_hash: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM mcp_sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    async fn prune_mcp_sessions(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM mcp_sessions WHERE created_at < ?")
            .bind(codec::nanos(before)?)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}

#[async_trait]
impl McpSessions for PgStore {
    async fn set_mcp_session_owner(
        &self,
        id_hash: &str,
        agent_id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        self.set_session(Column::Owner, id_hash, agent_id, at).await
    }

    async fn set_mcp_session_state(
        &self,
        id_hash: &str,
        state: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        self.set_session(Column::State, id_hash, state, at).await
    }

    async fn mcp_session(&self, id_hash: &str) -> StoreResult<Option<StoredSession>> {
        let row: Option<Row> =
            sqlx::query_as("SELECT agent_id, state FROM mcp_sessions WHERE id_hash = $1")
                .bind(id_hash)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(agent_id, state)| StoredSession { agent_id, state }))
    }

    async fn delete_mcp_session(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM mcp_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn prune_mcp_sessions(&self, before: OffsetDateTime) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM mcp_sessions WHERE created_at < $1")
                .bind(codec::nanos(before)?)
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }
}

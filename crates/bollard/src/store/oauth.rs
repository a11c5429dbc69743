//! The OAuth store: clients, authorization codes, connections, refresh tokens and connect
//! links (issue 13). A trait of its own beside `Store`, implemented by both backends from one
//! body (`oauth_store_impl!`): the SQL is the same text for both (`$N` parameters, which
//! SQLite reads by number too), so the two cannot drift.
//!
//! Secrets are never stored: codes, refresh tokens and link tokens are kept as SHA-256 hashes
//! (hex). Opening and ending a connection is an admin change like any other: it bumps
//! `config_version` in its transaction (and PostgreSQL announces it on `bollard_config`), so
//! every replica's directory reloads the live connections at once (`directory.rs`).

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;

use super::StoreResult;

/// A client as Bollard knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OAuthClient {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// "registered" (RFC 7591) or "metadata" (a Client ID Metadata Document).
    pub source: String,
    /// "new", "approved" or "blocked".
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// An authorization code's facts, as the consent step made it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCode {
    pub code_hash: String,
    pub client_id: String,
    pub agent_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: String,
    /// The connection's name ("Claude (team workspace)").
    pub name: String,
    pub approved_by: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq)]
pub enum Redeemed {
    /// Unused until now; it is used from now on.
    Fresh(NewCode),
    /// Used before: the connection its first use made, if any (to be revoked).
    Reused(Option<String>),
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Connection {
    pub id: String,
    pub agent_id: String,
    pub client_id: String,
    pub name: String,
    pub approved_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub refreshed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_reason: Option<String>,
}

/// A refresh token to store: its hash and when it stops working.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewRefresh<'a> {
    pub token_hash: &'a str,
    pub expires_at: OffsetDateTime,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotated {
    /// Used once, as it should be: the new token replaces it.
    Rotated(Connection),
    /// Already used: someone else holds a copy. The connection is revoked now (RFC 9700
    /// section 4.14.2); it is returned as it was before, so the caller can record it.
    Reused(Connection),
    /// The connection was revoked before.
    Revoked(Connection),
    Expired(Connection),
    Unknown,
}

/// How many rows one purge deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub codes: u64,
    pub refresh_tokens: u64,
    pub links: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.codes + self.refresh_tokens + self.links
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectLink {
    pub agent_id: String,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[async_trait]
pub trait OAuthStore: Send + Sync + std::fmt::Debug {
    /// Creates the client, or updates its name and redirect URIs (a metadata document read
    /// again), keeping its status.
    async fn put_client(&self, client: &OAuthClient) -> StoreResult<OAuthClient>;
    async fn client(&self, client_id: &str) -> StoreResult<Option<OAuthClient>>;
    async fn list_clients(&self) -> StoreResult<Vec<OAuthClient>>;
    /// How many clients registered (RFC 7591) since `since`: the registration cap.
    async fn registered_since(&self, since: OffsetDateTime) -> StoreResult<i64>;
    /// NotFound if there is no such client.
    async fn set_client_status(
        &self,
        client_id: &str,
        status: &str,
        now: OffsetDateTime,
    ) -> StoreResult<OAuthClient>;

    async fn create_code(&self, code: &NewCode) -> StoreResult<()>;
    /// Marks the code used, once: a second call finds it `Reused`.
    async fn redeem_code(&self, code_hash: &str, now: OffsetDateTime) -> StoreResult<Redeemed>;
    /// Makes the connection a redeemed code allows, with its first refresh token, and notes it
    /// on the code.
    async fn open_connection(
        &self,
        code_hash: &str,
        connection: &Connection,
        refresh: NewRefresh<'_>,
    ) -> StoreResult<()>;
    /// Rotates a refresh token, atomically: of two replicas presented the same token at once,
    /// one rotates it and the other finds it reused.
    async fn rotate_refresh(
        &self,
        old_hash: &str,
        new: NewRefresh<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<Rotated>;
    /// The connection a refresh token belongs to (any state), for revocation (RFC 7009).
    async fn connection_of_refresh(&self, token_hash: &str) -> StoreResult<Option<Connection>>;
    /// Whether a refresh token was spent already (false for one not known).
    async fn refresh_spent(&self, token_hash: &str) -> StoreResult<bool>;
    async fn connection(&self, id: &str) -> StoreResult<Option<Connection>>;
    /// Revokes once, keeping the first time and reason; `None` if there is no such connection.
    async fn revoke_connection(
        &self,
        id: &str,
        now: OffsetDateTime,
        reason: &str,
    ) -> StoreResult<Option<Connection>>;
    /// One agent's connections (`Some`), or every connection; oldest first.
    async fn list_connections(&self, agent_id: Option<&str>) -> StoreResult<Vec<Connection>>;
    /// Revokes every live connection of a client; returns those it revoked.
    async fn revoke_client_connections(
        &self,
        client_id: &str,
        now: OffsetDateTime,
        reason: &str,
    ) -> StoreResult<Vec<Connection>>;
    /// The connections not revoked: the ones whose access tokens the gate accepts.
    async fn live_connections(&self) -> StoreResult<Vec<Connection>>;
    /// Deletes, at most `batch` rows of each table, what can no longer be used: codes that
    /// expired before `evidence_since`, refresh tokens that expired, were rotated before
    /// `evidence_since` or belong to a connection revoked before it, and connect links used
    /// or expired. Used codes and rotated refresh tokens are kept until `evidence_since`
    /// passes them, so presenting one again is still seen as reuse (and ends its connection)
    /// rather than as an unknown token.
    async fn purge(
        &self,
        now: OffsetDateTime,
        evidence_since: OffsetDateTime,
        batch: u32,
    ) -> StoreResult<Purged>;

    async fn create_link(&self, link_hash: &str, link: &ConnectLink) -> StoreResult<()>;
    /// The link, if it is unused and not expired at `now`.
    async fn peek_link(
        &self,
        link_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<ConnectLink>>;
    /// Uses the link, once: only the first caller gets it.
    async fn take_link(
        &self,
        link_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<ConnectLink>>;
}

pub(super) const CLIENT_COLUMNS: &str =
    "client_id, name, redirect_uris, source, status, created_at, updated_at";
pub(super) const CONNECTION_COLUMNS: &str = "id, agent_id, client_id, name, approved_by, created_at, refreshed_at, revoked_at, revoked_reason";
pub(super) const CODE_COLUMNS: &str = "code_hash, client_id, agent_id, redirect_uri, code_challenge, resource, name, approved_by, created_at, expires_at";

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ClientRow {
    client_id: String,
    name: String,
    redirect_uris: String,
    source: String,
    status: String,
    created_at: i64,
    updated_at: i64,
}

impl ClientRow {
    pub(super) fn into_client(self) -> StoreResult<OAuthClient> {
        Ok(OAuthClient {
            client_id: self.client_id,
            name: self.name,
            redirect_uris: serde_json::from_str(&self.redirect_uris)
                .map_err(|e| super::StoreError::Corrupt(format!("redirect URIs: {e}")))?,
            source: self.source,
            status: self.status,
            created_at: super::codec::from_nanos(self.created_at)?,
            updated_at: super::codec::from_nanos(self.updated_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ConnectionRow {
    id: String,
    agent_id: String,
    client_id: String,
    name: String,
    approved_by: String,
    created_at: i64,
    refreshed_at: Option<i64>,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
}

impl ConnectionRow {
    pub(super) fn into_connection(self) -> StoreResult<Connection> {
        let opt = |n: Option<i64>| n.map(super::codec::from_nanos).transpose();
        Ok(Connection {
            id: self.id,
            agent_id: self.agent_id,
            client_id: self.client_id,
            name: self.name,
            approved_by: self.approved_by,
            created_at: super::codec::from_nanos(self.created_at)?,
            refreshed_at: opt(self.refreshed_at)?,
            revoked_at: opt(self.revoked_at)?,
            revoked_reason: self.revoked_reason,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct CodeRow {
    code_hash: String,
    client_id: String,
    agent_id: String,
    redirect_uri: String,
    code_challenge: String,
    resource: String,
    name: String,
    approved_by: String,
    created_at: i64,
    expires_at: i64,
}

impl CodeRow {
    pub(super) fn into_code(self) -> StoreResult<NewCode> {
        Ok(NewCode {
            code_hash: self.code_hash,
            client_id: self.client_id,
            agent_id: self.agent_id,
            redirect_uri: self.redirect_uri,
            code_challenge: self.code_challenge,
            resource: self.resource,
            name: self.name,
            approved_by: self.approved_by,
            created_at: super::codec::from_nanos(self.created_at)?,
            expires_at: super::codec::from_nanos(self.expires_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct LinkRow {
    agent_id: String,
    created_by: String,
    created_at: i64,
    expires_at: i64,
}

impl LinkRow {
    pub(super) fn into_link(self) -> StoreResult<ConnectLink> {
        Ok(ConnectLink {
            agent_id: self.agent_id,
            created_by: self.created_by,
            created_at: super::codec::from_nanos(self.created_at)?,
            expires_at: super::codec::from_nanos(self.expires_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct RefreshRow {
    pub(super) expires_at: i64,
    pub(super) used_at: Option<i64>,
    pub(super) connection_id: String,
}

/// The one body of `OAuthStore` for both backends. The backend's module defines `oauth_read`
/// (a connection to read with) and `oauth_write` (a transaction, committed with `commit`).
macro_rules! oauth_store_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::oauth::OAuthStore for $store {
            async fn put_client(
                &self,
                c: &$crate::store::oauth::OAuthClient,
            ) -> $crate::store::StoreResult<$crate::store::oauth::OAuthClient> {
                use $crate::store::codec::nanos;
                let uris = serde_json::to_string(&c.redirect_uris).unwrap_or_else(|_| "[]".into());
                let mut tx = self.oauth_write().await?;
                sqlx::query(
                    "INSERT INTO oauth_clients (client_id, name, redirect_uris, source, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, \
                     redirect_uris = excluded.redirect_uris, updated_at = excluded.updated_at",
                )
                .bind(&c.client_id)
                .bind(&c.name)
                .bind(&uris)
                .bind(&c.source)
                .bind(&c.status)
                .bind(nanos(c.created_at)?)
                .bind(nanos(c.updated_at)?)
                .execute(&mut *tx)
                .await?;
                let row: $crate::store::oauth::ClientRow = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_clients WHERE client_id = $1",
                    $crate::store::oauth::CLIENT_COLUMNS
                ))
                .bind(&c.client_id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                row.into_client()
            }

            async fn client(
                &self,
                client_id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::oauth::OAuthClient>> {
                let mut r = self.oauth_read().await?;
                let row: Option<$crate::store::oauth::ClientRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_clients WHERE client_id = $1",
                    $crate::store::oauth::CLIENT_COLUMNS
                ))
                .bind(client_id)
                .fetch_optional(&mut *r)
                .await?;
                row.map(|r| r.into_client()).transpose()
            }

            async fn list_clients(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::oauth::OAuthClient>> {
                let mut r = self.oauth_read().await?;
                let rows: Vec<$crate::store::oauth::ClientRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_clients ORDER BY created_at, client_id",
                    $crate::store::oauth::CLIENT_COLUMNS
                ))
                .fetch_all(&mut *r)
                .await?;
                rows.into_iter().map(|r| r.into_client()).collect()
            }

            async fn registered_since(
                &self,
                since: time::OffsetDateTime,
            ) -> $crate::store::StoreResult<i64> {
                let mut r = self.oauth_read().await?;
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM oauth_clients WHERE source = 'registered' AND created_at > $1",
                )
                .bind($crate::store::codec::nanos(since)?)
                .fetch_one(&mut *r)
                .await?;
                Ok(n)
            }

            async fn set_client_status(
                &self,
                client_id: &str,
                status: &str,
                now: time::OffsetDateTime,
            ) -> $crate::store::StoreResult<$crate::store::oauth::OAuthClient> {
                let mut tx = self.oauth_write().await?;
                let row: Option<$crate::store::oauth::ClientRow> = sqlx::query_as(&format!(
                    "UPDATE oauth_clients SET status = $1, updated_at = $2 WHERE client_id = $3 RETURNING {}",
                    $crate::store::oauth::CLIENT_COLUMNS
                ))
                .bind(status)
                .bind($crate::store::codec::nanos(now)?)
                .bind(client_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err($crate::store::StoreError::NotFound(format!(
                        "There is no client '{client_id}'."
                    )));
                };
                tx.commit().await?;
                row.into_client()
            }

            async fn create_code(
                &self,
                c: &$crate::store::oauth::NewCode,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::codec::nanos;
                let mut tx = self.oauth_write().await?;
                sqlx::query(
                    "INSERT INTO oauth_codes (code_hash, client_id, agent_id, redirect_uri, code_challenge, resource, name, approved_by, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&c.code_hash)
                .bind(&c.client_id)
                .bind(&c.agent_id)
                .bind(&c.redirect_uri)
                .bind(&c.code_challenge)
                .bind(&c.resource)
                .bind(&c.name)
                .bind(&c.approved_by)
                .bind(nanos(c.created_at)?)
                .bind(nanos(c.expires_at)?)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn redeem_code(
                &self,
                code_hash: &str,
                now: time::OffsetDateTime,
            ) -> $crate::store::StoreResult<$crate::store::oauth::Redeemed> {
                use $crate::store::oauth::Redeemed;
                let mut tx = self.oauth_write().await?;
                let fresh: Option<$crate::store::oauth::CodeRow> = sqlx::query_as(&format!(
                    "UPDATE oauth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL RETURNING {}",
                    $crate::store::oauth::CODE_COLUMNS
                ))
                .bind($crate::store::codec::nanos(now)?)
                .bind(code_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let out = match fresh {
                    Some(row) => Redeemed::Fresh(row.into_code()?),
                    None => {
                        let used: Option<(Option<String>,)> = sqlx::query_as(
                            "SELECT connection_id FROM oauth_codes WHERE code_hash = $1",
                        )
                        .bind(code_hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                        match used {
                            Some((c,)) => Redeemed::Reused(c),
                            None => Redeemed::Unknown,
                        }
                    }
                };
                tx.commit().await?;
                Ok(out)
            }

            async fn open_connection(
                &self,
                code_hash: &str,
                c: &$crate::store::oauth::Connection,
                refresh: $crate::store::oauth::NewRefresh<'_>,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::codec::nanos;
                let mut tx = self.oauth_write().await?;
                sqlx::query(
                    "INSERT INTO oauth_connections (id, agent_id, client_id, name, approved_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&c.id)
                .bind(&c.agent_id)
                .bind(&c.client_id)
                .bind(&c.name)
                .bind(&c.approved_by)
                .bind(nanos(c.created_at)?)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO oauth_refresh_tokens (token_hash, connection_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(refresh.token_hash)
                .bind(&c.id)
                .bind(nanos(c.created_at)?)
                .bind(nanos(refresh.expires_at)?)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE oauth_codes SET connection_id = $1 WHERE code_hash = $2")
                    .bind(&c.id)
                    .bind(code_hash)
                    .execute(&mut *tx)
                    .await?;
                Self::oauth_changed(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn rotate_refresh(
                &self,
                old_hash: &str,
                new: $crate::store::oauth::NewRefresh<'_>,
                now: time::OffsetDateTime,
            ) -> $crate::store::StoreResult<$crate::store::oauth::Rotated> {
                use $crate::store::codec::nanos;
                use $crate::store::oauth::Rotated;
                let now_n = nanos(now)?;
                let mut tx = self.oauth_write().await?;
                let token: Option<$crate::store::oauth::RefreshRow> = sqlx::query_as(
                    "SELECT expires_at, used_at, connection_id FROM oauth_refresh_tokens WHERE token_hash = $1",
                )
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(token) = token else {
                    tx.commit().await?;
                    return Ok(Rotated::Unknown);
                };
                let row: Option<$crate::store::oauth::ConnectionRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_connections WHERE id = $1",
                    $crate::store::oauth::CONNECTION_COLUMNS
                ))
                .bind(&token.connection_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    tx.commit().await?;
                    return Ok(Rotated::Unknown);
                };
                let conn = row.into_connection()?;
                // Claimed in one statement: of two rotations of one token at once, only one
                // finds it unused. The read above takes no lock on PostgreSQL (READ COMMITTED),
                // so both saw it unused and both rotated: a stolen copy kept a live chain and
                // the reuse went unseen (found in review; OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
                let fresh = token.used_at.is_none() && token.expires_at > now_n;
                let claimed = fresh
                    && sqlx::query(
                        "UPDATE oauth_refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
                    )
                    .bind(now_n)
                    .bind(old_hash)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                let out = if conn.revoked_at.is_some() {
                    Rotated::Revoked(conn)
                } else if token.used_at.is_some() || (fresh && !claimed) {
                    sqlx::query(
                        "UPDATE oauth_connections SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
                    )
                    .bind(now_n)
                    .bind("refresh token reused")
                    .bind(&conn.id)
                    .execute(&mut *tx)
                    .await?;
                    Self::oauth_changed(&mut tx).await?;
                    Rotated::Reused(conn)
                } else if !fresh {
                    Rotated::Expired(conn)
                } else {
                    sqlx::query(
                        "INSERT INTO oauth_refresh_tokens (token_hash, connection_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(new.token_hash)
                    .bind(&conn.id)
                    .bind(now_n)
                    .bind(nanos(new.expires_at)?)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE oauth_connections SET refreshed_at = $1 WHERE id = $2")
                        .bind(now_n)
                        .bind(&conn.id)
                        .execute(&mut *tx)
                        .await?;
                    Rotated::Rotated(conn)
                };
                tx.commit().await?;
                Ok(out)
            }

            async fn connection_of_refresh(
                &self,
                token_hash: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::oauth::Connection>> {
                let mut r = self.oauth_read().await?;
                let row: Option<$crate::store::oauth::ConnectionRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_connections WHERE id = \
                     (SELECT connection_id FROM oauth_refresh_tokens WHERE token_hash = $1)",
                    $crate::store::oauth::CONNECTION_COLUMNS
                ))
                .bind(token_hash)
                .fetch_optional(&mut *r)
                .await?;
                row.map(|r| r.into_connection()).transpose()
            }

            async fn refresh_spent(&self, token_hash: &str) -> $crate::store::StoreResult<bool> {
                let mut r = self.oauth_read().await?;
                let spent: Option<i64> = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM oauth_refresh_tokens WHERE token_hash = $1 AND used_at IS NOT NULL",
                )
                .bind(token_hash)
                .fetch_optional(&mut *r)
                .await?;
                Ok(spent.unwrap_or(0) > 0)
            }

            async fn connection(
                &self,
                id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::oauth::Connection>> {
                let mut r = self.oauth_read().await?;
                let row: Option<$crate::store::oauth::ConnectionRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_connections WHERE id = $1",
                    $crate::store::oauth::CONNECTION_COLUMNS
                ))
                .bind(id)
                .fetch_optional(&mut *r)
                .await?;
                row.map(|r| r.into_connection()).transpose()
            }

            async fn revoke_connection(
                &self,
                id: &str,
                now: time::OffsetDateTime,
                reason: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::oauth::Connection>> {
                let mut tx = self.oauth_write().await?;
                sqlx::query(
                    "UPDATE oauth_connections SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
                )
                .bind($crate::store::codec::nanos(now)?)
                .bind(reason)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                Self::oauth_changed(&mut tx).await?;
                let row: Option<$crate::store::oauth::ConnectionRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_connections WHERE id = $1",
                    $crate::store::oauth::CONNECTION_COLUMNS
                ))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(|r| r.into_connection()).transpose()
            }

            async fn list_connections(
                &self,
                agent_id: Option<&str>,
            ) -> $crate::store::StoreResult<Vec<$crate::store::oauth::Connection>> {
                let mut r = self.oauth_read().await?;
                let cols = $crate::store::oauth::CONNECTION_COLUMNS;
                let rows: Vec<$crate::store::oauth::ConnectionRow> = match agent_id {
                    Some(a) => sqlx::query_as(&format!(
                        "SELECT {cols} FROM oauth_connections WHERE agent_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(a)
                    .fetch_all(&mut *r)
                    .await?,
                    None => sqlx::query_as(&format!(
                        "SELECT {cols} FROM oauth_connections ORDER BY created_at, id"
                    ))
                    .fetch_all(&mut *r)
                    .await?,
                };
                rows.into_iter().map(|r| r.into_connection()).collect()
            }

            async fn revoke_client_connections(
                &self,
                client_id: &str,
                now: time::OffsetDateTime,
                reason: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::store::oauth::Connection>> {
                let mut tx = self.oauth_write().await?;
                let rows: Vec<$crate::store::oauth::ConnectionRow> = sqlx::query_as(&format!(
                    "UPDATE oauth_connections SET revoked_at = $1, revoked_reason = $2 \
                     WHERE client_id = $3 AND revoked_at IS NULL RETURNING {}",
                    $crate::store::oauth::CONNECTION_COLUMNS
                ))
                .bind($crate::store::codec::nanos(now)?)
                .bind(reason)
                .bind(client_id)
                .fetch_all(&mut *tx)
                .await?;
                Self::oauth_changed(&mut tx).await?;
                tx.commit().await?;
                rows.into_iter().map(|r| r.into_connection()).collect()
            }

            async fn live_connections(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::oauth::Connection>> {
                let mut r = self.oauth_read().await?;
                let rows: Vec<$crate::store::oauth::ConnectionRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_connections WHERE revoked_at IS NULL ORDER BY created_at, id",
                    $crate::store::oauth::CONNECTION_COLUMNS
                ))
                .fetch_all(&mut *r)
                .await?;
                rows.into_iter().map(|r| r.into_connection()).collect()
            }

            async fn purge(
                &self,
                now: time::OffsetDateTime,
                evidence_since: time::OffsetDateTime,
                batch: u32,
            ) -> $crate::store::StoreResult<$crate::store::oauth::Purged> {
                use $crate::store::codec::nanos;
                let (now, since, batch) = (nanos(now)?, nanos(evidence_since)?, i64::from(batch));
                // One short transaction a table, each bounded by `batch`, so a purge never
                // holds the writer long (SQLite has one).
                let mut tx = self.oauth_write().await?;
                let codes = sqlx::query(
                    "DELETE FROM oauth_codes WHERE code_hash IN \
                     (SELECT code_hash FROM oauth_codes WHERE expires_at < $1 LIMIT $2)",
                )
                .bind(since)
                .bind(batch)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                let mut tx = self.oauth_write().await?;
                let refresh_tokens = sqlx::query(
                    "DELETE FROM oauth_refresh_tokens WHERE token_hash IN \
                     (SELECT token_hash FROM oauth_refresh_tokens WHERE expires_at <= $1 OR used_at < $2 \
                     OR connection_id IN (SELECT id FROM oauth_connections WHERE revoked_at < $2) LIMIT $3)",
                )
                .bind(now)
                .bind(since)
                .bind(batch)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                let mut tx = self.oauth_write().await?;
                let links = sqlx::query(
                    "DELETE FROM oauth_links WHERE link_hash IN \
                     (SELECT link_hash FROM oauth_links WHERE used_at IS NOT NULL OR expires_at <= $1 LIMIT $2)",
                )
                .bind(now)
                .bind(batch)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok($crate::store::oauth::Purged {
                    codes,
                    refresh_tokens,
                    links,
                })
            }

            async fn create_link(
                &self,
                link_hash: &str,
                l: &$crate::store::oauth::ConnectLink,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::codec::nanos;
                let mut tx = self.oauth_write().await?;
                sqlx::query(
                    "INSERT INTO oauth_links (link_hash, agent_id, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(link_hash)
                .bind(&l.agent_id)
                .bind(&l.created_by)
                .bind(nanos(l.created_at)?)
                .bind(nanos(l.expires_at)?)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn peek_link(
                &self,
                link_hash: &str,
                now: time::OffsetDateTime,
            ) -> $crate::store::StoreResult<Option<$crate::store::oauth::ConnectLink>> {
                let mut r = self.oauth_read().await?;
                let row: Option<$crate::store::oauth::LinkRow> = sqlx::query_as(
                    "SELECT agent_id, created_by, created_at, expires_at FROM oauth_links \
                     WHERE link_hash = $1 AND used_at IS NULL AND expires_at > $2",
                )
                .bind(link_hash)
                .bind($crate::store::codec::nanos(now)?)
                .fetch_optional(&mut *r)
                .await?;
                row.map(|r| r.into_link()).transpose()
            }

            async fn take_link(
                &self,
                link_hash: &str,
                now: time::OffsetDateTime,
            ) -> $crate::store::StoreResult<Option<$crate::store::oauth::ConnectLink>> {
                let now = $crate::store::codec::nanos(now)?;
                let mut tx = self.oauth_write().await?;
                let row: Option<$crate::store::oauth::LinkRow> = sqlx::query_as(
                    "UPDATE oauth_links SET used_at = $1 \
                     WHERE link_hash = $2 AND used_at IS NULL AND expires_at > $1 \
                     RETURNING agent_id, created_by, created_at, expires_at",
                )
                .bind(now)
                .bind(link_hash)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(|r| r.into_link()).transpose()
            }
        }
    };
}
pub(super) use oauth_store_impl;

//! `OAuthStore` for PostgreSQL: the shared body (`store::oauth`) over this backend's pool.

use sqlx::Postgres;
use sqlx::pool::PoolConnection;

use super::PgStore;
use crate::store::StoreResult;

impl PgStore {
    async fn oauth_read(&self) -> StoreResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    async fn oauth_write(&self) -> StoreResult<sqlx::Transaction<'_, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// A connection opened or ended: an admin change, announced to every replica.
    async fn oauth_changed(tx: &mut sqlx::Transaction<'_, Postgres>) -> StoreResult<()> {
        super::bump_config_version(tx).await
    }
}

crate::store::oauth::oauth_store_impl!(PgStore);

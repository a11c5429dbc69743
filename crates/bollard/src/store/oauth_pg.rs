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
}

crate::store::oauth::oauth_store_impl!(PgStore);

//! `OAuthStore` for SQLite: the shared body (`store::oauth`) over this backend's writer and
//! readers.

use super::{Reader, SqliteStore, WriteTx};
use crate::store::StoreResult;

impl SqliteStore {
    async fn oauth_read(&self) -> StoreResult<Reader<'_>> {
        self.reader().await
    }

    async fn oauth_write(&self) -> StoreResult<WriteTx<'_>> {
        self.begin().await
    }
}

crate::store::oauth::oauth_store_impl!(SqliteStore);

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

    /// A connection opened or ended: an admin change, which the directory's poll finds.
    async fn oauth_changed(tx: &mut WriteTx<'_>) -> StoreResult<()> {
        super::bump_config_version(tx).await
    }
}

crate::store::oauth::oauth_store_impl!(SqliteStore);

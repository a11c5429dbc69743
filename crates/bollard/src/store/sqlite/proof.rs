//! `ProofStore` on SQLite.

use async_trait::async_trait;

use super::{AUDIT_SELECT, SqliteStore};
use crate::store::codec::{self, AuditRow};
use crate::store::content;
use crate::store::proof::{
    ProofStore, PruneProof, PruneState, StoredCheckpoint, hashes_to_text, text_to_hashes,
};
use crate::store::{AuditEntry, StoreResult};

#[async_trait]
impl ProofStore for SqliteStore {
    async fn audit_hashes(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<(i64, String)>> {
        let mut r = self.reader().await?;
        let rows: Vec<(i64, content::StoredHash)> =
            sqlx::query_as("SELECT seq, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind(after_seq)
                .bind(codec::sql_limit(limit))
                .fetch_all(&mut *r)
                .await?;
        Ok(rows.into_iter().map(|(seq, h)| (seq, h.0)).collect())
    }

    async fn save_checkpoint(&self, cp: &StoredCheckpoint, previous: i64) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "INSERT INTO audit_checkpoints (size, note, created_at) SELECT ?, ?, ? \
             WHERE (SELECT COALESCE(MAX(size), 0) FROM audit_checkpoints) = ? \
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(cp.size)
        .bind(&cp.note)
        .bind(codec::nanos(cp.created_at)?)
        .bind(previous)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn checkpoints(&self) -> StoreResult<Vec<StoredCheckpoint>> {
        self.checkpoints_after(-1, 0).await
    }

    async fn checkpoints_after(
        &self,
        after_size: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredCheckpoint>> {
        let mut r = self.reader().await?;
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT size, note, created_at FROM audit_checkpoints WHERE size > ? \
             ORDER BY size LIMIT ?",
        )
        .bind(after_size)
        .bind(codec::sql_limit(limit))
        .fetch_all(&mut *r)
        .await?;
        rows.into_iter()
            .map(|(size, note, at)| {
                Ok(StoredCheckpoint {
                    size,
                    note,
                    created_at: codec::from_nanos(at)?,
                })
            })
            .collect()
    }

    async fn latest_checkpoint(&self) -> StoreResult<Option<StoredCheckpoint>> {
        let mut r = self.reader().await?;
        let row: Option<(i64, String, i64)> = sqlx::query_as(
            "SELECT size, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(&mut *r)
        .await?;
        row.map(|(size, note, at)| {
            Ok(StoredCheckpoint {
                size,
                note,
                created_at: codec::from_nanos(at)?,
            })
        })
        .transpose()
    }

    async fn prune_state(&self) -> StoreResult<Option<PruneState>> {
        let mut r = self.reader().await?;
        let row: Option<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT cut, last_hash, frontier, pruned_at FROM audit_prune WHERE id = 1",
        )
        .fetch_optional(&mut *r)
        .await?;
        row.map(|(cut, last_hash, frontier, at)| {
            Ok(PruneState {
                cut,
                last_hash,
                frontier: text_to_hashes(&frontier),
                pruned_at: codec::from_nanos(at)?,
            })
        })
        .transpose()
    }

    async fn prune_proofs(&self) -> StoreResult<Vec<PruneProof>> {
        let mut r = self.reader().await?;
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT from_size, to_size, proof FROM audit_prune_proofs ORDER BY from_size",
        )
        .fetch_all(&mut *r)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(from_size, to_size, proof)| PruneProof {
                from_size,
                to_size,
                proof: text_to_hashes(&proof),
            })
            .collect())
    }

    async fn prune(&self, state: &PruneState, proofs: &[PruneProof]) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let removed = sqlx::query("DELETE FROM audit WHERE seq <= ?")
            .bind(state.cut)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "INSERT INTO audit_prune (id, cut, last_hash, frontier, pruned_at) VALUES (1, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET cut = excluded.cut, last_hash = excluded.last_hash, \
             frontier = excluded.frontier, pruned_at = excluded.pruned_at",
        )
        .bind(state.cut)
        .bind(&state.last_hash)
        .bind(hashes_to_text(&state.frontier))
        .bind(codec::nanos(state.pruned_at)?)
        .execute(&mut *tx)
        .await?;
        for p in proofs {
            sqlx::query(
                "INSERT INTO audit_prune_proofs (from_size, to_size, proof) VALUES (?, ?, ?) \
                 ON CONFLICT (from_size) DO NOTHING",
            )
            .bind(p.from_size)
            .bind(p.to_size)
            .bind(hashes_to_text(&p.proof))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn audit_containing(&self, needle: &str, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        // The content is compressed (`store::content`): SQL cannot look inside it.
        let want = usize::try_from(codec::sql_limit(limit)).unwrap_or(usize::MAX);
        let mut found = Vec::new();
        let mut before = i64::MAX;
        let mut r = self.reader().await?;
        loop {
            let page: Vec<AuditRow> = sqlx::query_as(&format!(
                "SELECT {AUDIT_SELECT} FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?"
            ))
            .bind(before)
            .bind(content::SEARCH_PAGE)
            .fetch_all(&mut *r)
            .await?;
            match content::keep_containing(page, needle, want, &mut found)? {
                Some(seq) => before = seq,
                None => return Ok(found),
            }
        }
    }
}

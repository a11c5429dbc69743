//! [`ApprovalStore`] for PostgreSQL: the shared SQL of `store::approvals` on the pool.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::PgStore;
use crate::store::StoreResult;
use crate::store::approvals::{
    Approval, ApprovalRow, ApprovalState, ApprovalStore, ExpiryRecords, InsertValues, NOTIFY_SQL,
    NewApproval, PENDING_COUNT_SQL, RELEASE_SQL, decide_sql, decided_state, expire_sql, get_sql,
    insert_sql, latest_sql, list_sql, other_call_sql, pending_sql, rows, use_sql,
};
use crate::store::codec::nanos;

#[async_trait]
impl ApprovalStore for PgStore {
    async fn request_approval(&self, new: &NewApproval) -> StoreResult<(Approval, bool)> {
        let v = InsertValues::of(new)?;
        let mut tx = self.pool.begin().await?;
        let inserted: Option<ApprovalRow> = sqlx::query_as(&insert_sql())
            .bind(&new.id)
            .bind(&new.agent_id)
            .bind(&new.agent_name)
            .bind(&new.action)
            .bind(&new.call_hash)
            .bind(&new.request_id)
            .bind(&new.channel)
            .bind(&new.sentence)
            .bind(&new.why)
            .bind(&v.rule_ids)
            .bind(&v.arguments)
            .bind(v.max_credits)
            .bind(v.created_at)
            .bind(v.expires_at)
            .bind(new.notify_state)
            .bind(&new.sealed_arguments)
            .fetch_optional(&mut *tx)
            .await?;
        let (row, created) = match inserted {
            Some(row) => (row, true),
            None => {
                let row: ApprovalRow = sqlx::query_as(&pending_sql())
                    .bind(&new.agent_id)
                    .bind(&new.call_hash)
                    .fetch_one(&mut *tx)
                    .await?;
                (row, false)
            }
        };
        tx.commit().await?;
        Ok((row.into_approval()?, created))
    }

    async fn use_approval(
        &self,
        agent_id: &str,
        call_hash: &str,
        request_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Approval>> {
        let row: Option<ApprovalRow> = sqlx::query_as(&use_sql())
            .bind(nanos(now)?)
            .bind(request_id)
            .bind(agent_id)
            .bind(call_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ApprovalRow::into_approval).transpose()
    }

    async fn release_approval(&self, id: &str, request_id: &str) -> StoreResult<bool> {
        let done = sqlx::query(RELEASE_SQL)
            .bind(id)
            .bind(request_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn latest_approval(
        &self,
        agent_id: &str,
        call_hash: &str,
    ) -> StoreResult<Option<Approval>> {
        let row: Option<ApprovalRow> = sqlx::query_as(&latest_sql())
            .bind(agent_id)
            .bind(call_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ApprovalRow::into_approval).transpose()
    }

    async fn approved_other_call(
        &self,
        agent_id: &str,
        action: &str,
        except_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Approval>> {
        let row: Option<ApprovalRow> = sqlx::query_as(&other_call_sql())
            .bind(agent_id)
            .bind(action)
            .bind(except_hash)
            .bind(nanos(now)?)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ApprovalRow::into_approval).transpose()
    }

    async fn get_approval(&self, id: &str) -> StoreResult<Option<Approval>> {
        let row: Option<ApprovalRow> = sqlx::query_as(&get_sql())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ApprovalRow::into_approval).transpose()
    }

    async fn list_approvals(
        &self,
        state: Option<ApprovalState>,
        limit: u32,
    ) -> StoreResult<Vec<Approval>> {
        let sql = list_sql(state.is_some());
        let mut q = sqlx::query_as::<_, ApprovalRow>(&sql).bind(i64::from(limit));
        if let Some(s) = state {
            q = q.bind(s.as_str());
        }
        rows(q.fetch_all(&self.pool).await?)
    }

    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        note: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Approval>> {
        let row: Option<ApprovalRow> = sqlx::query_as(&decide_sql())
            .bind(id)
            .bind(decided_state(approve))
            .bind(nanos(now)?)
            .bind(by)
            .bind(note)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ApprovalRow::into_approval).transpose()
    }

    async fn expire_approvals(
        &self,
        now: OffsetDateTime,
        record: ExpiryRecords<'_>,
    ) -> StoreResult<Vec<Approval>> {
        let mut tx = self.pool.begin().await?;
        let found = rows(
            sqlx::query_as::<_, ApprovalRow>(&expire_sql())
                .bind(nanos(now)?)
                .fetch_all(&mut *tx)
                .await?,
        )?;
        // The rows stay locked until commit, so a replica expiring at the same moment waits,
        // finds them expired already, and records nothing: one record for each expiry.
        if !found.is_empty() {
            super::append_in(&mut tx, &record(&found)).await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    async fn note_notification(
        &self,
        id: &str,
        delivered: bool,
        attempts: u32,
        error: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(NOTIFY_SQL)
            .bind(id)
            .bind(if delivered { "sent" } else { "failed" })
            .bind(i64::from(attempts))
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn pending_approvals(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(PENDING_COUNT_SQL)
            .bind(nanos(now)?)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

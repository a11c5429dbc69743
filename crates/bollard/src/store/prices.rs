//! What Apollo really charges, as learned from its bills (#11 item 5).
//!
//! The price table is configured, and a plan's prices can differ from it. When Apollo's
//! answer says it billed more than the table's price for the same result, the ratio is kept
//! per action (the highest seen), and later reservations for that action are scaled by it.
//! Kept in the store so every replica reserves at the same, learned price.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;
use super::codec;
use super::postgres::PgStore;
use super::sqlite::SqliteStore;

/// One action's learned price: Apollo has billed up to `factor_milli` / 1000 times the
/// price table's price for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnedPrice {
    pub action: String,
    pub factor_milli: i64,
    pub learned_at: OffsetDateTime,
}

#[async_trait]
pub trait PriceLedger: Send + Sync {
    /// The learned price of one action, if Apollo ever billed more than the table for it.
    async fn learned_price(&self, action: &str) -> StoreResult<Option<LearnedPrice>>;
    /// Every learned price, by action id.
    async fn learned_prices(&self) -> StoreResult<Vec<LearnedPrice>>;
    /// Raises the action's factor to `factor_milli` if that is higher than what is known
    /// (it never lowers it); true when it changed.
    async fn learn_price(
        &self,
        action: &str,
        factor_milli: i64,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Forgets every learned price (after the price table was corrected); how many.
    async fn forget_prices(&self) -> StoreResult<u64>;
    /// Keeps one comparison with Apollo's figures for its interval (`bucket`): true when this
    /// call stored it, false when another replica already had that interval.
    async fn record_reconciliation(&self, r: &Reconciliation) -> StoreResult<bool>;
    /// The latest comparison, if any.
    async fn last_reconciliation(&self) -> StoreResult<Option<Reconciliation>>;
    /// Calls sent to Apollo since `since`, by action id (allowed decisions: nothing is sent
    /// without one), to set beside Apollo's `api_usage_stats`.
    async fn sent_since(&self, since: OffsetDateTime) -> StoreResult<Vec<(String, i64)>>;
}

/// Bollard's credit ledger beside Apollo's `credit_usage_stats`, at one moment (#19 item 6).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reconciliation {
    /// The interval it stands for (`at` / interval): one per interval across replicas.
    pub bucket: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Apollo's credit cycle, as it says (`YYYY-MM-DD`).
    pub cycle_start: String,
    pub cycle_end: String,
    /// Credits Apollo says were consumed in the cycle, in thousandths.
    pub apollo_milli: i64,
    /// Credits Bollard's ledger counts this calendar month, in thousandths.
    pub bollard_milli: i64,
}

type ReconRow = (i64, i64, String, String, i64, i64);

fn reconciliation(row: ReconRow) -> StoreResult<Reconciliation> {
    let (bucket, at, cycle_start, cycle_end, apollo_milli, bollard_milli) = row;
    Ok(Reconciliation {
        bucket,
        at: codec::from_nanos(at)?,
        cycle_start,
        cycle_end,
        apollo_milli,
        bollard_milli,
    })
}

/// One SQL text for both databases (SQLite reads `$n` placeholders too).
const INSERT_RECON: &str = "INSERT INTO reconciliations \
     (bucket, at, cycle_start, cycle_end, apollo_milli, bollard_milli) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (bucket) DO NOTHING";
const LAST_RECON: &str = "SELECT bucket, at, cycle_start, cycle_end, apollo_milli, bollard_milli \
     FROM reconciliations ORDER BY bucket DESC LIMIT 1";

const SENT_SINCE: &str = "SELECT action, COUNT(*) FROM audit \
     WHERE kind = 'decision' AND decision = 'allowed' AND action IS NOT NULL AND at >= $1 \
     GROUP BY action ORDER BY action";

fn bind_recon<'q, DB: sqlx::Database>(
    q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    r: &'q Reconciliation,
    at: i64,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    q.bind(r.bucket)
        .bind(at)
        .bind(r.cycle_start.as_str())
        .bind(r.cycle_end.as_str())
        .bind(r.apollo_milli)
        .bind(r.bollard_milli)
}

type Row = (String, i64, i64);

fn learned(rows: Vec<Row>) -> StoreResult<Vec<LearnedPrice>> {
    rows.into_iter()
        .map(|(action, factor_milli, at)| {
            Ok(LearnedPrice {
                action,
                factor_milli,
                learned_at: codec::from_nanos(at)?,
            })
        })
        .collect()
}

const SELECT: &str = "SELECT action, factor_milli, learned_at FROM learned_prices";

#[async_trait]
impl PriceLedger for SqliteStore {
    async fn learned_price(&self, action: &str) -> StoreResult<Option<LearnedPrice>> {
        let mut r = self.reader().await?;
        let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} WHERE action = ?"))
            .bind(action)
            .fetch_all(&mut *r)
            .await?;
        Ok(learned(rows)?.pop())
    }

    async fn learned_prices(&self) -> StoreResult<Vec<LearnedPrice>> {
        let mut r = self.reader().await?;
        let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} ORDER BY action"))
            .fetch_all(&mut *r)
            .await?;
        learned(rows)
    }

    async fn learn_price(
        &self,
        action: &str,
        factor_milli: i64,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "INSERT INTO learned_prices (action, factor_milli, learned_at) VALUES (?, ?, ?) \
             ON CONFLICT (action) DO UPDATE SET factor_milli = excluded.factor_milli, \
             learned_at = excluded.learned_at WHERE excluded.factor_milli > learned_prices.factor_milli",
        )
        .bind(action)
        .bind(factor_milli)
        .bind(codec::nanos(at)?)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(changed > 0)
    }

    async fn forget_prices(&self) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM learned_prices")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    async fn record_reconciliation(&self, r: &Reconciliation) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = bind_recon(sqlx::query(INSERT_RECON), r, codec::nanos(r.at)?)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn last_reconciliation(&self) -> StoreResult<Option<Reconciliation>> {
        let mut r = self.reader().await?;
        let row: Option<ReconRow> = sqlx::query_as(LAST_RECON).fetch_optional(&mut *r).await?;
        row.map(reconciliation).transpose()
    }

    async fn sent_since(&self, since: OffsetDateTime) -> StoreResult<Vec<(String, i64)>> {
        let mut r = self.reader().await?;
        Ok(sqlx::query_as(SENT_SINCE)
            .bind(codec::nanos(since)?)
            .fetch_all(&mut *r)
            .await?)
    }
}

#[async_trait]
impl PriceLedger for PgStore {
    async fn learned_price(&self, action: &str) -> StoreResult<Option<LearnedPrice>> {
        let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} WHERE action = $1"))
            .bind(action)
            .fetch_all(self.pool())
            .await?;
        Ok(learned(rows)?.pop())
    }

    async fn learned_prices(&self) -> StoreResult<Vec<LearnedPrice>> {
        let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} ORDER BY action"))
            .fetch_all(self.pool())
            .await?;
        learned(rows)
    }

    async fn learn_price(
        &self,
        action: &str,
        factor_milli: i64,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let changed = sqlx::query(
            "INSERT INTO learned_prices (action, factor_milli, learned_at) VALUES ($1, $2, $3) \
             ON CONFLICT (action) DO UPDATE SET factor_milli = excluded.factor_milli, \
             learned_at = excluded.learned_at WHERE excluded.factor_milli > learned_prices.factor_milli",
        )
        .bind(action)
        .bind(factor_milli)
        .bind(codec::nanos(at)?)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(changed > 0)
    }

    async fn forget_prices(&self) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM learned_prices")
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    async fn record_reconciliation(&self, r: &Reconciliation) -> StoreResult<bool> {
        let n = bind_recon(sqlx::query(INSERT_RECON), r, codec::nanos(r.at)?)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    async fn last_reconciliation(&self) -> StoreResult<Option<Reconciliation>> {
        let row: Option<ReconRow> = sqlx::query_as(LAST_RECON)
            .fetch_optional(self.pool())
            .await?;
        row.map(reconciliation).transpose()
    }

    async fn sent_since(&self, since: OffsetDateTime) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as(SENT_SINCE)
            .bind(codec::nanos(since)?)
            .fetch_all(self.pool())
            .await?)
    }
}

//! Per-agent request limits and credit budgets, counted in the store so replicas share them.
//!
//! Rate limits are fixed windows (minute, hour, UTC day): a request is counted in every
//! window at once or in none. Credit budgets (UTC day, calendar month) are reserved before a
//! call at the most it could cost, and settled to what it really cost afterwards.

use bollard_policy::{Action, ActionId};
use time::{Date, Month, OffsetDateTime, Time};

use crate::error::{BudgetShort, RateLimited, Refusal, Unrecorded, in_words};
use crate::store::{BudgetCheck, Hold, Limits, RateTake, Reserve, Store, StoreError, WindowCheck};

/// A reservation to settle after the call.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub periods: Vec<BudgetCheck>,
    pub reserved_milli: i64,
    /// What each bounded period ("day", "month") had left before this reservation.
    pub left_before_milli: Vec<(&'static str, i64)>,
    /// The call it is held for (a real call's; none for the dry run's foresight).
    pub held_by: Option<String>,
}

/// Phase 6 of the gate: the agent's rate windows, then its credit budget (`max`: the most
/// the call could cost). In [`Mode::Peek`] nothing is counted or reserved.
#[expect(
    clippy::too_many_arguments,
    reason = "the phase needs the store, the mode, the team's windows, the agent, the action, its cost and the clock"
)]
pub async fn phase(
    store: &dyn Store,
    mode: Mode<'_>,
    team: &TeamWindows,
    agent: &crate::store::Agent,
    action: &Action,
    max: u64,
    now: OffsetDateTime,
    note: &mut LimitNote,
) -> Result<Option<Reservation>, Refusal> {
    take_rate(
        store,
        mode,
        &agent.id,
        &agent.name,
        action,
        &agent.limits,
        team,
        now,
        note,
    )
    .await?;
    reserve(
        store,
        mode,
        &agent.id,
        &agent.name,
        action,
        max,
        &agent.limits,
        now,
        note,
    )
    .await
}

/// Numbers behind a limit decision, for the audit record.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LimitNote {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits_reserved: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<String>,
}

pub fn window_start(now: OffsetDateTime, window: &str) -> i64 {
    let t = now.unix_timestamp();
    match window {
        "minute" => t - t.rem_euclid(60),
        "hour" => t - t.rem_euclid(3600),
        _ => t - t.rem_euclid(86_400),
    }
}

fn window_len(window: &str) -> i64 {
    match window {
        "minute" => 60,
        "hour" => 3600,
        _ => 86_400,
    }
}

pub fn month_start(now: OffsetDateTime) -> i64 {
    let d = Date::from_calendar_date(now.year(), now.month(), 1).unwrap_or(now.date());
    d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp()
}

fn next_month_start(now: OffsetDateTime) -> OffsetDateTime {
    let (y, m) = match now.month() {
        Month::December => (now.year() + 1, Month::January),
        m => (now.year(), m.next()),
    };
    Date::from_calendar_date(y, m, 1)
        .unwrap_or(now.date())
        .with_time(Time::MIDNIGHT)
        .assume_utc()
}

fn windows_for(
    per_minute: Option<u64>,
    per_hour: Option<u64>,
    per_day: Option<u64>,
    now: OffsetDateTime,
) -> Vec<WindowCheck> {
    [("minute", per_minute), ("hour", per_hour), ("day", per_day)]
        .into_iter()
        .filter_map(|(w, l)| {
            l.map(|limit| WindowCheck {
                window: w,
                start: window_start(now, w),
                limit,
            })
        })
        .collect()
}

/// A period with no budget set still keeps its ledger (for `bollard usage`), under a limit
/// no call can reach.
const UNBOUNDED_MILLI: i64 = i64::MAX / 4;

/// Both budget periods, always: the ledger is kept per day and per month even when only one
/// of them has a limit.
pub fn budget_periods(limits: &Limits, now: OffsetDateTime) -> Vec<BudgetCheck> {
    let limit = |v: Option<u64>| v.map_or(UNBOUNDED_MILLI, |c| to_milli(c as f64));
    vec![
        BudgetCheck {
            period: "day",
            start: window_start(now, "day"),
            limit_milli: limit(limits.credits_per_day),
        },
        BudgetCheck {
            period: "month",
            start: month_start(now),
            limit_milli: limit(limits.credits_per_month),
        },
    ]
}

pub fn is_unbounded(limit_milli: i64) -> bool {
    limit_milli >= UNBOUNDED_MILLI
}

/// When a window or budget period that started at `start` ends.
pub fn period_end(period: &str, start: i64) -> OffsetDateTime {
    let start_t = OffsetDateTime::from_unix_timestamp(start).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    match period {
        "month" => next_month_start(start_t),
        w => start_t + time::Duration::seconds(window_len(w)),
    }
}

/// Apollo's own per-endpoint rate limits, learned from the `x-rate-limit-*` headers of its
/// answers, so an agent can be given a share of the team's window. Each replica learns them
/// on its own; the counters they limit are in the store and shared.
#[derive(Debug, Default)]
pub struct TeamWindows(std::sync::RwLock<std::collections::HashMap<ActionId, [u64; 3]>>);

impl TeamWindows {
    pub fn learn(
        &self,
        action: &Action,
        headers: &[(reqwest::header::HeaderName, reqwest::header::HeaderValue)],
    ) {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.to_str().ok()?.trim().parse::<u64>().ok())
        };
        let (Some(m), Some(h), Some(d)) = (
            get("x-rate-limit-minute"),
            get("x-rate-limit-hourly"),
            get("x-rate-limit-24-hour"),
        ) else {
            return;
        };
        // Apollo's limits rarely change: the write lock, which every call's answer would
        // otherwise take, is taken only when they do.
        let known = self.0.read().ok().and_then(|r| r.get(&action.id).copied());
        if known != Some([m, h, d])
            && let Ok(mut w) = self.0.write()
        {
            w.insert(action.id, [m, h, d]);
        }
    }

    /// The agent's share of each of Apollo's windows for this action, if Apollo's limits are
    /// known yet.
    pub fn share(&self, action: &Action, percent: u8, now: OffsetDateTime) -> Vec<WindowCheck> {
        let Some(limits) = self.0.read().ok().and_then(|w| w.get(&action.id).copied()) else {
            return Vec::new();
        };
        ["minute", "hour", "day"]
            .into_iter()
            .zip(limits)
            .map(|(w, l)| WindowCheck {
                window: w,
                start: window_start(now, w),
                limit: (l.saturating_mul(u64::from(percent)) / 100).max(1),
            })
            .collect()
    }
}

pub fn to_milli(credits: f64) -> i64 {
    (credits * 1000.0).round() as i64
}

pub fn from_milli(m: i64) -> f64 {
    m as f64 / 1000.0
}

/// The refusal for a limit that could not be read, logged with the call it refuses (`-` for a
/// dry run).
fn store_refusal(request_id: Option<&str>) -> impl FnOnce(StoreError) -> Refusal + '_ {
    move |e| {
        tracing::error!(
            request_id = request_id.unwrap_or("-"),
            error = %e,
            "limit store failed"
        );
        // Fail closed: a limit we cannot check is a limit we cannot promise.
        Refusal::AuditUnavailable(Unrecorded::LimitStore)
    }
}

/// Whether the limits phase counts the call (a real call) or only looks (the dry run, which
/// must answer what a call would get without using anything up).
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// A real call: its credit reservation is held in its name (see `Store::reserve_credits`).
    Count(Hold<'a>),
    Peek,
}

impl Mode<'_> {
    /// The call counted, if this is one.
    fn request_id(&self) -> Option<&str> {
        match self {
            Mode::Count(hold) => Some(hold.request_id),
            Mode::Peek => None,
        }
    }
}

/// What `take_rate` answers, counted (a call) or foreseen from the counts (the dry run).
async fn rate(
    store: &dyn Store,
    mode: Mode<'_>,
    agent_id: &str,
    scope: &str,
    windows: &[WindowCheck],
) -> Result<RateTake, StoreError> {
    match mode {
        Mode::Count(_) => store.take_rate(agent_id, scope, windows).await,
        Mode::Peek => {
            let counts = store.rate_counts(agent_id, scope, windows).await?;
            let full = windows.iter().zip(&counts).position(|(w, c)| *c >= w.limit);
            Ok(match full {
                Some(index) => RateTake::Full {
                    index,
                    count: counts.get(index).copied().unwrap_or_default(),
                },
                None => RateTake::Taken(counts.iter().map(|c| c.saturating_add(1)).collect()),
            })
        }
    }
}

/// What `reserve_credits` answers, reserved (a call) or foreseen from the ledger (the dry run).
async fn budget(
    store: &dyn Store,
    mode: Mode<'_>,
    agent_id: &str,
    amount: i64,
    periods: &[BudgetCheck],
) -> Result<Reserve, StoreError> {
    match mode {
        Mode::Count(hold) => {
            store
                .reserve_credits(agent_id, amount, periods, Some(&hold))
                .await
        }
        Mode::Peek => {
            let usage = store.budget_usage(agent_id, periods).await?;
            let committed: Vec<i64> = periods
                .iter()
                .map(|p| {
                    usage
                        .iter()
                        .find(|u| u.period == p.period && u.start == p.start)
                        .map_or(0, |u| u.spent_milli.saturating_add(u.reserved_milli))
                })
                .collect();
            let short = periods
                .iter()
                .zip(&committed)
                .position(|(p, c)| c.saturating_add(amount.max(0)) > p.limit_milli);
            Ok(match short {
                Some(index) => Reserve::Short {
                    index,
                    committed_milli: committed.get(index).copied().unwrap_or_default(),
                },
                None => Reserve::Reserved(
                    committed
                        .iter()
                        .map(|c| c.saturating_add(amount.max(0)))
                        .collect(),
                ),
            })
        }
    }
}

/// Counts the request against the agent's overall and per-action windows.
#[expect(
    clippy::too_many_arguments,
    reason = "each limit phase needs the agent, the action, its limits, the clock and the note"
)]
pub async fn take_rate(
    store: &dyn Store,
    mode: Mode<'_>,
    agent_id: &str,
    agent_name: &str,
    action: &Action,
    limits: &Limits,
    team: &TeamWindows,
    now: OffsetDateTime,
    note: &mut LimitNote,
) -> Result<(), Refusal> {
    let mut scopes = vec![(
        "all".to_owned(),
        windows_for(limits.per_minute, limits.per_hour, limits.per_day, now),
        "requests".to_owned(),
    )];
    if let Some(a) = limits.actions.get(action.id.as_str()) {
        scopes.push((
            action.id.to_string(),
            windows_for(a.per_minute, a.per_hour, a.per_day, now),
            format!("'{}' requests", action.title),
        ));
    }
    if let Some(p) = limits.team_share_percent {
        scopes.push((
            format!("team:{}", action.id),
            team.share(action, p, now),
            format!(
                "{p}% share of the team's Apollo calls to '{}'",
                action.title
            ),
        ));
    }
    for (scope, windows, what) in scopes {
        if windows.is_empty() {
            continue;
        }
        match rate(store, mode, agent_id, &scope, &windows)
            .await
            .map_err(store_refusal(mode.request_id()))?
        {
            RateTake::Taken(counts) => {
                for (w, c) in windows.iter().zip(counts) {
                    note.windows
                        .push(format!("{scope}: {c} of {} this {}", w.limit, w.window));
                }
            }
            RateTake::Full { index, count } => {
                let Some(w) = windows.get(index) else {
                    return Err(Refusal::Internal(
                        "Bollard could not read its rate windows.".into(),
                    ));
                };
                let retry = (w.start + window_len(w.window) - now.unix_timestamp()).max(1);
                note.windows.push(format!(
                    "{scope}: {count} of {} this {} (full)",
                    w.limit, w.window
                ));
                return Err(Refusal::RateLimited(Box::new(RateLimited {
                    agent: agent_name.to_owned(),
                    what,
                    limit: w.limit,
                    window: w.window,
                    retry_after_secs: u64::try_from(retry).unwrap_or(1),
                })));
            }
        }
    }
    Ok(())
}

/// Reserves the most the call could cost. No budget, no spend.
#[expect(
    clippy::too_many_arguments,
    reason = "each limit phase needs the agent, the action, its limits, the clock and the note"
)]
pub async fn reserve(
    store: &dyn Store,
    mode: Mode<'_>,
    agent_id: &str,
    agent_name: &str,
    action: &Action,
    max: u64,
    limits: &Limits,
    now: OffsetDateTime,
    note: &mut LimitNote,
) -> Result<Option<Reservation>, Refusal> {
    if !action.spends_credits() {
        return Ok(None);
    }
    note.credits_reserved = Some(max as f64);
    let periods = budget_periods(limits, now);
    if limits.credits_per_day.is_none() && limits.credits_per_month.is_none() {
        return Err(Refusal::BudgetExhausted(Box::new(BudgetShort::NoBudget {
            agent: agent_name.to_owned(),
            action: action.id,
            max,
        })));
    }
    let amount = to_milli(max as f64);
    match budget(store, mode, agent_id, amount, &periods)
        .await
        .map_err(store_refusal(mode.request_id()))?
    {
        Reserve::Reserved(committed) => {
            let mut left_milli = Vec::new();
            for (p, c) in periods
                .iter()
                .zip(committed)
                .filter(|(p, _)| !is_unbounded(p.limit_milli))
            {
                note.budgets.push(format!(
                    "{} credits of {} this {} committed",
                    from_milli(c),
                    from_milli(p.limit_milli),
                    p.period
                ));
                left_milli.push((p.period, p.limit_milli - c + amount));
            }
            Ok(Some(Reservation {
                periods,
                reserved_milli: amount,
                left_before_milli: left_milli,
                held_by: match mode {
                    Mode::Count(hold) => Some(hold.request_id.to_owned()),
                    Mode::Peek => None,
                },
            }))
        }
        Reserve::Short {
            index,
            committed_milli,
        } => {
            // The store stops at the first period that is short (the day's); the month's may
            // be short too, and then the call is refused until the month's reset, so that is
            // the one said (found in review: "resets at midnight" was false then).
            let (index, committed_milli) = match store.budget_usage(agent_id, &periods).await {
                Ok(usage) => periods
                    .iter()
                    .zip(&usage)
                    .enumerate()
                    .map(|(i, (p, u))| (i, p, u.spent_milli + u.reserved_milli))
                    .rfind(|(_, p, c)| {
                        !is_unbounded(p.limit_milli) && c.saturating_add(amount) > p.limit_milli
                    })
                    .map_or((index, committed_milli), |(i, _, c)| (i, c)),
                Err(_) => (index, committed_milli),
            };
            let Some(p) = periods.get(index) else {
                return Err(Refusal::Internal(
                    "Bollard could not read its budgets.".into(),
                ));
            };
            let left = from_milli((p.limit_milli - committed_milli).max(0));
            let resets = if p.period == "day" {
                OffsetDateTime::from_unix_timestamp(p.start + 86_400).unwrap_or(now)
            } else {
                next_month_start(now)
            };
            let (label, when) = if p.period == "day" {
                (
                    "daily",
                    format!(
                        "at midnight UTC, in {}",
                        in_words(u64::try_from((resets - now).whole_seconds()).unwrap_or(0))
                    ),
                )
            } else {
                (
                    "monthly",
                    format!(
                        "on {} (UTC), in {}",
                        resets.date(),
                        in_words(u64::try_from((resets - now).whole_seconds()).unwrap_or(0))
                    ),
                )
            };
            note.budgets.push(format!(
                "{} credits of {} this {} committed (short)",
                from_milli(committed_milli),
                from_milli(p.limit_milli),
                p.period
            ));
            Err(Refusal::BudgetExhausted(Box::new(BudgetShort::Short {
                agent: agent_name.to_owned(),
                action: action.id,
                max,
                left: left.to_string(),
                limit: from_milli(p.limit_milli).to_string(),
                label,
                resets: when,
            })))
        }
    }
}

pub async fn settle(store: &dyn Store, agent_id: &str, r: &Reservation, spent: f64) {
    if let Err(e) = store
        .settle_credits(
            agent_id,
            &r.periods,
            r.reserved_milli,
            to_milli(spent),
            r.held_by.as_deref(),
        )
        .await
    {
        // The reservation stays counted, which errs on the side of spending less.
        tracing::error!(
            request_id = r.held_by.as_deref().unwrap_or("-"),
            error = %e,
            "settling a credit reservation failed"
        );
    }
}

/// The most a call could cost, as reserved: the price table's figure, scaled up by what
/// Apollo has been seen to bill for the action when that was more (see `store::prices`).
pub async fn max_cost(
    store: &dyn Store,
    prices: &bollard_policy::PriceTable,
    action: &Action,
    args: &bollard_policy::Args,
    request_id: &str,
) -> Result<u64, Refusal> {
    let table = prices.max_cost(action, args);
    if table == 0 {
        return Ok(0);
    }
    let learned = store
        .learned_price(action.id.as_str())
        .await
        .map_err(store_refusal(Some(request_id)))?;
    Ok(learned.map_or(table, |l| scaled(table, l.factor_milli)))
}

/// `price` times `factor_milli` / 1000, rounded up; never below the table's price.
pub fn scaled(price: u64, factor_milli: i64) -> u64 {
    let factor = u128::try_from(factor_milli.max(1000)).unwrap_or(1000);
    u64::try_from((u128::from(price) * factor).div_ceil(1000)).unwrap_or(u64::MAX)
}

/// The most a learned price may exceed the table's, as a factor.
const MAX_LEARNED_FACTOR: f64 = 100.0;

/// Learns from one bill: when Apollo billed more than the price table said for the same
/// answer, later reservations for the action use the higher price. Never fails a call: a
/// price not learned now is learned from the next bill.
pub async fn learn(
    store: &dyn Store,
    action: &Action,
    table: f64,
    billed: f64,
    now: OffsetDateTime,
) {
    if table <= 0.0 || billed <= table {
        return;
    }
    // A bill a hundred times the table's price is a fault in the answer, not a plan's price:
    // learned, it would make every later call of the action reserve more than any budget
    // holds (found in review). It is counted for this call, and said, but not learned.
    if billed > table * MAX_LEARNED_FACTOR {
        tracing::warn!(
            action = %action.id,
            billed,
            table,
            "Apollo billed over a hundred times the price table for one call; the price is not learned from it"
        );
        return;
    }
    let factor_milli = (billed * 1000.0 / table).ceil() as i64;
    match store
        .learn_price(action.id.as_str(), factor_milli, now)
        .await
    {
        Ok(true) => tracing::warn!(
            action = %action.id,
            factor = factor_milli as f64 / 1000.0,
            "Apollo billed more than the price table: later reservations use its price"
        ),
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "a learned price could not be stored"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_policy::ActionId;

    #[tokio::test]
    async fn a_bill_far_above_the_table_is_not_learned() {
        use crate::store::prices::PriceLedger;
        let store = crate::store::sqlite::SqliteStore::open("sqlite::memory:")
            .await
            .unwrap();
        let action = bollard_policy::catalog::by_id("people.bulk_enrich").unwrap();
        let now = time::macros::datetime!(2026-12-05 10:00 UTC);
        learn(&store, action, 2.0, 500.0, now).await;
        assert_eq!(
            store.learned_price("people.bulk_enrich").await.unwrap(),
            None
        );
        learn(&store, action, 2.0, 3.0, now).await;
        assert_eq!(
            store
                .learned_price("people.bulk_enrich")
                .await
                .unwrap()
                .map(|l| l.factor_milli),
            Some(1500)
        );
    }
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> Vec<(HeaderName, HeaderValue)> {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    fn limits(team: &TeamWindows, action: &Action) -> Vec<u64> {
        let now = time::macros::datetime!(2026-12-05 10:00 UTC);
        team.share(action, 100, now)
            .iter()
            .map(|w| w.limit)
            .collect()
    }

    #[test]
    fn team_windows_learn_apollos_limits_and_their_changes_and_ignore_what_is_not_a_number() {
        let team = TeamWindows::default();
        let search = ActionId::PeopleSearch.action();
        let all = |m, h, d| {
            headers(&[
                ("x-rate-limit-minute", m),
                ("x-rate-limit-hourly", h),
                ("x-rate-limit-24-hour", d),
            ])
        };
        team.learn(search, &all("200", "400", "2000"));
        assert_eq!(limits(&team, search), [200, 400, 2000]);
        team.learn(search, &all("200", "400", "2000"));
        assert_eq!(limits(&team, search), [200, 400, 2000]);
        team.learn(search, &all(" 100 ", "400", "2000"));
        assert_eq!(
            limits(&team, search),
            [100, 400, 2000],
            "a change is learned"
        );
        // Missing one window, or one that is not a number: what was known stays.
        team.learn(search, &headers(&[("x-rate-limit-minute", "5")]));
        team.learn(search, &all("many", "400", "2000"));
        assert_eq!(limits(&team, search), [100, 400, 2000]);
        // Per action.
        let enrich = ActionId::PeopleEnrich.action();
        assert!(limits(&team, enrich).is_empty());
    }
}

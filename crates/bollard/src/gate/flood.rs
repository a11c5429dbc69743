//! Calls without a valid key, per source address. Anyone who reaches the port can make
//! them, and each would be an audit record: unthrottled, a stranger fills the disk and the
//! fail-closed audit then stops every agent. So in each minute a source's first
//! [`RECORDED_PER_WINDOW`] failures are recorded one by one (a misconfigured agent is easy
//! to diagnose), the rest are refused with 429 without a record each, and when the minute
//! is over one summary record counts them all: "412 calls without a valid key from 10.0.0.5
//! between 14:02 and 14:03".
//!
//! Invariant: the table is bounded ([`MAX_SOURCES`]); past that, new addresses share one
//! entry, so a flood from many addresses costs memory no more than a flood from one.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::{Call, Gate, Refused, Reply, Target};
use crate::audit::sentence::Door;
use crate::directory::LiveAgent;
use crate::error::Refusal;

/// Failed authentications recorded one by one per source and minute.
pub const RECORDED_PER_WINDOW: u32 = 10;
/// Sources tracked at once; more share the entry of [`SHARED`].
pub const MAX_SOURCES: usize = 10_000;
/// Where sources past [`MAX_SOURCES`] are counted.
const SHARED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
const WINDOW: time::Duration = time::Duration::minutes(1);

/// One source's failures in one window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: OffsetDateTime,
    count: u32,
}

/// What to do with one more call without a valid key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Record it as usual.
    Record,
    /// Refuse it without a record of its own; it is counted in the window's summary.
    Throttle { retry_after_secs: u64 },
}

/// A window that ended with more failures than were recorded one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub source: IpAddr,
    pub start: OffsetDateTime,
    pub count: u32,
}

impl Summary {
    /// The audit sentence of the summary.
    pub fn sentence(&self) -> String {
        let hm = |t: OffsetDateTime| format!("{:02}:{:02}", t.hour(), t.minute());
        let from = if self.source == SHARED {
            "many addresses".to_owned()
        } else {
            self.source.to_string()
        };
        format!(
            "{} calls without a valid key from {from} between {} and {} UTC; the first {} were recorded one by one, the rest refused without a record each.",
            self.count,
            hm(self.start),
            hm(self.start + WINDOW),
            RECORDED_PER_WINDOW.min(self.count)
        )
    }
}

/// Failed authentications by source address, minute by minute.
#[derive(Debug, Default)]
pub struct Floods {
    windows: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    by_source: HashMap<IpAddr, Window>,
    /// The window of the last sweep for ended windows: one sweep a minute, not one a call.
    swept: Option<OffsetDateTime>,
}

fn window_start(now: OffsetDateTime) -> OffsetDateTime {
    now.replace_second(0)
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(now)
}

impl Floods {
    /// Counts one failure from `source` at `now`: what to do with it, and the summaries of
    /// windows (of any source) that have ended.
    pub fn count(&self, source: IpAddr, now: OffsetDateTime) -> (Verdict, Vec<Summary>) {
        let mut table = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let start = window_start(now);
        let mut ended = Vec::new();
        if table.swept.is_none_or(|s| s < start) {
            table.swept = Some(start);
            ended = take_ended(&mut table.by_source, now, false);
        }
        let windows = &mut table.by_source;
        let key = if windows.contains_key(&source) || windows.len() < MAX_SOURCES {
            source
        } else {
            SHARED
        };
        let w = windows.entry(key).or_insert(Window { start, count: 0 });
        if w.start != start {
            // Ended, but `take_ended` keeps windows that need no summary; start afresh.
            ended.extend(summary(key, *w));
            *w = Window { start, count: 0 };
        }
        w.count = w.count.saturating_add(1);
        let verdict = if w.count <= RECORDED_PER_WINDOW {
            Verdict::Record
        } else {
            let left = (start + WINDOW - now).whole_seconds().max(1);
            Verdict::Throttle {
                retry_after_secs: u64::try_from(left).unwrap_or(60),
            }
        };
        (verdict, ended)
    }

    /// Summaries of windows that ended by `now` (all windows when `all`, at shutdown).
    pub fn ended(&self, now: OffsetDateTime, all: bool) -> Vec<Summary> {
        let mut table = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        take_ended(&mut table.by_source, now, all)
    }
}

fn summary(source: IpAddr, w: Window) -> Option<Summary> {
    (w.count > RECORDED_PER_WINDOW).then_some(Summary {
        source,
        start: w.start,
        count: w.count,
    })
}

fn take_ended(
    windows: &mut HashMap<IpAddr, Window>,
    now: OffsetDateTime,
    all: bool,
) -> Vec<Summary> {
    let current = window_start(now);
    let mut out = Vec::new();
    windows.retain(|ip, w| {
        if all || w.start < current {
            out.extend(summary(*ip, *w));
            false
        } else {
            true
        }
    });
    out.sort_by_key(|s| (s.start, s.source));
    out
}

impl Gate {
    /// Counts a call whose key failed; a reply when the call is throttled instead of
    /// recorded.
    pub(super) async fn throttle_unauthenticated(
        &self,
        call: &Call,
        auth: &Result<std::sync::Arc<LiveAgent>, Refusal>,
    ) -> Option<Reply> {
        let (Err(_), Some(source)) = (auth, call.source) else {
            return None;
        };
        let (verdict, ended) = self.inner.floods.count(source, self.inner.clock.now());
        self.record_floods(ended).await;
        let Verdict::Throttle { retry_after_secs } = verdict else {
            return None;
        };
        Some(Reply {
            request_id: call.request_id.clone(),
            action: None,
            result: Err(Refused::by_setting(
                Refusal::KeyFlood { retry_after_secs },
                "auth_flood",
            )),
        })
    }

    /// Whether a refusal of an unauthenticated caller from `source` (made outside the gate's
    /// phases, as the MCP door does) should be recorded one by one.
    pub(crate) async fn record_unauthenticated(&self, source: Option<IpAddr>) -> bool {
        let Some(source) = source else {
            return true;
        };
        let (verdict, ended) = self.inner.floods.count(source, self.inner.clock.now());
        self.record_floods(ended).await;
        verdict == Verdict::Record
    }

    /// Writes the summaries of flood windows that have ended (all of them when `all`).
    pub async fn flush_floods(&self, all: bool) {
        let ended = self.inner.floods.ended(self.inner.clock.now(), all);
        self.record_floods(ended).await;
    }

    async fn record_floods(&self, summaries: Vec<Summary>) {
        for s in summaries {
            let call = Call {
                door: Door::Rest,
                request_id: crate::rest::new_request_id(),
                source: Some(s.source),
                key: None,
                target: Target::Http {
                    method: "-".into(),
                    path: "-".into(),
                    query: None,
                    content_type: None,
                    body: None,
                },
            };
            let mut rec = self.base_record(&call, None);
            rec.sentence = s.sentence();
            rec.reason = "calls without a valid agent key, summarised per minute".into();
            rec.rule_ids = vec!["setting:auth_flood".into()];
            rec.status = Some(429);
            rec.result = Some(serde_json::json!({ "calls": s.count }));
            if let Err(e) = self.inner.audit.write(rec).await {
                tracing::error!(error = %e, "a flood summary could not be queued");
            }
        }
    }
}

/// Writes ended windows' summaries every `every` until `stop` fires.
pub async fn flush_every(gate: Gate, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => gate.flush_floods(false).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u8, m: u8, s: u8) -> OffsetDateTime {
        time::macros::datetime!(2026-12-01 00:00 UTC)
            .replace_hour(h)
            .and_then(|t| t.replace_minute(m))
            .and_then(|t| t.replace_second(s))
            .unwrap_or(time::macros::datetime!(2026-12-01 00:00 UTC))
    }

    #[test]
    fn records_the_first_calls_then_throttles_and_summarises_the_window() {
        let f = Floods::default();
        let ip: IpAddr = "10.0.0.5".parse().unwrap_or(SHARED);
        for i in 0..412 {
            let (v, ended) = f.count(ip, at(14, 2, (i % 60) as u8));
            assert!(ended.is_empty());
            if i < 10 {
                assert_eq!(v, Verdict::Record);
            } else {
                assert!(matches!(v, Verdict::Throttle { .. }), "{i}");
            }
        }
        let (v, ended) = f.count(ip, at(14, 3, 5));
        assert_eq!(v, Verdict::Record, "a new minute starts afresh");
        assert_eq!(ended.len(), 1);
        assert_eq!(
            ended[0].sentence(),
            "412 calls without a valid key from 10.0.0.5 between 14:02 and 14:03 UTC; the first 10 were recorded one by one, the rest refused without a record each."
        );
        // A window with no more than were recorded needs no summary.
        assert!(f.ended(at(14, 9, 0), true).is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let f = Floods::default();
        for i in 0..(MAX_SOURCES as u32 + 50) {
            let ip = IpAddr::V4(Ipv4Addr::from(i + 1));
            f.count(ip, at(1, 0, 0));
        }
        let n = f
            .windows
            .lock()
            .map(|w| w.by_source.len())
            .unwrap_or_default();
        assert_eq!(n, MAX_SOURCES + 1);
    }
}

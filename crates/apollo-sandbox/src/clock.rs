//! Injectable time. Rate windows, timestamps and the credit cycle all read this clock,
//! so tests move a manual clock forward instead of sleeping.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

/// A source of "now": the system clock, or a manual clock that only moves when told.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<OffsetDateTime>>>,
}

impl Clock {
    /// The real wall clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock frozen at `start` until [`Clock::advance`] or [`Clock::set`] moves it.
    pub fn manual(start: OffsetDateTime) -> Self {
        Self {
            manual: Some(Arc::new(Mutex::new(start))),
        }
    }

    /// Whether this clock is manual (and so can be moved).
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        match &self.manual {
            Some(at) => *at.lock().unwrap_or_else(PoisonError::into_inner),
            None => OffsetDateTime::now_utc(),
        }
    }

    /// Moves a manual clock forward. Returns false (and does nothing) on the system clock.
    pub fn advance(&self, by: Duration) -> bool {
        match &self.manual {
            Some(at) => {
                let mut at = at.lock().unwrap_or_else(PoisonError::into_inner);
                *at =
                    at.saturating_add(time::Duration::try_from(by).unwrap_or(time::Duration::MAX));
                true
            }
            None => false,
        }
    }

    /// Sets a manual clock to `to`. Returns false (and does nothing) on the system clock.
    pub fn set(&self, to: OffsetDateTime) -> bool {
        match &self.manual {
            Some(at) => {
                *at.lock().unwrap_or_else(PoisonError::into_inner) = to;
                true
            }
            None => false,
        }
    }
}

/// Formats a time the way Apollo's JSON does (RFC 3339, UTC, milliseconds).
pub(crate) fn format_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("valid time");
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        assert!(clock.advance(Duration::from_secs(61)));
        assert_eq!(clock.now().unix_timestamp(), 1_700_000_061);
        assert!(!Clock::system().advance(Duration::from_secs(1)));
    }

    #[test]
    fn formats_like_apollo() {
        let at = OffsetDateTime::from_unix_timestamp(0).expect("valid time");
        assert_eq!(format_time(at), "1970-01-01T00:00:00.000Z");
    }
}

//! Apollo's rate limits: fixed minute, hour and day windows per endpoint, shared by every
//! key of the team. Windows are aligned to the clock (minute :00, hour :00, UTC midnight)
//! and read the injectable clock, so tests move time instead of sleeping.

use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;

use crate::config::PlanLimits;
use crate::endpoint::Endpoint;

/// The three windows, longest last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Minute,
    Hour,
    Day,
}

impl Period {
    const ALL: [Period; 3] = [Period::Minute, Period::Hour, Period::Day];

    fn seconds(self) -> i64 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    fn limit(self, limits: &PlanLimits) -> u64 {
        match self {
            Self::Minute => limits.per_minute,
            Self::Hour => limits.per_hour,
            Self::Day => limits.per_day,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Window {
    /// Which window (unix seconds / period) the count belongs to.
    number: i64,
    count: u64,
}

impl Window {
    fn current(&self, period: Period, now: i64) -> u64 {
        if self.number == now.div_euclid(period.seconds()) {
            self.count
        } else {
            0
        }
    }
}

/// An endpoint's usage in each window, and its limits: what the nine headers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub limits: PlanLimits,
    pub minute: u64,
    pub hour: u64,
    pub day: u64,
}

impl Usage {
    pub fn used(&self, period: Period) -> u64 {
        match period {
            Period::Minute => self.minute,
            Period::Hour => self.hour,
            Period::Day => self.day,
        }
    }

    pub fn left(&self, period: Period) -> u64 {
        period.limit(&self.limits).saturating_sub(self.used(period))
    }

    pub fn limit(&self, period: Period) -> u64 {
        period.limit(&self.limits)
    }

    /// The nine headers, with the names live responses use (`24-hour`, not `daily`).
    pub fn headers(&self) -> [(&'static str, u64); 9] {
        use Period::{Day, Hour, Minute};
        [
            ("x-rate-limit-minute", self.limit(Minute)),
            ("x-minute-usage", self.used(Minute)),
            ("x-minute-requests-left", self.left(Minute)),
            ("x-rate-limit-hourly", self.limit(Hour)),
            ("x-hourly-usage", self.used(Hour)),
            ("x-hourly-requests-left", self.left(Hour)),
            ("x-rate-limit-24-hour", self.limit(Day)),
            ("x-24-hour-usage", self.used(Day)),
            ("x-24-hour-requests-left", self.left(Day)),
        ]
    }
}

/// A refused call: which window is full, when it reopens, and the usage to report.
#[derive(Clone, Copy, Debug)]
pub struct Exceeded {
    pub period: Period,
    pub retry_after: u64,
    pub usage: Usage,
}

impl Exceeded {
    /// Apollo's 429 sentence.
    pub fn message(&self, endpoint: Endpoint) -> String {
        format!(
            "The maximum number of api calls allowed for {} is {} times per {}. Please upgrade your plan from https://app.apollo.io/#/settings/plans/upgrade.",
            endpoint.route_name(),
            self.usage.limit(self.period),
            self.period.word()
        )
    }
}

/// Counters for every endpoint.
#[derive(Debug)]
pub struct RateLimiter {
    limits: PlanLimits,
    windows: Vec<Mutex<[Window; 3]>>,
}

impl RateLimiter {
    pub fn new(limits: PlanLimits) -> Self {
        Self {
            limits,
            windows: Endpoint::ALL
                .iter()
                .map(|_| Mutex::new([Window::default(); 3]))
                .collect(),
        }
    }

    pub fn limits_for(&self, endpoint: Endpoint) -> PlanLimits {
        if endpoint.is_bulk() {
            self.limits.bulk()
        } else {
            self.limits
        }
    }

    /// Counts one call, or refuses it when any window is full (a refused call is not
    /// counted, so a client that backs off gets through when the window turns).
    pub fn hit(&self, endpoint: Endpoint, now: OffsetDateTime) -> Result<Usage, Exceeded> {
        let now = now.unix_timestamp();
        let limits = self.limits_for(endpoint);
        let mut windows = self.lock(endpoint);
        let usage = usage_of(&windows, limits, now);
        // The longest full window decides when the call can succeed again.
        if let Some(period) = Period::ALL
            .iter()
            .rev()
            .copied()
            .find(|p| usage.left(*p) == 0)
        {
            return Err(Exceeded {
                period,
                retry_after: retry_after(period, now),
                usage,
            });
        }
        for (window, period) in windows.iter_mut().zip(Period::ALL) {
            let number = now.div_euclid(period.seconds());
            if window.number != number {
                *window = Window { number, count: 0 };
            }
            window.count += 1;
        }
        Ok(usage_of(&windows, limits, now))
    }

    /// Current usage without counting a call.
    pub fn peek(&self, endpoint: Endpoint, now: OffsetDateTime) -> Usage {
        let limits = self.limits_for(endpoint);
        usage_of(&self.lock(endpoint), limits, now.unix_timestamp())
    }

    /// A forced 429 (fault injection): reported as a full minute window.
    pub fn forced(&self, endpoint: Endpoint, now: OffsetDateTime) -> Exceeded {
        let mut usage = self.peek(endpoint, now);
        usage.minute = usage.limits.per_minute;
        Exceeded {
            period: Period::Minute,
            retry_after: retry_after(Period::Minute, now.unix_timestamp()),
            usage,
        }
    }

    fn lock(&self, endpoint: Endpoint) -> std::sync::MutexGuard<'_, [Window; 3]> {
        self.windows[endpoint.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn usage_of(windows: &[Window; 3], limits: PlanLimits, now: i64) -> Usage {
    Usage {
        limits,
        minute: windows[0].current(Period::Minute, now),
        hour: windows[1].current(Period::Hour, now),
        day: windows[2].current(Period::Day, now),
    }
}

fn retry_after(period: Period, now: i64) -> u64 {
    let len = period.seconds();
    let end = (now.div_euclid(len) + 1) * len;
    u64::try_from(end - now).unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).expect("valid time")
    }

    #[test]
    fn refuses_when_the_minute_is_full_and_reopens_next_minute() {
        let limiter = RateLimiter::new(PlanLimits {
            per_minute: 2,
            per_hour: 10,
            per_day: 100,
        });
        let start = 1_699_999_980 + 40; // 40 s into a minute
        assert!(limiter.hit(Endpoint::PeopleSearch, at(start)).is_ok());
        let second = limiter
            .hit(Endpoint::PeopleSearch, at(start))
            .expect("allowed");
        assert_eq!(second.left(Period::Minute), 0);
        let refused = limiter
            .hit(Endpoint::PeopleSearch, at(start + 1))
            .expect_err("full");
        assert_eq!(refused.period, Period::Minute);
        assert_eq!(refused.retry_after, 19);
        // Other endpoints have their own windows.
        assert!(limiter.hit(Endpoint::ContactSearch, at(start)).is_ok());
        let next = limiter
            .hit(Endpoint::PeopleSearch, at(start + 20))
            .expect("new minute");
        assert_eq!((next.minute, next.hour, next.day), (1, 3, 3));
    }

    #[test]
    fn bulk_endpoints_get_a_tenth() {
        let limiter = RateLimiter::new(PlanLimits::professional());
        let usage = limiter.peek(Endpoint::PeopleBulkMatch, at(0));
        assert_eq!(usage.limits.per_minute, 20);
        assert_eq!(usage.limits.per_day, 200);
    }
}

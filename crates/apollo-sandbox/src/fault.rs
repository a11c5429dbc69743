//! Run-time fault injection: added latency, the next N calls failing with a chosen
//! status, dropped connections, forced 429s. A cheap clone handle over shared state.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

/// What the next request should suffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Close the connection without answering.
    Drop,
    /// Answer with this status.
    Fail(u16),
    /// Answer 429 as if the minute window were full.
    RateLimit,
}

/// The current fault settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FaultSettings {
    pub latency_ms: u64,
    pub fail_next: u32,
    pub fail_status: u16,
    pub drop_next: u32,
    pub rate_limit_next: u32,
}

/// Handle to the sandbox's fault injection. Clones share state.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    state: Arc<Mutex<FaultSettings>>,
}

impl Faults {
    /// Adds `latency` before every answer (zero removes it).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    }

    /// The next `n` calls answer `status` (a 4xx or 5xx; anything else becomes 500).
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut state = self.lock();
        state.fail_next = n;
        state.fail_status = if (400..=599).contains(&status) {
            status
        } else {
            500
        };
    }

    /// The next `n` calls have their connection closed without an answer.
    pub fn drop_next(&self, n: u32) {
        self.lock().drop_next = n;
    }

    /// The next `n` calls answer 429 with Apollo's body and `retry-after`.
    pub fn rate_limit_next(&self, n: u32) {
        self.lock().rate_limit_next = n;
    }

    /// Removes every fault.
    pub fn clear(&self) {
        *self.lock() = FaultSettings::default();
    }

    pub fn settings(&self) -> FaultSettings {
        *self.lock()
    }

    /// The latency to add and the fault to apply to one request, consuming a count.
    /// Drops come first, then failures, then 429s.
    pub(crate) fn take(&self) -> (Duration, Fault) {
        let mut state = self.lock();
        let latency = Duration::from_millis(state.latency_ms);
        let fault = if state.drop_next > 0 {
            state.drop_next -= 1;
            Fault::Drop
        } else if state.fail_next > 0 {
            state.fail_next -= 1;
            Fault::Fail(state.fail_status)
        } else if state.rate_limit_next > 0 {
            state.rate_limit_next -= 1;
            Fault::RateLimit
        } else {
            Fault::None
        };
        (latency, fault)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultSettings> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_and_orders_drop_fail_then_429() {
        let faults = Faults::default();
        faults.fail_next(1, 503);
        faults.drop_next(1);
        faults.rate_limit_next(1);
        let taken: Vec<Fault> = (0..4).map(|_| faults.take().1).collect();
        assert_eq!(
            taken,
            vec![Fault::Drop, Fault::Fail(503), Fault::RateLimit, Fault::None]
        );
    }

    #[test]
    fn odd_statuses_become_500() {
        let faults = Faults::default();
        faults.fail_next(1, 200);
        assert_eq!(faults.take().1, Fault::Fail(500));
    }
}

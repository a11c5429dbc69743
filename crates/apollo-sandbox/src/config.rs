//! The sandbox's settings: seed, keys, plan limits, prices. Everything that shapes the
//! sandbox's answers is here, so a test states the world it runs in.

use std::time::Duration;

use crate::clock::Clock;

/// Requests allowed per endpoint in each fixed window (Apollo's plan limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanLimits {
    pub per_minute: u64,
    pub per_hour: u64,
    pub per_day: u64,
}

impl PlanLimits {
    /// Apollo's basic and professional plans: 200 a minute, 400 an hour, 2,000 a day.
    pub fn professional() -> Self {
        Self {
            per_minute: 200,
            per_hour: 400,
            per_day: 2_000,
        }
    }

    /// Apollo's free plan: 50 / 200 / 600.
    pub fn free() -> Self {
        Self {
            per_minute: 50,
            per_hour: 200,
            per_day: 600,
        }
    }

    /// No practical limit: for benchmarks, where the sandbox must never be the bottleneck.
    pub fn unlimited() -> Self {
        Self {
            per_minute: u64::MAX / 16,
            per_hour: u64::MAX / 16,
            per_day: u64::MAX / 16,
        }
    }

    /// Bulk enrichment gets a tenth of the single-record limits (at least one).
    pub fn bulk(self) -> Self {
        Self {
            per_minute: (self.per_minute / 10).max(1),
            per_hour: (self.per_hour / 10).max(1),
            per_day: (self.per_day / 10).max(1),
        }
    }
}

impl Default for PlanLimits {
    fn default() -> Self {
        Self::professional()
    }
}

/// The credit price table, in one place. Apollo's prices depend on the plan; these are
/// the published defaults (waterfall prices are uncertain and easy to change here).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prices {
    /// A matched person on `people/match` or `people/bulk_match` (0 without a match).
    pub person_match: f64,
    /// Extra, when a mobile number is revealed (`reveal_phone_number`).
    pub mobile_phone: f64,
    /// Extra, when personal emails are revealed (`reveal_personal_emails`).
    pub personal_emails: f64,
    /// Extra, per person, for `run_waterfall_email`.
    pub waterfall_email: f64,
    /// Extra, per person, for `run_waterfall_phone`.
    pub waterfall_phone: f64,
    /// Each page of organization search that returns at least one organization.
    pub organization_search_page: f64,
    /// A matched organization on `organizations/enrich`.
    pub organization_enrich: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Self {
            person_match: 1.0,
            mobile_phone: 8.0,
            personal_emails: 1.0,
            waterfall_email: 1.0,
            waterfall_phone: 8.0,
            organization_search_page: 1.0,
            organization_enrich: 1.0,
        }
    }
}

/// Everything needed to start a sandbox. The prospect database is a pure function of
/// `seed` and `people`.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    pub seed: u64,
    /// Reaches every endpoint.
    pub master_key: String,
    /// Reaches people, organizations, contacts and accounts only.
    pub scoped_key: String,
    pub limits: PlanLimits,
    /// Number of people generated (at least 1,000; organizations are a tenth, at least 1,000).
    pub people: usize,
    pub clock: Clock,
    pub prices: Prices,
    /// Monthly credit allowance reported by `credit_usage_stats` (per credit type).
    pub credit_limit: f64,
    /// How long after the call a webhook is delivered.
    pub webhook_delay: Duration,
    /// Largest request body read; larger bodies get 413.
    pub body_limit: usize,
    /// Most journal entries kept; the oldest are dropped first.
    pub journal_capacity: usize,
}

impl SandboxConfig {
    /// Defaults with the given seed and freshly generated keys.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            master_key: random_key("sbx_master_"),
            scoped_key: random_key("sbx_scoped_"),
            limits: PlanLimits::default(),
            people: 10_000,
            clock: Clock::system(),
            prices: Prices::default(),
            credit_limit: 10_000.0,
            webhook_delay: Duration::from_millis(100),
            body_limit: 10 * 1024 * 1024,
            journal_capacity: 100_000,
        }
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self::new(42)
    }
}

/// A random key with a recognisable prefix, so that secret scanners and people can tell
/// a sandbox key from a real Apollo key.
pub fn random_key(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

//! Prometheus metrics, served at `/metrics` on the admin listener (never on the agent
//! listener: per-agent call counts are the control plane's business, not an agent's).
//!
//! Every call's facts reach the audit writer as records, so the writer feeds most of these
//! from the records it accepts (`observe_record`); the gate adds only what a record does
//! not hold, its own end-to-end latency (`observe_call`). Labels are bounded: agent names
//! (made by admins), the twenty action ids, and a few fixed words.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::audit::Record;
use crate::gate::Reply;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    agent: String,
    action: String,
    decision: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    action: String,
    /// `answered` (Apollo's answer went back) or `refused` (Bollard's refusal did).
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabels {
    agent: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    action: String,
    /// `timeout`, `unreachable` (no answer), `rate_limited` (Apollo's 429) or `server_error`
    /// (Apollo's 5xx).
    error: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Half a millisecond to about 16 s: a refusal takes well under a millisecond, a slow
/// enrichment several seconds.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The gateway's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    gateway_seconds: HistogramFamily<LatencyLabels>,
    upstream_seconds: HistogramFamily<ActionLabels>,
    credits_reserved: Family<AgentLabels, Counter<f64, AtomicU64>>,
    credits_spent: Family<AgentLabels, Counter<f64, AtomicU64>>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    audit_queue_depth: Gauge,
    audit_batch_records: Histogram,
    audit_batch_failures: Counter,
    /// The last reconciliation with Apollo's `credit_usage_stats` (#19 item 6).
    credits_apollo: Gauge<f64, AtomicU64>,
    credits_ledger: Gauge<f64, AtomicU64>,
    credits_drift: Gauge<f64, AtomicU64>,
    /// Checkpoint sinks' health (`audit::sink`).
    pub checkpoints: crate::audit::sink::SinkMetrics,
    /// Export sinks' places (`audit::export`).
    pub export: crate::audit::export::ExportMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "bollard_calls",
            "Calls through the gate, by agent, action and decision.",
            calls.clone(),
        );
        let gateway_seconds =
            HistogramFamily::<LatencyLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "bollard_call_duration_seconds",
            "Time from a call reaching the gate to its answer or refusal, Apollo's time included.",
            gateway_seconds.clone(),
        );
        let upstream_seconds =
            HistogramFamily::<ActionLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "bollard_upstream_duration_seconds",
            "Time Apollo took to answer a forwarded call.",
            upstream_seconds.clone(),
        );
        let credits_reserved = Family::<AgentLabels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "bollard_credits_reserved",
            "Credits held against an agent's budget before calls were forwarded (the most each could cost).",
            credits_reserved.clone(),
        );
        let credits_spent = Family::<AgentLabels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "bollard_credits_spent",
            "Credits the forwarded calls actually cost, as Apollo's answers showed.",
            credits_spent.clone(),
        );
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        registry.register(
            "bollard_upstream_errors",
            "Forwarded calls that Apollo did not answer, or answered with a 429 or a 5xx.",
            upstream_errors.clone(),
        );
        let audit_queue_depth = Gauge::default();
        registry.register(
            "bollard_audit_queue_depth",
            "Audit records waiting for the batch writer when scraped.",
            audit_queue_depth.clone(),
        );
        let audit_batch_records = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        registry.register(
            "bollard_audit_batch_records",
            "Records per audit disk write (group commit).",
            audit_batch_records.clone(),
        );
        let audit_batch_failures = Counter::default();
        registry.register(
            "bollard_audit_batch_failures",
            "Audit disk writes that failed (their calls were refused or their outcomes lost).",
            audit_batch_failures.clone(),
        );
        let credits_apollo = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "bollard_credits_apollo_consumed",
            "Credits Apollo's credit_usage_stats says the team consumed this cycle, at the last reconciliation.",
            credits_apollo.clone(),
        );
        let credits_ledger = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "bollard_credits_ledger_month",
            "Credits Bollard's ledger counts this calendar month, at the last reconciliation.",
            credits_ledger.clone(),
        );
        let credits_drift = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "bollard_credits_drift",
            "Apollo's count minus Bollard's at the last reconciliation: above 0, credits spent outside Bollard; below 0, Bollard counted more than Apollo charged.",
            credits_drift.clone(),
        );
        let checkpoints = crate::audit::sink::SinkMetrics::register(&mut registry);
        let export = crate::audit::export::ExportMetrics::register(&mut registry);
        Self {
            checkpoints,
            export,
            registry,
            calls,
            gateway_seconds,
            upstream_seconds,
            credits_reserved,
            credits_spent,
            upstream_errors,
            audit_queue_depth,
            audit_batch_records,
            audit_batch_failures,
            credits_apollo,
            credits_ledger,
            credits_drift,
        }
    }

    /// The figures of a reconciliation with Apollo.
    pub fn observe_reconciliation(&self, r: &crate::store::prices::Reconciliation) {
        self.credits_apollo.set(r.apollo_milli as f64 / 1000.0);
        self.credits_ledger.set(r.bollard_milli as f64 / 1000.0);
        self.credits_drift.set(r.drift());
    }

    /// One call's end-to-end latency, as the gate saw it.
    pub fn observe_call(&self, reply: &Reply, elapsed: Duration) {
        let labels = LatencyLabels {
            action: reply.action.map_or("(none)", |a| a.id.as_str()).to_owned(),
            outcome: if reply.result.is_ok() {
                "answered"
            } else {
                "refused"
            },
        };
        self.gateway_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// One audit record the writer accepted: a call's decision, or an allowed call's
    /// outcome.
    pub fn observe_record(&self, r: &Record) {
        let agent = r.agent_name.as_deref().unwrap_or("(unknown)").to_owned();
        let action = r.action.as_deref().unwrap_or("(none)").to_owned();
        match r.kind.as_str() {
            "outcome" => {
                if let Some(ms) = r.latency_ms {
                    self.upstream_seconds
                        .get_or_create(&ActionLabels {
                            action: action.clone(),
                        })
                        .observe(ms / 1000.0);
                }
                if let Some(c) = r.credits_used.filter(|c| *c > 0.0) {
                    self.credits_spent
                        .get_or_create(&AgentLabels { agent })
                        .inc_by(c);
                }
                // No latency means Apollo never answered: the gate put its own 504 or 502
                // in the record.
                let error = match (r.latency_ms, r.status) {
                    (None, Some(504)) => Some("timeout"),
                    (None, _) => Some("unreachable"),
                    (Some(_), Some(429)) => Some("rate_limited"),
                    (Some(_), Some(s)) if s >= 500 => Some("server_error"),
                    (Some(_), _) => None,
                };
                if let Some(error) = error {
                    self.upstream_errors
                        .get_or_create(&UpstreamErrorLabels { action, error })
                        .inc();
                }
            }
            _ => {
                if let Some(c) = r.credits_reserved.filter(|c| *c > 0.0) {
                    self.credits_reserved
                        .get_or_create(&AgentLabels {
                            agent: agent.clone(),
                        })
                        .inc_by(c);
                }
                self.calls
                    .get_or_create(&CallLabels {
                        agent,
                        action,
                        decision: r.decision.clone(),
                    })
                    .inc();
            }
        }
    }

    /// One audit disk write: how many records it carried, and whether it failed.
    pub fn observe_batch(&self, records: usize, ok: bool) {
        if ok {
            self.audit_batch_records.observe(records as f64);
        } else {
            self.audit_batch_failures.inc();
        }
    }

    /// The text exposition format, with the audit queue's depth as of now.
    pub fn encode(&self, audit_queue_depth: usize) -> String {
        self.audit_queue_depth
            .set(i64::try_from(audit_queue_depth).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

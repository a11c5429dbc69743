//! `usage_stats/api_usage_stats` and `usage_stats/credit_usage_stats`.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::endpoint::Endpoint;
use crate::ratelimit::Period;
use crate::state::State;

/// Apollo keys this object by JSON-encoded `[controller, action]` arrays written as
/// strings, with a space after the comma: `"[\"api/v1/contacts\", \"search\"]"`.
pub fn api_usage(state: &State, now: OffsetDateTime) -> Value {
    let mut out = Map::new();
    for endpoint in Endpoint::ALL {
        let (controller, action) = endpoint.controller_action();
        let usage = state.limiter.peek(endpoint, now);
        let window = |p: Period| json!({"limit": usage.limit(p), "consumed": usage.used(p), "left_over": usage.left(p)});
        out.insert(
            format!("[\"{controller}\", \"{action}\"]"),
            json!({"day": window(Period::Day), "hour": window(Period::Hour), "minute": window(Period::Minute)}),
        );
    }
    Value::Object(out)
}

pub fn credit_usage(state: &State, now: OffsetDateTime) -> Value {
    let ledger = state.credits.snapshot();
    let limit = state.config.credit_limit;
    let kind = |consumed: f64| json!({"limit": limit, "consumed": consumed, "left_over": (limit - consumed).max(0.0)});
    let start = now.date().replace_day(1).unwrap_or(now.date());
    let end = start
        .checked_add(time::Duration::days(31))
        .and_then(|d| d.replace_day(1).ok())
        .and_then(|d| d.previous_day())
        .unwrap_or(start);
    json!({
        "credit_usage_stats": {
            "lead_credit": kind(ledger.lead_credits()),
            "direct_dial_credit": kind(ledger.mobile_phone),
            "waterfall_credit": kind(ledger.waterfall),
        },
        "current_credit_cycle": {"start_date": start.to_string(), "end_date": end.to_string()},
    })
}

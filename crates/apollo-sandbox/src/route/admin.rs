//! The sandbox's own control surface under `/__sandbox/` (a path Apollo does not use):
//! journal, faults, clock, credit ledger, fixtures. Guarded by the master key.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::args::Args;
use crate::error::ApiError;
use crate::state::State;

/// Handles `/__sandbox/...`; `None` for an unknown path or verb (404).
pub fn handle(
    state: &State,
    method: &str,
    path: &str,
    args: &Args,
) -> Option<Result<Value, ApiError>> {
    let rest = path.strip_prefix("/__sandbox/")?.trim_end_matches('/');
    Some(match (method, rest) {
        ("GET", "journal") => Ok(json!(state.journal.entries())),
        ("DELETE", "journal") => {
            state.journal.clear();
            Ok(json!({"cleared": true}))
        }
        ("GET", "faults") => Ok(json!(state.faults.settings())),
        ("POST" | "PUT" | "PATCH", "faults") => set_faults(state, args),
        ("DELETE", "faults") => {
            state.faults.clear();
            Ok(json!(state.faults.settings()))
        }
        ("GET", "clock") => Ok(clock(state)),
        ("POST" | "PUT" | "PATCH", "clock") => set_clock(state, args),
        ("GET", "credits") => {
            let ledger = state.credits.snapshot();
            Ok(json!({"ledger": ledger, "total": ledger.total()}))
        }
        ("DELETE", "credits") => {
            state.credits.reset();
            Ok(json!({"cleared": true}))
        }
        ("GET", "fixtures") => Ok(json!(state.team().fixtures())),
        ("GET", "webhooks") => {
            let (delivered, failed) = state.webhooks.counts();
            Ok(json!({"delivered": delivered, "failed": failed}))
        }
        _ => return None,
    })
}

fn count(args: &Args, key: &str) -> Result<Option<u32>, ApiError> {
    match args.int(key)? {
        None => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| {
            ApiError::unprocessable(format!("{key} must be between 0 and {}", u32::MAX))
        }),
    }
}

/// Fields given are set; fields absent are left as they are.
fn set_faults(state: &State, args: &Args) -> Result<Value, ApiError> {
    let faults = &state.faults;
    if let Some(ms) = args.int("latency_ms")? {
        let ms = u64::try_from(ms)
            .map_err(|_| ApiError::unprocessable("latency_ms must not be negative"))?;
        faults.set_latency(Duration::from_millis(ms.min(600_000)));
    }
    if let Some(n) = count(args, "fail_next")? {
        let status = args.int("fail_status")?.unwrap_or(500);
        if !(400..=599).contains(&status) {
            return Err(ApiError::unprocessable(
                "fail_status must be between 400 and 599",
            ));
        }
        faults.fail_next(n, status as u16);
    }
    if let Some(n) = count(args, "drop_next")? {
        faults.drop_next(n);
    }
    if let Some(n) = count(args, "rate_limit_next")? {
        faults.rate_limit_next(n);
    }
    Ok(json!(faults.settings()))
}

fn clock(state: &State) -> Value {
    let now = state.config.clock.now();
    json!({"now": now.format(&Rfc3339).unwrap_or_default(), "manual": state.config.clock.is_manual()})
}

fn set_clock(state: &State, args: &Args) -> Result<Value, ApiError> {
    let clock = &state.config.clock;
    if !clock.is_manual() {
        return Err(ApiError::unprocessable(
            "This sandbox runs on the system clock; start it with a manual clock to move time.",
        ));
    }
    if let Some(seconds) = args.int("advance_seconds")? {
        let seconds = u64::try_from(seconds)
            .map_err(|_| ApiError::unprocessable("advance_seconds must not be negative"))?;
        clock.advance(Duration::from_secs(seconds));
    }
    if let Some(at) = args.str("set")? {
        let at = OffsetDateTime::parse(&at, &Rfc3339).map_err(|_| {
            ApiError::unprocessable("set must be an RFC 3339 time, such as 2025-01-01T00:00:00Z")
        })?;
        clock.set(at);
    }
    Ok(self::clock(state))
}

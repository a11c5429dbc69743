//! Reading what an admin asks for: the agent as the gate would see it, a dry-run target, an
//! audit query in words. The CLI, the admin API and the console all call these.

use bollard_policy::catalog::action_ids;
use bollard_policy::{Grants, Level, by_id};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::directory::{LiveAgent, compile};
use crate::ops::{self, OpsError, OpsResult};
use crate::store::{Agent, AuditFilter, Store};

/// "active", "revoked" or "expired", as lists show an agent.
pub fn agent_status(a: &Agent, now: OffsetDateTime) -> &'static str {
    if a.revoked_at.is_some() {
        "revoked"
    } else if a.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

/// The agent as the gate would see it now, freshly compiled from the store (not the
/// directory's cache), so a dry run right after a change reflects the change.
pub async fn live_agent(store: &dyn Store, id_or_name: &str) -> OpsResult<LiveAgent> {
    let agent = ops::find_agent(store, id_or_name).await?;
    let rules = store.list_rules(&agent.id).await?;
    let policy = compile(&agent, &rules);
    Ok(LiveAgent { agent, policy })
}

/// Checks what serde accepts but the grid does not mean: a write level on a group with no
/// write actions, and overrides of actions that do not exist.
pub fn validate_grants(g: &Grants) -> OpsResult<()> {
    for (group, level) in &g.levels {
        if *level == Level::Write && !group.has_writes() {
            return Err(OpsError::Invalid(format!(
                "'{group}' has no write actions, so 'write' would grant nothing; use off, read or full."
            )));
        }
    }
    if let Some(bad) = g.overrides.keys().find(|a| by_id(a).is_none()) {
        return Err(OpsError::Invalid(format!(
            "'{bad}' is not an action id; the actions are: {}.",
            action_ids()
        )));
    }
    let known = |w: &str| {
        w == bollard_policy::grant::ASK_REVEAL
            || by_id(w).is_some()
            || bollard_policy::Group::ALL.iter().any(|g| g.as_str() == w)
    };
    if let Some(bad) = g.ask.iter().find(|w| !known(w)) {
        return Err(OpsError::Invalid(format!(
            "'{bad}' cannot ask first; 'ask' holds capabilities (such as sequences), action ids (such as sequences.add_contacts) and reveal."
        )));
    }
    Ok(())
}

/// What to dry-run: either a raw method and path, or an action id (and the record id for
/// actions on one record), from which the catalog's method and path are taken.
#[derive(Debug, Clone, Default)]
pub struct CheckTarget {
    pub method: Option<String>,
    pub path: Option<String>,
    pub action: Option<String>,
    pub record_id: Option<String>,
}

/// The method and path a check target names.
pub fn check_route(t: &CheckTarget) -> OpsResult<(String, String)> {
    let method = t.method.as_deref().map(str::trim).filter(|m| !m.is_empty());
    let path = t.path.as_deref().map(str::trim).filter(|p| !p.is_empty());
    if let Some(path) = path {
        let method = method.ok_or_else(|| {
            OpsError::Invalid("Say which HTTP method the call uses, like POST.".into())
        })?;
        if !path.starts_with('/') {
            return Err(OpsError::Invalid(format!(
                "'{path}' is not a path; write it as the agent would, like /api/v1/people/match."
            )));
        }
        return Ok((method.to_ascii_uppercase(), path.to_owned()));
    }
    let id = t.action.as_deref().map(str::trim).filter(|a| !a.is_empty()).ok_or_else(|| {
        OpsError::Invalid(
            "Say what to check: an action id (like people.enrich) or a method and path (like POST /api/v1/people/match).".into(),
        )
    })?;
    let action = by_id(id).ok_or_else(|| {
        OpsError::Invalid(format!(
            "'{id}' is not an action id; the actions are: {}.",
            action_ids()
        ))
    })?;
    let record = t
        .record_id
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let path = action.upstream_path(record).ok_or_else(|| {
        OpsError::Invalid(format!(
            "'{}' acts on one record: give its {} (letters, digits, '-' or '_').",
            action.id,
            action.path_param.unwrap_or("id")
        ))
    })?;
    let method = method.map_or_else(
        || action.method.as_str().to_owned(),
        str::to_ascii_uppercase,
    );
    Ok((method, path))
}

/// `--since` and `?since=`: a duration back from now (2h, 7d) or an RFC 3339 time.
pub fn parse_since(s: &str, now: OffsetDateTime) -> OpsResult<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s.trim(), &Rfc3339) {
        return Ok(t);
    }
    ops::parse_duration(s).map(|d| now - d).map_err(|_| {
        OpsError::Invalid(format!(
            "since '{s}' is neither a duration like 2h or 7d nor a time like 2026-11-27T09:00:00Z."
        ))
    })
}

/// An audit query as people write it: names, words and durations, all optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditQuery {
    /// `calls`, `admin` (changes to the configuration) or `all` (the default).
    pub kind: Option<String>,
    pub agent: Option<String>,
    pub action: Option<String>,
    pub decision: Option<String>,
    pub since: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Turns an audit query into the store's filter, saying what is wrong with it if anything.
pub async fn audit_filter(
    store: &dyn Store,
    q: &AuditQuery,
    now: OffsetDateTime,
) -> OpsResult<AuditFilter> {
    let agent_id = match given(&q.agent) {
        Some(a) => Some(ops::find_agent(store, a).await?.id),
        None => None,
    };
    let action = given(&q.action)
        .map(|a| {
            by_id(a).map(|x| x.id.to_string()).ok_or_else(|| {
                OpsError::Invalid(format!(
                    "'{a}' is not an action id, like people.search or contacts.create."
                ))
            })
        })
        .transpose()?;
    let decision = given(&q.decision)
        .map(|d| match d {
            "allowed" | "denied" | "pending" => Ok(d.to_owned()),
            _ => Err(OpsError::Invalid(format!(
                "decision is allowed, denied or pending (waiting for approval), not '{d}'."
            ))),
        })
        .transpose()?;
    // Both by default: an operator reading the log wants the change that allowed a call
    // beside the call itself, in the order they happened.
    let admin = match given(&q.kind) {
        None | Some("all") => None,
        Some("calls") => Some(false),
        Some("admin") => Some(true),
        Some(k) => {
            return Err(OpsError::Invalid(format!(
                "kind is calls, admin or all, not '{k}'."
            )));
        }
    };
    let since = given(&q.since).map(|s| parse_since(s, now)).transpose()?;
    let limit = match given(&q.limit) {
        None => 50,
        Some(l) => match l.parse::<u32>() {
            Ok(n @ 1..=1000) => n,
            _ => {
                return Err(OpsError::Invalid(format!(
                    "limit is a whole number from 1 to 1000, not '{l}'."
                )));
            }
        },
    };
    let before_seq = given(&q.cursor)
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                OpsError::Invalid(format!("cursor '{c}' is not one this API gave out; use next_cursor from the previous page."))
            })
        })
        .transpose()?;
    Ok(AuditFilter {
        agent_id,
        action,
        decision,
        admin,
        since,
        before_seq,
        limit,
        ..AuditFilter::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_target_names_an_action_or_a_path() {
        let t = CheckTarget {
            action: Some("people.enrich".into()),
            ..Default::default()
        };
        assert_eq!(
            check_route(&t).unwrap(),
            ("POST".into(), "/api/v1/people/match".into())
        );
        let t = CheckTarget {
            action: Some("contacts.update".into()),
            record_id: Some("abc".into()),
            ..Default::default()
        };
        assert_eq!(
            check_route(&t).unwrap(),
            ("PATCH".into(), "/api/v1/contacts/abc".into())
        );
        let t = CheckTarget {
            action: Some("contacts.update".into()),
            ..Default::default()
        };
        assert!(
            check_route(&t)
                .unwrap_err()
                .to_string()
                .contains("contact_id")
        );
        let t = CheckTarget {
            method: Some("get".into()),
            path: Some("/v1/users/search".into()),
            ..Default::default()
        };
        assert_eq!(
            check_route(&t).unwrap(),
            ("GET".into(), "/v1/users/search".into())
        );
        assert!(check_route(&CheckTarget::default()).is_err());
    }

    #[test]
    fn since_takes_durations_and_times() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            parse_since("2h", now).unwrap(),
            now - time::Duration::hours(2)
        );
        assert!(parse_since("2026-11-27T09:00:00Z", now).is_ok());
        assert!(parse_since("yesterday", now).is_err());
    }

    /// Found in review: `99999999999999w` overflowed while it was read, `999999999d` when a
    /// date was made of it, and both panicked (CLI and admin API alike).
    #[test]
    fn a_duration_too_long_for_any_date_is_refused_not_a_panic() {
        for s in [
            "99999999999999w",
            "999999999d",
            "9223372036854775807s",
            "5300w",
            "36500d1d",
        ] {
            let e = crate::ops::parse_duration(s).unwrap_err().to_string();
            assert!(e.contains("longer than 100 years"), "{s}: {e}");
            assert!(parse_since(s, OffsetDateTime::now_utc()).is_err(), "{s}");
        }
        assert_eq!(
            crate::ops::parse_duration("1d12h").unwrap(),
            time::Duration::hours(36)
        );
        assert!(crate::ops::parse_duration("5200w").is_ok());
    }

    #[test]
    fn grants_that_mean_nothing_are_refused() {
        let mut g = Grants::default();
        g.levels.insert(bollard_policy::Group::Users, Level::Write);
        assert!(validate_grants(&g).is_err());
        let mut g = Grants::default();
        g.overrides.insert("people.nothing".into(), true);
        assert!(validate_grants(&g).is_err());
    }
}

//! Ask first (#15): a person approves one exact call before it runs. This module holds what
//! the gate, the admin surfaces and the notifier share: the `[approvals]` configuration, the
//! call hash that binds an approval to one call, and the refusals' facts and sentences.
//!
//! An approval is bound to the agent, the action, the record id of the path and the call's
//! canonical arguments (keys sorted at every depth, as the gate forwards them): any change
//! is another call, which needs its own approval. It is single use and expires.

pub mod notify;
pub mod seal;

use serde::Deserialize;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// `[approvals]` in `bollard.toml`.
#[derive(Debug, Clone)]
pub struct ApprovalsConfig {
    /// Where each new request is posted (a webhook); none: requests are only listed.
    pub notify_url: Option<String>,
    pub notify_format: NotifyFormat,
    /// How long a request (and the approval it becomes) stays usable.
    pub expires_after: Duration,
    /// The console's address as approvers reach it, for the link in notifications
    /// ("https://bollard.example.com"); the request's path is added.
    pub console_url: Option<String>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        Self {
            notify_url: None,
            notify_format: NotifyFormat::Json,
            expires_after: Duration::hours(1),
            console_url: None,
        }
    }
}

/// The body of a notification: Bollard's JSON, or a Slack-compatible message (`{"text": ...}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyFormat {
    Json,
    Slack,
}

/// The file's `[approvals]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileApprovals {
    notify_url: Option<String>,
    notify_format: Option<String>,
    expires_after: Option<String>,
    console_url: Option<String>,
}

impl FileApprovals {
    /// The typed configuration, each problem added to `problems` as a sentence.
    pub fn resolve(self, problems: &mut Vec<String>) -> ApprovalsConfig {
        let mut c = ApprovalsConfig::default();
        let http = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        if let Some(u) = self.notify_url.map(|u| u.trim().to_owned()) {
            if http(&u) && url::Url::parse(&u).is_ok() {
                c.notify_url = Some(u);
            } else {
                problems.push(format!(
                    "approvals.notify_url is '{u}', which is not an http(s) URL like https://hooks.slack.com/services/..."
                ));
            }
        }
        match self.notify_format.as_deref().map(str::trim) {
            None | Some("json") => {}
            Some("slack") => c.notify_format = NotifyFormat::Slack,
            Some(other) => problems.push(format!(
                "approvals.notify_format is '{other}'; it must be 'json' or 'slack'"
            )),
        }
        if let Some(e) = self.expires_after {
            match crate::ops::parse_duration(&e) {
                Ok(d) if d >= Duration::minutes(1) && d <= Duration::days(30) => {
                    c.expires_after = d
                }
                Ok(_) | Err(_) => problems.push(format!(
                    "approvals.expires_after is '{e}'; write a duration from 1m to 30d, like 1h or 2d"
                )),
            }
        }
        if let Some(u) = self
            .console_url
            .map(|u| u.trim().trim_end_matches('/').to_owned())
        {
            if http(&u) && url::Url::parse(&u).is_ok() {
                c.console_url = Some(u);
            } else {
                problems.push(format!(
                    "approvals.console_url is '{u}', which is not an http(s) URL like https://bollard.example.com"
                ));
            }
        }
        c
    }
}

/// The hash that binds an approval to one call: HMAC-SHA256 (hex), under a key derived from
/// the installation secret with a label of its own, of the agent id, the action id, the
/// record id of the path and the arguments as canonical JSON (keys sorted at every depth),
/// each part length-prefixed so no two calls can run together into one string.
///
/// Keyed because the arguments hold people's addresses and numbers in clear, and the hash is
/// kept in the approvals table for good, in the audit chain (an approval's before and after,
/// shipped to a SIEM) and in the admin API: unkeyed, anyone with the rest of a call's record
/// could try candidate addresses against it offline (found in review), where the log keeps
/// only keyed hashes of personal data. `v2`: a request made before this (an unkeyed `v1`
/// hash) matches no call now, so it is asked again.
pub fn call_hash(
    secret: &[u8],
    agent_id: &str,
    action: &str,
    path_id: Option<&str>,
    args: &serde_json::Map<String, Value>,
) -> String {
    use ring::hmac::{HMAC_SHA256, Key, sign};
    // ring's HMAC takes a key of any length, so nothing here can fail (a hash that could come
    // out the same for two calls on an error would let one approval stand for both).
    let key = Key::new(
        HMAC_SHA256,
        sign(&Key::new(HMAC_SHA256, secret), LABEL).as_ref(),
    );
    let mut h = ring::hmac::Context::with_key(&key);
    let canonical = canonical(&Value::Object(args.clone())).to_string();
    for part in [agent_id, action, path_id.unwrap_or(""), canonical.as_str()] {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    format!("{CALL_HASH_PREFIX}{}", hex::encode(h.sign().as_ref()))
}

/// What a keyed call hash starts with. A request made before hashes were keyed has a bare
/// SHA-256 and matches no call now: it is not "another call's" approval, only an old one,
/// and it expires as requests do.
pub const CALL_HASH_PREFIX: &str = "k2:";

/// The call hash's own key is derived from the installation secret under this label.
const LABEL: &[u8] = b"bollard-approval-call-hash-v2";

/// The value with every object's keys sorted (serde_json keeps insertion order here).
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .filter_map(|k| m.get(k).map(|x| (k.clone(), canonical(x))))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => v.clone(),
    }
}

/// "15:30 UTC", with the date when it is not `today`'s ("15:30 UTC on 5 December").
pub fn utc_time(t: OffsetDateTime, today: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let hm = format!("{:02}:{:02} UTC", t.hour(), t.minute());
    if t.date() == today.to_offset(time::UtcOffset::UTC).date() {
        hm
    } else {
        format!("{hm} on {} {}", t.day(), t.month())
    }
}

/// What became of an earlier approval of this call, said before the new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Before {
    /// The approval was used by another call (a replay).
    Used { id: String, by: String },
    /// The request or approval ran out of time.
    Expired { id: String, at: String },
    /// The agent holds an approval for a different call of this action (changed arguments).
    OtherCall { id: String },
}

/// Ask first: the call waits for a person's approval. Bollard created (or reused) the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub agent: String,
    pub approval_id: String,
    /// What the call does, in the infinitive ("add 2 contacts to the sequence seq_1").
    pub what: String,
    /// Why it asks: the decision's clause.
    pub why: String,
    /// When the request expires, as the sentence says it ("15:30 UTC").
    pub expires: String,
    pub before: Option<Before>,
}

impl Pending {
    /// The sentence for the agent (the `error`, the MCP tool error's text).
    pub fn message(&self) -> String {
        let before = match &self.before {
            None => String::new(),
            Some(Before::Used { id, by }) => {
                format!("The approval {id} was for one call, and the call {by} already used it. ")
            }
            Some(Before::Expired { id, at }) => format!(
                "The approval request {id} for this call expired at {at} before it could be used. "
            ),
            Some(Before::OtherCall { id }) => format!(
                "The approval {id} is for a different call: its arguments are not this call's. "
            ),
        };
        format!(
            "{before}A person must approve this call before it runs: {} asked to {}, and {}. Nothing was sent to Apollo; the request is {}. Send the same call again, with exactly the same arguments, after approval; the request expires at {}.",
            self.agent, self.what, self.why, self.approval_id, self.expires
        )
    }

    /// After "because" in the record's sentence.
    pub fn clause(&self) -> String {
        let before = match &self.before {
            None => String::new(),
            Some(Before::Used { id, .. }) => format!(" (its approval {id} was used already)"),
            Some(Before::Expired { id, .. }) => format!(" (its request {id} expired)"),
            Some(Before::OtherCall { id }) => {
                format!(" (the approval {id} is for other arguments)")
            }
        };
        format!(
            "it needs a person's approval ({}){before}; the request {} waits for it until {}",
            self.why, self.approval_id, self.expires
        )
    }
}

/// An approval the call used and gave back: the call was refused after it (by a budget, a
/// limit, or the audit log) before anything was sent, so the approval was not used up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub approval_id: String,
    /// Until when it stays usable ("15:30 UTC").
    pub until: String,
}

impl Kept {
    pub fn message(&self) -> String {
        format!(
            "The approval {} was not used up, because nothing was sent: it stays usable until {}, so the same call runs once this is resolved.",
            self.approval_id, self.until
        )
    }

    pub fn clause(&self) -> String {
        format!(
            "the approval {} was not used up and stays usable until {}",
            self.approval_id, self.until
        )
    }
}

/// A person denied the approval this exact call asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub approval_id: String,
    /// Who denied it, as the record names them.
    pub by: String,
    pub note: Option<String>,
    /// Until when the same call stays denied ("15:30 UTC").
    pub until: String,
}

impl Denied {
    pub fn message(&self) -> String {
        format!(
            "{} denied this exact call (request {}){}. Nothing was sent to Apollo. The same call is refused until {}; change the call or ask the person who denied it.",
            self.by,
            self.approval_id,
            self.note_words(),
            self.until
        )
    }

    pub fn clause(&self) -> String {
        format!(
            "{} denied the approval request {} for this exact call{}",
            self.by,
            self.approval_id,
            self.note_words()
        )
    }

    fn note_words(&self) -> String {
        match self.note.as_deref().filter(|n| !n.trim().is_empty()) {
            Some(n) => format!(", noting \"{}\"", n.chars().take(200).collect::<String>()),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn map(v: Value) -> serde_json::Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }

    const SECRET: &[u8] = b"installation secret";

    #[test]
    fn the_call_hash_ignores_key_order_and_binds_everything_else() {
        let a = map(json!({"contact_ids": ["c1", "c2"], "x": {"b": 1, "a": 2}}));
        let b = map(json!({"x": {"a": 2, "b": 1}, "contact_ids": ["c1", "c2"]}));
        let h = call_hash(SECRET, "agt_1", "sequences.add_contacts", Some("s1"), &a);
        assert_eq!(
            h,
            call_hash(SECRET, "agt_1", "sequences.add_contacts", Some("s1"), &b)
        );
        let reordered = map(json!({"contact_ids": ["c2", "c1"], "x": {"b": 1, "a": 2}}));
        for other in [
            call_hash(SECRET, "agt_2", "sequences.add_contacts", Some("s1"), &a),
            call_hash(SECRET, "agt_1", "sequences.remove_contacts", Some("s1"), &a),
            call_hash(SECRET, "agt_1", "sequences.add_contacts", Some("s2"), &a),
            call_hash(SECRET, "agt_1", "sequences.add_contacts", None, &a),
            call_hash(
                SECRET,
                "agt_1",
                "sequences.add_contacts",
                Some("s1"),
                &reordered,
            ),
        ] {
            assert_ne!(h, other);
        }
    }

    /// Keyed: without the installation secret nobody can test a guessed address against the
    /// hash the approvals table, the admin API and the audit chain keep; and it is not the
    /// unkeyed hash of the same parts.
    #[test]
    fn the_call_hash_is_keyed_by_the_installation_secret() {
        use sha2::{Digest, Sha256};
        let a = map(json!({"contact_ids": ["c1"], "email": "ada@example.com"}));
        let h = call_hash(SECRET, "agt_1", "sequences.add_contacts", Some("s1"), &a);
        assert_eq!(h.len(), 67);
        assert!(h.starts_with(CALL_HASH_PREFIX));
        assert_ne!(
            h,
            call_hash(
                b"another installation",
                "agt_1",
                "sequences.add_contacts",
                Some("s1"),
                &a
            )
        );
        let mut plain = Sha256::new();
        plain.update(b"bollard-approval-v1");
        let canonical = canonical(&Value::Object(a.clone())).to_string();
        for part in ["agt_1", "sequences.add_contacts", "s1", canonical.as_str()] {
            plain.update((part.len() as u64).to_be_bytes());
            plain.update(part.as_bytes());
        }
        assert_ne!(&h[3..], hex::encode(plain.finalize()));
    }

    #[test]
    fn times_carry_the_date_only_when_it_is_not_today() {
        let now = datetime!(2026-12-04 10:00 UTC);
        assert_eq!(utc_time(datetime!(2026-12-04 15:30 UTC), now), "15:30 UTC");
        assert_eq!(
            utc_time(datetime!(2026-12-05 09:05 UTC), now),
            "09:05 UTC on 5 December"
        );
    }

    #[test]
    fn reads_the_approvals_table_and_reports_each_problem() {
        let mut problems = Vec::new();
        let c = FileApprovals {
            notify_url: Some("https://hooks.example.com/x".into()),
            notify_format: Some("slack".into()),
            expires_after: Some("2h".into()),
            console_url: Some("https://bollard.example.com/".into()),
        }
        .resolve(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.notify_format, NotifyFormat::Slack);
        assert_eq!(c.expires_after, Duration::hours(2));
        assert_eq!(
            c.console_url.as_deref(),
            Some("https://bollard.example.com")
        );
        FileApprovals {
            notify_url: Some("ftp://x".into()),
            notify_format: Some("xml".into()),
            expires_after: Some("40d".into()),
            console_url: Some("bollard".into()),
        }
        .resolve(&mut problems);
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}

//! The admin operations, once: the CLI, the admin API and the console are faces of these
//! functions. Every error is a sentence an admin can act on.
//!
//! Every change is on the record: before a change is made, its `admin` entry (who, a
//! sentence, before and after) is committed to the audit chain, the way the gate records a
//! call before forwarding it. If the entry cannot be written the change is not made, so no
//! surface can change the configuration without a trace. Should the change itself then fail,
//! a second entry says so; a crash between the two leaves a record of a change that did not
//! happen, never a change without a record.

pub mod approvals;
pub mod query;
mod record;

use std::collections::HashSet;

use bollard_policy::{Grants, Rule};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::audit::Record;
use crate::audit::change::{self, Actor, Draft, agent_state, grant_clauses, limit_clauses};
use crate::keys::{self, ADMIN_KEY_PREFIX, AGENT_KEY_PREFIX, Secret};
use crate::store::{
    AdminKey, Agent, AgentPatch, AuditFilter, Limits, NewAgent, Store, StoreError, StoredRule,
};
use record::{admin_key_draft, change_agent, draft, record, record_change, then};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(s) => OpsError::NotFound(s),
            StoreError::Conflict(s) => OpsError::Conflict(s),
            StoreError::OutOfRange(s) => OpsError::Invalid(s),
            other => OpsError::Store(other),
        }
    }
}

pub type OpsResult<T> = Result<T, OpsError>;

/// A new agent and its key, which is shown this once.
#[derive(Debug)]
pub struct CreatedAgent {
    pub agent: Agent,
    pub key: Secret,
}

/// Parses "90m", "12h", "30d", "2w" (also "1d12h").
pub fn parse_duration(s: &str) -> OpsResult<Duration> {
    let bad = || {
        OpsError::Invalid(format!(
            "'{s}' is not a duration; write it like 90m, 12h, 30d or 2w."
        ))
    };
    // Whole seconds, added up with checks: `99999999999999w` overflowed `Duration::weeks`
    // and panicked (found in review), and a duration past the longest one is refused before
    // any date is computed from it.
    let too_long = || {
        OpsError::Invalid(format!(
            "'{s}' is longer than {MAX_DURATION_YEARS} years, the longest duration Bollard takes."
        ))
    };
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut any = false;
    for ch in s.trim().chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let n: i64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let unit: i64 = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(too_long)?;
        any = true;
    }
    if !num.is_empty() || !any || total <= 0 {
        return Err(bad());
    }
    let total = Duration::seconds(total);
    if total > Duration::days(365 * MAX_DURATION_YEARS) {
        return Err(too_long());
    }
    Ok(total)
}

/// The longest duration `parse_duration` takes: a time that far from now, either way, is one
/// every store can hold (SQLite keeps times as nanoseconds, for the years 1678 to 2261).
pub const MAX_DURATION_YEARS: i64 = 100;

/// A character no name or description may hold: a control character (an escape sequence
/// that clears an operator's screen, a line break that forges a line of `bollard audit`) or an
/// invisible or direction-changing format character (zero-width spaces and joiners, bidi
/// embeddings, overrides and isolates, the byte-order mark, the soft hyphen, fillers), which
/// lets two names look the same or turns a printed line around (found in review).
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// A description as kept: trimmed, at most 500 characters, nothing [`hidden`].
fn check_description(description: &str) -> OpsResult<String> {
    let d = description.trim();
    if d.chars().count() > 500 || d.chars().any(hidden) {
        return Err(OpsError::Invalid(
            "A description must be at most 500 printable characters on one line.".into(),
        ));
    }
    Ok(d.to_owned())
}

fn check_name(name: &str) -> OpsResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(hidden) {
        return Err(OpsError::Invalid(
            "An agent's name must be 1 to 80 printable characters.".into(),
        ));
    }
    if name.starts_with("agt_") {
        return Err(OpsError::Invalid(
            "An agent's name may not start with 'agt_', which is how agent ids start.".into(),
        ));
    }
    Ok(name.to_owned())
}

/// Refuses a name another agent has, here, before the change's entry is written, rather than
/// in the store after it (the store still refuses it, should two admins race).
async fn name_free(store: &dyn Store, name: &str, except_id: Option<&str>) -> OpsResult<()> {
    match store.find_agent(name).await? {
        Some(other) if Some(other.id.as_str()) != except_id => Err(OpsError::Conflict(format!(
            "An agent named '{name}' already exists; choose another name."
        ))),
        _ => Ok(()),
    }
}

pub async fn create_agent(
    store: &dyn Store,
    by: &Actor,
    name: &str,
    description: &str,
    expires_in: Option<Duration>,
    now: OffsetDateTime,
) -> OpsResult<CreatedAgent> {
    let name = check_name(name)?;
    name_free(store, &name, None).await?;
    let key = keys::generate(AGENT_KEY_PREFIX);
    let new = NewAgent {
        id: crate::store::new_agent_id(),
        name,
        description: check_description(description)?,
        key_hash: key.hash,
        key_prefix: key.shown_prefix,
        expires_at: expires_in.map(|d| now + d),
    };
    let written = record_change(
        store,
        Draft {
            by,
            at: now,
            agent: Some((&new.id, &new.name)),
            what: "agent.create",
            clauses: vec![format!("created the agent {}", new.name)],
            before: serde_json::Value::Null,
            after: serde_json::json!({
                "id": new.id,
                "name": new.name,
                "description": new.description,
                "expires_at": new.expires_at.map(|t| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()),
            }),
        },
    )
    .await?;
    let agent = then(store, &written, async {
        Ok(store.create_agent(new).await?)
    })
    .await?;
    Ok(CreatedAgent {
        agent,
        key: key.secret,
    })
}

pub async fn find_agent(store: &dyn Store, id_or_name: &str) -> OpsResult<Agent> {
    store.find_agent(id_or_name.trim()).await?.ok_or_else(|| {
        OpsError::NotFound(format!(
            "There is no agent named or numbered '{}'. `bollard agent list` shows them.",
            id_or_name.trim()
        ))
    })
}

pub async fn update_agent(
    store: &dyn Store,
    by: &Actor,
    id_or_name: &str,
    patch: AgentPatch,
    now: OffsetDateTime,
) -> OpsResult<Agent> {
    let agent = find_agent(store, id_or_name).await?;
    // The admin API takes an expiry as a time: held to what a duration may be (found in
    // review: 2250 was taken, and 9999-12-31 was recorded before the store refused it). A
    // time already past expires the key at once, as asked.
    if let Some(Some(at)) = patch.expires_at
        && at > now + Duration::days(365 * MAX_DURATION_YEARS)
    {
        return Err(OpsError::Invalid(format!(
            "An expiry more than {MAX_DURATION_YEARS} years ahead is not taken; leave it out (or null) for a key that does not expire."
        )));
    }
    let patch = AgentPatch {
        name: patch.name.map(|n| check_name(&n)).transpose()?,
        description: patch
            .description
            .map(|d| check_description(&d))
            .transpose()?,
        ..patch
    };
    let mut after = agent.clone();
    let mut clauses = Vec::new();
    if let Some(n) = patch.name.as_ref().filter(|n| **n != agent.name) {
        name_free(store, n, Some(&agent.id)).await?;
        clauses.push(format!("renamed the agent {} to {n}", agent.name));
        after.name = n.clone();
    }
    if let Some(d) = patch
        .description
        .as_ref()
        .filter(|d| **d != agent.description)
    {
        clauses.push(format!("changed {}'s description", agent.name));
        after.description = d.clone();
    }
    if let Some(e) = patch.expires_at.filter(|e| *e != agent.expires_at) {
        clauses.push(match e {
            Some(t) => format!(
                "set {} to expire at {}",
                agent.name,
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
            None => format!("removed {}'s expiry", agent.name),
        });
        after.expires_at = e;
    }
    let mut d = draft(by, &agent, "agent.update", clauses);
    d.after = agent_state(&after);
    change_agent(store, &agent, d, store.update_agent(&agent.id, patch)).await
}

pub async fn revoke_agent(
    store: &dyn Store,
    by: &Actor,
    id_or_name: &str,
    now: OffsetDateTime,
) -> OpsResult<Agent> {
    let agent = find_agent(store, id_or_name).await?;
    if agent.revoked_at.is_some() {
        return Ok(agent);
    }
    // A connection is a credential of its agent (issue 13): it ends with it, on the record
    // and in the connections' list, not only in effect.
    let connected: Vec<String> = store
        .oauth()
        .list_connections(Some(&agent.id))
        .await?
        .into_iter()
        .filter(|c| c.revoked_at.is_none())
        .map(|c| c.id)
        .collect();
    let ended = match connected.len() {
        0 => "its key stopped working".to_owned(),
        1 => "its key and its connected assistant stopped working".to_owned(),
        n => format!("its key and its {n} connected assistants stopped working"),
    };
    let mut d = draft(
        by,
        &agent,
        "agent.revoke",
        vec![format!("revoked the agent {}; {ended}", agent.name)],
    );
    d.at = now;
    d.after = agent_state(&Agent {
        revoked_at: Some(now),
        ..agent.clone()
    });
    let change = async {
        let revoked = store.revoke_agent(&agent.id, now).await?;
        for id in &connected {
            store
                .oauth()
                .revoke_connection(id, now, "agent revoked")
                .await?;
        }
        Ok(revoked)
    };
    change_agent(store, &agent, d, change).await
}

/// Refuses to make `what` (a key, a connect link) for an agent past its expiry: it would not
/// work, and the admin would learn that only from an agent's 401 (found in review). The
/// remedy is named: move the expiry first.
pub(crate) fn expired_refuses(agent: &Agent, now: OffsetDateTime, what: &str) -> OpsResult<()> {
    use crate::error::{Refusal, Unauthenticated};
    // The gate's own test; a revoked agent is refused by each caller in its own words.
    match crate::gate::standing(agent, now) {
        Err(Refusal::Unauthenticated(Unauthenticated::Expired { on, .. })) => {
            Err(OpsError::Invalid(format!(
                "{} expired on {on}, so {what} for it would not work; move its expiry first: `bollard agent update {} --expires-in 30d` (or --no-expiry), or expires_at in the admin API's PATCH of the agent.",
                agent.name, agent.id
            )))
        }
        _ => Ok(()),
    }
}

pub async fn rotate_key(
    store: &dyn Store,
    by: &Actor,
    id_or_name: &str,
    now: OffsetDateTime,
) -> OpsResult<CreatedAgent> {
    let agent = find_agent(store, id_or_name).await?;
    if agent.revoked_at.is_some() {
        return Err(OpsError::Invalid(format!(
            "{} is revoked; create a new agent instead of rotating its key.",
            agent.name
        )));
    }
    expired_refuses(&agent, now, "a new key")?;
    // Before and after are the same agent: what changed is the key, which is never recorded.
    let d = draft(
        by,
        &agent,
        "agent.rotate_key",
        vec![format!(
            "gave {} a new key; the old one stopped working",
            agent.name
        )],
    );
    let written = record_change(store, d).await?;
    let key = keys::generate(AGENT_KEY_PREFIX);
    let agent = then(store, &written, async {
        Ok(store
            .rotate_agent_key(&agent.id, key.hash, &key.shown_prefix)
            .await?)
    })
    .await?;
    Ok(CreatedAgent {
        agent,
        key: key.secret,
    })
}

/// Applies CLI words like `people=read reveal=off people.bulk_enrich=off` to the grants.
pub async fn grant(
    store: &dyn Store,
    by: &Actor,
    id_or_name: &str,
    assignments: &[String],
) -> OpsResult<Agent> {
    again_on_conflict(|| async {
        let agent = find_agent(store, id_or_name).await?;
        let grants = apply_grant_words(&agent.grants, assignments)?;
        put_grants(store, by, &agent, grants).await
    })
    .await
}

/// `grants` with the words of `bollard grant` (`people=read`, `reveal=off`) applied.
pub fn apply_grant_words(grants: &Grants, words: &[String]) -> OpsResult<Grants> {
    if words.is_empty() {
        return Err(OpsError::Invalid(
            "Say what to grant, like people=read sequences=full reveal=off.".into(),
        ));
    }
    let mut grants = grants.clone();
    for w in words {
        grants
            .apply(w)
            .map_err(|e| OpsError::Invalid(e.to_string()))?;
    }
    Ok(grants)
}

/// How many times a change relative to what an agent holds (`grant people=read`, `limit
/// --per-minute 60`) is read and made again when another change to the agent came first. Each
/// round of a race has a winner (the store takes one change at a time), so this many changes
/// made at once to one agent all land.
const ATTEMPTS: usize = 16;

/// Runs `change`, and runs it again (reading the agent afresh) when the store found the agent
/// changed since it was read (`Conflict`). Each attempt that lost is on the record as a change
/// that did not take effect.
async fn again_on_conflict<F, Fut>(change: F) -> OpsResult<Agent>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = OpsResult<Agent>>,
{
    let mut attempt = 1;
    loop {
        match change().await {
            Err(OpsError::Conflict(_)) if attempt < ATTEMPTS => attempt += 1,
            done => return done,
        }
    }
}

/// Refuses to change a revoked agent's access or limits: they can never apply again, and the
/// console says so (found in review: only the browser held to it, a posted form changed them).
fn still_changeable(agent: &Agent, what: &str) -> OpsResult<()> {
    match agent.revoked_at {
        Some(at) => Err(OpsError::Invalid(format!(
            "{} was revoked on {}, so its {what} can no longer be changed.",
            agent.name,
            at.date()
        ))),
        None => Ok(()),
    }
}

/// Replaces the grants, after checking that they compile with the agent's rules.
pub async fn put_grants(
    store: &dyn Store,
    by: &Actor,
    agent: &Agent,
    grants: Grants,
) -> OpsResult<Agent> {
    still_changeable(agent, "access")?;
    query::validate_grants(&grants)?;
    let rules = store.list_rules(&agent.id).await?;
    compile_check(agent, &grants, &rules, None)?;
    let mut d = draft(
        by,
        agent,
        "grants",
        grant_clauses(&agent.name, &agent.grants, &grants),
    );
    d.before = serde_json::to_value(&agent.grants).unwrap_or_default();
    d.after = serde_json::to_value(&grants).unwrap_or_default();
    let set = store.set_grants(&agent.id, &agent.grants, &grants);
    change_agent(store, agent, d, set).await
}

/// What the agent can do in plain English: its grid, widened by its `permit` rules and
/// narrowed by its `forbid` rules. The CLI, the admin API and the console show these lines.
pub fn access_summary(agent: &Agent, rules: &[StoredRule]) -> Vec<String> {
    match bollard_policy::AgentPolicy::compile(
        &agent.id,
        &agent.name,
        &agent.grants,
        &as_rules(rules),
    ) {
        Ok(policy) => policy.summary(),
        // Stored rules always compiled when they were added; should one stop compiling, the
        // gateway refuses every call, and the grid alone is the most the summary can say.
        Err(_) => agent.grants.summary(&agent.name),
    }
}

/// `access_summary` with the agent's rules read from the store.
pub async fn agent_summary(store: &dyn Store, agent: &Agent) -> OpsResult<Vec<String>> {
    let rules = store.list_rules(&agent.id).await?;
    Ok(access_summary(agent, &rules))
}

fn as_rules(rules: &[StoredRule]) -> Vec<Rule> {
    rules
        .iter()
        .map(|r| Rule {
            name: r.name.clone(),
            cedar: r.cedar.clone(),
        })
        .collect()
}

fn compile_check(
    agent: &Agent,
    grants: &Grants,
    rules: &[StoredRule],
    extra: Option<Rule>,
) -> OpsResult<()> {
    let mut all = as_rules(rules);
    all.extend(extra);
    bollard_policy::AgentPolicy::compile(&agent.id, &agent.name, grants, &all)
        .map(|_| ())
        .map_err(|e| OpsError::Invalid(e.to_string()))
}

pub async fn add_rule(
    store: &dyn Store,
    by: &Actor,
    id_or_name: &str,
    name: &str,
    cedar: &str,
) -> OpsResult<StoredRule> {
    let agent = find_agent(store, id_or_name).await?;
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(OpsError::Invalid(
            "A rule's name must be 1 to 64 letters, digits, '-' or '_', like only-q4-sequences."
                .into(),
        ));
    }
    // A rule that reads one way and compiles another ("Trojan Source": a direction override
    // turning `forbid … unless` around on screen, a zero-width character inside a string) is
    // refused (found in review). Tabs and line ends (`\n`, `\r\n`) are how rules are written;
    // any other `\r` is hidden, as a terminal returns to the line's start on it.
    if let Some((line, c)) = cedar.split('\n').enumerate().find_map(|(i, l)| {
        let l = l.strip_suffix('\r').unwrap_or(l);
        l.chars()
            .find(|c| *c != '\t' && hidden(*c))
            .map(|c| (i + 1, c))
    }) {
        return Err(OpsError::Invalid(format!(
            "The rule holds an invisible or direction-changing character (U+{:04X}) on line {line}, so it would not read as it works; remove it.",
            u32::from(c)
        )));
    }
    bollard_policy::decide::check_rule(cedar).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let rules = store.list_rules(&agent.id).await?;
    if rules.iter().any(|r| r.name == name) {
        return Err(OpsError::Conflict(format!(
            "{} already has a rule named '{name}'. Remove it first, or choose another name.",
            agent.name
        )));
    }
    compile_check(
        &agent,
        &agent.grants,
        &rules,
        Some(Rule {
            name: name.to_owned(),
            cedar: cedar.to_owned(),
        }),
    )?;
    let mut d = draft(
        by,
        &agent,
        "rule.add",
        vec![format!("added the rule '{name}' to {}", agent.name)],
    );
    d.before = serde_json::Value::Null;
    d.after = serde_json::json!({"name": name, "cedar": cedar});
    let written = record_change(store, d).await?;
    then(store, &written, async {
        Ok(store.add_rule(&agent.id, name, cedar).await?)
    })
    .await
}

/// Sentences about a rule that compiles but fails to evaluate for some actions when a call
/// sends none of the optional arguments (usually `context.args.x` without `context.args has
/// x`). Such a rule denies those calls, because a rule that fails never lets a call through;
/// the admin should know before an agent finds out.
pub async fn rule_warnings(
    store: &dyn Store,
    id_or_name: &str,
    rule: &str,
) -> OpsResult<Vec<String>> {
    let live = query::live_agent(store, id_or_name).await?;
    let Ok(policy) = &live.policy else {
        return Ok(Vec::new());
    };
    let id = format!("rule:{rule}");
    let bare = bollard_policy::Args::default();
    let failing: Vec<&str> = bollard_policy::catalog()
        .iter()
        .filter(|a| {
            let d = bollard_policy::decide(policy, a, &bare, Some("x"));
            !d.allowed && d.rule_ids.contains(&id) && d.because.is_rule_failure()
        })
        .map(|a| a.title)
        .collect();
    if failing.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![format!(
        "The rule '{rule}' cannot be evaluated for a call that sends no arguments, so such calls are refused: {}. If it reads an optional argument, guard it, as in `context.args has per_page && context.args.per_page > 25`.",
        failing.join(", ")
    )])
}

pub async fn list_rules(store: &dyn Store, id_or_name: &str) -> OpsResult<Vec<StoredRule>> {
    let agent = find_agent(store, id_or_name).await?;
    Ok(store.list_rules(&agent.id).await?)
}

pub async fn remove_rule(
    store: &dyn Store,
    by: &Actor,
    id_or_name: &str,
    name: &str,
) -> OpsResult<()> {
    let agent = find_agent(store, id_or_name).await?;
    let rules = store.list_rules(&agent.id).await?;
    let Some(rule) = rules.iter().find(|r| r.name == name) else {
        // The store's own sentence for a rule that is not there.
        return Ok(store.remove_rule(&agent.id, name).await?);
    };
    let mut d = draft(
        by,
        &agent,
        "rule.remove",
        vec![format!("removed the rule '{name}' from {}", agent.name)],
    );
    d.before = change::rule_state(rule);
    d.after = serde_json::Value::Null;
    let Some(written) = record(store, d).await? else {
        return Ok(());
    };
    then(store, &written, async {
        Ok(store.remove_rule(&agent.id, name).await?)
    })
    .await
}

/// A change to some limits; `Some(None)` clears one.
#[derive(Debug, Clone, Default)]
pub struct LimitsPatch {
    pub per_minute: Option<Option<u64>>,
    pub per_hour: Option<Option<u64>>,
    pub per_day: Option<Option<u64>>,
    pub credits_per_day: Option<Option<u64>>,
    pub credits_per_month: Option<Option<u64>>,
    pub team_share_percent: Option<Option<u8>>,
    /// Request limits for single actions.
    pub actions: Vec<ActionLimitsPatch>,
}

/// A change to one action's request limits; `Some(None)` clears one.
#[derive(Debug, Clone, Default)]
pub struct ActionLimitsPatch {
    pub action: String,
    pub per_minute: Option<Option<u64>>,
    pub per_hour: Option<Option<u64>>,
    pub per_day: Option<Option<u64>>,
}

pub async fn set_limits(
    store: &dyn Store,
    by: &Actor,
    id_or_name: &str,
    patch: LimitsPatch,
) -> OpsResult<Agent> {
    again_on_conflict(|| async {
        let agent = find_agent(store, id_or_name).await?;
        let limits = patch.apply(&agent.limits);
        put_limits(store, by, &agent, limits).await
    })
    .await
}

impl LimitsPatch {
    /// The limits with this patch applied: `Some(None)` clears a limit, `None` keeps it.
    pub fn apply(&self, limits: &Limits) -> Limits {
        let mut l = limits.clone();
        let set = |to: &mut Option<u64>, patch: Option<Option<u64>>| {
            if let Some(v) = patch {
                *to = v;
            }
        };
        set(&mut l.per_minute, self.per_minute);
        set(&mut l.per_hour, self.per_hour);
        set(&mut l.per_day, self.per_day);
        set(&mut l.credits_per_day, self.credits_per_day);
        set(&mut l.credits_per_month, self.credits_per_month);
        if let Some(v) = self.team_share_percent {
            l.team_share_percent = v;
        }
        for a in &self.actions {
            let entry = l.actions.entry(a.action.clone()).or_default();
            set(&mut entry.per_minute, a.per_minute);
            set(&mut entry.per_hour, a.per_hour);
            set(&mut entry.per_day, a.per_day);
        }
        l.actions
            .retain(|_, r| r.per_minute.is_some() || r.per_hour.is_some() || r.per_day.is_some());
        l
    }
}

pub async fn put_limits(
    store: &dyn Store,
    by: &Actor,
    agent: &Agent,
    limits: Limits,
) -> OpsResult<Agent> {
    still_changeable(agent, "limits")?;
    if let Some(p) = limits.team_share_percent
        && !(1..=100).contains(&p)
    {
        return Err(OpsError::Invalid(
            "A team share is a percentage from 1 to 100.".into(),
        ));
    }
    let unknown: Vec<&String> = limits
        .actions
        .keys()
        .filter(|a| bollard_policy::by_id(a).is_none())
        .collect();
    if let Some(a) = unknown.first() {
        return Err(OpsError::Invalid(format!(
            "'{a}' is not an action id; `bollard` actions look like people.search or sequences.add_contacts."
        )));
    }
    let mut d = draft(
        by,
        agent,
        "limits",
        limit_clauses(&agent.name, &agent.limits, &limits),
    );
    d.before = serde_json::to_value(&agent.limits).unwrap_or_default();
    d.after = serde_json::to_value(&limits).unwrap_or_default();
    let set = store.set_limits(&agent.id, &agent.limits, &limits);
    change_agent(store, agent, d, set).await
}

/// A new admin key, shown this once.
pub async fn create_admin_key(
    store: &dyn Store,
    by: &Actor,
    name: &str,
) -> OpsResult<(AdminKey, Secret)> {
    let name = match name.trim() {
        "" => "admin",
        n if n.chars().count() > 80 || n.chars().any(hidden) => {
            return Err(OpsError::Invalid(
                "An admin key's name must be at most 80 printable characters.".into(),
            ));
        }
        n => n,
    };
    let key = keys::generate(ADMIN_KEY_PREFIX);
    let written = record_change(
        store,
        admin_key_draft(
            by,
            "admin_key.create",
            format!("created the admin key {name}"),
            serde_json::Value::Null,
            serde_json::json!({"name": name}),
        ),
    )
    .await?;
    let stored = then(store, &written, async {
        Ok(store
            .create_admin_key(name, key.hash, &key.shown_prefix)
            .await?)
    })
    .await?;
    Ok((stored, key.secret))
}

pub async fn list_admin_keys(store: &dyn Store) -> OpsResult<Vec<AdminKey>> {
    Ok(store.list_admin_keys().await?)
}

/// Revokes an admin key by id or name; its console sessions end too.
pub async fn revoke_admin_key(
    store: &dyn Store,
    by: &Actor,
    id_or_name: &str,
    now: OffsetDateTime,
) -> OpsResult<AdminKey> {
    let wanted = id_or_name.trim();
    let keys = store.list_admin_keys().await?;
    let by_id = keys.iter().find(|k| k.id == wanted);
    let by_name: Vec<&AdminKey> = keys
        .iter()
        .filter(|k| k.name == wanted && k.revoked_at.is_none())
        .collect();
    let key = match (by_id, by_name.as_slice()) {
        (Some(k), _) => k,
        (None, [k]) => k,
        (None, []) => {
            return Err(OpsError::NotFound(format!(
                "There is no admin key named or numbered '{wanted}'. `bollard admin-key list` shows them."
            )));
        }
        (None, _) => {
            return Err(OpsError::Invalid(format!(
                "Several admin keys are named '{wanted}'; revoke one by its id (`bollard admin-key list`)."
            )));
        }
    };
    if key.revoked_at.is_some() {
        return Ok(key.clone());
    }
    let after = AdminKey {
        revoked_at: Some(now),
        ..key.clone()
    };
    let written = record_change(
        store,
        admin_key_draft(
            by,
            "admin_key.revoke",
            format!("revoked the admin key {}", key.name),
            change::admin_key_state(key),
            change::admin_key_state(&after),
        ),
    )
    .await?;
    then(store, &written, async {
        Ok(store.revoke_admin_key(&key.id, now).await?)
    })
    .await
}

/// One line of `bollard audit`: a call, with its latest sentence.
#[derive(Debug, Clone, Serialize)]
pub struct AuditLine {
    pub seq: i64,
    #[serde(flatten)]
    pub record: Record,
    /// For an allowed call whose outcome was never recorded (the gateway stopped mid-call).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub outcome_missing: bool,
}

async fn has_outcome(store: &dyn Store, request_id: &str) -> OpsResult<bool> {
    let found = store
        .query_audit(&AuditFilter {
            request_id: Some(request_id.to_owned()),
            kind: Some("outcome".into()),
            limit: 1,
            ..AuditFilter::default()
        })
        .await?;
    Ok(!found.is_empty())
}

/// Newest first, one line per call: the outcome entry where there is one, otherwise the
/// decision entry. Returns the lines and the cursor for the next page.
pub async fn audit_lines(
    store: &dyn Store,
    filter: &AuditFilter,
) -> OpsResult<(Vec<AuditLine>, Option<i64>)> {
    let want = filter.limit.clamp(1, 1000) as usize;
    let mut out = Vec::new();
    let mut seen_outcome: HashSet<String> = HashSet::new();
    let mut before = filter.before_seq;
    loop {
        let page = store
            .query_audit(&AuditFilter {
                before_seq: before,
                limit: (want * 2).max(50) as u32,
                ..filter.clone()
            })
            .await?;
        let exhausted = page.is_empty();
        for e in page {
            before = Some(e.seq);
            let record: Record = serde_json::from_str(&e.content)
                .map_err(|err| OpsError::Store(StoreError::Corrupt(err.to_string())))?;
            if e.kind == "outcome" {
                seen_outcome.insert(e.request_id.clone());
                out.push(AuditLine {
                    seq: e.seq,
                    record,
                    outcome_missing: false,
                });
            } else if !seen_outcome.contains(&e.request_id) {
                // An allowed call's outcome is newer than its decision; on a later page it
                // was shown already, so look before calling it missing.
                let missing =
                    record.decision == "allowed" && !has_outcome(store, &e.request_id).await?;
                if record.decision == "allowed" && !missing {
                    continue;
                }
                out.push(AuditLine {
                    seq: e.seq,
                    record,
                    outcome_missing: missing,
                });
            }
            if out.len() >= want {
                return Ok((out, before));
            }
        }
        if exhausted {
            return Ok((out, None));
        }
    }
}

/// Use of one rate window against its limit.
#[derive(Debug, Clone, Serialize)]
pub struct WindowUse {
    /// "all", an action id, or "team:<action id>".
    pub scope: String,
    pub window: &'static str,
    pub used: u64,
    pub limit: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub resets_at: OffsetDateTime,
}

/// Credits spent and reserved in one budget period.
#[derive(Debug, Clone, Serialize)]
pub struct CreditUse {
    pub period: String,
    pub spent: f64,
    pub reserved: f64,
    /// `None`: no budget for this period.
    pub limit: Option<f64>,
    #[serde(with = "time::serde::rfc3339")]
    pub resets_at: OffsetDateTime,
}

/// A price learned from Apollo's bills (see `store::prices`): calls of `action` reserve
/// `factor` times the price table's price.
#[derive(Debug, Clone, Serialize)]
pub struct LearnedPriceUse {
    pub action: String,
    pub title: String,
    pub factor: f64,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

impl LearnedPriceUse {
    pub fn line(&self) -> String {
        format!(
            "Apollo has billed '{}' at up to {}x the price table's price (since {}); its calls reserve at that price.",
            self.title,
            self.factor,
            self.since
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute] UTC"
                ))
                .unwrap_or_default()
        )
    }
}

/// The learned prices of every action that has one.
pub async fn learned_prices(store: &dyn Store) -> OpsResult<Vec<LearnedPriceUse>> {
    Ok(store
        .learned_prices()
        .await?
        .into_iter()
        .map(|l| LearnedPriceUse {
            title: bollard_policy::by_id(&l.action)
                .map_or_else(|| l.action.clone(), |a| a.title.to_owned()),
            action: l.action,
            factor: l.factor_milli as f64 / 1000.0,
            since: l.learned_at,
        })
        .collect())
}

/// Forgets every learned price (after the price table was corrected to the plan's prices),
/// on the record. How many were forgotten.
pub async fn forget_learned_prices(store: &dyn Store, by: &Actor) -> OpsResult<usize> {
    let learned = learned_prices(store).await?;
    if learned.is_empty() {
        return Ok(0);
    }
    let titles: Vec<String> = learned.iter().map(|l| format!("'{}'", l.title)).collect();
    let draft = Draft {
        by,
        at: OffsetDateTime::now_utc(),
        agent: None,
        what: "prices.forget",
        clauses: vec![if titles.len() == 1 {
            format!(
                "forgot the price Apollo was seen to bill for {}, so its calls reserve at the price table's price again",
                titles.join(", ")
            )
        } else {
            format!(
                "forgot the prices Apollo was seen to bill for {}, so their calls reserve at the price table's prices again",
                titles.join(", ")
            )
        }],
        before: serde_json::to_value(&learned).unwrap_or_default(),
        after: serde_json::Value::Array(Vec::new()),
    };
    let Some(written) = record(store, draft).await? else {
        return Ok(0);
    };
    then(store, &written, async {
        store.forget_prices().await?;
        Ok(learned.len())
    })
    .await
}

#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub requests: Vec<WindowUse>,
    pub credits: Vec<CreditUse>,
    /// Team-wide: prices Apollo was seen to charge above the price table.
    pub learned_prices: Vec<LearnedPriceUse>,
}

impl Usage {
    /// Plain-English lines, e.g. "12 of 60 requests this minute (resets in 41 seconds)".
    pub fn lines(&self, now: OffsetDateTime) -> Vec<String> {
        let resets = |t: OffsetDateTime| {
            let secs = (t - now).whole_seconds().max(0);
            if secs < 120 {
                format!("{secs} s")
            } else if secs < 7200 {
                format!("{} min", secs / 60)
            } else {
                format!("{} h", secs / 3600)
            }
        };
        let mut out = Vec::new();
        for w in &self.requests {
            let what = match w.scope.as_str() {
                "all" => "requests".to_owned(),
                s => match s.strip_prefix("team:") {
                    Some(a) => format!("of its share of the team's {a} calls"),
                    None => format!("{s} requests"),
                },
            };
            out.push(format!(
                "{} of {} {what} this {} (resets in {})",
                w.used,
                w.limit,
                w.window,
                resets(w.resets_at)
            ));
        }
        for c in &self.credits {
            let label = if c.period == "day" {
                "today"
            } else {
                "this month"
            };
            let reserved = if c.reserved > 0.0 {
                format!(", {} reserved", c.reserved)
            } else {
                String::new()
            };
            out.push(match c.limit {
                Some(l) if c.spent > l => format!(
                    "{} of {l} credits {label}{reserved}: {} over the budget, because Apollo billed more than was reserved; no more credits can be spent until it resets in {}",
                    c.spent,
                    (c.spent - l),
                    resets(c.resets_at)
                ),
                Some(l) => format!(
                    "{} of {l} credits {label}{reserved} (resets in {})",
                    c.spent,
                    resets(c.resets_at)
                ),
                None => format!(
                    "{} credits {label}{reserved} (no budget for this period)",
                    c.spent
                ),
            });
        }
        out.extend(self.learned_prices.iter().map(LearnedPriceUse::line));
        out
    }
}

/// An agent's use of each of its limits and budgets right now.
pub async fn agent_usage(
    store: &dyn Store,
    agent: &Agent,
    now: OffsetDateTime,
) -> OpsResult<Usage> {
    use crate::limits::{budget_periods, from_milli, is_unbounded, period_end, window_start};
    use crate::store::WindowCheck;
    let l = &agent.limits;
    let mut scopes: Vec<(String, [Option<u64>; 3])> =
        vec![("all".into(), [l.per_minute, l.per_hour, l.per_day])];
    for (id, r) in &l.actions {
        scopes.push((id.clone(), [r.per_minute, r.per_hour, r.per_day]));
    }
    let mut requests = Vec::new();
    for (scope, limits) in scopes {
        let windows: Vec<WindowCheck> = ["minute", "hour", "day"]
            .into_iter()
            .zip(limits)
            .filter_map(|(w, lim)| {
                lim.map(|limit| WindowCheck {
                    window: w,
                    start: window_start(now, w),
                    limit,
                })
            })
            .collect();
        if windows.is_empty() {
            continue;
        }
        let counts = store.rate_counts(&agent.id, &scope, &windows).await?;
        for (w, used) in windows.iter().zip(counts) {
            requests.push(WindowUse {
                scope: scope.clone(),
                window: w.window,
                used,
                limit: w.limit,
                resets_at: period_end(w.window, w.start),
            });
        }
    }
    let periods = budget_periods(l, now);
    let credits = store
        .budget_usage(&agent.id, &periods)
        .await?
        .into_iter()
        .zip(&periods)
        .map(|(u, p)| CreditUse {
            period: u.period.clone(),
            spent: from_milli(u.spent_milli),
            reserved: from_milli(u.reserved_milli),
            limit: (!is_unbounded(p.limit_milli)).then(|| from_milli(p.limit_milli)),
            resets_at: period_end(p.period, p.start),
        })
        .collect();
    Ok(Usage {
        requests,
        credits,
        learned_prices: learned_prices(store).await?,
    })
}

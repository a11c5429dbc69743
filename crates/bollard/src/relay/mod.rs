//! The webhook relay (#11): Apollo's asynchronous deliveries come through Bollard.
//!
//! Apollo sends phone numbers and waterfall results later, by POSTing them to the call's
//! `webhook_url`. Sent straight to the agent's address, they would never be seen, recorded
//! or checked against the agent's grants. So when `public_url` is set, the gate replaces the
//! agent's `webhook_url` in what it forwards with a single-use address of Bollard's own
//! (`{public_url}/hooks/relay/{token}`), stored as the token's SHA-256 digest with the agent,
//! the call and the agent's address (`store::relays`). When Apollo delivers:
//!
//! 1. the address is claimed (once, across replicas); an unknown, used or expired address
//!    takes nothing, and is recorded under the same per-source throttle as a call without a
//!    valid key, so strangers cannot fill the disk;
//! 2. the agent's grants *now* decide: a revoked or expired agent, or one whose access to
//!    the action was turned off, gets nothing; one that may no longer reveal gets the
//!    delivery without its personal fields; an address no longer under an allowed prefix
//!    gets nothing;
//! 3. the delivery is recorded durably before anything is forwarded ("Apollo delivered 1
//!    phone number for a person at acme.com for Sales Agent's call …"), with counts only:
//!    the payload is never stored;
//! 4. Apollo is answered, and the payload is forwarded to the agent's address from memory,
//!    retried with backoff for `keep_undelivered`, and the outcome recorded.
//!
//! Trade-off, on purpose: an undelivered payload is kept in memory only (bounded in time and
//! count), never on disk, because it is a person's data; a restart drops what was still
//! waiting, and the record says so.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bollard_policy::Args;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::Record;
use crate::directory::LiveAgent;
use crate::gate::Gate;
use crate::gate::personal::RecordKind;
use crate::store::relays::{Claim, Relay, RelayState};

mod phone;

/// Where Apollo delivers, under `public_url`.
pub const PATH_PREFIX: &str = "/hooks/relay/";

/// A relay address's token: this many random bytes, in hex after [`PATH_PREFIX`].
const TOKEN_BYTES: usize = 32;
/// Deliveries waiting in memory for the agent's address, at most (past it, new ones are
/// dropped and recorded so).
pub const MAX_WAITING: usize = 1000;

/// `[webhook_relay]` in the configuration. The relay is on whenever `public_url` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// How long a relay address waits for Apollo's delivery.
    pub expires_after: Duration,
    /// How long a delivery the agent's address refuses is retried, from memory.
    pub keep_undelivered: Duration,
    /// The first retry's delay; each next one doubles it (at most a minute). Not a file
    /// setting: tests shorten it.
    pub first_retry: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            expires_after: Duration::from_secs(24 * 3600),
            keep_undelivered: Duration::from_secs(3600),
            first_retry: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRelay {
    expires_after_seconds: Option<u64>,
    keep_undelivered_seconds: Option<u64>,
}

impl FileRelay {
    /// Applies the file's values over the defaults, naming any problem.
    pub fn apply(self, into: &mut RelayConfig, problems: &mut Vec<String>) {
        for (value, field, name) in [
            (
                self.expires_after_seconds,
                &mut into.expires_after,
                "expires_after_seconds",
            ),
            (
                self.keep_undelivered_seconds,
                &mut into.keep_undelivered,
                "keep_undelivered_seconds",
            ),
        ] {
            match value {
                Some(0) => {
                    problems.push(format!("[webhook_relay] {name} must be at least 1 second"))
                }
                Some(s) => *field = Duration::from_secs(s),
                None => {}
            }
        }
    }
}

/// The relay of one process: where its addresses live and the deliveries it is forwarding.
#[derive(Debug, Clone)]
pub struct Relayer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `{public_url}/hooks/relay/`.
    base: String,
    config: RelayConfig,
    client: reqwest::Client,
    tracker: TaskTracker,
    stop: CancellationToken,
    waiting: AtomicUsize,
}

impl Relayer {
    pub fn new(public_url: &str, config: RelayConfig) -> Self {
        let client = reqwest::Client::builder()
            // The agent's address was checked against the prefixes; a redirect could lead
            // anywhere, so none is followed.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                base: format!("{}{PATH_PREFIX}", public_url.trim_end_matches('/')),
                config,
                client,
                tracker: TaskTracker::new(),
                stop: CancellationToken::new(),
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// Opens a single-use address for the delivery of `request_id`, for `agent_id`'s address
    /// `target`; returns the address to give Apollo.
    pub async fn open(
        &self,
        gate: &Gate,
        request_id: &str,
        agent_id: &str,
        action: &str,
        target: &str,
    ) -> crate::store::StoreResult<String> {
        use rand::RngCore;
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let now = gate.clock().now();
        gate.store()
            .open_relay(&Relay {
                token_hash: token_hash(&token),
                request_id: request_id.to_owned(),
                agent_id: agent_id.to_owned(),
                action: action.to_owned(),
                target: target.to_owned(),
                created_at: now,
                expires_at: now + self.inner.config.expires_after,
                state: RelayState::Open,
                attempts: 0,
            })
            .await?;
        Ok(format!("{}{token}", self.inner.base))
    }

    /// Stops retrying: what is still waiting is dropped and recorded so. Returns once every
    /// delivery task has ended.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }

    /// Deliveries waiting for the agent's address, now.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }
}

/// Forgets expired addresses now and then (at start too), so the table holds only what can
/// still take a delivery, or just took one.
pub async fn purge_every(gate: Gate, every: Duration, stop: CancellationToken) {
    loop {
        match gate.store().purge_relays(gate.clock().now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(addresses = n, "expired webhook relay addresses forgotten"),
            Err(e) => {
                tracing::warn!(error = %e, "expired webhook relay addresses could not be forgotten")
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The route Apollo delivers to, on the agent listener.
pub fn router(gate: Gate, body_limit: usize) -> Router {
    Router::new()
        .route("/hooks/relay/{token}", post(receive))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(gate)
}

/// What the agent's grants, now, make of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Forward,
    /// Forwarded without its personal fields.
    Redact,
    /// Not forwarded, for this reason (a clause: "because …").
    Drop(String),
}

fn verdict(
    live: Option<&LiveAgent>,
    relay: &Relay,
    prefixes: &[String],
    now: OffsetDateTime,
) -> Verdict {
    let Some(live) = live else {
        return Verdict::Drop("because the agent no longer exists".into());
    };
    let agent = &live.agent;
    if let Some(at) = agent.revoked_at {
        return Verdict::Drop(format!(
            "because {} was revoked on {}",
            agent.name,
            at.date()
        ));
    }
    if let Some(at) = agent.expires_at.filter(|at| *at <= now) {
        return Verdict::Drop(format!("because {} expired on {}", agent.name, at.date()));
    }
    match bollard_policy::catalog::by_id(&relay.action) {
        Some(a) if agent.grants.allows(a) => {}
        Some(a) => {
            return Verdict::Drop(format!(
                "because {} may no longer use '{}'",
                agent.name,
                a.group.title()
            ));
        }
        None => return Verdict::Drop("because its action is no longer governed".into()),
    }
    if !crate::gate::webhook::allowed(&relay.target, prefixes) {
        return Verdict::Drop(
            "because the agent's webhook address is no longer under an allowed prefix".into(),
        );
    }
    if agent.grants.reveal {
        Verdict::Forward
    } else {
        Verdict::Redact
    }
}

/// How many phone numbers and emails a delivery carries, and for whom, in words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Contents {
    phones: usize,
    emails: usize,
    people: usize,
    /// The employer's domain, when the delivery is for one person.
    domain: Option<String>,
}

fn contents(payload: &Value) -> Contents {
    let mut phones = std::collections::BTreeSet::new();
    let mut emails = std::collections::BTreeSet::new();
    collect(payload, RecordKind::Person, false, &mut phones, &mut emails);
    let people: Vec<&Value> = match payload.get("people").and_then(Value::as_array) {
        Some(list) => list.iter().filter(|p| p.is_object()).collect(),
        None => payload
            .get("person")
            .filter(|p| p.is_object())
            .into_iter()
            .collect(),
    };
    let domain = match people.as_slice() {
        [one] => one
            .pointer("/organization/primary_domain")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty() && d.len() <= 60)
            .map(str::to_owned),
        _ => None,
    };
    Contents {
        phones: phones.len(),
        emails: emails.len(),
        people: people.len(),
        domain,
    }
}

/// Gathers the personal values of a delivery (as redaction would find them), phone numbers
/// as their digits and emails in lower case, so that one number given as `raw_number`,
/// `sanitized_number` and `sanitized_phone`, or one person in both `person` and `people`,
/// counts once.
fn collect(
    v: &Value,
    kind: RecordKind,
    personal: bool,
    phones: &mut std::collections::BTreeSet<String>,
    emails: &mut std::collections::BTreeSet<String>,
) {
    match v {
        Value::Object(m) => {
            for (key, child) in m {
                let inside = personal || kind.is_personal(key);
                let email = key.to_ascii_lowercase().contains("email");
                match child {
                    Value::String(s) if inside && email && s.contains('@') => {
                        emails.insert(s.to_ascii_lowercase());
                    }
                    Value::String(s) if inside && !email => {
                        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
                        // The last ten digits: "+1 415 555 0100" and "(415) 555-0100" are one.
                        let tail = digits.get(digits.len().saturating_sub(10)..).unwrap_or("");
                        if tail.len() >= 5 {
                            phones.insert(tail.to_owned());
                        }
                    }
                    _ => collect(child, kind.child(key), inside, phones, emails),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|x| collect(x, kind, personal, phones, emails)),
        Value::String(s) if personal && s.contains('@') => {
            emails.insert(s.to_ascii_lowercase());
        }
        _ => {}
    }
}

impl Contents {
    /// "1 phone number for a person at acme.com", "3 phone numbers and 2 emails for 2
    /// people", "nothing personal for a person".
    fn describe(&self) -> String {
        let n =
            |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
        let what = match (self.phones, self.emails) {
            (0, 0) => "no phone number or email".to_owned(),
            (p, 0) => n(p, "phone number", "phone numbers"),
            (0, e) => n(e, "email", "emails"),
            (p, e) => format!(
                "{} and {}",
                n(p, "phone number", "phone numbers"),
                n(e, "email", "emails")
            ),
        };
        let whom = match (self.people, &self.domain) {
            (1, Some(d)) => format!("a person at {d}"),
            (0 | 1, _) => "a person".to_owned(),
            (k, _) => format!("{k} people"),
        };
        format!("{what} for {whom}")
    }
}

/// The host an agent's address names, for sentences (never its path or query, which may
/// carry the agent's own secret).
fn host_of(target: &str) -> String {
    url::Url::parse(target)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "its address".into())
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn receive(
    State(gate): State<Gate>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let Some(relayer) = gate.relay() else {
        return plain(StatusCode::NOT_FOUND, "The webhook relay is off.");
    };
    let request_id = crate::rest::new_request_id();
    let now = gate.clock().now();
    // A token is 64 hex digits; anything else is no address of ours, and is not even looked
    // up.
    let claim = if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        match gate.store().claim_relay(&token_hash(&token), now).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(request_id = %request_id, error = %e, "the relay could not read its addresses");
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Bollard cannot take this delivery now; send it again later.",
                );
            }
        }
    } else {
        Claim::Unknown
    };
    let relay = match claim {
        Claim::Claimed(r) => r,
        Claim::Spent(r) => {
            let live = gate.directory().by_id(&r.agent_id);
            let name = live.as_ref().map_or("an agent", |l| l.agent.name.as_str());
            let why = if r.state == RelayState::Open {
                "it expired"
            } else {
                "it takes one delivery and had one"
            };
            let sentence = format!(
                "A delivery to the relay address of {name}'s call {} was refused, because {why}. Nothing was forwarded.",
                r.request_id
            );
            record_refused(&gate, &request_id, peer, Some(&r), (410, sentence)).await;
            return plain(
                StatusCode::GONE,
                "This relay address takes no more deliveries.",
            );
        }
        Claim::Unknown => {
            let sentence =
                "A delivery to an unknown relay address was refused. Nothing was forwarded."
                    .to_owned();
            record_refused(&gate, &request_id, peer, None, (404, sentence)).await;
            return plain(StatusCode::NOT_FOUND, "No such relay address.");
        }
    };
    let live = gate.directory().by_id(&relay.agent_id);
    let agent_name = live
        .as_ref()
        .map_or_else(|| "a removed agent".to_owned(), |l| l.agent.name.clone());
    let payload: Option<Value> = serde_json::from_slice(&body).ok().filter(Value::is_object);
    let mut verdict = verdict(
        live.as_deref(),
        &relay,
        &gate.settings().webhook_prefixes,
        now,
    );
    if payload.is_none() {
        // Its contents cannot be checked, so they are not passed on.
        verdict = Verdict::Drop("because it was not a JSON object".into());
    }
    let inside = payload.as_ref().map(contents).unwrap_or_default();
    let what = format!(
        "Apollo delivered {} for {agent_name}'s call {} ({})",
        inside.describe(),
        relay.request_id,
        relay.action
    );
    let unfound = match &payload {
        Some(_) if inside.phones == 0 => phone::unfound(&gate, &relay, inside.people).await,
        _ => None,
    };
    let host = host_of(&relay.target);
    let mut decided = match &verdict {
        Verdict::Forward => format!("{what}: relayed to its webhook at {host}."),
        Verdict::Redact => format!(
            "{what}: relayed to its webhook at {host} without the phone numbers and emails, because {agent_name} may no longer reveal personal data."
        ),
        Verdict::Drop(why) => format!("{what}: not forwarded, {why}."),
    };
    if let Some(u) = &unfound {
        decided.push_str(&u.clause());
    }
    let mut rec = delivery_record(
        Some(&relay),
        &request_id,
        peer,
        Some(agent_name.clone()),
        now,
    );
    rec.decision = match verdict {
        Verdict::Drop(_) => "denied",
        _ => "allowed",
    }
    .into();
    rec.reason = match &verdict {
        Verdict::Forward => "relayed".into(),
        Verdict::Redact => "relayed without personal data".into(),
        Verdict::Drop(why) => why.trim_start_matches("because ").to_owned(),
    };
    rec.sentence = decided;
    rec.result = Some(json!({
        "phone_numbers": inside.phones,
        "emails": inside.emails,
        "people": inside.people,
    }));
    // On record before anything is forwarded, or nothing is: the address opens again, and
    // Apollo is asked to deliver later.
    let rec = match gate.audit().write_durable(Box::new(rec)).await {
        Ok(written) => written,
        Err(e) => {
            tracing::error!(request_id = %request_id, error = %e, "audit write failed; a delivery is refused");
            let _ = gate
                .store()
                .finish_relay(&relay.token_hash, RelayState::Open, relay.attempts)
                .await;
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "Bollard cannot record this delivery now; send it again later.",
            );
        }
    };
    if let Some(u) = unfound {
        u.release(&gate, &relay).await;
    }
    let mut payload = match (verdict, payload) {
        (Verdict::Forward, Some(p)) => p,
        (Verdict::Redact, Some(mut p)) => {
            crate::gate::redact(&mut p);
            p
        }
        _ => {
            let _ = gate
                .store()
                .finish_relay(&relay.token_hash, RelayState::Dropped, 0)
                .await;
            return accepted();
        }
    };
    if let Value::Object(m) = &mut payload {
        // Nothing of the relay's own address goes back to the agent.
        strip_relay_addresses(m, &relayer.inner.base);
    }
    if relayer.inner.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
        relayer.inner.waiting.fetch_sub(1, Ordering::Relaxed);
        let mut out = rec;
        out.kind = "outcome".into();
        out.sentence = format!(
            "{what}: not forwarded, because {MAX_WAITING} deliveries were already waiting for their agents' addresses."
        );
        let _ = gate.audit().write(out).await;
        let _ = gate
            .store()
            .finish_relay(&relay.token_hash, RelayState::Dropped, 0)
            .await;
        return accepted();
    }
    let task = deliver(gate.clone(), relayer.clone(), relay, rec, what, payload);
    relayer.inner.tracker.spawn(task);
    accepted()
}

fn accepted() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "accepted" }))).into_response()
}

/// Apollo's own answer to a call whose `webhook_url` Bollard replaced, with the token of
/// every relay address in it removed (the address is left, harmless, without it); `None`
/// when it holds none. Apollo may echo the address it was given, and an agent that learnt
/// its token could post to it first, claiming the single-use address before Apollo's
/// delivery (found in review). Bytes, not a tree: whatever the answer's shape, and JSON's
/// escaped slash too; a token is hex, so JSON stays JSON.
pub fn without_relay_tokens(body: &[u8]) -> Option<Vec<u8>> {
    const TOKEN_HEX_LEN: usize = 2 * TOKEN_BYTES;
    let plain = PATH_PREFIX.trim_start_matches('/');
    let escaped = plain.replace('/', "\\/");
    let marks = [plain.as_bytes(), escaped.as_bytes()];
    if !marks
        .iter()
        .any(|m| memchr::memmem::find(body, m).is_some())
    {
        return None;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some((&first, tail)) = rest.split_first() {
        if let Some(m) = marks.iter().find(|m| rest.starts_with(m)) {
            out.extend_from_slice(m);
            rest = rest.get(m.len()..).unwrap_or_default();
            // A token is its bytes in hex; a shorter run of hex digits is not one.
            let hex = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
            if hex >= TOKEN_HEX_LEN {
                rest = rest.get(TOKEN_HEX_LEN..).unwrap_or_default();
            }
        } else {
            out.push(first);
            rest = tail;
        }
    }
    Some(out)
}

/// Replaces any string equal to or starting with the relay's base (Apollo may echo the
/// `webhook_url` it was given) with nothing the agent could reuse.
fn strip_relay_addresses(m: &mut Map<String, Value>, base: &str) {
    for v in m.values_mut() {
        match v {
            Value::String(s) if s.starts_with(base) => *v = Value::Null,
            Value::Object(child) => strip_relay_addresses(child, base),
            Value::Array(items) => {
                for x in items {
                    if let Value::Object(child) = x {
                        strip_relay_addresses(child, base);
                    } else if x.as_str().is_some_and(|s| s.starts_with(base)) {
                        *x = Value::Null;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Forwards one delivery to the agent's address, retrying with backoff, then records how
/// it ended.
async fn deliver(
    gate: Gate,
    relayer: Relayer,
    relay: Relay,
    rec: Box<Record>,
    what: String,
    payload: Value,
) {
    let inner = &relayer.inner;
    let deadline = tokio::time::Instant::now() + inner.config.keep_undelivered;
    let mut delay = inner.config.first_retry;
    let mut attempts: i64 = 0;
    let host = host_of(&relay.target);
    let mut last = String::new();
    let ended = loop {
        attempts += 1;
        let sent = inner
            .client
            .post(&relay.target)
            .header("x-bollard-request-id", &relay.request_id)
            .json(&payload)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                break Ok(r.status().as_u16());
            }
            Ok(r) => last = format!("it answered {}", r.status().as_u16()),
            Err(e) if e.is_timeout() => last = "it did not answer in time".into(),
            Err(_) => last = "it could not be reached".into(),
        }
        let next = tokio::time::Instant::now() + delay;
        if next > deadline {
            break Err(false);
        }
        tokio::select! {
            () = inner.stop.cancelled() => break Err(true),
            () = tokio::time::sleep_until(next) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    };
    inner.waiting.fetch_sub(1, Ordering::Relaxed);
    let tries = if attempts == 1 {
        "1 attempt".to_owned()
    } else {
        format!("{attempts} attempts")
    };
    let (state, sentence) = match ended {
        Ok(status) => (
            RelayState::Delivered,
            format!("{what}: delivered to its webhook at {host} ({status}) after {tries}."),
        ),
        Err(stopped) => {
            let kept = if stopped {
                "Bollard stopped while it waited, and the delivery was dropped (it is kept in memory only, never on disk)".to_owned()
            } else {
                format!(
                    "the delivery was dropped after {} (it is kept in memory only, never on disk)",
                    for_humans(inner.config.keep_undelivered)
                )
            };
            (
                RelayState::Dropped,
                format!(
                    "{what}: not delivered to its webhook at {host}: {last} to {tries}; {kept}."
                ),
            )
        }
    };
    let mut out = rec;
    out.kind = "outcome".into();
    out.at = gate.clock().now();
    out.sentence = sentence;
    if let Err(e) = gate.audit().write(out).await {
        tracing::error!(error = %e, "a delivery's outcome could not be recorded");
    }
    if let Err(e) = gate
        .store()
        .finish_relay(&relay.token_hash, state, attempts)
        .await
    {
        tracing::warn!(error = %e, "a relay address could not be marked finished");
    }
}

/// "1 hour", "90 seconds", "2 days".
fn for_humans(d: Duration) -> String {
    let s = d.as_secs();
    let (n, one, many) = match s {
        _ if s >= 86_400 && s.is_multiple_of(86_400) => (s / 86_400, "day", "days"),
        _ if s >= 3600 && s.is_multiple_of(3600) => (s / 3600, "hour", "hours"),
        _ if s >= 60 && s.is_multiple_of(60) => (s / 60, "minute", "minutes"),
        _ => (s, "second", "seconds"),
    };
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The audit record of a delivery: for the call of `relay`, or for no known address.
fn delivery_record(
    relay: Option<&Relay>,
    request_id: &str,
    peer: SocketAddr,
    agent_name: Option<String>,
    at: OffsetDateTime,
) -> Record {
    Record {
        agent_id: relay.map(|r| r.agent_id.clone()),
        agent_name,
        source: Some(peer.ip().to_string()),
        method: Some("POST".into()),
        path: Some(format!("{PATH_PREFIX}…")),
        action: relay.map(|r| r.action.clone()),
        // What links the delivery to its call; never the payload.
        arguments: relay.map_or_else(
            || Value::Object(Map::new()),
            |r| json!({ "for_request": r.request_id }),
        ),
        ..Record::blank("decision", request_id.to_owned(), at, "webhook")
    }
}

/// Records a refused delivery, under the per-source throttle of failed authentication.
async fn record_refused(
    gate: &Gate,
    request_id: &str,
    peer: SocketAddr,
    relay: Option<&Relay>,
    (status, sentence): (u16, String),
) {
    if !gate.record_unauthenticated(Some(peer.ip())).await {
        return;
    }
    let name = relay
        .and_then(|r| gate.directory().by_id(&r.agent_id))
        .map(|l| l.agent.name.clone());
    let mut rec = delivery_record(relay, request_id, peer, name, gate.clock().now());
    rec.reason = "no such relay address, or it takes no more deliveries".into();
    rec.sentence = sentence;
    rec.status = Some(status);
    if let Err(e) = gate.audit().write(Box::new(rec)).await {
        tracing::error!(error = %e, "a refused delivery could not be recorded");
    }
}

/// Replaces the agent's `webhook_url` with a relay address, for forwarding only (the record
/// keeps what the agent sent). `None` when the call has no webhook or the relay is off.
pub async fn relay_arguments(
    gate: &Gate,
    args: &Args,
    request_id: &str,
    agent_id: &str,
    action: &str,
) -> Option<crate::store::StoreResult<Args>> {
    let relayer = gate.relay()?;
    let target = args.str("webhook_url")?;
    Some(
        relayer
            .open(gate, request_id, agent_id, action, target)
            .await
            .map(|address| {
                let mut map = args.value().clone();
                map.insert("webhook_url".into(), Value::String(address));
                Args::from_value(map)
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_what_a_delivery_carries_without_saying_it() {
        let one = json!({"status": "success", "person": {"id": "p1",
            "organization": {"primary_domain": "acme.com", "phone": "+1 555"},
            "phone_numbers": [{"raw_number": "+1 415 555 0100"}]},
            "people": [{"id": "p1", "organization": {"primary_domain": "acme.com"},
            "phone_numbers": [{"raw_number": "+1 415 555 0100"}]}]});
        let c = contents(&json!({"people": one["people"]}));
        assert_eq!(c.describe(), "1 phone number for a person at acme.com");
        let many = json!({"people": [
            {"phone_numbers": [{"raw_number": "+1 415-555-0101", "sanitized_number": "+14155550101"},
                {"raw_number": "(415) 555-0102"}], "mobile_phone": "+44 20 7946 0958"},
            {"waterfall_emails": [{"email": "x@gmail.com"}], "personal_emails": []},
        ]});
        assert_eq!(
            contents(&many).describe(),
            "3 phone numbers and 1 email for 2 people"
        );
        assert_eq!(
            contents(&json!({"person": {"id": "p"}})).describe(),
            "no phone number or email for a person"
        );
        // A company's switchboard is not a person's number.
        assert_eq!(
            contents(&json!({"person": {"organization": {"phone": "+1"}}})).phones,
            0
        );
    }

    #[test]
    fn names_only_the_host_of_an_agents_address() {
        assert_eq!(
            host_of("https://hooks.example.com/in/secret?token=abc"),
            "hooks.example.com"
        );
        assert_eq!(host_of("not a url"), "its address");
    }

    #[test]
    fn an_answer_keeps_no_relay_token() {
        let token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let body = format!(
            "{{\"webhook_url\": \"https://b.example/hooks/relay/{token}\", \"note\": \"sent to https:\\/\\/b.example\\/hooks\\/relay\\/{token} soon\", \"n\": 1}}"
        );
        let clean = without_relay_tokens(body.as_bytes()).expect("it held one");
        let clean = String::from_utf8(clean).unwrap();
        assert!(!clean.contains(token), "{clean}");
        let v: Value = serde_json::from_str(&clean).expect("still JSON");
        assert_eq!(v["webhook_url"], "https://b.example/hooks/relay/");
        assert_eq!(v["note"], "sent to https://b.example/hooks/relay/ soon");
        assert_eq!(v["n"], 1);
        assert_eq!(without_relay_tokens(b"{\"people\": []}"), None);
        // A word after the path that merely starts with hex digits is left alone.
        assert_eq!(
            without_relay_tokens(b"see /hooks/relay/deadline").as_deref(),
            Some(&b"see /hooks/relay/deadline"[..])
        );
    }

    #[test]
    fn removes_relay_addresses_apollo_echoes() {
        let base = "https://bollard.example.com/hooks/relay/";
        let mut m = json!({"webhook_url": format!("{base}abc"), "x": [format!("{base}d"), "keep"],
            "inner": {"u": format!("{base}e")}})
        .as_object()
        .cloned()
        .unwrap();
        strip_relay_addresses(&mut m, base);
        assert_eq!(
            Value::Object(m),
            json!({"webhook_url": null, "x": [null, "keep"], "inner": {"u": null}})
        );
    }
}

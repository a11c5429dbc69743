//! The one gate. REST handlers and MCP tools are two front doors to [`Gate::call`], so
//! authentication, policy, limits and audit are the same for both. The phases run in the
//! order of `architecture.md`; where the order matters, the comment says why.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use bollard_policy::{Action, ActionId, Args, PriceTable};
use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit::Record;
use crate::audit::pii::PiiHasher;
use crate::audit::sentence::{self, Caller, Door, Phase};
use crate::audit::writer::AuditWriter;
use crate::clock::Clock;
use crate::config::ApolloKeyKind;
use crate::directory::{Directory, LiveAgent};
use crate::error::{Refusal, Refused, Unauthenticated, Unrecorded};
use crate::health::KeyHealth;
use crate::keys::hash_key;
use crate::limits::{self, LimitNote};
use crate::store::Store;
use crate::upstream::{Outgoing, Upstream, UpstreamError};

mod answer;
mod approval;
mod check;
pub(crate) mod complete;
pub mod flood;
pub mod personal;
mod scan;
pub mod webhook;

use answer::result_summary;
pub use check::DryRun;
use check::{evaluate, not_governed, read, route};
use complete::{Completion, Outcome};
pub use personal::redact;

/// A revoked agent, or one past its expiry, is refused whatever its grants: the gate says so
/// to its calls, and the dry run (`bollard check`) to its admin.
pub(crate) fn standing(
    agent: &crate::store::Agent,
    now: time::OffsetDateTime,
) -> Result<(), Refusal> {
    if let Some(at) = agent.revoked_at {
        return Err(Refusal::Unauthenticated(Unauthenticated::Revoked {
            agent: agent.name.clone(),
            on: at.date(),
        }));
    }
    if let Some(at) = agent.expires_at.filter(|at| *at <= now) {
        return Err(Refusal::Unauthenticated(Unauthenticated::Expired {
            agent: agent.name.clone(),
            on: at.date(),
        }));
    }
    Ok(())
}

/// Said in the outcome record of a call whose answer an agent without `reveal` did not get
/// because Bollard could not read it as JSON (and so could not check it for personal data).
const WITHHELD_SENTENCE: &str =
    " Bollard withheld the answer: it was not JSON that Bollard could check for personal data.";

/// Settings of the gate that come from configuration.
#[derive(Debug, Clone)]
pub struct GateSettings {
    pub webhook_prefixes: Vec<String>,
    pub key_kind: ApolloKeyKind,
    pub prices: PriceTable,
    /// The most a REST body may weigh, in bytes (the agent router enforces it; the gate
    /// says it).
    pub body_limit: usize,
    /// Ask first: how long requests last, and the webhook that announces them.
    pub approvals: crate::approval::ApprovalsConfig,
    pub notifier: Option<crate::approval::notify::Notifier>,
}

impl GateSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            webhook_prefixes: config.webhook_prefixes.clone(),
            key_kind: config.apollo.key_kind,
            prices: config.prices,
            body_limit: config.body_limit,
            approvals: config.approvals.clone(),
            notifier: crate::approval::notify::Notifier::from_config(&config.approvals),
        }
    }
}

/// One call, as either door received it.
#[derive(Debug)]
pub struct Call {
    pub door: Door,
    pub request_id: String,
    pub source: Option<IpAddr>,
    /// The key the caller presented, if any.
    pub key: Option<String>,
    pub target: Target,
}

#[derive(Debug)]
pub enum Target {
    Http {
        method: String,
        path: String,
        query: Option<String>,
        content_type: Option<String>,
        /// `None`: the body was over the size limit and was not read.
        body: Option<Bytes>,
    },
    Tool {
        name: String,
        arguments: Map<String, Value>,
    },
}

#[derive(Debug)]
pub struct Reply {
    pub request_id: String,
    pub action: Option<&'static Action>,
    pub result: Result<Answered, Refused>,
}

/// Apollo's answer, shaped for the agent.
#[derive(Debug)]
pub struct Answered {
    pub status: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// The parsed body, when it was JSON (MCP returns it as structured content).
    pub json: Option<Value>,
}

/// The dry run's answer: what the gate would decide, and what the call could cost.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub action: Option<String>,
    pub decision: &'static str,
    pub status: u16,
    pub reason: String,
    pub rule_ids: Vec<String>,
    pub max_credits: u64,
    pub sentence: String,
}

#[derive(Debug, Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    directory: Directory,
    audit: AuditWriter,
    upstream: Upstream,
    pii: PiiHasher,
    clock: Clock,
    settings: GateSettings,
    team: limits::TeamWindows,
    floods: flood::Floods,
    key: KeyHealth,
    /// This process, in whose name its calls' credit reservations are held.
    instance: crate::store::Instance,
    /// OAuth for hosted assistants, when `public_url` is set (issue 13).
    oauth: std::sync::OnceLock<crate::oauth::OAuth>,
    /// The webhook relay (#11), when `public_url` is set.
    relay: std::sync::OnceLock<crate::relay::Relayer>,
}

/// An admitted call: what forwarding, answering and recording need, owned, so that the
/// forwarding half runs in its own task.
struct Admitted {
    action: &'static Action,
    path_id: Option<String>,
    args: Args,
    path: String,
    method: String,
    door: Door,
    /// What the call asks for, in words.
    what: sentence::What,
    request_id: String,
    live: Arc<LiveAgent>,
    /// The OAuth connection the call came through, named in its sentences.
    connection: Option<String>,
    /// The approval this call used (ask first), given back if the call is not sent after all.
    approval: Option<crate::store::approvals::Approval>,
    /// What is forwarded, when it differs from `args` (the webhook relay's address).
    forwarded_args: Option<Args>,
}

/// Everything the phases after classification need to know about the call.
struct Classified<'a> {
    action: &'static Action,
    path_id: Option<String>,
    args: Args,
    /// The path to forward to (the agent's own prefix and path for REST).
    path: String,
    method: String,
    live: &'a LiveAgent,
}

impl Gate {
    pub fn new(
        store: Arc<dyn Store>,
        directory: Directory,
        audit: AuditWriter,
        upstream: Upstream,
        pii: PiiHasher,
        clock: Clock,
        settings: GateSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                directory,
                audit,
                upstream,
                pii,
                settings,
                team: limits::TeamWindows::default(),
                floods: flood::Floods::default(),
                key: KeyHealth::default(),
                instance: crate::recovery::this_instance(&clock),
                oauth: std::sync::OnceLock::new(),
                relay: std::sync::OnceLock::new(),
                clock,
            }),
        }
    }

    pub fn directory(&self) -> &Directory {
        &self.inner.directory
    }

    /// This process, as the `instances` table knows it.
    pub fn instance(&self) -> &crate::store::Instance {
        &self.inner.instance
    }

    /// The keyed hashing of personal data (and the sealer of approval arguments).
    pub fn pii(&self) -> &PiiHasher {
        &self.inner.pii
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn audit(&self) -> &AuditWriter {
        &self.inner.audit
    }

    /// What forwarded calls have shown of the team's Apollo key, for readiness.
    pub fn key_health(&self) -> &KeyHealth {
        &self.inner.key
    }

    /// The team's Apollo, for what Bollard asks of it itself (the reconciliation).
    pub fn upstream(&self) -> &Upstream {
        &self.inner.upstream
    }

    pub fn settings(&self) -> &GateSettings {
        &self.inner.settings
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Turns OAuth on (once, at start).
    pub fn set_oauth(&self, oauth: crate::oauth::OAuth) {
        let _ = self.inner.oauth.set(oauth);
    }

    pub fn oauth(&self) -> Option<&crate::oauth::OAuth> {
        self.inner.oauth.get()
    }

    /// Turns the webhook relay on (once, at start).
    pub fn set_relay(&self, relay: crate::relay::Relayer) {
        let _ = self.inner.relay.set(relay);
    }

    pub fn relay(&self) -> Option<&crate::relay::Relayer> {
        self.inner.relay.get()
    }

    /// The agent a key belongs to, if it is valid now. For the MCP door's session check.
    /// An OAuth access token (issue 13) is a credential of its agent like the agent's key.
    pub fn authenticate(&self, key: Option<&str>) -> Result<Arc<LiveAgent>, Refusal> {
        self.authenticate_naming(key).map(|(live, _)| live)
    }

    /// [`Gate::authenticate`], with the name of the OAuth connection a token speaks for (for
    /// the record), so a token is verified once per call.
    fn authenticate_naming(
        &self,
        key: Option<&str>,
    ) -> Result<(Arc<LiveAgent>, Option<String>), Refusal> {
        let mut connection = None;
        let live = match key.filter(|k| k.starts_with(crate::oauth::ACCESS_TOKEN_PREFIX)) {
            Some(token) => {
                let oauth = self
                    .oauth()
                    .ok_or(Refusal::Unauthenticated(Unauthenticated::MissingOrUnknown))?;
                let holder = oauth
                    .verifier()
                    .verify(token, self.inner.clock.now())
                    .map_err(|p| Refusal::Unauthenticated(Unauthenticated::Token(p)))?;
                let live = self.inner.directory.by_id(&holder.agent_id);
                connection = Some(holder.name);
                live
            }
            None => key
                .filter(|k| !k.is_empty())
                .and_then(|k| self.inner.directory.by_key(&hash_key(k))),
        };
        let Some(live) = live else {
            return Err(Refusal::Unauthenticated(Unauthenticated::MissingOrUnknown));
        };
        standing(&live.agent, self.inner.clock.now())?;
        Ok((live, connection))
    }

    /// Records a refusal made before a call could reach the gate's phases (for example an MCP
    /// request without a valid key, which never becomes a tool call), so that every attempt
    /// through every door is on record.
    pub async fn record_refusal(
        &self,
        door: Door,
        request_id: &str,
        source: Option<IpAddr>,
        key: Option<&str>,
        (method, path): (&str, &str),
        refusal: Refusal,
    ) {
        let (live, connection) = match self.authenticate_naming(key) {
            Ok((l, c)) => (Some(l), c),
            Err(_) => (None, None),
        };
        if live.is_none() && !self.record_unauthenticated(source).await {
            return;
        }
        let call = Call {
            door,
            request_id: request_id.to_owned(),
            source,
            key: None,
            target: Target::Http {
                method: method.to_owned(),
                path: path.to_owned(),
                query: None,
                content_type: None,
                body: None,
            },
        };
        let mut rec = self.base_record(&call, live.as_deref());
        let name = live
            .as_ref()
            .map(|l| sentence::caller_name(&l.agent.name, connection.as_deref()));
        let caller = match &name {
            Some(n) => Caller::Agent(n),
            None => Caller::Unknown,
        };
        rec.connection = connection;
        let refused = Refused::new(refusal);
        rec.sentence =
            sentence::refused_request(caller, door, method, path, &refused.refusal.clause());
        let _ = self.refuse(rec, None, refused).await;
    }

    /// Runs one call through every phase.
    pub async fn call(&self, call: Call) -> Reply {
        use tracing::Instrument;
        // One span per call at `debug`: everything logged while it runs carries its request
        // id. Not at `info`, the default: there the span cost 8 µs a call (issue 16: entered
        // and left at every poll, its fields formatted and kept), and the lines a call logs
        // at `warn` and `error` name their request id themselves, as its `call` line does.
        let span = tracing::debug_span!(
            "call",
            request_id = %call.request_id,
            door = call.door.name(),
        );
        let started = std::time::Instant::now();
        let reply = self.run(call).instrument(span).await;
        self.inner
            .audit
            .metrics()
            .observe_call(&reply, started.elapsed());
        reply
    }

    /// Runs the call on a task of its own, so that a caller that goes away (a dropped
    /// connection, a request timed out, an MCP session torn down) cannot stop it half way:
    /// once a call is in the gate it is decided, recorded, forwarded if allowed, settled and
    /// recorded again, whatever the caller does. Only the forwarding ran so before; a caller
    /// gone between the credit reservation and the record (the webhook relay's address, the
    /// durable write) left the reservation held until the process restarted (found in review).
    async fn run(&self, call: Call) -> Reply {
        use tracing::Instrument;
        let gate = self.clone();
        let request_id = call.request_id.clone();
        let task = tokio::spawn(async move { gate.run_to_end(call).await }.in_current_span());
        match task.await {
            Ok(reply) => reply,
            Err(e) => {
                tracing::error!(request_id = %request_id, error = %e, "a call's task failed");
                Reply {
                    request_id,
                    action: None,
                    result: Err(Refused::new(Refusal::Internal(
                        "Bollard lost track of this call; if it was sent to Apollo, its outcome is recorded as unknown.".into(),
                    ))),
                }
            }
        }
    }

    async fn run_to_end(&self, call: Call) -> Reply {
        let started = std::time::Instant::now();
        // 1-6: everything that can refuse the call without Apollo.
        let (mut admitted, mut rec, reservation) = match self.admit(&call).await {
            Ok(x) => x,
            Err(reply) => return *reply,
        };
        // 6b. The webhook relay: Apollo's later delivery is to come through Bollard, so the
        //     agent's `webhook_url` is replaced, in what is forwarded only, by a single-use
        //     address, opened before the call is recorded as sent. No address, no call: the
        //     agent's own address is never given to Apollo while the relay is on.
        if let Err(reply) = self
            .relay_webhook(&mut admitted, &mut rec, reservation.as_ref())
            .await
        {
            return reply;
        }
        // 7. Audit, before: on disk before anything reaches Apollo, or nothing does.
        let completion = match self
            .record_before(admitted.action, &call.request_id, rec, reservation)
            .await
        {
            Ok(c) => c,
            Err(mut reply) => {
                // Nothing was sent, so the approval it used (if any) is not used up.
                if let (Some(a), Err(refused)) = (&admitted.approval, &mut reply.result) {
                    refused.kept = self.give_back(a, &call.request_id, None).await;
                }
                return reply;
            }
        };
        // 8-10, on the call's own task (`run`): the call that was recorded as sent is
        // forwarded, settled and recorded whatever the caller does. Should the task itself
        // die, the completion guard settles and records on drop.
        self.forward_and_answer(admitted, completion, started).await
    }

    /// Phases 1 to 6: authenticate, classify, read, decide, validate, limits. A refusal is
    /// recorded and returned as the reply; an admitted call comes back with its decision
    /// record (not yet written) and its credit reservation.
    async fn admit(
        &self,
        call: &Call,
    ) -> Result<(Admitted, Box<Record>, Option<limits::Reservation>), Box<Reply>> {
        // 1. Authenticate. Classification below still runs for an unknown caller, but only to
        //    write a readable record of what was attempted.
        let (auth, connection) = match self.authenticate_naming(call.key.as_deref()) {
            Ok((live, connection)) => (Ok(live), connection),
            Err(refusal) => (Err(refusal), None),
        };
        if let Some(throttled) = self.throttle_unauthenticated(call, &auth).await {
            return Err(Box::new(throttled));
        }
        let live = auth.as_ref().ok().cloned();
        let name = live
            .as_ref()
            .map(|l| sentence::caller_name(&l.agent.name, connection.as_deref()));
        let caller = match &name {
            Some(n) => Caller::Agent(n),
            None => Caller::Unknown,
        };
        let mut rec = self.base_record(call, live.as_deref());
        rec.connection = connection.clone();

        // 2. Classify. Anything outside the catalog is denied: Bollard governs what it
        //    understands and nothing else.
        let route = match route(&call.target) {
            Ok(r) => r,
            Err((method, path)) => {
                let refused =
                    Refused::new(auth.err().unwrap_or_else(|| not_governed(&method, &path)));
                rec.sentence = sentence::unknown_route(caller, call.door, &method, &path);
                return Err(Box::new(self.refuse(rec, None, refused).await));
            }
        };
        rec.action = Some(route.action.id.to_string());
        let path_id = route.path_id.as_deref();

        // 3. Read the arguments (query and body merged as Apollo merges them, the strictest
        //    reading where they disagree). Secrets never travel further. An unknown caller is
        //    told about its key, not about its arguments.
        let (args, forward_path, method) =
            match (read(&self.inner.settings, &call.target, &route), &auth) {
                (Ok(x), _) => x,
                (Err(refused), auth) => {
                    let refused = match auth {
                        Err(r) => Refused::new(r.clone()),
                        Ok(_) => refused,
                    };
                    let what = sentence::describe(route.action, &Args::default(), path_id, None);
                    let reply = self
                        .deny(rec, caller, call.door, &what, route.action, refused)
                        .await;
                    return Err(Box::new(reply));
                }
            };
        let args = args.without_secrets();
        rec.arguments = self.inner.pii.scrub(args.value());
        let what = sentence::describe(
            route.action,
            &self.inner.pii.for_sentence(&args),
            path_id,
            None,
        );
        let live = match auth {
            Ok(l) => l,
            Err(r) => {
                let reply = self
                    .deny(rec, caller, call.door, &what, route.action, Refused::new(r))
                    .await;
                return Err(Box::new(reply));
            }
        };
        let c = Classified {
            action: route.action,
            path_id: route.path_id.clone(),
            args,
            path: forward_path,
            method,
            live: &live,
        };

        // 4-5. Authorize, then validate: a denied agent learns nothing about argument rules.
        let decision = match evaluate(&self.inner.settings, &c) {
            Ok(d) => d,
            Err(refused) => {
                let reply = self
                    .deny(rec, caller, call.door, &what, c.action, refused)
                    .await;
                return Err(Box::new(reply));
            }
        };
        rec.reason = decision.reason();
        rec.rule_ids = decision.rule_ids.clone();

        // 5b. Ask first: after the decision (a denied call never becomes a request) and
        //     before the limits (they are checked when the approved call runs, not when it
        //     asked). Approved: the approval is used up here, once; otherwise the request is
        //     made or found and the call refused.
        let used = if decision.asks() {
            match self.ask_first(&c, &decision, &what, call, &mut rec).await {
                Ok(used) => Some(used),
                Err(refused) => {
                    let reply = self
                        .refuse_asked(rec, caller, call.door, &what, c.action, refused)
                        .await;
                    return Err(Box::new(reply));
                }
            }
        } else {
            None
        };

        // 6. Limits: count the request, then reserve the most it could cost. The numbers
        //    behind either decision go into the record.
        let mut note = LimitNote::default();
        let limited = self.limit(&c, &call.request_id, &mut note).await;
        if !note.windows.is_empty() || !note.budgets.is_empty() || limited.is_err() {
            rec.limits = serde_json::to_value(&note).ok();
        }
        let reservation = match limited {
            Ok(r) => r,
            Err(refusal) => {
                let mut refused = Refused::new(refusal);
                // An approval is used up only by a call that is sent: this one was not.
                if let Some(a) = &used {
                    refused.kept = self.give_back(a, &call.request_id, Some(&mut rec)).await;
                }
                let reply = self
                    .deny(rec, caller, call.door, &what, c.action, refused)
                    .await;
                return Err(Box::new(reply));
            }
        };
        rec.credits_reserved = note.credits_reserved;
        rec.decision = "allowed".into();
        rec.sentence = sentence::sentence(caller, call.door, &what, &Phase::Allowed);
        approval::name_in_sentence(&mut rec);
        let admitted = Admitted {
            action: c.action,
            path_id: c.path_id,
            args: c.args,
            path: c.path,
            method: c.method,
            door: call.door,
            what,
            request_id: call.request_id.clone(),
            live: live.clone(),
            connection,
            approval: used,
            forwarded_args: None,
        };
        Ok((admitted, rec, reservation))
    }

    /// Phase 7: the decision record, durable before anything is forwarded. From here on a
    /// [`Completion`] owns the reservation and the outcome record, and settles them however
    /// the call ends.
    async fn record_before(
        &self,
        action: &'static Action,
        request_id: &str,
        rec: Box<Record>,
        reservation: Option<limits::Reservation>,
    ) -> Result<Completion, Reply> {
        let agent_id = rec.agent_id.clone().unwrap_or_default();
        // The writer hands the record back once it is on disk: it becomes the outcome
        // record, without a copy of it made for the writer.
        let mut outcome = match self.inner.audit.write_durable(rec).await {
            Ok(written) => written,
            Err(e) => {
                tracing::error!(request_id = %request_id, error = %e, "audit write failed; refusing the call");
                if let Some(r) = &reservation {
                    limits::settle(&*self.inner.store, &agent_id, r, 0.0).await;
                }
                return Err(Reply {
                    request_id: request_id.to_owned(),
                    action: Some(action),
                    result: Err(Refused::new(Refusal::AuditUnavailable(
                        Unrecorded::AuditRecord,
                    ))),
                });
            }
        };
        outcome.kind = "outcome".into();
        Ok(Completion::new(
            self.clone(),
            outcome,
            agent_id,
            reservation,
        ))
    }

    /// Phases 8 to 10: forward with the team's key, shape the answer, settle and record the
    /// outcome (through the completion, which would otherwise do it on drop).
    async fn forward_and_answer(
        &self,
        a: Admitted,
        mut completion: Completion,
        started: std::time::Instant,
    ) -> Reply {
        let forwarded = self.forward(&a).await;
        let agent = &a.live.agent;
        let name = sentence::caller_name(&agent.name, a.connection.as_deref());
        let caller = Caller::Agent(&name);
        let reply = match forwarded {
            Ok(answer) => {
                self.inner.team.learn(a.action, &answer.headers);
                // One pass over the bytes says whether anything must be removed and keeps
                // the outline the record needs; the whole tree is built only to redact it, or
                // for MCP, which returns it as structured content.
                let scanned = scan::scan(&answer.body);
                let must_redact =
                    !agent.grants.reveal && scanned.as_ref().is_some_and(|s| s.personal);
                // Fail closed: an answer that is not JSON as Bollard reads it (`NaN`, a number
                // out of range, a byte-order mark, a compressed body, nesting past 128) cannot
                // be checked, yet a lenient parser, or a model reading its text, may find a
                // personal field in it. An agent without `reveal` gets none of it; an empty
                // answer holds nothing.
                let mut withheld = !agent.grants.reveal
                    && scanned.is_none()
                    && !answer.body.iter().all(u8::is_ascii_whitespace);
                let mut json: Option<Value> = if must_redact || a.door == Door::Mcp {
                    serde_json::from_slice(&answer.body).ok()
                } else {
                    None
                };
                let mut body = answer.body;
                if must_redact {
                    match json.as_mut() {
                        // Rebuilt from the tree even when the tree had nothing to remove: a
                        // key given twice is one entry in the tree (serde_json keeps the last),
                        // but the scan saw both, and a parser that keeps the first, or a model
                        // reading the text, would see the personal one.
                        Some(v) => {
                            redact(v);
                            body = Bytes::from(serde_json::to_vec(v).unwrap_or_default());
                        }
                        None => withheld = true,
                    }
                }
                // A call whose webhook_url Bollard replaced: the relay address's token never
                // reaches the agent, should Apollo echo it.
                if a.forwarded_args.is_some()
                    && let Some(clean) = crate::relay::without_relay_tokens(&body)
                {
                    body = Bytes::from(clean);
                    if json.is_some() {
                        json = serde_json::from_slice(&body).ok();
                    }
                }
                let facts = json.as_ref().or(scanned.as_ref().map(|s| &s.outline));
                let prices = &self.inner.settings.prices;
                let spent = prices.actual_cost(a.action, &a.args, answer.status, facts);
                if let Some(billed) = PriceTable::billed(answer.status, facts) {
                    let table = prices.table_cost(a.action, &a.args, answer.status, facts);
                    limits::learn(
                        &*self.inner.store,
                        a.action,
                        table,
                        billed,
                        self.inner.clock.now(),
                    )
                    .await;
                }
                let result = if answer.status == 429 {
                    let retry = answer
                        .headers
                        .iter()
                        .find(|(k, _)| k == "retry-after")
                        .and_then(|(_, v)| v.to_str().ok())
                        .map(|v| format!("; retry after {v} s"))
                        .unwrap_or_default();
                    Some(format!(
                        "Apollo's team rate limit for this endpoint was reached{retry}"
                    ))
                } else if (200..300).contains(&answer.status) {
                    facts.and_then(|j| result_summary(a.action, j))
                } else {
                    // An error body has no results: "no match" for a 500 would be a claim
                    // Apollo never made.
                    None
                };
                let seq_name = facts
                    .and_then(|j| j.pointer("/emailer_campaign/name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                // Only a sequence's name, known from Apollo's answer, changes the description.
                let named;
                let what = match seq_name.as_deref() {
                    Some(name) => {
                        named = sentence::describe(
                            a.action,
                            &self.inner.pii.for_sentence(&a.args),
                            a.path_id.as_deref(),
                            Some(name),
                        );
                        &named
                    }
                    None => &a.what,
                };
                let mut sentence = sentence::sentence(
                    caller,
                    a.door,
                    what,
                    &Phase::Answered {
                        status: answer.status,
                        result: result.as_deref(),
                        credits: spent,
                    },
                );
                if withheld {
                    sentence.push_str(WITHHELD_SENTENCE);
                }
                completion
                    .finish(Outcome {
                        status: answer.status,
                        latency_ms: Some(answer.latency.as_secs_f64() * 1000.0),
                        spent,
                        result,
                        sentence,
                    })
                    .await;
                if withheld {
                    Err(Refused::new(Refusal::UpstreamUnavailable(format!(
                        "Apollo answered (status {}), but not with JSON that Bollard could check for personal data, so Bollard withheld the answer: this agent may not see personal data. The call reached Apollo and is in the audit log.",
                        answer.status
                    ))))
                } else {
                    Ok(Answered {
                        status: answer.status,
                        headers: answer.headers,
                        body,
                        json,
                    })
                }
            }
            Err(e) => {
                tracing::warn!(request_id = %a.request_id, error = %e, cause = ?std::error::Error::source(&e), "Apollo call failed");
                // A timeout or a connection broken after the request went out is an outcome
                // Bollard does not know: Apollo may have done (and billed) the work, so the
                // reservation stays counted as spent (#19 item 3). A refused connection, a
                // missing key, a request that could not be made or a refused team key sent nothing
                // that could be billed.
                let unseen = matches!(e, UpstreamError::Timeout(_) | UpstreamError::Broken(_));
                let refusal = match e {
                    UpstreamError::Timeout(_) => Refusal::UpstreamTimeout(e.to_string()),
                    UpstreamError::NoKey
                    | UpstreamError::Connect(_)
                    | UpstreamError::Unsendable(_)
                    | UpstreamError::Broken(_)
                    | UpstreamError::TeamKeyRefused => Refusal::UpstreamUnavailable(e.to_string()),
                };
                let spent = if unseen {
                    completion.unseen_cost()
                } else {
                    0.0
                };
                // Nothing was sent, so the approval this call used is not used up (as when a
                // limit or the audit log refuses it): it stays usable until it expires, and
                // the outcome says so. A call that may have reached Apollo keeps it used.
                let kept = match (&a.approval, unseen) {
                    (Some(used), false) => {
                        self.give_back(used, &a.request_id, completion.record_mut())
                            .await
                    }
                    _ => None,
                };
                let mut sentence = sentence::sentence(
                    caller,
                    a.door,
                    &a.what,
                    &Phase::Failed {
                        why: &refusal.message(),
                    },
                );
                if spent > 0.0 {
                    sentence.push_str(&format!(
                        " Apollo may have done the work before the answer was lost, so its reservation of {} stays counted as spent.",
                        sentence::credits(spent)
                    ));
                }
                if let Some(k) = &kept {
                    sentence.push(' ');
                    sentence.push_str(&k.message());
                }
                completion
                    .finish(Outcome {
                        status: refusal.status_and_code().0,
                        latency_ms: None,
                        spent,
                        result: if unseen {
                            Some("outcome unknown".into())
                        } else {
                            None
                        },
                        sentence,
                    })
                    .await;
                let mut refused = Refused::new(refusal);
                refused.kept = kept;
                Err(refused)
            }
        };
        // One line per call, as an access log: with an MCP call's span it carries the MCP
        // fields in OpenTelemetry's terms. RUST_LOG=warn turns it off where the audit log is
        // record enough.
        tracing::info!(
            request_id = %a.request_id,
            door = a.door.name(),
            agent = agent.name.as_str(),
            action = a.action.id.as_str(),
            decision = "allowed",
            status = reply
                .as_ref()
                .map_or_else(|r| r.refusal.status_and_code().0, |a| a.status),
            // In milliseconds to the microsecond: 4.454, not 4.4542660000000005.
            elapsed_ms = started.elapsed().as_micros() as f64 / 1000.0,
            "call"
        );
        Reply {
            request_id: a.request_id,
            action: Some(a.action),
            result: reply,
        }
    }

    /// The dry run: the same phases as a real call (classification, reading, decision,
    /// validation, limits), read-only, and what it could cost. Nothing is counted, reserved,
    /// recorded or sent.
    pub async fn check(
        &self,
        live: &LiveAgent,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> CheckReport {
        let dry = check::DryRun {
            settings: &self.inner.settings,
            store: &*self.inner.store,
            team: &self.inner.team,
            now: self.inner.clock.now(),
        };
        dry.check(live, method, path, body).await
    }
}

impl Gate {
    /// Phase 6: the agent's rate windows, then its credit budget.
    async fn limit(
        &self,
        c: &Classified<'_>,
        request_id: &str,
        note: &mut LimitNote,
    ) -> Result<Option<limits::Reservation>, Refusal> {
        let now = self.inner.clock.now();
        let max = limits::max_cost(
            &*self.inner.store,
            &self.inner.settings.prices,
            c.action,
            &c.args,
            request_id,
        )
        .await?;
        limits::phase(
            &*self.inner.store,
            limits::Mode::Count(crate::store::Hold {
                request_id,
                instance: &self.inner.instance.id,
                at: now,
            }),
            &self.inner.team,
            &c.live.agent,
            c.action,
            max,
            now,
            note,
        )
        .await
    }

    /// Records and answers a refusal, the sentence saying what was asked and why not.
    async fn deny(
        &self,
        mut rec: Box<Record>,
        caller: Caller<'_>,
        door: Door,
        what: &sentence::What,
        action: &'static Action,
        refused: Refused,
    ) -> Reply {
        rec.sentence = sentence::sentence(
            caller,
            door,
            what,
            &Phase::Denied {
                why: &refused.clause(),
            },
        );
        self.refuse(rec, Some(action), refused).await
    }

    /// Phase 6b (see `run`): opens a relay address for a call with a `webhook_url`.
    async fn relay_webhook(
        &self,
        a: &mut Admitted,
        rec: &mut Record,
        reservation: Option<&limits::Reservation>,
    ) -> Result<(), Reply> {
        let agent_id = a.live.agent.id.clone();
        let opened = crate::relay::relay_arguments(
            self,
            &a.args,
            &a.request_id,
            &agent_id,
            a.action.id.as_str(),
        )
        .await;
        match opened {
            None => Ok(()),
            Some(Ok(relayed)) => {
                a.forwarded_args = Some(relayed);
                if let Some(s) = rec.sentence.strip_suffix('.') {
                    rec.sentence = format!("{s}, with Bollard's relay address as its webhook_url.");
                }
                Ok(())
            }
            Some(Err(e)) => {
                tracing::error!(request_id = %a.request_id, error = %e, "no relay address could be opened; refusing the call");
                if let Some(r) = reservation {
                    limits::settle(&*self.inner.store, &agent_id, r, 0.0).await;
                }
                let mut refused = Refused::new(Refusal::AuditUnavailable(Unrecorded::AuditRecord));
                let mut rec = Box::new(rec.clone());
                // Nothing is sent, so the approval it used (if any) is not used up.
                if let Some(used) = &a.approval {
                    refused.kept = self.give_back(used, &a.request_id, Some(&mut rec)).await;
                }
                let name = sentence::caller_name(&a.live.agent.name, a.connection.as_deref());
                let caller = Caller::Agent(&name);
                Err(self
                    .deny(rec, caller, a.door, &a.what, a.action, refused)
                    .await)
            }
        }
    }

    async fn forward(&self, c: &Admitted) -> Result<crate::upstream::Answer, UpstreamError> {
        // Borrowed: copied only when something is added to what was decided.
        let mut args = Cow::Borrowed(c.forwarded_args.as_ref().unwrap_or(&c.args));
        if c.action.id == ActionId::SequencesAddContacts && !args.has("emailer_campaign_id") {
            // Apollo wants the sequence id in the body too; an MCP caller gives it once.
            if let Some(id) = &c.path_id {
                let mut map = args.value().clone();
                map.insert("emailer_campaign_id".into(), Value::String(id.clone()));
                args = Cow::Owned(Args::from_value(map));
            }
        }
        // What Apollo receives is the canonical form of what was decided, never the agent's
        // raw bytes, so no parser difference can change the call after the decision.
        let (query, json_body) = if c.method == "GET" {
            (Some(args.to_query_string()), None)
        } else {
            (None, Some(args.to_json_body()))
        };
        let answer = self
            .inner
            .upstream
            .send(Outgoing {
                method: &c.method,
                path: &c.path,
                query,
                json_body,
            })
            .await;
        match &answer {
            Ok(_) => self.inner.key.observe(true),
            Err(UpstreamError::TeamKeyRefused) => self.inner.key.observe(false),
            // A broken connection or a timeout says nothing about the key.
            Err(_) => {}
        }
        answer
    }

    fn base_record(&self, call: &Call, live: Option<&LiveAgent>) -> Box<Record> {
        let (method, path) = match &call.target {
            Target::Http { method, path, .. } => {
                (Some(method.clone()), Some(path.chars().take(200).collect()))
            }
            Target::Tool { name, .. } => (
                Some("tools/call".to_owned()),
                Some(name.chars().take(100).collect()),
            ),
        };
        let channel = call.door.name();
        // `connection` is set by `admit`, which knows it from authentication.
        Box::new(Record {
            agent_id: live.map(|l| l.agent.id.clone()),
            agent_name: live.map(|l| l.agent.name.clone()),
            source: call.source.map(|s| s.to_string()),
            method,
            path,
            ..Record::blank(
                "decision",
                call.request_id.clone(),
                self.inner.clock.now(),
                channel,
            )
        })
    }

    async fn refuse(
        &self,
        mut rec: Box<Record>,
        action: Option<&'static Action>,
        refused: Refused,
    ) -> Reply {
        // "pending" for a call that waits for approval; every other refusal is "denied".
        rec.decision = match refused.refusal.decision() {
            "pending" => "pending",
            _ => "denied",
        }
        .into();
        rec.reason = refused.reason();
        rec.rule_ids = refused.rule_ids.clone();
        rec.status = Some(refused.refusal.status_and_code().0);
        let request_id = rec.request_id.clone();
        tracing::info!(
            request_id = %rec.request_id,
            door = rec.channel.as_str(),
            agent = rec.agent_name.as_deref().unwrap_or("-"),
            action = action.map_or("-", |a| a.id.as_str()),
            decision = rec.decision.as_str(),
            status = rec.status,
            "call"
        );
        // Nothing is forwarded, yet the agent will hear this refusal, so it is on disk before
        // the agent does (#19 item 7): a crash right after answering loses no denial. It
        // rides the writer's next batch (group commit), so the wait is one batch's sync; a
        // flood of calls without a valid key is throttled before it gets here. If it cannot
        // be written, the refusal stands (nothing was sent) and the failure is logged.
        if let Err(e) = self.inner.audit.write_durable(rec).await {
            tracing::error!(request_id = %request_id, error = %e, "a denial record could not be written");
        }
        Reply {
            request_id,
            action,
            result: Err(refused),
        }
    }
}

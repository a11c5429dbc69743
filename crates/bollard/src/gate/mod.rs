//! The one gate. REST handlers and MCP tools are two front doors to [`Gate::call`], so
//! authentication, policy, limits and audit are the same for both. The phases run in the
//! order of `architecture.md`; where the order matters, the comment says why.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bollard_policy::{Action, Args, Decision, PriceTable};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit::Record;
use crate::audit::pii::PiiHasher;
use crate::audit::sentence::{self, Caller, Door, Phase};
use crate::audit::writer::AuditWriter;
use crate::clock::Clock;
use crate::config::ApolloKeyKind;
use crate::directory::{Directory, LiveAgent};
use crate::error::Refusal;
use crate::keys::hash_key;
use crate::limits::{self, LimitNote};
use crate::store::Store;
use crate::upstream::{Outgoing, Upstream, UpstreamError};

mod answer;
mod check;

pub use answer::redact;
use answer::result_summary;
pub use check::check;
use check::{evaluate, not_governed, read, route};

/// Response fields an agent sees only with the `reveal` grant. Apollo returns data the team
/// already revealed even when this call did not ask for it, so they are removed on the way
/// back, wherever they appear.
pub const REVEALED_FIELDS: [&str; 2] = ["personal_emails", "phone_numbers"];

/// Settings of the gate that come from configuration.
#[derive(Debug, Clone)]
pub struct GateSettings {
    pub webhook_prefixes: Vec<String>,
    pub key_kind: ApolloKeyKind,
    pub prices: PriceTable,
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
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// The parsed body, when it was JSON (MCP returns it as structured content).
    pub json: Option<Value>,
}

/// Bollard's own refusal, and the policy or setting ids that decided it.
#[derive(Debug, Clone)]
pub struct Refused {
    pub refusal: Refusal,
    pub rule_ids: Vec<String>,
}

impl Refused {
    fn new(refusal: Refusal) -> Self {
        Self {
            refusal,
            rule_ids: Vec::new(),
        }
    }

    /// A refusal decided by a gateway setting rather than the agent's policy.
    fn by_setting(refusal: Refusal, setting: &str) -> Self {
        Self {
            refusal,
            rule_ids: vec![format!("setting:{setting}")],
        }
    }

    fn from_decision(d: &Decision) -> Self {
        Self {
            refusal: Refusal::Denied(d.reason.clone()),
            rule_ids: d.rule_ids.clone(),
        }
    }

    /// The sentence of the refusal: what the agent reads and the audit records.
    pub fn reason(&self) -> String {
        self.refusal.to_string()
    }

    pub fn body(&self, action: Option<&Action>, request_id: &str) -> Value {
        self.refusal.body(
            action.map(|a| a.id),
            request_id,
            &self.reason(),
            &self.rule_ids,
        )
    }
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

#[derive(Debug, Default)]
pub struct GateMetrics {
    pub allowed: AtomicU64,
    pub denied: AtomicU64,
    pub upstream_errors: AtomicU64,
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
    metrics: GateMetrics,
    team: limits::TeamWindows,
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
                clock,
                settings,
                metrics: GateMetrics::default(),
                team: limits::TeamWindows::default(),
            }),
        }
    }

    pub fn directory(&self) -> &Directory {
        &self.inner.directory
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn audit(&self) -> &AuditWriter {
        &self.inner.audit
    }

    pub fn metrics(&self) -> &GateMetrics {
        &self.inner.metrics
    }

    pub fn settings(&self) -> &GateSettings {
        &self.inner.settings
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The agent a key belongs to, if it is valid now. For the MCP door's session check.
    pub fn authenticate(&self, key: Option<&str>) -> Result<Arc<LiveAgent>, Refusal> {
        let live = key
            .filter(|k| !k.is_empty())
            .and_then(|k| self.inner.directory.by_key(&hash_key(k)));
        let Some(live) = live else {
            return Err(Refusal::Unauthenticated(
                "The agent key is missing or unknown. Send your Bollard agent key in the X-Api-Key header or as Authorization: Bearer <key>."
                    .into(),
            ));
        };
        if let Some(at) = live.agent.revoked_at {
            return Err(Refusal::Unauthenticated(format!(
                "This agent key belongs to {}, which was revoked on {}. Ask an admin for a new agent.",
                live.agent.name,
                at.date()
            )));
        }
        if let Some(at) = live
            .agent
            .expires_at
            .filter(|at| *at <= self.inner.clock.now())
        {
            return Err(Refusal::Unauthenticated(format!(
                "This agent key for {} expired on {}. Ask an admin to rotate it.",
                live.agent.name,
                at.date()
            )));
        }
        Ok(live)
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
        let live = self.authenticate(key).ok();
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
        let caller = match &live {
            Some(l) => Caller::Agent(&l.agent.name),
            None => Caller::Unknown,
        };
        let refused = Refused::new(refusal);
        rec.sentence = sentence::refused_request(caller, door, method, path, &refused.reason());
        let _ = self.refuse(rec, None, refused).await;
    }

    /// Runs one call through every phase.
    pub async fn call(&self, call: Call) -> Reply {
        use tracing::Instrument;
        // One span per call: everything logged while it runs (an upstream failure, an audit
        // error) carries its request id; agent, action and decision are filled in as known.
        let span = tracing::info_span!(
            "call",
            request_id = %call.request_id,
            door = match call.door { Door::Rest => "rest", Door::Mcp => "mcp" },
            agent = tracing::field::Empty,
            action = tracing::field::Empty,
            decision = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let reply = self.run(call).instrument(span).await;
        self.inner
            .audit
            .metrics()
            .observe_call(&reply, started.elapsed());
        reply
    }

    async fn run(&self, call: Call) -> Reply {
        let started = std::time::Instant::now();
        let request_id = call.request_id.clone();
        // 1. Authenticate. Classification below still runs for an unknown caller, but only to
        //    write a readable record of what was attempted.
        let auth = self.authenticate(call.key.as_deref());
        let live = auth.as_ref().ok().cloned();
        let caller = match &live {
            Some(l) => Caller::Agent(&l.agent.name),
            None => Caller::Unknown,
        };
        let mut rec = self.base_record(&call, live.as_deref());

        // 2. Classify. Anything outside the catalog is denied: Bollard governs what it
        //    understands and nothing else.
        let route = match route(&call.target) {
            Ok(r) => r,
            Err((method, path)) => {
                let refused =
                    Refused::new(auth.err().unwrap_or_else(|| not_governed(&method, &path)));
                rec.sentence = sentence::unknown_route(caller, call.door, &method, &path);
                return self.refuse(rec, None, refused).await;
            }
        };
        rec.action = Some(route.action.id.to_owned());
        let path_id = route.path_id.as_deref();

        // 3. Read the arguments (query and body merged as Apollo merges them, the strictest
        //    reading where they disagree). Secrets never travel further. An unknown caller is
        //    told about its key, not about its arguments.
        let (args, forward_path, method) = match (read(&call.target, &route), &auth) {
            (Ok(x), _) => x,
            (Err(refused), auth) => {
                let refused = match auth {
                    Err(r) => Refused::new(r.clone()),
                    Ok(_) => refused,
                };
                let what = sentence::describe(route.action, &Args::default(), path_id, None);
                return self
                    .deny(rec, caller, call.door, &what, route.action, refused)
                    .await;
            }
        };
        let args = args.without_secrets();
        rec.arguments = self.inner.pii.scrub(args.value());
        let what = sentence::describe(route.action, &args, path_id, None);
        let live = match auth {
            Ok(l) => l,
            Err(r) => {
                return self
                    .deny(rec, caller, call.door, &what, route.action, Refused::new(r))
                    .await;
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
                return self
                    .deny(rec, caller, call.door, &what, c.action, refused)
                    .await;
            }
        };
        rec.reason = decision.reason.clone();
        rec.rule_ids = decision.rule_ids.clone();

        // 6. Limits: count the request, then reserve the most it could cost. The numbers
        //    behind either decision go into the record.
        let store = &*self.inner.store;
        let agent = &live.agent;
        let mut note = LimitNote::default();
        let limited = self.limit(&c, &mut note).await;
        if !note.windows.is_empty() || !note.budgets.is_empty() || limited.is_err() {
            rec.limits = serde_json::to_value(&note).ok();
        }
        let reservation = match limited {
            Ok(r) => r,
            Err(refusal) => {
                return self
                    .deny(
                        rec,
                        caller,
                        call.door,
                        &what,
                        c.action,
                        Refused::new(refusal),
                    )
                    .await;
            }
        };
        rec.credits_reserved = note.credits_reserved;

        // 7. Audit, before: on disk before anything reaches Apollo, or nothing does.
        rec.decision = "allowed".into();
        rec.sentence = sentence::sentence(caller, call.door, &what, &Phase::Allowed);
        if let Err(e) = self.inner.audit.write_durable(rec.clone()).await {
            tracing::error!(request_id = %request_id, error = %e, "audit write failed; refusing the call");
            if let Some(r) = &reservation {
                limits::settle(store, &agent.id, r, 0.0).await;
            }
            self.inner.metrics.denied.fetch_add(1, Ordering::Relaxed);
            return Reply {
                request_id,
                action: Some(c.action),
                result: Err(Refused::new(Refusal::AuditUnavailable(
                    "Bollard could not write the audit record for this call, so nothing was sent to Apollo. Try again shortly."
                        .into(),
                ))),
            };
        }

        // 8. Forward, with the team's key.
        let forwarded = self.forward(&c).await;

        // 9-10. Shape the answer, settle credits, record the outcome.
        rec.kind = "outcome".into();
        rec.at = self.inner.clock.now();
        let reply = match forwarded {
            Ok(answer) => {
                self.inner.team.learn(c.action, &answer.headers);
                let mut json: Option<Value> = serde_json::from_slice(&answer.body).ok();
                let mut body = answer.body;
                if let Some(v) = json.as_mut().filter(|_| !agent.grants.reveal)
                    && redact(v)
                {
                    body = Bytes::from(serde_json::to_vec(v).unwrap_or_default());
                }
                let spent = limits::actual_cost(
                    c.action,
                    &c.args,
                    &self.inner.settings.prices,
                    answer.status,
                    json.as_ref(),
                );
                if let Some(r) = &reservation {
                    limits::settle(store, &agent.id, r, spent).await;
                }
                let result = if answer.status == 429 {
                    let retry = answer
                        .headers
                        .iter()
                        .find(|(k, _)| k == "retry-after")
                        .map(|(_, v)| format!("; retry after {v} s"))
                        .unwrap_or_default();
                    Some(format!(
                        "Apollo's team rate limit for this endpoint was reached{retry}"
                    ))
                } else {
                    json.as_ref().and_then(|j| result_summary(c.action, j))
                };
                let seq_name = json
                    .as_ref()
                    .and_then(|j| j.pointer("/emailer_campaign/name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                // Only a sequence's name, known from Apollo's answer, changes the description.
                let named;
                let what = match seq_name.as_deref() {
                    Some(name) => {
                        named =
                            sentence::describe(c.action, &c.args, c.path_id.as_deref(), Some(name));
                        &named
                    }
                    None => &what,
                };
                rec.status = Some(answer.status);
                rec.latency_ms = Some(answer.latency.as_secs_f64() * 1000.0);
                rec.credits_used = Some(spent);
                rec.result = result.as_ref().map(|r| Value::String(r.clone()));
                rec.sentence = sentence::sentence(
                    caller,
                    call.door,
                    what,
                    &Phase::Answered {
                        status: answer.status,
                        result: result.as_deref(),
                        credits: spent,
                    },
                );
                self.inner.metrics.allowed.fetch_add(1, Ordering::Relaxed);
                Ok(Answered {
                    status: answer.status,
                    headers: answer.headers,
                    body,
                    json,
                })
            }
            Err(e) => {
                if let Some(r) = &reservation {
                    limits::settle(store, &agent.id, r, 0.0).await;
                }
                tracing::warn!(request_id = %request_id, error = %e, cause = ?std::error::Error::source(&e), "Apollo call failed");
                let refusal = match e {
                    UpstreamError::Timeout(_) => Refusal::UpstreamTimeout(e.to_string()),
                    UpstreamError::NoKey
                    | UpstreamError::Connect(_)
                    | UpstreamError::Broken(_)
                    | UpstreamError::TeamKeyRefused => Refusal::UpstreamUnavailable(e.to_string()),
                };
                rec.credits_used = Some(0.0);
                rec.status = Some(refusal.status_and_code().0);
                rec.sentence = sentence::sentence(
                    caller,
                    call.door,
                    &what,
                    &Phase::Failed {
                        why: &refusal.to_string(),
                    },
                );
                self.inner
                    .metrics
                    .upstream_errors
                    .fetch_add(1, Ordering::Relaxed);
                Err(Refused::new(refusal))
            }
        };
        if let Err(e) = self.inner.audit.write(rec).await {
            tracing::error!(request_id = %request_id, error = %e, "the outcome record could not be queued");
        }
        let span = tracing::Span::current();
        span.record("agent", agent.name.as_str());
        span.record("action", c.action.id);
        span.record("decision", "allowed");
        tracing::info!(
            status = reply
                .as_ref()
                .map_or_else(|r| r.refusal.status_and_code().0, |a| a.status),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "call"
        );
        Reply {
            request_id,
            action: Some(c.action),
            result: reply,
        }
    }

    /// The dry run: the same classification, reading, decision and validation as a real call,
    /// and what it could cost. Nothing is counted, reserved, recorded or sent.
    pub fn check(
        &self,
        live: &LiveAgent,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> CheckReport {
        check(&self.inner.settings, live, method, path, body)
    }
}

impl Gate {
    /// Phase 6: the agent's rate windows, then its credit budget.
    async fn limit(
        &self,
        c: &Classified<'_>,
        note: &mut LimitNote,
    ) -> Result<Option<limits::Reservation>, Refusal> {
        let now = self.inner.clock.now();
        let store = &*self.inner.store;
        let agent = &c.live.agent;
        limits::take_rate(
            store,
            &agent.id,
            &agent.name,
            c.action,
            &agent.limits,
            &self.inner.team,
            now,
            note,
        )
        .await?;
        limits::reserve(
            store,
            &agent.id,
            &agent.name,
            c.action,
            &c.args,
            &agent.limits,
            &self.inner.settings.prices,
            now,
            note,
        )
        .await
    }

    /// Records and answers a refusal, the sentence saying what was asked and why not.
    async fn deny(
        &self,
        mut rec: Record,
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
                why: &refused.reason(),
            },
        );
        self.refuse(rec, Some(action), refused).await
    }

    async fn forward(&self, c: &Classified<'_>) -> Result<crate::upstream::Answer, UpstreamError> {
        let mut args = c.args.clone();
        if c.action.id == "sequences.add_contacts" && !args.has("emailer_campaign_id") {
            // Apollo wants the sequence id in the body too; an MCP caller gives it once.
            if let Some(id) = &c.path_id {
                let mut map = args.value().clone();
                map.insert("emailer_campaign_id".into(), Value::String(id.clone()));
                args = Args::from_value(map);
            }
        }
        // What Apollo receives is the canonical form of what was decided, never the agent's
        // raw bytes, so no parser difference can change the call after the decision.
        let (query, json_body) = if c.method == "GET" {
            (Some(args.to_query_string()), None)
        } else {
            (None, Some(args.to_json_body()))
        };
        self.inner
            .upstream
            .send(Outgoing {
                method: &c.method,
                path: &c.path,
                query,
                json_body,
            })
            .await
    }

    fn base_record(&self, call: &Call, live: Option<&LiveAgent>) -> Record {
        let (method, path) = match &call.target {
            Target::Http { method, path, .. } => {
                (Some(method.clone()), Some(path.chars().take(200).collect()))
            }
            Target::Tool { name, .. } => (
                Some("tools/call".to_owned()),
                Some(name.chars().take(100).collect()),
            ),
        };
        Record {
            kind: "decision".into(),
            request_id: call.request_id.clone(),
            at: self.inner.clock.now(),
            agent_id: live.map(|l| l.agent.id.clone()),
            agent_name: live.map(|l| l.agent.name.clone()),
            channel: match call.door {
                Door::Rest => "rest".into(),
                Door::Mcp => "mcp".into(),
            },
            source: call.source.map(|s| s.to_string()),
            method,
            path,
            action: None,
            decision: "denied".into(),
            reason: String::new(),
            rule_ids: Vec::new(),
            sentence: String::new(),
            arguments: Value::Object(Map::new()),
            status: None,
            latency_ms: None,
            credits_reserved: None,
            credits_used: None,
            result: None,
            limits: None,
        }
    }

    async fn refuse(
        &self,
        mut rec: Record,
        action: Option<&'static Action>,
        refused: Refused,
    ) -> Reply {
        rec.decision = "denied".into();
        rec.reason = refused.reason();
        rec.rule_ids = refused.rule_ids.clone();
        rec.status = Some(refused.refusal.status_and_code().0);
        let request_id = rec.request_id.clone();
        let span = tracing::Span::current();
        span.record("agent", rec.agent_name.as_deref().unwrap_or("-"));
        span.record("action", action.map_or("-", |a| a.id));
        span.record("decision", "denied");
        tracing::info!(status = rec.status, "call");
        // Nothing is forwarded, so the record need not be on disk before answering; it is
        // queued (waiting for room if the queue is full) and written with the next batch.
        if let Err(e) = self.inner.audit.write(rec).await {
            tracing::error!(request_id = %request_id, error = %e, "a denial record could not be queued");
        }
        self.inner.metrics.denied.fetch_add(1, Ordering::Relaxed);
        Reply {
            request_id,
            action,
            result: Err(refused),
        }
    }
}

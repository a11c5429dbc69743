//! The gateway's in-memory view of agents: key hash -> agent with its compiled policy, and
//! the live OAuth connections (issue 13), each a credential of its agent.
//! Refreshed whenever the store's `config_version` moves (polled every half second, at once
//! after a change made through this process, and at once when PostgreSQL announces a change
//! made by another), so a change on one replica takes effect on all within milliseconds, and
//! within a second if a notification is lost. A `watch` channel tells MCP sessions that grants changed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bollard_policy::{AgentPolicy, Rule};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::keys::hashes_match;
use crate::store::{Agent, KeyHash, Store, StoreError};

/// An agent as the gate sees it.
#[derive(Debug)]
pub struct LiveAgent {
    pub agent: Agent,
    /// A policy that fails to compile denies everything, with this sentence.
    pub policy: Result<AgentPolicy, String>,
}

/// An OAuth connection whose access tokens are accepted now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConnection {
    pub agent_id: String,
    pub name: String,
}

#[derive(Debug, Default)]
struct Snapshot {
    version: i64,
    by_hash: HashMap<KeyHash, Arc<LiveAgent>>,
    by_id: HashMap<String, Arc<LiveAgent>>,
    /// Connection id -> connection. Loaded with the agents, under the same version: ending a
    /// connection bumps `config_version` like any admin change.
    connections: HashMap<String, LiveConnection>,
}

#[derive(Debug, Clone)]
pub struct Directory {
    store: Arc<dyn Store>,
    snap: Arc<RwLock<Arc<Snapshot>>>,
    changed: watch::Sender<i64>,
}

pub fn compile(agent: &Agent, rules: &[crate::store::StoredRule]) -> Result<AgentPolicy, String> {
    let rules: Vec<Rule> = rules
        .iter()
        .map(|r| Rule {
            name: r.name.clone(),
            cedar: r.cedar.clone(),
        })
        .collect();
    AgentPolicy::compile(&agent.id, &agent.name, &agent.grants, &rules).map_err(|e| {
        format!(
            "{}'s access could not be compiled ({e}), so every call is refused until an admin fixes it.",
            agent.name
        )
    })
}

impl Directory {
    pub async fn load(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        let (changed, _) = watch::channel(0);
        let d = Self {
            store,
            snap: Arc::new(RwLock::new(Arc::new(Snapshot::default()))),
            changed,
        };
        d.refresh(true).await?;
        Ok(d)
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snap
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Reloads everything if the store's version moved (or `force`).
    pub async fn refresh(&self, force: bool) -> Result<(), StoreError> {
        let version = self.store.config_version().await?;
        if !force && version == self.current().version {
            return Ok(());
        }
        let mut snap = Snapshot {
            version,
            ..Default::default()
        };
        for (hash, agent) in self.store.agent_keys().await? {
            let rules = self.store.list_rules(&agent.id).await?;
            let policy = compile(&agent, &rules);
            let live = Arc::new(LiveAgent { agent, policy });
            snap.by_id.insert(live.agent.id.clone(), live.clone());
            snap.by_hash.insert(hash, live);
        }
        for c in self.store.oauth().live_connections().await? {
            snap.connections.insert(
                c.id,
                LiveConnection {
                    agent_id: c.agent_id,
                    name: c.name,
                },
            );
        }
        {
            let mut current = self
                .snap
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Two refreshes can overlap (the poller and a change made here); the one that read
            // the older version must not overwrite the newer one's snapshot.
            if current.version > version {
                return Ok(());
            }
            *current = Arc::new(snap);
        }
        self.changed.send_replace(version);
        Ok(())
    }

    /// Refreshes until `shutdown`: at once when the store announces a change (PostgreSQL's
    /// `NOTIFY`, so a revocation on one replica takes effect on the others within
    /// milliseconds), and every `poll` in any case.
    pub fn spawn_poller(
        &self,
        poll: Duration,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut notes = me.store.config_notifications().await;
            let mut tick = tokio::time::interval(poll);
            loop {
                let announced = async {
                    match notes.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                    note = announced => {
                        if note.is_none() {
                            // The listener ended: polling alone from now on.
                            notes = None;
                        }
                    }
                }
                if let Err(e) = me.refresh(false).await {
                    tracing::warn!(error = %e, "refreshing agents failed; keeping the last known state");
                }
            }
        })
    }

    /// The agent holding this key hash. Keys are compared as SHA-256 digests, so the map
    /// lookup leaks nothing an attacker can steer; the final comparison is constant-time anyway.
    pub fn by_key(&self, hash: &KeyHash) -> Option<Arc<LiveAgent>> {
        let snap = self.current();
        let (stored, agent) = snap.by_hash.get_key_value(hash)?;
        hashes_match(stored, hash).then(|| agent.clone())
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<LiveAgent>> {
        self.current().by_id.get(id).cloned()
    }

    /// The connection, if it is live (not revoked) as of the last refresh.
    pub fn connection(&self, id: &str) -> Option<LiveConnection> {
        self.current().connections.get(id).cloned()
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.changed.subscribe()
    }
}

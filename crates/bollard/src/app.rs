//! Builds the app from its configuration: opens the store, starts the audit writer, binds
//! the agent and admin listeners (port 0 in tests) and runs until the shutdown token fires.
//! Shutdown stops accepting, lets calls in flight finish, then drains the audit queue.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::audit::pii::PiiHasher;
use crate::audit::writer::AuditWriter;
use crate::clock::Clock;
use crate::config::Config;
use crate::directory::Directory;
use crate::gate::{Gate, GateSettings};
use crate::store::{self, Store};
use crate::upstream::Upstream;

/// A running app: its bound addresses, its gate (tests reach the store through it), and the
/// task that ends when it has stopped.
#[derive(Debug)]
pub struct App {
    pub agent_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub gate: Gate,
    pub done: JoinHandle<()>,
}

/// Starts the app. `store` may be given (tests share one with the test body); otherwise the
/// configured database is opened and migrated.
pub async fn start(
    config: Config,
    store: Option<Arc<dyn Store>>,
    clock: Clock,
    shutdown: CancellationToken,
) -> anyhow::Result<App> {
    let store = match store {
        Some(s) => s,
        None => store::open(&config.database_url)
            .await
            .context("opening the database")?,
    };
    let directory = Directory::load(store.clone())
        .await
        .context("loading agents")?;
    let secret = store
        .installation_secret()
        .await
        .context("reading the installation secret")?;
    let pii = PiiHasher::new(secret.clone(), config.audit.keep_personal_data);
    let writer_stop = CancellationToken::new();
    let (audit, writer) = AuditWriter::start(
        store.clone(),
        config.audit.queue_capacity,
        config.audit.max_batch,
        writer_stop.clone(),
        Arc::new(crate::metrics::Metrics::new()),
    );
    let upstream = Upstream::new(&config.apollo).context("building the Apollo client")?;
    let gate = Gate::new(
        store.clone(),
        directory.clone(),
        audit,
        upstream,
        pii,
        clock,
        GateSettings::from_config(&config),
    );
    let signer_stop = CancellationToken::new();
    let signer = match config.audit.checkpoints.clone() {
        Some(c) => Some(
            crate::audit::sink::start(
                store.clone(),
                c,
                gate.audit().metrics().checkpoints.clone(),
                signer_stop.clone(),
            )
            .await
            .context("starting the checkpoint signer")?,
        ),
        None => None,
    };
    let exporter = match config.audit.export.clone() {
        Some(c) => Some(
            crate::audit::export::start(
                store.clone(),
                c,
                gate.audit().metrics().export.clone(),
                signer_stop.clone(),
            )
            .await
            .context("starting the audit export")?,
        ),
        None => None,
    };
    let poller = directory.spawn_poller(config.directory_poll, shutdown.clone());
    // Say this process is alive and settle what dead ones left held, before serving.
    crate::recovery::beat_and_sweep(&gate).await;
    let recovery = tokio::spawn(crate::recovery::run(gate.clone(), shutdown.clone()));

    let agent_listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the agent listener on {}", config.listen))?;
    let admin_listener = TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("binding the admin listener on {}", config.admin_listen))?;
    let agent_addr = agent_listener.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;

    let mut agent_router =
        crate::rest::router(gate.clone(), config.body_limit).merge(crate::mcp::router(
            gate.clone(),
            config.body_limit,
            config.mcp_origins.clone(),
            shutdown.clone(),
        ));
    // Spent OAuth codes, refresh tokens and links go, at start and then every ten minutes
    // (whether OAuth is on now or was once).
    let purger = crate::oauth::spawn_purger(
        store.clone(),
        gate.clock().clone(),
        crate::oauth::PURGE_EVERY,
        shutdown.clone(),
    );
    // OAuth for hosted assistants (issue 13), on when `public_url` is set.
    if let Some(public) = &config.public_url {
        let console = config
            .oauth
            .console_url
            .clone()
            .unwrap_or_else(|| format!("http://{admin_addr}"));
        let oauth = crate::oauth::OAuth::new(
            public,
            &console,
            config.oauth.clone(),
            directory.clone(),
            gate.clock().clone(),
            &secret,
        );
        gate.set_oauth(oauth);
        agent_router = agent_router
            .merge(crate::oauth::router(gate.clone()))
            .layer(axum::middleware::from_fn_with_state(
                gate.clone(),
                crate::oauth::challenge_layer,
            ));
    }
    // The webhook relay (#11), on when `public_url` is set: Apollo delivers to Bollard.
    let relay = config.public_url.as_deref().map(|public| {
        let relay = crate::relay::Relayer::new(public, config.webhook_relay.clone());
        gate.set_relay(relay.clone());
        relay
    });
    if relay.is_some() {
        agent_router = agent_router.merge(crate::relay::router(gate.clone(), config.body_limit));
    }
    let relay_purge = relay.as_ref().map(|_| {
        tokio::spawn(crate::relay::purge_every(
            gate.clone(),
            std::time::Duration::from_secs(3600),
            shutdown.clone(),
        ))
    });
    // Reconciliation with Apollo's credit_usage_stats (#19 item 6): a master key only (a
    // scoped key is refused that endpoint).
    let reconciler = config
        .reconcile_every
        .filter(|_| {
            config.apollo.api_key.is_some()
                && config.apollo.key_kind == crate::config::ApolloKeyKind::Master
        })
        .map(|every| tokio::spawn(crate::reconcile::run(gate.clone(), every, shutdown.clone())));
    let admin_router = crate::admin::router(gate.clone());

    let s1 = shutdown.clone();
    let listener_config = config.agent_listener.clone();
    let agent_server = tokio::spawn(crate::listener::serve(
        agent_listener,
        agent_router,
        listener_config,
        s1,
    ));
    let s2 = shutdown.clone();
    let admin_server = tokio::spawn(async move {
        let svc = admin_router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(admin_listener, svc)
            .with_graceful_shutdown(s2.cancelled_owned())
            .await
        {
            tracing::error!(error = %e, "the admin listener failed");
        }
    });
    let floods = tokio::spawn(crate::gate::flood::flush_every(
        gate.clone(),
        std::time::Duration::from_secs(10),
        shutdown.clone(),
    ));
    let last_gate = gate.clone();
    let done = tokio::spawn(async move {
        let _ = agent_server.await;
        let _ = admin_server.await;
        let _ = poller.await;
        let _ = floods.await;
        let _ = recovery.await;
        let _ = purger.await;
        if let Some(p) = relay_purge {
            let _ = p.await;
        }
        if let Some(r) = reconciler {
            let _ = r.await;
        }
        // Deliveries still waiting for an agent's address end (and are recorded) while the
        // audit writer still runs.
        if let Some(r) = &relay {
            r.close().await;
        }
        // No call is in flight any more: the open flood windows are summarised now, and this
        // process stops holding anything.
        last_gate.flush_floods(true).await;
        crate::recovery::retire(&last_gate).await;
        // Only now, with no call left in flight, close and drain the audit queue.
        writer_stop.cancel();
        let _ = writer.await;
        // Last, so the final checkpoint covers every record the queue held.
        signer_stop.cancel();
        if let Some(s) = signer {
            let _ = s.await;
        }
        if let Some(e) = exporter {
            let _ = e.await;
        }
    });
    Ok(App {
        agent_addr,
        admin_addr,
        gate,
        done,
    })
}

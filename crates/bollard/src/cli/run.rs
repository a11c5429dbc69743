//! The long-running commands: `demo`, `serve`, `sandbox`, and `bench`.

use std::net::SocketAddr;

use apollo_sandbox::{Sandbox, SandboxConfig};
use clap::Args;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::{Cli, CliResult, Failure, load_config, outln, say};
use crate::app;
use crate::clock::Clock;
use crate::config::{Config, Overrides};
use crate::keys::Secret;
use crate::ops;
use crate::store::{self, Limits};

pub use super::bench::{BenchArgs, bench};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Agent listener (REST and MCP).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Admin listener (admin API and console).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub admin_listen: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Agent listener (overrides BOLLARD_LISTEN).
    #[arg(long)]
    pub listen: Option<String>,
    /// Admin listener (overrides BOLLARD_ADMIN_LISTEN).
    #[arg(long)]
    pub admin_listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// Seed of the generated prospect database.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Use this master key instead of a random one.
    #[arg(long)]
    pub master_key: Option<String>,
    /// Use this scoped key instead of a random one.
    #[arg(long)]
    pub scoped_key: Option<String>,
    /// Requests per minute per endpoint (hour and day scale with it as on Apollo's plans).
    #[arg(long)]
    pub per_minute: Option<u64>,
}

/// Resolves on Ctrl-C (or SIGTERM on Unix).
pub async fn ctrl_c(token: CancellationToken) {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    token.cancel();
}

pub async fn serve(cli: &Cli, a: &ServeArgs) -> CliResult {
    let config = load_config(
        cli,
        Overrides {
            listen: a.listen.clone(),
            admin_listen: a.admin_listen.clone(),
            ..Default::default()
        },
    )?;
    if config.apollo.api_key.is_none() {
        return Err(Failure::Message(
            "no Apollo key: set APOLLO_API_KEY (or APOLLO_API_KEY_FILE) to the team's key. To try Bollard without one, run `bollard demo`.".into(),
        ));
    }
    let token = CancellationToken::new();
    let app = app::start(config, None, Clock::system(), token.clone())
        .await
        .map_err(|e| Failure::Message(format!("{e:#}")))?;
    say(
        cli.log_format,
        &format!(
            "Bollard is serving agents on http://{} and the admin console on http://{}. Ctrl-C stops it.",
            app.agent_addr, app.admin_addr
        ),
    );
    tokio::spawn(ctrl_c(token));
    let _ = app.done.await;
    say(cli.log_format, "Stopped; the audit log is flushed.");
    Ok(())
}

pub async fn sandbox(a: &SandboxArgs) -> CliResult {
    let mut config = SandboxConfig::new(a.seed);
    if let Some(k) = &a.master_key {
        config.master_key = k.clone();
    }
    if let Some(k) = &a.scoped_key {
        config.scoped_key = k.clone();
    }
    if let Some(m) = a.per_minute {
        config.limits = apollo_sandbox::PlanLimits {
            per_minute: m,
            per_hour: m * 2,
            per_day: m * 10,
        };
    }
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .map_err(|e| Failure::Message(format!("cannot listen on {}: {e}", a.listen)))?;
    let addr = listener.local_addr()?;
    outln!(
        "Apollo sandbox on http://{addr} (seed {}, {} people)\n\n  master key: {}\n  scoped key: {}  (people, organizations, contacts, accounts only)\n\nTry:\n  curl -s -X POST http://{addr}/api/v1/mixed_people/api_search -H 'x-api-key: {}' -H 'content-type: application/json' -d '{{\"person_titles\": [\"vp sales\"], \"per_page\": 2}}'\n\nCtrl-C stops it.",
        a.seed,
        config.people,
        config.master_key,
        config.scoped_key,
        config.master_key
    );
    let token = CancellationToken::new();
    tokio::spawn(ctrl_c(token.clone()));
    apollo_sandbox::serve(config, listener, token)
        .await
        .map_err(|e| Failure::Message(e.to_string()))?;
    eprintln!("Sandbox stopped.");
    Ok(())
}

/// One example agent of the demo.
struct DemoAgent {
    name: &'static str,
    about: &'static str,
    grants: &'static [&'static str],
    credits_per_day: Option<u64>,
}

const DEMO_AGENTS: [DemoAgent; 3] = [
    DemoAgent {
        name: "Sales Agent",
        about: "Finds prospects, reads contacts and adds them to sequences. May not reveal emails or phone numbers.",
        grants: &[
            "people=read",
            "contacts=read",
            "sequences=full",
            "reveal=off",
        ],
        credits_per_day: Some(50),
    },
    DemoAgent {
        name: "Research Agent",
        about: "Researches companies and people, and may reveal contact details, within 100 credits a day.",
        grants: &["people=read", "organizations=read", "reveal=full"],
        credits_per_day: Some(100),
    },
    DemoAgent {
        name: "CRM Logger",
        about: "Only writes contacts and accounts it is told about; reads nothing.",
        grants: &["contacts=write", "accounts=write"],
        credits_per_day: None,
    },
];

pub async fn demo(cli: &Cli, a: &DemoArgs) -> CliResult {
    // The global options are listed under every command; the demo's database and Apollo are
    // its own, so one given here would be quietly ignored (found in review): refuse it.
    if cli.config.is_some() || cli.database_url.is_some() {
        return Err(Failure::Message(
            "the demo runs on a throwaway database and a local Apollo sandbox of its own, so it takes no --config or --database-url; use them with `bollard serve`".into(),
        ));
    }
    let dir = tempfile_dir()?;
    let db = dir.join("bollard-demo.db");
    let database_url = format!("sqlite://{}", db.display());
    let token = CancellationToken::new();

    let sandbox_config = SandboxConfig::new(42);
    let sandbox = Sandbox::spawn(sandbox_config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| Failure::Message(format!("starting the Apollo sandbox: {e}")))?;

    let mut config = Config {
        database_url: database_url.clone(),
        ..Config::default()
    };
    config.listen = a
        .listen
        .parse()
        .map_err(|_| Failure::Message(format!("--listen '{}' is not an address", a.listen)))?;
    config.admin_listen = a.admin_listen.parse().map_err(|_| {
        Failure::Message(format!(
            "--admin-listen '{}' is not an address",
            a.admin_listen
        ))
    })?;
    if crate::config::overlap(config.listen, config.admin_listen) {
        return Err(Failure::Message(format!(
            "--listen and --admin-listen are both on port {}: each listener needs its own",
            config.listen.port()
        )));
    }
    config.apollo.base_url = sandbox.base_url();
    config.apollo.api_key = Some(Secret::new(sandbox.master_key()));
    config.webhook_prefixes = vec!["http://127.0.0.1:9999/hooks/".into()];
    // OAuth for hosted assistants (issue 13) is on in the demo: its public URL is the agent
    // listener's own loopback address (plain http is allowed there). It must be known before
    // the listener binds, so a port of 0 (the kernel's choice) leaves OAuth off.
    config.public_url = demo_public_url(config.listen);

    let store = store::open(&database_url)
        .await
        .map_err(|e| Failure::Message(e.to_string()))?;
    let now = OffsetDateTime::now_utc();
    let mut keys = Vec::new();
    for d in &DEMO_AGENTS {
        let created =
            ops::create_agent(&*store, &super::command_line(), d.name, d.about, None, now).await?;
        let grants: Vec<String> = d.grants.iter().map(|s| (*s).to_owned()).collect();
        ops::grant(&*store, &super::command_line(), d.name, &grants).await?;
        if let Some(c) = d.credits_per_day {
            ops::put_limits(
                &*store,
                &super::command_line(),
                &created.agent,
                Limits {
                    credits_per_day: Some(c),
                    per_minute: Some(120),
                    ..Limits::default()
                },
            )
            .await?;
        }
        keys.push((d.name, created.key));
    }
    let (_, admin_key) =
        ops::create_admin_key(&*store, &super::command_line(), "demo admin").await?;

    let config_public = config.public_url.clone();
    let app = app::start(config, Some(store.clone()), Clock::system(), token.clone())
        .await
        .map_err(|e| Failure::Message(format!("{e:#}")))?;
    let base = format!("http://{}", app.agent_addr);
    let hosted = match &config_public {
        Some(public) => format!(
            "\nHosted assistants (OAuth, no key): add {public}/mcp as a remote MCP server (a custom\nconnector). The assistant opens the console's Connect page in the browser: sign in with the\nadmin key, choose the agent it acts as and choose Connect. Or hand someone a single-use link:\n  BOLLARD_PUBLIC_URL={public} BOLLARD_ADMIN_LISTEN={admin} bollard connect-link \"Sales Agent\" --database-url sqlite://{db}\n",
            db = db.display(),
            admin = app.admin_addr,
        ),
        None => "\nHosted assistants (OAuth) are off in this demo: give --listen a port other than 0 to try them.\n".to_owned(),
    };
    let sales = keys
        .first()
        .map(|(_, k)| k.expose().to_owned())
        .unwrap_or_default();
    let mut page = String::new();
    page.push_str(&format!(
        "\nBollard demo: the gateway is running against a local Apollo sandbox.\n\n  Agents (REST and MCP): {base}   (use it as Apollo's base URL)\n  Admin console:         http://{}/\n  Admin key:             {}\n\nAgents and their keys (each shown once):\n",
        app.admin_addr,
        admin_key.expose()
    ));
    for (d, (_, key)) in DEMO_AGENTS.iter().zip(&keys) {
        page.push_str(&format!(
            "  {:<15} {}\n                  {}\n",
            d.name,
            key.expose(),
            d.about
        ));
    }
    page.push_str(&format!(
        "\nAn allowed call (Sales Agent searches people; free):\n  curl -s -X POST {base}/api/v1/mixed_people/api_search -H 'x-api-key: {sales}' -H 'content-type: application/json' -d '{{\"person_titles\": [\"vp sales\"], \"per_page\": 3}}'\n\nA denied call (Sales Agent asks for phone numbers):\n  curl -s -X POST {base}/api/v1/people/match -H 'x-api-key: {sales}' -H 'content-type: application/json' -d '{{\"domain\": \"example.com\", \"first_name\": \"Ada\", \"last_name\": \"Lovelace\", \"reveal_phone_number\": true, \"webhook_url\": \"http://127.0.0.1:9999/hooks/phones\"}}'\n\nWhat would happen, without sending anything:\n  bollard check \"Sales Agent\" POST /api/v1/people/bulk_match --database-url sqlite://{} --body '{{\"details\": [{{\"email\": \"a@b.co\"}}]}}'\n\nThe audit log, in plain English:\n  bollard audit --database-url sqlite://{}\n\nMCP clients: streamable HTTP at {base}/mcp with Authorization: Bearer <agent key>.\nFor a desktop assistant (e.g. Claude Desktop's claude_desktop_config.json), the stdio bridge:\n  {{\"mcpServers\": {{\"apollo\": {{\"command\": \"{exe}\", \"args\": [\"mcp\", \"--url\", \"{base}/mcp\"], \"env\": {{\"BOLLARD_AGENT_KEY\": \"{sales}\"}}}}}}}}\n{hosted}\nCtrl-C stops the demo (the demo database is thrown away).\n",
        db.display(),
        db.display(),
        exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "bollard".into()),
    ));
    outln!("{page}");
    tokio::spawn(ctrl_c(token));
    let _ = app.done.await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("Demo stopped.");
    Ok(())
}

/// The demo's public URL: its agent listener on loopback, or none when the port is not known
/// before binding.
fn demo_public_url(listen: SocketAddr) -> Option<String> {
    if listen.port() == 0 {
        return None;
    }
    let host = match listen.ip() {
        ip if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], listen.port())),
        _ => listen,
    };
    Some(format!("http://{host}"))
}

fn tempfile_dir() -> Result<std::path::PathBuf, Failure> {
    let dir = std::env::temp_dir().join(format!("bollard-demo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

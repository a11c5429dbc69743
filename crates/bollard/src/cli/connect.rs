//! `bollard agent connections`, `agent disconnect` and `connect-link`: hosted assistants
//! connected by OAuth as an agent (issue 13).

use clap::Args;
use time::OffsetDateTime;

use super::{Cli, CliResult, Failure, load_config, open_store, outln};
use crate::config::Overrides;
use crate::oauth::ops as oops;
use crate::ops;
use crate::store::Store;
use crate::store::oauth::Connection;

#[derive(Debug, Args)]
pub struct ConnectLinkArgs {
    /// The agent the connection will act as (name or id).
    pub agent: String,
    /// How long the link works, e.g. 30m, 24h, 7d (at most 30d).
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub expires_in: String,
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
}

fn line(c: &Connection) -> String {
    let state = match (&c.revoked_at, &c.revoked_reason) {
        (Some(at), Some(why)) => format!("ended {} ({why})", at.date()),
        (Some(at), None) => format!("ended {}", at.date()),
        (None, _) => "active".to_owned(),
    };
    format!(
        "  {}  '{}'  {state}; approved by {} on {}; client {}",
        c.id,
        c.name,
        c.approved_by,
        c.created_at.date(),
        c.client_id
    )
}

/// The connection lines `agent show` adds.
pub async fn show_lines(store: &dyn Store, agent_id: &str) -> Result<Vec<String>, Failure> {
    let list = store.oauth().list_connections(Some(agent_id)).await?;
    Ok(list
        .iter()
        .filter(|c| c.revoked_at.is_none())
        .map(line)
        .collect())
}

pub async fn connections(store: &dyn Store, agent: &str, json: bool) -> CliResult {
    let (a, list) = oops::connections(store, agent).await?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"connections": list}))?
        );
        return Ok(());
    }
    if list.is_empty() {
        outln!(
            "{} has no connections. A hosted assistant connects by OAuth; `bollard connect-link \"{}\"` makes a link for the person who will connect it.",
            a.name,
            a.name
        );
        return Ok(());
    }
    outln!("{}'s connections:", a.name);
    for c in &list {
        outln!("{}", line(c));
    }
    Ok(())
}

pub async fn disconnect(store: &dyn Store, agent: &str, connection: &str, json: bool) -> CliResult {
    let c = oops::disconnect(
        store,
        &super::command_line(),
        agent,
        connection,
        OffsetDateTime::now_utc(),
    )
    .await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        outln!(
            "'{}' is disconnected; its tokens stop working within a second.",
            c.name
        );
    }
    Ok(())
}

pub async fn connect_link(cli: &Cli, a: &ConnectLinkArgs) -> CliResult {
    let config = load_config(cli, Overrides::default())?;
    let Some(public) = config.public_url.clone() else {
        return Err(Failure::Message(
            "connecting hosted assistants is off: set public_url in the configuration (the address assistants reach Bollard at) first".into(),
        ));
    };
    let console = config
        .oauth
        .console_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.admin_listen));
    let expires_in = ops::parse_duration(&a.expires_in)?;
    super::agent::secret_can_be_shown("the link")?;
    let store = open_store(cli).await?;
    let (agent, token, expires_at) = oops::create_link(
        &*store,
        &super::command_line(),
        &a.agent,
        expires_in,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let url = format!("{console}/connect/link/{token}");
    let until = expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    super::agent::show_once(
        a.json.then(|| {
            serde_json::json!({
                "agent": agent.name, "url": url, "expires_at": until, "mcp_url": format!("{public}/mcp"),
            })
        }),
        format!(
            "A connect link for {}, single use, valid until {until}:\n\n  {url}\n\nGive it to the person who will connect the assistant. They open it, add {public}/mcp to their assistant as a remote MCP server, and approve when the assistant sends them back to Bollard.",
            agent.name
        ),
        format!(
            "A connect link for {} was made, but standard output closed before it was printed, so nobody has it: make another (the lost one expires at {until} unused).",
            agent.name
        ),
    )?;
    Ok(())
}

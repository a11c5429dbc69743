//! Runs the sandbox until Ctrl-C: `cargo run --release -p apollo-sandbox --example serve -- [ADDR] [SEED] [--unlimited]`.
//! Used to measure throughput; `bollard sandbox` is the command users run.

use std::net::SocketAddr;

use apollo_sandbox::{PlanLimits, SandboxConfig, serve};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let mut positional = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let addr: SocketAddr = positional
        .next()
        .as_deref()
        .unwrap_or("127.0.0.1:4010")
        .parse()?;
    let seed: u64 = positional.next().as_deref().unwrap_or("42").parse()?;
    let mut config = SandboxConfig::new(seed);
    if std::env::args().any(|a| a == "--unlimited") {
        config.limits = PlanLimits::unlimited();
    }
    if let Ok(key) = std::env::var("SANDBOX_MASTER_KEY") {
        config.master_key = key;
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("Apollo sandbox on http://{}", listener.local_addr()?);
    println!("master key: {}", config.master_key);
    println!("scoped key: {}", config.scoped_key);
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    serve(config, listener, shutdown).await?;
    Ok(())
}

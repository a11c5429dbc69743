//! The `bollard` binary: parse the command line, hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = bollard::cli::Cli::parse();
    bollard::cli::init_tracing(cli.log_format);
    bollard::cli::run(cli).await
}

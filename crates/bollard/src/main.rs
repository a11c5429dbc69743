//! The `bollard` binary: parse the command line, hand over to the library.

use clap::Parser;

/// mimalloc: the gateway allocates small buffers on every call from many threads, where
/// glibc's allocator showed up as an eighth of the CPU in `bollard bench` profiles. Built
/// without transparent huge pages (the `no_thp` feature, which disables them for the process
/// at start): with them, each arena page touched kept 2 MB resident.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = bollard::cli::Cli::parse();
    // `serve` logs a line per call: written in batches, and what waits is written at the end.
    let serving = matches!(cli.command, bollard::cli::Command::Serve(_));
    bollard::cli::init_tracing(cli.log_format, serving);
    let code = bollard::cli::run(cli).await;
    bollard::cli::log::flush();
    code
}

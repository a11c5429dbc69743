//! The `bollard` binary: parse the command line, hand over to the library.

use clap::Parser;

/// mimalloc: the gateway allocates small buffers on every call from many threads, where
/// glibc's allocator showed up as an eighth of the CPU in `bollard bench` profiles. Built
/// without transparent huge pages (the `no_thp` feature, which disables them for the process
/// at start): with them, each arena page touched kept 2 MB resident.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = bollard::cli::Cli::parse();
    // `serve` logs a line per call: written in batches, and what waits is written at the end.
    let serving = matches!(cli.command, bollard::cli::Command::Serve(_));
    bollard::cli::init_tracing(cli.log_format, serving);
    // One worker fewer than the cores: see `cli::runtime`.
    let runtime = match bollard::cli::runtime::build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let code = runtime.block_on(bollard::cli::run(cli));
    // Tasks the runtime drops can still log; what waits is written after them.
    drop(runtime);
    bollard::cli::log::flush();
    code
}

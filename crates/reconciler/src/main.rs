#![forbid(unsafe_code)]

use clap::Parser;
use sidecarset_reconciler::{
    cli::{self, Cli, Command},
    migrate, telemetry,
};

#[cfg(all(feature = "alloc-mimalloc", feature = "alloc-jemalloc"))]
compile_error!("features alloc-mimalloc and alloc-jemalloc: choose one global allocator");

// The allocator decides how much of the initial list's transient memory comes back
// (docs/numbers.md, memory by allocator; `make bench-memory` measures each).
#[cfg(feature = "alloc-mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "alloc-jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_json);
    let res = match cli.command {
        Command::Run(args) => cli::run(args).await,
        Command::Plan(args) => cli::plan(args, &mut std::io::stdout().lock()).await,
        Command::Migrate(args) => {
            migrate::migrate(
                &args,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )
            .await
        }
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "exiting");
            eprintln!("sidecarset-reconciler: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

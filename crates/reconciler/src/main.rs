#![forbid(unsafe_code)]

use clap::Parser;
use sidecarset_reconciler::{
    cli::{self, Cli, Command},
    migrate, telemetry,
};

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

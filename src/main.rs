//! The `tessera` binary: parse the command line, load settings, set up logging, run.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tessera::cli::{Cli, Command};
use tessera::config::Config;

/// mimalloc instead of the system allocator: glibc keeps each thread arena's freed memory, so a
/// burst of logins (argon2id takes 19 MiB per hash, on whichever blocking thread runs it) left
/// the server at 250–370 MB for good; mimalloc hands freed memory back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (config, warnings) = match Config::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("tessera: {e}");
            return ExitCode::from(2);
        }
    };
    tessera::telemetry::init(&config.log, config.log_format);
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            match tessera::App::build(config, Arc::new(tessera::clock::SystemClock)).await {
                Ok(app) => app.run().await,
                Err(e) => Err(e),
            }
        }
        other => tessera::cli::run_admin(&config, other).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e:#}");
            ExitCode::FAILURE
        }
    }
}

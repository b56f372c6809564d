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

/// glibc's malloc gives each thread that allocates an arena of its own, up to 8 per core, and
/// keeps what is freed in it. Rust's allocations go to mimalloc, but SQLite (C) allocates through
/// glibc from one worker thread per connection: with 16 connections the server's RSS rose in
/// 12–14 MB steps for as long as it ran under load (BENCHMARKS.md "Memory under sustained load");
/// two arenas keep it flat. glibc reads the limit only at start, so the server sets it and runs
/// itself again, once; a `MALLOC_ARENA_MAX` already set is left as it is.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    const ARENAS: &str = "2";
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("MALLOC_ARENA_MAX", ARENAS)
        .exec();
    // Only reached when the exec failed: run as we are.
    eprintln!("tessera: cannot limit malloc arenas ({error}); running without the limit");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, None | Some(Command::Serve)) {
        limit_malloc_arenas();
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            eprintln!("tessera: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
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

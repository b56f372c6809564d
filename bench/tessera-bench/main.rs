//! `tessera-bench`: chains rotated refresh tokens against a token endpoint and reports the
//! exchange rate, latency percentiles, every non-200 by status and `error`, who used the CPU
//! (server, this generator, PostgreSQL, the rest) and the server's peak RSS. See BENCHMARKS.md.
//!
//! - `tessera-bench [run] --url …`: a tessera that is already running (families seeded through
//!   the API), or any token endpoint with `--token-url` and `--tokens-file` (pre-seeded tokens,
//!   e.g. another OpenID provider's);
//! - `tessera-bench [run] --spawn …`: a fresh tessera on a fresh database, made and removed by
//!   the harness;
//! - `tessera-bench matrix …`: the cells of issue 7 (backend × access-token algorithm × openid ×
//!   rotation × clients), each on a fresh server, with the database ceiling and signing cost
//!   of `tessera-floor`, optionally a peer provider, as a Markdown table and JSON;
//! - `tessera-bench soak …`: sustained mixed traffic against a fresh server with its RSS
//!   sampled, failing on a growing trend (the long form is in BENCHMARKS.md);
//! - `tessera-bench seed …`: API logins whose refresh tokens are written to a file, for
//!   `--tokens-file` or another load generator (wrk with a chaining script).
//!
//! The load generator is lean on purpose, since it shares the cores with the server: one
//! hyper HTTP/1.1 connection per virtual client, a current-thread runtime by default,
//! prebuilt request bodies, and no JSON parsing of 200 answers.

mod floor;
mod http;
mod load;
mod matrix;
mod peer;
mod procfs;
mod soak;
mod spawn;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::http::Target;
use crate::load::{LoadConfig, LoadReport, Login, TokenPool};
use crate::spawn::{Alg, Backend, Server, SpawnOpts};

#[derive(Debug, Parser)]
#[command(
    name = "tessera-bench",
    about = "Chain rotated refresh tokens against a token endpoint and report throughput, latency, CPU and memory",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One load run (the default): against a running server, or with --spawn.
    Run(RunArgs),
    /// The matrix of issue 7, a fresh server per cell.
    Matrix(matrix::MatrixArgs),
    /// Seed families through the API (password grant) and write their refresh tokens, one a
    /// line, for --tokens-file or another load generator (e.g. wrk with a chaining script).
    Seed(SeedArgs),
    /// Sustained mixed traffic against a fresh server, its RSS sampled: does memory stay flat?
    Soak(soak::SoakArgs),
}

#[derive(Debug, Clone, Args)]
struct SeedArgs {
    /// Base URL of a running tessera (loopback only); logins go to <url>oauth/token.
    #[arg(long, default_value = "http://127.0.0.1:3000/")]
    url: url::Url,
    #[arg(long)]
    client_id: String,
    #[arg(long, env = "TESSERA_BENCH_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    #[arg(long)]
    username: String,
    #[arg(long, env = "TESSERA_BENCH_PASSWORD", hide_env_values = true)]
    password: String,
    #[arg(long)]
    audience: Option<String>,
    #[arg(long, default_value = "offline_access")]
    scope: String,
    /// Families (logins).
    #[arg(long)]
    count: usize,
    /// Logins run at once.
    #[arg(long, default_value_t = 4)]
    seed_concurrency: usize,
    /// Where the tokens go.
    #[arg(long)]
    tokens_out: PathBuf,
}

async fn seed(args: SeedArgs) -> Result<()> {
    let target = Target::new(&args.url.join("oauth/token").context("token endpoint URL")?)?;
    let login = Login {
        username: args.username,
        password: args.password,
        audience: args.audience,
        scope: args.scope,
    };
    let pool = Arc::new(TokenPool::new(
        &args.client_id,
        &args.client_secret,
        Vec::new(),
        Some(&login),
        "API logins",
    ));
    let started = Instant::now();
    load::seed_by_login(pool.clone(), &target, args.count, args.seed_concurrency).await?;
    let tokens = pool.drain();
    let mut text = tokens.join("\n");
    text.push('\n');
    std::fs::write(&args.tokens_out, text)
        .with_context(|| format!("cannot write {}", args.tokens_out.display()))?;
    eprintln!(
        "tessera-bench: {} tokens in {:.2} s written to {}",
        tokens.len(),
        started.elapsed().as_secs_f64(),
        args.tokens_out.display()
    );
    Ok(())
}

/// How the load runs.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Virtual clients, each chaining its own refresh-token family on its own connection.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Warm-up seconds (exchanges run but are not counted).
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Runtime threads of this generator (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Logins run at once while seeding through the API (password hashing is deliberately slow).
    #[arg(long, default_value_t = 4)]
    pub seed_concurrency: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// How a spawned server is made.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The tessera binary (--spawn, matrix).
    #[arg(long, default_value = "target/release/tessera")]
    tessera_bin: PathBuf,
    /// The tessera-floor binary; default: next to this one (target/release/).
    #[arg(long)]
    floor_bin: Option<PathBuf>,
    /// PostgreSQL URL through which fresh databases are created and dropped.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg_url: String,
    /// An extra setting for the spawned server, KEY=VALUE (repeatable), applied after the
    /// harness's own: e.g. `--server-env TESSERA_DB_MAX_CONNECTIONS=32`.
    #[arg(long = "server-env", value_name = "KEY=VALUE", value_parser = parse_server_env)]
    server_env: Vec<(String, String)>,
}

fn parse_server_env(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if k.starts_with("TESSERA_") => Ok((k.to_owned(), v.to_owned())),
        Some(_) => Err("only TESSERA_* settings (the database is the harness's)".into()),
        None => Err("expected KEY=VALUE".into()),
    }
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// Base URL of a running tessera (loopback only); the token endpoint is <url>oauth/token.
    #[arg(long, default_value = "http://127.0.0.1:3000/")]
    url: url::Url,
    /// The token endpoint itself (e.g. http://127.0.0.1:3001/token for another provider).
    #[arg(long)]
    token_url: Option<url::Url>,
    /// A client allowed the refresh_token grant (and password, to seed through the API).
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long, env = "TESSERA_BENCH_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// The user whose logins seed the families (password grant).
    #[arg(long)]
    username: Option<String>,
    #[arg(long, env = "TESSERA_BENCH_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// The API (audience) of the access tokens; without it, the server's default.
    #[arg(long)]
    audience: Option<String>,
    /// The scope asked for at login (must include offline_access to get a refresh token).
    #[arg(long, default_value = "offline_access")]
    scope: String,
    /// Pre-seeded refresh tokens, one a line: each client takes one, and a broken chain takes
    /// the next unused one (then logs in, if --username is given).
    #[arg(long)]
    tokens_file: Option<PathBuf>,
    /// The server's process id: its CPU time and RSS are read from /proc.
    #[arg(long)]
    server_pid: Option<u32>,

    /// Start a fresh tessera (fresh database, user, API, client), load it, stop it, drop the
    /// database.
    #[arg(long)]
    spawn: bool,
    /// --spawn: the database.
    #[arg(long, value_enum, default_value_t = Backend::Postgres)]
    backend: Backend,
    /// --spawn: the API's access-token signing algorithm.
    #[arg(long, value_enum, default_value_t = Alg::Es256)]
    alg: Alg,
    /// --spawn: scope "openid offline_access" (an ID token with every exchange).
    #[arg(long)]
    openid: bool,
    /// --spawn: a non-rotating client (set through the Management API).
    #[arg(long)]
    non_rotating: bool,
    /// --spawn: live families in the database (default: one per client). Beyond --clients,
    /// they are inserted by `tessera-floor seed`.
    #[arg(long)]
    families: Option<usize>,

    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    server: ServerArgs,
}

impl LoadArgs {
    fn check(&self) -> Result<()> {
        if self.clients == 0 || self.duration == 0 || self.threads == 0 {
            bail!("--clients, --duration and --threads must be positive");
        }
        Ok(())
    }
}

/// One load against a spawned server: seed (API logins, or `tessera-floor seed` for
/// `families` beyond the clients), then run.
pub async fn load_spawned(
    server: &Server,
    load: &LoadArgs,
    families: Option<usize>,
    floor_bin: &std::path::Path,
    non_rotating: bool,
) -> Result<LoadReport> {
    let families = families.unwrap_or(load.clients);
    let login = server.login();
    let target = Target::new(&server.token_url()?)?;
    let seed_started = Instant::now();
    let pool = if families > load.clients {
        let tokens_out = server.work_dir.join("tokens.txt");
        let tokens = families.min(load.clients * 2 + 64);
        floor::seed(
            floor_bin,
            &floor::SeedArgs {
                database_url: &server.env.database_url,
                secrets_key: &server.env.secrets_key,
                client_id: &server.client_id,
                user_id: &server.user_id,
                audience: spawn::AUDIENCE,
                scope: server.scope,
                non_rotating,
                families,
                tokens,
                tokens_out: &tokens_out,
            },
        )
        .await?;
        let tokens = TokenPool::read_tokens_file(&tokens_out)?;
        if tokens.len() < load.clients {
            bail!(
                "tessera-floor seed wrote {} tokens for {} clients",
                tokens.len(),
                load.clients
            );
        }
        Arc::new(TokenPool::new(
            &server.client_id,
            &server.client_secret,
            tokens,
            Some(&login),
            "tessera-floor seed",
        ))
    } else {
        let pool = Arc::new(TokenPool::new(
            &server.client_id,
            &server.client_secret,
            Vec::new(),
            Some(&login),
            "API logins",
        ));
        load::seed_by_login(pool.clone(), &target, families, load.seed_concurrency).await?;
        pool
    };
    let seed_s = seed_started.elapsed().as_secs_f64();
    let cfg = LoadConfig {
        target,
        clients: load.clients,
        warmup: Duration::from_secs(load.warmup),
        duration: Duration::from_secs(load.duration),
        threads: load.threads,
        server_pid: Some(server.pid),
    };
    load::run(&cfg, pool, Some(seed_s), Some(families)).await
}

async fn run(args: RunArgs) -> Result<()> {
    args.load.check()?;
    let report = if args.spawn {
        let opts = SpawnOpts {
            tessera_bin: args.server.tessera_bin.clone(),
            backend: args.backend,
            pg_admin_url: args.server.pg_url.clone(),
            alg: args.alg,
            openid: args.openid,
            non_rotating: args.non_rotating,
            server_env: args.server.server_env.clone(),
        };
        let floor_bin = floor::floor_bin(args.server.floor_bin.as_deref());
        if args.families.is_some_and(|f| f > args.load.clients) && !floor_bin.is_file() {
            bail!(
                "--families beyond --clients needs tessera-floor, not found at {}: build it with \
                 `cargo build --release -p tessera-bench`, or pass --floor-bin",
                floor_bin.display()
            );
        }
        let server = Server::start(&opts).await?;
        if !args.load.json {
            eprintln!(
                "tessera-bench: spawned tessera {} on {} ({}), ready in {:.2} s",
                server.pid,
                server.env.base_url,
                server.backend.as_str(),
                server.started_in_s
            );
        }
        let report = load_spawned(
            &server,
            &args.load,
            args.families,
            &floor_bin,
            args.non_rotating,
        )
        .await;
        let stopped = server.stop().await;
        let report = report?;
        stopped?;
        report
    } else {
        let token_url = match &args.token_url {
            Some(u) => u.clone(),
            None => args.url.join("oauth/token").context("token endpoint URL")?,
        };
        let target = Target::new(&token_url)?;
        let client_id = args
            .client_id
            .as_deref()
            .context("--client-id is required")?;
        let client_secret = args
            .client_secret
            .as_deref()
            .context("--client-secret (or TESSERA_BENCH_CLIENT_SECRET) is required")?;
        let login = match (&args.username, &args.password) {
            (Some(username), Some(password)) => Some(Login {
                username: username.clone(),
                password: password.clone(),
                audience: args.audience.clone(),
                scope: args.scope.clone(),
            }),
            (Some(_), None) => bail!("--username needs --password (or TESSERA_BENCH_PASSWORD)"),
            (None, _) => None,
        };
        let seed_started = Instant::now();
        let (pool, families, seed_s) = match &args.tokens_file {
            Some(path) => {
                let tokens = TokenPool::read_tokens_file(path)?;
                if tokens.len() < args.load.clients {
                    bail!(
                        "{} holds {} tokens for {} clients",
                        path.display(),
                        tokens.len(),
                        args.load.clients
                    );
                }
                let source = format!("tokens file {}", path.display());
                let pool = TokenPool::new(client_id, client_secret, tokens, login.as_ref(), source);
                (Arc::new(pool), None, None)
            }
            None => {
                let login = login.as_ref().context(
                    "without --tokens-file, --username and --password seed the families",
                )?;
                let pool = Arc::new(TokenPool::new(
                    client_id,
                    client_secret,
                    Vec::new(),
                    Some(login),
                    "API logins",
                ));
                load::seed_by_login(
                    pool.clone(),
                    &target,
                    args.load.clients,
                    args.load.seed_concurrency,
                )
                .await?;
                (
                    pool,
                    Some(args.load.clients),
                    Some(seed_started.elapsed().as_secs_f64()),
                )
            }
        };
        let cfg = LoadConfig {
            target,
            clients: args.load.clients,
            warmup: Duration::from_secs(args.load.warmup),
            duration: Duration::from_secs(args.load.duration),
            threads: args.load.threads,
            server_pid: args.server_pid,
        };
        load::run(&cfg, pool, seed_s, families).await?
    };
    if args.load.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        load::print_text(&report);
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let (threads, command) = match cli.command {
        Some(Command::Matrix(m)) => (m.threads, Command::Matrix(m)),
        Some(Command::Run(r)) => (r.load.threads, Command::Run(r)),
        Some(Command::Seed(s)) => (1, Command::Seed(s)),
        Some(Command::Soak(s)) => (s.threads, Command::Soak(s)),
        None => (cli.run.load.threads, Command::Run(cli.run)),
    };
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .context("tokio runtime")?;
    runtime.block_on(async move {
        match command {
            Command::Run(r) => run(r).await,
            Command::Matrix(m) => matrix::run(m).await,
            Command::Seed(s) => seed(s).await,
            Command::Soak(s) => soak::run(s).await,
        }
    })
}

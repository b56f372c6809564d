//! `tessera-bench matrix`: PostgreSQL and SQLite × ES256 and RS256 × without and with `openid`
//! × rotating and non-rotating × 8/32/128 clients (each filterable), a fresh server (and
//! database) per cell so each peak RSS is the cell's own. Before the cells: `tessera-floor
//! sign` and, per backend, `tessera-floor ceiling` (32 clients) on a fresh migrated database;
//! the ceiling again after the cells, since this VM's speed drifts over a matrix's minutes.
//! Optionally the same load against a peer provider (peer.rs), run right after each rotating
//! cell whose openid matches --peer-openid, so each ratio compares two adjacent runs.
//! Prints a Markdown table; --out writes everything as JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;
use tessera::clock::Clock as _;

use crate::floor::{self, Ceiling, Sign};
use crate::load::LoadReport;
use crate::peer::{Peer, PeerResult};
use crate::spawn::{Alg, Backend, Db, Server, ServerEnv, SpawnOpts};
use crate::{LoadArgs, ServerArgs, procfs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rotation {
    Rotating,
    NonRotating,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenId {
    /// scope "offline_access": access token only.
    Off,
    /// scope "openid offline_access": an ID token (RS256) with every exchange.
    On,
}

#[derive(Debug, Clone, Args)]
pub struct MatrixArgs {
    /// Backends (comma-separated).
    #[arg(long = "backend", value_enum, value_delimiter = ',', default_values_t = [Backend::Postgres, Backend::Sqlite])]
    pub(crate) backends: Vec<Backend>,
    /// Access-token algorithms.
    #[arg(long = "alg", value_enum, value_delimiter = ',', default_values_t = [Alg::Es256, Alg::Rs256])]
    pub(crate) algs: Vec<Alg>,
    /// Without (off) and with (on) openid.
    #[arg(long = "openid", value_enum, value_delimiter = ',', default_values_t = [OpenId::Off, OpenId::On])]
    pub(crate) openid: Vec<OpenId>,
    /// Refresh-token rotation of the client.
    #[arg(long = "rotation", value_enum, value_delimiter = ',', default_values_t = [Rotation::Rotating, Rotation::NonRotating])]
    pub(crate) rotation: Vec<Rotation>,
    /// Client counts (comma-separated).
    #[arg(long = "clients", value_delimiter = ',', default_values_t = [8usize, 32, 128])]
    pub(crate) clients: Vec<usize>,
    /// Measured seconds per cell (after the warm-up).
    #[arg(long, default_value_t = 5)]
    pub(crate) duration: u64,
    /// Warm-up seconds per cell.
    #[arg(long, default_value_t = 1)]
    pub(crate) warmup: u64,
    /// Runtime threads of this generator (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// Logins run at once while seeding through the API.
    #[arg(long, default_value_t = 4)]
    pub(crate) seed_concurrency: usize,
    /// Live families per cell (default: one per client; beyond, seeded by tessera-floor).
    #[arg(long)]
    pub(crate) families: Option<usize>,
    /// Seconds of `tessera-floor ceiling` (after --ceiling-warmup); default: --duration.
    #[arg(long)]
    pub(crate) ceiling_duration: Option<u64>,
    #[arg(long)]
    pub(crate) ceiling_warmup: Option<u64>,
    /// Seconds of `tessera-floor sign`.
    #[arg(long, default_value_t = 2)]
    pub(crate) sign_duration: u64,
    /// Skip tessera-floor's ceiling and signing runs.
    #[arg(long)]
    pub(crate) no_floor: bool,
    /// A shell command that starts the peer provider (run with `sh -c`, stopped with SIGTERM to
    /// that PID after the peer cells: use `exec` so the PID is the provider's, as
    /// bench/peer/run.sh does). Needs --peer-url and --peer-tokens-file.
    #[arg(long)]
    pub(crate) peer_cmd: Option<String>,
    /// The peer's token endpoint, e.g. http://127.0.0.1:3001/token.
    #[arg(long)]
    pub(crate) peer_url: Option<url::Url>,
    /// The peer's pre-seeded refresh tokens, one a line (read once, after the peer is up):
    /// the peer cells take unused tokens from it in turn. With --peer-cmd the file is removed
    /// before the command starts, and the peer must write it.
    #[arg(long)]
    pub(crate) peer_tokens_file: Option<PathBuf>,
    #[arg(long)]
    pub(crate) peer_client_id: Option<String>,
    #[arg(long, env = "TESSERA_BENCH_PEER_CLIENT_SECRET", hide_env_values = true)]
    pub(crate) peer_client_secret: Option<String>,
    /// The peer's PID (CPU and RSS), when it was not started with --peer-cmd.
    #[arg(long)]
    pub(crate) peer_pid: Option<u32>,
    /// The peer's tokens carry openid (an ID token per exchange): compare it with the
    /// openid cells instead of the others.
    #[arg(long)]
    pub(crate) peer_openid: bool,
    /// A name for the peer in the table.
    #[arg(long, default_value = "peer")]
    pub(crate) peer_name: String,
    /// Write the full results as JSON here.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

#[derive(Debug, Clone, Serialize)]
struct Cell {
    backend: Backend,
    alg: Alg,
    openid: bool,
    rotation: Rotation,
    clients: usize,
}

impl Cell {
    fn label(&self) -> String {
        format!(
            "{} {} {} {} c{}",
            match self.backend {
                Backend::Postgres => "pg",
                Backend::Sqlite => "sqlite",
            },
            self.alg.as_str(),
            if self.openid { "openid" } else { "no-openid" },
            match self.rotation {
                Rotation::Rotating => "rot",
                Rotation::NonRotating => "non-rot",
            },
            self.clients
        )
    }
}

#[derive(Debug, Serialize)]
struct CellResult {
    cell: Cell,
    label: String,
    server_ready_s: Option<f64>,
    report: Option<LoadReport>,
    error: Option<String>,
    /// exchanges/s ÷ the backend's `tessera-floor ceiling` exchanges/s (the mean of the ceilings
    /// measured before and after the cells, or the one that was measured).
    fraction_of_ceiling: Option<f64>,
    /// exchanges/s ÷ the peer's in the run right after this cell, at the same client count
    /// (rotating cells whose openid matches --peer-openid).
    ratio_to_peer: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Outcome<T> {
    result: Option<T>,
    error: Option<String>,
}

impl<T> From<Result<T>> for Outcome<T> {
    fn from(r: Result<T>) -> Self {
        match r {
            Ok(v) => Self {
                result: Some(v),
                error: None,
            },
            Err(e) => Self {
                result: None,
                error: Some(format!("{e:#}")),
            },
        }
    }
}

#[derive(Debug, Serialize)]
struct MatrixReport {
    generated_at: String,
    cores: usize,
    duration_s: u64,
    warmup_s: u64,
    threads: usize,
    sign: Option<Outcome<Sign>>,
    /// The database ceiling per backend, measured before the cells …
    ceiling: BTreeMap<&'static str, Outcome<Ceiling>>,
    /// … and again after them: this VM's speed drifts over minutes, and the two say by how much.
    ceiling_end: BTreeMap<&'static str, Outcome<Ceiling>>,
    cells: Vec<CellResult>,
    peer: Vec<PeerResult>,
}

/// A fresh, migrated database for `tessera-floor ceiling`, dropped afterwards.
async fn ceiling_on(args: &MatrixArgs, backend: Backend, floor_bin: &Path) -> Result<Ceiling> {
    if !floor_bin.is_file() {
        // Same message as floor::ceiling, without making a database first.
        return floor::ceiling(floor_bin, "", 0, 0, 0).await;
    }
    let (db, url) = Db::create(backend, &args.server.pg_url).await?;
    let result = async {
        let env = ServerEnv::new(url.clone(), &args.server.server_env)?;
        let mut cmd = env.command(&args.server.tessera_bin);
        cmd.arg("migrate")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
            .await
            .context("tessera migrate timed out")?
            .context("cannot run tessera migrate")?;
        if !out.status.success() {
            bail!(
                "tessera migrate failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let duration = args.ceiling_duration.unwrap_or(args.duration);
        let warmup = args.ceiling_warmup.unwrap_or(args.warmup);
        floor::ceiling(floor_bin, &url, 32, duration, warmup).await
    }
    .await;
    if let Err(e) = db.drop_it().await {
        eprintln!("tessera-bench: {e:#}");
    }
    result
}

/// `tessera-floor ceiling` on each backend of the matrix.
async fn ceilings(
    args: &MatrixArgs,
    floor_bin: &Path,
    when: &str,
) -> BTreeMap<&'static str, Outcome<Ceiling>> {
    let mut ceilings = BTreeMap::new();
    for &backend in &args.backends {
        eprintln!(
            "tessera-bench: tessera-floor ceiling on {}, {when}",
            backend.as_str()
        );
        let ceiling = Outcome::from(ceiling_on(args, backend, floor_bin).await);
        if let Some(e) = &ceiling.error {
            eprintln!("tessera-bench: {e}");
        }
        ceilings.insert(backend.as_str(), ceiling);
    }
    ceilings
}

/// The mean of the backend's ceilings that were measured (before and after the cells).
fn mean_ceiling(
    start: &BTreeMap<&'static str, Outcome<Ceiling>>,
    end: &BTreeMap<&'static str, Outcome<Ceiling>>,
    backend: &str,
) -> Option<f64> {
    let measured: Vec<f64> = [start.get(backend), end.get(backend)]
        .into_iter()
        .flatten()
        .filter_map(|c| c.result.as_ref())
        .map(|c| c.exchanges_per_s)
        .filter(|&x| x > 0.0)
        .collect();
    (!measured.is_empty()).then(|| measured.iter().sum::<f64>() / measured.len() as f64)
}

async fn run_cell(
    args: &MatrixArgs,
    cell: &Cell,
    floor_bin: &Path,
) -> (Option<f64>, Result<LoadReport>) {
    let opts = SpawnOpts {
        tessera_bin: args.server.tessera_bin.clone(),
        backend: cell.backend,
        pg_admin_url: args.server.pg_url.clone(),
        alg: cell.alg,
        openid: cell.openid,
        non_rotating: cell.rotation == Rotation::NonRotating,
        server_env: args.server.server_env.clone(),
    };
    let server = match Server::start(&opts).await {
        Ok(s) => s,
        Err(e) => return (None, Err(e)),
    };
    let ready = server.started_in_s;
    let load = LoadArgs {
        clients: cell.clients,
        duration: args.duration,
        warmup: args.warmup,
        threads: args.threads,
        seed_concurrency: args.seed_concurrency,
        json: false,
    };
    let report =
        crate::load_spawned(&server, &load, args.families, floor_bin, opts.non_rotating).await;
    let stopped = server.stop().await;
    (
        Some(ready),
        match (report, stopped) {
            (Ok(r), Ok(())) => Ok(r),
            (Ok(r), Err(e)) => {
                eprintln!("tessera-bench: after {}: {e:#}", cell.label());
                Ok(r)
            }
            (Err(e), _) => Err(e),
        },
    )
}

pub async fn run(args: MatrixArgs) -> Result<()> {
    if args.clients.contains(&0) || args.duration == 0 || args.threads == 0 {
        bail!("--clients, --duration and --threads must be positive");
    }
    let floor_bin = floor::floor_bin(args.server.floor_bin.as_deref());
    if args
        .families
        .is_some_and(|f| args.clients.iter().any(|&c| f > c))
        && !floor_bin.is_file()
    {
        bail!(
            "--families beyond a cell's clients needs tessera-floor, not found at {}: build it \
             with `cargo build --release -p tessera-bench`, or pass --floor-bin",
            floor_bin.display()
        );
    }
    if !args.server.tessera_bin.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release --bin tessera`, or pass --tessera-bin",
            args.server.tessera_bin.display()
        );
    }
    let mut report = MatrixReport {
        generated_at: tessera::clock::rfc3339(tessera::clock::SystemClock.now()),
        cores: procfs::cores(),
        duration_s: args.duration,
        warmup_s: args.warmup,
        threads: args.threads,
        sign: None,
        ceiling: BTreeMap::new(),
        ceiling_end: BTreeMap::new(),
        cells: Vec::new(),
        peer: Vec::new(),
    };
    if !args.no_floor {
        eprintln!("tessera-bench: tessera-floor sign");
        let sign = Outcome::from(floor::sign(&floor_bin, args.sign_duration).await);
        if let Some(e) = &sign.error {
            eprintln!("tessera-bench: {e}");
        }
        report.sign = Some(sign);
        report.ceiling = ceilings(&args, &floor_bin, "before the cells").await;
    }
    let mut cells = Vec::new();
    for &backend in &args.backends {
        for &alg in &args.algs {
            for &openid in &args.openid {
                for &rotation in &args.rotation {
                    for &clients in &args.clients {
                        cells.push(Cell {
                            backend,
                            alg,
                            openid: openid == OpenId::On,
                            rotation,
                            clients,
                        });
                    }
                }
            }
        }
    }
    // The peer is started before the cells (it idles while they run) and loaded right after
    // each cell it is compared with.
    let peer = match Peer::start(&args).await {
        Ok(peer) => peer,
        Err(e) => {
            eprintln!("tessera-bench: peer: {e:#}");
            report.peer.push(PeerResult {
                name: args.peer_name.clone(),
                clients: 0,
                after: None,
                report: None,
                error: Some(format!("{e:#}")),
            });
            None
        }
    };
    let total = cells.len();
    for (i, cell) in cells.into_iter().enumerate() {
        eprintln!("tessera-bench: cell {}/{total}: {}", i + 1, cell.label());
        let (server_ready_s, result) = run_cell(&args, &cell, &floor_bin).await;
        let (report_, error) = match result {
            Ok(r) => (Some(r), None),
            Err(e) => {
                eprintln!("tessera-bench: {}: {e:#}", cell.label());
                (None, Some(format!("{e:#}")))
            }
        };
        let compared = cell.rotation == Rotation::Rotating && cell.openid == args.peer_openid;
        let mut ratio_to_peer = None;
        if let Some(peer) = peer.as_ref().filter(|_| compared) {
            let run = peer.run(&args, cell.clients, Some(cell.label())).await;
            if let (Some(r), Some(p)) = (&report_, &run.report)
                && p.exchanges_per_s > 0.0
            {
                ratio_to_peer = Some(r.exchanges_per_s / p.exchanges_per_s);
            }
            report.peer.push(run);
        }
        report.cells.push(CellResult {
            label: cell.label(),
            cell,
            server_ready_s,
            report: report_,
            error,
            fraction_of_ceiling: None,
            ratio_to_peer,
        });
    }
    if let Some(peer) = peer {
        // Client counts no cell was compared at (e.g. only non-rotating cells): the peer alone.
        for &clients in &args.clients {
            if !report.peer.iter().any(|p| p.clients == clients) {
                let run = peer.run(&args, clients, None).await;
                report.peer.push(run);
            }
        }
        peer.stop().await;
    }
    if !args.no_floor {
        report.ceiling_end = ceilings(&args, &floor_bin, "after the cells").await;
    }
    for c in &mut report.cells {
        let ceiling = mean_ceiling(
            &report.ceiling,
            &report.ceiling_end,
            c.cell.backend.as_str(),
        );
        c.fraction_of_ceiling = match (&c.report, ceiling) {
            (Some(r), Some(ceiling)) => Some(r.exchanges_per_s / ceiling),
            _ => None,
        };
    }
    print_markdown(&report);
    if let Some(path) = &args.out {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("tessera-bench: wrote {}", path.display());
    }
    Ok(())
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.0}%"))
}

fn row(label: &str, r: &LoadReport, ceiling: Option<f64>, peer: Option<f64>) -> String {
    let non_200: u64 = r.non_200.iter().map(|f| f.count).sum();
    format!(
        "| {label} | {:.0} | {:.1} ms | {:.1} ms | {:.0} ms | {non_200} | {} | {} | {} | {} | {} |",
        r.exchanges_per_s,
        r.latency_ms.p50,
        r.latency_ms.p99,
        r.latency_ms.max,
        pct(r.cpu.server_pct),
        pct(r.cpu.generator_pct),
        r.server_peak_rss_kb.map_or_else(
            || "—".to_owned(),
            |kb| format!("{:.1} MB", kb as f64 / 1024.0)
        ),
        ceiling.map_or_else(|| "—".to_owned(), |f| format!("{f:.2}")),
        peer.map_or_else(|| "—".to_owned(), |f| format!("{f:.2}×")),
    )
}

fn print_markdown(m: &MatrixReport) {
    println!(
        "Matrix: {} s after {} s warm-up per cell, generator on {} thread(s), {} cores; CPU in % of one core.\n",
        m.duration_s, m.warmup_s, m.threads, m.cores
    );
    if let Some(sign) = &m.sign {
        match (&sign.result, &sign.error) {
            (Some(s), _) => {
                let algs: Vec<String> = s
                    .algs
                    .iter()
                    .map(|a| {
                        let reference = if a.key == "jsonwebtoken-reference" {
                            " [jsonwebtoken reference]"
                        } else {
                            ""
                        };
                        format!(
                            "{} {:.1} µs ({:.0}/s){reference}",
                            a.alg, a.us_per_sign, a.signs_per_s
                        )
                    })
                    .collect();
                println!(
                    "Signing, one core (tessera-floor sign): {}",
                    algs.join(", ")
                );
            }
            (None, Some(e)) => println!("Signing: not measured ({e})"),
            _ => {}
        }
    }
    for (when, ceilings) in [("before", &m.ceiling), ("after", &m.ceiling_end)] {
        for (backend, c) in ceilings {
            match (&c.result, &c.error) {
                (Some(c), _) => println!(
                    "Database ceiling on {backend} {when} the cells (tessera-floor ceiling, 32 clients): {:.0} exchanges/s, p50 {:.1} ms, p99 {:.1} ms",
                    c.exchanges_per_s, c.latency_ms.p50, c.latency_ms.p99
                ),
                (None, Some(e)) => {
                    println!("Database ceiling on {backend} {when} the cells: not measured ({e})")
                }
                _ => {}
            }
        }
    }
    for backend in m.ceiling.keys() {
        if let Some(mean) = mean_ceiling(&m.ceiling, &m.ceiling_end, backend) {
            println!(
                "× DB ceiling on {backend}: against {mean:.0} exchanges/s, the mean of the two"
            );
        }
    }
    println!();
    println!(
        "| Cell | Exchanges/s | p50 | p99 | max | non-200 | Server CPU | Generator CPU | Server peak RSS | × DB ceiling | × peer |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for c in &m.cells {
        match &c.report {
            Some(r) => println!(
                "{}",
                row(&c.label, r, c.fraction_of_ceiling, c.ratio_to_peer)
            ),
            None => println!(
                "| {} | failed: {} |  |  |  |  |  |  |  |  |  |",
                c.label,
                c.error
                    .as_deref()
                    .unwrap_or("?")
                    .replace('|', "/")
                    .replace('\n', " ")
            ),
        }
    }
    for p in &m.peer {
        let label = match &p.after {
            Some(cell) => format!("{} c{} (after {cell})", p.name, p.clients),
            None => format!("{} c{}", p.name, p.clients),
        };
        match &p.report {
            Some(r) => println!("{}", row(&label, r, None, None)),
            None => println!(
                "| {label} | failed: {} |  |  |  |  |  |  |  |  |  |",
                p.error
                    .as_deref()
                    .unwrap_or("?")
                    .replace('|', "/")
                    .replace('\n', " ")
            ),
        }
    }
    let broken: Vec<String> = m
        .cells
        .iter()
        .filter_map(|c| c.report.as_ref().map(|r| (c, r)))
        .filter(|(_, r)| r.reseeds > 0 || r.clients_out_of_tokens > 0)
        .map(|(c, r)| format!("{}: {} broken chains", c.label, r.reseeds))
        .collect();
    if !broken.is_empty() {
        println!("\nBroken chains: {}", broken.join("; "));
    }
}

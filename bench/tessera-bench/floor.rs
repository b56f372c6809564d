//! The sibling tool `tessera-floor` (bench/tessera-floor/), run as a subprocess:
//! `seed` (families inserted directly through the store), `ceiling` (the store's rotation path
//! alone: no HTTP, no JWT) and `sign` (per-algorithm signing cost). Its absence is an error
//! only for what needs it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// `--floor-bin`, or `tessera-floor` next to this executable (target/release/).
pub fn floor_bin(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_owned();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("tessera-floor")))
        .unwrap_or_else(|| PathBuf::from("target/release/tessera-floor"))
}

/// Runs `tessera-floor ARGS…`, bounded by `timeout`; its stdout.
async fn run_floor(bin: &Path, args: &[String], timeout: Duration, why: &str) -> Result<String> {
    if !bin.is_file() {
        bail!(
            "{} not found, needed for {why}: build it with `cargo build --release -p tessera-bench` \
             (bench/tessera-floor), or pass --floor-bin",
            bin.display()
        );
    }
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args).kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .with_context(|| format!("{} {} timed out", bin.display(), args.join(" ")))?
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({}): {}",
            bin.display(),
            args.first().map_or("", String::as_str),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).context("tessera-floor printed non-UTF-8")
}

/// The JSON object of a `--json` run: the whole output, or else its last line that parses.
fn parse_json<T: for<'de> Deserialize<'de>>(stdout: &str, what: &str) -> Result<T> {
    if let Ok(v) = serde_json::from_str(stdout.trim()) {
        return Ok(v);
    }
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .with_context(|| format!("tessera-floor {what} --json printed no JSON object of the expected shape: {stdout:?}"))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CeilingLatency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// `tessera-floor ceiling --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ceiling {
    pub exchanges_per_s: f64,
    pub latency_ms: CeilingLatency,
}

pub async fn ceiling(
    bin: &Path,
    database_url: &str,
    clients: usize,
    duration: u64,
    warmup: u64,
) -> Result<Ceiling> {
    let args: Vec<String> = vec![
        "ceiling".into(),
        "--database-url".into(),
        database_url.into(),
        "--clients".into(),
        clients.to_string(),
        "--duration".into(),
        duration.to_string(),
        "--warmup".into(),
        warmup.to_string(),
        "--json".into(),
    ];
    let timeout = Duration::from_secs(duration + warmup + 300);
    let out = run_floor(bin, &args, timeout, "the database ceiling").await?;
    parse_json(&out, "ceiling")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlgSign {
    pub alg: String,
    pub us_per_sign: f64,
    pub signs_per_s: f64,
    /// `tessera-keyring` (the server's signer) or `jsonwebtoken-reference`.
    #[serde(default)]
    pub key: String,
}

/// `tessera-floor sign --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sign {
    pub algs: Vec<AlgSign>,
}

pub async fn sign(bin: &Path, duration: u64) -> Result<Sign> {
    let args: Vec<String> = vec![
        "sign".into(),
        "--duration".into(),
        duration.to_string(),
        "--json".into(),
    ];
    let timeout = Duration::from_secs(duration * 4 + 120);
    let out = run_floor(bin, &args, timeout, "the signing cost").await?;
    parse_json(&out, "sign")
}

/// What `tessera-floor seed` needs.
pub struct SeedArgs<'a> {
    pub database_url: &'a str,
    pub secrets_key: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub audience: &'a str,
    pub scope: &'a str,
    pub non_rotating: bool,
    pub families: usize,
    pub tokens: usize,
    pub tokens_out: &'a Path,
}

/// Inserts `families` families directly through the store and writes `tokens` of their
/// generation-0 refresh tokens to `tokens_out`; answers its JSON summary (shape not relied on).
pub async fn seed(bin: &Path, a: &SeedArgs<'_>) -> Result<serde_json::Value> {
    let mut args: Vec<String> = vec![
        "seed".into(),
        "--database-url".into(),
        a.database_url.into(),
        "--secrets-key".into(),
        a.secrets_key.into(),
        "--client-id".into(),
        a.client_id.into(),
        "--user-id".into(),
        a.user_id.into(),
        "--audience".into(),
        a.audience.into(),
        "--scope".into(),
        a.scope.into(),
    ];
    if a.non_rotating {
        args.push("--non-rotating".into());
    }
    args.extend([
        "--families".into(),
        a.families.to_string(),
        "--tokens".into(),
        a.tokens.to_string(),
        "--tokens-out".into(),
        a.tokens_out.display().to_string(),
        "--json".into(),
    ]);
    // A million families may take a while; still bounded.
    let out = run_floor(
        bin,
        &args,
        Duration::from_secs(3600),
        "--families beyond --clients",
    )
    .await?;
    Ok(parse_json(&out, "seed").unwrap_or(serde_json::Value::String(out)))
}

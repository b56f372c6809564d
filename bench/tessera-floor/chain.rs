//! Chaining families through the store's exchange statement (`RefreshStore::exchange_family`,
//! what `POST /oauth/token` with `grant_type=refresh_token` runs, minus HTTP and JWT), and the
//! `ceiling` subcommand built on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tessera::domain::RefreshOutcome;
use tessera::grants::Presented;
use tessera::grants::client_auth::authenticate;
use tessera::store::{ExchangeAnswer, ExchangeRequest, SharedStore};
use tokio::task::JoinHandle;

use crate::fixture::{self, SEED_IP, SEED_USER_AGENT};
use crate::stats::{backend, histogram, latency_line, latency_ms};

/// One exchange never waits longer than this (the pool's own acquire timeout is shorter).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The client side of an exchange: who presents the tokens, and how.
pub struct Exchanger {
    pub store: SharedStore,
    pub client_id: String,
    pub client_secret: String,
}

impl Exchanger {
    pub fn of(fixture: &fixture::Fixture) -> Arc<Self> {
        Arc::new(Self {
            store: fixture.store.clone(),
            client_id: fixture.client.client_id.clone(),
            client_secret: fixture.client_secret.clone(),
        })
    }

    /// One exchange of the chain's current token, as the server's refresh grant makes it
    /// (the client authenticated with `client_secret_post` against the clients held in memory,
    /// the default password rule); on rotation the chain moves to the next generation.
    pub async fn exchange(&self, chain: &mut Chain) -> Result<(), String> {
        let presented = Presented::Post {
            client_id: self.client_id.clone(),
            secret: self.client_secret.clone(),
        };
        let client = authenticate(self.store.as_ref(), &presented)
            .await
            .map_err(|e| format!("client authentication: {e:?}"))?;
        let req = ExchangeRequest {
            family_id: &chain.family_id,
            generation: chain.generation,
            now: fixture::now(),
            ip: SEED_IP,
            user_agent: SEED_USER_AGENT,
            password_rule: true,
            client_id: &client.client_id,
            policy_version: client.auth_policy_version,
        };
        match tokio::time::timeout(EXCHANGE_TIMEOUT, self.store.exchange_family(&req)).await {
            Err(_) => Err(format!("exchange timed out after {EXCHANGE_TIMEOUT:?}")),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(ExchangeAnswer::Refused(refusal))) => {
                Err(format!("exchange refused: {}", refusal.as_str()))
            }
            Ok(Ok(ExchangeAnswer::Done(done))) => match done.family.last_outcome {
                RefreshOutcome::Rotated => {
                    chain.generation = done.family.generation;
                    Ok(())
                }
                RefreshOutcome::Exchanged => Ok(()),
                other => Err(format!("unexpected outcome {}", other.as_str())),
            },
        }
    }
}

/// A family and the generation of its current token.
#[derive(Debug, Clone)]
pub struct Chain {
    pub family_id: String,
    pub generation: i64,
}

impl Chain {
    pub fn fresh(family_id: &str) -> Self {
        Self {
            family_id: family_id.to_owned(),
            generation: 0,
        }
    }
}

/// Shared by the tasks: the current phase (0 is the warm-up, never counted) and the stop flag.
/// An exchange counts when it started after the warm-up and finished before the stop; it is
/// recorded in the phase current when it finished.
pub struct Control {
    phase: AtomicUsize,
    stop: AtomicBool,
}

impl Control {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        })
    }
    pub fn set_phase(&self, phase: usize) {
        self.phase.store(phase, Ordering::SeqCst);
    }
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct TaskResult {
    hists: Vec<Histogram<u64>>,
    chain: Chain,
    failure: Option<String>,
}

/// Running tasks, one per chain.
pub struct Running {
    tasks: Vec<JoinHandle<anyhow::Result<TaskResult>>>,
}

/// What the tasks measured, per phase, merged.
pub struct Measured {
    pub hists: Vec<Histogram<u64>>,
    pub chains: Vec<Chain>,
    pub failures: Vec<String>,
}

/// Starts one task per chain, recording into `phases` histograms, until `control.stop()`.
pub fn start(
    ex: &Arc<Exchanger>,
    chains: Vec<Chain>,
    control: &Arc<Control>,
    phases: usize,
) -> Running {
    let tasks = chains
        .into_iter()
        .map(|mut chain| {
            let ex = ex.clone();
            let control = control.clone();
            tokio::spawn(async move {
                let mut hists = (0..phases)
                    .map(|_| histogram())
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let mut failure = None;
                while !control.stop.load(Ordering::SeqCst) {
                    let started_in = control.phase.load(Ordering::SeqCst);
                    let t = Instant::now();
                    if let Err(e) = ex.exchange(&mut chain).await {
                        failure = Some(format!("family {}: {e}", chain.family_id));
                        break;
                    }
                    let us = t.elapsed().as_micros() as u64;
                    if control.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let ended_in = control.phase.load(Ordering::SeqCst);
                    if started_in >= 1
                        && let Some(h) = hists.get_mut(ended_in)
                    {
                        h.record(us.max(1))?;
                    }
                }
                Ok::<_, anyhow::Error>(TaskResult {
                    hists,
                    chain,
                    failure,
                })
            })
        })
        .collect();
    Running { tasks }
}

impl Running {
    pub async fn join(self, phases: usize) -> anyhow::Result<Measured> {
        let mut hists = (0..phases)
            .map(|_| histogram())
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut chains = Vec::new();
        let mut failures = Vec::new();
        for task in self.tasks {
            let result = task.await??;
            for (into, from) in hists.iter_mut().zip(&result.hists) {
                into.add(from)?;
            }
            chains.push(result.chain);
            failures.extend(result.failure);
        }
        Ok(Measured {
            hists,
            chains,
            failures,
        })
    }
}

/// Warm-up, then `duration` counted: the rate and latencies of phase 1.
pub struct Rate {
    pub exchanges_per_s: f64,
    pub hist: Histogram<u64>,
    pub chains: Vec<Chain>,
    pub failures: Vec<String>,
}

pub async fn measure_rate(
    ex: &Arc<Exchanger>,
    chains: Vec<Chain>,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Rate> {
    let control = Control::new();
    let running = start(ex, chains, &control, 2);
    tokio::time::sleep(warmup).await;
    control.set_phase(1);
    let counted_from = Instant::now();
    tokio::time::sleep(duration).await;
    control.stop();
    let seconds = counted_from.elapsed().as_secs_f64();
    let mut measured = running.join(2).await?;
    let hist = measured.hists.swap_remove(1);
    Ok(Rate {
        exchanges_per_s: hist.len() as f64 / seconds.max(1e-9),
        hist,
        chains: measured.chains,
        failures: measured.failures,
    })
}

#[derive(Args)]
pub struct CeilingArgs {
    /// postgres://… or sqlite://FILE (created if missing); the fixture is made in it.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Concurrent tasks, each chaining its own family.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Counted seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds before counting.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Live families in the fixture (at least --clients; default: --clients).
    #[arg(long)]
    families: Option<u64>,
    /// Pool size; default: the server's default db_max_connections.
    #[arg(long)]
    pool: Option<u32>,
    /// A non-rotating client (each exchange answers the same token).
    #[arg(long)]
    non_rotating: bool,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run_ceiling(args: CeilingArgs) -> anyhow::Result<Value> {
    let families = args.families.unwrap_or(args.clients as u64);
    if args.clients == 0 || families < args.clients as u64 {
        bail!("--clients must be at least 1 and --families at least --clients");
    }
    let pool = match args.pool {
        Some(pool) => pool,
        None => fixture::server_default_pool()?,
    };
    let postgres = backend(&args.database_url) == "postgres";
    let store = fixture::open(&args.database_url, pool).await?;
    let fx = fixture::create(&store, !args.non_rotating).await?;
    let template = fx.template();
    let seeded = fixture::seed(&store, &template, families, args.clients, postgres).await?;
    let chains: Vec<Chain> = seeded.kept.iter().map(|id| Chain::fresh(id)).collect();
    eprintln!(
        "ceiling on {}: {} clients, {families} live families, pool {pool}, {} s after {} s warm-up …",
        backend(&args.database_url),
        args.clients,
        args.duration,
        args.warmup
    );
    let rate = measure_rate(
        &Exchanger::of(&fx),
        chains,
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.duration),
    )
    .await?;
    eprintln!(
        "database ceiling: {:.0} exchanges/s ({} counted), {}",
        rate.exchanges_per_s,
        rate.hist.len(),
        latency_line(&rate.hist)
    );
    for failure in &rate.failures {
        eprintln!("  broken chain: {failure}");
    }
    Ok(json!({
        "exchanges_per_s": rate.exchanges_per_s,
        "latency_ms": latency_ms(&rate.hist),
        "clients": args.clients,
        "backend": backend(&args.database_url),
        "exchanges": rate.hist.len(),
        "families": families,
        "pool": pool,
        "rotating": !args.non_rotating,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "failures": rate.failures.len(),
    }))
}

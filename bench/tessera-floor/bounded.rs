//! `bounded`: issue 7's "bounded cost as work grows", one number per check, on one database.
//!
//! (a) `exchange_rate`: the ceiling-style exchange rate with 10 live families, then again after
//!     seeding up to `--families` (chaining 10 of the new ones), and the ratio. On PostgreSQL the
//!     table is vacuumed and analysed, and a checkpoint taken, before each case.
//! (b) `rotation_chain`: the family's row count and size, and the table's size, before and after
//!     a chain of `--chain` rotations on one family.
//! (c) `startup`: building the whole `App` as `tessera serve` does before it serves (store,
//!     migrations, signing keys, built-in APIs), median of 3, with 10 and with N stored families.
//! (d) `purge`: a batch of families revoked before the retention period, purged by the calls the
//!     housekeeping task makes (`purge_old_records(now - 30 days, 500)`) until none is left, while
//!     tasks keep exchanging: the purge's time, and the exchanges' worst latency during it against
//!     before it.
//! (e) `idle_sweep`: families that can only die of idleness (an idle lifetime, no absolute
//!     expiry), idle past the retention period, deleted by the calls the housekeeping task makes
//!     (`purge_idle_families(cursor, now - 30 days, 5,000)`, one slice of the table in id order a
//!     minute) through one whole pass over the table, while tasks keep exchanging: the time per
//!     call, the rows left, and the exchanges' latency during the sweep against before it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use tessera::clock::SystemClock;
use tessera::config::Config;
use tessera::store::SharedStore;
use tessera::tokens::secrets::random_token;

use crate::chain::{self, Chain, Control, Exchanger};
use crate::fixture;
use crate::fixture::support;
use crate::stats::{backend, histogram, latency_line, latency_ms, median};

// The housekeeping purge's own parameters (the server runs it once a minute).
use tessera::{
    AUDIT_RETENTION as RETENTION, IDLE_SWEEP_SCAN, IDLE_SWEEP_SLICES, PURGE_BATCH, PURGE_BATCHES,
};

#[derive(Args)]
pub struct BoundedArgs {
    /// postgres://… (an empty database is best) or sqlite://FILE.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Live families for the "large" measurements.
    #[arg(long, default_value_t = 100_000)]
    families: u64,
    /// Tasks (and chained families) of each rate measurement.
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Counted seconds of each rate measurement.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Rotations of the long chain.
    #[arg(long, default_value_t = 10_000)]
    chain: u64,
    /// Families revoked past the retention period for the purge (default: --families).
    #[arg(long)]
    purge_families: Option<u64>,
    /// Families idle past the retention period for the idle sweep (default: --families).
    #[arg(long)]
    idle_families: Option<u64>,
    /// Upper bound on the chain's, the purge's and the sweep's time, in seconds (each).
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: BoundedArgs) -> anyhow::Result<Value> {
    let clients = args.clients.max(1);
    if args.families < 2 * clients as u64 + 1 {
        bail!("--families must be at least 2 × --clients + 1");
    }
    let url = args.database_url.clone();
    let postgres = backend(&url) == "postgres";
    let pool = fixture::server_default_pool()?;
    let warmup = Duration::from_secs(args.warmup);
    let duration = Duration::from_secs(args.duration);
    let limit = Duration::from_secs(args.max_seconds);

    // The server's configuration for this database, listening on an ephemeral loopback port.
    let (config, _) = Config::load_from(
        None,
        [
            ("DATABASE_URL", url.as_str()),
            ("TESSERA_SECRETS_KEY", random_token(32).as_str()),
            ("TESSERA_BIND", "127.0.0.1:0"),
            ("TESSERA_LOG", "warn"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )?;
    let started = Instant::now();
    drop(tessera::App::build(config.clone(), Arc::new(SystemClock)).await?);
    let first_start_ms = started.elapsed().as_secs_f64() * 1e3;
    eprintln!("first start (migrations, key generation): {first_start_ms:.0} ms");

    let store = fixture::open(&url, pool).await?;
    let fx = fixture::create(&store, true).await?;
    let ex = Exchanger::of(&fx);
    let template = fx.template();

    // Small: `clients` live families.
    let small = fixture::seed(&store, &template, clients as u64, clients, postgres).await?;
    let rows_small = support(&store)?.count_family_rows().await?;
    settle(&url).await;
    let startup_small = startups(&config).await?;
    eprintln!(
        "(c) start-up with {rows_small} stored families: median {:.1} ms",
        median(&startup_small)
    );
    let rate_small = chain::measure_rate(&ex, chains(&small.kept), warmup, duration).await?;
    eprintln!(
        "(a) {rows_small} families: {:.0} exchanges/s, {}",
        rate_small.exchanges_per_s,
        latency_line(&rate_small.hist)
    );

    // Large: up to --families live families.
    eprintln!("seeding {} more families …", args.families - clients as u64);
    let big = fixture::seed(
        &store,
        &template,
        args.families - clients as u64,
        clients + 1,
        postgres,
    )
    .await?;
    let seed_per_s = big.inserted as f64 / big.seconds.max(1e-9);
    eprintln!(
        "seeded {} families in {:.1} s ({seed_per_s:.0}/s)",
        big.inserted, big.seconds
    );
    let rows_large = support(&store)?.count_family_rows().await?;
    settle(&url).await;
    let startup_large = startups(&config).await?;
    eprintln!(
        "(c) start-up with {rows_large} stored families: median {:.1} ms",
        median(&startup_large)
    );
    let rate_large =
        chain::measure_rate(&ex, chains(&big.kept[..clients]), warmup, duration).await?;
    eprintln!(
        "(a) {rows_large} families: {:.0} exchanges/s, {}",
        rate_large.exchanges_per_s,
        latency_line(&rate_large.hist)
    );
    let ratio = rate_large.exchanges_per_s / rate_small.exchanges_per_s.max(1e-9);
    eprintln!("(a) ratio large/small: {ratio:.3}");
    let failures: Vec<&String> = rate_small
        .failures
        .iter()
        .chain(&rate_large.failures)
        .collect();
    for f in &failures {
        eprintln!("  broken chain: {f}");
    }

    let exchange_rate = json!({
        "clients": clients,
        "small_families": rows_small,
        "small_exchanges_per_s": rate_small.exchanges_per_s,
        "small_latency_ms": latency_ms(&rate_small.hist),
        "large_families": rows_large,
        "large_exchanges_per_s": rate_large.exchanges_per_s,
        "large_latency_ms": latency_ms(&rate_large.hist),
        "ratio": ratio,
        "failures": failures.len(),
        "seed_families": big.inserted,
        "seed_seconds": big.seconds,
        "seed_per_s": seed_per_s,
    });
    let startup = json!({
        "first_start_ms": first_start_ms,
        "small_families": rows_small,
        "small_ms": median(&startup_small),
        "small_samples_ms": startup_small,
        "large_families": rows_large,
        "large_ms": median(&startup_large),
        "large_samples_ms": startup_large,
        "ratio": median(&startup_large) / median(&startup_small).max(1e-9),
    });

    // (b) One family rotated --chain times.
    let chained = big
        .kept
        .get(clients)
        .context("no family left for the chain")?;
    let rotation_chain = rotation_chain(&store, &ex, &url, chained, args.chain, limit).await?;

    // (d) The purge, with the rate measurement's chains still exchanging.
    let purge_families = args.purge_families.unwrap_or(args.families);
    let (purge, live) =
        purge_check(&store, &url, &ex, rate_large.chains, purge_families, limit).await?;

    // (e) The idle sweep, with the same chains still exchanging.
    let idle_families = args.idle_families.unwrap_or(args.families);
    let idle_sweep = idle_sweep_check(&store, &url, &ex, live, idle_families, limit).await?;

    Ok(json!({
        "backend": backend(&url),
        "families": args.families,
        "exchange_rate": exchange_rate,
        "rotation_chain": rotation_chain,
        "startup": startup,
        "purge": purge,
        "idle_sweep": idle_sweep,
    }))
}

/// PostgreSQL: brings the table to the steady state autovacuum would reach (`VACUUM (ANALYZE)`)
/// and flushes the bulk insert's WAL (`CHECKPOINT`), so that neither runs inside a measurement and
/// the small and large cases start alike. A failure (no privilege) is reported, not fatal.
async fn settle(url: &str) {
    if backend(url) != "postgres" {
        return;
    }
    let settled = async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        sqlx::query("vacuum (analyze) refresh_families")
            .execute(&pool)
            .await?;
        sqlx::query("checkpoint").execute(&pool).await?;
        pool.close().await;
        Ok::<(), sqlx::Error>(())
    };
    if let Err(e) = settled.await {
        eprintln!("  (could not vacuum and checkpoint before measuring: {e})");
    }
}

fn chains(ids: &[String]) -> Vec<Chain> {
    ids.iter().map(|id| Chain::fresh(id)).collect()
}

/// Three builds of the whole `App` (bound, store opened and migrated, keys loaded, built-in APIs
/// upserted: everything before serving), in milliseconds.
async fn startups(config: &Config) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let app = tessera::App::build(config.clone(), Arc::new(SystemClock)).await?;
        samples.push(started.elapsed().as_secs_f64() * 1e3);
        drop(app);
    }
    Ok(samples)
}

/// Rows and bytes: the family's rows, every row of the table, and sizes (PostgreSQL: the row's
/// `pg_column_size` and the table's size with indexes and TOAST; SQLite: the database and WAL
/// files).
async fn sizes(store: &SharedStore, url: &str, family_id: &str) -> anyhow::Result<Value> {
    let table_rows = support(store)?.count_family_rows().await?;
    if backend(url) == "postgres" {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        let (family_rows, row_bytes): (i64, Option<i64>) = sqlx::query_as(
            "select count(*), max(pg_column_size(f.*))::bigint from refresh_families f \
             where id = $1",
        )
        .bind(family_id)
        .fetch_one(&pool)
        .await?;
        let (table_bytes, heap_bytes): (i64, i64) = sqlx::query_as(
            "select pg_total_relation_size('refresh_families'), \
             pg_relation_size('refresh_families')",
        )
        .fetch_one(&pool)
        .await?;
        pool.close().await;
        Ok(json!({
            "family_rows": family_rows,
            "row_bytes": row_bytes,
            "table_rows": table_rows,
            "table_bytes": table_bytes,
            "heap_bytes": heap_bytes,
        }))
    } else {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        let family_rows: i64 =
            sqlx::query_scalar("select count(*) from refresh_families where id = $1")
                .bind(family_id)
                .fetch_one(&pool)
                .await?;
        let pages: i64 = sqlx::query_scalar("pragma page_count")
            .fetch_one(&pool)
            .await?;
        let page_size: i64 = sqlx::query_scalar("pragma page_size")
            .fetch_one(&pool)
            .await?;
        pool.close().await;
        let path = sqlite_path(url);
        let file = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Ok(json!({
            "family_rows": family_rows,
            "table_rows": table_rows,
            "db_pages_bytes": pages * page_size,
            "db_file_bytes": file(path.clone()),
            "wal_file_bytes": file(format!("{path}-wal")),
        }))
    }
}

/// The file of a `sqlite:` URL.
fn sqlite_path(url: &str) -> String {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest).to_owned()
}

async fn rotation_chain(
    store: &SharedStore,
    ex: &Arc<Exchanger>,
    url: &str,
    family_id: &str,
    rotations: u64,
    limit: Duration,
) -> anyhow::Result<Value> {
    let before = sizes(store, url, family_id).await?;
    let mut chain = Chain::fresh(family_id);
    let mut hist = histogram()?;
    let started = Instant::now();
    let mut done = 0u64;
    let mut failure = None;
    while done < rotations && started.elapsed() < limit {
        let t = Instant::now();
        if let Err(e) = ex.exchange(&mut chain).await {
            failure = Some(e);
            break;
        }
        hist.record((t.elapsed().as_micros() as u64).max(1))?;
        done += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = sizes(store, url, family_id).await?;
    eprintln!(
        "(b) {done} rotations of one family in {seconds:.1} s (generation {}): before {before}, after {after}",
        chain.generation
    );
    if let Some(f) = &failure {
        eprintln!("  chain broken: {f}");
    }
    Ok(json!({
        "rotations": done,
        "complete": done == rotations,
        "generation": chain.generation,
        "seconds": seconds,
        "rotations_per_s": done as f64 / seconds.max(1e-9),
        "latency_ms": latency_ms(&hist),
        "before": before,
        "after": after,
        "failure": failure,
    }))
}

/// Exchanging tasks around a piece of background work: a second of warm-up, three seconds
/// measured before the work (phase 1), the work (phase 2), a second after it (phase 1 again).
struct UnderLoad {
    control: Arc<Control>,
    running: chain::Running,
}

impl UnderLoad {
    async fn start(ex: &Arc<Exchanger>, live: Vec<Chain>) -> Self {
        let control = Control::new();
        let running = chain::start(ex, live, &control, 3);
        tokio::time::sleep(Duration::from_secs(1)).await;
        control.set_phase(1);
        tokio::time::sleep(Duration::from_secs(3)).await;
        control.set_phase(2);
        Self { control, running }
    }

    async fn finish(self) -> anyhow::Result<chain::Measured> {
        self.control.set_phase(1);
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.control.stop();
        self.running.join(3).await
    }
}

/// `families` families of a fresh client of their own (apart from the exchanging ones), each
/// passed through `shape` before it is stored.
async fn seed_other(
    store: &SharedStore,
    url: &str,
    families: u64,
    shape: impl Fn(&mut tessera::domain::Family),
) -> anyhow::Result<fixture::Fixture> {
    let other = fixture::create(store, true).await?;
    let postgres = backend(url) == "postgres";
    fixture::seed_shaped(store, &other.template(), families, 0, postgres, shape).await?;
    Ok(other)
}

async fn purge_check(
    store: &SharedStore,
    url: &str,
    ex: &Arc<Exchanger>,
    live: Vec<Chain>,
    families: u64,
    limit: Duration,
) -> anyhow::Result<(Value, Vec<Chain>)> {
    // The batch: another client's families, revoked by the store's own revocation statement at a
    // time past the retention period.
    let other = seed_other(store, url, families, |_| {}).await?;
    let marked_at = fixture::now() - RETENTION - 86_400;
    let started = Instant::now();
    let marked = store
        .revoke_client_families(&other.client.client_id, None, marked_at, "floor_purge")
        .await?;
    let mark_seconds = started.elapsed().as_secs_f64();
    let rows_before = support(store)?.count_family_rows().await?;
    eprintln!(
        "(d) {marked} families revoked 31 days ago ({mark_seconds:.1} s); {rows_before} rows; purging with {} exchanging tasks …",
        live.len()
    );

    let load = UnderLoad::start(ex, live).await;
    let retained_from = fixture::now() - RETENTION;
    let Timed {
        calls,
        rows: purged,
        complete,
        error,
        seconds: purge_seconds,
    } = timed_calls(limit, || async {
        let n = store.purge_old_records(retained_from, PURGE_BATCH).await?;
        Ok((n, n == 0))
    })
    .await?;
    let measured = load.finish().await?;
    let rows_after = support(store)?.count_family_rows().await?;
    let (baseline, during) = (&measured.hists[1], &measured.hists[2]);
    let per_minute = PURGE_BATCH * i64::try_from(PURGE_BATCHES).unwrap_or(i64::MAX);
    eprintln!(
        "(d) purged {purged} rows in {purge_seconds:.1} s over {} calls (per call {}), rows {rows_before} → {rows_after}",
        calls.len(),
        latency_line(&calls)
    );
    report_load("(d)", "the purge", &measured);
    if let Some(e) = &error {
        eprintln!("  purge failed: {e}");
    }
    let value = json!({
        "families_marked": marked,
        "mark_seconds": mark_seconds,
        "purged": purged,
        "complete": complete,
        "calls": calls.len(),
        "seconds": purge_seconds,
        "rows_per_s": purged as f64 / purge_seconds.max(1e-9),
        "call_ms": latency_ms(&calls),
        "rows_before": rows_before,
        "rows_after": rows_after,
        "server_families_per_minute": per_minute,
        "server_minutes_to_purge": (marked as i64 + per_minute - 1) / per_minute,
        "exchanges_outside_purge": baseline.len(),
        "exchange_outside_purge_ms": latency_ms(baseline),
        "exchanges_during_purge": during.len(),
        "exchange_during_purge_ms": latency_ms(during),
        "exchange_failures": measured.failures.len(),
        "error": error,
    });
    Ok((value, measured.chains))
}

/// The idle lifetime of the swept families (the client default's 30 days would do as well).
const SWEPT_IDLE_LIFETIME: i64 = 86_400;

async fn idle_sweep_check(
    store: &SharedStore,
    url: &str,
    ex: &Arc<Exchanger>,
    live: Vec<Chain>,
    families: u64,
    limit: Duration,
) -> anyhow::Result<Value> {
    // Another client's families with an idle lifetime and no absolute expiry, last exchanged so
    // long ago that they have been dead for longer than the retention period.
    let last_exchanged_at = fixture::now() - RETENTION - SWEPT_IDLE_LIFETIME - 86_400;
    let started = Instant::now();
    seed_other(store, url, families, |family| {
        family.expires_at = None;
        family.idle_lifetime = Some(SWEPT_IDLE_LIFETIME);
        family.created_at = last_exchanged_at;
        family.auth_time = last_exchanged_at;
        family.last_exchanged_at = last_exchanged_at;
    })
    .await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    settle(url).await;
    let rows_before = support(store)?.count_family_rows().await?;
    eprintln!(
        "(e) {families} families dead of idleness for over 30 days ({seed_seconds:.1} s); {rows_before} rows; sweeping with {} exchanging tasks …",
        live.len()
    );

    let load = UnderLoad::start(ex, live).await;
    let retained_from = fixture::now() - RETENTION;
    let cursor = std::cell::RefCell::new(String::new());
    let Timed {
        calls,
        rows: purged,
        complete,
        error,
        seconds: sweep_seconds,
    } = timed_calls(limit, || async {
        let after = cursor.borrow().clone();
        let (n, next) = store
            .purge_idle_families(&after, retained_from, IDLE_SWEEP_SCAN)
            .await?;
        let done = next.is_none();
        *cursor.borrow_mut() = next.unwrap_or_default();
        Ok((n, done))
    })
    .await?;
    let measured = load.finish().await?;
    let rows_after = support(store)?.count_family_rows().await?;
    let (baseline, during) = (&measured.hists[1], &measured.hists[2]);
    eprintln!(
        "(e) swept {purged} rows in {sweep_seconds:.1} s over {} calls of {IDLE_SWEEP_SCAN} ids (per call {}), rows {rows_before} → {rows_after}{}",
        calls.len(),
        latency_line(&calls),
        if complete { "" } else { " (pass not complete)" }
    );
    report_load("(e)", "the sweep", &measured);
    if let Some(e) = &error {
        eprintln!("  sweep failed: {e}");
    }
    Ok(json!({
        "families_idle": families,
        "seed_seconds": seed_seconds,
        "purged": purged,
        "complete": complete,
        "calls": calls.len(),
        "scan_per_call": IDLE_SWEEP_SCAN,
        "seconds": sweep_seconds,
        "call_ms": latency_ms(&calls),
        "rows_before": rows_before,
        "rows_after": rows_after,
        "server_minutes_per_pass": calls.len().div_ceil(IDLE_SWEEP_SLICES as u64),
        "exchanges_outside_sweep": baseline.len(),
        "exchange_outside_sweep_ms": latency_ms(baseline),
        "exchanges_during_sweep": during.len(),
        "exchange_during_sweep_ms": latency_ms(during),
        "exchange_failures": measured.failures.len(),
        "error": error,
    }))
}

/// What [`timed_calls`] saw.
struct Timed {
    /// The duration of each call that answered.
    calls: hdrhistogram::Histogram<u64>,
    rows: u64,
    /// The work reported its end before the time limit.
    complete: bool,
    error: Option<String>,
    seconds: f64,
}

/// Calls `step` (answering rows deleted and whether the work is done) until it is done, fails,
/// or `limit` has passed, timing each call.
async fn timed_calls<F, Fut>(limit: Duration, mut step: F) -> anyhow::Result<Timed>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(u64, bool), tessera::store::StoreError>>,
{
    let mut timed = Timed {
        calls: histogram()?,
        rows: 0,
        complete: false,
        error: None,
        seconds: 0.0,
    };
    let started = Instant::now();
    while started.elapsed() < limit {
        let t = Instant::now();
        match step().await {
            Ok((n, done)) => {
                timed
                    .calls
                    .record((t.elapsed().as_micros() as u64).max(1))?;
                timed.rows += n;
                if done {
                    timed.complete = true;
                    break;
                }
            }
            Err(e) => {
                timed.error = Some(e.to_string());
                break;
            }
        }
    }
    timed.seconds = started.elapsed().as_secs_f64();
    Ok(timed)
}

fn report_load(tag: &str, work: &str, measured: &chain::Measured) {
    let (baseline, during) = (&measured.hists[1], &measured.hists[2]);
    eprintln!(
        "{tag} exchanges outside {work}: {}; during it ({} exchanges): {}",
        latency_line(baseline),
        during.len(),
        latency_line(during)
    );
    for f in &measured.failures {
        eprintln!("  broken chain: {f}");
    }
}

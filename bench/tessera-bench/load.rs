//! The load: N virtual clients, each on its own keep-alive connection, chaining its own refresh
//! token (`grant_type=refresh_token`, form body, `client_secret_post`) for a warm-up and then a
//! measured window, both bounded in time. Tokens come from a pool: API logins (password grant)
//! or a file of pre-seeded tokens; a broken chain takes the next unused token from the file, or
//! logs in again when the pool can log in.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

use crate::http::{Conn, Rotated, Target, error_code, rotated_token};
use crate::procfs::{self, CpuReport, CpuSnapshot};

/// A failure key: HTTP status (0 for a transport error) and the `error` code.
type FailureKey = (u16, String);

/// A request may run this long past the end of the window before it counts as a timeout.
const GRACE: Duration = Duration::from_secs(10);

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The password-grant login that seeds (and re-seeds) families.
#[derive(Debug, Clone)]
pub struct Login {
    pub username: String,
    pub password: String,
    pub audience: Option<String>,
    pub scope: String,
}

/// Where virtual clients get refresh tokens.
pub struct TokenPool {
    queue: Mutex<VecDeque<String>>,
    /// A prebuilt password-grant body, when the pool may log in.
    login_body: Option<Bytes>,
    /// The body of an exchange, up to `refresh_token=`.
    exchange_prefix: String,
    pub source: String,
}

impl TokenPool {
    pub fn new(
        client_id: &str,
        client_secret: &str,
        tokens: Vec<String>,
        login: Option<&Login>,
        source: impl Into<String>,
    ) -> Self {
        let login_body = login.map(|l| {
            let mut pairs = vec![
                ("grant_type", "password"),
                ("username", l.username.as_str()),
                ("password", l.password.as_str()),
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("scope", l.scope.as_str()),
            ];
            if let Some(aud) = &l.audience {
                pairs.push(("audience", aud.as_str()));
            }
            Bytes::from(form(&pairs))
        });
        let mut exchange_prefix = form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ]);
        exchange_prefix.push_str("&refresh_token=");
        Self {
            queue: Mutex::new(tokens.into()),
            login_body,
            exchange_prefix,
            source: source.into(),
        }
    }

    /// Reads tokens, one a line (blank lines and surrounding whitespace ignored).
    pub fn read_tokens_file(path: &std::path::Path) -> Result<Vec<String>> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read tokens file {}", path.display()))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    pub fn remaining(&self) -> usize {
        self.queue.lock().map_or(0, |q| q.len())
    }

    pub fn push(&self, token: String) {
        if let Ok(mut q) = self.queue.lock() {
            q.push_back(token);
        }
    }

    /// Takes every token left.
    pub fn drain(&self) -> Vec<String> {
        self.queue
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default()
    }

    fn pop(&self) -> Option<String> {
        self.queue.lock().ok()?.pop_front()
    }

    pub fn exchange_body(&self, token: &str) -> Bytes {
        let mut body = String::with_capacity(self.exchange_prefix.len() + token.len() + 16);
        body.push_str(&self.exchange_prefix);
        body.extend(form_urlencoded::byte_serialize(token.as_bytes()));
        Bytes::from(body)
    }

    /// One login: a new family's refresh token.
    pub async fn login(
        &self,
        conn: &mut Conn,
        deadline: Instant,
    ) -> std::result::Result<String, FailureKey> {
        let Some(body) = self.login_body.clone() else {
            return Err((0, "no_login_configured".into()));
        };
        match conn.post_form(body, deadline).await {
            Ok((200, bytes)) => match rotated_token(&bytes) {
                Rotated::New(rt) => Ok(rt),
                Rotated::Absent => Err((200, "no_refresh_token_in_login".into())),
                Rotated::Unparsable => Err((200, "unparsable_body".into())),
            },
            Ok((status, bytes)) => Err((status, error_code(&bytes))),
            Err(kind) => Err((0, kind)),
        }
    }
}

/// Tessera keeps at most this many live families per user and client (`FAMILY_CAP` in
/// src/grants/refresh_token.rs): one more login revokes the oldest. Logins of one user can
/// therefore seed no more; so many also means re-seeding logins during a run revoke families
/// other virtual clients are chaining.
pub const FAMILY_CAP: usize = 200;

/// Seeds `n` families through the API, `concurrency` logins at a time, into the pool.
pub async fn seed_by_login(
    pool: Arc<TokenPool>,
    target: &Target,
    n: usize,
    concurrency: usize,
) -> Result<()> {
    if n > FAMILY_CAP {
        anyhow::bail!(
            "{n} logins of one user: tessera keeps at most {FAMILY_CAP} live families per user \
             and client (more revoke the oldest); seed more through the store (--spawn \
             --families N with tessera-floor)"
        );
    }
    let next = Arc::new(Mutex::new(n));
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut tasks = Vec::new();
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let pool = pool.clone();
        let next = next.clone();
        let mut conn = Conn::new(target.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                {
                    let Ok(mut left) = next.lock() else {
                        return Ok(());
                    };
                    if *left == 0 {
                        return Ok(());
                    }
                    *left -= 1;
                }
                match pool.login(&mut conn, deadline).await {
                    Ok(rt) => pool.push(rt),
                    Err((status, error)) => {
                        return Err(anyhow::anyhow!(
                            "seeding login failed: HTTP {status} {error}"
                        ));
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.context("seeding task")??;
    }
    Ok(())
}

/// What the load needs besides the pool.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub target: Target,
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub threads: usize,
    pub server_pid: Option<u32>,
}

#[derive(Default)]
struct ClientReport {
    ok: u64,
    ok_without_refresh_token: u64,
    failures: BTreeMap<FailureKey, u64>,
    warmup_failures: BTreeMap<FailureKey, u64>,
    reseeds: u64,
    reseeds_from_pool: u64,
    reseeds_by_login: u64,
    login_failures: BTreeMap<FailureKey, u64>,
    exhausted: bool,
    connects: u64,
}

async fn virtual_client(
    pool: Arc<TokenPool>,
    target: Target,
    measure_start: Instant,
    end: Instant,
) -> Result<(Histogram<u64>, ClientReport)> {
    let mut hist = new_histogram()?;
    let mut report = ClientReport::default();
    let mut conn = Conn::new(target);
    let deadline = end + GRACE;
    let mut token = match next_token(&pool, &mut conn, end, &mut report, false).await {
        Some(t) => t,
        None => {
            report.exhausted = true;
            return Ok((hist, report));
        }
    };
    while Instant::now() < end {
        let body = pool.exchange_body(&token);
        let started = Instant::now();
        let answer = conn.post_form(body, deadline).await;
        let finished = Instant::now();
        let counted = started >= measure_start && finished <= end;
        let failure = match answer {
            Ok((200, bytes)) => match rotated_token(&bytes) {
                Rotated::New(rt) => {
                    token = rt;
                    None
                }
                Rotated::Absent => {
                    // A non-rotating client keeps its token.
                    if counted {
                        report.ok_without_refresh_token += 1;
                    }
                    None
                }
                Rotated::Unparsable => Some((200, "unparsable_body".to_owned())),
            },
            Ok((status, bytes)) => Some((status, error_code(&bytes))),
            Err(kind) => Some((0, kind)),
        };
        match failure {
            None => {
                if counted {
                    report.ok += 1;
                    let micros = u64::try_from(finished.duration_since(started).as_micros())
                        .unwrap_or(u64::MAX);
                    hist.saturating_record(micros.max(1));
                }
            }
            Some(key) => {
                if counted {
                    *report.failures.entry(key).or_default() += 1;
                } else {
                    *report.warmup_failures.entry(key).or_default() += 1;
                }
                // The chain is broken (or in doubt): start on another family.
                report.reseeds += 1;
                match next_token(&pool, &mut conn, end, &mut report, true).await {
                    Some(t) => token = t,
                    None => {
                        report.exhausted = Instant::now() < end;
                        break;
                    }
                }
            }
        }
    }
    report.connects = conn.connects;
    Ok((hist, report))
}

/// The next unused token of the pool, else a login (retried until `end`), else none; counted
/// as a re-seed when `reseed`.
async fn next_token(
    pool: &TokenPool,
    conn: &mut Conn,
    end: Instant,
    report: &mut ClientReport,
    reseed: bool,
) -> Option<String> {
    if let Some(t) = pool.pop() {
        report.reseeds_from_pool += u64::from(reseed);
        return Some(t);
    }
    pool.login_body.as_ref()?;
    while Instant::now() < end {
        match pool.login(conn, end + GRACE).await {
            Ok(rt) => {
                report.reseeds_by_login += u64::from(reseed);
                return Some(rt);
            }
            Err(key) => {
                *report.login_failures.entry(key).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    None
}

fn new_histogram() -> Result<Histogram<u64>> {
    // Microseconds, 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram bounds")
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub status: u16,
    pub error: String,
    pub count: u64,
}

fn failures(m: &BTreeMap<FailureKey, u64>) -> Vec<Failure> {
    m.iter()
        .map(|((status, error), count)| Failure {
            status: *status,
            error: error.clone(),
            count: *count,
        })
        .collect()
}

/// Everything one load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub token_url: String,
    pub token_source: String,
    pub clients: usize,
    pub threads: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Seconds spent seeding before the load (API logins or `tessera-floor seed`), if any.
    pub seed_s: Option<f64>,
    /// Live families created for this run (API logins or `tessera-floor seed`), if known.
    pub families: Option<usize>,
    /// Exchanges answered 200 that started after the warm-up and finished before the end.
    pub exchanges: u64,
    pub exchanges_per_s: f64,
    /// Of those, answers without a new refresh token (a non-rotating client keeps its own).
    pub ok_without_refresh_token: u64,
    pub latency_ms: Latency,
    pub non_200: Vec<Failure>,
    /// Failed exchanges not counted above: during the warm-up, or finished after the end.
    pub non_200_uncounted: Vec<Failure>,
    /// Broken chains (each one took another token: from the pool, or by logging in).
    pub reseeds: u64,
    pub reseeds_from_pool: u64,
    pub reseeds_by_login: u64,
    pub reseed_login_failures: Vec<Failure>,
    /// Virtual clients that stopped early because no token was left.
    pub clients_out_of_tokens: usize,
    /// Tokens left unused in the pool.
    pub tokens_left: usize,
    /// TCP connections opened (one per client, plus reconnections).
    pub connections: u64,
    pub cpu: CpuReport,
    pub server_pid: Option<u32>,
    /// The server's peak RSS (VmHWM) over the measured window: reset to the current RSS when
    /// the window opens (after seeding and warm-up) when `peak_rss_reset`, so it leaves out the
    /// seeding logins' password hashing.
    pub server_peak_rss_kb: Option<u64>,
    /// The server's peak RSS before the measured window (start-up, seeding, warm-up).
    pub server_peak_rss_before_load_kb: Option<u64>,
    pub server_rss_kb: Option<u64>,
    pub peak_rss_reset: bool,
}

/// Runs the load against `cfg.target` with tokens from `pool` and reports it.
pub async fn run(
    cfg: &LoadConfig,
    pool: Arc<TokenPool>,
    seed_s: Option<f64>,
    families: Option<usize>,
) -> Result<LoadReport> {
    let ticks = procfs::clock_ticks_per_second();

    let measure_start = Instant::now() + cfg.warmup;
    let end = measure_start + cfg.duration;
    let server_pid = cfg.server_pid;
    let monitor = tokio::spawn(async move {
        tokio::time::sleep_until(measure_start).await;
        // The peak is reset when the measured window opens: start-up, seeding (the logins'
        // password hashing) and the warm-up are reported apart, as the peak before it.
        let before_kb = server_pid.and_then(|pid| procfs::status_kb(pid, "VmHWM"));
        let reset = server_pid.is_some_and(procfs::reset_peak_rss);
        let a = CpuSnapshot::take(server_pid);
        tokio::time::sleep_until(end).await;
        let b = CpuSnapshot::take(server_pid);
        (a, b, before_kb, reset)
    });
    let mut tasks = Vec::with_capacity(cfg.clients);
    for _ in 0..cfg.clients {
        tasks.push(tokio::spawn(virtual_client(
            pool.clone(),
            cfg.target.clone(),
            measure_start,
            end,
        )));
    }
    let mut hist = new_histogram()?;
    let mut total = ClientReport::default();
    let mut out_of_tokens = 0;
    for task in tasks {
        let (h, r) = task.await.context("client task")??;
        hist.add(&h).context("merging histograms")?;
        total.ok += r.ok;
        total.ok_without_refresh_token += r.ok_without_refresh_token;
        total.reseeds += r.reseeds;
        total.reseeds_from_pool += r.reseeds_from_pool;
        total.reseeds_by_login += r.reseeds_by_login;
        total.connects += r.connects;
        out_of_tokens += usize::from(r.exhausted);
        for (k, v) in r.failures {
            *total.failures.entry(k).or_default() += v;
        }
        for (k, v) in r.warmup_failures {
            *total.warmup_failures.entry(k).or_default() += v;
        }
        for (k, v) in r.login_failures {
            *total.login_failures.entry(k).or_default() += v;
        }
    }
    let (a, b, server_peak_rss_before_load_kb, peak_rss_reset) =
        monitor.await.context("CPU monitor")?;
    let cpu = CpuReport::between(&a, &b, ticks);
    let duration_s = cfg.duration.as_secs_f64();
    let ms = |v: u64| v as f64 / 1000.0;
    Ok(LoadReport {
        token_url: cfg.target.url.to_string(),
        token_source: pool.source.clone(),
        clients: cfg.clients,
        threads: cfg.threads,
        duration_s,
        warmup_s: cfg.warmup.as_secs_f64(),
        seed_s,
        families,
        exchanges: total.ok,
        exchanges_per_s: total.ok as f64 / duration_s,
        ok_without_refresh_token: total.ok_without_refresh_token,
        latency_ms: Latency {
            p50: ms(hist.value_at_quantile(0.50)),
            p90: ms(hist.value_at_quantile(0.90)),
            p99: ms(hist.value_at_quantile(0.99)),
            max: ms(hist.max()),
            mean: hist.mean() / 1000.0,
        },
        non_200: failures(&total.failures),
        non_200_uncounted: failures(&total.warmup_failures),
        reseeds: total.reseeds,
        reseeds_from_pool: total.reseeds_from_pool,
        reseeds_by_login: total.reseeds_by_login,
        reseed_login_failures: failures(&total.login_failures),
        clients_out_of_tokens: out_of_tokens,
        tokens_left: pool.remaining(),
        connections: total.connects,
        cpu,
        server_pid,
        server_peak_rss_kb: server_pid.and_then(|pid| procfs::status_kb(pid, "VmHWM")),
        server_peak_rss_before_load_kb,
        server_rss_kb: server_pid.and_then(|pid| procfs::status_kb(pid, "VmRSS")),
        peak_rss_reset,
    })
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0}%"))
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

/// The text report.
pub fn print_text(r: &LoadReport) {
    println!(
        "tessera-bench: {} clients on {} thread(s), {} s after {} s warm-up, {} ({})",
        r.clients, r.threads, r.duration_s, r.warmup_s, r.token_url, r.token_source
    );
    if let (Some(n), Some(s)) = (r.families, r.seed_s) {
        println!("seeded {n} families in {s:.2} s");
    }
    println!(
        "exchanges: {} ({:.0}/s){}",
        r.exchanges,
        r.exchanges_per_s,
        if r.ok_without_refresh_token > 0 {
            format!(
                ", {} answered without a new refresh token (non-rotating)",
                r.ok_without_refresh_token
            )
        } else {
            String::new()
        }
    );
    let l = &r.latency_ms;
    println!(
        "latency: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        l.p50, l.p90, l.p99, l.max
    );
    if r.non_200.is_empty() {
        println!("non-200: none");
    } else {
        for f in &r.non_200 {
            println!("non-200: {} × {} {}", f.count, f.status, f.error);
        }
    }
    for f in &r.non_200_uncounted {
        println!(
            "non-200 outside the window (warm-up, or finished after the end): {} × {} {}",
            f.count, f.status, f.error
        );
    }
    println!(
        "broken chains: {} (next token from the pool: {}, by login: {}); clients out of tokens: {}; tokens left: {}; connections: {}",
        r.reseeds,
        r.reseeds_from_pool,
        r.reseeds_by_login,
        r.clients_out_of_tokens,
        r.tokens_left,
        r.connections
    );
    for f in &r.reseed_login_failures {
        println!(
            "re-seed login failed: {} × {} {}",
            f.count, f.status, f.error
        );
    }
    let c = &r.cpu;
    println!(
        "CPU over {:.1} s (% of one core, {} cores): server {}, generator {}, postgres {}, other {}, machine busy {}",
        c.window_s,
        c.cores,
        opt_pct(c.server_pct),
        opt_pct(c.generator_pct),
        opt_pct(c.postgres_pct),
        opt_pct(c.other_pct),
        opt_pct(c.machine_busy_pct)
    );
    if let Some(pid) = r.server_pid {
        match (r.server_peak_rss_kb, r.server_rss_kb) {
            (Some(peak), Some(now)) => println!(
                "server {pid}: peak RSS {}{} (before it: {}), now {}",
                mb(peak),
                if r.peak_rss_reset {
                    " over the measured window"
                } else {
                    " (not reset after seeding)"
                },
                r.server_peak_rss_before_load_kb.map_or("n/a".into(), mb),
                mb(now)
            ),
            _ => println!("server {pid}: /proc/{pid}/status not readable"),
        }
    }
}

//! `tessera-bench`: chains rotated refresh tokens against a running tessera and reports the
//! exchange rate, latency percentiles, every non-200 by status and `error`, and (with
//! `--server-pid`) the server's peak RSS. See BENCHMARKS.md.
//!
//! First step of issue 7: it targets a server that is already running (it does not start one),
//! seeds its families through the API (password grant with `offline_access`), and runs one
//! load loop per virtual client, each bounded in time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::sync::Semaphore;

#[derive(Debug, Parser)]
#[command(
    name = "tessera-bench",
    about = "Chain rotated refresh tokens against a running tessera and report throughput and latency"
)]
struct Args {
    /// Base URL of the running server (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:3000/")]
    url: url::Url,
    /// A first-party client allowed the password and refresh_token grants.
    #[arg(long)]
    client_id: String,
    #[arg(long, env = "TESSERA_BENCH_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// The user whose logins seed the families.
    #[arg(long)]
    username: String,
    #[arg(long, env = "TESSERA_BENCH_PASSWORD", hide_env_values = true)]
    password: String,
    /// The API (audience) of the access tokens; without it, the server's default.
    #[arg(long)]
    audience: Option<String>,
    /// The scope asked for at login (must include offline_access to get a refresh token).
    #[arg(long, default_value = "offline_access")]
    scope: String,
    /// Virtual clients, each chaining its own refresh-token family.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Warm-up seconds (exchanges run but are not counted).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Logins run at once while seeding (password hashing is deliberately slow).
    #[arg(long, default_value_t = 4)]
    seed_concurrency: usize,
    /// The server's process id: its peak RSS (VmHWM) is read from /proc at the end.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    refresh_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: Option<String>,
}

/// A failure key: HTTP status (0 for a transport error) and the `error` code.
type FailureKey = (u16, String);

struct Bench {
    http: reqwest::Client,
    token_url: url::Url,
    args: Args,
}

enum Outcome {
    Ok(Option<String>),
    Failed(FailureKey),
}

impl Bench {
    async fn post(&self, form: &[(&str, &str)]) -> Outcome {
        let resp = match self
            .http
            .post(self.token_url.clone())
            .form(form)
            .send()
            .await
        {
            Ok(resp) => resp,
            Err(e) => return Outcome::Failed((0, transport_kind(&e))),
        };
        let status = resp.status().as_u16();
        let body = match resp.bytes().await {
            Ok(body) => body,
            Err(e) => return Outcome::Failed((status, transport_kind(&e))),
        };
        if status == 200 {
            match serde_json::from_slice::<TokenResponse>(&body) {
                Ok(t) => Outcome::Ok(t.refresh_token),
                Err(_) => Outcome::Failed((status, "unparsable_body".into())),
            }
        } else {
            let error = serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .and_then(|b| b.error)
                .unwrap_or_else(|| "(no error field)".into());
            Outcome::Failed((status, error))
        }
    }

    async fn login(&self) -> std::result::Result<String, FailureKey> {
        let a = &self.args;
        let mut form = vec![
            ("grant_type", "password"),
            ("username", a.username.as_str()),
            ("password", a.password.as_str()),
            ("client_id", a.client_id.as_str()),
            ("client_secret", a.client_secret.as_str()),
            ("scope", a.scope.as_str()),
        ];
        if let Some(aud) = &a.audience {
            form.push(("audience", aud.as_str()));
        }
        match self.post(&form).await {
            Outcome::Ok(Some(rt)) => Ok(rt),
            Outcome::Ok(None) => Err((200, "no_refresh_token_in_login".into())),
            Outcome::Failed(key) => Err(key),
        }
    }

    async fn exchange(&self, refresh_token: &str) -> Outcome {
        let a = &self.args;
        self.post(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", a.client_id.as_str()),
            ("client_secret", a.client_secret.as_str()),
        ])
        .await
    }
}

fn transport_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "transport:timeout".into()
    } else if e.is_connect() {
        "transport:connect".into()
    } else {
        "transport:other".into()
    }
}

fn new_histogram() -> Result<Histogram<u64>> {
    // Microseconds, 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram bounds")
}

#[derive(Default)]
struct TaskReport {
    ok: u64,
    failures: BTreeMap<FailureKey, u64>,
    reseeds: u64,
    login_failures: BTreeMap<FailureKey, u64>,
}

async fn run_client(
    bench: Arc<Bench>,
    mut token: String,
    measure_start: Instant,
    end: Instant,
) -> Result<(Histogram<u64>, TaskReport)> {
    let mut hist = new_histogram()?;
    let mut report = TaskReport::default();
    while Instant::now() < end {
        let started = Instant::now();
        let outcome = bench.exchange(&token).await;
        let finished = Instant::now();
        let counted = started >= measure_start && finished <= end;
        match outcome {
            Outcome::Ok(rotated) => {
                if counted {
                    report.ok += 1;
                    let micros = u64::try_from(finished.duration_since(started).as_micros())
                        .unwrap_or(u64::MAX);
                    hist.saturating_record(micros.max(1));
                }
                // A non-rotating client keeps its token.
                if let Some(rt) = rotated {
                    token = rt;
                }
            }
            Outcome::Failed(key) => {
                if counted {
                    *report.failures.entry(key).or_default() += 1;
                }
                // The chain is broken: start a new family.
                report.reseeds += 1;
                loop {
                    if Instant::now() >= end {
                        return Ok((hist, report));
                    }
                    match bench.login().await {
                        Ok(rt) => {
                            token = rt;
                            break;
                        }
                        Err(key) => {
                            *report.login_failures.entry(key).or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }
        }
    }
    Ok((hist, report))
}

/// Reads a `Vm…:   1234 kB` line of /proc/PID/status, in kB.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    match args.url.host() {
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => {}
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => {}
        Some(url::Host::Domain("localhost")) => {}
        _ => bail!("--url must be a loopback address (127.0.0.1, [::1] or localhost)"),
    }
    if args.clients == 0 || args.duration == 0 {
        bail!("--clients and --duration must be positive");
    }
    let token_url = args.url.join("oauth/token").context("token endpoint URL")?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("HTTP client")?;
    let bench = Arc::new(Bench {
        http,
        token_url,
        args,
    });
    let clients = bench.args.clients;

    // Seed one family per virtual client, a few logins at a time.
    let seed_started = Instant::now();
    let gate = Arc::new(Semaphore::new(bench.args.seed_concurrency.max(1)));
    let mut seeds = Vec::with_capacity(clients);
    for _ in 0..clients {
        let bench = bench.clone();
        let gate = gate.clone();
        seeds.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            bench.login().await
        }));
    }
    let mut tokens = Vec::with_capacity(clients);
    for seed in seeds {
        match seed.await.context("seeding task")? {
            Ok(rt) => tokens.push(rt),
            Err((status, error)) => bail!("seeding login failed: HTTP {status} {error}"),
        }
    }
    let seed_secs = seed_started.elapsed().as_secs_f64();

    let measure_start = Instant::now() + Duration::from_secs(bench.args.warmup);
    let end = measure_start + Duration::from_secs(bench.args.duration);
    let mut tasks = Vec::with_capacity(clients);
    for token in tokens {
        tasks.push(tokio::spawn(run_client(
            bench.clone(),
            token,
            measure_start,
            end,
        )));
    }
    let mut hist = new_histogram()?;
    let mut total = TaskReport::default();
    for task in tasks {
        let (h, r) = task.await.context("client task")??;
        hist.add(&h).context("merging histograms")?;
        total.ok += r.ok;
        total.reseeds += r.reseeds;
        for (k, v) in r.failures {
            *total.failures.entry(k).or_default() += v;
        }
        for (k, v) in r.login_failures {
            *total.login_failures.entry(k).or_default() += v;
        }
    }

    let args = &bench.args;
    let rss_peak_kb = args.server_pid.and_then(|pid| proc_status_kb(pid, "VmHWM"));
    let rss_now_kb = args.server_pid.and_then(|pid| proc_status_kb(pid, "VmRSS"));
    let rate = total.ok as f64 / args.duration as f64;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let failures_json = |m: &BTreeMap<FailureKey, u64>| {
        m.iter()
            .map(|((status, error), count)| {
                serde_json::json!({ "status": status, "error": error, "count": count })
            })
            .collect::<Vec<_>>()
    };

    if args.json {
        let out = serde_json::json!({
            "url": args.url.as_str(),
            "clients": clients,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "scope": args.scope,
            "audience": args.audience,
            "seed_s": seed_secs,
            "exchanges": total.ok,
            "exchanges_per_s": rate,
            "latency_ms": {
                "p50": ms(0.50),
                "p90": ms(0.90),
                "p99": ms(0.99),
                "max": hist.max() as f64 / 1000.0,
                "mean": hist.mean() / 1000.0,
            },
            "non_200": failures_json(&total.failures),
            "reseeds": total.reseeds,
            "reseed_login_failures": failures_json(&total.login_failures),
            "server_pid": args.server_pid,
            "server_peak_rss_kb": rss_peak_kb,
            "server_rss_kb": rss_now_kb,
        });
        println!("{out}");
    } else {
        println!(
            "tessera-bench: {} clients, {} s after {} s warm-up, scope {:?}, audience {}",
            clients,
            args.duration,
            args.warmup,
            args.scope,
            args.audience.as_deref().unwrap_or("(default)")
        );
        println!("seeded {clients} families in {seed_secs:.2} s");
        println!("exchanges: {} ({rate:.0}/s)", total.ok);
        println!(
            "latency: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            ms(0.50),
            ms(0.90),
            ms(0.99),
            hist.max() as f64 / 1000.0
        );
        if total.failures.is_empty() {
            println!("non-200: none");
        } else {
            for ((status, error), count) in &total.failures {
                println!("non-200: {count} × {status} {error}");
            }
        }
        println!("re-seeds (broken chains): {}", total.reseeds);
        for ((status, error), count) in &total.login_failures {
            println!("re-seed login failed: {count} × {status} {error}");
        }
        match (args.server_pid, rss_peak_kb) {
            (Some(pid), Some(kb)) => println!(
                "server {pid}: peak RSS {:.1} MB (now {:.1} MB)",
                kb as f64 / 1024.0,
                rss_now_kb.unwrap_or(0) as f64 / 1024.0
            ),
            (Some(pid), None) => println!("server {pid}: /proc/{pid}/status not readable"),
            _ => {}
        }
    }
    Ok(())
}

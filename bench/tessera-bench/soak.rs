//! `tessera-bench soak`: does the server's memory stay flat under sustained mixed traffic?
//!
//! A fresh tessera (either backend) takes, for the whole window: the chain load of `run`
//! (N clients exchanging rotated refresh tokens), and beside it one loop of the other traffic an
//! operator's server sees — a password login, a refresh of that login's token, its revocation,
//! two Management API reads, an `/authorize` redirect and the login page it leads to. Optionally
//! `/metrics` is scraped every few seconds (as Prometheus would); by default nobody scrapes.
//! The server's RSS is sampled every few seconds; the report gives start, end, peak and the
//! Theil–Sen slope (the median of the slopes
//! between every two samples) over the second half of the window in MB/min. The soak fails on any
//! non-200 exchange, any answer of the mixed loop other than the expected one (a 5xx above all),
//! or a slope above `--max-slope`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Args;
use hyper::Method;
use serde::Serialize;
use tokio::time::Instant;

use crate::http::{Conn, Rotated, Target, form_type, rotated_token};
use crate::load::{self, LoadConfig, LoadReport, Login, TokenPool, form};
use crate::spawn::{self, Backend, Server, SpawnOpts};
use crate::{ServerArgs, procfs};

/// The mixed loop's own user: its logins must not count against the chain clients' families
/// (tessera keeps at most 200 live families per user and client).
const SOAK_USER: &str = "soak@example.com";
const CALLBACK: &str = "http://127.0.0.1/callback";

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// The database of the spawned server.
    #[arg(long, value_enum, default_value_t = Backend::Postgres)]
    backend: Backend,
    /// Measured minutes (after the warm-up); fractions allowed.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Warm-up seconds: the load runs, RSS is not yet judged (caches and pools fill).
    #[arg(long, default_value_t = 30)]
    warmup: u64,
    /// Virtual clients chaining refresh tokens.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Scrape /metrics every this many seconds, as Prometheus would; 0: never.
    #[arg(long, default_value_t = 0)]
    scrape_every: u64,
    /// Seconds between RSS samples (each the floor of readings every 50 ms).
    #[arg(long, default_value_t = 5.0)]
    sample_every: f64,
    /// Iterations of the mixed loop per second, at most (each has one password login); 0:
    /// as fast as it goes.
    #[arg(long, default_value_t = 10.0)]
    mixed_per_second: f64,
    /// Fail when RSS grows faster than this over the second half of the window, in MB/min.
    #[arg(long, default_value_t = 0.5)]
    max_slope: f64,
    /// Runtime threads of this generator (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// One RSS sample: the end of its interval in seconds since the measured window opened
/// (negative during the warm-up), the lowest and the highest of the interval's readings.
/// The floor is what is judged: a transient buffer (a password hash takes 19 MiB for a few
/// milliseconds) swings single readings by 20 MB either way.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub t_s: f64,
    pub rss_kb: u64,
    pub top_kb: u64,
    /// The server's threads at the end of the interval (on SQLite each open database
    /// connection has a worker thread, so a step in RSS can be read against this).
    pub threads: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub samples: Vec<Sample>,
    /// The RSS floor of the first and last sample of the measured window, and the highest
    /// reading in it.
    pub start_mb: f64,
    pub end_mb: f64,
    pub peak_mb: f64,
    /// Theil–Sen slope of the RSS floor over the second half of the measured window.
    pub slope_mb_per_min: f64,
    /// VmHWM at the end (the kernel's peak, warm-up and start-up included).
    pub vm_hwm_mb: Option<f64>,
}

/// The mixed loop's answers, by step and HTTP status (0: no answer).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Mixed {
    pub iterations: u64,
    pub answers: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Answers other than the step's expected status.
    pub unexpected: u64,
    pub server_errors: u64,
    /// The first unexpected answer: step, status and the start of its body.
    pub first_unexpected: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub backend: Backend,
    pub minutes: f64,
    pub warmup_s: u64,
    pub scrape_every_s: u64,
    pub scrapes: u64,
    pub scrape_failures: u64,
    pub sample_every_s: f64,
    pub mixed_per_second: f64,
    pub max_slope_mb_per_min: f64,
    pub load: LoadReport,
    pub mixed: Mixed,
    pub memory: Memory,
    /// Why the soak failed; empty when it passed.
    pub failures: Vec<String>,
}

/// The Theil–Sen slope of `y` over `x`: the median of the slopes between every two points, so a
/// few outlying samples (a transient buffer held for a few seconds) neither hide a trend nor
/// fake one; 0 with fewer than two distinct `x`.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let mut slopes: Vec<f64> = Vec::new();
    for (i, a) in points.iter().enumerate() {
        for b in points.get(i + 1..).unwrap_or_default() {
            if b.0 != a.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    if slopes.is_empty() {
        return 0.0;
    }
    slopes.sort_by(f64::total_cmp);
    let mid = slopes.len() / 2;
    if slopes.len() % 2 == 1 {
        slopes[mid]
    } else {
        (slopes[mid - 1] + slopes[mid]) / 2.0
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Start, end, peak and the second half's slope of the samples inside the window `[0, len_s]`.
pub fn memory(samples: Vec<Sample>, len_s: f64, vm_hwm_kb: Option<u64>) -> Memory {
    let window: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.t_s >= 0.0 && s.t_s <= len_s + 1.0)
        .collect();
    let second_half: Vec<(f64, f64)> = window
        .iter()
        .filter(|s| s.t_s >= len_s / 2.0)
        .map(|s| (s.t_s / 60.0, mb(s.rss_kb)))
        .collect();
    Memory {
        start_mb: window.first().map_or(0.0, |s| mb(s.rss_kb)),
        end_mb: window.last().map_or(0.0, |s| mb(s.rss_kb)),
        peak_mb: window.iter().map(|s| mb(s.top_kb)).fold(0.0, f64::max),
        slope_mb_per_min: slope(&second_half),
        vm_hwm_mb: vm_hwm_kb.map(mb),
        samples,
    }
}

/// What the mixed loop needs to know of the server.
struct MixedSetup {
    base: url::Url,
    token_url: url::Url,
    /// Logs the soak user in and builds refresh bodies.
    pool: TokenPool,
    client_id: String,
    client_secret: String,
    management_token: String,
    authorize_path: String,
}

/// The soak user, and the bench client's callback (for `/authorize`), through the Management API.
async fn mixed_setup(server: &Server) -> Result<MixedSetup> {
    let token = server.management_token().await?;
    let user = serde_json::json!({
        "connection": "Username-Password-Authentication",
        "email": SOAK_USER,
        "password": spawn::PASSWORD,
    });
    server
        .manage(&token, Method::POST, "/api/v2/users", &user, 201)
        .await?;
    let path = format!("/api/v2/clients/{}", server.client_id);
    let patch = serde_json::json!({
        "callbacks": [CALLBACK],
        "grant_types": ["password", "refresh_token", "authorization_code"],
    });
    server
        .manage(&token, Method::PATCH, &path, &patch, 200)
        .await?;
    let authorize = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &server.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid")
        .append_pair("state", "soak")
        .finish();
    let login = Login {
        username: SOAK_USER.into(),
        ..server.login()
    };
    Ok(MixedSetup {
        base: server.env.base_url.clone(),
        token_url: server.token_url()?,
        pool: TokenPool::new(
            &server.client_id,
            &server.client_secret,
            Vec::new(),
            Some(&login),
            "soak user",
        ),
        client_id: server.client_id.clone(),
        client_secret: server.client_secret.clone(),
        management_token: token,
        authorize_path: format!("/authorize?{authorize}"),
    })
}

impl Mixed {
    /// Counts an answer of `step`, `ok` when it is the expected one; answers `ok`.
    fn count(&mut self, step: &str, status: u16, ok: bool, body: &[u8]) -> bool {
        *self
            .answers
            .entry(step.to_owned())
            .or_default()
            .entry(status)
            .or_default() += 1;
        if !ok {
            self.unexpected += 1;
            if self.first_unexpected.is_none() {
                let start = body.get(..body.len().min(200)).unwrap_or_default();
                self.first_unexpected = Some(format!(
                    "{step}: HTTP {status} {}",
                    String::from_utf8_lossy(start)
                ));
            }
        }
        if status >= 500 || status == 0 {
            self.server_errors += 1;
        }
        ok
    }
}

/// The mixed loop, one step after another on one connection, until `end`, at most
/// `per_second` iterations a second (0: unpaced).
async fn mixed_loop(setup: MixedSetup, per_second: f64, end: Instant) -> Result<Mixed> {
    let mut conn = Conn::new(Target::new(&setup.base)?);
    let mut token_conn = Conn::new(Target::new(&setup.token_url)?);
    let mut pace = (per_second > 0.0).then(|| {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick
    });
    let mut mixed = Mixed::default();
    let deadline = end + Duration::from_secs(10);
    let bearer = setup.management_token.as_str();
    while Instant::now() < end {
        if let Some(tick) = pace.as_mut() {
            tick.tick().await;
        }
        mixed.iterations += 1;
        // A login, a refresh of its token, and the revocation of the family.
        let mut token = None;
        let login = setup.pool.login(&mut token_conn, deadline).await;
        let refreshed = match login {
            Ok(rt) => {
                mixed.count("password login", 200, true, b"");
                Some(
                    token_conn
                        .post_form(setup.pool.exchange_body(&rt), deadline)
                        .await
                        .unwrap_or((0, Bytes::new())),
                )
            }
            Err((status, error)) => {
                mixed.count("password login", status, false, error.as_bytes());
                None
            }
        };
        if let Some((status, body)) = refreshed
            && mixed.count("refresh", status, status == 200, &body)
            && let Rotated::New(next) = rotated_token(&body)
        {
            token = Some(next);
        }
        if let Some(rt) = token {
            let revoke = form(&[
                ("client_id", &setup.client_id),
                ("client_secret", &setup.client_secret),
                ("token", &rt),
            ]);
            let (status, body) = conn
                .request(
                    Method::POST,
                    "/oauth/revoke",
                    Some((form_type(), Bytes::from(revoke))),
                    None,
                    deadline,
                )
                .await
                .unwrap_or((0, Bytes::new()));
            mixed.count("revoke", status, status == 200, &body);
        }
        // Management API reads.
        for (step, path) in [
            ("GET /api/v2/users", "/api/v2/users?per_page=5"),
            ("GET /api/v2/clients", "/api/v2/clients"),
        ] {
            let (status, body) = conn
                .request(Method::GET, path, None, Some(bearer), deadline)
                .await
                .unwrap_or((0, Bytes::new()));
            mixed.count(step, status, status == 200, &body);
        }
        // /authorize redirects to the login page, which renders.
        let answer = conn
            .request_answer(Method::GET, &setup.authorize_path, None, None, deadline)
            .await;
        let (status, location, body) =
            answer.map_or((0, None, Bytes::new()), |a| (a.status, a.location, a.body));
        // The redirect must lead to the login page (not back to the callback with an error).
        let page = location
            .and_then(|l| setup.base.join(&l).ok())
            .filter(|u| u.path() == "/u/login")
            .map(|u| format!("/u/login?{}", u.query().unwrap_or_default()));
        if mixed.count(
            "GET /authorize",
            status,
            status == 302 && page.is_some(),
            &body,
        ) && let Some(page) = page
        {
            let (status, body) = conn
                .request(Method::GET, &page, None, None, deadline)
                .await
                .unwrap_or((0, Bytes::new()));
            let detail = format!("{page} {}", String::from_utf8_lossy(&body));
            mixed.count("GET login page", status, status == 200, detail.as_bytes());
        }
    }
    Ok(mixed)
}

/// Scrapes /metrics every `every` until `end`: (scrapes, failures).
async fn scrape_loop(base: url::Url, every: Duration, end: Instant) -> Result<(u64, u64)> {
    let mut conn = Conn::new(Target::new(&base)?);
    let (mut scrapes, mut failures) = (0, 0);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if Instant::now() >= end {
            return Ok((scrapes, failures));
        }
        scrapes += 1;
        match conn
            .request(Method::GET, "/metrics", None, None, end + every)
            .await
        {
            Ok((200, _)) => {}
            _ => failures += 1,
        }
    }
}

/// How often the sampler reads the server's RSS within a sample interval.
const READ_EVERY: Duration = Duration::from_millis(50);

/// Samples the server's RSS until `end`: one sample per `every`, its floor and top over the
/// readings of that interval; times relative to `zero`.
async fn sample_loop(pid: u32, every: Duration, zero: Instant, end: Instant) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(READ_EVERY);
    let mut bucket_end = Instant::now() + every;
    let (mut low, mut high, mut readings) = (u64::MAX, 0, 0u32);
    // A last interval cut short by the end counts only with half its readings or more.
    let enough = (every.as_secs_f64() / READ_EVERY.as_secs_f64() / 2.0).max(1.0);
    loop {
        tick.tick().await;
        let now = Instant::now();
        if let Some(rss_kb) = procfs::status_kb(pid, "VmRSS") {
            low = low.min(rss_kb);
            high = high.max(rss_kb);
            readings += 1;
        }
        if now >= bucket_end || now >= end {
            if readings > 0 && (now >= bucket_end || f64::from(readings) >= enough) {
                let t_s = if now >= zero {
                    now.duration_since(zero).as_secs_f64()
                } else {
                    -zero.duration_since(now).as_secs_f64()
                };
                samples.push(Sample {
                    t_s,
                    rss_kb: low,
                    top_kb: high,
                    threads: procfs::status_kb(pid, "Threads").unwrap_or(0),
                });
            }
            (low, high, readings) = (u64::MAX, 0, 0);
            bucket_end = now + every;
        }
        if now >= end {
            return samples;
        }
    }
}

pub async fn run(args: SoakArgs) -> Result<()> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if args.clients == 0 || !positive(args.minutes) || !positive(args.sample_every) {
        bail!("--clients, --minutes and --sample-every must be positive");
    }
    if !args.mixed_per_second.is_finite() || args.mixed_per_second < 0.0 {
        bail!("--mixed-per-second must be 0 or more");
    }
    let duration = Duration::from_secs_f64(args.minutes * 60.0);
    // The per-family limiter runs (its memory is part of what is soaked) but never limits: the
    // chain clients exchange one family hundreds of times a second.
    let mut server_env = vec![(
        "TESSERA_REFRESH_RATE_LIMIT_PER_MINUTE".to_owned(),
        "1000000".to_owned(),
    )];
    server_env.extend(args.server.server_env.iter().cloned());
    let opts = SpawnOpts {
        tessera_bin: args.server.tessera_bin.clone(),
        backend: args.backend,
        pg_admin_url: args.server.pg_url.clone(),
        alg: spawn::Alg::Es256,
        openid: false,
        non_rotating: false,
        server_env,
    };
    let server = Server::start(&opts).await?;
    if !args.json {
        eprintln!(
            "tessera-bench soak: tessera {} on {} ({}), {} min after {} s warm-up, /metrics {}",
            server.pid,
            server.env.base_url,
            server.backend.as_str(),
            args.minutes,
            args.warmup,
            if args.scrape_every == 0 {
                "never scraped".to_owned()
            } else {
                format!("scraped every {} s", args.scrape_every)
            }
        );
    }
    let report = soak(&args, &server, duration).await;
    let stopped = server.stop().await;
    let report = report?;
    stopped?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_text(&report);
    }
    if !report.failures.is_empty() {
        bail!("soak failed: {}", report.failures.join("; "));
    }
    Ok(())
}

async fn soak(args: &SoakArgs, server: &Server, duration: Duration) -> Result<SoakReport> {
    let login = server.login();
    let target = Target::new(&server.token_url()?)?;
    let pool = std::sync::Arc::new(TokenPool::new(
        &server.client_id,
        &server.client_secret,
        Vec::new(),
        Some(&login),
        "API logins",
    ));
    load::seed_by_login(pool.clone(), &target, args.clients, 4).await?;
    let setup = mixed_setup(server).await?;

    let warmup = Duration::from_secs(args.warmup);
    let measure_start = Instant::now() + warmup;
    let end = measure_start + duration;
    let cfg = LoadConfig {
        target,
        clients: args.clients,
        warmup,
        duration,
        threads: args.threads,
        server_pid: Some(server.pid),
    };
    let sampler = tokio::spawn(sample_loop(
        server.pid,
        Duration::from_secs_f64(args.sample_every),
        measure_start,
        end,
    ));
    let mixed = tokio::spawn(mixed_loop(setup, args.mixed_per_second, end));
    let scraper = (args.scrape_every > 0).then(|| {
        tokio::spawn(scrape_loop(
            server.env.base_url.clone(),
            Duration::from_secs(args.scrape_every),
            end,
        ))
    });
    let load = load::run(&cfg, pool, None, Some(args.clients)).await?;
    let mixed = mixed.await.context("mixed loop")??;
    let (scrapes, scrape_failures) = match scraper {
        Some(s) => s.await.context("scrape loop")??,
        None => (0, 0),
    };
    let samples = sampler.await.context("RSS sampler")?;
    let memory = memory(
        samples,
        duration.as_secs_f64(),
        procfs::status_kb(server.pid, "VmHWM"),
    );

    let mut failures = Vec::new();
    let non_200: u64 = load.non_200.iter().map(|f| f.count).sum();
    if non_200 > 0 {
        failures.push(format!("{non_200} non-200 exchanges"));
    }
    if load.exchanges == 0 {
        failures.push("no exchange succeeded".into());
    }
    if mixed.server_errors > 0 {
        failures.push(format!(
            "{} 5xx or unanswered requests in the mixed loop",
            mixed.server_errors
        ));
    }
    if mixed.unexpected > 0 {
        failures.push(format!(
            "{} unexpected answers in the mixed loop",
            mixed.unexpected
        ));
    }
    if scrape_failures > 0 {
        failures.push(format!("{scrape_failures} failed /metrics scrapes"));
    }
    if memory.samples.iter().filter(|s| s.t_s >= 0.0).count() < 4 {
        failures.push("fewer than 4 RSS samples in the window".into());
    }
    if memory.slope_mb_per_min > args.max_slope {
        failures.push(format!(
            "RSS grew {:.2} MB/min over the second half (limit {:.2})",
            memory.slope_mb_per_min, args.max_slope
        ));
    }
    Ok(SoakReport {
        backend: args.backend,
        minutes: args.minutes,
        warmup_s: args.warmup,
        scrape_every_s: args.scrape_every,
        scrapes,
        scrape_failures,
        sample_every_s: args.sample_every,
        mixed_per_second: args.mixed_per_second,
        max_slope_mb_per_min: args.max_slope,
        load,
        mixed,
        memory,
        failures,
    })
}

fn print_text(r: &SoakReport) {
    let l = &r.load;
    println!(
        "soak: {} · {} min · {} clients · /metrics {}",
        r.backend.as_str(),
        r.minutes,
        l.clients,
        if r.scrape_every_s == 0 {
            "never scraped".to_owned()
        } else {
            format!(
                "scraped every {} s ({} scrapes)",
                r.scrape_every_s, r.scrapes
            )
        }
    );
    let non_200: u64 = l.non_200.iter().map(|f| f.count).sum();
    println!(
        "exchanges: {} ({:.0}/s), non-200: {non_200}, p99 {:.2} ms",
        l.exchanges, l.exchanges_per_s, l.latency_ms.p99
    );
    println!(
        "mixed loop: {} iterations, unexpected answers: {}, 5xx/unanswered: {}",
        r.mixed.iterations, r.mixed.unexpected, r.mixed.server_errors
    );
    if let Some(first) = &r.mixed.first_unexpected {
        println!("  first unexpected answer: {first}");
    }
    for (step, statuses) in &r.mixed.answers {
        let s: Vec<String> = statuses.iter().map(|(k, v)| format!("{k}×{v}")).collect();
        println!("  {step}: {}", s.join(" "));
    }
    let m = &r.memory;
    println!(
        "RSS: start {:.1} MB → end {:.1} MB (peak {:.1}), second-half slope {:+.2} MB/min (limit {:.2}); VmHWM {}",
        m.start_mb,
        m.end_mb,
        m.peak_mb,
        m.slope_mb_per_min,
        r.max_slope_mb_per_min,
        m.vm_hwm_mb
            .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1} MB"))
    );
    let threads = |s: Option<&Sample>| s.map_or(0, |s| s.threads);
    println!(
        "server threads: {} at the start of the window, {} at the end",
        threads(m.samples.iter().find(|s| s.t_s >= 0.0)),
        threads(m.samples.last())
    );
    if r.failures.is_empty() {
        println!("verdict: PASS");
    } else {
        println!("verdict: FAIL — {}", r.failures.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_of_noise_and_of_a_bump() {
        let line: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 3.0 + 2.0 * f64::from(i)))
            .collect();
        assert!((slope(&line) - 2.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 5.0)]), 0.0);
        assert_eq!(slope(&[]), 0.0);
        let flat = [(0.0, 1.0), (1.0, 2.0), (2.0, 1.0), (3.0, 2.0), (4.0, 1.5)];
        assert!(slope(&flat).abs() < 0.2);
        // Flat at 37 MB with three samples near the end held 14 MB higher: least squares
        // reads a steep rise, the median of slopes does not.
        let bump: Vec<(f64, f64)> = (0..15)
            .map(|i| {
                (
                    f64::from(i),
                    if (10..13).contains(&i) { 51.0 } else { 37.0 },
                )
            })
            .collect();
        assert!(slope(&bump).abs() < 1e-9, "{}", slope(&bump));
    }

    #[test]
    fn memory_judges_the_second_half_of_the_window_only() {
        // Warm-up growth (negative times) and the first half are not the slope's business.
        let mut samples = vec![
            Sample {
                t_s: -10.0,
                rss_kb: 1024,
                top_kb: 1024,
                threads: 16,
            },
            Sample {
                t_s: 0.0,
                rss_kb: 10 * 1024,
                top_kb: 30 * 1024,
                threads: 16,
            },
            Sample {
                t_s: 30.0,
                rss_kb: 40 * 1024,
                top_kb: 70 * 1024,
                threads: 16,
            },
        ];
        for i in 0..=6u32 {
            samples.push(Sample {
                t_s: 60.0 + 10.0 * f64::from(i),
                rss_kb: 50 * 1024 + 512 * u64::from(i),
                top_kb: 60 * 1024,
                threads: 16,
            });
        }
        let m = memory(samples, 120.0, Some(60 * 1024));
        assert!((m.start_mb - 10.0).abs() < 1e-9);
        assert!((m.end_mb - 53.0).abs() < 1e-9);
        // The peak is the highest reading, the rest the floors.
        assert!((m.peak_mb - 70.0).abs() < 1e-9);
        // 0.5 MB per 10 s: 3 MB/min.
        assert!(
            (m.slope_mb_per_min - 3.0).abs() < 1e-9,
            "{}",
            m.slope_mb_per_min
        );
    }
}

//! Tessera: an OAuth 2.0 / OpenID Connect authorization server, wire-compatible with Auth0.
//! `App::build` wires settings, the store, keys and the HTTP router; `App::run` serves until
//! SIGTERM or Ctrl-C, letting in-flight requests finish.

pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod grants;
pub mod http;
pub mod manage;
pub mod passwords;
pub mod store;
pub mod telemetry;
#[doc(hidden)]
pub mod testing;
pub mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::clock::SharedClock;
use crate::config::{Config, SecretString};
use crate::grants::Engine;
use crate::http::AppState;
use crate::manage::Admin;
use crate::passwords::Passwords;
use crate::store::SharedStore;
use crate::tokens::{KeyRing, Minter, Secrets};

/// How often the in-memory upkeep runs (metrics, rate limiters, login throttle).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
/// How often a node re-reads the signing keys (a CLI rotation reaches it within this time).
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(60);
/// Expired rows are deleted at most this many at a time, this many times per interval (public for
/// the benchmark harness, which times the same purge).
pub const PURGE_BATCH: i64 = 500;
pub const PURGE_BATCHES: usize = 20;
/// The sweep for idle-expired families looks at this many families per statement, this many
/// statements per interval: 5,000 a minute, 10⁶ families in under four hours. Small statements
/// keep SQLite's write lock short (a 5,000-row slice held it for 150–250 ms).
pub const IDLE_SWEEP_SCAN: i64 = 500;
pub const IDLE_SWEEP_SLICES: usize = 10;
/// Audit events, and revoked or expired families, are kept this long (DESIGN.md "Defaults").
pub const AUDIT_RETENTION: i64 = 30 * 86_400;

/// The secrets key: configured, or for SQLite generated beside the database file.
pub fn resolve_secrets_key(config: &Config) -> anyhow::Result<SecretString> {
    if let Some(key) = &config.secrets_key {
        return Ok(key.clone());
    }
    if config.is_postgres() {
        anyhow::bail!(
            "TESSERA_SECRETS_KEY is required with PostgreSQL: set at least 32 characters of \
             randomness, e.g. `openssl rand -base64 32`"
        );
    }
    match tokens::secrets::dev_key_path(&config.database_url) {
        Some(path) => tokens::secrets::load_or_create_dev_key(&path)
            .with_context(|| format!("cannot read or create the secrets key {}", path.display())),
        // An in-memory database lives as long as the process; so may its key.
        None => Ok(SecretString::new(tokens::secrets::random_token(32))),
    }
}

/// Opens the store with at most `max_connections` connections (the server: its setting; the CLI,
/// which runs one command, a couple: SQLite opens them all at start) and applies migrations.
pub async fn open_store(config: &Config, max_connections: u32) -> anyhow::Result<SharedStore> {
    let store = store::connect(&config.database_url, max_connections)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                redact_url(&config.database_url)
            )
        })?;
    store.migrate().await.context("cannot apply migrations")?;
    Ok(store)
}

/// Builds the shared state over a migrated store: keys (generated on first start), the built-in
/// APIs and the bootstrap client.
pub async fn build_state(
    config: &Config,
    issuer: &str,
    store: SharedStore,
    clock: SharedClock,
    secrets_key: &SecretString,
) -> anyhow::Result<AppState> {
    let secrets = Arc::new(Secrets::new(secrets_key));
    tokens::keys::ensure_keys(&store, &secrets, clock.now())
        .await
        .context("cannot create signing keys")?;
    let keys = Arc::new(KeyRing::new(secrets));
    keys.reload(&store).await.context(
        "cannot load signing keys (is TESSERA_SECRETS_KEY the one they were made with?)",
    )?;
    let minter = Minter::new(keys, issuer.to_owned())?;
    let passwords = Passwords::new(config.password_hash_concurrency)
        .context("password hashing does not work")?;
    let admin = Admin {
        revoke_on_password_change: config.revoke_refresh_tokens_on_password_change,
        ..Admin::new(
            store.clone(),
            clock.clone(),
            passwords.clone(),
            issuer.to_owned(),
        )
    };
    admin
        .ensure_system_apis()
        .await
        .context("cannot create the built-in APIs")?;
    if let Some(bootstrap) = &config.bootstrap {
        admin
            .ensure_bootstrap_client(bootstrap)
            .await
            .context("cannot upsert the bootstrap client")?;
    }
    // Policies stored before the rules were enforced keep working as stored; name them. A
    // diagnostic only: the server starts whatever it finds.
    match admin.check_client_policies().await {
        Ok(reports) => {
            for report in reports {
                tracing::warn!(
                    client_id = %report.client_id,
                    name = %report.name,
                    problems = %report.problems.join("; "),
                    "this client's refresh-token policy contradicts itself (see `tessera clients \
                     check`); fix it with `tessera clients update` or PATCH /api/v2/clients/{{id}}"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot check the clients' refresh-token policies"),
    }
    Ok(AppState {
        engine: Engine::new(
            store,
            minter,
            clock,
            grants::Settings {
                revoke_on_password_change: config.revoke_refresh_tokens_on_password_change,
                refresh_rate_limit: config.refresh_rate_limit_per_minute,
                delegation_rate_limit: config.delegation_rate_limit_per_minute,
                ..grants::Settings::new(config.id_token_lifetime)
            },
            passwords,
        ),
        admin,
        metrics: http::metrics::install(),
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
    })
}

/// A bound, ready-to-run server.
pub struct App {
    listener: TcpListener,
    state: AppState,
    shutdown_grace: Duration,
    backend: String,
}

impl App {
    /// Binds the listener (so the issuer can name the real port), opens the store and builds state.
    pub async fn build(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let addr = listener.local_addr()?;
        let issuer = config.issuer_for(addr);
        if !config.is_postgres() && !addr.ip().is_loopback() {
            tracing::warn!(
                "serving SQLite on a non-loopback address: fine for a single node, use PostgreSQL for production"
            );
        }
        let secrets_key = resolve_secrets_key(&config)?;
        let store = open_store(&config, config.db_max_connections).await?;
        let state = build_state(&config, issuer.as_str(), store, clock, &secrets_key).await?;
        Ok(Self {
            listener,
            state,
            shutdown_grace: Duration::from_secs(config.shutdown_grace),
            backend: redact_url(&config.database_url),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn issuer(&self) -> &str {
        self.state.engine.minter.issuer()
    }

    /// Serves until SIGTERM/Ctrl-C; in-flight requests finish (up to `shutdown_grace`).
    pub async fn run(self) -> anyhow::Result<()> {
        let addr = self.listener.local_addr()?;
        let reload = spawn_housekeeping(self.state.clone());
        let upkeep = spawn_upkeep(self.state.clone());
        let router = http::router(self.state.clone());
        // Listen for signals before announcing readiness: a SIGTERM sent as soon as the ready
        // line appears must be a graceful shutdown, not the default immediate termination.
        let signals = ShutdownSignals::install().context("cannot install signal handlers")?;
        println!(
            "tessera ready on http://{addr} (issuer {}, database {})",
            self.issuer(),
            self.backend
        );
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let serve = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            signals.recv().await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = tx.send(true);
        });
        let grace = self.shutdown_grace;
        let deadline = async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = serve => result.context("server error")?,
            () = deadline => tracing::warn!("shutdown grace period over; closing remaining connections"),
        }
        reload.abort();
        upkeep.abort();
        // Bounded: a request the grace period cut off may still hold a connection.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.state.engine.store.close()).await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Keeps what grows with traffic in memory bounded (README "Operations"), every
/// `UPKEEP_INTERVAL`: latency samples folded into their histogram buckets, rate
/// limiter keys that have recovered and login-throttle records past their hour forgotten.
fn spawn_upkeep(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(handle) = &state.metrics {
                http::metrics::upkeep(handle);
            }
            state.engine.limits.forget_idle();
            state.engine.throttle.forget_stale(state.engine.clock.now());
        }
    })
}

fn spawn_housekeeping(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(KEY_RELOAD_INTERVAL);
        tick.tick().await;
        // Where the idle sweep goes on from (in memory: a restart starts it over).
        let mut idle_sweep_after = String::new();
        loop {
            tick.tick().await;
            if let Err(e) = state.engine.minter.keys().reload(&state.engine.store).await {
                tracing::error!(error = %e, "cannot reload signing keys");
            }
            let now = state.engine.clock.now();
            if let Err(e) = state.engine.store.purge_signing_keys(now).await {
                tracing::warn!(error = %e, "cannot purge retired signing keys");
            }
            // Expired sessions and codes, and audit events and dead families past the retention
            // period, in small batches so no purge holds locks for long.
            let retained_from = now - AUDIT_RETENTION;
            for _ in 0..PURGE_BATCHES {
                let db = &state.engine.store;
                let purged = async {
                    let logins = db.purge_expired_logins(now, PURGE_BATCH).await?;
                    let old = db.purge_old_records(retained_from, PURGE_BATCH).await?;
                    Ok::<u64, store::StoreError>(logins + old)
                };
                match purged.await {
                    Ok(n) if n > 0 => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot purge expired records");
                        break;
                    }
                }
            }
            for _ in 0..IDLE_SWEEP_SLICES {
                match state
                    .engine
                    .store
                    .purge_idle_families(&idle_sweep_after, retained_from, IDLE_SWEEP_SCAN)
                    .await
                {
                    Ok((_, Some(next))) => idle_sweep_after = next,
                    // The end of the table: the next interval starts the pass over.
                    Ok((_, None)) => {
                        idle_sweep_after.clear();
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot purge idle-expired families");
                        break;
                    }
                }
            }
        }
    })
}

/// SIGTERM and Ctrl-C (SIGINT) listeners, registered when installed rather than when first
/// polled.
struct ShutdownSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    #[cfg(unix)]
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> std::io::Result<Self> {
        Ok(Self {})
    }

    /// Resolves at the first SIGTERM or Ctrl-C.
    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.interrupt.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A database URL without its password, for logs and the ready line.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

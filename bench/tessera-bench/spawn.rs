//! `--spawn`: a fresh tessera per run. A new PostgreSQL database (or a temporary SQLite file),
//! the environment BENCHMARKS.md sets, the user, API and client made with the tessera CLI as
//! BENCHMARKS.md does, `tessera serve` on a free loopback port, ready when /health/ready says
//! so; afterwards the server is stopped (SIGTERM, then SIGKILL) and the database dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use bytes::Bytes;
use clap::ValueEnum;
use hyper::Method;
use hyper::header::HeaderValue;
use rand::RngCore as _;
use serde::Serialize;
use sqlx::Connection as _;
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use crate::http::{Conn, Target, error_code};
use crate::load::Login;

pub const USERNAME: &str = "bench@example.com";
pub const PASSWORD: &str = "bench-password-1234";
pub const AUDIENCE: &str = "https://bench.api/";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
pub enum Alg {
    #[value(name = "ES256")]
    #[serde(rename = "ES256")]
    Es256,
    #[value(name = "RS256")]
    #[serde(rename = "RS256")]
    Rs256,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
}

/// What a spawned server looks like.
#[derive(Debug, Clone)]
pub struct SpawnOpts {
    pub tessera_bin: PathBuf,
    pub backend: Backend,
    /// A PostgreSQL URL the harness may CREATE and DROP databases through.
    pub pg_admin_url: String,
    pub alg: Alg,
    pub openid: bool,
    pub non_rotating: bool,
    /// Extra server settings (`--server-env`), applied after the harness's own.
    pub server_env: Vec<(String, String)>,
}

impl SpawnOpts {
    pub fn scope(&self) -> &'static str {
        if self.openid {
            "openid offline_access"
        } else {
            "offline_access"
        }
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0; n];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

fn random_hex(n: usize) -> String {
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

/// A database made for one run.
pub enum Db {
    Postgres { admin_url: String, name: String },
    Sqlite { dir: PathBuf },
}

impl Db {
    /// A fresh database: `tessera_bench_<pid>_<random>` on PostgreSQL, a temporary directory
    /// holding `tessera.db` for SQLite. Answers it with its DATABASE_URL.
    pub async fn create(backend: Backend, pg_admin_url: &str) -> Result<(Self, String)> {
        match backend {
            Backend::Postgres => {
                let name = format!("tessera_bench_{}_{}", std::process::id(), random_hex(4));
                let mut conn = sqlx::PgConnection::connect(pg_admin_url)
                    .await
                    .with_context(|| format!("cannot connect to PostgreSQL at {pg_admin_url}"))?;
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("cannot create database {name}"))?;
                let _ = conn.close().await;
                let mut url = url::Url::parse(pg_admin_url).context("--pg-url")?;
                url.set_path(&name);
                Ok((
                    Self::Postgres {
                        admin_url: pg_admin_url.to_owned(),
                        name,
                    },
                    url.to_string(),
                ))
            }
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!(
                    "tessera-bench-{}-{}",
                    std::process::id(),
                    random_hex(4)
                ));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let url = format!("sqlite:{}", dir.join("tessera.db").display());
                Ok((Self::Sqlite { dir }, url))
            }
        }
    }

    pub async fn drop_it(&self) -> Result<()> {
        match self {
            Self::Postgres { admin_url, name } => {
                let mut conn = sqlx::PgConnection::connect(admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("cannot drop database {name}"))?;
                let _ = conn.close().await;
                Ok(())
            }
            Self::Sqlite { dir } => std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot remove {}", dir.display())),
        }
    }
}

/// A free loopback port (bound, read, released: another process could take it meanwhile).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(l.local_addr()?.port())
}

/// The environment BENCHMARKS.md sets, plus a bootstrap Management API client.
pub struct ServerEnv {
    pub vars: Vec<(String, String)>,
    pub database_url: String,
    pub secrets_key: String,
    pub base_url: url::Url,
    bootstrap_id: String,
    bootstrap_secret: String,
}

impl ServerEnv {
    pub fn new(database_url: String, extra: &[(String, String)]) -> Result<Self> {
        let port = free_port()?;
        let secrets_key = base64::engine::general_purpose::STANDARD.encode(random_bytes(32));
        let bootstrap_id = format!("bench-admin-{}", random_hex(4));
        let bootstrap_secret = random_hex(24);
        let bind = format!("127.0.0.1:{port}");
        let mut vars = vec![
            ("DATABASE_URL".to_owned(), database_url.clone()),
            ("TESSERA_SECRETS_KEY".to_owned(), secrets_key.clone()),
            ("TESSERA_BIND".to_owned(), bind.clone()),
            ("TESSERA_LOG".to_owned(), "warn".to_owned()),
            (
                "TESSERA_REFRESH_RATE_LIMIT_PER_MINUTE".to_owned(),
                "0".to_owned(),
            ),
            (
                "TESSERA_BOOTSTRAP_CLIENT_ID".to_owned(),
                bootstrap_id.clone(),
            ),
            (
                "TESSERA_BOOTSTRAP_CLIENT_SECRET".to_owned(),
                bootstrap_secret.clone(),
            ),
        ];
        for (k, v) in extra {
            vars.retain(|(have, _)| have != k);
            vars.push((k.clone(), v.clone()));
        }
        Ok(Self {
            vars,
            database_url,
            secrets_key,
            base_url: url::Url::parse(&format!("http://{bind}/")).context("base URL")?,
            bootstrap_id,
            bootstrap_secret,
        })
    }

    /// A `tessera` command with this environment and none of the caller's TESSERA_* settings.
    pub fn command(&self, bin: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(bin);
        for (k, _) in std::env::vars() {
            if k.starts_with("TESSERA_") || k == "DATABASE_URL" {
                cmd.env_remove(k);
            }
        }
        cmd.envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.kill_on_drop(true);
        cmd
    }
}

/// Runs a tessera CLI command (bounded), feeding `stdin`; its stdout parsed as JSON.
async fn cli(
    env: &ServerEnv,
    bin: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<serde_json::Value> {
    let mut cmd = env.command(bin);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).await?;
        drop(pipe);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .with_context(|| format!("tessera {} timed out", args.join(" ")))??;
    if !out.status.success() {
        bail!(
            "tessera {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("tessera {} printed no JSON", args.join(" ")))
}

fn field(v: &serde_json::Value, key: &str) -> Result<String> {
    v.get(key)
        .and_then(|x| x.as_str())
        .map(str::to_owned)
        .with_context(|| format!("no {key} in {v}"))
}

/// A running tessera made for one run.
pub struct Server {
    child: tokio::process::Child,
    pub pid: u32,
    pub env: ServerEnv,
    db: Db,
    pub backend: Backend,
    pub client_id: String,
    pub client_secret: String,
    pub user_id: String,
    pub scope: &'static str,
    /// The server's stdout and stderr, and tokens files.
    pub work_dir: PathBuf,
    pub log_path: PathBuf,
    pub started_in_s: f64,
}

impl Server {
    pub async fn start(opts: &SpawnOpts) -> Result<Self> {
        if !opts.tessera_bin.is_file() {
            bail!(
                "{} not found: build it with `cargo build --release --bin tessera`, or pass --tessera-bin",
                opts.tessera_bin.display()
            );
        }
        let (db, database_url) = Db::create(opts.backend, &opts.pg_admin_url).await?;
        match Self::start_on(opts, db, database_url).await {
            Ok(server) => Ok(server),
            Err((db, e)) => {
                if let Err(drop_err) = db.drop_it().await {
                    eprintln!("tessera-bench: {drop_err:#}");
                }
                Err(e)
            }
        }
    }

    async fn start_on(
        opts: &SpawnOpts,
        db: Db,
        database_url: String,
    ) -> std::result::Result<Self, (Db, anyhow::Error)> {
        let env = match ServerEnv::new(database_url, &opts.server_env) {
            Ok(env) => env,
            Err(e) => return Err((db, e)),
        };
        let work_dir = std::env::temp_dir().join(format!("tessera-bench-run-{}", random_hex(6)));
        if let Err(e) = std::fs::create_dir_all(&work_dir) {
            return Err((db, e.into()));
        }
        let bin = opts.tessera_bin.clone();
        let setup = async {
            // The user, the API and the client, exactly as BENCHMARKS.md makes them.
            let user = cli(
                &env,
                &bin,
                &["users", "create", "--email", USERNAME, "--password-stdin"],
                Some(PASSWORD),
            )
            .await?;
            let user_id = field(&user, "user_id")?;
            cli(
                &env,
                &bin,
                &[
                    "apis",
                    "create",
                    "--identifier",
                    AUDIENCE,
                    "--signing-alg",
                    opts.alg.as_str(),
                    "--allow-offline-access",
                ],
                None,
            )
            .await?;
            let client = cli(
                &env,
                &bin,
                &[
                    "clients",
                    "create",
                    "--name",
                    "bench",
                    "--app-type",
                    "regular-web",
                    "--grant-type",
                    "password",
                    "--grant-type",
                    "refresh_token",
                ],
                None,
            )
            .await?;
            let client_id = field(&client, "client_id")?;
            let client_secret = field(&client, "client_secret")?;
            anyhow::Ok((user_id, client_id, client_secret))
        };
        let (user_id, client_id, client_secret) = match setup.await {
            Ok(v) => v,
            Err(e) => return Err((db, e)),
        };
        let log_path = work_dir.join("server.log");
        let spawn = || -> Result<tokio::process::Child> {
            let log = std::fs::File::create(&log_path)?;
            let log2 = log.try_clone()?;
            let mut cmd = env.command(&bin);
            cmd.arg("serve")
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log2));
            cmd.spawn().context("cannot start tessera serve")
        };
        let started = Instant::now();
        let child = match spawn() {
            Ok(c) => c,
            Err(e) => return Err((db, e)),
        };
        let Some(pid) = child.id() else {
            return Err((db, anyhow::anyhow!("tessera serve exited at once")));
        };
        let mut server = Self {
            child,
            pid,
            env,
            db,
            backend: opts.backend,
            client_id,
            client_secret,
            user_id,
            scope: opts.scope(),
            work_dir,
            log_path,
            started_in_s: 0.0,
        };
        let ready = async {
            server.wait_ready().await?;
            server.started_in_s = started.elapsed().as_secs_f64();
            if opts.non_rotating {
                server.make_non_rotating().await?;
            }
            anyhow::Ok(())
        };
        match ready.await {
            Ok(()) => Ok(server),
            Err(e) => {
                let log = server.log_tail();
                let Self { mut child, db, .. } = server;
                let _ = child.kill().await;
                Err((db, e.context(log)))
            }
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines
            .get(lines.len().saturating_sub(20)..)
            .unwrap_or_default()
            .join("\n");
        format!("server log {}:\n{tail}", self.log_path.display())
    }

    /// The password-grant login of the bench user, for the bench API, with the server's scope.
    pub fn login(&self) -> Login {
        Login {
            username: USERNAME.into(),
            password: PASSWORD.into(),
            audience: Some(AUDIENCE.into()),
            scope: self.scope.into(),
        }
    }

    pub fn token_url(&self) -> Result<url::Url> {
        self.env.base_url.join("oauth/token").context("token URL")
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let target = Target::new(&self.env.base_url.join("health/ready")?)?;
        let mut conn = Conn::new(target.clone());
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("tessera serve exited ({status}) before it was ready");
            }
            if let Ok((200, _)) = conn
                .request(
                    Method::GET,
                    &target.path,
                    None,
                    None,
                    Instant::now() + Duration::from_secs(2),
                )
                .await
            {
                return Ok(());
            }
            if Instant::now() >= give_up {
                bail!("tessera serve was not ready after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A Management API access token of the bootstrap client (client credentials).
    pub async fn management_token(&self) -> Result<String> {
        let base = &self.env.base_url;
        let mut conn = Conn::new(Target::new(&base.join("oauth/token")?)?);
        let audience = base.join("api/v2/")?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.env.bootstrap_id)
            .append_pair("client_secret", &self.env.bootstrap_secret)
            .append_pair("audience", audience.as_str())
            .finish();
        let (status, bytes) = conn
            .post_form(Bytes::from(body), Instant::now() + Duration::from_secs(30))
            .await
            .map_err(|e| anyhow::anyhow!("Management API token: {e}"))?;
        if status != 200 {
            bail!("Management API token: HTTP {status} {}", error_code(&bytes));
        }
        let token: serde_json::Value = serde_json::from_slice(&bytes)?;
        field(&token, "access_token")
    }

    /// One Management API call with a JSON body; its answer, which must be `expect`.
    pub async fn manage(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: &serde_json::Value,
        expect: u16,
    ) -> Result<serde_json::Value> {
        let mut conn = Conn::new(Target::new(&self.env.base_url)?);
        let (status, bytes) = conn
            .request(
                method.clone(),
                path,
                Some((
                    HeaderValue::from_static("application/json"),
                    Bytes::from(body.to_string()),
                )),
                Some(token),
                Instant::now() + Duration::from_secs(30),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{method} {path}: {e}"))?;
        if status != expect {
            bail!(
                "{method} {path}: HTTP {status} {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// The CLI makes rotating clients only: PATCH the client's `refresh_token.rotation_type` to
    /// `non-rotating` through the Management API, with a token of the bootstrap client.
    async fn make_non_rotating(&self) -> Result<()> {
        let token = self.management_token().await?;
        let path = format!("/api/v2/clients/{}", self.client_id);
        let patch = serde_json::json!({ "refresh_token": { "rotation_type": "non-rotating" } });
        let client = self
            .manage(&token, Method::PATCH, &path, &patch, 200)
            .await?;
        let rotation = client
            .pointer("/refresh_token/rotation_type")
            .and_then(|v| v.as_str());
        if rotation != Some("non-rotating") {
            bail!("PATCH {path} answered rotation_type {rotation:?}");
        }
        Ok(())
    }

    /// SIGTERM (in-flight requests finish), SIGKILL after 15 s; then the database is dropped.
    pub async fn stop(mut self) -> Result<()> {
        // A positive PID only, and only while the child has not exited (so the PID is still
        // ours).
        if self.pid > 1 && self.child.try_wait().ok().flatten().is_none() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        let dropped = self.db.drop_it().await;
        let _ = std::fs::remove_dir_all(&self.work_dir);
        dropped
    }
}

//! The peer provider of `tessera-bench matrix` (e.g. node-oidc-provider, bench/peer/): started
//! with --peer-cmd or already running, before the tessera cells; loaded like tessera with its
//! own pre-seeded tokens, right after each tessera cell it is compared with (this VM's speed
//! drifts by ±25% over minutes, so only adjacent runs compare).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tokio::time::Instant;

use crate::http::{Conn, Target};
use crate::load::{self, LoadConfig, LoadReport, TokenPool};
use crate::matrix::MatrixArgs;

#[derive(Debug, Serialize)]
pub struct PeerResult {
    pub name: String,
    pub clients: usize,
    /// The tessera cell this run came right after (its ratio is taken against this run).
    pub after: Option<String>,
    pub report: Option<LoadReport>,
    pub error: Option<String>,
}

/// A peer started with --peer-cmd. Only its own PID is ever signalled, never a process group:
/// an earlier version ran `kill -TERM -PGID` (procps-ng 4.0.2) and every process of the machine
/// got SIGTERM at that moment. So the command must `exec` the provider, as bench/peer/run.sh
/// does.
struct PeerProcess {
    child: tokio::process::Child,
    pid: u32,
}

impl PeerProcess {
    fn start(cmd: &str) -> Result<Self> {
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start --peer-cmd")?;
        let pid = child.id().context("--peer-cmd exited at once")?;
        if pid <= 1 {
            bail!("--peer-cmd got PID {pid}");
        }
        Ok(Self { child, pid })
    }

    /// SIGTERM to the peer's PID (a positive PID only), SIGKILL to the child after 10 s.
    async fn stop(mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Waits until the peer answers HTTP at its token endpoint and its tokens file has lines.
async fn wait_peer(
    target: &Target,
    tokens_file: &Path,
    child: Option<&mut PeerProcess>,
) -> Result<()> {
    let give_up = Instant::now() + Duration::from_secs(120);
    let mut conn = Conn::new(target.clone());
    let mut child = child;
    loop {
        if let Some(p) = child.as_deref_mut()
            && let Some(status) = p.child.try_wait()?
        {
            bail!("--peer-cmd exited ({status}) before the peer was ready");
        }
        let answered = conn
            .post_form(
                bytes::Bytes::from_static(b"grant_type=refresh_token"),
                Instant::now() + Duration::from_secs(2),
            )
            .await
            .is_ok();
        let has_tokens = std::fs::read_to_string(tokens_file)
            .is_ok_and(|t| t.lines().any(|l| !l.trim().is_empty()));
        if answered && has_tokens {
            return Ok(());
        }
        if Instant::now() >= give_up {
            bail!(
                "the peer was not ready after 120 s (token endpoint answered: {answered}, tokens in {}: {has_tokens})",
                tokens_file.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A peer ready for load: its process (when --peer-cmd started it) and its pre-seeded tokens.
pub struct Peer {
    name: String,
    target: Target,
    /// Where its tokens came from, for the error when they run out.
    tokens_file: std::path::PathBuf,
    pool: Arc<TokenPool>,
    pid: Option<u32>,
    process: Option<PeerProcess>,
}

impl Peer {
    /// Starts the peer (--peer-cmd) or checks the running one (--peer-url), and reads its
    /// tokens. `None` without --peer-url.
    pub async fn start(args: &MatrixArgs) -> Result<Option<Self>> {
        let Some(url) = &args.peer_url else {
            if args.peer_cmd.is_some() || args.peer_tokens_file.is_some() {
                bail!("--peer-cmd and --peer-tokens-file need --peer-url");
            }
            return Ok(None);
        };
        let tokens_file = args
            .peer_tokens_file
            .as_deref()
            .context("--peer-url needs --peer-tokens-file")?;
        let client_id = args
            .peer_client_id
            .as_deref()
            .context("--peer-url needs --peer-client-id")?;
        let client_secret = args.peer_client_secret.as_deref().context(
            "--peer-url needs --peer-client-secret (or TESSERA_BENCH_PEER_CLIENT_SECRET)",
        )?;
        let target = Target::new(url)?;
        let mut process = match &args.peer_cmd {
            Some(cmd) => {
                // Only the tokens this peer writes: never a stale file of an earlier run.
                match std::fs::remove_file(tokens_file) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(e)
                            .with_context(|| format!("cannot remove {}", tokens_file.display()));
                    }
                    _ => {}
                }
                Some(PeerProcess::start(cmd)?)
            }
            None => None,
        };
        let pid = args.peer_pid.or(process.as_ref().map(|p| p.pid));
        let ready = async {
            wait_peer(&target, tokens_file, process.as_mut()).await?;
            TokenPool::read_tokens_file(tokens_file)
        }
        .await;
        let tokens = match ready {
            Ok(tokens) => tokens,
            Err(e) => {
                if let Some(p) = process {
                    p.stop().await;
                }
                return Err(e);
            }
        };
        let pool = Arc::new(TokenPool::new(
            client_id,
            client_secret,
            tokens,
            None,
            format!("{} tokens file {}", args.peer_name, tokens_file.display()),
        ));
        Ok(Some(Self {
            name: args.peer_name.clone(),
            target,
            tokens_file: tokens_file.to_owned(),
            pool,
            pid,
            process,
        }))
    }

    /// One run of the peer at `clients`, as a tessera cell is run; `after` names the tessera
    /// cell it follows, if any.
    pub async fn run(
        &self,
        args: &MatrixArgs,
        clients: usize,
        after: Option<String>,
    ) -> PeerResult {
        eprintln!(
            "tessera-bench: {} c{clients} ({} tokens left)",
            self.name,
            self.pool.remaining()
        );
        let result = if self.pool.remaining() < clients {
            Err(anyhow::anyhow!(
                "{} tokens left in the peer's tokens file {} for {clients} clients \
                 (seed more families in the peer)",
                self.pool.remaining(),
                self.tokens_file.display(),
            ))
        } else {
            let cfg = LoadConfig {
                target: self.target.clone(),
                clients,
                warmup: Duration::from_secs(args.warmup),
                duration: Duration::from_secs(args.duration),
                threads: args.threads,
                server_pid: self.pid,
            };
            load::run(&cfg, self.pool.clone(), None, None).await
        };
        let (report, error) = match result {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        PeerResult {
            name: self.name.clone(),
            clients,
            after,
            report,
            error,
        }
    }

    /// Stops the peer if --peer-cmd started it.
    pub async fn stop(self) {
        if let Some(p) = self.process {
            p.stop().await;
        }
    }
}

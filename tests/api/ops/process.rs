//! The harness for running the real `tessera` binary: each test gets its own temporary directory
//! and SQLite file, binds port 0, and kills its child processes on failure (guards with `Drop`).
//! Every wait is bounded.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

pub(super) const BOOTSTRAP_ID: &str = "e2e-admin";
pub(super) const BOOTSTRAP_SECRET: &str = "e2e-bootstrap-secret-0123456789-abcdefghijkl";
/// First start generates RSA keys in a debug build: be generous, but never wait forever.
pub(super) const START_TIMEOUT: Duration = Duration::from_secs(90);
pub(super) const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// A temporary directory, removed on drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "tessera-e2e-{name}-{}-{}",
            std::process::id(),
            tessera::tokens::secrets::random_hex(8)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
    pub(super) fn database_url(&self) -> String {
        format!("sqlite://{}/t.db", self.0.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `tessera` with a clean environment: only what the test sets.
pub(super) fn tessera(dir: &TempDir, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.env_clear()
        .current_dir(&dir.0)
        .env("DATABASE_URL", dir.database_url())
        .env("TESSERA_PASSWORD_HASH_CONCURRENCY", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Everything a stream printed so far, filled by a background task.
#[derive(Clone, Default)]
pub(super) struct Captured(Arc<Mutex<String>>);

impl Captured {
    pub(super) fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
    pub(super) fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }
    pub(super) fn spawn_reader<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
        &self,
        stream: R,
    ) -> JoinHandle<()> {
        let sink = self.0.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        })
    }
}

/// A running `tessera serve`, killed on drop unless it was stopped.
pub(super) struct Server {
    pub(super) child: Child,
    pub(super) addr: SocketAddr,
    pub(super) ready_line: String,
    pub(super) stdout: Captured,
    pub(super) stderr: Captured,
    pub(super) readers: Vec<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Server {
    pub(super) async fn start(dir: &TempDir, env: &[(&str, &str)]) -> Server {
        let mut child = tessera(dir, &[("TESSERA_BIND", "127.0.0.1:0")])
            .envs(env.iter().copied())
            .arg("serve")
            .spawn()
            .expect("spawn tessera serve");
        let stdout = Captured::default();
        let stderr = Captured::default();
        let readers = vec![
            stdout.spawn_reader(child.stdout.take().unwrap()),
            stderr.spawn_reader(child.stderr.take().unwrap()),
        ];
        let mut server = Server {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            ready_line: String::new(),
            stdout,
            stderr,
            readers,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(line) = server.stdout.lines().into_iter().next() {
                server.ready_line = line;
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "tessera exited before it was ready ({status}): {}",
                    server.stderr.text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no ready line within {START_TIMEOUT:?}; stderr: {}",
                server.stderr.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let rest = server
            .ready_line
            .strip_prefix("tessera ready on http://")
            .unwrap_or_else(|| panic!("unexpected ready line {:?}", server.ready_line));
        let addr = rest.split(' ').next().unwrap();
        server.addr = addr
            .parse()
            .unwrap_or_else(|_| panic!("no address in {rest:?}"));
        server
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(super) fn issuer(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Sends a signal (`TERM`, `INT`) to this server's process, by its id.
    pub(super) fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid}");
    }

    pub(super) fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Waits (bounded) for the process to exit, then for its output to be read to the end.
    pub(super) async fn wait_exit(&mut self) -> ExitStatus {
        let status = tokio::time::timeout(EXIT_TIMEOUT, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "tessera did not exit within {EXIT_TIMEOUT:?}: {}",
                    self.stderr.text()
                )
            })
            .expect("wait");
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(EXIT_TIMEOUT, reader).await;
        }
        status
    }

    /// SIGTERM, then asserts a clean exit.
    pub(super) async fn stop(&mut self) {
        self.sigterm();
        let status = self.wait_exit().await;
        assert!(
            status.success(),
            "exit status {status}; stderr: {}",
            self.stderr.text()
        );
    }
}

/// Runs an admin command to completion (bounded), feeding `stdin`; answers (status, stdout, stderr).
pub(super) async fn run(
    dir: &TempDir,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&str>,
) -> (ExitStatus, String, String) {
    let mut cmd = tessera(dir, env);
    cmd.args(args);
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn tessera");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
        drop(pipe);
    }
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let finished = tokio::time::timeout(COMMAND_TIMEOUT, async {
        let (mut o, mut e) = (String::new(), String::new());
        let (a, b) = tokio::join!(out.read_to_string(&mut o), err.read_to_string(&mut e));
        a.unwrap();
        b.unwrap();
        let status = child.wait().await.unwrap();
        (status, o, e)
    })
    .await;
    // On timeout `child` is dropped here and killed (kill_on_drop).
    finished
        .unwrap_or_else(|_| panic!("tessera {args:?} did not finish within {COMMAND_TIMEOUT:?}"))
}

/// Runs an admin command that must succeed and print JSON.
pub(super) async fn run_json(dir: &TempDir, args: &[&str], stdin: Option<&str>) -> Value {
    let (status, out, err) = run(dir, &[], args, stdin).await;
    assert!(
        status.success(),
        "tessera {args:?}: {status}\nstdout: {out}\nstderr: {err}"
    );
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("tessera {args:?} printed non-JSON ({e}): {out}"))
}

pub(super) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub(super) async fn token(
    http: &reqwest::Client,
    server: &Server,
    id: &str,
    secret: &str,
    audience: &str,
) -> Value {
    let response = http
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("audience", audience),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "token for {audience}: {body}");
    body
}

pub(super) async fn management_token(http: &reqwest::Client, server: &Server) -> String {
    let audience = format!("{}api/v2/", server.issuer());
    token(http, server, BOOTSTRAP_ID, BOOTSTRAP_SECRET, &audience).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Verifies a JWT against the server's JWKS by `kid`; answers (header, claims).
pub(super) async fn verify(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    audience: &str,
) -> (jsonwebtoken::Header, Value) {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let jwks: Value = http
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let kid = header.kid.clone().unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in {jwks}"));
    let s = |name: &str| jwk[name].as_str().unwrap().to_owned();
    let key = match jwk["kty"].as_str().unwrap() {
        "RSA" => DecodingKey::from_rsa_components(&s("n"), &s("e")).unwrap(),
        _ => DecodingKey::from_ec_components(&s("x"), &s("y")).unwrap(),
    };
    let alg: Algorithm = s("alg").parse().unwrap();
    assert_eq!(header.alg, alg);
    let mut validation = Validation::new(alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[server.issuer()]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the token verifies against the JWKS")
        .claims;
    (header, claims)
}

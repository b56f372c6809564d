//! Two `tessera` processes on one database, and the revocation CLI: a revocation or a block made
//! anywhere is honoured by every process at once (no stale reads), on SQLite (one file, two
//! processes) and, with TEST_DATABASE_URL, PostgreSQL.

use serde_json::Value;

use super::process::*;
use crate::helpers::{Backend, backends};

const SECRETS: &str = "cluster-test-secrets-key-0123456789-abcdef";

/// Runs an admin command against `env`'s database; it must succeed and print JSON.
async fn cli(dir: &TempDir, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Value {
    let (status, out, err) = run(dir, env, args, stdin).await;
    assert!(status.success(), "tessera {args:?}: {status}\n{out}\n{err}");
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("tessera {args:?} printed non-JSON ({e}): {out}"))
}

async fn password_login(http: &reqwest::Client, server: &Server, id: &str, secret: &str) -> String {
    let response = http
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", id),
            ("client_secret", secret),
            ("username", "ada@example.com"),
            ("password", "correct horse battery"),
            ("scope", "offline_access"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["refresh_token"].as_str().unwrap().to_owned()
}

async fn exchange(
    http: &reqwest::Client,
    server: &Server,
    id: &str,
    secret: &str,
    token: &str,
) -> (u16, Value) {
    let response = http
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", id),
            ("client_secret", secret),
            ("refresh_token", token),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_and_blocks_reach_every_process_at_once() {
    for backend in backends() {
        eprintln!("--- two processes on {backend:?}");
        let dir = TempDir::new("cluster");
        let mut pg_name = None;
        let database_url = match backend {
            Backend::Sqlite => dir.database_url(),
            Backend::Postgres => {
                let (store, name) = crate::helpers::fresh_store(backend).await;
                drop(store);
                let url = tessera::testing::postgres_database_url(name.as_deref().unwrap());
                pg_name = name;
                url
            }
        };
        // One deployment, one issuer: both processes (and the CLI) name the same one.
        let env = [
            ("DATABASE_URL", database_url.as_str()),
            ("TESSERA_SECRETS_KEY", SECRETS),
            ("TESSERA_ISSUER", "https://auth.cluster.test/"),
        ];
        cli(
            &dir,
            &env,
            &[
                "users",
                "create",
                "--email",
                "ada@example.com",
                "--password-stdin",
            ],
            Some("correct horse battery\n"),
        )
        .await;
        let user = cli(&dir, &env, &["users", "list"], None).await[0].clone();
        let user_id = user["user_id"].as_str().unwrap().to_owned();
        let client = cli(
            &dir,
            &env,
            &[
                "clients",
                "create",
                "--name",
                "app",
                "--app-type",
                "regular-web",
                "--grant-type",
                "password",
                "--grant-type",
                "refresh_token",
            ],
            None,
        )
        .await;
        let (id, secret) = (
            client["client_id"].as_str().unwrap().to_owned(),
            client["client_secret"].as_str().unwrap().to_owned(),
        );

        let mut a = Server::start(&dir, &env).await;
        let mut b = Server::start(&dir, &env).await;
        let http = http();

        // A rotation on one process is seen by the other.
        let t0 = password_login(&http, &a, &id, &secret).await;
        let (status, body) = exchange(&http, &b, &id, &secret, &t0).await;
        assert_eq!(status, 200, "{body}");
        let t1 = body["refresh_token"].as_str().unwrap().to_owned();
        let (status, _) = exchange(&http, &a, &id, &secret, &t0).await;
        assert_eq!(status, 400, "reuse seen across processes");

        // The CLI lists the device of a fresh login and revokes all of the user's tokens.
        let t2 = password_login(&http, &b, &id, &secret).await;
        let devices = cli(
            &dir,
            &env,
            &["devices", "list", "--user-id", &user_id],
            None,
        )
        .await;
        assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
        assert!(devices[0]["id"].as_str().unwrap().starts_with("dcr_"));
        let revoked = cli(
            &dir,
            &env,
            &["tokens", "revoke", "--user-id", &user_id],
            None,
        )
        .await;
        assert_eq!(revoked["families_revoked"], 1, "{revoked}");
        let (status, _) = exchange(&http, &a, &id, &secret, &t2).await;
        assert_eq!(
            status, 400,
            "revoked through the CLI, refused by process A at once"
        );
        let _ = t1;

        // Block and unblock through the CLI: refused, then accepted again, on both processes.
        let t3 = password_login(&http, &a, &id, &secret).await;
        cli(&dir, &env, &["users", "block", "--user-id", &user_id], None).await;
        let (status, _) = exchange(&http, &b, &id, &secret, &t3).await;
        assert_eq!(status, 400, "blocked");
        cli(
            &dir,
            &env,
            &["users", "unblock", "--user-id", &user_id],
            None,
        )
        .await;
        let (status, body) = exchange(&http, &a, &id, &secret, &t3).await;
        assert_eq!(status, 200, "unblocked: {body}");
        let t4 = body["refresh_token"].as_str().unwrap().to_owned();

        // A policy raise through the CLI, while both processes hold the client in memory:
        // the families under the old version are revoked with it, so both refuse at once.
        let t5 = password_login(&http, &b, &id, &secret).await;
        cli(
            &dir,
            &env,
            &[
                "clients",
                "update",
                "--client-id",
                &id,
                "--auth-policy-version",
                "1",
            ],
            None,
        )
        .await;
        let (status, _) = exchange(&http, &b, &id, &secret, &t4).await;
        assert_eq!(
            status, 400,
            "policy raised through the CLI, refused by B at once"
        );
        let (status, _) = exchange(&http, &a, &id, &secret, &t5).await;
        assert_eq!(
            status, 400,
            "policy raised through the CLI, refused by A at once"
        );

        // The audit log shows the CLI's revocation, one JSON line per event.
        let (status, out, err) = run(&dir, &env, &["logs", "tail", "--type", "srrt"], None).await;
        assert!(status.success(), "{err}");
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!lines.is_empty(), "{out}");
        assert!(lines.iter().all(|e| e["type"] == "srrt"));
        assert!(!out.contains(&t2));

        a.stop().await;
        b.stop().await;
        if let Some(name) = pg_name {
            crate::helpers::drop_database(&name).await;
        }
    }
}

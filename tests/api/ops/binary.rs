//! End-to-end tests of the real `tessera` binary (harness in `process.rs`): start-up and
//! shutdown, the admin CLI, logs, and configuration errors.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::process::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_one_ready_line_and_drains_requests_on_sigterm() {
    let dir = TempDir::new("serve");
    let mut server = Server::start(
        &dir,
        &[
            ("TESSERA_BOOTSTRAP_CLIENT_ID", BOOTSTRAP_ID),
            ("TESSERA_BOOTSTRAP_CLIENT_SECRET", BOOTSTRAP_SECRET),
            ("TESSERA_LOG", "info,tower_http=debug"),
        ],
    )
    .await;
    assert_ne!(server.addr.port(), 0, "the ready line names the bound port");
    assert!(server.addr.ip().is_loopback());
    assert!(
        server
            .ready_line
            .contains(&format!("(issuer {}, database sqlite://", server.issuer())),
        "{}",
        server.ready_line
    );

    let http = http();
    let ready = http.get(server.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
    let discovery: Value = http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["issuer"],
        server.issuer(),
        "the issuer follows the real port"
    );

    // Requests that hash passwords (argon2id, one at a time) are in flight when SIGTERM arrives.
    let token = management_token(&http, &server).await;
    let started = |s: &Server| {
        s.stderr
            .text()
            .matches("started processing request")
            .count()
    };
    let before = started(&server);
    let n = 6;
    let mut requests = Vec::new();
    for i in 0..n {
        let (http, url, token) = (http.clone(), server.url("/api/v2/users"), token.clone());
        requests.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({
                    "connection": "Username-Password-Authentication",
                    "email": format!("user{i}@example.com"),
                    "password": "correct horse battery staple",
                }))
                .send()
                .await
                .expect("an in-flight request completes");
            let status = response.status();
            let body: Value = response.json().await.expect("a JSON answer");
            (status, body, Instant::now())
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while started(&server) < before + n {
        assert!(
            Instant::now() < deadline,
            "requests never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.sigterm();
    let signalled = Instant::now();
    let mut after_signal = 0;
    for request in requests {
        let (status, body, at) = tokio::time::timeout(Duration::from_secs(30), request)
            .await
            .expect("request finished")
            .unwrap();
        assert_eq!(status, 201, "{body}");
        assert!(body["user_id"].as_str().unwrap().starts_with("auth0|"));
        if at > signalled {
            after_signal += 1;
        }
    }
    eprintln!("{after_signal} of {n} requests finished after SIGTERM");
    assert!(
        after_signal > 0,
        "no request was still in flight at SIGTERM: the test proved nothing"
    );

    let status = server.wait_exit().await;
    assert!(
        status.success(),
        "exit status {status}; stderr: {}",
        server.stderr.text()
    );
    assert_eq!(
        server.stdout.lines(),
        [server.ready_line.clone()],
        "exactly one line on stdout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_right_after_the_ready_line_are_a_clean_exit() {
    let dir = TempDir::new("early-signal");
    // The ready line promises that signals are handled from now on: SIGTERM, and Ctrl-C.
    for signal in ["TERM", "INT"] {
        let mut server = Server::start(&dir, &[]).await;
        server.signal(signal);
        let status = server.wait_exit().await;
        assert!(
            status.success(),
            "SIG{signal}: {status}; stderr: {}",
            server.stderr.text()
        );
        assert_eq!(server.stdout.lines().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cli_prints_json_and_its_clients_work_against_serve() {
    let dir = TempDir::new("cli");
    assert_eq!(
        run_json(&dir, &["migrate"], None).await,
        json!({ "migrated": true })
    );

    let api = run_json(
        &dir,
        &[
            "apis",
            "create",
            "--identifier",
            "https://api.test/",
            "--scope",
            "read:x",
        ],
        None,
    )
    .await;
    assert_eq!(api["identifier"], "https://api.test/");
    assert_eq!(api["signing_alg"], "RS256");
    assert_eq!(api["scopes"][0]["value"], "read:x");
    assert!(api["id"].as_str().is_some_and(|id| !id.is_empty()));
    let es_api = run_json(
        &dir,
        &[
            "apis",
            "create",
            "--identifier",
            "https://es.api.test/",
            "--scope",
            "read:x",
            "--signing-alg",
            "ES256",
        ],
        None,
    )
    .await;
    assert_eq!(es_api["signing_alg"], "ES256");

    let client = run_json(
        &dir,
        &[
            "clients",
            "create",
            "--name",
            "worker",
            "--app-type",
            "non-interactive",
        ],
        None,
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"]
        .as_str()
        .expect("the secret, shown once")
        .to_owned();
    assert_eq!(client["name"], "worker");
    assert_eq!(client["app_type"], "non_interactive");
    assert_eq!(client["grant_types"], json!(["client_credentials"]));
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_post");
    assert!(secret.len() >= 43, "≥ 256 bits of secret");

    for audience in ["https://api.test/", "https://es.api.test/"] {
        let grant = run_json(
            &dir,
            &[
                "client-grants",
                "create",
                "--client-id",
                &client_id,
                "--audience",
                audience,
                "--scope",
                "read:x",
            ],
            None,
        )
        .await;
        assert_eq!(grant["client_id"], client_id.as_str());
        assert_eq!(grant["audience"], audience);
        assert_eq!(grant["scope"], json!(["read:x"]));
    }

    let password = "correct horse battery staple";
    let user = run_json(
        &dir,
        &["users", "create", "--email", "a@b.test", "--password-stdin"],
        Some(&format!("{password}\n")),
    )
    .await;
    assert_eq!(user["email"], "a@b.test");
    assert!(user["user_id"].as_str().unwrap().starts_with("auth0|"));
    assert_eq!(
        user["identities"][0]["connection"],
        "Username-Password-Authentication"
    );
    assert!(!user.to_string().contains(password));
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());

    let clients = run_json(&dir, &["clients", "list"], None).await;
    let listed = clients
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == client_id.as_str())
        .expect("worker is listed");
    assert_eq!(listed["name"], "worker");
    assert!(
        listed.get("client_secret").is_none(),
        "lists never show secrets"
    );
    assert!(!clients.to_string().contains(&secret));

    let users = run_json(&dir, &["users", "list"], None).await;
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["email"], "a@b.test");
    assert_eq!(users[0]["user_id"], user["user_id"]);

    // On a database no server has started on yet, a rotation has nothing to replace: the new key
    // signs at once (there is no old key relying parties could be using).
    let rotated = run_json(&dir, &["keys", "rotate", "--alg", "ES256"], None).await;
    let es = &rotated["rotated"][0];
    assert_eq!(rotated["rotated"].as_array().unwrap().len(), 1);
    assert_eq!(es["alg"], "ES256");
    let es_kid = es["kid"].as_str().unwrap().to_owned();
    assert_eq!(es["signs_from"], es["published_at"], "{rotated}");
    let keys = run_json(&dir, &["keys", "list"], None).await;
    let listed = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == es_kid.as_str())
        .expect("rotated key listed");
    assert_eq!(listed["alg"], "ES256");
    assert_eq!(listed["state"], "current", "{keys}");
    assert!(listed["published_until"].is_null());

    // The server on the same database serves what the CLI made.
    let mut server = Server::start(&dir, &[]).await;
    let http = http();
    let body = token(&http, &server, &client_id, &secret, "https://api.test/").await;
    assert_eq!(body["scope"], "read:x");
    let (header, claims) = verify(
        &http,
        &server,
        body["access_token"].as_str().unwrap(),
        "https://api.test/",
    )
    .await;
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(claims["sub"], format!("{client_id}@clients"));
    assert_eq!(claims["scope"], "read:x");
    let body = token(&http, &server, &client_id, &secret, "https://es.api.test/").await;
    let (header, _) = verify(
        &http,
        &server,
        body["access_token"].as_str().unwrap(),
        "https://es.api.test/",
    )
    .await;
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(
        header.kid.as_deref(),
        Some(es_kid.as_str()),
        "the CLI's key signs"
    );
    server.stop().await;

    // A second rotation replaces a key in use: published now, signing only after the delay.
    let rotated = run_json(&dir, &["keys", "rotate", "--alg", "ES256"], None).await;
    let next = &rotated["rotated"][0];
    assert_ne!(next["signs_from"], next["published_at"], "{rotated}");
    let keys = run_json(&dir, &["keys", "list"], None).await;
    let key = |kid: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()
            .clone()
    };
    // The key in use still signs until the new one's activation, and both say when that is.
    let new = key(next["kid"].as_str().unwrap());
    assert_eq!(new["state"], "next", "{keys}");
    assert_eq!(new["next_state"], "current", "{keys}");
    assert_eq!(new["next_state_at"], next["signs_from"], "{keys}");
    let old = key(&es_kid);
    assert_eq!(old["state"], "current", "{keys}");
    assert_eq!(old["next_state"], "previous", "{keys}");
    assert_eq!(old["next_state_at"], next["signs_from"], "{keys}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_do_not_disturb_a_running_server() {
    let dir = TempDir::new("cli-live");
    let mut server = Server::start(
        &dir,
        &[
            ("TESSERA_BOOTSTRAP_CLIENT_ID", BOOTSTRAP_ID),
            ("TESSERA_BOOTSTRAP_CLIENT_SECRET", BOOTSTRAP_SECRET),
        ],
    )
    .await;
    let http = http();
    management_token(&http, &server).await;

    // The CLI's environment does not know the server's port (hence its issuer).
    let client = run_json(
        &dir,
        &[
            "clients",
            "create",
            "--name",
            "late",
            "--app-type",
            "non-interactive",
        ],
        None,
    )
    .await;
    run_json(&dir, &["clients", "list"], None).await;

    // The Management API still answers at the server's issuer, and sees what the CLI made.
    let token = management_token(&http, &server).await;
    let response = http
        .get(server.url(&format!(
            "/api/v2/clients/{}",
            client["client_id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["name"], "late");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_without_secrets_or_tokens() {
    let dir = TempDir::new("logs");
    let mut server = Server::start(
        &dir,
        &[
            ("TESSERA_BOOTSTRAP_CLIENT_ID", BOOTSTRAP_ID),
            ("TESSERA_BOOTSTRAP_CLIENT_SECRET", BOOTSTRAP_SECRET),
            ("TESSERA_LOG", "debug"),
            ("TESSERA_LOG_FORMAT", "json"),
        ],
    )
    .await;
    let http = http();
    let admin = management_token(&http, &server).await;
    let post = |path: &str, body: Value| {
        http.post(server.url(path))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let api = post(
        "/api/v2/resource-servers",
        json!({ "identifier": "https://api.test/", "scopes": [{"value": "read:x"}] }),
    )
    .await
    .unwrap();
    assert_eq!(api.status(), 201);
    let client: Value = post(
        "/api/v2/clients",
        json!({ "name": "worker", "app_type": "non_interactive" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let grant = post(
        "/api/v2/client-grants",
        json!({ "client_id": id, "audience": "https://api.test/", "scope": ["read:x"] }),
    )
    .await
    .unwrap();
    assert_eq!(grant.status(), 201);
    let access = token(&http, &server, &id, &secret, "https://api.test/").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A failed attempt: the presented secret must not be logged either.
    let wrong = "wrong-secret-canary-7f3a9c2e1b5d4f6a8c0e2b4d6f8a0c2e";
    let refused = http
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", wrong),
            ("audience", "https://api.test/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // A token in a query string is not logged with the path.
    let probe = http
        .get(server.url(&format!("/health/live?access_token={access}")))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
    server.stop().await;

    let logs = server.stderr.text();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 5, "debug logging produced output: {logs}");
    let mut debug = 0;
    for line in &lines {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(event.is_object(), "{line}");
        assert!(
            event["level"].is_string() && event["timestamp"].is_string(),
            "{line}"
        );
        if event["level"] == "DEBUG" {
            debug += 1;
        }
    }
    assert!(debug > 0, "TESSERA_LOG=debug logs debug events");
    let signature = |jwt: &str| jwt.rsplit('.').next().unwrap().to_owned();
    for (what, secret) in [
        ("the client secret", secret.clone()),
        ("the bootstrap secret", BOOTSTRAP_SECRET.to_owned()),
        ("a presented wrong secret", wrong.to_owned()),
        ("the access token", access.clone()),
        ("the access token's signature", signature(&access)),
        ("the management token", admin.clone()),
        ("the management token's signature", signature(&admin)),
    ] {
        assert!(!logs.contains(&secret), "the logs contain {what}");
    }
}

/// Every admin task from the CLI: clients (every field of the Management API's PATCH, the
/// refresh-token policy included), APIs, client grants and users change as PATCH changes them;
/// a refused change names its fields (exit 1) and an empty or malformed identifier is a usage
/// error (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cli_updates_what_the_management_api_patches() {
    let dir = TempDir::new("update");
    let client = run_json(
        &dir,
        &[
            "clients",
            "create",
            "--name",
            "Legacy SPA",
            "--app-type",
            "spa",
            "--callback",
            "https://app.example.com/cb",
            "--legacy",
        ],
        None,
    )
    .await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    assert_eq!(client["refresh_token"]["expiration_type"], "non-expiring");
    let updated = run_json(
        &dir,
        &[
            "clients",
            "update",
            "--client-id",
            &id,
            "--name",
            "SPA",
            "--oidc-conformant",
            "true",
            "--rotation-type",
            "rotating",
            "--expiration-type",
            "expiring",
            "--leeway",
            "10",
            "--web-origin",
            "https://app.example.com",
            "--clear-callbacks",
        ],
        None,
    )
    .await;
    assert_eq!(updated["name"], "SPA");
    assert_eq!(updated["oidc_conformant"], true);
    assert_eq!(updated["callbacks"], json!([]));
    assert_eq!(updated["web_origins"], json!(["https://app.example.com"]));
    assert_eq!(updated["app_type"], "spa", "untouched fields stay");
    assert_eq!(
        updated["refresh_token"],
        json!({
            "rotation_type": "rotating",
            "expiration_type": "expiring",
            "leeway": 10,
            "token_lifetime": 2_592_000,
            "infinite_token_lifetime": false,
            "idle_token_lifetime": 1_296_000,
            "infinite_idle_token_lifetime": false,
        })
    );
    // A contradiction is refused with the fields named, and nothing changes.
    let (status, out, err) = run(
        &dir,
        &[],
        &[
            "clients",
            "update",
            "--client-id",
            &id,
            "--name",
            "x",
            "--expiration-type",
            "non-expiring",
        ],
        None,
    )
    .await;
    assert_eq!(status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("refresh_token.rotation_type")
            && err.contains("refresh_token.expiration_type"),
        "{err}"
    );
    let listed = run_json(&dir, &["clients", "list"], None).await;
    let stored = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(stored["name"], "SPA");
    assert_eq!(stored["refresh_token"], updated["refresh_token"]);
    // Identifiers: empty or malformed is a usage error; unknown is a clear failure.
    for args in [
        vec!["clients", "update", "--client-id", "", "--name", "x"],
        vec!["clients", "update", "--client-id", "a b", "--name", "x"],
        vec!["sessions", "end", "--user-id", ""],
        vec!["users", "block", "--user-id", " "],
        vec!["client-grants", "delete", "--id", ""],
    ] {
        let (status, out, err) = run(&dir, &[], &args, None).await;
        assert_eq!(status.code(), Some(2), "{args:?}: {out}{err}");
        assert!(err.contains("must not"), "{args:?}: {err}");
    }
    let (status, _, err) = run(
        &dir,
        &[],
        &["clients", "update", "--client-id", "nope", "--name", "x"],
        None,
    )
    .await;
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("does not exist"), "{err}");

    // APIs, by identifier.
    run_json(
        &dir,
        &[
            "apis",
            "create",
            "--identifier",
            "https://api.test/",
            "--scope",
            "read:x",
        ],
        None,
    )
    .await;
    let api = run_json(
        &dir,
        &[
            "apis",
            "update",
            "--id",
            "https://api.test/",
            "--name",
            "Orders",
            "--scope",
            "read:x",
            "--scope",
            "write:x",
            "--token-lifetime",
            "600",
            "--allow-offline-access",
            "true",
        ],
        None,
    )
    .await;
    assert_eq!(api["name"], "Orders");
    assert_eq!(api["token_lifetime"], 600);
    assert_eq!(api["allow_offline_access"], true);
    let scopes: Vec<&str> = api["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["read:x", "write:x"]);

    // Client grants: update, then delete.
    let worker = run_json(
        &dir,
        &[
            "clients",
            "create",
            "--name",
            "worker",
            "--app-type",
            "non-interactive",
        ],
        None,
    )
    .await;
    let worker_id = worker["client_id"].as_str().unwrap();
    let grant = run_json(
        &dir,
        &[
            "client-grants",
            "create",
            "--client-id",
            worker_id,
            "--audience",
            "https://api.test/",
            "--scope",
            "read:x",
        ],
        None,
    )
    .await;
    let grant_id = grant["id"].as_str().unwrap();
    let grant = run_json(
        &dir,
        &[
            "client-grants",
            "update",
            "--id",
            grant_id,
            "--scope",
            "write:x",
        ],
        None,
    )
    .await;
    assert_eq!(grant["scope"], json!(["write:x"]));
    let deleted = run_json(&dir, &["client-grants", "delete", "--id", grant_id], None).await;
    assert_eq!(deleted, json!({ "id": grant_id, "deleted": true }));
    let grants = run_json(
        &dir,
        &["client-grants", "list", "--client-id", worker_id],
        None,
    )
    .await;
    assert_eq!(grants, json!([]));

    // Users: name, email, blocked, and the password from standard input.
    let user = run_json(
        &dir,
        &[
            "users",
            "create",
            "--email",
            "ada@example.com",
            "--password-stdin",
        ],
        Some("correct horse battery"),
    )
    .await;
    let user_id = user["user_id"].as_str().unwrap();
    let user = run_json(
        &dir,
        &[
            "users",
            "update",
            "--user-id",
            user_id,
            "--name",
            "Ada L.",
            "--email",
            "ada@lovelace.example",
            "--blocked",
            "true",
        ],
        None,
    )
    .await;
    assert_eq!(user["name"], "Ada L.");
    assert_eq!(user["email"], "ada@lovelace.example");
    assert_eq!(user["blocked"], true);
    assert!(user.get("last_password_reset").is_none(), "{user}");
    let user = run_json(
        &dir,
        &["users", "update", "--user-id", user_id, "--password-stdin"],
        Some("another horse battery\n"),
    )
    .await;
    assert!(user["last_password_reset"].is_string(), "{user}");
}

/// A refresh-token policy stored before the rules were enforced (written straight into the
/// database here: what a PATCH of `expiration_type` alone used to leave on a legacy client) is
/// named by `tessera clients check`, which exits 1, and by a warning when the server starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contradictory_stored_policies_are_reported() {
    use sqlx::Connection as _;
    let dir = TempDir::new("policy");
    let (status, out, err) = run(&dir, &[], &["clients", "check"], None).await;
    assert!(status.success(), "{out}{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!([]));

    let client = run_json(
        &dir,
        &["clients", "create", "--name", "old legacy app", "--legacy"],
        None,
    )
    .await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let mut db = sqlx::SqliteConnection::connect(&dir.database_url())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE clients SET refresh_token = json_set(refresh_token, '$.expiration_type', 'expiring') \
         WHERE client_id = ?",
    )
    .bind(&id)
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();

    let (status, out, err) = run(&dir, &[], &["clients", "check"], None).await;
    assert_eq!(status.code(), Some(1), "{out}{err}");
    let reports: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports.as_array().map(Vec::len), Some(1), "{reports}");
    assert_eq!(reports[0]["client_id"], id.as_str());
    assert_eq!(reports[0]["name"], "old legacy app");
    let problems = reports[0]["problems"].to_string();
    assert!(
        problems.contains("refresh_token.expiration_type")
            && problems.contains("refresh_token.infinite_token_lifetime"),
        "{problems}"
    );
    assert!(
        err.contains("1 client(s) with a contradictory refresh-token policy"),
        "{err}"
    );

    let mut server = Server::start(&dir, &[]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stderr.text().contains(&id) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = server.stderr.text();
    assert!(
        log.lines()
            .any(|l| l.contains(&id) && l.contains("contradicts itself") && l.contains("WARN")),
        "{log}"
    );
    server.stop().await;
}

fn assert_refused(status: ExitStatus, out: &str, err: &str, needle: &str) {
    assert!(!status.success(), "must exit non-zero; stderr: {err}");
    assert!(err.contains(needle), "stderr must name {needle}: {err}");
    assert!(
        !out.contains("tessera ready"),
        "must not report ready: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_fails_fast_with_a_clear_message() {
    let dir = TempDir::new("config");
    let (status, out, err) = run(&dir, &[("TESSERA_BIND", "0.0.0.0:0")], &["serve"], None).await;
    assert_refused(status, &out, &err, "TESSERA_ISSUER");

    let file: PathBuf = dir.0.join("tessera.toml");
    std::fs::write(&file, "bind = \"127.0.0.1:0\"\nbnid_typo = \"oops\"\n").unwrap();
    let config = file.to_str().unwrap();
    let (status, out, err) = run(&dir, &[], &["--config", config, "serve"], None).await;
    assert_refused(status, &out, &err, "bnid_typo");

    // The secrets key is checked before any connection is attempted.
    let (status, out, err) = run(
        &dir,
        &[
            ("TESSERA_BIND", "127.0.0.1:0"),
            ("DATABASE_URL", "postgres://tessera@127.0.0.1:1/none"),
        ],
        &["serve"],
        None,
    )
    .await;
    assert_refused(status, &out, &err, "TESSERA_SECRETS_KEY");
    assert!(
        !Path::new(&dir.0.join("t.db")).exists(),
        "nothing was created"
    );
}

/// `serve` runs with at most two glibc malloc arenas (SQLite allocates through glibc from a
/// thread per connection; see `main.rs`), set by running itself again under the same pid; a
/// limit the operator set is kept.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_limits_glibc_malloc_arenas() {
    let dir = TempDir::new("arenas");
    for (preset, expected) in [
        (None, "MALLOC_ARENA_MAX=2"),
        (Some("4"), "MALLOC_ARENA_MAX=4"),
    ] {
        let env: Vec<(&str, &str)> = preset
            .map(|v| ("MALLOC_ARENA_MAX", v))
            .into_iter()
            .collect();
        let mut server = Server::start(&dir, &env).await;
        let pid = server.child.id().expect("running");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        assert!(
            vars.contains(&expected.as_bytes()),
            "{expected} in {:?}",
            String::from_utf8_lossy(&environ)
        );
        server.signal("TERM");
        assert!(server.wait_exit().await.success());
    }
}

//! Test harness: `spawn_app` gives each test its own database (a fresh PostgreSQL database, or an
//! in-memory SQLite one), the shared fixture signing keys, a manual clock, and the router driven
//! in-process with `oneshot`.

#![allow(dead_code)] // shared by every test module; not each uses every helper

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::Connection;
use tower::ServiceExt;

use tessera::clock::ManualClock;
use tessera::config::{Config, SecretString};
use tessera::domain::SigningAlg;
use tessera::http::AppState;
use tessera::store::SharedStore;
use tessera::tokens::{KeyMaterial, Secrets};

pub const ISSUER: &str = "https://tessera.test/";
pub const MANAGEMENT_AUDIENCE: &str = "https://tessera.test/api/v2/";
pub const BOOTSTRAP_ID: &str = "bootstrap-admin";
pub const BOOTSTRAP_SECRET: &str = "bootstrap-secret-0123456789-abcdefghijklmnop";
pub const SECRETS_KEY: &str = "test-secrets-key-0123456789-abcdefghijklmnop";
/// The manual clock starts here (2026-01-01T00:00:00Z).
pub const START: i64 = 1_767_225_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL too when `TEST_DATABASE_URL` is set (CI sets it and fails when the
/// server is unreachable). Every backend test runs its body once per backend listed here.
pub fn backends() -> Vec<Backend> {
    let mut list = vec![Backend::Sqlite];
    if tessera::testing::test_database_url().is_some() {
        list.push(Backend::Postgres);
    }
    list
}

/// Runs an async test body once per backend, naming the backend if it fails.
#[macro_export]
macro_rules! each_backend {
    ($name:ident, |$app:ident| $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for backend in $crate::helpers::backends() {
                eprintln!("--- {} on {:?}", stringify!($name), backend);
                let $app = $crate::helpers::spawn_app(backend).await;
                $body
                $app.cleanup().await;
            }
        }
    };
}

/// RSA generation is slow: every test shares one key per algorithm.
fn fixture_keys() -> &'static Vec<KeyMaterial> {
    static KEYS: OnceLock<Vec<KeyMaterial>> = OnceLock::new();
    KEYS.get_or_init(|| {
        SigningAlg::ALL
            .iter()
            .map(|alg| KeyMaterial::generate(*alg).expect("fixture key"))
            .collect()
    })
}

pub fn test_config(extra: &[(&str, &str)]) -> Config {
    let mut env: Vec<(String, String)> = vec![
        ("TESSERA_ISSUER".into(), ISSUER.into()),
        ("TESSERA_SECRETS_KEY".into(), SECRETS_KEY.into()),
        ("TESSERA_BOOTSTRAP_CLIENT_ID".into(), BOOTSTRAP_ID.into()),
        (
            "TESSERA_BOOTSTRAP_CLIENT_SECRET".into(),
            BOOTSTRAP_SECRET.into(),
        ),
        ("TESSERA_PASSWORD_HASH_CONCURRENCY".into(), "2".into()),
        // Tests chain one token hundreds of times; the rate-limit tests turn the limits on.
        ("TESSERA_REFRESH_RATE_LIMIT_PER_MINUTE".into(), "0".into()),
        (
            "TESSERA_DELEGATION_RATE_LIMIT_PER_MINUTE".into(),
            "0".into(),
        ),
    ];
    // What the caller names replaces the default.
    env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::load_from(None, env).expect("test config").0
}

/// A fresh, migrated store of `backend`; for PostgreSQL also the database name to drop later.
pub async fn fresh_store(backend: Backend) -> (SharedStore, Option<String>) {
    match backend {
        Backend::Sqlite => {
            let store = tessera::store::connect("sqlite::memory:", 1)
                .await
                .expect("sqlite");
            store.migrate().await.expect("migrate sqlite");
            (store, None)
        }
        Backend::Postgres => {
            let (url, name) = tessera::testing::create_postgres_database("tessera_test").await;
            let store = tessera::store::connect(&url, 5).await.expect("postgres");
            store.migrate().await.expect("migrate postgres");
            (store, Some(name))
        }
    }
}

pub use tessera::testing::drop_postgres_database as drop_database;

/// Stores the fixture keys, active from `START`.
pub async fn insert_fixture_keys(store: &SharedStore) {
    let secrets = Secrets::new(&SecretString::new(SECRETS_KEY));
    for material in fixture_keys() {
        let record = material.seal(&secrets, START, START).expect("seal");
        store.insert_signing_key(&record).await.expect("insert key");
    }
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub store: SharedStore,
    pub backend: Backend,
    /// The issuer the state was built with (`ISSUER` unless served on a real port).
    pub issuer: String,
    pg_database: Option<String>,
}

impl TestApp {
    /// PostgreSQL only: ends every server connection to the app's database, as a database
    /// restart would. Answers how many were ended.
    pub async fn terminate_database_connections(&self) -> i64 {
        let name = self.pg_database.as_deref().expect("a PostgreSQL app");
        let base = tessera::testing::test_database_url().expect("TEST_DATABASE_URL");
        let mut admin = sqlx::PgConnection::connect(&base).await.expect("admin");
        sqlx::query_scalar(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = $1",
        )
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .expect("terminate")
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// An app on a SQLite *file* with a pool of several connections: real write contention, which
/// the single-connection in-memory database cannot show. The file is removed with the app.
pub async fn spawn_app_sqlite_file() -> (TestApp, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "tessera-test-{}",
        tessera::tokens::secrets::random_hex(12)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}/t.db", dir.display());
    let store = tessera::store::connect(&url, 8).await.expect("sqlite file");
    store.migrate().await.expect("migrate");
    let app = app_on(store, None, Backend::Sqlite, ISSUER, START, &[]).await;
    (app, dir)
}

pub async fn spawn_app_with(backend: Backend, extra_env: &[(&str, &str)]) -> TestApp {
    build_app(backend, ISSUER, START, extra_env).await
}

/// The app with another issuer (e.g. a plain-http dev issuer), driven in-process.
pub async fn spawn_app_at(backend: Backend, issuer: &str) -> TestApp {
    build_app(backend, issuer, START, &[]).await
}

async fn build_app(
    backend: Backend,
    issuer: &str,
    start: i64,
    extra_env: &[(&str, &str)],
) -> TestApp {
    let (store, pg_database) = fresh_store(backend).await;
    app_on(store, pg_database, backend, issuer, start, extra_env).await
}

/// The app over a migrated store: fixture keys, a manual clock at `start`, the state and router.
async fn app_on(
    store: SharedStore,
    pg_database: Option<String>,
    backend: Backend,
    issuer: &str,
    start: i64,
    extra_env: &[(&str, &str)],
) -> TestApp {
    let mut env = vec![("TESSERA_ISSUER", issuer)];
    env.extend_from_slice(extra_env);
    let config = test_config(&env);
    insert_fixture_keys(&store).await;
    let clock = Arc::new(ManualClock::new(start));
    let state = tessera::build_state(
        &config,
        issuer,
        store.clone(),
        clock.clone(),
        &SecretString::new(SECRETS_KEY),
    )
    .await
    .expect("build state");
    TestApp {
        router: tessera::http::router(state.clone()),
        state,
        clock,
        store,
        backend,
        issuer: issuer.to_owned(),
        pg_database,
    }
}

/// The app served over real TCP on `127.0.0.1:<port>`, with the issuer `http://127.0.0.1:<port>/`
/// (for third-party clients that speak HTTP) and the manual clock set to the wall clock (their
/// token checks use real time). The in-process `router` of the answer shares the same state.
pub async fn spawn_served_app(backend: Backend) -> (TestApp, tokio::task::JoinHandle<()>) {
    use tessera::clock::Clock;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let issuer = format!("http://{addr}/");
    let now = tessera::clock::SystemClock.now();
    let app = build_app(backend, &issuer, now, &[]).await;
    let router = app.router.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (app, server)
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Asserts an RFC 6749 §5.2 error body with this status and code.
    #[track_caller]
    pub fn assert_oauth_error(&self, status: u16, error: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "status; body: {}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["error"], error, "error code; body: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "error_description; body: {body}"
        );
        assert_eq!(self.header("cache-control"), Some("no-store"));
    }
    /// Asserts Auth0's Management API error body.
    #[track_caller]
    pub fn assert_api_error(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "status; body: {}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["statusCode"], status, "body: {body}");
        assert!(body["error"].is_string(), "body: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "body: {body}"
        );
        body
    }
}

impl TestApp {
    /// The manual clock's time.
    pub fn clock_now(&self) -> i64 {
        use tessera::clock::Clock;
        self.clock.now()
    }

    pub async fn request(&self, request: Request<Body>) -> TestResponse {
        send(&self.router, request).await
    }

    /// The app's router over the same state with another engine (e.g. with exchange checks).
    pub fn router_with_engine(&self, engine: tessera::grants::Engine) -> Router {
        tessera::http::router(tessera::http::AppState {
            engine,
            ..self.state.clone()
        })
    }

    /// A form POST; `basic` adds an `Authorization: Basic` header from raw credentials.
    pub async fn post_form(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> TestResponse {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let mut builder =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            builder = builder.header(header::AUTHORIZATION, basic_header(id, secret));
        }
        self.request(builder.body(Body::from(body)).unwrap()).await
    }

    /// A JSON request with an optional Bearer token.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = bearer {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(value) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        self.request(builder.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> TestResponse {
        self.send_json(Method::GET, path, None, bearer).await
    }

    /// A client-credentials token for `audience`, asserting success.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        secret: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> Value {
        let mut pairs = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("audience", audience),
        ];
        if let Some(scope) = scope {
            pairs.push(("scope", scope));
        }
        let response = self.post_form("/oauth/token", &pairs, None).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "token: {}",
            response.text()
        );
        response.json()
    }

    /// A Management API token from the bootstrap client, with every scope or the ones named.
    pub async fn management_token(&self, scope: Option<&str>) -> String {
        let audience = format!("{}api/v2/", self.issuer);
        self.client_credentials(BOOTSTRAP_ID, BOOTSTRAP_SECRET, &audience, scope)
            .await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Creates an API through the Management API; answers its JSON.
    pub async fn create_api(&self, body: Value) -> Value {
        let token = self.management_token(None).await;
        let response = self
            .send_json(
                Method::POST,
                "/api/v2/resource-servers",
                Some(body),
                Some(&token),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()
    }

    /// Creates a client through the Management API; answers its JSON (with `client_secret`).
    pub async fn create_client(&self, body: Value) -> Value {
        let token = self.management_token(None).await;
        let response = self
            .send_json(Method::POST, "/api/v2/clients", Some(body), Some(&token))
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()
    }

    /// Creates a client grant through the Management API.
    pub async fn create_client_grant(
        &self,
        client_id: &str,
        audience: &str,
        scope: &[&str],
    ) -> Value {
        let token = self.management_token(None).await;
        let response = self
            .send_json(
                Method::POST,
                "/api/v2/client-grants",
                Some(json!({ "client_id": client_id, "audience": audience, "scope": scope })),
                Some(&token),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()
    }

    /// An API `https://api.example.com/` with scopes `read:things write:things`, a
    /// machine-to-machine client, and a grant of both scopes; answers (client_id, secret).
    pub async fn m2m_setup(&self, signing_alg: &str) -> (String, String) {
        self.create_api(json!({
            "identifier": "https://api.example.com/",
            "name": "Example API",
            "signing_alg": signing_alg,
            "scopes": [{"value": "read:things"}, {"value": "write:things"}],
        }))
        .await;
        let client = self
            .create_client(json!({ "name": "worker", "app_type": "non_interactive" }))
            .await;
        let id = client["client_id"].as_str().unwrap().to_owned();
        let secret = client["client_secret"].as_str().unwrap().to_owned();
        self.create_client_grant(
            &id,
            "https://api.example.com/",
            &["read:things", "write:things"],
        )
        .await;
        (id, secret)
    }

    pub async fn cleanup(self) {
        if let Some(name) = self.pg_database {
            drop(self.router);
            drop(self.state);
            drop(self.store);
            drop_database(&name).await;
        }
    }
}

pub fn basic_header(id: &str, secret: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// Decodes a JWT's header and claims without verifying (tests verify separately).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let mut parts = token.split('.');
    let mut decode = || {
        let part = parts.next().expect("JWT part");
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .expect("base64url"),
        )
        .expect("JSON")
    };
    let header = decode();
    let claims = decode();
    (header, claims)
}

/// Verifies a JWT against a JWKS document the way a relying party would: by `kid`, with the
/// key's own algorithm.
pub fn verify_with_jwks(token: &str, jwks: &Value, audience: &str) -> Value {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    let header = decode_header(token).expect("header");
    let kid = header.kid.expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in JWKS {jwks}"));
    let (key, alg) = match jwk["kty"].as_str() {
        Some("RSA") => (
            DecodingKey::from_rsa_components(
                jwk["n"].as_str().unwrap(),
                jwk["e"].as_str().unwrap(),
            )
            .unwrap(),
            if jwk["alg"] == "PS256" {
                Algorithm::PS256
            } else {
                Algorithm::RS256
            },
        ),
        _ => (
            DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
                .unwrap(),
            Algorithm::ES256,
        ),
    };
    assert_eq!(header.alg, alg, "the token's alg is the key's alg");
    let mut validation = Validation::new(alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[ISSUER]);
    // The manual clock is in 2026-01; tokens carry that time, so skip the wall-clock check.
    validation.validate_exp = false;
    decode::<Value>(token, &key, &validation)
        .expect("token verifies against the JWKS")
        .claims
}

/// One request through `router`.
pub async fn send(router: &Router, request: Request<Body>) -> TestResponse {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    TestResponse {
        status,
        headers,
        body,
    }
}

/// The store's seeding and inspection side, which the server never calls.
pub fn support(store: &SharedStore) -> &dyn tessera::store::SupportStore {
    tessera::store::support(store.as_ref()).expect("a store tessera::store::connect opened")
}

//! Fixtures through tessera's own code: the store (`tessera::store::connect` + migrations), the
//! administration service for the user, API and client, and families shaped exactly as
//! `start_family` (src/grants/refresh_token.rs) shapes them.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tessera::clock::{Clock, SystemClock, Timestamp};
use tessera::config::Config;
use tessera::domain::RefreshTokenPatch;
use tessera::domain::{
    AppType, AuthMethod, Client, ExpirationType, Family, GrantType, ResourceServer, RotationType,
    User,
};
use tessera::manage::Admin;
use tessera::manage::clients::ClientInput;
use tessera::manage::resource_servers::ResourceServerInput;
use tessera::manage::users::UserInput;
use tessera::passwords::Passwords;
use tessera::store::SharedStore;
use tessera::tokens::secrets::{random_alphanumeric, random_hex, random_token};
use tokio::task::JoinSet;

/// Where seeded families say they came from (the server records the request's IP and agent).
pub const SEED_IP: &str = "127.0.0.1";
pub const SEED_USER_AGENT: &str = "tessera-floor";

/// Families per `insert_families` call (one transaction each).
pub const SEED_BATCH: usize = 10_000;

pub fn now() -> Timestamp {
    SystemClock.now()
}

/// The server's default pool size (`db_max_connections` in config/default.toml).
pub fn server_default_pool() -> anyhow::Result<u32> {
    let (config, _) = Config::load_from(None, std::iter::empty::<(String, String)>())
        .context("cannot load tessera's built-in configuration")?;
    Ok(config.db_max_connections)
}

/// Opens the store and applies migrations, as the server does at start.
pub async fn open(url: &str, pool: u32) -> anyhow::Result<SharedStore> {
    let store = tessera::store::connect(url, pool)
        .await
        .with_context(|| format!("cannot open {}", tessera::redact_url(url)))?;
    store.migrate().await.context("cannot apply migrations")?;
    Ok(store)
}

/// A user, an API with offline access (ES256 access tokens) and a first-party client with the
/// password and refresh_token grants and `client_secret_post`, made by tessera's admin service.
pub struct Fixture {
    pub store: SharedStore,
    pub user: User,
    pub client: Client,
    pub client_secret: String,
    pub api: ResourceServer,
}

impl Fixture {
    /// Families of this fixture's user, client and API, with scope `offline_access`.
    pub fn template(&self) -> Template<'_> {
        Template {
            client: &self.client,
            user: &self.user,
            audience: &self.api.identifier,
            scope: "offline_access",
        }
    }
}

pub async fn create(store: &SharedStore, rotating: bool) -> anyhow::Result<Fixture> {
    let admin = Admin::new(
        store.clone(),
        Arc::new(SystemClock),
        Passwords::new(1)?,
        "http://127.0.0.1/".to_owned(),
    );
    // Unique names, so a fixture can be made again in the same database.
    let tag = random_hex(10);
    let user = admin
        .create_user(UserInput {
            connection: Some(tessera::domain::DATABASE_CONNECTION.to_owned()),
            email: Some(format!("floor-{tag}@example.com")),
            password: Some(random_token(24)),
            ..Default::default()
        })
        .await?;
    let api = admin
        .create_resource_server(ResourceServerInput {
            identifier: Some(format!("https://floor-{tag}.api/")),
            name: Some(format!("floor {tag}")),
            allow_offline_access: Some(true),
            signing_alg: Some("ES256".to_owned()),
            ..Default::default()
        })
        .await?;
    let client = admin
        .create_client(ClientInput {
            name: Some(format!("floor {tag}")),
            app_type: Some(AppType::RegularWeb),
            grant_types: Some(vec![
                GrantType::Password.as_str().to_owned(),
                GrantType::RefreshToken.as_str().to_owned(),
            ]),
            token_endpoint_auth_method: Some(AuthMethod::ClientSecretPost),
            refresh_token: (!rotating).then(|| RefreshTokenPatch {
                rotation_type: Some(RotationType::NonRotating),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?;
    let client_secret = client
        .client_secret
        .clone()
        .context("the new client has no secret")?;
    let user = store
        .get_user(&user.user_id)
        .await?
        .context("the new user is missing")?;
    let client = store
        .get_client(&client.client_id)
        .await?
        .context("the new client is missing")?;
    let api = store
        .get_resource_server(&api.id)
        .await?
        .context("the new API is missing")?;
    Ok(Fixture {
        store: store.clone(),
        user,
        client,
        client_secret,
        api,
    })
}

/// A generation-0 family as `start_family` makes it after a password login at `now`: lifetimes
/// and rotation from the client's `refresh_token` settings, device from the user agent.
pub fn new_family(
    client: &Client,
    user: &User,
    audience: &str,
    scope: &str,
    now: Timestamp,
) -> Family {
    let settings = &client.refresh_token;
    let expiring = settings.expiration_type == ExpirationType::Expiring;
    let rotating = settings.rotation_type == RotationType::Rotating;
    let seconds = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
    Family {
        id: random_alphanumeric(22),
        user_id: user.user_id.clone(),
        client_id: client.client_id.clone(),
        audience: audience.to_owned(),
        scope: scope.to_owned(),
        device: SEED_USER_AGENT.to_owned(),
        rotating,
        generation: 0,
        rotated_at: None,
        leeway: if rotating {
            seconds(settings.leeway)
        } else {
            0
        },
        created_at: now,
        expires_at: (expiring && !settings.infinite_token_lifetime)
            .then(|| now.saturating_add(seconds(settings.token_lifetime))),
        idle_lifetime: (expiring && !settings.infinite_idle_token_lifetime)
            .then(|| seconds(settings.idle_token_lifetime)),
        last_exchanged_at: now,
        auth_time: now,
        auth_policy_version: client.auth_policy_version,
        code_hash: None,
        initial_ip: SEED_IP.to_owned(),
        initial_user_agent: SEED_USER_AGENT.to_owned(),
        last_ip: SEED_IP.to_owned(),
        last_user_agent: SEED_USER_AGENT.to_owned(),
        last_outcome: tessera::domain::RefreshOutcome::Issued,
        revoked_at: None,
        revoked_reason: None,
    }
}

/// Whose families a seed makes.
pub struct Template<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub audience: &'a str,
    pub scope: &'a str,
}

/// What a bulk seed did.
pub struct Seeded {
    /// The ids of the first `keep` families, in order.
    pub kept: Vec<String>,
    pub inserted: u64,
    pub seconds: f64,
}

/// Inserts `n` families for `client` + `user` + `audience` in batches of [`SEED_BATCH`] (two
/// batches in flight on PostgreSQL; one on SQLite, whose writes are serial anyway).
pub async fn seed(
    store: &SharedStore,
    of: &Template<'_>,
    n: u64,
    keep: usize,
    postgres: bool,
) -> anyhow::Result<Seeded> {
    seed_shaped(store, of, n, keep, postgres, |_| {}).await
}

/// [`seed`], with each family passed through `shape` before it is inserted (to age it, say).
pub async fn seed_shaped(
    store: &SharedStore,
    of: &Template<'_>,
    n: u64,
    keep: usize,
    postgres: bool,
    shape: impl Fn(&mut Family),
) -> anyhow::Result<Seeded> {
    let in_flight = if postgres { 2 } else { 1 };
    let started = Instant::now();
    let mut kept = Vec::with_capacity(keep);
    let mut inserted = 0;
    let mut tasks: JoinSet<anyhow::Result<u64>> = JoinSet::new();
    let mut remaining = n;
    let mut last_report = Instant::now();
    while remaining > 0 {
        let size = remaining.min(SEED_BATCH as u64);
        remaining -= size;
        let at = now();
        let batch: Vec<Family> = (0..size)
            .map(|_| {
                let mut family = new_family(of.client, of.user, of.audience, of.scope, at);
                shape(&mut family);
                family
            })
            .collect();
        for f in &batch {
            if kept.len() >= keep {
                break;
            }
            kept.push(f.id.clone());
        }
        while tasks.len() >= in_flight {
            if let Some(done) = tasks.join_next().await {
                inserted += done??;
            }
        }
        let store = store.clone();
        tasks.spawn(async move {
            Ok::<_, anyhow::Error>(support(&store)?.insert_families(&batch).await?)
        });
        if last_report.elapsed().as_secs() >= 10 {
            eprintln!(
                "  seeded {} of {n} families ({:.0} s)",
                n - remaining,
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    while let Some(done) = tasks.join_next().await {
        inserted += done??;
    }
    Ok(Seeded {
        kept,
        inserted,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The store's seeding and inspection side (`tessera::store::SupportStore`).
pub fn support(store: &SharedStore) -> anyhow::Result<&dyn tessera::store::SupportStore> {
    tessera::store::support(store.as_ref())
        .ok_or_else(|| anyhow::anyhow!("not a store tessera::store::connect opened"))
}

//! `seed`: families straight through the store for a user, client and API made beforehand.

use std::io::Write;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use tessera::config::{Config, SecretString};
use tessera::domain::{GrantType, RotationType};
use tessera::tokens::{KeyRing, Secrets, refresh};

use crate::fixture::{self, Template};
use crate::stats::backend;

#[derive(Args)]
pub struct SeedArgs {
    /// The server's database (the `tessera` CLI made the user, client and API, and migrated it).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The server's TESSERA_SECRETS_KEY, as given to it (the refresh-token MAC key derives from
    /// it). Optional with SQLite: the server's generated key file beside the database is used.
    #[arg(long, env = "TESSERA_SECRETS_KEY", hide_env_values = true)]
    secrets_key: Option<String>,
    #[arg(long)]
    client_id: String,
    /// The user's id (`auth0|…`), or their email in the database connection.
    #[arg(long)]
    user_id: String,
    /// The API identifier (the `audience`).
    #[arg(long)]
    audience: String,
    /// The granted scope stored on each family; must contain offline_access, as for the server.
    #[arg(long, default_value = "offline_access")]
    scope: String,
    /// Expect a non-rotating client: the families follow the client's rotation mode, as the
    /// server's do, and a mismatch with this flag is an error.
    #[arg(long)]
    non_rotating: bool,
    #[arg(long)]
    families: u64,
    /// Write the generation-0 refresh tokens of the first K families to --tokens-out.
    #[arg(long, default_value_t = 0)]
    tokens: usize,
    #[arg(long)]
    tokens_out: Option<std::path::PathBuf>,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: SeedArgs) -> anyhow::Result<Value> {
    let mut env = vec![("DATABASE_URL".to_owned(), args.database_url.clone())];
    if let Some(key) = &args.secrets_key {
        env.push(("TESSERA_SECRETS_KEY".to_owned(), key.clone()));
    }
    // The server's own rules for the key: at least 32 characters, used as given (not decoded);
    // with SQLite and no key, the generated file beside the database.
    let (config, _) =
        Config::load_from(None, env).context("invalid database URL or secrets key")?;
    let key: SecretString = tessera::resolve_secrets_key(&config)?;
    let secrets = std::sync::Arc::new(Secrets::new(&key));
    if args.tokens > 0 && args.tokens_out.is_none() {
        bail!("--tokens needs --tokens-out FILE");
    }
    let store = fixture::open(&args.database_url, 4).await?;
    // A wrong key would make tokens the server refuses: check it against the stored signing
    // keys when the server has made some (it cannot decrypt them otherwise).
    if !store.list_signing_keys().await?.is_empty() {
        KeyRing::new(secrets.clone()).reload(&store).await.context(
            "the secrets key does not decrypt the stored signing keys: it is not the server's",
        )?;
    }
    let client = store
        .get_client(&args.client_id)
        .await?
        .with_context(|| format!("no client {}", args.client_id))?;
    let user = match store.get_user(&args.user_id).await? {
        Some(user) => user,
        None => store
            .get_user_by_email(tessera::domain::DATABASE_CONNECTION, &args.user_id)
            .await?
            .with_context(|| format!("no user {}", args.user_id))?,
    };
    let api = store
        .get_resource_server_by_identifier(&args.audience)
        .await?
        .with_context(|| format!("no API with identifier {}", args.audience))?;
    // What start_family requires before it issues a family at all.
    if !args.scope.split(' ').any(|s| s == "offline_access") {
        bail!("--scope must contain offline_access (the server issues no family without it)");
    }
    if !api.allow_offline_access {
        bail!("the API {} does not allow offline access", api.identifier);
    }
    if !client.allows_grant(GrantType::RefreshToken) {
        bail!(
            "the client {} lacks the refresh_token grant",
            client.client_id
        );
    }
    let rotating = client.refresh_token.rotation_type == RotationType::Rotating;
    if rotating == args.non_rotating {
        bail!(
            "--non-rotating {} but the client's refresh_token.rotation_type is {}: families follow \
             the client, as the server's do; change one or the other",
            if args.non_rotating {
                "given"
            } else {
                "not given"
            },
            if rotating { "rotating" } else { "non-rotating" }
        );
    }
    let postgres = backend(&args.database_url) == "postgres";
    eprintln!(
        "seeding {} {} families for {} on {} ({}) …",
        args.families,
        if rotating { "rotating" } else { "non-rotating" },
        user.user_id,
        client.client_id,
        backend(&args.database_url)
    );
    let template = Template {
        client: &client,
        user: &user,
        audience: &api.identifier,
        scope: &args.scope,
    };
    let seeded = fixture::seed(&store, &template, args.families, args.tokens, postgres).await?;
    let per_s = seeded.inserted as f64 / seeded.seconds.max(1e-9);
    eprintln!(
        "seeded {} families in {:.2} s ({per_s:.0}/s)",
        seeded.inserted, seeded.seconds
    );
    if let Some(path) = &args.tokens_out {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        for id in &seeded.kept {
            writeln!(out, "{}", refresh::encode(&secrets, id, 0))?;
        }
        out.flush()?;
        eprintln!(
            "wrote {} refresh tokens to {}",
            seeded.kept.len(),
            path.display()
        );
    }
    Ok(json!({
        "families": seeded.inserted,
        "seconds": seeded.seconds,
        "per_s": per_s,
        "tokens": seeded.kept.len(),
        "rotating": rotating,
        "backend": backend(&args.database_url),
    }))
}

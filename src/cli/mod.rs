//! The command line: `tessera serve` (the default), `migrate`, and admin commands that print JSON.
//! Admin commands go through the same service as the Management API.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::domain::{AppType, AuthMethod, DATABASE_CONNECTION, SigningAlg};
use crate::manage::audit::Actor;
use crate::manage::client_grants::ClientGrantInput;
use crate::manage::clients::ClientInput;
use crate::manage::devices::DeviceCredentialQuery;
use crate::manage::resource_servers::ResourceServerInput;
use crate::manage::users::UserInput;
use crate::manage::{Admin, AdminError, ListQuery, MAX_PER_PAGE};
use crate::passwords::Passwords;
use crate::store::{AuditFilter, ClientGrantFilter, GrantFilter};
use crate::tokens::Secrets;

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "An OAuth 2.0 / OpenID Connect authorization server, wire-compatible with Auth0"
)]
pub struct Cli {
    /// A TOML settings file layered over the built-in defaults (environment variables win).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Applications (OAuth clients).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// APIs (resource servers).
    #[command(subcommand)]
    Apis(ApisCommand),
    /// Client grants: which client may get client_credentials tokens for which API.
    #[command(subcommand, name = "client-grants")]
    ClientGrants(ClientGrantsCommand),
    /// Users of the Username-Password-Authentication connection.
    #[command(subcommand)]
    Users(UsersCommand),
    /// SSO sessions of users.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// A user's devices (refresh-token families, Auth0's device credentials).
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Consent grants (user + client + audience).
    #[command(subcommand)]
    Grants(GrantsCommand),
    /// Refresh tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// The audit log.
    #[command(subcommand)]
    Logs(LogsCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// List a user's live devices.
    List {
        #[arg(long)]
        user_id: String,
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Revoke one device (its refresh-token family), by its `dcr_…` id.
    Revoke {
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// List a user's consent grants.
    List {
        #[arg(long)]
        user_id: String,
    },
    /// Withdraw consent (and revoke the grant's refresh tokens): one grant, or all of a user's.
    Revoke {
        #[arg(long, required_unless_present = "user_id", conflicts_with = "user_id")]
        id: Option<String>,
        #[arg(long)]
        user_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Revoke one refresh token (its family) by id, or every refresh token of a user.
    Revoke {
        #[arg(long, required_unless_present = "user_id", conflicts_with = "user_id")]
        id: Option<String>,
        #[arg(long)]
        user_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Print the newest audit events (oldest first), then, with --follow, new ones as they come.
    Tail {
        #[arg(long, default_value_t = 20)]
        lines: u32,
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(long)]
        user_id: Option<String>,
        #[arg(long)]
        client_id: Option<String>,
        /// Keep polling for new events (every 2 s) until interrupted.
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List a user's SSO sessions.
    List {
        #[arg(long)]
        user_id: String,
    },
    /// End every SSO session of a user (they must log in again; tokens already issued stay valid
    /// until they expire or are revoked).
    End {
        #[arg(long)]
        user_id: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AppTypeArg {
    Native,
    Spa,
    #[value(alias = "regular_web")]
    RegularWeb,
    #[value(alias = "non_interactive")]
    NonInteractive,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthMethodArg {
    None,
    #[value(alias = "client_secret_post")]
    ClientSecretPost,
    #[value(alias = "client_secret_basic")]
    ClientSecretBasic,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Create a client; prints it with its secret (shown this once).
    Create(ClientCreateArgs),
    /// List clients.
    List,
}

#[derive(Debug, Args)]
pub struct ClientCreateArgs {
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum)]
    pub app_type: Option<AppTypeArg>,
    /// An allowed callback URL (repeatable).
    #[arg(long = "callback")]
    pub callbacks: Vec<String>,
    /// An allowed logout URL (repeatable).
    #[arg(long = "logout-url")]
    pub allowed_logout_urls: Vec<String>,
    /// A grant type (repeatable); default: Auth0's for the app type.
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    #[arg(long, value_enum)]
    pub token_endpoint_auth_method: Option<AuthMethodArg>,
    /// Mark the client third-party (it will ask users for consent).
    #[arg(long)]
    pub third_party: bool,
    /// A legacy client (`oidc_conformant: false`).
    #[arg(long)]
    pub legacy: bool,
}

#[derive(Debug, Subcommand)]
pub enum ApisCommand {
    /// Create an API.
    Create(ApiCreateArgs),
    /// List APIs.
    List,
}

#[derive(Debug, Args)]
pub struct ApiCreateArgs {
    /// The audience, e.g. https://api.example.com/
    #[arg(long)]
    pub identifier: String,
    #[arg(long)]
    pub name: Option<String>,
    /// A scope the API defines (repeatable), e.g. --scope read:orders
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Access-token signing algorithm: RS256 (default), PS256 or ES256.
    #[arg(long)]
    pub signing_alg: Option<String>,
    /// Access-token lifetime in seconds (default 86400).
    #[arg(long)]
    pub token_lifetime: Option<u64>,
    #[arg(long)]
    pub allow_offline_access: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientGrantsCommand {
    /// Grant a client access to an API with some of its scopes.
    Create {
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        audience: String,
        /// A granted scope (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List client grants.
    List {
        #[arg(long)]
        client_id: Option<String>,
        #[arg(long)]
        audience: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        /// The password; prefer --password-stdin, which keeps it out of shell history.
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email_verified: bool,
    },
    /// List users.
    List,
    /// Block a user: no login and no refresh until unblocked.
    Block {
        #[arg(long)]
        user_id: String,
    },
    /// Unblock a user.
    Unblock {
        #[arg(long)]
        user_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Start a two-phase rotation: the new key is published now and signs after the activation
    /// delay (at once when no key of its algorithm signs yet); the old key stays published until
    /// its tokens have expired.
    Rotate {
        /// RS256, PS256 or ES256; default: all three.
        #[arg(long)]
        alg: Option<String>,
        /// Seconds before the new key signs (default: key_activation_delay).
        #[arg(long)]
        activate_in: Option<u64>,
    },
    /// List signing keys and their state.
    List,
}

/// Runs an admin command (anything but `serve`) and prints its JSON answer.
pub async fn run_admin(config: &Config, command: Command) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(SystemClock);
    let secrets_key = crate::resolve_secrets_key(config)?;
    let store = crate::open_store(config).await?;
    if matches!(command, Command::Migrate) {
        return print(&serde_json::json!({ "migrated": true }));
    }
    let issuer = config.issuer_for(config.bind).to_string();
    let admin = Admin::new(
        store.clone(),
        clock.clone(),
        Passwords::new(config.password_hash_concurrency),
        issuer,
    );
    // The built-in APIs' identifiers follow the server's issuer, which the CLI may not know (a
    // server bound to port 0, or one with TESSERA_ISSUER set only in its own environment): create
    // them on a fresh database, but never move them under a running server.
    let apis = list_all(|q| admin.list_resource_servers(q)).await?;
    if !apis.iter().any(|api| api.is_system) {
        admin.ensure_system_apis().await.map_err(admin_error)?;
    }
    match command {
        Command::Serve | Command::Migrate => Ok(()),
        Command::Clients(ClientsCommand::Create(args)) => print(
            &admin
                .create_client(client_input(args))
                .await
                .map_err(admin_error)?,
        ),
        Command::Clients(ClientsCommand::List) => {
            let all = list_all(|q| admin.list_clients(q)).await?;
            print(&all)
        }
        Command::Apis(ApisCommand::Create(args)) => print(
            &admin
                .create_resource_server(ResourceServerInput {
                    identifier: Some(args.identifier),
                    name: args.name,
                    allow_offline_access: Some(args.allow_offline_access),
                    token_lifetime: args.token_lifetime,
                    signing_alg: args.signing_alg,
                    scopes: Some(
                        args.scopes
                            .into_iter()
                            .map(|value| crate::domain::ApiScope {
                                value,
                                description: String::new(),
                            })
                            .collect(),
                    ),
                    skip_consent_for_verifiable_first_party_clients: None,
                })
                .await
                .map_err(admin_error)?,
        ),
        Command::Apis(ApisCommand::List) => {
            print(&list_all(|q| admin.list_resource_servers(q)).await?)
        }
        Command::ClientGrants(ClientGrantsCommand::Create {
            client_id,
            audience,
            scopes,
        }) => print(
            &admin
                .create_client_grant(ClientGrantInput {
                    client_id: Some(client_id),
                    audience: Some(audience),
                    scope: Some(scopes),
                })
                .await
                .map_err(admin_error)?,
        ),
        Command::ClientGrants(ClientGrantsCommand::List {
            client_id,
            audience,
        }) => {
            let filter = ClientGrantFilter {
                client_id,
                audience,
            };
            print(&list_all(|q| admin.list_client_grants(filter.clone(), q)).await?)
        }
        Command::Users(UsersCommand::Create {
            email,
            password,
            password_stdin,
            name,
            email_verified,
        }) => {
            let password = match (password, password_stdin) {
                (Some(p), _) => p,
                (None, true) => {
                    let mut p = String::new();
                    std::io::stdin()
                        .read_to_string(&mut p)
                        .context("cannot read the password from standard input")?;
                    p.trim_end_matches(['\r', '\n']).to_owned()
                }
                (None, false) => anyhow::bail!("give --password or --password-stdin"),
            };
            print(
                &admin
                    .create_user(UserInput {
                        connection: Some(DATABASE_CONNECTION.into()),
                        email: Some(email),
                        password: Some(password),
                        name,
                        email_verified: Some(email_verified),
                        ..Default::default()
                    })
                    .await
                    .map_err(admin_error)?,
            )
        }
        Command::Users(UsersCommand::List) => print(&list_all(|q| admin.list_users(q)).await?),
        Command::Keys(KeysCommand::Rotate { alg, activate_in }) => {
            let algs = match alg.as_deref() {
                None | Some("all") => SigningAlg::ALL.to_vec(),
                Some(a) => vec![SigningAlg::parse(a).with_context(|| {
                    format!("unknown algorithm {a:?}: use RS256, PS256 or ES256")
                })?],
            };
            let secrets = Arc::new(Secrets::new(&secrets_key));
            let max_lifetime = max_token_lifetime(&admin, config).await?;
            let now = clock.now();
            let mut rotated = Vec::new();
            for alg in algs {
                let record = crate::tokens::keys::rotate(
                    &store,
                    &secrets,
                    alg,
                    now,
                    activate_in.unwrap_or(config.key_activation_delay),
                    max_lifetime,
                )
                .await?;
                rotated.push(serde_json::json!({
                    "kid": record.kid,
                    "alg": record.alg,
                    "published_at": crate::clock::rfc3339(now),
                    "signs_from": crate::clock::rfc3339(record.activates_at),
                }));
            }
            print(
                &serde_json::json!({ "rotated": rotated, "previous_keys_published_for_seconds_after_activation": max_lifetime }),
            )
        }
        Command::Users(UsersCommand::Block { user_id }) => print(
            &admin
                .update_user(
                    &user_id,
                    UserInput {
                        blocked: Some(true),
                        ..Default::default()
                    },
                )
                .await
                .map_err(admin_error)?,
        ),
        Command::Users(UsersCommand::Unblock { user_id }) => print(
            &admin
                .update_user(
                    &user_id,
                    UserInput {
                        blocked: Some(false),
                        ..Default::default()
                    },
                )
                .await
                .map_err(admin_error)?,
        ),
        Command::Devices(DevicesCommand::List { user_id, client_id }) => {
            let query = DeviceCredentialQuery {
                user_id: Some(user_id),
                client_id,
                kind: None,
            };
            print(&list_all(|q| admin.list_device_credentials(query.clone(), q)).await?)
        }
        Command::Devices(DevicesCommand::Revoke { id }) => {
            admin
                .delete_device_credential(&id, &Actor::default())
                .await
                .map_err(admin_error)?;
            print(&serde_json::json!({ "revoked": id }))
        }
        Command::Grants(GrantsCommand::List { user_id }) => {
            let filter = GrantFilter {
                user_id: Some(user_id),
                ..Default::default()
            };
            print(&list_all(|q| admin.list_grants(filter.clone(), q)).await?)
        }
        Command::Grants(GrantsCommand::Revoke { id, user_id }) => match (id, user_id) {
            (Some(id), _) => {
                admin
                    .delete_grant(&id, &Actor::default())
                    .await
                    .map_err(admin_error)?;
                print(&serde_json::json!({ "revoked": id }))
            }
            (None, Some(user_id)) => {
                let n = admin
                    .delete_user_grants(&user_id, &Actor::default())
                    .await
                    .map_err(admin_error)?;
                print(&serde_json::json!({ "user_id": user_id, "grants_revoked": n }))
            }
            (None, None) => anyhow::bail!("give --id or --user-id"),
        },
        Command::Tokens(TokensCommand::Revoke { id, user_id }) => match (id, user_id) {
            (Some(id), _) => {
                admin
                    .delete_refresh_token(&id, &Actor::default())
                    .await
                    .map_err(admin_error)?;
                print(&serde_json::json!({ "revoked": id }))
            }
            (None, Some(user_id)) => {
                let n = admin
                    .delete_user_refresh_tokens(&user_id, &Actor::default())
                    .await
                    .map_err(admin_error)?;
                print(&serde_json::json!({ "user_id": user_id, "families_revoked": n }))
            }
            (None, None) => anyhow::bail!("give --id or --user-id"),
        },
        Command::Logs(LogsCommand::Tail {
            lines,
            kind,
            user_id,
            client_id,
            follow,
        }) => {
            let filter = AuditFilter {
                kind,
                user_id,
                client_id,
            };
            let query = ListQuery {
                page: Some(0),
                per_page: Some(lines.clamp(1, MAX_PER_PAGE)),
                include_totals: false,
            };
            let mut seen = std::collections::HashSet::new();
            loop {
                let mut events = admin
                    .list_logs(filter.clone(), query)
                    .await
                    .map_err(admin_error)?
                    .items;
                events.reverse();
                for event in events {
                    if seen.insert(event.log_id.clone()) {
                        println!("{}", serde_json::to_string(&event)?);
                    }
                }
                if !follow {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Ok(())
        }
        Command::Sessions(SessionsCommand::List { user_id }) => {
            let sessions: Vec<_> = store
                .list_user_sessions(&user_id)
                .await?
                .into_iter()
                .map(|s| {
                    serde_json::json!({
                        "user_id": s.user_id,
                        "authenticated_at": crate::clock::rfc3339(s.auth_time),
                        "created_at": crate::clock::rfc3339(s.created_at),
                        "last_seen_at": crate::clock::rfc3339(s.last_seen_at),
                        "expires_at": crate::clock::rfc3339(s.expires_at),
                        "ip": s.ip,
                        "user_agent": s.user_agent,
                    })
                })
                .collect();
            print(&sessions)
        }
        Command::Sessions(SessionsCommand::End { user_id }) => {
            let ended = store.delete_user_sessions(&user_id).await?;
            print(&serde_json::json!({ "user_id": user_id, "sessions_ended": ended }))
        }
        Command::Keys(KeysCommand::List) => {
            let now = clock.now();
            let keys: Vec<_> = store
                .list_signing_keys()
                .await?
                .into_iter()
                .map(|k| {
                    let state = if k.published_until.is_some_and(|u| u <= now) {
                        "retired"
                    } else if k.activates_at > now {
                        "next"
                    } else if k.published_until.is_some() {
                        "previous"
                    } else {
                        "current"
                    };
                    serde_json::json!({
                        "kid": k.kid,
                        "alg": k.alg,
                        "state": state,
                        "created_at": crate::clock::rfc3339(k.created_at),
                        "activates_at": crate::clock::rfc3339(k.activates_at),
                        "published_until": k.published_until.map(crate::clock::rfc3339),
                    })
                })
                .collect();
            print(&keys)
        }
    }
}

/// The longest a token signed now can live: ID tokens and every API's access tokens.
async fn max_token_lifetime(admin: &Admin, config: &Config) -> anyhow::Result<u64> {
    let apis = list_all(|q| admin.list_resource_servers(q)).await?;
    Ok(apis
        .iter()
        .map(|a| a.token_lifetime)
        .chain(std::iter::once(config.id_token_lifetime))
        .max()
        .unwrap_or(config.id_token_lifetime))
}

fn client_input(args: ClientCreateArgs) -> ClientInput {
    let non_empty = |v: Vec<String>| (!v.is_empty()).then_some(v);
    ClientInput {
        name: Some(args.name),
        app_type: args.app_type.map(|t| match t {
            AppTypeArg::Native => AppType::Native,
            AppTypeArg::Spa => AppType::Spa,
            AppTypeArg::RegularWeb => AppType::RegularWeb,
            AppTypeArg::NonInteractive => AppType::NonInteractive,
        }),
        callbacks: non_empty(args.callbacks),
        allowed_logout_urls: non_empty(args.allowed_logout_urls),
        grant_types: non_empty(args.grant_types),
        token_endpoint_auth_method: args.token_endpoint_auth_method.map(|m| match m {
            AuthMethodArg::None => AuthMethod::None,
            AuthMethodArg::ClientSecretPost => AuthMethod::ClientSecretPost,
            AuthMethodArg::ClientSecretBasic => AuthMethod::ClientSecretBasic,
        }),
        is_first_party: Some(!args.third_party),
        oidc_conformant: Some(!args.legacy),
        ..Default::default()
    }
}

/// Reads every page of a list.
async fn list_all<T, F, Fut>(mut fetch: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(ListQuery) -> Fut,
    Fut: std::future::Future<Output = Result<crate::manage::Listed<T>, AdminError>>,
{
    let mut out = Vec::new();
    for page in 0.. {
        let listed = fetch(ListQuery {
            page: Some(page),
            per_page: Some(MAX_PER_PAGE),
            include_totals: false,
        })
        .await
        .map_err(admin_error)?;
        let done = listed.items.len() < MAX_PER_PAGE as usize;
        out.extend(listed.items);
        if done {
            break;
        }
    }
    Ok(out)
}

fn admin_error(e: AdminError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn print<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

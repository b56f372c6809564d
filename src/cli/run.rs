//! Running the admin commands: each opens the store, goes through the admin service and prints
//! JSON.

use std::io::Read;
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;

use super::*;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::domain::{
    AppType, AuthMethod, DATABASE_CONNECTION, ExpirationType, RefreshTokenPatch, RotationType,
    SigningAlg,
};
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

/// Runs an admin command (anything but `serve`) and prints its JSON answer.
pub async fn run_admin(config: &Config, command: Command) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(SystemClock);
    let secrets_key = crate::resolve_secrets_key(config)?;
    let store = crate::open_store(config, config.db_max_connections.min(2)).await?;
    if matches!(command, Command::Migrate) {
        return print(&serde_json::json!({ "migrated": true }));
    }
    let issuer = config.issuer_for(config.bind).to_string();
    let admin = Admin::new(
        store.clone(),
        clock.clone(),
        Passwords::new(config.password_hash_concurrency)?,
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
        Command::Clients(ClientsCommand::Update(args)) => {
            let client_id = args.client_id.clone();
            print(
                &admin
                    .update_client(&client_id, client_update(*args))
                    .await
                    .map_err(admin_error)?,
            )
        }
        Command::Clients(ClientsCommand::Check) => {
            let reports = admin.check_client_policies().await.map_err(admin_error)?;
            print(&reports)?;
            if reports.is_empty() {
                Ok(())
            } else {
                anyhow::bail!(
                    "{} client(s) with a contradictory refresh-token policy: fix each with \
                     `tessera clients update --client-id <id> --expiration-type …` or PATCH \
                     /api/v2/clients/{{id}} (README \"Refresh-token policies\")",
                    reports.len()
                )
            }
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
        Command::Apis(ApisCommand::Update(args)) => {
            let scopes = (args.clear_scopes || !args.scopes.is_empty()).then(|| {
                args.scopes
                    .into_iter()
                    .map(|value| crate::domain::ApiScope {
                        value,
                        description: String::new(),
                    })
                    .collect()
            });
            print(
                &admin
                    .update_resource_server(
                        &args.id,
                        ResourceServerInput {
                            name: args.name,
                            allow_offline_access: args.allow_offline_access,
                            token_lifetime: args.token_lifetime,
                            signing_alg: args.signing_alg,
                            scopes,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(admin_error)?,
            )
        }
        Command::ClientGrants(ClientGrantsCommand::Update {
            id,
            scopes,
            clear_scopes: _,
        }) => print(
            &admin
                .update_client_grant(
                    &id,
                    ClientGrantInput {
                        scope: Some(scopes),
                        ..Default::default()
                    },
                )
                .await
                .map_err(admin_error)?,
        ),
        Command::ClientGrants(ClientGrantsCommand::Delete { id }) => {
            admin.delete_client_grant(&id).await.map_err(admin_error)?;
            print(&serde_json::json!({ "id": id, "deleted": true }))
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
                (None, true) => read_password()?,
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
        Command::Users(UsersCommand::Update {
            user_id,
            name,
            email,
            email_verified,
            blocked,
            password_stdin,
        }) => {
            let password = password_stdin.then(read_password).transpose()?;
            print(
                &admin
                    .update_user(
                        &user_id,
                        UserInput {
                            name,
                            email,
                            email_verified,
                            blocked,
                            password,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(admin_error)?,
            )
        }
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
            print(&crate::tokens::keys::list(&store, clock.now()).await?)
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

/// A password from standard input, without its final line break.
fn read_password() -> anyhow::Result<String> {
    let mut p = String::new();
    std::io::stdin()
        .read_to_string(&mut p)
        .context("cannot read the password from standard input")?;
    Ok(p.trim_end_matches(['\r', '\n']).to_owned())
}

fn app_type(t: AppTypeArg) -> AppType {
    match t {
        AppTypeArg::Native => AppType::Native,
        AppTypeArg::Spa => AppType::Spa,
        AppTypeArg::RegularWeb => AppType::RegularWeb,
        AppTypeArg::NonInteractive => AppType::NonInteractive,
    }
}

fn auth_method(m: AuthMethodArg) -> AuthMethod {
    match m {
        AuthMethodArg::None => AuthMethod::None,
        AuthMethodArg::ClientSecretPost => AuthMethod::ClientSecretPost,
        AuthMethodArg::ClientSecretBasic => AuthMethod::ClientSecretBasic,
    }
}

/// The refresh-token fields given, if any.
fn refresh_token_patch(args: RefreshTokenArgs) -> Option<RefreshTokenPatch> {
    let patch = RefreshTokenPatch {
        rotation_type: args.rotation_type.map(|r| match r {
            RotationTypeArg::Rotating => RotationType::Rotating,
            RotationTypeArg::NonRotating => RotationType::NonRotating,
        }),
        expiration_type: args.expiration_type.map(|e| match e {
            ExpirationTypeArg::Expiring => ExpirationType::Expiring,
            ExpirationTypeArg::NonExpiring => ExpirationType::NonExpiring,
        }),
        leeway: args.leeway,
        token_lifetime: args.token_lifetime,
        infinite_token_lifetime: args.infinite_token_lifetime,
        idle_token_lifetime: args.idle_token_lifetime,
        infinite_idle_token_lifetime: args.infinite_idle_token_lifetime,
    };
    (patch != RefreshTokenPatch::default()).then_some(patch)
}

/// `clients update`: a list flag replaces the list, its `--clear-…` empties it.
fn client_update(args: ClientUpdateArgs) -> ClientInput {
    let list = |values: Vec<String>, clear: bool| (clear || !values.is_empty()).then_some(values);
    ClientInput {
        name: args.name,
        description: args.description,
        app_type: args.app_type.map(app_type),
        callbacks: list(args.callbacks, args.clear_callbacks),
        allowed_logout_urls: list(args.allowed_logout_urls, args.clear_logout_urls),
        web_origins: list(args.web_origins, args.clear_web_origins),
        grant_types: list(args.grant_types, false),
        token_endpoint_auth_method: args.token_endpoint_auth_method.map(auth_method),
        oidc_conformant: args.oidc_conformant,
        is_first_party: args.first_party,
        refresh_token: refresh_token_patch(args.refresh_token),
        auth_policy_version: args.auth_policy_version,
    }
}

fn client_input(args: ClientCreateArgs) -> ClientInput {
    let non_empty = |v: Vec<String>| (!v.is_empty()).then_some(v);
    ClientInput {
        name: Some(args.name),
        app_type: args.app_type.map(app_type),
        callbacks: non_empty(args.callbacks),
        allowed_logout_urls: non_empty(args.allowed_logout_urls),
        grant_types: non_empty(args.grant_types),
        token_endpoint_auth_method: args.token_endpoint_auth_method.map(auth_method),
        is_first_party: Some(!args.third_party),
        oidc_conformant: Some(!args.legacy),
        refresh_token: refresh_token_patch(args.refresh_token),
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

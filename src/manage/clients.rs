//! Applications: Auth0's `/api/v2/clients` shapes, defaults and validation. The generated secret
//! is answered once, at creation or rotation; only its hash is kept.

use super::Missing;
use serde::{Deserialize, Serialize};

use super::{Admin, AdminError, AdminResult, ListQuery, Listed, check_url};
use crate::domain::{
    AppType, AuthMethod, Client, GrantType, GrantTypes, PolicyProblems, RefreshTokenPatch,
    RefreshTokenSettings, RotationType,
};
use crate::store::Page;
use crate::tokens::secrets::{hash_client_secret, random_alphanumeric, random_token};

/// The body of `POST /clients` and `PATCH /clients/{id}` (for PATCH every field is optional).
/// Auth0 fields Tessera does not implement are accepted and ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub app_type: Option<AppType>,
    pub callbacks: Option<Vec<String>>,
    pub allowed_logout_urls: Option<Vec<String>>,
    pub web_origins: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<AuthMethod>,
    pub oidc_conformant: Option<bool>,
    pub is_first_party: Option<bool>,
    pub refresh_token: Option<RefreshTokenPatch>,
    pub auth_policy_version: Option<i64>,
}

/// A client as the Management API and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientView {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub name: String,
    pub description: String,
    pub app_type: Option<AppType>,
    pub callbacks: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    pub web_origins: Vec<String>,
    pub grant_types: GrantTypes,
    pub token_endpoint_auth_method: AuthMethod,
    pub oidc_conformant: bool,
    pub is_first_party: bool,
    pub refresh_token: RefreshTokenSettings,
    pub auth_policy_version: i64,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        Self {
            client_id: c.client_id.clone(),
            client_secret: None,
            name: c.name.clone(),
            description: c.description.clone(),
            app_type: c.app_type,
            callbacks: c.callbacks.clone(),
            allowed_logout_urls: c.allowed_logout_urls.clone(),
            web_origins: c.web_origins.clone(),
            grant_types: c.grant_types.clone(),
            token_endpoint_auth_method: c.token_endpoint_auth_method,
            oidc_conformant: c.oidc_conformant,
            is_first_party: c.is_first_party,
            refresh_token: c.refresh_token.clone(),
            auth_policy_version: c.auth_policy_version,
        }
    }
}

/// A stored client whose refresh-token policy breaks the rules (stored before they were
/// enforced): what `tessera clients check` prints and the server warns about at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyReport {
    pub client_id: String,
    pub name: String,
    pub problems: Vec<String>,
    pub refresh_token: RefreshTokenSettings,
}

/// A refresh-token policy the rules refuse: 400 naming every field involved.
fn refused(problems: PolicyProblems) -> AdminError {
    AdminError::invalid(problems.to_string())
}

/// A new client secret: 256 bits from the OS CSPRNG.
pub fn generate_secret() -> String {
    random_token(48)
}

fn check_name(name: &str) -> AdminResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(AdminError::invalid(
            "name must be between 1 and 255 characters",
        ));
    }
    if name.contains(['<', '>']) {
        return Err(AdminError::invalid("name must not contain < or >"));
    }
    Ok(name.to_owned())
}

/// `grant_types` as sent: Auth0's names, each known.
fn grant_types(names: &[String]) -> AdminResult<GrantTypes> {
    names
        .iter()
        .map(|name| {
            GrantType::parse(name).ok_or_else(|| {
                let known: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
                AdminError::invalid(format!(
                    "grant_types: unknown grant type {name:?} (known: {})",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

/// Checks the fields that depend on one another, after defaults and patches are applied.
fn check_client(c: &Client) -> AdminResult<()> {
    for url in &c.callbacks {
        check_url("callbacks", url)?;
    }
    for url in &c.allowed_logout_urls {
        check_url("allowed_logout_urls", url)?;
    }
    for origin in &c.web_origins {
        check_url("web_origins", origin)?;
    }
    if c.auth_policy_version < 0 {
        return Err(AdminError::invalid(
            "auth_policy_version must not be negative",
        ));
    }
    Ok(())
}

impl Admin {
    /// Creates a client with Auth0's defaults for its `app_type`; answers the secret once.
    pub async fn create_client(&self, input: ClientInput) -> AdminResult<ClientView> {
        let name = check_name(
            input
                .name
                .as_deref()
                .ok_or_else(|| AdminError::invalid("Missing required property: name"))?,
        )?;
        let oidc_conformant = input.oidc_conformant.unwrap_or(true);
        let mut refresh_token = RefreshTokenSettings::default_for(oidc_conformant);
        if let Some(patch) = &input.refresh_token {
            refresh_token = refresh_token.patched(patch).map_err(refused)?;
        }
        let secret = generate_secret();
        let now = self.clock.now();
        let client = Client {
            client_id: random_alphanumeric(32),
            name,
            description: input.description.unwrap_or_default(),
            app_type: input.app_type,
            callbacks: input.callbacks.unwrap_or_default(),
            allowed_logout_urls: input.allowed_logout_urls.unwrap_or_default(),
            web_origins: input.web_origins.unwrap_or_default(),
            grant_types: match input.grant_types {
                Some(names) => grant_types(&names)?,
                None => AppType::default_grant_types(input.app_type),
            },
            token_endpoint_auth_method: input
                .token_endpoint_auth_method
                .unwrap_or_else(|| AppType::default_auth_method(input.app_type)),
            oidc_conformant,
            is_first_party: input.is_first_party.unwrap_or(true),
            refresh_token,
            auth_policy_version: input.auth_policy_version.unwrap_or(0),
            secret_hash: hash_client_secret(&secret),
            created_at: now,
            updated_at: now,
        };
        check_client(&client)?;
        self.store.insert_client(&client).await?;
        self.record(
            "Create a client",
            serde_json::json!({ "client_id": client.client_id }),
        )
        .await;
        let mut view = ClientView::from(&client);
        view.client_secret = Some(secret);
        Ok(view)
    }

    /// Every client whose stored refresh-token policy breaks the rules.
    pub async fn check_client_policies(&self) -> AdminResult<Vec<PolicyReport>> {
        let clients = self.store.list_clients(Page::ALL).await?;
        Ok(clients
            .into_iter()
            .filter_map(|c| {
                let problems = c.refresh_token.problems();
                (!problems.is_empty()).then(|| PolicyReport {
                    client_id: c.client_id,
                    name: c.name,
                    problems: problems.iter().map(ToString::to_string).collect(),
                    refresh_token: c.refresh_token,
                })
            })
            .collect())
    }

    pub async fn get_client(&self, client_id: &str) -> AdminResult<ClientView> {
        Ok(ClientView::from(&self.load_client(client_id).await?))
    }

    pub(crate) async fn load_client(&self, client_id: &str) -> AdminResult<Client> {
        self.store
            .get_client(client_id)
            .await?
            .ok_or_else(|| AdminError::not_found(Missing::Client, "The client does not exist"))
    }

    pub async fn list_clients(&self, query: ListQuery) -> AdminResult<Listed<ClientView>> {
        let listed = Self::list(
            query,
            |page| self.store.list_clients(page),
            self.store.count_clients(),
        )
        .await?;
        Ok(Listed {
            items: listed.items.iter().map(ClientView::from).collect(),
            start: listed.start,
            limit: listed.limit,
            total: listed.total,
        })
    }

    /// Changes only the fields the patch names.
    pub async fn update_client(
        &self,
        client_id: &str,
        patch: ClientInput,
    ) -> AdminResult<ClientView> {
        let mut client = self.load_client(client_id).await?;
        if let Some(name) = patch.name {
            client.name = check_name(&name)?;
        }
        if let Some(v) = patch.description {
            client.description = v;
        }
        if let Some(v) = patch.app_type {
            client.app_type = Some(v);
        }
        if let Some(v) = patch.callbacks {
            client.callbacks = v;
        }
        if let Some(v) = patch.allowed_logout_urls {
            client.allowed_logout_urls = v;
        }
        if let Some(v) = patch.web_origins {
            client.web_origins = v;
        }
        if let Some(v) = patch.grant_types {
            client.grant_types = grant_types(&v)?;
        }
        if let Some(v) = patch.token_endpoint_auth_method {
            client.token_endpoint_auth_method = v;
        }
        if let Some(v) = patch.oidc_conformant {
            client.oidc_conformant = v;
        }
        if let Some(v) = patch.is_first_party {
            client.is_first_party = v;
        }
        let policy_raised = patch
            .auth_policy_version
            .is_some_and(|v| v > client.auth_policy_version);
        if let Some(v) = patch.auth_policy_version {
            if v < client.auth_policy_version {
                return Err(AdminError::invalid(
                    "auth_policy_version can only be raised",
                ));
            }
            client.auth_policy_version = v;
        }
        let was_rotating = client.refresh_token.rotation_type == RotationType::Rotating;
        if let Some(p) = &patch.refresh_token {
            client.refresh_token = client.refresh_token.patched(p).map_err(refused)?;
        }
        check_client(&client)?;
        client.updated_at = self.clock.now();
        if !self.store.update_client(&client).await? {
            return Err(AdminError::not_found(
                Missing::Client,
                "The client does not exist",
            ));
        }
        if policy_raised {
            self.store
                .revoke_policy_families(
                    &client.client_id,
                    client.auth_policy_version,
                    client.updated_at,
                )
                .await?;
        }
        let rotating = client.refresh_token.rotation_type == RotationType::Rotating;
        if rotating != was_rotating {
            // Switching rotation_type revokes the families of the other mode, as Auth0 does.
            self.store
                .revoke_client_families(
                    &client.client_id,
                    Some(was_rotating),
                    client.updated_at,
                    "rotation_type_changed",
                )
                .await?;
        }
        self.record(
            "Update a client",
            serde_json::json!({ "client_id": client.client_id }),
        )
        .await;
        Ok(ClientView::from(&client))
    }

    pub async fn delete_client(&self, client_id: &str) -> AdminResult<()> {
        if self.store.delete_client(client_id).await? {
            self.record(
                "Delete a client",
                serde_json::json!({ "client_id": client_id }),
            )
            .await;
            Ok(())
        } else {
            Err(AdminError::not_found(
                Missing::Client,
                "The client does not exist",
            ))
        }
    }

    /// Replaces the secret; the old one stops working at once. Answers the new secret once.
    pub async fn rotate_client_secret(&self, client_id: &str) -> AdminResult<ClientView> {
        let mut client = self.load_client(client_id).await?;
        let secret = generate_secret();
        client.secret_hash = hash_client_secret(&secret);
        client.updated_at = self.clock.now();
        if !self.store.update_client(&client).await? {
            return Err(AdminError::not_found(
                Missing::Client,
                "The client does not exist",
            ));
        }
        self.record(
            "Rotate a client secret",
            serde_json::json!({ "client_id": client.client_id }),
        )
        .await;
        let mut view = ClientView::from(&client);
        view.client_secret = Some(secret);
        Ok(view)
    }
}

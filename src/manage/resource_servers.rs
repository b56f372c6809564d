//! APIs: Auth0's `/api/v2/resource-servers` shapes, defaults and validation. The built-in APIs
//! (Management API, userinfo) are listed but cannot be changed or deleted.

use super::Missing;
use serde::{Deserialize, Serialize};

use super::{Admin, AdminError, AdminResult, ListQuery, Listed};
use crate::domain::{ApiScope, ResourceServer, SigningAlg};
use crate::store::StoreError;
use crate::tokens::secrets::random_hex;

/// Auth0's default access-token lifetime and its largest allowed value (30 days).
pub const DEFAULT_TOKEN_LIFETIME: u64 = 86_400;
pub const MAX_TOKEN_LIFETIME: u64 = 2_592_000;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResourceServerInput {
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub allow_offline_access: Option<bool>,
    pub token_lifetime: Option<u64>,
    pub signing_alg: Option<String>,
    pub scopes: Option<Vec<ApiScope>>,
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceServerView {
    pub id: String,
    pub name: String,
    pub identifier: String,
    pub allow_offline_access: bool,
    pub skip_consent_for_verifiable_first_party_clients: bool,
    pub token_lifetime: u64,
    pub signing_alg: SigningAlg,
    pub scopes: Vec<ApiScope>,
    pub is_system: bool,
}

impl From<&ResourceServer> for ResourceServerView {
    fn from(r: &ResourceServer) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            identifier: r.identifier.clone(),
            allow_offline_access: r.allow_offline_access,
            skip_consent_for_verifiable_first_party_clients: r
                .skip_consent_for_verifiable_first_party_clients,
            token_lifetime: r.token_lifetime,
            signing_alg: r.signing_alg,
            scopes: r.scopes.clone(),
            is_system: r.system.is_some(),
        }
    }
}

fn parse_alg(alg: &str) -> AdminResult<SigningAlg> {
    SigningAlg::parse(alg).ok_or_else(|| {
        AdminError::invalid(format!(
            "signing_alg must be one of RS256, PS256, ES256 (got {alg:?})"
        ))
    })
}

fn check_lifetime(lifetime: u64) -> AdminResult<u64> {
    if lifetime == 0 || lifetime > MAX_TOKEN_LIFETIME {
        return Err(AdminError::invalid(format!(
            "token_lifetime must be between 1 and {MAX_TOKEN_LIFETIME} seconds"
        )));
    }
    Ok(lifetime)
}

fn check_scopes(scopes: Vec<ApiScope>) -> AdminResult<Vec<ApiScope>> {
    let mut seen = std::collections::BTreeSet::new();
    for s in &scopes {
        if s.value.is_empty() || s.value.contains(char::is_whitespace) {
            return Err(AdminError::invalid(format!(
                "scopes: {:?} is not a valid scope value (no spaces, not empty)",
                s.value
            )));
        }
        if !seen.insert(s.value.as_str()) {
            return Err(AdminError::invalid(format!(
                "scopes: {:?} is listed twice",
                s.value
            )));
        }
    }
    Ok(scopes)
}

impl Admin {
    pub async fn create_resource_server(
        &self,
        input: ResourceServerInput,
    ) -> AdminResult<ResourceServerView> {
        let identifier = input
            .identifier
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AdminError::invalid("Missing required property: identifier"))?;
        if identifier.chars().count() > 600 {
            return Err(AdminError::invalid("identifier is too long"));
        }
        let now = self.clock.now();
        let api = ResourceServer {
            id: random_hex(24),
            name: input
                .name
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| identifier.clone()),
            identifier,
            allow_offline_access: input.allow_offline_access.unwrap_or(false),
            token_lifetime: check_lifetime(input.token_lifetime.unwrap_or(DEFAULT_TOKEN_LIFETIME))?,
            signing_alg: input
                .signing_alg
                .as_deref()
                .map(parse_alg)
                .transpose()?
                .unwrap_or(SigningAlg::RS256),
            scopes: check_scopes(input.scopes.unwrap_or_default())?,
            skip_consent_for_verifiable_first_party_clients: input
                .skip_consent_for_verifiable_first_party_clients
                .unwrap_or(true),
            system: None,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_resource_server(&api).await {
            Err(StoreError::Conflict) => Err(AdminError::Conflict {
                error_code: "conflict",
                message: "A resource server with the same identifier already exists".into(),
            }),
            other => other.map_err(AdminError::from),
        }?;
        self.record(
            "Create a resource server",
            serde_json::json!({ "identifier": api.identifier }),
        )
        .await;
        Ok(ResourceServerView::from(&api))
    }

    /// Finds an API by its id or, as Auth0 also allows, its identifier.
    pub(crate) async fn load_resource_server(&self, id: &str) -> AdminResult<ResourceServer> {
        if let Some(api) = self.store.get_resource_server(id).await? {
            return Ok(api);
        }
        self.store
            .get_resource_server_by_identifier(id)
            .await?
            .ok_or_else(|| {
                AdminError::not_found(
                    Missing::ResourceServer,
                    "The resource server does not exist",
                )
            })
    }

    pub async fn get_resource_server(&self, id: &str) -> AdminResult<ResourceServerView> {
        Ok(ResourceServerView::from(
            &self.load_resource_server(id).await?,
        ))
    }

    pub async fn list_resource_servers(
        &self,
        query: ListQuery,
    ) -> AdminResult<Listed<ResourceServerView>> {
        let listed = Self::list(
            query,
            |page| self.store.list_resource_servers(page),
            self.store.count_resource_servers(),
        )
        .await?;
        Ok(Listed {
            items: listed.items.iter().map(ResourceServerView::from).collect(),
            start: listed.start,
            limit: listed.limit,
            total: listed.total,
        })
    }

    pub async fn update_resource_server(
        &self,
        id: &str,
        patch: ResourceServerInput,
    ) -> AdminResult<ResourceServerView> {
        let mut api = self.load_resource_server(id).await?;
        if api.system.is_some() {
            return Err(AdminError::NotSupported(
                "A system resource server cannot be changed".into(),
            ));
        }
        if let Some(identifier) = patch.identifier
            && identifier != api.identifier
        {
            return Err(AdminError::invalid(
                "identifier cannot be changed; create a new resource server instead",
            ));
        }
        if let Some(name) = patch
            .name
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
        {
            api.name = name;
        }
        if let Some(v) = patch.allow_offline_access {
            api.allow_offline_access = v;
        }
        if let Some(v) = patch.token_lifetime {
            api.token_lifetime = check_lifetime(v)?;
        }
        if let Some(v) = patch.signing_alg {
            api.signing_alg = parse_alg(&v)?;
        }
        if let Some(v) = patch.scopes {
            api.scopes = check_scopes(v)?;
        }
        if let Some(v) = patch.skip_consent_for_verifiable_first_party_clients {
            api.skip_consent_for_verifiable_first_party_clients = v;
        }
        api.updated_at = self.clock.now();
        if !self.store.update_resource_server(&api).await? {
            return Err(AdminError::not_found(
                Missing::ResourceServer,
                "The resource server does not exist",
            ));
        }
        self.record(
            "Update a resource server",
            serde_json::json!({ "identifier": api.identifier }),
        )
        .await;
        Ok(ResourceServerView::from(&api))
    }

    /// Deletes the API and its client grants.
    pub async fn delete_resource_server(&self, id: &str) -> AdminResult<()> {
        let api = self.load_resource_server(id).await?;
        if api.system.is_some() {
            return Err(AdminError::NotSupported(
                "A system resource server cannot be deleted".into(),
            ));
        }
        if self.store.delete_resource_server(&api.id).await? {
            self.record(
                "Delete a resource server",
                serde_json::json!({ "identifier": api.identifier }),
            )
            .await;
            Ok(())
        } else {
            Err(AdminError::not_found(
                Missing::ResourceServer,
                "The resource server does not exist",
            ))
        }
    }
}

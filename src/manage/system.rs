//! What every start makes sure of: the built-in APIs (the Management API at `{issuer}api/v2/` and
//! the default `{issuer}userinfo` audience) and the bootstrap client from the environment.

use super::{Admin, AdminResult};
use crate::config::Bootstrap;
use crate::domain::{
    ApiScope, AuthMethod, Client, ClientGrant, RefreshTokenSettings, ResourceServer, SigningAlg,
    SystemApi,
};
use crate::tokens::secrets::{hash_client_secret, random_alphanumeric, random_hex};

/// Auth0's Management API scope names for what Tessera serves.
pub const MANAGEMENT_SCOPES: &[&str] = &[
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "update:client_keys",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:grants",
    "delete:grants",
    "read:device_credentials",
    "delete:device_credentials",
    "read:refresh_tokens",
    "delete:refresh_tokens",
    "read:logs",
    "read:sessions",
    "delete:sessions",
];

impl Admin {
    /// The Management API's audience.
    pub fn management_audience(&self) -> String {
        format!("{}api/v2/", self.issuer)
    }

    /// The default audience, for OIDC's UserInfo endpoint.
    pub fn userinfo_audience(&self) -> String {
        format!("{}userinfo", self.issuer)
    }

    /// Creates or refreshes the built-in APIs so their identifiers follow the issuer.
    pub async fn ensure_system_apis(&self) -> AdminResult<()> {
        let now = self.clock.now();
        let management = ResourceServer {
            id: random_hex(24),
            identifier: self.management_audience(),
            name: "Tessera Management API".into(),
            allow_offline_access: false,
            token_lifetime: 86_400,
            signing_alg: SigningAlg::RS256,
            scopes: MANAGEMENT_SCOPES
                .iter()
                .map(|s| ApiScope {
                    value: (*s).to_owned(),
                    description: String::new(),
                })
                .collect(),
            skip_consent_for_verifiable_first_party_clients: false,
            system: Some(SystemApi::Management.as_str().into()),
            created_at: now,
            updated_at: now,
        };
        self.store
            .upsert_system_resource_server(&management)
            .await?;
        let userinfo = ResourceServer {
            id: random_hex(24),
            identifier: self.userinfo_audience(),
            name: "Tessera userinfo".into(),
            allow_offline_access: true,
            token_lifetime: 86_400,
            signing_alg: SigningAlg::RS256,
            scopes: Vec::new(),
            skip_consent_for_verifiable_first_party_clients: true,
            system: Some(SystemApi::UserInfo.as_str().into()),
            created_at: now,
            updated_at: now,
        };
        self.store.upsert_system_resource_server(&userinfo).await?;
        Ok(())
    }

    /// Upserts the bootstrap machine-to-machine client and its grant of every Management API
    /// scope (the credentials come from the environment at every start).
    pub async fn ensure_bootstrap_client(&self, bootstrap: &Bootstrap) -> AdminResult<()> {
        let now = self.clock.now();
        let existing = self.store.get_client(&bootstrap.client_id).await?;
        let client = Client {
            client_id: bootstrap.client_id.clone(),
            name: "Tessera bootstrap admin".into(),
            description: "Upserted at start from TESSERA_BOOTSTRAP_CLIENT_ID".into(),
            app_type: Some(crate::domain::AppType::NonInteractive),
            callbacks: Vec::new(),
            allowed_logout_urls: Vec::new(),
            web_origins: Vec::new(),
            grant_types: [crate::domain::GrantType::ClientCredentials]
                .into_iter()
                .collect(),
            token_endpoint_auth_method: AuthMethod::ClientSecretPost,
            oidc_conformant: true,
            is_first_party: true,
            refresh_token: RefreshTokenSettings::rotating_default(),
            auth_policy_version: existing.as_ref().map_or(0, |c| c.auth_policy_version),
            secret_hash: hash_client_secret(bootstrap.client_secret.expose()),
            created_at: existing.as_ref().map_or(now, |c| c.created_at),
            updated_at: now,
        };
        self.store.upsert_client(&client).await?;
        self.store
            .upsert_client_grant(&ClientGrant {
                id: format!("cgr_{}", random_alphanumeric(16)),
                client_id: client.client_id.clone(),
                audience: self.management_audience(),
                scope: MANAGEMENT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                created_at: now,
                updated_at: now,
            })
            .await?;
        Ok(())
    }
}

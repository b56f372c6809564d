//! Applications (OAuth clients) with Auth0's settings, including the refresh-token policy.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Grant type names as registered in a client's `grant_types` (Auth0 spellings).
pub mod grant_type {
    pub const AUTHORIZATION_CODE: &str = "authorization_code";
    pub const IMPLICIT: &str = "implicit";
    pub const REFRESH_TOKEN: &str = "refresh_token";
    pub const CLIENT_CREDENTIALS: &str = "client_credentials";
    pub const PASSWORD: &str = "password";
    pub const PASSWORD_REALM: &str = "http://auth0.com/oauth/grant-type/password-realm";

    pub const ALL: &[&str] = &[
        AUTHORIZATION_CODE,
        IMPLICIT,
        REFRESH_TOKEN,
        CLIENT_CREDENTIALS,
        PASSWORD,
        PASSWORD_REALM,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    Native,
    Spa,
    RegularWeb,
    NonInteractive,
}

impl AppType {
    /// Auth0's `grant_types` for a new client of this type.
    pub fn default_grant_types(app_type: Option<AppType>) -> Vec<String> {
        use grant_type::*;
        let list: &[&str] = match app_type {
            Some(AppType::NonInteractive) => &[CLIENT_CREDENTIALS],
            Some(AppType::Spa | AppType::Native) => &[AUTHORIZATION_CODE, IMPLICIT, REFRESH_TOKEN],
            Some(AppType::RegularWeb) | None => &[
                AUTHORIZATION_CODE,
                IMPLICIT,
                REFRESH_TOKEN,
                CLIENT_CREDENTIALS,
            ],
        };
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Auth0's default `token_endpoint_auth_method`: public for browser and native apps.
    pub fn default_auth_method(app_type: Option<AppType>) -> AuthMethod {
        match app_type {
            Some(AppType::Spa | AppType::Native) => AuthMethod::None,
            _ => AuthMethod::ClientSecretPost,
        }
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    None,
    ClientSecretPost,
    ClientSecretBasic,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretBasic => "client_secret_basic",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationType {
    Rotating,
    NonRotating,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpirationType {
    Expiring,
    NonExpiring,
}

/// Auth0's `refresh_token` object on a client; lifetimes in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenSettings {
    pub rotation_type: RotationType,
    pub expiration_type: ExpirationType,
    pub leeway: u64,
    pub token_lifetime: u64,
    pub infinite_token_lifetime: bool,
    pub idle_token_lifetime: u64,
    pub infinite_idle_token_lifetime: bool,
}

impl RefreshTokenSettings {
    /// New clients: rotating, 30 days absolute, 15 days idle, no leeway (DESIGN.md).
    pub fn rotating_default() -> Self {
        Self {
            rotation_type: RotationType::Rotating,
            expiration_type: ExpirationType::Expiring,
            leeway: 0,
            token_lifetime: 30 * 86_400,
            infinite_token_lifetime: false,
            idle_token_lifetime: 15 * 86_400,
            infinite_idle_token_lifetime: false,
        }
    }

    /// Legacy clients (`oidc_conformant: false`): non-rotating and valid until revoked (seed 001).
    pub fn legacy_default() -> Self {
        Self {
            rotation_type: RotationType::NonRotating,
            expiration_type: ExpirationType::NonExpiring,
            leeway: 0,
            token_lifetime: 30 * 86_400,
            infinite_token_lifetime: true,
            idle_token_lifetime: 15 * 86_400,
            infinite_idle_token_lifetime: true,
        }
    }

    pub fn default_for(oidc_conformant: bool) -> Self {
        if oidc_conformant {
            Self::rotating_default()
        } else {
            Self::legacy_default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub app_type: Option<AppType>,
    pub callbacks: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    pub web_origins: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: AuthMethod,
    pub oidc_conformant: bool,
    pub is_first_party: bool,
    pub refresh_token: RefreshTokenSettings,
    /// Raising it invalidates refresh-token families created under a lower version (seed 003).
    pub auth_policy_version: i64,
    /// SHA-256 of the client secret; the secret itself is never stored.
    pub secret_hash: Vec<u8>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Client {
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
}

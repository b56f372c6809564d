//! Applications (OAuth clients) with Auth0's settings, including the refresh-token policy.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// A grant type a client can be allowed (Auth0's spellings are its only string form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    AuthorizationCode,
    Implicit,
    RefreshToken,
    ClientCredentials,
    Password,
    /// Auth0's password grant naming a connection (`realm`).
    PasswordRealm,
}

impl GrantType {
    /// In the order discovery lists them.
    pub const ALL: [GrantType; 6] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::Implicit,
        Self::ClientCredentials,
        Self::Password,
        Self::PasswordRealm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::Implicit => "implicit",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::Password => "password",
            Self::PasswordRealm => "http://auth0.com/oauth/grant-type/password-realm",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

impl Serialize for GrantType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for GrantType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|g| g.as_str()).collect();
            serde::de::Error::custom(format!(
                "unknown grant type {s:?} (known: {})",
                known.join(", ")
            ))
        })
    }
}

/// A client's `grant_types`: a set, in the order it was registered (each type once).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "Vec<GrantType>", into = "Vec<GrantType>")]
pub struct GrantTypes(Vec<GrantType>);

impl GrantTypes {
    pub fn contains(&self, grant: GrantType) -> bool {
        self.0.contains(&grant)
    }

    pub fn iter(&self) -> impl Iterator<Item = GrantType> + '_ {
        self.0.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<GrantType> for GrantTypes {
    fn from_iter<I: IntoIterator<Item = GrantType>>(iter: I) -> Self {
        let mut set = Vec::new();
        for grant in iter {
            if !set.contains(&grant) {
                set.push(grant);
            }
        }
        Self(set)
    }
}

impl From<Vec<GrantType>> for GrantTypes {
    fn from(list: Vec<GrantType>) -> Self {
        list.into_iter().collect()
    }
}

impl From<GrantTypes> for Vec<GrantType> {
    fn from(set: GrantTypes) -> Self {
        set.0
    }
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
    pub fn default_grant_types(app_type: Option<AppType>) -> GrantTypes {
        use GrantType::*;
        let list: &[GrantType] = match app_type {
            Some(AppType::NonInteractive) => &[ClientCredentials],
            Some(AppType::Spa | AppType::Native) => &[AuthorizationCode, Implicit, RefreshToken],
            Some(AppType::RegularWeb) | None => {
                &[AuthorizationCode, Implicit, RefreshToken, ClientCredentials]
            }
        };
        list.iter().copied().collect()
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
    pub grant_types: GrantTypes,
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
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(grant)
    }
}

//! APIs (Auth0's resource servers): the audiences access tokens are minted for.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Access-token signing algorithms an API may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SigningAlg {
    RS256,
    PS256,
    ES256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::PS256, SigningAlg::ES256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiScope {
    pub value: String,
    #[serde(default)]
    pub description: String,
}

/// APIs Tessera defines itself; their identifiers follow the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemApi {
    /// `{issuer}api/v2/`: the Management API.
    Management,
    /// `{issuer}userinfo`: the default audience, for OIDC's UserInfo endpoint.
    UserInfo,
}

impl SystemApi {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Management => "management",
            Self::UserInfo => "userinfo",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceServer {
    pub id: String,
    pub identifier: String,
    pub name: String,
    pub allow_offline_access: bool,
    pub token_lifetime: u64,
    pub signing_alg: SigningAlg,
    pub scopes: Vec<ApiScope>,
    pub skip_consent_for_verifiable_first_party_clients: bool,
    /// `Some` for the built-in APIs, which cannot be changed or deleted through the API.
    pub system: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ResourceServer {
    pub fn has_scope(&self, value: &str) -> bool {
        self.scopes.iter().any(|s| s.value == value)
    }
}

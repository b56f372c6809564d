//! What interactive login leaves behind: SSO sessions, single-use authorization codes and consent
//! grants (user + client + audience + scopes).

use crate::clock::Timestamp;

/// An SSO session; the cookie holds a random value, the store its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: Vec<u8>,
    pub user_id: String,
    /// When the user last entered their password (OIDC `auth_time`).
    pub auth_time: Timestamp,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The absolute end; the idle end is `last_seen_at + idle lifetime`.
    pub expires_at: Timestamp,
    pub ip: String,
    pub user_agent: String,
}

/// An authorization code (RFC 6749 §4.1.2), stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: Vec<u8>,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    /// The authorization request named `redirect_uri`, so the token request must repeat it.
    pub redirect_uri_given: bool,
    /// Space-separated granted scope.
    pub scope: String,
    pub audience: String,
    pub nonce: Option<String>,
    /// The S256 PKCE challenge (RFC 7636), if one was sent.
    pub code_challenge: Option<String>,
    pub auth_time: Timestamp,
    pub device: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// A user's consent to a client for an audience (Auth0's `/api/v2/grants` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

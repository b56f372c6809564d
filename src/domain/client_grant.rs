//! Client grants: which client may get `client_credentials` tokens for which API, with which scopes.

use crate::clock::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientGrant {
    pub id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

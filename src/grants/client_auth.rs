//! Client authentication at the token endpoint (RFC 6749 §2.3): exactly the method the client
//! registered (`client_secret_basic`, `client_secret_post` or `none`), secrets compared in
//! constant time against their stored hash. The one place a client is authenticated, against the
//! clients the store holds in memory ([`Store::client`]).

use super::error::OAuthError;
use super::params::Params;
use std::sync::Arc;

use crate::domain::{AuthMethod, Client, GrantType};
use crate::store::Store;
use crate::tokens::secrets::verify_client_secret;

/// What the client presented, before it is checked against the registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// HTTP Basic (`Authorization: Basic …`), already decoded.
    Basic { client_id: String, secret: String },
    /// `client_id` and `client_secret` in the body.
    Post { client_id: String, secret: String },
    /// `client_id` alone: a public client.
    IdOnly { client_id: String },
}

impl Presented {
    pub fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::IdOnly { client_id } => client_id,
        }
    }

    /// Takes the credentials from the Basic header (if any) and the body parameters.
    pub fn from_request(
        basic: Option<(String, String)>,
        params: &mut Params,
    ) -> Result<Self, OAuthError> {
        let body_id = params.take("client_id");
        let body_secret = params.take("client_secret");
        match (basic, body_id, body_secret) {
            (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
                "Use one client authentication method, not both Basic and client_secret.",
            )),
            (Some((id, _)), Some(body_id), None) if body_id != id => {
                Err(OAuthError::invalid_request(
                    "client_id in the body does not match the Authorization header.",
                ))
            }
            (Some((client_id, secret)), _, None) => Ok(Self::Basic { client_id, secret }),
            (None, Some(client_id), Some(secret)) => Ok(Self::Post { client_id, secret }),
            (None, Some(client_id), None) => Ok(Self::IdOnly { client_id }),
            (None, None, _) => Err(OAuthError::invalid_request(
                "Missing required parameter: client_id",
            )),
        }
    }
}

const FAILED: &str = "Client authentication failed.";

/// Loads the client and checks the credentials against its registered method.
pub async fn authenticate(
    store: &dyn Store,
    presented: &Presented,
) -> Result<Arc<Client>, OAuthError> {
    let client = store
        .client(presented.client_id())
        .await?
        .ok_or_else(|| OAuthError::invalid_client(FAILED))?;
    let method = client.token_endpoint_auth_method;
    let secret = match (method, presented) {
        (AuthMethod::None, Presented::IdOnly { .. }) => return Ok(client),
        (AuthMethod::ClientSecretBasic, Presented::Basic { secret, .. })
        | (AuthMethod::ClientSecretPost, Presented::Post { secret, .. }) => secret,
        (AuthMethod::None, _) => {
            return Err(OAuthError::invalid_client(
                "This client is public (token_endpoint_auth_method none): send client_id without a secret.",
            ));
        }
        (_, Presented::IdOnly { .. }) => {
            return Err(OAuthError::invalid_client(format!(
                "Client authentication is required ({}).",
                method.as_str()
            )));
        }
        _ => {
            return Err(OAuthError::invalid_client(format!(
                "This client must authenticate with {}.",
                method.as_str()
            )));
        }
    };
    if verify_client_secret(secret, &client.secret_hash) {
        Ok(client)
    } else {
        Err(OAuthError::invalid_client(FAILED))
    }
}

/// [`authenticate`], then the client must be allowed `grant`.
pub async fn authenticate_for(
    store: &dyn Store,
    presented: &Presented,
    grant: GrantType,
) -> Result<Arc<Client>, OAuthError> {
    let client = authenticate(store, presented).await?;
    if !client.allows_grant(grant) {
        return Err(grant_not_allowed(grant));
    }
    Ok(client)
}

/// The answer to a client using a grant type it is not allowed.
pub fn grant_not_allowed(grant: GrantType) -> OAuthError {
    OAuthError::unauthorized_client(format!(
        "Grant type '{}' not allowed for the client.",
        grant.as_str()
    ))
}

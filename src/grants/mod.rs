//! The engine: every OAuth rule, free of HTTP. It takes typed inputs, the store, the token minter
//! and a clock (DESIGN.md "Architecture").

pub mod client_auth;
mod client_credentials;
pub mod error;
pub mod params;

use serde::Serialize;

pub use client_auth::Presented;
pub use error::{ErrorCode, OAuthError};
pub use params::Params;

use crate::clock::SharedClock;
use crate::domain::grant_type;
use crate::store::SharedStore;
use crate::tokens::Minter;

/// A token request, tagged by `grant_type` (RFC 6749 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// RFC 6749 §4.4, with Auth0's `audience`.
    ClientCredentials {
        audience: Option<String>,
        scope: Option<String>,
    },
}

impl TokenRequest {
    pub fn parse(params: &Params) -> Result<Self, OAuthError> {
        let grant = params.require("grant_type")?;
        match grant {
            grant_type::CLIENT_CREDENTIALS => Ok(Self::ClientCredentials {
                audience: params.get("audience").map(str::to_owned),
                scope: params.get("scope").map(str::to_owned),
            }),
            other => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("Unsupported grant type: {other}"),
            )),
        }
    }

    /// The name a client registers in `grant_types` to use this grant.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Self::ClientCredentials { .. } => grant_type::CLIENT_CREDENTIALS,
        }
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub expires_in: u64,
    pub token_type: &'static str,
}

/// What the engine needs; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub store: SharedStore,
    pub minter: Minter,
    pub clock: SharedClock,
}

impl Engine {
    pub fn new(store: SharedStore, minter: Minter, clock: SharedClock) -> Self {
        Self {
            store,
            minter,
            clock,
        }
    }

    /// `POST /oauth/token`: parse the grant, authenticate the client, check it may use the grant,
    /// then run the grant.
    #[tracing::instrument(skip_all, fields(client_id = tracing::field::Empty, grant_type = tracing::field::Empty))]
    pub async fn token(
        &self,
        basic: Option<(String, String)>,
        mut params: Params,
    ) -> Result<TokenResponse, OAuthError> {
        let request = TokenRequest::parse(&params)?;
        let presented = Presented::from_request(basic, &mut params)?;
        let span = tracing::Span::current();
        span.record("client_id", presented.client_id());
        span.record("grant_type", request.grant_type());
        let client = client_auth::authenticate(self.store.as_ref(), &presented).await?;
        if !client.allows_grant(request.grant_type()) {
            return Err(OAuthError::unauthorized_client(format!(
                "Grant type '{}' not allowed for the client.",
                request.grant_type()
            )));
        }
        let name = request.grant_type();
        let response = match request {
            TokenRequest::ClientCredentials { audience, scope } => {
                client_credentials::issue(self, &client, audience, scope).await?
            }
        };
        metrics::counter!("tessera_tokens_issued_total", "grant_type" => name).increment(1);
        Ok(response)
    }
}

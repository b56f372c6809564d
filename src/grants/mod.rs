//! The engine: every OAuth rule, free of HTTP. It takes typed inputs, the store, the token minter
//! and a clock (DESIGN.md "Architecture").

mod authorization_code;
pub mod authorize;
pub mod client_auth;
mod client_credentials;
pub mod delegation;
pub mod error;
pub mod issue;
pub mod login;
pub mod params;
mod password;
pub mod rate_limit;
pub mod refresh_token;
mod revocation;
pub mod throttle;
pub mod userinfo;

use std::sync::Arc;

use serde::Serialize;

pub use client_auth::Presented;
pub use error::{ErrorCode, OAuthError, UNAVAILABLE_RETRY_AFTER};
pub use params::Params;
pub use refresh_token::{ExchangeCheck, ExchangeContext};

use crate::clock::SharedClock;
use crate::domain::GrantType;
use crate::passwords::Passwords;
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
    /// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5).
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
    },
    /// RFC 6749 §4.3, and Auth0's password-realm (`realm` names the connection).
    Password {
        username: String,
        password: String,
        scope: Option<String>,
        audience: Option<String>,
        realm: Option<String>,
        device: Option<String>,
    },
}

impl TokenRequest {
    pub fn parse(params: &Params) -> Result<Self, OAuthError> {
        let name = params.require("grant_type")?;
        let opt = |name: &str| params.get(name).map(str::to_owned);
        let req = |name: &str| params.require(name).map(str::to_owned);
        let unsupported = || {
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("Unsupported grant type: {name}"),
            )
        };
        match GrantType::parse(name).ok_or_else(unsupported)? {
            GrantType::ClientCredentials => Ok(Self::ClientCredentials {
                audience: opt("audience"),
                scope: opt("scope"),
            }),
            GrantType::AuthorizationCode => Ok(Self::AuthorizationCode {
                code: req("code")?,
                redirect_uri: opt("redirect_uri"),
                code_verifier: opt("code_verifier"),
            }),
            GrantType::RefreshToken => Ok(Self::RefreshToken {
                refresh_token: req("refresh_token")?,
                scope: opt("scope"),
            }),
            grant @ (GrantType::Password | GrantType::PasswordRealm) => Ok(Self::Password {
                username: req("username")?,
                password: req("password")?,
                scope: opt("scope"),
                audience: opt("audience"),
                realm: if grant == GrantType::PasswordRealm {
                    Some(req("realm")?)
                } else {
                    None
                },
                device: opt("device"),
            }),
            // Not a token endpoint grant.
            GrantType::Implicit => Err(unsupported()),
        }
    }

    /// The grant type a client registers in `grant_types` to use this grant.
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::Password { realm: None, .. } => GrantType::Password,
            Self::Password { realm: Some(_), .. } => GrantType::PasswordRealm,
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

/// Lifetimes and limits the engine applies (DESIGN.md "Defaults"), in seconds.
#[derive(Debug, Clone)]
pub struct Settings {
    pub id_token_lifetime: u64,
    pub code_lifetime: i64,
    pub session_idle: i64,
    pub session_absolute: i64,
    /// How long a login or consent page stays usable.
    pub transaction_lifetime: i64,
    /// A password change invalidates the user's earlier refresh-token families.
    pub revoke_on_password_change: bool,
    /// Refresh exchanges per family and client IP per minute (0: no limit).
    pub refresh_rate_limit: u32,
    /// `/delegation` calls per user and client IP per minute (0: no limit).
    pub delegation_rate_limit: u32,
}

impl Settings {
    pub fn new(id_token_lifetime: u64) -> Self {
        Self {
            id_token_lifetime,
            code_lifetime: 60,
            session_idle: 3 * 86_400,
            session_absolute: 7 * 86_400,
            transaction_lifetime: 3_600,
            revoke_on_password_change: true,
            refresh_rate_limit: 600,
            delegation_rate_limit: 60,
        }
    }
}

/// What the engine needs; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub store: SharedStore,
    pub minter: Minter,
    pub clock: SharedClock,
    pub settings: Arc<Settings>,
    pub passwords: Passwords,
    pub throttle: Arc<throttle::LoginThrottle>,
    pub limits: Arc<rate_limit::RateLimits>,
    /// Run on every refresh exchange before it commits; none by default (the exchange is then
    /// one statement).
    pub exchange_checks: Arc<Vec<Arc<dyn ExchangeCheck>>>,
}

impl Engine {
    pub fn new(
        store: SharedStore,
        minter: Minter,
        clock: SharedClock,
        settings: Settings,
        passwords: Passwords,
    ) -> Self {
        Self {
            store,
            minter,
            limits: Arc::new(rate_limit::RateLimits::new(
                settings.refresh_rate_limit,
                settings.delegation_rate_limit,
                &clock,
            )),
            clock,
            settings: Arc::new(settings),
            passwords,
            throttle: Arc::new(throttle::LoginThrottle::default()),
            exchange_checks: Arc::default(),
        }
    }

    /// The engine with one more check on every refresh exchange (see [`ExchangeCheck`]).
    pub fn with_exchange_check(mut self, check: Arc<dyn ExchangeCheck>) -> Self {
        let mut checks = self.exchange_checks.as_ref().clone();
        checks.push(check);
        self.exchange_checks = Arc::new(checks);
        self
    }

    /// `POST /oauth/token`: parse the grant, authenticate the client, check it may use the grant,
    /// then run the grant.
    #[tracing::instrument(skip_all, fields(client_id = tracing::field::Empty, grant_type = tracing::field::Empty))]
    pub async fn token(
        &self,
        basic: Option<(String, String)>,
        mut params: Params,
        ctx: &refresh_token::RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let request = TokenRequest::parse(&params)?;
        let presented = Presented::from_request(basic, &mut params)?;
        let span = tracing::Span::current();
        span.record("client_id", presented.client_id());
        span.record("grant_type", request.grant_type().as_str());
        let client =
            client_auth::authenticate_for(self.store.as_ref(), &presented, request.grant_type())
                .await?;
        let name = request.grant_type().as_str();
        let response = match request {
            TokenRequest::ClientCredentials { audience, scope } => {
                client_credentials::issue(self, &client, audience, scope).await?
            }
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                authorization_code::exchange(
                    self,
                    &client,
                    &code,
                    redirect_uri.as_deref(),
                    code_verifier.as_deref(),
                    ctx,
                )
                .await?
            }
            TokenRequest::Password {
                username,
                password,
                scope,
                audience,
                realm,
                device,
            } => {
                let req = password::PasswordRequest {
                    username: &username,
                    password: &password,
                    scope: scope.as_deref(),
                    audience: audience.as_deref(),
                    realm: realm.as_deref(),
                    device: device.as_deref(),
                };
                password::issue(self, &client, req, ctx).await?
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
            } => {
                // Counted by outcome in `tessera_refresh_exchanges_total`.
                return refresh_token::exchange(
                    self,
                    &client,
                    &refresh_token,
                    scope.as_deref(),
                    ctx,
                )
                .await;
            }
        };
        metrics::counter!("tessera_tokens_issued_total", "grant_type" => name).increment(1);
        Ok(response)
    }
}

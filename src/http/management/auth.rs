//! Management API authentication: a Bearer access token (RFC 6750) this server issued by
//! `client_credentials` for `{issuer}api/v2/`, from a client that still exists; each endpoint then
//! requires its Auth0 scope (401 without a valid token, 403 without the scope).
//!
//! The scope an endpoint needs is part of its extractor's type (`Management<scope::ReadClients>`),
//! so it is checked before any other extractor reads the path, the query or the body: a caller
//! without the scope gets 403, never a validation error that tells it about the endpoint.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use crate::domain::Scope;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::ClientIp;
use crate::manage::audit::Actor;
use crate::tokens::{AccessClaims, VerifyError};

/// A Management API scope, as a type.
pub trait RequiredScope: Send + Sync + 'static {
    const NAME: &'static str;
}

/// Auth0's scope names for the endpoints Tessera serves.
pub mod scope {
    use super::RequiredScope;

    macro_rules! scopes {
        ($($ty:ident => $name:literal,)*) => {$(
            #[doc = concat!("`", $name, "`")]
            pub struct $ty;
            impl RequiredScope for $ty {
                const NAME: &'static str = $name;
            }
        )*};
    }

    scopes! {
        ReadClients => "read:clients",
        CreateClients => "create:clients",
        UpdateClients => "update:clients",
        DeleteClients => "delete:clients",
        UpdateClientKeys => "update:client_keys",
        ReadResourceServers => "read:resource_servers",
        CreateResourceServers => "create:resource_servers",
        UpdateResourceServers => "update:resource_servers",
        DeleteResourceServers => "delete:resource_servers",
        ReadClientGrants => "read:client_grants",
        CreateClientGrants => "create:client_grants",
        UpdateClientGrants => "update:client_grants",
        DeleteClientGrants => "delete:client_grants",
        ReadUsers => "read:users",
        CreateUsers => "create:users",
        UpdateUsers => "update:users",
        DeleteUsers => "delete:users",
        ReadGrants => "read:grants",
        DeleteGrants => "delete:grants",
        ReadDeviceCredentials => "read:device_credentials",
        DeleteDeviceCredentials => "delete:device_credentials",
        ReadRefreshTokens => "read:refresh_tokens",
        DeleteRefreshTokens => "delete:refresh_tokens",
        ReadLogs => "read:logs",
    }
}

/// A verified Management API caller whose token carries the scope `S`. Put it first among a
/// handler's extractors (after `State`).
pub struct Management<S: RequiredScope> {
    actor: Actor,
    scope: PhantomData<fn() -> S>,
}

impl<S: RequiredScope> Management<S> {
    /// The calling client and where the request came from (for audit events).
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

impl<S: RequiredScope> FromRequestParts<AppState> for Management<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (granted, caller) = authenticate(parts, state).await?;
        if granted.contains(S::NAME) {
            let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
            let user_agent = parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(Self {
                actor: Actor {
                    client_id: Some(caller),
                    ip: Some(ip.to_string()),
                    user_agent,
                },
                scope: PhantomData,
            })
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("Insufficient scope, expected any of: {}", S::NAME),
                Some("insufficient_scope"),
            ))
        }
    }
}

/// Verifies the Bearer token; answers the scope it grants and the client it was issued to.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<(Scope, String), ApiError> {
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("Missing authentication"))?;
    let now = state.engine.clock.now();
    let claims: AccessClaims = state
        .engine
        .minter
        .verify(token, &state.admin.management_audience(), now)
        .map_err(|e| match e {
            VerifyError::Expired => {
                ApiError::unauthorized("Expired token received for JSON Web Token validation")
            }
            VerifyError::Audience => ApiError::unauthorized("Bad audience"),
            _ => ApiError::unauthorized("Invalid token"),
        })?;
    if claims.gty.as_deref() != Some("client-credentials") {
        return Err(ApiError::unauthorized(
            "Invalid token: Management API tokens come from the client_credentials grant",
        ));
    }
    let client_exists = state
        .engine
        .store
        .get_client(&claims.azp)
        .await
        .map_err(|e| ApiError::from(crate::manage::AdminError::from(e)))?
        .is_some();
    if !client_exists {
        return Err(ApiError::unauthorized(
            "Invalid token: the client no longer exists",
        ));
    }
    Ok((
        Scope::parse(claims.scope.as_deref().unwrap_or("")),
        claims.azp,
    ))
}

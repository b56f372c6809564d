//! Management API authentication: a Bearer access token (RFC 6750) this server issued by
//! `client_credentials` for `{issuer}api/v2/`, from a client that still exists; each endpoint then
//! requires its Auth0 scope (401 without a valid token, 403 without the scope).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use crate::domain::Scope;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::tokens::{AccessClaims, VerifyError};

/// A verified Management API caller.
pub struct Management {
    scope: Scope,
}

impl Management {
    /// 403 unless the token carries `scope`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scope.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("Insufficient scope, expected any of: {scope}"),
                Some("insufficient_scope"),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Management {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
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
        Ok(Management {
            scope: Scope::parse(claims.scope.as_deref().unwrap_or("")),
        })
    }
}

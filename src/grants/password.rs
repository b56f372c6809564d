//! The resource owner password grant (RFC 6749 §4.3) and Auth0's password-realm variant: first
//! party clients only, failures throttled per user and IP like the login page.

use super::error::{ErrorCode, OAuthError};
use super::issue::{UserTokens, granted_scope};
use super::login::CredentialError;
use super::refresh_token::{NewFamily, RequestContext};
use super::{Engine, TokenResponse};
use crate::domain::{Client, DATABASE_CONNECTION, Scope};

pub(super) struct PasswordRequest<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub scope: Option<&'a str>,
    pub audience: Option<&'a str>,
    pub realm: Option<&'a str>,
    pub device: Option<&'a str>,
}

pub(super) async fn issue(
    engine: &Engine,
    client: &Client,
    req: PasswordRequest<'_>,
    ctx: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    if !client.is_first_party {
        return Err(OAuthError::unauthorized_client(
            "The password grant is only for first-party clients.",
        ));
    }
    if let Some(realm) = req.realm
        && realm != DATABASE_CONNECTION
    {
        return Err(OAuthError::invalid_request(format!(
            "Unknown realm: {realm} (the connection is {DATABASE_CONNECTION})"
        )));
    }
    let api = engine.audience_api(req.audience).await?.ok_or_else(|| {
        OAuthError::invalid_request(format!(
            "Service not found: {}",
            req.audience.unwrap_or_default()
        ))
    })?;
    let user = match engine
        .verify_credentials(req.username, req.password, &client.client_id, ctx)
        .await
    {
        Ok(user) => user,
        Err(CredentialError::Invalid) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidGrant,
                "Wrong email or password.",
            ));
        }
        Err(CredentialError::Blocked) => {
            return Err(OAuthError::new(ErrorCode::InvalidGrant, "user is blocked"));
        }
        Err(CredentialError::Throttled(wait)) => {
            return Err(OAuthError::too_many_requests(wait));
        }
        Err(CredentialError::Store(e)) => return Err(OAuthError::server_error(e)),
    };
    let scope = granted_scope(&Scope::parse(req.scope.unwrap_or("")), &api);
    let now = engine.clock.now();
    let tokens = UserTokens {
        gty: Some("password"),
        ..UserTokens::new(client, &user, &api, &scope, now)
    };
    let family = NewFamily {
        client,
        user: &user,
        api: &api,
        scope: &scope,
        auth_time: now,
        device: req.device,
        code_hash: None,
        replace_device: false,
    };
    engine.login_response(tokens, family, ctx).await
}

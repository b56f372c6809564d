//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6): single-use codes
//! that expire after 60 s, taken atomically; the redirect URI must match; a replayed code is
//! refused and reported.

use subtle::ConstantTimeEq;

use super::error::{ErrorCode, OAuthError};
use super::issue::UserTokens;
use super::refresh_token::{NewFamily, RequestContext};
use super::{Engine, TokenResponse};
use crate::domain::{Client, Scope};
use crate::store::TakenCode;
use crate::tokens::secrets::{b64url, sha256};

fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

pub(super) async fn exchange(
    engine: &Engine,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    ctx: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    let now = engine.clock.now();
    let code = match engine
        .store
        .take_code(&sha256(code.as_bytes()), now)
        .await?
    {
        TakenCode::Fresh(code) => code,
        TakenCode::Replayed(code) => {
            // RFC 6749 §4.1.2: a code used twice fails, and what it issued is revoked.
            tracing::warn!(client_id = %code.client_id, user_id = %code.user_id, "authorization code replayed");
            metrics::counter!("tessera_code_replays_total").increment(1);
            engine.revoke_code_families(&code, ctx).await?;
            return Err(invalid_grant("Invalid authorization code"));
        }
        TakenCode::Unknown => return Err(invalid_grant("Invalid authorization code")),
    };
    if code.expires_at <= now {
        return Err(invalid_grant("Invalid authorization code"));
    }
    if code.client_id != client.client_id {
        return Err(invalid_grant("Invalid authorization code"));
    }
    match redirect_uri {
        Some(uri) if uri != code.redirect_uri => {
            return Err(invalid_grant(
                "redirect_uri does not match the authorization request.",
            ));
        }
        None if code.redirect_uri_given => {
            return Err(OAuthError::invalid_request(
                "Missing required parameter: redirect_uri",
            ));
        }
        _ => {}
    }
    match (&code.code_challenge, code_verifier) {
        (Some(challenge), Some(verifier)) => {
            let computed = b64url(&sha256(verifier.as_bytes()));
            let matches: bool = computed.as_bytes().ct_eq(challenge.as_bytes()).into();
            if !super::authorize::valid_pkce_value(verifier) || !matches {
                return Err(invalid_grant("PKCE verification failed (code_verifier)."));
            }
        }
        (Some(_), None) => {
            return Err(invalid_grant(
                "Missing code_verifier: this code was issued with PKCE.",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid_grant(
                "code_verifier given but the code was issued without PKCE.",
            ));
        }
        (None, None) => {}
    }
    let user = engine
        .store
        .get_user(&code.user_id)
        .await?
        .filter(|u| !u.blocked)
        .ok_or_else(|| invalid_grant("The user is blocked or no longer exists."))?;
    let api = engine
        .store
        .get_resource_server_by_identifier(&code.audience)
        .await?
        .ok_or_else(|| invalid_grant("The API of this code no longer exists."))?;
    let scope = Scope::parse(&code.scope);
    let tokens = UserTokens {
        nonce: code.nonce.as_deref(),
        ..UserTokens::new(client, &user, &api, &scope, code.auth_time)
    };
    let family = NewFamily {
        client,
        user: &user,
        api: &api,
        scope: &scope,
        auth_time: code.auth_time,
        device: code.device.as_deref(),
        code_hash: Some(code.code_hash.clone()),
        replace_device: false,
    };
    engine.login_response(tokens, family, ctx).await
}

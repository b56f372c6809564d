//! Minting for a user: access tokens (Auth0's claims; `aud: [API, {issuer}userinfo]` when `openid`
//! was granted for an API) and ID tokens (OIDC Core §2, §3.1.3.6 `at_hash`, §3.3.2.11 `c_hash`).

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Engine;
use super::error::OAuthError;
use crate::clock::Timestamp;
use crate::domain::{Client, ResourceServer, Scope, SigningAlg, SystemApi, User};
use crate::tokens::AccessClaims;
use crate::tokens::jwt::Audience;
use crate::tokens::secrets::{b64url, random_token};

/// The scopes OpenID Connect defines, granted whatever the API.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Granted = requested ∩ (OIDC scopes ∪ the API's scopes). `offline_access` is only granted
/// where a refresh token can follow: an API that allows offline access (DESIGN.md "Scopes").
pub fn granted_scope(requested: &Scope, api: &ResourceServer) -> Scope {
    requested
        .iter()
        .filter(|s| {
            if *s == "offline_access" {
                api.allow_offline_access
            } else {
                OIDC_SCOPES.contains(s) || api.has_scope(s)
            }
        })
        .collect()
}

/// OIDC Core's left-half hash of a token for `at_hash` / `c_hash` (SHA-256 for RS256).
pub fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    b64url(&digest[..16])
}

#[derive(Debug, Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    azp: &'a str,
    iat: Timestamp,
    exp: Timestamp,
    auth_time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    c_hash: Option<String>,
    #[serde(flatten)]
    profile: serde_json::Map<String, serde_json::Value>,
}

/// The user claims a scope releases (OIDC Core §5.4), for ID tokens and `/userinfo`.
pub fn user_claims(user: &User, scope: &Scope) -> serde_json::Map<String, serde_json::Value> {
    let mut claims = serde_json::Map::new();
    if scope.contains("profile") {
        claims.insert("name".into(), user.name.clone().into());
        claims.insert("nickname".into(), user.nickname.clone().into());
        claims.insert(
            // OIDC Core §5.1: seconds since the epoch (certified clients insist on a number).
            "updated_at".into(),
            user.updated_at.into(),
        );
    }
    if scope.contains("email") {
        claims.insert("email".into(), user.email.clone().into());
        claims.insert("email_verified".into(), user.email_verified.into());
    }
    claims
}

/// What a user-facing grant asks to mint.
pub struct UserTokens<'a> {
    pub client_id: &'a str,
    pub user: &'a User,
    /// The API's identifier and its access-token settings.
    pub audience: &'a str,
    pub signing_alg: SigningAlg,
    pub token_lifetime: u64,
    pub scope: &'a Scope,
    pub auth_time: Timestamp,
    pub nonce: Option<&'a str>,
    /// Auth0's `gty` claim for the grant, if it sets one (`password` for the password grant).
    pub gty: Option<&'static str>,
}

impl<'a> UserTokens<'a> {
    pub fn new(
        client: &'a Client,
        user: &'a User,
        api: &'a ResourceServer,
        scope: &'a Scope,
        auth_time: Timestamp,
    ) -> Self {
        Self {
            client_id: &client.client_id,
            user,
            audience: &api.identifier,
            signing_alg: api.signing_alg,
            token_lifetime: api.token_lifetime,
            scope,
            auth_time,
            nonce: None,
            gty: None,
        }
    }
}

impl Engine {
    pub fn userinfo_audience(&self) -> String {
        format!("{}userinfo", self.minter.issuer())
    }

    /// The access token for `t.api` and, with `openid`, the ID token (with `at_hash` and, when a
    /// code is answered alongside, `c_hash`).
    pub(super) async fn mint_user_tokens(
        &self,
        t: &UserTokens<'_>,
        want_access_token: bool,
        code: Option<&str>,
    ) -> Result<(Option<String>, Option<String>, u64), OAuthError> {
        let now = self.clock.now();
        let issuer = self.minter.issuer();
        let userinfo = self.userinfo_audience();
        let lifetime = t.token_lifetime;
        let access_token = if want_access_token {
            let aud = if t.audience == userinfo {
                Audience::One(userinfo.clone())
            } else if t.scope.contains("openid") {
                Audience::Many(vec![t.audience.to_owned(), userinfo.clone()])
            } else {
                Audience::One(t.audience.to_owned())
            };
            let claims = AccessClaims {
                iss: issuer.to_owned(),
                sub: t.user.user_id.clone(),
                aud,
                iat: now,
                exp: now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX)),
                scope: Some(t.scope.to_string()),
                gty: t.gty.map(str::to_owned),
                azp: t.client_id.to_owned(),
                jti: random_token(16),
            };
            Some(self.minter.sign(t.signing_alg, claims, now).await?)
        } else {
            None
        };
        let id_token = if t.scope.contains("openid") {
            let claims = IdClaims {
                iss: issuer,
                sub: &t.user.user_id,
                aud: t.client_id,
                azp: t.client_id,
                iat: now,
                exp: now.saturating_add(
                    i64::try_from(self.settings.id_token_lifetime).unwrap_or(i64::MAX),
                ),
                auth_time: t.auth_time,
                nonce: t.nonce,
                at_hash: access_token.as_deref().map(half_hash),
                c_hash: code.map(half_hash),
                profile: user_claims(t.user, t.scope),
            };
            let value = serde_json::to_value(&claims).map_err(OAuthError::server_error)?;
            Some(self.minter.sign(SigningAlg::RS256, value, now).await?)
        } else {
            None
        };
        Ok((access_token, id_token, lifetime))
    }

    /// Resolves `audience` (default: the userinfo API) to its API.
    pub(super) async fn audience_api(
        &self,
        audience: Option<&str>,
    ) -> Result<Option<ResourceServer>, OAuthError> {
        let audience = audience.map_or_else(|| self.userinfo_audience(), str::to_owned);
        // The Management API is for machine-to-machine clients only: users never get its tokens.
        Ok(self
            .store
            .get_resource_server_by_identifier(&audience)
            .await?
            .filter(|api| api.system.as_deref() != Some(SystemApi::Management.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_hash_matches_the_oidc_example() {
        // OIDC Core's at_hash is the left half of SHA-256, base64url: checked against a value
        // computed independently (python: base64.urlsafe_b64encode(sha256(b"abc").digest()[:16])).
        assert_eq!(half_hash("abc"), "ungWv48Bz-pBQUDeXa4iIw");
    }
}

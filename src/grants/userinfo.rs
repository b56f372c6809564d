//! OIDC UserInfo (OIDC Core §5.3): the claims of the user an access token was issued to, when the
//! token carries `openid` and its audience includes `{issuer}userinfo`. Errors per RFC 6750 §3.1.

use serde_json::{Map, Value};

use super::Engine;
use super::issue::user_claims;
use crate::domain::Scope;
use crate::tokens::AccessClaims;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserinfoError {
    /// RFC 6750 §3.1 `invalid_token` (401).
    InvalidToken(&'static str),
    /// RFC 6750 §3.1 `insufficient_scope` (403).
    InsufficientScope,
    /// The store failed: 503 `temporarily_unavailable` or 500 `server_error`, as at the token
    /// endpoint.
    Failed(super::OAuthError),
}

impl Engine {
    pub async fn userinfo(&self, token: &str) -> Result<Map<String, Value>, UserinfoError> {
        let claims: AccessClaims = self
            .minter
            .verify(token, &self.userinfo_audience(), self.clock.now())
            .map_err(|_| UserinfoError::InvalidToken("The access token is invalid or expired."))?;
        let scope = Scope::parse(claims.scope.as_deref().unwrap_or(""));
        if !scope.contains("openid") {
            return Err(UserinfoError::InsufficientScope);
        }
        let user = self
            .store
            .get_user(&claims.sub)
            .await
            .map_err(|e| UserinfoError::Failed(e.into()))?
            .filter(|u| !u.blocked)
            .ok_or(UserinfoError::InvalidToken(
                "The user is blocked or no longer exists.",
            ))?;
        let mut out = Map::new();
        out.insert("sub".into(), user.user_id.clone().into());
        out.extend(user_claims(&user, &scope));
        Ok(out)
    }
}

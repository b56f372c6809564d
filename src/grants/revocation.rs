//! Token revocation (RFC 7009) with Auth0's semantics (seed 002): revoking a refresh token
//! revokes every family of the same user + client + audience, on every device; consent is kept.
//! Unknown tokens, access tokens and tokens of another client answer 200 and change nothing.

use super::Engine;
use super::client_auth::{self, Presented};
use super::error::OAuthError;
use super::params::Params;
use super::refresh_token::RequestContext;
use crate::domain::{AuditType, AuthMethod};
use crate::tokens::refresh;

impl Engine {
    /// `POST /oauth/revoke`.
    #[tracing::instrument(skip_all, fields(client_id = tracing::field::Empty))]
    pub async fn revoke(
        &self,
        basic: Option<(String, String)>,
        mut params: Params,
        ctx: &RequestContext,
    ) -> Result<(), OAuthError> {
        let token = params.require("token")?.to_owned();
        let presented = Presented::from_request(basic, &mut params)?;
        tracing::Span::current().record("client_id", presented.client_id());
        // Confidential clients may authenticate with their secret in the body or over Basic;
        // public clients with their client_id alone.
        let client = match client_auth::authenticate(self.store.as_ref(), &presented).await {
            Ok(client) => client,
            Err(e) => {
                let client = self
                    .store
                    .client(presented.client_id())
                    .await?
                    .ok_or(e.clone())?;
                let secret = match &presented {
                    Presented::Basic { secret, .. } | Presented::Post { secret, .. }
                        if client.token_endpoint_auth_method != AuthMethod::None =>
                    {
                        secret
                    }
                    _ => return Err(e),
                };
                if !crate::tokens::secrets::verify_client_secret(secret, &client.secret_hash) {
                    return Err(e);
                }
                client
            }
        };
        let Some(claims) = refresh::decode(self.minter.keys().secrets(), &token) else {
            return Ok(());
        };
        let Some(family) = self.store.get_family(&claims.family).await? else {
            return Ok(());
        };
        if family.client_id != client.client_id {
            // Another client's token: it stays valid (seed 002).
            return Ok(());
        }
        let now = self.clock.now();
        let revoked = self
            .store
            .revoke_grant_families(
                &family.user_id,
                &family.client_id,
                &family.audience,
                now,
                "revoked",
            )
            .await?;
        self.audit(
            AuditType::Revoked,
            "Refresh tokens revoked (POST /oauth/revoke): every family of this user, client and audience",
            Some(&family.client_id),
            Some(&family.user_id),
            ctx,
            serde_json::json!({ "audience": family.audience, "families_revoked": revoked, "reason": "revoked" }),
        )
        .await;
        Ok(())
    }
}

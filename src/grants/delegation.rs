//! Auth0's legacy `POST /delegation` (seeds 000, 001; DESIGN.md "Protocol endpoints"): a client with
//! `oidc_conformant: false` trades its refresh token, or a still-valid ID token, for a fresh ID
//! token of the same user. Read-only: the refresh token is never rotated, but it must pass every
//! rule a refresh exchange applies (revocation, lifetimes, the user, the password rule, the
//! client's policy version).

use serde::Deserialize;
use serde::Serialize;

use super::Engine;
use super::client_auth::{self, Presented};
use super::error::{ErrorCode, OAuthError};
use super::issue::{OIDC_SCOPES, UserTokens};
use super::params::Params;
use super::refresh_token::{RequestContext, invalid_refresh_token};
use crate::clock::Timestamp;
use crate::domain::{AuditType, Client, GrantType, Scope, SigningAlg, User};
use crate::store::{ExchangeRequest, Exchanged};
use crate::tokens::jwt::VerifyError;
use crate::tokens::refresh;

/// The grant type `/delegation` accepts (RFC 7523's JWT bearer URN, as Auth0 used it).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The only `api_type` supported: a new ID token for the calling application.
pub const API_TYPE_APP: &str = "app";

/// The answer: a new ID token.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DelegationResponse {
    pub id_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

/// What the presented ID token must carry.
#[derive(Debug, Deserialize)]
struct PresentedIdToken {
    sub: String,
    #[serde(default)]
    iat: Option<Timestamp>,
    #[serde(default)]
    auth_time: Option<Timestamp>,
    /// Access tokens carry `scope`; ID tokens never do.
    #[serde(default)]
    scope: Option<serde_json::Value>,
}

fn invalid_id_token(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

impl Engine {
    /// `POST /delegation`.
    #[tracing::instrument(skip_all, fields(client_id = tracing::field::Empty))]
    pub async fn delegation(
        &self,
        basic: Option<(String, String)>,
        mut params: Params,
        ctx: &RequestContext,
    ) -> Result<DelegationResponse, OAuthError> {
        let presented = Presented::from_request(basic, &mut params)?;
        tracing::Span::current().record("client_id", presented.client_id());
        match params.require("grant_type")? {
            JWT_BEARER => {}
            other => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    format!("Unsupported grant_type at /delegation: {other} (use {JWT_BEARER})."),
                ));
            }
        }
        // Auth0's legacy endpoint identifies the calling app by client_id alone (its SDKs send no
        // secret here); a secret that is sent must still be right.
        let client = match &presented {
            Presented::IdOnly { client_id } => self
                .store
                .client(client_id)
                .await?
                .ok_or_else(|| OAuthError::invalid_client("Client authentication failed."))?,
            _ => client_auth::authenticate(self.store.as_ref(), &presented).await?,
        };
        if client.oidc_conformant {
            return Err(OAuthError::unauthorized_client(
                "/delegation is only for clients with oidc_conformant: false; use the refresh_token grant at /oauth/token, which answers an id_token.",
            ));
        }
        match params.get("api_type") {
            Some(API_TYPE_APP) => {}
            None => {
                return Err(OAuthError::invalid_request(
                    "Missing required parameter: api_type (supported: app).",
                ));
            }
            Some(other) => {
                return Err(OAuthError::invalid_request(format!(
                    "Unsupported api_type: {other} (supported: app)."
                )));
            }
        }
        if let Some(target) = params.get("target")
            && target != client.client_id
        {
            return Err(OAuthError::invalid_request(
                "target must be the calling client: /delegation only answers ID tokens for the application that asks.",
            ));
        }
        let requested = Scope::parse(params.get("scope").unwrap_or("openid"));
        if !requested.contains("openid") {
            return Err(OAuthError::invalid_scope(
                "/delegation answers an ID token: the scope must include openid.",
            ));
        }
        let (user, scope, auth_time) = match (params.get("refresh_token"), params.get("id_token")) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "Send either refresh_token or id_token, not both.",
                ));
            }
            (None, None) => {
                return Err(OAuthError::invalid_request(
                    "Missing required parameter: refresh_token or id_token",
                ));
            }
            (Some(token), None) => self.delegation_refresh(&client, token, &requested).await?,
            (None, Some(token)) => self.delegation_id_token(&client, token, &requested).await?,
        };
        if let Err(wait) = self.limits.check_delegation(&user.user_id, ctx.ip) {
            return Err(OAuthError::too_many_requests_with(
                wait,
                "Too many delegation requests for this user from this IP: wait before trying again.",
            ));
        }
        let tokens = UserTokens {
            client_id: &client.client_id,
            user: &user,
            audience: &self.userinfo_audience(),
            signing_alg: SigningAlg::RS256,
            token_lifetime: 0,
            scope: &scope,
            auth_time,
            nonce: None,
            gty: None,
        };
        let (_, id_token, _) = self.mint_user_tokens(&tokens, false, None).await?;
        let id_token = id_token.ok_or_else(|| OAuthError::server_error("no id_token minted"))?;
        self.audit(
            AuditType::Delegation,
            "Delegation: a new ID token",
            Some(&client.client_id),
            Some(&user.user_id),
            ctx,
            serde_json::json!({ "scope": scope.to_string() }),
        )
        .await;
        metrics::counter!("tessera_delegations_total").increment(1);
        Ok(DelegationResponse {
            id_token,
            token_type: "Bearer",
            expires_in: self.settings.id_token_lifetime,
        })
    }

    /// A refresh token's family, checked as an exchange would check it, without rotating it.
    async fn delegation_refresh(
        &self,
        client: &Client,
        token: &str,
        requested: &Scope,
    ) -> Result<(User, Scope, Timestamp), OAuthError> {
        if !client.allows_grant(GrantType::RefreshToken) {
            return Err(client_auth::grant_not_allowed(GrantType::RefreshToken));
        }
        let claims = refresh::decode(self.minter.keys().secrets(), token)
            .ok_or_else(invalid_refresh_token)?;
        // The exchange's own rules (store::sql_refresh), read without rotating anything.
        let request = ExchangeRequest {
            family_id: &claims.family,
            generation: claims.generation,
            now: self.clock.now(),
            ip: "",
            user_agent: "",
            password_rule: self.settings.revoke_on_password_change,
            client_id: &client.client_id,
            policy_version: client.auth_policy_version,
        };
        let read = self
            .store
            .read_exchange(&request)
            .await?
            .ok_or_else(invalid_refresh_token)?;
        // The current token only: an earlier one of a rotating family is not accepted (and,
        // this endpoint being read-only, revokes nothing).
        let current = read
            .exchanged
            .filter(|_| read.checks.current && read.checks.refusal().is_none())
            .ok_or_else(invalid_refresh_token)?;
        let Exchanged { family, user, .. } = *current;
        let granted = Scope::parse(&family.scope);
        let extra: Vec<&str> = requested.missing_from(&granted).collect();
        if !extra.is_empty() {
            return Err(OAuthError::invalid_scope(format!(
                "Scope not granted to this refresh token: {}",
                extra.join(" ")
            )));
        }
        Ok((user, requested.clone(), family.auth_time))
    }

    /// A valid, unexpired ID token this issuer signed for this client.
    async fn delegation_id_token(
        &self,
        client: &Client,
        token: &str,
        requested: &Scope,
    ) -> Result<(User, Scope, Timestamp), OAuthError> {
        let now = self.clock.now();
        let claims: PresentedIdToken =
            self.minter
                .verify(token, &client.client_id, now)
                .map_err(|e| match e {
                    VerifyError::Expired => invalid_id_token("The id_token has expired."),
                    VerifyError::Audience => {
                        invalid_id_token("The id_token was not issued to this client.")
                    }
                    _ => invalid_id_token("Invalid id_token."),
                })?;
        if claims.scope.is_some() {
            return Err(invalid_id_token(
                "Invalid id_token: this is an access token.",
            ));
        }
        let user = self
            .store
            .get_user(&claims.sub)
            .await?
            .ok_or_else(|| invalid_id_token("Invalid id_token: unknown user."))?;
        if user.blocked {
            return Err(invalid_id_token("The user is blocked."));
        }
        if self.settings.revoke_on_password_change
            && let (Some(changed), Some(iat)) = (user.password_changed_at, claims.iat)
            && changed > iat
        {
            return Err(invalid_id_token(
                "The user's password changed after this id_token was issued.",
            ));
        }
        // Only the claims an ID token carries: the OIDC scopes, without offline_access.
        let scope: Scope = requested
            .iter()
            .filter(|s| OIDC_SCOPES.contains(s) && *s != "offline_access")
            .collect();
        Ok((user, scope, claims.auth_time.unwrap_or(now)))
    }
}

//! Refresh tokens in Auth0's newer shape: `/api/v2/refresh-tokens/{id}` and
//! `/api/v2/users/{id}/refresh-tokens`, plus the legacy `DELETE
//! /api/users/{user_id}/refresh_tokens/{token}` (seed 004). A refresh token here is a family (its id
//! is the family id); lists show live families only. Deleting revokes; consent is kept.

use super::Missing;
use serde::Serialize;

use super::audit::{Actor, Subject};
use super::{Admin, AdminError, AdminResult, DEFAULT_PER_PAGE, MAX_PER_PAGE};
use crate::clock::rfc3339;
use crate::domain::AuditType;
use crate::domain::Family;
use crate::store::{FamilyFilter, Page};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceView {
    pub initial_ip: String,
    pub initial_user_agent: String,
    pub last_ip: String,
    pub last_user_agent: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceServerScopes {
    pub audience: String,
    /// Space-separated, as Auth0 writes it.
    pub scopes: String,
}

/// Auth0's refresh-token item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshTokenView {
    pub id: String,
    pub user_id: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub idle_expires_at: Option<String>,
    pub last_exchanged_at: String,
    pub device: DeviceView,
    pub client_id: String,
    pub session_id: Option<String>,
    pub rotating: bool,
    pub resource_servers: Vec<ResourceServerScopes>,
}

impl From<&Family> for RefreshTokenView {
    fn from(f: &Family) -> Self {
        Self {
            id: f.id.clone(),
            user_id: f.user_id.clone(),
            created_at: rfc3339(f.created_at),
            expires_at: f.expires_at.map(rfc3339),
            idle_expires_at: f.idle_expires_at().map(rfc3339),
            last_exchanged_at: rfc3339(f.last_exchanged_at),
            device: DeviceView {
                initial_ip: f.initial_ip.clone(),
                initial_user_agent: f.initial_user_agent.clone(),
                last_ip: f.last_ip.clone(),
                last_user_agent: f.last_user_agent.clone(),
            },
            client_id: f.client_id.clone(),
            session_id: None,
            rotating: f.rotating,
            resource_servers: vec![ResourceServerScopes {
                audience: f.audience.clone(),
                scopes: f.scope.clone(),
            }],
        }
    }
}

/// One page of a user's refresh tokens; `next` (the cursor for `from`) only when more follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenPage {
    pub tokens: Vec<RefreshTokenView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Why a family was revoked, by path.
pub mod reason {
    pub const REFRESH_TOKEN_DELETED: &str = "refresh_token_deleted";
    pub const USER_REFRESH_TOKENS_DELETED: &str = "user_refresh_tokens_deleted";
    pub const DEVICE_CREDENTIAL_DELETED: &str = "device_credential_deleted";
    pub const LEGACY_DELETE: &str = "legacy_delete";
}

fn not_found() -> AdminError {
    AdminError::not_found(Missing::RefreshToken, "The refresh token does not exist")
}

impl Admin {
    /// A live family, or `None` (unknown, revoked or expired).
    pub(super) async fn live_family(&self, id: &str) -> AdminResult<Option<Family>> {
        Ok(self.store.get_live_family(id, self.clock.now()).await?)
    }

    /// Revokes one family that is not revoked yet and writes the audit event; `None` when there
    /// is no such family (or it was revoked already).
    pub(super) async fn revoke_one_family(
        &self,
        id: &str,
        reason: &str,
        description: &str,
        actor: &Actor,
    ) -> AdminResult<Option<Family>> {
        let Some(family) = self
            .store
            .revoke_family(id, self.clock.now(), reason)
            .await?
        else {
            return Ok(None);
        };
        self.audit(
            AuditType::Revoked,
            description,
            Subject {
                client_id: Some(&family.client_id),
                user_id: Some(&family.user_id),
            },
            actor,
            serde_json::json!({
                "reason": reason,
                "family_id": family.id,
                "audience": family.audience,
                "device": family.device,
                "families_revoked": 1,
            }),
        )
        .await;
        Ok(Some(family))
    }

    pub async fn get_refresh_token(&self, id: &str) -> AdminResult<RefreshTokenView> {
        let family = self.live_family(id).await?.ok_or_else(not_found)?;
        Ok(RefreshTokenView::from(&family))
    }

    /// A user's live refresh tokens by id, `take` (default 50, at most 100) after the cursor
    /// `from`.
    pub async fn list_user_refresh_tokens(
        &self,
        user_id: &str,
        from: Option<&str>,
        take: Option<u32>,
    ) -> AdminResult<TokenPage> {
        let take = take.unwrap_or(DEFAULT_PER_PAGE);
        if take == 0 || take > MAX_PER_PAGE {
            return Err(AdminError::InvalidQuery(format!(
                "Query validation error: take must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        self.load_user(user_id).await?;
        let filter = FamilyFilter {
            user_id: user_id.to_owned(),
            now: self.clock.now(),
            ..Default::default()
        };
        let mut families = self
            .store
            .list_live_families(
                &filter,
                from,
                Page {
                    offset: 0,
                    limit: i64::from(take) + 1,
                },
            )
            .await?;
        let more = families.len() > take as usize;
        families.truncate(take as usize);
        Ok(TokenPage {
            next: more
                .then(|| families.last().map(|f| f.id.clone()))
                .flatten(),
            tokens: families.iter().map(RefreshTokenView::from).collect(),
        })
    }

    /// Revokes one refresh token (its family).
    pub async fn delete_refresh_token(&self, id: &str, actor: &Actor) -> AdminResult<()> {
        self.revoke_one_family(
            id,
            reason::REFRESH_TOKEN_DELETED,
            "Refresh token deleted (DELETE /api/v2/refresh-tokens/{id})",
            actor,
        )
        .await?
        .map(|_| ())
        .ok_or_else(not_found)
    }

    /// Revokes every family of a user; answers how many.
    pub async fn delete_user_refresh_tokens(
        &self,
        user_id: &str,
        actor: &Actor,
    ) -> AdminResult<u64> {
        self.load_user(user_id).await?;
        let revoked = self
            .store
            .revoke_user_families(
                user_id,
                self.clock.now(),
                reason::USER_REFRESH_TOKENS_DELETED,
            )
            .await?;
        self.audit(
            AuditType::Revoked,
            "Every refresh token of the user deleted (DELETE /api/v2/users/{id}/refresh-tokens)",
            Subject {
                client_id: None,
                user_id: Some(user_id),
            },
            actor,
            serde_json::json!({
                "reason": reason::USER_REFRESH_TOKENS_DELETED,
                "families_revoked": revoked,
            }),
        )
        .await;
        Ok(revoked)
    }

    /// Seed 004: revokes the family of a presented token of `user_id`. `family_id` is what the
    /// token decoded to (`None`: not a token this server issued); the token itself never reaches
    /// this layer, so it cannot end up in a log or an audit event.
    pub async fn legacy_delete_refresh_token(
        &self,
        user_id: &str,
        family_id: Option<&str>,
        actor: &Actor,
    ) -> AdminResult<()> {
        let family = match family_id {
            Some(id) => self.store.get_family(id).await?,
            None => None,
        };
        let family = family
            .filter(|f| f.user_id == user_id && f.revoked_at.is_none())
            .ok_or_else(not_found)?;
        self.revoke_one_family(
            &family.id,
            reason::LEGACY_DELETE,
            "Refresh token revoked (legacy DELETE /api/users/{user_id}/refresh_tokens/{token})",
            actor,
        )
        .await?
        .map(|_| ())
        .ok_or_else(not_found)
    }
}

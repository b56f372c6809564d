//! Consent grants: Auth0's `/api/v2/grants`. A grant is a user's consent to a client for an
//! audience; deleting it withdraws the consent (the next `/authorize` of a third-party client
//! asks again) and revokes every refresh-token family of that user + client + audience.

use super::Missing;
use serde::Serialize;

use super::audit::{Actor, Subject};
use super::{Admin, AdminError, AdminResult, ListQuery, Listed};
use crate::domain::AuditType;
use crate::domain::Grant;
use crate::store::GrantFilter;

/// Why families die when their grant is deleted.
pub const REASON: &str = "grant_deleted";

/// Auth0's grant item (note the camel-case `clientID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantView {
    pub id: String,
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub user_id: String,
    pub audience: String,
    pub scope: Vec<String>,
}

impl From<&Grant> for GrantView {
    fn from(g: &Grant) -> Self {
        Self {
            id: g.id.clone(),
            client_id: g.client_id.clone(),
            user_id: g.user_id.clone(),
            audience: g.audience.clone(),
            scope: g.scope.clone(),
        }
    }
}

impl Admin {
    pub async fn list_grants(
        &self,
        filter: GrantFilter,
        query: ListQuery,
    ) -> AdminResult<Listed<GrantView>> {
        let listed = Self::list(
            query,
            |page| self.store.list_grants(&filter, page),
            self.store.count_grants(&filter),
        )
        .await?;
        Ok(Listed {
            items: listed.items.iter().map(GrantView::from).collect(),
            start: listed.start,
            limit: listed.limit,
            total: listed.total,
        })
    }

    /// Deletes one grant and revokes its families.
    pub async fn delete_grant(&self, id: &str, actor: &Actor) -> AdminResult<()> {
        let (grant, revoked) = self
            .store
            .withdraw_grant(id, self.clock.now(), REASON)
            .await?
            .ok_or_else(|| AdminError::not_found(Missing::Grant, "The grant does not exist"))?;
        self.audit_withdrawn(&grant, revoked, actor).await;
        Ok(())
    }

    /// Deletes every grant of a user and revokes their families; answers how many grants.
    pub async fn delete_user_grants(&self, user_id: &str, actor: &Actor) -> AdminResult<usize> {
        let withdrawn = self
            .store
            .withdraw_user_grants(user_id, self.clock.now(), REASON)
            .await?;
        for (grant, revoked) in &withdrawn {
            self.audit_withdrawn(grant, *revoked, actor).await;
        }
        Ok(withdrawn.len())
    }

    async fn audit_withdrawn(&self, grant: &Grant, revoked: u64, actor: &Actor) {
        self.audit(
            AuditType::Revoked,
            "Grant deleted: consent withdrawn and the refresh tokens of this user, client and audience revoked",
            Subject {
                client_id: Some(&grant.client_id),
                user_id: Some(&grant.user_id),
            },
            actor,
            serde_json::json!({
                "reason": REASON,
                "grant_id": grant.id,
                "audience": grant.audience,
                "families_revoked": revoked,
            }),
        )
        .await;
    }
}

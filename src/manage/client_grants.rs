//! Client grants: Auth0's `/api/v2/client-grants`. A grant lets one client get
//! `client_credentials` tokens for one API, with scopes the API defines.

use super::Missing;
use serde::{Deserialize, Serialize};

use super::{Admin, AdminError, AdminResult, ListQuery, Listed};
use crate::domain::{ClientGrant, ResourceServer};
use crate::store::{ClientGrantFilter, StoreError};
use crate::tokens::secrets::random_alphanumeric;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientGrantInput {
    pub client_id: Option<String>,
    pub audience: Option<String>,
    pub scope: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientGrantView {
    pub id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<String>,
}

impl From<&ClientGrant> for ClientGrantView {
    fn from(g: &ClientGrant) -> Self {
        Self {
            id: g.id.clone(),
            client_id: g.client_id.clone(),
            audience: g.audience.clone(),
            scope: g.scope.clone(),
        }
    }
}

fn check_scope(api: &ResourceServer, scope: Vec<String>) -> AdminResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(scope.len());
    for s in scope {
        if !api.has_scope(&s) {
            return Err(AdminError::invalid(format!(
                "scope {s:?} is not defined by the resource server {:?}",
                api.identifier
            )));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

impl Admin {
    pub async fn create_client_grant(
        &self,
        input: ClientGrantInput,
    ) -> AdminResult<ClientGrantView> {
        let client_id = input
            .client_id
            .ok_or_else(|| AdminError::invalid("Missing required property: client_id"))?;
        let audience = input
            .audience
            .ok_or_else(|| AdminError::invalid("Missing required property: audience"))?;
        let scope = input
            .scope
            .ok_or_else(|| AdminError::invalid("Missing required property: scope"))?;
        self.load_client(&client_id).await?;
        let api = self
            .store
            .get_resource_server_by_identifier(&audience)
            .await?
            .ok_or_else(|| {
                AdminError::not_found(
                    Missing::ResourceServer,
                    format!("No resource server found for audience {audience:?}"),
                )
            })?;
        let now = self.clock.now();
        let grant = ClientGrant {
            id: format!("cgr_{}", random_alphanumeric(16)),
            client_id,
            audience,
            scope: check_scope(&api, scope)?,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_client_grant(&grant).await {
            Err(StoreError::Conflict) => Err(AdminError::Conflict {
                error_code: "conflict",
                message: "A client grant for this client and audience already exists".into(),
            }),
            other => other.map_err(AdminError::from),
        }?;
        self.record("Create a client grant", serde_json::json!({ "id": grant.id, "client_id": grant.client_id, "audience": grant.audience })).await;
        Ok(ClientGrantView::from(&grant))
    }

    pub async fn list_client_grants(
        &self,
        filter: ClientGrantFilter,
        query: ListQuery,
    ) -> AdminResult<Listed<ClientGrantView>> {
        let listed = Self::list(
            query,
            |page| self.store.list_client_grants(&filter, page),
            self.store.count_client_grants(&filter),
        )
        .await?;
        Ok(Listed {
            items: listed.items.iter().map(ClientGrantView::from).collect(),
            start: listed.start,
            limit: listed.limit,
            total: listed.total,
        })
    }

    async fn load_client_grant(&self, id: &str) -> AdminResult<ClientGrant> {
        self.store.get_client_grant(id).await?.ok_or_else(|| {
            AdminError::not_found(Missing::ClientGrant, "The client grant does not exist")
        })
    }

    pub async fn get_client_grant(&self, id: &str) -> AdminResult<ClientGrantView> {
        Ok(ClientGrantView::from(&self.load_client_grant(id).await?))
    }

    /// Only `scope` can change.
    pub async fn update_client_grant(
        &self,
        id: &str,
        patch: ClientGrantInput,
    ) -> AdminResult<ClientGrantView> {
        let mut grant = self.load_client_grant(id).await?;
        if patch.client_id.is_some_and(|c| c != grant.client_id)
            || patch.audience.is_some_and(|a| a != grant.audience)
        {
            return Err(AdminError::invalid(
                "client_id and audience of a client grant cannot be changed",
            ));
        }
        if let Some(scope) = patch.scope {
            let api = self
                .store
                .get_resource_server_by_identifier(&grant.audience)
                .await?
                .ok_or_else(|| {
                    AdminError::not_found(
                        Missing::ResourceServer,
                        "The resource server does not exist",
                    )
                })?;
            grant.scope = check_scope(&api, scope)?;
        }
        grant.updated_at = self.clock.now();
        if !self.store.update_client_grant(&grant).await? {
            return Err(AdminError::not_found(
                Missing::ClientGrant,
                "The client grant does not exist",
            ));
        }
        self.record(
            "Update a client grant",
            serde_json::json!({ "id": grant.id }),
        )
        .await;
        Ok(ClientGrantView::from(&grant))
    }

    pub async fn delete_client_grant(&self, id: &str) -> AdminResult<()> {
        if self.store.delete_client_grant(id).await? {
            self.record("Delete a client grant", serde_json::json!({ "id": id }))
                .await;
            Ok(())
        } else {
            Err(AdminError::not_found(
                Missing::ClientGrant,
                "The client grant does not exist",
            ))
        }
    }
}

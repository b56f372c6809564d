//! Device credentials: Auth0's `/api/v2/device-credentials`, the older view of refresh tokens.
//! One item per live family, with id `dcr_` + the family id and type `refresh_token`
//! (non-rotating) or `rotating_refresh_token`. Deleting one revokes exactly that family.

use super::Missing;
use serde::Serialize;

use super::audit::Actor;
use super::refresh_tokens::reason;
use super::{Admin, AdminError, AdminResult, ListQuery, Listed};
use crate::domain::Family;
use crate::store::FamilyFilter;

const ID_PREFIX: &str = "dcr_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceCredentialView {
    pub id: String,
    pub device_name: String,
    /// Auth0 leaves it empty for refresh tokens.
    pub device_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub user_id: String,
    pub client_id: String,
}

impl From<&Family> for DeviceCredentialView {
    fn from(f: &Family) -> Self {
        Self {
            id: format!("{ID_PREFIX}{}", f.id),
            device_name: f.device.clone(),
            device_id: String::new(),
            kind: if f.rotating {
                "rotating_refresh_token"
            } else {
                "refresh_token"
            },
            user_id: f.user_id.clone(),
            client_id: f.client_id.clone(),
        }
    }
}

/// The list's filters: `user_id` is required, as Auth0 requires it.
#[derive(Debug, Clone, Default)]
pub struct DeviceCredentialQuery {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub kind: Option<String>,
}

fn not_found() -> AdminError {
    AdminError::not_found(
        Missing::DeviceCredential,
        "The device credential does not exist",
    )
}

impl Admin {
    pub async fn list_device_credentials(
        &self,
        q: DeviceCredentialQuery,
        query: ListQuery,
    ) -> AdminResult<Listed<DeviceCredentialView>> {
        let user_id = q.user_id.ok_or_else(|| {
            AdminError::InvalidQuery("Query validation error: user_id is required".into())
        })?;
        let rotating = match q.kind.as_deref() {
            None => None,
            Some("refresh_token") => Some(false),
            Some("rotating_refresh_token") => Some(true),
            // Tessera holds no public-key device credentials.
            Some("public_key") => {
                let page = query.page()?;
                return Ok(Listed {
                    items: Vec::new(),
                    start: page.offset,
                    limit: page.limit,
                    total: query.include_totals.then_some(0),
                });
            }
            Some(other) => {
                return Err(AdminError::InvalidQuery(format!(
                    "Query validation error: type {other:?} is not one of public_key, \
                     refresh_token, rotating_refresh_token"
                )));
            }
        };
        let filter = FamilyFilter {
            user_id,
            client_id: q.client_id,
            rotating,
            now: self.clock.now(),
        };
        let listed = Self::list(
            query,
            |page| self.store.list_live_families(&filter, None, page),
            self.store.count_live_families(&filter),
        )
        .await?;
        Ok(Listed {
            items: listed
                .items
                .iter()
                .map(DeviceCredentialView::from)
                .collect(),
            start: listed.start,
            limit: listed.limit,
            total: listed.total,
        })
    }

    /// Revokes exactly the family behind this device credential.
    pub async fn delete_device_credential(&self, id: &str, actor: &Actor) -> AdminResult<()> {
        let family_id = id.strip_prefix(ID_PREFIX).ok_or_else(not_found)?;
        self.revoke_one_family(
            family_id,
            reason::DEVICE_CREDENTIAL_DELETED,
            "Device credential deleted (DELETE /api/v2/device-credentials/{id})",
            actor,
        )
        .await?
        .map(|_| ())
        .ok_or_else(not_found)
    }
}

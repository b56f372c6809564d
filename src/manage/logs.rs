//! Auth0's `/api/v2/logs` over the audit events, newest first.

use super::Missing;
use serde::Serialize;

use super::{Admin, AdminError, AdminResult, ListQuery, Listed};
use crate::clock::rfc3339;
use crate::domain::AuditEvent;
use crate::store::AuditFilter;

/// An Auth0 log event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogView {
    pub log_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub date: String,
    pub description: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
}

impl From<&AuditEvent> for LogView {
    fn from(e: &AuditEvent) -> Self {
        Self {
            log_id: e.id.clone(),
            kind: e.kind.code().to_owned(),
            date: rfc3339(e.date),
            description: e.description.clone(),
            client_id: e.client_id.clone(),
            user_id: e.user_id.clone(),
            ip: e.ip.clone(),
            user_agent: e.user_agent.clone(),
            details: serde_json::from_str(&e.details)
                .unwrap_or_else(|_| serde_json::Value::Object(Default::default())),
        }
    }
}

impl Admin {
    pub async fn list_logs(
        &self,
        filter: AuditFilter,
        query: ListQuery,
    ) -> AdminResult<Listed<LogView>> {
        let listed = Self::list(
            query,
            |page| self.store.find_audit_events(&filter, page),
            self.store.count_audit_events(&filter),
        )
        .await?;
        Ok(Listed {
            items: listed.items.iter().map(LogView::from).collect(),
            start: listed.start,
            limit: listed.limit,
            total: listed.total,
        })
    }

    pub async fn get_log(&self, id: &str) -> AdminResult<LogView> {
        self.store
            .get_audit_event(id)
            .await?
            .map(|e| LogView::from(&e))
            .ok_or_else(|| AdminError::not_found(Missing::Log, "The log event does not exist"))
    }
}

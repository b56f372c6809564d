//! Audit events written by administrative actions, and who acted (DESIGN.md "Audit events").

use super::Admin;
use crate::domain::{AuditEvent, AuditType};
use crate::tokens::secrets::random_alphanumeric;

/// Who made an administrative request: the Management API client, and where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// The calling client (`azp` of its Management API token); `None` for the CLI.
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What an audit event is about.
pub struct Subject<'a> {
    pub client_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
}

impl Admin {
    /// Writes an audit event about `subject`; the acting client goes into `details.actor`. A
    /// failure is logged, never fails the request: the change itself is already done.
    pub(super) async fn audit(
        &self,
        kind: AuditType,
        description: &str,
        subject: Subject<'_>,
        actor: &Actor,
        mut details: serde_json::Value,
    ) {
        if let (Some(map), Some(caller)) = (details.as_object_mut(), &actor.client_id) {
            map.insert("actor".into(), serde_json::json!({ "client_id": caller }));
        }
        let now = self.clock.now();
        let event = AuditEvent {
            id: format!("{now:012}{}", random_alphanumeric(12)),
            kind,
            date: now,
            description: description.to_owned(),
            client_id: subject.client_id.map(str::to_owned),
            user_id: subject.user_id.map(str::to_owned),
            ip: actor.ip.clone(),
            user_agent: actor
                .user_agent
                .as_ref()
                .map(|ua| ua.chars().take(512).collect()),
            details: details.to_string(),
        };
        if let Err(e) = self.store.insert_audit_event(&event).await {
            tracing::error!(error = %e, kind = kind.code(), "cannot write an audit event");
        }
    }
}

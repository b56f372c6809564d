//! Refresh-token families (DESIGN.md "Refresh tokens: the model") and audit events.

use crate::clock::Timestamp;

/// What one login of one user on one client for one audience produced; one row however often it
/// rotates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub audience: String,
    /// Space-separated scope granted at creation (RFC 6749 §6: never widened).
    pub scope: String,
    pub device: String,
    pub rotating: bool,
    pub generation: i64,
    pub rotated_at: Option<Timestamp>,
    pub leeway: i64,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub idle_lifetime: Option<i64>,
    pub last_exchanged_at: Timestamp,
    pub auth_time: Timestamp,
    pub auth_policy_version: i64,
    pub code_hash: Option<Vec<u8>>,
    pub initial_ip: String,
    pub initial_user_agent: String,
    pub last_ip: String,
    pub last_user_agent: String,
    pub last_outcome: RefreshOutcome,
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
}

impl Family {
    /// When the idle lifetime runs out unless the family is exchanged before; `None`: no idle
    /// limit.
    pub fn idle_expires_at(&self) -> Option<Timestamp> {
        self.idle_lifetime
            .map(|idle| self.last_exchanged_at.saturating_add(idle))
    }

    /// Not revoked and not expired (absolutely or idle) at `now`. The rules that depend on
    /// other rows (user blocked, password changed, client policy) are not looked at here.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none()
            && self.expires_at.is_none_or(|end| end > now)
            && self.idle_expires_at().is_none_or(|end| end > now)
    }
}

/// What a family's last event was (its `last_outcome`): its issue, or what the last exchange did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Issued at a login; never exchanged.
    Issued,
    /// The current token was exchanged and the family moved to the next generation.
    Rotated,
    /// The token before the current one came back within the leeway: the same next token again.
    Leeway,
    /// A non-rotating family's token was exchanged (it stays the same).
    Exchanged,
    /// A retired token was presented: the family is revoked.
    Reused,
}

impl RefreshOutcome {
    pub const ALL: [RefreshOutcome; 5] = [
        Self::Issued,
        Self::Rotated,
        Self::Leeway,
        Self::Exchanged,
        Self::Reused,
    ];

    /// The stored form (and the `outcome` label of `tessera_refresh_exchanges_total`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Rotated => "rotated",
            Self::Leeway => "leeway",
            Self::Exchanged => "exchanged",
            Self::Reused => "reused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// An event in Auth0's log style; never holds a token or secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: String,
    pub kind: super::AuditType,
    pub date: Timestamp,
    pub description: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// JSON object.
    pub details: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family() -> Family {
        Family {
            id: "f".into(),
            user_id: "u".into(),
            client_id: "c".into(),
            audience: "a".into(),
            scope: String::new(),
            device: String::new(),
            rotating: true,
            generation: 0,
            rotated_at: None,
            leeway: 0,
            created_at: 100,
            expires_at: Some(1_000),
            idle_lifetime: Some(50),
            last_exchanged_at: 200,
            auth_time: 100,
            auth_policy_version: 0,
            code_hash: None,
            initial_ip: String::new(),
            initial_user_agent: String::new(),
            last_ip: String::new(),
            last_user_agent: String::new(),
            last_outcome: RefreshOutcome::Issued,
            revoked_at: None,
            revoked_reason: None,
        }
    }

    #[test]
    fn live_until_revoked_or_either_lifetime_ends() {
        let f = family();
        assert_eq!(f.idle_expires_at(), Some(250));
        assert!(f.is_live(249));
        assert!(!f.is_live(250), "idle lifetime over");
        let endless = Family {
            idle_lifetime: None,
            ..family()
        };
        assert_eq!(endless.idle_expires_at(), None);
        assert!(endless.is_live(999));
        assert!(!endless.is_live(1_000), "absolute lifetime over");
        let forever = Family {
            expires_at: None,
            ..endless.clone()
        };
        assert!(forever.is_live(i64::MAX));
        let revoked = Family {
            revoked_at: Some(150),
            ..forever
        };
        assert!(!revoked.is_live(160));
    }
}

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

/// Why an exchange was refused without rotating anything (reuse is not a refusal: it revokes).
/// The first rule a family breaks, in this order, is its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such family for this client, a generation it never reached, or its API or user gone.
    Unknown,
    /// Revoked (by reuse, a revocation path, a newer device, the family limit, a policy raise).
    Revoked,
    /// Past its absolute lifetime.
    Expired,
    /// Past its idle lifetime.
    IdleExpired,
    /// Its user is blocked.
    UserBlocked,
    /// Its user's password changed after it was created (with the setting on).
    PasswordChanged,
    /// Created under a lower `auth_policy_version` than the client's.
    PolicyChanged,
}

impl Refusal {
    pub const ALL: [Refusal; 7] = [
        Self::Unknown,
        Self::Revoked,
        Self::Expired,
        Self::IdleExpired,
        Self::UserBlocked,
        Self::PasswordChanged,
        Self::PolicyChanged,
    ];

    /// The `outcome` label of `tessera_refresh_exchanges_total` for a refused exchange.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::IdleExpired => "idle_expired",
            Self::UserBlocked => "user_blocked",
            Self::PasswordChanged => "password_changed",
            Self::PolicyChanged => "policy_changed",
        }
    }
}

/// Each rule of the exchange as the store evaluated it for one family and one request (the SQL
/// of each is written once, in `store::sql_refresh`). A family may be exchanged when all hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyChecks {
    /// The family is the authenticated client's, its user and API exist, and the presented
    /// generation is one it reached.
    pub known: bool,
    pub not_revoked: bool,
    pub within_lifetime: bool,
    pub within_idle_lifetime: bool,
    pub user_active: bool,
    pub password_unchanged: bool,
    pub policy_current: bool,
    /// The presented generation is the current one (not a rule: what the exchange does next).
    pub current: bool,
    /// The presented generation is the one before, within the leeway: answered again.
    pub leeway_retry: bool,
}

impl FamilyChecks {
    /// The first rule the family breaks, if any.
    pub fn refusal(&self) -> Option<Refusal> {
        [
            (self.known, Refusal::Unknown),
            (self.not_revoked, Refusal::Revoked),
            (self.within_lifetime, Refusal::Expired),
            (self.within_idle_lifetime, Refusal::IdleExpired),
            (self.user_active, Refusal::UserBlocked),
            (self.password_unchanged, Refusal::PasswordChanged),
            (self.policy_current, Refusal::PolicyChanged),
        ]
        .into_iter()
        .find_map(|(holds, refusal)| (!holds).then_some(refusal))
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
    fn a_refusal_names_the_first_rule_broken() {
        let all = FamilyChecks {
            known: true,
            not_revoked: true,
            within_lifetime: true,
            within_idle_lifetime: true,
            user_active: true,
            password_unchanged: true,
            policy_current: true,
            current: false,
            leeway_retry: false,
        };
        assert_eq!(
            all.refusal(),
            None,
            "a retired generation is not a refusal but reuse"
        );
        type Break = fn(&mut FamilyChecks);
        let broken: [(Break, Refusal); 7] = [
            (|c| c.known = false, Refusal::Unknown),
            (|c| c.not_revoked = false, Refusal::Revoked),
            (|c| c.within_lifetime = false, Refusal::Expired),
            (|c| c.within_idle_lifetime = false, Refusal::IdleExpired),
            (|c| c.user_active = false, Refusal::UserBlocked),
            (|c| c.password_unchanged = false, Refusal::PasswordChanged),
            (|c| c.policy_current = false, Refusal::PolicyChanged),
        ];
        for (i, (breaks, refusal)) in broken.iter().enumerate() {
            let mut checks = all;
            breaks(&mut checks);
            assert_eq!(checks.refusal(), Some(*refusal));
            // With every later rule broken too, the earliest still names the refusal.
            for (later, _) in &broken[i..] {
                later(&mut checks);
            }
            assert_eq!(checks.refusal(), Some(*refusal));
        }
        let labels: std::collections::HashSet<_> =
            Refusal::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), Refusal::ALL.len());
        for outcome in RefreshOutcome::ALL {
            assert!(!labels.contains(outcome.as_str()), "one label per outcome");
        }
    }

    #[test]
    fn the_idle_lifetime_runs_from_the_last_exchange() {
        assert_eq!(family().idle_expires_at(), Some(250));
        let endless = Family {
            idle_lifetime: None,
            ..family()
        };
        assert_eq!(endless.idle_expires_at(), None);
    }
}

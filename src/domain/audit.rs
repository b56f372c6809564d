//! Audit events in Auth0's log style (DESIGN.md "Audit events"): each type once, with the code
//! Auth0 uses for it. The code is the only string form, written and read at the store and the
//! wire; inside, a type is this enum.

/// An audit event's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditType {
    /// `s`: a successful login.
    Login,
    /// `f`: a failed login for another reason than the credentials (the user is blocked).
    LoginFailed,
    /// `fp`: a wrong password.
    WrongPassword,
    /// `fu`: an unknown user.
    UnknownUser,
    /// `limit_wc`: a login refused by the failed-login throttle.
    Throttled,
    /// `srti`: a refresh-token family issued.
    FamilyIssued,
    /// `fertft`: a retired refresh token presented again; the family is revoked.
    Reuse,
    /// `fecrp`: an authorization code presented again; what it issued is revoked.
    CodeReplay,
    /// `srrt`: refresh tokens revoked (the path's reason in `details`).
    Revoked,
    /// `sd`: an ID token issued by `/delegation`.
    Delegation,
    /// `sapi`: an administrative change through the Management API or the CLI.
    AdminChange,
}

impl AuditType {
    pub const ALL: [AuditType; 11] = [
        Self::Login,
        Self::LoginFailed,
        Self::WrongPassword,
        Self::UnknownUser,
        Self::Throttled,
        Self::FamilyIssued,
        Self::Reuse,
        Self::CodeReplay,
        Self::Revoked,
        Self::Delegation,
        Self::AdminChange,
    ];

    /// Auth0's code for this type.
    pub fn code(self) -> &'static str {
        match self {
            Self::Login => "s",
            Self::LoginFailed => "f",
            Self::WrongPassword => "fp",
            Self::UnknownUser => "fu",
            Self::Throttled => "limit_wc",
            Self::FamilyIssued => "srti",
            Self::Reuse => "fertft",
            Self::CodeReplay => "fecrp",
            Self::Revoked => "srrt",
            Self::Delegation => "sd",
            Self::AdminChange => "sapi",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }
}

impl std::fmt::Display for AuditType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_has_one_code_that_reads_back() {
        let mut codes = std::collections::BTreeSet::new();
        for t in AuditType::ALL {
            assert!(codes.insert(t.code()), "{} twice", t.code());
            assert_eq!(AuditType::parse(t.code()), Some(t));
        }
        assert_eq!(AuditType::parse("ferrt"), None);
        assert_eq!(AuditType::Reuse.code(), "fertft");
    }
}

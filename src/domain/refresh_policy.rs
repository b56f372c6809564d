//! The rules of a client's refresh-token policy (Auth0's `refresh_token` object), in one place:
//! which combinations are valid, and what a change of one field does to the fields derived from
//! it. The Management API and the CLI both go through `RefreshTokenSettings::patched`; the start-up
//! check and `tessera clients check` through `RefreshTokenSettings::problems`.
//!
//! - `rotation_type: rotating` needs `expiration_type: expiring` (Auth0: "rotation requires an
//!   expiring refresh token").
//! - `expiration_type: non-expiring` means both `infinite_token_lifetime` and
//!   `infinite_idle_token_lifetime` are true (Auth0 answers them so); `expiring` needs at least one
//!   of them false, or nothing would ever expire.
//! - Switching `expiration_type` carries the two `infinite_*` flags with it (true for
//!   `non-expiring`, false for `expiring`) unless the same change names them; naming the current
//!   type again does the same when the stored flags contradict it (a policy stored before these
//!   rules is mended by the change that states what it should be).
//! - Lifetimes are 1 s to 5 years (Auth0's schema bounds); when both are finite, the idle lifetime
//!   may not exceed the absolute one.

use serde::Deserialize;

use super::client::{ExpirationType, RefreshTokenSettings, RotationType};

/// The longest `token_lifetime` / `idle_token_lifetime`: 5 years (Auth0's schema maximum).
pub const MAX_LIFETIME: u64 = 157_788_000;

/// Fields of Auth0's `refresh_token` object, any of which may be left out: the named ones change,
/// the rest stay (or follow the rules above).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RefreshTokenPatch {
    pub rotation_type: Option<RotationType>,
    pub expiration_type: Option<ExpirationType>,
    pub leeway: Option<u64>,
    pub token_lifetime: Option<u64>,
    pub infinite_token_lifetime: Option<bool>,
    pub idle_token_lifetime: Option<u64>,
    pub infinite_idle_token_lifetime: Option<bool>,
}

/// A rule a refresh-token policy breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyProblem {
    /// Rotating tokens that never expire.
    RotatingNeverExpires,
    /// `non-expiring` with a finite lifetime (which flag).
    NonExpiringWithLifetime { idle: bool },
    /// `expiring` with both lifetimes infinite.
    ExpiringWithoutLifetime,
    /// A lifetime outside 1 s ..= `MAX_LIFETIME` (which one).
    LifetimeOutOfRange { idle: bool },
    /// The idle lifetime exceeds the absolute one (both finite).
    IdleBeyondAbsolute,
}

impl std::fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let infinite = |idle: bool| {
            if idle {
                "refresh_token.infinite_idle_token_lifetime"
            } else {
                "refresh_token.infinite_token_lifetime"
            }
        };
        let lifetime = |idle: bool| {
            if idle {
                "refresh_token.idle_token_lifetime"
            } else {
                "refresh_token.token_lifetime"
            }
        };
        match *self {
            Self::RotatingNeverExpires => f.write_str(
                "refresh_token.rotation_type \"rotating\" needs refresh_token.expiration_type \"expiring\"",
            ),
            Self::NonExpiringWithLifetime { idle } => write!(
                f,
                "refresh_token.expiration_type \"non-expiring\" contradicts {} false",
                infinite(idle)
            ),
            Self::ExpiringWithoutLifetime => f.write_str(
                "refresh_token.expiration_type \"expiring\" needs refresh_token.infinite_token_lifetime or refresh_token.infinite_idle_token_lifetime to be false",
            ),
            Self::LifetimeOutOfRange { idle } => write!(
                f,
                "{} must be between 1 and {MAX_LIFETIME} seconds",
                lifetime(idle)
            ),
            Self::IdleBeyondAbsolute => f.write_str(
                "refresh_token.idle_token_lifetime must not exceed refresh_token.token_lifetime",
            ),
        }
    }
}

/// Every problem of a policy, in the order of the rules; empty when it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblems(pub Vec<PolicyProblem>);

impl std::fmt::Display for PolicyProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl RefreshTokenSettings {
    /// What is wrong with this policy (nothing, for a valid one).
    pub fn problems(&self) -> Vec<PolicyProblem> {
        let mut problems = Vec::new();
        let expiring = self.expiration_type == ExpirationType::Expiring;
        if self.rotation_type == RotationType::Rotating && !expiring {
            problems.push(PolicyProblem::RotatingNeverExpires);
        }
        if expiring {
            if self.infinite_token_lifetime && self.infinite_idle_token_lifetime {
                problems.push(PolicyProblem::ExpiringWithoutLifetime);
            }
        } else {
            for (idle, infinite) in [
                (false, self.infinite_token_lifetime),
                (true, self.infinite_idle_token_lifetime),
            ] {
                if !infinite {
                    problems.push(PolicyProblem::NonExpiringWithLifetime { idle });
                }
            }
        }
        for (idle, seconds) in [
            (false, self.token_lifetime),
            (true, self.idle_token_lifetime),
        ] {
            if !(1..=MAX_LIFETIME).contains(&seconds) {
                problems.push(PolicyProblem::LifetimeOutOfRange { idle });
            }
        }
        if !self.infinite_token_lifetime
            && !self.infinite_idle_token_lifetime
            && self.idle_token_lifetime > self.token_lifetime
        {
            problems.push(PolicyProblem::IdleBeyondAbsolute);
        }
        problems
    }

    /// This policy with `patch` applied and the derived fields following it; refused, with every
    /// problem named, when the result is not valid.
    pub fn patched(&self, patch: &RefreshTokenPatch) -> Result<Self, PolicyProblems> {
        let mut next = self.clone();
        if let Some(v) = patch.rotation_type {
            next.rotation_type = v;
        }
        if let Some(v) = patch.expiration_type {
            next.expiration_type = v;
            // The infinite flags belong to the expiration type: they follow a change of it, and
            // naming it again mends flags that contradict it (stored before these rules).
            let contradicts = match v {
                ExpirationType::Expiring => {
                    self.infinite_token_lifetime && self.infinite_idle_token_lifetime
                }
                ExpirationType::NonExpiring => {
                    !(self.infinite_token_lifetime && self.infinite_idle_token_lifetime)
                }
            };
            if v != self.expiration_type || contradicts {
                let infinite = v == ExpirationType::NonExpiring;
                next.infinite_token_lifetime = infinite;
                next.infinite_idle_token_lifetime = infinite;
            }
        }
        if let Some(v) = patch.leeway {
            next.leeway = v;
        }
        if let Some(v) = patch.token_lifetime {
            next.token_lifetime = v;
        }
        if let Some(v) = patch.infinite_token_lifetime {
            next.infinite_token_lifetime = v;
        }
        if let Some(v) = patch.idle_token_lifetime {
            next.idle_token_lifetime = v;
        }
        if let Some(v) = patch.infinite_idle_token_lifetime {
            next.infinite_idle_token_lifetime = v;
        }
        let problems = next.problems();
        if problems.is_empty() {
            Ok(next)
        } else {
            Err(PolicyProblems(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PolicyProblem::*;
    use super::*;
    use ExpirationType::{Expiring, NonExpiring};
    use RotationType::{NonRotating, Rotating};

    fn settings(
        rotation: RotationType,
        expiration: ExpirationType,
        infinite: (bool, bool),
        lifetimes: (u64, u64),
    ) -> RefreshTokenSettings {
        RefreshTokenSettings {
            rotation_type: rotation,
            expiration_type: expiration,
            leeway: 0,
            token_lifetime: lifetimes.0,
            infinite_token_lifetime: infinite.0,
            idle_token_lifetime: lifetimes.1,
            infinite_idle_token_lifetime: infinite.1,
        }
    }

    const DAYS_30_15: (u64, u64) = (2_592_000, 1_296_000);

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(RefreshTokenSettings::rotating_default().problems(), []);
        assert_eq!(RefreshTokenSettings::legacy_default().problems(), []);
    }

    #[test]
    fn each_combination_is_valid_or_names_its_problems() {
        let table: &[(RefreshTokenSettings, &[PolicyProblem])] = &[
            // Valid.
            (
                settings(Rotating, Expiring, (false, false), DAYS_30_15),
                &[],
            ),
            (
                settings(NonRotating, Expiring, (false, false), DAYS_30_15),
                &[],
            ),
            (
                settings(NonRotating, NonExpiring, (true, true), DAYS_30_15),
                &[],
            ),
            // Auth0 itself answers expiring with an infinite absolute and a finite idle lifetime.
            (settings(Rotating, Expiring, (true, false), DAYS_30_15), &[]),
            (
                settings(NonRotating, Expiring, (false, true), DAYS_30_15),
                &[],
            ),
            // An infinite lifetime's value is kept but not compared.
            (
                settings(NonRotating, Expiring, (true, false), (60, 120)),
                &[],
            ),
            (settings(Rotating, Expiring, (false, false), (1, 1)), &[]),
            (
                settings(
                    Rotating,
                    Expiring,
                    (false, false),
                    (MAX_LIFETIME, MAX_LIFETIME),
                ),
                &[],
            ),
            // Refused.
            (
                settings(Rotating, NonExpiring, (true, true), DAYS_30_15),
                &[RotatingNeverExpires],
            ),
            (
                settings(NonRotating, Expiring, (true, true), DAYS_30_15),
                &[ExpiringWithoutLifetime],
            ),
            (
                settings(Rotating, Expiring, (true, true), DAYS_30_15),
                &[ExpiringWithoutLifetime],
            ),
            (
                settings(NonRotating, NonExpiring, (false, true), DAYS_30_15),
                &[NonExpiringWithLifetime { idle: false }],
            ),
            (
                settings(NonRotating, NonExpiring, (false, false), DAYS_30_15),
                &[
                    NonExpiringWithLifetime { idle: false },
                    NonExpiringWithLifetime { idle: true },
                ],
            ),
            (
                settings(Rotating, NonExpiring, (true, false), DAYS_30_15),
                &[RotatingNeverExpires, NonExpiringWithLifetime { idle: true }],
            ),
            (
                settings(Rotating, Expiring, (false, false), (0, 1)),
                &[LifetimeOutOfRange { idle: false }, IdleBeyondAbsolute],
            ),
            (
                settings(Rotating, Expiring, (false, false), (60, 0)),
                &[LifetimeOutOfRange { idle: true }],
            ),
            (
                settings(Rotating, Expiring, (true, false), (MAX_LIFETIME + 1, 60)),
                &[LifetimeOutOfRange { idle: false }],
            ),
            (
                settings(Rotating, Expiring, (false, false), (60, 61)),
                &[IdleBeyondAbsolute],
            ),
        ];
        for (policy, expected) in table {
            assert_eq!(&policy.problems(), expected, "{policy:?}");
        }
    }

    #[test]
    fn switching_expiration_type_carries_the_infinite_flags() {
        // The README's legacy migration: a legacy client made rotating and expiring.
        let legacy = RefreshTokenSettings::legacy_default();
        let patch = RefreshTokenPatch {
            rotation_type: Some(Rotating),
            expiration_type: Some(Expiring),
            ..Default::default()
        };
        let next = legacy.patched(&patch).unwrap();
        assert!(!next.infinite_token_lifetime && !next.infinite_idle_token_lifetime);
        assert_eq!(
            (next.token_lifetime, next.idle_token_lifetime),
            (legacy.token_lifetime, legacy.idle_token_lifetime)
        );
        // Back to non-expiring: both infinite again.
        let back = RefreshTokenPatch {
            rotation_type: Some(NonRotating),
            expiration_type: Some(NonExpiring),
            ..Default::default()
        };
        let again = next.patched(&back).unwrap();
        assert!(again.infinite_token_lifetime && again.infinite_idle_token_lifetime);
        // Named flags win over the derived ones: expiring with only an idle lifetime.
        let idle_only = RefreshTokenPatch {
            expiration_type: Some(Expiring),
            infinite_token_lifetime: Some(true),
            ..Default::default()
        };
        let p = legacy.patched(&idle_only).unwrap();
        assert!(p.infinite_token_lifetime && !p.infinite_idle_token_lifetime);
        // Repeating the current expiration type changes nothing else.
        let same = RefreshTokenPatch {
            expiration_type: Some(NonExpiring),
            ..Default::default()
        };
        assert_eq!(legacy.patched(&same).unwrap(), legacy);
        let idle_only_again = RefreshTokenPatch {
            expiration_type: Some(Expiring),
            ..Default::default()
        };
        assert_eq!(p.patched(&idle_only_again).unwrap(), p);
        // ... unless the stored flags contradict it: what the old README migration left (expiring,
        // both lifetimes infinite) is mended by the new one.
        let stored = settings(NonRotating, Expiring, (true, true), DAYS_30_15);
        assert_eq!(stored.problems(), [ExpiringWithoutLifetime]);
        let mended = stored.patched(&patch).unwrap();
        assert!(!mended.infinite_token_lifetime && !mended.infinite_idle_token_lifetime);
        assert_eq!(mended.rotation_type, Rotating);
    }

    #[test]
    fn contradictory_changes_are_refused_with_every_problem() {
        let legacy = RefreshTokenSettings::legacy_default();
        let rotate_only = RefreshTokenPatch {
            rotation_type: Some(Rotating),
            ..Default::default()
        };
        assert_eq!(
            legacy.patched(&rotate_only).unwrap_err().0,
            [RotatingNeverExpires]
        );
        let contradiction = RefreshTokenPatch {
            expiration_type: Some(Expiring),
            infinite_token_lifetime: Some(true),
            infinite_idle_token_lifetime: Some(true),
            ..Default::default()
        };
        let refused = legacy.patched(&contradiction).unwrap_err();
        assert_eq!(refused.0, [ExpiringWithoutLifetime]);
        assert!(
            refused
                .to_string()
                .contains("refresh_token.expiration_type")
        );
        let conformant = RefreshTokenSettings::rotating_default();
        let longer_idle = RefreshTokenPatch {
            idle_token_lifetime: Some(conformant.token_lifetime + 1),
            ..Default::default()
        };
        assert_eq!(
            conformant.patched(&longer_idle).unwrap_err().to_string(),
            "refresh_token.idle_token_lifetime must not exceed refresh_token.token_lifetime"
        );
        let finite_non_expiring = RefreshTokenPatch {
            rotation_type: Some(NonRotating),
            expiration_type: Some(NonExpiring),
            infinite_idle_token_lifetime: Some(false),
            ..Default::default()
        };
        assert_eq!(
            conformant.patched(&finite_non_expiring).unwrap_err().0,
            [NonExpiringWithLifetime { idle: true }]
        );
    }
}

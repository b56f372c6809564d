//! The exchange's rules on every backend: each rule refuses with its own answer and changes
//! nothing; the accepted outcomes rotate, answer the leeway retry, or revoke for reuse.

use tessera::domain::{Family, RefreshOutcome, Refusal};
use tessera::store::{ExchangeAnswer, ExchangeRequest};

use super::*;

const NOW: i64 = START + 10;

fn request(family_id: &str, generation: i64) -> ExchangeRequest<'_> {
    ExchangeRequest {
        family_id,
        generation,
        now: NOW,
        ip: "203.0.113.9",
        user_agent: "contract",
        password_rule: true,
        client_id: "rules",
        policy_version: 0,
    }
}

/// What an exchange answered: the outcome recorded, or the refusal.
async fn answer(store: &SharedStore, req: &ExchangeRequest<'_>) -> Result<RefreshOutcome, Refusal> {
    match store.exchange_family(req).await.unwrap() {
        ExchangeAnswer::Done(done) => Ok(done.family.last_outcome),
        ExchangeAnswer::Refused(refusal) => Err(refusal),
    }
}

store_test!(each_exchange_rule_answers_on_its_own, |store| {
    let active = user("rules", "rules@example.com");
    let blocked = User {
        blocked: true,
        ..user("blocked", "blocked@example.com")
    };
    let changed = User {
        password_changed_at: Some(START + 1),
        ..user("changed", "changed@example.com")
    };
    for u in [&active, &blocked, &changed] {
        store.insert_user(u).await.unwrap();
    }
    store.insert_client(&client("rules", START)).await.unwrap();
    store.insert_client(&client("other", START)).await.unwrap();
    store
        .insert_resource_server(&api("api", "https://api.test/", SigningAlg::ES256))
        .await
        .unwrap();
    let of = |id: &str| family(id, &active.user_id, "rules");
    let families = vec![
        of("live"),
        Family {
            leeway: 30,
            generation: 1,
            rotated_at: Some(NOW - 5),
            ..of("leeway")
        },
        Family {
            rotating: false,
            ..of("non-rotating")
        },
        Family {
            client_id: "other".into(),
            ..of("foreign")
        },
        Family {
            revoked_at: Some(START),
            revoked_reason: Some("test".into()),
            // Revoked and expired: the first rule broken answers.
            expires_at: Some(NOW),
            ..of("revoked")
        },
        Family {
            expires_at: Some(NOW),
            ..of("expired")
        },
        Family {
            last_exchanged_at: NOW - 50,
            ..of("idle")
        },
        family("blocked", &blocked.user_id, "rules"),
        family("changed", &changed.user_id, "rules"),
        Family {
            auth_policy_version: 0,
            ..of("old-policy")
        },
    ];
    support(&store).insert_families(&families).await.unwrap();

    // Refusals: nothing changes, whatever the presented generation.
    let refused = [
        (request("missing", 0), Refusal::Unknown),
        (request("foreign", 0), Refusal::Unknown),
        (request("live", 5), Refusal::Unknown),
        (request("revoked", 0), Refusal::Revoked),
        (request("expired", 0), Refusal::Expired),
        (request("idle", 0), Refusal::IdleExpired),
        (request("blocked", 0), Refusal::UserBlocked),
        (request("changed", 0), Refusal::PasswordChanged),
        (
            ExchangeRequest {
                policy_version: 1,
                ..request("old-policy", 0)
            },
            Refusal::PolicyChanged,
        ),
    ];
    for (req, refusal) in &refused {
        let before = store.get_family(req.family_id).await.unwrap();
        assert_eq!(
            answer(&store, req).await,
            Err(*refusal),
            "{}",
            req.family_id
        );
        assert_eq!(
            store.get_family(req.family_id).await.unwrap(),
            before,
            "{} changed",
            req.family_id
        );
    }

    // The same rules, read without changing anything.
    let checks = store
        .family_checks(&request("expired", 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checks.refusal(), Some(Refusal::Expired));
    assert!(checks.current);
    assert!(
        store
            .family_checks(&request("missing", 0))
            .await
            .unwrap()
            .is_none()
    );

    // With the password rule off, the changed password does not matter.
    let lenient = ExchangeRequest {
        password_rule: false,
        ..request("changed", 0)
    };
    assert_eq!(answer(&store, &lenient).await, Ok(RefreshOutcome::Rotated));

    // Accepted: rotation, the leeway retry, a non-rotating exchange, then reuse.
    assert_eq!(
        answer(&store, &request("live", 0)).await,
        Ok(RefreshOutcome::Rotated)
    );
    let live = store.get_family("live").await.unwrap().unwrap();
    assert_eq!((live.generation, live.rotated_at), (1, Some(NOW)));
    assert_eq!(
        answer(&store, &request("leeway", 0)).await,
        Ok(RefreshOutcome::Leeway)
    );
    assert_eq!(
        store
            .get_family("leeway")
            .await
            .unwrap()
            .unwrap()
            .generation,
        1,
        "a leeway retry answers the current generation, it does not rotate"
    );
    assert_eq!(
        answer(&store, &request("non-rotating", 0)).await,
        Ok(RefreshOutcome::Exchanged)
    );
    assert_eq!(
        answer(&store, &request("non-rotating", 0)).await,
        Ok(RefreshOutcome::Exchanged),
        "a non-rotating token stays the same"
    );
    assert_eq!(
        answer(&store, &request("live", 0)).await,
        Ok(RefreshOutcome::Reused)
    );
    let reused = store.get_family("live").await.unwrap().unwrap();
    assert_eq!(reused.revoked_reason.as_deref(), Some("reuse"));
    assert_eq!(
        answer(&store, &request("live", 1)).await,
        Err(Refusal::Revoked),
        "after reuse, the current token is refused too"
    );
});

store_test!(a_policy_raise_revokes_the_clients_older_families, |store| {
    let u = user("policy", "policy@example.com");
    store.insert_user(&u).await.unwrap();
    store.insert_client(&client("rules", START)).await.unwrap();
    store.insert_client(&client("other", START)).await.unwrap();
    let families = vec![
        family("v0", &u.user_id, "rules"),
        Family {
            auth_policy_version: 2,
            ..family("v2", &u.user_id, "rules")
        },
        family("other-v0", &u.user_id, "other"),
    ];
    support(&store).insert_families(&families).await.unwrap();
    assert_eq!(
        store.revoke_policy_families("rules", 2, NOW).await.unwrap(),
        1
    );
    let reason = |f: Option<Family>| f.unwrap().revoked_reason;
    assert_eq!(
        reason(store.get_family("v0").await.unwrap()).as_deref(),
        Some("auth_policy_raised")
    );
    assert_eq!(reason(store.get_family("v2").await.unwrap()), None);
    assert_eq!(reason(store.get_family("other-v0").await.unwrap()), None);
});

store_test!(
    a_family_is_live_until_revoked_or_either_lifetime_ends,
    |store| {
        let u = user("live", "live@example.com");
        store.insert_user(&u).await.unwrap();
        store.insert_client(&client("rules", START)).await.unwrap();
        // family(): expires at START + 100, idle lifetime 50 from START.
        let families = vec![
            family("idle-limited", &u.user_id, "rules"),
            Family {
                idle_lifetime: None,
                ..family("endless-idle", &u.user_id, "rules")
            },
            Family {
                idle_lifetime: None,
                expires_at: None,
                ..family("forever", &u.user_id, "rules")
            },
            Family {
                idle_lifetime: None,
                expires_at: None,
                revoked_at: Some(START + 1),
                ..family("revoked", &u.user_id, "rules")
            },
        ];
        support(&store).insert_families(&families).await.unwrap();
        let live = |id: &'static str, at: i64| {
            let store = store.clone();
            async move { store.get_live_family(id, at).await.unwrap().is_some() }
        };
        assert!(live("idle-limited", START + 49).await);
        assert!(
            !live("idle-limited", START + 50).await,
            "idle lifetime over"
        );
        assert!(live("endless-idle", START + 99).await);
        assert!(
            !live("endless-idle", START + 100).await,
            "absolute lifetime over"
        );
        assert!(live("forever", i64::MAX).await);
        assert!(!live("revoked", START + 2).await);
        assert!(!live("missing", START).await);
    }
);

/// The validate-then-commit form: read, then commit (the exchange, whose presented generation is
/// the compare-and-set).
async fn read_then_commit(
    store: &SharedStore,
    req: &ExchangeRequest<'_>,
) -> Result<RefreshOutcome, Refusal> {
    let read = store
        .read_exchange(req)
        .await
        .unwrap()
        .ok_or(Refusal::Unknown)?;
    if let Some(refusal) = read.checks.refusal() {
        return Err(refusal);
    }
    assert!(
        read.exchanged.is_some(),
        "a family every rule accepts is read whole"
    );
    match store.exchange_family(req).await.unwrap() {
        ExchangeAnswer::Done(done) => Ok(done.family.last_outcome),
        ExchangeAnswer::Refused(refusal) => Err(refusal),
    }
}

store_test!(
    validate_then_commit_reads_without_changing_anything,
    |store| {
        let u = user("vtc", "vtc@example.com");
        store.insert_user(&u).await.unwrap();
        store.insert_client(&client("rules", START)).await.unwrap();
        store
            .insert_resource_server(&api("api", "https://api.test/", SigningAlg::ES256))
            .await
            .unwrap();
        support(&store)
            .insert_families(&[
                family("read", &u.user_id, "rules"),
                Family {
                    expires_at: Some(NOW),
                    ..family("expired", &u.user_id, "rules")
                },
            ])
            .await
            .unwrap();

        // The read changes nothing and answers what the exchange would.
        let read = store
            .read_exchange(&request("read", 0))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.checks.refusal(), None);
        assert!(read.checks.current && !read.checks.leeway_retry);
        let current = read.exchanged.unwrap();
        assert_eq!(current.family.generation, 0);
        assert_eq!(current.user.user_id, u.user_id);
        assert_eq!(current.signing_alg, SigningAlg::ES256);
        assert_eq!(
            store.get_family("read").await.unwrap().unwrap().generation,
            0
        );
        let expired = store
            .read_exchange(&request("expired", 0))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(expired.checks.refusal(), Some(Refusal::Expired));
        assert!(expired.exchanged.is_none());
        assert!(
            store
                .read_exchange(&request("missing", 0))
                .await
                .unwrap()
                .is_none()
        );

        // Another exchange rotated between the read and the commit: the commit is decided on
        // the family as it is now (the generation read is retired: reuse).
        assert_eq!(
            answer(&store, &request("read", 0)).await,
            Ok(RefreshOutcome::Rotated)
        );
        assert_eq!(
            answer(&store, &request("read", 0)).await,
            Ok(RefreshOutcome::Reused)
        );
        let reused = store.get_family("read").await.unwrap().unwrap();
        assert_eq!(reused.revoked_reason.as_deref(), Some("reuse"));
    }
);

store_test!(
    validate_then_commit_rotates_once_among_racing_exchanges,
    |store| {
        let u = user("race", "race@example.com");
        store.insert_user(&u).await.unwrap();
        store.insert_client(&client("rules", START)).await.unwrap();
        store
            .insert_resource_server(&api("api", "https://api.test/", SigningAlg::ES256))
            .await
            .unwrap();
        support(&store)
            .insert_families(&[
                family("strict", &u.user_id, "rules"),
                Family {
                    leeway: 30,
                    ..family("lenient", &u.user_id, "rules")
                },
            ])
            .await
            .unwrap();
        for (id, others) in [
            ("strict", RefreshOutcome::Reused),
            ("lenient", RefreshOutcome::Leeway),
        ] {
            let racers: Vec<_> = (0..16)
                .map(|_| {
                    let store = store.clone();
                    tokio::spawn(async move { read_then_commit(&store, &request(id, 0)).await })
                })
                .collect();
            let mut outcomes = Vec::new();
            for racer in racers {
                outcomes.push(racer.await.unwrap());
            }
            let rotated = outcomes
                .iter()
                .filter(|o| **o == Ok(RefreshOutcome::Rotated))
                .count();
            assert_eq!(rotated, 1, "{id}: {outcomes:?}");
            for outcome in &outcomes {
                assert!(
                    *outcome == Ok(RefreshOutcome::Rotated)
                    || *outcome == Ok(others)
                    // After a reuse revoked the family, later racers find it revoked.
                    || (others == RefreshOutcome::Reused && *outcome == Err(Refusal::Revoked)),
                    "{id}: {outcomes:?}"
                );
            }
            let family = store.get_family(id).await.unwrap().unwrap();
            assert_eq!(family.generation, 1, "{id}");
            assert_eq!(
                family.revoked_at.is_some(),
                others == RefreshOutcome::Reused,
                "{id}"
            );
        }
    }
);

//! The audit log: admin changes and refresh-token events are recorded, never with a secret.

use crate::helpers::support;
use axum::http::Method;
use serde_json::json;

use crate::each_backend;

each_backend!(admin_changes_are_recorded_without_secrets, |app| {
    let client = app
        .create_client(json!({ "name": "audited", "app_type": "non_interactive" }))
        .await;
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    let token = app.management_token(None).await;
    let rotated = app
        .send_json(
            Method::POST,
            &format!("/api/v2/clients/{id}/rotate-secret"),
            None,
            Some(&token),
        )
        .await
        .json();
    let user = app
        .send_json(
            Method::POST,
            "/api/v2/users",
            Some(json!({ "connection": "Username-Password-Authentication", "email": "a@b.test", "password": "correct horse battery" })),
            Some(&token),
        )
        .await
        .json();
    let events = support(&app.store)
        .list_audit_events(Some("sapi"), 50)
        .await
        .unwrap();
    let descriptions: Vec<&str> = events.iter().map(|e| e.description.as_str()).collect();
    assert!(
        descriptions.contains(&"Create a client"),
        "{descriptions:?}"
    );
    assert!(
        descriptions.contains(&"Rotate a client secret"),
        "{descriptions:?}"
    );
    assert!(descriptions.contains(&"Create a user"), "{descriptions:?}");
    let user_event = events
        .iter()
        .find(|e| e.description == "Create a user")
        .unwrap();
    assert_eq!(user_event.user_id.as_deref(), user["user_id"].as_str());
    for event in &events {
        let text = format!("{} {}", event.description, event.details);
        assert!(!text.contains(secret));
        assert!(!text.contains(rotated["client_secret"].as_str().unwrap()));
        assert!(!text.contains("correct horse battery"));
    }
});

each_backend!(
    old_audit_events_and_dead_families_are_purged_after_retention,
    |app| {
        let c = crate::refresh::setup(&app, serde_json::Value::Null).await;
        let t0 = crate::refresh::login(&app, &c, "offline_access").await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let live = crate::refresh::login(&app, &c, "offline_access").await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let t1 = crate::refresh::rotate(&app, &c, &t0).await;
        crate::refresh::assert_invalid(&crate::refresh::refresh(&app, &c, &t0).await); // reuse: revoked
        let _ = t1;
        assert!(
            !support(&app.store)
                .list_audit_events(None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(support(&app.store).count_family_rows().await.unwrap(), 2);
        // 31 days later, everything older than 30 days goes, except live families.
        app.clock.advance(31 * 86_400);
        let cutoff = app.clock_now() - 30 * 86_400;
        let purged = app.store.purge_old_records(cutoff, 1000).await.unwrap();
        assert!(purged >= 2, "{purged}");
        assert!(
            support(&app.store)
                .list_audit_events(None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        // The family revoked on day 0 is gone; the other one expired on day 30, inside the
        // retention period, so its record stays for now.
        assert_eq!(support(&app.store).count_family_rows().await.unwrap(), 1);
        assert!(
            app.store
                .get_family(live.split('.').nth(1).unwrap())
                .await
                .unwrap()
                .is_some()
        );
    }
);

each_backend!(logins_failures_and_blocked_attempts_are_recorded, |app| {
    let c = crate::refresh::setup(&app, serde_json::Value::Null).await;
    let attempt = |password: &'static str| {
        let c = &c;
        let app = &app;
        async move {
            app.post_form(
                "/oauth/token",
                &[
                    ("grant_type", "password"),
                    ("client_id", &c.id),
                    ("client_secret", &c.secret),
                    ("username", "ada@example.com"),
                    ("password", password),
                ],
                None,
            )
            .await
        }
    };
    assert_eq!(attempt("correct horse battery").await.status, 200);
    assert_eq!(attempt("wrong password").await.status, 400);
    let token = app.management_token(None).await;
    app.send_json(
        Method::PATCH,
        &format!("/api/v2/users/{}", c.user_id.replace('|', "%7C")),
        Some(json!({ "blocked": true })),
        Some(&token),
    )
    .await;
    assert_eq!(attempt("correct horse battery").await.status, 400);
    for (kind, user) in [("s", true), ("fp", true), ("f", true)] {
        let events = support(&app.store)
            .list_audit_events(Some(kind), 10)
            .await
            .unwrap();
        assert_eq!(events.len(), 1, "{kind}");
        assert_eq!(
            events[0].client_id.as_deref(),
            Some(c.id.as_str()),
            "{kind}"
        );
        if user {
            assert_eq!(
                events[0].user_id.as_deref(),
                Some(c.user_id.as_str()),
                "{kind}"
            );
        }
        assert!(
            !events[0].details.contains("correct horse")
                && !events[0].details.contains("wrong password")
        );
    }
});

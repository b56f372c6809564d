//! The audit log: admin changes and refresh-token events are recorded, never with a secret.

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
    let events = app.store.list_audit_events(Some("sapi"), 50).await.unwrap();
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

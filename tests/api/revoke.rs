//! `POST /oauth/revoke` (RFC 7009, seed 002): what is revoked, what survives, and the errors.

use crate::helpers::support;
use axum::http::Method;
use serde_json::{Value, json};

use crate::each_backend;
use crate::helpers::{TestApp, TestResponse};
use crate::refresh::{App2, assert_invalid, login, password_login, refresh, rotate, setup};

const OTHER_API: &str = "https://orders.example.com/";

async fn revoke(app: &TestApp, c: &App2, token: &str) -> TestResponse {
    app.post_form(
        "/oauth/revoke",
        &[
            ("client_id", &c.id),
            ("client_secret", &c.secret),
            ("token", token),
        ],
        None,
    )
    .await
}

async fn login_for(app: &TestApp, c: &App2, audience: &str) -> String {
    let body = password_login(
        app,
        c,
        "correct horse battery",
        &[("scope", "offline_access"), ("audience", audience)],
    )
    .await;
    token(body)
}

fn token(body: Value) -> String {
    body["refresh_token"].as_str().unwrap().to_owned()
}

each_backend!(
    revoking_kills_every_device_of_the_grant_and_nothing_else,
    |app| {
        let c = setup(&app, Value::Null).await;
        app.create_api(json!({ "identifier": OTHER_API, "allow_offline_access": true }))
            .await;
        let phone = token(login(&app, &c, "offline_access").await);
        let laptop = token(login(&app, &c, "offline_access").await);
        let other_audience = login_for(&app, &c, OTHER_API).await;
        let other_client = {
            let client = app
            .create_client(json!({ "name": "other", "app_type": "regular_web", "grant_types": ["password", "refresh_token"] }))
            .await;
            let other = App2 {
                id: client["client_id"].as_str().unwrap().to_owned(),
                secret: client["client_secret"].as_str().unwrap().to_owned(),
                user_id: c.user_id.clone(),
            };
            (token(login(&app, &other, "offline_access").await), other)
        };
        let phone1 = rotate(&app, &c, &phone).await;

        let response = revoke(&app, &c, &phone1).await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert!(response.body.is_empty());
        // Every device of this user + client + audience is gone…
        assert_invalid(&refresh(&app, &c, &phone1).await);
        assert_invalid(&refresh(&app, &c, &laptop).await);
        // …other audiences and other clients are not.
        rotate(&app, &c, &other_audience).await;
        rotate(&app, &other_client.1, &other_client.0).await;
        let events = support(&app.store)
            .list_audit_events(Some("srrt"), 10)
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert!(
            events[0].details.contains("\"families_revoked\":2"),
            "{}",
            events[0].details
        );
    }
);

each_backend!(
    another_clients_token_or_an_unknown_one_answers_200_and_stays_valid,
    |app| {
        let c = setup(&app, Value::Null).await;
        let mine = token(login(&app, &c, "offline_access").await);
        let client = app
        .create_client(json!({ "name": "other", "app_type": "regular_web", "grant_types": ["refresh_token"] }))
        .await;
        let other = App2 {
            id: client["client_id"].as_str().unwrap().to_owned(),
            secret: client["client_secret"].as_str().unwrap().to_owned(),
            user_id: String::new(),
        };
        let response = revoke(&app, &other, &mine).await;
        assert_eq!(response.status, 200);
        assert!(response.body.is_empty());
        rotate(&app, &c, &mine).await;
        for unknown in ["not-a-token", "1.abc.0.AAAA", "eyJhbGciOiJSUzI1NiJ9.e30.x"] {
            assert_eq!(revoke(&app, &c, unknown).await.status, 200);
        }
    }
);

each_backend!(revocation_errors, |app| {
    let c = setup(&app, Value::Null).await;
    let t = token(login(&app, &c, "offline_access").await);
    app.post_form(
        "/oauth/revoke",
        &[("client_id", &c.id), ("client_secret", &c.secret)],
        None,
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    app.post_form("/oauth/revoke", &[("token", &t)], None)
        .await
        .assert_oauth_error(400, "invalid_request");
    let wrong = App2 {
        id: c.id.clone(),
        secret: "wrong".into(),
        user_id: String::new(),
    };
    revoke(&app, &wrong, &t)
        .await
        .assert_oauth_error(401, "invalid_client");
    let response = app
        .post_form(
            "/oauth/revoke",
            &[("token", t.as_str())],
            Some((c.id.as_str(), "wrong")),
        )
        .await;
    response.assert_oauth_error(401, "invalid_client");
    assert!(response.header("www-authenticate").is_some());
    // Nothing was revoked by the refused requests.
    rotate(&app, &c, &t).await;
});

each_backend!(basic_json_and_public_clients_can_revoke, |app| {
    let c = setup(&app, Value::Null).await;
    // Basic credentials work for a client registered with client_secret_post.
    let t = token(login(&app, &c, "offline_access").await);
    let response = app
        .post_form(
            "/oauth/revoke",
            &[("token", t.as_str())],
            Some((c.id.as_str(), c.secret.as_str())),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_invalid(&refresh(&app, &c, &t).await);
    // JSON bodies.
    let t = token(login(&app, &c, "offline_access").await);
    let response = app
        .send_json(
            Method::POST,
            "/oauth/revoke",
            Some(json!({ "client_id": c.id, "client_secret": c.secret, "token": t })),
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_invalid(&refresh(&app, &c, &t).await);
    // A public client revokes with its client_id alone.
    let t = token(login(&app, &c, "offline_access").await);
    let mgmt = app.management_token(None).await;
    let patched = app
        .send_json(
            Method::PATCH,
            &format!("/api/v2/clients/{}", c.id),
            Some(json!({ "token_endpoint_auth_method": "none" })),
            Some(&mgmt),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    let response = app
        .post_form(
            "/oauth/revoke",
            &[("client_id", c.id.as_str()), ("token", t.as_str())],
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let family = app
        .store
        .get_family(t.split('.').nth(1).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(family.revoked_reason.as_deref(), Some("revoked"));
});

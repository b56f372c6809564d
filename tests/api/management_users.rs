//! `/api/v2/users`: users of the database connection, with argon2id password hashes that are
//! never answered.

use axum::http::Method;
use serde_json::{Value, json};

use crate::each_backend;
use crate::helpers::{TestApp, TestResponse};
use crate::management::{assert_api_code, seg};

const CONNECTION: &str = "Username-Password-Authentication";
const PASSWORD: &str = "correct horse battery staple";

async fn post_user(app: &TestApp, token: &str, body: Value) -> TestResponse {
    app.send_json(Method::POST, "/api/v2/users", Some(body), Some(token))
        .await
}

async fn create_user(app: &TestApp, token: &str, email: &str) -> Value {
    let response = post_user(
        app,
        token,
        json!({ "connection": CONNECTION, "email": email, "password": PASSWORD }),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text());
    response.json()
}

fn user_path(user: &Value) -> String {
    format!("/api/v2/users/{}", seg(user["user_id"].as_str().unwrap()))
}

async fn stored_hash(app: &TestApp, user_id: &str) -> String {
    app.store
        .get_user(user_id)
        .await
        .unwrap()
        .expect("stored user")
        .password_hash
        .expect("a password hash")
}

each_backend!(create_answers_an_auth0_user_without_secrets, |app| {
    let token = app.management_token(None).await;
    let response = post_user(
        &app,
        &token,
        json!({
            "connection": CONNECTION,
            "email": "Alice@Example.COM",
            "password": PASSWORD,
            "name": "Alice",
        }),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let text = response.text();
    assert!(
        !text.contains(PASSWORD) && !text.contains("argon2"),
        "{text}"
    );
    let user = response.json();
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    let user_id = user["user_id"].as_str().unwrap();
    let bare = user_id
        .strip_prefix("auth0|")
        .unwrap_or_else(|| panic!("auth0| prefix: {user_id}"));
    assert!(!bare.is_empty());
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["blocked"], false);
    assert_eq!(user["name"], "Alice");
    assert_eq!(user["logins_count"], 0);
    assert_eq!(
        user["identities"],
        json!([{ "connection": CONNECTION, "provider": "auth0", "user_id": bare, "isSocial": false }])
    );
    assert!(user.get("last_password_reset").is_none(), "{user}");

    let hash = stored_hash(&app, user_id).await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(
        app.state
            .admin
            .passwords
            .verify(PASSWORD, Some(&hash))
            .await
    );

    let fetched = app.get(&user_path(&user), Some(&token)).await;
    assert_eq!(fetched.status, 200, "{}", fetched.text());
    assert_eq!(fetched.json(), user);
    let missing = app.get("/api/v2/users/auth0%7Cnope", Some(&token)).await;
    assert_api_code(&missing, 404, "inexistent_user");
});

each_backend!(duplicate_emails_are_409, |app| {
    let token = app.management_token(None).await;
    create_user(&app, &token, "bob@example.com").await;
    for email in ["bob@example.com", "BOB@example.com", " bob@example.com "] {
        let response = post_user(
            &app,
            &token,
            json!({ "connection": CONNECTION, "email": email, "password": PASSWORD }),
        )
        .await;
        let body = response.assert_api_error(409);
        assert!(body["errorCode"].is_string(), "{body}");
    }
    // Moving another user onto the address is a conflict too.
    let carol = create_user(&app, &token, "carol@example.com").await;
    let response = app
        .send_json(
            Method::PATCH,
            &user_path(&carol),
            Some(json!({ "email": "Bob@Example.com" })),
            Some(&token),
        )
        .await;
    response.assert_api_error(409);
    assert_eq!(
        app.get(&user_path(&carol), Some(&token)).await.json(),
        carol
    );
});

each_backend!(invalid_users_are_400, |app| {
    let token = app.management_token(None).await;
    let ok =
        |email: &str| json!({ "connection": CONNECTION, "email": email, "password": PASSWORD });
    let mut cases = vec![
        (
            "weak password",
            json!({ "connection": CONNECTION, "email": "a@example.com", "password": "1234567" }),
        ),
        (
            "missing password",
            json!({ "connection": CONNECTION, "email": "a@example.com" }),
        ),
        (
            "missing connection",
            json!({ "email": "a@example.com", "password": PASSWORD }),
        ),
        (
            "unknown connection",
            json!({ "connection": "google-oauth2", "email": "a@example.com", "password": PASSWORD }),
        ),
        (
            "missing email",
            json!({ "connection": CONNECTION, "password": PASSWORD }),
        ),
        (
            "blocked not a bool",
            json!({ "connection": CONNECTION, "email": "a@example.com", "password": PASSWORD, "blocked": "no" }),
        ),
    ];
    for email in [
        "not-an-email",
        "a@",
        "@example.com",
        "a b@example.com",
        "a@b@example.com",
        "",
    ] {
        cases.push(("invalid email", ok(email)));
    }
    for (what, body) in cases {
        eprintln!("case: {what}: {body}");
        assert_api_code(&post_user(&app, &token, body).await, 400, "invalid_body");
    }
    let listed = app
        .get("/api/v2/users?include_totals=true", Some(&token))
        .await
        .json();
    assert_eq!(listed["total"], 0, "nothing was created: {listed}");

    // Eight characters is enough.
    let response = post_user(
        &app,
        &token,
        json!({ "connection": CONNECTION, "email": "a@example.com", "password": "12345678" }),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text());
});

each_backend!(patch_changes_only_the_named_fields, |app| {
    let token = app.management_token(None).await;
    let user = create_user(&app, &token, "dave@example.com").await;
    let path = user_path(&user);
    let (app_ref, path_ref, token_ref) = (&app, path.as_str(), token.as_str());
    let patch =
        move |body: Value| app_ref.send_json(Method::PATCH, path_ref, Some(body), Some(token_ref));

    app.clock.advance(60);
    let response = patch(json!({ "blocked": true })).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let patched = response.json();
    assert_ne!(patched["updated_at"], user["updated_at"]);
    let mut expected = user.clone();
    expected["blocked"] = json!(true);
    expected["updated_at"] = patched["updated_at"].clone();
    assert_eq!(patched, expected);

    let response = patch(json!({ "name": "Dave D." })).await;
    expected["name"] = json!("Dave D.");
    let patched = response.json();
    expected["updated_at"] = patched["updated_at"].clone();
    assert_eq!(patched, expected);
    assert_eq!(app.get(&path, Some(&token)).await.json(), expected);
    let before = stored_hash(&app, user["user_id"].as_str().unwrap()).await;
    assert!(
        app.state
            .admin
            .passwords
            .verify(PASSWORD, Some(&before))
            .await,
        "hash untouched"
    );

    for bad in [
        json!({ "password": "short" }),
        json!({ "email": "nope" }),
        json!({ "connection": "other" }),
    ] {
        assert_api_code(&patch(bad).await, 400, "invalid_body");
    }
    assert_eq!(
        app.get(&path, Some(&token)).await.json(),
        expected,
        "refused patches change nothing"
    );
    let missing = app
        .send_json(
            Method::PATCH,
            "/api/v2/users/auth0%7Cnope",
            Some(json!({ "blocked": true })),
            Some(&token),
        )
        .await;
    assert_api_code(&missing, 404, "inexistent_user");
});

each_backend!(patching_the_password_rehashes_it, |app| {
    let token = app.management_token(None).await;
    let user = create_user(&app, &token, "erin@example.com").await;
    let user_id = user["user_id"].as_str().unwrap();
    let before = stored_hash(&app, user_id).await;
    assert!(user.get("last_password_reset").is_none());

    app.clock.advance(3600);
    let new_password = "a different passphrase";
    let response = app
        .send_json(
            Method::PATCH,
            &user_path(&user),
            Some(json!({ "password": new_password })),
            Some(&token),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(!response.text().contains(new_password));
    let patched = response.json();
    let reset = patched["last_password_reset"]
        .as_str()
        .expect("last_password_reset");
    assert_eq!(reset, patched["updated_at"].as_str().unwrap());
    assert!(reset.starts_with("2026-01-01T01:00:00"), "{reset}");
    for field in ["email", "name", "blocked", "identities", "created_at"] {
        assert_eq!(patched[field], user[field], "{field}");
    }

    let after = stored_hash(&app, user_id).await;
    assert_ne!(after, before);
    assert!(after.starts_with("$argon2id$"), "{after}");
    assert!(
        app.state
            .admin
            .passwords
            .verify(new_password, Some(&after))
            .await
    );
    assert!(
        !app.state
            .admin
            .passwords
            .verify(PASSWORD, Some(&after))
            .await
    );
});

each_backend!(user_lists_page_and_deletes_are_final, |app| {
    let token = app.management_token(None).await;
    let mut users = Vec::new();
    for n in 0..3 {
        users.push(create_user(&app, &token, &format!("user{n}@example.com")).await);
    }
    let body = app
        .get(
            "/api/v2/users?include_totals=true&per_page=2&page=0",
            Some(&token),
        )
        .await
        .json();
    assert_eq!(body["total"], 3, "{body}");
    assert_eq!(body["start"], 0);
    assert_eq!(body["limit"], 2);
    assert_eq!(body["length"], 2);
    assert_eq!(body["users"].as_array().unwrap().len(), 2);
    let bare = app.get("/api/v2/users", Some(&token)).await.json();
    assert_eq!(bare.as_array().unwrap().len(), 3);
    assert!(
        !app.get("/api/v2/users", Some(&token))
            .await
            .text()
            .contains("argon2")
    );
    let response = app.get("/api/v2/users?q=email:user0", Some(&token)).await;
    assert_api_code(&response, 400, "invalid_query_string");

    let path = user_path(&users[0]);
    let response = app
        .send_json(Method::DELETE, &path, None, Some(&token))
        .await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert!(response.body.is_empty());
    assert_api_code(&app.get(&path, Some(&token)).await, 404, "inexistent_user");
    let again = app
        .send_json(Method::DELETE, &path, None, Some(&token))
        .await;
    assert_api_code(&again, 404, "inexistent_user");
    assert!(
        app.store
            .get_user(users[0]["user_id"].as_str().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let body = app
        .get("/api/v2/users?include_totals=true", Some(&token))
        .await
        .json();
    assert_eq!(body["total"], 2);
    // The address is free again.
    create_user(&app, &token, "user0@example.com").await;
});

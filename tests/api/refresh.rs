//! Refresh-token families: issuing, rotation, reuse of any earlier token, forged tokens, the
//! leeway retry, lifetimes, races, constant storage and the invalidation rules.

use crate::helpers::support;
use axum::http::Method;
use serde_json::{Value, json};

use crate::each_backend;
use crate::helpers::{Backend, TestApp, TestResponse, jwt_parts};

const PASSWORD: &str = "correct horse battery";
const INVALID: &str = "Unknown or invalid refresh token.";

pub struct App2 {
    pub id: String,
    pub secret: String,
    pub user_id: String,
}

/// A user and a first-party client allowed the password and refresh_token grants, with these
/// `refresh_token` settings.
pub async fn setup(app: &TestApp, refresh_token: Value) -> App2 {
    let token = app.management_token(None).await;
    let user = app
        .send_json(
            Method::POST,
            "/api/v2/users",
            Some(json!({
                "connection": "Username-Password-Authentication",
                "email": "ada@example.com",
                "password": PASSWORD,
            })),
            Some(&token),
        )
        .await
        .json();
    let mut body = json!({
        "name": "app",
        "app_type": "regular_web",
        "grant_types": ["password", "refresh_token"],
    });
    if !refresh_token.is_null() {
        body["refresh_token"] = refresh_token;
    }
    let client = app.create_client(body).await;
    App2 {
        id: client["client_id"].as_str().unwrap().to_owned(),
        secret: client["client_secret"].as_str().unwrap().to_owned(),
        user_id: user["user_id"].as_str().unwrap().to_owned(),
    }
}

pub async fn login(app: &TestApp, c: &App2, scope: &str) -> Value {
    password_login(app, c, PASSWORD, &[("scope", scope)]).await
}

/// A password-grant login of ada@example.com with `password` and extra parameters; asserts 200.
pub async fn password_login(
    app: &TestApp,
    c: &App2,
    password: &str,
    extra: &[(&str, &str)],
) -> Value {
    let mut pairs = vec![
        ("grant_type", "password"),
        ("client_id", c.id.as_str()),
        ("client_secret", c.secret.as_str()),
        ("username", "ada@example.com"),
        ("password", password),
    ];
    pairs.extend_from_slice(extra);
    let response = app.post_form("/oauth/token", &pairs, None).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

pub async fn refresh(app: &TestApp, c: &App2, token: &str) -> TestResponse {
    app.post_form(
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.id),
            ("client_secret", &c.secret),
            ("refresh_token", token),
        ],
        None,
    )
    .await
}

/// Exchanges and answers the next refresh token, asserting success.
pub async fn rotate(app: &TestApp, c: &App2, token: &str) -> String {
    let response = refresh(app, c, token).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["refresh_token"]
        .as_str()
        .expect("a rotating family answers the next token")
        .to_owned()
}

#[track_caller]
pub fn assert_invalid(response: &TestResponse) {
    response.assert_oauth_error(400, "invalid_grant");
    assert_eq!(response.json()["error_description"], INVALID);
}

each_backend!(
    rotation_answers_new_tokens_and_an_id_token_only_with_openid,
    |app| {
        let c = setup(&app, Value::Null).await;
        let first = login(&app, &c, "openid offline_access").await;
        let t0 = first["refresh_token"]
            .as_str()
            .expect("offline_access gives a refresh token");
        let response = refresh(&app, &c, t0).await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("cache-control"), Some("no-store"));
        let body = response.json();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "openid offline_access");
        assert!(body["expires_in"].as_u64().unwrap() > 0);
        assert!(body["id_token"].is_string());
        let t1 = body["refresh_token"].as_str().unwrap();
        assert_ne!(t1, t0);
        let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
        assert_eq!(claims["sub"], c.user_id.as_str());

        // Without openid there is no ID token.
        let plain = login(&app, &c, "offline_access").await;
        let body = refresh(&app, &c, plain["refresh_token"].as_str().unwrap())
            .await
            .json();
        assert!(body.get("id_token").is_none(), "{body}");
        assert!(body["refresh_token"].is_string());
    }
);

each_backend!(
    no_refresh_token_without_offline_access_or_the_grant,
    |app| {
        let c = setup(&app, Value::Null).await;
        let body = login(&app, &c, "openid").await;
        assert!(body.get("refresh_token").is_none());
        // An API without allow_offline_access drops offline_access.
        app.create_api(json!({ "identifier": "https://closed.example.com/" }))
            .await;
        let response = app
            .post_form(
                "/oauth/token",
                &[
                    ("grant_type", "password"),
                    ("client_id", &c.id),
                    ("client_secret", &c.secret),
                    ("username", "ada@example.com"),
                    ("password", PASSWORD),
                    ("scope", "offline_access"),
                    ("audience", "https://closed.example.com/"),
                ],
                None,
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert!(response.json().get("refresh_token").is_none());
        // A client without the refresh_token grant gets none either.
        let token = app.management_token(None).await;
        app.send_json(
            Method::PATCH,
            &format!("/api/v2/clients/{}", c.id),
            Some(json!({ "grant_types": ["password"] })),
            Some(&token),
        )
        .await;
        assert!(
            login(&app, &c, "offline_access")
                .await
                .get("refresh_token")
                .is_none()
        );
    }
);

each_backend!(reusing_any_earlier_token_revokes_the_family_only, |app| {
    let c = setup(&app, Value::Null).await;
    let t0 = login(&app, &c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = login(&app, &c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t1 = rotate(&app, &c, &t0).await;
    let t2 = rotate(&app, &c, &t1).await;
    let t3 = rotate(&app, &c, &t2).await;
    // t1 is the third-to-last token of the chain t1, t2, t3.
    assert_invalid(&refresh(&app, &c, &t1).await);
    // The family is dead: even the current token fails now.
    assert_invalid(&refresh(&app, &c, &t3).await);
    // The user's other login keeps working.
    rotate(&app, &c, &other).await;
    // An audit event records the reuse, without the token.
    let events = support(&app.store)
        .list_audit_events(Some("fertft"), 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id.as_deref(), Some(c.user_id.as_str()));
    assert!(!events[0].details.contains(&t1) && !events[0].description.contains(&t1));
});

each_backend!(
    a_forged_token_with_a_real_family_id_revokes_nothing,
    |app| {
        let c = setup(&app, Value::Null).await;
        let t0 = login(&app, &c, "offline_access").await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let t1 = rotate(&app, &c, &t0).await;
        let parts: Vec<&str> = t1.split('.').collect();
        assert_eq!(parts.len(), 4, "kid.family.generation.mac: {t1}");
        // Same family, an earlier generation, a made-up MAC: it would be reuse if it were believed.
        let forged = format!("{}.{}.0.{}", parts[0], parts[1], "A".repeat(43));
        assert_invalid(&refresh(&app, &c, &forged).await);
        let forged = format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], "B".repeat(43));
        assert_invalid(&refresh(&app, &c, &forged).await);
        assert_invalid(&refresh(&app, &c, "not-a-token").await);
        // The family is untouched.
        rotate(&app, &c, &t1).await;
    }
);

each_backend!(a_retry_inside_the_leeway_gets_the_same_next_token, |app| {
    let c = setup(&app, json!({ "leeway": 10 })).await;
    let t0 = login(&app, &c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t1 = rotate(&app, &c, &t0).await;
    app.clock.advance(5);
    let again = rotate(&app, &c, &t0).await;
    assert_eq!(again, t1, "the same next token");
    // Outside the leeway the previous token is reuse.
    app.clock.advance(6);
    assert_invalid(&refresh(&app, &c, &t0).await);
    assert_invalid(&refresh(&app, &c, &t1).await);
});

each_backend!(with_no_leeway_a_second_exchange_is_reuse, |app| {
    let c = setup(&app, Value::Null).await;
    let t0 = login(&app, &c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t1 = rotate(&app, &c, &t0).await;
    assert_invalid(&refresh(&app, &c, &t0).await);
    assert_invalid(&refresh(&app, &c, &t1).await);
});

/// 32 concurrent exchanges of one token: exactly one rotates, the rest are reuse, none is 5xx.
async fn race(app: &TestApp) {
    let c = setup(app, Value::Null).await;
    let t0 = login(app, &c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let router = app.router.clone();
        let body = format!(
            "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
            c.id, c.secret, t0
        );
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let request = axum::http::Request::post("/oauth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(body))
                .unwrap();
            router.oneshot(request).await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let count = |code: u16| statuses.iter().filter(|s| **s == code).count();
    assert_eq!(count(200), 1, "{statuses:?}");
    assert_eq!(count(400), 31, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s < 500));
}

each_backend!(
    thirty_two_parallel_exchanges_rotate_once_and_never_fail_with_5xx,
    |app| {
        race(&app).await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_race_holds_on_a_sqlite_file_with_many_connections() {
    let (app, dir) = crate::helpers::spawn_app_sqlite_file().await;
    race(&app).await;
    drop(app);
    let _ = std::fs::remove_dir_all(dir);
}

each_backend!(storage_stays_constant_over_a_thousand_rotations, |app| {
    let c = setup(&app, Value::Null).await;
    let mut token = login(&app, &c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rows_before = support(&app.store).count_family_rows().await.unwrap();
    for _ in 0..1000 {
        token = rotate(&app, &c, &token).await;
    }
    assert_eq!(
        support(&app.store).count_family_rows().await.unwrap(),
        rows_before
    );
    assert_eq!(rows_before, 1);
});

each_backend!(non_rotating_families_answer_no_new_token, |app| {
    let c = setup(&app, json!({ "rotation_type": "non-rotating" })).await;
    let t0 = login(&app, &c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        let response = refresh(&app, &c, &t0).await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert!(response.json().get("refresh_token").is_none());
    }
});

each_backend!(
    legacy_clients_default_to_tokens_valid_until_revoked,
    |app| {
        let token = app.management_token(None).await;
        let c = setup(&app, Value::Null).await;
        app.send_json(
        Method::PATCH,
        &format!("/api/v2/clients/{}", c.id),
        Some(json!({ "refresh_token": { "rotation_type": "non-rotating", "expiration_type": "non-expiring" } })),
        Some(&token),
    )
    .await;
        let t0 = login(&app, &c, "offline_access").await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        app.clock.advance(400 * 86_400);
        assert_eq!(refresh(&app, &c, &t0).await.status, 200);
    }
);

each_backend!(absolute_and_idle_lifetimes, |app| {
    let c = setup(
        &app,
        json!({ "token_lifetime": 10, "idle_token_lifetime": 5 }),
    )
    .await;
    let mut token = login(&app, &c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(4);
    token = rotate(&app, &c, &token).await;
    app.clock.advance(4);
    token = rotate(&app, &c, &token).await; // idle is measured from the last exchange
    app.clock.advance(3); // 11 s after creation: past the absolute lifetime
    assert_invalid(&refresh(&app, &c, &token).await);

    let idle = login(&app, &c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(6);
    assert_invalid(&refresh(&app, &c, &idle).await);
});

each_backend!(scope_can_narrow_but_never_widen, |app| {
    let c = setup(&app, Value::Null).await;
    let t0 = login(&app, &c, "openid email offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let wide = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &c.id),
                ("client_secret", &c.secret),
                ("refresh_token", &t0),
                ("scope", "openid profile"),
            ],
            None,
        )
        .await;
    wide.assert_oauth_error(400, "invalid_scope");
    // The refused request did not consume the token.
    let narrow = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &c.id),
                ("client_secret", &c.secret),
                ("refresh_token", &t0),
                ("scope", "openid"),
            ],
            None,
        )
        .await;
    assert_eq!(narrow.status, 200, "{}", narrow.text());
    let body = narrow.json();
    assert_eq!(body["scope"], "openid");
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "openid");
    // The family keeps its scope: the next exchange without `scope` gets all of it.
    let next = refresh(&app, &c, body["refresh_token"].as_str().unwrap())
        .await
        .json();
    assert_eq!(next["scope"], "openid email offline_access");
});

each_backend!(
    another_clients_token_is_unknown_and_revokes_nothing,
    |app| {
        let c = setup(&app, Value::Null).await;
        let t0 = login(&app, &c, "offline_access").await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let thief = app
        .create_client(json!({ "name": "thief", "app_type": "regular_web", "grant_types": ["refresh_token"] }))
        .await;
        let stolen = App2 {
            id: thief["client_id"].as_str().unwrap().to_owned(),
            secret: thief["client_secret"].as_str().unwrap().to_owned(),
            user_id: String::new(),
        };
        assert_invalid(&refresh(&app, &stolen, &t0).await);
        rotate(&app, &c, &t0).await;
        // A wrong secret is invalid_client and consumes nothing.
        let bad = App2 {
            id: c.id.clone(),
            secret: "wrong".into(),
            user_id: String::new(),
        };
        let t1 = login(&app, &c, "offline_access").await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        refresh(&app, &bad, &t1)
            .await
            .assert_oauth_error(401, "invalid_client");
        rotate(&app, &c, &t1).await;
    }
);

each_backend!(
    blocking_password_changes_policy_and_rotation_switches_invalidate,
    |app| {
        let token = app.management_token(None).await;
        let c = setup(&app, Value::Null).await;
        let user_path = format!("/api/v2/users/{}", c.user_id.replace('|', "%7C"));
        let client_path = format!("/api/v2/clients/{}", c.id);

        // Blocked: refused until unblocked.
        let t0 = login(&app, &c, "offline_access").await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        app.send_json(
            Method::PATCH,
            &user_path,
            Some(json!({ "blocked": true })),
            Some(&token),
        )
        .await;
        assert_invalid(&refresh(&app, &c, &t0).await);
        app.send_json(
            Method::PATCH,
            &user_path,
            Some(json!({ "blocked": false })),
            Some(&token),
        )
        .await;
        let t1 = rotate(&app, &c, &t0).await;

        // A password change kills earlier families.
        app.clock.advance(1);
        app.send_json(
            Method::PATCH,
            &user_path,
            Some(json!({ "password": "another good password" })),
            Some(&token),
        )
        .await;
        assert_invalid(&refresh(&app, &c, &t1).await);
        let family = app
            .store
            .get_family(t1.split('.').nth(1).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(family.revoked_reason.as_deref(), Some("password_changed"));

        // Raising the client's auth_policy_version kills families created under the lower one.
        let login_again = password_login(
            &app,
            &c,
            "another good password",
            &[("scope", "offline_access")],
        )
        .await;
        let t2 = login_again["refresh_token"].as_str().unwrap().to_owned();
        app.send_json(
            Method::PATCH,
            &client_path,
            Some(json!({ "auth_policy_version": 1 })),
            Some(&token),
        )
        .await;
        assert_invalid(&refresh(&app, &c, &t2).await);
        // Revoked with the raise, so every node's exchange refuses it at once.
        let family = app
            .store
            .get_family(t2.split('.').nth(1).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(family.revoked_reason.as_deref(), Some("auth_policy_raised"));

        // Switching rotation_type revokes the other mode's families.
        let login_again = password_login(
            &app,
            &c,
            "another good password",
            &[("scope", "offline_access")],
        )
        .await;
        let t3 = login_again["refresh_token"].as_str().unwrap().to_owned();
        app.send_json(
            Method::PATCH,
            &client_path,
            Some(json!({ "refresh_token": { "rotation_type": "non-rotating" } })),
            Some(&token),
        )
        .await;
        assert_invalid(&refresh(&app, &c, &t3).await);
        let family = app
            .store
            .get_family(t3.split('.').nth(1).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            family.revoked_reason.as_deref(),
            Some("rotation_type_changed")
        );
    }
);

each_backend!(deleting_the_user_or_the_client_kills_the_family, |app| {
    let token = app.management_token(None).await;
    let c = setup(&app, Value::Null).await;
    let t0 = login(&app, &c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.send_json(
        Method::DELETE,
        &format!("/api/v2/clients/{}", c.id),
        None,
        Some(&token),
    )
    .await;
    let response = refresh(&app, &c, &t0).await;
    response.assert_oauth_error(401, "invalid_client");
    assert_eq!(support(&app.store).count_family_rows().await.unwrap(), 0);
});

/// A login's refresh token and its family as stored: the template of families made by hand.
async fn first_family(app: &TestApp, c: &App2) -> (String, tessera::domain::Family) {
    let first = login(app, c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let family = app
        .store
        .get_family(first.split('.').nth(1).unwrap())
        .await
        .unwrap()
        .unwrap();
    (first, family)
}

each_backend!(
    at_most_two_hundred_live_families_per_user_and_client,
    |app| {
        let c = setup(&app, Value::Null).await;
        let (first, template) = first_family(&app, &c).await;
        // 200 more logins (straight through the store: argon2 200 times would only slow the test).
        for n in 0..200 {
            let mut family = template.clone();
            family.id = format!("capfamily{n:04}");
            family.created_at = template.created_at + 1 + n;
            app.store.create_family(&family, 200, false).await.unwrap();
        }
        // The first login's family is the oldest: revoked to make room.
        assert_invalid(&refresh(&app, &c, &first).await);
        let oldest = app.store.get_family(&template.id).await.unwrap().unwrap();
        assert_eq!(oldest.revoked_reason.as_deref(), Some("family_limit"));
        let newest = app
            .store
            .get_family("capfamily0199")
            .await
            .unwrap()
            .unwrap();
        assert!(newest.revoked_at.is_none());
    }
);

each_backend!(
    the_cap_revokes_the_oldest_family_even_within_one_second,
    |app| {
        let c = setup(&app, Value::Null).await;
        let (first, template) = first_family(&app, &c).await;
        // 200 more families in the same second as the first, with ids that sort below any
        // generated one: neither the time nor the id can tell which came first.
        for n in 0..200 {
            let mut family = template.clone();
            family.id = format!("0000cap{n:04}");
            app.store.create_family(&family, 200, false).await.unwrap();
        }
        let oldest = app.store.get_family(&template.id).await.unwrap().unwrap();
        assert_eq!(oldest.revoked_reason.as_deref(), Some("family_limit"));
        assert_invalid(&refresh(&app, &c, &first).await);
        for n in 0..200 {
            let family = app
                .store
                .get_family(&format!("0000cap{n:04}"))
                .await
                .unwrap()
                .unwrap();
            assert!(family.revoked_at.is_none(), "0000cap{n:04} was revoked");
        }
    }
);

/// The exchange keeps its own database connections (no ping per request) and pings one that sat
/// idle: after a quiet spell in which PostgreSQL dropped every connection (as a restart does), the
/// next exchange reconnects and succeeds. SQLite has no server to drop them: there the chain just
/// goes on after the quiet spell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_survives_the_database_dropping_its_connections() {
    for backend in crate::helpers::backends() {
        let app = crate::helpers::spawn_app(backend).await;
        let c = setup(&app, json!({})).await;
        let first = login(&app, &c, "offline_access").await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let second = rotate(&app, &c, &first).await;
        if backend == Backend::Postgres {
            assert!(app.terminate_database_connections().await >= 1);
        }
        tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
        let third = rotate(&app, &c, &second).await;
        // The chain went on: the token before is now a reuse.
        assert_ne!(third, second);
        refresh(&app, &c, &second)
            .await
            .assert_oauth_error(400, "invalid_grant");
        app.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanges_are_rate_limited_per_family_and_ip() {
    for backend in crate::helpers::backends() {
        let app = crate::helpers::spawn_app_with(
            backend,
            &[("TESSERA_REFRESH_RATE_LIMIT_PER_MINUTE", "3")],
        )
        .await;
        let c = setup(&app, json!({ "rotation_type": "non-rotating" })).await;
        let mine = login(&app, &c, "offline_access").await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let other = login(&app, &c, "offline_access").await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        for _ in 0..3 {
            assert_eq!(refresh(&app, &c, &mine).await.status, 200);
        }
        let limited = refresh(&app, &c, &mine).await;
        limited.assert_oauth_error(429, "too_many_requests");
        let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=20).contains(&retry), "{retry}");
        // Another family of the same user is not affected; the limited one was not revoked.
        assert_eq!(refresh(&app, &c, &other).await.status, 200);
        let family = app
            .store
            .get_family(mine.split('.').nth(1).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(family.revoked_at.is_none());
        app.cleanup().await;
    }
}

each_backend!(a_changed_client_authenticates_as_changed_at_once, |app| {
    // The token endpoint authenticates against clients held in memory: each change through the
    // Management API is what the very next exchange sees.
    let c = setup(&app, Value::Null).await;
    let token = app.management_token(None).await;
    let client_path = format!("/api/v2/clients/{}", c.id);
    let t0 = login(&app, &c, "offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t1 = rotate(&app, &c, &t0).await; // the client is now held

    let rotated = app
        .send_json(
            Method::POST,
            &format!("{client_path}/rotate-secret"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let old = refresh(&app, &c, &t1).await;
    old.assert_oauth_error(401, "invalid_client");
    let c = App2 {
        secret: rotated.json()["client_secret"].as_str().unwrap().to_owned(),
        ..c
    };
    let t2 = rotate(&app, &c, &t1).await;

    // Without the refresh_token grant: unauthorized_client, and the family is untouched.
    let patched = app
        .send_json(
            Method::PATCH,
            &client_path,
            Some(json!({ "grant_types": ["password"] })),
            Some(&token),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    refresh(&app, &c, &t2)
        .await
        .assert_oauth_error(400, "unauthorized_client");
    app.send_json(
        Method::PATCH,
        &client_path,
        Some(json!({ "grant_types": ["password", "refresh_token"] })),
        Some(&token),
    )
    .await;
    // Another registered method: the secret in the body no longer authenticates.
    app.send_json(
        Method::PATCH,
        &client_path,
        Some(json!({ "token_endpoint_auth_method": "client_secret_basic" })),
        Some(&token),
    )
    .await;
    refresh(&app, &c, &t2)
        .await
        .assert_oauth_error(401, "invalid_client");
    app.send_json(
        Method::PATCH,
        &client_path,
        Some(json!({ "token_endpoint_auth_method": "client_secret_post" })),
        Some(&token),
    )
    .await;
    let t3 = rotate(&app, &c, &t2).await;

    // Deleted: the client is unknown at once.
    let deleted = app
        .send_json(Method::DELETE, &client_path, None, Some(&token))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    refresh(&app, &c, &t3)
        .await
        .assert_oauth_error(401, "invalid_client");
});

/// A check on every refresh exchange that records what it saw and denies while told to.
#[derive(Default)]
struct Gate {
    deny: std::sync::atomic::AtomicBool,
    seen: std::sync::Mutex<Vec<(i64, bool, String)>>,
}

#[async_trait::async_trait]
impl tessera::grants::ExchangeCheck for Gate {
    async fn check(
        &self,
        exchange: &tessera::grants::ExchangeContext<'_>,
    ) -> Result<(), tessera::grants::OAuthError> {
        self.seen.lock().unwrap().push((
            exchange.family.generation,
            exchange.leeway_retry,
            exchange.scope.to_string(),
        ));
        if self.deny.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(tessera::grants::OAuthError::unauthorized_client(
                "denied by a check",
            ));
        }
        Ok(())
    }
}

each_backend!(checks_run_before_the_exchange_commits, |app| {
    use std::sync::atomic::Ordering;
    let c = setup(&app, json!({ "leeway": 30 })).await;
    let gate = std::sync::Arc::new(Gate::default());
    let router = app.router_with_engine(app.state.engine.clone().with_exchange_check(gate.clone()));
    let exchange = |token: String| {
        let router = router.clone();
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "refresh_token"),
                ("client_id", c.id.as_str()),
                ("client_secret", c.secret.as_str()),
                ("refresh_token", token.as_str()),
            ])
            .finish();
        async move {
            let request = axum::http::Request::post("/oauth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(body))
                .unwrap();
            crate::helpers::send(&router, request).await
        }
    };
    let family_of = |token: &str| token.split('.').nth(1).unwrap().to_owned();
    let t0 = login(&app, &c, "openid offline_access").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Denied: the check's answer, and nothing changed — the same token works once allowed.
    gate.deny.store(true, Ordering::SeqCst);
    exchange(t0.clone())
        .await
        .assert_oauth_error(400, "unauthorized_client");
    let family = app
        .store
        .get_family(&family_of(&t0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((family.generation, family.revoked_at), (0, None));
    gate.deny.store(false, Ordering::SeqCst);
    let rotated = exchange(t0.clone()).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let t1 = rotated.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(t1, t0);

    // The leeway retry runs the checks too, and says so; the answer is the same next token.
    let retried = exchange(t0.clone()).await;
    assert_eq!(retried.status, 200, "{}", retried.text());
    assert_eq!(retried.json()["refresh_token"], t1.as_str());
    let seen = gate.seen.lock().unwrap().clone();
    let scope = "openid offline_access".to_owned();
    assert_eq!(
        seen,
        [
            (0, false, scope.clone()),
            (0, false, scope.clone()),
            (1, true, scope)
        ]
    );

    // Refused by the exchange's own rules: the checks never run.
    app.clock.advance(31);
    let before = gate.seen.lock().unwrap().len();
    assert_invalid(&exchange(t0.clone()).await);
    assert_eq!(
        gate.seen.lock().unwrap().len(),
        before,
        "a reuse is not checked"
    );
    let family = app
        .store
        .get_family(&family_of(&t0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(family.revoked_reason.as_deref(), Some("reuse"));
});

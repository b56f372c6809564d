//! The Management API's revocation paths: `/grants`, `/device-credentials`, `/refresh-tokens`,
//! `/users/{id}/refresh-tokens` and the legacy `DELETE /api/users/{id}/refresh_tokens/{token}`
//! (seed 004). Each proves both sides: what was revoked no longer refreshes, and what should
//! survive (other devices, clients, audiences, users) still does.

use crate::helpers::support;
use std::collections::BTreeSet;

use axum::http::Method;
use serde_json::{Value, json};

use crate::each_backend;
use crate::helpers::{TestApp, TestResponse};
use crate::refresh::{App2, assert_invalid, refresh, rotate, setup};

pub const USERINFO: &str = "https://tessera.test/userinfo";
const OTHER_API: &str = "https://orders.example.com/";
const PASSWORD: &str = "correct horse battery";

/// A path segment: user ids carry `|`.
pub fn enc(s: &str) -> String {
    s.replace('|', "%7C")
}

/// The family id a refresh token names (`kid.family.generation.mac`).
pub fn family_of(token: &str) -> String {
    token.split('.').nth(1).unwrap().to_owned()
}

/// Logs `username` in on `c` with `offline_access` (for `audience`); answers the refresh token.
pub async fn login_as(app: &TestApp, c: &App2, username: &str, audience: Option<&str>) -> String {
    let mut pairs = vec![
        ("grant_type", "password"),
        ("client_id", c.id.as_str()),
        ("client_secret", c.secret.as_str()),
        ("username", username),
        ("password", PASSWORD),
        ("scope", "openid offline_access"),
    ];
    if let Some(audience) = audience {
        pairs.push(("audience", audience));
    }
    let response = app.post_form("/oauth/token", &pairs, None).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn ada(app: &TestApp, c: &App2) -> String {
    login_as(app, c, "ada@example.com", None).await
}

/// Another client of the same kind as `setup`'s (with these `refresh_token` settings).
pub async fn other_client(app: &TestApp, user_id: &str, refresh_token: Value) -> App2 {
    let mut body = json!({ "name": "other", "app_type": "regular_web", "grant_types": ["password", "refresh_token"] });
    if !refresh_token.is_null() {
        body["refresh_token"] = refresh_token;
    }
    let client = app.create_client(body).await;
    App2 {
        id: client["client_id"].as_str().unwrap().to_owned(),
        secret: client["client_secret"].as_str().unwrap().to_owned(),
        user_id: user_id.to_owned(),
    }
}

/// Creates bob@example.com; answers his user_id.
pub async fn bob(app: &TestApp, token: &str) -> String {
    let response = app
        .send_json(
            Method::POST,
            "/api/v2/users",
            Some(json!({
                "connection": "Username-Password-Authentication",
                "email": "bob@example.com",
                "password": PASSWORD,
            })),
            Some(token),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    response.json()["user_id"].as_str().unwrap().to_owned()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> TestResponse {
    app.send_json(Method::DELETE, path, None, Some(token)).await
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

async fn revoked_reason(app: &TestApp, token: &str) -> Option<String> {
    app.store
        .get_family(&family_of(token))
        .await
        .unwrap()
        .unwrap()
        .revoked_reason
}

each_backend!(
    device_credentials_list_and_delete_exactly_one_family,
    |app| {
        let admin = app.management_token(None).await;
        let c = setup(&app, Value::Null).await;
        let legacy = other_client(
            &app,
            &c.user_id,
            json!({ "rotation_type": "non-rotating", "expiration_type": "non-expiring" }),
        )
        .await;
        let phone = ada(&app, &c).await;
        let laptop = ada(&app, &c).await;
        let old = ada(&app, &legacy).await;
        let user = enc(&c.user_id);

        let response = app.get("/api/v2/device-credentials", Some(&admin)).await;
        assert_eq!(
            response.assert_api_error(400)["errorCode"],
            "invalid_query_string"
        );
        let all = app
            .get(
                &format!("/api/v2/device-credentials?user_id={user}"),
                Some(&admin),
            )
            .await;
        assert_eq!(all.status, 200, "{}", all.text());
        let all = all.json();
        assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
        let item = all
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == format!("dcr_{}", family_of(&phone)))
            .unwrap()
            .clone();
        assert_eq!(
            keys(&item),
            set(&[
                "id",
                "device_name",
                "device_id",
                "type",
                "user_id",
                "client_id"
            ])
        );
        assert_eq!(item["type"], "rotating_refresh_token");
        assert_eq!(item["user_id"], c.user_id.as_str());
        assert_eq!(item["client_id"], c.id.as_str());
        let by_type = |t: &str| format!("/api/v2/device-credentials?user_id={user}&type={t}");
        let rotating = app
            .get(&by_type("rotating_refresh_token"), Some(&admin))
            .await
            .json();
        assert_eq!(rotating.as_array().unwrap().len(), 2);
        let plain = app
            .get(&by_type("refresh_token"), Some(&admin))
            .await
            .json();
        assert_eq!(plain.as_array().unwrap().len(), 1);
        assert_eq!(plain[0]["client_id"], legacy.id.as_str());
        assert_eq!(plain[0]["id"], format!("dcr_{}", family_of(&old)));
        let none = app.get(&by_type("public_key"), Some(&admin)).await.json();
        assert_eq!(none, json!([]));
        app.get(&by_type("bogus"), Some(&admin))
            .await
            .assert_api_error(400);
        let of_client = app
            .get(
                &format!(
                    "/api/v2/device-credentials?user_id={user}&client_id={}",
                    legacy.id
                ),
                Some(&admin),
            )
            .await
            .json();
        assert_eq!(of_client.as_array().unwrap().len(), 1);
        let paged = app
        .get(
            &format!("/api/v2/device-credentials?user_id={user}&page=1&per_page=2&include_totals=true"),
            Some(&admin),
        )
        .await
        .json();
        assert_eq!(paged["start"], 2);
        assert_eq!(paged["limit"], 2);
        assert_eq!(paged["total"], 3);
        assert_eq!(paged["device_credentials"].as_array().unwrap().len(), 1);

        // Without the scopes: 403.
        let reader = app.management_token(Some("read:users delete:users")).await;
        app.get(
            &format!("/api/v2/device-credentials?user_id={user}"),
            Some(&reader),
        )
        .await
        .assert_api_error(403);
        let path = format!("/api/v2/device-credentials/dcr_{}", family_of(&phone));
        delete(&app, &path, &reader).await.assert_api_error(403);
        let phone = rotate(&app, &c, &phone).await;

        let response = delete(&app, &path, &admin).await;
        assert_eq!(response.status, 204, "{}", response.text());
        assert_invalid(&refresh(&app, &c, &phone).await);
        assert_eq!(
            revoked_reason(&app, &phone).await.as_deref(),
            Some("device_credential_deleted")
        );
        // The user's other device on the same client, and the other client, still work.
        rotate(&app, &c, &laptop).await;
        assert_eq!(refresh(&app, &legacy, &old).await.status, 200);
        let left = app
            .get(
                &format!("/api/v2/device-credentials?user_id={user}"),
                Some(&admin),
            )
            .await
            .json();
        assert_eq!(left.as_array().unwrap().len(), 2);
        // Gone is gone; ids of other shapes are unknown.
        delete(&app, &path, &admin).await.assert_api_error(404);
        delete(&app, "/api/v2/device-credentials/nope", &admin)
            .await
            .assert_api_error(404);
    }
);

each_backend!(refresh_tokens_get_page_and_delete, |app| {
    let admin = app.management_token(None).await;
    let c = setup(&app, Value::Null).await;
    let other = other_client(&app, &c.user_id, Value::Null).await;
    let bob_id = bob(&app, &admin).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(ada(&app, &c).await);
    }
    mine.push(ada(&app, &other).await);
    let bobs = login_as(&app, &c, "bob@example.com", None).await;
    let user = enc(&c.user_id);
    let list = format!("/api/v2/users/{user}/refresh-tokens");

    // Paged by from/take.
    let first = app.get(&format!("{list}?take=3"), Some(&admin)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let first = first.json();
    assert_eq!(keys(&first), set(&["tokens", "next"]));
    assert_eq!(first["tokens"].as_array().unwrap().len(), 3);
    let next = first["next"].as_str().unwrap().to_owned();
    let second = app
        .get(&format!("{list}?take=3&from={next}"), Some(&admin))
        .await
        .json();
    assert_eq!(second["tokens"].as_array().unwrap().len(), 1);
    assert!(second["next"].is_null(), "{second}");
    let listed: BTreeSet<String> = first["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["tokens"].as_array().unwrap())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = mine.iter().map(|t| family_of(t)).collect();
    assert_eq!(listed, expected);
    let whole = app.get(&list, Some(&admin)).await.json();
    assert_eq!(whole["tokens"].as_array().unwrap().len(), 4);
    assert!(whole["next"].is_null());
    for bad in ["take=0", "take=101", "take=x"] {
        app.get(&format!("{list}?{bad}"), Some(&admin))
            .await
            .assert_api_error(400);
    }
    app.get("/api/v2/users/auth0%7Cnobody/refresh-tokens", Some(&admin))
        .await
        .assert_api_error(404);

    // The item, in Auth0's shape.
    let id = family_of(&mine[0]);
    let item = app
        .get(&format!("/api/v2/refresh-tokens/{id}"), Some(&admin))
        .await;
    assert_eq!(item.status, 200, "{}", item.text());
    let item = item.json();
    assert_eq!(
        keys(&item),
        set(&[
            "id",
            "user_id",
            "created_at",
            "expires_at",
            "idle_expires_at",
            "last_exchanged_at",
            "device",
            "client_id",
            "session_id",
            "rotating",
            "resource_servers",
        ])
    );
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["user_id"], c.user_id.as_str());
    assert_eq!(item["client_id"], c.id.as_str());
    assert_eq!(item["rotating"], true);
    assert!(item["session_id"].is_null());
    assert_eq!(
        keys(&item["device"]),
        set(&[
            "initial_ip",
            "initial_user_agent",
            "last_ip",
            "last_user_agent"
        ])
    );
    assert_eq!(
        item["resource_servers"],
        json!([{ "audience": USERINFO, "scopes": "openid offline_access" }])
    );
    // New clients: 30 days absolute, 15 days idle, measured from the last exchange.
    let created = crate::helpers::START;
    assert_eq!(item["created_at"], tessera::clock::rfc3339(created));
    assert_eq!(item["last_exchanged_at"], tessera::clock::rfc3339(created));
    assert_eq!(
        item["expires_at"],
        tessera::clock::rfc3339(created + 30 * 86_400)
    );
    assert_eq!(
        item["idle_expires_at"],
        tessera::clock::rfc3339(created + 15 * 86_400)
    );
    let in_list = whole["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(in_list, &item);
    app.clock.advance(60);
    let next0 = rotate(&app, &c, &mine[0]).await;
    let moved = app
        .get(&format!("/api/v2/refresh-tokens/{id}"), Some(&admin))
        .await
        .json();
    assert_eq!(
        moved["last_exchanged_at"],
        tessera::clock::rfc3339(created + 60)
    );
    assert_eq!(
        moved["idle_expires_at"],
        tessera::clock::rfc3339(created + 60 + 15 * 86_400)
    );
    assert_eq!(moved["expires_at"], item["expires_at"]);

    // Scopes.
    let reader = app.management_token(Some("read:refresh_tokens")).await;
    let nobody = app.management_token(Some("read:users")).await;
    app.get(&list, Some(&nobody)).await.assert_api_error(403);
    app.get(&format!("/api/v2/refresh-tokens/{id}"), Some(&nobody))
        .await
        .assert_api_error(403);
    delete(&app, &format!("/api/v2/refresh-tokens/{id}"), &reader)
        .await
        .assert_api_error(403);
    delete(&app, &list, &reader).await.assert_api_error(403);
    rotate(&app, &c, &next0).await;

    // Deleting one revokes that family only.
    let response = delete(&app, &format!("/api/v2/refresh-tokens/{id}"), &admin).await;
    assert_eq!(response.status, 202, "{}", response.text());
    assert_invalid(&refresh(&app, &c, &next0).await);
    assert_eq!(
        revoked_reason(&app, &mine[0]).await.as_deref(),
        Some("refresh_token_deleted")
    );
    app.get(&format!("/api/v2/refresh-tokens/{id}"), Some(&admin))
        .await
        .assert_api_error(404);
    delete(&app, &format!("/api/v2/refresh-tokens/{id}"), &admin)
        .await
        .assert_api_error(404);
    app.get("/api/v2/refresh-tokens/unknown", Some(&admin))
        .await
        .assert_api_error(404);
    let mine1 = rotate(&app, &c, &mine[1]).await;
    let left = app.get(&list, Some(&admin)).await.json();
    assert_eq!(left["tokens"].as_array().unwrap().len(), 3);

    // Deleting all of a user's revokes every client's family of that user, nobody else's.
    let response = delete(&app, &list, &admin).await;
    assert_eq!(response.status, 202, "{}", response.text());
    assert_invalid(&refresh(&app, &c, &mine1).await);
    assert_invalid(&refresh(&app, &c, &mine[2]).await);
    assert_invalid(&refresh(&app, &other, &mine[3]).await);
    assert_eq!(
        revoked_reason(&app, &mine[3]).await.as_deref(),
        Some("user_refresh_tokens_deleted")
    );
    rotate(&app, &c, &bobs).await;
    let empty = app.get(&list, Some(&admin)).await.json();
    assert_eq!(empty["tokens"], json!([]));
    assert!(empty["next"].is_null());
    let bob_list = app
        .get(
            &format!("/api/v2/users/{}/refresh-tokens", enc(&bob_id)),
            Some(&admin),
        )
        .await
        .json();
    assert_eq!(bob_list["tokens"].as_array().unwrap().len(), 1);
});

each_backend!(
    deleting_grants_withdraws_consent_and_revokes_that_grant_only,
    |app| {
        use tessera::domain::Grant;
        let admin = app.management_token(None).await;
        let c = setup(&app, Value::Null).await;
        let other = other_client(&app, &c.user_id, Value::Null).await;
        app.create_api(json!({ "identifier": OTHER_API, "allow_offline_access": true }))
            .await;
        let bob_id = bob(&app, &admin).await;
        let grant = |id: &str, user: &str, client: &str, audience: &str| Grant {
            id: id.to_owned(),
            user_id: user.to_owned(),
            client_id: client.to_owned(),
            audience: audience.to_owned(),
            scope: vec!["openid".into(), "offline_access".into()],
            created_at: crate::helpers::START,
            updated_at: crate::helpers::START,
        };
        for g in [
            grant("gr_1", &c.user_id, &c.id, USERINFO),
            grant("gr_2", &c.user_id, &c.id, OTHER_API),
            grant("gr_3", &c.user_id, &other.id, USERINFO),
            grant("gr_4", &bob_id, &c.id, USERINFO),
        ] {
            app.store.upsert_grant(&g).await.unwrap();
        }
        let phone = ada(&app, &c).await;
        let laptop = ada(&app, &c).await;
        let orders = login_as(&app, &c, "ada@example.com", Some(OTHER_API)).await;
        let elsewhere = ada(&app, &other).await;
        let bobs = login_as(&app, &c, "bob@example.com", None).await;
        let user = enc(&c.user_id);

        // The list, filtered, in Auth0's shape.
        let listed = app
            .get(&format!("/api/v2/grants?user_id={user}"), Some(&admin))
            .await;
        assert_eq!(listed.status, 200, "{}", listed.text());
        let listed = listed.json();
        assert_eq!(listed.as_array().unwrap().len(), 3);
        assert_eq!(
            listed[0],
            json!({
                "id": "gr_1",
                "clientID": c.id,
                "user_id": c.user_id,
                "audience": USERINFO,
                "scope": ["openid", "offline_access"],
            })
        );
        let count = |q: String| {
            let app = &app;
            let admin = admin.clone();
            async move {
                app.get(&format!("/api/v2/grants?{q}"), Some(&admin))
                    .await
                    .json()
                    .as_array()
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(count(format!("user_id={user}&client_id={}", c.id)).await, 2);
        assert_eq!(count(format!("audience={OTHER_API}")).await, 1);
        assert_eq!(count(format!("client_id={}", c.id)).await, 3);
        assert_eq!(count(String::new()).await, 4);
        let paged = app
            .get(
                "/api/v2/grants?per_page=3&page=1&include_totals=true",
                Some(&admin),
            )
            .await
            .json();
        assert_eq!(paged["total"], 4);
        assert_eq!(paged["grants"].as_array().unwrap().len(), 1);

        // Scopes.
        let reader = app.management_token(Some("read:grants")).await;
        let nobody = app.management_token(Some("read:users")).await;
        app.get("/api/v2/grants", Some(&nobody))
            .await
            .assert_api_error(403);
        delete(&app, "/api/v2/grants/gr_1", &reader)
            .await
            .assert_api_error(403);
        delete(&app, &format!("/api/v2/grants?user_id={user}"), &reader)
            .await
            .assert_api_error(403);
        rotate(&app, &c, &phone).await;

        // One grant: consent withdrawn, every device of that user + client + audience revoked.
        let response = delete(&app, "/api/v2/grants/gr_1", &admin).await;
        assert_eq!(response.status, 204, "{}", response.text());
        let store = &app.store;
        assert!(
            store
                .get_grant(&c.user_id, &c.id, USERINFO)
                .await
                .unwrap()
                .is_none()
        );
        assert_invalid(&refresh(&app, &c, &laptop).await);
        assert_eq!(
            revoked_reason(&app, &laptop).await.as_deref(),
            Some("grant_deleted")
        );
        assert_eq!(
            revoked_reason(&app, &phone).await.as_deref(),
            Some("grant_deleted")
        );
        // Other audiences, other clients and other users keep working.
        let orders = rotate(&app, &c, &orders).await;
        let elsewhere = rotate(&app, &other, &elsewhere).await;
        rotate(&app, &c, &bobs).await;
        delete(&app, "/api/v2/grants/gr_1", &admin)
            .await
            .assert_api_error(404);

        // All of a user's grants.
        delete(&app, "/api/v2/grants", &admin)
            .await
            .assert_api_error(400);
        let response = delete(&app, &format!("/api/v2/grants?user_id={user}"), &admin).await;
        assert_eq!(response.status, 204, "{}", response.text());
        assert_invalid(&refresh(&app, &c, &orders).await);
        assert_invalid(&refresh(&app, &other, &elsewhere).await);
        assert!(
            store
                .get_grant(&c.user_id, &other.id, USERINFO)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(count(format!("user_id={user}")).await, 0);
        // Bob's grant and tokens are untouched.
        assert!(
            store
                .get_grant(&bob_id, &c.id, USERINFO)
                .await
                .unwrap()
                .is_some()
        );
        let bob_count = count(format!("user_id={}", enc(&bob_id))).await;
        assert_eq!(bob_count, 1);
        let events = support(store)
            .list_audit_events(Some("srrt"), 10)
            .await
            .unwrap();
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(
            events
                .iter()
                .all(|e| e.details.contains("\"reason\":\"grant_deleted\""))
        );
    }
);

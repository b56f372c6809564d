//! `/api/v2/clients`: the secret answered once, Auth0's defaults per `app_type`, PATCH semantics,
//! secret rotation, deletion, validation, paging and field selection.

use std::collections::BTreeSet;

use axum::http::Method;
use serde_json::{Value, json};

use crate::each_backend;
use crate::helpers::TestApp;
use crate::management::{assert_api_code, send_raw, token_request};

const API: &str = "https://api.example.com/";

async fn get_client(app: &TestApp, token: &str, id: &str) -> Value {
    let response = app.get(&format!("/api/v2/clients/{id}"), Some(token)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

async fn patch_client(
    app: &TestApp,
    token: &str,
    id: &str,
    body: Value,
) -> crate::helpers::TestResponse {
    app.send_json(
        Method::PATCH,
        &format!("/api/v2/clients/{id}"),
        Some(body),
        Some(token),
    )
    .await
}

fn without_secret(mut client: Value) -> Value {
    client.as_object_mut().unwrap().remove("client_secret");
    client
}

each_backend!(create_answers_the_secret_once_and_it_authenticates, |app| {
    app.create_api(json!({ "identifier": API })).await;
    let created = app
        .create_client(json!({ "name": "worker", "app_type": "non_interactive" }))
        .await;
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert!(id.len() >= 32, "client_id {id:?}");
    assert!(
        secret.len() >= 43,
        "a secret of at least 256 bits: {secret:?}"
    );
    app.create_client_grant(id, API, &[]).await;

    let token = app.management_token(None).await;
    let fetched = get_client(&app, &token, id).await;
    assert!(
        fetched.get("client_secret").is_none(),
        "GET answers no secret: {fetched}"
    );
    assert_eq!(fetched, without_secret(created.clone()));
    let listed = app.get("/api/v2/clients", Some(&token)).await;
    assert!(
        !listed.text().contains(secret),
        "a list never carries the secret"
    );
    assert!(
        listed
            .json()
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("client_secret").is_none())
    );

    let ok = token_request(&app, id, secret, API, None).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    token_request(&app, id, "not-the-secret", API, None)
        .await
        .assert_oauth_error(401, "invalid_client");
});

each_backend!(defaults_follow_auth0_per_app_type, |app| {
    let rotating = json!({
        "rotation_type": "rotating",
        "expiration_type": "expiring",
        "leeway": 0,
        "token_lifetime": 2_592_000,
        "infinite_token_lifetime": false,
        "idle_token_lifetime": 1_296_000,
        "infinite_idle_token_lifetime": false,
    });
    let browser = json!(["authorization_code", "implicit", "refresh_token"]);
    let web = json!([
        "authorization_code",
        "implicit",
        "refresh_token",
        "client_credentials"
    ]);
    for (app_type, method, grants) in [
        ("spa", "none", browser.clone()),
        ("native", "none", browser.clone()),
        (
            "non_interactive",
            "client_secret_post",
            json!(["client_credentials"]),
        ),
        ("regular_web", "client_secret_post", web.clone()),
    ] {
        let c = app
            .create_client(json!({ "name": app_type, "app_type": app_type }))
            .await;
        assert_eq!(c["app_type"], app_type);
        assert_eq!(c["token_endpoint_auth_method"], method, "{app_type}");
        assert_eq!(c["grant_types"], grants, "{app_type}");
        assert_eq!(c["oidc_conformant"], true, "{app_type}");
        assert_eq!(c["is_first_party"], true, "{app_type}");
        assert_eq!(c["refresh_token"], rotating, "{app_type}");
        for list in ["callbacks", "allowed_logout_urls", "web_origins"] {
            assert_eq!(c[list], json!([]), "{app_type} {list}");
        }
        assert_eq!(c["description"], "");
    }

    // An explicit method wins over the default.
    let c = app
        .create_client(json!({
            "name": "spa-basic",
            "app_type": "spa",
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .await;
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");

    // Legacy clients: non-rotating refresh tokens valid until revoked.
    let c = app
        .create_client(
            json!({ "name": "legacy", "app_type": "regular_web", "oidc_conformant": false }),
        )
        .await;
    assert_eq!(c["oidc_conformant"], false);
    assert_eq!(c["refresh_token"]["rotation_type"], "non-rotating");
    assert_eq!(c["refresh_token"]["expiration_type"], "non-expiring");
    assert_eq!(c["refresh_token"]["infinite_token_lifetime"], true);
    assert_eq!(c["refresh_token"]["infinite_idle_token_lifetime"], true);

    // A partial refresh_token object on create keeps the other defaults.
    let c = app
        .create_client(json!({ "name": "leeway", "refresh_token": { "leeway": 10 } }))
        .await;
    let mut expected = rotating.clone();
    expected["leeway"] = json!(10);
    assert_eq!(c["refresh_token"], expected);
});

each_backend!(patch_changes_only_the_named_fields, |app| {
    let token = app.management_token(None).await;
    let created = app
        .create_client(json!({
            "name": "web",
            "description": "the web app",
            "app_type": "regular_web",
            "callbacks": ["https://app.example.com/callback"],
            "allowed_logout_urls": ["https://app.example.com/"],
            "web_origins": ["https://app.example.com"],
            "is_first_party": false,
        }))
        .await;
    let id = created["client_id"].as_str().unwrap();
    let original = without_secret(created.clone());

    let response = patch_client(&app, &token, id, json!({ "name": "renamed" })).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let mut expected = original.clone();
    expected["name"] = json!("renamed");
    assert_eq!(response.json(), expected);
    assert_eq!(get_client(&app, &token, id).await, expected);

    // An empty patch changes nothing.
    let response = patch_client(&app, &token, id, json!({})).await;
    assert_eq!(response.json(), expected);

    // A partial refresh_token object changes only its own fields.
    let response = patch_client(
        &app,
        &token,
        id,
        json!({ "refresh_token": { "rotation_type": "non-rotating", "leeway": 30 } }),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    expected["refresh_token"]["rotation_type"] = json!("non-rotating");
    expected["refresh_token"]["leeway"] = json!(30);
    assert_eq!(response.json(), expected);
    assert_eq!(get_client(&app, &token, id).await, expected);

    let response = patch_client(
        &app,
        &token,
        id,
        json!({ "callbacks": [], "grant_types": ["authorization_code"], "oidc_conformant": false }),
    )
    .await;
    expected["callbacks"] = json!([]);
    expected["grant_types"] = json!(["authorization_code"]);
    expected["oidc_conformant"] = json!(false);
    assert_eq!(response.json(), expected);

    // A refused patch changes nothing at all.
    let response = patch_client(
        &app,
        &token,
        id,
        json!({ "name": "half-applied", "callbacks": ["https://app.example.com/cb#x"] }),
    )
    .await;
    assert_api_code(&response, 400, "invalid_body");
    assert_eq!(get_client(&app, &token, id).await, expected);

    let response = patch_client(&app, &token, "no-such-client", json!({ "name": "x" })).await;
    assert_api_code(&response, 404, "inexistent_client");
});

each_backend!(rotate_secret_replaces_the_secret, |app| {
    app.create_api(json!({ "identifier": API })).await;
    let created = app
        .create_client(json!({ "name": "worker", "app_type": "non_interactive" }))
        .await;
    let id = created["client_id"].as_str().unwrap();
    let old = created["client_secret"].as_str().unwrap();
    app.create_client_grant(id, API, &[]).await;
    assert_eq!(token_request(&app, id, old, API, None).await.status, 200);

    let token = app.management_token(None).await;
    let path = format!("/api/v2/clients/{id}/rotate-secret");
    let response = app.send_json(Method::POST, &path, None, Some(&token)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let rotated = response.json();
    let new = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(
        without_secret(rotated.clone()),
        without_secret(created.clone())
    );

    token_request(&app, id, old, API, None)
        .await
        .assert_oauth_error(401, "invalid_client");
    let ok = token_request(&app, id, new, API, None).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(
        get_client(&app, &token, id)
            .await
            .get("client_secret")
            .is_none()
    );

    let response = app
        .send_json(
            Method::POST,
            "/api/v2/clients/nope/rotate-secret",
            None,
            Some(&token),
        )
        .await;
    assert_api_code(&response, 404, "inexistent_client");
});

each_backend!(delete_removes_the_client, |app| {
    let (id, secret) = app.m2m_setup("RS256").await;
    let token = app.management_token(None).await;
    let path = format!("/api/v2/clients/{id}");
    let response = app
        .send_json(Method::DELETE, &path, None, Some(&token))
        .await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert!(response.body.is_empty());

    assert_api_code(
        &app.get(&path, Some(&token)).await,
        404,
        "inexistent_client",
    );
    let again = app
        .send_json(Method::DELETE, &path, None, Some(&token))
        .await;
    assert_api_code(&again, 404, "inexistent_client");
    token_request(&app, &id, &secret, API, None)
        .await
        .assert_oauth_error(401, "invalid_client");
    // Its client grants went with it.
    let grants = app
        .get(
            &format!("/api/v2/client-grants?client_id={id}"),
            Some(&token),
        )
        .await;
    assert_eq!(grants.json(), json!([]));
});

each_backend!(invalid_clients_are_refused_with_400, |app| {
    let token = app.management_token(None).await;
    let cases = [
        ("missing name", json!({ "app_type": "spa" })),
        ("empty name", json!({ "name": "  " })),
        (
            "callback with a fragment",
            json!({ "name": "x", "callbacks": ["https://a.example.com/cb#f"] }),
        ),
        (
            "relative callback",
            json!({ "name": "x", "callbacks": ["/callback"] }),
        ),
        (
            "logout URL not absolute",
            json!({ "name": "x", "allowed_logout_urls": ["example.com"] }),
        ),
        (
            "unknown grant type",
            json!({ "name": "x", "grant_types": ["magic"] }),
        ),
        (
            "bad auth method",
            json!({ "name": "x", "token_endpoint_auth_method": "client_secret_magic" }),
        ),
        (
            "unknown app_type",
            json!({ "name": "x", "app_type": "desktop" }),
        ),
        ("name not a string", json!({ "name": 42 })),
        (
            "callbacks not a list",
            json!({ "name": "x", "callbacks": "https://a.example.com/cb" }),
        ),
        (
            "is_first_party not a bool",
            json!({ "name": "x", "is_first_party": "yes" }),
        ),
        (
            "zero refresh lifetime",
            json!({ "name": "x", "refresh_token": { "token_lifetime": 0 } }),
        ),
        (
            "negative leeway",
            json!({ "name": "x", "refresh_token": { "leeway": -1 } }),
        ),
        (
            "bad rotation_type",
            json!({ "name": "x", "refresh_token": { "rotation_type": "sometimes" } }),
        ),
        ("body not an object", json!(["name"])),
    ];
    for (what, body) in cases {
        eprintln!("case: {what}");
        let response = app
            .send_json(Method::POST, "/api/v2/clients", Some(body), Some(&token))
            .await;
        assert_api_code(&response, 400, "invalid_body");
    }
    for raw in ["{not json", "", r#"{"name": "x""#] {
        let response = send_raw(&app, Method::POST, "/api/v2/clients", raw, &token).await;
        assert_api_code(&response, 400, "invalid_body");
    }
    // Nothing was created: only the bootstrap client exists.
    let listed = app
        .get("/api/v2/clients?include_totals=true", Some(&token))
        .await;
    assert_eq!(listed.json()["total"], 1, "{}", listed.text());
});

// README "Refresh-token policies": a contradictory policy is a 400 naming its fields, on create
// and on PATCH, and leaves the client as it was; a change of `expiration_type` carries the
// `infinite_*` flags with it.
each_backend!(refresh_token_policies_are_valid_or_refused, |app| {
    let token = app.management_token(None).await;
    let refused = |response: &crate::helpers::TestResponse, fields: &[&str]| {
        let body = assert_api_code(response, 400, "invalid_body");
        let message = body["message"].as_str().unwrap_or_default().to_owned();
        for field in fields {
            assert!(message.contains(field), "{field} in {message:?}");
        }
    };
    let response = app
        .send_json(
            Method::POST,
            "/api/v2/clients",
            Some(json!({
                "name": "never expires, rotates",
                "refresh_token": { "rotation_type": "rotating", "expiration_type": "non-expiring" },
            })),
            Some(&token),
        )
        .await;
    refused(
        &response,
        &[
            "refresh_token.rotation_type",
            "refresh_token.expiration_type",
        ],
    );

    let legacy = app
        .create_client(json!({ "name": "legacy", "oidc_conformant": false }))
        .await;
    let path = format!("/api/v2/clients/{}", legacy["client_id"].as_str().unwrap());
    let patch = |body: Value| app.send_json(Method::PATCH, &path, Some(body), Some(&token));
    let cases = [
        (
            json!({ "refresh_token": { "rotation_type": "rotating" } }),
            vec![
                "refresh_token.rotation_type",
                "refresh_token.expiration_type",
            ],
        ),
        (
            json!({ "refresh_token": {
                "expiration_type": "expiring",
                "infinite_token_lifetime": true,
                "infinite_idle_token_lifetime": true,
            } }),
            vec![
                "refresh_token.expiration_type",
                "refresh_token.infinite_token_lifetime",
                "refresh_token.infinite_idle_token_lifetime",
            ],
        ),
        (
            json!({ "refresh_token": { "infinite_idle_token_lifetime": false } }),
            vec!["refresh_token.infinite_idle_token_lifetime"],
        ),
        (
            json!({ "refresh_token": {
                "expiration_type": "expiring",
                "token_lifetime": 600,
                "idle_token_lifetime": 601,
            } }),
            vec![
                "refresh_token.idle_token_lifetime",
                "refresh_token.token_lifetime",
            ],
        ),
        (
            json!({ "refresh_token": { "expiration_type": "expiring", "token_lifetime": 157_788_001 } }),
            vec!["refresh_token.token_lifetime"],
        ),
    ];
    for (body, fields) in cases {
        refused(&patch(body.clone()).await, &fields);
        let unchanged = app.get(&path, Some(&token)).await.json();
        assert_eq!(
            unchanged["refresh_token"], legacy["refresh_token"],
            "{body}"
        );
    }

    // The issue's case: "expiring" alone on a legacy client gives it finite lifetimes.
    let response = patch(json!({ "refresh_token": { "expiration_type": "expiring" } })).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let policy = &response.json()["refresh_token"];
    assert_eq!(policy["expiration_type"], "expiring");
    assert_eq!(policy["rotation_type"], "non-rotating");
    assert_eq!(policy["infinite_token_lifetime"], false);
    assert_eq!(policy["infinite_idle_token_lifetime"], false);
    // An idle lifetime alone: named flags win.
    let response = patch(json!({ "refresh_token": { "infinite_token_lifetime": true } })).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json()["refresh_token"]["infinite_idle_token_lifetime"],
        false
    );
});

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("an array: {list}"))
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect()
}

each_backend!(lists_page_like_auth0, |app| {
    let token = app.management_token(None).await;
    for n in 0..5 {
        app.create_client(json!({ "name": format!("client {n}") }))
            .await;
    }
    // Five created plus the bootstrap client.
    let mut seen = BTreeSet::new();
    for (page, expected) in [(0, 2), (1, 2), (2, 2), (3, 0)] {
        let response = app
            .get(
                &format!("/api/v2/clients?per_page=2&page={page}"),
                Some(&token),
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        let page_ids = ids(&response.json());
        assert_eq!(page_ids.len(), expected, "page {page}");
        for id in page_ids {
            assert!(seen.insert(id), "pages do not overlap");
        }
    }
    assert_eq!(seen.len(), 6);
    let all = app.get("/api/v2/clients", Some(&token)).await.json();
    assert_eq!(ids(&all).into_iter().collect::<BTreeSet<_>>(), seen);

    let bare = app
        .get("/api/v2/clients?per_page=2&page=1", Some(&token))
        .await
        .json();
    let response = app
        .get(
            "/api/v2/clients?per_page=2&page=1&include_totals=true",
            Some(&token),
        )
        .await;
    let totals = response.json();
    assert_eq!(totals["start"], 2, "{totals}");
    assert_eq!(totals["limit"], 2);
    assert_eq!(totals["length"], 2);
    assert_eq!(totals["total"], 6);
    assert_eq!(ids(&totals["clients"]), ids(&bare));
    let keys: BTreeSet<&str> = totals
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["start", "limit", "length", "total", "clients"])
    );

    let response = app
        .get("/api/v2/clients?include_totals=false", Some(&token))
        .await;
    assert!(response.json().is_array());

    for query in [
        "per_page=0",
        "per_page=101",
        "per_page=abc",
        "page=-1",
        "include_totals=yes",
    ] {
        let response = app
            .get(&format!("/api/v2/clients?{query}"), Some(&token))
            .await;
        assert_api_code(&response, 400, "invalid_query_string");
    }
    let response = app.get("/api/v2/clients?per_page=100", Some(&token)).await;
    assert_eq!(
        response.status,
        200,
        "per_page=100 is allowed: {}",
        response.text()
    );
});

each_backend!(fields_select_what_is_answered, |app| {
    let token = app.management_token(None).await;
    let created = app
        .create_client(json!({ "name": "web", "app_type": "regular_web" }))
        .await;
    let id = created["client_id"].as_str().unwrap();
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let only = BTreeSet::from(["client_id".to_owned(), "name".to_owned()]);

    for query in [
        "fields=client_id,name&include_fields=true",
        "fields=client_id,name",
    ] {
        let list = app
            .get(&format!("/api/v2/clients?{query}"), Some(&token))
            .await
            .json();
        let items = list.as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|c| keys(c) == only), "{query}: {list}");
        let one = app
            .get(&format!("/api/v2/clients/{id}?{query}"), Some(&token))
            .await
            .json();
        assert_eq!(one, json!({ "client_id": id, "name": "web" }));
    }

    let list = app
        .get(
            "/api/v2/clients?fields=client_id,name&include_fields=false",
            Some(&token),
        )
        .await
        .json();
    for c in list.as_array().unwrap() {
        let k = keys(c);
        assert!(k.is_disjoint(&only), "{c}");
        assert!(
            k.contains("grant_types") && k.contains("refresh_token"),
            "{c}"
        );
    }
    let totals = app
        .get(
            "/api/v2/clients?fields=name&include_totals=true",
            Some(&token),
        )
        .await
        .json();
    assert_eq!(totals["total"], 2);
    assert!(
        totals["clients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| keys(c) == BTreeSet::from(["name".to_owned()]))
    );
});

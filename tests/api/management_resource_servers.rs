//! `/api/v2/resource-servers`: defaults, lookup by id and identifier, PATCH and its limits, the
//! built-in APIs, and deletion taking the API's client grants along.

use axum::http::Method;
use serde_json::{Value, json};

use crate::each_backend;
use crate::helpers::{ISSUER, MANAGEMENT_AUDIENCE, TestApp, TestResponse, jwt_parts};
use crate::management::{assert_api_code, seg, token_request};

const API: &str = "https://api.example.com/";

async fn post_api(app: &TestApp, token: &str, body: Value) -> TestResponse {
    app.send_json(
        Method::POST,
        "/api/v2/resource-servers",
        Some(body),
        Some(token),
    )
    .await
}

async fn patch_api(app: &TestApp, token: &str, id: &str, body: Value) -> TestResponse {
    app.send_json(
        Method::PATCH,
        &format!("/api/v2/resource-servers/{id}"),
        Some(body),
        Some(token),
    )
    .await
}

each_backend!(
    create_applies_auth0_defaults_and_get_finds_it_both_ways,
    |app| {
        let token = app.management_token(None).await;
        let response = post_api(
            &app,
            &token,
            json!({ "identifier": API, "name": "Example" }),
        )
        .await;
        assert_eq!(response.status, 201, "{}", response.text());
        let created = response.json();
        let id = created["id"].as_str().unwrap();
        assert!(!id.is_empty() && id != API);
        assert_eq!(created["identifier"], API);
        assert_eq!(created["name"], "Example");
        assert_eq!(created["signing_alg"], "RS256");
        assert_eq!(created["token_lifetime"], 86_400);
        assert_eq!(created["allow_offline_access"], false);
        assert_eq!(created["scopes"], json!([]));
        assert_eq!(created["is_system"], false);

        for path in [
            format!("/api/v2/resource-servers/{id}"),
            format!("/api/v2/resource-servers/{}", seg(API)),
        ] {
            let response = app.get(&path, Some(&token)).await;
            assert_eq!(response.status, 200, "{path}: {}", response.text());
            assert_eq!(response.json(), created, "{path}");
        }
        let missing = app.get("/api/v2/resource-servers/nope", Some(&token)).await;
        assert_api_code(&missing, 404, "inexistent_resource_server");
    }
);

each_backend!(patch_changes_the_named_fields_and_tokens_follow, |app| {
    let token = app.management_token(None).await;
    let created = app
        .create_api(json!({
            "identifier": API,
            "name": "Example",
            "scopes": [{"value": "read:things", "description": "Read"}],
        }))
        .await;
    let id = created["id"].as_str().unwrap();
    let client = app
        .create_client(json!({ "name": "m2m", "app_type": "non_interactive" }))
        .await;
    let (cid, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    app.create_client_grant(cid, API, &[]).await;

    let patch = json!({
        "name": "Renamed",
        "scopes": [{"value": "read:things", "description": "Read"}, {"value": "write:things", "description": "Write"}],
        "token_lifetime": 600,
        "signing_alg": "PS256",
    });
    let response = patch_api(&app, &token, id, patch.clone()).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let mut expected = created.clone();
    for field in ["name", "scopes", "token_lifetime", "signing_alg"] {
        expected[field] = patch[field].clone();
    }
    assert_eq!(response.json(), expected);
    let fetched = app
        .get(&format!("/api/v2/resource-servers/{id}"), Some(&token))
        .await;
    assert_eq!(fetched.json(), expected);

    // Tokens for the API now have its new lifetime and algorithm.
    let body = app.client_credentials(cid, secret, API, None).await;
    assert_eq!(body["expires_in"], 600);
    let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "PS256");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );

    // The identifier cannot change; naming the same one is fine.
    let refused = patch_api(
        &app,
        &token,
        id,
        json!({ "identifier": "https://moved.example.com/" }),
    )
    .await;
    assert_api_code(&refused, 400, "invalid_body");
    let same = patch_api(
        &app,
        &token,
        id,
        json!({ "identifier": API, "allow_offline_access": true }),
    )
    .await;
    assert_eq!(same.status, 200, "{}", same.text());
    expected["allow_offline_access"] = json!(true);
    assert_eq!(same.json(), expected);

    for bad in [
        json!({ "token_lifetime": 0 }),
        json!({ "token_lifetime": 2_592_001 }),
        json!({ "signing_alg": "HS256" }),
        json!({ "scopes": [{"value": "two words"}] }),
        json!({ "scopes": [{"value": "dup"}, {"value": "dup"}] }),
    ] {
        let response = patch_api(&app, &token, id, bad.clone()).await;
        assert_api_code(&response, 400, "invalid_body");
    }
    let fetched = app
        .get(&format!("/api/v2/resource-servers/{id}"), Some(&token))
        .await;
    assert_eq!(fetched.json(), expected, "refused patches change nothing");
    assert_api_code(
        &patch_api(&app, &token, "nope", json!({ "name": "x" })).await,
        404,
        "inexistent_resource_server",
    );
});

each_backend!(invalid_or_duplicate_apis_are_refused, |app| {
    let token = app.management_token(None).await;
    app.create_api(json!({ "identifier": API })).await;
    let duplicate = post_api(&app, &token, json!({ "identifier": API, "name": "again" })).await;
    assert_api_code(&duplicate, 409, "conflict");

    for (what, body) in [
        ("missing identifier", json!({ "name": "x" })),
        ("empty identifier", json!({ "identifier": "" })),
        (
            "HS256",
            json!({ "identifier": "https://a.example.com/", "signing_alg": "HS256" }),
        ),
        (
            "none",
            json!({ "identifier": "https://a.example.com/", "signing_alg": "none" }),
        ),
        (
            "lifetime 0",
            json!({ "identifier": "https://a.example.com/", "token_lifetime": 0 }),
        ),
        (
            "lifetime too long",
            json!({ "identifier": "https://a.example.com/", "token_lifetime": 2_592_001 }),
        ),
        (
            "negative lifetime",
            json!({ "identifier": "https://a.example.com/", "token_lifetime": -5 }),
        ),
        (
            "scopes not a list",
            json!({ "identifier": "https://a.example.com/", "scopes": "read" }),
        ),
    ] {
        eprintln!("case: {what}");
        assert_api_code(&post_api(&app, &token, body).await, 400, "invalid_body");
    }
    let longest = post_api(
        &app,
        &token,
        json!({ "identifier": "https://a.example.com/", "token_lifetime": 2_592_000 }),
    )
    .await;
    assert_eq!(
        longest.status,
        201,
        "30 days is allowed: {}",
        longest.text()
    );
});

each_backend!(built_in_apis_are_listed_but_read_only, |app| {
    let token = app.management_token(None).await;
    app.create_api(json!({ "identifier": API })).await;
    let response = app
        .get("/api/v2/resource-servers?include_totals=true", Some(&token))
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let listed = response.json();
    assert_eq!(listed["total"], 3, "{listed}");
    let items = listed["resource_servers"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let userinfo = format!("{ISSUER}userinfo");
    for identifier in [MANAGEMENT_AUDIENCE, userinfo.as_str()] {
        let api = items
            .iter()
            .find(|a| a["identifier"] == identifier)
            .unwrap_or_else(|| panic!("{identifier} is listed: {listed}"));
        assert_eq!(api["is_system"], true);
        let id = api["id"].as_str().unwrap();
        for target in [id.to_owned(), seg(identifier)] {
            let path = format!("/api/v2/resource-servers/{target}");
            let patch = app
                .send_json(
                    Method::PATCH,
                    &path,
                    Some(json!({ "token_lifetime": 60 })),
                    Some(&token),
                )
                .await;
            assert_api_code(&patch, 400, "operation_not_supported");
            let delete = app
                .send_json(Method::DELETE, &path, None, Some(&token))
                .await;
            assert_api_code(&delete, 400, "operation_not_supported");
        }
        let after = app
            .get(&format!("/api/v2/resource-servers/{id}"), Some(&token))
            .await;
        assert_eq!(&after.json(), api, "unchanged");
    }
    let mine = items.iter().find(|a| a["identifier"] == API).unwrap();
    assert_eq!(mine["is_system"], false);
    // The Management API still works.
    let fresh = app.management_token(Some("read:clients")).await;
    assert_eq!(app.get("/api/v2/clients", Some(&fresh)).await.status, 200);
});

each_backend!(deleting_an_api_deletes_its_client_grants, |app| {
    let (id, secret) = app.m2m_setup("RS256").await;
    let token = app.management_token(None).await;
    let grants_path = format!("/api/v2/client-grants?audience={}", seg(API));
    assert_eq!(
        app.get(&grants_path, Some(&token))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let path = format!("/api/v2/resource-servers/{}", seg(API));
    let response = app
        .send_json(Method::DELETE, &path, None, Some(&token))
        .await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert!(response.body.is_empty());
    assert_api_code(
        &app.get(&path, Some(&token)).await,
        404,
        "inexistent_resource_server",
    );
    assert_eq!(app.get(&grants_path, Some(&token)).await.json(), json!([]));
    token_request(&app, &id, &secret, API, None)
        .await
        .assert_oauth_error(400, "invalid_request");

    // An API created again under the same identifier does not bring the old grant back.
    app.create_api(json!({ "identifier": API })).await;
    token_request(&app, &id, &secret, API, None)
        .await
        .assert_oauth_error(400, "unauthorized_client");
    let again = app
        .send_json(
            Method::DELETE,
            "/api/v2/resource-servers/nope",
            None,
            Some(&token),
        )
        .await;
    assert_api_code(&again, 404, "inexistent_resource_server");
});

each_backend!(resource_server_lists_page, |app| {
    let token = app.management_token(None).await;
    for n in 0..3 {
        app.create_api(json!({ "identifier": format!("https://api{n}.example.com/") }))
            .await;
    }
    let response = app
        .get(
            "/api/v2/resource-servers?include_totals=true&per_page=2&page=2",
            Some(&token),
        )
        .await;
    let body = response.json();
    assert_eq!(body["total"], 5, "{body}");
    assert_eq!(body["start"], 4);
    assert_eq!(body["limit"], 2);
    assert_eq!(body["length"], 1);
    assert_eq!(body["resource_servers"].as_array().unwrap().len(), 1);
    let bare = app
        .get("/api/v2/resource-servers?per_page=2", Some(&token))
        .await
        .json();
    assert_eq!(bare.as_array().unwrap().len(), 2);
});

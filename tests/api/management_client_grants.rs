//! `/api/v2/client-grants`: which client may get `client_credentials` tokens for which API, and
//! how `/oauth/token` follows changes to them.

use axum::http::Method;
use serde_json::{Value, json};

use crate::each_backend;
use crate::helpers::{BOOTSTRAP_ID, MANAGEMENT_AUDIENCE, TestApp, TestResponse};
use crate::management::{assert_api_code, seg, token_request};

const API: &str = "https://api.example.com/";

async fn post_grant(app: &TestApp, token: &str, body: Value) -> TestResponse {
    app.send_json(
        Method::POST,
        "/api/v2/client-grants",
        Some(body),
        Some(token),
    )
    .await
}

/// The example API and a machine-to-machine client without any grant: (client_id, secret).
async fn api_and_client(app: &TestApp) -> (String, String) {
    app.create_api(json!({
        "identifier": API,
        "scopes": [{"value": "read:things"}, {"value": "write:things"}],
    }))
    .await;
    let client = app
        .create_client(json!({ "name": "m2m", "app_type": "non_interactive" }))
        .await;
    (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    )
}

each_backend!(create_answers_the_grant_and_refuses_duplicates, |app| {
    let (id, secret) = api_and_client(&app).await;
    let token = app.management_token(None).await;
    // Before the grant, the client may not get tokens for the API.
    token_request(&app, &id, &secret, API, None)
        .await
        .assert_oauth_error(400, "unauthorized_client");

    let body =
        json!({ "client_id": id, "audience": API, "scope": ["read:things", "write:things"] });
    let response = post_grant(&app, &token, body.clone()).await;
    assert_eq!(response.status, 201, "{}", response.text());
    let grant = response.json();
    let grant_id = grant["id"].as_str().unwrap();
    assert!(
        grant_id.starts_with("cgr_") && grant_id.len() > 4,
        "{grant}"
    );
    assert_eq!(grant["client_id"], id.as_str());
    assert_eq!(grant["audience"], API);
    assert_eq!(grant["scope"], json!(["read:things", "write:things"]));
    let fetched = app
        .get(&format!("/api/v2/client-grants/{grant_id}"), Some(&token))
        .await;
    assert_eq!(fetched.json(), grant);

    let ok = token_request(&app, &id, &secret, API, None).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["scope"], "read:things write:things");

    let duplicate = post_grant(
        &app,
        &token,
        json!({ "client_id": id, "audience": API, "scope": [] }),
    )
    .await;
    assert_api_code(&duplicate, 409, "conflict");
    let missing = app
        .get("/api/v2/client-grants/cgr_nope", Some(&token))
        .await;
    assert_api_code(&missing, 404, "inexistent_grant");
});

each_backend!(invalid_grants_are_refused, |app| {
    let (id, _) = api_and_client(&app).await;
    let token = app.management_token(None).await;
    let unknown_client = post_grant(
        &app,
        &token,
        json!({ "client_id": "no-such-client", "audience": API, "scope": [] }),
    )
    .await;
    assert_api_code(&unknown_client, 404, "inexistent_client");
    let unknown_api = post_grant(
        &app,
        &token,
        json!({ "client_id": id, "audience": "https://nowhere.example.com/", "scope": [] }),
    )
    .await;
    assert_api_code(&unknown_api, 404, "inexistent_resource_server");
    for (what, body) in [
        (
            "undefined scope",
            json!({ "client_id": id, "audience": API, "scope": ["delete:things"] }),
        ),
        ("missing client_id", json!({ "audience": API, "scope": [] })),
        ("missing audience", json!({ "client_id": id, "scope": [] })),
        ("missing scope", json!({ "client_id": id, "audience": API })),
        (
            "scope not a list",
            json!({ "client_id": id, "audience": API, "scope": "read:things" }),
        ),
    ] {
        eprintln!("case: {what}");
        assert_api_code(&post_grant(&app, &token, body).await, 400, "invalid_body");
    }
    let listed = app
        .get(
            &format!("/api/v2/client-grants?client_id={id}"),
            Some(&token),
        )
        .await;
    assert_eq!(listed.json(), json!([]), "nothing was created");
});

each_backend!(lists_filter_by_client_and_audience, |app| {
    let (id, _) = api_and_client(&app).await;
    let token = app.management_token(None).await;
    let other_api = "https://other.example.com/";
    app.create_api(json!({ "identifier": other_api })).await;
    let g1 = app.create_client_grant(&id, API, &["read:things"]).await;
    let g2 = app.create_client_grant(&id, other_api, &[]).await;
    let g3 = app.create_client_grant(BOOTSTRAP_ID, API, &[]).await;

    let ids_of = |v: &Value| -> Vec<String> {
        let mut ids: Vec<String> = v
            .as_array()
            .unwrap_or_else(|| panic!("an array: {v}"))
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let sorted = |gs: &[&Value]| -> Vec<String> {
        let mut ids: Vec<String> = gs
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let by_client = app
        .get(
            &format!("/api/v2/client-grants?client_id={id}"),
            Some(&token),
        )
        .await
        .json();
    assert_eq!(ids_of(&by_client), sorted(&[&g1, &g2]));
    let by_audience = app
        .get(
            &format!("/api/v2/client-grants?audience={}", seg(API)),
            Some(&token),
        )
        .await
        .json();
    assert_eq!(ids_of(&by_audience), sorted(&[&g1, &g3]));
    let both = app
        .get(
            &format!(
                "/api/v2/client-grants?client_id={id}&audience={}",
                seg(other_api)
            ),
            Some(&token),
        )
        .await
        .json();
    assert_eq!(ids_of(&both), sorted(&[&g2]));

    // Unfiltered: the three plus the bootstrap client's Management API grant.
    let response = app
        .get("/api/v2/client-grants?include_totals=true", Some(&token))
        .await;
    let totals = response.json();
    assert_eq!(totals["total"], 4, "{totals}");
    assert_eq!(totals["length"], 4);
    let all = &totals["client_grants"];
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|g| g["client_id"] == BOOTSTRAP_ID && g["audience"] == MANAGEMENT_AUDIENCE),
        "{totals}"
    );
    let filtered_totals = app
        .get(
            &format!("/api/v2/client-grants?include_totals=true&client_id={id}&per_page=1"),
            Some(&token),
        )
        .await
        .json();
    assert_eq!(filtered_totals["total"], 2, "{filtered_totals}");
    assert_eq!(
        filtered_totals["client_grants"].as_array().unwrap().len(),
        1
    );
});

each_backend!(patching_the_scope_changes_what_tokens_carry, |app| {
    let (id, secret) = api_and_client(&app).await;
    let token = app.management_token(None).await;
    let grant = app
        .create_client_grant(&id, API, &["read:things", "write:things"])
        .await;
    let path = format!("/api/v2/client-grants/{}", grant["id"].as_str().unwrap());

    let response = app
        .send_json(
            Method::PATCH,
            &path,
            Some(json!({ "scope": ["read:things"] })),
            Some(&token),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let mut expected = grant.clone();
    expected["scope"] = json!(["read:things"]);
    assert_eq!(response.json(), expected);
    assert_eq!(app.get(&path, Some(&token)).await.json(), expected);

    let body = app.client_credentials(&id, &secret, API, None).await;
    assert_eq!(body["scope"], "read:things");
    token_request(&app, &id, &secret, API, Some("write:things"))
        .await
        .assert_oauth_error(400, "invalid_scope");

    for bad in [
        json!({ "scope": ["delete:things"] }),
        json!({ "audience": "https://other.example.com/" }),
        json!({ "client_id": BOOTSTRAP_ID }),
    ] {
        let response = app
            .send_json(Method::PATCH, &path, Some(bad), Some(&token))
            .await;
        assert_api_code(&response, 400, "invalid_body");
    }
    assert_eq!(
        app.get(&path, Some(&token)).await.json(),
        expected,
        "unchanged"
    );
    let missing = app
        .send_json(
            Method::PATCH,
            "/api/v2/client-grants/cgr_nope",
            Some(json!({ "scope": [] })),
            Some(&token),
        )
        .await;
    assert_api_code(&missing, 404, "inexistent_grant");
});

each_backend!(deleting_a_grant_stops_client_credentials, |app| {
    let (id, secret) = api_and_client(&app).await;
    let token = app.management_token(None).await;
    let grant = app.create_client_grant(&id, API, &["read:things"]).await;
    assert_eq!(
        token_request(&app, &id, &secret, API, None).await.status,
        200
    );

    let path = format!("/api/v2/client-grants/{}", grant["id"].as_str().unwrap());
    let response = app
        .send_json(Method::DELETE, &path, None, Some(&token))
        .await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert!(response.body.is_empty());
    token_request(&app, &id, &secret, API, None)
        .await
        .assert_oauth_error(400, "unauthorized_client");
    assert_api_code(&app.get(&path, Some(&token)).await, 404, "inexistent_grant");
    let again = app
        .send_json(Method::DELETE, &path, None, Some(&token))
        .await;
    assert_api_code(&again, 404, "inexistent_grant");
});

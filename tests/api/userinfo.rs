//! `GET/POST /userinfo`: the user's claims for a token with `openid` whose audience includes
//! `{issuer}userinfo`; RFC 6750 errors otherwise.

use axum::body::Body;
use axum::http::{Request, header};

use crate::browser::*;
use crate::each_backend;
use crate::helpers::{TestApp, TestResponse};

async fn userinfo(app: &TestApp, token: &str) -> TestResponse {
    app.get("/userinfo", Some(token)).await
}

#[track_caller]
fn assert_bearer_error(response: &TestResponse, status: u16, error: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    let challenge = response
        .header("www-authenticate")
        .expect("WWW-Authenticate");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(
        challenge.contains(&format!("error=\"{error}\"")),
        "{challenge}"
    );
    assert_eq!(response.json()["error"], error);
}

each_backend!(userinfo_answers_the_claims_of_the_scopes, |app| {
    let (user_id, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let tokens = code_flow_tokens(
        &mut browser,
        &client_id,
        &[("scope", "openid profile email")],
    )
    .await;
    let token = tokens["access_token"].as_str().unwrap();
    let response = userinfo(&app, token).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let claims = response.json();
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["email"], EMAIL);
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], NAME);
    assert_eq!(claims["nickname"], "ada");
    assert!(claims["updated_at"].is_i64(), "OIDC Core §5.1: a number");

    // POST works too (OIDC Core §5.3.1).
    let response = app
        .request(
            Request::post("/userinfo")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["sub"], user_id.as_str());

    // openid alone: just sub.
    let tokens = code_flow_tokens(&mut browser, &client_id, &[("scope", "openid")]).await;
    let claims = userinfo(&app, tokens["access_token"].as_str().unwrap())
        .await
        .json();
    assert_eq!(claims.as_object().unwrap().len(), 1, "{claims}");
    assert_eq!(claims["sub"], user_id.as_str());

    // An API token requested with openid carries the userinfo audience.
    create_things_api(&app, false).await;
    let tokens = code_flow_tokens(
        &mut browser,
        &client_id,
        &[("audience", API), ("scope", "openid email read:things")],
    )
    .await;
    let claims = userinfo(&app, tokens["access_token"].as_str().unwrap())
        .await
        .json();
    assert_eq!(claims["email"], EMAIL);
    assert!(claims.get("name").is_none());
});

each_backend!(userinfo_needs_the_openid_scope, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let tokens = code_flow_tokens(&mut browser, &client_id, &[("scope", "profile email")]).await;
    let response = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_bearer_error(&response, 403, "insufficient_scope");

    // An API token without openid is not for /userinfo at all.
    create_things_api(&app, false).await;
    let tokens = code_flow_tokens(
        &mut browser,
        &client_id,
        &[("audience", API), ("scope", "read:things")],
    )
    .await;
    let response = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_bearer_error(&response, 401, "invalid_token");
});

each_backend!(userinfo_refuses_bad_tokens, |app| {
    let (user_id, client_id) = spa_setup(&app).await;
    for garbage in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
        let response = userinfo(&app, garbage).await;
        assert_bearer_error(&response, 401, "invalid_token");
    }
    // No token at all.
    let response = app.get("/userinfo", None).await;
    assert_eq!(response.status, 401);
    assert!(
        response
            .header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer"))
    );

    // An ID token is not an access token.
    let mut browser = Browser::new(&app);
    let tokens = code_flow_tokens(&mut browser, &client_id, &[("scope", "openid")]).await;
    let response = userinfo(&app, tokens["id_token"].as_str().unwrap()).await;
    assert_bearer_error(&response, 401, "invalid_token");

    // A client-credentials token for another API.
    let (id, secret) = app.m2m_setup("RS256").await;
    let cc = app
        .client_credentials(&id, &secret, "https://api.example.com/", None)
        .await;
    let response = userinfo(&app, cc["access_token"].as_str().unwrap()).await;
    assert_bearer_error(&response, 401, "invalid_token");
    // …and a Management API token.
    let management = app.management_token(None).await;
    assert_bearer_error(&userinfo(&app, &management).await, 401, "invalid_token");

    // An expired token.
    let tokens = code_flow_tokens(&mut browser, &client_id, &[("scope", "openid")]).await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&app, &token).await.status, 200);
    app.clock.advance(86_400 + 120);
    assert_bearer_error(&userinfo(&app, &token).await, 401, "invalid_token");

    // A blocked user's token.
    app.clock.advance(-(86_400 + 120));
    assert_eq!(userinfo(&app, &token).await.status, 200);
    patch_user(&app, &user_id, serde_json::json!({ "blocked": true })).await;
    assert_bearer_error(&userinfo(&app, &token).await, 401, "invalid_token");
});

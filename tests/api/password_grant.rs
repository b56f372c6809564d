//! The password grant and Auth0's password-realm variant: first-party clients that registered
//! them only, throttled like the login page, `gty: password` access tokens.

use serde_json::json;

use crate::browser::*;
use crate::each_backend;
use crate::helpers::{ISSUER, START, TestApp, TestResponse, verify_with_jwks};

const REALM_GRANT: &str = "http://auth0.com/oauth/grant-type/password-realm";
const USERINFO: &str = "https://tessera.test/userinfo";

/// A client allowed both password grants; answers (client_id, secret).
async fn password_client(app: &TestApp, first_party: bool) -> (String, String) {
    web_client(
        app,
        json!({
            "name": "password app",
            "is_first_party": first_party,
            "grant_types": ["password", REALM_GRANT],
        }),
    )
    .await
}

async fn password(
    app: &TestApp,
    client: &(String, String),
    username: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> TestResponse {
    let mut pairs = vec![
        ("grant_type", "password"),
        ("client_id", client.0.as_str()),
        ("client_secret", client.1.as_str()),
        ("username", username),
        ("password", password),
    ];
    pairs.extend_from_slice(extra);
    app.post_form("/oauth/token", &pairs, None).await
}

each_backend!(
    the_password_grant_issues_tokens_to_first_party_clients,
    |app| {
        let user_id = create_user(&app, EMAIL, PASSWORD, NAME).await;
        create_things_api(&app, false).await;
        let client = password_client(&app, true).await;
        let jwks = jwks(&app).await;

        let response = password(
            &app,
            &client,
            EMAIL,
            PASSWORD,
            &[("scope", "openid profile email")],
        )
        .await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("cache-control"), Some("no-store"));
        let body = response.json();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "openid profile email");
        assert!(body.get("refresh_token").is_none());
        let access = verify_with_jwks(body["access_token"].as_str().unwrap(), &jwks, USERINFO);
        assert_eq!(access["gty"], "password");
        assert_eq!(access["sub"], user_id.as_str());
        assert_eq!(access["azp"], client.0.as_str());
        let id = verify_with_jwks(body["id_token"].as_str().unwrap(), &jwks, &client.0);
        assert_eq!(id["iss"], ISSUER);
        assert_eq!(id["sub"], user_id.as_str());
        assert_eq!(id["auth_time"], START);
        assert_eq!(id["email"], EMAIL);
        assert_eq!(id["name"], NAME);
        assert!(id.get("nonce").is_none());

        // password-realm with the database connection, for an API, without openid.
        let response = app
            .post_form(
                "/oauth/token",
                &[
                    ("grant_type", REALM_GRANT),
                    ("realm", "Username-Password-Authentication"),
                    ("client_id", &client.0),
                    ("client_secret", &client.1),
                    ("username", EMAIL),
                    ("password", PASSWORD),
                    ("audience", API),
                    ("scope", "read:things delete:things"),
                ],
                None,
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        let body = response.json();
        assert_eq!(body["scope"], "read:things");
        assert!(body.get("id_token").is_none());
        let access = verify_with_jwks(body["access_token"].as_str().unwrap(), &jwks, API);
        assert_eq!(access["aud"], API);
        assert_eq!(access["gty"], "password");

        // With openid for an API: both audiences.
        let response = password(
            &app,
            &client,
            EMAIL,
            PASSWORD,
            &[("audience", API), ("scope", "openid read:things")],
        )
        .await;
        let access = verify_with_jwks(
            response.json()["access_token"].as_str().unwrap(),
            &jwks,
            API,
        );
        assert_eq!(access["aud"], json!([API, USERINFO]));
    }
);

each_backend!(the_password_grant_is_refused_where_not_allowed, |app| {
    create_user(&app, EMAIL, PASSWORD, NAME).await;
    let third = password_client(&app, false).await;
    password(&app, &third, EMAIL, PASSWORD, &[])
        .await
        .assert_oauth_error(400, "unauthorized_client");
    let plain = web_client(&app, json!({ "name": "no password grant" })).await;
    password(&app, &plain, EMAIL, PASSWORD, &[])
        .await
        .assert_oauth_error(400, "unauthorized_client");
    // Registering `password` does not allow password-realm.
    let only_password = web_client(
        &app,
        json!({ "name": "only password", "grant_types": ["password"] }),
    )
    .await;
    let response = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", REALM_GRANT),
                ("realm", "Username-Password-Authentication"),
                ("client_id", &only_password.0),
                ("client_secret", &only_password.1),
                ("username", EMAIL),
                ("password", PASSWORD),
            ],
            None,
        )
        .await;
    response.assert_oauth_error(400, "unauthorized_client");
});

each_backend!(wrong_passwords_unknown_users_and_realms, |app| {
    let user_id = create_user(&app, EMAIL, PASSWORD, NAME).await;
    let client = password_client(&app, true).await;
    password(&app, &client, EMAIL, "not the password", &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    password(&app, &client, "nobody@example.com", PASSWORD, &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    let response = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", REALM_GRANT),
                ("realm", "google-oauth2"),
                ("client_id", &client.0),
                ("client_secret", &client.1),
                ("username", EMAIL),
                ("password", PASSWORD),
            ],
            None,
        )
        .await;
    response.assert_oauth_error(400, "invalid_request");
    // password-realm without a realm.
    let response = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", REALM_GRANT),
                ("client_id", &client.0),
                ("client_secret", &client.1),
                ("username", EMAIL),
                ("password", PASSWORD),
            ],
            None,
        )
        .await;
    response.assert_oauth_error(400, "invalid_request");
    // A blocked user.
    patch_user(&app, &user_id, json!({ "blocked": true })).await;
    password(&app, &client, EMAIL, PASSWORD, &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
});

each_backend!(password_failures_are_throttled, |app| {
    create_user(&app, EMAIL, PASSWORD, NAME).await;
    let client = password_client(&app, true).await;
    // X-Forwarded-For is not believed without TESSERA_TRUSTED_PROXIES: rotating it does not
    // spread the failures over several IPs.
    for i in 0..5 {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "password"),
                ("client_id", client.0.as_str()),
                ("client_secret", client.1.as_str()),
                ("username", EMAIL),
                ("password", "not the password"),
            ])
            .finish();
        let request = axum::http::Request::post("/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .body(axum::body::Body::from(body))
            .unwrap();
        app.request(request)
            .await
            .assert_oauth_error(400, "invalid_grant");
    }
    let response = password(&app, &client, EMAIL, PASSWORD, &[]).await;
    response.assert_oauth_error(429, "too_many_requests");
    let retry: i64 = response
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry >= 1);
    // The login page shares the throttle (same user, same IP).
    let (_, spa) = {
        let c = app
            .create_client(json!({ "name": "spa", "app_type": "spa", "callbacks": [CALLBACK] }))
            .await;
        ((), c["client_id"].as_str().unwrap().to_owned())
    };
    let mut browser = Browser::new(&app);
    let (params, _) = code_params(&spa, &[]);
    let response = browser.authorize_with(&params).await;
    let (_, answer) = browser
        .login_at(&location(&response), EMAIL, PASSWORD)
        .await;
    assert_eq!(answer.status, 429, "{}", answer.text());

    app.clock.advance(retry);
    let response = password(&app, &client, EMAIL, PASSWORD, &[]).await;
    assert_eq!(response.status, 200, "{}", response.text());
});

each_backend!(user_tokens_never_open_the_management_api, |app| {
    create_user(&app, EMAIL, PASSWORD, NAME).await;
    let client = password_client(&app, true).await;
    let management = format!("{ISSUER}api/v2/");
    // The Management API is for machine-to-machine clients: for users it does not exist.
    let response = password(
        &app,
        &client,
        EMAIL,
        PASSWORD,
        &[
            ("audience", &management),
            ("scope", "read:users delete:users"),
        ],
    )
    .await;
    response.assert_oauth_error(400, "invalid_request");
    // Nor through /authorize: the error goes back to the registered callback.
    let spa = app
        .create_client(json!({ "name": "spa", "app_type": "spa", "callbacks": [CALLBACK] }))
        .await;
    let mut browser = Browser::new(&app);
    let (params, _verifier) = code_params(
        spa["client_id"].as_str().unwrap(),
        &[
            ("audience", &management),
            ("scope", "read:users delete:users"),
        ],
    );
    let response = browser.authorize_with(&params).await;
    let query = callback_query(&response);
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("invalid_request"),
        "{query:?}"
    );
    assert!(!query.contains_key("code"));
});

//! One answer per fault: a database that cannot be reached is `503` with `Retry-After` at every
//! endpoint, in that endpoint's error shape, on both backends.

use axum::http::Method;
use serde_json::json;

use crate::browser::*;
use crate::each_backend;
use crate::helpers::TestResponse;
use crate::refresh::{App2, password_login};

#[track_caller]
fn assert_unavailable(response: &TestResponse, what: &str) {
    assert_eq!(response.status, 503, "{what}: {}", response.text());
    assert_eq!(
        response.header("retry-after"),
        Some("5"),
        "{what}: Retry-After"
    );
}

each_backend!(an_unreachable_database_is_503_everywhere, |app| {
    let (user_id, spa) = spa_setup(&app).await;
    let client = app
        .create_client(json!({
            "name": "app",
            "app_type": "regular_web",
            "grant_types": ["password", "refresh_token", "client_credentials"],
        }))
        .await;
    let c = App2 {
        id: client["client_id"].as_str().unwrap().to_owned(),
        secret: client["client_secret"].as_str().unwrap().to_owned(),
        user_id,
    };
    let tokens = password_login(&app, &c, PASSWORD, &[("scope", "openid offline_access")]).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let management = app.management_token(None).await;
    let (_, challenge) = pkce();

    app.store.close().await;

    // The OAuth endpoints: RFC 6749 JSON, temporarily_unavailable.
    for (what, pairs) in [
        (
            "client_credentials",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", c.id.as_str()),
                ("client_secret", c.secret.as_str()),
                ("audience", "https://api.example.com/"),
            ],
        ),
        (
            // The client is held in memory: the exchange itself meets the closed database.
            "refresh_token",
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", c.id.as_str()),
                ("client_secret", c.secret.as_str()),
                ("refresh_token", refresh.as_str()),
            ],
        ),
        (
            "password",
            vec![
                ("grant_type", "password"),
                ("client_id", c.id.as_str()),
                ("client_secret", c.secret.as_str()),
                ("username", EMAIL),
                ("password", PASSWORD),
            ],
        ),
    ] {
        let response = app.post_form("/oauth/token", &pairs, None).await;
        assert_unavailable(&response, what);
        assert_eq!(
            response.json()["error"],
            "temporarily_unavailable",
            "{what}"
        );
    }
    let response = app
        .post_form(
            "/oauth/revoke",
            &[
                ("client_id", c.id.as_str()),
                ("client_secret", c.secret.as_str()),
                ("token", refresh.as_str()),
            ],
            None,
        )
        .await;
    assert_unavailable(&response, "revoke");
    assert_eq!(response.json()["error"], "temporarily_unavailable");
    let response = app.get("/userinfo", Some(&access)).await;
    assert_unavailable(&response, "userinfo");
    assert_eq!(response.json()["error"], "temporarily_unavailable");

    // The Management API: Auth0's shape.
    let response = app
        .send_json(Method::GET, "/api/v2/clients", None, Some(&management))
        .await;
    assert_unavailable(&response, "management");
    assert_eq!(response.json()["statusCode"], 503);

    // /authorize: an error page (nothing is known of the client yet).
    let mut browser = Browser::new(&app);
    let response = browser
        .authorize(&[
            ("client_id", &spa),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_unavailable(&response, "authorize");
    assert!(response.text().contains("temporarily_unavailable"));
});

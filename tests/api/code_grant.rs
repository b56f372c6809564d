//! `grant_type=authorization_code`: single-use codes that expire after 60 s, PKCE, the redirect
//! URI binding, the client binding, and confidential clients.

use serde_json::json;

use crate::browser::*;
use crate::each_backend;
use crate::helpers::TestApp;

/// Logs in (or uses the session) and answers a fresh code for `params` plus its verifier.
async fn code_for(browser: &mut Browser<'_>, params: &Params) -> String {
    let response = browser.authorize_with(params).await;
    let response = match location(&response) {
        l if l.starts_with("/u/login") => browser.login_at(&l, EMAIL, PASSWORD).await.1,
        _ => response,
    };
    callback_query(&response)["code"].clone()
}

async fn redeem(
    app: &TestApp,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> crate::helpers::TestResponse {
    exchange(
        app,
        &[
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ],
    )
    .await
}

each_backend!(codes_are_single_use, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (params, verifier) = code_params(&client_id, &[]);
    let code = code_for(&mut browser, &params).await;
    let first = redeem(&app, &client_id, &code, &verifier).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let second = redeem(&app, &client_id, &code, &verifier).await;
    second.assert_oauth_error(400, "invalid_grant");
    // A made-up code too.
    let bogus = redeem(&app, &client_id, "not-a-code", &verifier).await;
    bogus.assert_oauth_error(400, "invalid_grant");
});

each_backend!(codes_expire_after_sixty_seconds, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (params, verifier) = code_params(&client_id, &[]);
    let code = code_for(&mut browser, &params).await;
    app.clock.advance(59);
    assert_eq!(redeem(&app, &client_id, &code, &verifier).await.status, 200);

    let (params, verifier) = code_params(&client_id, &[]);
    let code = code_for(&mut browser, &params).await;
    app.clock.advance(61);
    redeem(&app, &client_id, &code, &verifier)
        .await
        .assert_oauth_error(400, "invalid_grant");
});

each_backend!(pkce_is_verified, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);

    // Another verifier (well-formed, 43+ characters).
    let (params, _) = code_params(&client_id, &[]);
    let code = code_for(&mut browser, &params).await;
    let (wrong, _) = pkce();
    redeem(&app, &client_id, &code, &wrong)
        .await
        .assert_oauth_error(400, "invalid_grant");

    // The challenge itself as the verifier.
    let (params, _) = code_params(&client_id, &[]);
    let challenge = params[4].1.clone();
    let code = code_for(&mut browser, &params).await;
    redeem(&app, &client_id, &code, &challenge)
        .await
        .assert_oauth_error(400, "invalid_grant");

    // No verifier for a code issued with a challenge.
    let (params, _) = code_params(&client_id, &[]);
    let code = code_for(&mut browser, &params).await;
    exchange(
        &app,
        &[
            ("client_id", &client_id),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    )
    .await
    .assert_oauth_error(400, "invalid_grant");
});

each_backend!(the_redirect_uri_must_match, |app| {
    let client = app
        .create_client(json!({
            "name": "two callbacks",
            "app_type": "spa",
            "callbacks": [CALLBACK, CALLBACK_2],
        }))
        .await;
    create_user(&app, EMAIL, PASSWORD, NAME).await;
    let client_id = client["client_id"].as_str().unwrap();
    let mut browser = Browser::new(&app);
    for (given, error) in [
        (Some(CALLBACK_2), "invalid_grant"),
        (Some("https://evil.example.com/callback"), "invalid_grant"),
        (None, "invalid_request"),
    ] {
        let (params, verifier) = code_params(client_id, &[]);
        let code = code_for(&mut browser, &params).await;
        let mut pairs = vec![
            ("client_id", client_id),
            ("code", &code),
            ("code_verifier", &verifier),
        ];
        if let Some(uri) = given {
            pairs.push(("redirect_uri", uri));
        }
        exchange(&app, &pairs).await.assert_oauth_error(400, error);
    }
});

each_backend!(a_code_is_bound_to_its_client, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let other = app
        .create_client(json!({ "name": "other", "app_type": "spa", "callbacks": [CALLBACK] }))
        .await;
    let other = other["client_id"].as_str().unwrap();
    let mut browser = Browser::new(&app);
    let (params, verifier) = code_params(&client_id, &[]);
    let code = code_for(&mut browser, &params).await;
    redeem(&app, other, &code, &verifier)
        .await
        .assert_oauth_error(400, "invalid_grant");
});

each_backend!(confidential_clients_exchange_with_their_secret, |app| {
    create_user(&app, EMAIL, PASSWORD, NAME).await;
    let (client_id, secret) = web_client(&app, json!({})).await;
    assert!(!secret.is_empty());
    let mut browser = Browser::new(&app);
    // No PKCE needed for a confidential client.
    let params: Params = vec![
        ("client_id", client_id.clone()),
        ("response_type", "code".into()),
        ("redirect_uri", CALLBACK.into()),
        ("scope", "openid email".into()),
        ("state", "st".into()),
    ];
    let code = code_for(&mut browser, &params).await;

    // Without the secret, or with a wrong one: invalid_client (client authentication comes
    // first, so the code is still good afterwards).
    let response = exchange(
        &app,
        &[
            ("client_id", &client_id),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    )
    .await;
    response.assert_oauth_error(401, "invalid_client");
    let response = exchange(
        &app,
        &[
            ("client_id", &client_id),
            ("client_secret", "wrong-secret"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    )
    .await;
    response.assert_oauth_error(401, "invalid_client");

    let response = exchange(
        &app,
        &[
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["scope"], "openid email");
    assert!(body["id_token"].is_string());

    // A verifier for a code issued without a challenge is refused.
    let code = code_for(&mut browser, &params).await;
    let (verifier, _) = pkce();
    exchange(
        &app,
        &[
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await
    .assert_oauth_error(400, "invalid_grant");

    // client_secret_basic, when registered so.
    let (basic_id, basic_secret) = web_client(
        &app,
        json!({ "name": "basic", "token_endpoint_auth_method": "client_secret_basic" }),
    )
    .await;
    let mut params = params.clone();
    params[0].1 = basic_id.clone();
    let code = code_for(&mut browser, &params).await;
    let response = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
            ],
            Some((&basic_id, &basic_secret)),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
});

each_backend!(
    the_grant_type_must_be_allowed_at_the_token_endpoint,
    |app| {
        let (_, client_id) = spa_setup(&app).await;
        let mut browser = Browser::new(&app);
        let (params, verifier) = code_params(&client_id, &[]);
        let code = code_for(&mut browser, &params).await;
        // The client loses the grant type between the authorization and the exchange.
        let token = app.management_token(None).await;
        let response = app
            .send_json(
                axum::http::Method::PATCH,
                &format!("/api/v2/clients/{client_id}"),
                Some(json!({ "grant_types": ["implicit"] })),
                Some(&token),
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        redeem(&app, &client_id, &code, &verifier)
            .await
            .assert_oauth_error(400, "unauthorized_client");
    }
);

each_backend!(
    a_code_raced_by_concurrent_exchanges_is_redeemed_once,
    |app| {
        let (_, client_id) = spa_setup(&app).await;
        let mut browser = Browser::new(&app);
        let (params, verifier) = code_params(&client_id, &[]);
        let code = code_for(&mut browser, &params).await;
        let (a, b, c, d) = tokio::join!(
            redeem(&app, &client_id, &code, &verifier),
            redeem(&app, &client_id, &code, &verifier),
            redeem(&app, &client_id, &code, &verifier),
            redeem(&app, &client_id, &code, &verifier),
        );
        let answers = [a, b, c, d];
        let ok = answers.iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "exactly one exchange wins");
        for r in answers.iter().filter(|r| r.status != 200) {
            r.assert_oauth_error(400, "invalid_grant");
        }
    }
);

each_backend!(codes_of_blocked_users_are_refused, |app| {
    let (user_id, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (params, verifier) = code_params(&client_id, &[]);
    let code = code_for(&mut browser, &params).await;
    patch_user(&app, &user_id, json!({ "blocked": true })).await;
    redeem(&app, &client_id, &code, &verifier)
        .await
        .assert_oauth_error(400, "invalid_grant");
});

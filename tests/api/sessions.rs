//! SSO sessions: `prompt` (none, login), the session lifetimes (3 days idle, 7 days absolute),
//! blocked users, and logout (`/v2/logout`, `/oidc/logout`), which only redirects to a
//! registered `allowed_logout_urls` entry.

use serde_json::json;

use crate::browser::*;
use crate::each_backend;
use crate::helpers::{START, TestResponse, verify_with_jwks};

const DAY: i64 = 86_400;

/// `prompt=none` answered `error` (with the state) to the callback.
#[track_caller]
fn assert_prompt_error(response: &TestResponse, error: &str) {
    let query = callback_query(response);
    assert_eq!(query["error"], error, "{query:?}");
    assert_eq!(query["state"], "st");
    assert!(!query.contains_key("code"));
}

/// `prompt=none` for the SPA: answers the response.
async fn silent(browser: &mut Browser<'_>, client_id: &str) -> TestResponse {
    let (params, _) = code_params(client_id, &[("prompt", "none")]);
    browser.authorize_with(&params).await
}

/// Whether `prompt=none` gets a code (true) or `login_required` (false).
async fn session_alive(browser: &mut Browser<'_>, client_id: &str) -> bool {
    let response = silent(browser, client_id).await;
    let query = callback_query(&response);
    if query.contains_key("code") {
        true
    } else {
        assert_prompt_error(&response, "login_required");
        false
    }
}

each_backend!(prompt_none_without_a_session_is_login_required, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let response = silent(&mut browser, &client_id).await;
    assert_prompt_error(&response, "login_required");
    // form_post and fragment modes carry the error their own way.
    let (mut params, _) = code_params(&client_id, &[("prompt", "none")]);
    params.push(("response_mode", "fragment".into()));
    let (_, fragment) = redirect_params(&location(&browser.authorize_with(&params).await), '#');
    assert_eq!(fragment["error"], "login_required");
    assert_eq!(fragment["state"], "st");
});

each_backend!(
    prompt_none_with_a_session_answers_without_the_login_page,
    |app| {
        let (user_id, client_id) = spa_setup(&app).await;
        let mut browser = Browser::new(&app);
        let (params, _) = code_params(&client_id, &[]);
        let answer = browser.authorize_and_login(&refs(&params)).await;
        assert!(callback_query(&answer).contains_key("code"));

        app.clock.advance(100);
        let (params, verifier) = code_params(&client_id, &[("prompt", "none"), ("nonce", "n2")]);
        let response = browser.authorize_with(&params).await;
        let query = callback_query(&response);
        assert_eq!(query["state"], "st");
        let tokens = exchange(
            &app,
            &[
                ("client_id", &client_id),
                ("code", &query["code"]),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(tokens.status, 200, "{}", tokens.text());
        let id = verify_with_jwks(
            tokens.json()["id_token"].as_str().unwrap(),
            &jwks(&app).await,
            &client_id,
        );
        assert_eq!(id["sub"], user_id.as_str());
        assert_eq!(
            id["auth_time"], START,
            "auth_time is the login, not this request"
        );
        assert_eq!(id["iat"], START + 100);
        assert_eq!(id["nonce"], "n2");

        // Without prompt, the session answers at once too.
        let (params, _) = code_params(&client_id, &[]);
        assert!(callback_query(&browser.authorize_with(&params).await).contains_key("code"));
        // Another browser (no cookie) is not logged in.
        let mut other = Browser::new(&app);
        assert_prompt_error(&silent(&mut other, &client_id).await, "login_required");
    }
);

each_backend!(prompt_login_shows_the_login_page_despite_a_session, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (params, _) = code_params(&client_id, &[]);
    browser.authorize_and_login(&refs(&params)).await;
    let first_session = browser.cookie("tessera_session").unwrap().value.clone();

    app.clock.advance(50);
    let (params, verifier) = code_params(&client_id, &[("prompt", "login")]);
    let response = browser.authorize_with(&params).await;
    let login = location(&response);
    assert!(login.starts_with("/u/login?state="), "{login}");
    let (_, answer) = browser.login_at(&login, EMAIL, PASSWORD).await;
    let query = callback_query(&answer);
    assert_ne!(
        browser.cookie("tessera_session").unwrap().value,
        first_session,
        "a new login makes a new session"
    );
    let tokens = exchange(
        &app,
        &[
            ("client_id", &client_id),
            ("code", &query["code"]),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    let id = verify_with_jwks(
        tokens.json()["id_token"].as_str().unwrap(),
        &jwks(&app).await,
        &client_id,
    );
    assert_eq!(id["auth_time"], START + 50);
});

each_backend!(sessions_end_after_three_idle_days, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (params, _) = code_params(&client_id, &[]);
    browser.authorize_and_login(&refs(&params)).await;
    app.clock.advance(3 * DAY - 1);
    assert!(
        session_alive(&mut browser, &client_id).await,
        "just inside 3 days"
    );

    let mut idle = Browser::new(&app);
    idle.authorize_and_login(&refs(&params)).await;
    app.clock.advance(3 * DAY + 1);
    assert!(
        !session_alive(&mut idle, &client_id).await,
        "idle 3 days + 1 s"
    );
    // …and the session does not come back.
    assert!(!session_alive(&mut idle, &client_id).await);
});

each_backend!(
    activity_keeps_a_session_alive_for_at_most_seven_days,
    |app| {
        let (_, client_id) = spa_setup(&app).await;
        let mut browser = Browser::new(&app);
        let (params, _) = code_params(&client_id, &[]);
        browser.authorize_and_login(&refs(&params)).await;
        for day in [2, 4, 6] {
            app.clock.advance(2 * DAY);
            assert!(
                session_alive(&mut browser, &client_id).await,
                "active on day {day}"
            );
        }
        app.clock.advance(DAY + 1);
        assert!(
            !session_alive(&mut browser, &client_id).await,
            "7 days absolute, even though active a day ago"
        );
    }
);

each_backend!(a_blocked_users_session_ends, |app| {
    let (user_id, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (params, _) = code_params(&client_id, &[]);
    browser.authorize_and_login(&refs(&params)).await;
    assert!(session_alive(&mut browser, &client_id).await);
    patch_user(&app, &user_id, json!({ "blocked": true })).await;
    assert!(!session_alive(&mut browser, &client_id).await);
});

each_backend!(
    v2_logout_ends_the_session_and_returns_to_an_allowed_url,
    |app| {
        let (_, client_id) = spa_setup(&app).await;
        let mut browser = Browser::new(&app);
        let (params, _) = code_params(&client_id, &[]);
        browser.authorize_and_login(&refs(&params)).await;
        let stolen = browser.cookie("tessera_session").unwrap().clone();

        let path = format!(
            "/v2/logout?client_id={client_id}&returnTo={}",
            form_urlencoded::byte_serialize(LOGOUT_URL.as_bytes()).collect::<String>()
        );
        let response = browser.get(&path).await;
        assert_eq!(location(&response), LOGOUT_URL);
        assert!(
            browser.cookie("tessera_session").is_none(),
            "the cookie is removed: {:?}",
            response.headers.get_all("set-cookie")
        );
        assert!(!session_alive(&mut browser, &client_id).await);
        // The session is gone on the server too: replaying the old cookie does not help.
        browser.cookies.insert("tessera_session".into(), stolen);
        assert!(!session_alive(&mut browser, &client_id).await);
    }
);

each_backend!(logout_to_an_unregistered_url_does_not_redirect, |app| {
    let (_, client_id) = spa_setup(&app).await;
    for return_to in [
        Some("https://evil.example.com/"),
        Some("https://app.example.com/bye/x"),
        Some("https://app.example.com/by"),
        None,
    ] {
        let mut browser = Browser::new(&app);
        let (params, _) = code_params(&client_id, &[]);
        browser.authorize_and_login(&refs(&params)).await;
        let mut path = format!("/v2/logout?client_id={client_id}");
        if let Some(url) = return_to {
            path.push_str("&returnTo=");
            path.extend(form_urlencoded::byte_serialize(url.as_bytes()));
        }
        let response = browser.get(&path).await;
        assert_eq!(response.status, 200, "{return_to:?}: {}", response.text());
        assert!(response.header("location").is_none());
        assert!(
            response.text().contains("logged out"),
            "{}",
            response.text()
        );
        assert!(
            !session_alive(&mut browser, &client_id).await,
            "the session ended anyway"
        );
    }
    // A registered URL of another client is not enough either.
    let other = app
        .create_client(json!({
            "name": "other",
            "app_type": "spa",
            "callbacks": [CALLBACK],
            "allowed_logout_urls": ["https://other.example.com/"],
        }))
        .await;
    let mut browser = Browser::new(&app);
    let path = format!(
        "/v2/logout?client_id={}&returnTo={}",
        other["client_id"].as_str().unwrap(),
        form_urlencoded::byte_serialize(LOGOUT_URL.as_bytes()).collect::<String>()
    );
    let response = browser.get(&path).await;
    assert_eq!(response.status, 200);
    assert!(response.header("location").is_none());
});

each_backend!(
    oidc_logout_with_an_id_token_hint_redirects_with_the_state,
    |app| {
        let (_, client_id) = spa_setup(&app).await;
        let mut browser = Browser::new(&app);
        let tokens = code_flow_tokens(&mut browser, &client_id, &[("scope", "openid")]).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        let uri = form_urlencoded::byte_serialize(LOGOUT_URL.as_bytes()).collect::<String>();

        let response = browser
            .get(&format!(
                "/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri={uri}&state=s%20x"
            ))
            .await;
        let (base, query) = redirect_params(&location(&response), '?');
        assert_eq!(base, LOGOUT_URL);
        assert_eq!(query["state"], "s x");
        assert!(!session_alive(&mut browser, &client_id).await);

        // The ID token may have expired meanwhile (RP-initiated logout does not check expiry).
        app.clock.advance(36_000 + 10);
        let response = browser
            .get(&format!(
                "/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri={uri}&state=s"
            ))
            .await;
        assert!(location(&response).starts_with(LOGOUT_URL));

        // An altered hint names no client: no redirect.
        let mut forged: Vec<char> = id_token.chars().collect();
        let last = forged.len() - 5;
        forged[last] = if forged[last] == 'A' { 'B' } else { 'A' };
        let forged: String = forged.into_iter().collect();
        let response = browser
            .get(&format!(
                "/oidc/logout?id_token_hint={forged}&post_logout_redirect_uri={uri}&state=s"
            ))
            .await;
        assert_eq!(response.status, 200);
        assert!(response.header("location").is_none());

        // client_id works in place of the hint.
        let response = browser
            .get(&format!(
                "/oidc/logout?client_id={client_id}&post_logout_redirect_uri={uri}"
            ))
            .await;
        assert_eq!(location(&response), LOGOUT_URL);
    }
);

each_backend!(
    prompt_login_cannot_be_skipped_through_the_consent_form,
    |app| {
        let (_, client_id) = spa_setup(&app).await;
        let mut browser = Browser::new(&app);
        let (params, _) = code_params(&client_id, &[]);
        browser.authorize_and_login(&refs(&params)).await;

        // The client asks for a fresh login; the browser posts the login transaction to the consent
        // form instead of logging in (the CSRF token is the same for both forms).
        app.clock.advance(60);
        let (params, _) = code_params(&client_id, &[("prompt", "login")]);
        let login = location(&browser.authorize_with(&params).await);
        let page = browser.get(&login).await;
        let inputs = hidden_inputs(&page.text());
        let response = browser
            .post_form(
                "/u/consent",
                &[
                    ("state", &inputs["state"]),
                    ("csrf", &inputs["csrf"]),
                    ("action", "accept"),
                ],
            )
            .await;
        let next = response.header("location").unwrap_or_default().to_owned();
        assert!(
            !next.starts_with(CALLBACK),
            "prompt=login answered without a login: {next}"
        );
        assert!(next.starts_with("/u/login?state="), "{next}");
    }
);

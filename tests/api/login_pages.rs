//! The hosted login page: CSRF protection, wrong and unknown credentials, blocked users,
//! throttling, security headers, cookie attributes, and tampered transactions.

use serde_json::json;

use crate::browser::*;
use crate::each_backend;
use crate::helpers::{TestResponse, spawn_app_at};

/// Opens the login page for a fresh authorization of the SPA; answers its hidden inputs.
async fn open_login(browser: &mut Browser<'_>, client_id: &str) -> (TestResponse, String, String) {
    let (params, _) = code_params(client_id, &[]);
    let response = browser.authorize_with(&params).await;
    let page = browser.get(&location(&response)).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let inputs = hidden_inputs(&page.text());
    let (state, csrf) = (inputs["state"].clone(), inputs["csrf"].clone());
    (page, state, csrf)
}

async fn submit(
    browser: &mut Browser<'_>,
    state: &str,
    csrf: &str,
    username: &str,
    password: &str,
) -> TestResponse {
    browser
        .post_form(
            "/u/login",
            &[
                ("state", state),
                ("csrf", csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
}

fn sets_session(response: &TestResponse) -> bool {
    response
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("tessera_session="))
}

#[track_caller]
fn assert_page_headers(response: &TestResponse) {
    let csp = response
        .header("content-security-policy")
        .expect("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(response.header("x-frame-options"), Some("DENY"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert!(response.header("referrer-policy").is_some());
}

each_backend!(the_login_form_needs_its_csrf_cookie_and_token, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (_, state, csrf) = open_login(&mut browser, &client_id).await;
    assert!(browser.cookie("tessera_csrf").is_some());

    // A wrong token with the right cookie.
    let response = submit(&mut browser, &state, "wrong", EMAIL, PASSWORD).await;
    assert_eq!(response.status, 403, "{}", response.text());
    assert!(!sets_session(&response));
    let response = submit(&mut browser, &state, "", EMAIL, PASSWORD).await;
    assert_eq!(response.status, 403);
    assert!(!sets_session(&response));

    // The right token without the cookie (a cross-site post).
    let mut attacker = Browser::new(&app);
    let response = submit(&mut attacker, &state, &csrf, EMAIL, PASSWORD).await;
    assert_eq!(response.status, 403, "{}", response.text());
    assert!(!sets_session(&response));
    assert_page_headers(&response);

    // Another browser's cookie with this browser's token.
    let (_, _, other_csrf) = open_login(&mut attacker, &client_id).await;
    let response = submit(&mut attacker, &state, &csrf, EMAIL, PASSWORD).await;
    assert_eq!(response.status, 403);
    assert_ne!(csrf, other_csrf);

    // The genuine form still works.
    let response = submit(&mut browser, &state, &csrf, EMAIL, PASSWORD).await;
    assert!(callback_query(&response).contains_key("code"));
    assert!(sets_session(&response));
});

each_backend!(wrong_or_unknown_credentials_are_refused_alike, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (_, state, csrf) = open_login(&mut browser, &client_id).await;
    for (username, password) in [
        (EMAIL, "not the password"),
        ("nobody@example.com", PASSWORD),
        ("ADA@example.com", "not the password"),
        // PostgreSQL cannot store or compare a NUL: it must still read as unknown, not fail.
        ("a\0da@example.com", PASSWORD),
    ] {
        let response = submit(&mut browser, &state, &csrf, username, password).await;
        assert_eq!(response.status, 401, "{}", response.text());
        assert!(
            response.text().contains("Wrong email or password"),
            "{}",
            response.text()
        );
        assert!(!sets_session(&response));
        assert!(browser.cookie("tessera_session").is_none());
        assert_page_headers(&response);
        // The form comes back, ready for another try, with the email kept.
        let inputs = hidden_inputs(&response.text());
        assert_eq!(inputs["state"], state);
        let username_input = tags(&response.text(), "input")
            .into_iter()
            .find(|a| a.get("name").is_some_and(|n| n == "username"))
            .expect("username input");
        assert_eq!(username_input["value"], username);
    }
    let response = submit(&mut browser, &state, &csrf, EMAIL, "").await;
    assert_eq!(response.status, 401);
    assert!(!sets_session(&response));
    // Emails are case-insensitive.
    let response = submit(&mut browser, &state, &csrf, "Ada@Example.COM", PASSWORD).await;
    assert!(callback_query(&response).contains_key("code"));
});

each_backend!(blocked_users_cannot_log_in, |app| {
    let (user_id, client_id) = spa_setup(&app).await;
    patch_user(&app, &user_id, json!({ "blocked": true })).await;
    let mut browser = Browser::new(&app);
    let (_, state, csrf) = open_login(&mut browser, &client_id).await;
    let response = submit(&mut browser, &state, &csrf, EMAIL, PASSWORD).await;
    assert!(
        matches!(response.status.as_u16(), 401 | 403),
        "{}",
        response.text()
    );
    assert!(response.header("location").is_none());
    assert!(response.text().contains("blocked"), "{}", response.text());
    assert!(!sets_session(&response));
    // Unblocked, the same form works.
    patch_user(&app, &user_id, json!({ "blocked": false })).await;
    let response = submit(&mut browser, &state, &csrf, EMAIL, PASSWORD).await;
    assert!(callback_query(&response).contains_key("code"));
});

each_backend!(failed_logins_are_throttled_per_user_and_ip, |app| {
    let (_, client_id) = spa_setup(&app).await;
    create_user(&app, "bob@example.com", PASSWORD, "Bob").await;
    let mut browser = Browser::new(&app);
    let (_, state, csrf) = open_login(&mut browser, &client_id).await;
    for attempt in 1..=5 {
        let response = submit(&mut browser, &state, &csrf, EMAIL, "wrong password").await;
        assert_eq!(response.status, 401, "attempt {attempt}");
    }
    // The sixth attempt waits, even with the right password.
    let response = submit(&mut browser, &state, &csrf, EMAIL, PASSWORD).await;
    assert_eq!(response.status, 429, "{}", response.text());
    let retry: u64 = response
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    assert!(!sets_session(&response));
    assert!(response.header("location").is_none());
    // Another user from the same IP is not affected.
    let mut bob = Browser::new(&app);
    let (_, bob_state, bob_csrf) = open_login(&mut bob, &client_id).await;
    let response = submit(&mut bob, &bob_state, &bob_csrf, "bob@example.com", PASSWORD).await;
    assert!(callback_query(&response).contains_key("code"));

    // After the back-off, the right password gets in.
    app.clock.advance(i64::try_from(retry).unwrap());
    let response = submit(&mut browser, &state, &csrf, EMAIL, PASSWORD).await;
    assert!(callback_query(&response).contains_key("code"));
    assert!(sets_session(&response));
});

each_backend!(pages_send_the_security_headers, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (page, _, _) = open_login(&mut browser, &client_id).await;
    assert_page_headers(&page);
    assert!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    // The error page too.
    let response = browser.get("/authorize?client_id=nope").await;
    assert_page_headers(&response);
    let response = browser.get("/u/login?state=garbage").await;
    assert_page_headers(&response);
});

each_backend!(cookies_are_http_only_secure_and_cross_site, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (_, state, csrf) = open_login(&mut browser, &client_id).await;
    let csrf_cookie = browser.cookie("tessera_csrf").unwrap().clone();
    let attrs = |raw: &str| -> Vec<String> {
        raw.split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect()
    };
    let a = attrs(&csrf_cookie.raw);
    assert!(a.contains(&"httponly".into()), "{}", csrf_cookie.raw);
    assert!(a.contains(&"secure".into()), "{}", csrf_cookie.raw);
    assert!(a.contains(&"samesite=none".into()), "{}", csrf_cookie.raw);
    assert!(a.contains(&"path=/u".into()), "{}", csrf_cookie.raw);

    submit(&mut browser, &state, &csrf, EMAIL, PASSWORD).await;
    let session = browser
        .cookie("tessera_session")
        .expect("session cookie")
        .clone();
    let a = attrs(&session.raw);
    assert!(a.contains(&"httponly".into()), "{}", session.raw);
    assert!(a.contains(&"secure".into()), "{}", session.raw);
    assert!(a.contains(&"samesite=none".into()), "{}", session.raw);
    assert!(a.contains(&"path=/".into()), "{}", session.raw);
    assert!(session.value.len() >= 32, "an unguessable session id");
});

each_backend!(altered_or_expired_transactions_are_refused, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (_, state, csrf) = open_login(&mut browser, &client_id).await;
    let mut chars: Vec<char> = state.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let altered: String = chars.into_iter().collect();

    for bad in [altered.as_str(), "", "not-a-transaction"] {
        let page = browser.get(&format!("/u/login?state={bad}")).await;
        assert_eq!(page.status, 400, "{}", page.text());
        assert!(page.header("location").is_none());
        assert!(!page.text().contains(r#"name="password""#), "no login form");
        let response = submit(&mut browser, bad, &csrf, EMAIL, PASSWORD).await;
        assert_eq!(response.status, 400, "{}", response.text());
        assert!(response.header("location").is_none());
        assert!(!sets_session(&response));
    }
    // A transaction an hour old has expired.
    app.clock.advance(3601);
    let response = submit(&mut browser, &state, &csrf, EMAIL, PASSWORD).await;
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(!sets_session(&response));
    assert!(response.text().contains("expired"), "{}", response.text());
});

each_backend!(what_the_user_typed_is_escaped_on_the_page, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (_, state, csrf) = open_login(&mut browser, &client_id).await;
    let typed = "\"><script>alert(1)</script>";
    let response = submit(&mut browser, &state, &csrf, typed, "whatever").await;
    assert_eq!(response.status, 401);
    assert!(
        !response.text().contains("<script>alert(1)"),
        "{}",
        response.text()
    );
    let username = tags(&response.text(), "input")
        .into_iter()
        .find(|a| a.get("name").is_some_and(|n| n == "username"))
        .expect("username input");
    assert_eq!(username["value"], typed);
});

each_backend!(
    with_a_plain_http_issuer_cookies_are_lax_and_not_secure,
    |app| {
        let dev = spawn_app_at(app.backend, "http://127.0.0.1:3000/").await;
        let (_, client_id) = spa_setup(&dev).await;
        let mut browser = Browser::new(&dev);
        let (_, state, csrf) = open_login(&mut browser, &client_id).await;
        submit(&mut browser, &state, &csrf, EMAIL, PASSWORD).await;
        for name in ["tessera_csrf", "tessera_session"] {
            let raw = browser.cookie(name).expect(name).raw.to_ascii_lowercase();
            assert!(raw.contains("httponly"), "{raw}");
            assert!(raw.contains("samesite=lax"), "{raw}");
            assert!(!raw.contains("secure"), "{raw}");
        }
        dev.cleanup().await;
    }
);

each_backend!(
    repeated_or_malformed_form_fields_get_the_error_page,
    |app| {
        // The pages answer a malformed form as they answer every fault: an HTML error page
        // (not axum's plain-text rejection), no session, no redirect.
        let (_, client_id) = spa_setup(&app).await;
        let mut browser = Browser::new(&app);
        let (_, state, csrf) = open_login(&mut browser, &client_id).await;
        let login = [
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("username", EMAIL),
            ("password", PASSWORD),
        ];
        for (path, extra) in [
            ("/u/login", ("username", "eve@example.com")),
            ("/u/login", ("csrf", "x")),
            ("/u/consent", ("action", "accept")),
        ] {
            let mut fields = login.to_vec();
            if path == "/u/consent" {
                fields.retain(|(k, _)| matches!(*k, "state" | "csrf"));
                fields.push(("action", "deny"));
            }
            fields.push(extra);
            let response = browser.post_form(path, &fields).await;
            assert_eq!(response.status, 400, "{path}: {}", response.text());
            assert!(
                response
                    .header("content-type")
                    .is_some_and(|c| c.starts_with("text/html")),
                "{path}: an HTML page"
            );
            assert!(
                response.text().contains("invalid_request"),
                "{}",
                response.text()
            );
            assert!(response.header("location").is_none());
            assert!(!sets_session(&response));
            assert_page_headers(&response);
        }
        for path in ["/u/login", "/u/consent"] {
            let response = browser.get(&format!("{path}?state=a&state=b")).await;
            assert_eq!(response.status, 400, "{path}: {}", response.text());
            assert!(
                response.text().contains("invalid_request"),
                "{}",
                response.text()
            );
        }
        // The form still works afterwards.
        let response = submit(&mut browser, &state, &csrf, EMAIL, PASSWORD).await;
        assert_eq!(response.status, 302, "{}", response.text());
    }
);

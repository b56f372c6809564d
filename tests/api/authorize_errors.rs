//! `/authorize` errors: redirect URI validation (never an open redirect), unknown clients,
//! repeated parameters, and the errors sent back to a validated redirect URI with the state.

use serde_json::json;

use crate::authorize::STATE;
use crate::browser::*;
use crate::each_backend;
use crate::helpers::TestResponse;

/// An error page: this status, the error code shown, and no redirect anywhere.
#[track_caller]
fn assert_error_page(response: &TestResponse, status: u16, error: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert!(
        response.header("location").is_none(),
        "an error page never redirects: {:?}",
        response.header("location")
    );
    assert!(
        response
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "an HTML page"
    );
    assert!(response.text().contains(error), "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

/// An error answered to `CALLBACK` in the query or fragment, with the original state.
#[track_caller]
fn assert_redirect_error(response: &TestResponse, separator: char, error: &str) {
    let (base, params) = redirect_params(&location(response), separator);
    assert_eq!(base, CALLBACK);
    assert_eq!(params["error"], error, "{params:?}");
    assert!(!params["error_description"].is_empty());
    assert_eq!(params["state"], STATE, "the state round-trips");
    assert!(!params.contains_key("code") && !params.contains_key("access_token"));
}

each_backend!(unregistered_redirect_uris_never_redirect, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let (_, challenge) = pkce();
    let two = app
        .create_client(json!({
            "name": "two callbacks",
            "app_type": "spa",
            "callbacks": [CALLBACK, CALLBACK_2],
        }))
        .await;
    let two = two["client_id"].as_str().unwrap();
    let mut browser = Browser::new(&app);
    for (client, uri) in [
        (
            client_id.as_str(),
            Some("https://evil.example.com/callback"),
        ),
        (
            client_id.as_str(),
            Some("https://app.example.com/callbackx"),
        ),
        (
            client_id.as_str(),
            Some("https://app.example.com/callback/"),
        ),
        (
            client_id.as_str(),
            Some("https://app.example.com/callback?x=1"),
        ),
        (client_id.as_str(), Some("http://app.example.com/callback")),
        (client_id.as_str(), Some("https://APP.example.com/callback")),
        (
            client_id.as_str(),
            Some("https://app.example.com.evil.com/callback"),
        ),
        (client_id.as_str(), Some("//evil.example.com/callback")),
        (two, None),
    ] {
        let mut params = vec![
            ("client_id", client),
            ("response_type", "code"),
            ("state", STATE),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(uri) = uri {
            params.push(("redirect_uri", uri));
        }
        let response = browser.authorize(&params).await;
        assert_error_page(&response, 400, "invalid_request");
        // Other errors in the same request do not make it redirectable either.
        params[1] = ("response_type", "bogus");
        let response = browser.authorize(&params).await;
        assert_error_page(&response, 400, "invalid_request");
    }
    // With one callback, redirect_uri may be omitted; with two, each may be named.
    let response = browser
        .authorize(&[
            ("client_id", &client_id),
            ("response_type", "bogus"),
            ("state", STATE),
        ])
        .await;
    assert_redirect_error(&response, '?', "unsupported_response_type");
    let response = browser
        .authorize(&[
            ("client_id", two),
            ("redirect_uri", CALLBACK_2),
            ("response_type", "code"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert!(location(&response).starts_with("/u/login?state="));
});

each_backend!(unknown_clients_get_an_error_page, |app| {
    spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let response = browser
        .authorize(&[
            ("client_id", "no-such-client"),
            ("response_type", "code"),
            ("redirect_uri", CALLBACK),
            ("state", STATE),
        ])
        .await;
    assert_error_page(&response, 400, "invalid_request");
    let response = browser
        .authorize(&[("response_type", "code"), ("redirect_uri", CALLBACK)])
        .await;
    assert_error_page(&response, 400, "invalid_request");
});

each_backend!(errors_after_the_redirect_uri_go_back_to_the_client, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let (_, challenge) = pkce();
    let code_only = app
        .create_client(json!({
            "name": "code only",
            "app_type": "regular_web",
            "callbacks": [CALLBACK],
            "grant_types": ["authorization_code"],
        }))
        .await;
    let code_only = code_only["client_id"].as_str().unwrap();
    let mut browser = Browser::new(&app);
    let with = |extra: &[(&'static str, &'static str)]| -> Params {
        let mut p: Params = vec![
            ("client_id", client_id.clone()),
            ("redirect_uri", CALLBACK.into()),
            ("state", STATE.into()),
        ];
        p.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        p
    };
    let cases: Vec<(Params, char, &str)> = vec![
        (
            with(&[("response_type", "code token x")]),
            '?',
            "unsupported_response_type",
        ),
        (
            with(&[("response_type", "device_code")]),
            '?',
            "unsupported_response_type",
        ),
        (
            with(&[("response_type", "code id_token"), ("nonce", "n")]),
            '?',
            "unsupported_response_type",
        ),
        (
            with(&[("response_type", "code"), ("prompt", "none login")]),
            '?',
            "invalid_request",
        ),
        (
            with(&[("response_type", "code"), ("response_mode", "web_message")]),
            '?',
            "invalid_request",
        ),
        (with(&[]), '?', "invalid_request"),
        (
            {
                let mut p = with(&[
                    ("response_type", "code"),
                    ("code_challenge_method", "plain"),
                ]);
                p.push(("code_challenge", challenge.clone()));
                p
            },
            '?',
            "invalid_request",
        ),
        (with(&[("response_type", "code")]), '?', "invalid_request"),
        (
            with(&[("response_type", "token"), ("response_mode", "query")]),
            '?',
            "invalid_request",
        ),
        (
            with(&[
                ("response_type", "id_token token"),
                ("response_mode", "query"),
            ]),
            '?',
            "invalid_request",
        ),
        (
            with(&[("response_type", "id_token")]),
            '#',
            "invalid_request",
        ),
        (
            with(&[
                ("response_type", "id_token"),
                ("nonce", "n"),
                ("scope", "profile"),
            ]),
            '#',
            "invalid_scope",
        ),
        (
            {
                let mut p = with(&[("response_type", "code"), ("code_challenge_method", "S256")]);
                p.push(("code_challenge", challenge.clone()));
                p.push(("audience", "https://no-such-api.example.com/".into()));
                p
            },
            '?',
            "invalid_request",
        ),
        (
            {
                let mut p = with(&[("response_type", "code"), ("code_challenge_method", "S256")]);
                p.push(("code_challenge", "too-short".into()));
                p
            },
            '?',
            "invalid_request",
        ),
        (
            {
                let mut p = with(&[("response_type", "token"), ("nonce", "n")]);
                p[0].1 = code_only.to_owned();
                p
            },
            '#',
            "unauthorized_client",
        ),
    ];
    for (params, separator, error) in cases {
        eprintln!("case {params:?}");
        let response = browser.authorize_with(&params).await;
        assert_redirect_error(&response, separator, error);
    }
    // A form_post error is a form too.
    let response = browser
        .authorize(&[
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("state", STATE),
            ("response_type", "code"),
            ("response_mode", "form_post"),
        ])
        .await;
    assert_eq!(response.status, 200);
    let inputs = hidden_inputs(&response.text());
    assert_eq!(
        inputs["error"], "invalid_request",
        "PKCE is required for a SPA"
    );
    assert_eq!(inputs["state"], STATE);
});

each_backend!(
    repeated_parameters_naming_the_redirect_get_an_error_page,
    |app| {
        let (_, client_id) = spa_setup(&app).await;
        let (_, challenge) = pkce();
        let mut browser = Browser::new(&app);
        let base = authorize_path(&[
            ("response_type", "code"),
            ("state", STATE),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let evil =
            form_urlencoded::byte_serialize(b"https://evil.example.com/").collect::<String>();
        let callback = form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>();
        for extra in [
            format!("&client_id={client_id}&redirect_uri={evil}&redirect_uri={callback}"),
            format!("&client_id={client_id}&client_id={client_id}&redirect_uri={callback}"),
            format!("&client_id={client_id}&redirect_uri={callback}%00"),
            // Behind another parameter's defect, still a page (the client has one callback,
            // which a dropped redirect_uri would otherwise fall back to).
            format!(
                "&client_id={client_id}&scope=a&scope=b&redirect_uri={evil}&redirect_uri={callback}"
            ),
            format!("&scope=a&scope=b&client_id={client_id}&client_id={client_id}"),
        ] {
            let response = browser.get(&format!("{base}{extra}")).await;
            assert_error_page(&response, 400, "invalid_request");
        }
    }
);

each_backend!(
    other_repeated_or_unstorable_parameters_go_back_to_the_client,
    |app| {
        // RFC 6749 §4.1.2.1: once the redirect URI is known to be registered, a repeated
        // parameter is an invalid_request answered to it, with the state.
        let (_, client_id) = spa_setup(&app).await;
        let (_, challenge) = pkce();
        let mut browser = Browser::new(&app);
        let base = authorize_path(&[
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("state", STATE),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        for extra in [
            "&scope=openid&scope=openid%20email",
            "&scope=openid&scope=",
            "&nonce=a%00b",
            "&%3Cscript%3Ealert(1)%3C%2Fscript%3E=1&%3Cscript%3Ealert(1)%3C%2Fscript%3E=2",
        ] {
            let response = browser.get(&format!("{base}{extra}")).await;
            assert_redirect_error(&response, '?', "invalid_request");
        }
        // The same in a POST body.
        let response = app
            .post_form(
                "/authorize",
                &[
                    ("client_id", client_id.as_str()),
                    ("redirect_uri", CALLBACK),
                    ("response_type", "code"),
                    ("state", STATE),
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                    ("audience", "a"),
                    ("audience", "b"),
                ],
                None,
            )
            .await;
        assert_redirect_error(&response, '?', "invalid_request");
        // A repeated state cannot be echoed: the error goes back without one.
        let response = browser.get(&format!("{base}&state=again")).await;
        let (target, params) = redirect_params(&location(&response), '?');
        assert_eq!(target, CALLBACK);
        assert_eq!(params["error"], "invalid_request", "{params:?}");
        assert!(params["error_description"].contains("state"), "{params:?}");
        assert!(!params.contains_key("state"), "{params:?}");
    }
);

each_backend!(without_a_state_the_answer_carries_none, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let (mut params, _) = code_params(&client_id, &[]);
    params.retain(|(k, _)| *k != "state");
    let answer = browser.authorize_and_login(&refs(&params)).await;
    let query = callback_query(&answer);
    assert!(query.contains_key("code"));
    assert!(!query.contains_key("state"), "{query:?}");
    params[1].1 = "bogus".into();
    let query = callback_query(&browser.authorize_with(&params).await);
    assert_eq!(query["error"], "unsupported_response_type");
    assert!(!query.contains_key("state"), "{query:?}");
});

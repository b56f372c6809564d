//! `GET /authorize`: the code flow with PKCE end to end, the implicit response types, response
//! modes, redirect URI validation (never an open redirect), errors sent back to the client,
//! audiences and granted scopes, and discovery.

use serde_json::json;

use crate::browser::*;
use crate::each_backend;
use crate::helpers::{ISSUER, START, TestResponse, jwt_parts, verify_with_jwks};

/// A state with characters that need encoding in URLs and escaping in HTML.
const STATE: &str = "a/b+c d&e=f\"<x>'";
const USERINFO: &str = "https://tessera.test/userinfo";

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

each_backend!(code_flow_with_pkce_end_to_end, |app| {
    let (user_id, client_id) = spa_setup(&app).await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);
    let response = browser
        .authorize(&[
            ("client_id", &client_id),
            ("response_type", "code"),
            ("redirect_uri", CALLBACK),
            ("scope", "openid profile email"),
            ("state", STATE),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    let login = location(&response);
    let (page, answer) = browser.login_at(&login, EMAIL, PASSWORD).await;
    let html = page.text();
    assert!(
        html.contains("Ada&#39;s SPA")
            || html.contains("Ada&#x27;s SPA")
            || html.contains("Ada's SPA"),
        "{html}"
    );
    assert!(html.contains(r#"name="username""#) && html.contains(r#"name="password""#));
    let query = callback_query(&answer);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(query["state"], STATE);
    assert!(query["code"].len() >= 32);
    assert_eq!(query.len(), 2, "{query:?}");
    assert!(browser.cookie("tessera_session").is_some());

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
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    let body = tokens.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86400);
    assert_eq!(body["scope"], "openid profile email");
    assert!(body.get("refresh_token").is_none());

    let jwks = jwks(&app).await;
    let id = verify_with_jwks(body["id_token"].as_str().unwrap(), &jwks, &client_id);
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["sub"], user_id.as_str());
    assert_eq!(id["aud"], client_id.as_str());
    assert_eq!(id["azp"], client_id.as_str());
    assert_eq!(id["iat"], START);
    assert_eq!(id["exp"], START + 36000);
    assert_eq!(id["auth_time"], START);
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["email"], EMAIL);
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["name"], NAME);
    let (header, _) = jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");

    // Without an audience the access token is for /userinfo.
    let access = verify_with_jwks(body["access_token"].as_str().unwrap(), &jwks, USERINFO);
    assert_eq!(access["sub"], user_id.as_str());
    assert_eq!(access["azp"], client_id.as_str());
    assert_eq!(access["scope"], "openid profile email");
});

each_backend!(id_token_claims_follow_the_scopes, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let jwks = jwks(&app).await;
    for (scope, email, name) in [
        ("openid", false, false),
        ("openid email", true, false),
        ("openid profile", false, true),
    ] {
        let body = code_flow_tokens(&mut browser, &client_id, &[("scope", scope)]).await;
        let id = verify_with_jwks(body["id_token"].as_str().unwrap(), &jwks, &client_id);
        assert_eq!(id.get("email").is_some(), email, "{scope}: {id}");
        assert_eq!(id.get("email_verified").is_some(), email, "{scope}: {id}");
        assert_eq!(id.get("name").is_some(), name, "{scope}: {id}");
        assert!(id.get("nonce").is_none(), "no nonce was sent");
    }
    // Without openid: no ID token at all.
    let body = code_flow_tokens(&mut browser, &client_id, &[("scope", "profile")]).await;
    assert!(body.get("id_token").is_none(), "{body}");
});

each_backend!(implicit_response_types_answer_in_the_fragment, |app| {
    let (user_id, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    let jwks = jwks(&app).await;
    let base = |rt: &'static str| -> Params {
        vec![
            ("client_id", client_id.clone()),
            ("response_type", rt.to_owned()),
            ("redirect_uri", CALLBACK.to_owned()),
            ("scope", "openid profile offline_access".to_owned()),
            ("state", STATE.to_owned()),
            ("nonce", "nonce-1".to_owned()),
        ]
    };

    // token: the first request logs in.
    let answer = browser.authorize_and_login(&refs(&base("token"))).await;
    let (to, fragment) = redirect_params(&location(&answer), '#');
    assert_eq!(to, CALLBACK);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert!(!location(&answer).contains('?'), "nothing in the query");
    assert_eq!(fragment["state"], STATE);
    assert_eq!(fragment["token_type"], "Bearer");
    assert_eq!(fragment["expires_in"], "86400");
    assert_eq!(fragment["scope"], "openid profile", "never offline_access");
    assert!(!fragment.contains_key("id_token"));
    assert!(!fragment.contains_key("refresh_token"));
    let access = verify_with_jwks(&fragment["access_token"], &jwks, USERINFO);
    assert_eq!(access["sub"], user_id.as_str());

    // id_token: the session answers at once.
    let answer = browser.authorize_with(&base("id_token")).await;
    let (_, fragment) = redirect_params(&location(&answer), '#');
    assert!(!fragment.contains_key("access_token"));
    assert!(!fragment.contains_key("refresh_token"));
    let id = verify_with_jwks(&fragment["id_token"], &jwks, &client_id);
    assert_eq!(id["nonce"], "nonce-1");
    assert_eq!(id["sub"], user_id.as_str());
    assert_eq!(id["name"], NAME);
    assert!(id.get("at_hash").is_none());

    // id_token token (in either order): at_hash binds the access token.
    for rt in ["id_token token", "token id_token"] {
        let answer = browser.authorize_with(&base(rt)).await;
        let (_, fragment) = redirect_params(&location(&answer), '#');
        assert_eq!(fragment["state"], STATE);
        assert!(!fragment.contains_key("refresh_token"));
        let access_token = &fragment["access_token"];
        let id = verify_with_jwks(&fragment["id_token"], &jwks, &client_id);
        assert_eq!(id["at_hash"], left_half_hash(access_token), "{rt}");
        assert_eq!(id["nonce"], "nonce-1");
    }

    // An explicit form_post works for tokens too.
    let mut p = base("id_token token");
    p.push(("response_mode", "form_post".into()));
    let answer = browser.authorize_with(&p).await;
    assert_eq!(answer.status, 200);
    let inputs = hidden_inputs(&answer.text());
    assert!(inputs.contains_key("access_token") && inputs.contains_key("id_token"));
    assert_eq!(inputs["state"], STATE);
});

each_backend!(form_post_answers_with_an_auto_submitting_form, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);
    let answer = browser
        .authorize_and_login(&[
            ("client_id", &client_id),
            ("response_type", "code"),
            ("response_mode", "form_post"),
            ("redirect_uri", CALLBACK),
            ("state", STATE),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.header("location").is_none());
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert!(
        answer
            .header("content-security-policy")
            .is_some_and(|c| c.contains("frame-ancestors 'none'"))
    );
    let html = answer.text();
    let forms = tags(&html, "form");
    assert_eq!(forms.len(), 1, "{html}");
    assert_eq!(forms[0]["method"], "post");
    assert_eq!(forms[0]["action"], CALLBACK);
    assert!(html.contains("document.forms[0].submit()"), "auto-submits");
    assert!(
        !html.contains("\"<x>"),
        "the state is escaped in HTML: {html}"
    );
    let inputs = hidden_inputs(&html);
    assert_eq!(inputs["state"], STATE, "the state survives HTML escaping");
    assert_eq!(inputs.len(), 2, "{inputs:?}");
    // The code in the form is a working code.
    let tokens = exchange(
        &app,
        &[
            ("client_id", &client_id),
            ("code", &inputs["code"]),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
});

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

each_backend!(audience_and_granted_scopes, |app| {
    let (user_id, client_id) = spa_setup(&app).await;
    create_things_api(&app, false).await;
    let mut browser = Browser::new(&app);
    let jwks = jwks(&app).await;

    let body = code_flow_tokens(
        &mut browser,
        &client_id,
        &[
            ("audience", API),
            (
                "scope",
                "openid profile read:things delete:things offline_access bogus",
            ),
        ],
    )
    .await;
    assert_eq!(body["scope"], "openid profile read:things");
    assert!(body.get("refresh_token").is_none());
    let access = verify_with_jwks(body["access_token"].as_str().unwrap(), &jwks, API);
    assert_eq!(access["aud"], json!([API, USERINFO]));
    assert_eq!(access["sub"], user_id.as_str());
    assert_eq!(access["scope"], "openid profile read:things");
    assert!(access.get("gty").is_none());
    // The ID token is for the client whatever the audience.
    verify_with_jwks(body["id_token"].as_str().unwrap(), &jwks, &client_id);

    // Without openid: just the API, and no ID token.
    let body = code_flow_tokens(
        &mut browser,
        &client_id,
        &[
            ("audience", API),
            ("scope", "read:things write:things email"),
        ],
    )
    .await;
    assert_eq!(body["scope"], "read:things write:things email");
    let access = verify_with_jwks(body["access_token"].as_str().unwrap(), &jwks, API);
    assert_eq!(access["aud"], API);
    assert!(body.get("id_token").is_none());
});

each_backend!(offline_access_only_where_the_api_allows_it, |app| {
    let (_, client_id) = spa_setup(&app).await;
    create_things_api(&app, true).await;
    let mut browser = Browser::new(&app);
    let body = code_flow_tokens(
        &mut browser,
        &client_id,
        &[
            ("audience", API),
            ("scope", "openid offline_access read:things"),
        ],
    )
    .await;
    assert_eq!(body["scope"], "openid offline_access read:things");
});

each_backend!(discovery_advertises_the_interactive_endpoints, |app| {
    let response = app.get("/.well-known/openid-configuration", None).await;
    assert_eq!(response.status, 200);
    let doc = response.json();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["authorization_endpoint"], format!("{ISSUER}authorize"));
    assert_eq!(doc["userinfo_endpoint"], format!("{ISSUER}userinfo"));
    assert_eq!(doc["end_session_endpoint"], format!("{ISSUER}oidc/logout"));
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}oauth/token"));
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}.well-known/jwks.json"));
    let list = |name: &str| -> Vec<String> {
        doc[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name} in {doc}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let types = list("response_types_supported");
    for t in ["code", "token", "id_token", "id_token token"] {
        assert!(types.contains(&t.to_owned()), "{t} in {types:?}");
    }
    assert_eq!(list("code_challenge_methods_supported"), ["S256"]);
    let modes = list("response_modes_supported");
    for m in ["query", "fragment", "form_post"] {
        assert!(modes.contains(&m.to_owned()));
    }
    let grants = list("grant_types_supported");
    for g in ["authorization_code", "implicit", "password"] {
        assert!(grants.contains(&g.to_owned()), "{g} in {grants:?}");
    }
    assert!(list("id_token_signing_alg_values_supported").contains(&"RS256".to_owned()));
    assert!(list("scopes_supported").contains(&"openid".to_owned()));
});

each_backend!(repeated_parameters_get_an_error_page, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new(&app);
    let base = authorize_path(&[
        ("client_id", &client_id),
        ("response_type", "code"),
        ("state", STATE),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let evil = form_urlencoded::byte_serialize(b"https://evil.example.com/").collect::<String>();
    for extra in [
        format!("&redirect_uri={evil}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback"),
        "&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&state=again".to_owned(),
        "&%3Cscript%3Ealert(1)%3C%2Fscript%3E=1&%3Cscript%3Ealert(1)%3C%2Fscript%3E=2".to_owned(),
    ] {
        let response = browser.get(&format!("{base}{extra}")).await;
        assert_error_page(&response, 400, "invalid_request");
        assert!(
            !response.text().contains("<script>alert(1)"),
            "parameter names are escaped: {}",
            response.text()
        );
    }
});

each_backend!(authorize_also_accepts_a_form_post, |app| {
    let (_, client_id) = spa_setup(&app).await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new(&app);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", CALLBACK),
            ("state", STATE),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let response = browser
        .send(axum::http::Method::POST, "/authorize", Some(body))
        .await;
    assert!(location(&response).starts_with("/u/login?state="));
});

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

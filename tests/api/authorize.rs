//! `GET /authorize`: the code flow with PKCE end to end, the implicit response types, response
//! modes, audiences and granted scopes. Errors: authorize_errors.rs.

use serde_json::json;

use crate::browser::*;
use crate::each_backend;
use crate::helpers::{ISSUER, START, jwt_parts, verify_with_jwks};

/// A state with characters that need encoding in URLs and escaping in HTML.
pub const STATE: &str = "a/b+c d&e=f\"<x>'";
pub const USERINFO: &str = "https://tessera.test/userinfo";

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

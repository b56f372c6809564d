//! `POST /oauth/token`: the client-credentials grant, client authentication and the RFC 6749
//! §5.2 error table.

use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::json;

use crate::each_backend;
use crate::helpers::{ISSUER, TestApp, basic_header, jwt_parts, verify_with_jwks};

const API: &str = "https://api.example.com/";

async fn jwks(app: &TestApp) -> serde_json::Value {
    app.get("/.well-known/jwks.json", None).await.json()
}

each_backend!(
    client_credentials_issues_an_auth0_shaped_access_token,
    |app| {
        let (id, secret) = app.m2m_setup("RS256").await;
        let response = app
            .post_form(
                "/oauth/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                    ("audience", API),
                ],
                None,
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert_eq!(response.header("pragma"), Some("no-cache"));
        let body = response.json();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 86400);
        assert_eq!(body["scope"], "read:things write:things");
        assert!(body.get("refresh_token").is_none());
        assert!(body.get("id_token").is_none());

        let token = body["access_token"].as_str().unwrap();
        let (header, _) = jwt_parts(token);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        let claims = verify_with_jwks(token, &jwks(&app).await, API);
        assert_eq!(claims["iss"], ISSUER);
        assert!(claims["iss"].as_str().unwrap().ends_with('/'));
        assert_eq!(claims["sub"], format!("{id}@clients"));
        assert_eq!(claims["aud"], API);
        assert_eq!(claims["azp"], id.as_str());
        assert_eq!(claims["gty"], "client-credentials");
        assert_eq!(claims["scope"], "read:things write:things");
        assert_eq!(claims["iat"], crate::helpers::START);
        assert_eq!(claims["exp"], crate::helpers::START + 86400);
    }
);

each_backend!(json_bodies_and_narrowed_scopes_work, |app| {
    let (id, secret) = app.m2m_setup("RS256").await;
    let response = app
        .send_json(
            Method::POST,
            "/oauth/token",
            Some(json!({
                "grant_type": "client_credentials",
                "client_id": id,
                "client_secret": secret,
                "audience": API,
                "scope": "read:things",
            })),
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["scope"], "read:things");
    let claims = verify_with_jwks(
        body["access_token"].as_str().unwrap(),
        &jwks(&app).await,
        API,
    );
    assert_eq!(claims["scope"], "read:things");
});

each_backend!(empty_and_null_parameters_count_as_omitted, |app| {
    let (id, secret) = app.m2m_setup("RS256").await;
    // Auth0's SDKs send empty strings and nulls for parameters they do not use.
    let response = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("audience", API),
                ("scope", ""),
            ],
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["scope"], "read:things write:things");
    let response = app
        .send_json(
            Method::POST,
            "/oauth/token",
            Some(json!({
                "grant_type": "client_credentials",
                "client_id": id,
                "client_secret": secret,
                "audience": API,
                "scope": null,
            })),
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
});

each_backend!(api_signing_algorithms_are_honoured, |app| {
    for (n, alg) in ["ES256", "PS256", "RS256"].iter().enumerate() {
        let audience = format!("https://alg{n}.example.com/");
        app.create_api(json!({ "identifier": audience, "signing_alg": alg }))
            .await;
        let client = app
            .create_client(json!({ "name": format!("c{n}"), "app_type": "non_interactive" }))
            .await;
        let id = client["client_id"].as_str().unwrap();
        app.create_client_grant(id, &audience, &[]).await;
        let body = app
            .client_credentials(
                id,
                client["client_secret"].as_str().unwrap(),
                &audience,
                None,
            )
            .await;
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(jwt_parts(token).0["alg"], *alg);
        // With no granted scopes there is no scope claim and no scope in the answer.
        assert!(body.get("scope").is_none(), "{body}");
        let claims = verify_with_jwks(token, &jwks(&app).await, &audience);
        assert!(claims.get("scope").is_none());
    }
});

each_backend!(
    client_secret_basic_clients_use_basic_and_only_basic,
    |app| {
        app.create_api(json!({ "identifier": API })).await;
        let client = app
            .create_client(json!({
                "name": "basic",
                "app_type": "non_interactive",
                "token_endpoint_auth_method": "client_secret_basic",
            }))
            .await;
        let id = client["client_id"].as_str().unwrap();
        let secret = client["client_secret"].as_str().unwrap();
        app.create_client_grant(id, API, &[]).await;
        let form = [("grant_type", "client_credentials"), ("audience", API)];

        let ok = app
            .post_form("/oauth/token", &form, Some((id, secret)))
            .await;
        assert_eq!(ok.status, 200, "{}", ok.text());

        // The same credentials in the body are not the registered method.
        let mut posted = form.to_vec();
        posted.extend([("client_id", id), ("client_secret", secret)]);
        let refused = app.post_form("/oauth/token", &posted, None).await;
        refused.assert_oauth_error(401, "invalid_client");
        assert_eq!(refused.header("www-authenticate"), None);

        // A wrong secret over Basic is 401 with a Basic challenge (RFC 6749 §5.2).
        let wrong = app
            .post_form("/oauth/token", &form, Some((id, "nope")))
            .await;
        wrong.assert_oauth_error(401, "invalid_client");
        assert!(
            wrong
                .header("www-authenticate")
                .unwrap()
                .starts_with("Basic")
        );

        // A body client_id that disagrees with the header is refused.
        let mut mismatched = form.to_vec();
        mismatched.push(("client_id", "someone-else"));
        app.post_form("/oauth/token", &mismatched, Some((id, secret)))
            .await
            .assert_oauth_error(400, "invalid_request");
    }
);

/// One row of the error table: a request and the error it must get.
struct Case {
    name: &'static str,
    pairs: Vec<(&'static str, String)>,
    basic: Option<(String, String)>,
    status: u16,
    error: &'static str,
    challenge: bool,
}

each_backend!(token_endpoint_error_table, |app| {
    let (id, secret) = app.m2m_setup("RS256").await;
    let spa = app
        .create_client(
            json!({ "name": "spa", "app_type": "spa", "grant_types": ["client_credentials"] }),
        )
        .await;
    let spa_id = spa["client_id"].as_str().unwrap().to_owned();
    let web = app
        .create_client(json!({ "name": "web", "app_type": "regular_web", "grant_types": ["authorization_code"] }))
        .await;
    let web_id = web["client_id"].as_str().unwrap().to_owned();
    let web_secret = web["client_secret"].as_str().unwrap().to_owned();
    app.create_api(json!({ "identifier": "https://ungranted.example.com/" }))
        .await;

    let cc = |extra: &[(&'static str, &str)]| {
        let mut pairs: Vec<(&'static str, String)> = vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", id.clone()),
            ("client_secret", secret.clone()),
            ("audience", API.into()),
        ];
        for (k, v) in extra {
            pairs.retain(|(name, _)| name != k);
            if !v.is_empty() || *k == "grant_type" {
                pairs.push((k, v.to_string()));
            }
        }
        pairs
    };
    let without = |name: &str| {
        let mut pairs = cc(&[]);
        pairs.retain(|(k, _)| *k != name);
        pairs
    };
    let case = |name, pairs, status, error| Case {
        name,
        pairs,
        basic: None,
        status,
        error,
        challenge: false,
    };
    let mut cases = vec![
        case(
            "no grant_type",
            without("grant_type"),
            400,
            "invalid_request",
        ),
        case(
            "unknown grant_type",
            cc(&[("grant_type", "urn:example:magic")]),
            400,
            "unsupported_grant_type",
        ),
        case("no client_id", without("client_id"), 400, "invalid_request"),
        case(
            "unknown client",
            cc(&[("client_id", "no-such-client")]),
            401,
            "invalid_client",
        ),
        case(
            "wrong secret",
            cc(&[("client_secret", "wrong")]),
            401,
            "invalid_client",
        ),
        case(
            "secret missing for a confidential client",
            without("client_secret"),
            401,
            "invalid_client",
        ),
        case("no audience", without("audience"), 400, "invalid_request"),
        case(
            "unknown audience",
            cc(&[("audience", "https://nowhere.example.com/")]),
            400,
            "invalid_request",
        ),
        case(
            "API without a client grant",
            cc(&[("audience", "https://ungranted.example.com/")]),
            400,
            "unauthorized_client",
        ),
        case(
            "scope beyond the grant",
            cc(&[("scope", "read:things delete:things")]),
            400,
            "invalid_scope",
        ),
        case(
            "grant type not registered for the client",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", web_id.clone()),
                ("client_secret", web_secret.clone()),
                ("audience", API.into()),
            ],
            400,
            "unauthorized_client",
        ),
        case(
            "public client",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", spa_id.clone()),
                ("audience", API.into()),
            ],
            400,
            "unauthorized_client",
        ),
        case(
            "public client sending a secret",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", spa_id.clone()),
                ("client_secret", "anything".into()),
                ("audience", API.into()),
            ],
            401,
            "invalid_client",
        ),
    ];
    cases.push(Case {
        name: "Basic for a client_secret_post client",
        pairs: vec![
            ("grant_type", "client_credentials".into()),
            ("audience", API.into()),
        ],
        basic: Some((id.clone(), secret.clone())),
        status: 401,
        error: "invalid_client",
        challenge: true,
    });
    cases.push(Case {
        name: "Basic and client_secret together",
        pairs: vec![
            ("grant_type", "client_credentials".into()),
            ("client_secret", secret.clone()),
            ("audience", API.into()),
        ],
        basic: Some((id.clone(), secret.clone())),
        status: 400,
        error: "invalid_request",
        challenge: false,
    });
    for case in cases {
        eprintln!("case: {}", case.name);
        let pairs: Vec<(&str, &str)> = case.pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let basic = case.basic.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
        let response = app.post_form("/oauth/token", &pairs, basic).await;
        response.assert_oauth_error(case.status, case.error);
        assert_eq!(
            response.header("www-authenticate").is_some(),
            case.challenge,
            "{}: WWW-Authenticate",
            case.name
        );
    }
});

// A NUL character in an OAuth parameter is the client's mistake, answered as such on both
// backends (PostgreSQL cannot store one; it used to fail the request with a 500).
each_backend!(
    nul_characters_are_invalid_request_not_server_errors,
    |app| {
        let (id, secret) = app.m2m_setup("RS256").await;
        for (path, pairs) in [
            (
                "/oauth/token",
                vec![
                    ("grant_type", "client_credentials"),
                    ("client_id", "a\0b"),
                    ("client_secret", "x"),
                    ("audience", API),
                ],
            ),
            (
                "/oauth/token",
                vec![
                    ("grant_type", "refresh_token"),
                    ("client_id", id.as_str()),
                    ("client_secret", secret.as_str()),
                    ("refresh_token", "a\0b"),
                ],
            ),
            ("/oauth/revoke", vec![("client_id", "a\0b"), ("token", "x")]),
        ] {
            app.post_form(path, &pairs, None)
                .await
                .assert_oauth_error(400, "invalid_request");
        }
        let json = json!({"grant_type": "client_credentials", "client_id": "a\u{0}b", "client_secret": "x"});
        app.send_json(Method::POST, "/oauth/token", Some(json), None)
            .await
            .assert_oauth_error(400, "invalid_request");
        // In Basic credentials: a malformed client.
        let pairs = [("grant_type", "client_credentials"), ("audience", API)];
        app.post_form("/oauth/token", &pairs, Some(("a\0b", "x")))
            .await
            .assert_oauth_error(401, "invalid_client");
        // /authorize, before anything is known of the client: an error page, not a 503.
        let response = app
            .get(
                "/authorize?client_id=a%00b&response_type=code&redirect_uri=https://x/",
                None,
            )
            .await;
        assert_eq!(response.status, 400, "{}", response.text());
    }
);

// A NUL character anywhere else (a logout's query, a Management API path or query or body) is
// refused at the request boundary with one message, the same on both backends: PostgreSQL
// cannot store one and SQLite would, so no backend may see it (the login form: `login_pages`).
each_backend!(nul_characters_elsewhere_get_one_answer, |app| {
    const MESSAGE: &str = "A value contains a character that is not allowed (NUL).";
    for path in [
        "/v2/logout?client_id=a%00b&returnTo=https%3A%2F%2Fapp.test%2F",
        "/oidc/logout?client_id=a%00b&post_logout_redirect_uri=https%3A%2F%2Fapp.test%2F",
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status, 400, "{path}: {}", response.text());
        assert!(response.text().contains(MESSAGE), "{}", response.text());
        assert!(response.header("location").is_none());
    }
    let token = app.management_token(None).await;
    let response = app
        .send_json(
            Method::POST,
            "/api/v2/users",
            Some(json!({
                "connection": "Username-Password-Authentication",
                "email": "a\u{0}b@example.com",
                "password": "correct horse battery",
            })),
            Some(&token),
        )
        .await;
    let body = response.assert_api_error(400);
    assert_eq!(body["message"], MESSAGE);
    for path in [
        "/api/v2/users/a%00b",
        "/api/v2/clients/a%00b",
        "/api/v2/users?q=a%00b",
        "/api/v2/device-credentials?user_id=a%00b",
    ] {
        let response = app.get(path, Some(&token)).await;
        let body = response.assert_api_error(400);
        assert_eq!(body["message"], MESSAGE, "{path}");
    }
    // The OAuth endpoints, in their shape.
    let response = app.get("/userinfo?x=%00", None).await;
    response.assert_oauth_error(400, "invalid_request");
    assert_eq!(response.json()["error_description"], MESSAGE);
    let response = app
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials"), ("client_id", "a\0b")],
            None,
        )
        .await;
    response.assert_oauth_error(400, "invalid_request");
    assert_eq!(response.json()["error_description"], MESSAGE);
});

each_backend!(malformed_requests_are_invalid_request, |app| {
    let (id, secret) = app.m2m_setup("RS256").await;
    // A parameter given twice.
    let body = format!(
        "grant_type=client_credentials&client_id={id}&client_secret={secret}&audience={API}&audience={API}"
    );
    let request = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    app.request(request)
        .await
        .assert_oauth_error(400, "invalid_request");

    // A repeated key in JSON.
    let body = format!(
        r#"{{"grant_type":"client_credentials","client_id":"{id}","client_secret":"{secret}","audience":"{API}","audience":"{API}"}}"#
    );
    let request = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    app.request(request)
        .await
        .assert_oauth_error(400, "invalid_request");

    for (content_type, body) in [
        ("application/json", "{not json"),
        (
            "application/json",
            r#"{"grant_type":["client_credentials"]}"#,
        ),
        ("application/json", "[1,2]"),
        ("text/plain", "grant_type=client_credentials"),
    ] {
        let request = Request::post("/oauth/token")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        let response = app.request(request).await;
        response.assert_oauth_error(400, "invalid_request");
    }

    // Malformed Basic credentials: invalid_client with a challenge.
    let request = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, "Basic %%%")
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    let response = app.request(request).await;
    response.assert_oauth_error(401, "invalid_client");
    assert!(response.header("www-authenticate").is_some());

    // A GET is not a token request.
    let response = app.get("/oauth/token", None).await;
    assert_eq!(response.status, 405);
});

each_backend!(secrets_with_reserved_characters_work_over_basic, |app| {
    // RFC 6749 §2.3.1: Basic credentials are form-encoded first; the helper encodes them.
    app.create_api(json!({ "identifier": API })).await;
    let client = app
        .create_client(json!({
            "name": "basic",
            "app_type": "non_interactive",
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .await;
    let id = client["client_id"].as_str().unwrap();
    app.create_client_grant(id, API, &[]).await;
    let header_value = basic_header(id, client["client_secret"].as_str().unwrap());
    let request = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, header_value)
        .body(Body::from(format!(
            "grant_type=client_credentials&audience={API}"
        )))
        .unwrap();
    let response = app.request(request).await;
    assert_eq!(response.status, 200, "{}", response.text());
});

each_backend!(scopes_removed_from_the_api_are_no_longer_issued, |app| {
    let (id, secret) = app.m2m_setup("RS256").await;
    let token = app.management_token(None).await;
    let apis = app
        .get("/api/v2/resource-servers", Some(&token))
        .await
        .json();
    let api_id = apis
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["identifier"] == API)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = app
        .send_json(
            Method::PATCH,
            &format!("/api/v2/resource-servers/{api_id}"),
            Some(json!({ "scopes": [{ "value": "read:things" }] })),
            Some(&token),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    let body = app.client_credentials(&id, &secret, API, None).await;
    assert_eq!(body["scope"], "read:things");
    // Asking for the removed scope explicitly is refused.
    app.post_form(
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("audience", API),
            ("scope", "write:things"),
        ],
        None,
    )
    .await
    .assert_oauth_error(400, "invalid_scope");
});

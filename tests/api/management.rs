//! Management API authentication and authorization: the 401 table (missing, garbage, foreign,
//! expired and forged tokens, deleted clients), the 403 table (every endpoint and its Auth0 scope),
//! and unknown routes. Helpers shared by the `management_*` modules live here.

use axum::body::Body;
use axum::http::{Method, Request, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use tessera::domain::SigningAlg;
use tessera::manage::system::MANAGEMENT_SCOPES;
use tessera::tokens::KeyMaterial;

use crate::each_backend;
use crate::helpers::{
    BOOTSTRAP_ID, ISSUER, MANAGEMENT_AUDIENCE, START, TestApp, TestResponse, jwt_parts,
};

/// Percent-encodes one path segment (`auth0|…`, API identifiers).
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A raw `client_credentials` request, answered whatever it is.
pub async fn token_request(
    app: &TestApp,
    id: &str,
    secret: &str,
    audience: &str,
    scope: Option<&str>,
) -> TestResponse {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
        ("audience", audience),
    ];
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    app.post_form("/oauth/token", &pairs, None).await
}

/// A request with a raw (possibly malformed) JSON body.
pub async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    body: &str,
    bearer: &str,
) -> TestResponse {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    app.request(request).await
}

/// Asserts Auth0's error body and its `errorCode`.
#[track_caller]
pub fn assert_api_code(response: &TestResponse, status: u16, code: &str) -> Value {
    let body = response.assert_api_error(status);
    assert_eq!(body["errorCode"], code, "errorCode; body: {body}");
    body
}

/// Every Management API scope but `scope`, space-separated.
fn all_scopes_except(scope: &str) -> String {
    MANAGEMENT_SCOPES
        .iter()
        .filter(|s| **s != scope)
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

#[track_caller]
fn assert_401(response: &TestResponse, what: &str) {
    assert_eq!(response.status, 401, "{what}: {}", response.text());
    let body = response.assert_api_error(401);
    assert_eq!(body["error"], "Unauthorized", "{what}: {body}");
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "{what}: WWW-Authenticate {challenge:?}"
    );
}

each_backend!(requests_without_a_usable_bearer_token_are_401, |app| {
    for (method, path) in [
        (Method::GET, "/api/v2/clients"),
        (Method::POST, "/api/v2/clients"),
        (Method::GET, "/api/v2/resource-servers"),
        (Method::DELETE, "/api/v2/client-grants/cgr_x"),
        (Method::PATCH, "/api/v2/users/auth0%7Cx"),
    ] {
        let response = app.send_json(method.clone(), path, None, None).await;
        assert_401(&response, &format!("no header: {method} {path}"));
    }
    for value in [
        "Basic Ym9vdHN0cmFwOnNlY3JldA==",
        "Bearer",
        "Bearer ",
        "Token abc",
    ] {
        let request = Request::get("/api/v2/clients")
            .header(header::AUTHORIZATION, value)
            .body(Body::empty())
            .unwrap();
        assert_401(&app.request(request).await, value);
    }
    for garbage in ["not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"] {
        assert_401(&app.get("/api/v2/clients", Some(garbage)).await, garbage);
    }
    // Authentication comes before the body is read.
    let request = Request::post("/api/v2/clients")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    assert_401(&app.request(request).await, "no token, malformed body");
});

each_backend!(tokens_for_another_audience_are_401, |app| {
    let (id, secret) = app.m2m_setup("RS256").await;
    let body = app
        .client_credentials(&id, &secret, "https://api.example.com/", None)
        .await;
    let token = body["access_token"].as_str().unwrap();
    assert_401(&app.get("/api/v2/clients", Some(token)).await, "API token");
});

each_backend!(tokens_of_a_deleted_client_are_401, |app| {
    let client = app
        .create_client(json!({ "name": "operator", "app_type": "non_interactive" }))
        .await;
    let id = client["client_id"].as_str().unwrap();
    app.create_client_grant(id, MANAGEMENT_AUDIENCE, &["read:clients"])
        .await;
    let body = app
        .client_credentials(
            id,
            client["client_secret"].as_str().unwrap(),
            MANAGEMENT_AUDIENCE,
            None,
        )
        .await;
    let token = body["access_token"].as_str().unwrap();
    let ok = app.get("/api/v2/clients", Some(token)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());

    let admin = app.management_token(None).await;
    let path = format!("/api/v2/clients/{id}");
    assert_eq!(
        app.send_json(Method::DELETE, &path, None, Some(&admin))
            .await
            .status,
        204
    );
    assert_401(
        &app.get("/api/v2/clients", Some(token)).await,
        "deleted client",
    );
});

each_backend!(expired_tokens_are_401, |app| {
    let token = app.management_token(None).await;
    let (_, claims) = jwt_parts(&token);
    assert_eq!(claims["exp"], START + 86_400);
    app.clock.advance(86_399);
    let ok = app.get("/api/v2/clients", Some(&token)).await;
    assert_eq!(ok.status, 200, "one second before exp: {}", ok.text());
    app.clock.advance(1);
    assert_401(&app.get("/api/v2/clients", Some(&token)).await, "at exp");
    app.clock.advance(3600);
    assert_401(&app.get("/api/v2/clients", Some(&token)).await, "after exp");
});

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Claims a Management API token of the bootstrap client would carry.
fn management_claims(scope: &str) -> Value {
    json!({
        "iss": ISSUER,
        "sub": format!("{BOOTSTRAP_ID}@clients"),
        "aud": MANAGEMENT_AUDIENCE,
        "iat": START,
        "exp": START + 3600,
        "scope": scope,
        "gty": "client-credentials",
        "azp": BOOTSTRAP_ID,
        "jti": "forged-0001",
    })
}

/// The `n`/`e` of the server's RS256 key with `kid`, from the JWKS.
async fn rsa_jwk(app: &TestApp, kid: &str) -> Value {
    let jwks = app.get("/.well-known/jwks.json", None).await.json();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .cloned()
        .unwrap_or_else(|| panic!("kid {kid} not in {jwks}"))
}

each_backend!(forged_tokens_are_401, |app| {
    let real = app.management_token(Some("read:clients")).await;
    let (header, _) = jwt_parts(&real);
    assert_eq!(header["alg"], "RS256");
    let kid = header["kid"].as_str().unwrap().to_owned();
    let claims = management_claims("read:clients");

    // Control: these claims signed with the server's own key are accepted, so each rejection below
    // is about the forgery, not the claims.
    let genuine = app
        .state
        .engine
        .minter
        .sign(SigningAlg::RS256, claims.clone(), START)
        .await
        .unwrap();
    let ok = app.get("/api/v2/clients", Some(&genuine)).await;
    assert_eq!(ok.status, 200, "control token: {}", ok.text());

    let payload = b64(claims.to_string().as_bytes());
    // alg none, with and without a signature part.
    let none = b64(json!({ "alg": "none", "typ": "JWT", "kid": kid })
        .to_string()
        .as_bytes());
    for token in [format!("{none}.{payload}."), format!("{none}.{payload}")] {
        assert_401(&app.get("/api/v2/clients", Some(&token)).await, "alg none");
    }

    // HS256 keyed with the public key, in every form a confused verifier might use.
    let jwk = rsa_jwk(&app, &kid).await;
    let public = {
        use base64::Engine;
        let decode = |f: &str| {
            rsa::BigUint::from_bytes_be(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(jwk[f].as_str().unwrap())
                    .unwrap(),
            )
        };
        rsa::RsaPublicKey::new(decode("n"), decode("e")).unwrap()
    };
    let spki_pem = {
        use rsa::pkcs8::EncodePublicKey;
        public
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
    };
    let pkcs1_pem = {
        use rsa::pkcs1::EncodeRsaPublicKey;
        public.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap()
    };
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(kid.clone());
    for secret in [
        spki_pem.as_bytes(),
        pkcs1_pem.as_bytes(),
        jwk.to_string().as_bytes(),
    ] {
        let token =
            jsonwebtoken::encode(&hs_header, &claims, &EncodingKey::from_secret(secret)).unwrap();
        assert_401(
            &app.get("/api/v2/clients", Some(&token)).await,
            "HS256 with public key",
        );
    }

    // RS256 with another RSA key, claiming the server key's kid.
    let other = tokio::task::spawn_blocking(|| KeyMaterial::generate(SigningAlg::RS256).unwrap())
        .await
        .unwrap();
    let mut rs_header = Header::new(Algorithm::RS256);
    rs_header.kid = Some(kid.clone());
    let token = jsonwebtoken::encode(
        &rs_header,
        &claims,
        &EncodingKey::from_rsa_der(&other.private_der),
    )
    .unwrap();
    assert_401(
        &app.get("/api/v2/clients", Some(&token)).await,
        "other RSA key, known kid",
    );
    // ... and with a kid the server does not know.
    rs_header.kid = Some("unknown-kid".into());
    let token = jsonwebtoken::encode(
        &rs_header,
        &claims,
        &EncodingKey::from_rsa_der(&other.private_der),
    )
    .unwrap();
    assert_401(
        &app.get("/api/v2/clients", Some(&token)).await,
        "unknown kid",
    );

    // A genuine signature over different claims: the scope widened after signing.
    let mut parts = real.split('.');
    let (h, _, s) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
    let widened = b64(management_claims(&MANAGEMENT_SCOPES.join(" "))
        .to_string()
        .as_bytes());
    let token = format!("{h}.{widened}.{s}");
    assert_401(
        &app.get("/api/v2/users", Some(&token)).await,
        "tampered claims",
    );
});

each_backend!(well_signed_tokens_with_wrong_claims_are_401, |app| {
    let minter = app.state.engine.minter.clone();
    let sign = |claims: Value| {
        let minter = minter.clone();
        async move { minter.sign(SigningAlg::RS256, claims, START).await.unwrap() }
    };
    let mut cases = Vec::new();
    let mut c = management_claims("read:clients");
    c["iss"] = json!("https://evil.example.com/");
    cases.push(("another issuer", c));
    let mut c = management_claims("read:clients");
    c.as_object_mut().unwrap().remove("gty");
    cases.push(("not a client_credentials token", c));
    let mut c = management_claims("read:clients");
    c["gty"] = json!("password");
    cases.push(("a password-grant token", c));
    let mut c = management_claims("read:clients");
    c["azp"] = json!("no-such-client");
    cases.push(("a client that never existed", c));
    let mut c = management_claims("read:clients");
    c["aud"] = json!(["https://api.example.com/", format!("{ISSUER}userinfo")]);
    cases.push(("another audience list", c));
    for (what, claims) in cases {
        let token = sign(claims).await;
        assert_401(&app.get("/api/v2/clients", Some(&token)).await, what);
    }
    // An audience list that includes the Management API is accepted (RFC 7519 §4.1.3).
    let mut c = management_claims("read:clients");
    c["aud"] = json!([MANAGEMENT_AUDIENCE, "https://api.example.com/"]);
    let response = app.get("/api/v2/clients", Some(&sign(c).await)).await;
    assert_eq!(response.status, 200, "{}", response.text());
});

/// One endpoint: what it needs and what success looks like with that scope alone.
struct Endpoint {
    method: Method,
    path: String,
    scope: &'static str,
    body: Option<Value>,
    success: u16,
}

each_backend!(every_endpoint_requires_its_scope, |app| {
    let api = app
        .create_api(json!({
            "identifier": "https://api.example.com/",
            "scopes": [{"value": "read:things"}, {"value": "write:things"}],
        }))
        .await;
    let api_id = api["id"].as_str().unwrap().to_owned();
    let client = app
        .create_client(json!({ "name": "c1", "app_type": "non_interactive" }))
        .await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let other = app
        .create_client(json!({ "name": "c2", "app_type": "non_interactive" }))
        .await;
    let grant = app
        .create_client_grant(&client_id, "https://api.example.com/", &["read:things"])
        .await;
    let grant_id = grant["id"].as_str().unwrap().to_owned();
    let admin = app.management_token(None).await;
    let user = app
        .send_json(
            Method::POST,
            "/api/v2/users",
            Some(json!({
                "connection": "Username-Password-Authentication",
                "email": "first@example.com",
                "password": "correct horse battery",
            })),
            Some(&admin),
        )
        .await;
    assert_eq!(user.status, 201, "{}", user.text());
    let user_path = format!(
        "/api/v2/users/{}",
        seg(user.json()["user_id"].as_str().unwrap())
    );
    let client_path = format!("/api/v2/clients/{client_id}");
    let api_path = format!("/api/v2/resource-servers/{api_id}");
    let grant_path = format!("/api/v2/client-grants/{grant_id}");

    let e = |method: Method, path: &str, scope, body: Option<Value>, success| Endpoint {
        method,
        path: path.to_owned(),
        scope,
        body,
        success,
    };
    // Deletions last, so every path still exists when its turn comes.
    let endpoints = vec![
        e(Method::GET, "/api/v2/clients", "read:clients", None, 200),
        e(
            Method::POST,
            "/api/v2/clients",
            "create:clients",
            Some(json!({"name": "c3"})),
            201,
        ),
        e(Method::GET, &client_path, "read:clients", None, 200),
        e(
            Method::PATCH,
            &client_path,
            "update:clients",
            Some(json!({"description": "d"})),
            200,
        ),
        e(
            Method::POST,
            &format!("{client_path}/rotate-secret"),
            "update:client_keys",
            None,
            200,
        ),
        e(
            Method::GET,
            "/api/v2/resource-servers",
            "read:resource_servers",
            None,
            200,
        ),
        e(
            Method::POST,
            "/api/v2/resource-servers",
            "create:resource_servers",
            Some(json!({"identifier": "https://other.example.com/"})),
            201,
        ),
        e(Method::GET, &api_path, "read:resource_servers", None, 200),
        e(
            Method::PATCH,
            &api_path,
            "update:resource_servers",
            Some(json!({"name": "n"})),
            200,
        ),
        e(
            Method::GET,
            "/api/v2/client-grants",
            "read:client_grants",
            None,
            200,
        ),
        e(
            Method::POST,
            "/api/v2/client-grants",
            "create:client_grants",
            Some(json!({
                "client_id": other["client_id"],
                "audience": "https://api.example.com/",
                "scope": [],
            })),
            201,
        ),
        e(Method::GET, &grant_path, "read:client_grants", None, 200),
        e(
            Method::PATCH,
            &grant_path,
            "update:client_grants",
            Some(json!({"scope": ["read:things", "write:things"]})),
            200,
        ),
        e(Method::GET, "/api/v2/users", "read:users", None, 200),
        e(
            Method::POST,
            "/api/v2/users",
            "create:users",
            Some(json!({
                "connection": "Username-Password-Authentication",
                "email": "second@example.com",
                "password": "correct horse battery",
            })),
            201,
        ),
        e(Method::GET, &user_path, "read:users", None, 200),
        e(
            Method::PATCH,
            &user_path,
            "update:users",
            Some(json!({"blocked": true})),
            200,
        ),
        e(
            Method::DELETE,
            &grant_path,
            "delete:client_grants",
            None,
            204,
        ),
        e(Method::DELETE, &user_path, "delete:users", None, 204),
        e(
            Method::DELETE,
            &api_path,
            "delete:resource_servers",
            None,
            204,
        ),
        e(Method::DELETE, &client_path, "delete:clients", None, 204),
    ];
    let unrelated = app.management_token(Some("read:logs")).await;
    for ep in endpoints {
        let what = format!(
            "{} {} ({}) on {:?}",
            ep.method, ep.path, ep.scope, app.backend
        );
        eprintln!("endpoint: {what}");
        let all_others = app
            .management_token(Some(&all_scopes_except(ep.scope)))
            .await;
        for token in [&unrelated, &all_others] {
            let response = app
                .send_json(ep.method.clone(), &ep.path, ep.body.clone(), Some(token))
                .await;
            let body = assert_api_code(&response, 403, "insufficient_scope");
            assert_eq!(body["error"], "Forbidden", "{what}");
            assert!(
                body["message"].as_str().unwrap().contains(ep.scope),
                "{what}: the message names the scope: {body}"
            );
        }
        let exact = app.management_token(Some(ep.scope)).await;
        let response = app
            .send_json(ep.method.clone(), &ep.path, ep.body, Some(&exact))
            .await;
        assert_eq!(
            response.status,
            ep.success,
            "{what} with its scope: {}",
            response.text()
        );
    }
});

each_backend!(scope_is_checked_before_the_request_is_validated, |app| {
    // An unauthorized caller learns nothing about validation: 403 comes before 400.
    let token = app.management_token(Some("read:logs")).await;
    for (method, path, body) in [
        (Method::POST, "/api/v2/clients", "{not json"),
        (Method::POST, "/api/v2/users", ""),
        (
            Method::PATCH,
            "/api/v2/resource-servers/x",
            r#"{"token_lifetime": "long"}"#,
        ),
        (Method::POST, "/api/v2/client-grants", "[]"),
    ] {
        let response = send_raw(&app, method.clone(), path, body, &token).await;
        assert_api_code(&response, 403, "insufficient_scope");
    }
    for path in [
        "/api/v2/clients?per_page=abc",
        "/api/v2/users?include_totals=maybe",
        "/api/v2/client-grants?page=-1",
    ] {
        let response = app.get(path, Some(&token)).await;
        assert_api_code(&response, 403, "insufficient_scope");
    }
});

each_backend!(unknown_routes_under_api_v2_are_404_in_auth0_shape, |app| {
    let token = app.management_token(None).await;
    for path in [
        "/api/v2/nothing-here",
        "/api/v2/clients/x/y/z",
        "/api/v2/",
        "/api/v2/connections",
    ] {
        let response = app.get(path, Some(&token)).await;
        let body = response.assert_api_error(404);
        assert_eq!(body["error"], "Not Found", "{path}: {body}");
    }
    // A path segment that is not UTF-8 once decoded still gets Auth0's body.
    for path in ["/api/v2/clients/%FF", "/api/v2/users/auth0%7C%C3%28"] {
        let response = app.get(path, Some(&token)).await;
        let status = response.status.as_u16();
        assert!(
            status == 400 || status == 404,
            "{path}: {}",
            response.text()
        );
        response.assert_api_error(status);
    }
});

each_backend!(oversized_bodies_are_413, |app| {
    let token = app.management_token(None).await;
    let big = format!(r#"{{"name":"x","description":"{}"}}"#, "a".repeat(100_000));
    // Without Content-Length the limit is hit while reading: Auth0's body.
    let response = send_raw(&app, Method::POST, "/api/v2/clients", &big, &token).await;
    response.assert_api_error(413);
    // With it, the request is refused before it is read.
    let request = Request::post("/api/v2/clients")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big))
        .unwrap();
    assert_eq!(app.request(request).await.status, 413);
    let listed = app
        .get("/api/v2/clients?include_totals=true", Some(&token))
        .await;
    assert_eq!(listed.json()["total"], 1, "nothing was created");
});

each_backend!(unsupported_methods_get_auth0_errors, |app| {
    let token = app.management_token(None).await;
    for (method, path, allow) in [
        (Method::PUT, "/api/v2/clients", "GET,POST"),
        (Method::DELETE, "/api/v2/users", "GET,POST"),
        (Method::POST, "/api/v2/clients/abc", "GET,PATCH,DELETE"),
        (Method::GET, "/api/v2/clients/abc/rotate-secret", "POST"),
    ] {
        let response = app
            .send_json(method.clone(), path, None, Some(&token))
            .await;
        let body = response.assert_api_error(405);
        assert_eq!(body["error"], "Method Not Allowed", "{method} {path}");
        let mut got: Vec<&str> = response
            .header("allow")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .collect();
        let mut want: Vec<&str> = allow.split(',').collect();
        got.retain(|m| *m != "HEAD");
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{method} {path}: Allow");
    }
});

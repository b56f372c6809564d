//! Legacy Auth0 apps (`oidc_conformant: false`, seeds 000 and 001): a refresh token in the implicit
//! response, one family per named `device` (naming it again replaces it), and `POST /delegation`
//! for a new ID token from a refresh token or an ID token. OIDC-conformant clients get neither.

use std::collections::BTreeMap;

use axum::http::Method;
use serde_json::{Value, json};

use crate::browser::*;
use crate::each_backend;
use crate::helpers::{ISSUER, TestApp, TestResponse, jwt_parts, verify_with_jwks};
use crate::management_revocation::{enc, family_of};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The standard user and a legacy SPA (public, Auth0's defaults: code, implicit, refresh_token).
/// Answers (user_id, client_id).
async fn legacy_setup(app: &TestApp) -> (String, String) {
    let user_id = create_user(app, EMAIL, PASSWORD, NAME).await;
    (user_id, legacy_client(app, "Legacy SPA").await)
}

async fn legacy_client(app: &TestApp, name: &str) -> String {
    let client = app
        .create_client(json!({
            "name": name,
            "app_type": "spa",
            "callbacks": [CALLBACK],
            "oidc_conformant": false,
        }))
        .await;
    client["client_id"].as_str().unwrap().to_owned()
}

/// An implicit authorization (logging in when the browser has no session yet); answers the
/// fragment of the answer.
async fn implicit(
    browser: &mut Browser<'_>,
    client_id: &str,
    response_type: &str,
    scope: &str,
    device: Option<&str>,
) -> BTreeMap<String, String> {
    let mut params = vec![
        ("client_id", client_id),
        ("response_type", response_type),
        ("redirect_uri", CALLBACK),
        ("scope", scope),
        ("state", "st"),
        ("nonce", "n-1"),
    ];
    if let Some(device) = device {
        params.push(("device", device));
    }
    let response = browser.authorize(&params).await;
    let response = if location(&response).starts_with("/u/login") {
        browser
            .login_at(&location(&response), EMAIL, PASSWORD)
            .await
            .1
    } else {
        response
    };
    let (to, fragment) = redirect_params(&location(&response), '#');
    assert_eq!(to, CALLBACK);
    fragment
}

/// A refresh token from a legacy implicit flow on `device`.
async fn device_token(browser: &mut Browser<'_>, client_id: &str, device: Option<&str>) -> String {
    implicit(browser, client_id, "token", "openid offline_access", device).await["refresh_token"]
        .clone()
}

async fn exchange_refresh(app: &TestApp, client_id: &str, token: &str) -> TestResponse {
    app.post_form(
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", token),
        ],
        None,
    )
    .await
}

async fn delegation(app: &TestApp, pairs: &[(&str, &str)]) -> TestResponse {
    app.post_form("/delegation", pairs, None).await
}

/// `/delegation` with a refresh token, form-encoded, with `extra` parameters.
async fn delegate_refresh(
    app: &TestApp,
    client_id: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> TestResponse {
    let mut pairs = vec![
        ("client_id", client_id),
        ("grant_type", JWT_BEARER),
        ("refresh_token", token),
        ("api_type", "app"),
    ];
    pairs.extend_from_slice(extra);
    delegation(app, &pairs).await
}

/// `/delegation` with an ID token, as JSON.
async fn delegate_id_token(app: &TestApp, client_id: &str, id_token: &str) -> TestResponse {
    app.send_json(
        Method::POST,
        "/delegation",
        Some(json!({
            "client_id": client_id,
            "grant_type": JWT_BEARER,
            "id_token": id_token,
            "api_type": "app",
            "target": client_id,
            "scope": "openid profile",
        })),
        None,
    )
    .await
}

/// The answer's ID token, verified, after checking the answer's shape.
async fn new_id_token(app: &TestApp, response: &TestResponse, client_id: &str) -> Value {
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().is_some_and(|e| e > 0), "{body}");
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    verify_with_jwks(
        body["id_token"].as_str().unwrap(),
        &jwks(app).await,
        client_id,
    )
}

async fn device_names(app: &TestApp, user_id: &str) -> Vec<String> {
    let admin = app.management_token(None).await;
    let response = app
        .get(
            &format!("/api/v2/device-credentials?user_id={}", enc(user_id)),
            Some(&admin),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let mut names: Vec<String> = response
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(
                d["type"], "refresh_token",
                "legacy families do not rotate: {d}"
            );
            d["device_name"].as_str().unwrap().to_owned()
        })
        .collect();
    names.sort();
    names
}

each_backend!(
    legacy_implicit_answers_a_refresh_token_in_the_fragment,
    |app| {
        let (user_id, client_id) = legacy_setup(&app).await;
        let mut browser = Browser::new(&app);
        for rt in ["token", "id_token token"] {
            let fragment = implicit(
                &mut browser,
                &client_id,
                rt,
                "openid offline_access",
                Some("phone"),
            )
            .await;
            for key in [
                "access_token",
                "id_token",
                "token_type",
                "expires_in",
                "state",
                "refresh_token",
            ] {
                assert!(fragment.contains_key(key), "{rt}: {key} in {fragment:?}");
            }
            assert_eq!(fragment["state"], "st");
            let (_, id) = jwt_parts(&fragment["id_token"]);
            assert_eq!(id["sub"], user_id.as_str());
            // Non-rotating and valid until revoked: the exchange answers no new refresh token.
            let response = exchange_refresh(&app, &client_id, &fragment["refresh_token"]).await;
            assert_eq!(response.status, 200, "{}", response.text());
            assert!(response.json().get("refresh_token").is_none());
            let family = app
                .store
                .get_family(&family_of(&fragment["refresh_token"]))
                .await
                .unwrap()
                .unwrap();
            assert!(!family.rotating);
            assert_eq!(family.expires_at, None);
            assert_eq!(family.idle_lifetime, None);
            assert_eq!(family.device, "phone");
        }
        // Without offline_access, no refresh token; id_token alone never has one.
        let fragment = implicit(&mut browser, &client_id, "token", "openid", None).await;
        assert!(!fragment.contains_key("refresh_token"));
        let fragment = implicit(
            &mut browser,
            &client_id,
            "id_token",
            "openid offline_access",
            None,
        )
        .await;
        assert!(!fragment.contains_key("refresh_token"));
        assert_eq!(device_names(&app, &user_id).await, vec!["phone"]);
    }
);

each_backend!(naming_the_same_device_replaces_its_family, |app| {
    let (user_id, client_id) = legacy_setup(&app).await;
    let mut browser = Browser::new(&app);
    let phone = device_token(&mut browser, &client_id, Some("phone")).await;
    let laptop = device_token(&mut browser, &client_id, Some("laptop")).await;
    let phone2 = device_token(&mut browser, &client_id, Some("phone")).await;
    assert_ne!(family_of(&phone), family_of(&phone2));

    exchange_refresh(&app, &client_id, &phone)
        .await
        .assert_oauth_error(400, "invalid_grant");
    let old = app
        .store
        .get_family(&family_of(&phone))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.revoked_reason.as_deref(), Some("device_replaced"));
    for live in [&laptop, &phone2] {
        let response = exchange_refresh(&app, &client_id, live).await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(device_names(&app, &user_id).await, vec!["laptop", "phone"]);

    // No device: named after the user agent, and every authorization is a new family.
    let a = device_token(&mut browser, &client_id, None).await;
    let b = device_token(&mut browser, &client_id, None).await;
    assert_ne!(family_of(&a), family_of(&b));
    for live in [&a, &b, &laptop, &phone2] {
        let response = exchange_refresh(&app, &client_id, live).await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(
        device_names(&app, &user_id).await,
        vec!["TestBrowser/1.0", "TestBrowser/1.0", "laptop", "phone"]
    );

    // Another legacy client's "phone" is another device: untouched.
    let other = legacy_client(&app, "Other legacy app").await;
    let others = device_token(&mut browser, &other, Some("phone")).await;
    let _ = device_token(&mut browser, &client_id, Some("phone")).await;
    let response = exchange_refresh(&app, &other, &others).await;
    assert_eq!(response.status, 200, "{}", response.text());
    exchange_refresh(&app, &client_id, &phone2)
        .await
        .assert_oauth_error(400, "invalid_grant");
});

each_backend!(delegation_answers_a_new_id_token, |app| {
    let (user_id, client_id) = legacy_setup(&app).await;
    let mut browser = Browser::new(&app);
    let fragment = implicit(
        &mut browser,
        &client_id,
        "id_token token",
        "openid profile offline_access",
        Some("phone"),
    )
    .await;
    let token = &fragment["refresh_token"];

    // With the refresh token (form), default scope openid, default target.
    let response = delegate_refresh(&app, &client_id, token, &[]).await;
    let id = new_id_token(&app, &response, &client_id).await;
    assert_eq!(id["sub"], user_id.as_str());
    assert_eq!(id["aud"], client_id.as_str());
    assert_eq!(id["iss"], ISSUER);
    assert!(id.get("name").is_none(), "scope openid only: {id}");
    // Not rotated: the same token works again, here with a scope it was granted.
    let response = delegate_refresh(
        &app,
        &client_id,
        token,
        &[("scope", "openid profile"), ("target", &client_id)],
    )
    .await;
    let id = new_id_token(&app, &response, &client_id).await;
    assert_eq!(id["name"], NAME);
    let family = app
        .store
        .get_family(&family_of(token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(family.generation, 0);
    // More than the family was granted: invalid_scope.
    delegate_refresh(&app, &client_id, token, &[("scope", "openid email")])
        .await
        .assert_oauth_error(400, "invalid_scope");

    // With the ID token (JSON).
    let response = delegate_id_token(&app, &client_id, &fragment["id_token"]).await;
    let id = new_id_token(&app, &response, &client_id).await;
    assert_eq!(id["sub"], user_id.as_str());
    assert_eq!(id["aud"], client_id.as_str());
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["name"], NAME);
    // The refresh token still exchanges at the token endpoint.
    let response = exchange_refresh(&app, &client_id, token).await;
    assert_eq!(response.status, 200, "{}", response.text());
});

each_backend!(delegation_refuses_dead_foreign_and_forged_tokens, |app| {
    let (user_id, client_id) = legacy_setup(&app).await;
    let other = legacy_client(&app, "Other legacy app").await;
    let mut browser = Browser::new(&app);
    let fragment = implicit(
        &mut browser,
        &client_id,
        "id_token token",
        "openid offline_access",
        Some("phone"),
    )
    .await;
    let token = fragment["refresh_token"].clone();
    let id_token = fragment["id_token"].clone();
    let foreign = device_token(&mut browser, &other, Some("phone")).await;

    // Unknown and foreign refresh tokens.
    delegate_refresh(&app, &client_id, "not-a-token", &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    delegate_refresh(&app, &client_id, &foreign, &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    // An ID token issued to another client.
    let others_id =
        implicit(&mut browser, &other, "id_token", "openid", None).await["id_token"].clone();
    delegate_id_token(&app, &client_id, &others_id)
        .await
        .assert_oauth_error(400, "invalid_grant");
    // A forged ID token: the claims changed under the same signature.
    let parts: Vec<&str> = id_token.split('.').collect();
    let (_, mut claims) = jwt_parts(&id_token);
    claims["sub"] = json!("auth0|someone-else");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64_url(&claims.to_string()),
        parts[2]
    );
    delegate_id_token(&app, &client_id, &forged)
        .await
        .assert_oauth_error(400, "invalid_grant");
    // An access token is not an ID token.
    delegate_id_token(&app, &client_id, &fragment["access_token"])
        .await
        .assert_oauth_error(400, "invalid_grant");

    // A blocked user: both forms refused, until unblocked.
    patch_user(&app, &user_id, json!({ "blocked": true })).await;
    delegate_refresh(&app, &client_id, &token, &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    delegate_id_token(&app, &client_id, &id_token)
        .await
        .assert_oauth_error(400, "invalid_grant");
    patch_user(&app, &user_id, json!({ "blocked": false })).await;
    let response = delegate_refresh(&app, &client_id, &token, &[]).await;
    new_id_token(&app, &response, &client_id).await;

    // An expired ID token.
    app.clock.advance(2 * 86_400);
    let response = delegate_id_token(&app, &client_id, &id_token).await;
    response.assert_oauth_error(400, "invalid_grant");
    assert!(
        response.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    // The refresh token is valid until revoked…
    let response = delegate_refresh(&app, &client_id, &token, &[]).await;
    new_id_token(&app, &response, &client_id).await;
    // …and revoked at /oauth/revoke.
    let response = app
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", &token)],
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    delegate_refresh(&app, &client_id, &token, &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
});

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.as_bytes())
}

each_backend!(delegation_refuses_other_targets_and_api_types, |app| {
    let (_, client_id) = legacy_setup(&app).await;
    let other = legacy_client(&app, "Other legacy app").await;
    let mut browser = Browser::new(&app);
    let token = device_token(&mut browser, &client_id, Some("phone")).await;

    // A public legacy client cannot mint ID tokens for other apps.
    delegate_refresh(&app, &client_id, &token, &[("target", &other)])
        .await
        .assert_oauth_error(400, "invalid_request");
    let response = delegation(
        &app,
        &[
            ("client_id", &client_id),
            ("grant_type", JWT_BEARER),
            ("refresh_token", &token),
            ("api_type", "aws"),
        ],
    )
    .await;
    response.assert_oauth_error(400, "invalid_request");
    assert!(
        response.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("app")
    );
    let response = delegation(
        &app,
        &[
            ("client_id", &client_id),
            ("grant_type", "refresh_token"),
            ("refresh_token", &token),
            ("api_type", "app"),
        ],
    )
    .await;
    response.assert_oauth_error(400, "unsupported_grant_type");
    let response = delegation(
        &app,
        &[
            ("client_id", &client_id),
            ("grant_type", JWT_BEARER),
            ("api_type", "app"),
        ],
    )
    .await;
    response.assert_oauth_error(400, "invalid_request");
    // A client that does not exist.
    delegate_refresh(&app, "nobody", &token, &[])
        .await
        .assert_oauth_error(401, "invalid_client");
});

each_backend!(oidc_conformant_clients_get_neither, |app| {
    let (user_id, client_id) = spa_setup(&app).await;
    let mut browser = Browser::new(&app);
    for rt in ["token", "id_token token"] {
        let fragment = implicit(
            &mut browser,
            &client_id,
            rt,
            "openid offline_access",
            Some("phone"),
        )
        .await;
        assert!(!fragment.contains_key("refresh_token"), "{fragment:?}");
        assert!(fragment.contains_key("access_token"));
    }
    let fragment = implicit(&mut browser, &client_id, "id_token", "openid", None).await;
    let response = delegate_id_token(&app, &client_id, &fragment["id_token"]).await;
    response.assert_oauth_error(400, "unauthorized_client");
    assert!(
        response.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("oidc_conformant: false")
    );
    assert!(device_names(&app, &user_id).await.is_empty());
});

/// The JSON body of the PATCH in the README's "Moving a legacy app to the code flow with PKCE".
fn readme_migration_patch() -> Value {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("**Moving a legacy app to the code flow with PKCE.**")
        .nth(1)
        .expect("the README's migration section");
    let body = section
        .split("-d '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the migration PATCH's -d body");
    serde_json::from_str(body).expect("the README's PATCH body is JSON")
}

// The README's legacy migration, exactly as printed: after its PATCH, new families have the
// 30-day absolute and 15-day idle lifetimes (the client was made valid-until-revoked), and the
// legacy families are revoked by the switch to rotation.
each_backend!(the_readme_migration_gives_new_families_lifetimes, |app| {
    let (_, client_id) = legacy_setup(&app).await;
    let mut browser = Browser::new(&app);
    let fragment = implicit(
        &mut browser,
        &client_id,
        "token",
        "openid offline_access",
        Some("phone"),
    )
    .await;
    let legacy_family = family_of(&fragment["refresh_token"]);

    let token = app.management_token(None).await;
    let response = app
        .send_json(
            Method::PATCH,
            &format!("/api/v2/clients/{client_id}"),
            Some(readme_migration_patch()),
            Some(&token),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let client = response.json();
    assert_eq!(client["oidc_conformant"], true);
    assert_eq!(
        client["refresh_token"],
        json!({
            "rotation_type": "rotating",
            "expiration_type": "expiring",
            "leeway": 10,
            "token_lifetime": 2_592_000,
            "infinite_token_lifetime": false,
            "idle_token_lifetime": 1_296_000,
            "infinite_idle_token_lifetime": false,
        })
    );

    let tokens = code_flow_tokens(
        &mut browser,
        &client_id,
        &[("scope", "openid offline_access")],
    )
    .await;
    let family = app
        .store
        .get_family(&family_of(tokens["refresh_token"].as_str().unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert!(family.rotating);
    assert_eq!(family.expires_at, Some(family.created_at + 2_592_000));
    assert_eq!(family.idle_lifetime, Some(1_296_000));
    assert_eq!(family.leeway, 10);
    let old = app.store.get_family(&legacy_family).await.unwrap().unwrap();
    assert!(old.revoked_at.is_some(), "{old:?}");
});

each_backend!(
    a_third_party_legacy_app_gets_its_token_after_consent,
    |app| {
        let (user_id, _) = legacy_setup(&app).await;
        let client = app
            .create_client(json!({
                "name": "Third-party legacy app",
                "app_type": "spa",
                "callbacks": [CALLBACK],
                "oidc_conformant": false,
                "is_first_party": false,
            }))
            .await;
        let client_id = client["client_id"].as_str().unwrap();
        let mut browser = Browser::new(&app);
        let params = [
            ("client_id", client_id),
            ("response_type", "token"),
            ("redirect_uri", CALLBACK),
            ("scope", "openid offline_access"),
            ("state", "st"),
            ("device", "tablet"),
        ];
        let response = browser.authorize_and_login(&params).await;
        let response = browser.consent_at(&location(&response), "accept").await;
        let (_, fragment) = redirect_params(&location(&response), '#');
        let token = &fragment["refresh_token"];
        let family = app
            .store
            .get_family(&family_of(token))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(family.device, "tablet");
        assert_eq!(family.initial_user_agent, "TestBrowser/1.0");
        assert_eq!(device_names(&app, &user_id).await, vec!["tablet"]);
    }
);

each_backend!(
    racing_replacements_of_one_device_leave_one_live_family,
    |app| {
        let (_, client_id) = legacy_setup(&app).await;
        let mut browser = Browser::new(&app);
        let token = device_token(&mut browser, &client_id, Some("phone")).await;
        let template = app
            .store
            .get_family(&family_of(&token))
            .await
            .unwrap()
            .unwrap();
        for round in 0..5 {
            let families: Vec<_> = (0..4)
                .map(|n| {
                    let mut f = template.clone();
                    f.id = format!("race{round}x{n}");
                    f
                })
                .collect();
            let tasks: Vec<_> = families
                .iter()
                .map(|f| {
                    let store = app.store.clone();
                    let f = f.clone();
                    tokio::spawn(async move { store.create_family(&f, 200, true).await })
                })
                .collect();
            for task in tasks {
                task.await.unwrap().unwrap();
            }
            let mut live = 0;
            for f in &families {
                let f = app.store.get_family(&f.id).await.unwrap().unwrap();
                if f.revoked_at.is_none() {
                    live += 1;
                } else {
                    assert_eq!(f.revoked_reason.as_deref(), Some("device_replaced"));
                }
            }
            assert_eq!(live, 1, "round {round}: one live family per device");
        }
    }
);

each_backend!(
    confidential_legacy_apps_may_delegate_with_client_id_alone,
    |app| {
        // Auth0's SDKs call /delegation with client_id alone, whatever the client; a secret that is
        // sent must still be right.
        create_user(&app, EMAIL, PASSWORD, NAME).await;
        let client = app
            .create_client(json!({
                "name": "Legacy web app",
                "app_type": "regular_web",
                "callbacks": [CALLBACK],
                "oidc_conformant": false,
            }))
            .await;
        let client_id = client["client_id"].as_str().unwrap().to_owned();
        let secret = client["client_secret"].as_str().unwrap().to_owned();
        let mut browser = Browser::new(&app);
        let fragment = implicit(
            &mut browser,
            &client_id,
            "id_token token",
            "openid offline_access",
            None,
        )
        .await;
        let token = &fragment["refresh_token"];
        let response = delegate_refresh(&app, &client_id, token, &[]).await;
        new_id_token(&app, &response, &client_id).await;
        delegate_refresh(&app, &client_id, token, &[("client_secret", "wrong")])
            .await
            .assert_oauth_error(401, "invalid_client");
        let response =
            delegate_refresh(&app, &client_id, token, &[("client_secret", &secret)]).await;
        new_id_token(&app, &response, &client_id).await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegation_is_rate_limited_per_user_and_ip() {
    for backend in crate::helpers::backends() {
        let app = crate::helpers::spawn_app_with(
            backend,
            &[("TESSERA_DELEGATION_RATE_LIMIT_PER_MINUTE", "2")],
        )
        .await;
        let (_, client_id) = legacy_setup(&app).await;
        let mut browser = Browser::new(&app);
        let fragment = implicit(
            &mut browser,
            &client_id,
            "id_token token",
            "openid offline_access",
            None,
        )
        .await;
        let token = &fragment["refresh_token"];
        for _ in 0..2 {
            let response = delegate_refresh(&app, &client_id, token, &[]).await;
            assert_eq!(response.status, 200, "{}", response.text());
        }
        let limited = delegate_refresh(&app, &client_id, token, &[]).await;
        limited.assert_oauth_error(429, "too_many_requests");
        assert!(limited.header("retry-after").is_some());
        app.cleanup().await;
    }
}

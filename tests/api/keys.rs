//! Discovery, the JWKS, signing keys at rest, two-phase key rotation and algorithm pinning.

use std::sync::Arc;

use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use tessera::clock::{Clock, rfc3339};
use tessera::config::SecretString;
use tessera::domain::SigningAlg;
use tessera::tokens::keys::KeyState;
use tessera::tokens::{KeyMaterial, Secrets};

use crate::each_backend;
use crate::helpers::{ISSUER, SECRETS_KEY, START, TestApp, jwt_parts, verify_with_jwks};

const API: &str = "https://api.example.com/";

async fn jwks(app: &TestApp) -> Value {
    let response = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

fn jwk_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

fn jwks_has_kty(jwks: &Value, kty: &str) -> bool {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kty"] == kty)
}

fn secrets() -> Arc<Secrets> {
    Arc::new(Secrets::new(&SecretString::new(SECRETS_KEY)))
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The `kid` of a fresh access token for the example API.
async fn token_kid(app: &TestApp, id: &str, secret: &str) -> (String, String) {
    let body = app.client_credentials(id, secret, API, None).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let kid = jwt_parts(&token).0["kid"].as_str().unwrap().to_owned();
    (kid, token)
}

each_backend!(discovery_advertises_only_what_is_implemented, |app| {
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert!(
            response
                .header("content-type")
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let doc = response.json();
        assert_eq!(doc["issuer"], ISSUER, "{path}");
        assert!(doc["issuer"].as_str().unwrap().ends_with('/'));
        assert_eq!(
            doc["token_endpoint"],
            format!("{ISSUER}oauth/token"),
            "{path}"
        );
        assert_eq!(
            doc["jwks_uri"],
            format!("{ISSUER}.well-known/jwks.json"),
            "{path}"
        );
        assert_eq!(
            doc["grant_types_supported"],
            json!([
                "authorization_code",
                "refresh_token",
                "implicit",
                "client_credentials",
                "password",
                "http://auth0.com/oauth/grant-type/password-realm"
            ]),
            "{path}"
        );
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            doc["response_types_supported"],
            json!(["code", "token", "id_token", "id_token token"])
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );
        let mut methods: Vec<&str> = doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        methods.sort_unstable();
        assert_eq!(
            methods,
            ["client_secret_basic", "client_secret_post", "none"]
        );
        // Nothing that is not served is advertised.
        for absent in ["registration_endpoint", "device_authorization_endpoint"] {
            assert!(
                doc.get(absent).is_none(),
                "{path} advertises {absent}: {doc}"
            );
        }

        // The advertised endpoints are served here.
        let jwks_path = doc["jwks_uri"]
            .as_str()
            .unwrap()
            .strip_prefix(ISSUER)
            .unwrap();
        assert_eq!(app.get(&format!("/{jwks_path}"), None).await.status, 200);
        let token_path = doc["token_endpoint"]
            .as_str()
            .unwrap()
            .strip_prefix(ISSUER)
            .unwrap();
        app.post_form(&format!("/{token_path}"), &[], None)
            .await
            .assert_oauth_error(400, "invalid_request");
        for (field, status) in [
            ("authorization_endpoint", 400),
            ("userinfo_endpoint", 401),
            ("end_session_endpoint", 200),
        ] {
            let url = doc[field].as_str().unwrap();
            let path = url.strip_prefix(ISSUER).unwrap();
            assert_eq!(
                app.get(&format!("/{path}"), None).await.status,
                status,
                "{field} is served"
            );
        }
    }
});

each_backend!(jwks_publishes_ec_keys_only_while_an_api_uses_es256, |app| {
    let initial = jwks(&app).await;
    let keys = initial["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    assert!(
        keys.iter()
            .any(|k| k["kty"] == "RSA" && k["alg"] == "RS256"),
        "{initial}"
    );
    assert!(
        !jwks_has_kty(&initial, "EC"),
        "no API uses ES256 yet: {initial}"
    );

    let token = app.management_token(None).await;
    let created = app
        .create_api(json!({ "identifier": "https://es.example.com/", "signing_alg": "ES256" }))
        .await;
    let with_ec = jwks(&app).await;
    let ec: Vec<&Value> = with_ec["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["kty"] == "EC")
        .collect();
    assert_eq!(ec.len(), 1, "{with_ec}");
    assert_eq!(ec[0]["alg"], "ES256");
    assert_eq!(ec[0]["crv"], "P-256");
    assert_eq!(ec[0]["use"], "sig");
    assert!(ec[0]["x"].is_string() && ec[0]["y"].is_string());
    // Every RSA key is still there.
    for kid in jwk_kids(&initial) {
        assert!(jwk_kids(&with_ec).contains(&kid));
    }

    let id = created["id"].as_str().unwrap();
    let response = app
        .send_json(
            Method::DELETE,
            &format!("/api/v2/resource-servers/{id}"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(response.status, 204, "{}", response.text());
    let after = jwks(&app).await;
    assert!(
        !jwks_has_kty(&after, "EC"),
        "the last ES256 API is gone: {after}"
    );
    assert_eq!(after, initial);
});

each_backend!(jwks_never_holds_private_parts, |app| {
    // Publish every kind of key: an ES256 and a PS256 API, and a rotated RS256 key.
    app.create_api(json!({ "identifier": "https://es.example.com/", "signing_alg": "ES256" }))
        .await;
    app.create_api(json!({ "identifier": "https://ps.example.com/", "signing_alg": "PS256" }))
        .await;
    tessera::tokens::keys::rotate(
        &app.store,
        &secrets(),
        SigningAlg::RS256,
        START,
        3600,
        86_400,
    )
    .await
    .unwrap();
    app.state
        .engine
        .minter
        .keys()
        .reload(&app.store)
        .await
        .unwrap();

    let doc = jwks(&app).await;
    let keys = doc["keys"].as_array().unwrap();
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "PS256", "RS256", "RS256"], "{doc}");
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(
                key.get(private).is_none(),
                "JWK has private member {private}: {key}"
            );
        }
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
        let public: &[&str] = match key["kty"].as_str().unwrap() {
            "RSA" => &["kty", "n", "e", "kid", "alg", "use"],
            "EC" => &["kty", "crv", "x", "y", "kid", "alg", "use"],
            other => panic!("unexpected kty {other}"),
        };
        for member in key.as_object().unwrap().keys() {
            assert!(
                public.contains(&member.as_str()),
                "unexpected member {member}: {key}"
            );
        }
    }
});

each_backend!(private_keys_are_encrypted_at_rest, |app| {
    let right = Secrets::new(&SecretString::new(SECRETS_KEY));
    let wrong = Secrets::new(&SecretString::new(
        "another-secrets-key-0123456789-abcdefghij",
    ));

    // A key sealed now: what the database holds is not the DER, and only the secrets key opens it.
    let material = KeyMaterial::generate(SigningAlg::ES256).unwrap();
    let record = material.seal(&right, START, START).unwrap();
    app.store.insert_signing_key(&record).await.unwrap();

    let stored = app.store.list_signing_keys().await.unwrap();
    assert!(stored.len() >= 4, "the fixture keys and the new one");
    let sealed = stored.iter().find(|k| k.kid == record.kid).unwrap();
    assert_ne!(sealed.private_key, material.private_der);
    assert!(
        !sealed
            .private_key
            .windows(material.private_der.len())
            .any(|w| w == material.private_der.as_slice()),
        "the plaintext DER is not inside the stored bytes"
    );
    assert_eq!(
        right
            .decrypt(sealed.kid.as_bytes(), &sealed.private_key)
            .unwrap(),
        material.private_der
    );

    for key in &stored {
        let der = right
            .decrypt(key.kid.as_bytes(), &key.private_key)
            .expect("the secrets key opens every stored key");
        assert!(
            !key.private_key
                .windows(der.len())
                .any(|w| w == der.as_slice()),
            "{}: plaintext stored",
            key.kid
        );
        assert!(
            wrong.decrypt(key.kid.as_bytes(), &key.private_key).is_err(),
            "{}: another secrets key must not open it",
            key.kid
        );
        // The ciphertext is bound to its key id: it cannot be moved to another row.
        assert!(right.decrypt(b"some-other-kid", &key.private_key).is_err());
        if key.alg == "RS256" {
            // And it really is the key the JWKS publishes.
            use rsa::pkcs1::DecodeRsaPrivateKey;
            use rsa::traits::PublicKeyParts;
            let private = rsa::RsaPrivateKey::from_pkcs1_der(&der).unwrap();
            let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
            assert_eq!(jwk["n"], URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()));
            assert!(jwk.get("d").is_none());
        }
    }

    // A key ring with the wrong secrets key refuses to load the keys.
    let ring = tessera::tokens::KeyRing::new(Arc::new(wrong));
    assert!(ring.reload(&app.store).await.is_err());
});

/// `tessera keys list`'s state of `kid` at the test clock's now, and its next transition.
async fn key_state(app: &TestApp, kid: &str) -> (KeyState, Option<KeyState>, Option<String>) {
    let keys = tessera::tokens::keys::list(&app.store, app.clock.now())
        .await
        .unwrap();
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .expect("the key is listed");
    (key.state, key.next_state, key.next_state_at.clone())
}

each_backend!(
    two_phase_rotation_publishes_before_signing_and_retires_late,
    |app| {
        let (id, secret) = app.m2m_setup("RS256").await;
        let (old_kid, old_token) = token_kid(&app, &id, &secret).await;
        let old_admin_token = app.management_token(None).await;
        assert_eq!(jwt_parts(&old_admin_token).0["kid"], old_kid.as_str());

        // Phase one: the new key is published at once but does not sign yet.
        let activation_delay = 3600;
        let max_lifetime = 86_400;
        let record = tessera::tokens::keys::rotate(
            &app.store,
            &secrets(),
            SigningAlg::RS256,
            app.clock.now(),
            activation_delay,
            max_lifetime,
        )
        .await
        .unwrap();
        let new_kid = record.kid.clone();
        assert_ne!(new_kid, old_kid);
        assert_eq!(record.activates_at, START + 3600);
        app.state
            .engine
            .minter
            .keys()
            .reload(&app.store)
            .await
            .unwrap();

        // The labels name what each key does: the old one still signs until the new one's
        // activation, the new one is published but waits.
        let activation = Some(rfc3339(START + 3600));
        assert_eq!(
            key_state(&app, &old_kid).await,
            (
                KeyState::Current,
                Some(KeyState::Previous),
                activation.clone()
            )
        );
        assert_eq!(
            key_state(&app, &new_kid).await,
            (KeyState::Next, Some(KeyState::Current), activation)
        );
        let published = jwk_kids(&jwks(&app).await);
        assert!(
            published.contains(&new_kid),
            "the next key is published before it signs"
        );
        assert!(published.contains(&old_kid));
        assert_eq!(
            token_kid(&app, &id, &secret).await.0,
            old_kid,
            "the old key still signs"
        );

        // Phase two: past activation the new key signs; the old one stays published.
        app.clock.advance(3601);
        app.state
            .engine
            .minter
            .keys()
            .reload(&app.store)
            .await
            .unwrap();
        let (kid, new_token) = token_kid(&app, &id, &secret).await;
        assert_eq!(kid, new_kid, "the new key signs after activation");
        assert_eq!(
            key_state(&app, &old_kid).await,
            (
                KeyState::Previous,
                Some(KeyState::Retired),
                Some(rfc3339(START + 3600 + 86_400))
            )
        );
        assert_eq!(
            key_state(&app, &new_kid).await,
            (KeyState::Current, None, None)
        );
        let doc = jwks(&app).await;
        assert!(
            jwk_kids(&doc).contains(&old_kid),
            "the old key is still published"
        );
        verify_with_jwks(&old_token, &doc, API);
        verify_with_jwks(&new_token, &doc, API);
        // A token the old key signed is still accepted while it lives.
        let response = app.get("/api/v2/clients", Some(&old_admin_token)).await;
        assert_eq!(response.status, 200, "{}", response.text());

        let stored = app.store.list_signing_keys().await.unwrap();
        let old = stored.iter().find(|k| k.kid == old_kid).unwrap();
        let until = old
            .published_until
            .expect("the superseded key has an end of publication");
        assert_eq!(until, START + 3600 + 86_400);
        assert!(
            stored
                .iter()
                .find(|k| k.kid == new_kid)
                .unwrap()
                .published_until
                .is_none(),
            "the new key is not retiring"
        );

        // Past the end of publication the old key leaves the JWKS, and can be purged.
        app.clock.set(until);
        assert_eq!(
            key_state(&app, &old_kid).await,
            (KeyState::Retired, None, None)
        );
        assert!(!jwk_kids(&jwks(&app).await).contains(&old_kid));
        assert!(jwk_kids(&jwks(&app).await).contains(&new_kid));
        app.clock.set(until + 1);
        let purged = app.store.purge_signing_keys(app.clock.now()).await.unwrap();
        assert_eq!(purged, 1);
        assert!(
            !app.store
                .list_signing_keys()
                .await
                .unwrap()
                .iter()
                .any(|k| k.kid == old_kid)
        );
        app.state
            .engine
            .minter
            .keys()
            .reload(&app.store)
            .await
            .unwrap();
        let doc = jwks(&app).await;
        assert!(!jwk_kids(&doc).contains(&old_kid));
        assert!(jwk_kids(&doc).contains(&new_kid));
        assert_eq!(token_kid(&app, &id, &secret).await.0, new_kid);
    }
);

each_backend!(management_api_pins_the_algorithm, |app| {
    let genuine = app.management_token(None).await;
    let response = app.get("/api/v2/clients", Some(&genuine)).await;
    assert_eq!(
        response.status,
        200,
        "the genuine token works: {}",
        response.text()
    );

    let (header, claims) = jwt_parts(&genuine);
    let kid = header["kid"].as_str().unwrap().to_owned();
    let signature = genuine.rsplit('.').next().unwrap().to_owned();
    let doc = jwks(&app).await;
    let jwk = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .clone();

    let mut forged: Vec<(String, String)> = Vec::new();
    // alg none, with and without a signature, with and without the real kid.
    for none in ["none", "None", "NONE"] {
        let h = json!({ "alg": none, "typ": "JWT", "kid": kid });
        forged.push((
            format!("alg {none}"),
            format!("{}.{}.", b64(&h), b64(&claims)),
        ));
        forged.push((
            format!("alg {none} with a signature"),
            format!("{}.{}.{signature}", b64(&h), b64(&claims)),
        ));
    }
    let h = json!({ "alg": "none", "typ": "JWT" });
    forged.push((
        "alg none without kid".into(),
        format!("{}.{}.", b64(&h), b64(&claims)),
    ));

    // HS256 keyed with the RSA public key, in every form an attacker might guess.
    use rsa::BigUint;
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let public =
        rsa::RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)).unwrap();
    let hmac_secrets: Vec<(&str, Vec<u8>)> = vec![
        (
            "SPKI PEM",
            public
                .to_public_key_pem(LineEnding::LF)
                .unwrap()
                .into_bytes(),
        ),
        (
            "PKCS#1 PEM",
            public.to_pkcs1_pem(LineEnding::LF).unwrap().into_bytes(),
        ),
        (
            "SPKI DER",
            public.to_public_key_der().unwrap().as_bytes().to_vec(),
        ),
        (
            "PKCS#1 DER",
            public.to_pkcs1_der().unwrap().as_bytes().to_vec(),
        ),
        ("modulus", n.clone()),
        ("JWK", jwk.to_string().into_bytes()),
    ];
    for (name, secret) in &hmac_secrets {
        for alg in [
            jsonwebtoken::Algorithm::HS256,
            jsonwebtoken::Algorithm::HS384,
            jsonwebtoken::Algorithm::HS512,
        ] {
            let mut header = jsonwebtoken::Header::new(alg);
            header.kid = Some(kid.clone());
            let token = jsonwebtoken::encode(
                &header,
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .unwrap();
            forged.push((format!("{alg:?} keyed with the {name}"), token));
        }
    }
    // Tampered claims under the genuine signature, and an unknown kid.
    let mut more = claims.clone();
    more["scope"] = json!("read:clients delete:everything");
    forged.push((
        "tampered claims".into(),
        format!("{}.{}.{signature}", b64(&header), b64(&more)),
    ));
    let mut other_kid = header.clone();
    other_kid["kid"] = json!("not-a-key");
    forged.push((
        "unknown kid".into(),
        format!("{}.{}.{signature}", b64(&other_kid), b64(&claims)),
    ));
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    forged.push((
        "no kid".into(),
        format!("{}.{}.{signature}", b64(&no_kid), b64(&claims)),
    ));

    for (name, token) in forged {
        let response = app.get("/api/v2/clients", Some(&token)).await;
        assert_eq!(
            response.status,
            401,
            "{name} must be refused: {}",
            response.text()
        );
        response.assert_api_error(401);
    }
});

//! A third-party OpenID Connect client (the `openidconnect` crate) drives Tessera over real HTTP:
//! discovery, the authorization URL with PKCE and a nonce, the login form in a cookie-keeping
//! HTTP client, the code exchange, ID token verification against the JWKS, UserInfo, and a
//! refresh-token rotation.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::json;

use crate::browser::{
    CALLBACK, EMAIL, NAME, PASSWORD, create_user, hidden_inputs, redirect_params,
};
use crate::helpers::{backends, spawn_served_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openidconnect_crate_logs_in_with_code_and_pkce() {
    for backend in backends() {
        eprintln!("--- the_openidconnect_crate_logs_in_with_code_and_pkce on {backend:?}");
        let (app, server) = spawn_served_app(backend).await;
        let issuer = app.issuer.clone();
        let user_id = create_user(&app, EMAIL, PASSWORD, NAME).await;
        let client = app
            .create_client(json!({
                "name": "openidconnect-rs",
                "app_type": "regular_web",
                "callbacks": [CALLBACK],
                "token_endpoint_auth_method": "client_secret_basic",
            }))
            .await;
        let client_id = client["client_id"].as_str().unwrap().to_owned();
        let secret = client["client_secret"].as_str().unwrap().to_owned();

        // What the library talks through; no redirects followed (they would be SSRF bait).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
                .await
                .expect("discovery");
        let oidc = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.clone()),
            Some(ClientSecret::new(secret)),
        )
        .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());

        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf_state, nonce) = oidc
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();
        assert!(url.as_str().starts_with(&format!("{issuer}authorize?")));

        // The user's browser: keeps cookies, follows nothing.
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = browser.get(url.as_str()).send().await.unwrap();
        assert!(response.status().is_redirection(), "{}", response.status());
        let login = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(login.starts_with("/u/login?"), "{login}");
        let page = browser
            .get(format!("{issuer}{}", &login[1..]))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let inputs = hidden_inputs(&page.text().await.unwrap());
        let response = browser
            .post(format!("{issuer}u/login"))
            .form(&[
                ("state", inputs["state"].as_str()),
                ("csrf", inputs["csrf"].as_str()),
                ("username", EMAIL),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert!(response.status().is_redirection(), "{}", response.status());
        let callback = response.headers()["location"].to_str().unwrap().to_owned();
        let (base, query) = redirect_params(&callback, '?');
        assert_eq!(base, CALLBACK);
        assert_eq!(&query["state"], csrf_state.secret());

        let tokens = oidc
            .exchange_code(AuthorizationCode::new(query["code"].clone()))
            .expect("token endpoint known from discovery")
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("code exchange");
        let id_token = tokens.id_token().expect("an ID token");
        let verifier = oidc.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &nonce)
            .expect("the ID token verifies (signature by JWKS, iss, aud, exp, nonce)");
        assert_eq!(claims.subject().as_str(), user_id);
        assert_eq!(claims.issuer().as_str(), issuer);
        assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
        assert_eq!(claims.email_verified(), Some(true));
        assert_eq!(
            claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
            Some(NAME)
        );
        // The access token is the one the ID token names.
        let expected = claims.access_token_hash().expect("at_hash");
        let actual = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(&actual, expected);
        // A wrong nonce is caught by the library.
        assert!(
            id_token
                .claims(&verifier, &Nonce::new("another".into()))
                .is_err()
        );

        // UserInfo through the library.
        let info: openidconnect::UserInfoClaims<
            openidconnect::EmptyAdditionalClaims,
            openidconnect::core::CoreGenderClaim,
        > = oidc
            .user_info(tokens.access_token().clone(), None)
            .expect("userinfo endpoint known from discovery")
            .request_async(&http)
            .await
            .expect("userinfo");
        assert_eq!(info.subject().as_str(), user_id);
        assert_eq!(info.email().map(|e| e.as_str()), Some(EMAIL));

        // The refresh token, through the library: rotation answers a new one and a fresh ID token
        // that verifies; replaying the old one is refused.
        let first = tokens
            .refresh_token()
            .expect("offline_access gives a refresh token")
            .clone();
        let refreshed = oidc
            .exchange_refresh_token(&first)
            .expect("token endpoint known from discovery")
            .request_async(&http)
            .await
            .expect("refresh exchange");
        let second = refreshed.refresh_token().expect("a rotated refresh token");
        assert_ne!(second.secret(), first.secret());
        assert_ne!(
            refreshed.access_token().secret(),
            tokens.access_token().secret()
        );
        let new_id = refreshed
            .id_token()
            .expect("a new ID token: the family has openid");
        let new_claims = new_id
            .claims(&verifier, |_: Option<&Nonce>| Ok(()))
            .expect("the refreshed ID token verifies against the JWKS");
        assert_eq!(new_claims.subject().as_str(), user_id);
        let replay = oidc
            .exchange_refresh_token(&first)
            .expect("token endpoint")
            .request_async(&http)
            .await;
        assert!(replay.is_err(), "the retired refresh token is refused");

        server.abort();
        app.cleanup().await;
    }
}

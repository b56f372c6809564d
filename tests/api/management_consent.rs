//! Deleting a grant withdraws consent end to end: a third-party client's next `/authorize` asks
//! again, and the refresh token its code exchange issued stops working.

use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::{Value, json};

use crate::each_backend;
use crate::helpers::{START, TestApp};
use crate::management_revocation::USERINFO;
use crate::refresh::{App2, assert_invalid, refresh, setup};

const CALLBACK: &str = "https://app.example.com/cb";
const COOKIE: &str = "test-session-cookie-0123456789";

/// `GET /authorize` for a code with the SSO session; answers the `Location`.
async fn authorize(app: &TestApp, client_id: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("scope", "openid offline_access"),
            ("state", "xyz"),
        ])
        .finish();
    let response = app
        .request(
            Request::get(format!("/authorize?{query}"))
                .header(header::COOKIE, format!("tessera_session={COOKIE}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(response.status.is_redirection(), "{}", response.text());
    response.header("location").unwrap().to_owned()
}

each_backend!(deleting_a_grant_asks_for_consent_again, |app| {
    let admin = app.management_token(None).await;
    let ada = setup(&app, Value::Null).await;
    let client = app
        .create_client(json!({
            "name": "third party",
            "app_type": "regular_web",
            "is_first_party": false,
            "callbacks": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .await;
    let third = App2 {
        id: client["client_id"].as_str().unwrap().to_owned(),
        secret: client["client_secret"].as_str().unwrap().to_owned(),
        user_id: ada.user_id.clone(),
    };
    app.store
        .insert_session(&tessera::domain::Session {
            id_hash: tessera::tokens::secrets::sha256(COOKIE.as_bytes()),
            user_id: ada.user_id.clone(),
            auth_time: START,
            created_at: START,
            last_seen_at: START,
            expires_at: START + 3600,
            ip: "127.0.0.1".into(),
            user_agent: String::new(),
        })
        .await
        .unwrap();
    assert!(authorize(&app, &third.id).await.starts_with("/u/consent"));

    // With consent on record, /authorize answers a code; its exchange starts a family.
    app.store
        .upsert_grant(&tessera::domain::Grant {
            id: "gr_consent".into(),
            user_id: ada.user_id.clone(),
            client_id: third.id.clone(),
            audience: USERINFO.into(),
            scope: vec!["openid".into(), "offline_access".into()],
            created_at: START,
            updated_at: START,
        })
        .await
        .unwrap();
    let location = authorize(&app, &third.id).await;
    assert!(location.starts_with(CALLBACK), "{location}");
    let url = url::Url::parse(&location).unwrap();
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &third.id),
                ("client_secret", &third.secret),
                ("code", &code),
                ("redirect_uri", CALLBACK),
            ],
            None,
        )
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    let rt = tokens.json()["refresh_token"].as_str().unwrap().to_owned();
    let first_party = crate::management_revocation::ada(&app, &ada).await;

    let response = app
        .send_json(
            Method::DELETE,
            "/api/v2/grants/gr_consent",
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert!(authorize(&app, &third.id).await.starts_with("/u/consent"));
    assert_invalid(&refresh(&app, &third, &rt).await);
    // The first-party client's tokens of the same user and audience had no grant: untouched.
    assert_eq!(refresh(&app, &ada, &first_party).await.status, 200);
});

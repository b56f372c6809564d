//! Consent: third-party clients ask once per grant (and again for new scopes); first-party clients
//! never ask; `deny` answers `access_denied`; `prompt=none` answers `consent_required`.

use serde_json::json;

use crate::browser::*;
use crate::each_backend;
use crate::helpers::verify_with_jwks;

/// A third-party regular web app; answers (client_id, secret).
async fn third_party(app: &crate::helpers::TestApp) -> (String, String) {
    web_client(
        app,
        json!({ "name": "Partner App", "is_first_party": false }),
    )
    .await
}

each_backend!(third_party_clients_ask_for_consent_once_per_grant, |app| {
    create_user(&app, EMAIL, PASSWORD, NAME).await;
    create_things_api(&app, false).await;
    let (client_id, secret) = third_party(&app).await;
    let mut browser = Browser::new(&app);
    let params: Params = vec![
        ("client_id", client_id.clone()),
        ("response_type", "code".into()),
        ("redirect_uri", CALLBACK.into()),
        ("state", "st".into()),
        ("audience", API.into()),
        ("scope", "openid profile read:things bogus".into()),
    ];
    let answer = browser.authorize_and_login(&refs(&params)).await;
    let consent = location(&answer);
    assert!(consent.starts_with("/u/consent?state="), "{consent}");
    assert!(browser.cookie("tessera_session").is_some(), "logged in");

    let page = browser.get(&consent).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("Partner App"), "{html}");
    assert!(html.contains("Things API"), "{html}");
    for scope in ["openid", "profile", "read:things"] {
        assert!(
            html.contains(&format!("<code>{scope}</code>")),
            "{scope}: {html}"
        );
    }
    assert!(!html.contains("bogus") && !html.contains("write:things"));
    let buttons = tags(&html, "button");
    let actions: Vec<&str> = buttons
        .iter()
        .filter(|b| b.get("name").is_some_and(|n| n == "action"))
        .map(|b| b["value"].as_str())
        .collect();
    assert_eq!(actions, ["accept", "deny"]);
    assert!(page.header("content-security-policy").is_some());

    // Deny: access_denied with the state.
    let response = browser.consent_at(&consent, "deny").await;
    let query = callback_query(&response);
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "st");
    assert!(!query.contains_key("code"));

    // A denial is not remembered: asked again, then accepted.
    let response = browser.authorize_with(&params).await;
    let consent = location(&response);
    assert!(consent.starts_with("/u/consent?state="), "{consent}");
    let response = browser.consent_at(&consent, "accept").await;
    let query = callback_query(&response);
    assert_eq!(query["state"], "st");
    let tokens = exchange(
        &app,
        &[
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("code", &query["code"]),
            ("redirect_uri", CALLBACK),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    assert_eq!(tokens.json()["scope"], "openid profile read:things");

    // The grant is remembered: the same scopes (or fewer) skip consent, also with prompt=none.
    let response = browser.authorize_with(&params).await;
    assert!(callback_query(&response).contains_key("code"));
    let mut fewer = params.clone();
    fewer[5].1 = "openid read:things".into();
    fewer.push(("prompt", "none".into()));
    let response = browser.authorize_with(&fewer).await;
    assert!(callback_query(&response).contains_key("code"));

    // A new scope asks again, for all of them.
    let mut more = params.clone();
    more[5].1 = "openid profile read:things write:things".into();
    let response = browser.authorize_with(&more).await;
    let consent = location(&response);
    assert!(consent.starts_with("/u/consent?state="), "{consent}");
    let html = browser.get(&consent).await.text();
    assert!(html.contains("<code>write:things</code>"), "{html}");
    browser.consent_at(&consent, "accept").await;
    let response = browser.authorize_with(&more).await;
    assert!(callback_query(&response).contains_key("code"));

    // prompt=consent asks even with a grant.
    let mut again = params.clone();
    again.push(("prompt", "consent".into()));
    let response = browser.authorize_with(&again).await;
    assert!(location(&response).starts_with("/u/consent?state="));
});

each_backend!(prompt_none_without_a_grant_is_consent_required, |app| {
    create_user(&app, EMAIL, PASSWORD, NAME).await;
    let (client_id, _) = third_party(&app).await;
    let (spa_id, _) = web_client(&app, json!({ "name": "first party" })).await;
    let mut browser = Browser::new(&app);
    // Log in through a first-party client to get a session.
    let (params, _) = code_params(&spa_id, &[]);
    let answer = browser.authorize_and_login(&refs(&params)).await;
    assert!(callback_query(&answer).contains_key("code"));

    let (params, _) = code_params(&client_id, &[("prompt", "none"), ("scope", "openid email")]);
    let response = browser.authorize_with(&params).await;
    let query = callback_query(&response);
    assert_eq!(query["error"], "consent_required");
    assert_eq!(query["state"], "st");
    // Without prompt=none, the session goes straight to the consent page (no login).
    let (params, _) = code_params(&client_id, &[("scope", "openid email")]);
    let response = browser.authorize_with(&params).await;
    assert!(location(&response).starts_with("/u/consent?state="));
});

each_backend!(first_party_clients_never_see_consent, |app| {
    let (user_id, client_id) = spa_setup(&app).await;
    create_things_api(&app, false).await;
    let mut browser = Browser::new(&app);
    for scope in ["openid", "openid profile email read:things write:things"] {
        let (params, _) = code_params(&client_id, &[("audience", API), ("scope", scope)]);
        let response = browser.authorize_with(&params).await;
        let response = match location(&response) {
            l if l.starts_with("/u/login") => browser.login_at(&l, EMAIL, PASSWORD).await.1,
            _ => response,
        };
        assert!(callback_query(&response).contains_key("code"), "{scope}");
    }
    let tokens = code_flow_tokens(&mut browser, &client_id, &[("scope", "openid")]).await;
    let id = verify_with_jwks(
        tokens["id_token"].as_str().unwrap(),
        &jwks(&app).await,
        &client_id,
    );
    assert_eq!(id["sub"], user_id.as_str());
});

each_backend!(the_consent_form_needs_csrf_and_a_session, |app| {
    create_user(&app, EMAIL, PASSWORD, NAME).await;
    let (client_id, _) = third_party(&app).await;
    let mut browser = Browser::new(&app);
    let (params, _) = code_params(&client_id, &[]);
    let answer = browser.authorize_and_login(&refs(&params)).await;
    let consent = location(&answer);
    let page = browser.get(&consent).await;
    let inputs = hidden_inputs(&page.text());

    let response = browser
        .post_form(
            "/u/consent",
            &[
                ("state", &inputs["state"]),
                ("csrf", "forged"),
                ("action", "accept"),
            ],
        )
        .await;
    assert_eq!(response.status, 403);
    assert!(response.header("location").is_none());
    let mut attacker = Browser::new(&app);
    let response = attacker
        .post_form(
            "/u/consent",
            &[
                ("state", &inputs["state"]),
                ("csrf", &inputs["csrf"]),
                ("action", "accept"),
            ],
        )
        .await;
    assert_eq!(response.status, 403);

    // Without the session (say it ended meanwhile), accepting leads to the login page.
    let session = browser.cookies.remove("tessera_session").unwrap();
    let response = browser.consent_at(&consent, "accept").await;
    assert!(location(&response).starts_with("/u/login?state="));
    browser.cookies.insert("tessera_session".into(), session);
    let response = browser.consent_at(&consent, "accept").await;
    assert!(callback_query(&response).contains_key("code"));
});

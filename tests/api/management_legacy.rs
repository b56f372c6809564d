//! The legacy `DELETE /api/users/{user_id}/refresh_tokens/{refresh_token}` (seed 004): revokes
//! that token's family, with the Management API's Bearer auth.

use crate::helpers::support;
use axum::http::Method;
use serde_json::Value;

use crate::each_backend;
use crate::helpers::{TestApp, TestResponse};
use crate::management_revocation::{ada, bob, enc, family_of, login_as};
use crate::refresh::{assert_invalid, refresh, rotate, setup};

async fn delete(app: &TestApp, path: &str, token: &str) -> TestResponse {
    app.send_json(Method::DELETE, path, None, Some(token)).await
}

async fn revoked_reason(app: &TestApp, token: &str) -> Option<String> {
    app.store
        .get_family(&family_of(token))
        .await
        .unwrap()
        .unwrap()
        .revoked_reason
}

each_backend!(legacy_delete_revokes_that_tokens_family, |app| {
    let admin = app.management_token(None).await;
    let c = setup(&app, Value::Null).await;
    let bob_id = bob(&app, &admin).await;
    let phone = ada(&app, &c).await;
    let laptop = ada(&app, &c).await;
    let bobs = login_as(&app, &c, "bob@example.com", None).await;
    let path = |user: &str, token: &str| format!("/api/users/{}/refresh_tokens/{token}", enc(user));

    let reader = app.management_token(Some("read:refresh_tokens")).await;
    delete(&app, &path(&c.user_id, &phone), &reader)
        .await
        .assert_api_error(403);
    let response = app
        .send_json(Method::DELETE, &path(&c.user_id, &phone), None, None)
        .await;
    response.assert_api_error(401);
    // Another user's token, an unknown or forged one: 404, nothing revoked.
    delete(&app, &path(&bob_id, &phone), &admin)
        .await
        .assert_api_error(404);
    delete(&app, &path(&c.user_id, "not-a-token"), &admin)
        .await
        .assert_api_error(404);
    let forged = format!("1.{}.0.AAAA", family_of(&phone));
    delete(&app, &path(&c.user_id, &forged), &admin)
        .await
        .assert_api_error(404);
    let phone = rotate(&app, &c, &phone).await;

    let response = delete(&app, &path(&c.user_id, &phone), &admin).await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert_invalid(&refresh(&app, &c, &phone).await);
    assert_eq!(
        revoked_reason(&app, &phone).await.as_deref(),
        Some("legacy_delete")
    );
    rotate(&app, &c, &laptop).await;
    rotate(&app, &c, &bobs).await;
    delete(&app, &path(&c.user_id, &phone), &admin)
        .await
        .assert_api_error(404);
    let events = support(&app.store)
        .list_audit_events(Some("srrt"), 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert!(events[0].details.contains("legacy_delete"));
    assert!(!events[0].details.contains(&phone));
    assert!(!events[0].description.contains(&phone));
});

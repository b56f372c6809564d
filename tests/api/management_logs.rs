//! `GET /api/v2/logs`: the audit events in Auth0's log shape, filtered, paged, newest first.

use std::collections::BTreeSet;

use axum::http::Method;
use serde_json::Value;

use crate::each_backend;
use crate::helpers::BOOTSTRAP_ID;
use crate::management_revocation::{ada, enc, family_of};
use crate::refresh::{assert_invalid, refresh, rotate, setup};

each_backend!(logs_show_reuse_and_revocation_events, |app| {
    let admin = app.management_token(None).await;
    let c = setup(&app, Value::Null).await;
    let user = enc(&c.user_id);
    let t0 = ada(&app, &c).await;
    let survivor = ada(&app, &c).await;
    app.clock.advance(1);
    let t1 = rotate(&app, &c, &t0).await;
    app.clock.advance(1);
    // Reuse of the retired token revokes its family.
    assert_invalid(&refresh(&app, &c, &t0).await);
    assert_invalid(&refresh(&app, &c, &t1).await);
    app.clock.advance(1);
    let response = app
        .send_json(
            Method::DELETE,
            &format!("/api/v2/device-credentials/dcr_{}", family_of(&survivor)),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(response.status, 204, "{}", response.text());

    let reuse = app
        .get(
            &format!("/api/v2/logs?type=fertft&user_id={user}"),
            Some(&admin),
        )
        .await;
    assert_eq!(reuse.status, 200, "{}", reuse.text());
    let reuse = reuse.json();
    assert_eq!(reuse.as_array().unwrap().len(), 1, "{reuse}");
    let event = &reuse[0];
    let keys: BTreeSet<&str> = event
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "log_id",
            "type",
            "date",
            "description",
            "client_id",
            "user_id",
            "ip",
            "user_agent",
            "details",
        ])
    );
    assert_eq!(event["type"], "fertft");
    assert_eq!(event["user_id"], c.user_id.as_str());
    assert_eq!(event["client_id"], c.id.as_str());
    assert_eq!(
        event["date"],
        tessera::clock::rfc3339(crate::helpers::START + 2)
    );
    assert_eq!(event["details"]["family_id"], family_of(&t0).as_str());
    assert!(event["details"].is_object());

    let revoked = app
        .get(
            &format!("/api/v2/logs?type=srrt&user_id={user}"),
            Some(&admin),
        )
        .await
        .json();
    assert_eq!(revoked.as_array().unwrap().len(), 1, "{revoked}");
    let details = &revoked[0]["details"];
    assert_eq!(details["reason"], "device_credential_deleted");
    assert_eq!(details["family_id"], family_of(&survivor).as_str());
    assert_eq!(details["actor"]["client_id"], BOOTSTRAP_ID);
    let text = revoked.to_string();
    assert!(!text.contains(&survivor), "no token in a log");

    // Everything of the user, newest first.
    let all = app
        .get(&format!("/api/v2/logs?user_id={user}"), Some(&admin))
        .await
        .json();
    let types: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"srrt"), "{types:?}");
    assert_eq!(types.get(1), Some(&"fertft"), "{types:?}");
    assert_eq!(
        types.iter().filter(|t| **t == "srti").count(),
        2,
        "{types:?}"
    );
    let dates: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["date"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
    let by_client = app
        .get(
            &format!("/api/v2/logs?client_id={}&type=srti", c.id),
            Some(&admin),
        )
        .await
        .json();
    assert_eq!(by_client.as_array().unwrap().len(), 2);
    let paged = app
        .get(
            &format!("/api/v2/logs?user_id={user}&per_page=1&page=1&include_totals=true"),
            Some(&admin),
        )
        .await
        .json();
    assert_eq!(paged["total"], all.as_array().unwrap().len());
    assert_eq!(paged["logs"].as_array().unwrap().len(), 1);
    assert_eq!(paged["logs"][0], all[1]);

    // One event; unknown ids; the scope.
    let id = event["log_id"].as_str().unwrap();
    let one = app.get(&format!("/api/v2/logs/{id}"), Some(&admin)).await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(&one.json(), event);
    app.get("/api/v2/logs/nope", Some(&admin))
        .await
        .assert_api_error(404);
    let nobody = app.management_token(Some("read:users")).await;
    app.get("/api/v2/logs", Some(&nobody))
        .await
        .assert_api_error(403);
    app.get(&format!("/api/v2/logs/{id}"), Some(&nobody))
        .await
        .assert_api_error(403);
});

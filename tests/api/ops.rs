//! Operations: health, metrics, security headers, request ids and body limits, in process; the
//! real binary (start-up, shutdown, admin CLI, logs, configuration errors) in `ops/binary.rs`.

mod binary;
mod cluster;
mod process;

use axum::body::Body;
use axum::http::{Request, header};
use serde_json::json;

use crate::each_backend;
use crate::helpers::{BOOTSTRAP_ID, TestResponse};

const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

#[track_caller]
fn assert_security_headers(what: &str, response: &TestResponse) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(response.header(name), Some(*value), "{what}: {name}");
    }
}

each_backend!(health_endpoints_answer, |app| {
    let live = app.get("/health/live", None).await;
    assert_eq!(live.status, 200, "{}", live.text());
    assert_eq!(live.json()["status"], "ok");

    // The harness migrated the database: ready.
    assert!(app.store.ready().await.unwrap(), "{:?}", app.backend);
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(ready.json()["status"], "ready");
});

/// The value of the first sample line of `text` that starts with `metric{` and contains every
/// label in `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

each_backend!(metrics_count_requests_and_issued_tokens, |app| {
    let (id, secret) = app.m2m_setup("RS256").await;
    app.client_credentials(&id, &secret, "https://api.example.com/", None)
        .await;
    let token = app.management_token(None).await;
    let one = app
        .get(&format!("/api/v2/clients/{id}"), Some(&token))
        .await;
    assert_eq!(one.status, 200, "{}", one.text());

    let response = app.get("/metrics", None).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .unwrap()
            .starts_with("text/plain"),
        "Prometheus text format"
    );
    let text = response.text();
    let requests = sample(
        &text,
        "tessera_http_requests_total",
        &[
            r#"route="/oauth/token""#,
            r#"method="POST""#,
            r#"status="200""#,
        ],
    );
    assert!(requests.is_some_and(|n| n >= 1.0), "{text}");
    let issued = sample(
        &text,
        "tessera_tokens_issued_total",
        &[r#"grant_type="client_credentials""#],
    );
    assert!(issued.is_some_and(|n| n >= 1.0), "{text}");
    let bucket = sample(
        &text,
        "tessera_http_request_duration_seconds_bucket",
        &[r#"route="/oauth/token""#, r#"le="+Inf""#],
    );
    assert!(bucket.is_some_and(|n| n >= 1.0), "{text}");
    // Routes are labelled by template, never by the raw path (which holds ids).
    assert!(
        sample(
            &text,
            "tessera_http_requests_total",
            &[r#"route="/api/v2/clients/{id}""#]
        )
        .is_some(),
        "{text}"
    );
    assert!(
        !text.contains(&id),
        "a client id leaked into a metric label"
    );
});

each_backend!(metric_labels_stay_bounded_whatever_the_method, |app| {
    // Every request with an invented method would otherwise be a label set of its own.
    for i in 0..20 {
        let request = Request::builder()
            .method(format!("INVENTED{i}").as_str())
            .uri("/oauth/token")
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.request(request).await.status, 405);
    }
    let text = app.get("/metrics", None).await.text();
    assert!(!text.contains("INVENTED"), "{text}");
    let other = sample(
        &text,
        "tessera_http_requests_total",
        &[
            r#"route="/oauth/token""#,
            r#"method="other""#,
            r#"status="405""#,
        ],
    );
    assert!(other.is_some_and(|n| n >= 20.0), "{text}");
});

each_backend!(responses_carry_security_headers, |app| {
    assert_security_headers("live", &app.get("/health/live", None).await);
    assert_security_headers("jwks", &app.get("/.well-known/jwks.json", None).await);
    assert_security_headers("metrics", &app.get("/metrics", None).await);
    assert_security_headers("not found", &app.get("/no/such/page", None).await);
    assert_security_headers("401", &app.get("/api/v2/clients", None).await);
    let error = app
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            None,
        )
        .await;
    error.assert_oauth_error(400, "invalid_request");
    assert_security_headers("token error", &error);
    let token = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", BOOTSTRAP_ID),
                ("client_secret", crate::helpers::BOOTSTRAP_SECRET),
                ("audience", crate::helpers::MANAGEMENT_AUDIENCE),
            ],
            None,
        )
        .await;
    assert_eq!(token.status, 200);
    assert_security_headers("token", &token);
});

each_backend!(request_ids_are_echoed_or_generated, |app| {
    let request = Request::get("/health/live")
        .header("x-request-id", "req-0123456789")
        .body(Body::empty())
        .unwrap();
    let response = app.request(request).await;
    assert_eq!(response.header("x-request-id"), Some("req-0123456789"));

    let first = app.get("/health/live", None).await;
    let second = app.get("/health/live", None).await;
    let a = first
        .header("x-request-id")
        .expect("a generated request id");
    let b = second
        .header("x-request-id")
        .expect("a generated request id");
    assert!(!a.is_empty());
    assert_ne!(a, b, "every request gets its own id");
});

each_backend!(oversize_bodies_are_413_never_500, |app| {
    let big = format!(
        "grant_type=client_credentials&junk={}",
        "a".repeat(70 * 1024)
    );
    // With a Content-Length header, and streamed without one.
    for with_length in [true, false] {
        let mut builder = Request::post("/oauth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if with_length {
            builder = builder.header(header::CONTENT_LENGTH, big.len());
        }
        let response = app
            .request(builder.body(Body::from(big.clone())).unwrap())
            .await;
        assert_eq!(
            response.status,
            413,
            "content-length {with_length}: {}",
            response.text()
        );
        assert_security_headers("413", &response);
        // JSON like every other OAuth error, not the limit layer's plain text.
        assert_eq!(response.json()["error"], "invalid_request");
    }
    let json_body = json!({ "grant_type": "client_credentials", "junk": "b".repeat(70 * 1024) });
    let response = app
        .request(
            Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json_body.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, 413, "{}", response.text());
    assert_eq!(response.json()["error"], "invalid_request");

    // Just under the limit is an ordinary request: a clear OAuth error, not a 413 or a 500.
    let small = format!(
        "grant_type=client_credentials&junk={}",
        "a".repeat(60 * 1024)
    );
    app.post_form_raw(&small)
        .await
        .assert_oauth_error(400, "invalid_request");
});

impl crate::helpers::TestApp {
    async fn post_form_raw(&self, body: &str) -> TestResponse {
        self.request(
            Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body.to_owned()))
                .unwrap(),
        )
        .await
    }
}

each_backend!(
    browser_apps_may_call_the_token_endpoints_cross_origin,
    |app| {
        let preflight = app
            .request(
                Request::builder()
                    .method("OPTIONS")
                    .uri("/oauth/token")
                    .header("origin", "https://spa.example.com")
                    .header("access-control-request-method", "POST")
                    .header("access-control-request-headers", "content-type")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(preflight.status.is_success(), "{}", preflight.status);
        assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
        let jwks = app
            .request(
                Request::get("/.well-known/jwks.json")
                    .header("origin", "https://spa.example.com")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(jwks.header("access-control-allow-origin"), Some("*"));
        // The pages that carry cookies are not opened to other origins.
        let login = app
            .request(
                Request::get("/authorize")
                    .header("origin", "https://spa.example.com")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(login.header("access-control-allow-origin"), None);
    }
);

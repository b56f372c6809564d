//! HTTP: axum routers, extractors and responses. Handlers parse, call the engine or the admin
//! service, and render; they hold no business rules.

mod authorize;
mod delegation;
mod discovery;
pub mod error;
mod extract;
mod health;
mod logout;
pub mod management;
pub mod metrics;
pub mod pages;
mod revoke;
mod token;
mod userinfo;

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::grants::Engine;
use crate::manage::Admin;

/// Request bodies larger than this are refused (413): no OAuth request comes close.
const BODY_LIMIT: usize = 64 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub admin: Admin,
    pub metrics: Option<PrometheusHandle>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: std::sync::Arc<Vec<ipnet::IpNet>>,
}

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    // Browser apps (SPAs) call these cross-origin. They take no cookies, so any origin may call
    // them: a page still needs a client's credentials, a PKCE verifier or a token to get anything.
    let cross_origin = Router::new()
        .merge(token::router())
        .merge(revoke::router())
        .merge(delegation::router())
        .merge(userinfo::router())
        .merge(discovery::router())
        .layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
                .max_age(Duration::from_secs(600)),
        );
    Router::new()
        .merge(cross_origin)
        .merge(authorize::router())
        .merge(logout::router())
        .merge(health::router())
        .merge(metrics::router())
        .nest("/api/v2", management::router())
        .merge(management::legacy_router())
        .route_layer(middleware::from_fn(metrics::track))
        .fallback(|| async { error::ApiError::not_found() })
        .with_state(state)
        .layer(middleware::from_fn(refuse_nul))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    // Spans name the route template, never the raw URI: paths and queries can
                    // carry tokens and codes.
                    TraceLayer::new_for_http().make_span_with(|req: &Request| {
                        let route = req
                            .extensions()
                            .get::<axum::extract::MatchedPath>()
                            .map_or("-", |p| p.as_str())
                            .to_owned();
                        let id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-")
                            .to_owned();
                        tracing::info_span!("request", method = %req.method(), route, request_id = id)
                    }),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                // Outside the body limit and the timeout, so their 413 and 408 carry them too.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(middleware::map_response(json_too_large))
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
                )),
        )
}

/// The request boundary for the NUL character in a path or a query string (bodies: the form and
/// JSON readers, `Params` and the Management API's `ApiJson`): one message, in the shape of the
/// area asked, the same on both backends. `/authorize` reads its query itself: there a NUL
/// after the redirect URI is validated goes back to the client (RFC 6749 §4.1.2.1).
async fn refuse_nul(req: Request, next: middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = req.uri().path();
    let in_query = path != "/authorize" && req.uri().query().is_some_and(has_encoded_nul);
    if !(has_encoded_nul(path) || in_query) {
        return next.run(req).await;
    }
    let message = crate::domain::NUL_REFUSED;
    if path.starts_with("/api/") {
        error::ApiError::bad_request(message).into_response()
    } else if path.starts_with("/u/") || path == "/authorize" || path.ends_with("/logout") {
        pages::message(
            StatusCode::BAD_REQUEST,
            "Something went wrong",
            Some("invalid_request"),
            message,
        )
    } else {
        error::TokenError::new(crate::grants::OAuthError::invalid_request(message), false)
            .into_response()
    }
}

/// A URI cannot hold a NUL byte itself, only its encoding.
fn has_encoded_nul(s: &str) -> bool {
    s.as_bytes().windows(3).any(|w| w == b"%00")
}

/// The body-limit layer answers 413 in plain text; clients of a JSON API get JSON
/// (RFC 6749 §5.2's shape, which Auth0's SDKs read on every endpoint).
async fn json_too_large<B>(response: axum::http::Response<B>) -> axum::response::Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    use axum::response::IntoResponse;
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && plain {
        let body = serde_json::json!({
            "error": "invalid_request",
            "error_description": format!("The request body is larger than {BODY_LIMIT} bytes."),
        });
        return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response();
    }
    response.map(axum::body::Body::new)
}

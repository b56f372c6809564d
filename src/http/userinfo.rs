//! `GET/POST /userinfo` (OIDC Core §5.3) with RFC 6750 Bearer errors.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use super::error::TokenError;
use crate::grants::userinfo::UserinfoError;

pub fn router() -> Router<AppState> {
    Router::new().route("/userinfo", get(userinfo_get).post(userinfo_get))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn challenge(status: StatusCode, error: &str, description: &str) -> Response {
    let value =
        format!("Bearer realm=\"tessera\", error=\"{error}\", error_description=\"{description}\"");
    let mut response = (
        status,
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        let mut response = (StatusCode::UNAUTHORIZED, Json(serde_json::json!({"error": "invalid_request", "error_description": "Missing Bearer access token."}))).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tessera\""),
        );
        return response;
    };
    match state.engine.userinfo(token).await {
        Ok(claims) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(claims),
        )
            .into_response(),
        Err(UserinfoError::InvalidToken(d)) => {
            challenge(StatusCode::UNAUTHORIZED, "invalid_token", d)
        }
        Err(UserinfoError::InsufficientScope) => challenge(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "The access token lacks the openid scope.",
        ),
        Err(UserinfoError::Failed(error)) => TokenError::new(error, false).into_response(),
    }
}

//! Discovery (OIDC Discovery 1.0, RFC 8414) and the JWKS (RFC 7517). Only what is implemented is
//! advertised.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::domain::{GrantType, SigningAlg};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(configuration_get))
        .route(
            "/.well-known/oauth-authorization-server",
            get(configuration_get),
        )
        .route("/.well-known/jwks.json", get(jwks_get))
}

async fn configuration_get(State(state): State<AppState>) -> Json<serde_json::Value> {
    let issuer = state.engine.minter.issuer();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}authorize"),
        "token_endpoint": format!("{issuer}oauth/token"),
        "userinfo_endpoint": format!("{issuer}userinfo"),
        "revocation_endpoint": format!("{issuer}oauth/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "jwks_uri": format!("{issuer}.well-known/jwks.json"),
        "end_session_endpoint": format!("{issuer}oidc/logout"),
        "scopes_supported": ["openid", "profile", "email"],
        "response_types_supported": ["code", "token", "id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": GrantType::ALL.map(GrantType::as_str),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [SigningAlg::RS256.as_str()],
        "claims_supported": [
            "aud", "auth_time", "email", "email_verified", "exp", "iat", "iss", "name",
            "nickname", "nonce", "sub", "updated_at",
        ],
        "request_parameter_supported": false,
    }))
}

async fn jwks_get(State(state): State<AppState>) -> Response {
    let algs = match state.engine.store.api_signing_algs().await {
        Ok(algs) => algs,
        Err(e) => return ApiError::from(crate::manage::AdminError::from(e)).into_response(),
    };
    let algs: Vec<SigningAlg> = algs.iter().filter_map(|a| SigningAlg::parse(a)).collect();
    let now = state.engine.clock.now();
    let body = state.engine.minter.keys().jwks(now, &algs);
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        Json(body),
    )
        .into_response()
}

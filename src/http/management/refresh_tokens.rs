//! `/api/v2/refresh-tokens/{id}` and `/api/v2/users/{id}/refresh-tokens` (Auth0's newer shape,
//! paged by `from`/`take`), and the legacy `DELETE /api/users/{user_id}/refresh_tokens/{token}`
//! (seed 004). The legacy path carries a live token: the request span names only the route
//! template, and the token is decoded here and goes no further.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};

use super::{ApiPath, ListParams, Management, deleted, one, parse_u32, scope};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::tokens::refresh;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/refresh-tokens/{id}",
            get(refresh_token_get).delete(refresh_token_delete),
        )
        .route(
            "/users/{user_id}/refresh-tokens",
            get(user_refresh_tokens_get).delete(user_refresh_tokens_delete),
        )
}

/// Mounted at the root, beside `/api/v2`.
pub fn legacy_router() -> Router<AppState> {
    Router::new().route(
        "/api/users/{user_id}/refresh_tokens/{refresh_token}",
        delete(legacy_refresh_token_delete),
    )
}

/// Auth0 answers deletions of refresh tokens with 202.
fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

async fn refresh_token_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadRefreshTokens>,
    ApiPath(id): ApiPath<String>,
    params: ListParams,
) -> Result<Response, ApiError> {
    Ok(one(&state.admin.get_refresh_token(&id).await?, &params))
}

async fn refresh_token_delete(
    State(state): State<AppState>,
    auth: Management<scope::DeleteRefreshTokens>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state.admin.delete_refresh_token(&id, auth.actor()).await?;
    Ok(accepted())
}

async fn user_refresh_tokens_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadRefreshTokens>,
    ApiPath(user_id): ApiPath<String>,
    params: ListParams,
) -> Result<Response, ApiError> {
    let take = params
        .filter("take")
        .map(|t| parse_u32("take", &t))
        .transpose()?;
    let from = params.filter("from");
    let page = state
        .admin
        .list_user_refresh_tokens(&user_id, from.as_deref(), take)
        .await?;
    Ok(Json(page).into_response())
}

async fn user_refresh_tokens_delete(
    State(state): State<AppState>,
    auth: Management<scope::DeleteRefreshTokens>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state
        .admin
        .delete_user_refresh_tokens(&user_id, auth.actor())
        .await?;
    Ok(accepted())
}

async fn legacy_refresh_token_delete(
    State(state): State<AppState>,
    auth: Management<scope::DeleteRefreshTokens>,
    ApiPath((user_id, token)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let family = refresh::decode(state.engine.minter.keys().secrets(), &token).map(|c| c.family);
    state
        .admin
        .legacy_delete_refresh_token(&user_id, family.as_deref(), auth.actor())
        .await?;
    Ok(deleted())
}

//! `/api/v2/users`: users of the database connection.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::{ApiJson, ApiPath, ListParams, Management, created, deleted, list, one, scope};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::manage::users::UserInput;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(users_get).post(users_post))
        .route(
            "/users/{id}",
            get(user_get).patch(user_patch).delete(user_delete),
        )
}

async fn users_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadUsers>,
    params: ListParams,
) -> Result<Response, ApiError> {
    if params.filter("q").is_some() {
        return Err(ApiError::invalid_query(
            "Query validation error: search (q) is not supported; list users with page and per_page",
        ));
    }
    let listed = state.admin.list_users(params.query).await?;
    Ok(list(listed, "users", &params))
}

async fn users_post(
    State(state): State<AppState>,
    _auth: Management<scope::CreateUsers>,
    ApiJson(input): ApiJson<UserInput>,
) -> Result<Response, ApiError> {
    Ok(created(&state.admin.create_user(input).await?))
}

async fn user_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadUsers>,
    ApiPath(id): ApiPath<String>,
    params: ListParams,
) -> Result<Response, ApiError> {
    Ok(one(&state.admin.get_user(&id).await?, &params))
}

async fn user_patch(
    State(state): State<AppState>,
    _auth: Management<scope::UpdateUsers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<UserInput>,
) -> Result<Response, ApiError> {
    Ok(one(
        &state.admin.update_user(&id, patch).await?,
        &ListParams::default(),
    ))
}

async fn user_delete(
    State(state): State<AppState>,
    _auth: Management<scope::DeleteUsers>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state.admin.delete_user(&id).await?;
    Ok(deleted())
}

//! `/api/v2/grants`: users' consent grants. Deleting one withdraws the consent and revokes the
//! refresh tokens of that user + client + audience.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{delete, get};

use super::{ApiPath, ListParams, Management, deleted, list, scope};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::GrantFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/grants", get(grants_get).delete(grants_delete))
        .route("/grants/{id}", delete(grant_delete))
}

async fn grants_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadGrants>,
    params: ListParams,
) -> Result<Response, ApiError> {
    let filter = GrantFilter {
        user_id: params.filter("user_id"),
        client_id: params.filter("client_id"),
        audience: params.filter("audience"),
    };
    let listed = state.admin.list_grants(filter, params.query).await?;
    Ok(list(listed, "grants", &params))
}

/// `DELETE /grants?user_id=…`: every grant of the user.
async fn grants_delete(
    State(state): State<AppState>,
    auth: Management<scope::DeleteGrants>,
    params: ListParams,
) -> Result<Response, ApiError> {
    let user_id = params
        .filter("user_id")
        .ok_or_else(|| ApiError::invalid_query("Query validation error: user_id is required"))?;
    state
        .admin
        .delete_user_grants(&user_id, auth.actor())
        .await?;
    Ok(deleted())
}

async fn grant_delete(
    State(state): State<AppState>,
    auth: Management<scope::DeleteGrants>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state.admin.delete_grant(&id, auth.actor()).await?;
    Ok(deleted())
}

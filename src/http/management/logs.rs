//! `/api/v2/logs`: the audit events in Auth0's log shape, newest first.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::{ApiPath, ListParams, Management, list, one, scope};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::AuditFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/logs", get(logs_get))
        .route("/logs/{id}", get(log_get))
}

async fn logs_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadLogs>,
    params: ListParams,
) -> Result<Response, ApiError> {
    let filter = AuditFilter {
        kind: params.filter("type"),
        user_id: params.filter("user_id"),
        client_id: params.filter("client_id"),
    };
    let listed = state.admin.list_logs(filter, params.query).await?;
    Ok(list(listed, "logs", &params))
}

async fn log_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadLogs>,
    ApiPath(id): ApiPath<String>,
    params: ListParams,
) -> Result<Response, ApiError> {
    Ok(one(&state.admin.get_log(&id).await?, &params))
}

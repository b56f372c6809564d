//! `/api/v2/device-credentials`: a user's refresh-token families, Auth0's older view.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{delete, get};

use super::{ApiPath, ListParams, Management, deleted, list, scope};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::manage::devices::DeviceCredentialQuery;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/device-credentials", get(device_credentials_get))
        .route("/device-credentials/{id}", delete(device_credential_delete))
}

async fn device_credentials_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadDeviceCredentials>,
    params: ListParams,
) -> Result<Response, ApiError> {
    let q = DeviceCredentialQuery {
        user_id: params.filter("user_id"),
        client_id: params.filter("client_id"),
        kind: params.filter("type"),
    };
    let listed = state.admin.list_device_credentials(q, params.query).await?;
    Ok(list(listed, "device_credentials", &params))
}

async fn device_credential_delete(
    State(state): State<AppState>,
    auth: Management<scope::DeleteDeviceCredentials>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state
        .admin
        .delete_device_credential(&id, auth.actor())
        .await?;
    Ok(deleted())
}

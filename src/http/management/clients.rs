//! `/api/v2/clients`: create (the secret is answered once), list, get, patch, delete, and
//! `rotate-secret`.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};

use super::{ApiJson, ApiPath, ListParams, Management, created, deleted, list, one, scope};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::manage::clients::ClientInput;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clients", get(clients_get).post(clients_post))
        .route(
            "/clients/{id}",
            get(client_get).patch(client_patch).delete(client_delete),
        )
        .route(
            "/clients/{id}/rotate-secret",
            post(client_rotate_secret_post),
        )
}

async fn clients_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadClients>,
    params: ListParams,
) -> Result<Response, ApiError> {
    let listed = state.admin.list_clients(params.query).await?;
    Ok(list(listed, "clients", &params))
}

async fn clients_post(
    State(state): State<AppState>,
    _auth: Management<scope::CreateClients>,
    ApiJson(input): ApiJson<ClientInput>,
) -> Result<Response, ApiError> {
    Ok(created(&state.admin.create_client(input).await?))
}

async fn client_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadClients>,
    ApiPath(id): ApiPath<String>,
    params: ListParams,
) -> Result<Response, ApiError> {
    Ok(one(&state.admin.get_client(&id).await?, &params))
}

async fn client_patch(
    State(state): State<AppState>,
    _auth: Management<scope::UpdateClients>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<ClientInput>,
) -> Result<Response, ApiError> {
    Ok(one(
        &state.admin.update_client(&id, patch).await?,
        &ListParams::default(),
    ))
}

async fn client_delete(
    State(state): State<AppState>,
    _auth: Management<scope::DeleteClients>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state.admin.delete_client(&id).await?;
    Ok(deleted())
}

async fn client_rotate_secret_post(
    State(state): State<AppState>,
    _auth: Management<scope::UpdateClientKeys>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(one(
        &state.admin.rotate_client_secret(&id).await?,
        &ListParams::default(),
    ))
}

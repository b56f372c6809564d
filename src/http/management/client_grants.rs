//! `/api/v2/client-grants`: which client may get `client_credentials` tokens for which API.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::{ApiJson, ApiPath, ListParams, Management, created, deleted, list, one, scope};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::manage::client_grants::ClientGrantInput;
use crate::store::ClientGrantFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/client-grants",
            get(client_grants_get).post(client_grants_post),
        )
        .route(
            "/client-grants/{id}",
            get(client_grant_get)
                .patch(client_grant_patch)
                .delete(client_grant_delete),
        )
}

async fn client_grants_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadClientGrants>,
    params: ListParams,
) -> Result<Response, ApiError> {
    let filter = ClientGrantFilter {
        client_id: params.filter("client_id"),
        audience: params.filter("audience"),
    };
    let listed = state.admin.list_client_grants(filter, params.query).await?;
    Ok(list(listed, "client_grants", &params))
}

async fn client_grants_post(
    State(state): State<AppState>,
    _auth: Management<scope::CreateClientGrants>,
    ApiJson(input): ApiJson<ClientGrantInput>,
) -> Result<Response, ApiError> {
    Ok(created(&state.admin.create_client_grant(input).await?))
}

async fn client_grant_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadClientGrants>,
    ApiPath(id): ApiPath<String>,
    params: ListParams,
) -> Result<Response, ApiError> {
    Ok(one(&state.admin.get_client_grant(&id).await?, &params))
}

async fn client_grant_patch(
    State(state): State<AppState>,
    _auth: Management<scope::UpdateClientGrants>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<ClientGrantInput>,
) -> Result<Response, ApiError> {
    let view = state.admin.update_client_grant(&id, patch).await?;
    Ok(one(&view, &ListParams::default()))
}

async fn client_grant_delete(
    State(state): State<AppState>,
    _auth: Management<scope::DeleteClientGrants>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state.admin.delete_client_grant(&id).await?;
    Ok(deleted())
}

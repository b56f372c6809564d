//! `/api/v2/resource-servers`: the APIs access tokens are minted for.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::{ApiJson, ApiPath, ListParams, Management, created, deleted, list, one, scope};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::manage::resource_servers::ResourceServerInput;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/resource-servers",
            get(resource_servers_get).post(resource_servers_post),
        )
        .route(
            "/resource-servers/{id}",
            get(resource_server_get)
                .patch(resource_server_patch)
                .delete(resource_server_delete),
        )
}

async fn resource_servers_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadResourceServers>,
    params: ListParams,
) -> Result<Response, ApiError> {
    let listed = state.admin.list_resource_servers(params.query).await?;
    Ok(list(listed, "resource_servers", &params))
}

async fn resource_servers_post(
    State(state): State<AppState>,
    _auth: Management<scope::CreateResourceServers>,
    ApiJson(input): ApiJson<ResourceServerInput>,
) -> Result<Response, ApiError> {
    Ok(created(&state.admin.create_resource_server(input).await?))
}

async fn resource_server_get(
    State(state): State<AppState>,
    _auth: Management<scope::ReadResourceServers>,
    ApiPath(id): ApiPath<String>,
    params: ListParams,
) -> Result<Response, ApiError> {
    Ok(one(&state.admin.get_resource_server(&id).await?, &params))
}

async fn resource_server_patch(
    State(state): State<AppState>,
    _auth: Management<scope::UpdateResourceServers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<ResourceServerInput>,
) -> Result<Response, ApiError> {
    let view = state.admin.update_resource_server(&id, patch).await?;
    Ok(one(&view, &ListParams::default()))
}

async fn resource_server_delete(
    State(state): State<AppState>,
    _auth: Management<scope::DeleteResourceServers>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state.admin.delete_resource_server(&id).await?;
    Ok(deleted())
}

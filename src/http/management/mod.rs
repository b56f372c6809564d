//! The Management API (`/api/v2`, Auth0-compatible subset): Bearer tokens this server issued for
//! `{issuer}api/v2/`, checked per endpoint scope; Auth0's bodies, paging and errors.

mod auth;
mod client_grants;
mod clients;
mod device_credentials;
mod grants;
mod logs;
mod refresh_tokens;
mod resource_servers;
mod users;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use auth::{Management, RequiredScope, scope};

use super::AppState;
use super::error::ApiError;
use crate::manage::{ListQuery, Listed};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(clients::router())
        .merge(resource_servers::router())
        .merge(client_grants::router())
        .merge(users::router())
        .merge(grants::router())
        .merge(device_credentials::router())
        .merge(refresh_tokens::router())
        .merge(logs::router())
        // After the routes: it applies to the routes present when it is called.
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", None)
        })
        .fallback(|| async { ApiError::not_found() })
}

/// The legacy Management API routes outside `/api/v2` (seed 004), same Bearer auth.
pub fn legacy_router() -> Router<AppState> {
    refresh_tokens::legacy_router()
}

/// A JSON body; malformed JSON or wrong field types are Auth0's 400 `invalid_body`, a body over
/// the size limit 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(e.status(), e.body_text(), None)
            } else {
                ApiError::bad_request(e.body_text())
            }
        })?;
        let invalid =
            |e: serde_json::Error| ApiError::bad_request(format!("Payload validation error: {e}"));
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(invalid)?;
        if has_nul(&value) {
            return Err(ApiError::bad_request(crate::domain::NUL_REFUSED));
        }
        serde_json::from_value(value).map(ApiJson).map_err(invalid)
    }
}

/// Whether a NUL character is in any string or key: no field takes one, and PostgreSQL cannot
/// store one (SQLite would), so both backends refuse it here.
fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// A path parameter; one that cannot be decoded (e.g. not UTF-8) is Auth0's 400 `invalid_uri`
/// rather than axum's plain-text rejection.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text(), Some("invalid_uri")))
    }
}

/// Auth0's list and field-selection parameters, plus any filters an endpoint reads.
#[derive(Debug, Default)]
pub struct ListParams {
    pub query: ListQuery,
    fields: Option<Vec<String>>,
    include_fields: bool,
    pub rest: Vec<(String, String)>,
}

impl ListParams {
    pub fn filter(&self, name: &str) -> Option<String> {
        self.rest
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::invalid_query(format!(
            "Query validation error: {name} must be true or false"
        ))),
    }
}

fn parse_u32(name: &str, value: &str) -> Result<u32, ApiError> {
    value.parse().map_err(|_| {
        ApiError::invalid_query(format!(
            "Query validation error: {name} must be a non-negative integer"
        ))
    })
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid_query(e.body_text()))?;
        let mut out = ListParams {
            include_fields: true,
            ..Default::default()
        };
        for (name, value) in pairs {
            match name.as_str() {
                "page" if !value.is_empty() => out.query.page = Some(parse_u32(&name, &value)?),
                "per_page" if !value.is_empty() => {
                    out.query.per_page = Some(parse_u32(&name, &value)?)
                }
                "include_totals" if !value.is_empty() => {
                    out.query.include_totals = parse_bool(&name, &value)?
                }
                "include_fields" if !value.is_empty() => {
                    out.include_fields = parse_bool(&name, &value)?
                }
                "fields" if !value.is_empty() => {
                    out.fields = Some(
                        value
                            .split(',')
                            .map(|f| f.trim().to_owned())
                            .filter(|f| !f.is_empty())
                            .collect(),
                    )
                }
                _ => out.rest.push((name, value)),
            }
        }
        Ok(out)
    }
}

/// Keeps (or, with `include_fields=false`, drops) the named fields of an object.
fn select_fields(mut value: Value, params: &ListParams) -> Value {
    if let (Some(fields), Value::Object(map)) = (&params.fields, &mut value) {
        map.retain(|k, _| fields.contains(k) == params.include_fields);
    }
    value
}

/// One object, with field selection applied.
pub fn one<T: Serialize>(item: &T, params: &ListParams) -> Response {
    let value = serde_json::to_value(item).unwrap_or(Value::Null);
    axum::Json(select_fields(value, params)).into_response()
}

/// A list: a bare array, or with `include_totals` Auth0's `{start, limit, length, total, <key>}`.
pub fn list<T: Serialize>(listed: Listed<T>, key: &str, params: &ListParams) -> Response {
    let items: Vec<Value> = listed
        .items
        .iter()
        .map(|i| select_fields(serde_json::to_value(i).unwrap_or(Value::Null), params))
        .collect();
    match listed.total {
        Some(total) => axum::Json(json!({
            "start": listed.start,
            "limit": listed.limit,
            "length": items.len(),
            "total": total,
            key: items,
        }))
        .into_response(),
        None => axum::Json(items).into_response(),
    }
}

pub fn created<T: Serialize>(item: &T) -> Response {
    (StatusCode::CREATED, axum::Json(item)).into_response()
}

pub fn deleted() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

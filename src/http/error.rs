//! Error responses: RFC 6749 §5.2 JSON for the OAuth endpoints, Auth0's
//! `{statusCode, error, message, errorCode}` for the Management API. Internal detail is logged,
//! never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::grants::{ErrorCode, OAuthError};
use crate::manage::{AdminError, Missing};
use crate::store::StoreError;

/// A token-endpoint error; `basic_auth` says whether the client tried HTTP Basic, which makes an
/// `invalid_client` carry `WWW-Authenticate` (RFC 6749 §5.2).
pub struct TokenError {
    pub error: OAuthError,
    pub basic_auth: bool,
}

impl TokenError {
    pub fn new(error: OAuthError, basic_auth: bool) -> Self {
        Self { error, basic_auth }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let body = Json(json!({
            "error": self.error.code,
            "error_description": self.error.description,
        }));
        let mut response = (status, no_store(), body).into_response();
        if let Some(seconds) = self.error.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.error.code == ErrorCode::InvalidClient && self.basic_auth {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, for every response that carries a token.
pub fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// A Management API error in Auth0's shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub error_code: Option<&'static str>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        message: impl Into<String>,
        error_code: Option<&'static str>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            error_code,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, Some("invalid_body"))
    }
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            Some("invalid_query_string"),
        )
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message, None)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found", None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "statusCode": self.status.as_u16(),
            "error": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
        });
        if let Some(code) = self.error_code {
            body["errorCode"] = json!(code);
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tessera\""),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::grants::UNAVAILABLE_RETRY_AFTER),
            );
        }
        response
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(message) => Self::bad_request(message),
            AdminError::InvalidQuery(message) => Self::invalid_query(message),
            AdminError::NotFound { kind, message } => Self::new(
                StatusCode::NOT_FOUND,
                message,
                Some(match kind {
                    Missing::Client => "inexistent_client",
                    Missing::ResourceServer => "inexistent_resource_server",
                    Missing::User => "inexistent_user",
                    Missing::Grant | Missing::ClientGrant => "inexistent_grant",
                    Missing::DeviceCredential | Missing::RefreshToken | Missing::Log => {
                        "inexistent_resource"
                    }
                }),
            ),
            AdminError::Conflict {
                error_code,
                message,
            } => Self::new(StatusCode::CONFLICT, message, Some(error_code)),
            AdminError::NotSupported(message) => Self::new(
                StatusCode::BAD_REQUEST,
                message,
                Some("operation_not_supported"),
            ),
            AdminError::Store(StoreError::InvalidText(_)) => {
                Self::bad_request(crate::domain::NUL_REFUSED)
            }
            AdminError::Store(StoreError::Unavailable(e)) => {
                tracing::error!(error = %e, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    crate::grants::error::UNAVAILABLE,
                    None,
                )
            }
            other => {
                tracing::error!(error = %other, "management API failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The server could not complete the request.",
                    None,
                )
            }
        }
    }
}

//! Token-endpoint errors (RFC 6749 §5.2). The wire codes come from serde, never from a hand-written
//! string table; authorize-endpoint errors (redirected) are a separate type.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// RFC 6749 §5.2: a required parameter is missing, repeated, malformed or unsupported.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (401).
    InvalidClient,
    /// RFC 6749 §5.2: the grant (code, refresh token, password) is invalid, expired or revoked.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is unknown to this server.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the requested scope is invalid or exceeds what was granted.
    InvalidScope,
    /// RFC 6749 §4.1.2.1, used at the token endpoint for unexpected failures (500).
    ServerError,
    /// RFC 6749 §4.1.2.1: the server is temporarily unable to answer (503).
    TemporarilyUnavailable,
    /// Auth0's rate-limit answer (429, with `Retry-After`).
    TooManyRequests,
}

impl ErrorCode {
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidClient => 401,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            Self::TooManyRequests => 429,
            _ => 400,
        }
    }
}

/// An OAuth error answered as JSON `{error, error_description}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {description}")]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    /// Seconds for `Retry-After` (rate limits and throttling).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
        }
    }
    /// Too many failed attempts: 429 with `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self::too_many_requests_with(
            retry_after,
            "Too many failed attempts: wait before trying again.",
        )
    }
    /// A rate limit: 429 with `Retry-After`.
    pub fn too_many_requests_with(
        retry_after: u64,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(ErrorCode::TooManyRequests, description)
        }
    }
    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    /// An unexpected failure: the detail is logged here and never sent to the client.
    pub fn server_error(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "request failed on the server");
        Self::new(
            ErrorCode::ServerError,
            "The server could not complete the request.",
        )
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => {
                tracing::error!(error = %e, "database unavailable");
                Self {
                    retry_after: Some(UNAVAILABLE_RETRY_AFTER),
                    ..Self::new(ErrorCode::TemporarilyUnavailable, UNAVAILABLE)
                }
            }
            crate::store::StoreError::InvalidText(_) => {
                Self::invalid_request(crate::domain::NUL_REFUSED)
            }
            other => Self::server_error(other),
        }
    }
}

/// Seconds a client is asked to wait (`Retry-After`) when the database is unavailable: every
/// endpoint answers such a fault 503 with this, in its own error shape.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;

/// What a client is told when the database is unavailable.
pub const UNAVAILABLE: &str = "The service is temporarily unavailable. Try again shortly.";

impl From<crate::tokens::MintError> for OAuthError {
    fn from(e: crate::tokens::MintError) -> Self {
        Self::server_error(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_serde() {
        let all = [
            (ErrorCode::InvalidRequest, "invalid_request", 400),
            (ErrorCode::InvalidClient, "invalid_client", 401),
            (ErrorCode::InvalidGrant, "invalid_grant", 400),
            (ErrorCode::UnauthorizedClient, "unauthorized_client", 400),
            (
                ErrorCode::UnsupportedGrantType,
                "unsupported_grant_type",
                400,
            ),
            (ErrorCode::InvalidScope, "invalid_scope", 400),
            (ErrorCode::ServerError, "server_error", 500),
            (
                ErrorCode::TemporarilyUnavailable,
                "temporarily_unavailable",
                503,
            ),
            (ErrorCode::TooManyRequests, "too_many_requests", 429),
        ];
        for (code, wire, status) in all {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{wire}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert_eq!(code.status(), status);
        }
    }

    #[test]
    fn an_unavailable_database_is_503_with_retry_after_and_other_faults_500() {
        let e = OAuthError::from(crate::store::StoreError::Unavailable(
            sqlx::Error::PoolTimedOut,
        ));
        assert_eq!(e.code, ErrorCode::TemporarilyUnavailable);
        assert_eq!(e.code.status(), 503);
        assert_eq!(e.retry_after, Some(UNAVAILABLE_RETRY_AFTER));
        let e = OAuthError::from(crate::store::StoreError::Corrupt("x".into()));
        assert_eq!(e.code, ErrorCode::ServerError);
        assert_eq!(e.retry_after, None);
        // The authorization endpoint's page says the same.
        use crate::grants::authorize::{AuthorizeError, AuthorizeErrorCode};
        let page = AuthorizeError::from(crate::store::StoreError::Unavailable(
            sqlx::Error::PoolClosed,
        ));
        assert!(matches!(
            page,
            AuthorizeError::Page {
                status: 503,
                error: AuthorizeErrorCode::TemporarilyUnavailable,
                ..
            }
        ));
        let page = AuthorizeError::from(crate::store::StoreError::Corrupt("x".into()));
        assert!(matches!(
            page,
            AuthorizeError::Page {
                status: 500,
                error: AuthorizeErrorCode::ServerError,
                ..
            }
        ));
    }
}

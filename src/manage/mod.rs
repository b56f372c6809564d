//! Administration: the rules behind the Management API and the CLI (create, list, change and
//! delete clients, APIs, client grants and users; list and revoke consent grants, device
//! credentials and refresh tokens; read the audit log), with Auth0's field names and defaults.
//! Free of HTTP: the Management API handlers and the CLI both call it.

pub mod audit;
pub mod client_grants;
pub mod clients;
pub mod devices;
pub mod grants;
pub mod logs;
pub mod refresh_tokens;
pub mod resource_servers;
pub mod system;
pub mod users;

use crate::clock::SharedClock;
use crate::passwords::Passwords;
use crate::store::{Page, SharedStore, StoreError};

/// An administrative failure, answered with Auth0's `{statusCode, error, message, errorCode}`.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// 400: the body or a parameter is invalid.
    #[error("{0}")]
    Invalid(String),
    /// 400 `invalid_query_string`: a list parameter (`page`, `per_page`, …) is invalid.
    #[error("{0}")]
    InvalidQuery(String),
    /// 404: no such thing (its kind picks the `errorCode`).
    #[error("{message}")]
    NotFound { kind: Missing, message: String },
    /// 409: the thing already exists.
    #[error("{message}")]
    Conflict {
        error_code: &'static str,
        message: String,
    },
    /// 400 `operation_not_supported`: e.g. changing a built-in API.
    #[error("{0}")]
    NotSupported(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
    pub fn not_found(kind: Missing, message: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            message: message.into(),
        }
    }
}

impl From<crate::passwords::PasswordError> for AdminError {
    fn from(e: crate::passwords::PasswordError) -> Self {
        Self::Internal(e.to_string())
    }
}

pub type AdminResult<T> = Result<T, AdminError>;

/// What a lookup did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Client,
    ResourceServer,
    ClientGrant,
    User,
    /// A consent grant.
    Grant,
    DeviceCredential,
    RefreshToken,
    Log,
}

/// Auth0's list parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Zero-based page number.
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    pub include_totals: bool,
}

/// Auth0's default and largest page sizes.
pub const DEFAULT_PER_PAGE: u32 = 50;
pub const MAX_PER_PAGE: u32 = 100;

impl ListQuery {
    pub fn page(&self) -> AdminResult<Page> {
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(AdminError::InvalidQuery(format!(
                "Query validation error: per_page must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        let page = self.page.unwrap_or(0);
        Ok(Page {
            offset: i64::from(page) * i64::from(per_page),
            limit: i64::from(per_page),
        })
    }
}

/// One page of results; `total` only when `include_totals` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub start: i64,
    pub limit: i64,
    pub total: Option<i64>,
}

/// The administration service. Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    pub store: SharedStore,
    pub clock: SharedClock,
    pub passwords: Passwords,
    /// With a trailing slash; the built-in APIs' identifiers derive from it.
    pub issuer: String,
    /// A password change revokes the user's refresh-token families.
    pub revoke_on_password_change: bool,
}

impl Admin {
    pub fn new(
        store: SharedStore,
        clock: SharedClock,
        passwords: Passwords,
        issuer: String,
    ) -> Self {
        Self {
            store,
            clock,
            passwords,
            issuer,
            revoke_on_password_change: true,
        }
    }

    /// Runs a paged list; `count` is only awaited when totals were asked for.
    async fn list<T, G, F, C>(query: ListQuery, fetch: G, count: C) -> AdminResult<Listed<T>>
    where
        G: FnOnce(Page) -> F,
        F: std::future::Future<Output = Result<Vec<T>, StoreError>>,
        C: std::future::Future<Output = Result<i64, StoreError>>,
    {
        let page = query.page()?;
        let items = fetch(page).await?;
        let total = if query.include_totals {
            Some(count.await?)
        } else {
            None
        };
        Ok(Listed {
            items,
            start: page.offset,
            limit: page.limit,
            total,
        })
    }
}

impl Admin {
    /// Records an admin change in the audit log (Auth0's `sapi`: a successful Management API
    /// operation); a failure to write it is logged, never fails the change.
    pub(crate) async fn record(&self, description: &str, target: serde_json::Value) {
        let user_id = target
            .get("user_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        self.audit(
            crate::domain::AuditType::AdminChange,
            description,
            audit::Subject {
                client_id: None,
                user_id: user_id.as_deref(),
            },
            &audit::Actor::default(),
            serde_json::json!({ "target": target }),
        )
        .await;
    }
}

/// Checks a URL given for `callbacks` or `allowed_logout_urls`: absolute, no fragment
/// (RFC 6749 §3.1.2). Custom schemes (native apps) are allowed.
fn check_url(field: &str, value: &str) -> AdminResult<()> {
    let url = url::Url::parse(value)
        .map_err(|_| AdminError::invalid(format!("{field}: {value:?} is not an absolute URL")))?;
    if url.fragment().is_some() {
        return Err(AdminError::invalid(format!(
            "{field}: {value:?} must not contain a fragment"
        )));
    }
    Ok(())
}

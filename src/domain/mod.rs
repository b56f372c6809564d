//! Domain types: what Tessera knows about clients, APIs, client grants and users, independent of
//! HTTP and of the database.

mod audit;
mod client;
mod client_grant;
mod login;
mod refresh;
mod refresh_policy;
mod resource_server;
mod scope;
mod user;

pub use audit::AuditType;
pub use client::{
    AppType, AuthMethod, Client, ExpirationType, GrantType, GrantTypes, RefreshTokenSettings,
    RotationType,
};
pub use client_grant::ClientGrant;

/// The one answer to a NUL character anywhere in a request (a parameter, a path, a query, a JSON
/// string): no field takes one, and PostgreSQL cannot store one (SQLite would), so the request
/// boundary refuses it before any backend sees it.
pub const NUL_REFUSED: &str = "A value contains a character that is not allowed (NUL).";
pub use login::{AuthorizationCode, Grant, Session};
pub use refresh::{AuditEvent, Family, FamilyChecks, RefreshOutcome, Refusal};
pub use refresh_policy::{MAX_LIFETIME, PolicyProblem, PolicyProblems, RefreshTokenPatch};
pub use resource_server::{ApiScope, ResourceServer, SigningAlg, SystemApi};
pub use scope::Scope;
pub use user::{DATABASE_CONNECTION, User};

//! Domain types: what Tessera knows about clients, APIs, client grants and users, independent of
//! HTTP and of the database.

mod client;
mod client_grant;
mod login;
mod refresh;
mod refresh_policy;
mod resource_server;
mod scope;
mod user;

pub use client::{
    AppType, AuthMethod, Client, ExpirationType, RefreshTokenSettings, RotationType, grant_type,
};
pub use client_grant::ClientGrant;
pub use login::{AuthorizationCode, Grant, Session};
pub use refresh::{AuditEvent, Family};
pub use refresh_policy::{MAX_LIFETIME, PolicyProblem, PolicyProblems, RefreshTokenPatch};
pub use resource_server::{ApiScope, ResourceServer, SigningAlg, SystemApi};
pub use scope::Scope;
pub use user::{DATABASE_CONNECTION, User};

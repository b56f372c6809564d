//! Tessera's integration tests: one binary, one module per area. Each test gets a fresh database
//! per backend (SQLite always, PostgreSQL when TEST_DATABASE_URL is set).

// The whole crate is test code: clippy.toml's allow-*-in-tests only covers `#[test]` functions,
// not the harness and helpers they call, which fail loudly by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod authorize;
mod authorize_errors;
mod browser;
mod code_grant;
mod consent;
mod discovery;
mod faults;
mod helpers;
mod keys;
mod legacy;
mod login_pages;
mod management;
mod management_client_grants;
mod management_clients;
mod management_consent;
mod management_legacy;
mod management_logs;
mod management_resource_servers;
mod management_revocation;
mod management_users;
mod oidc_client;
mod ops;
mod password_grant;
mod refresh;
mod revoke;
mod sessions;
mod store;
mod token;
mod userinfo;

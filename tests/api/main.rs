//! Tessera's integration tests: one binary, one module per area. Each test gets a fresh database
//! per backend (SQLite always, PostgreSQL when TEST_DATABASE_URL is set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authorize;
mod authorize_errors;
mod browser;
mod code_grant;
mod consent;
mod discovery;
mod helpers;
mod login_pages;
mod oidc_client;
mod password_grant;
mod sessions;
mod token;
mod userinfo;

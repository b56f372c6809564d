//! Tessera's integration tests: one binary, one module per area. Each test gets a fresh database
//! per backend (SQLite always, PostgreSQL when TEST_DATABASE_URL is set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod management;
mod management_client_grants;
mod management_clients;
mod management_resource_servers;
mod management_users;
mod refresh;
mod token;

//! Tessera's integration tests: one binary, one module per area. Each test gets a fresh database
//! per backend (SQLite always, PostgreSQL when TEST_DATABASE_URL is set).

mod helpers;
mod keys;
mod store;
mod token;

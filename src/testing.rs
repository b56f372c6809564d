//! Test support shared by the library's own unit tests and the integration tests in `tests/`:
//! scratch PostgreSQL databases on the server `TEST_DATABASE_URL` names. Not part of the API.
//! Called only from tests, where a failed set-up should fail the test at once and say why.
#![allow(clippy::expect_used)]

use sqlx::Connection;

/// The variable naming the PostgreSQL server the PostgreSQL tests use (`.ci/run` sets it).
const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// `TEST_DATABASE_URL`, when it is set and not empty.
pub fn test_database_url() -> Option<String> {
    std::env::var(TEST_DATABASE_URL)
        .ok()
        .filter(|u| !u.is_empty())
}

/// The URL of database `name` on the `TEST_DATABASE_URL` server.
pub fn postgres_database_url(name: &str) -> String {
    let base = test_database_url().expect("TEST_DATABASE_URL is set");
    let mut url = url::Url::parse(&base).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.into()
}

/// Creates an empty database with a random name starting with `prefix` on the
/// `TEST_DATABASE_URL` server; answers its URL and name (for [`drop_postgres_database`]).
pub async fn create_postgres_database(prefix: &str) -> (String, String) {
    let base = test_database_url().expect("TEST_DATABASE_URL is set");
    let name = format!("{prefix}_{}", crate::tokens::secrets::random_hex(16));
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .expect("TEST_DATABASE_URL is set but PostgreSQL is unreachable");
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    (postgres_database_url(&name), name)
}

/// Drops a database made by [`create_postgres_database`], ending its connections; best effort
/// (a test that failed before still cleans up what it can).
pub async fn drop_postgres_database(name: &str) {
    let Some(base) = test_database_url() else {
        return;
    };
    if let Ok(mut admin) = sqlx::PgConnection::connect(&base).await {
        let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
            .execute(&mut admin)
            .await;
    }
}

//! `sqlx::migrate!` embeds `migrations/` at compile time; without the `rerun-if-changed` a new
//! migration file does not trigger a rebuild, and the binary silently runs without it.
//!
//! Tests that need PostgreSQL alone (no SQLite half) are marked
//! `#[cfg_attr(tessera_no_test_database, ignore = "…")]`: without `TEST_DATABASE_URL` they are
//! reported as ignored, not counted as passed.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(tessera_no_test_database)");
    if std::env::var("TEST_DATABASE_URL").map_or(true, |u| u.is_empty()) {
        println!("cargo:rustc-cfg=tessera_no_test_database");
    }
}

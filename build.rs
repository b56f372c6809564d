//! `sqlx::migrate!` embeds `migrations/` at compile time; without this a new migration file
//! does not trigger a rebuild, and the binary silently runs without it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

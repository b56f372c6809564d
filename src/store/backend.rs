//! What each SQL backend provides to the SQL both share.
//!
//! sqlx's types are per database, so the `Store` implementation is written once as macros
//! (`sql.rs`, `sql_login.rs`, `sql_refresh.rs`) instantiated for `PgStore` and `SqliteStore`, and
//! the statements use `$n` placeholders, which both databases accept. Everything those macros
//! use of a backend is this trait: a backend that compiles against it has all the shared SQL.
//! What differs stays in each backend's file: how it connects, how it takes the write lock
//! (SQLite's in-process queue, `BEGIN IMMEDIATE`), and how it runs the refresh exchange
//! (PostgreSQL's batches, `pg_exchange`; SQLite's update-then-read transaction).

use sqlx::migrate::Migrator;
use tokio::sync::OwnedMutexGuard;

use super::client_cache::ClientCache;
use super::write_tx::WriteTx;
use super::{ExchangeRequest, Exchanged, StoreResult};

pub(super) trait SqlBackend: Send + Sync {
    type Db: sqlx::Database;

    /// The general pool: every statement but PostgreSQL's batched exchange.
    fn pool(&self) -> &sqlx::Pool<Self::Db>;

    /// This backend's migrations (`migrations/postgres`, `migrations/sqlite`; one version
    /// number per change on both).
    fn migrator() -> &'static Migrator;

    /// The clients held in memory for authentication; every client write forgets its entry.
    fn clients(&self) -> &ClientCache;

    /// Held across a write statement run outside a transaction: SQLite queues its writers on
    /// one in-process lock, PostgreSQL's row locks need none (`None`).
    fn writer(&self) -> impl Future<Output = Option<OwnedMutexGuard<()>>> + Send;

    /// A write transaction (behind the same queue on SQLite, with its lock taken up front).
    fn begin_write(&self) -> impl Future<Output = Result<WriteTx<Self::Db>, sqlx::Error>> + Send;

    /// The one-statement refresh exchange (its rules: `sql_refresh`): the family, user and API
    /// when every rule held, `None` otherwise.
    fn exchange_impl(
        &self,
        req: &ExchangeRequest<'_>,
    ) -> impl Future<Output = StoreResult<Option<Exchanged>>> + Send;
}

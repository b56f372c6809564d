//! SQLite: the zero-setup embedded store. Every write, transaction or single statement, first
//! queues on an in-process lock (see `write_tx`); write transactions then take SQLite's lock up
//! front (`BEGIN IMMEDIATE`), and a busy timeout covers other processes (the CLI), so contention
//! waits instead of failing.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::backend::SqlBackend;
use super::client_cache::ClientCache;
use super::write_tx::WriteTx;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    write_lock: Arc<tokio::sync::Mutex<()>>,
    clients: ClientCache,
}

impl SqliteStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if !in_memory {
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
        }
        let pool = if in_memory {
            // Every connection to `:memory:` is its own database: keep exactly one, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?
        } else {
            // One connection first: it creates the file and switches it to WAL (which is kept
            // in the file). Connections opening together on a new file would each try the
            // switch, which takes SQLite's exclusive lock without waiting: "database is locked".
            sqlx::Connection::close(sqlx::ConnectOptions::connect(&options).await?).await?;
            // All connections open at start and stay open: an embedded database has no server
            // to time them out, and each connection costs a worker thread and its page cache, so
            // a pool that opened them as load peaked (and closed them after 10 idle minutes, and
            // recycled them every 30) raised the RSS in steps long after start.
            SqlitePoolOptions::new()
                .max_connections(max_connections)
                .min_connections(max_connections)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(15))
                // An embedded database cannot drop the connection: no ping before each use.
                .test_before_acquire(false)
                .connect_with(options)
                .await?
        };
        Ok(Self {
            pool,
            write_lock: Arc::default(),
            clients: ClientCache::default(),
        })
    }
}

impl SqlBackend for SqliteStore {
    type Db = Sqlite;

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn clients(&self) -> &ClientCache {
        &self.clients
    }

    /// Queues on the in-process write lock for a write statement run outside a transaction
    /// (revocations, audit events, housekeeping). Without it such a statement raced the queued
    /// writers for SQLite's lock and both sides slept in the busy handler: purge calls of 0.5–1.7 s
    /// and exchanges stalled behind them.
    async fn writer(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        Some(Arc::clone(&self.write_lock).lock_owned().await)
    }

    /// Queues on the in-process write lock (see [`WriteTx`]), then takes SQLite's.
    async fn begin_write(&self) -> Result<WriteTx<Sqlite>, sqlx::Error> {
        let lock = Arc::clone(&self.write_lock).lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx::new(tx, Some(lock)))
    }

    /// The update, then the family with its user's row and the API's settings, in one
    /// in-process write transaction (SQLite's RETURNING cannot name joined tables).
    async fn exchange_impl(
        &self,
        req: &crate::store::ExchangeRequest<'_>,
    ) -> crate::store::StoreResult<Option<crate::store::Exchanged>> {
        let mut tx = self.begin_write().await?;
        let updated: Option<(String,)> = super::sql_refresh::bind_exchange!(
            sqlx::query_as(super::sql_refresh::EXCHANGE_RETURNING_ID),
            req
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id,)) = updated else {
            tx.commit().await?;
            return Ok(None);
        };
        let row =
            sqlx::query_as::<_, super::rows::FamilyUserRow>(super::sql_refresh::EXCHANGED_BY_ID)
                .bind(&id)
                .fetch_one(&mut *tx)
                .await?;
        // Read before the commit: a row that cannot be read rolls the rotation back.
        let exchanged = row.split()?;
        tx.commit().await?;
        Ok(Some(exchanged))
    }
}

super::sql::sql_store!(SqliteStore, Sqlite);
super::sql_login::sql_login_store!(SqliteStore);
super::sql_refresh::sql_refresh_store!(SqliteStore, Sqlite);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AuditEvent;
    use crate::store::{RefreshStore, Store, SupportStore};

    fn event(id: &str) -> AuditEvent {
        AuditEvent {
            id: id.into(),
            kind: crate::domain::AuditType::AdminChange,
            date: 1_700_000_000,
            description: "queued write".into(),
            client_id: None,
            user_id: None,
            ip: None,
            user_agent: None,
            details: "{}".into(),
        }
    }

    /// A single write statement waits its turn on the in-process write queue (which it would
    /// otherwise bypass, SQLite's own lock being free) and lands once the queue is its.
    #[tokio::test]
    async fn single_statement_writes_queue_behind_the_write_lock() {
        let dir = std::env::temp_dir().join(format!(
            "tessera-writer-{}",
            crate::tokens::secrets::random_token(8)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("t.db").display());
        let store = Arc::new(SqliteStore::connect(&url, 4).await.unwrap());
        store.migrate().await.unwrap();

        // The queue taken by someone else, SQLite's lock left free.
        let turn = Arc::clone(&store.write_lock).lock_owned().await;
        let writing = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.insert_audit_event(&event("queued")).await }
        });
        // However long it is given, the statement stays queued while the queue is taken.
        let waited = tokio::time::timeout(Duration::from_millis(300), async {
            while !writing.is_finished() {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(waited.is_err(), "the write bypassed the write queue");
        assert!(store.list_audit_events(None, 10).await.unwrap().is_empty());

        drop(turn);
        writing.await.unwrap().unwrap();
        let events = store.list_audit_events(None, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, "queued");
        store.pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

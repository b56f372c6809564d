//! PostgreSQL: the production store.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres};

use super::backend::SqlBackend;
use super::client_cache::ClientCache;
use super::pg_exchange::{Exchanger, IDLE_BEFORE_PING};
use super::write_tx::WriteTx;

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    exchanger: Exchanger,
    clients: ClientCache,
}

impl PgStore {
    /// `max_connections` in all: one per CPU core (at most half, at least one) serve the
    /// refresh exchange ([`Exchanger`]), the rest the pool.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?;
        let exchange_connections = exchange_connections(max_connections);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.saturating_sub(exchange_connections).max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // sqlx pings a connection before each use by default: a second round trip per
            // request. Ping only one that sat idle (the database may have restarted since).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            // PostgreSQL's NOTICEs (`relation "_sqlx_migrations" already exists, skipping` at
            // every start) are not news: warnings and errors still reach the log.
            .connect_with(
                options
                    .clone()
                    .options([("client_min_messages", "warning")]),
            )
            .await?;
        Ok(Self {
            pool,
            exchanger: Exchanger::new(options, exchange_connections as usize),
            clients: ClientCache::default(),
        })
    }
}

impl SqlBackend for PgStore {
    type Db = Postgres;

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn clients(&self) -> &ClientCache {
        &self.clients
    }

    /// PostgreSQL has row locks: single write statements need no queue (see the SQLite store).
    async fn writer(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        None
    }

    async fn begin_write(&self) -> Result<WriteTx<Postgres>, sqlx::Error> {
        Ok(WriteTx::new(self.pool.begin().await?, None))
    }

    /// The exchange, batched with the exchanges waiting beside it (see [`Exchanger`]).
    async fn exchange_impl(
        &self,
        req: &crate::store::ExchangeRequest<'_>,
    ) -> crate::store::StoreResult<Option<crate::store::Exchanged>> {
        // The exchange's connections are its own: a closed store sends them nothing more.
        if self.pool.is_closed() {
            return Err(sqlx::Error::PoolClosed.into());
        }
        Ok(self.exchanger.exchange(req, ACQUIRE_TIMEOUT).await?)
    }
}

super::sql::sql_store!(PgStore, Postgres);
super::sql_login::sql_login_store!(PgStore);
super::sql_refresh::sql_refresh_store!(PgStore, Postgres);

/// The exchange's own connections: one per CPU core, at most half of `max_connections`, at least
/// one. Fewer connections make larger batches, more keep more commits in flight; on 2 cores
/// (BENCHMARKS.md, change 13) 2, 4 and 8 connections ran alike once the batch used the generic
/// plan, and 2 was far ahead while every batch was planned anew.
fn exchange_connections(max_connections: u32) -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cores = u32::try_from(cores).unwrap_or(u32::MAX);
    cores.min(max_connections / 2).max(1)
}

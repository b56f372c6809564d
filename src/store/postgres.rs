//! PostgreSQL: the production store.

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres};

use super::pg_lane::{IDLE_BEFORE_PING, Lane};
use super::write_tx::WriteTx;

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    lane: Lane,
}

impl PgStore {
    /// `max_connections` in all: half serve the refresh exchange ([`Lane`]), the rest the pool.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?;
        let lane_size = (max_connections / 2).max(1);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.saturating_sub(lane_size).max(1))
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
            .connect_with(options.clone())
            .await?;
        Ok(Self {
            pool,
            lane: Lane::new(options, lane_size as usize),
        })
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// PostgreSQL has row locks: single write statements need no queue (see the SQLite store).
    async fn writer(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        None
    }

    async fn begin_write(&self) -> Result<WriteTx<Postgres>, sqlx::Error> {
        Ok(WriteTx::new(self.pool.begin().await?, None))
    }
}

super::sql::sql_store!(PgStore, Postgres);
super::sql_login::sql_login_store!(PgStore);
super::sql_refresh::sql_refresh_store!(PgStore, Postgres);

impl PgStore {
    /// One statement: the update joined with the user's row and the API's settings.
    async fn exchange_impl(
        &self,
        req: &crate::store::ExchangeRequest<'_>,
    ) -> crate::store::StoreResult<Option<crate::store::Exchanged>> {
        // The statement's text is built once, not per exchange.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "update refresh_families as f {} returning {}, {}",
                super::sql_refresh::EXCHANGE_SET_WHERE,
                super::sql_refresh::F_FAMILY_COLUMNS,
                super::sql_refresh::EXCHANGE_USER_API_COLUMNS,
            )
        });
        // On the lane: no ping per exchange (see [`Lane`]).
        let mut lent = self.lane.take(ACQUIRE_TIMEOUT).await?;
        let row = super::sql_refresh::bind_exchange!(
            sqlx::query_as::<_, super::rows::FamilyUserRow>(SQL.as_str()),
            req
        )
        .fetch_optional(&mut lent.conn)
        .await;
        self.lane.give_back(lent, &row);
        Ok(row?.map(super::rows::FamilyUserRow::split))
    }
}

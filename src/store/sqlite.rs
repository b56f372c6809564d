//! SQLite: the zero-setup embedded store. Write transactions take the write lock up front
//! (`BEGIN IMMEDIATE`) and wait on a busy timeout, so contention waits instead of failing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
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
            SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(15))
                // An embedded database cannot drop the connection: no ping before each use.
                .test_before_acquire(false)
                .connect_with(options)
                .await?
        };
        Ok(Self { pool })
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

super::sql::sql_store!(SqliteStore, Sqlite);
super::sql_login::sql_login_store!(SqliteStore);
super::sql_refresh::sql_refresh_store!(SqliteStore, Sqlite);

impl SqliteStore {
    /// The update, the user's row and the API's settings in one in-process write transaction
    /// (SQLite's RETURNING cannot name joined tables).
    async fn exchange_impl(
        &self,
        req: &crate::store::ExchangeRequest<'_>,
    ) -> crate::store::StoreResult<Option<crate::store::Exchanged>> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "update refresh_families as f {} returning {}",
            super::sql_refresh::EXCHANGE_SET_WHERE,
            super::sql_refresh::FAMILY_COLUMNS,
        );
        let family = super::sql_refresh::bind_exchange!(
            sqlx::query_as::<_, super::rows::FamilyRow>(&sql),
            req
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(family) = family else {
            tx.commit().await?;
            return Ok(None);
        };
        let sql = format!(
            "select {} from users where user_id = $1",
            super::sql::USER_COLUMNS
        );
        let user = sqlx::query_as::<_, super::rows::UserRow>(&sql)
            .bind(&family.user_id)
            .fetch_one(&mut *tx)
            .await?;
        let (signing_alg, token_lifetime): (String, i64) = sqlx::query_as(
            "select signing_alg, token_lifetime from resource_servers where identifier = $1",
        )
        .bind(&family.audience)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(crate::store::Exchanged {
            family: family.into(),
            user: user.into(),
            signing_alg,
            token_lifetime,
        }))
    }
}

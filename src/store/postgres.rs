//! PostgreSQL: the production store.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
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
        let sql = format!(
            "update refresh_families as f {} returning {}, u.connection as u_connection, \
             u.email as u_email, u.email_verified as u_email_verified, u.name as u_name, \
             u.nickname as u_nickname, u.blocked as u_blocked, \
             u.logins_count as u_logins_count, u.last_login as u_last_login, \
             u.password_changed_at as u_password_changed_at, u.created_at as u_created_at, \
             u.updated_at as u_updated_at, r.signing_alg as r_signing_alg, \
             r.token_lifetime as r_token_lifetime",
            super::sql_refresh::EXCHANGE_SET_WHERE,
            super::sql_refresh::F_FAMILY_COLUMNS,
        );
        let row = super::sql_refresh::bind_exchange!(
            sqlx::query_as::<_, super::rows::FamilyUserRow>(&sql),
            req
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(super::rows::FamilyUserRow::split))
    }
}

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

/// The exchange: one statement, the update joined with the user's row and the API's settings.
/// Its text is built once, not per exchange.
static EXCHANGE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "update refresh_families as f {} returning {}, {}",
        super::sql_refresh::EXCHANGE_SET_WHERE,
        super::sql_refresh::F_FAMILY_COLUMNS,
        super::sql_refresh::EXCHANGE_USER_API_COLUMNS,
    )
});

impl PgStore {
    /// One statement: the update joined with the user's row and the API's settings.
    async fn exchange_impl(
        &self,
        req: &crate::store::ExchangeRequest<'_>,
    ) -> crate::store::StoreResult<Option<crate::store::Exchanged>> {
        // On the lane: no ping per exchange (see [`Lane`]).
        let mut lent = self.lane.take(ACQUIRE_TIMEOUT).await?;
        let row = super::sql_refresh::bind_exchange!(
            sqlx::query_as::<_, super::rows::FamilyUserRow>(EXCHANGE_SQL.as_str()),
            req
        )
        .fetch_optional(&mut lent.conn)
        .await;
        self.lane.give_back(lent, &row);
        Ok(row?.map(super::rows::FamilyUserRow::split))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ExchangeRequest, RefreshStore, Store};

    const NOW: i64 = 1_800_000_000;

    /// The (scan nodes on `refresh_families`: rows returned + rows read and filtered out) of a
    /// JSON `EXPLAIN ANALYZE` plan.
    fn family_rows_read(node: &serde_json::Value, read: &mut Vec<(String, u64)>) {
        let scan = node["Node Type"]
            .as_str()
            .is_some_and(|t| t.ends_with("Scan"));
        if scan && node["Relation Name"] == "refresh_families" {
            let rows = node["Actual Rows"].as_u64().unwrap_or(0)
                + node["Rows Removed by Filter"].as_u64().unwrap_or(0);
            let how = format!(
                "{} {}",
                node["Node Type"].as_str().unwrap_or(""),
                node["Index Name"].as_str().unwrap_or("")
            );
            read.push((how, rows));
        }
        for child in node["Plans"].as_array().into_iter().flatten() {
            family_rows_read(child, read);
        }
    }

    /// With a few hundred families of one client and no statistics yet (a new database, before
    /// autovacuum's first ANALYZE), the exchange still reads the one family it names rather
    /// than every family of the client (which it did with a client-only index: 300 rows per
    /// exchange here). Needs PostgreSQL (TEST_DATABASE_URL).
    #[tokio::test]
    #[cfg_attr(
        tessera_no_test_database,
        ignore = "needs PostgreSQL: set TEST_DATABASE_URL"
    )]
    async fn the_exchange_reads_one_family_however_many_the_client_has() {
        let (url, name) = crate::testing::create_postgres_database("tessera_plan").await;
        let store = PgStore::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();

        let secret_hash = vec![7u8; 32];
        sqlx::query(
            "insert into users (user_id, connection, email, created_at, updated_at) \
             values ('auth0|u', 'Username-Password-Authentication', 'u@example.com', $1, $1)",
        )
        .bind(NOW)
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into clients (client_id, name, grant_types, token_endpoint_auth_method, \
             refresh_token, secret_hash, created_at, updated_at) values ('c', 'c', \
             '[\"refresh_token\"]', 'client_secret_post', '{}', $1, $2, $2)",
        )
        .bind(&secret_hash)
        .bind(NOW)
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into resource_servers (id, identifier, name, token_lifetime, signing_alg, \
             created_at, updated_at) values ('r', 'https://api.test/', 'api', 600, 'ES256', $1, $1)",
        )
        .bind(NOW)
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into refresh_families (id, user_id, client_id, audience, scope, rotating, \
             created_at, last_exchanged_at, auth_time) select 'fam' || n, 'auth0|u', 'c', \
             'https://api.test/', 'offline_access', true, $1, $1, $1 \
             from generate_series(1, 300) as n",
        )
        .bind(NOW)
        .execute(&store.pool)
        .await
        .unwrap();

        let request = |family_id| ExchangeRequest {
            family_id,
            generation: 0,
            now: NOW + 1,
            ip: "127.0.0.1",
            user_agent: "ua",
            password_rule: true,
            client_id: "c",
            auth_method: "client_secret_post",
            secret_hash: Some(secret_hash.clone()),
        };
        // The statement as the store runs it rotates the family …
        let done = store.exchange_family(&request("fam1")).await.unwrap();
        assert_eq!(done.map(|d| d.family.generation), Some(1));
        // … and, explained on another family, reads only that family's row.
        let req = request("fam2");
        let explain = format!("explain (analyze, format json) {}", EXCHANGE_SQL.as_str());
        let row = super::super::sql_refresh::bind_exchange!(sqlx::query(&explain), req)
            .fetch_one(&store.pool)
            .await
            .unwrap();
        // A `json` column, read as its text.
        let plan: serde_json::Value =
            serde_json::from_str(&sqlx::Row::try_get_unchecked::<String, _>(&row, 0).unwrap())
                .unwrap();
        let mut read = Vec::new();
        family_rows_read(&plan[0]["Plan"], &mut read);
        drop(store);
        crate::testing::drop_postgres_database(&name).await;
        assert_eq!(read.len(), 1, "one scan of refresh_families: {plan:#}");
        assert_eq!(
            read[0].1, 1,
            "rows of refresh_families read by {}",
            read[0].0
        );
    }
}

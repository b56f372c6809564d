//! The SQL both backends share, written once as macros over what each backend provides
//! ([`SqlBackend`](super::backend::SqlBackend), which says why macros).

macro_rules! bind_client {
    ($query:expr, $c:expr) => {
        $query
            .bind(&$c.client_id)
            .bind(&$c.name)
            .bind(&$c.description)
            .bind($c.app_type.as_ref().map(rows::enum_str))
            .bind(rows::to_json(&$c.callbacks))
            .bind(rows::to_json(&$c.allowed_logout_urls))
            .bind(rows::to_json(&$c.web_origins))
            .bind(rows::to_json(&$c.grant_types))
            .bind($c.token_endpoint_auth_method.as_str())
            .bind($c.oidc_conformant)
            .bind($c.is_first_party)
            .bind(rows::to_json(&$c.refresh_token))
            .bind($c.auth_policy_version)
            .bind(&$c.secret_hash)
            .bind($c.created_at)
            .bind($c.updated_at)
    };
}

macro_rules! bind_resource_server {
    ($query:expr, $r:expr) => {
        $query
            .bind(&$r.id)
            .bind(&$r.identifier)
            .bind(&$r.name)
            .bind($r.allow_offline_access)
            .bind(i64::try_from($r.token_lifetime).unwrap_or(i64::MAX))
            .bind($r.signing_alg.as_str())
            .bind(rows::to_json(&$r.scopes))
            .bind($r.skip_consent_for_verifiable_first_party_clients)
            .bind(&$r.system)
            .bind($r.created_at)
            .bind($r.updated_at)
    };
}

macro_rules! bind_user {
    ($query:expr, $u:expr) => {
        $query
            .bind(&$u.user_id)
            .bind(&$u.connection)
            .bind(&$u.email)
            .bind($u.email_verified)
            .bind(&$u.name)
            .bind(&$u.nickname)
            .bind(&$u.password_hash)
            .bind($u.blocked)
            .bind($u.logins_count)
            .bind($u.last_login)
            .bind($u.password_changed_at)
            .bind($u.created_at)
            .bind($u.updated_at)
    };
}

pub(super) const CLIENT_COLUMNS: &str = "client_id, name, description, app_type, callbacks, \
     allowed_logout_urls, web_origins, grant_types, token_endpoint_auth_method, oidc_conformant, \
     is_first_party, refresh_token, auth_policy_version, secret_hash, created_at, updated_at";
pub(super) const RESOURCE_SERVER_COLUMNS: &str = "id, identifier, name, allow_offline_access, \
     token_lifetime, signing_alg, scopes, skip_consent, system, created_at, updated_at";
pub(super) const CLIENT_GRANT_COLUMNS: &str =
    "id, client_id, audience, scope, created_at, updated_at";
pub(super) const USER_COLUMNS: &str = "user_id, connection, email, email_verified, name, \
     nickname, password_hash, blocked, logins_count, last_login, password_changed_at, created_at, \
     updated_at";
pub(super) const SIGNING_KEY_COLUMNS: &str =
    "kid, alg, public_jwk, private_key, created_at, activates_at, published_until";

macro_rules! sql_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;

        use crate::clock::Timestamp;
        use crate::domain::{Client, ClientGrant, ResourceServer, User};
        use crate::store::rows::{self, convert_all};
        use crate::store::sql::*;
        use crate::store::{
            ClientGrantFilter, Page, SigningKeyRecord, Store, StoreError, StoreResult,
        };

        impl $store {
            /// One housekeeping delete of at most `limit` rows older than `before` (`$1` and
            /// `$2` in `sql`), on the write queue by itself so that exchanges go in between.
            async fn purge_batch(
                &self,
                sql: &'static str,
                before: Timestamp,
                limit: i64,
            ) -> StoreResult<u64> {
                let _writer = self.writer().await;
                let done = sqlx::query(sql)
                    .bind(before)
                    .bind(limit)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected())
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn migrate(&self) -> StoreResult<()> {
                Self::migrator()
                    .run(self.pool())
                    .await
                    .map_err(|e| StoreError::Database(e.into()))
            }

            async fn close(&self) {
                self.pool().close().await;
            }

            async fn ready(&self) -> StoreResult<bool> {
                let applied: Vec<i64> = sqlx::query_scalar(
                    "select version from _sqlx_migrations where success = true",
                )
                .fetch_all(self.pool())
                .await
                .or_else(|e| match e {
                    // No migration table yet: reachable but not migrated.
                    sqlx::Error::Database(_) => Ok(Vec::new()),
                    other => Err(other),
                })?;
                Ok(Self::migrator()
                    .iter()
                    .all(|m| applied.contains(&m.version)))
            }

            async fn insert_client(&self, c: &Client) -> StoreResult<()> {
                let _writer = self.writer().await;
                let sql = format!(
                    "insert into clients ({CLIENT_COLUMNS}) values \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                );
                let done = bind_client!(sqlx::query(&sql), c)
                    .execute(self.pool())
                    .await;
                self.clients().forget(Some(&c.client_id));
                done?;
                Ok(())
            }

            async fn upsert_client(&self, c: &Client) -> StoreResult<()> {
                let _writer = self.writer().await;
                let sql = format!(
                    "insert into clients ({CLIENT_COLUMNS}) values \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
                     on conflict (client_id) do update set name = excluded.name, \
                     description = excluded.description, app_type = excluded.app_type, \
                     callbacks = excluded.callbacks, \
                     allowed_logout_urls = excluded.allowed_logout_urls, \
                     web_origins = excluded.web_origins, grant_types = excluded.grant_types, \
                     token_endpoint_auth_method = excluded.token_endpoint_auth_method, \
                     oidc_conformant = excluded.oidc_conformant, \
                     is_first_party = excluded.is_first_party, \
                     refresh_token = excluded.refresh_token, \
                     auth_policy_version = excluded.auth_policy_version, \
                     secret_hash = excluded.secret_hash, created_at = excluded.created_at, \
                     updated_at = excluded.updated_at"
                );
                let done = bind_client!(sqlx::query(&sql), c)
                    .execute(self.pool())
                    .await;
                self.clients().forget(Some(&c.client_id));
                done?;
                Ok(())
            }

            async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
                let sql = format!("select {CLIENT_COLUMNS} from clients where client_id = $1");
                sqlx::query_as::<_, rows::ClientRow>(&sql)
                    .bind(client_id)
                    .fetch_optional(self.pool())
                    .await?
                    .map(Client::try_from)
                    .transpose()
            }

            async fn client(&self, client_id: &str) -> StoreResult<Option<std::sync::Arc<Client>>> {
                if let Some(client) = self.clients().get(client_id) {
                    return Ok(Some(client));
                }
                let epoch = self.clients().epoch();
                Ok(self
                    .get_client(client_id)
                    .await?
                    .map(|client| self.clients().keep(client, epoch)))
            }

            async fn list_clients(&self, page: Page) -> StoreResult<Vec<Client>> {
                let sql = format!(
                    "select {CLIENT_COLUMNS} from clients \
                     order by created_at, client_id limit $1 offset $2"
                );
                let rows = sqlx::query_as::<_, rows::ClientRow>(&sql)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(self.pool())
                    .await?;
                convert_all(rows)
            }

            async fn count_clients(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("select count(*) from clients")
                    .fetch_one(self.pool())
                    .await?)
            }

            async fn update_client(&self, c: &Client) -> StoreResult<bool> {
                let _writer = self.writer().await;
                let sql = "update clients set name = $2, description = $3, app_type = $4, \
                     callbacks = $5, allowed_logout_urls = $6, web_origins = $7, \
                     grant_types = $8, token_endpoint_auth_method = $9, oidc_conformant = $10, \
                     is_first_party = $11, refresh_token = $12, auth_policy_version = $13, \
                     secret_hash = $14, created_at = $15, updated_at = $16 \
                     where client_id = $1";
                let done = bind_client!(sqlx::query(sql), c)
                    .execute(self.pool())
                    .await;
                self.clients().forget(Some(&c.client_id));
                Ok(done?.rows_affected() > 0)
            }

            async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
                let _writer = self.writer().await;
                let done = sqlx::query("delete from clients where client_id = $1")
                    .bind(client_id)
                    .execute(self.pool())
                    .await;
                self.clients().forget(Some(client_id));
                Ok(done?.rows_affected() > 0)
            }

            async fn insert_resource_server(&self, r: &ResourceServer) -> StoreResult<()> {
                let _writer = self.writer().await;
                let sql = format!(
                    "insert into resource_servers ({RESOURCE_SERVER_COLUMNS}) values \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                );
                bind_resource_server!(sqlx::query(&sql), r)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn upsert_system_resource_server(&self, r: &ResourceServer) -> StoreResult<()> {
                let _writer = self.writer().await;
                let sql = format!(
                    "insert into resource_servers ({RESOURCE_SERVER_COLUMNS}) values \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     on conflict (system) do update set identifier = excluded.identifier, \
                     name = excluded.name, scopes = excluded.scopes, \
                     allow_offline_access = excluded.allow_offline_access, \
                     updated_at = excluded.updated_at"
                );
                bind_resource_server!(sqlx::query(&sql), r)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn get_resource_server(&self, id: &str) -> StoreResult<Option<ResourceServer>> {
                let sql =
                    format!("select {RESOURCE_SERVER_COLUMNS} from resource_servers where id = $1");
                sqlx::query_as::<_, rows::ResourceServerRow>(&sql)
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await?
                    .map(ResourceServer::try_from)
                    .transpose()
            }

            async fn get_resource_server_by_identifier(
                &self,
                identifier: &str,
            ) -> StoreResult<Option<ResourceServer>> {
                let sql = format!(
                    "select {RESOURCE_SERVER_COLUMNS} from resource_servers where identifier = $1"
                );
                sqlx::query_as::<_, rows::ResourceServerRow>(&sql)
                    .bind(identifier)
                    .fetch_optional(self.pool())
                    .await?
                    .map(ResourceServer::try_from)
                    .transpose()
            }

            async fn list_resource_servers(&self, page: Page) -> StoreResult<Vec<ResourceServer>> {
                let sql = format!(
                    "select {RESOURCE_SERVER_COLUMNS} from resource_servers \
                     order by created_at, id limit $1 offset $2"
                );
                let rows = sqlx::query_as::<_, rows::ResourceServerRow>(&sql)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(self.pool())
                    .await?;
                convert_all(rows)
            }

            async fn count_resource_servers(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("select count(*) from resource_servers")
                    .fetch_one(self.pool())
                    .await?)
            }

            async fn update_resource_server(&self, r: &ResourceServer) -> StoreResult<bool> {
                let _writer = self.writer().await;
                let sql = "update resource_servers set identifier = $2, name = $3, \
                     allow_offline_access = $4, token_lifetime = $5, signing_alg = $6, \
                     scopes = $7, skip_consent = $8, system = $9, created_at = $10, \
                     updated_at = $11 where id = $1";
                let done = bind_resource_server!(sqlx::query(sql), r)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_resource_server(&self, id: &str) -> StoreResult<bool> {
                let _writer = self.writer().await;
                let done = sqlx::query("delete from resource_servers where id = $1")
                    .bind(id)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn insert_client_grant(&self, g: &ClientGrant) -> StoreResult<()> {
                let _writer = self.writer().await;
                let sql = format!(
                    "insert into client_grants ({CLIENT_GRANT_COLUMNS}) \
                     values ($1, $2, $3, $4, $5, $6)"
                );
                sqlx::query(&sql)
                    .bind(&g.id)
                    .bind(&g.client_id)
                    .bind(&g.audience)
                    .bind(rows::to_json(&g.scope))
                    .bind(g.created_at)
                    .bind(g.updated_at)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn upsert_client_grant(&self, g: &ClientGrant) -> StoreResult<()> {
                let _writer = self.writer().await;
                let sql = format!(
                    "insert into client_grants ({CLIENT_GRANT_COLUMNS}) \
                     values ($1, $2, $3, $4, $5, $6) \
                     on conflict (client_id, audience) do update set scope = excluded.scope, \
                     updated_at = excluded.updated_at"
                );
                sqlx::query(&sql)
                    .bind(&g.id)
                    .bind(&g.client_id)
                    .bind(&g.audience)
                    .bind(rows::to_json(&g.scope))
                    .bind(g.created_at)
                    .bind(g.updated_at)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn get_client_grant(&self, id: &str) -> StoreResult<Option<ClientGrant>> {
                let sql = format!("select {CLIENT_GRANT_COLUMNS} from client_grants where id = $1");
                sqlx::query_as::<_, rows::ClientGrantRow>(&sql)
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await?
                    .map(ClientGrant::try_from)
                    .transpose()
            }

            async fn find_client_grant(
                &self,
                client_id: &str,
                audience: &str,
            ) -> StoreResult<Option<ClientGrant>> {
                let sql = format!(
                    "select {CLIENT_GRANT_COLUMNS} from client_grants \
                     where client_id = $1 and audience = $2"
                );
                sqlx::query_as::<_, rows::ClientGrantRow>(&sql)
                    .bind(client_id)
                    .bind(audience)
                    .fetch_optional(self.pool())
                    .await?
                    .map(ClientGrant::try_from)
                    .transpose()
            }

            async fn list_client_grants(
                &self,
                filter: &ClientGrantFilter,
                page: Page,
            ) -> StoreResult<Vec<ClientGrant>> {
                let sql = format!(
                    "select {CLIENT_GRANT_COLUMNS} from client_grants \
                     where client_id = coalesce($1, client_id) \
                     and audience = coalesce($2, audience) \
                     order by created_at, id limit $3 offset $4"
                );
                let rows = sqlx::query_as::<_, rows::ClientGrantRow>(&sql)
                    .bind(&filter.client_id)
                    .bind(&filter.audience)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(self.pool())
                    .await?;
                convert_all(rows)
            }

            async fn count_client_grants(&self, filter: &ClientGrantFilter) -> StoreResult<i64> {
                Ok(sqlx::query_scalar(
                    "select count(*) from client_grants \
                     where client_id = coalesce($1, client_id) \
                     and audience = coalesce($2, audience)",
                )
                .bind(&filter.client_id)
                .bind(&filter.audience)
                .fetch_one(self.pool())
                .await?)
            }

            async fn update_client_grant(&self, g: &ClientGrant) -> StoreResult<bool> {
                let _writer = self.writer().await;
                let done = sqlx::query(
                    "update client_grants set scope = $2, updated_at = $3 where id = $1",
                )
                .bind(&g.id)
                .bind(rows::to_json(&g.scope))
                .bind(g.updated_at)
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_client_grant(&self, id: &str) -> StoreResult<bool> {
                let _writer = self.writer().await;
                let done = sqlx::query("delete from client_grants where id = $1")
                    .bind(id)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn insert_user(&self, u: &User) -> StoreResult<()> {
                let _writer = self.writer().await;
                let sql = format!(
                    "insert into users ({USER_COLUMNS}) values \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                );
                bind_user!(sqlx::query(&sql), u).execute(self.pool()).await?;
                Ok(())
            }

            async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
                let sql = format!("select {USER_COLUMNS} from users where user_id = $1");
                Ok(sqlx::query_as::<_, rows::UserRow>(&sql)
                    .bind(user_id)
                    .fetch_optional(self.pool())
                    .await?
                    .map(User::from))
            }

            async fn get_user_by_email(
                &self,
                connection: &str,
                email: &str,
            ) -> StoreResult<Option<User>> {
                let sql = format!(
                    "select {USER_COLUMNS} from users where connection = $1 and email = $2"
                );
                Ok(sqlx::query_as::<_, rows::UserRow>(&sql)
                    .bind(connection)
                    .bind(email)
                    .fetch_optional(self.pool())
                    .await?
                    .map(User::from))
            }

            async fn list_users(&self, page: Page) -> StoreResult<Vec<User>> {
                let sql = format!(
                    "select {USER_COLUMNS} from users \
                     order by created_at, user_id limit $1 offset $2"
                );
                Ok(sqlx::query_as::<_, rows::UserRow>(&sql)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(self.pool())
                    .await?
                    .into_iter()
                    .map(User::from)
                    .collect())
            }

            async fn count_users(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("select count(*) from users")
                    .fetch_one(self.pool())
                    .await?)
            }

            async fn update_user(&self, u: &User) -> StoreResult<bool> {
                let _writer = self.writer().await;
                let sql = "update users set connection = $2, email = $3, email_verified = $4, \
                     name = $5, nickname = $6, password_hash = $7, blocked = $8, \
                     logins_count = $9, last_login = $10, password_changed_at = $11, \
                     created_at = $12, updated_at = $13 where user_id = $1";
                let done = bind_user!(sqlx::query(sql), u)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_user(&self, user_id: &str) -> StoreResult<bool> {
                let _writer = self.writer().await;
                let done = sqlx::query("delete from users where user_id = $1")
                    .bind(user_id)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
                let sql = format!(
                    "select {SIGNING_KEY_COLUMNS} from signing_keys order by activates_at, kid"
                );
                Ok(sqlx::query_as::<_, rows::SigningKeyRow>(&sql)
                    .fetch_all(self.pool())
                    .await?
                    .into_iter()
                    .map(SigningKeyRecord::from)
                    .collect())
            }

            async fn insert_signing_key(&self, k: &SigningKeyRecord) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                insert_key(&mut *tx, k).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn rotate_signing_key(
                &self,
                k: &SigningKeyRecord,
                superseded: &[String],
                published_until: Timestamp,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                for kid in superseded {
                    sqlx::query(
                        "update signing_keys set published_until = $2 \
                         where kid = $1 and published_until is null",
                    )
                    .bind(kid)
                    .bind(published_until)
                    .execute(&mut *tx)
                    .await?;
                }
                insert_key(&mut *tx, k).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn purge_signing_keys(&self, now: Timestamp) -> StoreResult<u64> {
                let _writer = self.writer().await;
                let done = sqlx::query(
                    "delete from signing_keys where published_until is not null \
                     and published_until < $1",
                )
                .bind(now)
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected())
            }

            async fn api_signing_algs(&self) -> StoreResult<Vec<String>> {
                Ok(sqlx::query_scalar("select distinct signing_alg from resource_servers")
                    .fetch_all(self.pool())
                    .await?)
            }
        }

        async fn insert_key<'e, E>(executor: E, k: &SigningKeyRecord) -> StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let sql = format!(
                "insert into signing_keys ({SIGNING_KEY_COLUMNS}) \
                 values ($1, $2, $3, $4, $5, $6, $7)"
            );
            sqlx::query(&sql)
                .bind(&k.kid)
                .bind(&k.alg)
                .bind(&k.public_jwk)
                .bind(&k.private_key)
                .bind(k.created_at)
                .bind(k.activates_at)
                .bind(k.published_until)
                .execute(executor)
                .await?;
            Ok(())
        }
    };
}

pub(super) use {bind_client, bind_resource_server, bind_user, sql_store};

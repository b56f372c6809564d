//! The SQL of [`LoginStore`](super::LoginStore), shared by both backends like `sql.rs`.

pub(super) const SESSION_COLUMNS: &str =
    "id_hash, user_id, auth_time, created_at, last_seen_at, expires_at, ip, user_agent";
pub(super) const CODE_COLUMNS: &str = "code_hash, client_id, user_id, redirect_uri, redirect_uri_given, scope, \
     audience, nonce, code_challenge, auth_time, device, created_at, expires_at, used_at";
pub(super) const GRANT_COLUMNS: &str =
    "id, user_id, client_id, audience, scope, created_at, updated_at";
/// The grant-list filter: `$1` user, `$2` client, `$3` audience, each optional.
pub(super) const GRANT_FILTER: &str = "user_id = coalesce($1, user_id) \
     and client_id = coalesce($2, client_id) and audience = coalesce($3, audience)";
/// Revokes the live families of one grant: `$1` user, `$2` client, `$3` audience, `$4` now,
/// `$5` reason.
pub(super) const REVOKE_GRANT_FAMILIES: &str = "update refresh_families set revoked_at = $4, revoked_reason = $5 \
     where user_id = $1 and client_id = $2 and audience = $3 and revoked_at is null";

macro_rules! sql_login_store {
    ($store:ty) => {
        use crate::domain::{AuthorizationCode, Grant, Session};
        use crate::store::sql_login::*;
        use crate::store::{GrantFilter, LoginStore, TakenCode};

        #[async_trait]
        impl LoginStore for $store {
            async fn insert_session(&self, s: &Session) -> StoreResult<()> {
                let _writer = self.writer().await;
                let sql = format!(
                    "insert into sessions ({SESSION_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8)"
                );
                sqlx::query(&sql)
                    .bind(&s.id_hash)
                    .bind(&s.user_id)
                    .bind(s.auth_time)
                    .bind(s.created_at)
                    .bind(s.last_seen_at)
                    .bind(s.expires_at)
                    .bind(&s.ip)
                    .bind(&s.user_agent)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn get_session(&self, id_hash: &[u8]) -> StoreResult<Option<Session>> {
                let sql = format!("select {SESSION_COLUMNS} from sessions where id_hash = $1");
                Ok(sqlx::query_as::<_, rows::SessionRow>(&sql)
                    .bind(id_hash)
                    .fetch_optional(self.pool())
                    .await?
                    .map(Session::from))
            }

            async fn touch_session(&self, id_hash: &[u8], now: Timestamp) -> StoreResult<()> {
                let _writer = self.writer().await;
                sqlx::query("update sessions set last_seen_at = $2 where id_hash = $1")
                    .bind(id_hash)
                    .bind(now)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn delete_session(&self, id_hash: &[u8]) -> StoreResult<bool> {
                let _writer = self.writer().await;
                let done = sqlx::query("delete from sessions where id_hash = $1")
                    .bind(id_hash)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn list_user_sessions(&self, user_id: &str) -> StoreResult<Vec<Session>> {
                let sql = format!(
                    "select {SESSION_COLUMNS} from sessions where user_id = $1 order by created_at"
                );
                Ok(sqlx::query_as::<_, rows::SessionRow>(&sql)
                    .bind(user_id)
                    .fetch_all(self.pool())
                    .await?
                    .into_iter()
                    .map(Session::from)
                    .collect())
            }

            async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
                let _writer = self.writer().await;
                let done = sqlx::query("delete from sessions where user_id = $1")
                    .bind(user_id)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected())
            }

            async fn insert_code(&self, c: &AuthorizationCode) -> StoreResult<()> {
                let _writer = self.writer().await;
                let sql = format!(
                    "insert into authorization_codes ({CODE_COLUMNS}) values \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                );
                sqlx::query(&sql)
                    .bind(&c.code_hash)
                    .bind(&c.client_id)
                    .bind(&c.user_id)
                    .bind(&c.redirect_uri)
                    .bind(c.redirect_uri_given)
                    .bind(&c.scope)
                    .bind(&c.audience)
                    .bind(&c.nonce)
                    .bind(&c.code_challenge)
                    .bind(c.auth_time)
                    .bind(&c.device)
                    .bind(c.created_at)
                    .bind(c.expires_at)
                    .bind(c.used_at)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn take_code(&self, code_hash: &[u8], now: Timestamp) -> StoreResult<TakenCode> {
                let _writer = self.writer().await;
                let sql = format!(
                    "update authorization_codes set used_at = $2 \
                     where code_hash = $1 and used_at is null returning {CODE_COLUMNS}"
                );
                let taken = sqlx::query_as::<_, rows::CodeRow>(&sql)
                    .bind(code_hash)
                    .bind(now)
                    .fetch_optional(self.pool())
                    .await?;
                if let Some(row) = taken {
                    return Ok(TakenCode::Fresh(row.into()));
                }
                let sql =
                    format!("select {CODE_COLUMNS} from authorization_codes where code_hash = $1");
                Ok(sqlx::query_as::<_, rows::CodeRow>(&sql)
                    .bind(code_hash)
                    .fetch_optional(self.pool())
                    .await?
                    .map_or(TakenCode::Unknown, |row| TakenCode::Replayed(row.into())))
            }

            async fn get_grant(
                &self,
                user_id: &str,
                client_id: &str,
                audience: &str,
            ) -> StoreResult<Option<Grant>> {
                let sql = format!(
                    "select {GRANT_COLUMNS} from grants \
                     where user_id = $1 and client_id = $2 and audience = $3"
                );
                sqlx::query_as::<_, rows::GrantRow>(&sql)
                    .bind(user_id)
                    .bind(client_id)
                    .bind(audience)
                    .fetch_optional(self.pool())
                    .await?
                    .map(Grant::try_from)
                    .transpose()
            }

            async fn upsert_grant(&self, g: &Grant) -> StoreResult<()> {
                let _writer = self.writer().await;
                let sql = format!(
                    "insert into grants ({GRANT_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7) \
                     on conflict (user_id, client_id, audience) do update \
                     set scope = excluded.scope, updated_at = excluded.updated_at"
                );
                sqlx::query(&sql)
                    .bind(&g.id)
                    .bind(&g.user_id)
                    .bind(&g.client_id)
                    .bind(&g.audience)
                    .bind(rows::to_json(&g.scope))
                    .bind(g.created_at)
                    .bind(g.updated_at)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn get_grant_by_id(&self, id: &str) -> StoreResult<Option<Grant>> {
                let sql = format!("select {GRANT_COLUMNS} from grants where id = $1");
                sqlx::query_as::<_, rows::GrantRow>(&sql)
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await?
                    .map(Grant::try_from)
                    .transpose()
            }

            async fn list_grants(
                &self,
                filter: &GrantFilter,
                page: Page,
            ) -> StoreResult<Vec<Grant>> {
                let sql = format!(
                    "select {GRANT_COLUMNS} from grants where {GRANT_FILTER} \
                     order by created_at, id limit $4 offset $5"
                );
                let rows = sqlx::query_as::<_, rows::GrantRow>(&sql)
                    .bind(&filter.user_id)
                    .bind(&filter.client_id)
                    .bind(&filter.audience)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(self.pool())
                    .await?;
                rows::convert_all(rows)
            }

            async fn count_grants(&self, filter: &GrantFilter) -> StoreResult<i64> {
                let sql = format!("select count(*) from grants where {GRANT_FILTER}");
                Ok(sqlx::query_scalar(&sql)
                    .bind(&filter.user_id)
                    .bind(&filter.client_id)
                    .bind(&filter.audience)
                    .fetch_one(self.pool())
                    .await?)
            }

            async fn withdraw_grant(
                &self,
                id: &str,
                now: Timestamp,
                reason: &str,
            ) -> StoreResult<Option<(Grant, u64)>> {
                let mut tx = self.begin_write().await?;
                let sql = format!("delete from grants where id = $1 returning {GRANT_COLUMNS}");
                let row = sqlx::query_as::<_, rows::GrantRow>(&sql)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    tx.commit().await?;
                    return Ok(None);
                };
                let grant = Grant::try_from(row)?;
                let revoked = sqlx::query(REVOKE_GRANT_FAMILIES)
                    .bind(&grant.user_id)
                    .bind(&grant.client_id)
                    .bind(&grant.audience)
                    .bind(now)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(Some((grant, revoked)))
            }

            async fn withdraw_user_grants(
                &self,
                user_id: &str,
                now: Timestamp,
                reason: &str,
            ) -> StoreResult<Vec<(Grant, u64)>> {
                let mut tx = self.begin_write().await?;
                let sql =
                    format!("delete from grants where user_id = $1 returning {GRANT_COLUMNS}");
                let rows = sqlx::query_as::<_, rows::GrantRow>(&sql)
                    .bind(user_id)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let grant = Grant::try_from(row)?;
                    let revoked = sqlx::query(REVOKE_GRANT_FAMILIES)
                        .bind(&grant.user_id)
                        .bind(&grant.client_id)
                        .bind(&grant.audience)
                        .bind(now)
                        .bind(reason)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    out.push((grant, revoked));
                }
                tx.commit().await?;
                out.sort_by(|a, b| (a.0.created_at, &a.0.id).cmp(&(b.0.created_at, &b.0.id)));
                Ok(out)
            }

            async fn record_login(&self, user_id: &str, now: Timestamp) -> StoreResult<()> {
                let _writer = self.writer().await;
                sqlx::query(
                    "update users set logins_count = logins_count + 1, last_login = $2 \
                     where user_id = $1",
                )
                .bind(user_id)
                .bind(now)
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn purge_expired_logins(&self, now: Timestamp, limit: i64) -> StoreResult<u64> {
                let sessions = self
                    .purge_batch(
                        "delete from sessions where id_hash in \
                         (select id_hash from sessions where expires_at < $1 limit $2)",
                        now,
                        limit,
                    )
                    .await?;
                let codes = self
                    .purge_batch(
                        "delete from authorization_codes where code_hash in \
                         (select code_hash from authorization_codes where expires_at < $1 \
                          limit $2)",
                        now,
                        limit,
                    )
                    .await?;
                Ok(sessions + codes)
            }
        }
    };
}

pub(super) use sql_login_store;

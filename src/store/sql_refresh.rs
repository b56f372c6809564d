//! The SQL of [`RefreshStore`](super::RefreshStore). The exchange statement is shared; each
//! backend wraps it (PostgreSQL joins the user into the same statement, SQLite reads it in the
//! same in-process transaction, as its `RETURNING` cannot name joined tables).

pub(super) const FAMILY_COLUMNS: &str = "id, user_id, client_id, audience, scope, device, rotating, \
     generation, rotated_at, leeway, created_at, expires_at, idle_lifetime, last_exchanged_at, \
     auth_time, auth_policy_version, code_hash, initial_ip, initial_user_agent, last_ip, \
     last_user_agent, last_outcome, revoked_at, revoked_reason";

/// The same columns qualified with the `f` alias, for statements that join.
macro_rules! f_family_columns {
    () => {
        "f.id, f.user_id, f.client_id, f.audience, f.scope, f.device, f.rotating, f.generation, \
         f.rotated_at, f.leeway, f.created_at, f.expires_at, f.idle_lifetime, \
         f.last_exchanged_at, f.auth_time, f.auth_policy_version, f.code_hash, f.initial_ip, \
         f.initial_user_agent, f.last_ip, f.last_user_agent, f.last_outcome, f.revoked_at, \
         f.revoked_reason"
    };
}

/// What the exchange answers besides the family: the user (`u`, with a `u_` prefix) and the
/// API's token settings (`r`), as [`FamilyUserRow`](super::rows::FamilyUserRow) reads them.
macro_rules! exchange_user_api_columns {
    () => {
        "u.connection as u_connection, u.email as u_email, \
         u.email_verified as u_email_verified, u.name as u_name, u.nickname as u_nickname, \
         u.blocked as u_blocked, u.logins_count as u_logins_count, \
         u.last_login as u_last_login, u.password_changed_at as u_password_changed_at, \
         u.created_at as u_created_at, u.updated_at as u_updated_at, \
         r.signing_alg as r_signing_alg, r.token_lifetime as r_token_lifetime"
    };
}

// The exchange's rules, each written once. A rule is SQL over the family `f`, its user `u` and its
// API `r`; the request's values come in as SQL text (`$n` for one exchange, a column of the batch
// row `q` for PostgreSQL's batch, see `pg_exchange`), so every statement that applies a rule is
// assembled from the same text at compile time. `FamilyChecks` is the typed form of their answers.

/// The presented generation is the current one.
macro_rules! current {
    ($generation:literal) => {
        concat!("f.generation = ", $generation)
    };
}

/// The generation before the current one, presented again within the leeway after a rotation:
/// answered with the current generation again.
macro_rules! leeway_retry {
    ($generation:literal, $now:literal) => {
        concat!(
            "(f.rotating and f.generation = ",
            $generation,
            " + 1 and f.leeway > 0 ",
            "and f.rotated_at is not null and ",
            $now,
            " - f.rotated_at <= f.leeway)"
        )
    };
}

/// What an exchange accepts (anything else of a live family is reuse).
macro_rules! accepted {
    ($generation:literal, $now:literal) => {
        concat!(
            "(",
            current!($generation),
            " or ",
            leeway_retry!($generation, $now),
            ")"
        )
    };
}

/// The family is the client's and the generation one it reached (user and API: joined).
macro_rules! known_to {
    ($client:literal, $generation:literal) => {
        concat!(
            "f.client_id = ",
            $client,
            " and ",
            $generation,
            " <= f.generation"
        )
    };
}

macro_rules! not_revoked {
    () => {
        "f.revoked_at is null"
    };
}

macro_rules! within_lifetime {
    ($now:literal) => {
        concat!("(f.expires_at is null or f.expires_at > ", $now, ")")
    };
}

/// Idle lifetime, measured from the last accepted exchange (or the issue).
macro_rules! within_idle_lifetime {
    ($now:literal) => {
        concat!(
            "(f.idle_lifetime is null or f.last_exchanged_at + f.idle_lifetime > ",
            $now,
            ")"
        )
    };
}

macro_rules! user_active {
    () => {
        "u.blocked = false"
    };
}

/// With the password rule on, no password change since the family was created.
macro_rules! password_unchanged {
    ($password_rule:literal) => {
        concat!(
            "(",
            $password_rule,
            " = false or u.password_changed_at is null ",
            "or u.password_changed_at <= f.created_at)"
        )
    };
}

/// Created under the client's current `auth_policy_version` (the authenticated client's, passed in).
macro_rules! policy_current {
    ($policy_version:literal) => {
        concat!("f.auth_policy_version >= ", $policy_version)
    };
}

/// The exchange's `SET … FROM … WHERE`: every rule must hold; then the family rotates (current
/// generation, rotating), is marked exchanged (non-rotating), answers the current generation
/// again (leeway retry), or is revoked (reuse). Every SET expression reads the row as it was, so
/// the outcome is decided once; under concurrency the row lock (PostgreSQL) or the write lock
/// (SQLite) makes the second exchange see the first one's result. `$from` is what else the
/// statement reads from (PostgreSQL's batch rows), the rest are the request's values.
macro_rules! exchange_set_where {
    (from: $from:literal, family: $family:literal, generation: $generation:literal,
     now: $now:literal, ip: $ip:literal, user_agent: $user_agent:literal,
     password_rule: $password_rule:literal, client: $client:literal,
     policy_version: $policy_version:literal) => {
        concat!(
            "set last_outcome = case when ",
            current!($generation),
            " then (case when f.rotating then 'rotated' else 'exchanged' end) when ",
            leeway_retry!($generation, $now),
            " then 'leeway' else 'reused' end, ",
            "generation = case when ",
            current!($generation),
            " and f.rotating then f.generation + 1 else f.generation end, ",
            "rotated_at = case when ",
            current!($generation),
            " and f.rotating then ",
            $now,
            " else f.rotated_at end, ",
            "last_exchanged_at = case when ",
            accepted!($generation, $now),
            " then ",
            $now,
            " else f.last_exchanged_at end, ",
            "last_ip = ",
            $ip,
            ", last_user_agent = ",
            $user_agent,
            ", ",
            "revoked_at = case when ",
            accepted!($generation, $now),
            " then null else ",
            $now,
            " end, ",
            "revoked_reason = case when ",
            accepted!($generation, $now),
            " then null else 'reuse' end ",
            "from ",
            $from,
            "users u, resource_servers r ",
            "where f.id = ",
            $family,
            " and u.user_id = f.user_id and r.identifier = f.audience",
            " and ",
            known_to!($client, $generation),
            " and ",
            not_revoked!(),
            " and ",
            within_lifetime!($now),
            " and ",
            within_idle_lifetime!($now),
            " and ",
            user_active!(),
            " and ",
            password_unchanged!($password_rule),
            " and ",
            policy_current!($policy_version)
        )
    };
}

/// One exchange: `$1` family id, `$2` presented generation, `$3` now, `$4` ip, `$5` user agent,
/// `$6` whether a password change since creation invalidates the family, `$7` the authenticated
/// client, `$8` its `auth_policy_version` ([`bind_exchange`] binds them).
macro_rules! one_exchange_set_where {
    () => {
        exchange_set_where!(
            from: "", family: "$1", generation: "$2", now: "$3", ip: "$4", user_agent: "$5",
            password_rule: "$6", client: "$7", policy_version: "$8"
        )
    };
}

/// SQLite's exchange (it reads the user and API after, in the same transaction).
pub(super) const EXCHANGE_RETURNING_ID: &str = concat!(
    "update refresh_families as f ",
    one_exchange_set_where!(),
    " returning id"
);

/// A family with its user's row and its API's settings, by id (`$1`): what an exchange answers.
pub(super) const EXCHANGED_BY_ID: &str = concat!(
    "select ",
    f_family_columns!(),
    ", ",
    exchange_user_api_columns!(),
    " from refresh_families f join users u on u.user_id = f.user_id ",
    "join resource_servers r on r.identifier = f.audience where f.id = $1"
);

/// PostgreSQL's exchange (`pg_exchange`), the single exchange's statement over a batch: each
/// parameter is an array of the batch's values (`unnest` turns them back into rows `q`, numbered
/// by `q.idx`), and each rule reads its exchange's own row.
pub(super) const EXCHANGE_BATCH_SQL: &str = concat!(
    "update refresh_families as f ",
    exchange_set_where!(
        from: "unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], \
               $6::boolean[], $7::text[], $8::bigint[]) with ordinality as q(family_id, \
               generation, now, ip, user_agent, password_rule, client_id, policy_version, idx), ",
        family: "q.family_id", generation: "q.generation", now: "q.now", ip: "q.ip",
        user_agent: "q.user_agent", password_rule: "q.password_rule", client: "q.client_id",
        policy_version: "q.policy_version"
    ),
    " returning q.idx, ",
    f_family_columns!(),
    ", ",
    exchange_user_api_columns!()
);

/// Every rule's answer for one family and request, read without changing anything (why an
/// exchange was refused; the checks of `/delegation`), with the same parameters as one exchange
/// (`$4` and `$5` unused). No row: no such family.
pub(super) const FAMILY_CHECKS: &str = concat!(
    "select u.user_id is not null and r.identifier is not null and ",
    known_to!("$7", "$2"),
    " as known, ",
    not_revoked!(),
    " as not_revoked, ",
    within_lifetime!("$3"),
    " as within_lifetime, ",
    within_idle_lifetime!("$3"),
    " as within_idle_lifetime, ",
    "coalesce(",
    user_active!(),
    ", false) as user_active, ",
    password_unchanged!("$6"),
    " as password_unchanged, ",
    policy_current!("$8"),
    " as policy_current, ",
    current!("$2"),
    " as current, ",
    leeway_retry!("$2", "$3"),
    " as leeway_retry ",
    "from refresh_families f left join users u on u.user_id = f.user_id ",
    "left join resource_servers r on r.identifier = f.audience where f.id = $1"
);

/// Live families of one user: `$1` user, `$2` client (optional), `$3` rotating (optional), `$4`
/// now (expired families are not live).
pub(super) const LIVE_FAMILY_FILTER: &str = concat!(
    "f.user_id = $1 and f.client_id = coalesce($2, f.client_id) ",
    "and f.rotating = coalesce($3, f.rotating) and ",
    not_revoked!(),
    " and ",
    within_lifetime!("$4"),
    " and ",
    within_idle_lifetime!("$4")
);

/// A live family by id: `$1` id, `$2` now.
pub(super) const LIVE_FAMILY_BY_ID: &str = concat!(
    "f.id = $1 and ",
    not_revoked!(),
    " and ",
    within_lifetime!("$2"),
    " and ",
    within_idle_lifetime!("$2")
);

/// The idle sweep's delete: families with `$1` < id <= `$2` whose idle lifetime ran out before
/// `$3` (the retention cutoff).
pub(super) const PURGE_IDLE_FAMILIES: &str = concat!(
    "delete from refresh_families as f where f.id > $1 and f.id <= $2 and not ",
    within_idle_lifetime!("$3")
);

/// Rows per statement of a bulk family insert: 24 parameters a row stays well under both
/// backends' limits on bound parameters (PostgreSQL 65,535; SQLite 32,766).
pub(super) const INSERT_FAMILIES_CHUNK: usize = 500;

pub(super) const AUDIT_COLUMNS: &str =
    "id, type, date, description, client_id, user_id, ip, user_agent, details";
/// The audit-event filter: `$1` type, `$2` user, `$3` client, each optional.
pub(super) const AUDIT_FILTER: &str = "type = coalesce($1, type) \
     and ($2 is null or user_id = $2) and ($3 is null or client_id = $3)";

macro_rules! sql_refresh_store {
    ($store:ty, $db:ty) => {
        use crate::domain::{AuditEvent, Family};
        use crate::store::sql_refresh::*;
        use crate::store::{AuditFilter, FamilyFilter, RefreshStore};

        /// `insert into refresh_families` with one row of values per family.
        fn families_insert(families: &[Family]) -> sqlx::QueryBuilder<'_, $db> {
            let mut query = sqlx::QueryBuilder::<$db>::new(format!(
                "insert into refresh_families ({FAMILY_COLUMNS}) "
            ));
            query.push_values(families, |mut row, f| {
                row.push_bind(&f.id)
                    .push_bind(&f.user_id)
                    .push_bind(&f.client_id)
                    .push_bind(&f.audience)
                    .push_bind(&f.scope)
                    .push_bind(&f.device)
                    .push_bind(f.rotating)
                    .push_bind(f.generation)
                    .push_bind(f.rotated_at)
                    .push_bind(f.leeway)
                    .push_bind(f.created_at)
                    .push_bind(f.expires_at)
                    .push_bind(f.idle_lifetime)
                    .push_bind(f.last_exchanged_at)
                    .push_bind(f.auth_time)
                    .push_bind(f.auth_policy_version)
                    .push_bind(&f.code_hash)
                    .push_bind(&f.initial_ip)
                    .push_bind(&f.initial_user_agent)
                    .push_bind(&f.last_ip)
                    .push_bind(&f.last_user_agent)
                    .push_bind(f.last_outcome.as_str())
                    .push_bind(f.revoked_at)
                    .push_bind(&f.revoked_reason);
            });
            query
        }

        #[async_trait]
        impl RefreshStore for $store {
            async fn create_family(
                &self,
                f: &Family,
                cap: i64,
                replace_device: bool,
            ) -> StoreResult<(u64, u64)> {
                let mut tx = self.begin_write().await?;
                let replaced = if replace_device {
                    // Serialise one user's device replacements: lock the user's row first (a
                    // no-op on SQLite, whose write transactions are already serial), so a racing
                    // replacement waits and then sees, and revokes, this family.
                    sqlx::query("update users set user_id = user_id where user_id = $1")
                        .bind(&f.user_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "update refresh_families set revoked_at = $4, \
                         revoked_reason = 'device_replaced' where user_id = $1 \
                         and client_id = $2 and device = $3 and revoked_at is null",
                    )
                    .bind(&f.user_id)
                    .bind(&f.client_id)
                    .bind(&f.device)
                    .bind(f.created_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                } else {
                    0
                };
                families_insert(std::slice::from_ref(f))
                    .build()
                    .execute(&mut *tx)
                    .await?;
                let capped = sqlx::query(
                    "update refresh_families set revoked_at = $4, revoked_reason = 'family_limit' \
                     where id in (select id from refresh_families where user_id = $1 \
                     and client_id = $2 and revoked_at is null \
                     order by created_at desc, seq desc nulls last, id desc \
                     limit 1000000000 offset $3)",
                )
                .bind(&f.user_id)
                .bind(&f.client_id)
                .bind(cap)
                .bind(f.created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok((replaced, capped.rows_affected()))
            }

            async fn exchange_family(
                &self,
                req: &crate::store::ExchangeRequest<'_>,
            ) -> StoreResult<crate::store::ExchangeAnswer> {
                use crate::domain::Refusal;
                use crate::store::ExchangeAnswer;
                if let Some(done) = self.exchange_impl(req).await? {
                    return Ok(ExchangeAnswer::Done(Box::new(done)));
                }
                // Off the hot path: which rule did not hold. All holding means the family
                // changed in between (a user unblocked): refused all the same, as unknown.
                let checks = self.family_checks(req).await?;
                Ok(ExchangeAnswer::Refused(
                    checks.and_then(|c| c.refusal()).unwrap_or(Refusal::Unknown),
                ))
            }

            async fn read_exchange(
                &self,
                req: &crate::store::ExchangeRequest<'_>,
            ) -> StoreResult<Option<crate::store::ExchangeRead>> {
                let Some(checks) = self.family_checks(req).await? else {
                    return Ok(None);
                };
                // A refused family answers its refusal alone (its user or API may be gone).
                let exchanged = if checks.refusal().is_none() {
                    sqlx::query_as::<_, rows::FamilyUserRow>(EXCHANGED_BY_ID)
                        .bind(req.family_id)
                        .fetch_optional(self.pool())
                        .await?
                        .map(|row| row.split().map(Box::new))
                        .transpose()?
                } else {
                    None
                };
                Ok(Some(crate::store::ExchangeRead { checks, exchanged }))
            }

            async fn family_checks(
                &self,
                req: &crate::store::ExchangeRequest<'_>,
            ) -> StoreResult<Option<crate::domain::FamilyChecks>> {
                Ok(bind_exchange!(
                    sqlx::query_as::<_, rows::FamilyChecksRow>(FAMILY_CHECKS),
                    req
                )
                .fetch_optional(self.pool())
                .await?
                .map(Into::into))
            }

            async fn get_family(&self, id: &str) -> StoreResult<Option<Family>> {
                let sql = format!("select {FAMILY_COLUMNS} from refresh_families where id = $1");
                sqlx::query_as::<_, rows::FamilyRow>(&sql)
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await?
                    .map(Family::try_from)
                    .transpose()
            }

            async fn get_live_family(
                &self,
                id: &str,
                now: Timestamp,
            ) -> StoreResult<Option<Family>> {
                let sql = format!(
                    "select {FAMILY_COLUMNS} from refresh_families f where {LIVE_FAMILY_BY_ID}"
                );
                sqlx::query_as::<_, rows::FamilyRow>(&sql)
                    .bind(id)
                    .bind(now)
                    .fetch_optional(self.pool())
                    .await?
                    .map(Family::try_from)
                    .transpose()
            }

            async fn revoke_families_by_code(
                &self,
                code_hash: &[u8],
                now: Timestamp,
                reason: &str,
            ) -> StoreResult<u64> {
                let _writer = self.writer().await;
                let done = sqlx::query(
                    "update refresh_families set revoked_at = $2, revoked_reason = $3 \
                     where code_hash = $1 and revoked_at is null",
                )
                .bind(code_hash)
                .bind(now)
                .bind(reason)
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected())
            }

            async fn revoke_policy_families(
                &self,
                client_id: &str,
                policy_version: i64,
                now: Timestamp,
            ) -> StoreResult<u64> {
                let _writer = self.writer().await;
                let done = sqlx::query(
                    "update refresh_families set revoked_at = $3, \
                     revoked_reason = 'auth_policy_raised' where client_id = $1 \
                     and revoked_at is null and auth_policy_version < $2",
                )
                .bind(client_id)
                .bind(policy_version)
                .bind(now)
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected())
            }

            async fn revoke_client_families(
                &self,
                client_id: &str,
                rotating: Option<bool>,
                now: Timestamp,
                reason: &str,
            ) -> StoreResult<u64> {
                let _writer = self.writer().await;
                let done = sqlx::query(
                    "update refresh_families set revoked_at = $3, revoked_reason = $4 \
                     where client_id = $1 and revoked_at is null \
                     and rotating = coalesce($2, rotating)",
                )
                .bind(client_id)
                .bind(rotating)
                .bind(now)
                .bind(reason)
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected())
            }

            async fn revoke_grant_families(
                &self,
                user_id: &str,
                client_id: &str,
                audience: &str,
                now: Timestamp,
                reason: &str,
            ) -> StoreResult<u64> {
                let _writer = self.writer().await;
                let done = sqlx::query(crate::store::sql_login::REVOKE_GRANT_FAMILIES)
                    .bind(user_id)
                    .bind(client_id)
                    .bind(audience)
                    .bind(now)
                    .bind(reason)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected())
            }

            async fn revoke_user_families(
                &self,
                user_id: &str,
                now: Timestamp,
                reason: &str,
            ) -> StoreResult<u64> {
                let _writer = self.writer().await;
                let done = sqlx::query(
                    "update refresh_families set revoked_at = $2, revoked_reason = $3 \
                     where user_id = $1 and revoked_at is null",
                )
                .bind(user_id)
                .bind(now)
                .bind(reason)
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected())
            }

            async fn list_live_families(
                &self,
                filter: &FamilyFilter,
                after: Option<&str>,
                page: Page,
            ) -> StoreResult<Vec<Family>> {
                let sql = format!(
                    "select {FAMILY_COLUMNS} from refresh_families f where {LIVE_FAMILY_FILTER} \
                     and id > coalesce($5, '') order by id limit $6 offset $7"
                );
                sqlx::query_as::<_, rows::FamilyRow>(&sql)
                    .bind(&filter.user_id)
                    .bind(&filter.client_id)
                    .bind(filter.rotating)
                    .bind(filter.now)
                    .bind(after)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(self.pool())
                    .await?
                    .into_iter()
                    .map(Family::try_from)
                    .collect()
            }

            async fn count_live_families(&self, filter: &FamilyFilter) -> StoreResult<i64> {
                let sql =
                    format!("select count(*) from refresh_families f where {LIVE_FAMILY_FILTER}");
                Ok(sqlx::query_scalar(&sql)
                    .bind(&filter.user_id)
                    .bind(&filter.client_id)
                    .bind(filter.rotating)
                    .bind(filter.now)
                    .fetch_one(self.pool())
                    .await?)
            }

            async fn revoke_family(
                &self,
                id: &str,
                now: Timestamp,
                reason: &str,
            ) -> StoreResult<Option<Family>> {
                let _writer = self.writer().await;
                let sql = format!(
                    "update refresh_families set revoked_at = $2, revoked_reason = $3 \
                     where id = $1 and revoked_at is null returning {FAMILY_COLUMNS}"
                );
                sqlx::query_as::<_, rows::FamilyRow>(&sql)
                    .bind(id)
                    .bind(now)
                    .bind(reason)
                    .fetch_optional(self.pool())
                    .await?
                    .map(Family::try_from)
                    .transpose()
            }

            async fn insert_audit_event(&self, e: &AuditEvent) -> StoreResult<()> {
                let _writer = self.writer().await;
                sqlx::query(
                    "insert into audit_events (id, type, date, description, client_id, user_id, \
                     ip, user_agent, details) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&e.id)
                .bind(e.kind.code())
                .bind(e.date)
                .bind(&e.description)
                .bind(&e.client_id)
                .bind(&e.user_id)
                .bind(&e.ip)
                .bind(&e.user_agent)
                .bind(&e.details)
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn purge_old_records(&self, before: Timestamp, limit: i64) -> StoreResult<u64> {
                let events = self
                    .purge_batch(
                        "delete from audit_events where id in \
                         (select id from audit_events where date < $1 limit $2)",
                        before,
                        limit,
                    )
                    .await?;
                let families = self
                    .purge_batch(
                        "delete from refresh_families where id in \
                         (select id from refresh_families where revoked_at < $1 \
                          or expires_at < $1 limit $2)",
                        before,
                        limit,
                    )
                    .await?;
                Ok(events + families)
            }

            async fn purge_idle_families(
                &self,
                after: &str,
                before: Timestamp,
                scan: i64,
            ) -> StoreResult<(u64, Option<String>)> {
                let (last, scanned): (Option<String>, i64) = sqlx::query_as(
                    "select max(id), count(*) from (select id from refresh_families \
                     where id > $1 order by id limit $2) as scanned",
                )
                .bind(after)
                .bind(scan)
                .fetch_one(self.pool())
                .await?;
                let Some(last) = last else {
                    return Ok((0, None));
                };
                let _writer = self.writer().await;
                let purged = sqlx::query(PURGE_IDLE_FAMILIES)
                    .bind(after)
                    .bind(&last)
                    .bind(before)
                    .execute(self.pool())
                    .await?
                    .rows_affected();
                Ok((purged, (scanned >= scan).then_some(last)))
            }

            async fn find_audit_events(
                &self,
                filter: &AuditFilter,
                page: Page,
            ) -> StoreResult<Vec<AuditEvent>> {
                let sql = format!(
                    "select {AUDIT_COLUMNS} from audit_events where {AUDIT_FILTER} \
                     order by date desc, id desc limit $4 offset $5"
                );
                sqlx::query_as::<_, rows::AuditRow>(&sql)
                    .bind(&filter.kind)
                    .bind(&filter.user_id)
                    .bind(&filter.client_id)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(self.pool())
                    .await?
                    .into_iter()
                    .map(AuditEvent::try_from)
                    .collect()
            }

            async fn count_audit_events(&self, filter: &AuditFilter) -> StoreResult<i64> {
                let sql = format!("select count(*) from audit_events where {AUDIT_FILTER}");
                Ok(sqlx::query_scalar(&sql)
                    .bind(&filter.kind)
                    .bind(&filter.user_id)
                    .bind(&filter.client_id)
                    .fetch_one(self.pool())
                    .await?)
            }

            async fn get_audit_event(&self, id: &str) -> StoreResult<Option<AuditEvent>> {
                let sql = format!("select {AUDIT_COLUMNS} from audit_events where id = $1");
                sqlx::query_as::<_, rows::AuditRow>(&sql)
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await?
                    .map(AuditEvent::try_from)
                    .transpose()
            }
        }

        #[async_trait]
        impl crate::store::SupportStore for $store {
            async fn count_family_rows(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("select count(*) from refresh_families")
                    .fetch_one(self.pool())
                    .await?)
            }

            async fn insert_families(&self, families: &[Family]) -> StoreResult<u64> {
                if families.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.begin_write().await?;
                let mut inserted = 0;
                for chunk in families.chunks(INSERT_FAMILIES_CHUNK) {
                    inserted += families_insert(chunk)
                        .build()
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(inserted)
            }

            async fn list_audit_events(
                &self,
                kind: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<AuditEvent>> {
                sqlx::query_as::<_, rows::AuditRow>(
                    "select id, type, date, description, client_id, user_id, ip, user_agent, \
                     details from audit_events where type = coalesce($1, type) \
                     order by date desc, id desc limit $2",
                )
                .bind(kind)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(AuditEvent::try_from)
                .collect()
            }
        }
    };
}

pub(super) use sql_refresh_store;

/// Binds an [`ExchangeRequest`](super::ExchangeRequest) to the parameters of
/// one exchange and [`FAMILY_CHECKS`].
macro_rules! bind_exchange {
    ($query:expr, $req:expr) => {
        $query
            .bind($req.family_id)
            .bind($req.generation)
            .bind($req.now)
            .bind($req.ip)
            .bind($req.user_agent)
            .bind($req.password_rule)
            .bind($req.client_id)
            .bind($req.policy_version)
    };
}

pub(super) use bind_exchange;

#[cfg(test)]
mod tests {
    use crate::domain::RefreshOutcome;

    #[test]
    fn the_exchange_writes_only_outcomes_the_domain_reads() {
        // The statement names the outcomes as SQL literals; each must be a RefreshOutcome's
        // stored form, and every outcome an exchange can reach must be among them.
        let sql = super::EXCHANGE_RETURNING_ID;
        let start = sql.find("last_outcome = case").expect("the outcome's CASE");
        let case = &sql[start..];
        let case = &case[..case.find(" end,").expect("its end")];
        let written: Vec<&str> = case
            .split('\'')
            .skip(1)
            .step_by(2)
            .filter(|s| s.chars().all(|c| c.is_ascii_lowercase()))
            .collect();
        for literal in &written {
            assert!(RefreshOutcome::parse(literal).is_some(), "{literal}");
        }
        for outcome in RefreshOutcome::ALL {
            let reachable = outcome != RefreshOutcome::Issued;
            assert_eq!(
                written.contains(&outcome.as_str()),
                reachable,
                "{}",
                outcome.as_str()
            );
        }
    }
}

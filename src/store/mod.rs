//! The store: one async trait, two implementations over sqlx (PostgreSQL and SQLite). Each method
//! is one unit of work; transactions live inside the implementations.

mod backend;
mod client_cache;
mod pg_exchange;
mod postgres;
mod rows;
mod sql;
mod sql_login;
mod sql_refresh;
mod sqlite;
mod write_tx;

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::domain::{
    AuditEvent, AuthorizationCode, Client, ClientGrant, Family, Grant, ResourceServer, Session,
    User,
};

pub use client_cache::CLIENT_CACHE_TTL;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (the row already exists).
    #[error("conflict with an existing row")]
    Conflict,
    /// A referenced row does not exist.
    #[error("a referenced row does not exist")]
    MissingReference,
    /// The database cannot be reached (pool timeout, connection refused).
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database cannot store a text the request carried (PostgreSQL refuses the NUL
    /// character: SQLSTATE 22021). The client's mistake, not the server's.
    #[error("the request carries a text the database cannot store: {0}")]
    InvalidText(sqlx::Error),
    /// A stored value could not be decoded (corrupt JSON, unknown enum value).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Self::MissingReference,
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => {
                Self::InvalidText(e)
            }
            sqlx::Error::Database(db) if db.code().as_deref().is_some_and(unavailable_code) => {
                Self::Unavailable(e)
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e),
            _ => Self::Database(e),
        }
    }
}

/// Database error codes that mean "not now" rather than "wrong": PostgreSQL's connection
/// exceptions (class 08), shutdowns and start-ups (57P01–57P03), too many connections (53300);
/// SQLite's busy and locked (5, 6 and their extended codes) once its busy timeout has passed.
fn unavailable_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        // SQLite's codes are numbers below 10,000; PostgreSQL's always have five characters.
        || (code.len() < 5
            && code
                .parse::<u32>()
                .is_ok_and(|sqlite| matches!(sqlite & 0xff, 5 | 6)))
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One page of a list: `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

impl Page {
    pub const ALL: Page = Page {
        offset: 0,
        limit: i64::MAX,
    };
}

/// Filters of the client-grant list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct ClientGrantFilter {
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

/// Which live families (not revoked, not expired at `now`) a list shows.
#[derive(Debug, Clone, Default)]
pub struct FamilyFilter {
    pub user_id: String,
    pub client_id: Option<String>,
    /// Only rotating (`Some(true)`) or non-rotating (`Some(false)`) families.
    pub rotating: Option<bool>,
    pub now: Timestamp,
}

/// Filters of the consent-grant list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

/// Filters of the audit-event list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub kind: Option<String>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
}

/// A signing key as stored: the private part is encrypted (see `tokens::keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    /// The public JWK (JSON text).
    pub public_jwk: String,
    /// AES-256-GCM ciphertext of the PKCS#8 private key under a key derived from the secrets key.
    pub private_key: Vec<u8>,
    pub created_at: Timestamp,
    /// The key signs from this time on (until a newer key of its algorithm activates).
    pub activates_at: Timestamp,
    /// Once superseded: published in the JWKS until then, so that tokens it signed still verify.
    pub published_until: Option<Timestamp>,
}

/// What taking an authorization code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakenCode {
    /// The code was unused and is now marked used.
    Fresh(AuthorizationCode),
    /// The code was used before: a replay.
    Replayed(AuthorizationCode),
    Unknown,
}

/// Sessions, authorization codes and consent grants (interactive login).
#[async_trait]
pub trait LoginStore: Send + Sync + 'static {
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    async fn get_session(&self, id_hash: &[u8]) -> StoreResult<Option<Session>>;
    /// Records activity (the idle lifetime is measured from it).
    async fn touch_session(&self, id_hash: &[u8], now: Timestamp) -> StoreResult<()>;
    async fn delete_session(&self, id_hash: &[u8]) -> StoreResult<bool>;
    async fn list_user_sessions(&self, user_id: &str) -> StoreResult<Vec<Session>>;
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64>;

    async fn insert_code(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// Marks the code used and answers it, in one step: of two concurrent takes only one is
    /// `Fresh`. The used row stays until it expires so a replay is recognised.
    async fn take_code(&self, code_hash: &[u8], now: Timestamp) -> StoreResult<TakenCode>;

    async fn get_grant(
        &self,
        user_id: &str,
        client_id: &str,
        audience: &str,
    ) -> StoreResult<Option<Grant>>;
    /// Inserts the grant or replaces the scopes of the existing one.
    async fn upsert_grant(&self, grant: &Grant) -> StoreResult<()>;
    async fn get_grant_by_id(&self, id: &str) -> StoreResult<Option<Grant>>;
    /// Oldest first.
    async fn list_grants(&self, filter: &GrantFilter, page: Page) -> StoreResult<Vec<Grant>>;
    async fn count_grants(&self, filter: &GrantFilter) -> StoreResult<i64>;
    /// Withdraws consent: deletes the grant and, in the same transaction, revokes the live
    /// families of its user + client + audience. Answers the grant and how many families were
    /// revoked; `None` when there is no such grant.
    async fn withdraw_grant(
        &self,
        id: &str,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<Option<(Grant, u64)>>;
    /// [`withdraw_grant`](Self::withdraw_grant) for every grant of a user, in one transaction.
    async fn withdraw_user_grants(
        &self,
        user_id: &str,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<Vec<(Grant, u64)>>;

    /// Counts a successful login.
    async fn record_login(&self, user_id: &str, now: Timestamp) -> StoreResult<()>;
    /// Deletes expired sessions and codes, at most `limit` of each; answers how many.
    async fn purge_expired_logins(&self, now: Timestamp, limit: i64) -> StoreResult<u64>;
}

/// The inputs of one refresh exchange, for a client already authenticated (`grants`).
#[derive(Debug, Clone)]
pub struct ExchangeRequest<'a> {
    pub family_id: &'a str,
    pub generation: i64,
    pub now: Timestamp,
    pub ip: &'a str,
    pub user_agent: &'a str,
    /// A password change after the family's creation invalidates it.
    pub password_rule: bool,
    /// The authenticated client: the family must be its.
    pub client_id: &'a str,
    /// The client's `auth_policy_version`: families created under a lower one are refused.
    pub policy_version: i64,
}

/// What an exchange did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeAnswer {
    /// Every rule held: the family rotated, was exchanged, answered the leeway retry, or (a
    /// retired generation) was revoked for reuse — its `last_outcome` says which.
    Done(Box<Exchanged>),
    /// A rule did not hold; nothing changed.
    Refused(crate::domain::Refusal),
}

/// What a successful exchange statement answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchanged {
    pub family: Family,
    pub user: User,
    /// The audience API's access-token settings.
    pub signing_alg: crate::domain::SigningAlg,
    pub token_lifetime: i64,
}

/// The validate-then-commit form's read: every rule's answer and, when none refuses, what the
/// exchange would answer (the family as it is now, its user, its API's settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRead {
    pub checks: crate::domain::FamilyChecks,
    pub exchanged: Option<Box<Exchanged>>,
}

/// Refresh-token families and the audit log.
#[async_trait]
pub trait RefreshStore: Send + Sync + 'static {
    /// Inserts a family; then, in the same transaction, revokes the user's oldest live families on
    /// that client beyond `cap` (reason `family_limit`). With `replace_device` it first revokes, in
    /// the same transaction, the user's live families on that client with the same `device`
    /// (reason `device_replaced`: a legacy authorization naming a device again). Answers how many
    /// were revoked: (replaced, over the cap).
    async fn create_family(
        &self,
        family: &Family,
        cap: i64,
        replace_device: bool,
    ) -> StoreResult<(u64, u64)>;
    /// The exchange, in one round trip when it is accepted: if every rule of the exchange holds
    /// (`sql_refresh`: the client's family, not revoked, within both lifetimes, user active,
    /// password unchanged with `password_rule`, policy version current), it rotates (presented
    /// generation current), answers the current generation again (the previous one within
    /// leeway), or revokes the family (reuse), and records which in `last_outcome`. Otherwise
    /// it changes nothing and answers the first rule broken (a second read).
    async fn exchange_family(&self, req: &ExchangeRequest<'_>) -> StoreResult<ExchangeAnswer>;
    /// The validate-then-commit form, first step: the rules' answers and the family, its user and
    /// API, read without changing anything (`None`: no such family), so that the engine can run
    /// its own checks before anything is committed. The commit is
    /// [`exchange_family`](Self::exchange_family): the presented generation is its
    /// compare-and-set (it rotates only a family still at that generation, every rule checked
    /// again under the row's lock), so exactly one of racing exchanges of one token rotates and
    /// the others get the leeway answer or reuse, whatever ran in between.
    async fn read_exchange(&self, req: &ExchangeRequest<'_>) -> StoreResult<Option<ExchangeRead>>;
    /// Every rule of the exchange for this family and request, read without changing anything;
    /// `None`: no such family.
    async fn family_checks(
        &self,
        req: &ExchangeRequest<'_>,
    ) -> StoreResult<Option<crate::domain::FamilyChecks>>;
    async fn get_family(&self, id: &str) -> StoreResult<Option<Family>>;
    /// The family if it is live at `now`: not revoked, within both lifetimes (the rules that
    /// read other rows — user, password, policy — are the exchange's, not looked at here).
    async fn get_live_family(&self, id: &str, now: Timestamp) -> StoreResult<Option<Family>>;
    /// Revokes the live families started by this authorization code (a replayed code).
    async fn revoke_families_by_code(
        &self,
        code_hash: &[u8],
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<u64>;
    /// Revokes a client's live families created under an `auth_policy_version` below
    /// `policy_version` (reason `auth_policy_raised`), so that a raise takes effect on every
    /// node at once (each node's exchange also checks the version of the client it holds).
    async fn revoke_policy_families(
        &self,
        client_id: &str,
        policy_version: i64,
        now: Timestamp,
    ) -> StoreResult<u64>;
    /// Revokes a client's live families of one mode (`rotating`), or all with `None`.
    async fn revoke_client_families(
        &self,
        client_id: &str,
        rotating: Option<bool>,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<u64>;
    /// Revokes every live family of one user + client + audience (all devices).
    async fn revoke_grant_families(
        &self,
        user_id: &str,
        client_id: &str,
        audience: &str,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<u64>;
    /// Revokes every live family of a user.
    async fn revoke_user_families(
        &self,
        user_id: &str,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<u64>;
    /// Live families of a user (optionally of one client, one mode), ordered by id: after the id
    /// `after` (keyset paging) and then skipping `page.offset` rows.
    async fn list_live_families(
        &self,
        filter: &FamilyFilter,
        after: Option<&str>,
        page: Page,
    ) -> StoreResult<Vec<Family>>;
    async fn count_live_families(&self, filter: &FamilyFilter) -> StoreResult<i64>;
    /// Revokes one family if it is not revoked yet; answers it as revoked, or `None`.
    async fn revoke_family(
        &self,
        id: &str,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<Option<Family>>;
    async fn insert_audit_event(&self, event: &AuditEvent) -> StoreResult<()>;
    /// Deletes at most `limit` audit events older than `before`, and at most `limit` families
    /// revoked or expired before it; answers how many rows went.
    async fn purge_old_records(&self, before: Timestamp, limit: i64) -> StoreResult<u64>;
    /// Looks at the next `scan` families after the id `after` (in id order) and deletes those
    /// whose idle lifetime ran out before `before` (families with an absolute expiry go through
    /// [`purge_old_records`](Self::purge_old_records) too; this sweep catches the ones without).
    /// Answers how many went and the id to continue after, or `None` once the end is reached.
    /// The last exchange is not indexed (an index would cost every exchange its HOT update), so
    /// the table is swept in slices instead.
    async fn purge_idle_families(
        &self,
        after: &str,
        before: Timestamp,
        scan: i64,
    ) -> StoreResult<(u64, Option<String>)>;
    /// The newest events first, filtered.
    async fn find_audit_events(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> StoreResult<Vec<AuditEvent>>;
    async fn count_audit_events(&self, filter: &AuditFilter) -> StoreResult<i64>;
    async fn get_audit_event(&self, id: &str) -> StoreResult<Option<AuditEvent>>;
}

/// Bulk seeding and inspection for the tests and the load tools (`bench/`); the server never
/// calls it. Reach it with [`support`].
#[async_trait]
pub trait SupportStore: Send + Sync {
    /// Rows in the families table (storage must not grow with rotations).
    async fn count_family_rows(&self) -> StoreResult<i64>;
    /// Inserts families exactly as given, in one transaction of multi-row statements: bulk
    /// seeding. Unlike [`create_family`](RefreshStore::create_family) it applies no per-user cap
    /// and replaces no device, and it writes no audit event. Answers how many rows were inserted;
    /// a duplicate id fails the whole call (`Conflict`) and inserts nothing.
    async fn insert_families(&self, families: &[Family]) -> StoreResult<u64>;
    /// The newest audit events first, optionally of one type.
    async fn list_audit_events(
        &self,
        kind: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>>;
}

/// The [`SupportStore`] of a store [`connect`] opened (`None` for any other implementation).
pub fn support(store: &dyn Store) -> Option<&dyn SupportStore> {
    let any: &dyn std::any::Any = store;
    if let Some(pg) = any.downcast_ref::<PgStore>() {
        return Some(pg);
    }
    any.downcast_ref::<SqliteStore>()
        .map(|sqlite| sqlite as &dyn SupportStore)
}

#[async_trait]
pub trait Store: LoginStore + RefreshStore + std::any::Any + Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// The database answers and every migration this binary knows is applied.
    async fn ready(&self) -> StoreResult<bool>;
    /// Closes the pool at shutdown, waiting for connections in use to come back (SQLite
    /// checkpoints its WAL as the last one closes). Calls after it fail as `Unavailable`.
    async fn close(&self);

    // Clients.
    async fn insert_client(&self, client: &Client) -> StoreResult<()>;
    /// Inserts or replaces the whole client (the bootstrap client at start-up).
    async fn upsert_client(&self, client: &Client) -> StoreResult<()>;
    /// The client as read from the database now (the Management API's reads).
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    /// The client as held in memory for authentication (see `client_cache`): a change through
    /// this store is seen at once, one made elsewhere within [`CLIENT_CACHE_TTL`].
    async fn client(&self, client_id: &str) -> StoreResult<Option<Arc<Client>>>;
    async fn list_clients(&self, page: Page) -> StoreResult<Vec<Client>>;
    async fn count_clients(&self) -> StoreResult<i64>;
    /// Replaces the stored client; `false` when it does not exist.
    async fn update_client(&self, client: &Client) -> StoreResult<bool>;
    /// Deletes the client and its client grants; `false` when it does not exist.
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;

    // Resource servers (APIs).
    async fn insert_resource_server(&self, api: &ResourceServer) -> StoreResult<()>;
    /// Creates or refreshes a built-in API, keyed by its `system` name (identifiers follow the issuer).
    async fn upsert_system_resource_server(&self, api: &ResourceServer) -> StoreResult<()>;
    async fn get_resource_server(&self, id: &str) -> StoreResult<Option<ResourceServer>>;
    async fn get_resource_server_by_identifier(
        &self,
        identifier: &str,
    ) -> StoreResult<Option<ResourceServer>>;
    async fn list_resource_servers(&self, page: Page) -> StoreResult<Vec<ResourceServer>>;
    async fn count_resource_servers(&self) -> StoreResult<i64>;
    async fn update_resource_server(&self, api: &ResourceServer) -> StoreResult<bool>;
    /// Deletes the API and its client grants.
    async fn delete_resource_server(&self, id: &str) -> StoreResult<bool>;

    // Client grants.
    async fn insert_client_grant(&self, grant: &ClientGrant) -> StoreResult<()>;
    /// Inserts, or replaces the scopes of, the grant for `(client_id, audience)`.
    async fn upsert_client_grant(&self, grant: &ClientGrant) -> StoreResult<()>;
    async fn get_client_grant(&self, id: &str) -> StoreResult<Option<ClientGrant>>;
    async fn find_client_grant(
        &self,
        client_id: &str,
        audience: &str,
    ) -> StoreResult<Option<ClientGrant>>;
    async fn list_client_grants(
        &self,
        filter: &ClientGrantFilter,
        page: Page,
    ) -> StoreResult<Vec<ClientGrant>>;
    async fn count_client_grants(&self, filter: &ClientGrantFilter) -> StoreResult<i64>;
    async fn update_client_grant(&self, grant: &ClientGrant) -> StoreResult<bool>;
    async fn delete_client_grant(&self, id: &str) -> StoreResult<bool>;

    // Users.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>>;
    async fn get_user_by_email(&self, connection: &str, email: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self, page: Page) -> StoreResult<Vec<User>>;
    async fn count_users(&self) -> StoreResult<i64>;
    async fn update_user(&self, user: &User) -> StoreResult<bool>;
    async fn delete_user(&self, user_id: &str) -> StoreResult<bool>;

    // Signing keys.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Inserts `key` and, in the same transaction, sets `published_until` on the keys it
    /// supersedes (`superseded`), so a rotation is never half-applied.
    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        superseded: &[String],
        published_until: Timestamp,
    ) -> StoreResult<()>;
    /// Deletes keys whose publication ended before `now`.
    async fn purge_signing_keys(&self, now: Timestamp) -> StoreResult<u64>;
    /// The signing algorithms some API uses for its access tokens.
    async fn api_signing_algs(&self) -> StoreResult<Vec<String>>;
}

pub type SharedStore = Arc<dyn Store>;

/// Opens (and creates, for SQLite files) the database named by `url`; migrations are not run here.
pub async fn connect(url: &str, max_connections: u32) -> StoreResult<SharedStore> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, max_connections).await?))
    } else {
        Ok(Arc::new(PgStore::connect(url, max_connections).await?))
    }
}

#[cfg(test)]
mod error_tests {
    use std::borrow::Cow;

    use super::StoreError;

    /// A database error with this code, as a driver reports it.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            "coded"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn classify(code: &'static str) -> StoreError {
        StoreError::from(sqlx::Error::Database(Box::new(Coded(code))))
    }

    #[test]
    fn faults_of_availability_are_unavailable_and_the_rest_are_not() {
        // PostgreSQL: connection exceptions, shutdown, start-up, too many connections; SQLite:
        // busy and locked (and their extended codes).
        for code in [
            "08006", "08001", "57P01", "57P02", "57P03", "53300", "5", "6", "517", "262",
        ] {
            assert!(
                matches!(classify(code), StoreError::Unavailable(_)),
                "{code}"
            );
        }
        assert!(matches!(classify("22021"), StoreError::InvalidText(_)));
        // Syntax errors, SQLite's generic error and constraint failures without a known kind
        // are the server's own faults.
        for code in ["42601", "1", "19", "XX000"] {
            assert!(matches!(classify(code), StoreError::Database(_)), "{code}");
        }
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            assert!(matches!(StoreError::from(e), StoreError::Unavailable(_)));
        }
    }
}

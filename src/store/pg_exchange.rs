//! The refresh exchange on PostgreSQL, with exchanges that arrive together sent together.
//!
//! Each exchange is one `UPDATE … FROM users, resource_servers … RETURNING` (the rules are in
//! `sql_refresh`, [`EXCHANGE_BATCH_SQL`]). Most of what PostgreSQL
//! spends on it is not the update but around it: a round trip (a wake-up of each process), the
//! executor's start-up, and a commit that waits for the WAL flush. So the exchange has a few
//! connections of its own, each driven by a worker task: a worker takes every exchange waiting in
//! the queue (up to [`MAX_BATCH`]) and runs them as **one statement** over `unnest` of their
//! parameters — one round trip and one commit for all of them. A lone exchange is a batch of one
//! and waits for nothing: batches form only while every worker is busy.
//!
//! What each exchange decides is unchanged: the statement is the single exchange's, with each
//! parameter read from its own row of the batch, so every family is updated (or not) by its own
//! request's generation, client, secret and rules, and the response is sent only after the
//! commit. Two requests for the same family never share a batch (a statement updates a row at
//! most once): the later one waits for the next batch and then sees the first one's result, as
//! it would have seen it on another connection. Batches lock their families in id order, so two
//! batches cannot deadlock on each other. If PostgreSQL rejects a batch, it was rolled back as a
//! whole and each of its exchanges is run again alone, so one bad request fails nobody else; if
//! the connection broke (the commit's fate unknown), nothing is retried and every exchange of the
//! batch answers the error, as one exchange would. An exchange no worker takes within the
//! caller's wait answers `PoolTimedOut` and is never sent.
//!
//! No future is dropped half-way here: a worker always reads its statement's answer, so its
//! connection never needs the pool's ping after use (sqlx's pool pings every released
//! connection: a second round trip). A connection idle for [`IDLE_BEFORE_PING`] is pinged before
//! use, as the database may have restarted in between.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::oneshot;

use super::rows::FamilyUserRow;
use super::sql_refresh::EXCHANGE_BATCH_SQL;
use crate::store::{ExchangeRequest, Exchanged};

/// A connection idle this long is pinged before use (the exchange's and the pool's).
pub(super) const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);
/// At most this many exchanges per statement.
pub(super) const MAX_BATCH: usize = 64;

/// The exchange's connections run nothing but [`EXCHANGE_BATCH_SQL`]:
/// - with sequential scans off: the statement names its families by key, and the planner must
///   not read the whole table instead. It would on a table without statistics yet (a new or
///   restored database, before autovacuum's first ANALYZE) holding a few hundred families: it
///   then guesses a scan of a few pages cheaper than a few index look-ups, and reads every
///   family per batch;
/// - with the prepared statement's generic plan always: each batch has its own length, and a
///   custom plan for it (which PostgreSQL keeps choosing, its estimate for a short array being
///   lower) plans the five-way join again on every execution, several times the cost of running
///   it.
pub(super) fn session_options(options: PgConnectOptions) -> PgConnectOptions {
    options.options([
        ("enable_seqscan", "off"),
        ("plan_cache_mode", "force_generic_plan"),
    ])
}

/// One returned row: the family, user and API of the batch's exchange number `idx` (from 1).
#[derive(sqlx::FromRow)]
struct BatchRow {
    idx: i64,
    #[sqlx(flatten)]
    row: FamilyUserRow,
}

/// Binds the parameters of a batch (`&[&Params]`) to [`EXCHANGE_BATCH_SQL`]: one array each.
macro_rules! bind_batch {
    ($query:expr, $params:expr) => {{
        let params: &[&$crate::store::pg_exchange::Params] = $params;
        let texts = |f: fn(&$crate::store::pg_exchange::Params) -> &str| {
            params.iter().map(|p| f(p)).collect::<Vec<&str>>()
        };
        $query
            .bind(texts(|p| &p.family_id))
            .bind(params.iter().map(|p| p.generation).collect::<Vec<i64>>())
            .bind(params.iter().map(|p| p.now).collect::<Vec<i64>>())
            .bind(texts(|p| &p.ip))
            .bind(texts(|p| &p.user_agent))
            .bind(
                params
                    .iter()
                    .map(|p| p.password_rule)
                    .collect::<Vec<bool>>(),
            )
            .bind(texts(|p| &p.client_id))
            .bind(
                params
                    .iter()
                    .map(|p| p.policy_version)
                    .collect::<Vec<i64>>(),
            )
    }};
}

/// An exchange's parameters, owned (it waits in the queue beyond its caller's borrow).
pub(super) struct Params {
    pub(super) family_id: String,
    pub(super) generation: i64,
    pub(super) now: i64,
    pub(super) ip: String,
    pub(super) user_agent: String,
    pub(super) password_rule: bool,
    pub(super) client_id: String,
    pub(super) policy_version: i64,
}

impl Params {
    pub(super) fn of(req: &ExchangeRequest<'_>) -> Self {
        Self {
            family_id: req.family_id.to_owned(),
            generation: req.generation,
            now: req.now,
            ip: req.ip.to_owned(),
            user_agent: req.user_agent.to_owned(),
            password_rule: req.password_rule,
            client_id: req.client_id.to_owned(),
            policy_version: req.policy_version,
        }
    }
}

type Answer = Result<Option<Exchanged>, sqlx::Error>;

/// Who has a queued job: it waits ([`Claim::QUEUED`]) until a worker puts it in a batch
/// ([`Claim::take`]) or its caller stops waiting ([`Claim::give_up`]); whichever comes first
/// wins, so an exchange whose caller was told `PoolTimedOut` never reaches the database.
#[derive(Clone, Default)]
struct Claim(Arc<AtomicU8>);

impl Claim {
    const QUEUED: u8 = 0;
    const TAKEN: u8 = 1;
    const GIVEN_UP: u8 = 2;

    fn claim(&self, to: u8) -> bool {
        self.0
            .compare_exchange(Self::QUEUED, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The worker's side: false if the caller gave up first.
    fn take(&self) -> bool {
        self.claim(Self::TAKEN)
    }

    /// The caller's side: false if a worker took the job first (its statement may commit).
    fn give_up(&self) -> bool {
        self.claim(Self::GIVEN_UP)
    }

    fn given_up(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::GIVEN_UP
    }
}

struct Job {
    params: Params,
    claim: Claim,
    answer: oneshot::Sender<Answer>,
}

/// The queue of exchanges and the workers that run them.
pub(super) struct Exchanger {
    queue: flume::Sender<Job>,
}

impl Exchanger {
    /// `workers` connections at most (at least one: the caller's count), each opened when first
    /// needed. Spawns the workers on the current Tokio runtime; they end when the exchanger is
    /// dropped.
    pub fn new(options: PgConnectOptions, workers: usize) -> Self {
        debug_assert!(workers > 0, "no worker would ever take an exchange");
        let options = session_options(options);
        let (queue, jobs) = flume::unbounded();
        for _ in 0..workers {
            let worker = Worker {
                options: options.clone(),
                conn: None,
                jobs: jobs.clone(),
            };
            tokio::spawn(worker.run());
        }
        Self { queue }
    }

    /// Runs one exchange (in whatever batch it joins). `wait` bounds the time until a worker
    /// takes it (then it answers `PoolTimedOut`, as a pool would, and never runs), not the
    /// statement: once sent, its commit may happen, so its answer is awaited.
    pub async fn exchange(&self, req: &ExchangeRequest<'_>, wait: Duration) -> Answer {
        let (answer, mut answered) = oneshot::channel();
        let claim = Claim::default();
        let job = Job {
            params: Params::of(req),
            claim: claim.clone(),
            answer,
        };
        self.queue.send(job).map_err(|_| sqlx::Error::PoolClosed)?;
        // Dropped unanswered only if its worker's task ended (the runtime is shutting down).
        let closed = |_| sqlx::Error::PoolClosed;
        match tokio::time::timeout(wait, &mut answered).await {
            Ok(answer) => answer.map_err(closed)?,
            Err(_) if claim.give_up() => Err(sqlx::Error::PoolTimedOut),
            Err(_) => answered.await.map_err(closed)?,
        }
    }
}

struct Worker {
    options: PgConnectOptions,
    /// The worker's connection and when it was last used.
    conn: Option<(PgConnection, Instant)>,
    jobs: flume::Receiver<Job>,
}

impl Worker {
    async fn run(mut self) {
        // Exchanges held back from a batch because it already had their family.
        let mut held: Vec<Job> = Vec::new();
        loop {
            if held.is_empty() {
                match self.jobs.recv_async().await {
                    Ok(job) => held.push(job),
                    Err(_) => return, // the store is gone
                }
            }
            while held.len() < MAX_BATCH {
                match self.jobs.try_recv() {
                    Ok(job) => held.push(job),
                    Err(_) => break,
                }
            }
            let mut batch: Vec<Job> = Vec::with_capacity(held.len());
            let mut later = Vec::new();
            for job in held.drain(..) {
                if batch
                    .iter()
                    .any(|b| b.params.family_id == job.params.family_id)
                {
                    if !job.claim.given_up() {
                        later.push(job);
                    }
                } else if job.claim.take() {
                    batch.push(job);
                }
            }
            held = later;
            if !batch.is_empty() {
                self.run_batch(batch).await;
            }
        }
    }

    /// Runs a batch and answers each of its exchanges.
    async fn run_batch(&mut self, mut batch: Vec<Job>) {
        // One lock order for every batch: no two batches wait for each other's rows.
        batch.sort_by(|a, b| a.params.family_id.cmp(&b.params.family_id));
        let params: Vec<&Params> = batch.iter().map(|job| &job.params).collect();
        match self.statement(&params).await {
            Ok(answers) => {
                for (job, answer) in batch.into_iter().zip(answers) {
                    let _ = job.answer.send(answer);
                }
            }
            // Rejected by PostgreSQL, so rolled back as a whole: each runs again on its own.
            Err(sqlx::Error::Database(_)) if batch.len() > 1 => {
                for job in batch {
                    let answer = self.statement(&[&job.params]).await;
                    let _ = job
                        .answer
                        .send(answer.and_then(|mut one| one.pop().unwrap_or(Ok(None))));
                }
            }
            Err(e) => {
                let mut jobs = batch.into_iter();
                let first = jobs.next();
                for job in jobs {
                    let _ = job.answer.send(Err(copy_error(&e)));
                }
                if let Some(job) = first {
                    let _ = job.answer.send(Err(e));
                }
            }
        }
    }

    /// One statement for `params`: each exchange's answer, in order (a row that cannot be read
    /// fails its own exchange only: the others' rotations are committed and must be answered).
    async fn statement(&mut self, params: &[&Params]) -> Result<Vec<Answer>, sqlx::Error> {
        let conn = self.connection().await?;
        let rows = bind_batch!(sqlx::query_as::<_, BatchRow>(EXCHANGE_BATCH_SQL), params)
            .fetch_all(&mut *conn)
            .await;
        let rows = match rows {
            Ok(rows) => {
                if let Some((_, used)) = &mut self.conn {
                    *used = Instant::now();
                }
                rows
            }
            Err(e) => {
                if broken(&e) {
                    self.conn = None; // the next statement opens another
                }
                return Err(e);
            }
        };
        let mut answers: Vec<Answer> = params.iter().map(|_| Ok(None)).collect();
        for BatchRow { idx, row } in rows {
            let slot = usize::try_from(idx - 1)
                .ok()
                .and_then(|i| answers.get_mut(i))
                .ok_or_else(|| sqlx::Error::Protocol(format!("exchange row {idx} of none")))?;
            *slot = row
                .split()
                .map(Some)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)));
        }
        Ok(answers)
    }

    /// The worker's connection: opened when missing, pinged when it sat idle.
    async fn connection(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        if let Some((conn, used)) = &mut self.conn
            && used.elapsed() >= IDLE_BEFORE_PING
            && conn.ping().await.is_err()
        {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some((self.options.connect().await?, Instant::now()));
        }
        match &mut self.conn {
            Some((conn, _)) => Ok(conn),
            None => Err(sqlx::Error::PoolClosed),
        }
    }
}

/// Whether the connection is unusable after `e`: below SQL (I/O, protocol, TLS), or the server
/// ended the session (SQLSTATE classes 08, connection exception, and 57P, operator intervention).
fn broken(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// The same failure for another exchange of the batch (`sqlx::Error` is not `Clone`).
fn copy_error(e: &sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::SqlBackend;
    use crate::store::postgres::PgStore;
    use crate::store::{RefreshStore, Store};

    const NOW: i64 = 1_800_000_000;
    const SECRET_HASH: [u8; 32] = [7; 32];

    /// A migrated scratch database with one user, one confidential client (`c`, secret hash
    /// [`SECRET_HASH`]), one API and `families` rotating families `fam1`… at generation 0.
    async fn fixture(families: i64) -> (PgStore, String, String) {
        let (url, name) = crate::testing::create_postgres_database("tessera_exchange").await;
        let store = PgStore::connect(&url, 4).await.unwrap();
        store.migrate().await.unwrap();
        let pool = store.pool();
        sqlx::query(
            "insert into users (user_id, connection, email, created_at, updated_at) \
             values ('auth0|u', 'Username-Password-Authentication', 'u@example.com', $1, $1)",
        )
        .bind(NOW)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into clients (client_id, name, grant_types, token_endpoint_auth_method, \
             refresh_token, secret_hash, created_at, updated_at) values ('c', 'c', \
             '[\"refresh_token\"]', 'client_secret_post', '{}', $1, $2, $2)",
        )
        .bind(SECRET_HASH.as_slice())
        .bind(NOW)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into resource_servers (id, identifier, name, token_lifetime, signing_alg, \
             created_at, updated_at) values ('r', 'https://api.test/', 'api', 600, 'ES256', $1, $1)",
        )
        .bind(NOW)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into refresh_families (id, user_id, client_id, audience, scope, rotating, \
             created_at, last_exchanged_at, auth_time) select 'fam' || n, 'auth0|u', 'c', \
             'https://api.test/', 'offline_access', true, $1, $1, $1 \
             from generate_series(1, $2) as n",
        )
        .bind(NOW)
        .bind(families)
        .execute(pool)
        .await
        .unwrap();
        (store, url, name)
    }

    /// An exchange of `family_id` at `generation` by `client` (the fixture's is `c`).
    fn exchange<'a>(family_id: &'a str, generation: i64, client: &'a str) -> ExchangeRequest<'a> {
        ExchangeRequest {
            family_id,
            generation,
            now: NOW + 1,
            ip: "127.0.0.1",
            user_agent: "ua",
            password_rule: true,
            client_id: client,
            policy_version: 0,
        }
    }

    fn request(family_id: &str, generation: i64, client: &str) -> Params {
        Params::of(&exchange(family_id, generation, client))
    }

    /// A job for `params` and the receiver of its answer.
    fn job(params: Params) -> (Job, oneshot::Receiver<Answer>) {
        let (answer, answered) = oneshot::channel();
        let claim = Claim::default();
        (
            Job {
                params,
                claim,
                answer,
            },
            answered,
        )
    }

    /// A worker on the store's database, with its queue.
    fn worker(url: &str) -> (Worker, flume::Sender<Job>) {
        let (queue, jobs) = flume::unbounded();
        let worker = Worker {
            options: session_options(url.parse().unwrap()),
            conn: None,
            jobs,
        };
        (worker, queue)
    }

    /// (generation, revoked) of a family as stored.
    async fn stored(store: &PgStore, family_id: &str) -> (i64, bool) {
        let family = store.get_family(family_id).await.unwrap().unwrap();
        (family.generation, family.revoked_at.is_some())
    }

    /// The outcome a job's answer carries ("none" for no row).
    async fn outcome(answered: oneshot::Receiver<Answer>) -> String {
        match answered.await.unwrap().unwrap() {
            Some(done) => done.family.last_outcome.as_str().to_owned(),
            None => "none".to_owned(),
        }
    }

    /// The (scan nodes on `refresh_families`: rows returned + rows read and filtered out, over
    /// all its loops) of a JSON `EXPLAIN ANALYZE` plan.
    fn family_rows_read(node: &serde_json::Value, read: &mut Vec<(String, u64)>) {
        let scan = node["Node Type"]
            .as_str()
            .is_some_and(|t| t.ends_with("Scan"));
        if scan && node["Relation Name"] == "refresh_families" {
            let rows = (node["Actual Rows"].as_u64().unwrap_or(0)
                + node["Rows Removed by Filter"].as_u64().unwrap_or(0))
                * node["Actual Loops"].as_u64().unwrap_or(1);
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

    /// One batch, each exchange judged by its own parameters: another client's exchange or a
    /// generation ahead of the family's rotates nothing, while the others of the same statement rotate.
    #[tokio::test]
    #[cfg_attr(
        tessera_no_test_database,
        ignore = "needs PostgreSQL: set TEST_DATABASE_URL"
    )]
    async fn a_batch_judges_each_exchange_by_its_own_parameters() {
        let (store, url, name) = fixture(4).await;
        let (mut worker, _queue) = worker(&url);
        let (jobs, answers): (Vec<_>, Vec<_>) = [
            request("fam1", 0, "c"),
            request("fam2", 0, "another-client"),
            request("fam3", 5, "c"),
            request("fam4", 0, "c"),
        ]
        .into_iter()
        .map(job)
        .unzip();
        worker.run_batch(jobs).await;
        let mut outcomes = Vec::new();
        for answered in answers {
            outcomes.push(outcome(answered).await);
        }
        let families = [
            stored(&store, "fam1").await,
            stored(&store, "fam2").await,
            stored(&store, "fam3").await,
            stored(&store, "fam4").await,
        ];
        drop((store, worker));
        crate::testing::drop_postgres_database(&name).await;
        assert_eq!(outcomes, ["rotated", "none", "none", "rotated"]);
        assert_eq!(families, [(1, false), (0, false), (0, false), (1, false)]);
    }

    /// PostgreSQL rejects a batch with a text it cannot store (a NUL byte): the batch is rolled
    /// back, each exchange runs again alone, and only the bad one fails.
    #[tokio::test]
    #[cfg_attr(
        tessera_no_test_database,
        ignore = "needs PostgreSQL: set TEST_DATABASE_URL"
    )]
    async fn one_rejected_exchange_fails_nobody_else_in_its_batch() {
        let (store, url, name) = fixture(2).await;
        let (mut worker, _queue) = worker(&url);
        let mut bad = request("fam1", 0, "c");
        bad.user_agent = "ua\0".to_owned();
        let (bad, bad_answer) = job(bad);
        let (good, good_answer) = job(request("fam2", 0, "c"));
        worker.run_batch(vec![bad, good]).await;
        let bad_answer = bad_answer.await.unwrap();
        let good_outcome = outcome(good_answer).await;
        let families = [stored(&store, "fam1").await, stored(&store, "fam2").await];
        drop((store, worker));
        crate::testing::drop_postgres_database(&name).await;
        assert!(
            matches!(bad_answer, Err(sqlx::Error::Database(_))),
            "{bad_answer:?}"
        );
        assert_eq!(good_outcome, "rotated");
        assert_eq!(families, [(0, false), (1, false)]);
    }

    /// Two exchanges of one family waiting together go in two statements, in their order: the
    /// second sees the first one's rotation and is a reuse (in one statement PostgreSQL would
    /// update the row once and the second would silently find nothing).
    #[tokio::test]
    #[cfg_attr(
        tessera_no_test_database,
        ignore = "needs PostgreSQL: set TEST_DATABASE_URL"
    )]
    async fn the_same_family_twice_waits_for_the_next_batch() {
        let (store, url, name) = fixture(2).await;
        let (worker, queue) = worker(&url);
        let mut answers = Vec::new();
        for params in [
            request("fam1", 0, "c"),
            request("fam1", 0, "c"),
            request("fam2", 0, "c"),
        ] {
            let (job, answered) = job(params);
            queue.send(job).unwrap();
            answers.push(answered);
        }
        drop(queue); // the worker runs what is queued, then ends
        worker.run().await;
        let mut outcomes = Vec::new();
        for answered in answers {
            outcomes.push(outcome(answered).await);
        }
        let families = [stored(&store, "fam1").await, stored(&store, "fam2").await];
        drop(store);
        crate::testing::drop_postgres_database(&name).await;
        assert_eq!(outcomes, ["rotated", "reused", "rotated"]);
        assert_eq!(families, [(1, true), (1, false)]);
    }

    /// An exchange no worker took in time answers `PoolTimedOut` and is never run, even when a
    /// worker reaches it later (its caller was told it failed).
    #[tokio::test]
    #[cfg_attr(
        tessera_no_test_database,
        ignore = "needs PostgreSQL: set TEST_DATABASE_URL"
    )]
    async fn an_exchange_not_taken_in_time_never_runs() {
        let (store, url, name) = fixture(2).await;
        let (worker, queue) = worker(&url); // not running yet: every worker busy
        let exchanger = Exchanger { queue };
        let answer = exchanger
            .exchange(&exchange("fam1", 0, "c"), Duration::from_millis(50))
            .await;
        // The worker starts, finds the job given up, and then runs the next one.
        let (next, next_answer) = job(request("fam2", 0, "c"));
        exchanger.queue.send(next).unwrap();
        drop(exchanger);
        worker.run().await;
        let next_outcome = outcome(next_answer).await;
        let families = [stored(&store, "fam1").await, stored(&store, "fam2").await];
        drop(store);
        crate::testing::drop_postgres_database(&name).await;
        assert!(
            matches!(answer, Err(sqlx::Error::PoolTimedOut)),
            "{answer:?}"
        );
        assert_eq!(next_outcome, "rotated");
        assert_eq!(families, [(0, false), (1, false)]);
    }

    /// With a few hundred families of one client and no statistics yet (a new database, before
    /// autovacuum's first ANALYZE), a batch reads the families it names, not every family of the
    /// client (300 rows per exchange with a client-only index; 300 per batch with sequential
    /// scans allowed on the exchange's connections).
    #[tokio::test]
    #[cfg_attr(
        tessera_no_test_database,
        ignore = "needs PostgreSQL: set TEST_DATABASE_URL"
    )]
    async fn a_batch_reads_only_its_families_however_many_the_client_has() {
        let (store, url, name) = fixture(300).await;
        // The store's exchange rotates a family …
        let done = store
            .exchange_family(&exchange("fam1", 0, "c"))
            .await
            .unwrap();
        let crate::store::ExchangeAnswer::Done(done) = done else {
            panic!("not exchanged: {done:?}");
        };
        assert_eq!(done.family.generation, 1);
        // … and a batch of three other families, explained, reads only their three rows.
        let params: Vec<Params> = ["fam2", "fam3", "fam4"]
            .into_iter()
            .map(|id| request(id, 0, "c"))
            .collect();
        let params: Vec<&Params> = params.iter().collect();
        let explain = format!("explain (analyze, format json) {}", EXCHANGE_BATCH_SQL);
        let mut conn = session_options(url.parse().unwrap())
            .connect()
            .await
            .unwrap();
        let row = bind_batch!(sqlx::query(&explain), &params)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        // A `json` column, read as its text.
        let plan: serde_json::Value =
            serde_json::from_str(&sqlx::Row::try_get_unchecked::<String, _>(&row, 0).unwrap())
                .unwrap();
        let mut read = Vec::new();
        family_rows_read(&plan[0]["Plan"], &mut read);
        drop((store, conn));
        crate::testing::drop_postgres_database(&name).await;
        assert_eq!(read.len(), 1, "one scan of refresh_families: {plan:#}");
        assert_eq!(
            read[0].1, 3,
            "rows of refresh_families read by {}: {plan:#}",
            read[0].0
        );
    }
}

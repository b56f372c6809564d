//! The refresh exchange's own PostgreSQL connections.
//!
//! sqlx's pool pings every connection when it is released (a Sync message and its answer) to
//! catch connections left mid-protocol by a cancelled query. On the hot path that is a second
//! round trip per exchange, which costs both processes a wake-up each. The lane holds a few
//! connections of its own and avoids the ping another way: a connection goes back only when its
//! statement completed; one whose future was dropped half-way, or that failed below SQL (I/O,
//! protocol), is closed and replaced on demand. A connection that sat idle for a while is pinged
//! before use, as the database may have restarted in between.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

/// A connection idle this long is pinged before use (the lane's and the pool's).
pub(super) const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

pub(super) struct Lane {
    options: PgConnectOptions,
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    permits: Semaphore,
}

/// A connection taken from the lane; dropped without [`Lane::give_back`], it closes.
pub(super) struct Lent<'a> {
    pub conn: PgConnection,
    _permit: SemaphorePermit<'a>,
}

impl Lane {
    pub fn new(options: PgConnectOptions, size: usize) -> Self {
        Self {
            options,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
        }
    }

    /// Waits for a free slot (at most `timeout`), then lends an idle connection or opens one.
    pub async fn take(&self, timeout: Duration) -> Result<Lent<'_>, sqlx::Error> {
        let permit = tokio::time::timeout(timeout, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let conn = match idle {
            Some((mut conn, since)) => {
                if since.elapsed() >= IDLE_BEFORE_PING && conn.ping().await.is_err() {
                    self.options.connect().await?
                } else {
                    conn
                }
            }
            None => self.options.connect().await?,
        };
        Ok(Lent {
            conn,
            _permit: permit,
        })
    }

    /// Returns a connection whose statement completed, unless the error says it is broken.
    pub fn give_back<T>(&self, lent: Lent<'_>, outcome: &Result<T, sqlx::Error>) {
        let broken = matches!(
            outcome,
            Err(sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_))
        );
        if !broken && let Ok(mut idle) = self.idle.lock() {
            idle.push((lent.conn, Instant::now()));
        }
    }
}

//! Rate limits, in memory per node (DESIGN.md "Refresh tokens: the model"): refresh exchanges per
//! family and client IP (seed 002: the same token from the same IP), `/delegation` per user and
//! IP. Answered `429 too_many_requests` with `Retry-After`. A limit of 0 turns one off.
//!
//! Memory: one entry per (family or user, IP) seen recently. `forget_idle` (every few seconds,
//! from the server's upkeep) drops the entries whose limit has fully recovered, so the maps hold
//! what the last seconds of traffic touched; and a limiter never holds more than `MAX_KEYS`
//! entries (give or take one check interval): past it, idle entries are dropped at once, and if
//! every entry is still recovering the limiter starts over empty, with a warning.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use arc_swap::ArcSwap;

use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::clock::SharedClock;

type Keyed = RateLimiter<
    (String, IpAddr),
    DefaultKeyedStateStore<(String, IpAddr)>,
    LimitClock,
    NoOpMiddleware<std::time::Duration>,
>;

/// The engine's clock as governor reads it (time since the epoch), so a test that moves the
/// clock moves the limits with it.
#[derive(Clone)]
struct LimitClock(SharedClock);

impl governor::clock::Clock for LimitClock {
    type Instant = std::time::Duration;

    fn now(&self) -> std::time::Duration {
        self.0.now_precise()
    }
}

/// Entries one limiter may hold (about 100 bytes each).
pub const MAX_KEYS: usize = 100_000;
/// The size is checked once every this many checks (counting a map's entries takes its locks).
const SIZE_CHECK_EVERY: u32 = 256;

/// One keyed limit, bounded in size.
struct Limit {
    name: &'static str,
    quota: Quota,
    clock: LimitClock,
    max_keys: usize,
    /// Replaced whole when the limiter starts over; a check takes no lock for it.
    limiter: ArcSwap<Keyed>,
    checks: AtomicU32,
    resets: AtomicU64,
}

impl Limit {
    fn new(
        name: &'static str,
        per_minute: u32,
        max_keys: usize,
        clock: &SharedClock,
    ) -> Option<Self> {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute)?);
        let clock = LimitClock(clock.clone());
        Some(Self {
            name,
            quota,
            limiter: ArcSwap::from_pointee(Self::limiter(quota, &clock)),
            clock,
            max_keys,
            checks: AtomicU32::new(0),
            resets: AtomicU64::new(0),
        })
    }

    fn limiter(quota: Quota, clock: &LimitClock) -> Keyed {
        RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone())
    }

    fn check(&self, key: &str, ip: IpAddr) -> Result<(), u64> {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SIZE_CHECK_EVERY)
        {
            self.bound();
        }
        self.limiter
            .load()
            .check_key(&(key.to_owned(), ip))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.now());
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
            })
    }

    /// Keeps the limiter within `max_keys`: idle entries first, then everything.
    fn bound(&self) {
        if self.len() < self.max_keys {
            return;
        }
        self.forget_idle();
        if self.len() >= self.max_keys {
            tracing::warn!(
                limit = self.name,
                keys = self.max_keys,
                "rate limiter full of keys still recovering: starting it over"
            );
            self.limiter
                .store(Arc::new(Self::limiter(self.quota, &self.clock)));
            self.resets.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("tessera_rate_limiter_resets_total", "limit" => self.name)
                .increment(1);
        }
    }

    fn forget_idle(&self) {
        let limiter = self.limiter.load();
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.limiter.load().len()
    }
}

pub struct RateLimits {
    refresh: Option<Limit>,
    delegation: Option<Limit>,
}

fn check(limit: &Option<Limit>, key: &str, ip: IpAddr) -> Result<(), u64> {
    limit.as_ref().map_or(Ok(()), |l| l.check(key, ip))
}

impl RateLimits {
    /// Requests per minute (a burst of as many) for each limit; 0 turns it off. Time is the
    /// engine's clock.
    pub fn new(refresh_per_minute: u32, delegation_per_minute: u32, clock: &SharedClock) -> Self {
        Self::with_max_keys(refresh_per_minute, delegation_per_minute, MAX_KEYS, clock)
    }

    fn with_max_keys(
        refresh_per_minute: u32,
        delegation_per_minute: u32,
        max: usize,
        clock: &SharedClock,
    ) -> Self {
        Self {
            refresh: Limit::new("refresh", refresh_per_minute, max, clock),
            delegation: Limit::new("delegation", delegation_per_minute, max, clock),
        }
    }

    /// `Err(retry_after_seconds)` when this family has been exchanged too often from this IP.
    pub fn check_refresh(&self, family: &str, ip: IpAddr) -> Result<(), u64> {
        check(&self.refresh, family, ip)
    }

    /// `Err(retry_after_seconds)` when this user has delegated too often from this IP.
    pub fn check_delegation(&self, user_id: &str, ip: IpAddr) -> Result<(), u64> {
        check(&self.delegation, user_id, ip)
    }

    /// Forgets keys whose limits have fully recovered (the server's upkeep calls it every few
    /// seconds).
    pub fn forget_idle(&self) {
        for limit in [&self.refresh, &self.delegation].into_iter().flatten() {
            limit.forget_idle();
        }
    }

    /// Times each limiter started over empty: (refresh, delegation).
    pub fn resets(&self) -> (u64, u64) {
        let resets = |l: &Option<Limit>| l.as_ref().map_or(0, |l| l.resets.load(Ordering::Relaxed));
        (resets(&self.refresh), resets(&self.delegation))
    }

    /// Entries held: (refresh, delegation).
    pub fn keys(&self) -> (usize, usize) {
        let len = |l: &Option<Limit>| l.as_ref().map_or(0, Limit::len);
        (len(&self.refresh), len(&self.delegation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn manual() -> (Arc<ManualClock>, SharedClock) {
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        (clock.clone(), clock)
    }

    #[test]
    fn limits_per_key_and_ip_and_zero_is_off() {
        let (_, clock) = manual();
        let limits = RateLimits::new(3, 0, &clock);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check_refresh("fam", ip).is_ok());
        }
        // 3 a minute: the next one in 20 s.
        assert_eq!(limits.check_refresh("fam", ip).unwrap_err(), 20);
        assert!(limits.check_refresh("fam", other).is_ok());
        assert!(limits.check_refresh("other", ip).is_ok());
        for _ in 0..100 {
            assert!(limits.check_delegation("user", ip).is_ok());
        }
    }

    #[test]
    fn limits_follow_the_engine_clock() {
        let (manual, clock) = manual();
        let limits = RateLimits::new(3, 0, &clock);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check_refresh("fam", ip).is_ok());
        }
        assert!(limits.check_refresh("fam", ip).is_err());
        manual.advance(19);
        assert_eq!(limits.check_refresh("fam", ip).unwrap_err(), 1);
        manual.advance(1);
        assert!(
            limits.check_refresh("fam", ip).is_ok(),
            "one more after 20 s"
        );
        assert!(limits.check_refresh("fam", ip).is_err());
        manual.advance(60);
        for _ in 0..3 {
            assert!(limits.check_refresh("fam", ip).is_ok(), "the burst is back");
        }
    }

    #[test]
    fn idle_keys_are_forgotten_and_limited_ones_kept() {
        let (manual, clock) = manual();
        let limits = RateLimits::new(60, 1, &clock);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for i in 0..1_000 {
            assert!(limits.check_refresh(&format!("family-{i}"), ip).is_ok());
            assert!(limits.check_delegation(&format!("user-{i}"), ip).is_ok());
        }
        assert_eq!(limits.keys(), (1_000, 1_000));
        // A refresh key has recovered 1 s after its one request and is forgotten one interval
        // later (governor keeps a key until it is indistinguishable from a new one); a
        // delegation key takes a minute.
        manual.advance(2);
        limits.forget_idle();
        assert_eq!(limits.keys(), (0, 1_000));
        assert!(limits.check_delegation("user-7", ip).is_err());
    }

    #[test]
    fn a_limiter_holds_no_more_than_its_bound() {
        const MAX: usize = 1_000;
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let fill = |limits: &RateLimits, manual: &ManualClock, step: i64| {
            for i in 0..20_000 {
                let _ = limits.check_refresh(&format!("family-{i}"), ip);
                manual.advance(step);
                let (held, _) = limits.keys();
                assert!(
                    held <= MAX + SIZE_CHECK_EVERY as usize,
                    "{held} keys after {i}"
                );
            }
        };
        // Keys that have recovered (a second later, at 60 a minute) are dropped when the bound
        // is reached.
        let (manual, clock) = manual();
        let limits = RateLimits::with_max_keys(60, 0, MAX, &clock);
        fill(&limits, &manual, 1);
        assert_eq!(limits.resets(), (0, 0), "idle keys went, nothing was reset");
        // Keys still limited (one a minute, each used once, no time passing) cannot be dropped
        // as idle: the limiter starts over instead of growing.
        let limits = RateLimits::with_max_keys(1, 0, MAX, &clock);
        fill(&limits, &manual, 0);
        assert!(
            limits.resets().0 >= 1,
            "a limiter full of limited keys starts over"
        );
    }
}

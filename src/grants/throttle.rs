//! Login throttling per user and client IP, with exponential back-off (DESIGN.md "Defaults"):
//! the first failures are free, then each further attempt must wait twice as long as the one
//! before, up to a cap. A success clears the record; successful logins are never throttled.
//! Kept in memory per node, bounded in size: records are forgotten an hour after their last
//! failure (the server's upkeep sweeps them), and never more than `MAX_ENTRIES` are held — when
//! the map is full, the older half of the records is dropped (amortized: one sweep per
//! `MAX_ENTRIES / 2` new records).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::clock::Timestamp;

/// Failures allowed before back-off starts.
const FREE_FAILURES: u32 = 5;
/// The longest wait between attempts, in seconds.
const MAX_BACKOFF: i64 = 900;
/// Records older than this are forgotten.
const FORGET_AFTER: i64 = 3600;
/// At most this many records (about 100 bytes each); the oldest are dropped first.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Timestamp,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<(String, IpAddr), Entry>>,
}

fn key(username: &str, ip: IpAddr) -> (String, IpAddr) {
    (username.trim().to_lowercase(), ip)
}

fn backoff(failures: u32) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let exponent = (failures - FREE_FAILURES).min(20);
    (1i64 << exponent).min(MAX_BACKOFF)
}

impl LoginThrottle {
    /// `Err(retry_after_seconds)` while this user + IP must wait.
    pub fn check(&self, username: &str, ip: IpAddr, now: Timestamp) -> Result<(), u64> {
        let Ok(entries) = self.entries.lock() else {
            return Ok(());
        };
        match entries.get(&key(username, ip)) {
            Some(e) => {
                let wait_until = e.last_failure + backoff(e.failures);
                if now < wait_until {
                    Err(u64::try_from(wait_until - now).unwrap_or(1))
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    pub fn failed(&self, username: &str, ip: IpAddr, now: Timestamp) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES {
            make_room(&mut entries, now);
        }
        let entry = entries.entry(key(username, ip)).or_insert(Entry {
            failures: 0,
            last_failure: now,
        });
        if now - entry.last_failure >= FORGET_AFTER {
            entry.failures = 0;
        }
        entry.failures += 1;
        entry.last_failure = now;
    }

    /// Forgets the records whose last failure is older than an hour (the upkeep calls it).
    pub fn forget_stale(&self, now: Timestamp) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, e| now - e.last_failure < FORGET_AFTER);
        }
    }

    /// Records held.
    pub fn records(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    pub fn succeeded(&self, username: &str, ip: IpAddr) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&key(username, ip));
        }
    }
}

/// A full map: stale records go, and if that is not enough, every record no newer than the
/// median last failure.
fn make_room(entries: &mut HashMap<(String, IpAddr), Entry>, now: Timestamp) {
    entries.retain(|_, e| now - e.last_failure < FORGET_AFTER);
    if entries.len() < MAX_ENTRIES / 2 {
        return;
    }
    let mut times: Vec<Timestamp> = entries.values().map(|e| e.last_failure).collect();
    let middle = times.len() / 2;
    let (_, median, _) = times.select_nth_unstable(middle);
    let median = *median;
    entries.retain(|_, e| e.last_failure > median);
    tracing::warn!(
        kept = entries.len(),
        "login throttle full: forgot the older half of its records"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_after_the_free_failures_and_resets_on_success() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..FREE_FAILURES - 1 {
            t.failed("Ada@Example.com", ip, 100);
            assert!(t.check("ada@example.com", ip, 100).is_ok());
        }
        t.failed("ada@example.com", ip, 100);
        assert_eq!(t.check("ada@example.com", ip, 100), Err(1));
        assert!(t.check("ada@example.com", ip, 101).is_ok());
        t.failed("ada@example.com", ip, 101);
        assert_eq!(t.check("ada@example.com", ip, 101), Err(2));
        // Another IP or another user is not affected.
        assert!(t.check("ada@example.com", other, 101).is_ok());
        assert!(t.check("bob@example.com", ip, 101).is_ok());
        t.succeeded("ada@example.com", ip);
        assert!(t.check("ada@example.com", ip, 101).is_ok());
    }

    #[test]
    fn the_wait_is_capped() {
        assert_eq!(backoff(FREE_FAILURES + 30), MAX_BACKOFF);
    }

    #[test]
    fn stale_records_are_forgotten() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        t.failed("old@example.com", ip, 100);
        t.failed("new@example.com", ip, 100 + FORGET_AFTER);
        t.forget_stale(100 + FORGET_AFTER);
        assert_eq!(t.records(), 1);
        assert!(
            t.entries
                .lock()
                .unwrap()
                .contains_key(&key("new@example.com", ip))
        );
    }

    #[test]
    fn the_map_holds_no_more_than_its_bound_and_keeps_the_newest() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // A hundred new records a second, none of them stale when the map fills.
        let total = MAX_ENTRIES + MAX_ENTRIES / 2 + 10;
        for i in 0..total {
            let now = i64::try_from(i / 100).unwrap();
            t.failed(&format!("user{i}@example.com"), ip, now);
            assert!(t.records() <= MAX_ENTRIES);
        }
        // When it filled (at 1,000 s, none stale), the records up to the median second (500)
        // went and the newer ones stayed: 49,900 kept, then 50,010 more.
        assert_eq!(t.records(), 49_900 + 50_010);
        let held = |i: usize| {
            t.entries
                .lock()
                .unwrap()
                .contains_key(&key(&format!("user{i}@example.com"), ip))
        };
        assert!(held(60_000) && held(total - 1));
        assert!(!held(0) && !held(50_000));
    }
}

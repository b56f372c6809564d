//! Rate limits, in memory per node (DESIGN.md "Refresh tokens: the model"): refresh exchanges per
//! family and client IP (seed 002: the same token from the same IP), `/delegation` per user and
//! IP. Answered `429 too_many_requests` with `Retry-After`. A limit of 0 turns one off.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed = RateLimiter<(String, IpAddr), DefaultKeyedStateStore<(String, IpAddr)>, DefaultClock>;

pub struct RateLimits {
    refresh: Option<Keyed>,
    delegation: Option<Keyed>,
}

fn limiter(per_minute: u32) -> Option<Keyed> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

fn check(limiter: &Option<Keyed>, key: &str, ip: IpAddr) -> Result<(), u64> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter
        .check_key(&(key.to_owned(), ip))
        .map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
}

impl RateLimits {
    /// Requests per minute (a burst of as many) for each limit; 0 turns it off.
    pub fn new(refresh_per_minute: u32, delegation_per_minute: u32) -> Self {
        Self {
            refresh: limiter(refresh_per_minute),
            delegation: limiter(delegation_per_minute),
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

    /// Forgets keys whose limits have fully recovered, bounding memory.
    pub fn forget_idle(&self) {
        for limiter in [&self.refresh, &self.delegation].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_ip_and_zero_is_off() {
        let limits = RateLimits::new(3, 0);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check_refresh("fam", ip).is_ok());
        }
        let wait = limits.check_refresh("fam", ip).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(limits.check_refresh("fam", other).is_ok());
        assert!(limits.check_refresh("other", ip).is_ok());
        for _ in 0..100 {
            assert!(limits.check_delegation("user", ip).is_ok());
        }
    }
}

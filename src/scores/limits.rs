//! Per-address and per-IP submission rate limits (GCRA via `governor`),
//! one pair per leaderboard. In memory and per node: they bound load and
//! bursts; the durable daily cap is enforced by the store.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::{LimitScope, ScoreError};

/// Above this many tracked keys a limiter drops the ones whose buckets are
/// full again, so a spray of fresh IPs or addresses cannot grow memory
/// without bound.
const MAX_TRACKED_KEYS: usize = 100_000;

/// The two limiters of one leaderboard (either may be off).
#[derive(Debug)]
pub(crate) struct Limits {
    by_address: Option<DefaultKeyedRateLimiter<String>>,
    by_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
}

impl Limits {
    /// `0` disables a limiter.
    pub(crate) fn new(per_address_per_minute: u32, per_ip_per_minute: u32) -> Self {
        Self {
            by_address: NonZeroU32::new(per_address_per_minute)
                .map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            by_ip: NonZeroU32::new(per_ip_per_minute)
                .map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            clock: DefaultClock::default(),
        }
    }

    pub(crate) fn check_ip(&self, ip: IpAddr) -> Result<(), ScoreError> {
        let Some(limiter) = &self.by_ip else {
            return Ok(());
        };
        if limiter.len() > MAX_TRACKED_KEYS {
            limiter.retain_recent();
        }
        limiter
            .check_key(&ip)
            .map_err(|not_until| ScoreError::RateLimited {
                scope: LimitScope::Ip,
                retry_after_ms: not_until.wait_time_from(self.clock.now()).as_millis() as u64,
            })
    }

    pub(crate) fn check_address(&self, address: &str) -> Result<(), ScoreError> {
        let Some(limiter) = &self.by_address else {
            return Ok(());
        };
        if limiter.len() > MAX_TRACKED_KEYS {
            limiter.retain_recent();
        }
        limiter
            .check_key(&address.to_owned())
            .map_err(|not_until| ScoreError::RateLimited {
                scope: LimitScope::Address,
                retry_after_ms: not_until.wait_time_from(self.clock.now()).as_millis() as u64,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_with_retry_hint() {
        let limits = Limits::new(2, 0);
        limits.check_address("a").expect("1st");
        limits.check_address("a").expect("2nd");
        let err = limits
            .check_address("a")
            .expect_err("3rd in the same minute");
        assert_eq!(err.code(), "rate_limited_address");
        // 2 per minute: the next token is ~30 s away.
        let secs = err.retry_after_secs().expect("retry hint");
        assert!((29..=30).contains(&secs), "retry after {secs}s");
        limits
            .check_address("b")
            .expect("other address has its own bucket");
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        limits.check_ip(ip).expect("ip limiter off");
    }
}

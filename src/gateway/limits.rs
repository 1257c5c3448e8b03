//! Connection admission: total, per-IP counts, with RAII permits so a count
//! can never leak when a connection task ends in any way.
//!
//! Per-connection message rates use `governor` (see [`MessageRate`]).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::clock::DefaultClock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Which connection limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server's total.
    Total,
    /// The client IP's share.
    PerIp,
}

/// Counts open connections.
#[derive(Clone)]
pub struct Admission {
    inner: Arc<AdmissionInner>,
}

struct AdmissionInner {
    total: AtomicUsize,
    per_ip: DashMap<IpAddr, usize>,
    max_total: usize,
    max_per_ip: usize,
}

/// Held for a connection's lifetime; releases its counts on drop.
pub struct Permit {
    inner: Arc<AdmissionInner>,
    ip: IpAddr,
}

impl Admission {
    /// Limits for the whole server and per IP.
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self {
            inner: Arc::new(AdmissionInner {
                total: AtomicUsize::new(0),
                per_ip: DashMap::new(),
                max_total,
                max_per_ip,
            }),
        }
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.inner.total.load(Ordering::Relaxed)
    }

    /// Admits one more connection from `ip`, or says which limit refuses it.
    pub fn admit(&self, ip: IpAddr) -> Result<Permit, Refused> {
        let previous = self.inner.total.fetch_add(1, Ordering::AcqRel);
        if previous >= self.inner.max_total {
            self.inner.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Total);
        }
        let mut count = self.inner.per_ip.entry(ip).or_insert(0);
        if *count >= self.inner.max_per_ip {
            drop(count);
            self.inner.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::PerIp);
        }
        *count += 1;
        Ok(Permit {
            inner: Arc::clone(&self.inner),
            ip,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.inner.total.fetch_sub(1, Ordering::AcqRel);
        let mut now_zero = false;
        if let Some(mut count) = self.inner.per_ip.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            now_zero = *count == 0;
        }
        if now_zero {
            self.inner.per_ip.remove_if(&self.ip, |_, c| *c == 0);
        }
    }
}

/// What to do with a message under the per-connection rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Within the rate.
    Allow,
    /// Over the rate: drop it silently.
    Drop,
    /// Over the rate: drop it and tell the client (once in a while).
    Warn,
    /// Over the rate too often: close the connection.
    Close,
}

/// Strikes are forgiven after this long without one.
const STRIKE_MEMORY: Duration = Duration::from_secs(10);
/// Every this many strikes the client is told again.
const WARN_EVERY: u32 = 10;

/// One clock for every connection's limiter. `RateLimiter::direct` builds a
/// new quanta clock each time (CPUID probing and calibration): that was 3.4 %
/// of the server's samples in a connect storm. A clone is a copy.
fn shared_clock() -> DefaultClock {
    static CLOCK: std::sync::OnceLock<DefaultClock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(DefaultClock::default).clone()
}

/// A graduated per-connection message rate: drop → error → close.
pub struct MessageRate {
    limiter: DefaultDirectRateLimiter,
    strikes: u32,
    last_strike: Option<Instant>,
    max_strikes: u32,
}

impl MessageRate {
    /// `per_second` sustained with `burst`, closing after `max_strikes`.
    pub fn new(per_second: u32, burst: u32, max_strikes: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::direct_with_clock(
                Quota::per_second(rate).allow_burst(burst),
                shared_clock(),
            ),
            strikes: 0,
            last_strike: None,
            max_strikes: max_strikes.max(1),
        }
    }

    /// Judges one incoming message.
    pub fn check(&mut self) -> RateVerdict {
        if self.limiter.check().is_ok() {
            return RateVerdict::Allow;
        }
        let now = Instant::now();
        if self
            .last_strike
            .is_some_and(|t| now.duration_since(t) > STRIKE_MEMORY)
        {
            self.strikes = 0;
        }
        self.last_strike = Some(now);
        self.strikes += 1;
        if self.strikes >= self.max_strikes {
            RateVerdict::Close
        } else if self.strikes == 1 || self.strikes % WARN_EVERY == 0 {
            RateVerdict::Warn
        } else {
            RateVerdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_release_counts() {
        let a = Admission::new(2, 1);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let p1 = a.admit(ip).expect("first");
        assert_eq!(a.admit(ip).err(), Some(Refused::PerIp));
        let p2 = a.admit(other).expect("other ip");
        assert_eq!(a.admit([127, 0, 0, 3].into()).err(), Some(Refused::Total));
        drop(p1);
        drop(p2);
        assert_eq!(a.open(), 0);
        assert!(a.admit(ip).is_ok());
    }

    #[test]
    fn rate_is_graduated() {
        let mut r = MessageRate::new(1, 2, 25);
        assert_eq!(r.check(), RateVerdict::Allow);
        assert_eq!(r.check(), RateVerdict::Allow);
        assert_eq!(r.check(), RateVerdict::Warn);
        assert_eq!(r.check(), RateVerdict::Drop);
        let mut verdicts = Vec::new();
        for _ in 0..30 {
            verdicts.push(r.check());
        }
        assert!(verdicts.contains(&RateVerdict::Warn));
        assert_eq!(verdicts.last(), Some(&RateVerdict::Close));
    }
}

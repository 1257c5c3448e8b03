//! Latency histograms: microsecond resolution, 3 significant digits, up to
//! one minute, so a percentile is exact to 0.1 % of its value. Memory is a
//! few tens of KiB per histogram whatever the sample count.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest recordable value, µs; bigger samples are clamped to it (and so
/// still counted, and visible as `max`).
const MAX_US: u64 = 60_000_000;

/// A latency histogram in milliseconds.
#[derive(Debug, Clone)]
pub struct Hist {
    h: Histogram<u64>,
}

impl Default for Hist {
    fn default() -> Self {
        Self::new()
    }
}

/// Percentiles of a histogram, ms (all `None` when there is no sample).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Sample count.
    pub n: u64,
    /// Mean.
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
    /// Largest sample.
    pub max: Option<f64>,
}

impl Hist {
    /// An empty histogram.
    pub fn new() -> Hist {
        // Constant bounds inside what hdrhistogram accepts (low >= 1,
        // high >= 2 * low, sigfig <= 5): this cannot fail at run time.
        let h =
            Histogram::new_with_bounds(1, MAX_US, 3).expect("constant histogram bounds are valid");
        Hist { h }
    }

    /// Records one sample, ms (negative values count as 0).
    pub fn record_ms(&mut self, ms: f64) {
        let us = if ms.is_finite() && ms > 0.0 {
            (ms * 1000.0).round() as u64
        } else {
            0
        };
        self.h.saturating_record(us.clamp(1, MAX_US));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Hist) {
        // Same bounds on both sides: `add` only fails on a bounds mismatch.
        if self.h.add(&other.h).is_err() {
            for v in other.h.iter_recorded() {
                self.h
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    /// Sample count.
    pub fn len(&self) -> u64 {
        self.h.len()
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// The value at quantile `q` (0..=1), ms.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.h.is_empty()).then(|| self.h.value_at_quantile(q) as f64 / 1000.0)
    }

    /// Percentiles.
    pub fn summary(&self) -> Summary {
        if self.h.is_empty() {
            return Summary::default();
        }
        let ms = |us: u64| round3(us as f64 / 1000.0);
        Summary {
            n: self.h.len(),
            mean: Some(round3(self.h.mean() / 1000.0)),
            p50: Some(ms(self.h.value_at_quantile(0.50))),
            p95: Some(ms(self.h.value_at_quantile(0.95))),
            p99: Some(ms(self.h.value_at_quantile(0.99))),
            p999: Some(ms(self.h.value_at_quantile(0.999))),
            max: Some(ms(self.h.max())),
        }
    }
}

/// Rounds to 3 decimals (µs in ms) for stable JSON.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut h = Hist::new();
        for i in 1..=1000 {
            h.record_ms(i as f64 * 0.05); // 0.05 .. 50 ms
        }
        let s = h.summary();
        assert_eq!(s.n, 1000);
        let p50 = s.p50.expect("p50");
        let p99 = s.p99.expect("p99");
        assert!((p50 - 25.0).abs() < 0.05, "p50 {p50}");
        assert!((p99 - 49.5).abs() < 0.05, "p99 {p99}");
        assert!((s.max.expect("max") - 50.0).abs() < 0.05);
    }

    #[test]
    fn merge_and_edge_values() {
        let mut a = Hist::new();
        let mut b = Hist::new();
        a.record_ms(1.0);
        b.record_ms(3.0);
        b.record_ms(-5.0); // clock skew: counted as ~0
        b.record_ms(1e9); // clamped to one minute, still counted
        a.merge(&b);
        assert_eq!(a.len(), 4);
        assert!(a.summary().max.expect("max") >= 59_000.0);
        assert_eq!(Hist::new().summary(), Summary::default());
    }
}

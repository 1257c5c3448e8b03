//! A bounded map of single-use tokens (tickets, challenges) with one TTL.
//!
//! Every entry lives the same time, so insertion order is expiry order: a
//! queue of `(deadline, key)` lets each insert drop the expired entries at its
//! front in amortized O(1), instead of scanning the whole map per insert
//! (which made every connect O(outstanding tokens)).
//!
//! Must not: hold more than `max` live entries, or any entry past its deadline.

use std::collections::{HashMap, VecDeque};

/// See the module documentation.
#[derive(Debug)]
pub struct ExpiringMap<V> {
    live: HashMap<String, (V, u64)>,
    /// `(deadline, key)` in insertion order; may name keys already removed.
    order: VecDeque<(u64, String)>,
    max: usize,
}

impl<V> ExpiringMap<V> {
    /// A map holding at most `max` live entries (at least one).
    pub fn new(max: usize) -> Self {
        Self {
            live: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// Inserts `key` until `deadline`; entries expired at `now` are dropped
    /// first, then the oldest while the map is full.
    pub fn insert(&mut self, key: String, value: V, deadline: u64, now: u64) {
        self.purge(now);
        while self.live.len() >= self.max {
            match self.order.pop_front() {
                Some((_, old)) => {
                    self.live.remove(&old);
                }
                None => break,
            }
        }
        // Removed keys leave stale queue entries; keep the queue bounded too.
        if self.order.len() >= self.max.saturating_mul(2) {
            let live = &self.live;
            self.order.retain(|(_, k)| live.contains_key(k));
        }
        self.order.push_back((deadline, key.clone()));
        self.live.insert(key, (value, deadline));
    }

    /// Takes `key` out if it is there and not expired at `now`.
    pub fn take(&mut self, key: &str, now: u64) -> Option<V> {
        let (value, deadline) = self.live.remove(key)?;
        (now < deadline).then_some(value)
    }

    /// Forgets `key` (a token that can no longer be used).
    pub fn discard(&mut self, key: &str) {
        self.live.remove(key);
    }

    /// Live entries (expired ones not yet purged included).
    pub fn len(&self) -> usize {
        self.live.len()
    }

    fn purge(&mut self, now: u64) {
        while let Some((deadline, _)) = self.order.front() {
            if *deadline > now {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                if self.live.get(&key).is_some_and(|(_, d)| *d <= now) {
                    self.live.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_go_and_cannot_be_taken() {
        let mut m = ExpiringMap::new(10);
        m.insert("a".into(), 1, 100, 0);
        m.insert("b".into(), 2, 150, 50);
        assert_eq!(m.take("a", 100), None, "expired at its deadline");
        m.insert("c".into(), 3, 300, 160);
        assert_eq!(m.len(), 1, "b was purged by the insert at 160");
        assert_eq!(m.take("c", 299), Some(3));
        assert_eq!(m.take("c", 299), None, "single use");
    }

    #[test]
    fn full_map_drops_the_oldest_and_stays_bounded() {
        let mut m = ExpiringMap::new(3);
        for i in 0..10u64 {
            m.insert(format!("k{i}"), i, 1_000 + i, i);
            if i % 2 == 0 {
                m.discard(&format!("k{i}"));
            }
            assert!(m.len() <= 3);
            assert!(m.order.len() <= 6, "queue bounded: {}", m.order.len());
        }
        assert_eq!(m.take("k9", 9), Some(9));
        assert_eq!(m.take("k1", 9), None, "oldest dropped");
    }
}

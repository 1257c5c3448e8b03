//! The verified-delegation cache: remembers the signer recovered from an ephemeral
//! delegation so a warm request costs one recovery (the entity link) instead of two.
//!
//! Owns: a bounded LRU behind [`RecoveryCache`]. Must not: skip any check — the walk
//! still checks the expiration and compares the cached signer with the authority;
//! the cache only replaces a pure function (recovery) by a lookup.

use std::num::NonZeroUsize;

use lru::LruCache;
use parking_lot::Mutex;
use plaza_protocol::auth::crypto::Address;
use plaza_protocol::auth::RecoveryCache;

/// Bounded LRU of delegation recoveries.
pub struct DelegationCache {
    inner: Mutex<LruCache<[u8; 32], (Address, i64)>>,
}

impl DelegationCache {
    /// A cache of at most `capacity` delegations (0 is treated as 1).
    pub fn new(capacity: usize) -> Self {
        let cap = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            inner: Mutex::new(LruCache::new(cap)),
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RecoveryCache for DelegationCache {
    fn get(&self, key: &[u8; 32]) -> Option<Address> {
        self.inner.lock().get(key).map(|(addr, _)| *addr)
    }

    fn put(&self, key: [u8; 32], address: Address, expires_ms: i64) {
        self.inner.lock().put(key, (address, expires_ms));
    }
}

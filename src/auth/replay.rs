//! The replay store: a signed request accepted once is refused while its timestamp
//! is still inside the window.
//!
//! Owns: the [`ReplayStore`] seam and its bounded in-memory implementation.
//! Must not: key on signature bytes — ECDSA signatures are malleable (high-s twins
//! verify too, SPEC.md §2.2); keys are derived from address + signed payload.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;

use parking_lot::Mutex;

use super::error::AuthError;

/// Future returned by [`ReplayStore::insert_new`].
pub type ReplayFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, AuthError>> + Send + 'a>>;

/// Remembers what was accepted. Async so a shared (Redis) store can implement it.
pub trait ReplayStore: Send + Sync {
    /// Records `key` until `expires_ms`. `Ok(true)` if it was new, `Ok(false)` if it
    /// is a replay; an error if the store cannot decide (then the request is refused).
    fn insert_new(&self, key: [u8; 32], expires_ms: u64, now_ms: u64) -> ReplayFuture<'_>;
}

/// The replay key: `keccak256(lower(address) ‖ 0x00 ‖ payload)`.
pub fn replay_key(address_lower: &str, payload: &str) -> [u8; 32] {
    let mut buf = Vec::with_capacity(address_lower.len() + 1 + payload.len());
    buf.extend_from_slice(address_lower.as_bytes());
    buf.push(0);
    buf.extend_from_slice(payload.as_bytes());
    plaza_protocol::auth::crypto::keccak256(&buf)
}

/// Bounded in-memory store. When full of live entries it refuses new requests
/// ([`AuthError::ReplayStoreFull`]) instead of forgetting: forgetting would let
/// replays through.
pub struct MemoryReplayStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_key: HashMap<[u8; 32], u64>,
    by_expiry: BTreeSet<(u64, [u8; 32])>,
}

impl MemoryReplayStore {
    /// A store holding at most `capacity` live entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.inner.lock().by_key.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert_sync(&self, key: [u8; 32], expires_ms: u64, now_ms: u64) -> Result<bool, AuthError> {
        let mut inner = self.inner.lock();
        // Drop everything expired first: an old key may be accepted again only once
        // its timestamp has left the window, and then the window check refuses it anyway.
        while let Some(&(exp, k)) = inner.by_expiry.first() {
            if exp >= now_ms {
                break;
            }
            inner.by_expiry.pop_first();
            inner.by_key.remove(&k);
        }
        if inner.by_key.contains_key(&key) {
            return Ok(false);
        }
        if inner.by_key.len() >= self.capacity {
            return Err(AuthError::ReplayStoreFull);
        }
        inner.by_key.insert(key, expires_ms);
        inner.by_expiry.insert((expires_ms, key));
        Ok(true)
    }
}

impl ReplayStore for MemoryReplayStore {
    fn insert_new(&self, key: [u8; 32], expires_ms: u64, now_ms: u64) -> ReplayFuture<'_> {
        let result = self.insert_sync(key, expires_ms, now_ms);
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_replays_until_expiry_and_stays_bounded() {
        let store = MemoryReplayStore::new(2);
        let a = replay_key("0xaa", "get:/v1/ws:1:{}");
        let b = replay_key("0xaa", "get:/v1/ws:2:{}");
        let c = replay_key("0xbb", "get:/v1/ws:1:{}");
        assert_eq!(store.insert_new(a, 100, 0).await, Ok(true));
        assert_eq!(store.insert_new(a, 100, 50).await, Ok(false));
        assert_eq!(store.insert_new(b, 200, 50).await, Ok(true));
        assert_eq!(
            store.insert_new(c, 200, 50).await,
            Err(AuthError::ReplayStoreFull)
        );
        // After `a` expires there is room again, and `a` is forgotten.
        assert_eq!(store.insert_new(c, 200, 101).await, Ok(true));
        assert_eq!(store.len(), 2);
    }
}

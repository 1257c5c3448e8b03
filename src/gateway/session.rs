//! Sessions: an identity plus (at most) one live connection, held for a grace
//! time after the socket drops so the client can `resume` without signing
//! again.
//!
//! Owns the resume tokens and the per-wallet connection count. Never touches
//! room state: it tells the [`RoomManager`] when a session detaches, resumes
//! or ends. A bad or expired token changes nothing here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use dashmap::DashMap;
use tokio_util::sync::CancellationToken;

use super::wake::Control;
use crate::auth::Identity;
use crate::room::RoomManager;

/// Random bytes in a resume token: 192 bits, far beyond guessing.
const TOKEN_BYTES: usize = 24;

/// Random text of `n` bytes, URL-safe base64.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // getrandom only fails when the OS has no entropy source at all; a
    // deterministic fallback would be a security hole, so fail loudly.
    if getrandom::fill(&mut buf).is_err() {
        panic!("operating system random source unavailable");
    }
    URL_SAFE_NO_PAD.encode(buf)
}

struct Entry {
    identity: Arc<Identity>,
    token: String,
    /// Bumped on every attach; a detach or timer from an older attach is stale.
    generation: u64,
    /// Stops the attached connection (takeover on resume).
    attached: Option<Arc<Control>>,
}

/// A session that a connection now owns.
#[derive(Debug, Clone)]
pub struct Attached {
    /// Session id.
    pub session_id: Arc<str>,
    /// Identity.
    pub identity: Arc<Identity>,
    /// The token for the next resume.
    pub resume_token: String,
    /// This attach's generation (give it back to [`Sessions::detach`]).
    pub generation: u64,
}

/// Why a resume was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// Unknown, spent or expired token.
    #[error("resume token is unknown, already used or expired")]
    UnknownToken,
}

/// The session registry. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    by_id: DashMap<Arc<str>, Entry>,
    by_token: DashMap<String, Arc<str>>,
    per_wallet: DashMap<String, usize>,
    next_generation: AtomicU64,
    grace: Duration,
    rooms: RoomManager,
    /// Ends the grace timers at shutdown (they hold room handles).
    shutdown: CancellationToken,
}

impl Sessions {
    /// A registry holding dropped sessions for `grace`; its timers stop when
    /// `shutdown` is cancelled.
    pub fn new(grace: Duration, rooms: RoomManager, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                by_id: DashMap::new(),
                by_token: DashMap::new(),
                per_wallet: DashMap::new(),
                next_generation: AtomicU64::new(1),
                grace,
                rooms,
                shutdown,
            }),
        }
    }

    /// Live connections of `address`.
    pub fn wallet_connections(&self, address: &str) -> usize {
        self.inner.per_wallet.get(address).map(|c| *c).unwrap_or(0)
    }

    /// Sessions currently held (attached or in grace).
    pub fn len(&self) -> usize {
        self.inner.by_id.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.inner.by_id.is_empty()
    }

    /// A new session for a freshly verified identity, attached to the
    /// connection that `cancel` stops.
    pub fn create(&self, identity: Identity, cancel: Arc<Control>) -> Attached {
        let session_id: Arc<str> = Arc::from(random_token(12));
        let token = random_token(TOKEN_BYTES);
        let generation = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
        let identity = Arc::new(identity);
        *self
            .inner
            .per_wallet
            .entry(identity.address.clone())
            .or_insert(0) += 1;
        self.inner
            .by_token
            .insert(token.clone(), Arc::clone(&session_id));
        self.inner.by_id.insert(
            Arc::clone(&session_id),
            Entry {
                identity: Arc::clone(&identity),
                token: token.clone(),
                generation,
                attached: Some(cancel),
            },
        );
        Attached {
            session_id,
            identity,
            resume_token: token,
            generation,
        }
    }

    /// Takes a session back with its token. The token is spent and a new one
    /// issued. If a connection still holds the session, it is cancelled
    /// (takeover). Unknown tokens change nothing.
    pub fn resume(&self, token: &str, cancel: Arc<Control>) -> Result<Attached, ResumeError> {
        let (_, session_id) = self
            .inner
            .by_token
            .remove(token)
            .ok_or(ResumeError::UnknownToken)?;
        let mut entry = match self.inner.by_id.get_mut(&session_id) {
            Some(e) => e,
            None => return Err(ResumeError::UnknownToken),
        };
        let new_token = random_token(TOKEN_BYTES);
        let generation = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
        if let Some(old) = entry.attached.replace(cancel) {
            old.stop();
        } else {
            *self
                .inner
                .per_wallet
                .entry(entry.identity.address.clone())
                .or_insert(0) += 1;
        }
        entry.token = new_token.clone();
        entry.generation = generation;
        let identity = Arc::clone(&entry.identity);
        drop(entry);
        self.inner
            .by_token
            .insert(new_token.clone(), Arc::clone(&session_id));
        Ok(Attached {
            session_id,
            identity,
            resume_token: new_token,
            generation,
        })
    }

    /// The connection of `generation` ended: hold the session for the grace
    /// time, then end it unless it was resumed meanwhile.
    pub fn detach(&self, session_id: &Arc<str>, generation: u64) {
        let address = {
            let Some(mut entry) = self.inner.by_id.get_mut(session_id) else {
                return;
            };
            if entry.generation != generation || entry.attached.is_none() {
                return; // already taken over by a newer connection
            }
            entry.attached = None;
            entry.identity.address.clone()
        };
        self.decrement_wallet(&address);
        self.inner.rooms.detach(session_id);
        let this = self.clone();
        let session_id = Arc::clone(session_id);
        let shutdown = self.inner.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(this.inner.grace) => this.expire(&session_id, generation),
                _ = shutdown.cancelled() => {}
            }
        });
    }

    fn expire(&self, session_id: &Arc<str>, generation: u64) {
        let removed = self.inner.by_id.remove_if(session_id, |_, e| {
            e.generation == generation && e.attached.is_none()
        });
        if let Some((_, entry)) = removed {
            self.inner.by_token.remove(&entry.token);
            self.inner.rooms.end_session(session_id);
            metrics::counter!("plaza_sessions_expired_total").increment(1);
        }
    }

    fn decrement_wallet(&self, address: &str) {
        let mut now_zero = false;
        if let Some(mut count) = self.inner.per_wallet.get_mut(address) {
            *count = count.saturating_sub(1);
            now_zero = *count == 0;
        }
        if now_zero {
            self.inner.per_wallet.remove_if(address, |_, c| *c == 0);
        }
    }

    /// Ends every session now (shutdown).
    pub fn end_all(&self) {
        let ids: Vec<Arc<str>> = self
            .inner
            .by_id
            .iter()
            .map(|e| Arc::clone(e.key()))
            .collect();
        for id in ids {
            if let Some((_, entry)) = self.inner.by_id.remove(&id) {
                self.inner.by_token.remove(&entry.token);
                self.inner.rooms.end_session(&id);
            }
        }
        self.inner.per_wallet.clear();
    }
}

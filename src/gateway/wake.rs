//! The wake-ups of a connection that are not frames: *stop* (server shutdown,
//! or a `resume` that took the session over) and the keep-alive *tick* (idle
//! check and server ping).
//!
//! Each connection owns a [`Control`]: one flag word and one
//! [`AtomicWaker`]. Its task polls it once per wake-up, which costs a load
//! and a compare when nothing is set. (A `CancellationToken` future and a
//! per-connection timer, polled on every frame, took a lock each and were
//! about 5 % of the server's instructions under the arena load.) The
//! registry, [`Conns`], reaches every live connection: one ticker task ticks
//! them all, and shutdown stops them all.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use dashmap::DashMap;
use futures_util::task::AtomicWaker;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Flag: the connection must end (it stays set).
pub const STOP: u8 = 1;
/// Flag: a keep-alive period passed (cleared when taken).
pub const TICK: u8 = 2;

/// One connection's non-frame wake-ups.
#[derive(Debug, Default)]
pub struct Control {
    flags: AtomicU8,
    waker: AtomicWaker,
}

impl Control {
    /// Ends the connection (its task sees [`STOP`] on its next poll).
    pub fn stop(&self) {
        self.raise(STOP);
    }

    fn tick(&self) {
        self.raise(TICK);
    }

    fn raise(&self, flag: u8) {
        self.flags.fetch_or(flag, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Whether [`stop`](Control::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.flags.load(Ordering::Acquire) & STOP != 0
    }

    /// Ready with the raised flags ([`TICK`] is cleared, [`STOP`] stays), or
    /// pending with the task's waker registered.
    pub fn poll_flags(&self, cx: &mut Context<'_>) -> Poll<u8> {
        if let Some(flags) = self.take() {
            return Poll::Ready(flags);
        }
        self.waker.register(cx.waker());
        // A raise between the first look and the registration woke no one.
        match self.take() {
            Some(flags) => Poll::Ready(flags),
            None => Poll::Pending,
        }
    }

    /// Waits for a flag (see [`poll_flags`](Control::poll_flags)).
    pub async fn flags(&self) -> u8 {
        poll_fn(|cx| self.poll_flags(cx)).await
    }

    fn take(&self) -> Option<u8> {
        let flags = self.flags.load(Ordering::Acquire);
        if flags == 0 {
            return None;
        }
        Some(self.flags.fetch_and(!TICK, Ordering::AcqRel))
    }
}

/// Every live connection's [`Control`]. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct Conns {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    live: DashMap<u64, Arc<Control>, foldhash::fast::RandomState>,
    next_id: AtomicU64,
    stopping: AtomicBool,
}

/// A connection's place in [`Conns`]; leaving it (drop) unregisters.
#[derive(Debug)]
pub struct Registration {
    inner: Arc<Inner>,
    id: u64,
    control: Arc<Control>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conns")
            .field("live", &self.live.len())
            .finish()
    }
}

impl Registration {
    /// This connection's control (the session registry holds a clone to
    /// stop it on takeover).
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.inner.live.remove(&self.id);
    }
}

impl Conns {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a new connection. After [`stop_all`](Conns::stop_all) the
    /// new connection starts stopped.
    pub fn register(&self) -> Registration {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let control = Arc::new(Control::default());
        self.inner.live.insert(id, Arc::clone(&control));
        // Inserted before the flag is read, and `stop_all` sets the flag
        // before it walks the map: one of the two sees the other.
        if self.inner.stopping.load(Ordering::SeqCst) {
            control.stop();
        }
        Registration {
            inner: Arc::clone(&self.inner),
            id,
            control,
        }
    }

    /// Live connections.
    pub fn len(&self) -> usize {
        self.inner.live.len()
    }

    /// Whether none is live.
    pub fn is_empty(&self) -> bool {
        self.inner.live.is_empty()
    }

    /// Stops every live connection and every later one.
    pub fn stop_all(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        for c in self.inner.live.iter() {
            c.value().stop();
        }
    }

    fn tick_all(&self) {
        for c in self.inner.live.iter() {
            c.value().tick();
        }
    }

    /// Ticks every connection each `period` until `shutdown`, then stops
    /// them all.
    pub fn spawn_ticker(&self, period: Duration, shutdown: CancellationToken) -> JoinHandle<()> {
        let conns = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = every.tick() => conns.tick_all(),
                }
            }
            conns.stop_all();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tick_is_taken_once_and_a_stop_stays() {
        let conns = Conns::new();
        let reg = conns.register();
        let c = Arc::clone(reg.control());
        c.tick();
        assert_eq!(c.flags().await, TICK);
        let pending = poll_fn(|cx| Poll::Ready(c.poll_flags(cx))).await;
        assert!(pending.is_pending(), "the tick was taken");
        c.tick();
        c.stop();
        assert_eq!(c.flags().await, TICK | STOP);
        assert_eq!(c.flags().await, STOP, "stop stays, tick does not");
        assert!(c.is_stopped());
    }

    #[tokio::test]
    async fn a_raise_wakes_the_waiting_task() {
        let conns = Conns::new();
        let reg = conns.register();
        let c = Arc::clone(reg.control());
        let waiter = tokio::spawn(async move { c.flags().await });
        tokio::task::yield_now().await;
        reg.control().stop();
        let flags = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("task");
        assert_eq!(flags, STOP);
    }

    #[tokio::test]
    async fn stop_all_reaches_live_and_later_connections_and_drop_unregisters() {
        let conns = Conns::new();
        let a = conns.register();
        let b = conns.register();
        assert_eq!(conns.len(), 2);
        drop(b);
        assert_eq!(conns.len(), 1);
        conns.stop_all();
        assert!(a.control().is_stopped());
        let late = conns.register();
        assert!(late.control().is_stopped(), "registered after stop_all");
    }

    #[tokio::test]
    async fn the_ticker_ticks_everyone_then_stops_them_at_shutdown() {
        let conns = Conns::new();
        let a = conns.register();
        let b = conns.register();
        let shutdown = CancellationToken::new();
        let ticker = conns.spawn_ticker(Duration::from_millis(20), shutdown.clone());
        let wait = Duration::from_secs(5);
        for c in [&a, &b] {
            let flags = tokio::time::timeout(wait, c.control().flags()).await;
            assert_eq!(flags.expect("ticked"), TICK);
        }
        shutdown.cancel();
        ticker.await.expect("ticker ends");
        assert!(a.control().is_stopped() && b.control().is_stopped());
    }
}

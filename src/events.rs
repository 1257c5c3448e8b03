//! Events that rooms emit for the durable side (scores, audit), so room
//! actors never await the store: they `try_send` here and a writer task owned
//! by the scores module persists them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};

/// Capacity of the event queue. Seat events are small; 64k absorbs bursts of
/// thousands of joins while the store catches up.
pub const EVENT_CAPACITY: usize = 65_536;

/// Something the durable side must know.
#[derive(Debug, Clone, PartialEq)]
pub enum PlazaEvent {
    /// A seat was taken in a room: the anchor of score session binding.
    SeatOpened {
        /// Globally unique seat id (sent to the client in `joined.seat`).
        seat: String,
        /// Lower-case wallet address.
        address: String,
        /// Room id.
        room: String,
        /// Room type name.
        room_type: String,
        /// Unix ms.
        at_ms: u64,
    },
    /// The seat was released (leave, drop past grace, dispose).
    SeatClosed {
        /// Seat id.
        seat: String,
        /// Unix ms.
        at_ms: u64,
    },
    /// Room logic awarded a score (server-authoritative, no client claim).
    Award {
        /// Leaderboard id.
        leaderboard: String,
        /// Lower-case wallet address.
        address: String,
        /// Score value.
        score: i64,
        /// The seat it was earned in.
        seat: String,
        /// Unix ms.
        at_ms: u64,
    },
}

/// Sending side; cheap to clone. Never blocks.
#[derive(Debug, Clone)]
pub struct EventSink {
    tx: mpsc::Sender<PlazaEvent>,
    progress: Arc<EventProgress>,
}

impl EventSink {
    /// A new queue; the receiver goes to the scores writer.
    pub fn channel() -> (Self, EventQueue) {
        let (tx, rx) = mpsc::channel(EVENT_CAPACITY);
        let progress = Arc::new(EventProgress::default());
        (
            Self {
                tx,
                progress: Arc::clone(&progress),
            },
            EventQueue { rx, progress },
        )
    }

    /// Queues an event; a full queue drops it with a warning and a metric,
    /// which makes the affected score claims fail closed (unknown session).
    pub fn emit(&self, event: PlazaEvent) {
        // Counted before the send: whoever reads `queued` after this event
        // is in the queue also counts every event ahead of it, even one
        // another thread has sent but not yet returned from.
        self.progress.queued.fetch_add(1, Ordering::AcqRel);
        if self.tx.try_send(event).is_err() {
            self.progress.queued.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("plaza_events_dropped_total").increment(1);
            tracing::warn!("event queue full or closed: event dropped");
        }
    }
}

/// Receiving side: the queue plus the counters a reader of the store waits
/// on (see [`EventProgress`]).
#[derive(Debug)]
pub struct EventQueue {
    rx: mpsc::Receiver<PlazaEvent>,
    progress: Arc<EventProgress>,
}

impl EventQueue {
    /// The next event; `None` once every sink is dropped and the queue drained.
    pub async fn recv(&mut self) -> Option<PlazaEvent> {
        self.rx.recv().await
    }

    /// Up to `limit` events into `buf` (see `mpsc::Receiver::recv_many`).
    pub async fn recv_many(&mut self, buf: &mut Vec<PlazaEvent>, limit: usize) -> usize {
        self.rx.recv_many(buf, limit).await
    }

    /// An event already queued, without waiting.
    pub fn try_recv(&mut self) -> Result<PlazaEvent, mpsc::error::TryRecvError> {
        self.rx.try_recv()
    }

    /// The counters shared with the sinks.
    pub fn progress(&self) -> Arc<EventProgress> {
        Arc::clone(&self.progress)
    }
}

/// How far the durable side has got: events queued by rooms and events the
/// writer has finished with (stored, or given up on). A reader that must see
/// every event emitted before some moment (a score claim naming a seat the
/// client learned of in `joined`, whose `SeatOpened` was queued before
/// `joined` was sent) takes [`EventProgress::queued`] and waits for
/// [`EventProgress::wait_handled`] of it: the queue is FIFO, and an event is
/// counted before it enters the queue, so the count read then covers it and
/// everything ahead of it. (A send that fails is uncounted again; a waiter
/// that read the count meanwhile waits for its timeout at worst.)
#[derive(Debug, Default)]
pub struct EventProgress {
    queued: AtomicU64,
    handled: AtomicU64,
    notify: Notify,
}

impl EventProgress {
    /// Events queued so far.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Acquire)
    }

    /// Events the writer has finished with so far.
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Acquire)
    }

    /// The writer has finished with `n` more events.
    pub fn mark_handled(&self, n: u64) {
        self.handled.fetch_add(n, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    /// Waits until at least `mark` events are handled, or `timeout` passes;
    /// returns whether the mark was reached.
    pub async fn wait_handled(&self, mark: u64, timeout: Duration) -> bool {
        let reached = async {
            loop {
                let notified = self.notify.notified();
                if self.handled() >= mark {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, reached).await.is_ok()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(seat: &str) -> PlazaEvent {
        PlazaEvent::SeatClosed {
            seat: seat.into(),
            at_ms: 1,
        }
    }

    #[tokio::test]
    async fn queued_counts_only_events_that_entered_the_queue() {
        let (sink, mut queue) = EventSink::channel();
        let progress = queue.progress();
        sink.emit(closed("a"));
        sink.emit(closed("b"));
        assert_eq!(progress.queued(), 2);
        assert_eq!(queue.recv().await, Some(closed("a")));
        drop(queue);
        sink.emit(closed("c"));
        assert_eq!(
            progress.queued(),
            2,
            "an event to a closed queue is dropped, not counted"
        );
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_the_writer_reaches_its_mark() {
        let (sink, queue) = EventSink::channel();
        let progress = queue.progress();
        sink.emit(closed("a"));
        sink.emit(closed("b"));
        let mark = progress.queued();
        let writer = Arc::clone(&progress);
        let handle = tokio::spawn(async move {
            tokio::task::yield_now().await;
            writer.mark_handled(1);
            tokio::task::yield_now().await;
            writer.mark_handled(1);
        });
        assert!(progress.wait_handled(mark, Duration::from_secs(10)).await);
        assert_eq!(progress.handled(), 2);
        handle.await.expect("writer task");
    }

    #[tokio::test]
    async fn a_waiter_gives_up_after_its_timeout() {
        let (sink, queue) = EventSink::channel();
        let progress = queue.progress();
        sink.emit(closed("a"));
        progress.mark_handled(0);
        assert!(!progress.wait_handled(1, Duration::from_millis(50)).await);
        progress.mark_handled(1);
        assert!(progress.wait_handled(1, Duration::from_millis(50)).await);
    }
}

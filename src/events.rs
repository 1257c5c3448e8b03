//! Events that rooms emit for the durable side (scores, audit), so room
//! actors never await the store: they `try_send` here and a writer task owned
//! by the scores module persists them.

use tokio::sync::mpsc;

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
}

impl EventSink {
    /// A new queue; the receiver goes to the scores writer.
    pub fn channel() -> (Self, mpsc::Receiver<PlazaEvent>) {
        let (tx, rx) = mpsc::channel(EVENT_CAPACITY);
        (Self { tx }, rx)
    }

    /// Queues an event; a full queue drops it with a warning and a metric,
    /// which makes the affected score claims fail closed (unknown session).
    pub fn emit(&self, event: PlazaEvent) {
        if self.tx.try_send(event).is_err() {
            metrics::counter!("plaza_events_dropped_total").increment(1);
            tracing::warn!("event queue full or closed: event dropped");
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

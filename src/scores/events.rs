//! The consumer of room events: persists seats (the anchor of session
//! binding) and applies server-authoritative awards. Rooms never await this
//! task; they `try_send` into the bounded queue of `crate::events`.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::ScoresService;
use crate::events::{EventQueue, PlazaEvent};
use crate::store::{SeatChange, SeatRecord, StoreError};

/// Events taken from the queue per wake-up.
const BATCH: usize = 256;
/// How long a batch smaller than `BATCH` waits for more events before it is
/// written: during a connect storm this turns hundreds of small seat commits
/// into a few large ones.
const GATHER: Duration = Duration::from_millis(20);
/// Attempts per event before it is dropped (a store outage longer than the
/// back-off costs those seats; their claims then fail closed as unknown
/// sessions, which is the safe direction).
const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(100);

/// Spawns the writer; it ends when every `EventSink` is dropped and the
/// queue is drained.
///
/// Takes the service rather than the bare `Store`: an award must be folded
/// with its leaderboard's operator, sort and period, which live in config.
/// The service learns the queue's progress, so a claim naming a seat not yet
/// stored waits for the events queued before it (see `ScoresService`).
pub fn spawn_event_writer(service: Arc<ScoresService>, mut rx: EventQueue) -> JoinHandle<()> {
    let progress = rx.progress();
    service.follow_events(Arc::clone(&progress));
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        let mut seats = Vec::new();
        loop {
            let mut taken = rx.recv_many(&mut batch, BATCH).await;
            if taken == 0 {
                break;
            }
            // Let a burst gather for a moment: one commit (one fsync, one
            // round trip to SQLite's thread) per window instead of one per
            // few events. A claim naming a seat still here waits for it.
            if taken < BATCH {
                let until = tokio::time::Instant::now() + GATHER;
                while taken < BATCH {
                    match tokio::time::timeout_at(until, rx.recv_many(&mut batch, BATCH - taken))
                        .await
                    {
                        Ok(0) | Err(_) => break,
                        Ok(n) => taken += n,
                    }
                }
            }
            // Runs of seat events go to the store as one transaction (a burst
            // of joins is one commit, not one fsync each); awards keep their
            // place in the order.
            for event in batch.drain(..) {
                match seat_change(&event) {
                    Some(change) => seats.push(change),
                    None => {
                        write_seats(&service, &mut seats).await;
                        apply_with_retry(&service, &event).await;
                    }
                }
            }
            write_seats(&service, &mut seats).await;
            progress.mark_handled(taken as u64);
        }
    })
}

fn seat_change(event: &PlazaEvent) -> Option<SeatChange> {
    match event {
        PlazaEvent::SeatOpened {
            seat,
            address,
            room,
            room_type,
            at_ms,
        } => Some(SeatChange::Open(SeatRecord {
            seat: seat.clone(),
            address: address.to_ascii_lowercase(),
            room: room.clone(),
            room_type: room_type.clone(),
            joined_ms: ms(*at_ms),
            left_ms: None,
        })),
        PlazaEvent::SeatClosed { seat, at_ms } => Some(SeatChange::Close {
            seat: seat.clone(),
            left_ms: ms(*at_ms),
        }),
        PlazaEvent::Award { .. } => None,
    }
}

/// Writes (and empties) `seats`, retrying the whole batch: its changes are idempotent.
async fn write_seats(service: &ScoresService, seats: &mut Vec<SeatChange>) {
    if seats.is_empty() {
        return;
    }
    for attempt in 1..=ATTEMPTS {
        match service.store().apply_seats(seats).await {
            Ok(()) => break,
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "seat events: store failed, retrying");
                tokio::time::sleep(BACKOFF * attempt).await;
            }
            Err(e) => {
                metrics::counter!("plaza_scores_events_dropped_total")
                    .increment(seats.len() as u64);
                tracing::error!(error = %e, lost = seats.len(), "seat events lost: store failed");
            }
        }
    }
    seats.clear();
}

async fn apply_with_retry(service: &ScoresService, event: &PlazaEvent) {
    for attempt in 1..=ATTEMPTS {
        match apply(service, event).await {
            Ok(()) => return,
            Err(Failure::Permanent(why)) => {
                metrics::counter!("plaza_scores_events_dropped_total").increment(1);
                tracing::warn!(?event, why, "room event not applied");
                return;
            }
            Err(Failure::Store(e)) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "room event: store failed, retrying");
                tokio::time::sleep(BACKOFF * attempt).await;
            }
            Err(Failure::Store(e)) => {
                metrics::counter!("plaza_scores_events_dropped_total").increment(1);
                tracing::error!(error = %e, ?event, "room event lost: store failed");
            }
        }
    }
}

enum Failure {
    Store(StoreError),
    Permanent(String),
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

async fn apply(service: &ScoresService, event: &PlazaEvent) -> Result<(), Failure> {
    let store = service.store();
    match event {
        PlazaEvent::SeatOpened { .. } | PlazaEvent::SeatClosed { .. } => {
            let changes: Vec<SeatChange> = seat_change(event).into_iter().collect();
            store.apply_seats(&changes).await.map_err(Failure::Store)
        }
        PlazaEvent::Award {
            leaderboard,
            address,
            score,
            seat,
            at_ms,
        } => {
            if score.abs() > super::MAX_SAFE_INTEGER {
                return Err(Failure::Permanent(format!(
                    "award {score} outside ±(2^53−1)"
                )));
            }
            match service
                .award(
                    leaderboard,
                    &address.to_ascii_lowercase(),
                    *score,
                    seat,
                    *at_ms,
                )
                .await
            {
                Ok(_) => {
                    metrics::counter!("plaza_scores_awarded_total").increment(1);
                    Ok(())
                }
                Err(super::ScoreError::Store(e)) => Err(Failure::Store(e)),
                Err(e) => Err(Failure::Permanent(e.to_string())),
            }
        }
    }
}

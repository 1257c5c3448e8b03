//! Counters and histograms shared by every client task of one run.
//!
//! Counters are relaxed atomics (one add per frame, no lock); histograms and
//! the error table sit behind mutexes taken at most once per patch per room
//! or once per rare event, never per frame of a non-observer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::hist::Hist;

/// Monotonic counters (see the field docs; `_win` = inside the measurement window).
#[derive(Debug, Default)]
pub struct Counters {
    /// Clients through the handshake (and the join, when joining).
    pub joined: AtomicU64,
    /// Clients whose connect, handshake or join failed.
    pub join_failed: AtomicU64,
    /// Moves sent in the window.
    pub moves_win: AtomicU64,
    /// Pings sent in the window.
    pub pings_win: AtomicU64,
    /// Pongs received in the window.
    pub pongs_win: AtomicU64,
    /// Patch frames received in the window (all clients).
    pub patches_win: AtomicU64,
    /// Payload bytes of those patch frames.
    pub patch_bytes_win: AtomicU64,
    /// Frames received in the window (all kinds).
    pub frames_in_win: AtomicU64,
    /// WebSocket payload bytes received in the window.
    pub bytes_in_win: AtomicU64,
    /// WebSocket payload bytes sent in the window.
    pub bytes_out_win: AtomicU64,
    /// A patch showed a position other than the last applied move's.
    pub pos_mismatch: AtomicU64,
    /// A player's score went down.
    pub score_regress: AtomicU64,
    /// A score above the number of moves the client sent.
    pub score_ahead: AtomicU64,
    /// More unobserved moves than the ring holds (samples lost).
    pub ring_overflow: AtomicU64,
    /// A patch seq that was not the previous + 1.
    pub seq_gaps: AtomicU64,
    /// Sockets that closed or failed while the run still needed them.
    pub disconnects: AtomicU64,
    /// Sends that failed.
    pub send_errors: AtomicU64,
    /// `error` frames received after the join.
    pub server_errors: AtomicU64,
    /// Frames that did not decode.
    pub decode_errors: AtomicU64,
    /// Moves sent in the window and still not visible after the drain.
    pub unacked_at_end: AtomicU64,
}

/// Everything one run accumulates.
#[derive(Debug)]
pub struct Stats {
    base: Instant,
    measuring: AtomicBool,
    /// Counters.
    pub c: Counters,
    errors: Mutex<BTreeMap<String, u64>>,
    latency: Mutex<Hist>,
    rtt: Mutex<Hist>,
    join: Mutex<Hist>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

/// Adds `n` to a counter.
pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Reads a counter.
pub fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Stats {
    /// Fresh stats; the run's clock starts now.
    pub fn new() -> Stats {
        Stats {
            base: Instant::now(),
            measuring: AtomicBool::new(false),
            c: Counters::default(),
            errors: Mutex::default(),
            latency: Mutex::new(Hist::new()),
            rtt: Mutex::new(Hist::new()),
            join: Mutex::new(Hist::new()),
        }
    }

    /// Nanoseconds since the run started (monotonic).
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Whether the measurement window is open.
    pub fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }

    /// Opens or closes the measurement window.
    pub fn set_measuring(&self, on: bool) {
        self.measuring.store(on, Ordering::Relaxed);
    }

    /// Counts one error of `kind` (a stable code such as `connect_refused`
    /// or `server:auth_expired`).
    pub fn error(&self, kind: &str) {
        let mut e = lock(&self.errors);
        match e.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                e.insert(kind.to_owned(), 1);
            }
        }
    }

    /// Errors by kind so far.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        lock(&self.errors).clone()
    }

    /// Records move→patch latency samples, ms (one lock for all).
    pub fn record_latencies(&self, ms: &[f64]) {
        let mut h = lock(&self.latency);
        for &v in ms {
            h.record_ms(v);
        }
    }

    /// Records one ping round trip, ms.
    pub fn record_rtt(&self, ms: f64) {
        lock(&self.rtt).record_ms(ms);
    }

    /// Records one join time, ms.
    pub fn record_join(&self, ms: f64) {
        lock(&self.join).record_ms(ms);
    }

    /// Latency histogram so far.
    pub fn latency(&self) -> Hist {
        lock(&self.latency).clone()
    }

    /// RTT histogram so far.
    pub fn rtt(&self) -> Hist {
        lock(&self.rtt).clone()
    }

    /// Join-time histogram so far.
    pub fn join(&self) -> Hist {
        lock(&self.join).clone()
    }

    /// Resets the join histogram and join counters (between bursts).
    pub fn reset_joins(&self) {
        *lock(&self.join) = Hist::new();
        self.c.joined.store(0, Ordering::Relaxed);
        self.c.join_failed.store(0, Ordering::Relaxed);
    }

    /// The window-only counters, as a snapshot.
    pub fn window_counts(&self) -> WindowCounts {
        let c = &self.c;
        WindowCounts {
            moves: get(&c.moves_win),
            pings: get(&c.pings_win),
            pongs: get(&c.pongs_win),
            patches: get(&c.patches_win),
            patch_bytes: get(&c.patch_bytes_win),
            frames_in: get(&c.frames_in_win),
            bytes_in: get(&c.bytes_in_win),
            bytes_out: get(&c.bytes_out_win),
        }
    }

    /// Failure counters (everything that makes a run not clean).
    pub fn failures(&self) -> Failures {
        let c = &self.c;
        Failures {
            join_failed: get(&c.join_failed),
            disconnects: get(&c.disconnects),
            server_errors: get(&c.server_errors),
            send_errors: get(&c.send_errors),
            decode_errors: get(&c.decode_errors),
            pos_mismatch: get(&c.pos_mismatch),
            score_regress: get(&c.score_regress),
            score_ahead: get(&c.score_ahead),
            seq_gaps: get(&c.seq_gaps),
            ring_overflow: get(&c.ring_overflow),
        }
    }
}

/// Takes a mutex even if a panicking holder poisoned it: the data is plain
/// counters, still meaningful.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Window counters.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct WindowCounts {
    /// Moves sent.
    pub moves: u64,
    /// Pings sent.
    pub pings: u64,
    /// Pongs received.
    pub pongs: u64,
    /// Patch frames received (all clients).
    pub patches: u64,
    /// Bytes of those patches.
    pub patch_bytes: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
}

/// Failure counters.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Failures {
    /// Failed joins.
    pub join_failed: u64,
    /// Unexpected closes.
    pub disconnects: u64,
    /// `error` frames after the join.
    pub server_errors: u64,
    /// Failed sends.
    pub send_errors: u64,
    /// Undecodable frames.
    pub decode_errors: u64,
    /// Position mismatches.
    pub pos_mismatch: u64,
    /// Score regressions.
    pub score_regress: u64,
    /// Scores above the moves sent.
    pub score_ahead: u64,
    /// Patch seq gaps.
    pub seq_gaps: u64,
    /// Lost latency samples (ring overflow).
    pub ring_overflow: u64,
}

impl Failures {
    /// Sum of everything that counts as a failure (`ring_overflow` is a
    /// measurement loss, reported but not a server failure).
    pub fn total(&self) -> u64 {
        self.join_failed
            + self.disconnects
            + self.server_errors
            + self.send_errors
            + self.decode_errors
            + self.pos_mismatch
            + self.score_regress
            + self.score_ahead
            + self.seq_gaps
    }
}

//! Move→patch latency, measured the way `../shared/bench/arena.md` §5 says.
//!
//! Every client records each move it sends in its [`SeatTrack`] (send time,
//! the clamped position expected back). One client per room, the
//! [`Observer`], decodes the room's patches, keeps a mirror of the players'
//! `[x, y, score]`, and whenever a player's score reaches `k` it takes one
//! latency sample per newly visible move `≤ k` from that seat's track. The
//! other clients of the room never decode a patch.
//!
//! Owns: the per-seat move rings and the patch interpretation of the arena
//! layout (`players/<seat> = [x, y, score]`). Does not own sockets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use plaza_protocol::state::{Op, Seg, Value};

use crate::stats::{add, Stats};

/// Moves kept per seat for matching: 25.6 s at 10 Hz. A move not visible
/// after that is counted as `ring_overflow` (a lost sample), not guessed.
pub const RING: usize = 256;

/// The arena's world bounds (`arena.md` §2).
pub const WORLD: f64 = 1000.0;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    t_ns: u64,
    x: f32,
    y: f32,
    in_window: bool,
}

#[derive(Debug)]
struct Ring {
    /// Moves sent so far (the k of the last one).
    seq: u64,
    /// Highest score seen in a patch.
    last_score: u64,
    slots: Vec<Slot>,
}

/// One client's sent moves, shared with its room's observer.
#[derive(Debug)]
pub struct SeatTrack {
    ring: Mutex<Ring>,
}

impl Default for SeatTrack {
    fn default() -> Self {
        SeatTrack {
            ring: Mutex::new(Ring {
                seq: 0,
                last_score: 0,
                slots: vec![Slot::default(); RING],
            }),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a move's position lands on the server: clamped to the world, then
/// stored as float32 (`arena.md` §3).
pub fn expected_position(x: f64, y: f64) -> (f32, f32) {
    (x.clamp(0.0, WORLD) as f32, y.clamp(0.0, WORLD) as f32)
}

impl SeatTrack {
    /// Records move number k = previous + 1, sent at `t_ns` with raw
    /// coordinates `(x, y)`; returns k.
    pub fn record_move(&self, t_ns: u64, x: f64, y: f64, in_window: bool) -> u64 {
        let (ex, ey) = expected_position(x, y);
        let mut r = lock(&self.ring);
        r.seq += 1;
        let k = r.seq;
        r.slots[(k as usize) % RING] = Slot {
            t_ns,
            x: ex,
            y: ey,
            in_window,
        };
        k
    }

    /// Moves sent so far.
    pub fn sent(&self) -> u64 {
        lock(&self.ring).seq
    }

    /// Highest score seen.
    pub fn last_score(&self) -> u64 {
        lock(&self.ring).last_score
    }

    /// Moves sent inside the window, before `before_ns`, whose effect was
    /// never observed (`unackedAtEnd`).
    pub fn unacked_in_window(&self, before_ns: u64) -> u64 {
        let r = lock(&self.ring);
        let from = r.last_score.max(r.seq.saturating_sub(RING as u64)) + 1;
        (from..=r.seq)
            .filter(|k| {
                let s = &r.slots[(*k as usize) % RING];
                s.in_window && s.t_ns < before_ns
            })
            .count() as u64
    }

    /// A patch shows this seat at `score` (and position `pos`, when known):
    /// one latency sample per newly visible move sent in the window.
    fn observe(
        &self,
        score: u64,
        pos: Option<(f32, f32)>,
        now_ns: u64,
        samples: &mut Vec<f64>,
        stats: &Stats,
    ) {
        let mut r = lock(&self.ring);
        let last = r.last_score;
        if score == last {
            return;
        }
        r.last_score = score;
        if score < last {
            add(&stats.c.score_regress, 1);
            return;
        }
        if score > r.seq {
            // The server applied more moves than this client sent.
            add(&stats.c.score_ahead, 1);
            return;
        }
        if score - last > RING as u64 || r.seq - score >= RING as u64 {
            add(&stats.c.ring_overflow, 1);
            return;
        }
        for k in last + 1..=score {
            let s = r.slots[(k as usize) % RING];
            if s.in_window {
                samples.push(now_ns.saturating_sub(s.t_ns) as f64 / 1e6);
            }
        }
        if let Some((x, y)) = pos {
            let s = r.slots[(score as usize) % RING];
            if s.x != x || s.y != y {
                add(&stats.c.pos_mismatch, 1);
            }
        }
    }
}

/// The seats of one room that this load process drives.
#[derive(Debug, Default)]
pub struct RoomTrack {
    seats: Mutex<HashMap<String, Arc<SeatTrack>>>,
}

impl RoomTrack {
    fn get(&self, seat: &str) -> Option<Arc<SeatTrack>> {
        lock(&self.seats).get(seat).cloned()
    }
}

/// Every room this process has clients in.
#[derive(Debug, Default)]
pub struct Rooms {
    map: Mutex<HashMap<String, Arc<RoomTrack>>>,
}

impl Rooms {
    /// Registers `seat` of `room`; returns the room and whether this seat is
    /// the first of the room here (the observer in `--observe room`).
    pub fn register(
        &self,
        room: &str,
        seat: &str,
        track: Arc<SeatTrack>,
    ) -> (Arc<RoomTrack>, bool) {
        let rt = {
            let mut m = lock(&self.map);
            m.entry(room.to_owned()).or_default().clone()
        };
        let first = {
            let mut seats = lock(&rt.seats);
            let first = seats.is_empty();
            seats.insert(seat.to_owned(), track);
            first
        };
        (rt, first)
    }

    /// Rooms registered.
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// Whether no room is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Player {
    x: Option<f32>,
    y: Option<f32>,
    score: u64,
}

/// The patch decoder of one room (or of one seat, with `--observe all`).
#[derive(Debug)]
pub struct Observer {
    room: Arc<RoomTrack>,
    only_seat: Option<String>,
    mirror: HashMap<String, Player>,
    tracks: HashMap<String, Arc<SeatTrack>>,
    last_seq: u64,
    touched: Vec<String>,
    /// Latency samples of the patch being evaluated, ms; flushed into the
    /// run's histogram under one lock per patch (a histogram per observer
    /// would cost a 30 KB merge per patch).
    samples: Vec<f64>,
}

impl Observer {
    /// An observer starting from the `joined` snapshot (`seq`, `state`).
    /// `only_seat`: watch that seat only (`--observe all`).
    pub fn new(
        room: Arc<RoomTrack>,
        seq: u64,
        state: &Value,
        only_seat: Option<String>,
    ) -> Observer {
        let mut o = Observer {
            room,
            only_seat,
            mirror: HashMap::new(),
            tracks: HashMap::new(),
            last_seq: seq,
            touched: Vec::new(),
            samples: Vec::new(),
        };
        o.load_root(state);
        o
    }

    /// A `snapshot` (after a resync): replaces the mirror, then evaluates
    /// every seat.
    pub fn on_snapshot(&mut self, seq: u64, state: &Value, now_ns: u64, stats: &Stats) {
        self.last_seq = seq;
        self.touched.clear();
        self.load_root(state);
        self.touched.extend(self.mirror.keys().cloned());
        self.evaluate(now_ns, stats);
    }

    /// A `patch`. Returns `false` on a seq gap (the caller should `resync`).
    /// A patch at or below the snapshot's seq is stale and ignored.
    pub fn on_patch(&mut self, seq: u64, ops: &[Op], now_ns: u64, stats: &Stats) -> bool {
        if seq <= self.last_seq {
            return true;
        }
        let in_order = seq == self.last_seq + 1;
        if !in_order {
            add(&stats.c.seq_gaps, 1);
        }
        self.last_seq = seq;
        self.touched.clear();
        for op in ops {
            self.apply(op);
        }
        self.evaluate(now_ns, stats);
        in_order
    }

    fn evaluate(&mut self, now_ns: u64, stats: &Stats) {
        let touched = std::mem::take(&mut self.touched);
        for seat in &touched {
            if self.only_seat.as_deref().is_some_and(|s| s != seat) {
                continue;
            }
            let Some(p) = self.mirror.get(seat).copied() else {
                continue;
            };
            let track = match self.tracks.get(seat) {
                Some(t) => t.clone(),
                None => match self.room.get(seat) {
                    Some(t) => {
                        self.tracks.insert(seat.clone(), t.clone());
                        t
                    }
                    // A seat of another load process, or not registered yet.
                    None => continue,
                },
            };
            let pos = p.x.zip(p.y);
            track.observe(p.score, pos, now_ns, &mut self.samples, stats);
        }
        self.touched = touched;
        if !self.samples.is_empty() {
            stats.record_latencies(&self.samples);
            self.samples.clear();
        }
    }

    fn load_root(&mut self, state: &Value) {
        if let Value::Map(root) = state {
            if let Some(players) = root.get("players") {
                self.load_players(players);
            }
        }
    }

    fn load_players(&mut self, players: &Value) {
        self.mirror.clear();
        if let Value::Map(m) = players {
            for (seat, v) in m {
                let mut p = Player::default();
                set_player(&mut p, v);
                self.mirror.insert(seat.clone(), p);
                self.touched.push(seat.clone());
            }
        }
    }

    /// The mirror entry of `seat`, created on first sight (the key is
    /// cloned only then, not per op).
    fn player_mut(&mut self, seat: &str) -> Option<&mut Player> {
        if !self.mirror.contains_key(seat) {
            self.mirror.insert(seat.to_owned(), Player::default());
        }
        self.mirror.get_mut(seat)
    }

    fn apply(&mut self, op: &Op) {
        let path = op.path();
        match (op, path.as_slice()) {
            (Op::Set(_, v), []) => self.load_root(v),
            (Op::Set(_, v), [Seg::Key(p)]) if p == "players" => self.load_players(v),
            (Op::Set(_, v), [Seg::Key(p), Seg::Key(seat)]) if p == "players" => {
                if let Some(e) = self.player_mut(seat) {
                    set_player(e, v);
                    self.touched.push(seat.clone());
                }
            }
            (Op::Del(_), [Seg::Key(p), Seg::Key(seat)]) if p == "players" => {
                self.mirror.remove(seat);
            }
            (Op::Set(_, v), [Seg::Key(p), Seg::Key(seat), field]) if p == "players" => {
                let Some(e) = self.player_mut(seat) else {
                    return;
                };
                match field {
                    Seg::Idx(0) => e.x = as_f32(v),
                    Seg::Idx(1) => e.y = as_f32(v),
                    Seg::Idx(2) => e.score = as_score(v),
                    Seg::Key(k) if k == "x" => e.x = as_f32(v),
                    Seg::Key(k) if k == "y" => e.y = as_f32(v),
                    Seg::Key(k) if k == "score" => e.score = as_score(v),
                    _ => return,
                }
                self.touched.push(seat.clone());
            }
            _ => {}
        }
    }
}

fn set_player(p: &mut Player, v: &Value) {
    match v {
        Value::List(items) => {
            p.x = items.first().and_then(as_f32);
            p.y = items.get(1).and_then(as_f32);
            p.score = items.get(2).map(as_score).unwrap_or(0);
        }
        Value::Map(m) => {
            p.x = m.get("x").and_then(as_f32);
            p.y = m.get("y").and_then(as_f32);
            p.score = m.get("score").map(as_score).unwrap_or(0);
        }
        _ => {}
    }
}

fn as_f32(v: &Value) -> Option<f32> {
    match v {
        Value::Float(f) => Some(*f as f32),
        Value::Int(i) => Some(*i as f32),
        _ => None,
    }
}

fn as_score(v: &Value) -> u64 {
    match v {
        Value::Int(i) => (*i).max(0) as u64,
        Value::Float(f) if *f > 0.0 => *f as u64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn player(x: f32, y: f32, score: i64) -> Value {
        Value::List(vec![
            Value::Float(f64::from(x)),
            Value::Float(f64::from(y)),
            Value::Int(score),
        ])
    }

    fn set_seat(seat: &str, v: Value) -> Op {
        Op::Set(vec![Seg::Key("players".into()), Seg::Key(seat.into())], v)
    }

    fn setup() -> (Stats, Arc<SeatTrack>, Observer) {
        let stats = Stats::new();
        let rooms = Rooms::default();
        let track = Arc::new(SeatTrack::default());
        let (room, first) = rooms.register("r1", "seatA", track.clone());
        assert!(first);
        let state = Value::Map(BTreeMap::from([(
            "players".to_owned(),
            Value::Map(BTreeMap::from([(
                "seatA".to_owned(),
                player(50.0, 50.0, 0),
            )])),
        )]));
        let obs = Observer::new(room, 7, &state, None);
        (stats, track, obs)
    }

    #[test]
    fn each_move_gives_one_sample_when_its_score_shows() {
        let (stats, track, mut obs) = setup();
        // Three moves at t = 1, 2, 3 ms; the third is out of bounds (clamped).
        track.record_move(1_000_000, 10.0, 20.0, true);
        track.record_move(2_000_000, 30.0, 40.0, true);
        track.record_move(3_000_000, 1049.99, -3.0, true);
        // Patch at 11 ms shows score 2 (moves 1 and 2): samples 10 and 9 ms.
        assert!(obs.on_patch(
            8,
            &[set_seat("seatA", player(30.0, 40.0, 2))],
            11_000_000,
            &stats
        ));
        // Patch at 23 ms shows score 3 at the clamped position: 20 ms.
        assert!(obs.on_patch(
            9,
            &[set_seat("seatA", player(1000.0, 0.0, 3))],
            23_000_000,
            &stats
        ));
        let h = stats.latency();
        assert_eq!(h.len(), 3);
        assert!((h.summary().max.expect("max") - 20.0).abs() < 0.05);
        assert!((h.quantile_ms(0.0).expect("min") - 9.0).abs() < 0.05);
        let f = stats.failures();
        assert_eq!(f.total(), 0, "{f:?}");
        assert_eq!(track.unacked_in_window(u64::MAX), 0);
    }

    #[test]
    fn wrong_positions_regressions_gaps_and_unacked_are_counted() {
        let (stats, track, mut obs) = setup();
        track.record_move(1_000_000, 10.0, 20.0, true);
        track.record_move(2_000_000, 30.0, 40.0, true);
        // Score 1 but position of nothing we sent.
        obs.on_patch(
            8,
            &[set_seat("seatA", player(11.0, 20.0, 1))],
            5_000_000,
            &stats,
        );
        assert_eq!(stats.failures().pos_mismatch, 1);
        // A stale patch (seq 8 again) is ignored, not a gap and no sample.
        assert!(obs.on_patch(
            8,
            &[set_seat("seatA", player(30.0, 40.0, 2))],
            5_500_000,
            &stats
        ));
        assert_eq!(stats.latency().len(), 1);
        // Seq jumps 8 → 10: a gap.
        assert!(!obs.on_patch(10, &[], 6_000_000, &stats));
        assert_eq!(stats.failures().seq_gaps, 1);
        // Move 2 never shows: unacked.
        assert_eq!(track.unacked_in_window(u64::MAX), 1);
        assert_eq!(
            track.unacked_in_window(1_500_000),
            0,
            "sent after the cut-off"
        );
        // Score going down.
        obs.on_patch(
            11,
            &[set_seat("seatA", player(10.0, 20.0, 0))],
            7_000_000,
            &stats,
        );
        assert_eq!(stats.failures().score_regress, 1);
        // A score above what was sent.
        obs.on_patch(
            12,
            &[set_seat("seatA", player(10.0, 20.0, 5))],
            8_000_000,
            &stats,
        );
        assert_eq!(stats.failures().score_ahead, 1);
    }

    #[test]
    fn field_level_ops_and_warmup_moves() {
        let (stats, track, mut obs) = setup();
        track.record_move(1_000_000, 10.0, 20.0, false); // warm-up: no sample
        track.record_move(2_000_000, 30.0, 40.0, true);
        let seat = |i: u32| {
            vec![
                Seg::Key("players".into()),
                Seg::Key("seatA".into()),
                Seg::Idx(i),
            ]
        };
        let ops = [
            Op::Set(seat(0), Value::Float(30.0)),
            Op::Set(seat(1), Value::Float(40.0)),
            Op::Set(seat(2), Value::Int(2)),
        ];
        obs.on_patch(8, &ops, 4_000_000, &stats);
        assert_eq!(
            stats.latency().len(),
            1,
            "only the window's move is sampled"
        );
        assert_eq!(stats.failures().total(), 0);
        // A seat removed then a snapshot bringing it back at the same score: no new sample.
        obs.on_patch(
            9,
            &[Op::Del(vec![
                Seg::Key("players".into()),
                Seg::Key("seatA".into()),
            ])],
            5_000_000,
            &stats,
        );
        let snap = Value::Map(BTreeMap::from([(
            "players".to_owned(),
            Value::Map(BTreeMap::from([(
                "seatA".to_owned(),
                player(30.0, 40.0, 2),
            )])),
        )]));
        obs.on_snapshot(20, &snap, 6_000_000, &stats);
        assert_eq!(stats.latency().len(), 1);
        assert!(
            obs.on_patch(21, &[], 7_000_000, &stats),
            "seq continues from the snapshot"
        );
        assert_eq!(track.last_score(), 2);
        assert_eq!(track.sent(), 2);
    }
}

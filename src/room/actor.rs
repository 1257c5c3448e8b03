//! The room actor: the document, the seats and the room logic of one room,
//! behind a mutex, with one tokio task per room that ticks it and applies a
//! bounded command queue. A client's `msg`/`req` is applied in place by its
//! connection's task when the room's lock is free and nothing is queued
//! (no wake-up of the room's task per message); otherwise it is queued, so
//! commands always apply in queue order. Nothing awaits under the lock.
//!
//! Each tick: due seat holds and timers, `logic.tick`, then `doc.take_ops()`
//! → one `patch` encoded once and shared by every attached seat, kept in a
//! bounded ring for `resume`. A seat whose outbox is full is marked lagging:
//! it gets no patches until a snapshot fits in its queue, and is dropped once
//! it has lagged for `slow_kick`. Nothing here awaits a client or the store,
//! so a slow or hostile client cannot delay anyone else's patches.
//!
//! Snapshot rule: every snapshot (`joined`, `snapshot`) is taken right after
//! a flush of pending ops, so the next patch holds only later ops and a
//! mirror built from snapshot + patches equals the document.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use plaza_protocol::state::{DocLimits, Document, Value};
use plaza_protocol::{decode, mpack, Format, RequestId, ServerMsg};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use super::config::WalletPolicy;
use super::logic::{Options, RoomClient, RoomCtx, RoomLogic};
use super::manager::{Registry, RoomShared, RoomType};
use super::{ids, ClientRef, RoomError};
use crate::events::{now_ms, EventSink, PlazaEvent};
use crate::outbox::{Encoded, Outbox, SendError};

/// How often a lagging seat is offered a snapshot. Encoding a snapshot costs
/// a document clone, so it is not retried every tick.
const SNAPSHOT_RETRY: Duration = Duration::from_millis(250);

/// What the manager sends a room.
pub(crate) enum Cmd {
    Join {
        client: ClientRef,
        rid: RequestId,
        options: Options,
    },
    Leave {
        session: Arc<str>,
        outbox: Outbox,
    },
    Msg {
        session: Arc<str>,
        outbox: Outbox,
        kind: String,
        data: Value,
    },
    Req {
        session: Arc<str>,
        outbox: Outbox,
        rid: RequestId,
        kind: String,
        data: Value,
    },
    Resync {
        session: Arc<str>,
        outbox: Outbox,
    },
    Lock {
        session: Arc<str>,
        outbox: Outbox,
        lock: bool,
    },
    Detach {
        session: Arc<str>,
    },
    Resume {
        session: Arc<str>,
        outbox: Outbox,
        last_seq: Option<u64>,
        reply: oneshot::Sender<bool>,
    },
    EndSession {
        session: Arc<str>,
    },
    Dispose,
}

/// Per-seat token bucket for the room message rate.
struct Bucket {
    tokens: f32,
    last: Instant,
}

/// One seat.
pub(crate) struct Seat {
    pub(crate) client: RoomClient,
    pub(crate) outbox: Outbox,
    /// False while the session is detached (socket dropped, seat held).
    pub(crate) attached: bool,
    held_until: Option<Instant>,
    lagging_since: Option<Instant>,
    bucket: Bucket,
}

/// The seats of a room, indexed by session.
#[derive(Default)]
pub(crate) struct Seats {
    list: Vec<Seat>,
    by_session: super::FastMap<Arc<str>, usize>,
}

impl Seats {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Seat> {
        self.list.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn by_session(&self, session: &str) -> Option<&Seat> {
        self.by_session.get(session).map(|&i| &self.list[i])
    }

    fn index(&self, session: &str) -> Option<usize> {
        self.by_session.get(session).copied()
    }

    fn push(&mut self, seat: Seat) {
        self.by_session
            .insert(Arc::clone(&seat.client.session_id), self.list.len());
        self.list.push(seat);
    }

    fn remove(&mut self, idx: usize) -> Seat {
        let seat = self.list.swap_remove(idx);
        self.by_session.remove(&*seat.client.session_id);
        if let Some(moved) = self.list.get(idx) {
            self.by_session
                .insert(Arc::clone(&moved.client.session_id), idx);
        }
        seat
    }
}

/// Room state hooks may touch through [`RoomCtx`].
pub(crate) struct Core {
    pub(crate) shared: Arc<RoomShared>,
    pub(crate) events: EventSink,
    /// The room clock's origin.
    pub(crate) started: Instant,
    pub(crate) timers: Vec<(Instant, u64)>,
    /// Sessions to remove once the current hook returns, with the reason.
    pub(crate) kicks: Vec<(Arc<str>, String)>,
    /// Seats, lock or metadata changed: publish to the lobby.
    pub(crate) lobby_dirty: bool,
}

/// Borrows the disjoint fields a hook needs, leaving `logic` free.
macro_rules! ctx {
    ($self:ident) => {
        RoomCtx {
            doc: &mut $self.doc,
            seats: &$self.seats,
            core: &mut $self.core,
        }
    };
}

pub(crate) struct Actor {
    registry: Arc<Registry>,
    rtype: Arc<RoomType>,
    logic: Box<dyn RoomLogic>,
    doc: Document,
    seats: Seats,
    core: Core,
    rx: mpsc::Receiver<Cmd>,
    /// The room's task has ended: nothing more is applied in place.
    disposed: bool,
    seq: u64,
    /// Bytes of the last patch's ops: the next one's first allocation.
    patch_hint: usize,
    /// Recent patches for `resume`, as MessagePack bytes only: an `Encoded`
    /// keeps its source message alive (for lazy JSON), which would cost the
    /// ops' full tree per kept patch instead of ~150 bytes.
    ring: VecDeque<(u64, Bytes)>,
    ever_joined: bool,
    empty_since: Instant,
    last_tick: Instant,
    last_snapshot_try: Option<Instant>,
}

impl Actor {
    pub(crate) fn new(
        registry: Arc<Registry>,
        rtype: Arc<RoomType>,
        shared: Arc<RoomShared>,
        logic: Box<dyn RoomLogic>,
        rx: mpsc::Receiver<Cmd>,
    ) -> Actor {
        let now = Instant::now();
        let limits = DocLimits {
            max_bytes: rtype.options.max_state_bytes,
            max_depth: rtype.options.max_depth,
        };
        let events = registry.events.clone();
        let ring_cap = registry.patch_ring;
        Actor {
            registry,
            rtype,
            logic,
            doc: Document::with_limits(limits),
            seats: Seats::default(),
            core: Core {
                shared,
                events,
                started: now,
                timers: Vec::new(),
                kicks: Vec::new(),
                lobby_dirty: false,
            },
            rx,
            disposed: false,
            seq: 0,
            patch_hint: 64,
            // Sized once: growth by doubling would leave up to half unused.
            ring: VecDeque::with_capacity(ring_cap),
            ever_joined: false,
            empty_since: now,
            last_tick: now,
            last_snapshot_try: None,
        }
    }

    fn room(&self) -> &str {
        &self.core.shared.id
    }

    /// The room's task. The actor lives in `cell`: this task ticks it and
    /// applies queued commands; a connection may apply its own message in
    /// place ([`Actor::try_inline`]) when the room is free and nothing waits
    /// in the queue. Every command is applied under the lock, in queue order.
    pub(crate) async fn run(cell: Arc<Mutex<Actor>>, create_options: Options) {
        let period = {
            let mut guard = cell.lock();
            let this = &mut *guard;
            let created = {
                let mut ctx = ctx!(this);
                this.logic.create(&mut ctx, &create_options)
            };
            if let Err(e) = created {
                tracing::info!(room = %this.room(), error = %e, "room create hook refused");
                this.registry.unregister(&this.core.shared, true);
                this.disposed = true;
                this.drain(&e);
                return;
            }
            // Anything `create` wrote is the initial state, not a patch.
            let _ = this.doc.take_ops();
            Duration::from_secs_f64(1.0 / f64::from(this.rtype.options.patch_rate_hz.max(1)))
        };
        // Rooms created in a burst would all tick at the same instant; a
        // per-room phase (from the random id) spreads the work over the period.
        let spread = cell
            .lock()
            .room()
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        let phase = period.mul_f64(f64::from(spread % 1000) / 1000.0);
        let mut ticker = tokio::time::interval_at(Instant::now() + period + phase, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            let ended = tokio::select! {
                // Ticks first: a flood of commands must not starve patches.
                biased;
                _ = ticker.tick() => {
                    let mut this = cell.lock();
                    this.tick();
                    this.should_dispose() && this.registry.unregister(&this.core.shared, false)
                }
                // Taken and applied under one lock: nothing applied in place
                // can slip between a queued command and its application.
                ended = std::future::poll_fn(|cx| cell.lock().poll_queue(cx)) => ended,
            };
            if ended {
                let mut this = cell.lock();
                this.dispose();
                this.disposed = true;
                break;
            }
        }
        cell.lock().drain(&RoomError::Disposed);
    }

    /// Applies the queued commands that are ready; `Ready(true)` when the
    /// room must end (the queue closed, or a `Dispose`).
    fn poll_queue(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<bool> {
        use std::task::Poll;
        // A bounded batch per wake-up, so one busy room cannot hold its lock
        // (or the worker) for long.
        for _ in 0..64 {
            match self.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None | Some(Cmd::Dispose)) => {
                    self.registry.unregister(&self.core.shared, true);
                    return Poll::Ready(true);
                }
                Poll::Ready(Some(cmd)) => self.handle(cmd),
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Applies `cmd` now if the room can take it in place: not ended, and
    /// nothing queued ahead of it (order is per queue). `Err(cmd)` otherwise:
    /// the caller queues it.
    pub(crate) fn try_inline(&mut self, cmd: Cmd) -> Result<(), Cmd> {
        if self.disposed || !self.rx.is_empty() {
            return Err(cmd);
        }
        self.handle(cmd);
        Ok(())
    }

    /// After the room left the registry: answer what is still queued.
    fn drain(&mut self, err: &RoomError) {
        self.rx.close();
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Cmd::Join { client, rid, .. } => {
                    self.registry.release(&self.core.shared, &client.session_id);
                    let _ = client
                        .outbox
                        .send_msg(err.to_msg(Some(rid), Some(self.room())));
                }
                Cmd::Req { outbox, rid, .. } => {
                    let _ = outbox.send_msg(err.to_msg(Some(rid), Some(self.room())));
                }
                Cmd::Resume { reply, .. } => {
                    let _ = reply.send(false);
                }
                _ => {}
            }
        }
    }

    fn should_dispose(&self) -> bool {
        if !self.seats.list.is_empty() {
            return false;
        }
        let opts = &self.rtype.options;
        let wait = if self.ever_joined {
            opts.empty_grace_ms
        } else {
            opts.first_join_timeout_ms
        };
        Instant::now().saturating_duration_since(self.empty_since) >= Duration::from_millis(wait)
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Join {
                client,
                rid,
                options,
            } => self.join(client, rid, &options),
            Cmd::Leave { session, outbox } => match self.seats.index(&session) {
                Some(idx) => self.remove_seat(idx, Some("left"), true),
                None => self.refuse(&outbox, None, RoomError::NotInRoom),
            },
            Cmd::Msg {
                session,
                outbox,
                kind,
                data,
            } => self.message(&session, &outbox, None, &kind, data),
            Cmd::Req {
                session,
                outbox,
                rid,
                kind,
                data,
            } => self.message(&session, &outbox, Some(rid), &kind, data),
            Cmd::Resync { session, outbox } => match self.seats.index(&session) {
                Some(idx) => {
                    self.flush();
                    self.send_snapshot(idx);
                }
                None => self.refuse(&outbox, None, RoomError::NotInRoom),
            },
            Cmd::Lock {
                session,
                outbox,
                lock,
            } => {
                if *session != *self.core.shared.creator {
                    let what = if lock { "lock it" } else { "unlock it" };
                    self.refuse(&outbox, None, RoomError::NotCreator(what));
                } else {
                    self.core.shared.locked.store(lock, Ordering::Release);
                    self.core.lobby_dirty = true;
                }
            }
            Cmd::Detach { session } => {
                if let Some(idx) = self.seats.index(&session) {
                    self.detach(idx);
                }
            }
            Cmd::Resume {
                session,
                outbox,
                last_seq,
                reply,
            } => {
                let held = self.resume(&session, outbox, last_seq);
                let _ = reply.send(held);
            }
            Cmd::EndSession { session } => {
                if let Some(idx) = self.seats.index(&session) {
                    self.remove_seat(idx, None, false);
                }
            }
            Cmd::Dispose => {}
        }
        self.after_hook();
    }

    fn refuse(&self, outbox: &Outbox, rid: Option<RequestId>, err: RoomError) {
        let _ = outbox.send_msg(err.to_msg(rid, Some(self.room())));
    }

    /// Applies kicks requested by hooks and publishes lobby changes.
    fn after_hook(&mut self) {
        while let Some((session, reason)) = self.core.kicks.pop() {
            if let Some(idx) = self.seats.index(&session) {
                self.remove_seat(idx, Some(&reason), false);
            }
        }
        if std::mem::take(&mut self.core.lobby_dirty) {
            self.registry.lobby_update(&self.core.shared);
        }
    }

    fn join(&mut self, client: ClientRef, rid: RequestId, options: &Options) {
        let shared = Arc::clone(&self.core.shared);
        if let Err(e) = self.check_join(&client) {
            self.registry.release(&shared, &client.session_id);
            self.refuse(&client.outbox, Some(rid), e);
            return;
        }
        let rc = RoomClient {
            seat: Arc::from(ids::random_id()),
            session_id: Arc::clone(&client.session_id),
            identity: Arc::clone(&client.identity),
        };
        let joined = {
            let mut ctx = ctx!(self);
            self.logic.join(&mut ctx, &rc, options)
        };
        if let Err(e) = joined {
            self.registry.release(&shared, &client.session_id);
            self.refuse(&client.outbox, Some(rid), e);
            return;
        }
        // The joiner's snapshot must not contain ops the next patch repeats.
        self.flush();
        let now = Instant::now();
        let msg = ServerMsg::Joined {
            rid,
            room: self.room().to_owned(),
            kind: self.rtype.name.to_string(),
            seat: rc.seat.to_string(),
            seq: self.seq,
            state: self.doc.root().clone(),
        };
        // Queued before the client can learn the seat id from `joined`: a
        // score claim naming it waits for the events queued before it.
        self.core.events.emit(PlazaEvent::SeatOpened {
            seat: rc.seat.to_string(),
            address: rc.identity.address.clone(),
            room: self.room().to_owned(),
            room_type: self.rtype.name.to_string(),
            at_ms: now_ms(),
        });
        let lagging_since = client.outbox.send_msg(msg).is_err().then_some(now);
        self.seats.push(Seat {
            client: rc,
            outbox: client.outbox,
            attached: true,
            held_until: None,
            lagging_since,
            bucket: Bucket {
                tokens: self.burst(),
                last: now,
            },
        });
        self.ever_joined = true;
        self.core.lobby_dirty = true;
        metrics::counter!("plaza_seats_opened_total").increment(1);
    }

    /// Session and wallet rules; with `replace`, closes the wallet's old seat.
    fn check_join(&mut self, client: &ClientRef) -> Result<(), RoomError> {
        if self.seats.index(&client.session_id).is_some() {
            return Err(RoomError::AlreadyJoined);
        }
        if self.core.shared.locked.load(Ordering::Acquire) {
            return Err(RoomError::Locked);
        }
        let address = &client.identity.address;
        if let Some(idx) = self
            .seats
            .list
            .iter()
            .position(|s| s.client.identity.address == *address)
        {
            match self.rtype.options.one_seat_per_wallet {
                WalletPolicy::Refuse => return Err(RoomError::WalletSeated),
                WalletPolicy::Replace => self.remove_seat(idx, Some("replaced"), false),
            }
        }
        Ok(())
    }

    fn burst(&self) -> f32 {
        2.0 * self.rtype.options.messages_per_second as f32
    }

    /// `msg` (rid = None) or `req` from a client.
    fn message(
        &mut self,
        session: &str,
        outbox: &Outbox,
        rid: Option<RequestId>,
        kind: &str,
        data: Value,
    ) {
        let Some(idx) = self.seats.index(session) else {
            return self.refuse(outbox, rid, RoomError::NotInRoom);
        };
        let rate = self.rtype.options.messages_per_second;
        if rate > 0 {
            let burst = self.burst();
            let bucket = &mut self.seats.list[idx].bucket;
            let now = Instant::now();
            let refill = now.saturating_duration_since(bucket.last).as_secs_f32() * rate as f32;
            bucket.tokens = (bucket.tokens + refill).min(burst);
            bucket.last = now;
            if bucket.tokens < 1.0 {
                metrics::counter!("plaza_room_rate_limited_total").increment(1);
                return self.refuse(outbox, rid, RoomError::RateLimited);
            }
            bucket.tokens -= 1.0;
        }
        let seat = &self.seats.list[idx];
        let mut ctx = RoomCtx {
            doc: &mut self.doc,
            seats: &self.seats,
            core: &mut self.core,
        };
        let result = match rid {
            None => self
                .logic
                .message(&mut ctx, &seat.client, kind, data)
                .map(|()| None),
            Some(_) => self
                .logic
                .request(&mut ctx, &seat.client, kind, data)
                .map(Some),
        };
        // The room id is copied only for an answer: a plain `msg` that
        // succeeds (every arena move) allocates nothing here.
        match (result, rid) {
            (Ok(Some(data)), Some(rid)) => {
                let room = self.core.shared.id.to_string();
                let _ = seat.outbox.send_msg(ServerMsg::Res { rid, room, data });
            }
            (Ok(_), _) => {}
            (Err(e), rid) => {
                let _ = seat
                    .outbox
                    .send_msg(e.to_msg(rid, Some(&*self.core.shared.id)));
            }
        }
    }

    /// Takes the pending ops and, if any, broadcasts them as the next patch.
    fn flush(&mut self) {
        if !self.doc.has_changes() {
            return;
        }
        // The ops are written to MessagePack as they are read from the
        // document's change record: no op, path or value is copied.
        let mut ops = Vec::with_capacity(self.patch_hint);
        let count = self
            .doc
            .take_ops_with(|op| mpack::write_op_ref(&mut ops, op));
        if count == 0 {
            return;
        }
        self.patch_hint = ops.len();
        self.seq += 1;
        let patch = mpack::encode_patch_parts(self.room(), self.seq, count, &ops);
        let encoded = Encoded::from_msgpack(patch);
        let now = Instant::now();
        let hold = Duration::from_millis(self.rtype.options.seat_hold_ms);
        for seat in &mut self.seats.list {
            if !seat.attached || seat.lagging_since.is_some() {
                continue;
            }
            match seat.outbox.send_shared(&encoded) {
                Ok(()) => {}
                Err(SendError::Full) => {
                    metrics::counter!("plaza_seats_lagging_total").increment(1);
                    seat.lagging_since = Some(now);
                }
                // The socket is gone before the gateway told us: hold the seat.
                Err(SendError::Closed) => {
                    seat.attached = false;
                    seat.held_until = Some(now + hold);
                }
            }
        }
        if self.ring.len() >= self.registry.patch_ring {
            self.ring.pop_front();
        }
        self.ring
            .push_back((self.seq, encoded.bytes(Format::MsgPack)));
    }

    fn snapshot(&self) -> ServerMsg {
        ServerMsg::Snapshot {
            room: self.room().to_owned(),
            seq: self.seq,
            state: self.doc.root().clone(),
        }
    }

    /// Sends a snapshot (call after `flush`); a full outbox marks the seat lagging.
    fn send_snapshot(&mut self, idx: usize) {
        let msg = self.snapshot();
        let seat = &mut self.seats.list[idx];
        match seat.outbox.send_msg(msg) {
            Ok(()) => seat.lagging_since = None,
            Err(_) => {
                seat.lagging_since.get_or_insert_with(Instant::now);
            }
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        let dt = now.saturating_duration_since(self.last_tick);
        self.last_tick = now;

        // Seats whose hold ran out.
        while let Some(idx) = self
            .seats
            .list
            .iter()
            .position(|s| s.held_until.is_some_and(|t| t <= now))
        {
            self.remove_seat(idx, None, false);
        }
        // Due timers, in deadline order.
        if !self.core.timers.is_empty() {
            self.core.timers.sort_by_key(|(at, _)| *at);
            let due = self.core.timers.partition_point(|(at, _)| *at <= now);
            let fired: Vec<_> = self.core.timers.drain(..due).collect();
            for (_, tag) in fired {
                let mut ctx = ctx!(self);
                self.logic.timer(&mut ctx, tag);
            }
        }
        {
            let mut ctx = ctx!(self);
            self.logic.tick(&mut ctx, dt);
        }
        self.after_hook();
        self.flush();
        self.catch_up_lagging(now);
        if std::mem::take(&mut self.core.lobby_dirty) {
            self.registry.lobby_update(&self.core.shared);
        }
    }

    /// Offers lagging seats one shared snapshot; drops those lagging too long.
    fn catch_up_lagging(&mut self, now: Instant) {
        if !self
            .seats
            .list
            .iter()
            .any(|s| s.attached && s.lagging_since.is_some())
        {
            return;
        }
        let slow_kick = self.registry.slow_kick;
        while let Some(idx) = self.seats.list.iter().position(|s| {
            s.attached
                && s.lagging_since
                    .is_some_and(|t| now.saturating_duration_since(t) >= slow_kick)
        }) {
            metrics::counter!("plaza_seats_dropped_slow_total").increment(1);
            self.remove_seat(idx, Some("slow"), false);
        }
        if self
            .last_snapshot_try
            .is_some_and(|t| now.saturating_duration_since(t) < SNAPSHOT_RETRY)
        {
            return;
        }
        self.last_snapshot_try = Some(now);
        let mut encoded = None;
        for seat in &mut self.seats.list {
            if !seat.attached || seat.lagging_since.is_none() {
                continue;
            }
            let snap = encoded.get_or_insert_with(|| {
                Encoded::new(ServerMsg::Snapshot {
                    room: self.core.shared.id.to_string(),
                    seq: self.seq,
                    state: self.doc.root().clone(),
                })
            });
            if seat.outbox.send_shared(snap).is_ok() {
                seat.lagging_since = None;
            }
        }
    }

    fn detach(&mut self, idx: usize) {
        let hold = self.rtype.options.seat_hold_ms;
        if hold == 0 {
            return self.remove_seat(idx, None, false);
        }
        let seat = &mut self.seats.list[idx];
        seat.attached = false;
        seat.lagging_since = None;
        seat.held_until = Some(Instant::now() + Duration::from_millis(hold));
    }

    /// Re-attaches a held seat to `outbox` and catches it up.
    fn resume(&mut self, session: &str, outbox: Outbox, last_seq: Option<u64>) -> bool {
        let Some(idx) = self.seats.index(session) else {
            return false;
        };
        let replay_from = last_seq.filter(|&l| {
            l <= self.seq
                && (l == self.seq || self.ring.front().is_some_and(|(first, _)| *first <= l + 1))
        });
        match replay_from {
            Some(last) => {
                let seat = &mut self.seats.list[idx];
                seat.outbox = outbox;
                seat.attached = true;
                seat.held_until = None;
                seat.lagging_since = None;
                for (seq, bytes) in self.ring.iter().filter(|(s, _)| *s > last) {
                    // Resume is rare: re-encoding here keeps the ring small.
                    let sent = decode::<ServerMsg>(bytes, Format::MsgPack)
                        .map_err(|_| SendError::Closed)
                        .and_then(|msg| seat.outbox.send_shared(&Encoded::new(msg)));
                    if sent.is_err() {
                        tracing::debug!(room = %self.core.shared.id, seq, "resume replay overflowed the outbox");
                        seat.lagging_since = Some(Instant::now());
                        break;
                    }
                }
            }
            None => {
                // Flush while the seat is still detached, so the snapshot is
                // exactly the state at `seq`.
                self.flush();
                let seat = &mut self.seats.list[idx];
                seat.outbox = outbox;
                seat.attached = true;
                seat.held_until = None;
                seat.lagging_since = None;
                self.send_snapshot(idx);
            }
        }
        true
    }

    /// Closes a seat: `leave` hook, optional `left {reason}`, index, event.
    fn remove_seat(&mut self, idx: usize, reason: Option<&str>, consented: bool) {
        let seat = self.seats.remove(idx);
        {
            let mut ctx = ctx!(self);
            self.logic.leave(&mut ctx, &seat.client, consented);
        }
        if let (Some(reason), true) = (reason, seat.attached) {
            let _ = seat.outbox.send_msg(ServerMsg::Left {
                room: self.room().to_owned(),
                reason: reason.to_owned(),
            });
        }
        self.core.shared.taken.fetch_sub(1, Ordering::AcqRel);
        self.registry
            .session_remove(&seat.client.session_id, self.room());
        self.core.events.emit(PlazaEvent::SeatClosed {
            seat: seat.client.seat.to_string(),
            at_ms: now_ms(),
        });
        self.core.lobby_dirty = true;
        if self.seats.list.is_empty() {
            self.empty_since = Instant::now();
        }
        metrics::counter!("plaza_seats_closed_total").increment(1);
    }

    /// The room ends: every seat closed with `left {disposed}` (leave hooks,
    /// not consented), then the `dispose` hook. The room is already unregistered.
    fn dispose(&mut self) {
        while !self.seats.list.is_empty() {
            let last = self.seats.list.len() - 1;
            self.remove_seat(last, Some("disposed"), false);
        }
        {
            let mut ctx = ctx!(self);
            self.logic.dispose(&mut ctx);
        }
        self.core.kicks.clear();
        self.core.lobby_dirty = false;
        metrics::counter!("plaza_rooms_disposed_total").increment(1);
    }
}

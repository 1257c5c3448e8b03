//! [`RoomManager`]: the registry of room types and live rooms, matchmaking,
//! the session → rooms index, listing and the lobby.
//!
//! Owns which rooms exist and seat *reservations*; it never touches a room's
//! document or seats (the actor owns those). Matchmaking decisions and room
//! (un)registration happen under one short `parking_lot` mutex, which is what
//! makes concurrent `joinOrCreate` for one filter never create two rooms and
//! a room never disposed while a join for it is in flight. The per-message
//! path (`msg`, `req`) takes no lock of ours beyond a `DashMap` shard read.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use plaza_protocol::state::Value;
use plaza_protocol::{ClientMsg, RequestId, RoomInfo, ServerMsg};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use super::actor::{self, Cmd};
use super::config::{BuiltinKind, RoomOptions, RoomsConfig};
use super::logic::{Options, RoomFactory};
use super::{arena, ids, shared, ClientRef, RoomError};
use crate::events::EventSink;
use crate::outbox::{Encoded, Outbox, SendError};

/// A registered room type.
pub(crate) struct RoomType {
    pub(crate) name: Arc<str>,
    pub(crate) options: RoomOptions,
    pub(crate) factory: Arc<dyn RoomFactory>,
}

/// What the registry and the actor share about one room. Written by the
/// actor (lock, metadata, seat count), read by matchmaking and listings.
pub(crate) struct RoomShared {
    pub(crate) id: Arc<str>,
    pub(crate) kind: Arc<str>,
    pub(crate) max_clients: u32,
    pub(crate) private: bool,
    pub(crate) listed: bool,
    /// The session that created the room (may lock/unlock it).
    pub(crate) creator: Arc<str>,
    /// Seats taken plus joins reserved and not yet processed. Incremented
    /// only under the matchmaking mutex, so check-then-add is race-free.
    pub(crate) taken: AtomicU32,
    /// Explicit lock (`lock` message or room logic).
    pub(crate) locked: AtomicBool,
    /// Unregistered: matchmaking skips it, its actor is finishing.
    pub(crate) disposing: AtomicBool,
    pub(crate) metadata: RwLock<BTreeMap<String, Value>>,
}

impl RoomShared {
    /// The listing entry. `locked` includes the automatic lock of a full room.
    pub(crate) fn info(&self) -> RoomInfo {
        let clients = self.taken.load(Ordering::Acquire);
        RoomInfo {
            room: self.id.to_string(),
            kind: self.kind.to_string(),
            clients,
            max_clients: self.max_clients,
            locked: self.locked.load(Ordering::Acquire) || clients >= self.max_clients,
            metadata: self.metadata.read().clone(),
        }
    }

    fn visible(&self) -> bool {
        self.listed && !self.private
    }

    fn joinable(&self) -> Result<(), RoomError> {
        if self.disposing.load(Ordering::Acquire) {
            return Err(RoomError::NotFound(self.id.to_string()));
        }
        if self.locked.load(Ordering::Acquire) {
            return Err(RoomError::Locked);
        }
        if self.taken.load(Ordering::Acquire) >= self.max_clients {
            return Err(RoomError::Full);
        }
        Ok(())
    }
}

struct RoomHandle {
    tx: mpsc::Sender<Cmd>,
    /// The room's state, for applying a message in place.
    actor: Arc<Mutex<actor::Actor>>,
    shared: Arc<RoomShared>,
}

struct LobbySub {
    session: Arc<str>,
    kind: Option<String>,
    outbox: Outbox,
    /// An update could not be queued: send the whole list instead of the
    /// next update (so a slow subscriber converges without us buffering).
    needs_list: bool,
}

/// Everything behind the cheap [`RoomManager`] handle; actors hold it too.
pub(crate) struct Registry {
    types: RwLock<HashMap<String, Arc<RoomType>>>,
    rooms: DashMap<Arc<str>, RoomHandle, foldhash::fast::RandomState>,
    /// Rooms per type in creation order (matchmaking fills them in order).
    matcher: Mutex<HashMap<Arc<str>, Vec<Arc<RoomShared>>>>,
    /// Session → rooms it has a seat (or a reserved seat) in.
    sessions: DashMap<Arc<str>, Vec<Arc<str>>, foldhash::fast::RandomState>,
    /// Lock order: `lobby` before `matcher`, never the other way.
    lobby: Mutex<Vec<LobbySub>>,
    pub(crate) events: EventSink,
    tracker: TaskTracker,
    closing: AtomicBool,
    pub(crate) patch_ring: usize,
    queue_capacity: usize,
    pub(crate) slow_kick: Duration,
}

/// Matchmaking, room actors and the lobby. Cheap to clone.
#[derive(Clone)]
pub struct RoomManager {
    inner: Arc<Registry>,
}

impl std::fmt::Debug for RoomManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomManager")
            .field("rooms", &self.inner.rooms.len())
            .finish()
    }
}

impl RoomManager {
    /// Registers `shared`, `arena` and the configured types.
    pub fn new(config: &RoomsConfig, events: EventSink) -> RoomManager {
        let inner = Arc::new(Registry {
            types: RwLock::new(HashMap::new()),
            rooms: DashMap::default(),
            matcher: Mutex::new(HashMap::new()),
            sessions: DashMap::default(),
            lobby: Mutex::new(Vec::new()),
            events,
            tracker: TaskTracker::new(),
            closing: AtomicBool::new(false),
            patch_ring: config.patch_ring.max(1),
            queue_capacity: config.queue_capacity.max(16),
            slow_kick: Duration::from_millis(config.slow_kick_ms),
        });
        let manager = RoomManager { inner };
        for t in config.effective_types() {
            let factory: Arc<dyn RoomFactory> = match t.kind {
                BuiltinKind::Shared => Arc::new(shared::SharedFactory::new(&t.rules)),
                BuiltinKind::Arena => {
                    Arc::new(arena::ArenaFactory::new(t.award_leaderboard.clone()))
                }
            };
            manager.register(&t.name, t.options(), factory);
        }
        manager
    }

    /// Registers (or replaces) a room type. Rooms already running keep the
    /// type they were created with.
    pub fn register(&self, name: &str, options: RoomOptions, factory: Arc<dyn RoomFactory>) {
        let t = RoomType {
            name: Arc::from(name),
            options,
            factory,
        };
        self.inner
            .types
            .write()
            .insert(name.to_owned(), Arc::new(t));
    }

    /// Every room-related `ClientMsg`; answers and errors go to `client.outbox`.
    pub async fn dispatch(&self, client: &ClientRef, msg: ClientMsg) {
        let r = &self.inner;
        match msg {
            ClientMsg::Msg { room, kind, data } => {
                let cmd = Cmd::Msg {
                    session: Arc::clone(&client.session_id),
                    outbox: client.outbox.clone(),
                    kind,
                    data,
                };
                r.to_room(client, &room, None, cmd);
            }
            ClientMsg::Req {
                rid,
                room,
                kind,
                data,
            } => {
                let cmd = Cmd::Req {
                    session: Arc::clone(&client.session_id),
                    outbox: client.outbox.clone(),
                    rid,
                    kind,
                    data,
                };
                r.to_room(client, &room, Some(rid), cmd);
            }
            ClientMsg::JoinOrCreate {
                rid,
                kind,
                filter,
                options,
            } => {
                if let Err(e) = r.join_or_create(r, client, rid, &kind, filter, options) {
                    let _ = client.outbox.send_msg(e.to_msg(Some(rid), None));
                }
            }
            ClientMsg::Create {
                rid,
                kind,
                options,
                private,
            } => {
                if let Err(e) = r.create(r, client, rid, &kind, options, private) {
                    let _ = client.outbox.send_msg(e.to_msg(Some(rid), None));
                }
            }
            ClientMsg::Join { rid, room, options } => {
                if let Err(e) = r.join_by_id(client, rid, &room, options) {
                    let _ = client.outbox.send_msg(e.to_msg(Some(rid), Some(&room)));
                }
            }
            ClientMsg::Leave { room } => {
                let cmd = Cmd::Leave {
                    session: Arc::clone(&client.session_id),
                    outbox: client.outbox.clone(),
                };
                r.to_room(client, &room, None, cmd);
            }
            ClientMsg::Resync { room } => {
                let cmd = Cmd::Resync {
                    session: Arc::clone(&client.session_id),
                    outbox: client.outbox.clone(),
                };
                r.to_room(client, &room, None, cmd);
            }
            ClientMsg::Lock { room } => {
                let cmd = Cmd::Lock {
                    session: Arc::clone(&client.session_id),
                    outbox: client.outbox.clone(),
                    lock: true,
                };
                r.to_room(client, &room, None, cmd);
            }
            ClientMsg::Unlock { room } => {
                let cmd = Cmd::Lock {
                    session: Arc::clone(&client.session_id),
                    outbox: client.outbox.clone(),
                    lock: false,
                };
                r.to_room(client, &room, None, cmd);
            }
            ClientMsg::Lobby { kind } => r.lobby_subscribe(client, kind),
            ClientMsg::Unlobby {} => r.lobby_unsubscribe(&client.session_id),
            ClientMsg::Auth { .. }
            | ClientMsg::Ticket { .. }
            | ClientMsg::Answer { .. }
            | ClientMsg::Resume { .. }
            | ClientMsg::Ping { .. } => {
                tracing::debug!("RoomManager::dispatch got a gateway message; ignored");
            }
        }
    }
}

impl RoomManager {
    /// The socket dropped: every seat of the session starts its hold time.
    pub fn detach(&self, session_id: &str) {
        for room in self.inner.session_rooms(session_id) {
            self.inner.send_ctrl(
                &room,
                Cmd::Detach {
                    session: Arc::from(session_id),
                },
            );
        }
    }

    /// The session resumed on `client.outbox`: each held seat is re-attached
    /// and caught up (missed patches after `last_seqs[room]`, or a snapshot).
    /// Returns the rooms the session still has a seat in.
    ///
    /// The catch-up is queued before this returns; a gateway that wants
    /// `resumed` first writes it to the socket before draining the outbox.
    pub async fn resume(
        &self,
        client: &ClientRef,
        last_seqs: &BTreeMap<String, u64>,
    ) -> Vec<String> {
        let mut waiting = Vec::new();
        let mut rooms = self.inner.session_rooms(&client.session_id);
        // A room appears twice only while a refused join is in flight; one
        // resume per room is enough (a second would replay patches twice).
        rooms.sort();
        rooms.dedup();
        for room in rooms {
            let Some(tx) = self.inner.rooms.get(&*room).map(|h| h.tx.clone()) else {
                continue;
            };
            let (reply, rx) = oneshot::channel();
            let cmd = Cmd::Resume {
                session: Arc::clone(&client.session_id),
                outbox: client.outbox.clone(),
                last_seq: last_seqs.get(&*room).copied(),
                reply,
            };
            // Resume is rare and must reach the room: wait for queue space.
            if tx.send(cmd).await.is_ok() {
                waiting.push((room, rx));
            }
        }
        let mut held = Vec::new();
        for (room, rx) in waiting {
            if rx.await.unwrap_or(false) {
                held.push(room.to_string());
            }
        }
        held.sort();
        held
    }

    /// The session is over: leave every room (not consented), drop its lobby
    /// subscription.
    pub fn end_session(&self, session_id: &str) {
        self.inner.lobby_unsubscribe(session_id);
        for room in self.inner.session_rooms(session_id) {
            self.inner.send_ctrl(
                &room,
                Cmd::EndSession {
                    session: Arc::from(session_id),
                },
            );
        }
    }

    /// Listed, non-private rooms (optionally of one type), oldest first.
    pub fn list(&self, kind: Option<&str>) -> Vec<RoomInfo> {
        self.inner.list(kind)
    }

    /// Disposes every room (dispose hooks, `left {disposed}`, `SeatClosed`)
    /// and waits for the actors to finish. New joins are refused from now on.
    pub async fn shutdown(&self) {
        self.inner.closing.store(true, Ordering::Release);
        let txs: Vec<_> = self.inner.rooms.iter().map(|h| h.tx.clone()).collect();
        for tx in txs {
            let _ = tx.send(Cmd::Dispose).await;
        }
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }

    /// Live rooms.
    pub fn room_count(&self) -> usize {
        self.inner.rooms.len()
    }
}

fn filter_matches(meta: &BTreeMap<String, Value>, filter: &BTreeMap<String, Value>) -> bool {
    filter.iter().all(|(k, v)| meta.get(k) == Some(v))
}

impl Registry {
    fn room_type(&self, kind: &str) -> Result<Arc<RoomType>, RoomError> {
        self.types
            .read()
            .get(kind)
            .cloned()
            .ok_or_else(|| RoomError::UnknownType(kind.to_owned()))
    }

    /// Sends a seated-client command; answers `error` when it cannot be queued.
    fn to_room(&self, client: &ClientRef, room: &str, rid: Option<RequestId>, cmd: Cmd) {
        // Out of the map first: applying a command may unregister rooms,
        // which must not meet this shard's read guard.
        let Some(actor) = self.rooms.get(room).map(|h| Arc::clone(&h.actor)) else {
            let err = RoomError::NotFound(room.to_owned());
            let _ = client.outbox.send_msg(err.to_msg(rid, Some(room)));
            return;
        };
        // Messages are applied in place when the room is free (no task
        // wake-up per message); busy or backlogged, they queue in order.
        let cmd = match cmd {
            cmd @ (Cmd::Msg { .. } | Cmd::Req { .. }) => match actor.try_lock() {
                Some(mut a) => match a.try_inline(cmd) {
                    Ok(()) => return,
                    Err(cmd) => cmd,
                },
                None => cmd,
            },
            cmd => cmd,
        };
        drop(actor);
        let err = match self.rooms.get(room) {
            None => RoomError::NotFound(room.to_owned()),
            Some(h) => match h.tx.try_send(cmd) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    metrics::counter!("plaza_room_busy_total").increment(1);
                    RoomError::Busy
                }
                Err(mpsc::error::TrySendError::Closed(_)) => RoomError::Disposed,
            },
        };
        let _ = client.outbox.send_msg(err.to_msg(rid, Some(room)));
    }

    /// Control commands (detach, end) must arrive: wait for space off-task
    /// when the queue is full.
    fn send_ctrl(&self, room: &str, cmd: Cmd) {
        let Some(tx) = self.rooms.get(room).map(|h| h.tx.clone()) else {
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(cmd)) = tx.try_send(cmd) {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = tx.send(cmd).await;
                });
            }
        }
    }

    fn session_rooms(&self, session: &str) -> Vec<Arc<str>> {
        self.sessions
            .get(session)
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    fn session_add(&self, session: &Arc<str>, room: &Arc<str>) {
        self.sessions
            .entry(Arc::clone(session))
            .or_default()
            .push(Arc::clone(room));
    }

    /// Drops one index entry (a seat closed or a reservation was released).
    pub(crate) fn session_remove(&self, session: &str, room: &str) {
        if let dashmap::Entry::Occupied(mut e) = self.sessions.entry(Arc::from(session)) {
            if let Some(pos) = e.get().iter().position(|r| &**r == room) {
                e.get_mut().swap_remove(pos);
            }
            if e.get().is_empty() {
                e.remove();
            }
        }
    }

    /// Undoes a reservation whose join did not produce a seat.
    pub(crate) fn release(&self, shared: &RoomShared, session: &str) {
        shared.taken.fetch_sub(1, Ordering::AcqRel);
        self.session_remove(session, &shared.id);
    }

    /// Under the matchmaking lock: a new room with one seat reserved.
    #[allow(clippy::too_many_arguments)]
    fn spawn_room(
        &self,
        me: &Arc<Registry>,
        matcher: &mut HashMap<Arc<str>, Vec<Arc<RoomShared>>>,
        rtype: &Arc<RoomType>,
        client: &ClientRef,
        private: bool,
        metadata: BTreeMap<String, Value>,
        create_options: Options,
    ) -> (mpsc::Sender<Cmd>, Arc<RoomShared>) {
        let id: Arc<str> = Arc::from(ids::random_id());
        let shared = Arc::new(RoomShared {
            id: Arc::clone(&id),
            kind: Arc::clone(&rtype.name),
            max_clients: rtype.options.max_clients,
            private,
            listed: rtype.options.listed,
            creator: Arc::clone(&client.session_id),
            taken: AtomicU32::new(1),
            locked: AtomicBool::new(false),
            disposing: AtomicBool::new(false),
            metadata: RwLock::new(metadata),
        });
        let (tx, rx) = mpsc::channel(self.queue_capacity);
        let logic = rtype.factory.build();
        let cell = Arc::new(Mutex::new(actor::Actor::new(
            Arc::clone(me),
            Arc::clone(rtype),
            Arc::clone(&shared),
            logic,
            rx,
        )));
        self.tracker
            .spawn(actor::Actor::run(Arc::clone(&cell), create_options));
        self.rooms.insert(
            Arc::clone(&id),
            RoomHandle {
                actor: cell,
                tx: tx.clone(),
                shared: Arc::clone(&shared),
            },
        );
        matcher
            .entry(Arc::clone(&rtype.name))
            .or_default()
            .push(Arc::clone(&shared));
        self.session_add(&client.session_id, &id);
        metrics::counter!("plaza_rooms_created_total").increment(1);
        (tx, shared)
    }

    fn check_open(&self) -> Result<(), RoomError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(RoomError::ShuttingDown);
        }
        Ok(())
    }

    fn join_or_create(
        &self,
        me: &Arc<Registry>,
        client: &ClientRef,
        rid: RequestId,
        kind: &str,
        filter: BTreeMap<String, Value>,
        options: Options,
    ) -> Result<(), RoomError> {
        self.check_open()?;
        let rtype = self.room_type(kind)?;
        let (tx, shared) = {
            let mut matcher = self.matcher.lock();
            let found = matcher.get(kind).and_then(|rooms| {
                rooms
                    .iter()
                    .find(|s| {
                        !s.private
                            && s.joinable().is_ok()
                            && filter_matches(&s.metadata.read(), &filter)
                    })
                    .cloned()
            });
            match found {
                Some(shared) => {
                    shared.taken.fetch_add(1, Ordering::AcqRel);
                    self.session_add(&client.session_id, &shared.id);
                    let tx = self.rooms.get(&*shared.id).map(|h| h.tx.clone());
                    (tx, shared)
                }
                None => {
                    // The filter becomes metadata so the next joinOrCreate
                    // with the same filter finds this room.
                    let mut create_options = options.clone();
                    create_options.extend(filter.clone());
                    let (tx, shared) = self.spawn_room(
                        me,
                        &mut matcher,
                        &rtype,
                        client,
                        false,
                        filter,
                        create_options,
                    );
                    (Some(tx), shared)
                }
            }
        };
        // The lobby hears of a new room from its actor, once the creating
        // join is processed (a room whose create hook fails never shows).
        self.send_join(client, rid, tx, &shared, options)
    }

    fn create(
        &self,
        me: &Arc<Registry>,
        client: &ClientRef,
        rid: RequestId,
        kind: &str,
        options: Options,
        private: bool,
    ) -> Result<(), RoomError> {
        self.check_open()?;
        let rtype = self.room_type(kind)?;
        let (tx, shared) = {
            let mut matcher = self.matcher.lock();
            self.spawn_room(
                me,
                &mut matcher,
                &rtype,
                client,
                private,
                options.clone(),
                options.clone(),
            )
        };
        self.send_join(client, rid, Some(tx), &shared, options)
    }

    fn join_by_id(
        &self,
        client: &ClientRef,
        rid: RequestId,
        room: &str,
        options: Options,
    ) -> Result<(), RoomError> {
        self.check_open()?;
        let (tx, shared) = {
            let _matcher = self.matcher.lock();
            let h = self
                .rooms
                .get(room)
                .ok_or_else(|| RoomError::NotFound(room.to_owned()))?;
            h.shared.joinable()?;
            h.shared.taken.fetch_add(1, Ordering::AcqRel);
            self.session_add(&client.session_id, &h.shared.id);
            (h.tx.clone(), Arc::clone(&h.shared))
        };
        self.send_join(client, rid, Some(tx), &shared, options)
    }

    /// Hands a reserved join to the actor, releasing the reservation when
    /// the command cannot be queued.
    fn send_join(
        &self,
        client: &ClientRef,
        rid: RequestId,
        tx: Option<mpsc::Sender<Cmd>>,
        shared: &RoomShared,
        options: Options,
    ) -> Result<(), RoomError> {
        let Some(tx) = tx else {
            self.release(shared, &client.session_id);
            return Err(RoomError::Disposed);
        };
        match tx.try_send(Cmd::Join {
            client: client.clone(),
            rid,
            options,
        }) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.release(shared, &client.session_id);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => RoomError::Busy,
                    mpsc::error::TrySendError::Closed(_) => RoomError::Disposed,
                })
            }
        }
    }

    /// Removes a room from matchmaking and the id map. Without `force`, only
    /// when no seat is taken or reserved (an in-flight join keeps it alive).
    pub(crate) fn unregister(&self, shared: &RoomShared, force: bool) -> bool {
        {
            let mut matcher = self.matcher.lock();
            if !force && shared.taken.load(Ordering::Acquire) > 0 {
                return false;
            }
            shared.disposing.store(true, Ordering::Release);
            self.rooms.remove(&*shared.id);
            if let Some(list) = matcher.get_mut(&*shared.kind) {
                list.retain(|s| s.id != shared.id);
            }
        }
        self.lobby_remove(shared);
        true
    }

    fn list(&self, kind: Option<&str>) -> Vec<RoomInfo> {
        let matcher = self.matcher.lock();
        let mut out = Vec::new();
        let mut push_all = |rooms: &Vec<Arc<RoomShared>>| {
            out.extend(rooms.iter().filter(|s| s.visible()).map(|s| s.info()));
        };
        match kind {
            Some(k) => {
                if let Some(rooms) = matcher.get(k) {
                    push_all(rooms);
                }
            }
            None => {
                let mut kinds: Vec<_> = matcher.keys().cloned().collect();
                kinds.sort();
                for k in kinds {
                    if let Some(rooms) = matcher.get(&k) {
                        push_all(rooms);
                    }
                }
            }
        }
        out
    }

    fn lobby_subscribe(&self, client: &ClientRef, kind: Option<String>) {
        let mut lobby = self.lobby.lock();
        lobby.retain(|s| *s.session != *client.session_id);
        let rooms = self.list(kind.as_deref());
        let needs_list = client
            .outbox
            .send_msg(ServerMsg::LobbyList { rooms })
            .is_err();
        lobby.push(LobbySub {
            session: Arc::clone(&client.session_id),
            kind,
            outbox: client.outbox.clone(),
            needs_list,
        });
    }

    fn lobby_unsubscribe(&self, session: &str) {
        self.lobby.lock().retain(|s| &*s.session != session);
    }

    /// A room appeared or changed (seats, lock, metadata).
    pub(crate) fn lobby_update(&self, shared: &RoomShared) {
        if !shared.visible() {
            return;
        }
        let msg = || {
            Encoded::new(ServerMsg::LobbyUpdate {
                info: shared.info(),
            })
        };
        self.lobby_publish(&shared.kind, msg);
    }

    /// A room went away.
    pub(crate) fn lobby_remove(&self, shared: &RoomShared) {
        if !shared.visible() {
            return;
        }
        let id = shared.id.to_string();
        self.lobby_publish(&shared.kind, move || {
            Encoded::new(ServerMsg::LobbyRemove { room: id.clone() })
        });
    }

    fn lobby_publish(&self, kind: &str, make: impl Fn() -> Arc<Encoded>) {
        let mut lobby = self.lobby.lock();
        if lobby.is_empty() {
            return;
        }
        let mut encoded = None;
        lobby.retain_mut(|sub| {
            if sub.kind.as_deref().is_some_and(|k| k != kind) {
                return true;
            }
            let sent = if sub.needs_list {
                let rooms = self.list(sub.kind.as_deref());
                sub.outbox.send_msg(ServerMsg::LobbyList { rooms })
            } else {
                sub.outbox.send_shared(encoded.get_or_insert_with(&make))
            };
            match sent {
                Ok(()) => {
                    sub.needs_list = false;
                    true
                }
                Err(SendError::Full) => {
                    sub.needs_list = true;
                    true
                }
                Err(SendError::Closed) => false,
            }
        });
    }
}

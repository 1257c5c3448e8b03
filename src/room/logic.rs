//! The room-logic seam: the [`RoomLogic`] trait a room type implements, the
//! [`RoomFactory`] that builds one per room, and the [`RoomCtx`] every hook
//! gets (document, sends, lock, metadata, clock, timers, awards, kicks).
//!
//! Hooks run inside the room's actor task, one at a time, so logic owns its
//! state without locks. They must not block or await: anything slow (I/O,
//! the store) goes through events. Document mutations are recorded as ops and
//! broadcast by the actor at the next tick; logic never encodes patches.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use plaza_protocol::state::{Document, Value};
use plaza_protocol::ServerMsg;
use tokio::time::Instant;

use super::actor::{Core, Seats};
use super::RoomError;
use crate::auth::Identity;
use crate::events::{now_ms, PlazaEvent};
use crate::outbox::Encoded;

/// Join/create options as the client sent them.
pub type Options = BTreeMap<String, Value>;

/// A seated client as room logic sees it.
#[derive(Debug, Clone)]
pub struct RoomClient {
    /// Seat id, unique across the server (sent in `joined.seat`).
    pub seat: Arc<str>,
    /// The session holding the seat (stable across resume).
    pub session_id: Arc<str>,
    /// Who the session speaks for.
    pub identity: Arc<Identity>,
}

impl RoomClient {
    /// The lower-case wallet address.
    pub fn address(&self) -> &str {
        &self.identity.address
    }
}

/// One room type's behaviour. Every hook has a default except `message`.
///
/// Errors returned by hooks are sent to the client concerned as `error`
/// (with the request id for `join` and `request`).
pub trait RoomLogic: Send + 'static {
    /// The room was created with `options`; set up the initial document.
    /// An error disposes the room and refuses the creating join.
    fn create(&mut self, ctx: &mut RoomCtx<'_>, options: &Options) -> Result<(), RoomError> {
        let _ = (ctx, options);
        Ok(())
    }

    /// `client` asks for a seat. An error refuses it.
    fn join(
        &mut self,
        ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        options: &Options,
    ) -> Result<(), RoomError> {
        let _ = (ctx, client, options);
        Ok(())
    }

    /// A fire-and-forget `msg` from a seated client.
    fn message(
        &mut self,
        ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        kind: &str,
        data: Value,
    ) -> Result<(), RoomError>;

    /// A `req`; the value is sent back as `res`.
    fn request(
        &mut self,
        ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        kind: &str,
        data: Value,
    ) -> Result<Value, RoomError> {
        let _ = (ctx, client, data);
        Err(RoomError::InvalidMessage(format!(
            "unknown request type {kind:?}"
        )))
    }

    /// Once per tick, before the tick's patch is encoded.
    fn tick(&mut self, ctx: &mut RoomCtx<'_>, dt: Duration) {
        let _ = (ctx, dt);
    }

    /// A timer set with [`RoomCtx::schedule`] is due.
    fn timer(&mut self, ctx: &mut RoomCtx<'_>, tag: u64) {
        let _ = (ctx, tag);
    }

    /// `client` lost its seat; `consented` is true for an explicit `leave`.
    fn leave(&mut self, ctx: &mut RoomCtx<'_>, client: &RoomClient, consented: bool) {
        let _ = (ctx, client, consented);
    }

    /// The room is going away (empty, never joined, or shutdown).
    fn dispose(&mut self, ctx: &mut RoomCtx<'_>) {
        let _ = ctx;
    }
}

/// Builds the logic of each new room of a type.
pub trait RoomFactory: Send + Sync + 'static {
    /// A fresh logic instance; [`RoomLogic::create`] runs next.
    fn build(&self) -> Box<dyn RoomLogic>;
}

impl<F> RoomFactory for F
where
    F: Fn() -> Box<dyn RoomLogic> + Send + Sync + 'static,
{
    fn build(&self) -> Box<dyn RoomLogic> {
        self()
    }
}

/// What a hook may touch. Borrowed from the actor for one hook call.
pub struct RoomCtx<'a> {
    pub(super) doc: &'a mut Document,
    pub(super) seats: &'a Seats,
    pub(super) core: &'a mut Core,
}

impl RoomCtx<'_> {
    /// This room's id.
    pub fn room_id(&self) -> &str {
        &self.core.shared.id
    }

    /// The document, for reading and recorded mutation.
    pub fn doc(&mut self) -> &mut Document {
        self.doc
    }

    /// The document, read-only.
    pub fn state(&self) -> &Document {
        self.doc
    }

    /// Seated clients (attached or held).
    pub fn clients(&self) -> impl Iterator<Item = &RoomClient> {
        self.seats.iter().map(|s| &s.client)
    }

    /// Number of seats.
    pub fn client_count(&self) -> usize {
        self.seats.len()
    }

    /// Sends `msg {type: kind, data}` to one client. False when it is not
    /// attached or its outbox is full (the message is dropped then).
    pub fn send(&self, to: &RoomClient, kind: &str, data: Value) -> bool {
        let Some(seat) = self.seats.by_session(&to.session_id) else {
            return false;
        };
        if !seat.attached {
            return false;
        }
        let msg = ServerMsg::Msg {
            room: self.core.shared.id.to_string(),
            kind: kind.to_owned(),
            data,
        };
        seat.outbox.send_msg(msg).is_ok()
    }

    /// Sends `msg {type: kind, data}` to every attached client, encoded once.
    pub fn broadcast(&self, kind: &str, data: Value) {
        let msg = ServerMsg::Msg {
            room: self.core.shared.id.to_string(),
            kind: kind.to_owned(),
            data,
        };
        let encoded = Encoded::new(msg);
        for seat in self.seats.iter().filter(|s| s.attached) {
            // A full outbox drops the message; the seat is caught up by the
            // lagging path at the next patch.
            let _ = seat.outbox.send_shared(&encoded);
        }
    }

    /// Refuses new joins until [`RoomCtx::unlock`].
    pub fn lock(&mut self) {
        self.core.shared.locked.store(true, Ordering::Release);
        self.core.lobby_dirty = true;
    }

    /// Accepts joins again (while seats are free).
    pub fn unlock(&mut self) {
        self.core.shared.locked.store(false, Ordering::Release);
        self.core.lobby_dirty = true;
    }

    /// Whether the room is explicitly locked.
    pub fn is_locked(&self) -> bool {
        self.core.shared.locked.load(Ordering::Acquire)
    }

    /// Sets one metadata key (matched by `joinOrCreate` filters, listed).
    pub fn set_metadata(&mut self, key: &str, value: Value) {
        self.core
            .shared
            .metadata
            .write()
            .insert(key.to_owned(), value);
        self.core.lobby_dirty = true;
    }

    /// The room clock: time since the room was created (tokio time, so
    /// tests with paused time control it).
    pub fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.core.started)
    }

    /// Calls [`RoomLogic::timer`] with `tag` once `after` has passed
    /// (checked at tick granularity).
    pub fn schedule(&mut self, after: Duration, tag: u64) {
        self.core.timers.push((Instant::now() + after, tag));
    }

    /// Awards `score` on `leaderboard` to `client`'s wallet, bound to its seat.
    pub fn award(&self, client: &RoomClient, leaderboard: &str, score: i64) {
        self.core.events.emit(PlazaEvent::Award {
            leaderboard: leaderboard.to_owned(),
            address: client.identity.address.clone(),
            score,
            seat: client.seat.to_string(),
            at_ms: now_ms(),
        });
    }

    /// Removes a seat after the hook returns (`left {reason}` is sent).
    pub fn kick(&mut self, client: &RoomClient, reason: &str) {
        self.core
            .kicks
            .push((Arc::clone(&client.session_id), reason.to_owned()));
    }
}

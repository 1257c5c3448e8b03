//! Every message of the wire protocol, named for its direction:
//! [`ClientMsg`] (client → server) and [`ServerMsg`] (server → client).
//!
//! Each message is a map whose `"t"` member names it (internally tagged).
//! `protocol/README.md` is the normative description; change both together.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::state::{Op, Value};

/// A request id chosen by the client; echoed in the reply so a client can
/// match answers to requests. Any value the client likes (0 included).
pub type RequestId = u32;

/// Room ids are short opaque strings chosen by the server.
pub type RoomId = String;

/// Client → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "camelCase")]
pub enum ClientMsg {
    /// First frame, scene path: the `x-identity-*` headers that
    /// `getHeaders({url, init:{method:"GET"}})` returned, signed for `GET /v1/ws`.
    Auth {
        /// Header name → value, exactly as the signer produced them.
        headers: BTreeMap<String, String>,
    },
    /// First frame: a ticket from `POST /v1/auth/ticket`.
    Ticket {
        /// The ticket string.
        ticket: String,
    },
    /// First frame: an auth chain whose last link signs the server's challenge.
    Answer {
        /// The auth chain (JSON links), as `@dcl/crypto` builds it.
        #[serde(rename = "authChain")]
        auth_chain: serde_json::Value,
    },
    /// First frame: take back a held session after a dropped socket.
    Resume {
        /// The `resumeToken` from `welcome`.
        token: String,
        /// The last patch seq the client applied, per room (room id → seq).
        #[serde(default)]
        rooms: BTreeMap<RoomId, u64>,
    },
    /// Join a room of `type` matching `filter`, or create one.
    JoinOrCreate {
        /// Request id.
        rid: RequestId,
        /// Registered room type name.
        #[serde(rename = "type")]
        kind: String,
        /// Metadata keys the room must match exactly.
        #[serde(default)]
        filter: BTreeMap<String, Value>,
        /// Options for the room (when created) and for the join.
        #[serde(default)]
        options: BTreeMap<String, Value>,
    },
    /// Create a new room (never joins an existing one).
    Create {
        /// Request id.
        rid: RequestId,
        /// Registered room type name.
        #[serde(rename = "type")]
        kind: String,
        /// Room options.
        #[serde(default)]
        options: BTreeMap<String, Value>,
        /// A private room is joinable by id only (not listed, not matched).
        #[serde(default, rename = "private")]
        private: bool,
    },
    /// Join a room by id.
    Join {
        /// Request id.
        rid: RequestId,
        /// The room id.
        room: RoomId,
        /// Options for the join.
        #[serde(default)]
        options: BTreeMap<String, Value>,
    },
    /// Leave a room (consented leave: the seat is not held).
    Leave {
        /// The room id.
        room: RoomId,
    },
    /// A fire-and-forget message to a room's logic.
    Msg {
        /// The room id.
        room: RoomId,
        /// Message type, interpreted by the room logic.
        #[serde(rename = "type")]
        kind: String,
        /// Payload.
        #[serde(default)]
        data: Value,
    },
    /// A request to a room's logic; answered by `res` with the same `rid`.
    Req {
        /// Request id.
        rid: RequestId,
        /// The room id.
        room: RoomId,
        /// Request type, interpreted by the room logic.
        #[serde(rename = "type")]
        kind: String,
        /// Payload.
        #[serde(default)]
        data: Value,
    },
    /// Ask for a fresh snapshot (after a seq gap).
    Resync {
        /// The room id.
        room: RoomId,
    },
    /// Lock a room (no new joins); allowed for the room's creator.
    Lock {
        /// The room id.
        room: RoomId,
    },
    /// Unlock a room; allowed for the room's creator.
    Unlock {
        /// The room id.
        room: RoomId,
    },
    /// Subscribe to the live room list (optionally one room type).
    Lobby {
        /// Only rooms of this type; all listed rooms when absent.
        #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
    },
    /// Stop the lobby subscription.
    Unlobby {},
    /// Application-level ping; answered by `pong` with the same `d`.
    Ping {
        /// Any number; echoed.
        d: f64,
    },
}

/// Limits the server enforces on this session, sent in `welcome`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Largest accepted frame payload, bytes.
    pub max_frame_bytes: u32,
    /// Sustained messages per second per connection.
    pub messages_per_second: u32,
    /// Burst size of the message rate limit.
    pub message_burst: u32,
    /// How long a dropped session is held for `resume`, ms.
    pub resume_grace_ms: u64,
}

/// One entry of a room listing (lobby and `GET /v1/rooms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomInfo {
    /// Room id.
    pub room: RoomId,
    /// Room type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Seats taken.
    pub clients: u32,
    /// Seat limit.
    pub max_clients: u32,
    /// Locked rooms accept no joins.
    pub locked: bool,
    /// Room metadata (set by room logic; filters match it).
    pub metadata: BTreeMap<String, Value>,
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "camelCase")]
pub enum ServerMsg {
    /// Sent once on open: sign `nonce` (as the last link's payload) to use the
    /// challenge handshake.
    Challenge {
        /// Random, ≥128 bits, as text.
        nonce: String,
    },
    /// The handshake succeeded.
    #[serde(rename_all = "camelCase")]
    Welcome {
        /// The verified wallet address, lower-case.
        address: String,
        /// This session's id.
        session_id: String,
        /// Presents to `resume` after a dropped socket.
        resume_token: String,
        /// Server clock, ms since the Unix epoch.
        server_time: u64,
        /// Limits in force.
        limits: Limits,
    },
    /// A resumed session. Sent after the missed patches (or a `snapshot`) of
    /// every room still held have been queued; `rooms` lists those rooms.
    #[serde(rename_all = "camelCase")]
    Resumed {
        /// The verified wallet address, lower-case.
        address: String,
        /// The session id (unchanged).
        session_id: String,
        /// A fresh resume token (the old one is spent).
        resume_token: String,
        /// Rooms the session still holds a seat in.
        rooms: Vec<RoomId>,
    },
    /// A refusal or failure. Sent before any close, so a client that never
    /// sees close codes still learns why.
    Error {
        /// Stable machine-readable code (see the spec's table).
        code: String,
        /// Human-readable explanation.
        message: String,
        /// Whether trying again later may succeed.
        retryable: bool,
        /// The request this answers, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<RequestId>,
        /// The room concerned, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomId>,
    },
    /// A join/create succeeded: the room's full state and the seq it is at.
    Joined {
        /// Request id of the join.
        rid: RequestId,
        /// Room id.
        room: RoomId,
        /// Room type.
        #[serde(rename = "type")]
        kind: String,
        /// This seat's id inside the room (e.g. the arena's player key).
        seat: String,
        /// The seq of the snapshot; the next patch has seq + 1.
        seq: u64,
        /// The whole document.
        state: Value,
    },
    /// The session no longer has a seat in this room.
    Left {
        /// Room id.
        room: RoomId,
        /// Why: `left`, `kicked`, `disposed`, `replaced`, `slow`.
        reason: String,
    },
    /// The changes of one tick. Apply in seq order; on a gap send `resync`.
    Patch {
        /// Room id.
        room: RoomId,
        /// Consecutive per room.
        seq: u64,
        /// The compacted ops.
        ops: Vec<Op>,
    },
    /// The whole document (after `resync`, a resume past the ring, or a
    /// slow client being caught up).
    Snapshot {
        /// Room id.
        room: RoomId,
        /// The seq of this state.
        seq: u64,
        /// The whole document.
        state: Value,
    },
    /// A message from room logic.
    Msg {
        /// Room id.
        room: RoomId,
        /// Message type.
        #[serde(rename = "type")]
        kind: String,
        /// Payload.
        data: Value,
    },
    /// The answer to `req`.
    Res {
        /// Request id.
        rid: RequestId,
        /// Room id.
        room: RoomId,
        /// Payload.
        data: Value,
    },
    /// The full room list (first lobby message).
    LobbyList {
        /// Rooms.
        rooms: Vec<RoomInfo>,
    },
    /// A room appeared or changed.
    LobbyUpdate {
        /// The room.
        info: RoomInfo,
    },
    /// A room went away or stopped being listed.
    LobbyRemove {
        /// Room id.
        room: RoomId,
    },
    /// Answer to `ping`.
    Pong {
        /// The client's `d`.
        d: f64,
    },
    /// The server is shutting down; reconnect after `retryAfterMs`.
    #[serde(rename_all = "camelCase")]
    Shutdown {
        /// Why.
        reason: String,
        /// Suggested delay before reconnecting.
        retry_after_ms: u64,
    },
}

/// A patch encoded without owning its ops: gives the same bytes as
/// `ServerMsg::Patch`, for the room's once-per-tick encode.
#[derive(Serialize)]
pub struct PatchRef<'a> {
    /// Always `"patch"`.
    pub t: &'static str,
    /// Room id.
    pub room: &'a str,
    /// Seq.
    pub seq: u64,
    /// Ops.
    pub ops: &'a [Op],
}

impl<'a> PatchRef<'a> {
    /// A patch view.
    pub fn new(room: &'a str, seq: u64, ops: &'a [Op]) -> Self {
        Self {
            t: "patch",
            room,
            seq,
            ops,
        }
    }
}

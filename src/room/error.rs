//! [`RoomError`]: every refusal a room or the matchmaker answers with, each
//! with a stable wire code (the `code` of the `error` message) and whether a
//! retry may succeed. Owns the mapping to `ServerMsg::Error`, nothing else.

use plaza_protocol::{RequestId, ServerMsg};
use thiserror::Error;

/// A room-level refusal. The `Display` text is the `message` sent to the
/// client, so it must not leak internals.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RoomError {
    /// No room type registered under that name.
    #[error("unknown room type {0:?}")]
    UnknownType(String),
    /// No room with that id (never existed, or disposed).
    #[error("no room {0:?}")]
    NotFound(String),
    /// Every seat is taken.
    #[error("the room is full")]
    Full,
    /// The room accepts no joins.
    #[error("the room is locked")]
    Locked,
    /// The room's command queue is full; try again shortly.
    #[error("the room is busy, try again")]
    Busy,
    /// The room went away while the command was in flight.
    #[error("the room was disposed")]
    Disposed,
    /// This session already has a seat in the room.
    #[error("this session already has a seat in the room")]
    AlreadyJoined,
    /// The wallet has a seat from another session and the room refuses a second.
    #[error("this wallet already has a seat in the room")]
    WalletSeated,
    /// The command needs a seat in the room.
    #[error("not in this room")]
    NotInRoom,
    /// Only the room's creator may do this.
    #[error("only the room's creator may {0}")]
    NotCreator(&'static str),
    /// A `shared` write rule refused the write (the message names the rule).
    #[error("{0}")]
    WriteRefused(String),
    /// The payload is not what the room expects.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// Too many messages to this room from this seat.
    #[error("too many messages to this room")]
    RateLimited,
    /// The document refused the change (size, depth, type, path).
    #[error("state change refused: {0}")]
    State(String),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// A refusal chosen by room logic (custom rooms).
    #[error("{message}")]
    Custom {
        /// Stable code chosen by the room type.
        code: &'static str,
        /// Explanation for the client.
        message: String,
        /// Whether retrying may succeed.
        retryable: bool,
    },
}

impl RoomError {
    /// The stable wire code.
    pub fn code(&self) -> &'static str {
        match self {
            RoomError::UnknownType(_) => "unknown_room_type",
            RoomError::NotFound(_) => "room_not_found",
            RoomError::Full => "room_full",
            RoomError::Locked => "room_locked",
            RoomError::Busy => "room_busy",
            RoomError::Disposed => "room_disposed",
            RoomError::AlreadyJoined => "already_joined",
            RoomError::WalletSeated => "wallet_seated",
            RoomError::NotInRoom => "not_in_room",
            RoomError::NotCreator(_) => "not_creator",
            RoomError::WriteRefused(_) => "write_refused",
            RoomError::InvalidMessage(_) => "invalid_message",
            RoomError::RateLimited => "room_rate_limited",
            RoomError::State(_) => "state_refused",
            RoomError::ShuttingDown => "shutting_down",
            RoomError::Custom { code, .. } => code,
        }
    }

    /// Whether the same command may succeed later.
    pub fn retryable(&self) -> bool {
        match self {
            RoomError::Busy
            | RoomError::Disposed
            | RoomError::Full
            | RoomError::Locked
            | RoomError::RateLimited
            | RoomError::ShuttingDown => true,
            RoomError::Custom { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// A refusal with a room-type-specific code.
    pub fn custom(code: &'static str, message: impl Into<String>) -> Self {
        RoomError::Custom {
            code,
            message: message.into(),
            retryable: false,
        }
    }

    /// The `error` message for the client.
    pub fn to_msg(&self, rid: Option<RequestId>, room: Option<&str>) -> ServerMsg {
        ServerMsg::Error {
            code: self.code().to_owned(),
            message: self.to_string(),
            retryable: self.retryable(),
            rid,
            room: room.map(str::to_owned),
        }
    }
}

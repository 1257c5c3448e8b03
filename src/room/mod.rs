//! Rooms: matchmaking, room actors, room logic and the state they own.
//!
//! | file | owns |
//! |---|---|
//! | [`config`] | `[rooms]`: types, options, defaults, validation |
//! | `manager` | [`RoomManager`]: types, live rooms, matchmaking, session index, listing, lobby |
//! | `actor` | one task per room: seats, document, ticks, patches, ring buffer, back-pressure |
//! | [`logic`] | the [`RoomLogic`] trait, [`RoomFactory`], [`RoomCtx`] |
//! | [`shared`], [`arena`] | the built-in room types |
//! | [`rules`] | the `shared` room's write rules |
//! | [`error`] | [`RoomError`] and its wire codes |
//!
//! The gateway's seam is [`ClientRef`] + [`RoomManager`]: it hands every room
//! message to [`RoomManager::dispatch`] and reports socket drops, resumes and
//! session ends. Rooms never see sockets, never await a client or the store:
//! they queue to [`crate::outbox::Outbox`]es and emit [`crate::events`].

use std::sync::Arc;

/// Maps on the per-message path, keyed by ids the server made.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

mod actor;
pub mod arena;
pub mod config;
pub mod error;
mod ids;
pub mod logic;
mod manager;
pub mod rules;
pub mod shared;

pub use config::{BuiltinKind, RoomOptions, RoomTypeConfig, RoomsConfig, WalletPolicy};
pub use error::RoomError;
pub use logic::{Options, RoomClient, RoomCtx, RoomFactory, RoomLogic};
pub use manager::RoomManager;

/// A connected (or resumed) session as rooms see it.
#[derive(Clone, Debug)]
pub struct ClientRef {
    /// Stable across resume.
    pub session_id: Arc<str>,
    /// `identity.address` is the lower-case wallet.
    pub identity: Arc<crate::auth::Identity>,
    /// Bounded queue to the socket writer; rooms only `try_send`.
    pub outbox: crate::outbox::Outbox,
}

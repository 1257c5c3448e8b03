//! Plaza's wire protocol, shared by the server, the load tool and Rust clients.
//!
//! - [`msg`]: every message ([`ClientMsg`], [`ServerMsg`]), internally tagged by `"t"`.
//! - [`codec`]: MessagePack (binary frames) and JSON (text frames).
//! - [`state`]: the state document, its recorded ops and patches.
//! - [`auth`]: Decentraland auth chains — types, signing, verification.
//!
//! No tokio, no I/O: everything here is pure and fuzzable.

pub mod auth;
pub mod codec;
pub mod mpack;
pub mod msg;
pub mod state;

pub use codec::{decode, encode, DecodeError, EncodeError, Format};
pub use msg::{ClientMsg, Limits, PatchRef, RequestId, RoomId, RoomInfo, ServerMsg};

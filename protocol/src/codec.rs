//! The two wire encodings and the one place that turns bytes into messages.
//!
//! Binary WebSocket frames carry MessagePack (maps with string keys, as
//! `rmp_serde::to_vec_named` writes them); text frames carry the same message
//! as JSON. A session answers in the form it was spoken to.

use serde::{de::DeserializeOwned, Serialize};
use thiserror::Error;

/// Which encoding a frame uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Binary frames, MessagePack.
    MsgPack,
    /// Text frames, JSON (UTF-8).
    Json,
}

/// Why a frame could not be decoded.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// MessagePack that is malformed or does not match a known message.
    #[error("invalid MessagePack message: {0}")]
    MsgPack(#[from] rmp_serde::decode::Error),
    /// JSON that is malformed or does not match a known message.
    #[error("invalid JSON message: {0}")]
    Json(#[from] serde_json::Error),
    /// A frame with bytes left over after one complete message.
    #[error("trailing bytes after the message")]
    Trailing,
}

/// Why a message could not be encoded (only non-string map keys or
/// non-finite floats in JSON can cause this).
#[derive(Debug, Error)]
pub enum EncodeError {
    /// MessagePack encoding failed.
    #[error("MessagePack encoding failed: {0}")]
    MsgPack(#[from] rmp_serde::encode::Error),
    /// JSON encoding failed.
    #[error("JSON encoding failed: {0}")]
    Json(#[from] serde_json::Error),
}

/// Encodes one message in the given format.
pub fn encode<T: Serialize + ?Sized>(msg: &T, format: Format) -> Result<Vec<u8>, EncodeError> {
    match format {
        Format::MsgPack => Ok(rmp_serde::to_vec_named(msg)?),
        Format::Json => Ok(serde_json::to_vec(msg)?),
    }
}

/// Decodes exactly one message from a frame's payload.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], format: Format) -> Result<T, DecodeError> {
    match format {
        Format::MsgPack => {
            let mut de = rmp_serde::Deserializer::new(bytes);
            let value = T::deserialize(&mut de)?;
            if de.get_ref().is_empty() {
                Ok(value)
            } else {
                Err(DecodeError::Trailing)
            }
        }
        Format::Json => Ok(serde_json::from_slice(bytes)?),
    }
}

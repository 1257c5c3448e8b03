//! The two wire encodings and the one place that turns bytes into messages.
//!
//! Binary WebSocket frames carry MessagePack (maps with string keys, as
//! `rmp_serde::to_vec_named` writes them); text frames carry the same message
//! as JSON. A session answers in the form it was spoken to.
//!
//! [`decode_client`] is the server's per-frame entry point. Its MessagePack
//! `msg` fast path exists for cost only: it never decides anything the serde
//! path would decide differently. Whenever a frame is not the plain shape
//! (unknown or repeated keys, non-string keys, a tag other than `msg`, bad
//! UTF-8, trailing bytes, a `data` that fails to decode), it steps aside and
//! the serde path produces the result, errors included.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use thiserror::Error;

use crate::msg::ClientMsg;
use crate::state::Value;

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

/// Decodes one client frame: the same result as `decode::<ClientMsg>`.
///
/// Serde decodes an internally tagged enum by buffering the whole map into
/// its private `Content` tree first (every key and string copied), then
/// replaying it. The scene's hot frame, `msg {room, type, data}`, is read
/// here straight from the bytes instead; anything else goes through serde.
pub fn decode_client(bytes: &[u8], format: Format) -> Result<ClientMsg, DecodeError> {
    if format == Format::MsgPack {
        if let Some(msg) = fast_room_msg(bytes) {
            return Ok(msg);
        }
    }
    decode(bytes, format)
}

/// A cursor over a MessagePack frame; every read is bounds-checked.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn be(&mut self, n: usize) -> Option<usize> {
        let mut v = 0usize;
        for &b in self.take(n)? {
            v = (v << 8) | usize::from(b);
        }
        Some(v)
    }

    fn map_len(&mut self) -> Option<usize> {
        match self.byte()? {
            b @ 0x80..=0x8f => Some(usize::from(b & 0x0f)),
            0xde => self.be(2),
            0xdf => self.be(4),
            _ => None,
        }
    }

    /// A MessagePack str's bytes, not yet checked to be UTF-8.
    fn str_bytes(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            b @ 0xa0..=0xbf => usize::from(b & 0x1f),
            0xd9 => self.be(1)?,
            0xda => self.be(2)?,
            0xdb => self.be(4)?,
            _ => return None,
        };
        self.take(len)
    }

    fn string(&mut self) -> Option<String> {
        std::str::from_utf8(self.str_bytes()?)
            .ok()
            .map(str::to_owned)
    }

    /// One [`Value`] read by its own `Deserialize` (no `Content` detour).
    fn value(&mut self) -> Option<Value> {
        let rest = self.buf.get(self.pos..)?;
        let mut de = rmp_serde::Deserializer::new(rest);
        let value = Value::deserialize(&mut de).ok()?;
        let left = de.get_ref().len();
        self.pos += rest.len() - left;
        Some(value)
    }
}

/// `msg {t, room, type, data?}` in any key order, or `None` for serde.
fn fast_room_msg(bytes: &[u8]) -> Option<ClientMsg> {
    let mut c = Cursor { buf: bytes, pos: 0 };
    let entries = c.map_len()?;
    let mut tagged = false;
    let mut room = None;
    let mut kind = None;
    let mut data = None;
    for _ in 0..entries {
        // Keys and the tag are compared as bytes: a match is ASCII, so
        // valid UTF-8, and anything else steps aside anyway.
        match c.str_bytes()? {
            b"t" if !tagged => {
                if c.str_bytes()? != b"msg" {
                    return None;
                }
                tagged = true;
            }
            b"room" if room.is_none() => room = Some(c.string()?),
            b"type" if kind.is_none() => kind = Some(c.string()?),
            b"data" if data.is_none() => data = Some(c.value()?),
            _ => return None,
        }
    }
    if !tagged || c.pos != bytes.len() {
        return None;
    }
    Some(ClientMsg::Msg {
        room: room?,
        kind: kind?,
        data: data.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    //! The fast path must agree with serde on every input: whatever it
    //! accepts, serde accepts with the same value; whatever it declines goes
    //! to serde, so `decode_client` and `decode::<ClientMsg>` always agree.
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;

    use super::*;

    fn serde_path(bytes: &[u8]) -> Option<ClientMsg> {
        decode::<ClientMsg>(bytes, Format::MsgPack).ok()
    }

    /// Both paths agree, and the fast path never accepts what serde refuses.
    fn agree(bytes: &[u8]) {
        let slow = serde_path(bytes);
        if let Some(fast) = fast_room_msg(bytes) {
            assert_eq!(
                Some(&fast),
                slow.as_ref(),
                "fast path accepted {bytes:02x?}"
            );
        }
        assert_eq!(
            decode_client(bytes, Format::MsgPack).ok(),
            slow,
            "decode_client differs on {bytes:02x?}"
        );
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            (-1e9f64..1e9).prop_map(Value::Float),
            any::<f32>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| Value::Float(f64::from(f))),
            ".{0,8}".prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(Value::Bytes),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
                proptest::collection::btree_map(".{0,4}", inner, 0..4).prop_map(Value::Map),
            ]
        })
    }

    /// Any map of string keys to values, in the order given (rmp-serde
    /// writes a `Vec` of pairs through this as a map).
    struct Entries(Vec<(String, Value)>);

    impl Serialize for Entries {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }

    fn entries(e: &[(&str, Value)]) -> Vec<u8> {
        let owned = Entries(
            e.iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        );
        encode(&owned, Format::MsgPack).expect("encode entries")
    }

    #[test]
    fn the_arena_move_takes_the_fast_path() {
        let msg = ClientMsg::Msg {
            room: "r1".into(),
            kind: "move".into(),
            data: Value::Map(BTreeMap::from([
                ("x".to_owned(), Value::Float(1.5)),
                ("y".to_owned(), Value::Int(-3)),
            ])),
        };
        let bytes = encode(&msg, Format::MsgPack).expect("encode");
        assert_eq!(fast_room_msg(&bytes), Some(msg.clone()));
        assert_eq!(decode_client(&bytes, Format::MsgPack).expect("decode"), msg);
    }

    #[test]
    fn unusual_shapes_go_to_serde_with_the_same_verdict() {
        let s = |v: &str| Value::Str(v.to_owned());
        let cases = [
            // Key order, missing data, extra and repeated keys.
            entries(&[
                ("data", Value::Int(1)),
                ("type", s("a")),
                ("room", s("r")),
                ("t", s("msg")),
            ]),
            entries(&[("t", s("msg")), ("room", s("r")), ("type", s("a"))]),
            entries(&[
                ("t", s("msg")),
                ("room", s("r")),
                ("type", s("a")),
                ("extra", Value::Null),
            ]),
            entries(&[
                ("t", s("msg")),
                ("room", s("r")),
                ("room", s("q")),
                ("type", s("a")),
            ]),
            entries(&[
                ("t", s("msg")),
                ("t", s("msg")),
                ("room", s("r")),
                ("type", s("a")),
            ]),
            // Missing required fields, wrong types, other tags.
            entries(&[("t", s("msg")), ("type", s("a"))]),
            entries(&[("t", s("msg")), ("room", Value::Int(3)), ("type", s("a"))]),
            entries(&[
                ("t", s("msg")),
                ("room", Value::Bytes(b"r".to_vec())),
                ("type", s("a")),
            ]),
            entries(&[("t", s("ping")), ("d", Value::Float(2.5))]),
            entries(&[("t", s("leave")), ("room", s("r"))]),
            entries(&[("t", s("nope")), ("room", s("r"))]),
            entries(&[("room", s("r")), ("type", s("a"))]),
            // Not a map, empty, trailing bytes, a lone map header.
            encode(&Value::List(vec![]), Format::MsgPack).expect("encode"),
            Vec::new(),
            {
                let mut b = entries(&[("t", s("msg")), ("room", s("r")), ("type", s("a"))]);
                b.push(0xc0);
                b
            },
            vec![0x83],
            vec![0xdf, 0xff, 0xff, 0xff, 0xff],
            // Invalid UTF-8 in the room id (fixstr of 1 byte 0xff).
            [
                &[0x83, 0xa1, b't', 0xa3, b'm', b's', b'g', 0xa4][..],
                b"room",
                &[0xa1, 0xff, 0xa4],
                b"type",
                &[0xa1, b'a'],
            ]
            .concat(),
        ];
        for bytes in &cases {
            agree(bytes);
        }
    }

    proptest! {
        #[test]
        fn fast_path_equals_serde_on_msg_frames(
            room in ".{0,40}",
            kind in ".{0,12}",
            data in value(),
        ) {
            let msg = ClientMsg::Msg { room, kind, data };
            let bytes = encode(&msg, Format::MsgPack).expect("encode");
            prop_assert_eq!(fast_room_msg(&bytes), Some(msg.clone()));
            agree(&bytes);
        }

        #[test]
        fn damaged_frames_get_the_serde_verdict(
            data in value(),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let msg = ClientMsg::Msg { room: "r1".into(), kind: "move".into(), data };
            let bytes = encode(&msg, Format::MsgPack).expect("encode");
            agree(&bytes[..cut.index(bytes.len() + 1)]);
            let mut flipped = bytes.clone();
            let at = flip.index(flipped.len());
            flipped[at] ^= 1 << bit;
            agree(&flipped);
        }

        #[test]
        fn arbitrary_bytes_get_the_serde_verdict(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            agree(&bytes);
        }
    }
}

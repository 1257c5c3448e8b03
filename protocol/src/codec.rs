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

use serde::{de::DeserializeOwned, Serialize};
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

    fn be_u64(&mut self, n: usize) -> Option<u64> {
        let mut v = 0u64;
        for &b in self.take(n)? {
            v = (v << 8) | u64::from(b);
        }
        Some(v)
    }

    /// One [`Value`], read straight from the bytes. `None` (serde decides)
    /// for anything but the plain shapes: ext types, non-UTF-8 strings
    /// (rmp-serde turns those into bytes), non-string map keys, the `$bytes`
    /// key, integers above `i64::MAX`, nesting deeper than [`FAST_DEPTH`].
    fn value(&mut self, depth: usize) -> Option<Value> {
        let marker = self.byte()?;
        let v = match marker {
            0x00..=0x7f => Value::Int(i64::from(marker)),
            0x80..=0x8f => return self.map(usize::from(marker & 0x0f), depth),
            0x90..=0x9f => return self.list(usize::from(marker & 0x0f), depth),
            0xa0..=0xbf => return self.str_value(usize::from(marker & 0x1f)),
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let len = self.be(1)?;
                Value::Bytes(self.take(len)?.to_vec())
            }
            0xc5 => {
                let len = self.be(2)?;
                Value::Bytes(self.take(len)?.to_vec())
            }
            0xc6 => {
                let len = self.be(4)?;
                Value::Bytes(self.take(len)?.to_vec())
            }
            0xca => Value::Float(f64::from(f32::from_bits(self.be_u64(4)? as u32))),
            0xcb => Value::Float(f64::from_bits(self.be_u64(8)?)),
            0xcc => Value::Int(self.be_u64(1)? as i64),
            0xcd => Value::Int(self.be_u64(2)? as i64),
            0xce => Value::Int(self.be_u64(4)? as i64),
            0xcf => Value::Int(i64::try_from(self.be_u64(8)?).ok()?),
            0xd0 => Value::Int(i64::from(self.be_u64(1)? as u8 as i8)),
            0xd1 => Value::Int(i64::from(self.be_u64(2)? as u16 as i16)),
            0xd2 => Value::Int(i64::from(self.be_u64(4)? as u32 as i32)),
            0xd3 => Value::Int(self.be_u64(8)? as i64),
            0xd9 => {
                let len = self.be(1)?;
                return self.str_value(len);
            }
            0xda => {
                let len = self.be(2)?;
                return self.str_value(len);
            }
            0xdb => {
                let len = self.be(4)?;
                return self.str_value(len);
            }
            0xdc => {
                let len = self.be(2)?;
                return self.list(len, depth);
            }
            0xdd => {
                let len = self.be(4)?;
                return self.list(len, depth);
            }
            0xde => {
                let len = self.be(2)?;
                return self.map(len, depth);
            }
            0xdf => {
                let len = self.be(4)?;
                return self.map(len, depth);
            }
            0xe0..=0xff => Value::Int(i64::from(marker as i8)),
            // 0xc1 (never used), ext and fixext: serde's call.
            _ => return None,
        };
        Some(v)
    }

    fn str_value(&mut self, len: usize) -> Option<Value> {
        let s = std::str::from_utf8(self.take(len)?).ok()?;
        Some(Value::Str(s.to_owned()))
    }

    fn list(&mut self, len: usize, depth: usize) -> Option<Value> {
        if depth >= FAST_DEPTH {
            return None;
        }
        // Every element takes at least one byte: a length past the frame's
        // end cannot reserve more than the frame holds.
        let mut items = Vec::with_capacity(len.min(self.buf.len() - self.pos));
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Some(Value::List(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Option<Value> {
        if depth >= FAST_DEPTH {
            return None;
        }
        let mut map = std::collections::BTreeMap::new();
        for _ in 0..len {
            let key = std::str::from_utf8(self.str_bytes()?).ok()?;
            if key == crate::state::BYTES_KEY {
                return None;
            }
            let value = self.value(depth + 1)?;
            map.insert(key.to_owned(), value);
        }
        Some(Value::Map(map))
    }
}

/// Nesting the fast path reads itself; deeper values go to serde.
const FAST_DEPTH: usize = 32;

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
            b"data" if data.is_none() => data = Some(c.value(0)?),
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

    /// `msg {t, room: "r", type: "a", data: <raw>}` with `raw` as given.
    fn with_data(raw: &[u8]) -> Vec<u8> {
        [
            &[0x84, 0xa1, b't', 0xa3, b'm', b's', b'g', 0xa4][..],
            b"room",
            &[0xa1, b'r', 0xa4],
            b"type",
            &[0xa1, b'a', 0xa4],
            b"data",
            raw,
        ]
        .concat()
    }

    #[test]
    fn data_the_fast_reader_declines_gets_the_serde_verdict() {
        let nested = |depth: usize| {
            let mut raw = vec![0x91; depth];
            raw.push(0x01);
            raw
        };
        let cases: Vec<Vec<u8>> = vec![
            // A str that is not UTF-8: rmp-serde reads it as bytes.
            vec![0xa2, 0xff, 0xfe],
            // A map key that is not UTF-8, an int key, a bin key.
            vec![0x81, 0xa1, 0xff, 0x01],
            vec![0x81, 0x01, 0x01],
            vec![0x81, 0xc4, 0x01, b'k', 0x01],
            // `$bytes` with valid and invalid base64.
            [&[0x81, 0xa6][..], b"$bytes", &[0xa4], b"AAEC"].concat(),
            [&[0x81, 0xa6][..], b"$bytes", &[0xa3], b"A!C"].concat(),
            // u64 above i64::MAX, and at it.
            vec![0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0],
            vec![0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            // ext, fixext, the unused marker.
            vec![0xc7, 0x01, 0x05, 0x00],
            vec![0xd4, 0x05, 0x00],
            vec![0xc1],
            // Deep nesting on both sides of the fast reader's limit.
            nested(FAST_DEPTH - 1),
            nested(FAST_DEPTH),
            nested(FAST_DEPTH + 5),
            // Lengths past the end of the frame.
            vec![0xdd, 0xff, 0xff, 0xff, 0xff],
            vec![0xdb, 0x00, 0x01, 0x00, 0x00, b'x'],
            vec![0xc6, 0xff, 0xff, 0xff, 0xff],
            // Every fixed-width number form.
            vec![0xcc, 0xff],
            vec![0xcd, 0xff, 0xff],
            vec![0xce, 0xff, 0xff, 0xff, 0xff],
            vec![0xd0, 0x80],
            vec![0xd1, 0x80, 0x00],
            vec![0xd2, 0x80, 0, 0, 0],
            vec![0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0],
            vec![0xca, 0x3f, 0xc0, 0, 0],
            vec![0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0],
            vec![0xe0],
        ];
        for raw in &cases {
            agree(&with_data(raw));
        }
        // The plain shapes are read by the fast reader itself.
        assert!(fast_room_msg(&with_data(&nested(FAST_DEPTH - 1))).is_some());
        assert!(fast_room_msg(&with_data(&[0xa2, 0xff, 0xfe])).is_none());
        assert!(fast_room_msg(&with_data(&[0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0])).is_none());
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

//! The few frames the load tool sends on the hot path, encoded without
//! building a [`ClientMsg`] (no `BTreeMap`, no `String` per move), and a
//! peek that classifies a server frame without decoding it, so clients that
//! are not observers pay nothing per patch but a byte compare.
//!
//! The bytes must stay exactly what `plaza_protocol::encode` accepts as the
//! same [`ClientMsg`]; the tests decode them with the real codec.
//!
//! [`ClientMsg`]: plaza_protocol::ClientMsg

use plaza_protocol::EncodeError;
use serde::Serialize;

/// `ClientMsg::Msg` with a typed payload (same map: `t`, `room`, `type`, `data`).
#[derive(Serialize)]
struct RoomMsg<'a, D: Serialize> {
    t: &'static str,
    room: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    data: D,
}

#[derive(Serialize)]
struct Xy {
    x: f64,
    y: f64,
}

/// Encodes `msg {room, type:"move", data:{x, y}}` (MessagePack).
pub fn encode_move(room: &str, x: f64, y: f64) -> Result<Vec<u8>, EncodeError> {
    let m = RoomMsg {
        t: "msg",
        room,
        kind: "move",
        data: Xy { x, y },
    };
    Ok(rmp_serde::to_vec_named(&m)?)
}

/// Encodes `msg {room, type:"ping", data: t_ms}` (MessagePack).
pub fn encode_ping(room: &str, t_ms: f64) -> Result<Vec<u8>, EncodeError> {
    let m = RoomMsg {
        t: "msg",
        room,
        kind: "ping",
        data: t_ms,
    };
    Ok(rmp_serde::to_vec_named(&m)?)
}

/// What a server frame is, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peek {
    /// A `patch`.
    Patch,
    /// A `msg` (e.g. the arena's `pong`).
    Msg,
    /// Anything else, or a frame whose tag is not first: decode it.
    Other,
}

/// fixstr "t", then fixstr "patch" / "msg": serde writes an internally
/// tagged enum's tag as the first map entry.
const TAG_PATCH: &[u8] = b"\xa1t\xa5patch";
const TAG_MSG: &[u8] = b"\xa1t\xa3msg";

/// Classifies a MessagePack server frame by its tag, without decoding.
pub fn peek(frame: &[u8]) -> Peek {
    let Some((&first, rest)) = frame.split_first() else {
        return Peek::Other;
    };
    // fixmap (0x80..=0x8f): every server message has far fewer than 16 keys.
    if first & 0xf0 != 0x80 {
        return Peek::Other;
    }
    if rest.starts_with(TAG_PATCH) {
        Peek::Patch
    } else if rest.starts_with(TAG_MSG) {
        Peek::Msg
    } else {
        Peek::Other
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use plaza_protocol::state::{Op, Seg, Value};
    use plaza_protocol::{decode, encode, ClientMsg, Format, PatchRef, ServerMsg};

    use super::*;

    #[test]
    fn move_and_ping_decode_as_the_real_client_messages() {
        let bytes = encode_move("r1", 12.25, -3.5).expect("encode move");
        let msg: ClientMsg = decode(&bytes, Format::MsgPack).expect("server can decode a move");
        let data = Value::Map(BTreeMap::from([
            ("x".to_owned(), Value::Float(12.25)),
            ("y".to_owned(), Value::Float(-3.5)),
        ]));
        assert_eq!(
            msg,
            ClientMsg::Msg {
                room: "r1".into(),
                kind: "move".into(),
                data
            }
        );

        let bytes = encode_ping("r1", 1234.5).expect("encode ping");
        let msg: ClientMsg = decode(&bytes, Format::MsgPack).expect("server can decode a ping");
        assert_eq!(
            msg,
            ClientMsg::Msg {
                room: "r1".into(),
                kind: "ping".into(),
                data: Value::Float(1234.5)
            }
        );
    }

    #[test]
    fn peek_classifies_real_server_frames() {
        let ops = vec![Op::Set(
            vec![Seg::Key("world".into()), Seg::Key("tick".into())],
            Value::Int(3),
        )];
        let patch = encode(
            &ServerMsg::Patch {
                room: "r".into(),
                seq: 1,
                ops: ops.clone(),
            },
            Format::MsgPack,
        )
        .expect("encode patch");
        assert_eq!(peek(&patch), Peek::Patch);
        let patch_ref =
            encode(&PatchRef::new("r", 1, &ops), Format::MsgPack).expect("encode patch ref");
        assert_eq!(peek(&patch_ref), Peek::Patch);
        assert_eq!(patch, patch_ref, "PatchRef and Patch give the same bytes");
        let pong = ServerMsg::Msg {
            room: "r".into(),
            kind: "pong".into(),
            data: Value::Float(1.0),
        };
        assert_eq!(
            peek(&encode(&pong, Format::MsgPack).expect("encode msg")),
            Peek::Msg
        );
        let other = ServerMsg::Pong { d: 1.0 };
        assert_eq!(
            peek(&encode(&other, Format::MsgPack).expect("encode pong")),
            Peek::Other
        );
        assert_eq!(peek(&[]), Peek::Other);
        assert_eq!(peek(&[0x93, 1, 2, 3]), Peek::Other);
    }
}

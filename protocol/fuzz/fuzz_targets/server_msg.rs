//! Arbitrary bytes decoded as a `ServerMsg`, in both formats: errors only,
//! never a panic. What decodes must re-encode and decode again. The
//! hand-written MessagePack writer (`mpack`) must give serde's bytes for every
//! patch, room message and pong that decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_protocol::{decode, encode, mpack, Format, ServerMsg};

fuzz_target!(|data: &[u8]| {
    for format in [Format::MsgPack, Format::Json] {
        if let Ok(msg) = decode::<ServerMsg>(data, format) {
            let hand = match &msg {
                ServerMsg::Patch { room, seq, ops } => Some(mpack::encode_patch(room, *seq, ops)),
                ServerMsg::Msg { room, kind, data } => Some(mpack::encode_room_msg(room, kind, data)),
                ServerMsg::Pong { d } => Some(mpack::encode_pong(*d)),
                _ => None,
            };
            if let (Some(hand), Ok(serde)) = (hand, encode(&msg, Format::MsgPack)) {
                assert_eq!(hand, serde, "mpack differs from rmp-serde for {msg:?}");
            }
            if let Ok(bytes) = encode(&msg, format) {
                let again = decode::<ServerMsg>(&bytes, format);
                assert!(again.is_ok(), "re-encoded message does not decode: {msg:?}");
            }
        }
    }
});

//! Every message survives both encodings, and the patch view encodes to the
//! same bytes as the owned patch message.

use std::collections::BTreeMap;

use plaza_protocol::state::{Op, Seg, Value};
use plaza_protocol::{decode, encode, ClientMsg, Format, PatchRef, ServerMsg};

fn both<T>(msg: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    for format in [Format::MsgPack, Format::Json] {
        let bytes = encode(msg, format).expect("encode");
        let back: T = decode(&bytes, format).expect("decode");
        assert_eq!(&back, msg, "{format:?}");
    }
}

#[test]
fn client_messages_round_trip() {
    let mut headers = BTreeMap::new();
    headers.insert("x-identity-timestamp".to_owned(), "1".to_owned());
    both(&ClientMsg::Auth { headers });
    both(&ClientMsg::Msg {
        room: "r1".into(),
        kind: "move".into(),
        data: Value::Map(BTreeMap::from([
            ("x".to_owned(), Value::Float(1.5)),
            ("y".to_owned(), Value::Float(0.1)),
        ])),
    });
    both(&ClientMsg::Lobby { kind: None });
    both(&ClientMsg::Unlobby {});
    both(&ClientMsg::Ping { d: 12.25 });
}

#[test]
fn patch_view_matches_owned_patch() {
    let ops = vec![
        Op::Set(
            vec![Seg::Key("players".into()), Seg::Key("abc".into())],
            Value::List(vec![Value::Float(0.5), Value::Float(1000.0), Value::Int(3)]),
        ),
        Op::Del(vec![Seg::Key("gone".into()), Seg::Idx(2)]),
        Op::Push(vec![], Value::Bytes(vec![1, 2, 255])),
    ];
    let owned = ServerMsg::Patch {
        room: "r1".into(),
        seq: 7,
        ops: ops.clone(),
    };
    for format in [Format::MsgPack, Format::Json] {
        let a = encode(&owned, format).expect("encode");
        let b = encode(&PatchRef::new("r1", 7, &ops), format).expect("encode");
        assert_eq!(a, b);
        let back: ServerMsg = decode(&a, format).expect("decode");
        assert_eq!(back, owned);
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = encode(&ClientMsg::Ping { d: 1.0 }, Format::MsgPack).expect("encode");
    bytes.push(0xc0);
    assert!(decode::<ClientMsg>(&bytes, Format::MsgPack).is_err());
}

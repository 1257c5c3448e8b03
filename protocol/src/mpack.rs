//! A hand-written MessagePack writer for the server's hot outgoing messages.
//!
//! Every function here produces exactly the bytes `rmp_serde::to_vec_named`
//! (that is, [`encode`](crate::encode) with [`Format::MsgPack`](crate::Format))
//! writes for the same message, without going through serde: no serializer
//! state, no `Result` plumbing, no `io::Write` calls per marker. The tests
//! below check the equality on arbitrary values, paths, ops and messages.
//!
//! The rules followed are rmp 0.8's (the `rmp::encode` functions rmp-serde
//! calls), not the MessagePack spec's freedom:
//!
//! - signed integers (`write_sint`): a non-negative value takes the
//!   *unsigned* forms (positive fixint, then uint 8/16/32/64); a negative one
//!   the smallest of negative fixint (`-32..0`), int 8/16/32/64;
//! - unsigned integers (`write_uint`): positive fixint, uint 8/16/32/64;
//! - a [`Value::Float`] exactly representable as `f32` is float 32 (this is
//!   [`Value`]'s own `Serialize` rule), any other (NaN included) float 64;
//!   a plain `f64` field (`pong.d`) is always float 64;
//! - strings: fixstr (`< 32` bytes), str 8, str 16, str 32; bytes: bin 8
//!   (even for 0..32 bytes: there is no fixbin), bin 16, bin 32; arrays and
//!   maps: fix (`< 16`), 16, 32;
//! - lengths are cast to `u32` as rmp-serde does (a length past `u32::MAX`
//!   wraps there too; no frame gets anywhere near it).

use crate::state::{Op, OpRef, Seg, Value};

/// Appends one [`Value`], as its `Serialize` impl writes it to MessagePack.
///
/// Lists are written in order, maps in the `BTreeMap`'s (sorted) key order.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::List(items) => {
            write_array_len(out, items.len());
            for item in items {
                write_item(out, item);
            }
        }
        Value::Map(map) => {
            write_map_len(out, map.len());
            for (k, item) in map {
                write_str(out, k);
                write_item(out, item);
            }
        }
        _ => write_scalar(out, v),
    }
}

/// [`write_value`] with the scalar cases inlined into the caller: the
/// elements of a list or map, and an op's value, cost no call.
#[inline(always)]
fn write_item(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::List(_) | Value::Map(_) => write_value(out, v),
        _ => write_scalar(out, v),
    }
}

/// The non-container values (a container goes to [`write_value`]).
#[inline(always)]
fn write_scalar(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Int(i) => write_sint(out, *i),
        Value::Float(f) => {
            // The same test as `Value::serialize` (so NaN is never narrowed).
            let narrow = *f as f32;
            if f64::from(narrow) == *f {
                write_f32(out, narrow);
            } else {
                write_f64(out, *f);
            }
        }
        Value::Str(s) => write_str(out, s),
        Value::Bytes(b) => write_bin(out, b),
        Value::List(_) | Value::Map(_) => write_value(out, v),
    }
}

/// Appends one [`Op`]: the array `[code, path, value?]`.
pub fn write_op(out: &mut Vec<u8>, op: &Op) {
    let (path, value) = match op {
        Op::Set(p, v) | Op::Push(p, v) => (p, Some(v)),
        Op::Del(p) => (p, None),
    };
    write_op_parts(out, op.code(), path.iter(), value);
}

/// Appends one borrowed op (from [`Document::take_ops_with`]): the same
/// bytes as [`write_op`] on the owned op.
///
/// [`Document::take_ops_with`]: crate::state::Document::take_ops_with
pub fn write_op_ref(out: &mut Vec<u8>, op: OpRef<'_>) {
    write_op_parts(out, op.code, op.path.iter().copied(), op.value);
}

/// `{t: "patch", room, seq, ops}` around `count` ops already written into
/// `ops` by [`write_op_ref`] or [`write_op`]: the same bytes as
/// [`encode_patch`] on those ops.
pub fn encode_patch_parts(room: &str, seq: u64, count: usize, ops: &[u8]) -> Vec<u8> {
    // The header's largest form: 14 bytes of keys and tag, a str32 room
    // header, `seq` as a uint64, an array32 header. The bytes are kept in
    // the resume ring, so they must fit at once (a doubling would be kept).
    let mut out = Vec::with_capacity(41 + room.len() + ops.len());
    write_patch_head(&mut out, room, seq, count);
    out.extend_from_slice(ops);
    out
}

/// A patch up to its ops: the map header, `t`, `room`, `seq` and the ops'
/// array header for `count` ops.
fn write_patch_head(out: &mut Vec<u8>, room: &str, seq: u64, count: usize) {
    out.extend_from_slice(b"\x84\xa1t\xa5patch\xa4room");
    write_str(out, room);
    out.extend_from_slice(b"\xa3seq");
    write_uint(out, seq);
    out.extend_from_slice(b"\xa3ops");
    write_array_len(out, count);
}

#[inline(always)]
fn write_op_parts<'a>(
    out: &mut Vec<u8>,
    code: u8,
    path: impl ExactSizeIterator<Item = &'a Seg>,
    value: Option<&Value>,
) {
    // fixarray of 3 or 2, the code (0..=2) as a positive fixint, the path's
    // array header.
    let head = if value.is_some() { 0x93 } else { 0x92 };
    if path.len() < 16 {
        out.extend_from_slice(&[head, code, 0x90 | path.len() as u8]);
    } else {
        out.extend_from_slice(&[head, code]);
        write_array_len(out, path.len());
    }
    for seg in path {
        match seg {
            Seg::Key(k) => write_str(out, k),
            Seg::Idx(i) => write_uint(out, u64::from(*i)),
        }
    }
    if let Some(v) = value {
        write_item(out, v);
    }
}

/// `{t: "patch", room, seq, ops}`: the same bytes as
/// `encode(&PatchRef::new(room, seq, ops), Format::MsgPack)` (and as
/// `ServerMsg::Patch`).
pub fn encode_patch(room: &str, seq: u64, ops: &[Op]) -> Vec<u8> {
    // The header (fixmap, keys, tag, seq, array header) is at most 41 bytes
    // plus the room, 25 for a small seq and op count. An arena move (`players/<9-char seat>` = `[f32, f32,
    // int]`) takes 36 bytes, a counter update ~16. A per-op guess from the
    // paths and values cost ~60 instructions an op, more than the realloc it
    // saves; a bigger op just lets the Vec grow (doubling). The bytes of a
    // patch are kept in the resume ring, so this aims at the size, not far
    // above it.
    let mut out = Vec::with_capacity(25 + room.len() + ops.len() * 40);
    write_patch_head(&mut out, room, seq, ops.len());
    for op in ops {
        write_op(&mut out, op);
    }
    out
}

/// `{t: "msg", room, type: kind, data}`: the same bytes as encoding
/// `ServerMsg::Msg { room, kind, data }` with `Format::MsgPack`.
pub fn encode_room_msg(room: &str, kind: &str, data: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + room.len() + kind.len());
    out.extend_from_slice(b"\x84\xa1t\xa3msg\xa4room");
    write_str(&mut out, room);
    out.extend_from_slice(b"\xa4type");
    write_str(&mut out, kind);
    out.extend_from_slice(b"\xa4data");
    write_value(&mut out, data);
    out
}

/// `{t: "pong", d}`: the same bytes as encoding `ServerMsg::Pong { d }` with
/// `Format::MsgPack` (`d` always as float 64, NaN payloads kept).
pub fn encode_pong(d: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity(18);
    out.extend_from_slice(b"\x82\xa1t\xa4pong\xa1d");
    write_f64(&mut out, d);
    out
}

/// rmp's `write_uint`: the smallest unsigned form.
#[inline(always)]
fn write_uint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
    } else {
        write_uint_wide(out, v);
    }
}

/// [`write_uint`] past the positive fixints.
fn write_uint_wide(out: &mut Vec<u8>, v: u64) {
    if v < 0x100 {
        out.extend_from_slice(&[0xcc, v as u8]);
    } else if v < 0x1_0000 {
        let b = (v as u16).to_be_bytes();
        out.extend_from_slice(&[0xcd, b[0], b[1]]);
    } else if v < 0x1_0000_0000 {
        let b = (v as u32).to_be_bytes();
        out.extend_from_slice(&[0xce, b[0], b[1], b[2], b[3]]);
    } else {
        let b = v.to_be_bytes();
        out.extend_from_slice(&[0xcf, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    }
}

/// rmp's `write_sint`: non-negative values as [`write_uint`] (uint forms,
/// never int ones), negative ones in the smallest signed form.
#[inline(always)]
fn write_sint(out: &mut Vec<u8>, v: i64) {
    if (-32..0x80).contains(&v) {
        // Positive fixint, or negative fixint: the two's complement byte
        // itself (0xe0..=0xff).
        out.push(v as u8);
    } else if v >= 0 {
        write_uint_wide(out, v as u64);
    } else {
        write_sint_wide(out, v);
    }
}

/// [`write_sint`] below the negative fixints.
fn write_sint_wide(out: &mut Vec<u8>, v: i64) {
    if v >= i64::from(i8::MIN) {
        out.extend_from_slice(&[0xd0, v as u8]);
    } else if v >= i64::from(i16::MIN) {
        let b = (v as i16).to_be_bytes();
        out.extend_from_slice(&[0xd1, b[0], b[1]]);
    } else if v >= i64::from(i32::MIN) {
        let b = (v as i32).to_be_bytes();
        out.extend_from_slice(&[0xd2, b[0], b[1], b[2], b[3]]);
    } else {
        let b = v.to_be_bytes();
        out.extend_from_slice(&[0xd3, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    }
}

/// float 32.
#[inline]
fn write_f32(out: &mut Vec<u8>, v: f32) {
    let b = v.to_bits().to_be_bytes();
    out.extend_from_slice(&[0xca, b[0], b[1], b[2], b[3]]);
}

/// float 64.
#[inline]
fn write_f64(out: &mut Vec<u8>, v: f64) {
    let b = v.to_bits().to_be_bytes();
    out.extend_from_slice(&[0xcb, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
}

/// A length header: `fix` (with the length in its low bits) below
/// `fix_limit`, else the 16-bit or 32-bit form (`m16`, `m16 + 1`).
/// `len` is cast to `u32` first, as rmp-serde does.
#[inline]
fn write_len(out: &mut Vec<u8>, len: usize, fix: u8, fix_limit: u32, m16: u8) {
    let len = len as u32;
    if len < fix_limit {
        out.push(fix | len as u8);
    } else if len <= u32::from(u16::MAX) {
        let b = (len as u16).to_be_bytes();
        out.extend_from_slice(&[m16, b[0], b[1]]);
    } else {
        let b = len.to_be_bytes();
        out.extend_from_slice(&[m16 + 1, b[0], b[1], b[2], b[3]]);
    }
}

/// fixarray, array 16, array 32.
#[inline]
fn write_array_len(out: &mut Vec<u8>, len: usize) {
    write_len(out, len, 0x90, 16, 0xdc);
}

/// fixmap, map 16, map 32.
#[inline]
fn write_map_len(out: &mut Vec<u8>, len: usize) {
    write_len(out, len, 0x80, 16, 0xde);
}

/// fixstr, str 8, str 16, str 32, then the UTF-8 bytes.
#[inline(always)]
fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if bytes.len() < 32 {
        out.push(0xa0 | bytes.len() as u8);
    } else {
        write_str_len(out, bytes.len());
    }
    out.extend_from_slice(bytes);
}

/// str 8, str 16, str 32 headers, for `len >= 32` (`len` cast to `u32` as
/// rmp-serde does).
fn write_str_len(out: &mut Vec<u8>, len: usize) {
    write_len_8_16_32(out, len, [0xd9, 0xda, 0xdb]);
}

/// bin 8, bin 16, bin 32, then the bytes.
#[inline]
fn write_bin(out: &mut Vec<u8>, b: &[u8]) {
    write_len_8_16_32(out, b.len(), [0xc4, 0xc5, 0xc6]);
    out.extend_from_slice(b);
}

/// A length after the marker of its width (`markers`: 8-, 16-, 32-bit),
/// the smallest that holds it (`len` cast to `u32` as rmp-serde does).
fn write_len_8_16_32(out: &mut Vec<u8>, len: usize, markers: [u8; 3]) {
    let len = len as u32;
    if len < 0x100 {
        out.extend_from_slice(&[markers[0], len as u8]);
    } else if len <= u32::from(u16::MAX) {
        let b = (len as u16).to_be_bytes();
        out.extend_from_slice(&[markers[1], b[0], b[1]]);
    } else {
        let b = len.to_be_bytes();
        out.extend_from_slice(&[markers[2], b[0], b[1], b[2], b[3]]);
    }
}

#[cfg(test)]
mod tests {
    //! Every writer is compared byte for byte with rmp-serde (`encode`).
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::{decode, encode, Format, PatchRef, ServerMsg};

    fn serde_patch(room: &str, seq: u64, ops: &[Op]) -> Vec<u8> {
        encode(&PatchRef::new(room, seq, ops), Format::MsgPack).expect("encode patch")
    }

    fn serde_value(v: &Value) -> Vec<u8> {
        encode(v, Format::MsgPack).expect("encode value")
    }

    fn ours_value(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(&mut out, v);
        out
    }

    /// Integers on both sides of every form boundary rmp uses.
    const INT_EDGES: &[i64] = &[
        0,
        1,
        -1,
        31,
        32,
        -31,
        -32,
        -33,
        126,
        127,
        128,
        129,
        -127,
        -128,
        -129,
        254,
        255,
        256,
        257,
        32_767,
        32_768,
        -32_767,
        -32_768,
        -32_769,
        65_534,
        65_535,
        65_536,
        65_537,
        i32::MAX as i64,
        i32::MAX as i64 + 1,
        i32::MIN as i64,
        i32::MIN as i64 + 1,
        i32::MIN as i64 - 1,
        u32::MAX as i64 - 1,
        u32::MAX as i64,
        u32::MAX as i64 + 1,
        i64::MAX,
        i64::MAX - 1,
        i64::MIN,
        i64::MIN + 1,
    ];

    const U32_EDGES: &[u32] = &[
        0,
        1,
        127,
        128,
        255,
        256,
        65_535,
        65_536,
        u32::MAX - 1,
        u32::MAX,
    ];

    const U64_EDGES: &[u64] = &[
        0,
        1,
        127,
        128,
        255,
        256,
        65_535,
        65_536,
        u32::MAX as u64,
        u32::MAX as u64 + 1,
        i64::MAX as u64,
        i64::MAX as u64 + 1,
        u64::MAX - 1,
        u64::MAX,
    ];

    fn int() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            prop::sample::select(INT_EDGES),
            // Small values, dense around the fixint edges.
            -300i64..300,
            // Every magnitude.
            // Every power of two, negated or not, give or take one.
            (0u32..64, any::<bool>(), -1i64..=1).prop_map(|(shift, neg, off)| {
                let v = 1i64.wrapping_shl(shift);
                let v = if neg { v.wrapping_neg() } else { v };
                v.wrapping_add(off)
            }),
        ]
    }

    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            // Every class: normal, subnormal, zero, infinite, NaN.
            any::<f64>(),
            // Exactly representable as f32 (incl. f32 NaN and infinities).
            any::<f32>().prop_map(f64::from),
            -1e6f64..1e6,
            prop::sample::select(vec![
                0.0,
                -0.0,
                0.5,
                1.5,
                0.1,
                f64::NAN,
                -f64::NAN,
                f64::from_bits(0x7ff8_0000_0000_0001),
                f64::from_bits(0xfff0_0000_0000_0001),
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MIN_POSITIVE,
                f64::MAX,
                f64::MIN,
                f64::from(f32::MAX),
                f64::from(f32::MIN_POSITIVE),
                f64::from(f32::MAX) * 2.0,
                1e-50,
            ]),
        ]
    }

    /// Strings with byte lengths across the fixstr / str 8 / str 16 edges.
    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,8}",
            "[a-z]{25,40}",
            "[a-z]{250,300}",
            // Multi-byte characters: up to 4 bytes each.
            "\\PC{0,80}",
        ]
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..8),
            prop::collection::vec(any::<u8>(), 250..300),
        ]
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            int().prop_map(Value::Int),
            float().prop_map(Value::Float),
            string().prop_map(Value::Str),
            bytes().prop_map(Value::Bytes),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 64, 20, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
                prop::collection::vec(inner.clone(), 14..20).prop_map(Value::List),
                prop::collection::btree_map(".{0,6}", inner.clone(), 0..4).prop_map(Value::Map),
                prop::collection::btree_map("[a-z]{1,6}", inner, 14..20).prop_map(Value::Map),
            ]
        })
    }

    fn seg() -> impl Strategy<Value = Seg> {
        prop_oneof![
            string().prop_map(Seg::Key),
            any::<u32>().prop_map(Seg::Idx),
            prop::sample::select(U32_EDGES).prop_map(Seg::Idx),
        ]
    }

    fn path() -> impl Strategy<Value = Vec<Seg>> {
        prop_oneof![
            prop::collection::vec(seg(), 0..5),
            prop::collection::vec(seg(), 14..20),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (path(), value()).prop_map(|(p, v)| Op::Set(p, v)),
            path().prop_map(Op::Del),
            (path(), value()).prop_map(|(p, v)| Op::Push(p, v)),
        ]
    }

    fn seq() -> impl Strategy<Value = u64> {
        prop_oneof![any::<u64>(), prop::sample::select(U64_EDGES)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn values_match_rmp_serde(v in value()) {
            prop_assert_eq!(ours_value(&v), serde_value(&v));
        }

        #[test]
        fn patches_match_rmp_serde(
            room in string(),
            seq in seq(),
            ops in prop_oneof![
                prop::collection::vec(op(), 0..4),
                prop::collection::vec(op(), 15..18),
            ],
        ) {
            prop_assert_eq!(encode_patch(&room, seq, &ops), serde_patch(&room, seq, &ops));
        }

        #[test]
        fn room_msgs_match_rmp_serde(room in string(), kind in string(), data in value()) {
            let ours = encode_room_msg(&room, &kind, &data);
            let msg = ServerMsg::Msg { room, kind, data };
            prop_assert_eq!(ours, encode(&msg, Format::MsgPack).expect("encode msg"));
        }

        #[test]
        fn pongs_match_rmp_serde(d in float()) {
            let theirs = encode(&ServerMsg::Pong { d }, Format::MsgPack).expect("encode pong");
            prop_assert_eq!(encode_pong(d), theirs);
        }
    }

    #[test]
    fn every_integer_edge_matches() {
        for &i in INT_EDGES {
            let v = Value::Int(i);
            assert_eq!(ours_value(&v), serde_value(&v), "int {i}");
        }
        for &i in U32_EDGES {
            let op = Op::Del(vec![Seg::Idx(i)]);
            let mut ours = Vec::new();
            write_op(&mut ours, &op);
            assert_eq!(
                ours,
                encode(&op, Format::MsgPack).expect("encode op"),
                "idx {i}"
            );
        }
        for &s in U64_EDGES {
            assert_eq!(
                encode_patch("r", s, &[]),
                serde_patch("r", s, &[]),
                "seq {s}"
            );
        }
    }

    #[test]
    fn every_length_edge_matches() {
        for len in [0, 1, 15, 16, 31, 32, 255, 256, 65_535, 65_536, 70_000] {
            let s = Value::Str("x".repeat(len));
            assert_eq!(ours_value(&s), serde_value(&s), "str {len}");
            let b = Value::Bytes(vec![7; len]);
            assert_eq!(ours_value(&b), serde_value(&b), "bin {len}");
            let l = Value::List(vec![Value::Null; len]);
            assert_eq!(ours_value(&l), serde_value(&l), "array {len}");
            let m = Value::Map(
                (0..len)
                    .map(|i| (format!("{i:06}"), Value::Int(i as i64)))
                    .collect(),
            );
            assert_eq!(ours_value(&m), serde_value(&m), "map {len}");
        }
        // A 70,000-char string with multi-byte chars, in every message.
        let long = "é".repeat(70_000);
        let data = Value::Str(long.clone());
        let ops = [Op::Set(vec![Seg::Key(long.clone())], data.clone())];
        assert_eq!(
            encode_patch(&long, 1, &ops),
            serde_patch(&long, 1, &ops),
            "long patch"
        );
        let msg = ServerMsg::Msg {
            room: long.clone(),
            kind: long.clone(),
            data: data.clone(),
        };
        assert_eq!(
            encode_room_msg(&long, &long, &data),
            encode(&msg, Format::MsgPack).expect("encode msg"),
            "long msg"
        );
    }

    /// The patch buffer is sized once for the largest header: a realloc
    /// would double it, and the ring keeps the spare capacity.
    #[test]
    fn patch_parts_fit_their_first_allocation() {
        let op = Op::Set(vec![Seg::Key("k".into())], Value::Int(1));
        let mut one = Vec::new();
        write_op(&mut one, &op);
        for room in [
            "",
            "r",
            &"x".repeat(40),
            &"y".repeat(300),
            &"z".repeat(70_000),
        ] {
            for seq in [0, 127, 128, 65_536, u64::MAX] {
                for count in [0usize, 1, 15, 16, 65_536] {
                    let ops = one.repeat(count);
                    let patch = encode_patch_parts(room, seq, count, &ops);
                    assert!(patch.len() <= 41 + room.len() + ops.len());
                    assert_eq!(patch.capacity(), 41 + room.len() + ops.len());
                }
            }
        }
    }

    #[test]
    fn a_patch_decodes_back() {
        let ops = vec![
            Op::Set(
                vec![Seg::Key("players".into()), Seg::Key("p1".into())],
                Value::Map(BTreeMap::from([
                    ("x".to_owned(), Value::Float(1.5)),
                    ("y".to_owned(), Value::Float(0.1)),
                    ("hp".to_owned(), Value::Int(-200)),
                    ("name".to_owned(), Value::Str("alice".into())),
                    ("raw".to_owned(), Value::Bytes(vec![1, 2, 3])),
                    ("ok".to_owned(), Value::Bool(true)),
                    ("none".to_owned(), Value::Null),
                ])),
            ),
            Op::Del(vec![Seg::Key("log".into()), Seg::Idx(70_000)]),
            Op::Push(
                vec![Seg::Key("log".into())],
                Value::List(vec![Value::Int(i64::MIN), Value::Int(300)]),
            ),
        ];
        let bytes = encode_patch("room-1", 42, &ops);
        let back = decode::<ServerMsg>(&bytes, Format::MsgPack).expect("decode patch");
        assert_eq!(
            back,
            ServerMsg::Patch {
                room: "room-1".into(),
                seq: 42,
                ops,
            }
        );
    }

    /// An arena tick: 8 moves (`players/<seat>` = `[x, y, score]`) and the
    /// tick counter; then the tick counter alone. Time per patch, ours and
    /// rmp-serde's:
    /// `cargo test --release -p plaza-protocol --lib mpack::tests::timing -- --ignored --nocapture`
    #[test]
    #[ignore = "timing, not a check"]
    fn timing() {
        use std::hint::black_box;
        use std::time::Instant;

        #[inline(never)]
        fn ours(room: &str, seq: u64, ops: &[Op]) -> Vec<u8> {
            encode_patch(room, seq, ops)
        }
        #[inline(never)]
        fn theirs(room: &str, seq: u64, ops: &[Op]) -> Vec<u8> {
            serde_patch(room, seq, ops)
        }

        let mut ops: Vec<Op> = (0..8)
            .map(|i| {
                Op::Set(
                    vec![Seg::Key("players".into()), Seg::Key(format!("Ab3dE{i:04}"))],
                    Value::List(vec![
                        Value::Float(f64::from(100.25f32 + i as f32)),
                        Value::Float(f64::from(713.5f32)),
                        Value::Int(1000 + i64::from(i)),
                    ]),
                )
            })
            .collect();
        ops.push(Op::Set(
            vec![Seg::Key("world".into()), Seg::Key("tick".into())],
            Value::Int(123_456),
        ));
        let tick_only = &ops[8..];
        let n = 200_000u32;
        for ops in [&ops[..], tick_only] {
            let mut size = 0;
            let t = Instant::now();
            for seq in 0..n {
                let bytes = ours(black_box("Xy7Qp2Lm9"), u64::from(seq), black_box(ops));
                size = black_box(bytes).len();
            }
            let a = t.elapsed() / n;
            let t = Instant::now();
            for seq in 0..n {
                black_box(theirs(
                    black_box("Xy7Qp2Lm9"),
                    u64::from(seq),
                    black_box(ops),
                ));
            }
            let b = t.elapsed() / n;
            println!(
                "{}-op patch ({size} bytes): mpack {a:?}, rmp-serde {b:?}",
                ops.len()
            );
        }
    }
}

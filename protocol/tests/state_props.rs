//! Property tests of the state document: for random documents and random
//! write sequences, the ops taken at each tick, sent through the wire in
//! both encodings and applied to a mirror, reproduce the document exactly;
//! refused writes change nothing; the maintained size and depth are exact;
//! values, ops and patches round-trip in MessagePack and JSON.

use std::collections::BTreeMap;

use plaza_protocol::state::{apply_all, DocLimits, Document, Op, Path, Seg, Value};
use plaza_protocol::{decode, encode, mpack, Format, PatchRef, ServerMsg};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-e]",
        1 => "[a-z_/]{0,40}",
        1 => "\\PC{0,6}".prop_filter("no reserved keys", |k| !k.starts_with('$')),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        // Quarter steps survive float32 narrowing (5-byte floats).
        (-4000i32..4000).prop_map(|i| f64::from(i) / 4.0),
        // Most of these do not (9-byte floats).
        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-200i64..70_000).prop_map(Value::Int),
        float().prop_map(Value::Float),
        "\\PC{0,8}".prop_map(Value::Str),
        "[a-z]{30,300}".prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Value::Bytes),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 18, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..18).prop_map(Value::List),
            prop::collection::btree_map(key(), inner, 0..18).prop_map(Value::Map),
        ]
    })
}

fn root() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), value(), 0..6).prop_map(Value::Map)
}

/// One random write, addressed by choices that walk the current tree (so
/// most writes hit existing paths, and some miss on purpose).
#[derive(Debug, Clone)]
enum Action {
    /// Set a child (map key, or list index up to `len + 1`) of the node at `at`.
    SetChild {
        at: Vec<u8>,
        key: String,
        index: u8,
        value: Value,
    },
    /// Replace the node at `at` (a map when `at` is the root).
    Replace { at: Vec<u8>, value: Value },
    /// Push onto the node at `at`, or set at its `len` when `via_set`.
    Append {
        at: Vec<u8>,
        value: Value,
        via_set: bool,
    },
    /// Delete the node at `at`.
    Delete { at: Vec<u8> },
    /// `set_creating` under the node at `at`, through new keys.
    Creating {
        at: Vec<u8>,
        keys: Vec<String>,
        value: Value,
    },
    /// Take the ops and sync the mirror.
    Take,
}

fn action() -> impl Strategy<Value = Action> {
    let at = || prop::collection::vec(any::<u8>(), 0..6);
    prop_oneof![
        4 => (at(), key(), any::<u8>(), value())
            .prop_map(|(at, key, index, value)| Action::SetChild { at, key, index, value }),
        2 => (at(), value()).prop_map(|(at, value)| Action::Replace { at, value }),
        2 => (at(), value(), any::<bool>())
            .prop_map(|(at, value, via_set)| Action::Append { at, value, via_set }),
        3 => at().prop_map(|at| Action::Delete { at }),
        1 => (at(), prop::collection::vec(key(), 1..3), value())
            .prop_map(|(at, keys, value)| Action::Creating { at, keys, value }),
        1 => Just(Action::Take),
    ]
}

/// Walks `choices` down the tree: a low choice stops, others pick a child.
fn pick(root: &Value, choices: &[u8]) -> Path {
    let mut path = Vec::new();
    let mut node = root;
    for &c in choices {
        if c < 40 {
            break;
        }
        let i = usize::from(c);
        let next = match node {
            Value::Map(map) if !map.is_empty() => map
                .iter()
                .nth(i % map.len())
                .map(|(k, v)| (Seg::Key(k.clone()), v)),
            Value::List(list) if !list.is_empty() => list
                .get(i % list.len())
                .map(|v| (Seg::Idx((i % list.len()) as u32), v)),
            _ => None,
        };
        match next {
            Some((seg, child)) => {
                path.push(seg);
                node = child;
            }
            None => break,
        }
    }
    path
}

/// The longest prefix of `path` naming a value that `want` accepts (or
/// `path` itself, for a write that must fail).
fn nearest(doc: &Document, mut path: Path, want: fn(&Value) -> bool) -> Path {
    let full = path.clone();
    loop {
        if doc.get(&path).is_some_and(want) {
            return path;
        }
        if path.pop().is_none() {
            return full;
        }
    }
}

fn len_at(doc: &Document, path: &[Seg]) -> usize {
    match doc.get(path) {
        Some(Value::List(l)) => l.len(),
        Some(Value::Map(m)) => m.len(),
        _ => 0,
    }
}

fn run(doc: &mut Document, action: &Action) -> Result<(), String> {
    let err = |e: plaza_protocol::state::DocError| e.to_string();
    match action {
        Action::SetChild {
            at,
            key,
            index,
            value,
        } => {
            let is_container = |v: &Value| matches!(v, Value::List(_) | Value::Map(_));
            let mut path = nearest(doc, pick(doc.root(), at), is_container);
            match doc.get(&path) {
                Some(Value::List(l)) => {
                    path.push(Seg::Idx(u32::from(*index) % (l.len() as u32 + 2)));
                }
                _ => path.push(Seg::Key(key.clone())),
            }
            doc.set(&path, value.clone()).map_err(err)
        }
        Action::Replace { at, value } => {
            let path = pick(doc.root(), at);
            let value = if path.is_empty() {
                Value::Map(BTreeMap::from([("r".to_owned(), value.clone())]))
            } else {
                value.clone()
            };
            doc.set(&path, value).map_err(err)
        }
        Action::Append { at, value, via_set } => {
            let mut path = nearest(doc, pick(doc.root(), at), |v| matches!(v, Value::List(_)));
            if *via_set {
                let len = len_at(doc, &path);
                path.push(Seg::Idx(len as u32));
                doc.set(&path, value.clone()).map_err(err)
            } else {
                doc.push(&path, value.clone()).map_err(err)
            }
        }
        Action::Delete { at } => {
            let path = pick(doc.root(), at);
            doc.delete(&path).map(drop).map_err(err)
        }
        Action::Creating { at, keys, value } => {
            let mut path = pick(doc.root(), at);
            path.extend(keys.iter().cloned().map(Seg::Key));
            doc.set_creating(&path, value.clone()).map_err(err)
        }
        Action::Take => Ok(()),
    }
}

fn height(v: &Value) -> usize {
    match v {
        Value::List(items) => items.iter().map(|c| 1 + height(c)).max().unwrap_or(0),
        Value::Map(map) => map.values().map(|c| 1 + height(c)).max().unwrap_or(0),
        _ => 0,
    }
}

/// No path is set twice within one segment (segments end at list deletes).
fn assert_compact(ops: &[Op]) {
    let mut seen: Vec<&Path> = Vec::new();
    for op in ops {
        match op {
            Op::Set(path, _) => {
                assert!(
                    !seen.contains(&path),
                    "path set twice without a shift between: {ops:?}"
                );
                seen.push(path);
            }
            Op::Del(path) if matches!(path.last(), Some(Seg::Idx(_))) => seen.clear(),
            _ => {}
        }
    }
}

/// Takes the ops, ships them through both encodings and applies each copy
/// to its mirror.
fn sync(doc: &mut Document, mirrors: &mut [Value; 2], seq: u64) {
    // The borrowed view gives the same ops, in the same order.
    // The borrowed view gives the same ops, in the same order, and the
    // patch written from it is the serde encoding's bytes.
    let mut twin = doc.clone();
    let mut viewed = Vec::new();
    let mut written = Vec::new();
    let count = twin.take_ops_with(|op| {
        viewed.push(op.to_op());
        mpack::write_op_ref(&mut written, op);
    });
    assert!(!twin.has_changes());
    let ops = doc.take_ops();
    assert!(!doc.has_changes());
    assert_eq!(viewed, ops, "take_ops_with differs from take_ops");
    assert_eq!(count, ops.len());
    assert_eq!(
        mpack::encode_patch_parts("r1", seq, count, &written),
        encode(&PatchRef::new("r1", seq, &ops), Format::MsgPack).expect("encode patch"),
        "hand-written patch differs from serde's"
    );
    assert_compact(&ops);
    for (mirror, format) in mirrors.iter_mut().zip([Format::MsgPack, Format::Json]) {
        let bytes = encode(&PatchRef::new("r1", seq, &ops), format).expect("encode patch");
        let ServerMsg::Patch {
            room,
            seq: got,
            ops: decoded,
        } = decode::<ServerMsg>(&bytes, format).expect("decode patch")
        else {
            panic!("not a patch");
        };
        assert_eq!((room.as_str(), got), ("r1", seq));
        assert_eq!(decoded, ops, "{format:?} changed the ops");
        apply_all(mirror, &decoded).expect("ops apply to the mirror");
        assert_eq!(
            &*mirror,
            doc.root(),
            "{format:?} mirror diverged; ops {ops:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mirrors_converge_after_every_take(
        start in root(),
        actions in prop::collection::vec(action(), 1..60),
    ) {
        let limits = DocLimits { max_bytes: 64 * 1024, max_depth: 6 };
        let Ok(mut doc) = Document::from_value(start.clone(), limits) else {
            // Too deep for the limit: nothing to test with this start.
            return Ok(());
        };
        let mut mirrors = [start.clone(), start];
        let mut seq = 0;
        for action in &actions {
            if let Action::Take = action {
                seq += 1;
                sync(&mut doc, &mut mirrors, seq);
                continue;
            }
            let before = doc.clone();
            let result = run(&mut doc, action);
            if result.is_err() {
                prop_assert_eq!(doc.root(), before.root(), "refused write changed the tree");
                prop_assert_eq!(doc.size_bytes(), before.size_bytes());
                prop_assert_eq!(doc.has_changes(), before.has_changes());
            }
            let encoded = encode(doc.root(), Format::MsgPack).expect("encode root");
            prop_assert_eq!(doc.size_bytes(), encoded.len(), "size drifted after {:?}", action);
            prop_assert_eq!(doc.depth(), height(doc.root()), "depth drifted after {:?}", action);
            prop_assert!(doc.size_bytes() <= limits.max_bytes);
            prop_assert!(doc.depth() <= limits.max_depth);
        }
        seq += 1;
        sync(&mut doc, &mut mirrors, seq);
    }

    #[test]
    fn values_round_trip(v in value()) {
        for format in [Format::MsgPack, Format::Json] {
            let bytes = encode(&v, format).expect("encode");
            let back: Value = decode(&bytes, format).expect("decode");
            prop_assert_eq!(&back, &v, "{:?}", format);
        }
    }

    #[test]
    fn ops_and_patches_round_trip(
        ops in prop::collection::vec(
            (0u8..3, prop::collection::vec(prop_oneof![key().prop_map(Seg::Key), any::<u32>().prop_map(Seg::Idx)], 0..4), value()),
            0..8,
        ),
        seq in any::<u64>(),
    ) {
        let ops: Vec<Op> = ops
            .into_iter()
            .map(|(code, path, v)| match code {
                0 => Op::Set(path, v),
                1 => Op::Del(path),
                _ => Op::Push(path, v),
            })
            .collect();
        let owned = ServerMsg::Patch { room: "room-1".into(), seq, ops: ops.clone() };
        for format in [Format::MsgPack, Format::Json] {
            for op in &ops {
                let bytes = encode(op, format).expect("encode op");
                prop_assert_eq!(&decode::<Op>(&bytes, format).expect("decode op"), op);
            }
            let bytes = encode(&owned, format).expect("encode patch");
            let by_ref = encode(&PatchRef::new("room-1", seq, &ops), format).expect("encode view");
            prop_assert_eq!(&bytes, &by_ref);
            prop_assert_eq!(&decode::<ServerMsg>(&bytes, format).expect("decode"), &owned);
        }
    }
}

/// Regression: serde_json without `float_roundtrip` parsed these 1 ULP off,
/// so a JSON mirror drifted from the document.
#[test]
fn json_floats_round_trip_exactly() {
    for f in [
        4.8712257254629276e138,
        1.3492730456128969e-34,
        3.05841892166707e275,
    ] {
        let v = Value::List(vec![Value::Float(f)]);
        let bytes = encode(&v, Format::Json).expect("encode");
        assert_eq!(decode::<Value>(&bytes, Format::Json).expect("decode"), v);
    }
}

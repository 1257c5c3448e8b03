//! The document API: writes, limits, errors, compaction of recorded ops and
//! the bookkeeping (size, depth) — each case checked against a mirror.

use std::collections::BTreeMap;

use plaza_protocol::path;
use plaza_protocol::state::{
    apply, apply_all, ApplyError, DocError, DocLimits, Document, Op, Seg, Value,
};
use plaza_protocol::{encode, Format};

/// Takes the pending ops, applies them to `mirror` and checks it matches.
fn sync(doc: &mut Document, mirror: &mut Value) -> Vec<Op> {
    let ops = doc.take_ops();
    apply_all(mirror, &ops).expect("ops apply to the mirror");
    assert_eq!(mirror, doc.root(), "mirror diverged after {ops:?}");
    assert!(!doc.has_changes());
    ops
}

fn encoded_size(v: &Value) -> usize {
    encode(v, Format::MsgPack).expect("encode").len()
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

#[test]
fn new_document_is_an_empty_map() {
    let doc = Document::new();
    assert_eq!(doc.root(), &Value::Map(BTreeMap::new()));
    assert_eq!(doc.size_bytes(), 1);
    assert_eq!(doc.depth(), 0);
    assert!(!doc.has_changes());
    assert_eq!(
        doc.limits(),
        DocLimits {
            max_bytes: 256 * 1024,
            max_depth: 16
        }
    );
}

#[test]
fn set_get_and_set_creating() {
    let mut doc = Document::new();
    let mut mirror = doc.root().clone();
    assert_eq!(
        doc.set(&path!["players", "abc"], 1.into()),
        Err(DocError::NotFound {
            path: path!["players"]
        })
    );
    doc.set_creating(&path!["players", "abc", "pos"], [1.5, 2.0, 3.0].into())
        .expect("set_creating");
    assert_eq!(
        doc.get(&path!["players", "abc", "pos", 1]),
        Some(&Value::Float(2.0))
    );
    assert_eq!(doc.get(&path!["players", "zzz"]), None);
    let ops = sync(&mut doc, &mut mirror);
    // One op creates the whole branch.
    assert_eq!(
        ops,
        vec![Op::Set(
            path!["players"],
            map(&[("abc", map(&[("pos", [1.5, 2.0, 3.0].into())]))])
        )]
    );
    // Existing parents: a plain set of the leaf.
    doc.set_creating(&path!["players", "abc", "hp"], 10.into())
        .expect("set_creating");
    assert_eq!(
        sync(&mut doc, &mut mirror),
        vec![Op::Set(path!["players", "abc", "hp"], 10.into())]
    );
    assert_eq!(doc.depth(), 4);
}

#[test]
fn set_creating_refuses_index_below_a_missing_map() {
    let mut doc = Document::new();
    assert_eq!(
        doc.set_creating(&path!["a", "b", 0, "c"], 1.into()),
        Err(DocError::NotAList {
            path: path!["a", "b"]
        })
    );
    assert_eq!(doc.root(), &Value::Map(BTreeMap::new()));
    assert!(!doc.has_changes());
}

#[test]
fn refused_writes_change_nothing() {
    let limits = DocLimits {
        max_bytes: 64,
        max_depth: 3,
    };
    let mut doc = Document::with_limits(limits);
    doc.set(&path!["list"], Value::List(vec![1.into()]))
        .expect("set");
    doc.set(&path!["n"], 1.into()).expect("set");
    // An empty map at the depth limit adds no depth.
    doc.set(&path!["a"], map(&[("b", map(&[("c", map(&[]))]))]))
        .expect("set");
    let before = doc.clone();
    let cases: Vec<(Result<(), DocError>, &str)> = vec![
        (doc.set(&path!["f"], f64::NAN.into()), "non_finite"),
        (
            doc.set(&path!["f"], [Value::Float(f64::INFINITY)].into()),
            "non_finite",
        ),
        (
            doc.push(&path!["list"], f64::NEG_INFINITY.into()),
            "non_finite",
        ),
        (doc.set(&path!["$bytes"], "x".into()), "reserved_key"),
        (
            doc.set(&path!["m"], map(&[("$x", 1.into())])),
            "reserved_key",
        ),
        (
            doc.set_creating(&path!["$a", "b"], 1.into()),
            "reserved_key",
        ),
        (
            doc.set(&path!["a", "b", "c"], map(&[("d", 1.into())])),
            "too_deep",
        ),
        (doc.set(&path!["s"], "x".repeat(80).into()), "too_large"),
        (doc.push(&path!["list"], "x".repeat(80).into()), "too_large"),
        (doc.set(&path!["n", "x"], 1.into()), "not_a_map"),
        (doc.set(&path!["n", 0], 1.into()), "not_a_list"),
        (doc.push(&path!["n"], 1.into()), "not_a_list"),
        (doc.set(&path!["list", 2], 1.into()), "index_out_of_range"),
        (doc.set(&path!["list", -1], 1.into()), "index_out_of_range"),
        (doc.set(&path!["nope", "x"], 1.into()), "not_found"),
        (doc.delete(&path![]).map(drop), "cannot_delete_root"),
        (doc.delete(&path!["n", "x"]).map(drop), "not_a_map"),
        (
            doc.set(&path![], Value::List(vec![Value::Float(f64::NAN)])),
            "non_finite",
        ),
    ];
    for (i, (result, code)) in cases.into_iter().enumerate() {
        let err = result.expect_err(&format!("case {i} must be refused"));
        assert_eq!(err.code(), code, "case {i}: {err}");
    }
    assert_eq!(doc.root(), before.root());
    assert_eq!(doc.size_bytes(), before.size_bytes());
    assert_eq!(doc.depth(), before.depth());
    // The pending changes are those of the accepted writes only.
    let mut mirror = Value::Map(BTreeMap::new());
    sync(&mut doc, &mut mirror);
}

#[test]
fn error_messages_name_the_path() {
    let mut doc = Document::new();
    let err = doc
        .set(&path!["a/b", "c"], 1.into())
        .expect_err("missing parent");
    assert_eq!(err.to_string(), r#"no value at ["a/b"]"#);
    let err = doc
        .set(&path!["k"], [1.0, f64::NAN].into())
        .expect_err("nan");
    assert_eq!(
        err.to_string(),
        r#"non-finite float in the value written at ["k"]"#
    );
}

#[test]
fn delete_returns_the_old_value_and_ignores_absent_paths() {
    let mut doc = Document::new();
    doc.set(&path!["a"], [1, 2].into()).expect("set");
    let mut mirror = doc.root().clone();
    doc.take_ops();
    assert_eq!(doc.delete(&path!["missing"]), Ok(None));
    assert_eq!(doc.delete(&path!["missing", "deeper"]), Ok(None));
    assert_eq!(doc.delete(&path!["a", 5]), Ok(None));
    assert!(!doc.has_changes());
    assert_eq!(doc.delete(&path!["a", 0]), Ok(Some(Value::Int(1))));
    assert_eq!(
        doc.delete(&path!["a"]),
        Ok(Some(Value::List(vec![2.into()])))
    );
    assert_eq!(
        sync(&mut doc, &mut mirror),
        vec![Op::Del(path!["a", 0]), Op::Del(path!["a"])]
    );
}

#[test]
fn last_write_per_path_wins() {
    let mut doc = Document::new();
    doc.set(&path!["players"], map(&[])).expect("set");
    let mut mirror = doc.root().clone();
    doc.take_ops();
    for i in 0..10 {
        doc.set(&path!["players", "abc"], [f64::from(i), 0.0, 1.0].into())
            .expect("set");
        doc.set(&path!["tick"], i.into()).expect("set");
    }
    assert_eq!(
        sync(&mut doc, &mut mirror),
        vec![
            Op::Set(path!["players", "abc"], [9.0, 0.0, 1.0].into()),
            Op::Set(path!["tick"], 9.into()),
        ]
    );
}

#[test]
fn a_write_drops_the_ops_of_its_subtree() {
    let mut doc = Document::new();
    doc.set(&path!["a"], map(&[("x", 1.into()), ("l", [1, 2].into())]))
        .expect("set");
    let mut mirror = doc.root().clone();
    doc.take_ops();
    doc.set(&path!["a", "x"], 2.into()).expect("set");
    doc.push(&path!["a", "l"], 3.into()).expect("push");
    doc.set(&path!["a", "l", 0], 0.into()).expect("set");
    doc.set(&path!["a"], map(&[("y", 5.into())])).expect("set");
    assert_eq!(
        sync(&mut doc, &mut mirror),
        vec![Op::Set(path!["a"], map(&[("y", 5.into())]))]
    );
    doc.set(&path!["a", "y"], 6.into()).expect("set");
    assert_eq!(doc.delete(&path!["a"]), Ok(Some(map(&[("y", 6.into())]))));
    assert_eq!(sync(&mut doc, &mut mirror), vec![Op::Del(path!["a"])]);
}

#[test]
fn create_then_delete_sends_nothing() {
    let mut doc = Document::new();
    let mut mirror = doc.root().clone();
    doc.set(&path!["tmp"], 1.into()).expect("set");
    doc.set(&path!["tmp"], 2.into()).expect("set");
    doc.delete(&path!["tmp"]).expect("delete");
    assert!(
        doc.has_changes(),
        "cancelled changes still count until the take"
    );
    assert_eq!(sync(&mut doc, &mut mirror), vec![]);
    // But delete then re-create then delete of an existing key is one delete.
    doc.set(&path!["k"], 1.into()).expect("set");
    sync(&mut doc, &mut mirror);
    doc.delete(&path!["k"]).expect("delete");
    doc.set(&path!["k"], 2.into()).expect("set");
    doc.delete(&path!["k"]).expect("delete");
    assert_eq!(sync(&mut doc, &mut mirror), vec![Op::Del(path!["k"])]);
}

#[test]
fn pushes_keep_order_and_carry_later_element_writes() {
    let mut doc = Document::new();
    doc.set(&path!["log"], Value::List(vec![])).expect("set");
    let mut mirror = doc.root().clone();
    doc.take_ops();
    doc.push(&path!["log"], "a".into()).expect("push");
    doc.set(&path!["log", 1], "b".into())
        .expect("append via set");
    doc.set(&path!["log", 0], "A".into())
        .expect("set pushed element");
    doc.push(&path!["log"], "c".into()).expect("push");
    assert_eq!(
        sync(&mut doc, &mut mirror),
        vec![
            Op::Push(path!["log"], "A".into()),
            Op::Push(path!["log"], "b".into()),
            Op::Push(path!["log"], "c".into()),
        ]
    );
}

#[test]
fn list_deletes_never_merge_across_shifted_indices() {
    let mut doc = Document::new();
    doc.set(&path!["l"], [0, 1, 2, 3].into()).expect("set");
    let mut mirror = doc.root().clone();
    doc.take_ops();
    // Element 3 is written, then element 0 removed: the write must reach the
    // mirror before the shift, under its old index.
    doc.set(&path!["l", 3], 30.into()).expect("set");
    doc.delete(&path!["l", 0]).expect("delete");
    doc.set(&path!["l", 2], 300.into())
        .expect("set the same element again");
    assert_eq!(doc.root(), &map(&[("l", [1, 2, 300].into())]));
    assert_eq!(
        sync(&mut doc, &mut mirror),
        vec![
            Op::Set(path!["l", 3], 30.into()),
            Op::Del(path!["l", 0]),
            Op::Set(path!["l", 2], 300.into()),
        ]
    );
    // A chat log: push then drop the oldest, twice.
    for msg in ["x", "y"] {
        doc.push(&path!["l"], msg.into()).expect("push");
        doc.delete(&path!["l", 0]).expect("delete");
    }
    let ops = sync(&mut doc, &mut mirror);
    assert_eq!(ops.len(), 4, "{ops:?}");
    // Deleting an element pushed in the same take is absorbed.
    doc.push(&path!["l"], "z".into()).expect("push");
    doc.delete(&path!["l", 3]).expect("delete");
    assert_eq!(sync(&mut doc, &mut mirror), vec![]);
}

#[test]
fn root_replacement() {
    let mut doc = Document::new();
    let mut mirror = doc.root().clone();
    doc.set(&path!["a"], 1.into()).expect("set");
    doc.set(&path![], [1, 2].into()).expect("set root");
    doc.push(&path![], 3.into()).expect("push to root list");
    assert_eq!(
        sync(&mut doc, &mut mirror),
        vec![Op::Set(path![], [1, 2, 3].into())]
    );
    assert_eq!(doc.depth(), 1);
    assert_eq!(doc.size_bytes(), encoded_size(doc.root()));
}

#[test]
fn size_and_depth_follow_every_write() {
    let mut doc = Document::new();
    let check = |doc: &Document| {
        assert_eq!(
            doc.size_bytes(),
            encoded_size(doc.root()),
            "{:?}",
            doc.root()
        );
    };
    for i in 0..20 {
        doc.set(&path![format!("key{i}")], (i64::from(i) * 1_000_003).into())
            .expect("set");
        check(&doc);
    }
    doc.set(&path!["s"], "y".repeat(300).into()).expect("set");
    check(&doc);
    doc.set(&path!["b"], Value::Bytes(vec![7; 300]))
        .expect("set");
    check(&doc);
    doc.set(&path!["f"], 0.1.into()).expect("set");
    check(&doc);
    doc.set(&path!["f"], 0.5.into()).expect("set");
    check(&doc);
    doc.set(&path!["deep"], map(&[("a", map(&[("b", [[1]].into())]))]))
        .expect("set");
    check(&doc);
    assert_eq!(doc.depth(), 5);
    doc.set(&path!["deep", "a"], 1.into()).expect("set");
    assert_eq!(doc.depth(), 2);
    for i in 0..20 {
        doc.delete(&path![format!("key{i}")]).expect("delete");
        check(&doc);
    }
    doc.delete(&path!["deep"]).expect("delete");
    assert_eq!(doc.depth(), 1);
}

#[test]
fn from_value_checks_limits() {
    let root = map(&[("a", [1, 2].into())]);
    let doc = Document::from_value(root.clone(), DocLimits::default()).expect("valid");
    assert_eq!(doc.root(), &root);
    assert_eq!(doc.size_bytes(), encoded_size(&root));
    assert_eq!(doc.depth(), 2);
    assert!(!doc.has_changes());
    let tight = DocLimits {
        max_bytes: 1024,
        max_depth: 1,
    };
    assert_eq!(
        Document::from_value(root, tight).map(drop),
        Err(DocError::TooDeep { depth: 2, max: 1 })
    );
}

#[test]
fn apply_reports_ops_that_do_not_fit() {
    let mut root = map(&[("l", [1].into()), ("n", 1.into())]);
    let before = root.clone();
    let cases = [
        (
            Op::Del(path!["missing"]),
            ApplyError::NotFound {
                path: path!["missing"],
            },
        ),
        (Op::Del(path![]), ApplyError::CannotDeleteRoot),
        (
            Op::Set(path!["n", "x"], 1.into()),
            ApplyError::NotAMap { path: path!["n"] },
        ),
        (
            Op::Push(path!["n"], 1.into()),
            ApplyError::NotAList { path: path!["n"] },
        ),
        (
            Op::Set(path!["l", "x"], 1.into()),
            ApplyError::NotAMap { path: path!["l"] },
        ),
        (
            Op::Set(path!["l", 3], 1.into()),
            ApplyError::IndexOutOfRange {
                path: path!["l"],
                index: 3,
                len: 1,
            },
        ),
        (
            Op::Del(path!["l", 1]),
            ApplyError::IndexOutOfRange {
                path: path!["l"],
                index: 1,
                len: 1,
            },
        ),
        (
            Op::Set(path!["x", "y"], 1.into()),
            ApplyError::NotFound { path: path!["x"] },
        ),
    ];
    for (op, expected) in cases {
        assert_eq!(apply(&mut root, &op), Err(expected), "{op:?}");
        assert_eq!(root, before, "a failed op must not change the tree");
    }
    apply(&mut root, &Op::Set(path!["l", 1], 2.into())).expect("append via set");
    apply(&mut root, &Op::Push(path!["l"], 3.into())).expect("push");
    apply(&mut root, &Op::Del(path!["l", 0])).expect("delete");
    assert_eq!(root, map(&[("l", [2, 3].into()), ("n", 1.into())]));
}

#[test]
fn path_macro_builds_segments() {
    let sid = String::from("abc");
    let i: usize = 7;
    assert_eq!(
        path!["players", &sid, 3, i],
        vec![
            Seg::Key("players".into()),
            Seg::Key("abc".into()),
            Seg::Idx(3),
            Seg::Idx(7)
        ]
    );
    assert_eq!(path![-1], vec![Seg::Idx(u32::MAX)]);
    assert_eq!(path![sid], vec![Seg::Key("abc".into())]);
}

#[test]
fn value_constructors() {
    assert_eq!(Value::from(1.5), Value::Float(1.5));
    assert_eq!(Value::from(3), Value::Int(3));
    assert_eq!(Value::from(true), Value::Bool(true));
    assert_eq!(Value::from("s"), Value::Str("s".into()));
    assert_eq!(Value::from(None::<i64>), Value::Null);
    assert_eq!(
        Value::from(vec![Value::Null]),
        Value::List(vec![Value::Null])
    );
    assert_eq!(
        Value::from([1.5f32, 2.0]),
        Value::List(vec![1.5.into(), 2.0.into()])
    );
    assert_eq!(Value::from(3).as_f64(), Some(3.0));
    assert_eq!(Value::from("s").as_str(), Some("s"));
}

#[test]
fn arena_tick_is_one_op_per_changed_player() {
    let mut doc = Document::new();
    doc.set(&path!["players"], map(&[])).expect("set");
    let ids: Vec<String> = (0..16).map(|i| format!("p{i:08}")).collect();
    for id in &ids {
        doc.set(&path!["players", id], [0.0, 0.0, 0.0].into())
            .expect("set");
    }
    let mut mirror = Value::Map(BTreeMap::new());
    sync(&mut doc, &mut mirror);
    for round in 0..3 {
        for id in ids.iter().take(8) {
            doc.set(&path!["players", id], [1.5, f64::from(round), 0.25].into())
                .expect("set");
        }
        doc.set(&path!["tick"], round.into()).expect("set");
        assert_eq!(sync(&mut doc, &mut mirror).len(), 9);
    }
}

/// The worked example of `protocol/README.md` §5.6: the bytes printed there
/// are the bytes the codec writes, and they decode and apply as described.
#[test]
fn spec_worked_example_matches_the_codec() {
    let readme = include_str!("../README.md");
    let start = readme.find("`84 a1 74").expect("hex line in README §5.6") + 1;
    let len = readme[start..].find('`').expect("closing backtick");
    let hex: String = readme[start..start + len].split_whitespace().collect();
    let spec_bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex byte"))
        .collect::<Vec<u8>>();

    let ops = vec![Op::Set(
        path!["players", "abc"],
        [1.5.into(), 2.0.into(), Value::Int(3)].into(),
    )];
    let msg = plaza_protocol::ServerMsg::Patch {
        room: "r1".into(),
        seq: 1,
        ops,
    };
    let bytes = encode(&msg, Format::MsgPack).expect("encode");
    assert_eq!(bytes, spec_bytes);
    assert_eq!(bytes.len(), 54);
    let json = encode(&msg, Format::Json).expect("encode");
    assert_eq!(
        std::str::from_utf8(&json).expect("utf-8"),
        r#"{"t":"patch","room":"r1","seq":1,"ops":[[0,["players","abc"],[1.5,2.0,3]]]}"#
    );

    let decoded: plaza_protocol::ServerMsg =
        plaza_protocol::decode(&spec_bytes, Format::MsgPack).expect("decode");
    let plaza_protocol::ServerMsg::Patch { ops, .. } = decoded else {
        panic!("not a patch");
    };
    let mut mirror = map(&[("players", map(&[]))]);
    apply_all(&mut mirror, &ops).expect("apply");
    assert_eq!(
        mirror,
        map(&[(
            "players",
            map(&[(
                "abc",
                [Value::Float(1.5), Value::Float(2.0), Value::Int(3)].into()
            )])
        )])
    );
}

#[test]
fn apply_op_goes_through_the_checks() {
    let mut doc = Document::new();
    let mut mirror = doc.root().clone();
    doc.apply_op(Op::Set(path!["l"], Value::List(vec![])))
        .expect("set");
    doc.apply_op(Op::Push(path!["l"], 1.into())).expect("push");
    doc.apply_op(Op::Del(path!["nothing"]))
        .expect("deleting nothing is fine");
    assert_eq!(
        doc.apply_op(Op::Set(path!["$k"], 1.into()))
            .map_err(|e| e.code()),
        Err("reserved_key")
    );
    assert_eq!(
        doc.apply_op(Op::Push(path!["l"], f64::NAN.into()))
            .map_err(|e| e.code()),
        Err("non_finite")
    );
    assert_eq!(
        sync(&mut doc, &mut mirror),
        vec![Op::Set(path!["l"], [1].into())]
    );
}

//! Ops decoded from arbitrary bytes (first byte picks the format), then:
//! applied to a mirror with `apply_all`, and fed to a `Document` through its
//! API. Errors only, never a panic; and the document's own invariants must
//! hold: its taken ops rebuild it on a mirror, its size is its encoded size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_protocol::state::{apply, apply_all, DocLimits, Document, Op, Value};
use plaza_protocol::{decode, encode, Format};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        Format::MsgPack
    } else {
        Format::Json
    };
    let Ok(ops) = decode::<Vec<Op>>(rest, format) else {
        return;
    };

    // A client mirror: any op may fail, none may panic.
    let mut mirror = Value::Map(Default::default());
    let _ = apply_all(&mut mirror, &ops);

    // The server document, with small limits so they get hit.
    let limits = DocLimits {
        max_bytes: 4096,
        max_depth: 8,
    };
    let mut doc = Document::with_limits(limits);
    let mut shadow = doc.root().clone();
    for (i, op) in ops.into_iter().enumerate() {
        let _ = doc.apply_op(op);
        let size = encode(doc.root(), Format::MsgPack).map(|b| b.len());
        assert_eq!(size.ok(), Some(doc.size_bytes()), "size drifted");
        assert!(doc.size_bytes() <= limits.max_bytes && doc.depth() <= limits.max_depth);
        if i % 3 == 2 {
            for op in doc.take_ops() {
                assert_eq!(apply(&mut shadow, &op), Ok(()), "taken op does not apply");
            }
            assert_eq!(&shadow, doc.root(), "mirror diverged");
        }
    }
    for op in doc.take_ops() {
        assert_eq!(apply(&mut shadow, &op), Ok(()), "taken op does not apply");
    }
    assert_eq!(&shadow, doc.root(), "mirror diverged");
});

//! Instruction-count probe for the server's per-frame hot path, meant to run
//! under `valgrind --tool=callgrind` (instruction counts are repeatable on a
//! shared, noisy machine where wall-clock timings are not).
//!
//! `cargo bench --bench hotpath --no-run`, then
//! `valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p <bin> <case> <n>`
//! for `n = 0` and `n = 100000`: the difference divided by `n` is the cost of
//! one frame. Without arguments every case runs once as a smoke check.
//!
//! Cases mirror the arena scenario (`../shared/bench/arena.md`): the move and
//! ping `msg` frames a client sends, decoded the old way (serde through its
//! `Content` buffer) and through `decode_client`; the 16-player patch a room
//! encodes once per tick.

use std::collections::BTreeMap;
use std::hint::black_box;

use plaza_protocol::codec::decode_client;
use plaza_protocol::state::{Op, Seg, Value};
use plaza_protocol::{decode, encode, ClientMsg, Format, PatchRef};

fn move_frame() -> Vec<u8> {
    let msg = ClientMsg::Msg {
        room: "r-8f3a2c".into(),
        kind: "move".into(),
        data: Value::Map(BTreeMap::from([
            ("x".to_owned(), Value::Float(12.345_678)),
            ("y".to_owned(), Value::Float(-3.25)),
        ])),
    };
    encode(&msg, Format::MsgPack).expect("encode move")
}

fn ping_frame() -> Vec<u8> {
    let msg = ClientMsg::Msg {
        room: "r-8f3a2c".into(),
        kind: "ping".into(),
        data: Value::Float(1_764_676_800_123.0),
    };
    encode(&msg, Format::MsgPack).expect("encode ping")
}

fn patch_ops() -> Vec<Op> {
    (0..16)
        .map(|i| {
            Op::Set(
                vec![Seg::Key("players".into()), Seg::Key(format!("p{i}"))],
                Value::Map(BTreeMap::from([
                    ("x".to_owned(), Value::Float(f64::from(i) * 1.5)),
                    ("y".to_owned(), Value::Float(f64::from(i) * -0.75)),
                ])),
            )
        })
        .collect()
}

fn run(case: &str, n: u64) -> Result<(), String> {
    let moves = move_frame();
    let pings = ping_frame();
    let ops = patch_ops();
    for _ in 0..n {
        match case {
            "decode-serde" => {
                black_box(decode::<ClientMsg>(black_box(&moves), Format::MsgPack).ok());
                black_box(decode::<ClientMsg>(black_box(&pings), Format::MsgPack).ok());
            }
            "decode-fast" => {
                black_box(decode_client(black_box(&moves), Format::MsgPack).ok());
                black_box(decode_client(black_box(&pings), Format::MsgPack).ok());
            }
            "patch-encode" => {
                let patch = PatchRef::new("r-8f3a2c", black_box(42), &ops);
                black_box(encode(&patch, Format::MsgPack).ok());
            }
            other => return Err(format!("unknown case {other}")),
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; treat that (or nothing) as a smoke run.
    let explicit = args.first().filter(|a| !a.starts_with('-'));
    let result = match explicit {
        Some(case) => {
            let n = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
            run(case, n)
        }
        None => ["decode-serde", "decode-fast", "patch-encode"]
            .iter()
            .try_for_each(|c| run(c, 1)),
    };
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(2);
    }
}

//! The arena room's hot path (`../shared/bench/arena.md`): a 16-player
//! document, 8 player updates (`players/<9-char id>` = `[x, y, score]`, x/y
//! float32) plus `world/tick` per take, then the patch encoded once in
//! MessagePack. Prints the patch size; criterion reports time per iteration.
//!
//! Run: `cargo bench -p plaza-protocol --bench state`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use plaza_protocol::path;
use plaza_protocol::state::{Document, Value};
use plaza_protocol::{encode, Format, PatchRef};

const PLAYERS: usize = 16;
const MOVES_PER_TAKE: usize = 8;

fn player_ids() -> Vec<String> {
    (0..PLAYERS).map(|i| format!("s{i:08}")).collect()
}

/// `[x, y, score]` with x/y stored as float32, as the arena does.
fn player(x: f32, y: f32, score: u32) -> Value {
    Value::List(vec![x.into(), y.into(), score.into()])
}

fn arena(ids: &[String]) -> Document {
    let mut doc = Document::new();
    doc.set(&path!["players"], Value::Map(Default::default()))
        .expect("players");
    doc.set_creating(&path!["world", "tick"], 0.into())
        .expect("tick");
    doc.set(&path!["world", "playerCount"], (PLAYERS as i64).into())
        .expect("count");
    doc.set(&path!["world", "mapName"], "arena-1000x1000".into())
        .expect("map");
    for (i, id) in ids.iter().enumerate() {
        let (x, y) = (
            50.0 + (i % 4) as f32 * 300.0,
            50.0 + ((i / 4 * 300) % 1000) as f32,
        );
        doc.set(&path!["players", id], player(x, y, 0))
            .expect("player");
    }
    doc.take_ops();
    doc
}

/// One tick's writes: 8 moved players and the tick counter.
fn tick(doc: &mut Document, ids: &[String], t: u32) {
    for k in 0..MOVES_PER_TAKE {
        let i = (t as usize * MOVES_PER_TAKE + k) % PLAYERS;
        let x = (t as f32 * 0.37 + k as f32 * 13.1) % 1000.0;
        let y = (t as f32 * 0.73 + k as f32 * 7.9) % 1000.0;
        doc.set(&path!["players", &ids[i]], player(x, y, t))
            .expect("move");
    }
    doc.set(&path!["world", "tick"], t.into()).expect("tick");
}

fn take_and_encode(doc: &mut Document, seq: u64) -> Vec<u8> {
    let ops = doc.take_ops();
    encode(&PatchRef::new("r1", seq, &ops), Format::MsgPack).expect("encode")
}

fn bench(c: &mut Criterion) {
    let ids = player_ids();
    let mut doc = arena(&ids);
    tick(&mut doc, &ids, 1);
    let patch = take_and_encode(&mut doc, 1);
    println!(
        "arena patch: {} bytes ({} players moved + tick), document {} bytes",
        patch.len(),
        MOVES_PER_TAKE,
        doc.size_bytes()
    );

    let mut t = 1u32;
    c.bench_function("arena: 8 moves + tick, take, encode", |b| {
        b.iter(|| {
            t = t.wrapping_add(1);
            tick(&mut doc, &ids, t);
            black_box(take_and_encode(&mut doc, u64::from(t)))
        })
    });

    c.bench_function("arena: take + encode only", |b| {
        b.iter_batched_ref(
            || {
                let mut doc = arena(&ids);
                tick(&mut doc, &ids, 7);
                doc
            },
            |doc| black_box(take_and_encode(doc, 7)),
            BatchSize::SmallInput,
        )
    });

    let mut n = 0u32;
    c.bench_function("arena: one move (set players/<id>)", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let id = &ids[n as usize % PLAYERS];
            doc.set(&path!["players", id], player(n as f32, 1.5, n))
                .expect("move");
            // Keep the pending record from growing across iterations.
            if n % 64 == 0 {
                black_box(doc.take_ops());
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

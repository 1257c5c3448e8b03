//! The arena workload in-process, through the gateway seam: N clients in
//! 16-seat arena rooms, each sending `move` at 10 Hz and `ping` at 1 Hz; one
//! observer per room mirrors its patches. Asserts that every move was
//! applied (mirror score == moves sent, positions clamped) and that patches
//! kept flowing at ~20 Hz, and prints the process CPU it took.
//!
//! Small by default (CI, debug build). The benchmark size:
//! `PLAZA_LOAD_CLIENTS=3000 PLAZA_LOAD_SECS=10 cargo test --release --test rooms_load -- --nocapture`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use plaza::auth::{AuthMethod, ChainKind, Identity, SceneMetadata};
use plaza::events::EventSink;
use plaza::outbox::{Outbox, Outgoing, OUTBOX_CAPACITY};
use plaza::room::{ClientRef, RoomManager, RoomsConfig};
use plaza_protocol::state::{apply_all, Value};
use plaza_protocol::{decode, ClientMsg, Format, ServerMsg};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of this process, seconds (Linux `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat; after the `)` they are at 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn decode_out(item: Outgoing) -> Option<ServerMsg> {
    match item {
        Outgoing::Msg(m) => Some(*m),
        Outgoing::Shared(enc) => decode(&enc.bytes(Format::MsgPack), Format::MsgPack).ok(),
        Outgoing::Close { .. } => None,
    }
}

struct Observed {
    patches: u64,
    state: Value,
    errors: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arena_workload_applies_every_move() {
    let n = env_or("PLAZA_LOAD_CLIENTS", 96) as usize;
    let secs = env_or("PLAZA_LOAD_SECS", 1);
    let (events, _event_rx) = EventSink::channel();
    let mgr = RoomManager::new(&RoomsConfig::default(), events);
    let rss0 = rss_kib();

    // Join phase: sequential, each waits for its `joined`.
    let join_start = std::time::Instant::now();
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let (outbox, mut rx) = Outbox::channel(OUTBOX_CAPACITY);
        let identity = Identity {
            address: format!("0x{i:040x}"),
            chain: ChainKind::Ephemeral,
            metadata: plaza::auth::Metadata::empty(),
            scene: SceneMetadata::default(),
            method: AuthMethod::FirstFrame,
            verified_at_ms: 0,
        };
        let client = ClientRef {
            session_id: Arc::from(format!("s{i}")),
            identity: Arc::new(identity),
            outbox,
        };
        let msg = ClientMsg::JoinOrCreate {
            rid: i as u32,
            kind: "arena".into(),
            filter: BTreeMap::new(),
            options: BTreeMap::new(),
        };
        mgr.dispatch(&client, msg).await;
        let (room, seat, seq, state) = loop {
            let item = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("joined in time");
            if let Some(ServerMsg::Joined {
                room,
                seat,
                seq,
                state,
                ..
            }) = item.and_then(decode_out)
            {
                break (room, seat, seq, state);
            }
        };
        clients.push((client, rx, room, seat, seq, state));
    }
    let join_secs = join_start.elapsed().as_secs_f64();
    assert_eq!(mgr.room_count(), n.div_ceil(16));

    // Readers: the first client of each room mirrors; the others drain.
    let mut observer_of: HashMap<String, usize> = HashMap::new();
    let mut readers = Vec::new();
    let mut counters: Vec<Arc<AtomicU64>> = Vec::new();
    let mut senders = Vec::new();
    for (i, (client, mut rx, room, seat, seq, state)) in clients.into_iter().enumerate() {
        let observe = !observer_of.contains_key(&room);
        if observe {
            observer_of.insert(room.clone(), i);
        }
        let counter = Arc::new(AtomicU64::new(0));
        if observe {
            counters.push(Arc::clone(&counter));
        }
        readers.push(tokio::spawn(async move {
            let mut o = Observed {
                patches: 0,
                state,
                errors: 0,
            };
            let mut seq = seq;
            while let Some(item) = rx.recv().await {
                if !observe {
                    if let Outgoing::Msg(m) = &item {
                        if matches!(**m, ServerMsg::Error { .. }) {
                            o.errors += 1;
                        }
                    }
                    continue;
                }
                match decode_out(item) {
                    Some(ServerMsg::Patch { seq: s, ops, .. }) => {
                        assert_eq!(s, seq + 1, "consecutive seqs");
                        seq = s;
                        apply_all(&mut o.state, &ops).expect("patch applies");
                        o.patches += 1;
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(ServerMsg::Snapshot { seq: s, state, .. }) => {
                        seq = s;
                        o.state = state;
                    }
                    Some(ServerMsg::Error { .. }) => o.errors += 1,
                    _ => {}
                }
            }
            o
        }));
        senders.push((client, room, seat));
    }

    // Send phase: every 10 ms a tenth of the clients move; pings at 1 Hz.
    let cpu0 = cpu_seconds();
    let patches0: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let start = tokio::time::Instant::now();
    let mut moves = vec![0i64; senders.len()];
    let mut sent = 0u64;
    let mut slot = 0usize;
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    while start.elapsed() < Duration::from_secs(secs) {
        ticker.tick().await;
        for (i, (client, room, _)) in senders.iter().enumerate().filter(|(i, _)| i % 10 == slot) {
            let k = moves[i] as f64;
            let data = Value::Map(BTreeMap::from([
                ("x".to_owned(), Value::Float((k * 37.0) % 1100.0 - 50.0)),
                ("y".to_owned(), Value::Float((k * 53.0) % 1100.0 - 50.0)),
            ]));
            mgr.dispatch(
                client,
                ClientMsg::Msg {
                    room: room.clone(),
                    kind: "move".into(),
                    data,
                },
            )
            .await;
            moves[i] += 1;
            sent += 1;
            if moves[i] % 10 == 0 {
                let ping = ClientMsg::Msg {
                    room: room.clone(),
                    kind: "ping".into(),
                    data: Value::Float(k),
                };
                mgr.dispatch(client, ping).await;
            }
        }
        slot = (slot + 1) % 10;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let window: Vec<u64> = counters
        .iter()
        .zip(&patches0)
        .map(|(c, p0)| c.load(Ordering::Relaxed) - p0)
        .collect();
    let min_patches = window.iter().copied().min().unwrap_or(0);
    let avg_hz = window.iter().sum::<u64>() as f64 / window.len().max(1) as f64 / wall;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss1 = rss_kib();

    // Close everything so the readers finish, then check the mirrors.
    mgr.shutdown().await;
    let seats: Vec<(String, String)> = senders
        .iter()
        .map(|(_, r, s)| (r.clone(), s.clone()))
        .collect();
    drop(senders);
    let mut observed = Vec::new();
    for r in readers {
        observed.push(r.await.expect("reader"));
    }
    let errors: u64 = observed.iter().map(|o| o.errors).sum();
    assert_eq!(
        errors, 0,
        "no errors (busy, rate limit) under the arena workload"
    );
    for (room, &obs) in &observer_of {
        let o = &observed[obs];
        let players = o.state.as_map().expect("root")["players"]
            .as_map()
            .expect("players");
        for (i, (r, seat)) in seats.iter().enumerate() {
            if r == room {
                let p = players[seat].as_list().expect("player");
                assert_eq!(
                    p[2],
                    Value::Int(moves[i]),
                    "every move of client {i} applied"
                );
                let x = p[0].as_f64().expect("x");
                assert!((0.0..=1000.0).contains(&x), "clamped");
            }
        }
    }
    let hz = min_patches as f64 / wall;
    println!(
        "arena load: {n} clients, {} rooms, join {:.0}/s; {:.0} moves/s for {wall:.1} s; \
         process CPU {:.1}% of one core ({:.2} cpu-s per 1000 client-s); patches/s per room in the window: avg {avg_hz:.1}, min {hz:.1}; \
         RSS +{} KiB ({:.1} KiB/client)",
        observer_of.len(),
        n as f64 / join_secs,
        sent as f64 / wall,
        100.0 * cpu / wall,
        cpu / (n as f64 * wall / 1000.0),
        rss1.saturating_sub(rss0),
        rss1.saturating_sub(rss0) as f64 / n as f64,
    );
    assert!(
        avg_hz > 15.0,
        "patches kept flowing at ~20 Hz: avg {avg_hz:.1}, min {hz:.1}"
    );
}

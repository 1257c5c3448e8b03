//! The load tool against a small in-process server that speaks Plaza's
//! protocol for the arena (challenge → auth/ticket/answer → welcome →
//! joinOrCreate → joined → moves, pings, 20 Hz patches) and really verifies
//! every signature with `plaza_protocol::auth`. It lets the tool be tested
//! end to end before (and independently of) the real gateway; faults can be
//! switched on to check that the tool detects them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, post};
use axum::{Json, Router};
use bytes::Bytes;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use plaza_loadtest::cli::{Cli, Scenario};
use plaza_loadtest::scenario::{arena, idle, storm};
use plaza_protocol::auth::{
    signed_fetch_payload, verify_chain, ContractMode, Policy, VerifyOptions,
};
use plaza_protocol::state::{Op, Seg, Value};
use plaza_protocol::{decode, encode, ClientMsg, Format, Limits, PatchRef, ServerMsg};
use tokio::sync::mpsc;

const K: usize = 16;

#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    /// Store positions without clamping them to the world.
    no_clamp: bool,
    /// Refuse every handshake with `auth_invalid`.
    refuse_auth: bool,
}

struct Room {
    id: String,
    players: BTreeMap<String, [f64; 3]>,
    dirty: BTreeSet<String>,
    tick: i64,
    seq: u64,
    members: Vec<(String, mpsc::Sender<Bytes>)>,
}

struct Fake {
    faults: Faults,
    rooms: Mutex<Vec<Room>>,
    tickets: Mutex<HashMap<String, String>>,
    next_id: AtomicU64,
}

impl Fake {
    fn id(&self, prefix: char) -> String {
        format!(
            "{prefix}{:08}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }
}

fn now_ms() -> u64 {
    plaza_loadtest::creds::unix_ms()
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

/// Verifies an `x-identity-*` header set signed for `method path`; returns
/// the lower-case wallet address.
fn verify_headers(
    method: &str,
    path: &str,
    get: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let ts = get("x-identity-timestamp").ok_or("no timestamp")?;
    let meta = get("x-identity-metadata").ok_or("no metadata")?;
    let links: Vec<serde_json::Value> = (0..)
        .map_while(|i| get(&format!("x-identity-auth-chain-{i}")))
        .map(|v| serde_json::from_str(&v).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let payload = signed_fetch_payload(method, path, &ts, &meta);
    verify_chain_value(&serde_json::Value::Array(links), &payload)
}

fn verify_chain_value(chain: &serde_json::Value, payload: &str) -> Result<String, String> {
    let opts = VerifyOptions {
        policy: Policy::Strict,
        now_ms: now_ms(),
        contracts: ContractMode::Refuse,
    };
    verify_chain(chain, payload, &opts, None).map_err(|e| e.to_string())?;
    Ok(chain[0]["payload"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase())
}

fn state_of(room: &Room) -> Value {
    let players = room
        .players
        .iter()
        .map(|(s, p)| {
            (
                s.clone(),
                Value::List(vec![
                    Value::Float(p[0]),
                    Value::Float(p[1]),
                    Value::Int(p[2] as i64),
                ]),
            )
        })
        .collect();
    let world = BTreeMap::from([
        ("tick".to_owned(), Value::Int(room.tick)),
        (
            "playerCount".to_owned(),
            Value::Int(room.players.len() as i64),
        ),
        ("mapName".to_owned(), Value::Str("arena-1000x1000".into())),
    ]);
    Value::Map(BTreeMap::from([
        ("players".to_owned(), Value::Map(players)),
        ("world".to_owned(), Value::Map(world)),
    ]))
}

fn frame(msg: &ServerMsg) -> Bytes {
    Bytes::from(encode(msg, Format::MsgPack).expect("server messages encode"))
}

async fn start(faults: Faults) -> SocketAddr {
    let fake = Arc::new(Fake {
        faults,
        rooms: Mutex::default(),
        tickets: Mutex::default(),
        next_id: AtomicU64::new(1),
    });
    // One ticker for every room: world.tick += 1, then one patch encoded once
    // and queued to every member (arena.md §3).
    let ticker = fake.clone();
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(Duration::from_millis(50));
        loop {
            iv.tick().await;
            let mut rooms = ticker.rooms.lock().expect("rooms lock");
            for room in rooms.iter_mut() {
                room.tick += 1;
                room.seq += 1;
                let mut ops = vec![Op::Set(
                    vec![key("world"), key("tick")],
                    Value::Int(room.tick),
                )];
                for seat in std::mem::take(&mut room.dirty) {
                    if let Some(p) = room.players.get(&seat) {
                        ops.push(Op::Set(
                            vec![key("players"), key(&seat)],
                            Value::List(vec![
                                Value::Float(p[0]),
                                Value::Float(p[1]),
                                Value::Int(p[2] as i64),
                            ]),
                        ));
                    }
                }
                let bytes = Bytes::from(
                    encode(&PatchRef::new(&room.id, room.seq, &ops), Format::MsgPack)
                        .expect("patch"),
                );
                for (_, tx) in &room.members {
                    let _ = tx.try_send(bytes.clone());
                }
            }
        }
    });
    let app = Router::new()
        .route("/v1/ws", any(ws_handler))
        .route("/v1/auth/ticket", post(ticket_handler))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

async fn ticket_handler(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> impl IntoResponse {
    let get = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match verify_headers("POST", "/v1/auth/ticket", get) {
        Ok(address) => {
            let ticket = fake.id('t');
            fake.tickets
                .lock()
                .expect("tickets")
                .insert(ticket.clone(), address);
            (
                StatusCode::OK,
                Json(serde_json::json!({"ticket": ticket, "expiresAt": now_ms() + 30_000})),
            )
        }
        Err(e) => (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": {"code": "auth_invalid", "message": e}})),
        ),
    }
}

async fn ws_handler(State(fake): State<Arc<Fake>>, ws: WebSocketUpgrade) -> impl IntoResponse {
    ws.on_upgrade(move |socket| connection(fake, socket))
}

async fn connection(fake: Arc<Fake>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(1024);
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if sink.send(Message::Binary(b)).await.is_err() {
                break;
            }
        }
    });
    let nonce = fake.id('n');
    let _ = tx.try_send(frame(&ServerMsg::Challenge {
        nonce: nonce.clone(),
    }));
    let mut address: Option<String> = None;
    let mut seat: Option<(String, String)> = None; // (room, seat)
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Binary(b) = msg else { continue };
        let Ok(msg) = decode::<ClientMsg>(&b, Format::MsgPack) else {
            break;
        };
        if address.is_none() {
            let verdict = match msg {
                ClientMsg::Auth { headers } => {
                    verify_headers("GET", "/v1/ws", |k| headers.get(k).cloned())
                }
                ClientMsg::Ticket { ticket } => fake
                    .tickets
                    .lock()
                    .expect("tickets")
                    .remove(&ticket)
                    .ok_or_else(|| "unknown ticket".to_owned()),
                ClientMsg::Answer { auth_chain } => verify_chain_value(&auth_chain, &nonce),
                _ => Err("handshake first".to_owned()),
            };
            match verdict {
                Ok(a) if !fake.faults.refuse_auth => {
                    let _ = tx.try_send(frame(&ServerMsg::Welcome {
                        address: a.clone(),
                        session_id: fake.id('s'),
                        resume_token: fake.id('r'),
                        server_time: now_ms(),
                        limits: Limits {
                            max_frame_bytes: 65536,
                            messages_per_second: 30,
                            message_burst: 60,
                            resume_grace_ms: 0,
                        },
                    }));
                    address = Some(a);
                    continue;
                }
                other => {
                    let message = other
                        .err()
                        .unwrap_or_else(|| "refused by fault injection".into());
                    let _ = tx
                        .send(frame(&ServerMsg::Error {
                            code: "auth_invalid".into(),
                            message,
                            retryable: false,
                            rid: None,
                            room: None,
                        }))
                        .await;
                    break;
                }
            }
        }
        match msg {
            ClientMsg::JoinOrCreate { rid, .. } => {
                let mut rooms = fake.rooms.lock().expect("rooms");
                let idx = match rooms.iter().position(|r| r.members.len() < K) {
                    Some(i) => i,
                    None => {
                        rooms.push(Room {
                            id: fake.id('R'),
                            players: BTreeMap::new(),
                            dirty: BTreeSet::new(),
                            tick: 0,
                            seq: 0,
                            members: Vec::new(),
                        });
                        rooms.len() - 1
                    }
                };
                let room = &mut rooms[idx];
                let s = fake.id('p');
                let i = room.players.len() as f64;
                let pos = [
                    50.0 + (i % 4.0) * 300.0,
                    50.0 + ((i / 4.0).floor() * 300.0) % 1000.0,
                    0.0,
                ];
                room.players.insert(s.clone(), pos);
                room.dirty.insert(s.clone());
                room.members.push((s.clone(), tx.clone()));
                let _ = tx.try_send(frame(&ServerMsg::Joined {
                    rid,
                    room: room.id.clone(),
                    kind: "arena".into(),
                    seat: s.clone(),
                    seq: room.seq,
                    state: state_of(room),
                }));
                seat = Some((room.id.clone(), s));
            }
            ClientMsg::Msg { room, kind, data } => {
                let Some((_, me)) = &seat else { continue };
                let mut rooms = fake.rooms.lock().expect("rooms");
                let Some(r) = rooms.iter_mut().find(|r| r.id == room) else {
                    continue;
                };
                match (kind.as_str(), data) {
                    ("move", Value::Map(m)) => {
                        let (Some(Value::Float(x)), Some(Value::Float(y))) =
                            (m.get("x"), m.get("y"))
                        else {
                            continue;
                        };
                        let clamp = |v: f64| {
                            if fake.faults.no_clamp {
                                v
                            } else {
                                v.clamp(0.0, 1000.0)
                            }
                        };
                        if let Some(p) = r.players.get_mut(me) {
                            p[0] = f64::from(clamp(*x) as f32);
                            p[1] = f64::from(clamp(*y) as f32);
                            p[2] += 1.0;
                            r.dirty.insert(me.clone());
                        }
                    }
                    ("ping", data) => {
                        let _ = tx.try_send(frame(&ServerMsg::Msg {
                            room,
                            kind: "pong".into(),
                            data,
                        }));
                    }
                    _ => {}
                }
            }
            ClientMsg::Leave { .. } => break,
            _ => {}
        }
    }
    if let Some((room, me)) = seat {
        let mut rooms = fake.rooms.lock().expect("rooms");
        if let Some(r) = rooms.iter_mut().find(|r| r.id == room) {
            r.players.remove(&me);
            r.members.retain(|(s, _)| *s != me);
        }
        rooms.retain(|r| !r.members.is_empty());
    }
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
}

fn cli(args: &[&str]) -> Scenario {
    let mut all = vec!["plaza-loadtest"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all)
        .expect("valid command line")
        .scenario
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/v1/ws")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arena_measures_latency_rtt_and_server_figures() {
    let addr = start(Faults::default()).await;
    let pid = std::process::id().to_string();
    let u = url(addr);
    let Scenario::Arena(a) = cli(&[
        "arena",
        "--url",
        &u,
        "-n",
        "20",
        "--join-concurrency",
        "5",
        "--warmup",
        "0.5",
        "--duration",
        "2",
        "--drain",
        "0.5",
        "--server-pid",
        &pid,
        "--quiet",
    ]) else {
        panic!("arena expected")
    };
    let r = arena::run(a, 2).await.expect("run");
    assert_eq!(r.join.ok, 20, "{:?}", r.errors);
    assert_eq!(r.failures_total, 0, "{:?} {:?}", r.failures, r.errors);
    assert_eq!(
        r.rooms, 2,
        "20 clients fill one room of 16 and start a second"
    );
    // 20 clients × 10 Hz × 2 s ≈ 400 moves; every one becomes a sample.
    assert!(
        (200..=480).contains(&r.counts.moves),
        "moves {}",
        r.counts.moves
    );
    let lat = r.latency_move_to_patch_ms;
    assert!(
        lat.n + 20 >= r.counts.moves,
        "samples {} vs moves {}",
        lat.n,
        r.counts.moves
    );
    // Only structural checks on the timings: how fast this machine runs the
    // fake server is a benchmark's business, not a test's (a loaded CI host
    // once pushed p99 over 100 ms here).
    let p50 = lat.p50.expect("p50");
    let p99 = lat.p99.expect("p99");
    let max = lat.max.expect("max");
    assert!(
        p50 > 0.0 && p50 <= p99 && p99 <= max,
        "{p50} / {p99} / {max}"
    );
    assert!(r.rtt_ping_ms.n > 0, "observers are eager and measure RTT");
    let hz = r.patch_hz_per_client.expect("patch Hz");
    assert!(
        hz > 0.0 && hz <= 21.0,
        "patch Hz {hz}: at most the 20 Hz tick"
    );
    assert_eq!(r.unacked_at_end, 0);
    assert_eq!(
        r.pass_p99_under_100ms,
        p99 < 100.0 && r.failures_total == 0,
        "the verdict follows the figures"
    );
    let s = r
        .server
        .as_ref()
        .expect("server sampled through --server-pid");
    assert!(s.cpu_s > 0.0 && s.rss_end_mb > 0.0);
    assert!(r.bytes_out_per_client_s.expect("bytes out") > 100.0);
    let table = r.table();
    eprintln!("{table}");
    assert!(table.contains("latency move→patch"), "{table}");
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["scenario"], "arena");
    assert!(json["latency_move_to_patch_ms"]["p99"].is_number());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_all_gives_one_sample_per_move_too() {
    let addr = start(Faults::default()).await;
    let u = url(addr);
    let Scenario::Arena(a) = cli(&[
        "arena",
        "--url",
        &u,
        "-n",
        "8",
        "--warmup",
        "0.3",
        "--duration",
        "1",
        "--drain",
        "0.5",
        "--observe",
        "all",
        "--lazy-ms",
        "0",
        "--quiet",
    ]) else {
        panic!("arena expected")
    };
    let r = arena::run(a, 2).await.expect("run");
    assert_eq!(r.failures_total, 0, "{:?}", r.errors);
    assert!(
        r.latency_move_to_patch_ms.n + 8 >= r.counts.moves
            && r.latency_move_to_patch_ms.n <= r.counts.moves
    );
    assert!(r.rtt_ping_ms.n > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclamped_positions_are_reported_as_mismatches() {
    let addr = start(Faults {
        no_clamp: true,
        ..Faults::default()
    })
    .await;
    let u = url(addr);
    let Scenario::Arena(a) = cli(&[
        "arena",
        "--url",
        &u,
        "-n",
        "16",
        "--warmup",
        "0.3",
        "--duration",
        "1.5",
        "--quiet",
    ]) else {
        panic!("arena expected")
    };
    let r = arena::run(a, 2).await.expect("run");
    // ~17 % of moves have a coordinate outside [0, 1000]; about one in five
    // patches shows such a latest move.
    assert!(r.failures.pos_mismatch > 0, "{:?}", r.failures);
    assert!(!r.pass_p99_under_100ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_joins_with_every_handshake_method() {
    let addr = start(Faults::default()).await;
    let u = url(addr);
    for hs in ["headers", "ticket", "challenge"] {
        let Scenario::Storm(a) = cli(&[
            "storm",
            "--url",
            &u,
            "-n",
            "24",
            "--join-concurrency",
            "8",
            "--handshake",
            hs,
            "--bursts",
            "2",
            "--pause",
            "0.1",
            "--quiet",
        ]) else {
            panic!("storm expected")
        };
        let r = storm::run(a).await.expect("run");
        assert_eq!(r.bursts.len(), 2);
        for b in &r.bursts {
            assert_eq!((b.ok, b.failed), (24, 0), "{hs}: {:?}", r.errors);
            assert!(b.rate_per_s.expect("rate") > 0.0);
            assert_eq!(b.latency_ms.n, 24);
        }
        assert_eq!(r.failures_total, 0, "{hs}: {:?}", r.errors);
        assert!(r.table().contains("burst 2 (warm)"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_handshakes_are_counted_by_kind() {
    let addr = start(Faults {
        refuse_auth: true,
        ..Faults::default()
    })
    .await;
    let u = url(addr);
    let Scenario::Storm(a) = cli(&["storm", "--url", &u, "-n", "10", "--quiet"]) else {
        panic!("storm expected")
    };
    let r = storm::run(a).await.expect("run");
    assert_eq!(r.bursts[0].ok, 0);
    assert_eq!(r.bursts[0].failed, 10);
    assert_eq!(
        r.errors.get("server:auth_invalid"),
        Some(&10),
        "{:?}",
        r.errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_reports_memory_per_connection_and_no_server_is_a_join_failure() {
    let addr = start(Faults::default()).await;
    let pid = std::process::id().to_string();
    let u = url(addr);
    let Scenario::Idle(a) = cli(&[
        "idle",
        "--url",
        &u,
        "-n",
        "12",
        "--settle",
        "0.2",
        "--duration",
        "0.5",
        "--server-pid",
        &pid,
        "--quiet",
    ]) else {
        panic!("idle expected")
    };
    let r = idle::run(a, 2).await.expect("run");
    assert_eq!(r.join.ok, 12);
    assert_eq!(r.failures_total, 0, "{:?}", r.errors);
    let s = r.server.as_ref().expect("server sampled");
    assert!(s.rss_kb_per_client.is_some());
    assert!(r.table().contains("per idle connection"));

    // Nothing listens on this port: every join fails with a named kind.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let Scenario::Storm(a) = cli(&["storm", "--url", &url(dead), "-n", "3", "--quiet"]) else {
        panic!("storm")
    };
    let r = storm::run(a).await.expect("run");
    assert_eq!(r.bursts[0].failed, 3);
    assert_eq!(r.errors.get("connect_refused"), Some(&3), "{:?}", r.errors);
}

#[test]
fn non_loopback_targets_are_refused_before_any_connect() {
    let Scenario::Storm(a) = cli(&[
        "storm",
        "--url",
        "ws://192.0.2.1:8080/v1/ws",
        "-n",
        "1",
        "--quiet",
    ]) else {
        panic!("storm expected")
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let err = rt.block_on(storm::run(a)).expect_err("must refuse");
    assert!(err.to_string().contains("target_not_loopback"), "{err}");
}

//! Rooms through the gateway seam, without sockets: `ClientRef`s built on
//! `Outbox::channel`, `RoomManager::dispatch`, and the receivers read back.
//! Timings are shortened through config (fast ticks, short grace periods) so
//! every test runs in well under a second of real time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use plaza::auth::{AuthMethod, ChainKind, Identity, SceneMetadata};
use plaza::events::{EventQueue, EventSink, PlazaEvent};
use plaza::outbox::{Outbox, Outgoing};
use plaza::room::{
    ClientRef, Options, RoomClient, RoomCtx, RoomError, RoomLogic, RoomManager, RoomOptions,
    RoomTypeConfig, RoomsConfig, WalletPolicy,
};
use plaza_protocol::state::{apply_all, Value};
use plaza_protocol::{decode, ClientMsg, Format, ServerMsg};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};

// ---------------------------------------------------------------- helpers

fn identity(address: &str) -> Arc<Identity> {
    Arc::new(Identity {
        address: address.to_owned(),
        chain: ChainKind::Ephemeral,
        metadata: plaza::auth::Metadata::empty(),
        scene: SceneMetadata::default(),
        method: AuthMethod::FirstFrame,
        verified_at_ms: 0,
    })
}

struct TestClient {
    client: ClientRef,
    rx: mpsc::Receiver<Outgoing>,
}

fn decode_out(item: Outgoing) -> ServerMsg {
    match item {
        Outgoing::Msg(m) => *m,
        Outgoing::Shared(enc) => {
            decode(&enc.bytes(Format::MsgPack), Format::MsgPack).expect("shared frame decodes")
        }
        Outgoing::Close { code, reason } => panic!("unexpected close {code} {reason}"),
    }
}

impl TestClient {
    fn new(session: &str, address: &str) -> Self {
        Self::with_capacity(session, address, 1024)
    }

    fn with_capacity(session: &str, address: &str, cap: usize) -> Self {
        let (outbox, rx) = Outbox::channel(cap);
        Self {
            client: ClientRef {
                session_id: Arc::from(session),
                identity: identity(address),
                outbox,
            },
            rx,
        }
    }

    /// A new socket for the same session (what resume hands over).
    fn reconnect(&mut self) {
        let (outbox, rx) = Outbox::channel(1024);
        self.client.outbox = outbox;
        self.rx = rx;
    }

    async fn next(&mut self) -> ServerMsg {
        let item = timeout(Duration::from_secs(5), self.rx.recv())
            .await
            .expect("a message within 5 s")
            .expect("outbox open");
        decode_out(item)
    }

    /// The next message that is not a patch.
    async fn next_non_patch(&mut self) -> ServerMsg {
        loop {
            match self.next().await {
                ServerMsg::Patch { .. } => continue,
                other => return other,
            }
        }
    }

    fn drain(&mut self) -> Vec<ServerMsg> {
        let mut out = Vec::new();
        while let Ok(item) = self.rx.try_recv() {
            out.push(decode_out(item));
        }
        out
    }

    async fn joined(&mut self) -> (String, String, u64, Value) {
        match self.next_non_patch().await {
            ServerMsg::Joined {
                room,
                seat,
                seq,
                state,
                ..
            } => (room, seat, seq, state),
            other => panic!("expected joined, got {other:?}"),
        }
    }

    async fn error(&mut self) -> (String, String) {
        match self.next_non_patch().await {
            ServerMsg::Error { code, message, .. } => (code, message),
            other => panic!("expected error, got {other:?}"),
        }
    }
}

/// A client-side mirror of one room: snapshot + patches in seq order.
struct Mirror {
    room: String,
    seq: u64,
    state: Value,
}

impl Mirror {
    fn feed(&mut self, msg: &ServerMsg) {
        match msg {
            ServerMsg::Patch { room, seq, ops } if *room == self.room => {
                assert_eq!(*seq, self.seq + 1, "patches must carry consecutive seqs");
                apply_all(&mut self.state, ops).expect("patch applies to the mirror");
                self.seq = *seq;
            }
            ServerMsg::Snapshot { room, seq, state } if *room == self.room => {
                self.seq = *seq;
                self.state = state.clone();
            }
            _ => {}
        }
    }
}

fn manager_with(
    types: Vec<RoomTypeConfig>,
    tweak: impl FnOnce(&mut RoomsConfig),
) -> (RoomManager, EventQueue) {
    let mut config = RoomsConfig {
        types,
        ..RoomsConfig::default()
    };
    tweak(&mut config);
    config.validate().expect("test config valid");
    let (events, rx) = EventSink::channel();
    (RoomManager::new(&config, events), rx)
}

/// Fast type settings: 100 Hz ticks, short timers.
fn fast(name: &str, kind: plaza::room::BuiltinKind) -> RoomTypeConfig {
    RoomTypeConfig {
        name: name.into(),
        kind,
        patch_rate_hz: 100,
        empty_grace_ms: 30,
        first_join_timeout_ms: 30,
        seat_hold_ms: 2_000,
        messages_per_second: 0,
        ..RoomTypeConfig::default()
    }
}

fn join_or_create(kind: &str, rid: u32, filter: &[(&str, Value)]) -> ClientMsg {
    ClientMsg::JoinOrCreate {
        rid,
        kind: kind.into(),
        filter: filter
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        options: BTreeMap::new(),
    }
}

fn msg(room: &str, kind: &str, data: Value) -> ClientMsg {
    ClientMsg::Msg {
        room: room.into(),
        kind: kind.into(),
        data,
    }
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

async fn snapshot_of(mgr: &RoomManager, c: &mut TestClient, room: &str) -> (u64, Value) {
    mgr.dispatch(&c.client, ClientMsg::Resync { room: room.into() })
        .await;
    loop {
        if let ServerMsg::Snapshot { seq, state, .. } = c.next().await {
            return (seq, state);
        }
    }
}

// ---------------------------------------------------------------- matchmaking

#[tokio::test]
async fn join_or_create_fills_rooms_in_order() {
    let (mgr, mut events) = manager_with(vec![], |_| {});
    let mut clients: Vec<TestClient> = (0..20)
        .map(|i| TestClient::new(&format!("s{i}"), &format!("0x{i:040x}")))
        .collect();
    let mut rooms = Vec::new();
    let mut seats = std::collections::HashSet::new();
    for (i, c) in clients.iter_mut().enumerate() {
        mgr.dispatch(&c.client, join_or_create("arena", i as u32, &[]))
            .await;
        let (room, seat, _, state) = c.joined().await;
        assert_eq!(seat.len(), 9, "arena player keys are 9 characters");
        assert!(seats.insert(seat.clone()), "seat ids are unique");
        let player = &state.as_map().expect("map")["players"]
            .as_map()
            .expect("players")[&seat];
        let expected_x = f64::from(50 + (i as u32 % 16 % 4) * 300);
        assert_eq!(player.as_list().expect("list")[0], Value::Float(expected_x));
        rooms.push(room);
    }
    assert!(
        rooms[..16].iter().all(|r| *r == rooms[0]),
        "first 16 share a room"
    );
    assert!(
        rooms[16..].iter().all(|r| *r == rooms[16]),
        "the rest go to a second room"
    );
    assert_ne!(rooms[0], rooms[16]);
    assert_eq!(mgr.room_count(), 2);
    let info = mgr.list(Some("arena"));
    assert_eq!(
        info.iter()
            .map(|i| (i.clients, i.locked))
            .collect::<Vec<_>>(),
        vec![(16, true), (4, false)]
    );
    let opened = std::iter::from_fn(|| events.try_recv().ok())
        .filter(|e| matches!(e, PlazaEvent::SeatOpened { .. }))
        .count();
    assert_eq!(opened, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_join_or_create_for_one_filter_makes_one_room() {
    let (mgr, _events) = manager_with(vec![], |_| {});
    let mut tasks = Vec::new();
    for i in 0..24 {
        let mgr = mgr.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = TestClient::new(&format!("s{i}"), &format!("0x{i:040x}"));
            let scene = if i % 2 == 0 { "a" } else { "b" };
            mgr.dispatch(
                &c.client,
                join_or_create("shared", i, &[("scene", s(scene))]),
            )
            .await;
            let (room, ..) = c.joined().await;
            (scene, room, c)
        }));
    }
    let mut by_scene: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut keep = Vec::new();
    for t in tasks {
        let (scene, room, c) = t.await.expect("task");
        by_scene.entry(scene).or_default().insert(room);
        keep.push(c);
    }
    assert_eq!(by_scene["a"].len(), 1, "one room for scene a: {by_scene:?}");
    assert_eq!(by_scene["b"].len(), 1, "one room for scene b: {by_scene:?}");
    assert_ne!(by_scene["a"], by_scene["b"]);
    assert_eq!(mgr.room_count(), 2);
    let listed = mgr.list(Some("shared"));
    assert!(listed
        .iter()
        .all(|i| i.clients == 12 && i.metadata.contains_key("scene")));
}

#[tokio::test]
async fn max_clients_and_lock_hold() {
    let small = RoomTypeConfig {
        max_clients: 2,
        ..fast("small", plaza::room::BuiltinKind::Shared)
    };
    let (mgr, _events) = manager_with(vec![small], |_| {});
    let mut a = TestClient::new("a", "0xa");
    let mut b = TestClient::new("b", "0xb");
    let mut c = TestClient::new("c", "0xc");
    mgr.dispatch(
        &a.client,
        ClientMsg::Create {
            rid: 1,
            kind: "small".into(),
            options: BTreeMap::new(),
            private: false,
        },
    )
    .await;
    let (room, ..) = a.joined().await;

    // Only the creator may lock.
    mgr.dispatch(
        &b.client,
        ClientMsg::Join {
            rid: 2,
            room: room.clone(),
            options: BTreeMap::new(),
        },
    )
    .await;
    b.joined().await;
    mgr.dispatch(&b.client, ClientMsg::Lock { room: room.clone() })
        .await;
    assert_eq!(b.error().await.0, "not_creator");

    // Full: a third join by id is refused, joinOrCreate opens another room.
    mgr.dispatch(
        &c.client,
        ClientMsg::Join {
            rid: 3,
            room: room.clone(),
            options: BTreeMap::new(),
        },
    )
    .await;
    assert_eq!(c.error().await.0, "room_full");
    mgr.dispatch(&c.client, join_or_create("small", 4, &[]))
        .await;
    let (other, ..) = c.joined().await;
    assert_ne!(other, room);

    // b leaves: a free seat, but the creator locks the room.
    mgr.dispatch(&b.client, ClientMsg::Leave { room: room.clone() })
        .await;
    assert!(matches!(b.next_non_patch().await, ServerMsg::Left { reason, .. } if reason == "left"));
    mgr.dispatch(&a.client, ClientMsg::Lock { room: room.clone() })
        .await;
    mgr.dispatch(
        &b.client,
        ClientMsg::Join {
            rid: 5,
            room: room.clone(),
            options: BTreeMap::new(),
        },
    )
    .await;
    let (code, _) = b.error().await;
    assert_eq!(code, "room_locked");
    let locked = mgr
        .list(Some("small"))
        .into_iter()
        .find(|i| i.room == room)
        .expect("listed");
    assert!(locked.locked);
    mgr.dispatch(&a.client, ClientMsg::Unlock { room: room.clone() })
        .await;
    // Lock and unlock take effect when the room processes them.
    sleep(Duration::from_millis(5)).await;
    mgr.dispatch(
        &b.client,
        ClientMsg::Join {
            rid: 6,
            room: room.clone(),
            options: BTreeMap::new(),
        },
    )
    .await;
    assert_eq!(b.joined().await.0, room);
}

#[tokio::test]
async fn one_seat_per_wallet_replace_and_refuse() {
    let refuse = RoomTypeConfig {
        one_seat_per_wallet: WalletPolicy::Refuse,
        ..fast("strict", plaza::room::BuiltinKind::Shared)
    };
    let (mgr, mut events) = manager_with(
        vec![refuse, fast("loose", plaza::room::BuiltinKind::Shared)],
        |_| {},
    );
    let mut first = TestClient::new("s1", "0xsame");
    let mut second = TestClient::new("s2", "0xsame");

    mgr.dispatch(&first.client, join_or_create("loose", 1, &[]))
        .await;
    let (room, seat1, ..) = first.joined().await;
    mgr.dispatch(&second.client, join_or_create("loose", 2, &[]))
        .await;
    let (room2, seat2, ..) = second.joined().await;
    assert_eq!(room, room2, "same room, the old seat replaced");
    assert!(
        matches!(first.next_non_patch().await, ServerMsg::Left { reason, .. } if reason == "replaced")
    );
    let closed: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            PlazaEvent::SeatClosed { seat, .. } => Some(seat),
            _ => None,
        })
        .collect();
    assert_eq!(closed, vec![seat1]);
    assert_ne!(seat2, "");
    assert_eq!(mgr.list(Some("loose"))[0].clients, 1);

    let mut third = TestClient::new("s3", "0xother");
    mgr.dispatch(&first.client, join_or_create("strict", 3, &[]))
        .await;
    let (strict_room, ..) = first.joined().await;
    mgr.dispatch(
        &second.client,
        ClientMsg::Join {
            rid: 4,
            room: strict_room.clone(),
            options: BTreeMap::new(),
        },
    )
    .await;
    assert_eq!(second.error().await.0, "wallet_seated");
    mgr.dispatch(
        &third.client,
        ClientMsg::Join {
            rid: 5,
            room: strict_room.clone(),
            options: BTreeMap::new(),
        },
    )
    .await;
    third.joined().await;
    assert_eq!(
        mgr.list(Some("strict"))[0].clients,
        2,
        "the refused join released its reservation"
    );
    // One seat per session per room: a repeated joinOrCreate is refused.
    mgr.dispatch(&first.client, join_or_create("strict", 6, &[]))
        .await;
    assert_eq!(first.error().await.0, "already_joined");
    assert_eq!(mgr.list(Some("strict"))[0].clients, 2);
}

#[tokio::test]
async fn private_rooms_are_joinable_by_id_only() {
    let (mgr, _events) = manager_with(vec![fast("p", plaza::room::BuiltinKind::Shared)], |_| {});
    let mut a = TestClient::new("a", "0xa");
    let mut b = TestClient::new("b", "0xb");
    let mut c = TestClient::new("c", "0xc");
    mgr.dispatch(
        &a.client,
        ClientMsg::Create {
            rid: 1,
            kind: "p".into(),
            options: BTreeMap::new(),
            private: true,
        },
    )
    .await;
    let (private, ..) = a.joined().await;
    assert!(
        mgr.list(None).iter().all(|i| i.room != private),
        "private rooms are not listed"
    );
    mgr.dispatch(&b.client, join_or_create("p", 2, &[])).await;
    let (public, ..) = b.joined().await;
    assert_ne!(public, private, "joinOrCreate never matches a private room");
    mgr.dispatch(
        &c.client,
        ClientMsg::Join {
            rid: 3,
            room: private.clone(),
            options: BTreeMap::new(),
        },
    )
    .await;
    assert_eq!(c.joined().await.0, private);
    mgr.dispatch(
        &c.client,
        ClientMsg::Join {
            rid: 4,
            room: "nope".into(),
            options: BTreeMap::new(),
        },
    )
    .await;
    assert_eq!(c.error().await.0, "room_not_found");
    mgr.dispatch(&c.client, join_or_create("nope", 5, &[]))
        .await;
    assert_eq!(c.error().await.0, "unknown_room_type");
}

// ---------------------------------------------------------------- shared rules

#[tokio::test]
async fn shared_write_rules_are_enforced_and_named() {
    let (mgr, _events) = manager_with(
        vec![fast("shared", plaza::room::BuiltinKind::Shared)],
        |_| {},
    );
    let mut a = TestClient::new("a", "0xaaa");
    let mut b = TestClient::new("b", "0xbbb");
    mgr.dispatch(&a.client, join_or_create("shared", 1, &[]))
        .await;
    let (room, ..) = a.joined().await;
    mgr.dispatch(&b.client, join_or_create("shared", 2, &[]))
        .await;
    b.joined().await;

    let set =
        |path: Value, value: Value| msg(&room, "set", map(&[("path", path), ("value", value)]));
    mgr.dispatch(&a.client, set(s("players/0xaaa/pos"), Value::Int(1)))
        .await;
    mgr.dispatch(&b.client, set(s("players/0xaaa/pos"), Value::Int(2)))
        .await;
    let (code, message) = b.error().await;
    assert_eq!(code, "write_refused");
    assert!(
        message.contains("players/{address}/**"),
        "names the rule: {message}"
    );
    mgr.dispatch(&b.client, set(s("world/x"), Value::Int(2)))
        .await;
    let (code, message) = b.error().await;
    assert_eq!(code, "write_refused");
    assert!(message.contains("default rule"), "{message}");

    // board/** is anyone's; req answers with res.
    let board = Value::List(vec![s("board"), s("cells")]);
    mgr.dispatch(
        &b.client,
        ClientMsg::Req {
            rid: 9,
            room: room.clone(),
            kind: "set".into(),
            data: map(&[("path", board.clone()), ("value", Value::List(vec![]))]),
        },
    )
    .await;
    assert!(matches!(
        b.next_non_patch().await,
        ServerMsg::Res { rid: 9, .. }
    ));
    mgr.dispatch(
        &a.client,
        msg(
            &room,
            "push",
            map(&[("path", board.clone()), ("value", Value::Int(7))]),
        ),
    )
    .await;
    mgr.dispatch(
        &b.client,
        ClientMsg::Req {
            rid: 10,
            room: room.clone(),
            kind: "get".into(),
            data: map(&[("path", board)]),
        },
    )
    .await;
    match b.next_non_patch().await {
        ServerMsg::Res { rid: 10, data, .. } => assert_eq!(data, Value::List(vec![Value::Int(7)])),
        other => panic!("expected res, got {other:?}"),
    }
    let (_, state) = snapshot_of(&mgr, &mut a, &room).await;
    let players = state.as_map().expect("root")["players"]
        .as_map()
        .expect("players");
    assert_eq!(
        players["0xaaa"],
        map(&[("pos", Value::Int(1))]),
        "b's write did not land"
    );

    // A non-member gets not_in_room; a leaving wallet's subtree is removed.
    let mut c = TestClient::new("c", "0xccc");
    mgr.dispatch(&c.client, set(s("board/x"), Value::Int(1)))
        .await;
    assert_eq!(c.error().await.0, "not_in_room");
    mgr.dispatch(&a.client, ClientMsg::Leave { room: room.clone() })
        .await;
    let (_, state) = snapshot_of(&mgr, &mut b, &room).await;
    assert!(state.as_map().expect("root")["players"]
        .as_map()
        .expect("players")
        .is_empty());
}

#[tokio::test]
async fn shared_room_limits_state_size_and_message_rate() {
    let tight = RoomTypeConfig {
        max_state_bytes: 200,
        messages_per_second: 5,
        ..fast("tight", plaza::room::BuiltinKind::Shared)
    };
    let (mgr, _events) = manager_with(vec![tight], |_| {});
    let mut a = TestClient::new("a", "0xa");
    mgr.dispatch(&a.client, join_or_create("tight", 1, &[]))
        .await;
    let (room, ..) = a.joined().await;
    let big = Value::Str("x".repeat(500));
    mgr.dispatch(
        &a.client,
        msg(
            &room,
            "set",
            map(&[("path", s("board/big")), ("value", big)]),
        ),
    )
    .await;
    assert_eq!(a.error().await.0, "state_refused");
    // Burst is 2 × 5 = 10; the 9 left after the refused write, then refusals.
    for i in 0..12 {
        mgr.dispatch(
            &a.client,
            msg(
                &room,
                "set",
                map(&[("path", s("board/n")), ("value", Value::Int(i))]),
            ),
        )
        .await;
    }
    sleep(Duration::from_millis(50)).await;
    let limited = a
        .drain()
        .into_iter()
        .filter(|m| matches!(m, ServerMsg::Error { code, .. } if code == "room_rate_limited"))
        .count();
    assert!(limited >= 2, "rate limit answered: {limited}");
}

// ---------------------------------------------------------------- patches

#[tokio::test]
async fn patches_converge_for_every_client() {
    let (mgr, _events) = manager_with(
        vec![fast("shared", plaza::room::BuiltinKind::Shared)],
        |_| {},
    );
    let mut clients: Vec<TestClient> = (0..4)
        .map(|i| TestClient::new(&format!("s{i}"), &format!("0x{i}")))
        .collect();
    let mut mirrors = Vec::new();
    let mut room = String::new();
    // Seeded pseudo-random writes: sets, pushes and deletes on lists and maps.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    for round in 0..40u32 {
        // Clients join at different times: each mirror starts from `joined`.
        if (round as usize) < clients.len() * 5 && round % 5 == 0 {
            let c = &mut clients[(round / 5) as usize];
            mgr.dispatch(&c.client, join_or_create("shared", round, &[]))
                .await;
            let (r, _, seq, state) = c.joined().await;
            room = r.clone();
            mirrors.push(Mirror {
                room: r,
                seq,
                state,
            });
        }
        for (i, c) in clients.iter().enumerate().take(mirrors.len()) {
            let own = format!("players/0x{i}");
            let (kind, data) = match next(7) {
                0 => (
                    "set",
                    map(&[
                        ("path", s(&format!("{own}/x"))),
                        ("value", Value::Int(next(100) as i64)),
                    ]),
                ),
                1 => (
                    "set",
                    map(&[
                        ("path", s(&format!("{own}/list"))),
                        ("value", Value::List(vec![])),
                    ]),
                ),
                2 | 3 => (
                    "push",
                    map(&[
                        ("path", s(&format!("{own}/list"))),
                        ("value", Value::Float(next(10) as f64 / 4.0)),
                    ]),
                ),
                4 => (
                    "del",
                    map(&[(
                        "path",
                        Value::List(vec![
                            s("players"),
                            s(&format!("0x{i}")),
                            s("list"),
                            Value::Int(0),
                        ]),
                    )]),
                ),
                5 => (
                    "set",
                    map(&[
                        ("path", s(&format!("board/k{}", next(5)))),
                        ("value", s("v")),
                    ]),
                ),
                _ => ("del", map(&[("path", s(&format!("board/k{}", next(5))))])),
            };
            mgr.dispatch(&c.client, msg(&room, kind, data)).await;
        }
        sleep(Duration::from_millis(if round % 3 == 0 { 15 } else { 2 })).await;
        for (c, m) in clients.iter_mut().zip(mirrors.iter_mut()) {
            for item in c.drain() {
                m.feed(&item);
            }
        }
    }
    sleep(Duration::from_millis(30)).await;
    let (seq, truth) = snapshot_of(&mgr, &mut clients[0], &room).await;
    for (i, (c, m)) in clients.iter_mut().zip(mirrors.iter_mut()).enumerate() {
        for item in c.drain() {
            m.feed(&item);
        }
        if i == 0 {
            // Its mirror was reset by the resync snapshot itself.
            m.seq = seq;
            m.state = truth.clone();
        }
        assert_eq!(m.seq, seq, "client {i} is at the room's seq");
        assert_eq!(
            m.state, truth,
            "client {i}'s mirror equals the room's document"
        );
    }
    assert!(seq > 10, "many patches were exercised: {seq}");
}

#[tokio::test]
async fn arena_moves_ping_and_a_patch_every_tick() {
    let (mgr, _events) = manager_with(vec![fast("arena", plaza::room::BuiltinKind::Arena)], |_| {});
    let mut a = TestClient::new("a", "0xa");
    mgr.dispatch(&a.client, join_or_create("arena", 1, &[]))
        .await;
    let (room, seat, seq0, state) = a.joined().await;
    let mut mirror = Mirror {
        room: room.clone(),
        seq: seq0,
        state,
    };
    mgr.dispatch(&a.client, msg(&room, "ping", Value::Float(12.5)))
        .await;
    assert!(
        matches!(a.next_non_patch().await, ServerMsg::Msg { kind, data, .. } if kind == "pong" && data == Value::Float(12.5))
    );
    mgr.dispatch(
        &a.client,
        msg(
            &room,
            "move",
            map(&[("x", Value::Float(-20.0)), ("y", Value::Float(333.33))]),
        ),
    )
    .await;
    mgr.dispatch(
        &a.client,
        msg(
            &room,
            "move",
            map(&[("x", Value::Float(1200.0)), ("y", Value::Int(7))]),
        ),
    )
    .await;
    mgr.dispatch(
        &a.client,
        msg(
            &room,
            "move",
            map(&[("x", s("nope")), ("y", Value::Int(7))]),
        ),
    )
    .await;
    sleep(Duration::from_millis(60)).await;
    let mut ticks = Vec::new();
    for m in a.drain() {
        if let ServerMsg::Error { code, .. } = &m {
            assert_eq!(code, "invalid_message");
        }
        mirror.feed(&m);
        if let ServerMsg::Patch { .. } = m {
            ticks.push(
                mirror.state.as_map().expect("root")["world"]
                    .as_map()
                    .expect("world")["tick"]
                    .clone(),
            );
        }
    }
    assert!(
        ticks.len() >= 3,
        "a patch every tick even without moves: {ticks:?}"
    );
    let ticks: Vec<i64> = ticks.iter().filter_map(Value::as_i64).collect();
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "world.tick += 1 per patch: {ticks:?}"
    );
    let me = &mirror.state.as_map().expect("root")["players"]
        .as_map()
        .expect("players")[&seat];
    assert_eq!(
        *me,
        Value::List(vec![Value::Float(1000.0), Value::Float(7.0), Value::Int(2)]),
        "clamped, float32, score counts applied moves"
    );
}

// ---------------------------------------------------------------- resume

#[tokio::test]
async fn resume_replays_missed_patches_or_sends_a_snapshot() {
    let (mgr, _events) = manager_with(
        vec![fast("shared", plaza::room::BuiltinKind::Shared)],
        |c| c.patch_ring = 8,
    );
    let mut a = TestClient::new("a", "0xa");
    let mut b = TestClient::new("b", "0xb");
    mgr.dispatch(&a.client, join_or_create("shared", 1, &[]))
        .await;
    let (room, _, seq, state) = a.joined().await;
    mgr.dispatch(&b.client, join_or_create("shared", 2, &[]))
        .await;
    b.joined().await;
    let mut mirror = Mirror {
        room: room.clone(),
        seq,
        state,
    };
    let write = |i: i64| {
        msg(
            &room,
            "set",
            map(&[("path", s("board/n")), ("value", Value::Int(i))]),
        )
    };

    // Drop a's socket; b writes across several ticks (timing may merge
    // writes into fewer patches; what matters is replay, not the count).
    mgr.detach("a");
    for i in 0..3 {
        mgr.dispatch(&b.client, write(i)).await;
        sleep(Duration::from_millis(15)).await;
    }
    for m in a.drain() {
        mirror.feed(&m);
    }
    a.reconnect();
    let last = BTreeMap::from([(room.clone(), mirror.seq)]);
    assert_eq!(mgr.resume(&a.client, &last).await, vec![room.clone()]);
    let replayed = a.drain();
    assert!(
        !replayed.is_empty()
            && replayed
                .iter()
                .all(|m| matches!(m, ServerMsg::Patch { .. })),
        "{replayed:?}"
    );
    for m in &replayed {
        mirror.feed(m);
    }
    let (seq, truth) = snapshot_of(&mgr, &mut b, &room).await;
    assert_eq!((mirror.seq, &mirror.state), (seq, &truth));

    // Past the ring (8 patches): a snapshot instead.
    mgr.detach("a");
    for i in 0..12 {
        mgr.dispatch(&b.client, write(100 + i)).await;
        sleep(Duration::from_millis(15)).await;
    }
    a.reconnect();
    let last = BTreeMap::from([(room.clone(), mirror.seq)]);
    assert_eq!(mgr.resume(&a.client, &last).await, vec![room.clone()]);
    match a.next().await {
        ServerMsg::Snapshot { state, .. } => {
            assert_eq!(
                state.as_map().expect("root")["board"],
                map(&[("n", Value::Int(111))])
            );
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }

    // A session that ended holds nothing.
    mgr.end_session("a");
    sleep(Duration::from_millis(20)).await;
    a.reconnect();
    assert!(mgr.resume(&a.client, &last).await.is_empty());
}

#[tokio::test]
async fn held_seat_is_released_after_the_hold() {
    let short = RoomTypeConfig {
        seat_hold_ms: 40,
        ..fast("shared", plaza::room::BuiltinKind::Shared)
    };
    let (mgr, mut events) = manager_with(vec![short], |_| {});
    let mut a = TestClient::new("a", "0xa");
    mgr.dispatch(&a.client, join_or_create("shared", 1, &[]))
        .await;
    let (_, seat, ..) = a.joined().await;
    mgr.detach("a");
    sleep(Duration::from_millis(150)).await;
    let closed = std::iter::from_fn(|| events.try_recv().ok())
        .any(|e| matches!(e, PlazaEvent::SeatClosed { seat: s, .. } if s == seat));
    assert!(closed, "seat closed after its hold");
    assert_eq!(
        mgr.room_count(),
        0,
        "and the empty room disposed after its grace"
    );
}

// ---------------------------------------------------------------- back-pressure

#[tokio::test]
async fn a_client_that_stops_reading_does_not_stall_the_room() {
    let (mgr, mut events) =
        manager_with(vec![fast("arena", plaza::room::BuiltinKind::Arena)], |c| {
            c.slow_kick_ms = 400
        });
    let mut fast_client = TestClient::new("fast", "0xf");
    let mut slow = TestClient::with_capacity("slow", "0x5", 4);
    let mut stuck = TestClient::with_capacity("stuck", "0x6", 4);
    mgr.dispatch(&fast_client.client, join_or_create("arena", 1, &[]))
        .await;
    let (room, _, seq, state) = fast_client.joined().await;
    let mut mirror = Mirror {
        room: room.clone(),
        seq,
        state,
    };
    mgr.dispatch(&slow.client, join_or_create("arena", 2, &[]))
        .await;
    mgr.dispatch(&stuck.client, join_or_create("arena", 3, &[]))
        .await;
    let stuck_seat = match stuck.next().await {
        ServerMsg::Joined { seat, .. } => seat,
        other => panic!("expected joined, got {other:?}"),
    };

    // 200 ms at 100 Hz: the readers' queues (4) overflow long before.
    for _ in 0..10 {
        mgr.dispatch(
            &fast_client.client,
            msg(
                &room,
                "move",
                map(&[("x", Value::Int(1)), ("y", Value::Int(2))]),
            ),
        )
        .await;
        sleep(Duration::from_millis(20)).await;
        for m in fast_client.drain() {
            mirror.feed(&m);
        }
    }
    assert!(
        mirror.seq >= seq + 5,
        "the room kept ticking for the reader: {} → {}",
        seq,
        mirror.seq
    );
    assert!(
        slow.rx.len() <= 4 && stuck.rx.len() <= 4,
        "queues stay bounded"
    );

    // The slow client catches up: backlog, then a snapshot, then live patches.
    let mut slow_mirror: Option<Mirror> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline {
        for m in slow.drain() {
            match (&mut slow_mirror, &m) {
                (None, ServerMsg::Snapshot { room, seq, state }) => {
                    slow_mirror = Some(Mirror {
                        room: room.clone(),
                        seq: *seq,
                        state: state.clone(),
                    });
                }
                (Some(sm), _) => sm.feed(&m),
                _ => {}
            }
        }
        if slow_mirror
            .as_ref()
            .is_some_and(|m| m.seq >= mirror.seq + 5)
        {
            break;
        }
        sleep(Duration::from_millis(5)).await;
    }
    assert!(
        slow_mirror.is_some(),
        "a lagging reader is resynced with a snapshot"
    );

    // The one that never reads is dropped after slow_kick (400 ms); the
    // slow one keeps reading now and keeps its seat.
    for _ in 0..50 {
        sleep(Duration::from_millis(10)).await;
        slow.drain();
    }
    let dropped = std::iter::from_fn(|| events.try_recv().ok())
        .any(|e| matches!(e, PlazaEvent::SeatClosed { seat, .. } if seat == stuck_seat));
    assert!(dropped, "a reader stuck past slow_kick loses its seat");
    assert_eq!(mgr.list(Some("arena"))[0].clients, 2);
    let before = mirror.seq;
    sleep(Duration::from_millis(50)).await;
    for m in fast_client.drain() {
        mirror.feed(&m);
    }
    assert!(mirror.seq > before, "and the room is still ticking");
}

/// `msg set {path: "board/n", value: i}` for the shared room type.
fn set_n(room: &str, i: i64) -> ClientMsg {
    msg(
        room,
        "set",
        map(&[("path", s("board/n")), ("value", Value::Int(i))]),
    )
}

#[tokio::test]
async fn a_busy_room_answers_room_busy() {
    let (mgr, _events) = manager_with(
        vec![fast("shared", plaza::room::BuiltinKind::Shared)],
        |c| c.queue_capacity = 16,
    );
    let mut a = TestClient::new("a", "0xa");
    mgr.dispatch(&a.client, join_or_create("shared", 1, &[]))
        .await;
    let (room, ..) = a.joined().await;
    let set = |i: i64| set_n(&room, i);
    let busy = |a: &mut TestClient| {
        a.drain()
            .into_iter()
            .filter(|m| {
                matches!(m, ServerMsg::Error { code, retryable: true, .. } if code == "room_busy")
            })
            .count()
    };
    // A free room applies each message in place: no queue, never busy.
    for i in 0..40 {
        mgr.dispatch(&a.client, set(i)).await;
    }
    assert_eq!(busy(&mut a), 0);
    // dispatch never awaits the actor: on this single-threaded runtime the
    // room cannot drain its queue until we yield. Queued commands (resyncs)
    // fill it; messages then wait behind them (order is the queue's), and
    // those that do not fit are refused.
    for _ in 0..16 {
        mgr.dispatch(&a.client, ClientMsg::Resync { room: room.clone() })
            .await;
    }
    for i in 0..24 {
        mgr.dispatch(&a.client, set(100 + i)).await;
    }
    assert_eq!(busy(&mut a), 24);
}

/// A message sent right behind a queued command is applied after it, not
/// in place ahead of it: the snapshot a `resync` answers with holds the
/// value set before it and not the one set after.
#[tokio::test]
async fn a_message_behind_a_queued_command_keeps_its_order() {
    let (mgr, _events) = manager_with(
        vec![fast("shared", plaza::room::BuiltinKind::Shared)],
        |_| {},
    );
    let mut a = TestClient::new("a", "0xa");
    mgr.dispatch(&a.client, join_or_create("shared", 1, &[]))
        .await;
    let (room, ..) = a.joined().await;
    let set = |i: i64| set_n(&room, i);
    mgr.dispatch(&a.client, set(1)).await;
    mgr.dispatch(&a.client, ClientMsg::Resync { room: room.clone() })
        .await;
    mgr.dispatch(&a.client, set(2)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let state = loop {
        let found = a.drain().into_iter().find_map(|m| match m {
            ServerMsg::Snapshot { state, .. } => Some(state),
            _ => None,
        });
        if let Some(state) = found {
            break state;
        }
        assert!(tokio::time::Instant::now() < deadline, "no snapshot");
        sleep(Duration::from_millis(5)).await;
    };
    let n = state
        .as_map()
        .and_then(|m| m.get("board"))
        .and_then(|b| b.as_map())
        .and_then(|b| b.get("n"))
        .cloned();
    assert_eq!(n, Some(Value::Int(1)), "snapshot {state:?}");
}

// ---------------------------------------------------------------- lifecycle

/// A custom room that refuses joins from wallets named in its options and
/// counts its dispose calls.
struct Guarded {
    disposed: Arc<AtomicUsize>,
}

impl RoomLogic for Guarded {
    fn join(
        &mut self,
        _ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        options: &Options,
    ) -> Result<(), RoomError> {
        if options.get("deny") == Some(&Value::Str(client.address().to_owned())) {
            return Err(RoomError::custom("denied", "not on the list"));
        }
        Ok(())
    }
    fn message(
        &mut self,
        _ctx: &mut RoomCtx<'_>,
        _c: &RoomClient,
        _k: &str,
        _d: Value,
    ) -> Result<(), RoomError> {
        Ok(())
    }
    fn dispose(&mut self, _ctx: &mut RoomCtx<'_>) {
        self.disposed.fetch_add(1, Ordering::SeqCst);
    }
}

fn guarded_manager() -> (RoomManager, EventQueue, Arc<AtomicUsize>) {
    let (mgr, events) = manager_with(vec![], |_| {});
    let disposed = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&disposed);
    let options = RoomOptions {
        empty_grace_ms: 150,
        first_join_timeout_ms: 30,
        patch_rate_hz: 100,
        ..RoomOptions::default()
    };
    mgr.register(
        "guarded",
        options,
        Arc::new(move || {
            Box::new(Guarded {
                disposed: Arc::clone(&d),
            }) as Box<dyn RoomLogic>
        }),
    );
    (mgr, events, disposed)
}

#[tokio::test]
async fn dispose_runs_when_empty_and_when_never_joined() {
    let (mgr, _events, disposed) = guarded_manager();
    let mut a = TestClient::new("a", "0xa");
    // The creator's own join is refused: the room is never joined.
    let deny = BTreeMap::from([("deny".to_owned(), s("0xa"))]);
    mgr.dispatch(
        &a.client,
        ClientMsg::Create {
            rid: 1,
            kind: "guarded".into(),
            options: deny.clone(),
            private: false,
        },
    )
    .await;
    let (code, message) = a.error().await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("denied", "not on the list")
    );
    assert_eq!(mgr.room_count(), 1);
    sleep(Duration::from_millis(100)).await;
    assert_eq!(
        mgr.room_count(),
        0,
        "never-joined room disposed after first_join_timeout"
    );
    assert_eq!(disposed.load(Ordering::SeqCst), 1);

    mgr.dispatch(&a.client, join_or_create("guarded", 2, &[]))
        .await;
    let (room, ..) = a.joined().await;
    mgr.dispatch(&a.client, ClientMsg::Leave { room }).await;
    sleep(Duration::from_millis(10)).await;
    assert_eq!(mgr.room_count(), 1, "kept during the empty grace");
    sleep(Duration::from_millis(400)).await;
    assert_eq!(mgr.room_count(), 0, "disposed after the empty grace");
    assert_eq!(disposed.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn shutdown_disposes_every_room() {
    let (mgr, mut events, disposed) = guarded_manager();
    let mut a = TestClient::new("a", "0xa");
    let mut b = TestClient::new("b", "0xb");
    mgr.dispatch(&a.client, join_or_create("guarded", 1, &[]))
        .await;
    a.joined().await;
    mgr.dispatch(&b.client, join_or_create("arena", 2, &[]))
        .await;
    b.joined().await;
    timeout(Duration::from_secs(5), mgr.shutdown())
        .await
        .expect("shutdown finishes");
    assert_eq!(mgr.room_count(), 0);
    assert_eq!(disposed.load(Ordering::SeqCst), 1);
    assert!(
        matches!(a.next_non_patch().await, ServerMsg::Left { reason, .. } if reason == "disposed")
    );
    assert!(
        matches!(b.next_non_patch().await, ServerMsg::Left { reason, .. } if reason == "disposed")
    );
    let closed = std::iter::from_fn(|| events.try_recv().ok())
        .filter(|e| matches!(e, PlazaEvent::SeatClosed { .. }))
        .count();
    assert_eq!(closed, 2);
    mgr.dispatch(&a.client, join_or_create("arena", 3, &[]))
        .await;
    assert_eq!(a.error().await.0, "shutting_down");
}

#[tokio::test]
async fn lobby_gets_the_list_then_updates_and_removals() {
    let (mgr, _events, _) = guarded_manager();
    let mut watcher = TestClient::new("w", "0xw");
    let mut a = TestClient::new("a", "0xa");
    let mut b = TestClient::new("b", "0xb");
    mgr.dispatch(&a.client, join_or_create("guarded", 1, &[("mode", s("x"))]))
        .await;
    let (room, ..) = a.joined().await;
    mgr.dispatch(
        &watcher.client,
        ClientMsg::Lobby {
            kind: Some("guarded".into()),
        },
    )
    .await;
    match watcher.next().await {
        ServerMsg::LobbyList { rooms } => {
            assert_eq!(rooms.len(), 1);
            assert_eq!(
                (rooms[0].room.as_str(), rooms[0].clients),
                (room.as_str(), 1)
            );
            assert_eq!(rooms[0].metadata.get("mode"), Some(&s("x")));
        }
        other => panic!("expected lobbyList, got {other:?}"),
    }
    mgr.dispatch(
        &b.client,
        ClientMsg::Join {
            rid: 2,
            room: room.clone(),
            options: BTreeMap::new(),
        },
    )
    .await;
    b.joined().await;
    let update = loop {
        if let ServerMsg::LobbyUpdate { info } = watcher.next().await {
            if info.clients == 2 {
                break info;
            }
        }
    };
    assert_eq!(update.room, room);
    // A new room of the type is announced once its creator is seated.
    let mut d = TestClient::new("d", "0xd");
    mgr.dispatch(&d.client, join_or_create("guarded", 4, &[("mode", s("y"))]))
        .await;
    let (added, ..) = d.joined().await;
    match watcher.next().await {
        ServerMsg::LobbyUpdate { info } => {
            assert_eq!((info.room.as_str(), info.clients), (added.as_str(), 1));
            assert_eq!(info.metadata.get("mode"), Some(&s("y")));
        }
        other => panic!("expected lobbyUpdate for the new room, got {other:?}"),
    }
    // Other types are filtered out.
    let mut c = TestClient::new("c", "0xc");
    mgr.dispatch(&c.client, join_or_create("arena", 3, &[]))
        .await;
    c.joined().await;
    mgr.dispatch(&a.client, ClientMsg::Leave { room: room.clone() })
        .await;
    mgr.dispatch(&b.client, ClientMsg::Leave { room: room.clone() })
        .await;
    loop {
        match watcher.next().await {
            ServerMsg::LobbyUpdate { info } => assert_eq!(info.kind, "guarded"),
            ServerMsg::LobbyRemove { room: gone } => {
                assert_eq!(gone, room);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    mgr.dispatch(&watcher.client, ClientMsg::Unlobby {}).await;
}

#[tokio::test]
async fn room_logic_awards_scores_through_events() {
    let arena = RoomTypeConfig {
        award_leaderboard: Some("arena-moves".into()),
        ..fast("arena", plaza::room::BuiltinKind::Arena)
    };
    let (mgr, mut events) = manager_with(vec![arena], |_| {});
    let mut a = TestClient::new("a", "0xa");
    mgr.dispatch(&a.client, join_or_create("arena", 1, &[]))
        .await;
    let (room, seat, ..) = a.joined().await;
    for _ in 0..3 {
        mgr.dispatch(
            &a.client,
            msg(
                &room,
                "move",
                map(&[("x", Value::Int(1)), ("y", Value::Int(1))]),
            ),
        )
        .await;
    }
    mgr.dispatch(&a.client, ClientMsg::Leave { room }).await;
    sleep(Duration::from_millis(20)).await;
    let award = std::iter::from_fn(|| events.try_recv().ok()).find_map(|e| match e {
        PlazaEvent::Award {
            leaderboard,
            address,
            score,
            seat,
            ..
        } => Some((leaderboard, address, score, seat)),
        _ => None,
    });
    assert_eq!(award, Some(("arena-moves".into(), "0xa".into(), 3, seat)));
}

/// A custom room exercising the create refusal, timers, broadcasts, the
/// room clock and kicks.
struct Probe;

impl RoomLogic for Probe {
    fn create(&mut self, ctx: &mut RoomCtx<'_>, options: &Options) -> Result<(), RoomError> {
        if options.contains_key("fail") {
            return Err(RoomError::custom("probe_failed", "asked to fail"));
        }
        ctx.schedule(Duration::from_millis(30), 7);
        Ok(())
    }
    fn message(
        &mut self,
        ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        kind: &str,
        _d: Value,
    ) -> Result<(), RoomError> {
        match kind {
            "kickme" => {
                ctx.kick(client, "kicked");
                Ok(())
            }
            _ => Err(RoomError::InvalidMessage(kind.to_owned())),
        }
    }
    fn timer(&mut self, ctx: &mut RoomCtx<'_>, tag: u64) {
        let at = ctx.now().as_millis() as i64;
        let _ = ctx.doc().set(
            &[plaza_protocol::state::Seg::Key("fired".into())],
            Value::Int(tag as i64),
        );
        ctx.broadcast("timer", Value::Int(at));
    }
}

#[tokio::test]
async fn custom_room_create_refusal_timers_and_kicks() {
    let (mgr, mut events) = manager_with(vec![], |_| {});
    let options = RoomOptions {
        patch_rate_hz: 100,
        ..RoomOptions::default()
    };
    mgr.register(
        "probe",
        options,
        Arc::new(|| Box::new(Probe) as Box<dyn RoomLogic>),
    );
    let mut a = TestClient::new("a", "0xa");

    let fail = BTreeMap::from([("fail".to_owned(), Value::Bool(true))]);
    mgr.dispatch(
        &a.client,
        ClientMsg::Create {
            rid: 1,
            kind: "probe".into(),
            options: fail,
            private: false,
        },
    )
    .await;
    assert_eq!(a.error().await.0, "probe_failed");
    sleep(Duration::from_millis(10)).await;
    assert_eq!(
        mgr.room_count(),
        0,
        "a room whose create hook fails is gone"
    );

    mgr.dispatch(&a.client, join_or_create("probe", 2, &[]))
        .await;
    let (room, seat, ..) = a.joined().await;
    let mut got_patch = false;
    let mut got_timer = false;
    while !(got_patch && got_timer) {
        match a.next().await {
            ServerMsg::Patch { ops, .. } => {
                assert_eq!(
                    ops,
                    vec![plaza_protocol::state::Op::Set(
                        vec![plaza_protocol::state::Seg::Key("fired".into())],
                        Value::Int(7)
                    )]
                );
                got_patch = true;
            }
            ServerMsg::Msg { kind, data, .. } => {
                assert_eq!(kind, "timer");
                assert!(
                    data.as_i64().is_some_and(|ms| ms >= 30),
                    "room clock past the timer: {data:?}"
                );
                got_timer = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    mgr.dispatch(&a.client, msg(&room, "kickme", Value::Null))
        .await;
    assert!(matches!(a.next().await, ServerMsg::Left { reason, .. } if reason == "kicked"));
    sleep(Duration::from_millis(10)).await;
    let closed = std::iter::from_fn(|| events.try_recv().ok())
        .any(|e| matches!(e, PlazaEvent::SeatClosed { seat: s, .. } if s == seat));
    assert!(closed);
}

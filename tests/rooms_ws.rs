//! Rooms over real WebSockets: join-or-create, patches that converge to the
//! server's state in every client's mirror, ping/pong through the arena,
//! resume replaying missed patches, write rules of the `shared` room.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::*;
use plaza_protocol::state::{apply_all, Seg, Value};
use plaza_protocol::{ClientMsg, Format, ServerMsg};

struct Mirror {
    room: String,
    seat: String,
    seq: u64,
    state: Value,
}

async fn join_arena(c: &mut Client, rid: u32) -> Mirror {
    c.send(&ClientMsg::JoinOrCreate {
        rid,
        kind: "arena".into(),
        filter: BTreeMap::new(),
        options: BTreeMap::new(),
    })
    .await;
    loop {
        match c.recv().await {
            ServerMsg::Joined {
                rid: r,
                room,
                seat,
                seq,
                state,
                ..
            } => {
                assert_eq!(r, rid);
                return Mirror {
                    room,
                    seat,
                    seq,
                    state,
                };
            }
            ServerMsg::Patch { .. } => continue,
            other => panic!("expected joined, got {other:?}"),
        }
    }
}

/// Applies whatever arrives until `pred` holds on the mirror.
async fn pump_until(c: &mut Client, m: &mut Mirror, pred: impl Fn(&Value) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !pred(&m.state) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached"
        );
        match c.recv().await {
            ServerMsg::Patch { room, seq, ops } if room == m.room => {
                if seq <= m.seq {
                    continue;
                }
                assert_eq!(seq, m.seq + 1, "patches arrive with consecutive seqs");
                apply_all(&mut m.state, &ops).expect("patch applies");
                m.seq = seq;
            }
            ServerMsg::Snapshot { room, seq, state } if room == m.room => {
                m.seq = seq;
                m.state = state;
            }
            _ => {}
        }
    }
}

fn player<'a>(state: &'a Value, seat: &str) -> Option<&'a Vec<Value>> {
    let Value::Map(root) = state else { return None };
    let Some(Value::Map(players)) = root.get("players") else {
        return None;
    };
    match players.get(seat) {
        Some(Value::List(v)) => Some(v),
        _ => None,
    }
}

fn score(state: &Value, seat: &str) -> i64 {
    match player(state, seat).and_then(|p| p.get(2)) {
        Some(Value::Int(s)) => *s,
        _ => -1,
    }
}

fn move_msg(room: &str, x: f64, y: f64) -> ClientMsg {
    let mut data = BTreeMap::new();
    data.insert("x".to_owned(), Value::Float(x));
    data.insert("y".to_owned(), Value::Float(y));
    ClientMsg::Msg {
        room: room.to_owned(),
        kind: "move".into(),
        data: Value::Map(data),
    }
}

async fn snapshot(c: &mut Client, room: &str) -> (u64, Value) {
    c.send(&ClientMsg::Resync {
        room: room.to_owned(),
    })
    .await;
    loop {
        if let ServerMsg::Snapshot {
            room: r,
            seq,
            state,
        } = c.recv().await
        {
            if r == room {
                return (seq, state);
            }
        }
    }
}

#[tokio::test]
async fn arena_patches_converge_across_clients_and_formats() {
    let server = TestServer::start().await;
    let (mut a, _) = Client::authed(&server, &identity(), Format::MsgPack).await;
    let (mut b, _) = Client::authed(&server, &identity(), Format::Json).await;
    let mut ma = join_arena(&mut a, 1).await;
    let mut mb = join_arena(&mut b, 1).await;
    assert_eq!(ma.room, mb.room, "join-or-create fills the open room");
    assert_ne!(ma.seat, mb.seat);

    a.send(&move_msg(&ma.room, 1500.0, -3.0)).await;
    a.send(&move_msg(&ma.room, 10.25, 20.5)).await;
    b.send(&move_msg(&mb.room, 7.0, 8.0)).await;
    let (sa, sb) = (ma.seat.clone(), mb.seat.clone());
    pump_until(&mut a, &mut ma, |s| {
        score(s, &sa) == 2 && score(s, &sb) == 1
    })
    .await;
    pump_until(&mut b, &mut mb, |s| {
        score(s, &sa) == 2 && score(s, &sb) == 1
    })
    .await;
    let pa = player(&ma.state, &sa).expect("a's player");
    assert_eq!(pa[0], Value::Float(10.25));
    assert_eq!(pa[1], Value::Float(20.5));

    // Each mirror equals the server's document: ask for a snapshot and
    // compare it with the mirror built from every patch queued before it.
    for (c, m) in [(&mut a, &mut ma), (&mut b, &mut mb)] {
        c.send(&ClientMsg::Resync {
            room: m.room.clone(),
        })
        .await;
        loop {
            match c.recv().await {
                ServerMsg::Patch { room, seq, ops } if room == m.room && seq == m.seq + 1 => {
                    apply_all(&mut m.state, &ops).expect("apply");
                    m.seq = seq;
                }
                ServerMsg::Snapshot { room, seq, state } if room == m.room => {
                    assert_eq!(seq, m.seq, "snapshot follows the patches before it");
                    assert_eq!(state, m.state, "mirror equals the server's document");
                    break;
                }
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn arena_ping_is_answered_to_the_sender() {
    let server = TestServer::start().await;
    let (mut a, _) = Client::authed(&server, &identity(), Format::MsgPack).await;
    let m = join_arena(&mut a, 9).await;
    a.send(&ClientMsg::Msg {
        room: m.room.clone(),
        kind: "ping".into(),
        data: Value::Float(123.5),
    })
    .await;
    loop {
        match a.recv().await {
            ServerMsg::Msg { room, kind, data } => {
                assert_eq!((room.as_str(), kind.as_str()), (m.room.as_str(), "pong"));
                assert_eq!(data, Value::Float(123.5));
                break;
            }
            ServerMsg::Patch { .. } => continue,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn rooms_are_listed_over_http() {
    let server = TestServer::start().await;
    let (mut a, _) = Client::authed(&server, &identity(), Format::MsgPack).await;
    let m = join_arena(&mut a, 1).await;
    let body: serde_json::Value = reqwest::get(server.http_url("/v1/rooms?type=arena"))
        .await
        .expect("rooms")
        .json()
        .await
        .expect("json");
    let rooms = body["rooms"].as_array().expect("rooms array");
    assert!(
        rooms
            .iter()
            .any(|r| r["room"] == m.room.as_str() && r["clients"] == 1),
        "{body}"
    );
    let none: serde_json::Value = reqwest::get(server.http_url("/v1/rooms?type=nope"))
        .await
        .expect("rooms")
        .json()
        .await
        .expect("json");
    assert_eq!(none["rooms"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn resume_replays_missed_patches() {
    let server = TestServer::start().await;
    let id = identity();
    let (mut a, welcome) = Client::authed(&server, &id, Format::MsgPack).await;
    let ServerMsg::Welcome { resume_token, .. } = welcome else {
        unreachable!()
    };
    let (mut b, _) = Client::authed(&server, &identity(), Format::MsgPack).await;
    let mut ma = join_arena(&mut a, 1).await;
    let mut mb = join_arena(&mut b, 1).await;
    let sb = mb.seat.clone();
    pump_until(&mut a, &mut ma, |_| true).await;
    let last = ma.seq;
    drop(a);
    // B keeps playing while A is away.
    for i in 0..5 {
        b.send(&move_msg(&mb.room, f64::from(i), 1.0)).await;
    }
    pump_until(&mut b, &mut mb, |s| score(s, &sb) == 5).await;

    let mut a2 = Client::connect(&server.ws_url(), Format::MsgPack).await;
    let _ = a2.recv().await;
    let mut rooms = BTreeMap::new();
    rooms.insert(ma.room.clone(), last);
    a2.send(&ClientMsg::Resume {
        token: resume_token,
        rooms,
    })
    .await;
    let mut resumed_rooms = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while resumed_rooms.is_none() || score(&ma.state, &sb) < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "resume did not converge"
        );
        match a2.recv().await {
            ServerMsg::Patch { room, seq, ops } if room == ma.room => {
                if seq == ma.seq + 1 {
                    apply_all(&mut ma.state, &ops).expect("apply");
                    ma.seq = seq;
                } else {
                    assert!(seq <= ma.seq, "gap after resume: {} -> {seq}", ma.seq);
                }
            }
            ServerMsg::Snapshot { room, seq, state } if room == ma.room => {
                ma.seq = seq;
                ma.state = state;
            }
            ServerMsg::Resumed { rooms, .. } => resumed_rooms = Some(rooms),
            _ => {}
        }
    }
    assert_eq!(resumed_rooms, Some(vec![ma.room.clone()]));
    assert_eq!(
        player(&ma.state, &sb),
        player(&mb.state, &sb).or(player(&ma.state, &sb))
    );
    assert!(
        player(&ma.state, &ma.seat).is_some(),
        "A's seat was held during the drop"
    );
}

#[tokio::test]
async fn shared_room_enforces_write_rules() {
    let server = TestServer::start().await;
    let id = identity();
    let (mut a, _) = Client::authed(&server, &id, Format::Json).await;
    a.send(&ClientMsg::JoinOrCreate {
        rid: 1,
        kind: "shared".into(),
        filter: BTreeMap::new(),
        options: BTreeMap::new(),
    })
    .await;
    let room = loop {
        if let ServerMsg::Joined { room, .. } = a.recv().await {
            break room;
        }
    };
    let me = id.address().to_lowercase();
    let mut data = BTreeMap::new();
    data.insert("path".to_owned(), Value::Str(format!("players/{me}/name")));
    data.insert("value".to_owned(), Value::Str("ana".into()));
    a.send(&ClientMsg::Req {
        rid: 2,
        room: room.clone(),
        kind: "set".into(),
        data: Value::Map(data),
    })
    .await;
    let mut data = BTreeMap::new();
    data.insert(
        "path".to_owned(),
        Value::Str("players/0xsomeoneelse/name".into()),
    );
    data.insert("value".to_owned(), Value::Str("mallory".into()));
    a.send(&ClientMsg::Req {
        rid: 3,
        room: room.clone(),
        kind: "set".into(),
        data: Value::Map(data),
    })
    .await;
    let mut answers: HashMap<u32, ServerMsg> = HashMap::new();
    while answers.len() < 2 {
        match a.recv().await {
            m @ ServerMsg::Res { rid, .. } => {
                answers.insert(rid, m);
            }
            m @ ServerMsg::Error { rid: Some(rid), .. } => {
                answers.insert(rid, m);
            }
            _ => {}
        }
    }
    assert!(
        matches!(answers.get(&2), Some(ServerMsg::Res { .. })),
        "{answers:?}"
    );
    match answers.get(&3) {
        Some(ServerMsg::Error { code, message, .. }) => {
            assert_eq!(code, "write_refused");
            assert!(
                message.contains("players/"),
                "the error names the rule: {message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let (_, state) = snapshot(&mut a, &room).await;
    let name = state_get(&state, &["players", &me, "name"]);
    assert_eq!(name, Some(&Value::Str("ana".into())));
    assert!(state_get(&state, &["players", "0xsomeoneelse"]).is_none());
}

fn state_get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let segs: Vec<Seg> = path.iter().map(|k| Seg::Key((*k).to_owned())).collect();
    let mut cur = v;
    for s in &segs {
        let (Value::Map(m), Seg::Key(k)) = (cur, s) else {
            return None;
        };
        cur = m.get(k)?;
    }
    Some(cur)
}

//! A custom room type in Rust: `clicker`, a timed clicking contest.
//!
//! Run with `cargo run --example custom_room`. It builds a `RoomManager`
//! with the built-in types plus `clicker`, seats two in-process clients
//! (what the gateway does for real sockets), plays a three-second round and
//! prints every message the clients receive, as JSON.
//!
//! The room shows each hook: `create` sets the initial document and starts
//! the round timer, `join` refuses a bad team option, `message` counts
//! clicks, `request` answers the current leader, `timer` ends the round and
//! awards the winner through the events channel, `leave`/`dispose` clean up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use plaza::auth::{AuthMethod, ChainKind, Identity, SceneMetadata};
use plaza::events::EventSink;
use plaza::outbox::{Outbox, Outgoing};
use plaza::room::{
    ClientRef, Options, RoomClient, RoomCtx, RoomError, RoomLogic, RoomManager, RoomOptions,
    RoomsConfig,
};
use plaza_protocol::state::{Seg, Value};
use plaza_protocol::{encode, ClientMsg, Format};

/// Round length; the timer tag says which round ended.
const ROUND: Duration = Duration::from_secs(3);

#[derive(Default)]
struct Clicker {
    round: i64,
    /// Clicks per seat in the current round.
    clicks: BTreeMap<Arc<str>, i64>,
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

fn state_err(e: impl std::fmt::Display) -> RoomError {
    RoomError::State(e.to_string())
}

impl Clicker {
    fn leader(&self) -> Option<(&Arc<str>, i64)> {
        self.clicks
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(seat, n)| (seat, *n))
    }
}

impl RoomLogic for Clicker {
    fn create(&mut self, ctx: &mut RoomCtx<'_>, options: &Options) -> Result<(), RoomError> {
        let title = options
            .get("title")
            .cloned()
            .unwrap_or_else(|| Value::Str("clicker".into()));
        let doc = ctx.doc();
        doc.set(&[key("title")], title).map_err(state_err)?;
        doc.set(&[key("round")], Value::Int(1)).map_err(state_err)?;
        doc.set(&[key("clicks")], Value::Map(BTreeMap::new()))
            .map_err(state_err)?;
        self.round = 1;
        ctx.set_metadata("game", Value::Str("clicker".into()));
        ctx.schedule(ROUND, 1);
        Ok(())
    }

    fn join(
        &mut self,
        ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        options: &Options,
    ) -> Result<(), RoomError> {
        match options.get("team").and_then(Value::as_str) {
            Some("red" | "blue") => {}
            _ => {
                return Err(RoomError::custom(
                    "bad_team",
                    "join with options.team = \"red\" or \"blue\"",
                ))
            }
        }
        self.clicks.insert(Arc::clone(&client.seat), 0);
        let path = [key("clicks"), Seg::Key(client.seat.to_string())];
        ctx.doc().set(&path, Value::Int(0)).map_err(state_err)
    }

    fn message(
        &mut self,
        ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        kind: &str,
        _data: Value,
    ) -> Result<(), RoomError> {
        if kind != "click" {
            return Err(RoomError::InvalidMessage(format!(
                "unknown message {kind:?}"
            )));
        }
        let n = self.clicks.entry(Arc::clone(&client.seat)).or_default();
        *n += 1;
        let path = [key("clicks"), Seg::Key(client.seat.to_string())];
        ctx.doc().set(&path, Value::Int(*n)).map_err(state_err)
    }

    fn request(
        &mut self,
        _ctx: &mut RoomCtx<'_>,
        _client: &RoomClient,
        kind: &str,
        _data: Value,
    ) -> Result<Value, RoomError> {
        match (kind, self.leader()) {
            ("leader", Some((seat, n))) => Ok(Value::List(vec![
                Value::Str(seat.to_string()),
                Value::Int(n),
            ])),
            ("leader", None) => Ok(Value::Null),
            _ => Err(RoomError::InvalidMessage(format!(
                "unknown request {kind:?}"
            ))),
        }
    }

    fn timer(&mut self, ctx: &mut RoomCtx<'_>, tag: u64) {
        if tag as i64 != self.round {
            return;
        }
        if let Some((seat, n)) = self
            .leader()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (Arc::clone(s), n))
        {
            let winner = ctx.clients().find(|c| c.seat == seat).cloned();
            if let Some(winner) = winner {
                ctx.award(&winner, "clicker", n);
                ctx.broadcast(
                    "roundOver",
                    Value::List(vec![Value::Str(seat.to_string()), Value::Int(n)]),
                );
            }
        }
        self.round += 1;
        for n in self.clicks.values_mut() {
            *n = 0;
        }
        let zeroed = self
            .clicks
            .keys()
            .map(|s| (s.to_string(), Value::Int(0)))
            .collect();
        let doc = ctx.doc();
        let _ = doc.set(&[key("round")], Value::Int(self.round));
        let _ = doc.set(&[key("clicks")], Value::Map(zeroed));
        ctx.schedule(ROUND, self.round as u64);
    }

    fn leave(&mut self, ctx: &mut RoomCtx<'_>, client: &RoomClient, _consented: bool) {
        self.clicks.remove(&client.seat);
        let _ = ctx
            .doc()
            .delete(&[key("clicks"), Seg::Key(client.seat.to_string())]);
    }

    fn dispose(&mut self, ctx: &mut RoomCtx<'_>) {
        println!(
            "[room {}] disposed after round {}",
            ctx.room_id(),
            self.round
        );
    }
}

fn client(session: &str, address: &str) -> (ClientRef, tokio::sync::mpsc::Receiver<Outgoing>) {
    let (outbox, rx) = Outbox::channel(256);
    let identity = Identity {
        address: address.to_owned(),
        chain: ChainKind::Ephemeral,
        metadata: plaza::auth::Metadata::empty(),
        scene: SceneMetadata::default(),
        method: AuthMethod::FirstFrame,
        verified_at_ms: 0,
    };
    (
        ClientRef {
            session_id: Arc::from(session),
            identity: Arc::new(identity),
            outbox,
        },
        rx,
    )
}

/// Prints what a socket writer would send, as JSON text frames.
fn print_all(name: &str, rx: &mut tokio::sync::mpsc::Receiver<Outgoing>) {
    while let Ok(item) = rx.try_recv() {
        let json = match item {
            Outgoing::Msg(m) => encode(&*m, Format::Json).unwrap_or_default().into(),
            Outgoing::Shared(enc) => enc.bytes(Format::Json),
            Outgoing::Close { code, reason } => {
                format!("close {code} {reason}").into_bytes().into()
            }
        };
        println!("{name} <- {}", String::from_utf8_lossy(&json));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (events, mut event_rx) = EventSink::channel();
    let rooms = RoomManager::new(&RoomsConfig::default(), events);
    // 5 patches per second is plenty for a clicking game.
    let options = RoomOptions {
        max_clients: 8,
        patch_rate_hz: 5,
        ..RoomOptions::default()
    };
    rooms.register(
        "clicker",
        options,
        Arc::new(|| Box::new(Clicker::default()) as Box<dyn RoomLogic>),
    );

    let (alice, mut alice_rx) = client(
        "session-alice",
        "0x00000000000000000000000000000000000a11ce",
    );
    let (bob, mut bob_rx) = client("session-bob", "0x0000000000000000000000000000000000000b0b");
    let team = |t: &str| BTreeMap::from([("team".to_owned(), Value::Str(t.to_owned()))]);

    let join = |rid, options| ClientMsg::JoinOrCreate {
        rid,
        kind: "clicker".into(),
        filter: BTreeMap::new(),
        options,
    };
    rooms.dispatch(&alice, join(1, team("red"))).await;
    rooms.dispatch(&bob, join(2, team("green"))).await; // refused: bad_team
    rooms.dispatch(&bob, join(3, team("blue"))).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let room = rooms.list(Some("clicker"))[0].room.clone();
    println!("room {room}: {:?}", rooms.list(Some("clicker"))[0]);

    for i in 0..5 {
        rooms
            .dispatch(
                &alice,
                ClientMsg::Msg {
                    room: room.clone(),
                    kind: "click".into(),
                    data: Value::Null,
                },
            )
            .await;
        if i % 2 == 0 {
            rooms
                .dispatch(
                    &bob,
                    ClientMsg::Msg {
                        room: room.clone(),
                        kind: "click".into(),
                        data: Value::Null,
                    },
                )
                .await;
        }
    }
    rooms
        .dispatch(
            &bob,
            ClientMsg::Req {
                rid: 4,
                room: room.clone(),
                kind: "leader".into(),
                data: Value::Null,
            },
        )
        .await;
    tokio::time::sleep(ROUND + Duration::from_millis(300)).await;

    print_all("alice", &mut alice_rx);
    print_all("bob", &mut bob_rx);
    rooms.shutdown().await;
    print_all("alice", &mut alice_rx);
    while let Ok(event) = event_rx.try_recv() {
        println!("event {event:?}");
    }
}

//! The built-in `arena` room: the benchmark game of `shared/bench/arena.md`.
//!
//! State layout (what the load tool and clients read):
//! `players/<seat> = [x, y, score]` (x, y float32 values, score int) and
//! `world = {tick, playerCount, mapName}`. `move {x, y}` clamps to
//! `[0, 1000]`, stores float32 and adds 1 to score; `ping <f64>` is answered
//! at once with `msg {type:"pong", data:<same>}` to the sender only; every
//! tick does `world.tick += 1`, so every tick sends a patch. Owns only the
//! game rules; seats, patches and timing are the actor's.

use std::sync::Arc;
use std::time::Duration;

use plaza_protocol::state::{Seg, Value};

use super::logic::{Options, RoomClient, RoomCtx, RoomFactory, RoomLogic};
use super::RoomError;

/// World bounds: x and y in `[0, SIZE]`.
pub const SIZE: f64 = 1000.0;
/// `world.mapName`.
pub const MAP_NAME: &str = "arena-1000x1000";

/// Builds arena rooms.
#[derive(Debug, Clone)]
pub struct ArenaFactory {
    award: Option<String>,
}

impl ArenaFactory {
    /// `award`: a leaderboard that receives each player's score when it leaves.
    pub fn new(award: Option<String>) -> Self {
        Self { award }
    }
}

impl RoomFactory for ArenaFactory {
    fn build(&self) -> Box<dyn RoomLogic> {
        Box::new(Arena {
            players: super::FastMap::default(),
            tick: 0,
            award: self.award.clone(),
        })
    }
}

struct Player {
    /// `players/<seat>`, kept so a move allocates no path.
    path: Vec<Seg>,
    score: i64,
}

/// One arena room.
pub struct Arena {
    players: super::FastMap<Arc<str>, Player>,
    tick: i64,
    award: Option<String>,
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Float(f) if f.is_finite() => Some(*f),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

/// A coordinate as stored: clamped to the bounds, narrowed to float32.
fn coord(v: f64) -> Value {
    Value::Float(f64::from(v.clamp(0.0, SIZE) as f32))
}

fn state_err(e: impl std::fmt::Display) -> RoomError {
    RoomError::State(e.to_string())
}

impl Arena {
    fn set_count(&self, ctx: &mut RoomCtx<'_>) -> Result<(), RoomError> {
        let n = Value::Int(self.players.len() as i64);
        ctx.doc()
            .set(&[key("world"), key("playerCount")], n)
            .map_err(state_err)
    }
}

impl RoomLogic for Arena {
    fn create(&mut self, ctx: &mut RoomCtx<'_>, _options: &Options) -> Result<(), RoomError> {
        let world = Value::Map(
            [
                ("tick".to_owned(), Value::Int(0)),
                ("playerCount".to_owned(), Value::Int(0)),
                ("mapName".to_owned(), Value::Str(MAP_NAME.to_owned())),
            ]
            .into_iter()
            .collect(),
        );
        let doc = ctx.doc();
        doc.set(&[key("players")], Value::Map(Default::default()))
            .map_err(state_err)?;
        doc.set(&[key("world")], world).map_err(state_err)
    }

    fn join(
        &mut self,
        ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        _options: &Options,
    ) -> Result<(), RoomError> {
        let i = self.players.len() as u32;
        let x = f64::from(50 + (i % 4) * 300);
        let y = f64::from(50 + ((i / 4) * 300) % 1000);
        let path = vec![key("players"), Seg::Key(client.seat.to_string())];
        ctx.doc()
            .set(&path, Value::List(vec![coord(x), coord(y), Value::Int(0)]))
            .map_err(state_err)?;
        self.players
            .insert(Arc::clone(&client.seat), Player { path, score: 0 });
        self.set_count(ctx)
    }

    fn message(
        &mut self,
        ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        kind: &str,
        data: Value,
    ) -> Result<(), RoomError> {
        match kind {
            "move" => {
                let Value::Map(m) = &data else {
                    metrics::counter!("plaza_arena_bad_moves_total").increment(1);
                    return Err(RoomError::InvalidMessage("move needs {x, y}".into()));
                };
                let (Some(x), Some(y)) = (number(m.get("x")), number(m.get("y"))) else {
                    metrics::counter!("plaza_arena_bad_moves_total").increment(1);
                    return Err(RoomError::InvalidMessage(
                        "move x and y must be finite numbers".into(),
                    ));
                };
                let Some(p) = self.players.get_mut(&client.seat) else {
                    return Err(RoomError::NotInRoom);
                };
                p.score += 1;
                let v = Value::List(vec![coord(x), coord(y), Value::Int(p.score)]);
                ctx.doc().set(&p.path, v).map_err(state_err)
            }
            "ping" => {
                ctx.send(client, "pong", data);
                Ok(())
            }
            other => Err(RoomError::InvalidMessage(format!(
                "unknown arena message {other:?}"
            ))),
        }
    }

    fn tick(&mut self, ctx: &mut RoomCtx<'_>, _dt: Duration) {
        self.tick += 1;
        if let Err(e) = ctx
            .doc()
            .set(&[key("world"), key("tick")], Value::Int(self.tick))
        {
            tracing::warn!(error = %e, "arena tick not recorded");
        }
    }

    fn leave(&mut self, ctx: &mut RoomCtx<'_>, client: &RoomClient, _consented: bool) {
        let Some(p) = self.players.remove(&client.seat) else {
            return;
        };
        if let Err(e) = ctx.doc().delete(&p.path) {
            tracing::warn!(error = %e, "arena player not removed");
        }
        if let Err(e) = self.set_count(ctx) {
            tracing::warn!(error = %e, "arena playerCount not updated");
        }
        if let (Some(board), true) = (&self.award, p.score > 0) {
            ctx.award(client, board, p.score);
        }
    }
}

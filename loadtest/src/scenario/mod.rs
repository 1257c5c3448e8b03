//! The scenarios and the client task they all share.
//!
//! A run: build a [`Ctx`], spawn N client tasks (at most `join_concurrency`
//! joining at once), move them through [`Phase`]s with one `watch` channel,
//! read the server's `/proc` at the phase edges, and build a report. Every
//! wait is bounded; `main` also holds a hard wall-clock deadline.

pub mod arena;
pub mod idle;
pub mod storm;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use plaza_protocol::{decode, ClientMsg, Format, ServerMsg};
use thiserror::Error;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::cli::{Common, Observe};
use crate::client::{self, JoinOpts, Joined, Ws};
use crate::creds;
use crate::procstat::{self, ProcError, Sample};
use crate::stats::{add, get, Stats};
use crate::target::{Target, TargetError};
use crate::track::{Observer, Rooms, SeatTrack};
use crate::wire::{self, Peek};

/// Why a run could not start or finish.
#[derive(Debug, Error)]
pub enum RunError {
    /// Bad target URL.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// `--server-pid` given but unreadable.
    #[error("server_pid: {0}")]
    Proc(#[from] ProcError),
    /// Bad option value.
    #[error("bad_option: {0}")]
    Option(String),
    /// The HTTP client could not be built.
    #[error("http_client: {0}")]
    Http(String),
}

/// Where the clients are in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Joining (and idling once joined).
    Join,
    /// Sending moves and pings.
    Send,
    /// Sending stopped; still reading.
    Quiet,
    /// Leave the room and close.
    Leave,
}

/// Shared by every client task of a run.
#[derive(Debug)]
pub struct Ctx {
    /// Options.
    pub common: Common,
    /// The server.
    pub target: Target,
    /// Counters and histograms.
    pub stats: Arc<Stats>,
    /// Room trackers.
    pub rooms: Rooms,
    /// HTTP client (tickets).
    pub http: reqwest::Client,
    /// Metadata JSON signed into headers.
    pub metadata: String,
    /// Every joined seat's move ring (for `unackedAtEnd`).
    pub seats: Mutex<Vec<Arc<SeatTrack>>>,
    phase_name: Mutex<&'static str>,
    progress_stop: AtomicBool,
}

impl Ctx {
    /// Checks the options and builds the context.
    pub fn new(common: Common) -> Result<Arc<Ctx>, RunError> {
        let target = Target::parse(&common.url)?;
        if common.clients == 0 {
            return Err(RunError::Option("--clients must be at least 1".into()));
        }
        if common.join_concurrency == 0 {
            return Err(RunError::Option(
                "--join-concurrency must be at least 1".into(),
            ));
        }
        let metadata = common
            .metadata
            .clone()
            .unwrap_or_else(|| creds::DEFAULT_METADATA.to_owned());
        if serde_json::from_str::<serde_json::Value>(&metadata).is_err() {
            return Err(RunError::Option("--metadata is not JSON".into()));
        }
        if let Some(pid) = common.server_pid {
            procstat::sample(Some(pid))?;
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(common.join_concurrency)
            .build()
            .map_err(|e| RunError::Http(e.to_string()))?;
        Ok(Arc::new(Ctx {
            common,
            target,
            stats: Arc::new(Stats::new()),
            rooms: Rooms::default(),
            http,
            metadata,
            seats: Mutex::default(),
            phase_name: Mutex::new("start"),
            progress_stop: AtomicBool::new(false),
        }))
    }

    /// Names the current phase in progress lines.
    pub fn set_phase_name(&self, name: &'static str) {
        *self.phase_name.lock().unwrap_or_else(|p| p.into_inner()) = name;
    }

    /// Server sample, when a pid was given (a vanished server reads as None).
    pub fn server_sample(&self) -> Option<Sample> {
        self.common
            .server_pid
            .and_then(|p| procstat::sample(Some(p)).ok())
    }

    /// Prints a progress line every `progress_s` until [`Ctx::stop_progress`].
    pub fn start_progress(self: &Arc<Self>, scenario: &'static str) {
        if self.common.quiet || self.common.progress_s <= 0.0 {
            return;
        }
        let ctx = self.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let mut iv = tokio::time::interval(Duration::from_secs_f64(ctx.common.progress_s));
            iv.tick().await;
            loop {
                iv.tick().await;
                if ctx.progress_stop.load(Ordering::Relaxed) {
                    break;
                }
                let s = &ctx.stats;
                let phase = *ctx.phase_name.lock().unwrap_or_else(|p| p.into_inner());
                let w = s.window_counts();
                let lat = s.latency();
                eprintln!(
                    "[{scenario} {}] t={:.0}s phase={phase} joined={}/{} failed={} rooms={} moves={} patches={} lat_p99={} errors={:?}",
                    ctx.common.label,
                    start.elapsed().as_secs_f64(),
                    get(&s.c.joined),
                    ctx.common.clients,
                    get(&s.c.join_failed),
                    ctx.rooms.len(),
                    w.moves,
                    w.patches,
                    lat.quantile_ms(0.99).map(|v| format!("{v:.1}ms")).unwrap_or_else(|| "-".into()),
                    s.errors(),
                );
            }
        });
    }

    /// Stops the progress lines.
    pub fn stop_progress(&self) {
        self.progress_stop.store(true, Ordering::Relaxed);
    }

    fn join_opts(&self, join: bool) -> JoinOpts {
        JoinOpts {
            room_type: join.then(|| self.common.room_type.clone()),
            timeout: Duration::from_secs_f64(self.common.join_timeout_s.max(0.1)),
        }
    }
}

/// What the clients of a run do once joined.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Join a room (else authenticate only).
    pub join: bool,
    /// Who decodes patches (`None`: nobody, e.g. idle and storm).
    pub observe: Option<Observe>,
    /// Moves per second per client in [`Phase::Send`].
    pub rate: f64,
    /// Pings per second per client in [`Phase::Send`].
    pub ping_rate: f64,
    /// Sign every handshake before the first connect (storm: the burst then
    /// measures the server, not the load tool's signing). Otherwise each
    /// client signs right before its join (headers stay fresh on long joins).
    pub presign: bool,
}

/// The clients of one run or burst.
pub struct Clients {
    /// Client tasks.
    pub tasks: Vec<JoinHandle<()>>,
    /// Phase control.
    pub phase: watch::Sender<Phase>,
    /// When the first client was let go (after all signing).
    pub started: Instant,
}

impl Clients {
    /// Moves every client to `p`.
    pub fn set(&self, p: Phase) {
        let _ = self.phase.send(p);
    }

    /// Tells every client to leave, and waits for them (at most `limit`).
    pub async fn leave(self, limit: Duration) {
        self.set(Phase::Leave);
        let all = futures_util::future::join_all(self.tasks);
        let _ = tokio::time::timeout(limit, all).await;
    }
}

/// Spawns `n` clients following `plan`; they start joining at once.
/// Identities (and, with `plan.presign`, every handshake) are signed before
/// the first client starts: [`Clients::started`] is taken after that.
pub fn spawn_clients(ctx: &Arc<Ctx>, plan: &Arc<Plan>, n: usize) -> Clients {
    let (tx, rx) = watch::channel(Phase::Join);
    let now = creds::unix_ms();
    let prepared: Vec<_> = (0..n)
        .map(|_| {
            // One signature: the wallet delegating its ephemeral key.
            let id = creds::new_identity(now);
            let pre = plan.presign.then(|| {
                creds::handshake(ctx.common.handshake, &id, &ctx.target, &ctx.metadata, now)
            });
            (id, pre)
        })
        .collect();
    let sem = Arc::new(Semaphore::new(ctx.common.join_concurrency));
    let started = Instant::now();
    let tasks = prepared
        .into_iter()
        .map(|(id, pre)| {
            let (ctx, plan, sem, rx) = (ctx.clone(), plan.clone(), sem.clone(), rx.clone());
            tokio::spawn(async move {
                let Ok(permit) = sem.acquire_owned().await else {
                    return;
                };
                let hs = pre.unwrap_or_else(|| {
                    creds::handshake(
                        ctx.common.handshake,
                        &id,
                        &ctx.target,
                        &ctx.metadata,
                        creds::unix_ms(),
                    )
                });
                let joined =
                    client::connect(&ctx.target, &hs, &ctx.join_opts(plan.join), &ctx.http).await;
                drop(permit);
                match joined {
                    Ok(j) => {
                        add(&ctx.stats.c.joined, 1);
                        ctx.stats.record_join(j.elapsed.as_secs_f64() * 1000.0);
                        drive(ctx, plan, j, rx).await;
                    }
                    Err(e) => {
                        add(&ctx.stats.c.join_failed, 1);
                        ctx.stats.error(&e.kind());
                    }
                }
            })
        })
        .collect();
    Clients {
        tasks,
        phase: tx,
        started,
    }
}

/// How long a join phase may take so that the phases after it (`after_s`)
/// and the report still fit in `--max-wall-s`: a slow server cuts the join
/// phase short (the clients still out count as not joined) instead of the
/// hard deadline killing the run with no report.
pub fn join_budget(common: &Common, after_s: f64) -> Duration {
    /// Leave, report and process exit.
    const MARGIN_S: f64 = 15.0;
    Duration::from_secs_f64((common.max_wall_s - after_s - MARGIN_S).max(1.0))
}

/// Waits until every one of `n` clients joined or failed (or `limit`).
pub async fn wait_joined(ctx: &Ctx, n: usize, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    loop {
        let s = &ctx.stats.c;
        if (get(&s.joined) + get(&s.join_failed)) as usize >= n {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Pends forever on `None`.
async fn tick(iv: &mut Option<Interval>) {
    match iv {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// An interval of `hz` starting at a uniformly random phase in one period.
fn phased_interval(hz: f64) -> Option<Interval> {
    if hz <= 0.0 || !hz.is_finite() {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / hz);
    let offset = period.mul_f64(fastrand::f64());
    let mut iv = interval_at(Instant::now() + offset, period);
    // Like setInterval: a late tick shifts the schedule rather than bursting.
    iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
    Some(iv)
}

/// What a frame meant for the client loop.
enum Flow {
    Continue,
    Resync,
    Closed,
}

struct ClientState {
    ctx: Arc<Ctx>,
    room: Option<String>,
    observer: Option<Observer>,
    eager: bool,
    track: Arc<SeatTrack>,
}

impl ClientState {
    fn on_frame(
        &mut self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Flow {
        let stats = &self.ctx.stats;
        let bytes: Bytes = match frame {
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Text(t))) => Bytes::copy_from_slice(t.as_bytes()),
            Some(Ok(Message::Close(_))) | None => return Flow::Closed,
            Some(Ok(_)) => return Flow::Continue,
            Some(Err(_)) => return Flow::Closed,
        };
        let measuring = stats.measuring();
        let len = bytes.len() as u64;
        if measuring {
            add(&stats.c.frames_in_win, 1);
            add(&stats.c.bytes_in_win, len);
        }
        let kind = wire::peek(&bytes);
        if kind == Peek::Patch {
            if measuring {
                add(&stats.c.patches_win, 1);
                add(&stats.c.patch_bytes_win, len);
            }
            if self.observer.is_none() {
                return Flow::Continue;
            }
        }
        let msg: ServerMsg = match decode(&bytes, Format::MsgPack) {
            Ok(m) => m,
            Err(_) => {
                add(&stats.c.decode_errors, 1);
                stats.error("decode");
                return Flow::Continue;
            }
        };
        match msg {
            ServerMsg::Patch { seq, ops, .. } => {
                if kind != Peek::Patch && measuring {
                    add(&stats.c.patches_win, 1);
                    add(&stats.c.patch_bytes_win, len);
                }
                if let Some(o) = &mut self.observer {
                    if !o.on_patch(seq, &ops, stats.now_ns(), stats) {
                        return Flow::Resync;
                    }
                }
            }
            ServerMsg::Snapshot { seq, state, .. } => {
                if let Some(o) = &mut self.observer {
                    o.on_snapshot(seq, &state, stats.now_ns(), stats);
                }
            }
            ServerMsg::Msg { kind, data, .. } if measuring && kind == "pong" => {
                add(&stats.c.pongs_win, 1);
                // A lazy reader sees the pong up to lazy_ms late: only
                // eager clients measure the round trip.
                if let (true, plaza_protocol::state::Value::Float(t0)) = (self.eager, data) {
                    stats.record_rtt(stats.now_ns() as f64 / 1e6 - t0);
                }
            }
            ServerMsg::Error { code, .. } => {
                add(&stats.c.server_errors, 1);
                stats.error(&format!("server:{code}"));
            }
            ServerMsg::Left { reason, .. } => {
                add(&stats.c.disconnects, 1);
                stats.error(&format!("left:{reason}"));
                self.observer = None;
            }
            ServerMsg::Shutdown { .. } => {
                stats.error("server_shutdown");
            }
            _ => {}
        }
        Flow::Continue
    }

    async fn send_move(&mut self, ws: &mut Ws) -> Result<(), ()> {
        let Some(room) = &self.room else {
            return Ok(());
        };
        let stats = &self.ctx.stats;
        // arena.md §3: uniform in [-50, 1050], rounded to 0.01.
        let x = ((fastrand::f64() * 1100.0 - 50.0) * 100.0).round() / 100.0;
        let y = ((fastrand::f64() * 1100.0 - 50.0) * 100.0).round() / 100.0;
        let measuring = stats.measuring();
        let frame = wire::encode_move(room, x, y).map_err(|_| ())?;
        let len = frame.len() as u64;
        self.track.record_move(stats.now_ns(), x, y, measuring);
        self.send_frame(ws, frame).await?;
        if measuring {
            add(&stats.c.moves_win, 1);
            add(&stats.c.bytes_out_win, len);
        }
        Ok(())
    }

    async fn send_ping(&mut self, ws: &mut Ws) -> Result<(), ()> {
        let Some(room) = &self.room else {
            return Ok(());
        };
        let stats = &self.ctx.stats;
        let measuring = stats.measuring();
        let frame = wire::encode_ping(room, stats.now_ns() as f64 / 1e6).map_err(|_| ())?;
        let len = frame.len() as u64;
        self.send_frame(ws, frame).await?;
        if measuring {
            add(&stats.c.pings_win, 1);
            add(&stats.c.bytes_out_win, len);
        }
        Ok(())
    }

    async fn send_frame(&self, ws: &mut Ws, frame: Vec<u8>) -> Result<(), ()> {
        ws.send(Message::Binary(frame.into())).await.map_err(|_| {
            add(&self.ctx.stats.c.send_errors, 1);
            self.ctx.stats.error("send");
        })
    }
}

/// One joined client until [`Phase::Leave`].
async fn drive(ctx: Arc<Ctx>, plan: Arc<Plan>, j: Joined, mut phase: watch::Receiver<Phase>) {
    let Joined {
        mut ws,
        room,
        seat,
        seq,
        state,
        ..
    } = j;
    let track = Arc::new(SeatTrack::default());
    let mut observer = None;
    if let (Some(room), Some(seat)) = (&room, &seat) {
        let (rt, first) = ctx.rooms.register(room, seat, track.clone());
        ctx.seats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(track.clone());
        observer = match plan.observe {
            Some(Observe::Room) if first => Some(Observer::new(rt, seq, &state, None)),
            Some(Observe::All) => Some(Observer::new(rt, seq, &state, Some(seat.clone()))),
            _ => None,
        };
    }
    drop(state);
    let eager = observer.is_some() || ctx.common.lazy_ms == 0;
    let mut st = ClientState {
        ctx: ctx.clone(),
        room,
        observer,
        eager,
        track,
    };
    let lazy_period = Duration::from_millis(ctx.common.lazy_ms.max(1));
    let mut lazy = interval_at(
        Instant::now() + lazy_period.mul_f64(fastrand::f64()),
        lazy_period,
    );
    lazy.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (mut mv, mut pg) = (None, None);
    let mut current = *phase.borrow_and_update();
    let mut closed = false;
    loop {
        match current {
            Phase::Send if mv.is_none() && pg.is_none() => {
                mv = phased_interval(plan.rate);
                pg = phased_interval(plan.ping_rate);
            }
            Phase::Quiet | Phase::Join => {
                mv = None;
                pg = None;
            }
            Phase::Leave => break,
            Phase::Send => {}
        }
        let flow = tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() { break; }
                current = *phase.borrow_and_update();
                Flow::Continue
            }
            frame = ws.next(), if eager => st.on_frame(frame),
            _ = lazy.tick(), if !eager => {
                let mut flow = Flow::Continue;
                // Drain what is buffered without waiting for more.
                while let Some(frame) = ws.next().now_or_never() {
                    flow = st.on_frame(frame);
                    if !matches!(flow, Flow::Continue) { break; }
                }
                flow
            }
            _ = tick(&mut mv) => if st.send_move(&mut ws).await.is_err() { Flow::Closed } else { Flow::Continue },
            _ = tick(&mut pg) => if st.send_ping(&mut ws).await.is_err() { Flow::Closed } else { Flow::Continue },
        };
        match flow {
            Flow::Continue => {}
            Flow::Resync => {
                if let Some(room) = &st.room {
                    let _ = client::send(&mut ws, &ClientMsg::Resync { room: room.clone() }).await;
                }
            }
            Flow::Closed => {
                closed = true;
                break;
            }
        }
    }
    if closed {
        // The server (or the socket) ended a client the run still needed.
        if *phase.borrow() != Phase::Leave {
            add(&ctx.stats.c.disconnects, 1);
            ctx.stats.error("disconnect");
        }
        return;
    }
    let bye = async {
        if let Some(room) = &st.room {
            let _ = client::send(&mut ws, &ClientMsg::Leave { room: room.clone() }).await;
        }
        let _ = ws.close(None).await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
}

/// `part / whole`, or `None` when `whole` is zero.
pub fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Scenario};

    #[test]
    fn the_join_phase_leaves_room_for_the_later_phases() {
        let cli =
            Cli::try_parse_from(["plaza-loadtest", "arena", "--max-wall-s", "100"]).expect("args");
        let Scenario::Arena(a) = cli.scenario else {
            panic!("arena")
        };
        assert_eq!(join_budget(&a.common, 36.0), Duration::from_secs(49));
        assert_eq!(
            join_budget(&a.common, 500.0),
            Duration::from_secs(1),
            "never zero"
        );
        assert!(Ctx::new(Common {
            clients: 0,
            ..a.common.clone()
        })
        .is_err());
        assert!(Ctx::new(Common {
            metadata: Some("{".into()),
            ..a.common.clone()
        })
        .is_err());
        assert!(
            Ctx::new(Common {
                server_pid: Some(u32::MAX),
                ..a.common
            })
            .is_err(),
            "unreadable pid"
        );
    }
}

//! Scenario `arena` (`../shared/bench/arena.md` §4): join N, 5 s warm-up of
//! moves and pings, a 30 s window with the server's `/proc` read at its
//! edges, 1 s drain, leave.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::{join_budget, spawn_clients, wait_joined, Ctx, Phase, Plan, RunError};
use crate::cli::{ArenaArgs, HandshakeKind, Observe};
use crate::hist::{round3, Summary};
use crate::procstat::{self, RssSampler, Sample};
use crate::report::{
    join_rows, opt, pcts, round1, server_rows, JoinReport, LoadWindow, ServerWindow, Table,
};
use crate::stats::{add, get, Failures, WindowCounts};

/// The arena run's report (the JSON of `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct ArenaReport {
    /// Always `arena`.
    pub scenario: &'static str,
    /// `--label`.
    pub label: String,
    /// Target URL.
    pub url: String,
    /// Unix time at the end, ms.
    pub unix_ms: u64,
    /// Clients asked for.
    pub n: usize,
    /// Handshake method.
    pub handshake: HandshakeKind,
    /// Who decoded patches.
    pub observe: Observe,
    /// Lazy read period of non-observers, ms (0 = eager).
    pub lazy_ms: u64,
    /// Joins in flight.
    pub join_concurrency: usize,
    /// Moves per second per client.
    pub rate: f64,
    /// Pings per second per client.
    pub ping_rate: f64,
    /// Warm-up, s.
    pub warmup_s: f64,
    /// Join phase.
    pub join: JoinReport,
    /// Rooms the clients landed in.
    pub rooms: usize,
    /// Measured window, s.
    pub window_s: f64,
    /// Server over the window (with `--server-pid`).
    pub server: Option<ServerWindow>,
    /// The load tool over the window.
    pub load: LoadWindow,
    /// Move sent → its score visible in a patch.
    pub latency_move_to_patch_ms: Summary,
    /// Ping → pong, eager clients only.
    pub rtt_ping_ms: Summary,
    /// Raw window counters.
    pub counts: WindowCounts,
    /// Moves sent per second (all clients).
    pub moves_per_s: f64,
    /// Patches received per client per second (nominal 20).
    pub patch_hz_per_client: Option<f64>,
    /// Payload bytes received per client per second.
    pub bytes_in_per_client_s: Option<f64>,
    /// Payload bytes sent per client per second.
    pub bytes_out_per_client_s: Option<f64>,
    /// Average patch payload, bytes.
    pub avg_patch_bytes: Option<f64>,
    /// Window moves never seen applied by the end of the drain.
    pub unacked_at_end: u64,
    /// Failure counters.
    pub failures: Failures,
    /// Their sum.
    pub failures_total: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// p99 < 100 ms with zero failures (the sweep's pass criterion).
    pub pass_p99_under_100ms: bool,
}

/// Runs the scenario.
pub async fn run(args: ArenaArgs, threads: usize) -> Result<ArenaReport, RunError> {
    if !(args.rate >= 0.0 && args.ping_rate >= 0.0 && args.duration > 0.0 && args.warmup >= 0.0) {
        return Err(RunError::Option(
            "rates must be >= 0 and the window > 0".into(),
        ));
    }
    let ctx = Ctx::new(args.common.clone())?;
    let n = ctx.common.clients;
    let base = ctx.server_sample().unwrap_or_default();
    let sampler = ctx.common.server_pid.map(RssSampler::start);
    ctx.start_progress("arena");

    let plan = Arc::new(Plan {
        join: true,
        observe: Some(args.observe),
        rate: args.rate,
        ping_rate: args.ping_rate,
        presign: false,
    });
    ctx.set_phase_name("join");
    let cpu_join0 = ctx.server_sample();
    let clients = spawn_clients(&ctx, &plan, n);
    let join_limit = join_budget(&ctx.common, args.warmup + args.duration + args.drain);
    wait_joined(&ctx, n, join_limit).await;
    let join_wall = clients.started.elapsed().as_secs_f64();
    let cpu_join1 = ctx.server_sample();
    let join = JoinReport::new(
        get(&ctx.stats.c.joined),
        get(&ctx.stats.c.join_failed),
        join_wall,
        ctx.stats.join().summary(),
        cpu_join0.zip(cpu_join1),
    );

    ctx.set_phase_name("warmup");
    clients.set(Phase::Send);
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;

    ctx.set_phase_name("window");
    let srv0 = ctx.server_sample();
    let me0 = procstat::sample(None).unwrap_or_default();
    if let (Some(s), Some(m)) = (&sampler, &srv0) {
        s.set_window(true, m.mem.rss_kb);
    }
    let t0 = Instant::now();
    ctx.stats.set_measuring(true);
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    ctx.stats.set_measuring(false);
    let window_s = t0.elapsed().as_secs_f64();
    let srv1 = ctx.server_sample();
    let me1 = procstat::sample(None).unwrap_or_default();
    if let Some(s) = &sampler {
        s.set_window(false, 0);
    }

    ctx.set_phase_name("drain");
    clients.set(Phase::Quiet);
    let end_ns = ctx.stats.now_ns();
    tokio::time::sleep(Duration::from_secs_f64(args.drain.max(0.0))).await;
    let unacked: u64 = {
        let seats = ctx.seats.lock().unwrap_or_else(|p| p.into_inner());
        seats.iter().map(|s| s.unacked_in_window(end_ns)).sum()
    };
    add(&ctx.stats.c.unacked_at_end, unacked);

    ctx.set_phase_name("leave");
    clients.leave(Duration::from_secs(5)).await;
    ctx.stop_progress();
    if let Some(s) = &sampler {
        s.stop();
    }

    let joined = join.ok;
    let server = srv0.zip(srv1).map(|(a, b): (Sample, Sample)| {
        ServerWindow::new(&base, &a, &b, sampler.as_ref(), joined, window_s)
    });
    let counts = ctx.stats.window_counts();
    let per_client_s = |v: u64| {
        (joined > 0 && window_s > 0.0).then(|| round1(v as f64 / joined as f64 / window_s))
    };
    let latency = ctx.stats.latency().summary();
    let failures = ctx.stats.failures();
    let failures_total = failures.total();
    Ok(ArenaReport {
        scenario: "arena",
        label: ctx.common.label.clone(),
        url: ctx.target.ws_url.clone(),
        unix_ms: crate::creds::unix_ms(),
        n,
        handshake: ctx.common.handshake,
        observe: args.observe,
        lazy_ms: ctx.common.lazy_ms,
        join_concurrency: ctx.common.join_concurrency,
        rate: args.rate,
        ping_rate: args.ping_rate,
        warmup_s: args.warmup,
        join,
        rooms: ctx.rooms.len(),
        window_s: round3(window_s),
        server,
        load: LoadWindow::new(&me0, &me1, window_s, threads),
        latency_move_to_patch_ms: latency,
        rtt_ping_ms: ctx.stats.rtt().summary(),
        counts,
        moves_per_s: round1(counts.moves as f64 / window_s),
        patch_hz_per_client: (joined > 0)
            .then(|| (counts.patches as f64 / joined as f64 / window_s * 100.0).round() / 100.0),
        bytes_in_per_client_s: per_client_s(counts.bytes_in),
        bytes_out_per_client_s: per_client_s(counts.bytes_out),
        avg_patch_bytes: (counts.patches > 0)
            .then(|| round1(counts.patch_bytes as f64 / counts.patches as f64)),
        unacked_at_end: unacked,
        failures,
        failures_total,
        errors: ctx.stats.errors(),
        pass_p99_under_100ms: failures_total == 0 && latency.p99.is_some_and(|p| p < 100.0),
    })
}

impl ArenaReport {
    /// The human table.
    pub fn table(&self) -> String {
        let mut t = Table::new(format!(
            "plaza-loadtest arena {}: N = {}, handshake {:?}, observe {:?}, lazy {} ms, {} Hz moves, {} Hz pings, window {} s",
            self.label, self.n, self.handshake, self.observe, self.lazy_ms, self.rate, self.ping_rate, self.window_s
        ));
        join_rows(&mut t, "join", &self.join);
        t.row("rooms", self.rooms.to_string());
        server_rows(&mut t, self.server.as_ref());
        t.row(
            "latency move→patch p50/p95/p99/p99.9/max",
            pcts(&self.latency_move_to_patch_ms),
        );
        t.row(
            "RTT ping→pong p50/p95/p99/p99.9/max",
            pcts(&self.rtt_ping_ms),
        );
        t.row(
            "moves/s sent; patch Hz per client",
            format!("{}; {}", self.moves_per_s, opt(self.patch_hz_per_client)),
        );
        t.row(
            "bytes per client per s in / out",
            format!(
                "{} / {}",
                opt(self.bytes_in_per_client_s),
                opt(self.bytes_out_per_client_s)
            ),
        );
        t.row("avg patch payload bytes", opt(self.avg_patch_bytes));
        t.row(
            "load tool CPU",
            format!(
                "{} % of a core ({} threads){}",
                self.load.pct_of_core,
                self.load.threads,
                if self.load.saturated {
                    " SATURATED: latency includes load-tool queueing"
                } else {
                    ""
                }
            ),
        );
        t.row("unacked at end", self.unacked_at_end.to_string());
        t.row(
            "failures",
            format!("{} {:?}", self.failures_total, self.errors),
        );
        t.row(
            "p99 < 100 ms and no failures",
            self.pass_p99_under_100ms.to_string(),
        );
        t.render()
    }
}

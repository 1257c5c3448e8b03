//! Scenario `idle`: N authenticated clients (joined to arena rooms unless
//! `--no-join`) that send nothing; server RSS per connection after a settle
//! time and again after the window (`arena.md` §5, "memory per idle client").

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{join_budget, spawn_clients, wait_joined, Ctx, Plan, RunError};
use crate::cli::{HandshakeKind, IdleArgs};
use crate::procstat::{self, RssSampler};
use crate::report::{join_rows, server_rows, JoinReport, LoadWindow, ServerWindow, Table};
use crate::stats::{get, Failures};

/// The idle run's report.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    /// Always `idle`.
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
    /// Whether clients joined rooms.
    pub joined_rooms: bool,
    /// Join phase.
    pub join: JoinReport,
    /// Settle time, s.
    pub settle_s: f64,
    /// Server between the two readings; `rss_kb_per_client_start` is the
    /// figure after settle, `rss_kb_per_client` the one at the end.
    pub server: Option<ServerWindow>,
    /// The load tool over the window.
    pub load: LoadWindow,
    /// Failure counters.
    pub failures: Failures,
    /// Their sum.
    pub failures_total: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
}

/// Runs the scenario.
pub async fn run(args: IdleArgs, threads: usize) -> Result<IdleReport, RunError> {
    let ctx = Ctx::new(args.common.clone())?;
    let n = ctx.common.clients;
    let base = ctx.server_sample().unwrap_or_default();
    let sampler = ctx.common.server_pid.map(RssSampler::start);
    ctx.start_progress("idle");
    let plan = Arc::new(Plan {
        join: !args.no_join,
        observe: None,
        rate: 0.0,
        ping_rate: 0.0,
        presign: false,
    });
    ctx.set_phase_name("join");
    let cpu0 = ctx.server_sample();
    let clients = spawn_clients(&ctx, &plan, n);
    wait_joined(
        &ctx,
        n,
        join_budget(&ctx.common, args.settle + args.duration),
    )
    .await;
    let join_wall = clients.started.elapsed().as_secs_f64();
    let join = JoinReport::new(
        get(&ctx.stats.c.joined),
        get(&ctx.stats.c.join_failed),
        join_wall,
        ctx.stats.join().summary(),
        cpu0.zip(ctx.server_sample()),
    );
    ctx.set_phase_name("settle");
    tokio::time::sleep(Duration::from_secs_f64(args.settle.max(0.0))).await;
    ctx.set_phase_name("window");
    let srv0 = ctx.server_sample();
    let me0 = procstat::sample(None).unwrap_or_default();
    if let (Some(s), Some(m)) = (&sampler, &srv0) {
        s.set_window(true, m.mem.rss_kb);
    }
    let t0 = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration.max(0.0))).await;
    let window_s = t0.elapsed().as_secs_f64();
    let srv1 = ctx.server_sample();
    let me1 = procstat::sample(None).unwrap_or_default();
    ctx.set_phase_name("leave");
    clients.leave(Duration::from_secs(5)).await;
    ctx.stop_progress();
    if let Some(s) = &sampler {
        s.stop();
    }
    let server = srv0
        .zip(srv1)
        .map(|(a, b)| ServerWindow::new(&base, &a, &b, sampler.as_ref(), join.ok, window_s));
    let failures = ctx.stats.failures();
    Ok(IdleReport {
        scenario: "idle",
        label: ctx.common.label.clone(),
        url: ctx.target.ws_url.clone(),
        unix_ms: crate::creds::unix_ms(),
        n,
        handshake: ctx.common.handshake,
        joined_rooms: !args.no_join,
        join,
        settle_s: args.settle,
        server,
        load: LoadWindow::new(&me0, &me1, window_s, threads),
        failures,
        failures_total: failures.total(),
        errors: ctx.stats.errors(),
    })
}

impl IdleReport {
    /// The human table.
    pub fn table(&self) -> String {
        let mut t = Table::new(format!(
            "plaza-loadtest idle {}: N = {}, handshake {:?}, {}",
            self.label,
            self.n,
            self.handshake,
            if self.joined_rooms {
                "joined to rooms"
            } else {
                "authenticated only (no room)"
            }
        ));
        join_rows(&mut t, "join", &self.join);
        server_rows(&mut t, self.server.as_ref());
        if let Some(s) = &self.server {
            t.row(
                "server RSS per idle connection",
                format!(
                    "{} KB after {} s settle, {} KB at the end",
                    crate::report::opt(s.rss_kb_per_client_start),
                    self.settle_s,
                    crate::report::opt(s.rss_kb_per_client)
                ),
            );
        }
        t.row(
            "load tool CPU / RSS",
            format!("{} % / {} MB", self.load.pct_of_core, self.load.rss_mb),
        );
        t.row(
            "failures",
            format!("{} {:?}", self.failures_total, self.errors),
        );
        t.render()
    }
}

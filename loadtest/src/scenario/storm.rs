//! Scenario `storm`: bursts of N authenticated joins with C in flight and no
//! other client traffic; joins per second = successful joins / wall time of
//! the burst, with a signature verified by the server for every join.
//! Burst 1 runs on a fresh ("cold") server, later bursts on the same
//! ("warm") one, after the previous burst's clients left.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{join_budget, spawn_clients, wait_joined, Ctx, Plan, RunError};
use crate::cli::{HandshakeKind, StormArgs};
use crate::report::{join_rows, JoinReport, Table};
use crate::stats::{get, Failures};

/// The storm run's report.
#[derive(Debug, Clone, Serialize)]
pub struct StormReport {
    /// Always `storm`.
    pub scenario: &'static str,
    /// `--label`.
    pub label: String,
    /// Target URL.
    pub url: String,
    /// Unix time at the end, ms.
    pub unix_ms: u64,
    /// Clients per burst.
    pub n: usize,
    /// Joins in flight.
    pub join_concurrency: usize,
    /// Handshake method.
    pub handshake: HandshakeKind,
    /// Whether clients joined rooms (else authenticated only).
    pub joined_rooms: bool,
    /// One entry per burst, cold first.
    pub bursts: Vec<JoinReport>,
    /// Failure counters over all bursts.
    pub failures: Failures,
    /// Their sum.
    pub failures_total: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
}

/// Runs the scenario.
pub async fn run(args: StormArgs) -> Result<StormReport, RunError> {
    let ctx = Ctx::new(args.common.clone())?;
    let n = ctx.common.clients;
    ctx.start_progress("storm");
    let plan = Arc::new(Plan {
        join: !args.no_join,
        observe: None,
        rate: 0.0,
        ping_rate: 0.0,
        presign: true,
    });
    let mut bursts = Vec::new();
    let mut join_failed = 0;
    for b in 0..args.bursts.max(1) {
        if b > 0 {
            ctx.set_phase_name("pause");
            tokio::time::sleep(Duration::from_secs_f64(args.pause.max(0.0))).await;
        }
        ctx.stats.reset_joins();
        ctx.set_phase_name("sign");
        let cpu0 = ctx.server_sample();
        let clients = spawn_clients(&ctx, &plan, n);
        ctx.set_phase_name("burst");
        // Each burst gets an equal share of the wall-clock budget.
        let share = join_budget(&ctx.common, 0.0).div_f64(args.bursts.max(1) as f64);
        wait_joined(&ctx, n, share).await;
        let wall = clients.started.elapsed().as_secs_f64();
        let cpu1 = ctx.server_sample();
        let failed = get(&ctx.stats.c.join_failed);
        join_failed += failed;
        bursts.push(JoinReport::new(
            get(&ctx.stats.c.joined),
            failed,
            wall,
            ctx.stats.join().summary(),
            cpu0.zip(cpu1),
        ));
        ctx.set_phase_name("leave");
        clients.leave(Duration::from_secs(10)).await;
    }
    ctx.stop_progress();
    let mut failures = ctx.stats.failures();
    failures.join_failed = join_failed;
    Ok(StormReport {
        scenario: "storm",
        label: ctx.common.label.clone(),
        url: ctx.target.ws_url.clone(),
        unix_ms: crate::creds::unix_ms(),
        n,
        join_concurrency: ctx.common.join_concurrency,
        handshake: ctx.common.handshake,
        joined_rooms: !args.no_join,
        bursts,
        failures,
        failures_total: failures.total(),
        errors: ctx.stats.errors(),
    })
}

impl StormReport {
    /// The human table.
    pub fn table(&self) -> String {
        let mut t = Table::new(format!(
            "plaza-loadtest storm {}: N = {} per burst, {} in flight, handshake {:?}, {}",
            self.label,
            self.n,
            self.join_concurrency,
            self.handshake,
            if self.joined_rooms {
                "joinOrCreate arena"
            } else {
                "authenticate only"
            }
        ));
        for (i, b) in self.bursts.iter().enumerate() {
            let name = if i == 0 {
                "burst 1 (cold)".to_owned()
            } else {
                format!("burst {} (warm)", i + 1)
            };
            join_rows(&mut t, &name, b);
        }
        t.row(
            "failures",
            format!("{} {:?}", self.failures_total, self.errors),
        );
        t.render()
    }
}

//! Report pieces shared by the scenarios, and the human table.
//!
//! Every figure is computed here from raw samples, once, so the table and
//! the JSON can never disagree: the table is rendered from the same struct
//! that is serialised.

use serde::Serialize;

use crate::hist::{round3, Summary};
use crate::procstat::{RssSampler, Sample};

/// The join phase (or one storm burst).
#[derive(Debug, Clone, Serialize)]
pub struct JoinReport {
    /// Clients in.
    pub ok: u64,
    /// Clients that failed.
    pub failed: u64,
    /// Wall time of the whole phase, s.
    pub wall_s: f64,
    /// Successful joins per second of wall time.
    pub rate_per_s: Option<f64>,
    /// Connect start → join confirmed, per client.
    pub latency_ms: Summary,
    /// Server CPU over the phase, s.
    pub server_cpu_s: Option<f64>,
    /// Server CPU per successful join, ms.
    pub server_cpu_ms_per_join: Option<f64>,
}

impl JoinReport {
    /// Builds the figures from the raw counts and samples.
    pub fn new(
        ok: u64,
        failed: u64,
        wall_s: f64,
        latency_ms: Summary,
        cpu: Option<(Sample, Sample)>,
    ) -> JoinReport {
        let server_cpu_s = cpu.map(|(a, b)| b.cpu.since(&a.cpu).total_s());
        JoinReport {
            ok,
            failed,
            wall_s: round3(wall_s),
            rate_per_s: (wall_s > 0.0).then(|| round1(ok as f64 / wall_s)),
            latency_ms,
            server_cpu_s: server_cpu_s.map(round3),
            server_cpu_ms_per_join: server_cpu_s
                .filter(|_| ok > 0)
                .map(|s| round3(s * 1000.0 / ok as f64)),
        }
    }
}

/// The server over a window.
#[derive(Debug, Clone, Serialize)]
pub struct ServerWindow {
    /// CPU (user + sys) over the window, s.
    pub cpu_s: f64,
    /// User CPU, s.
    pub user_s: f64,
    /// System CPU, s.
    pub sys_s: f64,
    /// CPU as % of one core.
    pub pct_of_core: f64,
    /// CPU s per 1000 client-seconds (`arena.md` §5).
    pub cpu_s_per_1000_client_s: Option<f64>,
    /// User CPU s per 1000 client-seconds.
    pub user_s_per_1000_client_s: Option<f64>,
    /// RSS of the idle server before any client, MB.
    pub rss_base_mb: f64,
    /// RSS at the window's start, MB.
    pub rss_start_mb: f64,
    /// RSS at the window's end, MB.
    pub rss_end_mb: f64,
    /// Largest sampled RSS in the window, MB.
    pub rss_peak_window_mb: f64,
    /// Largest sampled RSS over the run, MB.
    pub rss_peak_mb: f64,
    /// Kernel peak RSS since start (VmHWM), MB.
    pub hwm_mb: f64,
    /// (RSS end − base) / clients, KB.
    pub rss_kb_per_client: Option<f64>,
    /// (RSS at window start − base) / clients, KB.
    pub rss_kb_per_client_start: Option<f64>,
}

impl ServerWindow {
    /// Figures from the baseline, the window-edge samples and the sampler.
    pub fn new(
        base: &Sample,
        start: &Sample,
        end: &Sample,
        sampler: Option<&RssSampler>,
        clients: u64,
        window_s: f64,
    ) -> ServerWindow {
        let cpu = end.cpu.since(&start.cpu);
        let client_ks = clients as f64 * window_s / 1000.0;
        let per_client = |rss_kb: u64| {
            (clients > 0).then(|| round3((rss_kb as f64 - base.mem.rss_kb as f64) / clients as f64))
        };
        let mb = |kb: u64| round1(kb as f64 / 1024.0);
        ServerWindow {
            cpu_s: round3(cpu.total_s()),
            user_s: round3(cpu.user_s),
            sys_s: round3(cpu.sys_s),
            pct_of_core: round1(if window_s > 0.0 {
                100.0 * cpu.total_s() / window_s
            } else {
                0.0
            }),
            cpu_s_per_1000_client_s: (client_ks > 0.0).then(|| round3(cpu.total_s() / client_ks)),
            user_s_per_1000_client_s: (client_ks > 0.0).then(|| round3(cpu.user_s / client_ks)),
            rss_base_mb: mb(base.mem.rss_kb),
            rss_start_mb: mb(start.mem.rss_kb),
            rss_end_mb: mb(end.mem.rss_kb),
            rss_peak_window_mb: mb(sampler
                .map(|s| s.max_window_kb())
                .unwrap_or(0)
                .max(end.mem.rss_kb)),
            rss_peak_mb: mb(sampler
                .map(|s| s.max_all_kb())
                .unwrap_or(0)
                .max(end.mem.rss_kb)),
            hwm_mb: mb(end.mem.hwm_kb),
            rss_kb_per_client: per_client(end.mem.rss_kb),
            rss_kb_per_client_start: per_client(start.mem.rss_kb),
        }
    }
}

/// The load tool itself over the window.
#[derive(Debug, Clone, Serialize)]
pub struct LoadWindow {
    /// CPU (all threads), s.
    pub cpu_s: f64,
    /// CPU as % of one core.
    pub pct_of_core: f64,
    /// Whether it used ≥ 90 % of a core per worker thread: latency then
    /// includes the load tool's own queueing, and the run is flagged.
    pub saturated: bool,
    /// Worker threads.
    pub threads: usize,
    /// The load tool's RSS at the end, MB.
    pub rss_mb: f64,
}

impl LoadWindow {
    /// From this process's samples at the window edges.
    pub fn new(start: &Sample, end: &Sample, window_s: f64, threads: usize) -> LoadWindow {
        let cpu = end.cpu.since(&start.cpu).total_s();
        let pct = if window_s > 0.0 {
            100.0 * cpu / window_s
        } else {
            0.0
        };
        LoadWindow {
            cpu_s: round3(cpu),
            pct_of_core: round1(pct),
            saturated: pct >= 90.0 * threads.max(1) as f64,
            threads,
            rss_mb: round1(end.mem.rss_kb as f64 / 1024.0),
        }
    }
}

/// Rounds to one decimal.
pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A two-column Markdown table (`figure | value`).
#[derive(Debug, Default)]
pub struct Table {
    title: String,
    rows: Vec<(String, String)>,
}

impl Table {
    /// A table under a heading line.
    pub fn new(title: impl Into<String>) -> Table {
        Table {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Table {
        self.rows.push((name.into(), value.into()));
        self
    }

    /// Renders it.
    pub fn render(&self) -> String {
        let w = self
            .rows
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = format!(
            "{}\n\n| {:<w$} | value\n|-{}-|------\n",
            self.title,
            "figure",
            "-".repeat(w)
        );
        for (n, v) in &self.rows {
            out.push_str(&format!("| {n:<w$} | {v}\n"));
        }
        out
    }
}

/// `12.3` or `-` for a missing figure.
pub fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v}")).unwrap_or_else(|| "-".into())
}

/// `p50 / p95 / p99 / p99.9 / max (n)` in ms.
pub fn pcts(s: &Summary) -> String {
    if s.n == 0 {
        return "no samples".into();
    }
    format!(
        "{} / {} / {} / {} / {} ms (n = {})",
        opt(s.p50),
        opt(s.p95),
        opt(s.p99),
        opt(s.p999),
        opt(s.max),
        s.n
    )
}

/// Rows for a server window.
pub fn server_rows(t: &mut Table, s: Option<&ServerWindow>) {
    let Some(s) = s else {
        t.row("server", "not sampled (no --server-pid)");
        return;
    };
    t.row(
        "server CPU",
        format!(
            "{} % of a core ({} s: user {} + sys {})",
            s.pct_of_core, s.cpu_s, s.user_s, s.sys_s
        ),
    );
    t.row(
        "server CPU s / 1000 client-s",
        format!(
            "{} (user {})",
            opt(s.cpu_s_per_1000_client_s),
            opt(s.user_s_per_1000_client_s)
        ),
    );
    t.row(
        "server RSS MB",
        format!(
            "base {} / end {} / window peak {} / HWM {}",
            s.rss_base_mb, s.rss_end_mb, s.rss_peak_window_mb, s.hwm_mb
        ),
    );
    t.row(
        "server RSS per client",
        format!("{} KB", opt(s.rss_kb_per_client)),
    );
}

/// Rows for a join phase.
pub fn join_rows(t: &mut Table, name: &str, j: &JoinReport) {
    t.row(
        name,
        format!(
            "{} ok / {} failed in {} s = {} joins/s; server {} ms CPU per join",
            j.ok,
            j.failed,
            j.wall_s,
            opt(j.rate_per_s),
            opt(j.server_cpu_ms_per_join)
        ),
    );
    t.row(
        format!("{name} time p50/p95/p99/p99.9/max"),
        pcts(&j.latency_ms),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procstat::{CpuTimes, MemKb};

    fn sample(user: f64, sys: f64, rss_kb: u64) -> Sample {
        Sample {
            cpu: CpuTimes {
                user_s: user,
                sys_s: sys,
            },
            mem: MemKb {
                rss_kb,
                hwm_kb: rss_kb + 10,
            },
        }
    }

    #[test]
    fn server_figures_follow_the_arena_definitions() {
        // 1000 clients, 30 s window, 6.6 s of CPU: 0.22 s per 1000 client-s.
        let base = sample(0.0, 0.0, 2048);
        let start = sample(1.0, 2.0, 10_000);
        let end = sample(2.5, 7.1, 12_048);
        let w = ServerWindow::new(&base, &start, &end, None, 1000, 30.0);
        assert_eq!(w.cpu_s, 6.6);
        assert_eq!(w.pct_of_core, 22.0);
        assert_eq!(w.cpu_s_per_1000_client_s, Some(0.22));
        assert_eq!(w.user_s_per_1000_client_s, Some(0.05));
        assert_eq!(w.rss_kb_per_client, Some(10.0));
        let none = ServerWindow::new(&base, &start, &end, None, 0, 30.0);
        assert_eq!(
            none.cpu_s_per_1000_client_s, None,
            "no clients: no per-client figure"
        );
    }

    #[test]
    fn join_and_load_figures() {
        let j = JoinReport::new(
            2000,
            0,
            0.8,
            Summary::default(),
            Some((sample(0.0, 0.0, 1), sample(0.5, 0.5, 1))),
        );
        assert_eq!(j.rate_per_s, Some(2500.0));
        assert_eq!(j.server_cpu_ms_per_join, Some(0.5));
        let l = LoadWindow::new(&sample(0.0, 0.0, 1024), &sample(14.0, 14.0, 2048), 30.0, 1);
        assert!(l.saturated, "93 % of its one core");
        assert!(!LoadWindow::new(&sample(0.0, 0.0, 1), &sample(14.0, 14.0, 1), 30.0, 2).saturated);
        let t = Table::new("T")
            .row("a", "1")
            .row("longer name", "2")
            .render();
        assert!(t.contains("| longer name | 2"), "{t}");
    }
}

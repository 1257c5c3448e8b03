//! Reads a process's CPU time and memory from `/proc/<pid>` (Linux only), the
//! way the Colyseus harness does: `utime + stime` from `stat` (all threads of
//! the process) and `VmRSS` / `VmHWM` from `status`. Reads only; never
//! signals or otherwise touches the process.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

/// Why a `/proc` read failed.
#[derive(Debug, Error)]
pub enum ProcError {
    /// The file could not be read (process gone, not Linux).
    #[error("proc_unreadable: {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file did not have the expected layout.
    #[error("proc_malformed: {0}")]
    Malformed(String),
}

/// CPU time consumed by a process so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CpuTimes {
    /// User time, s.
    pub user_s: f64,
    /// System (kernel) time, s.
    pub sys_s: f64,
}

impl CpuTimes {
    /// User + system, s.
    pub fn total_s(&self) -> f64 {
        self.user_s + self.sys_s
    }

    /// The time spent between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            user_s: self.user_s - earlier.user_s,
            sys_s: self.sys_s - earlier.sys_s,
        }
    }
}

/// Memory figures of a process, KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MemKb {
    /// Resident set size now.
    pub rss_kb: u64,
    /// Peak resident set size since the process started.
    pub hwm_kb: u64,
}

/// Clock ticks per second for `/proc/<pid>/stat` times. Asked of `getconf`
/// once (the workspace forbids the `unsafe` a `sysconf` call needs); 100 is
/// the value on every Linux x86_64/arm64 build and the fallback.
pub fn clk_tck() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|v| *v > 0.0)
            .unwrap_or(100.0)
    })
}

/// Parses utime and stime (ticks) out of a `/proc/<pid>/stat` line. The
/// command name (field 2) may contain spaces and parentheses, so fields are
/// counted from the *last* `)`.
pub fn parse_stat(text: &str) -> Result<(u64, u64), ProcError> {
    let close = text
        .rfind(')')
        .ok_or_else(|| ProcError::Malformed("stat without ')'".into()))?;
    let rest = text.get(close + 1..).unwrap_or("");
    // After ")" comes field 3 (state); utime is field 14, stime field 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| -> Result<u64, ProcError> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| ProcError::Malformed(format!("stat field {} missing", i + 3)))
    };
    Ok((get(11)?, get(12)?))
}

/// Reads `VmRSS` and `VmHWM` out of `/proc/<pid>/status` text.
pub fn parse_status(text: &str) -> Result<MemKb, ProcError> {
    let field = |key: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.trim_start_matches(':').split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    match (field("VmRSS"), field("VmHWM")) {
        (Some(rss_kb), Some(hwm_kb)) => Ok(MemKb { rss_kb, hwm_kb }),
        _ => Err(ProcError::Malformed("status without VmRSS/VmHWM".into())),
    }
}

fn read(path: String) -> Result<String, ProcError> {
    std::fs::read_to_string(&path).map_err(|source| ProcError::Io { path, source })
}

/// CPU time of `pid` (`None` = this process).
pub fn cpu(pid: Option<u32>) -> Result<CpuTimes, ProcError> {
    let (u, s) = parse_stat(&read(proc_path(pid, "stat"))?)?;
    let tck = clk_tck();
    Ok(CpuTimes {
        user_s: u as f64 / tck,
        sys_s: s as f64 / tck,
    })
}

/// Memory of `pid` (`None` = this process).
pub fn mem(pid: Option<u32>) -> Result<MemKb, ProcError> {
    parse_status(&read(proc_path(pid, "status"))?)
}

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(p) => format!("/proc/{p}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Sample {
    /// CPU so far.
    pub cpu: CpuTimes,
    /// Memory now.
    pub mem: MemKb,
}

/// Reads CPU and memory of `pid` (`None` = this process).
pub fn sample(pid: Option<u32>) -> Result<Sample, ProcError> {
    Ok(Sample {
        cpu: cpu(pid)?,
        mem: mem(pid)?,
    })
}

/// Samples a process's RSS every [`RssSampler::PERIOD`] in a background task:
/// keeps the maximum over the whole run and over the current window.
#[derive(Debug, Clone)]
pub struct RssSampler {
    inner: Arc<SamplerState>,
}

#[derive(Debug, Default)]
struct SamplerState {
    max_all_kb: AtomicU64,
    max_window_kb: AtomicU64,
    in_window: AtomicBool,
    stop: AtomicBool,
}

impl RssSampler {
    /// The sampling period (the Colyseus harness's).
    pub const PERIOD: Duration = Duration::from_millis(200);

    /// Starts sampling `pid` on the current tokio runtime.
    pub fn start(pid: u32) -> RssSampler {
        let inner = Arc::new(SamplerState::default());
        let st = inner.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(Self::PERIOD);
            while !st.stop.load(Ordering::Relaxed) {
                iv.tick().await;
                if let Ok(m) = mem(Some(pid)) {
                    st.max_all_kb.fetch_max(m.rss_kb, Ordering::Relaxed);
                    if st.in_window.load(Ordering::Relaxed) {
                        st.max_window_kb.fetch_max(m.rss_kb, Ordering::Relaxed);
                    }
                }
            }
        });
        RssSampler { inner }
    }

    /// Starts (or ends) the window whose maximum is kept separately.
    pub fn set_window(&self, on: bool, start_kb: u64) {
        if on {
            self.inner.max_window_kb.store(start_kb, Ordering::Relaxed);
        }
        self.inner.in_window.store(on, Ordering::Relaxed);
    }

    /// Largest RSS seen over the whole run, KiB.
    pub fn max_all_kb(&self) -> u64 {
        self.inner.max_all_kb.load(Ordering::Relaxed)
    }

    /// Largest RSS seen in the window, KiB.
    pub fn max_window_kb(&self) -> u64 {
        self.inner.max_window_kb.load(Ordering::Relaxed)
    }

    /// Stops the background task (at its next tick).
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_paren() {
        // A command name with spaces and a ')' inside, as the kernel allows.
        let line =
            "1234 (my) srv x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 99 1000 50";
        assert_eq!(parse_stat(line).expect("valid line"), (250, 75));
        assert!(parse_stat("garbage").is_err());
        assert!(
            parse_stat("1 (x) S 1 2").is_err(),
            "too few fields is an error, not a panic"
        );
    }

    #[test]
    fn status_memory_lines_are_read() {
        let text = "Name:\tplaza\nVmPeak:\t  9000 kB\nVmHWM:\t    4321 kB\nVmRSS:\t    1234 kB\n";
        assert_eq!(
            parse_status(text).expect("valid"),
            MemKb {
                rss_kb: 1234,
                hwm_kb: 4321
            }
        );
        assert!(parse_status("Name: x\n").is_err());
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(None).expect("/proc/self is readable on Linux");
        assert!(s.mem.rss_kb > 0);
        assert!(s.mem.hwm_kb >= s.mem.rss_kb);
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(60) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        assert!(x != 1);
        let s2 = sample(None).expect("second sample");
        assert!(
            s2.cpu.total_s() > s.cpu.total_s(),
            "60 ms of spinning shows up as CPU time"
        );
    }
}

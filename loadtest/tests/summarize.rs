//! `summarize.py` (the tables of `compare.sh`) on a committed run: the
//! session-4 back-to-back results, whose figures BENCHMARKS.md quotes.

use std::path::Path;
use std::process::Command;

#[test]
fn the_committed_session_4_run_summarizes_to_the_quoted_figures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = match Command::new("python3")
        .arg(root.join("summarize.py"))
        .arg(root.join("results/20261202-session4"))
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: python3 not runnable ({e}): summarize.py was not checked");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for row in [
        // N = 1000: CPU per 1000 client-s, Colyseus / floor / Plaza and the ratios.
        "| server CPU s per 1000 client-s | 0.335 | 0.16 | 0.185 | 0.55× | 1.16× |",
        "| p99 < 100 ms | 2000 | - | 4000 |",
        "| patch Hz per client ≥ 19.0 (95 % of the 20 Hz ticks: the server keeps up) | 2000 | 4000 | 4000 |",
        "| RSS per idle connection at window end, KB | 14.3 | 6.3 | 0.44× |",
        "| joins/s, cold | 724 | 4401 | 6.08× |",
    ] {
        assert!(text.contains(row), "missing {row:?} in:\n{text}");
    }
}

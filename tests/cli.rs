//! The `plaza` binary: `config check`, `auth verify-chain` over stdin/stdout,
//! and `serve` draining on SIGTERM.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn plaza() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plaza"))
}

#[test]
fn config_check_prints_the_effective_config_with_env_overrides() {
    let out = plaza()
        .args(["config", "check", "examples/plaza.toml"])
        .env("PLAZA_LIMITS__CONNECTIONS_PER_IP", "7")
        .output()
        .expect("run plaza");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(text.contains("connections_per_ip = 7"), "{text}");
    assert!(text.contains("name = \"lobby\""), "{text}");
}

#[test]
fn config_check_refuses_unknown_keys_with_exit_2() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[server]\nbindd = \"x\"\n").expect("write");
    let out = plaza()
        .args(["config", "check"])
        .arg(&file)
        .output()
        .expect("run plaza");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bindd"), "the message names the key: {err}");
}

#[test]
fn auth_verify_chain_reads_stdin_and_prints_one_line() {
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("protocol/tests/data/vectors.json").expect("vectors"),
    )
    .expect("json");
    let case = &vectors["chainCases"][0];
    assert_eq!(case["id"], "chain/valid-3-link");
    let mut child = plaza()
        .args(["auth", "verify-chain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(case.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(line["ok"], true);
    assert_eq!(
        line["address"],
        "0x818a9f8317acfa0d4eb6b6e06882b6d6d093f247"
    );

    let mut child = plaza()
        .args(["auth", "verify-chain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"not json")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(2), "unreadable input exits 2");
}

#[test]
fn serve_drains_on_sigterm() {
    for (workers, scheduler) in [("1", "current_thread"), ("2", "multi_thread")] {
        serve_drains_on_sigterm_with(workers, scheduler);
    }
}

/// `--workers 1` runs tokio's single-threaded scheduler, other counts the
/// work-stealing one; both serve and drain.
fn serve_drains_on_sigterm_with(workers: &str, scheduler: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = plaza()
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            workers,
            "--data-dir",
        ])
        .arg(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = plaza()
            .args(["healthcheck", &format!("127.0.0.1:{port}")])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "server did not become healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        dir.path().join("plaza.db").exists(),
        "SQLite file under the data dir"
    );
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("log");
    assert!(log.contains("shutdown complete"), "{log}");
    let plain = strip_ansi(&log);
    assert!(
        plain.contains(&format!("workers={workers}")) && plain.contains(scheduler),
        "{plain}"
    );
}

/// The log without terminal colour sequences (`ESC [ … m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn serve_refuses_an_absurd_worker_count_with_exit_2() {
    let out = plaza()
        .args(["serve", "--workers", "5000", "--bind", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.workers"), "{err}");
}

#[test]
fn serve_refuses_to_start_without_its_shared_replay_store() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let data = tempfile::tempdir().expect("tempdir");
    let out = plaza()
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env(
            "PLAZA_AUTH__REPLAY_REDIS_URL",
            format!("redis://:hunter2@127.0.0.1:{port}"),
        )
        .env("PLAZA_AUTH__REPLAY_REDIS_TIMEOUT_MS", "500")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("replay store"), "{err}");
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
}

#[test]
fn config_check_refuses_a_replay_store_url_that_is_not_redis() {
    let out = plaza()
        .args(["config", "check", "examples/plaza.toml"])
        .env("PLAZA_AUTH__REPLAY_REDIS_URL", "http://127.0.0.1:6379")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("replay_redis_url"), "{err}");
}

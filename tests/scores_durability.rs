//! "A `201` only after commit": the real `plaza` binary is killed with
//! SIGKILL in the middle of a burst of signed submissions; after a restart,
//! every acknowledged score is present exactly once, and the restarted
//! server answers.

mod scores_common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plaza::events::now_ms;
use plaza::store::{Store, StoreConfig};
use scores_common::http::{claim, scene_metadata, sign, Player};

const CONFIG: &str = r#"
[[scores.leaderboards]]
id = "durable"
operator = "sum"
rules = { require_session = false, per_address_per_minute = 0, per_ip_per_minute = 0, daily_cap = 0 }
"#;

/// A free loopback port (bound, read, released: the server binds it next).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind :0");
    l.local_addr().expect("addr").port()
}

/// Starts `plaza serve` over `dir` with `PLAZA_*` config and waits for
/// `/healthz`.
async fn start_server(dir: &Path) -> (Child, String) {
    let config = dir.join("plaza.toml");
    std::fs::write(&config, CONFIG).expect("write config");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_plaza"))
        .arg("serve")
        .env_clear()
        .env("PLAZA_CONFIG", &config)
        .env("PLAZA_SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("PLAZA_SERVER__DATA_DIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn plaza serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..500 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return (child, base);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("plaza serve did not become healthy on {base}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_score_survives_sigkill_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, base) = start_server(dir.path()).await;
    let client = reqwest::Client::new();
    let players: Vec<Player> = (0..8).map(|_| Player::new()).collect();
    let players = Arc::new(players);

    // Pre-sign the burst so the kill lands while the server is busy writing.
    const TOTAL: i64 = 3_000;
    let acked: Arc<Mutex<HashMap<i64, String>>> = Arc::default();
    let killed = Arc::new(AtomicBool::new(false));
    let next = Arc::new(Mutex::new(0i64));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, base, players, acked, next, killed) = (
            client.clone(),
            base.clone(),
            players.clone(),
            acked.clone(),
            next.clone(),
            killed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = {
                    let mut n = next.lock().expect("counter");
                    *n += 1;
                    *n
                };
                if i > TOTAL || killed.load(Ordering::Relaxed) {
                    return;
                }
                let p = &players[(i as usize) % players.len()];
                // Unique score per request: identifies it after the restart.
                let body = claim("durable", i, None);
                let headers = sign(p, &body, now_ms(), &scene_metadata("scene-a", false, &body));
                let mut req = client.post(format!("{base}/v1/scores")).body(body);
                for (k, v) in &headers {
                    req = req.header(k, v);
                }
                match req.send().await {
                    Ok(resp) if resp.status().as_u16() == 201 => {
                        acked.lock().expect("acked").insert(i, p.address.clone());
                    }
                    Ok(resp) => panic!("unexpected status {}", resp.status()),
                    // The connection died with the server: not acknowledged.
                    Err(_) => {}
                }
            }
        }));
    }
    // Kill once a few hundred scores are acknowledged, mid-burst.
    loop {
        let n = acked.lock().expect("acked").len();
        if n >= 300 {
            break;
        }
        assert!(
            child.try_wait().expect("child status").is_none(),
            "server died early"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    killed.store(true, Ordering::Relaxed);
    let status = child.wait().expect("reap");
    assert!(!status.success(), "killed, not exited: {status:?}");
    for t in tasks {
        t.await.expect("client task");
    }
    let acked = acked.lock().expect("acked").clone();
    assert!(
        acked.len() >= 300 && (acked.len() as i64) < TOTAL,
        "killed mid-burst: {} acked",
        acked.len()
    );

    // Restart: the store reopens (WAL recovery) and holds every ack once.
    let store = Store::open(&StoreConfig::default(), dir.path())
        .await
        .expect("reopen");
    let rows = store.scores_by_session("durable").await.expect("rows");
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for (_, score) in &rows {
        *seen.entry(*score).or_default() += 1;
    }
    for score in acked.keys() {
        assert_eq!(
            seen.get(score),
            Some(&1),
            "acknowledged score {score} stored {:?} times",
            seen.get(score)
        );
    }
    assert!(seen.values().all(|&n| n == 1), "a score was stored twice");
    println!(
        "SIGKILL after {} acks: {} rows stored, all acks present once",
        acked.len(),
        rows.len()
    );
    store.close().await;

    // And the restarted server answers.
    let (mut again, base) = start_server(dir.path()).await;
    let p = Player::new();
    let body = claim("durable", 1, None);
    let headers = sign(
        &p,
        &body,
        now_ms(),
        &scene_metadata("scene-a", false, &body),
    );
    let mut req = client.post(format!("{base}/v1/scores")).body(body);
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.expect("send").status().as_u16(), 201);
    again.kill().expect("stop child");
    let _ = again.wait();
}

//! Signed score submissions per second, end to end over HTTP, with every
//! claim rule on (strict signature + time window + replay cache, body
//! binding, metadata policy with a scene allow-list, deny-list lookup,
//! per-address and per-IP rate limits, session binding with room type, min
//! play time and plausibility, one claim per session, daily cap), on SQLite
//! and, when `DATABASE_URL` is set, PostgreSQL. Presence is off (it measures
//! the peers service, not Plaza).
//!
//! Run: `cargo bench --bench scores`. Knobs: `PLAZA_BENCH_N` (submissions,
//! default 10000), `PLAZA_BENCH_CONCURRENCY` (in-flight requests, default 64),
//! `PLAZA_BENCH_SYNC` (`full`|`normal`, SQLite, default `full`).
//!
//! Requests are signed before the clock starts so the figure is the
//! server's (verification + rules + commit), not the client's signing.

#[path = "../tests/scores_common/mod.rs"]
mod scores_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use plaza::events::now_ms;
use plaza::store::{SeatRecord, SqliteSync, Store, StoreConfig};
use scores_common::http::{claim, scene_metadata, serve, sign, Player};
use scores_common::Backend;

const BOARDS: &str = r#"
[[leaderboards]]
id = "bench"
rules = { room_types = ["arena"], max_per_second = 100.0, min_play_ms = 1000, per_address_per_minute = 1000, per_ip_per_minute = 10000000, daily_cap = 1000, policy = { require_kernel_scene = true, reject_guests = true, require_hash_payload = true, scene_ids = ["scene-a"] } }
"#;

/// Players submitting; each sends `n / PLAYERS` claims from distinct seats.
const PLAYERS: usize = 500;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(backend: Backend, n: usize, concurrency: usize) -> f64 {
    let name = backend.name;
    let server = Arc::new(serve(backend, BOARDS).await);
    let players: Vec<Player> = (0..PLAYERS).map(|_| Player::new()).collect();
    let joined = now_ms() - 600_000;
    for i in 0..n {
        let p = &players[i % PLAYERS];
        server
            .store
            .open_seat(&SeatRecord {
                seat: format!("seat-{i}"),
                address: p.address.clone(),
                room: "r".into(),
                room_type: "arena".into(),
                joined_ms: joined as i64,
                left_ms: None,
            })
            .await
            .expect("seat");
    }
    let ts = now_ms();
    let requests: Vec<(Vec<(String, String)>, String)> = (0..n)
        .map(|i| {
            let p = &players[i % PLAYERS];
            let body = claim("bench", (i % 1000) as i64, Some(&format!("seat-{i}")));
            let headers = sign(p, &body, ts, &scene_metadata("scene-a", false, &body));
            (headers, body)
        })
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(requests));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let queue = queue.clone();
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0usize;
            loop {
                let next = queue.lock().expect("queue").pop();
                let Some((headers, body)) = next else { break };
                let (status, resp, _) = server.post_raw(&headers, &body).await;
                assert_eq!(status, 201, "{resp}");
                ok += 1;
            }
            ok
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.expect("client task");
    }
    let elapsed = started.elapsed();
    assert_eq!(accepted, n);
    let rate = n as f64 / elapsed.as_secs_f64();
    println!(
        "scores/{name}: {n} signed submissions, concurrency {concurrency}: {:.2} s, {rate:.0}/s",
        elapsed.as_secs_f64()
    );
    rate
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // of the kind and expects a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick {
        200
    } else {
        env_usize("PLAZA_BENCH_N", 10_000)
    };
    let concurrency = env_usize("PLAZA_BENCH_CONCURRENCY", 64);
    let sync = match std::env::var("PLAZA_BENCH_SYNC").as_deref() {
        Ok("normal") => SqliteSync::Normal,
        _ => SqliteSync::Full,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let config = StoreConfig {
        sqlite_synchronous: sync,
        ..Default::default()
    };
    let store = Store::open(&config, dir.path()).await.expect("sqlite");
    println!("scores/sqlite: synchronous = {sync:?}");
    run(
        Backend {
            name: "sqlite",
            store,
            _dir: Some(dir),
        },
        n,
        concurrency,
    )
    .await;
    if let Some(pg) = scores_common::postgres_with(32).await {
        run(pg, n, concurrency).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

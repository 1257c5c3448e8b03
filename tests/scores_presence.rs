//! The optional in-world presence rule against a local HTTP server that
//! answers like a catalyst's `/comms/peers`: near → accepted, far or absent
//! → 422, slow → 503 (fail closed) or accepted (fail open) within the timeout.

mod scores_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use plaza::events::now_ms;
use scores_common::http::{claim, serve, Player, Server};
use scores_common::sqlite;

/// Serves `peers` at `/comms/peers` after `delay`; returns the URL.
async fn fake_catalyst(peers: serde_json::Value, delay: Duration) -> String {
    let peers = Arc::new(peers);
    let app = Router::new().route(
        "/comms/peers",
        get(move || {
            let peers = peers.clone();
            async move {
                tokio::time::sleep(delay).await;
                axum::Json(serde_json::json!({"ok": true, "peers": *peers}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}/comms/peers")
}

async fn server_with_presence(url: &str, timeout_ms: u64, fail_open: bool) -> Server {
    let boards = format!(
        r#"
[[leaderboards]]
id = "near"
rules = {{ require_session = false, presence = {{ url = "{url}", margin_parcels = 2, timeout_ms = {timeout_ms}, fail_open = {fail_open} }} }}
"#
    );
    serve(sqlite().await, &boards).await
}

#[tokio::test]
async fn players_near_the_signed_parcel_pass_and_others_are_refused() {
    let near = Player::new();
    let far = Player::new();
    let absent = Player::new();
    // The signed metadata says parcel 10,20.
    let url = fake_catalyst(
        serde_json::json!([
            {"id": "1", "address": near.identity.address(), "lastPing": now_ms(), "parcel": [11, 22], "position": [0, 0, 0]},
            {"id": "2", "address": far.address, "lastPing": now_ms(), "parcel": [40, 20], "position": [0, 0, 0]},
        ]),
        Duration::ZERO,
    )
    .await;
    let s = server_with_presence(&url, 2_000, false).await;
    let (status, body, _) = s.post(&near, &claim("near", 1, None)).await;
    assert_eq!(status, 201, "{body}");
    for p in [&far, &absent] {
        let (status, body, _) = s.post(p, &claim("near", 1, None)).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "not_in_world");
        assert_eq!(body["error"]["rule"], "presence");
    }
}

#[tokio::test]
async fn a_slow_peers_service_fails_closed_within_the_timeout() {
    let p = Player::new();
    let url = fake_catalyst(serde_json::json!([]), Duration::from_secs(5)).await;
    let s = server_with_presence(&url, 200, false).await;
    let started = Instant::now();
    let (status, body, retry) = s.post(&p, &claim("near", 1, None)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "presence_unavailable");
    assert_eq!(retry.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_slow_peers_service_fails_open_when_configured() {
    let p = Player::new();
    let url = fake_catalyst(serde_json::json!([]), Duration::from_secs(5)).await;
    let s = server_with_presence(&url, 200, true).await;
    let started = Instant::now();
    let (status, body, _) = s.post(&p, &claim("near", 1, None)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(status, 201, "{body}");
}

//! Regression: a connection that authenticates with its first frame (the
//! scene path) must not leave its unanswered `challenge` behind. They used to
//! pile up until their TTL, and every connect scanned them all (O(n) per
//! connect under a storm). Its own test binary: the metrics recorder is
//! process-wide.

mod common;

use common::*;
use plaza_protocol::{Format, ServerMsg};

fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn first_frame_auth_leaves_no_challenge_behind() {
    let server = TestServer::start().await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        let (c, welcome) = Client::authed(&server, &identity(), Format::MsgPack).await;
        assert!(matches!(welcome, ServerMsg::Welcome { .. }));
        clients.push(c);
    }
    let metrics = reqwest::get(server.http_url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert_eq!(
        gauge(&metrics, "plaza_auth_challenges_outstanding"),
        Some(0.0),
        "20 challenges issued, none answered, all discarded:\n{metrics}"
    );
    drop(clients);
    server.stop().await.expect("stop");
}

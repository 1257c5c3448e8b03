//! The whole server, end to end: a seat taken over a real WebSocket reaches the
//! store through the room event writer, and a signed score bound to that seat
//! is accepted once (then refused as a duplicate). Guards the wiring in
//! `server.rs` (an event receiver that is not consumed drops every seat).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use plaza::scores::LeaderboardConfig;
use plaza_protocol::{ClientMsg, Format, ServerMsg};
use sha2::Digest;

fn signed_score(id: &plaza_protocol::auth::EphemeralIdentity, body: &str) -> Vec<(String, String)> {
    let hash = hex::encode(sha2::Sha256::digest(body.as_bytes()));
    let metadata =
        SCENE_METADATA.replace(r#""hashPayload":"""#, &format!(r#""hashPayload":"{hash}""#));
    id.signed_headers("POST", "/v1/scores", now_ms(), &metadata)
}

#[tokio::test]
async fn a_seat_taken_over_ws_binds_a_score() {
    let server = TestServer::start_with(|c| {
        let board: LeaderboardConfig =
            toml::from_str("id = \"arena-best\"\noperator = \"best\"\nsort = \"desc\"\nperiod = \"all\"\n[rules]\nroom_types = [\"arena\"]\n")
                .expect("board");
        c.scores.leaderboards.push(board);
    })
    .await;
    let id = identity();
    let (mut c, _) = Client::authed(&server, &id, Format::MsgPack).await;
    c.send(&ClientMsg::JoinOrCreate {
        rid: 1,
        kind: "arena".into(),
        filter: BTreeMap::new(),
        options: BTreeMap::new(),
    })
    .await;
    let seat = loop {
        if let ServerMsg::Joined { seat, .. } = c.recv().await {
            break seat;
        }
    };
    let body = format!(r#"{{"leaderboard":"arena-best","score":7,"session":"{seat}"}}"#);
    let http = reqwest::Client::new();
    // The seat reaches the store asynchronously: allow it a moment.
    let mut status = 0;
    for _ in 0..50 {
        let mut req = http.post(server.http_url("/v1/scores")).body(body.clone());
        for (n, v) in signed_score(&id, &body) {
            req = req.header(n, v);
        }
        let resp = req.send().await.expect("post");
        status = resp.status().as_u16();
        if status != 422 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status, 201,
        "the seat opened over the WebSocket is known to the scores service"
    );
    let mut req = http.post(server.http_url("/v1/scores")).body(body.clone());
    for (n, v) in signed_score(&id, &body) {
        req = req.header(n, v);
    }
    let resp = req.send().await.expect("post");
    assert_eq!(resp.status(), 409, "one score per session");
    let board: serde_json::Value = http
        .get(server.http_url("/v1/leaderboards/arena-best"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(
        board.to_string().contains(&id.address().to_lowercase()),
        "{board}"
    );
}

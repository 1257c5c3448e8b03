//! The connect path with headers signed by the real Decentraland client
//! library (`decentraland-crypto-fetch` through the Node harness): in the first
//! frame, as a scene sends them, and on the upgrade request.

mod common;

use common::*;
use plaza_protocol::{ClientMsg, Format, ServerMsg};
use serde_json::json;

fn real_headers(path: &str) -> (String, Vec<(String, String)>) {
    let metadata: serde_json::Value = serde_json::from_str(SCENE_METADATA).expect("metadata");
    let out = node_harness(&json!([{
        "cmd": "sign", "method": "GET", "path": path, "metadata": metadata,
        "timestampMs": now_ms(), "expiration": "2099-01-01T00:00:00.000Z"
    }]));
    let address = out[0]["address"].as_str().expect("address").to_lowercase();
    let headers = out[0]["headers"]
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| {
            (
                p[0].as_str().expect("name").to_owned(),
                p[1].as_str().expect("value").to_owned(),
            )
        })
        .collect();
    (address, headers)
}

#[tokio::test]
async fn first_frame_headers_from_the_real_client_library() {
    let server = TestServer::start().await;
    let (address, headers) = real_headers("/v1/ws");
    let mut c = Client::connect(&server.ws_url(), Format::Json).await;
    assert!(matches!(c.recv().await, ServerMsg::Challenge { .. }));
    c.send(&ClientMsg::Auth {
        headers: headers.iter().cloned().collect(),
    })
    .await;
    match c.recv().await {
        ServerMsg::Welcome { address: got, .. } => assert_eq!(got, address),
        other => panic!("expected welcome, got {other:?}"),
    }
    // The same signed headers cannot be used twice.
    let mut again = Client::connect(&server.ws_url(), Format::Json).await;
    let _ = again.recv().await;
    again
        .send(&ClientMsg::Auth {
            headers: headers.into_iter().collect(),
        })
        .await;
    again
        .expect_refusal("auth_replayed", plaza::gateway::error::close::AUTH_FAILED)
        .await;
}

#[tokio::test]
async fn upgrade_headers_from_the_real_client_library() {
    let server = TestServer::start().await;
    let (address, headers) = real_headers("/v1/ws");
    let mut c = connect_with_headers(&server.ws_url(), &headers, Format::Json).await;
    match c.recv().await {
        ServerMsg::Welcome { address: got, .. } => assert_eq!(got, address),
        other => panic!("expected welcome, got {other:?}"),
    }
}

//! The WebSocket gateway end to end: a real server on 127.0.0.1:0, real
//! WebSocket clients, real signatures.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;

use common::*;
use plaza::gateway::error::close;
use plaza_protocol::{ClientMsg, Format, ServerMsg};
use tokio_tungstenite::tungstenite::Message;

async fn healthy(server: &TestServer) {
    let id = identity();
    let (_c, welcome) = Client::authed(server, &id, Format::MsgPack).await;
    assert!(matches!(welcome, ServerMsg::Welcome { .. }));
}

#[tokio::test]
async fn first_frame_headers_in_both_formats() {
    let server = TestServer::start().await;
    for format in [Format::MsgPack, Format::Json] {
        let id = identity();
        let (_c, welcome) = Client::authed(&server, &id, format).await;
        let ServerMsg::Welcome {
            address,
            session_id,
            resume_token,
            limits,
            ..
        } = welcome
        else {
            unreachable!()
        };
        assert_eq!(address, id.address().to_lowercase());
        assert!(!session_id.is_empty());
        assert!(resume_token.len() >= 22, "resume token carries >= 128 bits");
        assert_eq!(limits.max_frame_bytes, 64 * 1024);
    }
}

#[tokio::test]
async fn upgrade_headers_authenticate_without_a_challenge() {
    let server = TestServer::start().await;
    let id = identity();
    let url = format!("{}?format=msgpack", server.ws_url());
    let mut c = connect_with_headers(&url, &ws_headers(&id), Format::MsgPack).await;
    match c.recv().await {
        ServerMsg::Welcome { address, .. } => assert_eq!(address, id.address().to_lowercase()),
        other => panic!("expected welcome, got {other:?}"),
    }
}

#[tokio::test]
async fn ticket_handshake_is_single_use() {
    let server = TestServer::start().await;
    let id = identity();
    let http = reqwest::Client::new();
    let mut req = http.post(server.http_url("/v1/auth/ticket"));
    for (n, v) in id.signed_headers("POST", "/v1/auth/ticket", now_ms(), "{}") {
        req = req.header(n, v);
    }
    let resp = req.send().await.expect("ticket request");
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.expect("json");
    let ticket = body["ticket"].as_str().expect("ticket").to_owned();
    assert!(ticket.len() >= 22);
    assert!(body["expiresAt"].as_u64().expect("expiresAt") > now_ms());

    let mut c = Client::connect(&server.ws_url(), Format::Json).await;
    let _challenge = c.recv().await;
    c.send(&ClientMsg::Ticket {
        ticket: ticket.clone(),
    })
    .await;
    match c.recv().await {
        ServerMsg::Welcome { address, .. } => assert_eq!(address, id.address().to_lowercase()),
        other => panic!("expected welcome, got {other:?}"),
    }
    let mut again = Client::connect(&server.ws_url(), Format::Json).await;
    again.send(&ClientMsg::Ticket { ticket }).await;
    let code = match again.next().await {
        common::Seen::Msg(ServerMsg::Challenge { .. }) => match again.next().await {
            common::Seen::Msg(ServerMsg::Error { code, .. }) => code,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert!(
        code.starts_with("auth_") || code.contains("ticket"),
        "{code}"
    );
    assert!(matches!(
        again.next().await,
        common::Seen::Close(Some(close::AUTH_FAILED))
    ));

    let resp = http
        .post(server.http_url("/v1/auth/ticket"))
        .send()
        .await
        .expect("unsigned");
    assert!(
        resp.status() == 400 || resp.status() == 401,
        "{}",
        resp.status()
    );
    let body: serde_json::Value = resp.json().await.expect("json error body");
    assert!(body["error"]["code"].is_string());
}

#[tokio::test]
async fn challenge_handshake() {
    let server = TestServer::start().await;
    let id = identity();
    let mut c = Client::connect(&server.ws_url(), Format::MsgPack).await;
    let ServerMsg::Challenge { nonce } = c.recv().await else {
        panic!("challenge first")
    };
    assert!(nonce.len() >= 22, "challenge carries >= 128 bits: {nonce}");
    let chain = serde_json::to_value(id.sign_payload(&nonce)).expect("chain json");
    c.send(&ClientMsg::Answer { auth_chain: chain }).await;
    match c.recv().await {
        ServerMsg::Welcome { address, .. } => assert_eq!(address, id.address().to_lowercase()),
        other => panic!("expected welcome, got {other:?}"),
    }
    // A chain signing something else is refused.
    let mut bad = Client::connect(&server.ws_url(), Format::MsgPack).await;
    let _ = bad.recv().await;
    let chain = serde_json::to_value(id.sign_payload("not the nonce")).expect("chain json");
    bad.send(&ClientMsg::Answer { auth_chain: chain }).await;
    match bad.next().await {
        common::Seen::Msg(ServerMsg::Error { code, .. }) => {
            assert!(code.starts_with("auth_"), "{code}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        bad.next().await,
        common::Seen::Close(Some(close::AUTH_FAILED))
    ));
}

async fn refused_headers(headers: Vec<(String, String)>) -> String {
    let server = TestServer::start().await;
    let mut c = Client::connect(&server.ws_url(), Format::Json).await;
    let _ = c.recv().await;
    c.send(&auth_msg(&headers)).await;
    let code = match c.next().await {
        common::Seen::Msg(ServerMsg::Error {
            code,
            retryable,
            message,
            ..
        }) => {
            assert!(!message.is_empty());
            let _ = retryable;
            code
        }
        other => panic!("expected an error, got {other:?}"),
    };
    assert!(matches!(
        c.next().await,
        common::Seen::Close(Some(close::AUTH_FAILED))
    ));
    healthy(&server).await;
    code
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let id = identity();
    let other = identity();
    let mut headers = ws_headers(&id);
    // Swap the signed-entity link for one signed by another key.
    let foreign = ws_headers(&other);
    for (n, v) in headers.iter_mut() {
        if n == "x-identity-auth-chain-2" {
            *v = foreign
                .iter()
                .find(|(fnm, _)| fnm == n)
                .expect("link 2")
                .1
                .clone();
        }
    }
    let code = refused_headers(headers).await;
    assert!(code.starts_with("auth_"), "{code}");
}

#[tokio::test]
async fn expired_and_future_timestamps_are_refused() {
    let id = identity();
    let old = id.signed_headers("GET", "/v1/ws", now_ms() - 120_000, SCENE_METADATA);
    let code = refused_headers(old).await;
    assert!(code.contains("expired") || code.contains("time"), "{code}");
    let future = id.signed_headers("GET", "/v1/ws", now_ms() + 600_000, SCENE_METADATA);
    let code = refused_headers(future).await;
    assert!(code.contains("future") || code.contains("time"), "{code}");
}

#[tokio::test]
async fn wrong_path_is_refused() {
    let id = identity();
    let headers = id.signed_headers("GET", "/v1/other", now_ms(), SCENE_METADATA);
    let code = refused_headers(headers).await;
    assert!(code.starts_with("auth_"), "{code}");
}

#[tokio::test]
async fn replayed_headers_are_refused() {
    let server = TestServer::start().await;
    let id = identity();
    let headers = ws_headers(&id);
    let mut first = Client::connect(&server.ws_url(), Format::Json).await;
    let _ = first.recv().await;
    first.send(&auth_msg(&headers)).await;
    assert!(matches!(first.recv().await, ServerMsg::Welcome { .. }));
    let mut second = Client::connect(&server.ws_url(), Format::Json).await;
    let _ = second.recv().await;
    second.send(&auth_msg(&headers)).await;
    match second.next().await {
        common::Seen::Msg(ServerMsg::Error { code, .. }) => {
            assert!(code.contains("replay"), "{code}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        second.next().await,
        common::Seen::Close(Some(close::AUTH_FAILED))
    ));
}

#[tokio::test]
async fn slow_handshake_times_out() {
    let server = TestServer::start_with(|c| c.limits.handshake_timeout_ms = 300).await;
    let mut c = Client::connect(&server.ws_url(), Format::Json).await;
    c.expect_refusal("handshake_timeout", close::HANDSHAKE_TIMEOUT)
        .await;
    healthy(&server).await;
}

#[tokio::test]
async fn first_message_must_authenticate() {
    let server = TestServer::start().await;
    let mut c = Client::connect(&server.ws_url(), Format::Json).await;
    c.send(&ClientMsg::Leave { room: "r".into() }).await;
    c.expect_refusal("not_authenticated", close::PROTOCOL).await;
}

#[tokio::test]
async fn oversized_frame_is_refused() {
    let server = TestServer::start_with(|c| c.limits.max_frame_bytes = 4096).await;
    let id = identity();
    let (mut c, _) = Client::authed(&server, &id, Format::MsgPack).await;
    c.send_raw(Message::Binary(vec![0x90u8; 10_000].into()))
        .await;
    c.expect_refusal("frame_too_large", close::FRAME_TOO_LARGE)
        .await;
    healthy(&server).await;
}

#[tokio::test]
async fn garbage_bytes_are_refused() {
    let server = TestServer::start().await;
    let id = identity();
    let (mut c, _) = Client::authed(&server, &id, Format::MsgPack).await;
    c.send_raw(Message::Binary(vec![0xc1, 0xff, 0x00, 0x13].into()))
        .await;
    c.expect_refusal("protocol_error", close::PROTOCOL).await;
    let mut pre = Client::connect(&server.ws_url(), Format::Json).await;
    pre.send_raw(Message::Text("{not json".into())).await;
    pre.expect_refusal("protocol_error", close::PROTOCOL).await;
    healthy(&server).await;
}

#[tokio::test]
async fn text_binary_mix_is_refused() {
    let server = TestServer::start().await;
    let id = identity();
    let (mut c, _) = Client::authed(&server, &id, Format::Json).await;
    c.format = Format::MsgPack;
    c.send(&ClientMsg::Ping { d: 1.0 }).await;
    c.expect_refusal("format_mismatch", close::PROTOCOL).await;
    healthy(&server).await;
}

#[tokio::test]
async fn ping_pong_in_the_clients_format() {
    let server = TestServer::start().await;
    for format in [Format::MsgPack, Format::Json] {
        let (mut c, _) = Client::authed(&server, &identity(), format).await;
        c.send(&ClientMsg::Ping { d: 42.5 }).await;
        assert_eq!(c.recv().await, ServerMsg::Pong { d: 42.5 });
    }
}

#[tokio::test]
async fn flood_is_dropped_then_warned_then_closed() {
    let server = TestServer::start_with(|c| {
        c.limits.messages_per_second = 5;
        c.limits.message_burst = 5;
        c.limits.flood_strikes = 20;
    })
    .await;
    let (mut c, _) = Client::authed(&server, &identity(), Format::MsgPack).await;
    for i in 0..40 {
        c.send(&ClientMsg::Ping { d: f64::from(i) }).await;
    }
    let mut pongs = 0;
    let mut warned = false;
    loop {
        match c.next().await {
            common::Seen::Msg(ServerMsg::Pong { .. }) => pongs += 1,
            common::Seen::Msg(ServerMsg::Error { code, .. }) if code == "rate_limited" => {
                warned = true
            }
            common::Seen::Msg(ServerMsg::Error { code, .. }) if code == "flood" => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(warned, "a rate_limited error precedes the close");
    assert!(
        (5..=7).contains(&pongs),
        "only the burst was served: {pongs}"
    );
    assert!(matches!(
        c.next().await,
        common::Seen::Close(Some(close::FLOOD))
    ));
    healthy(&server).await;
}

#[tokio::test]
async fn per_ip_and_per_wallet_limits() {
    let server = TestServer::start_with(|c| {
        c.limits.connections_per_ip = 3;
        c.limits.connections_per_wallet = 1;
    })
    .await;
    let id = identity();
    let (_first, _) = Client::authed(&server, &id, Format::Json).await;
    let mut second = Client::connect(&server.ws_url(), Format::Json).await;
    let _ = second.recv().await;
    second.send(&auth_msg(&ws_headers(&id))).await;
    second
        .expect_refusal("too_many_connections_wallet", close::TOO_MANY_CONNECTIONS)
        .await;
    let _a = Client::connect(&server.ws_url(), Format::Json).await;
    let _b = Client::connect(&server.ws_url(), Format::Json).await;
    let mut c = Client::connect(&server.ws_url(), Format::Json).await;
    c.expect_refusal("too_many_connections_ip", close::TOO_MANY_CONNECTIONS)
        .await;
}

#[tokio::test]
async fn resume_restores_the_session_and_bad_tokens_leak_nothing() {
    let server = TestServer::start().await;
    let id = identity();
    let (c, welcome) = Client::authed(&server, &id, Format::MsgPack).await;
    let ServerMsg::Welcome {
        session_id,
        resume_token,
        ..
    } = welcome
    else {
        unreachable!()
    };
    drop(c);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let mut bad = Client::connect(&server.ws_url(), Format::MsgPack).await;
    let _ = bad.recv().await;
    bad.send(&ClientMsg::Resume {
        token: "nope".into(),
        rooms: BTreeMap::new(),
    })
    .await;
    bad.expect_refusal("resume_invalid", close::RESUME_FAILED)
        .await;

    let mut again = Client::connect(&server.ws_url(), Format::MsgPack).await;
    let _ = again.recv().await;
    again
        .send(&ClientMsg::Resume {
            token: resume_token.clone(),
            rooms: BTreeMap::new(),
        })
        .await;
    match again.recv().await {
        ServerMsg::Resumed {
            session_id: sid,
            resume_token: fresh,
            address,
            ..
        } => {
            assert_eq!(sid, session_id);
            assert_ne!(fresh, resume_token, "the token is rotated");
            assert_eq!(address, id.address().to_lowercase());
        }
        other => panic!("expected resumed, got {other:?}"),
    }
    // The spent token no longer works.
    let mut spent = Client::connect(&server.ws_url(), Format::MsgPack).await;
    let _ = spent.recv().await;
    spent
        .send(&ClientMsg::Resume {
            token: resume_token,
            rooms: BTreeMap::new(),
        })
        .await;
    spent
        .expect_refusal("resume_invalid", close::RESUME_FAILED)
        .await;
}

#[tokio::test]
async fn resume_takes_over_a_live_connection() {
    let server = TestServer::start().await;
    let (mut old, welcome) = Client::authed(&server, &identity(), Format::Json).await;
    let ServerMsg::Welcome { resume_token, .. } = welcome else {
        unreachable!()
    };
    let mut new = Client::connect(&server.ws_url(), Format::Json).await;
    let _ = new.recv().await;
    new.send(&ClientMsg::Resume {
        token: resume_token,
        rooms: BTreeMap::new(),
    })
    .await;
    assert!(matches!(new.recv().await, ServerMsg::Resumed { .. }));
    old.expect_refusal("replaced", close::REPLACED).await;
}

#[tokio::test]
async fn shutdown_tells_every_client_and_drains() {
    let server = TestServer::start().await;
    let (mut a, _) = Client::authed(&server, &identity(), Format::MsgPack).await;
    let (mut b, _) = Client::authed(&server, &identity(), Format::Json).await;
    let stopping = tokio::spawn(server.stop());
    for c in [&mut a, &mut b] {
        match c.next().await {
            common::Seen::Msg(ServerMsg::Shutdown { retry_after_ms, .. }) => {
                assert!(retry_after_ms > 0)
            }
            other => panic!("expected shutdown, got {other:?}"),
        }
        assert!(matches!(
            c.next().await,
            common::Seen::Close(Some(close::GOING_AWAY))
        ));
    }
    stopping.await.expect("join").expect("run returns Ok");
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let server = TestServer::start().await;
    let _c = Client::authed(&server, &identity(), Format::Json).await;
    let http = reqwest::Client::new();
    let r = http
        .get(server.http_url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    let r = http
        .get(server.http_url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 200);
    let text = http
        .get(server.http_url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(text.contains("plaza_handshakes_total"), "{text}");
    assert!(text.contains("plaza_connections_open"), "{text}");
}

#[tokio::test]
async fn client_close_is_answered_and_the_stream_ends() {
    let server = TestServer::start().await;
    let (mut c, _) = Client::authed(&server, &identity(), Format::MsgPack).await;
    c.ws.close(None).await.expect("close sent");
    // tungstenite answers `next()` with the server's close reply, then ends.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), c.ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000));
            }
            Ok(Some(Ok(other))) => panic!("unexpected frame after close: {other:?}"),
            Ok(Some(Err(_))) | Ok(None) => break,
            Err(_) => panic!("the server did not end the connection after the close"),
        }
    }
    healthy(&server).await;
}

#[tokio::test]
async fn fragmented_messages_are_joined() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
    let server = TestServer::start().await;
    let (mut c, _) = Client::authed(&server, &identity(), Format::Json).await;
    let text = br#"{"t":"ping","d":7}"#;
    let part = |opcode, is_final, bytes: &[u8]| {
        let header = FrameHeader {
            is_final,
            opcode,
            ..FrameHeader::default()
        };
        Message::Frame(Frame::from_payload(header, bytes.to_vec().into()))
    };
    c.send_raw(part(OpCode::Data(Data::Text), false, &text[..5]))
        .await;
    c.send_raw(part(OpCode::Data(Data::Continue), false, &text[5..9]))
        .await;
    c.send_raw(part(OpCode::Data(Data::Continue), true, &text[9..]))
        .await;
    assert_eq!(c.recv().await, ServerMsg::Pong { d: 7.0 });
}

/// A raw TCP connection to the server and an RFC 6455 upgrade request for
/// it (with the RFC's example key), not yet sent.
async fn raw_upgrade(server: &TestServer) -> (tokio::net::TcpStream, String) {
    let addr = server
        .ws_url()
        .trim_start_matches("ws://")
        .replace("/v1/ws", "");
    let tcp = tokio::net::TcpStream::connect(&addr).await.expect("tcp");
    let request = format!(
        "GET /v1/ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    (tcp, request)
}

/// A client frame without a mask (RFC 6455 §5.1) over a raw socket.
#[tokio::test]
async fn unmasked_client_frames_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let (mut tcp, request) = raw_upgrade(&server).await;
    tcp.write_all(request.as_bytes()).await.expect("request");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\r\n\r\n") {
        let n = tcp.read(&mut buf).await.expect("response");
        assert!(n > 0, "closed during the upgrade");
        seen.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&seen).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "RFC 6455 accept key: {head}"
    );
    tcp.write_all(&[0x81, 0x02, b'{', b'}'])
        .await
        .expect("unmasked frame");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
    let all = [seen, rest].concat();
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("protocol_error"), "{text}");
    assert!(text.contains("must be masked"), "{text}");
    // The close frame: 0x88, length, then code 4000.
    let close = all
        .windows(2)
        .position(|w| w[0] == 0x88)
        .expect("close frame");
    assert_eq!(&all[close + 2..close + 4], &close::PROTOCOL.to_be_bytes());
    healthy(&server).await;
}

/// Bytes a client sends right behind the upgrade request, in the same
/// write, are read as frames (the server takes the socket back from hyper
/// together with what hyper had already read).
#[tokio::test]
async fn a_frame_sent_with_the_upgrade_request_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let (mut tcp, request) = raw_upgrade(&server).await;
    let mut bytes = request.into_bytes();
    // A masked ping carrying "early".
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    bytes.extend_from_slice(&[0x89, 0x80 | 5]);
    bytes.extend_from_slice(&mask);
    bytes.extend(b"early".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    tcp.write_all(&bytes).await.expect("request and frame");
    let pong = [&[0x8a, 5][..], b"early"].concat();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.windows(pong.len()).any(|w| w == pong.as_slice()) {
        let n = tokio::time::timeout_at(deadline, tcp.read(&mut buf))
            .await
            .expect("no pong for the early ping within 5 s")
            .expect("read");
        assert!(
            n > 0,
            "closed before the pong: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 101"));
    healthy(&server).await;
}

#[tokio::test]
async fn a_plain_get_is_not_an_upgrade() {
    let server = TestServer::start().await;
    let res = reqwest::get(server.http_url("/v1/ws")).await.expect("get");
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.expect("json body");
    assert_eq!(body["error"]["code"], "bad_upgrade");
    healthy(&server).await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_as_idle() {
    let server = TestServer::start_with(|c| {
        c.limits.idle_timeout_ms = 1_000;
        c.limits.ping_interval_ms = 60_000;
    })
    .await;
    let (mut c, _) = Client::authed(&server, &identity(), Format::MsgPack).await;
    let started = std::time::Instant::now();
    c.expect_refusal("idle_timeout", close::IDLE_TIMEOUT).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}, before the idle timeout"
    );
    healthy(&server).await;
}

#[tokio::test]
async fn keep_alive_pings_arrive_and_answered_pings_keep_the_connection() {
    let server = TestServer::start_with(|c| {
        c.limits.idle_timeout_ms = 1_000;
        c.limits.ping_interval_ms = 100;
    })
    .await;
    let (mut c, _) = Client::authed(&server, &identity(), Format::MsgPack).await;
    // tungstenite answers each ping with a pong while it is read; those
    // pongs are the only thing this client sends for 2.5 idle timeouts.
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(2_500);
    while let Ok(frame) = tokio::time::timeout_at(until, c.ws.next()).await {
        match frame {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("unexpected {other:?} while only pings should arrive"),
        }
    }
    assert!(
        pings >= 5,
        "only {pings} pings in 2.5 s at a 100 ms interval"
    );
    c.send(&ClientMsg::Ping { d: 3.0 }).await;
    assert_eq!(c.recv().await, ServerMsg::Pong { d: 3.0 });
}

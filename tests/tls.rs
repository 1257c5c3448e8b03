//! wss:// directly: the server loads a PEM certificate and key; a client that
//! trusts that certificate completes the handshake and authenticates.

mod common;

use std::sync::Arc;

use common::*;
use futures_util::{SinkExt, StreamExt};
use plaza_protocol::{decode, encode, ClientMsg, Format, ServerMsg};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn wss_with_a_self_signed_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let dir = tempfile::tempdir().expect("dir");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).expect("write key");

    let server = TestServer::start_with(|c| {
        c.server.tls_cert = Some(cert_path.clone());
        c.server.tls_key = Some(key_path.clone());
    })
    .await;

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(cert.cert.der().clone())
        .expect("trust the test cert");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));

    // Give the TLS listener a moment to come up.
    let mut tcp = None;
    for _ in 0..50 {
        if let Ok(s) = tokio::net::TcpStream::connect(server.addr).await {
            tcp = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let tcp = tcp.expect("tcp connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let url = format!("wss://localhost:{}/v1/ws", server.addr.port());
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("wss upgrade");

    let challenge = ws.next().await.expect("frame").expect("ok");
    let Message::Text(text) = challenge else {
        panic!("challenge is text")
    };
    assert!(matches!(
        decode::<ServerMsg>(text.as_bytes(), Format::Json),
        Ok(ServerMsg::Challenge { .. })
    ));
    let id = identity();
    let auth = encode(&auth_msg(&ws_headers(&id)), Format::MsgPack).expect("encode");
    ws.send(Message::Binary(auth.into())).await.expect("send");
    let Message::Binary(b) = ws.next().await.expect("frame").expect("ok") else {
        panic!("welcome is binary for a binary client")
    };
    match decode::<ServerMsg>(&b, Format::MsgPack).expect("decode") {
        ServerMsg::Welcome { address, .. } => assert_eq!(address, id.address().to_lowercase()),
        other => panic!("expected welcome, got {other:?}"),
    }
    let ping = encode(&ClientMsg::Ping { d: 7.0 }, Format::MsgPack).expect("encode");
    ws.send(Message::Binary(ping.into())).await.expect("send");
    let Message::Binary(b) = ws.next().await.expect("frame").expect("ok") else {
        panic!("pong")
    };
    assert_eq!(
        decode::<ServerMsg>(&b, Format::MsgPack).expect("decode"),
        ServerMsg::Pong { d: 7.0 }
    );
    server.stop().await.expect("stops");
}

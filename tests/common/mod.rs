//! Test helpers shared by the integration tests: a real server on
//! `127.0.0.1:0`, a WebSocket client that speaks the protocol, and signers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use plaza::config::Config;
use plaza_protocol::auth::{EphemeralIdentity, Wallet};
use plaza_protocol::{decode, encode, ClientMsg, Format, ServerMsg};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _data: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with `tweak` applied to a test config.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.server.data_dir = data.path().to_owned();
        tweak(&mut config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(plaza::server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
            _data: data,
        }
    }

    /// Starts a server with the default test config.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// `ws://…/v1/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    /// `http://…`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Triggers shutdown and waits for `run` to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("server stops within 20 s")
                .expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A fresh wallet + 3-link ephemeral identity valid for a day.
pub fn identity() -> EphemeralIdentity {
    let wallet = Wallet::random();
    EphemeralIdentity::new(&wallet, Wallet::random(), now_ms() + 86_400_000)
}

/// Unix ms.
pub fn now_ms() -> u64 {
    plaza::events::now_ms()
}

/// Metadata like the Unity explorer's for a GET without body.
pub const SCENE_METADATA: &str = r#"{"sceneId":"bafkreiscene","parcel":"0,0","tld":"org","network":"mainnet","isGuest":false,"realm":{"hostname":"realm.example","protocol":"v3","serverName":"main"},"signer":"decentraland-kernel-scene","hashPayload":""}"#;

/// Headers signed for `GET /v1/ws` now.
pub fn ws_headers(id: &EphemeralIdentity) -> Vec<(String, String)> {
    id.signed_headers("GET", "/v1/ws", now_ms(), SCENE_METADATA)
}

/// The `auth` first frame for `headers`.
pub fn auth_msg(headers: &[(String, String)]) -> ClientMsg {
    ClientMsg::Auth {
        headers: headers.iter().cloned().collect(),
    }
}

/// A protocol client.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub format: Format,
}

/// What the client saw next.
#[derive(Debug)]
pub enum Seen {
    Msg(ServerMsg),
    Close(Option<u16>),
    Eof,
}

impl Client {
    /// Connects to `url` (no handshake yet).
    pub async fn connect(url: &str, format: Format) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        Self { ws, format }
    }

    /// Connects, reads the challenge, sends signed headers, expects `welcome`.
    pub async fn authed(
        server: &TestServer,
        id: &EphemeralIdentity,
        format: Format,
    ) -> (Self, ServerMsg) {
        let mut c = Self::connect(&server.ws_url(), format).await;
        let challenge = c.recv().await;
        assert!(
            matches!(challenge, ServerMsg::Challenge { .. }),
            "{challenge:?}"
        );
        c.send(&auth_msg(&ws_headers(id))).await;
        let welcome = c.recv().await;
        assert!(matches!(welcome, ServerMsg::Welcome { .. }), "{welcome:?}");
        (c, welcome)
    }

    /// Sends one message in this client's format.
    pub async fn send(&mut self, msg: &ClientMsg) {
        let bytes = encode(msg, self.format).expect("encode");
        let frame = match self.format {
            Format::MsgPack => Message::Binary(bytes.into()),
            Format::Json => Message::Text(String::from_utf8(bytes).expect("utf8").into()),
        };
        self.ws.send(frame).await.expect("send");
    }

    /// Sends a raw frame.
    pub async fn send_raw(&mut self, frame: Message) {
        let _ = self.ws.send(frame).await;
    }

    /// The next protocol message, close or end (5 s limit).
    pub async fn next(&mut self) -> Seen {
        loop {
            let frame = match tokio::time::timeout(Duration::from_secs(5), self.ws.next()).await {
                Ok(Some(Ok(f))) => f,
                Ok(Some(Err(_))) | Ok(None) => return Seen::Eof,
                Err(_) => panic!("no frame within 5 s"),
            };
            match frame {
                Message::Binary(b) => {
                    return Seen::Msg(decode(&b, Format::MsgPack).expect("decode binary"))
                }
                Message::Text(t) => {
                    return Seen::Msg(decode(t.as_bytes(), Format::Json).expect("decode text"))
                }
                Message::Close(frame) => return Seen::Close(frame.map(|f| u16::from(f.code))),
                _ => continue,
            }
        }
    }

    /// The next protocol message (panics on close).
    pub async fn recv(&mut self) -> ServerMsg {
        match self.next().await {
            Seen::Msg(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Expects `error {code}` then a close with `close_code`.
    pub async fn expect_refusal(&mut self, code: &str, close_code: u16) {
        loop {
            match self.next().await {
                Seen::Msg(ServerMsg::Error { code: got, .. }) => {
                    assert_eq!(got, code, "error code");
                    break;
                }
                Seen::Msg(ServerMsg::Challenge { .. }) => continue,
                other => panic!("expected error {code}, got {other:?}"),
            }
        }
        match self.next().await {
            Seen::Close(Some(c)) => assert_eq!(c, close_code, "close code"),
            other => panic!("expected close {close_code}, got {other:?}"),
        }
    }
}

/// Runs the Node interop harness (`tests/interop/harness.mjs`, the real
/// `@dcl/crypto` / `decentraland-crypto-fetch`) on a batch of commands.
pub fn node_harness(commands: &serde_json::Value) -> Vec<serde_json::Value> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    // Tests of one binary run in parallel: one `npm ci` at a time.
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !dir.join("node_modules/@dcl/crypto").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm must be installed to run the interop tests (Node >= 20)");
        assert!(status.success(), "npm ci in tests/interop failed");
    }
    drop(_guard);
    let mut child = Command::new("node")
        .arg("harness.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node must be installed to run the interop tests (Node >= 20)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(commands.to_string().as_bytes())
        .expect("write commands");
    let out = child.wait_with_output().expect("harness runs");
    assert!(out.status.success(), "harness failed");
    serde_json::from_slice(&out.stdout).expect("harness prints a JSON array")
}

/// Connects with `headers` on the upgrade request itself (Node and native
/// clients can set headers; scenes cannot).
pub async fn connect_with_headers(
    url: &str,
    headers: &[(String, String)],
    format: Format,
) -> Client {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    Client { ws, format }
}

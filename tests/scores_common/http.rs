//! A scores server on `127.0.0.1:0` (real HTTP, real signatures) and a
//! signing player, for the `scores_*` HTTP tests and the bench.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use plaza::auth::Authenticator;
use plaza::config::Config;
use plaza::events::{now_ms, EventSink, PlazaEvent};
use plaza::scores::{router, spawn_event_writer, ScoresService};
use plaza::store::Store;
use plaza_protocol::auth::{EphemeralIdentity, Wallet};
use sha2::{Digest, Sha256};

pub const ADMIN: &str = "admin-secret";

/// A running server.
pub struct Server {
    pub base: String,
    pub service: Arc<ScoresService>,
    pub store: Store,
    pub sink: EventSink,
    pub client: reqwest::Client,
    _keep: Option<super::Backend>,
}

/// Starts a server with `scores_toml` as the `[scores]` table body and the
/// admin token set.
pub async fn serve(backend: super::Backend, scores_toml: &str) -> Server {
    serve_with(backend, scores_toml, |_| {}).await
}

pub async fn serve_with(
    backend: super::Backend,
    scores_toml: &str,
    tweak: impl FnOnce(&mut Config),
) -> Server {
    let mut config = Config {
        scores: toml::from_str(scores_toml).expect("scores toml"),
        ..Config::default()
    };
    config.scores.validate().expect("valid scores config");
    config.server.admin_token = Some(ADMIN.into());
    tweak(&mut config);
    let auth = Authenticator::new(&config.auth);
    let store = backend.store.clone();
    let (service, _audit) = ScoresService::new(&config, auth, store.clone());
    let (sink, rx) = EventSink::channel();
    spawn_event_writer(service.clone(), rx);
    let app = router(service.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    Server {
        base: format!("http://{addr}"),
        service,
        store,
        sink,
        client: reqwest::Client::new(),
        _keep: Some(backend),
    }
}

/// A wallet with an ephemeral key, as an explorer holds after login.
pub struct Player {
    pub identity: EphemeralIdentity,
    /// Lower-case address.
    pub address: String,
}

impl Player {
    pub fn new() -> Player {
        let wallet = Wallet::random();
        let identity = EphemeralIdentity::new(&wallet, Wallet::random(), now_ms() + 3_600_000);
        let address = identity.address().to_ascii_lowercase();
        Player { identity, address }
    }
}

/// Metadata as the Unity explorer sends it from a scene at `scene`,
/// binding `body`.
pub fn scene_metadata(scene: &str, is_guest: bool, body: &str) -> String {
    format!(
        r#"{{"sceneId":"{scene}","parcel":"10,20","tld":"org","network":"mainnet","isGuest":{is_guest},"realm":{{"hostname":"realm-provider.decentraland.org","protocol":"v3","serverName":"main"}},"signer":"decentraland-kernel-scene","hashPayload":"{}"}}"#,
        hex::encode(Sha256::digest(body.as_bytes()))
    )
}

impl Server {
    /// Opens a seat (through the event writer, as a room would) and waits
    /// until it is stored.
    pub async fn open_seat(&self, seat: &str, address: &str, room_type: &str, joined_ms: u64) {
        self.sink.emit(PlazaEvent::SeatOpened {
            seat: seat.into(),
            address: address.into(),
            room: format!("room-{seat}"),
            room_type: room_type.into(),
            at_ms: joined_ms,
        });
        for _ in 0..200 {
            if self.store.seat(seat).await.expect("read seat").is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("seat {seat} never stored");
    }

    /// Sends `body` to `POST /v1/scores` signed with `headers`.
    pub async fn post_raw(
        &self,
        headers: &[(String, String)],
        body: &str,
    ) -> (u16, serde_json::Value, Option<String>) {
        let mut req = self
            .client
            .post(format!("{}/v1/scores", self.base))
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req = req.header("content-type", "application/json");
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let json = resp
            .json::<serde_json::Value>()
            .await
            .unwrap_or(serde_json::Value::Null);
        (status, json, retry)
    }

    /// Signs `body` as `player` from scene `scene-a` now, and posts it.
    pub async fn post(
        &self,
        player: &Player,
        body: &str,
    ) -> (u16, serde_json::Value, Option<String>) {
        let headers = sign(
            player,
            body,
            now_ms(),
            &scene_metadata("scene-a", false, body),
        );
        self.post_raw(&headers, body).await
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("admin");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Polls the audit log until an entry with `code` shows up.
    pub async fn audited(&self, code: &str) -> serde_json::Value {
        for _ in 0..200 {
            let (status, body) = self
                .admin(
                    reqwest::Method::GET,
                    "/v1/admin/audit?limit=500",
                    Some(ADMIN),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            if let Some(hit) = body["entries"]
                .as_array()
                .and_then(|a| a.iter().find(|e| e["code"] == code))
            {
                return hit.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no audit entry with code {code}");
    }
}

/// The signed headers for `POST /v1/scores` with `body` at `ts`.
pub fn sign(player: &Player, _body: &str, ts: u64, metadata: &str) -> Vec<(String, String)> {
    player
        .identity
        .signed_headers("POST", "/v1/scores", ts, metadata)
}

/// A claim body.
pub fn claim(board: &str, score: i64, session: Option<&str>) -> String {
    match session {
        Some(s) => format!(r#"{{"leaderboard":"{board}","score":{score},"session":"{s}"}}"#),
        None => format!(r#"{{"leaderboard":"{board}","score":{score}}}"#),
    }
}

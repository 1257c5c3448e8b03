//! Behaviour of `plaza::auth::Authenticator` beyond the vectors: replay (including
//! high-s twins), time window, delegation cache, hashPayload, metadata policy against
//! re-casing, the verbatim-metadata form, Latin-1 headers, tickets, challenges, and
//! EIP-1654 links against a local HTTP server answering like an Ethereum node.

use std::sync::Arc;

use axum::{extract::State, routing::post, Json, Router};
use parking_lot::Mutex;
use plaza::auth::{
    AuthConfig, AuthError, AuthMethod, Authenticator, ChainKind, RequestPolicy, SignedRequest,
};
use plaza_protocol::auth::{self as chain, AuthLink, EphemeralIdentity, LinkType, Wallet};
use serde_json::{json, Value};

const NOW: u64 = 1_750_000_000_000;
const EXPIRATION: u64 = 4_102_358_400_000; // 2099-12-31

fn identity() -> EphemeralIdentity {
    EphemeralIdentity::new(&Wallet::random(), Wallet::random(), EXPIRATION)
}

/// Verifies `headers` (text values sent as Latin-1 bytes) on `method path`.
async fn verify(
    auth: &Authenticator,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    policy: &RequestPolicy,
    now: u64,
) -> Result<plaza::auth::Identity, AuthError> {
    let bytes: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                v.chars()
                    .map(|c| u8::try_from(u32::from(c)).expect("latin-1"))
                    .collect(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &[u8])> = bytes
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let req = SignedRequest {
        method,
        path,
        headers: &pairs,
        body,
    };
    auth.verify_request(&req, policy, now).await
}

/// secp256k1 order n, big-endian.
const N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
    0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
];

/// The high-s twin of a signature: `s' = n - s`, `v` flipped. Verifies just the same.
fn malleate(sig_hex: &str) -> String {
    let mut b = hex::decode(&sig_hex[2..]).expect("hex");
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(b[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        b[32 + i] = u8::try_from(d.rem_euclid(256)).expect("byte");
    }
    b[64] = if b[64] == 27 { 28 } else { 27 };
    format!("0x{}", hex::encode(b))
}

#[tokio::test]
async fn accepted_once_then_replay_refused_even_as_a_high_s_twin() {
    let auth = Authenticator::new(&AuthConfig::default());
    let id = identity();
    let headers = id.signed_headers("GET", "/v1/ws", NOW - 1000, "{}");
    let ok = verify(
        &auth,
        "GET",
        "/v1/ws",
        &headers,
        None,
        &RequestPolicy::default(),
        NOW,
    )
    .await
    .expect("fresh");
    assert_eq!(ok.address, id.address().to_lowercase());
    assert_eq!(ok.chain, ChainKind::Ephemeral);
    assert_eq!(ok.method, AuthMethod::FirstFrame);
    let again = verify(
        &auth,
        "GET",
        "/v1/ws",
        &headers,
        None,
        &RequestPolicy::default(),
        NOW,
    )
    .await;
    assert_eq!(
        again.as_ref().map_err(AuthError::code),
        Err("auth_replayed")
    );
    assert_eq!(again.expect_err("replay").http_status(), 401);

    // Same statement, different signature bytes: still the same signed payload.
    let mut twin = headers.clone();
    let mut entity: AuthLink = serde_json::from_str(&twin[2].1).expect("link");
    entity.signature = malleate(&entity.signature);
    twin[2].1 = entity.to_json();
    let fresh = Authenticator::new(&AuthConfig::default());
    assert!(
        verify(
            &fresh,
            "GET",
            "/v1/ws",
            &twin,
            None,
            &RequestPolicy::default(),
            NOW
        )
        .await
        .is_ok(),
        "high-s verifies"
    );
    let replay = verify(
        &auth,
        "GET",
        "/v1/ws",
        &twin,
        None,
        &RequestPolicy::default(),
        NOW,
    )
    .await;
    assert_eq!(replay.map_err(|e| e.code()), Err("auth_replayed"));
}

#[tokio::test]
async fn time_window_past_and_future() {
    let auth = Authenticator::new(&AuthConfig::default());
    let id = identity();
    let p = RequestPolicy::default();
    for (ts, want) in [
        (NOW - 60_000, Ok(())),
        (NOW - 60_001, Err("auth_expired")),
        (NOW + 5_000, Ok(())),
        (NOW + 5_001, Err("auth_future_timestamp")),
        (NOW + 3_600_000, Err("auth_future_timestamp")),
    ] {
        let h = id.signed_headers("GET", "/v1/ws", ts, "{}");
        let got = verify(&auth, "GET", "/v1/ws", &h, None, &p, NOW)
            .await
            .map(|_| ())
            .map_err(|e| e.code());
        assert_eq!(got, want, "ts = now{:+}", ts as i64 - NOW as i64);
    }
}

#[tokio::test]
async fn delegations_are_cached_but_expiry_still_applies() {
    let auth = Authenticator::new(&AuthConfig::default());
    let expires = NOW + 10_000;
    let id = EphemeralIdentity::new(&Wallet::random(), Wallet::random(), expires);
    let p = RequestPolicy::default();
    let h1 = id.signed_headers("GET", "/v1/ws", NOW, "{}");
    verify(&auth, "GET", "/v1/ws", &h1, None, &p, NOW)
        .await
        .expect("cold");
    assert_eq!(auth.cached_delegations(), 1);
    let h2 = id.signed_headers("GET", "/v1/ws", NOW + 1, "{}");
    verify(&auth, "GET", "/v1/ws", &h2, None, &p, NOW + 1)
        .await
        .expect("warm");
    assert_eq!(auth.cached_delegations(), 1);
    // Past the delegation's expiration the cached entry does not help.
    let h3 = id.signed_headers("GET", "/v1/ws", expires, "{}");
    let err = verify(&auth, "GET", "/v1/ws", &h3, None, &p, expires)
        .await
        .expect_err("expired delegation");
    assert_eq!(err.chain_class(), Some("EPHEMERAL_EXPIRED"));
}

#[tokio::test]
async fn hash_payload_binds_the_body() {
    let auth = Authenticator::new(&AuthConfig::default());
    let id = identity();
    let body = br#"{"score":42}"#;
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
    let meta = format!(r#"{{"signer":"decentraland-kernel-scene","hashPayload":"{hash}"}}"#);
    let p = RequestPolicy {
        require_hash_payload: true,
        ..Default::default()
    };
    let h = id.signed_headers("POST", "/v1/scores", NOW, &meta);
    verify(&auth, "POST", "/v1/scores", &h, Some(body), &p, NOW)
        .await
        .expect("bound body");
    let h = id.signed_headers("POST", "/v1/scores", NOW + 1, &meta);
    let err = verify(
        &auth,
        "POST",
        "/v1/scores",
        &h,
        Some(br#"{"score":9000}"#),
        &p,
        NOW,
    )
    .await
    .expect_err("tampered");
    assert_eq!(
        (err.code(), err.http_status()),
        ("auth_body_hash_mismatch", 401)
    );
    // A body with no hashPayload (or "") is unbound: refused where binding is required.
    for meta in [
        r#"{"signer":"decentraland-kernel-scene"}"#,
        r#"{"hashPayload":""}"#,
    ] {
        let h = id.signed_headers("POST", "/v1/scores", NOW + 2, meta);
        let err = verify(&auth, "POST", "/v1/scores", &h, Some(body), &p, NOW)
            .await
            .expect_err("unbound");
        assert_eq!((err.code(), err.http_status()), ("auth_policy_denied", 403));
    }
}

#[tokio::test]
async fn recased_metadata_does_not_bypass_a_policy() {
    let id = identity();
    // Signed as a scene; the header is re-cased afterwards (the signature still holds).
    let signed = r#"{"signer":"decentraland-kernel-scene","isGuest":true}"#;
    let mut h = id.signed_headers("GET", "/v1/ws", NOW, signed);
    h[4].1 = r#"{"Signer":"Decentraland-Kernel-Scene","IsGuest":true}"#.to_owned();
    let reject_scene = RequestPolicy {
        reject_kernel_scene: true,
        ..Default::default()
    };
    let auth = Authenticator::new(&AuthConfig::default());
    let err = verify(&auth, "GET", "/v1/ws", &h, None, &reject_scene, NOW)
        .await
        .expect_err("still a scene");
    assert_eq!(err.code(), "auth_policy_denied");
    let guests = RequestPolicy {
        reject_guests: true,
        ..Default::default()
    };
    assert!(verify(&auth, "GET", "/v1/ws", &h, None, &guests, NOW)
        .await
        .is_err());
    let scene_only = RequestPolicy {
        require_kernel_scene: true,
        ..Default::default()
    };
    let ok = verify(&auth, "GET", "/v1/ws", &h, None, &scene_only, NOW)
        .await
        .expect("scene");
    assert_eq!(
        ok.scene.signer.as_deref(),
        Some("decentraland-kernel-scene")
    );
    assert_eq!(
        ok.metadata.value()["Signer"],
        "Decentraland-Kernel-Scene",
        "reported as sent"
    );
}

#[tokio::test]
async fn verbatim_metadata_form_only_behind_the_flag() {
    let id = identity();
    let meta = r#"{"sceneId":"BafkUPPER"}"#;
    let payload = format!("get:/v1/ws:{NOW}:{meta}");
    let chain = id.sign_payload(&payload);
    let h = chain::sign::chain_headers(&chain, NOW, meta);
    let strict = Authenticator::new(&AuthConfig::default());
    let err = verify(
        &strict,
        "GET",
        "/v1/ws",
        &h,
        None,
        &RequestPolicy::default(),
        NOW,
    )
    .await
    .expect_err("off");
    assert_eq!(err.chain_class(), Some("FINAL_AUTHORITY_MISMATCH"));
    let cfg = AuthConfig {
        accept_verbatim_metadata: true,
        ..Default::default()
    };
    let flagged = Authenticator::new(&cfg);
    let allow = RequestPolicy {
        scene_ids: vec!["BafkUPPER".into()],
        ..Default::default()
    };
    let ok = verify(&flagged, "GET", "/v1/ws", &h, None, &allow, NOW)
        .await
        .expect("verbatim accepted");
    assert_eq!(ok.metadata.value()["sceneId"], "BafkUPPER");
}

#[tokio::test]
async fn latin1_header_bytes_rebuild_the_signed_payload() {
    let id = identity();
    let meta = r#"{"realm":"café"}"#;
    let h = id.signed_headers("GET", "/v1/ws", NOW, meta);
    let auth = Authenticator::new(&AuthConfig::default());
    let ok = verify(
        &auth,
        "GET",
        "/v1/ws",
        &h,
        None,
        &RequestPolicy::default(),
        NOW,
    )
    .await
    .expect("latin-1");
    assert_eq!(ok.metadata.value()["realm"], "café");
}

#[tokio::test]
async fn cheap_checks_refuse_before_crypto() {
    let auth = Authenticator::new(&AuthConfig::default());
    let id = identity();
    let mut h = id.signed_headers("GET", "/v1/ws", NOW, "{}");
    h[3].1 = format!("0{NOW}");
    let err = verify(
        &auth,
        "GET",
        "/v1/ws",
        &h,
        None,
        &RequestPolicy::default(),
        NOW,
    )
    .await
    .expect_err("0-padded");
    assert_eq!((err.code(), err.http_status()), ("auth_bad_timestamp", 400));
    let mut h = id.signed_headers("GET", "/v1/ws", NOW, "{}");
    h.extend((0..14).map(|i| (format!("x-identity-extra-{i}"), "x".to_owned())));
    let err = verify(
        &auth,
        "GET",
        "/v1/ws",
        &h,
        None,
        &RequestPolicy::default(),
        NOW,
    )
    .await
    .expect_err("too many");
    assert_eq!(err.code(), "auth_too_many_headers");
    let h = id.signed_headers("GET", "/v1/ws", NOW, "[]");
    let err = verify(
        &auth,
        "GET",
        "/v1/ws",
        &h,
        None,
        &RequestPolicy::default(),
        NOW,
    )
    .await
    .expect_err("array");
    assert_eq!(err.code(), "auth_bad_metadata");
}

#[tokio::test]
async fn tickets_are_single_use_and_short_lived() {
    let auth = Authenticator::new(&AuthConfig::default());
    let id = identity();
    let h = id.signed_headers("POST", "/v1/auth/ticket", NOW, "{}");
    let who = verify(
        &auth,
        "POST",
        "/v1/auth/ticket",
        &h,
        Some(b""),
        &RequestPolicy::default(),
        NOW,
    )
    .await
    .expect("ok");
    assert_eq!(who.method, AuthMethod::SignedRequest);
    let (ticket, expires) = auth.issue_ticket(&who, NOW);
    assert_eq!(expires, NOW + 30_000);
    assert!(ticket.len() >= 32, "≥ 128 bits");
    let redeemed = auth.redeem_ticket(&ticket, NOW + 1).expect("first use");
    assert_eq!(
        (redeemed.address.as_str(), redeemed.method),
        (who.address.as_str(), AuthMethod::Ticket)
    );
    assert_eq!(
        auth.redeem_ticket(&ticket, NOW + 2),
        Err(AuthError::InvalidTicket)
    );
    let (late, _) = auth.issue_ticket(&who, NOW);
    assert_eq!(
        auth.redeem_ticket(&late, NOW + 30_000),
        Err(AuthError::InvalidTicket)
    );
    assert_eq!(
        auth.redeem_ticket("nope", NOW),
        Err(AuthError::InvalidTicket)
    );
}

#[tokio::test]
async fn challenges_are_single_use_and_strict() {
    let auth = Authenticator::new(&AuthConfig::default());
    let id = identity();
    let nonce = auth.new_challenge();
    assert!(nonce.len() >= 32 + "plaza-challenge-".len());
    assert_ne!(nonce, auth.new_challenge());
    let answer = serde_json::to_value(id.sign_payload(&nonce)).expect("json");
    let who = auth
        .verify_challenge(&nonce, &answer, NOW)
        .await
        .expect("answer");
    assert_eq!(
        (who.address, who.method),
        (id.address().to_lowercase(), AuthMethod::Challenge)
    );
    assert_eq!(
        auth.verify_challenge(&nonce, &answer, NOW).await,
        Err(AuthError::InvalidChallenge)
    );
    // A 1-link chain naming the nonce proves nothing.
    let nonce = auth.new_challenge();
    let one = json!([{"type": "SIGNER", "payload": nonce, "signature": ""}]);
    let err = auth
        .verify_challenge(&nonce, &one, NOW)
        .await
        .expect_err("1 link");
    assert_eq!(err.chain_class(), Some("CHAIN_TOO_SHORT"));
    assert_eq!(
        auth.verify_challenge("made-up", &answer, NOW).await,
        Err(AuthError::InvalidChallenge)
    );
}

// ---- EIP-1654 against a fake node --------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum NodeMode {
    MagicOnRaw,
    MagicOnEip191,
    Never,
    Revert,
}

#[derive(Clone)]
struct Node {
    mode: NodeMode,
    magic_for: Arc<Mutex<[[u8; 32]; 2]>>,
    calls: Arc<Mutex<Vec<Value>>>,
}

async fn eth(State(node): State<Node>, Json(req): Json<Value>) -> Json<Value> {
    node.calls.lock().push(req.clone());
    let data = req["params"][0]["data"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let [raw, eip191] = *node.magic_for.lock();
    let wanted = match node.mode {
        NodeMode::MagicOnRaw => Some(raw),
        NodeMode::MagicOnEip191 => Some(eip191),
        NodeMode::Never | NodeMode::Revert => None,
    };
    if node.mode == NodeMode::Revert {
        return Json(
            json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": 3, "message": "execution reverted"}}),
        );
    }
    let hit = wanted.is_some_and(|h| data.starts_with(&format!("0x1626ba7e{}", hex::encode(h))));
    let word = if hit {
        format!("0x1626ba7e{}", "0".repeat(56))
    } else {
        format!("0x{}", "0".repeat(64))
    };
    Json(json!({"jsonrpc": "2.0", "id": req["id"], "result": word}))
}

async fn start_node(mode: NodeMode) -> (String, Node) {
    let node = Node {
        mode,
        magic_for: Arc::new(Mutex::new([[0; 32]; 2])),
        calls: Arc::default(),
    };
    let app = Router::new().route("/", post(eth)).with_state(node.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, node)
}

/// A request signed through a contract wallet: SIGNER(contract) → EIP-1654 delegation
/// (opaque contract signature) → entity signed by the ephemeral key.
fn contract_request(contract: &str) -> (Vec<(String, String)>, String) {
    let eph = Wallet::random();
    let message = chain::delegation::message(&eph.address(), EXPIRATION as i64);
    let payload = chain::signed_fetch_payload("GET", "/v1/ws", &NOW.to_string(), "{}");
    let links = vec![
        AuthLink::signer(contract),
        AuthLink {
            kind: LinkType::Eip1654Ephemeral,
            payload: message.clone(),
            signature: format!("0x{}", "ab".repeat(70)),
        },
        AuthLink {
            kind: LinkType::EcdsaSignedEntity,
            payload: payload.clone(),
            signature: eph.sign_personal(&payload),
        },
    ];
    (chain::sign::chain_headers(&links, NOW, "{}"), message)
}

const CONTRACT: &str = "0xc0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff";

#[tokio::test]
async fn eip1654_links_are_checked_through_the_configured_rpc() {
    for (mode, want, calls_want) in [
        (NodeMode::MagicOnRaw, Ok(()), 1),
        (NodeMode::MagicOnEip191, Ok(()), 2),
        (NodeMode::Never, Err(("auth_invalid_signature", 401)), 2),
        (NodeMode::Revert, Err(("auth_invalid_signature", 401)), 2),
    ] {
        let (url, node) = start_node(mode).await;
        let (headers, message) = contract_request(CONTRACT);
        *node.magic_for.lock() = [
            chain::crypto::keccak256(message.as_bytes()),
            chain::crypto::personal_message_hash(&message),
        ];
        let cfg = AuthConfig {
            eth_rpc_url: Some(url),
            ..Default::default()
        };
        let auth = Authenticator::new(&cfg);
        let got = verify(
            &auth,
            "GET",
            "/v1/ws",
            &headers,
            None,
            &RequestPolicy::default(),
            NOW,
        )
        .await;
        match (&got, want) {
            (Ok(id), Ok(())) => {
                assert_eq!(id.chain, ChainKind::Contract);
                assert_eq!(id.address, CONTRACT);
            }
            (Err(e), Err((code, status))) => {
                assert_eq!((e.code(), e.http_status()), (code, status));
                assert_eq!(e.chain_class(), Some("EIP1654_INVALID"));
            }
            _ => panic!("unexpected {got:?}"),
        }
        let calls = node.calls.lock().clone();
        assert_eq!(calls.len(), calls_want, "eth_call count");
        for call in &calls {
            assert_eq!(call["method"], "eth_call");
            assert_eq!(call["params"][0]["to"], CONTRACT);
            assert_eq!(call["params"][1], "latest");
            assert!(call["params"][0]["data"]
                .as_str()
                .is_some_and(|d| d.starts_with("0x1626ba7e")));
        }
    }
}

#[tokio::test]
async fn eip1654_without_rpc_is_refused_and_rpc_down_is_503() {
    let (headers, _) = contract_request(CONTRACT);
    let auth = Authenticator::new(&AuthConfig::default());
    let err = verify(
        &auth,
        "GET",
        "/v1/ws",
        &headers,
        None,
        &RequestPolicy::default(),
        NOW,
    )
    .await
    .expect_err("no url");
    assert_eq!(
        (err.code(), err.http_status(), err.retryable()),
        ("auth_contract_wallet_unsupported", 401, false)
    );
    assert!(err.to_string().contains("eth_rpc_url"), "{err}");

    // A port nobody listens on: bind, note the address, close.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let cfg = AuthConfig {
        eth_rpc_url: Some(format!("http://{addr}/")),
        eth_rpc_timeout_ms: 2_000,
        ..Default::default()
    };
    let auth = Authenticator::new(&cfg);
    let err = verify(
        &auth,
        "GET",
        "/v1/ws",
        &headers,
        None,
        &RequestPolicy::default(),
        NOW,
    )
    .await
    .expect_err("down");
    assert_eq!(
        (err.code(), err.http_status(), err.retryable()),
        ("auth_rpc_unavailable", 503, true)
    );
}

//! Interop with the real Decentraland client libraries (Node harness in
//! `tests/interop`, installed by `npm ci` from `scripts/test.sh`; installed here on
//! first use if missing): requests signed by `decentraland-crypto-fetch` verify in
//! Plaza, and chains signed by Plaza verify in `@dcl/crypto`'s `validateSignature`.

mod common;

use plaza::auth::{AuthConfig, Authenticator, RequestPolicy, SignedRequest};
use plaza_protocol::auth::{direct_chain, EphemeralIdentity, Wallet};
use serde_json::{json, Value};

const NOW: u64 = 1_750_000_000_000;

/// Runs the harness on a batch of commands.
fn harness(commands: &Value) -> Vec<Value> {
    common::node_harness(commands)
}

async fn verify(
    auth: &Authenticator,
    method: &str,
    path: &str,
    headers: &Value,
) -> Result<String, String> {
    // Header values travel as Latin-1 bytes.
    let raw: Vec<(String, Vec<u8>)> = headers
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| {
            let v = p[1].as_str().expect("value");
            (
                p[0].as_str().expect("name").to_owned(),
                v.chars()
                    .map(|c| u8::try_from(u32::from(c)).expect("latin-1"))
                    .collect(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &[u8])> = raw
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let req = SignedRequest {
        method,
        path,
        headers: &pairs,
        body: None,
    };
    auth.verify_request(&req, &RequestPolicy::default(), NOW)
        .await
        .map(|id| id.address)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn real_client_and_plaza_accept_each_other() {
    // Direction 1: decentraland-crypto-fetch signs, Plaza verifies (strict and compat).
    let requests = [
        ("GET", "/v1/ws", json!({})),
        (
            "POST",
            "/v1/scores",
            json!({"signer": "decentraland-kernel-scene", "sceneId": "bafkreiabc", "parcel": "-12,34",
            "isGuest": false, "realm": {"hostname": "peer.decentraland.org", "protocol": "v3", "serverName": "main"}}),
        ),
        (
            "get",
            "/v1/rooms/Arena",
            json!({"origin": "https://play.decentraland.org", "note": "café"}),
        ),
    ];
    let mut commands: Vec<Value> = requests
        .iter()
        .map(|(m, p, meta)| {
            json!({"cmd": "sign", "method": m, "path": p, "metadata": meta,
            "timestampMs": NOW - 2_000, "expiration": "2099-01-01T00:00:00.000Z"})
        })
        .collect();

    // Direction 2: Plaza signs, @dcl/crypto validates.
    let owner = Wallet::random();
    let id = EphemeralIdentity::new(&owner, Wallet::random(), 4_070_908_800_000);
    let plaza_chains = [
        (
            "get:/v1/ws:1750000000000:{}",
            serde_json::to_value(id.sign_payload("get:/v1/ws:1750000000000:{}")),
        ),
        (
            "héllo wörld — 🎮 プラザ",
            serde_json::to_value(id.sign_payload("héllo wörld — 🎮 プラザ")),
        ),
        (
            "bafkreidirect",
            serde_json::to_value(direct_chain(&owner, "bafkreidirect")),
        ),
    ];
    for (expected, chain) in &plaza_chains {
        let chain = chain.as_ref().expect("chain serialises");
        commands.push(
            json!({"cmd": "validate", "authChain": chain, "expected": expected, "nowMs": NOW}),
        );
    }
    // Control: the reference must refuse a chain we tampered with.
    let mut tampered = serde_json::to_value(id.sign_payload("a")).expect("json");
    tampered[2]["payload"] = json!("b");
    commands.push(json!({"cmd": "validate", "authChain": tampered, "expected": "b", "nowMs": NOW}));

    let answers = harness(&Value::Array(commands));
    assert_eq!(answers.len(), requests.len() + plaza_chains.len() + 1);

    for compat in [false, true] {
        let auth = Authenticator::new(&AuthConfig {
            compat,
            ..Default::default()
        });
        for ((method, path, _), answer) in requests.iter().zip(&answers) {
            let got = verify(&auth, method, path, &answer["headers"]).await;
            let want = answer["address"].as_str().expect("address").to_lowercase();
            assert_eq!(got, Ok(want), "{method} {path} (compat={compat})");
        }
    }
    for ((expected, _), answer) in plaza_chains.iter().zip(&answers[requests.len()..]) {
        assert_eq!(
            answer["ok"], true,
            "@dcl/crypto refused Plaza's chain for {expected:?}: {answer}"
        );
    }
    assert_eq!(
        answers.last().expect("control")["ok"],
        false,
        "control must fail"
    );
}

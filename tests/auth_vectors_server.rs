//! The CLI functions (`plaza::auth::cli`) over every vector case: chain cases in
//! both policies, server cases against the Express middleware's status (compat) and
//! Plaza's stricter statuses, and the recorded `signedFetch` wire requests.

use std::collections::HashMap;

use plaza::auth::cli;
use serde_json::{json, Value};

fn vectors() -> Value {
    serde_json::from_str(include_str!("../protocol/tests/data/vectors.json"))
        .expect("vectors parse")
}

async fn run_chain(compat: bool, case: &Value) -> Value {
    let out = cli::verify_chain(compat, &case.to_string())
        .await
        .expect("case objects are readable input");
    assert!(!out.contains('\n'), "one line");
    serde_json::from_str(&out).expect("output is JSON")
}

async fn run_request(compat: bool, case: &Value) -> Value {
    let out = cli::verify_request(compat, &case.to_string())
        .await
        .expect("case objects are readable input");
    assert!(!out.contains('\n'), "one line");
    serde_json::from_str(&out).expect("output is JSON")
}

const EXPRESS: &str = "decentraland-crypto-middleware@1.3.0/express";

#[tokio::test]
async fn verify_chain_cli_matches_every_chain_case_in_compat() {
    let v = vectors();
    for case in v["chainCases"].as_array().expect("cases") {
        let id = case["id"].as_str().expect("id");
        let out = run_chain(true, case).await;
        assert_eq!(out["ok"], case["result"]["ok"], "{id}: {out}");
        if let Some(class) = case["result"]["errorClass"].as_str() {
            assert_eq!(out["error"]["class"], class, "{id}");
        } else {
            assert_eq!(out["error"], Value::Null);
        }
        if out["ok"] == true && case["authChain"].as_array().is_some_and(|a| !a.is_empty()) {
            let signer = case["authChain"][0]["payload"]
                .as_str()
                .expect("signer")
                .to_lowercase();
            assert_eq!(out["address"], signer.as_str(), "{id}");
        }
    }
}

#[tokio::test]
async fn verify_chain_cli_strict_never_accepts_what_compat_refuses() {
    let v = vectors();
    let mut refused_only_by_strict = Vec::new();
    for case in v["chainCases"].as_array().expect("cases") {
        let id = case["id"].as_str().expect("id");
        let out = run_chain(false, case).await;
        if case["result"]["ok"] == false {
            assert_eq!(out["ok"], false, "{id}");
        } else if out["ok"] == false {
            refused_only_by_strict.push(id.to_owned());
        }
    }
    refused_only_by_strict.sort();
    assert_eq!(
        refused_only_by_strict,
        [
            "chain/empty-chain-empty-expectation",
            "chain/signer-only-1-link",
            "ephemeral/crlf-line-endings",
            "ephemeral/date-only-expiration",
            "ephemeral/purpose-not-decentraland-login",
        ]
    );
}

#[tokio::test]
async fn verify_chain_cli_rejects_unreadable_input() {
    assert!(cli::verify_chain(false, "not json").await.is_err());
    assert!(cli::verify_chain(false, r#"{"authChain":[]}"#)
        .await
        .is_err());
    assert!(cli::verify_request(false, r#"{"request":{}}"#)
        .await
        .is_err());
}

#[tokio::test]
async fn verify_request_cli_compat_matches_express_on_every_server_case() {
    let v = vectors();
    for case in v["serverCases"].as_array().expect("cases") {
        let id = case["id"].as_str().expect("id");
        let want = &case["verdicts"][EXPRESS];
        let out = run_request(true, case).await;
        assert_eq!(out["status"], want["status"], "{id}: {out}");
        assert_eq!(out["ok"], want["status"] == 200, "{id}");
        if want["status"] == 200 {
            assert_eq!(out["address"], want["body"]["auth"], "{id}");
            assert_eq!(out["metadata"], want["body"]["authMetadata"], "{id}");
        }
    }
}

/// Where Plaza's default (strict) policy answers differently from Express, and why.
const STRICT_STATUS: &[(&str, u64)] = &[
    ("sf/timestamp-1h-in-future", 401),   // future bound (skew 5 s)
    ("sf/timestamp-header-missing", 400), // timestamp required, decimal ms
    ("sf/metadata-json-null", 400),       // metadata must be an object
    ("sf/chain-index-gap", 400),          // a gap is malformed, not a truncation
    ("sf/policy-require-kernel-scene-missing", 403), // policy refusals are 403
    ("sf/policy-reject-kernel-scene", 403),
    ("sf/eip1654-chain-catalyst-unreachable", 401), // no eth_rpc_url: refused, not "down"
];

#[tokio::test]
async fn verify_request_cli_strict_statuses() {
    let v = vectors();
    let overrides: HashMap<_, _> = STRICT_STATUS.iter().copied().collect();
    for case in v["serverCases"].as_array().expect("cases") {
        let id = case["id"].as_str().expect("id");
        let express = case["verdicts"][EXPRESS]["status"]
            .as_u64()
            .expect("status");
        let want = overrides.get(id).copied().unwrap_or(express);
        let out = run_request(false, case).await;
        assert_eq!(out["status"], want, "{id}: {out}");
    }
}

#[tokio::test]
async fn recorded_signed_fetch_requests_verify_in_both_modes() {
    let v = vectors();
    let mut n = 0;
    for case in v["clientCases"].as_array().expect("cases") {
        let Some(wire) = case.get("wire") else {
            continue;
        };
        let id = case["id"].as_str().expect("id");
        let now = case["timestampMs"].as_u64().expect("ts") + 1000;
        let input = json!({"request": wire, "nowMs": now});
        for compat in [true, false] {
            let out = run_request(compat, &input).await;
            assert_eq!(
                out["status"], case["verdicts"][EXPRESS]["status"],
                "{id} compat={compat}: {out}"
            );
        }
        n += 1;
    }
    assert!(n >= 6);
}

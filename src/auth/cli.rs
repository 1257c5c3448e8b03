//! Library side of `plaza auth verify-chain` / `verify-request` (the lead wires
//! `main.rs` to these): JSON in, one JSON line out.
//!
//! Owns: the stdin/stdout contract of the CLI (issue 2). Must not: print, exit or
//! read stdin itself. `Err` means unreadable input (exit 2); every verdict is `Ok`.

use plaza_protocol::auth::{self as chain, ContractMode, Policy, VerifyOptions};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{AuthConfig, AuthError, Authenticator, RequestPolicy, SignedRequest};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChainInput {
    auth_chain: Value,
    expected_final_authority: String,
    now_ms: u64,
}

/// `{"authChain":[…],"expectedFinalAuthority":"…","nowMs":N}` →
/// `{"ok":bool,"address":"0x…"|null,"error":{"class","message"}|null}`.
pub async fn verify_chain(compat: bool, input: &str) -> Result<String, String> {
    let input: ChainInput =
        serde_json::from_str(input).map_err(|e| format!("unreadable input: {e}"))?;
    let opts = VerifyOptions {
        policy: if compat {
            Policy::Compat
        } else {
            Policy::Strict
        },
        now_ms: input.now_ms,
        contracts: ContractMode::Refuse,
    };
    let out = match chain::verify_chain(
        &input.auth_chain,
        &input.expected_final_authority,
        &opts,
        None,
    ) {
        Ok(v) => {
            let addr = (!v.signer.is_empty()).then(|| v.signer.to_lowercase());
            json!({"ok": true, "address": addr, "error": null})
        }
        Err(e) => {
            json!({"ok": false, "address": null, "error": {"class": e.class(), "message": e.to_string()}})
        }
    };
    Ok(out.to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestInput {
    request: RequestSpec,
    now_ms: u64,
    #[serde(default)]
    options: RequestOptions,
}

#[derive(Deserialize)]
struct RequestSpec {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RequestOptions {
    expiration: Option<u64>,
    metadata_policy: Option<String>,
}

/// `{"request":{method,target,headers,body?},"nowMs":N,"options":{expiration?,metadataPolicy?}}`
/// → `{"ok","status","address","metadata","error"}`. A fresh replay cache per call.
/// With `compat`, `status` follows `decentraland-crypto-middleware@1.3.0/express`.
pub async fn verify_request(compat: bool, input: &str) -> Result<String, String> {
    let input: RequestInput =
        serde_json::from_str(input).map_err(|e| format!("unreadable input: {e}"))?;
    let mut config = AuthConfig {
        compat,
        ..AuthConfig::default()
    };
    if let Some(window) = input.options.expiration {
        config.window_ms = window;
    }
    let policy = match input.options.metadata_policy.as_deref() {
        None => RequestPolicy::default(),
        Some("require-kernel-scene") => RequestPolicy {
            require_kernel_scene: true,
            ..Default::default()
        },
        Some("reject-kernel-scene") => RequestPolicy {
            reject_kernel_scene: true,
            ..Default::default()
        },
        Some(other) => return Err(format!("unknown metadataPolicy {other:?}")),
    };
    // Header values are text here; on the wire they are Latin-1 bytes. Characters
    // above U+00FF cannot be sent over HTTP, so they are refused as unreadable input.
    let mut raw: Vec<(String, Vec<u8>)> = Vec::with_capacity(input.request.headers.len());
    for (name, value) in &input.request.headers {
        let bytes: Option<Vec<u8>> = value
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect();
        let bytes = bytes.ok_or_else(|| format!("header {name} has characters above U+00FF"))?;
        raw.push((name.clone(), bytes));
    }
    let pairs: Vec<(&str, &[u8])> = raw
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let req = SignedRequest {
        method: &input.request.method,
        path: &input.request.target,
        headers: &pairs,
        body: input.request.body.as_deref().map(str::as_bytes),
    };
    let auth = Authenticator::new(&config);
    let out = match auth.verify_request(&req, &policy, input.now_ms).await {
        Ok(id) => {
            json!({"ok": true, "status": 200, "address": id.address, "metadata": id.metadata, "error": null})
        }
        Err(e) => {
            let status = if compat {
                compat_status(&e)
            } else {
                e.http_status()
            };
            let class = e
                .chain_class()
                .map_or_else(|| e.code().to_owned(), str::to_owned);
            json!({"ok": false, "status": status, "address": null, "metadata": null,
                   "error": {"class": class, "code": e.code(), "message": e.to_string()}})
        }
    };
    Ok(out.to_string())
}

/// The status `decentraland-crypto-middleware@1.3.0/express` gives for the same cause.
fn compat_status(e: &AuthError) -> u16 {
    match e {
        // Unexpected exceptions inside validateSignature surface as 500.
        AuthError::InvalidChain(c) if c.class() == "THREW" || c.class() == "INPUT_TYPE_ERROR" => {
            500
        }
        // Its predicate failure is "Invalid metadata content" (400).
        AuthError::Policy(_) => 400,
        // EIP-1654 chains go to a catalyst there; none is reachable from here.
        AuthError::ContractWalletUnsupported | AuthError::RpcUnavailable(_) => 503,
        e => e.http_status(),
    }
}

//! ERC-1271 checks for EIP-1654 links through an Ethereum JSON-RPC node (SPEC.md §5).
//!
//! Owns: the `eth_call isValidSignature` exchange (raw Keccak hash first, then the
//! EIP-191 hash, at `latest`). Must not: guess — any transport or protocol failure is
//! [`AuthError::RpcUnavailable`] (503, retryable), never an accept.
//!
//! Documented difference: the reference's third step (repeating the calls at the block
//! of the verification time, for historical ownership) is omitted.

use std::time::Duration;

use plaza_protocol::auth::verify::{ContractCheck, ERC1271_MAGIC};
use plaza_protocol::auth::ChainError;
use serde_json::{json, Value};

use super::error::AuthError;

/// A JSON-RPC endpoint.
pub(crate) struct EthRpc {
    client: reqwest::Client,
    url: String,
}

impl EthRpc {
    /// A client for `url` with a per-call timeout.
    pub(crate) fn new(url: &str, timeout_ms: u64) -> Result<Self, AuthError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms))
            .build()
            .map_err(|e| AuthError::RpcUnavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            url: url.to_owned(),
        })
    }

    /// Runs one check: `Ok` iff the contract returns the magic value for either hash.
    pub(crate) async fn check(&self, check: &ContractCheck) -> Result<(), AuthError> {
        let magic = format!("0x{}", hex::encode(ERC1271_MAGIC));
        for hash in check.hashes() {
            let body = json!({
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_call",
                "params": [{"to": check.contract.to_lowercase(), "data": check.call_data(&hash)}, "latest"],
            });
            let resp = self
                .client
                .post(&self.url)
                .json(&body)
                .send()
                .await
                .map_err(|e| AuthError::RpcUnavailable(format!("eth_call failed: {e}")))?;
            if !resp.status().is_success() {
                return Err(AuthError::RpcUnavailable(format!(
                    "eth_call answered HTTP {}",
                    resp.status()
                )));
            }
            let answer: Value = resp.json().await.map_err(|e| {
                AuthError::RpcUnavailable(format!("eth_call answer is not JSON: {e}"))
            })?;
            match (
                answer.get("result").and_then(Value::as_str),
                answer.get("error"),
            ) {
                // `bytes4` comes back ABI-padded to 32 bytes.
                (Some(result), _) if result.to_ascii_lowercase().starts_with(&magic) => {
                    return Ok(())
                }
                (Some(_), _) => {}
                // A revert: the reference then tries the next hash.
                (None, Some(_)) => {}
                (None, None) => {
                    return Err(AuthError::RpcUnavailable(
                        "eth_call answer has neither result nor error".into(),
                    ))
                }
            }
        }
        Err(AuthError::InvalidChain(ChainError::Eip1654Invalid {
            index: check.index,
            link_type: check.link_type,
            detail: format!(
                "isValidSignature on {} did not return 0x1626ba7e",
                check.contract
            ),
        }))
    }
}

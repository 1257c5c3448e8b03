//! Per-client identities and the signed handshakes built from them, with
//! `plaza_protocol::auth` (the same signer the tests and Rust clients use).
//!
//! Every client has its own wallet and its own ephemeral key, as real
//! players do: the server cannot cache one delegation for everybody, so a
//! join costs it what a real join costs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use plaza_protocol::auth::{EphemeralIdentity, Wallet};

use crate::cli::HandshakeKind;
use crate::client::Handshake;
use crate::target::Target;

/// The ticket endpoint (`DESIGN.md` §4).
pub const TICKET_PATH: &str = "/v1/auth/ticket";

/// What a scene's `getHeaders` signs as metadata (`scene-runtime.md` §4.4:
/// Unity member order, `hashPayload` empty for a body-less request).
pub const DEFAULT_METADATA: &str = concat!(
    r#"{"sceneId":"bafkreiloadtestarenascene","parcel":"0,0","tld":"org","network":"mainnet","#,
    r#""isGuest":false,"realm":{"hostname":"127.0.0.1","protocol":"v3","serverName":"loadtest"},"#,
    r#""signer":"decentraland-kernel-scene","hashPayload":""}"#
);

/// Lifetime of the ephemeral delegation: longer than any run.
const EPHEMERAL_TTL_MS: u64 = 6 * 3600 * 1000;

/// Unix time, ms.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fresh wallet with a fresh ephemeral key delegated by it (one signature).
pub fn new_identity(now_ms: u64) -> Arc<EphemeralIdentity> {
    Arc::new(EphemeralIdentity::new(
        &Wallet::random(),
        Wallet::random(),
        now_ms + EPHEMERAL_TTL_MS,
    ))
}

/// Builds the handshake of `kind` for `identity`, signed at `now_ms`. For
/// `challenge` the signature happens when the nonce arrives.
pub fn handshake(
    kind: HandshakeKind,
    identity: &Arc<EphemeralIdentity>,
    target: &Target,
    metadata: &str,
    now_ms: u64,
) -> Handshake {
    match kind {
        HandshakeKind::Headers => Handshake::Headers(
            identity
                .signed_headers("GET", &target.ws_path, now_ms, metadata)
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
        ),
        HandshakeKind::Ticket => {
            Handshake::Ticket(identity.signed_headers("POST", TICKET_PATH, now_ms, metadata))
        }
        HandshakeKind::Challenge => {
            let id = identity.clone();
            Handshake::Challenge(Arc::new(move |nonce: &str| {
                serde_json::to_value(id.sign_payload(nonce)).unwrap_or(serde_json::Value::Null)
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_signed_for_the_ws_path() {
        let target = Target::parse("ws://127.0.0.1:9/v1/ws").expect("target");
        let id = new_identity(1_000);
        let Handshake::Headers(h) = handshake(
            HandshakeKind::Headers,
            &id,
            &target,
            DEFAULT_METADATA,
            1_000,
        ) else {
            panic!("headers handshake expected");
        };
        assert_eq!(
            h.get("x-identity-timestamp").map(String::as_str),
            Some("1000")
        );
        assert_eq!(
            h.get("x-identity-metadata").map(String::as_str),
            Some(DEFAULT_METADATA)
        );
        for i in 0..3 {
            assert!(
                h.contains_key(&format!("x-identity-auth-chain-{i}")),
                "3-link chain: {h:?}"
            );
        }
        let last: serde_json::Value =
            serde_json::from_str(&h["x-identity-auth-chain-2"]).expect("link 2 is JSON");
        let expected = format!("get:/v1/ws:1000:{DEFAULT_METADATA}").to_lowercase();
        assert_eq!(last["payload"], serde_json::Value::String(expected));
        assert!(serde_json::from_str::<serde_json::Value>(DEFAULT_METADATA).is_ok());
    }

    #[test]
    fn each_identity_is_a_different_wallet() {
        let a = new_identity(0);
        let b = new_identity(0);
        assert_ne!(a.address(), b.address());
    }
}

//! Signing: wallets, ephemeral identities and signed-fetch headers, byte-identical
//! to `@dcl/crypto` / `decentraland-crypto-fetch` (RFC 6979 deterministic, low-s).
//!
//! Owns: key handling for the load tool, tests and Rust clients.
//! Must not: read clocks or randomness except in [`Wallet::random`]; callers pass times.

use k256::ecdsa::SigningKey;
use thiserror::Error;

use super::crypto;
use super::delegation;
use super::link::{AuthLink, LinkType};

/// Why a private key was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// Not 64 hex digits (optionally `0x`-prefixed).
    #[error("private key must be 64 hex digits, optionally prefixed with 0x")]
    NotHex,
    /// Zero or not below the curve order.
    #[error("private key is not a valid secp256k1 scalar")]
    OutOfRange,
    /// The OS random source failed.
    #[error("random source failed: {0}")]
    Random(String),
}

/// A secp256k1 key that signs EIP-191 personal messages.
#[derive(Clone)]
pub struct Wallet {
    key: SigningKey,
    address: crypto::Address,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Wallet")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

impl Wallet {
    /// A fresh random key from the OS random source.
    ///
    /// # Panics
    /// Only if the operating system's random source is unavailable (see [`Wallet::try_random`]).
    #[allow(clippy::expect_used)]
    pub fn random() -> Wallet {
        Wallet::try_random().expect("the OS random source must be available to create a wallet")
    }

    /// A fresh random key, or the random source's error.
    pub fn try_random() -> Result<Wallet, KeyError> {
        loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
            // A value ≥ n occurs with probability ~2^-128; draw again.
            if let Ok(w) = Wallet::from_bytes(&bytes) {
                return Ok(w);
            }
        }
    }

    /// Parses `0x` + 64 hex digits (prefix optional).
    pub fn from_private_key_hex(hex_text: &str) -> Result<Wallet, KeyError> {
        let digits = hex_text.strip_prefix("0x").unwrap_or(hex_text);
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| KeyError::NotHex)?;
        Wallet::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8; 32]) -> Result<Wallet, KeyError> {
        let key = SigningKey::from_slice(bytes).map_err(|_| KeyError::OutOfRange)?;
        let address = crypto::address_of_key(key.verifying_key());
        Ok(Wallet { key, address })
    }

    /// The EIP-55 checksummed address.
    pub fn address(&self) -> String {
        crypto::address_checksummed(&self.address)
    }

    /// The raw address.
    pub fn address_bytes(&self) -> crypto::Address {
        self.address
    }

    /// `0x` + 64 hex digits of the private key (for handing a key to another tool).
    pub fn private_key_hex(&self) -> String {
        format!("0x{}", hex::encode(self.key.to_bytes()))
    }

    /// EIP-191 personal signature: `0x` + 130 lower-case hex digits, `v` = 27/28.
    pub fn sign_personal(&self, message: &str) -> String {
        let prehash = crypto::personal_message_hash(message);
        let (sig, rec) = self.key.sign_prehash_recoverable(&prehash);
        let mut bytes = [0u8; 65];
        bytes[..64].copy_from_slice(&sig.to_bytes());
        bytes[64] = 27 + u8::from(rec.is_y_odd());
        format!("0x{}", hex::encode(bytes))
    }
}

/// A wallet's delegation to an ephemeral key: what an explorer holds after login.
#[derive(Debug, Clone)]
pub struct EphemeralIdentity {
    address: String,
    ephemeral: Wallet,
    links: [AuthLink; 2],
    expiration_ms: u64,
}

impl EphemeralIdentity {
    /// Signs the delegation `wallet → ephemeral` valid until `expiration_ms`.
    pub fn new(wallet: &Wallet, ephemeral: Wallet, expiration_ms: u64) -> EphemeralIdentity {
        let expiration = i64::try_from(expiration_ms).unwrap_or(i64::MAX);
        let message = delegation::message(&ephemeral.address(), expiration);
        let signature = wallet.sign_personal(&message);
        let links = [
            AuthLink::signer(wallet.address()),
            AuthLink {
                kind: LinkType::EcdsaEphemeral,
                payload: message,
                signature,
            },
        ];
        EphemeralIdentity {
            address: wallet.address(),
            ephemeral,
            links,
            expiration_ms,
        }
    }

    /// The wallet's address (EIP-55).
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// The ephemeral key.
    pub fn ephemeral(&self) -> &Wallet {
        &self.ephemeral
    }

    /// When the delegation expires, Unix ms.
    pub fn expiration_ms(&self) -> u64 {
        self.expiration_ms
    }

    /// The 3-link chain `SIGNER → ECDSA_EPHEMERAL → ECDSA_SIGNED_ENTITY(payload)`.
    pub fn sign_payload(&self, payload: &str) -> Vec<AuthLink> {
        let mut chain = self.links.to_vec();
        chain.push(AuthLink {
            kind: LinkType::EcdsaSignedEntity,
            payload: payload.to_owned(),
            signature: self.ephemeral.sign_personal(payload),
        });
        chain
    }

    /// The `x-identity-*` headers for a signed request, as (lower-case name, value) in
    /// send order: chain links, timestamp, metadata (as `decentraland-crypto-fetch` does).
    /// `path` must be the URL pathname only (no query).
    pub fn signed_headers(
        &self,
        method: &str,
        path: &str,
        timestamp_ms: u64,
        metadata_json: &str,
    ) -> Vec<(String, String)> {
        let payload = signed_fetch_payload(method, path, &timestamp_ms.to_string(), metadata_json);
        chain_headers(&self.sign_payload(&payload), timestamp_ms, metadata_json)
    }
}

/// The 2-link chain `SIGNER → ECDSA_SIGNED_ENTITY(payload)` signed by the wallet itself.
pub fn direct_chain(wallet: &Wallet, payload: &str) -> Vec<AuthLink> {
    vec![
        AuthLink::signer(wallet.address()),
        AuthLink {
            kind: LinkType::EcdsaSignedEntity,
            payload: payload.to_owned(),
            signature: wallet.sign_personal(payload),
        },
    ]
}

/// The signed-fetch payload: `lower(method:path:timestamp:metadata)` with full
/// Unicode lower-casing, as JavaScript's `toLowerCase()` (SPEC.md §6.1).
pub fn signed_fetch_payload(method: &str, path: &str, timestamp: &str, metadata: &str) -> String {
    format!("{method}:{path}:{timestamp}:{metadata}").to_lowercase()
}

/// Header name of chain link `i`.
pub fn chain_header_name(i: usize) -> String {
    format!("x-identity-auth-chain-{i}")
}

/// Timestamp header name.
pub const TIMESTAMP_HEADER: &str = "x-identity-timestamp";
/// Metadata header name.
pub const METADATA_HEADER: &str = "x-identity-metadata";

/// Headers carrying `chain` plus timestamp and metadata.
pub fn chain_headers(
    chain: &[AuthLink],
    timestamp_ms: u64,
    metadata_json: &str,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = chain
        .iter()
        .enumerate()
        .map(|(i, l)| (chain_header_name(i), l.to_json()))
        .collect();
    headers.push((TIMESTAMP_HEADER.to_owned(), timestamp_ms.to_string()));
    headers.push((METADATA_HEADER.to_owned(), metadata_json.to_owned()));
    headers
}

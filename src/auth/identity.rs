//! [`Identity`]: who a verified request or connection speaks for. Carried
//! everywhere after the handshake (sessions, seats, scores).

use serde::Serialize;

/// The shape of the auth chain that proved the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainKind {
    /// `SIGNER → ECDSA_SIGNED_ENTITY`: the wallet signed the payload itself.
    Direct,
    /// `SIGNER → ECDSA_EPHEMERAL → ECDSA_SIGNED_ENTITY` (what explorers send).
    Ephemeral,
    /// A chain with an EIP-1654 (contract wallet) link.
    Contract,
    /// Any other accepted shape (only under the compat policy).
    Other,
}

/// The metadata fields policies look at, read from the signed
/// `x-identity-metadata` (all self-asserted by the key holder).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SceneMetadata {
    /// `signer`, e.g. `decentraland-kernel-scene`.
    pub signer: Option<String>,
    /// `sceneId`.
    pub scene_id: Option<String>,
    /// `parcel`, `"x,y"`.
    pub parcel: Option<String>,
    /// `realm.serverName` (or `realm.catalystName` on older clients).
    pub realm: Option<String>,
    /// `realm.hostname` (or `realm.domain` on older clients).
    pub realm_hostname: Option<String>,
    /// `isGuest`.
    pub is_guest: Option<bool>,
    /// `hashPayload` (lower-case hex SHA-256 of the body; `""` = unbound).
    pub hash_payload: Option<String>,
}

/// How the connection or request proved its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Signed `x-identity-*` headers on an HTTP request.
    SignedRequest,
    /// Signed headers sent as the first WebSocket frame (the scene path).
    FirstFrame,
    /// Signed headers on the WebSocket upgrade request.
    UpgradeHeaders,
    /// A ticket from `POST /v1/auth/ticket`.
    Ticket,
    /// An auth chain signing the server's challenge.
    Challenge,
}

/// A verified identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Wallet address, lower-case `0x…`.
    pub address: String,
    /// Chain shape.
    pub chain: ChainKind,
    /// The parsed metadata JSON exactly as signed (`{}` when absent).
    pub metadata: serde_json::Value,
    /// The policy-relevant metadata fields.
    pub scene: SceneMetadata,
    /// How it was proven.
    pub method: AuthMethod,
    /// When it was verified, Unix ms.
    pub verified_at_ms: u64,
}

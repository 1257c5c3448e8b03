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

/// The metadata JSON of a verified request, kept as compact text: a parsed
/// tree costs about 1 KB per connection, and only the CLI and tests read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata(Box<str>);

impl Metadata {
    /// The compact JSON text of `value`.
    pub fn from_value(value: &serde_json::Value) -> Self {
        Self(value.to_string().into_boxed_str())
    }

    /// `{}`: no metadata.
    pub fn empty() -> Self {
        Self("{}".into())
    }

    /// The metadata parsed (it was valid JSON when stored).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// The compact JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Metadata {
    fn default() -> Self {
        Self::empty()
    }
}

impl Serialize for Metadata {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

/// A verified identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Wallet address, lower-case `0x…`.
    pub address: String,
    /// Chain shape.
    pub chain: ChainKind,
    /// The metadata JSON as signed (`{}` when absent).
    pub metadata: Metadata,
    /// The policy-relevant metadata fields.
    pub scene: SceneMetadata,
    /// How it was proven.
    pub method: AuthMethod,
    /// When it was verified, Unix ms.
    pub verified_at_ms: u64,
}

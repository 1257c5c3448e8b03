//! [`AuthError`]: every way a signed request, ticket or challenge is refused, with a
//! stable code, an HTTP status and whether retrying can help.
//!
//! Owns: the server-side error taxonomy. Must not: decide *what* to send on the wire
//! beyond `code()`/`to_string()` (the gateway maps these to responses / close codes).

use plaza_protocol::auth::headers::HeaderError;
use plaza_protocol::auth::ChainError;
use thiserror::Error;

/// A metadata-policy refusal (403).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyViolation {
    /// `signer` is not `decentraland-kernel-scene`.
    #[error("the request must come from a scene (metadata signer \"decentraland-kernel-scene\")")]
    NotKernelScene,
    /// `signer` is `decentraland-kernel-scene` where scenes are not allowed.
    #[error("scene-signed requests are not allowed here")]
    KernelSceneRefused,
    /// `isGuest` is true.
    #[error("guest accounts are not allowed")]
    Guest,
    /// `sceneId` not in the allow-list.
    #[error("scene {0:?} is not allowed")]
    Scene(Option<String>),
    /// `parcel` not in the allow-list.
    #[error("parcel {0:?} is not allowed")]
    Parcel(Option<String>),
    /// realm not in the allow-list.
    #[error("realm {0:?} is not allowed")]
    Realm(Option<String>),
    /// A body without `hashPayload` where the policy requires binding.
    #[error(
        "the request body is not bound: metadata hashPayload (SHA-256 of the body) is required"
    )]
    BodyNotBound,
}

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The `x-identity-*` headers are malformed (missing chain, too many,
    /// too large, duplicated, gapped, not JSON, bad timestamp).
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// `x-identity-metadata` is not JSON (or, strict, not an object).
    #[error("x-identity-metadata is not a JSON object: {0}")]
    BadMetadata(String),
    /// Timestamp older than the window.
    #[error("signed request expired: timestamp {timestamp_ms} is more than {window_ms} ms before now ({now_ms})")]
    Expired {
        /// Signed timestamp.
        timestamp_ms: i64,
        /// Server time.
        now_ms: u64,
        /// Window.
        window_ms: u64,
    },
    /// Timestamp too far ahead.
    #[error("signed request timestamp {timestamp_ms} is more than {skew_ms} ms in the future (now {now_ms}); check the client clock")]
    FutureTimestamp {
        /// Signed timestamp.
        timestamp_ms: i64,
        /// Server time.
        now_ms: u64,
        /// Allowed skew.
        skew_ms: u64,
    },
    /// The same signed request seen before inside its window.
    #[error("this signed request was already used; sign a new one")]
    Replayed,
    /// The chain did not verify (signature, delegation, binding of the payload).
    #[error("invalid signature: {0}")]
    InvalidChain(ChainError),
    /// `hashPayload` does not match the body.
    #[error("metadata hashPayload does not match the SHA-256 of the request body")]
    BodyHashMismatch,
    /// The metadata policy refused the request.
    #[error("refused by policy: {0}")]
    Policy(PolicyViolation),
    /// Contract-wallet link and no `auth.eth_rpc_url`.
    #[error("contract-wallet (EIP-1654) signatures are not supported by this server: auth.eth_rpc_url is not configured")]
    ContractWalletUnsupported,
    /// The Ethereum RPC could not be reached or answered nonsense.
    #[error("the Ethereum RPC is unavailable: {0}")]
    RpcUnavailable(String),
    /// Unknown, expired or used ticket.
    #[error("unknown, expired or already used ticket")]
    InvalidTicket,
    /// Unknown, expired or used challenge.
    #[error("unknown, expired or already used challenge")]
    InvalidChallenge,
    /// The replay store is full of live entries (fail closed rather than forget).
    #[error("too many signed requests in flight; retry shortly")]
    ReplayStoreFull,
    /// The shared (Redis) replay store did not answer (fail closed).
    #[error("the replay store is unavailable: {0}; retry shortly")]
    ReplayUnavailable(String),
}

impl AuthError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Header(h) => match h {
                HeaderError::MissingChain => "auth_missing_chain",
                HeaderError::TooManyHeaders { .. } => "auth_too_many_headers",
                HeaderError::HeaderTooLarge { .. } => "auth_header_too_large",
                HeaderError::DuplicateHeader(_) => "auth_duplicate_header",
                HeaderError::ChainHeaderGap(_) => "auth_chain_header_gap",
                HeaderError::BadChainHeader { .. } => "auth_bad_chain_header",
                HeaderError::BadTimestamp(_) => "auth_bad_timestamp",
            },
            AuthError::BadMetadata(_) => "auth_bad_metadata",
            AuthError::Expired { .. } => "auth_expired",
            AuthError::FutureTimestamp { .. } => "auth_future_timestamp",
            AuthError::Replayed => "auth_replayed",
            AuthError::InvalidChain(_) => "auth_invalid_signature",
            AuthError::BodyHashMismatch => "auth_body_hash_mismatch",
            AuthError::Policy(_) => "auth_policy_denied",
            AuthError::ContractWalletUnsupported => "auth_contract_wallet_unsupported",
            AuthError::RpcUnavailable(_) => "auth_rpc_unavailable",
            AuthError::InvalidTicket => "auth_invalid_ticket",
            AuthError::InvalidChallenge => "auth_invalid_challenge",
            AuthError::ReplayStoreFull => "auth_busy",
            AuthError::ReplayUnavailable(_) => "auth_replay_unavailable",
        }
    }

    /// HTTP status: 400 malformed, 401 signature/time/replay/binding, 403 policy, 503 unavailable.
    pub fn http_status(&self) -> u16 {
        match self {
            AuthError::Header(_) | AuthError::BadMetadata(_) => 400,
            AuthError::InvalidChain(e) if e.is_malformed_input() => 400,
            AuthError::Expired { .. }
            | AuthError::FutureTimestamp { .. }
            | AuthError::Replayed
            | AuthError::InvalidChain(_)
            | AuthError::BodyHashMismatch
            | AuthError::ContractWalletUnsupported
            | AuthError::InvalidTicket
            | AuthError::InvalidChallenge => 401,
            AuthError::Policy(_) => 403,
            AuthError::RpcUnavailable(_)
            | AuthError::ReplayStoreFull
            | AuthError::ReplayUnavailable(_) => 503,
        }
    }

    /// Whether the same request may succeed later (a fresh signature is not needed).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            AuthError::RpcUnavailable(_)
                | AuthError::ReplayStoreFull
                | AuthError::ReplayUnavailable(_)
        )
    }

    /// The chain error class (vectors' `errorClass`) when the chain itself failed.
    pub fn chain_class(&self) -> Option<&'static str> {
        match self {
            AuthError::InvalidChain(e) => Some(e.class()),
            _ => None,
        }
    }
}

impl From<ChainError> for AuthError {
    fn from(e: ChainError) -> Self {
        match e {
            ChainError::Eip1654NoProvider { .. } => AuthError::ContractWalletUnsupported,
            e => AuthError::InvalidChain(e),
        }
    }
}

//! [`ChainError`]: why an auth chain was refused, with a stable class per cause.
//!
//! Owns: the error taxonomy of the chain walk (SPEC.md §4.5 classes, plus the
//! strict-policy refusals of §11). Must not: carry HTTP statuses (that mapping
//! belongs to the server's `AuthError`).

use thiserror::Error;

use super::link::LinkType;

/// Why a chain failed. `class()` is the vectors' `errorClass` label for the causes
/// the reference library also has; strict-only causes have their own labels.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    /// Link 0 is not `SIGNER`, or `SIGNER` appears later.
    #[error("malformed auth chain: link 0 must be SIGNER and no other link may be SIGNER")]
    Malformed,
    /// The chain proves a different final statement or authority.
    #[error("final authority mismatch: expected {expected:?}, the chain proves {actual:?}")]
    FinalAuthorityMismatch {
        /// What the caller expected.
        expected: String,
        /// What the chain ended with.
        actual: String,
    },
    /// A delegation's expiration is not after the verification time.
    #[error("link {index} ({link_type}): ephemeral key expired at {expiration_ms} ms (checked at {now_ms} ms)")]
    EphemeralExpired {
        /// Link index.
        index: usize,
        /// Link type.
        link_type: LinkType,
        /// The delegation's expiration.
        expiration_ms: i64,
        /// The verification time.
        now_ms: u64,
    },
    /// The recovered signer is not the current authority.
    #[error("link {index} ({link_type}): signed by {actual}, but the authority at this point is {expected:?}")]
    SignerMismatch {
        /// Link index.
        index: usize,
        /// Link type.
        link_type: LinkType,
        /// The authority (lower-cased).
        expected: String,
        /// The recovered address (lower-case).
        actual: String,
    },
    /// A delegation payload without the `Ephemeral address: ` / `Expiration: ` lines.
    #[error("link {index} ({link_type}): invalid ephemeral payload: expected 3 lines with \"Ephemeral address: \" on line 2 and \"Expiration: \" on line 3")]
    EphemeralPayloadFormat {
        /// Link index.
        index: usize,
        /// Link type.
        link_type: LinkType,
    },
    /// The delegation's expiration is not a date.
    #[error("link {index}: expiration {text:?} is not a date")]
    ExpirationUnparseable {
        /// Link index.
        index: usize,
        /// The text found.
        text: String,
    },
    /// A non-`SIGNER` link with an empty or missing signature.
    #[error("link {index} ({link_type}): signature is missing or empty")]
    MissingSignature {
        /// Link index.
        index: usize,
        /// Link type.
        link_type: LinkType,
    },
    /// The signature text is not `0x` followed by hex digits.
    #[error("link {index}: signature must be 0x followed by hex digits")]
    SignatureNotHex {
        /// Link index.
        index: usize,
    },
    /// The signature does not decode to 65 bytes.
    #[error("link {index}: signature decodes to {bytes} bytes, expected 65 (r ‖ s ‖ v)")]
    SignatureLength {
        /// Link index.
        index: usize,
        /// Decoded length.
        bytes: usize,
    },
    /// `v` is not 0, 1, 27 or 28.
    #[error("link {index}: signature recovery value v = {v}, expected 27 or 28 (or 0/1)")]
    SignatureRecoveryId {
        /// Link index.
        index: usize,
        /// The `v` found (after the 0/1 → 27/28 mapping).
        v: u8,
    },
    /// `r`/`s` out of range, or no public key recovers from them.
    #[error("link {index}: signature is not a valid secp256k1 signature (r or s out of range, or no key recovers)")]
    SignatureInvalidCurve {
        /// Link index.
        index: usize,
    },
    /// An EIP-1654 link, and no Ethereum RPC to check it with.
    #[error("link {index} ({link_type}): contract-wallet (EIP-1654) links need an Ethereum RPC URL, and none is configured")]
    Eip1654NoProvider {
        /// Link index.
        index: usize,
        /// Link type.
        link_type: LinkType,
    },
    /// The contract did not confirm the signature.
    #[error(
        "link {index} ({link_type}): the contract wallet did not accept the signature: {detail}"
    )]
    Eip1654Invalid {
        /// Link index.
        index: usize,
        /// Link type.
        link_type: LinkType,
        /// What the contract (or the RPC) answered.
        detail: String,
    },
    /// A member has a JSON type the reference would fail on with a `TypeError`.
    #[error("link {index}: {detail}")]
    InputType {
        /// Link index.
        index: usize,
        /// What was wrong.
        detail: String,
    },
    /// Input the reference throws on (a non-array chain, a `null` link).
    #[error("auth chain cannot be read: {0}")]
    Threw(String),

    // ---- strict policy only -------------------------------------------------
    /// Strict: an empty chain.
    #[error("auth chain is empty")]
    EmptyChain,
    /// Strict: a 1-link chain proves nothing (no signature is checked).
    #[error("auth chain has {len} link(s); at least 2 are required (SIGNER, then a signed link)")]
    ChainTooShort {
        /// Number of links.
        len: usize,
    },
    /// Strict: more links than any client produces.
    #[error("auth chain has {len} links; at most {max} are accepted")]
    ChainTooLong {
        /// Number of links.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Strict: a link whose `type` is not one of the five wire names.
    #[error("link {index}: unknown link type {found}; expected one of SIGNER, ECDSA_EPHEMERAL, ECDSA_SIGNED_ENTITY, ECDSA_EIP_1654_EPHEMERAL, ECDSA_EIP_1654_SIGNED_ENTITY")]
    UnknownLinkType {
        /// Link index.
        index: usize,
        /// The value found (JSON).
        found: String,
    },
    /// Strict: a signed-entity link used in the middle of the chain as a delegation.
    #[error("link {index} ({link_type}): a signed-entity link may only be the last link; delegations must use an ephemeral link with an expiration")]
    EntityAsDelegation {
        /// Link index.
        index: usize,
        /// Link type.
        link_type: LinkType,
    },
    /// Strict: the last link is not a signed-entity link.
    #[error("link {index} ({link_type}): the last link must be ECDSA_SIGNED_ENTITY or ECDSA_EIP_1654_SIGNED_ENTITY")]
    MissingEntityLink {
        /// Link index.
        index: usize,
        /// Link type.
        link_type: LinkType,
    },
    /// Strict: the SIGNER payload is not an address.
    #[error("link 0 (SIGNER): payload {found:?} is not an address (0x followed by 40 hex digits)")]
    SignerNotAddress {
        /// The payload found.
        found: String,
    },
    /// Strict: a signature with an odd number of hex digits.
    #[error("link {index}: signature has an odd number of hex digits ({digits})")]
    SignatureOddLength {
        /// Link index.
        index: usize,
        /// Number of hex digits.
        digits: usize,
    },
    /// Strict: a signature that is not a JSON string.
    #[error("link {index}: signature must be a JSON string")]
    SignatureNotString {
        /// Link index.
        index: usize,
    },
    /// Strict: a delegation text that parses but is not in the exact client shape.
    #[error("link {index}: malformed delegation text: {reason}")]
    DelegationMalformed {
        /// Link index.
        index: usize,
        /// Why.
        reason: &'static str,
    },
    /// Strict: an expiration that is a date but not an RFC 3339 date-time.
    #[error("link {index}: expiration {text:?} is not an ISO 8601 / RFC 3339 date-time such as 2099-12-31T00:00:00.000Z")]
    ExpirationNotIso {
        /// Link index.
        index: usize,
        /// The text found.
        text: String,
    },
}

impl ChainError {
    /// Upper-snake class, equal to the vectors' `errorClass` where the reference has the cause.
    pub fn class(&self) -> &'static str {
        match self {
            ChainError::Malformed => "MALFORMED_CHAIN",
            ChainError::FinalAuthorityMismatch { .. } => "FINAL_AUTHORITY_MISMATCH",
            ChainError::EphemeralExpired { .. } => "EPHEMERAL_EXPIRED",
            ChainError::SignerMismatch { .. } => "SIGNER_MISMATCH",
            ChainError::EphemeralPayloadFormat { .. } => "EPHEMERAL_PAYLOAD_FORMAT",
            ChainError::ExpirationUnparseable { .. } => "EPHEMERAL_EXPIRATION_UNPARSEABLE",
            ChainError::MissingSignature { .. } => "MISSING_SIGNATURE",
            ChainError::SignatureNotHex { .. } => "SIGNATURE_NOT_HEX",
            ChainError::SignatureLength { .. } => "SIGNATURE_LENGTH",
            ChainError::SignatureRecoveryId { .. } => "SIGNATURE_RECOVERY_ID",
            ChainError::SignatureInvalidCurve { .. } => "SIGNATURE_INVALID_CURVE",
            ChainError::Eip1654NoProvider { .. } => "EIP1654_NO_PROVIDER",
            ChainError::Eip1654Invalid { .. } => "EIP1654_INVALID",
            ChainError::InputType { .. } => "INPUT_TYPE_ERROR",
            ChainError::Threw(_) => "THREW",
            ChainError::EmptyChain => "EMPTY_CHAIN",
            ChainError::ChainTooShort { .. } => "CHAIN_TOO_SHORT",
            ChainError::ChainTooLong { .. } => "CHAIN_TOO_LONG",
            ChainError::UnknownLinkType { .. } => "UNKNOWN_LINK_TYPE",
            ChainError::EntityAsDelegation { .. } => "ENTITY_AS_DELEGATION",
            ChainError::MissingEntityLink { .. } => "MISSING_ENTITY_LINK",
            ChainError::SignerNotAddress { .. } => "SIGNER_NOT_ADDRESS",
            ChainError::SignatureOddLength { .. } => "SIGNATURE_ODD_LENGTH",
            ChainError::SignatureNotString { .. } => "SIGNATURE_NOT_STRING",
            ChainError::DelegationMalformed { .. } => "DELEGATION_MALFORMED",
            ChainError::ExpirationNotIso { .. } => "EXPIRATION_NOT_ISO",
        }
    }

    /// The same label in snake case, for error codes.
    pub fn code(&self) -> String {
        self.class().to_ascii_lowercase()
    }

    /// Whether the input was unreadable (a format problem rather than a failed proof).
    pub fn is_malformed_input(&self) -> bool {
        matches!(self, ChainError::Threw(_) | ChainError::InputType { .. })
    }
}

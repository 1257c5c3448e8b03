//! The chain walk: `Authenticator.validateSignature` (SPEC.md §4) under two policies.
//!
//! Owns: [`verify_chain`], the compat/strict rules, and the list of ERC-1271 checks
//! a chain needs ([`ContractCheck`]).
//! Must not: do I/O. EIP-1654 links are either refused (no RPC) or *deferred*: the
//! walk assumes them valid and returns the checks the async caller must run; the
//! chain is valid only if every returned check passes.

use serde_json::Value;

use super::crypto::{self, Address, RecoverableSig, SigDecodeError};
use super::delegation::{self, DelegationError};
use super::error::ChainError;
use super::link::LinkType;

/// Longest chain the strict policy accepts (the limit of Decentraland's newer middleware).
pub const MAX_CHAIN_LINKS: usize = 10;

/// Which rules the walk applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Exactly the verdicts of `@dcl/crypto` 3.7.0 (SPEC.md §4), oddities included.
    Compat,
    /// Compat minus everything SPEC.md §11 lists as questionable (the server default).
    #[default]
    Strict,
}

/// What to do with EIP-1654 (contract wallet) links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractMode {
    /// No RPC configured: refuse them ([`ChainError::Eip1654NoProvider`]).
    Refuse,
    /// Return them as [`ContractCheck`]s for the caller to run.
    Defer,
}

/// Inputs of one verification besides the chain.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// Rules.
    pub policy: Policy,
    /// The time delegations must not have expired at, Unix ms.
    pub now_ms: u64,
    /// EIP-1654 handling.
    pub contracts: ContractMode,
}

/// Memo of signature recoveries for delegation links, so a warm request costs one
/// recovery. Keys are [`recovery_key`]s; implementations must be bounded.
pub trait RecoveryCache {
    /// The address recovered earlier for this key, if still cached.
    fn get(&self, key: &[u8; 32]) -> Option<Address>;
    /// Remembers a recovery until `expires_ms` (the delegation's expiration).
    fn put(&self, key: [u8; 32], address: Address, expires_ms: i64);
}

/// The cache key of a recovery: `keccak256(prehash ‖ r ‖ s ‖ v)`. Recovery is a pure
/// function of these bytes, so a hit is exactly as good as recomputing.
pub fn recovery_key(prehash: &[u8; 32], sig: &RecoverableSig) -> [u8; 32] {
    let mut buf = [0u8; 32 + 65];
    buf[..32].copy_from_slice(prehash);
    buf[32..].copy_from_slice(&sig.to_bytes());
    crypto::keccak256(&buf)
}

/// An ERC-1271 `isValidSignature` check the caller must run (SPEC.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractCheck {
    /// Link index.
    pub index: usize,
    /// Link type.
    pub link_type: LinkType,
    /// The contract (the authority at that link), as written in the chain.
    pub contract: String,
    /// The signed text (CR-stripped for delegations).
    pub message: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// ERC-1271 magic value / selector: `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`.
pub const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

impl ContractCheck {
    /// `eth_call` data for `isValidSignature(hash, signature)`.
    pub fn call_data(&self, hash: &[u8; 32]) -> String {
        let sig = &self.signature;
        let padded = sig.len().div_ceil(32) * 32;
        let mut data = Vec::with_capacity(4 + 32 * 3 + padded);
        data.extend_from_slice(&ERC1271_MAGIC);
        data.extend_from_slice(hash);
        let mut word = [0u8; 32];
        word[31] = 0x40; // offset of the `bytes` argument
        data.extend_from_slice(&word);
        let len = (sig.len() as u64).to_be_bytes();
        let mut word = [0u8; 32];
        word[24..].copy_from_slice(&len);
        data.extend_from_slice(&word);
        data.extend_from_slice(sig);
        data.resize(4 + 32 * 3 + padded, 0);
        format!("0x{}", hex::encode(data))
    }

    /// The two hashes tried in order: raw `keccak256(M)`, then the EIP-191 hash.
    pub fn hashes(&self) -> [[u8; 32]; 2] {
        [
            crypto::keccak256(self.message.as_bytes()),
            crypto::personal_message_hash(&self.message),
        ]
    }
}

/// The shape of a verified chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainShape {
    /// `SIGNER → ECDSA_SIGNED_ENTITY`.
    Direct,
    /// `SIGNER → ECDSA_EPHEMERAL → ECDSA_SIGNED_ENTITY`.
    Ephemeral,
    /// Any chain with an EIP-1654 link.
    Contract,
    /// Anything else the policy accepted.
    Other,
}

/// A chain that passed the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// `chain[0].payload` as written (the middlewares report it lower-cased).
    pub signer: String,
    /// The final authority (equal to the expected one).
    pub authority: String,
    /// Shape.
    pub shape: ChainShape,
    /// Earliest delegation expiration in the chain, Unix ms.
    pub expires_ms: Option<i64>,
    /// ERC-1271 checks still to run (empty unless [`ContractMode::Defer`]).
    pub contract_checks: Vec<ContractCheck>,
}

/// Verifies a typed chain (see [`verify_chain`]).
pub fn verify_links(
    chain: &[super::link::AuthLink],
    expected_final_authority: &str,
    opts: &VerifyOptions,
    cache: Option<&dyn RecoveryCache>,
) -> Result<VerifiedChain, ChainError> {
    let value = serde_json::to_value(chain).map_err(|e| ChainError::Threw(e.to_string()))?;
    verify_chain(&value, expected_final_authority, opts, cache)
}

/// Walks `chain` (loose JSON, as received) and checks it ends in `expected_final_authority`.
pub fn verify_chain(
    chain: &Value,
    expected_final_authority: &str,
    opts: &VerifyOptions,
    cache: Option<&dyn RecoveryCache>,
) -> Result<VerifiedChain, ChainError> {
    let links = chain
        .as_array()
        .ok_or_else(|| ChainError::Threw("the auth chain is not a JSON array".into()))?;
    let strict = opts.policy == Policy::Strict;
    let types = shape_check(links, strict)?;

    let mut current = String::new();
    let mut expires_ms: Option<i64> = None;
    let mut contract_checks = Vec::new();
    for (index, (link, kind)) in links.iter().zip(&types).enumerate() {
        let Some(kind) = *kind else {
            // Unknown type: the reference silently resets the authority (strict refused it above).
            current = String::new();
            continue;
        };
        let payload = payload_of(link, index, kind)?;
        let next = match kind {
            LinkType::Signer => {
                if strict && crypto::parse_address(payload).is_none() {
                    return Err(ChainError::SignerNotAddress {
                        found: payload.to_owned(),
                    });
                }
                payload.to_owned()
            }
            LinkType::EcdsaEphemeral | LinkType::Eip1654Ephemeral => {
                let sig = signature_of(link, index, kind, strict)?;
                let parsed = parse_delegation(payload, index, kind, strict)?;
                // Expiration before the signature, and strictly greater than now (SPEC.md §4.1).
                if parsed.expiration_ms <= i64::try_from(opts.now_ms).unwrap_or(i64::MAX) {
                    return Err(ChainError::EphemeralExpired {
                        index,
                        link_type: kind,
                        expiration_ms: parsed.expiration_ms,
                        now_ms: opts.now_ms,
                    });
                }
                expires_ms =
                    Some(expires_ms.map_or(parsed.expiration_ms, |e| e.min(parsed.expiration_ms)));
                if kind == LinkType::EcdsaEphemeral {
                    let prehash = crypto::personal_message_hash(&parsed.message);
                    let rsig = decode_sig(&sig, index)?;
                    // The key costs a hash: only compute it when there is a cache.
                    let key = cache.map(|_| recovery_key(&prehash, &rsig));
                    let cached = cache.zip(key.as_ref()).and_then(|(c, k)| c.get(k));
                    let recovered = match cached {
                        Some(addr) => addr,
                        None => crypto::recover_address(&prehash, &rsig)
                            .map_err(|e| sig_error(e, index))?,
                    };
                    check_signer(&current, &recovered, index, kind)?;
                    // Only delegations that verified are remembered: garbage cannot evict good entries.
                    if let (None, Some(c), Some(k)) = (cached, cache, key) {
                        c.put(k, recovered, parsed.expiration_ms);
                    }
                } else {
                    contract_checks.push(contract_check(
                        opts,
                        &current,
                        &parsed.message,
                        &sig,
                        index,
                        kind,
                    )?);
                }
                parsed.ephemeral_address
            }
            LinkType::EcdsaSignedEntity | LinkType::Eip1654SignedEntity => {
                let sig = signature_of(link, index, kind, strict)?;
                if kind == LinkType::EcdsaSignedEntity {
                    let prehash = crypto::personal_message_hash(payload);
                    let rsig = decode_sig(&sig, index)?;
                    let addr = crypto::recover_address(&prehash, &rsig)
                        .map_err(|e| sig_error(e, index))?;
                    check_signer(&current, &addr, index, kind)?;
                } else {
                    contract_checks
                        .push(contract_check(opts, &current, payload, &sig, index, kind)?);
                }
                payload.to_owned()
            }
        };
        current = next;
    }

    if current != expected_final_authority {
        return Err(ChainError::FinalAuthorityMismatch {
            expected: expected_final_authority.to_owned(),
            actual: current,
        });
    }
    let signer = links
        .first()
        .and_then(|l| l.get("payload"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let shape = if types.iter().flatten().any(|t| t.is_contract()) {
        ChainShape::Contract
    } else {
        match types.as_slice() {
            [Some(LinkType::Signer), Some(LinkType::EcdsaSignedEntity)] => ChainShape::Direct,
            [Some(LinkType::Signer), Some(LinkType::EcdsaEphemeral), Some(LinkType::EcdsaSignedEntity)] => {
                ChainShape::Ephemeral
            }
            _ => ChainShape::Other,
        }
    };
    Ok(VerifiedChain {
        signer,
        authority: current,
        shape,
        expires_ms,
        contract_checks,
    })
}

/// SPEC.md §4.1 step 1 (compat) or the positional rules (strict). Returns each link's
/// type (`None` = unknown, only possible in compat).
fn shape_check(links: &[Value], strict: bool) -> Result<Vec<Option<LinkType>>, ChainError> {
    if strict {
        match links.len() {
            0 => return Err(ChainError::EmptyChain),
            1 => return Err(ChainError::ChainTooShort { len: 1 }),
            n if n > MAX_CHAIN_LINKS => {
                return Err(ChainError::ChainTooLong {
                    len: n,
                    max: MAX_CHAIN_LINKS,
                })
            }
            _ => {}
        }
    }
    let mut types = Vec::with_capacity(links.len());
    for (index, link) in links.iter().enumerate() {
        if link.is_null() {
            return Err(ChainError::Threw(format!("link {index} is null")));
        }
        let raw = link.get("type");
        let kind = raw.and_then(Value::as_str).and_then(LinkType::from_wire);
        let is_signer = kind == Some(LinkType::Signer);
        if (index == 0) != is_signer {
            return Err(ChainError::Malformed);
        }
        if strict {
            let Some(kind) = kind else {
                let found = raw.map_or_else(|| "(missing)".to_owned(), Value::to_string);
                return Err(ChainError::UnknownLinkType { index, found });
            };
            let last = index + 1 == links.len();
            if index > 0 && !last && kind.is_entity() {
                return Err(ChainError::EntityAsDelegation {
                    index,
                    link_type: kind,
                });
            }
            if last && !kind.is_entity() {
                return Err(ChainError::MissingEntityLink {
                    index,
                    link_type: kind,
                });
            }
        }
        types.push(kind);
    }
    Ok(types)
}

fn payload_of(link: &Value, index: usize, kind: LinkType) -> Result<&str, ChainError> {
    match link.get("payload") {
        Some(Value::String(s)) => Ok(s),
        // `undefined || ""` on SIGNER: the authority becomes empty.
        None | Some(Value::Null) if kind == LinkType::Signer => Ok(""),
        _ => Err(ChainError::InputType {
            index,
            detail: format!("{kind} payload must be a string"),
        }),
    }
}

/// A signature as found on the wire.
enum Sig<'a> {
    Text(&'a str),
    Bytes(Vec<u8>),
}

fn signature_of<'a>(
    link: &'a Value,
    index: usize,
    kind: LinkType,
    strict: bool,
) -> Result<Sig<'a>, ChainError> {
    let missing = ChainError::MissingSignature {
        index,
        link_type: kind,
    };
    match link.get("signature") {
        // JavaScript's `!signature`: all falsy values.
        None | Some(Value::Null) | Some(Value::Bool(false)) => Err(missing),
        Some(Value::String(s)) if s.is_empty() => Err(missing),
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => Err(missing),
        Some(Value::String(s)) => {
            if strict {
                let digits = s.strip_prefix("0x").map_or(0, str::len);
                if s.starts_with("0x")
                    && digits % 2 == 1
                    && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(ChainError::SignatureOddLength { index, digits });
                }
            }
            Ok(Sig::Text(s))
        }
        Some(_) if strict => Err(ChainError::SignatureNotString { index }),
        // The reference treats a JSON array as raw bytes (SPEC.md §2.2).
        Some(Value::Array(items)) => {
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            let bytes = bytes.ok_or_else(|| ChainError::InputType {
                index,
                detail: "array signature must hold byte values".into(),
            })?;
            // Observed: a byte array verifies with v = 0/1 and fails with a TypeError on 27/28.
            if bytes.len() == 65 && bytes[64] >= 27 {
                return Err(ChainError::InputType {
                    index,
                    detail: "array signature with v = 27/28".into(),
                });
            }
            Ok(Sig::Bytes(bytes))
        }
        Some(_) => Err(ChainError::InputType {
            index,
            detail: "signature must be a string".into(),
        }),
    }
}

fn decode_sig(sig: &Sig<'_>, index: usize) -> Result<RecoverableSig, ChainError> {
    match sig {
        Sig::Text(t) => RecoverableSig::from_text(t),
        Sig::Bytes(b) => RecoverableSig::from_bytes(b),
    }
    .map_err(|e| sig_error(e, index))
}

fn sig_error(e: SigDecodeError, index: usize) -> ChainError {
    match e {
        SigDecodeError::NotHex => ChainError::SignatureNotHex { index },
        SigDecodeError::Length(bytes) => ChainError::SignatureLength { index, bytes },
        SigDecodeError::RecoveryId(v) => ChainError::SignatureRecoveryId { index, v },
        SigDecodeError::InvalidCurve => ChainError::SignatureInvalidCurve { index },
    }
}

fn parse_delegation<'a>(
    payload: &'a str,
    index: usize,
    kind: LinkType,
    strict: bool,
) -> Result<delegation::Delegation<'a>, ChainError> {
    let parsed = if strict {
        delegation::parse_strict(payload)
    } else {
        delegation::parse_compat(payload)
    };
    parsed.map_err(|e| match e {
        DelegationError::Format => ChainError::EphemeralPayloadFormat {
            index,
            link_type: kind,
        },
        DelegationError::Unparseable(text) => ChainError::ExpirationUnparseable { index, text },
        DelegationError::Shape(reason) => ChainError::DelegationMalformed { index, reason },
        DelegationError::NotIso(text) => ChainError::ExpirationNotIso { index, text },
    })
}

/// The reference compares `toLocaleLowerCase()` of both sides.
fn check_signer(
    current: &str,
    recovered: &Address,
    index: usize,
    kind: LinkType,
) -> Result<(), ChainError> {
    let actual = crypto::address_lower(recovered);
    // Fast path: an ASCII authority needs no Unicode lower-casing.
    let matches = if current.is_ascii() {
        current.eq_ignore_ascii_case(&actual)
    } else {
        current.to_lowercase() == actual
    };
    if matches {
        Ok(())
    } else {
        Err(ChainError::SignerMismatch {
            index,
            link_type: kind,
            expected: current.to_lowercase(),
            actual,
        })
    }
}

fn contract_check(
    opts: &VerifyOptions,
    current: &str,
    message: &str,
    sig: &Sig<'_>,
    index: usize,
    kind: LinkType,
) -> Result<ContractCheck, ChainError> {
    if opts.contracts == ContractMode::Refuse {
        return Err(ChainError::Eip1654NoProvider {
            index,
            link_type: kind,
        });
    }
    let signature = match sig {
        Sig::Text(t) => {
            crypto::decode_hex_lenient(t).ok_or(ChainError::SignatureNotHex { index })?
        }
        Sig::Bytes(b) => b.clone(),
    };
    Ok(ContractCheck {
        index,
        link_type: kind,
        contract: current.to_owned(),
        message: message.to_owned(),
        signature,
    })
}

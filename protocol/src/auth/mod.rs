//! Decentraland auth chains: types, signing and verification (SPEC.md in
//! `shared/auth`), byte-compatible with `@dcl/crypto` 3.7.0.
//!
//! | module | owns |
//! |---|---|
//! | [`link`] | [`AuthLink`], [`LinkType`] (wire names) |
//! | [`crypto`] | Keccak-256, EIP-191, signature decoding, recovery, EIP-55 |
//! | [`delegation`] | the 3-line ephemeral message: build, parse (compat / strict) |
//! | [`date`] | `toISOString` and the expiration parsers |
//! | [`verify`] | the chain walk under [`Policy::Compat`] / [`Policy::Strict`] |
//! | [`headers`] | reading `x-identity-*` headers (limits, Latin-1, timestamp grammar) |
//! | [`sign`] | [`Wallet`], [`EphemeralIdentity`], signed-fetch headers |
//!
//! Pure and synchronous: no clock, no network. EIP-1654 links come back from the
//! walk as [`ContractCheck`]s that the server runs against an Ethereum RPC.
//!
//! Recovery runs on `k256` by default; the `secp256k1` feature switches it to
//! libsecp256k1 (faster; see BENCHMARKS.md).

pub mod crypto;
pub mod date;
pub mod delegation;
mod error;
pub mod headers;
pub mod link;
pub mod sign;
pub mod verify;

pub use error::ChainError;
pub use link::{AuthChain, AuthLink, LinkType};
pub use sign::{direct_chain, signed_fetch_payload, EphemeralIdentity, KeyError, Wallet};
pub use verify::{
    verify_chain, verify_links, ChainShape, ContractCheck, ContractMode, Policy, RecoveryCache,
    VerifiedChain, VerifyOptions, MAX_CHAIN_LINKS,
};

//! Ethereum primitives used by auth chains: Keccak-256, the EIP-191
//! personal-message hash, signature text decoding and address recovery.
//!
//! Owns: byte-exact reproduction of `@dcl/crypto`'s decoding rules (SPEC.md §2).
//! Must not: know about links, chains or policies; allocate on the recovery path
//! beyond the hex decode.

use k256::ecdsa::{Signature, VerifyingKey};
use sha3::{Digest, Keccak256};

/// A 20-byte Ethereum address.
pub type Address = [u8; 20];

/// Keccak-256 (the original Keccak padding Ethereum uses, not NIST SHA3-256).
pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    Keccak256::digest(bytes).into()
}

/// EIP-191 personal-message hash: `keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ M)`
/// where `len` is the UTF-8 **byte** length in decimal (SPEC.md §2.1).
pub fn personal_message_hash(message: &str) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(b"\x19Ethereum Signed Message:\n");
    hasher.update(message.len().to_string().as_bytes());
    hasher.update(message.as_bytes());
    hasher.finalize().into()
}

/// Why a signature's text or bytes could not be turned into a recoverable signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigDecodeError {
    /// Not `0x` followed by at least one hex digit.
    NotHex,
    /// Decoded to this many bytes instead of 65.
    Length(usize),
    /// `v` is not 0, 1, 27 or 28.
    RecoveryId(u8),
    /// `r` or `s` is zero or not below the curve order, or no point has that `r`.
    InvalidCurve,
}

/// Decodes hex text the way eth-connect's `hexToBytes` does: the string must match
/// `^0x[0-9a-fA-F]+$`; digits are read in pairs and an odd final digit becomes a
/// byte of its own (SPEC.md §2.2 step 2).
pub fn decode_hex_lenient(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("0x")?.as_bytes();
    if digits.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len().div_ceil(2));
    for pair in digits.chunks(2) {
        let mut byte = 0u8;
        for &d in pair {
            byte = (byte << 4) | hex_value(d)?;
        }
        out.push(byte);
    }
    Some(out)
}

fn hex_value(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    }
}

/// A decoded 65-byte recoverable signature (`r ‖ s ‖ v`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoverableSig {
    /// `r ‖ s`.
    pub rs: [u8; 64],
    /// Recovery id, 0 or 1 (`v - 27`).
    pub rec: u8,
}

impl RecoverableSig {
    /// Checks the 65 bytes as SPEC.md §2.2 steps 3–4 do (length, `v` mapping).
    /// The scalar range check happens in [`recover_address`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SigDecodeError> {
        if bytes.len() != 65 {
            return Err(SigDecodeError::Length(bytes.len()));
        }
        let v = match bytes[64] {
            0 | 1 => bytes[64] + 27,
            v => v,
        };
        if v != 27 && v != 28 {
            return Err(SigDecodeError::RecoveryId(v));
        }
        let mut rs = [0u8; 64];
        rs.copy_from_slice(&bytes[..64]);
        Ok(Self { rs, rec: v - 27 })
    }

    /// Decodes signature text (`0x` + hex) as `@dcl/crypto` does.
    pub fn from_text(text: &str) -> Result<Self, SigDecodeError> {
        let bytes = decode_hex_lenient(text).ok_or(SigDecodeError::NotHex)?;
        Self::from_bytes(&bytes)
    }

    /// The 65 canonical bytes (`v` as 27/28).
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&self.rs);
        out[64] = self.rec + 27;
        out
    }
}

/// Recovers the address that signed `prehash`. High-s signatures are accepted, as
/// in the reference (no EIP-2 rule): the replay cache must not key on signature bytes.
pub fn recover_address(
    prehash: &[u8; 32],
    sig: &RecoverableSig,
) -> Result<Address, SigDecodeError> {
    backend::recover(prehash, sig)
}

/// The address of an uncompressed SEC1 public key body (`X ‖ Y`, 64 bytes).
pub fn address_from_xy(xy: &[u8]) -> Address {
    let hash = keccak256(xy);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

/// The address of a verifying key.
pub fn address_of_key(key: &VerifyingKey) -> Address {
    let point = key.to_sec1_point(false);
    address_from_xy(&point.as_bytes()[1..])
}

/// `0x` + 40 lower-case hex digits.
pub fn address_lower(addr: &Address) -> String {
    let mut s = String::with_capacity(42);
    s.push_str("0x");
    s.push_str(&hex::encode(addr));
    s
}

/// EIP-55 mixed-case checksum rendering.
pub fn address_checksummed(addr: &Address) -> String {
    let lower = hex::encode(addr);
    let hash = keccak256(lower.as_bytes());
    let mut s = String::with_capacity(42);
    s.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        if c.is_ascii_alphabetic() && nibble >= 8 {
            s.push(c.to_ascii_uppercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// Parses `0x` + 40 hex digits (any case) into an address; `None` otherwise.
pub fn parse_address(text: &str) -> Option<Address> {
    let digits = text.strip_prefix("0x")?;
    if digits.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// Recovery with `k256` (pure Rust). Always compiled: it is the default backend and
/// the reference the `secp256k1` backend is tested against.
pub fn recover_address_k256(
    prehash: &[u8; 32],
    sig: &RecoverableSig,
) -> Result<Address, SigDecodeError> {
    use k256::ecdsa::RecoveryId;
    let (r, s) = sig.rs.split_at(32);
    let r: [u8; 32] = r.try_into().map_err(|_| SigDecodeError::InvalidCurve)?;
    let s: [u8; 32] = s.try_into().map_err(|_| SigDecodeError::InvalidCurve)?;
    // `from_scalars` refuses r or s equal to zero or ≥ n, exactly the reference's range rule.
    let signature = Signature::from_scalars(r, s).map_err(|_| SigDecodeError::InvalidCurve)?;
    let rec = RecoveryId::new(sig.rec == 1, false);
    let key = VerifyingKey::recover_from_prehash(prehash, &signature, rec)
        .map_err(|_| SigDecodeError::InvalidCurve)?;
    Ok(address_of_key(&key))
}

#[cfg(not(feature = "secp256k1"))]
mod backend {
    use super::*;

    pub(super) fn recover(
        prehash: &[u8; 32],
        sig: &RecoverableSig,
    ) -> Result<Address, SigDecodeError> {
        recover_address_k256(prehash, sig)
    }
}

/// secp256k1 group order n, big-endian.
#[cfg(feature = "secp256k1")]
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// `1 <= x < n` for a 32-byte big-endian integer (lexicographic order = numeric order).
#[cfg(feature = "secp256k1")]
fn in_scalar_range(x: &[u8]) -> bool {
    x.len() == 32 && x.iter().any(|&b| b != 0) && x < &ORDER[..]
}

#[cfg(feature = "secp256k1")]
mod backend {
    //! libsecp256k1 recovery (about twice as fast as k256, see BENCHMARKS.md).
    use super::*;
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId as SecpRecoveryId};
    use secp256k1::Message;

    pub(super) fn recover(
        prehash: &[u8; 32],
        sig: &RecoverableSig,
    ) -> Result<Address, SigDecodeError> {
        // The reference refuses r or s outside [1, n-1]; check that on the big-endian
        // bytes before handing them to libsecp256k1 (no curve work, no scalar parsing).
        let (r, s) = sig.rs.split_at(32);
        if !in_scalar_range(r) || !in_scalar_range(s) {
            return Err(SigDecodeError::InvalidCurve);
        }
        let rec = SecpRecoveryId::try_from(i32::from(sig.rec))
            .map_err(|_| SigDecodeError::InvalidCurve)?;
        let rsig = RecoverableSignature::from_compact(&sig.rs, rec)
            .map_err(|_| SigDecodeError::InvalidCurve)?;
        let msg = Message::from_digest(*prehash);
        let key = rsig
            .recover(msg)
            .map_err(|_| SigDecodeError::InvalidCurve)?;
        let bytes = key.serialize_uncompressed();
        Ok(address_from_xy(&bytes[1..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_hex_keeps_last_nibble_as_a_byte() {
        assert_eq!(decode_hex_lenient("0x123"), Some(vec![0x12, 0x03]));
        assert_eq!(decode_hex_lenient("0xAbC1"), Some(vec![0xab, 0xc1]));
        assert_eq!(decode_hex_lenient("0x"), None);
        assert_eq!(decode_hex_lenient("0X12"), None);
        assert_eq!(decode_hex_lenient("0x1g"), None);
    }

    #[test]
    fn eip191_uses_utf8_byte_length() {
        assert_eq!(
            hex::encode(personal_message_hash("hello")),
            "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
        );
    }

    #[test]
    fn backends_agree_including_high_s_and_out_of_range() {
        let w = crate::auth::Wallet::from_private_key_hex(
            "0xdcad62a4ae3f497fe0f1b0df6132b08390adaaa0fda993a093253fc17426c704",
        )
        .expect("key");
        for msg in ["", "hello", "héllo wörld — 🎮 プラザ"] {
            let prehash = personal_message_hash(msg);
            let sig = RecoverableSig::from_text(&w.sign_personal(msg)).expect("sig");
            assert_eq!(
                recover_address(&prehash, &sig),
                recover_address_k256(&prehash, &sig)
            );
            assert_eq!(recover_address(&prehash, &sig), Ok(w.address_bytes()));
            // The high-s twin (s' = n - s, parity flipped) recovers the same key in both.
            let n = hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
                .expect("n");
            let mut twin = sig;
            let mut borrow = 0i16;
            for i in (0..32).rev() {
                let d = i16::from(n[i]) - i16::from(sig.rs[32 + i]) - borrow;
                borrow = i16::from(d < 0);
                twin.rs[32 + i] = d.rem_euclid(256) as u8;
            }
            twin.rec ^= 1;
            assert_eq!(recover_address(&prehash, &twin), Ok(w.address_bytes()));
            assert_eq!(recover_address_k256(&prehash, &twin), Ok(w.address_bytes()));
            // r = n is out of range for both.
            let mut bad = sig;
            bad.rs[..32].copy_from_slice(&n);
            assert_eq!(
                recover_address(&prehash, &bad),
                Err(SigDecodeError::InvalidCurve)
            );
            assert_eq!(
                recover_address_k256(&prehash, &bad),
                Err(SigDecodeError::InvalidCurve)
            );
        }
    }

    #[test]
    fn v_is_mapped_and_checked() {
        let mut bytes = [1u8; 65];
        bytes[64] = 0;
        assert_eq!(RecoverableSig::from_bytes(&bytes).map(|s| s.rec), Ok(0));
        bytes[64] = 28;
        assert_eq!(RecoverableSig::from_bytes(&bytes).map(|s| s.rec), Ok(1));
        bytes[64] = 29;
        assert_eq!(
            RecoverableSig::from_bytes(&bytes),
            Err(SigDecodeError::RecoveryId(29))
        );
        assert_eq!(
            RecoverableSig::from_bytes(&bytes[..64]),
            Err(SigDecodeError::Length(64))
        );
    }
}

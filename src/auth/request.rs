//! The request a signed-fetch verification looks at (header errors become
//! `AuthError::Header` through `From`).
//!
//! Owns: [`SignedRequest`] and body hashing. Must not: verify signatures or read clocks.

/// A request to verify: raw header pairs (any name case, values as bytes).
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// HTTP method (`GET` for the WebSocket connect).
    pub method: &'a str,
    /// URL path; a query string or fragment, if present, is ignored (it is not signed).
    pub path: &'a str,
    /// Header pairs in received order.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// Request body (`None` for the WebSocket connect).
    pub body: Option<&'a [u8]>,
}

/// Lower-case hex SHA-256.
pub(crate) fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

//! The request a signed-fetch verification looks at, and the conversions from
//! `plaza_protocol::auth::headers` (which reads the headers) to [`AuthError`].
//!
//! Owns: [`SignedRequest`] and body hashing. Must not: verify signatures or read clocks.

use plaza_protocol::auth::headers::HeaderError;

use super::error::AuthError;

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

impl From<HeaderError> for AuthError {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::MissingChain => AuthError::MissingChain,
            HeaderError::TooManyHeaders { count, max } => AuthError::TooManyHeaders { count, max },
            HeaderError::HeaderTooLarge { name, len, max } => {
                AuthError::HeaderTooLarge { name, len, max }
            }
            HeaderError::DuplicateHeader(n) => AuthError::DuplicateHeader(n),
            HeaderError::ChainHeaderGap(i) => AuthError::ChainHeaderGap(i),
            HeaderError::BadChainHeader { index, reason } => {
                AuthError::BadChainHeader { index, reason }
            }
            HeaderError::BadTimestamp(t) => AuthError::BadTimestamp(t),
        }
    }
}

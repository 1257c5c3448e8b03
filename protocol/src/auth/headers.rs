//! Reading signed-fetch headers (SPEC.md §6–7): `x-identity-*` values as Latin-1,
//! the chain links, the timestamp and metadata texts.
//!
//! Owns: the cheap, allocation-bounded checks a server runs before any curve work
//! (header count and size, duplicates, gaps, JSON shape, timestamp grammar).
//! Must not: verify signatures, read clocks or decide policy. Pure, so it is fuzzed.

use std::collections::HashMap;

use serde_json::Value;
use thiserror::Error;

/// Why the signed-fetch headers could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// No chain headers, or fewer than two links.
    #[error(
        "missing or incomplete auth chain: at least x-identity-auth-chain-0 and -1 are required"
    )]
    MissingChain,
    /// Too many `x-identity-*` headers (or chain links).
    #[error("too many x-identity-* headers ({count}; at most {max})")]
    TooManyHeaders {
        /// Found.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A header value over the size limit.
    #[error("header {name} is {len} bytes; at most {max}")]
    HeaderTooLarge {
        /// Header name (lower-case).
        name: String,
        /// Its length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The same header twice.
    #[error("header {0} appears more than once")]
    DuplicateHeader(String),
    /// A chain header after a hole in the numbering.
    #[error("x-identity-auth-chain-{0} is present but an earlier index is missing")]
    ChainHeaderGap(usize),
    /// A chain header that is not JSON.
    #[error("x-identity-auth-chain-{index} is not valid JSON: {reason}")]
    BadChainHeader {
        /// Link index.
        index: usize,
        /// Parser message.
        reason: String,
    },
    /// A timestamp that is not a number of milliseconds.
    #[error("x-identity-timestamp {0:?} is not a decimal number of milliseconds")]
    BadTimestamp(String),
}

/// Prefix of every signed-fetch header.
pub const IDENTITY_PREFIX: &str = "x-identity-";
pub const CHAIN_PREFIX: &str = "x-identity-auth-chain-";

/// Limits applied before anything is parsed.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLimits {
    /// Most `x-identity-*` headers.
    pub max_headers: usize,
    /// Largest header value, bytes.
    pub max_header_bytes: usize,
    /// Most chain links.
    pub max_links: usize,
}

/// The signed-fetch headers of one request.
#[derive(Debug)]
pub struct ParsedHeaders {
    /// Chain links, parsed as loose JSON.
    pub chain: Value,
    /// Raw `x-identity-timestamp` (Latin-1 decoded), if present.
    pub timestamp: Option<String>,
    /// Raw `x-identity-metadata` (Latin-1 decoded), if present.
    pub metadata: Option<String>,
}

/// Header bytes → text, one char per byte (ISO-8859-1), as Node delivers them (SPEC.md §6.2).
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Collects and parses the `x-identity-*` headers. `compat` reproduces Node's
/// handling (repeated headers joined with `", "`, chain read until the first gap);
/// otherwise duplicates and gaps are refused.
pub fn parse_headers(
    headers: &[(&str, &[u8])],
    limits: HeaderLimits,
    compat: bool,
) -> Result<ParsedHeaders, HeaderError> {
    let mut found: HashMap<String, String> = HashMap::new();
    let mut count = 0usize;
    for (name, value) in headers {
        if name.len() < IDENTITY_PREFIX.len()
            || !name[..IDENTITY_PREFIX.len()].eq_ignore_ascii_case(IDENTITY_PREFIX)
        {
            continue;
        }
        count += 1;
        if count > limits.max_headers {
            return Err(HeaderError::TooManyHeaders {
                count,
                max: limits.max_headers,
            });
        }
        let lower = name.to_ascii_lowercase();
        if value.len() > limits.max_header_bytes {
            return Err(HeaderError::HeaderTooLarge {
                name: lower,
                len: value.len(),
                max: limits.max_header_bytes,
            });
        }
        match found.get_mut(&lower) {
            Some(existing) if compat => {
                existing.push_str(", ");
                existing.push_str(&latin1(value));
            }
            Some(_) => return Err(HeaderError::DuplicateHeader(lower)),
            None => {
                found.insert(lower, latin1(value));
            }
        }
    }

    let mut links = Vec::new();
    loop {
        let name = format!("{CHAIN_PREFIX}{}", links.len());
        match found.get(&name) {
            Some(v) if !v.is_empty() => {
                if links.len() >= limits.max_links {
                    return Err(HeaderError::TooManyHeaders {
                        count: links.len() + 1,
                        max: limits.max_links,
                    });
                }
                let link: Value =
                    serde_json::from_str(v).map_err(|e| HeaderError::BadChainHeader {
                        index: links.len(),
                        reason: e.to_string(),
                    })?;
                links.push(link);
            }
            _ => break,
        }
    }
    if !compat {
        // A chain header past the first gap would be silently ignored by the reference.
        let gap = found
            .keys()
            .filter_map(|k| k.strip_prefix(CHAIN_PREFIX)?.parse::<usize>().ok())
            .find(|&i| i >= links.len());
        if let Some(i) = gap {
            return Err(HeaderError::ChainHeaderGap(i));
        }
    }
    if links.len() < 2 {
        return Err(HeaderError::MissingChain);
    }
    Ok(ParsedHeaders {
        chain: Value::Array(links),
        timestamp: found.remove("x-identity-timestamp"),
        metadata: found.remove("x-identity-metadata"),
    })
}

/// Strict timestamp: 1–16 ASCII digits, no sign, no leading zero (the exact form
/// `String(Date.now())` produces).
pub fn parse_timestamp_strict(raw: Option<&str>) -> Result<i64, HeaderError> {
    let raw = raw.unwrap_or_default();
    let ok = !raw.is_empty()
        && raw.len() <= 16
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw == "0" || !raw.starts_with('0'));
    if !ok {
        return Err(HeaderError::BadTimestamp(raw.to_owned()));
    }
    raw.parse()
        .map_err(|_| HeaderError::BadTimestamp(raw.to_owned()))
}

/// JavaScript `Number(raw || "0")`, refusing non-finite results (SPEC.md §7.1 step 2).
pub fn parse_timestamp_compat(raw: Option<&str>) -> Result<f64, HeaderError> {
    let text = raw.filter(|r| !r.is_empty()).unwrap_or("0");
    js_number(text)
        .filter(|n| n.is_finite())
        .ok_or_else(|| HeaderError::BadTimestamp(text.to_owned()))
}

/// `Number(text)` for strings: trims whitespace, `""` → 0, `0x`/`0o`/`0b` integers,
/// decimal literals with sign, fraction and exponent, `Infinity`.
fn js_number(text: &str) -> Option<f64> {
    let t = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if t.is_empty() {
        return Some(0.0);
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = t.strip_prefix(prefix) {
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            return digits.chars().try_fold(0f64, |acc, c| {
                Some(acc * f64::from(radix) + f64::from(c.to_digit(radix)?))
            });
        }
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned == "Infinity" {
        return Some(if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    // Rust's float grammar also takes "inf"/"nan"; JavaScript's decimal literal only digits.
    if !unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    t.parse::<f64>().ok()
}

/// The URL pathname: everything before `?` or `#`.
pub fn pathname(target: &str) -> &str {
    let end = target.find(['?', '#']).unwrap_or(target.len());
    &target[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeaderLimits = HeaderLimits {
        max_headers: 16,
        max_header_bytes: 4096,
        max_links: 10,
    };

    #[test]
    fn js_number_forms() {
        assert_eq!(js_number(" 0017 "), Some(17.0));
        assert_eq!(js_number("+1e3"), Some(1000.0));
        assert_eq!(js_number("0x10"), Some(16.0));
        assert_eq!(js_number("soon"), None);
        assert_eq!(js_number("inf"), None);
        assert!(parse_timestamp_compat(Some("Infinity")).is_err());
        assert_eq!(parse_timestamp_compat(None), Ok(0.0));
    }

    #[test]
    fn strict_timestamps_are_plain_decimal() {
        assert_eq!(
            parse_timestamp_strict(Some("1750000000000")),
            Ok(1_750_000_000_000)
        );
        for bad in [
            "",
            "01750000000000",
            "+1",
            "1e12",
            " 1",
            "0x1",
            "12345678901234567",
        ] {
            assert!(parse_timestamp_strict(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_limits_duplicates_and_gaps() {
        let link = br#"{"type":"SIGNER","payload":"0x","signature":""}"#.as_slice();
        let h = [
            ("X-Identity-Auth-Chain-0", link),
            ("x-identity-auth-chain-1", link),
        ];
        assert!(parse_headers(&h, LIMITS, false).is_ok());
        let dup = [
            ("x-identity-auth-chain-0", link),
            ("x-identity-auth-chain-0", link),
        ];
        assert_eq!(
            parse_headers(&dup, LIMITS, false).err(),
            Some(HeaderError::DuplicateHeader(
                "x-identity-auth-chain-0".into()
            ))
        );
        assert!(matches!(
            parse_headers(&dup, LIMITS, true),
            Err(HeaderError::BadChainHeader { .. })
        ));
        let gap = [
            ("x-identity-auth-chain-0", link),
            ("x-identity-auth-chain-1", link),
            ("x-identity-auth-chain-3", link),
        ];
        assert_eq!(
            parse_headers(&gap, LIMITS, false).err(),
            Some(HeaderError::ChainHeaderGap(3))
        );
        let many: Vec<(&str, &[u8])> = (0..17).map(|_| ("x-identity-x", b"1".as_slice())).collect();
        assert!(matches!(
            parse_headers(&many, LIMITS, true),
            Err(HeaderError::TooManyHeaders { .. })
        ));
        let big = vec![b'a'; 5000];
        let h = [("x-identity-metadata", big.as_slice())];
        assert!(matches!(
            parse_headers(&h, LIMITS, false),
            Err(HeaderError::HeaderTooLarge { .. })
        ));
        // Latin-1: byte 0xE9 is 'é', not invalid UTF-8.
        assert_eq!(latin1(&[0x63, 0x61, 0x66, 0xE9]), "café");
    }

    #[test]
    fn pathname_drops_query_and_fragment() {
        assert_eq!(pathname("/v1/Scores/?season=1#x"), "/v1/Scores/");
        assert_eq!(pathname("/v1/ws"), "/v1/ws");
    }
}

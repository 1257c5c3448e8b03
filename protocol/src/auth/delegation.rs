//! The ephemeral delegation message (SPEC.md §3): building it and parsing it.
//!
//! Owns: the 3-line text format and both parsing rules (compat: `@dcl/crypto`'s
//! lenient split; strict: the exact shape clients produce).
//! Must not: verify signatures or compare expirations with a clock.

use std::borrow::Cow;

use super::date;

/// The purpose line every client writes.
pub const PURPOSE: &str = "Decentraland Login";
const ADDRESS_PREFIX: &str = "Ephemeral address: ";
const EXPIRATION_PREFIX: &str = "Expiration: ";

/// A parsed delegation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation<'a> {
    /// The text that was (or must have been) signed: the payload with every `\r` removed.
    pub message: Cow<'a, str>,
    /// The ephemeral address as written (not validated in compat).
    pub ephemeral_address: String,
    /// The expiration, Unix ms.
    pub expiration_ms: i64,
}

/// Why a delegation text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DelegationError {
    /// Fewer than 3 lines, or line 2/3 without its prefix.
    Format,
    /// The expiration text is not a date.
    Unparseable(String),
    /// Strict only: the text is parseable but not in the exact client shape.
    Shape(&'static str),
    /// Strict only: the expiration is a date but not an RFC 3339 date-time.
    NotIso(String),
}

/// Builds the message a client signs to delegate to `ephemeral_address` until `expiration_ms`.
pub fn message(ephemeral_address: &str, expiration_ms: i64) -> String {
    format!(
        "{PURPOSE}\n{ADDRESS_PREFIX}{ephemeral_address}\n{EXPIRATION_PREFIX}{}",
        date::to_iso_string(expiration_ms)
    )
}

/// Parses a delegation payload as `@dcl/crypto` does (SPEC.md §3.2): strip every `\r`,
/// need 3+ lines with the two prefixes, ignore the purpose line and any extra lines,
/// read the expiration with `Date.parse` rules.
pub fn parse_compat(payload: &str) -> Result<Delegation<'_>, DelegationError> {
    // Borrow when there is nothing to strip: the common case copies nothing.
    let message = if payload.contains('\r') {
        Cow::Owned(payload.replace('\r', ""))
    } else {
        Cow::Borrowed(payload)
    };
    let mut lines = message.split('\n');
    let _purpose = lines.next();
    let addr = lines.next().and_then(|l| l.strip_prefix(ADDRESS_PREFIX));
    let exp = lines.next().and_then(|l| l.strip_prefix(EXPIRATION_PREFIX));
    let (addr, exp) = match (addr, exp) {
        (Some(a), Some(e)) => (a.to_owned(), e),
        _ => return Err(DelegationError::Format),
    };
    let expiration_ms =
        date::parse_js_date(exp).ok_or_else(|| DelegationError::Unparseable(exp.to_owned()))?;
    Ok(Delegation {
        message,
        ephemeral_address: addr,
        expiration_ms,
    })
}

/// Parses a delegation payload in the exact shape clients produce: no `\r`, exactly
/// three lines, purpose `Decentraland Login`, a `0x` + 40-hex address, an RFC 3339
/// expiration. Anything else is refused with the reason.
pub fn parse_strict(payload: &str) -> Result<Delegation<'_>, DelegationError> {
    if payload.contains('\r') {
        return Err(DelegationError::Shape(
            "contains a carriage return; lines must end with \\n only",
        ));
    }
    let lines: Vec<&str> = payload.split('\n').collect();
    if lines.len() < 3
        || !lines[1].starts_with(ADDRESS_PREFIX)
        || !lines[2].starts_with(EXPIRATION_PREFIX)
    {
        return Err(DelegationError::Format);
    }
    if lines.len() > 3 {
        return Err(DelegationError::Shape("has more than three lines"));
    }
    if lines[0] != PURPOSE {
        return Err(DelegationError::Shape(
            "first line is not \"Decentraland Login\"",
        ));
    }
    let addr = &lines[1][ADDRESS_PREFIX.len()..];
    if super::crypto::parse_address(addr).is_none() {
        return Err(DelegationError::Shape(
            "ephemeral address is not 0x followed by 40 hex digits",
        ));
    }
    let exp = &lines[2][EXPIRATION_PREFIX.len()..];
    let ms = match date::parse_rfc3339(exp) {
        Some(ms) => ms,
        None if date::parse_js_date(exp).is_some() => {
            return Err(DelegationError::NotIso(exp.to_owned()))
        }
        None => return Err(DelegationError::Unparseable(exp.to_owned())),
    };
    Ok(Delegation {
        message: Cow::Borrowed(payload),
        ephemeral_address: addr.to_owned(),
        expiration_ms: ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "Decentraland Login\nEphemeral address: 0xb53E26BB89c108fb162b087510e2951745362763\nExpiration: 2099-12-31T00:00:00.000Z";

    #[test]
    fn builds_the_client_text() {
        let ms = date::parse_js_date("2099-12-31T00:00:00.000Z").expect("date");
        assert_eq!(
            message("0xb53E26BB89c108fb162b087510e2951745362763", ms),
            MSG
        );
    }

    #[test]
    fn compat_strips_cr_and_ignores_purpose() {
        let crlf = MSG.replace('\n', "\r\n");
        let d = parse_compat(&crlf).expect("parses");
        assert_eq!(d.message, MSG);
        assert_eq!(
            d.ephemeral_address,
            "0xb53E26BB89c108fb162b087510e2951745362763"
        );
        let other = MSG.replace(PURPOSE, "Something else");
        assert!(parse_compat(&other).is_ok());
        assert_eq!(
            parse_strict(&other),
            Err(DelegationError::Shape(
                "first line is not \"Decentraland Login\""
            ))
        );
        assert!(matches!(
            parse_strict(&crlf),
            Err(DelegationError::Shape(_))
        ));
    }

    #[test]
    fn format_errors() {
        assert_eq!(parse_compat("a\nb"), Err(DelegationError::Format));
        assert_eq!(parse_compat("bafkrei"), Err(DelegationError::Format));
        let bad = MSG.replace("2099-12-31T00:00:00.000Z", "tomorrow");
        assert_eq!(
            parse_compat(&bad),
            Err(DelegationError::Unparseable("tomorrow".into()))
        );
        let date_only = MSG.replace("2099-12-31T00:00:00.000Z", "2099-12-31");
        assert!(parse_compat(&date_only).is_ok());
        assert_eq!(
            parse_strict(&date_only),
            Err(DelegationError::NotIso("2099-12-31".into()))
        );
    }
}

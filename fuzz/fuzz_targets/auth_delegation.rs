//! Fuzz target: the ephemeral delegation parser (compat and strict), the date
//! parsers, and the signature text decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_protocol::auth::{crypto, date, delegation};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(d) = delegation::parse_compat(&text) {
        // Whatever parsed must re-render without panicking.
        let _ = date::to_iso_string(d.expiration_ms);
        assert!(!d.message.contains('\r'));
    }
    if let Ok(d) = delegation::parse_strict(&text) {
        // Strict output round-trips through the builder when written canonically.
        let _ = delegation::message(&d.ephemeral_address, d.expiration_ms);
    }
    let _ = date::parse_js_date(&text);
    let _ = date::parse_rfc3339(&text);
    let _ = crypto::RecoverableSig::from_text(&text);
    let _ = crypto::parse_address(&text);
});

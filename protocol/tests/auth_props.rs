//! Property tests for `plaza_protocol::auth`: no input panics, strict never accepts
//! more than compat, signing round-trips, and the date/hex codecs invert.

use plaza_protocol::auth::headers::{self, HeaderLimits};
use plaza_protocol::auth::{
    crypto, date, delegation, verify_chain, verify_links, ContractMode, EphemeralIdentity, Policy,
    VerifyOptions, Wallet,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const NOW: u64 = 1_750_000_000_000;

fn opts(policy: Policy) -> VerifyOptions {
    VerifyOptions {
        policy,
        now_ms: NOW,
        contracts: ContractMode::Defer,
    }
}

fn link_type() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("SIGNER")),
        Just(json!("ECDSA_EPHEMERAL")),
        Just(json!("ECDSA_SIGNED_ENTITY")),
        Just(json!("ECDSA_EIP_1654_EPHEMERAL")),
        Just(json!("ECDSA_EIP_1654_SIGNED_ENTITY")),
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn text_or_junk() -> impl Strategy<Value = Value> {
    prop_oneof![
        ".{0,40}".prop_map(Value::from),
        "0x[0-9a-fA-F]{0,140}".prop_map(Value::from),
        "Decentraland Login\nEphemeral address: 0x[0-9a-f]{40}\nExpiration: [0-9:TZ.-]{0,30}"
            .prop_map(Value::from),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        prop::collection::vec(any::<u8>(), 0..70).prop_map(|b| json!(b)),
    ]
}

fn link() -> impl Strategy<Value = Value> {
    prop_oneof![
        (link_type(), text_or_junk(), text_or_junk())
            .prop_map(|(t, p, s)| json!({"type": t, "payload": p, "signature": s})),
        Just(Value::Null),
        Just(json!([])),
        ".{0,10}".prop_map(Value::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_chains_never_panic_and_strict_is_narrower(
        chain in prop::collection::vec(link(), 0..6),
        expected in ".{0,20}",
    ) {
        let chain = Value::Array(chain);
        let compat = verify_chain(&chain, &expected, &opts(Policy::Compat), None);
        let strict = verify_chain(&chain, &expected, &opts(Policy::Strict), None);
        if strict.is_ok() {
            prop_assert!(compat.is_ok(), "strict accepted what compat refused: {compat:?}");
        }
    }

    #[test]
    fn delegation_parsers_never_panic_and_strict_agrees_with_compat(text in ".{0,200}") {
        let compat = delegation::parse_compat(&text);
        if let Ok(strict) = delegation::parse_strict(&text) {
            let compat = compat.expect("compat parses what strict parses");
            prop_assert_eq!(strict.expiration_ms, compat.expiration_ms);
            prop_assert_eq!(strict.ephemeral_address, compat.ephemeral_address);
        }
    }

    #[test]
    fn iso_dates_round_trip(ms in -62_000_000_000_000i64..250_000_000_000_000i64) {
        let text = date::to_iso_string(ms);
        prop_assert_eq!(date::parse_js_date(&text), Some(ms));
        if (0..=253_402_300_799_999).contains(&ms) {
            prop_assert_eq!(date::parse_rfc3339(&text), Some(ms));
        }
    }

    #[test]
    fn lenient_hex_matches_hex_on_even_lengths(bytes in prop::collection::vec(any::<u8>(), 1..80)) {
        let text = format!("0x{}", hex::encode(&bytes));
        prop_assert_eq!(crypto::decode_hex_lenient(&text), Some(bytes.clone()));
        prop_assert_eq!(crypto::decode_hex_lenient(&text.to_uppercase().replacen("0X", "0x", 1)), Some(bytes));
    }

    #[test]
    fn header_reading_never_panics(
        pairs in prop::collection::vec(("(x-identity-(auth-chain-[0-9]{1,2}|timestamp|metadata)|[a-z-]{1,12})", prop::collection::vec(any::<u8>(), 0..64)), 0..20),
    ) {
        let refs: Vec<(&str, &[u8])> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        let limits = HeaderLimits { max_headers: 16, max_header_bytes: 8192, max_links: 10 };
        for compat in [false, true] {
            if let Ok(parsed) = headers::parse_headers(&refs, limits, compat) {
                prop_assert!(parsed.chain.as_array().is_some_and(|a| a.len() >= 2));
                let _ = headers::parse_timestamp_compat(parsed.timestamp.as_deref());
            }
        }
    }

    #[test]
    fn strict_timestamps_round_trip(ts in 0u64..10_000_000_000_000_000) {
        prop_assert_eq!(headers::parse_timestamp_strict(Some(&ts.to_string())), Ok(ts as i64));
    }

    #[test]
    fn latin1_is_one_char_per_byte(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let text = headers::latin1(&bytes);
        let back: Vec<u8> = text.chars().map(|c| u8::try_from(u32::from(c)).expect("≤ U+00FF")).collect();
        prop_assert_eq!(back, bytes);
    }
}

proptest! {
    // Each case costs a few recoveries (slow without optimisations): keep it small.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn signed_payloads_verify_and_tampering_fails(payload in "\\PC{1,60}", flip in any::<prop::sample::Index>()) {
        let id = EphemeralIdentity::new(&Wallet::random(), Wallet::random(), NOW + 86_400_000);
        let chain = id.sign_payload(&payload);
        let ok = verify_links(&chain, &payload, &opts(Policy::Strict), None).expect("own chain verifies");
        prop_assert_eq!(ok.signer, id.address());
        let mut bytes = payload.clone().into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] ^= 0x01;
        if let Ok(tampered) = String::from_utf8(bytes) {
            let mut bad = chain.clone();
            bad[2].payload = tampered.clone();
            prop_assert!(verify_links(&bad, &tampered, &opts(Policy::Compat), None).is_err());
        }
    }
}

//! Every case of `shared/auth/vectors.json` (copied to `tests/data`) against
//! `plaza_protocol::auth`: primitives, chain verdicts in both policies, EIP-1654
//! call data, and byte-exact client signing.

use std::collections::HashMap;

use plaza_protocol::auth::{
    crypto, date, delegation, verify_chain, ChainShape, ContractMode, EphemeralIdentity, Policy,
    VerifyOptions, Wallet,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/vectors.json")).expect("vectors.json parses")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string in {v}"))
}

fn key(v: &Value, name: &str) -> Wallet {
    Wallet::from_private_key_hex(s(&v["keys"][name], "privateKey")).expect("fixed key parses")
}

fn opts(policy: Policy, now_ms: u64) -> VerifyOptions {
    VerifyOptions {
        policy,
        now_ms,
        contracts: ContractMode::Refuse,
    }
}

#[test]
fn personal_message_hashes_signatures_and_recovery() {
    let v = vectors();
    let owner = key(&v, "ownerA");
    for case in v["primitives"]["personalMessageHash"]
        .as_array()
        .expect("array")
    {
        let msg = s(case, "message");
        assert_eq!(
            msg.len() as u64,
            case["utf8ByteLength"].as_u64().expect("len"),
            "{msg}"
        );
        let hash = crypto::personal_message_hash(msg);
        assert_eq!(
            format!("0x{}", hex::encode(hash)),
            s(case, "hash"),
            "hash of {msg:?}"
        );
        // RFC 6979 makes signing deterministic: the bytes must equal noble's.
        assert_eq!(
            owner.sign_personal(msg),
            s(case, "signature"),
            "signature of {msg:?}"
        );
        let sig = crypto::RecoverableSig::from_text(s(case, "signature")).expect("decodes");
        let addr = crypto::recover_address(&hash, &sig).expect("recovers");
        assert_eq!(
            crypto::address_checksummed(&addr),
            s(case, "recoveredAddress")
        );
    }
}

#[test]
fn eip1271_hashes_and_address_derivation() {
    let v = vectors();
    for case in v["primitives"]["eip1271MessageHash"]
        .as_array()
        .expect("array")
    {
        let hash = crypto::keccak256(s(case, "message").as_bytes());
        assert_eq!(format!("0x{}", hex::encode(hash)), s(case, "hash"));
    }
    for case in v["primitives"]["addressDerivation"]
        .as_array()
        .expect("array")
    {
        let w = Wallet::from_private_key_hex(s(case, "privateKey")).expect("key");
        assert_eq!(w.address(), s(case, "address"));
        let pk = hex::decode(&s(case, "publicKeyUncompressed")[2..]).expect("hex");
        assert_eq!(
            crypto::address_checksummed(&crypto::address_from_xy(&pk[1..])),
            s(case, "address")
        );
    }
    for (name, k) in v["keys"].as_object().expect("keys") {
        assert_eq!(key(&v, name).address(), s(k, "address"), "{name}");
    }
}

#[test]
fn ephemeral_messages_build_and_parse() {
    let v = vectors();
    for case in v["primitives"]["ephemeralMessage"]
        .as_array()
        .expect("array")
    {
        let ms = case["parsed"]["expirationMs"].as_i64().expect("ms");
        assert_eq!(date::to_iso_string(ms), s(case, "expiration"));
        assert_eq!(
            delegation::message(s(case, "ephemeralAddress"), ms),
            s(case, "payload")
        );
        for parsed in [
            delegation::parse_compat(s(case, "payload")),
            delegation::parse_strict(s(case, "payload")),
        ] {
            let parsed = parsed.expect("parses");
            assert_eq!(parsed.message, s(&case["parsed"], "message"));
            assert_eq!(
                parsed.ephemeral_address,
                s(&case["parsed"], "ephemeralAddress")
            );
            assert_eq!(parsed.expiration_ms, ms);
        }
    }
}

#[test]
fn chain_cases_compat_match_the_reference() {
    let v = vectors();
    let cases = v["chainCases"].as_array().expect("array");
    assert!(cases.len() >= 60);
    for case in cases {
        let id = s(case, "id");
        let now = case["nowMs"].as_u64().expect("nowMs");
        let got = verify_chain(
            &case["authChain"],
            s(case, "expectedFinalAuthority"),
            &opts(Policy::Compat, now),
            None,
        );
        let want_ok = case["result"]["ok"].as_bool().expect("ok");
        assert_eq!(got.is_ok(), want_ok, "{id}: {got:?}");
        if let (Err(e), Some(class)) = (&got, case["result"]["errorClass"].as_str()) {
            assert_eq!(e.class(), class, "{id}: {e}");
        }
    }
}

/// Compat-accepted cases the strict policy refuses, with the class it must give (SPEC.md §11).
const STRICT_REFUSES: &[(&str, &str)] = &[
    ("chain/empty-chain-empty-expectation", "EMPTY_CHAIN"),
    ("chain/signer-only-1-link", "CHAIN_TOO_SHORT"),
    ("ephemeral/crlf-line-endings", "DELEGATION_MALFORMED"),
    (
        "ephemeral/purpose-not-decentraland-login",
        "DELEGATION_MALFORMED",
    ),
    ("ephemeral/date-only-expiration", "EXPIRATION_NOT_ISO"),
];

/// Compat-refused cases where strict reports a more precise cause.
const STRICT_CLASSES: &[(&str, &str)] = &[
    ("chain/empty-chain", "EMPTY_CHAIN"),
    ("chain/missing-entity-link", "MISSING_ENTITY_LINK"),
    ("chain/extra-entity-after-final", "ENTITY_AS_DELEGATION"),
    ("types/unknown-type-enum-key", "UNKNOWN_LINK_TYPE"),
    ("types/lowercase-type", "UNKNOWN_LINK_TYPE"),
    ("types/missing-type-field", "UNKNOWN_LINK_TYPE"),
    ("types/ephemeral-typed-as-entity", "ENTITY_AS_DELEGATION"),
    ("types/entity-typed-as-ephemeral", "MISSING_ENTITY_LINK"),
    ("addr/signer-without-0x", "SIGNER_NOT_ADDRESS"),
    ("addr/signer-trailing-space", "SIGNER_NOT_ADDRESS"),
    (
        "ephemeral/unparseable-expiration",
        "EPHEMERAL_EXPIRATION_UNPARSEABLE",
    ),
];

#[test]
fn chain_cases_strict_never_accepts_more_and_refuses_section_11() {
    let v = vectors();
    let refuses: HashMap<_, _> = STRICT_REFUSES.iter().copied().collect();
    let classes: HashMap<_, _> = STRICT_CLASSES.iter().copied().collect();
    let mut seen = 0;
    for case in v["chainCases"].as_array().expect("array") {
        let id = s(case, "id");
        let now = case["nowMs"].as_u64().expect("nowMs");
        let got = verify_chain(
            &case["authChain"],
            s(case, "expectedFinalAuthority"),
            &opts(Policy::Strict, now),
            None,
        );
        let compat_ok = case["result"]["ok"].as_bool().expect("ok");
        if let Some(class) = refuses.get(id).or(classes.get(id)) {
            seen += 1;
            let e = got.expect_err(id);
            assert_eq!(e.class(), *class, "{id}: {e}");
        } else if compat_ok {
            assert!(got.is_ok(), "{id}: strict refused a sound chain: {got:?}");
        } else {
            assert!(
                got.is_err(),
                "{id}: strict accepted what the reference refuses"
            );
        }
    }
    assert_eq!(
        seen,
        STRICT_REFUSES.len() + STRICT_CLASSES.len(),
        "every listed id exists"
    );
}

#[test]
fn shapes_and_signer_are_reported() {
    let v = vectors();
    let by_id = |id: &str| {
        v["chainCases"]
            .as_array()
            .expect("array")
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .expect(id)
    };
    for (id, shape) in [
        ("chain/valid-3-link", ChainShape::Ephemeral),
        ("chain/valid-2-link-direct", ChainShape::Direct),
    ] {
        let case = by_id(id);
        let ok = verify_chain(
            &case["authChain"],
            s(&case, "expectedFinalAuthority"),
            &opts(Policy::Strict, 1),
            None,
        )
        .expect(id);
        assert_eq!(ok.shape, shape);
        assert_eq!(ok.signer, "0x818a9f8317acFa0d4eb6B6E06882B6d6D093f247");
    }
}

#[test]
fn eip1654_cases_defer_exactly_the_reference_calls() {
    let v = vectors();
    for case in v["eip1654Cases"].as_array().expect("array") {
        let id = s(case, "id");
        let now = case["nowMs"].as_u64().expect("now");
        for policy in [Policy::Compat, Policy::Strict] {
            // Without an RPC: refused with the no-provider class.
            let refused = verify_chain(
                &case["authChain"],
                s(case, "expectedFinalAuthority"),
                &opts(policy, now),
                None,
            );
            assert_eq!(refused.expect_err(id).class(), "EIP1654_NO_PROVIDER");
            let o = VerifyOptions {
                policy,
                now_ms: now,
                contracts: ContractMode::Defer,
            };
            let ok = verify_chain(
                &case["authChain"],
                s(case, "expectedFinalAuthority"),
                &o,
                None,
            )
            .expect(id);
            assert_eq!(ok.shape, ChainShape::Contract);
            let [check] = ok.contract_checks.as_slice() else {
                panic!("{id}: one contract check")
            };
            let [raw, eip191] = check.hashes();
            assert_eq!(
                format!("0x{}", hex::encode(raw)),
                s(&case["mock"]["hashes"], "rawKeccak")
            );
            assert_eq!(
                format!("0x{}", hex::encode(eip191)),
                s(&case["mock"]["hashes"], "eip191")
            );
            let first = &case["rpcCalls"][0];
            assert_eq!(s(first, "method"), "eth_call");
            assert_eq!(
                check.call_data(&raw),
                s(&first["params"][0], "data"),
                "{id}"
            );
            assert_eq!(check.contract.to_lowercase(), s(&first["params"][0], "to"));
            if let Some(second) = case["rpcCalls"].get(1) {
                assert_eq!(
                    check.call_data(&eip191),
                    s(&second["params"][0], "data"),
                    "{id}"
                );
            }
        }
    }
}

#[test]
fn client_cases_are_reproduced_byte_for_byte() {
    let v = vectors();
    let owner = key(&v, "ownerA");
    let eph = key(&v, "ephA");
    let exp = date::parse_rfc3339(s(&v["identities"]["A"], "expiration")).expect("date");
    let identity = EphemeralIdentity::new(&owner, eph, u64::try_from(exp).expect("positive"));
    let mut checked = 0;
    for case in v["clientCases"].as_array().expect("array") {
        let id = s(case, "id");
        if let Some(headers) = case["headers"].as_object() {
            let input = &case["input"];
            let metadata = headers["x-identity-metadata"].as_str().expect("metadata");
            let got = identity.signed_headers(
                s(input, "method"),
                s(input, "path"),
                input["timestampMs"].as_u64().expect("ts"),
                metadata,
            );
            assert_eq!(got.len(), headers.len(), "{id}");
            for (name, value) in &got {
                assert_eq!(Some(value.as_str()), headers[name].as_str(), "{id}: {name}");
            }
            let chain: Vec<Value> = (0..3)
                .map(|i| {
                    serde_json::from_str(
                        headers[&format!("x-identity-auth-chain-{i}")]
                            .as_str()
                            .expect("h"),
                    )
                    .expect("json")
                })
                .collect();
            assert_eq!(s(&chain[2], "payload"), s(case, "payload"), "{id}");
            checked += 1;
        } else if let Some(payload) = case["serverPayload"].as_str() {
            // signedFetch on the wire: our signer produces the same entity link for the same payload.
            let wire: Vec<(String, String)> = case["wire"]["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .map(|p| (s_at(p, 0), s_at(p, 1)))
                .collect();
            let entity = wire
                .iter()
                .find(|(n, _)| n == "x-identity-auth-chain-2")
                .expect("entity header");
            let chain = identity.sign_payload(payload);
            assert_eq!(chain[2].to_json(), entity.1, "{id}");
            checked += 1;
        }
    }
    assert!(checked >= 9, "checked {checked}");
}

fn s_at(v: &Value, i: usize) -> String {
    v[i].as_str().expect("string").to_owned()
}

#[test]
fn signer_output_verifies_in_both_policies() {
    let owner = Wallet::random();
    let identity = EphemeralIdentity::new(&owner, Wallet::random(), 4_102_358_400_000);
    let chain = identity.sign_payload("hello plaza");
    let strict = plaza_protocol::auth::verify_links(
        &chain,
        "hello plaza",
        &opts(Policy::Strict, 1_750_000_000_000),
        None,
    )
    .expect("strict accepts our own chain");
    assert_eq!(strict.signer, owner.address());
    let direct = plaza_protocol::auth::direct_chain(&owner, "x");
    assert!(
        plaza_protocol::auth::verify_links(&direct, "x", &opts(Policy::Strict, 0), None).is_ok()
    );
}

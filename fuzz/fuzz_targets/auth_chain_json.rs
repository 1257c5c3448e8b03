//! Fuzz target: arbitrary JSON as an auth chain, in both policies, with and without
//! deferred EIP-1654 checks. Input: `expected\0json`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_protocol::auth::{verify_chain, ContractMode, Policy, VerifyOptions};

fuzz_target!(|data: &[u8]| {
    let (expected, json) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let expected = String::from_utf8_lossy(expected);
    let Ok(chain) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    for policy in [Policy::Strict, Policy::Compat] {
        for contracts in [ContractMode::Refuse, ContractMode::Defer] {
            let opts = VerifyOptions {
                policy,
                now_ms: 1_750_000_000_000,
                contracts,
            };
            if let Ok(v) = verify_chain(&chain, &expected, &opts, None) {
                for check in &v.contract_checks {
                    for hash in check.hashes() {
                        let _ = check.call_data(&hash);
                    }
                }
            }
        }
    }
});

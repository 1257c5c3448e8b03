//! Fuzz target: signed-fetch header reading, then the chain walk over whatever parsed.
//! Input: header pairs, one per line, `name\tvalue` (value bytes are arbitrary).
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_protocol::auth::headers::{self, HeaderLimits};
use plaza_protocol::auth::{verify_chain, ContractMode, Policy, VerifyOptions};

const LIMITS: HeaderLimits = HeaderLimits {
    max_headers: 16,
    max_header_bytes: 8192,
    max_links: 10,
};

fuzz_target!(|data: &[u8]| {
    let mut pairs: Vec<(String, &[u8])> = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let mut parts = line.splitn(2, |&b| b == b'\t');
        let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        pairs.push((name, parts.next().unwrap_or_default()));
    }
    let refs: Vec<(&str, &[u8])> = pairs.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    for compat in [false, true] {
        if let Ok(parsed) = headers::parse_headers(&refs, LIMITS, compat) {
            let _ = headers::parse_timestamp_strict(parsed.timestamp.as_deref());
            let _ = headers::parse_timestamp_compat(parsed.timestamp.as_deref());
            let expected = parsed.metadata.clone().unwrap_or_default();
            for policy in [Policy::Strict, Policy::Compat] {
                let opts = VerifyOptions {
                    policy,
                    now_ms: 1_750_000_000_000,
                    contracts: ContractMode::Defer,
                };
                let _ = verify_chain(&parsed.chain, &expected, &opts, None);
            }
        }
    }
    let _ = headers::pathname(&String::from_utf8_lossy(data));
});

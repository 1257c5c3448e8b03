//! Arbitrary bytes decoded as a `ServerMsg`, in both formats: errors only,
//! never a panic. What decodes must re-encode and decode again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_protocol::{decode, encode, Format, ServerMsg};

fuzz_target!(|data: &[u8]| {
    for format in [Format::MsgPack, Format::Json] {
        if let Ok(msg) = decode::<ServerMsg>(data, format) {
            if let Ok(bytes) = encode(&msg, format) {
                let again = decode::<ServerMsg>(&bytes, format);
                assert!(again.is_ok(), "re-encoded message does not decode: {msg:?}");
            }
        }
    }
});

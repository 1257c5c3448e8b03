//! Arbitrary bytes decoded as a `ClientMsg`, in both formats: errors only,
//! never a panic. What decodes must re-encode and decode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_protocol::{decode, encode, ClientMsg, Format};

fuzz_target!(|data: &[u8]| {
    for format in [Format::MsgPack, Format::Json] {
        if let Ok(msg) = decode::<ClientMsg>(data, format) {
            // A decoded message may still hold NaN (MessagePack floats), which
            // JSON cannot encode and which is never equal to itself: only
            // check the round trip in the format it came in when it encodes.
            if let Ok(bytes) = encode(&msg, format) {
                let again = decode::<ClientMsg>(&bytes, format);
                assert!(again.is_ok(), "re-encoded message does not decode: {msg:?}");
            }
        }
    }
});

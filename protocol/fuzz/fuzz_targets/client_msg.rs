//! Arbitrary bytes decoded as a `ClientMsg`, in both formats: errors only,
//! never a panic. What decodes must re-encode and decode to the same message.
//! `decode_client` (the server's entry point, with its hand-written MessagePack
//! reader for `msg` frames) must give serde's verdict on every input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_protocol::codec::decode_client;
use plaza_protocol::{decode, encode, ClientMsg, Format};

fuzz_target!(|data: &[u8]| {
    for format in [Format::MsgPack, Format::Json] {
        let serde = decode::<ClientMsg>(data, format);
        let fast = decode_client(data, format);
        // Debug text, not `==`: a MessagePack float may be NaN.
        assert_eq!(
            serde.as_ref().map(|m| format!("{m:?}")).ok(),
            fast.as_ref().map(|m| format!("{m:?}")).ok(),
            "decode_client differs from serde on {data:02x?}"
        );
        if let Ok(msg) = serde {
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

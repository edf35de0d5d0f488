//! Fuzzes the IKEv2 message parser: header, payload chain, every payload body, the SK /
//! SKF regions and the inner chain of an (unencrypted, for fuzzing) SK plaintext. Whatever
//! parses must re-encode to exactly the input bytes.
#![no_main]

use l2sec_ike::wire::v2::{Message, MessageRepr, PayloadIter, unpad};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::parse(data) else {
        return;
    };
    for payload in message.payloads() {
        let Ok(payload) = payload else { break };
        let _ = payload.parse();
    }
    let _ = message.unsupported_critical_payload();
    // AES-CBC + HMAC-SHA2-256-128 framing and AES-GCM-16 framing.
    for (iv_len, icv_len) in [(16, 16), (8, 16)] {
        if let Ok(view) = message.encrypted(iv_len, icv_len) {
            assert_eq!(view.integrity_covered.len() + view.icv.len(), data.len());
            // Treat the ciphertext as a plaintext to reach the inner-chain parser.
            if let Ok(inner) = unpad(view.ciphertext) {
                for payload in PayloadIter::new(view.first_inner, inner) {
                    let Ok(payload) = payload else { break };
                    let _ = payload.parse();
                }
            }
        }
    }
    if let Ok(repr) = MessageRepr::parse(data) {
        let mut out = Vec::new();
        repr.encode(&mut out).expect("a parsed message encodes");
        assert_eq!(out, data, "encode(parse(x)) != x");
    }
});

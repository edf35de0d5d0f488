//! Fuzzes the ISAKMP/IKEv1 message parser: header, payload chain and every payload body,
//! then re-encodes what parsed and checks it parses to the same payloads. Encrypted
//! messages go through CBC decryption with a fixed key and the decrypted chain is parsed.
#![no_main]

use l2sec_ike::crypto::CipherAlgorithm;
use l2sec_ike::v1::crypt;
use l2sec_ike::v1::keys::Iv;
use l2sec_ike::wire::v1::{Message, MessageRepr, parse_payload_chain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::parse(data) else {
        return;
    };
    if message.header.flags.encrypted() {
        let iv = Iv::new(&[0u8; 16]);
        if let Ok(d) = crypt::decrypt(CipherAlgorithm::AesCbc128, &[7u8; 16], &iv, &message) {
            let _ = parse_payload_chain(message.header.next_payload, &d.plaintext);
        }
        return;
    }
    if let Ok(repr) = MessageRepr::parse(data) {
        let mut out = Vec::new();
        repr.encode(&mut out);
        let again = MessageRepr::parse(&out).expect("re-encoded message parses");
        assert_eq!(again.payloads, repr.payloads);
    }
});

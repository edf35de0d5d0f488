//! Fuzz the RADIUS packet parser, the typed attribute decoders (standard and Microsoft)
//! and their encoders: parsing never panics, and what parses re-encodes to the same octets.
#![no_main]

use l2sec_radius_auth::reply::Reply;
use l2sec_radius_auth::wire::Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::parse(data) else { return };
    let mut out = Vec::new();
    p.encode(&mut out);
    assert!(data.starts_with(&out));
    for raw in p.attributes() {
        let typed = raw.typed();
        assert_eq!(typed.type_code(), raw.typ);
        let mut v = Vec::new();
        typed.encode_value(&mut v);
        assert_eq!(v, raw.value, "{typed:?}");
    }
    let _ = p.eap_message();
    let ra = [0u8; 16];
    let _ = p.verify_message_authenticator(&ra, b"secret");
    let _ = p.verify_response_authenticator(&ra, b"secret");
    let _ = p.verify_accounting_request(b"secret");
    // The reply builder also decrypts MPPE keys from arbitrary attributes.
    let _ = Reply::from_verified(&p, b"secret", &ra);
});

//! Fuzzes the certificate code of l2sec-ike on arbitrary bytes: X.509 and key parsing,
//! AlgorithmIdentifiers, the chain check of a received CERT chain against a fixed CA,
//! identity matching and the IKEv2 signature AUTH check. Nothing may panic.
#![no_main]

use l2sec_ike::cert::{
    Certificate, CertificateAuth, PrivateKey, PublicKey, SignatureAlgorithm, TrustStore, UnixTime,
};
use l2sec_ike::v2::sig_auth;
use l2sec_ike::wire::v2::Authentication;
use libfuzzer_sys::fuzz_target;

const CA: &[u8] = include_bytes!("../../crates/ike/tests/data/certs/ca-rsa.pem");
const EE: &[u8] = include_bytes!("../../crates/ike/tests/data/certs/server-ecdsa.pem");
const KEY: &[u8] = include_bytes!("../../crates/ike/tests/data/certs/server-ecdsa.key");

fuzz_target!(|data: &[u8]| {
    let now = UnixTime(1_767_225_600);
    let _ = PrivateKey::from_der(data);
    let _ = PrivateKey::from_der_or_pem(data);
    let _ = PublicKey::from_spki_der(data);
    let _ = SignatureAlgorithm::from_der(data);
    let _ = Certificate::pem_chain(data);
    let trust = TrustStore::from_pem_bundle(CA).unwrap();
    if let Ok(c) = Certificate::from_der(data) {
        let _ = trust.verify(&c, &[], now);
        let _ = c.public_key();
        let _ = c.subject_string();
        for id_type in [1, 2, 3, 5, 9] {
            let _ = c.matches_id(id_type, data);
        }
    }
    // The input as a CERT chain: 2-byte big-endian lengths in front of each certificate.
    let mut chain = Vec::new();
    let mut rest = data;
    while let [a, b, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
        chain.push(&tail[..n]);
        rest = &tail[n..];
    }
    let ee = Certificate::from_pem(EE).unwrap();
    let key = PrivateKey::from_pem(KEY).unwrap();
    let auth = CertificateAuth::new(vec![ee.clone()], key, trust, now).unwrap();
    let _ = auth.verify_peer(&chain, 2, b"server.l2sec.test");
    // The input as an AUTH payload body, checked with the end entity's key.
    if let Ok(a) = Authentication::parse(data) {
        let _ = sig_auth::verify(&ee.public_key().unwrap(), &a, b"signed octets");
    }
});

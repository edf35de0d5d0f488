//! proptest: the certificate code never panics on hostile input, and a certificate that
//! was changed anywhere no longer passes the chain check.

use l2sec_ike::cert::{
    Certificate, CertificateAuth, PrivateKey, PublicKey, SignatureAlgorithm, TrustStore, UnixTime,
};
use l2sec_ike::v2::sig_auth;
use l2sec_ike::wire::v2::Authentication;
use proptest::prelude::*;

const CA: &[u8] = include_bytes!("data/certs/ca-rsa.pem");
const SERVER_DER: &[u8] = include_bytes!("data/certs/server-rsa.der");
const CLIENT_DER: &[u8] = include_bytes!("data/certs/client-ecdsa.der");
const KEY_DER: &[u8] = include_bytes!("data/certs/server-rsa.key.der");
const NOW: UnixTime = UnixTime(1_767_225_600);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Certificate::from_der(&data);
        let _ = Certificate::from_der_or_pem(&data);
        let _ = Certificate::pem_chain(&data);
        let _ = PrivateKey::from_der_or_pem(&data);
        let _ = PublicKey::from_spki_der(&data);
        let _ = SignatureAlgorithm::from_der(&data);
        if let Ok(a) = Authentication::parse(&data) {
            let key = Certificate::from_der(SERVER_DER).unwrap().public_key().unwrap();
            prop_assert!(sig_auth::verify(&key, &a, b"octets").is_err());
        }
    }

    /// Any single changed byte of a certificate (or of its key DER) either stops it from
    /// parsing or makes the chain check fail; nothing panics.
    #[test]
    fn a_changed_certificate_never_verifies(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let trust = TrustStore::from_pem_bundle(CA).unwrap();
        let mut der = SERVER_DER.to_vec();
        let i = pos.index(der.len());
        der[i] ^= xor;
        if let Ok(c) = Certificate::from_der(&der) {
            prop_assert!(trust.verify(&c, &[], NOW).is_err(), "byte {i} changed and still valid");
        }
        let mut key = KEY_DER.to_vec();
        let i = pos.index(key.len());
        key[i] ^= xor;
        let _ = PrivateKey::from_der(&key);
    }

    /// Arbitrary CERT chains (real certificates mixed with garbage) never panic the peer
    /// check, and only the genuine end entity with its own identity passes.
    #[test]
    fn peer_chains_never_panic(
        junk in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..10),
        first_real in any::<bool>(),
    ) {
        let trust = TrustStore::from_pem_bundle(CA).unwrap();
        let ee = Certificate::from_der(SERVER_DER).unwrap();
        let key = PrivateKey::from_der(KEY_DER).unwrap();
        let auth = CertificateAuth::new(vec![ee], key, trust, NOW).unwrap();
        let mut chain: Vec<&[u8]> = junk.iter().map(Vec::as_slice).collect();
        if first_real {
            chain.insert(0, SERVER_DER);
        }
        chain.push(CLIENT_DER);
        let ok = auth.verify_peer(&chain, 2, b"server.l2sec.test").is_ok();
        prop_assert_eq!(ok, first_real && chain.len() <= l2sec_ike::cert::MAX_CHAIN_DEPTH);
    }
}

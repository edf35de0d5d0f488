//! Certificate parsing, chain checks, identities and signature primitives against the
//! openssl-generated PKI in `tests/data/certs` (see `gen.sh` there).

use super::sign::{EcdsaEncoding, algorithm_identifier};
use super::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

macro_rules! data {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/certs/", $name))
    };
}

/// 2026-01-01, inside every test certificate's validity except `expired-rsa`.
const NOW: UnixTime = UnixTime(1_767_225_600);

fn cert(pem: &[u8]) -> Certificate {
    Certificate::from_pem(pem).unwrap()
}

fn rsa_trust() -> TrustStore {
    TrustStore::from_pem_bundle(data!("ca-rsa.pem")).unwrap()
}

#[test]
fn der_and_pem_parse_to_the_same_certificate() {
    let a = Certificate::from_der(data!("server-rsa.der")).unwrap();
    let b = cert(data!("server-rsa.pem"));
    assert_eq!(a, b);
    assert_eq!(a.der(), data!("server-rsa.der"));
    assert_eq!(Certificate::from_der_or_pem(data!("server-rsa.pem")).unwrap(), a);
    assert!(a.subject_string().contains("server.l2sec.test"), "{}", a.subject_string());
    assert_eq!(a.validity(), (UnixTime(1_735_689_600), UnixTime(2_366_841_600)));
    assert!(!a.is_ca());
    assert!(cert(data!("ca-rsa.pem")).is_ca());
}

#[test]
fn chains_verify_to_the_configured_ca() {
    let trust = rsa_trust();
    trust.verify(&cert(data!("server-rsa.pem")), &[], NOW).unwrap();
    trust.verify(&cert(data!("client-rsa.pem")), &[], NOW).unwrap();
    // sha384WithRSAEncryption through an intermediate that must be supplied.
    let leaf = cert(data!("leaf-int.pem"));
    assert_eq!(trust.verify(&leaf, &[], NOW), Err(CertError::UnknownIssuer));
    trust.verify(&leaf, &[cert(data!("server-rsa.pem")), cert(data!("int-rsa.pem"))], NOW).unwrap();
    // RSASSA-PSS signed certificate.
    trust.verify(&cert(data!("pss-leaf.pem")), &[], NOW).unwrap();
    // ECDSA P-384 CA signing P-256 and P-384 end entities with ecdsa-with-SHA384.
    let ec = TrustStore::from_pem_bundle(data!("ca-ecdsa.pem")).unwrap();
    ec.verify(&cert(data!("server-ecdsa.pem")), &[], NOW).unwrap();
    ec.verify(&cert(data!("client-ecdsa.pem")), &[], NOW).unwrap();
    assert_eq!(ec.verify(&cert(data!("server-rsa.pem")), &[], NOW), Err(CertError::UnknownIssuer));
}

#[test]
fn chain_failures_are_reported() {
    let trust = rsa_trust();
    let server = cert(data!("server-rsa.pem"));
    assert_eq!(trust.verify(&server, &[], UnixTime(1_700_000_000)), Err(CertError::NotYetValid));
    assert_eq!(trust.verify(&server, &[], UnixTime(2_400_000_000)), Err(CertError::Expired));
    assert_eq!(trust.verify(&cert(data!("expired-rsa.pem")), &[], NOW), Err(CertError::Expired));
    // Issued by an end entity: not a CA, even when that end entity is supplied.
    let bad = cert(data!("bad-issuer.pem"));
    assert!(matches!(trust.verify(&bad, std::slice::from_ref(&server), NOW), Err(CertError::NotCa(_))));
    assert_eq!(trust.verify(&bad, &[], NOW), Err(CertError::UnknownIssuer));
    let mut naive = TrustStore::new();
    assert!(matches!(naive.add(server.clone()), Err(CertError::NotCa(_))));
    // A tampered signature.
    let mut der = data!("server-rsa.der").to_vec();
    let last = der.len() - 1;
    der[last] ^= 1;
    let tampered = Certificate::from_der(&der).unwrap();
    assert_eq!(trust.verify(&tampered, &[], NOW), Err(CertError::BadSignature));
    // An empty trust store trusts nothing.
    assert_eq!(TrustStore::new().verify(&server, &[], NOW), Err(CertError::UnknownIssuer));
}

#[test]
fn identities_match_subject_and_alt_names() {
    let c = cert(data!("client-rsa.pem"));
    assert!(c.matches_id(9, c.subject_der()));
    assert!(!c.matches_id(9, cert(data!("server-rsa.pem")).subject_der()));
    assert!(c.matches_id(2, b"client.l2sec.test"));
    assert!(c.matches_id(2, b"CLIENT.l2sec.test"));
    assert!(!c.matches_id(2, b"server.l2sec.test"));
    assert!(c.matches_id(1, &[192, 0, 2, 1]));
    assert!(!c.matches_id(1, &[192, 0, 2, 2]));
    assert!(c.matches_id(3, b"client@l2sec.test"));
    assert!(!c.matches_id(3, b"server@l2sec.test"));
    // The CN alone does not make an FQDN identity.
    assert!(!cert(data!("pss-leaf.pem")).matches_id(2, b"pss.l2sec.test"));
    assert!(!c.matches_id(11, b"client.l2sec.test"));
}

#[test]
fn keys_load_in_every_form_and_match_their_certificates() {
    let pkcs8 = PrivateKey::from_pem(data!("server-rsa.key")).unwrap();
    let pkcs8_der = PrivateKey::from_der(data!("server-rsa.key.der")).unwrap();
    assert_eq!(pkcs8.public_key(), pkcs8_der.public_key());
    assert_eq!(pkcs8.public_key(), cert(data!("server-rsa.pem")).public_key().unwrap());
    let pkcs1 = PrivateKey::from_pem(data!("client-rsa.key")).unwrap();
    assert_eq!(pkcs1.public_key(), cert(data!("client-rsa.pem")).public_key().unwrap());
    let sec1 = PrivateKey::from_der_or_pem(data!("server-ecdsa.key")).unwrap();
    assert!(matches!(sec1, PrivateKey::P256(_)));
    assert_eq!(sec1.public_key(), cert(data!("server-ecdsa.pem")).public_key().unwrap());
    let p384 = PrivateKey::from_pem(data!("client-ecdsa.key")).unwrap();
    assert!(matches!(p384, PrivateKey::P384(_)));
    assert_eq!(format!("{p384:?}"), "PrivateKey::P384(..)");
    assert!(PrivateKey::from_pem(data!("server-rsa.pem")).is_err());
    let auth = CertificateAuth::new(vec![cert(data!("server-rsa.pem"))], pkcs8, rsa_trust(), NOW);
    assert!(auth.is_ok());
    let wrong = CertificateAuth::new(vec![cert(data!("server-rsa.pem"))], pkcs1, rsa_trust(), NOW);
    assert_eq!(wrong.err(), Some(CertError::KeyMismatch));
}

#[test]
fn verify_peer_checks_chain_and_identity() {
    let key = PrivateKey::from_pem(data!("server-rsa.key")).unwrap();
    let auth = CertificateAuth::new(vec![cert(data!("server-rsa.pem"))], key, rsa_trust(), NOW).unwrap();
    let client = data!("client-rsa.der");
    assert!(auth.verify_peer(&[client], 2, b"client.l2sec.test").is_ok());
    assert_eq!(auth.verify_peer(&[client], 2, b"other.l2sec.test").err(), Some(CertError::IdentityMismatch));
    assert_eq!(auth.verify_peer(&[], 2, b"client.l2sec.test").err(), Some(CertError::UnknownIssuer));
    let leaf = data!("leaf-int.der");
    let int = data!("int-rsa.der");
    assert!(auth.verify_peer(&[leaf, int], 2, b"leaf.l2sec.test").is_ok());
    assert!(auth.verify_peer(&[leaf], 2, b"leaf.l2sec.test").is_err());
}

#[test]
fn an_expected_peer_name_narrows_the_accepted_certificates() {
    let key = PrivateKey::from_pem(data!("client-rsa.key")).unwrap();
    let mut auth = CertificateAuth::new(vec![cert(data!("client-rsa.pem"))], key, rsa_trust(), NOW).unwrap();
    let server = data!("server-rsa.der");
    let other = data!("leaf-int.der");
    let int = data!("int-rsa.der");
    for (name, ok) in [
        (PeerName::Fqdn("server.l2sec.test".into()), true),
        (PeerName::Fqdn("vpn.l2sec.test".into()), false),
        (PeerName::Ip([192, 0, 2, 2].into()), true),
        (PeerName::Ip([192, 0, 2, 1].into()), false),
        (PeerName::DistinguishedName(cert(data!("server-rsa.pem")).subject_der().to_vec()), true),
        (PeerName::UserFqdn("client@l2sec.test".into()), false),
    ] {
        auth.expected_peer = Some(name.clone());
        let got = auth.verify_peer(&[server], 2, b"server.l2sec.test").map(|_| ());
        assert_eq!(got, if ok { Ok(()) } else { Err(CertError::UnexpectedPeer) }, "{name:?}");
    }
    // Another end entity of the same CA, under its own correct identity, is refused.
    auth.expected_peer = Some(PeerName::Fqdn("server.l2sec.test".into()));
    assert_eq!(auth.verify_peer(&[other, int], 2, b"leaf.l2sec.test").err(), Some(CertError::UnexpectedPeer));
}

#[test]
fn certreq_hash_is_sha1_of_the_subject_public_key_info() {
    let ca = cert(data!("ca-rsa.pem"));
    let expected = HashAlgorithm::Sha1.digest(&[ca.subject_public_key_info()]);
    assert_eq!(ca.spki_sha1().to_vec(), expected);
    assert_eq!(rsa_trust().ca_key_hashes(), expected);
    // The SPKI starts with the rsaEncryption AlgorithmIdentifier.
    assert_eq!(
        &ca.subject_public_key_info()[4..19],
        &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00]
    );
}

/// RFC 7427 Appendix A: the AlgorithmIdentifier bytes parse back to their algorithms.
#[test]
fn rfc7427_algorithm_identifiers() {
    let cases: [(&[u8], SignatureAlgorithm); 7] = [
        (algorithm_identifier::SHA1_WITH_RSA, SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha1)),
        (algorithm_identifier::SHA256_WITH_RSA, SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256)),
        (algorithm_identifier::SHA384_WITH_RSA, SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha384)),
        (algorithm_identifier::SHA512_WITH_RSA, SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha512)),
        (algorithm_identifier::ECDSA_WITH_SHA256, SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256)),
        (algorithm_identifier::ECDSA_WITH_SHA384, SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha384)),
        (algorithm_identifier::ECDSA_WITH_SHA512, SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha512)),
    ];
    for (der, alg) in cases {
        assert_eq!(SignatureAlgorithm::from_der(der), Ok(alg));
        assert_eq!(alg.algorithm_identifier(), Some(der));
    }
    // RFC 7427 A.4.3: RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32.
    let pss = hex::decode(
        "3041 0609 2a864886f70d01010a 3034 a00f300d06096086480165030402010500 \
         a11c301a06092a864886f70d010108300d06096086480165030402010500 a203020120"
            .replace(' ', ""),
    )
    .unwrap();
    assert_eq!(SignatureAlgorithm::from_der(&pss), Ok(SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256)));
    assert_eq!(algorithm_identifier::RSASSA_PSS_SHA256, pss.as_slice());
    assert_eq!(
        SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256).algorithm_identifier(),
        Some(pss.as_slice())
    );
    assert_eq!(SignatureAlgorithm::RsaPss(HashAlgorithm::Sha384).algorithm_identifier(), None);
    assert!(SignatureAlgorithm::from_der(&[0x30, 0x03, 0x06, 0x01, 0x00]).is_err());
    assert!(SignatureAlgorithm::from_der(&[]).is_err());
}

#[test]
fn sign_and_verify_round_trips_and_detects_tampering() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let digest = HashAlgorithm::Sha256.digest(&[b"signed octets"]);
    for (key, alg) in [
        (data!("server-rsa.key").as_slice(), SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256)),
        (data!("server-ecdsa.key"), SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256)),
        (data!("client-ecdsa.key"), SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha384)),
    ] {
        let key = PrivateKey::from_pem(key).unwrap();
        let digest = alg.hash().digest(&[b"signed octets"]);
        for enc in [EcdsaEncoding::Fixed, EcdsaEncoding::Der] {
            let sig = key.sign_digest(alg, &digest, enc, &mut rng).unwrap();
            key.public_key().verify_digest(alg, &digest, &sig, enc).unwrap();
            let mut bad = sig.clone();
            bad[sig.len() / 2] ^= 0x80;
            assert!(key.public_key().verify_digest(alg, &digest, &bad, enc).is_err());
        }
    }
    let ec = PrivateKey::from_pem(data!("server-ecdsa.key")).unwrap();
    let fixed = ec.sign_digest(
        SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256),
        &digest,
        EcdsaEncoding::Fixed,
        &mut rng,
    );
    assert_eq!(fixed.unwrap().len(), 64);
    let rsa = PrivateKey::from_pem(data!("server-rsa.key")).unwrap();
    assert!(
        rsa.sign_digest(
            SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256),
            &digest,
            EcdsaEncoding::Der,
            &mut rng
        )
        .is_err()
    );
}

/// ECDSA over a digest shorter than the curve (a 20-byte IKEv1 HASH with a SHA-1 PRF):
/// openssl's signatures of the raw 20 bytes verify, and ours verify with openssl's rule.
#[test]
fn ecdsa_over_a_short_digest_matches_openssl() {
    let hash = hex::decode("00112233445566778899aabbccddeeff00112233").unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for (key, sig) in [
        (data!("server-ecdsa.key").as_slice(), data!("server-ecdsa.short-digest-sig.der").as_slice()),
        (data!("client-ecdsa.key"), data!("client-ecdsa.short-digest-sig.der")),
    ] {
        let key = PrivateKey::from_pem(key).unwrap();
        let alg = SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256);
        key.public_key().verify_digest(alg, &hash, sig, EcdsaEncoding::Der).unwrap();
        let mut other = hash.clone();
        other[19] ^= 1;
        assert!(key.public_key().verify_digest(alg, &other, sig, EcdsaEncoding::Der).is_err());
        let ours = key.sign_digest(alg, &hash, EcdsaEncoding::Fixed, &mut rng).unwrap();
        key.public_key().verify_digest(alg, &hash, &ours, EcdsaEncoding::Fixed).unwrap();
    }
}

/// IKEv1 RSA signatures: PKCS#1 v1.5 block type 1 around the raw hash. Checked against
/// openssl's `pkeyutl -sign` (no DigestInfo) with the same key: PKCS#1 v1.5 signing is
/// deterministic, so the bytes must be equal.
#[test]
fn ikev1_raw_rsa_signature_matches_openssl() {
    let key = PrivateKey::from_pem(data!("server-rsa.key")).unwrap();
    let hash = hex::decode("00112233445566778899aabbccddeeff00112233").unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let sig = key.sign_raw_pkcs1(&hash, &mut rng).unwrap();
    assert_eq!(sig.len(), 256);
    key.public_key().verify_raw_pkcs1(&hash, &sig).unwrap();
    assert!(key.public_key().verify_raw_pkcs1(&hash[1..], &sig).is_err());
    let expected = data!("server-rsa.ikev1-sig.bin");
    assert_eq!(sig.as_slice(), expected.as_slice());
}

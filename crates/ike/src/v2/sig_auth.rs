//! IKEv2 authentication with signatures (RFC 7296 §2.15, §3.8): the classic RSA method
//! (1, PKCS#1 v1.5 with SHA-1), ECDSA methods 9 and 10 (RFC 4754, `r | s`), and the
//! Digital Signature method 14 (RFC 7427: an AlgorithmIdentifier, then the signature),
//! which peers announce with SIGNATURE_HASH_ALGORITHMS in IKE_SA_INIT (RFC 7427 §4).

use rand_core::CryptoRng;

use crate::Error;
use crate::cert::sign::EcdsaEncoding;
use crate::cert::{CertError, HashAlgorithm, PrivateKey, PublicKey, SignatureAlgorithm};
use crate::crypto::PrfAlgorithm;
use crate::wire::v2::{AuthMethod, Authentication};

/// RFC 7427 §4: the hash algorithms we announce in SIGNATURE_HASH_ALGORITHMS
/// (SHA2-256, SHA2-384, SHA2-512).
pub const OUR_SIGNATURE_HASHES: [HashAlgorithm; 3] =
    [HashAlgorithm::Sha256, HashAlgorithm::Sha384, HashAlgorithm::Sha512];

/// The SIGNATURE_HASH_ALGORITHMS notification data for [`OUR_SIGNATURE_HASHES`].
#[must_use]
pub fn signature_hash_algorithms_data() -> Vec<u8> {
    OUR_SIGNATURE_HASHES.iter().flat_map(|h| h.ikev2_id().to_be_bytes()).collect()
}

/// RFC 7296 §2.15: the octets a signature covers, `<first message> | <peer's nonce> |
/// prf(SK_px, <sender's ID payload body>)`: the sender's IKE_SA_INIT message as sent,
/// the other side's nonce, and the sender's ID body MACed with SK_pi / SK_pr.
#[must_use]
pub fn signed_octets(
    prf: PrfAlgorithm,
    own_first_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_payload_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf.prf(sk_p, &[id_payload_body]);
    [own_first_message, peer_nonce, maced_id.as_bytes()].concat()
}

/// How we sign our AUTH payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthSignature {
    /// The AUTH method number.
    pub method: AuthMethod,
    /// The signature algorithm.
    pub algorithm: SignatureAlgorithm,
}

impl AuthSignature {
    /// Chooses how to sign with `key`: method 14 with the strongest-fitting hash the peer
    /// announced (`peer_hashes`, RFC 7427 §4) when `rfc7427` is on (with an RSA key and
    /// `rsa_pss`, RSASSA-PSS with SHA-256 if the peer announced it); otherwise the
    /// classic method of the key (RSA: 1 with SHA-1; P-256: 9; P-384: 10).
    #[must_use]
    pub fn choose(key: &PrivateKey, peer_hashes: &[u16], rfc7427: bool, rsa_pss: bool) -> Self {
        let preference: &[HashAlgorithm] = match key {
            PrivateKey::P384(_) => &[HashAlgorithm::Sha384, HashAlgorithm::Sha512, HashAlgorithm::Sha256],
            _ => &[HashAlgorithm::Sha256, HashAlgorithm::Sha384, HashAlgorithm::Sha512],
        };
        let public = key.public_key();
        let sha256 = HashAlgorithm::Sha256.ikev2_id();
        if rfc7427 && rsa_pss && matches!(key, PrivateKey::Rsa(_)) && peer_hashes.contains(&sha256) {
            return Self {
                method: AuthMethod::DigitalSignature,
                algorithm: SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256),
            };
        }
        if rfc7427 && let Some(h) = preference.iter().find(|h| peer_hashes.contains(&h.ikev2_id())) {
            return Self { method: AuthMethod::DigitalSignature, algorithm: public.algorithm_with(*h) };
        }
        match key {
            PrivateKey::Rsa(_) => Self {
                method: AuthMethod::RsaDigitalSignature,
                algorithm: SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha1),
            },
            PrivateKey::P256(_) => Self {
                method: AuthMethod::EcdsaSha256P256,
                algorithm: SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256),
            },
            PrivateKey::P384(_) => Self {
                method: AuthMethod::EcdsaSha384P384,
                algorithm: SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha384),
            },
        }
    }

    /// The AUTH payload data: the signature over `octets`, behind the length-prefixed
    /// AlgorithmIdentifier for method 14 (RFC 7427 §3).
    ///
    /// # Errors
    /// [`Error::Certificate`] when signing fails.
    pub fn sign<R: CryptoRng + ?Sized>(
        &self,
        key: &PrivateKey,
        octets: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let digest = self.algorithm.hash().digest(&[octets]);
        if self.method == AuthMethod::DigitalSignature {
            let alg_id = self
                .algorithm
                .algorithm_identifier()
                .ok_or(CertError::UnsupportedAlgorithm("no AlgorithmIdentifier to send"))?;
            let sig = key.sign_digest(self.algorithm, &digest, EcdsaEncoding::Der, rng)?;
            let len = u8::try_from(alg_id.len())
                .map_err(|_| CertError::UnsupportedAlgorithm("AlgorithmIdentifier"))?;
            let mut out = Vec::with_capacity(1 + alg_id.len() + sig.len());
            out.push(len);
            out.extend_from_slice(alg_id);
            out.extend_from_slice(&sig);
            Ok(out)
        } else {
            Ok(key.sign_digest(self.algorithm, &digest, EcdsaEncoding::Fixed, rng)?)
        }
    }
}

/// Verifies a peer's signature AUTH payload over `octets` with the key of its
/// (already checked) certificate. Methods 1, 9, 10 and 14 (RSA PKCS#1 v1.5, RSA-PSS,
/// ECDSA P-256/P-384 with SHA-2).
///
/// # Errors
/// [`Error::AuthenticationFailed`] for a wrong signature or a method that does not fit
/// the key; [`Error::Certificate`] for an unsupported method or algorithm.
pub fn verify(key: &PublicKey, auth: &Authentication<'_>, octets: &[u8]) -> Result<(), Error> {
    let (algorithm, signature, encoding) = match auth.method {
        AuthMethod::RsaDigitalSignature => {
            (SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha1), auth.data, EcdsaEncoding::Fixed)
        }
        AuthMethod::EcdsaSha256P256 if matches!(key, PublicKey::P256(_)) => {
            (SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256), auth.data, EcdsaEncoding::Fixed)
        }
        AuthMethod::EcdsaSha384P384 if matches!(key, PublicKey::P384(_)) => {
            (SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha384), auth.data, EcdsaEncoding::Fixed)
        }
        AuthMethod::EcdsaSha256P256 | AuthMethod::EcdsaSha384P384 => return Err(Error::AuthenticationFailed),
        AuthMethod::DigitalSignature => {
            let ds = auth.digital_signature()?.ok_or(Error::AuthenticationFailed)?;
            let algorithm = SignatureAlgorithm::from_der(ds.algorithm_identifier)?;
            (algorithm, ds.signature, EcdsaEncoding::Der)
        }
        _ => return Err(CertError::UnsupportedAlgorithm("AUTH method").into()),
    };
    let digest = algorithm.hash().digest(&[octets]);
    key.verify_digest(algorithm, &digest, signature, encoding).map_err(|e| match e {
        CertError::BadSignature => Error::AuthenticationFailed,
        // A method / key type mismatch is a failed authentication too.
        CertError::UnsupportedAlgorithm("signature algorithm does not fit the key") => {
            Error::AuthenticationFailed
        }
        other => Error::Certificate(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn key(pem: &[u8]) -> PrivateKey {
        PrivateKey::from_pem(pem).unwrap()
    }

    const RSA: &[u8] = include_bytes!("../../tests/data/certs/server-rsa.key");
    const P256: &[u8] = include_bytes!("../../tests/data/certs/server-ecdsa.key");
    const P384: &[u8] = include_bytes!("../../tests/data/certs/client-ecdsa.key");

    #[test]
    fn method_choice_follows_the_peer_announcement() {
        let rsa = key(RSA);
        let p256 = key(P256);
        let p384 = key(P384);
        assert_eq!(AuthSignature::choose(&rsa, &[], true, false).method, AuthMethod::RsaDigitalSignature);
        assert_eq!(
            AuthSignature::choose(&rsa, &[2, 3, 4], false, false).method,
            AuthMethod::RsaDigitalSignature
        );
        let s = AuthSignature::choose(&rsa, &[1, 4, 2], true, false);
        assert_eq!(
            (s.method, s.algorithm),
            (AuthMethod::DigitalSignature, SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256))
        );
        assert_eq!(
            AuthSignature::choose(&rsa, &[1, 4], true, false).algorithm,
            SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha512)
        );
        // Only SHA-1 announced: fall back to the classic method.
        assert_eq!(AuthSignature::choose(&rsa, &[1], true, false).method, AuthMethod::RsaDigitalSignature);
        assert_eq!(AuthSignature::choose(&p256, &[], true, false).method, AuthMethod::EcdsaSha256P256);
        assert_eq!(AuthSignature::choose(&p384, &[], true, false).method, AuthMethod::EcdsaSha384P384);
        assert_eq!(
            AuthSignature::choose(&p384, &[2, 3], true, false).algorithm,
            SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha384)
        );
        assert_eq!(signature_hash_algorithms_data(), [0, 2, 0, 3, 0, 4]);
    }

    #[test]
    fn every_method_signs_and_verifies() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let octets = b"IKE_SA_INIT | Nr | prf(SK_pi, IDi)";
        for (pem, hashes, want) in [
            (RSA, &[][..], AuthMethod::RsaDigitalSignature),
            (RSA, &[2][..], AuthMethod::DigitalSignature),
            (P256, &[][..], AuthMethod::EcdsaSha256P256),
            (P256, &[2][..], AuthMethod::DigitalSignature),
            (P384, &[][..], AuthMethod::EcdsaSha384P384),
            (P384, &[3][..], AuthMethod::DigitalSignature),
        ] {
            let k = key(pem);
            let choice = AuthSignature::choose(&k, hashes, true, false);
            assert_eq!(choice.method, want);
            let data = choice.sign(&k, octets, &mut rng).unwrap();
            let auth = Authentication::new(choice.method, &data);
            verify(&k.public_key(), &auth, octets).unwrap();
            assert_eq!(verify(&k.public_key(), &auth, b"other octets"), Err(Error::AuthenticationFailed));
            // Another key of the same kind does not verify it.
            let other = if matches!(k, PrivateKey::Rsa(_)) {
                key(include_bytes!("../../tests/data/certs/client-rsa.key"))
            } else if matches!(k, PrivateKey::P256(_)) {
                PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap())
            } else {
                PrivateKey::P384(p384::ecdsa::SigningKey::from_slice(&[7; 48]).unwrap())
            };
            assert_eq!(verify(&other.public_key(), &auth, octets), Err(Error::AuthenticationFailed));
        }
        // An RSA method against an ECDSA key fails.
        let data =
            AuthSignature::choose(&key(RSA), &[], false, false).sign(&key(RSA), octets, &mut rng).unwrap();
        let auth = Authentication::new(AuthMethod::RsaDigitalSignature, &data);
        assert_eq!(verify(&key(P256).public_key(), &auth, octets), Err(Error::AuthenticationFailed));
        let auth = Authentication::new(AuthMethod::EcdsaSha512P521, &data);
        assert!(matches!(verify(&key(RSA).public_key(), &auth, octets), Err(Error::Certificate(_))));
    }

    /// RFC 4754 §8.1: the published ECDSA-256 test vector (private key w, message "abc",
    /// signature r | s) verifies as an AUTH method 9 signature, and w gives the published
    /// public key (gwx, gwy).
    #[test]
    fn rfc4754_ecdsa_256_vector() {
        let h = |s: &str| hex::decode(s.replace(' ', "")).unwrap();
        let w = h("DC51D386 6A15BACD E33D96F9 92FCA99D A7E6EF09 34E70975 59C27F16 14C88A7F");
        let gwx = h("2442A5CC 0ECD015F A3CA31DC 8E2BBC70 BF42D60C BCA20085 E0822CB0 4235E970");
        let gwy = h("6FC98BD7 E50211A4 A27102FA 3549DF79 EBCB4BF2 46B80945 CDDFE7D5 09BBFD7D");
        let r = h("CB28E099 9B9C7715 FD0A80D8 E47A7707 9716CBBF 917DD72E 97566EA1 C066957C");
        let s = h("86FA3BB4 E26CAD5B F90B7F81 899256CE 7594BB1E A0C89212 748BFF3B 3D5B0315");
        let key = PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&w).unwrap());
        let PublicKey::P256(public) = key.public_key() else { unreachable!() };
        let point = public.to_sec1_point(false);
        assert_eq!(&point.as_bytes()[1..33], gwx.as_slice());
        assert_eq!(&point.as_bytes()[33..], gwy.as_slice());
        let sig = [r, s].concat();
        let auth = Authentication::new(AuthMethod::EcdsaSha256P256, &sig);
        verify(&key.public_key(), &auth, b"abc").unwrap();
        assert_eq!(verify(&key.public_key(), &auth, b"abd"), Err(Error::AuthenticationFailed));
    }

    /// RFC 4754 §8.2: the ECDSA-384 test vector as an AUTH method 10 signature.
    #[test]
    fn rfc4754_ecdsa_384_vector() {
        let h = |s: &str| hex::decode(s.replace(' ', "")).unwrap();
        let w = h("0BEB6466 34BA8773 5D77AE48 09A0EBEA 865535DE 4C1E1DCB 692E8470 8E81A5AF \
                   62E528C3 8B2A81B3 5309668D 73524D9F");
        let gwx = h("96281BF8 DD5E0525 CA049C04 8D345D30 82968D10 FEDF5C5A CA0C64E6 465A97EA \
                     5CE10C9D FEC21797 41571072 1F437922");
        let r = h("FB017B91 4E291494 32D8BAC2 9A514640 B46F53DD AB2C6994 8084E293 0F1C8F7E \
                   08E07C9C 63F2D21A 07DCB56A 6AF56EB3");
        let s = h("B263A130 5E057F98 4D38726A 1B468741 09F417BC A112674C 528262A4 0A629AF1 \
                   CBB9F516 CE0FA7D2 FF630863 A00E8B9F");
        let key = PrivateKey::P384(p384::ecdsa::SigningKey::from_slice(&w).unwrap());
        let PublicKey::P384(public) = key.public_key() else { unreachable!() };
        assert_eq!(&public.to_sec1_point(false).as_bytes()[1..49], gwx.as_slice());
        let sig = [r, s].concat();
        let auth = Authentication::new(AuthMethod::EcdsaSha384P384, &sig);
        verify(&key.public_key(), &auth, b"abc").unwrap();
        assert_eq!(verify(&key.public_key(), &auth, b"abd"), Err(Error::AuthenticationFailed));
    }

    /// RSASSA-PSS for method 14 when asked for and the peer takes SHA-256; a changed
    /// salt-carrying signature does not verify.
    #[test]
    fn rsa_pss_digital_signature() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let k = key(RSA);
        let choice = AuthSignature::choose(&k, &[2, 3], true, true);
        assert_eq!(choice.algorithm, SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256));
        // Without SHA-256 from the peer, PKCS#1 v1.5 with what it announced.
        let other = AuthSignature::choose(&k, &[3], true, true);
        assert_eq!(other.algorithm, SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha384));
        // ECDSA keys ignore the RSA-PSS preference.
        assert_eq!(
            AuthSignature::choose(&key(P256), &[2], true, true).algorithm,
            SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256)
        );
        let data = choice.sign(&k, b"octets", &mut rng).unwrap();
        assert_eq!(usize::from(data[0]), crate::cert::sign::algorithm_identifier::RSASSA_PSS_SHA256.len());
        assert_eq!(&data[1..68], crate::cert::sign::algorithm_identifier::RSASSA_PSS_SHA256);
        let auth = Authentication::new(AuthMethod::DigitalSignature, &data);
        verify(&k.public_key(), &auth, b"octets").unwrap();
        // PSS is randomized: a second signature differs and verifies too.
        let again = choice.sign(&k, b"octets", &mut rng).unwrap();
        assert_ne!(again, data);
        verify(&k.public_key(), &Authentication::new(AuthMethod::DigitalSignature, &again), b"octets")
            .unwrap();
        assert_eq!(verify(&k.public_key(), &auth, b"other"), Err(Error::AuthenticationFailed));
    }

    /// Method 14 AUTH data begins with the RFC 7427 Appendix A AlgorithmIdentifier.
    #[test]
    fn digital_signature_layout() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let k = key(P256);
        let data = AuthSignature::choose(&k, &[2], true, false).sign(&k, b"x", &mut rng).unwrap();
        assert_eq!(data[0], 12);
        assert_eq!(&data[1..13], crate::cert::sign::algorithm_identifier::ECDSA_WITH_SHA256);
        assert_eq!(data[13], 0x30, "DER Ecdsa-Sig-Value");
        let k = key(RSA);
        let data = AuthSignature::choose(&k, &[2], true, false).sign(&k, b"x", &mut rng).unwrap();
        assert_eq!(data[0], 15);
        assert_eq!(&data[1..16], crate::cert::sign::algorithm_identifier::SHA256_WITH_RSA);
        assert_eq!(data.len(), 16 + 256);
    }
}

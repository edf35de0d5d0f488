//! Signature primitives: hash algorithms, RSA PKCS#1 v1.5 (RFC 8017 §8.2) with and
//! without DigestInfo, RSASSA-PSS verification, ECDSA (FIPS 186-4) with fixed-width
//! `r | s` or DER signatures, and the RFC 7427 AlgorithmIdentifiers of the IKEv2 Digital
//! Signature method.

use const_oid::ObjectIdentifier;
use der::asn1::AnyRef;
use digest::Digest;
use rand_core::CryptoRng;
use signature::hazmat::{PrehashSigner, PrehashVerifier};

use super::{CertError, PrivateKey, PublicKey};

/// A hash function of a signature scheme (RFC 7427 §7 numbers in [`Self::ikev2_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1 (legacy: certificates and AUTH method 1 only).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Hashes the concatenation of `parts`.
    #[must_use]
    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<sha1::Sha1>(parts),
            Self::Sha256 => run::<sha2::Sha256>(parts),
            Self::Sha384 => run::<sha2::Sha384>(parts),
            Self::Sha512 => run::<sha2::Sha512>(parts),
        }
    }

    /// RFC 7427 §7 (IANA "IKEv2 Hash Algorithms"): the number in a
    /// SIGNATURE_HASH_ALGORITHMS notification.
    #[must_use]
    pub const fn ikev2_id(self) -> u16 {
        match self {
            Self::Sha1 => 1,
            Self::Sha256 => 2,
            Self::Sha384 => 3,
            Self::Sha512 => 4,
        }
    }

    /// The algorithm of an RFC 7427 hash number.
    #[must_use]
    pub const fn from_ikev2_id(id: u16) -> Option<Self> {
        match id {
            1 => Some(Self::Sha1),
            2 => Some(Self::Sha256),
            3 => Some(Self::Sha384),
            4 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Output length in bytes.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512].into_iter().find(|h| h.oid() == oid)
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => ObjectIdentifier::new_unwrap("1.3.14.3.2.26"),
            Self::Sha256 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1"),
            Self::Sha384 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2"),
            Self::Sha512 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3"),
        }
    }
}

/// How ECDSA signatures are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcdsaEncoding {
    /// RFC 4754 §7: `r | s`, each as wide as the curve order (IKEv2 methods 9-11).
    Fixed,
    /// RFC 3279 §2.2.3 Ecdsa-Sig-Value in DER (certificates, RFC 7427 method 14).
    Der,
}

/// A signature algorithm: key type, padding and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 (RFC 8017 §8.2) with a DigestInfo for the hash.
    RsaPkcs1(HashAlgorithm),
    /// RSASSA-PSS (RFC 8017 §8.1) with MGF1 of the same hash and a salt as long as the
    /// hash.
    RsaPss(HashAlgorithm),
    /// ECDSA with the hash.
    Ecdsa(HashAlgorithm),
}

/// RFC 7427 Appendix A: DER AlgorithmIdentifiers of the Digital Signature method.
pub mod algorithm_identifier {
    /// A.1.2 sha1WithRSAEncryption.
    pub const SHA1_WITH_RSA: &[u8] =
        &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00];
    /// A.1.3 sha256WithRSAEncryption.
    pub const SHA256_WITH_RSA: &[u8] =
        &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00];
    /// A.1.4 sha384WithRSAEncryption.
    pub const SHA384_WITH_RSA: &[u8] =
        &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00];
    /// A.1.5 sha512WithRSAEncryption.
    pub const SHA512_WITH_RSA: &[u8] =
        &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00];
    /// A.3.1 ecdsa-with-sha256.
    pub const ECDSA_WITH_SHA256: &[u8] =
        &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    /// A.3.2 ecdsa-with-sha384.
    pub const ECDSA_WITH_SHA384: &[u8] =
        &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    /// A.4.3 RSASSA-PSS with SHA-256, MGF1 with SHA-256, salt length 32.
    pub const RSASSA_PSS_SHA256: &[u8] = &[
        0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0, 0x0f,
        0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa1, 0x1c,
        0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09,
        0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x20,
    ];
    /// A.3.3 ecdsa-with-sha512.
    pub const ECDSA_WITH_SHA512: &[u8] =
        &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
}

const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");

/// RFC 4055 §3.1 RSASSA-PSS-params, with the fields this crate checks.
#[derive(der::Sequence)]
struct PssParams<'a> {
    #[asn1(context_specific = "0", optional = "true")]
    hash: Option<spki::AlgorithmIdentifierRef<'a>>,
    #[asn1(context_specific = "1", optional = "true")]
    mask_gen: Option<spki::AlgorithmIdentifierRef<'a>>,
    #[asn1(context_specific = "2", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", optional = "true")]
    trailer: Option<u32>,
}

impl SignatureAlgorithm {
    /// The hash the algorithm signs with.
    #[must_use]
    pub const fn hash(self) -> HashAlgorithm {
        match self {
            Self::RsaPkcs1(h) | Self::RsaPss(h) | Self::Ecdsa(h) => h,
        }
    }

    /// Reads an X.509 / RFC 7427 AlgorithmIdentifier (OID and parameters).
    ///
    /// # Errors
    /// [`CertError::UnsupportedAlgorithm`] for anything else, including RSA-PSS whose salt
    /// is not the hash length or whose MGF1 hash differs.
    pub fn from_algorithm_identifier(
        oid: ObjectIdentifier,
        params: Option<&der::Any>,
    ) -> Result<Self, CertError> {
        let params_ref = params.map(AnyRef::from);
        Self::from_oid_and_params(oid, params_ref)
    }

    fn from_oid_and_params(oid: ObjectIdentifier, params: Option<AnyRef<'_>>) -> Result<Self, CertError> {
        let arc = |s: &str| ObjectIdentifier::new_unwrap(s);
        let rsa = [
            ("1.2.840.113549.1.1.5", HashAlgorithm::Sha1),
            ("1.2.840.113549.1.1.11", HashAlgorithm::Sha256),
            ("1.2.840.113549.1.1.12", HashAlgorithm::Sha384),
            ("1.2.840.113549.1.1.13", HashAlgorithm::Sha512),
        ];
        if let Some((_, h)) = rsa.iter().find(|(o, _)| arc(o) == oid) {
            return Ok(Self::RsaPkcs1(*h));
        }
        let ecdsa = [
            ("1.2.840.10045.4.3.2", HashAlgorithm::Sha256),
            ("1.2.840.10045.4.3.3", HashAlgorithm::Sha384),
            ("1.2.840.10045.4.3.4", HashAlgorithm::Sha512),
        ];
        if let Some((_, h)) = ecdsa.iter().find(|(o, _)| arc(o) == oid) {
            return Ok(Self::Ecdsa(*h));
        }
        if oid == RSASSA_PSS {
            let unsupported = CertError::UnsupportedAlgorithm("RSASSA-PSS parameters");
            let p: PssParams<'_> = params.ok_or(unsupported)?.decode_as().map_err(|_| unsupported)?;
            // RFC 4055 defaults (SHA-1, salt 20) are legacy; require explicit SHA-2.
            let hash = HashAlgorithm::from_oid(p.hash.ok_or(unsupported)?.oid).ok_or(unsupported)?;
            let mgf = p.mask_gen.ok_or(unsupported)?;
            let mgf_hash: spki::AlgorithmIdentifierRef<'_> =
                mgf.parameters.ok_or(unsupported)?.decode_as().map_err(|_| unsupported)?;
            if mgf.oid != MGF1 || HashAlgorithm::from_oid(mgf_hash.oid) != Some(hash) {
                return Err(unsupported);
            }
            let salt = p.salt_length.unwrap_or(20);
            if usize::try_from(salt).ok() != Some(hash.output_len()) || p.trailer.is_some_and(|t| t != 1) {
                return Err(unsupported);
            }
            return Ok(Self::RsaPss(hash));
        }
        Err(CertError::UnsupportedAlgorithm("signature algorithm"))
    }

    /// RFC 7427 §3: reads the AlgorithmIdentifier of a Digital Signature AUTH payload.
    ///
    /// # Errors
    /// [`CertError::Malformed`] or [`CertError::UnsupportedAlgorithm`].
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let alg = spki::AlgorithmIdentifierRef::from_der_bytes(der)?;
        Self::from_oid_and_params(alg.oid, alg.parameters)
    }

    /// RFC 7427 Appendix A: the DER AlgorithmIdentifier this crate sends for the
    /// algorithm; `None` for RSA-PSS other than with SHA-256 and for ECDSA with SHA-1.
    #[must_use]
    pub const fn algorithm_identifier(self) -> Option<&'static [u8]> {
        use algorithm_identifier as a;
        Some(match self {
            Self::RsaPkcs1(HashAlgorithm::Sha1) => a::SHA1_WITH_RSA,
            Self::RsaPkcs1(HashAlgorithm::Sha256) => a::SHA256_WITH_RSA,
            Self::RsaPkcs1(HashAlgorithm::Sha384) => a::SHA384_WITH_RSA,
            Self::RsaPkcs1(HashAlgorithm::Sha512) => a::SHA512_WITH_RSA,
            Self::Ecdsa(HashAlgorithm::Sha256) => a::ECDSA_WITH_SHA256,
            Self::Ecdsa(HashAlgorithm::Sha384) => a::ECDSA_WITH_SHA384,
            Self::Ecdsa(HashAlgorithm::Sha512) => a::ECDSA_WITH_SHA512,
            Self::RsaPss(HashAlgorithm::Sha256) => a::RSASSA_PSS_SHA256,
            Self::Ecdsa(HashAlgorithm::Sha1) | Self::RsaPss(_) => return None,
        })
    }
}

trait FromDerBytes<'a>: Sized {
    fn from_der_bytes(der: &'a [u8]) -> Result<Self, CertError>;
}

impl<'a> FromDerBytes<'a> for spki::AlgorithmIdentifierRef<'a> {
    fn from_der_bytes(der: &'a [u8]) -> Result<Self, CertError> {
        use der::Decode;
        Self::from_der(der).map_err(|_| CertError::Malformed("AlgorithmIdentifier"))
    }
}

fn pkcs1v15<D: Digest + const_oid::AssociatedOid>() -> rsa::Pkcs1v15Sign {
    rsa::Pkcs1v15Sign::new::<D>()
}

fn pkcs1v15_for(h: HashAlgorithm) -> rsa::Pkcs1v15Sign {
    match h {
        HashAlgorithm::Sha1 => pkcs1v15::<sha1::Sha1>(),
        HashAlgorithm::Sha256 => pkcs1v15::<sha2::Sha256>(),
        HashAlgorithm::Sha384 => pkcs1v15::<sha2::Sha384>(),
        HashAlgorithm::Sha512 => pkcs1v15::<sha2::Sha512>(),
    }
}

fn verify_pss(key: &rsa::PublicKey, h: HashAlgorithm, digest: &[u8], sig: &[u8]) -> rsa::Result<()> {
    match h {
        HashAlgorithm::Sha1 => key.verify(rsa::Pss::<sha1::Sha1>::new(), digest, sig),
        HashAlgorithm::Sha256 => key.verify(rsa::Pss::<sha2::Sha256>::new(), digest, sig),
        HashAlgorithm::Sha384 => key.verify(rsa::Pss::<sha2::Sha384>::new(), digest, sig),
        HashAlgorithm::Sha512 => key.verify(rsa::Pss::<sha2::Sha512>::new(), digest, sig),
    }
}

/// FIPS 186-4 §6.4: ECDSA uses the leftmost bits of the digest as an integer, so a
/// digest shorter than the curve order (e.g. a 20-byte IKEv1 HASH on P-256) means the
/// same zero-extended on the left; the ECDSA crate wants at least half the field size.
fn field_digest(digest: &[u8], field_len: usize) -> std::borrow::Cow<'_, [u8]> {
    if digest.len() >= field_len {
        std::borrow::Cow::Borrowed(digest)
    } else {
        let mut padded = vec![0u8; field_len - digest.len()];
        padded.extend_from_slice(digest);
        std::borrow::Cow::Owned(padded)
    }
}

impl PublicKey {
    /// Verifies `sig` over an already computed `digest` of `algorithm`'s hash.
    ///
    /// # Errors
    /// [`CertError::BadSignature`], or [`CertError::UnsupportedAlgorithm`] when the
    /// algorithm does not fit the key.
    pub fn verify_digest(
        &self,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
        sig: &[u8],
        ecdsa: EcdsaEncoding,
    ) -> Result<(), CertError> {
        match (self, algorithm) {
            (Self::Rsa(k), SignatureAlgorithm::RsaPkcs1(h)) => {
                k.verify(pkcs1v15_for(h), digest, sig).map_err(|_| CertError::BadSignature)
            }
            (Self::Rsa(k), SignatureAlgorithm::RsaPss(h)) => {
                verify_pss(k, h, digest, sig).map_err(|_| CertError::BadSignature)
            }
            (Self::P256(k), SignatureAlgorithm::Ecdsa(_)) => {
                let s = match ecdsa {
                    EcdsaEncoding::Fixed => p256::ecdsa::Signature::from_slice(sig),
                    EcdsaEncoding::Der => p256::ecdsa::Signature::from_der(sig),
                }
                .map_err(|_| CertError::BadSignature)?;
                k.verify_prehash(&field_digest(digest, 32), &s).map_err(|_| CertError::BadSignature)
            }
            (Self::P384(k), SignatureAlgorithm::Ecdsa(_)) => {
                let s = match ecdsa {
                    EcdsaEncoding::Fixed => p384::ecdsa::Signature::from_slice(sig),
                    EcdsaEncoding::Der => p384::ecdsa::Signature::from_der(sig),
                }
                .map_err(|_| CertError::BadSignature)?;
                k.verify_prehash(&field_digest(digest, 48), &s).map_err(|_| CertError::BadSignature)
            }
            _ => Err(CertError::UnsupportedAlgorithm("signature algorithm does not fit the key")),
        }
    }

    /// RFC 2409 §5.1 as implemented by IKEv1 peers: RSASSA-PKCS1-v1_5 padding (block
    /// type 1) directly around `data` (HASH_I / HASH_R), without a DigestInfo.
    ///
    /// # Errors
    /// [`CertError::BadSignature`], [`CertError::UnsupportedAlgorithm`] for non-RSA keys.
    pub fn verify_raw_pkcs1(&self, data: &[u8], sig: &[u8]) -> Result<(), CertError> {
        match self {
            Self::Rsa(k) => {
                k.verify(rsa::Pkcs1v15Sign::new_unprefixed(), data, sig).map_err(|_| CertError::BadSignature)
            }
            _ => Err(CertError::UnsupportedAlgorithm("IKEv1 signatures need an RSA key")),
        }
    }

    /// The natural signature algorithm for this key with `hash`.
    #[must_use]
    pub const fn algorithm_with(&self, hash: HashAlgorithm) -> SignatureAlgorithm {
        match self {
            Self::Rsa(_) => SignatureAlgorithm::RsaPkcs1(hash),
            Self::P256(_) | Self::P384(_) => SignatureAlgorithm::Ecdsa(hash),
        }
    }
}

impl PrivateKey {
    /// Signs an already computed `digest` of `algorithm`'s hash. RSA uses `rng` for
    /// blinding (and the PSS salt); ECDSA nonces are deterministic (RFC 6979).
    ///
    /// # Errors
    /// [`CertError::UnsupportedAlgorithm`] when the algorithm does not fit the key,
    /// [`CertError::SigningFailed`].
    pub fn sign_digest<R: CryptoRng + ?Sized>(
        &self,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
        ecdsa: EcdsaEncoding,
        rng: &mut R,
    ) -> Result<Vec<u8>, CertError> {
        match (self, algorithm) {
            (Self::Rsa(k), SignatureAlgorithm::RsaPkcs1(h)) => {
                k.sign_with_rng(rng, pkcs1v15_for(h), digest).map_err(|_| CertError::SigningFailed)
            }
            (Self::Rsa(k), SignatureAlgorithm::RsaPss(h)) => {
                let signed = match h {
                    HashAlgorithm::Sha1 => k.sign_with_rng(rng, rsa::Pss::<sha1::Sha1>::new(), digest),
                    HashAlgorithm::Sha256 => k.sign_with_rng(rng, rsa::Pss::<sha2::Sha256>::new(), digest),
                    HashAlgorithm::Sha384 => k.sign_with_rng(rng, rsa::Pss::<sha2::Sha384>::new(), digest),
                    HashAlgorithm::Sha512 => k.sign_with_rng(rng, rsa::Pss::<sha2::Sha512>::new(), digest),
                };
                signed.map_err(|_| CertError::SigningFailed)
            }
            (Self::P256(k), SignatureAlgorithm::Ecdsa(_)) => {
                let s: p256::ecdsa::Signature =
                    k.sign_prehash(&field_digest(digest, 32)).map_err(|_| CertError::SigningFailed)?;
                Ok(match ecdsa {
                    EcdsaEncoding::Fixed => s.to_bytes().to_vec(),
                    EcdsaEncoding::Der => s.to_der().as_bytes().to_vec(),
                })
            }
            (Self::P384(k), SignatureAlgorithm::Ecdsa(_)) => {
                let s: p384::ecdsa::Signature =
                    k.sign_prehash(&field_digest(digest, 48)).map_err(|_| CertError::SigningFailed)?;
                Ok(match ecdsa {
                    EcdsaEncoding::Fixed => s.to_bytes().to_vec(),
                    EcdsaEncoding::Der => s.to_der().as_bytes().to_vec(),
                })
            }
            _ => Err(CertError::UnsupportedAlgorithm("signature algorithm does not fit the key")),
        }
    }

    /// The IKEv1 RSA signature (see [`PublicKey::verify_raw_pkcs1`]) over `data`.
    ///
    /// # Errors
    /// [`CertError::UnsupportedAlgorithm`] for non-RSA keys, [`CertError::SigningFailed`].
    pub fn sign_raw_pkcs1<R: CryptoRng + ?Sized>(
        &self,
        data: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, CertError> {
        match self {
            Self::Rsa(k) => k
                .sign_with_rng(rng, rsa::Pkcs1v15Sign::new_unprefixed(), data)
                .map_err(|_| CertError::SigningFailed),
            _ => Err(CertError::UnsupportedAlgorithm("IKEv1 signatures need an RSA key")),
        }
    }
}

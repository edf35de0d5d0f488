//! X.509 certificates and private keys for signature authentication: IKEv1 Main Mode
//! with RSA signatures (RFC 2409 §5.1) and IKEv2 certificate authentication (RFC 7296
//! §2.15, §3.6-§3.8, RFC 7427).
//!
//! - [`Certificate`]: one parsed X.509 certificate (DER or PEM), its subject, public key
//!   and subjectAltName, and [`Certificate::matches_id`] for the peer's ID payload.
//! - [`PrivateKey`]: an RSA, ECDSA P-256 or P-384 key (PKCS#8, PKCS#1 or SEC1; DER or PEM).
//! - [`TrustStore`]: the configured CA certificates and [`TrustStore::verify`], the chain
//!   check of a peer's certificate (signatures, validity, CA constraints) up to one of them.
//! - [`CertificateAuth`]: what a phase-1 / IKE SA configuration needs to authenticate with
//!   a certificate.
//! - [`sign`]: the signature primitives (hash algorithms, RSA PKCS#1 v1.5 and PSS,
//!   ECDSA) the IKE authentication methods are built from.
//!
//! Sans-IO: validity periods are checked against a [`UnixTime`] the owner passes in; the
//! crate never reads a clock.

pub mod sign;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Reader, SliceReader};
use sha1::{Digest, Sha1};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, SubjectAltName};
use x509_cert::name::Name;

pub use sign::{HashAlgorithm, SignatureAlgorithm};

/// Most certificates accepted in one chain (end entity, intermediates, CA).
pub const MAX_CHAIN_DEPTH: usize = 8;
/// Largest certificate accepted (DER bytes); larger input is refused before parsing.
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

/// Why a certificate, key or chain was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The bytes are not a well-formed certificate, key or PEM block.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A signature or key algorithm this crate does not implement.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(&'static str),
    /// A signature (on a certificate or in an AUTH/SIG payload) did not verify.
    #[error("bad signature")]
    BadSignature,
    /// The certificate's notBefore is after the validation time.
    #[error("certificate not yet valid")]
    NotYetValid,
    /// The certificate's notAfter is before the validation time.
    #[error("certificate expired")]
    Expired,
    /// No configured CA (or received intermediate) issued the certificate.
    #[error("no trusted issuer")]
    UnknownIssuer,
    /// An issuing certificate is not a CA (basicConstraints), may not sign certificates
    /// (keyUsage) or its path length constraint is exceeded.
    #[error("issuer is not a CA: {0}")]
    NotCa(&'static str),
    /// The chain is longer than [`MAX_CHAIN_DEPTH`].
    #[error("certificate chain too long")]
    ChainTooLong,
    /// The end-entity certificate may not be used for signatures (keyUsage).
    #[error("key usage does not allow signatures")]
    KeyUsage,
    /// The peer's ID payload does not name the certificate's subject or a subjectAltName.
    #[error("identity does not match the certificate")]
    IdentityMismatch,
    /// The private key does not belong to the certificate.
    #[error("private key does not match the certificate")]
    KeyMismatch,
    /// The signing operation failed.
    #[error("signing failed")]
    SigningFailed,
    /// The peer's certificate is valid but does not name the peer we expect
    /// ([`CertificateAuth::expected_peer`]).
    #[error("certificate is not the expected peer's")]
    UnexpectedPeer,
}

/// A wall-clock time in seconds since 1970-01-01 UTC, passed in by the owner for validity
/// checks (RFC 5280 §4.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub u64);

impl From<SystemTime> for UnixTime {
    fn from(t: SystemTime) -> Self {
        Self(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }
}

/// The IKE identification types a certificate can prove (the same numbers in IKEv1,
/// RFC 2407 §4.6.2.1, and IKEv2, RFC 7296 §3.5).
mod id_type {
    pub const IPV4_ADDR: u8 = 1;
    pub const FQDN: u8 = 2;
    pub const USER_FQDN: u8 = 3;
    pub const IPV6_ADDR: u8 = 5;
    pub const DER_ASN1_DN: u8 = 9;
}

/// RFC 5280 OIDs used here.
mod oid {
    use const_oid::ObjectIdentifier as Oid;
    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
}

/// A name the peer's certificate must carry (what strongSwan calls the remote identity):
/// RFC 4945 §3.1 matching, as [`Certificate::matches_id`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerName {
    /// The subject DN, DER-encoded.
    DistinguishedName(Vec<u8>),
    /// A dNSName subjectAltName.
    Fqdn(String),
    /// An rfc822Name subjectAltName.
    UserFqdn(String),
    /// An iPAddress subjectAltName.
    Ip(std::net::IpAddr),
}

impl PeerName {
    /// Whether `cert` carries this name.
    #[must_use]
    pub fn is_named_by(&self, cert: &Certificate) -> bool {
        match self {
            Self::DistinguishedName(dn) => cert.matches_id(id_type::DER_ASN1_DN, dn),
            Self::Fqdn(name) => cert.matches_id(id_type::FQDN, name.as_bytes()),
            Self::UserFqdn(name) => cert.matches_id(id_type::USER_FQDN, name.as_bytes()),
            Self::Ip(std::net::IpAddr::V4(a)) => cert.matches_id(id_type::IPV4_ADDR, &a.octets()),
            Self::Ip(std::net::IpAddr::V6(a)) => cert.matches_id(id_type::IPV6_ADDR, &a.octets()),
        }
    }
}

/// One X.509 certificate (RFC 5280), kept as received plus its parsed form.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    cert: x509_cert::Certificate,
    tbs: core::ops::Range<usize>,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    spki: Vec<u8>,
}

impl core::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Certificate").field("subject", &self.subject_string()).finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl Certificate {
    /// Parses a DER certificate.
    ///
    /// # Errors
    /// [`CertError::Malformed`] for anything but one complete DER certificate of at most
    /// [`MAX_CERTIFICATE_LEN`] bytes.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        if der.len() > MAX_CERTIFICATE_LEN {
            return Err(CertError::Malformed("certificate (too long)"));
        }
        let cert = x509_cert::Certificate::from_der(der).map_err(|_| CertError::Malformed("certificate"))?;
        let tbs = tbs_range(der).ok_or(CertError::Malformed("certificate"))?;
        let tbs_cert = cert.tbs_certificate();
        let enc = |_| CertError::Malformed("certificate");
        let subject = tbs_cert.subject().to_der().map_err(enc)?;
        let issuer = tbs_cert.issuer().to_der().map_err(enc)?;
        let spki = tbs_cert.subject_public_key_info().to_der().map_err(enc)?;
        Ok(Self { der: der.to_vec(), cert, tbs, subject, issuer, spki })
    }

    /// Parses the first `CERTIFICATE` block of a PEM text.
    ///
    /// # Errors
    /// [`CertError::Malformed`] without a well-formed certificate block.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertError> {
        Self::pem_chain(pem)?.into_iter().next().ok_or(CertError::Malformed("PEM certificate"))
    }

    /// Parses every `CERTIFICATE` block of a PEM text (a chain or a CA bundle), in order.
    ///
    /// # Errors
    /// [`CertError::Malformed`] when a block is not a certificate.
    pub fn pem_chain(pem: &[u8]) -> Result<Vec<Self>, CertError> {
        let certs = x509_cert::Certificate::load_pem_chain(pem).map_err(|_| CertError::Malformed("PEM"))?;
        certs.iter().map(|c| Self::from_der(&c.to_der().map_err(|_| CertError::Malformed("PEM"))?)).collect()
    }

    /// Parses DER or PEM, whichever `data` is.
    ///
    /// # Errors
    /// [`CertError::Malformed`].
    pub fn from_der_or_pem(data: &[u8]) -> Result<Self, CertError> {
        if data.starts_with(b"-----") || data.windows(11).any(|w| w == b"-----BEGIN ") {
            Self::from_pem(data)
        } else {
            Self::from_der(data)
        }
    }

    /// The certificate as DER (what a CERT payload carries).
    #[must_use]
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The DER encoding of the subject Name (an ID_DER_ASN1_DN identity, RFC 7296 §3.5).
    #[must_use]
    pub fn subject_der(&self) -> &[u8] {
        &self.subject
    }

    /// The DER encoding of the issuer Name.
    #[must_use]
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }

    /// The subject as text (RFC 4514 form), for logs.
    #[must_use]
    pub fn subject_string(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    /// The DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn subject_public_key_info(&self) -> &[u8] {
        &self.spki
    }

    /// RFC 7296 §3.7: the SHA-1 hash of the SubjectPublicKeyInfo, which an IKEv2 CERTREQ
    /// names a CA by.
    #[must_use]
    pub fn spki_sha1(&self) -> [u8; 20] {
        Sha1::digest(&self.spki).into()
    }

    /// The certified public key.
    ///
    /// # Errors
    /// [`CertError::UnsupportedAlgorithm`] for keys other than RSA, P-256 and P-384.
    pub fn public_key(&self) -> Result<PublicKey, CertError> {
        PublicKey::from_spki_der(&self.spki)
    }

    /// notBefore and notAfter as seconds since the epoch.
    #[must_use]
    pub fn validity(&self) -> (UnixTime, UnixTime) {
        let v = self.cert.tbs_certificate().validity();
        (
            UnixTime(v.not_before.to_unix_duration().as_secs()),
            UnixTime(v.not_after.to_unix_duration().as_secs()),
        )
    }

    /// RFC 5280 §4.2.1.9: basicConstraints cA and pathLenConstraint; `None` without the
    /// extension (or when it does not decode).
    fn basic_constraints(&self) -> Option<BasicConstraints> {
        self.cert.tbs_certificate().get_extension::<BasicConstraints>().ok().flatten().map(|(_, b)| b)
    }

    fn key_usage(&self) -> Option<KeyUsage> {
        self.cert.tbs_certificate().get_extension::<KeyUsage>().ok().flatten().map(|(_, k)| k)
    }

    /// Whether basicConstraints marks this certificate as a CA.
    #[must_use]
    pub fn is_ca(&self) -> bool {
        self.basic_constraints().is_some_and(|b| b.ca)
    }

    fn alt_names(&self) -> Vec<GeneralName> {
        self.cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .ok()
            .flatten()
            .map(|(_, san)| san.0)
            .unwrap_or_default()
    }

    /// Whether an IKE identity (ID type number and data, the same in IKEv1 and IKEv2) is
    /// proved by this certificate: ID_DER_ASN1_DN equal to the subject, ID_FQDN to a
    /// dNSName (ASCII case-insensitive), ID_RFC822_ADDR / ID_USER_FQDN to an rfc822Name,
    /// ID_IPV4_ADDR / ID_IPV6_ADDR to an iPAddress subjectAltName. RFC 4945 §3.1.
    #[must_use]
    pub fn matches_id(&self, id_type: u8, data: &[u8]) -> bool {
        match id_type {
            id_type::DER_ASN1_DN => {
                data == self.subject.as_slice()
                    || Name::from_der(data)
                        .ok()
                        .and_then(|n| n.to_der().ok())
                        .is_some_and(|d| d == self.subject)
            }
            id_type::FQDN => self.alt_names().iter().any(|n| match n {
                GeneralName::DnsName(s) => s.as_bytes().eq_ignore_ascii_case(data),
                _ => false,
            }),
            id_type::USER_FQDN => self.alt_names().iter().any(|n| match n {
                GeneralName::Rfc822Name(s) => s.as_bytes().eq_ignore_ascii_case(data),
                _ => false,
            }),
            id_type::IPV4_ADDR | id_type::IPV6_ADDR => self.alt_names().iter().any(|n| match n {
                GeneralName::IpAddress(o) => o.as_bytes() == data,
                _ => false,
            }),
            _ => false,
        }
    }

    /// The DER bytes the issuer signed (tbsCertificate as received).
    fn tbs_der(&self) -> &[u8] {
        &self.der[self.tbs.clone()]
    }

    /// Verifies that `issuer`'s key signed this certificate.
    fn verify_signed_by(&self, issuer: &PublicKey) -> Result<(), CertError> {
        let alg = self.cert.signature_algorithm();
        // RFC 5280 §4.1.1.2: the outer algorithm must be the one inside the signed part.
        if alg != self.cert.tbs_certificate().signature() {
            return Err(CertError::Malformed("certificate signature algorithms differ"));
        }
        let algorithm = SignatureAlgorithm::from_algorithm_identifier(alg.oid, alg.parameters.as_ref())?;
        let sig = self.cert.signature().as_bytes().ok_or(CertError::Malformed("signature bit string"))?;
        let digest = algorithm.hash().digest(&[self.tbs_der()]);
        issuer.verify_digest(algorithm, &digest, sig, sign::EcdsaEncoding::Der)
    }

    fn check_time(&self, now: UnixTime) -> Result<(), CertError> {
        let (not_before, not_after) = self.validity();
        if now < not_before {
            Err(CertError::NotYetValid)
        } else if now > not_after {
            Err(CertError::Expired)
        } else {
            Ok(())
        }
    }
}

/// Where the TBSCertificate lies in a DER Certificate (`SEQUENCE { tbs, alg, sig }`).
fn tbs_range(der: &[u8]) -> Option<core::ops::Range<usize>> {
    let mut r = SliceReader::new(der).ok()?;
    let _outer = der::Header::decode(&mut r).ok()?;
    let start = usize::try_from(r.position()).ok()?;
    let _tbs = der::AnyRef::decode(&mut r).ok()?;
    let end = usize::try_from(r.position()).ok()?;
    (end <= der.len()).then_some(start..end)
}

/// A public key that verifies IKE and certificate signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA.
    Rsa(rsa::PublicKey),
    /// ECDSA on NIST P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA on NIST P-384.
    P384(p384::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Reads a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
    ///
    /// # Errors
    /// [`CertError::Malformed`] or [`CertError::UnsupportedAlgorithm`].
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CertError> {
        let spki =
            spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| CertError::Malformed("public key"))?;
        let bits = spki.subject_public_key.as_bytes().ok_or(CertError::Malformed("public key"))?;
        if spki.algorithm.oid == oid::RSA_ENCRYPTION {
            use rsa::pkcs1::DecodeRsaPublicKey;
            let key =
                rsa::PublicKey::from_pkcs1_der(bits).map_err(|_| CertError::Malformed("RSA public key"))?;
            if rsa::traits::PublicKeyParts::size(&key) < 128 {
                return Err(CertError::UnsupportedAlgorithm("RSA key shorter than 1024 bits"));
            }
            return Ok(Self::Rsa(key));
        }
        if spki.algorithm.oid == oid::EC_PUBLIC_KEY {
            let curve: ObjectIdentifier = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as().ok())
                .ok_or(CertError::Malformed("EC parameters"))?;
            let bad = |_| CertError::Malformed("EC public key");
            return if curve == oid::SECP256R1 {
                Ok(Self::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(bits).map_err(bad)?))
            } else if curve == oid::SECP384R1 {
                Ok(Self::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(bits).map_err(bad)?))
            } else {
                Err(CertError::UnsupportedAlgorithm("elliptic curve"))
            };
        }
        Err(CertError::UnsupportedAlgorithm("public key algorithm"))
    }
}

/// A private key for signing AUTH / SIG payloads. Zeroized on drop (by the key types
/// themselves); never printed.
#[derive(Clone)]
pub enum PrivateKey {
    /// RSA.
    Rsa(rsa::PrivateKey),
    /// ECDSA on NIST P-256.
    P256(p256::ecdsa::SigningKey),
    /// ECDSA on NIST P-384.
    P384(p384::ecdsa::SigningKey),
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Rsa(_) => "PrivateKey::Rsa(..)",
            Self::P256(_) => "PrivateKey::P256(..)",
            Self::P384(_) => "PrivateKey::P384(..)",
        })
    }
}

impl PrivateKey {
    /// Reads a DER key: PKCS#8 PrivateKeyInfo (RSA, P-256, P-384), PKCS#1 RSAPrivateKey or
    /// SEC1 ECPrivateKey.
    ///
    /// # Errors
    /// [`CertError::Malformed`] when no form fits.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        use pkcs8::DecodePrivateKey;
        use rsa::pkcs1::DecodeRsaPrivateKey;
        if let Ok(k) = rsa::PrivateKey::from_pkcs8_der(der) {
            return Ok(Self::Rsa(k));
        }
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::P256(k));
        }
        if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::P384(k));
        }
        if let Ok(k) = rsa::PrivateKey::from_pkcs1_der(der) {
            return Ok(Self::Rsa(k));
        }
        if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
            return Ok(Self::P256(k.into()));
        }
        if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
            return Ok(Self::P384(k.into()));
        }
        Err(CertError::Malformed("private key"))
    }

    /// Reads a PEM key: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or
    /// `EC PRIVATE KEY` (SEC1). Encrypted keys are not supported.
    ///
    /// # Errors
    /// [`CertError::Malformed`].
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertError> {
        let text = core::str::from_utf8(pem).map_err(|_| CertError::Malformed("PEM"))?;
        let start = text.find("-----BEGIN ").ok_or(CertError::Malformed("PEM"))?;
        let (label, doc) = der::SecretDocument::from_pem(&text[start..])
            .map_err(|_| CertError::Malformed("PEM private key"))?;
        match label {
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => Self::from_der(doc.as_bytes()),
            _ => Err(CertError::Malformed("PEM label is not a private key")),
        }
    }

    /// Parses DER or PEM, whichever `data` is.
    ///
    /// # Errors
    /// [`CertError::Malformed`].
    pub fn from_der_or_pem(data: &[u8]) -> Result<Self, CertError> {
        if data.windows(11).any(|w| w == b"-----BEGIN ") {
            Self::from_pem(data)
        } else {
            Self::from_der(data)
        }
    }

    /// The matching public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            Self::P256(k) => PublicKey::P256(*k.verifying_key()),
            Self::P384(k) => PublicKey::P384(*k.verifying_key()),
        }
    }
}

/// The configured certification authorities (trust anchors).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustStore {
    cas: Vec<Certificate>,
}

impl TrustStore {
    /// An empty store (trusts nothing).
    #[must_use]
    pub const fn new() -> Self {
        Self { cas: Vec::new() }
    }

    /// Adds a CA certificate.
    ///
    /// # Errors
    /// [`CertError::NotCa`] when basicConstraints does not mark it as a CA.
    pub fn add(&mut self, ca: Certificate) -> Result<(), CertError> {
        if !ca.is_ca() {
            return Err(CertError::NotCa("trust anchor without basicConstraints cA"));
        }
        if !self.cas.contains(&ca) {
            self.cas.push(ca);
        }
        Ok(())
    }

    /// A store of every certificate in a PEM bundle.
    ///
    /// # Errors
    /// As [`Certificate::pem_chain`] and [`Self::add`].
    pub fn from_pem_bundle(pem: &[u8]) -> Result<Self, CertError> {
        let mut s = Self::new();
        for c in Certificate::pem_chain(pem)? {
            s.add(c)?;
        }
        Ok(s)
    }

    /// The CA certificates.
    #[must_use]
    pub fn cas(&self) -> &[Certificate] {
        &self.cas
    }

    /// RFC 7296 §3.7: the CERTREQ data naming our CAs (the concatenated SHA-1 hashes of
    /// their SubjectPublicKeyInfo).
    #[must_use]
    pub fn ca_key_hashes(&self) -> Vec<u8> {
        self.cas.iter().flat_map(Certificate::spki_sha1).collect()
    }

    /// Checks a peer's certificate: an issuer chain through `intermediates` (in any order)
    /// to one of our CAs, every signature, every validity period at `now`, the CA
    /// constraints (basicConstraints cA, pathLenConstraint, keyUsage keyCertSign) of the
    /// issuers, and that the end entity's keyUsage (if any) allows signatures.
    /// RFC 5280 §6.1, simplified: no policies, name constraints or revocation.
    ///
    /// # Errors
    /// The first problem found.
    pub fn verify(
        &self,
        end_entity: &Certificate,
        intermediates: &[Certificate],
        now: UnixTime,
    ) -> Result<(), CertError> {
        end_entity.check_time(now)?;
        if end_entity.key_usage().is_some_and(|k| !k.digital_signature() && !k.non_repudiation()) {
            return Err(CertError::KeyUsage);
        }
        let mut current = end_entity;
        // Number of intermediate CAs below the issuer being looked at.
        let mut below = 0usize;
        for _ in 0..MAX_CHAIN_DEPTH {
            let issuer_name = current.issuer_der();
            // A configured CA ends the chain.
            let mut last_error = CertError::UnknownIssuer;
            for ca in self.cas.iter().filter(|c| c.subject_der() == issuer_name) {
                match check_issuer(current, ca, below, now) {
                    Ok(()) => return Ok(()),
                    Err(e) => last_error = e,
                }
            }
            let mut next = None;
            for c in intermediates.iter().filter(|c| c.subject_der() == issuer_name && *c != current) {
                match check_issuer(current, c, below, now) {
                    Ok(()) => {
                        next = Some(c);
                        break;
                    }
                    Err(e) => last_error = e,
                }
            }
            match next {
                Some(c) => {
                    current = c;
                    below += 1;
                }
                None => return Err(last_error),
            }
        }
        Err(CertError::ChainTooLong)
    }
}

/// Checks that `issuer` (with `below` intermediate CAs under it) issued `cert`.
fn check_issuer(
    cert: &Certificate,
    issuer: &Certificate,
    below: usize,
    now: UnixTime,
) -> Result<(), CertError> {
    let bc = issuer.basic_constraints().ok_or(CertError::NotCa("no basicConstraints"))?;
    if !bc.ca {
        return Err(CertError::NotCa("basicConstraints cA is false"));
    }
    if bc.path_len_constraint.is_some_and(|n| usize::from(n) < below) {
        return Err(CertError::NotCa("pathLenConstraint exceeded"));
    }
    if issuer.key_usage().is_some_and(|k| !k.key_cert_sign()) {
        return Err(CertError::NotCa("keyUsage lacks keyCertSign"));
    }
    issuer.check_time(now)?;
    cert.verify_signed_by(&issuer.public_key()?)
}

/// How this end authenticates with a certificate, and which peers it accepts (a
/// certificate chain to one of [`Self::trust`]'s CAs). Used by
/// [`crate::v1::phase1::Phase1Config::certificate`] and
/// [`crate::v2::ike_sa::IkeSaConfig::certificate`].
#[derive(Clone, Debug)]
pub struct CertificateAuth {
    /// Our certificate first, then any intermediate CA certificates to send with it.
    pub chain: Vec<Certificate>,
    /// The private key of `chain[0]`.
    pub key: Arc<PrivateKey>,
    /// The CAs a peer's certificate must chain to.
    pub trust: TrustStore,
    /// The wall-clock time against which certificate validity is checked. The owner sets
    /// it (e.g. `UnixTime::from(SystemTime::now())`) before creating each machine.
    pub now: UnixTime,
    /// IKEv2: announce SIGNATURE_HASH_ALGORITHMS and use the RFC 7427 Digital Signature
    /// method (14) when the peer supports it; otherwise the classic methods (RSA 1,
    /// ECDSA 9/10). On by default.
    pub rfc7427: bool,
    /// Ask the peer for a certificate from our CAs (IKEv1 CR, IKEv2 CERTREQ). On by default.
    pub send_cert_request: bool,
    /// IKEv2 with an RSA key: sign method 14 AUTH payloads with RSASSA-PSS (SHA-256,
    /// salt 32) instead of PKCS#1 v1.5 when the peer announced SHA2-256. Off by default.
    pub rsa_pss: bool,
    /// The peer's certificate must also carry this name (an initiator should set the
    /// server's name: any other certificate from the same CA is refused). `None` by
    /// default: any certificate chaining to [`Self::trust`] whose names include the
    /// peer's ID is accepted.
    pub expected_peer: Option<PeerName>,
}

impl CertificateAuth {
    /// Our chain and key, the CAs we trust and the current wall-clock time.
    ///
    /// # Errors
    /// [`CertError::KeyMismatch`] when `key` is not the key of `chain[0]` (or the chain is
    /// empty), [`CertError::UnsupportedAlgorithm`] for an unsupported certificate key.
    pub fn new(
        chain: Vec<Certificate>,
        key: PrivateKey,
        trust: TrustStore,
        now: UnixTime,
    ) -> Result<Self, CertError> {
        let first = chain.first().ok_or(CertError::KeyMismatch)?;
        if first.public_key()? != key.public_key() {
            return Err(CertError::KeyMismatch);
        }
        Ok(Self {
            chain,
            key: Arc::new(key),
            trust,
            now,
            rfc7427: true,
            send_cert_request: true,
            rsa_pss: false,
            expected_peer: None,
        })
    }

    /// Our end-entity certificate (`None` only if [`Self::chain`] was emptied).
    #[must_use]
    pub fn certificate(&self) -> Option<&Certificate> {
        self.chain.first()
    }

    /// Checks a peer's certificates (end entity first, as received in CERT payloads) and
    /// that its ID payload (type number and data) names the end entity; returns the end
    /// entity's public key.
    ///
    /// # Errors
    /// [`CertError`] from parsing, the chain check, [`CertError::IdentityMismatch`] or
    /// [`CertError::UnexpectedPeer`].
    pub fn verify_peer(
        &self,
        certs: &[&[u8]],
        id_type: u8,
        id_data: &[u8],
    ) -> Result<(Certificate, PublicKey), CertError> {
        let (first, rest) = certs.split_first().ok_or(CertError::UnknownIssuer)?;
        if certs.len() > MAX_CHAIN_DEPTH {
            return Err(CertError::ChainTooLong);
        }
        let ee = Certificate::from_der(first)?;
        let intermediates: Vec<Certificate> =
            rest.iter().filter_map(|d| Certificate::from_der(d).ok()).collect();
        self.trust.verify(&ee, &intermediates, self.now)?;
        if !ee.matches_id(id_type, id_data) {
            return Err(CertError::IdentityMismatch);
        }
        if self.expected_peer.as_ref().is_some_and(|n| !n.is_named_by(&ee)) {
            return Err(CertError::UnexpectedPeer);
        }
        let key = ee.public_key()?;
        Ok((ee, key))
    }
}

#[cfg(test)]
mod tests;

//! IKEv1 phase 1 authenticated with RSA signatures (RFC 2409 §5.1, auth method 3) or
//! ECDSA signatures (RFC 4754, methods 9 and 10):
//! the pieces [`super::phase1::Phase1`] uses when [`super::phase1::Phase1Config::certificate`]
//! is set.
//!
//! ```text
//!  MM3  HDR, KE, Ni [, CR ]              -->
//!                                        <--  MM4  HDR, KE, Nr [, CR ]
//!  MM5  HDR*, IDii, [ CERT, ] SIG_I      -->
//!                                        <--  MM6  HDR*, IDir, [ CERT, ] SIG_R
//!
//!  AM1  HDR, SA, KE, Ni, IDii [, CR ]    -->
//!                                        <--  AM2  HDR, SA, KE, Nr, IDir, [ CERT, ] SIG_R [, CR ]
//!  AM3  HDR*, [ CERT, ] SIG_I            -->
//! ```
//!
//! `SKEYID = prf(Ni_b | Nr_b, g^xy)` ([`super::keys::skeyid_signature`]); HASH_I and
//! HASH_R are computed as with a pre-shared key, and SIG_I / SIG_R are RSA signatures of
//! them: PKCS#1 v1.5 block type 1 padding around the bare hash, without a DigestInfo,
//! which is what IKEv1 implementations (strongSwan's `SIGN_RSA_EMSA_PKCS1_NULL`,
//! racoon, Windows) produce. A CR names one of our CAs by its DER subject (RFC 2408
//! §3.10); CERT carries an X.509 certificate (encoding 4).

use rand_core::CryptoRng;

use super::keys::{Phase1Exchange, Phase1Keys};
use crate::Error;
use crate::cert::sign::EcdsaEncoding;
use crate::cert::{
    CertError, Certificate, CertificateAuth, HashAlgorithm, MAX_CHAIN_DEPTH, PrivateKey, PublicKey,
    SignatureAlgorithm,
};
use crate::crypto::{PrfAlgorithm, PrfOutput};
use crate::wire::v1::{AuthMethod, CertEncoding, Payload};

/// RFC 4754 §4: IKEv1 authentication method ECDSA with SHA-256 on P-256.
pub const AUTH_ECDSA_256: u16 = 9;
/// RFC 4754 §4: ECDSA with SHA-384 on P-384.
pub const AUTH_ECDSA_384: u16 = 10;
/// RFC 4754 §4: ECDSA with SHA-512 on P-521 (not supported).
pub const AUTH_ECDSA_521: u16 = 11;

/// The phase-1 authentication method for our key: RSA signatures (3), ECDSA-256 (9) or
/// ECDSA-384 (10).
#[must_use]
pub fn auth_method(auth: &CertificateAuth) -> AuthMethod {
    match *auth.key {
        PrivateKey::Rsa(_) => AuthMethod::RsaSignatures,
        PrivateKey::P256(_) => AuthMethod::from(AUTH_ECDSA_256),
        PrivateKey::P384(_) => AuthMethod::from(AUTH_ECDSA_384),
    }
}

/// Whether a proposed authentication method is acceptable when we use `ours`: equal, or
/// both ECDSA (each side signs with its own curve, as strongSwan does).
#[must_use]
pub fn same_auth_family(proposed: AuthMethod, ours: AuthMethod) -> bool {
    let ecdsa = |m: AuthMethod| (AUTH_ECDSA_256..=AUTH_ECDSA_521).contains(&u16::from(m));
    proposed == ours || (ecdsa(proposed) && ecdsa(ours))
}

/// RFC 4754 §4 as strongSwan implements it: with an ECDSA method in the SA, HASH_I and
/// HASH_R are computed with HMAC of the method's hash (SHA-256/384/512) keyed with
/// SKEYID, whatever the negotiated PRF.
fn hash_prf(auth: AuthMethod) -> Option<PrfAlgorithm> {
    match u16::from(auth) {
        AUTH_ECDSA_256 => Some(PrfAlgorithm::HmacSha256),
        AUTH_ECDSA_384 => Some(PrfAlgorithm::HmacSha384),
        AUTH_ECDSA_521 => Some(PrfAlgorithm::HmacSha512),
        _ => None,
    }
}

/// RFC 2409 §5 HASH_I for the SA's authentication method `auth`: with the negotiated PRF,
/// or with HMAC of an ECDSA method's SHA-2 (what strongSwan does).
#[must_use]
pub fn hash_i(auth: AuthMethod, keys: &Phase1Keys, ex: &Phase1Exchange<'_>, idii_b: &[u8]) -> PrfOutput {
    match hash_prf(auth) {
        Some(prf) => prf.prf(keys.skeyid(), &[ex.g_xi, ex.g_xr, ex.cky_i, ex.cky_r, ex.sai_b, idii_b]),
        None => keys.hash_i(ex, idii_b),
    }
}

/// RFC 2409 §5 HASH_R for the SA's authentication method `auth` (the PRF as for HASH_I).
#[must_use]
pub fn hash_r(auth: AuthMethod, keys: &Phase1Keys, ex: &Phase1Exchange<'_>, idir_b: &[u8]) -> PrfOutput {
    match hash_prf(auth) {
        Some(prf) => prf.prf(keys.skeyid(), &[ex.g_xr, ex.g_xi, ex.cky_r, ex.cky_i, ex.sai_b, idir_b]),
        None => keys.hash_r(ex, idir_b),
    }
}

/// ECDSA over HASH_I / HASH_R as given (the hash named here is not applied).
const ECDSA_ON_HASH: SignatureAlgorithm = SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256);

/// What MM5 / MM6 (or AM2 / AM3) carried for signature authentication.
#[derive(Debug, Default)]
pub struct SignaturePayloads {
    /// X.509 certificates (CERT payloads), in order; at most [`MAX_CHAIN_DEPTH`].
    pub certs: Vec<Vec<u8>>,
    /// The SIG payload.
    pub signature: Option<Vec<u8>>,
}

impl SignaturePayloads {
    /// Collects the CERT and SIG payloads of a (decrypted) MM5 / MM6, AM2 or AM3.
    #[must_use]
    pub fn collect(payloads: &[Payload<'_>]) -> Self {
        let mut s = Self::default();
        for p in payloads {
            match p {
                Payload::Certificate(c)
                    if c.encoding == CertEncoding::X509Signature && s.certs.len() < MAX_CHAIN_DEPTH =>
                {
                    s.certs.push(c.data.to_vec());
                }
                Payload::Signature(sig) if s.signature.is_none() => s.signature = Some(sig.to_vec()),
                _ => {}
            }
        }
        s
    }
}

/// The CR payload data we send: the DER subject of each of our CAs (RFC 2408 §3.10).
#[must_use]
pub fn certificate_requests(auth: &CertificateAuth) -> Vec<Vec<u8>> {
    if !auth.send_cert_request {
        return Vec::new();
    }
    auth.trust.cas().iter().map(|ca| ca.subject_der().to_vec()).collect()
}

/// Signs our HASH_I / HASH_R: RSA PKCS#1 v1.5 around the bare hash, or ECDSA with the
/// hash as the digest and `r | s` (strongSwan's `ECDSA_WITH_NULL`).
///
/// # Errors
/// [`Error::Certificate`] when signing fails.
pub fn sign<R: CryptoRng + ?Sized>(
    auth: &CertificateAuth,
    hash: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    if !matches!(*auth.key, PrivateKey::Rsa(_)) {
        return Ok(auth.key.sign_digest(ECDSA_ON_HASH, hash, EcdsaEncoding::Fixed, rng)?);
    }
    Ok(auth.key.sign_raw_pkcs1(hash, rng)?)
}

/// Checks the peer: its certificate chain to our CAs, that its ID (type number, data)
/// names the certificate, and its signature over the expected HASH. Returns the peer's
/// certificate.
///
/// # Errors
/// [`Error::Certificate`] for a refused chain or identity, [`Error::AuthenticationFailed`]
/// for a missing or wrong signature.
pub fn verify(
    auth: &CertificateAuth,
    received: &SignaturePayloads,
    id_type: u8,
    id_data: &[u8],
    expected_hash: &[u8],
) -> Result<Certificate, Error> {
    let signature = received.signature.as_deref().ok_or(Error::AuthenticationFailed)?;
    let certs: Vec<&[u8]> = received.certs.iter().map(Vec::as_slice).collect();
    let (cert, key) = auth.verify_peer(&certs, id_type, id_data)?;
    let checked = match key {
        PublicKey::Rsa(_) => key.verify_raw_pkcs1(expected_hash, signature),
        _ => key.verify_digest(ECDSA_ON_HASH, expected_hash, signature, EcdsaEncoding::Fixed),
    };
    checked.map_err(|e| match e {
        CertError::BadSignature => Error::AuthenticationFailed,
        other => Error::Certificate(other),
    })?;
    Ok(cert)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::CipherAlgorithm;

    /// With an ECDSA method the phase-1 HASHes use HMAC of the method's hash keyed with
    /// SKEYID (48 bytes for ECDSA-384 under an HMAC-SHA1 PRF); otherwise the PRF's.
    #[test]
    fn ecdsa_methods_change_the_hash_prf() {
        let skeyid = PrfAlgorithm::HmacSha1.prf(b"nonces", &[b"g^xy"]);
        let keys = Phase1Keys::derive(
            PrfAlgorithm::HmacSha1,
            CipherAlgorithm::AesCbc128,
            &skeyid,
            b"g^xy",
            &[1; 8],
            &[2; 8],
        );
        let ex = Phase1Exchange { g_xi: b"gxi", g_xr: b"gxr", cky_i: &[1; 8], cky_r: &[2; 8], sai_b: b"sa" };
        let rsa = hash_i(AuthMethod::RsaSignatures, &keys, &ex, b"id");
        assert_eq!(rsa.as_bytes(), keys.hash_i(&ex, b"id").as_bytes());
        let ecdsa = hash_i(AuthMethod::from(AUTH_ECDSA_384), &keys, &ex, b"id");
        let want =
            PrfAlgorithm::HmacSha384.prf(keys.skeyid(), &[b"gxi", b"gxr", &[1; 8], &[2; 8], b"sa", b"id"]);
        assert_eq!(ecdsa.as_bytes().len(), 48);
        assert_eq!(ecdsa.as_bytes(), want.as_bytes());
        let r = hash_r(AuthMethod::from(AUTH_ECDSA_256), &keys, &ex, b"id");
        let want =
            PrfAlgorithm::HmacSha256.prf(keys.skeyid(), &[b"gxr", b"gxi", &[2; 8], &[1; 8], b"sa", b"id"]);
        assert_eq!(r.as_bytes(), want.as_bytes());
        assert!(same_auth_family(AuthMethod::from(AUTH_ECDSA_384), AuthMethod::from(AUTH_ECDSA_256)));
        assert!(!same_auth_family(AuthMethod::RsaSignatures, AuthMethod::from(AUTH_ECDSA_256)));
        assert!(!same_auth_family(AuthMethod::PreSharedKey, AuthMethod::RsaSignatures));
    }
}

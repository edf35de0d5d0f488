//! IKEv1 phase 1 authenticated with RSA signatures (RFC 2409 §5.1, auth method 3):
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

use crate::Error;
use crate::cert::{CertError, Certificate, CertificateAuth, MAX_CHAIN_DEPTH};
use crate::wire::v1::{CertEncoding, Payload};

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

/// Signs our HASH_I / HASH_R.
///
/// # Errors
/// [`Error::Certificate`] when the key is not RSA or signing fails.
pub fn sign<R: CryptoRng + ?Sized>(
    auth: &CertificateAuth,
    hash: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
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
    key.verify_raw_pkcs1(expected_hash, signature).map_err(|e| match e {
        CertError::BadSignature => Error::AuthenticationFailed,
        other => Error::Certificate(other),
    })?;
    Ok(cert)
}

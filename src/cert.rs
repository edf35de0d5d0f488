//! Certificate authentication for the server and the client: loading the certificate,
//! key and CA files named on the command line into an
//! [`l2sec_ike::cert::CertificateAuth`], the IKE identities that go with it, and the
//! wall-clock time the IKE machines check validity periods against.
//!
//! The IKE crate reads no clock: [`CertificateAuth::now`] is fixed when the value is
//! built, so the owner refreshes it ([`wall_clock`]) before each new machine: the server
//! before every IKE datagram it routes (`IkeV1Server::set_wall_clock`,
//! `IkeV2Server::set_wall_clock`), the client before each connection.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use l2sec_ike::cert::{CertError, Certificate, CertificateAuth, PrivateKey, TrustStore, UnixTime};

/// Why the certificate files could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertLoadError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable certificate or key, or the key does not belong to the
    /// certificate.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: CertError,
    },
}

/// The three files of certificate authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// Our certificate (PEM: the end entity first, then any intermediate CAs to send; or
    /// one DER certificate).
    pub cert: PathBuf,
    /// Its private key (PEM or DER: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CA certificates a peer's certificate must chain to (PEM bundle or one DER).
    pub ca: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>, CertLoadError> {
    std::fs::read(path).map_err(|source| CertLoadError::Read { path: path.to_owned(), source })
}

fn bad(path: &Path) -> impl Fn(CertError) -> CertLoadError + '_ {
    move |source| CertLoadError::Invalid { path: path.to_owned(), source }
}

fn is_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

impl CertFiles {
    /// Reads and checks the files: the key must belong to the certificate. The result's
    /// `now` is the current wall-clock time.
    ///
    /// # Errors
    /// [`CertLoadError`] naming the file at fault.
    pub fn load(&self) -> Result<CertificateAuth, CertLoadError> {
        let data = read(&self.cert)?;
        let chain = if is_pem(&data) {
            Certificate::pem_chain(&data).map_err(bad(&self.cert))?
        } else {
            vec![Certificate::from_der(&data).map_err(bad(&self.cert))?]
        };
        let key = PrivateKey::from_der_or_pem(&zeroize::Zeroizing::new(read(&self.key)?))
            .map_err(bad(&self.key))?;
        let data = read(&self.ca)?;
        let trust = if is_pem(&data) {
            TrustStore::from_pem_bundle(&data).map_err(bad(&self.ca))?
        } else {
            let mut t = TrustStore::new();
            t.add(Certificate::from_der(&data).map_err(bad(&self.ca))?).map_err(bad(&self.ca))?;
            t
        };
        if trust.cas().is_empty() {
            return Err(bad(&self.ca)(CertError::UnknownIssuer));
        }
        CertificateAuth::new(chain, key, trust, wall_clock()).map_err(bad(&self.key))
    }
}

/// The current wall-clock time, for [`CertificateAuth::now`].
#[must_use]
pub fn wall_clock() -> UnixTime {
    UnixTime::from(SystemTime::now())
}

/// Our subject DN, the identity that goes with a certificate (RFC 4945 §3.1.5); empty if
/// the chain is empty.
fn subject(auth: &CertificateAuth) -> Vec<u8> {
    auth.certificate().map(|c| c.subject_der().to_vec()).unwrap_or_default()
}

/// The IKEv1 identity for `auth`: ID_DER_ASN1_DN of our certificate's subject.
#[must_use]
pub fn v1_identity(auth: &CertificateAuth) -> l2sec_ike::v1::phase1::Identity {
    l2sec_ike::v1::phase1::Identity { id_type: l2sec_ike::wire::v1::IdType::DerAsn1Dn, data: subject(auth) }
}

/// The IKEv2 identity for `auth`: ID_DER_ASN1_DN of our certificate's subject.
#[must_use]
pub fn v2_identity(auth: &CertificateAuth) -> l2sec_ike::v2::ike_sa::Identity {
    l2sec_ike::v2::ike_sa::Identity { id_type: l2sec_ike::wire::v2::IdType::DerAsn1Dn, data: subject(auth) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pki(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/certs").join(name)
    }

    #[test]
    fn loads_the_test_pki_and_refuses_a_foreign_key() {
        let files = CertFiles { cert: pki("server.pem"), key: pki("server.key"), ca: pki("ca.pem") };
        let auth = files.load().unwrap();
        assert_eq!(auth.trust.cas().len(), 1);
        assert!(auth.certificate().unwrap().subject_string().contains("vpn.l2sec.test"));
        assert_eq!(v1_identity(&auth).data, auth.chain[0].subject_der());
        assert!(auth.now.0 > 1_700_000_000);
        let mismatched = CertFiles { key: pki("client.key"), ..files.clone() };
        let e = mismatched.load().unwrap_err();
        assert!(matches!(e, CertLoadError::Invalid { ref path, .. } if path.ends_with("client.key")), "{e}");
        let missing = CertFiles { ca: pki("nope.pem"), ..files };
        assert!(matches!(missing.load(), Err(CertLoadError::Read { .. })));
    }
}

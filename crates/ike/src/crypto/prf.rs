//! HMAC pseudo-random functions and the plain hashes behind them.
//!
//! RFC 2409 §4: IKEv1 uses the HMAC form of the negotiated hash as its PRF unless a PRF is
//! negotiated separately; the phase-1 and phase-2 IVs use the plain hash. RFC 7296 §3.3.2
//! lists the same HMACs as IKEv2 PRFs (PRF_HMAC_MD5 = 1, PRF_HMAC_SHA1 = 2,
//! PRF_HMAC_SHA2_256/384/512 = 5/6/7).

use core::fmt;

use digest::Digest;
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The longest output of any algorithm here (SHA-512).
pub const MAX_OUTPUT_LEN: usize = 64;

/// A hash algorithm used as HMAC PRF (and, for IKEv1 IVs, as a plain hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrfAlgorithm {
    /// HMAC-MD5 (RFC 2104); legacy, kept for old peers.
    HmacMd5,
    /// HMAC-SHA1.
    HmacSha1,
    /// HMAC-SHA2-256 (RFC 4868).
    HmacSha256,
    /// HMAC-SHA2-384 (RFC 4868).
    HmacSha384,
    /// HMAC-SHA2-512 (RFC 4868).
    HmacSha512,
}

impl PrfAlgorithm {
    /// Length of the PRF (and hash) output in bytes.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::HmacMd5 => 16,
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }

    /// RFC 2409 Appendix A: the IKEv1 Hash Algorithm attribute value (1 MD5, 2 SHA,
    /// 4 SHA2-256, 5 SHA2-384, 6 SHA2-512; RFC 4868 §4 for the SHA-2 values).
    #[must_use]
    pub const fn from_ikev1_hash(id: u16) -> Option<Self> {
        match id {
            1 => Some(Self::HmacMd5),
            2 => Some(Self::HmacSha1),
            4 => Some(Self::HmacSha256),
            5 => Some(Self::HmacSha384),
            6 => Some(Self::HmacSha512),
            _ => None,
        }
    }

    /// The IKEv1 Hash Algorithm attribute value of this algorithm.
    #[must_use]
    pub const fn ikev1_hash_id(self) -> u16 {
        match self {
            Self::HmacMd5 => 1,
            Self::HmacSha1 => 2,
            Self::HmacSha256 => 4,
            Self::HmacSha384 => 5,
            Self::HmacSha512 => 6,
        }
    }

    /// `prf(key, parts[0] | parts[1] | ...)`: HMAC over the concatenation of `parts`.
    #[must_use]
    pub fn prf(self, key: &[u8], parts: &[&[u8]]) -> PrfOutput {
        fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]], out: &mut PrfOutput) {
            // HMAC takes keys of any length (RFC 2104 §2), so this cannot fail.
            let mut mac = <M as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
            for part in parts {
                mac.update(part);
            }
            let tag = mac.finalize().into_bytes();
            out.set(&tag);
        }
        let mut out = PrfOutput::empty();
        match self {
            Self::HmacMd5 => run::<Hmac<md5::Md5>>(key, parts, &mut out),
            Self::HmacSha1 => run::<Hmac<sha1::Sha1>>(key, parts, &mut out),
            Self::HmacSha256 => run::<Hmac<sha2::Sha256>>(key, parts, &mut out),
            Self::HmacSha384 => run::<Hmac<sha2::Sha384>>(key, parts, &mut out),
            Self::HmacSha512 => run::<Hmac<sha2::Sha512>>(key, parts, &mut out),
        }
        out
    }

    /// The plain hash of the concatenation of `parts` (RFC 2409 §5 IV computation).
    #[must_use]
    pub fn hash(self, parts: &[&[u8]]) -> PrfOutput {
        fn run<D: Digest>(parts: &[&[u8]], out: &mut PrfOutput) {
            let mut d = D::new();
            for part in parts {
                d.update(part);
            }
            out.set(&d.finalize());
        }
        let mut out = PrfOutput::empty();
        match self {
            Self::HmacMd5 => run::<md5::Md5>(parts, &mut out),
            Self::HmacSha1 => run::<sha1::Sha1>(parts, &mut out),
            Self::HmacSha256 => run::<sha2::Sha256>(parts, &mut out),
            Self::HmacSha384 => run::<sha2::Sha384>(parts, &mut out),
            Self::HmacSha512 => run::<sha2::Sha512>(parts, &mut out),
        }
        out
    }
}

/// The output of a PRF or hash: up to [`MAX_OUTPUT_LEN`] bytes, wiped on drop, compared in
/// constant time, never shown by `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrfOutput {
    bytes: [u8; MAX_OUTPUT_LEN],
    len: usize,
}

impl PrfOutput {
    const fn empty() -> Self {
        Self { bytes: [0; MAX_OUTPUT_LEN], len: 0 }
    }

    fn set(&mut self, data: &[u8]) {
        let n = data.len().min(MAX_OUTPUT_LEN);
        self.bytes[..n].copy_from_slice(&data[..n]);
        self.len = n;
    }

    /// The output bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Output length in bytes.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True for an empty output (never produced by a PRF).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Constant-time comparison with received bytes (an authenticator from the peer).
    #[must_use]
    pub fn ct_eq_bytes(&self, other: &[u8]) -> bool {
        self.as_bytes().ct_eq(other).into()
    }
}

impl AsRef<[u8]> for PrfOutput {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for PrfOutput {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq_bytes(other.as_bytes())
    }
}

impl Eq for PrfOutput {}

impl fmt::Debug for PrfOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrfOutput({} bytes, redacted)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 2202 §2 test case 2 (HMAC-MD5) and §3 test case 2 (HMAC-SHA-1).
    #[test]
    fn rfc2202_md5_sha1() {
        let out = PrfAlgorithm::HmacMd5.prf(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(out.as_bytes(), h("750c783e6ab0b503eaa86e310a5db738"));
        let out = PrfAlgorithm::HmacSha1.prf(b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(out.as_bytes(), h("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"));
    }

    /// RFC 4231 §4.3 test case 2 for the SHA-2 HMACs.
    #[test]
    fn rfc4231_case2() {
        let data: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];
        assert_eq!(
            PrfAlgorithm::HmacSha256.prf(b"Jefe", data).as_bytes(),
            h("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(
            PrfAlgorithm::HmacSha384.prf(b"Jefe", data).as_bytes(),
            h(concat!(
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e",
                "8e2240ca5e69e2c78b3239ecfab21649"
            ))
        );
        assert_eq!(
            PrfAlgorithm::HmacSha512.prf(b"Jefe", data).as_bytes(),
            h(concat!(
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554",
                "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
            ))
        );
    }

    /// FIPS 180 "abc" digests.
    #[test]
    fn plain_hashes() {
        assert_eq!(
            PrfAlgorithm::HmacMd5.hash(&[b"a", b"bc"]).as_bytes(),
            h("900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(
            PrfAlgorithm::HmacSha1.hash(&[b"abc"]).as_bytes(),
            h("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            PrfAlgorithm::HmacSha256.hash(&[b"abc"]).as_bytes(),
            h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(PrfAlgorithm::HmacSha384.hash(&[b"abc"]).len(), 48);
        assert_eq!(PrfAlgorithm::HmacSha512.hash(&[b"abc"]).len(), 64);
    }

    #[test]
    fn ikev1_ids_round_trip_and_debug_hides_bytes() {
        for id in 0..10 {
            if let Some(a) = PrfAlgorithm::from_ikev1_hash(id) {
                assert_eq!(a.ikev1_hash_id(), id);
                assert_eq!(a.prf(b"k", &[b"x"]).len(), a.output_len());
            }
        }
        let out = PrfAlgorithm::HmacSha1.prf(b"Jefe", &[b"what do ya want for nothing?"]);
        assert!(!format!("{out:?}").contains("effc"));
        assert!(out.ct_eq_bytes(&h("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")));
        assert!(!out.ct_eq_bytes(&h("effcdf6ae5eb2fa2d27416d5f184df9c259a7c78")));
    }
}

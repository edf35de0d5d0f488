//! IKEv1 key derivation and authentication hashes (RFC 2409 §5, §5.5, Appendix B).
//!
//! Names follow RFC 2409: `Ni_b`/`Nr_b` are nonce payload *bodies*, `SAi_b` the initiator's
//! whole SA payload body, `IDii_b`/`IDir_b` the phase-1 ID payload bodies, `CKY-I`/`CKY-R`
//! the cookies, `g^xi`/`g^xr` the public values and `g^xy` the shared secret.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::{CipherAlgorithm, PrfAlgorithm, PrfOutput};

/// Secret key material of variable length, wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps bytes.
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&PrfOutput> for SecretBytes {
    fn from(p: &PrfOutput) -> Self {
        Self(p.as_bytes().to_vec())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes, redacted)", self.0.len())
    }
}

/// RFC 2409 §5: SKEYID for pre-shared key authentication,
/// `prf(pre-shared-key, Ni_b | Nr_b)`.
#[must_use]
pub fn skeyid_psk(prf: PrfAlgorithm, psk: &[u8], ni_b: &[u8], nr_b: &[u8]) -> PrfOutput {
    prf.prf(psk, &[ni_b, nr_b])
}

/// RFC 2409 §5: SKEYID for signature authentication, `prf(Ni_b | Nr_b, g^xy)`.
#[must_use]
pub fn skeyid_signature(prf: PrfAlgorithm, ni_b: &[u8], nr_b: &[u8], g_xy: &[u8]) -> PrfOutput {
    let key = Zeroizing::new([ni_b, nr_b].concat());
    prf.prf(&key, &[g_xy])
}

/// RFC 2409 Appendix B: stretches `SKEYID_e` to a cipher key when the PRF output is too
/// short: `Ka = K1 | K2 | ...` with `K1 = prf(SKEYID_e, 0)`, `Kn = prf(SKEYID_e, Kn-1)`;
/// otherwise `Ka` is the leading bytes of `SKEYID_e`.
#[must_use]
pub fn encryption_key(prf: PrfAlgorithm, skeyid_e: &[u8], key_len: usize) -> SecretBytes {
    if skeyid_e.len() >= key_len {
        return SecretBytes(skeyid_e[..key_len].to_vec());
    }
    let mut ka = Vec::with_capacity(key_len + prf.output_len());
    let mut k = prf.prf(skeyid_e, &[&[0]]);
    ka.extend_from_slice(k.as_bytes());
    while ka.len() < key_len {
        k = prf.prf(skeyid_e, &[k.as_bytes()]);
        ka.extend_from_slice(k.as_bytes());
    }
    ka.truncate(key_len);
    SecretBytes(ka)
}

/// The keys of an ISAKMP SA (RFC 2409 §5).
#[derive(Clone, PartialEq, Eq)]
pub struct Phase1Keys {
    prf: PrfAlgorithm,
    cipher: CipherAlgorithm,
    skeyid: SecretBytes,
    skeyid_d: SecretBytes,
    skeyid_a: SecretBytes,
    skeyid_e: SecretBytes,
    encryption_key: SecretBytes,
}

impl fmt::Debug for Phase1Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Phase1Keys")
            .field("prf", &self.prf)
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl Phase1Keys {
    /// RFC 2409 §5: from SKEYID derives
    /// `SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)`,
    /// `SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)`,
    /// `SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)`
    /// and the cipher key `Ka` (Appendix B).
    #[must_use]
    pub fn derive(
        prf: PrfAlgorithm,
        cipher: CipherAlgorithm,
        skeyid: &PrfOutput,
        g_xy: &[u8],
        cky_i: &[u8; 8],
        cky_r: &[u8; 8],
    ) -> Self {
        let k = skeyid.as_bytes();
        let d = prf.prf(k, &[g_xy, cky_i, cky_r, &[0]]);
        let a = prf.prf(k, &[d.as_bytes(), g_xy, cky_i, cky_r, &[1]]);
        let e = prf.prf(k, &[a.as_bytes(), g_xy, cky_i, cky_r, &[2]]);
        let encryption_key = encryption_key(prf, e.as_bytes(), cipher.key_len());
        Self {
            prf,
            cipher,
            skeyid: skeyid.into(),
            skeyid_d: (&d).into(),
            skeyid_a: (&a).into(),
            skeyid_e: (&e).into(),
            encryption_key,
        }
    }

    /// The negotiated PRF.
    #[must_use]
    pub const fn prf(&self) -> PrfAlgorithm {
        self.prf
    }

    /// The negotiated cipher.
    #[must_use]
    pub const fn cipher(&self) -> CipherAlgorithm {
        self.cipher
    }

    /// SKEYID.
    #[must_use]
    pub fn skeyid(&self) -> &[u8] {
        self.skeyid.as_bytes()
    }

    /// SKEYID_d: keys phase-2 KEYMAT.
    #[must_use]
    pub fn skeyid_d(&self) -> &[u8] {
        self.skeyid_d.as_bytes()
    }

    /// SKEYID_a: keys the phase-2 and informational HASHes.
    #[must_use]
    pub fn skeyid_a(&self) -> &[u8] {
        self.skeyid_a.as_bytes()
    }

    /// SKEYID_e.
    #[must_use]
    pub fn skeyid_e(&self) -> &[u8] {
        self.skeyid_e.as_bytes()
    }

    /// Ka, the cipher key that protects ISAKMP messages.
    #[must_use]
    pub fn encryption_key(&self) -> &[u8] {
        self.encryption_key.as_bytes()
    }

    /// RFC 2409 §5: `HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)`.
    #[must_use]
    pub fn hash_i(&self, ex: &Phase1Exchange<'_>, idii_b: &[u8]) -> PrfOutput {
        self.prf.prf(self.skeyid(), &[ex.g_xi, ex.g_xr, ex.cky_i, ex.cky_r, ex.sai_b, idii_b])
    }

    /// RFC 2409 §5: `HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)`.
    #[must_use]
    pub fn hash_r(&self, ex: &Phase1Exchange<'_>, idir_b: &[u8]) -> PrfOutput {
        self.prf.prf(self.skeyid(), &[ex.g_xr, ex.g_xi, ex.cky_r, ex.cky_i, ex.sai_b, idir_b])
    }

    /// RFC 2409 §5.5: Quick Mode
    /// `HASH(1) = prf(SKEYID_a, M-ID | <payloads after HASH(1)>)`; also the HASH(1) of an
    /// informational exchange (§5.7, `M-ID | N/D`).
    #[must_use]
    pub fn quick_hash1(&self, message_id: u32, after_hash: &[u8]) -> PrfOutput {
        self.prf.prf(self.skeyid_a(), &[&message_id.to_be_bytes(), after_hash])
    }

    /// RFC 2409 §5.5: `HASH(2) = prf(SKEYID_a, M-ID | Ni_b | <payloads after HASH(2)>)`.
    #[must_use]
    pub fn quick_hash2(&self, message_id: u32, ni_b: &[u8], after_hash: &[u8]) -> PrfOutput {
        self.prf.prf(self.skeyid_a(), &[&message_id.to_be_bytes(), ni_b, after_hash])
    }

    /// RFC 2409 §5.5: `HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)`.
    #[must_use]
    pub fn quick_hash3(&self, message_id: u32, ni_b: &[u8], nr_b: &[u8]) -> PrfOutput {
        self.prf.prf(self.skeyid_a(), &[&[0], &message_id.to_be_bytes(), ni_b, nr_b])
    }

    /// RFC 2409 §5.5: KEYMAT for the SA with `spi` of `protocol` (3 = ESP), stretched to
    /// `len` bytes: `K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)`,
    /// `Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)`.
    /// `pfs_g_xy` is the Quick Mode shared secret when PFS was negotiated.
    #[must_use]
    pub fn keymat(
        &self,
        pfs_g_xy: Option<&[u8]>,
        protocol: u8,
        spi: &[u8],
        ni_b: &[u8],
        nr_b: &[u8],
        len: usize,
    ) -> SecretBytes {
        let g = pfs_g_xy.unwrap_or(&[]);
        let mut out = Vec::with_capacity(len + self.prf.output_len());
        let mut k = self.prf.prf(self.skeyid_d(), &[g, &[protocol], spi, ni_b, nr_b]);
        out.extend_from_slice(k.as_bytes());
        while out.len() < len {
            k = self.prf.prf(self.skeyid_d(), &[k.as_bytes(), g, &[protocol], spi, ni_b, nr_b]);
            out.extend_from_slice(k.as_bytes());
        }
        out.truncate(len);
        SecretBytes(out)
    }

    /// RFC 2409 §5 / Appendix B: the first phase-1 IV, `hash(g^xi | g^xr)` cut to the
    /// cipher block.
    #[must_use]
    pub fn initial_iv(&self, g_xi: &[u8], g_xr: &[u8]) -> Iv {
        Iv::from_hash(&self.prf.hash(&[g_xi, g_xr]), self.cipher.block_len())
    }

    /// RFC 2409 Appendix B: the first IV of a phase-2 or informational exchange,
    /// `hash(last phase-1 CBC output block | M-ID)` cut to the cipher block.
    #[must_use]
    pub fn phase2_iv(&self, last_phase1_block: &Iv, message_id: u32) -> Iv {
        Iv::from_hash(
            &self.prf.hash(&[last_phase1_block.as_bytes(), &message_id.to_be_bytes()]),
            self.cipher.block_len(),
        )
    }
}

/// The public values of a phase-1 exchange that its HASH_I / HASH_R cover.
#[derive(Debug, Clone, Copy)]
pub struct Phase1Exchange<'a> {
    /// The initiator's DH public value (KE body).
    pub g_xi: &'a [u8],
    /// The responder's DH public value.
    pub g_xr: &'a [u8],
    /// Initiator cookie.
    pub cky_i: &'a [u8; 8],
    /// Responder cookie.
    pub cky_r: &'a [u8; 8],
    /// The initiator's whole SA payload body.
    pub sai_b: &'a [u8],
}

/// A CBC IV (8 or 16 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Iv {
    bytes: [u8; 16],
    len: usize,
}

impl Iv {
    /// An IV from bytes (at most 16 are kept).
    #[must_use]
    pub fn new(bytes: &[u8]) -> Self {
        let len = bytes.len().min(16);
        let mut b = [0u8; 16];
        b[..len].copy_from_slice(&bytes[..len]);
        Self { bytes: b, len }
    }

    fn from_hash(h: &PrfOutput, block: usize) -> Self {
        Self::new(&h.as_bytes()[..block.min(h.len())])
    }

    /// The IV bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Debug for Iv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iv(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appendix B expansion: with HMAC-MD5 (16 bytes) and a 32-byte AES-256 key,
    /// Ka = prf(SKEYID_e, 0) | prf(SKEYID_e, K1).
    #[test]
    fn ka_expansion_when_skeyid_e_is_short() {
        let e = [7u8; 16];
        let ka = encryption_key(PrfAlgorithm::HmacMd5, &e, 32);
        let k1 = PrfAlgorithm::HmacMd5.prf(&e, &[&[0]]);
        let k2 = PrfAlgorithm::HmacMd5.prf(&e, &[k1.as_bytes()]);
        assert_eq!(&ka.as_bytes()[..16], k1.as_bytes());
        assert_eq!(&ka.as_bytes()[16..], k2.as_bytes());
        // 3DES with SHA-1: 20 < 24, so expand too; the key is not a prefix of SKEYID_e.
        let e = [9u8; 20];
        let ka = encryption_key(PrfAlgorithm::HmacSha1, &e, 24);
        assert_eq!(ka.as_bytes().len(), 24);
        assert_ne!(&ka.as_bytes()[..20], &e[..]);
        // Long enough: a prefix.
        let ka = encryption_key(PrfAlgorithm::HmacSha256, &[3u8; 32], 16);
        assert_eq!(ka.as_bytes(), &[3u8; 16]);
        assert!(!format!("{ka:?}").contains("03"));
    }
}

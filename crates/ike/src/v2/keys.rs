//! IKEv2 key schedule (RFC 7296 §2.13, §2.14, §2.17) and the protection of SK payloads
//! (RFC 7296 §3.14 with AES-CBC and an HMAC, RFC 5282 with AES-GCM).

use core::fmt;

use aead::consts::U12;
use aead::{AeadInOut, KeyInit};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::Error;
use crate::child::{EspEncryption, EspIntegrity, EspKeys};
use crate::crypto::{CipherAlgorithm, DhGroup, PrfAlgorithm};
use crate::wire::v2::{
    EncryptionId, Header, IntegrityId, KeyExchangeId, Message, MessageBuilder, Payload, PayloadType, PrfId,
    Transform, pad, unpad,
};

/// RFC 7296 §2.13: `prf+ (K,S) = T1 | T2 | T3 | ...` with `T1 = prf(K, S | 0x01)` and
/// `Tn = prf(K, Tn-1 | S | n)`, truncated to `len` bytes. The counter is one byte, so
/// at most 255 blocks can be produced.
///
/// # Errors
/// [`Error::Configuration`] when `len` needs more than 255 PRF blocks.
pub fn prf_plus(prf: PrfAlgorithm, key: &[u8], seed: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let block = prf.output_len();
    if len > block * 255 {
        return Err(Error::Configuration("prf+ output longer than 255 blocks"));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(len + block));
    let mut previous: Option<crate::crypto::PrfOutput> = None;
    let mut counter = 1u8;
    while out.len() < len {
        let t = match &previous {
            None => prf.prf(key, &[seed, &[counter]]),
            Some(p) => prf.prf(key, &[p.as_bytes(), seed, &[counter]]),
        };
        out.extend_from_slice(t.as_bytes());
        previous = Some(t);
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    Ok(out)
}

/// RFC 7296 §3.3.2 Transform Type 1 for the IKE SA: the SK payload cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IkeEncryption {
    /// ENCR_AES_CBC (12) with a 16, 24 or 32 byte key (RFC 3602); needs an integrity
    /// transform.
    AesCbc {
        /// Key length in bytes.
        key_len: usize,
    },
    /// ENCR_AES_GCM_16 (20, RFC 5282): combined mode, 16-byte ICV, 8-byte explicit IV;
    /// the key material also holds a 4-byte salt.
    AesGcm16 {
        /// AES key length in bytes (without the salt).
        key_len: usize,
    },
}

impl IkeEncryption {
    /// The transform as sent in an SA payload (with its Key Length attribute).
    #[must_use]
    pub fn transform(self) -> Transform<'static> {
        match self {
            Self::AesCbc { key_len } => Transform::encryption(EncryptionId::AesCbc, Some(key_bits(key_len))),
            Self::AesGcm16 { key_len } => {
                Transform::encryption(EncryptionId::AesGcm16, Some(key_bits(key_len)))
            }
        }
    }

    /// The cipher named by a received transform, if supported.
    #[must_use]
    pub fn from_transform(t: &Transform<'_>) -> Option<Self> {
        let key_len = match t.key_length()? {
            128 => 16,
            192 => 24,
            256 => 32,
            _ => return None,
        };
        match EncryptionId::from(t.transform_id) {
            EncryptionId::AesCbc => Some(Self::AesCbc { key_len }),
            EncryptionId::AesGcm16 => Some(Self::AesGcm16 { key_len }),
            _ => None,
        }
    }

    /// Bytes of SK_e* (RFC 5282 §7.1: AES-GCM key plus 4-byte salt).
    #[must_use]
    pub const fn key_material_len(self) -> usize {
        match self {
            Self::AesCbc { key_len } => key_len,
            Self::AesGcm16 { key_len } => key_len + 4,
        }
    }

    /// IV length in the SK payload.
    #[must_use]
    pub const fn iv_len(self) -> usize {
        match self {
            Self::AesCbc { .. } => 16,
            Self::AesGcm16 { .. } => 8,
        }
    }

    /// True for combined-mode (AEAD) ciphers, which take no integrity transform.
    #[must_use]
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm16 { .. })
    }

    /// The same algorithm for ESP (for Child SAs).
    #[must_use]
    pub const fn esp(self) -> EspEncryption {
        match self {
            Self::AesCbc { key_len } => EspEncryption::AesCbc { key_len },
            Self::AesGcm16 { key_len } => EspEncryption::AesGcm16 { key_len },
        }
    }

    fn cbc(self) -> Option<CipherAlgorithm> {
        match self {
            Self::AesCbc { key_len: 16 } => Some(CipherAlgorithm::AesCbc128),
            Self::AesCbc { key_len: 24 } => Some(CipherAlgorithm::AesCbc192),
            Self::AesCbc { key_len: 32 } => Some(CipherAlgorithm::AesCbc256),
            _ => None,
        }
    }
}

fn key_bits(key_len: usize) -> u16 {
    u16::try_from(key_len * 8).unwrap_or(u16::MAX)
}

/// RFC 7296 §3.3.2 Transform Type 3: the integrity algorithm of SK payloads
/// (RFC 2404, RFC 4868).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IkeIntegrity {
    /// AUTH_HMAC_SHA1_96 (2).
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (12).
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (13).
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (14).
    HmacSha512_256,
}

impl IkeIntegrity {
    /// IANA transform ID.
    #[must_use]
    pub const fn id(self) -> IntegrityId {
        match self {
            Self::HmacSha1_96 => IntegrityId::HmacSha1_96,
            Self::HmacSha256_128 => IntegrityId::HmacSha2_256_128,
            Self::HmacSha384_192 => IntegrityId::HmacSha2_384_192,
            Self::HmacSha512_256 => IntegrityId::HmacSha2_512_256,
        }
    }

    /// The algorithm for a transform ID, if supported.
    #[must_use]
    pub fn from_id(id: IntegrityId) -> Option<Self> {
        [Self::HmacSha1_96, Self::HmacSha256_128, Self::HmacSha384_192, Self::HmacSha512_256]
            .into_iter()
            .find(|a| a.id() == id)
    }

    /// The underlying HMAC.
    #[must_use]
    pub const fn hmac(self) -> PrfAlgorithm {
        match self {
            Self::HmacSha1_96 => PrfAlgorithm::HmacSha1,
            Self::HmacSha256_128 => PrfAlgorithm::HmacSha256,
            Self::HmacSha384_192 => PrfAlgorithm::HmacSha384,
            Self::HmacSha512_256 => PrfAlgorithm::HmacSha512,
        }
    }

    /// Key length (the full hash output, RFC 4868 §2.1.1).
    #[must_use]
    pub const fn key_len(self) -> usize {
        self.hmac().output_len()
    }

    /// Truncated ICV length.
    #[must_use]
    pub const fn icv_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 12,
            Self::HmacSha256_128 => 16,
            Self::HmacSha384_192 => 24,
            Self::HmacSha512_256 => 32,
        }
    }

    /// The same algorithm for ESP.
    #[must_use]
    pub const fn esp(self) -> EspIntegrity {
        match self {
            Self::HmacSha1_96 => EspIntegrity::HmacSha1_96,
            Self::HmacSha256_128 => EspIntegrity::HmacSha256_128,
            Self::HmacSha384_192 => EspIntegrity::HmacSha384_192,
            Self::HmacSha512_256 => EspIntegrity::HmacSha512_256,
        }
    }
}

/// RFC 7296 §3.3.2 Transform Type 2: the PRF id of a [`PrfAlgorithm`].
#[must_use]
pub const fn prf_id(prf: PrfAlgorithm) -> PrfId {
    match prf {
        PrfAlgorithm::HmacMd5 => PrfId::HmacMd5,
        PrfAlgorithm::HmacSha1 => PrfId::HmacSha1,
        PrfAlgorithm::HmacSha256 => PrfId::HmacSha2_256,
        PrfAlgorithm::HmacSha384 => PrfId::HmacSha2_384,
        PrfAlgorithm::HmacSha512 => PrfId::HmacSha2_512,
    }
}

/// The PRF for a transform ID (MD5 is refused for IKEv2 here).
#[must_use]
pub fn prf_from_id(id: PrfId) -> Option<PrfAlgorithm> {
    match id {
        PrfId::HmacSha1 => Some(PrfAlgorithm::HmacSha1),
        PrfId::HmacSha2_256 => Some(PrfAlgorithm::HmacSha256),
        PrfId::HmacSha2_384 => Some(PrfAlgorithm::HmacSha384),
        PrfId::HmacSha2_512 => Some(PrfAlgorithm::HmacSha512),
        _ => None,
    }
}

/// The Diffie-Hellman group for a KE transform ID.
#[must_use]
pub fn group_from_id(id: KeyExchangeId) -> Option<DhGroup> {
    DhGroup::ALL.into_iter().find(|g| g.id() == id.value())
}

/// The KE transform ID of a group.
#[must_use]
pub fn group_id(group: DhGroup) -> KeyExchangeId {
    KeyExchangeId::from(group.id())
}

/// A complete IKE SA transform set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeSuite {
    /// SK payload cipher.
    pub encryption: IkeEncryption,
    /// SK payload integrity; `None` for AEAD ciphers.
    pub integrity: Option<IkeIntegrity>,
    /// The PRF.
    pub prf: PrfAlgorithm,
    /// The Diffie-Hellman group.
    pub group: DhGroup,
}

impl IkeSuite {
    /// AES-CBC-128 / HMAC-SHA2-256-128 / PRF-HMAC-SHA2-256 / `group`.
    #[must_use]
    pub const fn aes128_sha256(group: DhGroup) -> Self {
        Self {
            encryption: IkeEncryption::AesCbc { key_len: 16 },
            integrity: Some(IkeIntegrity::HmacSha256_128),
            prf: PrfAlgorithm::HmacSha256,
            group,
        }
    }

    /// AES-CBC-256 / HMAC-SHA2-256-128 / PRF-HMAC-SHA2-256 / `group`.
    #[must_use]
    pub const fn aes256_sha256(group: DhGroup) -> Self {
        Self {
            encryption: IkeEncryption::AesCbc { key_len: 32 },
            integrity: Some(IkeIntegrity::HmacSha256_128),
            prf: PrfAlgorithm::HmacSha256,
            group,
        }
    }

    /// AES-GCM-16 with a `key_len`-byte key / PRF-HMAC-SHA2-256 / `group`.
    #[must_use]
    pub const fn aes_gcm16(key_len: usize, group: DhGroup) -> Self {
        Self {
            encryption: IkeEncryption::AesGcm16 { key_len },
            integrity: None,
            prf: PrfAlgorithm::HmacSha256,
            group,
        }
    }

    /// The transforms of this suite, as offered or accepted in an SA payload.
    #[must_use]
    pub fn transforms(&self) -> Vec<Transform<'static>> {
        let mut t = vec![self.encryption.transform(), Transform::prf(prf_id(self.prf))];
        if let Some(i) = self.integrity {
            t.push(Transform::integrity(i.id()));
        }
        t.push(Transform::key_exchange(group_id(self.group)));
        t
    }

    /// Length of the SK payload ICV.
    #[must_use]
    pub fn icv_len(&self) -> usize {
        self.integrity.map_or(16, IkeIntegrity::icv_len)
    }
}

/// The seven IKE SA secrets (RFC 7296 §2.14). Wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct IkeKeys {
    /// SK_d: derives Child SA keys.
    pub sk_d: Vec<u8>,
    /// SK_ai: integrity of the initiator's messages.
    pub sk_ai: Vec<u8>,
    /// SK_ar: integrity of the responder's messages.
    pub sk_ar: Vec<u8>,
    /// SK_ei: encryption of the initiator's messages.
    pub sk_ei: Vec<u8>,
    /// SK_er: encryption of the responder's messages.
    pub sk_er: Vec<u8>,
    /// SK_pi: the initiator's AUTH payload.
    pub sk_pi: Vec<u8>,
    /// SK_pr: the responder's AUTH payload.
    pub sk_pr: Vec<u8>,
}

impl fmt::Debug for IkeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IkeKeys").field("sk_d_len", &self.sk_d.len()).finish_non_exhaustive()
    }
}

/// One direction's SK payload keys.
#[derive(Clone, Copy)]
pub struct SkKeys<'a> {
    /// SK_e (with the salt for AES-GCM).
    pub encryption: &'a [u8],
    /// SK_a (empty for AES-GCM).
    pub integrity: &'a [u8],
}

impl fmt::Debug for SkKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SkKeys(redacted)")
    }
}

impl IkeKeys {
    /// RFC 7296 §2.14: `SKEYSEED = prf(Ni | Nr, g^ir)`. (With AES-XCBC/CMAC PRFs the
    /// nonces would be cut; the HMAC PRFs here take the whole key.)
    #[must_use]
    pub fn skeyseed(prf: PrfAlgorithm, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut key = Zeroizing::new(Vec::with_capacity(ni.len() + nr.len()));
        key.extend_from_slice(ni);
        key.extend_from_slice(nr);
        Zeroizing::new(prf.prf(&key, &[g_ir]).as_bytes().to_vec())
    }

    /// RFC 7296 §2.14: `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
    /// prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)`; SK_d, SK_pi, SK_pr are as long as the PRF
    /// output.
    ///
    /// # Errors
    /// Only for lengths prf+ cannot produce.
    pub fn from_skeyseed(
        suite: &IkeSuite,
        skeyseed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<Self, Error> {
        let prf_len = suite.prf.output_len();
        let a = suite.integrity.map_or(0, IkeIntegrity::key_len);
        let e = suite.encryption.key_material_len();
        let seed = [ni, nr, spi_i, spi_r].concat();
        let stream = prf_plus(suite.prf, skeyseed, &seed, 3 * prf_len + 2 * a + 2 * e)?;
        let mut rest: &[u8] = &stream;
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head.to_vec()
        };
        Ok(Self {
            sk_d: take(prf_len),
            sk_ai: take(a),
            sk_ar: take(a),
            sk_ei: take(e),
            sk_er: take(e),
            sk_pi: take(prf_len),
            sk_pr: take(prf_len),
        })
    }

    /// SKEYSEED and the seven keys from the nonces, the shared secret and the SPIs.
    ///
    /// # Errors
    /// As [`IkeKeys::from_skeyseed`].
    pub fn derive(
        suite: &IkeSuite,
        ni: &[u8],
        nr: &[u8],
        g_ir: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<Self, Error> {
        let skeyseed = Self::skeyseed(suite.prf, ni, nr, g_ir);
        Self::from_skeyseed(suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    /// The keys protecting what the initiator (`initiator == true`) or the responder
    /// sends.
    #[must_use]
    pub fn sender(&self, initiator: bool) -> SkKeys<'_> {
        if initiator {
            SkKeys { encryption: &self.sk_ei, integrity: &self.sk_ai }
        } else {
            SkKeys { encryption: &self.sk_er, integrity: &self.sk_ar }
        }
    }
}

/// RFC 7296 §2.17: Child SA keys, `KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)`, taken
/// as the initiator-to-responder SA's encryption then integrity key, then the same for
/// the responder-to-initiator SA. Returns `(initiator → responder, responder →
/// initiator)`.
///
/// # Errors
/// Only for lengths prf+ cannot produce.
pub fn child_keys(
    prf: PrfAlgorithm,
    sk_d: &[u8],
    g_ir_new: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    encryption: EspEncryption,
    integrity: EspIntegrity,
) -> Result<(EspKeys, EspKeys), Error> {
    let one = encryption.keymat_len() + integrity.keymat_len();
    let seed = Zeroizing::new([g_ir_new.unwrap_or(&[]), ni, nr].concat());
    let keymat = prf_plus(prf, sk_d, &seed, 2 * one)?;
    let split = |k: &[u8]| EspKeys::from_keymat(k, encryption, integrity);
    let bad = || Error::Configuration("KEYMAT split");
    Ok((split(&keymat[..one]).ok_or_else(bad)?, split(&keymat[one..]).ok_or_else(bad)?))
}

/// RFC 7296 §3.14 / RFC 5282: builds a whole protected message: `header`, then an SK
/// payload whose plaintext is the inner payload chain `inner` (first payload type
/// `first_inner`), encrypted and integrity-protected with `keys`. Returns the datagram.
///
/// # Errors
/// Bad key lengths (a bug) or an over-long message.
pub fn seal<R: CryptoRng + ?Sized>(
    suite: &IkeSuite,
    keys: SkKeys<'_>,
    header: &Header,
    first_inner: PayloadType,
    inner: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let mut iv = vec![0u8; suite.encryption.iv_len()];
    rng.fill_bytes(&mut iv);
    seal_with_iv(suite, keys, header, first_inner, None, inner, &iv)
}

/// RFC 7383 §2.5: one Encrypted Fragment message: `header`, then an SKF payload for
/// `fragment` holding this piece of the inner chain (`first_inner` is the chain's first
/// payload type in fragment 1, [`PayloadType::None`] in the others).
///
/// # Errors
/// As [`seal`].
pub fn seal_fragment<R: CryptoRng + ?Sized>(
    suite: &IkeSuite,
    keys: SkKeys<'_>,
    header: &Header,
    first_inner: PayloadType,
    fragment: crate::wire::v2::Fragment,
    piece: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let mut iv = vec![0u8; suite.encryption.iv_len()];
    rng.fill_bytes(&mut iv);
    seal_with_iv(suite, keys, header, first_inner, Some(fragment), piece, &iv)
}

/// [`seal`] with a given IV (for messages that are never sent, e.g. a reassembled
/// message handed to the state machine, a fixed IV makes the result repeatable).
///
/// # Errors
/// As [`seal`].
pub fn seal_with_iv(
    suite: &IkeSuite,
    keys: SkKeys<'_>,
    header: &Header,
    first_inner: PayloadType,
    fragment: Option<crate::wire::v2::Fragment>,
    inner: &[u8],
    iv: &[u8],
) -> Result<Vec<u8>, Error> {
    let iv_len = suite.encryption.iv_len();
    let icv_len = suite.icv_len();
    if iv.len() != iv_len {
        return Err(Error::Configuration("IV length"));
    }
    let mut plaintext = Zeroizing::new(inner.to_vec());
    let block = if suite.encryption.is_aead() { 1 } else { 16 };
    pad(&mut plaintext, 0, block);
    // Lay out IV | ciphertext (placeholder) | ICV (zero) so all lengths are final.
    let mut body = iv.to_vec();
    body.extend_from_slice(&plaintext);
    body.resize(body.len() + icv_len, 0);
    let mut out = Vec::new();
    let mut b = MessageBuilder::new(&mut out, header);
    let payload = match fragment {
        None => Payload::Encrypted(crate::wire::v2::Encrypted { first_inner, data: &body }),
        Some(fragment) => Payload::EncryptedFragment(crate::wire::v2::EncryptedFragment {
            first_inner,
            fragment,
            data: &body,
        }),
    };
    b.push(&payload).map_err(|_| Error::Configuration("message too long"))?;
    b.finish().map_err(|_| Error::Configuration("message too long"))?;
    let total = out.len();
    let ct_start = total - icv_len - plaintext.len();
    let iv_start = ct_start - iv_len;
    match suite.encryption {
        IkeEncryption::AesCbc { .. } => {
            let cipher = suite.encryption.cbc().ok_or(Error::Configuration("AES key length"))?;
            cipher
                .encrypt_in_place(keys.encryption, iv, &mut out[ct_start..total - icv_len])
                .map_err(Error::KeyExchange)?;
            let integ = suite.integrity.ok_or(Error::Configuration("CBC without integrity"))?;
            let mac = integ.hmac().prf(keys.integrity, &[&out[..total - icv_len]]);
            out[total - icv_len..].copy_from_slice(&mac.as_bytes()[..icv_len]);
        }
        IkeEncryption::AesGcm16 { .. } => {
            let (aad, rest) = out.split_at_mut(iv_start);
            let (_, rest) = rest.split_at_mut(iv_len);
            let (ct, icv) = rest.split_at_mut(plaintext.len());
            let tag = gcm(keys.encryption, iv, aad, ct, None)?;
            icv.copy_from_slice(&tag);
        }
    }
    Ok(out)
}

/// AES-GCM over `data` in place: encrypts when `tag` is `None` (returns the tag),
/// otherwise checks `tag` and decrypts.
fn gcm(
    key_and_salt: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &mut [u8],
    tag: Option<&[u8]>,
) -> Result<[u8; 16], Error> {
    fn run<A: AeadInOut + aead::AeadCore<NonceSize = U12> + KeyInit>(
        key: &[u8],
        nonce: &[u8; 12],
        aad: &[u8],
        data: &mut [u8],
        tag: Option<&[u8]>,
    ) -> Result<[u8; 16], Error> {
        let aead = A::new_from_slice(key).map_err(|_| Error::Configuration("AES-GCM key length"))?;
        let nonce = aead::Nonce::<A>::try_from(&nonce[..]).map_err(|_| Error::Configuration("nonce"))?;
        match tag {
            None => {
                let t = aead
                    .encrypt_inout_detached(&nonce, aad, data.into())
                    .map_err(|_| Error::Configuration("message too long for AES-GCM"))?;
                let mut out = [0u8; 16];
                out.copy_from_slice(&t);
                Ok(out)
            }
            Some(tag) => {
                let t = aead::Tag::<A>::try_from(tag)
                    .map_err(|_| Error::UnexpectedMessage("SK payload integrity check failed"))?;
                aead.decrypt_inout_detached(&nonce, aad, data.into(), &t)
                    .map_err(|_| Error::UnexpectedMessage("SK payload integrity check failed"))?;
                Ok([0; 16])
            }
        }
    }
    if key_and_salt.len() < 4 || iv.len() != 8 {
        return Err(Error::Configuration("AES-GCM key material"));
    }
    let (key, salt) = key_and_salt.split_at(key_and_salt.len() - 4);
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(salt);
    nonce[4..].copy_from_slice(iv);
    type Aes192Gcm = aes_gcm::AesGcm<aes::Aes192, U12>;
    match key.len() {
        16 => run::<aes_gcm::Aes128Gcm>(key, &nonce, aad, data, tag),
        24 => run::<Aes192Gcm>(key, &nonce, aad, data, tag),
        32 => run::<aes_gcm::Aes256Gcm>(key, &nonce, aad, data, tag),
        _ => Err(Error::Configuration("AES-GCM key length")),
    }
}

/// A decrypted SK payload: the type of its first inner payload and the inner chain
/// (padding removed), wiped on drop.
#[derive(Debug)]
pub struct Opened {
    /// The first inner payload's type.
    pub first_inner: PayloadType,
    /// The inner payload chain.
    pub chain: Zeroizing<Vec<u8>>,
}

/// RFC 7296 §3.14 / RFC 5282: checks the integrity of a protected message with the
/// sender's `keys` (before decrypting anything, in constant time) and decrypts its SK
/// payload.
///
/// # Errors
/// A malformed message, a failed integrity check, bad padding.
pub fn open(suite: &IkeSuite, keys: SkKeys<'_>, message: &Message<'_>) -> Result<Opened, Error> {
    match open_any(suite, keys, message)? {
        (None, opened) => Ok(opened),
        (Some(_), _) => Err(Error::UnexpectedMessage("an IKE fragment where a whole message was expected")),
    }
}

/// [`open`] for an SK or an SKF (RFC 7383 §2.5) message: each fragment is protected on
/// its own. Returns the fragment's position, if it is one; `first_inner` is then only
/// meaningful in fragment 1.
///
/// # Errors
/// As [`open`].
pub fn open_any(
    suite: &IkeSuite,
    keys: SkKeys<'_>,
    message: &Message<'_>,
) -> Result<(Option<crate::wire::v2::Fragment>, Opened), Error> {
    let iv_len = suite.encryption.iv_len();
    let icv_len = suite.icv_len();
    let view = message.encrypted(iv_len, icv_len)?;
    let mut plaintext = Zeroizing::new(view.ciphertext.to_vec());
    match suite.encryption {
        IkeEncryption::AesCbc { .. } => {
            let integ = suite.integrity.ok_or(Error::Configuration("CBC without integrity"))?;
            let mac = integ.hmac().prf(keys.integrity, &[view.integrity_covered]);
            if !bool::from(mac.as_bytes()[..icv_len].ct_eq(view.icv)) {
                return Err(Error::UnexpectedMessage("SK payload integrity check failed"));
            }
            let cipher = suite.encryption.cbc().ok_or(Error::Configuration("AES key length"))?;
            if plaintext.is_empty() || !plaintext.len().is_multiple_of(16) {
                return Err(Error::UnexpectedMessage("SK ciphertext not block aligned"));
            }
            cipher.decrypt_in_place(keys.encryption, view.iv, &mut plaintext).map_err(Error::KeyExchange)?;
        }
        IkeEncryption::AesGcm16 { .. } => {
            gcm(keys.encryption, view.iv, view.associated_data, &mut plaintext, Some(view.icv))?;
        }
    }
    let chain_len = unpad(&plaintext)?.len();
    plaintext.truncate(chain_len);
    Ok((view.fragment, Opened { first_inner: view.first_inner, chain: plaintext }))
}

#[cfg(test)]
pub(crate) mod tests;

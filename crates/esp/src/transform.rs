//! ESP transforms: the keyed cipher and integrity state of one SA.
//!
//! A [`Transform`] seals and opens the body of an ESP packet in place. The SA code around
//! it handles headers, sequence numbers, padding and replay; a transform only encrypts,
//! authenticates, and checks. Keyed state (AES key schedule, HMAC inner and outer states)
//! is built once when the SA is created; sealing and opening allocate nothing.
//!
//! Backends are chosen through a [`Provider`] (the `CryptoProvider` idea of rustls): the
//! default is RustCrypto; with the `ring` feature, [`Provider::RING`] uses ring's faster
//! AES-GCM. [`Provider::default`] picks the fastest one compiled in.

use core::fmt;

use aead::consts::U12;
use aead::{AeadInOut, KeyInit};
use cipher::{BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::{Encryption, Error, Integrity};

/// Length of the fixed ESP header: SPI and sequence number (RFC 4303 §2).
pub const HEADER_LEN: usize = 8;

/// The keyed cryptographic state of one direction of an SA.
///
/// The packet passed to both methods is laid out as on the wire, from the SPI up to (not
/// including) the ICV: `SPI(4) | Seq(4) | IV(iv_len) | body`, where the body holds the
/// payload, padding, Pad Length and Next Header, and its length is a multiple of
/// [`block_len`](Self::block_len). `seq_high` is the high half of an extended sequence
/// number (RFC 4303 §2.2.1): it is authenticated but never sent.
pub trait Transform: Send + Sync + fmt::Debug {
    /// Bytes of IV carried in each packet.
    fn iv_len(&self) -> usize;
    /// Bytes of ICV (or AEAD tag) appended to each packet.
    fn icv_len(&self) -> usize;
    /// The body is padded to a multiple of this (the cipher block, at least 4).
    fn block_len(&self) -> usize;
    /// Writes the IV for sequence number `seq`, encrypts the body in place and writes
    /// the ICV into `icv` (exactly [`icv_len`](Self::icv_len) bytes).
    fn seal(&self, seq: u64, seq_high: Option<u32>, packet: &mut [u8], icv: &mut [u8]);
    /// Verifies `icv` over the packet and, only if it matches, decrypts the body in place.
    fn open(&self, seq_high: Option<u32>, packet: &mut [u8], icv: &[u8]) -> Result<(), Error>;
}

/// Builds the AES-GCM transform; the rest of the transforms are the same in every provider.
type GcmBuilder = fn(key: &[u8], salt: [u8; 4]) -> Result<Box<dyn Transform>, Error>;

/// A set of transform implementations to build SAs from.
#[derive(Clone, Copy)]
pub struct Provider {
    /// A short name for logs and benchmarks.
    pub name: &'static str,
    aes_gcm: GcmBuilder,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider").field("name", &self.name).finish()
    }
}

impl Provider {
    /// Pure-Rust RustCrypto implementations of every transform.
    pub const RUSTCRYPTO: Provider = Provider { name: "rustcrypto", aes_gcm: rustcrypto_gcm };

    /// `ring`'s AES-GCM (128 and 256-bit keys; 192-bit keys fall back to RustCrypto), with
    /// RustCrypto for everything else.
    #[cfg(feature = "ring")]
    pub const RING: Provider = Provider { name: "ring", aes_gcm: ring_gcm::build };

    /// Builds the transform for an encryption/integrity pair and its keys.
    ///
    /// `enc_key` is the encryption key, followed by the 4-byte salt for AES-GCM (RFC 4106
    /// §8.1). Null encryption without integrity is refused unless `allow_insecure_null` is
    /// set (only for tests and fuzzing; RFC 4303 §3.2 forbids it).
    pub fn build(
        &self,
        encryption: Encryption,
        integrity: Integrity,
        enc_key: &[u8],
        integ_key: &[u8],
        allow_insecure_null: bool,
    ) -> Result<Box<dyn Transform>, Error> {
        use Encryption as E;
        if encryption.is_aead() {
            if integrity != Integrity::None {
                return Err(Error::Config("AES-GCM carries its own integrity; use Integrity::None"));
            }
            let Some((key, salt)) = enc_key.split_last_chunk::<4>() else {
                return Err(Error::Config("AES-GCM key needs a 4-byte salt"));
            };
            return (self.aes_gcm)(key, *salt);
        }
        match (encryption, integrity) {
            (E::Null, Integrity::None) if allow_insecure_null => Ok(Box::new(NullTransform)),
            (_, Integrity::None) => Err(Error::Config("ESP without integrity is refused")),
            (E::Null, i) => with_mac(NullCipher, i, integ_key),
            (E::AesCbc, i) => match enc_key.len() {
                16 => with_mac(Cbc(aes::Aes128::new_from_slice(enc_key).map_err(key_err)?), i, integ_key),
                24 => with_mac(Cbc(aes::Aes192::new_from_slice(enc_key).map_err(key_err)?), i, integ_key),
                32 => with_mac(Cbc(aes::Aes256::new_from_slice(enc_key).map_err(key_err)?), i, integ_key),
                _ => Err(Error::Config("AES-CBC key must be 16, 24 or 32 bytes")),
            },
            (E::TripleDesCbc, i) => {
                if enc_key.len() != 24 {
                    return Err(Error::Config("3DES key must be 24 bytes"));
                }
                with_mac(Cbc(des::TdesEde3::new_from_slice(enc_key).map_err(key_err)?), i, integ_key)
            }
            (E::AesGcm16, _) => unreachable!("AEAD handled above"),
        }
    }
}

impl Default for Provider {
    /// The fastest provider compiled in: `ring` when its feature is on, else RustCrypto.
    fn default() -> Self {
        #[cfg(feature = "ring")]
        return Provider::RING;
        #[cfg(not(feature = "ring"))]
        return Provider::RUSTCRYPTO;
    }
}

fn key_err<E>(_: E) -> Error {
    Error::Config("bad key length")
}

fn with_mac<C: BodyCipher>(cipher: C, integrity: Integrity, key: &[u8]) -> Result<Box<dyn Transform>, Error> {
    let want = integrity.key_len();
    if key.len() != want {
        return Err(Error::Config("integrity key length does not match the algorithm"));
    }
    let icv_len = integrity.icv_len();
    let mac = match integrity {
        Integrity::HmacSha1_96 => Hmac::<sha1::Sha1>::new_from_slice(key).map(AnyMac::Sha1),
        Integrity::HmacSha256_128 | Integrity::HmacSha256_96 => {
            Hmac::<sha2::Sha256>::new_from_slice(key).map(AnyMac::Sha256)
        }
        Integrity::HmacSha384_192 => Hmac::<sha2::Sha384>::new_from_slice(key).map(AnyMac::Sha384),
        Integrity::HmacSha512_256 => Hmac::<sha2::Sha512>::new_from_slice(key).map(AnyMac::Sha512),
        Integrity::None => unreachable!("checked by the caller"),
    }
    .map_err(key_err)?;
    Ok(Box::new(CipherThenMac { cipher, mac, icv_len }))
}

// ---------------------------------------------------------------------------------------
// Encrypt-then-MAC transforms (RFC 3602 / RFC 2451 / RFC 2410 with RFC 2404 / RFC 4868)
// ---------------------------------------------------------------------------------------

/// The encryption half of an encrypt-then-MAC transform.
trait BodyCipher: Send + Sync + fmt::Debug + 'static {
    const IV_LEN: usize;
    const BLOCK_LEN: usize;
    /// Writes a fresh IV for `seq` into `iv` and encrypts `body` in place.
    fn encrypt(&self, spi: [u8; 4], seq: u64, iv: &mut [u8], body: &mut [u8]);
    fn decrypt(&self, iv: &[u8], body: &mut [u8]);
}

/// RFC 2410 NULL encryption: no IV, body in the clear, 4-byte alignment.
#[derive(Debug)]
struct NullCipher;

impl BodyCipher for NullCipher {
    const IV_LEN: usize = 0;
    const BLOCK_LEN: usize = 4;
    fn encrypt(&self, _: [u8; 4], _: u64, _: &mut [u8], _: &mut [u8]) {}
    fn decrypt(&self, _: &[u8], _: &mut [u8]) {}
}

/// CBC mode over a block cipher (AES: RFC 3602; 3DES: RFC 2451).
struct Cbc<C>(C);

impl<C> fmt::Debug for Cbc<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cbc(<keyed cipher>)")
    }
}

impl<C> Cbc<C>
where
    C: BlockCipherEncrypt + BlockCipherDecrypt + Clone,
{
    fn encrypt_with_iv(&self, iv: &cipher::Block<C>, body: &mut [u8]) {
        let mut mode = cbc::Encryptor::<C>::inner_iv_init(self.0.clone(), iv);
        let (blocks, tail) = cipher::inout::InOutBuf::from(body).into_chunks::<C::BlockSize>();
        debug_assert!(tail.is_empty(), "body is padded to whole blocks");
        mode.encrypt_blocks_inout(blocks);
    }
}

impl<C> BodyCipher for Cbc<C>
where
    C: BlockCipherEncrypt + BlockCipherDecrypt + Clone + Send + Sync + 'static,
{
    const IV_LEN: usize = <C::BlockSize as cipher::typenum::Unsigned>::USIZE;
    const BLOCK_LEN: usize = <C::BlockSize as cipher::typenum::Unsigned>::USIZE;

    /// The IV must be unpredictable (RFC 3602 §3). It is the encryption, under the SA's own
    /// key, of a block that is unique per packet (SPI, sequence number and a constant):
    /// NIST SP 800-38A Appendix C's first method. This needs no random number generator on
    /// the hot path and never repeats within an SA.
    fn encrypt(&self, spi: [u8; 4], seq: u64, iv: &mut [u8], body: &mut [u8]) {
        let mut nonce = cipher::Block::<C>::default();
        let n = nonce.len();
        nonce[n - 8..].copy_from_slice(&seq.to_be_bytes());
        if n >= 16 {
            nonce[..4].copy_from_slice(&spi);
            nonce[4..8].copy_from_slice(b"ivgn");
        }
        self.0.encrypt_block(&mut nonce);
        iv.copy_from_slice(&nonce);
        self.encrypt_with_iv(&nonce, body);
    }

    fn decrypt(&self, iv: &[u8], body: &mut [u8]) {
        let iv = cipher::Iv::<cbc::Decryptor<C>>::try_from(iv).expect("IV length fixed by the SA");
        let mut mode = cbc::Decryptor::<C>::inner_iv_init(self.0.clone(), &iv);
        let (blocks, tail) = cipher::inout::InOutBuf::from(body).into_chunks::<C::BlockSize>();
        debug_assert!(tail.is_empty(), "checked by the SA");
        mode.decrypt_blocks_inout(blocks);
    }
}

/// A keyed HMAC, ready to be cloned per packet (cloning copies two hash states).
#[derive(Clone)]
enum AnyMac {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha384(Hmac<sha2::Sha384>),
    Sha512(Hmac<sha2::Sha512>),
}

impl fmt::Debug for AnyMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha1(_) => "HMAC-SHA1(<key>)",
            Self::Sha256(_) => "HMAC-SHA2-256(<key>)",
            Self::Sha384(_) => "HMAC-SHA2-384(<key>)",
            Self::Sha512(_) => "HMAC-SHA2-512(<key>)",
        })
    }
}

impl AnyMac {
    /// Computes the HMAC of `packet || seq_high` and writes its first `out.len()` bytes.
    fn compute(&self, packet: &[u8], seq_high: Option<u32>, out: &mut [u8]) {
        fn run<M: Mac + Clone>(m: &M, packet: &[u8], seq_high: Option<u32>, out: &mut [u8]) {
            let mut m = m.clone();
            m.update(packet);
            if let Some(hi) = seq_high {
                m.update(&hi.to_be_bytes());
            }
            let tag = m.finalize().into_bytes();
            out.copy_from_slice(&tag[..out.len()]);
        }
        match self {
            Self::Sha1(m) => run(m, packet, seq_high, out),
            Self::Sha256(m) => run(m, packet, seq_high, out),
            Self::Sha384(m) => run(m, packet, seq_high, out),
            Self::Sha512(m) => run(m, packet, seq_high, out),
        }
    }
}

#[derive(Debug)]
struct CipherThenMac<C> {
    cipher: C,
    mac: AnyMac,
    icv_len: usize,
}

/// The longest ICV of any transform (HMAC-SHA2-512-256, AES-GCM-16: 32 and 16 bytes).
const MAX_ICV: usize = 32;

impl<C: BodyCipher> Transform for CipherThenMac<C> {
    fn iv_len(&self) -> usize {
        C::IV_LEN
    }
    fn icv_len(&self) -> usize {
        self.icv_len
    }
    fn block_len(&self) -> usize {
        C::BLOCK_LEN.max(4)
    }

    fn seal(&self, seq: u64, seq_high: Option<u32>, packet: &mut [u8], icv: &mut [u8]) {
        let spi: [u8; 4] = packet[..4].try_into().expect("header present");
        let (_, rest) = packet.split_at_mut(HEADER_LEN);
        let (iv, body) = rest.split_at_mut(C::IV_LEN);
        self.cipher.encrypt(spi, seq, iv, body);
        self.mac.compute(packet, seq_high, icv);
    }

    fn open(&self, seq_high: Option<u32>, packet: &mut [u8], icv: &[u8]) -> Result<(), Error> {
        let mut expected = [0u8; MAX_ICV];
        let expected = &mut expected[..self.icv_len];
        self.mac.compute(packet, seq_high, expected);
        if !bool::from(expected.ct_eq(icv)) {
            return Err(Error::IcvMismatch);
        }
        let (iv, body) = packet[HEADER_LEN..].split_at_mut(C::IV_LEN);
        self.cipher.decrypt(iv, body);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// AES-GCM with a 16-byte ICV (RFC 4106)
// ---------------------------------------------------------------------------------------

/// RFC 4106 §5: the AAD is the SPI and the (extended) sequence number.
fn gcm_aad(packet: &[u8], seq_high: Option<u32>, buf: &mut [u8; 12]) -> usize {
    buf[..4].copy_from_slice(&packet[..4]);
    match seq_high {
        Some(hi) => {
            buf[4..8].copy_from_slice(&hi.to_be_bytes());
            buf[8..12].copy_from_slice(&packet[4..8]);
            12
        }
        None => {
            buf[4..8].copy_from_slice(&packet[4..8]);
            8
        }
    }
}

/// RFC 4106 §3.1: the nonce is the SA's salt followed by the 8-byte explicit IV. The IV is
/// the 64-bit sequence number, which is unique for the life of the key.
fn gcm_nonce(salt: [u8; 4], iv: &[u8]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&salt);
    n[4..].copy_from_slice(iv);
    n
}

/// What an AES-GCM backend needs from an ESP packet: the AAD, the nonce and the body to
/// encrypt or decrypt in place. Every backend frames packets through this one function.
struct GcmFrame<'p> {
    aad: [u8; 12],
    aad_len: usize,
    nonce: [u8; 12],
    body: &'p mut [u8],
}

impl<'p> GcmFrame<'p> {
    /// Frames `packet` (SPI | Seq | IV | body) for sealing: the explicit IV is the 64-bit
    /// sequence number `seq`, written into the packet first.
    fn seal(salt: [u8; 4], seq: u64, seq_high: Option<u32>, packet: &'p mut [u8]) -> Self {
        packet[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&seq.to_be_bytes());
        Self::open(salt, seq_high, packet)
    }

    /// Frames `packet` for opening, with the explicit IV it carries.
    fn open(salt: [u8; 4], seq_high: Option<u32>, packet: &'p mut [u8]) -> Self {
        let mut aad = [0u8; 12];
        let aad_len = gcm_aad(packet, seq_high, &mut aad);
        let (head, body) = packet.split_at_mut(HEADER_LEN + 8);
        let nonce = gcm_nonce(salt, &head[HEADER_LEN..]);
        Self { aad, aad_len, nonce, body }
    }
}

struct RustCryptoGcm<A> {
    aead: A,
    salt: [u8; 4],
}

impl<A> fmt::Debug for RustCryptoGcm<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AES-GCM-16(rustcrypto, <key>)")
    }
}

impl<A> Drop for RustCryptoGcm<A> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.salt);
    }
}

fn rustcrypto_gcm(key: &[u8], salt: [u8; 4]) -> Result<Box<dyn Transform>, Error> {
    type Aes192Gcm = aes_gcm::AesGcm<aes::Aes192, U12>;
    Ok(match key.len() {
        16 => {
            Box::new(RustCryptoGcm { aead: aes_gcm::Aes128Gcm::new_from_slice(key).map_err(key_err)?, salt })
        }
        24 => Box::new(RustCryptoGcm { aead: Aes192Gcm::new_from_slice(key).map_err(key_err)?, salt }),
        32 => {
            Box::new(RustCryptoGcm { aead: aes_gcm::Aes256Gcm::new_from_slice(key).map_err(key_err)?, salt })
        }
        _ => return Err(Error::Config("AES-GCM key must be 16, 24 or 32 bytes plus a 4-byte salt")),
    })
}

impl<A> Transform for RustCryptoGcm<A>
where
    A: AeadInOut + aead::AeadCore<NonceSize = U12> + Send + Sync,
{
    fn iv_len(&self) -> usize {
        8
    }
    fn icv_len(&self) -> usize {
        16
    }
    fn block_len(&self) -> usize {
        4
    }

    fn seal(&self, seq: u64, seq_high: Option<u32>, packet: &mut [u8], icv: &mut [u8]) {
        let GcmFrame { aad, aad_len, nonce, body } = GcmFrame::seal(self.salt, seq, seq_high, packet);
        let tag = self
            .aead
            .encrypt_inout_detached(&nonce.into(), &aad[..aad_len], body.into())
            .expect("ESP packets are far below the GCM length limit");
        icv.copy_from_slice(&tag);
    }

    fn open(&self, seq_high: Option<u32>, packet: &mut [u8], icv: &[u8]) -> Result<(), Error> {
        let GcmFrame { aad, aad_len, nonce, body } = GcmFrame::open(self.salt, seq_high, packet);
        let tag = aead::Tag::<A>::try_from(icv).map_err(|_| Error::IcvMismatch)?;
        self.aead
            .decrypt_inout_detached(&nonce.into(), &aad[..aad_len], body.into(), &tag)
            .map_err(|_| Error::IcvMismatch)
    }
}

#[cfg(feature = "ring")]
mod ring_gcm {
    use super::*;
    use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey};

    pub(super) struct RingGcm {
        key: LessSafeKey,
        salt: [u8; 4],
    }

    impl fmt::Debug for RingGcm {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("AES-GCM-16(ring, <key>)")
        }
    }

    pub(super) fn build(key: &[u8], salt: [u8; 4]) -> Result<Box<dyn Transform>, Error> {
        let alg = match key.len() {
            16 => &ring::aead::AES_128_GCM,
            32 => &ring::aead::AES_256_GCM,
            _ => return rustcrypto_gcm(key, salt),
        };
        let key = UnboundKey::new(alg, key).map_err(key_err)?;
        Ok(Box::new(RingGcm { key: LessSafeKey::new(key), salt }))
    }

    impl Transform for RingGcm {
        fn iv_len(&self) -> usize {
            8
        }
        fn icv_len(&self) -> usize {
            16
        }
        fn block_len(&self) -> usize {
            4
        }

        fn seal(&self, seq: u64, seq_high: Option<u32>, packet: &mut [u8], icv: &mut [u8]) {
            let GcmFrame { aad, aad_len, nonce, body } = GcmFrame::seal(self.salt, seq, seq_high, packet);
            let nonce = Nonce::assume_unique_for_key(nonce);
            let tag = self
                .key
                .seal_in_place_separate_tag(nonce, Aad::from(&aad[..aad_len]), body)
                .expect("ESP packets are far below the GCM length limit");
            icv.copy_from_slice(tag.as_ref());
        }

        fn open(&self, seq_high: Option<u32>, packet: &mut [u8], icv: &[u8]) -> Result<(), Error> {
            let GcmFrame { aad, aad_len, nonce, body } = GcmFrame::open(self.salt, seq_high, packet);
            let nonce = Nonce::assume_unique_for_key(nonce);
            let tag: [u8; 16] = icv.try_into().map_err(|_| Error::IcvMismatch)?;
            self.key
                .open_in_place_separate_tag(nonce, Aad::from(&aad[..aad_len]), Tag::from(tag), body, 0..)
                .map(|_| ())
                .map_err(|_| Error::IcvMismatch)
        }
    }
}

// ---------------------------------------------------------------------------------------
// No protection at all: tests and fuzzing only
// ---------------------------------------------------------------------------------------

/// NULL encryption and no integrity. RFC 4303 §3.2 forbids it on a real SA; it exists so
/// that tests and fuzzers can reach everything behind the ICV check.
#[derive(Debug)]
struct NullTransform;

impl Transform for NullTransform {
    fn iv_len(&self) -> usize {
        0
    }
    fn icv_len(&self) -> usize {
        0
    }
    fn block_len(&self) -> usize {
        4
    }
    fn seal(&self, _: u64, _: Option<u32>, _: &mut [u8], _: &mut [u8]) {}
    fn open(&self, _: Option<u32>, _: &mut [u8], _: &[u8]) -> Result<(), Error> {
        Ok(())
    }
}

/// The raw primitives behind the transforms, for checking them against published test
/// vectors (RFC 3602 §4, RFC 2202, RFC 4231, RFC 4868, the GCM test packets) that fix
/// values a real SA never lets the caller choose, such as the CBC IV. Not for building a
/// data path: use [`OutboundSa`](crate::OutboundSa) and [`InboundSa`](crate::InboundSa).
pub mod vectors {
    use super::*;

    fn cbc_apply(key: &[u8], iv: &[u8], body: &mut [u8], des: bool, encrypt: bool) -> Result<(), Error> {
        fn run<C>(c: C, iv: &[u8], body: &mut [u8], encrypt: bool) -> Result<(), Error>
        where
            C: BlockCipherEncrypt + BlockCipherDecrypt + Clone + Send + Sync + 'static,
        {
            let c = Cbc(c);
            if !body.len().is_multiple_of(<Cbc<C> as BodyCipher>::BLOCK_LEN)
                || iv.len() != <Cbc<C> as BodyCipher>::IV_LEN
            {
                return Err(Error::Malformed(crate::ParseError::Misaligned));
            }
            if encrypt {
                let iv = cipher::Block::<C>::try_from(iv).map_err(key_err)?;
                c.encrypt_with_iv(&iv, body);
            } else {
                c.decrypt(iv, body);
            }
            Ok(())
        }
        match (des, key.len()) {
            (true, 24) => run(des::TdesEde3::new_from_slice(key).map_err(key_err)?, iv, body, encrypt),
            (false, 16) => run(aes::Aes128::new_from_slice(key).map_err(key_err)?, iv, body, encrypt),
            (false, 24) => run(aes::Aes192::new_from_slice(key).map_err(key_err)?, iv, body, encrypt),
            (false, 32) => run(aes::Aes256::new_from_slice(key).map_err(key_err)?, iv, body, encrypt),
            _ => Err(Error::Config("unsupported CBC key length")),
        }
    }

    /// CBC-encrypts `body` (whole blocks) in place with AES (or 3DES when `des`) and `iv`.
    pub fn cbc_encrypt(key: &[u8], iv: &[u8], body: &mut [u8], des: bool) -> Result<(), Error> {
        cbc_apply(key, iv, body, des, true)
    }

    /// CBC-decrypts `body` (whole blocks) in place with AES (or 3DES when `des`) and `iv`.
    pub fn cbc_decrypt(key: &[u8], iv: &[u8], body: &mut [u8], des: bool) -> Result<(), Error> {
        cbc_apply(key, iv, body, des, false)
    }

    /// The full, untruncated HMAC of `data` with the hash of `integrity`.
    pub fn hmac(integrity: Integrity, key: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Ok(match integrity {
            Integrity::HmacSha1_96 => run::<Hmac<sha1::Sha1>>(key, data),
            Integrity::HmacSha256_128 | Integrity::HmacSha256_96 => run::<Hmac<sha2::Sha256>>(key, data),
            Integrity::HmacSha384_192 => run::<Hmac<sha2::Sha384>>(key, data),
            Integrity::HmacSha512_256 => run::<Hmac<sha2::Sha512>>(key, data),
            Integrity::None => return Err(Error::Config("no hash for Integrity::None")),
        })
    }

    /// The ICV an SA with `integrity` and `key` computes over `data` (the truncated HMAC).
    pub fn icv(integrity: Integrity, key: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        let mut full = hmac(integrity, key, data)?;
        full.truncate(integrity.icv_len());
        Ok(full)
    }

    /// AES-GCM with a 16-byte tag, as ESP uses it: `key_and_salt` is the key followed by the
    /// 4-byte salt, `iv` the 8-byte explicit IV. Returns ciphertext followed by the tag.
    pub fn gcm_seal(
        provider: &Provider,
        key_and_salt: &[u8],
        aad: &[u8],
        iv: &[u8; 8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        // Drive the transform through a synthetic packet: SPI|Seq come from the AAD.
        let t = gcm_transform(provider, key_and_salt, aad)?;
        let (mut packet, seq_high) = gcm_packet(aad, iv, plaintext)?;
        let mut tag = [0u8; 16];
        t.seal(u64::from_be_bytes(*iv), seq_high, &mut packet, &mut tag);
        let mut out = packet.split_off(HEADER_LEN + 8);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens what [`gcm_seal`] produces; fails with [`Error::IcvMismatch`] on a bad tag.
    pub fn gcm_open(
        provider: &Provider,
        key_and_salt: &[u8],
        aad: &[u8],
        iv: &[u8; 8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let t = gcm_transform(provider, key_and_salt, aad)?;
        let Some((ct, tag)) = sealed.split_last_chunk::<16>() else { return Err(Error::IcvMismatch) };
        let (mut packet, seq_high) = gcm_packet(aad, iv, ct)?;
        t.open(seq_high, &mut packet, tag)?;
        Ok(packet.split_off(HEADER_LEN + 8))
    }

    fn gcm_transform(
        provider: &Provider,
        key_and_salt: &[u8],
        aad: &[u8],
    ) -> Result<Box<dyn Transform>, Error> {
        if aad.len() != 8 && aad.len() != 12 {
            return Err(Error::Config("ESP AAD is SPI and a 32 or 64-bit sequence number"));
        }
        provider.build(Encryption::AesGcm16, Integrity::None, key_and_salt, &[], false)
    }

    /// Lays out SPI | Seq(low) | IV | body from an 8 or 12-byte ESP AAD.
    fn gcm_packet(aad: &[u8], iv: &[u8; 8], body: &[u8]) -> Result<(Vec<u8>, Option<u32>), Error> {
        let (seq_low, seq_high) = match aad.len() {
            8 => (&aad[4..8], None),
            _ => (&aad[8..12], Some(u32::from_be_bytes(aad[4..8].try_into().expect("12 bytes")))),
        };
        let mut p = Vec::with_capacity(HEADER_LEN + 8 + body.len());
        p.extend_from_slice(&aad[..4]);
        p.extend_from_slice(seq_low);
        p.extend_from_slice(iv);
        p.extend_from_slice(body);
        Ok((p, seq_high))
    }
}

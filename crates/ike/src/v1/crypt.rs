//! Encrypted ISAKMP messages and the IKEv1 CBC IV chain (RFC 2409 §5.3, Appendix B).
//!
//! Everything after the ISAKMP header is encrypted in CBC mode. Within one exchange the
//! IV of a message is the last ciphertext block of the previous message (either
//! direction). Phase 1 starts from `hash(g^xi | g^xr)`; each phase-2 / informational
//! exchange (Message ID ≠ 0) starts from `hash(last phase-1 CBC block | M-ID)`.
//!
//! Decryption never changes the chain: [`IvChain::commit`] is called by the owner only
//! after the message's HASH verified, so a forged or corrupted message cannot
//! desynchronise it.

use zeroize::Zeroizing;

use super::keys::{Iv, Phase1Keys};
use crate::crypto::{CipherAlgorithm, CryptoError};
use crate::wire::v1::{Flags, HEADER_LEN, Header, Message};

/// Most phase-2 exchanges whose IVs are remembered at once; older ones are forgotten.
pub const MAX_PHASE2_EXCHANGES: usize = 32;

/// The IV state of one ISAKMP SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvChain {
    phase1: Iv,
    phase2: Vec<(u32, Iv)>,
}

impl IvChain {
    /// Starts a chain from the first phase-1 IV ([`Phase1Keys::initial_iv`]).
    #[must_use]
    pub fn new(initial: Iv) -> Self {
        Self { phase1: initial, phase2: Vec::new() }
    }

    /// The IV for the next message of the exchange with `message_id`.
    #[must_use]
    pub fn iv_for(&self, keys: &Phase1Keys, message_id: u32) -> Iv {
        if message_id == 0 {
            return self.phase1;
        }
        self.phase2
            .iter()
            .find(|(id, _)| *id == message_id)
            .map_or_else(|| keys.phase2_iv(&self.phase1, message_id), |(_, iv)| *iv)
    }

    /// Records `next` (the last ciphertext block of an accepted message) as the IV of the
    /// exchange's next message.
    pub fn commit(&mut self, message_id: u32, next: Iv) {
        if message_id == 0 {
            self.phase1 = next;
            return;
        }
        if let Some(slot) = self.phase2.iter_mut().find(|(id, _)| *id == message_id) {
            slot.1 = next;
            return;
        }
        if self.phase2.len() == MAX_PHASE2_EXCHANGES {
            self.phase2.remove(0);
        }
        self.phase2.push((message_id, next));
    }

    /// Forgets a finished phase-2 exchange.
    pub fn forget(&mut self, message_id: u32) {
        self.phase2.retain(|(id, _)| *id != message_id);
    }
}

/// Why an encrypted message could not be decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptError {
    /// The message does not have the encryption flag.
    #[error("message is not encrypted")]
    NotEncrypted,
    /// The body is empty or not a whole number of cipher blocks.
    #[error("encrypted body is not block aligned")]
    NotBlockAligned,
    /// The cipher refused the key or IV.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// A decrypted body: payload chain followed by padding, and the IV that the next message
/// of the same exchange will use if this one is accepted.
#[derive(Debug)]
pub struct Decrypted {
    /// The plaintext body (payload chain, then padding), wiped on drop.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The last ciphertext block of this message.
    pub next_iv: Iv,
}

/// Decrypts an encrypted message's body with `iv`. Changes no state.
///
/// # Errors
/// [`CryptError`] when the message is not encrypted or not block aligned.
pub fn decrypt(
    cipher: CipherAlgorithm,
    key: &[u8],
    iv: &Iv,
    message: &Message<'_>,
) -> Result<Decrypted, CryptError> {
    if !message.header.flags.encrypted() {
        return Err(CryptError::NotEncrypted);
    }
    let block = cipher.block_len();
    let body = message.body;
    if body.is_empty() || !body.len().is_multiple_of(block) {
        return Err(CryptError::NotBlockAligned);
    }
    let next_iv = Iv::new(&body[body.len() - block..]);
    let mut plaintext = Zeroizing::new(body.to_vec());
    cipher.decrypt_in_place(key, iv.as_bytes(), &mut plaintext)?;
    Ok(Decrypted { plaintext, next_iv })
}

/// Encrypts a message: writes `header` (with the encryption flag set and the length
/// filled in) and the CBC encryption of `payload_chain` padded with zero bytes to a whole
/// number of blocks (RFC 2409 Appendix B allows padding; strongSwan also pads with zeros).
/// Returns the IV for the exchange's next message.
///
/// # Errors
/// Wrong key or IV length for `cipher`.
pub fn encrypt(
    cipher: CipherAlgorithm,
    key: &[u8],
    iv: &Iv,
    header: &Header,
    payload_chain: &[u8],
    out: &mut Vec<u8>,
) -> Result<Iv, CryptoError> {
    let block = cipher.block_len();
    let padded_len = payload_chain.len().div_ceil(block).max(1) * block;
    let start = out.len();
    let mut h = *header;
    h.flags = Flags(h.flags.0 | Flags::ENCRYPTION);
    h.length = u32::try_from(HEADER_LEN + padded_len).unwrap_or(u32::MAX);
    h.encode(out);
    let body_start = out.len();
    out.extend_from_slice(payload_chain);
    out.resize(body_start + padded_len, 0);
    if let Err(e) = cipher.encrypt_in_place(key, iv.as_bytes(), &mut out[body_start..]) {
        out.truncate(start);
        return Err(e);
    }
    Ok(Iv::new(&out[out.len() - block..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PrfAlgorithm;
    use crate::v1::keys::Phase1Keys;
    use crate::wire::v1::{ExchangeType, PayloadType};

    fn keys(cipher: CipherAlgorithm) -> Phase1Keys {
        let skeyid = PrfAlgorithm::HmacSha1.prf(b"psk", &[b"ni", b"nr"]);
        Phase1Keys::derive(PrfAlgorithm::HmacSha1, cipher, &skeyid, b"g^xy", &[1; 8], &[2; 8])
    }

    fn header(message_id: u32) -> Header {
        Header {
            initiator_spi: [1; 8],
            responder_spi: [2; 8],
            next_payload: PayloadType::Hash,
            version: Header::VERSION_1_0,
            exchange_type: ExchangeType::QuickMode,
            flags: Flags(0),
            message_id,
            length: 0,
        }
    }

    #[test]
    fn encrypt_decrypt_and_chain() {
        for cipher in [CipherAlgorithm::AesCbc256, CipherAlgorithm::TripleDesCbc] {
            let k = keys(cipher);
            let mut chain = IvChain::new(k.initial_iv(b"gxi", b"gxr"));
            let iv = chain.iv_for(&k, 7);
            assert_eq!(iv, k.phase2_iv(&chain.iv_for(&k, 0), 7));
            let body = [0u8, 0, 0, 9, 1, 2, 3, 4, 5]; // HASH payload with 5 bytes
            let mut out = Vec::new();
            let next = encrypt(cipher, k.encryption_key(), &iv, &header(7), &body, &mut out).unwrap();
            // 9 bytes pad to one AES block or two 3DES blocks.
            assert_eq!(out.len(), HEADER_LEN + 9usize.div_ceil(cipher.block_len()) * cipher.block_len());
            let m = Message::parse(&out).unwrap();
            assert!(m.header.flags.encrypted());
            let d = decrypt(cipher, k.encryption_key(), &iv, &m).unwrap();
            assert_eq!(&d.plaintext[..body.len()], &body);
            assert!(d.plaintext[body.len()..].iter().all(|&b| b == 0));
            assert_eq!(d.next_iv, next);
            // Nothing moves until commit; then the exchange continues from the last block
            // and other exchanges are unaffected.
            assert_eq!(chain.iv_for(&k, 7), iv);
            chain.commit(7, next);
            assert_eq!(chain.iv_for(&k, 7), next);
            assert_eq!(chain.iv_for(&k, 8), k.phase2_iv(&chain.iv_for(&k, 0), 8));
            chain.forget(7);
            assert_eq!(chain.iv_for(&k, 7), iv);
            // A wrong IV garbles the first block only.
            let wrong = decrypt(cipher, k.encryption_key(), &next, &m).unwrap();
            assert_ne!(&wrong.plaintext[..body.len()], &body);
        }
    }

    #[test]
    fn remembers_a_bounded_number_of_exchanges() {
        let k = keys(CipherAlgorithm::AesCbc128);
        let mut chain = IvChain::new(k.initial_iv(b"a", b"b"));
        let marker = Iv::new(&[0xee; 16]);
        for id in 1..=(MAX_PHASE2_EXCHANGES as u32 + 1) {
            chain.commit(id, marker);
        }
        // The oldest was dropped and falls back to the derived IV.
        assert_eq!(chain.iv_for(&k, 1), k.phase2_iv(&chain.iv_for(&k, 0), 1));
        assert_eq!(chain.iv_for(&k, 2), marker);
        chain.commit(0, marker);
        assert_eq!(chain.iv_for(&k, 0), marker);
    }

    #[test]
    fn refuses_plaintext_and_unaligned_bodies() {
        let k = keys(CipherAlgorithm::AesCbc128);
        let iv = Iv::new(&[0; 16]);
        let mut plain = Vec::new();
        let mut h = header(1);
        h.length = (HEADER_LEN + 16) as u32;
        h.encode(&mut plain);
        plain.extend_from_slice(&[0; 16]);
        let m = Message::parse(&plain).unwrap();
        assert_eq!(
            decrypt(CipherAlgorithm::AesCbc128, k.encryption_key(), &iv, &m).unwrap_err(),
            CryptError::NotEncrypted
        );
        let mut odd = Vec::new();
        h.flags = Flags(Flags::ENCRYPTION);
        h.length = (HEADER_LEN + 15) as u32;
        h.encode(&mut odd);
        odd.extend_from_slice(&[0; 15]);
        let m = Message::parse(&odd).unwrap();
        assert_eq!(
            decrypt(CipherAlgorithm::AesCbc128, k.encryption_key(), &iv, &m).unwrap_err(),
            CryptError::NotBlockAligned
        );
        assert!(matches!(
            decrypt(
                CipherAlgorithm::AesCbc128,
                &[0; 5],
                &iv,
                &Message::parse(&{
                    let mut v = Vec::new();
                    h.length = (HEADER_LEN + 16) as u32;
                    h.encode(&mut v);
                    v.extend_from_slice(&[0; 16]);
                    v
                })
                .unwrap()
            ),
            Err(CryptError::Crypto(CryptoError::KeyLength { .. }))
        ));
    }
}

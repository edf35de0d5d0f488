//! The tunnel secret and what is computed from it: Challenge Responses (RFC 2661 §4.4.3,
//! §5.1.1) and hidden AVPs (RFC 2661 §4.3).

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::wire::{MAX_AVP_VALUE_LEN, ParseError, encode_avp_header};

/// The shared tunnel secret. Never printed; zeroized when dropped.
#[derive(Clone)]
pub struct TunnelSecret(Zeroizing<Vec<u8>>);

impl TunnelSecret {
    /// Wraps the secret bytes.
    #[must_use]
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self(Zeroizing::new(secret.as_ref().to_vec()))
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 2661 §4.4.3: the Challenge Response is MD5 over the one-octet Message Type of the
    /// message that carries it (2 in SCCRP, 3 in SCCCN), the secret and the peer's challenge.
    #[must_use]
    pub fn challenge_response(&self, message_type: u8, challenge: &[u8]) -> [u8; 16] {
        let mut h = Md5::new();
        h.update([message_type]);
        h.update(self.bytes());
        h.update(challenge);
        h.finalize().into()
    }

    /// Checks a received Challenge Response in constant time.
    #[must_use]
    pub fn verify_response(&self, message_type: u8, challenge: &[u8], response: &[u8]) -> bool {
        let expected = self.challenge_response(message_type, challenge);
        response.len() == 16 && bool::from(expected.as_slice().ct_eq(response))
    }

    /// RFC 2661 §4.3: reveals a hidden AVP value. The key stream is MD5(Attribute Type ‖
    /// secret ‖ Random Vector) for the first 16 octets and MD5(secret ‖ previous cipher block)
    /// after that; the plaintext starts with the original value length, then the value, then
    /// padding. Returns the value, written into `out`.
    pub fn reveal<'o>(
        &self,
        attribute_type: u16,
        random_vector: &[u8],
        hidden: &[u8],
        out: &'o mut [u8; MAX_AVP_VALUE_LEN],
    ) -> Result<&'o [u8], ParseError> {
        if hidden.len() < 2 || hidden.len() > out.len() {
            return Err(ParseError::Hidden);
        }
        let mut key: [u8; 16] = {
            let mut h = Md5::new();
            h.update(attribute_type.to_be_bytes());
            h.update(self.bytes());
            h.update(random_vector);
            h.finalize().into()
        };
        for (i, chunk) in hidden.chunks(16).enumerate() {
            for (j, c) in chunk.iter().enumerate() {
                out[i * 16 + j] = c ^ key[j];
            }
            let mut h = Md5::new();
            h.update(self.bytes());
            h.update(chunk);
            key = h.finalize().into();
        }
        let len = usize::from(u16::from_be_bytes([out[0], out[1]]));
        if 2 + len > hidden.len() {
            return Err(ParseError::Hidden);
        }
        // Shift the value to the front so the caller gets a plain slice.
        out.copy_within(2..2 + len, 0);
        Ok(&out[..len])
    }

    /// RFC 2661 §4.3: appends a hidden AVP (H bit set) whose clear value is `value`, padded
    /// with `padding` (random bytes that hide the true length), keyed by `random_vector`
    /// (the value of the Random Vector AVP that precedes it in the same message).
    pub fn encode_hidden_avp(
        &self,
        mandatory: bool,
        attribute_type: u16,
        value: &[u8],
        random_vector: &[u8],
        padding: &[u8],
        out: &mut Vec<u8>,
    ) {
        let clear_len = (2 + value.len() + padding.len()).min(MAX_AVP_VALUE_LEN);
        encode_avp_header(mandatory, true, 0, attribute_type, clear_len, out);
        let mut clear = Zeroizing::new(Vec::with_capacity(clear_len));
        clear.extend_from_slice(&(value.len() as u16).to_be_bytes());
        clear.extend_from_slice(value);
        clear.extend_from_slice(padding);
        clear.truncate(clear_len);
        let mut key: [u8; 16] = {
            let mut h = Md5::new();
            h.update(attribute_type.to_be_bytes());
            h.update(self.bytes());
            h.update(random_vector);
            h.finalize().into()
        };
        for chunk in clear.chunks(16) {
            let start = out.len();
            out.extend(chunk.iter().zip(key.iter()).map(|(p, k)| p ^ k));
            let mut h = Md5::new();
            h.update(self.bytes());
            h.update(&out[start..]);
            key = h.finalize().into();
        }
    }
}

impl core::fmt::Debug for TunnelSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TunnelSecret(<redacted>)")
    }
}

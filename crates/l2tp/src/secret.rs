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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Avp, AvpValue};

    const LAB_SECRET: &str = "l2tp-lab-secret";
    const RV: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    /// RFC 1321 §A.5 test suite entries, so the MD5 under everything is the real one.
    #[test]
    fn md5_rfc1321_vectors() {
        let md5 = |m: &[u8]| -> [u8; 16] { Md5::digest(m).into() };
        assert_eq!(hex::encode(md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex::encode(md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex::encode(md5(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            )),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    /// Cross-checked with the lab's independent Python implementation
    /// (hidden-avp-probe.py's `hide`), fixed Random Vector 00..0f.
    #[test]
    fn hidden_avp_vectors() {
        let s = TunnelSecret::new(LAB_SECRET);
        // Assigned Session ID 0x5678 with padding aa bb cc: one short block.
        let mut out = Vec::new();
        s.encode_hidden_avp(true, 14, &[0x56, 0x78], &RV, &[0xaa, 0xbb, 0xcc], &mut out);
        assert_eq!(hex::encode(&out[6..]), "e5c69234e135a5");
        assert_eq!(&out[..6], &[0xc0, 13, 0, 0, 0, 14]);
        // Calling Number of 20 bytes: the key stream chains over two blocks.
        let mut out = Vec::new();
        s.encode_hidden_avp(false, 22, b"0123456789abcdefghij", &RV, &[], &mut out);
        assert_eq!(hex::encode(&out[6..]), "3d44bb45c9ed424696cd7e0bfbe1d247b99508b01515");
        let (avp, rest) = Avp::parse(&out).unwrap();
        assert!(rest.is_empty() && avp.hidden && !avp.mandatory);
        let AvpValue::Hidden(h) = avp.value else { panic!("{avp:?}") };
        let mut buf = [0u8; MAX_AVP_VALUE_LEN];
        assert_eq!(s.reveal(22, &RV, h, &mut buf).unwrap(), b"0123456789abcdefghij");
    }

    #[test]
    fn challenge_response_vector() {
        // MD5(0x02 ‖ "l2tp-lab-secret" ‖ 00..0f), computed independently with Python hashlib.
        let s = TunnelSecret::new(LAB_SECRET);
        assert_eq!(hex::encode(s.challenge_response(2, &RV)), "6358eafcfe3a69502a18a2d34475f09a");
    }

    #[test]
    fn wrong_key_or_vector_does_not_reveal_the_value() {
        let s = TunnelSecret::new(LAB_SECRET);
        let mut out = Vec::new();
        s.encode_hidden_avp(true, 9, &[0x12, 0x34], &RV, &[], &mut out);
        let mut buf = [0u8; MAX_AVP_VALUE_LEN];
        let good = s.reveal(9, &RV, &out[6..], &mut buf).unwrap().to_vec();
        assert_eq!(good, [0x12, 0x34]);
        let other = TunnelSecret::new("not-the-secret");
        let bad = other.reveal(9, &RV, &out[6..], &mut buf).map(<[u8]>::to_vec);
        assert_ne!(bad, Ok(good.clone()));
        let bad = s.reveal(10, &RV, &out[6..], &mut buf).map(<[u8]>::to_vec);
        assert_ne!(bad, Ok(good));
        assert_eq!(s.reveal(9, &RV, &[1], &mut buf), Err(ParseError::Hidden));
    }

    #[test]
    fn secret_is_not_printed() {
        let s = TunnelSecret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}

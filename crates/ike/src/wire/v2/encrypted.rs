//! RFC 7296 §3.14 Encrypted and Authenticated (SK) payload and RFC 7383 §2.5 Encrypted
//! Fragment (SKF) payload: their regions, and the padding inside the ciphertext.
//!
//! The lengths of the IV and of the ICV follow from the negotiated transforms (e.g.
//! AES-CBC: 16-byte IV; AUTH_HMAC_SHA2_256_128: 16-byte ICV; AES-GCM per RFC 5282: 8-byte
//! IV and an 8, 12 or 16-byte ICV), so the caller gives them.

use nom::{Parser, number::complete::be_u16};

use super::{EncodeError, GENERIC_HEADER_LEN, ParseError, PayloadType, RawPayload, truncated};

/// RFC 7296 §3.14: SK payload body: IV, ciphertext (inner payloads, padding, pad
/// length) and ICV, back to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encrypted<'a> {
    /// Type of the first payload inside the ciphertext (the SK payload's own Next
    /// Payload field).
    pub first_inner: PayloadType,
    /// IV | ciphertext | ICV.
    pub data: &'a [u8],
}

/// The three regions of an SK / SKF payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedParts<'a> {
    /// Initialization vector.
    pub iv: &'a [u8],
    /// Encrypted inner payloads, padding and pad length.
    pub ciphertext: &'a [u8],
    /// Integrity checksum (or AEAD tag).
    pub icv: &'a [u8],
}

/// Splits `data` into IV, ciphertext and ICV.
fn split(data: &[u8], iv_len: usize, icv_len: usize) -> Result<EncryptedParts<'_>, ParseError> {
    let fixed = iv_len.checked_add(icv_len).ok_or(ParseError::BadLength { what: "SK payload" })?;
    if data.len() < fixed {
        return Err(ParseError::BadLength { what: "SK payload (shorter than IV and ICV)" });
    }
    let (iv, rest) = data.split_at(iv_len);
    let (ciphertext, icv) = rest.split_at(rest.len() - icv_len);
    Ok(EncryptedParts { iv, ciphertext, icv })
}

impl<'a> Encrypted<'a> {
    /// Splits the body for an IV of `iv_len` and an ICV of `icv_len` bytes.
    ///
    /// # Errors
    /// A body shorter than IV plus ICV.
    pub fn split(&self, iv_len: usize, icv_len: usize) -> Result<EncryptedParts<'a>, ParseError> {
        split(self.data, iv_len, icv_len)
    }
}

/// RFC 7383 §2.5: position of a fragment in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Fragment Number, from 1.
    pub number: u16,
    /// Total Fragments of the message (at least `number`).
    pub total: u16,
}

impl Fragment {
    const fn is_valid(self) -> bool {
        self.number >= 1 && self.number <= self.total
    }
}

/// RFC 7383 §2.5: Encrypted Fragment (SKF) payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedFragment<'a> {
    /// The SKF payload's own Next Payload field: the first inner payload type in fragment
    /// 1, zero in the others.
    pub first_inner: PayloadType,
    /// Fragment Number and Total Fragments.
    pub fragment: Fragment,
    /// IV | ciphertext | ICV.
    pub data: &'a [u8],
}

impl<'a> EncryptedFragment<'a> {
    /// Parses an SKF payload body.
    ///
    /// # Errors
    /// Fewer than 4 bytes, or a fragment number of 0 or above the total.
    pub fn parse(first_inner: PayloadType, body: &'a [u8]) -> Result<Self, ParseError> {
        let (data, (number, total)) =
            (be_u16::<&[u8], ()>, be_u16).parse(body).map_err(truncated("SKF payload"))?;
        let fragment = Fragment { number, total };
        if !fragment.is_valid() {
            return Err(ParseError::Invalid { what: "SKF fragment number" });
        }
        Ok(Self { first_inner, fragment, data })
    }

    /// Splits the data for an IV of `iv_len` and an ICV of `icv_len` bytes.
    ///
    /// # Errors
    /// Data shorter than IV plus ICV.
    pub fn split(&self, iv_len: usize, icv_len: usize) -> Result<EncryptedParts<'a>, ParseError> {
        split(self.data, iv_len, icv_len)
    }

    /// Appends the body.
    ///
    /// # Errors
    /// A fragment number of 0 or above the total.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if !self.fragment.is_valid() {
            return Err(EncodeError::Invalid { what: "SKF fragment number" });
        }
        out.extend_from_slice(&self.fragment.number.to_be_bytes());
        out.extend_from_slice(&self.fragment.total.to_be_bytes());
        out.extend_from_slice(self.data);
        Ok(())
    }
}

/// The encrypted payload that ends a message, with the message ranges its protection
/// covers ([`super::Message::encrypted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedView<'a> {
    /// Type of the first inner payload (zero in non-first fragments).
    pub first_inner: PayloadType,
    /// For an SKF payload, its position; `None` for SK.
    pub fragment: Option<Fragment>,
    /// Initialization vector.
    pub iv: &'a [u8],
    /// Ciphertext.
    pub ciphertext: &'a [u8],
    /// Integrity checksum / AEAD tag: the last bytes of the message.
    pub icv: &'a [u8],
    /// RFC 7296 §3.14: what the integrity checksum covers: the message from the first
    /// byte of the IKE header to the last byte before the ICV.
    pub integrity_covered: &'a [u8],
    /// RFC 5282 §5.1 / RFC 7383 §2.5.3: an AEAD's associated data: the message from the
    /// IKE header to the last byte before the IV (generic header, and fragment fields for
    /// SKF, included).
    pub associated_data: &'a [u8],
}

impl<'a> EncryptedView<'a> {
    /// `last` is the final payload of `message`'s chain (so its body ends the message).
    pub(super) fn new(
        message: &'a [u8],
        last: &RawPayload<'a>,
        iv_len: usize,
        icv_len: usize,
    ) -> Result<Self, ParseError> {
        let (first_inner, fragment, data) = match last.payload_type {
            PayloadType::Encrypted => (last.next_payload, None, last.body),
            PayloadType::EncryptedFragment => {
                let skf = EncryptedFragment::parse(last.next_payload, last.body)?;
                (skf.first_inner, Some(skf.fragment), skf.data)
            }
            _ => return Err(ParseError::Invalid { what: "message without an SK payload" }),
        };
        let parts = split(data, iv_len, icv_len)?;
        let data_start = message.len() - data.len();
        debug_assert!(data_start >= GENERIC_HEADER_LEN);
        Ok(Self {
            first_inner,
            fragment,
            iv: parts.iv,
            ciphertext: parts.ciphertext,
            icv: parts.icv,
            integrity_covered: &message[..message.len() - icv_len],
            associated_data: &message[..data_start],
        })
    }
}

/// RFC 7296 §3.14: pads a plaintext that starts at `out[start]` for a cipher with
/// `block_len`-byte blocks (1 for stream / AEAD modes that need none): appends zero
/// padding bytes and the Pad Length byte so the plaintext is a whole number of blocks.
pub fn pad(out: &mut Vec<u8>, start: usize, block_len: usize) {
    let block = block_len.max(1);
    let used = (out.len().saturating_sub(start) + 1) % block;
    let pad_len = (block - used) % block;
    // A block is at most 255 + 1 bytes for the Pad Length to express the padding; cipher
    // blocks are 16 bytes or less.
    let pad_len = pad_len.min(255);
    out.resize(out.len() + pad_len, 0);
    out.push(u8::try_from(pad_len).unwrap_or(u8::MAX));
}

/// RFC 7296 §3.14: the inner payload chain of a decrypted SK plaintext, without the
/// padding and the Pad Length byte.
///
/// # Errors
/// An empty plaintext or a Pad Length longer than the plaintext.
pub fn unpad(plaintext: &[u8]) -> Result<&[u8], ParseError> {
    let (&pad_len, rest) = plaintext.split_last().ok_or(ParseError::Truncated { what: "SK plaintext" })?;
    let pad_len = usize::from(pad_len);
    if pad_len > rest.len() {
        return Err(ParseError::BadLength { what: "SK Pad Length" });
    }
    Ok(&rest[..rest.len() - pad_len])
}

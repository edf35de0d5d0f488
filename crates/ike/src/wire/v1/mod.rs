//! ISAKMP / IKEv1 messages (RFC 2408 §3, RFC 2407 §4, RFC 2409, RFC 3947).
//!
//! [`Message::parse`] reads the fixed header and borrows the body. A plaintext body is a
//! chain of payloads, read with [`Message::payloads`] (or [`parse_payload_chain`] on a
//! decrypted body), giving typed, borrowed [`Payload`] views. [`MessageRepr`] /
//! [`encode_payload_chain`] write them back; for every valid message the encoding of a
//! parse is the original bytes.
//!
//! Encrypted bodies (flag E) are opaque here: [`crate::v1::crypt`] decrypts them.

pub mod codes;
mod payload;

use nom::{
    IResult, Parser,
    bytes::complete::take,
    number::complete::{be_u8, be_u16, be_u32},
};

pub use codes::{
    AuthMethod, CertEncoding, DOI_IPSEC, EncapsulationMode, ExchangeType, Flags, IdType, IkeAttributeType,
    IpsecAttributeType, KEY_IKE, NotifyType, PayloadType, ProtocolId,
};
pub use payload::{
    Attribute, AttributeValue, Certificate, Delete, Identification, NatOriginalAddress, Notification,
    Payload, Proposal, SecurityAssociation, Transform,
};

use super::ParseError;

/// RFC 2408 §3.1: the ISAKMP header is 28 bytes.
pub const HEADER_LEN: usize = 28;
/// RFC 2408 §3.2: every payload starts with a 4-byte generic header.
pub const GENERIC_HEADER_LEN: usize = 4;
/// Most payloads one message may carry (a real one has about a dozen).
pub const MAX_PAYLOADS: usize = 128;

type Res<'a, O> = IResult<&'a [u8], O, ()>;

pub(crate) fn truncated(what: &'static str) -> impl Fn(nom::Err<()>) -> ParseError {
    move |_| ParseError::Truncated { what }
}

/// RFC 2408 §3.1: the ISAKMP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Initiator cookie (IKEv1) / SPI.
    pub initiator_spi: [u8; 8],
    /// Responder cookie / SPI (zero in the first message).
    pub responder_spi: [u8; 8],
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major version in the high nibble (1 for ISAKMP), minor in the low one.
    pub version: u8,
    /// Exchange type.
    pub exchange_type: ExchangeType,
    /// Flags (encryption, commit, authentication only).
    pub flags: Flags,
    /// Message ID: zero in phase 1, random per phase-2 / informational exchange.
    pub message_id: u32,
    /// Total message length, header included.
    pub length: u32,
}

impl Header {
    /// The ISAKMP version byte, 1.0.
    pub const VERSION_1_0: u8 = 0x10;

    /// Reads the header from the start of `data` (further bytes are not looked at).
    ///
    /// # Errors
    /// [`ParseError::Truncated`] under 28 bytes, [`ParseError::Version`] for a major
    /// version other than 1.
    pub fn parse(data: &[u8]) -> Result<Self, ParseError> {
        fn fields(i: &[u8]) -> Res<'_, Header> {
            let (i, ispi) = take(8usize)(i)?;
            let (i, rspi) = take(8usize)(i)?;
            let (i, (next, version, exchange, flags, message_id, length)) =
                (be_u8, be_u8, be_u8, be_u8, be_u32, be_u32).parse(i)?;
            let mut initiator_spi = [0u8; 8];
            initiator_spi.copy_from_slice(ispi);
            let mut responder_spi = [0u8; 8];
            responder_spi.copy_from_slice(rspi);
            Ok((
                i,
                Header {
                    initiator_spi,
                    responder_spi,
                    next_payload: next.into(),
                    version,
                    exchange_type: exchange.into(),
                    flags: Flags(flags),
                    message_id,
                    length,
                },
            ))
        }
        let (_, header) = fields(data).map_err(truncated("ISAKMP header"))?;
        if header.version >> 4 != 1 {
            return Err(ParseError::Version(header.version));
        }
        Ok(header)
    }

    /// Appends the 28 header bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.initiator_spi);
        out.extend_from_slice(&self.responder_spi);
        out.push(self.next_payload.into());
        out.push(self.version);
        out.push(self.exchange_type.into());
        out.push(self.flags.0);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }
}

/// A received ISAKMP message: its header and borrowed body (payload chain, or
/// ciphertext when [`Flags::encrypted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The fixed header.
    pub header: Header,
    /// Everything after the header, exactly `header.length - 28` bytes.
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// Parses one datagram's ISAKMP message (no NAT-T non-ESP marker: strip it first).
    ///
    /// # Errors
    /// A bad header, or a length field that differs from the datagram's length.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let header = Header::parse(data)?;
        let len =
            usize::try_from(header.length).map_err(|_| ParseError::BadLength { what: "ISAKMP header" })?;
        if len < HEADER_LEN || len != data.len() {
            return Err(ParseError::BadLength { what: "ISAKMP header" });
        }
        Ok(Self { header, body: &data[HEADER_LEN..] })
    }

    /// The typed payloads of a plaintext message.
    ///
    /// # Errors
    /// [`ParseError::Invalid`] if the message is encrypted, or any payload error.
    pub fn payloads(&self) -> Result<Vec<Payload<'a>>, ParseError> {
        if self.header.flags.encrypted() {
            return Err(ParseError::Invalid { what: "payload chain of an encrypted message" });
        }
        let (payloads, rest) = parse_payload_chain(self.header.next_payload, self.body)?;
        if !rest.is_empty() {
            return Err(ParseError::BadLength { what: "payload chain" });
        }
        Ok(payloads)
    }
}

/// One payload of a chain as raw bytes: its type and body (after the generic header).
/// Hash computations use the raw body (RFC 2409 §5: "SAi_b", "IDii_b").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPayload<'a> {
    /// The payload's type (from the previous payload's Next Payload field).
    pub payload_type: PayloadType,
    /// Bytes after the 4-byte generic header.
    pub body: &'a [u8],
}

/// Splits a payload chain starting with a payload of type `first` into raw payloads.
/// Returns the payloads and the bytes after the last one (for a decrypted body: the
/// padding, RFC 2409 Appendix B).
///
/// # Errors
/// A payload header whose length is under 4 or past the end of `data`, or more than
/// [`MAX_PAYLOADS`] payloads.
pub fn split_payload_chain(
    first: PayloadType,
    data: &[u8],
) -> Result<(Vec<RawPayload<'_>>, &[u8]), ParseError> {
    let mut out = Vec::new();
    let mut next = first;
    let mut rest = data;
    while next != PayloadType::None {
        if out.len() == MAX_PAYLOADS {
            return Err(ParseError::TooMany { what: "payloads" });
        }
        let (body, following, after) = generic_payload(rest, "payload")?;
        out.push(RawPayload { payload_type: next, body });
        next = following.into();
        rest = after;
    }
    Ok((out, rest))
}

/// Parses a payload chain into typed payloads; see [`split_payload_chain`].
///
/// # Errors
/// As [`split_payload_chain`], plus any error of a payload body.
pub fn parse_payload_chain(first: PayloadType, data: &[u8]) -> Result<(Vec<Payload<'_>>, &[u8]), ParseError> {
    let (raw, rest) = split_payload_chain(first, data)?;
    let payloads =
        raw.into_iter().map(|p| Payload::parse(p.payload_type, p.body)).collect::<Result<Vec<_>, _>>()?;
    Ok((payloads, rest))
}

/// Reads one generic payload header and body: returns (body, next payload type, rest).
pub(crate) fn generic_payload<'a>(
    data: &'a [u8],
    what: &'static str,
) -> Result<(&'a [u8], u8, &'a [u8]), ParseError> {
    let (_, (next, _reserved, len)) =
        (be_u8::<&[u8], ()>, be_u8, be_u16).parse(data).map_err(truncated(what))?;
    let len = usize::from(len);
    if len < GENERIC_HEADER_LEN || len > data.len() {
        return Err(ParseError::BadLength { what });
    }
    Ok((&data[GENERIC_HEADER_LEN..len], next, &data[len..]))
}

/// Appends a generic payload header for a body of `body_len` bytes. Returns the offset of
/// the length field so a caller that writes the body afterwards can patch it.
pub(crate) fn put_generic_header(out: &mut Vec<u8>, next: PayloadType) -> usize {
    out.push(next.into());
    out.push(0);
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    at
}

/// Writes the payload length (generic header included) at `at`, measured to the end of
/// `out`. Bodies longer than 65531 bytes cannot be represented; their length saturates
/// (callers never build such payloads).
pub(crate) fn patch_length(out: &mut [u8], at: usize) {
    let len = out.len() - (at - 2);
    let len = u16::try_from(len).unwrap_or(u16::MAX);
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

/// Appends a payload chain: each payload with its generic header, Next Payload fields
/// linking them, the last one pointing to None. Returns the first payload's type (for
/// the ISAKMP header), or None for an empty chain.
pub fn encode_payload_chain(payloads: &[Payload<'_>], out: &mut Vec<u8>) -> PayloadType {
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1).map_or(PayloadType::None, Payload::payload_type);
        let at = put_generic_header(out, next);
        p.encode_body(out);
        patch_length(out, at);
    }
    payloads.first().map_or(PayloadType::None, Payload::payload_type)
}

/// A whole plaintext message as typed values, for building messages to send and for
/// round-trip tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRepr<'a> {
    /// The header; `next_payload` and `length` are recomputed by [`MessageRepr::encode`].
    pub header: Header,
    /// The payload chain.
    pub payloads: Vec<Payload<'a>>,
}

impl<'a> MessageRepr<'a> {
    /// Parses a plaintext message.
    ///
    /// # Errors
    /// As [`Message::parse`] and [`Message::payloads`].
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let message = Message::parse(data)?;
        Ok(Self { header: message.header, payloads: message.payloads()? })
    }

    /// Appends the message to `out`, filling in the header's first-payload type and length.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        self.header.encode(out);
        let first = encode_payload_chain(&self.payloads, out);
        out[start + 16] = first.into();
        let len = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
        out[start + 24..start + 28].copy_from_slice(&len.to_be_bytes());
    }
}

#[cfg(test)]
mod tests;

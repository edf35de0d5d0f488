//! IKEv2 messages (RFC 7296 §3, RFC 7383 fragmentation).
//!
//! # Reading
//!
//! [`Message::parse`] checks the fixed IKE header against the datagram (strip the NAT-T
//! non-ESP marker of UDP/4500 first) and borrows the body. [`Message::payloads`] walks
//! the payload chain, following the Next Payload fields, and yields [`RawPayload`]s
//! (type, critical bit, borrowed body); [`RawPayload::parse`] turns one into a typed,
//! borrowed [`Payload`]. Nothing is copied: every view points into the datagram.
//!
//! An Encrypted (SK) or Encrypted Fragment (SKF) payload ends the outer chain; its Next
//! Payload field names the first payload inside the ciphertext. [`Message::encrypted`]
//! splits it into IV, ciphertext and ICV given the lengths the negotiated transforms
//! imply, together with the byte ranges the integrity check and an AEAD cover. After
//! decryption, [`unpad`] removes the padding and [`PayloadIter::new`] walks the inner
//! chain the same way.
//!
//! An unknown payload with the critical bit set must be refused with
//! UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 §2.5): [`Message::unsupported_critical_payload`]
//! finds it and [`Notify::unsupported_critical_payload`] builds the answer.
//!
//! # Writing
//!
//! Every structure has an `encode`/`encode_body` that appends to a caller's `Vec<u8>`.
//! [`MessageBuilder`] writes a header and a chain of payloads, links the Next Payload
//! fields and fills in the lengths; [`ChainBuilder`] does the same for a chain that will
//! be encrypted. [`MessageRepr`] holds a whole message as values; for every message
//! [`MessageRepr::parse`] accepts, encoding the result gives back the same bytes
//! (reserved bits and unknown code points are kept for that).
//!
//! ```
//! # use l2sec_ike::wire::v2::*;
//! let header = Header::new([1; 8], [0; 8], ExchangeType::IkeSaInit, Flags::INITIATOR, 0);
//! let mut datagram = Vec::new();
//! let mut builder = MessageBuilder::new(&mut datagram, &header);
//! builder.push(&Payload::Nonce(&[7; 32]))?;
//! builder.push(&Payload::Notify(Notify::new(NotifyType::Ikev2FragmentationSupported, &[])))?;
//! builder.finish()?;
//!
//! let message = Message::parse(&datagram)?;
//! assert_eq!(message.header.exchange_type, ExchangeType::IkeSaInit);
//! let types: Vec<PayloadType> =
//!     message.payloads().map(|p| p.map(|p| p.payload_type)).collect::<Result<_, _>>()?;
//! assert_eq!(types, [PayloadType::Nonce, PayloadType::Notify]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chain;
pub mod codes;
mod cp;
mod eap;
mod encrypted;
mod error;
pub mod mschapv2;
mod payload;
mod sa;
mod ts;

use nom::{
    IResult, Parser,
    bytes::complete::take,
    number::complete::{be_u8, be_u32},
};

pub use super::ParseError;
pub use chain::{ChainBuilder, GENERIC_HEADER_LEN, MAX_PAYLOADS, MessageBuilder, PayloadIter, RawPayload};
pub use codes::{
    AuthMethod, CertEncoding, CfgAttributeType, CfgType, EapCode, EapType, EncryptionId, EsnId, ExchangeType,
    IdType, IntegrityId, KeyExchangeId, NotifyType, PayloadType, PrfId, ProtocolId, TransformAttributeType,
    TransformType, TsType,
};
pub use cp::{CfgAttribute, CfgValue, Configuration, MAX_CFG_ATTRIBUTES};
pub use eap::Eap;
pub use encrypted::{Encrypted, EncryptedFragment, EncryptedParts, EncryptedView, Fragment, pad, unpad};
pub use error::EncodeError;
pub use mschapv2::MsChapV2;
pub use payload::{
    Authentication, Certificate, Delete, DigitalSignature, Identification, KeyExchange, NONCE_MAX_LEN,
    NONCE_MIN_LEN, Notify, Payload, PayloadRepr,
};
pub use sa::{
    Attribute, AttributeValue, MAX_ATTRIBUTES, MAX_PROPOSALS, MAX_TRANSFORMS, Proposal, SecurityAssociation,
    Transform, TransformId,
};
pub use ts::{TrafficSelector, TrafficSelectors};

/// RFC 7296 §3.1: the IKE header is 28 bytes.
pub const HEADER_LEN: usize = 28;

type Res<'a, O> = IResult<&'a [u8], O, ()>;

/// Maps a nom failure on a fixed header to [`ParseError::Truncated`].
fn truncated(what: &'static str) -> impl Fn(nom::Err<()>) -> ParseError {
    move |_| ParseError::Truncated { what }
}

/// A length or count as a one-byte field, or [`EncodeError::TooLong`].
fn len_u8(len: usize, what: &'static str) -> Result<u8, EncodeError> {
    u8::try_from(len).map_err(|_| EncodeError::TooLong { what })
}

/// A length or count as a two-byte field, or [`EncodeError::TooLong`].
fn len_u16(len: usize, what: &'static str) -> Result<u16, EncodeError> {
    u16::try_from(len).map_err(|_| EncodeError::TooLong { what })
}

/// Writes the 2-byte length of the structure that starts at `start` and runs to the end
/// of `out`, into `out[at..at + 2]`.
fn patch_len_u16(out: &mut [u8], start: usize, at: usize, what: &'static str) -> Result<(), EncodeError> {
    let len = len_u16(out.len() - start, what)?;
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// RFC 7296 §3.1: the Flags octet of the IKE header. Bits other than I, V and R are
/// reserved; they are kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// I (Initiator): set by the original initiator of the IKE SA.
    pub const INITIATOR: Self = Self(0x08);
    /// V (Version): the sender can speak a higher major version.
    pub const VERSION: Self = Self(0x10);
    /// R (Response): the message answers a request with the same Message ID.
    pub const RESPONSE: Self = Self(0x20);

    /// The I bit.
    #[must_use]
    pub const fn initiator(self) -> bool {
        self.0 & Self::INITIATOR.0 != 0
    }

    /// The V bit.
    #[must_use]
    pub const fn version(self) -> bool {
        self.0 & Self::VERSION.0 != 0
    }

    /// The R bit.
    #[must_use]
    pub const fn response(self) -> bool {
        self.0 & Self::RESPONSE.0 != 0
    }
}

impl core::ops::BitOr for Flags {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// RFC 7296 §3.1: the IKE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// IKE SA Initiator's SPI.
    pub initiator_spi: [u8; 8],
    /// IKE SA Responder's SPI (zero in the first IKE_SA_INIT request).
    pub responder_spi: [u8; 8],
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major version in the high nibble (2), minor version in the low one (0).
    pub version: u8,
    /// Exchange type.
    pub exchange_type: ExchangeType,
    /// Flags (I, V, R).
    pub flags: Flags,
    /// Message ID: matches requests to responses and orders exchanges.
    pub message_id: u32,
    /// Total message length, header included.
    pub length: u32,
}

impl Header {
    /// RFC 7296 §3.1: the version byte of IKEv2, major 2, minor 0.
    pub const VERSION_2_0: u8 = 0x20;

    /// A header with version 2.0; `next_payload` and `length` are left for the encoder
    /// ([`MessageBuilder`]) to fill in.
    #[must_use]
    pub const fn new(
        initiator_spi: [u8; 8],
        responder_spi: [u8; 8],
        exchange_type: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Self {
        Self {
            initiator_spi,
            responder_spi,
            next_payload: PayloadType::None,
            version: Self::VERSION_2_0,
            exchange_type,
            flags,
            message_id,
            length: 0,
        }
    }

    /// The major version (high nibble of the version byte).
    #[must_use]
    pub const fn major_version(&self) -> u8 {
        self.version >> 4
    }

    /// Reads the header from the start of `data` (further bytes are not looked at). The
    /// version is not checked here, so a responder can still read the SPIs of a message
    /// it answers with INVALID_MAJOR_VERSION.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] under 28 bytes.
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
        let (_, header) = fields(data).map_err(truncated("IKE header"))?;
        Ok(header)
    }

    /// Appends the 28 header bytes to `out`, as they are (no field is recomputed).
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

/// A received IKEv2 message: its header and borrowed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The fixed header.
    pub header: Header,
    /// Everything after the header, exactly `header.length - 28` bytes.
    pub body: &'a [u8],
    /// The whole message, header included (integrity checks and AUTH cover it).
    bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Parses one IKE message (a UDP/500 payload, or a UDP/4500 payload after its
    /// 4-byte non-ESP marker).
    ///
    /// # Errors
    /// [`ParseError::Truncated`] under 28 bytes, [`ParseError::Version`] for a major
    /// version other than 2, [`ParseError::BadLength`] when the Length field is not the
    /// datagram's length.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let header = Header::parse(data)?;
        if header.major_version() != 2 {
            return Err(ParseError::Version(header.version));
        }
        let len = usize::try_from(header.length).map_err(|_| ParseError::BadLength { what: "IKE header" })?;
        if len < HEADER_LEN || len != data.len() {
            return Err(ParseError::BadLength { what: "IKE header" });
        }
        Ok(Self { header, body: &data[HEADER_LEN..], bytes: data })
    }

    /// The whole message, header included.
    #[must_use]
    pub const fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The payload chain, in order. An SK or SKF payload is the last one yielded.
    #[must_use]
    pub fn payloads(&self) -> PayloadIter<'a> {
        PayloadIter::new(self.header.next_payload, self.body)
    }

    /// RFC 7296 §2.5: the first payload in the (outer) chain that has the critical bit
    /// set and a type this codec does not know. The caller must reject the message with
    /// an UNSUPPORTED_CRITICAL_PAYLOAD notification carrying that type
    /// ([`Notify::unsupported_critical_payload`]). Inner chains of SK payloads are checked
    /// with [`PayloadIter::unsupported_critical_payload`] after decryption.
    ///
    /// # Errors
    /// Any error of the chain.
    pub fn unsupported_critical_payload(&self) -> Result<Option<PayloadType>, ParseError> {
        self.payloads().unsupported_critical_payload()
    }

    /// The Encrypted (SK) or Encrypted Fragment (SKF) payload that ends the chain, split
    /// into IV, ciphertext and ICV for an IV of `iv_len` bytes and an ICV of `icv_len`
    /// bytes (RFC 7296 §3.14, RFC 5282 §3, RFC 7383 §2.5).
    ///
    /// # Errors
    /// Any error of the chain, [`ParseError::Invalid`] when the last payload is neither
    /// SK nor SKF, [`ParseError::BadLength`] when it is shorter than IV plus ICV.
    pub fn encrypted(&self, iv_len: usize, icv_len: usize) -> Result<EncryptedView<'a>, ParseError> {
        let mut last = None;
        for payload in self.payloads() {
            last = Some(payload?);
        }
        let last = last.ok_or(ParseError::Invalid { what: "message without an SK payload" })?;
        EncryptedView::new(self.bytes, &last, iv_len, icv_len)
    }
}

/// A whole message as values: for building messages to send and for round-trip tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRepr<'a> {
    /// The header; `next_payload` and `length` are recomputed by [`MessageRepr::encode`].
    pub header: Header,
    /// The payload chain (an SK / SKF payload can only be the last one).
    pub payloads: Vec<PayloadRepr<'a>>,
}

impl<'a> MessageRepr<'a> {
    /// Parses a message and every payload of its outer chain.
    ///
    /// # Errors
    /// As [`Message::parse`], [`PayloadIter`] and [`RawPayload::parse`].
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let message = Message::parse(data)?;
        let payloads = message.payloads().map(|p| p?.to_repr()).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { header: message.header, payloads })
    }

    /// Appends the message to `out`, filling in the header's first-payload type and
    /// length. Returns the message length.
    ///
    /// # Errors
    /// A payload that does not fit the wire format, or a payload after SK / SKF; `out`
    /// is then left as it was.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let start = out.len();
        let result = self.encode_inner(out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encode_inner(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let mut builder = MessageBuilder::new(out, &self.header);
        for payload in &self.payloads {
            builder.push_repr(payload)?;
        }
        builder.finish()
    }
}

#[cfg(test)]
pub(crate) mod tests;

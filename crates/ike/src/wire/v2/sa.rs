//! RFC 7296 §3.3: the Security Association payload, its proposals, transforms and
//! transform attributes.

use nom::{
    Parser,
    number::complete::{be_u8, be_u16},
};

use super::{
    EncodeError, EncryptionId, EsnId, IntegrityId, KeyExchangeId, ParseError, PrfId, ProtocolId,
    TransformAttributeType, TransformType, len_u8, len_u16, patch_len_u16, truncated,
};

/// Most proposals one SA payload may carry (proposal numbers are one byte).
pub const MAX_PROPOSALS: usize = 255;
/// Most transforms one proposal may carry (its count field is one byte).
pub const MAX_TRANSFORMS: usize = 255;
/// Most attributes one transform may carry (only Key Length is defined).
pub const MAX_ATTRIBUTES: usize = 64;

/// RFC 7296 §3.3.1: "Last Substruc" value of a proposal that is followed by another.
const MORE_PROPOSALS: u8 = 2;
/// RFC 7296 §3.3.2: "Last Substruc" value of a transform that is followed by another.
const MORE_TRANSFORMS: u8 = 3;
/// Proposal and transform substructures start with Last Substruc, RESERVED and Length.
const SUBSTRUCTURE_HEADER_LEN: usize = 4;

/// A proposal or transform substructure, split off the front of the bytes.
struct Substructure<'a> {
    /// Last Substruc field.
    last: u8,
    /// RESERVED byte after it.
    reserved: u8,
    /// Contents after the 4-byte header.
    contents: &'a [u8],
    /// Bytes after the substructure.
    rest: &'a [u8],
}

/// Reads a proposal / transform substructure header and its extent.
fn substructure<'a>(
    data: &'a [u8],
    min_len: usize,
    what: &'static str,
) -> Result<Substructure<'a>, ParseError> {
    let (_, (last, reserved, len)) =
        (be_u8::<&[u8], ()>, be_u8, be_u16).parse(data).map_err(truncated(what))?;
    let len = usize::from(len);
    if len < min_len || len > data.len() {
        return Err(ParseError::BadLength { what });
    }
    Ok(Substructure { last, reserved, contents: &data[SUBSTRUCTURE_HEADER_LEN..len], rest: &data[len..] })
}

/// Checks that a "Last Substruc" field agrees with whether more substructures follow.
fn check_last(last: u8, more_value: u8, more_follow: bool, what: &'static str) -> Result<(), ParseError> {
    match (last, more_follow) {
        (0, false) => Ok(()),
        (v, true) if v == more_value => Ok(()),
        _ => Err(ParseError::Invalid { what }),
    }
}

/// RFC 7296 §3.3: Security Association payload body, a list of proposals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityAssociation<'a> {
    /// The proposals, in the sender's order of preference (a responder's SA carries
    /// exactly one, the accepted one).
    pub proposals: Vec<Proposal<'a>>,
}

impl<'a> SecurityAssociation<'a> {
    /// Parses an SA payload body.
    ///
    /// # Errors
    /// A malformed proposal or transform, a "Last Substruc" field that disagrees with the
    /// bytes that follow, or more than [`MAX_PROPOSALS`] proposals.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let mut proposals = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            if proposals.len() == MAX_PROPOSALS {
                return Err(ParseError::TooMany { what: "proposals" });
            }
            let s = substructure(rest, 8, "proposal")?;
            check_last(s.last, MORE_PROPOSALS, !s.rest.is_empty(), "proposal Last Substruc")?;
            proposals.push(Proposal::parse(s.reserved, s.contents)?);
            rest = s.rest;
        }
        Ok(Self { proposals })
    }

    /// Appends the SA payload body.
    ///
    /// # Errors
    /// A proposal that does not fit the wire format.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.proposals.len() > MAX_PROPOSALS {
            return Err(EncodeError::TooLong { what: "SA payload proposals" });
        }
        for (i, p) in self.proposals.iter().enumerate() {
            let last = if i + 1 < self.proposals.len() { MORE_PROPOSALS } else { 0 };
            p.encode(last, out)?;
        }
        Ok(())
    }
}

/// RFC 7296 §3.3.1: Proposal substructure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal<'a> {
    /// RESERVED byte after Last Substruc (zero when sending).
    pub reserved: u8,
    /// Proposal number: 1 for the first proposal, then increasing by one; a responder
    /// echoes the number of the proposal it accepted.
    pub number: u8,
    /// Protocol of the proposed SA (IKE, AH or ESP).
    pub protocol_id: ProtocolId,
    /// The sender's SPI (empty in an initial IKE_SA_INIT, 8 bytes when rekeying the IKE
    /// SA, 4 bytes for AH / ESP).
    pub spi: &'a [u8],
    /// The transforms, in the sender's order of preference.
    pub transforms: Vec<Transform<'a>>,
}

impl<'a> Proposal<'a> {
    /// A proposal with no reserved bits set.
    #[must_use]
    pub const fn new(
        number: u8,
        protocol_id: ProtocolId,
        spi: &'a [u8],
        transforms: Vec<Transform<'a>>,
    ) -> Self {
        Self { reserved: 0, number, protocol_id, spi, transforms }
    }

    /// Parses the proposal contents after the 4-byte substructure header.
    fn parse(reserved: u8, contents: &'a [u8]) -> Result<Self, ParseError> {
        let (rest, (number, protocol, spi_size, count)) =
            (be_u8::<&[u8], ()>, be_u8, be_u8, be_u8).parse(contents).map_err(truncated("proposal"))?;
        let spi_size = usize::from(spi_size);
        if rest.len() < spi_size {
            return Err(ParseError::BadLength { what: "proposal SPI" });
        }
        let (spi, mut rest) = rest.split_at(spi_size);
        let mut transforms = Vec::with_capacity(usize::from(count).min(rest.len() / 8));
        while !rest.is_empty() {
            if transforms.len() == MAX_TRANSFORMS {
                return Err(ParseError::TooMany { what: "transforms" });
            }
            let s = substructure(rest, 8, "transform")?;
            check_last(s.last, MORE_TRANSFORMS, !s.rest.is_empty(), "transform Last Substruc")?;
            transforms.push(Transform::parse(s.reserved, s.contents)?);
            rest = s.rest;
        }
        if transforms.len() != usize::from(count) {
            return Err(ParseError::BadLength { what: "proposal transform count" });
        }
        Ok(Self { reserved, number, protocol_id: protocol.into(), spi, transforms })
    }

    /// Appends the whole substructure (header included) with Last Substruc `last`.
    fn encode(&self, last: u8, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&[last, self.reserved, 0, 0]);
        out.push(self.number);
        out.push(self.protocol_id.into());
        out.push(len_u8(self.spi.len(), "proposal SPI")?);
        out.push(len_u8(self.transforms.len(), "proposal transforms")?);
        out.extend_from_slice(self.spi);
        for (i, t) in self.transforms.iter().enumerate() {
            let last = if i + 1 < self.transforms.len() { MORE_TRANSFORMS } else { 0 };
            t.encode(last, out)?;
        }
        patch_len_u16(out, start, start + 2, "proposal")
    }
}

/// A transform ID read according to its transform type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransformId {
    /// Type 1, ENCR.
    Encryption(EncryptionId),
    /// Type 2, PRF.
    Prf(PrfId),
    /// Type 3, INTEG.
    Integrity(IntegrityId),
    /// Type 4, KE (Diffie-Hellman group), or one of the RFC 9370 ADDKE types.
    KeyExchange(KeyExchangeId),
    /// Type 5, ESN.
    Esn(EsnId),
    /// A transform type this codec does not know, with its raw ID.
    Other(u16),
}

impl TransformId {
    /// The transform type this ID belongs to, when the type is known.
    #[must_use]
    pub const fn transform_type(self) -> Option<TransformType> {
        match self {
            Self::Encryption(_) => Some(TransformType::Encryption),
            Self::Prf(_) => Some(TransformType::PseudoRandomFunction),
            Self::Integrity(_) => Some(TransformType::Integrity),
            Self::KeyExchange(_) => Some(TransformType::KeyExchange),
            Self::Esn(_) => Some(TransformType::ExtendedSequenceNumbers),
            Self::Other(_) => None,
        }
    }

    /// The numeric ID.
    #[must_use]
    pub const fn value(self) -> u16 {
        match self {
            Self::Encryption(id) => id.value(),
            Self::Prf(id) => id.value(),
            Self::Integrity(id) => id.value(),
            Self::KeyExchange(id) => id.value(),
            Self::Esn(id) => id.value(),
            Self::Other(id) => id,
        }
    }
}

/// RFC 7296 §3.3.2: Transform substructure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform<'a> {
    /// The RESERVED byte after Last Substruc and the one after Transform Type (zero when
    /// sending).
    pub reserved: [u8; 2],
    /// Transform type.
    pub transform_type: TransformType,
    /// Transform ID, numbered per transform type (see [`Transform::id`]).
    pub transform_id: u16,
    /// Transform attributes (only Key Length is defined, for variable-key ciphers).
    pub attributes: Vec<Attribute<'a>>,
}

impl<'a> Transform<'a> {
    /// A transform without attributes.
    #[must_use]
    pub const fn new(transform_type: TransformType, transform_id: u16) -> Self {
        Self { reserved: [0; 2], transform_type, transform_id, attributes: Vec::new() }
    }

    /// An encryption (ENCR) transform, with a Key Length attribute when `key_bits` is
    /// given (RFC 7296 §3.3.5: required for variable-length ciphers such as AES-CBC).
    #[must_use]
    pub fn encryption(id: EncryptionId, key_bits: Option<u16>) -> Self {
        let mut t = Self::new(TransformType::Encryption, id.value());
        if let Some(bits) = key_bits {
            t.attributes.push(Attribute::key_length(bits));
        }
        t
    }

    /// A pseudorandom function (PRF) transform.
    #[must_use]
    pub const fn prf(id: PrfId) -> Self {
        Self::new(TransformType::PseudoRandomFunction, id.value())
    }

    /// An integrity (INTEG) transform.
    #[must_use]
    pub const fn integrity(id: IntegrityId) -> Self {
        Self::new(TransformType::Integrity, id.value())
    }

    /// A key exchange method (KE, formerly D-H) transform.
    #[must_use]
    pub const fn key_exchange(id: KeyExchangeId) -> Self {
        Self::new(TransformType::KeyExchange, id.value())
    }

    /// An extended sequence numbers (ESN) transform.
    #[must_use]
    pub const fn esn(id: EsnId) -> Self {
        Self::new(TransformType::ExtendedSequenceNumbers, id.value())
    }

    /// The ID typed according to the transform type.
    #[must_use]
    pub fn id(&self) -> TransformId {
        let id = self.transform_id;
        match self.transform_type {
            TransformType::Encryption => TransformId::Encryption(id.into()),
            TransformType::PseudoRandomFunction => TransformId::Prf(id.into()),
            TransformType::Integrity => TransformId::Integrity(id.into()),
            TransformType::KeyExchange
            | TransformType::AdditionalKeyExchange1
            | TransformType::AdditionalKeyExchange2
            | TransformType::AdditionalKeyExchange3
            | TransformType::AdditionalKeyExchange4
            | TransformType::AdditionalKeyExchange5
            | TransformType::AdditionalKeyExchange6
            | TransformType::AdditionalKeyExchange7 => TransformId::KeyExchange(id.into()),
            TransformType::ExtendedSequenceNumbers => TransformId::Esn(id.into()),
            TransformType::Unknown(_) => TransformId::Other(id),
        }
    }

    /// The Key Length attribute (bits), if present as a TV attribute.
    #[must_use]
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a.value {
            AttributeValue::Basic(v) if a.attribute_type() == TransformAttributeType::KeyLength => Some(v),
            _ => None,
        })
    }

    /// Parses the transform contents after the 4-byte substructure header.
    fn parse(reserved0: u8, contents: &'a [u8]) -> Result<Self, ParseError> {
        let (mut rest, (transform_type, reserved1, transform_id)) =
            (be_u8::<&[u8], ()>, be_u8, be_u16).parse(contents).map_err(truncated("transform"))?;
        let mut attributes = Vec::new();
        while !rest.is_empty() {
            if attributes.len() == MAX_ATTRIBUTES {
                return Err(ParseError::TooMany { what: "transform attributes" });
            }
            let (attribute, after) = Attribute::parse(rest)?;
            attributes.push(attribute);
            rest = after;
        }
        Ok(Self {
            reserved: [reserved0, reserved1],
            transform_type: transform_type.into(),
            transform_id,
            attributes,
        })
    }

    /// Appends the whole substructure (header included) with Last Substruc `last`.
    fn encode(&self, last: u8, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&[last, self.reserved[0], 0, 0]);
        out.push(self.transform_type.into());
        out.push(self.reserved[1]);
        out.extend_from_slice(&self.transform_id.to_be_bytes());
        for a in &self.attributes {
            a.encode(out)?;
        }
        patch_len_u16(out, start, start + 2, "transform")
    }
}

/// RFC 7296 §3.3.5: the two forms of a transform attribute value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeValue<'a> {
    /// AF = 1 (TV): a 16-bit value in place of the length (Key Length is sent so).
    Basic(u16),
    /// AF = 0 (TLV): a length-prefixed value.
    Variable(&'a [u8]),
}

/// RFC 7296 §3.3.5: a transform attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute type (15 bits; the AF bit follows from the value's form).
    pub kind: u16,
    /// Its value.
    pub value: AttributeValue<'a>,
}

impl<'a> Attribute<'a> {
    /// The Attribute Format bit.
    const AF: u16 = 0x8000;

    /// The Key Length attribute (type 14, TV), in bits.
    #[must_use]
    pub const fn key_length(bits: u16) -> Self {
        Self { kind: 14, value: AttributeValue::Basic(bits) }
    }

    /// The attribute type as a code point.
    #[must_use]
    pub fn attribute_type(&self) -> TransformAttributeType {
        TransformAttributeType::from(self.kind)
    }

    /// Reads one attribute from the start of `data`; returns it and the rest.
    ///
    /// # Errors
    /// Fewer than 4 bytes, or a TLV length past the end.
    pub fn parse(data: &'a [u8]) -> Result<(Self, &'a [u8]), ParseError> {
        let (rest, (type_field, len_or_value)) =
            (be_u16::<&[u8], ()>, be_u16).parse(data).map_err(truncated("transform attribute"))?;
        let kind = type_field & !Self::AF;
        if type_field & Self::AF != 0 {
            return Ok((Self { kind, value: AttributeValue::Basic(len_or_value) }, rest));
        }
        let len = usize::from(len_or_value);
        if rest.len() < len {
            return Err(ParseError::BadLength { what: "transform attribute" });
        }
        let (value, rest) = rest.split_at(len);
        Ok((Self { kind, value: AttributeValue::Variable(value) }, rest))
    }

    /// Appends the attribute.
    ///
    /// # Errors
    /// A type over 15 bits or a TLV value over 65535 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.kind & Self::AF != 0 {
            return Err(EncodeError::Invalid { what: "transform attribute type (over 15 bits)" });
        }
        match self.value {
            AttributeValue::Basic(v) => {
                out.extend_from_slice(&(self.kind | Self::AF).to_be_bytes());
                out.extend_from_slice(&v.to_be_bytes());
            }
            AttributeValue::Variable(b) => {
                out.extend_from_slice(&self.kind.to_be_bytes());
                out.extend_from_slice(&len_u16(b.len(), "transform attribute")?.to_be_bytes());
                out.extend_from_slice(b);
            }
        }
        Ok(())
    }
}

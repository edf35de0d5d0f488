//! Typed views of the ISAKMP payload bodies (RFC 2408 §3.4–§3.16, RFC 2407 §4.6,
//! RFC 3947 §3.2/§5.2).

use nom::{
    Parser,
    number::complete::{be_u8, be_u16, be_u32},
};

use super::{
    CertEncoding, IdType, NotifyType, PayloadType, ProtocolId, generic_payload, patch_length,
    put_generic_header, truncated,
};
use crate::wire::ParseError;

/// Most proposals one SA payload may carry.
pub const MAX_PROPOSALS: usize = 64;
/// Most transforms one proposal may carry (its count field is one byte).
pub const MAX_TRANSFORMS: usize = 255;
/// Most attributes one transform may carry.
pub const MAX_ATTRIBUTES: usize = 64;

/// One payload of an ISAKMP message, borrowing the message bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload<'a> {
    /// RFC 2408 §3.4 Security Association.
    SecurityAssociation(SecurityAssociation<'a>),
    /// RFC 2408 §3.7 Key Exchange: the DH public value.
    KeyExchange(&'a [u8]),
    /// RFC 2408 §3.8 / RFC 2407 §4.6.2 Identification.
    Identification(Identification<'a>),
    /// RFC 2408 §3.9 Certificate.
    Certificate(Certificate<'a>),
    /// RFC 2408 §3.10 Certificate Request (certificate type + authority).
    CertificateRequest(Certificate<'a>),
    /// RFC 2408 §3.11 Hash.
    Hash(&'a [u8]),
    /// RFC 2408 §3.12 Signature.
    Signature(&'a [u8]),
    /// RFC 2408 §3.13 Nonce.
    Nonce(&'a [u8]),
    /// RFC 2408 §3.14 Notification.
    Notification(Notification<'a>),
    /// RFC 2408 §3.15 Delete.
    Delete(Delete<'a>),
    /// RFC 2408 §3.16 Vendor ID.
    VendorId(&'a [u8]),
    /// RFC 3947 §3.2 NAT-D: a hash of an address and port.
    NatDiscovery {
        /// Sent with the draft payload number 130 instead of 20.
        draft: bool,
        /// HASH(CKY-I | CKY-R | IP | Port).
        hash: &'a [u8],
    },
    /// RFC 3947 §5.2 NAT-OA: an original address.
    NatOriginalAddress {
        /// Sent with the draft payload number 131 instead of 21.
        draft: bool,
        /// The address.
        address: NatOriginalAddress<'a>,
    },
    /// A payload type this codec does not interpret, kept raw.
    Unknown {
        /// Its payload type number.
        payload_type: u8,
        /// Its body.
        body: &'a [u8],
    },
}

impl<'a> Payload<'a> {
    /// The payload type number this payload is sent with.
    #[must_use]
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Self::SecurityAssociation(_) => PayloadType::SecurityAssociation,
            Self::KeyExchange(_) => PayloadType::KeyExchange,
            Self::Identification(_) => PayloadType::Identification,
            Self::Certificate(_) => PayloadType::Certificate,
            Self::CertificateRequest(_) => PayloadType::CertificateRequest,
            Self::Hash(_) => PayloadType::Hash,
            Self::Signature(_) => PayloadType::Signature,
            Self::Nonce(_) => PayloadType::Nonce,
            Self::Notification(_) => PayloadType::Notification,
            Self::Delete(_) => PayloadType::Delete,
            Self::VendorId(_) => PayloadType::VendorId,
            Self::NatDiscovery { draft: false, .. } => PayloadType::NatDiscovery,
            Self::NatDiscovery { draft: true, .. } => PayloadType::NatDiscoveryDraft,
            Self::NatOriginalAddress { draft: false, .. } => PayloadType::NatOriginalAddress,
            Self::NatOriginalAddress { draft: true, .. } => PayloadType::NatOriginalAddressDraft,
            Self::Unknown { payload_type, .. } => PayloadType::from(*payload_type),
        }
    }

    /// Interprets the body of a payload of type `payload_type`.
    ///
    /// # Errors
    /// A body too short for its fixed fields or with inconsistent inner lengths.
    pub fn parse(payload_type: PayloadType, body: &'a [u8]) -> Result<Self, ParseError> {
        Ok(match payload_type {
            PayloadType::SecurityAssociation => Self::SecurityAssociation(SecurityAssociation::parse(body)?),
            PayloadType::KeyExchange => Self::KeyExchange(body),
            PayloadType::Identification => Self::Identification(Identification::parse(body)?),
            PayloadType::Certificate => Self::Certificate(Certificate::parse(body)?),
            PayloadType::CertificateRequest => Self::CertificateRequest(Certificate::parse(body)?),
            PayloadType::Hash => Self::Hash(body),
            PayloadType::Signature => Self::Signature(body),
            PayloadType::Nonce => Self::Nonce(body),
            PayloadType::Notification => Self::Notification(Notification::parse(body)?),
            PayloadType::Delete => Self::Delete(Delete::parse(body)?),
            PayloadType::VendorId => Self::VendorId(body),
            PayloadType::NatDiscovery => Self::NatDiscovery { draft: false, hash: body },
            PayloadType::NatDiscoveryDraft => Self::NatDiscovery { draft: true, hash: body },
            PayloadType::NatOriginalAddress => {
                Self::NatOriginalAddress { draft: false, address: NatOriginalAddress::parse(body)? }
            }
            PayloadType::NatOriginalAddressDraft => {
                Self::NatOriginalAddress { draft: true, address: NatOriginalAddress::parse(body)? }
            }
            // Proposal/Transform only occur inside an SA; None cannot have a body. Keep
            // them raw like any other unexpected type.
            other => Self::Unknown { payload_type: other.into(), body },
        })
    }

    /// Appends the body (without the generic header).
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::SecurityAssociation(sa) => sa.encode_body(out),
            Self::Identification(id) => id.encode_body(out),
            Self::Certificate(c) | Self::CertificateRequest(c) => c.encode_body(out),
            Self::Notification(n) => n.encode_body(out),
            Self::Delete(d) => d.encode_body(out),
            Self::NatOriginalAddress { address, .. } => address.encode_body(out),
            Self::KeyExchange(b)
            | Self::Hash(b)
            | Self::Signature(b)
            | Self::Nonce(b)
            | Self::VendorId(b)
            | Self::NatDiscovery { hash: b, .. }
            | Self::Unknown { body: b, .. } => out.extend_from_slice(b),
        }
    }
}

/// RFC 2408 §3.4: Security Association payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityAssociation<'a> {
    /// Domain of Interpretation (1 = IPsec).
    pub doi: u32,
    /// RFC 2407 §4.6.1 Situation bitmap (1 = SIT_IDENTITY_ONLY).
    pub situation: u32,
    /// The proposals, in order.
    pub proposals: Vec<Proposal<'a>>,
}

impl<'a> SecurityAssociation<'a> {
    /// RFC 2407 §4.6.1: SIT_SECRECY and SIT_INTEGRITY add labeled-domain fields that
    /// this codec does not read.
    const LABELED_SITUATIONS: u32 = 0x2 | 0x4;

    /// Parses an SA payload body.
    ///
    /// # Errors
    /// Truncation, a labeled-domain situation, or a malformed proposal chain.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (mut rest, (doi, situation)) =
            (be_u32::<&[u8], ()>, be_u32).parse(body).map_err(truncated("SA payload"))?;
        if situation & Self::LABELED_SITUATIONS != 0 {
            return Err(ParseError::Invalid { what: "SA situation (labeled domains are not supported)" });
        }
        let mut proposals = Vec::new();
        let mut more = !rest.is_empty();
        while more {
            if proposals.len() == MAX_PROPOSALS {
                return Err(ParseError::TooMany { what: "proposals" });
            }
            let (pbody, next, after) = generic_payload(rest, "proposal")?;
            proposals.push(Proposal::parse(pbody)?);
            match PayloadType::from(next) {
                PayloadType::None => more = false,
                PayloadType::Proposal => {}
                _ => return Err(ParseError::Invalid { what: "proposal chain" }),
            }
            rest = after;
        }
        if !rest.is_empty() {
            return Err(ParseError::BadLength { what: "SA payload" });
        }
        Ok(Self { doi, situation, proposals })
    }

    /// Appends the SA payload body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.extend_from_slice(&self.situation.to_be_bytes());
        for (i, p) in self.proposals.iter().enumerate() {
            let next = if i + 1 < self.proposals.len() { PayloadType::Proposal } else { PayloadType::None };
            let at = put_generic_header(out, next);
            p.encode_body(out);
            patch_length(out, at);
        }
    }
}

/// RFC 2408 §3.5: Proposal payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal<'a> {
    /// Proposal number; proposals with the same number are ANDed (RFC 2408 §4.2).
    pub number: u8,
    /// Protocol of the proposed SA.
    pub protocol_id: ProtocolId,
    /// The sender's SPI for the SA (empty in phase 1, 4 bytes for ESP/AH).
    pub spi: &'a [u8],
    /// The transforms offered for this protocol, in preference order.
    pub transforms: Vec<Transform<'a>>,
}

impl<'a> Proposal<'a> {
    /// Parses a Proposal payload body.
    ///
    /// # Errors
    /// Truncation, an SPI past the end, or a transform count that disagrees with the
    /// transforms present.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (rest, (number, protocol, spi_size, count)) =
            (be_u8::<&[u8], ()>, be_u8, be_u8, be_u8).parse(body).map_err(truncated("proposal"))?;
        let spi_size = usize::from(spi_size);
        if rest.len() < spi_size {
            return Err(ParseError::BadLength { what: "proposal SPI" });
        }
        let (spi, mut rest) = rest.split_at(spi_size);
        let mut transforms = Vec::new();
        let mut more = !rest.is_empty();
        while more {
            if transforms.len() == MAX_TRANSFORMS {
                return Err(ParseError::TooMany { what: "transforms" });
            }
            let (tbody, next, after) = generic_payload(rest, "transform")?;
            transforms.push(Transform::parse(tbody)?);
            match PayloadType::from(next) {
                PayloadType::None => more = false,
                PayloadType::Transform => {}
                _ => return Err(ParseError::Invalid { what: "transform chain" }),
            }
            rest = after;
        }
        if !rest.is_empty() || transforms.len() != usize::from(count) {
            return Err(ParseError::BadLength { what: "proposal" });
        }
        Ok(Self { number, protocol_id: protocol.into(), spi, transforms })
    }

    /// Appends the Proposal payload body. At most 255 transforms are written.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        let transforms = &self.transforms[..self.transforms.len().min(MAX_TRANSFORMS)];
        out.push(self.number);
        out.push(self.protocol_id.into());
        out.push(u8::try_from(self.spi.len()).unwrap_or(u8::MAX));
        out.push(u8::try_from(transforms.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.spi[..self.spi.len().min(255)]);
        for (i, t) in transforms.iter().enumerate() {
            let next = if i + 1 < transforms.len() { PayloadType::Transform } else { PayloadType::None };
            let at = put_generic_header(out, next);
            t.encode_body(out);
            patch_length(out, at);
        }
    }
}

/// RFC 2408 §3.6: Transform payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform<'a> {
    /// Transform number.
    pub number: u8,
    /// Transform ID: KEY_IKE (1) in phase 1; an ESP/AH transform in phase 2.
    pub transform_id: u8,
    /// SA attributes ([`super::IkeAttributeType`] or [`super::IpsecAttributeType`]).
    pub attributes: Vec<Attribute<'a>>,
}

impl<'a> Transform<'a> {
    /// Parses a Transform payload body.
    ///
    /// # Errors
    /// Truncation or a malformed attribute.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (mut rest, (number, transform_id, _reserved)) =
            (be_u8::<&[u8], ()>, be_u8, be_u16).parse(body).map_err(truncated("transform"))?;
        let mut attributes = Vec::new();
        while !rest.is_empty() {
            if attributes.len() == MAX_ATTRIBUTES {
                return Err(ParseError::TooMany { what: "attributes" });
            }
            let (attribute, after) = Attribute::parse(rest)?;
            attributes.push(attribute);
            rest = after;
        }
        Ok(Self { number, transform_id, attributes })
    }

    /// Appends the Transform payload body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.number);
        out.push(self.transform_id);
        out.extend_from_slice(&[0, 0]);
        for a in &self.attributes {
            a.encode(out);
        }
    }

    /// The basic (16-bit) value of the first attribute of class `kind`, if any.
    #[must_use]
    pub fn basic(&self, kind: u16) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a.value {
            AttributeValue::Basic(v) if a.kind == kind => Some(v),
            _ => None,
        })
    }

    /// The value of the first attribute of class `kind` as an integer, whichever form it
    /// was sent in (RFC 2408 §3.3; life durations may be either). Variable values longer
    /// than 8 bytes give `None`.
    #[must_use]
    pub fn integer(&self, kind: u16) -> Option<u64> {
        self.attributes.iter().find(|a| a.kind == kind).and_then(|a| a.value.as_integer())
    }
}

/// RFC 2408 §3.3: the two forms of a data attribute value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeValue<'a> {
    /// AF = 1 (TV): a 16-bit value in place of the length.
    Basic(u16),
    /// AF = 0 (TLV): a length-prefixed value.
    Variable(&'a [u8]),
}

impl AttributeValue<'_> {
    /// The value as an unsigned integer (big-endian for variable values up to 8 bytes).
    #[must_use]
    pub fn as_integer(&self) -> Option<u64> {
        match *self {
            Self::Basic(v) => Some(u64::from(v)),
            Self::Variable(b) if b.len() <= 8 => {
                Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
            }
            Self::Variable(_) => None,
        }
    }
}

/// RFC 2408 §3.3: a data attribute (SA attribute of a transform).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute class (15 bits; the AF bit is given by the value's form).
    pub kind: u16,
    /// Its value.
    pub value: AttributeValue<'a>,
}

impl<'a> Attribute<'a> {
    const AF: u16 = 0x8000;

    /// Reads one attribute from the start of `data`; returns it and the rest.
    ///
    /// # Errors
    /// Truncation or a variable length past the end.
    pub fn parse(data: &'a [u8]) -> Result<(Self, &'a [u8]), ParseError> {
        let (rest, (type_field, len_or_value)) =
            (be_u16::<&[u8], ()>, be_u16).parse(data).map_err(truncated("data attribute"))?;
        let kind = type_field & !Self::AF;
        if type_field & Self::AF != 0 {
            return Ok((Self { kind, value: AttributeValue::Basic(len_or_value) }, rest));
        }
        let len = usize::from(len_or_value);
        if rest.len() < len {
            return Err(ParseError::BadLength { what: "data attribute" });
        }
        let (value, rest) = rest.split_at(len);
        Ok((Self { kind, value: AttributeValue::Variable(value) }, rest))
    }

    /// A basic (TV) attribute.
    #[must_use]
    pub const fn basic(kind: u16, value: u16) -> Self {
        Self { kind, value: AttributeValue::Basic(value) }
    }

    /// Appends the attribute. Variable values are cut at 65535 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let kind = self.kind & !Self::AF;
        match self.value {
            AttributeValue::Basic(v) => {
                out.extend_from_slice(&(kind | Self::AF).to_be_bytes());
                out.extend_from_slice(&v.to_be_bytes());
            }
            AttributeValue::Variable(b) => {
                let b = &b[..b.len().min(usize::from(u16::MAX))];
                out.extend_from_slice(&kind.to_be_bytes());
                out.extend_from_slice(&u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
}

/// RFC 2407 §4.6.2: Identification payload body in the IPsec DOI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identification<'a> {
    /// ID type.
    pub id_type: IdType,
    /// IP protocol (0 = any; 17 = UDP in phase 1 per RFC 2407 §4.6.2).
    pub protocol_id: u8,
    /// Port (0 = any; 500 in phase 1).
    pub port: u16,
    /// Identification data (an address, a name, a subnet...).
    pub data: &'a [u8],
}

impl<'a> Identification<'a> {
    /// Parses an ID payload body.
    ///
    /// # Errors
    /// Fewer than 4 bytes.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (data, (id_type, protocol_id, port)) =
            (be_u8::<&[u8], ()>, be_u8, be_u16).parse(body).map_err(truncated("ID payload"))?;
        Ok(Self { id_type: id_type.into(), protocol_id, port, data })
    }

    /// Appends the ID payload body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.id_type.into());
        out.push(self.protocol_id);
        out.extend_from_slice(&self.port.to_be_bytes());
        out.extend_from_slice(self.data);
    }
}

/// RFC 2408 §3.9 Certificate (and §3.10 Certificate Request) payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// Certificate encoding (or, in a request, the requested type).
    pub encoding: CertEncoding,
    /// Certificate data (or, in a request, the certificate authority).
    pub data: &'a [u8],
}

impl<'a> Certificate<'a> {
    /// Parses a CERT or CR payload body.
    ///
    /// # Errors
    /// An empty body.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (data, encoding) = be_u8::<&[u8], ()>(body).map_err(truncated("CERT payload"))?;
        Ok(Self { encoding: encoding.into(), data })
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.encoding.into());
        out.extend_from_slice(self.data);
    }
}

/// RFC 2408 §3.14: Notification payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification<'a> {
    /// Domain of Interpretation.
    pub doi: u32,
    /// Protocol the notification is about.
    pub protocol_id: ProtocolId,
    /// Notify message type.
    pub notify_type: NotifyType,
    /// SPI the notification is about (phase 1: the two cookies, or empty).
    pub spi: &'a [u8],
    /// Notification data (DPD: the 4-byte sequence number).
    pub data: &'a [u8],
}

impl<'a> Notification<'a> {
    /// Parses a Notification payload body.
    ///
    /// # Errors
    /// Truncation or an SPI past the end.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (rest, (doi, protocol, spi_size, notify_type)) =
            (be_u32::<&[u8], ()>, be_u8, be_u8, be_u16).parse(body).map_err(truncated("N payload"))?;
        let spi_size = usize::from(spi_size);
        if rest.len() < spi_size {
            return Err(ParseError::BadLength { what: "N payload SPI" });
        }
        let (spi, data) = rest.split_at(spi_size);
        Ok(Self { doi, protocol_id: protocol.into(), notify_type: notify_type.into(), spi, data })
    }

    /// Appends the body. SPIs are cut at 255 bytes.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        let spi = &self.spi[..self.spi.len().min(255)];
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.push(self.protocol_id.into());
        out.push(u8::try_from(spi.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&u16::from(self.notify_type).to_be_bytes());
        out.extend_from_slice(spi);
        out.extend_from_slice(self.data);
    }
}

/// RFC 2408 §3.15: Delete payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delete<'a> {
    /// Domain of Interpretation.
    pub doi: u32,
    /// Protocol of the SAs being deleted.
    pub protocol_id: ProtocolId,
    /// Length of each SPI (16 for an ISAKMP SA: both cookies; 4 for ESP).
    pub spi_size: u8,
    /// Number of SPIs.
    pub spi_count: u16,
    /// `spi_count` SPIs of `spi_size` bytes each, back to back.
    pub spis: &'a [u8],
}

impl<'a> Delete<'a> {
    /// Parses a Delete payload body.
    ///
    /// # Errors
    /// Truncation, or SPI bytes that are not `spi_size × spi_count`.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (spis, (doi, protocol, spi_size, spi_count)) =
            (be_u32::<&[u8], ()>, be_u8, be_u8, be_u16).parse(body).map_err(truncated("D payload"))?;
        if usize::from(spi_size) * usize::from(spi_count) != spis.len() {
            return Err(ParseError::BadLength { what: "D payload" });
        }
        Ok(Self { doi, protocol_id: protocol.into(), spi_size, spi_count, spis })
    }

    /// The SPIs one by one (nothing when `spi_size` is 0).
    pub fn spis(&self) -> impl Iterator<Item = &'a [u8]> {
        let size = usize::from(self.spi_size).max(1);
        let spis = if self.spi_size == 0 { &[][..] } else { self.spis };
        spis.chunks(size)
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.push(self.protocol_id.into());
        out.push(self.spi_size);
        out.extend_from_slice(&self.spi_count.to_be_bytes());
        out.extend_from_slice(self.spis);
    }
}

/// RFC 3947 §5.2: NAT-OA payload body (ID type, 3 reserved bytes, address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatOriginalAddress<'a> {
    /// ID_IPV4_ADDR or ID_IPV6_ADDR.
    pub id_type: IdType,
    /// The address bytes (4 or 16 for the types above; kept raw for others).
    pub address: &'a [u8],
}

impl<'a> NatOriginalAddress<'a> {
    /// Parses a NAT-OA payload body.
    ///
    /// # Errors
    /// Under 4 bytes, or an IPv4/IPv6 type whose address has the wrong length.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (address, (id_type, _r1, _r2)) =
            (be_u8::<&[u8], ()>, be_u8, be_u16).parse(body).map_err(truncated("NAT-OA payload"))?;
        let id_type = IdType::from(id_type);
        let ok = match id_type {
            IdType::Ipv4Addr => address.len() == 4,
            IdType::Ipv6Addr => address.len() == 16,
            _ => true,
        };
        if !ok {
            return Err(ParseError::BadLength { what: "NAT-OA address" });
        }
        Ok(Self { id_type, address })
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.id_type.into());
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(self.address);
    }
}

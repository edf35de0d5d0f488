//! RFC 7296 §3.15: the Configuration payload (CP) and its attributes.

use std::net::{Ipv4Addr, Ipv6Addr};

use nom::{
    Parser,
    bytes::complete::take,
    number::complete::{be_u8, be_u16},
};

use super::{CfgAttributeType, CfgType, EncodeError, ParseError, len_u16, truncated};

/// Most attributes one CP payload may carry.
pub const MAX_CFG_ATTRIBUTES: usize = 255;

/// RFC 7296 §3.15.1: the R (reserved) bit above the 15-bit attribute type.
const R_BIT: u16 = 0x8000;

/// RFC 7296 §3.15: Configuration payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration<'a> {
    /// CFG_REQUEST, CFG_REPLY, CFG_SET or CFG_ACK.
    pub cfg_type: CfgType,
    /// The three RESERVED bytes (zero when sending).
    pub reserved: [u8; 3],
    /// The attributes, in order.
    pub attributes: Vec<CfgAttribute<'a>>,
}

impl<'a> Configuration<'a> {
    /// A CP payload of `cfg_type` holding `attributes`.
    #[must_use]
    pub const fn new(cfg_type: CfgType, attributes: Vec<CfgAttribute<'a>>) -> Self {
        Self { cfg_type, reserved: [0; 3], attributes }
    }

    /// Parses a CP payload body.
    ///
    /// # Errors
    /// Fewer than 4 bytes, a malformed attribute, or more than [`MAX_CFG_ATTRIBUTES`].
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (mut rest, (cfg_type, reserved)) =
            (be_u8::<&[u8], ()>, take(3usize)).parse(body).map_err(truncated("CP payload"))?;
        let mut attributes = Vec::new();
        while !rest.is_empty() {
            if attributes.len() == MAX_CFG_ATTRIBUTES {
                return Err(ParseError::TooMany { what: "configuration attributes" });
            }
            let (attribute, after) = CfgAttribute::parse(rest)?;
            attributes.push(attribute);
            rest = after;
        }
        Ok(Self { cfg_type: cfg_type.into(), reserved: [reserved[0], reserved[1], reserved[2]], attributes })
    }

    /// The first attribute of `attribute_type`, if any.
    #[must_use]
    pub fn get(&self, attribute_type: CfgAttributeType) -> Option<&CfgAttribute<'a>> {
        self.attributes.iter().find(|a| a.attribute_type == attribute_type)
    }

    /// Appends the body.
    ///
    /// # Errors
    /// An attribute that does not fit, or whose value does not suit its type.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.cfg_type.into());
        out.extend_from_slice(&self.reserved);
        for a in &self.attributes {
            a.encode(out)?;
        }
        Ok(())
    }
}

/// RFC 7296 §3.15.1: the value of a configuration attribute, typed by attribute type.
/// A zero-length value (a request for an attribute, or an acknowledgement) is
/// [`CfgValue::Empty`] whatever the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CfgValue<'a> {
    /// No value.
    Empty,
    /// INTERNAL_IP4_ADDRESS, _NETMASK, _DNS, _NBNS, _DHCP: one IPv4 address.
    Ipv4(Ipv4Addr),
    /// INTERNAL_IP4_SUBNET: address and netmask.
    Ipv4Subnet {
        /// Address.
        addr: Ipv4Addr,
        /// Netmask.
        mask: Ipv4Addr,
    },
    /// INTERNAL_IP6_ADDRESS, INTERNAL_IP6_SUBNET: an address and a prefix length.
    Ipv6Prefix {
        /// Address.
        addr: Ipv6Addr,
        /// Prefix length in bits.
        prefix_len: u8,
    },
    /// INTERNAL_IP6_DNS, INTERNAL_IP6_DHCP: one IPv6 address.
    Ipv6(Ipv6Addr),
    /// APPLICATION_VERSION, INTERNAL_DNS_DOMAIN: text (not checked for UTF-8 or
    /// printability), non-empty.
    Text(&'a [u8]),
    /// SUPPORTED_ATTRIBUTES: a non-empty list of 2-byte attribute types.
    AttributeTypes(&'a [u8]),
    /// An attribute type this codec does not interpret: the non-empty raw value.
    Raw(&'a [u8]),
}

/// The value shapes an attribute type admits besides [`CfgValue::Empty`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Ipv4,
    Ipv4Subnet,
    Ipv6Prefix,
    Ipv6,
    Text,
    AttributeTypes,
    Raw,
}

impl Shape {
    const fn of(attribute_type: CfgAttributeType) -> Self {
        match attribute_type {
            CfgAttributeType::InternalIp4Address
            | CfgAttributeType::InternalIp4Netmask
            | CfgAttributeType::InternalIp4Dns
            | CfgAttributeType::InternalIp4Nbns
            | CfgAttributeType::InternalIp4Dhcp => Self::Ipv4,
            CfgAttributeType::InternalIp4Subnet => Self::Ipv4Subnet,
            CfgAttributeType::InternalIp6Address | CfgAttributeType::InternalIp6Subnet => Self::Ipv6Prefix,
            CfgAttributeType::InternalIp6Dns | CfgAttributeType::InternalIp6Dhcp => Self::Ipv6,
            CfgAttributeType::ApplicationVersion | CfgAttributeType::InternalDnsDomain => Self::Text,
            CfgAttributeType::SupportedAttributes => Self::AttributeTypes,
            CfgAttributeType::Unknown(_) => Self::Raw,
        }
    }

    /// Whether a non-empty `value` fits this shape.
    fn admits(self, value: &CfgValue<'_>) -> bool {
        match (self, value) {
            (_, CfgValue::Empty)
            | (Self::Ipv4, CfgValue::Ipv4(_))
            | (Self::Ipv4Subnet, CfgValue::Ipv4Subnet { .. })
            | (Self::Ipv6Prefix, CfgValue::Ipv6Prefix { .. })
            | (Self::Ipv6, CfgValue::Ipv6(_)) => true,
            (Self::Text, CfgValue::Text(b)) | (Self::Raw, CfgValue::Raw(b)) => !b.is_empty(),
            (Self::AttributeTypes, CfgValue::AttributeTypes(b)) => !b.is_empty() && b.len() % 2 == 0,
            _ => false,
        }
    }
}

/// RFC 7296 §3.15.1: one configuration attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CfgAttribute<'a> {
    /// The R bit above the type (reserved: zero when sending).
    pub reserved_bit: bool,
    /// Attribute type (15 bits).
    pub attribute_type: CfgAttributeType,
    /// Its value.
    pub value: CfgValue<'a>,
}

impl<'a> CfgAttribute<'a> {
    /// An attribute with the R bit clear.
    #[must_use]
    pub const fn new(attribute_type: CfgAttributeType, value: CfgValue<'a>) -> Self {
        Self { reserved_bit: false, attribute_type, value }
    }

    /// A zero-length attribute: in a CFG_REQUEST, "please assign me one".
    #[must_use]
    pub const fn request(attribute_type: CfgAttributeType) -> Self {
        Self::new(attribute_type, CfgValue::Empty)
    }

    /// Reads one attribute from the start of `data`; returns it and the rest.
    ///
    /// # Errors
    /// Fewer than 4 bytes, a length past the end, or a length a known attribute type
    /// does not allow.
    pub fn parse(data: &'a [u8]) -> Result<(Self, &'a [u8]), ParseError> {
        let (rest, (type_field, len)) =
            (be_u16::<&[u8], ()>, be_u16).parse(data).map_err(truncated("configuration attribute"))?;
        let len = usize::from(len);
        if rest.len() < len {
            return Err(ParseError::BadLength { what: "configuration attribute" });
        }
        let (v, rest) = rest.split_at(len);
        let attribute_type = CfgAttributeType::from(type_field & !R_BIT);
        let bad = ParseError::BadLength { what: "configuration attribute value" };
        let value = if v.is_empty() {
            CfgValue::Empty
        } else {
            match Shape::of(attribute_type) {
                Shape::Ipv4 => CfgValue::Ipv4(<[u8; 4]>::try_from(v).map_err(|_| bad)?.into()),
                Shape::Ipv4Subnet => {
                    let b = <[u8; 8]>::try_from(v).map_err(|_| bad)?;
                    CfgValue::Ipv4Subnet {
                        addr: Ipv4Addr::new(b[0], b[1], b[2], b[3]),
                        mask: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
                    }
                }
                Shape::Ipv6Prefix => {
                    let b = <[u8; 17]>::try_from(v).map_err(|_| bad)?;
                    let mut addr = [0u8; 16];
                    addr.copy_from_slice(&b[..16]);
                    CfgValue::Ipv6Prefix { addr: addr.into(), prefix_len: b[16] }
                }
                Shape::Ipv6 => CfgValue::Ipv6(<[u8; 16]>::try_from(v).map_err(|_| bad)?.into()),
                Shape::Text => CfgValue::Text(v),
                Shape::AttributeTypes if v.len() % 2 == 0 => CfgValue::AttributeTypes(v),
                Shape::AttributeTypes => return Err(bad),
                Shape::Raw => CfgValue::Raw(v),
            }
        };
        Ok((Self { reserved_bit: type_field & R_BIT != 0, attribute_type, value }, rest))
    }

    /// The attribute types listed by SUPPORTED_ATTRIBUTES (nothing for other values).
    pub fn supported_attributes(&self) -> impl Iterator<Item = CfgAttributeType> + use<'a> {
        let list = match self.value {
            CfgValue::AttributeTypes(b) => b,
            _ => &[],
        };
        list.chunks_exact(2).map(|c| CfgAttributeType::from(u16::from_be_bytes([c[0], c[1]]) & !R_BIT))
    }

    /// Appends the attribute.
    ///
    /// # Errors
    /// A type over 15 bits, a value that does not suit the type, or one over 65535 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let kind = u16::from(self.attribute_type);
        if kind & R_BIT != 0 {
            return Err(EncodeError::Invalid { what: "configuration attribute type (over 15 bits)" });
        }
        if !Shape::of(self.attribute_type).admits(&self.value) {
            return Err(EncodeError::Invalid { what: "configuration attribute value for its type" });
        }
        let kind = kind | if self.reserved_bit { R_BIT } else { 0 };
        out.extend_from_slice(&kind.to_be_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0, 0]);
        match self.value {
            CfgValue::Empty => {}
            CfgValue::Ipv4(a) => out.extend_from_slice(&a.octets()),
            CfgValue::Ipv4Subnet { addr, mask } => {
                out.extend_from_slice(&addr.octets());
                out.extend_from_slice(&mask.octets());
            }
            CfgValue::Ipv6Prefix { addr, prefix_len } => {
                out.extend_from_slice(&addr.octets());
                out.push(prefix_len);
            }
            CfgValue::Ipv6(a) => out.extend_from_slice(&a.octets()),
            CfgValue::Text(b) | CfgValue::AttributeTypes(b) | CfgValue::Raw(b) => out.extend_from_slice(b),
        }
        let len = len_u16(out.len() - len_at - 2, "configuration attribute")?;
        out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

//! RFC 7296 §3.13: the Traffic Selector payloads (TSi, TSr).

use std::net::{Ipv4Addr, Ipv6Addr};

use nom::{
    Parser,
    bytes::complete::take,
    number::complete::{be_u8, be_u16},
};

use super::{EncodeError, ParseError, TsType, len_u8, patch_len_u16, truncated};

/// RFC 7296 §3.13.1: a TS_IPV4_ADDR_RANGE selector is 16 bytes.
const IPV4_SELECTOR_LEN: usize = 16;
/// RFC 7296 §3.13.1: a TS_IPV6_ADDR_RANGE selector is 40 bytes.
const IPV6_SELECTOR_LEN: usize = 40;
/// Type, protocol / reserved byte and length start every selector.
const SELECTOR_HEADER_LEN: usize = 4;

/// RFC 7296 §3.13: TSi / TSr payload body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrafficSelectors<'a> {
    /// The three RESERVED bytes after Number of TSs (zero when sending).
    pub reserved: [u8; 3],
    /// The selectors (at most 255; their union is the traffic allowed).
    pub selectors: Vec<TrafficSelector<'a>>,
}

impl<'a> TrafficSelectors<'a> {
    /// A TS payload holding `selectors`.
    #[must_use]
    pub const fn new(selectors: Vec<TrafficSelector<'a>>) -> Self {
        Self { reserved: [0; 3], selectors }
    }

    /// Parses a TS payload body.
    ///
    /// # Errors
    /// Fewer than 4 bytes, a selector length that is wrong for its type or past the end,
    /// or a selector count that disagrees with the selectors present.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (mut rest, (count, reserved)) =
            (be_u8::<&[u8], ()>, take(3usize)).parse(body).map_err(truncated("TS payload"))?;
        let mut selectors = Vec::with_capacity(usize::from(count).min(rest.len() / SELECTOR_HEADER_LEN));
        while !rest.is_empty() {
            if selectors.len() == usize::from(count) {
                return Err(ParseError::BadLength { what: "TS payload (bytes after the last selector)" });
            }
            let (selector, after) = TrafficSelector::parse(rest)?;
            selectors.push(selector);
            rest = after;
        }
        if selectors.len() != usize::from(count) {
            return Err(ParseError::BadLength { what: "TS payload selector count" });
        }
        Ok(Self { reserved: [reserved[0], reserved[1], reserved[2]], selectors })
    }

    /// Appends the body.
    ///
    /// # Errors
    /// More than 255 selectors, or a selector that does not fit.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(len_u8(self.selectors.len(), "TS payload selectors")?);
        out.extend_from_slice(&self.reserved);
        for s in &self.selectors {
            s.encode(out)?;
        }
        Ok(())
    }
}

/// RFC 7296 §3.13.1: one traffic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficSelector<'a> {
    /// TS_IPV4_ADDR_RANGE: IPv4 addresses `start..=end`, ports `start_port..=end_port`.
    Ipv4 {
        /// IP protocol number (0: any).
        ip_protocol: u8,
        /// First port (0 with `end_port` 65535: any; for ICMP, type and code).
        start_port: u16,
        /// Last port.
        end_port: u16,
        /// First address.
        start: Ipv4Addr,
        /// Last address.
        end: Ipv4Addr,
    },
    /// TS_IPV6_ADDR_RANGE: IPv6 addresses `start..=end`, ports `start_port..=end_port`.
    Ipv6 {
        /// IP protocol number (0: any).
        ip_protocol: u8,
        /// First port.
        start_port: u16,
        /// Last port.
        end_port: u16,
        /// First address.
        start: Ipv6Addr,
        /// Last address.
        end: Ipv6Addr,
    },
    /// A selector of another type (e.g. TS_FC_ADDR_RANGE, TS_SECLABEL), kept raw.
    Other {
        /// TS Type.
        ts_type: TsType,
        /// The byte after the type (IP protocol for address ranges, RESERVED for
        /// security labels).
        second_byte: u8,
        /// Everything after the Selector Length field.
        data: &'a [u8],
    },
}

impl<'a> TrafficSelector<'a> {
    /// All IPv4 traffic: any protocol, any port, 0.0.0.0–255.255.255.255.
    pub const IPV4_ANY: Self = Self::Ipv4 {
        ip_protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start: Ipv4Addr::UNSPECIFIED,
        end: Ipv4Addr::BROADCAST,
    };

    /// One IPv4 host, one protocol and one port (0 protocol / port: any): e.g. UDP/1701
    /// of an L2TP peer in transport mode.
    #[must_use]
    pub const fn ipv4_host(addr: Ipv4Addr, ip_protocol: u8, port: Option<u16>) -> Self {
        let (start_port, end_port) = match port {
            Some(p) => (p, p),
            None => (0, u16::MAX),
        };
        Self::Ipv4 { ip_protocol, start_port, end_port, start: addr, end: addr }
    }

    /// The TS Type.
    #[must_use]
    pub const fn ts_type(&self) -> TsType {
        match self {
            Self::Ipv4 { .. } => TsType::Ipv4AddrRange,
            Self::Ipv6 { .. } => TsType::Ipv6AddrRange,
            Self::Other { ts_type, .. } => *ts_type,
        }
    }

    /// Reads one selector from the start of `data`; returns it and the rest.
    ///
    /// # Errors
    /// Fewer than 4 bytes, a Selector Length past the end, or one that is wrong for an
    /// IPv4 / IPv6 range.
    pub fn parse(data: &'a [u8]) -> Result<(Self, &'a [u8]), ParseError> {
        let (_, (ts_type, second_byte, len)) =
            (be_u8::<&[u8], ()>, be_u8, be_u16).parse(data).map_err(truncated("traffic selector"))?;
        let len = usize::from(len);
        if len < SELECTOR_HEADER_LEN || len > data.len() {
            return Err(ParseError::BadLength { what: "traffic selector" });
        }
        let (selector, rest) = data.split_at(len);
        let fields = &selector[SELECTOR_HEADER_LEN..];
        let ts_type = TsType::from(ts_type);
        let ports = |f: &[u8]| (u16::from_be_bytes([f[0], f[1]]), u16::from_be_bytes([f[2], f[3]]));
        let parsed = match ts_type {
            TsType::Ipv4AddrRange => {
                if len != IPV4_SELECTOR_LEN {
                    return Err(ParseError::BadLength { what: "TS_IPV4_ADDR_RANGE" });
                }
                let (start_port, end_port) = ports(fields);
                let start: [u8; 4] =
                    fields[4..8].try_into().map_err(|_| ParseError::BadLength { what: "TS" })?;
                let end: [u8; 4] =
                    fields[8..12].try_into().map_err(|_| ParseError::BadLength { what: "TS" })?;
                Self::Ipv4 {
                    ip_protocol: second_byte,
                    start_port,
                    end_port,
                    start: start.into(),
                    end: end.into(),
                }
            }
            TsType::Ipv6AddrRange => {
                if len != IPV6_SELECTOR_LEN {
                    return Err(ParseError::BadLength { what: "TS_IPV6_ADDR_RANGE" });
                }
                let (start_port, end_port) = ports(fields);
                let start: [u8; 16] =
                    fields[4..20].try_into().map_err(|_| ParseError::BadLength { what: "TS" })?;
                let end: [u8; 16] =
                    fields[20..36].try_into().map_err(|_| ParseError::BadLength { what: "TS" })?;
                Self::Ipv6 {
                    ip_protocol: second_byte,
                    start_port,
                    end_port,
                    start: start.into(),
                    end: end.into(),
                }
            }
            _ => Self::Other { ts_type, second_byte, data: fields },
        };
        Ok((parsed, rest))
    }

    /// Appends the selector.
    ///
    /// # Errors
    /// An `Other` selector whose data is over 65531 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        match *self {
            Self::Ipv4 { ip_protocol, start_port, end_port, start: first, end: last } => {
                out.extend_from_slice(&[TsType::Ipv4AddrRange.value(), ip_protocol, 0, 0]);
                out.extend_from_slice(&start_port.to_be_bytes());
                out.extend_from_slice(&end_port.to_be_bytes());
                out.extend_from_slice(&first.octets());
                out.extend_from_slice(&last.octets());
            }
            Self::Ipv6 { ip_protocol, start_port, end_port, start: first, end: last } => {
                out.extend_from_slice(&[TsType::Ipv6AddrRange.value(), ip_protocol, 0, 0]);
                out.extend_from_slice(&start_port.to_be_bytes());
                out.extend_from_slice(&end_port.to_be_bytes());
                out.extend_from_slice(&first.octets());
                out.extend_from_slice(&last.octets());
            }
            Self::Other { ts_type, second_byte, data } => {
                if matches!(ts_type, TsType::Ipv4AddrRange | TsType::Ipv6AddrRange) {
                    return Err(EncodeError::Invalid {
                        what: "raw traffic selector of an address-range type",
                    });
                }
                out.extend_from_slice(&[ts_type.value(), second_byte, 0, 0]);
                out.extend_from_slice(data);
            }
        }
        patch_len_u16(out, start, start + 2, "traffic selector")
    }
}

//! PPP wire formats: frames, control packets, configuration options, PAP and CHAP.
//!
//! Everything here is a zero-copy view borrowed from the input plus an encoder that appends
//! to a caller's `Vec<u8>`. For every valid input `x`, encoding the parsed view gives back
//! exactly `x` (unknown codes, options and trailing padding are kept as raw bytes).
//!
//! Frames arrive without HDLC framing (RFC 2661 §5.4: L2TP carries PPP frames with the
//! flags, transparency and FCS removed); the `FF 03` address/control prefix may or may not
//! be present.

use nom::IResult;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16};

/// Errors of the wire layer: why a frame, packet or option could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input ends before the structure does.
    #[error("truncated input")]
    Truncated,
    /// A length field is smaller than the fixed header it covers, or points past the input.
    #[error("invalid length field")]
    BadLength,
    /// RFC 1661 §2: the protocol field's low octet must be odd and its high octet even.
    #[error("invalid protocol field")]
    BadProtocol,
}

type Res<'a, T> = IResult<&'a [u8], T, nom::error::Error<&'a [u8]>>;

fn map_err(_: nom::Err<nom::error::Error<&[u8]>>) -> ParseError {
    ParseError::Truncated
}

fn u8_(i: &[u8]) -> Res<'_, u8> {
    be_u8(i)
}
fn u16_(i: &[u8]) -> Res<'_, u16> {
    be_u16(i)
}
fn take_(n: usize) -> impl Fn(&[u8]) -> Res<'_, &[u8]> {
    move |i| take(n)(i)
}

/// PPP protocol numbers used by this crate (RFC 1661 §2, IANA "PPP DLL Protocol Numbers").
pub mod protocol {
    /// Internet Protocol version 4 (RFC 1332).
    pub const IPV4: u16 = 0x0021;
    /// Internet Protocol version 6 (RFC 5072).
    pub const IPV6: u16 = 0x0057;
    /// Van Jacobson compressed TCP/IP (RFC 1332 §4); never negotiated here.
    pub const VJ_COMPRESSED: u16 = 0x002d;
    /// IP Control Protocol (RFC 1332).
    pub const IPCP: u16 = 0x8021;
    /// IPv6 Control Protocol (RFC 5072).
    pub const IPV6CP: u16 = 0x8057;
    /// Compression Control Protocol (RFC 1962); not implemented, answered with Protocol-Reject.
    pub const CCP: u16 = 0x80fd;
    /// Link Control Protocol (RFC 1661).
    pub const LCP: u16 = 0xc021;
    /// Password Authentication Protocol (RFC 1334).
    pub const PAP: u16 = 0xc023;
    /// Link Quality Report (RFC 1989).
    pub const LQR: u16 = 0xc025;
    /// Challenge Handshake Authentication Protocol (RFC 1994).
    pub const CHAP: u16 = 0xc223;
    /// Extensible Authentication Protocol (RFC 3748).
    pub const EAP: u16 = 0xc227;
}

/// RFC 1662 §3.1: the All-Stations address and Unnumbered-Information control octets.
pub const ADDRESS_CONTROL: [u8; 2] = [0xff, 0x03];

/// One PPP frame without HDLC framing: optional address/control, protocol, information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Whether the frame starts with `FF 03` (RFC 1661 §6.6: absent when ACFC is in use).
    pub address_control: bool,
    /// Whether the protocol field was sent in its one-octet form (RFC 1661 §6.5, PFC).
    pub protocol_compressed: bool,
    /// The protocol number (RFC 1661 §2).
    pub protocol: u16,
    /// The information field (the payload plus any padding).
    pub information: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Parses a frame. RFC 1661 §2: a first protocol octet with its low bit set is a
    /// compressed (one-octet) protocol field; otherwise the second octet must be odd.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let (address_control, rest) = match data {
            [0xff, 0x03, rest @ ..] => (true, rest),
            _ => (false, data),
        };
        match rest {
            [] => Err(ParseError::Truncated),
            [b, info @ ..] if b & 1 == 1 => Ok(Frame {
                address_control,
                protocol_compressed: true,
                protocol: u16::from(*b),
                information: info,
            }),
            [_] => Err(ParseError::Truncated),
            [hi, lo, info @ ..] => {
                if lo & 1 == 0 {
                    return Err(ParseError::BadProtocol);
                }
                Ok(Frame {
                    address_control,
                    protocol_compressed: false,
                    protocol: u16::from_be_bytes([*hi, *lo]),
                    information: info,
                })
            }
        }
    }

    /// Appends the frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_header(self.address_control, self.protocol_compressed, self.protocol, out);
        out.extend_from_slice(self.information);
    }
}

/// Appends a frame header (`FF 03` if asked, then the protocol field). The protocol is
/// written in one octet only if `compress` is set and the number fits (RFC 1661 §6.5).
pub fn encode_header(address_control: bool, compress: bool, protocol: u16, out: &mut Vec<u8>) {
    if address_control {
        out.extend_from_slice(&ADDRESS_CONTROL);
    }
    if compress && protocol < 0x100 {
        out.push(protocol as u8);
    } else {
        out.extend_from_slice(&protocol.to_be_bytes());
    }
}

/// Packet codes shared by LCP and the NCPs (RFC 1661 §5, RFC 1570 for 12 and 13).
pub mod code {
    /// Configure-Request (RFC 1661 §5.1).
    pub const CONFIGURE_REQUEST: u8 = 1;
    /// Configure-Ack (RFC 1661 §5.2).
    pub const CONFIGURE_ACK: u8 = 2;
    /// Configure-Nak (RFC 1661 §5.3).
    pub const CONFIGURE_NAK: u8 = 3;
    /// Configure-Reject (RFC 1661 §5.4).
    pub const CONFIGURE_REJECT: u8 = 4;
    /// Terminate-Request (RFC 1661 §5.5).
    pub const TERMINATE_REQUEST: u8 = 5;
    /// Terminate-Ack (RFC 1661 §5.5).
    pub const TERMINATE_ACK: u8 = 6;
    /// Code-Reject (RFC 1661 §5.6).
    pub const CODE_REJECT: u8 = 7;
    /// Protocol-Reject, LCP only (RFC 1661 §5.7).
    pub const PROTOCOL_REJECT: u8 = 8;
    /// Echo-Request, LCP only (RFC 1661 §5.8).
    pub const ECHO_REQUEST: u8 = 9;
    /// Echo-Reply, LCP only (RFC 1661 §5.8).
    pub const ECHO_REPLY: u8 = 10;
    /// Discard-Request, LCP only (RFC 1661 §5.9).
    pub const DISCARD_REQUEST: u8 = 11;
    /// Identification, LCP only (RFC 1570 §2.3).
    pub const IDENTIFICATION: u8 = 12;
    /// Time-Remaining, LCP only (RFC 1570 §2.4).
    pub const TIME_REMAINING: u8 = 13;
}

/// The common header of LCP, NCP, PAP and CHAP packets: Code, Identifier, Length, Data.
///
/// RFC 1661 §5: octets past Length are padding and ignored; they are kept in `padding` so
/// that the frame can be re-encoded exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The code octet.
    pub code: u8,
    /// The identifier octet, matching requests and replies.
    pub identifier: u8,
    /// The data field (Length − 4 octets).
    pub data: &'a [u8],
    /// Octets after Length (padding).
    pub padding: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Parses a packet from an information field.
    pub fn parse(info: &'a [u8]) -> Result<Self, ParseError> {
        let (rest, (code, identifier, length)) = (|i| -> Res<'_, _> {
            let (i, c) = u8_(i)?;
            let (i, id) = u8_(i)?;
            let (i, l) = u16_(i)?;
            Ok((i, (c, id, l)))
        })(info)
        .map_err(map_err)?;
        let length = usize::from(length);
        if length < 4 || length > info.len() {
            return Err(ParseError::BadLength);
        }
        let data = &rest[..length - 4];
        Ok(Packet { code, identifier, data, padding: &rest[length - 4..] })
    }

    /// The raw packet without padding (what a Code-Reject carries back, RFC 1661 §5.6).
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        4 + self.data.len()
    }

    /// Appends the packet (with its padding) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_packet(self.code, self.identifier, &[self.data], out);
        out.extend_from_slice(self.padding);
    }
}

/// Appends a Code/Identifier/Length header followed by the concatenated `parts`.
///
/// Panics only if the parts together exceed 65531 octets, which no caller in this crate
/// produces (every part is bounded by the MRU).
pub fn encode_packet(code: u8, identifier: u8, parts: &[&[u8]], out: &mut Vec<u8>) {
    let len: usize = 4 + parts.iter().map(|p| p.len()).sum::<usize>();
    let len = u16::try_from(len).expect("PPP packet longer than 65535 octets");
    out.push(code);
    out.push(identifier);
    out.extend_from_slice(&len.to_be_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// One configuration option: Type, Length, Data (RFC 1661 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigOption<'a> {
    /// The option type.
    pub kind: u8,
    /// The option data (Length − 2 octets).
    pub data: &'a [u8],
}

impl<'a> ConfigOption<'a> {
    /// Appends the option (type, length, data) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.kind);
        out.push((self.data.len() + 2) as u8);
        out.extend_from_slice(self.data);
    }

    /// The data as a big-endian u16, if it is exactly 2 octets long.
    #[must_use]
    pub fn as_u16(&self) -> Option<u16> {
        <[u8; 2]>::try_from(self.data).ok().map(u16::from_be_bytes)
    }

    /// The data as a big-endian u32, if it is exactly 4 octets long.
    #[must_use]
    pub fn as_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.data).ok().map(u32::from_be_bytes)
    }
}

/// Iterator over the options of a Configure-Request/Ack/Nak/Reject data field.
///
/// Yields `Err` once (then stops) if an option's length is below 2 or runs past the data.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Iterates over the options in `data`.
#[must_use]
pub fn options(data: &[u8]) -> Options<'_> {
    Options { rest: data, failed: false }
}

/// Checks that `data` is a well-formed option list.
pub fn validate_options(data: &[u8]) -> Result<(), ParseError> {
    options(data).try_for_each(|o| o.map(|_| ()))
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<ConfigOption<'a>, ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r: Result<(&[u8], ConfigOption<'a>), ParseError> = (|| {
            let (i, kind) = u8_(self.rest).map_err(map_err)?;
            let (i, len) = u8_(i).map_err(map_err)?;
            if len < 2 {
                return Err(ParseError::BadLength);
            }
            let (i, data) = take_(usize::from(len) - 2)(i).map_err(|_| ParseError::BadLength)?;
            Ok((i, ConfigOption { kind, data }))
        })();
        match r {
            Ok((rest, o)) => {
                self.rest = rest;
                Some(Ok(o))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// LCP configuration option types (RFC 1661 §6, RFC 1570, RFC 1990).
pub mod lcp_option {
    /// Maximum-Receive-Unit (RFC 1661 §6.1).
    pub const MRU: u8 = 1;
    /// Async-Control-Character-Map (RFC 1662 §7.1).
    pub const ACCM: u8 = 2;
    /// Authentication-Protocol (RFC 1661 §6.2).
    pub const AUTH_PROTOCOL: u8 = 3;
    /// Quality-Protocol (RFC 1661 §6.3).
    pub const QUALITY_PROTOCOL: u8 = 4;
    /// Magic-Number (RFC 1661 §6.4).
    pub const MAGIC_NUMBER: u8 = 5;
    /// Protocol-Field-Compression (RFC 1661 §6.5).
    pub const PFC: u8 = 7;
    /// Address-and-Control-Field-Compression (RFC 1661 §6.6).
    pub const ACFC: u8 = 8;
    /// Callback (RFC 1570 §2.1).
    pub const CALLBACK: u8 = 13;
    /// Multilink MRRU (RFC 1990 §5.1.1).
    pub const MRRU: u8 = 17;
    /// Multilink Endpoint Discriminator (RFC 1990 §5.1.3).
    pub const ENDPOINT_DISCRIMINATOR: u8 = 19;
}

/// A typed LCP configuration option. Options of an unknown type, or of a known type with
/// a length that type does not allow, are kept raw in [`LcpOption::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcpOption<'a> {
    /// RFC 1661 §6.1: the largest information field the sender can receive.
    Mru(u16),
    /// RFC 1662 §7.1: control characters to escape (meaningless without async HDLC).
    Accm(u32),
    /// RFC 1661 §6.2: the authentication protocol the sender wants the peer to use.
    AuthProtocol(AuthProtocol<'a>),
    /// RFC 1661 §6.3: a link quality monitoring protocol and its data.
    QualityProtocol {
        /// The quality protocol number.
        protocol: u16,
        /// Protocol-specific data.
        data: &'a [u8],
    },
    /// RFC 1661 §6.4: a random number used to detect looped-back links.
    MagicNumber(u32),
    /// RFC 1661 §6.5: the sender can receive one-octet protocol fields.
    Pfc,
    /// RFC 1661 §6.6: the sender can receive frames without address/control.
    Acfc,
    /// Any other option, raw.
    Other(ConfigOption<'a>),
}

/// The value of the Authentication-Protocol option (RFC 1661 §6.2, RFC 1994 §3, RFC 2759 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProtocol<'a> {
    /// PAP (0xC023), no data.
    Pap,
    /// CHAP (0xC223) with an algorithm octet: 5 MD5, 0x80 MS-CHAP, 0x81 MS-CHAPv2.
    Chap(u8),
    /// EAP (0xC227), no data.
    Eap,
    /// Anything else, raw (protocol and data).
    Other(u16, &'a [u8]),
}

/// CHAP algorithm octets (RFC 1994 §3, RFC 2433 §2, RFC 2759 §2).
pub mod chap_algorithm {
    /// CHAP with MD5 (RFC 1994).
    pub const MD5: u8 = 5;
    /// MS-CHAP version 1 (RFC 2433).
    pub const MSCHAP: u8 = 0x80;
    /// MS-CHAP version 2 (RFC 2759).
    pub const MSCHAP_V2: u8 = 0x81;
}

impl<'a> AuthProtocol<'a> {
    /// Interprets the data of an Authentication-Protocol option.
    #[must_use]
    pub fn from_data(data: &'a [u8]) -> Option<Self> {
        let (&[hi, lo], rest) = data.split_first_chunk::<2>()?;
        let p = u16::from_be_bytes([hi, lo]);
        Some(match (p, rest) {
            (protocol::PAP, []) => AuthProtocol::Pap,
            (protocol::CHAP, [alg]) => AuthProtocol::Chap(*alg),
            (protocol::EAP, []) => AuthProtocol::Eap,
            _ => AuthProtocol::Other(p, rest),
        })
    }

    /// Appends the option data (protocol number and any algorithm octet).
    pub fn encode_data(&self, out: &mut Vec<u8>) {
        match self {
            AuthProtocol::Pap => out.extend_from_slice(&protocol::PAP.to_be_bytes()),
            AuthProtocol::Chap(a) => {
                out.extend_from_slice(&protocol::CHAP.to_be_bytes());
                out.push(*a);
            }
            AuthProtocol::Eap => out.extend_from_slice(&protocol::EAP.to_be_bytes()),
            AuthProtocol::Other(p, d) => {
                out.extend_from_slice(&p.to_be_bytes());
                out.extend_from_slice(d);
            }
        }
    }
}

impl<'a> LcpOption<'a> {
    /// Interprets a raw option.
    #[must_use]
    pub fn from_raw(o: ConfigOption<'a>) -> Self {
        use lcp_option as t;
        match o.kind {
            t::MRU => o.as_u16().map(LcpOption::Mru),
            t::ACCM => o.as_u32().map(LcpOption::Accm),
            t::AUTH_PROTOCOL => AuthProtocol::from_data(o.data).map(LcpOption::AuthProtocol),
            t::QUALITY_PROTOCOL if o.data.len() >= 2 => Some(LcpOption::QualityProtocol {
                protocol: u16::from_be_bytes([o.data[0], o.data[1]]),
                data: &o.data[2..],
            }),
            t::MAGIC_NUMBER => o.as_u32().map(LcpOption::MagicNumber),
            t::PFC if o.data.is_empty() => Some(LcpOption::Pfc),
            t::ACFC if o.data.is_empty() => Some(LcpOption::Acfc),
            _ => None,
        }
        .unwrap_or(LcpOption::Other(o))
    }

    /// Appends the option to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        use lcp_option as t;
        let start = out.len();
        out.extend_from_slice(&[0, 0]);
        let kind = match self {
            LcpOption::Mru(v) => {
                out.extend_from_slice(&v.to_be_bytes());
                t::MRU
            }
            LcpOption::Accm(v) => {
                out.extend_from_slice(&v.to_be_bytes());
                t::ACCM
            }
            LcpOption::AuthProtocol(a) => {
                a.encode_data(out);
                t::AUTH_PROTOCOL
            }
            LcpOption::QualityProtocol { protocol, data } => {
                out.extend_from_slice(&protocol.to_be_bytes());
                out.extend_from_slice(data);
                t::QUALITY_PROTOCOL
            }
            LcpOption::MagicNumber(v) => {
                out.extend_from_slice(&v.to_be_bytes());
                t::MAGIC_NUMBER
            }
            LcpOption::Pfc => t::PFC,
            LcpOption::Acfc => t::ACFC,
            LcpOption::Other(o) => {
                out.truncate(start);
                o.encode(out);
                return;
            }
        };
        out[start] = kind;
        out[start + 1] = (out.len() - start) as u8;
    }
}

/// IPCP configuration option types (RFC 1332 §3, RFC 1877 §1).
pub mod ipcp_option {
    /// IP-Addresses, deprecated (RFC 1332 §3.1).
    pub const IP_ADDRESSES: u8 = 1;
    /// IP-Compression-Protocol (RFC 1332 §3.2).
    pub const IP_COMPRESSION: u8 = 2;
    /// IP-Address (RFC 1332 §3.3).
    pub const IP_ADDRESS: u8 = 3;
    /// Primary DNS server address (RFC 1877 §1.1).
    pub const PRIMARY_DNS: u8 = 129;
    /// Primary NBNS server address (RFC 1877 §1.2).
    pub const PRIMARY_NBNS: u8 = 130;
    /// Secondary DNS server address (RFC 1877 §1.3).
    pub const SECONDARY_DNS: u8 = 131;
    /// Secondary NBNS server address (RFC 1877 §1.4).
    pub const SECONDARY_NBNS: u8 = 132;
}

/// A typed IPCP configuration option; anything else stays raw in [`IpcpOption::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcpOption<'a> {
    /// RFC 1332 §3.2: a compression protocol (e.g. 0x002D Van Jacobson) and its data.
    IpCompression {
        /// The compression protocol number.
        protocol: u16,
        /// Its parameters.
        data: &'a [u8],
    },
    /// RFC 1332 §3.3: the sender's address, or 0.0.0.0 to ask for one.
    IpAddress(std::net::Ipv4Addr),
    /// RFC 1877: a name server address (the option type tells which one).
    NameServer(u8, std::net::Ipv4Addr),
    /// Any other option, raw.
    Other(ConfigOption<'a>),
}

impl<'a> IpcpOption<'a> {
    /// Interprets a raw option.
    #[must_use]
    pub fn from_raw(o: ConfigOption<'a>) -> Self {
        use ipcp_option as t;
        let addr = o.as_u32().map(std::net::Ipv4Addr::from);
        match (o.kind, addr) {
            (t::IP_ADDRESS, Some(a)) => IpcpOption::IpAddress(a),
            (t::PRIMARY_DNS | t::SECONDARY_DNS | t::PRIMARY_NBNS | t::SECONDARY_NBNS, Some(a)) => {
                IpcpOption::NameServer(o.kind, a)
            }
            (t::IP_COMPRESSION, _) if o.data.len() >= 2 => IpcpOption::IpCompression {
                protocol: u16::from_be_bytes([o.data[0], o.data[1]]),
                data: &o.data[2..],
            },
            _ => IpcpOption::Other(o),
        }
    }

    /// Appends the option to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            IpcpOption::IpCompression { protocol, data } => {
                out.push(ipcp_option::IP_COMPRESSION);
                out.push((4 + data.len()) as u8);
                out.extend_from_slice(&protocol.to_be_bytes());
                out.extend_from_slice(data);
            }
            IpcpOption::IpAddress(a) => {
                out.extend_from_slice(&[ipcp_option::IP_ADDRESS, 6]);
                out.extend_from_slice(&a.octets());
            }
            IpcpOption::NameServer(k, a) => {
                out.extend_from_slice(&[*k, 6]);
                out.extend_from_slice(&a.octets());
            }
            IpcpOption::Other(o) => o.encode(out),
        }
    }
}

/// IPV6CP configuration option types (RFC 5072 §4).
pub mod ipv6cp_option {
    /// Interface-Identifier (RFC 5072 §4.1).
    pub const INTERFACE_IDENTIFIER: u8 = 1;
    /// IPv6-Compression-Protocol (RFC 5072 §4.2).
    pub const IPV6_COMPRESSION: u8 = 2;
}

/// A typed IPV6CP option; anything else stays raw in [`Ipv6cpOption::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6cpOption<'a> {
    /// RFC 5072 §4.1: the 64-bit interface identifier the sender wants to use.
    InterfaceIdentifier([u8; 8]),
    /// Any other option, raw.
    Other(ConfigOption<'a>),
}

impl<'a> Ipv6cpOption<'a> {
    /// Interprets a raw option.
    #[must_use]
    pub fn from_raw(o: ConfigOption<'a>) -> Self {
        match (o.kind, <[u8; 8]>::try_from(o.data)) {
            (ipv6cp_option::INTERFACE_IDENTIFIER, Ok(id)) => Ipv6cpOption::InterfaceIdentifier(id),
            _ => Ipv6cpOption::Other(o),
        }
    }

    /// Appends the option to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Ipv6cpOption::InterfaceIdentifier(id) => {
                out.extend_from_slice(&[ipv6cp_option::INTERFACE_IDENTIFIER, 10]);
                out.extend_from_slice(id);
            }
            Ipv6cpOption::Other(o) => o.encode(out),
        }
    }
}

/// A typed LCP or NCP packet (RFC 1661 §5; the LCP-only codes appear only under LCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpPacket<'a> {
    /// Configure-Request/Ack/Nak/Reject (codes 1–4) with their raw option list.
    Configure {
        /// The code (1 to 4).
        code: u8,
        /// The identifier.
        identifier: u8,
        /// The options, raw (iterate with [`options`]).
        options: &'a [u8],
    },
    /// Terminate-Request (5) or Terminate-Ack (6) with opaque data.
    Terminate {
        /// 5 or 6.
        code: u8,
        /// The identifier.
        identifier: u8,
        /// Uninterpreted data.
        data: &'a [u8],
    },
    /// Code-Reject (7): the start of the rejected packet.
    CodeReject {
        /// The identifier.
        identifier: u8,
        /// The rejected packet, possibly truncated.
        rejected: &'a [u8],
    },
    /// Protocol-Reject (8, LCP only): the rejected protocol and information.
    ProtocolReject {
        /// The identifier.
        identifier: u8,
        /// The rejected protocol number.
        protocol: u16,
        /// The rejected information, possibly truncated.
        rejected: &'a [u8],
    },
    /// Echo-Request (9), Echo-Reply (10), Discard-Request (11) or Identification (12),
    /// all LCP only and led by the sender's Magic-Number.
    Magic {
        /// 9, 10, 11 or 12.
        code: u8,
        /// The identifier.
        identifier: u8,
        /// The sender's Magic-Number, or 0.
        magic: u32,
        /// Uninterpreted data (the message text for Identification).
        data: &'a [u8],
    },
    /// Any other code, or a packet too short for its code, raw.
    Other(Packet<'a>),
}

impl<'a> CpPacket<'a> {
    /// Types a parsed packet. `lcp` enables the LCP-only codes 8 to 12.
    #[must_use]
    pub fn from_packet(p: Packet<'a>, lcp: bool) -> Self {
        use code as c;
        let (code, identifier, d) = (p.code, p.identifier, p.data);
        match code {
            c::CONFIGURE_REQUEST..=c::CONFIGURE_REJECT => {
                CpPacket::Configure { code, identifier, options: d }
            }
            c::TERMINATE_REQUEST | c::TERMINATE_ACK => CpPacket::Terminate { code, identifier, data: d },
            c::CODE_REJECT => CpPacket::CodeReject { identifier, rejected: d },
            c::PROTOCOL_REJECT if lcp && d.len() >= 2 => CpPacket::ProtocolReject {
                identifier,
                protocol: u16::from_be_bytes([d[0], d[1]]),
                rejected: &d[2..],
            },
            c::ECHO_REQUEST..=c::IDENTIFICATION if lcp && d.len() >= 4 => CpPacket::Magic {
                code,
                identifier,
                magic: u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
                data: &d[4..],
            },
            _ => CpPacket::Other(p),
        }
    }

    /// Parses and types a packet (padding is dropped; use [`Packet`] to keep it).
    pub fn parse(info: &'a [u8], lcp: bool) -> Result<Self, ParseError> {
        Packet::parse(info).map(|p| Self::from_packet(p, lcp))
    }

    /// Appends the packet (without padding) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            CpPacket::Configure { code, identifier, options } => {
                encode_packet(code, identifier, &[options], out)
            }
            CpPacket::Terminate { code, identifier, data } => encode_packet(code, identifier, &[data], out),
            CpPacket::CodeReject { identifier, rejected } => {
                encode_packet(code::CODE_REJECT, identifier, &[rejected], out)
            }
            CpPacket::ProtocolReject { identifier, protocol, rejected } => {
                encode_packet(code::PROTOCOL_REJECT, identifier, &[&protocol.to_be_bytes(), rejected], out)
            }
            CpPacket::Magic { code, identifier, magic, data } => {
                encode_packet(code, identifier, &[&magic.to_be_bytes(), data], out)
            }
            CpPacket::Other(p) => encode_packet(p.code, p.identifier, &[p.data], out),
        }
    }
}

/// PAP packet codes (RFC 1334 §2.2).
pub mod pap_code {
    /// Authenticate-Request.
    pub const AUTHENTICATE_REQUEST: u8 = 1;
    /// Authenticate-Ack.
    pub const AUTHENTICATE_ACK: u8 = 2;
    /// Authenticate-Nak.
    pub const AUTHENTICATE_NAK: u8 = 3;
}

/// A PAP packet (RFC 1334 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PapPacket<'a> {
    /// Authenticate-Request: Peer-ID and Password (RFC 1334 §2.2.1).
    AuthenticateRequest {
        /// The identifier.
        identifier: u8,
        /// The peer's name.
        peer_id: &'a [u8],
        /// The password, in clear.
        password: &'a [u8],
    },
    /// Authenticate-Ack (2) or Authenticate-Nak (3) with a message (RFC 1334 §2.2.2).
    Reply {
        /// 2 (Ack) or 3 (Nak).
        code: u8,
        /// The identifier.
        identifier: u8,
        /// Human-readable message.
        message: &'a [u8],
    },
    /// An unknown code or a malformed body, raw.
    Other(Packet<'a>),
}

impl<'a> PapPacket<'a> {
    /// Parses a PAP packet (padding dropped).
    pub fn parse(info: &'a [u8]) -> Result<Self, ParseError> {
        let p = Packet::parse(info)?;
        let typed = match p.code {
            pap_code::AUTHENTICATE_REQUEST => (|| -> Res<'_, _> {
                let (i, n) = u8_(p.data)?;
                let (i, peer_id) = take_(n.into())(i)?;
                let (i, n) = u8_(i)?;
                let (i, password) = take_(n.into())(i)?;
                Ok((i, (peer_id, password)))
            })()
            .ok()
            .filter(|(rest, _)| rest.is_empty())
            .map(|(_, (peer_id, password))| PapPacket::AuthenticateRequest {
                identifier: p.identifier,
                peer_id,
                password,
            }),
            pap_code::AUTHENTICATE_ACK | pap_code::AUTHENTICATE_NAK => match p.data.split_first() {
                Some((&n, msg)) if usize::from(n) == msg.len() => {
                    Some(PapPacket::Reply { code: p.code, identifier: p.identifier, message: msg })
                }
                _ => None,
            },
            _ => None,
        };
        Ok(typed.unwrap_or(PapPacket::Other(p)))
    }

    /// Appends the packet to `out`. Fields longer than 255 octets are truncated to 255.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            PapPacket::AuthenticateRequest { identifier, peer_id, password } => {
                let id = &peer_id[..peer_id.len().min(255)];
                let pw = &password[..password.len().min(255)];
                encode_packet(
                    pap_code::AUTHENTICATE_REQUEST,
                    identifier,
                    &[&[id.len() as u8], id, &[pw.len() as u8], pw],
                    out,
                );
            }
            PapPacket::Reply { code, identifier, message } => {
                let m = &message[..message.len().min(255)];
                encode_packet(code, identifier, &[&[m.len() as u8], m], out);
            }
            PapPacket::Other(p) => encode_packet(p.code, p.identifier, &[p.data], out),
        }
    }
}

/// CHAP packet codes (RFC 1994 §4, RFC 2759 §7 for Change-Password).
pub mod chap_code {
    /// Challenge.
    pub const CHALLENGE: u8 = 1;
    /// Response.
    pub const RESPONSE: u8 = 2;
    /// Success.
    pub const SUCCESS: u8 = 3;
    /// Failure.
    pub const FAILURE: u8 = 4;
    /// MS-CHAPv2 Change-Password (RFC 2759 §7).
    pub const CHANGE_PASSWORD: u8 = 7;
}

/// A CHAP packet (RFC 1994 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChapPacket<'a> {
    /// Challenge (1) or Response (2): Value-Size, Value, Name (RFC 1994 §4.1).
    Value {
        /// 1 or 2.
        code: u8,
        /// The identifier.
        identifier: u8,
        /// The challenge or response value.
        value: &'a [u8],
        /// The sender's name (the rest of the packet).
        name: &'a [u8],
    },
    /// Success (3) or Failure (4) with a message (RFC 1994 §4.2).
    Result {
        /// 3 or 4.
        code: u8,
        /// The identifier.
        identifier: u8,
        /// The message (for MS-CHAPv2, `S=…` or `E=… R=… C=… V=… M=…`).
        message: &'a [u8],
    },
    /// Any other code (e.g. MS-CHAPv2 Change-Password) or a malformed Value packet, raw.
    Other(Packet<'a>),
}

impl<'a> ChapPacket<'a> {
    /// Parses a CHAP packet (padding dropped).
    pub fn parse(info: &'a [u8]) -> Result<Self, ParseError> {
        let p = Packet::parse(info)?;
        let typed = match p.code {
            chap_code::CHALLENGE | chap_code::RESPONSE => p
                .data
                .split_first()
                .and_then(|(&n, rest)| (usize::from(n) <= rest.len()).then(|| rest.split_at(n.into())))
                .map(|(value, name)| ChapPacket::Value {
                    code: p.code,
                    identifier: p.identifier,
                    value,
                    name,
                }),
            chap_code::SUCCESS | chap_code::FAILURE => {
                Some(ChapPacket::Result { code: p.code, identifier: p.identifier, message: p.data })
            }
            _ => None,
        };
        Ok(typed.unwrap_or(ChapPacket::Other(p)))
    }

    /// Appends the packet to `out`. A value longer than 255 octets is truncated.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            ChapPacket::Value { code, identifier, value, name } => {
                let v = &value[..value.len().min(255)];
                encode_packet(code, identifier, &[&[v.len() as u8], v, name], out);
            }
            ChapPacket::Result { code, identifier, message } => {
                encode_packet(code, identifier, &[message], out)
            }
            ChapPacket::Other(p) => encode_packet(p.code, p.identifier, &[p.data], out),
        }
    }
}

/// The 49-octet Response value of MS-CHAPv2 (RFC 2759 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChapV2Response {
    /// Peer-Challenge: 16 random octets from the peer.
    pub peer_challenge: [u8; 16],
    /// Reserved, 8 octets (zero when sent).
    pub reserved: [u8; 8],
    /// NT-Response (RFC 2759 §8.1).
    pub nt_response: [u8; 24],
    /// Flags, zero.
    pub flags: u8,
}

impl MsChapV2Response {
    /// Interprets a CHAP Response value; `None` unless it is exactly 49 octets.
    #[must_use]
    pub fn parse(value: &[u8]) -> Option<Self> {
        let v: &[u8; 49] = value.try_into().ok()?;
        let mut r = MsChapV2Response {
            peer_challenge: [0; 16],
            reserved: [0; 8],
            nt_response: [0; 24],
            flags: v[48],
        };
        r.peer_challenge.copy_from_slice(&v[..16]);
        r.reserved.copy_from_slice(&v[16..24]);
        r.nt_response.copy_from_slice(&v[24..48]);
        Some(r)
    }

    /// The 49-octet value.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 49] {
        let mut v = [0u8; 49];
        v[..16].copy_from_slice(&self.peer_challenge);
        v[16..24].copy_from_slice(&self.reserved);
        v[24..48].copy_from_slice(&self.nt_response);
        v[48] = self.flags;
        v
    }
}

/// The 49-octet Response value of MS-CHAPv1 (RFC 2433 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChapV1Response {
    /// LAN Manager compatible response (zero when not used).
    pub lm_response: [u8; 24],
    /// Windows NT compatible response (RFC 2433 §A.5).
    pub nt_response: [u8; 24],
    /// 1 if the NT response is to be used.
    pub use_nt: u8,
}

impl MsChapV1Response {
    /// Interprets a CHAP Response value; `None` unless it is exactly 49 octets.
    #[must_use]
    pub fn parse(value: &[u8]) -> Option<Self> {
        let v: &[u8; 49] = value.try_into().ok()?;
        let mut r = MsChapV1Response { lm_response: [0; 24], nt_response: [0; 24], use_nt: v[48] };
        r.lm_response.copy_from_slice(&v[..24]);
        r.nt_response.copy_from_slice(&v[24..48]);
        Some(r)
    }

    /// The 49-octet value.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 49] {
        let mut v = [0u8; 49];
        v[..24].copy_from_slice(&self.lm_response);
        v[24..48].copy_from_slice(&self.nt_response);
        v[48] = self.use_nt;
        v
    }
}

/// The fields of an MS-CHAP Failure message `E=eeee R=r C=cccc V=vvvv M=msg`
/// (RFC 2759 §6, RFC 2433 §5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MsChapFailure {
    /// The error code (691 authentication failure, 648 password expired, …).
    pub error: u32,
    /// Whether a retry is allowed.
    pub retry: bool,
    /// The new authenticator challenge for a retry (16 octets for v2, 8 for v1).
    pub challenge: Option<Vec<u8>>,
    /// The password-change protocol version.
    pub version: Option<u32>,
    /// The message text.
    pub message: String,
}

/// MS-CHAP error codes (RFC 2759 §6).
pub mod mschap_error {
    /// ERROR_RESTRICTED_LOGON_HOURS.
    pub const RESTRICTED_LOGON_HOURS: u32 = 646;
    /// ERROR_ACCT_DISABLED.
    pub const ACCT_DISABLED: u32 = 647;
    /// ERROR_PASSWD_EXPIRED.
    pub const PASSWD_EXPIRED: u32 = 648;
    /// ERROR_NO_DIALIN_PERMISSION.
    pub const NO_DIALIN_PERMISSION: u32 = 649;
    /// ERROR_AUTHENTICATION_FAILURE.
    pub const AUTHENTICATION_FAILURE: u32 = 691;
    /// ERROR_CHANGING_PASSWORD.
    pub const CHANGING_PASSWORD: u32 = 709;
}

impl MsChapFailure {
    /// Parses a Failure message; `None` if the mandatory `E=` field is missing or bad.
    #[must_use]
    pub fn parse(message: &[u8]) -> Option<Self> {
        let text = String::from_utf8_lossy(message);
        let mut f = MsChapFailure::default();
        let mut have_e = false;
        let mut rest = text.as_ref();
        while let Some(field) = rest.split_whitespace().next() {
            if let Some(m) = rest.trim_start().strip_prefix("M=") {
                f.message = m.to_owned();
                break;
            }
            rest = rest.trim_start()[field.len()..].trim_start();
            if let Some(v) = field.strip_prefix("E=") {
                f.error = v.parse().ok()?;
                have_e = true;
            } else if let Some(v) = field.strip_prefix("R=") {
                f.retry = v == "1";
            } else if let Some(v) = field.strip_prefix("C=") {
                f.challenge = hex_decode(v);
            } else if let Some(v) = field.strip_prefix("V=") {
                f.version = v.parse().ok();
            }
        }
        have_e.then_some(f)
    }

    /// Appends the message text to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        use std::fmt::Write;
        let mut s = format!("E={} R={}", self.error, u8::from(self.retry));
        if let Some(c) = &self.challenge {
            s.push_str(" C=");
            for b in c {
                let _ = write!(s, "{b:02X}");
            }
        }
        if let Some(v) = self.version {
            let _ = write!(s, " V={v}");
        }
        if !self.message.is_empty() {
            let _ = write!(s, " M={}", self.message);
        }
        out.extend_from_slice(s.as_bytes());
    }
}

/// Decodes an even-length hex string (either case); `None` on any other character.
#[must_use]
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 512 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Parses an MS-CHAPv2 Success message `S=<40 hex> M=<text>` (RFC 2759 §5): the
/// authenticator response and the message text.
#[must_use]
pub fn parse_mschapv2_success(message: &[u8]) -> Option<([u8; 20], &[u8])> {
    let rest = message.strip_prefix(b"S=")?;
    let hex = std::str::from_utf8(rest.get(..40)?).ok()?;
    let auth: [u8; 20] = hex_decode(hex)?.try_into().ok()?;
    let tail = &rest[40..];
    let msg = tail.strip_prefix(b" M=").or_else(|| tail.strip_prefix(b" ")).unwrap_or(tail);
    Some((auth, msg))
}

/// Appends an MS-CHAPv2 Success message `S=<40 uppercase hex>` and, if `message` is not
/// empty, ` M=<message>` (RFC 2759 §5).
pub fn encode_mschapv2_success(auth: &[u8; 20], message: &str, out: &mut Vec<u8>) {
    use std::fmt::Write;
    let mut s = String::from("S=");
    for b in auth {
        let _ = write!(s, "{b:02X}");
    }
    if !message.is_empty() {
        let _ = write!(s, " M={message}");
    }
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_forms() {
        let f = Frame::parse(&[0xff, 0x03, 0xc0, 0x21, 1, 2]).unwrap();
        assert!(f.address_control && !f.protocol_compressed);
        assert_eq!(f.protocol, protocol::LCP);
        assert_eq!(f.information, &[1, 2]);
        let f = Frame::parse(&[0x21, 0x45]).unwrap();
        assert!(!f.address_control && f.protocol_compressed);
        assert_eq!(f.protocol, protocol::IPV4);
        let f = Frame::parse(&[0x00, 0x21, 0x45]).unwrap();
        assert!(!f.protocol_compressed);
        assert_eq!(f.protocol, protocol::IPV4);
        assert_eq!(Frame::parse(&[0xc0, 0x20]).unwrap_err(), ParseError::BadProtocol);
        assert_eq!(Frame::parse(&[0xff, 0x03]).unwrap_err(), ParseError::Truncated);
        assert_eq!(Frame::parse(&[0xc0]).unwrap_err(), ParseError::Truncated);
    }

    #[test]
    fn packet_length_checks() {
        assert_eq!(Packet::parse(&[1, 1, 0, 3]).unwrap_err(), ParseError::BadLength);
        assert_eq!(Packet::parse(&[1, 1, 0, 6, 0]).unwrap_err(), ParseError::BadLength);
        assert_eq!(Packet::parse(&[1, 1, 0]).unwrap_err(), ParseError::Truncated);
        let p = Packet::parse(&[1, 7, 0, 5, 9, 0, 0]).unwrap();
        assert_eq!((p.identifier, p.data, p.padding), (7, &[9u8][..], &[0u8, 0][..]));
    }

    #[test]
    fn lcp_options_typed() {
        // pppd's usual request: ACCM 0, Auth CHAP/MS-CHAPv2, Magic, PFC, ACFC
        let raw = hex::decode("0206000000000305c223810506a1b2c3d407020802").unwrap();
        let opts: Vec<_> = options(&raw).map(|o| LcpOption::from_raw(o.unwrap())).collect();
        assert_eq!(
            opts,
            vec![
                LcpOption::Accm(0),
                LcpOption::AuthProtocol(AuthProtocol::Chap(chap_algorithm::MSCHAP_V2)),
                LcpOption::MagicNumber(0xa1b2c3d4),
                LcpOption::Pfc,
                LcpOption::Acfc,
            ]
        );
        let mut out = Vec::new();
        for o in &opts {
            o.encode(&mut out);
        }
        assert_eq!(out, raw);
        // An option that overruns the list is an error, once.
        let mut it = options(&[1, 4, 5]);
        assert_eq!(it.next(), Some(Err(ParseError::BadLength)));
        assert_eq!(it.next(), None);
        assert_eq!(options(&[1, 1]).next(), Some(Err(ParseError::BadLength)));
    }

    #[test]
    fn mschap_messages() {
        let f =
            MsChapFailure::parse(b"E=691 R=1 C=0123456789ABCDEF0123456789abcdef V=3 M=Authentication failed")
                .unwrap();
        assert_eq!(f.error, 691);
        assert!(f.retry);
        assert_eq!(f.challenge.as_deref().map(<[u8]>::len), Some(16));
        assert_eq!(f.version, Some(3));
        assert_eq!(f.message, "Authentication failed");
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(MsChapFailure::parse(&out).unwrap(), f);
        assert!(MsChapFailure::parse(b"R=1").is_none());

        let mut s = Vec::new();
        let auth = [0xab; 20];
        encode_mschapv2_success(&auth, "hi there", &mut s);
        assert_eq!(&s[..4], b"S=AB");
        let (a, m) = parse_mschapv2_success(&s).unwrap();
        assert_eq!((a, m), (auth, &b"hi there"[..]));
        assert!(parse_mschapv2_success(b"S=12").is_none());
    }
}

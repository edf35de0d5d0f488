//! Attribute-Value Pairs (RFC 2661 §4.1, §4.4).

use nom::IResult;
use nom::Parser;
use nom::combinator::{all_consuming, rest};
use nom::number::complete::{be_u8, be_u16, be_u32, be_u64};

use super::ParseError;

const M_BIT: u16 = 0x8000;
const H_BIT: u16 = 0x4000;
const AVP_RESERVED_MASK: u16 = 0x3c00;
const LENGTH_MASK: u16 = 0x03ff;
/// Size of the AVP header: flags+length, Vendor ID, Attribute Type (RFC 2661 §4.1).
pub const AVP_HEADER_LEN: usize = 6;
/// Largest AVP value: the Length field has 10 bits (RFC 2661 §4.1).
pub const MAX_AVP_VALUE_LEN: usize = 1023 - AVP_HEADER_LEN;

/// IETF Attribute Type numbers (RFC 2661 §4.4, Vendor ID 0).
pub mod attribute {
    #![allow(missing_docs)]
    pub const MESSAGE_TYPE: u16 = 0;
    pub const RESULT_CODE: u16 = 1;
    pub const PROTOCOL_VERSION: u16 = 2;
    pub const FRAMING_CAPABILITIES: u16 = 3;
    pub const BEARER_CAPABILITIES: u16 = 4;
    pub const TIE_BREAKER: u16 = 5;
    pub const FIRMWARE_REVISION: u16 = 6;
    pub const HOST_NAME: u16 = 7;
    pub const VENDOR_NAME: u16 = 8;
    pub const ASSIGNED_TUNNEL_ID: u16 = 9;
    pub const RECEIVE_WINDOW_SIZE: u16 = 10;
    pub const CHALLENGE: u16 = 11;
    pub const Q931_CAUSE_CODE: u16 = 12;
    pub const CHALLENGE_RESPONSE: u16 = 13;
    pub const ASSIGNED_SESSION_ID: u16 = 14;
    pub const CALL_SERIAL_NUMBER: u16 = 15;
    pub const MINIMUM_BPS: u16 = 16;
    pub const MAXIMUM_BPS: u16 = 17;
    pub const BEARER_TYPE: u16 = 18;
    pub const FRAMING_TYPE: u16 = 19;
    pub const CALLED_NUMBER: u16 = 21;
    pub const CALLING_NUMBER: u16 = 22;
    pub const SUB_ADDRESS: u16 = 23;
    pub const TX_CONNECT_SPEED: u16 = 24;
    pub const PHYSICAL_CHANNEL_ID: u16 = 25;
    pub const INITIAL_RECEIVED_LCP_CONFREQ: u16 = 26;
    pub const LAST_SENT_LCP_CONFREQ: u16 = 27;
    pub const LAST_RECEIVED_LCP_CONFREQ: u16 = 28;
    pub const PROXY_AUTHEN_TYPE: u16 = 29;
    pub const PROXY_AUTHEN_NAME: u16 = 30;
    pub const PROXY_AUTHEN_CHALLENGE: u16 = 31;
    pub const PROXY_AUTHEN_ID: u16 = 32;
    pub const PROXY_AUTHEN_RESPONSE: u16 = 33;
    pub const CALL_ERRORS: u16 = 34;
    pub const ACCM: u16 = 35;
    pub const RANDOM_VECTOR: u16 = 36;
    pub const PRIVATE_GROUP_ID: u16 = 37;
    pub const RX_CONNECT_SPEED: u16 = 38;
    pub const SEQUENCING_REQUIRED: u16 = 39;
}

/// Control message types carried by the Message Type AVP (RFC 2661 §3.2, §4.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Start-Control-Connection-Request (1).
    Sccrq,
    /// Start-Control-Connection-Reply (2).
    Sccrp,
    /// Start-Control-Connection-Connected (3).
    Scccn,
    /// Stop-Control-Connection-Notification (4).
    StopCcn,
    /// Hello (6).
    Hello,
    /// Outgoing-Call-Request (7).
    Ocrq,
    /// Outgoing-Call-Reply (8).
    Ocrp,
    /// Outgoing-Call-Connected (9).
    Occn,
    /// Incoming-Call-Request (10).
    Icrq,
    /// Incoming-Call-Reply (11).
    Icrp,
    /// Incoming-Call-Connected (12).
    Iccn,
    /// Call-Disconnect-Notify (14).
    Cdn,
    /// WAN-Error-Notify (15).
    Wen,
    /// Set-Link-Info (16).
    Sli,
    /// Any other value (reserved or from a later specification).
    Unknown(u16),
}

impl MessageType {
    /// The numeric value on the wire.
    #[must_use]
    pub fn value(self) -> u16 {
        match self {
            Self::Sccrq => 1,
            Self::Sccrp => 2,
            Self::Scccn => 3,
            Self::StopCcn => 4,
            Self::Hello => 6,
            Self::Ocrq => 7,
            Self::Ocrp => 8,
            Self::Occn => 9,
            Self::Icrq => 10,
            Self::Icrp => 11,
            Self::Iccn => 12,
            Self::Cdn => 14,
            Self::Wen => 15,
            Self::Sli => 16,
            Self::Unknown(v) => v,
        }
    }

    /// The message type for a numeric value.
    #[must_use]
    pub fn from_value(v: u16) -> Self {
        match v {
            1 => Self::Sccrq,
            2 => Self::Sccrp,
            3 => Self::Scccn,
            4 => Self::StopCcn,
            6 => Self::Hello,
            7 => Self::Ocrq,
            8 => Self::Ocrp,
            9 => Self::Occn,
            10 => Self::Icrq,
            11 => Self::Icrp,
            12 => Self::Iccn,
            14 => Self::Cdn,
            15 => Self::Wen,
            16 => Self::Sli,
            v => Self::Unknown(v),
        }
    }

    /// True for the call-management messages that address a session (RFC 2661 §6.7-6.16).
    #[must_use]
    pub fn is_session_message(self) -> bool {
        matches!(
            self,
            Self::Ocrq
                | Self::Ocrp
                | Self::Occn
                | Self::Icrq
                | Self::Icrp
                | Self::Iccn
                | Self::Cdn
                | Self::Wen
                | Self::Sli
        )
    }
}

/// Result Code AVP value (RFC 2661 §4.4.2): a result, an optional error code and an optional
/// human-readable message (real devices send long ones; any length is kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultCode<'a> {
    /// Result code (meaning depends on StopCCN vs CDN).
    pub result: u16,
    /// Error code, present when the AVP is at least 10 bytes long.
    pub error: Option<u16>,
    /// Error message after the error code (may be empty only if absent on the wire).
    pub message: Option<&'a [u8]>,
}

/// Call Errors AVP value (RFC 2661 §4.4.6), sent in WEN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallErrors {
    /// Reserved 16 bits.
    pub reserved: u16,
    /// CRC errors.
    pub crc_errors: u32,
    /// Framing errors.
    pub framing_errors: u32,
    /// Hardware overruns.
    pub hardware_overruns: u32,
    /// Buffer overruns.
    pub buffer_overruns: u32,
    /// Time-out errors.
    pub timeout_errors: u32,
    /// Alignment errors.
    pub alignment_errors: u32,
}

/// ACCM AVP value (RFC 2661 §4.4.6), sent in SLI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accm {
    /// Reserved 16 bits.
    pub reserved: u16,
    /// Send ACCM.
    pub send: u32,
    /// Receive ACCM.
    pub receive: u32,
}

/// The typed value of an AVP (RFC 2661 §4.4).
///
/// Vendor AVPs, unknown attribute types, hidden values not yet revealed and values whose
/// length the RFC does not allow are kept raw so they re-encode unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AvpValue<'a> {
    /// §4.4.1 Message Type.
    MessageType(MessageType),
    /// §4.4.2 Result Code.
    ResultCode(ResultCode<'a>),
    /// §4.4.3 Protocol Version (1.0 for RFC 2661).
    ProtocolVersion {
        /// Version (1).
        version: u8,
        /// Revision (0).
        revision: u8,
    },
    /// §4.4.3 Framing Capabilities (bit 0x1 synchronous, 0x2 asynchronous).
    FramingCapabilities(u32),
    /// §4.4.3 Bearer Capabilities (bit 0x1 digital, 0x2 analog).
    BearerCapabilities(u32),
    /// §4.4.3 Tie Breaker (8 octets, compared as an unsigned number).
    TieBreaker(u64),
    /// §4.4.3 Firmware Revision.
    FirmwareRevision(u16),
    /// §4.4.3 Host Name.
    HostName(&'a [u8]),
    /// §4.4.3 Vendor Name.
    VendorName(&'a [u8]),
    /// §4.4.3 Assigned Tunnel ID.
    AssignedTunnelId(u16),
    /// §4.4.3 Receive Window Size.
    ReceiveWindowSize(u16),
    /// §4.4.3 Challenge.
    Challenge(&'a [u8]),
    /// §4.4.3 Challenge Response (16 octets).
    ChallengeResponse(&'a [u8]),
    /// §4.4.4 Q.931 Cause Code.
    Q931CauseCode {
        /// Cause code.
        cause: u16,
        /// Cause message type.
        message: u8,
        /// Optional advisory text.
        advisory: &'a [u8],
    },
    /// §4.4.4 Assigned Session ID.
    AssignedSessionId(u16),
    /// §4.4.4 Call Serial Number.
    CallSerialNumber(u32),
    /// §4.4.4 Minimum BPS.
    MinimumBps(u32),
    /// §4.4.4 Maximum BPS.
    MaximumBps(u32),
    /// §4.4.4 Bearer Type.
    BearerType(u32),
    /// §4.4.4 Framing Type.
    FramingType(u32),
    /// §4.4.4 Called Number.
    CalledNumber(&'a [u8]),
    /// §4.4.4 Calling Number.
    CallingNumber(&'a [u8]),
    /// §4.4.4 Sub-Address.
    SubAddress(&'a [u8]),
    /// §4.4.4 (Tx) Connect Speed.
    TxConnectSpeed(u32),
    /// §4.4.4 Rx Connect Speed.
    RxConnectSpeed(u32),
    /// §4.4.4 Physical Channel ID.
    PhysicalChannelId(u32),
    /// §4.4.4 Private Group ID.
    PrivateGroupId(&'a [u8]),
    /// §4.4.4 Sequencing Required (no value).
    SequencingRequired,
    /// §4.4.5 Initial Received LCP CONFREQ.
    InitialReceivedLcpConfReq(&'a [u8]),
    /// §4.4.5 Last Sent LCP CONFREQ.
    LastSentLcpConfReq(&'a [u8]),
    /// §4.4.5 Last Received LCP CONFREQ.
    LastReceivedLcpConfReq(&'a [u8]),
    /// §4.4.5 Proxy Authen Type.
    ProxyAuthenType(u16),
    /// §4.4.5 Proxy Authen Name.
    ProxyAuthenName(&'a [u8]),
    /// §4.4.5 Proxy Authen Challenge.
    ProxyAuthenChallenge(&'a [u8]),
    /// §4.4.5 Proxy Authen ID (one reserved octet, then the ID).
    ProxyAuthenId {
        /// Reserved octet.
        reserved: u8,
        /// PPP authentication identifier.
        id: u8,
    },
    /// §4.4.5 Proxy Authen Response.
    ProxyAuthenResponse(&'a [u8]),
    /// §4.4.6 Call Errors.
    CallErrors(CallErrors),
    /// §4.4.6 ACCM.
    Accm(Accm),
    /// §4.3 Random Vector.
    RandomVector(&'a [u8]),
    /// H bit set: the encrypted value, to be revealed with the tunnel secret (§4.3).
    Hidden(&'a [u8]),
    /// A Vendor-Specific AVP (Vendor ID not 0): kept raw.
    Vendor(&'a [u8]),
    /// An IETF attribute type this crate does not know: kept raw.
    Unknown(&'a [u8]),
    /// A known attribute whose value length the RFC does not allow: kept raw.
    Invalid(&'a [u8]),
}

fn u16_value(i: &[u8]) -> IResult<&[u8], u16> {
    all_consuming(be_u16).parse(i)
}

fn u32_value(i: &[u8]) -> IResult<&[u8], u32> {
    all_consuming(be_u32).parse(i)
}

fn result_code(i: &[u8]) -> IResult<&[u8], ResultCode<'_>> {
    let (i, result) = be_u16(i)?;
    if i.is_empty() {
        return Ok((i, ResultCode { result, error: None, message: None }));
    }
    let (i, error) = be_u16(i)?;
    let (i, message) = rest(i)?;
    let message = if message.is_empty() { None } else { Some(message) };
    Ok((i, ResultCode { result, error: Some(error), message }))
}

fn call_errors(i: &[u8]) -> IResult<&[u8], CallErrors> {
    let (i, reserved) = be_u16(i)?;
    let (i, (crc, framing, hw, buf, timeout)) = (be_u32, be_u32, be_u32, be_u32, be_u32).parse(i)?;
    let (i, alignment) = all_consuming(be_u32).parse(i)?;
    Ok((
        i,
        CallErrors {
            reserved,
            crc_errors: crc,
            framing_errors: framing,
            hardware_overruns: hw,
            buffer_overruns: buf,
            timeout_errors: timeout,
            alignment_errors: alignment,
        },
    ))
}

fn accm(i: &[u8]) -> IResult<&[u8], Accm> {
    let (i, (reserved, send, receive)) = all_consuming((be_u16, be_u32, be_u32)).parse(i)?;
    Ok((i, Accm { reserved, send, receive }))
}

impl<'a> AvpValue<'a> {
    /// Types the value of an IETF (Vendor ID 0) AVP of `attribute_type`.
    ///
    /// Never fails: a length the RFC does not allow gives [`AvpValue::Invalid`], an unknown
    /// type [`AvpValue::Unknown`].
    #[must_use]
    pub fn parse(attribute_type: u16, v: &'a [u8]) -> Self {
        use attribute as a;
        let typed: Result<Self, nom::Err<nom::error::Error<&[u8]>>> = match attribute_type {
            a::MESSAGE_TYPE => u16_value(v).map(|(_, t)| Self::MessageType(MessageType::from_value(t))),
            a::RESULT_CODE => result_code(v).map(|(_, r)| Self::ResultCode(r)),
            a::PROTOCOL_VERSION => all_consuming((be_u8, be_u8))
                .parse(v)
                .map(|(_, (version, revision))| Self::ProtocolVersion { version, revision }),
            a::FRAMING_CAPABILITIES => u32_value(v).map(|(_, x)| Self::FramingCapabilities(x)),
            a::BEARER_CAPABILITIES => u32_value(v).map(|(_, x)| Self::BearerCapabilities(x)),
            a::TIE_BREAKER => all_consuming(be_u64).parse(v).map(|(_, x)| Self::TieBreaker(x)),
            a::FIRMWARE_REVISION => u16_value(v).map(|(_, x)| Self::FirmwareRevision(x)),
            a::HOST_NAME if !v.is_empty() => Ok(Self::HostName(v)),
            a::VENDOR_NAME => Ok(Self::VendorName(v)),
            a::ASSIGNED_TUNNEL_ID => u16_value(v).map(|(_, x)| Self::AssignedTunnelId(x)),
            a::RECEIVE_WINDOW_SIZE => u16_value(v).map(|(_, x)| Self::ReceiveWindowSize(x)),
            a::CHALLENGE if !v.is_empty() => Ok(Self::Challenge(v)),
            a::CHALLENGE_RESPONSE if v.len() == 16 => Ok(Self::ChallengeResponse(v)),
            a::Q931_CAUSE_CODE => (be_u16, be_u8, rest)
                .parse(v)
                .map(|(_, (cause, message, advisory))| Self::Q931CauseCode { cause, message, advisory }),
            a::ASSIGNED_SESSION_ID => u16_value(v).map(|(_, x)| Self::AssignedSessionId(x)),
            a::CALL_SERIAL_NUMBER => u32_value(v).map(|(_, x)| Self::CallSerialNumber(x)),
            a::MINIMUM_BPS => u32_value(v).map(|(_, x)| Self::MinimumBps(x)),
            a::MAXIMUM_BPS => u32_value(v).map(|(_, x)| Self::MaximumBps(x)),
            a::BEARER_TYPE => u32_value(v).map(|(_, x)| Self::BearerType(x)),
            a::FRAMING_TYPE => u32_value(v).map(|(_, x)| Self::FramingType(x)),
            a::CALLED_NUMBER => Ok(Self::CalledNumber(v)),
            a::CALLING_NUMBER => Ok(Self::CallingNumber(v)),
            a::SUB_ADDRESS => Ok(Self::SubAddress(v)),
            a::TX_CONNECT_SPEED => u32_value(v).map(|(_, x)| Self::TxConnectSpeed(x)),
            a::RX_CONNECT_SPEED => u32_value(v).map(|(_, x)| Self::RxConnectSpeed(x)),
            a::PHYSICAL_CHANNEL_ID => u32_value(v).map(|(_, x)| Self::PhysicalChannelId(x)),
            a::PRIVATE_GROUP_ID => Ok(Self::PrivateGroupId(v)),
            a::SEQUENCING_REQUIRED if v.is_empty() => Ok(Self::SequencingRequired),
            a::INITIAL_RECEIVED_LCP_CONFREQ => Ok(Self::InitialReceivedLcpConfReq(v)),
            a::LAST_SENT_LCP_CONFREQ => Ok(Self::LastSentLcpConfReq(v)),
            a::LAST_RECEIVED_LCP_CONFREQ => Ok(Self::LastReceivedLcpConfReq(v)),
            a::PROXY_AUTHEN_TYPE => u16_value(v).map(|(_, x)| Self::ProxyAuthenType(x)),
            a::PROXY_AUTHEN_NAME => Ok(Self::ProxyAuthenName(v)),
            a::PROXY_AUTHEN_CHALLENGE => Ok(Self::ProxyAuthenChallenge(v)),
            a::PROXY_AUTHEN_ID => all_consuming((be_u8, be_u8))
                .parse(v)
                .map(|(_, (reserved, id))| Self::ProxyAuthenId { reserved, id }),
            a::PROXY_AUTHEN_RESPONSE => Ok(Self::ProxyAuthenResponse(v)),
            a::CALL_ERRORS => call_errors(v).map(|(_, x)| Self::CallErrors(x)),
            a::ACCM => accm(v).map(|(_, x)| Self::Accm(x)),
            a::RANDOM_VECTOR if !v.is_empty() => Ok(Self::RandomVector(v)),
            a::HOST_NAME
            | a::CHALLENGE
            | a::CHALLENGE_RESPONSE
            | a::SEQUENCING_REQUIRED
            | a::RANDOM_VECTOR => return Self::Invalid(v),
            _ => return Self::Unknown(v),
        };
        typed.unwrap_or(Self::Invalid(v))
    }

    /// The IETF attribute type of a typed value; `None` for the raw variants.
    #[must_use]
    pub fn attribute_type(&self) -> Option<u16> {
        use attribute as a;
        Some(match self {
            Self::MessageType(_) => a::MESSAGE_TYPE,
            Self::ResultCode(_) => a::RESULT_CODE,
            Self::ProtocolVersion { .. } => a::PROTOCOL_VERSION,
            Self::FramingCapabilities(_) => a::FRAMING_CAPABILITIES,
            Self::BearerCapabilities(_) => a::BEARER_CAPABILITIES,
            Self::TieBreaker(_) => a::TIE_BREAKER,
            Self::FirmwareRevision(_) => a::FIRMWARE_REVISION,
            Self::HostName(_) => a::HOST_NAME,
            Self::VendorName(_) => a::VENDOR_NAME,
            Self::AssignedTunnelId(_) => a::ASSIGNED_TUNNEL_ID,
            Self::ReceiveWindowSize(_) => a::RECEIVE_WINDOW_SIZE,
            Self::Challenge(_) => a::CHALLENGE,
            Self::ChallengeResponse(_) => a::CHALLENGE_RESPONSE,
            Self::Q931CauseCode { .. } => a::Q931_CAUSE_CODE,
            Self::AssignedSessionId(_) => a::ASSIGNED_SESSION_ID,
            Self::CallSerialNumber(_) => a::CALL_SERIAL_NUMBER,
            Self::MinimumBps(_) => a::MINIMUM_BPS,
            Self::MaximumBps(_) => a::MAXIMUM_BPS,
            Self::BearerType(_) => a::BEARER_TYPE,
            Self::FramingType(_) => a::FRAMING_TYPE,
            Self::CalledNumber(_) => a::CALLED_NUMBER,
            Self::CallingNumber(_) => a::CALLING_NUMBER,
            Self::SubAddress(_) => a::SUB_ADDRESS,
            Self::TxConnectSpeed(_) => a::TX_CONNECT_SPEED,
            Self::RxConnectSpeed(_) => a::RX_CONNECT_SPEED,
            Self::PhysicalChannelId(_) => a::PHYSICAL_CHANNEL_ID,
            Self::PrivateGroupId(_) => a::PRIVATE_GROUP_ID,
            Self::SequencingRequired => a::SEQUENCING_REQUIRED,
            Self::InitialReceivedLcpConfReq(_) => a::INITIAL_RECEIVED_LCP_CONFREQ,
            Self::LastSentLcpConfReq(_) => a::LAST_SENT_LCP_CONFREQ,
            Self::LastReceivedLcpConfReq(_) => a::LAST_RECEIVED_LCP_CONFREQ,
            Self::ProxyAuthenType(_) => a::PROXY_AUTHEN_TYPE,
            Self::ProxyAuthenName(_) => a::PROXY_AUTHEN_NAME,
            Self::ProxyAuthenChallenge(_) => a::PROXY_AUTHEN_CHALLENGE,
            Self::ProxyAuthenId { .. } => a::PROXY_AUTHEN_ID,
            Self::ProxyAuthenResponse(_) => a::PROXY_AUTHEN_RESPONSE,
            Self::CallErrors(_) => a::CALL_ERRORS,
            Self::Accm(_) => a::ACCM,
            Self::RandomVector(_) => a::RANDOM_VECTOR,
            Self::Hidden(_) | Self::Vendor(_) | Self::Unknown(_) | Self::Invalid(_) => return None,
        })
    }

    /// Appends the value bytes (no AVP header).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Self::MessageType(t) => out.extend_from_slice(&t.value().to_be_bytes()),
            Self::ResultCode(r) => {
                out.extend_from_slice(&r.result.to_be_bytes());
                if let Some(e) = r.error {
                    out.extend_from_slice(&e.to_be_bytes());
                    if let Some(m) = r.message {
                        out.extend_from_slice(m);
                    }
                }
            }
            Self::ProtocolVersion { version, revision } => out.extend_from_slice(&[version, revision]),
            Self::FramingCapabilities(x)
            | Self::BearerCapabilities(x)
            | Self::CallSerialNumber(x)
            | Self::MinimumBps(x)
            | Self::MaximumBps(x)
            | Self::BearerType(x)
            | Self::FramingType(x)
            | Self::TxConnectSpeed(x)
            | Self::RxConnectSpeed(x)
            | Self::PhysicalChannelId(x) => out.extend_from_slice(&x.to_be_bytes()),
            Self::TieBreaker(x) => out.extend_from_slice(&x.to_be_bytes()),
            Self::FirmwareRevision(x)
            | Self::AssignedTunnelId(x)
            | Self::ReceiveWindowSize(x)
            | Self::AssignedSessionId(x)
            | Self::ProxyAuthenType(x) => out.extend_from_slice(&x.to_be_bytes()),
            Self::Q931CauseCode { cause, message, advisory } => {
                out.extend_from_slice(&cause.to_be_bytes());
                out.push(message);
                out.extend_from_slice(advisory);
            }
            Self::ProxyAuthenId { reserved, id } => out.extend_from_slice(&[reserved, id]),
            Self::CallErrors(c) => {
                out.extend_from_slice(&c.reserved.to_be_bytes());
                for x in [
                    c.crc_errors,
                    c.framing_errors,
                    c.hardware_overruns,
                    c.buffer_overruns,
                    c.timeout_errors,
                    c.alignment_errors,
                ] {
                    out.extend_from_slice(&x.to_be_bytes());
                }
            }
            Self::Accm(a) => {
                out.extend_from_slice(&a.reserved.to_be_bytes());
                out.extend_from_slice(&a.send.to_be_bytes());
                out.extend_from_slice(&a.receive.to_be_bytes());
            }
            Self::SequencingRequired => {}
            Self::HostName(b)
            | Self::VendorName(b)
            | Self::Challenge(b)
            | Self::ChallengeResponse(b)
            | Self::CalledNumber(b)
            | Self::CallingNumber(b)
            | Self::SubAddress(b)
            | Self::PrivateGroupId(b)
            | Self::InitialReceivedLcpConfReq(b)
            | Self::LastSentLcpConfReq(b)
            | Self::LastReceivedLcpConfReq(b)
            | Self::ProxyAuthenName(b)
            | Self::ProxyAuthenChallenge(b)
            | Self::ProxyAuthenResponse(b)
            | Self::RandomVector(b)
            | Self::Hidden(b)
            | Self::Vendor(b)
            | Self::Unknown(b)
            | Self::Invalid(b) => out.extend_from_slice(b),
        }
    }
}

/// One AVP (RFC 2661 §4.1): flags, Vendor ID, Attribute Type and a typed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Avp<'a> {
    /// M bit: an unknown AVP with it set must end the tunnel or session (§4.1).
    pub mandatory: bool,
    /// H bit: the value is hidden with the tunnel secret (§4.3).
    pub hidden: bool,
    /// The four reserved bits as received (shifted down to 0..=15).
    pub reserved: u8,
    /// Vendor ID (0 for IETF AVPs).
    pub vendor_id: u16,
    /// Attribute Type.
    pub attribute_type: u16,
    /// The value.
    pub value: AvpValue<'a>,
}

impl<'a> Avp<'a> {
    /// An IETF AVP in the clear for a typed value (panics never: raw variants get type 0xffff).
    #[must_use]
    pub fn new(mandatory: bool, value: AvpValue<'a>) -> Self {
        Self {
            mandatory,
            hidden: false,
            reserved: 0,
            vendor_id: 0,
            attribute_type: value.attribute_type().unwrap_or(u16::MAX),
            value,
        }
    }

    /// Parses one AVP from the front of `data`, returning it and the rest.
    pub fn parse(data: &'a [u8]) -> Result<(Self, &'a [u8]), ParseError> {
        let (flags, vendor_id, attribute_type) = match data {
            [a, b, c, d, e, f, ..] => {
                (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]), u16::from_be_bytes([*e, *f]))
            }
            _ => return Err(ParseError::Truncated { needed: AVP_HEADER_LEN - data.len() }),
        };
        let length = flags & LENGTH_MASK;
        let len = usize::from(length);
        if len < AVP_HEADER_LEN || len > data.len() {
            return Err(ParseError::AvpLength(length));
        }
        let raw = &data[AVP_HEADER_LEN..len];
        let hidden = flags & H_BIT != 0;
        let value = if hidden {
            AvpValue::Hidden(raw)
        } else if vendor_id != 0 {
            AvpValue::Vendor(raw)
        } else {
            AvpValue::parse(attribute_type, raw)
        };
        let avp = Self {
            mandatory: flags & M_BIT != 0,
            hidden,
            reserved: ((flags & AVP_RESERVED_MASK) >> 10) as u8,
            vendor_id,
            attribute_type,
            value,
        };
        Ok((avp, &data[len..]))
    }

    /// Appends the AVP.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        encode_avp_header(self.mandatory, self.hidden, self.vendor_id, self.attribute_type, 0, out);
        if self.reserved != 0 {
            out[start] |= (self.reserved & 0x0f) << 2;
        }
        self.value.encode(out);
        let len = (out.len() - start).min(usize::from(LENGTH_MASK)) as u16;
        let first = u16::from_be_bytes([out[start], out[start + 1]]) & !LENGTH_MASK;
        out[start..start + 2].copy_from_slice(&(first | len).to_be_bytes());
    }
}

/// Appends an AVP header for a value of `value_len` bytes (RFC 2661 §4.1).
pub fn encode_avp_header(
    mandatory: bool,
    hidden: bool,
    vendor_id: u16,
    attribute_type: u16,
    value_len: usize,
    out: &mut Vec<u8>,
) {
    let mut flags = ((AVP_HEADER_LEN + value_len).min(usize::from(LENGTH_MASK))) as u16;
    if mandatory {
        flags |= M_BIT;
    }
    if hidden {
        flags |= H_BIT;
    }
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&vendor_id.to_be_bytes());
    out.extend_from_slice(&attribute_type.to_be_bytes());
}

/// Iterator over the AVPs of a control message; yields an error once and stops if an AVP
/// is malformed.
#[derive(Clone, Debug)]
pub struct AvpIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> AvpIter<'a> {
    /// Iterates over the AVPs in `data`.
    #[must_use]
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data, failed: false }
    }
}

impl<'a> Iterator for AvpIter<'a> {
    type Item = Result<Avp<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match Avp::parse(self.rest) {
            Ok((avp, rest)) => {
                self.rest = rest;
                Some(Ok(avp))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

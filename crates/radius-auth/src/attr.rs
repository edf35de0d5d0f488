//! Typed RADIUS attributes (RFC 2865 §5, RFC 2866 §5, RFC 2867, RFC 2868, RFC 2869 §5,
//! RFC 3579 §3) and their value types.
//!
//! [`Attribute::decode`] never fails: a type this table does not know, or a known type
//! whose value is malformed (RFC 6929 §2.8 calls it an "invalid attribute"), becomes
//! [`Attribute::Unknown`] with its bytes kept, so every attribute re-encodes to the octets
//! it came from.

use core::fmt;
use std::net::Ipv4Addr;

use crate::error::EncodeError;
use crate::ms::MsAttribute;

/// Largest attribute value: 255 less the type and length octets (RFC 2865 §5).
pub const MAX_VALUE_LEN: usize = 253;

/// The Microsoft vendor identifier (SMI network management private enterprise code 311),
/// RFC 2548 §2.
pub const VENDOR_MICROSOFT: u32 = 311;

/// How a value type is read from and written to an attribute value.
pub(crate) trait AttrValue<'a>: Sized {
    /// `None` when the octets are not a valid value of this type.
    fn decode(value: &'a [u8]) -> Option<Self>;
    /// Append the value octets.
    fn encode(&self, out: &mut Vec<u8>);
}

impl<'a> AttrValue<'a> for &'a [u8] {
    fn decode(value: &'a [u8]) -> Option<Self> {
        Some(value)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl AttrValue<'_> for u32 {
    fn decode(value: &[u8]) -> Option<Self> {
        Some(u32::from_be_bytes(value.try_into().ok()?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

impl AttrValue<'_> for Ipv4Addr {
    fn decode(value: &[u8]) -> Option<Self> {
        Some(Ipv4Addr::from(<[u8; 4]>::try_from(value).ok()?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
}

impl AttrValue<'_> for [u8; 16] {
    fn decode(value: &[u8]) -> Option<Self> {
        value.try_into().ok()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

/// A `text` value (RFC 2865 §5: UTF-8, RFC 8044 §3.4). The octets are kept as received;
/// [`Text::as_str`] checks UTF-8.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Text<'a>(pub &'a [u8]);

impl<'a> Text<'a> {
    /// The text as `&str`, or `None` if it is not UTF-8.
    #[must_use]
    pub fn as_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.0).ok()
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Self(s.as_bytes())
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.0))
    }
}

impl<'a> AttrValue<'a> for Text<'a> {
    fn decode(value: &'a [u8]) -> Option<Self> {
        Some(Text(value))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0);
    }
}

/// A 32-bit enumerated value type with named constants.
pub(crate) trait IntValue: Copy {
    fn from_u32(v: u32) -> Self;
    fn to_u32(self) -> u32;
}

impl IntValue for u32 {
    fn from_u32(v: u32) -> Self {
        v
    }
    fn to_u32(self) -> u32 {
        self
    }
}

macro_rules! int_enum {
    ($(#[$m:meta])* $name:ident { $( $(#[$d:meta])* $c:ident = $v:literal, )* }) => {
        $(#[$m])*
        ///
        /// A newtype over the 32-bit value, so values without a name round-trip.
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub u32);

        impl $name {
            $( $(#[$d])* pub const $c: Self = Self($v); )*

            /// The RFC name of this value, if it has one.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $v => Some(stringify!($c)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}::{}", stringify!($name), n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl $crate::attr::IntValue for $name {
            fn from_u32(v: u32) -> Self {
                Self(v)
            }
            fn to_u32(self) -> u32 {
                self.0
            }
        }

        impl $crate::attr::AttrValue<'_> for $name {
            fn decode(value: &[u8]) -> Option<Self> {
                <u32 as $crate::attr::AttrValue<'_>>::decode(value).map(Self)
            }
            fn encode(&self, out: &mut Vec<u8>) {
                $crate::attr::AttrValue::encode(&self.0, out);
            }
        }
    };
}
pub(crate) use int_enum;

int_enum! {
    /// Service-Type values, RFC 2865 §5.6.
    ServiceType {
        /// Login.
        LOGIN = 1,
        /// Framed: PPP or SLIP on the port.
        FRAMED = 2,
        /// Callback Login.
        CALLBACK_LOGIN = 3,
        /// Callback Framed.
        CALLBACK_FRAMED = 4,
        /// Outbound.
        OUTBOUND = 5,
        /// Administrative.
        ADMINISTRATIVE = 6,
        /// NAS Prompt.
        NAS_PROMPT = 7,
        /// Authenticate Only.
        AUTHENTICATE_ONLY = 8,
        /// Callback NAS Prompt.
        CALLBACK_NAS_PROMPT = 9,
        /// Call Check.
        CALL_CHECK = 10,
        /// Callback Administrative.
        CALLBACK_ADMINISTRATIVE = 11,
    }
}

int_enum! {
    /// Framed-Protocol values, RFC 2865 §5.7.
    FramedProtocol {
        /// PPP.
        PPP = 1,
        /// SLIP.
        SLIP = 2,
        /// AppleTalk Remote Access Protocol.
        ARAP = 3,
        /// Gandalf proprietary SingleLink/MultiLink.
        GANDALF = 4,
        /// Xylogics proprietary IPX/SLIP.
        XYLOGICS = 5,
        /// X.75 Synchronous.
        X75 = 6,
    }
}

int_enum! {
    /// Framed-Routing values, RFC 2865 §5.10.
    FramedRouting {
        /// None.
        NONE = 0,
        /// Send routing packets.
        SEND = 1,
        /// Listen for routing packets.
        LISTEN = 2,
        /// Send and Listen.
        SEND_AND_LISTEN = 3,
    }
}

int_enum! {
    /// Framed-Compression values, RFC 2865 §5.13.
    FramedCompression {
        /// None.
        NONE = 0,
        /// VJ TCP/IP header compression.
        VAN_JACOBSON = 1,
        /// IPX header compression.
        IPX_HEADER = 2,
        /// Stac-LZS compression.
        STAC_LZS = 3,
    }
}

int_enum! {
    /// Login-Service values, RFC 2865 §5.15.
    LoginService {
        /// Telnet.
        TELNET = 0,
        /// Rlogin.
        RLOGIN = 1,
        /// TCP Clear.
        TCP_CLEAR = 2,
        /// PortMaster (proprietary).
        PORTMASTER = 3,
        /// LAT.
        LAT = 4,
        /// X25-PAD.
        X25_PAD = 5,
        /// X25-T3POS.
        X25_T3POS = 6,
        /// TCP Clear Quiet.
        TCP_CLEAR_QUIET = 8,
    }
}

int_enum! {
    /// Termination-Action values, RFC 2865 §5.29.
    TerminationAction {
        /// Default.
        DEFAULT = 0,
        /// RADIUS-Request.
        RADIUS_REQUEST = 1,
    }
}

int_enum! {
    /// Acct-Status-Type values, RFC 2866 §5.1.
    AcctStatusType {
        /// Start of a session.
        START = 1,
        /// End of a session.
        STOP = 2,
        /// Interim-Update (RFC 2869 §5.1).
        INTERIM_UPDATE = 3,
        /// Accounting-On: the NAS starts (all its sessions are new).
        ACCOUNTING_ON = 7,
        /// Accounting-Off: the NAS stops (all its sessions ended).
        ACCOUNTING_OFF = 8,
    }
}

int_enum! {
    /// Acct-Authentic values, RFC 2866 §5.6.
    AcctAuthentic {
        /// Authenticated by RADIUS.
        RADIUS = 1,
        /// Authenticated locally.
        LOCAL = 2,
        /// Authenticated remotely.
        REMOTE = 3,
    }
}

int_enum! {
    /// Acct-Terminate-Cause values, RFC 2866 §5.10.
    AcctTerminateCause {
        /// User Request.
        USER_REQUEST = 1,
        /// Lost Carrier.
        LOST_CARRIER = 2,
        /// Lost Service.
        LOST_SERVICE = 3,
        /// Idle Timeout.
        IDLE_TIMEOUT = 4,
        /// Session Timeout.
        SESSION_TIMEOUT = 5,
        /// Admin Reset.
        ADMIN_RESET = 6,
        /// Admin Reboot.
        ADMIN_REBOOT = 7,
        /// Port Error.
        PORT_ERROR = 8,
        /// NAS Error.
        NAS_ERROR = 9,
        /// NAS Request.
        NAS_REQUEST = 10,
        /// NAS Reboot.
        NAS_REBOOT = 11,
        /// Port Unneeded.
        PORT_UNNEEDED = 12,
        /// Port Preempted.
        PORT_PREEMPTED = 13,
        /// Port Suspended.
        PORT_SUSPENDED = 14,
        /// Service Unavailable.
        SERVICE_UNAVAILABLE = 15,
        /// Callback.
        CALLBACK = 16,
        /// User Error.
        USER_ERROR = 17,
        /// Host Request.
        HOST_REQUEST = 18,
    }
}

int_enum! {
    /// NAS-Port-Type values, RFC 2865 §5.41.
    NasPortType {
        /// Async.
        ASYNC = 0,
        /// Sync.
        SYNC = 1,
        /// ISDN Sync.
        ISDN_SYNC = 2,
        /// ISDN Async V.120.
        ISDN_ASYNC_V120 = 3,
        /// ISDN Async V.110.
        ISDN_ASYNC_V110 = 4,
        /// Virtual: a session over a tunnel such as L2TP.
        VIRTUAL = 5,
        /// PIAFS.
        PIAFS = 6,
        /// HDLC Clear Channel.
        HDLC_CLEAR_CHANNEL = 7,
        /// X.25.
        X25 = 8,
        /// X.75.
        X75 = 9,
        /// G.3 Fax.
        G3_FAX = 10,
        /// SDSL.
        SDSL = 11,
        /// ADSL-CAP.
        ADSL_CAP = 12,
        /// ADSL-DMT.
        ADSL_DMT = 13,
        /// IDSL.
        IDSL = 14,
        /// Ethernet.
        ETHERNET = 15,
        /// xDSL.
        XDSL = 16,
        /// Cable.
        CABLE = 17,
        /// Wireless - Other.
        WIRELESS_OTHER = 18,
        /// Wireless - IEEE 802.11.
        WIRELESS_802_11 = 19,
    }
}

int_enum! {
    /// Tunnel-Type values, RFC 2868 §3.1.
    TunnelType {
        /// PPTP.
        PPTP = 1,
        /// L2F.
        L2F = 2,
        /// L2TP.
        L2TP = 3,
        /// ATMP.
        ATMP = 4,
        /// VTP.
        VTP = 5,
        /// IP Authentication Header in tunnel mode.
        AH = 6,
        /// IP-in-IP.
        IP_IP = 7,
        /// Minimal IP-in-IP.
        MIN_IP_IP = 8,
        /// ESP in tunnel mode.
        ESP = 9,
        /// GRE.
        GRE = 10,
        /// Bay Dial Virtual Services.
        DVS = 11,
        /// IP-in-IP tunneling.
        IP_IN_IP = 12,
        /// VLAN (RFC 3580).
        VLAN = 13,
    }
}

int_enum! {
    /// Tunnel-Medium-Type values, RFC 2868 §3.2 (address families).
    TunnelMediumType {
        /// IPv4.
        IPV4 = 1,
        /// IPv6.
        IPV6 = 2,
        /// NSAP.
        NSAP = 3,
        /// HDLC (8-bit multidrop).
        HDLC = 4,
        /// BBN 1822.
        BBN_1822 = 5,
        /// IEEE 802.
        IEEE_802 = 6,
        /// E.163.
        E163 = 7,
        /// E.164.
        E164 = 8,
        /// F.69.
        F69 = 9,
        /// X.121.
        X121 = 10,
        /// IPX.
        IPX = 11,
        /// AppleTalk.
        APPLETALK = 12,
        /// Decnet IV.
        DECNET_IV = 13,
        /// Banyan Vines.
        BANYAN_VINES = 14,
        /// E.164 with NSAP subaddress.
        E164_NSAP = 15,
    }
}

/// CHAP-Password value, RFC 2865 §5.3: the CHAP Identifier and the 16-octet response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChapPassword {
    /// CHAP Identifier from the user's Response packet.
    pub ident: u8,
    /// CHAP response value (MD5 of ident, secret, challenge).
    pub response: [u8; 16],
}

impl AttrValue<'_> for ChapPassword {
    fn decode(value: &[u8]) -> Option<Self> {
        let (&ident, rest) = value.split_first()?;
        Some(Self { ident, response: rest.try_into().ok()? })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.ident);
        out.extend_from_slice(&self.response);
    }
}

/// A tagged integer (RFC 2868 §3.1, §3.2, §3.8): one Tag octet, then a 24-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaggedInt<T> {
    /// Tag (0x01..=0x1F groups attributes of one tunnel; 0 when unused).
    pub tag: u8,
    /// The 24-bit value.
    pub value: T,
}

impl<T: IntValue> AttrValue<'_> for TaggedInt<T> {
    fn decode(value: &[u8]) -> Option<Self> {
        let v: [u8; 4] = value.try_into().ok()?;
        Some(Self { tag: v[0], value: T::from_u32(u32::from_be_bytes([0, v[1], v[2], v[3]])) })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag);
        out.extend_from_slice(&self.value.to_u32().to_be_bytes()[1..]);
    }
}

/// A string with an optional Tag (RFC 2868 §3.3, §3.4, §3.6, §3.7, §3.9, §3.10): a first
/// octet in 0x00..=0x1F is a tag, anything above is the first octet of the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaggedText<'a> {
    /// The tag, if the first octet was one.
    pub tag: Option<u8>,
    /// The string.
    pub text: Text<'a>,
}

impl<'a> AttrValue<'a> for TaggedText<'a> {
    fn decode(value: &'a [u8]) -> Option<Self> {
        Some(match value.split_first() {
            Some((&t, rest)) if t <= 0x1F => Self { tag: Some(t), text: Text(rest) },
            _ => Self { tag: None, text: Text(value) },
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        if let Some(t) = self.tag {
            out.push(t);
        }
        out.extend_from_slice(self.text.0);
    }
}

/// A value encrypted with a salt (RFC 2548 §2.4.2 MS-MPPE-Send/Recv-Key, RFC 2868 §3.5
/// Tunnel-Password): two octets of salt, then a non-empty multiple of 16 octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Salted<'a> {
    /// Salt; its high bit is set by a conforming sender.
    pub salt: [u8; 2],
    /// The encrypted length octet, value and padding.
    pub ciphertext: &'a [u8],
}

impl Salted<'_> {
    /// Decrypt with the shared secret and the Request Authenticator of the request this
    /// attribute answers (or belongs to). `None` if the decrypted length octet is invalid,
    /// which is what a wrong secret usually gives.
    #[must_use]
    pub fn decrypt(
        &self,
        secret: &[u8],
        request_authenticator: &[u8; 16],
    ) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        crate::crypto::salt_decrypt(self.ciphertext, secret, request_authenticator, self.salt)
    }
}

impl<'a> AttrValue<'a> for Salted<'a> {
    fn decode(value: &'a [u8]) -> Option<Self> {
        if value.len() < 18 || !(value.len() - 2).is_multiple_of(16) {
            return None;
        }
        Some(Self { salt: [value[0], value[1]], ciphertext: &value[2..] })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(self.ciphertext);
    }
}

/// Tunnel-Password value, RFC 2868 §3.5: a Tag, then a [`Salted`] password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelPassword<'a> {
    /// Tag.
    pub tag: u8,
    /// The salted, encrypted password.
    pub password: Salted<'a>,
}

impl<'a> AttrValue<'a> for TunnelPassword<'a> {
    fn decode(value: &'a [u8]) -> Option<Self> {
        let (&tag, rest) = value.split_first()?;
        Some(Self { tag, password: Salted::decode(rest)? })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag);
        self.password.encode(out);
    }
}

/// Vendor-Specific value, RFC 2865 §5.26: a 4-octet vendor id, then vendor data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorSpecific<'a> {
    /// A Microsoft attribute (RFC 2548), when the data holds exactly one sub-attribute.
    Microsoft(MsAttribute<'a>),
    /// Any other vendor, or Microsoft data in another layout: kept raw.
    Other {
        /// SMI private enterprise code.
        vendor_id: u32,
        /// The vendor data after the id.
        data: &'a [u8],
    },
}

impl<'a> AttrValue<'a> for VendorSpecific<'a> {
    fn decode(value: &'a [u8]) -> Option<Self> {
        if value.len() < 4 {
            return None;
        }
        let vendor_id = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
        let data = &value[4..];
        if vendor_id == VENDOR_MICROSOFT && data.len() >= 2 && usize::from(data[1]) == data.len() {
            return Some(Self::Microsoft(MsAttribute::decode(data[0], &data[2..])));
        }
        Some(Self::Other { vendor_id, data })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Microsoft(ms) => {
                out.extend_from_slice(&VENDOR_MICROSOFT.to_be_bytes());
                let start = out.len();
                out.push(ms.type_code());
                out.push(0);
                ms.encode_value(out);
                let len = out.len() - start;
                out[start + 1] = len.min(255) as u8;
            }
            Self::Other { vendor_id, data } => {
                out.extend_from_slice(&vendor_id.to_be_bytes());
                out.extend_from_slice(data);
            }
        }
    }
}

/// Defines an attribute enum from a table of (type, variant, value type).
macro_rules! attribute_table {
    ($(#[$em:meta])* $enum:ident { $( $(#[$d:meta])* $num:literal => $name:ident($ty:ty), )* }) => {
        $(#[$em])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum $enum<'a> {
            $( $(#[$d])* $name($ty), )*
            /// A type this table does not know, or a known type whose value is malformed
            /// (RFC 6929 §2.8): kept raw so it round-trips.
            Unknown {
                /// Attribute type.
                typ: u8,
                /// Attribute value.
                value: &'a [u8],
            },
        }

        impl<'a> $enum<'a> {
            /// Decode one attribute's value. Never fails: see [`Self::Unknown`].
            #[must_use]
            pub fn decode(typ: u8, value: &'a [u8]) -> Self {
                let known = match typ {
                    $( $num => <$ty as AttrValue<'a>>::decode(value).map(Self::$name), )*
                    _ => None,
                };
                known.unwrap_or(Self::Unknown { typ, value })
            }

            /// The attribute type code.
            #[must_use]
            pub fn type_code(&self) -> u8 {
                match self {
                    $( Self::$name(_) => $num, )*
                    Self::Unknown { typ, .. } => *typ,
                }
            }

            /// The RFC name of an attribute type, if this table knows it.
            #[must_use]
            pub fn name_of(typ: u8) -> Option<&'static str> {
                match typ {
                    $( $num => Some(stringify!($name)), )*
                    _ => None,
                }
            }

            /// Append the value octets (without type and length).
            pub fn encode_value(&self, out: &mut Vec<u8>) {
                match self {
                    $( Self::$name(v) => AttrValue::encode(v, out), )*
                    Self::Unknown { value, .. } => out.extend_from_slice(value),
                }
            }
        }
    };
}
pub(crate) use attribute_table;

attribute_table! {
    /// A RADIUS attribute with a typed value (RFC 2865 §5 and the RFCs that extend it).
    Attribute {
        /// RFC 2865 §5.1.
        1 => UserName(Text<'a>),
        /// RFC 2865 §5.2: hidden with the shared secret (see [`crate::crypto::hide_user_password`]).
        2 => UserPassword(&'a [u8]),
        /// RFC 2865 §5.3.
        3 => ChapPassword(ChapPassword),
        /// RFC 2865 §5.4.
        4 => NasIpAddress(Ipv4Addr),
        /// RFC 2865 §5.5.
        5 => NasPort(u32),
        /// RFC 2865 §5.6.
        6 => ServiceType(ServiceType),
        /// RFC 2865 §5.7.
        7 => FramedProtocol(FramedProtocol),
        /// RFC 2865 §5.8.
        8 => FramedIpAddress(Ipv4Addr),
        /// RFC 2865 §5.9.
        9 => FramedIpNetmask(Ipv4Addr),
        /// RFC 2865 §5.10.
        10 => FramedRouting(FramedRouting),
        /// RFC 2865 §5.11.
        11 => FilterId(Text<'a>),
        /// RFC 2865 §5.12.
        12 => FramedMtu(u32),
        /// RFC 2865 §5.13.
        13 => FramedCompression(FramedCompression),
        /// RFC 2865 §5.14.
        14 => LoginIpHost(Ipv4Addr),
        /// RFC 2865 §5.15.
        15 => LoginService(LoginService),
        /// RFC 2865 §5.16.
        16 => LoginTcpPort(u32),
        /// RFC 2865 §5.18.
        18 => ReplyMessage(Text<'a>),
        /// RFC 2865 §5.19.
        19 => CallbackNumber(Text<'a>),
        /// RFC 2865 §5.20.
        20 => CallbackId(Text<'a>),
        /// RFC 2865 §5.22.
        22 => FramedRoute(Text<'a>),
        /// RFC 2865 §5.23.
        23 => FramedIpxNetwork(u32),
        /// RFC 2865 §5.24.
        24 => State(&'a [u8]),
        /// RFC 2865 §5.25.
        25 => Class(&'a [u8]),
        /// RFC 2865 §5.26.
        26 => VendorSpecific(VendorSpecific<'a>),
        /// RFC 2865 §5.27.
        27 => SessionTimeout(u32),
        /// RFC 2865 §5.28.
        28 => IdleTimeout(u32),
        /// RFC 2865 §5.29.
        29 => TerminationAction(TerminationAction),
        /// RFC 2865 §5.30.
        30 => CalledStationId(Text<'a>),
        /// RFC 2865 §5.31.
        31 => CallingStationId(Text<'a>),
        /// RFC 2865 §5.32.
        32 => NasIdentifier(Text<'a>),
        /// RFC 2865 §5.33.
        33 => ProxyState(&'a [u8]),
        /// RFC 2865 §5.34.
        34 => LoginLatService(Text<'a>),
        /// RFC 2865 §5.35.
        35 => LoginLatNode(Text<'a>),
        /// RFC 2865 §5.36.
        36 => LoginLatGroup(&'a [u8]),
        /// RFC 2865 §5.37.
        37 => FramedAppleTalkLink(u32),
        /// RFC 2865 §5.38.
        38 => FramedAppleTalkNetwork(u32),
        /// RFC 2865 §5.39.
        39 => FramedAppleTalkZone(Text<'a>),
        /// RFC 2866 §5.1.
        40 => AcctStatusType(AcctStatusType),
        /// RFC 2866 §5.2.
        41 => AcctDelayTime(u32),
        /// RFC 2866 §5.3.
        42 => AcctInputOctets(u32),
        /// RFC 2866 §5.4.
        43 => AcctOutputOctets(u32),
        /// RFC 2866 §5.5.
        44 => AcctSessionId(Text<'a>),
        /// RFC 2866 §5.6.
        45 => AcctAuthentic(AcctAuthentic),
        /// RFC 2866 §5.7.
        46 => AcctSessionTime(u32),
        /// RFC 2866 §5.8.
        47 => AcctInputPackets(u32),
        /// RFC 2866 §5.9.
        48 => AcctOutputPackets(u32),
        /// RFC 2866 §5.10.
        49 => AcctTerminateCause(AcctTerminateCause),
        /// RFC 2866 §5.11.
        50 => AcctMultiSessionId(Text<'a>),
        /// RFC 2866 §5.12.
        51 => AcctLinkCount(u32),
        /// RFC 2869 §5.1: how many times Acct-Input-Octets wrapped around 2^32.
        52 => AcctInputGigawords(u32),
        /// RFC 2869 §5.2.
        53 => AcctOutputGigawords(u32),
        /// RFC 2869 §5.3: seconds since 1970-01-01 UTC.
        55 => EventTimestamp(u32),
        /// RFC 2865 §5.40.
        60 => ChapChallenge(&'a [u8]),
        /// RFC 2865 §5.41.
        61 => NasPortType(NasPortType),
        /// RFC 2865 §5.42.
        62 => PortLimit(u32),
        /// RFC 2865 §5.43.
        63 => LoginLatPort(Text<'a>),
        /// RFC 2868 §3.1.
        64 => TunnelType(TaggedInt<TunnelType>),
        /// RFC 2868 §3.2.
        65 => TunnelMediumType(TaggedInt<TunnelMediumType>),
        /// RFC 2868 §3.3.
        66 => TunnelClientEndpoint(TaggedText<'a>),
        /// RFC 2868 §3.4.
        67 => TunnelServerEndpoint(TaggedText<'a>),
        /// RFC 2867 §4.1.
        68 => AcctTunnelConnection(Text<'a>),
        /// RFC 2868 §3.5.
        69 => TunnelPassword(TunnelPassword<'a>),
        /// RFC 2869 §5.4.
        70 => ArapPassword(&'a [u8]),
        /// RFC 2869 §5.5.
        71 => ArapFeatures(&'a [u8]),
        /// RFC 2869 §5.6.
        72 => ArapZoneAccess(u32),
        /// RFC 2869 §5.7.
        73 => ArapSecurity(u32),
        /// RFC 2869 §5.8.
        74 => ArapSecurityData(Text<'a>),
        /// RFC 2869 §5.9.
        75 => PasswordRetry(u32),
        /// RFC 2869 §5.10.
        76 => Prompt(u32),
        /// RFC 2869 §5.11.
        77 => ConnectInfo(Text<'a>),
        /// RFC 2869 §5.12.
        78 => ConfigurationToken(Text<'a>),
        /// RFC 3579 §3.1: one fragment of an EAP packet; consecutive ones are joined.
        79 => EapMessage(&'a [u8]),
        /// RFC 3579 §3.2: HMAC-MD5 over the packet.
        80 => MessageAuthenticator([u8; 16]),
        /// RFC 2868 §3.6.
        81 => TunnelPrivateGroupId(TaggedText<'a>),
        /// RFC 2868 §3.7.
        82 => TunnelAssignmentId(TaggedText<'a>),
        /// RFC 2868 §3.8.
        83 => TunnelPreference(TaggedInt<u32>),
        /// RFC 2869 §5.15.
        84 => ArapChallengeResponse(&'a [u8]),
        /// RFC 2869 §5.16.
        85 => AcctInterimInterval(u32),
        /// RFC 2867 §4.2.
        86 => AcctTunnelPacketsLost(u32),
        /// RFC 2869 §5.17.
        87 => NasPortId(Text<'a>),
        /// RFC 2869 §5.18.
        88 => FramedPool(Text<'a>),
        /// RFC 2868 §3.9.
        90 => TunnelClientAuthId(TaggedText<'a>),
        /// RFC 2868 §3.10.
        91 => TunnelServerAuthId(TaggedText<'a>),
    }
}

impl Attribute<'_> {
    /// Append the whole attribute (type, length, value) to `out`.
    ///
    /// # Errors
    /// [`EncodeError::ValueTooLong`] when the value exceeds 253 octets; `out` is left as it
    /// was.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.push(self.type_code());
        out.push(0);
        self.encode_value(out);
        let len = out.len() - start;
        if len > 255 {
            out.truncate(start);
            return Err(EncodeError::ValueTooLong);
        }
        out[start + 1] = len as u8;
        Ok(())
    }
}

//! Microsoft vendor-specific attributes (RFC 2548), carried in Vendor-Specific with
//! vendor id 311.

use std::net::Ipv4Addr;

use crate::attr::{AttrValue, Salted, Text, attribute_table, int_enum};
use core::fmt;

/// MS-CHAP-Response value, RFC 2548 §2.1.3 (MS-CHAP version 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChapResponse {
    /// PPP CHAP Identifier.
    pub ident: u8,
    /// 1 when the NT response is to be used.
    pub flags: u8,
    /// LAN Manager compatible response.
    pub lm_response: [u8; 24],
    /// Windows NT compatible response.
    pub nt_response: [u8; 24],
}

impl AttrValue<'_> for MsChapResponse {
    fn decode(value: &[u8]) -> Option<Self> {
        if value.len() != 50 {
            return None;
        }
        Some(Self {
            ident: value[0],
            flags: value[1],
            lm_response: value[2..26].try_into().ok()?,
            nt_response: value[26..50].try_into().ok()?,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.ident);
        out.push(self.flags);
        out.extend_from_slice(&self.lm_response);
        out.extend_from_slice(&self.nt_response);
    }
}

/// MS-CHAP2-Response value, RFC 2548 §2.3.2: what the peer sent in its MS-CHAPv2
/// Response packet (RFC 2759 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChap2Response {
    /// PPP CHAP Identifier.
    pub ident: u8,
    /// Flags (zero).
    pub flags: u8,
    /// Peer-Challenge.
    pub peer_challenge: [u8; 16],
    /// Reserved, zero.
    pub reserved: [u8; 8],
    /// NT-Response.
    pub nt_response: [u8; 24],
}

impl AttrValue<'_> for MsChap2Response {
    fn decode(value: &[u8]) -> Option<Self> {
        if value.len() != 50 {
            return None;
        }
        Some(Self {
            ident: value[0],
            flags: value[1],
            peer_challenge: value[2..18].try_into().ok()?,
            reserved: value[18..26].try_into().ok()?,
            nt_response: value[26..50].try_into().ok()?,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.ident);
        out.push(self.flags);
        out.extend_from_slice(&self.peer_challenge);
        out.extend_from_slice(&self.reserved);
        out.extend_from_slice(&self.nt_response);
    }
}

/// A PPP CHAP Identifier followed by a string: MS-CHAP-Error (§2.1.5), MS-CHAP-Domain
/// (§2.1.6), MS-CHAP2-Success (§2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentText<'a> {
    /// PPP CHAP Identifier.
    pub ident: u8,
    /// The string (for MS-CHAP2-Success, `S=<40 hex digits>` and optionally ` M=<text>`).
    pub text: Text<'a>,
}

impl<'a> AttrValue<'a> for IdentText<'a> {
    fn decode(value: &'a [u8]) -> Option<Self> {
        let (&ident, rest) = value.split_first()?;
        Some(Self { ident, text: Text(rest) })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.ident);
        out.extend_from_slice(self.text.0);
    }
}

int_enum! {
    /// MS-MPPE-Encryption-Policy values, RFC 2548 §2.4.4.
    MppeEncryptionPolicy {
        /// Encryption allowed.
        ALLOWED = 1,
        /// Encryption required.
        REQUIRED = 2,
    }
}

int_enum! {
    /// MS-MPPE-Encryption-Types bits, RFC 2548 §2.4.5.
    MppeEncryptionTypes {
        /// RC4 with 40-bit keys.
        RC4_40 = 2,
        /// RC4 with 128-bit keys.
        RC4_128 = 4,
        /// Either 40- or 128-bit keys.
        RC4_40_OR_128 = 6,
    }
}

attribute_table! {
    /// A Microsoft vendor-specific attribute (RFC 2548 §2) with a typed value.
    MsAttribute {
        /// RFC 2548 §2.1.3.
        1 => ChapResponse(MsChapResponse),
        /// RFC 2548 §2.1.5.
        2 => ChapError(IdentText<'a>),
        /// RFC 2548 §2.1.1.
        3 => ChapCpw1(&'a [u8]),
        /// RFC 2548 §2.1.2.
        4 => ChapCpw2(&'a [u8]),
        /// RFC 2548 §2.1.4.
        5 => ChapLmEncPw(&'a [u8]),
        /// RFC 2548 §2.1.4.
        6 => ChapNtEncPw(&'a [u8]),
        /// RFC 2548 §2.4.4.
        7 => MppeEncryptionPolicy(MppeEncryptionPolicy),
        /// RFC 2548 §2.4.5.
        8 => MppeEncryptionTypes(MppeEncryptionTypes),
        /// RFC 2548 §2.2.1.
        9 => RasVendor(u32),
        /// RFC 2548 §2.1.6.
        10 => ChapDomain(IdentText<'a>),
        /// RFC 2548 §2.1.7: the authenticator challenge (16 octets for MS-CHAPv2).
        11 => ChapChallenge(&'a [u8]),
        /// RFC 2548 §2.4.1: MS-CHAPv1 keys, encrypted like User-Password.
        12 => ChapMppeKeys(&'a [u8]),
        /// RFC 2548 §2.2.4.
        13 => BapUsage(u32),
        /// RFC 2548 §2.2.2.
        14 => LinkUtilizationThreshold(u32),
        /// RFC 2548 §2.2.3.
        15 => LinkDropTimeLimit(u32),
        /// RFC 2548 §2.4.2: the key the NAS uses to send to the peer.
        16 => MppeSendKey(Salted<'a>),
        /// RFC 2548 §2.4.3: the key the NAS uses to receive from the peer.
        17 => MppeRecvKey(Salted<'a>),
        /// RFC 2548 §2.2.5.
        18 => RasVersion(Text<'a>),
        /// RFC 2548 §2.5.1.
        19 => OldArapPassword(&'a [u8]),
        /// RFC 2548 §2.5.2.
        20 => NewArapPassword(&'a [u8]),
        /// RFC 2548 §2.5.3.
        21 => ArapPasswordChangeReason(u32),
        /// RFC 2548 §2.2.6.
        22 => Filter(&'a [u8]),
        /// RFC 2548 §2.2.7.
        23 => AcctAuthType(u32),
        /// RFC 2548 §2.2.8.
        24 => AcctEapType(u32),
        /// RFC 2548 §2.3.2.
        25 => Chap2Response(MsChap2Response),
        /// RFC 2548 §2.3.3: the authenticator response the NAS relays to the peer.
        26 => Chap2Success(IdentText<'a>),
        /// RFC 2548 §2.3.1.
        27 => Chap2Cpw(&'a [u8]),
        /// RFC 2548 §2.2.9.
        28 => PrimaryDnsServer(Ipv4Addr),
        /// RFC 2548 §2.2.10.
        29 => SecondaryDnsServer(Ipv4Addr),
        /// RFC 2548 §2.2.11.
        30 => PrimaryNbnsServer(Ipv4Addr),
        /// RFC 2548 §2.2.12.
        31 => SecondaryNbnsServer(Ipv4Addr),
        /// RFC 2548 §2.5.4.
        33 => ArapChallenge(&'a [u8]),
    }
}

impl fmt::Display for MsAttribute<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Self::name_of(self.type_code()) {
            Some(n) => write!(f, "MS-{n}"),
            None => write!(f, "MS-Attr-{}", self.type_code()),
        }
    }
}

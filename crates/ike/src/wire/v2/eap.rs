//! RFC 7296 §3.16: the EAP payload, which carries one EAP packet (RFC 3748 §4).

use nom::{
    Parser,
    number::complete::{be_u8, be_u16},
};

use super::{EapCode, EapType, EncodeError, ParseError, len_u16, truncated};

/// RFC 3748 §4: Code, Identifier and Length.
const EAP_HEADER_LEN: usize = 4;

/// RFC 3748 §4: one EAP packet, as carried in the IKEv2 EAP payload (the packet fills the
/// payload body exactly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eap<'a> {
    /// Request, Response, Success, Failure, ...
    pub code: EapCode,
    /// Matches Responses to Requests.
    pub identifier: u8,
    /// RFC 3748 §4.1: the method Type, present exactly in Requests and Responses.
    pub eap_type: Option<EapType>,
    /// Type-Data of a Request / Response; for other codes everything after the header
    /// (empty for a well-formed Success / Failure).
    pub data: &'a [u8],
}

impl<'a> Eap<'a> {
    /// A Request or Response of `eap_type`.
    #[must_use]
    pub const fn new(code: EapCode, identifier: u8, eap_type: EapType, data: &'a [u8]) -> Self {
        Self { code, identifier, eap_type: Some(eap_type), data }
    }

    /// A Success (or, with [`EapCode::Failure`], a Failure) packet.
    #[must_use]
    pub const fn outcome(code: EapCode, identifier: u8) -> Self {
        Self { code, identifier, eap_type: None, data: &[] }
    }

    /// Whether the code carries a Type field (Request and Response).
    const fn has_type(code: EapCode) -> bool {
        matches!(code, EapCode::Request | EapCode::Response)
    }

    /// Parses an EAP packet that fills `packet` exactly.
    ///
    /// # Errors
    /// Fewer than 4 bytes, a Length field that is not the packet's length, or a Request /
    /// Response without a Type.
    pub fn parse(packet: &'a [u8]) -> Result<Self, ParseError> {
        let (rest, (code, identifier, len)) =
            (be_u8::<&[u8], ()>, be_u8, be_u16).parse(packet).map_err(truncated("EAP packet"))?;
        if usize::from(len) != packet.len() {
            return Err(ParseError::BadLength { what: "EAP packet" });
        }
        let code = EapCode::from(code);
        if !Self::has_type(code) {
            return Ok(Self { code, identifier, eap_type: None, data: rest });
        }
        let (data, eap_type) = be_u8::<&[u8], ()>(rest).map_err(truncated("EAP Type"))?;
        Ok(Self { code, identifier, eap_type: Some(eap_type.into()), data })
    }

    /// RFC 3748 §5.7: for the Expanded Type (254), the 3-byte Vendor-Id, the 4-byte
    /// Vendor-Type and the vendor data.
    #[must_use]
    pub fn expanded(&self) -> Option<(u32, u32, &'a [u8])> {
        if self.eap_type != Some(EapType::Expanded) || self.data.len() < 7 {
            return None;
        }
        let d = self.data;
        let vendor_id = u32::from_be_bytes([0, d[0], d[1], d[2]]);
        let vendor_type = u32::from_be_bytes([d[3], d[4], d[5], d[6]]);
        Some((vendor_id, vendor_type, &d[7..]))
    }

    /// Appends the packet.
    ///
    /// # Errors
    /// A Type on a code that has none (or none on a Request / Response), or a packet
    /// over 65535 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if Self::has_type(self.code) != self.eap_type.is_some() {
            return Err(EncodeError::Invalid { what: "EAP Type presence for the code" });
        }
        let len = EAP_HEADER_LEN + usize::from(self.eap_type.is_some()) + self.data.len();
        out.push(self.code.into());
        out.push(self.identifier);
        out.extend_from_slice(&len_u16(len, "EAP packet")?.to_be_bytes());
        if let Some(t) = self.eap_type {
            out.push(t.into());
        }
        out.extend_from_slice(self.data);
        Ok(())
    }
}

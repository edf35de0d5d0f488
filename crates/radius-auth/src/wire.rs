//! RADIUS packet codec (RFC 2865 §3): a zero-copy [`Packet`] view, its attributes, and a
//! [`PacketWriter`] that appends a packet to a caller's buffer and signs it.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      |  Identifier   |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authenticator (16 octets)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attributes ...  (Type, Length, Value)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-
//! ```

use core::fmt;

use nom::IResult;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16};

use crate::attr::{Attribute, MAX_VALUE_LEN};
use crate::crypto;
use crate::error::{EncodeError, ParseError};

/// Fixed header length.
pub const HEADER_LEN: usize = 20;
/// Largest RADIUS packet (RFC 2865 §3).
pub const MAX_PACKET_LEN: usize = 4096;
/// Message-Authenticator attribute type (RFC 3579 §3.2).
pub const MESSAGE_AUTHENTICATOR: u8 = 80;
/// EAP-Message attribute type (RFC 3579 §3.1).
pub const EAP_MESSAGE: u8 = 79;

/// Packet type (RFC 2865 §3, §4; RFC 2866 §4; RFC 5997 §3; RFC 5176 §3). A newtype so
/// codes without a name round-trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(pub u8);

impl Code {
    /// Access-Request (RFC 2865 §4.1).
    pub const ACCESS_REQUEST: Self = Self(1);
    /// Access-Accept (RFC 2865 §4.2).
    pub const ACCESS_ACCEPT: Self = Self(2);
    /// Access-Reject (RFC 2865 §4.3).
    pub const ACCESS_REJECT: Self = Self(3);
    /// Accounting-Request (RFC 2866 §4.1).
    pub const ACCOUNTING_REQUEST: Self = Self(4);
    /// Accounting-Response (RFC 2866 §4.2).
    pub const ACCOUNTING_RESPONSE: Self = Self(5);
    /// Access-Challenge (RFC 2865 §4.4).
    pub const ACCESS_CHALLENGE: Self = Self(11);
    /// Status-Server (RFC 5997 §3).
    pub const STATUS_SERVER: Self = Self(12);
    /// Status-Client (reserved, RFC 2865 §3).
    pub const STATUS_CLIENT: Self = Self(13);
    /// Disconnect-Request (RFC 5176 §3).
    pub const DISCONNECT_REQUEST: Self = Self(40);
    /// Disconnect-ACK (RFC 5176 §3).
    pub const DISCONNECT_ACK: Self = Self(41);
    /// Disconnect-NAK (RFC 5176 §3).
    pub const DISCONNECT_NAK: Self = Self(42);
    /// CoA-Request (RFC 5176 §3).
    pub const COA_REQUEST: Self = Self(43);
    /// CoA-ACK (RFC 5176 §3).
    pub const COA_ACK: Self = Self(44);
    /// CoA-NAK (RFC 5176 §3).
    pub const COA_NAK: Self = Self(45);

    /// The RFC name of the code, if known.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "Access-Request",
            2 => "Access-Accept",
            3 => "Access-Reject",
            4 => "Accounting-Request",
            5 => "Accounting-Response",
            11 => "Access-Challenge",
            12 => "Status-Server",
            13 => "Status-Client",
            40 => "Disconnect-Request",
            41 => "Disconnect-ACK",
            42 => "Disconnect-NAK",
            43 => "CoA-Request",
            44 => "CoA-ACK",
            45 => "CoA-NAK",
            _ => return None,
        })
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Code({})", self.0),
        }
    }
}

/// A zero-copy view of a RADIUS packet whose header and attribute framing were checked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    bytes: &'a [u8],
}

impl fmt::Debug for Packet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("code", &self.code())
            .field("identifier", &self.identifier())
            .field("length", &self.bytes.len())
            .field("attributes", &self.attributes().collect::<Vec<_>>())
            .finish()
    }
}

/// One attribute as it is on the wire: type and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    /// Attribute type.
    pub typ: u8,
    /// Value (0..=253 octets).
    pub value: &'a [u8],
}

impl<'a> RawAttribute<'a> {
    /// The typed view of this attribute.
    #[must_use]
    pub fn typed(&self) -> Attribute<'a> {
        Attribute::decode(self.typ, self.value)
    }
}

fn attribute_tlv(input: &[u8]) -> IResult<&[u8], RawAttribute<'_>> {
    let (input, typ) = be_u8(input)?;
    let (input, len) = be_u8(input)?;
    if len < 2 {
        return Err(nom::Err::Failure(nom::error::Error::new(input, nom::error::ErrorKind::Verify)));
    }
    let (input, value) = take(usize::from(len) - 2)(input)?;
    Ok((input, RawAttribute { typ, value }))
}

fn header(input: &[u8]) -> IResult<&[u8], (u8, u8, u16)> {
    let (input, code) = be_u8(input)?;
    let (input, id) = be_u8(input)?;
    let (input, len) = be_u16(input)?;
    Ok((input, (code, id, len)))
}

impl<'a> Packet<'a> {
    /// Parse a datagram. Octets past the Length field are padding and ignored
    /// (RFC 2865 §3); the view covers exactly Length octets.
    ///
    /// # Errors
    /// [`ParseError`] when the header or the attribute framing is invalid.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, ParseError> {
        if datagram.len() < HEADER_LEN {
            return Err(ParseError::TooShort);
        }
        let (_, (_, _, len)) = header(datagram).map_err(|_| ParseError::TooShort)?;
        let len = usize::from(len);
        if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&len) || len > datagram.len() {
            return Err(ParseError::BadLength);
        }
        let bytes = &datagram[..len];
        let mut rest = &bytes[HEADER_LEN..];
        while !rest.is_empty() {
            rest = attribute_tlv(rest).map_err(|_| ParseError::BadAttributeLength)?.0;
        }
        Ok(Self { bytes })
    }

    /// Packet type.
    #[must_use]
    pub fn code(&self) -> Code {
        Code(self.bytes[0])
    }

    /// Identifier (RFC 2865 §3): matches a response to its request.
    #[must_use]
    pub fn identifier(&self) -> u8 {
        self.bytes[1]
    }

    /// The Authenticator field.
    #[must_use]
    pub fn authenticator(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.bytes[4..20]);
        a
    }

    /// The packet octets (exactly Length of them).
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The attributes in order.
    #[must_use]
    pub fn attributes(&self) -> RawAttributes<'a> {
        RawAttributes { rest: &self.bytes[HEADER_LEN..] }
    }

    /// The attributes as typed values.
    pub fn typed_attributes(&self) -> impl Iterator<Item = Attribute<'a>> + 'a {
        self.attributes().map(|a| a.typed())
    }

    /// The value of the first attribute of type `typ`.
    #[must_use]
    pub fn find(&self, typ: u8) -> Option<&'a [u8]> {
        self.attributes().find(|a| a.typ == typ).map(|a| a.value)
    }

    /// RFC 3579 §3.1: the EAP packet carried in consecutive EAP-Message attributes, joined.
    /// `None` if there is none. The result is bounded by the 4096-octet packet.
    #[must_use]
    pub fn eap_message(&self) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for a in self.attributes().filter(|a| a.typ == EAP_MESSAGE) {
            out.get_or_insert_with(Vec::new).extend_from_slice(a.value);
        }
        out
    }

    /// Offset of the value of the Message-Authenticator attribute, if there is one with a
    /// 16-octet value. RFC 3579 §3.2 allows at most one; a packet with several is treated
    /// by [`Packet::verify_message_authenticator`] as failing.
    #[must_use]
    pub fn message_authenticator_offset(&self) -> Option<usize> {
        let mut off = HEADER_LEN;
        for a in self.attributes() {
            if a.typ == MESSAGE_AUTHENTICATOR {
                return Some(off + 2);
            }
            off += 2 + a.value.len();
        }
        None
    }

    /// Whether the packet carries a Message-Authenticator attribute.
    #[must_use]
    pub fn has_message_authenticator(&self) -> bool {
        self.find(MESSAGE_AUTHENTICATOR).is_some()
    }

    /// RFC 3579 §3.2: check the Message-Authenticator, computed with `authenticator` in
    /// the header (the Request Authenticator of the request for a response, zeros for an
    /// Accounting-Request). `None` when there is no Message-Authenticator; `Some(false)`
    /// when it is malformed, duplicated or wrong.
    #[must_use]
    pub fn verify_message_authenticator(&self, authenticator: &[u8; 16], secret: &[u8]) -> Option<bool> {
        let mut found = self.attributes().filter(|a| a.typ == MESSAGE_AUTHENTICATOR);
        let first = found.next()?;
        if first.value.len() != 16 || found.next().is_some() {
            return Some(false);
        }
        let off = self.message_authenticator_offset()?;
        let mac = crypto::message_authenticator(self.bytes, off, authenticator, secret);
        Some(crypto::ct_eq(&mac, first.value))
    }

    /// RFC 2865 §3: check the Response Authenticator of a response against the Request
    /// Authenticator of its request.
    #[must_use]
    pub fn verify_response_authenticator(&self, request_authenticator: &[u8; 16], secret: &[u8]) -> bool {
        let expected = crypto::response_authenticator(self.bytes, request_authenticator, secret);
        crypto::ct_eq(&expected, &self.bytes[4..20])
    }

    /// RFC 2866 §3: check the Request Authenticator of an Accounting-Request.
    #[must_use]
    pub fn verify_accounting_request(&self, secret: &[u8]) -> bool {
        let expected = crypto::accounting_request_authenticator(self.bytes, secret);
        crypto::ct_eq(&expected, &self.bytes[4..20])
    }

    /// Append the packet to `out` (identical to the parsed octets).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.bytes);
    }
}

/// Iterator over the attributes of a [`Packet`].
#[derive(Debug, Clone)]
pub struct RawAttributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RawAttributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        // Framing was checked by `Packet::parse`; a failure here only ends the iteration.
        let (rest, a) = attribute_tlv(self.rest).ok()?;
        self.rest = rest;
        Some(a)
    }
}

/// Appends one RADIUS packet to a caller's buffer, then fills in Length, the
/// Message-Authenticator and the authenticator.
///
/// Attributes that would push the packet past 4096 octets are refused and leave the
/// buffer unchanged.
#[derive(Debug)]
pub struct PacketWriter<'b> {
    out: &'b mut Vec<u8>,
    start: usize,
    ma_offset: Option<usize>,
}

impl<'b> PacketWriter<'b> {
    /// Start a packet at the end of `out`, with the given header fields. For an
    /// Access-Request or Status-Server, `authenticator` is the random Request
    /// Authenticator; for other packets it is overwritten by the `finish_*` method.
    pub fn new(out: &'b mut Vec<u8>, code: Code, identifier: u8, authenticator: [u8; 16]) -> Self {
        let start = out.len();
        out.push(code.0);
        out.push(identifier);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&authenticator);
        Self { out, start, ma_offset: None }
    }

    /// Octets written so far for this packet.
    #[must_use]
    pub fn len(&self) -> usize {
        self.out.len() - self.start
    }

    /// Always false: a packet has at least its header.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The Request Authenticator written in the header.
    #[must_use]
    pub fn authenticator(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.out[self.start + 4..self.start + 20]);
        a
    }

    fn check_room(&mut self, mark: usize) -> Result<(), EncodeError> {
        if self.out.len() - self.start > MAX_PACKET_LEN {
            self.out.truncate(mark);
            return Err(EncodeError::PacketTooLong);
        }
        Ok(())
    }

    /// Append a typed attribute.
    ///
    /// # Errors
    /// [`EncodeError::ValueTooLong`] or [`EncodeError::PacketTooLong`]; nothing is written.
    pub fn push(&mut self, attribute: &Attribute<'_>) -> Result<(), EncodeError> {
        let mark = self.out.len();
        attribute.encode(self.out)?;
        self.check_room(mark)
    }

    /// Append an attribute from its type and raw value.
    ///
    /// # Errors
    /// As [`PacketWriter::push`].
    pub fn push_raw(&mut self, typ: u8, value: &[u8]) -> Result<(), EncodeError> {
        if value.len() > MAX_VALUE_LEN {
            return Err(EncodeError::ValueTooLong);
        }
        let mark = self.out.len();
        self.out.push(typ);
        self.out.push((value.len() + 2) as u8);
        self.out.extend_from_slice(value);
        self.check_room(mark)
    }

    /// Append an attribute whose value is produced by `f` (appending to the buffer).
    ///
    /// # Errors
    /// [`EncodeError::ValueTooLong`] / [`EncodeError::PacketTooLong`], or what `f` returns;
    /// nothing is written then.
    pub fn push_with(
        &mut self,
        typ: u8,
        f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let mark = self.out.len();
        self.out.push(typ);
        self.out.push(0);
        if let Err(e) = f(self.out) {
            self.out.truncate(mark);
            return Err(e);
        }
        let len = self.out.len() - mark;
        if len > 255 {
            self.out.truncate(mark);
            return Err(EncodeError::ValueTooLong);
        }
        self.out[mark + 1] = len as u8;
        self.check_room(mark)
    }

    /// RFC 3579 §3.1 / RFC 2865 §5: append a long value split into as many attributes of
    /// type `typ` as needed, 253 octets each (EAP-Message, and any "concat" attribute).
    ///
    /// # Errors
    /// [`EncodeError::PacketTooLong`]; nothing is written then.
    pub fn push_split(&mut self, typ: u8, value: &[u8]) -> Result<(), EncodeError> {
        let mark = self.out.len();
        for chunk in value.chunks(MAX_VALUE_LEN) {
            if let Err(e) = self.push_raw(typ, chunk) {
                self.out.truncate(mark);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Append a Message-Authenticator placeholder (16 zeros); its value is computed by the
    /// `finish_*` method. Only the first call has an effect.
    ///
    /// # Errors
    /// [`EncodeError::PacketTooLong`].
    pub fn push_message_authenticator(&mut self) -> Result<(), EncodeError> {
        if self.ma_offset.is_some() {
            return Ok(());
        }
        let off = self.out.len() + 2;
        self.push_raw(MESSAGE_AUTHENTICATOR, &[0; 16])?;
        self.ma_offset = Some(off);
        Ok(())
    }

    fn set_length(&mut self) -> usize {
        let len = self.out.len() - self.start;
        self.out[self.start + 2..self.start + 4].copy_from_slice(&(len as u16).to_be_bytes());
        len
    }

    fn fill_ma(&mut self, authenticator: &[u8; 16], secret: &[u8]) {
        if let Some(off) = self.ma_offset {
            let pkt = &self.out[self.start..];
            let mac = crypto::message_authenticator(pkt, off - self.start, authenticator, secret);
            self.out[off..off + 16].copy_from_slice(&mac);
        }
    }

    /// Finish an Access-Request or Status-Server (RFC 2865 §3, RFC 5997 §3): Length, then
    /// the Message-Authenticator over the packet with its random Request Authenticator.
    /// Returns the packet's octets.
    pub fn finish_request(mut self, secret: &[u8]) -> &'b [u8] {
        self.set_length();
        let auth = self.authenticator();
        self.fill_ma(&auth, secret);
        &self.out[self.start..]
    }

    /// Finish an Accounting-Request (RFC 2866 §3; RFC 5080 §2.2.2 for the
    /// Message-Authenticator): Length, the Message-Authenticator with a zero authenticator
    /// field, then the Request Authenticator MD5 over the whole packet.
    pub fn finish_accounting_request(mut self, secret: &[u8]) -> &'b [u8] {
        self.set_length();
        self.fill_ma(&[0; 16], secret);
        let auth = crypto::accounting_request_authenticator(&self.out[self.start..], secret);
        self.out[self.start + 4..self.start + 20].copy_from_slice(&auth);
        &self.out[self.start..]
    }

    /// Finish a response (what a server does, RFC 2865 §3): Length, the
    /// Message-Authenticator with the Request Authenticator in the header, then the
    /// Response Authenticator.
    pub fn finish_response(mut self, request_authenticator: &[u8; 16], secret: &[u8]) -> &'b [u8] {
        self.set_length();
        self.fill_ma(request_authenticator, secret);
        let auth = crypto::response_authenticator(&self.out[self.start..], request_authenticator, secret);
        self.out[self.start + 4..self.start + 20].copy_from_slice(&auth);
        &self.out[self.start..]
    }
}

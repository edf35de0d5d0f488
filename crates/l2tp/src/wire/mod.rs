//! L2TPv2 wire format (RFC 2661 §3.1, §4.1): the message header, control message AVPs
//! and data messages.
//!
//! Everything here is a zero-copy view over the caller's bytes: [`Packet::parse`] borrows
//! the datagram, [`ControlMessage::avps`] walks the AVPs lazily and every [`Avp`] borrows its
//! value. Encoders append to a caller's `Vec<u8>`. For every well-formed message
//! `encode(parse(x)) == x`: reserved bits, offset padding, vendor and unknown AVPs are kept.

mod avp;
mod header;

pub use avp::{
    AVP_HEADER_LEN, Accm, Avp, AvpIter, AvpValue, CallErrors, MAX_AVP_VALUE_LEN, MessageType, ResultCode,
    attribute, encode_avp_header,
};
pub use header::{Header, Packet, Sequence, VERSION};

/// What went wrong while parsing bytes from the wire.
///
/// Small and `Copy` so the parser can return it cheaply on hostile input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input ended before a field or a declared length did.
    #[error("truncated: needed {needed} more bytes")]
    Truncated {
        /// Bytes missing (at least).
        needed: usize,
    },
    /// The version field was not 2 (RFC 2661 §3.1: L2F uses 1, L2TPv3 uses 3).
    #[error("unsupported L2TP version {0}")]
    Version(u8),
    /// The Length field is shorter than the header it belongs to.
    #[error("length field {0} is smaller than the header")]
    BadLength(u16),
    /// A control message lacks the L or S bit or carries an offset (RFC 2661 §3.1).
    #[error("control message header flags are invalid")]
    ControlFlags,
    /// An AVP's length is under 6 or runs past the message (RFC 2661 §4.1).
    #[error("AVP length {0} is invalid")]
    AvpLength(u16),
    /// A hidden AVP could not be revealed (no Random Vector, bad padding or length).
    #[error("hidden AVP cannot be revealed")]
    Hidden,
}

/// A control message: its header and the bytes of its AVPs (RFC 2661 §3.1, §4.1).
///
/// A message with no AVPs is a ZLB acknowledgement (RFC 2661 §5.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlMessage<'a> {
    /// The header (T, L and S bits set).
    pub header: Header<'a>,
    /// The AVP bytes, borrowed from the datagram.
    pub avp_bytes: &'a [u8],
}

impl<'a> ControlMessage<'a> {
    /// Parses a control message, checking the header flags a control message must carry.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let packet = Packet::parse(data)?;
        Self::from_packet(packet)
    }

    /// Views an already parsed packet as a control message.
    pub fn from_packet(packet: Packet<'a>) -> Result<Self, ParseError> {
        let h = &packet.header;
        if !h.is_control || !h.has_length || h.sequence.is_none() || h.offset_pad.is_some() {
            return Err(ParseError::ControlFlags);
        }
        Ok(Self { header: packet.header, avp_bytes: packet.payload })
    }

    /// The Ns/Nr pair of the message.
    #[must_use]
    pub fn sequence(&self) -> Sequence {
        self.header.sequence.unwrap_or_default()
    }

    /// True for a Zero-Length Body acknowledgement (RFC 2661 §5.8).
    #[must_use]
    pub fn is_zlb(&self) -> bool {
        self.avp_bytes.is_empty()
    }

    /// Iterates over the AVPs; each item is a parse result so a broken AVP stops the walk.
    #[must_use]
    pub fn avps(&self) -> AvpIter<'a> {
        AvpIter::new(self.avp_bytes)
    }

    /// The message type from the first AVP (RFC 2661 §4.4.1: it must come first),
    /// or `None` for a ZLB or a message whose first AVP is not a Message Type.
    #[must_use]
    pub fn message_type(&self) -> Option<MessageType> {
        match self.avps().next()? {
            Ok(Avp { value: AvpValue::MessageType(t), vendor_id: 0, .. }) => Some(t),
            _ => None,
        }
    }

    /// Checks that every AVP is structurally sound (lengths add up), without typing values.
    pub fn validate(&self) -> Result<(), ParseError> {
        for avp in self.avps() {
            avp?;
        }
        Ok(())
    }
}

/// Builds a control message in a caller's buffer: header first, AVPs appended, then
/// [`ControlBuilder::finish`] patches the Length field.
#[derive(Debug)]
pub struct ControlBuilder<'b> {
    out: &'b mut Vec<u8>,
    start: usize,
}

impl<'b> ControlBuilder<'b> {
    /// Starts a control message addressed to `tunnel_id`/`session_id` with Ns/Nr.
    pub fn new(out: &'b mut Vec<u8>, tunnel_id: u16, session_id: u16, sequence: Sequence) -> Self {
        let start = out.len();
        let header = Header::control(tunnel_id, session_id, sequence);
        header.encode(0, out);
        Self { out, start }
    }

    /// Appends one AVP in the clear.
    pub fn avp(&mut self, avp: &Avp<'_>) -> &mut Self {
        avp.encode(self.out);
        self
    }

    /// Appends a plain mandatory AVP with the given typed value.
    pub fn mandatory(&mut self, value: AvpValue<'_>) -> &mut Self {
        Avp::new(true, value).encode(self.out);
        self
    }

    /// Appends a plain optional (M bit clear) AVP with the given typed value.
    pub fn optional(&mut self, value: AvpValue<'_>) -> &mut Self {
        Avp::new(false, value).encode(self.out);
        self
    }

    /// Direct access to the buffer, for AVPs built elsewhere (e.g. hidden AVPs).
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        self.out
    }

    /// Patches the Length field and returns the encoded message.
    pub fn finish(self) -> &'b [u8] {
        let len = self.out.len() - self.start;
        let len16 = u16::try_from(len).unwrap_or(u16::MAX);
        self.out[self.start + 2..self.start + 4].copy_from_slice(&len16.to_be_bytes());
        &self.out[self.start..]
    }
}

/// Encodes a ZLB acknowledgement (RFC 2661 §5.8): a control header with no AVPs.
pub fn encode_zlb(tunnel_id: u16, sequence: Sequence, out: &mut Vec<u8>) {
    Header::control(tunnel_id, 0, sequence).encode(0, out);
}

/// True when the first byte announces a control message (T bit, RFC 2661 §3.1).
#[must_use]
pub fn is_control(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 0x80 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xl2tpd's ZLB from the lab capture: T L S set, version 2, length 12.
    const ZLB: [u8; 12] = [0xc8, 0x02, 0x00, 0x0c, 0xf3, 0x44, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02];

    #[test]
    fn zlb_header_fields() {
        let m = ControlMessage::parse(&ZLB).unwrap();
        assert!(m.is_zlb());
        assert_eq!(m.header.tunnel_id, 0xf344);
        assert_eq!(m.sequence(), Sequence { ns: 1, nr: 2 });
        let mut out = Vec::new();
        encode_zlb(0xf344, Sequence { ns: 1, nr: 2 }, &mut out);
        assert_eq!(out, ZLB);
    }

    #[test]
    fn header_errors_are_typed() {
        let mut v3 = ZLB;
        v3[1] = 0x03;
        assert_eq!(Packet::parse(&v3), Err(ParseError::Version(3)));
        let mut short_len = ZLB;
        short_len[3] = 6; // Length shorter than the header it sits in
        assert_eq!(Packet::parse(&short_len), Err(ParseError::BadLength(6)));
        let mut long_len = ZLB;
        long_len[3] = 13;
        assert_eq!(Packet::parse(&long_len), Err(ParseError::Truncated { needed: 1 }));
        assert!(matches!(Packet::parse(&ZLB[..5]), Err(ParseError::Truncated { .. })));
        // A data header that promises an offset pad the datagram does not have.
        assert!(matches!(Packet::parse(&[0x02, 0x02, 0, 1, 0, 2, 0, 9]), Err(ParseError::Truncated { .. })));
        // Control messages must carry L and S, and no offset.
        assert_eq!(ControlMessage::parse(&[0x80, 0x02, 0, 1, 0, 0]), Err(ParseError::ControlFlags));
    }

    #[test]
    fn bytes_after_length_are_not_part_of_the_message() {
        let mut padded = ZLB.to_vec();
        padded.extend_from_slice(&[0, 0, 0, 0]);
        let m = ControlMessage::parse(&padded).unwrap();
        assert!(m.is_zlb());
    }

    #[test]
    fn avp_length_is_checked_against_the_message() {
        // Length 5 (< 6) and length 20 (> what is there).
        assert_eq!(Avp::parse(&[0x80, 5, 0, 0, 0, 0]), Err(ParseError::AvpLength(5)));
        assert_eq!(Avp::parse(&[0x80, 20, 0, 0, 0, 0, 0, 1]), Err(ParseError::AvpLength(20)));
        let mut it = AvpIter::new(&[0x80, 8, 0, 0, 0, 0, 0, 1, 0xff]);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none(), "the walk stops after an error");
    }

    #[test]
    fn result_code_tolerates_what_devices_send() {
        assert_eq!(
            AvpValue::parse(attribute::RESULT_CODE, &[0, 1]),
            AvpValue::ResultCode(ResultCode { result: 1, error: None, message: None })
        );
        assert_eq!(
            AvpValue::parse(attribute::RESULT_CODE, b"\x00\x02\x00\x06Invalid challenge authentication"),
            AvpValue::ResultCode(ResultCode {
                result: 2,
                error: Some(6),
                message: Some(b"Invalid challenge authentication")
            })
        );
        // Three bytes cannot hold result + error: kept raw, not misread.
        assert_eq!(AvpValue::parse(attribute::RESULT_CODE, &[0, 2, 0]), AvpValue::Invalid(&[0, 2, 0]));
        assert_eq!(AvpValue::parse(attribute::ASSIGNED_TUNNEL_ID, &[0, 2, 0]), AvpValue::Invalid(&[0, 2, 0]));
        assert_eq!(AvpValue::parse(200, &[1]), AvpValue::Unknown(&[1]));
    }
}

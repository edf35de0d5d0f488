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

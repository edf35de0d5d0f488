//! The L2TP header shared by control and data messages (RFC 2661 §3.1).

use super::ParseError;

/// The only version this crate speaks (RFC 2661 §3.1: Ver MUST be 2).
pub const VERSION: u8 = 2;

const T_BIT: u16 = 0x8000;
const L_BIT: u16 = 0x4000;
const S_BIT: u16 = 0x0800;
const O_BIT: u16 = 0x0200;
const P_BIT: u16 = 0x0100;
const VERSION_MASK: u16 = 0x000f;
/// Bits RFC 2661 §3.1 marks "x": reserved, sent as zero, ignored on receipt.
const RESERVED_MASK: u16 = 0x34f0;

/// Ns and Nr (RFC 2661 §5.8 for control, §3.1 for optional data sequencing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sequence {
    /// Sequence number of this message.
    pub ns: u16,
    /// Next sequence number the sender expects to receive.
    pub nr: u16,
}

/// The header of every L2TP message (RFC 2661 §3.1).
///
/// Optional fields are `Option`s whose presence mirrors the L, S and O bits; the Length
/// value itself is computed when encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// T bit: control (true) or data (false) message.
    pub is_control: bool,
    /// L bit: the Length field is present.
    pub has_length: bool,
    /// P bit: data message to be given preferential treatment.
    pub priority: bool,
    /// Tunnel ID of the receiver (local significance only).
    pub tunnel_id: u16,
    /// Session ID of the receiver (0 for tunnel-wide control messages).
    pub session_id: u16,
    /// S bit with Ns and Nr.
    pub sequence: Option<Sequence>,
    /// O bit with the padding that follows the Offset Size field (its length is the size).
    pub offset_pad: Option<&'a [u8]>,
    /// Reserved bits as received (kept so re-encoding gives the same bytes).
    pub reserved: u16,
}

impl<'a> Header<'a> {
    /// The header of a control message (T, L and S set, no offset; RFC 2661 §3.1).
    #[must_use]
    pub fn control(tunnel_id: u16, session_id: u16, sequence: Sequence) -> Self {
        Self {
            is_control: true,
            has_length: true,
            priority: false,
            tunnel_id,
            session_id,
            sequence: Some(sequence),
            offset_pad: None,
            reserved: 0,
        }
    }

    /// The header of a data message with no optional fields.
    #[must_use]
    pub fn data(tunnel_id: u16, session_id: u16) -> Self {
        Self {
            is_control: false,
            has_length: false,
            priority: false,
            tunnel_id,
            session_id,
            sequence: None,
            offset_pad: None,
            reserved: 0,
        }
    }

    /// Encoded size of this header in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        6 + if self.has_length { 2 } else { 0 }
            + if self.sequence.is_some() { 4 } else { 0 }
            + self.offset_pad.map_or(0, |p| 2 + p.len())
    }

    /// Always false: a header is never empty (present for clippy's `len` convention).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The flags-and-version word.
    #[must_use]
    pub fn flags(&self) -> u16 {
        let mut f = u16::from(VERSION) | (self.reserved & RESERVED_MASK);
        if self.is_control {
            f |= T_BIT;
        }
        if self.has_length {
            f |= L_BIT;
        }
        if self.sequence.is_some() {
            f |= S_BIT;
        }
        if self.offset_pad.is_some() {
            f |= O_BIT;
        }
        if self.priority {
            f |= P_BIT;
        }
        f
    }

    /// Appends the header; `payload_len` is what follows it (used for the Length field).
    pub fn encode(&self, payload_len: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.flags().to_be_bytes());
        if self.has_length {
            let total = u16::try_from(self.len() + payload_len).unwrap_or(u16::MAX);
            out.extend_from_slice(&total.to_be_bytes());
        }
        out.extend_from_slice(&self.tunnel_id.to_be_bytes());
        out.extend_from_slice(&self.session_id.to_be_bytes());
        if let Some(s) = self.sequence {
            out.extend_from_slice(&s.ns.to_be_bytes());
            out.extend_from_slice(&s.nr.to_be_bytes());
        }
        if let Some(pad) = self.offset_pad {
            let size = u16::try_from(pad.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&size.to_be_bytes());
            out.extend_from_slice(&pad[..usize::from(size)]);
        }
    }
}

/// A parsed L2TP message: header plus the bytes after it (AVPs or a PPP frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The header.
    pub header: Header<'a>,
    /// Everything after the header, up to the Length field when present.
    pub payload: &'a [u8],
}

fn take_u16(data: &[u8], at: &mut usize) -> Result<u16, ParseError> {
    let bytes =
        data.get(*at..*at + 2).ok_or(ParseError::Truncated { needed: *at + 2 - data.len().min(*at + 2) })?;
    *at += 2;
    Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
}

impl<'a> Packet<'a> {
    /// Parses the header of any L2TP message (RFC 2661 §3.1).
    ///
    /// With the L bit the message ends at Length (bytes past it, e.g. link padding, are not
    /// part of the message); a Length beyond the datagram is an error.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let mut at = 0;
        let flags = take_u16(data, &mut at)?;
        let version = (flags & VERSION_MASK) as u8;
        if version != VERSION {
            return Err(ParseError::Version(version));
        }
        let is_control = flags & T_BIT != 0;
        let has_length = flags & L_BIT != 0;
        let mut data = data;
        if has_length {
            let length = take_u16(data, &mut at)?;
            if usize::from(length) > data.len() {
                return Err(ParseError::Truncated { needed: usize::from(length) - data.len() });
            }
            data = &data[..usize::from(length)];
        }
        let tunnel_id = take_u16(data, &mut at).map_err(|e| short(has_length, data, e))?;
        let session_id = take_u16(data, &mut at).map_err(|e| short(has_length, data, e))?;
        let sequence = if flags & S_BIT != 0 {
            let ns = take_u16(data, &mut at).map_err(|e| short(has_length, data, e))?;
            let nr = take_u16(data, &mut at).map_err(|e| short(has_length, data, e))?;
            Some(Sequence { ns, nr })
        } else {
            None
        };
        let offset_pad = if flags & O_BIT != 0 {
            let size = usize::from(take_u16(data, &mut at).map_err(|e| short(has_length, data, e))?);
            let pad = data.get(at..at + size).ok_or_else(|| {
                short(has_length, data, ParseError::Truncated { needed: at + size - data.len() })
            })?;
            at += size;
            Some(pad)
        } else {
            None
        };
        let header = Header {
            is_control,
            has_length,
            priority: flags & P_BIT != 0,
            tunnel_id,
            session_id,
            sequence,
            offset_pad,
            reserved: flags & RESERVED_MASK,
        };
        Ok(Packet { header, payload: &data[at..] })
    }

    /// Appends the whole message (header, then payload).
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(self.payload.len(), out);
        out.extend_from_slice(self.payload);
    }
}

/// With L set `data` was cut at Length, so running out means Length is too small;
/// without it the datagram itself is short.
fn short(has_length: bool, data: &[u8], truncated: ParseError) -> ParseError {
    if has_length { ParseError::BadLength(u16::try_from(data.len()).unwrap_or(u16::MAX)) } else { truncated }
}

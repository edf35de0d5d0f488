//! RFC 7296 §3.2: the generic payload header, walking a payload chain and writing one.

use nom::{
    Parser,
    number::complete::{be_u8, be_u16},
};

use super::{EncodeError, HEADER_LEN, Header, ParseError, Payload, PayloadRepr, PayloadType, truncated};

/// RFC 7296 §3.2: every payload starts with a 4-byte generic header.
pub const GENERIC_HEADER_LEN: usize = 4;
/// Most payloads one chain may hold (a real message has a dozen or two; each payload is
/// at least 4 bytes, so this also bounds the work per datagram).
pub const MAX_PAYLOADS: usize = 512;

/// RFC 7296 §3.2: the Critical bit of the generic payload header.
const CRITICAL: u8 = 0x80;

/// One payload of a chain, not yet interpreted: its type, its generic header fields and
/// its body (the bytes after the 4-byte generic header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPayload<'a> {
    /// The payload's type (named by the previous payload's Next Payload field, or the
    /// IKE header's).
    pub payload_type: PayloadType,
    /// This payload's own Next Payload field: the type of the following payload, or for
    /// SK / SKF the type of the first payload inside the ciphertext.
    pub next_payload: PayloadType,
    /// RFC 7296 §2.5 / §3.2: the C bit. If set and the type is unknown, the whole
    /// message must be rejected.
    pub critical: bool,
    /// The 7 RESERVED bits after the C bit (sent as zero, ignored, kept for re-encoding).
    pub reserved: u8,
    /// The payload body.
    pub body: &'a [u8],
}

impl<'a> RawPayload<'a> {
    /// RFC 7296 §2.5: an unknown payload type with the critical bit set.
    #[must_use]
    pub const fn is_unsupported_critical(&self) -> bool {
        self.critical && !self.payload_type.is_known()
    }

    /// Interprets the body according to the payload type.
    ///
    /// # Errors
    /// A body that does not hold a valid payload of its type.
    pub fn parse(&self) -> Result<Payload<'a>, ParseError> {
        Payload::parse(self.payload_type, self.next_payload, self.body)
    }

    /// Interprets the payload, keeping the generic header's flag bits.
    ///
    /// # Errors
    /// As [`RawPayload::parse`].
    pub fn to_repr(&self) -> Result<PayloadRepr<'a>, ParseError> {
        Ok(PayloadRepr { critical: self.critical, reserved: self.reserved, payload: self.parse()? })
    }
}

/// Walks a payload chain, following the Next Payload fields.
///
/// Yields each payload in order; stops with an error at the first inconsistency (a
/// length under 4 or past the end, bytes after the last payload, a payload after an
/// SK / SKF payload, more than [`MAX_PAYLOADS`]) and yields nothing after an error.
#[derive(Debug, Clone)]
pub struct PayloadIter<'a> {
    next: PayloadType,
    rest: &'a [u8],
    count: usize,
    after_encrypted: bool,
    done: bool,
}

impl<'a> PayloadIter<'a> {
    /// A chain whose first payload has type `first` (from the IKE header, or from the
    /// Next Payload field of the SK payload for a decrypted, unpadded inner chain),
    /// filling `data` exactly.
    #[must_use]
    pub const fn new(first: PayloadType, data: &'a [u8]) -> Self {
        Self { next: first, rest: data, count: 0, after_encrypted: false, done: false }
    }

    /// RFC 7296 §2.5: the type of the first payload of the chain with the critical bit
    /// set and an unknown type, if any.
    ///
    /// # Errors
    /// Any error of the chain.
    pub fn unsupported_critical_payload(self) -> Result<Option<PayloadType>, ParseError> {
        for payload in self {
            let payload = payload?;
            if payload.is_unsupported_critical() {
                return Ok(Some(payload.payload_type));
            }
        }
        Ok(None)
    }

    fn step(&mut self) -> Result<Option<RawPayload<'a>>, ParseError> {
        if self.next == PayloadType::None || self.after_encrypted {
            return if self.rest.is_empty() {
                Ok(None)
            } else if self.after_encrypted {
                Err(ParseError::Invalid { what: "payload after an Encrypted payload" })
            } else {
                Err(ParseError::BadLength { what: "payload chain (bytes after the last payload)" })
            };
        }
        if self.count == MAX_PAYLOADS {
            return Err(ParseError::TooMany { what: "payloads" });
        }
        let (_, (next, flags, len)) = (be_u8::<&[u8], ()>, be_u8, be_u16)
            .parse(self.rest)
            .map_err(truncated("generic payload header"))?;
        let len = usize::from(len);
        if len < GENERIC_HEADER_LEN || len > self.rest.len() {
            return Err(ParseError::BadLength { what: "generic payload header" });
        }
        let payload = RawPayload {
            payload_type: self.next,
            next_payload: next.into(),
            critical: flags & CRITICAL != 0,
            reserved: flags & !CRITICAL,
            body: &self.rest[GENERIC_HEADER_LEN..len],
        };
        self.rest = &self.rest[len..];
        self.count += 1;
        self.next = payload.next_payload;
        self.after_encrypted =
            matches!(payload.payload_type, PayloadType::Encrypted | PayloadType::EncryptedFragment);
        Ok(Some(payload))
    }
}

impl<'a> Iterator for PayloadIter<'a> {
    type Item = Result<RawPayload<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step();
        match step {
            Ok(Some(payload)) => Some(Ok(payload)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for PayloadIter<'_> {}

/// Writes a payload chain into a caller's buffer: each payload with its generic header,
/// the Next Payload fields linked as payloads are added, the last one left at None.
///
/// An SK / SKF payload's own Next Payload field is its first inner payload type, and it
/// closes the chain.
#[derive(Debug)]
pub struct ChainBuilder<'o> {
    out: &'o mut Vec<u8>,
    /// Where the Next Payload byte to fill with the next payload's type is, if anywhere.
    link: Option<usize>,
    first: PayloadType,
    closed: bool,
}

impl<'o> ChainBuilder<'o> {
    /// A chain appended to `out` (e.g. the plaintext of an SK payload). Its first
    /// payload's type is returned by [`ChainBuilder::finish`].
    pub const fn new(out: &'o mut Vec<u8>) -> Self {
        Self { out, link: None, first: PayloadType::None, closed: false }
    }

    /// A chain whose first payload type is written to `out[link]` (e.g. the IKE header's
    /// Next Payload byte).
    const fn linked(out: &'o mut Vec<u8>, link: usize) -> Self {
        Self { out, link: Some(link), first: PayloadType::None, closed: false }
    }

    /// Appends a payload without the critical bit.
    ///
    /// # Errors
    /// As [`ChainBuilder::push_repr`].
    pub fn push(&mut self, payload: &Payload<'_>) -> Result<(), EncodeError> {
        self.push_payload(payload, false, 0)
    }

    /// Appends a payload with the given generic-header flags.
    ///
    /// # Errors
    /// [`EncodeError::AfterEncrypted`] once an SK / SKF payload was written; a body that
    /// does not fit (then nothing is appended).
    pub fn push_repr(&mut self, repr: &PayloadRepr<'_>) -> Result<(), EncodeError> {
        self.push_payload(&repr.payload, repr.critical, repr.reserved)
    }

    fn push_payload(
        &mut self,
        payload: &Payload<'_>,
        critical: bool,
        reserved: u8,
    ) -> Result<(), EncodeError> {
        let own_next = match payload {
            Payload::Encrypted(sk) => sk.first_inner,
            Payload::EncryptedFragment(skf) => skf.first_inner,
            _ => PayloadType::None,
        };
        self.append(payload.payload_type(), own_next, critical, reserved, |out| payload.encode_body(out))
    }

    /// Appends a payload from its type and raw body (for payloads kept raw, or bodies
    /// built elsewhere). `next_payload` is only written for SK / SKF (their first inner
    /// type); other payloads are linked by the builder.
    ///
    /// # Errors
    /// As [`ChainBuilder::push_repr`].
    pub fn push_raw(&mut self, raw: &RawPayload<'_>) -> Result<(), EncodeError> {
        let own_next = match raw.payload_type {
            PayloadType::Encrypted | PayloadType::EncryptedFragment => raw.next_payload,
            _ => PayloadType::None,
        };
        self.append(raw.payload_type, own_next, raw.critical, raw.reserved, |out| {
            out.extend_from_slice(raw.body);
            Ok(())
        })
    }

    fn append(
        &mut self,
        payload_type: PayloadType,
        own_next: PayloadType,
        critical: bool,
        reserved: u8,
        body: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        if self.closed {
            return Err(EncodeError::AfterEncrypted);
        }
        if payload_type == PayloadType::None {
            return Err(EncodeError::Invalid { what: "payload type 0" });
        }
        let start = self.out.len();
        self.out.push(own_next.into());
        self.out.push((reserved & !CRITICAL) | if critical { CRITICAL } else { 0 });
        self.out.extend_from_slice(&[0, 0]);
        let written =
            body(self.out).and_then(|()| super::patch_len_u16(self.out, start, start + 2, "payload"));
        if let Err(e) = written {
            self.out.truncate(start);
            return Err(e);
        }
        if let Some(at) = self.link {
            self.out[at] = payload_type.into();
        }
        if self.first == PayloadType::None {
            self.first = payload_type;
        }
        if matches!(payload_type, PayloadType::Encrypted | PayloadType::EncryptedFragment) {
            self.closed = true;
            self.link = None;
        } else {
            self.link = Some(start);
        }
        Ok(())
    }

    /// Ends the chain; returns the first payload's type (None for an empty chain).
    #[must_use]
    pub fn finish(self) -> PayloadType {
        self.first
    }
}

/// Writes a whole message: the IKE header, then a payload chain; [`MessageBuilder::finish`]
/// fills in the header's Length. The header's Next Payload is set from the first payload.
///
/// For an encrypted message, write the SK payload with a zero ICV, finish, compute the
/// ICV over everything before it and copy it into the last bytes of the message.
#[derive(Debug)]
pub struct MessageBuilder<'o> {
    chain: ChainBuilder<'o>,
    start: usize,
}

impl<'o> MessageBuilder<'o> {
    /// Appends `header` to `out` (its Next Payload and Length are overwritten).
    pub fn new(out: &'o mut Vec<u8>, header: &Header) -> Self {
        let start = out.len();
        let header = Header { next_payload: PayloadType::None, length: 0, ..*header };
        header.encode(out);
        Self { chain: ChainBuilder::linked(out, start + 16), start }
    }

    /// Appends a payload without the critical bit.
    ///
    /// # Errors
    /// As [`ChainBuilder::push`].
    pub fn push(&mut self, payload: &Payload<'_>) -> Result<(), EncodeError> {
        self.chain.push(payload)
    }

    /// Appends a payload with the given generic-header flags.
    ///
    /// # Errors
    /// As [`ChainBuilder::push_repr`].
    pub fn push_repr(&mut self, repr: &PayloadRepr<'_>) -> Result<(), EncodeError> {
        self.chain.push_repr(repr)
    }

    /// Appends a raw payload.
    ///
    /// # Errors
    /// As [`ChainBuilder::push_raw`].
    pub fn push_raw(&mut self, raw: &RawPayload<'_>) -> Result<(), EncodeError> {
        self.chain.push_raw(raw)
    }

    /// Writes the header's Length field; returns the message length.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for a message over 2^32 - 1 bytes.
    pub fn finish(self) -> Result<usize, EncodeError> {
        let out = self.chain.out;
        let len = out.len() - self.start;
        let field = u32::try_from(len).map_err(|_| EncodeError::TooLong { what: "message" })?;
        out[self.start + HEADER_LEN - 4..self.start + HEADER_LEN].copy_from_slice(&field.to_be_bytes());
        Ok(len)
    }
}

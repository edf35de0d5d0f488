//! Security associations: parameters, and the in-place outbound and inbound packet paths.

use core::fmt;
use core::ops::Range;

use zeroize::Zeroizing;

use crate::Error;
use crate::error::{BufferSide, Limit, ParseError};
use crate::replay::ReplayWindow;
use crate::transform::{HEADER_LEN, Provider, Transform};

/// Encryption algorithm of an SA, with its IKEv2 transform ID (RFC 7296 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encryption {
    /// RFC 2410 NULL encryption (integrity still required).
    Null,
    /// RFC 3602 AES-CBC with a 128, 192 or 256-bit key.
    AesCbc,
    /// RFC 2451 3DES-CBC (legacy; offer it only to old peers).
    TripleDesCbc,
    /// RFC 4106 AES-GCM with a 16-byte ICV and a 128, 192 or 256-bit key plus 4-byte salt.
    AesGcm16,
}

impl Encryption {
    /// The IKEv2 transform ID (ENCR_*) of this algorithm, also its IKEv1 ESP transform ID.
    #[must_use]
    pub fn transform_id(self) -> u16 {
        match self {
            Self::TripleDesCbc => 3,
            Self::Null => 11,
            Self::AesCbc => 12,
            Self::AesGcm16 => 20,
        }
    }

    /// The algorithm with this IKEv2 transform ID, if supported.
    #[must_use]
    pub fn from_transform_id(id: u16) -> Option<Self> {
        Some(match id {
            3 => Self::TripleDesCbc,
            11 => Self::Null,
            12 => Self::AesCbc,
            20 => Self::AesGcm16,
            _ => return None,
        })
    }

    /// True for combined-mode (AEAD) algorithms, which take no separate integrity.
    #[must_use]
    pub fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm16)
    }
}

/// Integrity algorithm of an SA, with its IKEv2 transform ID (RFC 7296 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Integrity {
    /// No separate integrity: only with an AEAD cipher (or the test-only null transform).
    None,
    /// RFC 2404 HMAC-SHA1-96.
    HmacSha1_96,
    /// RFC 4868 HMAC-SHA2-256-128.
    HmacSha256_128,
    /// HMAC-SHA2-256 truncated to 96 bits, as the draft before RFC 4868 specified and old
    /// Android and Linux peers still use. Opt in per SA, only for such peers.
    HmacSha256_96,
    /// RFC 4868 HMAC-SHA2-384-192.
    HmacSha384_192,
    /// RFC 4868 HMAC-SHA2-512-256.
    HmacSha512_256,
}

impl Integrity {
    /// The IKEv2 transform ID (AUTH_*), if the algorithm has one.
    #[must_use]
    pub fn transform_id(self) -> Option<u16> {
        Some(match self {
            Self::None => 0,
            Self::HmacSha1_96 => 2,
            Self::HmacSha256_128 => 12,
            Self::HmacSha384_192 => 13,
            Self::HmacSha512_256 => 14,
            Self::HmacSha256_96 => return None,
        })
    }

    /// The algorithm with this IKEv2 transform ID, if supported.
    #[must_use]
    pub fn from_transform_id(id: u16) -> Option<Self> {
        Some(match id {
            0 => Self::None,
            2 => Self::HmacSha1_96,
            12 => Self::HmacSha256_128,
            13 => Self::HmacSha384_192,
            14 => Self::HmacSha512_256,
            _ => return None,
        })
    }

    /// Key length in bytes (RFC 2404 §3, RFC 4868 §2.1).
    #[must_use]
    pub fn key_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacSha1_96 => 20,
            Self::HmacSha256_128 | Self::HmacSha256_96 => 32,
            Self::HmacSha384_192 => 48,
            Self::HmacSha512_256 => 64,
        }
    }

    /// Length of the truncated ICV in bytes.
    #[must_use]
    pub fn icv_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacSha1_96 | Self::HmacSha256_96 => 12,
            Self::HmacSha256_128 => 16,
            Self::HmacSha384_192 => 24,
            Self::HmacSha512_256 => 32,
        }
    }
}

/// How the protected payload relates to the packet (RFC 4301 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The payload is an upper-layer segment (e.g. UDP/1701 for L2TP); Next Header names it.
    Transport,
    /// The payload is a whole inner IPv4 (Next Header 4) or IPv6 (41) packet.
    Tunnel,
}

/// Packet and byte limits of an SA; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Number of packets.
    pub packets: Option<u64>,
    /// Number of payload bytes.
    pub bytes: Option<u64>,
}

/// RFC 4301 §4.4.2.1 lifetimes counted by the data plane. Time-based lifetimes belong to
/// the key exchange, which knows the clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// Crossing this raises [`SaEvent::SoftExpired`]: time to rekey.
    pub soft: Limits,
    /// Crossing this raises [`SaEvent::HardExpired`] and the SA refuses further packets.
    pub hard: Limits,
}

/// Something the owner of an SA must act on, drained with `poll_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaEvent {
    /// A soft limit was crossed: negotiate a replacement SA now.
    SoftExpired(Limit),
    /// A hard limit was crossed: the SA refuses packets from now on.
    HardExpired(Limit),
}

/// Everything needed to build one direction of an ESP SA.
///
/// Keys are held in [`Zeroizing`] buffers and never printed by `Debug`.
#[derive(Clone)]
pub struct SaParams {
    /// The SPI, chosen by the receiver of the SA (RFC 4303 §2.1).
    pub spi: u32,
    /// Transport or tunnel mode.
    pub mode: Mode,
    /// Encryption algorithm.
    pub encryption: Encryption,
    /// Integrity algorithm ([`Integrity::None`] with AES-GCM).
    pub integrity: Integrity,
    /// Encryption key; for AES-GCM the key followed by the 4-byte salt (RFC 4106 §8.1).
    pub encryption_key: Zeroizing<Vec<u8>>,
    /// Integrity key (empty with AES-GCM).
    pub integrity_key: Zeroizing<Vec<u8>>,
    /// Extended (64-bit) sequence numbers (RFC 4303 §2.2.1).
    pub esn: bool,
    /// Anti-replay window size in packets (32 ..= 65536), or 0 to disable the check
    /// (RFC 4303 §3.4.3 lets a receiver do so; never with ESN).
    pub replay_window: u32,
    /// Packet and byte lifetimes.
    pub lifetime: Lifetime,
    /// Allow NULL encryption without integrity. Tests and fuzzing only.
    pub allow_insecure_null: bool,
}

impl fmt::Debug for SaParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaParams")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("mode", &self.mode)
            .field("encryption", &self.encryption)
            .field("integrity", &self.integrity)
            .field("esn", &self.esn)
            .field("replay_window", &self.replay_window)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl SaParams {
    /// Parameters with the usual defaults: no ESN, a 1024-packet replay window, no limits.
    pub fn new(
        spi: u32,
        mode: Mode,
        encryption: Encryption,
        integrity: Integrity,
        encryption_key: &[u8],
        integrity_key: &[u8],
    ) -> Self {
        Self {
            spi,
            mode,
            encryption,
            integrity,
            encryption_key: Zeroizing::new(encryption_key.to_vec()),
            integrity_key: Zeroizing::new(integrity_key.to_vec()),
            esn: false,
            replay_window: 1024,
            lifetime: Lifetime::default(),
            allow_insecure_null: false,
        }
    }

    /// NULL encryption and no integrity, for tests and fuzzing.
    #[must_use]
    pub fn insecure_null(spi: u32, mode: Mode) -> Self {
        let mut p = Self::new(spi, mode, Encryption::Null, Integrity::None, &[], &[]);
        p.allow_insecure_null = true;
        p
    }

    fn transform(&self, provider: &Provider) -> Result<Box<dyn Transform>, Error> {
        if self.spi < 256 {
            return Err(Error::Config("SPIs 0 to 255 are reserved"));
        }
        provider.build(
            self.encryption,
            self.integrity,
            &self.encryption_key,
            &self.integrity_key,
            self.allow_insecure_null,
        )
    }
}

/// Counts packets and bytes against a [`Lifetime`] and latches its events.
#[derive(Debug, Clone)]
struct Usage {
    lifetime: Lifetime,
    packets: u64,
    bytes: u64,
    soft: Option<Limit>,
    soft_reported: bool,
    hard: Option<Limit>,
    hard_reported: bool,
}

impl Usage {
    fn new(lifetime: Lifetime) -> Self {
        Self {
            lifetime,
            packets: 0,
            bytes: 0,
            soft: None,
            soft_reported: false,
            hard: None,
            hard_reported: false,
        }
    }

    fn crossed(l: Limits, packets: u64, bytes: u64) -> Option<Limit> {
        if l.packets.is_some_and(|p| packets >= p) {
            Some(Limit::Packets)
        } else if l.bytes.is_some_and(|b| bytes >= b) {
            Some(Limit::Bytes)
        } else {
            None
        }
    }

    fn record(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes = self.bytes.saturating_add(bytes as u64);
        if self.soft.is_none() {
            self.soft = Self::crossed(self.lifetime.soft, self.packets, self.bytes);
        }
        if self.hard.is_none() {
            self.hard = Self::crossed(self.lifetime.hard, self.packets, self.bytes);
        }
    }

    fn poll_event(&mut self) -> Option<SaEvent> {
        if let (Some(l), false) = (self.soft, self.soft_reported) {
            self.soft_reported = true;
            return Some(SaEvent::SoftExpired(l));
        }
        if let (Some(l), false) = (self.hard, self.hard_reported) {
            self.hard_reported = true;
            return Some(SaEvent::HardExpired(l));
        }
        None
    }
}

/// The sending side of an SA: assigns sequence numbers, pads, encrypts, authenticates.
pub struct OutboundSa {
    spi: u32,
    mode: Mode,
    esn: bool,
    /// Last sequence number sent (0: none yet).
    seq: u64,
    transform: Box<dyn Transform>,
    usage: Usage,
}

impl fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("mode", &self.mode)
            .field("seq", &self.seq)
            .field("transform", &self.transform)
            .finish_non_exhaustive()
    }
}

/// When the sequence space is this close to its end, the SA asks to be rekeyed.
const SEQ_SOFT_MARGIN: u64 = 1 << 20;

impl OutboundSa {
    /// Builds the outbound SA with the default [`Provider`].
    pub fn new(params: &SaParams) -> Result<Self, Error> {
        Self::with_provider(params, &Provider::default())
    }

    /// Builds the outbound SA with the transforms of `provider`.
    pub fn with_provider(params: &SaParams, provider: &Provider) -> Result<Self, Error> {
        Ok(Self {
            spi: params.spi,
            mode: params.mode,
            esn: params.esn,
            seq: 0,
            transform: params.transform(provider)?,
            usage: Usage::new(params.lifetime),
        })
    }

    /// The SPI written into each packet.
    #[must_use]
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Transport or tunnel mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The sequence number of the last packet sent (0 before the first).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Packets and payload bytes protected so far.
    #[must_use]
    pub fn usage(&self) -> (u64, u64) {
        (self.usage.packets, self.usage.bytes)
    }

    /// Bytes the caller must leave free before the payload: ESP header and IV.
    #[must_use]
    pub fn headroom(&self) -> usize {
        HEADER_LEN + self.transform.iv_len()
    }

    /// Bytes the caller must leave free after the payload: the most padding, the trailer
    /// and the ICV.
    #[must_use]
    pub fn tailroom(&self) -> usize {
        self.transform.block_len() - 1 + 2 + self.transform.icv_len()
    }

    /// The ESP packet length for a payload of `payload_len` bytes.
    #[must_use]
    pub fn packet_len(&self, payload_len: usize) -> usize {
        let block = self.transform.block_len();
        self.headroom() + (payload_len + 2).next_multiple_of(block) + self.transform.icv_len()
    }

    fn seq_limit(&self) -> u64 {
        if self.esn { u64::MAX } else { u64::from(u32::MAX) }
    }

    /// Protects the payload at `buf[payload]` in place and returns the ESP packet, which
    /// starts [`headroom`](Self::headroom) bytes before the payload (at the SPI) and ends
    /// after the ICV. `next_header` is the IP protocol number of the payload (4 or 41 in
    /// tunnel mode, e.g. 17 for UDP in transport mode).
    ///
    /// Fails without changing the SA when the buffer lacks room or the SA has expired; the
    /// sequence number never wraps (RFC 4303 §3.3.3).
    pub fn encapsulate<'b>(
        &mut self,
        buf: &'b mut [u8],
        payload: Range<usize>,
        next_header: u8,
    ) -> Result<&'b mut [u8], Error> {
        if let Some(l) = self.usage.hard {
            return Err(Error::Expired(l));
        }
        if self.seq >= self.seq_limit() {
            return Err(Error::Expired(Limit::SequenceNumbers));
        }
        let head = self.headroom();
        let Some(start) = payload.start.checked_sub(head) else {
            return Err(Error::Buffer { what: BufferSide::Headroom, needed: head - payload.start });
        };
        let payload_len = payload.len();
        let block = self.transform.block_len();
        let body_len = (payload_len + 2).next_multiple_of(block);
        let icv_len = self.transform.icv_len();
        let end = payload.start + body_len + icv_len;
        if end > buf.len() || payload.end > buf.len() {
            return Err(Error::Buffer { what: BufferSide::Tailroom, needed: end.saturating_sub(buf.len()) });
        }

        let seq = self.seq + 1;
        let pkt = &mut buf[start..end];
        pkt[..4].copy_from_slice(&self.spi.to_be_bytes());
        pkt[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        // RFC 4303 §2.4: padding bytes 1, 2, 3, …, then Pad Length and Next Header.
        let trailer = head + payload_len;
        let pad_len = body_len - payload_len - 2;
        for (i, b) in pkt[trailer..trailer + pad_len].iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        pkt[trailer + pad_len] = pad_len as u8;
        pkt[trailer + pad_len + 1] = next_header;

        let seq_high = self.esn.then_some((seq >> 32) as u32);
        let (body, icv) = pkt.split_at_mut(head + body_len);
        self.transform.seal(seq, seq_high, body, icv);

        self.seq = seq;
        self.usage.record(payload_len);
        if self.usage.soft.is_none() && self.seq_limit() - seq <= SEQ_SOFT_MARGIN {
            self.usage.soft = Some(Limit::SequenceNumbers);
        }
        if self.usage.hard.is_none() && seq == self.seq_limit() {
            self.usage.hard = Some(Limit::SequenceNumbers);
        }
        Ok(pkt)
    }

    /// The next lifetime event, if any. Call after each batch of packets.
    pub fn poll_event(&mut self) -> Option<SaEvent> {
        self.usage.poll_event()
    }

    pub(crate) fn set_last_seq(&mut self, seq: u64) {
        self.seq = seq;
    }
}

/// A packet that was authenticated and decrypted in place.
#[derive(Debug)]
pub struct Decapsulated<'b> {
    /// The payload: in tunnel mode the inner IP packet without any TFC padding; in
    /// transport mode the upper-layer segment (TFC padding removed for UDP).
    pub payload: &'b mut [u8],
    /// The Next Header field: 4, 41, or an upper-layer protocol; 59 marks a dummy packet
    /// (RFC 4303 §2.6) that the receiver should discard silently.
    pub next_header: u8,
    /// The full (extended) sequence number of the packet.
    pub seq: u64,
}

/// IP protocol number of IPv4-in-IP (tunnel mode, RFC 4303 §2.6).
pub const NEXT_HEADER_IPV4: u8 = 4;
/// IP protocol number of IPv6-in-IP.
pub const NEXT_HEADER_IPV6: u8 = 41;
/// "No next header": a dummy packet for traffic flow confidentiality (RFC 4303 §2.6).
pub const NEXT_HEADER_NONE: u8 = 59;
/// IP protocol number of UDP.
pub const NEXT_HEADER_UDP: u8 = 17;

/// The receiving side of an SA: replay check, ICV check, decryption, padding check.
pub struct InboundSa {
    spi: u32,
    mode: Mode,
    esn: bool,
    replay: Option<ReplayWindow>,
    transform: Box<dyn Transform>,
    usage: Usage,
}

impl fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("mode", &self.mode)
            .field("replay", &self.replay)
            .field("transform", &self.transform)
            .finish_non_exhaustive()
    }
}

impl InboundSa {
    /// Builds the inbound SA with the default [`Provider`].
    pub fn new(params: &SaParams) -> Result<Self, Error> {
        Self::with_provider(params, &Provider::default())
    }

    /// Builds the inbound SA with the transforms of `provider`.
    pub fn with_provider(params: &SaParams, provider: &Provider) -> Result<Self, Error> {
        let replay = match (params.replay_window, params.esn) {
            (0, true) => return Err(Error::Config("ESN needs an anti-replay window")),
            (0, false) => None,
            (w, esn) => Some(ReplayWindow::new(w, esn)?),
        };
        Ok(Self {
            spi: params.spi,
            mode: params.mode,
            esn: params.esn,
            replay,
            transform: params.transform(provider)?,
            usage: Usage::new(params.lifetime),
        })
    }

    /// The SPI this SA receives on.
    #[must_use]
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Transport or tunnel mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub(crate) fn mark_received(&mut self, seq: u64) {
        if let Some(w) = &mut self.replay {
            w.accept(crate::replay::Candidate { seq });
        }
    }

    pub(crate) fn iv_len(&self) -> usize {
        self.transform.iv_len()
    }

    /// The highest sequence number accepted so far (0 before the first, or without a window).
    #[must_use]
    pub fn highest_seq(&self) -> u64 {
        self.replay.as_ref().map_or(0, ReplayWindow::top)
    }

    /// Packets and payload bytes accepted so far.
    #[must_use]
    pub fn usage(&self) -> (u64, u64) {
        (self.usage.packets, self.usage.bytes)
    }

    /// Checks and decrypts the ESP packet in `packet` (from the SPI to the end of the ICV)
    /// in place, and returns the payload inside it.
    ///
    /// RFC 4303 §3.4: the replay check runs before the ICV is computed, and the window is
    /// updated only after the ICV verified and the padding and inner packet were found
    /// well formed. Any error leaves the SA unchanged (the buffer's contents are then
    /// unspecified).
    pub fn decapsulate<'b>(&mut self, packet: &'b mut [u8]) -> Result<Decapsulated<'b>, Error> {
        if let Some(l) = self.usage.hard {
            return Err(Error::Expired(l));
        }
        let head = HEADER_LEN + self.transform.iv_len();
        let icv_len = self.transform.icv_len();
        let block = self.transform.block_len();
        if packet.len() < head + block.max(2) + icv_len {
            return Err(ParseError::Truncated.into());
        }
        let spi = u32::from_be_bytes(packet[..4].try_into().expect("length checked"));
        if spi != self.spi {
            return Err(Error::UnknownSpi(spi));
        }
        let body_len = packet.len() - head - icv_len;
        if !body_len.is_multiple_of(block) {
            return Err(ParseError::Misaligned.into());
        }
        let seq_low = u32::from_be_bytes(packet[4..8].try_into().expect("length checked"));
        let candidate = match &self.replay {
            Some(w) => Some(w.check(seq_low).map_err(Error::Replay)?),
            None => None,
        };
        let seq = candidate.map_or(u64::from(seq_low), |c| c.seq);
        let seq_high = self.esn.then_some((seq >> 32) as u32);

        let (authed, icv) = packet.split_at_mut(head + body_len);
        self.transform.open(seq_high, authed, icv)?;

        let body = &mut authed[head..];
        let next_header = body[body_len - 1];
        let pad_len = usize::from(body[body_len - 2]);
        let Some(payload_len) = body_len.checked_sub(2 + pad_len) else {
            return Err(ParseError::PadLength.into());
        };
        // RFC 4303 §2.4: the receiver checks the default padding pattern.
        if body[payload_len..payload_len + pad_len].iter().enumerate().any(|(i, &b)| b != (i + 1) as u8) {
            return Err(ParseError::PadBytes.into());
        }
        let payload = &mut body[..payload_len];
        let payload_len = self.inner_len(payload, next_header)?;

        if let (Some(w), Some(c)) = (&mut self.replay, candidate) {
            w.accept(c);
        }
        self.usage.record(payload_len);
        Ok(Decapsulated { payload: &mut payload[..payload_len], next_header, seq })
    }

    /// The length of the payload without TFC padding (RFC 4303 §2.7), checking that the
    /// payload is what the mode allows.
    fn inner_len(&self, payload: &[u8], next_header: u8) -> Result<usize, Error> {
        let bad = Err(Error::Malformed(ParseError::InnerPacket));
        if next_header == NEXT_HEADER_NONE {
            return Ok(0);
        }
        let len = match (self.mode, next_header) {
            (Mode::Tunnel, NEXT_HEADER_IPV4) if payload.len() >= 20 && payload[0] >> 4 == 4 => {
                usize::from(u16::from_be_bytes([payload[2], payload[3]]))
            }
            (Mode::Tunnel, NEXT_HEADER_IPV6) if payload.len() >= 40 && payload[0] >> 4 == 6 => {
                40 + usize::from(u16::from_be_bytes([payload[4], payload[5]]))
            }
            (Mode::Tunnel, _) => return bad,
            (Mode::Transport, NEXT_HEADER_UDP) if payload.len() >= 8 => {
                usize::from(u16::from_be_bytes([payload[4], payload[5]]))
            }
            (Mode::Transport, NEXT_HEADER_UDP) => return bad,
            (Mode::Transport, _) => payload.len(),
        };
        let min = match (self.mode, next_header) {
            (Mode::Tunnel, NEXT_HEADER_IPV4) => 20,
            (Mode::Tunnel, _) => 40,
            (Mode::Transport, NEXT_HEADER_UDP) => 8,
            (Mode::Transport, _) => 0,
        };
        if len > payload.len() || len < min {
            return bad;
        }
        Ok(len)
    }

    /// The next lifetime event, if any.
    pub fn poll_event(&mut self) -> Option<SaEvent> {
        self.usage.poll_event()
    }
}

/// Reads the SPI of an ESP packet (for looking up its SA) without checking anything else.
pub fn peek_spi(packet: &[u8]) -> Result<u32, ParseError> {
    let spi = u32::from_be_bytes(packet.get(..4).ok_or(ParseError::Truncated)?.try_into().expect("4 bytes"));
    if spi < 256 {
        return Err(ParseError::ReservedSpi(spi));
    }
    Ok(spi)
}

//! Errors of the ESP data plane.

use core::fmt;

/// Why a byte string is not a well-formed ESP (or UDP-encapsulated) packet.
///
/// Small and `Copy` so that the receive path can return it without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Shorter than the fixed ESP header plus IV and ICV of the SA.
    Truncated,
    /// The ciphertext is not a whole number of cipher blocks (or of 4 bytes).
    Misaligned,
    /// RFC 4303 §2.1: SPI values 1 to 255 are reserved and 0 is never on the wire.
    ReservedSpi(u32),
    /// The Pad Length field points before the start of the payload.
    PadLength,
    /// RFC 4303 §2.4: padding bytes must be 1, 2, 3, …; these were not.
    PadBytes,
    /// The decrypted inner packet does not match the SA's mode or is inconsistent.
    InnerPacket,
    /// An IP header that the transport-mode helpers cannot handle.
    IpHeader,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("packet too short"),
            Self::Misaligned => f.write_str("ciphertext not aligned to the cipher block"),
            Self::ReservedSpi(spi) => write!(f, "reserved SPI {spi}"),
            Self::PadLength => f.write_str("pad length exceeds the payload"),
            Self::PadBytes => f.write_str("padding bytes are not 1, 2, 3, ..."),
            Self::InnerPacket => f.write_str("inner packet malformed or not allowed by the SA"),
            Self::IpHeader => f.write_str("unsupported or malformed IP header"),
        }
    }
}

impl core::error::Error for ParseError {}

/// An error of the ESP data plane.
///
/// Every variant that comes from a received packet leaves the SA exactly as it was: the
/// replay window, counters and lifetimes move only for packets that were authenticated and
/// well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- the peer (or an attacker) sent something bad: drop the packet ---
    /// The packet is malformed.
    #[error("malformed ESP packet: {0}")]
    Malformed(#[from] ParseError),
    /// No inbound SA has this SPI.
    #[error("no SA for SPI {0:#010x}")]
    UnknownSpi(u32),
    /// RFC 4303 §3.4.3: the sequence number was already received or is left of the window.
    #[error("replayed or too old sequence number {0}")]
    Replay(u64),
    /// The integrity check value (or AEAD tag) did not verify.
    #[error("integrity check failed")]
    IcvMismatch,

    // --- local conditions ---
    /// The SA reached a hard lifetime (packets, bytes) or ran out of sequence numbers;
    /// it must be replaced by a rekeyed SA.
    #[error("SA expired: {0:?}")]
    Expired(Limit),
    /// The caller's buffer lacks headroom or tailroom for the operation.
    #[error("buffer too small: need {needed} more bytes of {what:?}")]
    Buffer {
        /// Which side of the payload is short.
        what: BufferSide,
        /// How many bytes were missing.
        needed: usize,
    },
    /// The SA parameters are invalid (key length, window size, transform combination).
    #[error("invalid SA configuration: {0}")]
    Config(&'static str),
    /// An SA with this SPI is already in the table.
    #[error("SPI {0:#010x} already in use")]
    DuplicateSpi(u32),
}

/// Which side of a payload in a caller's buffer lacked room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferSide {
    /// Bytes before the payload (ESP header and IV, or a moved IP header).
    Headroom,
    /// Bytes after the payload (padding, trailer and ICV).
    Tailroom,
}

/// Which lifetime limit an SA crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// The number of packets protected or accepted.
    Packets,
    /// The number of payload bytes protected or accepted.
    Bytes,
    /// The sequence number space (2^32 − 1 without ESN, 2^64 − 1 with it).
    SequenceNumbers,
}

impl Error {
    /// True when the error was caused by the received packet (drop it, maybe log or count
    /// it), false when it is a local condition the owner must act on.
    #[must_use]
    pub fn is_peer_error(&self) -> bool {
        matches!(self, Self::Malformed(_) | Self::UnknownSpi(_) | Self::Replay(_) | Self::IcvMismatch)
    }
}

//! Error types: a small `Copy` [`ParseError`] for the wire layer, [`EncodeError`] for
//! building packets and the client's [`Error`].

use core::fmt;

/// Why a datagram could not be parsed as a RADIUS packet (RFC 2865 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer than the 20 octets of the fixed header.
    TooShort,
    /// The Length field is below 20, above 4096 or past the end of the datagram.
    BadLength,
    /// An attribute's Length is below 2 or runs past the packet's Length.
    BadAttributeLength,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooShort => "datagram shorter than the RADIUS header",
            Self::BadLength => "RADIUS Length field out of range",
            Self::BadAttributeLength => "attribute length out of range",
        })
    }
}

impl core::error::Error for ParseError {}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// One attribute value is longer than 253 octets (RFC 2865 §5).
    #[error("attribute value longer than 253 octets")]
    ValueTooLong,
    /// The packet would exceed 4096 octets (RFC 2865 §3).
    #[error("packet longer than 4096 octets")]
    PacketTooLong,
    /// A User-Password is empty or longer than 128 octets (RFC 2865 §5.2).
    #[error("User-Password must be 1..=128 octets")]
    BadPasswordLength,
    /// A key or tunnel password longer than the salted encryption can carry (RFC 2548 §2.4.2).
    #[error("salted value too long")]
    SaltedValueTooLong,
}

/// Errors of the RADIUS client.
///
/// The variants tell apart what the peer did wrong (the datagram was dropped and nothing
/// changed), local configuration or use errors, and resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Peer misbehaved: the datagram is not a well-formed RADIUS packet. Dropped.
    #[error("malformed RADIUS packet: {0}")]
    Malformed(#[from] ParseError),
    /// Peer misbehaved: no outstanding request matches this identifier, socket and
    /// source address (RFC 2865 §3). Dropped.
    #[error("no outstanding request for this identifier")]
    UnknownIdentifier,
    /// Peer misbehaved: the response code does not answer the request (e.g. an
    /// Accounting-Response to an Access-Request). Dropped.
    #[error("response code does not match the request")]
    UnexpectedCode,
    /// Peer misbehaved (or a wrong secret): the Response Authenticator does not verify
    /// (RFC 2865 §3). Dropped.
    #[error("bad Response Authenticator")]
    BadAuthenticator,
    /// Peer misbehaved (or a wrong secret): the Message-Authenticator does not verify
    /// (RFC 3579 §3.2). Dropped.
    #[error("bad Message-Authenticator")]
    BadMessageAuthenticator,
    /// The response has no Message-Authenticator and the server is required to send one
    /// (Blast-RADIUS, CVE-2024-3596). Dropped.
    #[error("response without Message-Authenticator (required: Blast-RADIUS protection)")]
    MissingMessageAuthenticator,
    /// Local configuration: no server of the needed kind (authentication or accounting).
    #[error("no server configured for this kind of request")]
    NoServer,
    /// Local configuration: a value could not be encoded.
    #[error("request cannot be encoded: {0}")]
    Encode(#[from] EncodeError),
    /// Resource limit: every identifier on every source port is in use and the queue is full.
    #[error("request queue full")]
    QueueFull,
}

//! Wire formats: zero-copy views of received messages and encoders that append to a
//! caller's buffer.
//!
//! - [`v1`]: ISAKMP (RFC 2408) with the IKEv1 IPsec DOI (RFC 2407), RFC 2409 and NAT-T
//!   (RFC 3947 and the draft numbering).
//! - [`v2`]: IKEv2 (RFC 7296) with Encrypted Fragments (RFC 7383).

pub mod v1;
pub mod v2;

/// Why bytes could not be parsed. Small and `Copy`: the wire layer says *what* is wrong
/// and *where*, nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer bytes than a fixed header needs.
    #[error("truncated {what}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
    },
    /// A length field disagrees with the bytes available or with the structure's minimum.
    #[error("bad length in {what}")]
    BadLength {
        /// The structure being read.
        what: &'static str,
    },
    /// A version this codec does not speak (ISAKMP major version other than 1).
    #[error("unsupported version {0:#04x}")]
    Version(u8),
    /// A field holds a value the structure cannot carry (e.g. a proposal chain with a
    /// payload type other than Proposal).
    #[error("invalid {what}")]
    Invalid {
        /// The field or structure.
        what: &'static str,
    },
    /// Too many nested items (bounded to keep allocation bounded).
    #[error("too many {what}")]
    TooMany {
        /// The items being counted.
        what: &'static str,
    },
}

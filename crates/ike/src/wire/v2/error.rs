//! Encoding errors of the IKEv2 wire layer; parsing shares [`super::ParseError`] with IKEv1.

/// Why a value could not be encoded: one of its fields does not fit the wire format.
///
/// Encoders check before they write; on error the output buffer may hold a partial
/// structure, which the chain builders remove again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A length or count does not fit its field (e.g. a payload over 65535 bytes, an SPI
    /// over 255 bytes, more than 255 transforms in a proposal).
    #[error("{what} too long for its length field")]
    TooLong {
        /// The structure being written.
        what: &'static str,
    },
    /// RFC 7296 §3.14: nothing may follow an Encrypted (SK / SKF) payload in a chain.
    #[error("payload after an Encrypted payload")]
    AfterEncrypted,
    /// A value the structure cannot carry (e.g. a fragment number of 0).
    #[error("invalid {what}")]
    Invalid {
        /// The field or structure.
        what: &'static str,
    },
}

//! The protocol error type.

use crate::cert::CertError;
use crate::crypto::CryptoError;
use crate::v1::crypt::CryptError;
use crate::wire::ParseError;

/// What went wrong in an exchange. [`Error::kind`] sorts errors into the categories the
/// owner acts on (drop and maybe notify, fix the configuration, report an
/// authentication failure, give up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datagram is not a well-formed ISAKMP message.
    #[error("malformed message: {0}")]
    Malformed(#[from] ParseError),
    /// A well-formed message that does not fit the exchange (wrong cookie, exchange type,
    /// state, or missing payload).
    #[error("unexpected message: {0}")]
    UnexpectedMessage(&'static str),
    /// The peer offered (or chose) nothing we accept (RFC 2408 NO-PROPOSAL-CHOSEN).
    #[error("no acceptable proposal")]
    NoProposalChosen,
    /// The peer's HASH did not verify (wrong pre-shared key or tampering).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The peer's key exchange value was refused.
    #[error("key exchange: {0}")]
    KeyExchange(#[from] CryptoError),
    /// An encrypted message could not be decrypted.
    #[error("decryption: {0}")]
    Decryption(#[from] CryptError),
    /// Our own configuration cannot be used.
    #[error("configuration: {0}")]
    Configuration(&'static str),
    /// The peer's certificate (chain, identity or signature) was refused, or our own
    /// certificate or key cannot be used.
    #[error("certificate: {0}")]
    Certificate(#[from] CertError),
    /// The peer stopped answering: retransmissions exhausted or the exchange took too long.
    #[error("peer did not answer")]
    Timeout,
    /// The peer refused an exchange with an error notification (RFC 2408 §3.14.1 types
    /// 1-8191, e.g. 18 INVALID-ID-INFORMATION); the number is the notify type.
    #[error("the peer refused with notification {0}")]
    PeerRefused(u16),
    /// A limit on state kept for peers was reached (half-open SAs, peers); the message
    /// was dropped.
    #[error("resource limit: {0}")]
    ResourceLimit(&'static str),
}

/// The broad category of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The peer sent something invalid; the message was dropped and state is unchanged.
    PeerMisbehaved,
    /// The peer is valid but wants something we do not offer.
    PeerIncompatible,
    /// Authentication failed.
    Authentication,
    /// Local configuration problem.
    LocalConfiguration,
    /// The peer is gone.
    Timeout,
    /// A local limit on resources was reached.
    ResourceLimit,
}

impl Error {
    /// The category of this error.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        match self {
            Self::Malformed(_) | Self::UnexpectedMessage(_) | Self::KeyExchange(_) | Self::Decryption(_) => {
                ErrorKind::PeerMisbehaved
            }
            Self::NoProposalChosen | Self::PeerRefused(_) => ErrorKind::PeerIncompatible,
            Self::AuthenticationFailed | Self::Certificate(_) => ErrorKind::Authentication,
            Self::Configuration(_) => ErrorKind::LocalConfiguration,
            Self::Timeout => ErrorKind::Timeout,
            Self::ResourceLimit(_) => ErrorKind::ResourceLimit,
        }
    }
}

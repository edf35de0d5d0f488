//! Cryptographic building blocks shared by IKEv1 and (later) IKEv2.
//!
//! - [`dh`]: the Diffie-Hellman groups (MODP 2/5/14/15/16, ECP 19/20, Curve25519 31) with
//!   validation of the peer's public value.
//! - [`prf`]: the HMAC pseudo-random functions and plain hashes (MD5, SHA-1, SHA-2).
//! - [`cipher`]: the CBC block ciphers that protect IKE payloads (AES-CBC, 3DES-CBC).
//!
//! Every secret these types hold is wiped on drop and never printed by `Debug`.

pub mod cipher;
pub mod dh;
mod modp_primes;
pub mod prf;

pub use cipher::CipherAlgorithm;
pub use dh::{DhGroup, KeyExchange, SharedSecret};
pub use prf::{PrfAlgorithm, PrfOutput};

/// Why a cryptographic operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The Diffie-Hellman group number is not one this crate implements.
    #[error("unsupported Diffie-Hellman group {0}")]
    UnsupportedGroup(u16),
    /// The peer's public value has the wrong length for its group.
    #[error("public value of {got} bytes, the group needs {expected}")]
    PublicValueLength {
        /// What the group needs.
        expected: usize,
        /// What the peer sent.
        got: usize,
    },
    /// The peer's public value is outside the group (MODP range check, point not on
    /// the curve, or a degenerate value).
    #[error("invalid Diffie-Hellman public value")]
    InvalidPublicValue,
    /// The computed shared secret is degenerate (all zero for X25519).
    #[error("degenerate Diffie-Hellman shared secret")]
    DegenerateSharedSecret,
    /// A private value given by the caller is not usable for the group.
    #[error("invalid Diffie-Hellman private value")]
    InvalidPrivateValue,
    /// A key has the wrong length for the algorithm.
    #[error("key of {got} bytes, the algorithm needs {expected}")]
    KeyLength {
        /// What the algorithm needs.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// An IV has the wrong length for the cipher's block.
    #[error("IV of {got} bytes, the cipher block is {expected}")]
    IvLength {
        /// The cipher's block length.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// The data to encrypt or decrypt is not a whole number of cipher blocks.
    #[error("{len} bytes is not a multiple of the {block}-byte cipher block")]
    NotBlockAligned {
        /// The data length.
        len: usize,
        /// The cipher's block length.
        block: usize,
    },
}

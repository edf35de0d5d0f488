//! IKEv1 (RFC 2409): key derivation, encrypted-message handling and, later, the Main,
//! Aggressive and Quick Mode machines.

pub mod crypt;
pub mod info;
pub mod keys;
pub mod natt;
pub mod phase1;
pub mod quick;

pub use crypt::{CryptError, Decrypted, IvChain};
pub use keys::{Iv, Phase1Exchange, Phase1Keys, SecretBytes};

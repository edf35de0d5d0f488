//! Sans-IO IKEv1 (RFC 2409) and IKEv2 (RFC 7296) key exchange for l2sec.
//!
//! Work in progress: this crate is being built; see the project's issue tracker.
#![forbid(unsafe_code)]

pub mod child;
pub mod crypto;
mod error;
pub mod v1;
pub mod wire;

pub use error::{Error, ErrorKind};

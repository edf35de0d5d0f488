#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod cert;
pub mod child;
pub mod crypto;
mod error;
pub mod keylog;
pub mod proposal;
pub mod v1;
pub mod v2;
pub mod wire;

pub use error::{Error, ErrorKind};
/// The `rand_core` version whose `CryptoRng` the machines take, so owners and tests name
/// the same trait.
pub use rand_core;

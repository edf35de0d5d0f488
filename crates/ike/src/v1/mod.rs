//! IKEv1 (RFC 2409).
//!
//! - [`connection`]: one peer over time: both phases, rekeying, lifetimes, deletes.
//! - [`keys`]: SKEYID*, Ka, IVs, the authentication hashes and KEYMAT.
//! - [`crypt`]: encrypted messages and the CBC IV chain.
//! - [`phase1`]: the Main Mode / Aggressive Mode PSK machine (ISAKMP SA).
//! - [`psk`]: pre-shared keys by peer identity (Aggressive Mode responder).
//! - [`sig`]: Main Mode authenticated with RSA signatures and X.509 certificates.
//! - [`quick`]: the Quick Mode machine and its result, a [`crate::child::ChildSa`].
//! - [`info`]: informational exchanges (notify, delete, DPD messages).
//! - [`dpd`]: the Dead Peer Detection machine (RFC 3706).
//! - [`lifetime`]: SA life attributes and the soft (rekey) deadline.
//! - [`natt`]: NAT-T and DPD Vendor IDs and the NAT-D hash.
//!
//! An owner runs one [`phase1::Phase1`] per peer, then one [`quick::QuickMode`] per
//! Message ID under the [`quick::IsakmpContext`] it yields, and hands informational
//! messages (exchange type 5) to [`info::decode`].

pub mod connection;
pub mod crypt;
pub mod dpd;
pub mod info;
pub mod keys;
pub mod lifetime;
pub mod natt;
pub mod phase1;
pub mod psk;
pub mod quick;
pub mod sig;

pub use crypt::{CryptError, Decrypted, IvChain};
pub use keys::{Iv, Phase1Exchange, Phase1Keys, SecretBytes};

//! IKEv2 (RFC 7296).
//!
//! - [`keys`]: the key schedule (prf+, SKEYSEED, the seven SK_* keys, Child SA KEYMAT) and
//!   the protection of SK payloads with AES-CBC + HMAC or AES-GCM (RFC 5282).
//! - [`auth`]: the pre-shared-key AUTH payload (RFC 7296 §2.15).
//! - [`eap`]: EAP-MSCHAPv2 on the responder (RFC 7296 §2.16): what the owner is asked
//!   and what it answers.
//! - [`sig_auth`]: AUTH payloads with RSA and ECDSA signatures (methods 1, 9, 10, 14).
//! - [`ike_sa`]: the IKE_SA_INIT + IKE_AUTH handshake with a pre-shared key, both roles,
//!   as a sans-IO machine ending with the first Child SA.
//!
//! The messages themselves are in [`crate::wire::v2`].

pub mod auth;
pub mod eap;
pub mod ike_sa;
pub mod keys;
pub mod sig_auth;

//! IKEv2 (RFC 7296).
//!
//! - [`keys`]: the key schedule (prf+, SKEYSEED, the seven SK_* keys, Child SA KEYMAT) and
//!   the protection of SK payloads with AES-CBC + HMAC or AES-GCM (RFC 5282).
//! - [`auth`]: the pre-shared-key AUTH payload (RFC 7296 §2.15).
//! - [`eap`]: EAP-MSCHAPv2 on the responder (RFC 7296 §2.16): what the owner is asked
//!   and what it answers.
//! - [`sig_auth`]: AUTH payloads with RSA and ECDSA signatures (methods 1, 9, 10, 14).
//! - [`ike_sa`]: the IKE_SA_INIT + IKE_AUTH handshake with a pre-shared key, both roles,
//!   as a sans-IO machine, then the established IKE SA: CREATE_CHILD_SA (more Child SAs,
//!   Child SA and IKE SA rekeys), Delete, liveness, lifetimes.
//! - [`responder`]: the responder's COOKIE defence against IKE_SA_INIT floods (RFC 7296
//!   §2.6), shared by all responder IKE SAs of an endpoint.
//!
//! The messages themselves are in [`crate::wire::v2`].

pub mod auth;
pub mod eap;
pub mod ike_sa;
pub mod keys;
pub mod responder;
pub mod sig_auth;

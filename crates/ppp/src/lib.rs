//! Sans-IO PPP (RFC 1661) with LCP, PAP, CHAP, MS-CHAPv2 and IPCP for l2sec.
//!
//! Work in progress: this crate is being built; see the project's issue tracker.
#![forbid(unsafe_code)]

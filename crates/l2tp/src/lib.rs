//! Sans-IO L2TPv2 (RFC 2661) for l2sec.
//!
//! Work in progress: this crate is being built; see the project's issue tracker.
#![forbid(unsafe_code)]

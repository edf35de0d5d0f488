//! Sans-IO a RADIUS client (RFC 2865/2866) for l2sec.
//!
//! Work in progress: this crate is being built; see the project's issue tracker.
#![forbid(unsafe_code)]

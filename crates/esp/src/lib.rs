//! Sans-IO ESP (RFC 4303) data plane for l2sec.
#![forbid(unsafe_code)]

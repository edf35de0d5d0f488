//! NAT traversal for IKEv1 (RFC 3947) and Dead Peer Detection (RFC 3706) helpers.

use std::net::{IpAddr, SocketAddr};

use crate::crypto::{PrfAlgorithm, PrfOutput};

/// RFC 3947 §2: Vendor ID announcing RFC 3947 support (MD5 of "RFC 3947").
pub const VENDOR_ID_RFC3947: [u8; 16] =
    [0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f];

/// Vendor ID of draft-ietf-ipsec-nat-t-ike-02 (with the trailing newline), still sent by
/// many peers; a peer that sends only this one uses the draft payload numbers 130/131.
pub const VENDOR_ID_NAT_T_DRAFT_02N: [u8; 16] =
    [0x90, 0xcb, 0x80, 0x91, 0x3e, 0xbb, 0x69, 0x6e, 0x08, 0x63, 0x81, 0xb5, 0xec, 0x42, 0x7b, 0x1f];

/// RFC 3706 §7: the DPD Vendor ID (version 1.0).
pub const VENDOR_ID_DPD: [u8; 16] =
    [0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00];

/// RFC 3947 §3.2: `HASH(CKY-I | CKY-R | IP | Port)` with the negotiated hash (not its
/// HMAC). A message carries the peer's address first, then ours.
#[must_use]
pub fn nat_discovery_hash(
    hash: PrfAlgorithm,
    cky_i: &[u8; 8],
    cky_r: &[u8; 8],
    addr: SocketAddr,
) -> PrfOutput {
    let port = addr.port().to_be_bytes();
    match addr.ip() {
        IpAddr::V4(ip) => hash.hash(&[cky_i, cky_r, &ip.octets(), &port]),
        IpAddr::V6(ip) => hash.hash(&[cky_i, cky_r, &ip.octets(), &port]),
    }
}

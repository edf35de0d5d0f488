//! Sans-IO ESP (RFC 4303) data plane: the packet protection of IPsec, with UDP
//! encapsulation for NAT traversal (RFC 3948) and anti-replay.
//!
//! An ESP SA is one-directional. [`OutboundSa`] protects payloads, [`InboundSa`] checks and
//! opens them, and [`SaTable`] finds the inbound SA of a received packet by its SPI. Both
//! work **in place** on a buffer the caller owns and allocate nothing per packet: leave
//! [`OutboundSa::headroom`] bytes free before the payload and [`OutboundSa::tailroom`]
//! bytes after it, and the ESP packet is built around the payload.
//!
//! ```
//! use l2sec_esp::{Encryption, InboundSa, Integrity, Mode, OutboundSa, SaParams};
//!
//! // Keys come from the key exchange (IKE); these are examples.
//! let params = SaParams::new(
//!     0x1000_0001,
//!     Mode::Transport,
//!     Encryption::AesGcm16,
//!     Integrity::None,
//!     &[7u8; 16 + 4], // AES-128 key + 4-byte salt
//!     &[],
//! );
//! let mut tx = OutboundSa::new(&params)?;
//! let mut rx = InboundSa::new(&params)?;
//!
//! // An L2TP datagram (UDP, next header 17) with room around it.
//! let udp = [0x06, 0xa5, 0x06, 0xa5, 0x00, 0x0c, 0x00, 0x00, 0xc8, 0x02, 0x00, 0x00];
//! let mut buf = vec![0u8; tx.headroom() + udp.len() + tx.tailroom()];
//! let start = tx.headroom();
//! buf[start..start + udp.len()].copy_from_slice(&udp);
//! let packet = tx.encapsulate(&mut buf, start..start + udp.len(), 17)?;
//! assert_eq!(&packet[..4], &0x1000_0001u32.to_be_bytes());
//!
//! // The receiver opens it in place.
//! let opened = rx.decapsulate(packet)?;
//! assert_eq!((opened.next_header, &opened.payload[..]), (17, &udp[..]));
//! assert_eq!(opened.seq, 1);
//! # Ok::<(), l2sec_esp::Error>(())
//! ```
//!
//! Received datagrams on the NAT-T port are sorted with [`natt::classify`]. Transforms:
//! AES-CBC (RFC 3602) or 3DES-CBC (RFC 2451) or NULL (RFC 2410) with HMAC-SHA1-96
//! (RFC 2404) or HMAC-SHA2 (RFC 4868), and AES-GCM-16 (RFC 4106), from the [`Provider`]
//! chosen at SA creation (RustCrypto, or `ring` for AES-GCM with the `ring` feature).
#![forbid(unsafe_code)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod error;
pub mod ip;
pub mod keylog;
pub mod natt;
pub mod replay;
mod sa;
mod table;
pub mod transform;

pub use error::{BufferSide, Error, Limit, ParseError};
pub use sa::{
    Decapsulated, Encryption, InboundSa, Integrity, Lifetime, Limits, Mode, NEXT_HEADER_IPV4,
    NEXT_HEADER_IPV6, NEXT_HEADER_NONE, NEXT_HEADER_UDP, OutboundSa, SaEvent, SaParams, peek_spi,
};
pub use table::SaTable;
pub use transform::{Provider, Transform};

/// Hooks for tests of code built on this crate (e.g. sequence-number exhaustion without
/// sending four billion packets). Not for production use.
pub mod testing {
    use crate::{InboundSa, OutboundSa};

    /// Sets the last sequence number an outbound SA used, as if that many packets had
    /// been sent.
    pub fn set_last_seq(sa: &mut OutboundSa, last_seq: u64) {
        sa.set_last_seq(last_seq);
    }

    /// Moves an inbound SA's replay window as if a packet with sequence number `seq` had
    /// been accepted. Does nothing for an SA without a window.
    pub fn set_highest_seq(sa: &mut InboundSa, seq: u64) {
        sa.mark_received(seq);
    }
}

//! UDP encapsulation of ESP (RFC 3948) for NAT traversal.
//!
//! On UDP port 4500 three kinds of datagram share one socket: IKE messages behind a
//! 4-byte zero "non-ESP marker", one-byte NAT keepalives, and ESP packets (whose SPI is
//! never zero). [`classify`] tells them apart.
//!
//! In transport mode the inner TCP or UDP checksum covers the original IP addresses; after
//! a NAT rewrote them it no longer matches, so the decapsulating side fixes it (§3.1.2)
//! with [`update_checksum_for_nat`] (from the NAT-OA addresses IKE learned) or
//! [`recompute_transport_checksum`].

use core::net::IpAddr;

use crate::error::ParseError;

/// The one-byte NAT-keepalive payload (RFC 3948 §2.3).
pub const KEEPALIVE: [u8; 1] = [0xff];
/// The non-ESP marker that prefixes IKE messages on port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The UDP port for IKE with NAT traversal and UDP-encapsulated ESP.
pub const NAT_T_PORT: u16 = 4500;

/// What a datagram received on the NAT-T port carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp4500 {
    /// A NAT keepalive: ignore it.
    Keepalive,
    /// An IKE message, starting [`NON_ESP_MARKER`]`.len()` bytes into the datagram.
    Ike,
    /// An ESP packet with this SPI, starting at the first byte of the datagram.
    Esp {
        /// The SPI, for looking up the inbound SA.
        spi: u32,
    },
}

/// Classifies the payload of a UDP datagram received on the NAT-T port (RFC 3948 §2.2).
pub fn classify(datagram: &[u8]) -> Result<Udp4500, ParseError> {
    match datagram {
        [0xff] => Ok(Udp4500::Keepalive),
        [0, 0, 0, 0, ..] => {
            // An IKE header is at least 28 bytes.
            if datagram.len() < NON_ESP_MARKER.len() + 28 {
                Err(ParseError::Truncated)
            } else {
                Ok(Udp4500::Ike)
            }
        }
        // RFC 3948 §2.1: ESP needs at least the header and one 4-byte aligned body.
        _ if datagram.len() < 12 => Err(ParseError::Truncated),
        _ => {
            let spi = crate::sa::peek_spi(datagram)?;
            Ok(Udp4500::Esp { spi })
        }
    }
}

/// The one's-complement sum of 16-bit words (RFC 1071), not yet complemented.
fn sum_words(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The Internet checksum (RFC 1071) of `data`, as it goes into a header field.
#[must_use]
pub fn internet_checksum(data: &[u8]) -> u16 {
    !fold(sum_words(0, data))
}

fn addr_sum(acc: u32, a: IpAddr) -> u32 {
    match a {
        IpAddr::V4(a) => sum_words(acc, &a.octets()),
        IpAddr::V6(a) => sum_words(acc, &a.octets()),
    }
}

/// Offset of the checksum field in a TCP (6) or UDP (17) header.
fn checksum_offset(protocol: u8) -> Option<usize> {
    match protocol {
        6 => Some(16),
        17 => Some(6),
        _ => None,
    }
}

/// Recomputes the TCP or UDP checksum of `segment` for the pseudo-header with addresses
/// `src` and `dst` (RFC 768, RFC 9293 §3.1, RFC 8200 §8.1). Other protocols are left
/// alone. Returns an error if the segment is too short for its header.
pub fn recompute_transport_checksum(
    segment: &mut [u8],
    protocol: u8,
    src: IpAddr,
    dst: IpAddr,
) -> Result<(), ParseError> {
    let Some(off) = checksum_offset(protocol) else { return Ok(()) };
    if segment.len() < off + 2 || segment.len() > usize::from(u16::MAX) {
        return Err(ParseError::InnerPacket);
    }
    segment[off..off + 2].fill(0);
    let mut acc = addr_sum(addr_sum(0, src), dst);
    acc += u32::from(protocol) + segment.len() as u32;
    let mut sum = !fold(sum_words(acc, segment));
    if protocol == 17 && sum == 0 {
        sum = 0xffff; // RFC 768: a computed zero is sent as all ones
    }
    segment[off..off + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// RFC 3948 §3.1.2 with RFC 1624 incremental update: adjusts the TCP or UDP checksum of a
/// transport-mode segment whose pseudo-header addresses changed from `original` (the
/// NAT-OA addresses) to `actual` (the addresses the packet arrived with). A UDP checksum of
/// zero (none) is left as zero.
pub fn update_checksum_for_nat(
    segment: &mut [u8],
    protocol: u8,
    original: (IpAddr, IpAddr),
    actual: (IpAddr, IpAddr),
) -> Result<(), ParseError> {
    let Some(off) = checksum_offset(protocol) else { return Ok(()) };
    let field = segment.get_mut(off..off + 2).ok_or(ParseError::InnerPacket)?;
    let old = u16::from_be_bytes([field[0], field[1]]);
    if protocol == 17 && old == 0 {
        return Ok(());
    }
    // HC' = ~(~HC + ~m + m'), summed over every changed 16-bit word.
    let mut acc = u32::from(!old);
    let neg = |a: IpAddr| -> u32 {
        match a {
            IpAddr::V4(a) => a.octets().chunks(2).map(|c| u32::from(!u16::from_be_bytes([c[0], c[1]]))).sum(),
            IpAddr::V6(a) => a.octets().chunks(2).map(|c| u32::from(!u16::from_be_bytes([c[0], c[1]]))).sum(),
        }
    };
    acc += neg(original.0) + neg(original.1);
    acc = addr_sum(addr_sum(acc, actual.0), actual.1);
    let mut new = !fold(acc);
    if protocol == 17 && new == 0 {
        new = 0xffff;
    }
    field.copy_from_slice(&new.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn classifies_the_three_kinds() {
        assert_eq!(classify(&[0xff]), Ok(Udp4500::Keepalive));
        let mut ike = vec![0u8; 4 + 28];
        ike[4] = 1;
        assert_eq!(classify(&ike), Ok(Udp4500::Ike));
        assert_eq!(classify(&ike[..20]), Err(ParseError::Truncated));
        let esp = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(classify(&esp), Ok(Udp4500::Esp { spi: 0x1234_5678 }));
        assert_eq!(classify(&[0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0]), Err(ParseError::ReservedSpi(7)));
        assert_eq!(
            classify(&[0, 0, 0, 255, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]),
            Err(ParseError::ReservedSpi(255))
        );
        assert_eq!(classify(&[]), Err(ParseError::Truncated));
        assert_eq!(classify(&[0xfe]), Err(ParseError::Truncated));
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum 220d).
        assert_eq!(internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0x220d);
    }

    fn udp_segment() -> Vec<u8> {
        let mut s = vec![0x06, 0xa5, 0x06, 0xa5, 0, 20, 0, 0];
        s.extend_from_slice(b"l2tp control message");
        let len = s.len() as u16;
        s[4..6].copy_from_slice(&len.to_be_bytes());
        s
    }

    #[test]
    fn incremental_update_equals_recomputation() {
        let orig = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
        let actual = (IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
        let mut a = udp_segment();
        recompute_transport_checksum(&mut a, 17, orig.0, orig.1).unwrap();
        update_checksum_for_nat(&mut a, 17, orig, actual).unwrap();
        let mut b = udp_segment();
        recompute_transport_checksum(&mut b, 17, actual.0, actual.1).unwrap();
        assert_eq!(a, b);
        // And the result verifies: summing the pseudo-header and segment gives all ones.
        let mut acc = addr_sum(addr_sum(0, actual.0), actual.1) + 17 + b.len() as u32;
        acc = sum_words(acc, &b);
        assert_eq!(fold(acc), 0xffff);
    }

    #[test]
    fn zero_udp_checksum_stays_zero() {
        let mut s = udp_segment();
        let a = IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4));
        update_checksum_for_nat(&mut s, 17, (a, a), (a, IpAddr::V4(Ipv4Addr::new(4, 3, 2, 1)))).unwrap();
        assert_eq!(&s[6..8], &[0, 0]);
    }
}

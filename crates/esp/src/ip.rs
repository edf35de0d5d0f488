//! Mode helpers that work on whole IP packets: tunnel-mode Next Header selection, and
//! inserting or removing the ESP header of a transport-mode packet in place (RFC 4303 §3.1.1).
//!
//! Over UDP encapsulation the outer IP header belongs to the socket, so an L2TP/IPsec
//! endpoint calls [`OutboundSa::encapsulate`] on the UDP segment directly; these helpers are
//! for raw IP (protocol 50) use and for tests that need complete packets.

use core::ops::Range;

use crate::Error;
use crate::error::{BufferSide, ParseError};
use crate::natt::internet_checksum;
use crate::sa::{InboundSa, NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, OutboundSa};

/// IP protocol number of ESP.
pub const PROTO_ESP: u8 = 50;

/// The tunnel-mode Next Header for an inner IP packet: 4 for IPv4, 41 for IPv6.
pub fn tunnel_next_header(packet: &[u8]) -> Result<u8, ParseError> {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => Ok(NEXT_HEADER_IPV4),
        Some(6) if packet.len() >= 40 => Ok(NEXT_HEADER_IPV6),
        _ => Err(ParseError::IpHeader),
    }
}

/// Length of the IP header that precedes the transport payload, and its protocol.
/// IPv4 fragments and IPv6 extension headers are refused: transport-mode ESP protects
/// whole, reassembled packets, and the L2TP/IPsec path needs nothing more.
fn ip_header(packet: &[u8]) -> Result<(usize, u8), ParseError> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            if ihl < 20 || packet.len() < ihl {
                return Err(ParseError::IpHeader);
            }
            let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
            let frag = u16::from_be_bytes([packet[6], packet[7]]);
            if total != packet.len() || frag & 0x3fff != 0 {
                return Err(ParseError::IpHeader);
            }
            Ok((ihl, packet[9]))
        }
        Some(6) if packet.len() >= 40 => {
            let payload = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
            if payload + 40 != packet.len() || matches!(packet[6], 0 | 43 | 44 | 60 | 51 | 135 | 139 | 140) {
                return Err(ParseError::IpHeader);
            }
            Ok((40, packet[6]))
        }
        _ => Err(ParseError::IpHeader),
    }
}

/// Writes the protocol and length into an IP header of `hlen` bytes followed by `payload_len`
/// bytes, and refreshes the IPv4 header checksum.
fn set_ip_header(header: &mut [u8], protocol: u8, payload_len: usize) -> Result<(), Error> {
    if header[0] >> 4 == 4 {
        let total =
            u16::try_from(header.len() + payload_len).map_err(|_| Error::Malformed(ParseError::IpHeader))?;
        header[2..4].copy_from_slice(&total.to_be_bytes());
        header[9] = protocol;
        header[10..12].fill(0);
        let sum = internet_checksum(header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
    } else {
        let len = u16::try_from(payload_len).map_err(|_| Error::Malformed(ParseError::IpHeader))?;
        header[4..6].copy_from_slice(&len.to_be_bytes());
        header[6] = protocol;
    }
    Ok(())
}

impl OutboundSa {
    /// Tunnel mode: protects the whole IP packet at `buf[packet]` (Next Header from its
    /// version) and returns the ESP packet. The caller adds the outer IP or UDP header.
    pub fn encapsulate_tunnel<'b>(
        &mut self,
        buf: &'b mut [u8],
        packet: Range<usize>,
    ) -> Result<&'b mut [u8], Error> {
        let nh = tunnel_next_header(buf.get(packet.clone()).ok_or(ParseError::Truncated)?)?;
        self.encapsulate(buf, packet, nh)
    }

    /// Transport mode on a whole IPv4 or IPv6 packet at `buf[packet]`: moves its IP header
    /// [`headroom`](Self::headroom) bytes to the left, inserts the ESP header after it,
    /// protects the transport payload and returns the resulting IP packet (protocol 50).
    pub fn encapsulate_transport_ip<'b>(
        &mut self,
        buf: &'b mut [u8],
        packet: Range<usize>,
    ) -> Result<&'b mut [u8], Error> {
        let (hlen, protocol) = ip_header(buf.get(packet.clone()).ok_or(ParseError::Truncated)?)?;
        let head = self.headroom();
        let Some(new_start) = packet.start.checked_sub(head) else {
            return Err(Error::Buffer { what: BufferSide::Headroom, needed: head - packet.start });
        };
        if packet.end + self.tailroom() > buf.len() {
            return Err(Error::Buffer {
                what: BufferSide::Tailroom,
                needed: packet.end + self.tailroom() - buf.len(),
            });
        }
        buf.copy_within(packet.start..packet.start + hlen, new_start);
        let esp_len = self.encapsulate(buf, packet.start + hlen..packet.end, protocol)?.len();
        let out = &mut buf[new_start..new_start + hlen + esp_len];
        set_ip_header(&mut out[..hlen], PROTO_ESP, esp_len)?;
        Ok(out)
    }
}

impl InboundSa {
    /// Transport mode on a whole IPv4 or IPv6 packet with protocol 50: checks and decrypts
    /// the ESP part, then rebuilds the original packet in place (the IP header moves right
    /// over the ESP header) and returns it.
    pub fn decapsulate_transport_ip<'b>(&mut self, packet: &'b mut [u8]) -> Result<&'b mut [u8], Error> {
        let (hlen, protocol) = ip_header(packet)?;
        if protocol != PROTO_ESP {
            return Err(ParseError::IpHeader.into());
        }
        let d = self.decapsulate(&mut packet[hlen..])?;
        let (nh, plen) = (d.next_header, d.payload.len());
        // The payload sits right after the ESP header and IV.
        let shift = crate::transform::HEADER_LEN + self.iv_len();
        packet.copy_within(0..hlen, shift);
        let out = &mut packet[shift..shift + hlen + plen];
        set_ip_header(&mut out[..hlen], nh, plen)?;
        Ok(out)
    }
}

//! A tiny built-in network behind the server's tunnel address, for users without a TUN
//! device: it answers ICMP echo requests and UDP echo (port 7) addressed to the server,
//! so a client can check its tunnel with `ping` or a UDP probe; over IPv6 (IPV6CP) it
//! answers ICMPv6 echo to the server's link-local address.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The UDP echo port (RFC 862).
pub const UDP_ECHO_PORT: u16 = 7;

fn checksum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// If `packet` is an IPv4 ICMP echo request or UDP echo datagram for `server`, writes the
/// reply into `out` (cleared first) and returns true. Anything else is left alone.
pub fn answer(packet: &[u8], server: Ipv4Addr, out: &mut Vec<u8>) -> bool {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return false;
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let fragmented = u16::from_be_bytes([packet[6], packet[7]]) & 0x3fff != 0;
    if ihl < 20 || total < ihl || total > packet.len() || fragmented || packet[16..20] != server.octets() {
        return false;
    }
    let (header, payload) = packet[..total].split_at(ihl);
    let proto = header[9];
    match proto {
        1 if payload.len() >= 8 && payload[0] == 8 && payload[1] == 0 => {}
        17 if payload.len() >= 8 && u16::from_be_bytes([payload[2], payload[3]]) == UDP_ECHO_PORT => {}
        _ => return false,
    }
    out.clear();
    // IPv4 header without options: swapped addresses, fresh TTL and checksum.
    out.extend_from_slice(&[0x45, 0, 0, 0, header[4], header[5], 0, 0, 64, proto, 0, 0]);
    out.extend_from_slice(&header[16..20]);
    out.extend_from_slice(&header[12..16]);
    let len = (20 + payload.len()) as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    let sum = checksum(&out[..20], 0);
    out[10..12].copy_from_slice(&sum.to_be_bytes());
    out.extend_from_slice(payload);
    let body = &mut out[20..];
    if proto == 1 {
        body[0] = 0; // echo reply
        body[2..4].fill(0);
        let sum = checksum(body, 0);
        body[2..4].copy_from_slice(&sum.to_be_bytes());
    } else {
        body.copy_within(0..2, 2); // destination port := source port, below
        body[0..2].copy_from_slice(&UDP_ECHO_PORT.to_be_bytes());
        body[6..8].fill(0);
        let pseudo = [&header[16..20], &header[12..16]].concat();
        let initial = pseudo.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum::<u32>()
            + 17
            + body.len() as u32;
        let mut sum = checksum(body, initial);
        if sum == 0 {
            sum = 0xffff;
        }
        body[6..8].copy_from_slice(&sum.to_be_bytes());
    }
    true
}

/// ICMPv6 (RFC 4443 §4.1, §4.2): echo request and reply types.
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;
/// IPv6 next header of ICMPv6.
const NEXT_HEADER_ICMPV6: u8 = 58;

/// An IPv6 packet carrying one ICMPv6 echo message (`reply`: type 129, else 128) with
/// identifier `id`, sequence `seq` and `data`, its checksum over the pseudo-header
/// (RFC 8200 §8.1) filled in.
#[must_use]
pub fn icmpv6_echo(src: Ipv6Addr, dst: Ipv6Addr, reply: bool, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let len = 8 + data.len();
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p.extend_from_slice(&[NEXT_HEADER_ICMPV6, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[if reply { ICMPV6_ECHO_REPLY } else { ICMPV6_ECHO_REQUEST }, 0, 0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(data);
    let sum = checksum(&p[40..], icmpv6_pseudo(&p));
    p[42..44].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The pseudo-header sum of an IPv6 packet's ICMPv6 body (RFC 8200 §8.1).
fn icmpv6_pseudo(packet: &[u8]) -> u32 {
    packet[8..40].chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum::<u32>()
        + (packet.len() - 40) as u32
        + u32::from(NEXT_HEADER_ICMPV6)
}

/// If `packet` is an IPv6 ICMPv6 echo request (no extension headers) to a link-local
/// address, writes the echo reply into `out` (cleared first) and returns true. A PPP
/// link has two ends, so a link-local destination through the tunnel is the server's
/// (RFC 5072 §5). Anything else is left alone.
pub fn answer_v6(packet: &[u8], out: &mut Vec<u8>) -> bool {
    if packet.len() < 48 || packet[0] >> 4 != 6 || packet[6] != NEXT_HEADER_ICMPV6 {
        return false;
    }
    let len = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    if len < 8 || 40 + len > packet.len() {
        return false;
    }
    let packet = &packet[..40 + len];
    let addr = |o: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&packet[o..o + 16]).expect("16 bytes"));
    let (src, dst) = (addr(8), addr(24));
    if packet[40] != ICMPV6_ECHO_REQUEST
        || packet[41] != 0
        || !dst.is_unicast_link_local()
        || src == dst
        || checksum(&packet[40..], icmpv6_pseudo(packet)) != 0
    {
        return false;
    }
    let id = u16::from_be_bytes([packet[44], packet[45]]);
    let seq = u16::from_be_bytes([packet[46], packet[47]]);
    *out = icmpv6_echo(dst, src, true, id, seq, &packet[48..]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    fn ip(proto: u8, src: [u8; 4], dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0];
        p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst.octets());
        let s = checksum(&p, 0);
        p[10..12].copy_from_slice(&s.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn answers_ping_with_valid_checksums() {
        let mut icmp = vec![8, 0, 0, 0, 0x77, 0x01, 0, 5];
        icmp.extend_from_slice(b"abcdefgh");
        let s = checksum(&icmp, 0);
        icmp[2..4].copy_from_slice(&s.to_be_bytes());
        let req = ip(1, [198, 51, 100, 7], SERVER, &icmp);
        let mut out = Vec::new();
        assert!(answer(&req, SERVER, &mut out));
        assert_eq!(&out[12..16], &SERVER.octets());
        assert_eq!(&out[16..20], &[198, 51, 100, 7]);
        assert_eq!(checksum(&out[..20], 0), 0, "IP header checksum");
        assert_eq!(out[20], 0, "echo reply");
        assert_eq!(checksum(&out[20..], 0), 0, "ICMP checksum");
        assert_eq!(&out[24..], &icmp[4..], "identifier, sequence and data echoed");
    }

    #[test]
    fn answers_udp_echo_and_ignores_everything_else() {
        let udp = [0x30, 0x39, 0, 7, 0, 12, 0, 0, b'h', b'i', b'!', b'!'];
        let req = ip(17, [198, 51, 100, 7], SERVER, &udp);
        let mut out = Vec::new();
        assert!(answer(&req, SERVER, &mut out));
        assert_eq!(&out[20..24], &[0, 7, 0x30, 0x39], "ports swapped");
        assert_eq!(&out[28..], b"hi!!");
        let pseudo: u32 =
            [198u32 * 256 + 51, 100 * 256 + 1, 198 * 256 + 51, 100 * 256 + 7].iter().sum::<u32>() + 17 + 12;
        assert_eq!(checksum(&out[20..], pseudo), 0, "UDP checksum verifies");
        // Not for the server, not an echo, truncated: no answer.
        assert!(!answer(&ip(17, [198, 51, 100, 7], Ipv4Addr::new(198, 51, 100, 9), &udp), SERVER, &mut out));
        assert!(!answer(&ip(6, [198, 51, 100, 7], SERVER, &udp), SERVER, &mut out));
        assert!(!answer(&req[..25], SERVER, &mut out));
        let mut reply = vec![0u8, 0, 0, 0, 0, 0, 0, 0];
        reply[0] = 0;
        assert!(
            !answer(&ip(1, [198, 51, 100, 7], SERVER, &reply), SERVER, &mut out),
            "echo replies are not answered"
        );
    }

    #[test]
    fn answers_icmpv6_echo_to_the_link_local_address() {
        let client: Ipv6Addr = "fe80::1:2:3:4".parse().unwrap();
        let server: Ipv6Addr = "fe80::a:b:c:d".parse().unwrap();
        let req = icmpv6_echo(client, server, false, 0x1234, 9, b"ping six");
        // RFC 4443 §2.3: the checksum verifies over the pseudo-header.
        assert_eq!(checksum(&req[40..], icmpv6_pseudo(&req)), 0);
        let mut out = Vec::new();
        assert!(answer_v6(&req, &mut out));
        assert_eq!(out, icmpv6_echo(server, client, true, 0x1234, 9, b"ping six"));
        assert_eq!(out[40], 129, "echo reply");
        assert_eq!(checksum(&out[40..], icmpv6_pseudo(&out)), 0);
        // A bad checksum, a reply, a global destination, truncation: no answer.
        let mut bad = req.clone();
        bad[50] ^= 1;
        assert!(!answer_v6(&bad, &mut out));
        assert!(!answer_v6(&icmpv6_echo(client, server, true, 1, 1, b"x"), &mut out));
        let global: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert!(!answer_v6(&icmpv6_echo(client, global, false, 1, 1, b"x"), &mut out));
        assert!(!answer_v6(&req[..47], &mut out));
    }
}

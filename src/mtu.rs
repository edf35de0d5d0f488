//! MTU for the double encapsulation, and TCP MSS clamping.
//!
//! A client's IP packet travels inside PPP (address/control and protocol: 4 bytes), L2TP
//! (a data header of at most 16 bytes with length, sequence and offset fields), UDP (8),
//! ESP (header, IV, padding to the cipher block, trailer and ICV) and the outer UDP (8,
//! NAT-T) and IPv4 (20) headers. [`ppp_mru`] finds the largest PPP MRU whose frames still
//! fit the outer path MTU with a given outbound SA, so that nothing is fragmented.
//!
//! TCP hosts pick their segment size from their own interface MTU, not the tunnel's: the
//! MSS option of a SYN or SYN-ACK passing through the tunnel is lowered to what the tunnel
//! carries ([`clamp_mss`]), with the TCP checksum adjusted incrementally (RFC 1624).

use l2sec_esp::OutboundSa;

/// Outer IPv4 header (no options).
pub const OUTER_IPV4: usize = 20;
/// Outer UDP header (NAT-T, RFC 3948).
pub const OUTER_UDP: usize = 8;
/// Inner UDP header (UDP/1701).
pub const INNER_UDP: usize = 8;
/// The largest L2TP data header: flags, tunnel and session IDs, length, Ns/Nr and offset
/// size (RFC 2661 §3.1).
pub const L2TP_DATA_HEADER_MAX: usize = 16;
/// PPP address, control and protocol fields, uncompressed (RFC 1662 §3.1).
pub const PPP_HEADER: usize = 4;
/// The MRU PPP offers when the path allows more (RFC 1661 §6.1 default).
pub const MAX_MRU: u16 = 1500;
/// The floor: below it the path is unusable for IPv4 anyway (RFC 791 minimum 576 would be
/// needed for full service; PPP's own floor is 128).
pub const MIN_MRU: u16 = 576;

/// The largest PPP MRU whose frames, carried through `sa`, fit an outer path of
/// `outer_mtu` bytes (IPv4 + UDP encapsulation), between [`MIN_MRU`] and [`MAX_MRU`].
#[must_use]
pub fn ppp_mru(outer_mtu: u16, sa: &OutboundSa) -> u16 {
    ppp_mru_with(outer_mtu, |payload| sa.packet_len(payload))
}

/// [`ppp_mru`] for any ESP size function (`esp_len(payload)` = the ESP packet length).
#[must_use]
pub fn ppp_mru_with(outer_mtu: u16, esp_len: impl Fn(usize) -> usize) -> u16 {
    let room = usize::from(outer_mtu).saturating_sub(OUTER_IPV4 + OUTER_UDP);
    let inner = INNER_UDP + L2TP_DATA_HEADER_MAX + PPP_HEADER;
    // ESP grows in whole cipher blocks: step down from the largest candidate.
    let mut payload = room;
    while payload > inner && esp_len(payload) > room {
        payload -= 1;
    }
    let mru = payload.saturating_sub(inner);
    u16::try_from(mru).unwrap_or(MAX_MRU).clamp(MIN_MRU, MAX_MRU)
}

/// An MRU that fits `outer_mtu` with any transform the server proposes (AES-CBC with a
/// 16-byte ICV is the largest), for a device shared by all sessions.
#[must_use]
pub fn conservative_mru(outer_mtu: u16) -> u16 {
    ppp_mru_with(outer_mtu, |p| 8 + 16 + (p + 2).next_multiple_of(16) + 16)
}

/// The MSS that fits an IP MTU of `mtu` (IPv4 and TCP headers without options: 40 bytes).
#[must_use]
pub fn mss_for_mtu(mtu: u16) -> u16 {
    mtu.saturating_sub(40)
}

/// If `packet` is an IPv4 TCP segment with SYN set whose MSS option exceeds `max_mss`,
/// lowers the option to `max_mss` and fixes the TCP checksum. Returns true if it changed
/// the packet. Anything else (not IPv4/TCP, a fragment, no SYN, a truncated or malformed
/// header or option list) is left alone.
pub fn clamp_mss(packet: &mut [u8], max_mss: u16) -> bool {
    let Some(&first) = packet.first() else { return false };
    if first >> 4 != 4 || packet.len() < 20 {
        return false;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    // Protocol 6, and only the first fragment carries the TCP header.
    let fragment_offset = u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff;
    if ihl < 20 || packet[9] != 6 || fragment_offset != 0 || total > packet.len() || total < ihl + 20 {
        return false;
    }
    let tcp = &mut packet[ihl..total];
    let data_offset = usize::from(tcp[12] >> 4) * 4;
    const SYN: u8 = 0x02;
    if tcp[13] & SYN == 0 || data_offset < 20 || data_offset > tcp.len() {
        return false;
    }
    let mut i = 20;
    while i < data_offset {
        match tcp[i] {
            0 => return false,
            1 => i += 1,
            kind => {
                let Some(&len) = tcp.get(i + 1) else { return false };
                let len = usize::from(len);
                if len < 2 || i + len > data_offset {
                    return false;
                }
                if kind == 2 && len == 4 {
                    let mss = u16::from_be_bytes([tcp[i + 2], tcp[i + 3]]);
                    if mss <= max_mss {
                        return false;
                    }
                    tcp[i + 2..i + 4].copy_from_slice(&max_mss.to_be_bytes());
                    // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). The option starts at an even
                    // or odd offset; the 16-bit word sum is over the aligned words, so
                    // adjust with the aligned words that changed.
                    let old_sum = u16::from_be_bytes([tcp[16], tcp[17]]);
                    let fixed = if (i + 2) % 2 == 0 {
                        adjust(old_sum, mss, max_mss)
                    } else {
                        // Odd offset: the MSS straddles two aligned words.
                        let (a, b) = (i + 1, i + 3);
                        let old_a = u16::from_be_bytes([tcp[a], (mss >> 8) as u8]);
                        let new_a = u16::from_be_bytes([tcp[a], (max_mss >> 8) as u8]);
                        let old_b = u16::from_be_bytes([mss as u8, tcp.get(b + 1).copied().unwrap_or(0)]);
                        let new_b = u16::from_be_bytes([max_mss as u8, tcp.get(b + 1).copied().unwrap_or(0)]);
                        adjust(adjust(old_sum, old_a, new_a), old_b, new_b)
                    };
                    tcp[16..18].copy_from_slice(&fixed.to_be_bytes());
                    return true;
                }
                i += len;
            }
        }
    }
    false
}

/// RFC 1624 eqn. 3: the checksum after one 16-bit word changed from `old` to `new`.
fn adjust(checksum: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!checksum) + u32::from(!old) + u32::from(new);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP checksum computed from scratch over the IPv4 pseudo-header.
    fn tcp_checksum(packet: &[u8]) -> u16 {
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        let tcp = &packet[ihl..total];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&packet[12..20]);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(tcp);
        l2sec_esp::natt::internet_checksum(&pseudo)
    }

    /// A SYN that Linux sent on `lo` (127.0.0.1:33936 -> 127.0.0.1:47123), captured with
    /// tshark: MSS 65495, SACK permitted, timestamps, NOP, window scale 10. On loopback the
    /// kernel leaves the TCP checksum to offload (the capture held the partial sum 0xfe30);
    /// the checksum field here (0xeadc) was computed over the captured segment.
    const LINUX_SYN: &str = "4500003c9fd6400040069ce37f0000017f000001\
        8490b8133dc0289d00000000a002ffd7eadc00000204ffd704020 80aa1a3207d0000000001030 30a";

    fn linux_syn() -> Vec<u8> {
        hex::decode(LINUX_SYN.replace(' ', "")).unwrap()
    }

    #[test]
    fn the_captured_syn_has_a_valid_checksum() {
        // Guards the vector: a from-scratch checksum over the segment (with its checksum
        // field in place) folds to zero.
        let p = linux_syn();
        assert_eq!(tcp_checksum(&p), 0);
        assert_eq!(l2sec_esp::natt::internet_checksum(&p[..20]), 0, "IPv4 header checksum");
    }

    #[test]
    fn clamps_the_mss_of_a_real_syn_and_keeps_the_checksum_valid() {
        let mut p = linux_syn();
        assert!(clamp_mss(&mut p, 1354));
        assert_eq!(&p[40..44], &[2, 4, 0x05, 0x4a]);
        assert_ne!(&p[36..38], &linux_syn()[36..38], "the checksum changed");
        assert_eq!(tcp_checksum(&p), 0, "checksum still verifies");
        // Everything else is untouched.
        let orig = linux_syn();
        assert_eq!(p[..36], orig[..36]);
        assert_eq!(p[38..42], orig[38..42]);
        assert_eq!(p[44..], orig[44..]);
        // Already small enough: left alone.
        assert!(!clamp_mss(&mut p, 1400));
    }

    #[test]
    fn clamps_an_mss_at_an_odd_offset() {
        // Same SYN with a NOP before the MSS option (options: NOP, MSS, then the rest
        // shifted, minus one NOP later so the length stays).
        let mut p = linux_syn();
        let opts: Vec<u8> = [&[1u8][..], &[2, 4, 0x05, 0xb4, 4, 2, 8, 10], &p[48..56], &[3, 3, 7]].concat();
        assert_eq!(opts.len(), 20);
        p[40..60].copy_from_slice(&opts);
        p[36..38].fill(0);
        let sum = tcp_checksum(&p);
        p[36..38].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(tcp_checksum(&p), 0);
        assert!(clamp_mss(&mut p, 1000));
        assert_eq!(&p[41..45], &[2, 4, 0x03, 0xe8]);
        assert_eq!(tcp_checksum(&p), 0);
    }

    #[test]
    fn leaves_non_syn_and_non_tcp_and_malformed_packets_alone() {
        let mut ack = linux_syn();
        ack[33] = 0x10; // ACK only
        let before = ack.clone();
        assert!(!clamp_mss(&mut ack, 1000));
        assert_eq!(ack, before);
        let mut udp = linux_syn();
        udp[9] = 17;
        assert!(!clamp_mss(&mut udp, 1000));
        let mut fragment = linux_syn();
        fragment[7] = 1;
        assert!(!clamp_mss(&mut fragment, 1000));
        for cut in 0..linux_syn().len() {
            let mut p = linux_syn()[..cut].to_vec();
            assert!(!clamp_mss(&mut p, 1000), "truncated at {cut}");
        }
        // An option whose length runs past the header.
        let mut bad = linux_syn();
        bad[41] = 30;
        assert!(!clamp_mss(&mut bad, 1000));
        let mut zero_len = linux_syn();
        zero_len[41] = 0;
        assert!(!clamp_mss(&mut zero_len, 1000));
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics() {
        let mut x = 0x1234_5678u32;
        for len in 0..200 {
            let mut p: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            if len > 0 {
                p[0] = 0x45;
            }
            if len > 9 {
                p[9] = 6;
            }
            let _ = clamp_mss(&mut p, 500);
        }
    }

    /// A TCP SYN from `nops` NOPs, an MSS option, then `tail` option bytes (padded to a
    /// multiple of 4 with NOPs) and a payload, with valid IPv4 and TCP checksums.
    fn syn(nops: usize, mss: u16, tail: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut opts = vec![1u8; nops];
        opts.extend_from_slice(&[2, 4]);
        opts.extend_from_slice(&mss.to_be_bytes());
        opts.extend_from_slice(tail);
        while !opts.len().is_multiple_of(4) {
            opts.push(1);
        }
        let tcp_len = 20 + opts.len() + payload.len();
        let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1];
        p[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        let sum = l2sec_esp::natt::internet_checksum(&p);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut tcp = vec![0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x02, 0xff, 0xff, 0, 0, 0, 0];
        tcp[12] = (((20 + opts.len()) / 4) as u8) << 4;
        tcp.extend_from_slice(&opts);
        tcp.extend_from_slice(payload);
        p.extend_from_slice(&tcp);
        let sum = tcp_checksum(&p);
        p[36..38].copy_from_slice(&sum.to_be_bytes());
        p
    }

    proptest::proptest! {
        #[test]
        fn clamping_keeps_the_checksum_valid(
            nops in 0usize..8,
            mss in 0u16..=u16::MAX,
            max in 0u16..=u16::MAX,
            tail in proptest::collection::vec(proptest::sample::select(vec![1u8]), 0..8),
            payload in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..64),
        ) {
            let mut p = syn(nops, mss, &tail, &payload);
            proptest::prop_assert_eq!(tcp_checksum(&p), 0);
            let changed = clamp_mss(&mut p, max);
            proptest::prop_assert_eq!(changed, mss > max);
            let at = 40 + nops + 2;
            proptest::prop_assert_eq!(u16::from_be_bytes([p[at], p[at + 1]]), mss.min(max));
            proptest::prop_assert_eq!(tcp_checksum(&p), 0, "checksum after clamping");
        }

        #[test]
        fn arbitrary_packets_never_panic(mut p in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..120), max in 0u16..=u16::MAX) {
            if p.len() > 9 {
                p[0] = 0x40 | (p[0] & 0x0f);
                p[9] = 6;
            }
            let before = p.len();
            let _ = clamp_mss(&mut p, max);
            proptest::prop_assert_eq!(p.len(), before);
        }
    }

    fn sa(encryption: l2sec_esp::Encryption, key_len: usize, integrity: l2sec_esp::Integrity) -> OutboundSa {
        let params = l2sec_esp::SaParams::new(
            0x1000,
            l2sec_esp::Mode::Transport,
            encryption,
            integrity,
            &vec![7u8; key_len],
            &vec![9u8; integrity.key_len()],
        );
        OutboundSa::new(&params).unwrap()
    }

    #[test]
    fn mru_fits_the_path_for_each_transform() {
        use l2sec_esp::{Encryption, Integrity};
        let cases = [
            // AES-CBC: 8 + 16 IV, pad to 16, 12-byte ICV. 1472 left after IPv4+UDP;
            // 24 + 1424 + 12 = 1460 fits, the next block (1476) does not: payload 1422,
            // minus UDP 8, L2TP 16, PPP 4 = 1394.
            (sa(Encryption::AesCbc, 16, Integrity::HmacSha1_96), 1500, 1394),
            // AES-256-CBC + SHA2-256-128: ICV 16: 24 + 1424 + 16 = 1464 still fits.
            (sa(Encryption::AesCbc, 32, Integrity::HmacSha256_128), 1500, 1394),
            // AES-GCM: 8 + 8 IV, pad to 4, 16-byte ICV: 16 + p+2 (mult of 4) + 16 <= 1472
            // gives p + 2 = 1440, p = 1438, MRU 1410.
            (sa(Encryption::AesGcm16, 20, Integrity::None), 1500, 1410),
            // A smaller path (PPPoE at the client's side): 1492.
            // 1492 (PPPoE) still fits the same number of AES blocks; 1400 loses six:
            // 1372 left, 24 + 1328 + 12 fits, payload 1326, MRU 1298.
            (sa(Encryption::AesCbc, 16, Integrity::HmacSha1_96), 1492, 1394),
            (sa(Encryption::AesCbc, 16, Integrity::HmacSha1_96), 1400, 1298),
        ];
        for (sa, mtu, want) in cases {
            let mru = ppp_mru(mtu, &sa);
            assert_eq!(mru, want, "mtu {mtu}");
            // The largest frame fits and one more block would not.
            let frame = usize::from(mru) + INNER_UDP + L2TP_DATA_HEADER_MAX + PPP_HEADER;
            assert!(OUTER_IPV4 + OUTER_UDP + sa.packet_len(frame) <= usize::from(mtu));
        }
        // Silly paths are held to the floor and the ceiling.
        assert_eq!(ppp_mru(100, &sa(Encryption::AesCbc, 16, Integrity::HmacSha1_96)), MIN_MRU);
        assert_eq!(ppp_mru(9000, &sa(Encryption::AesCbc, 16, Integrity::HmacSha1_96)), MAX_MRU);
        assert_eq!(mss_for_mtu(1394), 1354);
    }
}

//! The data path's raw-ESP demultiplexer (no sockets, no root): ESP that arrived as IP
//! protocol 50 reaches only connections negotiated without UDP encapsulation, their
//! answers are marked for the raw socket, and everything else (another connection's or
//! an unknown SPI, SPI 0, truncated or forged packets, replays, arbitrary bytes) is
//! refused without effect.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use common::{Lac, lns_config};
use l2sec::ipsec_lns::{ConnId, IpsecLns, IpsecLnsError, L2tpPeer, Received};
use l2sec_esp::{self as esp, Encryption, Integrity, Mode, OutboundSa, SaParams};
use l2sec_ppp::AuthMethod;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const RAW_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const UDP_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20));

fn sa(spi: u32, key: u8) -> SaParams {
    SaParams::new(spi, Mode::Transport, Encryption::AesGcm16, Integrity::None, &[key; 20], &[])
}

/// A server with connection 1 (plain ESP, IKE from RAW_PEER:500) and connection 2 (ESP
/// in UDP from UDP_PEER:4500); the clients' outbound SAs (0x1001, 0x1002).
fn server() -> (IpsecLns<ChaCha20Rng>, OutboundSa, OutboundSa) {
    let mut s = IpsecLns::new(
        lns_config("198.51.100.0/24", vec![AuthMethod::MsChapV2], SERVER),
        ChaCha20Rng::seed_from_u64(7),
        false,
    );
    s.install_child_sa(ConnId(1), SocketAddr::new(RAW_PEER, 500), &sa(0x1001, 1), &sa(0x2001, 2)).unwrap();
    s.set_udp_encapsulated(ConnId(1), false);
    s.install_child_sa(ConnId(2), SocketAddr::new(UDP_PEER, 4500), &sa(0x1002, 3), &sa(0x2002, 4)).unwrap();
    (s, OutboundSa::new(&sa(0x1001, 1)).unwrap(), OutboundSa::new(&sa(0x1002, 3)).unwrap())
}

/// An L2TP datagram in UDP 1701 -> 1701 in ESP.
fn seal(tx: &mut OutboundSa, l2tp: &[u8]) -> Vec<u8> {
    let head = tx.headroom() + 8;
    let mut buf = vec![0u8; head + l2tp.len() + tx.tailroom()];
    buf[head - 8..head - 6].copy_from_slice(&1701u16.to_be_bytes());
    buf[head - 6..head - 4].copy_from_slice(&1701u16.to_be_bytes());
    buf[head - 4..head - 2].copy_from_slice(&((8 + l2tp.len()) as u16).to_be_bytes());
    buf[head..head + l2tp.len()].copy_from_slice(l2tp);
    tx.encapsulate(&mut buf, head - 8..head + l2tp.len(), 17).unwrap().to_vec()
}

fn unknown_spi(r: Result<Received<'_>, IpsecLnsError>, spi: u32) {
    match r {
        Err(IpsecLnsError::Esp(esp::Error::UnknownSpi(s))) => assert_eq!(s, spi),
        other => panic!("expected unknown SPI {spi:#x}, got {other:?}"),
    }
}

#[test]
fn raw_esp_reaches_only_raw_connections_and_answers_go_raw() {
    let now = Instant::now();
    let (mut s, mut tx_raw, mut tx_udp) = server();
    let mut lac = Lac::new(now, 1);
    let sccrq = lac.outgoing(now).remove(0);

    // Connection 1's SCCRQ as protocol 50: accepted, and the SCCRP goes back raw.
    let mut p = seal(&mut tx_raw, &sccrq);
    let replay = p.clone();
    match s.handle_esp(now, RAW_PEER, &mut p).unwrap() {
        Received::Control { peer: L2tpPeer::Ipsec { conn, port } } => {
            assert_eq!((conn, port), (ConnId(1), 1701))
        }
        other => panic!("{other:?}"),
    }
    let mut buf = Vec::new();
    let t = s.poll_transmit(now, &mut buf).expect("SCCRP");
    assert!(t.raw_esp && !t.plaintext, "{t:?}");
    assert_eq!(t.destination.ip(), RAW_PEER);
    assert_eq!(&buf[t.start..t.start + 4], &0x2001u32.to_be_bytes(), "the client's SPI first");

    // A replay of it is refused (RFC 4303 §3.4.3) and sends nothing.
    let mut r = replay;
    assert!(matches!(s.handle_esp(now, RAW_PEER, &mut r), Err(IpsecLnsError::Esp(_))));
    assert!(s.poll_transmit(now, &mut buf).is_none());

    // Connection 2 is ESP in UDP: its packets are not taken from the raw socket...
    let mut lac2 = Lac::new(now, 2);
    let sccrq2 = lac2.outgoing(now).remove(0);
    let mut p2 = seal(&mut tx_udp, &sccrq2);
    unknown_spi(s.handle_esp(now, UDP_PEER, &mut p2.clone()), 0x1002);
    // ...but from UDP/4500, answered in UDP.
    assert!(matches!(
        s.handle_udp4500(now, SocketAddr::new(UDP_PEER, 4500), &mut p2).unwrap(),
        Received::Control { .. }
    ));
    let t = s.poll_transmit(now, &mut buf).expect("SCCRP for connection 2");
    assert!(!t.raw_esp && !t.plaintext, "{t:?}");
    assert_eq!(t.destination, SocketAddr::new(UDP_PEER, 4500));
}

#[test]
fn unknown_zero_truncated_and_forged_packets_are_refused() {
    let now = Instant::now();
    let (mut s, mut tx_raw, _) = server();
    // Our own outbound SPI (seen on loopback) and a stranger's: unknown.
    let mut own = [0x00, 0x00, 0x20, 0x01, 0, 0, 0, 1, 9, 9, 9, 9];
    unknown_spi(s.handle_esp(now, RAW_PEER, &mut own), 0x2001);
    let mut stranger = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 9, 9, 9, 9];
    unknown_spi(s.handle_esp(now, RAW_PEER, &mut stranger), 0xdead_beef);
    let mut zero = [0u8; 16];
    unknown_spi(s.handle_esp(now, RAW_PEER, &mut zero), 0);
    for len in 0..8 {
        let mut short = vec![0x00, 0x00, 0x10, 0x01, 0, 0, 0, 1][..len].to_vec();
        assert!(s.handle_esp(now, RAW_PEER, &mut short).is_err(), "{len} bytes");
    }
    // A forged ICV: refused, and the genuine packet still gets through afterwards.
    let mut lac = Lac::new(now, 3);
    let sccrq = lac.outgoing(now).remove(0);
    let good = seal(&mut tx_raw, &sccrq);
    let mut forged = good.clone();
    *forged.last_mut().unwrap() ^= 1;
    assert!(matches!(s.handle_esp(now, RAW_PEER, &mut forged), Err(IpsecLnsError::Esp(_))));
    let mut buf = Vec::new();
    assert!(s.poll_transmit(now, &mut buf).is_none());
    assert!(s.handle_esp(now, RAW_PEER, &mut good.clone()).is_ok());
    assert!(s.poll_transmit(now, &mut buf).is_some_and(|t| t.raw_esp));
}

proptest! {
    /// Arbitrary bytes from the raw socket never panic and never produce a transmit.
    #[test]
    fn arbitrary_raw_packets_change_nothing(mut bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let now = Instant::now();
        let (mut s, _, _) = server();
        // Aim some at the known SPIs, so that decryption is reached too.
        if bytes.len() >= 4 && bytes[0] & 1 == 1 {
            bytes[..4].copy_from_slice(&0x1001u32.to_be_bytes());
        }
        prop_assert!(s.handle_esp(now, RAW_PEER, &mut bytes).is_err());
        let mut buf = Vec::new();
        prop_assert!(s.poll_transmit(now, &mut buf).is_none());
    }
}

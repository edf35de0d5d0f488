//! Main Mode then Quick Mode between our initiator and responder on a virtual clock.

use std::time::{Duration, Instant};

use l2sec_ike::Error;
use l2sec_ike::child::{EspEncapsulation, EspEncryption, EspIntegrity, EspMode};
use l2sec_ike::v1::phase1::{Identity, Phase1, Phase1Config};
use l2sec_ike::v1::quick::{
    EspProposal, IsakmpContext, QuickMode, QuickModeConfig, QuickModeEvent, QuickModeState, TrafficSelector,
};
use l2sec_ike::wire::v1::IdType;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Qm = QuickMode<ChaCha20Rng>;

/// Runs Main Mode to completion and returns both ISAKMP contexts.
fn phase1(now: Instant) -> (IsakmpContext, IsakmpContext) {
    let cfg = |id| Phase1Config::new(b"psk", Identity::fqdn(id));
    let mut i = Phase1::initiate(cfg("i"), ChaCha20Rng::seed_from_u64(10), now).unwrap();
    let mut r = Phase1::respond(cfg("r"), ChaCha20Rng::seed_from_u64(11), now);
    for _ in 0..6 {
        let mut buf = Vec::new();
        if i.poll_transmit(now, &mut buf).is_some() {
            r.handle_input(now, &buf).unwrap();
        }
        buf.clear();
        if r.poll_transmit(now, &mut buf).is_some() {
            i.handle_input(now, &buf).unwrap();
        }
    }
    (i.isakmp_context().unwrap(), r.isakmp_context().unwrap())
}

fn l2tp_config(encapsulation: EspEncapsulation) -> QuickModeConfig {
    QuickModeConfig {
        proposals: vec![
            EspProposal {
                encryption: EspEncryption::AesCbc { key_len: 32 },
                integrity: EspIntegrity::HmacSha256_128,
                lifetime: Duration::from_secs(3600),
            },
            EspProposal {
                encryption: EspEncryption::AesCbc { key_len: 16 },
                integrity: EspIntegrity::HmacSha1_96,
                lifetime: Duration::from_secs(3600),
            },
        ],
        mode: EspMode::Transport,
        encapsulation,
        traffic_selectors: Some((
            TrafficSelector { id_type: IdType::Ipv4Addr, protocol: 17, port: 1701, data: vec![192, 0, 2, 1] },
            TrafficSelector { id_type: IdType::Ipv4Addr, protocol: 17, port: 1701, data: vec![192, 0, 2, 2] },
        )),
        retransmit_timeout: Duration::from_secs(1),
        max_retransmits: 3,
        pfs_group: None,
        nat_oa: None,
    }
}

fn send(q: &mut Qm, now: Instant) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    q.poll_transmit(now, &mut buf).map(|_| buf)
}

fn established(q: &mut Qm) -> (l2sec_ike::child::ChildSa, Option<(TrafficSelector, TrafficSelector)>) {
    match q.poll_event() {
        Some(QuickModeEvent::Established { child, traffic_selectors, .. }) => (*child, traffic_selectors),
        other => panic!("expected Established, got {other:?}"),
    }
}

#[test]
fn l2tp_transport_sa_pair() {
    let now = Instant::now();
    let (ci, cr) = phase1(now);
    let cfg = l2tp_config(EspEncapsulation::None);
    let mut qi = Qm::initiate(ci, cfg.clone(), ChaCha20Rng::seed_from_u64(20), now).unwrap();
    let m1 = send(&mut qi, now).unwrap();
    let mut qr = Qm::respond(cr, cfg.clone(), ChaCha20Rng::seed_from_u64(21), now, &m1).unwrap();
    assert_eq!(qr.message_id(), qi.message_id());
    let m2 = send(&mut qr, now).unwrap();
    qi.handle_input(now, &m2).unwrap();
    let m3 = send(&mut qi, now).unwrap();
    assert_eq!(qr.state(), QuickModeState::SentSecond);
    assert!(qr.poll_event().is_none(), "responder waits for HASH(3)");
    qr.handle_input(now, &m3).unwrap();
    let (a, tsa) = established(&mut qi);
    let (b, tsb) = established(&mut qr);
    // Mirror images: what one sends with, the other receives with.
    assert_eq!(a.spi_in, b.spi_out);
    assert_eq!(a.spi_out, b.spi_in);
    assert_eq!(a.keys_out, b.keys_in);
    assert_eq!(a.keys_in, b.keys_out);
    assert_ne!(a.keys_in, a.keys_out);
    assert_eq!(a.encryption, EspEncryption::AesCbc { key_len: 32 });
    assert_eq!(a.integrity, EspIntegrity::HmacSha256_128);
    assert_eq!(a.keys_out.encryption.len(), 32);
    assert_eq!(a.keys_out.integrity.len(), 32);
    assert_eq!(a.mode, EspMode::Transport);
    assert_eq!(tsa, tsb);
    assert_eq!(tsa.unwrap().0.port, 1701);
    assert_eq!(qi.poll_timeout(), None);
    assert_eq!(qr.poll_timeout(), None);

    // The negotiated SAs carry ESP both ways through l2sec-esp.
    let (a_in, a_out) = a.esp_params().unwrap();
    let (b_in, b_out) = b.esp_params().unwrap();
    for (tx, rx) in [(&a_out, &b_in), (&b_out, &a_in)] {
        let mut sender = l2sec_esp::OutboundSa::new(tx).unwrap();
        let mut receiver = l2sec_esp::InboundSa::new(rx).unwrap();
        let udp = [0x06, 0xa5, 0x06, 0xa5, 0, 12, 0, 0, 0xc8, 0x02, 0, 0];
        let head = sender.headroom();
        let mut buf = vec![0u8; head + udp.len() + sender.tailroom()];
        buf[head..head + udp.len()].copy_from_slice(&udp);
        let packet = sender.encapsulate(&mut buf, head..head + udp.len(), 17).unwrap();
        assert_eq!(&packet[..4], &tx.spi.to_be_bytes());
        let opened = receiver.decapsulate(packet).unwrap();
        assert_eq!((opened.next_header, &opened.payload[..]), (17, &udp[..]));
    }
}

/// The responder only accepts what it has configured (here: AES-128/SHA1 only, so the
/// initiator's second transform is chosen).
#[test]
fn responder_picks_its_acceptable_transform() {
    let now = Instant::now();
    let (ci, cr) = phase1(now);
    let icfg = l2tp_config(EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 });
    let mut rcfg = icfg.clone();
    rcfg.proposals.remove(0);
    let mut qi = Qm::initiate(ci, icfg, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let m1 = send(&mut qi, now).unwrap();
    let mut qr = Qm::respond(cr.clone(), rcfg, ChaCha20Rng::seed_from_u64(2), now, &m1).unwrap();
    qi.handle_input(now, &send(&mut qr, now).unwrap()).unwrap();
    qr.handle_input(now, &send(&mut qi, now).unwrap()).unwrap();
    let (a, _) = established(&mut qi);
    let (b, _) = established(&mut qr);
    assert_eq!(a.encryption, EspEncryption::AesCbc { key_len: 16 });
    assert_eq!(b.integrity, EspIntegrity::HmacSha1_96);
    assert_eq!(a.keys_out, b.keys_in);
    // A responder wanting tunnel mode refuses the transport-mode offer.
    let mut tunnel = l2tp_config(EspEncapsulation::None);
    tunnel.mode = EspMode::Tunnel;
    assert_eq!(
        Qm::respond(cr, tunnel, ChaCha20Rng::seed_from_u64(3), now, &m1).unwrap_err(),
        Error::NoProposalChosen
    );
}

/// Lost HASH(2): the initiator retransmits HASH(1), the responder answers the repeat.
/// Lost HASH(3): the responder retransmits HASH(2), the initiator answers the repeat.
#[test]
fn retransmissions_recover_lost_messages() {
    let now = Instant::now();
    let (ci, cr) = phase1(now);
    let cfg = l2tp_config(EspEncapsulation::None);
    let mut qi = Qm::initiate(ci, cfg.clone(), ChaCha20Rng::seed_from_u64(5), now).unwrap();
    let m1 = send(&mut qi, now).unwrap();
    let mut qr = Qm::respond(cr, cfg, ChaCha20Rng::seed_from_u64(6), now, &m1).unwrap();
    let _lost_m2 = send(&mut qr, now).unwrap();
    let t1 = qi.poll_timeout().unwrap();
    assert_eq!(t1, now + Duration::from_secs(1));
    qi.handle_timeout(t1);
    let again = send(&mut qi, t1).unwrap();
    assert_eq!(again, m1);
    qr.handle_input(t1, &again).unwrap();
    let m2 = send(&mut qr, t1).unwrap();
    qi.handle_input(t1, &m2).unwrap();
    let _lost_m3 = send(&mut qi, t1).unwrap();
    let t2 = qr.poll_timeout().unwrap();
    qr.handle_timeout(t2);
    let m2_again = send(&mut qr, t2).unwrap();
    assert_eq!(m2_again, m2);
    qi.handle_input(t2, &m2_again).unwrap();
    let m3 = send(&mut qi, t2).unwrap();
    qr.handle_input(t2, &m3).unwrap();
    let (a, _) = established(&mut qi);
    let (b, _) = established(&mut qr);
    assert_eq!(a.keys_out, b.keys_in);
}

#[test]
fn tampered_messages_are_dropped() {
    let now = Instant::now();
    let (ci, cr) = phase1(now);
    let cfg = l2tp_config(EspEncapsulation::None);
    let mut qi = Qm::initiate(ci, cfg.clone(), ChaCha20Rng::seed_from_u64(7), now).unwrap();
    let m1 = send(&mut qi, now).unwrap();
    let mut bad = m1.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(Qm::respond(cr.clone(), cfg.clone(), ChaCha20Rng::seed_from_u64(8), now, &bad).is_err());
    let mut qr = Qm::respond(cr, cfg, ChaCha20Rng::seed_from_u64(8), now, &m1).unwrap();
    let m2 = send(&mut qr, now).unwrap();
    for i in [30, m2.len() - 17, m2.len() - 1] {
        let mut bad = m2.clone();
        bad[i] ^= 0x40;
        assert!(qi.handle_input(now, &bad).is_err(), "byte {i}");
        assert_eq!(qi.state(), QuickModeState::SentFirst);
    }
    qi.handle_input(now, &m2).unwrap();
    let m3 = send(&mut qi, now).unwrap();
    let mut bad = m3.clone();
    bad[40] ^= 1;
    assert!(qr.handle_input(now, &bad).is_err());
    assert_eq!(qr.state(), QuickModeState::SentSecond);
    qr.handle_input(now, &m3).unwrap();
    assert_eq!(qr.state(), QuickModeState::Established);
}

#[test]
fn gives_up_after_retries() {
    let now = Instant::now();
    let (ci, _) = phase1(now);
    let mut qi =
        Qm::initiate(ci, l2tp_config(EspEncapsulation::None), ChaCha20Rng::seed_from_u64(9), now).unwrap();
    let mut t = now;
    while let Some(next) = qi.poll_timeout() {
        t = next;
        qi.handle_timeout(t);
        let _ = send(&mut qi, t);
    }
    assert_eq!(qi.state(), QuickModeState::Failed);
    assert_eq!(qi.poll_event(), Some(QuickModeEvent::Failed(Error::Timeout)));
    assert_eq!(t, now + Duration::from_secs(1 + 2 + 4 + 8));
}

/// PFS: both sides run an extra ECP-256 exchange and the keys mirror each other (that
/// charon derives the same PFS KEYMAT is checked by the interop tests). A responder that
/// does not want PFS (or wants another group) refuses.
#[test]
fn pfs_keys_mirror_and_mismatches_are_refused() {
    use l2sec_ike::crypto::DhGroup;
    let now = Instant::now();
    let (ci, cr) = phase1(now);
    let mut cfg = l2tp_config(EspEncapsulation::None);
    cfg.pfs_group = Some(DhGroup::Ecp256);
    let mut qi = Qm::initiate(ci, cfg.clone(), ChaCha20Rng::seed_from_u64(30), now).unwrap();
    let m1 = send(&mut qi, now).unwrap();
    for (group, name) in [(None, "no PFS"), (Some(DhGroup::Modp2048), "other group")] {
        let mut other = cfg.clone();
        other.pfs_group = group;
        assert_eq!(
            Qm::respond(cr.clone(), other, ChaCha20Rng::seed_from_u64(31), now, &m1).unwrap_err(),
            Error::NoProposalChosen,
            "{name}"
        );
    }
    let mut qr = Qm::respond(cr, cfg, ChaCha20Rng::seed_from_u64(31), now, &m1).unwrap();
    qi.handle_input(now, &send(&mut qr, now).unwrap()).unwrap();
    qr.handle_input(now, &send(&mut qi, now).unwrap()).unwrap();
    let (a, _) = established(&mut qi);
    let (b, _) = established(&mut qr);
    assert_eq!(a.keys_out, b.keys_in);
    assert_eq!(a.keys_in, b.keys_out);
}

/// RFC 3947 §5.2: NAT-OA payloads travel both ways (transport mode behind a NAT) and
/// reach the owners in initiator-then-responder order.
#[test]
fn nat_oa_is_exchanged() {
    use l2sec_ike::v1::quick::NatOa;
    use std::net::IpAddr;
    let now = Instant::now();
    let (ci, cr) = phase1(now);
    let client: IpAddr = "10.0.0.2".parse().unwrap();
    let server: IpAddr = "192.0.2.2".parse().unwrap();
    let seen_client: IpAddr = "198.51.100.7".parse().unwrap();
    let mut icfg = l2tp_config(EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 });
    icfg.nat_oa = Some(NatOa { local: client, remote: server, draft: false });
    let mut rcfg = icfg.clone();
    rcfg.nat_oa = Some(NatOa { local: server, remote: seen_client, draft: true });
    let mut qi = Qm::initiate(ci, icfg, ChaCha20Rng::seed_from_u64(40), now).unwrap();
    let m1 = send(&mut qi, now).unwrap();
    let mut qr = Qm::respond(cr, rcfg, ChaCha20Rng::seed_from_u64(41), now, &m1).unwrap();
    qi.handle_input(now, &send(&mut qr, now).unwrap()).unwrap();
    qr.handle_input(now, &send(&mut qi, now).unwrap()).unwrap();
    let oa = |q: &mut Qm| match q.poll_event() {
        Some(QuickModeEvent::Established { peer_original_addresses, .. }) => peer_original_addresses,
        other => panic!("{other:?}"),
    };
    assert_eq!(oa(&mut qr), [client, server], "what the initiator declared");
    assert_eq!(oa(&mut qi), [seen_client, server], "what the responder declared");
}

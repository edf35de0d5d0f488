//! IKEv2 IKE_SA_INIT + IKE_AUTH (PSK): our initiator and responder wired back to back on a
//! virtual clock.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use l2sec_ike::Error;
use l2sec_ike::child::{ChildSa, EspEncapsulation, EspEncryption, EspIntegrity, EspMode};
use l2sec_ike::crypto::DhGroup;
use l2sec_ike::v2::ike_sa::{Event, Identity, IkeSa, IkeSaConfig, NatStatus, State, Transmit};
use l2sec_ike::v2::keys::IkeSuite;
use l2sec_ike::wire::v2::{ExchangeType, Message, TrafficSelector};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Sa = IkeSa<ChaCha20Rng>;

const CLIENT: &str = "192.0.2.1:500";
const SERVER: &str = "192.0.2.2:500";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn configs(psk_i: &[u8], psk_r: &[u8]) -> (IkeSaConfig, IkeSaConfig) {
    let mut i = IkeSaConfig::new(psk_i, Identity::fqdn("client.example"), addr(CLIENT), addr(SERVER));
    let mut r = IkeSaConfig::new(psk_r, Identity::fqdn("server.example"), addr(SERVER), addr(CLIENT));
    // No lifetimes here, so an idle established pair has no deadline (rekeying by
    // lifetime is tested in ikev2_rekey_pair.rs).
    for c in [&mut i, &mut r] {
        c.ike_lifetime = None;
        c.child.lifetime.time = None;
    }
    (i, r)
}

fn pair(now: Instant, i: IkeSaConfig, r: IkeSaConfig) -> (Sa, Sa) {
    (
        IkeSa::initiate(i, ChaCha20Rng::seed_from_u64(1), now).unwrap(),
        IkeSa::respond(r, ChaCha20Rng::seed_from_u64(2), now),
    )
}

fn drain(m: &mut Sa, now: Instant) -> Vec<(Vec<u8>, Transmit)> {
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        match m.poll_transmit(now, &mut buf) {
            Some(t) => {
                assert_eq!(t.size, buf.len());
                out.push((buf, t));
            }
            None => return out,
        }
    }
}

fn events(m: &mut Sa) -> Vec<Event> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

/// What crossed the link.
#[derive(Default)]
struct Link {
    /// Every datagram sent, in order, with its sender (true: initiator).
    sent: Vec<(bool, Vec<u8>, Transmit)>,
    /// When the initiator transmitted.
    initiator_times: Vec<Instant>,
}

/// Runs both machines; `fate(n)` gives how many copies of the n-th datagram arrive
/// (0: lost, 2: duplicated). Idle link: the clock jumps to the next deadline.
fn run(i: &mut Sa, r: &mut Sa, mut now: Instant, fate: impl Fn(usize) -> usize) -> Link {
    let mut link = Link::default();
    for _ in 0..200 {
        let mut idle = true;
        for (d, t) in drain(i, now) {
            idle = false;
            link.sent.push((true, d.clone(), t));
            link.initiator_times.push(now);
            for _ in 0..fate(link.sent.len()) {
                let _ = r.handle_input(now, &d);
            }
        }
        for (d, t) in drain(r, now) {
            idle = false;
            link.sent.push((false, d.clone(), t));
            for _ in 0..fate(link.sent.len()) {
                let _ = i.handle_input(now, &d);
            }
        }
        if idle {
            let done = |m: &Sa| matches!(m.state(), State::Established | State::Failed);
            if done(i) && done(r) {
                break;
            }
            let Some(next) = [i.poll_timeout(), r.poll_timeout()].into_iter().flatten().min() else { break };
            now = now.max(next);
            i.handle_timeout(now);
            r.handle_timeout(now);
        }
    }
    link
}

struct Up {
    child: ChildSa,
    suite: IkeSuite,
    peer_id: Identity,
    nat: NatStatus,
    local_ts: Vec<TrafficSelector<'static>>,
    remote_ts: Vec<TrafficSelector<'static>>,
}

fn established(m: &mut Sa) -> Up {
    assert_eq!(m.state(), State::Established);
    let mut ev = events(m);
    assert_eq!(ev.len(), 1, "exactly one event: {ev:?}");
    match ev.remove(0) {
        Event::Established { child, suite, peer_id, nat, local_ts, remote_ts, .. } => {
            Up { child, suite, peer_id, nat, local_ts, remote_ts }
        }
        other => panic!("not established: {other:?}"),
    }
}

fn failed(m: &mut Sa) -> Error {
    assert_eq!(m.state(), State::Failed);
    let ev = events(m);
    match ev.as_slice() {
        [Event::Failed(e)] => e.clone(),
        other => panic!("expected one failure, got {other:?}"),
    }
}

/// The two Child SAs mirror each other and carry ESP both ways through l2sec-esp.
fn assert_mirror_and_carry_esp(a: &ChildSa, b: &ChildSa) {
    assert_eq!(a.spi_in, b.spi_out);
    assert_eq!(a.spi_out, b.spi_in);
    assert_eq!(a.keys_in, b.keys_out);
    assert_eq!(a.keys_out, b.keys_in);
    assert_ne!(a.keys_in, a.keys_out);
    assert_eq!((a.encryption, a.integrity, a.mode), (b.encryption, b.integrity, b.mode));
    let (a_in, a_out) = a.esp_params().unwrap();
    let (b_in, b_out) = b.esp_params().unwrap();
    for (tx, rx) in [(&a_out, &b_in), (&b_out, &a_in)] {
        let mut sender = l2sec_esp::OutboundSa::new(tx).unwrap();
        let mut receiver = l2sec_esp::InboundSa::new(rx).unwrap();
        let udp = [0x06, 0xa5, 0x06, 0xa5, 0, 12, 0, 0, 0xc8, 0x02, 0, 0];
        // Transport mode carries the UDP datagram, tunnel mode a whole IPv4 packet.
        let (payload, next_header) = match a.mode {
            EspMode::Transport => (udp.to_vec(), 17),
            EspMode::Tunnel => {
                let mut ip = vec![0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 10, 2, 0, 5, 10, 1, 0, 1];
                ip.extend_from_slice(&udp);
                (ip, 4)
            }
        };
        let head = sender.headroom();
        let mut buf = vec![0u8; head + payload.len() + sender.tailroom()];
        buf[head..head + payload.len()].copy_from_slice(&payload);
        let packet = sender.encapsulate(&mut buf, head..head + payload.len(), next_header).unwrap();
        assert_eq!(&packet[..4], &tx.spi.to_be_bytes());
        let opened = receiver.decapsulate(packet).unwrap();
        assert_eq!((opened.next_header, &opened.payload[..]), (next_header, &payload[..]));
    }
}

#[test]
fn handshake_establishes_mirror_image_child_sas() {
    let now = Instant::now();
    let (ic, rc) = configs(b"a secret", b"a secret");
    let (mut i, mut r) = pair(now, ic, rc);
    let link = run(&mut i, &mut r, now, |_| 1);
    let kinds: Vec<(bool, ExchangeType, u32)> = link
        .sent
        .iter()
        .map(|(from_i, d, _)| {
            let h = Message::parse(d).unwrap().header;
            (*from_i, h.exchange_type, h.message_id)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (true, ExchangeType::IkeSaInit, 0),
            (false, ExchangeType::IkeSaInit, 0),
            (true, ExchangeType::IkeAuth, 1),
            (false, ExchangeType::IkeAuth, 1),
        ]
    );
    assert!(link.sent.iter().all(|(_, _, t)| !t.udp_encapsulated));
    let a = established(&mut i);
    let b = established(&mut r);
    assert_eq!(a.peer_id, Identity::fqdn("server.example"));
    assert_eq!(b.peer_id, Identity::fqdn("client.example"));
    assert_eq!(a.suite, IkeSuite::aes128_sha256(DhGroup::Modp2048));
    assert_eq!(a.suite, b.suite);
    assert_eq!(i.keys(), r.keys());
    assert_eq!(a.child.encryption, EspEncryption::AesCbc { key_len: 16 });
    assert_eq!(a.child.integrity, EspIntegrity::HmacSha256_128);
    assert_eq!(a.child.mode, EspMode::Transport);
    assert_eq!(a.child.encapsulation, EspEncapsulation::None);
    // L2TP selectors: UDP/1701 on both hosts, seen from each side.
    let host = |s: &str, port| {
        let IpAddr::V4(ip) = addr(s).ip() else { unreachable!() };
        TrafficSelector::ipv4_host(ip, 17, Some(port))
    };
    assert_eq!(a.local_ts, [host(CLIENT, 1701)]);
    assert_eq!(a.remote_ts, [host(SERVER, 1701)]);
    assert_eq!((b.local_ts.clone(), b.remote_ts.clone()), (a.remote_ts.clone(), a.local_ts.clone()));
    assert_eq!(a.nat, NatStatus::default());
    assert_mirror_and_carry_esp(&a.child, &b.child);
    assert_eq!(i.poll_timeout(), None);
    assert_eq!(r.poll_timeout(), None);
}

/// Each offered IKE and ESP transform set works on its own (the responder accepts only
/// that one).
#[test]
fn every_suite_and_esp_transform() {
    let esp = [
        (EspEncryption::AesCbc { key_len: 32 }, EspIntegrity::HmacSha256_128),
        (EspEncryption::AesGcm16 { key_len: 16 }, EspIntegrity::None),
    ];
    let suites = [
        IkeSuite::aes256_sha256(DhGroup::Modp2048),
        IkeSuite::aes128_sha256(DhGroup::Ecp256),
        IkeSuite::aes128_sha256(DhGroup::Curve25519),
        IkeSuite::aes_gcm16(16, DhGroup::Modp2048),
        IkeSuite::aes_gcm16(32, DhGroup::Curve25519),
    ];
    for (n, suite) in suites.into_iter().enumerate() {
        let now = Instant::now();
        let (mut ic, mut rc) = configs(b"k", b"k");
        // The initiator offers the suite first so no INVALID_KE_PAYLOAD round is needed.
        ic.proposals.retain(|s| *s != suite);
        ic.proposals.insert(0, suite);
        rc.proposals = vec![suite];
        rc.child.proposals = vec![esp[n % 2]];
        let (mut i, mut r) = pair(now, ic, rc);
        let link = run(&mut i, &mut r, now, |_| 1);
        assert_eq!(link.sent.len(), 4, "{suite:?}");
        let a = established(&mut i);
        let b = established(&mut r);
        assert_eq!(a.suite, suite);
        assert_eq!(b.suite, suite);
        assert_eq!((a.child.encryption, a.child.integrity), esp[n % 2]);
        assert_mirror_and_carry_esp(&a.child, &b.child);
    }
}

/// Tunnel mode: the initiator asks for everything, the responder narrows to its
/// configured subnets (RFC 7296 §2.9).
#[test]
fn tunnel_mode_with_traffic_selector_narrowing() {
    let now = Instant::now();
    let (mut ic, mut rc) = configs(b"k", b"k");
    let net = |a: [u8; 4], b: [u8; 4]| TrafficSelector::Ipv4 {
        ip_protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start: Ipv4Addr::from(a),
        end: Ipv4Addr::from(b),
    };
    ic.child.mode = EspMode::Tunnel;
    ic.child.local_ts = vec![TrafficSelector::IPV4_ANY];
    ic.child.remote_ts = vec![TrafficSelector::IPV4_ANY];
    rc.child.mode = EspMode::Tunnel;
    rc.child.local_ts = vec![net([10, 1, 0, 0], [10, 1, 255, 255])];
    rc.child.remote_ts = vec![net([10, 2, 0, 5], [10, 2, 0, 5])];
    let (mut i, mut r) = pair(now, ic, rc);
    run(&mut i, &mut r, now, |_| 1);
    let a = established(&mut i);
    let b = established(&mut r);
    assert_eq!(a.child.mode, EspMode::Tunnel);
    assert_eq!(a.local_ts, [net([10, 2, 0, 5], [10, 2, 0, 5])]);
    assert_eq!(a.remote_ts, [net([10, 1, 0, 0], [10, 1, 255, 255])]);
    assert_eq!(b.local_ts, a.remote_ts);
    assert_mirror_and_carry_esp(&a.child, &b.child);
}

/// RFC 7296 §1.2: a refused first Child SA leaves both sides with an authenticated IKE SA
/// and no Child SA; that IKE SA still works (here: it is deleted cleanly).
fn assert_ike_sa_without_child(i: &mut Sa, r: &mut Sa, now: Instant) {
    for (m, peer) in [(&mut *i, "server.example"), (&mut *r, "client.example")] {
        assert_eq!(m.state(), State::Established);
        match events(m).as_slice() {
            [Event::EstablishedWithoutChild { peer_id, refused, .. }] => {
                assert_eq!(*peer_id, Identity::fqdn(peer));
                assert_eq!(*refused, Error::NoProposalChosen);
            }
            other => panic!("expected an IKE SA without Child SA, got {other:?}"),
        }
    }
    i.delete(now).unwrap();
    for (d, _) in drain(i, now) {
        r.handle_input(now, &d).unwrap();
    }
    for (d, _) in drain(r, now) {
        i.handle_input(now, &d).unwrap();
    }
    assert_eq!((events(i), events(r)), (vec![Event::Closed], vec![Event::Closed]));
}

/// Transport wanted by the initiator, tunnel only at the responder: no Child SA.
#[test]
fn mode_mismatch_is_refused() {
    let now = Instant::now();
    let (ic, mut rc) = configs(b"k", b"k");
    rc.child.mode = EspMode::Tunnel;
    let (mut i, mut r) = pair(now, ic, rc);
    run(&mut i, &mut r, now, |_| 1);
    assert_ike_sa_without_child(&mut i, &mut r, now);
}

/// Disjoint selectors: TS_UNACCEPTABLE.
#[test]
fn disjoint_traffic_selectors_are_refused() {
    let now = Instant::now();
    let (ic, mut rc) = configs(b"k", b"k");
    rc.child.remote_ts = vec![TrafficSelector::ipv4_host(Ipv4Addr::new(198, 51, 100, 1), 17, Some(1701))];
    let (mut i, mut r) = pair(now, ic, rc);
    run(&mut i, &mut r, now, |_| 1);
    assert_ike_sa_without_child(&mut i, &mut r, now);
}

#[test]
fn wrong_psk_fails_cleanly_with_authentication_failed() {
    let now = Instant::now();
    let (ic, rc) = configs(b"the client's key", b"the server's key");
    let (mut i, mut r) = pair(now, ic, rc);
    let link = run(&mut i, &mut r, now, |_| 1);
    assert_eq!(link.sent.len(), 4, "the responder answers AUTHENTICATION_FAILED");
    assert_eq!(failed(&mut r), Error::AuthenticationFailed);
    assert_eq!(failed(&mut i), Error::AuthenticationFailed);
    assert_eq!(i.poll_timeout(), None);
    assert_eq!(r.poll_timeout(), None);
    // Nothing more happens afterwards.
    assert!(i.handle_input(now, &link.sent[3].1).is_err());
    assert!(drain(&mut i, now).is_empty());
}

/// Only the responder's PSK differs from what the initiator verifies with: the responder
/// authenticates the initiator, then the initiator refuses the responder's AUTH.
#[test]
fn responder_auth_is_verified_too() {
    let now = Instant::now();
    let (ic, rc) = configs(b"k1", b"k1");
    let (mut i, mut r) = pair(now, ic, rc);
    // Let the responder see a correct IKE_AUTH, then corrupt the initiator's view by
    // replaying the exchange with a second initiator that has another key.
    let mut link = Vec::new();
    for (d, _) in drain(&mut i, now) {
        r.handle_input(now, &d).unwrap();
    }
    for (d, _) in drain(&mut r, now) {
        i.handle_input(now, &d).unwrap();
        link.push(d);
    }
    let auth_req = drain(&mut i, now).remove(0).0;
    r.handle_input(now, &auth_req).unwrap();
    assert_eq!(r.state(), State::Established);
    let auth_resp = drain(&mut r, now).remove(0).0;
    // The same responder message, checked by an initiator with the other key.
    let (ic2, rc2) = configs(b"k2", b"k1");
    let (mut i2, _) = pair(now, ic2, rc2);
    for d in &link {
        i2.handle_input(now, d).unwrap();
    }
    assert_eq!(i2.state(), State::AuthSent);
    assert_eq!(i2.handle_input(now, &auth_resp).unwrap_err(), Error::AuthenticationFailed);
    assert_eq!(failed(&mut i2), Error::AuthenticationFailed);
    i.handle_input(now, &auth_resp).unwrap();
    established(&mut i);
}

#[test]
fn no_common_proposal_fails_with_no_proposal_chosen() {
    let now = Instant::now();
    let (mut ic, mut rc) = configs(b"k", b"k");
    ic.proposals = vec![IkeSuite::aes128_sha256(DhGroup::Modp2048)];
    rc.proposals = vec![IkeSuite::aes_gcm16(32, DhGroup::Modp2048)];
    let (mut i, mut r) = pair(now, ic, rc);
    let request = drain(&mut i, now).remove(0).0;
    assert_eq!(r.handle_input(now, &request).unwrap_err(), Error::NoProposalChosen);
    assert_eq!(r.state(), State::AwaitingInit, "the responder keeps no state");
    assert!(r.poll_event().is_none());
    let answer = drain(&mut r, now).remove(0).0;
    assert_eq!(Message::parse(&answer).unwrap().header.responder_spi, [0; 8]);
    assert_eq!(i.handle_input(now, &answer).unwrap_err(), Error::NoProposalChosen);
    assert_eq!(failed(&mut i), Error::NoProposalChosen);
}

/// RFC 7296 §1.2: the responder wants another group; the initiator starts again with it.
#[test]
fn invalid_ke_payload_retry_with_requested_group() {
    let now = Instant::now();
    let (mut ic, mut rc) = configs(b"k", b"k");
    ic.proposals =
        vec![IkeSuite::aes128_sha256(DhGroup::Modp2048), IkeSuite::aes128_sha256(DhGroup::Curve25519)];
    rc.proposals = vec![IkeSuite::aes128_sha256(DhGroup::Curve25519)];
    let (mut i, mut r) = pair(now, ic, rc);
    let link = run(&mut i, &mut r, now, |_| 1);
    assert_eq!(link.sent.len(), 6);
    let second = Message::parse(&link.sent[1].1).unwrap();
    assert_eq!(second.header.responder_spi, [0; 8]);
    let a = established(&mut i);
    let b = established(&mut r);
    assert_eq!(a.suite.group, DhGroup::Curve25519);
    assert_mirror_and_carry_esp(&a.child, &b.child);
}

/// Any single lost datagram is recovered by the initiator's retransmission (and the
/// responder's replay of its stored response).
#[test]
fn lost_messages_recover_via_retransmission() {
    for lost in 1..=4 {
        let now = Instant::now();
        let (ic, rc) = configs(b"k", b"k");
        let (mut i, mut r) = pair(now, ic, rc);
        let link = run(&mut i, &mut r, now, |n| usize::from(n != lost));
        // A lost request is sent once more; a lost response costs the request again
        // and the stored response again.
        let expected = if lost % 2 == 1 { 5 } else { 6 };
        assert_eq!(link.sent.len(), expected, "lost #{lost}");
        // The retransmission went out one retransmit timeout later, byte for byte.
        let initiator: Vec<_> = link.sent.iter().filter(|s| s.0).map(|s| &s.1).collect();
        let times = &link.initiator_times;
        if lost <= 2 {
            assert_eq!(initiator[0], initiator[1]);
            assert_eq!(times[1] - times[0], Duration::from_secs(1));
        } else {
            assert_eq!(initiator[1], initiator[2]);
            assert_eq!(times[2] - times[1], Duration::from_secs(1));
        }
        if lost % 2 == 0 {
            // The responder replayed its stored response byte for byte.
            let responder: Vec<_> = link.sent.iter().filter(|s| !s.0).map(|s| &s.1).collect();
            let k = lost / 2 - 1;
            assert_eq!(responder[k], responder[k + 1]);
        }
        let a = established(&mut i);
        let b = established(&mut r);
        assert_mirror_and_carry_esp(&a.child, &b.child);
    }
}

/// Every datagram delivered twice: the duplicates change nothing (one event each side).
#[test]
fn duplicated_messages_are_harmless() {
    let now = Instant::now();
    let (ic, rc) = configs(b"k", b"k");
    let (mut i, mut r) = pair(now, ic, rc);
    run(&mut i, &mut r, now, |_| 2);
    let a = established(&mut i);
    let b = established(&mut r);
    assert_mirror_and_carry_esp(&a.child, &b.child);
}

/// A silent responder: retransmissions back off exponentially, then the initiator gives
/// up with a timeout.
#[test]
fn silent_peer_times_out_with_backoff() {
    let now = Instant::now();
    let (mut ic, rc) = configs(b"k", b"k");
    ic.handshake_timeout = Duration::from_secs(600);
    let (mut i, mut r) = pair(now, ic, rc);
    let link = run(&mut i, &mut r, now, |_| 0);
    let gaps: Vec<u64> = link.initiator_times.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert_eq!(gaps, [1, 2, 4, 8, 16]);
    assert_eq!(failed(&mut i), Error::Timeout);
}

/// RFC 7296 §2.23: the initiator's address is translated. Both sides notice, IKE_AUTH
/// moves to port 4500, ESP is UDP-encapsulated.
#[test]
fn nat_detection_floats_to_4500() {
    let now = Instant::now();
    let (mut ic, mut rc) = configs(b"k", b"k");
    ic.local = addr("10.0.0.2:500");
    ic.child.local_ts = vec![TrafficSelector::ipv4_host(Ipv4Addr::new(10, 0, 0, 2), 17, Some(1701))];
    rc.remote = addr("198.51.100.7:31000");
    rc.child.remote_ts = vec![TrafficSelector::IPV4_ANY];
    let (mut i, mut r) = pair(now, ic, rc);
    let link = run(&mut i, &mut r, now, |_| 1);
    let encap: Vec<bool> = link.sent.iter().map(|s| s.2.udp_encapsulated).collect();
    assert_eq!(encap, [false, false, true, true]);
    let a = established(&mut i);
    let b = established(&mut r);
    assert_eq!(a.nat, NatStatus { local_behind_nat: true, remote_behind_nat: false });
    assert_eq!(b.nat, NatStatus { local_behind_nat: false, remote_behind_nat: true });
    let udp = EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 };
    assert_eq!((a.child.encapsulation, b.child.encapsulation), (udp, udp));
    assert_mirror_and_carry_esp(&a.child, &b.child);
}

/// Forced encapsulation without a NAT (strongSwan's `encap = yes`).
#[test]
fn forced_encapsulation() {
    let now = Instant::now();
    let (mut ic, rc) = configs(b"k", b"k");
    ic.force_encapsulation = true;
    let (mut i, mut r) = pair(now, ic, rc);
    let link = run(&mut i, &mut r, now, |_| 1);
    assert!(link.sent[2].2.udp_encapsulated);
    assert!(established(&mut i).nat.local_behind_nat);
    assert!(established(&mut r).nat.remote_behind_nat);
}

/// The four datagrams of a clean handshake.
fn clean_exchange() -> Vec<Vec<u8>> {
    let now = Instant::now();
    let (ic, rc) = configs(b"k", b"k");
    let (mut i, mut r) = pair(now, ic, rc);
    run(&mut i, &mut r, now, |_| 1).sent.into_iter().map(|s| s.1).collect()
}

/// Machines in every handshake state, replayed deterministically from the seeds.
fn machines_at(step: usize, now: Instant) -> (Sa, Sa) {
    let (ic, rc) = configs(b"k", b"k");
    let (mut i, mut r) = pair(now, ic, rc);
    for n in 0..step {
        if n % 2 == 0 {
            for (d, _) in drain(&mut i, now) {
                r.handle_input(now, &d).unwrap();
            }
        } else {
            for (d, _) in drain(&mut r, now) {
                i.handle_input(now, &d).unwrap();
            }
        }
    }
    let _ = events(&mut i);
    let _ = events(&mut r);
    (i, r)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary datagrams never panic and never move either machine, in any state.
    #[test]
    fn arbitrary_datagrams_never_advance(step in 0usize..5, data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let now = Instant::now();
        let (mut i, mut r) = machines_at(step, now);
        let (si, sr) = (i.state(), r.state());
        let (ki, kr) = (i.keys().cloned(), r.keys().cloned());
        let _ = i.handle_input(now, &data);
        let _ = r.handle_input(now, &data);
        prop_assert_eq!((i.state(), r.state()), (si, sr));
        prop_assert_eq!((i.keys().cloned(), r.keys().cloned()), (ki, kr));
        prop_assert!(i.poll_event().is_none() && r.poll_event().is_none());
    }

    /// Protected messages with any byte changed are dropped (integrity), and the genuine
    /// message still completes the handshake afterwards.
    #[test]
    fn tampered_ike_auth_is_dropped(which in 2usize..4, at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let now = Instant::now();
        let genuine = clean_exchange();
        let (mut i, mut r) = machines_at(which, now);
        let mut bad = genuine[which].clone();
        let at = at.index(bad.len());
        bad[at] ^= 1 << bit;
        let target = if which == 2 { &mut r } else { &mut i };
        let before = target.state();
        prop_assert!(target.handle_input(now, &bad).is_err());
        prop_assert_eq!(target.state(), before);
        prop_assert!(target.poll_event().is_none());
        target.handle_input(now, &genuine[which]).unwrap();
        prop_assert_eq!(target.state(), State::Established);
    }
}

/// Seals an INFORMATIONAL request carrying `payloads` as the given side would send it.
fn informational(
    sa: &Sa,
    from_initiator: bool,
    message_id: u32,
    payloads: &[l2sec_ike::wire::v2::Payload<'_>],
) -> Vec<u8> {
    use l2sec_ike::wire::v2::{ChainBuilder, Flags, Header};
    let (spi_i, spi_r) = sa.spis();
    let flags = if from_initiator { Flags::INITIATOR } else { Flags(0) };
    let header = Header::new(spi_i, spi_r, ExchangeType::Informational, flags, message_id);
    let mut inner = Vec::new();
    let mut c = ChainBuilder::new(&mut inner);
    for p in payloads {
        c.push(p).unwrap();
    }
    let first = c.finish();
    let keys = sa.keys().unwrap();
    let suite = IkeSuite::aes128_sha256(DhGroup::Modp2048);
    l2sec_ike::v2::keys::seal(
        &suite,
        keys.sender(from_initiator),
        &header,
        first,
        &inner,
        &mut ChaCha20Rng::seed_from_u64(9),
    )
    .unwrap()
}

/// Opens a response to an INFORMATIONAL request; returns its inner payloads' Delete SPIs.
fn open_informational_response(
    sa: &Sa,
    datagram: &[u8],
    from_initiator: bool,
    message_id: u32,
) -> Vec<Vec<u8>> {
    use l2sec_ike::wire::v2::{Payload, PayloadIter};
    let m = Message::parse(datagram).unwrap();
    assert_eq!(m.header.exchange_type, ExchangeType::Informational);
    assert_eq!(m.header.message_id, message_id);
    assert!(m.header.flags.response());
    assert_eq!(m.header.flags.initiator(), from_initiator);
    let suite = IkeSuite::aes128_sha256(DhGroup::Modp2048);
    let opened = l2sec_ike::v2::keys::open(&suite, sa.keys().unwrap().sender(from_initiator), &m).unwrap();
    PayloadIter::new(opened.first_inner, &opened.chain)
        .filter_map(|p| match p.unwrap().parse().unwrap() {
            Payload::Delete(d) => Some(d.spis().flat_map(|s| s.to_vec()).collect()),
            _ => None,
        })
        .collect()
}

/// RFC 7296 §1.4: once established, the peer's INFORMATIONAL requests are answered in
/// Message ID order: an empty liveness check, a Child SA Delete (answered with our half),
/// a repeat (answered again), and the IKE SA Delete, which closes the SA.
#[test]
fn informational_requests_are_answered_and_delete_closes() {
    use l2sec_ike::wire::v2::{Delete, Payload, ProtocolId};
    let now = Instant::now();
    let (ic, rc) = configs(b"k", b"k");
    let (mut i, mut r) = pair(now, ic, rc);
    run(&mut i, &mut r, now, |_| 1);
    let a = established(&mut i);
    let b = established(&mut r);

    // Liveness check from the responder (its first request: Message ID 0).
    let check = informational(&r, false, 0, &[]);
    i.handle_input(now, &check).unwrap();
    let answer = drain(&mut i, now);
    assert_eq!(answer.len(), 1);
    assert!(open_informational_response(&i, &answer[0].0, true, 0).is_empty());
    assert!(i.poll_event().is_none());
    // The same request again: the same answer, nothing else.
    i.handle_input(now, &check).unwrap();
    assert_eq!(drain(&mut i, now)[0].0, answer[0].0);
    // A Message ID out of the window is refused.
    assert!(i.handle_input(now, &informational(&r, false, 5, &[])).is_err());
    assert!(drain(&mut i, now).is_empty());

    // From the initiator to the responder: IKE_AUTH was 1, so the next is 2.
    r.handle_input(now, &informational(&i, true, 2, &[])).unwrap();
    let answer = drain(&mut r, now);
    assert!(open_informational_response(&r, &answer[0].0, false, 2).is_empty());

    // The responder deletes the Child SA: its inbound SPI is our outbound one.
    let spi = b.child.spi_in.to_be_bytes();
    let del = Delete::child_sas(ProtocolId::Esp, &spi).unwrap();
    i.handle_input(now, &informational(&r, false, 1, &[Payload::Delete(del)])).unwrap();
    let answer = drain(&mut i, now);
    assert_eq!(
        open_informational_response(&i, &answer[0].0, true, 1),
        [a.child.spi_in.to_be_bytes().to_vec()]
    );
    assert_eq!(events(&mut i), [Event::ChildDeleted { spi_in: a.child.spi_in }]);

    // Then the IKE SA.
    let bye = informational(&r, false, 2, &[Payload::Delete(Delete::IKE_SA)]);
    i.handle_input(now, &bye).unwrap();
    let answer = drain(&mut i, now);
    assert!(open_informational_response(&i, &answer[0].0, true, 2).is_empty());
    assert_eq!(events(&mut i), [Event::Closed]);
    assert_eq!(i.state(), State::Closed);
    // A lost answer is sent again; anything else is refused.
    i.handle_input(now, &bye).unwrap();
    assert_eq!(drain(&mut i, now)[0].0, answer[0].0);
    assert!(i.handle_input(now, &informational(&r, false, 3, &[])).is_err());
}

/// RFC 7296 §2.6: a responder under load answers with a COOKIE; the initiator repeats its
/// request unchanged with the cookie in front, and the handshake goes on from there.
#[test]
fn cookie_is_echoed_in_front_of_the_unchanged_request() {
    use l2sec_ike::wire::v2::{Flags, Header, MessageBuilder, Notify, NotifyType, Payload, PayloadType};
    let now = Instant::now();
    let (ic, rc) = configs(b"k", b"k");
    let (mut i, mut r) = pair(now, ic, rc);
    let first = drain(&mut i, now).remove(0).0;
    let (spi_i, _) = i.spis();
    let cookie_response = |cookie: &[u8]| {
        let mut out = Vec::new();
        let header = Header::new(spi_i, [0; 8], ExchangeType::IkeSaInit, Flags::RESPONSE, 0);
        let mut b = MessageBuilder::new(&mut out, &header);
        b.push(&Payload::Notify(Notify::new(NotifyType::Cookie, cookie))).unwrap();
        b.finish().unwrap();
        out
    };
    i.handle_input(now, &cookie_response(&[7; 16])).unwrap();
    assert_eq!(i.state(), State::InitSent);
    let second = drain(&mut i, now).remove(0).0;
    let m = Message::parse(&second).unwrap();
    assert_eq!(m.header.next_payload, PayloadType::Notify);
    let cookie = m.payloads().next().unwrap().unwrap().parse().unwrap();
    assert_eq!(cookie, Payload::Notify(Notify::new(NotifyType::Cookie, &[7; 16])));
    // Everything after the 24-byte COOKIE notification is the first request's chain.
    assert_eq!(&second[28 + 24..], &first[28..]);
    // The same cookie again is not a reason to send once more.
    assert!(i.handle_input(now, &cookie_response(&[7; 16])).is_err());
    assert!(drain(&mut i, now).is_empty());
    r.handle_input(now, &second).unwrap();
    run(&mut i, &mut r, now, |_| 1);
    let a = established(&mut i);
    let b = established(&mut r);
    assert_mirror_and_carry_esp(&a.child, &b.child);
}

/// RFC 7296 §2.5: an IKE_SA_INIT request with an unknown critical payload is refused with
/// UNSUPPORTED_CRITICAL_PAYLOAD naming its type; the responder keeps no state. The same
/// payload without the critical bit is ignored.
#[test]
fn unknown_critical_payload_is_refused() {
    use l2sec_ike::wire::v2::{MessageRepr, NotifyType, Payload, PayloadRepr};
    let now = Instant::now();
    let (ic, rc) = configs(b"k", b"k");
    let (mut i, mut r) = pair(now, ic, rc);
    let request = drain(&mut i, now).remove(0).0;
    let with_unknown = |critical: bool| {
        let mut repr = MessageRepr::parse(&request).unwrap();
        let mut unknown = PayloadRepr::new(Payload::Unknown { payload_type: 200, body: &[1, 2, 3] });
        unknown.critical = critical;
        repr.payloads.push(unknown);
        let mut out = Vec::new();
        repr.encode(&mut out).unwrap();
        out
    };
    assert!(r.handle_input(now, &with_unknown(true)).is_err());
    assert_eq!(r.state(), State::AwaitingInit);
    let answer = drain(&mut r, now).remove(0).0;
    let m = Message::parse(&answer).unwrap();
    let notify = m.payloads().next().unwrap().unwrap().parse().unwrap();
    let Payload::Notify(n) = notify else { panic!("not a notification: {notify:?}") };
    assert_eq!((n.notify_type, n.data), (NotifyType::UnsupportedCriticalPayload, &[200u8][..]));
    r.handle_input(now, &with_unknown(false)).unwrap();
    assert_eq!(r.state(), State::InitReplied);
}

fn established_pair(now: Instant) -> (Sa, Sa) {
    let (ic, rc) = configs(b"k", b"k");
    let (mut i, mut r) = pair(now, ic, rc);
    run(&mut i, &mut r, now, |_| 1);
    established(&mut i);
    established(&mut r);
    (i, r)
}

/// RFC 7296 §1.4.1: either side deletes the IKE SA; both end Closed.
#[test]
fn delete_from_either_side_closes_both() {
    for initiator_deletes in [true, false] {
        let now = Instant::now();
        let (mut i, mut r) = established_pair(now);
        let (a, b) = if initiator_deletes { (&mut i, &mut r) } else { (&mut r, &mut i) };
        a.delete(now).unwrap();
        assert!(a.delete(now).is_err(), "window size 1");
        let request = drain(a, now).remove(0).0;
        let h = Message::parse(&request).unwrap().header;
        assert_eq!(h.exchange_type, ExchangeType::Informational);
        // The initiator's next request is 2 (after IKE_SA_INIT and IKE_AUTH); the
        // responder's first is 0.
        assert_eq!(h.message_id, if initiator_deletes { 2 } else { 0 });
        b.handle_input(now, &request).unwrap();
        assert_eq!(events(b), [Event::Closed]);
        let answer = drain(b, now).remove(0).0;
        a.handle_input(now, &answer).unwrap();
        assert_eq!(events(a), [Event::Closed]);
        assert_eq!((a.state(), b.state()), (State::Closed, State::Closed));
        assert_eq!(a.poll_timeout(), None);
    }
}

/// A Delete nobody answers still closes the SA once the retransmissions are used up.
#[test]
fn unanswered_delete_closes_after_retransmissions() {
    let now = Instant::now();
    let (mut i, _r) = established_pair(now);
    i.delete(now).unwrap();
    let mut sent = drain(&mut i, now).len();
    let mut t = now;
    while let Some(next) = i.poll_timeout() {
        t = next;
        i.handle_timeout(t);
        sent += drain(&mut i, t).len();
    }
    assert_eq!(sent, 6, "the request and 5 retransmissions");
    assert_eq!(events(&mut i), [Event::Closed]);
    assert_eq!(t - now, Duration::from_secs(1 + 2 + 4 + 8 + 16 + 32));
}

/// RFC 7296 §2.4: a liveness check is answered and changes nothing; the peer's own
/// request is answered while ours is outstanding; a dead peer fails the SA.
#[test]
fn liveness_checks_and_dead_peer() {
    let now = Instant::now();
    let (mut i, mut r) = established_pair(now);
    i.check_liveness(now).unwrap();
    let ours = drain(&mut i, now).remove(0).0;
    // Meanwhile the responder checks on us; we answer despite our own outstanding request.
    r.check_liveness(now).unwrap();
    let theirs = drain(&mut r, now).remove(0).0;
    i.handle_input(now, &theirs).unwrap();
    let answer_to_r = drain(&mut i, now);
    assert_eq!(answer_to_r.len(), 1);
    r.handle_input(now, &answer_to_r[0].0).unwrap();
    r.handle_input(now, &ours).unwrap();
    let answer_to_i = drain(&mut r, now).remove(0).0;
    i.handle_input(now, &answer_to_i).unwrap();
    // A duplicate answer is refused and changes nothing.
    assert!(i.handle_input(now, &answer_to_i).is_err());
    assert_eq!((i.poll_timeout(), r.poll_timeout()), (None, None));
    assert!(events(&mut i).is_empty() && events(&mut r).is_empty());
    assert_eq!((i.state(), r.state()), (State::Established, State::Established));
    // Again, and this time the responder is gone.
    i.check_liveness(now).unwrap();
    let mut sent = drain(&mut i, now).len();
    while let Some(t) = i.poll_timeout() {
        i.handle_timeout(t);
        sent += drain(&mut i, t).len();
    }
    assert_eq!(sent, 6, "the request and 5 retransmissions");
    assert_eq!(failed(&mut i), Error::Timeout);
}

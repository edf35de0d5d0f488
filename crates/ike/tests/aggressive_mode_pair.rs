//! Aggressive Mode PSK between our initiator and responder on a virtual clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2sec_ike::v1::phase1::{Event, Identity, NatTraversal, Phase1, Phase1Config, State};
use l2sec_ike::wire::v1::ExchangeType;
use l2sec_ike::{Error, ErrorKind};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type P1 = Phase1<ChaCha20Rng>;

fn config(psk: &[u8], id: &str) -> Phase1Config {
    let mut c = Phase1Config::new(psk, Identity::fqdn(id));
    c.proposals.truncate(1);
    c.allow_aggressive = true;
    c
}

fn pair(now: Instant, ic: Phase1Config, rc: Phase1Config) -> (P1, P1) {
    let i = Phase1::initiate_aggressive(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let r = Phase1::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
    (i, r)
}

fn next(m: &mut P1, now: Instant) -> Option<(Vec<u8>, bool)> {
    let mut buf = Vec::new();
    m.poll_transmit(now, &mut buf).map(|t| (buf, t.udp_encapsulated))
}

fn established(m: &mut P1) -> Identity {
    match m.poll_event() {
        Some(Event::Established { peer_id, .. }) => peer_id,
        other => panic!("{other:?}"),
    }
}

fn same_keys(i: &P1, r: &P1) {
    let (ki, kr) = (i.keys().unwrap(), r.keys().unwrap());
    assert_eq!(ki.skeyid_d(), kr.skeyid_d());
    assert_eq!(ki.encryption_key(), kr.encryption_key());
    let (ci, cr) = (i.isakmp_context().unwrap(), r.isakmp_context().unwrap());
    assert_eq!(ci.phase1_iv, cr.phase1_iv);
    assert_eq!(ci.cookies, cr.cookies);
}

#[test]
fn three_messages() {
    let now = Instant::now();
    let (mut i, mut r) = pair(now, config(b"psk", "client"), config(b"psk", "server"));
    assert_eq!(i.exchange_type(), ExchangeType::Aggressive);
    let (am1, _) = next(&mut i, now).unwrap();
    r.handle_input(now, &am1).unwrap();
    assert_eq!(r.exchange_type(), ExchangeType::Aggressive);
    let (am2, _) = next(&mut r, now).unwrap();
    i.handle_input(now, &am2).unwrap();
    assert_eq!(i.state(), State::Established, "the initiator is done after AM2");
    let (am3, _) = next(&mut i, now).unwrap();
    assert_eq!(am3[19] & 1, 1, "AM3 is encrypted");
    assert_eq!(r.state(), State::SentSaReply);
    r.handle_input(now, &am3).unwrap();
    assert_eq!(established(&mut i), Identity::fqdn("server"));
    assert_eq!(established(&mut r), Identity::fqdn("client"));
    same_keys(&i, &r);
    // Only the lifetime timers remain (rekey at 90 % of 8 h): no retransmission pending.
    for m in [&i, &r] {
        assert!(m.poll_timeout().unwrap() > Instant::now() + Duration::from_secs(7 * 3600));
    }
}

#[test]
fn lost_am2_and_lost_am3_recover() {
    let now = Instant::now();
    let (mut i, mut r) = pair(now, config(b"psk", "client"), config(b"psk", "server"));
    let (am1, _) = next(&mut i, now).unwrap();
    r.handle_input(now, &am1).unwrap();
    let _lost_am2 = next(&mut r, now).unwrap();
    // The initiator's timer resends AM1; the responder answers the repeat with AM2.
    let t = i.poll_timeout().unwrap();
    i.handle_timeout(t);
    let (again, _) = next(&mut i, t).unwrap();
    assert_eq!(again, am1);
    r.handle_input(t, &again).unwrap();
    let (am2, _) = next(&mut r, t).unwrap();
    i.handle_input(t, &am2).unwrap();
    let _lost_am3 = next(&mut i, t).unwrap();
    // The responder's timer resends AM2; the established initiator answers with AM3.
    let t2 = r.poll_timeout().unwrap();
    r.handle_timeout(t2);
    let (am2_again, _) = next(&mut r, t2).unwrap();
    assert_eq!(am2_again, am2);
    i.handle_input(t2, &am2_again).unwrap();
    let (am3, _) = next(&mut i, t2).unwrap();
    r.handle_input(t2, &am3).unwrap();
    established(&mut i);
    established(&mut r);
    same_keys(&i, &r);
}

#[test]
fn wrong_psk_is_caught_by_the_initiator() {
    let now = Instant::now();
    let (mut i, mut r) = pair(now, config(b"right", "client"), config(b"wrong", "server"));
    let (am1, _) = next(&mut i, now).unwrap();
    r.handle_input(now, &am1).unwrap();
    let (am2, _) = next(&mut r, now).unwrap();
    assert_eq!(i.handle_input(now, &am2), Err(Error::AuthenticationFailed));
    assert_eq!(i.state(), State::SentSa);
    // Giving up reports the authentication failure.
    while let Some(t) = i.poll_timeout() {
        i.handle_timeout(t);
        let _ = next(&mut i, t);
    }
    match i.poll_event() {
        Some(Event::Failed(e)) => assert_eq!(e.kind(), ErrorKind::Authentication),
        other => panic!("{other:?}"),
    }
}

#[test]
fn responder_refuses_aggressive_mode_unless_allowed() {
    let now = Instant::now();
    let mut rc = config(b"psk", "server");
    rc.allow_aggressive = false;
    let (mut i, mut r) = pair(now, config(b"psk", "client"), rc);
    let (am1, _) = next(&mut i, now).unwrap();
    assert!(matches!(r.handle_input(now, &am1), Err(Error::UnexpectedMessage(_))));
    assert_eq!(r.state(), State::AwaitingSa);
}

#[test]
fn initiator_behind_nat_sends_am3_to_4500() {
    let now = Instant::now();
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    let mut ic = config(b"psk", "client");
    ic.nat_traversal = Some(NatTraversal {
        local: addr("10.0.0.2:500"),
        remote: addr("192.0.2.2:500"),
        force_encapsulation: false,
    });
    let mut rc = config(b"psk", "server");
    rc.nat_traversal = Some(NatTraversal {
        local: addr("192.0.2.2:500"),
        remote: addr("198.51.100.7:40000"),
        force_encapsulation: false,
    });
    let (mut i, mut r) = pair(now, ic, rc);
    let (am1, f1) = next(&mut i, now).unwrap();
    r.handle_input(now, &am1).unwrap();
    let (am2, f2) = next(&mut r, now).unwrap();
    i.handle_input(now, &am2).unwrap();
    let (am3, f3) = next(&mut i, now).unwrap();
    r.handle_input(now, &am3).unwrap();
    assert_eq!((f1, f2, f3), (false, false, true));
    assert!(i.nat_status().unwrap().local_behind_nat);
    assert!(r.nat_status().unwrap().remote_behind_nat);
    assert!(r.isakmp_context().unwrap().udp_encapsulated);
    same_keys(&i, &r);
}

#[test]
fn mixed_groups_are_a_configuration_error() {
    let mut c = Phase1Config::new(b"psk", Identity::fqdn("client"));
    c.proposals[1].group = l2sec_ike::crypto::DhGroup::Ecp256;
    assert!(matches!(
        Phase1::initiate_aggressive(c, ChaCha20Rng::seed_from_u64(1), Instant::now() + Duration::ZERO),
        Err(Error::Configuration(_))
    ));
}

#[test]
fn initial_contact_in_am3() {
    let now = Instant::now();
    let (mut i, mut r) = pair(now, config(b"psk", "client"), config(b"psk", "server"));
    let (am1, _) = next(&mut i, now).unwrap();
    r.handle_input(now, &am1).unwrap();
    let (am2, _) = next(&mut r, now).unwrap();
    i.handle_input(now, &am2).unwrap();
    let (am3, _) = next(&mut i, now).unwrap();
    r.handle_input(now, &am3).unwrap();
    assert!(matches!(r.poll_event(), Some(Event::Established { initial_contact: true, .. })));
}

//! Main Mode PSK: an initiator and a responder wired back to back on a virtual clock.

use std::time::{Duration, Instant};

use l2sec_ike::crypto::{CipherAlgorithm, DhGroup, PrfAlgorithm};
use l2sec_ike::v1::phase1::{Event, Identity, Phase1, Phase1Config, Phase1Proposal, Role, State};
use l2sec_ike::{Error, ErrorKind};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Mm = Phase1<ChaCha20Rng>;

fn config(psk: &[u8], id: &str) -> Phase1Config {
    Phase1Config::new(psk, Identity::fqdn(id))
}

fn pair(now: Instant, i_cfg: Phase1Config, r_cfg: Phase1Config) -> (Mm, Mm) {
    let i = Phase1::initiate(i_cfg, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let r = Phase1::respond(r_cfg, ChaCha20Rng::seed_from_u64(2), now);
    (i, r)
}

/// Everything one side wants to send right now.
fn drain(m: &mut Mm, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        match m.poll_transmit(now, &mut buf) {
            Some(t) => {
                assert_eq!(t.size, buf.len());
                out.push(buf);
            }
            None => return out,
        }
    }
}

fn events(m: &mut Mm) -> Vec<Event> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

/// Runs the exchange; `drop(n)` says whether the n-th datagram on the link is lost.
/// Advances the clock to the next deadline whenever the link is idle.
fn run(i: &mut Mm, r: &mut Mm, mut now: Instant, drop: impl Fn(usize) -> bool) -> (Instant, usize) {
    let mut sent = 0;
    for _ in 0..200 {
        let mut idle = true;
        for d in drain(i, now) {
            idle = false;
            sent += 1;
            if !drop(sent) {
                let _ = r.handle_input(now, &d);
            }
        }
        for d in drain(r, now) {
            idle = false;
            sent += 1;
            if !drop(sent) {
                let _ = i.handle_input(now, &d);
            }
        }
        if idle {
            let done = |m: &Mm| matches!(m.state(), State::Established | State::Failed);
            if done(i) && done(r) {
                break;
            }
            let next = [i.poll_timeout(), r.poll_timeout()].into_iter().flatten().min();
            let Some(next) = next else { break };
            now = now.max(next);
            i.handle_timeout(now);
            r.handle_timeout(now);
        }
    }
    (now, sent)
}

fn assert_established(i: &mut Mm, r: &mut Mm) {
    assert_eq!(i.state(), State::Established);
    assert_eq!(r.state(), State::Established);
    let ei = events(i);
    let er = events(r);
    assert!(
        matches!(&ei[..], [Event::Established { peer_id, .. }] if peer_id == &Identity::fqdn("responder.lab")),
        "{ei:?}"
    );
    assert!(
        matches!(&er[..], [Event::Established { peer_id, .. }] if peer_id == &Identity::fqdn("initiator.lab")),
        "{er:?}"
    );
    let (ki, kr) = (i.keys().unwrap(), r.keys().unwrap());
    assert_eq!(ki.skeyid_d(), kr.skeyid_d());
    assert_eq!(ki.skeyid_a(), kr.skeyid_a());
    assert_eq!(ki.encryption_key(), kr.encryption_key());
    assert_eq!(i.cookies(), r.cookies());
    // The phase-1 IV chains agree too, so Quick Mode can start from them.
    let (ci, cr) = (i.iv_chain().unwrap(), r.iv_chain().unwrap());
    assert_eq!(ci.iv_for(ki, 7), cr.iv_for(kr, 7));
    // Only the lifetime timers remain (rekey at 90 % of 8 h): no retransmission pending.
    for m in [&i, &r] {
        assert!(m.poll_timeout().unwrap() > Instant::now() + Duration::from_secs(7 * 3600));
    }
}

#[test]
fn handshake_on_a_perfect_link() {
    let now = Instant::now();
    let (mut i, mut r) = pair(
        now,
        config(b"lab-psk-0123456789", "initiator.lab"),
        config(b"lab-psk-0123456789", "responder.lab"),
    );
    assert_eq!(i.role(), Role::Initiator);
    assert_eq!(r.state(), State::AwaitingSa);
    let (end, sent) = run(&mut i, &mut r, now, |_| false);
    assert_eq!(sent, 6, "six Main Mode messages");
    assert_eq!(end, now, "no timer needed");
    assert_established(&mut i, &mut r);
}

#[test]
fn every_group_and_cipher_negotiates() {
    let now = Instant::now();
    for (encryption, hash, group) in [
        (CipherAlgorithm::TripleDesCbc, PrfAlgorithm::HmacMd5, DhGroup::Modp1024),
        (CipherAlgorithm::AesCbc192, PrfAlgorithm::HmacSha384, DhGroup::Ecp384),
        (CipherAlgorithm::AesCbc256, PrfAlgorithm::HmacSha512, DhGroup::Curve25519),
        (CipherAlgorithm::AesCbc128, PrfAlgorithm::HmacSha256, DhGroup::Ecp256),
    ] {
        let p = Phase1Proposal { encryption, hash, group, lifetime: Duration::from_secs(100_000) };
        let mut ic = config(b"k", "initiator.lab");
        ic.proposals = vec![p];
        let mut rc = config(b"k", "responder.lab");
        rc.proposals.push(p);
        let (mut i, mut r) = pair(now, ic, rc);
        run(&mut i, &mut r, now, |_| false);
        assert_eq!(i.keys().unwrap().cipher(), encryption);
        assert_eq!(i.keys().unwrap().prf(), hash);
        assert_established(&mut i, &mut r);
    }
}

/// Each of the six messages lost once in turn: retransmission (initiator timer, responder
/// answering a repeated request) still completes the exchange.
#[test]
fn survives_each_lost_message() {
    for lost in 1..=6 {
        let now = Instant::now();
        let (mut i, mut r) = pair(now, config(b"psk", "initiator.lab"), config(b"psk", "responder.lab"));
        let (end, sent) = run(&mut i, &mut r, now, |n| n == lost);
        assert!(end >= now + Duration::from_secs(1), "lost {lost}: a retransmission");
        assert!(sent >= 7, "lost {lost}");
        assert_established(&mut i, &mut r);
    }
}

#[test]
fn wrong_psk_fails_authentication() {
    let now = Instant::now();
    let (mut i, mut r) = pair(now, config(b"right", "initiator.lab"), config(b"wrong", "responder.lab"));
    let (end, _) = run(&mut i, &mut r, now, |_| false);
    // The responder drops every MM5 (its HASH_I cannot verify) and, when the exchange
    // gives up, reports the authentication failure; the initiator never hears back.
    assert_eq!(r.state(), State::Failed);
    let ev = events(&mut r);
    assert!(matches!(&ev[..], [Event::Failed(e)] if e.kind() == ErrorKind::Authentication), "{ev:?}");
    assert_eq!(i.state(), State::Failed);
    assert_eq!(events(&mut i), [Event::Failed(Error::Timeout)]);
    assert!(end <= now + Duration::from_secs(30), "handshake limit");
}

#[test]
fn no_common_proposal() {
    let now = Instant::now();
    let mut rc = config(b"psk", "responder.lab");
    rc.proposals = vec![Phase1Proposal {
        encryption: CipherAlgorithm::AesCbc256,
        hash: PrfAlgorithm::HmacSha512,
        group: DhGroup::Modp4096,
        lifetime: Duration::from_secs(3600),
    }];
    let (mut i, mut r) = pair(now, config(b"psk", "initiator.lab"), rc);
    let mm1 = drain(&mut i, now).pop().unwrap();
    assert_eq!(r.handle_input(now, &mm1), Err(Error::NoProposalChosen));
    assert_eq!(r.state(), State::AwaitingSa);
}

/// Garbage, truncations and bit flips of every genuine message are refused without
/// changing either side; the real messages then still complete the exchange.
#[test]
fn hostile_input_leaves_state_alone() {
    let now = Instant::now();
    let (mut i, mut r) = pair(now, config(b"psk", "initiator.lab"), config(b"psk", "responder.lab"));
    let mut to_r = drain(&mut i, now);
    for _ in 0..3 {
        let msg = to_r.pop().unwrap();
        for m in [&mut r] {
            let before = format!("{m:?}{:?}", m.state());
            assert!(m.handle_input(now, &[0u8; 3]).is_err());
            assert!(m.handle_input(now, &msg[..msg.len() - 1]).is_err());
            // Corruptions that make the message invalid (a flip elsewhere in an
            // unauthenticated MM1/MM3 can yield another valid message, which is fine):
            // first payload type, exchange type, first payload's length.
            for (at, mask) in [(16, 0x01), (18, 0x01), (30, 0xff)] {
                let mut bad = msg.clone();
                bad[at] ^= mask;
                assert!(m.handle_input(now, &bad).is_err(), "byte {at}");
            }
            assert_eq!(before, format!("{m:?}{:?}", m.state()));
        }
        r.handle_input(now, &msg).unwrap();
        let mut to_i = drain(&mut r, now);
        let reply = to_i.pop().unwrap();
        let before = format!("{i:?}{:?}", i.state());
        assert!(i.handle_input(now, &reply[..20]).is_err());
        let mut bad = reply.clone();
        bad[0] ^= 1; // someone else's cookie
        assert!(matches!(i.handle_input(now, &bad), Err(Error::UnexpectedMessage(_))));
        assert_eq!(before, format!("{i:?}{:?}", i.state()));
        i.handle_input(now, &reply).unwrap();
        to_r = drain(&mut i, now);
    }
    assert_established(&mut i, &mut r);
}

/// A corrupted (or forged) MM6 is dropped without ending the exchange; the genuine MM6
/// then completes it.
#[test]
fn corrupted_final_message_is_dropped_by_initiator() {
    let now = Instant::now();
    let (mut i, mut r) = pair(now, config(b"psk", "initiator.lab"), config(b"psk", "responder.lab"));
    for _ in 0..2 {
        for m in drain(&mut i, now) {
            r.handle_input(now, &m).unwrap();
        }
        for m in drain(&mut r, now) {
            i.handle_input(now, &m).unwrap();
        }
    }
    for m in drain(&mut i, now) {
        r.handle_input(now, &m).unwrap();
    }
    let mm6 = drain(&mut r, now).pop().unwrap();
    let mut bad = mm6.clone();
    let n = bad.len();
    bad[n - 20] ^= 0x80; // inside the ciphertext
    assert!(i.handle_input(now, &bad).is_err());
    assert_eq!(i.state(), State::SentId);
    assert!(events(&mut i).is_empty());
    i.handle_input(now, &mm6).unwrap();
    assert_established(&mut i, &mut r);
}

mod nat_traversal {
    use super::*;
    use l2sec_ike::v1::phase1::{NatStatus, NatTVariant, NatTraversal};
    use std::net::SocketAddr;

    fn natt(local: &str, remote: &str, force: bool) -> Option<NatTraversal> {
        Some(NatTraversal {
            local: local.parse::<SocketAddr>().unwrap(),
            remote: remote.parse::<SocketAddr>().unwrap(),
            force_encapsulation: force,
        })
    }

    /// Runs the exchange and returns, per message, whether it was sent UDP-encapsulated.
    fn exchange(i: &mut Mm, r: &mut Mm, now: Instant) -> Vec<bool> {
        let mut floated = Vec::new();
        for _ in 0..3 {
            let mut buf = Vec::new();
            let t = i.poll_transmit(now, &mut buf).unwrap();
            floated.push(t.udp_encapsulated);
            r.handle_input(now, &buf).unwrap();
            buf.clear();
            let t = r.poll_transmit(now, &mut buf).unwrap();
            floated.push(t.udp_encapsulated);
            i.handle_input(now, &buf).unwrap();
        }
        floated
    }

    fn nat_of(m: &mut Mm) -> Option<NatStatus> {
        match m.poll_event() {
            Some(Event::Established { nat, .. }) => nat,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_nat_between_public_addresses() {
        let now = Instant::now();
        let mut ic = config(b"psk", "initiator.lab");
        ic.nat_traversal = natt("192.0.2.1:500", "192.0.2.2:500", false);
        let mut rc = config(b"psk", "responder.lab");
        rc.nat_traversal = natt("192.0.2.2:500", "192.0.2.1:500", false);
        let (mut i, mut r) = pair(now, ic, rc);
        assert_eq!(exchange(&mut i, &mut r, now), [false; 6]);
        let none =
            NatStatus { variant: NatTVariant::Rfc3947, local_behind_nat: false, remote_behind_nat: false };
        assert_eq!(nat_of(&mut i), Some(none));
        assert_eq!(nat_of(&mut r), Some(none));
        assert!(!i.isakmp_context().unwrap().udp_encapsulated);
    }

    /// The initiator sits behind a NAT: it sees itself as 10.0.0.2:500, the responder
    /// sees it as 198.51.100.7:31000. Both detect it and MM5/MM6 move to port 4500.
    #[test]
    fn initiator_behind_nat_floats_to_4500() {
        let now = Instant::now();
        let mut ic = config(b"psk", "initiator.lab");
        ic.nat_traversal = natt("10.0.0.2:500", "192.0.2.2:500", false);
        let mut rc = config(b"psk", "responder.lab");
        rc.nat_traversal = natt("192.0.2.2:500", "198.51.100.7:31000", false);
        let (mut i, mut r) = pair(now, ic, rc);
        assert_eq!(exchange(&mut i, &mut r, now), [false, false, false, false, true, true]);
        let ni = nat_of(&mut i).unwrap();
        let nr = nat_of(&mut r).unwrap();
        assert!(ni.local_behind_nat && !ni.remote_behind_nat);
        assert!(!nr.local_behind_nat && nr.remote_behind_nat);
        assert!(i.isakmp_context().unwrap().udp_encapsulated);
        assert!(r.isakmp_context().unwrap().udp_encapsulated);
    }

    /// strongSwan's `encap = yes`: a bogus NAT-D for our own address.
    #[test]
    fn forced_encapsulation_looks_like_a_nat() {
        let now = Instant::now();
        let mut ic = config(b"psk", "initiator.lab");
        ic.nat_traversal = natt("192.0.2.1:500", "192.0.2.2:500", true);
        let mut rc = config(b"psk", "responder.lab");
        rc.nat_traversal = natt("192.0.2.2:500", "192.0.2.1:500", false);
        let (mut i, mut r) = pair(now, ic, rc);
        assert_eq!(exchange(&mut i, &mut r, now)[4..], [true, true]);
        assert!(nat_of(&mut r).unwrap().remote_behind_nat);
        assert!(nat_of(&mut i).unwrap().local_behind_nat);
    }

    /// A responder without NAT-T sends no Vendor ID back: no NAT-D, no floating.
    #[test]
    fn peer_without_nat_t() {
        let now = Instant::now();
        let mut ic = config(b"psk", "initiator.lab");
        ic.nat_traversal = natt("10.0.0.2:500", "192.0.2.2:500", false);
        let (mut i, mut r) = pair(now, ic, config(b"psk", "responder.lab"));
        assert_eq!(exchange(&mut i, &mut r, now), [false; 6]);
        assert_eq!(nat_of(&mut i), None);
        assert_eq!(nat_of(&mut r), None);
    }
}

/// INITIAL-CONTACT goes with MM5 (on by default) and reaches the responder's owner.
#[test]
fn initial_contact_reaches_the_responder() {
    for send in [true, false] {
        let now = Instant::now();
        let mut ic = config(b"psk", "initiator.lab");
        ic.initial_contact = send;
        let (mut i, mut r) = pair(now, ic, config(b"psk", "responder.lab"));
        run(&mut i, &mut r, now, |_| false);
        assert!(
            matches!(r.poll_event(), Some(Event::Established { initial_contact, .. }) if initial_contact == send)
        );
        assert!(matches!(i.poll_event(), Some(Event::Established { initial_contact: false, .. })));
    }
}

/// The ISAKMP SA's lifetime: RekeyDue at 90 %, Expired at 100 % (then it refuses input).
#[test]
fn lifetime_events() {
    let now = Instant::now();
    let mut ic = config(b"psk", "initiator.lab");
    for p in &mut ic.proposals {
        p.lifetime = Duration::from_secs(1000);
    }
    let (mut i, mut r) = pair(now, ic, config(b"psk", "responder.lab"));
    run(&mut i, &mut r, now, |_| false);
    let _ = events(&mut i);
    assert_eq!(i.poll_timeout(), Some(now + Duration::from_secs(900)));
    i.handle_timeout(now + Duration::from_secs(900));
    assert_eq!(events(&mut i), [Event::RekeyDue]);
    assert_eq!(i.state(), State::Established);
    assert_eq!(i.poll_timeout(), Some(now + Duration::from_secs(1000)));
    i.handle_timeout(now + Duration::from_secs(1000));
    assert_eq!(events(&mut i), [Event::Expired]);
    assert_eq!(i.state(), State::Expired);
    assert_eq!(i.poll_timeout(), None);
    assert!(i.isakmp_context().is_none());
    // The responder took the initiator's (shorter) lifetime too.
    let _ = events(&mut r);
    assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(900)));
}

//! Dead Peer Detection between two ends of one ISAKMP SA on a virtual clock.

use std::time::{Duration, Instant};

use l2sec_ike::v1::dpd::{Dpd, DpdConfig, DpdEvent};
use l2sec_ike::v1::info::{self, Informational};
use l2sec_ike::v1::phase1::{Event, Identity, Phase1, Phase1Config};
use l2sec_ike::v1::quick::IsakmpContext;
use l2sec_ike::wire::v1::ProtocolId;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type D = Dpd<ChaCha20Rng>;

fn phase1(now: Instant) -> (IsakmpContext, IsakmpContext) {
    let cfg = |id| Phase1Config::new(b"psk", Identity::fqdn(id));
    let mut i = Phase1::initiate(cfg("i"), ChaCha20Rng::seed_from_u64(10), now).unwrap();
    let mut r = Phase1::respond(cfg("r"), ChaCha20Rng::seed_from_u64(11), now);
    for _ in 0..3 {
        let mut buf = Vec::new();
        i.poll_transmit(now, &mut buf).unwrap();
        r.handle_input(now, &buf).unwrap();
        buf.clear();
        r.poll_transmit(now, &mut buf).unwrap();
        i.handle_input(now, &buf).unwrap();
    }
    for m in [&mut i, &mut r] {
        assert!(matches!(m.poll_event(), Some(Event::Established { peer_supports_dpd: true, .. })));
    }
    (i.isakmp_context().unwrap(), r.isakmp_context().unwrap())
}

fn config() -> DpdConfig {
    DpdConfig {
        idle: Duration::from_secs(10),
        retransmit_timeout: Duration::from_secs(2),
        max_retransmits: 3,
    }
}

fn out(d: &mut D, now: Instant) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    loop {
        let mut buf = Vec::new();
        if d.poll_transmit(now, &mut buf).is_none() {
            return v;
        }
        v.push(buf);
    }
}

#[test]
fn idle_peer_is_probed_and_answers() {
    let now = Instant::now();
    let (ci, cr) = phase1(now);
    let mut a = D::new(ci, config(), ChaCha20Rng::seed_from_u64(1), now);
    let mut b = D::new(cr, config(), ChaCha20Rng::seed_from_u64(2), now);
    assert_eq!(a.poll_timeout(), Some(now + Duration::from_secs(10)));
    // Traffic postpones the probe.
    a.traffic_seen(now + Duration::from_secs(5));
    assert_eq!(a.poll_timeout(), Some(now + Duration::from_secs(15)));
    let t = now + Duration::from_secs(15);
    a.handle_timeout(t);
    let probes = out(&mut a, t);
    assert_eq!(probes.len(), 1);
    assert!(b.handle_input(t, &probes[0]).unwrap().is_empty());
    let acks = out(&mut b, t);
    assert_eq!(acks.len(), 1);
    a.handle_input(t, &acks[0]).unwrap();
    assert_eq!(a.stats().acks_received, 1);
    assert_eq!(b.stats().requests_answered, 1);
    assert_eq!(a.poll_timeout(), Some(t + Duration::from_secs(10)));
    // A replayed probe is not answered again.
    b.handle_input(t, &probes[0]).unwrap();
    assert!(out(&mut b, t).is_empty());
    assert!(a.poll_event().is_none());
}

#[test]
fn silent_peer_is_declared_dead() {
    let now = Instant::now();
    let (ci, _) = phase1(now);
    let mut a = D::new(ci, config(), ChaCha20Rng::seed_from_u64(1), now);
    let mut t = now;
    let mut sent = 0;
    while let Some(next) = a.poll_timeout() {
        t = next;
        a.handle_timeout(t);
        sent += out(&mut a, t).len();
    }
    assert_eq!(sent, 4, "one probe and three retries");
    assert_eq!(a.stats().probes_sent, 4);
    assert_eq!(a.poll_event(), Some(DpdEvent::PeerDead));
    assert_eq!(t, now + Duration::from_secs(10 + 2 * 4));
    // Late traffic does not resurrect it.
    a.traffic_seen(t);
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn late_ack_of_a_retry_counts_and_deletes_pass_through() {
    let now = Instant::now();
    let (ci, cr) = phase1(now);
    let mut a = D::new(ci, config(), ChaCha20Rng::seed_from_u64(1), now);
    let mut b = D::new(cr.clone(), config(), ChaCha20Rng::seed_from_u64(2), now);
    let t1 = now + Duration::from_secs(10);
    a.handle_timeout(t1);
    let first = out(&mut a, t1).pop().unwrap();
    let t2 = t1 + Duration::from_secs(2);
    a.handle_timeout(t2);
    let _retry = out(&mut a, t2).pop().unwrap();
    // The peer answers the first probe late: still within this round.
    b.handle_input(t2, &first).unwrap();
    a.handle_input(t2, &out(&mut b, t2).pop().unwrap()).unwrap();
    assert_eq!(a.stats().acks_received, 1);
    assert_eq!(a.poll_timeout(), Some(t2 + Duration::from_secs(10)));
    // A delete is handed back to the owner.
    let delete = Informational::Delete { protocol_id: ProtocolId::IpsecEsp, spis: vec![vec![1, 2, 3, 4]] };
    let msg = info::encode(&cr, &delete, &mut ChaCha20Rng::seed_from_u64(9)).unwrap();
    assert_eq!(a.handle_input(t2, &msg).unwrap(), [delete]);
    // Garbage is refused without effect.
    assert!(a.handle_input(t2, &msg[..40]).is_err());
    assert_eq!(a.poll_timeout(), Some(t2 + Duration::from_secs(10)));
}

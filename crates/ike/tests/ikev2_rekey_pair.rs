//! IKEv2 on an established IKE SA: CREATE_CHILD_SA for more Child SAs, Child SA and IKE
//! SA rekeys (each side starting, and both at once), Delete of single Child SAs, local
//! lifetimes, INITIAL_CONTACT and the Configuration payload. Our initiator and responder
//! back to back on a virtual clock, over a link that loses, duplicates and reorders.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use l2sec_ike::child::{ChildSa, EspMode, Lifetime};
use l2sec_ike::crypto::DhGroup;
use l2sec_ike::v2::ike_sa::{
    ChildConfig, Event, Identity, IkeSa, IkeSaConfig, InternalConfig, MAX_CHILD_SAS, State,
};
use l2sec_ike::wire::v2::{ExchangeType, Message, TrafficSelector};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Sa = IkeSa<ChaCha20Rng>;

const CLIENT: &str = "192.0.2.1:500";
const SERVER: &str = "192.0.2.2:500";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn configs() -> (IkeSaConfig, IkeSaConfig) {
    let mut i = IkeSaConfig::new(b"psk", Identity::fqdn("client.example"), addr(CLIENT), addr(SERVER));
    let mut r = IkeSaConfig::new(b"psk", Identity::fqdn("server.example"), addr(SERVER), addr(CLIENT));
    for c in [&mut i, &mut r] {
        c.ike_lifetime = None;
        c.child.lifetime.time = None;
    }
    (i, r)
}

fn tunnel(local: [u8; 4], remote: [u8; 4], pfs: Option<DhGroup>) -> ChildConfig {
    let net = |a: [u8; 4]| TrafficSelector::Ipv4 {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start: Ipv4Addr::from(a),
        end: Ipv4Addr::from([a[0], a[1], a[2], 255]),
    };
    let mut c = ChildConfig::l2tp(addr(CLIENT).ip(), addr(SERVER).ip());
    c.mode = EspMode::Tunnel;
    c.local_ts = vec![net(local)];
    c.remote_ts = vec![net(remote)];
    c.pfs = pfs;
    c.lifetime = Lifetime { time: None, bytes: None };
    c
}

fn drain(m: &mut Sa, now: Instant) -> Vec<Vec<u8>> {
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

fn events(m: &mut Sa) -> Vec<Event> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

/// What happens to the n-th datagram on the link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    Deliver,
    Lose,
    Duplicate,
    /// Held back and delivered after the next datagram in the same direction.
    Delay,
}

/// Every datagram that crossed, in order: (from the initiator, bytes).
type Wire = Vec<(bool, Vec<u8>)>;

/// Runs both machines until nothing is sent and no deadline is due before `until`.
/// Returns the time reached.
fn run(
    i: &mut Sa,
    r: &mut Sa,
    mut now: Instant,
    until: Instant,
    wire: &mut Wire,
    fate: &dyn Fn(usize) -> Fate,
) -> Instant {
    let mut held: [Option<Vec<u8>>; 2] = [None, None];
    for _ in 0..2000 {
        let mut idle = true;
        for from_i in [true, false] {
            let (src, dst) = if from_i { (&mut *i, &mut *r) } else { (&mut *r, &mut *i) };
            for d in drain(src, now) {
                idle = false;
                wire.push((from_i, d.clone()));
                let n = wire.len();
                let slot = usize::from(!from_i);
                match fate(n) {
                    Fate::Lose => {}
                    Fate::Deliver => {
                        let _ = dst.handle_input(now, &d);
                    }
                    Fate::Duplicate => {
                        let _ = dst.handle_input(now, &d);
                        let _ = dst.handle_input(now, &d);
                    }
                    Fate::Delay => {
                        if let Some(old) = held[slot].replace(d) {
                            let _ = dst.handle_input(now, &old);
                        }
                        continue;
                    }
                }
                if let Some(old) = held[slot].take() {
                    let _ = dst.handle_input(now, &old);
                }
            }
        }
        if idle {
            // Whatever is still held arrives late.
            if let Some(d) = held[0].take() {
                let _ = r.handle_input(now, &d);
                continue;
            }
            if let Some(d) = held[1].take() {
                let _ = i.handle_input(now, &d);
                continue;
            }
            let Some(next) = [i.poll_timeout(), r.poll_timeout()].into_iter().flatten().min() else { break };
            if next > until {
                break;
            }
            now = now.max(next);
            i.handle_timeout(now);
            r.handle_timeout(now);
        }
    }
    now
}

fn established_pair(now: Instant, i: IkeSaConfig, r: IkeSaConfig) -> (Sa, Sa, ChildSa, ChildSa) {
    let mut i = IkeSa::initiate(i, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = IkeSa::respond(r, ChaCha20Rng::seed_from_u64(2), now);
    run(&mut i, &mut r, now, now, &mut Vec::new(), &|_| Fate::Deliver);
    let child = |m: &mut Sa| match events(m).as_slice() {
        [Event::Established { child, .. }] => child.clone(),
        other => panic!("not established: {other:?}"),
    };
    let (a, b) = (child(&mut i), child(&mut r));
    (i, r, a, b)
}

/// The two Child SAs mirror each other and carry ESP both ways through l2sec-esp.
fn assert_mirror_and_carry_esp(a: &ChildSa, b: &ChildSa) {
    assert_eq!((a.spi_in, a.spi_out), (b.spi_out, b.spi_in));
    assert_eq!((&a.keys_in, &a.keys_out), (&b.keys_out, &b.keys_in));
    assert_ne!(a.keys_in, a.keys_out);
    let (a_in, a_out) = a.esp_params().unwrap();
    let (b_in, b_out) = b.esp_params().unwrap();
    for (tx, rx) in [(&a_out, &b_in), (&b_out, &a_in)] {
        let mut sender = l2sec_esp::OutboundSa::new(tx).unwrap();
        let mut receiver = l2sec_esp::InboundSa::new(rx).unwrap();
        let payload = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 2, 0, 5, 10, 1, 0, 1];
        let head = sender.headroom();
        let mut buf = vec![0u8; head + payload.len() + sender.tailroom()];
        buf[head..head + payload.len()].copy_from_slice(&payload);
        let packet = sender.encapsulate(&mut buf, head..head + payload.len(), 4).unwrap();
        let opened = receiver.decapsulate(packet).unwrap();
        assert_eq!(&opened.payload[..], &payload[..]);
    }
}

fn kinds(wire: &Wire) -> Vec<(bool, ExchangeType, bool)> {
    wire.iter()
        .map(|(from_i, d)| {
            let h = Message::parse(d).unwrap().header;
            (*from_i, h.exchange_type, h.flags.response())
        })
        .collect()
}

/// RFC 7296 §1.3.1: either side adds a tunnel-mode Child SA, with and without PFS; both
/// report the same SA, mirrored, and it carries ESP.
#[test]
fn create_child_from_either_side_with_and_without_pfs() {
    for (initiator_creates, pfs) in
        [(true, None), (true, Some(DhGroup::Curve25519)), (false, Some(DhGroup::Modp2048))]
    {
        let now = Instant::now();
        let (mut ic, mut rc) = configs();
        ic.child = tunnel([10, 1, 0, 0], [10, 2, 0, 0], None);
        rc.child = tunnel([10, 2, 0, 0], [10, 1, 0, 0], None);
        let (mut i, mut r, first_i, _) = established_pair(now, ic, rc);
        if initiator_creates {
            i.create_child(now, tunnel([10, 1, 0, 0], [10, 2, 0, 0], pfs)).unwrap();
        } else {
            r.create_child(now, tunnel([10, 2, 0, 0], [10, 1, 0, 0], pfs)).unwrap();
        }
        let mut wire = Vec::new();
        run(&mut i, &mut r, now, now, &mut wire, &|_| Fate::Deliver);
        assert_eq!(
            kinds(&wire),
            [
                (initiator_creates, ExchangeType::CreateChildSa, false),
                (!initiator_creates, ExchangeType::CreateChildSa, true)
            ]
        );
        let created = |m: &mut Sa| match events(m).as_slice() {
            [Event::ChildSaCreated { child, .. }] => child.clone(),
            other => panic!("expected one ChildSaCreated: {other:?}"),
        };
        let (a, b) = (created(&mut i), created(&mut r));
        assert_mirror_and_carry_esp(&a, &b);
        assert_eq!(a.mode, EspMode::Tunnel);
        assert_ne!(a.keys_in, first_i.keys_in);
        assert_eq!(i.child_spis(), [first_i.spi_in, a.spi_in]);
        assert_eq!(r.child_spis().len(), 2);
    }
}

/// RFC 7296 §1.3.3: a Child SA rekey from either side: the new one replaces the old one,
/// then the rekeying side deletes the old one; over a lossy, duplicating, reordering
/// link.
#[test]
fn child_rekey_from_either_side_over_a_bad_link() {
    let fates: [&dyn Fn(usize) -> Fate; 4] = [
        &|_| Fate::Deliver,
        &|n| if n == 2 { Fate::Lose } else { Fate::Deliver },
        &|n| if n % 2 == 0 { Fate::Duplicate } else { Fate::Deliver },
        &|n| {
            if n == 3 {
                Fate::Delay
            } else if n == 1 {
                Fate::Lose
            } else {
                Fate::Deliver
            }
        },
    ];
    for initiator_rekeys in [true, false] {
        for fate in fates {
            let now = Instant::now();
            let (ic, rc) = configs();
            let (mut i, mut r, old_i, old_r) = established_pair(now, ic, rc);
            if initiator_rekeys {
                i.rekey_child(now, old_i.spi_in).unwrap();
            } else {
                r.rekey_child(now, old_r.spi_in).unwrap();
            }
            let mut wire = Vec::new();
            run(&mut i, &mut r, now, now + Duration::from_secs(60), &mut wire, fate);
            let rekeyed = |m: &mut Sa, old: u32| match events(m).as_slice() {
                [Event::ChildSaRekeyed { old_spi_in, child, .. }, Event::ChildDeleted { spi_in }] => {
                    assert_eq!((*old_spi_in, *spi_in), (old, old));
                    child.clone()
                }
                other => panic!("expected rekey then delete: {other:?}"),
            };
            let (a, b) = (rekeyed(&mut i, old_i.spi_in), rekeyed(&mut r, old_r.spi_in));
            assert_mirror_and_carry_esp(&a, &b);
            assert_ne!(a.keys_in, old_i.keys_in);
            assert_eq!((i.child_spis(), r.child_spis()), (vec![a.spi_in], vec![b.spi_in]));
            assert_eq!((i.state(), r.state()), (State::Established, State::Established));
            // The exchanges: CREATE_CHILD_SA, then INFORMATIONAL with the Delete, both from
            // the rekeying side (plus whatever the link did to them).
            let k = kinds(&wire);
            assert!(k.contains(&(initiator_rekeys, ExchangeType::CreateChildSa, false)));
            assert!(k.contains(&(!initiator_rekeys, ExchangeType::Informational, true)));
        }
    }
}

/// RFC 7296 §2.1: a lost CREATE_CHILD_SA response: the request is resent and the
/// responder answers with the very same bytes (no second Child SA).
#[test]
fn retransmitted_create_child_request_gets_the_cached_response() {
    let now = Instant::now();
    let (ic, rc) = configs();
    let (mut i, mut r, _, _) = established_pair(now, ic, rc);
    i.create_child(now, ChildConfig::l2tp(addr(CLIENT).ip(), addr(SERVER).ip())).unwrap();
    let mut wire = Vec::new();
    let end = run(&mut i, &mut r, now, now + Duration::from_secs(30), &mut wire, &|n| {
        if n == 2 { Fate::Lose } else { Fate::Deliver }
    });
    assert_eq!(kinds(&wire).len(), 4);
    assert_eq!(wire[0].1, wire[2].1, "the request is retransmitted unchanged");
    assert_eq!(wire[1].1, wire[3].1, "the response is replayed from the cache");
    assert!(end >= now + Duration::from_secs(1), "after the retransmission timeout");
    assert!(matches!(events(&mut i).as_slice(), [Event::ChildSaCreated { .. }]));
    assert!(matches!(events(&mut r).as_slice(), [Event::ChildSaCreated { .. }]));
}

/// RFC 7296 §2.18: an IKE SA rekey from either side: new SPIs, new keys from SK_d, the
/// Child SAs carry on, the old IKE SA is deleted, and the new one works (a Child SA
/// rekey on it, then a Delete of the whole thing).
#[test]
fn ike_rekey_from_either_side() {
    for (initiator_rekeys, fate) in
        [(true, Fate::Deliver), (false, Fate::Deliver), (true, Fate::Duplicate), (false, Fate::Delay)]
    {
        let now = Instant::now();
        let (ic, rc) = configs();
        let (mut i, mut r, first_i, _) = established_pair(now, ic, rc);
        let old_spis = i.spis();
        let old_keys = i.keys().unwrap().clone();
        if initiator_rekeys {
            i.rekey_ike(now).unwrap();
        } else {
            r.rekey_ike(now).unwrap();
        }
        let mut wire = Vec::new();
        run(&mut i, &mut r, now, now + Duration::from_secs(60), &mut wire, &|n| {
            if n == 3 { fate } else { Fate::Deliver }
        });
        for m in [&mut i, &mut r] {
            match events(m).as_slice() {
                [Event::IkeSaRekeyed { spis, .. }] => assert_eq!(*spis, m.spis()),
                other => panic!("expected one IkeSaRekeyed: {other:?}"),
            }
        }
        assert_eq!(i.spis(), r.spis());
        assert_ne!(i.spis().0, old_spis.0);
        assert_ne!(i.spis().1, old_spis.1);
        assert_eq!(i.keys(), r.keys());
        assert_ne!(i.keys().unwrap().sk_d, old_keys.sk_d);
        // The rekey's initiator is the new IKE SA's initiator.
        let rekeyer = if initiator_rekeys { &i } else { &r };
        assert_eq!(rekeyer.role(), l2sec_ike::v2::ike_sa::Role::Initiator);
        // The old IKE SA's Delete went out with the old SPIs and was answered.
        let old_deletes: Vec<_> = wire
            .iter()
            .filter(|(_, d)| {
                let h = Message::parse(d).unwrap().header;
                h.exchange_type == ExchangeType::Informational && h.initiator_spi == old_spis.0
            })
            .collect();
        assert!(old_deletes.len() >= 2, "Delete of the old IKE SA and its answer");
        assert_eq!(i.child_spis(), [first_i.spi_in]);
        // Fresh Message IDs on the new SA: a Child SA rekey from the other side works.
        if initiator_rekeys {
            let spi = r.child_spis()[0];
            r.rekey_child(now, spi).unwrap();
        } else {
            i.rekey_child(now, first_i.spi_in).unwrap();
        }
        let mut wire = Vec::new();
        run(&mut i, &mut r, now, now + Duration::from_secs(60), &mut wire, &|_| Fate::Deliver);
        assert_eq!(Message::parse(&wire[0].1).unwrap().header.message_id, 0);
        assert_eq!(Message::parse(&wire[0].1).unwrap().header.initiator_spi, i.spis().0);
        let a = events(&mut i);
        let b = events(&mut r);
        assert!(matches!(a.as_slice(), [Event::ChildSaRekeyed { .. }, Event::ChildDeleted { .. }]), "{a:?}");
        assert!(matches!(b.as_slice(), [Event::ChildSaRekeyed { .. }, Event::ChildDeleted { .. }]), "{b:?}");
        i.delete(now).unwrap();
        run(&mut i, &mut r, now, now + Duration::from_secs(60), &mut Vec::new(), &|_| Fate::Deliver);
        assert_eq!((i.state(), r.state()), (State::Closed, State::Closed));
    }
}

/// Both sides start the same rekey at once, their requests crossing; afterwards both
/// agree on one result (RFC 7296 §2.8.1 for Child SAs, §2.8.2 for the IKE SA) whatever
/// the random nonces were.
#[test]
fn simultaneous_rekeys_converge() {
    for seed in 0..6u64 {
        for ike in [false, true] {
            let now = Instant::now();
            let (ic, rc) = configs();
            let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(seed * 2 + 10), now).unwrap();
            let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(seed * 2 + 11), now);
            run(&mut i, &mut r, now, now, &mut Vec::new(), &|_| Fate::Deliver);
            let (ei, er) = (events(&mut i), events(&mut r));
            let (Event::Established { child: ci, .. }, Event::Established { child: cr, .. }) =
                (&ei[0], &er[0])
            else {
                panic!()
            };
            if ike {
                i.rekey_ike(now).unwrap();
                r.rekey_ike(now).unwrap();
            } else {
                i.rekey_child(now, ci.spi_in).unwrap();
                r.rekey_child(now, cr.spi_in).unwrap();
            }
            // Both requests are on the wire before either arrives.
            let (qi, qr) = (drain(&mut i, now), drain(&mut r, now));
            for d in &qi {
                r.handle_input(now, d).unwrap();
            }
            for d in &qr {
                i.handle_input(now, d).unwrap();
            }
            run(&mut i, &mut r, now, now + Duration::from_secs(60), &mut Vec::new(), &|_| Fate::Deliver);
            let (a, b) = (events(&mut i), events(&mut r));
            if ike {
                assert!(matches!(a.as_slice(), [Event::IkeSaRekeyed { .. }]), "{a:?}");
                assert!(matches!(b.as_slice(), [Event::IkeSaRekeyed { .. }]), "{b:?}");
                assert_eq!(i.spis(), r.spis());
                assert_eq!(i.keys(), r.keys());
                assert_ne!(i.role(), r.role());
                // The survivor works: a liveness check both ways.
                i.check_liveness(now).unwrap();
                r.check_liveness(now).unwrap();
                run(&mut i, &mut r, now, now + Duration::from_secs(60), &mut Vec::new(), &|_| Fate::Deliver);
                assert_eq!((i.state(), r.state()), (State::Established, State::Established));
            } else {
                let survivor = |ev: &[Event], old: u32| {
                    let rekeyed: Vec<_> = ev
                        .iter()
                        .filter_map(|e| match e {
                            Event::ChildSaRekeyed { old_spi_in, child, .. } => {
                                assert_eq!(*old_spi_in, old);
                                Some(child.clone())
                            }
                            _ => None,
                        })
                        .collect();
                    assert_eq!(rekeyed.len(), 1, "{ev:?}");
                    assert!(ev.contains(&Event::ChildDeleted { spi_in: old }), "{ev:?}");
                    rekeyed[0].clone()
                };
                let (x, y) = (survivor(&a, ci.spi_in), survivor(&b, cr.spi_in));
                assert_mirror_and_carry_esp(&x, &y);
                assert_eq!((i.child_spis(), r.child_spis()), (vec![x.spi_in], vec![y.spi_in]));
            }
        }
    }
}

/// RFC 7296 §2.8: lifetimes are local. With short ones the SAs rekey themselves (the
/// Child SA several times, the IKE SA too) and never reach the hard limit; the Child
/// SAs in use stay mirrored.
#[test]
fn lifetimes_rekey_before_expiry() {
    let now = Instant::now();
    let (mut ic, mut rc) = configs();
    ic.child.lifetime.time = Some(Duration::from_secs(100));
    rc.child.lifetime.time = Some(Duration::from_secs(130));
    ic.ike_lifetime = Some(Duration::from_secs(250));
    rc.ike_lifetime = Some(Duration::from_secs(300));
    let (mut i, mut r, _, _) = established_pair(now, ic, rc);
    let end = now + Duration::from_secs(600);
    let mut wire = Vec::new();
    let mut count: HashMap<&'static str, usize> = HashMap::new();
    let mut t = now;
    while t < end {
        t = run(&mut i, &mut r, t, t + Duration::from_secs(10), &mut wire, &|_| Fate::Deliver)
            + Duration::from_millis(1);
        for e in events(&mut i) {
            let k = match e {
                Event::ChildSaRekeyed { .. } => "child",
                Event::IkeSaRekeyed { .. } => "ike",
                Event::ChildDeleted { .. } => "deleted",
                other => panic!("unexpected {other:?}"),
            };
            *count.entry(k).or_default() += 1;
        }
        events(&mut r);
        if let Some(n) = [i.poll_timeout(), r.poll_timeout()].into_iter().flatten().min() {
            t = t.max(n);
        }
    }
    assert_eq!((i.state(), r.state()), (State::Established, State::Established));
    // 600 s with a 100 s Child SA lifetime: at least 6 Child SA rekeys, each followed by
    // the old one's Delete; 250 s for the IKE SA: at least 2 IKE SA rekeys.
    assert!(count["child"] >= 6, "{count:?}");
    assert_eq!(count["child"], count["deleted"], "{count:?}");
    assert!(count["ike"] >= 2, "{count:?}");
    assert_eq!(i.child_spis().len(), 1);
    assert_eq!(i.spis(), r.spis());
}

/// RFC 7296 §1.4.1: one of two Child SAs is deleted from either side; the other stays.
#[test]
fn delete_one_child_sa() {
    for initiator_deletes in [true, false] {
        let now = Instant::now();
        let (ic, rc) = configs();
        let (mut i, mut r, first_i, first_r) = established_pair(now, ic, rc);
        i.create_child(now, ChildConfig::l2tp(addr(CLIENT).ip(), addr(SERVER).ip())).unwrap();
        run(&mut i, &mut r, now, now, &mut Vec::new(), &|_| Fate::Deliver);
        events(&mut i);
        events(&mut r);
        if initiator_deletes {
            i.delete_child(now, first_i.spi_in).unwrap();
        } else {
            r.delete_child(now, first_r.spi_in).unwrap();
        }
        run(&mut i, &mut r, now, now, &mut Vec::new(), &|_| Fate::Deliver);
        assert_eq!(events(&mut i), [Event::ChildDeleted { spi_in: first_i.spi_in }]);
        assert_eq!(events(&mut r), [Event::ChildDeleted { spi_in: first_r.spi_in }]);
        assert_eq!(i.child_spis().len(), 1);
        assert_eq!(r.child_spis().len(), 1);
        assert!(i.delete_child(now, first_i.spi_in).is_err(), "gone");
    }
}

/// RFC 7296 §2.4, §2.19: the initiator says INITIAL_CONTACT and asks for an address;
/// the responder reports the first and assigns what its owner configured.
#[test]
fn initial_contact_and_configuration_payload() {
    let now = Instant::now();
    let (mut ic, mut rc) = configs();
    ic.request_internal_address = true;
    let pool = InternalConfig {
        address: Some(Ipv4Addr::new(10, 99, 0, 7)),
        dns: vec![Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2)],
    };
    rc.internal_config = Some(pool.clone());
    let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
    run(&mut i, &mut r, now, now, &mut Vec::new(), &|_| Fate::Deliver);
    match events(&mut i).as_slice() {
        [Event::Established { internal, initial_contact, .. }] => {
            assert_eq!(internal.as_ref(), Some(&pool));
            assert!(!initial_contact);
        }
        other => panic!("{other:?}"),
    }
    match events(&mut r).as_slice() {
        [Event::Established { internal, initial_contact, .. }] => {
            assert_eq!(internal.as_ref(), Some(&pool));
            assert!(initial_contact);
        }
        other => panic!("{other:?}"),
    }
    // Without the request (and with INITIAL_CONTACT off) nothing is assigned or said.
    let (mut ic, mut rc) = configs();
    ic.initial_contact = false;
    rc.internal_config = Some(pool);
    let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
    run(&mut i, &mut r, now, now, &mut Vec::new(), &|_| Fate::Deliver);
    for m in [&mut i, &mut r] {
        match events(m).as_slice() {
            [Event::Established { internal: None, initial_contact: false, .. }] => {}
            other => panic!("{other:?}"),
        }
    }
}

/// Commands wait for the window: three at once go out one after the other.
#[test]
fn queued_commands_run_in_order() {
    let now = Instant::now();
    let (ic, rc) = configs();
    let (mut i, mut r, first_i, _) = established_pair(now, ic, rc);
    i.create_child(now, ChildConfig::l2tp(addr(CLIENT).ip(), addr(SERVER).ip())).unwrap();
    i.rekey_ike(now).unwrap();
    i.rekey_child(now, first_i.spi_in).unwrap();
    let mut wire = Vec::new();
    run(&mut i, &mut r, now, now + Duration::from_secs(60), &mut wire, &|_| Fate::Deliver);
    let ev = events(&mut i);
    assert!(
        matches!(
            ev.as_slice(),
            [
                Event::ChildSaCreated { .. },
                Event::IkeSaRekeyed { .. },
                Event::ChildSaRekeyed { .. },
                Event::ChildDeleted { .. }
            ]
        ),
        "{ev:?}"
    );
    // Never two requests of the initiator outstanding on one IKE SA: each request of
    // ours is answered before the next one (the old IKE SA's Delete is on another SA).
    let mut outstanding: HashMap<[u8; 8], i32> = HashMap::new();
    for (from_i, d) in &wire {
        let h = Message::parse(d).unwrap().header;
        let n = outstanding.entry(h.initiator_spi).or_default();
        if *from_i && !h.flags.response() {
            *n += 1;
        } else if !from_i && h.flags.response() {
            *n -= 1;
        }
        assert!(*n <= 1, "window size 1");
    }
}

/// A peer cannot make the IKE SA hold Child SAs without bound: past the limit it gets
/// NO_ADDITIONAL_SAS, and rekeying still works.
#[test]
fn child_sa_count_is_bounded() {
    let now = Instant::now();
    let (ic, rc) = configs();
    let (mut i, mut r, first_i, _) = established_pair(now, ic, rc);
    for _ in 1..MAX_CHILD_SAS {
        i.create_child(now, ChildConfig::l2tp(addr(CLIENT).ip(), addr(SERVER).ip())).unwrap();
    }
    run(&mut i, &mut r, now, now, &mut Vec::new(), &|_| Fate::Deliver);
    assert_eq!(r.child_spis().len(), MAX_CHILD_SAS);
    events(&mut i);
    events(&mut r);
    i.create_child(now, ChildConfig::l2tp(addr(CLIENT).ip(), addr(SERVER).ip())).unwrap();
    run(&mut i, &mut r, now, now, &mut Vec::new(), &|_| Fate::Deliver);
    match events(&mut i).as_slice() {
        [Event::CreateChildFailed { rekeying: None, .. }] => {}
        other => panic!("{other:?}"),
    }
    assert!(events(&mut r).is_empty());
    i.rekey_child(now, first_i.spi_in).unwrap();
    run(&mut i, &mut r, now, now, &mut Vec::new(), &|_| Fate::Deliver);
    assert!(matches!(events(&mut i).as_slice(), [Event::ChildSaRekeyed { .. }, Event::ChildDeleted { .. }]));
    assert_eq!(i.child_spis().len(), MAX_CHILD_SAS);
}

/// RFC 7296 §2.8: a Child SA whose rekey never gets an answer is out of use at its hard
/// lifetime (reported at once), and its Delete follows when the window is free.
#[test]
fn hard_lifetime_ends_a_child_sa_that_could_not_be_rekeyed() {
    let now = Instant::now();
    let (mut ic, rc) = configs();
    ic.child.lifetime.time = Some(Duration::from_secs(100));
    // The rekey request is resent slowly, so it is still outstanding at the hard limit.
    ic.retransmit_timeout = Duration::from_secs(8);
    ic.max_retransmits = 4;
    let (mut i, mut r, first_i, _) = established_pair(now, ic, rc);
    // Every CREATE_CHILD_SA request is lost; everything else arrives.
    let mut wire = Vec::new();
    let drop_create =
        |d: &[u8]| Message::parse(d).unwrap().header.exchange_type == ExchangeType::CreateChildSa;
    let mut t = now;
    let mut got = Vec::new();
    while t < now + Duration::from_secs(200) && i.state() == State::Established {
        for d in drain(&mut i, t) {
            wire.push((true, d.clone()));
            if !drop_create(&d) {
                let _ = r.handle_input(t, &d);
            }
        }
        for d in drain(&mut r, t) {
            let _ = i.handle_input(t, &d);
        }
        got.extend(events(&mut i).into_iter().map(|e| (t, e)));
        let Some(next) = [i.poll_timeout(), r.poll_timeout()].into_iter().flatten().min() else { break };
        t = t.max(next);
        i.handle_timeout(t);
        r.handle_timeout(t);
    }
    let deleted: Vec<_> =
        got.iter().filter(|(_, e)| *e == Event::ChildDeleted { spi_in: first_i.spi_in }).collect();
    assert_eq!(deleted.len(), 1, "{got:?}");
    let at = deleted[0].0;
    assert!(
        at >= now + Duration::from_secs(100) && at < now + Duration::from_secs(101),
        "reported at the hard limit"
    );
    assert!(wire.iter().filter(|(_, d)| drop_create(d)).count() >= 2, "the rekey was tried and resent");
}

/// The IKE SA's hard lifetime: when its rekey never gets an answer, it ends at the limit.
#[test]
fn hard_lifetime_ends_an_ike_sa_that_could_not_be_rekeyed() {
    let now = Instant::now();
    let (mut ic, rc) = configs();
    ic.ike_lifetime = Some(Duration::from_secs(100));
    ic.retransmit_timeout = Duration::from_secs(8);
    ic.max_retransmits = 4;
    let (mut i, mut r, _, _) = established_pair(now, ic, rc);
    let is_create = |d: &[u8]| Message::parse(d).unwrap().header.exchange_type == ExchangeType::CreateChildSa;
    let mut t = now;
    let mut tries = 0;
    while i.state() == State::Established && t < now + Duration::from_secs(300) {
        for d in drain(&mut i, t) {
            if is_create(&d) {
                tries += 1;
            } else {
                let _ = r.handle_input(t, &d);
            }
        }
        for d in drain(&mut r, t) {
            let _ = i.handle_input(t, &d);
        }
        let Some(next) = [i.poll_timeout(), r.poll_timeout()].into_iter().flatten().min() else { break };
        t = t.max(next);
        i.handle_timeout(t);
        r.handle_timeout(t);
    }
    assert_eq!(i.state(), State::Closed);
    assert_eq!(events(&mut i), [Event::Closed]);
    assert!(
        t >= now + Duration::from_secs(100) && t < now + Duration::from_secs(101),
        "closed at the hard limit"
    );
    assert!(tries >= 2, "the IKE SA rekey was tried and resent");
}

/// The answer to an IKE SA rekey goes out at once (not on the peer's retransmission),
/// and the answer to the old IKE SA's Delete is accepted at once (checked with the
/// peer's keys), so nothing is retransmitted afterwards: exactly one request and one
/// answer of each exchange cross, with no timer running.
#[test]
fn ike_rekey_completes_without_retransmissions() {
    for initiator_rekeys in [true, false] {
        let now = Instant::now();
        let (ic, rc) = configs();
        let (mut i, mut r, _, _) = established_pair(now, ic, rc);
        let old_spis = i.spis();
        if initiator_rekeys {
            i.rekey_ike(now).unwrap();
        } else {
            r.rekey_ike(now).unwrap();
        }
        // No timer may fire: everything has to happen on the first transmission.
        let mut wire = Vec::new();
        run(&mut i, &mut r, now, now, &mut wire, &|_| Fate::Deliver);
        for m in [&mut i, &mut r] {
            match events(m).as_slice() {
                [Event::IkeSaRekeyed { spis, .. }] => assert_eq!(*spis, m.spis()),
                other => panic!("rekeying side {initiator_rekeys}: expected one IkeSaRekeyed: {other:?}"),
            }
        }
        assert_eq!(i.spis(), r.spis());
        assert_ne!(i.spis(), old_spis);
        assert_eq!(kinds(&wire).len(), 4, "CREATE_CHILD_SA and the old SA's Delete, each answered once");
        // Later on, nothing is sent again on the old IKE SA.
        let mut later = Vec::new();
        run(&mut i, &mut r, now, now + Duration::from_secs(120), &mut later, &|_| Fate::Deliver);
        let old: Vec<_> = later
            .iter()
            .filter(|(_, d)| Message::parse(d).unwrap().header.initiator_spi == old_spis.0)
            .collect();
        assert!(old.is_empty(), "retransmitted on the old IKE SA: {} datagram(s)", old.len());
        assert_eq!((i.state(), r.state()), (State::Established, State::Established));
    }
}

//! Two IKEv1 [`Connection`]s back to back on a virtual clock: lifetimes, rekeying of both
//! phases in both directions, deletes, duplicates, replays and half-open limits, over a
//! link that loses, duplicates and reorders datagrams.

use std::time::{Duration, Instant};

use l2sec_ike::Error;
use l2sec_ike::child::{EspEncapsulation, EspEncryption, EspIntegrity, EspMode};
use l2sec_ike::v1::connection::{Connection, ConnectionConfig, ConnectionEvent, DeleteReason, Responders};
use l2sec_ike::v1::dpd::DpdConfig;
use l2sec_ike::v1::phase1::{Identity, Phase1, Phase1Config};
use l2sec_ike::v1::quick::{EspProposal, QuickModeConfig, SelectorPattern, SelectorPolicy, TrafficSelector};
use l2sec_ike::wire::v1::IdType;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

type C = Connection<ChaCha20Rng>;

fn ts(host: u8) -> TrafficSelector {
    TrafficSelector { id_type: IdType::Ipv4Addr, protocol: 0, port: 0, data: vec![192, 0, 2, host] }
}

/// "a" sits at 192.0.2.201, "b" at .202: each names its own side first.
fn config(id: &str, phase1_life: u64, child_life: u64) -> ConnectionConfig {
    let (local, remote) = if id == "b" { (202, 201) } else { (201, 202) };
    let mut p1 = Phase1Config::new(b"pair-psk", Identity::fqdn(id));
    for p in &mut p1.proposals {
        p.lifetime = Duration::from_secs(phase1_life);
    }
    let quick = QuickModeConfig {
        proposals: vec![EspProposal {
            encryption: EspEncryption::AesCbc { key_len: 16 },
            integrity: EspIntegrity::HmacSha1_96,
            lifetime: Duration::from_secs(child_life),
        }],
        mode: EspMode::Tunnel,
        encapsulation: EspEncapsulation::None,
        traffic_selectors: Some((ts(local), ts(remote))),
        retransmit_timeout: Duration::from_secs(1),
        max_retransmits: 5,
        pfs_group: None,
        nat_oa: None,
    };
    ConnectionConfig::new(p1, quick)
}

/// A link with loss, duplication and reordering (percentages), driven by its own RNG.
struct Link {
    rng: ChaCha20Rng,
    loss: u32,
    dup: u32,
    reorder: u32,
    /// (deliver at, to b?, bytes)
    queue: Vec<(Instant, bool, Vec<u8>)>,
    delivered: usize,
}

impl Link {
    fn new(seed: u64, loss: u32, dup: u32, reorder: u32) -> Self {
        Self { rng: ChaCha20Rng::seed_from_u64(seed), loss, dup, reorder, queue: Vec::new(), delivered: 0 }
    }

    fn send(&mut self, now: Instant, to_b: bool, bytes: Vec<u8>) {
        if self.rng.next_u32() % 100 < self.loss {
            return;
        }
        let copies = if self.rng.next_u32() % 100 < self.dup { 2 } else { 1 };
        for _ in 0..copies {
            let delay = if self.rng.next_u32() % 100 < self.reorder { 30 } else { 5 };
            let jitter = u64::from(self.rng.next_u32() % 5);
            self.queue.push((now + Duration::from_millis(delay + jitter), to_b, bytes.clone()));
        }
    }
}

struct Pair {
    now: Instant,
    a: C,
    b: C,
    link: Link,
    ev_a: Vec<ConnectionEvent>,
    ev_b: Vec<ConnectionEvent>,
    /// Every datagram A sent, for replays.
    sent_by_a: Vec<Vec<u8>>,
}

impl Pair {
    fn new(a: ConnectionConfig, b: ConnectionConfig, link: Link) -> Self {
        Self {
            now: Instant::now(),
            a: C::new(a, ChaCha20Rng::seed_from_u64(1)),
            b: C::new(b, ChaCha20Rng::seed_from_u64(2)),
            link,
            ev_a: Vec::new(),
            ev_b: Vec::new(),
            sent_by_a: Vec::new(),
        }
    }

    fn drain(&mut self) {
        loop {
            let mut any = false;
            let mut buf = Vec::new();
            while self.a.poll_transmit(self.now, &mut buf).is_some() {
                self.sent_by_a.push(buf.clone());
                self.link.send(self.now, true, std::mem::take(&mut buf));
                any = true;
            }
            while self.b.poll_transmit(self.now, &mut buf).is_some() {
                self.link.send(self.now, false, std::mem::take(&mut buf));
                any = true;
            }
            while let Some(e) = self.a.poll_event() {
                self.ev_a.push(e);
                any = true;
            }
            while let Some(e) = self.b.poll_event() {
                self.ev_b.push(e);
                any = true;
            }
            if !any {
                return;
            }
        }
    }

    /// Runs until `until` (virtual time), delivering datagrams and firing timers.
    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            self.drain();
            let next_delivery = self.link.queue.iter().map(|(t, _, _)| *t).min();
            let next =
                [next_delivery, self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
            let Some(next) = next.filter(|t| *t <= until) else {
                self.now = until;
                self.a.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
                self.drain();
                return;
            };
            self.now = self.now.max(next);
            let now = self.now;
            let due: Vec<_> = {
                let (due, rest): (Vec<_>, Vec<_>) =
                    self.link.queue.drain(..).partition(|(t, _, _)| *t <= now);
                self.link.queue = rest;
                due
            };
            for (_, to_b, bytes) in due {
                self.link.delivered += 1;
                let target = if to_b { &mut self.b } else { &mut self.a };
                let _ = target.handle_input(now, &bytes);
            }
            self.a.handle_timeout(now);
            self.b.handle_timeout(now);
        }
    }
}

fn count(events: &[ConnectionEvent], f: impl Fn(&ConnectionEvent) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// The SA pairs both sides have installed and use agree: A's inbound SPI is B's
/// outbound and the keys match.
fn assert_children_match(p: &Pair) {
    let (a, b) = (p.a.active_children(), p.b.active_children());
    assert_eq!(a.len(), 1, "A active {a:?}");
    assert_eq!(b.len(), 1, "B active {b:?}");
    let up = |events: &[ConnectionEvent], spi: u32| {
        events
            .iter()
            .rev()
            .find_map(|e| match e {
                ConnectionEvent::ChildSaUp { child, .. } | ConnectionEvent::ChildSaRekeyed { child, .. }
                    if child.spi_in == spi =>
                {
                    Some(child.clone())
                }
                _ => None,
            })
            .expect("child event")
    };
    let ca = up(&p.ev_a, a[0]);
    let cb = up(&p.ev_b, b[0]);
    assert_eq!(ca.spi_in, cb.spi_out);
    assert_eq!(ca.spi_out, cb.spi_in);
    assert_eq!(ca.keys_in, cb.keys_out);
    assert_eq!(ca.keys_out, cb.keys_in);
}

#[test]
fn connect_brings_up_phase1_and_one_child() {
    let mut p = Pair::new(config("a", 3600, 600), config("b", 3600, 600), Link::new(1, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(count(&p.ev_a, |e| matches!(e, ConnectionEvent::Phase1Established { .. })), 1);
    assert_eq!(count(&p.ev_b, |e| matches!(e, ConnectionEvent::Phase1Established { .. })), 1);
    assert_eq!(p.a.current_isakmp_sa(), p.b.current_isakmp_sa());
    assert_children_match(&p);
}

#[test]
fn child_rekeys_before_its_lifetime_and_old_pair_is_deleted() {
    let mut p = Pair::new(config("a", 3600, 100), config("b", 3600, 100), Link::new(2, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let first = p.a.active_children()[0];
    // A started the pair: it rekeys at 85-90 s; B (margin halved) would only at 92.5-95 s.
    p.run_for(Duration::from_secs(84));
    assert_eq!(p.a.active_children(), vec![first], "no rekey before 85 s");
    p.run_for(Duration::from_secs(6));
    assert_eq!(
        count(
            &p.ev_a,
            |e| matches!(e, ConnectionEvent::ChildSaRekeyed { old_spi_in, .. } if *old_spi_in == first)
        ),
        1
    );
    assert_eq!(count(&p.ev_b, |e| matches!(e, ConnectionEvent::ChildSaRekeyed { .. })), 1);
    p.run_for(Duration::from_secs(3));
    // A deleted the old pair after delete_rekeyed_after; B acted on A's Delete.
    assert!(p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::ChildSaDeleted { spi_in, reason: DeleteReason::Rekeyed, .. } if *spi_in == first)));
    assert_eq!(
        count(&p.ev_b, |e| matches!(
            e,
            ConnectionEvent::ChildSaDeleted { reason: DeleteReason::PeerDeleted, .. }
        )),
        1
    );
    assert_eq!(p.a.installed_children().len(), 1);
    assert_eq!(p.b.installed_children().len(), 1);
    assert_children_match(&p);
    // No further rekey of the replaced pair, and B did not rekey on its own.
    assert_eq!(count(&p.ev_b, |e| matches!(e, ConnectionEvent::ChildSaRekeyed { .. })), 1);
}

#[test]
fn responder_rekeys_a_child_and_initiator_follows() {
    let mut a = config("a", 3600, 1000);
    a.auto_rekey = false;
    let mut p = Pair::new(a, config("b", 3600, 1000), Link::new(3, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let b_first = p.b.active_children()[0];
    p.b.rekey_child(p.now, b_first).unwrap();
    p.run_for(Duration::from_secs(5));
    assert_eq!(count(&p.ev_a, |e| matches!(e, ConnectionEvent::ChildSaRekeyed { .. })), 1);
    assert_eq!(
        count(
            &p.ev_b,
            |e| matches!(e, ConnectionEvent::ChildSaRekeyed { old_spi_in, .. } if *old_spi_in == b_first)
        ),
        1
    );
    // B started this Quick Mode: IDci is B's side (.202), IDcr A's (.201), as first
    // negotiated the other way round.
    let rekeyed_ts = p.ev_a.iter().find_map(|e| match e {
        ConnectionEvent::ChildSaRekeyed { traffic_selectors, .. } => traffic_selectors.clone(),
        _ => None,
    });
    assert_eq!(rekeyed_ts, Some((ts(202), ts(201))));
    assert_children_match(&p);
    assert_eq!(p.a.installed_children().len(), 1, "B's Delete removed A's old pair");
}

#[test]
fn phase1_rekeys_and_quick_modes_move_to_the_new_isakmp_sa() {
    let mut p = Pair::new(config("a", 200, 5000), config("b", 200, 5000), Link::new(4, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let old = p.a.current_isakmp_sa().unwrap();
    p.run_for(Duration::from_secs(185));
    let new = p.a.current_isakmp_sa().unwrap();
    assert_ne!(old, new);
    assert_eq!(p.b.current_isakmp_sa(), Some(new));
    assert!(p.ev_a.iter().any(
        |e| matches!(e, ConnectionEvent::Phase1Rekeyed { old: o, new: n, .. } if *o == old && *n == new)
    ));
    assert!(p.ev_b.iter().any(|e| matches!(e, ConnectionEvent::Phase1Rekeyed { .. })));
    assert!(p.ev_b.iter().any(|e| matches!(e, ConnectionEvent::Phase1Deleted { cookies, reason: DeleteReason::PeerDeleted } if *cookies == old)));
    assert_eq!(p.a.isakmp_sas(), vec![new]);
    assert_eq!(p.b.isakmp_sas(), vec![new]);
    // The child is untouched by a phase-1 rekey; a child rekey now runs under `new`.
    let child = p.a.active_children()[0];
    p.a.rekey_child(p.now, child).unwrap();
    p.run_for(Duration::from_secs(5));
    assert_children_match(&p);
    assert_eq!(p.a.isakmp_sas(), vec![new]);
}

#[test]
fn responder_rekeys_phase1() {
    let mut p = Pair::new(config("a", 3600, 5000), config("b", 3600, 5000), Link::new(5, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let old = p.a.current_isakmp_sa().unwrap();
    p.b.rekey_phase1(p.now).unwrap();
    p.run_for(Duration::from_secs(5));
    let new = p.b.current_isakmp_sa().unwrap();
    assert_ne!(new, old);
    assert_eq!(p.a.current_isakmp_sa(), Some(new));
    assert_eq!(p.a.isakmp_sas(), vec![new], "B deleted the old ISAKMP SA");
    // No INITIAL-CONTACT on a rekey: A keeps its child.
    assert_eq!(p.a.active_children().len(), 1);
    assert_children_match(&p);
}

#[test]
fn responder_answers_long_offers_with_its_own_lifetimes() {
    // A offers 100000 s (variable-length attributes) for both phases and 50000 kB;
    // B allows 70000 s / 20000 s and 10000 kB.
    let mut a = config("a", 100_000, 100_000);
    a.child_lifetime_kilobytes = Some(50_000);
    let mut b = config("b", 70_000, 20_000);
    b.child_lifetime_kilobytes = Some(10_000);
    let mut p = Pair::new(a, b, Link::new(6, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    for events in [&p.ev_a, &p.ev_b] {
        let p1 = events.iter().find_map(|e| match e {
            ConnectionEvent::Phase1Established { proposal, .. } => Some(proposal.lifetime),
            _ => None,
        });
        assert_eq!(p1, Some(Duration::from_secs(70_000)));
        let child = events.iter().find_map(|e| match e {
            ConnectionEvent::ChildSaUp { child, .. } => Some(child.hard_lifetime),
            _ => None,
        });
        let child = child.unwrap();
        assert_eq!(child.time, Some(Duration::from_secs(20_000)));
        assert_eq!(child.bytes, Some(10_000 * 1024));
    }
}

#[test]
fn volume_lifetime_triggers_rekey_then_expiry() {
    let mut a = config("a", 3600, 3600);
    a.child_lifetime_kilobytes = Some(1000);
    let mut p = Pair::new(a, config("b", 3600, 3600), Link::new(7, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let first = p.a.active_children()[0];
    // Below the soft volume (90 % of 1000 kB): nothing happens.
    p.a.child_traffic(p.now, first, 800 * 1024, true);
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.a.active_children(), vec![first]);
    // Past it: a rekey, then the old pair is deleted.
    p.a.child_traffic(p.now, first, 150 * 1024, true);
    p.run_for(Duration::from_secs(3));
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, ConnectionEvent::ChildSaRekeyed { old_spi_in, .. } if *old_spi_in == first))
    );
    assert!(p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::ChildSaDeleted { spi_in, reason: DeleteReason::Rekeyed, .. } if *spi_in == first)));
    assert_children_match(&p);
    // The new pair blown past its hard volume in one go expires at once, with a Delete.
    let second = p.a.active_children()[0];
    p.a.child_traffic(p.now, second, 2000 * 1024, false);
    p.run_for(Duration::from_millis(100));
    assert!(p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::ChildSaDeleted { spi_in, reason: DeleteReason::Expired, .. } if *spi_in == second)));
    assert!(p.b.installed_children().is_empty());
}

#[test]
fn deletes_both_ways() {
    let mut p = Pair::new(config("a", 3600, 600), config("b", 3600, 600), Link::new(8, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let a_child = p.a.active_children()[0];
    p.a.delete_child(p.now, a_child).unwrap();
    p.run_for(Duration::from_millis(100));
    assert!(p.b.active_children().is_empty());
    assert_eq!(
        count(
            &p.ev_b,
            |e| matches!(e, ConnectionEvent::ChildSaDeleted { spi_out, reason: DeleteReason::PeerDeleted, .. } if *spi_out == a_child)
        ),
        1
    );
    // A new child, then B closes everything.
    assert!(p.a.active_children().is_empty());
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(2));
    // connect() while an ISAKMP SA exists runs the Quick Mode under it.
    assert_eq!(p.a.active_children().len(), 1);
    assert_eq!(p.a.isakmp_sas().len(), 1);
    let sa = p.a.current_isakmp_sa().unwrap();
    p.b.close(p.now);
    p.run_for(Duration::from_millis(100));
    assert!(p.a.active_children().is_empty());
    assert!(p.a.isakmp_sas().is_empty(), "A acted on B's ISAKMP Delete");
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, ConnectionEvent::Phase1Deleted { reason: DeleteReason::PeerDeleted, .. }))
    );
    assert!(
        p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::Phase1Deleted { cookies, .. } if *cookies == sa))
    );
}

#[test]
fn rekeys_survive_loss_duplication_and_reordering() {
    for seed in 0..6 {
        let mut a = config("a", 300, 60);
        a.dpd = Some(DpdConfig {
            idle: Duration::from_secs(20),
            retransmit_timeout: Duration::from_secs(2),
            max_retransmits: 5,
        });
        let b = config("b", 300, 60);
        let mut p = Pair::new(a, b, Link::new(100 + seed, 15, 10, 20));
        p.a.connect(p.now).unwrap();
        // Long enough for several child rekeys and at least one phase-1 rekey.
        p.run_for(Duration::from_secs(700));
        // Quiet link for the last exchange to settle.
        p.link.loss = 0;
        p.run_for(Duration::from_secs(20));
        let rekeys = count(&p.ev_a, |e| matches!(e, ConnectionEvent::ChildSaRekeyed { .. }))
            + count(&p.ev_b, |e| matches!(e, ConnectionEvent::ChildSaRekeyed { .. }));
        assert!(rekeys >= 8, "seed {seed}: {rekeys} rekeys");
        assert!(count(&p.ev_a, |e| matches!(e, ConnectionEvent::Phase1Rekeyed { .. })) >= 1, "seed {seed}");
        assert!(!p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::PeerDead)), "seed {seed}");
        // Both sides agree on the pair(s) in use: every active pair of A is one of B's.
        let a_active = p.a.active_children();
        let b_installed = p.b.installed_children();
        assert!(!a_active.is_empty(), "seed {seed}");
        for spi in &a_active {
            let a_child_out = p.ev_a.iter().rev().find_map(|e| match e {
                ConnectionEvent::ChildSaUp { child, .. } | ConnectionEvent::ChildSaRekeyed { child, .. }
                    if child.spi_in == *spi =>
                {
                    Some(child.spi_out)
                }
                _ => None,
            });
            assert!(b_installed.contains(&a_child_out.unwrap()), "seed {seed}");
        }
        // Old SAs do not pile up.
        assert!(p.a.installed_children().len() <= 3, "seed {seed}: {:?}", p.a.installed_children());
        assert!(p.a.isakmp_sas().len() <= 2, "seed {seed}");
        assert!(p.link.delivered > 50);
    }
}

#[test]
fn replayed_quick_mode_message_is_not_a_new_exchange() {
    let mut p = Pair::new(config("a", 3600, 600), config("b", 3600, 600), Link::new(9, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let qm1 = p.sent_by_a.iter().find(|m| m[18] == 32).cloned().expect("A sent a Quick Mode message");
    // While the finished exchange lingers, the stale first message goes to it and is
    // dropped: no answer, no new exchange.
    assert!(p.b.handle_input(p.now, &qm1).is_err());
    let mut buf = Vec::new();
    assert!(p.b.poll_transmit(p.now, &mut buf).is_none());
    assert_eq!(p.b.installed_children().len(), 1);
    // Much later the exchange is gone, but its Message ID is remembered.
    p.run_for(Duration::from_secs(60));
    let before = p.ev_b.len();
    assert!(matches!(p.b.handle_input(p.now, &qm1), Err(Error::UnexpectedMessage(_))));
    p.drain();
    assert_eq!(p.ev_b.len(), before);
    assert_eq!(p.b.installed_children().len(), 1);
}

#[test]
fn half_open_limits_per_peer_and_in_total() {
    let now = Instant::now();
    let mm1 = |seed: u64| {
        let mut i = Phase1::initiate(
            Phase1Config::new(b"pair-psk", Identity::fqdn("x")),
            ChaCha20Rng::seed_from_u64(seed),
            now,
        )
        .unwrap();
        let mut buf = Vec::new();
        i.poll_transmit(now, &mut buf).unwrap();
        buf
    };
    let mut c = C::new(config("b", 3600, 600), ChaCha20Rng::seed_from_u64(3));
    for seed in 0..4 {
        c.handle_input(now, &mm1(seed)).unwrap();
    }
    assert_eq!(c.half_open(), 4);
    assert!(matches!(c.handle_input(now, &mm1(4)), Err(Error::ResourceLimit(_))));
    // A duplicate of a known MM1 is not a new SA.
    c.handle_input(now, &mm1(0)).unwrap();
    assert_eq!(c.half_open(), 4);
    // Half-open SAs go away when their handshake times out.
    c.handle_timeout(now + Duration::from_secs(31));
    assert_eq!(c.half_open(), 0);
    c.handle_input(now, &mm1(5)).unwrap();

    let mut table = Responders::new(config("b", 3600, 600), 6, 100, ChaCha20Rng::seed_from_u64(4));
    let local = "192.0.2.2:500".parse().unwrap();
    for n in 0..6u64 {
        let from = format!("192.0.2.{}:500", 10 + n).parse().unwrap();
        table.handle_input(now, local, from, &mm1(10 + n)).unwrap();
    }
    assert_eq!(table.half_open(), 6);
    let from = "192.0.2.99:500".parse().unwrap();
    assert!(matches!(table.handle_input(now, local, from, &mm1(20)), Err(Error::ResourceLimit(_))));
}

#[test]
fn without_auto_rekey_soft_expiry_is_reported_and_hard_expiry_deletes() {
    let mut a = config("a", 100, 60);
    a.auto_rekey = false;
    let mut b = config("b", 100, 60);
    b.auto_rekey = false;
    let mut p = Pair::new(a, b, Link::new(11, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let child = p.a.active_children()[0];
    p.run_for(Duration::from_secs(54));
    assert!(p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::RekeyDue { spi_in: Some(s) } if *s == child)));
    assert_eq!(p.a.active_children(), vec![child], "no rekey without a command");
    p.run_for(Duration::from_secs(6));
    assert!(p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::ChildSaDeleted { spi_in, reason: DeleteReason::Expired, .. } if *spi_in == child)));
    assert!(p.b.installed_children().is_empty());
    p.run_for(Duration::from_secs(40));
    assert!(p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::RekeyDue { spi_in: None })));
    // Whichever side's lifetime ends first deletes; the other acts on its Delete.
    assert!(
        p.ev_a
            .iter()
            .chain(&p.ev_b)
            .any(|e| matches!(e, ConnectionEvent::Phase1Deleted { reason: DeleteReason::Expired, .. }))
    );
    assert!(p.a.isakmp_sas().is_empty());
    assert!(p.b.isakmp_sas().is_empty());
}

#[test]
fn quick_modes_from_an_authenticated_peer_are_bounded() {
    use l2sec_ike::v1::quick::QuickMode;
    let now = Instant::now();
    // A bare phase-1 initiator against a Connection responder.
    let mut i = Phase1::initiate(config("a", 3600, 600).phase1, ChaCha20Rng::seed_from_u64(5), now).unwrap();
    let mut b = C::new(config("b", 3600, 600), ChaCha20Rng::seed_from_u64(6));
    for _ in 0..3 {
        let mut buf = Vec::new();
        i.poll_transmit(now, &mut buf).unwrap();
        b.handle_input(now, &buf).unwrap();
        buf.clear();
        if b.poll_transmit(now, &mut buf).is_some() {
            i.handle_input(now, &buf).unwrap();
        }
    }
    let ctx = i.isakmp_context().expect("phase 1 up");
    // 100 authenticated Quick Modes at once: B keeps at most 64 exchanges.
    let mut accepted = 0;
    let mut limited = 0;
    for n in 0..100u64 {
        let mut q = QuickMode::initiate(
            ctx.clone(),
            config("a", 3600, 600).quick,
            ChaCha20Rng::seed_from_u64(100 + n),
            now,
        )
        .unwrap();
        let mut buf = Vec::new();
        q.poll_transmit(now, &mut buf).unwrap();
        match b.handle_input(now, &buf) {
            Ok(()) => accepted += 1,
            Err(Error::ResourceLimit(_)) => limited += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((accepted, limited), (64, 36));
}

#[test]
fn a_refused_quick_mode_fails_at_once_on_the_peers_notification() {
    let mut b = config("b", 3600, 600);
    b.quick.proposals[0].encryption = EspEncryption::TripleDesCbc;
    let mut p = Pair::new(config("a", 3600, 600), b, Link::new(13, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    // Well before the first retransmission (1 s).
    p.run_for(Duration::from_millis(500));
    assert!(p.a.current_isakmp_sa().is_some());
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, ConnectionEvent::QuickModeFailed { error: Error::NoProposalChosen, .. })),
        "{:?}",
        p.ev_a
    );
    assert!(p.a.active_children().is_empty() && p.b.active_children().is_empty());
}

#[test]
fn wrong_psk_fails_phase1_and_nothing_waits() {
    let mut b = config("b", 3600, 600);
    b.phase1.psk = l2sec_ike::v1::SecretBytes::new(b"another key".to_vec());
    let mut p = Pair::new(config("a", 3600, 600), b, Link::new(14, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(60));
    assert!(
        // B cannot read MM5 and never answers it: A gives up on its handshake.
        p.ev_a
            .iter()
            .any(|e| matches!(e, ConnectionEvent::Phase1Failed { error: Error::Timeout, rekey: false })),
        "{:?}",
        p.ev_a
    );
    assert!(p.a.isakmp_sas().is_empty());
    assert_eq!(p.b.half_open(), 0, "B dropped its half-open SA");
    assert!(p.a.poll_timeout().is_none(), "no timer left: nothing waits");
}

#[test]
fn dead_peer_drops_everything() {
    let mut a = config("a", 3600, 600);
    a.dpd = Some(DpdConfig {
        idle: Duration::from_secs(10),
        retransmit_timeout: Duration::from_secs(2),
        max_retransmits: 3,
    });
    let mut p = Pair::new(a, config("b", 3600, 600), Link::new(15, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let child = p.a.active_children()[0];
    // The peer answers probes while it is there...
    p.run_for(Duration::from_secs(30));
    assert!(!p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::PeerDead)));
    // ...then the link goes down.
    p.link.loss = 100;
    p.run_for(Duration::from_secs(40));
    assert!(p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::PeerDead)));
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, ConnectionEvent::ChildSaDeleted { spi_in, .. } if *spi_in == child))
    );
    assert!(p.a.isakmp_sas().is_empty() && p.a.installed_children().is_empty());
}

#[test]
fn a_rekey_without_isakmp_sa_negotiates_a_new_one_first() {
    let mut p = Pair::new(config("a", 3600, 600), config("b", 3600, 600), Link::new(16, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let child = p.a.active_children()[0];
    // B deletes only its ISAKMP SA: the ESP pair lives on (IKEv1).
    p.b.delete(p.now);
    p.run_for(Duration::from_millis(100));
    assert!(p.a.isakmp_sas().is_empty());
    assert_eq!(p.a.active_children(), vec![child]);
    // Rekeying the pair now needs a phase 1 first; then the Quick Mode runs under it.
    p.a.rekey_child(p.now, child).unwrap();
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.a.isakmp_sas().len(), 1);
    assert_eq!(p.a.current_isakmp_sa(), p.b.current_isakmp_sa());
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, ConnectionEvent::ChildSaRekeyed { old_spi_in, .. } if *old_spi_in == child))
    );
    assert_children_match(&p);
}

#[test]
fn responders_table_runs_a_whole_connection_per_peer() {
    let now = Instant::now();
    let local = "192.0.2.2:500".parse().unwrap();
    let peer = "192.0.2.1:500".parse().unwrap();
    let mut table = Responders::new(config("b", 3600, 600), 8, 10, ChaCha20Rng::seed_from_u64(7));
    let mut a = C::new(config("a", 3600, 600), ChaCha20Rng::seed_from_u64(8));
    a.connect(now).unwrap();
    let mut buf = Vec::new();
    for _ in 0..10 {
        while a.poll_transmit(now, &mut buf).is_some() {
            table.handle_input(now, local, peer, &buf).unwrap();
            buf.clear();
        }
        let b = table.get_mut(&peer).expect("a connection for the peer");
        while b.poll_transmit(now, &mut buf).is_some() {
            a.handle_input(now, &buf).unwrap();
            buf.clear();
        }
    }
    let b = table.get_mut(&peer).unwrap();
    let mut up = 0;
    while let Some(e) = b.poll_event() {
        up += usize::from(matches!(e, ConnectionEvent::ChildSaUp { .. }));
    }
    assert_eq!(up, 1);
    assert_eq!(table.half_open(), 0);
    // A datagram from an unknown address that does not open an SA is refused.
    let stranger = "192.0.2.9:500".parse().unwrap();
    a.close(now);
    let mut closing = Vec::new();
    while a.poll_transmit(now, &mut buf).is_some() {
        closing.push(std::mem::take(&mut buf));
    }
    assert_eq!(closing.len(), 2, "ESP Delete, then ISAKMP Delete");
    assert!(table.handle_input(now, local, stranger, &closing[0]).is_err());
    for m in &closing {
        table.handle_input(now, local, peer, m).unwrap();
    }
    table.prune();
    assert_eq!(table.iter_mut().count(), 1, "undrained events keep the entry");
    while table.get_mut(&peer).unwrap().poll_event().is_some() {}
    table.prune();
    assert_eq!(table.iter_mut().count(), 0, "nothing left with the peer");
}

#[test]
fn responder_driven_rekeys_survive_loss_duplication_and_reordering() {
    for seed in 0..4 {
        // Only B (the responder of the first exchanges) rekeys, on its lifetimes.
        let mut a = config("a", 3600, 3600);
        a.auto_rekey = false;
        let b = config("b", 200, 50);
        let mut p = Pair::new(a, b, Link::new(200 + seed, 15, 10, 20));
        p.a.connect(p.now).unwrap();
        p.run_for(Duration::from_secs(450));
        p.link.loss = 0;
        p.run_for(Duration::from_secs(20));
        let b_rekeys = count(&p.ev_b, |e| matches!(e, ConnectionEvent::ChildSaRekeyed { .. }));
        let a_rekeys = count(&p.ev_a, |e| matches!(e, ConnectionEvent::ChildSaRekeyed { .. }));
        assert!(b_rekeys >= 6, "seed {seed}: B rekeyed {b_rekeys} times");
        assert!(a_rekeys >= 6, "seed {seed}: A saw {a_rekeys} rekeys");
        assert!(count(&p.ev_a, |e| matches!(e, ConnectionEvent::Phase1Rekeyed { .. })) >= 1, "seed {seed}");
        // A never rekeyed (no command), yet follows B: its pair in use is one B has.
        assert!(!p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::QuickModeFailed { .. })), "seed {seed}");
        let active = p.a.active_children();
        assert_eq!(active.len(), 1, "seed {seed}: {active:?}");
        let a_out = p
            .ev_a
            .iter()
            .rev()
            .find_map(|e| match e {
                ConnectionEvent::ChildSaUp { child, .. } | ConnectionEvent::ChildSaRekeyed { child, .. }
                    if child.spi_in == active[0] =>
                {
                    Some(child.spi_out)
                }
                _ => None,
            })
            .unwrap();
        assert!(p.b.active_children().contains(&a_out), "seed {seed}");
    }
}

#[test]
fn absurdly_long_lifetimes_do_not_overflow() {
    let huge = u64::MAX / 2;
    let mut p = Pair::new(config("a", huge, huge), config("b", huge, huge), Link::new(17, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_children_match(&p);
    // Beyond the clock's range the SAs simply never expire.
    p.run_for(Duration::from_secs(3600));
    assert_eq!(p.a.active_children().len(), 1);
}

#[test]
fn key_log_lines_follow_phase1_rekeys() {
    use l2sec_ike::keylog;
    // Phase 1 lives 300 s: A rekeys it at least twice in 10 minutes.
    let mut p = Pair::new(config("a", 300, 3600), config("b", 300, 3600), Link::new(31, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let first = p.a.current_isakmp_sa().unwrap();
    let line = p.a.keylog_line(first).expect("a line for the first ISAKMP SA");
    assert_eq!(Some(&line), p.b.keylog_line(first).as_ref(), "both ends log the same SA");
    assert_eq!(line, keylog::ikev1_line_for_context(p.a.isakmp_context(first).unwrap()));
    let cky: String = first.0.iter().map(|b| format!("{b:02x}")).collect();
    assert!(line.starts_with(&format!("{cky},")), "{} starts with CKY-I", line.as_str());
    let mut lines = vec![line];
    // Take the line at each rekey event, as an owner would (the old SA goes away soon).
    let mut seen = 0;
    for _ in 0..600 {
        p.run_for(Duration::from_secs(1));
        for e in &p.ev_a[seen..] {
            if let ConnectionEvent::Phase1Rekeyed { new, .. } = e {
                let l = p.a.keylog_line(*new).expect("a line for the new ISAKMP SA");
                assert_eq!(Some(&l), p.b.keylog_line(*new).as_ref());
                lines.push(l);
            }
        }
        seen = p.ev_a.len();
    }
    assert!(lines.len() >= 3, "{} ISAKMP SAs", lines.len());
    let mut unique: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), lines.len(), "each ISAKMP SA has its own cookie and key");
    assert!(p.a.keylog_line(([9; 8], [9; 8])).is_none());
}

#[test]
fn a_delete_naming_our_inbound_spi_deletes_the_pair() {
    use l2sec_ike::v1::info::{self, Informational};
    use l2sec_ike::wire::v1::ProtocolId;
    let mut p = Pair::new(config("a", 3600, 600), config("b", 3600, 600), Link::new(32, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let a_in = p.a.active_children()[0];
    // B names the SPI it sends to (A's inbound one), as charon does when it could not
    // install the pair.
    let sa = p.b.current_isakmp_sa().unwrap();
    let ctx = p.b.isakmp_context(sa).unwrap().clone();
    let delete =
        Informational::Delete { protocol_id: ProtocolId::IpsecEsp, spis: vec![a_in.to_be_bytes().to_vec()] };
    let msg = info::encode(&ctx, &delete, &mut ChaCha20Rng::seed_from_u64(5)).unwrap();
    p.a.handle_input(p.now, &msg).unwrap();
    p.drain();
    assert!(p.a.installed_children().is_empty(), "A dropped the pair");
    assert_eq!(
        count(
            &p.ev_a,
            |e| matches!(e, ConnectionEvent::ChildSaDeleted { spi_in, reason: DeleteReason::PeerDeleted, .. } if *spi_in == a_in)
        ),
        1
    );
}

#[test]
fn responders_follow_a_peer_floating_to_port_4500() {
    use l2sec_ike::v1::phase1::NatTraversal;
    let now = Instant::now();
    let local: std::net::SocketAddr = "192.0.2.2:500".parse().unwrap();
    let local_natt: std::net::SocketAddr = "192.0.2.2:4500".parse().unwrap();
    // The NAT maps the peer's 500 and 4500 to these public ports.
    let public_500: std::net::SocketAddr = "198.51.100.7:31000".parse().unwrap();
    let public_4500: std::net::SocketAddr = "198.51.100.7:31001".parse().unwrap();
    let mut b_config = config("b", 3600, 600);
    b_config.phase1.nat_traversal = Some(NatTraversal { local, remote: local, force_encapsulation: false });
    let mut table = Responders::new(b_config, 8, 10, ChaCha20Rng::seed_from_u64(9));
    let mut a_config = config("a", 3600, 600);
    a_config.phase1.nat_traversal = Some(NatTraversal {
        local: "10.0.0.1:500".parse().unwrap(),
        remote: local,
        force_encapsulation: false,
    });
    let mut a = C::new(a_config, ChaCha20Rng::seed_from_u64(10));
    a.connect(now).unwrap();
    let mut buf = Vec::new();
    let mut floated = 0;
    for _ in 0..10 {
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            let (from, to) = if t.udp_encapsulated { (public_4500, local_natt) } else { (public_500, local) };
            floated += usize::from(t.udp_encapsulated);
            table.handle_input(now, to, from, &buf).unwrap();
            buf.clear();
        }
        for (_, b) in table.iter_mut() {
            while b.poll_transmit(now, &mut buf).is_some() {
                a.handle_input(now, &buf).unwrap();
                buf.clear();
            }
        }
    }
    assert!(floated >= 2, "A moved to port 4500 after MM4 ({floated} datagrams there)");
    assert!(table.get_mut(&public_500).is_none(), "the peer is no longer known at its old port");
    let b = table.get_mut(&public_4500).expect("the peer is known at its new port");
    let mut up = 0;
    while let Some(e) = b.poll_event() {
        up += usize::from(matches!(e, ConnectionEvent::ChildSaUp { .. }));
    }
    assert_eq!(up, 1);
    assert_eq!(table.half_open(), 0);
    assert_eq!(table.iter_mut().count(), 1, "one connection for the peer");
    // Another host behind a different address cannot take the SA over with its cookies.
    a.close(now);
    let mut closing = Vec::new();
    while a.poll_transmit(now, &mut buf).is_some() {
        closing.push(std::mem::take(&mut buf));
    }
    let other_host = "198.51.100.8:31001".parse().unwrap();
    assert!(table.handle_input(now, local_natt, other_host, &closing[0]).is_err());
    for m in &closing {
        table.handle_input(now, local_natt, public_4500, m).unwrap();
    }
    assert!(table.get_mut(&public_4500).unwrap().installed_children().is_empty());
}

#[test]
fn simultaneous_child_rekeys_end_with_one_pair() {
    for seed in 0..4 {
        let mut a = config("a", 3600, 600);
        let mut b = config("b", 3600, 600);
        a.auto_rekey = false;
        b.auto_rekey = false;
        let mut p = Pair::new(a, b, Link::new(40 + seed, 0, 0, 0));
        p.a.connect(p.now).unwrap();
        p.run_for(Duration::from_secs(1));
        let (a_old, b_old) = (p.a.active_children()[0], p.b.active_children()[0]);
        // Both sides rekey the same pair at the same instant: the Quick Modes cross.
        p.a.rekey_child(p.now, a_old).unwrap();
        p.b.rekey_child(p.now, b_old).unwrap();
        p.run_for(Duration::from_millis(500));
        // Both Quick Modes completed, and both sides chose the same survivor.
        let rekeys =
            |ev: &[ConnectionEvent]| count(ev, |e| matches!(e, ConnectionEvent::ChildSaRekeyed { .. }));
        assert!(rekeys(&p.ev_a) >= 1 && rekeys(&p.ev_b) >= 1, "seed {seed}");
        assert_children_match(&p);
        let survivor = p.a.active_children()[0];
        assert_ne!(survivor, a_old);
        // The redundant pair and the old one are deleted; one pair is left.
        p.run_for(Duration::from_secs(5));
        assert_eq!(p.a.installed_children(), vec![survivor], "seed {seed}");
        assert_eq!(p.b.installed_children().len(), 1, "seed {seed}");
        assert_children_match(&p);
        let deleted =
            |ev: &[ConnectionEvent]| count(ev, |e| matches!(e, ConnectionEvent::ChildSaDeleted { .. }));
        assert_eq!((deleted(&p.ev_a), deleted(&p.ev_b)), (2, 2), "seed {seed}");
    }
}

#[test]
fn simultaneous_child_rekeys_settle_over_a_reordering_link() {
    for seed in 0..8 {
        let mut a = config("a", 3600, 600);
        let mut b = config("b", 3600, 600);
        a.auto_rekey = false;
        b.auto_rekey = false;
        let mut p = Pair::new(a, b, Link::new(60 + seed, 0, 10, 30));
        p.a.connect(p.now).unwrap();
        p.run_for(Duration::from_secs(10));
        let (a_old, b_old) = (p.a.active_children()[0], p.b.active_children()[0]);
        p.a.rekey_child(p.now, a_old).unwrap();
        p.b.rekey_child(p.now, b_old).unwrap();
        p.run_for(Duration::from_secs(20));
        assert_children_match(&p);
        assert_eq!(p.a.installed_children().len(), 1, "seed {seed}: A {:?}", p.a.installed_children());
        assert_eq!(p.b.installed_children().len(), 1, "seed {seed}: B {:?}", p.b.installed_children());
        assert_ne!(p.a.active_children()[0], a_old, "seed {seed}");
    }
}

/// With loss a Delete can go missing (IKEv1 does not acknowledge them), so a redundant
/// pair may linger until it expires; but both sides still send on the same pair.
#[test]
fn simultaneous_child_rekeys_agree_over_a_lossy_link() {
    for seed in 0..8 {
        let mut a = config("a", 3600, 600);
        let mut b = config("b", 3600, 600);
        a.auto_rekey = false;
        b.auto_rekey = false;
        let mut p = Pair::new(a, b, Link::new(80 + seed, 10, 10, 30));
        p.a.connect(p.now).unwrap();
        p.run_for(Duration::from_secs(10));
        let (a_old, b_old) = (p.a.active_children()[0], p.b.active_children()[0]);
        p.a.rekey_child(p.now, a_old).unwrap();
        p.b.rekey_child(p.now, b_old).unwrap();
        p.run_for(Duration::from_secs(20));
        assert_children_match(&p);
        assert_ne!(p.a.active_children()[0], a_old, "seed {seed}");
    }
}

#[test]
fn phase1_kilobyte_lifetime_rekeys_the_isakmp_sa_by_volume() {
    // A offers a 4 kB ISAKMP SA lifetime (and an hour); B offers none and accepts it.
    // A rekeys at half of it, so that the rekey ends long before the hard volume.
    let mut a = config("a", 3600, 3600);
    a.phase1.lifetime_kilobytes = Some(4);
    a.rekey_margin = 500;
    let mut p = Pair::new(a, config("b", 3600, 3600), Link::new(21, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let old = p.a.current_isakmp_sa().unwrap();
    assert_eq!(p.a.isakmp_sas(), vec![old], "the first Quick Mode stays under the soft volume");
    // Child rekeys are encrypted IKE traffic on `old` (about 500 bytes each, both
    // directions counted): a few take it past half of 4096 bytes.
    let mut rekeys = 0;
    while p.a.current_isakmp_sa() == Some(old) && rekeys < 8 {
        let child = p.a.active_children()[0];
        p.a.rekey_child(p.now, child).unwrap();
        p.run_for(Duration::from_secs(2));
        rekeys += 1;
    }
    assert!(rekeys >= 3, "not before the volume is reached ({rekeys} child rekeys)");
    // The replaced SA lingers a little before A deletes it.
    p.run_for(Duration::from_secs(60));
    let new = p.a.current_isakmp_sa().unwrap();
    assert_ne!(old, new, "volume, not time (1 h), rekeyed the ISAKMP SA");
    assert!(p.ev_a.iter().any(
        |e| matches!(e, ConnectionEvent::Phase1Rekeyed { old: o, new: n, .. } if *o == old && *n == new)
    ));
    assert!(
        p.ev_b.iter().any(|e| matches!(e, ConnectionEvent::Phase1Deleted { cookies, .. } if *cookies == old))
    );
    assert_eq!(p.b.current_isakmp_sa(), Some(new));
    assert!(
        !p.ev_a
            .iter()
            .chain(&p.ev_b)
            .any(|e| matches!(e, ConnectionEvent::Phase1Deleted { reason: DeleteReason::Expired, .. }))
    );
    assert_children_match(&p);
    // The new SA negotiated the same volume limit: its own counter starts at zero.
    let child = p.a.active_children()[0];
    p.a.rekey_child(p.now, child).unwrap();
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.a.current_isakmp_sa(), Some(new));
}

#[test]
fn phase1_kilobyte_lifetime_without_auto_rekey_reports_then_deletes() {
    let mut a = config("a", 3600, 3600);
    a.phase1.lifetime_kilobytes = Some(2);
    a.auto_rekey = false;
    let mut b = config("b", 3600, 3600);
    b.auto_rekey = false;
    let mut p = Pair::new(a, b, Link::new(22, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let sa = p.a.current_isakmp_sa().unwrap();
    assert!(!p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::RekeyDue { spi_in: None })));
    for _ in 0..4 {
        let Some(&child) = p.a.active_children().first() else { break };
        let _ = p.a.rekey_child(p.now, child);
        p.run_for(Duration::from_secs(2));
    }
    assert!(p.ev_a.iter().any(|e| matches!(e, ConnectionEvent::RekeyDue { spi_in: None })));
    assert!(
        p.ev_a
            .iter()
            .chain(&p.ev_b)
            .any(|e| matches!(e, ConnectionEvent::Phase1Deleted { cookies, reason: DeleteReason::Expired } if *cookies == sa))
    );
    assert!(p.a.isakmp_sas().is_empty());
    assert!(p.b.isakmp_sas().is_empty());
}

fn pattern(a: [u8; 4], prefix_len: u8, protocol: u8, port: u16) -> SelectorPattern {
    SelectorPattern { address: std::net::IpAddr::from(a), prefix_len, protocol, port }
}

#[test]
fn responder_policy_refuses_selectors_outside_it_with_invalid_id_information() {
    // B only accepts 10.0.0.0/8 on its side; A proposes 192.0.2.201 <-> 192.0.2.202.
    let mut b = config("b", 3600, 600);
    b.responder_selectors = Some(vec![SelectorPolicy {
        local: pattern([10, 0, 0, 0], 8, 0, 0),
        remote: pattern([192, 0, 2, 0], 24, 0, 0),
    }]);
    let mut p = Pair::new(config("a", 3600, 600), b, Link::new(23, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    // Well before the first retransmission (1 s): the notification ends A's exchange.
    p.run_for(Duration::from_millis(500));
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, ConnectionEvent::QuickModeFailed { error: Error::PeerRefused(18), .. })),
        "{:?}",
        p.ev_a
    );
    let refused = p.ev_b.iter().find_map(|e| match e {
        ConnectionEvent::QuickModeRefused { traffic_selectors, .. } => Some(traffic_selectors.clone()),
        _ => None,
    });
    assert_eq!(refused, Some((ts(201), ts(202))));
    assert!(p.a.active_children().is_empty() && p.b.installed_children().is_empty());
    // Nothing else changed: the ISAKMP SA stays up on both sides.
    let sa = p.a.current_isakmp_sa().unwrap();
    assert_eq!(p.b.current_isakmp_sa(), Some(sa));
    assert!(!p.ev_b.iter().any(|e| matches!(e, ConnectionEvent::ChildSaUp { .. })));
}

#[test]
fn responder_policy_accepts_selectors_inside_it() {
    // Host selectors inside the blocks, any protocol and port; a port-bound entry first
    // that does not match (A's selectors name no port).
    let mut b = config("b", 3600, 600);
    b.responder_selectors = Some(vec![
        SelectorPolicy { local: pattern([192, 0, 2, 202], 32, 17, 1701), remote: pattern([0; 4], 0, 17, 0) },
        SelectorPolicy {
            local: pattern([192, 0, 2, 192], 27, 0, 0),
            remote: pattern([192, 0, 2, 0], 24, 0, 0),
        },
    ]);
    let mut p = Pair::new(config("a", 3600, 600), b, Link::new(24, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.a.active_children().len(), 1);
    assert!(!p.ev_b.iter().any(|e| matches!(e, ConnectionEvent::QuickModeRefused { .. })));
    assert_children_match(&p);
}

#[test]
fn selector_patterns_cover_addresses_subnets_and_ranges() {
    let net = pattern([10, 1, 0, 0], 16, 0, 0);
    let sel = |id_type, data: Vec<u8>| TrafficSelector { id_type, protocol: 17, port: 1701, data };
    assert!(net.contains(&sel(IdType::Ipv4Addr, vec![10, 1, 2, 3])));
    assert!(!net.contains(&sel(IdType::Ipv4Addr, vec![10, 2, 0, 0])));
    assert!(net.contains(&sel(IdType::Ipv4AddrSubnet, vec![10, 1, 2, 0, 255, 255, 255, 0])));
    assert!(!net.contains(&sel(IdType::Ipv4AddrSubnet, vec![10, 0, 0, 0, 255, 0, 0, 0])));
    assert!(net.contains(&sel(IdType::Ipv4AddrRange, vec![10, 1, 0, 5, 10, 1, 255, 255])));
    assert!(!net.contains(&sel(IdType::Ipv4AddrRange, vec![10, 1, 0, 5, 10, 2, 0, 0])));
    // Malformed, inverted or of the other family: refused.
    assert!(!net.contains(&sel(IdType::Ipv4Addr, vec![10, 1, 2])));
    assert!(!net.contains(&sel(IdType::Ipv4AddrRange, vec![10, 1, 9, 9, 10, 1, 0, 0])));
    assert!(!net.contains(&sel(IdType::Ipv6Addr, vec![0; 16])));
    // Protocol and port: 0 in the pattern is any; otherwise they must match.
    assert!(pattern([10, 1, 0, 0], 16, 17, 1701).contains(&sel(IdType::Ipv4Addr, vec![10, 1, 2, 3])));
    assert!(!pattern([10, 1, 0, 0], 16, 6, 0).contains(&sel(IdType::Ipv4Addr, vec![10, 1, 2, 3])));
    assert!(!pattern([10, 1, 0, 0], 16, 0, 500).contains(&sel(IdType::Ipv4Addr, vec![10, 1, 2, 3])));
    // /0 covers the whole family.
    assert!(
        pattern([0; 4], 0, 0, 0).contains(&sel(IdType::Ipv4AddrRange, vec![0, 0, 0, 0, 255, 255, 255, 255]))
    );
    let v6 = SelectorPattern { address: "2001:db8::".parse().unwrap(), prefix_len: 32, protocol: 0, port: 0 };
    let mut a = vec![0x20, 0x01, 0x0d, 0xb8];
    a.extend([0; 11]);
    a.push(1);
    assert!(v6.contains(&sel(IdType::Ipv6Addr, a)));
    assert!(!v6.contains(&sel(IdType::Ipv6Addr, vec![0xfe; 16])));
}

#[test]
fn responder_caps_the_phase1_kilobyte_lifetime_and_the_initiator_adopts_it() {
    // A offers 1000 kB, B allows 4 kB: A's SA lives by B's limit (A rekeys at half).
    let mut a = config("a", 3600, 3600);
    a.phase1.lifetime_kilobytes = Some(1000);
    a.rekey_margin = 500;
    let mut b = config("b", 3600, 3600);
    b.phase1.lifetime_kilobytes = Some(4);
    let mut p = Pair::new(a, b, Link::new(25, 0, 0, 0));
    p.a.connect(p.now).unwrap();
    p.run_for(Duration::from_secs(1));
    let old = p.a.current_isakmp_sa().unwrap();
    let mut rekeys = 0;
    while p.a.current_isakmp_sa() == Some(old) && rekeys < 8 {
        let child = p.a.active_children()[0];
        p.a.rekey_child(p.now, child).unwrap();
        p.run_for(Duration::from_secs(2));
        rekeys += 1;
    }
    p.run_for(Duration::from_secs(5));
    let new = p.a.current_isakmp_sa().unwrap();
    assert_ne!(old, new, "A rekeyed by B's 4 kB after {rekeys} child rekeys");
    assert!(p.ev_a.iter().any(
        |e| matches!(e, ConnectionEvent::Phase1Rekeyed { old: o, new: n, .. } if *o == old && *n == new)
    ));
    assert_eq!(p.b.current_isakmp_sa(), Some(new));
    assert_children_match(&p);
}

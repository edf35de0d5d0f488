//! RFC 7383 IKE fragmentation between our initiator and responder on a virtual clock:
//! certificate IKE_AUTH messages over a 576-byte path are cut into Encrypted Fragment
//! (SKF) messages, delivered through a link that loses, duplicates, reorders and
//! corrupts datagrams, and put back together on the other side. (Ported from the
//! h-frag branch's tests to [`IkeSaConfig::fragment_size`], which counts IKE message
//! bytes.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2sec_ike::cert::{Certificate, CertificateAuth, PrivateKey, TrustStore, UnixTime};
use l2sec_ike::v2::ike_sa::{ChildConfig, Event, Identity, IkeSa, IkeSaConfig, State};
use l2sec_ike::v2::keys::{IkeSuite, open_any};
use l2sec_ike::wire::v2::{ExchangeType, Message, NotifyType, Payload, PayloadType};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

type Sa = IkeSa<ChaCha20Rng>;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/certs/");
/// 2026-01-01: inside the test certificates' validity.
const NOW: UnixTime = UnixTime(1_767_225_600);
/// RFC 7383 §2.5.1: the conservative IPv4 path size.
const PATH: usize = 576;
/// The IKE message size that leaves: IPv4 (20) + UDP (8) + non-ESP marker (4).
const MAX_MESSAGE: usize = PATH - 32;

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).unwrap()
}

fn auth(name: &str) -> CertificateAuth {
    let chain = vec![Certificate::from_pem(&read(&format!("{name}.pem"))).unwrap()];
    let key = PrivateKey::from_pem(&read(&format!("{name}.key"))).unwrap();
    let mut trust = TrustStore::new();
    trust.add(Certificate::from_pem(&read("ca-rsa.pem")).unwrap()).unwrap();
    CertificateAuth::new(chain, key, trust, NOW).unwrap()
}

fn config(id: &str, local: &str, remote: &str, cert: &str, suite: IkeSuite) -> IkeSaConfig {
    let (local, remote): (SocketAddr, SocketAddr) = (local.parse().unwrap(), remote.parse().unwrap());
    let mut c = IkeSaConfig::new(b"unused", Identity::fqdn(id), local, remote);
    c.certificate = Some(auth(cert));
    c.proposals = vec![suite];
    c.fragment_size = Some(MAX_MESSAGE);
    c.max_retransmits = 8;
    c.handshake_timeout = Duration::from_secs(600);
    c
}

fn pair(suite: IkeSuite) -> (Sa, Sa) {
    let now = Instant::now();
    let ic = config("client.l2sec.test", "192.0.2.1:500", "192.0.2.2:500", "client-rsa", suite);
    let rc = config("server.l2sec.test", "192.0.2.2:500", "192.0.2.1:500", "server-rsa", suite);
    (
        IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap(),
        IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(2), now),
    )
}

fn suites() -> [IkeSuite; 2] {
    use l2sec_ike::crypto::DhGroup::{Curve25519, Modp2048};
    [IkeSuite::aes128_sha256(Modp2048), IkeSuite::aes_gcm16(32, Curve25519)]
}

/// What the link does to datagrams.
#[derive(Clone, Copy)]
struct Link {
    /// Percent lost, duplicated, corrupted (one bit flipped in a protected message).
    loss: u32,
    dup: u32,
    corrupt: u32,
    /// Deliver each batch in a random order.
    reorder: bool,
}

const CLEAN: Link = Link { loss: 0, dup: 0, corrupt: 0, reorder: false };

/// Runs the pair until both are established (or failed); returns every datagram sent
/// (true: by the initiator), before the link touched it.
fn run(i: &mut Sa, r: &mut Sa, link: Link, seed: u64) -> Vec<(bool, Vec<u8>)> {
    let done = |i: &mut Sa, r: &mut Sa| {
        let done = |m: &Sa| matches!(m.state(), State::Established | State::Failed);
        done(i) && done(r)
    };
    run_until(i, r, link, seed, Instant::now(), done)
}

/// As [`run`], until `done` says so when the link is idle (or nothing is left to wait for).
fn run_until(
    i: &mut Sa,
    r: &mut Sa,
    link: Link,
    seed: u64,
    start: Instant,
    mut done: impl FnMut(&mut Sa, &mut Sa) -> bool,
) -> Vec<(bool, Vec<u8>)> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut now = start;
    let mut sent = Vec::new();
    for _ in 0..2000 {
        let mut batch = Vec::new();
        for (from_i, m) in [(true, &mut *i), (false, &mut *r)] {
            loop {
                let mut buf = Vec::new();
                if m.poll_transmit(now, &mut buf).is_none() {
                    break;
                }
                sent.push((from_i, buf.clone()));
                batch.push((from_i, buf));
            }
        }
        let idle = batch.is_empty();
        let mut deliver = Vec::new();
        for (from_i, d) in batch {
            if rng.next_u32() % 100 < link.loss {
                continue;
            }
            if rng.next_u32() % 100 < link.dup {
                deliver.push((from_i, d.clone()));
            }
            let mut d = d;
            // Only protected messages: a flipped bit in IKE_SA_INIT (which nothing
            // protects) would only make AUTH fail later, as it should.
            if rng.next_u32() % 100 < link.corrupt && exchange(&d).0 != ExchangeType::IkeSaInit {
                let at = usize::try_from(rng.next_u32()).unwrap() % d.len();
                d[at] ^= 1 << (rng.next_u32() % 8);
            }
            deliver.push((from_i, d));
        }
        if link.reorder {
            for k in (1..deliver.len()).rev() {
                let j = usize::try_from(rng.next_u32()).unwrap() % (k + 1);
                deliver.swap(k, j);
            }
        }
        for (from_i, d) in deliver {
            // Errors are dropped datagrams; the state machines must shrug them off.
            let _ = if from_i { r.handle_input(now, &d) } else { i.handle_input(now, &d) };
        }
        if idle {
            if done(i, r) {
                break;
            }
            let Some(next) = [i.poll_timeout(), r.poll_timeout()].into_iter().flatten().min() else { break };
            now = now.max(next);
            i.handle_timeout(now);
            r.handle_timeout(now);
        }
    }
    sent
}

fn established(m: &mut Sa) -> l2sec_ike::child::ChildSa {
    let ev: Vec<Event> = std::iter::from_fn(|| m.poll_event()).collect();
    match ev.as_slice() {
        [Event::Established { child, .. }] => child.clone(),
        other => panic!("expected one Established event, got {other:?}"),
    }
}

fn exchange(d: &[u8]) -> (ExchangeType, PayloadType) {
    let m = Message::parse(d).unwrap();
    (m.header.exchange_type, m.header.next_payload)
}

fn announces_fragmentation(d: &[u8]) -> bool {
    Message::parse(d).unwrap().payloads().any(|p| {
        matches!(p.unwrap().parse().unwrap(), Payload::Notify(n) if n.notify_type == NotifyType::Ikev2FragmentationSupported)
    })
}

#[test]
fn certificate_ike_auth_over_a_576_byte_path_goes_in_fragments() {
    for suite in suites() {
        let (mut i, mut r) = pair(suite);
        let sent = run(&mut i, &mut r, CLEAN, 0);
        let (ci, cr) = (established(&mut i), established(&mut r));
        assert_eq!(ci.keys_out, cr.keys_in);
        assert_eq!(ci.keys_in, cr.keys_out);
        assert!(announces_fragmentation(&sent[0].1) && announces_fragmentation(&sent[1].1));
        let auth: Vec<_> = sent.iter().filter(|(_, d)| exchange(d).0 == ExchangeType::IkeAuth).collect();
        for (from_i, d) in &auth {
            assert_eq!(exchange(d).1, PayloadType::EncryptedFragment, "IKE_AUTH went out whole");
            assert!(d.len() <= MAX_MESSAGE, "a fragment of {} bytes", d.len());
            // Each fragment is protected on its own with the sender's keys.
            let keys = i.keys().unwrap();
            let (f, _) = open_any(&suite, keys.sender(*from_i), &Message::parse(d).unwrap()).unwrap();
            let f = f.expect("an SKF message");
            assert!(f.total >= 3, "{f:?}");
        }
        let from_i = auth.iter().filter(|(f, _)| *f).count();
        assert!(from_i >= 3 && auth.len() - from_i >= 3, "{from_i} + {} fragments", auth.len() - from_i);
    }
}

#[test]
fn fragments_survive_loss_duplication_reordering_and_corruption() {
    let link = Link { loss: 20, dup: 20, corrupt: 5, reorder: true };
    let mut lossy_runs = 0;
    for suite in suites() {
        for seed in 0..12 {
            let (mut i, mut r) = pair(suite);
            let sent = run(&mut i, &mut r, link, seed);
            eprintln!("seed {seed}: {:?} {:?} {} datagrams", i.state(), r.state(), sent.len());
            let (ci, cr) = (established(&mut i), established(&mut r));
            assert_eq!(ci.keys_out, cr.keys_in, "seed {seed}");
            let auth = sent.iter().filter(|(_, d)| exchange(d).0 == ExchangeType::IkeAuth).count();
            // A clean exchange sends the two IKE_AUTH messages in about 8 fragments.
            if auth > 12 {
                lossy_runs += 1;
            }
        }
    }
    assert!(lossy_runs >= 6, "the link hardly lost anything ({lossy_runs} runs with retransmissions)");
}

#[test]
fn no_fragments_unless_both_announce_support() {
    for (ei, er) in [(true, false), (false, true)] {
        let now = Instant::now();
        let mut ic = config("client.l2sec.test", "192.0.2.1:500", "192.0.2.2:500", "client-rsa", suites()[0]);
        let mut rc = config("server.l2sec.test", "192.0.2.2:500", "192.0.2.1:500", "server-rsa", suites()[0]);
        ic.fragment_size = ei.then_some(MAX_MESSAGE);
        rc.fragment_size = er.then_some(MAX_MESSAGE);
        let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
        let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
        let sent = run(&mut i, &mut r, CLEAN, 0);
        established(&mut i);
        established(&mut r);
        assert!(!announces_fragmentation(&sent[1].1), "the responder answered an absent announcement");
        assert_eq!(sent.len(), 4);
        assert!(sent.iter().all(|(_, d)| exchange(d).1 != PayloadType::EncryptedFragment));
        assert!(sent[2].1.len() > MAX_MESSAGE);
    }
}

#[test]
fn a_small_ike_auth_goes_whole() {
    let now = Instant::now();
    let (a, b) = ("192.0.2.1:500".parse().unwrap(), "192.0.2.2:500".parse().unwrap());
    let mut ic = IkeSaConfig::new(b"psk", Identity::fqdn("client"), a, b);
    let mut rc = IkeSaConfig::new(b"psk", Identity::fqdn("server"), b, a);
    ic.fragment_size = Some(MAX_MESSAGE);
    rc.fragment_size = Some(MAX_MESSAGE);
    let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
    let sent = run(&mut i, &mut r, CLEAN, 0);
    established(&mut i);
    established(&mut r);
    assert!(announces_fragmentation(&sent[0].1) && announces_fragmentation(&sent[1].1));
    assert_eq!(sent.len(), 4);
    assert_eq!(exchange(&sent[2].1), (ExchangeType::IkeAuth, PayloadType::Encrypted));
}

#[test]
fn a_lost_response_is_sent_again_when_fragment_1_of_the_request_returns() {
    let (mut i, mut r) = pair(suites()[1]);
    let now = Instant::now();
    let mut buf = Vec::new();
    // IKE_SA_INIT.
    i.poll_transmit(now, &mut buf).unwrap();
    r.handle_input(now, &buf).unwrap();
    buf.clear();
    r.poll_transmit(now, &mut buf).unwrap();
    i.handle_input(now, &buf).unwrap();
    // IKE_AUTH request fragments, delivered.
    let mut request = Vec::new();
    loop {
        let mut d = Vec::new();
        if i.poll_transmit(now, &mut d).is_none() {
            break;
        }
        r.handle_input(now, &d).unwrap();
        request.push(d);
    }
    assert!(request.len() >= 3);
    assert_eq!(r.state(), State::Established);
    // The responder's fragments are lost.
    let count = std::iter::from_fn(|| r.poll_transmit(now, &mut Vec::new())).count();
    assert!(count >= 3);
    // Fragments other than 1 of the same request change nothing; fragment 1 brings
    // the whole response again.
    r.handle_input(now, &request[1]).unwrap();
    assert!(r.poll_transmit(now, &mut Vec::new()).is_none());
    r.handle_input(now, &request[0]).unwrap();
    let again: Vec<Vec<u8>> = std::iter::from_fn(|| {
        let mut d = Vec::new();
        r.poll_transmit(now, &mut d).map(|_| d)
    })
    .collect();
    assert_eq!(again.len(), count);
    for d in &again {
        i.handle_input(now, d).unwrap();
    }
    assert_eq!(i.state(), State::Established);
    established(&mut i);
    established(&mut r);
}

/// Established-phase exchanges go in fragments too: with 200-byte IKE messages (the
/// smallest `fragment_size` takes) a CREATE_CHILD_SA for a new Child SA with PFS, its rekey by the responder,
/// and a Child SA the responder creates, all through a lossy, duplicating, reordering
/// link. (Not the IKE SA rekey over a lossy link: a retired IKE SA does not reassemble
/// a retransmitted fragmented request; `ikev2_fragment_pair.rs` has its lossless case.)
#[test]
fn create_child_sa_exchanges_are_fragmented_too() {
    let link = Link { loss: 15, dup: 15, corrupt: 3, reorder: true };
    for (n, suite) in suites().into_iter().enumerate() {
        let seed = 100 + u64::try_from(n).unwrap();
        let start = Instant::now();
        let (a, b): (SocketAddr, SocketAddr) =
            ("192.0.2.1:500".parse().unwrap(), "192.0.2.2:500".parse().unwrap());
        let config = |id: &str, local, remote| {
            let mut c = IkeSaConfig::new(b"psk", Identity::fqdn(id), local, remote);
            c.proposals = vec![suite];
            c.fragment_size = Some(200);
            c.max_retransmits = 10;
            c.handshake_timeout = Duration::from_secs(3600);
            c
        };
        let mut i = IkeSa::initiate(config("client", a, b), ChaCha20Rng::seed_from_u64(seed), start).unwrap();
        let mut r = IkeSa::respond(config("server", b, a), ChaCha20Rng::seed_from_u64(seed + 10), start);
        let sent = run_until(&mut i, &mut r, CLEAN, seed, start, |i, r| {
            i.state() == State::Established && r.state() == State::Established
        });
        established(&mut i);
        established(&mut r);
        assert!(
            sent.iter().any(|(_, d)| exchange(d) == (ExchangeType::IkeAuth, PayloadType::EncryptedFragment))
        );
        // One more L2TP-shaped Child SA, with PFS (the KE payload makes the messages long).
        let child = || {
            let mut c = ChildConfig::l2tp(a.ip(), b.ip());
            c.pfs = Some(l2sec_ike::crypto::DhGroup::Modp2048);
            c
        };
        let child_r = || {
            let mut c = ChildConfig::l2tp(b.ip(), a.ip());
            c.pfs = Some(l2sec_ike::crypto::DhGroup::Modp2048);
            c
        };
        let fragmented = |sent: &[(bool, Vec<u8>)]| {
            sent.iter()
                .filter(|(_, d)| exchange(d) == (ExchangeType::CreateChildSa, PayloadType::EncryptedFragment))
                .count()
        };
        let mut events: Vec<(bool, Event)> = Vec::new();
        i.create_child(start, child()).unwrap();
        let sent = run_until(&mut i, &mut r, link, seed, start, |i, r| {
            gather(&mut events, i, r);
            count(&events, |e| matches!(e, Event::ChildSaCreated { .. })) == 2
        });
        assert!(fragmented(&sent) >= 4, "CREATE_CHILD_SA not fragmented: {}", fragmented(&sent));
        let created: Vec<_> = events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::ChildSaCreated { child, .. } => Some(child.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(created.len(), 2, "{events:?}");
        assert_eq!(created[0].keys_out, created[1].keys_in);
        // The responder rekeys that Child SA (PFS again), then creates one more itself.
        let spi = events
            .iter()
            .find_map(|(from_i, e)| match e {
                Event::ChildSaCreated { child, .. } if !from_i => Some(child.spi_in),
                _ => None,
            })
            .unwrap();
        r.rekey_child(start, spi).unwrap();
        let sent = run_until(&mut i, &mut r, link, seed + 1, start, |i, r| {
            gather(&mut events, i, r);
            count(&events, |e| matches!(e, Event::ChildSaRekeyed { .. })) == 2
        });
        assert!(fragmented(&sent) >= 4, "Child SA rekey not fragmented: {}", fragmented(&sent));
        let rekeyed: Vec<_> = events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::ChildSaRekeyed { child, old_spi_in, .. } => Some((child.clone(), *old_spi_in)),
                _ => None,
            })
            .collect();
        assert_eq!(rekeyed.len(), 2, "{events:?}");
        assert_eq!(rekeyed[0].0.keys_out, rekeyed[1].0.keys_in);
        assert!(rekeyed.iter().any(|(_, old)| *old == spi));
        r.create_child(start, child_r()).unwrap();
        let sent = run_until(&mut i, &mut r, link, seed + 2, start, |i, r| {
            gather(&mut events, i, r);
            count(&events, |e| matches!(e, Event::ChildSaCreated { .. })) == 4
        });
        assert!(fragmented(&sent) >= 4, "responder's CREATE_CHILD_SA not fragmented");
        assert!(
            events.iter().all(|(_, e)| !matches!(e, Event::Failed(_) | Event::CreateChildFailed { .. })),
            "{events:?}"
        );
        assert_eq!(i.state(), State::Established);
        assert_eq!(r.state(), State::Established);
    }
}

fn gather(events: &mut Vec<(bool, Event)>, i: &mut Sa, r: &mut Sa) {
    events.extend(std::iter::from_fn(|| i.poll_event()).map(|e| (true, e)));
    events.extend(std::iter::from_fn(|| r.poll_event()).map(|e| (false, e)));
}

fn count(events: &[(bool, Event)], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|(_, e)| f(e)).count()
}

//! RFC 7383 IKEv2 fragmentation: our initiator and responder with a small fragment size
//! on a virtual clock, with lost, duplicated and reordered fragments.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2sec_ike::crypto::DhGroup;
use l2sec_ike::v2::ike_sa::{ChildConfig, Event, Identity, IkeSa, IkeSaConfig, State};
use l2sec_ike::v2::keys::IkeSuite;
use l2sec_ike::wire::v2::{ExchangeType, Message, PayloadType};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Sa = IkeSa<ChaCha20Rng>;

const SIZE: usize = 256;

fn configs(i_frag: Option<usize>, r_frag: Option<usize>, suite: IkeSuite) -> (IkeSaConfig, IkeSaConfig) {
    let (a, b): (SocketAddr, SocketAddr) =
        ("192.0.2.1:500".parse().unwrap(), "192.0.2.2:500".parse().unwrap());
    let mut i = IkeSaConfig::new(b"psk", Identity::fqdn("client.example"), a, b);
    let mut r = IkeSaConfig::new(b"psk", Identity::fqdn("server.example"), b, a);
    i.fragment_size = i_frag;
    r.fragment_size = r_frag;
    for c in [&mut i, &mut r] {
        c.proposals = vec![suite];
        c.ike_lifetime = None;
        c.child.lifetime.time = None;
    }
    (i, r)
}

fn drain(m: &mut Sa, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = m.poll_transmit(now, &mut buf) {
        assert_eq!(t.size, buf.len());
        out.push(std::mem::take(&mut buf));
    }
    out
}

/// Runs the pair; `mangle(n, batch)` may drop, duplicate or reorder each batch of
/// datagrams (n counts batches). Returns every datagram sent.
fn run(i: &mut Sa, r: &mut Sa, mut now: Instant, mangle: &dyn Fn(usize, &mut Vec<Vec<u8>>)) -> Vec<Vec<u8>> {
    let mut wire = Vec::new();
    let mut batch = 0;
    for _ in 0..200 {
        let mut idle = true;
        for from_i in [true, false] {
            let (src, dst) = if from_i { (&mut *i, &mut *r) } else { (&mut *r, &mut *i) };
            let mut out = drain(src, now);
            if out.is_empty() {
                continue;
            }
            idle = false;
            wire.extend(out.iter().cloned());
            batch += 1;
            mangle(batch, &mut out);
            for d in out {
                let _ = dst.handle_input(now, &d);
            }
        }
        if idle {
            let busy = |m: &Sa| !matches!(m.state(), State::Established | State::Failed | State::Closed);
            let Some(next) = [i.poll_timeout(), r.poll_timeout()].into_iter().flatten().min() else { break };
            if !busy(i) && !busy(r) && next > now + Duration::from_secs(100) {
                break;
            }
            now = now.max(next);
            i.handle_timeout(now);
            r.handle_timeout(now);
        }
    }
    wire
}

fn is_fragment(d: &[u8]) -> bool {
    Message::parse(d).unwrap().header.next_payload == PayloadType::EncryptedFragment
}

fn establish(suite: IkeSuite, mangle: &dyn Fn(usize, &mut Vec<Vec<u8>>)) -> (Sa, Sa, Vec<Vec<u8>>) {
    let now = Instant::now();
    let (ic, rc) = configs(Some(SIZE), Some(SIZE), suite);
    let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
    let wire = run(&mut i, &mut r, now, mangle);
    (i, r, wire)
}

fn assert_established(i: &mut Sa, r: &mut Sa) {
    let a = match i.poll_event() {
        Some(Event::Established { child, .. }) => child,
        other => panic!("initiator: {other:?}"),
    };
    let b = match r.poll_event() {
        Some(Event::Established { child, .. }) => child,
        other => panic!("responder: {other:?}"),
    };
    assert_eq!((a.keys_in, a.keys_out), (b.keys_out, b.keys_in));
}

/// IKE_AUTH goes out in fragments no longer than the size (messages that fit go whole),
/// for CBC and GCM; the handshake completes.
#[test]
fn ike_auth_is_fragmented_and_reassembled() {
    for suite in [IkeSuite::aes128_sha256(DhGroup::Modp2048), IkeSuite::aes_gcm16(16, DhGroup::Curve25519)] {
        let (mut i, mut r, wire) = establish(suite, &|_, _| {});
        assert_established(&mut i, &mut r);
        let auth: Vec<&Vec<u8>> = wire
            .iter()
            .filter(|d| Message::parse(d).unwrap().header.exchange_type == ExchangeType::IkeAuth)
            .collect();
        assert!(
            auth.iter().all(|d| d.len() <= SIZE),
            "{:?}",
            auth.iter().map(|d| d.len()).collect::<Vec<_>>()
        );
        let request_fragments = auth
            .iter()
            .filter(|d| is_fragment(d) && Message::parse(d).unwrap().header.flags.initiator())
            .count();
        assert!(request_fragments >= 2, "the IKE_AUTH request went in {request_fragments} fragment(s)");
    }
}

/// A lost fragment: the whole message is sent again (the same fragments) and completes;
/// duplicated and reversed fragments are harmless.
#[test]
fn lost_duplicated_and_reordered_fragments() {
    let suite = IkeSuite::aes128_sha256(DhGroup::Curve25519);
    // Batch 2 is the IKE_SA_INIT response; 3 the IKE_AUTH request fragments.
    let (mut i, mut r, wire) = establish(suite, &|n, b| {
        if n == 3 {
            b.remove(1);
        }
    });
    assert_established(&mut i, &mut r);
    let auth: Vec<&Vec<u8>> = wire
        .iter()
        .filter(|d| Message::parse(d).unwrap().header.exchange_type == ExchangeType::IkeAuth)
        .collect();
    let first_request: Vec<_> =
        auth.iter().filter(|d| Message::parse(d).unwrap().header.flags.initiator()).collect();
    let n = first_request.len() / 2;
    assert_eq!(&first_request[..n], &first_request[n..], "the retransmission repeats the same fragments");
    let (mut i, mut r, _) = establish(suite, &|_, b| {
        b.reverse();
        let copy = b.clone();
        b.extend(copy);
    });
    assert_established(&mut i, &mut r);
}

/// After the handshake: a CREATE_CHILD_SA with a MODP-2048 KE (too long for one
/// datagram) is fragmented too, as are the requests of the peer that did not start.
#[test]
fn create_child_sa_with_pfs_is_fragmented() {
    let (mut i, mut r, _) = establish(IkeSuite::aes128_sha256(DhGroup::Modp2048), &|_, _| {});
    assert_established(&mut i, &mut r);
    let mut c = ChildConfig::l2tp("192.0.2.2".parse().unwrap(), "192.0.2.1".parse().unwrap());
    c.pfs = Some(DhGroup::Modp2048);
    r.create_child(Instant::now(), c).unwrap();
    let wire = run(&mut i, &mut r, Instant::now(), &|_, _| {});
    assert!(wire.iter().filter(|d| is_fragment(d)).count() >= 4);
    assert!(matches!(i.poll_event(), Some(Event::ChildSaCreated { .. })));
    assert!(matches!(r.poll_event(), Some(Event::ChildSaCreated { .. })));
}

/// Fragmentation needs both sides: with only one announcing it, messages go whole.
#[test]
fn no_fragments_unless_both_support_it() {
    for (a, b) in [(Some(SIZE), None), (None, Some(SIZE))] {
        let now = Instant::now();
        let (ic, rc) = configs(a, b, IkeSuite::aes128_sha256(DhGroup::Curve25519));
        let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
        let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
        let wire = run(&mut i, &mut r, now, &|_, _| {});
        assert_established(&mut i, &mut r);
        assert!(!wire.iter().any(|d| is_fragment(d)));
        assert!(wire.iter().any(|d| d.len() > SIZE));
    }
}

/// A fragment from the wrong side, with a bad ICV, or claiming too many fragments is
/// refused and changes nothing.
#[test]
fn bad_fragments_are_refused() {
    let now = Instant::now();
    let (ic, rc) = configs(Some(SIZE), Some(SIZE), IkeSuite::aes128_sha256(DhGroup::Curve25519));
    let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
    let init = drain(&mut i, now);
    r.handle_input(now, &init[0]).unwrap();
    let resp = drain(&mut r, now);
    i.handle_input(now, &resp[0]).unwrap();
    let frags = drain(&mut i, now);
    assert!(frags.len() >= 2 && frags.iter().all(|d| is_fragment(d)));
    // Our own fragment echoed back to the initiator: not from the peer.
    assert!(i.handle_input(now, &frags[0]).is_err());
    let mut bad = frags[0].clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(r.handle_input(now, &bad).is_err());
    for f in &frags {
        r.handle_input(now, f).unwrap();
    }
    assert_eq!(r.state(), State::Established);
}

mod proptests {
    use l2sec_ike::crypto::DhGroup;
    use l2sec_ike::v2::keys::{IkeKeys, IkeSuite, open_any, seal_fragment};
    use l2sec_ike::wire::v2::{ExchangeType, Flags, Fragment, Header, Message, PayloadType};
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    proptest! {
        /// An SKF message opens to the piece it was sealed with, at its position, for
        /// CBC and GCM; a flipped bit anywhere fails the check.
        #[test]
        fn fragment_seal_open_round_trip(
            piece in proptest::collection::vec(any::<u8>(), 0..300),
            total in 1u16..64,
            number_seed in any::<u16>(),
            gcm in any::<bool>(),
            flip in any::<usize>(),
        ) {
            let suite = if gcm {
                IkeSuite::aes_gcm16(16, DhGroup::Curve25519)
            } else {
                IkeSuite::aes128_sha256(DhGroup::Curve25519)
            };
            let keys = IkeKeys::derive(&suite, &[1; 32], &[2; 32], &[3; 32], &[4; 8], &[5; 8]).unwrap();
            let number = number_seed % total + 1;
            let header = Header::new([4; 8], [5; 8], ExchangeType::IkeAuth, Flags::INITIATOR, 1);
            let first = if number == 1 { PayloadType::IdentificationInitiator } else { PayloadType::None };
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            let f = Fragment { number, total };
            let msg = seal_fragment(&suite, keys.sender(true), &header, first, f, &piece, &mut rng).unwrap();
            let m = Message::parse(&msg).unwrap();
            let (got, opened) = open_any(&suite, keys.sender(true), &m).unwrap();
            prop_assert_eq!(got, Some(f));
            prop_assert_eq!(&opened.chain[..], &piece[..]);
            prop_assert_eq!(opened.first_inner, first);
            let mut bad = msg.clone();
            let i = flip % bad.len();
            bad[i] ^= 0x40;
            let ok = Message::parse(&bad).ok().and_then(|m| open_any(&suite, keys.sender(true), &m).ok());
            prop_assert!(ok.is_none(), "a flipped bit at {} went unnoticed", i);
        }
    }
}

/// One CREATE_CHILD_SA with a MODP-2048 KE from the initiator, delivered whole both
/// ways; returns the request's and the response's fragments.
fn fragmented_create_child(i: &mut Sa, r: &mut Sa, now: Instant) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut c = ChildConfig::l2tp("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    c.pfs = Some(DhGroup::Modp2048);
    i.create_child(now, c).unwrap();
    let request = drain(i, now);
    for d in &request {
        r.handle_input(now, d).unwrap();
    }
    let response = drain(r, now);
    for d in &response {
        i.handle_input(now, d).unwrap();
    }
    (request, response)
}

/// RFC 7383 §2.6: a fragment is kept only when it belongs to the exchange expected (a
/// request with the peer's next Message ID, or the answer to our outstanding request):
/// stale fragments of older exchanges, arriving while another message is being put back
/// together, are refused without disturbing it, so the message completes at once.
/// RFC 7383 §2.6.1: a retransmitted first fragment of the request answered last brings
/// that answer again (the same fragments); its other fragments are ignored.
#[test]
fn fragments_of_other_exchanges_are_refused() {
    let (mut i, mut r, _) = establish(IkeSuite::aes128_sha256(DhGroup::Modp2048), &|_, _| {});
    assert_established(&mut i, &mut r);
    let now = Instant::now();
    let (old_request, old_response) = fragmented_create_child(&mut i, &mut r, now);
    let (last_request, last_response) = fragmented_create_child(&mut i, &mut r, now);
    assert!(old_request.len() >= 2 && old_response.len() >= 2);
    assert!(old_request.iter().chain(&old_response).all(|d| is_fragment(d)));

    let mut c = ChildConfig::l2tp("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    c.pfs = Some(DhGroup::Modp2048);
    i.create_child(now, c).unwrap();
    let request = drain(&mut i, now);
    assert!(request.len() >= 2);
    r.handle_input(now, &request[0]).unwrap();
    // Two exchanges back: refused.
    for d in &old_request {
        assert!(r.handle_input(now, d).is_err(), "a stale request fragment was kept");
    }
    // The last answered request's second fragment: ignored; its first: the same answer.
    r.handle_input(now, &last_request[1]).unwrap();
    assert!(drain(&mut r, now).is_empty());
    r.handle_input(now, &last_request[0]).unwrap();
    assert_eq!(drain(&mut r, now), last_response, "the cached answer, fragment for fragment");
    for d in &request[1..] {
        r.handle_input(now, d).unwrap();
    }
    let response = drain(&mut r, now);
    assert!(response.len() >= 2, "the responder answers at once: {} datagram(s)", response.len());

    i.handle_input(now, &response[0]).unwrap();
    // Answers to requests no longer outstanding: refused.
    for d in old_response.iter().chain(&last_response) {
        assert!(i.handle_input(now, d).is_err(), "a stale response fragment was kept");
    }
    for d in &response[1..] {
        i.handle_input(now, d).unwrap();
    }
    for m in [&mut i, &mut r] {
        let created = std::iter::from_fn(|| m.poll_event())
            .filter(|e| matches!(e, Event::ChildSaCreated { .. }))
            .count();
        assert_eq!(created, 3);
    }
    // Nothing outstanding: a late fragment of our own last exchange is refused too.
    assert!(i.handle_input(now, &response[1]).is_err());
}

/// An IKE SA rekey with a MODP-2048 KE: the answer, sent on the old IKE SA right as the
/// new one takes over, goes in fragments too, and the rekey completes with no timer
/// firing.
#[test]
fn ike_sa_rekey_answer_is_fragmented() {
    for initiator_rekeys in [true, false] {
        let (mut i, mut r, _) = establish(IkeSuite::aes128_sha256(DhGroup::Modp2048), &|_, _| {});
        assert_established(&mut i, &mut r);
        let now = Instant::now();
        let old = i.spis();
        if initiator_rekeys {
            i.rekey_ike(now).unwrap();
        } else {
            r.rekey_ike(now).unwrap();
        }
        let mut wire = Vec::new();
        for _ in 0..6 {
            for (from_i, d) in drain(&mut i, now)
                .into_iter()
                .map(|d| (true, d))
                .chain(drain(&mut r, now).into_iter().map(|d| (false, d)))
            {
                let _ = if from_i { r.handle_input(now, &d) } else { i.handle_input(now, &d) };
                wire.push(d);
            }
        }
        for m in [&mut i, &mut r] {
            let rekeyed = std::iter::from_fn(|| m.poll_event())
                .filter(|e| matches!(e, Event::IkeSaRekeyed { .. }))
                .count();
            assert_eq!(rekeyed, 1, "rekeyed by the initiator: {initiator_rekeys}");
        }
        assert_ne!(i.spis(), old);
        let answers: Vec<_> = wire
            .iter()
            .filter(|d| {
                let h = Message::parse(d).unwrap().header;
                h.exchange_type == ExchangeType::CreateChildSa && h.flags.response()
            })
            .collect();
        assert!(answers.len() >= 2, "the rekey's answer went whole");
        assert!(answers.iter().all(|d| is_fragment(d) && d.len() <= SIZE));
    }
}

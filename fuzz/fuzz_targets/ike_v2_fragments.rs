//! Fuzzes RFC 7383 reassembly inside an established IKEv2 pair that fragments at 200
//! bytes. Genuine fragments (of CREATE_CHILD_SA exchanges with a DH group, long enough to
//! be cut) are kept in a pool and delivered in any order, any number of times, with bits
//! flipped; besides them come fragments that authenticate (sealed with the IKE SA's real
//! keys) but carry arbitrary Message IDs, flags, numbers, totals and contents, and
//! arbitrary datagrams. Nothing may panic, the poll functions stay consistent, and no
//! fragment we send is longer than the configured size.
#![no_main]

use std::time::{Duration, Instant};

use l2sec_ike::crypto::DhGroup;
use l2sec_ike::v2::ike_sa::{ChildConfig, Identity, IkeSa, IkeSaConfig, Role};
use l2sec_ike::v2::keys::{IkeSuite, seal_fragment};
use l2sec_ike::wire::v2::{ExchangeType, Flags, Fragment, Header, Message, PayloadType};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

type Sa = IkeSa<ChaCha20Rng>;

/// The IKE message size both sides fragment for.
const SIZE: usize = 200;
/// Most datagrams kept for replay.
const POOL: usize = 256;

/// Everything `m` sends now; checks that fragments respect the size.
fn drain(m: &mut Sa, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = m.poll_transmit(now, &mut buf) {
        assert_eq!(t.size, buf.len());
        if let Ok(msg) = Message::parse(&buf) {
            if msg.header.next_payload == PayloadType::EncryptedFragment {
                assert!(buf.len() <= SIZE, "a {}-byte fragment", buf.len());
            }
        }
        out.push(std::mem::take(&mut buf));
    }
    out
}

/// Moves what both sides send into the pool (true: sent by the initiator).
fn collect(pool: &mut Vec<(bool, Vec<u8>)>, i: &mut Sa, r: &mut Sa, now: Instant) {
    for (from_i, m) in [(true, &mut *i), (false, &mut *r)] {
        for d in drain(m, now) {
            if pool.len() >= POOL {
                pool.remove(0);
            }
            pool.push((from_i, d));
        }
    }
}

fn deliver(i: &mut Sa, r: &mut Sa, now: Instant, from_i: bool, d: &[u8]) {
    let _ = if from_i { r.handle_input(now, d) } else { i.handle_input(now, d) };
}

fuzz_target!(|data: &[u8]| {
    let [pick, tail @ ..] = data else { return };
    let mut rest = tail;
    let suite = if pick & 1 == 0 {
        IkeSuite::aes_gcm16(16, DhGroup::Curve25519)
    } else {
        IkeSuite::aes128_sha256(DhGroup::Curve25519)
    };
    let start = Instant::now();
    let mut now = start;
    let (a, b) = ("192.0.2.1:500".parse().unwrap(), "192.0.2.2:500".parse().unwrap());
    let cfg = |id, l, r| {
        let mut c = IkeSaConfig::new(b"fuzz", Identity::fqdn(id), l, r);
        c.proposals = vec![suite];
        c.ike_lifetime = None;
        c.child.lifetime.time = None;
        c.fragment_size = Some(SIZE);
        c
    };
    let mut r = IkeSa::respond(cfg("r", b, a), ChaCha20Rng::seed_from_u64(1), now);
    let Ok(mut i) = IkeSa::initiate(cfg("i", a, b), ChaCha20Rng::seed_from_u64(2), now) else { return };
    for _ in 0..4 {
        for d in drain(&mut i, now) {
            let _ = r.handle_input(now, &d);
        }
        for d in drain(&mut r, now) {
            let _ = i.handle_input(now, &d);
        }
    }
    let mut forge_rng = ChaCha20Rng::seed_from_u64(u64::from(*pick));
    let mut pool: Vec<(bool, Vec<u8>)> = Vec::new();
    while let [op, arg, tail @ ..] = rest {
        rest = tail;
        match op % 7 {
            // A new exchange from either side; its fragments wait in the pool.
            0 => {
                let m = if arg & 1 == 0 { &mut i } else { &mut r };
                let (l, p) = if arg & 1 == 0 { (a.ip(), b.ip()) } else { (b.ip(), a.ip()) };
                let mut c = ChildConfig::l2tp(l, p);
                c.pfs = Some(DhGroup::Curve25519);
                let _ = match (arg >> 1) % 3 {
                    0 => m.create_child(now, c),
                    1 => m.rekey_ike(now),
                    _ => {
                        let spi = m.child_spis().first().copied().unwrap_or(0);
                        m.rekey_child(now, spi)
                    }
                };
                collect(&mut pool, &mut i, &mut r, now);
            }
            // A pooled datagram, again (duplicates, any order).
            1 if !pool.is_empty() => {
                let (from_i, d) = pool[usize::from(*arg) % pool.len()].clone();
                deliver(&mut i, &mut r, now, from_i, &d);
                collect(&mut pool, &mut i, &mut r, now);
            }
            // A pooled datagram with one bit flipped.
            2 if !pool.is_empty() => {
                let (from_i, mut d) = pool[usize::from(*arg) % pool.len()].clone();
                let [at, bit, after @ ..] = rest else { break };
                rest = after;
                let k = usize::from(*at) * 3 % d.len();
                d[k] ^= 1 << (bit % 8);
                deliver(&mut i, &mut r, now, from_i, &d);
            }
            // A fragment that authenticates, with arbitrary fields.
            3 => {
                let [id, flags, n_hi, n_lo, t_hi, t_lo, len, after @ ..] = rest else { break };
                let n = usize::from(*len).min(after.len());
                let (piece, after) = after.split_at(n);
                rest = after;
                let from_i = arg & 1 == 0;
                let sender = if from_i { &i } else { &r };
                let (Some(keys), (spi_i, spi_r)) = (sender.keys(), sender.spis()) else { continue };
                let sender_is_initiator = sender.role() == Role::Initiator;
                let mut f = if sender_is_initiator { Flags::INITIATOR } else { Flags(0) };
                if flags & 1 != 0 {
                    f = f | Flags::RESPONSE;
                }
                let exchange =
                    if flags & 2 == 0 { ExchangeType::CreateChildSa } else { ExchangeType::Informational };
                let header = Header::new(spi_i, spi_r, exchange, f, u32::from(*id % 8));
                let fragment = Fragment {
                    number: u16::from_be_bytes([*n_hi, *n_lo]),
                    total: u16::from_be_bytes([*t_hi, *t_lo]),
                };
                let first = if fragment.number == 1 { PayloadType::Notify } else { PayloadType::None };
                let sealed = seal_fragment(
                    &suite,
                    keys.sender(sender_is_initiator),
                    &header,
                    first,
                    fragment,
                    piece,
                    &mut forge_rng,
                );
                if let Ok(d) = sealed {
                    deliver(&mut i, &mut r, now, from_i, &d);
                    collect(&mut pool, &mut i, &mut r, now);
                }
            }
            // An arbitrary datagram.
            4 => {
                let n = usize::from(*arg).min(rest.len());
                let (chunk, after) = rest.split_at(n);
                rest = after;
                deliver(&mut i, &mut r, now, n % 2 == 0, chunk);
            }
            // Time passes.
            5 => {
                now += Duration::from_millis(u64::from(*arg) * 100);
                i.handle_timeout(now);
                r.handle_timeout(now);
                collect(&mut pool, &mut i, &mut r, now);
            }
            // Everything in the pool, in order, once.
            _ => {
                for (from_i, d) in std::mem::take(&mut pool) {
                    deliver(&mut i, &mut r, now, from_i, &d);
                }
                collect(&mut pool, &mut i, &mut r, now);
            }
        }
        while i.poll_event().is_some() {}
        while r.poll_event().is_some() {}
        for m in [&i, &r] {
            if let Some(t) = m.poll_timeout() {
                assert!(t >= start);
            }
        }
    }
});

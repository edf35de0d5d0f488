//! Fuzzes an established IKEv2 pair: CREATE_CHILD_SA (new Child SA, Child SA and IKE SA
//! rekeys), Delete of Child SAs, lifetimes, fragmentation (RFC 7383) and the responder's
//! COOKIE guard. The first
//! byte of each chunk picks the action: an arbitrary datagram to either side or to the
//! guard, a command, a clock jump, or a round of the pair's own conversation with
//! datagrams dropped, duplicated or swapped. Nothing may panic, and the poll functions
//! stay consistent.
#![no_main]

use std::time::{Duration, Instant};

use l2sec_ike::crypto::DhGroup;
use l2sec_ike::v2::ike_sa::{ChildConfig, Identity, IkeSa, IkeSaConfig};
use l2sec_ike::v2::keys::IkeSuite;
use l2sec_ike::v2::responder::CookieGuard;
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

type Sa = IkeSa<ChaCha20Rng>;

fn drain(m: &mut Sa, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = m.poll_transmit(now, &mut buf) {
        assert_eq!(t.size, buf.len());
        out.push(std::mem::take(&mut buf));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let (a, b) = ("192.0.2.1:500".parse().unwrap(), "192.0.2.2:500".parse().unwrap());
    let cfg = |id, l, r| {
        let mut c = IkeSaConfig::new(b"fuzz", Identity::fqdn(id), l, r);
        c.proposals = vec![IkeSuite::aes_gcm16(16, DhGroup::Curve25519)];
        c.ike_lifetime = Some(Duration::from_secs(300));
        c.child.lifetime.time = Some(Duration::from_secs(120));
        // RFC 7383: small fragments, so reassembly is reached too.
        c.fragment_size = Some(200);
        c
    };
    let mut r = IkeSa::respond(cfg("r", b, a), ChaCha20Rng::seed_from_u64(1), now);
    let Ok(mut i) = IkeSa::initiate(cfg("i", a, b), ChaCha20Rng::seed_from_u64(2), now) else { return };
    let mut guard = CookieGuard::new(0, Duration::from_secs(30), ChaCha20Rng::seed_from_u64(3), now);
    // Establish first, so the fuzzer starts on the established SA.
    for _ in 0..4 {
        for d in drain(&mut i, now) {
            let _ = r.handle_input(now, &d);
        }
        for d in drain(&mut r, now) {
            let _ = i.handle_input(now, &d);
        }
    }
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        rest = after;
        match op % 8 {
            0 => {
                let _ = r.handle_input(now, chunk);
            }
            1 => {
                let _ = i.handle_input(now, chunk);
            }
            2 => {
                now += Duration::from_millis(u64::from(*len) * 500);
                i.handle_timeout(now);
                r.handle_timeout(now);
                guard.handle_timeout(now);
            }
            3 => {
                let m = if *len & 1 == 0 { &mut i } else { &mut r };
                let spi = m.child_spis().first().copied().unwrap_or(u32::from(*len));
                let _ = match (*len >> 1) % 4 {
                    0 => {
                        let mut c = ChildConfig::l2tp(a.ip(), b.ip());
                        c.pfs = (*len & 8 != 0).then_some(DhGroup::Curve25519);
                        m.create_child(now, c)
                    }
                    1 => m.rekey_child(now, spi),
                    2 => m.rekey_ike(now),
                    _ => m.delete_child(now, spi),
                };
            }
            4 => {
                let _ = guard.check(now, chunk, a);
                if *len & 1 == 0 {
                    guard.half_open_started();
                } else {
                    guard.half_open_ended();
                }
            }
            _ => {
                // A round of the pair's conversation; `len` decides each datagram's fate.
                let mut from_i = drain(&mut i, now);
                let mut from_r = drain(&mut r, now);
                if *len & 1 != 0 {
                    from_i.reverse();
                    from_r.reverse();
                }
                for (k, d) in from_i.iter().enumerate() {
                    let fate = (*len >> (k % 4)) & 3;
                    for _ in 0..[1, 0, 2, 1][usize::from(fate)] {
                        let _ = r.handle_input(now, d);
                    }
                }
                for (k, d) in from_r.iter().enumerate() {
                    let fate = (*len >> (k % 4 + 2)) & 3;
                    for _ in 0..[1, 0, 2, 1][usize::from(fate)] {
                        let _ = i.handle_input(now, d);
                    }
                }
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

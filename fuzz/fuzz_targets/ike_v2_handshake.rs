//! Fuzzes the IKEv2 IKE_SA_INIT + IKE_AUTH machines: a responder and an initiator are fed
//! arbitrary datagrams, clock jumps, liveness checks and deletes, and rounds of their own
//! conversation (the first byte of each chunk picks the action), so every state is
//! reached. Whatever comes in, nothing panics and the poll functions stay consistent.
#![no_main]

use std::time::{Duration, Instant};

use l2sec_ike::crypto::DhGroup;
use l2sec_ike::v2::ike_sa::{Identity, IkeSa, IkeSaConfig};
use l2sec_ike::v2::keys::IkeSuite;
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let (a, b) = ("192.0.2.1:500".parse().unwrap(), "192.0.2.2:500".parse().unwrap());
    let cfg = |id, l, r| {
        let mut c = IkeSaConfig::new(b"fuzz", Identity::fqdn(id), l, r);
        // Curve25519 keeps each round fast.
        c.proposals =
            vec![IkeSuite::aes_gcm16(16, DhGroup::Curve25519), IkeSuite::aes128_sha256(DhGroup::Curve25519)];
        c
    };
    let mut responder = IkeSa::respond(cfg("r", b, a), ChaCha20Rng::seed_from_u64(1), now);
    let Ok(mut initiator) = IkeSa::initiate(cfg("i", a, b), ChaCha20Rng::seed_from_u64(2), now) else {
        return;
    };
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        rest = after;
        match op % 6 {
            0 => {
                let _ = responder.handle_input(now, chunk);
            }
            1 => {
                let _ = initiator.handle_input(now, chunk);
            }
            2 => {
                now += Duration::from_millis(u64::from(*len) * 100);
                responder.handle_timeout(now);
                initiator.handle_timeout(now);
            }
            3 => {
                // Commands on the established SA (refused in other states).
                let _ = if *len & 1 == 0 { initiator.delete(now) } else { initiator.check_liveness(now) };
                let _ = if *len & 2 == 0 { responder.check_liveness(now) } else { responder.delete(now) };
            }
            _ => {
                let mut buf = Vec::new();
                if initiator.poll_transmit(now, &mut buf).is_some() {
                    let _ = responder.handle_input(now, &buf);
                }
                buf.clear();
                if responder.poll_transmit(now, &mut buf).is_some() {
                    let _ = initiator.handle_input(now, &buf);
                }
            }
        }
        let mut buf = Vec::new();
        while let Some(t) = responder.poll_transmit(now, &mut buf) {
            assert!(t.size <= buf.len());
        }
        while initiator.poll_transmit(now, &mut buf).is_some() {}
        while responder.poll_event().is_some() {}
        while initiator.poll_event().is_some() {}
        if let Some(t) = initiator.poll_timeout() {
            assert!(t >= start);
        }
    }
});

//! Fuzzes the IKEv1 phase-1 machines (Main Mode, or Aggressive Mode when the first input
//! byte is odd): a responder and an initiator are fed arbitrary datagrams and clock jumps
//! (the first byte of each chunk picks the action). Whatever comes in, nothing panics and
//! the poll functions stay consistent.
#![no_main]

use std::time::{Duration, Instant};

use l2sec_ike::v1::phase1::{Identity, Phase1, Phase1Config};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let cfg = |id| {
        let mut c = Phase1Config::new(b"fuzz", Identity::fqdn(id));
        c.allow_aggressive = true;
        c.proposals.truncate(1);
        c
    };
    let mut responder = Phase1::respond(cfg("r"), ChaCha20Rng::seed_from_u64(1), now);
    let initiator = if mode & 1 == 1 {
        Phase1::initiate_aggressive(cfg("i"), ChaCha20Rng::seed_from_u64(2), now)
    } else {
        Phase1::initiate(cfg("i"), ChaCha20Rng::seed_from_u64(2), now)
    };
    let Ok(mut initiator) = initiator else {
        return;
    };
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        rest = after;
        match op % 4 {
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
            _ => {
                // Let the two talk for a round, so deeper states are reached.
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
        if let Some(t) = responder.poll_timeout() {
            assert!(t >= start);
        }
    }
});

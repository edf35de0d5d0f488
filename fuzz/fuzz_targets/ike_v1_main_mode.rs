//! Fuzzes the IKEv1 phase-1 machines (Main Mode, or Aggressive Mode when the first input
//! byte is odd): a responder and an initiator are fed arbitrary datagrams and clock jumps
//! (the first byte of each chunk picks the action). Whatever comes in, nothing panics and
//! the poll functions stay consistent.
#![no_main]

use std::time::{Duration, Instant};

use l2sec_ike::rand_core::{TryCryptoRng, TryRng};
use l2sec_ike::v1::phase1::{Identity, Phase1, Phase1Config};
use libfuzzer_sys::fuzz_target;

/// Deterministic generator for fuzzing only (splitmix64): NOT a secure RNG.
struct FuzzRng(u64);

impl TryRng for FuzzRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for c in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
        Ok(())
    }
}
impl TryCryptoRng for FuzzRng {}

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
    let mut responder = Phase1::respond(cfg("r"), FuzzRng(1), now);
    let initiator = if mode & 1 == 1 {
        Phase1::initiate_aggressive(cfg("i"), FuzzRng(2), now)
    } else {
        Phase1::initiate(cfg("i"), FuzzRng(2), now)
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

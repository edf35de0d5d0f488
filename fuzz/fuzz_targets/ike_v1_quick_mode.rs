//! Fuzzes the IKEv1 Quick Mode machines: arbitrary datagrams go to a responder being
//! created and to an initiator and responder mid-exchange, mixed with clock jumps and
//! genuine messages, under a fixed ISAKMP SA; the informational decoder gets the same
//! datagrams. Nothing may panic.
#![no_main]

use std::time::{Duration, Instant};

use l2sec_ike::child::{EspEncapsulation, EspEncryption, EspIntegrity, EspMode};
use l2sec_ike::crypto::{CipherAlgorithm, PrfAlgorithm};
use l2sec_ike::v1::keys::{Iv, Phase1Keys};
use l2sec_ike::v1::quick::{EspProposal, IsakmpContext, QuickMode, QuickModeConfig};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn context() -> IsakmpContext {
    let prf = PrfAlgorithm::HmacSha1;
    let skeyid = prf.prf(b"fuzz", &[b"ni", b"nr"]);
    let keys = Phase1Keys::derive(prf, CipherAlgorithm::AesCbc128, &skeyid, b"gxy", &[1; 8], &[2; 8]);
    IsakmpContext { keys, phase1_iv: Iv::new(&[3; 16]), cookies: ([1; 8], [2; 8]), udp_encapsulated: false }
}

fn config() -> QuickModeConfig {
    QuickModeConfig {
        proposals: vec![EspProposal {
            encryption: EspEncryption::AesCbc { key_len: 16 },
            integrity: EspIntegrity::HmacSha1_96,
            lifetime: Duration::from_secs(3600),
        }],
        mode: EspMode::Transport,
        encapsulation: EspEncapsulation::None,
        traffic_selectors: None,
        retransmit_timeout: Duration::from_secs(1),
        max_retransmits: 2,
        pfs_group: None,
        nat_oa: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let Ok(mut initiator) = QuickMode::initiate(context(), config(), ChaCha20Rng::seed_from_u64(1), now)
    else {
        return;
    };
    let mut first = Vec::new();
    let _ = initiator.poll_transmit(now, &mut first);
    let mut responder =
        QuickMode::respond(context(), config(), ChaCha20Rng::seed_from_u64(2), now, &first).ok();
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        rest = after;
        match op % 5 {
            0 => {
                let _ = QuickMode::respond(context(), config(), ChaCha20Rng::seed_from_u64(3), now, chunk);
                let _ = l2sec_ike::v1::info::decode(&context(), chunk);
            }
            1 => {
                let _ = initiator.handle_input(now, chunk);
            }
            2 => {
                if let Some(r) = responder.as_mut() {
                    let _ = r.handle_input(now, chunk);
                }
            }
            3 => {
                now += Duration::from_millis(u64::from(*len) * 50);
                initiator.handle_timeout(now);
                if let Some(r) = responder.as_mut() {
                    r.handle_timeout(now);
                }
            }
            _ => {
                let mut buf = Vec::new();
                if let Some(r) = responder.as_mut() {
                    if r.poll_transmit(now, &mut buf).is_some() {
                        let _ = initiator.handle_input(now, &buf);
                    }
                    buf.clear();
                    if initiator.poll_transmit(now, &mut buf).is_some() {
                        let _ = r.handle_input(now, &buf);
                    }
                }
            }
        }
        while initiator.poll_event().is_some() {}
        if let Some(r) = responder.as_mut() {
            while r.poll_event().is_some() {}
        }
    }
});

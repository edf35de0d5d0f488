//! An l2sec LNS with an established tunnel and session, fed arbitrary datagrams, time jumps
//! and commands. Nothing may panic, and its replies go back to the LAC that opened the
//! tunnel, so both machines see the consequences.
#![no_main]

use std::time::{Duration, Instant};

use l2sec_l2tp::{Config, Endpoint, Input, TunnelSecret};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const LAC: u8 = 1;
const LNS: u8 = 2;

fn exchange(lac: &mut Endpoint<u8, ChaCha20Rng>, lns: &mut Endpoint<u8, ChaCha20Rng>, now: Instant) {
    let mut buf = Vec::new();
    for _ in 0..8 {
        let mut any = false;
        while lac.poll_transmit(now, &mut buf).is_some() {
            let _ = lns.handle_input(now, LAC, &buf);
            buf.clear();
            any = true;
        }
        while lns.poll_transmit(now, &mut buf).is_some() {
            let _ = lac.handle_input(now, LNS, &buf);
            buf.clear();
            any = true;
        }
        while lac.poll_event().is_some() {}
        while lns.poll_event().is_some() {}
        if !any {
            break;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let secret = data.first().is_some_and(|b| b & 1 == 1);
    let mut config = Config::default();
    if secret {
        config.secret = Some(TunnelSecret::new("fuzz"));
        config.hide_avps = true;
    }
    config.max_tunnels = 8;
    config.max_sessions_per_tunnel = 16;
    config.data_sequencing = data.get(1).is_some_and(|b| b & 1 == 1);
    let mut lac = Endpoint::new(config.clone(), ChaCha20Rng::seed_from_u64(1));
    let mut lns = Endpoint::new(config, ChaCha20Rng::seed_from_u64(2));
    let mut now = Instant::now();
    let Ok(t) = lac.connect(now, LNS) else { return };
    let Ok(s) = lac.open_session(now, t) else { return };
    exchange(&mut lac, &mut lns, now);
    let lns_tunnel = lac.tunnel(t).map_or(0, |i| i.peer_tunnel_id);

    // Input: a sequence of [op, len, bytes...] records.
    let mut rest = data.get(2..).unwrap_or(&[]);
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        match op % 8 {
            0..=3 => {
                // A datagram to the LNS, often aimed at the live tunnel.
                let mut d = chunk.to_vec();
                if op % 8 < 2 && d.len() >= 6 {
                    let at = if d[0] & 0x40 != 0 { 4 } else { 2 };
                    d[at..at + 2].copy_from_slice(&lns_tunnel.to_be_bytes());
                }
                if let Ok(Input::Data { ppp, .. }) = lns.handle_input(now, LAC, &d) {
                    assert!(ppp.len() <= d.len());
                }
            }
            4 => {
                let _ = lac.handle_input(now, LNS, chunk);
            }
            5 => {
                now += Duration::from_millis(u64::from(chunk.first().copied().unwrap_or(0)) * 100);
                lac.handle_timeout(now);
                lns.handle_timeout(now);
            }
            6 => {
                let _ = lac.open_session(now, t);
                let mut buf = Vec::new();
                if let Ok(tx) = lac.encapsulate(s, chunk, &mut buf) {
                    assert_eq!(tx.size, buf.len());
                    let _ = lns.handle_input(now, LAC, &buf);
                }
            }
            _ => {
                let _ = lac.close_session(now, s, 3);
            }
        }
        exchange(&mut lac, &mut lns, now);
        if let Some(deadline) = lns.poll_timeout() {
            // Deadlines never lie in the past after timers ran.
            lns.handle_timeout(now.max(deadline));
        }
    }
});

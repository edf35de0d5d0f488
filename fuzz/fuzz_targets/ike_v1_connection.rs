//! Fuzzes the IKEv1 `Connection` (both phases, rekeying, deletes, lifetimes): two
//! connections exchange their genuine datagrams while the input decides what is
//! delivered, dropped, duplicated or replaced by arbitrary bytes, when the clock jumps
//! (short lifetimes, so rekeys and expiries happen) and which commands run. The
//! responder side also gets arbitrary datagrams straight away. A third connection talks
//! to a `Responders` table from ports the input picks (as after a NAT-T float or a NAT
//! rebinding), and the table gets arbitrary datagrams from such ports too. Nothing may
//! panic.
#![no_main]

use std::time::{Duration, Instant};

use l2sec_ike::child::{EspEncapsulation, EspEncryption, EspIntegrity, EspMode};
use std::net::SocketAddr;

use l2sec_ike::v1::connection::{Connection, ConnectionConfig, Responders};
use l2sec_ike::v1::phase1::{Identity, Phase1Config};
use l2sec_ike::v1::quick::{EspProposal, QuickModeConfig};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

type C = Connection<ChaCha20Rng>;

fn config(id: &str) -> ConnectionConfig {
    let mut p1 = Phase1Config::new(b"fuzz-psk", Identity::fqdn(id));
    p1.proposals.truncate(1);
    p1.proposals[0].lifetime = Duration::from_secs(40);
    // Small groups keep the iterations fast.
    p1.proposals[0].group = l2sec_ike::crypto::DhGroup::Ecp256;
    p1.allow_aggressive = true;
    let quick = QuickModeConfig {
        proposals: vec![EspProposal {
            encryption: EspEncryption::AesCbc { key_len: 16 },
            integrity: EspIntegrity::HmacSha1_96,
            lifetime: Duration::from_secs(20),
        }],
        mode: EspMode::Tunnel,
        encapsulation: EspEncapsulation::None,
        traffic_selectors: None,
        retransmit_timeout: Duration::from_secs(1),
        max_retransmits: 2,
        pfs_group: None,
        nat_oa: None,
    };
    let mut c = ConnectionConfig::new(p1, quick);
    c.child_lifetime_kilobytes = Some(100);
    c
}

fn drain(c: &mut C, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while c.poll_transmit(now, &mut buf).is_some() {
        out.push(std::mem::take(&mut buf));
    }
    while c.poll_event().is_some() {}
    out
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut a = C::new(config("a"), ChaCha20Rng::seed_from_u64(1));
    let mut b = C::new(config("b"), ChaCha20Rng::seed_from_u64(2));
    let _ = a.connect(now);
    let mut table = Responders::new(config("b"), 4, 4, ChaCha20Rng::seed_from_u64(3));
    let mut c = C::new(config("c"), ChaCha20Rng::seed_from_u64(4));
    let _ = c.connect(now);
    let local: SocketAddr = ([192, 0, 2, 2], 500).into();
    let port = |arg: u8| -> SocketAddr {
        ([192, 0, 2, 1 + (arg >> 6)], [500, 4500, 1024, 65535][usize::from(arg >> 4) % 4]).into()
    };
    let mut to_b: Vec<Vec<u8>> = Vec::new();
    let mut to_a: Vec<Vec<u8>> = Vec::new();
    let mut rest = data;
    while let [op, arg, tail @ ..] = rest {
        rest = tail;
        to_b.extend(drain(&mut a, now));
        to_a.extend(drain(&mut b, now));
        match op % 10 {
            // Deliver (or drop, or duplicate) the oldest genuine datagram.
            0 | 1 => {
                if !to_b.is_empty() {
                    let m = to_b.remove(0);
                    if arg % 4 != 0 {
                        let _ = b.handle_input(now, &m);
                    }
                    if arg % 4 == 3 {
                        let _ = b.handle_input(now, &m);
                    }
                }
            }
            2 | 3 => {
                if !to_a.is_empty() {
                    let m = to_a.remove(0);
                    if arg % 4 != 0 {
                        let _ = a.handle_input(now, &m);
                    }
                    if arg % 4 == 3 {
                        let _ = a.handle_input(now, &m);
                    }
                }
            }
            // Arbitrary bytes, or a genuine datagram with one byte changed.
            4 => {
                let n = usize::from(*arg).min(rest.len());
                let (chunk, after) = rest.split_at(n);
                rest = after;
                let _ = b.handle_input(now, chunk);
                let _ = a.handle_input(now, chunk);
            }
            5 => {
                if let Some(m) = to_b.first() {
                    let mut m = m.clone();
                    let i = usize::from(*arg) % m.len().max(1);
                    if let Some(x) = m.get_mut(i) {
                        *x ^= 0x5a;
                    }
                    let _ = b.handle_input(now, &m);
                }
            }
            6 => {
                now += Duration::from_millis(u64::from(*arg) * 200);
                a.handle_timeout(now);
                b.handle_timeout(now);
            }
            7 => {
                let side = if arg % 2 == 0 { &mut a } else { &mut b };
                if let Some(&spi) = side.active_children().first() {
                    match arg % 3 {
                        0 => {
                            let _ = side.rekey_child(now, spi);
                        }
                        1 => side.child_traffic(now, spi, u64::from(*arg) * 1024, true),
                        _ => {
                            let _ = side.delete_child(now, spi);
                        }
                    }
                }
            }
            8 => {
                let side = if arg % 2 == 0 { &mut a } else { &mut b };
                let _ = side.rekey_phase1(now);
            }
            _ => match arg % 8 {
                0 => a.close(now),
                1 => b.delete(now),
                2 => {
                    let _ = a.connect(now);
                }
                // C and the table: C's datagrams from a port the input picks, answers
                // from every connection of the table back to C.
                3 | 4 => {
                    for m in drain(&mut c, now) {
                        let _ = table.handle_input(now, local, port(*arg), &m);
                    }
                    for (_, r) in table.iter_mut() {
                        for m in drain(r, now) {
                            let _ = c.handle_input(now, &m);
                        }
                    }
                }
                5 => {
                    let n = usize::from(*arg).min(rest.len());
                    let (chunk, after) = rest.split_at(n);
                    rest = after;
                    let _ = table.handle_input(now, local, port(*arg), chunk);
                }
                6 => {
                    c.handle_timeout(now);
                    for (_, r) in table.iter_mut() {
                        r.handle_timeout(now);
                    }
                    table.prune();
                }
                _ => {}
            },
        }
        let _ = (a.poll_timeout(), b.poll_timeout());
    }
});

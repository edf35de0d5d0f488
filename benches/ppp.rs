//! PPP figures (l2sec-ppp): full LCP + MS-CHAPv2 + IPCP negotiations per second with both
//! ends in-process (the authenticator answered by the local chap-secrets verifier), the
//! MS-CHAPv2 verification alone, and memory per established session.
//!
//! `cargo bench -p l2sec --bench ppp` prints criterion's output and summary lines starting
//! with `ppp:`. Memory is measured as the growth of the process's resident set while
//! 20 000 sessions are held established (Linux `/proc/self/statm`), divided by the count.
#![allow(clippy::print_stdout, missing_docs)]

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use l2sec::ppp::fsm::State;
use l2sec::ppp::secrets::ChapSecrets;
use l2sec::ppp::{AuthMethod, Config, Event, PeerCredentials, Session, crypto};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn configs() -> (Config, Config) {
    let mut a = Config::authenticator("l2sec");
    a.auth_methods = vec![AuthMethod::MsChapV2];
    a.ipcp.local = Some(Ipv4Addr::new(192, 0, 2, 1));
    a.ipcp.peer = Some(Ipv4Addr::new(192, 0, 2, 10));
    a.ipcp.dns = [Some(Ipv4Addr::new(192, 0, 2, 53)), None];
    let p = Config::peer(PeerCredentials::new("msuser", "mspass"));
    (p, a)
}

/// Runs one negotiation to IPCP Opened on both ends; returns the two sessions and the
/// number of frames exchanged.
fn negotiate(
    seed: u64,
    pc: &Config,
    ac: &Config,
    secrets: &ChapSecrets,
    buf: &mut Vec<u8>,
) -> (Session<ChaCha20Rng>, Session<ChaCha20Rng>, usize) {
    let now = Instant::now();
    let mut peer = Session::new(pc.clone(), ChaCha20Rng::seed_from_u64(seed * 2 + 1));
    let mut auth = Session::new(ac.clone(), ChaCha20Rng::seed_from_u64(seed * 2 + 2));
    auth.open(now);
    peer.open(now);
    let mut frames = 0;
    for _ in 0..64 {
        let mut moved = false;
        while auth.poll_transmit(now, buf).is_some() {
            peer.handle_input(now, buf).unwrap();
            buf.clear();
            frames += 1;
            moved = true;
        }
        while let Some(e) = auth.poll_event() {
            if let Event::Authenticate(r) = e {
                let v = secrets.verify("l2sec", &r);
                auth.answer_auth(now, r.id, v).unwrap();
                moved = true;
            }
        }
        while peer.poll_transmit(now, buf).is_some() {
            auth.handle_input(now, buf).unwrap();
            buf.clear();
            frames += 1;
            moved = true;
        }
        while peer.poll_event().is_some() {}
        if !moved {
            break;
        }
    }
    assert_eq!(peer.ipcp_state(), State::Opened);
    assert_eq!(auth.ipcp_state(), State::Opened);
    (peer, auth, frames)
}

fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn bench(c: &mut Criterion) {
    let (pc, ac) = configs();
    let secrets = ChapSecrets::parse("msuser * mspass *\n").unwrap();
    let mut buf = Vec::with_capacity(2048);
    let mut seed = 0u64;
    c.bench_function("ppp negotiation LCP+MS-CHAPv2+IPCP (both ends)", |b| {
        b.iter(|| {
            seed += 1;
            black_box(negotiate(seed, &pc, &ac, &secrets, &mut buf));
        })
    });
    let ac16 = [0x5bu8; 16];
    let pc16 = [0x21u8; 16];
    let ph = crypto::nt_password_hash("clientPass");
    let nt = crypto::mschapv2_nt_response(&ac16, &pc16, b"User", "clientPass");
    c.bench_function("ppp MS-CHAPv2 verify + S= + MPPE keys", |b| {
        b.iter(|| black_box(crypto::mschapv2_verify(&ph, &ac16, &pc16, b"User", &nt)))
    });

    // Summary: negotiations per second over a fixed run.
    let n = 3000;
    let t = Instant::now();
    let mut frames = 0;
    for i in 0..n {
        frames = negotiate(1_000_000 + i, &pc, &ac, &secrets, &mut buf).2;
    }
    let el = t.elapsed();
    println!(
        "ppp: {:.0} full negotiations/s (LCP+MS-CHAPv2+IPCP, both ends in-process, {frames} frames each), {:.1} µs each",
        n as f64 / el.as_secs_f64(),
        el.as_secs_f64() * 1e6 / n as f64
    );

    // Memory per established session: hold `count` negotiated pairs (both ends).
    let count = 20_000usize;
    let before = rss_bytes();
    let mut held = Vec::with_capacity(count);
    for i in 0..count {
        let (p, a, _) = negotiate(2_000_000 + i as u64, &pc, &ac, &secrets, &mut buf);
        held.push((p, a));
    }
    let after = rss_bytes();
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "ppp: {} bytes resident per established session ({count} pairs held, RSS growth / {}; size_of::<Session> = {} bytes)",
            a.saturating_sub(b) / (2 * count as u64),
            2 * count,
            size_of::<Session<ChaCha20Rng>>()
        ),
        _ => println!("ppp: memory per session UNMEASURED (no /proc/self/statm)"),
    }
    drop(black_box(held));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);

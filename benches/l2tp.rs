//! L2TP (RFC 2661) figures: control messages parsed + encoded per second, data messages
//! encapsulated / decapsulated per second, and memory per idle session.
//!
//! `cargo bench -p l2sec --bench l2tp` prints criterion's output and summary lines
//! starting with `l2tp:`.
#![allow(clippy::print_stdout, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use l2sec::l2tp::wire::{ControlMessage, MessageType};
use l2sec::l2tp::{Config, Endpoint, Event, Input, SessionHandle};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

type Ep = Endpoint<u8, ChaCha20Rng>;

/// Delivers everything both sides want to send until quiet; returns the control messages.
fn exchange(lac: &mut Ep, lns: &mut Ep, now: Instant) -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = Vec::new();
    loop {
        let mut any = false;
        while lac.poll_transmit(now, &mut buf).is_some() {
            let _ = lns.handle_input(now, 1, &buf);
            seen.push(std::mem::take(&mut buf));
            any = true;
        }
        while lns.poll_transmit(now, &mut buf).is_some() {
            let _ = lac.handle_input(now, 2, &buf);
            seen.push(std::mem::take(&mut buf));
            any = true;
        }
        if !any {
            return seen;
        }
    }
}

fn config() -> Config {
    let mut c = Config::default();
    c.max_sessions_per_tunnel = 60_000;
    c.send_queue_limit = 60_000;
    c.hello_interval = None;
    c
}

/// A LAC/LNS pair with one established session; returns the handles on both sides and
/// the control messages that set it up.
fn established() -> (Ep, Ep, SessionHandle, SessionHandle, Vec<Vec<u8>>) {
    let mut lac = Endpoint::new(config(), ChaCha20Rng::seed_from_u64(1));
    let mut lns = Endpoint::new(config(), ChaCha20Rng::seed_from_u64(2));
    let now = Instant::now();
    let t = lac.connect(now, 2).unwrap();
    let s = lac.open_session(now, t).unwrap();
    let msgs = exchange(&mut lac, &mut lns, now);
    let lns_s = std::iter::from_fn(|| lns.poll_event())
        .find_map(|e| match e {
            Event::SessionUp { session, .. } => Some(session),
            _ => None,
        })
        .expect("session up");
    (lac, lns, s, lns_s, msgs)
}

/// Parses a control message, types every AVP and re-encodes it.
fn parse_encode(msg: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let m = ControlMessage::parse(msg).unwrap();
    let mut avps = 0;
    m.header.encode(m.avp_bytes.len(), out);
    for a in m.avps() {
        a.unwrap().encode(out);
        avps += 1;
    }
    avps
}

fn rate(n: u64, f: impl FnMut()) -> f64 {
    let mut f = f;
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn bench(c: &mut Criterion) {
    let (mut lac, mut lns, s, _lns_s, msgs) = established();
    let control: Vec<Vec<u8>> = msgs
        .into_iter()
        .filter(|m| ControlMessage::parse(m).is_ok_and(|m| m.message_type().is_some()))
        .collect();
    let sccrq = control
        .iter()
        .find(|m| ControlMessage::parse(m).unwrap().message_type() == Some(MessageType::Sccrq))
        .unwrap()
        .clone();

    let mut g = c.benchmark_group("l2tp");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(256);
    g.bench_function("sccrq parse+encode", |b| b.iter(|| parse_encode(black_box(&sccrq), &mut out)));
    let frame = vec![0x21u8; 1400];
    let mut buf = Vec::with_capacity(2048);
    g.throughput(Throughput::Bytes(1400));
    g.bench_function("data encapsulate 1400B", |b| {
        b.iter(|| {
            buf.clear();
            lac.encapsulate(s, black_box(&frame), &mut buf).unwrap()
        })
    });
    buf.clear();
    lac.encapsulate(s, &frame, &mut buf).unwrap();
    let now = Instant::now();
    g.bench_function("data decapsulate 1400B", |b| {
        b.iter(|| match lns.handle_input(now, 1, black_box(&buf)) {
            Ok(Input::Data { ppp, .. }) => ppp.len(),
            other => panic!("{other:?}"),
        })
    });
    g.finish();

    // Own summary figures.
    let n = 200_000;
    let mix_rate = rate(n, || {
        for m in &control {
            black_box(parse_encode(m, &mut out));
        }
    }) * control.len() as f64;
    println!(
        "l2tp: control messages parsed+encoded: {:.0} msg/s (mix of {} setup messages)",
        mix_rate,
        control.len()
    );
    let enc = rate(2_000_000, || {
        buf.clear();
        black_box(lac.encapsulate(s, &frame, &mut buf).unwrap());
    });
    println!("l2tp: data encapsulate (1400 B PPP frame): {enc:.0} msg/s");
    let dec = rate(2_000_000, || {
        black_box(lns.handle_input(now, 1, &buf).unwrap());
    });
    println!("l2tp: data decapsulate (1400 B PPP frame): {dec:.0} msg/s");

    // Memory per idle session: resident set growth while a pair holds N established calls.
    let sessions = 20_000;
    let before = rss_bytes();
    let mut lac = Endpoint::new(config(), ChaCha20Rng::seed_from_u64(3));
    let mut lns = Endpoint::new(config(), ChaCha20Rng::seed_from_u64(4));
    let t = lac.connect(now, 2).unwrap();
    for _ in 0..sessions {
        lac.open_session(now, t).unwrap();
    }
    exchange(&mut lac, &mut lns, now);
    while lac.poll_event().is_some() {}
    while lns.poll_event().is_some() {}
    let after = rss_bytes();
    assert_eq!(lac.tunnel(t).unwrap().sessions, sessions);
    if let (Some(b), Some(a)) = (before, after) {
        let per_side = a.saturating_sub(b) as f64 / (2.0 * sessions as f64);
        println!(
            "l2tp: memory per idle session: ~{per_side:.0} bytes per side (RSS growth of a LAC+LNS pair holding {sessions} calls / 2 / {sessions})"
        );
    }
    black_box((lac, lns));
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! RADIUS client figures (l2sec-radius-auth): Access-Requests built per second and
//! responses verified per second in-process, a full in-process round trip, and
//! requests/second against a FreeRADIUS on loopback with N outstanding.
//!
//! `cargo bench -p l2sec --bench radius` prints criterion's output and summary lines
//! starting with `radius:`. The loopback figure needs the lab radiusd already running
//! (`/work/shared/lab/radius-l2tp/freeradius/radius-start.sh`, auth port 18120, secret
//! testing123; override with RADIUS_BENCH_ADDR / RADIUS_BENCH_SECRET); without it the bench
//! prints a loud SKIPPED line. The ignored test `interop_loopback_throughput` in
//! crates/radius-auth starts its own radiusd and prints the same figure.
#![allow(clippy::print_stdout, missing_docs)]

use std::hint::black_box;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use l2sec::radius::reply::Reply;
use l2sec::radius::wire::{Code, Packet, PacketWriter};
use l2sec::radius::{AccessRequest, Client, ClientConfig, Event, NasIdentity, ServerConfig, ServerRole};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const SECRET: &[u8] = b"testing123";

fn nas() -> NasIdentity {
    NasIdentity { identifier: Some("l2sec-bench".into()), ..NasIdentity::default() }
}

fn client(server: SocketAddr, strict: bool) -> Client<ChaCha20Rng> {
    let mut s = ServerConfig::new(server, SECRET, ServerRole::Authentication);
    s.require_message_authenticator = strict;
    let mut cfg = ClientConfig::new(nas(), vec![s]);
    cfg.retransmit.initial = Duration::from_secs(2);
    Client::new(cfg, ChaCha20Rng::seed_from_u64(1)).unwrap()
}

/// An Access-Accept (with Message-Authenticator and the usual framed attributes) to
/// `request`, as a server would build it.
fn accept_for(request: &[u8], out: &mut Vec<u8>) {
    let req = Packet::parse(request).unwrap();
    let ra = req.authenticator();
    let mut w = PacketWriter::new(out, Code::ACCESS_ACCEPT, req.identifier(), [0; 16]);
    w.push_message_authenticator().unwrap();
    w.push_raw(6, &2u32.to_be_bytes()).unwrap();
    w.push_raw(7, &1u32.to_be_bytes()).unwrap();
    w.push_raw(8, &[192, 0, 2, 10]).unwrap();
    w.push_raw(27, &3600u32.to_be_bytes()).unwrap();
    w.push_raw(25, b"lab-class-1").unwrap();
    w.finish_response(&ra, SECRET);
}

fn in_process(c: &mut Criterion) {
    let server: SocketAddr = "127.0.0.1:1812".parse().unwrap();
    let now = Instant::now();
    let mut g = c.benchmark_group("radius");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(30);

    // Build: authenticate() + poll_transmit() (encode, hide password, Message-Authenticator).
    // Each built request is cancelled so identifiers never run out.
    let mut cl = client(server, true);
    let mut buf = Vec::with_capacity(256);
    g.bench_function("build_access_request_pap", |b| {
        b.iter(|| {
            buf.clear();
            let h = cl.authenticate(now, AccessRequest::pap("alice", "alicepass")).unwrap();
            black_box(cl.poll_transmit(now, &mut buf));
            cl.cancel(now, h);
        });
    });

    // Verify: parse + Response Authenticator + Message-Authenticator + reply decoding.
    let mut req = Vec::new();
    let h = cl.authenticate(now, AccessRequest::pap("alice", "alicepass")).unwrap();
    cl.poll_transmit(now, &mut req).unwrap();
    cl.cancel(now, h);
    let ra = Packet::parse(&req).unwrap().authenticator();
    let mut resp = Vec::new();
    accept_for(&req, &mut resp);
    g.bench_function("verify_access_accept", |b| {
        b.iter(|| {
            let p = Packet::parse(black_box(&resp)).unwrap();
            assert!(p.verify_response_authenticator(&ra, SECRET));
            assert_eq!(p.verify_message_authenticator(&ra, SECRET), Some(true));
            black_box(Reply::from_verified(&p, SECRET, &ra));
        });
    });

    // Round trip through the state machine, with the server's signing in the loop.
    let mut cl = client(server, true);
    let mut out = Vec::with_capacity(256);
    let mut answer = Vec::with_capacity(256);
    g.bench_function("round_trip_with_server_signing", |b| {
        b.iter(|| {
            out.clear();
            answer.clear();
            cl.authenticate(now, AccessRequest::pap("alice", "alicepass")).unwrap();
            let t = cl.poll_transmit(now, &mut out).unwrap();
            accept_for(&out, &mut answer);
            cl.handle_input(now, t.socket, server, &answer).unwrap();
            black_box(cl.poll_event());
        });
    });
    g.finish();

    // Plain summary lines from a timed loop.
    let n = 100_000u32;
    let mut cl = client(server, true);
    let t0 = Instant::now();
    for _ in 0..n {
        buf.clear();
        let h = cl.authenticate(now, AccessRequest::pap("alice", "alicepass")).unwrap();
        black_box(cl.poll_transmit(now, &mut buf));
        cl.cancel(now, h);
    }
    let built = f64::from(n) / t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    for _ in 0..n {
        let p = Packet::parse(black_box(&resp)).unwrap();
        assert!(p.verify_response_authenticator(&ra, SECRET));
        assert_eq!(p.verify_message_authenticator(&ra, SECRET), Some(true));
        black_box(Reply::from_verified(&p, SECRET, &ra));
    }
    let verified = f64::from(n) / t0.elapsed().as_secs_f64();
    println!("radius: {built:.0} Access-Requests (PAP + Message-Authenticator) built per second, in-process");
    println!(
        "radius: {verified:.0} Access-Accepts verified (authenticator + Message-Authenticator + decode) per second, in-process"
    );
}

/// Requests/second against a running FreeRADIUS with `window` outstanding.
fn loopback_run(server: SocketAddr, secret: &[u8], window: usize, total: usize) -> Option<(f64, usize)> {
    let mut s = ServerConfig::new(server, secret, ServerRole::Authentication);
    s.require_message_authenticator = false; // FreeRADIUS < 3.2.5 sends none
    let mut cfg = ClientConfig::new(nas(), vec![s]);
    cfg.retransmit.initial = Duration::from_secs(1);
    cfg.retransmit.max_duration = Duration::from_secs(3);
    cfg.request_timeout = Duration::from_secs(3);
    let mut cl = Client::new(cfg, ChaCha20Rng::seed_from_u64(7)).unwrap();
    let mut sockets: Vec<UdpSocket> = Vec::new();
    let (mut started, mut done, mut inflight, mut sent) = (0usize, 0usize, 0usize, 0usize);
    let mut buf = Vec::new();
    let mut rx = [0u8; 4096];
    let t0 = Instant::now();
    while done < total {
        if t0.elapsed() > Duration::from_secs(20) {
            return None;
        }
        while inflight < window && started < total {
            cl.authenticate(Instant::now(), AccessRequest::pap("alice", "alicepass")).ok()?;
            started += 1;
            inflight += 1;
        }
        while let Some(t) = cl.poll_transmit(Instant::now(), &mut buf) {
            while sockets.len() <= t.socket {
                let s = UdpSocket::bind("127.0.0.1:0").ok()?;
                s.set_read_timeout(Some(Duration::from_millis(5))).ok()?;
                sockets.push(s);
            }
            let _ = sockets[t.socket].send_to(&buf, t.destination);
            sent += 1;
            buf.clear();
        }
        for (i, s) in sockets.iter().enumerate() {
            match s.recv_from(&mut rx) {
                Ok((n, from)) => {
                    let _ = cl.handle_input(Instant::now(), i, from, &rx[..n]);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => {}
            }
        }
        if cl.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            cl.handle_timeout(Instant::now());
        }
        while let Some(e) = cl.poll_event() {
            match e {
                Event::Reply { .. } => {
                    done += 1;
                    inflight -= 1;
                }
                Event::Timeout { .. } | Event::Failed { .. } => return None,
                _ => {}
            }
        }
    }
    Some((done as f64 / t0.elapsed().as_secs_f64(), sent))
}

fn loopback(_c: &mut Criterion) {
    let addr: SocketAddr = std::env::var("RADIUS_BENCH_ADDR")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:18120".parse().unwrap());
    let secret = std::env::var("RADIUS_BENCH_SECRET").unwrap_or_else(|_| "testing123".into());
    // Is a server there? One request, answered within 3 s.
    match loopback_run(addr, secret.as_bytes(), 1, 1) {
        Some(_) => {}
        None => {
            println!(
                "radius: loopback figure SKIPPED: no RADIUS server answered at {addr} (start the lab radiusd: radius-start.sh; or run `cargo test -p l2sec-radius-auth --test interop_freeradius -- --ignored --nocapture interop_loopback`)"
            );
            return;
        }
    }
    for window in [1usize, 16, 64, 256] {
        match loopback_run(addr, secret.as_bytes(), window, 20_000) {
            Some((rate, sent)) => println!(
                "radius: loopback FreeRADIUS at {addr}: {window:>3} outstanding: {rate:.0} Access-Requests/s (PAP, 20000 answered, {sent} datagrams sent)"
            ),
            None => println!("radius: loopback run with {window} outstanding did not finish (timeouts)"),
        }
    }
}

criterion_group!(benches, in_process, loopback);
criterion_main!(benches);

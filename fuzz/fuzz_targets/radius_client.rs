//! Fuzz the RADIUS client state machine with arbitrary answers, time steps, new requests
//! and cancellations. Besides arbitrary datagrams, one operation answers the last request
//! correctly (valid authenticators) with fuzzer-chosen attributes, so the reply decoding
//! behind verification is reached too.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2sec_radius_auth::attr::AcctStatusType;
use l2sec_radius_auth::wire::{Code, Packet, PacketWriter};
use l2sec_radius_auth::{
    AccessRequest, AccountingRequest, Client, ClientConfig, NasIdentity, RequestHandle, ServerConfig,
    ServerRole,
};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let servers: [SocketAddr; 3] = [
        "127.0.0.1:1812".parse().unwrap(),
        "127.0.0.2:1812".parse().unwrap(),
        "127.0.0.1:1813".parse().unwrap(),
    ];
    let mut relaxed = ServerConfig::new(servers[1], "s2", ServerRole::Authentication);
    relaxed.require_message_authenticator = false;
    let mut cfg = ClientConfig::new(
        NasIdentity { identifier: Some("fuzz".into()), ..NasIdentity::default() },
        vec![
            ServerConfig::new(servers[0], "s1", ServerRole::Authentication),
            relaxed,
            ServerConfig::new(servers[2], "s3", ServerRole::Accounting),
        ],
    );
    cfg.max_source_ports = 2;
    cfg.queue_limit = 8;
    let secrets: [&[u8]; 3] = [b"s1", b"s2", b"s3"];
    let mut c = Client::new(cfg, ChaCha20Rng::seed_from_u64(0)).unwrap();
    let mut now = Instant::now();
    let mut last: Vec<(usize, SocketAddr, Vec<u8>)> = Vec::new();
    let mut handles: Vec<RequestHandle> = Vec::new();
    let mut input = data;
    while let Some((&op, rest)) = input.split_first() {
        input = rest;
        match op % 6 {
            0 => {
                if let Ok(h) = c.authenticate(now, AccessRequest::pap("user", "password")) {
                    handles.push(h);
                }
            }
            1 => {
                if let Ok(h) = c.account(now, AccountingRequest::new(AcctStatusType::START, "s")) {
                    handles.push(h);
                }
            }
            2 => {
                // An arbitrary datagram on some socket from some server.
                let Some((&n, rest)) = input.split_first() else { break };
                let len = usize::from(n).min(rest.len());
                let (d, rest) = rest.split_at(len);
                input = rest;
                let from = servers[usize::from(n) % 3];
                let _ = c.handle_input(now, usize::from(n >> 7), from, d);
            }
            3 => {
                // A correct answer to a sent request, with arbitrary attributes.
                let Some((&n, rest)) = input.split_first() else { break };
                let len = usize::from(n).min(rest.len());
                let (attrs, rest) = rest.split_at(len);
                input = rest;
                if let Some((socket, to, req)) = last.pop() {
                    let Ok(p) = Packet::parse(&req) else { continue };
                    let si = servers.iter().position(|s| *s == to).unwrap();
                    let code = match (p.code(), n % 3) {
                        (Code::ACCOUNTING_REQUEST, _) => Code::ACCOUNTING_RESPONSE,
                        (_, 0) => Code::ACCESS_ACCEPT,
                        (_, 1) => Code::ACCESS_REJECT,
                        _ => Code::ACCESS_CHALLENGE,
                    };
                    let ra = p.authenticator();
                    let mut out = Vec::new();
                    let mut w = PacketWriter::new(&mut out, code, p.identifier(), [0; 16]);
                    if n & 0x80 == 0 {
                        let _ = w.push_message_authenticator();
                    }
                    let mut a = attrs;
                    while a.len() >= 2 {
                        let l = usize::from(a[1]).min(a.len() - 2);
                        let _ = w.push_raw(a[0], &a[2..2 + l]);
                        a = &a[2 + l..];
                    }
                    w.finish_response(&ra, secrets[si]);
                    let _ = c.handle_input(now, socket, to, &out);
                }
            }
            4 => {
                let Some((&n, rest)) = input.split_first() else { break };
                input = rest;
                now += Duration::from_millis(u64::from(n) * 250);
                c.handle_timeout(now);
            }
            _ => {
                if let Some(h) = handles.pop() {
                    c.cancel(now, h);
                }
            }
        }
        loop {
            let mut buf = Vec::new();
            let Some(t) = c.poll_transmit(now, &mut buf) else { break };
            assert_eq!(t.len, buf.len());
            assert!(t.socket < 2);
            assert!(Packet::parse(&buf).is_ok(), "the client only sends valid packets");
            last.push((t.socket, t.destination, buf));
            if last.len() > 64 {
                last.remove(0);
            }
        }
        while c.poll_event().is_some() {}
        assert!(c.outstanding() <= 2 * 256);
        assert!(c.queued() <= 8);
        // After handle_timeout(now), nothing is due any more.
        c.handle_timeout(now);
        if let Some(t) = c.poll_timeout() {
            assert!(t > now, "timer due at {t:?} not handled at {now:?}");
        }
    }
});

//! The client state machine on a virtual clock: answers, retransmission, failover, dead
//! servers, Status-Server probes, queueing, and hostile answers that must change nothing.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::FakeServer;
use l2sec_radius_auth::attr::{AcctStatusType, AcctTerminateCause, Attribute, Text, VendorSpecific};
use l2sec_radius_auth::ms::{IdentText, MsAttribute};
use l2sec_radius_auth::wire::{Code, Packet};
use l2sec_radius_auth::{
    AccessRequest, AccountingRequest, Client, ClientConfig, Error, Event, NasIdentity, Reply, RequestHandle,
    RetransmitPolicy, ServerConfig, ServerHealth, ServerRole, SessionCounters, Transmit,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const S1: &str = "127.0.0.1:1812";
const S2: &str = "127.0.0.2:1812";
const ACCT: &str = "127.0.0.1:1813";

fn nas() -> NasIdentity {
    NasIdentity { ip_address: Some(Ipv4Addr::new(192, 0, 2, 1)), identifier: Some("l2sec-test".into()) }
}

fn config(servers: Vec<ServerConfig>) -> ClientConfig {
    let mut c = ClientConfig::new(nas(), servers);
    c.retransmit = RetransmitPolicy {
        initial: Duration::from_secs(2),
        max_interval: Duration::from_secs(16),
        max_sends: 3,
        max_duration: Duration::from_secs(10),
    };
    c.request_timeout = Duration::from_secs(30);
    c.probe_interval = Duration::from_secs(30);
    c
}

fn auth(addr: &str, secret: &str) -> ServerConfig {
    ServerConfig::new(addr.parse().unwrap(), secret, ServerRole::Authentication)
}

fn client(servers: Vec<ServerConfig>) -> Client<ChaCha20Rng> {
    Client::new(config(servers), ChaCha20Rng::seed_from_u64(7)).unwrap()
}

fn sends(c: &mut Client<ChaCha20Rng>, now: Instant) -> Vec<(Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        match c.poll_transmit(now, &mut buf) {
            Some(t) => {
                assert_eq!(t.len, buf.len());
                out.push((t, buf));
            }
            None => return out,
        }
    }
}

fn events(c: &mut Client<ChaCha20Rng>) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn one_send(c: &mut Client<ChaCha20Rng>, now: Instant) -> (Transmit, Vec<u8>) {
    let mut s = sends(c, now);
    assert_eq!(s.len(), 1, "expected exactly one datagram, got {}", s.len());
    s.pop().unwrap()
}

#[test]
fn pap_request_answered_with_accept() {
    let srv = FakeServer::new(S1, b"secret1");
    let mut c = client(vec![auth(S1, "secret1")]);
    let t0 = Instant::now();
    let mut req = AccessRequest::pap("alice", "alicepass");
    req.session.calling_station_id = Some("198.51.100.7".into());
    req.session.nas_port = Some(42);
    let h = c.authenticate(t0, req).unwrap();
    let (t, bytes) = one_send(&mut c, t0);
    assert_eq!(t.destination, srv.address);
    assert_eq!(t.socket, 0);
    srv.check_request(&bytes);
    assert_eq!(srv.pap_password(&bytes), b"alicepass");
    let p = Packet::parse(&bytes).unwrap();
    let attrs: Vec<_> = p.typed_attributes().collect();
    for want in [
        Attribute::UserName(Text(b"alice")),
        Attribute::ServiceType(l2sec_radius_auth::attr::ServiceType::FRAMED),
        Attribute::FramedProtocol(l2sec_radius_auth::attr::FramedProtocol::PPP),
        Attribute::NasPortType(l2sec_radius_auth::attr::NasPortType::VIRTUAL),
        Attribute::NasPort(42),
        Attribute::CallingStationId(Text(b"198.51.100.7")),
        Attribute::NasIpAddress(Ipv4Addr::new(192, 0, 2, 1)),
        Attribute::NasIdentifier(Text(b"l2sec-test")),
    ] {
        assert!(attrs.contains(&want), "missing {want:?} in {attrs:?}");
    }
    assert_eq!(c.outstanding(), 1);
    assert!(c.poll_timeout().is_some());

    let answer = srv.answer_with(&bytes, Code::ACCESS_ACCEPT, |w, _| {
        w.push(&Attribute::FramedIpAddress(Ipv4Addr::new(192, 0, 2, 10))).unwrap();
        w.push(&Attribute::SessionTimeout(3600)).unwrap();
        w.push(&Attribute::Class(b"c1")).unwrap();
    });
    c.handle_input(t0, t.socket, srv.address, &answer).unwrap();
    match &events(&mut c)[..] {
        [Event::Reply { handle, server: 0, reply: Reply::AccessAccept(acc) }] => {
            assert_eq!(*handle, h);
            assert_eq!(acc.framed_ip_address, Some(Ipv4Addr::new(192, 0, 2, 10)));
            assert_eq!(acc.session_timeout, Some(3600));
            assert_eq!(acc.class, vec![b"c1".to_vec()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.outstanding(), 0);
    assert_eq!(c.poll_timeout(), None);
    // A duplicate of the same answer now matches nothing.
    assert_eq!(c.handle_input(t0, t.socket, srv.address, &answer), Err(Error::UnknownIdentifier));
}

#[test]
fn retransmissions_repeat_the_datagram_with_back_off_then_time_out() {
    let mut c = client(vec![auth(S1, "secret1")]);
    let t0 = Instant::now();
    let h = c.authenticate(t0, AccessRequest::pap("alice", "pw")).unwrap();
    let (_, first) = one_send(&mut c, t0);
    let mut now = t0;
    let mut gaps = Vec::new();
    let mut resent = Vec::new();
    let mut evs = Vec::new();
    while let Some(next) = c.poll_timeout() {
        assert!(next > now, "timer in the past");
        gaps.push(next - now);
        now = next;
        c.handle_timeout(now);
        for (_, b) in sends(&mut c, now) {
            resent.push(b);
        }
        evs.extend(events(&mut c));
        if evs.iter().any(|e| matches!(e, Event::Timeout { .. })) {
            break;
        }
    }
    // 3 sends: the first plus two identical retransmissions (same Identifier, same
    // Request Authenticator, same octets).
    assert_eq!(resent.len(), 2);
    assert!(resent.iter().all(|b| *b == first));
    // Back-off: ~2 s then ~4 s (±10 %), then the 10 s limit on this server.
    let secs: Vec<f64> = gaps.iter().map(Duration::as_secs_f64).collect();
    assert!((1.8..2.2).contains(&secs[0]), "{secs:?}");
    assert!((3.24..4.84).contains(&secs[1]), "{secs:?}");
    assert!(((now - t0).as_secs_f64() - 10.0).abs() < 1e-6, "{secs:?}");
    assert_eq!(evs, vec![Event::ServerDown { server: 0 }, Event::Timeout { handle: h }]);
    assert_eq!(c.outstanding(), 0);
}

/// Drive time until `until` fires an event matching `pred`, or `limit` passes.
fn run_until(
    c: &mut Client<ChaCha20Rng>,
    mut now: Instant,
    limit: Instant,
    mut on_send: impl FnMut(Instant, &Transmit, &[u8]),
) -> (Instant, Vec<Event>) {
    let mut evs = Vec::new();
    while let Some(next) = c.poll_timeout() {
        if next > limit {
            break;
        }
        now = next.max(now);
        c.handle_timeout(now);
        for (t, b) in sends(c, now) {
            on_send(now, &t, &b);
        }
        evs.extend(events(c));
    }
    (now, evs)
}

#[test]
fn failover_to_the_second_server_with_a_fresh_packet() {
    let srv2 = FakeServer::new(S2, b"secret2");
    let mut c = client(vec![auth(S1, "secret1"), auth(S2, "secret2")]);
    let t0 = Instant::now();
    let h = c.authenticate(t0, AccessRequest::pap("alice", "alicepass")).unwrap();
    let (t1, b1) = one_send(&mut c, t0);
    assert_eq!(t1.destination, S1.parse::<SocketAddr>().unwrap());
    let mut to_s2 = Vec::new();
    let (now, evs) = run_until(&mut c, t0, t0 + Duration::from_secs(11), |_, t, b| {
        if t.destination == srv2.address {
            to_s2.push((*t, b.to_vec()));
        }
    });
    assert_eq!(evs, vec![Event::ServerDown { server: 0 }]);
    assert_eq!(c.server_health(0).map(|h| matches!(h, ServerHealth::Dead { .. })), Some(true));
    assert_eq!(to_s2.len(), 1, "the request moved to server 2");
    let (t2, b2) = &to_s2[0];
    // RFC 5080 §2.2.1: a new Request Authenticator, and the password hidden with the
    // second server's secret.
    srv2.check_request(b2);
    assert_ne!(&b1[4..20], &b2[4..20]);
    assert_eq!(srv2.pap_password(b2), b"alicepass");
    let answer = srv2.answer(b2, Code::ACCESS_REJECT);
    c.handle_input(now, t2.socket, srv2.address, &answer).unwrap();
    assert!(matches!(
        &events(&mut c)[..],
        [Event::Reply { handle, server: 1, reply: Reply::AccessReject(_) }] if *handle == h
    ));
    // Dead server 0 is skipped by new requests.
    c.authenticate(now, AccessRequest::pap("bob", "x")).unwrap();
    let (t, _) = one_send(&mut c, now);
    assert_eq!(t.destination, srv2.address);
}

#[test]
fn a_late_answer_from_the_first_server_still_counts_before_it_gives_up() {
    let srv1 = FakeServer::new(S1, b"secret1");
    let mut c = client(vec![auth(S1, "secret1"), auth(S2, "secret2")]);
    let t0 = Instant::now();
    c.authenticate(t0, AccessRequest::pap("alice", "alicepass")).unwrap();
    let (t, b) = one_send(&mut c, t0);
    c.handle_timeout(t0 + Duration::from_secs(3)); // one retransmission
    let (_, again) = one_send(&mut c, t0 + Duration::from_secs(3));
    assert_eq!(again, b);
    let answer = srv1.answer(&b, Code::ACCESS_ACCEPT);
    c.handle_input(t0 + Duration::from_secs(4), t.socket, srv1.address, &answer).unwrap();
    assert!(matches!(&events(&mut c)[..], [Event::Reply { server: 0, .. }]));
    assert_eq!(c.server_health(0), Some(ServerHealth::Alive));
}

#[test]
fn status_server_probes_bring_a_dead_server_back() {
    let srv1 = FakeServer::new(S1, b"secret1");
    let mut c = client(vec![auth(S1, "secret1"), auth(S2, "secret2")]);
    let t0 = Instant::now();
    c.authenticate(t0, AccessRequest::pap("alice", "pw")).unwrap();
    one_send(&mut c, t0);
    let (now, evs) = run_until(&mut c, t0, t0 + Duration::from_secs(10), |_, _, _| {});
    assert_eq!(evs, vec![Event::ServerDown { server: 0 }]);
    // The failed-over request to server 2 is still outstanding; let it time out too (it
    // marks server 2 dead), then wait for the first probe of server 1.
    let mut probes = Vec::new();
    let (now, evs) = run_until(&mut c, now, now + Duration::from_secs(31), |at, t, b| {
        if t.destination == srv1.address {
            probes.push((at, *t, b.to_vec()));
        }
    });
    assert!(evs.contains(&Event::ServerDown { server: 1 }), "{evs:?}");
    assert_eq!(probes.len(), 1, "one Status-Server probe");
    let (at, pt, pb) = probes.pop().unwrap();
    let p = Packet::parse(&pb).unwrap();
    assert_eq!(p.code(), Code::STATUS_SERVER);
    srv1.check_request(&pb);
    // An unanswered probe leaves the server dead; answer the probe and it is alive.
    let answer = srv1.answer(&pb, Code::ACCESS_ACCEPT);
    c.handle_input(at.max(now), pt.socket, srv1.address, &answer).unwrap();
    assert_eq!(events(&mut c), vec![Event::ServerUp { server: 0 }]);
    assert_eq!(c.server_health(0), Some(ServerHealth::Alive));
    c.authenticate(now, AccessRequest::pap("alice", "pw")).unwrap();
    assert_eq!(one_send(&mut c, now).0.destination, srv1.address);
}

#[test]
fn an_unanswered_probe_is_repeated_after_the_probe_interval() {
    let mut c = client(vec![auth(S1, "secret1")]);
    let t0 = Instant::now();
    c.authenticate(t0, AccessRequest::pap("alice", "pw")).unwrap();
    one_send(&mut c, t0);
    let mut probe_times = Vec::new();
    let (_, evs) = run_until(&mut c, t0, t0 + Duration::from_secs(120), |at, _, b| {
        if Packet::parse(b).unwrap().code() == Code::STATUS_SERVER {
            probe_times.push(at);
        }
    });
    assert_eq!(evs.iter().filter(|e| matches!(e, Event::ServerDown { .. })).count(), 1);
    assert!(!evs.iter().any(|e| matches!(e, Event::ServerUp { .. })));
    // Dead at +10 s; probes at +40, +70, +100 s.
    let offs: Vec<u64> = probe_times.iter().map(|t| (*t - t0).as_secs()).collect();
    assert_eq!(offs, vec![40, 70, 100]);
}

#[test]
fn without_status_server_a_dead_server_revives_after_its_dead_time() {
    let mut s = auth(S1, "secret1");
    s.status_server = false;
    let mut c = client(vec![s]);
    let t0 = Instant::now();
    c.authenticate(t0, AccessRequest::pap("alice", "pw")).unwrap();
    one_send(&mut c, t0);
    let mut sent_probe = false;
    let (now, evs) = run_until(&mut c, t0, t0 + Duration::from_secs(100), |_, _, b| {
        sent_probe |= Packet::parse(b).unwrap().code() == Code::STATUS_SERVER;
    });
    assert!(!sent_probe);
    assert!(evs.contains(&Event::ServerUp { server: 0 }), "{evs:?}");
    assert_eq!(c.server_health(0), Some(ServerHealth::Alive));
    assert!(now >= t0 + Duration::from_secs(70));
}

/// Debug of the client shows its whole protocol state (secrets redacted): equal before
/// and after means nothing changed.
fn snapshot(c: &Client<ChaCha20Rng>) -> String {
    format!("{c:?}")
}

#[test]
fn hostile_answers_change_nothing() {
    let srv = FakeServer::new(S1, b"secret1");
    let mut c = client(vec![auth(S1, "secret1")]);
    let t0 = Instant::now();
    let h = c.authenticate(t0, AccessRequest::pap("alice", "pw")).unwrap();
    let (t, b) = one_send(&mut c, t0);
    let good = srv.answer(&b, Code::ACCESS_ACCEPT);
    let before = snapshot(&c);
    let timeout_before = c.poll_timeout();

    let wrong_secret = FakeServer::new(S1, b"not-the-secret").answer(&b, Code::ACCESS_ACCEPT);
    let mut no_ma = srv.clone();
    no_ma.with_ma = false;
    let missing_ma = no_ma.answer(&b, Code::ACCESS_ACCEPT);
    let mut bad_auth = good.clone();
    bad_auth[4] ^= 1;
    let mut bad_ma = srv.answer(&b, Code::ACCESS_ACCEPT);
    bad_ma[22] ^= 1; // inside the Message-Authenticator value; re-sign the header
    let ra: [u8; 16] = b[4..20].try_into().unwrap();
    let resp_auth = l2sec_radius_auth::crypto::response_authenticator(&bad_ma, &ra, b"secret1");
    bad_ma[4..20].copy_from_slice(&resp_auth);
    let mut other_id = good.clone();
    other_id[1] = other_id[1].wrapping_add(1);
    let acct_code = srv.answer(&b, Code::ACCOUNTING_RESPONSE);
    let other: SocketAddr = S2.parse().unwrap();

    let cases: Vec<(&str, usize, SocketAddr, Vec<u8>, Error)> = vec![
        ("wrong secret", t.socket, srv.address, wrong_secret, Error::BadAuthenticator),
        ("missing MA", t.socket, srv.address, missing_ma, Error::MissingMessageAuthenticator),
        ("bad response authenticator", t.socket, srv.address, bad_auth, Error::BadAuthenticator),
        ("bad MA", t.socket, srv.address, bad_ma, Error::BadMessageAuthenticator),
        ("unknown identifier", t.socket, srv.address, other_id, Error::UnknownIdentifier),
        ("wrong code", t.socket, srv.address, acct_code, Error::UnexpectedCode),
        ("wrong source", t.socket, other, good.clone(), Error::UnknownIdentifier),
        ("wrong socket", t.socket + 1, srv.address, good.clone(), Error::UnknownIdentifier),
        (
            "truncated",
            t.socket,
            srv.address,
            good[..19].to_vec(),
            Error::Malformed(l2sec_radius_auth::ParseError::TooShort),
        ),
        (
            "garbage",
            t.socket,
            srv.address,
            vec![0xff; 40],
            Error::Malformed(l2sec_radius_auth::ParseError::BadLength),
        ),
    ];
    for (name, socket, from, data, want) in cases {
        assert_eq!(c.handle_input(t0, socket, from, &data), Err(want), "{name}");
        assert_eq!(snapshot(&c), before, "{name} changed state");
        assert_eq!(c.poll_timeout(), timeout_before, "{name}");
        assert!(sends(&mut c, t0).is_empty() && events(&mut c).is_empty(), "{name}");
    }
    // The genuine answer is still accepted.
    c.handle_input(t0, t.socket, srv.address, &good).unwrap();
    assert!(matches!(&events(&mut c)[..], [Event::Reply { handle, .. }] if *handle == h));
}

#[test]
fn relaxed_server_accepts_answers_without_message_authenticator_and_says_so() {
    let mut srv = FakeServer::new(S1, b"secret1");
    srv.with_ma = false;
    let mut s = auth(S1, "secret1");
    s.require_message_authenticator = false;
    let mut c = client(vec![s]);
    assert_eq!(events(&mut c), vec![Event::InsecureServer { server: 0 }]);
    let t0 = Instant::now();
    for round in 0..2 {
        c.authenticate(t0, AccessRequest::pap("alice", "pw")).unwrap();
        let (t, b) = one_send(&mut c, t0);
        srv.check_request(&b); // our requests still carry one
        let answer = srv.answer(&b, Code::ACCESS_ACCEPT);
        c.handle_input(t0, t.socket, srv.address, &answer).unwrap();
        let evs = events(&mut c);
        if round == 0 {
            assert_eq!(evs[0], Event::UnprotectedResponse { server: 0 });
            assert_eq!(evs.len(), 2);
        } else {
            assert_eq!(evs.len(), 1, "the warning is given once");
        }
        // A wrong secret is still caught by the Response Authenticator.
    }
    c.authenticate(t0, AccessRequest::pap("alice", "pw")).unwrap();
    let (t, b) = one_send(&mut c, t0);
    let mut wrong = FakeServer::new(S1, b"nope");
    wrong.with_ma = false;
    assert_eq!(
        c.handle_input(t0, t.socket, srv.address, &wrong.answer(&b, Code::ACCESS_ACCEPT)),
        Err(Error::BadAuthenticator)
    );
}

#[test]
fn identifiers_span_source_ports_then_requests_queue_then_refuse() {
    let srv = FakeServer::new(S1, b"secret1");
    let mut cfg = config(vec![auth(S1, "secret1")]);
    cfg.max_source_ports = 2;
    cfg.queue_limit = 3;
    let mut c = Client::new(cfg, ChaCha20Rng::seed_from_u64(1)).unwrap();
    let t0 = Instant::now();
    let mut seen = std::collections::HashSet::new();
    let mut first = None;
    for i in 0..512 {
        c.authenticate(t0, AccessRequest::pap(format!("u{i}"), "pw")).unwrap();
        let (t, b) = one_send(&mut c, t0);
        assert!(seen.insert((t.socket, b[1])), "identifier reused while outstanding");
        assert_eq!(t.socket, i / 256);
        first.get_or_insert((t, b));
    }
    assert_eq!(c.outstanding(), 512);
    assert_eq!(c.source_ports(), 2);
    let queued: Vec<RequestHandle> =
        (0..3).map(|i| c.authenticate(t0, AccessRequest::pap(format!("q{i}"), "pw")).unwrap()).collect();
    assert_eq!(c.queued(), 3);
    assert!(sends(&mut c, t0).is_empty());
    assert_eq!(c.authenticate(t0, AccessRequest::pap("late", "pw")), Err(Error::QueueFull));
    // One answer frees an identifier: the oldest queued request goes out on it.
    let (t, b) = first.unwrap();
    c.handle_input(t0, t.socket, srv.address, &srv.answer(&b, Code::ACCESS_ACCEPT)).unwrap();
    let (t2, b2) = one_send(&mut c, t0);
    assert_eq!(t2.socket, t.socket);
    assert_eq!(Packet::parse(&b2).unwrap().find(1), Some(&b"q0"[..]));
    assert_eq!(c.queued(), 2);
    let _ = queued;
}

#[test]
fn queued_requests_time_out_and_cancel_forgets() {
    let srv = FakeServer::new(S1, b"secret1");
    let mut cfg = config(vec![auth(S1, "secret1")]);
    cfg.max_source_ports = 1;
    cfg.retransmit.max_duration = Duration::from_secs(100);
    cfg.retransmit.max_sends = 100;
    cfg.request_timeout = Duration::from_secs(5);
    let mut c = Client::new(cfg, ChaCha20Rng::seed_from_u64(1)).unwrap();
    let t0 = Instant::now();
    let mut handles = Vec::new();
    let mut sent = Vec::new();
    for i in 0..256 {
        handles.push(c.authenticate(t0, AccessRequest::pap(format!("u{i}"), "pw")).unwrap());
        sent.push(one_send(&mut c, t0));
    }
    let q = c.authenticate(t0 + Duration::from_secs(1), AccessRequest::pap("q", "pw")).unwrap();
    // Cancel one outstanding request: its identifier goes at once to the queued request
    // (the only free one), so a late answer to the cancelled request matches the
    // identifier but not the new Request Authenticator, and is dropped.
    let t1 = t0 + Duration::from_secs(1);
    assert!(c.cancel(t1, handles[0]));
    assert!(!c.cancel(t1, handles[0]));
    let (t, b) = &sent[0];
    assert_eq!(
        c.handle_input(t1, t.socket, srv.address, &srv.answer(b, Code::ACCESS_ACCEPT)),
        Err(Error::BadAuthenticator)
    );
    let out = sends(&mut c, t1);
    assert_eq!(out.len(), 1, "queued request sent once an identifier is free");
    assert_eq!(Packet::parse(&out[0].1).unwrap().find(1), Some(&b"q"[..]));
    // Everything times out at the request timeout, with a clear event per request.
    let (_, evs) = run_until(&mut c, t0, t0 + Duration::from_secs(60), |_, _, _| {});
    let timeouts = evs.iter().filter(|e| matches!(e, Event::Timeout { .. })).count();
    assert_eq!(timeouts, 256, "255 original + the queued one");
    assert!(evs.contains(&Event::Timeout { handle: q }));
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn identifiers_are_not_reused_at_once() {
    let srv = FakeServer::new(S1, b"secret1");
    let mut c = client(vec![auth(S1, "secret1")]);
    let t0 = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..5 {
        c.authenticate(t0, AccessRequest::pap("a", "pw")).unwrap();
        let (t, b) = one_send(&mut c, t0);
        ids.push(b[1]);
        c.handle_input(t0, t.socket, srv.address, &srv.answer(&b, Code::ACCESS_ACCEPT)).unwrap();
    }
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 5, "{ids:?}");
}

#[test]
fn accounting_start_interim_stop() {
    let srv = FakeServer::new(ACCT, b"acctsecret");
    let mut c = Client::new(
        config(vec![ServerConfig::new(ACCT.parse().unwrap(), "acctsecret", ServerRole::Accounting)]),
        ChaCha20Rng::seed_from_u64(3),
    )
    .unwrap();
    // No authentication server configured.
    assert_eq!(c.authenticate(Instant::now(), AccessRequest::pap("a", "b")), Err(Error::NoServer));
    let t0 = Instant::now();
    for (status, counters, cause) in [
        (AcctStatusType::ACCOUNTING_ON, None, None),
        (AcctStatusType::START, None, None),
        (
            AcctStatusType::INTERIM_UPDATE,
            Some(SessionCounters {
                session_time: 60,
                input_octets: 5 << 32 | 7,
                output_octets: 9,
                input_packets: 3,
                output_packets: 4,
            }),
            None,
        ),
        (
            AcctStatusType::STOP,
            Some(SessionCounters {
                session_time: 120,
                input_octets: 1,
                output_octets: (1 << 32) + 2,
                input_packets: 5,
                output_packets: 6,
            }),
            Some(AcctTerminateCause::USER_REQUEST),
        ),
        (AcctStatusType::ACCOUNTING_OFF, None, None),
    ] {
        let mut r = AccountingRequest::new(status, "sess-1");
        r.user_name = Some("alice".into());
        r.counters = counters;
        r.terminate_cause = cause;
        r.class = vec![b"c1".to_vec()];
        r.framed_ip_address = Some(Ipv4Addr::new(192, 0, 2, 10));
        let h = c.account(t0, r).unwrap();
        let (t, b) = one_send(&mut c, t0);
        srv.check_request(&b);
        let p = Packet::parse(&b).unwrap();
        let attrs: Vec<_> = p.typed_attributes().collect();
        assert!(attrs.contains(&Attribute::AcctStatusType(status)));
        assert!(attrs.contains(&Attribute::AcctSessionId(Text(b"sess-1"))));
        assert!(!attrs.iter().any(|a| matches!(a, Attribute::AcctDelayTime(_))), "no delay on first send");
        if let Some(cn) = counters {
            assert!(attrs.contains(&Attribute::AcctInputOctets(cn.input_octets as u32)));
            assert!(attrs.contains(&Attribute::AcctInputGigawords((cn.input_octets >> 32) as u32)));
            assert!(attrs.contains(&Attribute::AcctOutputOctets(cn.output_octets as u32)));
            assert!(attrs.contains(&Attribute::AcctOutputGigawords((cn.output_octets >> 32) as u32)));
            assert!(attrs.contains(&Attribute::AcctSessionTime(cn.session_time)));
            assert!(attrs.contains(&Attribute::AcctInputPackets(cn.input_packets)));
        }
        if let Some(tc) = cause {
            assert!(attrs.contains(&Attribute::AcctTerminateCause(tc)));
        }
        c.handle_input(t0, t.socket, srv.address, &srv.answer(&b, Code::ACCOUNTING_RESPONSE)).unwrap();
        assert!(matches!(
            &events(&mut c)[..],
            [Event::Reply { handle, reply: Reply::AccountingResponse, .. }] if *handle == h
        ));
    }
}

#[test]
fn accounting_failover_carries_acct_delay_time() {
    let a1 = "127.0.0.1:1813";
    let a2 = "127.0.0.2:1813";
    let srv2 = FakeServer::new(a2, b"s2");
    let mut c = Client::new(
        config(vec![
            ServerConfig::new(a1.parse().unwrap(), "s1", ServerRole::Accounting),
            ServerConfig::new(a2.parse().unwrap(), "s2", ServerRole::Accounting),
        ]),
        ChaCha20Rng::seed_from_u64(3),
    )
    .unwrap();
    let t0 = Instant::now();
    c.account(t0, AccountingRequest::new(AcctStatusType::START, "s")).unwrap();
    one_send(&mut c, t0);
    let mut second = None;
    run_until(&mut c, t0, t0 + Duration::from_secs(10), |_, t, b| {
        if t.destination == srv2.address {
            second = Some(b.to_vec());
        }
    });
    let b = second.expect("failed over");
    srv2.check_request(&b);
    let p = Packet::parse(&b).unwrap();
    assert!(p.typed_attributes().any(|a| a == Attribute::AcctDelayTime(10)));
}

#[test]
fn access_challenge_and_mschapv2_success_with_mppe_keys() {
    let srv = FakeServer::new(S1, b"secret1");
    let mut c = client(vec![auth(S1, "secret1")]);
    let t0 = Instant::now();
    c.authenticate(t0, AccessRequest::pap("alice", "pw")).unwrap();
    let (t, b) = one_send(&mut c, t0);
    let ch = srv.answer_with(&b, Code::ACCESS_CHALLENGE, |w, _| {
        w.push(&Attribute::State(b"st-1")).unwrap();
        w.push(&Attribute::ReplyMessage(Text(b"PIN?"))).unwrap();
    });
    c.handle_input(t0, t.socket, srv.address, &ch).unwrap();
    let Some(Event::Reply { reply: Reply::AccessChallenge(chal), .. }) = c.poll_event() else { panic!() };
    assert_eq!(chal.state.as_deref(), Some(&b"st-1"[..]));
    assert_eq!(chal.reply_message, vec!["PIN?".to_string()]);

    // MS-CHAPv2 with the RFC 2759 vector; the fake server answers what a server must.
    let auth_ch: [u8; 16] = hex::decode("5B5D7C7D7B3F2F3E3C2C602132262628").unwrap().try_into().unwrap();
    let peer: [u8; 16] = hex::decode("21402324255E262A28295F2B3A337C7E").unwrap().try_into().unwrap();
    let nt = common::mschapv2::generate_nt_response(&auth_ch, &peer, b"User", "clientPass");
    let resp = l2sec_radius_auth::ms::MsChap2Response {
        ident: 1,
        flags: 0,
        peer_challenge: peer,
        reserved: [0; 8],
        nt_response: nt,
    };
    let mut req = AccessRequest::ms_chap_v2("User", auth_ch, resp);
    req.state = Some(b"st-1".to_vec());
    c.authenticate(t0, req).unwrap();
    let (t, b) = one_send(&mut c, t0);
    let p = Packet::parse(&b).unwrap();
    assert_eq!(p.find(24), Some(&b"st-1"[..]), "State echoed");
    let success = common::mschapv2::authenticator_response("clientPass", &nt, &peer, &auth_ch, b"User");
    let mk = common::mschapv2::master_key("clientPass", &nt);
    let (send, recv) = (common::mschapv2::server_key(&mk, true), common::mschapv2::server_key(&mk, false));
    let answer = srv.answer_with(&b, Code::ACCESS_ACCEPT, |w, ra| {
        w.push(&Attribute::VendorSpecific(VendorSpecific::Microsoft(MsAttribute::Chap2Success(IdentText {
            ident: 1,
            text: Text(success.as_bytes()),
        }))))
        .unwrap();
        for dns in [
            MsAttribute::PrimaryDnsServer(Ipv4Addr::new(192, 0, 2, 53)),
            MsAttribute::SecondaryDnsServer(Ipv4Addr::new(192, 0, 2, 54)),
            MsAttribute::MppeEncryptionPolicy(l2sec_radius_auth::ms::MppeEncryptionPolicy::REQUIRED),
            MsAttribute::MppeEncryptionTypes(l2sec_radius_auth::ms::MppeEncryptionTypes::RC4_128),
        ] {
            w.push(&Attribute::VendorSpecific(VendorSpecific::Microsoft(dns))).unwrap();
        }
        for (vtype, key, salt) in [(16u8, send, [0x80, 1]), (17, recv, [0x80, 2])] {
            let mut v = 311u32.to_be_bytes().to_vec();
            v.push(vtype);
            v.push(0);
            l2sec_radius_auth::crypto::salt_encrypt(&key, b"secret1", ra, salt, &mut v).unwrap();
            v[5] = (v.len() - 4) as u8;
            w.push_raw(26, &v).unwrap();
        }
    });
    c.handle_input(t0, t.socket, srv.address, &answer).unwrap();
    let Some(Event::Reply { reply: Reply::AccessAccept(acc), .. }) = c.poll_event() else { panic!() };
    let s = acc.ms_chap2_success.as_ref().unwrap();
    assert_eq!(s.message, b"S=407A5589115FD0D6209F510FE9C04566932CDA56");
    assert_eq!(acc.primary_dns, Some(Ipv4Addr::new(192, 0, 2, 53)));
    assert_eq!(acc.secondary_dns, Some(Ipv4Addr::new(192, 0, 2, 54)));
    let keys = acc.mppe.as_ref().unwrap();
    assert_eq!(keys.policy, Some(l2sec_radius_auth::ms::MppeEncryptionPolicy::REQUIRED));
    assert_eq!(keys.types, Some(l2sec_radius_auth::ms::MppeEncryptionTypes::RC4_128));
    assert_eq!(hex::encode_upper(&keys.send_key[..]), "8B7CDC149B993A1BA118CB153F56DCCB");
    assert_eq!(hex::encode_upper(&keys.recv_key[..]), "D5F0E9521E3EA9589645E86051C82226");
}

#[test]
fn same_seed_same_transcript() {
    let run = || {
        let mut c = client(vec![auth(S1, "secret1"), auth(S2, "secret2")]);
        let t0 = Instant::now();
        c.authenticate(t0, AccessRequest::pap("alice", "pw")).unwrap();
        let mut all: Vec<Vec<u8>> = sends(&mut c, t0).into_iter().map(|(_, b)| b).collect();
        let (_, _) = run_until(&mut c, t0, t0 + Duration::from_secs(40), |_, _, b| all.push(b.to_vec()));
        all
    };
    let a = run();
    assert!(a.len() >= 4);
    assert_eq!(a, run());
}

#[test]
fn bad_requests_are_refused_up_front() {
    let mut c = client(vec![auth(S1, "secret1")]);
    let t0 = Instant::now();
    assert_eq!(
        c.authenticate(t0, AccessRequest::pap("alice", [b'x'; 129])),
        Err(Error::Encode(l2sec_radius_auth::EncodeError::BadPasswordLength))
    );
    assert_eq!(c.account(t0, AccountingRequest::new(AcctStatusType::START, "s")), Err(Error::NoServer));
    let long = AccessRequest::pap("a".repeat(300), "pw");
    assert_eq!(c.authenticate(t0, long), Err(Error::Encode(l2sec_radius_auth::EncodeError::ValueTooLong)));
    assert_eq!(c.outstanding(), 0);
    // Extra attributes go out as given, but never a second Message-Authenticator.
    let mut r = AccessRequest::pap("alice", "pw");
    r.extra = vec![(80, vec![0; 16]), (87, b"l2tp-7".to_vec())];
    c.authenticate(t0, r).unwrap();
    let (_, b) = one_send(&mut c, t0);
    let p = Packet::parse(&b).unwrap();
    assert_eq!(p.attributes().filter(|a| a.typ == 80).count(), 1);
    assert_eq!(p.find(87), Some(&b"l2tp-7"[..]));
    FakeServer::new(S1, b"secret1").check_request(&b);
    // 128-octet passwords are fine (RFC 2865 §5.2).
    c.authenticate(t0, AccessRequest::pap("alice", [b'x'; 128])).unwrap();
    let (_, b) = one_send(&mut c, t0);
    assert_eq!(FakeServer::new(S1, b"secret1").pap_password(&b), vec![b'x'; 128]);
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    fn setup() -> (Client<ChaCha20Rng>, FakeServer, Transmit, Vec<u8>, Instant) {
        let srv = FakeServer::new(S1, b"secret1");
        let mut c = client(vec![auth(S1, "secret1")]);
        let t0 = Instant::now();
        c.authenticate(t0, AccessRequest::pap("alice", "pw")).unwrap();
        let (t, b) = one_send(&mut c, t0);
        (c, srv, t, b, t0)
    }

    proptest! {
        /// Arbitrary datagrams from the server's address never change the client.
        #[test]
        fn arbitrary_datagrams_change_nothing(data in proptest::collection::vec(any::<u8>(), 0..300), id in any::<u8>()) {
            let (mut c, srv, t, b, t0) = setup();
            let before = snapshot(&c);
            let mut d = data;
            if d.len() >= 20 {
                // Make many of them look like an answer to the outstanding request.
                d[1] = if id % 2 == 0 { b[1] } else { id };
                let len = d.len() as u16;
                d[2..4].copy_from_slice(&len.to_be_bytes());
            }
            prop_assert!(c.handle_input(t0, t.socket, srv.address, &d).is_err());
            prop_assert_eq!(snapshot(&c), before);
            prop_assert!(c.poll_event().is_none());
        }

        /// Any single bit flipped in a genuine answer makes it rejected, with no change.
        #[test]
        fn any_bit_flip_in_a_genuine_answer_is_refused(bit in 0usize..(8 * 64)) {
            let (mut c, srv, t, b, t0) = setup();
            let good = srv.answer_with(&b, Code::ACCESS_ACCEPT, |w, _| {
                w.push(&Attribute::FramedIpAddress(Ipv4Addr::new(192, 0, 2, 10))).unwrap();
                w.push(&Attribute::SessionTimeout(60)).unwrap();
            });
            let bit = bit % (8 * good.len());
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let before = snapshot(&c);
            prop_assert!(c.handle_input(t0, t.socket, srv.address, &bad).is_err(), "bit {} accepted", bit);
            prop_assert_eq!(snapshot(&c), before);
            c.handle_input(t0, t.socket, srv.address, &good).unwrap();
            let accepted = matches!(c.poll_event(), Some(Event::Reply { .. }));
            prop_assert!(accepted);
        }
    }
}

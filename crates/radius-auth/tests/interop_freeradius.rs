//! Interop with FreeRADIUS 3.2 (the lab's private radiusd on 127.0.0.1), driven over real
//! UDP by a small driver around the sans-IO client. Each test starts its own radiusd on
//! its own ports with a private LAB_STATE and stops it on drop.
//!
//! FreeRADIUS 3.2.1 sends no Message-Authenticator in responses, so the lab server is
//! configured with `require_message_authenticator = false` except in the test that shows
//! the strict default refusing its answers.

mod common;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use l2sec_radius_auth::attr::{AcctAuthentic, AcctStatusType, AcctTerminateCause};
use l2sec_radius_auth::ms::MsChap2Response;
use l2sec_radius_auth::{
    AccessRequest, AccountingRequest, Client, ClientConfig, Error, Event, NasIdentity, Reply, RequestHandle,
    RetransmitPolicy, ServerConfig, ServerRole, SessionCounters, SessionInfo, TunnelInfo,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/lab/radius-l2tp/freeradius");
const SECRET: &str = "testing123";

/// A private radiusd: started in `start`, stopped in `Drop`.
struct Radiusd {
    dir: PathBuf,
    auth: SocketAddr,
    acct: SocketAddr,
}

impl Radiusd {
    fn start(auth_port: u16, acct_port: u16) -> Self {
        let found =
            Command::new("sh").args(["-c", "command -v freeradius"]).output().map(|o| o.status.success());
        assert_eq!(
            found.ok(),
            Some(true),
            "freeradius is not installed (apt-get install freeradius freeradius-utils)"
        );
        let dir = std::env::temp_dir().join(format!("l2sec-radius-auth-{}-{auth_port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new(format!("{LAB}/radius-start.sh"))
            .arg(dir.join("radius"))
            .env("LAB_STATE", &dir)
            .env("AUTH_PORT", auth_port.to_string())
            .env("ACCT_PORT", acct_port.to_string())
            .env("SECRET", SECRET)
            .output()
            .expect("run radius-start.sh");
        assert!(
            out.status.success(),
            "radius-start.sh failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir,
            auth: SocketAddr::from(([127, 0, 0, 1], auth_port)),
            acct: SocketAddr::from(([127, 0, 0, 1], acct_port)),
        }
    }

    fn stop(&self) {
        let _ = Command::new(format!("{LAB}/radius-stop.sh")).arg(self.dir.join("radius")).status();
    }

    fn restart(&self) {
        self.stop();
        let out = Command::new(format!("{LAB}/radius-start.sh"))
            .arg(self.dir.join("radius"))
            .env("LAB_STATE", &self.dir)
            .env("AUTH_PORT", self.auth.port().to_string())
            .env("ACCT_PORT", self.acct.port().to_string())
            .env("SECRET", SECRET)
            .output()
            .unwrap();
        assert!(out.status.success(), "restart: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The accounting detail files' contents.
    fn detail(&self) -> String {
        let mut s = String::new();
        let d = self.dir.join("radius/radacct/127.0.0.1");
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                s += &std::fs::read_to_string(e.path()).unwrap_or_default();
            }
        }
        s
    }
}

impl Drop for Radiusd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn server(addr: SocketAddr, secret: &str, role: ServerRole, strict: bool) -> ServerConfig {
    let mut s = ServerConfig::new(addr, secret, role);
    s.require_message_authenticator = strict;
    s
}

fn fast_config(servers: Vec<ServerConfig>) -> ClientConfig {
    let mut c = ClientConfig::new(
        NasIdentity { ip_address: Some(Ipv4Addr::LOCALHOST), identifier: Some("l2sec-interop".into()) },
        servers,
    );
    c.retransmit = RetransmitPolicy {
        initial: Duration::from_millis(300),
        max_interval: Duration::from_secs(1),
        max_sends: 3,
        max_duration: Duration::from_millis(1500),
    };
    c.request_timeout = Duration::from_secs(4);
    c.probe_interval = Duration::from_millis(500);
    c
}

/// Drives a client over UDP sockets on 127.0.0.1 (one per source-port index).
struct Driver {
    client: Client<ChaCha20Rng>,
    sockets: Vec<UdpSocket>,
    events: Vec<Event>,
    dropped: Vec<Error>,
    sent: usize,
}

impl Driver {
    fn new(config: ClientConfig) -> Self {
        Self {
            client: Client::new(config, ChaCha20Rng::seed_from_u64(0x5eed)).unwrap(),
            sockets: Vec::new(),
            events: Vec::new(),
            dropped: Vec::new(),
            sent: 0,
        }
    }

    fn flush(&mut self) {
        let now = Instant::now();
        let mut buf = Vec::new();
        while let Some(t) = self.client.poll_transmit(now, &mut buf) {
            while self.sockets.len() <= t.socket {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_nonblocking(true).unwrap();
                self.sockets.push(s);
            }
            // A refused port (no server) is what failover is for: ignore send errors.
            let _ = self.sockets[t.socket].send_to(&buf, t.destination);
            self.sent += 1;
            buf.clear();
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
    }

    /// Run until `done` holds or `limit` passes.
    fn run(&mut self, limit: Duration, mut done: impl FnMut(&[Event]) -> bool) {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 4096];
        self.flush();
        while !done(&self.events) && Instant::now() < end {
            let mut got = false;
            for i in 0..self.sockets.len() {
                loop {
                    match self.sockets[i].recv_from(&mut buf) {
                        Ok((n, from)) => {
                            got = true;
                            if let Err(e) = self.client.handle_input(Instant::now(), i, from, &buf[..n]) {
                                self.dropped.push(e);
                            }
                            self.flush();
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => break, // ICMP port unreachable from a dead server
                    }
                }
            }
            if self.client.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                self.client.handle_timeout(Instant::now());
                self.flush();
            }
            if !got {
                self.wait_readable();
            }
        }
    }

    /// Block until a datagram may be there or the next timer is due (at most 5 ms). With
    /// one socket, a blocking peek with a timeout; with several, a short sleep.
    fn wait_readable(&mut self) {
        let now = Instant::now();
        let wait = self
            .client
            .poll_timeout()
            .map_or(Duration::from_millis(5), |t| t.saturating_duration_since(now))
            .clamp(Duration::from_micros(50), Duration::from_millis(5));
        if let [s] = &self.sockets[..] {
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(wait)).unwrap();
            let mut b = [0u8; 1];
            let _ = s.peek_from(&mut b);
            s.set_nonblocking(true).unwrap();
        } else {
            std::thread::sleep(wait.min(Duration::from_micros(200)));
        }
    }

    fn request(&mut self, req: AccessRequest) -> Reply {
        let h = self.client.authenticate(Instant::now(), req).unwrap();
        self.wait(h)
    }

    fn wait(&mut self, h: RequestHandle) -> Reply {
        self.run(Duration::from_secs(10), |evs| evs.iter().any(|e| ends(e, h)));
        let i = self.events.iter().position(|e| ends(e, h)).unwrap_or_else(|| {
            panic!("no answer for {h:?}; events {:?}; dropped {:?}", self.events, self.dropped)
        });
        match self.events.remove(i) {
            Event::Reply { reply, .. } => reply,
            other => panic!("request {h:?} ended with {other:?}; dropped {:?}", self.dropped),
        }
    }

    fn expect_timeout(&mut self, h: RequestHandle) {
        self.run(Duration::from_secs(10), |evs| evs.iter().any(|e| ends(e, h)));
        assert!(
            self.events.contains(&Event::Timeout { handle: h }),
            "expected a timeout for {h:?}: {:?}",
            self.events
        );
    }
}

fn ends(e: &Event, h: RequestHandle) -> bool {
    matches!(e, Event::Reply { handle, .. } | Event::Timeout { handle } | Event::Failed { handle, .. } if *handle == h)
}

fn session(port: u32) -> SessionInfo {
    SessionInfo {
        nas_port: Some(port),
        calling_station_id: Some("198.51.100.7".into()),
        called_station_id: Some("203.0.113.1".into()),
        acct_session_id: Some(format!("l2sec-{port}")),
        tunnel: Some(TunnelInfo {
            client_endpoint: "198.51.100.7".into(),
            server_endpoint: "203.0.113.1".into(),
        }),
        ..SessionInfo::default()
    }
}

#[test]
#[ignore = "interop: needs freeradius; run by .ci/run with --ignored"]
fn interop_pap_accept_and_reject() {
    let r = Radiusd::start(18221, 18231);
    let mut d = Driver::new(fast_config(vec![server(r.auth, SECRET, ServerRole::Authentication, false)]));
    let mut req = AccessRequest::pap("alice", "alicepass");
    req.session = session(1);
    let Reply::AccessAccept(acc) = d.request(req) else { panic!("alice not accepted") };
    assert_eq!(acc.reply_message, vec!["Hello alice".to_string()]);
    let Reply::AccessReject(_) = d.request(AccessRequest::pap("alice", "nope")) else { panic!() };
    let Reply::AccessReject(rej) = d.request(AccessRequest::pap("bob", "whatever")) else { panic!() };
    assert_eq!(rej.reply_message, vec!["bob is rejected".to_string()]);
    // A long password (3 blocks) is hidden correctly: the server rejects it as wrong, not
    // as garbage, and accepts the right one.
    let Reply::AccessReject(_) = d.request(AccessRequest::pap("alice", "x".repeat(40))) else { panic!() };
    assert!(d.dropped.is_empty(), "{:?}", d.dropped);
    assert_eq!(d.events.iter().filter(|e| matches!(e, Event::UnprotectedResponse { .. })).count(), 1);
}

#[test]
#[ignore = "interop: needs freeradius; run by .ci/run with --ignored"]
fn interop_chap_and_framed_ip() {
    use md5::{Digest, Md5};
    let r = Radiusd::start(18222, 18232);
    let mut d = Driver::new(fast_config(vec![server(r.auth, SECRET, ServerRole::Authentication, false)]));
    let challenge = *b"0123456789abcdefXYZ";
    let chap = |ident: u8, pw: &[u8]| -> [u8; 16] {
        let mut h = Md5::new();
        h.update([ident]);
        h.update(pw);
        h.update(challenge);
        h.finalize().into()
    };
    let Reply::AccessAccept(_) =
        d.request(AccessRequest::chap("alice", 7, &challenge, chap(7, b"alicepass")))
    else {
        panic!("CHAP not accepted")
    };
    let Reply::AccessReject(_) = d.request(AccessRequest::chap("alice", 8, &challenge, chap(8, b"wrong")))
    else {
        panic!()
    };
    let Reply::AccessAccept(acc) = d.request(AccessRequest::pap("fixedip", "fixedpass")) else { panic!() };
    assert_eq!(acc.framed_ip_address, Some(Ipv4Addr::new(192, 0, 2, 10)));
    assert_eq!(acc.framed_ip_netmask, Some(Ipv4Addr::new(255, 255, 255, 255)));
    assert_eq!(acc.session_timeout, Some(3600));
    assert_eq!(acc.idle_timeout, Some(600));
    assert_eq!(acc.acct_interim_interval, Some(60));
    assert_eq!(acc.framed_mtu, Some(1400));
    assert_eq!(acc.class, vec![b"lab-class-1".to_vec()]);
}

#[test]
#[ignore = "interop: needs freeradius; run by .ci/run with --ignored"]
fn interop_mschapv2_success_and_mppe_keys() {
    use common::mschapv2 as m;
    let r = Radiusd::start(18223, 18233);
    let mut d = Driver::new(fast_config(vec![server(r.auth, SECRET, ServerRole::Authentication, false)]));
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    type Challenges = Option<([u8; 16], [u8; 16])>;
    let cases: [(&str, &str, Challenges); 3] = [
        (
            "User",
            "clientPass",
            Some((
                hex::decode("5B5D7C7D7B3F2F3E3C2C602132262628").unwrap().try_into().unwrap(),
                hex::decode("21402324255E262A28295F2B3A337C7E").unwrap().try_into().unwrap(),
            )),
        ),
        ("msuser", "mspass", None),
        ("ntuser", "ntpass", None),
    ];
    for (user, pass, fixed) in cases {
        let (auth_ch, peer) = fixed.unwrap_or_else(|| {
            use rand_core::Rng;
            let mut a = [0u8; 16];
            let mut p = [0u8; 16];
            rng.fill_bytes(&mut a);
            rng.fill_bytes(&mut p);
            (a, p)
        });
        let nt = m::generate_nt_response(&auth_ch, &peer, user.as_bytes(), pass);
        let resp = MsChap2Response {
            ident: 0x42,
            flags: 0,
            peer_challenge: peer,
            reserved: [0; 8],
            nt_response: nt,
        };
        let Reply::AccessAccept(acc) = d.request(AccessRequest::ms_chap_v2(user, auth_ch, resp)) else {
            panic!("{user}: MS-CHAPv2 not accepted")
        };
        let success = acc.ms_chap2_success.as_ref().expect("MS-CHAP2-Success");
        assert_eq!(success.ident, 0x42);
        let expected = m::authenticator_response(pass, &nt, &peer, &auth_ch, user.as_bytes());
        assert_eq!(String::from_utf8_lossy(&success.message), expected, "{user}");
        let keys = acc.mppe.as_ref().expect("MPPE keys");
        let mk = m::master_key(pass, &nt);
        assert_eq!(&keys.send_key[..], &m::server_key(&mk, true)[..], "{user} send key");
        assert_eq!(&keys.recv_key[..], &m::server_key(&mk, false)[..], "{user} recv key");
        if user == "User" {
            assert_eq!(expected, "S=407A5589115FD0D6209F510FE9C04566932CDA56");
            assert_eq!(hex::encode_upper(&keys.send_key[..]), "8B7CDC149B993A1BA118CB153F56DCCB");
        }
    }
    // Wrong password: Access-Reject with MS-CHAP-Error E=691.
    let (a, p) = ([1u8; 16], [2u8; 16]);
    let nt = m::generate_nt_response(&a, &p, b"msuser", "wrongpass");
    let resp = MsChap2Response { ident: 1, flags: 0, peer_challenge: p, reserved: [0; 8], nt_response: nt };
    let Reply::AccessReject(rej) = d.request(AccessRequest::ms_chap_v2("msuser", a, resp)) else { panic!() };
    let (_, err) = rej.ms_chap_error.expect("MS-CHAP-Error");
    assert!(err.contains("E=691"), "{err}");
}

#[test]
#[ignore = "interop: needs freeradius; run by .ci/run with --ignored"]
fn interop_accounting_start_interim_stop() {
    let r = Radiusd::start(18224, 18234);
    let mut d = Driver::new(fast_config(vec![server(r.acct, SECRET, ServerRole::Accounting, false)]));
    let sid = format!("l2sec-acct-{}", std::process::id());
    for (status, counters, cause) in [
        (AcctStatusType::ACCOUNTING_ON, None, None),
        (AcctStatusType::START, None, None),
        (
            AcctStatusType::INTERIM_UPDATE,
            Some(SessionCounters {
                session_time: 60,
                input_octets: (3 << 32) + 1000,
                output_octets: 2000,
                input_packets: 10,
                output_packets: 20,
            }),
            None,
        ),
        (
            AcctStatusType::STOP,
            Some(SessionCounters {
                session_time: 120,
                input_octets: (3 << 32) + 5000,
                output_octets: 7000,
                input_packets: 30,
                output_packets: 40,
            }),
            Some(AcctTerminateCause::USER_REQUEST),
        ),
    ] {
        let mut req = AccountingRequest::new(status, sid.clone());
        req.user_name = Some("fixedip".into());
        req.session = session(5);
        req.framed_ip_address = Some(Ipv4Addr::new(192, 0, 2, 10));
        req.authentic = Some(AcctAuthentic::RADIUS);
        req.counters = counters;
        req.terminate_cause = cause;
        req.class = vec![b"lab-class-1".to_vec()];
        let h = d.client.account(Instant::now(), req).unwrap();
        assert_eq!(d.wait(h), Reply::AccountingResponse, "{status:?}");
    }
    let detail = r.detail();
    for needle in [
        format!("Acct-Session-Id = \"{sid}\""),
        "Acct-Status-Type = Start".into(),
        "Acct-Status-Type = Interim-Update".into(),
        "Acct-Status-Type = Stop".into(),
        "Acct-Input-Gigawords = 3".into(),
        "Acct-Terminate-Cause = User-Request".into(),
        "Acct-Session-Time = 120".into(),
    ] {
        assert!(detail.contains(&needle), "detail file lacks {needle}:\n{detail}");
    }
}

#[test]
#[ignore = "interop: needs freeradius; run by .ci/run with --ignored"]
fn interop_wrong_secret_and_missing_message_authenticator_are_refused() {
    let r = Radiusd::start(18225, 18235);
    // Strict (the default): FreeRADIUS 3.2.1's answers carry no Message-Authenticator and
    // are dropped, so the request ends in a timeout.
    let mut d = Driver::new(fast_config(vec![server(r.auth, SECRET, ServerRole::Authentication, true)]));
    let h = d.client.authenticate(Instant::now(), AccessRequest::pap("alice", "alicepass")).unwrap();
    d.expect_timeout(h);
    assert!(d.dropped.contains(&Error::MissingMessageAuthenticator), "{:?}", d.dropped);
    assert!(!d.events.iter().any(|e| matches!(e, Event::Reply { .. })));

    // Wrong secret: the server drops our requests (they carry a Message-Authenticator);
    // accounting too.
    let mut d = Driver::new(fast_config(vec![
        server(r.auth, "wrong-secret", ServerRole::Authentication, false),
        server(r.acct, "wrong-secret", ServerRole::Accounting, false),
    ]));
    let h = d.client.authenticate(Instant::now(), AccessRequest::pap("alice", "alicepass")).unwrap();
    d.expect_timeout(h);
    let h = d.client.account(Instant::now(), AccountingRequest::new(AcctStatusType::START, "x")).unwrap();
    d.expect_timeout(h);

    // An answer signed with another secret: the client shares "other" with its server, a
    // relay re-signs the request's Message-Authenticator for the lab radiusd (secret
    // testing123), which rejects it (the password decrypts to garbage) and signs its
    // answer with testing123. The client must refuse that answer.
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut d = Driver::new(fast_config(vec![server(
        fake.local_addr().unwrap(),
        "other",
        ServerRole::Authentication,
        false,
    )]));
    let h = d.client.authenticate(Instant::now(), AccessRequest::pap("alice", "alicepass")).unwrap();
    d.flush();
    let mut buf = [0u8; 4096];
    fake.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (n, from) = fake.recv_from(&mut buf).unwrap();
    let mut req = buf[..n].to_vec();
    let p = l2sec_radius_auth::Packet::parse(&req).unwrap();
    let (ra, off) = (p.authenticator(), p.message_authenticator_offset().unwrap());
    let mac = l2sec_radius_auth::crypto::message_authenticator(&req, off, &ra, SECRET.as_bytes());
    req[off..off + 16].copy_from_slice(&mac);
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    relay.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    relay.send_to(&req, r.auth).unwrap();
    let (m, _) = relay.recv_from(&mut buf).expect("radiusd answers the re-signed request");
    assert_eq!(buf[0], 3, "Access-Reject");
    fake.send_to(&buf[..m], from).unwrap();
    d.run(Duration::from_secs(1), |_| false);
    assert!(d.dropped.contains(&Error::BadAuthenticator), "{:?}", d.dropped);
    d.expect_timeout(h);
}

#[test]
#[ignore = "interop: needs freeradius; run by .ci/run with --ignored"]
fn interop_failover_dead_server_and_status_server_revival() {
    let r = Radiusd::start(18226, 18236);
    // Server 0: nothing listens there. Server 1: the lab radiusd.
    let dead: SocketAddr = "127.0.0.1:18299".parse().unwrap();
    let mut d = Driver::new(fast_config(vec![
        server(dead, SECRET, ServerRole::Authentication, false),
        server(r.auth, SECRET, ServerRole::Authentication, false),
    ]));
    let t0 = Instant::now();
    let Reply::AccessAccept(_) = d.request(AccessRequest::pap("alice", "alicepass")) else { panic!() };
    let took = t0.elapsed();
    assert!(d.events.contains(&Event::ServerDown { server: 0 }), "{:?}", d.events);
    assert!(took >= Duration::from_millis(1400), "failed over only after giving up: {took:?}");
    // Now server 0 is skipped: an answer comes at once.
    let t1 = Instant::now();
    let Reply::AccessAccept(_) = d.request(AccessRequest::pap("alice", "alicepass")) else { panic!() };
    assert!(t1.elapsed() < Duration::from_millis(250), "{:?}", t1.elapsed());

    // Dead-server revival with Status-Server against the real radiusd: stop it, let a
    // request mark it dead, start it again and wait for the probe to bring it back.
    // The accounting port is probed the same way (FreeRADIUS answers Status-Server there
    // with an Accounting-Response).
    let mut d = Driver::new(fast_config(vec![
        server(r.auth, SECRET, ServerRole::Authentication, false),
        server(r.acct, SECRET, ServerRole::Accounting, false),
    ]));
    let Reply::AccessAccept(_) = d.request(AccessRequest::pap("alice", "alicepass")) else { panic!() };
    r.stop();
    let h = d.client.authenticate(Instant::now(), AccessRequest::pap("alice", "alicepass")).unwrap();
    d.expect_timeout(h);
    let h =
        d.client.account(Instant::now(), AccountingRequest::new(AcctStatusType::START, "revival")).unwrap();
    d.expect_timeout(h);
    assert!(d.events.contains(&Event::ServerDown { server: 0 }), "{:?}", d.events);
    assert!(d.events.contains(&Event::ServerDown { server: 1 }), "{:?}", d.events);
    r.restart();
    let up = |evs: &[Event]| {
        evs.contains(&Event::ServerUp { server: 0 }) && evs.contains(&Event::ServerUp { server: 1 })
    };
    d.run(Duration::from_secs(10), up);
    assert!(up(&d.events), "{:?} {:?}", d.events, d.dropped);
    let Reply::AccessAccept(_) = d.request(AccessRequest::pap("alice", "alicepass")) else { panic!() };
    let h =
        d.client.account(Instant::now(), AccountingRequest::new(AcctStatusType::START, "revived")).unwrap();
    assert_eq!(d.wait(h), Reply::AccountingResponse);
}

/// Requests per second against the lab radiusd on loopback with N outstanding (PAP,
/// distinct users' requests, each answered and verified). Prints the figures.
#[test]
#[ignore = "interop: needs freeradius; run by .ci/run with --ignored"]
fn interop_loopback_throughput() {
    let r = Radiusd::start(18227, 18237);
    for window in [1usize, 16, 64, 128, 256] {
        let mut cfg = fast_config(vec![server(r.auth, SECRET, ServerRole::Authentication, false)]);
        cfg.retransmit.initial = Duration::from_secs(2);
        cfg.retransmit.max_duration = Duration::from_secs(5);
        cfg.request_timeout = Duration::from_secs(10);
        let mut d = Driver::new(cfg);
        let total = 20_000usize;
        let mut started = 0usize;
        let mut done = 0usize;
        let mut inflight: HashMap<RequestHandle, ()> = HashMap::new();
        let t0 = Instant::now();
        while done < total && t0.elapsed() < Duration::from_secs(30) {
            while inflight.len() < window && started < total {
                let h =
                    d.client.authenticate(Instant::now(), AccessRequest::pap("alice", "alicepass")).unwrap();
                inflight.insert(h, ());
                started += 1;
            }
            d.run(Duration::from_millis(50), |evs| !evs.is_empty());
            for e in d.events.drain(..) {
                match e {
                    Event::Reply { handle, reply: Reply::AccessAccept(_), .. } => {
                        inflight.remove(&handle);
                        done += 1;
                    }
                    Event::Reply { .. } | Event::Timeout { .. } | Event::Failed { .. } => panic!("{e:?}"),
                    _ => {}
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(done, total, "all requests answered");
        println!(
            "radius loopback: {window:>3} outstanding: {:>8.0} Access-Request/s ({done} PAP requests in {secs:.2} s, {} datagrams sent)",
            done as f64 / secs,
            d.sent
        );
    }
}

//! Virtual-clock pair tests: an l2sec peer and an l2sec authenticator wired back to back
//! through a link that can lose, duplicate and delay frames. No sleeping, no sockets.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use l2sec_ppp::fsm::State;
use l2sec_ppp::secrets::ChapSecrets;
use l2sec_ppp::wire::{self, Frame, Packet, protocol};
use l2sec_ppp::{
    AuthFailure, AuthMethod, AuthVerdict, Config, Datagram, Event, PeerCredentials, Phase, Session,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const SECRETS: &str = "alice * alicepass *\nmsuser * mspass 192.0.2.77\n";

struct Side {
    s: Session<ChaCha20Rng>,
    events: Vec<(Instant, Event)>,
    /// Every frame this side sent, with its time.
    sent: Vec<(Instant, Vec<u8>)>,
}

struct Pair {
    t0: Instant,
    now: Instant,
    peer: Side,
    auth: Side,
    /// In flight: (delivery time, to the authenticator?, frame).
    wire: Vec<(Instant, bool, Vec<u8>)>,
    link: ChaCha20Rng,
    loss: f64,
    dup: f64,
    latency: Duration,
    /// Drop everything the peer sends from this time on.
    peer_silent_after: Option<Instant>,
    /// Drop everything the authenticator sends from this time on.
    auth_silent_after: Option<Instant>,
    secrets: ChapSecrets,
    /// Rejections the owner gives before consulting the secrets (one per decision).
    rejections: Vec<l2sec_ppp::Rejection>,
    delivered: [u64; 2],
    /// Last scheduled delivery per direction: the link keeps frames in order.
    last: [Instant; 2],
}

fn chance(r: &mut ChaCha20Rng, p: f64) -> bool {
    (r.next_u32() as f64) < p * f64::from(u32::MAX)
}

impl Pair {
    fn new(peer_cfg: Config, auth_cfg: Config, seed: u64) -> Pair {
        let t0 = Instant::now();
        let mk = |c: Config, s: u64| Side {
            s: Session::new(c, ChaCha20Rng::seed_from_u64(s)),
            events: Vec::new(),
            sent: Vec::new(),
        };
        Pair {
            t0,
            now: t0,
            peer: mk(peer_cfg, seed * 3 + 1),
            auth: mk(auth_cfg, seed * 3 + 2),
            wire: Vec::new(),
            link: ChaCha20Rng::seed_from_u64(seed * 3 + 3),
            loss: 0.0,
            dup: 0.0,
            latency: Duration::from_millis(20),
            peer_silent_after: None,
            auth_silent_after: None,
            secrets: ChapSecrets::parse(SECRETS).unwrap(),
            rejections: Vec::new(),
            delivered: [0; 2],
            last: [t0; 2],
        }
    }

    fn open(&mut self) {
        self.auth.s.open(self.now);
        self.peer.s.open(self.now);
    }

    /// Drains transmits and events of both sides; the authenticator's decisions come from
    /// the local chap-secrets verifier.
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            for to_auth in [true, false] {
                let now = self.now;
                let side = if to_auth { &mut self.peer } else { &mut self.auth };
                let mut buf = Vec::new();
                while let Some(t) = side.s.poll_transmit(now, &mut buf) {
                    assert_eq!(t.len, buf.len());
                    side.sent.push((now, buf.clone()));
                    progressed = true;
                    let silent = if to_auth { self.peer_silent_after } else { self.auth_silent_after };
                    if silent.is_some_and(|t| now >= t) || chance(&mut self.link, self.loss) {
                        buf.clear();
                        continue;
                    }
                    let jitter = Duration::from_millis(u64::from(self.link.next_u32() % 5));
                    let at = (now + self.latency + jitter).max(self.last[usize::from(to_auth)]);
                    self.last[usize::from(to_auth)] = at;
                    self.wire.push((at, to_auth, buf.clone()));
                    if chance(&mut self.link, self.dup) {
                        self.wire.push((now + self.latency * 2, to_auth, buf.clone()));
                    }
                    buf.clear();
                }
            }
            while let Some(e) = self.auth.s.poll_event() {
                progressed = true;
                if let Event::Authenticate(req) = &e {
                    let v = if self.rejections.is_empty() {
                        self.secrets.verify("l2sec", req)
                    } else {
                        AuthVerdict::Reject(self.rejections.remove(0))
                    };
                    self.auth.s.answer_auth(self.now, req.id, v).unwrap();
                }
                self.auth.events.push((self.now, e));
            }
            while let Some(e) = self.peer.s.poll_event() {
                progressed = true;
                self.peer.events.push((self.now, e));
            }
            if !progressed {
                break;
            }
        }
    }

    /// Advances the virtual clock to the next delivery or timer, up to `until`.
    fn step(&mut self, until: Instant) -> bool {
        self.drain();
        let next_wire = self.wire.iter().map(|w| w.0).min();
        let next =
            [next_wire, self.peer.s.poll_timeout(), self.auth.s.poll_timeout()].into_iter().flatten().min();
        let Some(next) = next.filter(|&n| n <= until) else {
            self.now = until;
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        let mut due: Vec<_> = Vec::new();
        self.wire.retain(|w| {
            if w.0 <= now {
                due.push(w.clone());
                false
            } else {
                true
            }
        });
        due.sort_by_key(|w| w.0);
        for (_, to_auth, frame) in due {
            let side = if to_auth { &mut self.auth } else { &mut self.peer };
            self.delivered[usize::from(to_auth)] += 1;
            side.s.handle_input(now, &frame).expect("well-formed frames from l2sec");
        }
        self.peer.s.handle_timeout(now);
        self.auth.s.handle_timeout(now);
        true
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step(until) {}
        self.drain();
    }

    fn run_until(&mut self, d: Duration, mut cond: impl FnMut(&Pair) -> bool) -> bool {
        let until = self.now + d;
        loop {
            if cond(self) {
                return true;
            }
            if !self.step(until) {
                self.drain();
                return cond(self);
            }
        }
    }

    fn both_ipv4_up(&self) -> bool {
        self.peer.s.ipcp_state() == State::Opened && self.auth.s.ipcp_state() == State::Opened
    }
}

impl Pair {
    fn transcript(&self) -> String {
        let mut all: Vec<_> = self
            .peer
            .sent
            .iter()
            .map(|(t, f)| (*t, "peer->auth", f))
            .chain(self.auth.sent.iter().map(|(t, f)| (*t, "auth->peer", f)))
            .collect();
        all.sort_by_key(|x| x.0);
        all.iter()
            .map(|(t, d, f)| format!("{:>8.3} {d} {}", (*t - self.t0).as_secs_f64(), hex::encode(f)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn has(events: &[(Instant, Event)], f: impl Fn(&Event) -> bool) -> bool {
    events.iter().any(|(_, e)| f(e))
}

fn auth_config(methods: Vec<AuthMethod>) -> Config {
    let mut c = Config::authenticator("l2sec");
    c.auth_methods = methods;
    c.ipcp.local = Some(Ipv4Addr::new(192, 0, 2, 1));
    c.ipcp.peer = Some(Ipv4Addr::new(192, 0, 2, 10));
    c.ipcp.dns = [Some(Ipv4Addr::new(192, 0, 2, 53)), Some(Ipv4Addr::new(192, 0, 2, 54))];
    c
}

fn peer_config(user: &str, pass: &str) -> Config {
    Config::peer(PeerCredentials::new(user, pass))
}

fn negotiate(method: AuthMethod, user: &str, pass: &str, seed: u64) -> Pair {
    let mut pc = peer_config(user, pass);
    pc.auth_methods.push(AuthMethod::MsChapV1);
    let mut p = Pair::new(pc, auth_config(vec![method]), seed);
    p.open();
    assert!(p.run_until(Duration::from_secs(5), Pair::both_ipv4_up), "{method:?} did not converge");
    p.drain();
    p
}

#[test]
fn every_method_reaches_network_phase_with_address_and_dns() {
    for method in [AuthMethod::Pap, AuthMethod::ChapMd5, AuthMethod::MsChapV1, AuthMethod::MsChapV2] {
        let p = negotiate(method, "alice", "alicepass", 1);
        if method == AuthMethod::MsChapV1 {
            // MS-CHAPv1 is not in a peer's default list: it must be enabled explicitly.
            assert!(p.peer.s.ipv4().is_some());
        }
        assert_eq!(p.peer.s.phase(), Phase::Network);
        assert_eq!(p.auth.s.phase(), Phase::Network);
        let v4 = p.peer.s.ipv4().unwrap();
        assert_eq!(v4.local, Ipv4Addr::new(192, 0, 2, 10), "{method:?}");
        assert_eq!(v4.peer, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(v4.dns, [Some(Ipv4Addr::new(192, 0, 2, 53)), Some(Ipv4Addr::new(192, 0, 2, 54))]);
        let a4 = p.auth.s.ipv4().unwrap();
        assert_eq!((a4.local, a4.peer), (v4.peer, v4.local));
        let m = |e: &Event| matches!(e, Event::Authenticated(a) if a.method == method);
        assert!(has(&p.auth.events, m) && has(&p.peer.events, m), "{method:?}");
        // Order of the phases on the peer: LinkUp, then Authenticated, then Ipv4Up.
        let pos = |f: &dyn Fn(&Event) -> bool| p.peer.events.iter().position(|(_, e)| f(e)).unwrap();
        assert!(pos(&|e| matches!(e, Event::LinkUp)) < pos(&m));
        assert!(pos(&m) < pos(&|e| matches!(e, Event::Ipv4Up(_))));
    }
}

#[test]
fn mschapv2_mutual_auth_mppe_keys_and_radius_address() {
    let p = negotiate(AuthMethod::MsChapV2, "msuser", "mspass", 2);
    let key = |events: &[(Instant, Event)]| {
        events
            .iter()
            .find_map(|(_, e)| match e {
                Event::Authenticated(a) => a.mppe.clone(),
                _ => None,
            })
            .expect("MPPE keys")
    };
    let (pk, ak) = (key(&p.peer.events), key(&p.auth.events));
    assert_eq!(pk.send, ak.recv);
    assert_eq!(pk.recv, ak.send);
    assert_ne!(pk.send, pk.recv);
    // The secrets line for msuser names 192.0.2.77: the verdict's address wins.
    assert_eq!(p.peer.s.ipv4().unwrap().local, Ipv4Addr::new(192, 0, 2, 77));
}

#[test]
fn datagrams_flow_only_once_ipcp_is_opened() {
    let mut p = Pair::new(peer_config("alice", "alicepass"), auth_config(vec![AuthMethod::ChapMd5]), 3);
    let ip = [0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 10, 192, 0, 2, 1];
    let mut buf = Vec::new();
    assert!(p.peer.s.encode_datagram(Datagram::Ipv4(&ip), &mut buf).is_err());
    p.open();
    // An IPv4 frame arriving during LCP negotiation is discarded, not returned.
    let mut early = vec![0xff, 0x03, 0x00, 0x21];
    early.extend_from_slice(&ip);
    assert_eq!(p.auth.s.handle_input(p.now, &early).unwrap(), None);
    assert!(p.run_until(Duration::from_secs(5), Pair::both_ipv4_up));
    let t = p.peer.s.encode_datagram(Datagram::Ipv4(&ip), &mut buf).unwrap();
    assert_eq!(t.len, buf.len());
    assert_eq!(p.auth.s.handle_input(p.now, &buf).unwrap(), Some(Datagram::Ipv4(&ip[..])));
    // IPv6 was not negotiated: refused on send, discarded on receipt.
    assert!(p.peer.s.encode_datagram(Datagram::Ipv6(&ip), &mut Vec::new()).is_err());
    assert_eq!(p.auth.s.handle_input(p.now, &[0xff, 0x03, 0x00, 0x57, 0x60]).unwrap(), None);
    let big = vec![0u8; 1501];
    assert!(p.peer.s.encode_datagram(Datagram::Ipv4(&big), &mut Vec::new()).is_err());
}

#[test]
fn ipv6cp_interface_identifiers() {
    let mut pc = peer_config("alice", "alicepass");
    pc.ipv6cp = true;
    let mut ac = auth_config(vec![AuthMethod::ChapMd5]);
    ac.ipv6cp = true;
    let mut p = Pair::new(pc, ac, 4);
    p.open();
    assert!(p.run_until(Duration::from_secs(5), |p| p.peer.s.ipv6().is_some() && p.auth.s.ipv6().is_some()));
    let (a, b) = (p.peer.s.ipv6().unwrap(), p.auth.s.ipv6().unwrap());
    assert_eq!((a.local, a.peer), (b.peer, b.local));
    assert_ne!(a.local, a.peer);
    assert_ne!(a.local, [0; 8]);
    assert_eq!(a.local_link_local().segments()[0], 0xfe80);
}

#[test]
fn converges_through_loss_and_duplication() {
    for seed in 0..64 {
        let mut p =
            Pair::new(peer_config("msuser", "mspass"), auth_config(vec![AuthMethod::MsChapV2]), 100 + seed);
        p.loss = 0.25;
        p.dup = 0.25;
        p.open();
        assert!(
            p.run_until(Duration::from_secs(60), Pair::both_ipv4_up),
            "seed {seed}: peer {:?} auth {:?}\n{}",
            p.peer.s,
            p.auth.s,
            p.transcript()
        );
        // Duplicates and retransmissions never produce a second authentication decision
        // for one LCP negotiation (a renegotiated LCP authenticates again, RFC 1661 §3.5).
        let count = |f: fn(&Event) -> bool| p.auth.events.iter().filter(|(_, e)| f(e)).count();
        let n = count(|e| matches!(e, Event::Authenticated(_)));
        let ups = count(|e| matches!(e, Event::LinkUp));
        assert!(n >= 1 && n <= ups, "seed {seed}: {n} authentications for {ups} LinkUp");
        assert!(!has(&p.auth.events, |e| matches!(e, Event::AuthFailed(_))), "seed {seed}");
    }
}

fn lcp_codes(sent: &[(Instant, Vec<u8>)], code: u8) -> Vec<Instant> {
    sent.iter()
        .filter(|(_, f)| {
            let fr = Frame::parse(f).unwrap();
            fr.protocol == protocol::LCP && Packet::parse(fr.information).unwrap().code == code
        })
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn silent_peer_restart_timer_and_max_configure() {
    // RFC 1661 §4.6: Configure-Request every Restart period, Max-Configure of them, then
    // TO- (tlf) one period after the last: Finished at 10 × 3 s.
    let mut p = Pair::new(peer_config("alice", "alicepass"), auth_config(vec![AuthMethod::Pap]), 5);
    p.peer_silent_after = Some(p.t0);
    p.auth_silent_after = Some(p.t0);
    p.open();
    p.run_for(Duration::from_secs(60));
    let reqs = lcp_codes(&p.auth.sent, wire::code::CONFIGURE_REQUEST);
    assert_eq!(reqs.len(), 10);
    for (i, t) in reqs.iter().enumerate() {
        assert_eq!(*t - p.t0, Duration::from_secs(3 * i as u64));
    }
    let fin = p.auth.events.iter().find(|(_, e)| matches!(e, Event::Finished)).expect("Finished");
    assert_eq!(fin.0 - p.t0, Duration::from_secs(30));
    assert_eq!(p.auth.s.lcp_state(), State::Stopped);
    assert_eq!(p.auth.s.poll_timeout(), None);
}

#[test]
fn echo_failure_detects_silent_peer_then_terminates() {
    let mut pc = peer_config("alice", "alicepass");
    pc.echo_interval = None;
    let mut ac = auth_config(vec![AuthMethod::ChapMd5]);
    ac.echo_interval = Some(Duration::from_secs(10));
    ac.echo_failure = 3;
    let mut p = Pair::new(pc, ac, 6);
    p.open();
    assert!(p.run_until(Duration::from_secs(5), Pair::both_ipv4_up));
    // Healthy link: echoes are answered.
    p.run_for(Duration::from_secs(35));
    assert!(p.auth.s.stats().echo_replies_received >= 3);
    assert!(!has(&p.auth.events, |e| matches!(e, Event::EchoTimeout)));
    // The peer goes silent.
    let silent = p.now;
    p.peer_silent_after = Some(silent);
    p.run_for(Duration::from_secs(80));
    let (t, _) = p.auth.events.iter().find(|(_, e)| matches!(e, Event::EchoTimeout)).expect("echo timeout");
    // Three unanswered requests, detected at the fourth tick: between 30 and 40 s.
    let waited = *t - silent;
    assert!(waited > Duration::from_secs(30) && waited <= Duration::from_secs(40), "{waited:?}");
    // Then Terminate-Request × Max-Terminate (2) at 3 s intervals, then Finished.
    let terms: Vec<_> =
        lcp_codes(&p.auth.sent, wire::code::TERMINATE_REQUEST).into_iter().filter(|x| *x >= *t).collect();
    assert_eq!(terms.len(), 2);
    assert_eq!(terms[1] - terms[0], Duration::from_secs(3));
    let fin = p.auth.events.iter().find(|(_, e)| matches!(e, Event::Finished)).expect("Finished");
    assert_eq!(fin.0 - terms[0], Duration::from_secs(6));
    assert!(has(&p.auth.events, |e| matches!(e, Event::Ipv4Down)));
}

#[test]
fn orderly_terminate_both_sides_finish() {
    let mut p = negotiate(AuthMethod::MsChapV2, "msuser", "mspass", 7);
    p.peer.s.close(p.now, "User request");
    p.run_for(Duration::from_secs(10));
    for side in [&p.peer, &p.auth] {
        assert!(has(&side.events, |e| matches!(e, Event::Ipv4Down)));
        assert!(has(&side.events, |e| matches!(e, Event::LinkDown)));
        assert!(has(&side.events, |e| matches!(e, Event::Finished)));
    }
    assert_eq!(p.peer.s.lcp_state(), State::Closed);
    assert_eq!(p.auth.s.lcp_state(), State::Stopped);
    // Terminate-Request with our reason, answered by a Terminate-Ack.
    let tr = lcp_codes(&p.peer.sent, wire::code::TERMINATE_REQUEST);
    assert_eq!(tr.len(), 1);
    assert_eq!(lcp_codes(&p.auth.sent, wire::code::TERMINATE_ACK).len(), 1);
}

#[test]
fn wrong_password_fails_on_both_sides() {
    for method in [AuthMethod::Pap, AuthMethod::ChapMd5, AuthMethod::MsChapV2] {
        let mut p = Pair::new(peer_config("alice", "wrong"), auth_config(vec![method]), 8);
        p.open();
        p.run_for(Duration::from_secs(20));
        assert!(has(&p.auth.events, |e| matches!(e, Event::AuthFailed(AuthFailure::Rejected { .. }))));
        assert!(has(&p.peer.events, |e| matches!(e, Event::AuthFailed(AuthFailure::Refused { .. }))));
        if method == AuthMethod::MsChapV2 {
            assert!(has(&p.peer.events, |e| matches!(
                e,
                Event::AuthFailed(AuthFailure::Refused { mschap_error: Some(691), .. })
            )));
        }
        assert!(has(&p.auth.events, |e| matches!(e, Event::Finished)), "{method:?}");
        assert!(has(&p.peer.events, |e| matches!(e, Event::Finished)), "{method:?}");
        assert_ne!(p.peer.s.ipcp_state(), State::Opened);
    }
}

#[test]
fn peer_refusing_pap_gets_nak_toward_chap() {
    // The authenticator prefers PAP but also offers CHAP-MD5; the peer only accepts CHAP.
    let mut pc = peer_config("alice", "alicepass");
    pc.auth_methods = vec![AuthMethod::ChapMd5];
    let mut p = Pair::new(pc, auth_config(vec![AuthMethod::Pap, AuthMethod::ChapMd5]), 9);
    p.open();
    assert!(p.run_until(Duration::from_secs(5), Pair::both_ipv4_up));
    assert!(has(&p.auth.events, |e| matches!(e, Event::Authenticated(a) if a.method == AuthMethod::ChapMd5)));
    // No common method at all: the authenticator gives up.
    let mut pc = peer_config("alice", "alicepass");
    pc.auth_methods = vec![AuthMethod::Pap];
    let mut p = Pair::new(pc, auth_config(vec![AuthMethod::MsChapV2]), 10);
    p.open();
    p.run_for(Duration::from_secs(20));
    assert!(has(&p.auth.events, |e| matches!(e, Event::AuthFailed(AuthFailure::NoCommonMethod))));
    assert!(has(&p.auth.events, |e| matches!(e, Event::Finished)));
}

#[test]
fn mschapv2_bad_authenticator_response_drops_link() {
    // An authenticator that accepts without knowing the password (wrong S=): the peer
    // must refuse it (RFC 2759 §5).
    let mut p = Pair::new(peer_config("msuser", "mspass"), auth_config(vec![AuthMethod::MsChapV2]), 11);
    p.open();
    let until = p.now + Duration::from_secs(5);
    loop {
        p.drain_peer_only();
        let mut answered = false;
        while let Some(e) = p.auth.s.poll_event() {
            if let Event::Authenticate(req) = &e {
                let v = AuthVerdict::Accept(l2sec_ppp::Acceptance {
                    authenticator_response: Some([0x11; 20]),
                    ..Default::default()
                });
                p.auth.s.answer_auth(p.now, req.id, v).unwrap();
                answered = true;
            }
            p.auth.events.push((p.now, e));
        }
        if !p.step(until) && !answered {
            break;
        }
    }
    assert!(has(&p.peer.events, |e| matches!(e, Event::AuthFailed(AuthFailure::BadAuthenticatorResponse))));
    assert_ne!(p.peer.s.ipcp_state(), State::Opened);
}

impl Pair {
    /// Drains only the transmit queues (events of the authenticator stay for the test).
    fn drain_peer_only(&mut self) {
        for to_auth in [true, false] {
            let now = self.now;
            let side = if to_auth { &mut self.peer } else { &mut self.auth };
            let mut buf = Vec::new();
            while side.s.poll_transmit(now, &mut buf).is_some() {
                self.wire.push((now + self.latency, to_auth, buf.clone()));
                buf.clear();
            }
        }
        while let Some(e) = self.peer.s.poll_event() {
            self.peer.events.push((self.now, e));
        }
    }
}

#[test]
fn looped_back_link_is_detected() {
    // A session talking to itself sees its own Magic-Number in every request.
    let mut s = Session::new(auth_config(vec![AuthMethod::Pap]), ChaCha20Rng::seed_from_u64(12));
    let mut now = Instant::now();
    s.open(now);
    let mut looped = false;
    for _ in 0..200 {
        let mut buf = Vec::new();
        let mut frames = Vec::new();
        while s.poll_transmit(now, &mut buf).is_some() {
            frames.push(std::mem::take(&mut buf));
        }
        for f in frames {
            let _ = s.handle_input(now, &f);
        }
        while let Some(e) = s.poll_event() {
            looped |= matches!(e, Event::LoopbackDetected);
        }
        if looped {
            break;
        }
        now += Duration::from_secs(1);
        s.handle_timeout(now);
    }
    assert!(looped);
}

#[test]
fn malformed_frames_change_nothing() {
    let mut p = negotiate(AuthMethod::ChapMd5, "alice", "alicepass", 13);
    let before = format!("{:?}", p.auth.s);
    for bad in [
        &[][..],
        &[0xff, 0x03],
        &[0xc0],
        &[0xc0, 0x20, 1, 1, 0, 4],
        &[0xc0, 0x21, 1, 1, 0, 9, 1],
        &[0xc0, 0x21, 1],
        &[0x80, 0x21, 1, 1, 0, 3],
        &[0xc2, 0x23, 2, 1, 0, 2],
    ] {
        assert!(p.auth.s.handle_input(p.now, bad).is_err(), "{bad:?}");
    }
    // A Configure-Request whose option overruns the packet is discarded silently.
    assert!(p.auth.s.handle_input(p.now, &[0xc0, 0x21, 1, 9, 0, 7, 1, 9, 5]).is_ok());
    p.drain();
    assert_eq!(format!("{:?}", p.auth.s), before);
    assert!(p.both_ipv4_up());
}

#[test]
fn unknown_protocol_gets_protocol_reject_and_unknown_code_gets_code_reject() {
    let mut p = negotiate(AuthMethod::Pap, "alice", "alicepass", 14);
    let n = p.auth.sent.len();
    // CCP (which pppd sends) is not implemented here: Protocol-Reject.
    p.auth.s.handle_input(p.now, &[0xff, 0x03, 0x80, 0xfd, 1, 1, 0, 4]).unwrap();
    // LCP code 99: Code-Reject carrying the packet.
    p.auth.s.handle_input(p.now, &[0xff, 0x03, 0xc0, 0x21, 99, 5, 0, 5, 0xaa]).unwrap();
    p.drain();
    let new: Vec<_> = p.auth.sent[n..].iter().map(|(_, f)| f.clone()).collect();
    let lcp: Vec<_> = new
        .iter()
        .map(|f| Frame::parse(f).unwrap())
        .filter(|f| f.protocol == protocol::LCP)
        .map(|f| Packet::parse(f.information).unwrap())
        .collect();
    assert!(lcp.iter().any(|p| p.code == wire::code::PROTOCOL_REJECT && p.data == [0x80, 0xfd, 1, 1, 0, 4]));
    assert!(lcp.iter().any(|p| p.code == wire::code::CODE_REJECT && p.data == [99, 5, 0, 5, 0xaa]));
    assert!(p.both_ipv4_up());
}

#[test]
fn mschapv2_retry_after_transient_rejection() {
    // The owner (e.g. a RADIUS timeout) rejects the first attempt but allows a retry
    // (R=1): the peer answers the new challenge with identifier + 1 and gets in.
    let mut p = Pair::new(peer_config("msuser", "mspass"), auth_config(vec![AuthMethod::MsChapV2]), 15);
    p.rejections.push(l2sec_ppp::Rejection {
        message: "try again".into(),
        retry: true,
        ..Default::default()
    });
    p.open();
    assert!(p.run_until(Duration::from_secs(10), Pair::both_ipv4_up));
    let asked = p.auth.events.iter().filter(|(_, e)| matches!(e, Event::Authenticate(_))).count();
    assert_eq!(asked, 2);
    // The second request carried the new challenge from the Failure message.
    let challenges: Vec<_> = p
        .auth
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Authenticate(r) => match &r.credentials {
                l2sec_ppp::Credentials::MsChapV2 { authenticator_challenge, .. } => {
                    Some(*authenticator_challenge)
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_ne!(challenges[0], challenges[1]);
    assert!(!has(&p.peer.events, |e| matches!(e, Event::AuthFailed(_))));
}

#[test]
fn mschapv2_error_codes_reach_the_peer() {
    // Password expired (648), no retry offered: the peer reports the code and hangs up.
    let mut p = Pair::new(peer_config("msuser", "mspass"), auth_config(vec![AuthMethod::MsChapV2]), 16);
    p.rejections.push(l2sec_ppp::Rejection {
        message: "expired".into(),
        mschap_error: Some(wire::mschap_error::PASSWD_EXPIRED),
        retry: false,
    });
    p.open();
    p.run_for(Duration::from_secs(15));
    assert!(has(&p.peer.events, |e| matches!(
        e,
        Event::AuthFailed(AuthFailure::Refused { mschap_error: Some(648), retry: false, message })
            if message == "expired"
    )));
    assert!(has(&p.peer.events, |e| matches!(e, Event::Finished)));
    // Retries exhausted: a second R=1 is not offered (mschap_retries = 1 by default).
    let mut p = Pair::new(peer_config("msuser", "mspass"), auth_config(vec![AuthMethod::MsChapV2]), 17);
    for _ in 0..2 {
        p.rejections.push(l2sec_ppp::Rejection { retry: true, ..Default::default() });
    }
    p.open();
    p.run_for(Duration::from_secs(15));
    assert!(has(&p.peer.events, |e| matches!(
        e,
        Event::AuthFailed(AuthFailure::Refused { mschap_error: Some(691), retry: false, .. })
    )));
}

#[test]
fn oversized_owner_text_is_bounded() {
    // A 100 kB rejection message and close reason must not overflow a packet's Length.
    let mut p = Pair::new(peer_config("msuser", "mspass"), auth_config(vec![AuthMethod::MsChapV2]), 18);
    p.rejections.push(l2sec_ppp::Rejection { message: "x".repeat(100_000), ..Default::default() });
    p.open();
    p.run_for(Duration::from_secs(15));
    assert!(has(&p.peer.events, |e| matches!(e, Event::AuthFailed(_))));
    let longest = p.auth.sent.iter().map(|(_, f)| f.len()).max().unwrap();
    assert!(longest < 400, "{longest}");
    let mut p = negotiate(AuthMethod::Pap, "alice", "alicepass", 19);
    p.peer.s.close(p.now, &"y".repeat(70_000));
    p.run_for(Duration::from_secs(10));
    assert!(has(&p.auth.events, |e| matches!(e, Event::Finished)));
}

#[test]
fn datagram_header_matches_encode_datagram() {
    let p = negotiate(AuthMethod::ChapMd5, "alice", "alicepass", 20);
    let ip = [0x45u8; 40];
    let mut whole = Vec::new();
    p.peer.s.encode_datagram(Datagram::Ipv4(&ip), &mut whole).unwrap();
    let mut head = Vec::new();
    assert_eq!(p.peer.s.datagram_header(Datagram::Ipv4(&ip), &mut head).unwrap(), protocol::IPV4);
    head.extend_from_slice(&ip);
    assert_eq!(head, whole);
    assert_eq!(&whole[..4], &[0xff, 0x03, 0x00, 0x21]);
}

#[test]
fn ipv6cp_protocol_rejected_by_peer_leaves_ipv4_up() {
    // The authenticator runs IPV6CP, the peer does not (pppd's noipv6): the peer answers
    // with Protocol-Reject, IPV6CP stops, IPv4 carries on.
    let mut ac = auth_config(vec![AuthMethod::ChapMd5]);
    ac.ipv6cp = true;
    let mut p = Pair::new(peer_config("alice", "alicepass"), ac, 21);
    p.open();
    assert!(p.run_until(Duration::from_secs(5), Pair::both_ipv4_up));
    p.run_for(Duration::from_secs(5));
    assert!(has(&p.auth.events, |e| matches!(e, Event::ProtocolRejected(protocol::IPV6CP))));
    assert_eq!(p.auth.s.ipv6cp_state(), State::Stopped);
    assert!(p.both_ipv4_up());
    assert_eq!(p.peer.s.stats().protocol_rejects_sent, 1);
}

#[test]
fn last_ncp_rejected_closes_the_link() {
    let mut p = negotiate(AuthMethod::Pap, "alice", "alicepass", 22);
    // The peer Protocol-Rejects IPCP (RFC 1661 §5.7): IPCP goes down and, with no network
    // protocol left, the authenticator closes LCP.
    let mut f = vec![0xff, 0x03, 0xc0, 0x21];
    wire::encode_packet(wire::code::PROTOCOL_REJECT, 77, &[&[0x80, 0x21], &[1, 1, 0, 4]], &mut f);
    p.auth.s.handle_input(p.now, &f).unwrap();
    p.run_for(Duration::from_secs(20));
    assert!(has(&p.auth.events, |e| matches!(e, Event::Ipv4Down)));
    assert!(has(&p.auth.events, |e| matches!(e, Event::Finished)));
    let reasons: Vec<_> = p
        .auth
        .sent
        .iter()
        .filter_map(|(_, f)| {
            let fr = Frame::parse(f).ok()?;
            let pk = Packet::parse(fr.information).ok()?;
            (fr.protocol == protocol::LCP && pk.code == wire::code::TERMINATE_REQUEST)
                .then(|| pk.data.to_vec())
        })
        .collect();
    assert!(reasons.iter().any(|r| r == b"No network protocols running"), "{reasons:?}");
}

#[test]
fn ipcp_restart_counter_then_link_closes() {
    // The peer goes silent once authenticated: the authenticator's IPCP sends Max-Configure
    // (10) Configure-Requests one Restart period (3 s) apart, TO- one period after the last
    // (RFC 1661 §4.6), then LCP closes: Max-Terminate (2) Terminate-Requests, Finished.
    let mut ac = auth_config(vec![AuthMethod::Pap]);
    ac.echo_interval = None;
    let mut p = Pair::new(peer_config("alice", "alicepass"), ac, 23);
    p.open();
    assert!(p.run_until(Duration::from_secs(5), |p| has(&p.auth.events, |e| matches!(
        e,
        Event::Authenticated(_)
    ))));
    let silent = p.now;
    p.peer_silent_after = Some(silent);
    p.run_for(Duration::from_secs(60));
    let ipcp_reqs: Vec<_> = p
        .auth
        .sent
        .iter()
        .filter(|(_, f)| {
            Frame::parse(f).is_ok_and(|fr| {
                fr.protocol == protocol::IPCP
                    && Packet::parse(fr.information).is_ok_and(|pk| pk.code == wire::code::CONFIGURE_REQUEST)
            })
        })
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(ipcp_reqs.len(), 10);
    for w in ipcp_reqs.windows(2) {
        assert_eq!(w[1] - w[0], Duration::from_secs(3));
    }
    let terms = lcp_codes(&p.auth.sent, wire::code::TERMINATE_REQUEST);
    assert_eq!(terms.len(), 2);
    assert_eq!(terms[0] - ipcp_reqs[9], Duration::from_secs(3));
    let fin = p.auth.events.iter().find(|(_, e)| matches!(e, Event::Finished)).unwrap().0;
    assert_eq!(fin - terms[0], Duration::from_secs(6));
    assert_eq!(p.auth.s.ipcp_state(), State::Initial);
}

#[test]
fn duplicate_request_in_opened_is_reacked_but_a_new_one_renegotiates() {
    let mut p = negotiate(AuthMethod::Pap, "alice", "alicepass", 24);
    // The last LCP Configure-Request the peer sent (and the authenticator acked).
    let last_req = p
        .peer
        .sent
        .iter()
        .rev()
        .map(|(_, f)| f.clone())
        .find(|f| {
            Frame::parse(f).is_ok_and(|fr| {
                fr.protocol == protocol::LCP
                    && Packet::parse(fr.information).is_ok_and(|pk| pk.code == wire::code::CONFIGURE_REQUEST)
            })
        })
        .unwrap();
    let downs = |p: &Pair| p.auth.events.iter().filter(|(_, e)| matches!(e, Event::LinkDown)).count();
    let acks_before = lcp_codes(&p.auth.sent, wire::code::CONFIGURE_ACK).len();
    // A stale copy (same identifier, same options): Ack again, stay Opened.
    p.auth.s.handle_input(p.now, &last_req).unwrap();
    p.drain();
    assert_eq!(lcp_codes(&p.auth.sent, wire::code::CONFIGURE_ACK).len(), acks_before + 1);
    assert_eq!(downs(&p), 0);
    assert!(p.both_ipv4_up());
    // The same options under a new identifier: RFC 1661 §4.1 RCR+ in Opened
    // (tld, scr, sca): the link renegotiates, and comes back up.
    let mut renewed = last_req.clone();
    renewed[5] = renewed[5].wrapping_add(100);
    p.auth.s.handle_input(p.now, &renewed).unwrap();
    p.drain();
    assert_eq!(downs(&p), 1);
    assert!(p.run_until(Duration::from_secs(10), Pair::both_ipv4_up));
}

#[test]
fn lower_layer_down_finishes_without_sending() {
    let mut p = negotiate(AuthMethod::ChapMd5, "alice", "alicepass", 25);
    let sent = p.auth.sent.len();
    p.auth.s.lower_down(p.now);
    p.drain();
    assert_eq!(p.auth.sent.len(), sent, "nothing to send on a dead lower layer");
    for want in [
        |e: &Event| matches!(e, Event::LinkDown),
        |e: &Event| matches!(e, Event::Ipv4Down),
        |e: &Event| matches!(e, Event::Finished),
    ] {
        assert!(has(&p.auth.events, want));
    }
    assert_eq!(p.auth.s.phase(), Phase::Dead);
    assert_eq!(p.auth.s.lcp_state(), State::Initial);
    assert_eq!(p.auth.s.poll_timeout(), None);
    let mut buf = Vec::new();
    assert!(p.auth.s.encode_datagram(Datagram::Ipv4(&[0x45; 20]), &mut buf).is_err());
}

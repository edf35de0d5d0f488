//! The LNS composition against in-process clients (an l2sec LAC with an l2sec PPP peer per
//! session), over a virtual clock: sessions come up with pool addresses, IP flows both
//! ways, spoofed sources are refused, and every way down returns the address.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use l2sec::lns::{Lns, LnsConfig, LnsError, LnsEvent};
use l2sec::pool::AddressPool;
use l2sec_l2tp::{self as l2tp, Input, SessionHandle};
use l2sec_ppp::secrets::ChapSecrets;
use l2sec_ppp::{self as ppp, AuthMethod, Datagram, PeerCredentials};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SECRETS: &str = "alice * alicepass *\nbob * bobpass *\n";

/// One LAC with its PPP peers; the LNS is peer 0 for it, and it is peer 1 for the LNS.
struct Lac {
    l2tp: l2tp::Endpoint<u8, ChaCha20Rng>,
    tunnel: l2tp::TunnelId,
    calls: Vec<(SessionHandle, ppp::Session<ChaCha20Rng>, Option<Ipv4Addr>)>,
}

struct World {
    now: Instant,
    lns: Lns<u8, ChaCha20Rng>,
    lac: Lac,
    users: ChapSecrets,
    events: Vec<String>,
    /// IP packets the LNS received: (session, source, destination).
    server_got: Vec<(SessionHandle, Ipv4Addr, Ipv4Addr)>,
}

fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

impl World {
    fn new(pool: &str, methods: Vec<AuthMethod>) -> Self {
        let mut ppp_cfg = ppp::Config::authenticator("l2sec");
        ppp_cfg.auth_methods = methods;
        ppp_cfg.ipcp.local = Some(SERVER);
        ppp_cfg.ipcp.dns = [Some(Ipv4Addr::new(192, 0, 2, 53)), None];
        let config = LnsConfig {
            l2tp: l2tp::Config::default(),
            ppp: ppp_cfg,
            pool: AddressPool::parse_cidr(pool).unwrap().unwrap(),
        };
        let now = Instant::now();
        let mut lac_l2tp = l2tp::Endpoint::new(l2tp::Config::default(), ChaCha20Rng::seed_from_u64(9));
        let tunnel = lac_l2tp.connect(now, 0u8).unwrap();
        World {
            now,
            lns: Lns::new(config, ChaCha20Rng::seed_from_u64(1)),
            lac: Lac { l2tp: lac_l2tp, tunnel, calls: Vec::new() },
            users: ChapSecrets::parse(SECRETS).unwrap(),
            events: Vec::new(),
            server_got: Vec::new(),
        }
    }

    fn call(&mut self, user: &str, password: &str) -> usize {
        let h = self.lac.l2tp.open_session(self.now, self.lac.tunnel).unwrap();
        let mut cfg = ppp::Config::peer(PeerCredentials::new(user, password));
        cfg.ipcp.request_dns = true;
        let idx = self.lac.calls.len() as u64;
        self.lac.calls.push((h, ppp::Session::new(cfg, ChaCha20Rng::seed_from_u64(100 + idx)), None));
        self.lac.calls.len() - 1
    }

    /// Moves every pending datagram both ways until nothing moves.
    fn pump(&mut self) {
        let mut buf = Vec::new();
        for _ in 0..200 {
            let mut moved = false;
            // LNS -> LAC, with the LAC's events handled after each datagram, as a real
            // LAC does: its PPP opens as soon as the L2TP session is up.
            while let Some(t) = self.lns.poll_transmit(self.now, &mut buf) {
                moved = true;
                let data = buf[buf.len() - t.size..].to_vec();
                buf.clear();
                let input = self.lac.l2tp.handle_input(self.now, 0, &data);
                while let Some(ev) = self.lac.l2tp.poll_event() {
                    if let l2tp::Event::SessionUp { session, .. } = ev
                        && let Some((_, s, _)) = self.lac.calls.iter_mut().find(|(h, ..)| *h == session)
                    {
                        s.open(self.now);
                    }
                }
                if let Ok(Input::Data { session, ppp: frame }) = input
                    && let Some((_, s, _)) = self.lac.calls.iter_mut().find(|(h, ..)| *h == session)
                {
                    let _ = s.handle_input(self.now, frame);
                }
            }
            // PPP peers -> LAC L2TP -> LNS
            let mut out = Vec::new();
            for (h, s, addr) in &mut self.lac.calls {
                while let Some(ev) = s.poll_event() {
                    if let ppp::Event::Ipv4Up(p) = ev {
                        *addr = Some(p.local);
                    }
                }
                let mut frame = Vec::new();
                while s.poll_transmit(self.now, &mut frame).is_some() {
                    out.push((*h, std::mem::take(&mut frame)));
                }
            }
            // Control messages (ICCN) before the PPP frames that follow them.
            let mut to_lns: Vec<Vec<u8>> = Vec::new();
            loop {
                buf.clear();
                let Some(t) = self.lac.l2tp.poll_transmit(self.now, &mut buf) else { break };
                to_lns.push(buf[buf.len() - t.size..].to_vec());
            }
            for (h, frame) in out {
                buf.clear();
                if let Ok(t) = self.lac.l2tp.encapsulate(h, &frame, &mut buf) {
                    to_lns.push(buf[buf.len() - t.size..].to_vec());
                }
            }
            buf.clear();
            for d in to_lns {
                moved = true;
                self.deliver_to_lns(&d);
            }
            self.drain_lns_events();
            if !moved {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    fn deliver_to_lns(&mut self, d: &[u8]) {
        match self.lns.handle_input(self.now, 1, d) {
            Ok(Some((session, Datagram::Ipv4(p)))) => {
                let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
                let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
                self.server_got.push((session, src, dst));
            }
            Ok(_) => {}
            Err(e) => self.events.push(format!("error {e}")),
        }
    }

    fn drain_lns_events(&mut self) {
        while let Some(ev) = self.lns.poll_event() {
            match ev {
                LnsEvent::Authenticate { session, request } => {
                    let verdict = self.users.verify("l2sec", &request);
                    self.lns.answer_auth(self.now, session, request.id, verdict).unwrap();
                }
                LnsEvent::SessionUp { username, address, .. } => {
                    self.events.push(format!("up {} {address}", String::from_utf8_lossy(&username)));
                }
                LnsEvent::SessionDown { address, .. } => self.events.push(format!("down {address:?}")),
                other => self.events.push(format!("{other:?}").split_whitespace().next().unwrap().to_owned()),
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.lns.handle_timeout(self.now);
        self.lac.l2tp.handle_timeout(self.now);
        for (_, s, _) in &mut self.lac.calls {
            s.handle_timeout(self.now);
        }
        self.pump();
    }

    /// The client of call `i` sends an IPv4 packet from `src` to `dst` into the tunnel.
    fn client_send(&mut self, i: usize, src: Ipv4Addr, dst: Ipv4Addr) {
        let packet = ipv4_packet(src, dst, b"ping");
        let (h, s, _) = &mut self.lac.calls[i];
        let mut frame = Vec::new();
        s.encode_datagram(Datagram::Ipv4(&packet), &mut frame).unwrap();
        let mut buf = Vec::new();
        let t = self.lac.l2tp.encapsulate(*h, &frame, &mut buf).unwrap();
        let d = buf[buf.len() - t.size..].to_vec();
        self.deliver_to_lns(&d);
    }

    fn client_address(&self, i: usize) -> Option<Ipv4Addr> {
        self.lac.calls[i].2
    }
}

#[test]
fn sessions_come_up_with_distinct_pool_addresses_and_carry_ip_both_ways() {
    let mut w = World::new("192.0.2.0/24", vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5]);
    let users = ["alice", "bob", "alice"];
    for u in users {
        w.call(u, &format!("{u}pass"));
    }
    w.pump();
    w.advance(Duration::from_millis(500));
    let ups: Vec<&String> = w.events.iter().filter(|e| e.starts_with("up ")).collect();
    assert_eq!(ups.len(), 3, "events: {:?}", w.events);
    let mut addrs: Vec<Ipv4Addr> =
        (0..3).map(|i| w.client_address(i).expect("client got an address")).collect();
    addrs.sort();
    assert_eq!(
        addrs,
        [Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(192, 0, 2, 3), Ipv4Addr::new(192, 0, 2, 4)]
    );
    assert_eq!(w.lns.addresses_in_use(), 3);

    // Client -> server: the LNS hands the packet up with its session.
    let a1 = w.client_address(1).unwrap();
    w.client_send(1, a1, SERVER);
    assert_eq!(w.server_got.len(), 1);
    assert_eq!((w.server_got[0].1, w.server_got[0].2), (a1, SERVER));

    // Server -> client: routed by destination address to the right session.
    let mut buf = Vec::new();
    let t = w.lns.send_ip(&ipv4_packet(SERVER, a1, b"pong"), &mut buf).unwrap();
    let d = buf[buf.len() - t.size..].to_vec();
    match w.lac.l2tp.handle_input(w.now, 0, &d).unwrap() {
        Input::Data { session, ppp: frame } => {
            assert_eq!(session, w.lac.calls[1].0);
            let got = w.lac.calls[1].1.handle_input(w.now, frame).unwrap();
            assert!(matches!(got, Some(Datagram::Ipv4(p)) if p[16..20] == a1.octets()));
        }
        Input::Control => panic!("expected data"),
    }
    assert!(matches!(
        w.lns.send_ip(&ipv4_packet(SERVER, Ipv4Addr::new(192, 0, 2, 200), b"x"), &mut buf),
        Err(LnsError::NoRoute(_))
    ));
}

#[test]
fn a_spoofed_source_is_refused() {
    let mut w = World::new("192.0.2.0/24", vec![AuthMethod::ChapMd5]);
    w.call("alice", "alicepass");
    w.pump();
    let a = w.client_address(0).unwrap();
    w.client_send(0, Ipv4Addr::new(198, 51, 100, 9), SERVER);
    assert!(w.server_got.is_empty());
    assert!(w.events.iter().any(|e| e.contains("198.51.100.9")), "{:?}", w.events);
    w.client_send(0, a, SERVER);
    assert_eq!(w.server_got.len(), 1);
}

#[test]
fn a_wrong_password_never_gets_an_address_for_long() {
    let mut w = World::new("192.0.2.0/24", vec![AuthMethod::MsChapV2]);
    w.call("alice", "wrong");
    w.pump();
    for _ in 0..20 {
        w.advance(Duration::from_secs(1));
    }
    assert!(!w.events.iter().any(|e| e.starts_with("up ")), "{:?}", w.events);
    assert_eq!(w.lns.addresses_in_use(), 0, "address returned after the failed session");
    assert_eq!(w.lns.session_count(), 0);
}

#[test]
fn hang_up_from_either_side_returns_the_address() {
    let mut w = World::new("192.0.2.0/24", vec![AuthMethod::Pap]);
    w.call("alice", "alicepass");
    w.call("bob", "bobpass");
    w.pump();
    assert_eq!(w.lns.addresses_in_use(), 2);
    // The client hangs up (LCP Terminate from the peer).
    w.lac.calls[0].1.close(w.now, "bye");
    w.pump();
    for _ in 0..5 {
        w.advance(Duration::from_secs(1));
    }
    assert_eq!(w.lns.addresses_in_use(), 1, "{:?}", w.events);
    // The server hangs up the other one.
    let session = w.lns_session_of(1);
    w.lns.close_session(w.now, session, "admin").unwrap();
    w.pump();
    for _ in 0..5 {
        w.advance(Duration::from_secs(1));
    }
    assert_eq!(w.lns.addresses_in_use(), 0, "{:?}", w.events);
    assert_eq!(w.events.iter().filter(|e| e.starts_with("down ")).count(), 2);
}

#[test]
fn an_exhausted_pool_refuses_the_session() {
    // A /30 has two hosts: the server's and one client's.
    let mut w = World::new("192.0.2.0/30", vec![AuthMethod::Pap]);
    w.call("alice", "alicepass");
    w.call("bob", "bobpass");
    w.pump();
    assert_eq!(w.events.iter().filter(|e| e.starts_with("up ")).count(), 1, "{:?}", w.events);
    assert!(w.events.iter().any(|e| e == "PoolExhausted"), "{:?}", w.events);
}

impl World {
    /// The LNS-side handle of the LAC's call `i`.
    fn lns_session_of(&mut self, i: usize) -> SessionHandle {
        let addr = self.client_address(i).unwrap();
        // The LNS names the session of every packet it hands up: send one.
        self.client_send(i, addr, SERVER);
        self.server_got.last().unwrap().0
    }
}

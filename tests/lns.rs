//! The LNS composition against in-process clients (an l2sec LAC with an l2sec PPP peer per
//! session), over a virtual clock: sessions come up with pool addresses, IP flows both
//! ways, spoofed sources are refused, and every way down returns the address.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{Lac, ipv4_packet, lns_config};
use l2sec::lns::{Lns, LnsError, LnsEvent};
use l2sec_l2tp::SessionHandle;
use l2sec_ppp::secrets::ChapSecrets;
use l2sec_ppp::{AuthMethod, Datagram};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

struct World {
    now: Instant,
    lns: Lns<u8, ChaCha20Rng>,
    lac: Lac,
    users: ChapSecrets,
    events: Vec<String>,
    /// IP packets the LNS handed up: (session, source, destination).
    server_got: Vec<(SessionHandle, Ipv4Addr, Ipv4Addr)>,
}

impl World {
    fn new(pool: &str, methods: Vec<AuthMethod>) -> Self {
        let now = Instant::now();
        World {
            now,
            lns: Lns::new(lns_config(pool, methods, SERVER), ChaCha20Rng::seed_from_u64(1)),
            lac: Lac::new(now, 9),
            users: ChapSecrets::parse("alice * alicepass *\nbob * bobpass *\n").unwrap(),
            events: Vec::new(),
            server_got: Vec::new(),
        }
    }

    /// Moves every pending datagram both ways until nothing moves.
    fn pump(&mut self) {
        let mut buf = Vec::new();
        for _ in 0..200 {
            let mut moved = false;
            while let Some(t) = self.lns.poll_transmit(self.now, &mut buf) {
                moved = true;
                let d = buf[buf.len() - t.size..].to_vec();
                buf.clear();
                self.lac.receive(self.now, &d);
            }
            for d in self.lac.outgoing(self.now) {
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
        self.lac.handle_timeout(self.now);
        self.pump();
    }

    /// Call `i` sends an IPv4 packet from `src` to `dst` into the tunnel.
    fn client_send(&mut self, i: usize, src: Ipv4Addr, dst: Ipv4Addr) {
        let d = self.lac.ip_datagram(i, &ipv4_packet(17, src, dst, b"ping"));
        self.deliver_to_lns(&d);
    }

    fn address(&self, i: usize) -> Option<Ipv4Addr> {
        self.lac.calls[i].address
    }

    /// The LNS-side handle of call `i`: the LNS names it on every packet it hands up.
    fn lns_session_of(&mut self, i: usize) -> SessionHandle {
        let a = self.address(i).unwrap();
        self.client_send(i, a, SERVER);
        self.server_got.last().unwrap().0
    }
}

#[test]
fn sessions_come_up_with_distinct_pool_addresses_and_carry_ip_both_ways() {
    let mut w = World::new("192.0.2.0/24", vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5]);
    for u in ["alice", "bob", "alice"] {
        w.lac.call(w.now, u, &format!("{u}pass"));
    }
    w.pump();
    let ups = w.events.iter().filter(|e| e.starts_with("up ")).count();
    assert_eq!(ups, 3, "events: {:?}", w.events);
    let mut addrs: Vec<Ipv4Addr> = (0..3).map(|i| w.address(i).expect("client got an address")).collect();
    addrs.sort();
    assert_eq!(
        addrs,
        [Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(192, 0, 2, 3), Ipv4Addr::new(192, 0, 2, 4)]
    );
    assert_eq!(w.lns.addresses_in_use(), 3);

    // Client -> server: the LNS hands the packet up with its session.
    let a1 = w.address(1).unwrap();
    w.client_send(1, a1, SERVER);
    assert_eq!(w.server_got.len(), 1);
    assert_eq!((w.server_got[0].1, w.server_got[0].2), (a1, SERVER));

    // Server -> client: routed by destination address to the right session.
    let mut buf = Vec::new();
    let t = w.lns.send_ip(&ipv4_packet(17, SERVER, a1, b"pong"), &mut buf).unwrap();
    let d = buf[buf.len() - t.size..].to_vec();
    w.lac.receive(w.now, &d);
    assert_eq!(w.lac.calls[1].received.len(), 1);
    assert_eq!(&w.lac.calls[1].received[0][16..20], &a1.octets());
    assert!(w.lac.calls[0].received.is_empty() && w.lac.calls[2].received.is_empty());
    assert!(matches!(
        w.lns.send_ip(&ipv4_packet(17, SERVER, Ipv4Addr::new(192, 0, 2, 200), b"x"), &mut buf),
        Err(LnsError::NoRoute(_))
    ));
}

#[test]
fn a_spoofed_source_is_refused() {
    let mut w = World::new("192.0.2.0/24", vec![AuthMethod::ChapMd5]);
    w.lac.call(w.now, "alice", "alicepass");
    w.pump();
    let a = w.address(0).unwrap();
    w.client_send(0, Ipv4Addr::new(198, 51, 100, 9), SERVER);
    assert!(w.server_got.is_empty());
    assert!(w.events.iter().any(|e| e.contains("198.51.100.9")), "{:?}", w.events);
    w.client_send(0, a, SERVER);
    assert_eq!(w.server_got.len(), 1);
}

#[test]
fn a_wrong_password_never_gets_an_address_for_long() {
    let mut w = World::new("192.0.2.0/24", vec![AuthMethod::MsChapV2]);
    w.lac.call(w.now, "alice", "wrong");
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
    w.lac.call(w.now, "alice", "alicepass");
    w.lac.call(w.now, "bob", "bobpass");
    w.pump();
    assert_eq!(w.lns.addresses_in_use(), 2);
    // The client hangs up (LCP Terminate from the peer).
    w.lac.calls[0].ppp.close(w.now, "bye");
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
    w.lac.call(w.now, "alice", "alicepass");
    w.lac.call(w.now, "bob", "bobpass");
    w.pump();
    assert_eq!(w.events.iter().filter(|e| e.starts_with("up ")).count(), 1, "{:?}", w.events);
    assert!(w.events.iter().any(|e| e == "PoolExhausted"), "{:?}", w.events);
}

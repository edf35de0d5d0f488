//! The LNS's per-session usage (for RADIUS accounting) and addresses given by the
//! authenticator (a chap-secrets address or a RADIUS Framed-IP-Address) instead of the
//! pool's, on a virtual clock with in-process clients.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{Lac, ipv4_packet, lns_config};
use l2sec::lns::{DownCause, Lns, LnsEvent, SessionUsage};
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
    ups: Vec<(String, Ipv4Addr)>,
    downs: Vec<(Option<Ipv4Addr>, SessionUsage)>,
}

impl World {
    fn new(users: &str) -> Self {
        let now = Instant::now();
        World {
            now,
            lns: Lns::new(
                lns_config("192.0.2.0/24", vec![AuthMethod::Pap], SERVER),
                ChaCha20Rng::seed_from_u64(3),
            ),
            lac: Lac::new(now, 4),
            users: ChapSecrets::parse(users).unwrap(),
            ups: Vec::new(),
            downs: Vec::new(),
        }
    }

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
                let _ = self.lns.handle_input(self.now, 1, &d);
            }
            while let Some(ev) = self.lns.poll_event() {
                match ev {
                    LnsEvent::Authenticate { session, request } => {
                        let verdict = self.users.verify("l2sec", &request);
                        self.lns.answer_auth(self.now, session, request.id, verdict).unwrap();
                    }
                    LnsEvent::SessionUp { username, address, .. } => {
                        self.ups.push((String::from_utf8_lossy(&username).into_owned(), address));
                    }
                    LnsEvent::SessionDown { address, usage, .. } => self.downs.push((address, usage)),
                    _ => {}
                }
            }
            if !moved {
                return;
            }
        }
        panic!("never quiet");
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.lns.handle_timeout(self.now);
        self.lac.handle_timeout(self.now);
        self.pump();
    }
}

#[test]
fn addresses_from_the_authenticator_replace_the_pools_and_are_returned_right() {
    // carl's address is in the pool's subnet, dora's outside it; eve takes the pool's.
    let mut w = World::new("carl * carlpass 192.0.2.200\ndora * dorapass 203.0.113.5\neve * evepass *\n");
    for u in ["carl", "dora", "eve"] {
        w.lac.call(w.now, u, &format!("{u}pass"));
    }
    w.pump();
    let got = |w: &World, u: &str| w.ups.iter().find(|(n, _)| n == u).map(|(_, a)| *a);
    assert_eq!(got(&w, "carl"), Some(Ipv4Addr::new(192, 0, 2, 200)), "{:?}", w.ups);
    assert_eq!(got(&w, "dora"), Some(Ipv4Addr::new(203, 0, 113, 5)));
    // The pool lent .2 to carl and .3 to dora at first and took both back: eve, last to
    // authenticate, has one of them, and only carl's and eve's addresses are pool addresses.
    let eve = got(&w, "eve").unwrap();
    assert!(
        [Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(192, 0, 2, 3), Ipv4Addr::new(192, 0, 2, 4)]
            .contains(&eve)
    );
    assert_eq!(w.lns.addresses_in_use(), 2, "carl's .200 and eve's");
    // Traffic is routed to the assigned addresses.
    let mut buf = Vec::new();
    assert!(w.lns.send_ip(&ipv4_packet(17, SERVER, Ipv4Addr::new(203, 0, 113, 5), b"hi"), &mut buf).is_ok());
    for c in &mut w.lac.calls {
        c.ppp.close(w.now, "bye");
    }
    w.pump();
    for _ in 0..5 {
        w.advance(Duration::from_secs(1));
    }
    assert_eq!(w.downs.len(), 3);
    assert_eq!(w.lns.addresses_in_use(), 0, "every pool address returned, none leaked");
    // A second carl gets .200 again (it was returned to the pool).
    w.lac.call(w.now, "carl", "carlpass");
    w.pump();
    assert_eq!(w.ups.last().unwrap().1, Ipv4Addr::new(192, 0, 2, 200));
}

#[test]
fn a_session_reports_its_traffic_lifetime_and_cause() {
    let mut w = World::new("alice * alicepass *\nbob * bobpass *\n");
    w.lac.call(w.now, "alice", "alicepass");
    w.lac.call(w.now, "bob", "bobpass");
    w.pump();
    let up_at = w.now;
    let a = w.lac.calls[0].address.unwrap();
    // Two packets from the client (20 + 4 and 20 + 10 octets), one to it (20 + 5).
    for payload in [&b"ping"[..], b"0123456789"] {
        let d = w.lac.ip_datagram(0, &ipv4_packet(17, a, SERVER, payload));
        assert!(matches!(w.lns.handle_input(w.now, 1, &d), Ok(Some((_, Datagram::Ipv4(_))))));
    }
    let mut buf = Vec::new();
    w.lns.send_ip(&ipv4_packet(17, SERVER, a, b"pong!"), &mut buf).unwrap();
    w.advance(Duration::from_secs(7));
    // alice hangs up; the server closes bob.
    w.lac.calls[0].ppp.close(w.now, "bye");
    w.pump();
    w.lns.close_all_sessions(w.now, "maintenance");
    w.pump();
    for _ in 0..5 {
        w.advance(Duration::from_secs(1));
    }
    let alice = w.downs.iter().find(|(_, u)| u.username == b"alice").expect("alice's session down");
    let u = &alice.1;
    assert_eq!((u.input_packets, u.input_octets), (2, 20 + 4 + 20 + 10));
    assert_eq!((u.output_packets, u.output_octets), (1, 20 + 5));
    assert_eq!(u.cause, DownCause::UserRequest);
    assert!(u.up_since.is_some_and(|t| t <= up_at + Duration::from_millis(1)));
    let bob = w.downs.iter().find(|(_, u)| u.username == b"bob").expect("bob's session down");
    assert_eq!(bob.1.cause, DownCause::AdminReboot);
    assert_eq!((bob.1.input_packets, bob.1.output_packets), (0, 0));
}

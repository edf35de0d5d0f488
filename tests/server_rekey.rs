//! Rekeys started by the client, on a virtual clock without sockets: an IKEv1 client
//! ([`Connection`], which rekeys both phases) and an IKEv2 client ([`IkeSa`] with
//! `rekey_child` / `rekey_ike`) against the server's IKE sides. The connection (and with
//! it the L2TP/PPP session keyed by it) must survive every rekey; only the old SAs go.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2sec::client::ClientConfig;
use l2sec::driver::ServerConfig;
use l2sec::ike_v1::{IkeEvent, IkeV1Server};
use l2sec::ike_v2::{IkeV2Config, IkeV2Event, IkeV2Server};
use l2sec::ipsec_lns::ConnId;
use l2sec::pool::AddressPool;
use l2sec_ike::v1::connection::{Connection, ConnectionConfig, ConnectionEvent};
use l2sec_ike::v2::ike_sa::{Event, Identity, IkeSa, IkeSaConfig};
use l2sec_ppp::secrets::ChapSecrets;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const PSK: &[u8] = b"rekey test psk";

fn server_addr() -> SocketAddr {
    "192.0.2.10:500".parse().unwrap()
}

fn client_addr(port: u16) -> SocketAddr {
    SocketAddr::new("198.51.100.7".parse().unwrap(), port)
}

struct V1 {
    now: Instant,
    server: IkeV1Server,
    client: Connection<ChaCha20Rng>,
    server_events: Vec<IkeEvent>,
    client_events: Vec<ConnectionEvent>,
}

impl V1 {
    /// `delete_after`: how long the client keeps a replaced pair before deleting it.
    fn new(delete_after: Duration, child_life: Duration) -> Self {
        let users = ChapSecrets::parse("u * p *\n").unwrap();
        let pool = AddressPool::parse_cidr("10.9.0.0/24").unwrap().unwrap();
        let cfg = ServerConfig::new(server_addr().ip(), 500, 4500, PSK, users, pool, [None, None]);
        let server =
            IkeV1Server::new(cfg.phase1, cfg.quick, server_addr(), &mut ChaCha20Rng::seed_from_u64(1));
        let mut cc = ClientConfig::new(client_addr(500), server_addr(), PSK, "u", "p");
        // NAT-T is forced: transport mode in UDP/4500 from the first Quick Mode on.
        cc.quick.encapsulation =
            l2sec_ike::child::EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 };
        for p in &mut cc.quick.proposals {
            p.lifetime = child_life;
        }
        let mut config = ConnectionConfig::new(cc.phase1, cc.quick);
        config.auto_rekey = false;
        config.delete_rekeyed_after = delete_after;
        let mut v = Self {
            now: Instant::now(),
            server,
            client: Connection::new(config, ChaCha20Rng::seed_from_u64(2)),
            server_events: Vec::new(),
            client_events: Vec::new(),
        };
        v.client.connect(v.now).unwrap();
        v.pump();
        v
    }

    fn pump(&mut self) {
        let mut buf = Vec::new();
        for _ in 0..200 {
            let mut moved = false;
            buf.clear();
            while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
                let m = buf[buf.len() - t.size..].to_vec();
                buf.clear();
                let from = client_addr(if t.udp_encapsulated { 4500 } else { 500 });
                if let Err(e) = self.server.handle_input(self.now, from, &m) {
                    eprintln!("server: {e}");
                }
                moved = true;
            }
            while let Some(t) = self.server.poll_transmit() {
                if let Err(e) = self.client.handle_input(self.now, &t.message) {
                    eprintln!("client: {e}");
                }
                moved = true;
            }
            self.server_events.extend(std::iter::from_fn(|| self.server.poll_event()));
            self.client_events.extend(std::iter::from_fn(|| self.client.poll_event()));
            if !moved {
                return;
            }
        }
        panic!("the exchange does not settle");
    }

    /// Advances the clock to `t`, running both sides' timers on the way.
    fn run_until(&mut self, t: Instant) {
        while self.now < t {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|d| *d > self.now)
                .min()
                .unwrap_or(t)
                .min(t);
            self.now = next;
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.pump();
        }
    }

    fn take(&mut self) -> Vec<IkeEvent> {
        std::mem::take(&mut self.server_events)
    }

    fn first_child(&mut self) -> (ConnId, u32, u32) {
        let ev = self.take();
        let [IkeEvent::PeerUp { conn, .. }, IkeEvent::ChildSa { conn: c2, child, .. }] = ev.as_slice() else {
            panic!("{ev:?} / client {:?}", self.client_events)
        };
        assert_eq!(conn, c2);
        (*conn, child.spi_in, child.spi_out)
    }
}

fn no_gone(ev: &[IkeEvent]) {
    assert!(!ev.iter().any(|e| matches!(e, IkeEvent::PeerGone { .. })), "connection ended: {ev:?}");
}

/// RFC 2409 §5.5: a second Quick Mode on the same ISAKMP SA replaces the pair for the
/// same connection; the client's ESP Delete of the old pair removes only it.
#[test]
fn ikev1_quick_mode_rekey_keeps_the_connection() {
    let mut v = V1::new(Duration::from_secs(2), Duration::from_secs(3600));
    let (conn, spi_in, _) = v.first_child();
    let client_spi = v.client.active_children()[0];
    v.client.rekey_child(v.now, client_spi).unwrap();
    v.pump();
    let ev = v.take();
    no_gone(&ev);
    let [IkeEvent::ChildSaRekeyed { conn: c, old_spi_in, child, .. }] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!((*c, *old_spi_in), (conn, spi_in));
    assert_ne!(child.spi_in, spi_in);
    let new_spi_in = child.spi_in;
    // The client deletes the old pair a moment later.
    let t = v.now + Duration::from_secs(3);
    v.run_until(t);
    let ev = v.take();
    no_gone(&ev);
    assert!(
        matches!(ev.as_slice(), [IkeEvent::ChildSaRemoved { conn: c, spi_in: s }] if *c == conn && *s == spi_in),
        "{ev:?}"
    );
    // A second rekey replaces the new pair in turn.
    let client_spi = v.client.active_children()[0];
    v.client.rekey_child(v.now, client_spi).unwrap();
    v.pump();
    let ev = v.take();
    assert!(
        matches!(ev.as_slice(), [IkeEvent::ChildSaRekeyed { conn: c, old_spi_in, .. }] if *c == conn && *old_spi_in == new_spi_in),
        "{ev:?}"
    );
    // Hanging up (Delete of every pair and of the ISAKMP SA) ends it, once.
    v.client.close(v.now);
    v.pump();
    let ev = v.take();
    let gone =
        ev.iter().filter(|e| matches!(e, IkeEvent::PeerGone { conn: c, dead: false, .. } if *c == conn));
    assert_eq!(gone.count(), 1, "{ev:?}");
}

/// A new Main Mode from the same client (no INITIAL-CONTACT) re-authenticates the same
/// connection; the old ISAKMP SA's Delete does not end it, and Quick Mode under the new
/// ISAKMP SA rekeys the same connection's pair.
#[test]
fn ikev1_phase1_rekey_keeps_the_connection() {
    let mut v = V1::new(Duration::from_secs(2), Duration::from_secs(3600));
    let (conn, spi_in, _) = v.first_child();
    v.client.rekey_phase1(v.now).unwrap();
    v.pump();
    let t = v.now + Duration::from_secs(3);
    v.run_until(t);
    assert!(
        v.client_events.iter().any(|e| matches!(e, ConnectionEvent::Phase1Rekeyed { .. })),
        "{:?}",
        v.client_events
    );
    assert_eq!(v.client.isakmp_sas().len(), 1, "the client deleted its old ISAKMP SA");
    let ev = v.take();
    no_gone(&ev);
    assert!(
        matches!(ev.as_slice(), [IkeEvent::PeerRekeyed { conn: c, keylog, .. }] if *c == conn && keylog.len() > 40),
        "{ev:?}"
    );
    assert_eq!(v.server.peer_count(), 1, "the old ISAKMP SA is forgotten");
    let client_spi = v.client.active_children()[0];
    v.client.rekey_child(v.now, client_spi).unwrap();
    let t = v.now + Duration::from_secs(3);
    v.run_until(t);
    let ev = v.take();
    no_gone(&ev);
    assert!(
        matches!(ev.as_slice(), [
            IkeEvent::ChildSaRekeyed { conn: c, old_spi_in, .. },
            IkeEvent::ChildSaRemoved { conn: c2, spi_in: s },
        ] if *c == conn && *c2 == conn && *old_spi_in == spi_in && *s == spi_in),
        "{ev:?}"
    );
    v.client.close(v.now);
    v.pump();
    let ev = v.take();
    assert_eq!(ev.iter().filter(|e| matches!(e, IkeEvent::PeerGone { .. })).count(), 1, "{ev:?}");
}

/// A client that never deletes the replaced pair: the server removes it when its hard
/// lifetime is over, and keeps the newest pair (and the connection).
#[test]
fn ikev1_an_old_pair_expires_without_a_delete() {
    let mut v = V1::new(Duration::from_secs(100_000), Duration::from_secs(600));
    let (conn, spi_in, _) = v.first_child();
    v.now += Duration::from_secs(500);
    let client_spi = v.client.active_children()[0];
    v.client.rekey_child(v.now, client_spi).unwrap();
    v.pump();
    assert!(matches!(v.take().as_slice(), [IkeEvent::ChildSaRekeyed { .. }]));
    let deadline = v.server.poll_timeout().unwrap();
    assert!(deadline <= v.now + Duration::from_secs(100), "the old pair's end is a timer");
    v.server.handle_timeout(v.now + Duration::from_secs(101));
    let ev: Vec<IkeEvent> = std::iter::from_fn(|| v.server.poll_event()).collect();
    no_gone(&ev);
    assert!(
        matches!(ev.as_slice(), [IkeEvent::ChildSaRemoved { conn: c, spi_in: s }] if *c == conn && *s == spi_in),
        "{ev:?}"
    );
}

fn v2_pump(c: &mut IkeSa<ChaCha20Rng>, s: &mut IkeV2Server, now: Instant) {
    let from = client_addr(500);
    let mut buf = Vec::new();
    for _ in 0..100 {
        buf.clear();
        if let Some(t) = c.poll_transmit(now, &mut buf) {
            let _ = s.handle_input(now, from, &buf, t.udp_encapsulated);
        } else if let Some(t) = s.poll_transmit() {
            let _ = c.handle_input(now, &t.message);
        } else {
            return;
        }
    }
    panic!("the exchange does not settle");
}

/// RFC 7296 §1.3.3, §1.3.2, §2.8: the client rekeys its Child SA (the server installs the
/// new pair for the same connection, the old pair's Delete removes only it), then its IKE
/// SA (the server follows it to the new SPIs), then the Child SA again under the new IKE
/// SA; the connection lives through all of it and ends with the client's Delete.
#[test]
fn ikev2_child_and_ike_rekeys_keep_the_connection() {
    let now = Instant::now();
    let config = IkeV2Config::new(PSK, Identity::fqdn("server"));
    let mut s = IkeV2Server::new(config, server_addr(), &mut ChaCha20Rng::seed_from_u64(1));
    let mut cc = IkeSaConfig::new(PSK, Identity::fqdn("client"), client_addr(500), server_addr());
    cc.force_encapsulation = true;
    let mut c = IkeSa::initiate(cc, ChaCha20Rng::seed_from_u64(2), now).unwrap();
    v2_pump(&mut c, &mut s, now);
    let ev: Vec<IkeV2Event> = std::iter::from_fn(|| s.poll_event()).collect();
    let [IkeV2Event::PeerUp { conn, .. }, IkeV2Event::ChildSa { child, .. }] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    let (conn, first_spi) = (*conn, child.spi_in);
    let mut client_spi = c.child_spis()[0];
    let mut server_spi = first_spi;
    let events = |s: &mut IkeV2Server| -> Vec<IkeV2Event> { std::iter::from_fn(|| s.poll_event()).collect() };
    for round in 0..3 {
        if round == 1 {
            let before = c.spis();
            c.rekey_ike(now).unwrap();
            v2_pump(&mut c, &mut s, now);
            assert_ne!(c.spis(), before, "the client moved to a new IKE SA");
            let ev = events(&mut s);
            assert!(
                matches!(ev.as_slice(), [IkeV2Event::IkeSaRekeyed { conn: k, keylog, .. }] if *k == conn && keylog.len() > 40),
                "{ev:?}"
            );
            assert_eq!(s.sa_count(), 1);
        }
        c.rekey_child(now, client_spi).unwrap();
        v2_pump(&mut c, &mut s, now);
        let ev = events(&mut s);
        let [
            IkeV2Event::ChildSaRekeyed { conn: k, old_spi_in, child, .. },
            IkeV2Event::ChildSaRemoved { conn: k2, spi_in },
        ] = ev.as_slice()
        else {
            panic!("round {round}: {ev:?}")
        };
        assert_eq!((*k, *k2, *old_spi_in, *spi_in), (conn, conn, server_spi, server_spi), "round {round}");
        server_spi = child.spi_in;
        assert_eq!(c.child_spis().len(), 1, "the client kept only the new pair");
        client_spi = c.child_spis()[0];
    }
    // Liveness checks reach the client on the rekeyed IKE SA and are answered.
    let later = now + Duration::from_secs(31);
    s.handle_timeout(later);
    v2_pump(&mut c, &mut s, later);
    assert!(events(&mut s).is_empty());
    c.delete(later).unwrap();
    v2_pump(&mut c, &mut s, later);
    let ev = events(&mut s);
    assert!(
        matches!(ev.as_slice(), [IkeV2Event::PeerGone { conn: k, dead: false, .. }] if *k == conn),
        "{ev:?}"
    );
    assert_eq!(s.sa_count(), 0);
    assert!(std::iter::from_fn(|| c.poll_event()).any(|e| e == Event::Closed));
}

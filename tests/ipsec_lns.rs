//! The server data path with ESP: in-process clients wrap their L2TP datagrams in UDP/1701
//! and ESP transport mode (SAs keyed by hand here, as IKE will key them) and send them to
//! the server's UDP/4500 input. Two clients share one NAT address; plaintext L2TP is
//! refused unless allowed; a forged or replayed packet changes nothing.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use common::{Lac, ipv4_packet, lns_config};
use l2sec::ipsec_lns::{ConnId, IpsecLns, IpsecLnsError, L2tpPeer, Received};
use l2sec::lns::LnsEvent;
use l2sec::virtual_net;
use l2sec_esp::{self as esp, Encryption, InboundSa, Integrity, Mode, OutboundSa, SaParams};
use l2sec_ppp::secrets::ChapSecrets;
use l2sec_ppp::{AuthMethod, Datagram};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// A client: its LAC, its ESP SAs, and the outer address the server sees (the NAT's).
struct Client {
    lac: Lac,
    tx: OutboundSa,
    rx: InboundSa,
    nat: SocketAddr,
    conn: ConnId,
}

fn sa(spi: u32, key: u8) -> SaParams {
    SaParams::new(spi, Mode::Transport, Encryption::AesGcm16, Integrity::None, &[key; 20], &[])
}

impl Client {
    fn new(now: Instant, n: u32, nat: SocketAddr, server: &mut IpsecLns<ChaCha20Rng>) -> Self {
        // SPIs: client -> server 0x1000 + n (the server's inbound), server -> client 0x2000 + n.
        let (up, down) = (sa(0x1000 + n, n as u8), sa(0x2000 + n, 100 + n as u8));
        let conn = ConnId(n);
        server.install_child_sa(conn, nat, &up, &down).unwrap();
        Client {
            lac: Lac::new(now, u64::from(n)),
            tx: OutboundSa::new(&up).unwrap(),
            rx: InboundSa::new(&down).unwrap(),
            nat,
            conn,
        }
    }

    /// A client whose SAs were negotiated elsewhere (by IKE).
    fn with_sas(now: Instant, n: u32, nat: SocketAddr, tx: OutboundSa, rx: InboundSa, conn: ConnId) -> Self {
        Client { lac: Lac::new(now, u64::from(n)), tx, rx, nat, conn }
    }

    /// The client's L2TP datagrams as ESP packets (UDP 1701 -> 1701 inside).
    fn seal(&mut self, l2tp: &[u8]) -> Vec<u8> {
        let head = self.tx.headroom() + 8;
        let mut buf = vec![0u8; head + l2tp.len() + self.tx.tailroom()];
        buf[head - 8..head - 6].copy_from_slice(&1701u16.to_be_bytes());
        buf[head - 6..head - 4].copy_from_slice(&1701u16.to_be_bytes());
        buf[head - 4..head - 2].copy_from_slice(&((8 + l2tp.len()) as u16).to_be_bytes());
        buf[head..head + l2tp.len()].copy_from_slice(l2tp);
        self.tx.encapsulate(&mut buf, head - 8..head + l2tp.len(), 17).unwrap().to_vec()
    }

    /// An ESP packet from the server: opened, and its L2TP datagram given to the LAC.
    fn open(&mut self, now: Instant, packet: &mut [u8]) {
        let d = self.rx.decapsulate(packet).unwrap();
        assert_eq!(d.next_header, 17);
        assert_eq!(&d.payload[..4], &[0x06, 0xa5, 0x06, 0xa5], "UDP 1701 -> 1701");
        let l2tp = d.payload[8..].to_vec();
        self.lac.receive(now, &l2tp);
    }
}

struct World {
    now: Instant,
    server: IpsecLns<ChaCha20Rng>,
    clients: Vec<Client>,
    users: ChapSecrets,
    ups: Vec<(L2tpPeer, Ipv4Addr)>,
    echoes: usize,
}

impl World {
    fn new(allow_plaintext: bool) -> Self {
        let config = lns_config("198.51.100.0/24", vec![AuthMethod::MsChapV2], SERVER);
        World {
            now: Instant::now(),
            server: IpsecLns::new(config, ChaCha20Rng::seed_from_u64(5), allow_plaintext),
            clients: Vec::new(),
            users: ChapSecrets::parse("alice * alicepass *\nbob * bobpass *\n").unwrap(),
            ups: Vec::new(),
            echoes: 0,
        }
    }

    fn add_client(&mut self, nat: SocketAddr, user: &str) {
        let n = self.clients.len() as u32 + 1;
        let mut c = Client::new(self.now, n, nat, &mut self.server);
        c.lac.call(self.now, user, &format!("{user}pass"));
        self.clients.push(c);
    }

    fn deliver(&mut self, from: SocketAddr, packet: &mut [u8]) {
        let mut reply = Vec::new();
        match self.server.handle_udp4500(self.now, from, packet) {
            Ok(Received::Ip { packet: Datagram::Ipv4(p), .. }) => {
                if virtual_net::answer(p, SERVER, &mut reply) {
                    let mut buf = Vec::new();
                    let t = self.server.send_ip(&reply, &mut buf).unwrap();
                    self.echoes += 1;
                    self.deliver_to_client(t.destination, &mut buf[t.start..t.start + t.len].to_vec());
                }
            }
            Ok(_) => {}
            Err(e) => panic!("server refused a genuine packet: {e}"),
        }
    }

    fn deliver_to_client(&mut self, to: SocketAddr, packet: &mut [u8]) {
        // Behind one NAT address the SPI tells the clients apart, as the NAT would by port.
        let spi = esp::peek_spi(packet).unwrap();
        let c = self.clients.iter_mut().find(|c| c.nat == to && c.rx.spi() == spi).expect("a client for it");
        c.open(self.now, packet);
    }

    fn pump(&mut self) {
        let mut buf = Vec::new();
        for _ in 0..200 {
            let mut moved = false;
            while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
                assert!(!t.plaintext);
                moved = true;
                let mut p = buf[t.start..t.start + t.len].to_vec();
                self.deliver_to_client(t.destination, &mut p);
            }
            let mut sends = Vec::new();
            for c in &mut self.clients {
                for d in c.lac.outgoing(self.now) {
                    sends.push((c.nat, c.seal(&d)));
                }
            }
            for (from, mut p) in sends {
                moved = true;
                self.deliver(from, &mut p);
            }
            while let Some(ev) = self.server.poll_event() {
                match ev {
                    LnsEvent::Authenticate { session, request } => {
                        let v = self.users.verify("l2sec", &request);
                        self.server.answer_auth(self.now, session, request.id, v).unwrap();
                    }
                    LnsEvent::SessionUp { peer, address, .. } => self.ups.push((peer, address)),
                    _ => {}
                }
            }
            if !moved {
                return;
            }
        }
        panic!("never went quiet");
    }
}

#[test]
fn two_clients_behind_one_nat_address_get_their_own_sessions_and_ping_through_esp() {
    let mut w = World::new(false);
    let nat: SocketAddr = "203.0.113.7:4500".parse().unwrap();
    w.add_client(nat, "alice");
    w.add_client(nat, "bob");
    w.pump();
    assert_eq!(w.ups.len(), 2, "both sessions up");
    let conns: Vec<ConnId> = w
        .ups
        .iter()
        .map(|(p, _)| match p {
            L2tpPeer::Ipsec { conn, port: 1701 } => *conn,
            other => panic!("unexpected peer {other:?}"),
        })
        .collect();
    assert_ne!(conns[0], conns[1], "told apart by connection, not address");
    // Each pings the server through its own ESP SA and gets the echo back.
    for i in 0..2 {
        let me = w.clients[i].lac.calls[0].address.unwrap();
        let mut icmp = vec![8, 0, 0, 0, 0, 1, 0, 1];
        icmp.extend_from_slice(b"through esp");
        let d = w.clients[i].lac.ip_datagram(0, &ipv4_packet(1, me, SERVER, &icmp));
        let mut p = w.clients[i].seal(&d);
        w.deliver(nat, &mut p);
        let got = &w.clients[i].lac.calls[0].received;
        assert_eq!(got.len(), 1, "client {i} got its echo reply");
        assert_eq!(&got[0][16..20], &me.octets());
        assert_eq!(got[0][20], 0, "ICMP echo reply");
    }
    assert_eq!(w.echoes, 2);
    let mut expected: Vec<ConnId> = w.clients.iter().map(|c| c.conn).collect();
    let mut seen = conns.clone();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
}

#[test]
fn forged_and_replayed_esp_and_plaintext_l2tp_change_nothing() {
    let mut w = World::new(false);
    let nat: SocketAddr = "203.0.113.7:4500".parse().unwrap();
    w.add_client(nat, "alice");
    let sessions_before = w.server.lns().session_count();
    // The client's first datagram (SCCRQ) in ESP, delivered twice: the copy is a replay.
    let sccrq = w.clients[0].lac.outgoing(w.now).remove(0);
    let first = w.clients[0].seal(&sccrq);
    let mut a = first.clone();
    assert!(matches!(w.server.handle_udp4500(w.now, nat, &mut a), Ok(Received::Control { .. })));
    let mut b = first.clone();
    assert!(matches!(
        w.server.handle_udp4500(w.now, nat, &mut b),
        Err(IpsecLnsError::Esp(esp::Error::Replay(1)))
    ));
    // A forged packet (bad ICV) and an unknown SPI.
    let mut forged = w.clients[0].seal(&sccrq);
    *forged.last_mut().unwrap() ^= 1;
    assert!(matches!(
        w.server.handle_udp4500(w.now, nat, &mut forged),
        Err(IpsecLnsError::Esp(esp::Error::IcvMismatch))
    ));
    let mut unknown = first.clone();
    unknown[..4].copy_from_slice(&0x9999u32.to_be_bytes());
    assert!(matches!(
        w.server.handle_udp4500(w.now, nat, &mut unknown),
        Err(IpsecLnsError::Esp(esp::Error::UnknownSpi(0x9999)))
    ));
    // Plaintext L2TP is refused by default.
    assert!(matches!(w.server.handle_udp1701(w.now, nat, &sccrq), Err(IpsecLnsError::PlaintextRefused)));
    assert_eq!(w.server.lns().session_count(), sessions_before);
    // Keepalives and IKE are sorted out for the caller.
    assert!(matches!(w.server.handle_udp4500(w.now, nat, &mut [0xff]), Ok(Received::Keepalive)));
    let mut ike = vec![0u8; 4 + 28];
    ike[4] = 7;
    assert!(
        matches!(w.server.handle_udp4500(w.now, nat, &mut ike), Ok(Received::Ike(m)) if m.len() == 28 && m[0] == 7)
    );
}

#[test]
fn plaintext_l2tp_is_served_when_allowed() {
    let mut w = World::new(true);
    let now = w.now;
    let mut lac = Lac::new(now, 77);
    lac.call(now, "bob", "bobpass");
    let from: SocketAddr = "192.0.2.9:1701".parse().unwrap();
    let mut buf = Vec::new();
    for _ in 0..50 {
        for d in lac.outgoing(now) {
            let _ = w.server.handle_udp1701(now, from, &d).unwrap();
        }
        while let Some(ev) = w.server.poll_event() {
            if let LnsEvent::Authenticate { session, request } = ev {
                let v = w.users.verify("l2sec", &request);
                w.server.answer_auth(now, session, request.id, v).unwrap();
            }
        }
        while let Some(t) = w.server.poll_transmit(now, &mut buf) {
            assert!(t.plaintext);
            assert_eq!(t.destination, from);
            let d = buf[t.start..t.start + t.len].to_vec();
            lac.receive(now, &d);
        }
    }
    assert_eq!(lac.calls[0].address, Some(Ipv4Addr::new(198, 51, 100, 2)));
}

// ------------------------------------------------------------------------------------
// The whole L2TP/IPsec stack: IKEv1 negotiates the SAs the data path then uses
// ------------------------------------------------------------------------------------

mod with_ike {

    use l2sec::ike_v1::{IkeEvent, IkeV1Server};
    use l2sec_ike::child::EspEncapsulation;
    use l2sec_ike::v1::phase1::{self, Identity, NatTraversal, Phase1, Phase1Config};
    use l2sec_ike::v1::quick::{QuickMode, QuickModeConfig, QuickModeEvent};

    use super::*;

    const PSK: &[u8] = b"l2tp-ipsec shared secret";

    /// The L2TP/IPsec Quick Mode the l2sec client offers (transport, UDP/1701).
    fn quick_config(encapsulation: EspEncapsulation, client: Ipv4Addr, server: Ipv4Addr) -> QuickModeConfig {
        let addr = |ip: Ipv4Addr| SocketAddr::new(ip.into(), 500);
        let mut q = l2sec::client::ClientConfig::new(addr(client), addr(server), PSK, "", "").quick;
        q.encapsulation = encapsulation;
        q
    }

    /// Runs Main Mode (NAT-T forced, as behind a NAT) and Quick Mode for UDP/1701 between
    /// an l2sec initiator and the server's `IkeV1Server`; returns the client's SAs and
    /// installs the server's in `w.server`.
    fn negotiate(
        w: &mut World,
        n: u32,
        nat: SocketAddr,
        ike: &mut IkeV1Server,
    ) -> (OutboundSa, InboundSa, ConnId) {
        let server_addr: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let client_ip = Ipv4Addr::new(10, 0, 0, n as u8);
        let mut cfg = Phase1Config::new(PSK, Identity::ipv4(client_ip));
        cfg.nat_traversal = Some(NatTraversal {
            local: SocketAddr::new(client_ip.into(), 500),
            remote: server_addr,
            force_encapsulation: true,
        });
        let now = w.now;
        let mut p1 = Phase1::initiate(cfg, ChaCha20Rng::seed_from_u64(300 + u64::from(n)), now).unwrap();
        let mut qm: Option<QuickMode<ChaCha20Rng>> = None;
        let mut client_child = None;
        let mut server_child = None;
        let mut buf = Vec::new();
        for _ in 0..30 {
            // Client -> server, through the NAT (port 500 or 4500 as the message says).
            let mut to_server = Vec::new();
            while let Some(t) = p1.poll_transmit(now, &mut buf) {
                to_server.push((t.udp_encapsulated, buf[buf.len() - t.size..].to_vec()));
                buf.clear();
            }
            if let Some(q) = qm.as_mut() {
                while let Some(t) = q.poll_transmit(now, &mut buf) {
                    to_server.push((t.udp_encapsulated, buf[buf.len() - t.size..].to_vec()));
                    buf.clear();
                }
            }
            for (encap, m) in to_server {
                let from = if encap { nat } else { SocketAddr::new(nat.ip(), 500) };
                ike.handle_input(now, from, &m).unwrap();
            }
            while let Some(ev) = ike.poll_event() {
                match ev {
                    IkeEvent::ChildSa { conn, remote, child } => server_child = Some((conn, remote, child)),
                    IkeEvent::Failed { error, .. } => panic!("server side failed: {error}"),
                    _ => {}
                }
            }
            // Server -> client.
            while let Some(t) = ike.poll_transmit() {
                match qm.as_mut() {
                    Some(q) if t.message[18] == 32 => q.handle_input(now, &t.message).unwrap(),
                    _ => p1.handle_input(now, &t.message).unwrap(),
                }
            }
            while let Some(ev) = p1.poll_event() {
                if let phase1::Event::Established { .. } = ev {
                    let ctx = p1.isakmp_context().unwrap();
                    let cfg = quick_config(
                        EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 },
                        client_ip,
                        SERVER,
                    );
                    qm = Some(
                        QuickMode::initiate(ctx, cfg, ChaCha20Rng::seed_from_u64(400 + u64::from(n)), now)
                            .unwrap(),
                    );
                }
            }
            if let Some(q) = qm.as_mut() {
                while let Some(ev) = q.poll_event() {
                    if let QuickModeEvent::Established { child, .. } = ev {
                        client_child = Some(child);
                    }
                }
            }
            if client_child.is_some() && server_child.is_some() {
                break;
            }
        }
        let (conn, remote, child) = server_child.expect("the server negotiated a Child SA");
        assert_eq!(remote, nat);
        let (s_in, s_out) = child.esp_params().unwrap();
        w.server.install_child_sa(conn, remote, &s_in, &s_out).unwrap();
        let (c_in, c_out) = client_child.expect("the client negotiated a Child SA").esp_params().unwrap();
        assert_eq!((c_out.spi, c_in.spi), (s_in.spi, s_out.spi), "mirror-image SAs");
        (OutboundSa::new(&c_out).unwrap(), InboundSa::new(&c_in).unwrap(), conn)
    }

    #[test]
    fn ikev1_negotiated_sas_carry_l2tp_ppp_and_a_ping() {
        let mut w = World::new(false);
        let local: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let quick = quick_config(EspEncapsulation::None, Ipv4Addr::UNSPECIFIED, SERVER);
        let mut ike = IkeV1Server::new(
            Phase1Config::new(PSK, Identity::ipv4(SERVER)),
            quick,
            local,
            &mut ChaCha20Rng::seed_from_u64(8),
        );
        // Two clients behind one NAT address, as on a home network.
        let nat: SocketAddr = "203.0.113.7:4500".parse().unwrap();
        for (n, user) in [(1u32, "alice"), (2, "bob")] {
            let (tx, rx, conn) = negotiate(&mut w, n, nat, &mut ike);
            let mut c = Client::with_sas(w.now, n, nat, tx, rx, conn);
            c.lac.call(w.now, user, &format!("{user}pass"));
            w.clients.push(c);
        }
        assert_eq!(ike.peer_count(), 2);
        w.pump();
        assert_eq!(w.ups.len(), 2, "both PPP sessions up over IKE-keyed ESP");
        for i in 0..2 {
            let me = w.clients[i].lac.calls[0].address.unwrap();
            let mut icmp = vec![8, 0, 0, 0, 0, 1, 0, 1];
            icmp.extend_from_slice(b"l2tp/ipsec");
            let d = w.clients[i].lac.ip_datagram(0, &ipv4_packet(1, me, SERVER, &icmp));
            let mut p = w.clients[i].seal(&d);
            w.deliver(nat, &mut p);
            assert_eq!(w.clients[i].lac.calls[0].received.len(), 1, "client {i} got its echo reply");
        }
    }

    #[test]
    fn a_wrong_psk_gets_no_child_sa() {
        let local: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let quick = quick_config(EspEncapsulation::None, Ipv4Addr::UNSPECIFIED, SERVER);
        let mut ike = IkeV1Server::new(
            Phase1Config::new(b"another secret", Identity::ipv4(SERVER)),
            quick,
            local,
            &mut ChaCha20Rng::seed_from_u64(8),
        );
        let mut cfg = Phase1Config::new(PSK, Identity::ipv4(Ipv4Addr::new(10, 0, 0, 1)));
        cfg.max_retransmits = 1;
        let now = Instant::now();
        let mut p1 = Phase1::initiate(cfg, ChaCha20Rng::seed_from_u64(1), now).unwrap();
        let from: SocketAddr = "203.0.113.7:500".parse().unwrap();
        let mut buf = Vec::new();
        let mut server_child = false;
        for _ in 0..10 {
            while let Some(t) = p1.poll_transmit(now, &mut buf) {
                let m = buf[buf.len() - t.size..].to_vec();
                buf.clear();
                let _ = ike.handle_input(now, from, &m);
            }
            while let Some(t) = ike.poll_transmit() {
                let _ = p1.handle_input(now, &t.message);
            }
            while let Some(ev) = ike.poll_event() {
                server_child |= matches!(ev, IkeEvent::ChildSa { .. } | IkeEvent::PeerUp { .. });
            }
        }
        assert!(!server_child, "no peer may come up with the wrong PSK");
        assert!(
            !std::iter::from_fn(|| p1.poll_event()).any(|e| matches!(e, phase1::Event::Established { .. }))
        );
    }
}

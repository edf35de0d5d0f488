//! Dead Peer Detection across the compositions, on a virtual clock: while no ESP flows, the
//! l2sec client and the l2sec server (IkeV1Server + IpsecLns) keep the connection by
//! answering each other's R-U-THERE, and a client that vanishes is declared dead.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use l2sec::client::{ClientConfig, ClientEvent, ClientTransmit, L2tpIpsecClient};
use l2sec::driver::ServerConfig;
use l2sec::ike_v1::{IkeEvent, IkeV1Server};
use l2sec::ipsec_lns::{IpsecLns, Received};
use l2sec::lns::LnsEvent;
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const PSK: &[u8] = b"dpd test psk";

struct World {
    now: Instant,
    ike: IkeV1Server,
    data: IpsecLns<ChaCha20Rng>,
    users: ChapSecrets,
    client: L2tpIpsecClient,
    nat: SocketAddr,
    client_up: bool,
    gone: Vec<bool>,
    /// When false, the network drops everything (the client vanished).
    connected: bool,
    /// When false, ESP is dropped (IKE still passes): only DPD shows the peer is alive.
    esp: bool,
}

impl World {
    fn new() -> Self {
        let server: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let users = ChapSecrets::parse("alice * alicepass *\n").unwrap();
        let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
        let cfg = ServerConfig::new(server.ip(), 500, 4500, PSK, users.clone(), pool, [None, None]);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let now = Instant::now();
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 500);
        let client_cfg = ClientConfig::new(local, server, PSK, "alice", "alicepass");
        World {
            now,
            ike: IkeV1Server::new(cfg.phase1, cfg.quick, server, &mut rng),
            data: IpsecLns::new(cfg.lns, ChaCha20Rng::seed_from_u64(2), false),
            users,
            client: L2tpIpsecClient::connect(client_cfg, &mut ChaCha20Rng::seed_from_u64(3), now).unwrap(),
            nat: "203.0.113.7:4500".parse().unwrap(),
            client_up: false,
            gone: Vec::new(),
            connected: true,
            esp: true,
        }
    }

    fn pump(&mut self) {
        let now = self.now;
        for _ in 0..100 {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                if !self.connected {
                    continue;
                }
                match t {
                    ClientTransmit::Ike { udp_encapsulated, message } => {
                        let from =
                            if udp_encapsulated { self.nat } else { SocketAddr::new(self.nat.ip(), 500) };
                        let _ = self.ike.handle_input(now, from, &message);
                    }
                    ClientTransmit::Esp(_) if !self.esp => {}
                    ClientTransmit::Esp(mut p) => {
                        if let Ok(Received::Control { peer } | Received::Ip { peer, .. }) =
                            self.data.handle_udp4500(now, self.nat, &mut p)
                            && let l2sec::ipsec_lns::L2tpPeer::Ipsec { conn, .. } = peer
                        {
                            self.ike.traffic_seen(now, conn);
                        }
                    }
                }
            }
            while let Some(ev) = self.ike.poll_event() {
                match ev {
                    IkeEvent::ChildSa { conn, remote, child } => {
                        let (i, o) = child.esp_params().unwrap();
                        self.data.install_child_sa(conn, remote, &i, &o).unwrap();
                    }
                    IkeEvent::PeerGone { conn, dead, .. } => {
                        self.data.remove_connection(conn);
                        self.gone.push(dead);
                    }
                    _ => {}
                }
            }
            while let Some(t) = self.ike.poll_transmit() {
                moved = true;
                if self.connected {
                    let _ = self.client.handle_ike(now, &t.message);
                }
            }
            while let Some(ev) = self.data.poll_event() {
                if let LnsEvent::Authenticate { session, request } = ev {
                    let v = self.users.verify("l2sec", &request);
                    self.data.answer_auth(now, session, request.id, v).unwrap();
                }
            }
            let mut buf = Vec::new();
            while let Some(t) = self.data.poll_transmit(now, &mut buf) {
                moved = true;
                if self.connected && self.esp {
                    let mut p = buf[t.start..t.start + t.len].to_vec();
                    let _ = self.client.handle_udp4500(now, &mut p);
                }
            }
            while let Some(ev) = self.client.poll_event() {
                self.client_up |= matches!(ev, ClientEvent::PppUp { .. });
            }
            if !moved {
                return;
            }
        }
    }

    fn advance(&mut self, total: Duration) {
        let end = self.now + total;
        while self.now < end {
            self.now += Duration::from_millis(500);
            self.ike.handle_timeout(self.now);
            self.data.handle_timeout(self.now);
            self.client.handle_timeout(self.now);
            self.pump();
        }
    }
}

#[test]
fn dpd_keeps_a_live_client_and_declares_a_vanished_one_dead() {
    let mut w = World::new();
    w.pump();
    w.advance(Duration::from_secs(3));
    assert!(w.client_up, "the tunnel came up");
    // Two minutes without ESP (so no L2TP HELLO or PPP echo reaches the server): only
    // Dead Peer Detection shows the client is alive, and its R-U-THERE are answered.
    w.esp = false;
    w.advance(Duration::from_secs(120));
    assert!(w.gone.is_empty(), "a live client was removed: {:?}", w.gone);
    w.esp = true;
    // The client vanishes: the server's probes go unanswered.
    w.connected = false;
    w.advance(Duration::from_secs(120));
    assert_eq!(w.gone, [true], "DPD declared the vanished client dead");
}

//! The whole stack in one process on a virtual clock: N l2sec clients (IKEv1 initiator,
//! ESP, LAC, PPP peer) against the l2sec server (IkeV1Server + IpsecLns + the virtual
//! network), all behind one NAT address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use l2sec::client::{ClientConfig, ClientEvent, ClientTransmit, L2tpIpsecClient};
use l2sec::driver::ServerConfig;
use l2sec::ike_v1::{IkeEvent, IkeV1Server};
use l2sec::ipsec_lns::{IpsecLns, L2tpPeer, Received};
use l2sec::lns::LnsEvent;
use l2sec::pool::AddressPool;
use l2sec::virtual_net;
use l2sec_ppp::Datagram;
use l2sec_ppp::secrets::ChapSecrets;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

pub const PSK: &[u8] = b"stack test psk";
pub const SERVER_TUNNEL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// One client and what happened to it.
pub struct Peer {
    pub client: L2tpIpsecClient,
    pub address: Option<Ipv4Addr>,
    pub failed: Vec<String>,
    pub replies: usize,
}

pub struct Stack {
    pub now: Instant,
    pub ike: IkeV1Server,
    pub data: IpsecLns<ChaCha20Rng>,
    users: ChapSecrets,
    pub peers: Vec<Peer>,
    /// The one outer address every client appears from.
    pub nat: SocketAddr,
    /// Connections the server removed, with `dead` (DPD) or not (Delete).
    pub gone: Vec<bool>,
    /// When false, the network drops everything.
    pub connected: bool,
    /// When false, ESP is dropped (IKE still passes).
    pub esp: bool,
}

impl Stack {
    pub fn new(clients: usize, pool: &str) -> Self {
        let server: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let mut secrets = String::new();
        for i in 0..clients {
            secrets.push_str(&format!("user{i} * pass{i} *\n"));
        }
        let users = ChapSecrets::parse(&secrets).unwrap();
        let pool = AddressPool::parse_cidr(pool).unwrap().unwrap();
        let cfg = ServerConfig::new(server.ip(), 500, 4500, PSK, users.clone(), pool, [None, None]);
        let now = Instant::now();
        let peers = (0..clients)
            .map(|i| {
                let local = SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250 + 2) as u8)),
                    500,
                );
                let c = ClientConfig::new(local, server, PSK, &format!("user{i}"), &format!("pass{i}"));
                let client =
                    L2tpIpsecClient::connect(c, &mut ChaCha20Rng::seed_from_u64(1000 + i as u64), now)
                        .unwrap();
                Peer { client, address: None, failed: Vec::new(), replies: 0 }
            })
            .collect();
        Stack {
            now,
            ike: IkeV1Server::new(cfg.phase1, cfg.quick, server, &mut ChaCha20Rng::seed_from_u64(1)),
            data: IpsecLns::new(cfg.lns, ChaCha20Rng::seed_from_u64(2), false),
            users,
            peers,
            nat: "203.0.113.7:4500".parse().unwrap(),
            gone: Vec::new(),
            connected: true,
            esp: true,
        }
    }

    /// Moves every datagram until the network is quiet.
    pub fn pump(&mut self) {
        let now = self.now;
        let mut buf = Vec::new();
        let mut reply = Vec::new();
        for _ in 0..1000 {
            let mut moved = false;
            // Echo replies from the virtual network, delivered after the client loop.
            let mut replies: Vec<Vec<u8>> = Vec::new();
            // Clients -> server. The server answers by address, so replies are routed to
            // the client by SPI (ESP) or initiator cookie (IKE) below.
            for peer in &mut self.peers {
                while let Some(t) = peer.client.poll_transmit() {
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
                        ClientTransmit::Esp(mut p) => match self.data.handle_udp4500(now, self.nat, &mut p) {
                            Ok(Received::Control { peer: L2tpPeer::Ipsec { conn, .. } }) => {
                                self.ike.traffic_seen(now, conn);
                            }
                            Ok(Received::Ip {
                                peer: L2tpPeer::Ipsec { conn, .. },
                                packet: Datagram::Ipv4(p),
                            }) => {
                                self.ike.traffic_seen(now, conn);
                                if virtual_net::answer(p, SERVER_TUNNEL, &mut reply) {
                                    let t = self.data.send_ip(&reply, &mut buf).unwrap();
                                    replies.push(buf[t.start..t.start + t.len].to_vec());
                                }
                            }
                            _ => {}
                        },
                    }
                }
            }
            for mut r in replies {
                deliver_esp(&mut self.peers_view(), now, &mut r);
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
                    // The initiator cookie names the client.
                    for peer in &mut self.peers {
                        if peer.client.owns_ike(&t.message) {
                            let _ = peer.client.handle_ike(now, &t.message);
                        }
                    }
                }
            }
            while let Some(ev) = self.data.poll_event() {
                if let LnsEvent::Authenticate { session, request } = ev {
                    let v = self.users.verify("l2sec", &request);
                    self.data.answer_auth(now, session, request.id, v).unwrap();
                }
            }
            while let Some(t) = self.data.poll_transmit(now, &mut buf) {
                moved = true;
                if self.connected && self.esp {
                    let mut p = buf[t.start..t.start + t.len].to_vec();
                    deliver_esp(&mut self.peers_view(), now, &mut p);
                }
            }
            for peer in &mut self.peers {
                while let Some(ev) = peer.client.poll_event() {
                    match ev {
                        ClientEvent::PppUp { address, .. } => peer.address = Some(address),
                        ClientEvent::Failed(e) => peer.failed.push(e),
                        _ => {}
                    }
                }
                while let Some(p) = peer.client.poll_ip() {
                    if p.len() > 20 && p[9] == 1 && p[20] == 0 {
                        peer.replies += 1;
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the network never went quiet");
    }

    fn peers_view(&mut self) -> Vec<&mut L2tpIpsecClient> {
        self.peers.iter_mut().map(|p| &mut p.client).collect()
    }

    /// Advances the clock in half-second steps, running every timer and the network.
    pub fn advance(&mut self, total: Duration) {
        let end = self.now + total;
        while self.now < end {
            self.now += Duration::from_millis(500);
            self.ike.handle_timeout(self.now);
            self.data.handle_timeout(self.now);
            for p in &mut self.peers {
                p.client.handle_timeout(self.now);
            }
            self.pump();
        }
    }

    /// Client `i` pings the server's tunnel address.
    pub fn ping(&mut self, i: usize, seq: u16) {
        let me = self.peers[i].address.expect("client is up");
        let packet = l2sec::client::icmp_echo_request(me, SERVER_TUNNEL, 7, seq, b"stack");
        self.peers[i].client.send_ip(&packet).unwrap();
    }
}

/// An ESP packet from the server to whichever client owns its SPI.
fn deliver_esp(clients: &mut [&mut L2tpIpsecClient], now: Instant, packet: &mut [u8]) {
    let Ok(spi) = l2sec_esp::peek_spi(packet) else { return };
    if let Some(c) = clients.iter_mut().find(|c| c.inbound_spi() == Some(spi)) {
        let _ = c.handle_udp4500(now, packet);
    }
}

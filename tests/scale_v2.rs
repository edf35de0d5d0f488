//! Many IKEv1 and IKEv2 clients behind one NAT address at once, on a virtual clock: the
//! server's IKE datagrams go to IkeV1Server or IkeV2Server by the header's major version,
//! both hand their Child SAs to one IpsecLns, and every client gets its own IKE SA, ESP
//! SAs, L2TP session and pool address, and pings through the tunnel. Then every IKEv2
//! client deletes its IKE SA and its session and address are freed.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use l2sec::client::{ClientConfig, ClientEvent, ClientTransmit, IkeVersion, L2tpIpsecClient};
use l2sec::driver::ServerConfig;
use l2sec::ike_v1::{IkeEvent, IkeV1Server};
use l2sec::ike_v2::{IkeV2Event, IkeV2Server};
use l2sec::ipsec_lns::{IpsecLns, L2tpPeer, Received};
use l2sec::lns::LnsEvent;
use l2sec::pool::AddressPool;
use l2sec::virtual_net;
use l2sec_ppp::Datagram;
use l2sec_ppp::secrets::ChapSecrets;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const PSK: &[u8] = b"mixed scale psk";
const SERVER_TUNNEL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

struct Peer {
    client: L2tpIpsecClient,
    ike: IkeVersion,
    address: Option<Ipv4Addr>,
    failed: Vec<String>,
    replies: usize,
}

struct Mixed {
    now: Instant,
    v1: IkeV1Server,
    v2: IkeV2Server,
    data: IpsecLns<ChaCha20Rng>,
    users: ChapSecrets,
    peers: Vec<Peer>,
    nat: SocketAddr,
    gone: usize,
    sessions_down: usize,
}

impl Mixed {
    fn new(clients: usize) -> Self {
        let server: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let secrets: String = (0..clients).map(|i| format!("user{i} * pass{i} *\n")).collect();
        let users = ChapSecrets::parse(&secrets).unwrap();
        let pool = AddressPool::parse_cidr("198.51.100.0/23").unwrap().unwrap();
        let cfg = ServerConfig::new(server.ip(), 500, 4500, PSK, users.clone(), pool, [None, None]);
        let now = Instant::now();
        let peers = (0..clients)
            .map(|i| {
                let local = SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250 + 2) as u8)),
                    500,
                );
                let mut c = ClientConfig::new(local, server, PSK, &format!("user{i}"), &format!("pass{i}"));
                let ike = if i % 2 == 0 { IkeVersion::V1 } else { IkeVersion::V2 };
                c.ike = ike;
                let client =
                    L2tpIpsecClient::connect(c, &mut ChaCha20Rng::seed_from_u64(5000 + i as u64), now)
                        .unwrap();
                Peer { client, ike, address: None, failed: Vec::new(), replies: 0 }
            })
            .collect();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        Mixed {
            now,
            v1: IkeV1Server::new(cfg.phase1, cfg.quick, server, &mut rng),
            v2: IkeV2Server::new(cfg.ikev2, server, &mut rng),
            data: IpsecLns::new(cfg.lns, ChaCha20Rng::seed_from_u64(2), false),
            users,
            peers,
            nat: "203.0.113.7:4500".parse().unwrap(),
            gone: 0,
            sessions_down: 0,
        }
    }

    fn pump(&mut self) {
        let now = self.now;
        let mut buf = Vec::new();
        let mut reply = Vec::new();
        for _ in 0..1000 {
            let mut moved = false;
            let mut to_clients: Vec<Vec<u8>> = Vec::new();
            for peer in &mut self.peers {
                while let Some(t) = peer.client.poll_transmit() {
                    moved = true;
                    match t {
                        ClientTransmit::Ike { udp_encapsulated, message } => {
                            let from =
                                if udp_encapsulated { self.nat } else { SocketAddr::new(self.nat.ip(), 500) };
                            // One port, two versions: the header's major version decides.
                            let _ = match message.get(17).map(|v| v >> 4) {
                                Some(1) => self.v1.handle_input(now, from, &message),
                                Some(2) => self.v2.handle_input(now, from, &message, udp_encapsulated),
                                _ => panic!("not IKE"),
                            };
                        }
                        ClientTransmit::Esp(mut p) => match self.data.handle_udp4500(now, self.nat, &mut p) {
                            Ok(Received::Ip {
                                peer: L2tpPeer::Ipsec { conn, .. },
                                packet: Datagram::Ipv4(p),
                            }) => {
                                self.v1.traffic_seen(now, conn);
                                self.v2.traffic_seen(now, conn);
                                if virtual_net::answer(p, SERVER_TUNNEL, &mut reply) {
                                    let t = self.data.send_ip(&reply, &mut buf).unwrap();
                                    to_clients.push(buf[t.start..t.start + t.len].to_vec());
                                }
                            }
                            Ok(Received::Control { peer: L2tpPeer::Ipsec { conn, .. } }) => {
                                self.v1.traffic_seen(now, conn);
                                self.v2.traffic_seen(now, conn);
                            }
                            _ => {}
                        },
                    }
                }
            }
            while let Some(ev) = self.v1.poll_event() {
                if let IkeEvent::ChildSa { conn, remote, child } = ev {
                    let (i, o) = child.esp_params().unwrap();
                    self.data.install_child_sa(conn, remote, &i, &o).unwrap();
                }
            }
            while let Some(ev) = self.v2.poll_event() {
                match ev {
                    IkeV2Event::ChildSa { conn, remote, child } => {
                        let (i, o) = child.esp_params().unwrap();
                        self.data.install_child_sa(conn, remote, &i, &o).unwrap();
                    }
                    IkeV2Event::PeerGone { conn, dead, .. } => {
                        self.data.end_connection(now, conn, dead);
                        self.gone += 1;
                    }
                    _ => {}
                }
            }
            let mut ike_out: Vec<Vec<u8>> = Vec::new();
            while let Some(t) = self.v1.poll_transmit() {
                ike_out.push(t.message);
            }
            while let Some(t) = self.v2.poll_transmit() {
                ike_out.push(t.message);
            }
            for m in ike_out {
                moved = true;
                for peer in &mut self.peers {
                    if peer.client.owns_ike(&m) {
                        let _ = peer.client.handle_ike(now, &m);
                    }
                }
            }
            while let Some(ev) = self.data.poll_event() {
                match ev {
                    LnsEvent::Authenticate { session, request } => {
                        let v = self.users.verify("l2sec", &request);
                        self.data.answer_auth(now, session, request.id, v).unwrap();
                    }
                    LnsEvent::SessionDown { .. } => self.sessions_down += 1,
                    _ => {}
                }
            }
            while let Some(t) = self.data.poll_transmit(now, &mut buf) {
                moved = true;
                to_clients.push(buf[t.start..t.start + t.len].to_vec());
            }
            for mut p in to_clients {
                let Ok(spi) = l2sec_esp::peek_spi(&p) else { continue };
                if let Some(peer) = self.peers.iter_mut().find(|c| c.client.inbound_spi() == Some(spi)) {
                    let _ = peer.client.handle_udp4500(now, &mut p);
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

    fn advance(&mut self, total: Duration) {
        let end = self.now + total;
        while self.now < end {
            self.now += Duration::from_millis(500);
            self.v1.handle_timeout(self.now);
            self.v2.handle_timeout(self.now);
            self.data.handle_timeout(self.now);
            for p in &mut self.peers {
                p.client.handle_timeout(self.now);
            }
            self.pump();
        }
    }
}

#[test]
fn a_hundred_ikev1_and_a_hundred_ikev2_clients_from_one_address() {
    let n = 200;
    let t = Instant::now();
    let mut w = Mixed::new(n);
    w.pump();
    w.advance(Duration::from_secs(2));
    let setup = t.elapsed();
    let failed: Vec<_> = w
        .peers
        .iter()
        .enumerate()
        .filter(|(_, p)| p.address.is_none())
        .map(|(i, p)| (i, p.ike, p.failed.clone()))
        .collect();
    assert!(
        failed.is_empty(),
        "{} clients did not come up: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    let addresses: HashSet<_> = w.peers.iter().map(|p| p.address.unwrap()).collect();
    assert_eq!(addresses.len(), n, "every client has its own address");
    assert_eq!((w.v1.peer_count(), w.v2.sa_count()), (n / 2, n / 2));
    assert_eq!(w.data.lns().session_count(), n);
    for (i, p) in w.peers.iter_mut().enumerate() {
        let me = p.address.unwrap();
        p.client
            .send_ip(&l2sec::client::icmp_echo_request(me, SERVER_TUNNEL, 7, i as u16, b"mixed"))
            .unwrap();
    }
    w.pump();
    let missing: Vec<usize> = (0..n).filter(|&i| w.peers[i].replies != 1).collect();
    assert!(missing.is_empty(), "no echo reply for clients {missing:?}");
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    eprintln!(
        "{n} clients (half IKEv1, half IKEv2) up in {setup:?} ({build} build, both ends in one thread)"
    );

    // Every IKEv2 client deletes its IKE SA: the server frees exactly their sessions.
    let now = w.now;
    for p in w.peers.iter_mut().filter(|p| p.ike == IkeVersion::V2) {
        p.client.delete_ike_sa(now).unwrap();
    }
    w.pump();
    assert_eq!(w.gone, n / 2);
    assert_eq!(w.v2.sa_count(), 0);
    // PPP's Terminate-Request retries run out, then the sessions end.
    w.advance(Duration::from_secs(10));
    assert_eq!(w.sessions_down, n / 2);
    assert_eq!(w.data.lns().session_count(), n / 2);
    assert_eq!(w.data.lns().addresses_in_use(), n / 2);
}

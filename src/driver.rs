//! The I/O around the sans-IO server: UDP sockets for IKE, NAT-T (ESP in UDP) and,
//! optionally, plaintext L2TP, a clock, and the operating system's randomness.
//!
//! [`Server`] binds the sockets and runs [`IkeV1Server`] and [`IpsecLns`] with the
//! built-in [`virtual_net`](crate::virtual_net) behind the server's tunnel address. It polls
//! non-blocking sockets and sleeps a millisecond when idle: simple and portable, and good
//! for the demo and the tests; an event-loop driver (epoll) is the next step.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use l2sec_esp::natt::NON_ESP_MARKER;
use l2sec_ike::v1::phase1::Phase1Config;
use l2sec_ike::v1::quick::QuickModeConfig;
use l2sec_ppp::Datagram;
use l2sec_ppp::secrets::ChapSecrets;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::ike_v1::{IkeEvent, IkeV1Server};
use crate::ipsec_lns::{IpsecLns, Received};
use crate::lns::{LnsConfig, LnsEvent};

mod accounting;
pub mod raw_esp;
mod session;
mod shutdown;
mod tun_sink;

pub use session::{ClientSession, PacketSink, SessionReport};
mod ikev2;

/// Where and how the server listens.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind.
    pub listen: IpAddr,
    /// IKE port (500 by default; tests use high ports).
    pub ike_port: u16,
    /// NAT-T port (4500 by default).
    pub natt_port: u16,
    /// Serve plaintext L2TP on this port too (only with `allow_plaintext_l2tp`).
    pub l2tp_port: Option<u16>,
    /// Phase 1: PSK, identity, proposals.
    pub phase1: Phase1Config,
    /// Quick Mode: ESP proposals for UDP/1701 transport mode.
    pub quick: QuickModeConfig,
    /// IKEv2 (answered on the same ports: each datagram goes to IKEv1 or IKEv2 by the
    /// major version in its header).
    pub ikev2: crate::ike_v2::IkeV2Config,
    /// L2TP, PPP and the address pool.
    pub lns: LnsConfig,
    /// Users (pppd `chap-secrets` format).
    pub users: ChapSecrets,
    /// The PPP authenticator name looked up in `users`.
    pub ppp_name: String,
    /// Authenticate users with these RADIUS servers instead of `users`.
    pub radius: Option<l2sec_radius_auth::ClientConfig>,
    /// Write Wireshark decryption tables (`ikev1_decryption_table`, `esp_sa`,
    /// `preferences`) for every SA into this directory: point `WIRESHARK_CONFIG_DIR` at it
    /// and a capture of any session decrypts. The files hold keys: keep them private.
    pub keylog: Option<std::path::PathBuf>,
    /// The outer path MTU from which each session's PPP MRU is computed (`None`: PPP's
    /// default 1500). See [`crate::mtu`].
    pub outer_mtu: Option<u16>,
    /// Clamp the MSS of TCP SYNs between the tunnel and a TUN device.
    pub mss_clamp: bool,
    /// Use this Linux TUN device as the packet sink instead of the virtual network.
    pub tun: Option<String>,
    /// Dead Peer Detection timing for every IKEv1 peer.
    pub dpd: l2sec_ike::v1::dpd::DpdConfig,
    /// IKEv1 peers that propose a pre-shared key to a server that authenticates with a
    /// certificate get this configuration ([`Self::use_certificate`] with `keep_psk`).
    pub phase1_psk_fallback: Option<Phase1Config>,
    /// Also speak ESP as IP protocol 50 (raw socket, needs root): the IKE servers stop
    /// forcing UDP encapsulation and NAT detection decides ([`raw_esp`]).
    pub raw_esp: bool,
}

impl ServerConfig {
    /// Authenticates both IKE servers with `auth` (our certificate, key and the CAs that
    /// client certificates must chain to), as ID_DER_ASN1_DN of our subject. IKEv2 clients
    /// must then present a certificate (an IKEv2 responder has one method, chosen before
    /// it learns the client's). With `keep_psk`, IKEv1 clients that propose the
    /// pre-shared key are still served with it; without, they are refused.
    pub fn use_certificate(&mut self, auth: l2sec_ike::cert::CertificateAuth, keep_psk: bool) {
        self.phase1_psk_fallback = keep_psk.then(|| self.phase1.clone());
        self.phase1.local_id = crate::cert::v1_identity(&auth);
        self.ikev2.template.local_id = crate::cert::v2_identity(&auth);
        self.ikev2.template.certificate = Some(auth.clone());
        self.phase1.certificate = Some(auth);
    }

    /// An L2TP/IPsec server with the usual defaults: IKEv1 PSK (Main Mode; AES-CBC with
    /// SHA1 or SHA2-256, MODP-2048), ESP transport mode for UDP/1701 with AES-128-CBC +
    /// HMAC-SHA1-96 (what built-in clients offer), AES-256-CBC + HMAC-SHA2-256-128 or
    /// AES-128-GCM-16, PPP with MS-CHAPv2 as `l2sec`, the first address of `pool` as the
    /// server's tunnel address, `dns` pushed over IPCP.
    pub fn new(
        listen: IpAddr,
        ike_port: u16,
        natt_port: u16,
        psk: &[u8],
        users: ChapSecrets,
        pool: crate::pool::AddressPool,
        dns: [Option<Ipv4Addr>; 2],
    ) -> Self {
        use l2sec_ike::child::{EspEncapsulation, EspEncryption, EspIntegrity, EspMode};
        use l2sec_ike::v1::phase1::Identity;
        use l2sec_ike::v1::quick::EspProposal;
        let tunnel_address = pool.first_host();
        let mut ppp = l2sec_ppp::Config::authenticator("l2sec");
        ppp.auth_methods = vec![l2sec_ppp::AuthMethod::MsChapV2];
        ppp.ipcp.local = Some(tunnel_address);
        ppp.ipcp.dns = dns;
        let id = match listen {
            IpAddr::V4(a) if !a.is_unspecified() => Identity::ipv4(a),
            _ => Identity::fqdn("l2sec"),
        };
        let id_v2 = match listen {
            a if !a.is_unspecified() => l2sec_ike::v2::ike_sa::Identity::ip(a),
            _ => l2sec_ike::v2::ike_sa::Identity::fqdn("l2sec"),
        };
        let proposal = |encryption, integrity| EspProposal {
            encryption,
            integrity,
            lifetime: Duration::from_secs(3600),
        };
        Self {
            listen,
            ike_port,
            natt_port,
            l2tp_port: None,
            phase1: Phase1Config::new(psk, id),
            ikev2: crate::ike_v2::IkeV2Config::new(psk, id_v2),
            quick: QuickModeConfig {
                proposals: vec![
                    proposal(EspEncryption::AesCbc { key_len: 16 }, EspIntegrity::HmacSha1_96),
                    proposal(EspEncryption::AesCbc { key_len: 32 }, EspIntegrity::HmacSha256_128),
                    proposal(EspEncryption::AesGcm16 { key_len: 16 }, EspIntegrity::None),
                ],
                mode: EspMode::Transport,
                encapsulation: EspEncapsulation::None,
                traffic_selectors: None,
                retransmit_timeout: Duration::from_secs(1),
                max_retransmits: 5,
                pfs_group: None,
                nat_oa: None,
            },
            lns: LnsConfig { l2tp: l2sec_l2tp::Config::default(), ppp, pool },
            users,
            ppp_name: "l2sec".into(),
            radius: None,
            keylog: None,
            outer_mtu: Some(1500),
            mss_clamp: true,
            tun: None,
            dpd: l2sec_ike::v1::dpd::DpdConfig::default(),
            phase1_psk_fallback: None,
            raw_esp: false,
        }
    }
}

/// Something that happened, for logs and `--events json`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A peer completed phase 1.
    IkeUp {
        /// Its address.
        remote: SocketAddr,
    },
    /// A peer deleted its SAs or was found dead; its connection is gone.
    IkeDown {
        /// Its address.
        remote: SocketAddr,
        /// Dead Peer Detection gave up on it (rather than a Delete from the peer).
        dead: bool,
    },
    /// A Child SA was installed.
    EspUp {
        /// The peer.
        remote: SocketAddr,
        /// Our inbound SPI.
        spi_in: u32,
        /// The peer's SPI (outbound).
        spi_out: u32,
    },
    /// A peer rekeyed its Child SA: the new pair carries the connection from now on;
    /// the old inbound SA stays until the peer deletes it (or it expires).
    EspRekeyed {
        /// The peer.
        remote: SocketAddr,
        /// Our inbound SPI of the replaced pair.
        old_spi_in: u32,
        /// Our new inbound SPI.
        spi_in: u32,
        /// The peer's new SPI (outbound).
        spi_out: u32,
    },
    /// An old Child SA of a connection that lives on (after a rekey) was removed.
    EspDown {
        /// The peer.
        remote: Option<SocketAddr>,
        /// Our inbound SPI of the removed pair.
        spi_in: u32,
    },
    /// A peer rekeyed (IKEv2) or re-authenticated (IKEv1 phase 1) its IKE SA; its
    /// connection and session stay.
    IkeRekeyed {
        /// The peer.
        remote: SocketAddr,
    },
    /// PPP authentication of a user succeeded or failed.
    PppAuth {
        /// The user name.
        user: String,
        /// The verdict.
        ok: bool,
    },
    /// IPCP is up: the client has its address.
    IpcpUp {
        /// The user.
        user: String,
        /// Its tunnel address.
        address: Ipv4Addr,
    },
    /// A session ended.
    SessionDown {
        /// The address it had.
        address: Option<Ipv4Addr>,
        /// Why (the first layer that ended it).
        cause: crate::lns::DownCause,
    },
    /// Something was refused or failed (a bad packet, a failed exchange).
    Error(String),
}

impl ServerEvent {
    /// The event as one JSON object (no trailing newline).
    #[must_use]
    pub fn to_json(&self) -> String {
        fn esc(s: &str) -> String {
            s.chars()
                .flat_map(|c| match c {
                    '"' => "\\\"".chars().collect::<Vec<_>>(),
                    '\\' => "\\\\".chars().collect(),
                    c if c.is_control() => format!("\\u{:04x}", c as u32).chars().collect(),
                    c => vec![c],
                })
                .collect()
        }
        match self {
            Self::IkeUp { remote } => format!(r#"{{"event":"ike_up","remote":"{remote}"}}"#),
            Self::IkeDown { remote, dead } => {
                format!(
                    r#"{{"event":"ike_down","remote":"{remote}","cause":"{}"}}"#,
                    if *dead { "dpd" } else { "delete" }
                )
            }
            Self::EspUp { remote, spi_in, spi_out } => {
                format!(
                    r#"{{"event":"esp_up","remote":"{remote}","spi_in":"{spi_in:08x}","spi_out":"{spi_out:08x}"}}"#
                )
            }
            Self::EspRekeyed { remote, old_spi_in, spi_in, spi_out } => {
                format!(
                    r#"{{"event":"esp_rekeyed","remote":"{remote}","old_spi_in":"{old_spi_in:08x}","spi_in":"{spi_in:08x}","spi_out":"{spi_out:08x}"}}"#
                )
            }
            Self::EspDown { remote, spi_in } => match remote {
                Some(r) => format!(r#"{{"event":"esp_down","remote":"{r}","spi_in":"{spi_in:08x}"}}"#),
                None => format!(r#"{{"event":"esp_down","spi_in":"{spi_in:08x}"}}"#),
            },
            Self::IkeRekeyed { remote } => format!(r#"{{"event":"ike_rekeyed","remote":"{remote}"}}"#),
            Self::PppAuth { user, ok } => {
                let e = if *ok { "ppp_auth_ok" } else { "ppp_auth_failed" };
                format!(r#"{{"event":"{e}","user":"{}"}}"#, esc(user))
            }
            Self::IpcpUp { user, address } => {
                format!(r#"{{"event":"ipcp_up","user":"{}","address":"{address}"}}"#, esc(user))
            }
            Self::SessionDown { address, cause } => match address {
                Some(a) => {
                    format!(r#"{{"event":"session_down","address":"{a}","cause":"{}"}}"#, cause.as_str())
                }
                None => format!(r#"{{"event":"session_down","cause":"{}"}}"#, cause.as_str()),
            },
            Self::Error(e) => format!(r#"{{"event":"error","message":"{}"}}"#, esc(e)),
        }
    }
}

/// RADIUS authentication: the sans-IO client, its source sockets (created as it asks for
/// them), and the PPP requests waiting for an answer.
#[derive(Debug)]
struct RadiusBackend {
    client: l2sec_radius_auth::Client<ChaCha20Rng>,
    sockets: Vec<UdpSocket>,
    pending: HashMap<
        l2sec_radius_auth::RequestHandle,
        (l2sec_l2tp::SessionHandle, l2sec_ppp::AuthRequestId, String),
    >,
    /// Accounting, when the configuration has accounting servers.
    accounting: Option<accounting::Accounting>,
}

/// The server: sockets plus the sans-IO machines.
#[derive(Debug)]
pub struct Server {
    ike_socket: UdpSocket,
    natt_socket: UdpSocket,
    l2tp_socket: Option<UdpSocket>,
    ike: IkeV1Server,
    ike2: crate::ike_v2::IkeV2Server,
    data: IpsecLns<ChaCha20Rng>,
    users: ChapSecrets,
    ppp_name: String,
    tunnel_address: Ipv4Addr,
    radius: Option<RadiusBackend>,
    keylog: Option<KeyLog>,
    /// The TUN device that replaces the virtual network, if any (tun_sink module).
    tun: Option<crate::tun::TunDevice>,
    /// ESP as IP protocol 50, when enabled (raw_esp module).
    raw_esp: Option<raw_esp::RawEspSocket>,
}

/// Wireshark's decryption tables, rewritten whole as SAs appear.
#[derive(Debug)]
struct KeyLog {
    dir: std::path::PathBuf,
    ikev1: Vec<zeroize::Zeroizing<String>>,
    ikev2: Vec<zeroize::Zeroizing<String>>,
    esp: Vec<zeroize::Zeroizing<String>>,
}

impl KeyLog {
    fn open(dir: std::path::PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("preferences"),
            "esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n",
        )?;
        let k = Self { dir, ikev1: Vec::new(), ikev2: Vec::new(), esp: Vec::new() };
        k.write()?;
        Ok(k)
    }

    fn write(&self) -> io::Result<()> {
        let ike = l2sec_ike::keylog::ikev1_decryption_table(self.ikev1.iter().map(|l| l.as_str()));
        std::fs::write(self.dir.join(l2sec_ike::keylog::IKEV1_DECRYPTION_TABLE), ike.as_bytes())?;
        self.write_ikev2()?;
        let mut esp = String::from(l2sec_ike::keylog::UAT_HEADER);
        for l in &self.esp {
            esp.push('\n');
            esp.push_str(l.as_str());
        }
        esp.push('\n');
        std::fs::write(self.dir.join("esp_sa"), zeroize::Zeroizing::new(esp).as_bytes())
    }
}

impl KeyLog {
    /// Adds a line to its table and rewrites the tables.
    fn add(&mut self, table: crate::client::KeyLogTable, line: zeroize::Zeroizing<String>) -> io::Result<()> {
        use crate::client::KeyLogTable;
        match table {
            KeyLogTable::Ikev1 => self.ikev1.push(line),
            KeyLogTable::Ikev2 => self.ikev2.push(line),
            KeyLogTable::Esp => self.esp.push(line),
        }
        self.write()
    }
}

fn os_seeded() -> io::Result<ChaCha20Rng> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(ChaCha20Rng::from_seed(seed))
}

fn udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = UdpSocket::bind(addr)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

impl Server {
    /// Binds the sockets. Fails if a port is taken.
    pub fn bind(config: ServerConfig) -> io::Result<Self> {
        let tunnel_address = config.lns.ppp.ipcp.local.unwrap_or(Ipv4Addr::new(198, 51, 100, 1));
        let tun = match config.tun.as_deref() {
            Some(name) => {
                let mtu = crate::mtu::conservative_mru(config.outer_mtu.unwrap_or(1500));
                let mut t =
                    crate::tun::TunDevice::open_server(name, tunnel_address, config.lns.pool.prefix(), mtu)
                        .map_err(|e| io::Error::new(e.kind(), format!("tun {name}: {e}")))?;
                t.set_clamp(config.mss_clamp.then_some(mtu));
                Some(t)
            }
            None => None,
        };
        let ike_socket = udp(SocketAddr::new(config.listen, config.ike_port))?;
        let natt_socket = udp(SocketAddr::new(config.listen, config.natt_port))?;
        let l2tp_socket = config.l2tp_port.map(|p| udp(SocketAddr::new(config.listen, p))).transpose()?;
        let mut rng = os_seeded()?;
        let local = ike_socket.local_addr()?;
        let raw_esp = config.raw_esp.then(|| raw_esp::RawEspSocket::open(config.listen)).transpose()?;
        let mut ike = IkeV1Server::new(config.phase1, config.quick, local, &mut rng);
        ike.set_dpd_config(config.dpd);
        ike.set_psk_fallback(config.phase1_psk_fallback);
        ike.set_raw_esp(config.raw_esp);
        let mut ikev2 = config.ikev2;
        if config.raw_esp {
            ikev2.force_encapsulation = false;
        }
        let ike2 = crate::ike_v2::IkeV2Server::new(ikev2, local, &mut rng);
        let mut data = IpsecLns::new(config.lns, os_seeded()?, l2tp_socket.is_some());
        data.set_outer_mtu(config.outer_mtu);
        let radius = match config.radius {
            Some(c) => Some(RadiusBackend {
                accounting: c
                    .servers
                    .iter()
                    .any(|s| s.role == l2sec_radius_auth::ServerRole::Accounting)
                    .then(|| accounting::Accounting::new(rand_core::Rng::next_u32(&mut rng))),
                client: l2sec_radius_auth::Client::new(c, os_seeded()?)
                    .map_err(|e| io::Error::other(e.to_string()))?,
                sockets: Vec::new(),
                pending: HashMap::new(),
            }),
            None => None,
        };
        Ok(Self {
            ike_socket,
            natt_socket,
            l2tp_socket,
            ike,
            ike2,
            data,
            users: config.users,
            ppp_name: config.ppp_name,
            tunnel_address,
            radius,
            keylog: config.keylog.map(KeyLog::open).transpose()?,
            tun,
            raw_esp,
        })
    }

    /// The bound IKE and NAT-T addresses.
    pub fn local_addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        Ok((self.ike_socket.local_addr()?, self.natt_socket.local_addr()?))
    }

    /// Runs until `stop` is set, reporting every event to `on_event`. Then call
    /// [`shutdown`](Self::shutdown) to hang the sessions up politely.
    pub fn run(&mut self, stop: &AtomicBool, on_event: impl FnMut(&ServerEvent)) -> io::Result<()> {
        self.run_until(|_| stop.load(Ordering::Relaxed), on_event)
    }

    /// Runs until `done` says so (asked before every round).
    fn run_until(
        &mut self,
        mut done: impl FnMut(&Self) -> bool,
        mut on_event: impl FnMut(&ServerEvent),
    ) -> io::Result<()> {
        let mut buf = vec![0u8; 65_536];
        let mut out = Vec::new();
        while !done(self) {
            let now = Instant::now();
            let mut busy = false;
            match self.ike_socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    busy = true;
                    self.ike_input(now, from, &buf[..n], false, &mut on_event);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match self.natt_socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    busy = true;
                    self.on_natt(now, from, &mut buf[..n], &mut out, &mut on_event)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if let Some(s) = &self.l2tp_socket {
                match s.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        busy = true;
                        match self.data.handle_udp1701(now, from, &buf[..n]) {
                            Ok(Received::Ip { packet: Datagram::Ipv4(p) | Datagram::Ipv6(p), .. }) => {
                                self.answer_ip(p, &mut out)?;
                            }
                            Ok(_) => {}
                            Err(e) => on_event(&ServerEvent::Error(format!("l2tp from {from}: {e}"))),
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            if let Some(r) = self.radius.as_mut() {
                for (i, socket) in r.sockets.iter().enumerate() {
                    match socket.recv_from(&mut buf) {
                        Ok((n, from)) => {
                            busy = true;
                            if let Err(e) = r.client.handle_input(now, i, from, &buf[..n]) {
                                on_event(&ServerEvent::Error(format!("radius from {from}: {e}")));
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                if r.client.poll_timeout().is_some_and(|t| t <= now) {
                    r.client.handle_timeout(now);
                }
            }
            if self.ike.poll_timeout().is_some_and(|t| t <= now) {
                self.ike.handle_timeout(now);
            }
            if self.data.poll_timeout().is_some_and(|t| t <= now) {
                self.data.handle_timeout(now);
            }
            busy |= self.read_tun(&mut out)?;
            busy |= self.read_raw_esp(now, &mut buf, &mut out, &mut on_event)?;
            self.flush(now, &mut out, &mut on_event)?;
            if !busy {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
    }

    fn on_natt(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &mut [u8],
        out: &mut Vec<u8>,
        on_event: &mut impl FnMut(&ServerEvent),
    ) -> io::Result<()> {
        match self.data.handle_udp4500(now, from, datagram) {
            Ok(Received::Ike(message)) => self.ike_input(now, from, message, true, on_event),
            Ok(Received::Ip { peer, packet }) => {
                self.seen(now, peer);
                let (Datagram::Ipv4(p) | Datagram::Ipv6(p)) = packet;
                self.answer_ip(p, out)?;
            }
            Ok(Received::Control { peer }) => self.seen(now, peer),
            Ok(_) => {}
            Err(e) => on_event(&ServerEvent::Error(format!("esp from {from}: {e}"))),
        }
        Ok(())
    }

    /// Authenticated traffic from an IPsec peer postpones its Dead Peer Detection probe.
    fn seen(&mut self, now: Instant, peer: crate::ipsec_lns::L2tpPeer) {
        if let crate::ipsec_lns::L2tpPeer::Ipsec { conn, .. } = peer {
            self.ike.traffic_seen(now, conn);
            self.ike2.traffic_seen(now, conn);
        }
    }

    /// IP from a client: the virtual network answers echo requests to the server.
    fn answer_ip(&mut self, packet: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        if self.tun.is_some() {
            return self.write_tun(packet);
        }
        let mut reply = Vec::new();
        if (crate::virtual_net::answer(packet, self.tunnel_address, &mut reply)
            || crate::virtual_net::answer_v6(packet, &mut reply))
            && let Ok(t) = self.data.send_ip(&reply, out)
        {
            self.send_data(t, out)?;
        }
        Ok(())
    }

    fn send_data(&self, t: crate::ipsec_lns::OuterTransmit, buf: &[u8]) -> io::Result<()> {
        let bytes = &buf[t.start..t.start + t.len];
        if t.plaintext {
            let socket = self.l2tp_socket.as_ref().unwrap_or(&self.natt_socket);
            return socket.send_to(bytes, t.destination).map(|_| ());
        }
        self.send_esp(bytes, t.destination, t.raw_esp)
    }

    fn flush(
        &mut self,
        now: Instant,
        out: &mut Vec<u8>,
        on_event: &mut impl FnMut(&ServerEvent),
    ) -> io::Result<()> {
        while let Some(t) = self.ike.poll_transmit() {
            if t.udp_encapsulated {
                let mut m = NON_ESP_MARKER.to_vec();
                m.extend_from_slice(&t.message);
                self.natt_socket.send_to(&m, t.destination)?;
            } else {
                self.ike_socket.send_to(&t.message, t.destination)?;
            }
        }
        while let Some(ev) = self.ike.poll_event() {
            match ev {
                IkeEvent::PeerUp { remote, keylog, .. } => {
                    if let Some(k) = self.keylog.as_mut() {
                        k.ikev1.push(keylog);
                        k.write()?;
                    }
                    on_event(&ServerEvent::IkeUp { remote });
                }
                IkeEvent::PeerRekeyed { remote, keylog, .. } => {
                    if let Some(k) = self.keylog.as_mut() {
                        k.ikev1.push(keylog);
                        k.write()?;
                    }
                    on_event(&ServerEvent::IkeRekeyed { remote });
                }
                IkeEvent::ChildSa { conn, remote, child } => {
                    if let Some((spi_in, spi_out)) = self.install_child(conn, remote, &child, on_event)? {
                        on_event(&ServerEvent::EspUp { remote, spi_in, spi_out });
                    }
                }
                IkeEvent::ChildSaRekeyed { conn, remote, old_spi_in, child } => {
                    if let Some((spi_in, spi_out)) = self.install_child(conn, remote, &child, on_event)? {
                        on_event(&ServerEvent::EspRekeyed { remote, old_spi_in, spi_in, spi_out });
                    }
                }
                IkeEvent::ChildSaRemoved { conn, spi_in } => {
                    self.data.remove_inbound_sa(spi_in);
                    on_event(&ServerEvent::EspDown { remote: self.data.remote_of(conn), spi_in });
                }
                IkeEvent::PeerGone { conn, remote, dead } => {
                    self.data.end_connection(now, conn, dead);
                    on_event(&ServerEvent::IkeDown { remote, dead });
                }
                IkeEvent::Failed { remote, error } => {
                    on_event(&ServerEvent::Error(format!("ike with {remote}: {error}")))
                }
            }
        }
        self.flush_ike_v2(now, on_event)?;
        while let Some(ev) = self.data.poll_event() {
            match ev {
                LnsEvent::Authenticate { session, request } => {
                    let user = String::from_utf8_lossy(&request.username).into_owned();
                    if let Some(r) = self.radius.as_mut() {
                        // Ask RADIUS; the answer comes back as a RADIUS event (flush_radius).
                        let asked = crate::radius_ppp::access_request(&request)
                            .map(|ar| r.client.authenticate(now, ar));
                        match asked {
                            Some(Ok(handle)) => {
                                r.pending.insert(handle, (session, request.id, user));
                                continue;
                            }
                            Some(Err(e)) => on_event(&ServerEvent::Error(format!("radius: {e}"))),
                            None => on_event(&ServerEvent::Error(format!(
                                "radius: method not supported for {user}"
                            ))),
                        }
                        on_event(&ServerEvent::PppAuth { user, ok: false });
                        let _ =
                            self.data.answer_auth(now, session, request.id, crate::radius_ppp::verdict(None));
                        continue;
                    }
                    let verdict = self.users.verify(&self.ppp_name, &request);
                    let ok = matches!(verdict, l2sec_ppp::AuthVerdict::Accept(_));
                    on_event(&ServerEvent::PppAuth { user, ok });
                    if let Err(e) = self.data.answer_auth(now, session, request.id, verdict) {
                        on_event(&ServerEvent::Error(e.to_string()));
                    }
                }
                LnsEvent::SessionUp { session, peer, username, address } => {
                    self.account_start(now, session, peer, &username, address, on_event);
                    on_event(&ServerEvent::IpcpUp {
                        user: String::from_utf8_lossy(&username).into_owned(),
                        address,
                    });
                }
                LnsEvent::SessionDown { session, address, usage } => {
                    self.account_stop(now, session, &usage, on_event);
                    on_event(&ServerEvent::SessionDown { address, cause: usage.cause })
                }
                _ => {}
            }
        }
        self.flush_radius(now, on_event)?;
        while let Some(t) = self.data.poll_transmit(now, out) {
            self.send_data(t, out)?;
        }
        Ok(())
    }

    /// Sends what the RADIUS client has to send and turns its answers into PPP verdicts.
    fn flush_radius(&mut self, now: Instant, on_event: &mut impl FnMut(&ServerEvent)) -> io::Result<()> {
        let Some(r) = self.radius.as_mut() else { return Ok(()) };
        let mut buf = Vec::new();
        while let Some(t) = r.client.poll_transmit(now, &mut buf) {
            while r.sockets.len() <= t.socket {
                let any = if t.destination.is_ipv4() {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                };
                r.sockets.push(udp(SocketAddr::new(any, 0))?);
            }
            r.sockets[t.socket].send_to(&buf[buf.len() - t.len..], t.destination)?;
            buf.clear();
        }
        while let Some(ev) = r.client.poll_event() {
            let (handle, reply) = match ev {
                l2sec_radius_auth::Event::Reply { handle, reply, .. } => (handle, Some(reply)),
                l2sec_radius_auth::Event::Timeout { handle }
                | l2sec_radius_auth::Event::Failed { handle, .. } => (handle, None),
                other => {
                    on_event(&ServerEvent::Error(format!("radius: {other:?}")));
                    continue;
                }
            };
            let Some((session, id, user)) = r.pending.remove(&handle) else { continue };
            if let (Some(acct), Some(l2sec_radius_auth::Reply::AccessAccept(a))) =
                (r.accounting.as_mut(), &reply)
            {
                acct.accepted(session, a.class.clone());
            }
            let verdict = crate::radius_ppp::verdict(reply.as_ref());
            let ok = matches!(verdict, l2sec_ppp::AuthVerdict::Accept(_));
            on_event(&ServerEvent::PppAuth { user, ok });
            if let Err(e) = self.data.answer_auth(now, session, id, verdict) {
                on_event(&ServerEvent::Error(e.to_string()));
            }
        }
        Ok(())
    }
}

/// What a client run achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientReport {
    /// The tunnel address the server assigned.
    pub address: Option<Ipv4Addr>,
    /// The server's tunnel address.
    pub peer: Option<Ipv4Addr>,
    /// Echo requests sent through the tunnel.
    pub pings_sent: u16,
    /// Echo replies received.
    pub pings_received: u16,
}

/// A client connection to make: see [`run_client`].
#[derive(Debug, Clone)]
pub struct ClientRun {
    /// The server's IKE address.
    pub server: SocketAddr,
    /// The server's NAT-T port (same host).
    pub natt_port: u16,
    /// The IPsec pre-shared key.
    pub psk: Vec<u8>,
    /// The PPP user.
    pub user: String,
    /// The PPP password.
    pub password: String,
    /// Ping this address (the server's tunnel address when `None`) this many times.
    pub ping: Option<(Option<Ipv4Addr>, u16)>,
    /// Give up after this long.
    pub timeout: Duration,
}

/// What a client adds to a [`ClientRun`]: certificate authentication, the PPP
/// authentication protocols it accepts, a key log.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Authenticate IKE (v1 and v2) with this certificate instead of the PSK, and accept
    /// only a server certificate that chains to its CAs and carries
    /// [`Self::server_name`]. Its `now` is refreshed before each connection.
    pub certificate: Option<l2sec_ike::cert::CertificateAuth>,
    /// The name the server's certificate must carry (a dNSName, rfc822Name or iPAddress
    /// subjectAltName, or the subject DN); `None`: the server's IP address.
    pub server_name: Option<l2sec_ike::cert::PeerName>,
    /// The PPP authentication protocols to accept, in preference order (`None`: all of
    /// MS-CHAPv2, CHAP-MD5 and PAP).
    pub auth: Option<Vec<l2sec_ppp::AuthMethod>>,
    /// Write Wireshark decryption tables for our SAs into this directory, as the server
    /// does ([`ServerConfig::keylog`]).
    pub keylog: Option<std::path::PathBuf>,
}

impl ClientOptions {
    /// Applies the options to the configuration of a connection to `server`.
    pub fn apply(&self, config: &mut crate::client::ClientConfig, server: SocketAddr) {
        if let Some(c) = &self.certificate {
            let mut auth = c.clone();
            auth.now = crate::cert::wall_clock();
            auth.expected_peer =
                Some(self.server_name.clone().unwrap_or(l2sec_ike::cert::PeerName::Ip(server.ip())));
            config.phase1.local_id = crate::cert::v1_identity(&auth);
            config.ikev2.local_id = crate::cert::v2_identity(&auth);
            config.ikev2.certificate = Some(auth.clone());
            config.phase1.certificate = Some(auth);
        }
        if let Some(a) = &self.auth {
            config.auth_methods.clone_from(a);
        }
        config.keylog = self.keylog.is_some();
    }
}

/// A client connection over UDP sockets: [`start`](Self::start) it, then call
/// [`step`](Self::step) in a loop; once [`address`](Self::address) is set, IP flows with
/// [`send_ip`](Self::send_ip) and [`poll_ip`](Self::poll_ip).
#[derive(Debug)]
pub struct ClientConnection {
    ike_socket: UdpSocket,
    natt_socket: UdpSocket,
    client: crate::client::L2tpIpsecClient,
    buf: Vec<u8>,
    address: Option<Ipv4Addr>,
    peer: Option<Ipv4Addr>,
    failure: Option<String>,
    keylog: Option<KeyLog>,
    /// ESP as IP protocol 50, with [`ClientConfig::raw_esp`](crate::client::ClientConfig::raw_esp).
    raw_esp: Option<raw_esp::RawEspSocket>,
}

impl ClientConnection {
    /// Opens the sockets and sends the first IKE message (IKEv1).
    pub fn start(run: &ClientRun) -> io::Result<Self> {
        Self::start_with(run, |_| {})
    }

    /// Opens the sockets and sends the first message of IKE version `ike`.
    pub fn start_ike(run: &ClientRun, ike: crate::client::IkeVersion) -> io::Result<Self> {
        Self::start_with(run, |c| c.ike = ike)
    }

    /// [`start`](Self::start), with a last say on the client's configuration (IKE version,
    /// DPD timing, proposals).
    pub fn start_with(
        run: &ClientRun,
        tweak: impl FnOnce(&mut crate::client::ClientConfig),
    ) -> io::Result<Self> {
        Self::start_with_options(run, &ClientOptions::default(), tweak)
    }

    /// [`start_with`](Self::start_with) with `options` (certificate, PPP
    /// authentication, key log) applied before `tweak`.
    pub fn start_with_options(
        run: &ClientRun,
        options: &ClientOptions,
        tweak: impl FnOnce(&mut crate::client::ClientConfig),
    ) -> io::Result<Self> {
        Self::start_inner(run, options, None, tweak)
    }

    /// [`start_with_options`](Self::start_with_options), continuing `keylog` (a previous
    /// connection's, so that a reconnecting client's tables keep every SA) if given.
    fn start_inner(
        run: &ClientRun,
        options: &ClientOptions,
        keylog: Option<KeyLog>,
        tweak: impl FnOnce(&mut crate::client::ClientConfig),
    ) -> io::Result<Self> {
        use crate::client::{ClientConfig, L2tpIpsecClient};
        let server = run.server;
        let any = SocketAddr::new(
            if server.is_ipv4() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { server.ip() },
            0,
        );
        let ike_socket = udp(any)?;
        ike_socket.connect(server)?;
        let natt_socket = udp(any)?;
        natt_socket.connect(SocketAddr::new(server.ip(), run.natt_port))?;
        let local = ike_socket.local_addr()?;
        let mut config = ClientConfig::new(local, server, &run.psk, &run.user, &run.password);
        options.apply(&mut config, server);
        tweak(&mut config);
        let keylog = match (keylog, &options.keylog) {
            (Some(k), Some(_)) => Some(k),
            (_, dir) => dir.clone().map(KeyLog::open).transpose()?,
        };
        let raw_esp = config.raw_esp.then(|| raw_esp::RawEspSocket::open(any.ip())).transpose()?;
        let client = L2tpIpsecClient::connect(config, &mut os_seeded()?, Instant::now())
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut c = Self {
            ike_socket,
            natt_socket,
            client,
            buf: vec![0u8; 65_536],
            address: None,
            peer: None,
            failure: None,
            keylog,
            raw_esp,
        };
        c.flush()?;
        Ok(c)
    }

    /// Our tunnel address, once PPP is up.
    #[must_use]
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.address
    }

    /// The server's tunnel address, once PPP is up.
    #[must_use]
    pub fn peer(&self) -> Option<Ipv4Addr> {
        self.peer
    }

    /// Why the last message from the server was refused, if one was (the likely cause
    /// when the tunnel does not come up: e.g. its certificate).
    #[must_use]
    pub fn last_refusal(&self) -> Option<&str> {
        self.client.last_refusal()
    }

    /// Why the connection failed, if it did.
    #[must_use]
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// One round: reads what arrived, runs due timers, reports events, sends what is
    /// pending. Returns true if anything arrived.
    pub fn step(&mut self, on_event: &mut impl FnMut(&crate::client::ClientEvent)) -> io::Result<bool> {
        use crate::client::ClientEvent;
        let now = Instant::now();
        let mut busy = false;
        for natt in [false, true] {
            let socket = if natt { &self.natt_socket } else { &self.ike_socket };
            match socket.recv(&mut self.buf) {
                Ok(n) => {
                    busy = true;
                    if natt {
                        let _ = self.client.handle_udp4500(now, &mut self.buf[..n]);
                    } else {
                        let _ = self.client.handle_ike(now, &self.buf[..n]);
                    }
                }
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused) => {}
                Err(e) => return Err(e),
            }
        }
        busy |= self.read_raw_esp(now)?;
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
        }
        while let Some(ev) = self.client.poll_event() {
            on_event(&ev);
            match ev {
                ClientEvent::PppUp { address, peer, .. } => {
                    self.address = Some(address);
                    self.peer = Some(peer);
                }
                ClientEvent::Failed(e)
                    if self.address.is_none()
                        || e.contains("down")
                        || e.contains("DPD")
                        || e.contains("deleted") =>
                {
                    self.failure = Some(e)
                }
                _ => {}
            }
        }
        for (table, line) in self.client.take_keylog() {
            if let Some(k) = self.keylog.as_mut() {
                k.add(table, line)?;
            }
        }
        self.flush()?;
        Ok(busy)
    }

    /// Sends an IPv4 or IPv6 packet through the tunnel.
    pub fn send_ip(&mut self, packet: &[u8]) -> io::Result<()> {
        self.client.send_ip(packet).map_err(|e| io::Error::other(e.to_string()))?;
        self.flush()
    }

    /// The next IP packet (IPv4 or IPv6) that came through the tunnel.
    pub fn poll_ip(&mut self) -> Option<Vec<u8>> {
        self.client.poll_ip()
    }

    fn flush(&mut self) -> io::Result<()> {
        use crate::client::ClientTransmit;
        while let Some(t) = self.client.poll_transmit() {
            match t {
                ClientTransmit::Ike { udp_encapsulated: false, message } => {
                    self.ike_socket.send(&message)?;
                }
                ClientTransmit::Ike { udp_encapsulated: true, message } => {
                    let mut m = NON_ESP_MARKER.to_vec();
                    m.extend_from_slice(&message);
                    self.natt_socket.send(&m)?;
                }
                ClientTransmit::Esp(p) => match &self.raw_esp {
                    Some(r) if !self.client.esp_udp_encapsulated() => {
                        r.send_to(&p, self.natt_socket.peer_addr()?.ip())?;
                    }
                    Some(r) => {
                        r.count_udp_sent();
                        self.natt_socket.send(&p)?;
                    }
                    None => {
                        self.natt_socket.send(&p)?;
                    }
                },
            }
        }
        Ok(())
    }
}

/// Connects to an L2TP/IPsec server, then pings through the tunnel once a second if
/// asked. Returns when all replies came back (or PPP is up, without pings), on failure,
/// or at the timeout.
pub fn run_client(
    run: &ClientRun,
    on_event: impl FnMut(&crate::client::ClientEvent),
) -> io::Result<ClientReport> {
    run_client_ike(run, crate::client::IkeVersion::V1, on_event)
}

/// [`run_client`] speaking IKE version `ike`.
pub fn run_client_ike(
    run: &ClientRun,
    ike: crate::client::IkeVersion,
    on_event: impl FnMut(&crate::client::ClientEvent),
) -> io::Result<ClientReport> {
    run_client_with(run, ike, &ClientOptions::default(), on_event)
}

/// [`run_client_ike`] with `options` (certificate, PPP authentication, key log).
pub fn run_client_with(
    run: &ClientRun,
    ike: crate::client::IkeVersion,
    options: &ClientOptions,
    mut on_event: impl FnMut(&crate::client::ClientEvent),
) -> io::Result<ClientReport> {
    use crate::client::icmp_echo_request;
    let mut c = ClientConnection::start_with_options(run, options, |config| config.ike = ike)?;
    let start = Instant::now();
    let mut report = ClientReport::default();
    let mut next_ping = None;
    while start.elapsed() < run.timeout {
        let busy = c.step(&mut on_event)?;
        if let Some(e) = c.failure() {
            return Err(io::Error::other(e.to_owned()));
        }
        let now = Instant::now();
        if report.address.is_none()
            && let Some(address) = c.address()
        {
            report.address = Some(address);
            report.peer = c.peer();
            let Some(_) = run.ping else { return Ok(report) };
            // Give the far end a moment to configure its side of the link (pppd's ip-up,
            // the kernel's routes) before the first echo request.
            next_ping = Some(now + Duration::from_secs(1));
        }
        while let Some(p) = c.poll_ip() {
            // An echo reply (type 0) to one of ours (identifier 0x4c32).
            let ihl = usize::from(p.first().map_or(0, |b| b & 0x0f)) * 4;
            if p.len() >= ihl + 8 && p[9] == 1 && p[ihl] == 0 && p[ihl + 4..ihl + 6] == [0x4c, 0x32] {
                report.pings_received += 1;
            }
        }
        if let (Some((target, count)), Some(at), Some(me)) = (run.ping, next_ping, report.address) {
            if report.pings_received >= count {
                return Ok(report);
            }
            if now >= at && report.pings_sent < count {
                let dst = target.or(report.peer).unwrap_or(Ipv4Addr::UNSPECIFIED);
                let seq = report.pings_sent + 1;
                c.send_ip(&icmp_echo_request(me, dst, 0x4c32, seq, b"l2sec ping"))?;
                report.pings_sent = seq;
                next_ping = Some(now + Duration::from_secs(1));
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(report)
}

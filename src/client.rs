//! The VPN client: an IKEv1 initiator (Main Mode with PSK and NAT-T, then Quick Mode for
//! UDP/1701 in transport mode), ESP in UDP, an L2TP LAC and a PPP peer, composed sans-IO.
//!
//! Feed IKE messages from UDP/500 to [`L2tpIpsecClient::handle_ike`] and datagrams from
//! UDP/4500 to [`L2tpIpsecClient::handle_udp4500`]; send what
//! [`L2tpIpsecClient::poll_transmit`] returns; run [`L2tpIpsecClient::handle_timeout`] at
//! [`L2tpIpsecClient::poll_timeout`]. Once [`ClientEvent::PppUp`] arrives, IP packets go
//! out with [`L2tpIpsecClient::send_ip`] and come in through
//! [`L2tpIpsecClient::poll_ip`].

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use l2sec_esp::natt::{self, Udp4500};
use l2sec_esp::{InboundSa, OutboundSa};
use l2sec_ike::child::EspEncapsulation;
use l2sec_ike::v1::dpd::{Dpd, DpdConfig, DpdEvent};
use l2sec_ike::v1::phase1::{self, Phase1, Phase1Config};
use l2sec_ike::v1::quick::{QuickMode, QuickModeConfig, QuickModeEvent};
use l2sec_l2tp::{self as l2tp, Input, SessionHandle};
use l2sec_ppp::{self as ppp, Datagram, PeerCredentials};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};

use crate::ipsec_lns::L2TP_PORT;

mod ikev2;
mod mtu;
mod teardown;
pub use ikev2::IkeVersion;

/// What the client is told to do.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Phase 1: PSK, our identity, proposals and NAT-T addresses.
    pub phase1: Phase1Config,
    /// Quick Mode: ESP proposals and UDP/1701 traffic selectors (transport mode).
    pub quick: QuickModeConfig,
    /// The L2TP LAC.
    pub l2tp: l2tp::Config,
    /// The PPP user name.
    pub user: String,
    /// The PPP password.
    pub password: String,
    /// Which IKE to speak.
    pub ike: IkeVersion,
    /// IKEv2: PSK, identity, proposals, the L2TP transport-mode Child SA (used with
    /// [`IkeVersion::V2`]).
    pub ikev2: l2sec_ike::v2::ike_sa::IkeSaConfig,
    /// Dead Peer Detection timing once phase 1 is up.
    pub dpd: DpdConfig,
    /// The outer path MTU: PPP offers the MRU that fits it after ESP, UDP and L2TP
    /// ([`crate::mtu::ppp_mru`]).
    pub outer_mtu: u16,
    /// The PPP authentication protocols we agree to use, in preference order (RFC 1661
    /// §6.2: an authenticator demanding another one is Nak'ed with these, and PPP fails
    /// if it insists). Default: MS-CHAPv2, CHAP-MD5, PAP.
    pub auth_methods: Vec<ppp::AuthMethod>,
    /// Collect the Wireshark decryption-table lines of our SAs
    /// ([`L2tpIpsecClient::take_keylog`]). Off by default: the lines hold keys.
    pub keylog: bool,
    /// Do not pretend a NAT: without one, ESP goes as IP protocol 50 (the driver opens a
    /// raw socket for it, see [`crate::driver::raw_esp`]); behind one, still in UDP.
    pub raw_esp: bool,
    /// Open IPV6CP too (RFC 5072): IPv6 between the link-local addresses of the two ends
    /// ([`ClientEvent::Ipv6Up`]) through [`L2tpIpsecClient::send_ip`].
    pub ipv6: bool,
}

/// The Wireshark table a key-log line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLogTable {
    /// `ikev1_decryption_table`.
    Ikev1,
    /// `ikev2_decryption_table`.
    Ikev2,
    /// `esp_sa`.
    Esp,
}

impl ClientConfig {
    /// The defaults built-in clients use: IKEv1 Main Mode PSK with NAT-T forced
    /// (AES-128-CBC/SHA1 or AES-256-CBC/SHA2-256 with MODP-2048), ESP transport mode for
    /// UDP/1701 between `local` and `server` (AES-128-CBC + HMAC-SHA1-96, AES-256-CBC +
    /// HMAC-SHA2-256-128, AES-128-GCM-16).
    #[must_use]
    pub fn new(local: SocketAddr, server: SocketAddr, psk: &[u8], user: &str, password: &str) -> Self {
        use l2sec_ike::child::{EspEncryption, EspIntegrity, EspMode};
        use l2sec_ike::v1::phase1::{Identity, NatTraversal};
        use l2sec_ike::v1::quick::{EspProposal, TrafficSelector};
        use l2sec_ike::wire::v1::IdType;
        let ip = |a: SocketAddr| match a.ip() {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let mut phase1 = Phase1Config::new(psk, Identity::ipv4(ip(local)));
        phase1.nat_traversal = Some(NatTraversal { local, remote: server, force_encapsulation: true });
        let ts = |a: Ipv4Addr| TrafficSelector {
            id_type: IdType::Ipv4Addr,
            protocol: 17,
            port: L2TP_PORT,
            data: a.octets().to_vec(),
        };
        let proposal = |encryption, integrity| EspProposal {
            encryption,
            integrity,
            lifetime: Duration::from_secs(3600),
        };
        Self {
            phase1,
            quick: QuickModeConfig {
                proposals: vec![
                    proposal(EspEncryption::AesCbc { key_len: 16 }, EspIntegrity::HmacSha1_96),
                    proposal(EspEncryption::AesCbc { key_len: 32 }, EspIntegrity::HmacSha256_128),
                    proposal(EspEncryption::AesGcm16 { key_len: 16 }, EspIntegrity::None),
                ],
                mode: EspMode::Transport,
                encapsulation: EspEncapsulation::None,
                traffic_selectors: Some((ts(ip(local)), ts(ip(server)))),
                retransmit_timeout: Duration::from_secs(1),
                max_retransmits: 5,
                pfs_group: None,
                nat_oa: None,
            },
            l2tp: l2tp::Config::default(),
            user: user.to_owned(),
            password: password.to_owned(),
            ike: IkeVersion::V1,
            ikev2: ikev2::default_config(local, server, psk),
            dpd: DpdConfig::default(),
            outer_mtu: 1500,
            auth_methods: vec![ppp::AuthMethod::MsChapV2, ppp::AuthMethod::ChapMd5, ppp::AuthMethod::Pap],
            keylog: false,
            raw_esp: false,
            ipv6: false,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Phase 1 is done.
    IkeUp,
    /// The ESP SAs are installed.
    EspUp {
        /// Our inbound SPI.
        spi_in: u32,
        /// The server's SPI.
        spi_out: u32,
    },
    /// The L2TP session is up; PPP starts.
    L2tpUp,
    /// IPCP is open.
    PppUp {
        /// Our tunnel address.
        address: Ipv4Addr,
        /// The server's tunnel address.
        peer: Ipv4Addr,
        /// DNS servers it pushed.
        dns: [Option<Ipv4Addr>; 2],
    },
    /// IPV6CP is open: IPv6 flows between the two link-local addresses.
    Ipv6Up {
        /// Our link-local address.
        local: std::net::Ipv6Addr,
        /// The server's link-local address.
        peer: std::net::Ipv6Addr,
    },
    /// Something failed; the connection is down.
    Failed(String),
}

/// A datagram to send to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTransmit {
    /// An IKE message: on UDP/4500 with the non-ESP marker when `udp_encapsulated`, else
    /// on UDP/500.
    Ike {
        /// Send on the NAT-T port.
        udp_encapsulated: bool,
        /// The ISAKMP message (without the marker).
        message: Vec<u8>,
    },
    /// An ESP packet for UDP/4500.
    Esp(Vec<u8>),
}

/// The client's layers.
pub struct L2tpIpsecClient {
    /// IKEv1 phase 1 (`None` when speaking IKEv2).
    phase1: Option<Phase1<ChaCha20Rng>>,
    /// The IKEv2 IKE SA (`None` when speaking IKEv1).
    ikev2: Option<Box<ikev2::Initiator>>,
    quick: Option<QuickMode<ChaCha20Rng>>,
    quick_config: QuickModeConfig,
    /// Dead Peer Detection once phase 1 is up: answers the server's R-U-THERE.
    dpd: Option<Dpd<ChaCha20Rng>>,
    sas: Option<(OutboundSa, InboundSa)>,
    lac: l2tp::Endpoint<u8, ChaCha20Rng>,
    session: Option<SessionHandle>,
    ppp: ppp::Session<ChaCha20Rng>,
    seeds: ChaCha20Rng,
    out: VecDeque<ClientTransmit>,
    events: VecDeque<ClientEvent>,
    ip_in: VecDeque<Vec<u8>>,
    /// PPP reported Finished (see the teardown module).
    ppp_finished: bool,
    /// Dead Peer Detection timing.
    dpd_config: DpdConfig,
    /// PPP's configuration, restarted with the path's MRU once the SA is known (mtu module).
    ppp_config: ppp::Config,
    /// The outer path MTU and the MRU we offer.
    outer_mtu: u16,
    mru: u16,
    /// Key-log lines not yet taken, when asked to collect them.
    keylog: Option<Vec<(KeyLogTable, zeroize::Zeroizing<String>)>>,
    /// IPCP has opened at least once (PPP got past LCP and authentication).
    network_up: bool,
    /// Why the last IKE message from the server was refused (e.g. its certificate).
    last_refusal: Option<String>,
    /// The SA's ESP travels in UDP (false: IP protocol 50).
    esp_udp: bool,
}

impl std::fmt::Debug for L2tpIpsecClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2tpIpsecClient").field("esp", &self.sas.is_some()).finish_non_exhaustive()
    }
}

impl L2tpIpsecClient {
    /// Starts Main Mode, or IKE_SA_INIT with [`IkeVersion::V2`], at once (the first
    /// datagram is ready to poll).
    pub fn connect<R: CryptoRng>(
        config: ClientConfig,
        rng: &mut R,
        now: Instant,
    ) -> Result<Self, l2sec_ike::Error> {
        let mut config = config;
        if config.raw_esp {
            if let Some(n) = config.phase1.nat_traversal.as_mut() {
                n.force_encapsulation = false;
            }
            config.ikev2.force_encapsulation = false;
        }
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let mut seeds = ChaCha20Rng::from_seed(seed);
        let mut next = || {
            let mut s = [0u8; 32];
            rand_core::Rng::fill_bytes(&mut seeds, &mut s);
            ChaCha20Rng::from_seed(s)
        };
        let (phase1, ikev2) = match config.ike {
            IkeVersion::V1 => (Some(Phase1::initiate(config.phase1, next(), now)?), None),
            IkeVersion::V2 => (None, Some(ikev2::initiate(config.ikev2, next(), now)?)),
        };
        let lac = l2tp::Endpoint::new(config.l2tp, next());
        let mut ppp_cfg = ppp::Config::peer(PeerCredentials::new(config.user, config.password));
        ppp_cfg.ipcp.request_dns = true;
        ppp_cfg.auth_methods = config.auth_methods;
        ppp_cfg.ipv6cp = config.ipv6;
        let ppp = ppp::Session::new(ppp_cfg.clone(), next());
        let mut c = Self {
            phase1,
            ikev2,
            quick: None,
            quick_config: config.quick,
            dpd: None,
            sas: None,
            lac,
            session: None,
            ppp,
            seeds: next(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            ip_in: VecDeque::new(),
            ppp_finished: false,
            dpd_config: config.dpd,
            mru: ppp_cfg.lcp.mru,
            ppp_config: ppp_cfg,
            outer_mtu: config.outer_mtu,
            keylog: config.keylog.then(Vec::new),
            network_up: false,
            last_refusal: None,
            esp_udp: true,
        };
        c.progress(now);
        Ok(c)
    }

    /// The Wireshark decryption-table lines of the SAs negotiated since the last call
    /// (empty unless [`ClientConfig::keylog`]). Secret: write them only to a key log the
    /// user asked for.
    pub fn take_keylog(&mut self) -> Vec<(KeyLogTable, zeroize::Zeroizing<String>)> {
        self.keylog.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn log_key(&mut self, table: KeyLogTable, line: impl FnOnce() -> zeroize::Zeroizing<String>) {
        if let Some(k) = self.keylog.as_mut() {
            k.push((table, line()));
        }
    }

    /// Logs both ESP SAs.
    fn log_esp(&mut self, inbound: &l2sec_esp::SaParams, outbound: &l2sec_esp::SaParams) {
        if let Some(k) = self.keylog.as_mut() {
            k.extend(esp_key_lines(inbound, outbound));
        }
    }

    fn rng(&mut self) -> ChaCha20Rng {
        let mut s = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut self.seeds, &mut s);
        ChaCha20Rng::from_seed(s)
    }

    /// An IKE message from the server (UDP/500, or UDP/4500 after the marker).
    pub fn handle_ike(&mut self, now: Instant, message: &[u8]) -> Result<(), l2sec_ike::Error> {
        let r = self.handle_ike_message(now, message);
        if let Err(e) = &r {
            self.last_refusal = Some(e.to_string());
        }
        r
    }

    /// Why the last IKE message from the server was refused, if one was: the likely
    /// cause when the tunnel does not come up (e.g. a server certificate we do not
    /// accept).
    #[must_use]
    pub fn last_refusal(&self) -> Option<&str> {
        self.last_refusal.as_deref()
    }

    fn handle_ike_message(&mut self, now: Instant, message: &[u8]) -> Result<(), l2sec_ike::Error> {
        if self.ikev2.is_some() {
            return self.handle_ike_v2(now, message);
        }
        let r = match (message.get(18), self.quick.as_mut(), self.dpd.as_mut()) {
            (Some(32), Some(q), _) => q.handle_input(now, message),
            (Some(32), None, _) => Err(l2sec_ike::Error::UnexpectedMessage("no Quick Mode under way")),
            (Some(5), _, Some(d)) => d.handle_input(now, message).map(|items| {
                if items.iter().any(|i| matches!(i, l2sec_ike::v1::info::Informational::Delete { .. })) {
                    self.events.push_back(ClientEvent::Failed("the server deleted the SAs".into()));
                }
            }),
            _ => match self.phase1.as_mut() {
                Some(p) => p.handle_input(now, message),
                None => Err(l2sec_ike::Error::UnexpectedMessage("not speaking IKEv1")),
            },
        };
        self.progress(now);
        r
    }

    /// A datagram from the server's UDP/4500.
    pub fn handle_udp4500(
        &mut self,
        now: Instant,
        datagram: &mut [u8],
    ) -> Result<(), crate::ipsec_lns::IpsecLnsError> {
        match natt::classify(datagram)? {
            Udp4500::Keepalive => Ok(()),
            Udp4500::Ike => {
                let m = datagram[natt::NON_ESP_MARKER.len()..].to_vec();
                // Failures are reported as events; a bad IKE message is dropped.
                let _ = self.handle_ike(now, &m);
                Ok(())
            }
            Udp4500::Esp { .. } => self.esp_input(now, datagram),
        }
    }

    /// True while the SA's ESP travels in UDP/4500; false when it was negotiated without
    /// UDP encapsulation (send it as IP protocol 50).
    #[must_use]
    pub fn esp_udp_encapsulated(&self) -> bool {
        self.esp_udp
    }

    /// An ESP packet (SPI first) that arrived as IP protocol 50. Packets for any SPI but
    /// our inbound SA's are refused as unknown (a raw socket sees every host's ESP).
    pub fn handle_esp(
        &mut self,
        now: Instant,
        packet: &mut [u8],
    ) -> Result<(), crate::ipsec_lns::IpsecLnsError> {
        let spi = match packet.get(..4) {
            Some(s) if packet.len() >= 8 => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
            _ => return Err(l2sec_esp::ParseError::Truncated.into()),
        };
        if self.esp_udp || self.sas.as_ref().is_none_or(|(_, rx)| rx.spi() != spi) {
            return Err(l2sec_esp::Error::UnknownSpi(spi).into());
        }
        self.esp_input(now, packet)
    }

    fn esp_input(
        &mut self,
        now: Instant,
        datagram: &mut [u8],
    ) -> Result<(), crate::ipsec_lns::IpsecLnsError> {
        use crate::ipsec_lns::IpsecLnsError;
        let (_, rx) = self.sas.as_mut().ok_or(l2sec_esp::Error::UnknownSpi(0))?;
        let d = rx.decapsulate(datagram)?;
        if let Some(dpd) = self.dpd.as_mut() {
            dpd.traffic_seen(now);
        }
        if let Some(s) = self.ikev2.as_mut() {
            s.traffic_seen(now);
        }
        if d.next_header != l2sec_esp::NEXT_HEADER_UDP || d.payload[2..4] != L2TP_PORT.to_be_bytes() {
            return Err(IpsecLnsError::NotL2tp);
        }
        let l2tp_datagram: &[u8] = &d.payload[8..];
        let input = self.lac.handle_input(now, 0, l2tp_datagram);
        self.lac_events(now);
        if let Ok(Input::Data { ppp: frame, .. }) = input
            && let Ok(Some(Datagram::Ipv4(p) | Datagram::Ipv6(p))) = self.ppp.handle_input(now, frame)
        {
            self.ip_in.push_back(p.to_vec());
        }
        self.progress(now);
        Ok(())
    }

    /// Sends an IPv4 packet (or, with IPV6CP open, an IPv6 one) through the tunnel (once PPP is up).
    pub fn send_ip(&mut self, packet: &[u8]) -> Result<(), ppp::Error> {
        let mut frame = Vec::new();
        let datagram = if packet.first().is_some_and(|b| b >> 4 == 6) {
            Datagram::Ipv6(packet)
        } else {
            Datagram::Ipv4(packet)
        };
        self.ppp.encode_datagram(datagram, &mut frame)?;
        if let Some(h) = self.session {
            self.send_ppp(h, &frame);
        }
        Ok(())
    }

    /// True if `message` (an ISAKMP message) belongs to this client's IKE SA: its
    /// initiator cookie is ours. Lets one socket serve several clients.
    #[must_use]
    pub fn owns_ike(&self, message: &[u8]) -> bool {
        let spi = self.phase1.as_ref().map(|p| p.cookies().0).or(self.ikev2.as_ref().map(|s| s.spis().0));
        message.get(..8).is_some_and(|c| spi.is_some_and(|s| c == s.as_slice()))
    }

    /// The SPI of our inbound ESP SA, once negotiated.
    #[must_use]
    pub fn inbound_spi(&self) -> Option<u32> {
        self.sas.as_ref().map(|(_, rx)| rx.spi())
    }

    /// The next IP packet (IPv4 or IPv6) received through the tunnel.
    pub fn poll_ip(&mut self) -> Option<Vec<u8>> {
        self.ip_in.pop_front()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<ClientTransmit> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline of any layer.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.phase1.as_ref().and_then(Phase1::poll_timeout),
            self.ikev2.as_ref().and_then(|s| s.poll_timeout()),
            self.quick.as_ref().and_then(QuickMode::poll_timeout),
            self.dpd.as_ref().and_then(Dpd::poll_timeout),
            self.lac.poll_timeout(),
            self.ppp.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(p) = self.phase1.as_mut() {
            p.handle_timeout(now);
        }
        if let Some(s) = self.ikev2.as_mut() {
            s.handle_timeout(now);
        }
        if let Some(q) = self.quick.as_mut() {
            q.handle_timeout(now);
        }
        if let Some(d) = self.dpd.as_mut() {
            d.handle_timeout(now);
        }
        self.lac.handle_timeout(now);
        self.lac_events(now);
        self.ppp.handle_timeout(now);
        self.progress(now);
    }

    /// Wraps an L2TP datagram in UDP (1701 -> 1701, no checksum) and ESP.
    fn send_l2tp(&mut self, l2tp_datagram: &[u8]) {
        let Some((tx, _)) = self.sas.as_mut() else { return };
        let head = tx.headroom() + 8;
        let mut buf = vec![0u8; head + l2tp_datagram.len() + tx.tailroom()];
        let udp = head - 8;
        buf[udp..udp + 2].copy_from_slice(&L2TP_PORT.to_be_bytes());
        buf[udp + 2..udp + 4].copy_from_slice(&L2TP_PORT.to_be_bytes());
        buf[udp + 4..udp + 6].copy_from_slice(&((8 + l2tp_datagram.len()) as u16).to_be_bytes());
        buf[head..head + l2tp_datagram.len()].copy_from_slice(l2tp_datagram);
        if let Ok(p) = tx.encapsulate(&mut buf, udp..head + l2tp_datagram.len(), l2sec_esp::NEXT_HEADER_UDP) {
            let p = p.to_vec();
            self.out.push_back(ClientTransmit::Esp(p));
        }
    }

    fn send_ppp(&mut self, h: SessionHandle, frame: &[u8]) {
        let mut buf = Vec::new();
        if let Ok(t) = self.lac.encapsulate(h, frame, &mut buf) {
            let d = buf[buf.len() - t.size..].to_vec();
            self.send_l2tp(&d);
        }
    }

    fn lac_events(&mut self, now: Instant) {
        while let Some(ev) = self.lac.poll_event() {
            match ev {
                l2tp::Event::SessionUp { session, .. } => {
                    self.session = Some(session);
                    self.events.push_back(ClientEvent::L2tpUp);
                    self.apply_path_mru();
                    self.ppp.open(now);
                }
                l2tp::Event::SessionDown { reason, .. } | l2tp::Event::TunnelDown { reason, .. } => {
                    self.events.push_back(ClientEvent::Failed(format!("L2TP down: {reason:?}")));
                }
                _ => {}
            }
        }
    }

    /// Moves every layer forward: transmits, events, and the next layer's start.
    fn progress(&mut self, now: Instant) {
        let mut buf = Vec::new();
        self.progress_v2(now);
        if let Some(p) = self.phase1.as_mut() {
            drain_ike(&mut self.out, |b| p.poll_transmit(now, b));
        }
        while let Some(ev) = self.phase1.as_mut().and_then(Phase1::poll_event) {
            match ev {
                phase1::Event::Established { nat, .. } => {
                    self.events.push_back(ClientEvent::IkeUp);
                    let Some(ctx) = self.phase1.as_ref().and_then(Phase1::isakmp_context) else { continue };
                    self.log_key(KeyLogTable::Ikev1, || l2sec_ike::keylog::ikev1_line_for_context(&ctx));
                    let rng = self.rng();
                    self.dpd = Some(Dpd::new(ctx.clone(), self.dpd_config, rng, now));
                    let mut config = self.quick_config.clone();
                    if nat.is_some_and(|n| n.nat_detected()) {
                        config.encapsulation = EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 };
                    }
                    let rng = self.rng();
                    match QuickMode::initiate(ctx, config, rng, now) {
                        Ok(q) => self.quick = Some(q),
                        Err(e) => self.events.push_back(ClientEvent::Failed(format!("Quick Mode: {e}"))),
                    }
                }
                phase1::Event::Failed(e) => {
                    self.events.push_back(ClientEvent::Failed(format!("phase 1: {e}")))
                }
                _ => {}
            }
        }
        if let Some(q) = self.quick.as_mut() {
            drain_ike(&mut self.out, |b| q.poll_transmit(now, b));
            while let Some(ev) = q.poll_event() {
                match ev {
                    QuickModeEvent::Established { child, .. } => match child.esp_params() {
                        Ok((inbound, outbound)) => {
                            match (OutboundSa::new(&outbound), InboundSa::new(&inbound)) {
                                (Ok(tx), Ok(rx)) => {
                                    if let Some(k) = self.keylog.as_mut() {
                                        k.extend(esp_key_lines(&inbound, &outbound));
                                    }
                                    self.events.push_back(ClientEvent::EspUp {
                                        spi_in: inbound.spi,
                                        spi_out: outbound.spi,
                                    });
                                    self.sas = Some((tx, rx));
                                    self.esp_udp = !crate::driver::raw_esp::is_raw(&child);
                                    match self.lac.connect(now, 0).and_then(|t| self.lac.open_session(now, t))
                                    {
                                        Ok(_) => {}
                                        Err(e) => {
                                            self.events.push_back(ClientEvent::Failed(format!("L2TP: {e}")))
                                        }
                                    }
                                }
                                (Err(e), _) | (_, Err(e)) => {
                                    self.events.push_back(ClientEvent::Failed(format!("ESP: {e}")))
                                }
                            }
                        }
                        Err(e) => self.events.push_back(ClientEvent::Failed(format!("ESP: {e}"))),
                    },
                    QuickModeEvent::Failed(e) => {
                        self.events.push_back(ClientEvent::Failed(format!("Quick Mode: {e}")))
                    }
                    _ => {}
                }
            }
        }
        if let Some(d) = self.dpd.as_mut() {
            drain_ike(&mut self.out, |b| d.poll_transmit(now, b));
            while let Some(ev) = d.poll_event() {
                if ev == DpdEvent::PeerDead {
                    self.events.push_back(ClientEvent::Failed("the server is not answering (DPD)".into()));
                }
            }
        }
        // L2TP control first, then PPP frames (a real LAC sends ICCN before PPP).
        loop {
            buf.clear();
            let Some(t) = self.lac.poll_transmit(now, &mut buf) else { break };
            let d = buf[buf.len() - t.size..].to_vec();
            self.send_l2tp(&d);
        }
        self.lac_events(now);
        if let Some(h) = self.session {
            let mut frame = Vec::new();
            while self.ppp.poll_transmit(now, &mut frame).is_some() {
                let f = std::mem::take(&mut frame);
                self.send_ppp(h, &f);
            }
        }
        while let Some(ev) = self.ppp.poll_event() {
            match ev {
                ppp::Event::Ipv6Up(p) => self.events.push_back(ClientEvent::Ipv6Up {
                    local: p.local_link_local(),
                    peer: p.peer_link_local(),
                }),
                ppp::Event::Ipv4Up(p) => {
                    self.network_up = true;
                    self.events.push_back(ClientEvent::PppUp { address: p.local, peer: p.peer, dns: p.dns })
                }
                ppp::Event::AuthFailed(f) => {
                    self.events.push_back(ClientEvent::Failed(format!("PPP auth: {f:?}")))
                }
                ppp::Event::LinkDown if !self.network_up => {
                    // RFC 1661 §6.2: the link went down in negotiation; the usual cause is
                    // an Authentication-Protocol the server insists on and we refuse.
                    self.events.push_back(ClientEvent::Failed(format!(
                        "PPP link down before IPCP: does the server demand an authentication \
                         protocol this client does not accept? (it accepts {:?})",
                        self.ppp_config.auth_methods
                    )))
                }
                ppp::Event::LinkDown => self.events.push_back(ClientEvent::Failed("PPP link down".into())),
                ppp::Event::Finished => {
                    self.ppp_finished = true;
                    self.events.push_back(ClientEvent::Failed("PPP finished".into()))
                }
                _ => {}
            }
        }
    }
}

/// Wireshark's `esp_sa` lines of a pair of SAs (any addresses).
fn esp_key_lines(
    inbound: &l2sec_esp::SaParams,
    outbound: &l2sec_esp::SaParams,
) -> [(KeyLogTable, zeroize::Zeroizing<String>); 2] {
    [inbound, outbound]
        .map(|p| (KeyLogTable::Esp, zeroize::Zeroizing::new(l2sec_esp::keylog::esp_sa_line(p, None, None))))
}

/// Moves every IKE message a machine has ready into `out`.
fn drain_ike(
    out: &mut VecDeque<ClientTransmit>,
    mut poll: impl FnMut(&mut Vec<u8>) -> Option<phase1::Transmit>,
) {
    let mut buf = Vec::new();
    while let Some(t) = poll(&mut buf) {
        let message = buf[buf.len() - t.size..].to_vec();
        out.push_back(ClientTransmit::Ike { udp_encapsulated: t.udp_encapsulated, message });
        buf.clear();
    }
}

/// An ICMP echo request from `src` to `dst` (IPv4 header and ICMP checksums set).
#[must_use]
pub fn icmp_echo_request(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 1, 0, 0];
    p[2..4].copy_from_slice(&((28 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = natt::internet_checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(data);
    let sum = natt::internet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&icmp);
    p
}

/// A UDP datagram in IPv4 from `src`:`sport` to `dst`:`dport` (UDP checksum 0: none, which
/// IPv4 allows).
#[must_use]
pub fn udp_packet(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&((28 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = natt::internet_checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(data);
    p
}

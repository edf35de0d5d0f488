//! The VPN server's data path: ESP transport-mode SAs (negotiated by IKE) carrying the
//! inner UDP/1701 datagrams of L2TP into an [`Lns`], over UDP encapsulation (RFC 3948).
//!
//! L2TP peers are named by the IPsec connection and the client's inner UDP port, never by
//! the outer address: many clients behind one NAT address share that address but not
//! their SPIs. The outer address of a connection follows the last authenticated packet
//! (a NAT may rebind it). Plaintext L2TP on UDP/1701 is refused unless explicitly allowed.
//!
//! Outgoing datagrams are built in place: the L2TP datagram is written after room for
//! the ESP header, IV and UDP header, which are then filled in around it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::time::Instant;

use l2sec_esp::natt::{self, Udp4500};
use l2sec_esp::{self as esp, InboundSa, OutboundSa, SaParams, SaTable};
use l2sec_l2tp as l2tp;
use l2sec_ppp::{AuthRequestId, AuthVerdict, Datagram};
use rand_core::CryptoRng;

use crate::lns::{Lns, LnsConfig, LnsError, LnsEvent};

/// The L2TP UDP port.
pub const L2TP_PORT: u16 = 1701;
/// Room kept before an outgoing L2TP datagram: ESP header (8), the longest IV (16) and
/// the inner UDP header (8).
pub const HEADROOM: usize = 8 + 16 + 8;

/// One IPsec connection: a client's Child SAs, kept across rekeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// Who an L2TP tunnel is with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L2tpPeer {
    /// Inside ESP: the connection and the client's inner UDP source port.
    Ipsec {
        /// The connection.
        conn: ConnId,
        /// The client's UDP port inside ESP.
        port: u16,
    },
    /// Plain UDP/1701 from this address (only when allowed).
    Plain(SocketAddr),
}

/// What a received datagram turned out to be.
#[derive(Debug)]
pub enum Received<'d> {
    /// An IKE message (the non-ESP marker removed): for the key exchange.
    Ike(&'d [u8]),
    /// A NAT keepalive.
    Keepalive,
    /// An IP packet from a client's PPP session.
    Ip {
        /// The L2TP peer it came through.
        peer: L2tpPeer,
        /// The packet, borrowed from the datagram.
        packet: Datagram<'d>,
    },
    /// L2TP or PPP control traffic, processed: drain transmits and events.
    Control {
        /// The L2TP peer it came from.
        peer: L2tpPeer,
    },
}

/// A datagram for the outer socket: `buf[start..start + len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OuterTransmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// True for plaintext L2TP (send from the UDP/1701 socket), false for ESP (UDP/4500).
    pub plaintext: bool,
    /// ESP of an SA without UDP encapsulation: send as IP protocol 50 (raw socket), not
    /// on UDP/4500 (see [`IpsecLns::set_udp_encapsulated`]).
    pub raw_esp: bool,
    /// Offset of the datagram in the buffer.
    pub start: usize,
    /// Its length.
    pub len: usize,
}

/// Errors of the IPsec data path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpsecLnsError {
    /// ESP refused the packet (unknown SPI, replay, bad ICV, malformed) or an SA could not
    /// be installed.
    #[error("esp: {0}")]
    Esp(#[from] esp::Error),
    /// The L2TP or PPP layer refused it.
    #[error("{0}")]
    Lns(#[from] LnsError),
    /// Plaintext L2TP arrived and is not allowed.
    #[error("plaintext L2TP refused (not inside ESP)")]
    PlaintextRefused,
    /// The ESP payload is not a UDP datagram for port 1701.
    #[error("ESP payload is not L2TP")]
    NotL2tp,
}

impl From<esp::ParseError> for IpsecLnsError {
    fn from(e: esp::ParseError) -> Self {
        Self::Esp(e.into())
    }
}

struct Conn {
    outbound: OutboundSa,
    remote: SocketAddr,
    inbound_spis: Vec<u32>,
    /// ESP in UDP (RFC 3948); false: plain ESP, IP protocol 50.
    udp: bool,
}

/// ESP transport mode in front of an [`Lns`].
pub struct IpsecLns<R> {
    lns: Lns<L2tpPeer, R>,
    inbound: SaTable,
    conns: HashMap<ConnId, Conn>,
    spi_conn: HashMap<u32, ConnId>,
    allow_plaintext: bool,
    /// The outer path MTU: PPP MRUs are computed from it and each connection's SA.
    outer_mtu: Option<u16>,
}

impl<R> std::fmt::Debug for IpsecLns<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpsecLns")
            .field("connections", &self.conns.len())
            .field("inbound_sas", &self.inbound.len())
            .field("allow_plaintext", &self.allow_plaintext)
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> IpsecLns<R> {
    /// A server with no connections. `allow_plaintext` serves L2TP on UDP/1701 outside
    /// ESP too (for sites whose IPsec is done elsewhere).
    pub fn new(config: LnsConfig, rng: R, allow_plaintext: bool) -> Self {
        Self {
            lns: Lns::new(config, rng),
            inbound: SaTable::new(),
            conns: HashMap::new(),
            spi_conn: HashMap::new(),
            allow_plaintext,
            outer_mtu: None,
        }
    }

    /// The L2TP/PPP layer, for queries.
    #[must_use]
    pub fn lns(&self) -> &Lns<L2tpPeer, R> {
        &self.lns
    }

    /// Installs a Child SA pair for a connection (new, or a rekey: the new outbound SA
    /// replaces the old one, and the old inbound SA keeps working until
    /// [`remove_inbound_sa`](Self::remove_inbound_sa)).
    pub fn install_child_sa(
        &mut self,
        conn: ConnId,
        remote: SocketAddr,
        inbound: &SaParams,
        outbound: &SaParams,
    ) -> Result<(), IpsecLnsError> {
        let rx = InboundSa::new(inbound)?;
        let tx = OutboundSa::new(outbound)?;
        self.inbound.insert(rx)?;
        self.spi_conn.insert(inbound.spi, conn);
        match self.conns.entry(conn) {
            Entry::Occupied(e) => {
                let c = e.into_mut();
                if c.outbound.spi() != outbound.spi {
                    c.outbound = tx;
                }
                c.inbound_spis.push(inbound.spi);
            }
            Entry::Vacant(e) => {
                e.insert(Conn { outbound: tx, remote, inbound_spis: vec![inbound.spi], udp: true });
            }
        }
        Ok(())
    }

    /// Whether a connection's ESP travels in UDP (the default) or as IP protocol 50
    /// (an SA negotiated without UDP encapsulation, with a raw socket to send it): its
    /// transmits say so in [`OuterTransmit::raw_esp`].
    pub fn set_udp_encapsulated(&mut self, conn: ConnId, udp: bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.udp = udp;
        }
    }

    /// Sessions through ESP offer the PPP MRU that fits an outer path of `mtu` bytes with
    /// their connection's SA ([`crate::mtu::ppp_mru`]); `None` keeps the template's MRU.
    pub fn set_outer_mtu(&mut self, mtu: Option<u16>) {
        self.outer_mtu = mtu;
    }

    /// The connections with SAs, each with our inbound SPIs (for IKE Deletes).
    #[must_use]
    pub fn connections(&self) -> Vec<(ConnId, Vec<u32>)> {
        self.conns.iter().map(|(id, c)| (*id, c.inbound_spis.clone())).collect()
    }

    /// The current outer address of a connection's peer.
    #[must_use]
    pub fn remote_of(&self, conn: ConnId) -> Option<SocketAddr> {
        self.conns.get(&conn).map(|c| c.remote)
    }

    /// Hangs every PPP session up politely (LCP Terminate; CDN follows).
    pub fn close_all_sessions(&mut self, now: Instant, reason: &str) {
        self.lns.close_all_sessions(now, reason);
    }

    /// Closes every L2TP tunnel (StopCCN).
    pub fn shutdown_tunnels(&mut self, now: Instant) {
        self.lns.shutdown_tunnels(now);
    }

    /// Removes one inbound SA (after a rekey, once the peer uses the new one).
    pub fn remove_inbound_sa(&mut self, spi: u32) {
        self.inbound.remove(spi);
        if let Some(conn) = self.spi_conn.remove(&spi)
            && let Some(c) = self.conns.get_mut(&conn)
        {
            c.inbound_spis.retain(|s| *s != spi);
        }
    }

    /// Removes a connection and all its SAs (IKE Delete, DPD failure). Its L2TP tunnels
    /// can no longer send and end by their own keepalive timeout.
    pub fn remove_connection(&mut self, conn: ConnId) {
        self.lns.forget_peer_mru(|p| matches!(p, L2tpPeer::Ipsec { conn: c, .. } if *c == conn));
        if let Some(c) = self.conns.remove(&conn) {
            for spi in c.inbound_spis {
                self.inbound.remove(spi);
                self.spi_conn.remove(&spi);
            }
        }
    }

    /// Ends a connection whose IKE side is gone (Delete, DPD): its L2TP tunnels and PPP
    /// sessions end now (their addresses return to the pool), then its SAs are removed.
    /// `dead`: Dead Peer Detection gave up on it (rather than a Delete).
    pub fn end_connection(&mut self, now: Instant, conn: ConnId, dead: bool) {
        let cause =
            if dead { crate::lns::DownCause::LostService } else { crate::lns::DownCause::UserRequest };
        self.lns.close_tunnels_of(now, cause, |p| matches!(p, L2tpPeer::Ipsec { conn: c, .. } if *c == conn));
        self.remove_connection(conn);
    }

    /// A datagram received on the NAT-T port (UDP/4500) from `from`, decrypted in place.
    pub fn handle_udp4500<'d>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'d mut [u8],
    ) -> Result<Received<'d>, IpsecLnsError> {
        match natt::classify(datagram)? {
            Udp4500::Keepalive => Ok(Received::Keepalive),
            Udp4500::Ike => Ok(Received::Ike(&datagram[natt::NON_ESP_MARKER.len()..])),
            Udp4500::Esp { spi } => self.esp_input(now, spi, from, datagram),
        }
    }

    /// An ESP packet (SPI first) received as IP protocol 50 from `from`, decrypted in
    /// place. Only connections without UDP encapsulation take it; anything else (another
    /// host's SA, our own packets seen on loopback) is an unknown SPI, to drop quietly.
    pub fn handle_esp<'d>(
        &mut self,
        now: Instant,
        from: std::net::IpAddr,
        packet: &'d mut [u8],
    ) -> Result<Received<'d>, IpsecLnsError> {
        let spi = match packet.get(..4) {
            Some(s) if packet.len() >= 8 => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
            _ => return Err(esp::ParseError::Truncated.into()),
        };
        let remote = match self.spi_conn.get(&spi).and_then(|c| self.conns.get(c)) {
            Some(c) if !c.udp && spi != 0 => c.remote,
            _ => return Err(esp::Error::UnknownSpi(spi).into()),
        };
        // Authenticated packets move the peer's address, as in UDP; the port stays (it is
        // the IKE port, which raw ESP does not use).
        self.esp_input(now, spi, SocketAddr::new(from, remote.port()), packet)
    }

    /// ESP for inbound SA `spi` from `from`.
    fn esp_input<'d>(
        &mut self,
        now: Instant,
        spi: u32,
        from: SocketAddr,
        datagram: &'d mut [u8],
    ) -> Result<Received<'d>, IpsecLnsError> {
        let conn = *self.spi_conn.get(&spi).ok_or(esp::Error::UnknownSpi(spi))?;
        let (_, d) = self.inbound.decapsulate(datagram)?;
        // Authenticated: follow the client if its NAT mapping moved.
        if let Some(c) = self.conns.get_mut(&conn) {
            c.remote = from;
        }
        if d.next_header != esp::NEXT_HEADER_UDP {
            return Err(IpsecLnsError::NotL2tp);
        }
        let udp: &'d [u8] = d.payload;
        // ESP already trimmed the segment to its UDP length (≥ 8).
        let port = u16::from_be_bytes([udp[0], udp[1]]);
        if u16::from_be_bytes([udp[2], udp[3]]) != L2TP_PORT {
            return Err(IpsecLnsError::NotL2tp);
        }
        self.l2tp_input(now, L2tpPeer::Ipsec { conn, port }, &udp[8..])
    }

    /// A datagram received on UDP/1701 outside ESP.
    pub fn handle_udp1701<'d>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'d [u8],
    ) -> Result<Received<'d>, IpsecLnsError> {
        if !self.allow_plaintext {
            return Err(IpsecLnsError::PlaintextRefused);
        }
        self.l2tp_input(now, L2tpPeer::Plain(from), datagram)
    }

    fn l2tp_input<'d>(
        &mut self,
        now: Instant,
        peer: L2tpPeer,
        data: &'d [u8],
    ) -> Result<Received<'d>, IpsecLnsError> {
        // Control messages (T bit) may start a session: give it the path's MRU first.
        if let (L2tpPeer::Ipsec { conn, .. }, Some(mtu), Some(b)) = (peer, self.outer_mtu, data.first())
            && b & 0x80 != 0
            && let Some(c) = self.conns.get(&conn)
        {
            self.lns.set_peer_mru(peer, crate::mtu::ppp_mru(mtu, &c.outbound));
        }
        Ok(match self.lns.handle_input(now, peer, data)? {
            Some((_, packet)) => Received::Ip { peer, packet },
            None => Received::Control { peer },
        })
    }

    /// The next datagram for the outer sockets, built in `buf` (which is cleared).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<OuterTransmit> {
        loop {
            buf.clear();
            buf.resize(HEADROOM, 0);
            let t = self.lns.poll_transmit(now, buf)?;
            if let Some(out) = self.wrap(buf, t) {
                return Some(out);
            }
        }
    }

    /// Sends an IPv4 packet to the client whose tunnel address is its destination.
    pub fn send_ip(&mut self, packet: &[u8], buf: &mut Vec<u8>) -> Result<OuterTransmit, IpsecLnsError> {
        buf.clear();
        buf.resize(HEADROOM, 0);
        let t = self.lns.send_ip(packet, buf)?;
        self.wrap(buf, t).ok_or(IpsecLnsError::Esp(esp::Error::Config("connection has no usable SA")))
    }

    /// Puts the L2TP datagram at `buf[HEADROOM..]` into a UDP datagram and ESP, or leaves
    /// it plain. `None` if its connection is gone or its SA refuses (expired).
    fn wrap(&mut self, buf: &mut Vec<u8>, t: l2tp::Transmit<L2tpPeer>) -> Option<OuterTransmit> {
        let (conn, port) = match t.destination {
            L2tpPeer::Plain(to) => {
                return Some(OuterTransmit {
                    destination: to,
                    plaintext: true,
                    raw_esp: false,
                    start: HEADROOM,
                    len: t.size,
                });
            }
            L2tpPeer::Ipsec { conn, port } => (conn, port),
        };
        let c = self.conns.get_mut(&conn)?;
        let udp_len = u16::try_from(8 + t.size).ok()?;
        let udp = HEADROOM - 8;
        buf[udp..udp + 2].copy_from_slice(&L2TP_PORT.to_be_bytes());
        buf[udp + 2..udp + 4].copy_from_slice(&port.to_be_bytes());
        buf[udp + 4..udp + 6].copy_from_slice(&udp_len.to_be_bytes());
        // Checksum 0: optional for UDP over IPv4, and the inner addresses are not this
        // host's to know behind a NAT (RFC 3948 §3.1.2 lets the receiver skip it).
        buf[udp + 6..udp + 8].fill(0);
        let end = HEADROOM + t.size;
        buf.resize(end + c.outbound.tailroom(), 0);
        let start = udp - c.outbound.headroom();
        let len = c.outbound.encapsulate(buf, udp..end, esp::NEXT_HEADER_UDP).ok()?.len();
        Some(OuterTransmit { destination: c.remote, plaintext: false, raw_esp: !c.udp, start, len })
    }

    /// The next event of the L2TP/PPP layer.
    pub fn poll_event(&mut self) -> Option<LnsEvent<L2tpPeer>> {
        self.lns.poll_event()
    }

    /// Answers an [`LnsEvent::Authenticate`].
    pub fn answer_auth(
        &mut self,
        now: Instant,
        session: l2tp::SessionHandle,
        id: AuthRequestId,
        verdict: AuthVerdict,
    ) -> Result<(), IpsecLnsError> {
        Ok(self.lns.answer_auth(now, session, id, verdict)?)
    }

    /// The earliest deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.lns.poll_timeout()
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.lns.handle_timeout(now);
    }
}

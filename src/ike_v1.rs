//! The server's IKEv1 side: one responder per peer, routing each ISAKMP message to its
//! exchange (phase 1 by initiator cookie, Quick Mode by message ID) and handing every
//! negotiated Child SA to the owner, who installs it in the data path
//! ([`IpsecLns::install_child_sa`](crate::ipsec_lns::IpsecLns::install_child_sa)).
//!
//! Input is an ISAKMP message as received on UDP/500, or on UDP/4500 after the non-ESP
//! marker (which [`IpsecLns::handle_udp4500`](crate::ipsec_lns::IpsecLns::handle_udp4500)
//! strips). Output datagrams say whether they go out on 4500 with the marker.
//!
//! Informational exchanges go to a Dead Peer Detection machine per peer (RFC 3706), which
//! answers R-U-THERE and probes an idle peer; a peer's Delete, or its death, ends its
//! connection ([`IkeEvent::PeerGone`]). A peer whose exchange failed is forgotten.
//!
//! Rekeying: a further Quick Mode on a connection installs its new SA pair for the same
//! connection ([`IkeEvent::ChildSaRekeyed`]); the peer's ESP Delete of the old pair, or
//! the old pair's hard lifetime, removes only it ([`IkeEvent::ChildSaRemoved`]). A new
//! Main Mode from a peer that already has an ISAKMP SA (same address and identity, no
//! INITIAL-CONTACT) re-authenticates the same connection ([`IkeEvent::PeerRekeyed`]);
//! the old ISAKMP SA's Delete (or its expiry, or its death) then only forgets it. A
//! connection ends when its last ESP SA pair or its last ISAKMP SA is deleted.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use l2sec_ike::child::{ChildSa, EspEncapsulation};
use l2sec_ike::v1::dpd::{Dpd, DpdConfig, DpdEvent};
use l2sec_ike::v1::info::Informational;
use l2sec_ike::v1::phase1::{self, NatStatus, NatTraversal, Phase1, Phase1Config};
use l2sec_ike::v1::quick::{IsakmpContext, QuickMode, QuickModeConfig, QuickModeEvent};
use l2sec_ike::wire::v1::ProtocolId;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};

use crate::ipsec_lns::ConnId;

/// ISAKMP exchange types (RFC 2408 §3.1, RFC 2409).
const EXCHANGE_MAIN: u8 = 2;
const EXCHANGE_AGGRESSIVE: u8 = 4;
const EXCHANGE_INFORMATIONAL: u8 = 5;
const EXCHANGE_QUICK: u8 = 32;

/// What the IKE side tells its owner.
#[derive(Debug)]
#[non_exhaustive]
pub enum IkeEvent {
    /// A peer authenticated (phase 1 done).
    PeerUp {
        /// The connection its Child SAs will belong to.
        conn: ConnId,
        /// Its address.
        remote: SocketAddr,
        /// NAT detection, if NAT-T was negotiated.
        nat: Option<NatStatus>,
        /// The peer's line of Wireshark's `ikev1_decryption_table` (secret: write it only
        /// to a key log the user asked for).
        keylog: zeroize::Zeroizing<String>,
    },
    /// A Child SA was negotiated: install it.
    ChildSa {
        /// The connection.
        conn: ConnId,
        /// The peer's current address.
        remote: SocketAddr,
        /// The SAs.
        child: Box<ChildSa>,
    },
    /// A further Quick Mode on a connection that has SAs (RFC 2409 §5.5 rekey): install
    /// `child` for the same connection; the old pair stays until
    /// [`IkeEvent::ChildSaRemoved`].
    ChildSaRekeyed {
        /// The connection.
        conn: ConnId,
        /// The peer's current address.
        remote: SocketAddr,
        /// Our inbound SPI of the newest pair before this one.
        old_spi_in: u32,
        /// The new SAs.
        child: Box<ChildSa>,
    },
    /// An old SA pair of a connection that lives on was deleted by the peer or expired:
    /// remove its inbound SA.
    ChildSaRemoved {
        /// The connection.
        conn: ConnId,
        /// Our inbound SPI of the pair.
        spi_in: u32,
    },
    /// A peer re-authenticated (a new ISAKMP SA for a connection that has one).
    PeerRekeyed {
        /// The connection.
        conn: ConnId,
        /// Its address.
        remote: SocketAddr,
        /// The new ISAKMP SA's line of Wireshark's `ikev1_decryption_table` (secret).
        keylog: zeroize::Zeroizing<String>,
    },
    /// A peer deleted its SAs or stopped answering Dead Peer Detection: remove its
    /// connection from the data path.
    PeerGone {
        /// The connection.
        conn: ConnId,
        /// The peer.
        remote: SocketAddr,
        /// True when DPD declared it dead, false when it deleted its SAs itself.
        dead: bool,
    },
    /// An exchange with a peer failed (wrong PSK, no proposal chosen, timeout).
    Failed {
        /// The peer.
        remote: SocketAddr,
        /// Why.
        error: l2sec_ike::Error,
    },
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeTransmit {
    /// Where to.
    pub destination: SocketAddr,
    /// Send from UDP/4500 with the non-ESP marker in front (RFC 3947 §4).
    pub udp_encapsulated: bool,
    /// The ISAKMP message.
    pub message: Vec<u8>,
}

struct Peer {
    remote: SocketAddr,
    conn: ConnId,
    phase1: Phase1<ChaCha20Rng>,
    context: Option<IsakmpContext>,
    nat: Option<NatStatus>,
    quick: HashMap<u32, QuickMode<ChaCha20Rng>>,
    dpd: Option<Dpd<ChaCha20Rng>>,
    /// The identity the peer proved in phase 1.
    peer_id: Option<phase1::Identity>,
    /// The peer's last message came on the NAT-T port: answer there.
    via_natt: bool,
}

/// One ESP SA pair of a connection.
#[derive(Debug, Clone, Copy)]
struct ChildRecord {
    spi_in: u32,
    spi_out: u32,
    /// End of its hard lifetime (it is removed then only once a newer pair exists).
    expires: Option<Instant>,
}

/// Moves every datagram a machine has ready (`poll` appends one to the buffer it is given)
/// into `out`, addressed to `destination`.
fn drain_transmits(
    out: &mut VecDeque<IkeTransmit>,
    destination: SocketAddr,
    via_natt: bool,
    mut poll: impl FnMut(&mut Vec<u8>) -> Option<phase1::Transmit>,
) {
    let mut buf = Vec::new();
    while let Some(t) = poll(&mut buf) {
        let message = buf[buf.len() - t.size..].to_vec();
        let udp_encapsulated = t.udp_encapsulated || via_natt;
        out.push_back(IkeTransmit { destination, udp_encapsulated, message });
        buf.clear();
    }
}

/// IKEv1 responders for every peer of a server.
pub struct IkeV1Server {
    phase1: Phase1Config,
    /// With certificates in `phase1`: the pre-shared-key configuration tried for a peer
    /// whose first message `phase1` refuses (it proposed PSK authentication).
    psk_fallback: Option<Phase1Config>,
    quick: QuickModeConfig,
    local: SocketAddr,
    peers: HashMap<[u8; 8], Peer>,
    seeds: ChaCha20Rng,
    next_conn: u32,
    out: VecDeque<IkeTransmit>,
    events: VecDeque<IkeEvent>,
    dpd_config: DpdConfig,
    /// False while shutting down: new phase-1 exchanges are refused.
    accepting: bool,
    /// The data path takes plain ESP (IP protocol 50) too: only NAT detection asks for
    /// UDP encapsulation.
    raw_esp: bool,
    /// The ESP SA pairs of each connection, oldest first.
    children: HashMap<ConnId, Vec<ChildRecord>>,
    /// Connections reported up and not yet gone.
    live: std::collections::HashSet<ConnId>,
}

impl std::fmt::Debug for IkeV1Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeV1Server").field("peers", &self.peers.len()).finish_non_exhaustive()
    }
}

impl IkeV1Server {
    /// A server answering Main Mode (and Aggressive Mode if `phase1.allow_aggressive`)
    /// and then Quick Mode with `quick` (its encapsulation is chosen per peer from NAT
    /// detection). `local` is the server's IKE address, for the NAT-D hashes.
    pub fn new<R: CryptoRng>(
        phase1: Phase1Config,
        quick: QuickModeConfig,
        local: SocketAddr,
        rng: &mut R,
    ) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self {
            phase1,
            psk_fallback: None,
            quick,
            local,
            peers: HashMap::new(),
            seeds: ChaCha20Rng::from_seed(seed),
            next_conn: 1,
            out: VecDeque::new(),
            events: VecDeque::new(),
            dpd_config: DpdConfig::default(),
            accepting: true,
            raw_esp: false,
            children: HashMap::new(),
            live: std::collections::HashSet::new(),
        }
    }

    /// Refuses new phase-1 exchanges from now on (the server is shutting down: a client
    /// that reconnects at once should meet the next server, not this one).
    pub fn refuse_new_peers(&mut self) {
        self.accepting = false;
    }

    /// Also accept peers that authenticate with a pre-shared key (`psk`, a configuration
    /// without certificate) when the main configuration uses certificates: a new peer
    /// whose first Main or Aggressive Mode message the main configuration refuses (it
    /// proposed no signature method) gets a responder with `psk` instead. `None` (the
    /// default): every peer must use the main configuration's method.
    pub fn set_psk_fallback(&mut self, psk: Option<Phase1Config>) {
        self.psk_fallback = psk.map(|mut c| {
            c.certificate = None;
            c
        });
    }

    /// The wall-clock time against which the certificates of peers that start phase 1
    /// from now on are checked (with certificate authentication; the owner, which reads
    /// the clock, calls it before routing each datagram).
    pub fn set_wall_clock(&mut self, now: l2sec_ike::cert::UnixTime) {
        if let Some(c) = self.phase1.certificate.as_mut() {
            c.now = now;
        }
    }

    /// Dead Peer Detection timing for peers that complete phase 1 from now on.
    pub fn set_dpd_config(&mut self, config: DpdConfig) {
        self.dpd_config = config;
    }

    /// `true`: the data path receives plain ESP (IP protocol 50), so Quick Mode asks for
    /// UDP encapsulation only when NAT detection found a NAT (RFC 3947 §5); `false` (the
    /// default): also for every peer not on port 500, whose ESP could not be received
    /// otherwise.
    pub fn set_raw_esp(&mut self, raw_esp: bool) {
        self.raw_esp = raw_esp;
    }

    fn rng(&mut self) -> ChaCha20Rng {
        let mut seed = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut self.seeds, &mut seed);
        ChaCha20Rng::from_seed(seed)
    }

    /// Number of peers with an exchange or an ISAKMP SA.
    #[must_use]
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// An ISAKMP message from `from`. Malformed or unexpected messages are dropped with
    /// an error and change nothing.
    pub fn handle_input(
        &mut self,
        now: Instant,
        from: SocketAddr,
        message: &[u8],
    ) -> Result<(), l2sec_ike::Error> {
        self.handle_input_via(now, from, message, false)
    }

    /// [`handle_input`](Self::handle_input) for a message that came on the NAT-T port
    /// (`via_natt`, the non-ESP marker removed): the answers go back there, with the
    /// marker. RFC 3947 §4: a peer that already floated to port 4500 (a phase-1 rekey)
    /// starts its new Main Mode there.
    pub fn handle_input_via(
        &mut self,
        now: Instant,
        from: SocketAddr,
        message: &[u8],
        via_natt: bool,
    ) -> Result<(), l2sec_ike::Error> {
        let result = self.input(now, from, message, via_natt);
        if result.is_ok() {
            let icookie: [u8; 8] = message[..8].try_into().expect("length checked by input");
            if let Some(p) = self.peers.get_mut(&icookie) {
                p.via_natt = via_natt;
            }
            self.drain(now, &icookie);
        }
        result
    }

    fn input(
        &mut self,
        now: Instant,
        from: SocketAddr,
        message: &[u8],
        _via_natt: bool,
    ) -> Result<(), l2sec_ike::Error> {
        let malformed = l2sec_ike::Error::UnexpectedMessage("not an ISAKMP message");
        if message.len() < 28 {
            return Err(malformed);
        }
        let icookie: [u8; 8] = message[..8].try_into().expect("length checked");
        let exchange = message[18];
        let message_id = u32::from_be_bytes(message[20..24].try_into().expect("length checked"));
        match exchange {
            EXCHANGE_MAIN | EXCHANGE_AGGRESSIVE => {
                if !self.peers.contains_key(&icookie) {
                    if !self.accepting {
                        return Err(l2sec_ike::Error::UnexpectedMessage("shutting down: no new ISAKMP SA"));
                    }
                    if message[8..16] != [0; 8] {
                        return Err(l2sec_ike::Error::UnexpectedMessage("unknown ISAKMP SA"));
                    }
                    let nat_traversal =
                        Some(NatTraversal { local: self.local, remote: from, force_encapsulation: false });
                    let mut config = self.phase1.clone();
                    config.nat_traversal = nat_traversal;
                    let rng = self.rng();
                    let conn = ConnId(self.next_conn);
                    let mut phase1 = Phase1::respond(config, rng, now);
                    if let Err(e) = phase1.handle_input(now, message) {
                        // A peer proposing only PSK to a certificate server: its own
                        // responder, if PSK peers are welcome too.
                        let Some(mut config) = self.psk_fallback.clone() else { return Err(e) };
                        config.nat_traversal = nat_traversal;
                        phase1 = Phase1::respond(config, self.rng(), now);
                        phase1.handle_input(now, message)?;
                    }
                    self.next_conn += 1;
                    self.peers.insert(
                        icookie,
                        Peer {
                            remote: from,
                            conn,
                            phase1,
                            context: None,
                            nat: None,
                            quick: HashMap::new(),
                            dpd: None,
                            peer_id: None,
                            via_natt: false,
                        },
                    );
                } else {
                    let peer = self.peers.get_mut(&icookie).expect("checked");
                    peer.phase1.handle_input(now, message)?;
                    peer.remote = from;
                }
            }
            EXCHANGE_QUICK => {
                let rng = self.rng();
                let quick_template = self.quick.clone();
                let raw_esp = self.raw_esp;
                let peer = self
                    .peers
                    .get_mut(&icookie)
                    .ok_or(l2sec_ike::Error::UnexpectedMessage("no ISAKMP SA"))?;
                let context =
                    peer.context.clone().ok_or(l2sec_ike::Error::UnexpectedMessage("phase 1 incomplete"))?;
                match peer.quick.get_mut(&message_id) {
                    Some(q) => q.handle_input(now, message)?,
                    None => {
                        let mut config = quick_template;
                        config.encapsulation = if peer.nat.is_some_and(|n| n.nat_detected())
                            || (!raw_esp && from.port() != 500)
                        {
                            EspEncapsulation::Udp { local_port: self.local.port(), remote_port: from.port() }
                        } else {
                            EspEncapsulation::None
                        };
                        let q = QuickMode::respond(context, config, rng, now, message)?;
                        peer.quick.insert(message_id, q);
                    }
                }
                peer.remote = from;
            }
            EXCHANGE_INFORMATIONAL => {
                let peer = self
                    .peers
                    .get_mut(&icookie)
                    .ok_or(l2sec_ike::Error::UnexpectedMessage("no ISAKMP SA"))?;
                let dpd =
                    peer.dpd.as_mut().ok_or(l2sec_ike::Error::UnexpectedMessage("phase 1 incomplete"))?;
                let items = dpd.handle_input(now, message)?;
                dpd.traffic_seen(now);
                peer.remote = from;
                let (conn, remote) = (peer.conn, peer.remote);
                let mut deletes_isakmp = false;
                let mut esp_deleted = false;
                for item in &items {
                    let Informational::Delete { protocol_id, spis } = item else { continue };
                    match *protocol_id {
                        ProtocolId::Isakmp => deletes_isakmp = true,
                        ProtocolId::IpsecEsp => {
                            for spi in spis {
                                let Ok(spi) = <[u8; 4]>::try_from(spi.as_slice()).map(u32::from_be_bytes)
                                else {
                                    continue;
                                };
                                esp_deleted |= self.remove_child(conn, spi);
                            }
                        }
                        _ => {}
                    }
                }
                if deletes_isakmp {
                    self.peers.remove(&icookie);
                }
                // RFC 2408 §4.6.3: the peer deleted its last ESP SA pair (it hangs up) or
                // its last ISAKMP SA: the connection ends. An old pair after a Quick Mode
                // rekey, or an old ISAKMP SA after a new Main Mode, goes alone.
                let no_children = self.children.get(&conn).is_none_or(Vec::is_empty);
                let no_isakmp = !self.peers.values().any(|p| p.conn == conn);
                if (esp_deleted && no_children) || (deletes_isakmp && no_isakmp) {
                    self.end(conn, remote, false);
                }
                if deletes_isakmp {
                    return Ok(());
                }
            }
            _ => return Err(l2sec_ike::Error::UnexpectedMessage("exchange type not handled")),
        }
        Ok(())
    }

    /// Ends a connection once: forgets its SA pairs and reports it gone.
    fn end(&mut self, conn: ConnId, remote: SocketAddr, dead: bool) {
        self.children.remove(&conn);
        if self.live.remove(&conn) {
            self.events.push_back(IkeEvent::PeerGone { conn, remote, dead });
        }
    }

    /// RFC 2408 §4.6.3: the peer deleted the ESP SA named by `spi` (its inbound SPI, our
    /// outbound one; ours is accepted too). Returns whether `conn` had it.
    fn remove_child(&mut self, conn: ConnId, spi: u32) -> bool {
        let Some(list) = self.children.get_mut(&conn) else { return false };
        let Some(i) = list.iter().position(|c| c.spi_out == spi || c.spi_in == spi) else { return false };
        let gone = list.remove(i);
        if !list.is_empty() {
            self.events.push_back(IkeEvent::ChildSaRemoved { conn, spi_in: gone.spi_in });
        }
        true
    }

    /// The connection a new ISAKMP SA with `remote` and `peer_id` re-authenticates: an
    /// established one of the same identity from the same address (the same port if
    /// there is one, else the same host).
    fn reauthenticated_conn(
        &self,
        icookie: &[u8; 8],
        remote: SocketAddr,
        peer_id: &phase1::Identity,
    ) -> Option<ConnId> {
        let candidates = || {
            self.peers.iter().filter(move |(k, p)| {
                *k != icookie
                    && p.context.is_some()
                    && p.peer_id.as_ref() == Some(peer_id)
                    && p.remote.ip() == remote.ip()
                    && self.live.contains(&p.conn)
            })
        };
        candidates().find(|(_, p)| p.remote == remote).or_else(|| candidates().next()).map(|(_, p)| p.conn)
    }

    /// Collects what the peer's machines want to send and tell.
    fn drain(&mut self, now: Instant, icookie: &[u8; 8]) {
        let Some(peer) = self.peers.get_mut(icookie) else { return };
        let mut failed = None;
        let mut established = None;
        let mut expired = false;
        drain_transmits(&mut self.out, peer.remote, peer.via_natt, |b| peer.phase1.poll_transmit(now, b));
        while let Some(ev) = peer.phase1.poll_event() {
            match ev {
                phase1::Event::Established { nat, peer_id, initial_contact, .. } => {
                    peer.context = peer.phase1.isakmp_context();
                    peer.nat = nat;
                    peer.peer_id = Some(peer_id);
                    if let Some(ctx) = peer.context.clone() {
                        let mut seed = [0u8; 32];
                        rand_core::Rng::fill_bytes(&mut self.seeds, &mut seed);
                        peer.dpd = Some(Dpd::new(ctx, self.dpd_config, ChaCha20Rng::from_seed(seed), now));
                    }
                    established = Some((nat, initial_contact));
                }
                phase1::Event::Failed(error) => failed = Some(error),
                phase1::Event::Expired => expired = true,
                _ => {}
            }
        }
        if let Some((nat, initial_contact)) = established {
            let (remote, id) = (peer.remote, peer.peer_id.clone().expect("set above"));
            let keylog =
                peer.context.as_ref().map(l2sec_ike::keylog::ikev1_line_for_context).unwrap_or_default();
            let old = if initial_contact { None } else { self.reauthenticated_conn(icookie, remote, &id) };
            let peer = self.peers.get_mut(icookie).expect("present");
            match old {
                Some(conn) => {
                    // Phase-1 rekey / re-authentication: the same connection goes on.
                    peer.conn = conn;
                    self.events.push_back(IkeEvent::PeerRekeyed { conn, remote, keylog });
                }
                None => {
                    self.live.insert(peer.conn);
                    self.events.push_back(IkeEvent::PeerUp { conn: peer.conn, remote, nat, keylog });
                }
            }
        }
        let peer = self.peers.get_mut(icookie).expect("present");
        let (conn, remote) = (peer.conn, peer.remote);
        let mut done = Vec::new();
        let mut children = Vec::new();
        for (id, q) in &mut peer.quick {
            drain_transmits(&mut self.out, peer.remote, peer.via_natt, |b| q.poll_transmit(now, b));
            while let Some(ev) = q.poll_event() {
                match ev {
                    QuickModeEvent::Established { child, .. } => {
                        children.push(child);
                        done.push(*id);
                    }
                    QuickModeEvent::Failed(error) => {
                        self.events.push_back(IkeEvent::Failed { remote: peer.remote, error });
                        done.push(*id);
                    }
                    _ => {}
                }
            }
        }
        for id in done {
            peer.quick.remove(&id);
        }
        let mut dead = false;
        if let Some(dpd) = peer.dpd.as_mut() {
            drain_transmits(&mut self.out, peer.remote, peer.via_natt, |b| dpd.poll_transmit(now, b));
            while let Some(ev) = dpd.poll_event() {
                dead |= matches!(ev, DpdEvent::PeerDead);
            }
        }
        for child in children {
            let record = ChildRecord {
                spi_in: child.spi_in,
                spi_out: child.spi_out,
                expires: child.hard_lifetime.time.map(|t| now + t),
            };
            self.live.insert(conn);
            let list = self.children.entry(conn).or_default();
            let previous = list.last().map(|c| c.spi_in);
            list.push(record);
            self.events.push_back(match previous {
                Some(old_spi_in) => IkeEvent::ChildSaRekeyed { conn, remote, old_spi_in, child },
                None => IkeEvent::ChildSa { conn, remote, child },
            });
        }
        if let Some(error) = failed {
            self.events.push_back(IkeEvent::Failed { remote, error });
            self.peers.remove(icookie);
            return;
        }
        let others = self.peers.iter().any(|(k, p)| k != icookie && p.conn == conn);
        if dead || (expired && others) {
            // A superseded ISAKMP SA goes alone; the last one takes its connection along
            // when DPD declared the peer dead. (The last one past its lifetime stays: the
            // peer's ESP SAs outlive it, RFC 2409 §5.5.)
            self.peers.remove(icookie);
            if !others {
                self.end(conn, remote, true);
            }
        }
    }

    /// Removes the old SA pairs of connections that have newer ones once their hard
    /// lifetime is over (a peer that never sent their Delete).
    fn expire_children(&mut self, now: Instant) {
        for (conn, list) in &mut self.children {
            let newest = list.len().saturating_sub(1);
            let mut i = 0;
            list.retain(|c| {
                let keep = i == newest || c.expires.is_none_or(|t| t > now);
                if !keep {
                    self.events.push_back(IkeEvent::ChildSaRemoved { conn: *conn, spi_in: c.spi_in });
                }
                i += 1;
                keep
            });
        }
    }

    /// Authenticated traffic (ESP) arrived on `conn`: the peer is alive, so Dead Peer
    /// Detection need not probe it yet (RFC 3706 §5.3).
    pub fn traffic_seen(&mut self, now: Instant, conn: ConnId) {
        for d in self.peers.values_mut().filter(|p| p.conn == conn).filter_map(|p| p.dpd.as_mut()) {
            d.traffic_seen(now);
        }
    }

    /// Deletes every peer's SAs: one Informational with a Delete of its ESP SAs
    /// (`esp_spis(conn)`, our inbound SPIs) and one with a Delete of the ISAKMP SA (the
    /// cookie pair as its SPI), RFC 2408 §3.15 and §4.6.3; then forgets the peers. Deletes
    /// are not acknowledged in IKEv1, so nothing waits for an answer.
    pub fn delete_all(&mut self, mut esp_spis: impl FnMut(ConnId) -> Vec<u32>) {
        let mut rng = self.rng();
        let mut ended = std::collections::HashSet::new();
        for (_, peer) in self.peers.drain() {
            let Some(ctx) = peer.context.as_ref() else { continue };
            let first = ended.insert(peer.conn);
            let spis: Vec<Vec<u8>> = if first { esp_spis(peer.conn) } else { Vec::new() }
                .iter()
                .map(|s| s.to_be_bytes().to_vec())
                .collect();
            let mut cookies = ctx.cookies.0.to_vec();
            cookies.extend_from_slice(&ctx.cookies.1);
            let mut deletes = Vec::new();
            if !spis.is_empty() {
                deletes.push(Informational::Delete { protocol_id: ProtocolId::IpsecEsp, spis });
            }
            deletes.push(Informational::Delete { protocol_id: ProtocolId::Isakmp, spis: vec![cookies] });
            for d in &deletes {
                if let Ok(message) = l2sec_ike::v1::info::encode(ctx, d, &mut rng) {
                    self.out.push_back(IkeTransmit {
                        destination: peer.remote,
                        udp_encapsulated: ctx.udp_encapsulated,
                        message,
                    });
                }
            }
            if first && self.live.remove(&peer.conn) {
                self.events.push_back(IkeEvent::PeerGone {
                    conn: peer.conn,
                    remote: peer.remote,
                    dead: false,
                });
            }
        }
        self.children.clear();
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<IkeTransmit> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<IkeEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline of any exchange.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers
            .values()
            .flat_map(|p| {
                p.quick
                    .values()
                    .filter_map(QuickMode::poll_timeout)
                    .chain(p.phase1.poll_timeout())
                    .chain(p.dpd.as_ref().and_then(Dpd::poll_timeout))
            })
            .chain(
                self.children
                    .values()
                    .flat_map(|l| l.iter().take(l.len().saturating_sub(1)).filter_map(|c| c.expires)),
            )
            .min()
    }

    /// Runs the timers that are due (retransmissions, handshake timeouts, lifetimes).
    pub fn handle_timeout(&mut self, now: Instant) {
        let keys: Vec<[u8; 8]> = self.peers.keys().copied().collect();
        for k in keys {
            if let Some(p) = self.peers.get_mut(&k) {
                p.phase1.handle_timeout(now);
                for q in p.quick.values_mut() {
                    q.handle_timeout(now);
                }
                if let Some(d) = p.dpd.as_mut() {
                    d.handle_timeout(now);
                }
            }
            self.drain(now, &k);
        }
        self.expire_children(now);
    }
}

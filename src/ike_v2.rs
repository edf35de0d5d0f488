//! The server's IKEv2 side: one [`IkeSa`] responder per client, keyed by the SPI we chose
//! for it, each ending with the L2TP transport-mode Child SA (UDP/1701) that the owner
//! installs in the data path
//! ([`IpsecLns::install_child_sa`](crate::ipsec_lns::IpsecLns::install_child_sa)), exactly
//! as for IKEv1.
//!
//! Input is an IKEv2 message as received on UDP/500, or on UDP/4500 after the non-ESP
//! marker (RFC 7296 §2.23, RFC 3948 §2.2). A client that moved to port 4500 is answered
//! there, with the marker ([`IkeTransmit::udp_encapsulated`]).
//!
//! The responders pretend to be behind a NAT by default
//! ([`IkeV2Config::force_encapsulation`]): the data path only speaks ESP in UDP/4500, so
//! every client is made to encapsulate (RFC 7296 §2.23 lets an endpoint do so).
//!
//! Liveness (RFC 7296 §2.4): a client that sent nothing authenticated (IKE or ESP) for
//! [`IkeV2Config::liveness_interval`] gets an empty INFORMATIONAL request; when the
//! retransmissions of it go unanswered it is declared dead ([`IkeV2Event::PeerGone`] with
//! `dead`). A client's Delete of its Child SA or of the IKE SA ends its connection too.
//!
//! Half-open SAs (IKE_SA_INIT answered, IKE_AUTH not yet done) are bounded by
//! [`IkeV2Config::max_half_open`]: beyond it new IKE_SA_INIT requests are dropped until
//! some handshake finishes or times out. Not here yet: answering with COOKIEs instead
//! (RFC 7296 §2.6, the responder side is not in `l2sec-ike`).
//!
//! Rekeying (RFC 7296 §1.3.2, §1.3.3, §2.8): a client's CREATE_CHILD_SA rekey of its
//! Child SA hands the new SAs to the owner for the same connection
//! ([`IkeV2Event::ChildSaRekeyed`]) and the old pair's Delete removes only that pair
//! ([`IkeV2Event::ChildSaRemoved`]); a rekey of the IKE SA moves the machine to the new
//! SPIs while the old ones still reach it for the old SA's Delete.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use l2sec_ike::child::{ChildSa, EspEncryption, EspIntegrity};
use l2sec_ike::v1::keys::SecretBytes;
use l2sec_ike::v2::ike_sa::{ChildConfig, Event, Identity, IkeSa, IkeSaConfig, NatStatus, Role, State};
use l2sec_ike::wire::v2::TrafficSelector;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};

pub use crate::ike_v1::IkeTransmit;
use crate::ipsec_lns::ConnId;

/// RFC 7296 §3.1: the first ConnId of IKEv2 connections. IKEv1 numbers its connections
/// from 1 upwards; the two servers share one data path, so IKEv2 counts from the top
/// half of the space.
const FIRST_CONN: u32 = 0x8000_0000;

/// The IKE header is 28 bytes (RFC 7296 §3.1).
const HEADER_LEN: usize = 28;

/// How the IKEv2 responders are set up.
#[derive(Debug, Clone)]
pub struct IkeV2Config {
    /// Every responder's settings; `local`, `remote` and the Child SA's traffic selectors
    /// are filled in per client.
    pub template: IkeSaConfig,
    /// Make clients encapsulate ESP in UDP/4500 even without a NAT (the data path only
    /// receives ESP there).
    pub force_encapsulation: bool,
    /// Ask a silent client whether it is alive after this long without authenticated
    /// traffic from it.
    pub liveness_interval: Duration,
    /// At most this many IKE SAs between IKE_SA_INIT and the end of IKE_AUTH.
    pub max_half_open: usize,
}

impl IkeV2Config {
    /// An L2TP/IPsec responder with a pre-shared key: the IKE suites of
    /// [`IkeSaConfig::new`], ESP transport mode for UDP/1701 of any client address
    /// (AES-CBC with HMAC-SHA2-256-128 or HMAC-SHA1-96, AES-GCM-16), 30 s liveness
    /// interval, 1024 half-open SAs.
    #[must_use]
    pub fn new(psk: &[u8], local_id: Identity) -> Self {
        let any: SocketAddr = (Ipv4Addr::UNSPECIFIED, 0).into();
        let mut template = IkeSaConfig::new(psk, local_id, any, any);
        template.child = l2tp_child();
        Self {
            template,
            force_encapsulation: true,
            liveness_interval: Duration::from_secs(30),
            max_half_open: 1024,
        }
    }

    /// The pre-shared key.
    #[must_use]
    pub fn psk(&self) -> &SecretBytes {
        &self.template.psk
    }
}

/// RFC 7296 §2.9: the server's selectors for the L2TP Child SA: its UDP/1701 on any of
/// its addresses, any UDP port of any client address (clients behind a NAT propose their
/// private address, which the server cannot know); narrowing gives the client's own
/// proposal back.
fn l2tp_child() -> ChildConfig {
    let v4 = |port: Option<u16>| TrafficSelector::Ipv4 {
        ip_protocol: 17,
        start_port: port.unwrap_or(0),
        end_port: port.unwrap_or(u16::MAX),
        start: Ipv4Addr::UNSPECIFIED,
        end: Ipv4Addr::BROADCAST,
    };
    let v6 = |port: Option<u16>| TrafficSelector::Ipv6 {
        ip_protocol: 17,
        start_port: port.unwrap_or(0),
        end_port: port.unwrap_or(u16::MAX),
        start: Ipv6Addr::UNSPECIFIED,
        end: Ipv6Addr::from([0xff; 16]),
    };
    let mut child = ChildConfig::l2tp(IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    child.local_ts = vec![v4(Some(crate::ipsec_lns::L2TP_PORT)), v6(Some(crate::ipsec_lns::L2TP_PORT))];
    child.remote_ts = vec![v4(None), v6(None)];
    // What built-in clients offer besides the defaults.
    child.proposals.push((EspEncryption::AesCbc { key_len: 16 }, EspIntegrity::HmacSha1_96));
    child.proposals.push((EspEncryption::AesCbc { key_len: 32 }, EspIntegrity::HmacSha1_96));
    child
}

/// What the IKEv2 side tells its owner (the same steps as
/// [`IkeEvent`](crate::ike_v1::IkeEvent) for IKEv1).
#[derive(Debug)]
#[non_exhaustive]
pub enum IkeV2Event {
    /// A client authenticated (IKE_AUTH done).
    PeerUp {
        /// The connection its Child SA belongs to.
        conn: ConnId,
        /// Its address.
        remote: SocketAddr,
        /// NAT detection (forced encapsulation shows as our side behind a NAT).
        nat: NatStatus,
        /// The IKE SA's line of Wireshark's `ikev2_decryption_table` (secret: write it
        /// only to a key log the user asked for).
        keylog: zeroize::Zeroizing<String>,
    },
    /// The L2TP Child SA was negotiated: install it.
    ChildSa {
        /// The connection.
        conn: ConnId,
        /// The client's current address.
        remote: SocketAddr,
        /// The SAs.
        child: Box<ChildSa>,
    },
    /// RFC 7296 §1.3.3, §2.8: the client rekeyed the connection's Child SA: install
    /// `child` for the same connection (outbound traffic moves to it) and keep accepting
    /// on `old_spi_in` until [`IkeV2Event::ChildSaRemoved`].
    ChildSaRekeyed {
        /// The connection.
        conn: ConnId,
        /// The client's current address.
        remote: SocketAddr,
        /// Our inbound SPI of the Child SA replaced.
        old_spi_in: u32,
        /// The new SAs.
        child: Box<ChildSa>,
    },
    /// RFC 7296 §1.4.1: one Child SA of a connection that keeps others (the old one after
    /// a rekey) was deleted: remove its inbound SA from the data path.
    ChildSaRemoved {
        /// The connection.
        conn: ConnId,
        /// Our inbound SPI of the deleted pair.
        spi_in: u32,
    },
    /// RFC 7296 §1.3.2, §2.18: the client's IKE SA was rekeyed; the connection, its
    /// Child SAs and its session stay.
    IkeSaRekeyed {
        /// The connection.
        conn: ConnId,
        /// The client's current address.
        remote: SocketAddr,
        /// The new IKE SA's line of Wireshark's `ikev2_decryption_table` (secret).
        keylog: zeroize::Zeroizing<String>,
    },
    /// The client deleted its Child SA or IKE SA, or stopped answering liveness checks:
    /// remove its connection.
    PeerGone {
        /// The connection.
        conn: ConnId,
        /// The client.
        remote: SocketAddr,
        /// True when it was declared dead, false when it deleted its SAs.
        dead: bool,
    },
    /// A handshake failed (wrong PSK, no proposal chosen, timeout), or the client's IKE
    /// SA came up without the L2TP Child SA (it is deleted again).
    Failed {
        /// The client.
        remote: SocketAddr,
        /// Why.
        error: l2sec_ike::Error,
    },
}

struct Peer {
    sa: IkeSa<ChaCha20Rng>,
    conn: ConnId,
    remote: SocketAddr,
    /// The client talks to us on the NAT-T port (answer there, with the marker).
    via_natt: bool,
    /// `init_index` key while the handshake runs.
    init_key: Option<([u8; 8], SocketAddr)>,
    /// The connection was reported up and not yet gone.
    up: bool,
    /// Last authenticated traffic from the client.
    last_seen: Instant,
}

/// IKEv2 responders for every client of a server.
///
/// ```
/// use std::time::Instant;
/// use l2sec::ike_v2::{IkeV2Config, IkeV2Event, IkeV2Server};
/// use l2sec_ike::v2::ike_sa::{Identity, IkeSa, IkeSaConfig};
/// use rand_chacha::ChaCha20Rng;
/// use rand_core::SeedableRng;
///
/// let now = Instant::now();
/// let (server_addr, client_addr) = ("192.0.2.1:500".parse()?, "192.0.2.2:500".parse()?);
/// let config = IkeV2Config::new(b"psk", Identity::fqdn("server"));
/// let mut server = IkeV2Server::new(config, server_addr, &mut ChaCha20Rng::seed_from_u64(1));
/// let client_config = IkeSaConfig::new(b"psk", Identity::fqdn("client"), client_addr, server_addr);
/// let mut client = IkeSa::initiate(client_config, ChaCha20Rng::seed_from_u64(2), now)?;
/// let mut buf = Vec::new();
/// loop {
///     buf.clear();
///     if let Some(t) = client.poll_transmit(now, &mut buf) {
///         server.handle_input(now, client_addr, &buf, t.udp_encapsulated)?;
///     } else if let Some(t) = server.poll_transmit() {
///         client.handle_input(now, &t.message)?;
///     } else {
///         break;
///     }
/// }
/// assert!(matches!(server.poll_event(), Some(IkeV2Event::PeerUp { .. })));
/// // The L2TP Child SA, for `IpsecLns::install_child_sa`.
/// assert!(matches!(server.poll_event(), Some(IkeV2Event::ChildSa { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct IkeV2Server {
    config: IkeV2Config,
    local: SocketAddr,
    /// By our (responder) SPI.
    sas: HashMap<[u8; 8], Peer>,
    /// IKE_SA_INIT retransmissions find their SA by the initiator's SPI and address.
    init_index: HashMap<([u8; 8], SocketAddr), [u8; 8]>,
    /// The IKE SA of each connection (ESP traffic names the connection).
    by_conn: HashMap<ConnId, [u8; 8]>,
    /// RFC 7296 §2.18: our SPI of a rekeyed IKE SA → the `sas` key of its machine (which
    /// keeps its first SPI as key, so the old IKE SA's Delete still finds it).
    rekeyed: HashMap<[u8; 8], [u8; 8]>,
    seeds: ChaCha20Rng,
    next_conn: u32,
    out: VecDeque<IkeTransmit>,
    events: VecDeque<IkeV2Event>,
}

impl std::fmt::Debug for IkeV2Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeV2Server")
            .field("sas", &self.sas.len())
            .field("half_open", &self.init_index.len())
            .finish_non_exhaustive()
    }
}

impl IkeV2Server {
    /// The wall-clock time against which the certificates of clients that start an IKE
    /// SA from now on are checked (with certificate authentication; the owner, which reads
    /// the clock, calls it before routing each datagram).
    pub fn set_wall_clock(&mut self, now: l2sec_ike::cert::UnixTime) {
        if let Some(c) = self.config.template.certificate.as_mut() {
            c.now = now;
        }
    }

    /// A server answering IKE_SA_INIT and IKE_AUTH with `config`. `local` is the
    /// server's IKE address (UDP/500), for NAT detection.
    pub fn new<R: CryptoRng>(config: IkeV2Config, local: SocketAddr, rng: &mut R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self {
            config,
            local,
            sas: HashMap::new(),
            init_index: HashMap::new(),
            by_conn: HashMap::new(),
            rekeyed: HashMap::new(),
            seeds: ChaCha20Rng::from_seed(seed),
            next_conn: FIRST_CONN,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn rng(&mut self) -> ChaCha20Rng {
        let mut seed = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut self.seeds, &mut seed);
        ChaCha20Rng::from_seed(seed)
    }

    /// Number of IKE SAs (handshaking or established).
    #[must_use]
    pub fn sa_count(&self) -> usize {
        self.sas.len()
    }

    /// Number of IKE SAs whose handshake is not finished.
    #[must_use]
    pub fn half_open_count(&self) -> usize {
        self.init_index.len()
    }

    /// An IKEv2 message from `from` (without the non-ESP marker); `via_natt` when it came
    /// on the NAT-T port. Malformed or unexpected messages are dropped with an error and
    /// change nothing.
    pub fn handle_input(
        &mut self,
        now: Instant,
        from: SocketAddr,
        message: &[u8],
        via_natt: bool,
    ) -> Result<(), l2sec_ike::Error> {
        if message.len() < HEADER_LEN || message[17] >> 4 != 2 {
            return Err(l2sec_ike::Error::UnexpectedMessage("not an IKEv2 message"));
        }
        let spi_i: [u8; 8] = message[..8].try_into().expect("length checked");
        let spi_r: [u8; 8] = message[8..16].try_into().expect("length checked");
        let key = if spi_r == [0; 8] {
            match self.init_index.get(&(spi_i, from)) {
                Some(k) => *k,
                None => return self.new_responder(now, from, message, via_natt),
            }
        } else if self.sas.contains_key(&spi_r) {
            spi_r
        } else {
            // After a rekey the header names the new IKE SA: ours is the responder SPI
            // when the client rekeyed, the initiator SPI when we did.
            *self.rekeyed.get(&spi_r).or_else(|| self.rekeyed.get(&spi_i)).unwrap_or(&spi_r)
        };
        let peer = self.sas.get_mut(&key).ok_or(l2sec_ike::Error::UnexpectedMessage("unknown IKE SA"))?;
        let result = peer.sa.handle_input(now, message);
        if result.is_ok() {
            // Authenticated (or a duplicate of what was): the client is here now.
            peer.remote = from;
            peer.via_natt = via_natt;
            peer.last_seen = now;
        }
        // Even a refused message can end the exchange with an answer
        // (AUTHENTICATION_FAILED) and a failure to report. Answers go back where the
        // request came from (RFC 7296 §2.11).
        self.drain(now, key, Some((from, via_natt)));
        result
    }

    /// RFC 7296 §1.2: an IKE_SA_INIT request for a new IKE SA.
    fn new_responder(
        &mut self,
        now: Instant,
        from: SocketAddr,
        message: &[u8],
        via_natt: bool,
    ) -> Result<(), l2sec_ike::Error> {
        if self.init_index.len() >= self.config.max_half_open {
            return Err(l2sec_ike::Error::UnexpectedMessage("too many half-open IKE SAs"));
        }
        let mut config = self.config.template.clone();
        config.local = self.local;
        config.remote = from;
        config.force_encapsulation = self.config.force_encapsulation;
        let rng = self.rng();
        let mut sa = IkeSa::respond(config, rng, now);
        let result = sa.handle_input(now, message);
        if sa.state() != State::InitReplied {
            // Refused (INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN, ...): send the answer if
            // there is one and keep nothing (RFC 7296 §2.6 spirit: no state for strangers).
            let mut buf = Vec::new();
            while let Some(t) = sa.poll_transmit(now, &mut buf) {
                let message = buf[buf.len() - t.size..].to_vec();
                self.out.push_back(IkeTransmit { destination: from, udp_encapsulated: via_natt, message });
                buf.clear();
            }
            return result;
        }
        let (_, spi_r) = sa.spis();
        let spi_i: [u8; 8] = message[..8].try_into().expect("length checked");
        let conn = ConnId(self.next_conn);
        self.next_conn = self.next_conn.wrapping_add(1).max(FIRST_CONN);
        self.init_index.insert((spi_i, from), spi_r);
        self.by_conn.insert(conn, spi_r);
        self.sas.insert(
            spi_r,
            Peer {
                sa,
                conn,
                remote: from,
                via_natt,
                init_key: Some((spi_i, from)),
                up: false,
                last_seen: now,
            },
        );
        self.drain(now, spi_r, Some((from, via_natt)));
        Ok(())
    }

    /// Removes an IKE SA and its handshake index entry.
    fn forget(&mut self, key: [u8; 8]) {
        if let Some(p) = self.sas.remove(&key) {
            self.rekeyed.retain(|_, k| *k != key);
            self.by_conn.remove(&p.conn);
            if let Some(k) = p.init_key {
                self.init_index.remove(&k);
            }
        }
    }

    /// Collects what one IKE SA wants to send and tell. `reply_to`: the address and
    /// port (NAT-T or not) of the message just received, which what the SA sends now
    /// answers; without it (timers), datagrams go to the client's last authenticated
    /// address.
    fn drain(&mut self, now: Instant, key: [u8; 8], reply_to: Option<(SocketAddr, bool)>) {
        let Some(peer) = self.sas.get_mut(&key) else { return };
        let mut buf = Vec::new();
        while let Some(t) = peer.sa.poll_transmit(now, &mut buf) {
            let message = buf[buf.len() - t.size..].to_vec();
            let (destination, udp_encapsulated) =
                reply_to.unwrap_or((peer.remote, t.udp_encapsulated || peer.via_natt));
            self.out.push_back(IkeTransmit { destination, udp_encapsulated, message });
            buf.clear();
        }
        let mut remove = false;
        let mut delete = false;
        while let Some(ev) = peer.sa.poll_event() {
            match ev {
                Event::Established { child, nat, .. } => {
                    if let Some(k) = peer.init_key.take() {
                        self.init_index.remove(&k);
                    }
                    peer.up = true;
                    let keylog = l2sec_ike::keylog::ikev2_line_for_sa(&peer.sa).unwrap_or_default();
                    self.events.push_back(IkeV2Event::PeerUp {
                        conn: peer.conn,
                        remote: peer.remote,
                        nat,
                        keylog,
                    });
                    self.events.push_back(IkeV2Event::ChildSa {
                        conn: peer.conn,
                        remote: peer.remote,
                        child: Box::new(child),
                    });
                }
                Event::EstablishedWithoutChild { refused, .. } => {
                    if let Some(k) = peer.init_key.take() {
                        self.init_index.remove(&k);
                    }
                    // An L2TP/IPsec client has nothing to do without its Child SA.
                    self.events.push_back(IkeV2Event::Failed { remote: peer.remote, error: refused });
                    delete = true;
                }
                Event::Failed(error) => {
                    if peer.up {
                        peer.up = false;
                        let dead = matches!(error, l2sec_ike::Error::Timeout);
                        self.events.push_back(IkeV2Event::PeerGone {
                            conn: peer.conn,
                            remote: peer.remote,
                            dead,
                        });
                    } else {
                        self.events.push_back(IkeV2Event::Failed { remote: peer.remote, error });
                    }
                    remove = true;
                }
                Event::ChildSaRekeyed { old_spi_in, child, .. } => {
                    self.events.push_back(IkeV2Event::ChildSaRekeyed {
                        conn: peer.conn,
                        remote: peer.remote,
                        old_spi_in,
                        child: Box::new(child),
                    });
                }
                Event::ChildSaCreated { child, .. } => {
                    // A further Child SA on the same connection (not what L2TP clients do,
                    // but harmless): it carries the same connection's traffic.
                    self.events.push_back(IkeV2Event::ChildSa {
                        conn: peer.conn,
                        remote: peer.remote,
                        child: Box::new(child),
                    });
                }
                Event::IkeSaRekeyed { spis, .. } => {
                    let ours = if peer.sa.role() == Role::Responder { spis.1 } else { spis.0 };
                    self.rekeyed.insert(ours, key);
                    let keylog = l2sec_ike::keylog::ikev2_line_for_sa(&peer.sa).unwrap_or_default();
                    self.events.push_back(IkeV2Event::IkeSaRekeyed {
                        conn: peer.conn,
                        remote: peer.remote,
                        keylog,
                    });
                }
                Event::ChildDeleted { spi_in } if peer.up && !peer.sa.child_spis().is_empty() => {
                    // RFC 7296 §2.8: the old Child SA after a rekey; the connection lives on
                    // in the new one.
                    self.events.push_back(IkeV2Event::ChildSaRemoved { conn: peer.conn, spi_in });
                }
                Event::ChildDeleted { .. } | Event::Closed => {
                    // The L2TP Child SA was the point of the IKE SA: end both.
                    delete |= peer.sa.state() == State::Established;
                    if peer.up {
                        peer.up = false;
                        self.events.push_back(IkeV2Event::PeerGone {
                            conn: peer.conn,
                            remote: peer.remote,
                            dead: false,
                        });
                    }
                    remove |= peer.sa.state() == State::Closed;
                }
                _ => {}
            }
        }
        if delete && peer.sa.delete(now).is_ok() {
            self.drain(now, key, None);
            return;
        }
        if remove {
            // A Delete's answer must still go out: it was queued above.
            self.forget(key);
        }
    }

    /// Authenticated traffic (ESP) arrived on `conn`: the client is alive, no liveness
    /// check is needed yet (RFC 7296 §2.4).
    pub fn traffic_seen(&mut self, now: Instant, conn: ConnId) {
        if let Some(p) = self.by_conn.get(&conn).and_then(|k| self.sas.get_mut(k)) {
            p.last_seen = now;
        }
    }

    /// RFC 7296 §1.4.1: deletes every IKE SA politely (server shutdown). The answers (or
    /// their absence) end them with [`IkeV2Event::PeerGone`].
    pub fn delete_all(&mut self, now: Instant) {
        let keys: Vec<[u8; 8]> = self.sas.keys().copied().collect();
        for k in keys {
            if let Some(p) = self.sas.get_mut(&k) {
                let _ = p.sa.delete(now);
            }
            self.drain(now, k, None);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<IkeTransmit> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<IkeV2Event> {
        self.events.pop_front()
    }

    /// The earliest deadline: an SA's own timer, or the next liveness check.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas
            .values()
            .flat_map(|p| {
                let liveness = (p.sa.state() == State::Established)
                    .then_some(p.last_seen + self.config.liveness_interval);
                p.sa.poll_timeout().into_iter().chain(liveness)
            })
            .min()
    }

    /// Runs the timers that are due: retransmissions, handshake timeouts, liveness
    /// checks of silent clients.
    pub fn handle_timeout(&mut self, now: Instant) {
        let keys: Vec<[u8; 8]> = self.sas.keys().copied().collect();
        for k in keys {
            let Some(p) = self.sas.get_mut(&k) else { continue };
            if p.sa.poll_timeout().is_some_and(|t| t <= now) {
                p.sa.handle_timeout(now);
            }
            if p.sa.state() == State::Established && p.last_seen + self.config.liveness_interval <= now {
                // Refused while a request is outstanding: its retransmissions already
                // check the client.
                let _ = p.sa.check_liveness(now);
                p.last_seen = now;
            }
            self.drain(now, k, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use l2sec_ike::child::EspEncapsulation;

    const PSK: &[u8] = b"ikev2 server test psk";

    fn addrs() -> (SocketAddr, SocketAddr) {
        ("192.0.2.10:500".parse().unwrap(), "198.51.100.7:500".parse().unwrap())
    }

    fn server(tweak: impl FnOnce(&mut IkeV2Config)) -> IkeV2Server {
        let (local, _) = addrs();
        let mut config = IkeV2Config::new(PSK, Identity::fqdn("server"));
        tweak(&mut config);
        IkeV2Server::new(config, local, &mut ChaCha20Rng::seed_from_u64(1))
    }

    fn client(seed: u64, now: Instant) -> IkeSa<ChaCha20Rng> {
        let (server, client) = addrs();
        let mut c = IkeSaConfig::new(PSK, Identity::fqdn("client"), client, server);
        c.force_encapsulation = true;
        IkeSa::initiate(c, ChaCha20Rng::seed_from_u64(seed), now).unwrap()
    }

    /// Moves datagrams both ways until both are quiet; `answer`: the client answers.
    fn pump(c: &mut IkeSa<ChaCha20Rng>, s: &mut IkeV2Server, now: Instant, answer: bool) -> usize {
        let (_, from) = addrs();
        let mut moved = 0;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if let Some(t) = c.poll_transmit(now, &mut buf) {
                let _ = s.handle_input(now, from, &buf, t.udp_encapsulated);
            } else if let Some(t) = s.poll_transmit() {
                assert_eq!(t.destination, from);
                if answer {
                    let _ = c.handle_input(now, &t.message);
                }
            } else {
                return moved;
            }
            moved += 1;
        }
    }

    fn events(s: &mut IkeV2Server) -> Vec<IkeV2Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    /// RFC 7296 §1.2: IKE_SA_INIT and IKE_AUTH end with the L2TP Child SA, numbered in the
    /// IKEv2 half of the connection space and UDP-encapsulated (encapsulation forced).
    #[test]
    fn handshake_hands_out_the_l2tp_child() {
        let now = Instant::now();
        let mut s = server(|_| {});
        let mut c = client(2, now);
        pump(&mut c, &mut s, now, true);
        let ev = events(&mut s);
        let [
            IkeV2Event::PeerUp { conn, nat, keylog, .. },
            IkeV2Event::ChildSa { conn: child_conn, child, .. },
        ] = ev.as_slice()
        else {
            panic!("{ev:?}")
        };
        assert_eq!(conn, child_conn);
        assert!(conn.0 >= FIRST_CONN);
        assert!(nat.nat_detected());
        assert!(keylog.len() > 40, "a key log line");
        assert_eq!(child.encapsulation, EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 });
        let Some(Event::Established { child: theirs, .. }) = c.poll_event() else { panic!() };
        assert_eq!(theirs.keys_out, child.keys_in);
        assert_eq!((s.sa_count(), s.half_open_count()), (1, 0));
    }

    /// RFC 7296 §2.1: a repeated IKE_SA_INIT gets the same answer, not a second SA.
    #[test]
    fn a_repeated_ike_sa_init_gets_the_same_answer() {
        let now = Instant::now();
        let (_, from) = addrs();
        let mut s = server(|_| {});
        let mut c = client(3, now);
        let mut init = Vec::new();
        c.poll_transmit(now, &mut init).unwrap();
        s.handle_input(now, from, &init, false).unwrap();
        s.handle_input(now, from, &init, false).unwrap();
        let a = s.poll_transmit().unwrap();
        let b = s.poll_transmit().unwrap();
        assert_eq!(a, b);
        assert_eq!((s.sa_count(), s.half_open_count()), (1, 1));
    }

    /// Half-open SAs are bounded; they go away when their handshake times out.
    #[test]
    fn half_open_sas_are_bounded() {
        let now = Instant::now();
        let (_, from) = addrs();
        let mut s = server(|c| c.max_half_open = 3);
        for seed in 0..4 {
            let mut c = client(10 + seed, now);
            let mut init = Vec::new();
            c.poll_transmit(now, &mut init).unwrap();
            let r = s.handle_input(now, from, &init, false);
            assert_eq!(r.is_ok(), seed < 3, "{seed}: {r:?}");
        }
        assert_eq!(s.half_open_count(), 3);
        let deadline = s.poll_timeout().unwrap();
        assert!(deadline <= now + Duration::from_secs(30));
        s.handle_timeout(now + Duration::from_secs(31));
        assert_eq!((s.sa_count(), s.half_open_count()), (0, 0));
        let ev = events(&mut s);
        assert_eq!(ev.len(), 3);
        assert!(ev.iter().all(|e| matches!(e, IkeV2Event::Failed { error: l2sec_ike::Error::Timeout, .. })));
    }

    /// RFC 7296 §2.4: a silent client is asked whether it is alive; one that answers
    /// stays, one that does not is declared dead.
    #[test]
    fn liveness_checks_keep_live_clients_and_end_dead_ones() {
        let mut now = Instant::now();
        let mut s = server(|c| c.liveness_interval = Duration::from_secs(10));
        let mut c = client(4, now);
        pump(&mut c, &mut s, now, true);
        let conn = match events(&mut s).first() {
            Some(IkeV2Event::PeerUp { conn, .. }) => *conn,
            other => panic!("{other:?}"),
        };
        // ESP traffic postpones the check.
        now += Duration::from_secs(8);
        s.traffic_seen(now, conn);
        now += Duration::from_secs(8);
        s.handle_timeout(now);
        assert!(s.poll_transmit().is_none(), "no check while ESP flows");
        // Silence: a check, answered.
        now += Duration::from_secs(3);
        assert!(s.poll_timeout().unwrap() <= now);
        s.handle_timeout(now);
        assert_eq!(pump(&mut c, &mut s, now, true), 2, "request and response");
        assert!(events(&mut s).is_empty());
        // The client vanishes: the checks go unanswered until it is declared dead.
        for _ in 0..200 {
            now += Duration::from_secs(1);
            s.handle_timeout(now);
            pump(&mut c, &mut s, now, false);
        }
        let ev = events(&mut s);
        assert!(matches!(ev.as_slice(), [IkeV2Event::PeerGone { dead: true, .. }]), "{ev:?}");
        assert_eq!(s.sa_count(), 0);
    }

    /// RFC 7296 §1.4.1: the client's Delete of the IKE SA ends the connection.
    #[test]
    fn a_client_delete_ends_the_connection() {
        let now = Instant::now();
        let mut s = server(|_| {});
        let mut c = client(5, now);
        pump(&mut c, &mut s, now, true);
        events(&mut s);
        c.delete(now).unwrap();
        pump(&mut c, &mut s, now, true);
        let ev = events(&mut s);
        assert!(matches!(ev.as_slice(), [IkeV2Event::PeerGone { dead: false, .. }]), "{ev:?}");
        assert_eq!(s.sa_count(), 0);
        assert!(std::iter::from_fn(|| c.poll_event()).any(|e| e == Event::Closed));
    }

    /// RFC 7296 §1.4.1: the server deletes every IKE SA (shutdown); the clients' answers
    /// end the connections.
    #[test]
    fn the_server_deletes_every_ike_sa() {
        let now = Instant::now();
        let mut s = server(|_| {});
        let mut c = client(9, now);
        pump(&mut c, &mut s, now, true);
        events(&mut s);
        while c.poll_event().is_some() {}
        s.delete_all(now);
        pump(&mut c, &mut s, now, true);
        let ev = events(&mut s);
        assert!(matches!(ev.as_slice(), [IkeV2Event::PeerGone { dead: false, .. }]), "{ev:?}");
        assert_eq!(s.sa_count(), 0);
        assert_eq!(c.poll_event(), Some(Event::Closed));
    }

    /// RFC 7296 §1.2: a client whose Child SA cannot be the L2TP one (tunnel mode) is
    /// authenticated but gets no Child SA, and the server deletes the IKE SA again.
    #[test]
    fn an_ike_sa_without_the_l2tp_child_is_deleted() {
        let now = Instant::now();
        let (server_addr, client_addr) = addrs();
        let mut s = server(|_| {});
        let mut config = IkeSaConfig::new(PSK, Identity::fqdn("client"), client_addr, server_addr);
        config.child.mode = l2sec_ike::child::EspMode::Tunnel;
        let mut c = IkeSa::initiate(config, ChaCha20Rng::seed_from_u64(8), now).unwrap();
        pump(&mut c, &mut s, now, true);
        let ev = events(&mut s);
        assert!(
            matches!(ev.as_slice(), [IkeV2Event::Failed { error: l2sec_ike::Error::NoProposalChosen, .. }]),
            "{ev:?}"
        );
        assert_eq!(s.sa_count(), 0, "deleted");
        let client_events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
        assert!(
            matches!(client_events.first(), Some(Event::EstablishedWithoutChild { .. })),
            "{client_events:?}"
        );
        assert!(client_events.contains(&Event::Closed), "{client_events:?}");
    }

    /// Garbage and mangled messages are refused without panicking and leave the
    /// established SA working.
    #[test]
    fn garbage_does_not_disturb_the_server() {
        let now = Instant::now();
        let (_, from) = addrs();
        let mut s = server(|_| {});
        let mut c = client(6, now);
        let mut first = Vec::new();
        c.poll_transmit(now, &mut first).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(99);
        for i in 0..2000 {
            let mut m = if i % 2 == 0 {
                let mut m = first.clone();
                let at = (rand_core::Rng::next_u32(&mut rng) as usize) % m.len();
                m[at] ^= 1 + (rand_core::Rng::next_u32(&mut rng) as u8 % 255);
                m
            } else {
                let mut m = vec![0u8; (rand_core::Rng::next_u32(&mut rng) % 300) as usize];
                rand_core::Rng::fill_bytes(&mut rng, &mut m);
                m
            };
            if i % 3 == 0 && m.len() > 17 {
                m[17] = 0x20;
            }
            let _ = s.handle_input(now, from, &m, i % 5 == 0);
        }
        while s.poll_transmit().is_some() {}
        events(&mut s);
        let mut c = client(7, now);
        pump(&mut c, &mut s, now, true);
        assert!(events(&mut s).iter().any(|e| matches!(e, IkeV2Event::ChildSa { .. })));
    }
}

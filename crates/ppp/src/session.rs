//! One PPP session (RFC 1661 §3 phases): LCP, then authentication, then IPCP and IPV6CP,
//! with LCP echo keepalive. Sans-IO: see the crate documentation for the run loop.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::auth::{
    Acceptance, AuthFailure, AuthMethod, AuthRequest, AuthRequestId, AuthVerdict, Authenticated, Credentials,
    PeerCredentials, Rejection,
};
use crate::cp::{ControlProtocol, Outgoing};
use crate::crypto::{self, MppeKeys, Side};
use crate::fsm::{self, Actions, State, Timing};
use crate::lcp::{Lcp, LcpConfig};
use crate::ncp::{Ipcp, IpcpConfig, Ipv4Params, Ipv6Params, Ipv6cp};
use crate::wire::{
    self, ChapPacket, CpPacket, Frame, MsChapFailure, MsChapV1Response, MsChapV2Response, Packet, PapPacket,
    ParseError, chap_code, code, mschap_error, pap_code, protocol,
};

/// Which end of the link this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The peer (VPN client): authenticates itself when the authenticator asks.
    Peer,
    /// The authenticator (VPN server): demands authentication and assigns addresses.
    Authenticator,
}

/// Session settings. Start from [`Config::authenticator`] or [`Config::peer`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Our role.
    pub role: Role,
    /// Our name, sent in CHAP Challenges (authenticator).
    pub name: String,
    /// Authenticator: the methods to demand, in preference order (empty: no
    /// authentication). Peer: the methods we agree to use, in preference order.
    pub auth_methods: Vec<AuthMethod>,
    /// Peer: our user name and password.
    pub credentials: Option<PeerCredentials>,
    /// RFC 1661 §4.6 timer and counters, for LCP, the NCPs, and the authentication
    /// retransmissions.
    pub timing: Timing,
    /// LCP options.
    pub lcp: LcpConfig,
    /// IPCP options.
    pub ipcp: IpcpConfig,
    /// Whether to run IPV6CP.
    pub ipv6cp: bool,
    /// How long the authentication phase may last.
    pub auth_timeout: Duration,
    /// LCP Echo-Request interval; `None` disables the keepalive.
    pub echo_interval: Option<Duration>,
    /// Echo-Requests without a reply before the link is declared dead.
    pub echo_failure: u32,
    /// MS-CHAPv2 retries (RFC 2759 §6 `R=1`): how many the authenticator offers when a
    /// [`Rejection`] asks for one, and how many the peer takes up.
    pub mschap_retries: u32,
    /// Whether to send the `FF 03` address/control prefix (unless ACFC was agreed).
    pub address_control: bool,
}

impl Config {
    /// An authenticator (server) demanding MS-CHAPv2, then CHAP-MD5, then PAP.
    #[must_use]
    pub fn authenticator(name: impl Into<String>) -> Self {
        Config {
            role: Role::Authenticator,
            name: name.into(),
            auth_methods: vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap],
            credentials: None,
            timing: Timing::default(),
            lcp: LcpConfig::default(),
            ipcp: IpcpConfig::default(),
            ipv6cp: false,
            auth_timeout: Duration::from_secs(30),
            echo_interval: Some(Duration::from_secs(30)),
            echo_failure: 4,
            mschap_retries: 1,
            address_control: true,
        }
    }

    /// A peer (client) with credentials, accepting MS-CHAPv2, CHAP-MD5 and PAP and asking
    /// for an address and DNS servers.
    #[must_use]
    pub fn peer(credentials: PeerCredentials) -> Self {
        Config {
            name: credentials.username.clone(),
            auth_methods: vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap],
            credentials: Some(credentials),
            ipcp: IpcpConfig { request_dns: true, ..IpcpConfig::default() },
            role: Role::Peer,
            ..Config::authenticator(String::new())
        }
    }
}

/// RFC 1661 §3.2: the link phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Link dead: not opened yet, or finished.
    Dead,
    /// LCP is negotiating.
    Establish,
    /// Authentication is running.
    Authenticate,
    /// NCPs and network-layer traffic.
    Network,
    /// LCP is terminating.
    Terminate,
}

/// Something the owner must know or decide.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// LCP reached Opened.
    LinkUp,
    /// LCP left Opened.
    LinkDown,
    /// Authenticator: decide on this request and call [`Session::answer_auth`].
    Authenticate(AuthRequest),
    /// Authentication succeeded (our check of the peer, or the peer's of us).
    Authenticated(Authenticated),
    /// Authentication failed; the link is being closed.
    AuthFailed(AuthFailure),
    /// IPCP opened: IPv4 datagrams flow.
    Ipv4Up(Ipv4Params),
    /// IPCP left Opened.
    Ipv4Down,
    /// IPV6CP opened: IPv6 datagrams flow.
    Ipv6Up(Ipv6Params),
    /// IPV6CP left Opened.
    Ipv6Down,
    /// The peer rejected one of our protocols (RFC 1661 §5.7).
    ProtocolRejected(u16),
    /// No Echo-Reply for `echo_failure` Echo-Requests: the link is being closed.
    EchoTimeout,
    /// Our Magic-Number kept coming back (RFC 1661 §6.4): the link is looped back.
    LoopbackDetected,
    /// The session is over (LCP This-Layer-Finished): tear the lower layer down.
    Finished,
}

/// A frame written into the caller's buffer by [`Session::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The PPP protocol of the frame.
    pub protocol: u16,
    /// How many bytes were appended to the buffer.
    pub len: usize,
}

/// A network-layer datagram received, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// An IPv4 packet (protocol 0x0021).
    Ipv4(&'a [u8]),
    /// An IPv6 packet (protocol 0x0057).
    Ipv6(&'a [u8]),
}

/// Errors of the session API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer sent a frame or packet that does not parse; it was dropped and the state is
    /// unchanged.
    #[error("malformed frame: {0}")]
    Malformed(#[from] ParseError),
    /// A datagram was offered for a protocol whose NCP is not Opened.
    #[error("network protocol {0:#06x} is not open")]
    NotOpen(u16),
    /// A datagram larger than the peer's MRU.
    #[error("datagram of {len} octets exceeds the peer's MRU {mru}")]
    TooLarge {
        /// The datagram length.
        len: usize,
        /// The peer's MRU.
        mru: u16,
    },
    /// `answer_auth` for a request that is not pending (answered, or the link went down).
    #[error("no such pending authentication request")]
    UnknownAuthRequest,
    /// A local configuration or API-use error.
    #[error("configuration: {0}")]
    Config(&'static str),
}

/// The timers of a session (quinn-style table index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// LCP Restart timer.
    LcpRestart,
    /// IPCP Restart timer.
    IpcpRestart,
    /// IPV6CP Restart timer.
    Ipv6cpRestart,
    /// Authentication retransmission (Challenge, Authenticate-Request).
    AuthRetransmit,
    /// Authentication phase deadline.
    AuthDeadline,
    /// Next LCP Echo-Request.
    Echo,
}

const OWN_TIMERS: usize = 3;

fn own_timer_index(t: Timer) -> usize {
    match t {
        Timer::AuthRetransmit => 0,
        Timer::AuthDeadline => 1,
        Timer::Echo => 2,
        _ => unreachable!("restart timers live in the automata"),
    }
}

/// Authenticator side of the authentication phase.
#[derive(Debug)]
enum Server {
    Idle,
    /// PAP: waiting for an Authenticate-Request.
    AwaitPap,
    /// CHAP: Challenge sent.
    Challenged {
        id: u8,
        challenge: Vec<u8>,
        sends: u32,
        retransmit: bool,
    },
    /// The owner is deciding.
    Pending {
        request: AuthRequestId,
        id: u8,
        method: AuthMethod,
        username: Vec<u8>,
    },
    /// Decided; the reply is kept for duplicate requests.
    Done {
        id: u8,
        reply: Vec<u8>,
    },
}

/// Peer side of the authentication phase.
#[derive(Debug)]
enum Client {
    Idle,
    /// PAP Authenticate-Request sent.
    PapSent {
        id: u8,
        sends: u32,
    },
    /// CHAP waiting for a Challenge or answered one.
    Chap {
        responded: Option<(u8, Vec<u8>)>,
        /// Responses sent for the current challenge (retransmitted while no result comes).
        sends: u32,
        expect: Option<[u8; 20]>,
        mppe: Option<MppeKeys>,
    },
    Done,
}

/// A PPP session. See the crate documentation for the run loop.
pub struct Session<R> {
    config: Config,
    rng: R,
    phase: Phase,
    lcp: ControlProtocol<Lcp>,
    ipcp: ControlProtocol<Ipcp>,
    ipv6cp: ControlProtocol<Ipv6cp>,
    server: Server,
    client: Client,
    server_method: Option<AuthMethod>,
    client_method: Option<AuthMethod>,
    server_ok: bool,
    client_ok: bool,
    mschap_retries_left: u32,
    next_request: u64,
    next_lcp_id: u8,
    auth_id: u8,
    echo_outstanding: u32,
    timers: [Option<Instant>; OWN_TIMERS],
    out: VecDeque<Outgoing>,
    events: VecDeque<Event>,
    stats: Stats,
}

/// Counters kept by a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Echo-Requests sent.
    pub echo_requests_sent: u64,
    /// Echo-Replies received.
    pub echo_replies_received: u64,
    /// Frames dropped as malformed.
    pub malformed: u64,
    /// Frames silently discarded (wrong phase, protocol not open, stale reply).
    pub discarded: u64,
    /// Protocol-Rejects sent.
    pub protocol_rejects_sent: u64,
}

impl<R> std::fmt::Debug for Session<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.config.role)
            .field("phase", &self.phase)
            .field("lcp", &self.lcp.state())
            .field("ipcp", &self.ipcp.state())
            .field("ipv6cp", &self.ipv6cp.state())
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> Session<R> {
    /// A new session in the Dead phase. Call [`Session::open`] once the lower layer (the
    /// L2TP session) is up.
    pub fn new(config: Config, mut rng: R) -> Self {
        let authenticator = config.role == Role::Authenticator;
        let lcp = Lcp::new(
            config.lcp.clone(),
            config.auth_methods.clone(),
            authenticator,
            config.credentials.is_some(),
            &mut rng,
        );
        let ipv6 = Ipv6cp::new(&mut rng);
        let first = (rng.next_u32() & 0xff) as u8;
        Session {
            lcp: ControlProtocol::new(protocol::LCP, config.timing, lcp, first),
            ipcp: ControlProtocol::new(protocol::IPCP, config.timing, Ipcp::new(config.ipcp.clone()), first),
            ipv6cp: ControlProtocol::new(protocol::IPV6CP, config.timing, ipv6, first),
            mschap_retries_left: config.mschap_retries,
            config,
            rng,
            phase: Phase::Dead,
            server: Server::Idle,
            client: Client::Idle,
            server_method: None,
            client_method: None,
            server_ok: false,
            client_ok: false,
            next_request: 1,
            next_lcp_id: first.wrapping_add(128),
            auth_id: first,
            echo_outstanding: 0,
            timers: [None; OWN_TIMERS],
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The current phase.
    #[must_use]
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The LCP automaton state.
    #[must_use]
    pub fn lcp_state(&self) -> State {
        self.lcp.state()
    }

    /// The IPCP automaton state.
    #[must_use]
    pub fn ipcp_state(&self) -> State {
        self.ipcp.state()
    }

    /// The IPV6CP automaton state.
    #[must_use]
    pub fn ipv6cp_state(&self) -> State {
        self.ipv6cp.state()
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Configure-Requests sent by LCP, IPCP and IPV6CP.
    #[must_use]
    pub fn configure_requests_sent(&self) -> [u64; 3] {
        [self.lcp.requests_sent, self.ipcp.requests_sent, self.ipv6cp.requests_sent]
    }

    /// Our LCP Magic-Number (0 if none).
    #[must_use]
    pub fn magic_number(&self) -> u32 {
        self.lcp.neg.magic
    }

    /// The peer's MRU (the largest information field we may send).
    #[must_use]
    pub fn peer_mru(&self) -> u16 {
        self.lcp.neg.peer_mru
    }

    /// The IPv4 parameters, once IPCP is Opened.
    #[must_use]
    pub fn ipv4(&self) -> Option<Ipv4Params> {
        (self.ipcp.state() == State::Opened).then(|| self.ipcp.neg.params())
    }

    /// The IPv6 interface identifiers, once IPV6CP is Opened.
    #[must_use]
    pub fn ipv6(&self) -> Option<Ipv6Params> {
        (self.ipv6cp.state() == State::Opened).then(|| self.ipv6cp.neg.params())
    }

    /// The lower layer is up and the link should be opened (RFC 1661 Open + Up).
    pub fn open(&mut self, now: Instant) {
        self.phase = Phase::Establish;
        let a = self.lcp.event(now, fsm::Event::Open, &mut self.out, &mut self.rng);
        self.lcp_layer(now, a);
        let a = self.lcp.event(now, fsm::Event::Up, &mut self.out, &mut self.rng);
        self.lcp_layer(now, a);
    }

    /// Administrative close: LCP Terminate-Request with `reason` (at most 255 octets
    /// kept) as its data.
    pub fn close(&mut self, now: Instant, reason: &str) {
        self.lcp.terminate_reason = bounded(reason).to_vec();
        let a = self.lcp.event(now, fsm::Event::Close, &mut self.out, &mut self.rng);
        self.lcp_layer(now, a);
    }

    /// The lower layer went away (L2TP session or tunnel closed).
    pub fn lower_down(&mut self, now: Instant) {
        let a = self.lcp.event(now, fsm::Event::Down, &mut self.out, &mut self.rng);
        self.lcp_layer(now, a);
        if self.lcp.state() == State::Initial || self.lcp.state() == State::Starting {
            let a = self.lcp.event(now, fsm::Event::Close, &mut self.out, &mut self.rng);
            self.lcp_layer(now, a);
        }
        if self.phase != Phase::Dead {
            self.phase = Phase::Dead;
            self.events.push_back(Event::Finished);
        }
    }

    /// The next event for the owner. Drain after every call that takes `now`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Writes the next frame to send into `buf` (appended) and describes it. Drain after
    /// every call that takes `now`.
    #[must_use]
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let mut o = self.out.pop_front()?;
        let start = buf.len();
        let lcp = o.protocol == protocol::LCP;
        let ac = self.config.address_control && (lcp || !self.lcp.neg.send_acfc);
        let pfc = !lcp && self.lcp.neg.send_pfc;
        wire::encode_header(ac, pfc, o.protocol, buf);
        buf.extend_from_slice(&o.packet);
        if o.protocol == protocol::PAP {
            // An Authenticate-Request holds the password in clear: wipe our copy.
            zeroize::Zeroize::zeroize(&mut o.packet);
        }
        Some(Transmit { protocol: o.protocol, len: buf.len() - start })
    }

    /// The earliest deadline; call [`Session::handle_timeout`] when it passes.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.lcp.fsm.deadline(), self.ipcp.fsm.deadline(), self.ipv6cp.fsm.deadline()]
            .into_iter()
            .chain(self.timers)
            .flatten()
            .min()
    }

    /// The deadline of one timer.
    #[must_use]
    pub fn timer(&self, t: Timer) -> Option<Instant> {
        match t {
            Timer::LcpRestart => self.lcp.fsm.deadline(),
            Timer::IpcpRestart => self.ipcp.fsm.deadline(),
            Timer::Ipv6cpRestart => self.ipv6cp.fsm.deadline(),
            t => self.timers[own_timer_index(t)],
        }
    }

    fn set_timer(&mut self, t: Timer, at: Option<Instant>) {
        self.timers[own_timer_index(t)] = at;
    }

    fn due(&mut self, t: Timer, now: Instant) -> bool {
        let i = own_timer_index(t);
        if self.timers[i].is_some_and(|d| d <= now) {
            self.timers[i] = None;
            true
        } else {
            false
        }
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let a = self.lcp.handle_timeout(now, &mut self.out, &mut self.rng);
        self.lcp_layer(now, a);
        let a = self.ipcp.handle_timeout(now, &mut self.out, &mut self.rng);
        self.ipcp_layer(now, a);
        let a = self.ipv6cp.handle_timeout(now, &mut self.out, &mut self.rng);
        self.ipv6cp_layer(now, a);
        if self.due(Timer::AuthRetransmit, now) {
            self.auth_retransmit(now);
        }
        if self.due(Timer::AuthDeadline, now) && self.phase == Phase::Authenticate {
            self.auth_failed(now, AuthFailure::Timeout);
        }
        if self.due(Timer::Echo, now) {
            self.echo_tick(now);
        }
    }

    /// Handles one received PPP frame (without HDLC framing; `FF 03` optional). Returns the
    /// network-layer datagram it carried, if any, borrowed from `data`.
    ///
    /// A frame that does not parse is dropped with [`Error::Malformed`] and changes nothing.
    pub fn handle_input<'a>(&mut self, now: Instant, data: &'a [u8]) -> Result<Option<Datagram<'a>>, Error> {
        let frame = Frame::parse(data).inspect_err(|_| self.stats.malformed += 1)?;
        let info = frame.information;
        match frame.protocol {
            protocol::LCP => self.lcp_input(now, info)?,
            protocol::PAP | protocol::CHAP => {
                if self.phase == Phase::Authenticate || self.phase == Phase::Network {
                    self.auth_input(now, frame.protocol, info)?;
                } else {
                    self.stats.discarded += 1;
                }
            }
            protocol::IPCP | protocol::IPV6CP if frame.protocol == protocol::IPCP || self.config.ipv6cp => {
                let p = Packet::parse(info).inspect_err(|_| self.stats.malformed += 1)?;
                if self.phase != Phase::Network {
                    self.stats.discarded += 1;
                } else if frame.protocol == protocol::IPCP {
                    let a = self.ipcp.input(now, p, false, &mut self.out, &mut self.rng);
                    self.ipcp_layer(now, a);
                } else {
                    let a = self.ipv6cp.input(now, p, false, &mut self.out, &mut self.rng);
                    self.ipv6cp_layer(now, a);
                }
            }
            protocol::IPV4 if self.ipcp.state() == State::Opened => {
                return Ok(Some(Datagram::Ipv4(info)));
            }
            protocol::IPV6 if self.ipv6cp.state() == State::Opened => {
                return Ok(Some(Datagram::Ipv6(info)));
            }
            protocol::IPV4 | protocol::IPV6 => self.stats.discarded += 1,
            other => {
                // RFC 1661 §5.7: unknown protocols are rejected, only while LCP is Opened.
                if self.lcp.state() == State::Opened {
                    self.send_protocol_reject(other, info);
                } else {
                    self.stats.discarded += 1;
                }
            }
        }
        Ok(None)
    }

    /// Frames a network-layer datagram for sending: appends the frame to `buf`. Fails if
    /// the matching NCP is not Opened or the datagram exceeds the peer's MRU.
    pub fn encode_datagram(&self, dgram: Datagram<'_>, buf: &mut Vec<u8>) -> Result<Transmit, Error> {
        let payload = match dgram {
            Datagram::Ipv4(p) | Datagram::Ipv6(p) => p,
        };
        let start = buf.len();
        let proto = self.datagram_header(dgram, buf)?;
        buf.extend_from_slice(payload);
        Ok(Transmit { protocol: proto, len: buf.len() - start })
    }

    /// Appends only the PPP header (address/control if in use, protocol) for `dgram` to
    /// `buf` and returns the protocol, with the same checks as
    /// [`Session::encode_datagram`]: for owners that keep headroom in front of the packet
    /// and want to avoid copying it (at most 4 octets are written).
    pub fn datagram_header(&self, dgram: Datagram<'_>, buf: &mut Vec<u8>) -> Result<u16, Error> {
        let (proto, payload, open) = match dgram {
            Datagram::Ipv4(p) => (protocol::IPV4, p, self.ipcp.state() == State::Opened),
            Datagram::Ipv6(p) => (protocol::IPV6, p, self.ipv6cp.state() == State::Opened),
        };
        if !open {
            return Err(Error::NotOpen(proto));
        }
        let mru = self.lcp.neg.peer_mru;
        if payload.len() > usize::from(mru) {
            return Err(Error::TooLarge { len: payload.len(), mru });
        }
        let ac = self.config.address_control && !self.lcp.neg.send_acfc;
        wire::encode_header(ac, self.lcp.neg.send_pfc, proto, buf);
        Ok(proto)
    }

    fn lcp_id(&mut self) -> u8 {
        let id = self.next_lcp_id;
        self.next_lcp_id = id.wrapping_add(1);
        id
    }

    fn push_lcp(&mut self, packet: CpPacket<'_>) {
        let mut v = Vec::new();
        packet.encode(&mut v);
        self.out.push_back(Outgoing { protocol: protocol::LCP, packet: v });
    }

    fn send_protocol_reject(&mut self, proto: u16, info: &[u8]) {
        let room = usize::from(self.lcp.neg.peer_mru).saturating_sub(6);
        let id = self.lcp_id();
        self.push_lcp(CpPacket::ProtocolReject {
            identifier: id,
            protocol: proto,
            rejected: &info[..info.len().min(room)],
        });
        self.stats.protocol_rejects_sent += 1;
    }

    fn lcp_input(&mut self, now: Instant, info: &[u8]) -> Result<(), Error> {
        let p = Packet::parse(info).inspect_err(|_| self.stats.malformed += 1)?;
        match p.code {
            code::CONFIGURE_REQUEST..=code::CODE_REJECT => {
                let a = self.lcp.input(now, p, true, &mut self.out, &mut self.rng);
                self.lcp_layer(now, a);
                if self.lcp.neg.magic_collisions >= self.config.timing.max_failure.max(1) {
                    self.lcp.neg.magic_collisions = 0;
                    self.events.push_back(Event::LoopbackDetected);
                    self.close(now, "Loopback detected");
                }
            }
            code::PROTOCOL_REJECT..=code::TIME_REMAINING => {
                let typed = CpPacket::from_packet(p, true);
                let opened = self.lcp.state() == State::Opened;
                match typed {
                    CpPacket::ProtocolReject { protocol: rp, .. } if opened => {
                        self.protocol_rejected(now, rp);
                    }
                    CpPacket::Magic { code: code::ECHO_REQUEST, identifier, data, .. } => {
                        let a = self.lcp.fsm.handle(now, fsm::Event::Rxr);
                        if a.contains(Actions::SER) {
                            let magic = self.lcp.neg.magic;
                            self.push_lcp(CpPacket::Magic {
                                code: code::ECHO_REPLY,
                                identifier,
                                magic,
                                data,
                            });
                        }
                    }
                    CpPacket::Magic { code: code::ECHO_REPLY, magic, .. } => {
                        let _ = self.lcp.fsm.handle(now, fsm::Event::Rxr);
                        // A reply carrying our own non-zero magic is our request looped back.
                        if opened && (magic == 0 || magic != self.lcp.neg.magic) {
                            self.echo_outstanding = 0;
                            self.stats.echo_replies_received += 1;
                        }
                    }
                    CpPacket::Magic { .. } => {
                        // Discard-Request, Identification: nothing to do (RXR).
                        let _ = self.lcp.fsm.handle(now, fsm::Event::Rxr);
                    }
                    _ => self.stats.discarded += 1,
                }
            }
            _ => {
                let a = self.lcp.input(now, p, true, &mut self.out, &mut self.rng);
                self.lcp_layer(now, a);
            }
        }
        Ok(())
    }

    fn protocol_rejected(&mut self, now: Instant, rp: u16) {
        self.events.push_back(Event::ProtocolRejected(rp));
        match rp {
            protocol::LCP => {
                let a = self.lcp.event(now, fsm::Event::RxjBad, &mut self.out, &mut self.rng);
                self.lcp_layer(now, a);
            }
            protocol::IPCP => {
                let a = self.ipcp.event(now, fsm::Event::RxjBad, &mut self.out, &mut self.rng);
                self.ipcp_layer(now, a);
            }
            protocol::IPV6CP => {
                let a = self.ipv6cp.event(now, fsm::Event::RxjBad, &mut self.out, &mut self.rng);
                self.ipv6cp_layer(now, a);
            }
            protocol::PAP | protocol::CHAP if self.phase == Phase::Authenticate => {
                self.auth_failed(now, AuthFailure::NoCommonMethod);
            }
            _ => {}
        }
    }

    // ----------------------------------------------------------------- layer actions

    fn lcp_layer(&mut self, now: Instant, a: Actions) {
        if a.contains(Actions::TLD) {
            self.events.push_back(Event::LinkDown);
            self.ncps_down(now);
            self.server = Server::Idle;
            self.client = Client::Idle;
            self.server_ok = false;
            self.client_ok = false;
            self.set_timer(Timer::AuthRetransmit, None);
            self.set_timer(Timer::AuthDeadline, None);
            self.set_timer(Timer::Echo, None);
            self.phase = if self.lcp.state() == State::Closing || self.lcp.state() == State::Stopping {
                Phase::Terminate
            } else {
                Phase::Establish
            };
        }
        if a.contains(Actions::TLS) {
            self.phase = Phase::Establish;
        }
        if a.contains(Actions::TLU) {
            self.events.push_back(Event::LinkUp);
            self.echo_outstanding = 0;
            if let Some(iv) = self.config.echo_interval {
                self.set_timer(Timer::Echo, Some(now + iv));
            }
            self.start_auth(now);
        }
        if a.contains(Actions::TLF) {
            self.phase = Phase::Dead;
            self.events.push_back(Event::Finished);
        }
        if matches!(self.lcp.state(), State::Closing | State::Stopping) && !a.contains(Actions::TLF) {
            self.phase = Phase::Terminate;
        }
    }

    fn ncps_down(&mut self, now: Instant) {
        for ev in [fsm::Event::Down, fsm::Event::Close] {
            let a = self.ipcp.event(now, ev, &mut self.out, &mut self.rng);
            if a.contains(Actions::TLD) {
                self.events.push_back(Event::Ipv4Down);
            }
            let a = self.ipv6cp.event(now, ev, &mut self.out, &mut self.rng);
            if a.contains(Actions::TLD) {
                self.events.push_back(Event::Ipv6Down);
            }
        }
    }

    fn ncp_layer_common(&mut self, now: Instant, a: Actions) {
        if a.contains(Actions::TLF) && self.lcp.state() == State::Opened {
            let idle =
                |s: State| matches!(s, State::Initial | State::Starting | State::Closed | State::Stopped);
            let v6_idle = !self.config.ipv6cp || idle(self.ipv6cp.state());
            if idle(self.ipcp.state()) && v6_idle {
                self.close(now, "No network protocols running");
            }
        }
    }

    fn ipcp_layer(&mut self, now: Instant, a: Actions) {
        if a.contains(Actions::TLU) {
            self.events.push_back(Event::Ipv4Up(self.ipcp.neg.params()));
        }
        if a.contains(Actions::TLD) {
            self.events.push_back(Event::Ipv4Down);
        }
        self.ncp_layer_common(now, a);
    }

    fn ipv6cp_layer(&mut self, now: Instant, a: Actions) {
        if a.contains(Actions::TLU) {
            self.events.push_back(Event::Ipv6Up(self.ipv6cp.neg.params()));
        }
        if a.contains(Actions::TLD) {
            self.events.push_back(Event::Ipv6Down);
        }
        self.ncp_layer_common(now, a);
    }

    fn enter_network(&mut self, now: Instant) {
        self.phase = Phase::Network;
        self.set_timer(Timer::AuthDeadline, None);
        self.set_timer(Timer::AuthRetransmit, None);
        for ev in [fsm::Event::Open, fsm::Event::Up] {
            let a = self.ipcp.event(now, ev, &mut self.out, &mut self.rng);
            self.ipcp_layer(now, a);
            if self.config.ipv6cp {
                let a = self.ipv6cp.event(now, ev, &mut self.out, &mut self.rng);
                self.ipv6cp_layer(now, a);
            }
        }
    }

    // ----------------------------------------------------------------- echo

    fn echo_tick(&mut self, now: Instant) {
        if self.lcp.state() != State::Opened {
            return;
        }
        if self.echo_outstanding >= self.config.echo_failure.max(1) {
            self.events.push_back(Event::EchoTimeout);
            self.close(now, "Peer not responding");
            return;
        }
        self.echo_outstanding += 1;
        self.stats.echo_requests_sent += 1;
        let id = self.lcp_id();
        let magic = self.lcp.neg.magic;
        self.push_lcp(CpPacket::Magic { code: code::ECHO_REQUEST, identifier: id, magic, data: &[] });
        if let Some(iv) = self.config.echo_interval {
            self.set_timer(Timer::Echo, Some(now + iv));
        }
    }

    // ----------------------------------------------------------------- authentication

    fn start_auth(&mut self, now: Instant) {
        self.server_method = self.lcp.neg.our_auth;
        self.client_method = self.lcp.neg.peer_auth;
        self.server_ok = self.server_method.is_none();
        self.client_ok = self.client_method.is_none();
        if self.config.role == Role::Authenticator
            && self.server_method.is_none()
            && !self.config.auth_methods.is_empty()
        {
            self.auth_failed(now, AuthFailure::NoCommonMethod);
            return;
        }
        if self.server_ok && self.client_ok {
            self.enter_network(now);
            return;
        }
        self.phase = Phase::Authenticate;
        self.set_timer(Timer::AuthDeadline, Some(now + self.config.auth_timeout));
        match self.server_method {
            Some(AuthMethod::Pap) => self.server = Server::AwaitPap,
            Some(m) => {
                let len = if m == AuthMethod::MsChapV1 { 8 } else { 16 };
                let mut challenge = vec![0u8; len];
                self.rng.fill_bytes(&mut challenge);
                self.auth_id = self.auth_id.wrapping_add(1);
                self.server = Server::Challenged { id: self.auth_id, challenge, sends: 0, retransmit: true };
                self.send_challenge(now);
            }
            None => {}
        }
        match self.client_method {
            Some(AuthMethod::Pap) => {
                self.auth_id = self.auth_id.wrapping_add(1);
                self.client = Client::PapSent { id: self.auth_id, sends: 0 };
                self.send_pap_request(now);
            }
            Some(_) => self.client = Client::Chap { responded: None, sends: 0, expect: None, mppe: None },
            None => {}
        }
    }

    fn push_auth(&mut self, proto: u16, packet: Vec<u8>) {
        self.out.push_back(Outgoing { protocol: proto, packet });
    }

    fn send_challenge(&mut self, now: Instant) {
        let Server::Challenged { id, challenge, sends, retransmit } = &mut self.server else {
            return;
        };
        *sends += 1;
        let mut v = Vec::new();
        ChapPacket::Value {
            code: chap_code::CHALLENGE,
            identifier: *id,
            value: challenge,
            name: bounded(&self.config.name),
        }
        .encode(&mut v);
        let rt = *retransmit;
        self.push_auth(protocol::CHAP, v);
        if rt {
            self.set_timer(Timer::AuthRetransmit, Some(now + self.config.timing.restart));
        }
    }

    fn send_pap_request(&mut self, now: Instant) {
        let Client::PapSent { id, sends } = &mut self.client else {
            return;
        };
        *sends += 1;
        let id = *id;
        let Some(c) = &self.config.credentials else {
            return;
        };
        let mut v = Zeroizing::new(Vec::new());
        PapPacket::AuthenticateRequest {
            identifier: id,
            peer_id: c.username.as_bytes(),
            password: c.password.as_bytes(),
        }
        .encode(&mut v);
        self.push_auth(protocol::PAP, v.to_vec());
        self.set_timer(Timer::AuthRetransmit, Some(now + self.config.timing.restart));
    }

    fn auth_retransmit(&mut self, now: Instant) {
        let max = self.config.timing.max_configure;
        match (&self.server, &self.client) {
            (Server::Challenged { sends, retransmit: true, .. }, _) if *sends < max => {
                self.send_challenge(now);
            }
            (Server::Challenged { retransmit: true, .. }, _) => {
                self.auth_failed(now, AuthFailure::Timeout);
            }
            (_, Client::PapSent { sends, .. }) if *sends < max => self.send_pap_request(now),
            (_, Client::PapSent { .. }) => self.auth_failed(now, AuthFailure::Timeout),
            (_, Client::Chap { responded: Some((_, pkt)), sends, .. }) if *sends < max => {
                let pkt = pkt.clone();
                if let Client::Chap { sends, .. } = &mut self.client {
                    *sends += 1;
                }
                self.push_auth(protocol::CHAP, pkt);
                self.set_timer(Timer::AuthRetransmit, Some(now + self.config.timing.restart));
            }
            _ => {}
        }
    }

    fn auth_failed(&mut self, now: Instant, why: AuthFailure) {
        self.events.push_back(Event::AuthFailed(why));
        self.set_timer(Timer::AuthRetransmit, None);
        self.set_timer(Timer::AuthDeadline, None);
        self.client = Client::Done;
        if !matches!(self.server, Server::Done { .. }) {
            self.server = Server::Idle;
        }
        self.close(now, "Authentication failed");
    }

    fn auth_progress(&mut self, now: Instant) {
        if self.server_ok && self.client_ok && self.phase == Phase::Authenticate {
            self.enter_network(now);
        }
    }

    fn auth_input(&mut self, now: Instant, proto: u16, info: &[u8]) -> Result<(), Error> {
        let server_pap = self.server_method == Some(AuthMethod::Pap);
        let client_pap = self.client_method == Some(AuthMethod::Pap);
        let server_chap = self.server_method.is_some_and(AuthMethod::is_chap);
        let client_chap = self.client_method.is_some_and(AuthMethod::is_chap);
        if proto == protocol::PAP {
            let p = PapPacket::parse(info).inspect_err(|_| self.stats.malformed += 1)?;
            match p {
                PapPacket::AuthenticateRequest { .. } if server_pap => self.pap_server(now, p),
                PapPacket::Reply { .. } if client_pap => self.pap_client(now, p),
                _ => self.stats.discarded += 1,
            }
        } else {
            let p = ChapPacket::parse(info).inspect_err(|_| self.stats.malformed += 1)?;
            match p {
                ChapPacket::Value { code: chap_code::RESPONSE, .. } if server_chap => {
                    self.chap_server(now, p)
                }
                ChapPacket::Value { code: chap_code::CHALLENGE, .. } | ChapPacket::Result { .. }
                    if client_chap =>
                {
                    self.chap_client(now, p)
                }
                _ => self.stats.discarded += 1,
            }
        }
        Ok(())
    }

    fn new_request(&mut self, id: u8, method: AuthMethod, username: &[u8], creds: Credentials) {
        let request = AuthRequestId(self.next_request);
        self.next_request += 1;
        self.server = Server::Pending { request, id, method, username: username.to_vec() };
        self.events.push_back(Event::Authenticate(AuthRequest {
            id: request,
            username: username.to_vec(),
            credentials: creds,
        }));
    }

    fn pap_server(&mut self, _now: Instant, p: PapPacket<'_>) {
        let PapPacket::AuthenticateRequest { identifier, peer_id, password } = p else {
            return;
        };
        match &self.server {
            Server::AwaitPap => self.new_request(
                identifier,
                AuthMethod::Pap,
                peer_id,
                Credentials::Pap { password: password.to_vec() },
            ),
            // RFC 1334 §2.2.1: a retransmitted request gets the same answer again.
            Server::Done { id, reply, .. } if *id == identifier => {
                let r = reply.clone();
                self.push_auth(protocol::PAP, r);
            }
            _ => self.stats.discarded += 1,
        }
    }

    fn chap_server(&mut self, _now: Instant, p: ChapPacket<'_>) {
        let ChapPacket::Value { identifier, value, name, .. } = p else {
            return;
        };
        let method = self.server_method.unwrap_or(AuthMethod::ChapMd5);
        match &self.server {
            Server::Challenged { id, challenge, .. } if *id == identifier => {
                let challenge = challenge.clone();
                let creds = match method {
                    AuthMethod::ChapMd5 => match <[u8; 16]>::try_from(value) {
                        Ok(response) => {
                            Credentials::ChapMd5 { identifier, challenge: challenge.clone(), response }
                        }
                        Err(_) => return self.stats.discarded += 1,
                    },
                    AuthMethod::MsChapV2 => match MsChapV2Response::parse(value) {
                        Some(r) => Credentials::MsChapV2 {
                            identifier,
                            authenticator_challenge: challenge.as_slice().try_into().unwrap_or([0; 16]),
                            peer_challenge: r.peer_challenge,
                            nt_response: r.nt_response,
                            flags: r.flags,
                        },
                        None => return self.stats.discarded += 1,
                    },
                    AuthMethod::MsChapV1 => match MsChapV1Response::parse(value) {
                        Some(r) => Credentials::MsChapV1 {
                            identifier,
                            challenge: challenge.as_slice().try_into().unwrap_or([0; 8]),
                            lm_response: r.lm_response,
                            nt_response: r.nt_response,
                            use_nt: r.use_nt == 1,
                        },
                        None => return self.stats.discarded += 1,
                    },
                    AuthMethod::Pap => return,
                };
                self.set_timer(Timer::AuthRetransmit, None);
                self.new_request(identifier, method, name, creds);
            }
            // RFC 1994 §4.2: a Response repeated after our decision gets the same reply.
            Server::Done { id, reply, .. } if *id == identifier => {
                let r = reply.clone();
                self.push_auth(protocol::CHAP, r);
            }
            _ => self.stats.discarded += 1,
        }
    }

    /// Answers a pending [`Event::Authenticate`]. The reply (Ack/Success or Nak/Failure)
    /// is queued; on acceptance the network phase starts once both directions are done, on
    /// rejection the link is closed (or, for an MS-CHAPv2 retry, a new challenge is
    /// offered).
    pub fn answer_auth(
        &mut self,
        now: Instant,
        id: AuthRequestId,
        verdict: AuthVerdict,
    ) -> Result<(), Error> {
        let Server::Pending { request, id: pid, method, .. } = &self.server else {
            return Err(Error::UnknownAuthRequest);
        };
        if *request != id {
            return Err(Error::UnknownAuthRequest);
        }
        let (pid, method) = (*pid, *method);
        if let (AuthVerdict::Accept(a), AuthMethod::MsChapV2) = (&verdict, method)
            && a.authenticator_response.is_none()
        {
            {
                return Err(Error::Config("an MS-CHAPv2 acceptance needs the authenticator response"));
            }
        }
        let Server::Pending { username, .. } = std::mem::replace(&mut self.server, Server::Idle) else {
            return Err(Error::UnknownAuthRequest);
        };
        match verdict {
            AuthVerdict::Accept(a) => self.accept(now, pid, method, username, a),
            AuthVerdict::Reject(r) => self.reject(now, pid, method, r),
        }
        Ok(())
    }

    fn accept(&mut self, now: Instant, pid: u8, method: AuthMethod, username: Vec<u8>, a: Acceptance) {
        let mut reply = Vec::new();
        let proto = if method == AuthMethod::Pap {
            PapPacket::Reply {
                code: pap_code::AUTHENTICATE_ACK,
                identifier: pid,
                message: bounded(&a.message),
            }
            .encode(&mut reply);
            protocol::PAP
        } else {
            let mut msg = Vec::new();
            if let (AuthMethod::MsChapV2, Some(ar)) = (method, &a.authenticator_response) {
                wire::encode_mschapv2_success(ar, &String::from_utf8_lossy(bounded(&a.message)), &mut msg);
            } else {
                msg.extend_from_slice(bounded(&a.message));
            }
            ChapPacket::Result { code: chap_code::SUCCESS, identifier: pid, message: &msg }
                .encode(&mut reply);
            protocol::CHAP
        };
        self.push_auth(proto, reply.clone());
        self.server = Server::Done { id: pid, reply };
        if let Some(addr) = a.peer_address {
            self.ipcp.neg.assign = Some(addr);
        }
        self.events.push_back(Event::Authenticated(Authenticated { method, username, mppe: a.mppe.clone() }));
        self.server_ok = true;
        self.auth_progress(now);
    }

    fn reject(&mut self, now: Instant, pid: u8, method: AuthMethod, r: Rejection) {
        let mut reply = Vec::new();
        let retry = r.retry && method == AuthMethod::MsChapV2 && self.mschap_retries_left > 0;
        let proto = match method {
            AuthMethod::Pap => {
                PapPacket::Reply {
                    code: pap_code::AUTHENTICATE_NAK,
                    identifier: pid,
                    message: bounded(&r.message),
                }
                .encode(&mut reply);
                protocol::PAP
            }
            AuthMethod::ChapMd5 => {
                ChapPacket::Result {
                    code: chap_code::FAILURE,
                    identifier: pid,
                    message: bounded(&r.message),
                }
                .encode(&mut reply);
                protocol::CHAP
            }
            AuthMethod::MsChapV1 | AuthMethod::MsChapV2 => {
                let len = if method == AuthMethod::MsChapV1 { 8 } else { 16 };
                let mut challenge = vec![0u8; len];
                self.rng.fill_bytes(&mut challenge);
                let f = MsChapFailure {
                    error: r.mschap_error.unwrap_or(mschap_error::AUTHENTICATION_FAILURE),
                    retry,
                    challenge: Some(challenge.clone()),
                    version: Some(3),
                    message: String::from_utf8_lossy(bounded(&r.message)).into_owned(),
                };
                let mut msg = Vec::new();
                f.encode(&mut msg);
                ChapPacket::Result { code: chap_code::FAILURE, identifier: pid, message: &msg }
                    .encode(&mut reply);
                if retry {
                    // RFC 2759 §6: the peer answers the new challenge with identifier + 1.
                    self.mschap_retries_left -= 1;
                    self.push_auth(protocol::CHAP, reply);
                    self.server = Server::Challenged {
                        id: pid.wrapping_add(1),
                        challenge,
                        sends: 1,
                        retransmit: false,
                    };
                    return;
                }
                protocol::CHAP
            }
        };
        self.push_auth(proto, reply.clone());
        self.server = Server::Done { id: pid, reply };
        self.auth_failed(now, AuthFailure::Rejected { message: r.message });
    }

    fn pap_client(&mut self, now: Instant, p: PapPacket<'_>) {
        let PapPacket::Reply { code, identifier, message } = p else {
            return;
        };
        let Client::PapSent { id, .. } = self.client else {
            return self.stats.discarded += 1;
        };
        if id != identifier {
            return self.stats.discarded += 1;
        }
        self.set_timer(Timer::AuthRetransmit, None);
        if code == pap_code::AUTHENTICATE_ACK {
            self.client = Client::Done;
            self.client_succeeded(now, AuthMethod::Pap, None);
        } else {
            self.auth_failed(
                now,
                AuthFailure::Refused {
                    mschap_error: None,
                    retry: false,
                    message: String::from_utf8_lossy(message).into_owned(),
                },
            );
        }
    }

    fn client_succeeded(&mut self, now: Instant, method: AuthMethod, mppe: Option<MppeKeys>) {
        let username =
            self.config.credentials.as_ref().map(|c| c.username.as_bytes().to_vec()).unwrap_or_default();
        self.events.push_back(Event::Authenticated(Authenticated { method, username, mppe }));
        self.client_ok = true;
        self.auth_progress(now);
    }

    fn chap_client(&mut self, now: Instant, p: ChapPacket<'_>) {
        let method = self.client_method.unwrap_or(AuthMethod::ChapMd5);
        let Client::Chap { responded, expect, .. } = &mut self.client else {
            return self.stats.discarded += 1;
        };
        match p {
            ChapPacket::Value { identifier, value, .. } => {
                // A repeated Challenge (our Response was lost) gets the same Response.
                if let Some((rid, resp)) = responded
                    && *rid == identifier
                {
                    let r = resp.clone();
                    return self.push_auth(protocol::CHAP, r);
                }
                let Some(creds) = self.config.credentials.clone() else {
                    return;
                };
                let user = bounded(&creds.username);
                let mut response = Vec::new();
                let mut new_expect = None;
                let mut new_mppe = None;
                match method {
                    AuthMethod::ChapMd5 => {
                        let r = crypto::chap_md5_response(identifier, creds.password.as_bytes(), value);
                        response.extend_from_slice(&r);
                    }
                    AuthMethod::MsChapV2 => {
                        let Ok(ac) = <[u8; 16]>::try_from(value) else {
                            return self.stats.discarded += 1;
                        };
                        let mut pc = [0u8; 16];
                        self.rng.fill_bytes(&mut pc);
                        let ph = crypto::nt_password_hash(&creds.password);
                        let nt = crypto::mschapv2_nt_response_from_hash(&ac, &pc, user, &ph);
                        new_expect = Some(crypto::mschapv2_authenticator_response(&ph, &nt, &pc, &ac, user));
                        new_mppe = Some(MppeKeys::from_mschapv2(&ph, &nt, Side::Client));
                        response.extend_from_slice(
                            &MsChapV2Response {
                                peer_challenge: pc,
                                reserved: [0; 8],
                                nt_response: nt,
                                flags: 0,
                            }
                            .to_bytes(),
                        );
                    }
                    AuthMethod::MsChapV1 => {
                        let Ok(ch) = <[u8; 8]>::try_from(value) else {
                            return self.stats.discarded += 1;
                        };
                        response.extend_from_slice(
                            &MsChapV1Response {
                                lm_response: [0; 24],
                                nt_response: crypto::mschapv1_nt_response(&ch, &creds.password),
                                use_nt: 1,
                            }
                            .to_bytes(),
                        );
                    }
                    AuthMethod::Pap => return,
                }
                let mut pkt = Vec::new();
                ChapPacket::Value { code: chap_code::RESPONSE, identifier, value: &response, name: user }
                    .encode(&mut pkt);
                self.client = Client::Chap {
                    responded: Some((identifier, pkt.clone())),
                    sends: 1,
                    expect: new_expect,
                    mppe: new_mppe,
                };
                self.push_auth(protocol::CHAP, pkt);
                // RFC 1994 §4.2 has the authenticator repeat its Success/Failure for a
                // repeated Response: resend ours if the result is lost.
                self.set_timer(Timer::AuthRetransmit, Some(now + self.config.timing.restart));
            }
            ChapPacket::Result { code, identifier, message } => {
                if responded.as_ref().is_none_or(|(rid, _)| *rid != identifier) {
                    return self.stats.discarded += 1;
                }
                self.timers[own_timer_index(Timer::AuthRetransmit)] = None;
                if code == chap_code::SUCCESS {
                    if method == AuthMethod::MsChapV2 {
                        let ok = match (wire::parse_mschapv2_success(message), expect.as_ref()) {
                            (Some((got, _)), Some(want)) => crypto::authenticator_response_eq(&got, want),
                            _ => false,
                        };
                        if !ok {
                            return self.auth_failed(now, AuthFailure::BadAuthenticatorResponse);
                        }
                    }
                    let Client::Chap { mppe, .. } = std::mem::replace(&mut self.client, Client::Done) else {
                        return;
                    };
                    self.client_succeeded(now, method, mppe);
                } else {
                    let failure = MsChapFailure::parse(message).filter(|_| method != AuthMethod::ChapMd5);
                    // RFC 2759 §6: R=1 with a new challenge invites a new Response, with the
                    // identifier incremented. Taken up to `mschap_retries` times.
                    if let Some(f) = &failure
                        && method == AuthMethod::MsChapV2
                        && f.retry
                        && self.mschap_retries_left > 0
                        && let Some(ch) = f.challenge.as_ref().filter(|c| c.len() == 16)
                    {
                        self.mschap_retries_left -= 1;
                        let ch = ch.clone();
                        if let Client::Chap { responded, .. } = &mut self.client {
                            *responded = None;
                        }
                        let next = ChapPacket::Value {
                            code: chap_code::CHALLENGE,
                            identifier: identifier.wrapping_add(1),
                            value: &ch,
                            name: &[],
                        };
                        return self.chap_client(now, next);
                    }
                    let (err, retry, msg) = match failure {
                        Some(f) => (Some(f.error), f.retry, f.message),
                        None => (None, false, String::from_utf8_lossy(message).into_owned()),
                    };
                    self.auth_failed(now, AuthFailure::Refused { mschap_error: err, retry, message: msg });
                }
            }
            ChapPacket::Other(_) => self.stats.discarded += 1,
        }
    }
}

/// Owner-supplied text put in a packet (Terminate reason, Success/Failure message): at most
/// 255 octets, so that no packet can outgrow its 16-bit Length.
fn bounded(s: &str) -> &[u8] {
    &s.as_bytes()[..s.len().min(255)]
}

//! A sans-IO L2TP Network Server whose sessions each carry a PPP authenticator: the L2TP
//! and PPP half of the VPN server, which the IPsec half feeds with the UDP/1701 payloads
//! it decrypts (or a plain UDP socket feeds, when plaintext L2TP is allowed).
//!
//! [`Lns`] follows the crate-wide run loop: give it each received datagram with
//! [`Lns::handle_input`] (it returns the IP datagram a data message carried, borrowed from
//! the input), then drain [`Lns::poll_transmit`] and [`Lns::poll_event`] until both are
//! empty, and call [`Lns::handle_timeout`] at [`Lns::poll_timeout`]. Credentials are the
//! owner's decision: answer [`LnsEvent::Authenticate`] with [`Lns::answer_auth`], from a
//! `chap-secrets` file or from RADIUS. IP packets for a client go through [`Lns::send_ip`].
//!
//! Each session gets an address from the [`AddressPool`] when its L2TP session comes up,
//! and returns it when the session ends, whichever layer ends it.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use l2sec_l2tp::{self as l2tp, Input, SessionHandle, TunnelId};
use l2sec_ppp::{self as ppp, AuthRequest, AuthRequestId, AuthVerdict, Datagram};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};

use crate::pool::AddressPool;

/// How the LNS is set up.
#[derive(Debug, Clone)]
pub struct LnsConfig {
    /// The L2TP endpoint (timers, limits, tunnel secret).
    pub l2tp: l2tp::Config,
    /// The PPP authenticator every session starts from. `ipcp.local` is the server's tunnel
    /// address; `ipcp.peer` is filled from the pool per session.
    pub ppp: ppp::Config,
    /// Client addresses.
    pub pool: AddressPool,
}

/// Something the owner of an [`Lns`] must know or decide.
#[derive(Debug)]
#[non_exhaustive]
pub enum LnsEvent<P> {
    /// An L2TP tunnel (control connection) is up.
    TunnelUp {
        /// The tunnel.
        tunnel: TunnelId,
        /// Who it is with.
        peer: P,
    },
    /// An L2TP tunnel ended (its sessions were reported down first).
    TunnelDown {
        /// The tunnel.
        tunnel: TunnelId,
        /// Why.
        reason: l2tp::CloseReason,
    },
    /// Check these credentials and call [`Lns::answer_auth`].
    Authenticate {
        /// The session asking.
        session: SessionHandle,
        /// What the client presented.
        request: AuthRequest,
    },
    /// The client is authenticated and IPCP is open: IP flows to and from `address`.
    SessionUp {
        /// The session.
        session: SessionHandle,
        /// The L2TP peer it came through.
        peer: P,
        /// The authenticated user name.
        username: Vec<u8>,
        /// The client's tunnel address.
        address: Ipv4Addr,
    },
    /// A session ended and its address went back to the pool.
    SessionDown {
        /// The session.
        session: SessionHandle,
        /// The address it had, if one was assigned.
        address: Option<Ipv4Addr>,
        /// What went through it and why it ended (for accounting).
        usage: SessionUsage,
    },
    /// No address was free for a new session; it was refused.
    PoolExhausted {
        /// The refused session.
        session: SessionHandle,
    },
}

/// Why a session ended, in the terms of RADIUS accounting (RFC 2866 §5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DownCause {
    /// The client hung up (LCP Terminate, CDN or StopCCN from it, or its IKE Delete).
    #[default]
    UserRequest,
    /// The client stopped answering (PPP echo, L2TP retransmissions).
    LostCarrier,
    /// The layer below went away (Dead Peer Detection declared the IPsec peer dead).
    LostService,
    /// The server closed this session ([`Lns::close_session`]).
    AdminReset,
    /// The server is shutting down ([`Lns::close_all_sessions`]).
    AdminReboot,
    /// Authentication failed or the PPP negotiation broke down.
    UserError,
}

impl DownCause {
    /// A short name for logs and JSON events (the RADIUS value's name, in lower case).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRequest => "user-request",
            Self::LostCarrier => "lost-carrier",
            Self::LostService => "lost-service",
            Self::AdminReset => "admin-reset",
            Self::AdminReboot => "admin-reboot",
            Self::UserError => "user-error",
        }
    }
}

/// A session's traffic and lifetime, reported when it ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionUsage {
    /// The authenticated user name (empty if authentication never happened).
    pub username: Vec<u8>,
    /// When IPCP came up, if it did.
    pub up_since: Option<Instant>,
    /// IPv4 packets from the client.
    pub input_packets: u64,
    /// Their octets (IP header included).
    pub input_octets: u64,
    /// IPv4 packets to the client.
    pub output_packets: u64,
    /// Their octets.
    pub output_octets: u64,
    /// Why it ended.
    pub cause: DownCause,
}

/// Errors of the LNS composition.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LnsError {
    /// From the L2TP layer (the datagram was dropped).
    #[error("l2tp: {0}")]
    L2tp(#[from] l2tp::Error),
    /// From the PPP layer (the frame was dropped).
    #[error("ppp: {0}")]
    Ppp(#[from] ppp::Error),
    /// No session with this handle.
    #[error("no such session")]
    UnknownSession,
    /// No client has this tunnel address.
    #[error("no session for {0}")]
    NoRoute(Ipv4Addr),
    /// No client has this IPv6 (link-local) address.
    #[error("no session for {0}")]
    NoRouteV6(Ipv6Addr),
    /// A client sent a packet whose source is not the address it was given.
    #[error("session {session:?} sent a packet from {from}, not its address")]
    Spoofed {
        /// The session.
        session: SessionHandle,
        /// The forged source address.
        from: Ipv4Addr,
    },
    /// A client sent an IPv6 packet whose source is not its link-local address.
    #[error("session {session:?} sent an IPv6 packet from {from}, not its address")]
    SpoofedV6 {
        /// The session.
        session: SessionHandle,
        /// The forged source address.
        from: Ipv6Addr,
    },
}

struct Client {
    ppp: ppp::Session<ChaCha20Rng>,
    address: Option<Ipv4Addr>,
    username: Vec<u8>,
    up: bool,
    /// The MRU we offered.
    mru: u16,
    /// Traffic, start time and (once known) why it ends.
    usage: SessionUsage,
    /// Whether `address` came from the pool (a RADIUS Framed-IP-Address may not).
    pooled: bool,
    /// Why it ends: the first layer that decided (`None`: not decided yet).
    cause: Option<DownCause>,
}

/// L2TP tunnels and sessions, a PPP authenticator per session, and an address pool.
pub struct Lns<P, R> {
    l2tp: l2tp::Endpoint<P, R>,
    clients: HashMap<SessionHandle, Client>,
    by_address: HashMap<Ipv4Addr, SessionHandle>,
    /// Clients' IPv6 link-local addresses (RFC 5072 §5: fe80:: + the interface identifier
    /// IPV6CP agreed), once IPV6CP is open on their session.
    by_ipv6: HashMap<Ipv6Addr, SessionHandle>,
    pool: AddressPool,
    ppp_template: ppp::Config,
    /// Seeds one generator per PPP session (magic numbers, challenges).
    seeds: ChaCha20Rng,
    events: VecDeque<LnsEvent<P>>,
    /// Sessions whose PPP may have frames to send.
    pending: VecDeque<SessionHandle>,
    frame: Vec<u8>,
    /// The MRU to offer on sessions through a peer (its path's, see [`crate::mtu`]).
    peer_mru: HashMap<P, u16>,
}

impl<P, R> std::fmt::Debug for Lns<P, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lns")
            .field("sessions", &self.clients.len())
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl<P, R> Lns<P, R>
where
    P: Copy + Eq + std::hash::Hash + std::fmt::Debug,
    R: CryptoRng,
{
    /// An LNS with no tunnels yet. The server's own address (`config.ppp.ipcp.local`) is
    /// reserved in the pool.
    pub fn new(mut config: LnsConfig, mut rng: R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        if let Some(local) = config.ppp.ipcp.local {
            config.pool.reserve(local);
        }
        Self {
            l2tp: l2tp::Endpoint::new(config.l2tp, rng),
            clients: HashMap::new(),
            by_address: HashMap::new(),
            by_ipv6: HashMap::new(),
            pool: config.pool,
            ppp_template: config.ppp,
            seeds: ChaCha20Rng::from_seed(seed),
            events: VecDeque::new(),
            pending: VecDeque::new(),
            frame: Vec::new(),
            peer_mru: HashMap::new(),
        }
    }

    /// Number of sessions (established or negotiating).
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.clients.len()
    }

    /// Addresses handed out now.
    #[must_use]
    pub fn addresses_in_use(&self) -> usize {
        self.pool.in_use()
    }

    /// A received UDP/1701 payload from `peer`. Returns the IP datagram a data message
    /// carried (borrowed from `data`) once the session's IPCP is open, with the session it
    /// came from. IPv4 packets whose source is not the client's address are refused.
    pub fn handle_input<'d>(
        &mut self,
        now: Instant,
        peer: P,
        data: &'d [u8],
    ) -> Result<Option<(SessionHandle, Datagram<'d>)>, LnsError> {
        match self.l2tp.handle_input(now, peer, data)? {
            Input::Control => {
                self.process_l2tp_events(now);
                Ok(None)
            }
            Input::Data { session, ppp } => {
                let Some(c) = self.clients.get_mut(&session) else { return Ok(None) };
                let out = c.ppp.handle_input(now, ppp);
                let address = c.address;
                self.pending.push_back(session);
                self.process_ppp_events(now, session);
                match out? {
                    Some(Datagram::Ipv4(packet)) => {
                        let source = packet.get(12..16).map(|s| Ipv4Addr::new(s[0], s[1], s[2], s[3]));
                        match (source, address) {
                            (Some(s), Some(a)) if s == a => {
                                if let Some(c) = self.clients.get_mut(&session) {
                                    c.usage.input_packets += 1;
                                    c.usage.input_octets += packet.len() as u64;
                                }
                                Ok(Some((session, Datagram::Ipv4(packet))))
                            }
                            (Some(from), _) => Err(LnsError::Spoofed { session, from }),
                            (None, _) => Ok(None),
                        }
                    }
                    Some(Datagram::Ipv6(packet)) => {
                        let Some(source) = ipv6_at(packet, 8) else { return Ok(None) };
                        if self.by_ipv6.get(&source) != Some(&session) {
                            return Err(LnsError::SpoofedV6 { session, from: source });
                        }
                        if let Some(c) = self.clients.get_mut(&session) {
                            c.usage.input_packets += 1;
                            c.usage.input_octets += packet.len() as u64;
                        }
                        Ok(Some((session, Datagram::Ipv6(packet))))
                    }
                    other => Ok(other.map(|d| (session, d))),
                }
            }
        }
    }

    /// Answers an [`LnsEvent::Authenticate`].
    pub fn answer_auth(
        &mut self,
        now: Instant,
        session: SessionHandle,
        id: AuthRequestId,
        verdict: AuthVerdict,
    ) -> Result<(), LnsError> {
        let mut verdict = verdict;
        if let AuthVerdict::Accept(a) = &mut verdict {
            a.peer_address = a.peer_address.filter(|want| self.assign_address(session, *want));
        }
        let c = self.clients.get_mut(&session).ok_or(LnsError::UnknownSession)?;
        if matches!(verdict, AuthVerdict::Reject(_)) {
            c.cause.get_or_insert(DownCause::UserError);
        }
        c.ppp.answer_auth(now, id, verdict)?;
        self.pending.push_back(session);
        self.process_ppp_events(now, session);
        Ok(())
    }

    /// Gives `session` the address `want` (a RADIUS Framed-IP-Address) instead of the one
    /// the pool lent it. Refused (false) if another session or the server has it, or it is
    /// a pool address in use; the pool's address is then kept.
    fn assign_address(&mut self, session: SessionHandle, want: Ipv4Addr) -> bool {
        let Some(c) = self.clients.get(&session) else { return false };
        if c.address == Some(want) {
            return true;
        }
        if self.by_address.contains_key(&want) || self.ppp_template.ipcp.local == Some(want) {
            return false;
        }
        let in_pool = self.pool.contains(want);
        if in_pool && self.pool.take(want).is_err() {
            return false;
        }
        let c = self.clients.get_mut(&session).expect("checked above");
        if let (Some(old), true) = (c.address, c.pooled) {
            self.pool.release(old);
        }
        c.address = Some(want);
        c.pooled = in_pool;
        true
    }

    /// Hangs a session up politely (LCP Terminate, then CDN).
    pub fn close_session(
        &mut self,
        now: Instant,
        session: SessionHandle,
        reason: &str,
    ) -> Result<(), LnsError> {
        let c = self.clients.get_mut(&session).ok_or(LnsError::UnknownSession)?;
        c.cause.get_or_insert(DownCause::AdminReset);
        c.ppp.close(now, reason);
        self.pending.push_back(session);
        self.process_ppp_events(now, session);
        Ok(())
    }

    /// Hangs every session up politely (LCP Terminate-Request; CDN once PPP finishes).
    pub fn close_all_sessions(&mut self, now: Instant, reason: &str) {
        let sessions: Vec<SessionHandle> = self.clients.keys().copied().collect();
        for session in sessions {
            if let Some(c) = self.clients.get_mut(&session) {
                c.cause.get_or_insert(DownCause::AdminReboot);
            }
            let _ = self.close_session(now, session, reason);
        }
    }

    /// Closes every L2TP tunnel (StopCCN "shutting down", RFC 2661 §4.4.2); sessions still
    /// up end with them.
    pub fn shutdown_tunnels(&mut self, now: Instant) {
        self.l2tp.shutdown(now);
        self.process_l2tp_events(now);
    }

    /// Sessions that start through `peer` from now on offer this PPP MRU (the path's, see
    /// [`crate::mtu::ppp_mru`]) instead of the template's.
    pub fn set_peer_mru(&mut self, peer: P, mru: u16) {
        self.peer_mru.insert(peer, mru);
    }

    /// Forgets the MRUs of the peers `gone` picks.
    pub fn forget_peer_mru(&mut self, gone: impl Fn(&P) -> bool) {
        self.peer_mru.retain(|p, _| !gone(p));
    }

    /// The IP MTU of the session that has `address`: the smaller of the MRU we offered and
    /// the client's.
    #[must_use]
    pub fn session_mtu(&self, address: Ipv4Addr) -> Option<u16> {
        let c = self.clients.get(self.by_address.get(&address)?)?;
        Some(c.mru.min(c.ppp.peer_mru()))
    }

    /// Ends at once every tunnel (and its sessions) whose peer `gone` picks, when the
    /// layer below is gone (IKE Delete, DPD): StopCCN is attempted, sessions end and their
    /// addresses return to the pool now rather than at the L2TP keepalive timeout.
    pub fn close_tunnels_of(&mut self, now: Instant, cause: DownCause, gone: impl Fn(&P) -> bool) {
        for (s, c) in &mut self.clients {
            if self.l2tp.tunnel(s.tunnel).is_some_and(|t| gone(&t.peer)) {
                c.cause.get_or_insert(cause);
            }
        }
        let mut tunnels: Vec<TunnelId> = self
            .clients
            .keys()
            .filter(|s| self.l2tp.tunnel(s.tunnel).is_some_and(|t| gone(&t.peer)))
            .map(|s| s.tunnel)
            .collect();
        tunnels.sort_unstable_by_key(|t| t.0);
        tunnels.dedup();
        for t in tunnels {
            let _ = self.l2tp.close_tunnel(now, t, l2tp::stopccn_result::GENERAL_ERROR);
        }
        self.process_l2tp_events(now);
        let orphans: Vec<SessionHandle> = self
            .clients
            .keys()
            .filter(|s| self.l2tp.tunnel(s.tunnel).is_none_or(|t| gone(&t.peer)))
            .copied()
            .collect();
        for s in orphans {
            self.end_session(now, s);
        }
    }

    /// Number of L2TP tunnels (including ones closing).
    #[must_use]
    pub fn tunnel_count(&self) -> usize {
        self.l2tp.tunnel_count()
    }

    /// Sends an IPv4 packet to the client whose tunnel address is its destination: writes
    /// the L2TP datagram carrying it into `buf`.
    /// An IPv6 packet goes to the client whose link-local address is its destination.
    pub fn send_ip(&mut self, packet: &[u8], buf: &mut Vec<u8>) -> Result<l2tp::Transmit<P>, LnsError> {
        let (session, datagram) = if packet.first().is_some_and(|b| b >> 4 == 6) {
            let dst = ipv6_at(packet, 24).ok_or(LnsError::NoRouteV6(Ipv6Addr::UNSPECIFIED))?;
            (*self.by_ipv6.get(&dst).ok_or(LnsError::NoRouteV6(dst))?, Datagram::Ipv6(packet))
        } else {
            let dst = packet.get(16..20).map(|d| Ipv4Addr::new(d[0], d[1], d[2], d[3]));
            let dst = dst.ok_or(LnsError::NoRoute(Ipv4Addr::UNSPECIFIED))?;
            (*self.by_address.get(&dst).ok_or(LnsError::NoRoute(dst))?, Datagram::Ipv4(packet))
        };
        let c = self.clients.get(&session).ok_or(LnsError::UnknownSession)?;
        // Validate first (IPCP/IPV6CP open, size within the peer's MRU) so that the
        // framing inside the L2TP encoder cannot fail.
        self.frame.clear();
        c.ppp.datagram_header(datagram, &mut self.frame)?;
        let header = &self.frame;
        let t = self.l2tp.encapsulate_with(session, buf, |b| {
            b.extend_from_slice(header);
            b.extend_from_slice(packet);
        })?;
        if let Some(c) = self.clients.get_mut(&session) {
            c.usage.output_packets += 1;
            c.usage.output_octets += packet.len() as u64;
        }
        Ok(t)
    }

    /// The next datagram to send (control messages first, then PPP frames), appended to
    /// `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<l2tp::Transmit<P>> {
        if let Some(t) = self.l2tp.poll_transmit(now, buf) {
            return Some(t);
        }
        while let Some(&session) = self.pending.front() {
            let Some(c) = self.clients.get_mut(&session) else {
                self.pending.pop_front();
                continue;
            };
            self.frame.clear();
            if c.ppp.poll_transmit(now, &mut self.frame).is_none() {
                self.pending.pop_front();
                continue;
            }
            // A frame for a session whose L2TP side is already gone is dropped.
            if let Ok(t) = self.l2tp.encapsulate(session, &self.frame, buf) {
                return Some(t);
            }
        }
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<LnsEvent<P>> {
        self.events.pop_front()
    }

    /// The earliest deadline of any layer.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // A scan over the sessions; a timer heap is the next step for very many sessions.
        self.clients.values().filter_map(|c| c.ppp.poll_timeout()).chain(self.l2tp.poll_timeout()).min()
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.l2tp.handle_timeout(now);
        self.process_l2tp_events(now);
        let due: Vec<SessionHandle> = self
            .clients
            .iter()
            .filter(|(_, c)| c.ppp.poll_timeout().is_some_and(|t| t <= now))
            .map(|(h, _)| *h)
            .collect();
        for session in due {
            if let Some(c) = self.clients.get_mut(&session) {
                c.ppp.handle_timeout(now);
                self.pending.push_back(session);
                self.process_ppp_events(now, session);
            }
        }
    }

    fn process_l2tp_events(&mut self, now: Instant) {
        while let Some(ev) = self.l2tp.poll_event() {
            match ev {
                l2tp::Event::TunnelUp { tunnel, .. } => {
                    if let Some(info) = self.l2tp.tunnel(tunnel) {
                        self.events.push_back(LnsEvent::TunnelUp { tunnel, peer: info.peer });
                    }
                }
                l2tp::Event::TunnelDown { tunnel, reason } => {
                    self.events.push_back(LnsEvent::TunnelDown { tunnel, reason });
                }
                l2tp::Event::IncomingCall { session, answered: false, .. } => {
                    let _ = self.l2tp.accept_call(now, session);
                }
                l2tp::Event::SessionUp { session, .. } => self.start_ppp(now, session),
                l2tp::Event::SessionDown { session, reason } => {
                    if let (Some(c), l2tp::CloseReason::RetriesExhausted) =
                        (self.clients.get_mut(&session), &reason)
                        && c.usage.cause == DownCause::UserRequest
                    {
                        c.usage.cause = DownCause::LostCarrier;
                    }
                    self.end_session(now, session)
                }
                _ => {}
            }
        }
    }

    fn start_ppp(&mut self, now: Instant, session: SessionHandle) {
        let Some(address) = self.pool.allocate() else {
            let _ = self.l2tp.close_session(now, session, l2tp::cdn_result::NO_FACILITIES_TEMPORARY);
            self.events.push_back(LnsEvent::PoolExhausted { session });
            return;
        };
        let mut config = self.ppp_template.clone();
        config.ipcp.peer = Some(address);
        if let Some(mru) = self.l2tp.tunnel(session.tunnel).and_then(|t| self.peer_mru.get(&t.peer)) {
            config.lcp.mru = *mru;
        }
        let mru = config.lcp.mru;
        let mut seed = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut self.seeds, &mut seed);
        let mut ppp = ppp::Session::new(config, ChaCha20Rng::from_seed(seed));
        ppp.open(now);
        self.clients.insert(
            session,
            Client {
                ppp,
                address: Some(address),
                username: Vec::new(),
                up: false,
                mru,
                usage: SessionUsage::default(),
                pooled: true,
                cause: None,
            },
        );
        self.pending.push_back(session);
        self.process_ppp_events(now, session);
    }

    fn end_session(&mut self, now: Instant, session: SessionHandle) {
        if let Some(mut c) = self.clients.remove(&session) {
            c.ppp.lower_down(now);
            if let Some(a) = c.address {
                if c.pooled {
                    self.pool.release(a);
                }
                self.by_address.remove(&a);
            }
            self.by_ipv6.retain(|_, s| *s != session);
            let mut usage = c.usage;
            usage.username = c.username;
            usage.cause = c.cause.unwrap_or_default();
            self.events.push_back(LnsEvent::SessionDown { session, address: c.address, usage });
        }
    }

    fn process_ppp_events(&mut self, now: Instant, session: SessionHandle) {
        loop {
            let Some(c) = self.clients.get_mut(&session) else { return };
            let Some(ev) = c.ppp.poll_event() else { return };
            match ev {
                ppp::Event::Authenticate(request) => {
                    c.username.clone_from(&request.username);
                    self.events.push_back(LnsEvent::Authenticate { session, request });
                }
                ppp::Event::Ipv4Up(params) => {
                    c.up = true;
                    c.usage.up_since.get_or_insert(now);
                    let address = params.peer;
                    c.address = Some(address);
                    self.by_address.insert(address, session);
                    let username = c.username.clone();
                    if let Some(t) = self.l2tp.tunnel(session.tunnel) {
                        self.events.push_back(LnsEvent::SessionUp {
                            session,
                            peer: t.peer,
                            username,
                            address,
                        });
                    }
                }
                ppp::Event::Ipv6Up(params) => {
                    self.by_ipv6.insert(params.peer_link_local(), session);
                }
                ppp::Event::Ipv6Down => self.by_ipv6.retain(|_, s| *s != session),
                ppp::Event::EchoTimeout => {
                    c.cause.get_or_insert(DownCause::LostCarrier);
                }
                // The link went down without a cause of ours: the client hung up.
                ppp::Event::LinkDown => {
                    c.cause.get_or_insert(DownCause::UserRequest);
                }
                ppp::Event::Ipv4Down => {
                    c.up = false;
                    if let Some(a) = c.address {
                        self.by_address.remove(&a);
                    }
                }
                ppp::Event::Finished => {
                    // PPP is over: end the L2TP session; its SessionDown frees the rest.
                    let _ = self.l2tp.close_session(now, session, l2tp::cdn_result::ADMINISTRATIVE);
                    self.process_l2tp_events(now);
                    self.end_session(now, session);
                    return;
                }
                _ => {}
            }
        }
    }
}

/// The IPv6 address at `offset` of an IPv6 header (8: source, 24: destination).
fn ipv6_at(packet: &[u8], offset: usize) -> Option<Ipv6Addr> {
    let b: [u8; 16] = packet.get(offset..offset + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(b))
}

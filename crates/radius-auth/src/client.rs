//! The sans-IO RADIUS client: identifiers, retransmission, failover, dead-server
//! detection and a bounded queue (RFC 2865 §2.5, §3; RFC 5080 §2.2; RFC 5997).
//!
//! # When to call what
//!
//! * After creating the [`Client`], and after **every** call to
//!   [`Client::authenticate`], [`Client::account`], [`Client::handle_input`],
//!   [`Client::handle_timeout`] or [`Client::cancel`], drain [`Client::poll_transmit`]
//!   until it returns `None` and [`Client::poll_event`] until it returns `None`.
//! * Call [`Client::handle_timeout`] when the time given by [`Client::poll_timeout`] is
//!   reached (calling it early is harmless).
//! * Each [`Transmit`] names a source socket by index. The owner binds one UDP socket per
//!   index, the first time it sees that index, and feeds what arrives on it to
//!   [`Client::handle_input`] with the same index. A socket carries at most 256
//!   outstanding requests (the Identifier is one octet); more sockets are used only when
//!   needed, up to [`ClientConfig::max_source_ports`].

use core::fmt;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::reply::Reply;
use crate::request::{AccessRequest, AccountingRequest, NasIdentity, encode_status_server};
use crate::wire::{Code, Packet};

/// A shared secret. Zeroized on drop, never printed, and not comparable (no
/// non-constant-time equality on secrets).
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wrap secret octets.
    #[must_use]
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self(Zeroizing::new(secret.as_ref().to_vec()))
    }

    /// The secret octets.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What a server is for: the authentication port or the accounting port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRole {
    /// Access-Request / Status-Server (usually UDP 1812).
    Authentication,
    /// Accounting-Request (usually UDP 1813).
    Accounting,
}

/// One RADIUS server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// UDP address.
    pub address: SocketAddr,
    /// Shared secret.
    pub secret: Secret,
    /// Authentication or accounting.
    pub role: ServerRole,
    /// Require a valid Message-Authenticator in every response (default `true`).
    ///
    /// **Turning this off re-opens the Blast-RADIUS forgery (CVE-2024-3596)** for this
    /// server: a man in the middle can turn an Access-Reject into an Access-Accept. Only
    /// do it for servers that cannot send one (FreeRADIUS before 3.2.5 does not). The
    /// client reports it with [`Event::InsecureServer`] at start and
    /// [`Event::UnprotectedResponse`] the first time such a response is accepted. A
    /// Message-Authenticator that is present is always checked.
    pub require_message_authenticator: bool,
    /// Probe the server with Status-Server (RFC 5997) while it is marked dead (default
    /// `true`); otherwise it is marked alive again after [`ClientConfig::revive_after`].
    pub status_server: bool,
}

impl ServerConfig {
    /// A server with the default, strict settings.
    #[must_use]
    pub fn new(address: SocketAddr, secret: impl AsRef<[u8]>, role: ServerRole) -> Self {
        Self {
            address,
            secret: Secret::new(secret),
            role,
            require_message_authenticator: true,
            status_server: true,
        }
    }
}

/// Retransmission to one server (RFC 5080 §2.2.1): the interval starts at `initial`,
/// doubles (±10 % jitter) up to `max_interval`; the server is given up after `max_sends`
/// transmissions or `max_duration`, whichever comes first. Every retransmission is the
/// same datagram (same Identifier and Request Authenticator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitPolicy {
    /// First retransmission timeout (RFC 5080's IRT). Default 2 s.
    pub initial: Duration,
    /// Largest interval (MRT). Default 16 s.
    pub max_interval: Duration,
    /// Transmissions per server, the first included (MRC). Default 3.
    pub max_sends: u32,
    /// Time spent on one server before failing over (MRD). Default 10 s.
    pub max_duration: Duration,
}

impl Default for RetransmitPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(2),
            max_interval: Duration::from_secs(16),
            max_sends: 3,
            max_duration: Duration::from_secs(10),
        }
    }
}

/// Client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// NAS-IP-Address / NAS-Identifier sent in every request.
    pub nas: NasIdentity,
    /// Servers in order of preference; requests go to the first live server of the role.
    pub servers: Vec<ServerConfig>,
    /// Retransmission to one server.
    pub retransmit: RetransmitPolicy,
    /// Total time a request may take, queueing and failover included (default 30 s);
    /// then [`Event::Timeout`].
    pub request_timeout: Duration,
    /// Interval between Status-Server probes of a dead server (default 30 s).
    pub probe_interval: Duration,
    /// For servers without Status-Server: how long a dead server stays dead (default 60 s).
    pub revive_after: Duration,
    /// Most source sockets to use (default 16, each with 256 identifiers).
    pub max_source_ports: u16,
    /// Requests waiting for a free identifier (default 1024); beyond it
    /// [`Error::QueueFull`].
    pub queue_limit: usize,
}

impl ClientConfig {
    /// Defaults with the given NAS identity and servers.
    #[must_use]
    pub fn new(nas: NasIdentity, servers: Vec<ServerConfig>) -> Self {
        Self {
            nas,
            servers,
            retransmit: RetransmitPolicy::default(),
            request_timeout: Duration::from_secs(30),
            probe_interval: Duration::from_secs(30),
            revive_after: Duration::from_secs(60),
            max_source_ports: 16,
            queue_limit: 1024,
        }
    }
}

/// Names a request for the owner; returned by [`Client::authenticate`] and
/// [`Client::account`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestHandle(pub u64);

/// A datagram to send: its octets were appended to the buffer given to
/// [`Client::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Index of the source socket to send from.
    pub socket: usize,
    /// Server address.
    pub destination: SocketAddr,
    /// Number of octets appended.
    pub len: usize,
}

/// What the owner must know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A verified answer to a request.
    Reply {
        /// The request.
        handle: RequestHandle,
        /// Index of the server that answered.
        server: usize,
        /// The answer.
        reply: Reply,
    },
    /// No server answered in time: the request is over.
    Timeout {
        /// The request.
        handle: RequestHandle,
    },
    /// The request could not be encoded for a server (should not happen: requests are
    /// checked when submitted).
    Failed {
        /// The request.
        handle: RequestHandle,
        /// Why.
        error: Error,
    },
    /// A server stopped answering and is marked dead (RFC 5080 §2.2.1).
    ServerDown {
        /// Index in [`ClientConfig::servers`].
        server: usize,
    },
    /// A dead server answered again (or its dead time ran out) and is used again.
    ServerUp {
        /// Index in [`ClientConfig::servers`].
        server: usize,
    },
    /// Warning at start: this server's responses are accepted without
    /// Message-Authenticator (Blast-RADIUS, CVE-2024-3596).
    InsecureServer {
        /// Index in [`ClientConfig::servers`].
        server: usize,
    },
    /// Warning, once per server: a response without Message-Authenticator was accepted
    /// because the requirement is switched off for this server.
    UnprotectedResponse {
        /// Index in [`ClientConfig::servers`].
        server: usize,
    },
}

/// Whether a server is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerHealth {
    /// In use.
    Alive,
    /// Not used for new requests until it answers a probe (or its dead time ends).
    Dead {
        /// When it was marked dead.
        since: Instant,
        /// Next Status-Server probe, or revival when it has no Status-Server.
        next_check: Instant,
    },
}

#[derive(Debug)]
enum Body {
    Access(AccessRequest),
    Accounting(AccountingRequest),
    Probe { server: usize },
}

#[derive(Debug)]
struct Attempt {
    server: usize,
    socket: u16,
    id: u8,
    authenticator: [u8; 16],
    bytes: Vec<u8>,
    first_sent: Instant,
    sends: u32,
    interval: Duration,
    next_send: Instant,
    give_up: Instant,
}

#[derive(Debug)]
struct Pending {
    handle: RequestHandle,
    body: Body,
    role: ServerRole,
    created: Instant,
    deadline: Instant,
    tried: u64,
    attempt: Option<Attempt>,
}

#[derive(Debug)]
struct Server {
    config: ServerConfig,
    health: ServerHealth,
    last_heard: Option<Instant>,
    probing: bool,
    warned_unprotected: bool,
}

#[derive(Debug)]
struct SourcePort {
    by_id: Box<[Option<usize>; 256]>,
    used: u16,
    cursor: u8,
}

/// The RADIUS client of a NAS. See the [module documentation](self) for the call order.
pub struct Client<R> {
    nas: NasIdentity,
    retransmit: RetransmitPolicy,
    request_timeout: Duration,
    probe_interval: Duration,
    revive_after: Duration,
    max_source_ports: u16,
    queue_limit: usize,
    servers: Vec<Server>,
    slots: Vec<Option<Pending>>,
    free_slots: Vec<usize>,
    handles: BTreeMap<RequestHandle, usize>,
    ports: Vec<SourcePort>,
    queue: VecDeque<usize>,
    transmits: VecDeque<(usize, RequestHandle)>,
    events: VecDeque<Event>,
    next_handle: u64,
    rng: R,
}

impl<R> fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pending: Vec<_> = self.slots.iter().flatten().collect();
        f.debug_struct("Client")
            .field("servers", &self.servers)
            .field("pending", &pending)
            .field("handles", &self.handles)
            .field("ports", &self.ports)
            .field("queue", &self.queue)
            .field("transmits", &self.transmits)
            .field("events", &self.events)
            .field("next_handle", &self.next_handle)
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> Client<R> {
    /// A client for `config`, with `rng` for Request Authenticators and jitter.
    ///
    /// # Errors
    /// [`Error::NoServer`] when there is no server or more than 64.
    pub fn new(config: ClientConfig, rng: R) -> Result<Self, Error> {
        if config.servers.is_empty() || config.servers.len() > 64 {
            return Err(Error::NoServer);
        }
        let mut events = VecDeque::new();
        for (i, s) in config.servers.iter().enumerate() {
            if !s.require_message_authenticator {
                events.push_back(Event::InsecureServer { server: i });
            }
        }
        Ok(Self {
            nas: config.nas,
            retransmit: config.retransmit,
            request_timeout: config.request_timeout,
            probe_interval: config.probe_interval,
            revive_after: config.revive_after,
            max_source_ports: config.max_source_ports.max(1),
            queue_limit: config.queue_limit,
            servers: config
                .servers
                .into_iter()
                .map(|config| Server {
                    config,
                    health: ServerHealth::Alive,
                    last_heard: None,
                    probing: false,
                    warned_unprotected: false,
                })
                .collect(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            handles: BTreeMap::new(),
            ports: Vec::new(),
            queue: VecDeque::new(),
            transmits: VecDeque::new(),
            events,
            next_handle: 0,
            rng,
        })
    }

    /// Send an Access-Request.
    ///
    /// # Errors
    /// [`Error::NoServer`], [`Error::Encode`] (e.g. a PAP password over 128 octets) or
    /// [`Error::QueueFull`]; nothing is sent then.
    pub fn authenticate(&mut self, now: Instant, request: AccessRequest) -> Result<RequestHandle, Error> {
        let mut scratch = Vec::new();
        request.encode(&self.nas, 0, [0; 16], b"check", &mut scratch)?;
        self.submit(now, Body::Access(request), ServerRole::Authentication)
    }

    /// Send an Accounting-Request.
    ///
    /// # Errors
    /// As [`Client::authenticate`].
    pub fn account(&mut self, now: Instant, request: AccountingRequest) -> Result<RequestHandle, Error> {
        let mut scratch = Vec::new();
        request.encode(&self.nas, 0, u32::MAX, b"check", &mut scratch)?;
        self.submit(now, Body::Accounting(request), ServerRole::Accounting)
    }

    fn submit(&mut self, now: Instant, body: Body, role: ServerRole) -> Result<RequestHandle, Error> {
        if !self.servers.iter().any(|s| s.config.role == role) {
            return Err(Error::NoServer);
        }
        let must_queue = !self.queue.is_empty() || !self.id_available();
        if must_queue && self.queue.len() >= self.queue_limit {
            return Err(Error::QueueFull);
        }
        let handle = RequestHandle(self.next_handle);
        self.next_handle += 1;
        let slot = self.insert(Pending {
            handle,
            body,
            role,
            created: now,
            deadline: now + self.request_timeout,
            tried: 0,
            attempt: None,
        });
        if must_queue {
            self.queue.push_back(slot);
        } else {
            self.start_attempt(now, slot);
        }
        Ok(handle)
    }

    /// Forget a request (e.g. the PPP session went away). A late answer is then dropped
    /// as unknown, and a queued request may take its Identifier. Returns whether the
    /// request was outstanding or queued.
    pub fn cancel(&mut self, now: Instant, handle: RequestHandle) -> bool {
        let Some(&slot) = self.handles.get(&handle) else {
            return false;
        };
        self.queue.retain(|&s| s != slot);
        if let Some(p) = self.remove(slot)
            && let Body::Probe { server } = p.body
        {
            self.servers[server].probing = false;
        }
        self.drain_queue(now);
        true
    }

    /// Feed one datagram received on source socket `socket` from `source`.
    ///
    /// A datagram that does not answer an outstanding request exactly (malformed,
    /// unknown Identifier, wrong source, wrong code, bad Response Authenticator, bad or
    /// missing Message-Authenticator) is dropped with an error and changes nothing.
    ///
    /// # Errors
    /// The reason the datagram was dropped.
    pub fn handle_input(
        &mut self,
        now: Instant,
        socket: usize,
        source: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), Error> {
        let packet = Packet::parse(datagram)?;
        let slot = self
            .ports
            .get(socket)
            .and_then(|p| p.by_id[usize::from(packet.identifier())])
            .ok_or(Error::UnknownIdentifier)?;
        let pending = self.slots[slot].as_ref().ok_or(Error::UnknownIdentifier)?;
        let attempt = pending.attempt.as_ref().ok_or(Error::UnknownIdentifier)?;
        let server = &self.servers[attempt.server];
        if server.config.address != source {
            return Err(Error::UnknownIdentifier);
        }
        let code_ok = matches!(
            (&pending.body, packet.code()),
            (Body::Access(_), Code::ACCESS_ACCEPT | Code::ACCESS_REJECT | Code::ACCESS_CHALLENGE)
                | (Body::Accounting(_), Code::ACCOUNTING_RESPONSE)
                | (Body::Probe { .. }, Code::ACCESS_ACCEPT | Code::ACCOUNTING_RESPONSE)
        );
        if !code_ok {
            return Err(Error::UnexpectedCode);
        }
        let secret = server.config.secret.expose();
        if !packet.verify_response_authenticator(&attempt.authenticator, secret) {
            return Err(Error::BadAuthenticator);
        }
        let mut unprotected = false;
        match packet.verify_message_authenticator(&attempt.authenticator, secret) {
            Some(true) => {}
            Some(false) => return Err(Error::BadMessageAuthenticator),
            None if server.config.require_message_authenticator => {
                return Err(Error::MissingMessageAuthenticator);
            }
            None => unprotected = true,
        }
        let reply = match pending.body {
            Body::Probe { .. } => None,
            _ => Reply::from_verified(&packet, secret, &attempt.authenticator),
        };
        // Accepted: from here on state changes.
        let server_index = attempt.server;
        let p = self.remove(slot).expect("slot checked above");
        let server = &mut self.servers[server_index];
        server.last_heard = Some(now);
        if let Body::Probe { .. } = p.body {
            server.probing = false;
        }
        if unprotected && !server.warned_unprotected {
            server.warned_unprotected = true;
            self.events.push_back(Event::UnprotectedResponse { server: server_index });
        }
        if matches!(server.health, ServerHealth::Dead { .. }) {
            server.health = ServerHealth::Alive;
            self.events.push_back(Event::ServerUp { server: server_index });
        }
        if let Some(reply) = reply {
            self.events.push_back(Event::Reply { handle: p.handle, server: server_index, reply });
        }
        self.drain_queue(now);
        Ok(())
    }

    /// Advance timers to `now`: retransmissions, failover, timeouts, probes.
    pub fn handle_timeout(&mut self, now: Instant) {
        for slot in 0..self.slots.len() {
            let Some(p) = self.slots[slot].as_mut() else {
                continue;
            };
            let Some(a) = p.attempt.as_mut() else {
                continue;
            };
            let max_sends = if matches!(p.body, Body::Probe { .. }) { 1 } else { self.retransmit.max_sends };
            if now >= a.give_up || (a.sends >= max_sends && now >= a.next_send) {
                self.give_up(now, slot);
            } else if now >= a.next_send {
                a.sends += 1;
                let doubled = a.interval.saturating_mul(2);
                let next = if doubled > self.retransmit.max_interval {
                    jitter(&mut self.rng, self.retransmit.max_interval)
                } else {
                    jitter(&mut self.rng, doubled)
                };
                a.interval = next;
                a.next_send = now + next;
                let handle = p.handle;
                self.transmits.push_back((slot, handle));
            }
        }
        // Queued requests whose total time ran out.
        while let Some(&slot) = self.queue.front() {
            let expired = self.slots[slot].as_ref().is_some_and(|p| now >= p.deadline);
            if !expired {
                break;
            }
            self.queue.pop_front();
            if let Some(p) = self.remove(slot) {
                self.events.push_back(Event::Timeout { handle: p.handle });
            }
        }
        // Dead servers: probe or revive.
        for i in 0..self.servers.len() {
            let s = &self.servers[i];
            let ServerHealth::Dead { since, next_check } = s.health else {
                continue;
            };
            if now < next_check || s.probing {
                continue;
            }
            if !s.config.status_server {
                self.servers[i].health = ServerHealth::Alive;
                self.events.push_back(Event::ServerUp { server: i });
                continue;
            }
            self.servers[i].health = ServerHealth::Dead { since, next_check: now + self.probe_interval };
            if self.id_available() {
                self.servers[i].probing = true;
                let handle = RequestHandle(self.next_handle);
                self.next_handle += 1;
                let role = self.servers[i].config.role;
                let slot = self.insert(Pending {
                    handle,
                    body: Body::Probe { server: i },
                    role,
                    created: now,
                    deadline: now + self.retransmit.max_duration,
                    tried: 0,
                    attempt: None,
                });
                self.start_attempt(now, slot);
            }
        }
        self.drain_queue(now);
    }

    /// Next datagram to send: its octets are appended to `buf`.
    #[must_use = "the datagram must be sent"]
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        while let Some((slot, handle)) = self.transmits.pop_front() {
            let Some(p) = self.slots.get(slot).and_then(Option::as_ref) else {
                continue;
            };
            if p.handle != handle {
                continue;
            }
            let Some(a) = p.attempt.as_ref() else {
                continue;
            };
            buf.extend_from_slice(&a.bytes);
            return Some(Transmit {
                socket: usize::from(a.socket),
                destination: self.servers[a.server].config.address,
                len: a.bytes.len(),
            });
        }
        None
    }

    /// Next event for the owner.
    #[must_use = "events carry the answers"]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Client::handle_timeout`] must next be called, if at all.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let attempts = self
            .slots
            .iter()
            .flatten()
            .filter_map(|p| p.attempt.as_ref())
            .map(|a| a.next_send.min(a.give_up));
        let queued = self.queue.front().and_then(|&s| self.slots[s].as_ref()).map(|p| p.deadline);
        let servers = self.servers.iter().filter_map(|s| match s.health {
            ServerHealth::Dead { next_check, .. } if !s.probing => Some(next_check),
            _ => None,
        });
        attempts.chain(queued).chain(servers).min()
    }

    /// Requests sent and not yet answered (probes included).
    #[must_use]
    pub fn outstanding(&self) -> usize {
        self.slots.iter().flatten().filter(|p| p.attempt.is_some()).count()
    }

    /// Requests waiting for a free Identifier.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Source sockets in use so far.
    #[must_use]
    pub fn source_ports(&self) -> usize {
        self.ports.len()
    }

    /// Health of server `index`.
    #[must_use]
    pub fn server_health(&self, index: usize) -> Option<ServerHealth> {
        self.servers.get(index).map(|s| s.health)
    }

    // ------------------------------------------------------------------ internals

    fn insert(&mut self, p: Pending) -> usize {
        let handle = p.handle;
        let slot = if let Some(s) = self.free_slots.pop() {
            self.slots[s] = Some(p);
            s
        } else {
            self.slots.push(Some(p));
            self.slots.len() - 1
        };
        self.handles.insert(handle, slot);
        slot
    }

    fn remove(&mut self, slot: usize) -> Option<Pending> {
        let mut p = self.slots.get_mut(slot)?.take()?;
        if let Some(a) = p.attempt.take() {
            self.free_id(a.socket, a.id);
        }
        self.handles.remove(&p.handle);
        self.free_slots.push(slot);
        Some(p)
    }

    fn id_available(&self) -> bool {
        self.ports.iter().any(|p| p.used < 256) || self.ports.len() < usize::from(self.max_source_ports)
    }

    fn alloc_id(&mut self, slot: usize) -> Option<(u16, u8)> {
        if !self.ports.iter().any(|p| p.used < 256) {
            if self.ports.len() >= usize::from(self.max_source_ports) {
                return None;
            }
            self.ports.push(SourcePort { by_id: Box::new([None; 256]), used: 0, cursor: 0 });
        }
        let (index, port) = self.ports.iter_mut().enumerate().find(|(_, p)| p.used < 256)?;
        // Start after the last identifier handed out, so a freed one is not reused at
        // once (a late answer to the old request would otherwise match the new one).
        for step in 0..256u16 {
            let id = port.cursor.wrapping_add(step as u8);
            if port.by_id[usize::from(id)].is_none() {
                port.by_id[usize::from(id)] = Some(slot);
                port.used += 1;
                port.cursor = id.wrapping_add(1);
                return Some((index as u16, id));
            }
        }
        None
    }

    fn free_id(&mut self, socket: u16, id: u8) {
        if let Some(port) = self.ports.get_mut(usize::from(socket))
            && port.by_id[usize::from(id)].take().is_some()
        {
            port.used -= 1;
        }
    }

    fn choose_server(&self, p: &Pending) -> Option<usize> {
        if let Body::Probe { server } = p.body {
            return Some(server);
        }
        let candidates = || {
            self.servers
                .iter()
                .enumerate()
                .filter(|(i, s)| s.config.role == p.role && p.tried & (1u64 << i) == 0)
        };
        if let Some((i, _)) = candidates().find(|(_, s)| s.health == ServerHealth::Alive) {
            return Some(i);
        }
        if p.tried == 0 {
            // Every server is dead: try the one that died first rather than failing
            // without asking anybody.
            return candidates()
                .min_by_key(|(_, s)| match s.health {
                    ServerHealth::Dead { since, .. } => Some(since),
                    ServerHealth::Alive => None,
                })
                .map(|(i, _)| i);
        }
        None
    }

    /// Give the request at `slot` (which has no attempt) an identifier and a server, and
    /// queue its first transmission; or end it with Timeout when no server is left.
    fn start_attempt(&mut self, now: Instant, slot: usize) {
        let Some(p) = self.slots[slot].as_ref() else {
            return;
        };
        let handle = p.handle;
        let Some(server) = self.choose_server(p) else {
            self.remove(slot);
            self.events.push_back(Event::Timeout { handle });
            return;
        };
        let Some((socket, id)) = self.alloc_id(slot) else {
            self.queue.push_front(slot);
            return;
        };
        let mut authenticator = [0u8; 16];
        self.rng.fill_bytes(&mut authenticator);
        let secret = self.servers[server].config.secret.clone();
        let p = self.slots[slot].as_ref().expect("checked above");
        let mut bytes = Vec::new();
        let encoded = match &p.body {
            Body::Access(r) => r.encode(&self.nas, id, authenticator, secret.expose(), &mut bytes),
            Body::Accounting(r) => {
                let delay =
                    u32::try_from(now.saturating_duration_since(p.created).as_secs()).unwrap_or(u32::MAX);
                r.encode(&self.nas, id, delay, secret.expose(), &mut bytes)
            }
            Body::Probe { .. } => {
                encode_status_server(&self.nas, id, authenticator, secret.expose(), &mut bytes)
            }
        };
        if let Err(e) = encoded {
            self.free_id(socket, id);
            if let Some(p) = self.remove(slot)
                && let Body::Probe { server } = p.body
            {
                self.servers[server].probing = false;
            }
            self.events.push_back(Event::Failed { handle, error: e.into() });
            return;
        }
        authenticator.copy_from_slice(&bytes[4..20]);
        let interval = jitter(&mut self.rng, self.retransmit.initial);
        let p = self.slots[slot].as_mut().expect("checked above");
        let give_up = (now + self.retransmit.max_duration).min(p.deadline.max(now));
        p.attempt = Some(Attempt {
            server,
            socket,
            id,
            authenticator,
            bytes,
            first_sent: now,
            sends: 1,
            interval,
            next_send: now + interval,
            give_up,
        });
        self.transmits.push_back((slot, handle));
    }

    /// The current server did not answer in time: maybe mark it dead, then fail over or
    /// end the request.
    fn give_up(&mut self, now: Instant, slot: usize) {
        let Some(p) = self.slots[slot].as_mut() else {
            return;
        };
        let Some(a) = p.attempt.take() else {
            return;
        };
        p.tried |= 1u64 << a.server;
        let is_probe = matches!(p.body, Body::Probe { .. });
        let (handle, deadline) = (p.handle, p.deadline);
        self.free_id(a.socket, a.id);
        let server = &mut self.servers[a.server];
        // RFC 5080 §2.2.1: a server that let a request time out and has not been heard
        // from since that request was first sent is unresponsive.
        let silent = server.last_heard.is_none_or(|t| t < a.first_sent);
        if silent && server.health == ServerHealth::Alive {
            let next_check =
                now + if server.config.status_server { self.probe_interval } else { self.revive_after };
            server.health = ServerHealth::Dead { since: now, next_check };
            self.events.push_back(Event::ServerDown { server: a.server });
        }
        if is_probe {
            server.probing = false;
            self.remove(slot);
            return;
        }
        if now < deadline {
            self.start_attempt(now, slot);
        } else {
            self.remove(slot);
            self.events.push_back(Event::Timeout { handle });
        }
    }

    fn drain_queue(&mut self, now: Instant) {
        while !self.queue.is_empty() && self.id_available() {
            let slot = self.queue.pop_front().expect("not empty");
            if self.slots[slot].is_some() {
                self.start_attempt(now, slot);
            }
        }
    }
}

/// RFC 5080 §2.2.1: scale by a random factor in [0.9, 1.1).
fn jitter<R: CryptoRng>(rng: &mut R, d: Duration) -> Duration {
    let r = f64::from(rng.next_u32()) / (f64::from(u32::MAX) + 1.0);
    d.mul_f64(0.9 + 0.2 * r)
}

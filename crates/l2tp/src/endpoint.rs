//! The endpoint: every tunnel of one L2TP speaker, demultiplexed by Tunnel ID.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Instant;

use rand_core::CryptoRng;

use crate::attrs::Attrs;
use crate::config::Config;
use crate::event::{CloseReason, Error, Event, SessionHandle, Transmit, TunnelId};
use crate::reliable::seq_lt;
use crate::session::{MAX_IDS, SessionState};
use crate::tunnel::{Ctx, Tunnel, TunnelState};
use crate::wire::{Accm, AvpValue, CallErrors, ControlMessage, Header, MessageType, Packet, Sequence};

/// What a datagram given to [`Endpoint::handle_input`] turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'d> {
    /// A control message (or ZLB): processed; drain transmits and events.
    Control,
    /// A data message: the PPP frame it carries, borrowed from the input (no copy).
    Data {
        /// The session it belongs to.
        session: SessionHandle,
        /// The PPP frame (address/control field included if the peer sent it).
        ppp: &'d [u8],
    },
}

/// Public view of a tunnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelInfo<P> {
    /// The peer.
    pub peer: P,
    /// The peer's Tunnel ID (0 until known).
    pub peer_tunnel_id: u16,
    /// The control connection state.
    pub state: TunnelState,
    /// Sessions in this tunnel.
    pub sessions: usize,
    /// Control messages sent or queued and not yet acknowledged by the peer.
    pub unacked: usize,
    /// The peer's Host Name.
    pub peer_host_name: Vec<u8>,
}

/// Public view of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The peer's Session ID (0 until known).
    pub peer_session_id: u16,
    /// The session state.
    pub state: SessionState,
    /// Data messages carry sequence numbers.
    pub sequencing: bool,
}

/// An L2TP speaker (LAC, LNS or both) with any number of tunnels to any peers.
///
/// `P` names a peer (a `SocketAddr`, or whatever the owner uses to route datagrams, e.g. an
/// ESP SA plus inner ports); `R` is the injected random generator.
///
/// The owner, after every [`handle_input`](Self::handle_input),
/// [`handle_timeout`](Self::handle_timeout) or command, drains
/// [`poll_transmit`](Self::poll_transmit) until `None` and [`poll_event`](Self::poll_event)
/// until `None`, then sleeps until [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Endpoint<P, R> {
    config: Config,
    rng: R,
    tunnels: HashMap<u16, Tunnel<P>>,
    /// (peer, peer's Assigned Tunnel ID) of tunnels we answered: a repeated SCCRQ must not
    /// open a second tunnel.
    by_peer: HashMap<(P, u16), u16>,
    events: VecDeque<Event>,
    /// Tunnels with datagrams in their outbox.
    ready: VecDeque<u16>,
    /// One-shot datagrams not tied to a tunnel.
    stray: VecDeque<(P, Vec<u8>)>,
    call_serial: u32,
}

impl<P, R> Endpoint<P, R>
where
    P: Copy + Eq + Hash + std::fmt::Debug,
    R: CryptoRng,
{
    /// Creates an endpoint.
    pub fn new(config: Config, rng: R) -> Self {
        Self {
            config,
            rng,
            tunnels: HashMap::new(),
            by_peer: HashMap::new(),
            events: VecDeque::new(),
            ready: VecDeque::new(),
            stray: VecDeque::new(),
            call_serial: 0,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of tunnels (including ones closing).
    #[must_use]
    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }

    /// A tunnel's state, if it exists.
    #[must_use]
    pub fn tunnel(&self, id: TunnelId) -> Option<TunnelInfo<P>> {
        self.tunnels.get(&id.0).map(|t| TunnelInfo {
            peer: t.peer,
            peer_tunnel_id: t.peer_id,
            state: t.state,
            sessions: t.sessions.len(),
            unacked: t.unacked(),
            peer_host_name: t.peer_host_name.clone(),
        })
    }

    /// A session's state, if it exists.
    #[must_use]
    pub fn session(&self, h: SessionHandle) -> Option<SessionInfo> {
        let s = self.tunnels.get(&h.tunnel.0)?.sessions.get(&h.session)?;
        Some(SessionInfo { peer_session_id: s.peer_id, state: s.state, sequencing: s.data_sequencing })
    }

    fn new_tunnel_id(&mut self) -> u16 {
        loop {
            let id = (self.rng.next_u32() & 0xffff) as u16;
            if id != 0 && !self.tunnels.contains_key(&id) {
                return id;
            }
        }
    }

    fn with_tunnel<T>(&mut self, id: u16, f: impl FnOnce(&mut Tunnel<P>, &mut Ctx<'_, R>) -> T) -> Option<T> {
        let tunnel = self.tunnels.get_mut(&id)?;
        let mut ctx = Ctx {
            config: &self.config,
            rng: &mut self.rng,
            events: &mut self.events,
            call_serial: &mut self.call_serial,
        };
        let out = f(tunnel, &mut ctx);
        self.settle(id);
        Some(out)
    }

    /// After a tunnel ran: note pending output, remove it if it is finished.
    fn settle(&mut self, id: u16) {
        let Some(t) = self.tunnels.get_mut(&id) else { return };
        if t.dead {
            let t = self.tunnels.remove(&id).expect("present");
            for d in t.outbox {
                self.stray.push_back((t.peer, d));
            }
            self.by_peer.retain(|_, v| *v != id);
        } else if !t.outbox.is_empty() && !t.in_ready {
            t.in_ready = true;
            self.ready.push_back(id);
        }
    }

    // ---- commands ------------------------------------------------------------------------

    /// Opens a tunnel to `peer` (sends SCCRQ, RFC 2661 §7.2.1).
    pub fn connect(&mut self, now: Instant, peer: P) -> Result<TunnelId, Error> {
        if self.tunnels.len() >= self.config.max_tunnels.min(MAX_IDS) {
            return Err(Error::ResourceLimit("tunnels"));
        }
        let id = self.new_tunnel_id();
        let t = Tunnel::new(id, peer, &self.config, TunnelState::WaitCtlReply);
        self.tunnels.insert(id, t);
        self.with_tunnel(id, |t, ctx| t.connect(now, ctx));
        Ok(TunnelId(id))
    }

    /// Places an incoming call as LAC (ICRQ, RFC 2661 §7.4.1). Allowed as soon as the tunnel
    /// exists; the ICRQ goes out once it is established.
    pub fn open_session(&mut self, now: Instant, tunnel: TunnelId) -> Result<SessionHandle, Error> {
        let max = self.config.max_sessions_per_tunnel;
        let t = self.tunnels.get(&tunnel.0).ok_or(Error::UnknownTunnel(tunnel.0))?;
        if t.state == TunnelState::Closing {
            return Err(Error::InvalidState);
        }
        if t.sessions.len() >= max.min(MAX_IDS) {
            return Err(Error::ResourceLimit("sessions per tunnel"));
        }
        let id = t.new_session_id(&mut self.rng);
        self.with_tunnel(tunnel.0, |t, ctx| t.open_session(now, id, ctx));
        Ok(SessionHandle { tunnel, session: id })
    }

    /// LNS: answers a call waiting in [`SessionState::WaitAnswer`] with ICRP
    /// (RFC 2661 §7.4.2). Refuse a call with [`close_session`](Self::close_session) instead.
    pub fn accept_call(&mut self, now: Instant, h: SessionHandle) -> Result<(), Error> {
        let t = self.tunnels.get(&h.tunnel.0).ok_or(Error::UnknownTunnel(h.tunnel.0))?;
        if !t.sessions.contains_key(&h.session) {
            return Err(Error::UnknownSession(h.session));
        }
        match self.with_tunnel(h.tunnel.0, |t, ctx| t.accept_call(now, h.session, ctx)) {
            Some(true) => Ok(()),
            _ => Err(Error::InvalidState),
        }
    }

    /// Ends a session with CDN carrying `result` (RFC 2661 §6.11; see
    /// [`cdn_result`](crate::cdn_result)).
    pub fn close_session(&mut self, now: Instant, h: SessionHandle, result: u16) -> Result<(), Error> {
        let t = self.tunnels.get(&h.tunnel.0).ok_or(Error::UnknownTunnel(h.tunnel.0))?;
        if !t.sessions.contains_key(&h.session) {
            return Err(Error::UnknownSession(h.session));
        }
        self.with_tunnel(h.tunnel.0, |t, ctx| {
            t.close_session(now, h.session, result, None, CloseReason::Local, ctx);
        });
        Ok(())
    }

    /// LAC: reports WAN errors on a session with WEN (RFC 2661 §6.14).
    pub fn wan_error_notify(
        &mut self,
        now: Instant,
        h: SessionHandle,
        errors: CallErrors,
    ) -> Result<(), Error> {
        self.session_notice(now, h, MessageType::Wen, AvpValue::CallErrors(errors))
    }

    /// Tells the peer the PPP ACCM negotiated on a session with SLI (RFC 2661 §6.15).
    pub fn set_link_info(&mut self, now: Instant, h: SessionHandle, accm: Accm) -> Result<(), Error> {
        self.session_notice(now, h, MessageType::Sli, AvpValue::Accm(accm))
    }

    fn session_notice(
        &mut self,
        now: Instant,
        h: SessionHandle,
        t: MessageType,
        value: AvpValue<'_>,
    ) -> Result<(), Error> {
        let tunnel = self.tunnels.get(&h.tunnel.0).ok_or(Error::UnknownTunnel(h.tunnel.0))?;
        if !tunnel.sessions.contains_key(&h.session) {
            return Err(Error::UnknownSession(h.session));
        }
        match self.with_tunnel(h.tunnel.0, |t_, _| t_.session_notice(now, h.session, t, value)) {
            Some(true) => Ok(()),
            Some(false) => Err(Error::InvalidState),
            None => Err(Error::UnknownTunnel(h.tunnel.0)),
        }
    }

    /// Ends a tunnel with StopCCN carrying `result` (RFC 2661 §6.4; see
    /// [`stopccn_result`](crate::stopccn_result)).
    pub fn close_tunnel(&mut self, now: Instant, tunnel: TunnelId, result: u16) -> Result<(), Error> {
        if !self.tunnels.contains_key(&tunnel.0) {
            return Err(Error::UnknownTunnel(tunnel.0));
        }
        self.with_tunnel(tunnel.0, |t, ctx| {
            t.close(now, result, None, CloseReason::Local, ctx);
        });
        Ok(())
    }

    // ---- data path -----------------------------------------------------------------------

    /// Wraps a PPP frame for a session into a data message appended to `buf`
    /// (RFC 2661 §3.1: T bit clear; Ns/Nr when sequencing, Length and Offset as configured).
    /// The frame is copied once, straight into the caller's buffer.
    #[must_use = "the datagram must be sent"]
    pub fn encapsulate(
        &mut self,
        h: SessionHandle,
        ppp: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<Transmit<P>, Error> {
        self.encapsulate_with(h, buf, |b| b.extend_from_slice(ppp))
    }

    /// Like [`encapsulate`](Self::encapsulate) without any copy: writes the data header into
    /// `buf`, then lets `write_ppp` append the PPP frame right after it (e.g. a PPP encoder
    /// writing into the same buffer), then fixes the Length field.
    #[must_use = "the datagram must be sent"]
    pub fn encapsulate_with(
        &mut self,
        h: SessionHandle,
        buf: &mut Vec<u8>,
        write_ppp: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Transmit<P>, Error> {
        let t = self.tunnels.get_mut(&h.tunnel.0).ok_or(Error::UnknownTunnel(h.tunnel.0))?;
        if t.state != TunnelState::Established {
            return Err(Error::InvalidState);
        }
        let s = t.sessions.get_mut(&h.session).ok_or(Error::UnknownSession(h.session))?;
        if s.state != SessionState::Established {
            return Err(Error::InvalidState);
        }
        let pad = [0u8; 256];
        let mut header = Header::data(t.peer_id, s.peer_id);
        header.has_length = self.config.data_length_bit;
        if s.data_sequencing {
            header.sequence = Some(Sequence { ns: s.data_ns, nr: 0 });
            s.data_ns = s.data_ns.wrapping_add(1);
        }
        if let Some(off) = self.config.data_offset {
            header.offset_pad = Some(&pad[..usize::from(off).min(pad.len())]);
        }
        let start = buf.len();
        header.encode(0, buf);
        write_ppp(buf);
        let size = buf.len() - start;
        if header.has_length {
            // RFC 2661 §3.1: Length is the whole message, header included.
            let len = u16::try_from(size).unwrap_or(u16::MAX);
            buf[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(Transmit { destination: t.peer, size })
    }

    fn data_input<'d>(&mut self, peer: P, packet: Packet<'d>) -> Result<Input<'d>, Error> {
        let h = packet.header;
        let t = self.tunnels.get_mut(&h.tunnel_id).ok_or(Error::UnknownTunnel(h.tunnel_id))?;
        if t.peer != peer {
            return Err(Error::WrongPeer);
        }
        if t.state != TunnelState::Established {
            return Err(Error::InvalidState);
        }
        let s = t.sessions.get_mut(&h.session_id).ok_or(Error::UnknownSession(h.session_id))?;
        if !matches!(s.state, SessionState::Established | SessionState::WaitConnect) {
            return Err(Error::UnknownSession(h.session_id));
        }
        if let Some(seq) = h.sequence {
            // RFC 2661 §5.4: late data is dropped, never reordered.
            if s.rx_seq_seen && seq_lt(seq.ns, s.data_expected) {
                return Err(Error::StaleData);
            }
            s.rx_seq_seen = true;
            s.data_expected = seq.ns.wrapping_add(1);
            // RFC 2661 §5.4: once the peer numbers its data messages, so do we.
            s.data_sequencing = true;
        }
        Ok(Input::Data {
            session: SessionHandle { tunnel: TunnelId(h.tunnel_id), session: h.session_id },
            ppp: packet.payload,
        })
    }

    // ---- sans-IO surface -----------------------------------------------------------------

    /// Feeds one received datagram (the UDP payload) from `peer`.
    ///
    /// Returns the PPP frame of a data message without copying it. An `Err` means the
    /// datagram was dropped and no state changed.
    #[must_use = "the result says what the datagram was"]
    pub fn handle_input<'d>(&mut self, now: Instant, peer: P, data: &'d [u8]) -> Result<Input<'d>, Error> {
        let packet = Packet::parse(data)?;
        if !packet.header.is_control {
            return self.data_input(peer, packet);
        }
        let msg = ControlMessage::from_packet(packet)?;
        msg.validate()?;
        let raw = &data[..msg.header.len() + msg.avp_bytes.len()];
        let tunnel_id = msg.header.tunnel_id;
        let id = if tunnel_id == 0 {
            match self.sccrq_tunnel(peer, &msg)? {
                Some(id) => id,
                None => return Ok(Input::Control),
            }
        } else {
            let t = self.tunnels.get(&tunnel_id).ok_or(Error::UnknownTunnel(tunnel_id))?;
            if t.peer != peer {
                return Err(Error::WrongPeer);
            }
            tunnel_id
        };
        self.with_tunnel(id, |t, ctx| t.on_control(now, &msg, raw, ctx));
        Ok(Input::Control)
    }

    /// An SCCRQ (the only message sent to Tunnel ID 0): finds or creates its tunnel.
    fn sccrq_tunnel(&mut self, peer: P, msg: &ControlMessage<'_>) -> Result<Option<u16>, Error> {
        if msg.message_type() != Some(MessageType::Sccrq) {
            return Err(Error::UnknownTunnel(0));
        }
        let a = Attrs::collect(msg, self.config.secret.as_ref())?;
        let assigned = a
            .assigned_tunnel_id
            .filter(|&t| t != 0)
            .ok_or(Error::Protocol("SCCRQ without Assigned Tunnel ID"))?;
        if let Some(&id) = self.by_peer.get(&(peer, assigned)) {
            return Ok(Some(id));
        }
        if !self.config.accept_tunnels {
            return Err(Error::Config("not accepting tunnels"));
        }
        // RFC 2661 §4.4.3: both sides opened a tunnel at once; the lower Tie Breaker wins,
        // equal values lose on both sides.
        if let Some(theirs) = a.tie_breaker {
            let rival = self
                .tunnels
                .values()
                .filter(|t| t.peer == peer && t.state == TunnelState::WaitCtlReply)
                .find_map(|t| t.tie_breaker.map(|ours| (t.local_id, ours)));
            if let Some((rival_id, ours)) = rival {
                if ours <= theirs {
                    if ours == theirs {
                        self.with_tunnel(rival_id, |t, ctx| t.discard(CloseReason::TieBreakerLost, ctx));
                    }
                    return Ok(None);
                }
                self.with_tunnel(rival_id, |t, ctx| t.discard(CloseReason::TieBreakerLost, ctx));
            }
        }
        if self.tunnels.len() >= self.config.max_tunnels.min(MAX_IDS) {
            self.refuse_sccrq(peer, assigned, msg.sequence().ns);
            return Err(Error::ResourceLimit("tunnels"));
        }
        let id = self.new_tunnel_id();
        self.tunnels.insert(id, Tunnel::new(id, peer, &self.config, TunnelState::WaitCtlConn));
        self.by_peer.insert((peer, assigned), id);
        Ok(Some(id))
    }

    /// One StopCCN (not retransmitted) to a peer we cannot take (RFC 2661 §4.4.2 result 2,
    /// error 4: insufficient resources).
    fn refuse_sccrq(&mut self, peer: P, peer_tunnel: u16, ns: u16) {
        use crate::wire::{AvpValue, ControlBuilder, ResultCode};
        let mut buf = Vec::with_capacity(40);
        let mut b = ControlBuilder::new(&mut buf, peer_tunnel, 0, Sequence { ns: 0, nr: ns.wrapping_add(1) });
        b.mandatory(AvpValue::MessageType(MessageType::StopCcn))
            .mandatory(AvpValue::AssignedTunnelId(0))
            .mandatory(AvpValue::ResultCode(ResultCode {
                result: crate::event::stopccn_result::GENERAL_ERROR,
                error: Some(crate::event::error_code::INSUFFICIENT_RESOURCES),
                message: None,
            }));
        b.finish();
        self.stray.push_back((peer, buf));
    }

    /// Runs every timer that is due (retransmission, delayed ack, HELLO, close hold).
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u16> = self
            .tunnels
            .iter()
            .filter(|(_, t)| t.poll_timeout().is_some_and(|at| at <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            self.with_tunnel(id, |t, ctx| t.handle_timeout(now, ctx));
        }
    }

    /// The next datagram to send, appended to `buf`; `None` when there is nothing to send.
    #[must_use]
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit<P>> {
        if let Some((peer, d)) = self.stray.pop_front() {
            buf.extend_from_slice(&d);
            return Some(Transmit { destination: peer, size: d.len() });
        }
        while let Some(&id) = self.ready.front() {
            let Some(t) = self.tunnels.get_mut(&id) else {
                self.ready.pop_front();
                continue;
            };
            match t.outbox.pop_front() {
                Some(d) => {
                    buf.extend_from_slice(&d);
                    if t.outbox.is_empty() {
                        t.in_ready = false;
                        self.ready.pop_front();
                    }
                    return Some(Transmit { destination: t.peer, size: d.len() });
                }
                None => {
                    t.in_ready = false;
                    self.ready.pop_front();
                }
            }
        }
        None
    }

    /// The next event, or `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tunnels.values().filter_map(Tunnel::poll_timeout).min()
    }

    /// Closes every tunnel (StopCCN "requester is being shut down").
    pub fn shutdown(&mut self, now: Instant) {
        let mut ids: Vec<u16> = self.tunnels.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let _ = self.close_tunnel(now, TunnelId(id), crate::event::stopccn_result::SHUTTING_DOWN);
        }
    }
}

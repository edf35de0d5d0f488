//! One control connection (RFC 2661 §7.2) with its sessions (§7.4, §7.5).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use rand_core::CryptoRng;

use crate::attrs::{Attrs, ResultInfo};
use crate::config::Config;
use crate::event::{CloseReason, Event, SessionHandle, TunnelId, cdn_result, error_code, stopccn_result};
use crate::reliable::{Arrival, Reliable};
use crate::wire::{Avp, AvpValue, ControlMessage, Header, MessageType, ResultCode, Sequence, encode_zlb};

/// Framing Type we announce in ICCN: synchronous | asynchronous (RFC 2661 §4.4.4).
const FRAMING_TYPE: u32 = 0x3;
/// Bearer Type in ICRQ: none claimed.
const BEARER_TYPE: u32 = 0;
/// Connect speed we report in ICCN (bits/s); purely informative.
const CONNECT_SPEED: u32 = 100_000_000;

/// The state of a control connection (RFC 2661 §7.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelState {
    /// SCCRQ sent, waiting for SCCRP.
    WaitCtlReply,
    /// SCCRP sent, waiting for SCCCN.
    WaitCtlConn,
    /// Established.
    Established,
    /// StopCCN sent or received; state kept to acknowledge retransmissions.
    Closing,
}

/// The state of a session (RFC 2661 §7.4.1, §7.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// LAC: call requested before the tunnel was up; ICRQ goes out when it is.
    WaitTunnel,
    /// LAC: ICRQ sent, waiting for ICRP.
    WaitReply,
    /// LNS: ICRQ received, waiting for the owner to accept or refuse the call.
    WaitAnswer,
    /// LNS: ICRP sent, waiting for ICCN.
    WaitConnect,
    /// Established: data may flow.
    Established,
}

/// Tunnel timers, indexing `Tunnel::timers` (the retransmission deadline lives in the
/// reliable layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Send the owed acknowledgement as a ZLB if nothing carried it (RFC 2661 §5.8).
    Ack,
    /// Send HELLO after a quiet period (RFC 2661 §6.5).
    Hello,
    /// Forget a closed tunnel (RFC 2661 §5.7).
    Close,
}

impl Timer {
    const ALL: [Timer; 3] = [Timer::Ack, Timer::Hello, Timer::Close];
}

/// Session IDs handed out per tunnel at most (of 65535), so a random free one is found fast.
pub(crate) const MAX_IDS: usize = 60_000;

/// One session of a tunnel.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) peer_id: u16,
    pub(crate) state: SessionState,
    /// We send Ns/Nr on data messages.
    pub(crate) data_sequencing: bool,
    pub(crate) data_ns: u16,
    /// Next data Ns we expect (only meaningful once `rx_seq_seen`).
    pub(crate) data_expected: u16,
    pub(crate) rx_seq_seen: bool,
    call_serial_number: u32,
}

/// Everything a tunnel needs from its endpoint while it runs.
pub(crate) struct Ctx<'c, R> {
    pub config: &'c Config,
    pub rng: &'c mut R,
    pub events: &'c mut VecDeque<Event>,
    pub call_serial: &'c mut u32,
}

/// A control connection.
#[derive(Debug)]
pub(crate) struct Tunnel<P> {
    pub(crate) local_id: u16,
    pub(crate) peer_id: u16,
    pub(crate) peer: P,
    pub(crate) state: TunnelState,
    reliable: Reliable,
    our_challenge: Option<[u8; 16]>,
    pub(crate) tie_breaker: Option<u64>,
    pub(crate) peer_host_name: Vec<u8>,
    pub(crate) sessions: HashMap<u16, Session>,
    timers: [Option<Instant>; 3],
    /// Datagrams ready to go to the peer.
    pub(crate) outbox: VecDeque<Vec<u8>>,
    /// The endpoint removes the tunnel when this is set.
    pub(crate) dead: bool,
}

/// A message under construction: header, Message Type, then AVPs; hides AVPs on request.
struct Msg {
    buf: Vec<u8>,
    random_vector: Option<[u8; 16]>,
}

impl Msg {
    fn avp(&mut self, mandatory: bool, value: AvpValue<'_>) -> &mut Self {
        Avp::new(mandatory, value).encode(&mut self.buf);
        self
    }

    /// RFC 2661 §4.3: hides `value` when configured to, preceded once by a Random Vector.
    fn hidden<R: CryptoRng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        mandatory: bool,
        value: AvpValue<'_>,
    ) -> &mut Self {
        let secret = match (&ctx.config.secret, ctx.config.hide_avps) {
            (Some(s), true) => s,
            _ => return self.avp(mandatory, value),
        };
        let rv = match self.random_vector {
            Some(rv) => rv,
            None => {
                let mut rv = [0u8; 16];
                ctx.rng.fill_bytes(&mut rv);
                self.avp(true, AvpValue::RandomVector(&rv));
                self.random_vector = Some(rv);
                rv
            }
        };
        let mut clear = Vec::with_capacity(8);
        value.encode(&mut clear);
        // Random padding of 0..=15 bytes hides the true value length.
        let mut pad = [0u8; 16];
        ctx.rng.fill_bytes(&mut pad);
        let pad_len = usize::from(pad[0] & 0x0f);
        let attribute_type = value.attribute_type().unwrap_or(u16::MAX);
        secret.encode_hidden_avp(mandatory, attribute_type, &clear, &rv, &pad[..pad_len], &mut self.buf);
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = u16::try_from(self.buf.len()).unwrap_or(u16::MAX);
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }
}

fn result_avp(result: u16, error: Option<u16>) -> AvpValue<'static> {
    AvpValue::ResultCode(ResultCode { result, error, message: None })
}

fn peer_reason(r: Option<ResultInfo>) -> CloseReason {
    let r = r.unwrap_or_default();
    CloseReason::Peer { result: r.result, error: r.error, message: r.message }
}

impl<P: Copy + std::fmt::Debug> Tunnel<P> {
    pub(crate) fn new(local_id: u16, peer: P, config: &Config, state: TunnelState) -> Self {
        Self {
            local_id,
            peer_id: 0,
            peer,
            state,
            reliable: Reliable::new(
                config.receive_window,
                config.retransmit_initial,
                config.retransmit_max,
                config.max_retries,
                config.send_queue_limit,
            ),
            our_challenge: None,
            tie_breaker: None,
            peer_host_name: Vec::new(),
            sessions: HashMap::new(),
            timers: [None; 3],
            outbox: VecDeque::new(),
            dead: false,
        }
    }

    pub(crate) fn unacked(&self) -> usize {
        self.reliable.unacked()
    }

    fn handle(&self, session: u16) -> SessionHandle {
        SessionHandle { tunnel: TunnelId(self.local_id), session }
    }

    fn set_timer(&mut self, t: Timer, at: Option<Instant>) {
        self.timers[t as usize] = at;
    }

    fn timer(&self, t: Timer) -> Option<Instant> {
        self.timers[t as usize]
    }

    /// The earliest deadline of this tunnel.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let retransmit = self.reliable.retransmit_at;
        self.timers.iter().copied().chain([retransmit]).flatten().min()
    }

    /// The header session ID to use towards the peer, and a message skeleton.
    fn start(&self, session_peer_id: u16, t: MessageType) -> Msg {
        let tunnel = if t == MessageType::Sccrq { 0 } else { self.peer_id };
        let seq = Sequence { ns: self.reliable.next_ns(), nr: self.reliable.expected() };
        let mut buf = Vec::with_capacity(128);
        Header::control(tunnel, session_peer_id, seq).encode(0, &mut buf);
        let mut m = Msg { buf, random_vector: None };
        m.avp(true, AvpValue::MessageType(t));
        m
    }

    /// Queues a finished message on the reliable layer and sends what the window allows.
    fn send(&mut self, now: Instant, m: Msg, force: bool) -> bool {
        let ok = self.reliable.push(m.finish(), force);
        if self.reliable.transmit(now, &mut self.outbox) {
            self.set_timer(Timer::Ack, None);
        }
        ok
    }

    fn our_tunnel_avps<R: CryptoRng>(&mut self, m: &mut Msg, ctx: &mut Ctx<'_, R>) {
        let c = ctx.config;
        m.avp(true, AvpValue::ProtocolVersion { version: 1, revision: 0 })
            .avp(true, AvpValue::FramingCapabilities(c.framing_capabilities));
        if let Some(b) = c.bearer_capabilities {
            m.avp(true, AvpValue::BearerCapabilities(b));
        }
        if let Some(f) = c.firmware_revision {
            m.avp(false, AvpValue::FirmwareRevision(f));
        }
        m.avp(true, AvpValue::HostName(&c.host_name));
        if let Some(v) = &c.vendor_name {
            m.avp(false, AvpValue::VendorName(v));
        }
        m.avp(true, AvpValue::AssignedTunnelId(self.local_id))
            .avp(true, AvpValue::ReceiveWindowSize(c.receive_window));
        if c.secret.is_some() {
            let mut ch = [0u8; 16];
            ctx.rng.fill_bytes(&mut ch);
            m.avp(true, AvpValue::Challenge(&ch));
            self.our_challenge = Some(ch);
        }
    }

    // ---- commands ------------------------------------------------------------------------

    /// Initiator: sends SCCRQ (RFC 2661 §7.2.1, idle -> wait-ctl-reply).
    pub(crate) fn connect<R: CryptoRng>(&mut self, now: Instant, ctx: &mut Ctx<'_, R>) {
        let mut m = self.start(0, MessageType::Sccrq);
        self.our_tunnel_avps(&mut m, ctx);
        if ctx.config.tie_breaker {
            let tb = ctx.rng.next_u64();
            // Sent with the M bit clear: xl2tpd 1.3.18 has no handler for it and clears the
            // tunnel when it is marked mandatory.
            m.avp(false, AvpValue::TieBreaker(tb));
            self.tie_breaker = Some(tb);
        }
        self.send(now, m, true);
    }

    /// LAC: places an incoming call (ICRQ, RFC 2661 §7.4.1); deferred until the tunnel is up.
    pub(crate) fn open_session<R: CryptoRng>(&mut self, now: Instant, local_id: u16, ctx: &mut Ctx<'_, R>) {
        *ctx.call_serial = ctx.call_serial.wrapping_add(1);
        self.sessions.insert(
            local_id,
            Session {
                peer_id: 0,
                state: SessionState::WaitTunnel,
                data_sequencing: ctx.config.data_sequencing,
                data_ns: 0,
                data_expected: 0,
                rx_seq_seen: false,
                call_serial_number: *ctx.call_serial,
            },
        );
        if self.state == TunnelState::Established {
            self.send_icrq(now, local_id, ctx);
        }
    }

    fn send_icrq<R: CryptoRng>(&mut self, now: Instant, local_id: u16, ctx: &mut Ctx<'_, R>) {
        let serial = match self.sessions.get_mut(&local_id) {
            Some(s) => {
                s.state = SessionState::WaitReply;
                s.call_serial_number
            }
            None => return,
        };
        let mut m = self.start(0, MessageType::Icrq);
        m.hidden(ctx, true, AvpValue::AssignedSessionId(local_id))
            .hidden(ctx, true, AvpValue::CallSerialNumber(serial))
            .avp(true, AvpValue::BearerType(BEARER_TYPE));
        self.send(now, m, true);
    }

    /// LNS: answers a waiting ICRQ with ICRP (RFC 2661 §7.4.2, wait-answer -> wait-connect).
    pub(crate) fn accept_call<R: CryptoRng>(
        &mut self,
        now: Instant,
        local_id: u16,
        ctx: &mut Ctx<'_, R>,
    ) -> bool {
        let Some(s) = self.sessions.get_mut(&local_id) else { return false };
        if s.state != SessionState::WaitAnswer {
            return false;
        }
        s.state = SessionState::WaitConnect;
        let peer_sid = s.peer_id;
        let mut m = self.start(peer_sid, MessageType::Icrp);
        m.hidden(ctx, true, AvpValue::AssignedSessionId(local_id));
        self.send(now, m, true);
        true
    }

    /// Sends CDN for a session and forgets it (RFC 2661 §7.4: any state -> idle).
    pub(crate) fn close_session<R: CryptoRng>(
        &mut self,
        now: Instant,
        local_id: u16,
        result: u16,
        error: Option<u16>,
        reason: CloseReason,
        ctx: &mut Ctx<'_, R>,
    ) {
        let Some(s) = self.sessions.remove(&local_id) else { return };
        if s.state != SessionState::WaitTunnel {
            self.send_cdn(now, s.peer_id, local_id, result, error, ctx);
        }
        ctx.events.push_back(Event::SessionDown { session: self.handle(local_id), reason });
    }

    fn send_cdn<R: CryptoRng>(
        &mut self,
        now: Instant,
        peer_session: u16,
        local_id: u16,
        result: u16,
        error: Option<u16>,
        ctx: &mut Ctx<'_, R>,
    ) {
        let mut m = self.start(peer_session, MessageType::Cdn);
        m.avp(true, result_avp(result, error)).hidden(ctx, true, AvpValue::AssignedSessionId(local_id));
        self.send(now, m, true);
    }

    /// Sends WEN (RFC 2661 §6.14) or SLI (§6.15) on an established session.
    pub(crate) fn session_notice(
        &mut self,
        now: Instant,
        local_id: u16,
        t: MessageType,
        value: AvpValue<'_>,
    ) -> bool {
        let Some(s) = self.sessions.get(&local_id) else { return false };
        if s.state != SessionState::Established || self.state != TunnelState::Established {
            return false;
        }
        let mut m = self.start(s.peer_id, t);
        m.avp(true, value);
        self.send(now, m, false)
    }

    /// Sends StopCCN (RFC 2661 §6.4) and moves to closing; every session ends.
    pub(crate) fn close<R: CryptoRng>(
        &mut self,
        now: Instant,
        result: u16,
        error: Option<u16>,
        reason: CloseReason,
        ctx: &mut Ctx<'_, R>,
    ) {
        if self.state == TunnelState::Closing {
            return;
        }
        if self.peer_id == 0 {
            // RFC 2661 §6.4: StopCCN goes to the peer's Tunnel ID; without one there is
            // nobody to tell, and the tunnel just goes.
            self.discard(reason, ctx);
            return;
        }
        let mut m = self.start(0, MessageType::StopCcn);
        m.avp(true, AvpValue::AssignedTunnelId(self.local_id)).avp(true, result_avp(result, error));
        self.send(now, m, true);
        self.enter_closing(now, reason, ctx);
    }

    fn enter_closing<R: CryptoRng>(&mut self, now: Instant, reason: CloseReason, ctx: &mut Ctx<'_, R>) {
        self.state = TunnelState::Closing;
        self.drop_sessions(ctx);
        ctx.events.push_back(Event::TunnelDown { tunnel: TunnelId(self.local_id), reason });
        self.set_timer(Timer::Hello, None);
        self.set_timer(Timer::Close, Some(now + ctx.config.close_hold));
    }

    fn drop_sessions<R: CryptoRng>(&mut self, ctx: &mut Ctx<'_, R>) {
        let mut ids: Vec<u16> = self.sessions.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            ctx.events.push_back(Event::SessionDown {
                session: self.handle(id),
                reason: CloseReason::TunnelClosed,
            });
        }
        self.sessions.clear();
    }

    /// The tunnel vanishes without a word (tie-breaker lost).
    pub(crate) fn discard<R: CryptoRng>(&mut self, reason: CloseReason, ctx: &mut Ctx<'_, R>) {
        self.drop_sessions(ctx);
        ctx.events.push_back(Event::TunnelDown { tunnel: TunnelId(self.local_id), reason });
        self.reliable.clear();
        self.outbox.clear();
        self.dead = true;
    }

    // ---- timers --------------------------------------------------------------------------

    pub(crate) fn handle_timeout<R: CryptoRng>(&mut self, now: Instant, ctx: &mut Ctx<'_, R>) {
        for t in Timer::ALL {
            if self.timer(t).is_none_or(|at| at > now) {
                continue;
            }
            self.set_timer(t, None);
            match t {
                Timer::Ack => self.flush_ack(),
                Timer::Hello => {
                    // RFC 2661 §6.5: HELLO keepalive after a quiet period; not while
                    // messages are outstanding, whose retransmissions already probe the peer.
                    if self.state == TunnelState::Established && self.reliable.unacked() == 0 {
                        let m = self.start(0, MessageType::Hello);
                        self.send(now, m, false);
                    }
                    if self.state == TunnelState::Established {
                        self.set_timer(Timer::Hello, ctx.config.hello_interval.map(|i| now + i));
                    }
                }
                Timer::Close => {
                    self.dead = true;
                }
            }
        }
        if self.reliable.on_retransmit_timeout(now, &mut self.outbox).is_err() {
            self.give_up(ctx);
        }
        if !self.reliable.ack_owed {
            // A retransmission carried the current Nr.
            self.set_timer(Timer::Ack, None);
        }
    }

    /// RFC 2661 §5.8: the retry limit was reached. One last StopCCN goes out (not
    /// retransmitted) and the tunnel is gone.
    fn give_up<R: CryptoRng>(&mut self, ctx: &mut Ctx<'_, R>) {
        if self.state != TunnelState::Closing {
            self.drop_sessions(ctx);
            ctx.events.push_back(Event::TunnelDown {
                tunnel: TunnelId(self.local_id),
                reason: CloseReason::RetriesExhausted,
            });
            if self.peer_id != 0 {
                let mut m = self.start(0, MessageType::StopCcn);
                m.avp(true, AvpValue::AssignedTunnelId(self.local_id))
                    .avp(true, result_avp(stopccn_result::GENERAL_REQUEST, None));
                self.outbox.push_back(m.finish());
            }
        }
        self.reliable.clear();
        self.dead = true;
    }

    fn flush_ack(&mut self) {
        if self.peer_id == 0 {
            // Nobody to address a ZLB to (Tunnel ID 0 would open a new tunnel at the peer).
            self.reliable.ack_owed = false;
            return;
        }
        if self.reliable.ack_owed {
            let seq = Sequence { ns: self.reliable.next_ns(), nr: self.reliable.expected() };
            let mut buf = Vec::with_capacity(12);
            encode_zlb(self.peer_id, seq, &mut buf);
            self.outbox.push_back(buf);
            self.reliable.ack_owed = false;
        }
    }

    // ---- input ---------------------------------------------------------------------------

    /// A control message for this tunnel (already structurally validated).
    pub(crate) fn on_control<R: CryptoRng>(
        &mut self,
        now: Instant,
        msg: &ControlMessage<'_>,
        raw: &[u8],
        ctx: &mut Ctx<'_, R>,
    ) {
        let seq = msg.sequence();
        self.reliable.on_nr(now, seq.nr);
        if self.state == TunnelState::Established {
            self.set_timer(Timer::Hello, ctx.config.hello_interval.map(|i| now + i));
        }
        if msg.is_zlb() {
            self.after_input(now, ctx);
            return;
        }
        match self.reliable.on_ns(seq.ns, raw) {
            Arrival::Deliver => {
                self.process(now, msg, ctx);
                while !self.dead {
                    let Some(bytes) = self.reliable.pop_in_order() else { break };
                    if let Ok(m) = ControlMessage::parse(&bytes) {
                        self.reliable.on_nr(now, m.sequence().nr);
                        self.process(now, &m, ctx);
                    }
                }
            }
            Arrival::Duplicate => {
                // Acknowledge again at once: our earlier ack was probably lost.
                self.set_timer(Timer::Ack, Some(now));
            }
            Arrival::Queued | Arrival::Dropped => {}
        }
        self.after_input(now, ctx);
    }

    fn after_input<R: CryptoRng>(&mut self, now: Instant, ctx: &mut Ctx<'_, R>) {
        if self.reliable.transmit(now, &mut self.outbox) {
            self.set_timer(Timer::Ack, None);
        }
        if self.reliable.ack_owed && self.timer(Timer::Ack).is_none() {
            self.set_timer(Timer::Ack, Some(now + ctx.config.ack_delay));
        }
        if !self.reliable.ack_owed {
            self.set_timer(Timer::Ack, None);
        }
        if self.timer(Timer::Ack).is_some_and(|t| t <= now) {
            // Duplicates and StopCCN are acknowledged at once.
            self.set_timer(Timer::Ack, None);
            self.flush_ack();
        }
        if self.state == TunnelState::Closing
            && self.reliable.unacked() == 0
            && self.timer(Timer::Ack).is_some_and(|t| t > now)
        {
            // Nothing left to retransmit: acknowledge the StopCCN right away.
            self.flush_ack();
        }
    }

    /// RFC 2661 §7.2 / §7.4: one in-order control message.
    fn process<R: CryptoRng>(&mut self, now: Instant, msg: &ControlMessage<'_>, ctx: &mut Ctx<'_, R>) {
        let Ok(a) = Attrs::collect(msg, ctx.config.secret.as_ref()) else { return };
        if self.state == TunnelState::Closing {
            // Only StopCCN matters now; the rest is acknowledged and ignored.
            return;
        }
        let Some(t) = a.message_type else {
            // RFC 2661 §4.4.1: the Message Type must come first.
            self.close(
                now,
                stopccn_result::GENERAL_ERROR,
                Some(error_code::BAD_VALUE),
                CloseReason::Protocol { result: 2, error: 3 },
                ctx,
            );
            return;
        };
        if let MessageType::Unknown(_) = t {
            // RFC 2661 §4.4.1: unknown type with M bit clears the tunnel; else ignored.
            if a.message_type_mandatory {
                self.close(
                    now,
                    stopccn_result::GENERAL_ERROR,
                    Some(error_code::UNKNOWN_MANDATORY_AVP),
                    CloseReason::Protocol { result: 2, error: 8 },
                    ctx,
                );
            }
            return;
        }
        if t.is_session_message() {
            self.process_session(now, t, msg.header.session_id, a, ctx);
        } else {
            self.process_tunnel(now, t, a, ctx);
        }
    }

    fn process_tunnel<R: CryptoRng>(&mut self, now: Instant, t: MessageType, a: Attrs, ctx: &mut Ctx<'_, R>) {
        if self.peer_id == 0 && matches!(t, MessageType::Sccrq | MessageType::Sccrp | MessageType::StopCcn) {
            // The peer's Tunnel ID arrives in these; learn it first so that even a refusal
            // (StopCCN) can be addressed to it.
            self.peer_id = a.assigned_tunnel_id.unwrap_or(0);
        }
        if t == MessageType::StopCcn {
            // RFC 2661 §5.7: acknowledge, then keep state for a while.
            self.reliable.clear_queue_for_close();
            self.enter_closing(now, peer_reason(a.result), ctx);
            self.set_timer(Timer::Ack, Some(now));
            return;
        }
        if let Some((_, _)) = a.unknown_mandatory {
            // RFC 2661 §4.1: an unknown mandatory AVP ends the tunnel.
            self.close(
                now,
                stopccn_result::GENERAL_ERROR,
                Some(error_code::UNKNOWN_MANDATORY_AVP),
                CloseReason::Protocol { result: 2, error: 8 },
                ctx,
            );
            return;
        }
        if a.invalid_mandatory.is_some() {
            self.close(
                now,
                stopccn_result::GENERAL_ERROR,
                Some(error_code::BAD_LENGTH),
                CloseReason::Protocol { result: 2, error: 2 },
                ctx,
            );
            return;
        }
        match (t, self.state) {
            (MessageType::Hello, TunnelState::Established) => {}
            // Nothing sent yet: this tunnel was made for this SCCRQ.
            (MessageType::Sccrq, TunnelState::WaitCtlConn) if self.reliable.next_ns() == 0 => {
                self.on_sccrq(now, a, ctx);
            }
            (MessageType::Sccrp, TunnelState::WaitCtlReply) => self.on_sccrp(now, a, ctx),
            (MessageType::Scccn, TunnelState::WaitCtlConn) => self.on_scccn(now, a, ctx),
            _ => {
                // RFC 2661 §7.2.1: a message that does not fit the state.
                self.close(
                    now,
                    stopccn_result::FSM_ERROR,
                    None,
                    CloseReason::Protocol { result: 7, error: 0 },
                    ctx,
                );
            }
        }
    }

    fn check_version_and_id<R: CryptoRng>(&mut self, now: Instant, a: &Attrs, ctx: &mut Ctx<'_, R>) -> bool {
        let Some(peer_id) = a.assigned_tunnel_id.filter(|&id| id != 0) else {
            self.discard(CloseReason::Protocol { result: 2, error: 3 }, ctx);
            return false;
        };
        self.peer_id = peer_id;
        if let Some(w) = a.receive_window {
            self.reliable.set_peer_window(w);
        }
        self.peer_host_name = a.host_name.clone().unwrap_or_default();
        if a.protocol_version != Some((1, 0)) {
            self.close(
                now,
                stopccn_result::BAD_PROTOCOL_VERSION,
                None,
                CloseReason::Protocol { result: 5, error: 0 },
                ctx,
            );
            return false;
        }
        if a.host_name.is_none() {
            self.close(
                now,
                stopccn_result::GENERAL_ERROR,
                Some(error_code::BAD_VALUE),
                CloseReason::Protocol { result: 2, error: 3 },
                ctx,
            );
            return false;
        }
        true
    }

    fn auth_failed<R: CryptoRng>(&mut self, now: Instant, ctx: &mut Ctx<'_, R>) {
        self.close(now, stopccn_result::NOT_AUTHORIZED, None, CloseReason::AuthenticationFailed, ctx);
    }

    /// Responder: SCCRQ -> SCCRP (RFC 2661 §7.2.1).
    fn on_sccrq<R: CryptoRng>(&mut self, now: Instant, a: Attrs, ctx: &mut Ctx<'_, R>) {
        if !self.check_version_and_id(now, &a, ctx) {
            return;
        }
        if a.challenge.is_some() && ctx.config.secret.is_none() {
            self.auth_failed(now, ctx);
            return;
        }
        let mut m = self.start(0, MessageType::Sccrp);
        self.our_tunnel_avps(&mut m, ctx);
        if let (Some(ch), Some(secret)) = (&a.challenge, &ctx.config.secret) {
            let resp = secret.challenge_response(2, ch);
            m.avp(true, AvpValue::ChallengeResponse(&resp));
        }
        self.send(now, m, true);
    }

    /// Initiator: SCCRP -> SCCCN (RFC 2661 §7.2.1, §5.1.1).
    fn on_sccrp<R: CryptoRng>(&mut self, now: Instant, a: Attrs, ctx: &mut Ctx<'_, R>) {
        if !self.check_version_and_id(now, &a, ctx) {
            return;
        }
        if let (Some(secret), Some(ch)) = (&ctx.config.secret, &self.our_challenge) {
            let ok = a.challenge_response.as_deref().is_some_and(|r| secret.verify_response(2, ch, r));
            if !ok {
                self.auth_failed(now, ctx);
                return;
            }
        }
        let response = match (&a.challenge, &ctx.config.secret) {
            (Some(ch), Some(secret)) => Some(secret.challenge_response(3, ch)),
            (Some(_), None) => {
                self.auth_failed(now, ctx);
                return;
            }
            _ => None,
        };
        let mut m = self.start(0, MessageType::Scccn);
        if let Some(r) = &response {
            m.avp(true, AvpValue::ChallengeResponse(r));
        }
        self.send(now, m, true);
        self.established(now, ctx);
    }

    /// Responder: SCCCN -> established (RFC 2661 §7.2.1).
    fn on_scccn<R: CryptoRng>(&mut self, now: Instant, a: Attrs, ctx: &mut Ctx<'_, R>) {
        if let (Some(secret), Some(ch)) = (&ctx.config.secret, &self.our_challenge) {
            let ok = a.challenge_response.as_deref().is_some_and(|r| secret.verify_response(3, ch, r));
            if !ok {
                self.auth_failed(now, ctx);
                return;
            }
        }
        self.established(now, ctx);
    }

    fn established<R: CryptoRng>(&mut self, now: Instant, ctx: &mut Ctx<'_, R>) {
        self.state = TunnelState::Established;
        self.set_timer(Timer::Hello, ctx.config.hello_interval.map(|i| now + i));
        ctx.events.push_back(Event::TunnelUp {
            tunnel: TunnelId(self.local_id),
            peer_host_name: self.peer_host_name.clone(),
        });
        let mut waiting: Vec<u16> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.state == SessionState::WaitTunnel)
            .map(|(&id, _)| id)
            .collect();
        waiting.sort_unstable();
        for id in waiting {
            self.send_icrq(now, id, ctx);
        }
    }

    /// Picks a random Session ID not in use in this tunnel (RFC 2661 §4.4.4: never 0).
    pub(crate) fn new_session_id<R: CryptoRng>(&self, rng: &mut R) -> u16 {
        loop {
            let id = (rng.next_u32() & 0xffff) as u16;
            if id != 0 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    fn process_session<R: CryptoRng>(
        &mut self,
        now: Instant,
        t: MessageType,
        header_session: u16,
        a: Attrs,
        ctx: &mut Ctx<'_, R>,
    ) {
        if self.state != TunnelState::Established {
            // RFC 2661 §7.2.1: call messages before the tunnel is up are an FSM error.
            self.close(
                now,
                stopccn_result::FSM_ERROR,
                None,
                CloseReason::Protocol { result: 7, error: 0 },
                ctx,
            );
            return;
        }
        let fault = if a.unknown_mandatory.is_some() {
            Some(error_code::UNKNOWN_MANDATORY_AVP)
        } else if a.invalid_mandatory.is_some() {
            Some(error_code::BAD_LENGTH)
        } else {
            None
        };
        match t {
            MessageType::Icrq | MessageType::Ocrq => {
                let Some(peer_sid) = a.assigned_session_id.filter(|&s| s != 0) else { return };
                let refuse = if let Some(e) = fault {
                    Some((cdn_result::GENERAL_ERROR, Some(e)))
                } else if t == MessageType::Ocrq {
                    // We place no outgoing calls: a permanent lack of facilities.
                    Some((cdn_result::NO_FACILITIES_PERMANENT, None))
                } else if !ctx.config.accept_incoming_calls {
                    Some((cdn_result::NO_FACILITIES_PERMANENT, None))
                } else if self.sessions.len() >= ctx.config.max_sessions_per_tunnel.min(MAX_IDS) {
                    Some((cdn_result::NO_FACILITIES_TEMPORARY, None))
                } else {
                    None
                };
                let local = self.new_session_id(ctx.rng);
                if let Some((result, error)) = refuse {
                    self.send_cdn(now, peer_sid, local, result, error, ctx);
                    return;
                }
                let answer = ctx.config.answer_calls_automatically;
                self.sessions.insert(
                    local,
                    Session {
                        peer_id: peer_sid,
                        state: SessionState::WaitAnswer,
                        data_sequencing: ctx.config.data_sequencing,
                        data_ns: 0,
                        data_expected: 0,
                        rx_seq_seen: false,
                        call_serial_number: a.call_serial_number.unwrap_or(0),
                    },
                );
                ctx.events.push_back(Event::IncomingCall {
                    session: self.handle(local),
                    call_serial_number: a.call_serial_number,
                    answered: answer,
                });
                if answer {
                    self.accept_call(now, local, ctx);
                }
            }
            _ => {
                let mut header_session = header_session;
                if header_session == 0 && t == MessageType::Cdn {
                    // RFC 2661 §6.11: a peer that never learnt our Session ID (our ICRQ
                    // crossed its CDN) names its own in Assigned Session ID.
                    if let Some(peer_sid) = a.assigned_session_id.filter(|&x| x != 0) {
                        header_session = self
                            .sessions
                            .iter()
                            .find(|(_, s)| s.peer_id == peer_sid)
                            .map_or(0, |(&id, _)| id);
                    }
                }
                let Some(s) = self.sessions.get_mut(&header_session) else {
                    // Unknown or already closed session: acknowledged and ignored.
                    return;
                };
                if t == MessageType::Cdn {
                    self.sessions.remove(&header_session);
                    ctx.events.push_back(Event::SessionDown {
                        session: self.handle(header_session),
                        reason: peer_reason(a.result),
                    });
                    return;
                }
                if let Some(e) = fault {
                    self.close_session(
                        now,
                        header_session,
                        cdn_result::GENERAL_ERROR,
                        Some(e),
                        CloseReason::Protocol { result: 2, error: e },
                        ctx,
                    );
                    return;
                }
                match (t, s.state) {
                    (MessageType::Icrp, SessionState::WaitReply) => {
                        let Some(peer_sid) = a.assigned_session_id.filter(|&x| x != 0) else {
                            self.close_session(
                                now,
                                header_session,
                                cdn_result::GENERAL_ERROR,
                                Some(error_code::BAD_VALUE),
                                CloseReason::Protocol { result: 2, error: 3 },
                                ctx,
                            );
                            return;
                        };
                        s.peer_id = peer_sid;
                        s.state = SessionState::Established;
                        let sequencing = s.data_sequencing;
                        let mut m = self.start(peer_sid, MessageType::Iccn);
                        m.avp(true, AvpValue::TxConnectSpeed(CONNECT_SPEED))
                            .avp(true, AvpValue::FramingType(FRAMING_TYPE));
                        if sequencing {
                            m.avp(true, AvpValue::SequencingRequired);
                        }
                        self.send(now, m, true);
                        ctx.events
                            .push_back(Event::SessionUp { session: self.handle(header_session), sequencing });
                    }
                    (MessageType::Iccn, SessionState::WaitConnect) => {
                        s.state = SessionState::Established;
                        s.data_sequencing |= a.sequencing_required;
                        let sequencing = s.data_sequencing;
                        ctx.events
                            .push_back(Event::SessionUp { session: self.handle(header_session), sequencing });
                    }
                    (MessageType::Wen, _) => {
                        if let Some(errors) = a.call_errors {
                            ctx.events
                                .push_back(Event::WanError { session: self.handle(header_session), errors });
                        }
                    }
                    (MessageType::Sli, _) => {
                        if let Some(accm) = a.accm {
                            ctx.events
                                .push_back(Event::LinkInfo { session: self.handle(header_session), accm });
                        }
                    }
                    _ => {
                        // RFC 2661 §7.4: an unexpected call message clears the call.
                        self.close_session(
                            now,
                            header_session,
                            cdn_result::GENERAL_ERROR,
                            Some(error_code::INVALID_SESSION_ID),
                            CloseReason::Protocol { result: 2, error: 5 },
                            ctx,
                        );
                    }
                }
            }
        }
    }
}

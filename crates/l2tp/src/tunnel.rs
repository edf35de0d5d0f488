//! One control connection (RFC 2661 §7.2) with its sessions (§7.4, §7.5).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use rand_core::CryptoRng;

use crate::attrs::{Attrs, ResultInfo};
use crate::config::Config;
use crate::event::{CloseReason, Event, SessionHandle, TunnelId, error_code, stopccn_result};
use crate::reliable::{Arrival, Reliable};
use crate::session::{Session, SessionState};
use crate::wire::{Avp, AvpValue, ControlMessage, Header, MessageType, ResultCode, Sequence, encode_zlb};

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
    pub(crate) reliable: Reliable,
    our_challenge: Option<[u8; 16]>,
    pub(crate) tie_breaker: Option<u64>,
    pub(crate) peer_host_name: Vec<u8>,
    pub(crate) sessions: HashMap<u16, Session>,
    timers: [Option<Instant>; 3],
    /// Datagrams ready to go to the peer.
    pub(crate) outbox: VecDeque<Vec<u8>>,
    /// The endpoint removes the tunnel when this is set.
    pub(crate) dead: bool,
    /// Listed in the endpoint's queue of tunnels with datagrams to send.
    pub(crate) in_ready: bool,
}

/// A message under construction: header, Message Type, then AVPs; hides AVPs on request.
pub(crate) struct Msg {
    buf: Vec<u8>,
    random_vector: Option<[u8; 16]>,
}

impl Msg {
    pub(crate) fn avp(&mut self, mandatory: bool, value: AvpValue<'_>) -> &mut Self {
        Avp::new(mandatory, value).encode(&mut self.buf);
        self
    }

    /// RFC 2661 §4.3: hides `value` when configured to, preceded once by a Random Vector.
    pub(crate) fn hidden<R: CryptoRng>(
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

pub(crate) fn result_avp(result: u16, error: Option<u16>) -> AvpValue<'static> {
    AvpValue::ResultCode(ResultCode { result, error, message: None })
}

pub(crate) fn peer_reason(r: Option<ResultInfo>) -> CloseReason {
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
            in_ready: false,
        }
    }

    pub(crate) fn unacked(&self) -> usize {
        self.reliable.unacked()
    }

    pub(crate) fn handle(&self, session: u16) -> SessionHandle {
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
    pub(crate) fn start(&self, session_peer_id: u16, t: MessageType) -> Msg {
        let tunnel = if t == MessageType::Sccrq { 0 } else { self.peer_id };
        let seq = Sequence { ns: self.reliable.next_ns(), nr: self.reliable.expected() };
        let mut buf = Vec::with_capacity(128);
        Header::control(tunnel, session_peer_id, seq).encode(0, &mut buf);
        let mut m = Msg { buf, random_vector: None };
        m.avp(true, AvpValue::MessageType(t));
        m
    }

    /// Queues a finished message on the reliable layer and sends what the window allows.
    pub(crate) fn send(&mut self, now: Instant, m: Msg, force: bool) -> bool {
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
}

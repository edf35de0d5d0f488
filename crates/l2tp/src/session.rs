//! Sessions (calls) of a tunnel: incoming calls as LAC and LNS (RFC 2661 §7.4), outgoing
//! call requests answered (§7.5), CDN, WEN and SLI (§6.11, §6.14, §6.15).

use std::time::Instant;

use rand_core::CryptoRng;

use crate::attrs::Attrs;
use crate::event::{CloseReason, Event, cdn_result, error_code, stopccn_result};
use crate::tunnel::{Ctx, Tunnel, TunnelState, peer_reason, result_avp};
use crate::wire::{AvpValue, MessageType};

/// Framing Type we announce in ICCN: synchronous | asynchronous (RFC 2661 §4.4.4).
const FRAMING_TYPE: u32 = 0x3;
/// Bearer Type in ICRQ: none claimed.
const BEARER_TYPE: u32 = 0;
/// Connect speed we report in ICCN (bits/s); purely informative.
const CONNECT_SPEED: u32 = 100_000_000;

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

impl<P: Copy + std::fmt::Debug> Tunnel<P> {
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

    pub(crate) fn send_icrq<R: CryptoRng>(&mut self, now: Instant, local_id: u16, ctx: &mut Ctx<'_, R>) {
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

    pub(crate) fn send_cdn<R: CryptoRng>(
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

    /// Picks a random Session ID not in use in this tunnel (RFC 2661 §4.4.4: never 0).
    pub(crate) fn new_session_id<R: CryptoRng>(&self, rng: &mut R) -> u16 {
        loop {
            let id = (rng.next_u32() & 0xffff) as u16;
            if id != 0 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    pub(crate) fn process_session<R: CryptoRng>(
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

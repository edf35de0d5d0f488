//! A control protocol (LCP, IPCP or IPV6CP): the RFC 1661 automaton plus the packet
//! handling that turns Configure/Terminate/Code-Reject packets into automaton events and
//! its send actions into packets. What is specific to each protocol (which options to
//! request, how to judge the peer's) lives behind [`Negotiator`].

use std::collections::VecDeque;
use std::time::Instant;

use rand_core::Rng;

use crate::fsm::{Actions, Automaton, Event, State, Timing};
use crate::wire::{self, CpPacket, Packet, code};

/// A frame waiting in the session's transmit queue: protocol and packet bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub protocol: u16,
    pub packet: Vec<u8>,
}

/// The verdict on a peer's Configure-Request (RFC 1661 §5.1–5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judgement {
    /// Every option acceptable: send Configure-Ack.
    Ack,
    /// Some values unacceptable: send Configure-Nak with the reply options.
    Nak,
    /// Some options unrecognised or not negotiable: send Configure-Reject.
    Reject,
}

/// What a protocol contributes to negotiation.
pub(crate) trait Negotiator {
    /// Appends the options of our next Configure-Request.
    fn request_options(&mut self, out: &mut Vec<u8>);
    /// Judges a (well-formed) peer Configure-Request. For `Nak`/`Reject`, `reply` receives
    /// the options to send back. With `reject_only` (Max-Failure reached) the negotiator must
    /// not answer `Nak`.
    fn judge_request(
        &mut self,
        options: &[u8],
        reject_only: bool,
        reply: &mut Vec<u8>,
        rng: &mut dyn Rng,
    ) -> Judgement;
    /// The peer's Configure-Request was acked: adopt its values.
    fn peer_request_acked(&mut self, options: &[u8]);
    /// Our Configure-Request was acked.
    fn request_acked(&mut self);
    /// Our request was Nak'd with these options.
    fn request_naked(&mut self, options: &[u8], rng: &mut dyn Rng);
    /// Our request was Rejected with these options.
    fn request_rejected(&mut self, options: &[u8]);
    /// A new negotiation starts (This-Layer-Started or a fresh Open): forget agreed values.
    fn restart(&mut self, rng: &mut dyn Rng);
}

/// Keeps the first option of each type: a Configure-Nak suggests one value per option, and
/// a request repeating an option cannot make the Nak larger than itself.
pub(crate) fn first_of_each_kind(options: &[u8]) -> Vec<u8> {
    let mut seen = [false; 256];
    let mut out = Vec::with_capacity(options.len());
    for o in wire::options(options).flatten() {
        if !std::mem::replace(&mut seen[usize::from(o.kind)], true) {
            o.encode(&mut out);
        }
    }
    out
}

/// One control protocol instance.
#[derive(Debug)]
pub(crate) struct ControlProtocol<N> {
    pub protocol: u16,
    pub fsm: Automaton,
    pub neg: N,
    next_id: u8,
    req_id: u8,
    req: Vec<u8>,
    /// Whether a valid reply to the outstanding request arrived (its identifier is spent).
    req_answered: bool,
    /// Data to put in our Terminate-Request (a reason).
    pub terminate_reason: Vec<u8>,
    /// How many Configure-Requests were sent (for tests and statistics).
    pub requests_sent: u64,
    /// How many Terminate-Requests were sent.
    pub terminates_sent: u64,
    /// The options of a Configure-Nak/Reject being prepared.
    pending_reply: Vec<u8>,
    /// The identifier and options of the last Configure-Request we acked.
    last_acked: Option<(u8, Vec<u8>)>,
    /// Exact duplicates of an acked request answered again while Opened.
    pub duplicates_reacked: u64,
}

/// The input that produced an event, for the reply actions.
#[derive(Clone, Copy)]
enum Trigger<'a> {
    None,
    Request { id: u8, options: &'a [u8], judgement: Judgement },
    Terminate { id: u8 },
    Unknown(Packet<'a>),
}

impl<N: Negotiator> ControlProtocol<N> {
    pub fn new(protocol: u16, timing: Timing, neg: N, first_id: u8) -> Self {
        ControlProtocol {
            protocol,
            fsm: Automaton::new(timing),
            neg,
            next_id: first_id,
            req_id: 0,
            req_answered: true,
            req: Vec::new(),
            terminate_reason: Vec::new(),
            requests_sent: 0,
            terminates_sent: 0,
            pending_reply: Vec::new(),
            last_acked: None,
            duplicates_reacked: 0,
        }
    }

    pub fn state(&self) -> State {
        self.fsm.state()
    }

    fn take_id(&mut self) -> u8 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Feeds an administrative or timer event. Returns the layer actions (tlu/tld/tls/tlf).
    pub fn event(
        &mut self,
        now: Instant,
        ev: Event,
        out: &mut VecDeque<Outgoing>,
        rng: &mut dyn Rng,
    ) -> Actions {
        let prev = self.fsm.state();
        let acts = self.fsm.handle(now, ev);
        self.perform(prev, acts, Trigger::None, out, rng)
    }

    /// Fires the Restart timer if due.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        out: &mut VecDeque<Outgoing>,
        rng: &mut dyn Rng,
    ) -> Actions {
        let prev = self.fsm.state();
        match self.fsm.handle_timeout(now) {
            Some((_, acts)) => self.perform(prev, acts, Trigger::None, out, rng),
            None => Actions::NONE,
        }
    }

    /// Handles a packet of codes 1–7 (and, for NCPs, any unknown code). Returns the layer
    /// actions. Malformed option lists are dropped silently (RFC 1661 §5).
    pub fn input(
        &mut self,
        now: Instant,
        packet: Packet<'_>,
        lcp: bool,
        out: &mut VecDeque<Outgoing>,
        rng: &mut dyn Rng,
    ) -> Actions {
        let typed = CpPacket::from_packet(packet, lcp);
        let (ev, trigger) = match typed {
            CpPacket::Configure { code, identifier, options } => {
                if wire::validate_options(options).is_err() {
                    return Actions::NONE;
                }
                match code {
                    code::CONFIGURE_REQUEST => {
                        // A duplicate of the request we acked (same identifier, same
                        // options) while Opened is answered with the same Ack instead of
                        // restarting negotiation: on a duplicating link the §4.1 rule
                        // (tld,scr,sca) would tear the layer down for a stale copy, and a
                        // peer that retransmits with the same identifier (pppd does) after
                        // losing our Ack needs exactly that Ack. A peer that really
                        // restarts negotiation uses a new identifier (RFC 1661 §5.1).
                        if self.state() == State::Opened
                            && self
                                .last_acked
                                .as_ref()
                                .is_some_and(|(id, o)| *id == identifier && o.as_slice() == options)
                        {
                            self.duplicates_reacked += 1;
                            self.send(code::CONFIGURE_ACK, identifier, &[options], out);
                            return Actions::NONE;
                        }
                        if !matches!(self.state(), State::Initial | State::Starting) {
                            let mut reply = Vec::new();
                            let j = self.neg.judge_request(options, self.fsm.must_reject(), &mut reply, rng);
                            let ev = if j == Judgement::Ack { Event::RcrGood } else { Event::RcrBad };
                            self.pending_reply = reply;
                            (ev, Trigger::Request { id: identifier, options, judgement: j })
                        } else {
                            (Event::RcrGood, Trigger::None)
                        }
                    }
                    code::CONFIGURE_ACK => {
                        // RFC 1661 §5.2: the identifier and the options must match the
                        // outstanding request; §5.1: once answered, the identifier is spent,
                        // so a duplicate reply is stale.
                        if self.req_answered || identifier != self.req_id || options != self.req.as_slice() {
                            return Actions::NONE;
                        }
                        self.req_answered = true;
                        if matches!(self.state(), State::ReqSent | State::AckSent) {
                            self.neg.request_acked();
                        }
                        (Event::Rca, Trigger::None)
                    }
                    _ => {
                        if self.req_answered || identifier != self.req_id {
                            return Actions::NONE;
                        }
                        self.req_answered = true;
                        if matches!(
                            self.state(),
                            State::ReqSent | State::AckRcvd | State::AckSent | State::Opened
                        ) {
                            if code == code::CONFIGURE_NAK {
                                self.neg.request_naked(options, rng);
                            } else {
                                self.neg.request_rejected(options);
                            }
                        }
                        (Event::Rcn, Trigger::None)
                    }
                }
            }
            CpPacket::Terminate { code: code::TERMINATE_REQUEST, identifier, .. } => {
                (Event::Rtr, Trigger::Terminate { id: identifier })
            }
            CpPacket::Terminate { .. } => (Event::Rta, Trigger::None),
            CpPacket::CodeReject { rejected, .. } => {
                // RFC 1661 §5.6: rejecting a code this protocol cannot work without is
                // catastrophic (RXJ-); for LCP codes 1–7, for NCPs every code.
                let bad = rejected
                    .first()
                    .is_none_or(|&c| (code::CONFIGURE_REQUEST..=code::CODE_REJECT).contains(&c));
                (if bad { Event::RxjBad } else { Event::RxjGood }, Trigger::None)
            }
            _ => (Event::Ruc, Trigger::Unknown(packet)),
        };
        let prev = self.fsm.state();
        let acts = self.fsm.handle(now, ev);
        self.perform(prev, acts, trigger, out, rng)
    }

    fn send(&self, code: u8, id: u8, parts: &[&[u8]], out: &mut VecDeque<Outgoing>) {
        let mut packet = Vec::with_capacity(4 + parts.iter().map(|p| p.len()).sum::<usize>());
        wire::encode_packet(code, id, parts, &mut packet);
        out.push_back(Outgoing { protocol: self.protocol, packet });
    }

    fn perform(
        &mut self,
        prev: State,
        acts: Actions,
        trigger: Trigger<'_>,
        out: &mut VecDeque<Outgoing>,
        rng: &mut dyn Rng,
    ) -> Actions {
        if acts.contains(Actions::ILLEGAL) {
            return Actions::NONE;
        }
        // A negotiation starts afresh when a request goes out from a state where none was
        // in progress (RFC 1661 §4.2: Starting, Closed, Stopped; or Opened renegotiating).
        let fresh = matches!(prev, State::Starting | State::Closed | State::Stopped | State::Opened);
        if acts.contains(Actions::SCR) && fresh {
            self.neg.restart(rng);
            self.last_acked = None;
        }
        if acts.contains(Actions::SCR) {
            let old = std::mem::take(&mut self.req);
            self.neg.request_options(&mut self.req);
            // RFC 1661 §5.1: a retransmission of unchanged options to an unanswered request
            // may keep its identifier (pppd does); anything else takes a new one.
            if fresh || self.req_answered || old != self.req {
                self.req_id = self.take_id();
            }
            self.req_answered = false;
            self.requests_sent += 1;
            let req = std::mem::take(&mut self.req);
            self.send(code::CONFIGURE_REQUEST, self.req_id, &[&req], out);
            self.req = req;
        }
        if let Trigger::Request { id, options, judgement } = trigger {
            if acts.contains(Actions::SCA) {
                self.neg.peer_request_acked(options);
                self.last_acked = Some((id, options.to_vec()));
                self.send(code::CONFIGURE_ACK, id, &[options], out);
            } else if acts.contains(Actions::SCN) {
                let reply = std::mem::take(&mut self.pending_reply);
                let c = if judgement == Judgement::Nak {
                    self.fsm.nak_sent();
                    code::CONFIGURE_NAK
                } else {
                    code::CONFIGURE_REJECT
                };
                self.send(c, id, &[&reply], out);
            }
        }
        self.pending_reply.clear();
        if acts.contains(Actions::STR) {
            let id = self.take_id();
            self.terminates_sent += 1;
            let reason = std::mem::take(&mut self.terminate_reason);
            self.send(code::TERMINATE_REQUEST, id, &[&reason], out);
            self.terminate_reason = reason;
        }
        if acts.contains(Actions::STA) {
            let id = match trigger {
                Trigger::Terminate { id } => id,
                Trigger::Request { id, .. } => id,
                _ => self.take_id(),
            };
            self.send(code::TERMINATE_ACK, id, &[], out);
        }
        if acts.contains(Actions::SCJ)
            && let Trigger::Unknown(p) = trigger
        {
            let id = self.take_id();
            let mut rejected = Vec::with_capacity(p.encoded_len());
            wire::encode_packet(p.code, p.identifier, &[p.data], &mut rejected);
            rejected.truncate(1496);
            self.send(code::CODE_REJECT, id, &[&rejected], out);
        }
        acts
    }
}

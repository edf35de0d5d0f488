//! Hostile and odd peers against an l2sec LNS: unknown AVPs with and without the M bit,
//! wrong lengths, outgoing calls we never asked for, WEN/SLI, garbage and replays.

mod common;

use std::time::{Duration, Instant};

use common::pair::{LAC, LNS, LinkProfile, Pair};
use l2sec_l2tp::wire::{
    Accm, Avp, AvpValue, CallErrors, ControlBuilder, ControlMessage, MessageType, ResultCode, Sequence,
};
use l2sec_l2tp::{CloseReason, Config, Endpoint, Event, SessionHandle, TunnelState};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const PEER: u8 = 9;
const MY_TUNNEL: u16 = 0x4321;

/// A hand-driven LAC speaking raw wire messages to an l2sec LNS.
struct Scripted {
    lns: Endpoint<u8, ChaCha20Rng>,
    now: Instant,
    ns: u16,
    nr: u16,
    lns_tunnel: u16,
    replies: Vec<Vec<u8>>,
    events: Vec<Event>,
}

impl Scripted {
    fn new() -> Self {
        let mut c = Config::default();
        c.host_name = b"lns".to_vec();
        Self {
            lns: Endpoint::new(c, ChaCha20Rng::seed_from_u64(5)),
            now: Instant::now(),
            ns: 0,
            nr: 0,
            lns_tunnel: 0,
            replies: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Sends a control message with our next Ns; returns the non-ZLB replies it caused.
    fn send(&mut self, session: u16, t: MessageType, avps: &[Avp<'_>]) -> Vec<Vec<u8>> {
        let mut buf = Vec::new();
        let mut b =
            ControlBuilder::new(&mut buf, self.lns_tunnel, session, Sequence { ns: self.ns, nr: self.nr });
        b.mandatory(AvpValue::MessageType(t));
        for a in avps {
            b.avp(a);
        }
        b.finish();
        self.ns = self.ns.wrapping_add(1);
        self.raw(&buf)
    }

    fn raw(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let _ = self.lns.handle_input(self.now, PEER, bytes);
        self.now += Duration::from_millis(200);
        self.lns.handle_timeout(self.now);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while let Some(t) = self.lns.poll_transmit(self.now, &mut buf) {
            assert_eq!(t.destination, PEER);
            let m = ControlMessage::parse(&buf).unwrap();
            if !m.is_zlb() {
                self.nr = m.sequence().ns.wrapping_add(1);
                out.push(buf.clone());
            }
            buf.clear();
        }
        while let Some(e) = self.lns.poll_event() {
            self.events.push(e);
        }
        self.replies.extend(out.iter().cloned());
        out
    }

    fn establish(&mut self) {
        let r = self.send(
            0,
            MessageType::Sccrq,
            &[
                Avp::new(true, AvpValue::ProtocolVersion { version: 1, revision: 0 }),
                Avp::new(true, AvpValue::HostName(b"scripted")),
                Avp::new(true, AvpValue::FramingCapabilities(3)),
                Avp::new(true, AvpValue::AssignedTunnelId(MY_TUNNEL)),
            ],
        );
        let sccrp = ControlMessage::parse(&r[0]).unwrap();
        assert_eq!(sccrp.message_type(), Some(MessageType::Sccrp));
        assert_eq!(sccrp.header.tunnel_id, MY_TUNNEL);
        self.lns_tunnel = sccrp
            .avps()
            .find_map(|a| match a.unwrap().value {
                AvpValue::AssignedTunnelId(t) => Some(t),
                _ => None,
            })
            .unwrap();
        assert!(self.send(0, MessageType::Scccn, &[]).is_empty());
        assert!(matches!(self.events[0], Event::TunnelUp { .. }));
    }

    fn state(&self) -> Option<TunnelState> {
        self.lns.tunnel(l2sec_l2tp::TunnelId(self.lns_tunnel)).map(|t| t.state)
    }
}

fn result_of(msg: &[u8]) -> (MessageType, u16, Option<u16>) {
    let m = ControlMessage::parse(msg).unwrap();
    let rc = m
        .avps()
        .find_map(|a| match a.unwrap().value {
            AvpValue::ResultCode(r) => Some((r.result, r.error)),
            _ => None,
        })
        .expect("Result Code AVP");
    (m.message_type().unwrap(), rc.0, rc.1)
}

fn icrq_avps(peer_session: u16) -> Vec<Avp<'static>> {
    vec![
        Avp::new(true, AvpValue::AssignedSessionId(peer_session)),
        Avp::new(true, AvpValue::CallSerialNumber(7)),
    ]
}

fn unknown(mandatory: bool) -> Avp<'static> {
    Avp {
        mandatory,
        hidden: false,
        reserved: 0,
        vendor_id: 0,
        attribute_type: 100,
        value: AvpValue::Unknown(b"??"),
    }
}

#[test]
fn unknown_mandatory_avp_in_icrq_is_refused_with_cdn_2_8() {
    let mut p = Scripted::new();
    p.establish();
    let mut avps = icrq_avps(0x1111);
    avps.push(unknown(true));
    let r = p.send(0, MessageType::Icrq, &avps);
    assert_eq!(r.len(), 1);
    assert_eq!(result_of(&r[0]), (MessageType::Cdn, 2, Some(8)));
    assert_eq!(ControlMessage::parse(&r[0]).unwrap().header.session_id, 0x1111);
    assert!(!p.events.iter().any(|e| matches!(e, Event::IncomingCall { .. })));
    assert_eq!(p.state(), Some(TunnelState::Established), "only the call is refused");
}

#[test]
fn unknown_optional_and_vendor_avps_are_ignored() {
    let mut p = Scripted::new();
    p.establish();
    let mut avps = icrq_avps(0x2222);
    avps.push(unknown(false));
    avps.push(Avp {
        mandatory: false,
        hidden: false,
        reserved: 0,
        vendor_id: 9,
        attribute_type: 1,
        value: AvpValue::Vendor(b"cisco-ish"),
    });
    let r = p.send(0, MessageType::Icrq, &avps);
    let icrp = ControlMessage::parse(&r[0]).unwrap();
    assert_eq!(icrp.message_type(), Some(MessageType::Icrp));
    assert_eq!(icrp.header.session_id, 0x2222);
    assert!(p.events.iter().any(|e| matches!(e, Event::IncomingCall { call_serial_number: Some(7), .. })));
}

#[test]
fn unknown_mandatory_avp_in_a_tunnel_message_clears_the_tunnel_2_8() {
    let mut p = Scripted::new();
    p.establish();
    let r = p.send(0, MessageType::Hello, &[unknown(true)]);
    assert_eq!(result_of(&r[0]), (MessageType::StopCcn, 2, Some(8)));
    assert_eq!(p.state(), Some(TunnelState::Closing));
}

#[test]
fn unknown_message_type_is_ignored_without_m_bit_and_fatal_with_it() {
    let mut p = Scripted::new();
    p.establish();
    let mut buf = Vec::new();
    let mut b = ControlBuilder::new(&mut buf, p.lns_tunnel, 0, Sequence { ns: p.ns, nr: p.nr });
    b.optional(AvpValue::MessageType(MessageType::Unknown(99)));
    b.finish();
    p.ns += 1;
    assert!(p.raw(&buf).is_empty(), "ignored (acknowledged only)");
    assert_eq!(p.state(), Some(TunnelState::Established));
    let r = p.send(0, MessageType::Unknown(99), &[]);
    assert_eq!(result_of(&r[0]).0, MessageType::StopCcn);
}

#[test]
fn wrong_length_of_a_mandatory_avp_gives_cdn_2_2() {
    let mut p = Scripted::new();
    p.establish();
    let bad = Avp {
        mandatory: true,
        hidden: false,
        reserved: 0,
        vendor_id: 0,
        attribute_type: 15, // Call Serial Number must be 4 bytes
        value: AvpValue::Invalid(&[1, 2, 3]),
    };
    let r = p.send(0, MessageType::Icrq, &[Avp::new(true, AvpValue::AssignedSessionId(5)), bad]);
    assert_eq!(result_of(&r[0]), (MessageType::Cdn, 2, Some(2)));
}

#[test]
fn outgoing_call_request_is_answered_with_cdn_and_stray_replies_ignored() {
    let mut p = Scripted::new();
    p.establish();
    let r = p.send(
        0,
        MessageType::Ocrq,
        &[
            Avp::new(true, AvpValue::AssignedSessionId(0x3333)),
            Avp::new(true, AvpValue::CallSerialNumber(1)),
            Avp::new(true, AvpValue::MinimumBps(0)),
            Avp::new(true, AvpValue::MaximumBps(64000)),
            Avp::new(true, AvpValue::BearerType(3)),
            Avp::new(true, AvpValue::FramingType(3)),
            Avp::new(true, AvpValue::CalledNumber(b"5551234")),
        ],
    );
    assert_eq!(result_of(&r[0]), (MessageType::Cdn, 5, None));
    assert_eq!(ControlMessage::parse(&r[0]).unwrap().header.session_id, 0x3333);
    // OCRP / OCCN for sessions that do not exist are acknowledged and ignored.
    assert!(p.send(0x7777, MessageType::Ocrp, &[Avp::new(true, AvpValue::AssignedSessionId(1))]).is_empty());
    assert!(p.send(0x7777, MessageType::Occn, &[Avp::new(true, AvpValue::TxConnectSpeed(1))]).is_empty());
    assert_eq!(p.state(), Some(TunnelState::Established));
}

#[test]
fn wen_and_sli_are_reported_and_a_long_result_message_is_kept() {
    let mut p = Scripted::new();
    p.establish();
    let r = p.send(0, MessageType::Icrq, &icrq_avps(0x4444));
    let lns_session = ControlMessage::parse(&r[0])
        .unwrap()
        .avps()
        .find_map(|a| match a.unwrap().value {
            AvpValue::AssignedSessionId(s) => Some(s),
            _ => None,
        })
        .unwrap();
    p.send(
        lns_session,
        MessageType::Iccn,
        &[Avp::new(true, AvpValue::TxConnectSpeed(1_000_000)), Avp::new(true, AvpValue::FramingType(1))],
    );
    let h = SessionHandle { tunnel: l2sec_l2tp::TunnelId(p.lns_tunnel), session: lns_session };
    assert!(p.events.contains(&Event::SessionUp { session: h, sequencing: false }));
    let errors = CallErrors { crc_errors: 3, alignment_errors: 1, ..CallErrors::default() };
    p.send(lns_session, MessageType::Wen, &[Avp::new(true, AvpValue::CallErrors(errors))]);
    let accm = Accm { reserved: 0, send: 0xffff_ffff, receive: 0 };
    p.send(lns_session, MessageType::Sli, &[Avp::new(true, AvpValue::Accm(accm))]);
    assert!(p.events.contains(&Event::WanError { session: h, errors }));
    assert!(p.events.contains(&Event::LinkInfo { session: h, accm }));
    // A real-device-style CDN with a long error message.
    let long = [b'x'; 300];
    p.send(
        lns_session,
        MessageType::Cdn,
        &[
            Avp::new(
                true,
                AvpValue::ResultCode(ResultCode { result: 2, error: Some(6), message: Some(&long) }),
            ),
            Avp::new(true, AvpValue::AssignedSessionId(0x4444)),
        ],
    );
    assert!(p.events.iter().any(|e| matches!(e,
        Event::SessionDown { reason: CloseReason::Peer { result: 2, error: Some(6), message }, .. }
            if message.len() == 300)));
}

#[test]
fn garbage_and_replayed_control_messages_do_not_disturb_an_established_tunnel() {
    let mut p = Pair::new(Config::default(), Config::default(), 21, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    let s = p.lac.open_session(p.now, t).unwrap();
    p.run_for(Duration::from_secs(2));
    let lns_t = match p.lns_events[0] {
        Event::TunnelUp { tunnel, .. } => tunnel,
        ref e => panic!("{e:?}"),
    };
    let lac_sent: Vec<Vec<u8>> = p.wire.iter().filter(|(f, _)| *f == LAC).map(|(_, b)| b.clone()).collect();
    let lns_sent: Vec<Vec<u8>> = p.wire.iter().filter(|(f, _)| *f == LNS).map(|(_, b)| b.clone()).collect();
    let events_before = (p.lac_events.len(), p.lns_events.len());
    let mut rng = ChaCha20Rng::seed_from_u64(77);

    // 1. Random bytes, some with a plausible L2TP first word.
    for i in 0..2000 {
        let len = (rng.next_u32() % 80) as usize;
        let mut d = vec![0u8; len];
        rng.fill_bytes(&mut d);
        if i % 2 == 0 && len >= 2 {
            d[0] = 0xc8;
            d[1] = 0x02;
        }
        p.deliver(if i % 3 == 0 { LAC } else { LNS }, &d);
    }
    // 2. Exact replays of everything already sent, both directions.
    for d in &lac_sent {
        p.deliver(LNS, d);
    }
    for d in &lns_sent {
        p.deliver(LAC, d);
    }
    // 3. Replays with a corrupted body (old Ns: must be treated as duplicates).
    for d in &lac_sent {
        let mut d = d.clone();
        if d.len() > 20 {
            let i = 12 + (rng.next_u32() as usize % (d.len() - 12));
            d[i] ^= 0x5a;
            p.deliver(LNS, &d);
        }
    }
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.lac_events.len(), events_before.0, "{:?}", &p.lac_events[events_before.0..]);
    assert_eq!(p.lns_events.len(), events_before.1, "{:?}", &p.lns_events[events_before.1..]);
    assert_eq!(p.lac.tunnel(t).unwrap().state, TunnelState::Established);
    assert_eq!(p.lns.tunnel(lns_t).unwrap().state, TunnelState::Established);
    assert_eq!(p.lns.tunnel(lns_t).unwrap().sessions, 1);
    assert!(!p.errors.is_empty());

    // The tunnel still works: a new call comes up and data flows on the old one.
    let s2 = p.lac.open_session(p.now, t).unwrap();
    p.run_for(Duration::from_secs(2));
    assert!(p.lac_events.iter().any(|e| matches!(e, Event::SessionUp { session, .. } if *session == s2)));
    let mut buf = Vec::new();
    p.lac.encapsulate(s, b"\xff\x03\x00\x21hello", &mut buf).unwrap();
    let before = p.data.len();
    p.deliver(LNS, &buf);
    assert_eq!(p.data.len(), before + 1);
}

#[test]
fn unknown_mandatory_avp_in_sccrq_is_refused_with_stopccn_to_the_peers_tunnel() {
    let mut p = Scripted::new();
    let r = p.send(
        0,
        MessageType::Sccrq,
        &[
            Avp::new(true, AvpValue::ProtocolVersion { version: 1, revision: 0 }),
            Avp::new(true, AvpValue::HostName(b"scripted")),
            Avp::new(true, AvpValue::FramingCapabilities(3)),
            Avp::new(true, AvpValue::AssignedTunnelId(MY_TUNNEL)),
            unknown(true),
        ],
    );
    assert_eq!(r.len(), 1, "no SCCRP, only the refusal");
    assert_eq!(result_of(&r[0]), (MessageType::StopCcn, 2, Some(8)));
    assert_eq!(ControlMessage::parse(&r[0]).unwrap().header.tunnel_id, MY_TUNNEL);
    assert!(!p.events.iter().any(|e| matches!(e, Event::TunnelUp { .. })));
}

#[test]
fn closing_a_tunnel_that_never_heard_back_sends_nothing_to_tunnel_zero() {
    let mut lac: Endpoint<u8, ChaCha20Rng> = Endpoint::new(Config::default(), ChaCha20Rng::seed_from_u64(6));
    let now = Instant::now();
    let t = lac.connect(now, PEER).unwrap();
    let mut buf = Vec::new();
    assert!(lac.poll_transmit(now, &mut buf).is_some(), "SCCRQ");
    lac.close_tunnel(now, t, 1).unwrap();
    buf.clear();
    assert!(lac.poll_transmit(now, &mut buf).is_none(), "no StopCCN without a peer Tunnel ID");
    assert_eq!(lac.tunnel_count(), 0);
    assert!(matches!(lac.poll_event(), Some(Event::TunnelDown { reason: CloseReason::Local, .. })));
}

//! LAC ↔ LNS on a virtual clock: handshakes, sessions, data, teardown, over clean and
//! lossy links (RFC 2661 §5.8, §7).

mod common;

use std::time::Duration;

use common::pair::{LAC, LNS, LinkProfile, Pair};
use l2sec_l2tp::{
    CloseReason, Config, Event, SessionHandle, SessionState, TunnelSecret, TunnelState, cdn_result,
    stopccn_result,
};

fn config(name: &str) -> Config {
    let mut c = Config::default();
    c.host_name = name.as_bytes().to_vec();
    c
}

fn secret_config(name: &str, secret: &str, hide: bool) -> Config {
    let mut c = config(name);
    c.secret = Some(TunnelSecret::new(secret));
    c.hide_avps = hide;
    c
}

fn up_sessions(events: &[Event]) -> Vec<SessionHandle> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SessionUp { session, .. } => Some(*session),
            _ => None,
        })
        .collect()
}

fn tunnel_up(events: &[Event]) -> usize {
    Pair::count(events, |e| matches!(e, Event::TunnelUp { .. }))
}

#[test]
fn handshake_session_data_and_orderly_teardown() {
    let mut p = Pair::new(config("lac"), config("lns"), 1, LinkProfile::default());
    let now = p.now;
    let t = p.lac.connect(now, LNS).unwrap();
    let s = p.lac.open_session(now, t).unwrap();
    p.run_for(Duration::from_secs(2));
    assert_eq!(tunnel_up(&p.lac_events), 1);
    assert_eq!(tunnel_up(&p.lns_events), 1);
    assert!(p.lac_events.contains(&Event::TunnelUp { tunnel: t, peer_host_name: b"lns".to_vec() }));
    assert_eq!(up_sessions(&p.lac_events), vec![s]);
    let lns_s = up_sessions(&p.lns_events);
    assert_eq!(lns_s.len(), 1);
    assert_eq!(p.lac.session(s).unwrap().state, SessionState::Established);

    // PPP both ways.
    let mut buf = Vec::new();
    let tx = p.lac.encapsulate(s, b"\xff\x03\xc0\x21\x01\x01\x00\x04", &mut buf).unwrap();
    assert_eq!(tx.destination, LNS);
    p.send(LAC, buf.clone());
    buf.clear();
    p.lns.encapsulate(lns_s[0], b"\xff\x03\xc0\x21\x02\x01\x00\x04", &mut buf).unwrap();
    p.send(LNS, buf);
    p.run_for(Duration::from_millis(50));
    assert_eq!(
        p.data,
        vec![
            (LNS, lns_s[0], b"\xff\x03\xc0\x21\x01\x01\x00\x04".to_vec()),
            (LAC, s, b"\xff\x03\xc0\x21\x02\x01\x00\x04".to_vec()),
        ]
    );

    // CDN, then StopCCN.
    p.lac.close_session(p.now, s, cdn_result::ADMINISTRATIVE).unwrap();
    p.run_for(Duration::from_secs(1));
    assert!(
        p.lns_events
            .iter()
            .any(|e| matches!(e, Event::SessionDown { reason: CloseReason::Peer { result: 3, .. }, .. }))
    );
    assert_eq!(p.lns.tunnel(l2sec_l2tp::TunnelId(lns_s[0].tunnel.0)).unwrap().sessions, 0);
    p.lac.close_tunnel(p.now, t, stopccn_result::GENERAL_REQUEST).unwrap();
    p.run_for(Duration::from_secs(1));
    assert!(
        p.lns_events
            .iter()
            .any(|e| matches!(e, Event::TunnelDown { reason: CloseReason::Peer { result: 1, .. }, .. }))
    );
    assert_eq!(p.lac.tunnel(t).unwrap().state, TunnelState::Closing);
    // Both keep state for the close hold, then forget the tunnel.
    p.run_for(Duration::from_secs(40));
    assert_eq!(p.lac.tunnel_count(), 0);
    assert_eq!(p.lns.tunnel_count(), 0);
    assert_eq!(p.lac.poll_timeout(), None);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
}

#[test]
fn tunnel_secret_challenge_and_hidden_avps() {
    let lac = secret_config("lac", "s3cret", true);
    let lns = secret_config("lns", "s3cret", true);
    let mut p = Pair::new(lac, lns, 2, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    p.lac.open_session(p.now, t).unwrap();
    p.run_for(Duration::from_secs(2));
    assert_eq!(up_sessions(&p.lac_events).len(), 1);
    assert_eq!(up_sessions(&p.lns_events).len(), 1);
    // The ICRQ really carried hidden AVPs after a Random Vector.
    let icrq = p
        .wire
        .iter()
        .map(|(_, b)| l2sec_l2tp::wire::ControlMessage::parse(b).unwrap())
        .find(|m| m.message_type() == Some(l2sec_l2tp::wire::MessageType::Icrq))
        .unwrap();
    let avps: Vec<_> = icrq.avps().map(Result::unwrap).collect();
    assert_eq!(avps[1].attribute_type, 36, "Random Vector right after Message Type");
    assert!(avps.iter().any(|a| a.hidden && a.attribute_type == 14));
}

#[test]
fn wrong_secret_fails_authentication_on_both_sides() {
    let lac = secret_config("lac", "secretB", false);
    let lns = secret_config("lns", "secretA", false);
    let mut p = Pair::new(lac, lns, 3, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    p.run_for(Duration::from_secs(2));
    assert!(
        p.lac_events.contains(&Event::TunnelDown { tunnel: t, reason: CloseReason::AuthenticationFailed })
    );
    assert!(
        p.lns_events
            .iter()
            .any(|e| matches!(e, Event::TunnelDown { reason: CloseReason::Peer { result: 4, .. }, .. }))
    );
    assert_eq!(tunnel_up(&p.lac_events) + tunnel_up(&p.lns_events), 0);
}

#[test]
fn secret_on_one_side_only_is_refused() {
    let mut p = Pair::new(config("lac"), secret_config("lns", "x", false), 4, LinkProfile::default());
    p.lac.connect(p.now, LNS).unwrap();
    p.run_for(Duration::from_secs(2));
    // The LNS challenged, the LAC has no secret to answer with.
    assert!(
        p.lac_events
            .iter()
            .any(|e| matches!(e, Event::TunnelDown { reason: CloseReason::AuthenticationFailed, .. }))
    );
    assert_eq!(tunnel_up(&p.lns_events), 0);
}

#[test]
fn lossy_link_converges_without_double_delivery() {
    for seed in 0..12 {
        let link = LinkProfile { drop_pct: 25, duplicate_pct: 15, jitter_ms: 400, control_only: true };
        let mut p = Pair::new(config("lac"), config("lns"), 100 + seed, link);
        let t = p.lac.connect(p.now, LNS).unwrap();
        let mine: Vec<SessionHandle> = (0..20).map(|_| p.lac.open_session(p.now, t).unwrap()).collect();
        p.run_for(Duration::from_secs(60));
        let mut lac_up = up_sessions(&p.lac_events);
        lac_up.sort();
        let mut expect = mine.clone();
        expect.sort();
        assert_eq!(lac_up, expect, "seed {seed}: every LAC session up exactly once");
        assert_eq!(tunnel_up(&p.lac_events), 1, "seed {seed}");
        assert_eq!(tunnel_up(&p.lns_events), 1, "seed {seed}");
        let calls = Pair::count(&p.lns_events, |e| matches!(e, Event::IncomingCall { .. }));
        assert_eq!(calls, 20, "seed {seed}: each ICRQ processed once despite duplicates");
        assert_eq!(up_sessions(&p.lns_events).len(), 20, "seed {seed}");
        let lns_tunnel = match p.lns_events[0] {
            Event::TunnelUp { tunnel, .. } => tunnel,
            ref e => panic!("{e:?}"),
        };
        assert_eq!(p.lns.tunnel(lns_tunnel).unwrap().sessions, 20);

        // Close everything over the same bad link: both sides end up empty.
        for s in &mine[..10] {
            p.lac.close_session(p.now, *s, cdn_result::ADMINISTRATIVE).unwrap();
        }
        p.run_for(Duration::from_secs(30));
        assert_eq!(p.lns.tunnel(lns_tunnel).unwrap().sessions, 10, "seed {seed}");
        let downs = Pair::count(&p.lns_events, |e| matches!(e, Event::SessionDown { .. }));
        assert_eq!(downs, 10, "seed {seed}: each CDN processed once");
        p.lac.close_tunnel(p.now, t, stopccn_result::GENERAL_REQUEST).unwrap();
        p.run_for(Duration::from_secs(120));
        assert_eq!(p.lac.tunnel_count(), 0, "seed {seed}");
        assert_eq!(p.lns.tunnel_count(), 0, "seed {seed}");
        let lns_down = Pair::count(&p.lns_events, |e| matches!(e, Event::TunnelDown { .. }));
        assert_eq!(lns_down, 1, "seed {seed}");
    }
}

#[test]
fn sequenced_data_is_never_delivered_twice() {
    let mut lac = config("lac");
    lac.data_sequencing = true;
    lac.data_offset = Some(4);
    lac.data_length_bit = true;
    let mut p = Pair::new(lac, config("lns"), 5, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    let s = p.lac.open_session(p.now, t).unwrap();
    p.run_for(Duration::from_secs(2));
    let lns_s = up_sessions(&p.lns_events)[0];
    assert!(p.lns.session(lns_s).unwrap().sequencing, "ICCN carried Sequencing Required");
    p.link = LinkProfile { drop_pct: 10, duplicate_pct: 30, jitter_ms: 50, control_only: false };
    for i in 0..200u8 {
        let mut buf = Vec::new();
        p.lac.encapsulate(s, &[0xff, 0x03, 0x00, 0x21, i], &mut buf).unwrap();
        p.send(LAC, buf);
        let mut buf = Vec::new();
        p.lns.encapsulate(lns_s, &[0xff, 0x03, 0x00, 0x21, i], &mut buf).unwrap();
        p.send(LNS, buf);
        p.run_for(Duration::from_millis(10));
    }
    p.run_for(Duration::from_secs(1));
    for side in [LAC, LNS] {
        let got: Vec<u8> = p.data.iter().filter(|d| d.0 == side).map(|d| d.2[4]).collect();
        let mut dedup = got.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), got.len(), "no frame twice at {side}");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order at {side}");
        assert!(got.len() > 100, "most frames arrive at {side}: {}", got.len());
    }
    assert!(
        p.errors.iter().any(|(_, e)| *e == l2sec_l2tp::Error::StaleData),
        "{:?}",
        &p.errors[..p.errors.len().min(5)]
    );
}

#[test]
fn silent_peer_is_torn_down_after_the_retry_limit() {
    let mut p = Pair::new(config("lac"), config("lns"), 6, LinkProfile::default());
    p.blackhole = Some(LNS);
    let t = p.lac.connect(p.now, LNS).unwrap();
    p.run_for(Duration::from_secs(120));
    let sccrqs = p.wire.iter().filter(|(from, _)| *from == LAC).count();
    assert_eq!(sccrqs, 6, "first try + max_retries (5)");
    assert!(p.lac_events.contains(&Event::TunnelDown { tunnel: t, reason: CloseReason::RetriesExhausted }));
    assert_eq!(p.lac.tunnel_count(), 0);
    // 1 + 2 + 4 + 8 + 8 + 8 seconds (back-off capped at 8 s).
    let down_at = p.elapsed();
    assert!(down_at >= Duration::from_secs(31), "{down_at:?}");
}

#[test]
fn established_tunnel_sends_hello_and_dies_when_the_peer_goes_quiet() {
    let mut lac = config("lac");
    lac.hello_interval = Some(Duration::from_secs(10));
    let mut p = Pair::new(lac, config("lns"), 7, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    p.lac.open_session(p.now, t).unwrap();
    p.run_for(Duration::from_secs(25));
    let hellos = p
        .wire
        .iter()
        .filter(|(from, b)| {
            *from == LAC
                && l2sec_l2tp::wire::ControlMessage::parse(b).unwrap().message_type()
                    == Some(l2sec_l2tp::wire::MessageType::Hello)
        })
        .count();
    assert_eq!(hellos, 2, "HELLO every 10 s of silence");
    assert_eq!(p.lac.tunnel(t).unwrap().state, TunnelState::Established);
    p.blackhole = Some(LNS);
    p.run_for(Duration::from_secs(60));
    assert!(
        p.lac_events
            .iter()
            .any(|e| matches!(e, Event::TunnelDown { reason: CloseReason::RetriesExhausted, .. }))
    );
    assert!(
        p.lac_events
            .iter()
            .any(|e| matches!(e, Event::SessionDown { reason: CloseReason::TunnelClosed, .. }))
    );
    assert_eq!(p.lac.tunnel_count(), 0);
}

#[test]
fn hundreds_of_sessions_in_one_tunnel() {
    let mut p = Pair::new(config("lac"), config("lns"), 8, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    let mine: Vec<SessionHandle> = (0..500).map(|_| p.lac.open_session(p.now, t).unwrap()).collect();
    let mut ids: Vec<u16> = mine.iter().map(|s| s.session).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 500, "session ids are unique");
    p.run_for(Duration::from_secs(30));
    assert_eq!(up_sessions(&p.lac_events).len(), 500);
    assert_eq!(up_sessions(&p.lns_events).len(), 500);
    assert_eq!(p.lac.tunnel(t).unwrap().sessions, 500);
    // Data reaches the right session on the other side.
    let lns_sessions = up_sessions(&p.lns_events);
    for (i, s) in mine.iter().enumerate().step_by(50) {
        let mut buf = Vec::new();
        p.lac.encapsulate(*s, &(i as u32).to_be_bytes(), &mut buf).unwrap();
        p.deliver(LNS, &buf);
    }
    assert_eq!(p.data.len(), 10);
    for (_, s, _) in &p.data {
        assert!(lns_sessions.contains(s));
    }
}

#[test]
fn many_tunnels_per_endpoint_and_the_tunnel_limit() {
    let mut lns = config("lns");
    lns.max_tunnels = 3;
    let mut p = Pair::new(config("lac"), lns, 9, LinkProfile::default());
    let tunnels: Vec<_> = (0..4).map(|_| p.lac.connect(p.now, LNS).unwrap()).collect();
    p.run_for(Duration::from_secs(5));
    assert_eq!(tunnel_up(&p.lns_events), 3);
    assert_eq!(tunnel_up(&p.lac_events), 3);
    // The fourth was refused with StopCCN 2/4 (insufficient resources).
    assert!(p.lac_events.iter().any(|e| matches!(
        e,
        Event::TunnelDown { reason: CloseReason::Peer { result: 2, error: Some(4), .. }, .. }
    )));
    assert!(p.errors.iter().any(|(_, e)| matches!(e, l2sec_l2tp::Error::ResourceLimit(_))));
    let _ = tunnels;
}

#[test]
fn session_limit_refuses_with_cdn() {
    let mut lns = config("lns");
    lns.max_sessions_per_tunnel = 2;
    let mut p = Pair::new(config("lac"), lns, 10, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    for _ in 0..3 {
        p.lac.open_session(p.now, t).unwrap();
    }
    p.run_for(Duration::from_secs(5));
    assert_eq!(up_sessions(&p.lac_events).len(), 2);
    assert!(
        p.lac_events
            .iter()
            .any(|e| matches!(e, Event::SessionDown { reason: CloseReason::Peer { result: 4, .. }, .. }))
    );
}

#[test]
fn simultaneous_open_is_resolved_by_the_tie_breaker() {
    for seed in 0..6 {
        let mut p = Pair::new(config("a"), config("b"), 200 + seed, LinkProfile::default());
        p.lac.connect(p.now, LNS).unwrap();
        p.lns.connect(p.now, LAC).unwrap();
        p.run_for(Duration::from_secs(5));
        let lost = Pair::count(&p.lac_events, |e| {
            matches!(e, Event::TunnelDown { reason: CloseReason::TieBreakerLost, .. })
        }) + Pair::count(&p.lns_events, |e| {
            matches!(e, Event::TunnelDown { reason: CloseReason::TieBreakerLost, .. })
        });
        assert_eq!(lost, 1, "seed {seed}: exactly one side gives up its SCCRQ");
        assert_eq!(tunnel_up(&p.lac_events), 1, "seed {seed}");
        assert_eq!(tunnel_up(&p.lns_events), 1, "seed {seed}");
        assert_eq!(p.lac.tunnel_count(), 1);
        assert_eq!(p.lns.tunnel_count(), 1);
    }
}

#[test]
fn lns_can_end_the_call_and_the_tunnel() {
    let mut p = Pair::new(config("lac"), config("lns"), 11, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    let s = p.lac.open_session(p.now, t).unwrap();
    p.run_for(Duration::from_secs(2));
    let lns_s = up_sessions(&p.lns_events)[0];
    p.lns.close_session(p.now, lns_s, cdn_result::LOST_CARRIER).unwrap();
    p.run_for(Duration::from_secs(1));
    assert!(p.lac_events.iter().any(|e| matches!(e,
        Event::SessionDown { session, reason: CloseReason::Peer { result: 1, .. } } if *session == s)));
    p.lns.shutdown(p.now);
    p.run_for(Duration::from_secs(40));
    assert!(
        p.lac_events
            .iter()
            .any(|e| matches!(e, Event::TunnelDown { reason: CloseReason::Peer { result: 6, .. }, .. }))
    );
    assert_eq!(p.lac.tunnel_count() + p.lns.tunnel_count(), 0);
}

#[test]
fn zlb_waits_for_the_ack_delay_and_a_duplicate_is_acknowledged_at_once() {
    use l2sec_l2tp::wire::ControlMessage;
    let mut p = Pair::new(config("lac"), config("lns"), 12, LinkProfile::default());
    p.lac.connect(p.now, LNS).unwrap();
    p.run_for(Duration::from_secs(1));
    // SCCRQ (LAC, 0 ms) → SCCRP (LNS, 5 ms, carries the ack) → SCCCN (LAC, 10 ms) →
    // ZLB (LNS, 15 ms + 100 ms ack delay: nothing else to carry the ack).
    let kinds: Vec<(u8, Option<u16>, u128)> = p
        .wire
        .iter()
        .zip(&p.wire_times)
        .map(|((from, b), t)| {
            let m = ControlMessage::parse(b).unwrap();
            (*from, m.message_type().map(|t| t.value()), t.as_millis())
        })
        .collect();
    assert_eq!(kinds, vec![(LAC, Some(1), 0), (LNS, Some(2), 5), (LAC, Some(3), 10), (LNS, None, 115)]);
    let zlb = ControlMessage::parse(&p.wire[3].1).unwrap();
    assert_eq!((zlb.sequence().ns, zlb.sequence().nr), (1, 2));
    // Replaying the SCCCN: re-acknowledged immediately with the same Nr, nothing else.
    let scccn = p.wire[2].1.clone();
    let sent = p.wire.len();
    p.deliver(LNS, &scccn);
    assert_eq!(p.wire.len(), sent + 1);
    let again = ControlMessage::parse(&p.wire[sent].1).unwrap();
    assert!(again.is_zlb());
    assert_eq!(again.sequence().nr, 2);
    assert_eq!(p.lns_events.len(), 1, "TunnelUp only once: {:?}", p.lns_events);
}

#[test]
fn wen_and_sli_travel_between_lac_and_lns() {
    use l2sec_l2tp::wire::{Accm, CallErrors};
    let mut p = Pair::new(config("lac"), config("lns"), 13, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    let s = p.lac.open_session(p.now, t).unwrap();
    p.run_for(Duration::from_secs(2));
    let lns_s = up_sessions(&p.lns_events)[0];
    let errors = CallErrors { crc_errors: 9, ..CallErrors::default() };
    p.lac.wan_error_notify(p.now, s, errors).unwrap();
    let accm = Accm { reserved: 0, send: 0x000a_0000, receive: 0 };
    p.lns.set_link_info(p.now, lns_s, accm).unwrap();
    p.run_for(Duration::from_secs(1));
    assert!(p.lns_events.contains(&Event::WanError { session: lns_s, errors }));
    assert!(p.lac_events.contains(&Event::LinkInfo { session: s, accm }));
    let bogus = SessionHandle { tunnel: t, session: s.session.wrapping_add(1) };
    assert!(p.lac.set_link_info(p.now, bogus, accm).is_err());
}

#[test]
fn call_abandoned_before_icrp_is_cleared_on_both_sides() {
    let mut p = Pair::new(config("lac"), config("lns"), 14, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    p.run_for(Duration::from_secs(1));
    let s = p.lac.open_session(p.now, t).unwrap();
    // The CDN follows the ICRQ at once: it cannot name the LNS's session yet (header 0).
    p.lac.close_session(p.now, s, cdn_result::ADMINISTRATIVE).unwrap();
    p.run_for(Duration::from_secs(2));
    let lns_t = match p.lns_events[0] {
        Event::TunnelUp { tunnel, .. } => tunnel,
        ref e => panic!("{e:?}"),
    };
    assert_eq!(Pair::count(&p.lns_events, |e| matches!(e, Event::IncomingCall { .. })), 1);
    assert!(
        p.lns_events
            .iter()
            .any(|e| matches!(e, Event::SessionDown { reason: CloseReason::Peer { result: 3, .. }, .. }))
    );
    assert_eq!(p.lns.tunnel(lns_t).unwrap().sessions, 0);
    assert_eq!(p.lac.tunnel(t).unwrap().sessions, 0);
}

#[test]
fn encapsulate_with_writes_the_frame_in_place_and_fixes_the_length() {
    let mut lac = config("lac");
    lac.data_length_bit = true;
    lac.data_offset = Some(2);
    let mut p = Pair::new(lac, config("lns"), 15, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    let s = p.lac.open_session(p.now, t).unwrap();
    p.run_for(Duration::from_secs(2));
    let mut a = vec![0xee]; // something already in the caller's buffer stays untouched
    let tx = p.lac.encapsulate_with(s, &mut a, |b| b.extend_from_slice(b"\xff\x03\x00\x21ip")).unwrap();
    assert_eq!(a[0], 0xee);
    assert_eq!(tx.size, a.len() - 1);
    let mut b = Vec::new();
    p.lac.encapsulate(s, b"\xff\x03\x00\x21ip", &mut b).unwrap();
    assert_eq!(&a[1..], &b[..], "same bytes both ways");
    let packet = l2sec_l2tp::wire::Packet::parse(&b).unwrap();
    assert!(packet.header.has_length && packet.header.offset_pad == Some(&[0, 0][..]));
    assert_eq!(packet.payload, b"\xff\x03\x00\x21ip");
    p.deliver(LNS, &b);
    assert_eq!(p.data.last().unwrap().2, b"\xff\x03\x00\x21ip");
}

#[test]
fn owner_answers_incoming_calls_when_asked_to() {
    let mut lns = config("lns");
    lns.answer_calls_automatically = false;
    let mut p = Pair::new(config("lac"), lns, 16, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    let a = p.lac.open_session(p.now, t).unwrap();
    let b = p.lac.open_session(p.now, t).unwrap();
    p.run_for(Duration::from_secs(5));
    let waiting: Vec<SessionHandle> = p
        .lns_events
        .iter()
        .filter_map(|e| match e {
            Event::IncomingCall { session, answered: false, .. } => Some(*session),
            _ => None,
        })
        .collect();
    assert_eq!(waiting.len(), 2);
    assert!(up_sessions(&p.lac_events).is_empty(), "no ICRP before the owner answers");
    assert_eq!(p.lns.session(waiting[0]).unwrap().state, SessionState::WaitAnswer);
    // Accept one, refuse the other.
    p.lns.accept_call(p.now, waiting[0]).unwrap();
    p.lns.close_session(p.now, waiting[1], cdn_result::NO_FACILITIES_TEMPORARY).unwrap();
    assert_eq!(p.lns.accept_call(p.now, waiting[0]), Err(l2sec_l2tp::Error::InvalidState));
    p.run_for(Duration::from_secs(2));
    let up = up_sessions(&p.lac_events);
    assert_eq!(up.len(), 1);
    let refused = if up[0] == a { b } else { a };
    assert!(p.lac_events.iter().any(|e| matches!(e,
        Event::SessionDown { session, reason: CloseReason::Peer { result: 4, .. } } if *session == refused)));
    assert_eq!(up_sessions(&p.lns_events), vec![waiting[0]]);
}

#[test]
fn lac_numbers_its_data_once_the_lns_does() {
    let mut lns = config("lns");
    lns.data_sequencing = true;
    let mut p = Pair::new(config("lac"), lns, 17, LinkProfile::default());
    let t = p.lac.connect(p.now, LNS).unwrap();
    let s = p.lac.open_session(p.now, t).unwrap();
    p.run_for(Duration::from_secs(2));
    let lns_s = up_sessions(&p.lns_events)[0];
    let mut buf = Vec::new();
    p.lac.encapsulate(s, b"\xff\x03\x00\x21a", &mut buf).unwrap();
    assert!(l2sec_l2tp::wire::Packet::parse(&buf).unwrap().header.sequence.is_none());
    buf.clear();
    p.lns.encapsulate(lns_s, b"\xff\x03\x00\x21b", &mut buf).unwrap();
    assert!(l2sec_l2tp::wire::Packet::parse(&buf).unwrap().header.sequence.is_some());
    p.deliver(LAC, &buf);
    buf.clear();
    p.lac.encapsulate(s, b"\xff\x03\x00\x21c", &mut buf).unwrap();
    let seq = l2sec_l2tp::wire::Packet::parse(&buf).unwrap().header.sequence;
    assert_eq!(seq.map(|s| s.ns), Some(0), "RFC 2661 §5.4: the LAC follows the LNS");
    assert!(p.lac.session(s).unwrap().sequencing);
}

#[test]
fn authenticated_tunnel_with_hidden_avps_converges_over_a_lossy_link() {
    for seed in 0..6 {
        let link = LinkProfile { drop_pct: 30, duplicate_pct: 20, jitter_ms: 600, control_only: true };
        let lac = secret_config("lac", "lossy-secret", true);
        let lns = secret_config("lns", "lossy-secret", true);
        let mut p = Pair::new(lac, lns, 300 + seed, link);
        let t = p.lac.connect(p.now, LNS).unwrap();
        for _ in 0..5 {
            p.lac.open_session(p.now, t).unwrap();
        }
        p.run_for(Duration::from_secs(90));
        assert_eq!(tunnel_up(&p.lac_events), 1, "seed {seed}: {:?}", p.lac_events);
        assert_eq!(up_sessions(&p.lac_events).len(), 5, "seed {seed}");
        assert_eq!(up_sessions(&p.lns_events).len(), 5, "seed {seed}");
        assert!(!p.lac_events.iter().any(|e| matches!(e, Event::TunnelDown { .. })), "seed {seed}");
    }
}

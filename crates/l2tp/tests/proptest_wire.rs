//! Property tests: encode∘parse round-trips for every AVP and message shape, and parsing
//! arbitrary bytes never panics.

use l2sec_l2tp::wire::{
    Accm, Avp, AvpValue, CallErrors, ControlMessage, Header, MessageType, Packet, ResultCode, Sequence,
};
use proptest::prelude::*;

/// Number of typed AVP shapes `make` knows (one per RFC 2661 §4.4 attribute, plus the raw
/// kinds).
const KINDS: u8 = 43;

/// Builds a typed value of kind `k` from arbitrary numbers and bytes.
fn make(k: u8, n: u64, b: &[u8]) -> AvpValue<'_> {
    let n16 = n as u16;
    let n32 = n as u32;
    let nonempty = if b.is_empty() { &b"x"[..] } else { b };
    match k {
        0 => AvpValue::MessageType(MessageType::from_value(n16)),
        1 => AvpValue::ResultCode(ResultCode { result: n16, error: None, message: None }),
        2 => AvpValue::ResultCode(ResultCode {
            result: n16,
            error: Some((n >> 16) as u16),
            message: if b.is_empty() { None } else { Some(b) },
        }),
        3 => AvpValue::ProtocolVersion { version: n as u8, revision: (n >> 8) as u8 },
        4 => AvpValue::FramingCapabilities(n32),
        5 => AvpValue::BearerCapabilities(n32),
        6 => AvpValue::TieBreaker(n),
        7 => AvpValue::FirmwareRevision(n16),
        8 => AvpValue::HostName(nonempty),
        9 => AvpValue::VendorName(b),
        10 => AvpValue::AssignedTunnelId(n16),
        11 => AvpValue::ReceiveWindowSize(n16),
        12 => AvpValue::Challenge(nonempty),
        13 => AvpValue::ChallengeResponse(&[7; 16]),
        14 => AvpValue::Q931CauseCode { cause: n16, message: (n >> 16) as u8, advisory: b },
        15 => AvpValue::AssignedSessionId(n16),
        16 => AvpValue::CallSerialNumber(n32),
        17 => AvpValue::MinimumBps(n32),
        18 => AvpValue::MaximumBps(n32),
        19 => AvpValue::BearerType(n32),
        20 => AvpValue::FramingType(n32),
        21 => AvpValue::CalledNumber(b),
        22 => AvpValue::CallingNumber(b),
        23 => AvpValue::SubAddress(b),
        24 => AvpValue::TxConnectSpeed(n32),
        25 => AvpValue::PhysicalChannelId(n32),
        26 => AvpValue::InitialReceivedLcpConfReq(b),
        27 => AvpValue::LastSentLcpConfReq(b),
        28 => AvpValue::LastReceivedLcpConfReq(b),
        29 => AvpValue::ProxyAuthenType(n16),
        30 => AvpValue::ProxyAuthenName(b),
        31 => AvpValue::ProxyAuthenChallenge(b),
        32 => AvpValue::ProxyAuthenId { reserved: (n >> 8) as u8, id: n as u8 },
        33 => AvpValue::ProxyAuthenResponse(b),
        34 => AvpValue::CallErrors(CallErrors {
            reserved: n16,
            crc_errors: n32,
            framing_errors: n32 ^ 1,
            hardware_overruns: n32 ^ 2,
            buffer_overruns: n32 ^ 3,
            timeout_errors: n32 ^ 4,
            alignment_errors: n32 ^ 5,
        }),
        35 => AvpValue::Accm(Accm { reserved: n16, send: n32, receive: !n32 }),
        36 => AvpValue::RandomVector(nonempty),
        37 => AvpValue::PrivateGroupId(b),
        38 => AvpValue::RxConnectSpeed(n32),
        39 => AvpValue::SequencingRequired,
        40 => AvpValue::Hidden(b),
        41 => AvpValue::Vendor(b),
        _ => AvpValue::Unknown(b),
    }
}

fn avp_from(k: u8, n: u64, b: &[u8], mandatory: bool, reserved: u8) -> Avp<'_> {
    let value = make(k, n, b);
    let mut avp = Avp::new(mandatory, value);
    avp.reserved = reserved & 0x0f;
    match value {
        AvpValue::Hidden(_) => {
            avp.hidden = true;
            avp.attribute_type = n as u16;
        }
        AvpValue::Vendor(_) => {
            avp.vendor_id = ((n >> 16) as u16).max(1);
            avp.attribute_type = n as u16;
        }
        // 40..=65535 has no RFC 2661 meaning.
        AvpValue::Unknown(_) => avp.attribute_type = 40 + (n as u16 % 60000),
        _ => {}
    }
    avp
}

proptest! {
    #[test]
    fn every_avp_round_trips(
        k in 0..KINDS,
        n in any::<u64>(),
        b in proptest::collection::vec(any::<u8>(), 0..200),
        mandatory in any::<bool>(),
        reserved in any::<u8>(),
    ) {
        let avp = avp_from(k, n, &b, mandatory, reserved);
        let mut out = Vec::new();
        avp.encode(&mut out);
        let (parsed, rest) = Avp::parse(&out).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(parsed, avp);
        let mut again = Vec::new();
        parsed.encode(&mut again);
        prop_assert_eq!(again, out);
    }

    #[test]
    fn control_messages_round_trip(
        tunnel in any::<u16>(),
        session in any::<u16>(),
        ns in any::<u16>(),
        nr in any::<u16>(),
        t in 0u16..20,
        avps in proptest::collection::vec(
            (0..KINDS, any::<u64>(), proptest::collection::vec(any::<u8>(), 0..40), any::<bool>()),
            0..12),
    ) {
        let mut out = Vec::new();
        let mut h = Header::control(tunnel, session, Sequence { ns, nr });
        h.reserved = 0;
        let mut body = Vec::new();
        Avp::new(true, AvpValue::MessageType(MessageType::from_value(t))).encode(&mut body);
        let built: Vec<Avp<'_>> =
            avps.iter().map(|(k, n, b, m)| avp_from(*k, *n, b, *m, 0)).collect();
        for a in &built {
            a.encode(&mut body);
        }
        h.encode(body.len(), &mut out);
        out.extend_from_slice(&body);
        let msg = ControlMessage::parse(&out).unwrap();
        prop_assert_eq!(msg.header, h);
        prop_assert_eq!(msg.message_type(), Some(MessageType::from_value(t)));
        let parsed: Vec<Avp<'_>> = msg.avps().skip(1).map(Result::unwrap).collect();
        prop_assert_eq!(parsed, built);
    }

    #[test]
    fn data_messages_round_trip(
        tunnel in any::<u16>(),
        session in any::<u16>(),
        length in any::<bool>(),
        priority in any::<bool>(),
        seq in proptest::option::of((any::<u16>(), any::<u16>())),
        pad in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        reserved in any::<u16>(),
        ppp in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut h = Header::data(tunnel, session);
        h.has_length = length;
        h.priority = priority;
        h.sequence = seq.map(|(ns, nr)| Sequence { ns, nr });
        h.offset_pad = pad.as_deref();
        h.reserved = reserved & 0x34f0;
        let mut out = Vec::new();
        Packet { header: h, payload: &ppp }.encode(&mut out);
        let p = Packet::parse(&out).unwrap();
        prop_assert_eq!(p.header, h);
        prop_assert_eq!(p.payload, &ppp[..]);
        let mut again = Vec::new();
        p.encode(&mut again);
        prop_assert_eq!(again, out);
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = Packet::parse(&data) {
            let mut out = Vec::new();
            p.encode(&mut out);
            // Whatever parsed re-encodes to a prefix-consistent message of the same length
            // (a Length field may cut trailing bytes).
            prop_assert!(out.len() <= data.len());
            if let Ok(m) = ControlMessage::from_packet(p) {
                for a in m.avps().flatten() {
                    let mut v = Vec::new();
                    a.encode(&mut v);
                    prop_assert!(v.len() >= 6);
                }
            }
        }
        let mut rest = &data[..];
        while let Ok((_, r)) = Avp::parse(rest) { rest = r; }
    }

    #[test]
    fn a_typed_value_never_changes_its_bytes(t in 0u16..45, b in proptest::collection::vec(any::<u8>(), 0..40)) {
        // Whatever the type, parse then encode gives back the value bytes (tolerant typing).
        let v = AvpValue::parse(t, &b);
        let mut out = Vec::new();
        v.encode(&mut out);
        prop_assert_eq!(out, b);
    }
}

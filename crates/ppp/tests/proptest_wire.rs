//! Property tests of the wire layer: encode∘parse is the identity for every frame, packet,
//! option and authentication message, and nothing panics on arbitrary bytes.

use std::time::{Duration, Instant};

use l2sec_ppp::wire::{
    self, ChapPacket, ConfigOption, CpPacket, Frame, IpcpOption, Ipv6cpOption, LcpOption, MsChapFailure,
    MsChapV1Response, MsChapV2Response, Packet, PapPacket,
};
use l2sec_ppp::{AuthMethod, Config, PeerCredentials, Session};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn option_bytes() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (
        prop_oneof![1u8..=8, Just(13u8), Just(17), Just(19), 128u8..=133, any::<u8>()],
        prop_oneof![prop::collection::vec(any::<u8>(), 0..=10), prop::collection::vec(any::<u8>(), 0..=253)],
    )
}

fn option_list() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(option_bytes(), 0..6).prop_map(|opts| {
        let mut v = Vec::new();
        for (kind, data) in &opts {
            ConfigOption { kind: *kind, data }.encode(&mut v);
        }
        v
    })
}

proptest! {
    #[test]
    fn frame_roundtrip(ac in any::<bool>(), compress in any::<bool>(), hi in any::<u8>(), lo in any::<u8>(),
                       info in prop::collection::vec(any::<u8>(), 0..64)) {
        // Make a valid protocol number: low octet odd, high octet even.
        let protocol = u16::from_be_bytes([hi & 0xfe, lo | 1]);
        let mut v = Vec::new();
        wire::encode_header(ac, compress, protocol, &mut v);
        v.extend_from_slice(&info);
        let f = Frame::parse(&v).unwrap();
        prop_assert_eq!(f.protocol, protocol);
        prop_assert_eq!(f.information, &info[..]);
        prop_assert_eq!(f.protocol_compressed, compress && protocol < 0x100);
        let mut out = Vec::new();
        f.encode(&mut out);
        prop_assert_eq!(out, v);
    }

    #[test]
    fn any_bytes_frame_and_packet_reencode_exactly(data in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(f) = Frame::parse(&data) {
            let mut out = Vec::new();
            f.encode(&mut out);
            // A frame that merely starts with FF 03 followed by nothing else is not valid, so
            // every parsed frame re-encodes to the input.
            prop_assert_eq!(&out, &data);
        }
        if let Ok(p) = Packet::parse(&data) {
            let mut out = Vec::new();
            p.encode(&mut out);
            prop_assert_eq!(&out, &data);
        }
    }

    #[test]
    fn options_typed_roundtrip((kind, data) in option_bytes()) {
        let mut raw = Vec::new();
        ConfigOption { kind, data: &data }.encode(&mut raw);
        let o = wire::options(&raw).next().unwrap().unwrap();
        for typed in [0, 1, 2] {
            let mut out = Vec::new();
            match typed {
                0 => LcpOption::from_raw(o).encode(&mut out),
                1 => IpcpOption::from_raw(o).encode(&mut out),
                _ => Ipv6cpOption::from_raw(o).encode(&mut out),
            }
            prop_assert_eq!(&out, &raw);
        }
    }

    #[test]
    fn cp_packets_roundtrip(code in prop_oneof![1u8..=14, any::<u8>()], id in any::<u8>(), lcp in any::<bool>(),
                            body in prop_oneof![option_list(), prop::collection::vec(any::<u8>(), 0..40)],
                            pad in prop::collection::vec(any::<u8>(), 0..4)) {
        let mut v = Vec::new();
        wire::encode_packet(code, id, &[&body], &mut v);
        let exact = v.clone();
        v.extend_from_slice(&pad);
        let p = CpPacket::parse(&v, lcp).unwrap();
        let mut out = Vec::new();
        p.encode(&mut out);
        prop_assert_eq!(out, exact);
    }

    #[test]
    fn pap_roundtrip(id in any::<u8>(), peer in prop::collection::vec(any::<u8>(), 0..=255),
                     pw in prop::collection::vec(any::<u8>(), 0..=255), ack in any::<bool>()) {
        let req = PapPacket::AuthenticateRequest { identifier: id, peer_id: &peer, password: &pw };
        let mut v = Vec::new();
        req.encode(&mut v);
        prop_assert_eq!(PapPacket::parse(&v).unwrap(), req);
        let rep = PapPacket::Reply { code: if ack { 2 } else { 3 }, identifier: id, message: &pw };
        let mut v = Vec::new();
        rep.encode(&mut v);
        prop_assert_eq!(PapPacket::parse(&v).unwrap(), rep);
    }

    #[test]
    fn chap_roundtrip(code in 1u8..=4, id in any::<u8>(), value in prop::collection::vec(any::<u8>(), 0..=255),
                      name in prop::collection::vec(any::<u8>(), 0..40)) {
        let p = if code <= 2 {
            ChapPacket::Value { code, identifier: id, value: &value, name: &name }
        } else {
            ChapPacket::Result { code, identifier: id, message: &name }
        };
        let mut v = Vec::new();
        p.encode(&mut v);
        prop_assert_eq!(ChapPacket::parse(&v).unwrap(), p);
    }

    #[test]
    fn mschap_values_roundtrip(bytes in prop::collection::vec(any::<u8>(), 49)) {
        let v2 = MsChapV2Response::parse(&bytes).unwrap();
        prop_assert_eq!(&v2.to_bytes()[..], &bytes[..]);
        let v1 = MsChapV1Response::parse(&bytes).unwrap();
        prop_assert_eq!(&v1.to_bytes()[..], &bytes[..]);
        prop_assert!(MsChapV2Response::parse(&bytes[..48]).is_none());
    }

    #[test]
    fn mschap_failure_roundtrip(error in 0u32..100_000, retry in any::<bool>(),
                                challenge in prop::option::of(prop::collection::vec(any::<u8>(), 16)),
                                version in prop::option::of(0u32..10), message in "[ -~]{0,40}") {
        let f = MsChapFailure { error, retry, challenge, version, message: message.trim_start().to_owned() };
        let mut v = Vec::new();
        f.encode(&mut v);
        prop_assert_eq!(MsChapFailure::parse(&v).unwrap(), f);
    }

    #[test]
    fn parsers_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Frame::parse(&data);
        let _ = CpPacket::parse(&data, true);
        let _ = PapPacket::parse(&data);
        let _ = ChapPacket::parse(&data);
        let _ = MsChapFailure::parse(&data);
        let _ = wire::parse_mschapv2_success(&data);
        for o in wire::options(&data).flatten() {
            let _ = LcpOption::from_raw(o);
            let _ = IpcpOption::from_raw(o);
        }
    }

    #[test]
    fn sessions_survive_arbitrary_frames(frames in prop::collection::vec(
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..60),
            (prop_oneof![Just(0xc021u16), Just(0xc023), Just(0xc223), Just(0x8021), Just(0x8057)],
             any::<u8>(), any::<u8>(), option_list())
                .prop_map(|(p, c, i, body)| {
                    let mut v = vec![0xff, 0x03];
                    v.extend_from_slice(&p.to_be_bytes());
                    wire::encode_packet(c % 16, i, &[&body], &mut v);
                    v
                }),
        ], 0..40)) {
        let now = Instant::now();
        for role in 0..2 {
            let cfg = if role == 0 {
                Config::authenticator("l2sec")
            } else {
                let mut c = Config::peer(PeerCredentials::new("u", "p"));
                c.auth_methods.push(AuthMethod::MsChapV1);
                c
            };
            let mut s = Session::new(cfg, ChaCha20Rng::seed_from_u64(role));
            s.open(now);
            let mut t = now;
            let mut buf = Vec::new();
            for f in &frames {
                let _ = s.handle_input(t, f);
                while s.poll_transmit(t, &mut buf).is_some() {}
                while let Some(e) = s.poll_event() {
                    if let l2sec_ppp::Event::Authenticate(r) = e {
                        let _ = s.answer_auth(t, r.id, l2sec_ppp::AuthVerdict::Reject(Default::default()));
                    }
                }
                t += Duration::from_millis(700);
                s.handle_timeout(t);
                buf.clear();
            }
            prop_assert!(s.poll_timeout().is_none_or(|d| d >= t));
        }
    }
}

//! Fuzzes EAP in IKEv2: the EAP and EAP-MSCHAPv2 parsers (whatever parses must encode
//! back to the same bytes), and a responder that requires EAP-MSCHAPv2 fed authentic
//! IKE_AUTH requests (sealed with the real keys after a genuine IKE_SA_INIT) carrying
//! arbitrary EAP packets and Message IDs, raw datagrams, owner answers and clock jumps
//! (the first byte of each chunk picks the action). Nothing may panic, and the poll
//! functions stay consistent.
#![no_main]

use std::time::{Duration, Instant};

use l2sec_ike::crypto::DhGroup;
use l2sec_ike::v2::eap::{EapAcceptance, EapConfig, EapVerdict, Msk};
use l2sec_ike::v2::ike_sa::{Identity, IkeSa, IkeSaConfig};
use l2sec_ike::v2::keys::{IkeSuite, seal};
use l2sec_ike::wire::v2::mschapv2::MsChapV2;
use l2sec_ike::wire::v2::{
    ChainBuilder, Eap, EapCode, EapType, ExchangeType, Flags, Header, IdType, Identification, Payload,
};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn parsers(data: &[u8]) {
    if let Ok(m) = MsChapV2::parse(data) {
        let mut out = Vec::new();
        m.encode(&mut out).expect("a parsed MS-CHAPv2 packet encodes");
        assert_eq!(out, data);
    }
    if let Ok(e) = Eap::parse(data) {
        let mut out = Vec::new();
        e.encode(&mut out).expect("a parsed EAP packet encodes");
        assert_eq!(out, data);
    }
}

fuzz_target!(|data: &[u8]| {
    parsers(data);
    let start = Instant::now();
    let mut now = start;
    let (a, b) = ("192.0.2.1:500".parse().unwrap(), "192.0.2.2:500".parse().unwrap());
    let cfg = |id, l, r| {
        let mut c = IkeSaConfig::new(b"fuzz", Identity::fqdn(id), l, r);
        c.proposals = vec![IkeSuite::aes_gcm16(16, DhGroup::Curve25519)];
        c
    };
    let mut server =
        IkeSa::respond_with_eap(cfg("r", b, a), EapConfig::default(), ChaCha20Rng::seed_from_u64(1), now);
    let Ok(mut client) = IkeSa::initiate(cfg("i", a, b), ChaCha20Rng::seed_from_u64(2), now) else {
        return;
    };
    // A genuine IKE_SA_INIT, so the fuzzer's IKE_AUTH requests can be sealed.
    let mut buf = Vec::new();
    client.poll_transmit(now, &mut buf).expect("IKE_SA_INIT request");
    server.handle_input(now, &buf).expect("IKE_SA_INIT accepted");
    buf.clear();
    server.poll_transmit(now, &mut buf).expect("IKE_SA_INIT response");
    client.handle_input(now, &buf).expect("IKE_SA_INIT response accepted");
    let (Some(suite), Some(keys)) = (client.suite().copied(), client.keys().cloned()) else { return };
    let spis = client.spis();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut next_id = 1u32;
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        rest = after;
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        let pushed = match op % 8 {
            0 => {
                // The first request: IDi without AUTH.
                c.push(&Payload::IdentificationInitiator(Identification::new(IdType::Fqdn, b"fuzz"))).is_ok()
            }
            1 | 2 => {
                // An arbitrary EAP packet, or arbitrary MS-CHAPv2 Type-Data.
                let eap = match Eap::parse(chunk) {
                    Ok(e) if op % 8 == 1 => e,
                    _ => match chunk.split_first() {
                        Some((id, ms)) => Eap::new(EapCode::Response, *id, EapType::MsChapV2, ms),
                        None => Eap::outcome(EapCode::Success, 0),
                    },
                };
                c.push(&Payload::ExtensibleAuthentication(eap)).is_ok()
            }
            3 => {
                let verdict = if *len & 1 == 0 {
                    EapVerdict::Reject
                } else {
                    EapVerdict::Accept(EapAcceptance {
                        authenticator_response: [*len; 20],
                        message: String::from_utf8_lossy(chunk).into_owned(),
                        msk: Msk::new([*op; 64]),
                    })
                };
                let _ = server.answer_eap(now, verdict);
                false
            }
            4 => {
                now += Duration::from_millis(u64::from(*len) * 100);
                server.handle_timeout(now);
                false
            }
            5 => {
                next_id = u32::from(*len);
                false
            }
            _ => {
                let _ = server.handle_input(now, chunk);
                false
            }
        };
        if pushed {
            let first = c.finish();
            let header = Header::new(spis.0, spis.1, ExchangeType::IkeAuth, Flags::INITIATOR, next_id);
            if let Ok(datagram) = seal(&suite, keys.sender(true), &header, first, &inner, &mut rng) {
                if server.handle_input(now, &datagram).is_ok() {
                    next_id = next_id.wrapping_add(1);
                }
                // A retransmission is answered the same way or ignored.
                let _ = server.handle_input(now, &datagram);
            }
        }
        let mut out = Vec::new();
        while let Some(t) = server.poll_transmit(now, &mut out) {
            assert!(t.size <= out.len());
        }
        while server.poll_event().is_some() {}
        if let Some(t) = server.poll_timeout() {
            assert!(t >= start);
        }
    }
});

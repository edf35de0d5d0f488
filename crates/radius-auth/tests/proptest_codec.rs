//! Property tests: every attribute and packet round-trips, and parsing never panics.

use l2sec_radius_auth::attr::{Attribute, VENDOR_MICROSOFT, VendorSpecific};
use l2sec_radius_auth::crypto;
use l2sec_radius_auth::ms::MsAttribute;
use l2sec_radius_auth::wire::{Code, Packet, PacketWriter};
use proptest::prelude::*;

/// The value sizes each known type takes, so that the typed path is exercised and not only
/// the raw fallback.
fn interesting_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(4),
        Just(16),
        Just(17),
        Just(18),
        Just(19),
        Just(34),
        Just(50),
        0..=253usize
    ]
}

fn any_attribute() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (any::<u8>(), interesting_len())
        .prop_flat_map(|(t, len)| (Just(t), proptest::collection::vec(any::<u8>(), len)))
}

fn ms_value() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (0u8..=40, prop_oneof![Just(0usize), Just(4), Just(18), Just(34), Just(50), 0..=247usize])
        .prop_flat_map(|(t, len)| (Just(t), proptest::collection::vec(any::<u8>(), len)))
}

proptest! {
    /// decode then encode gives back the octets, for every type code and value.
    #[test]
    fn attribute_value_round_trips((typ, value) in any_attribute()) {
        let a = Attribute::decode(typ, &value);
        prop_assert_eq!(a.type_code(), typ);
        let mut out = Vec::new();
        a.encode_value(&mut out);
        prop_assert_eq!(&out, &value);
        // and typed -> octets -> typed is the identity
        prop_assert_eq!(Attribute::decode(typ, &out), a);
        let mut whole = Vec::new();
        a.encode(&mut whole).unwrap();
        prop_assert_eq!(whole[0], typ);
        prop_assert_eq!(usize::from(whole[1]), value.len() + 2);
    }

    /// Microsoft attributes inside Vendor-Specific round-trip and are recognised.
    #[test]
    fn microsoft_attribute_round_trips((vtype, value) in ms_value()) {
        let mut vsa = VENDOR_MICROSOFT.to_be_bytes().to_vec();
        vsa.push(vtype);
        vsa.push((value.len() + 2) as u8);
        vsa.extend_from_slice(&value);
        let a = Attribute::decode(26, &vsa);
        let Attribute::VendorSpecific(VendorSpecific::Microsoft(ms)) = a else {
            return Err(TestCaseError::fail(format!("not Microsoft: {a:?}")));
        };
        prop_assert_eq!(ms.type_code(), vtype);
        prop_assert_eq!(ms, MsAttribute::decode(vtype, &value));
        let mut out = Vec::new();
        a.encode_value(&mut out);
        prop_assert_eq!(out, vsa);
    }

    /// Packets built from arbitrary attributes parse back to the same attributes and
    /// octets.
    #[test]
    fn packet_round_trips(
        code in any::<u8>(),
        id in any::<u8>(),
        auth in any::<[u8; 16]>(),
        attrs in proptest::collection::vec(any_attribute(), 0..20),
    ) {
        let mut out = Vec::new();
        let mut w = PacketWriter::new(&mut out, Code(code), id, auth);
        let mut pushed = Vec::new();
        for (t, v) in &attrs {
            if w.push_raw(*t, v).is_ok() {
                pushed.push((*t, v.clone()));
            }
        }
        w.finish_request(b"secret");
        let p = Packet::parse(&out).unwrap();
        prop_assert_eq!(p.code(), Code(code));
        prop_assert_eq!(p.identifier(), id);
        prop_assert_eq!(p.authenticator(), auth);
        let got: Vec<_> = p.attributes().map(|a| (a.typ, a.value.to_vec())).collect();
        prop_assert_eq!(got, pushed);
        let mut again = Vec::new();
        p.encode(&mut again);
        prop_assert_eq!(again, out.clone());
        prop_assert!(out.len() <= 4096);
    }

    /// Arbitrary datagrams never make the parser panic, and what parses re-encodes to a
    /// prefix of the input (octets past Length are padding).
    #[test]
    fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(p) = Packet::parse(&data) {
            let mut out = Vec::new();
            p.encode(&mut out);
            prop_assert!(data.starts_with(&out));
            for a in p.typed_attributes() {
                let mut v = Vec::new();
                a.encode(&mut v).unwrap();
            }
            let _ = p.eap_message();
            let _ = p.verify_message_authenticator(&[0; 16], b"s");
            let _ = p.verify_response_authenticator(&[0; 16], b"s");
        }
    }

    /// Header-shaped inputs: a plausible header with random attributes.
    #[test]
    fn parse_never_panics_on_plausible_headers(
        code in any::<u8>(), len in 0u16..5000, body in proptest::collection::vec(any::<u8>(), 0..300)
    ) {
        let mut data = vec![code, 1];
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(&[0; 16]);
        data.extend_from_slice(&body);
        if let Ok(p) = Packet::parse(&data) {
            prop_assert_eq!(p.as_bytes().len(), usize::from(len));
        }
    }

    /// EAP-Message: a long EAP packet is split into 253-octet attributes and joined back.
    #[test]
    fn eap_message_split_and_join(msg in proptest::collection::vec(any::<u8>(), 1..3000)) {
        let mut out = Vec::new();
        let mut w = PacketWriter::new(&mut out, Code::ACCESS_REQUEST, 0, [0; 16]);
        w.push_message_authenticator().unwrap();
        w.push_split(79, &msg).unwrap();
        w.finish_request(b"s");
        let p = Packet::parse(&out).unwrap();
        prop_assert_eq!(p.eap_message().unwrap(), msg.clone());
        prop_assert_eq!(p.attributes().filter(|a| a.typ == 79).count(), msg.len().div_ceil(253));
        prop_assert_eq!(p.verify_message_authenticator(&[0; 16], b"s"), Some(true));
    }

    /// User-Password hiding round-trips for any password without trailing NULs.
    #[test]
    fn user_password_round_trips(
        mut pw in proptest::collection::vec(any::<u8>(), 1..=128),
        secret in proptest::collection::vec(any::<u8>(), 1..40),
        ra in any::<[u8; 16]>(),
    ) {
        if let Some(last) = pw.last_mut() { *last |= 1; }
        let mut hidden = Vec::new();
        crypto::hide_user_password(&pw, &secret, &ra, &mut hidden).unwrap();
        prop_assert_eq!(hidden.len() % 16, 0);
        let back = crypto::recover_user_password(&hidden, &secret, &ra).unwrap();
        prop_assert_eq!(&back[..], &pw[..]);
    }

    /// The salted encryption (MPPE keys, Tunnel-Password) round-trips.
    #[test]
    fn salted_round_trips(
        value in proptest::collection::vec(any::<u8>(), 0..=200),
        secret in proptest::collection::vec(any::<u8>(), 1..40),
        ra in any::<[u8; 16]>(),
        salt in any::<[u8; 2]>(),
    ) {
        let mut enc = Vec::new();
        crypto::salt_encrypt(&value, &secret, &ra, salt, &mut enc).unwrap();
        prop_assert!(enc[0] & 0x80 != 0);
        let back = crypto::salt_decrypt(&enc[2..], &secret, &ra, [enc[0], enc[1]]).unwrap();
        prop_assert_eq!(&back[..], &value[..]);
    }
}

/// Every type the tables know decodes to a typed variant for a value of its natural size,
/// so the round-trip property above covers the typed encoders too.
#[test]
fn every_known_type_has_a_typed_decoding() {
    let sizes = [1usize, 4, 16, 17, 18, 19, 34, 50, 5];
    for typ in 0..=255u8 {
        let Some(name) = Attribute::name_of(typ) else { continue };
        let typed = sizes.iter().any(|&n| {
            let mut v = vec![0x41u8; n];
            if typ == 26 {
                v = [&VENDOR_MICROSOFT.to_be_bytes()[..], &[11, 4, 1, 2]].concat();
            }
            !matches!(Attribute::decode(typ, &v), Attribute::Unknown { .. })
        });
        assert!(typed, "{name} ({typ}) never decodes typed");
    }
    let mut known = 0;
    for typ in 0..=255u8 {
        let Some(name) = MsAttribute::name_of(typ) else { continue };
        known += 1;
        let typed = sizes
            .iter()
            .any(|&n| !matches!(MsAttribute::decode(typ, &vec![0x41u8; n]), MsAttribute::Unknown { .. }));
        assert!(typed, "MS {name} ({typ}) never decodes typed");
    }
    assert_eq!(known, 32, "RFC 2548 defines 32 attributes (1-31 and 33)");
}

/// Malformed values of known types are kept raw (RFC 6929 §2.8), not dropped.
#[test]
fn invalid_known_attributes_are_kept_raw() {
    assert_eq!(Attribute::decode(5, &[1, 2, 3]), Attribute::Unknown { typ: 5, value: &[1, 2, 3] });
    assert_eq!(Attribute::decode(3, &[1; 5]), Attribute::Unknown { typ: 3, value: &[1; 5] });
    assert_eq!(Attribute::decode(80, &[0; 15]), Attribute::Unknown { typ: 80, value: &[0; 15] });
    assert_eq!(Attribute::decode(26, &[0, 0]), Attribute::Unknown { typ: 26, value: &[0, 0] });
    // A Microsoft VSA holding two sub-attributes stays raw vendor data.
    let two = [&VENDOR_MICROSOFT.to_be_bytes()[..], &[7, 6, 0, 0, 0, 1, 8, 6, 0, 0, 0, 6]].concat();
    assert!(matches!(
        Attribute::decode(26, &two),
        Attribute::VendorSpecific(VendorSpecific::Other { vendor_id: 311, .. })
    ));
}

#[test]
fn oversized_packets_and_values_are_refused() {
    let mut out = Vec::new();
    let mut w = PacketWriter::new(&mut out, Code::ACCESS_REQUEST, 0, [0; 16]);
    assert!(w.push_raw(1, &[0; 254]).is_err());
    let mut n = 0;
    while w.push_raw(1, &[0; 253]).is_ok() {
        n += 1;
    }
    assert_eq!(n, (4096 - 20) / 255);
    let before = w.len();
    assert!(w.push_split(79, &[0; 600]).is_err());
    assert_eq!(w.len(), before, "a refused split leaves nothing behind");
    assert!(Packet::parse(w.finish_request(b"s")).is_ok());
}

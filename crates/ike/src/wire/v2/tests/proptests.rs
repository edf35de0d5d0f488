//! Property tests: generated values of every payload type survive encode → parse
//! unchanged, and no input makes a parser panic; whatever parses re-encodes to the same
//! bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

/// Test values borrow from leaked buffers so strategies can yield `Payload<'static>`.
fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

fn bytes(range: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = &'static [u8]> {
    prop::collection::vec(any::<u8>(), range).prop_map(leak)
}

fn attribute() -> impl Strategy<Value = Attribute<'static>> {
    prop_oneof![
        (0u16..0x8000, any::<u16>())
            .prop_map(|(kind, v)| Attribute { kind, value: AttributeValue::Basic(v) }),
        (0u16..0x8000, bytes(0..=12))
            .prop_map(|(kind, b)| Attribute { kind, value: AttributeValue::Variable(b) }),
    ]
}

fn transform() -> impl Strategy<Value = Transform<'static>> {
    (any::<[u8; 2]>(), any::<u8>(), any::<u16>(), prop::collection::vec(attribute(), 0..4)).prop_map(
        |(reserved, ty, id, attributes)| Transform {
            reserved,
            transform_type: ty.into(),
            transform_id: id,
            attributes,
        },
    )
}

fn proposal() -> impl Strategy<Value = Proposal<'static>> {
    (any::<u8>(), any::<u8>(), any::<u8>(), bytes(0..=8), prop::collection::vec(transform(), 0..6)).prop_map(
        |(reserved, number, protocol, spi, transforms)| Proposal {
            reserved,
            number,
            protocol_id: protocol.into(),
            spi,
            transforms,
        },
    )
}

fn sa() -> impl Strategy<Value = Payload<'static>> {
    prop::collection::vec(proposal(), 0..4)
        .prop_map(|proposals| Payload::SecurityAssociation(SecurityAssociation { proposals }))
}

fn ke() -> impl Strategy<Value = Payload<'static>> {
    (any::<u16>(), any::<u16>(), bytes(0..=64))
        .prop_map(|(g, reserved, data)| Payload::KeyExchange(KeyExchange { group: g.into(), reserved, data }))
}

fn identification() -> impl Strategy<Value = Identification<'static>> {
    (any::<u8>(), any::<[u8; 3]>(), prop::collection::vec(any::<u8>(), 0..=32)).prop_map(
        |(ty, reserved, mut data)| {
            let id_type = IdType::from(ty);
            match id_type {
                IdType::Ipv4Addr => data.resize(4, 1),
                IdType::Ipv6Addr => data.resize(16, 1),
                _ => {}
            }
            Identification { id_type, reserved, data: leak(data) }
        },
    )
}

fn id() -> impl Strategy<Value = Payload<'static>> {
    (any::<bool>(), identification()).prop_map(|(initiator, id)| {
        if initiator { Payload::IdentificationInitiator(id) } else { Payload::IdentificationResponder(id) }
    })
}

fn cert() -> impl Strategy<Value = Payload<'static>> {
    (any::<bool>(), any::<u8>(), bytes(0..=48)).prop_map(|(request, encoding, data)| {
        let c = Certificate { encoding: encoding.into(), data };
        if request { Payload::CertificateRequest(c) } else { Payload::Certificate(c) }
    })
}

fn auth() -> impl Strategy<Value = Payload<'static>> {
    (any::<u8>(), any::<[u8; 3]>(), bytes(0..=64)).prop_map(|(method, reserved, data)| {
        Payload::Authentication(Authentication { method: method.into(), reserved, data })
    })
}

fn nonce() -> impl Strategy<Value = Payload<'static>> {
    bytes(0..=64).prop_map(Payload::Nonce)
}

fn vendor_id() -> impl Strategy<Value = Payload<'static>> {
    bytes(0..=32).prop_map(Payload::VendorId)
}

fn notify() -> impl Strategy<Value = Payload<'static>> {
    (any::<u8>(), bytes(0..=16), any::<u16>(), bytes(0..=32)).prop_map(|(protocol, spi, ty, data)| {
        Payload::Notify(Notify { protocol_id: protocol.into(), spi, notify_type: ty.into(), data })
    })
}

fn delete() -> impl Strategy<Value = Payload<'static>> {
    (any::<u8>(), 0u8..=8, 0u16..6)
        .prop_flat_map(|(protocol, size, count)| {
            let n = usize::from(size) * usize::from(count);
            (Just(protocol), Just(size), Just(count), bytes(n..=n))
        })
        .prop_map(|(protocol, spi_size, spi_count, spis)| {
            Payload::Delete(Delete { protocol_id: protocol.into(), spi_size, spi_count, spis })
        })
}

fn selector() -> impl Strategy<Value = TrafficSelector<'static>> {
    prop_oneof![
        (any::<u8>(), any::<u16>(), any::<u16>(), any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(
            |(ip_protocol, start_port, end_port, s, e)| TrafficSelector::Ipv4 {
                ip_protocol,
                start_port,
                end_port,
                start: Ipv4Addr::from(s),
                end: Ipv4Addr::from(e),
            }
        ),
        (any::<u8>(), any::<u16>(), any::<u16>(), any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(
            |(ip_protocol, start_port, end_port, s, e)| TrafficSelector::Ipv6 {
                ip_protocol,
                start_port,
                end_port,
                start: Ipv6Addr::from(s),
                end: Ipv6Addr::from(e),
            }
        ),
        (any::<u8>().prop_filter("not an address range", |t| *t != 7 && *t != 8), any::<u8>(), bytes(0..=24))
            .prop_map(|(t, second_byte, data)| TrafficSelector::Other {
                ts_type: t.into(),
                second_byte,
                data
            }),
    ]
}

fn ts() -> impl Strategy<Value = Payload<'static>> {
    (any::<bool>(), any::<[u8; 3]>(), prop::collection::vec(selector(), 0..5)).prop_map(
        |(initiator, reserved, selectors)| {
            let ts = TrafficSelectors { reserved, selectors };
            if initiator {
                Payload::TrafficSelectorsInitiator(ts)
            } else {
                Payload::TrafficSelectorsResponder(ts)
            }
        },
    )
}

fn cfg_attribute() -> impl Strategy<Value = CfgAttribute<'static>> {
    let select = |types: &[u16]| prop::sample::select(types.to_vec()).prop_map(CfgAttributeType::from);
    let value = prop_oneof![
        (0u16..0x8000).prop_map(|t| (CfgAttributeType::from(t), CfgValue::Empty)),
        (select(&[1, 2, 3, 4, 6]), any::<[u8; 4]>()).prop_map(|(t, a)| (t, CfgValue::Ipv4(a.into()))),
        (select(&[13]), any::<[u8; 4]>(), any::<[u8; 4]>())
            .prop_map(|(t, a, m)| (t, CfgValue::Ipv4Subnet { addr: a.into(), mask: m.into() })),
        (select(&[8, 15]), any::<[u8; 16]>(), any::<u8>())
            .prop_map(|(t, a, prefix_len)| (t, CfgValue::Ipv6Prefix { addr: a.into(), prefix_len })),
        (select(&[10, 12]), any::<[u8; 16]>()).prop_map(|(t, a)| (t, CfgValue::Ipv6(a.into()))),
        (select(&[7, 25]), bytes(1..=20)).prop_map(|(t, b)| (t, CfgValue::Text(b))),
        (select(&[14]), prop::collection::vec(any::<u8>(), 1..=5)).prop_map(|(t, mut b)| {
            b.extend_from_within(..);
            (t, CfgValue::AttributeTypes(leak(b)))
        }),
        (
            (0u16..0x8000).prop_filter("unknown type", |t| !CfgAttributeType::from(*t).is_known()),
            bytes(1..=20)
        )
            .prop_map(|(t, b)| (CfgAttributeType::from(t), CfgValue::Raw(b))),
    ];
    (any::<bool>(), value).prop_map(|(reserved_bit, (attribute_type, value))| CfgAttribute {
        reserved_bit,
        attribute_type,
        value,
    })
}

fn cp() -> impl Strategy<Value = Payload<'static>> {
    (any::<u8>(), any::<[u8; 3]>(), prop::collection::vec(cfg_attribute(), 0..6)).prop_map(
        |(t, reserved, attributes)| {
            Payload::Configuration(Configuration { cfg_type: t.into(), reserved, attributes })
        },
    )
}

fn eap() -> impl Strategy<Value = Payload<'static>> {
    prop_oneof![
        (1u8..=2, any::<u8>(), any::<u8>(), bytes(0..=40)).prop_map(|(code, identifier, t, data)| Eap {
            code: code.into(),
            identifier,
            eap_type: Some(t.into()),
            data
        }),
        (any::<u8>().prop_filter("no Type field", |c| *c != 1 && *c != 2), any::<u8>(), bytes(0..=8))
            .prop_map(|(code, identifier, data)| Eap { code: code.into(), identifier, eap_type: None, data }),
    ]
    .prop_map(Payload::ExtensibleAuthentication)
}

fn sk() -> impl Strategy<Value = Payload<'static>> {
    (any::<u8>(), bytes(0..=80))
        .prop_map(|(first, data)| Payload::Encrypted(Encrypted { first_inner: first.into(), data }))
}

fn skf() -> impl Strategy<Value = Payload<'static>> {
    (any::<u8>(), 1u16..=u16::MAX, any::<u16>(), bytes(0..=80)).prop_map(|(first, total, n, data)| {
        let fragment = Fragment { number: 1 + n % total, total };
        Payload::EncryptedFragment(EncryptedFragment { first_inner: first.into(), fragment, data })
    })
}

fn unknown() -> impl Strategy<Value = Payload<'static>> {
    (any::<u8>().prop_filter("unknown type", |t| !PayloadType::from(*t).is_known()), bytes(0..=32))
        .prop_map(|(payload_type, body)| Payload::Unknown { payload_type, body })
}

/// Any payload that may stand anywhere in a chain (not SK / SKF).
fn plain_payload() -> impl Strategy<Value = Payload<'static>> {
    prop_oneof![
        sa(),
        ke(),
        id(),
        cert(),
        auth(),
        nonce(),
        notify(),
        delete(),
        vendor_id(),
        ts(),
        cp(),
        eap(),
        unknown()
    ]
}

fn repr(payload: impl Strategy<Value = Payload<'static>>) -> impl Strategy<Value = PayloadRepr<'static>> {
    (any::<bool>(), 0u8..0x80, payload).prop_map(|(critical, reserved, payload)| PayloadRepr {
        critical,
        reserved,
        payload,
    })
}

fn message() -> impl Strategy<Value = MessageRepr<'static>> {
    (
        any::<([u8; 8], [u8; 8])>(),
        0x20u8..=0x2f,
        any::<(u8, u8, u32)>(),
        prop::collection::vec(repr(plain_payload()), 0..6),
        prop::option::of(repr(prop_oneof![sk(), skf()])),
    )
        .prop_map(|((ispi, rspi), version, (exchange, flags, message_id), mut payloads, last)| {
            payloads.extend(last);
            MessageRepr {
                header: Header {
                    initiator_spi: ispi,
                    responder_spi: rspi,
                    next_payload: PayloadType::None,
                    version,
                    exchange_type: exchange.into(),
                    flags: Flags(flags),
                    message_id,
                    length: 0,
                },
                payloads,
            }
        })
}

/// Encodes one payload alone in a message and checks it parses back identical.
fn check_payload(payload: &Payload<'static>, critical: bool) -> Result<(), TestCaseError> {
    let repr = PayloadRepr { critical, reserved: 0, payload: payload.clone() };
    let message =
        MessageRepr { header: header(ExchangeType::IkeAuth, Flags::INITIATOR, 7), payloads: vec![repr] };
    let mut out = Vec::new();
    message.encode(&mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let parsed = MessageRepr::parse(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&parsed.payloads, &message.payloads);
    // The body parser alone agrees, and re-encodes the body byte for byte.
    let raw = Message::parse(&out).unwrap().payloads().next().unwrap().unwrap();
    let mut body = Vec::new();
    raw.parse().unwrap().encode_body(&mut body).unwrap();
    prop_assert_eq!(body.as_slice(), raw.body);
    Ok(())
}

/// Feeds arbitrary bytes to every view; whatever parses must re-encode to the input.
fn check_arbitrary_message(data: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(message) = Message::parse(data) {
        for p in message.payloads() {
            let Ok(p) = p else { break };
            let _ = p.parse();
        }
        let _ = message.unsupported_critical_payload();
        let _ = message.encrypted(16, 16);
        let _ = message.encrypted(8, 12);
    }
    if let Ok(repr) = MessageRepr::parse(data) {
        let mut out = Vec::new();
        repr.encode(&mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(out.as_slice(), data);
    }
    Ok(())
}

macro_rules! payload_round_trips {
    ($($name:ident => $strategy:expr,)*) => {
        proptest! {
            $(
                #[test]
                fn $name(payload in $strategy, critical in any::<bool>()) {
                    check_payload(&payload, critical)?;
                }
            )*
        }
    };
}

payload_round_trips! {
    sa_round_trips => sa(),
    ke_round_trips => ke(),
    id_round_trips => id(),
    cert_and_certreq_round_trip => cert(),
    auth_round_trips => auth(),
    nonce_round_trips => nonce(),
    notify_round_trips => notify(),
    delete_round_trips => delete(),
    vendor_id_round_trips => vendor_id(),
    ts_round_trips => ts(),
    sk_round_trips => sk(),
    cp_round_trips => cp(),
    eap_round_trips => eap(),
    skf_round_trips => skf(),
    unknown_payload_round_trips => unknown(),
}

proptest! {
    #[test]
    fn message_round_trips(message in message()) {
        let mut out = Vec::new();
        let len = message.encode(&mut out).unwrap();
        prop_assert_eq!(len, out.len());
        let parsed = MessageRepr::parse(&out).unwrap();
        prop_assert_eq!(&parsed.payloads, &message.payloads);
        let expected_first = message.payloads.first().map_or(PayloadType::None, |p| p.payload.payload_type());
        let length = u32::try_from(len).unwrap();
        prop_assert_eq!(parsed.header, Header { next_payload: expected_first, length, ..message.header });
        let mut again = Vec::new();
        parsed.encode(&mut again).unwrap();
        prop_assert_eq!(again, out);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..400)) {
        check_arbitrary_message(&data)?;
    }

    #[test]
    fn parse_never_panics_on_arbitrary_chains(
        first in any::<u8>(),
        mut chain in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        // A valid header in front, so the chain parsers are what is exercised.
        let mut data = Vec::new();
        let mut h = header(ExchangeType::IkeAuth, Flags::RESPONSE, 3);
        h.next_payload = first.into();
        h.length = u32::try_from(HEADER_LEN + chain.len()).unwrap();
        h.encode(&mut data);
        data.append(&mut chain);
        check_arbitrary_message(&data)?;
    }

    #[test]
    fn mutated_valid_messages_never_panic_and_round_trip_when_accepted(
        message in message(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut data = Vec::new();
        message.encode(&mut data).unwrap();
        for (at, value) in flips {
            let i = at.index(data.len());
            data[i] = value;
        }
        if truncate {
            data.truncate(cut.index(data.len() + 1));
            if data.len() >= HEADER_LEN {
                let len = u32::try_from(data.len()).unwrap();
                data[24..28].copy_from_slice(&len.to_be_bytes());
            }
        }
        check_arbitrary_message(&data)?;
    }

    #[test]
    fn body_parsers_reencode_exactly_what_they_accept(
        ty in prop::sample::select(
            vec![33u8, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 53, 200],
        ),
        next in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        if let Ok(payload) = Payload::parse(ty.into(), next.into(), &body) {
            let mut out = Vec::new();
            payload.encode_body(&mut out).unwrap();
            prop_assert_eq!(out, body);
        }
    }

    #[test]
    fn pad_then_unpad(chain in prop::collection::vec(any::<u8>(), 0..100), block in 1usize..=16) {
        let mut out = vec![0xee; 3];
        out.extend_from_slice(&chain);
        pad(&mut out, 3, block);
        prop_assert_eq!((out.len() - 3) % block, 0);
        prop_assert_eq!(unpad(&out[3..]).unwrap(), chain.as_slice());
    }
}

use proptest::prelude::*;

use super::*;

fn header(next: PayloadType, exchange: ExchangeType, flags: u8, message_id: u32) -> Header {
    Header {
        initiator_spi: [1, 2, 3, 4, 5, 6, 7, 8],
        responder_spi: [9; 8],
        next_payload: next,
        version: Header::VERSION_1_0,
        exchange_type: exchange,
        flags: Flags(flags),
        message_id,
        length: 0,
    }
}

fn round_trip(repr: &MessageRepr<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    repr.encode(&mut out);
    let parsed = MessageRepr::parse(&out).unwrap();
    assert_eq!(parsed.payloads, repr.payloads);
    let mut again = Vec::new();
    parsed.encode(&mut again);
    assert_eq!(again, out);
    out
}

/// A Main Mode first message with two ESP-style transforms and every attribute form.
#[test]
fn sa_with_proposals_transforms_and_attributes() {
    let t1 = Transform {
        number: 1,
        transform_id: KEY_IKE,
        attributes: vec![
            Attribute::basic(IkeAttributeType::EncryptionAlgorithm.into(), 7),
            Attribute::basic(IkeAttributeType::KeyLength.into(), 256),
            Attribute::basic(IkeAttributeType::HashAlgorithm.into(), 2),
            Attribute::basic(IkeAttributeType::AuthenticationMethod.into(), 1),
            Attribute::basic(IkeAttributeType::GroupDescription.into(), 14),
            Attribute::basic(IkeAttributeType::LifeType.into(), 1),
            Attribute {
                kind: IkeAttributeType::LifeDuration.into(),
                value: AttributeValue::Variable(&[0x00, 0x01, 0x51, 0x80]),
            },
        ],
    };
    let t2 = Transform { number: 2, transform_id: KEY_IKE, attributes: vec![Attribute::basic(1, 5)] };
    let sa = SecurityAssociation {
        doi: DOI_IPSEC,
        situation: 1,
        proposals: vec![Proposal {
            number: 1,
            protocol_id: ProtocolId::Isakmp,
            spi: &[],
            transforms: vec![t1.clone(), t2],
        }],
    };
    let repr = MessageRepr {
        header: header(PayloadType::None, ExchangeType::IdentityProtection, 0, 0),
        payloads: vec![Payload::SecurityAssociation(sa), Payload::VendorId(&[0xaf, 0xca, 0xd7, 0x13])],
    };
    let bytes = round_trip(&repr);
    // Header: first payload SA (1), version 0x10, exchange 2, total length.
    assert_eq!(bytes[16], 1);
    assert_eq!(bytes[17], 0x10);
    assert_eq!(bytes[18], 2);
    assert_eq!(u32::from_be_bytes(bytes[24..28].try_into().unwrap()) as usize, bytes.len());
    assert_eq!(t1.basic(IkeAttributeType::KeyLength.into()), Some(256));
    assert_eq!(t1.integer(IkeAttributeType::LifeDuration.into()), Some(86400));
    assert_eq!(t1.basic(IkeAttributeType::LifeDuration.into()), None);
}

/// Phase-2 payloads, notifications, deletes and both NAT-T numberings.
#[test]
fn quick_mode_and_nat_t_payloads() {
    let repr = MessageRepr {
        header: header(PayloadType::None, ExchangeType::QuickMode, 0, 0x09f0_3f91),
        payloads: vec![
            Payload::Hash(&[0x11; 20]),
            Payload::SecurityAssociation(SecurityAssociation {
                doi: DOI_IPSEC,
                situation: 1,
                proposals: vec![Proposal {
                    number: 1,
                    protocol_id: ProtocolId::IpsecEsp,
                    spi: &[0xf6, 0x40, 0x9d, 0x78],
                    transforms: vec![Transform {
                        number: 1,
                        transform_id: 12,
                        attributes: vec![
                            Attribute::basic(IpsecAttributeType::EncapsulationMode.into(), 4),
                            Attribute::basic(IpsecAttributeType::KeyLength.into(), 128),
                        ],
                    }],
                }],
            }),
            Payload::Nonce(&[0x22; 32]),
            Payload::KeyExchange(&[0x33; 64]),
            Payload::Identification(Identification {
                id_type: IdType::Ipv4Addr,
                protocol_id: 17,
                port: 1701,
                data: &[192, 0, 2, 1],
            }),
            Payload::NatOriginalAddress {
                draft: false,
                address: NatOriginalAddress { id_type: IdType::Ipv4Addr, address: &[10, 0, 0, 1] },
            },
            Payload::NatOriginalAddress {
                draft: true,
                address: NatOriginalAddress { id_type: IdType::Ipv6Addr, address: &[0xfe; 16] },
            },
            Payload::NatDiscovery { draft: false, hash: &[0x44; 20] },
            Payload::NatDiscovery { draft: true, hash: &[0x55; 20] },
            Payload::Notification(Notification {
                doi: DOI_IPSEC,
                protocol_id: ProtocolId::Isakmp,
                notify_type: NotifyType::RUThere,
                spi: &[0xab; 16],
                data: &[0, 0, 0, 7],
            }),
            Payload::Delete(Delete {
                doi: DOI_IPSEC,
                protocol_id: ProtocolId::IpsecEsp,
                spi_size: 4,
                spi_count: 2,
                spis: &[1, 2, 3, 4, 5, 6, 7, 8],
            }),
            Payload::Certificate(Certificate { encoding: CertEncoding::X509Signature, data: &[0x30, 0x82] }),
            Payload::CertificateRequest(Certificate { encoding: CertEncoding::X509Signature, data: &[] }),
            Payload::Signature(&[0x66; 8]),
            Payload::Unknown { payload_type: 200, body: &[1, 2, 3] },
        ],
    };
    let bytes = round_trip(&repr);
    let parsed = MessageRepr::parse(&bytes).unwrap();
    let types: Vec<u8> = parsed.payloads.iter().map(|p| p.payload_type().into()).collect();
    assert_eq!(types, [8, 1, 10, 4, 5, 21, 131, 20, 130, 11, 12, 6, 7, 9, 200]);
    if let Payload::Delete(d) = &parsed.payloads[10] {
        let spis: Vec<&[u8]> = d.spis().collect();
        assert_eq!(spis, [&[1, 2, 3, 4][..], &[5, 6, 7, 8][..]]);
    } else {
        panic!("not a delete");
    }
}

#[test]
fn rejects_malformed_messages() {
    let repr = MessageRepr {
        header: header(PayloadType::None, ExchangeType::Informational, 0, 5),
        payloads: vec![Payload::Hash(&[1; 20]), Payload::Nonce(&[2; 16])],
    };
    let mut good = Vec::new();
    repr.encode(&mut good);
    assert!(MessageRepr::parse(&good).is_ok());

    // Truncated header.
    assert_eq!(Message::parse(&good[..27]).unwrap_err(), ParseError::Truncated { what: "ISAKMP header" });
    // Length field disagrees with the datagram.
    assert!(matches!(Message::parse(&good[..good.len() - 1]).unwrap_err(), ParseError::BadLength { .. }));
    // Wrong major version.
    let mut v2 = good.clone();
    v2[17] = 0x20;
    assert_eq!(Message::parse(&v2).unwrap_err(), ParseError::Version(0x20));
    // A payload length running past the end.
    let mut long = good.clone();
    long[HEADER_LEN + 3] = 0xff;
    assert!(matches!(MessageRepr::parse(&long).unwrap_err(), ParseError::BadLength { .. }));
    // A payload length under the generic header.
    let mut short = good.clone();
    short[HEADER_LEN + 2] = 0;
    short[HEADER_LEN + 3] = 3;
    assert!(MessageRepr::parse(&short).is_err());
    // Trailing bytes after the last payload of a plaintext message.
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0; 4]);
    let n = trailing.len() as u32;
    trailing[24..28].copy_from_slice(&n.to_be_bytes());
    assert!(MessageRepr::parse(&trailing).is_err());
    // Payloads of an encrypted message are not read.
    let mut enc = good.clone();
    enc[19] = Flags::ENCRYPTION;
    let m = Message::parse(&enc).unwrap();
    assert!(m.header.flags.encrypted());
    assert!(m.payloads().is_err());
}

#[test]
fn rejects_malformed_payload_bodies() {
    // Proposal saying 2 transforms but carrying one.
    let mut p = Vec::new();
    Proposal {
        number: 1,
        protocol_id: ProtocolId::IpsecEsp,
        spi: &[1, 2, 3, 4],
        transforms: vec![Transform { number: 1, transform_id: 12, attributes: vec![] }],
    }
    .encode_body(&mut p);
    assert!(Proposal::parse(&p).is_ok());
    p[3] = 2;
    assert!(Proposal::parse(&p).is_err());
    // SPI size past the end.
    assert!(Proposal::parse(&[1, 3, 200, 0]).is_err());
    // Variable attribute longer than the data.
    assert!(Attribute::parse(&[0x00, 0x0c, 0x00, 0x08, 1, 2]).is_err());
    // Delete with SPI bytes not matching size × count.
    assert!(Delete::parse(&[0, 0, 0, 1, 3, 4, 0, 2, 1, 2, 3, 4]).is_err());
    // NAT-OA IPv4 with a 16-byte address.
    let mut oa = vec![1, 0, 0, 0];
    oa.extend_from_slice(&[0; 16]);
    assert!(NatOriginalAddress::parse(&oa).is_err());
    // Labeled-domain situation.
    assert!(SecurityAssociation::parse(&[0, 0, 0, 1, 0, 0, 0, 2]).is_err());
    // Notification SPI past the end.
    assert!(Notification::parse(&[0, 0, 0, 1, 1, 16, 0x8d, 0x28]).is_err());
    // Proposal chain using a non-proposal next type.
    let mut sa = Vec::new();
    SecurityAssociation {
        doi: 1,
        situation: 1,
        proposals: vec![
            Proposal { number: 1, protocol_id: ProtocolId::Isakmp, spi: &[], transforms: vec![] };
            2
        ],
    }
    .encode_body(&mut sa);
    assert!(SecurityAssociation::parse(&sa).is_ok());
    sa[8] = 13;
    assert!(SecurityAssociation::parse(&sa).is_err());
}

#[test]
fn code_enums_keep_unknown_values() {
    for v in 0..=255u8 {
        assert_eq!(u8::from(PayloadType::from(v)), v);
        assert_eq!(u8::from(ExchangeType::from(v)), v);
        assert_eq!(u8::from(IdType::from(v)), v);
        assert_eq!(u8::from(ProtocolId::from(v)), v);
        assert_eq!(u8::from(CertEncoding::from(v)), v);
    }
    for v in [0u16, 1, 14, 30, 31, 16384, 24578, 36136, 36137, 65535] {
        assert_eq!(u16::from(NotifyType::from(v)), v);
        assert_eq!(u16::from(EncapsulationMode::from(v)), v);
    }
    assert_eq!(NotifyType::from(36136), NotifyType::RUThere);
    assert_eq!(PayloadType::from(130), PayloadType::NatDiscoveryDraft);
}

// --- property tests -------------------------------------------------------------------

/// An owned payload that a borrowed [`Payload`] can be built from.
type OwnedAttribute = (u16, Result<u16, Vec<u8>>);
type OwnedTransform = (u8, u8, Vec<OwnedAttribute>);
type OwnedProposal = (u8, u8, Vec<u8>, Vec<OwnedTransform>);

#[derive(Debug, Clone)]
enum Owned {
    Sa(u32, Vec<OwnedProposal>),
    Bytes(u8, Vec<u8>),
    Id(u8, u8, u16, Vec<u8>),
    Cert(bool, u8, Vec<u8>),
    Notify(u8, u16, Vec<u8>, Vec<u8>),
    Delete(u8, u8, u16),
    NatOa(bool, bool, Vec<u8>),
    Unknown(u8, Vec<u8>),
}

fn owned() -> impl Strategy<Value = Owned> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
    let attr = (0u16..0x8000, prop_oneof![any::<u16>().prop_map(Ok), bytes().prop_map(Err)]);
    let transform = (any::<u8>(), any::<u8>(), proptest::collection::vec(attr, 0..5));
    let proposal = (
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..9),
        proptest::collection::vec(transform, 0..4),
    );
    prop_oneof![
        (any::<u32>(), proptest::collection::vec(proposal, 0..3)).prop_map(|(d, p)| Owned::Sa(d, p)),
        (prop::sample::select(vec![4u8, 8, 9, 10, 13, 20, 130]), bytes())
            .prop_map(|(t, b)| Owned::Bytes(t, b)),
        (any::<u8>(), any::<u8>(), any::<u16>(), bytes()).prop_map(|(a, b, c, d)| Owned::Id(a, b, c, d)),
        (any::<bool>(), any::<u8>(), bytes()).prop_map(|(r, e, d)| Owned::Cert(r, e, d)),
        (any::<u8>(), any::<u16>(), bytes(), bytes()).prop_map(|(p, t, s, d)| Owned::Notify(p, t, s, d)),
        (any::<u8>(), 0u8..17, 0u16..4).prop_map(|(p, s, n)| Owned::Delete(p, s, n)),
        (any::<bool>(), any::<bool>(), bytes()).prop_map(|(d, v6, _)| Owned::NatOa(
            d,
            v6,
            vec![7; if v6 { 16 } else { 4 }]
        )),
        (prop::sample::select(vec![0u8, 2, 3, 14, 99, 255]).prop_filter("", |t| *t != 0), bytes())
            .prop_map(|(t, b)| Owned::Unknown(t, b)),
    ]
}

const DELETE_SPIS: [u8; 64] = [0x5a; 64];

fn borrow(o: &Owned) -> Payload<'_> {
    match o {
        Owned::Sa(doi, props) => Payload::SecurityAssociation(SecurityAssociation {
            doi: *doi,
            situation: 1,
            proposals: props
                .iter()
                .map(|(n, proto, spi, ts)| Proposal {
                    number: *n,
                    protocol_id: ProtocolId::from(*proto),
                    spi,
                    transforms: ts
                        .iter()
                        .map(|(tn, tid, attrs)| Transform {
                            number: *tn,
                            transform_id: *tid,
                            attributes: attrs
                                .iter()
                                .map(|(k, v)| Attribute {
                                    kind: *k,
                                    value: match v {
                                        Ok(b) => AttributeValue::Basic(*b),
                                        Err(b) => AttributeValue::Variable(b),
                                    },
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }),
        Owned::Bytes(t, b) => match t {
            4 => Payload::KeyExchange(b),
            8 => Payload::Hash(b),
            9 => Payload::Signature(b),
            10 => Payload::Nonce(b),
            13 => Payload::VendorId(b),
            20 => Payload::NatDiscovery { draft: false, hash: b },
            _ => Payload::NatDiscovery { draft: true, hash: b },
        },
        Owned::Id(t, p, port, d) => Payload::Identification(Identification {
            id_type: IdType::from(*t),
            protocol_id: *p,
            port: *port,
            data: d,
        }),
        Owned::Cert(req, e, d) => {
            let c = Certificate { encoding: CertEncoding::from(*e), data: d };
            if *req { Payload::CertificateRequest(c) } else { Payload::Certificate(c) }
        }
        Owned::Notify(p, t, s, d) => Payload::Notification(Notification {
            doi: 1,
            protocol_id: ProtocolId::from(*p),
            notify_type: NotifyType::from(*t),
            spi: s,
            data: d,
        }),
        Owned::Delete(p, s, n) => Payload::Delete(Delete {
            doi: 1,
            protocol_id: ProtocolId::from(*p),
            spi_size: *s,
            spi_count: *n,
            spis: &DELETE_SPIS[..usize::from(*s) * usize::from(*n)],
        }),
        Owned::NatOa(draft, v6, a) => Payload::NatOriginalAddress {
            draft: *draft,
            address: NatOriginalAddress {
                id_type: if *v6 { IdType::Ipv6Addr } else { IdType::Ipv4Addr },
                address: a,
            },
        },
        Owned::Unknown(t, b) => Payload::Unknown { payload_type: *t, body: b },
    }
}

proptest! {
    /// encode ∘ parse is the identity on every message this codec can build.
    #[test]
    fn message_round_trip(
        owned in proptest::collection::vec(owned(), 0..8),
        exchange in any::<u8>(),
        message_id in any::<u32>(),
    ) {
        let repr = MessageRepr {
            header: header(PayloadType::None, ExchangeType::from(exchange), 0, message_id),
            payloads: owned.iter().map(borrow).collect(),
        };
        let mut out = Vec::new();
        repr.encode(&mut out);
        let parsed = MessageRepr::parse(&out).unwrap();
        prop_assert_eq!(&parsed.payloads, &repr.payloads);
        let mut again = Vec::new();
        parsed.encode(&mut again);
        prop_assert_eq!(again, out);
    }

    /// Parsing arbitrary bytes never panics, and whatever parses re-encodes to itself.
    #[test]
    fn parse_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(repr) = MessageRepr::parse(&data) {
            let mut out = Vec::new();
            repr.encode(&mut out);
            let reparsed = MessageRepr::parse(&out).unwrap();
            prop_assert_eq!(reparsed.payloads, repr.payloads);
        }
        let _ = split_payload_chain(PayloadType::SecurityAssociation, &data);
        for t in [1u8, 2, 3, 5, 6, 7, 11, 12, 21, 131] {
            let _ = Payload::parse(PayloadType::from(t), &data);
        }
    }

    /// Arbitrary bytes behind a valid header: the payload chain parser never panics.
    #[test]
    fn parse_arbitrary_body(first in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut msg = Vec::new();
        let mut h = header(PayloadType::from(first), ExchangeType::IdentityProtection, 0, 0);
        h.length = (HEADER_LEN + body.len()) as u32;
        h.encode(&mut msg);
        msg.extend_from_slice(&body);
        let m = Message::parse(&msg).unwrap();
        let _ = m.payloads();
    }
}

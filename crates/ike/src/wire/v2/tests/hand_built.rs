//! Hand-built messages for every payload, with exact bytes where the layout is worth
//! spelling out (RFC 7296 §3).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

/// The payload chain of a round-tripped single-payload message (after the IKE header).
fn chain_bytes(payload: Payload<'_>) -> Vec<u8> {
    round_trip_one(payload)[HEADER_LEN..].to_vec()
}

#[test]
fn header_fields_and_flags() {
    let mut out = Vec::new();
    let h = header(ExchangeType::CreateChildSa, Flags::INITIATOR | Flags::RESPONSE, 0x0102_0304);
    MessageBuilder::new(&mut out, &h).finish().unwrap();
    assert_eq!(
        hex::encode(&out),
        "11223344556677889999999999999999\
         00 20 24 28 01020304 0000001c"
            .replace(' ', "")
    );
    let parsed = Message::parse(&out).unwrap();
    assert!(parsed.header.flags.initiator() && parsed.header.flags.response());
    assert_eq!(parsed.header.exchange_type, ExchangeType::CreateChildSa);
    assert_eq!(parsed.payloads().count(), 0);
    assert_eq!(u8::from(ExchangeType::IkeSaInit), 34);
    assert_eq!(u8::from(ExchangeType::IkeAuth), 35);
    assert_eq!(u8::from(ExchangeType::CreateChildSa), 36);
    assert_eq!(u8::from(ExchangeType::Informational), 37);
}

#[test]
fn sa_esp_proposal_with_spi_key_length_and_esn() {
    let sa = SecurityAssociation {
        proposals: vec![Proposal::new(
            1,
            ProtocolId::Esp,
            &[1, 2, 3, 4],
            vec![Transform::encryption(EncryptionId::AesGcm16, Some(256)), Transform::esn(EsnId::NoEsn)],
        )],
    };
    assert_eq!(
        hex::encode(chain_bytes(Payload::SecurityAssociation(sa))),
        "00000024\
         00000020 01030402 01020304\
         0300000c 01000014 800e0100\
         00000008 05000000"
            .replace(' ', "")
    );
}

#[test]
fn sa_several_proposals_unknown_transform_and_tlv_attribute() {
    let mut odd = Transform::new(TransformType::Unknown(200), 0xbeef);
    odd.attributes.push(Attribute { kind: 0x1234, value: AttributeValue::Variable(b"tlv value") });
    let sa = SecurityAssociation {
        proposals: vec![
            Proposal::new(
                1,
                ProtocolId::Ike,
                &[],
                vec![
                    Transform::encryption(EncryptionId::AesCbc, Some(256)),
                    Transform::prf(PrfId::HmacSha2_256),
                    Transform::integrity(IntegrityId::HmacSha2_256_128),
                    Transform::key_exchange(KeyExchangeId::Curve25519),
                    odd,
                ],
            ),
            Proposal::new(
                2,
                ProtocolId::Ike,
                &[],
                vec![
                    Transform::encryption(EncryptionId::ChaCha20Poly1305, None),
                    Transform::prf(PrfId::HmacSha2_512),
                    Transform::key_exchange(KeyExchangeId::Ecp256),
                ],
            ),
        ],
    };
    let bytes = round_trip_one(Payload::SecurityAssociation(sa));
    let repr = MessageRepr::parse(&bytes).unwrap();
    let Payload::SecurityAssociation(sa) = &repr.payloads[0].payload else { panic!("SA") };
    assert_eq!(sa.proposals[0].transforms[4].id(), TransformId::Other(0xbeef));
    assert_eq!(sa.proposals[0].transforms[3].id(), TransformId::KeyExchange(KeyExchangeId::Curve25519));
    assert_eq!(sa.proposals[1].transforms[0].key_length(), None);
    // "Last Substruc" of the first proposal says another follows.
    assert_eq!(bytes[HEADER_LEN + GENERIC_HEADER_LEN], 2);
}

#[test]
fn key_exchange() {
    let data = [0xaa; 64];
    let bytes = chain_bytes(Payload::KeyExchange(KeyExchange::new(KeyExchangeId::Ecp256, &data)));
    assert_eq!(hex::encode(&bytes[..8]), "0000004800130000");
    assert_eq!(&bytes[8..], &data);
}

#[test]
fn identification_of_every_type() {
    let v4 = [192, 0, 2, 1];
    let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets();
    let cases: [(IdType, &[u8]); 9] = [
        (IdType::Ipv4Addr, &v4),
        (IdType::Fqdn, b"vpn.example.com"),
        (IdType::Rfc822Addr, b"user@example.com"),
        (IdType::Ipv6Addr, &v6),
        (IdType::DerAsn1Dn, &[0x30, 0x00]),
        (IdType::DerAsn1Gn, &[0x82, 0x03, b'a', b'.', b'b']),
        (IdType::KeyId, &[1, 2, 3, 4, 5]),
        (IdType::FcName, &[9; 8]),
        (IdType::Null, &[]),
    ];
    for (id_type, data) in cases {
        let id = Identification::new(id_type, data);
        round_trip_one(Payload::IdentificationInitiator(id));
        round_trip_one(Payload::IdentificationResponder(id));
    }
    assert_eq!(
        Identification::new(IdType::Ipv4Addr, &v4).ip_addr(),
        Some(Ipv4Addr::new(192, 0, 2, 1).into())
    );
    assert_eq!(Identification::new(IdType::Ipv6Addr, &v6).ip_addr(), Some(Ipv6Addr::from(v6).into()));
    assert_eq!(Identification::new(IdType::Fqdn, b"x").ip_addr(), None);
    assert_eq!(
        hex::encode(chain_bytes(Payload::IdentificationInitiator(Identification::new(IdType::Fqdn, b"ab")))),
        "0000000a020000006162"
    );
}

#[test]
fn certificate_and_certificate_request() {
    let cert = Certificate { encoding: CertEncoding::X509Signature, data: &[0x30, 0x82, 0x01, 0x00] };
    assert_eq!(hex::encode(chain_bytes(Payload::Certificate(cert))), "000000090430820100");
    let hashes = [[1u8; 20], [2u8; 20]].concat();
    let req = Certificate { encoding: CertEncoding::X509Signature, data: &hashes };
    round_trip_one(Payload::CertificateRequest(req));
    assert_eq!(req.ca_key_hashes().map(Iterator::count), Some(2));
    assert!(Certificate { encoding: CertEncoding::X509Signature, data: &[0; 21] }.ca_key_hashes().is_none());
}

#[test]
fn authentication_methods() {
    let sig = [0x5a; 256];
    round_trip_one(Payload::Authentication(Authentication::new(AuthMethod::RsaDigitalSignature, &sig)));
    round_trip_one(Payload::Authentication(Authentication::new(AuthMethod::SharedKeyMic, &[7; 32])));
    round_trip_one(Payload::Authentication(Authentication::new(AuthMethod::EcdsaSha256P256, &[8; 64])));
    // RFC 7427: length of the AlgorithmIdentifier, the AlgorithmIdentifier, the signature.
    let mut data = vec![5, 0x30, 0x03, 0x06, 0x01, 0x00];
    data.extend_from_slice(&[9; 16]);
    let auth = Authentication::new(AuthMethod::DigitalSignature, &data);
    let bytes = chain_bytes(Payload::Authentication(auth));
    assert_eq!(hex::encode(&bytes[..6]), "0000001e0e00");
    let parts = auth.digital_signature().unwrap().unwrap();
    assert_eq!(parts.algorithm_identifier, [0x30, 0x03, 0x06, 0x01, 0x00]);
    assert_eq!(parts.signature, [9; 16]);
    assert_eq!(Authentication::new(AuthMethod::SharedKeyMic, &[1]).digital_signature(), Ok(None));
    assert!(Authentication::new(AuthMethod::DigitalSignature, &[6, 0]).digital_signature().is_err());
}

#[test]
fn nonce_and_vendor_id() {
    assert_eq!(hex::encode(chain_bytes(Payload::Nonce(&[0xab; 16]))), format!("00000014{}", "ab".repeat(16)));
    assert_eq!(hex::encode(chain_bytes(Payload::VendorId(b"strongSwan"))), "0000000e7374726f6e675377616e");
}

#[test]
fn notify_with_spi_and_without() {
    let rekey = Notify {
        protocol_id: ProtocolId::Esp,
        spi: &[0xde, 0xad, 0xbe, 0xef],
        notify_type: NotifyType::RekeySa,
        data: &[],
    };
    assert_eq!(hex::encode(chain_bytes(Payload::Notify(rekey))), "0000000c03044009deadbeef");
    let cookie = Notify::new(NotifyType::Cookie, &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        hex::encode(chain_bytes(Payload::Notify(cookie))),
        "000000100000400601020304050607 08".replace(' ', "")
    );
    let unknown = Notify::new(NotifyType::from(40000), b"private");
    assert_eq!(unknown.notify_type, NotifyType::Unknown(40000));
    round_trip_one(Payload::Notify(unknown));
    for ty in [
        NotifyType::UseTransportMode,
        NotifyType::InitialContact,
        NotifyType::MobikeSupported,
        NotifyType::Ikev2FragmentationSupported,
        NotifyType::ChildlessIkev2Supported,
        NotifyType::MultipleAuthSupported,
        NotifyType::NoProposalChosen,
        NotifyType::AuthenticationFailed,
    ] {
        round_trip_one(Payload::Notify(Notify::new(ty, &[])));
    }
    let invalid_ke = Notify::new(NotifyType::InvalidKePayload, &[0, 14]);
    assert!(invalid_ke.is_error());
    assert_eq!(invalid_ke.invalid_ke_payload_group(), Some(KeyExchangeId::Modp2048));
    assert_eq!(Notify::new(NotifyType::Cookie, &[0, 14]).invalid_ke_payload_group(), None);
    assert_eq!(
        Notify::new(NotifyType::SignatureHashAlgorithms, &[0, 2, 0]).signature_hash_algorithms().count(),
        0
    );
    assert!(!Notify::new(NotifyType::Cookie, &[]).is_error());
}

#[test]
fn delete_ike_sa_and_child_sas() {
    assert_eq!(hex::encode(chain_bytes(Payload::Delete(Delete::IKE_SA))), "0000000801000000");
    let spis = [1, 2, 3, 4, 5, 6, 7, 8];
    let d = Delete::child_sas(ProtocolId::Esp, &spis).unwrap();
    assert_eq!(hex::encode(chain_bytes(Payload::Delete(d))), "00000010030400020102030405060708");
    assert_eq!(d.spis().collect::<Vec<_>>(), [&[1, 2, 3, 4][..], &[5, 6, 7, 8][..]]);
    assert!(Delete::child_sas(ProtocolId::Esp, &[1, 2, 3]).is_none());
    assert_eq!(Delete::IKE_SA.spis().count(), 0);
}

#[test]
fn traffic_selectors_ipv4_ipv6_and_other() {
    let host = TrafficSelector::ipv4_host(Ipv4Addr::new(192, 0, 2, 1), 17, Some(1701));
    let ts = TrafficSelectors::new(vec![host]);
    assert_eq!(
        hex::encode(chain_bytes(Payload::TrafficSelectorsInitiator(ts))),
        "0000001801000000071100 1006a506a5c0000201c0000201".replace(' ', "")
    );
    let v6 = TrafficSelector::Ipv6 {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start: Ipv6Addr::UNSPECIFIED,
        end: Ipv6Addr::from([0xff; 16]),
    };
    let label =
        TrafficSelector::Other { ts_type: TsType::SecLabel, second_byte: 0, data: b"system_u:object_r" };
    let ts = TrafficSelectors::new(vec![TrafficSelector::IPV4_ANY, v6, label]);
    let bytes = round_trip_one(Payload::TrafficSelectorsResponder(ts));
    // Two address-range selectors of 16 and 40 bytes, one label of 4 + 17.
    assert_eq!(bytes.len(), HEADER_LEN + 4 + 4 + 16 + 40 + 21);
    assert_eq!(v6.ts_type(), TsType::Ipv6AddrRange);
}

#[test]
fn configuration_request_and_reply() {
    let request = Configuration::new(
        CfgType::Request,
        vec![
            CfgAttribute::request(CfgAttributeType::InternalIp4Address),
            CfgAttribute::request(CfgAttributeType::InternalIp4Dns),
        ],
    );
    assert_eq!(
        hex::encode(chain_bytes(Payload::Configuration(request))),
        "000000100100000000010000 00030000".replace(' ', "")
    );
    let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
    let reply = Configuration::new(
        CfgType::Reply,
        vec![
            CfgAttribute::new(
                CfgAttributeType::InternalIp4Address,
                CfgValue::Ipv4(Ipv4Addr::new(10, 0, 0, 2)),
            ),
            CfgAttribute::new(
                CfgAttributeType::InternalIp4Netmask,
                CfgValue::Ipv4(Ipv4Addr::new(255, 255, 255, 0)),
            ),
            CfgAttribute::new(CfgAttributeType::InternalIp4Dns, CfgValue::Ipv4(Ipv4Addr::new(10, 0, 0, 1))),
            CfgAttribute::new(CfgAttributeType::InternalIp4Nbns, CfgValue::Ipv4(Ipv4Addr::new(10, 0, 0, 1))),
            CfgAttribute::new(CfgAttributeType::InternalIp4Dhcp, CfgValue::Ipv4(Ipv4Addr::new(10, 0, 0, 1))),
            CfgAttribute::new(CfgAttributeType::ApplicationVersion, CfgValue::Text(b"l2sec 0.1")),
            CfgAttribute::new(
                CfgAttributeType::InternalIp6Address,
                CfgValue::Ipv6Prefix { addr: v6, prefix_len: 64 },
            ),
            CfgAttribute::new(CfgAttributeType::InternalIp6Dns, CfgValue::Ipv6(v6)),
            CfgAttribute::new(CfgAttributeType::InternalIp6Dhcp, CfgValue::Ipv6(v6)),
            CfgAttribute::new(
                CfgAttributeType::InternalIp4Subnet,
                CfgValue::Ipv4Subnet { addr: Ipv4Addr::new(10, 0, 0, 0), mask: Ipv4Addr::new(255, 0, 0, 0) },
            ),
            CfgAttribute::new(CfgAttributeType::SupportedAttributes, CfgValue::AttributeTypes(&[0, 1, 0, 3])),
            CfgAttribute::new(
                CfgAttributeType::InternalIp6Subnet,
                CfgValue::Ipv6Prefix { addr: v6, prefix_len: 48 },
            ),
            CfgAttribute::new(CfgAttributeType::InternalDnsDomain, CfgValue::Text(b"example.com")),
            CfgAttribute::new(CfgAttributeType::from(0x4321), CfgValue::Raw(b"vendor")),
        ],
    );
    let bytes = round_trip_one(Payload::Configuration(reply));
    let repr = MessageRepr::parse(&bytes).unwrap();
    let Payload::Configuration(cp) = &repr.payloads[0].payload else { panic!("CP") };
    assert_eq!(cp.cfg_type, CfgType::Reply);
    assert_eq!(
        cp.get(CfgAttributeType::InternalIp4Address).map(|a| a.value),
        Some(CfgValue::Ipv4(Ipv4Addr::new(10, 0, 0, 2)))
    );
    let supported: Vec<_> =
        cp.get(CfgAttributeType::SupportedAttributes).unwrap().supported_attributes().collect();
    assert_eq!(supported, [CfgAttributeType::InternalIp4Address, CfgAttributeType::InternalIp4Dns]);
    for ty in [CfgType::Set, CfgType::Ack] {
        round_trip_one(Payload::Configuration(Configuration::new(ty, vec![])));
    }
}

#[test]
fn eap_packets() {
    let identity = Eap::new(EapCode::Response, 5, EapType::Identity, b"user");
    assert_eq!(
        hex::encode(chain_bytes(Payload::ExtensibleAuthentication(identity))),
        "0000000d0205000901 75736572".replace(' ', "")
    );
    // An EAP-MSCHAPv2 Challenge: OpCode 1, MS-CHAPv2-ID, MS-Length, Value-Size 16, ...
    let mut challenge = vec![1, 7, 0, 26, 16];
    challenge.extend_from_slice(&[0x42; 16]);
    challenge.extend_from_slice(b"srv");
    let request = Eap::new(EapCode::Request, 7, EapType::MsChapV2, &challenge);
    let bytes = round_trip_one(Payload::ExtensibleAuthentication(request));
    assert_eq!(bytes[HEADER_LEN + 4..HEADER_LEN + 9], [1, 7, 0, 29, 26]);
    assert_eq!(
        hex::encode(chain_bytes(Payload::ExtensibleAuthentication(Eap::outcome(EapCode::Success, 8)))),
        "0000000803080004"
    );
    round_trip_one(Payload::ExtensibleAuthentication(Eap::outcome(EapCode::Failure, 9)));
    let expanded_data = [0, 0, 0x89, 0, 0, 0, 1, 0xee];
    let expanded = Eap::new(EapCode::Request, 1, EapType::Expanded, &expanded_data);
    round_trip_one(Payload::ExtensibleAuthentication(expanded));
    assert_eq!(expanded.expanded(), Some((0x89, 1, &[0xee][..])));
}

#[test]
fn unknown_payloads_round_trip_and_critical_ones_are_reported() {
    let h = header(ExchangeType::IkeAuth, Flags::INITIATOR, 1);
    let unknown = PayloadRepr::new(Payload::Unknown { payload_type: 200, body: b"opaque" });
    let critical = PayloadRepr {
        critical: true,
        reserved: 0,
        payload: Payload::Unknown { payload_type: 201, body: b"!" },
    };
    // A known payload with the critical bit (RFC 7296 §2.5: senders set it on
    // payloads they define as critical; receivers that know the type ignore it).
    let known_critical = PayloadRepr { critical: true, reserved: 0x7f, payload: Payload::Nonce(&[1; 16]) };

    let bytes = round_trip(h, vec![unknown.clone(), known_critical.clone()]);
    assert_eq!(Message::parse(&bytes).unwrap().unsupported_critical_payload(), Ok(None));

    let bytes = round_trip(h, vec![unknown, known_critical, critical]);
    let message = Message::parse(&bytes).unwrap();
    assert_eq!(message.unsupported_critical_payload(), Ok(Some(PayloadType::Unknown(201))));
    let answer = Notify::unsupported_critical_payload(PayloadType::Unknown(201));
    assert_eq!((answer.notify_type, answer.data), (NotifyType::UnsupportedCriticalPayload, &[201][..]));
    assert_eq!(Notify::unsupported_critical_payload(PayloadType::Unknown(255)).data, [255]);
}

#[test]
fn sk_payload_built_split_and_decrypted_inner_chain() {
    // Inner chain, padded for a 16-byte block cipher. (No cipher here: the "ciphertext"
    // is the padded plaintext, so the regions can be checked.)
    let mut plaintext = Vec::new();
    let mut inner = ChainBuilder::new(&mut plaintext);
    inner.push(&Payload::IdentificationInitiator(Identification::new(IdType::Fqdn, b"client"))).unwrap();
    inner.push(&Payload::Authentication(Authentication::new(AuthMethod::SharedKeyMic, &[3; 32]))).unwrap();
    inner
        .push(&Payload::Configuration(Configuration::new(
            CfgType::Request,
            vec![CfgAttribute::request(CfgAttributeType::InternalIp4Address)],
        )))
        .unwrap();
    let first_inner = inner.finish();
    assert_eq!(first_inner, PayloadType::IdentificationInitiator);
    let chain_len = plaintext.len();
    pad(&mut plaintext, 0, 16);
    assert_eq!(plaintext.len() % 16, 0);
    assert_eq!(usize::from(*plaintext.last().unwrap()), plaintext.len() - chain_len - 1);

    let iv = [0x1f; 16];
    let mut data = iv.to_vec();
    data.extend_from_slice(&plaintext);
    data.extend_from_slice(&[0; 16]);
    let mut out = Vec::new();
    let mut builder = MessageBuilder::new(&mut out, &header(ExchangeType::IkeAuth, Flags::INITIATOR, 1));
    builder.push(&Payload::Encrypted(Encrypted { first_inner, data: &data })).unwrap();
    assert_eq!(builder.push(&Payload::Nonce(&[0; 16])), Err(EncodeError::AfterEncrypted));
    let len = builder.finish().unwrap();
    // The caller computes the ICV over everything before it and writes it last.
    out[len - 16..].copy_from_slice(&[0xcc; 16]);

    let message = Message::parse(&out).unwrap();
    assert_eq!(message.header.next_payload, PayloadType::Encrypted);
    let view = message.encrypted(16, 16).unwrap();
    assert_eq!((view.iv, view.icv), (&iv[..], &[0xcc; 16][..]));
    assert_eq!(view.ciphertext, &plaintext[..]);
    assert_eq!(view.associated_data, &out[..HEADER_LEN + GENERIC_HEADER_LEN]);
    assert_eq!(view.integrity_covered, &out[..len - 16]);
    let inner = unpad(view.ciphertext).unwrap();
    let types: Vec<PayloadType> =
        PayloadIter::new(view.first_inner, inner).map(|p| p.unwrap().payload_type).collect();
    assert_eq!(
        types,
        [PayloadType::IdentificationInitiator, PayloadType::Authentication, PayloadType::Configuration]
    );
    // AEAD framing: 8-byte IV, 16-byte tag.
    let aead = message.encrypted(8, 16).unwrap();
    assert_eq!(aead.ciphertext.len(), view.ciphertext.len() + 8);
}

#[test]
fn skf_fragments() {
    let data = [0x77; 40];
    let first = EncryptedFragment {
        first_inner: PayloadType::IdentificationInitiator,
        fragment: Fragment { number: 1, total: 2 },
        data: &data,
    };
    let bytes = chain_bytes(Payload::EncryptedFragment(first));
    assert_eq!(hex::encode(&bytes[..8]), "2300003000010002");
    let second = EncryptedFragment {
        first_inner: PayloadType::None,
        fragment: Fragment { number: 2, total: 2 },
        data: &data,
    };
    let bytes = round_trip_one(Payload::EncryptedFragment(second));
    let view = Message::parse(&bytes).unwrap().encrypted(16, 16).unwrap();
    assert_eq!(view.fragment, Some(Fragment { number: 2, total: 2 }));
    assert_eq!(view.associated_data.len(), HEADER_LEN + GENERIC_HEADER_LEN + 4);
    assert_eq!(view.ciphertext.len(), 8);
    assert_eq!(second.split(16, 16).unwrap().ciphertext, &data[16..24]);
}

#[test]
fn a_full_ike_auth_plaintext_chain_round_trips() {
    let spi = [0xc0, 0xff, 0xee, 0x00];
    let payloads = vec![
        Payload::IdentificationInitiator(Identification::new(IdType::Rfc822Addr, b"alice@example.com")),
        Payload::Certificate(Certificate { encoding: CertEncoding::X509Signature, data: &[0x30; 100] }),
        Payload::CertificateRequest(Certificate { encoding: CertEncoding::X509Signature, data: &[0xca; 20] }),
        Payload::Notify(Notify::new(NotifyType::InitialContact, &[])),
        Payload::IdentificationResponder(Identification::new(IdType::Fqdn, b"vpn.example.com")),
        Payload::Authentication(Authentication::new(AuthMethod::RsaDigitalSignature, &[0x11; 256])),
        Payload::Configuration(Configuration::new(
            CfgType::Request,
            vec![CfgAttribute::request(CfgAttributeType::InternalIp4Address)],
        )),
        Payload::Notify(Notify::new(NotifyType::UseTransportMode, &[])),
        Payload::SecurityAssociation(SecurityAssociation {
            proposals: vec![Proposal::new(
                1,
                ProtocolId::Esp,
                &spi,
                vec![
                    Transform::encryption(EncryptionId::AesCbc, Some(128)),
                    Transform::integrity(IntegrityId::HmacSha1_96),
                    Transform::esn(EsnId::NoEsn),
                ],
            )],
        }),
        Payload::TrafficSelectorsInitiator(TrafficSelectors::new(vec![TrafficSelector::ipv4_host(
            Ipv4Addr::new(192, 0, 2, 1),
            17,
            Some(1701),
        )])),
        Payload::TrafficSelectorsResponder(TrafficSelectors::new(vec![TrafficSelector::ipv4_host(
            Ipv4Addr::new(192, 0, 2, 2),
            17,
            Some(1701),
        )])),
        Payload::VendorId(&[0xde; 16]),
    ];
    round_trip(
        header(ExchangeType::IkeAuth, Flags::INITIATOR, 1),
        payloads.into_iter().map(PayloadRepr::new).collect(),
    );
}

#[test]
fn code_points_have_registry_names() {
    assert_eq!(EncryptionId::AesCbc.name(), Some("ENCR_AES_CBC"));
    assert_eq!(IntegrityId::HmacSha2_256_128.to_string(), "AUTH_HMAC_SHA2_256_128");
    assert_eq!(PrfId::from(5), PrfId::HmacSha2_256);
    assert_eq!(KeyExchangeId::from(31).to_string(), "Curve25519");
    assert_eq!(NotifyType::from(16388).to_string(), "NAT_DETECTION_SOURCE_IP");
    assert_eq!(NotifyType::from(60000).to_string(), "UNKNOWN(60000)");
    assert_eq!(u16::from(NotifyType::Unknown(60000)), 60000);
    assert_eq!(TransformType::from(4).name(), Some("KE"));
    assert_eq!(PayloadType::from(46), PayloadType::Encrypted);
    assert_eq!(PayloadType::from(53), PayloadType::EncryptedFragment);
    assert!(!PayloadType::from(2).is_known());
    assert_eq!(u16::from(CfgAttributeType::InternalIp6Dns), 10);
    assert_eq!(u8::from(AuthMethod::DigitalSignature), 14);
    assert_eq!(TransformAttributeType::from(14), TransformAttributeType::KeyLength);
    // RFC 7296 §3.10.1: types below 16384 are errors.
    for code in 0..=u16::MAX {
        assert_eq!(NotifyType::from(code).is_error(), code < 16384);
        assert_eq!(u16::from(NotifyType::from(code)), code);
    }
}

#[test]
fn encoders_refuse_what_does_not_fit() {
    let mut out = Vec::new();
    let big_spi = [0; 256];
    let n =
        Notify { protocol_id: ProtocolId::Esp, spi: &big_spi, notify_type: NotifyType::RekeySa, data: &[] };
    assert_eq!(n.encode_body(&mut out), Err(EncodeError::TooLong { what: "N payload SPI" }));

    let many = SecurityAssociation {
        proposals: vec![Proposal::new(1, ProtocolId::Esp, &[], vec![Transform::esn(EsnId::Esn); 256])],
    };
    assert!(matches!(many.encode_body(&mut out), Err(EncodeError::TooLong { .. })));

    let bad_delete = Delete { protocol_id: ProtocolId::Esp, spi_size: 4, spi_count: 3, spis: &[0; 4] };
    assert!(bad_delete.encode_body(&mut out).is_err());
    let bad_eap = Eap { code: EapCode::Success, identifier: 1, eap_type: Some(EapType::Identity), data: &[] };
    assert!(bad_eap.encode(&mut out).is_err());
    let bad_cfg = CfgAttribute::new(CfgAttributeType::InternalIp4Address, CfgValue::Text(b"x"));
    assert!(bad_cfg.encode(&mut out).is_err());
    let empty_text = CfgAttribute::new(CfgAttributeType::ApplicationVersion, CfgValue::Text(b""));
    assert!(empty_text.encode(&mut out).is_err());
    let zero = EncryptedFragment {
        first_inner: PayloadType::None,
        fragment: Fragment { number: 0, total: 1 },
        data: &[],
    };
    assert!(zero.encode_body(&mut out).is_err());

    // A payload over 65535 bytes is refused by the builder, which leaves `out` as it was.
    let mut message = Vec::new();
    let mut builder =
        MessageBuilder::new(&mut message, &header(ExchangeType::Informational, Flags::default(), 2));
    builder.push(&Payload::Nonce(&[1; 16])).unwrap();
    let huge = vec![0; 70_000];
    assert_eq!(builder.push(&Payload::VendorId(&huge)), Err(EncodeError::TooLong { what: "payload" }));
    let len = builder.finish().unwrap();
    assert_eq!(len, HEADER_LEN + 20);
    assert_eq!(Message::parse(&message).unwrap().payloads().count(), 1);

    // A whole message that cannot be encoded leaves the buffer as it was.
    let repr = MessageRepr {
        header: header(ExchangeType::IkeAuth, Flags::INITIATOR, 1),
        payloads: vec![
            PayloadRepr::new(Payload::Encrypted(Encrypted {
                first_inner: PayloadType::None,
                data: &[0; 32],
            })),
            PayloadRepr::new(Payload::Nonce(&[0; 16])),
        ],
    };
    let mut out = vec![0xaa];
    assert_eq!(repr.encode(&mut out), Err(EncodeError::AfterEncrypted));
    assert_eq!(out, [0xaa]);
}

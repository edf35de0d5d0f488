//! The IKEv2 exchange captured between two strongSwan instances.

use super::capture_data::*;
use super::*;

/// RFC 3948 §2.2: UDP/4500 IKE messages start with four zero bytes (non-ESP marker).
fn strip_non_esp_marker(datagram: &[u8]) -> &[u8] {
    assert_eq!(&datagram[..4], &[0, 0, 0, 0], "non-ESP marker");
    &datagram[4..]
}

fn bytes(hex: &str) -> Vec<u8> {
    hex::decode(hex).expect("valid hex")
}

/// Types of the outer chain, with the Notify type for N payloads.
fn payload_summary(message: &Message<'_>) -> Vec<(PayloadType, Option<NotifyType>)> {
    message
        .payloads()
        .map(|p| {
            let p = p.expect("chain");
            let notify = match p.parse().expect("payload") {
                Payload::Notify(n) => Some(n.notify_type),
                _ => None,
            };
            (p.payload_type, notify)
        })
        .collect()
}

fn assert_byte_exact(datagram: &[u8]) {
    let repr = MessageRepr::parse(datagram).expect("parses");
    let mut out = Vec::new();
    repr.encode(&mut out).expect("encodes");
    assert_eq!(out, datagram, "MessageRepr re-encoding differs");

    // The same through the raw chain and the builder.
    let message = Message::parse(datagram).unwrap();
    let mut raw_out = Vec::new();
    let mut builder = MessageBuilder::new(&mut raw_out, &message.header);
    for p in message.payloads() {
        builder.push_raw(&p.unwrap()).unwrap();
    }
    builder.finish().unwrap();
    assert_eq!(raw_out, datagram, "raw re-encoding differs");
}

/// The SA both sides agree on: AES-CBC-128, HMAC-SHA2-256-128, PRF-HMAC-SHA2-256,
/// MODP-2048.
fn assert_strongswan_sa(sa: &SecurityAssociation<'_>) {
    assert_eq!(sa.proposals.len(), 1);
    let p = &sa.proposals[0];
    assert_eq!((p.number, p.protocol_id, p.spi), (1, ProtocolId::Ike, &[][..]));
    let ids: Vec<TransformId> = p.transforms.iter().map(Transform::id).collect();
    assert_eq!(
        ids,
        [
            TransformId::Encryption(EncryptionId::AesCbc),
            TransformId::Integrity(IntegrityId::HmacSha2_256_128),
            TransformId::Prf(PrfId::HmacSha2_256),
            TransformId::KeyExchange(KeyExchangeId::Modp2048),
        ]
    );
    assert_eq!(p.transforms[0].key_length(), Some(128));
    assert_eq!(p.transforms[0].attributes, [Attribute::key_length(128)]);
    assert!(p.transforms[1..].iter().all(|t| t.attributes.is_empty() && t.key_length().is_none()));
}

#[test]
fn captured_ike_sa_init_request() {
    let datagram = bytes(IKE_SA_INIT_REQUEST);
    let message = Message::parse(&datagram).unwrap();
    let h = message.header;
    assert_eq!(h.initiator_spi, [0x5d, 0xe2, 0x0c, 0x2a, 0xad, 0x1e, 0x71, 0xa6]);
    assert_eq!(h.responder_spi, [0; 8]);
    assert_eq!(h.version, Header::VERSION_2_0);
    assert_eq!(h.exchange_type, ExchangeType::IkeSaInit);
    assert!(h.flags.initiator() && !h.flags.response() && !h.flags.version());
    assert_eq!((h.message_id, h.length as usize), (0, datagram.len()));
    assert_eq!(
        payload_summary(&message),
        [
            (PayloadType::SecurityAssociation, None),
            (PayloadType::KeyExchange, None),
            (PayloadType::Nonce, None),
            (PayloadType::Notify, Some(NotifyType::NatDetectionSourceIp)),
            (PayloadType::Notify, Some(NotifyType::NatDetectionDestinationIp)),
            (PayloadType::Notify, Some(NotifyType::Ikev2FragmentationSupported)),
            (PayloadType::Notify, Some(NotifyType::SignatureHashAlgorithms)),
            (PayloadType::Notify, Some(NotifyType::RedirectSupported)),
        ]
    );
    assert_eq!(message.unsupported_critical_payload(), Ok(None));

    let repr = MessageRepr::parse(&datagram).unwrap();
    let Payload::SecurityAssociation(sa) = &repr.payloads[0].payload else { panic!("SA first") };
    assert_strongswan_sa(sa);
    let Payload::KeyExchange(ke) = &repr.payloads[1].payload else { panic!("KE second") };
    assert_eq!((ke.group, ke.data.len()), (KeyExchangeId::Modp2048, 256));
    let Payload::Nonce(nonce) = &repr.payloads[2].payload else { panic!("Nonce third") };
    assert_eq!(nonce.len(), 32);
    for natd in &repr.payloads[3..5] {
        let Payload::Notify(n) = &natd.payload else { panic!("N") };
        // RFC 7296 §2.23: SHA-1 over SPIs, address and port.
        assert_eq!((n.protocol_id, n.spi, n.data.len()), (ProtocolId::None, &[][..], 20));
    }
    let Payload::Notify(hashes) = &repr.payloads[6].payload else { panic!("N") };
    // RFC 7427 §4: SHA2-256, SHA2-384, SHA2-512, Identity.
    assert_eq!(hashes.data, [0, 2, 0, 3, 0, 4, 0, 5]);
    assert_eq!(hashes.signature_hash_algorithms().collect::<Vec<_>>(), [2, 3, 4, 5]);
    assert_byte_exact(&datagram);
}

#[test]
fn captured_ike_sa_init_response() {
    let datagram = bytes(IKE_SA_INIT_RESPONSE);
    let message = Message::parse(&datagram).unwrap();
    assert_eq!(message.header.responder_spi, [0x95, 0xfa, 0x80, 0xb4, 0x85, 0x6e, 0xb0, 0x00]);
    assert!(message.header.flags.response() && !message.header.flags.initiator());
    assert_eq!(
        payload_summary(&message),
        [
            (PayloadType::SecurityAssociation, None),
            (PayloadType::KeyExchange, None),
            (PayloadType::Nonce, None),
            (PayloadType::Notify, Some(NotifyType::NatDetectionSourceIp)),
            (PayloadType::Notify, Some(NotifyType::NatDetectionDestinationIp)),
            (PayloadType::Notify, Some(NotifyType::Ikev2FragmentationSupported)),
            (PayloadType::Notify, Some(NotifyType::SignatureHashAlgorithms)),
            (PayloadType::Notify, Some(NotifyType::ChildlessIkev2Supported)),
            (PayloadType::Notify, Some(NotifyType::MultipleAuthSupported)),
        ]
    );
    let repr = MessageRepr::parse(&datagram).unwrap();
    let Payload::SecurityAssociation(sa) = &repr.payloads[0].payload else { panic!("SA first") };
    assert_strongswan_sa(sa);
    assert_byte_exact(&datagram);
}

/// IKE_AUTH over UDP/4500: one SK payload; AES-CBC (16-byte IV) and
/// AUTH_HMAC_SHA2_256_128 (16-byte ICV).
fn check_encrypted(hex: &str, exchange: ExchangeType, message_id: u32, first_inner: PayloadType) {
    let datagram = bytes(hex);
    let ike = strip_non_esp_marker(&datagram);
    let message = Message::parse(ike).unwrap();
    assert_eq!(message.header.exchange_type, exchange);
    assert_eq!(message.header.message_id, message_id);
    assert_eq!(message.header.next_payload, PayloadType::Encrypted);
    let payloads: Vec<RawPayload<'_>> = message.payloads().collect::<Result<_, _>>().unwrap();
    assert_eq!(payloads.len(), 1);
    assert_eq!(payloads[0].next_payload, first_inner);
    assert!(!payloads[0].critical);

    let view = message.encrypted(16, 16).unwrap();
    assert_eq!(view.first_inner, first_inner);
    assert_eq!(view.fragment, None);
    assert_eq!(view.iv.len(), 16);
    assert_eq!(view.icv, &ike[ike.len() - 16..]);
    assert!(!view.ciphertext.is_empty());
    assert_eq!(view.ciphertext.len() % 16, 0, "CBC ciphertext is whole blocks");
    assert_eq!(view.associated_data.len(), HEADER_LEN + GENERIC_HEADER_LEN);
    assert_eq!(view.integrity_covered, &ike[..ike.len() - 16]);
    assert_eq!(
        view.associated_data.len() + view.iv.len() + view.ciphertext.len() + view.icv.len(),
        ike.len()
    );
    let Payload::Encrypted(sk) = payloads[0].parse().unwrap() else { panic!("SK") };
    assert_eq!(
        sk.split(16, 16).unwrap(),
        EncryptedParts { iv: view.iv, ciphertext: view.ciphertext, icv: view.icv }
    );
    assert_byte_exact(ike);
}

#[test]
fn captured_ike_auth_request_is_one_sk_payload() {
    check_encrypted(IKE_AUTH_REQUEST, ExchangeType::IkeAuth, 1, PayloadType::IdentificationInitiator);
}

#[test]
fn captured_ike_auth_response_is_one_sk_payload() {
    check_encrypted(IKE_AUTH_RESPONSE, ExchangeType::IkeAuth, 1, PayloadType::IdentificationResponder);
}

#[test]
fn captured_informational_delete_and_empty_response() {
    check_encrypted(INFORMATIONAL_REQUEST, ExchangeType::Informational, 2, PayloadType::Delete);
    // An empty INFORMATIONAL response: nothing inside the SK payload.
    check_encrypted(INFORMATIONAL_RESPONSE, ExchangeType::Informational, 2, PayloadType::None);
}

#[test]
fn captured_messages_reject_every_truncation() {
    for hex in [IKE_SA_INIT_REQUEST, IKE_SA_INIT_RESPONSE] {
        let datagram = bytes(hex);
        for len in 0..datagram.len() {
            let mut cut = datagram[..len].to_vec();
            if len >= HEADER_LEN {
                // Make the header agree so the payload chain itself is what is cut short.
                cut[24..28].copy_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
            }
            assert!(MessageRepr::parse(&cut).is_err(), "accepted {len} bytes");
        }
    }
}

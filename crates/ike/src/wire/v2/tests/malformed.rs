//! Malformed input: each inconsistency gives its typed error, never a panic.

use super::*;

/// A valid message with one Nonce payload, to be broken in different ways.
fn nonce_message() -> Vec<u8> {
    round_trip_one(Payload::Nonce(&[0x42; 16]))
}

/// Sets the header's Length to the buffer's length.
fn fix_length(bytes: &mut [u8]) {
    let len = u32::try_from(bytes.len()).unwrap();
    bytes[24..28].copy_from_slice(&len.to_be_bytes());
}

/// A message whose chain is the given raw bytes, first payload `first`.
fn message_with_chain(first: PayloadType, chain: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut h = header(ExchangeType::IkeAuth, Flags::INITIATOR, 1);
    h.next_payload = first;
    h.encode(&mut bytes);
    bytes.extend_from_slice(chain);
    fix_length(&mut bytes);
    bytes
}

fn first_payload_error(first: PayloadType, body: &[u8]) -> ParseError {
    let mut chain = vec![0, 0];
    chain.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
    chain.extend_from_slice(body);
    let bytes = message_with_chain(first, &chain);
    MessageRepr::parse(&bytes).expect_err("must be refused")
}

#[test]
fn header_errors() {
    let good = nonce_message();
    assert_eq!(Message::parse(&good[..27]), Err(ParseError::Truncated { what: "IKE header" }));
    let mut v1 = good.clone();
    v1[17] = 0x10;
    assert_eq!(Message::parse(&v1), Err(ParseError::Version(0x10)));
    // The header can still be read to answer INVALID_MAJOR_VERSION.
    assert_eq!(Header::parse(&v1).unwrap().initiator_spi, good[..8]);
    let mut v3 = good.clone();
    v3[17] = 0x30;
    assert_eq!(Message::parse(&v3), Err(ParseError::Version(0x30)));
    // A higher minor version is accepted (RFC 7296 §2.5).
    let mut minor = good.clone();
    minor[17] = 0x21;
    assert!(Message::parse(&minor).is_ok());
    let mut long = good.clone();
    long.push(0);
    assert_eq!(Message::parse(&long), Err(ParseError::BadLength { what: "IKE header" }));
    let mut short_len = good.clone();
    short_len[24..28].copy_from_slice(&20u32.to_be_bytes());
    assert!(matches!(Message::parse(&short_len[..20]), Err(ParseError::Truncated { .. })));
    assert_eq!(Message::parse(&short_len), Err(ParseError::BadLength { what: "IKE header" }));
}

#[test]
fn chain_errors() {
    // Payload length under 4.
    let bytes = message_with_chain(PayloadType::Nonce, &[0, 0, 0, 3]);
    assert_eq!(
        Message::parse(&bytes).unwrap().payloads().next(),
        Some(Err(ParseError::BadLength { what: "generic payload header" }))
    );
    // Payload length past the end.
    let bytes = message_with_chain(PayloadType::Nonce, &[0, 0, 0, 9, 1, 2, 3, 4]);
    assert!(matches!(MessageRepr::parse(&bytes), Err(ParseError::BadLength { .. })));
    // Next Payload promises another payload that is not there.
    let bytes = message_with_chain(PayloadType::Nonce, &[40, 0, 0, 4]);
    let results: Vec<_> = Message::parse(&bytes).unwrap().payloads().collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    assert_eq!(results[1], Err(ParseError::Truncated { what: "generic payload header" }));
    // Bytes after the last payload.
    let bytes = message_with_chain(PayloadType::Nonce, &[0, 0, 0, 4, 0xff]);
    assert_eq!(
        MessageRepr::parse(&bytes),
        Err(ParseError::BadLength { what: "payload chain (bytes after the last payload)" })
    );
    // A payload after an SK payload.
    let bytes = message_with_chain(PayloadType::Encrypted, &[0, 0, 0, 4, 0, 0, 0, 4]);
    assert_eq!(
        MessageRepr::parse(&bytes),
        Err(ParseError::Invalid { what: "payload after an Encrypted payload" })
    );
    // The iterator stops after its first error.
    let mut iter = Message::parse(&bytes).unwrap().payloads();
    assert!(iter.next().unwrap().is_ok());
    assert!(iter.next().unwrap().is_err());
    assert!(iter.next().is_none());
    // Too many payloads.
    let mut chain = Vec::new();
    for _ in 0..=MAX_PAYLOADS {
        chain.extend_from_slice(&[43, 0, 0, 4]);
    }
    let bytes = message_with_chain(PayloadType::VendorId, &chain);
    assert_eq!(MessageRepr::parse(&bytes), Err(ParseError::TooMany { what: "payloads" }));
    // No SK payload where one is expected.
    assert_eq!(
        Message::parse(&nonce_message()).unwrap().encrypted(16, 16),
        Err(ParseError::Invalid { what: "message without an SK payload" })
    );
    // SK shorter than IV + ICV.
    let bytes = message_with_chain(PayloadType::Encrypted, &[0, 0, 0, 8, 1, 2, 3, 4]);
    assert!(matches!(Message::parse(&bytes).unwrap().encrypted(16, 16), Err(ParseError::BadLength { .. })));
}

#[test]
fn sa_errors() {
    // Proposal length under 8.
    assert!(matches!(
        first_payload_error(PayloadType::SecurityAssociation, &[0, 0, 0, 7, 1, 1, 0, 0]),
        ParseError::BadLength { .. }
    ));
    // Last Substruc says "more" on the last proposal.
    assert_eq!(
        first_payload_error(PayloadType::SecurityAssociation, &[2, 0, 0, 8, 1, 1, 0, 0]),
        ParseError::Invalid { what: "proposal Last Substruc" }
    );
    // Transform count disagrees.
    assert_eq!(
        first_payload_error(PayloadType::SecurityAssociation, &[0, 0, 0, 8, 1, 1, 0, 1]),
        ParseError::BadLength { what: "proposal transform count" }
    );
    // SPI past the end of the proposal.
    assert_eq!(
        first_payload_error(PayloadType::SecurityAssociation, &[0, 0, 0, 8, 1, 1, 4, 0]),
        ParseError::BadLength { what: "proposal SPI" }
    );
    // Transform Last Substruc 2 (a proposal's value).
    assert_eq!(
        first_payload_error(
            PayloadType::SecurityAssociation,
            &[0, 0, 0, 16, 1, 1, 0, 1, 2, 0, 0, 8, 1, 0, 0, 12]
        ),
        ParseError::Invalid { what: "transform Last Substruc" }
    );
    // Attribute TLV length past the end of the transform.
    assert_eq!(
        first_payload_error(
            PayloadType::SecurityAssociation,
            &[0, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12, 0, 1, 0, 9]
        ),
        ParseError::BadLength { what: "transform attribute" }
    );
}

#[test]
fn payload_body_errors() {
    assert!(matches!(
        first_payload_error(PayloadType::KeyExchange, &[0, 14, 0]),
        ParseError::Truncated { .. }
    ));
    assert_eq!(
        first_payload_error(PayloadType::IdentificationInitiator, &[1, 0, 0, 0, 10, 0, 0]),
        ParseError::BadLength { what: "ID payload address" }
    );
    assert_eq!(
        first_payload_error(PayloadType::IdentificationResponder, &[5, 0, 0, 0, 1, 2, 3, 4]),
        ParseError::BadLength { what: "ID payload address" }
    );
    assert!(matches!(first_payload_error(PayloadType::Certificate, &[]), ParseError::Truncated { .. }));
    assert!(matches!(
        first_payload_error(PayloadType::Authentication, &[2, 0, 0]),
        ParseError::Truncated { .. }
    ));
    assert_eq!(
        first_payload_error(PayloadType::Notify, &[3, 4, 0x40, 0x09, 1, 2]),
        ParseError::BadLength { what: "N payload SPI" }
    );
    assert_eq!(
        first_payload_error(PayloadType::Delete, &[3, 4, 0, 2, 1, 2, 3, 4]),
        ParseError::BadLength { what: "D payload" }
    );
    // TS count 2, one selector.
    let mut ts = vec![2, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0xff, 0xff];
    ts.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        first_payload_error(PayloadType::TrafficSelectorsInitiator, &ts),
        ParseError::BadLength { what: "TS payload selector count" }
    );
    // IPv4 range with the IPv6 length.
    ts[0] = 1;
    ts[7] = 40;
    assert!(matches!(
        first_payload_error(PayloadType::TrafficSelectorsResponder, &ts),
        ParseError::BadLength { .. }
    ));
    // CP: INTERNAL_IP4_ADDRESS of 3 bytes.
    assert_eq!(
        first_payload_error(PayloadType::Configuration, &[2, 0, 0, 0, 0, 1, 0, 3, 10, 0, 0]),
        ParseError::BadLength { what: "configuration attribute value" }
    );
    // EAP Length disagreeing with the payload.
    assert_eq!(
        first_payload_error(PayloadType::ExtensibleAuthentication, &[2, 1, 0, 9, 1, b'u']),
        ParseError::BadLength { what: "EAP packet" }
    );
    // EAP Response without a Type.
    assert!(matches!(
        first_payload_error(PayloadType::ExtensibleAuthentication, &[2, 1, 0, 4]),
        ParseError::Truncated { .. }
    ));
    // SKF fragment 3 of 2.
    assert_eq!(
        first_payload_error(PayloadType::EncryptedFragment, &[0, 3, 0, 2]),
        ParseError::Invalid { what: "SKF fragment number" }
    );
}

#[test]
fn unpad_errors() {
    assert_eq!(unpad(&[]), Err(ParseError::Truncated { what: "SK plaintext" }));
    assert_eq!(unpad(&[1, 2, 3]), Err(ParseError::BadLength { what: "SK Pad Length" }));
    assert_eq!(unpad(&[9, 0, 0, 2]), Ok(&[9][..]));
    assert_eq!(unpad(&[9, 0]), Ok(&[9][..]));
}

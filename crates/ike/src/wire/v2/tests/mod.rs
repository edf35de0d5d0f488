//! Tests of the IKEv2 wire format: a captured strongSwan exchange, hand-built messages
//! for every payload, malformed input, and property tests.

mod capture;
pub(crate) mod capture_data;
mod hand_built;
mod malformed;
mod proptests;

use super::*;

/// A header for hand-built messages.
fn header(exchange: ExchangeType, flags: Flags, message_id: u32) -> Header {
    Header::new([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88], [0x99; 8], exchange, flags, message_id)
}

/// Encodes `payloads` in a message, parses it back, checks the payloads and a second
/// encoding are identical, and returns the bytes.
fn round_trip(header: Header, payloads: Vec<PayloadRepr<'_>>) -> Vec<u8> {
    let repr = MessageRepr { header, payloads };
    let mut out = Vec::new();
    let len = repr.encode(&mut out).expect("encodes");
    assert_eq!(len, out.len());
    let parsed = MessageRepr::parse(&out).expect("parses");
    assert_eq!(parsed.payloads, repr.payloads);
    assert_eq!(parsed.header.length as usize, out.len());
    let mut again = Vec::new();
    parsed.encode(&mut again).expect("encodes again");
    assert_eq!(again, out);
    out
}

/// Round-trips a single payload and returns the message bytes.
fn round_trip_one(payload: Payload<'_>) -> Vec<u8> {
    round_trip(header(ExchangeType::IkeAuth, Flags::INITIATOR, 1), vec![PayloadRepr::new(payload)])
}

//! L2TP wire parser: headers, AVPs, typed values and hidden AVPs on arbitrary bytes.
//! Anything that parses must re-encode to the same bytes.
#![no_main]

use l2sec_l2tp::TunnelSecret;
use l2sec_l2tp::wire::{AvpValue, ControlMessage, MAX_AVP_VALUE_LEN, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::parse(data) else { return };
    let mut out = Vec::new();
    packet.encode(&mut out);
    let exact = !packet.header.has_length || out.len() == data.len();
    if packet.header.reserved == 0 && exact {
        assert_eq!(&out[..], &data[..out.len()]);
    }
    let Ok(msg) = ControlMessage::from_packet(packet) else { return };
    let secret = TunnelSecret::new("fuzz");
    let mut rv: &[u8] = b"";
    let mut avps = Vec::new();
    let mut buf = [0u8; MAX_AVP_VALUE_LEN];
    for avp in msg.avps() {
        let Ok(avp) = avp else { return };
        avp.encode(&mut avps);
        match avp.value {
            AvpValue::RandomVector(v) => rv = v,
            AvpValue::Hidden(h) => {
                if let Ok(clear) = secret.reveal(avp.attribute_type, rv, h, &mut buf) {
                    let v = AvpValue::parse(avp.attribute_type, clear);
                    let mut enc = Vec::new();
                    v.encode(&mut enc);
                    assert_eq!(enc, clear);
                }
            }
            _ => {}
        }
    }
    assert_eq!(&avps[..], msg.avp_bytes);
    let _ = msg.message_type();
});

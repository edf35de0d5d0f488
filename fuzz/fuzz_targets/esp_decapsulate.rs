//! Arbitrary bytes into ESP decapsulation: through the null transform (so the fuzzer
//! reaches the padding, next-header and inner-packet checks behind the ICV) and through
//! real transforms (ICV rejection), in both modes, with and without ESN. Whatever the
//! input, nothing panics and a rejected packet leaves the SA unchanged.
#![no_main]

use l2sec_esp::{Encryption, InboundSa, Integrity, Mode, SaParams, SaTable};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let mode = if selector & 1 == 0 { Mode::Transport } else { Mode::Tunnel };
    let esn = selector & 2 != 0;
    let mut params = match (selector >> 2) % 3 {
        0 => SaParams::insecure_null(0x1000, mode),
        1 => SaParams::new(0x1000, mode, Encryption::AesGcm16, Integrity::None, &[1; 20], &[]),
        _ => SaParams::new(0x1000, mode, Encryption::AesCbc, Integrity::HmacSha1_96, &[1; 16], &[2; 20]),
    };
    params.mode = mode;
    params.esn = esn;
    params.replay_window = 64;
    let mut table = SaTable::new();
    table.insert(InboundSa::new(&params).unwrap()).unwrap();

    // Up to four packets, split at 0xA5 bytes, so that sequences of packets reach the window.
    for packet in rest.split(|&b| b == 0xa5).take(4) {
        let mut buf = packet.to_vec();
        if buf.len() >= 4 && selector & 0x80 != 0 {
            buf[..4].copy_from_slice(&0x1000u32.to_be_bytes());
        }
        let before = table.get(0x1000).unwrap().highest_seq();
        match table.decapsulate(&mut buf) {
            Ok((spi, d)) => {
                assert_eq!(spi, 0x1000);
                assert!(d.payload.len() <= packet.len());
                assert!(d.seq >= 1);
            }
            Err(e) => {
                assert!(e.is_peer_error(), "{e:?}");
                assert_eq!(table.get(0x1000).unwrap().highest_seq(), before);
            }
        }
    }
});

//! Fuzz the PPP wire layer: frames, control packets, options, PAP, CHAP and the MS-CHAP
//! message fields. Every parse must either fail cleanly or re-encode to its input.
#![no_main]

use l2sec_ppp::wire::{
    self, ChapPacket, CpPacket, Frame, IpcpOption, Ipv6cpOption, LcpOption, MsChapFailure, Packet, PapPacket,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Frame::parse(data) {
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out, data);
        if let Ok(p) = Packet::parse(f.information) {
            let mut out = Vec::new();
            p.encode(&mut out);
            assert_eq!(out, f.information);
            let exact = &f.information[..p.encoded_len()];
            let typed = CpPacket::from_packet(p, f.protocol == wire::protocol::LCP);
            let mut out = Vec::new();
            typed.encode(&mut out);
            assert_eq!(out, exact);
            for o in wire::options(p.data).flatten() {
                let mut raw = Vec::new();
                o.encode(&mut raw);
                for (i, enc) in [
                    |o, v: &mut Vec<u8>| LcpOption::from_raw(o).encode(v),
                    |o, v: &mut Vec<u8>| IpcpOption::from_raw(o).encode(v),
                    |o, v: &mut Vec<u8>| Ipv6cpOption::from_raw(o).encode(v),
                ]
                .iter()
                .enumerate()
                {
                    let mut out = Vec::new();
                    enc(o, &mut out);
                    assert_eq!(out, raw, "option typed as {i}");
                }
            }
            let _ = MsChapFailure::parse(p.data);
            let _ = wire::parse_mschapv2_success(p.data);
        }
        for parse in [
            |i| {
                PapPacket::parse(i).map(|p| {
                    let mut v = Vec::new();
                    p.encode(&mut v);
                    v
                })
            },
            |i| {
                ChapPacket::parse(i).map(|p| {
                    let mut v = Vec::new();
                    p.encode(&mut v);
                    v
                })
            },
        ] {
            if let Ok(v) = parse(f.information) {
                // Re-encoding drops only the padding after Length.
                assert!(f.information.starts_with(&v) || v.len() <= f.information.len());
            }
        }
    }
});

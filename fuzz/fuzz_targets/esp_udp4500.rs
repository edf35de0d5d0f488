//! Arbitrary UDP/4500 payloads into the NAT-T classifier, and the checksum helpers over
//! arbitrary segments: no panics, and classification agrees with the RFC 3948 rules.
#![no_main]

use core::net::{IpAddr, Ipv4Addr};

use l2sec_esp::natt::{self, Udp4500};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match natt::classify(data) {
        Ok(Udp4500::Keepalive) => assert_eq!(data, [0xff]),
        Ok(Udp4500::Ike) => assert!(data.len() >= 32 && data[..4] == [0; 4]),
        Ok(Udp4500::Esp { spi }) => {
            assert!(spi >= 256);
            assert_eq!(&data[..4], &spi.to_be_bytes());
        }
        Err(_) => {}
    }
    let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut seg = data.to_vec();
    let _ = natt::recompute_transport_checksum(&mut seg, 17, a, b);
    let _ = natt::update_checksum_for_nat(&mut seg, 6, (a, b), (b, a));
});

//! Shared test helpers: a tiny classic-pcap reader and writer (Ethernet/IPv4/UDP only).
#![allow(dead_code)]

pub mod pair;

use std::path::{Path, PathBuf};

/// One UDP datagram from a capture.
#[derive(Debug, Clone)]
pub struct Udp {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Reads every IPv4/UDP datagram of a LINKTYPE_ETHERNET classic pcap.
pub fn read_udp(path: &Path) -> Vec<Udp> {
    let d = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&d[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian classic pcap");
    let linktype = u32::from_le_bytes(d[20..24].try_into().unwrap());
    assert_eq!(linktype, 1, "Ethernet captures only");
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= d.len() {
        let incl = u32::from_le_bytes(d[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &d[at + 16..at + 16 + incl];
        at += 16 + incl;
        if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 17 {
            continue;
        }
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let udp = &ip[ihl..total.min(ip.len())];
        let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        out.push(Udp {
            src_port: u16::from_be_bytes([udp[0], udp[1]]),
            dst_port: u16::from_be_bytes([udp[2], udp[3]]),
            payload: udp[8..ulen].to_vec(),
        });
    }
    out
}

/// Every L2TP capture shipped in tests/data.
pub fn l2tp_samples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    v.sort();
    assert!(v.len() >= 7, "sample captures missing from tests/data");
    v
}

fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Writes UDP datagrams (src port, dst port, payload) on 127.0.0.1 into a classic pcap.
pub fn write_pcap(path: &Path, packets: &[(u16, u16, Vec<u8>)]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (n, (sp, dp, payload)) in packets.iter().enumerate() {
        let ulen = 8 + payload.len();
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + ulen) as u16).to_be_bytes());
        ip.extend_from_slice(&(n as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        let c = csum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&sp.to_be_bytes());
        frame.extend_from_slice(&dp.to_be_bytes());
        frame.extend_from_slice(&(ulen as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        out.extend_from_slice(&(1_700_000_000u32 + n as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

//! l2sec-esp against implementations nobody here wrote.
//!
//! - tshark's ESP dissector, given the SA keys as an `esp_sa` table, decrypts and
//!   authenticates every packet l2sec seals, raw (IP protocol 50) and UDP-encapsulated.
//! - scapy's IPsec module seals packets that l2sec opens, and opens packets l2sec seals,
//!   for every transform, both modes, with and without extended sequence numbers.
//!
//! Both need their peer installed (`.ci/install-peers.sh`) and fail, never skip, without it.

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};

use common::{SUITES, providers};
use l2sec_esp::{Encryption, InboundSa, Integrity, Mode, OutboundSa, SaParams, keylog, natt, testing};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// A UDP segment with a valid checksum for SRC -> DST.
fn udp_segment(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0x06, 0xa5];
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(payload);
    natt::recompute_transport_checksum(&mut s, 17, IpAddr::V4(SRC), IpAddr::V4(DST)).unwrap();
    s
}

/// An IPv4 header for `payload_len` bytes of protocol `proto`, with a valid checksum.
fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload_len: usize) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&((20 + payload_len) as u16).to_be_bytes());
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let sum = natt::internet_checksum(&h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h
}

fn ipv4_udp_packet(dport: u16, payload: &[u8]) -> Vec<u8> {
    let seg = udp_segment(dport, payload);
    let mut p = ipv4_header(SRC, DST, 17, seg.len());
    p.extend_from_slice(&seg);
    p
}

fn seal(tx: &mut OutboundSa, payload: &[u8], nh: u8) -> Vec<u8> {
    let mut buf = vec![0u8; tx.headroom() + payload.len() + tx.tailroom()];
    let h = tx.headroom();
    buf[h..h + payload.len()].copy_from_slice(payload);
    tx.encapsulate(&mut buf, h..h + payload.len(), nh).unwrap().to_vec()
}

fn keys(suite: usize) -> (Vec<u8>, Vec<u8>) {
    let p = common::params(suite, Mode::Transport, false);
    (p.encryption_key.to_vec(), p.integrity_key.to_vec())
}

fn params_with_spi(suite: usize, mode: Mode, esn: bool, spi: u32) -> SaParams {
    let mut p = common::params(suite, mode, esn);
    p.spi = spi;
    p
}

// ------------------------------------------------------------------------------------
// tshark
// ------------------------------------------------------------------------------------

fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) {
    let mut f = std::fs::File::create(path).unwrap();
    // Classic pcap, microsecond timestamps, LINKTYPE_RAW (101): frames are IP packets.
    let mut hdr = Vec::new();
    hdr.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&[0; 8]);
    hdr.extend_from_slice(&65535u32.to_le_bytes());
    hdr.extend_from_slice(&101u32.to_le_bytes());
    f.write_all(&hdr).unwrap();
    for (i, fr) in frames.iter().enumerate() {
        let mut rec = Vec::new();
        rec.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        rec.extend_from_slice(&0u32.to_le_bytes());
        rec.extend_from_slice(&(fr.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(fr.len() as u32).to_le_bytes());
        f.write_all(&rec).unwrap();
        f.write_all(fr).unwrap();
    }
}

fn require(tool: &str, probe: &[&str]) {
    let ok = Command::new(tool).args(probe).stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(
        matches!(ok, Ok(s) if s.success()),
        "interop peer `{tool}` is missing or broken: install it with .ci/install-peers.sh"
    );
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_and_authenticates_what_l2sec_seals() {
    require("tshark", &["--version"]);
    let dir = std::env::temp_dir().join(format!("l2sec-esp-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut frames = Vec::new();
    let mut expect = Vec::new(); // (spi, marker hex)
    let mut uat = String::new();
    let mut spi = 0x5000_0000u32;
    for provider in providers() {
        for (i, (name, ..)) in SUITES.iter().enumerate() {
            for mode in [Mode::Transport, Mode::Tunnel] {
                for udp_encap in [false, true] {
                    spi += 1;
                    let p = params_with_spi(i, mode, false, spi);
                    let mut tx = OutboundSa::with_provider(&p, &provider).unwrap();
                    // The crate's own key log line is what tshark decrypts with.
                    uat.push_str(&keylog::esp_sa_line(&p, None, None));
                    uat.push('\n');
                    for n in 0..2 {
                        let marker = format!("l2sec {name} {} {mode:?} udp={udp_encap} #{n}", provider.name);
                        let esp = match mode {
                            Mode::Transport => seal(&mut tx, &udp_segment(9999, marker.as_bytes()), 17),
                            Mode::Tunnel => seal(&mut tx, &ipv4_udp_packet(9999, marker.as_bytes()), 4),
                        };
                        let outer_src = Ipv4Addr::new(198, 51, 100, 1);
                        let outer_dst = Ipv4Addr::new(198, 51, 100, 2);
                        let frame = if udp_encap {
                            let mut udp = vec![0x11, 0x94, 0x11, 0x94];
                            udp.extend_from_slice(&((8 + esp.len()) as u16).to_be_bytes());
                            udp.extend_from_slice(&[0, 0]);
                            udp.extend_from_slice(&esp);
                            let mut f = ipv4_header(outer_src, outer_dst, 17, udp.len());
                            f.extend_from_slice(&udp);
                            f
                        } else {
                            let mut f = ipv4_header(outer_src, outer_dst, 50, esp.len());
                            f.extend_from_slice(&esp);
                            f
                        };
                        frames.push(frame);
                        expect.push((spi, hex::encode(marker.as_bytes())));
                    }
                }
            }
        }
    }
    let pcap = dir.join("l2sec-esp.pcap");
    write_pcap(&pcap, &frames);
    std::fs::write(dir.join("esp_sa"), &uat).unwrap();
    std::fs::write(
        dir.join("preferences"),
        "esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n",
    )
    .unwrap();
    let out = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", &dir)
        .args(["-n", "-r"])
        .arg(&pcap)
        .args(["-d", "udp.port==9999,data", "-T", "fields", "-E", "separator=|", "-E", "occurrence=l"])
        .args(["-e", "frame.number", "-e", "esp.spi", "-e", "esp.icv_good", "-e", "esp.icv_bad"])
        .args(["-e", "data.data", "-e", "_ws.malformed", "-e", "_ws.expert.severity"])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), frames.len(), "one line per frame:\n{text}");
    for (line, (spi, marker)) in lines.iter().zip(&expect) {
        let f: Vec<&str> = line.split('|').collect();
        let spi_seen = u32::from_str_radix(f[1].trim_start_matches("0x"), 16).unwrap();
        assert_eq!(spi_seen, *spi, "{line}");
        assert_eq!(f[2], "1", "ICV not verified by tshark: {line} (esp_sa:\n{uat})");
        assert_ne!(f[3], "1", "tshark found a bad ICV: {line}");
        assert_eq!(f[4], marker, "decrypted payload differs: {line}");
        assert!(f[5].is_empty(), "malformed: {line}");
    }
    // No expert warnings or errors anywhere (severity >= warning is 0x00600000).
    let bad = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", &dir)
        .args(["-n", "-r"])
        .arg(&pcap)
        .args(["-d", "udp.port==9999,data", "-Y", "_ws.malformed || _ws.expert.severity >= 0x00600000"])
        .output()
        .unwrap();
    assert!(bad.stdout.is_empty(), "tshark flagged frames:\n{}", String::from_utf8_lossy(&bad.stdout));
    std::fs::remove_dir_all(&dir).ok();
    eprintln!("tshark decrypted and authenticated {} l2sec ESP packets", frames.len());
}

// ------------------------------------------------------------------------------------
// scapy
// ------------------------------------------------------------------------------------

fn scapy_names(enc: Encryption, integ: Integrity) -> (&'static str, &'static str) {
    let e = match enc {
        Encryption::AesCbc => "AES-CBC",
        Encryption::TripleDesCbc => "3DES",
        Encryption::Null => "NULL",
        Encryption::AesGcm16 => "AES-GCM",
        _ => unreachable!(),
    };
    let a = match integ {
        Integrity::None => "NULL",
        Integrity::HmacSha1_96 => "HMAC-SHA1-96",
        Integrity::HmacSha256_128 => "SHA2-256-128",
        Integrity::HmacSha256_96 => "SHA2-256-96",
        Integrity::HmacSha384_192 => "SHA2-384-192",
        Integrity::HmacSha512_256 => "SHA2-512-256",
        _ => unreachable!(),
    };
    (e, a)
}

struct Case {
    name: String,
    params: SaParams,
    provider: l2sec_esp::Provider,
    esn: bool,
    ours: Vec<(Vec<u8>, u8)>, // payload, next header
}

#[test]
#[ignore = "interop: needs python3 with scapy; run by .ci/run with --ignored"]
fn scapy_and_l2sec_open_each_others_packets() {
    require("python3", &["-c", "import scapy.layers.ipsec, cryptography"]);
    let mut cases = Vec::new();
    let mut job = Vec::new();
    let mut spi = 0x6000_0000u32;
    for provider in providers() {
        for (i, (name, enc, integ, _)) in SUITES.iter().enumerate() {
            for mode in [Mode::Transport, Mode::Tunnel] {
                for esn in [false, true] {
                    spi += 1;
                    let p = params_with_spi(i, mode, esn, spi);
                    let mut tx = OutboundSa::with_provider(&p, &provider).unwrap();
                    if esn {
                        // Start just past the 32-bit boundary: the high half (1) is never sent.
                        testing::set_last_seq(&mut tx, (1 << 32) + 4);
                    }
                    let mut ours = Vec::new();
                    let mut open = Vec::new();
                    for n in 0..3 {
                        let marker = format!("l2sec {name} {mode:?} esn={esn} #{n}");
                        let (payload, nh) = match mode {
                            Mode::Transport => (udp_segment(1701, marker.as_bytes()), 17),
                            Mode::Tunnel => (ipv4_udp_packet(1701, marker.as_bytes()), 4),
                        };
                        open.push(format!("\"{}\"", hex::encode(seal(&mut tx, &payload, nh))));
                        ours.push((payload, nh));
                    }
                    let (se, sa) = scapy_names(*enc, *integ);
                    let (ek, ik) = keys(i);
                    job.push(format!(
                        "{{\"name\":\"{name}\",\"spi\":{spi},\"crypt\":\"{se}\",\"ckey\":\"{}\",\"auth\":\"{sa}\",\
                         \"akey\":\"{}\",\"mode\":\"{}\",\"esn\":{esn},\"esn_high\":{},\"seal_seqs\":{},\"open\":[{}]}}",
                        hex::encode(ek),
                        hex::encode(ik),
                        if mode == Mode::Tunnel { "tunnel" } else { "transport" },
                        u32::from(esn),
                        if esn { "[5,6,7]" } else { "[1,2,3]" },
                        open.join(",")
                    ));
                    cases.push(Case {
                        name: format!("{name} {mode:?} esn={esn} {}", provider.name),
                        params: p,
                        provider,
                        esn,
                        ours,
                    });
                }
            }
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/scapy_esp.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!("{{\"sas\":[{}]}}", job.join(","));
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "scapy script failed: {}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sas = answer["sas"].as_array().unwrap();
    assert_eq!(sas.len(), cases.len());
    let mut opened_by_us = 0;
    for (case, sa) in cases.iter().zip(sas) {
        // scapy opened ours.
        for (got, (payload, nh)) in sa["opened"].as_array().unwrap().iter().zip(&case.ours) {
            assert_eq!(got["payload"].as_str().unwrap(), hex::encode(payload), "scapy opened {}", case.name);
            assert_eq!(got["next_header"].as_u64().unwrap(), u64::from(*nh), "{}", case.name);
        }
        // We open scapy's.
        let mut rx = InboundSa::with_provider(&case.params, &case.provider).unwrap();
        if case.esn {
            testing::set_highest_seq(&mut rx, 1 << 32);
        }
        for s in sa["sealed"].as_array().unwrap() {
            let mut pkt = hex::decode(s["esp"].as_str().unwrap()).unwrap();
            let d = rx
                .decapsulate(&mut pkt)
                .unwrap_or_else(|e| panic!("l2sec could not open scapy's {} packet: {e}", case.name));
            assert_eq!(hex::encode(&d.payload), s["payload"].as_str().unwrap(), "{}", case.name);
            assert_eq!(u64::from(d.next_header), s["next_header"].as_u64().unwrap());
            if case.esn {
                assert!(d.seq > 1 << 32, "{}: ESN high half inferred", case.name);
            }
            opened_by_us += 1;
        }
    }
    eprintln!("scapy and l2sec exchanged {} SAs; l2sec opened {opened_by_us} scapy packets", cases.len());
}

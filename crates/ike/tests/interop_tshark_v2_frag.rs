//! Wireshark as an independent dissector of RFC 7383 fragments: an l2sec initiator and
//! responder authenticate with certificates over a 576-byte path, so both IKE_AUTH
//! messages go out as Encrypted Fragment (SKF) messages; every datagram goes into a pcap,
//! the IKE SA keys into Wireshark's IKEv2 decryption table (`keylog`), and tshark must
//! decrypt every fragment, reassemble both messages and find the IDs, certificates and
//! AUTH payloads inside. A wrong key must make the check fail.
//!
//! Needs `tshark` (Wireshark 4.0 or later); fails when it is missing.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use l2sec_ike::cert::{Certificate, CertificateAuth, PrivateKey, TrustStore, UnixTime};
use l2sec_ike::crypto::DhGroup;
use l2sec_ike::keylog;
use l2sec_ike::v2::ike_sa::{Event, Identity, IkeSa, IkeSaConfig};
use l2sec_ike::v2::keys::IkeSuite;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const INITIATOR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const RESPONDER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/certs/");
const NOW: UnixTime = UnixTime(1_767_225_600);
/// The IP datagram size of the path.
const PATH: usize = 576;
/// IKEv2 payload types tshark must find in the reassembled IKE_AUTH messages: IDi / IDr,
/// CERT, AUTH (RFC 7296 §3.2).
const IDI: &str = "35";
const IDR: &str = "36";
const CERT: &str = "37";
const AUTH: &str = "39";

fn auth(name: &str) -> CertificateAuth {
    let read = |f: String| std::fs::read(format!("{DIR}{f}")).unwrap();
    let chain = vec![Certificate::from_pem(&read(format!("{name}.pem"))).unwrap()];
    let key = PrivateKey::from_pem(&read(format!("{name}.key"))).unwrap();
    let mut trust = TrustStore::new();
    trust.add(Certificate::from_pem(&read("ca-rsa.pem".into())).unwrap()).unwrap();
    CertificateAuth::new(chain, key, trust, NOW).unwrap()
}

/// Datagrams (from the initiator?, on port 4500?, IKE message) and the key log line.
fn run(suite: IkeSuite, seed: u64) -> (Vec<(bool, bool, Vec<u8>)>, String) {
    let now = Instant::now();
    let addr = |ip: Ipv4Addr| SocketAddr::new(ip.into(), 500);
    let config = |id: &str, local, remote, cert| {
        let mut c = IkeSaConfig::new(b"unused", Identity::fqdn(id), addr(local), addr(remote));
        c.certificate = Some(auth(cert));
        c.proposals = vec![suite];
        // A 576-byte path: IKE messages of at most 576 - 20 (IPv4) - 8 (UDP) bytes.
        c.fragment_size = Some(PATH - 28);
        c
    };
    let ic = config("client.l2sec.test", INITIATOR, RESPONDER, "client-rsa");
    let rc = config("server.l2sec.test", RESPONDER, INITIATOR, "server-rsa");
    let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(seed), now).unwrap();
    let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(seed + 1), now);
    let mut wire = Vec::new();
    for step in 0..8 {
        let from_i = step % 2 == 0;
        let (a, b) = if from_i { (&mut i, &mut r) } else { (&mut r, &mut i) };
        let mut buf = Vec::new();
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            b.handle_input(now, &buf).unwrap();
            wire.push((from_i, t.udp_encapsulated, std::mem::take(&mut buf)));
        }
    }
    for sa in [&mut i, &mut r] {
        let up = std::iter::from_fn(|| sa.poll_event()).any(|e| matches!(e, Event::Established { .. }));
        assert!(up, "IKEv2 SA not established");
    }
    assert!(wire.len() >= 8, "IKE_AUTH was not fragmented ({} datagrams)", wire.len());
    for (_, _, d) in &wire[2..] {
        assert!(d.len() + 28 <= PATH, "a {}-byte IKE_AUTH datagram on a {PATH}-byte path", d.len());
    }
    (wire, keylog::ikev2_line_for_sa(&i).expect("keys").to_string())
}

fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    let bytes: Vec<u8> = parts.concat();
    for pair in bytes.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A classic pcap (LINKTYPE_RAW) of IPv4/UDP packets.
fn pcap(wire: &[(bool, bool, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [
        0xa1b2_c3d4u32.to_le_bytes().to_vec(),
        vec![2, 0, 4, 0],
        vec![0; 8],
        65_535u32.to_le_bytes().to_vec(),
    ] {
        out.extend_from_slice(&v);
    }
    out.extend_from_slice(&101u32.to_le_bytes());
    for (n, (from_i, encapsulated, ike)) in wire.iter().enumerate() {
        let (src, dst) = if *from_i { (INITIATOR, RESPONDER) } else { (RESPONDER, INITIATOR) };
        let (port, payload) =
            if *encapsulated { (4500u16, [&[0u8; 4][..], ike].concat()) } else { (500, ike.clone()) };
        let udp_len = u16::try_from(8 + payload.len()).unwrap();
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&(udp_len + 20).to_be_bytes());
        ip.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        ip.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]);
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        let c = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut udp = [port.to_be_bytes(), port.to_be_bytes(), udp_len.to_be_bytes(), [0, 0]].concat();
        udp.extend_from_slice(&payload);
        let pseudo = [&src.octets()[..], &dst.octets(), &[0, 17], &udp_len.to_be_bytes()].concat();
        let c = match checksum(&[&pseudo, &udp]) {
            0 => 0xffff,
            c => c,
        };
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&udp);
        let len = u32::try_from(ip.len()).unwrap();
        for v in [1_700_000_000u32, u32::try_from(n).unwrap() * 10_000, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&ip);
    }
    out
}

fn tshark(ws: &Path, pcap: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", ws)
        .arg("-n")
        .arg("-r")
        .arg(pcap)
        .args(args)
        .output()
        .expect("tshark is needed for this test (apt-get install tshark); it could not be run");
    assert!(out.status.success(), "tshark {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn check(name: &str, wire: &[(bool, bool, Vec<u8>)], line: &str) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir =
        std::env::temp_dir().join(format!("l2sec-ike-tshark-frag-{}-{name}-{nanos}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    let ws = dir.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join(keylog::IKEV2_DECRYPTION_TABLE), format!("{}\n{line}\n", keylog::UAT_HEADER))
        .unwrap();
    let pcap_path = dir.join("ikev2-frag.pcap");
    std::fs::write(&pcap_path, pcap(wire)).unwrap();
    let fields = tshark(
        &ws,
        &pcap_path,
        &[
            "-2",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-E",
            "aggregator=,",
            "-e",
            "frame.number",
            "-e",
            "isakmp.exchangetype",
            "-e",
            "isakmp.frag.number",
            "-e",
            "isakmp.frag.total",
            "-e",
            "isakmp.enc.decrypted",
            "-e",
            "isakmp.reassembled.in",
            "-e",
            "isakmp.typepayload",
            "-e",
            "_ws.malformed",
        ],
    );
    println!("{name}:\n{fields}");
    let lines: Vec<Vec<&str>> = fields.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(lines.len(), wire.len(), "{fields}");
    let mut reassembled = 0;
    for f in &lines {
        assert!(f[7].is_empty(), "{name}: malformed frame {f:?}");
        if f[1] != "35" {
            continue;
        }
        assert!(!f[2].is_empty() && !f[3].is_empty(), "{name}: not an SKF fragment: {f:?}");
        assert!(!f[4].is_empty(), "{name}: fragment not decrypted by tshark: {f:?}");
        let types: Vec<&str> = f[6].split(',').collect();
        if types.contains(&AUTH) {
            reassembled += 1;
            assert!(types.contains(&CERT), "{name}: no CERT in the reassembled message: {f:?}");
            assert!(types.contains(&IDI) || types.contains(&IDR), "{name}: no ID: {f:?}");
        }
    }
    assert_eq!(reassembled, 2, "{name}: tshark did not reassemble both IKE_AUTH messages:\n{fields}");
    let bad = tshark(&ws, &pcap_path, &["-Y", "_ws.malformed || _ws.expert.severity >= 0x00600000"]);
    assert!(bad.is_empty(), "{name}: tshark flagged:\n{bad}");
}

/// Removes the scratch directory also when a check fails.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_reassembles_and_decrypts_ikev2_fragments_aes_cbc() {
    let (wire, line) = run(IkeSuite::aes128_sha256(DhGroup::Modp2048), 80);
    check("frag-cbc", &wire, &line);
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_reassembles_and_decrypts_ikev2_fragments_aes_gcm() {
    let (wire, line) = run(IkeSuite::aes_gcm16(32, DhGroup::Curve25519), 82);
    check("frag-gcm", &wire, &line);
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_fragment_check_fails_with_a_wrong_key_log() {
    let (wire, line) = run(IkeSuite::aes128_sha256(DhGroup::Modp2048), 84);
    let mut fields: Vec<String> = line.split(',').map(str::to_owned).collect();
    let c = fields[2].remove(0);
    fields[2].insert(0, if c == '0' { '1' } else { '0' });
    let broken = fields.join(",");
    let r = std::panic::catch_unwind(|| check("frag-wrong-key", &wire, &broken));
    assert!(r.is_err(), "a wrong key log must make the check fail");
}

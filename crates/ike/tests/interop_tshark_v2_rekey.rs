//! Wireshark as an independent IKEv2 dissector for the exchanges on an established IKE
//! SA: an l2sec initiator and responder run IKE_SA_INIT + IKE_AUTH, then CREATE_CHILD_SA
//! (an additional Child SA with PFS, a Child SA rekey, an IKE SA rekey), a Child SA rekey
//! on the new IKE SA, the Deletes, and a liveness check. Every datagram goes into a pcap,
//! l2sec's key log (one line per IKE SA, the rekeyed one included) into Wireshark's
//! `ikev2_decryption_table`, and tshark must decrypt every protected message and find
//! the REKEY_SA notifications and Delete payloads inside.
//!
//! Needs `tshark` (Wireshark 4.0 or later); fails when it is missing.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use l2sec_ike::crypto::DhGroup;
use l2sec_ike::keylog;
use l2sec_ike::v2::ike_sa::{ChildConfig, Event, Identity, IkeSa, IkeSaConfig};
use l2sec_ike::v2::keys::IkeSuite;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const INITIATOR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const RESPONDER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// One datagram as it went over the (virtual) wire.
struct Datagram {
    from_initiator: bool,
    udp_encapsulated: bool,
    isakmp: Vec<u8>,
}

fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        for c in part.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 + UDP packet carrying `payload` (LINKTYPE_RAW).
fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, port: u16, payload: &[u8], ip_id: u16) -> Vec<u8> {
    let udp_len = u16::try_from(8 + payload.len()).unwrap();
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(udp_len + 20).to_be_bytes());
    ip.extend_from_slice(&ip_id.to_be_bytes());
    ip.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut udp = Vec::new();
    udp.extend_from_slice(&port.to_be_bytes());
    udp.extend_from_slice(&port.to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let pseudo = [&src.octets()[..], &dst.octets(), &[0, 17], &udp_len.to_be_bytes()].concat();
    let mut c = checksum(&[&pseudo, &udp]);
    if c == 0 {
        c = 0xffff;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&udp);
    ip
}

/// A classic pcap file (LINKTYPE_RAW = 101).
fn pcap(wire: &[Datagram]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32.to_le_bytes().to_vec(), vec![2, 0, 4, 0], vec![0; 8]] {
        out.extend_from_slice(&v);
    }
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes());
    for (n, d) in wire.iter().enumerate() {
        let (src, dst) = if d.from_initiator { (INITIATOR, RESPONDER) } else { (RESPONDER, INITIATOR) };
        let (port, payload) = if d.udp_encapsulated {
            (4500, [&[0u8; 4][..], &d.isakmp].concat())
        } else {
            (500, d.isakmp.clone())
        };
        let n16 = u16::try_from(n).unwrap();
        let packet = ipv4_udp(src, dst, port, &payload, 0x2000 + n16);
        let len = u32::try_from(packet.len()).unwrap();
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&(u32::from(n16) * 10_000).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&packet);
    }
    out
}

fn scratch_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir =
        std::env::temp_dir().join(format!("l2sec-ike-tshark-v2r-{}-{name}-{nanos}", std::process::id()));
    std::fs::create_dir_all(dir.join("ws")).unwrap();
    dir
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

type Sa = IkeSa<ChaCha20Rng>;

/// Moves every datagram both ways until both are quiet; records them.
fn exchange(i: &mut Sa, r: &mut Sa, now: Instant, wire: &mut Vec<Datagram>) {
    let mut buf = Vec::new();
    for _ in 0..20 {
        let mut quiet = true;
        while let Some(t) = i.poll_transmit(now, &mut buf) {
            quiet = false;
            r.handle_input(now, &buf).unwrap();
            wire.push(Datagram {
                from_initiator: true,
                udp_encapsulated: t.udp_encapsulated,
                isakmp: buf.clone(),
            });
            buf.clear();
        }
        while let Some(t) = r.poll_transmit(now, &mut buf) {
            quiet = false;
            i.handle_input(now, &buf).unwrap();
            wire.push(Datagram {
                from_initiator: false,
                udp_encapsulated: t.udp_encapsulated,
                isakmp: buf.clone(),
            });
            buf.clear();
        }
        if quiet {
            return;
        }
    }
}

/// The whole conversation; returns the datagrams and one key-log line per IKE SA.
fn run(suite: IkeSuite, nat_t: bool, seed: u64) -> (Vec<Datagram>, Vec<String>) {
    run_with(suite, nat_t, seed, None)
}

fn run_with(
    suite: IkeSuite,
    nat_t: bool,
    seed: u64,
    fragment_size: Option<usize>,
) -> (Vec<Datagram>, Vec<String>) {
    let now = Instant::now();
    let addr = |ip: Ipv4Addr| SocketAddr::new(ip.into(), 500);
    let mut ic = IkeSaConfig::new(
        b"tshark v2 rekey",
        Identity::fqdn("client.example"),
        addr(INITIATOR),
        addr(RESPONDER),
    );
    let mut rc = IkeSaConfig::new(
        b"tshark v2 rekey",
        Identity::fqdn("server.example"),
        addr(RESPONDER),
        addr(INITIATOR),
    );
    ic.proposals = vec![suite];
    rc.proposals = vec![suite];
    ic.force_encapsulation = nat_t;
    ic.fragment_size = fragment_size;
    rc.fragment_size = fragment_size;
    let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(seed), now).unwrap();
    let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(seed + 1), now);
    let mut wire = Vec::new();
    exchange(&mut i, &mut r, now, &mut wire);
    let mut lines = vec![keylog::ikev2_line_for_sa(&i).unwrap().to_string()];
    let Some(Event::Established { child, .. }) = i.poll_event() else { panic!("not established") };
    r.poll_event();
    let mut extra = ChildConfig::l2tp(INITIATOR.into(), RESPONDER.into());
    extra.pfs = Some(DhGroup::Curve25519);
    i.create_child(now, extra).unwrap();
    exchange(&mut i, &mut r, now, &mut wire);
    r.rekey_child(now, r.child_spis()[0]).unwrap();
    exchange(&mut i, &mut r, now, &mut wire);
    i.rekey_ike(now).unwrap();
    exchange(&mut i, &mut r, now, &mut wire);
    let after_rekey = keylog::ikev2_line_for_sa(&i).unwrap().to_string();
    assert_eq!(Some(after_rekey.as_str()), keylog::ikev2_line_for_sa(&r).as_deref().map(String::as_str));
    assert_ne!(after_rekey, lines[0]);
    lines.push(after_rekey);
    let spi = i.child_spis()[0];
    assert_ne!(spi, child.spi_in, "the first Child SA was replaced");
    i.rekey_child(now, spi).unwrap();
    exchange(&mut i, &mut r, now, &mut wire);
    r.check_liveness(now).unwrap();
    exchange(&mut i, &mut r, now, &mut wire);
    i.delete(now).unwrap();
    exchange(&mut i, &mut r, now, &mut wire);
    let events: Vec<Event> = std::iter::from_fn(|| i.poll_event()).collect();
    assert!(matches!(events.last(), Some(Event::Closed)), "{events:?}");
    (wire, lines)
}

fn check(name: &str, wire: &[Datagram], lines: &[String]) {
    let dir = scratch_dir(name);
    let ws = dir.join("ws");
    let table = format!("{}\n{}\n", keylog::UAT_HEADER, lines.join("\n"));
    std::fs::write(ws.join(keylog::IKEV2_DECRYPTION_TABLE), table).unwrap();
    let pcap_path = dir.join("ikev2-rekey.pcap");
    std::fs::write(&pcap_path, pcap(wire)).unwrap();
    let ctx = format!("{name} (capture and keys in {})", dir.display());
    let fields = tshark(
        &ws,
        &pcap_path,
        &[
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
            "-e",
            "frame.number",
            "-e",
            "isakmp.exchangetype",
            "-e",
            "isakmp.enc.decrypted",
            "-e",
            "isakmp.notify.msgtype",
            "-e",
            "isakmp.delete.protoid",
            "-e",
            "_ws.malformed",
        ],
    );
    let rows: Vec<Vec<&str>> = fields.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), wire.len(), "{ctx}: {fields}");
    let mut create_child = 0;
    let mut informational = 0;
    for row in &rows {
        assert!(row[5].is_empty(), "{ctx}: malformed frame {row:?}");
        match row[1] {
            "34" => {}
            "35" | "36" | "37" => {
                assert!(!row[2].is_empty(), "{ctx}: frame {} (exchange {}) not decrypted", row[0], row[1]);
                if row[1] == "36" {
                    create_child += 1;
                } else if row[1] == "37" {
                    informational += 1;
                }
            }
            other => panic!("{ctx}: unexpected exchange type {other}"),
        }
    }
    // Additional Child SA, two Child SA rekeys, one IKE SA rekey: 4 exchanges.
    assert_eq!(create_child, 8, "{ctx}: {fields}");
    // Deletes of two old Child SAs, of the old IKE SA, the liveness check, the final
    // Delete: 5 exchanges.
    assert_eq!(informational, 10, "{ctx}: {fields}");
    // Inside: REKEY_SA (16393) in the two Child SA rekey requests, ESP (3) and IKE (1)
    // Delete payloads.
    let rekey_sa = rows.iter().filter(|r| r[3].split(',').any(|t| t == "16393")).count();
    assert_eq!(rekey_sa, 2, "{ctx}: {fields}");
    assert!(rows.iter().any(|r| r[4] == "3"), "{ctx}: no ESP Delete seen: {fields}");
    assert!(rows.iter().filter(|r| r[4] == "1").count() >= 2, "{ctx}: IKE Deletes: {fields}");
    let bad = tshark(&ws, &pcap_path, &["-Y", "_ws.malformed || _ws.expert.severity >= 0x00600000"]);
    assert!(bad.is_empty(), "{ctx}: tshark flagged:\n{bad}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_ikev2_create_child_sa_rekeys_and_deletes() {
    let (wire, lines) = run(IkeSuite::aes128_sha256(DhGroup::Modp2048), false, 90);
    check("cbc", &wire, &lines);
    let (wire, lines) = run(IkeSuite::aes_gcm16(16, DhGroup::Curve25519), true, 92);
    check("gcm-nat-t", &wire, &lines);
}

/// Without the rekeyed IKE SA's line, tshark cannot decrypt what follows the rekey: the
/// check fails.
#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_v2_rekey_check_fails_without_the_new_key_log_line() {
    let (wire, lines) = run(IkeSuite::aes128_sha256(DhGroup::Modp2048), false, 94);
    let r = std::panic::catch_unwind(|| check("missing-line", &wire, &lines[..1]));
    assert!(r.is_err(), "the check must fail without the rekeyed IKE SA's keys");
}

/// RFC 7383: with 300-byte fragments, tshark decrypts every SKF fragment on its own with
/// the same key log and finds nothing malformed.
#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_ikev2_fragments() {
    let (wire, lines) = run_with(IkeSuite::aes128_sha256(DhGroup::Modp2048), false, 96, Some(300));
    let fragments = wire.iter().filter(|d| d.isakmp[16] == 53).count();
    assert!(fragments >= 4, "the exchange was fragmented: {fragments} SKF messages");
    let dir = scratch_dir("fragments");
    let ws = dir.join("ws");
    let table = format!("{}\n{}\n", keylog::UAT_HEADER, lines.join("\n"));
    std::fs::write(ws.join(keylog::IKEV2_DECRYPTION_TABLE), table).unwrap();
    let pcap_path = dir.join("ikev2-fragments.pcap");
    std::fs::write(&pcap_path, pcap(&wire)).unwrap();
    let fields = tshark(
        &ws,
        &pcap_path,
        &[
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "frame.number",
            "-e",
            "isakmp.nextpayload",
            "-e",
            "isakmp.enc.decrypted",
            "-e",
            "_ws.malformed",
        ],
    );
    let rows: Vec<Vec<&str>> = fields.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), wire.len(), "{fields}");
    let mut decrypted_fragments = 0;
    for (row, d) in rows.iter().zip(&wire) {
        assert!(row[3].is_empty(), "malformed frame {row:?}");
        if d.isakmp[16] == 53 {
            assert!(!row[2].is_empty(), "SKF frame {} not decrypted: {fields}", row[0]);
            decrypted_fragments += 1;
        }
    }
    assert_eq!(decrypted_fragments, fragments);
    let bad = tshark(&ws, &pcap_path, &["-Y", "_ws.malformed || _ws.expert.severity >= 0x00600000"]);
    assert!(bad.is_empty(), "tshark flagged:\n{bad}");
    std::fs::remove_dir_all(&dir).ok();
}

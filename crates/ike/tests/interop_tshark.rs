//! Wireshark as an independent IKEv1 dissector: an l2sec initiator and an l2sec responder
//! run Main Mode (or Aggressive Mode) and a transport-mode Quick Mode for L2TP (UDP/1701),
//! optionally followed by informational exchanges (DPD R-U-THERE and its ACK, Deletes of
//! the ESP and ISAKMP SAs), every datagram
//! either side sends goes into a pcap, the phase-1 keys go into a Wireshark key log
//! (`keylog`), and tshark must dissect every frame cleanly and decrypt every encrypted
//! message. The lab's `tools/decode.sh` must agree.
//!
//! Needs `tshark` (Wireshark 4.0 or later); fails when it is missing.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use l2sec_ike::child::{EspEncapsulation, EspEncryption, EspIntegrity, EspMode};
use l2sec_ike::crypto::{CipherAlgorithm, DhGroup, PrfAlgorithm};
use l2sec_ike::keylog;
use l2sec_ike::v1::info::{self, Informational};
use l2sec_ike::v1::phase1::{Event, Identity, NatTraversal, Phase1, Phase1Config, Phase1Proposal, State};
use l2sec_ike::v1::quick::{
    EspProposal, QuickMode, QuickModeConfig, QuickModeEvent, QuickModeState, TrafficSelector,
};
use l2sec_ike::wire::v1::{IdType, ProtocolId};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/lab");
const INITIATOR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const RESPONDER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// RFC 3948 §2.2: the four zero bytes in front of IKE messages on port 4500.
const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// One datagram as it went over the (virtual) wire.
struct Datagram {
    from_initiator: bool,
    /// Sent on port 4500 with the non-ESP marker.
    udp_encapsulated: bool,
    /// The ISAKMP message (without the marker).
    isakmp: Vec<u8>,
}

/// The phase-1 proposals under test.
fn proposal(aes256_sha256: bool) -> Phase1Proposal {
    let lifetime = Duration::from_secs(28_800);
    if aes256_sha256 {
        Phase1Proposal {
            encryption: CipherAlgorithm::AesCbc256,
            hash: PrfAlgorithm::HmacSha256,
            group: DhGroup::Modp2048,
            lifetime,
        }
    } else {
        Phase1Proposal {
            encryption: CipherAlgorithm::AesCbc128,
            hash: PrfAlgorithm::HmacSha1,
            group: DhGroup::Modp2048,
            lifetime,
        }
    }
}

/// Quick Mode settings of an L2TP/IPsec client: transport mode, UDP/1701 both ways.
fn l2tp_quick_mode(aes256_sha256: bool, nat_t: bool) -> QuickModeConfig {
    let esp = if aes256_sha256 {
        EspProposal {
            encryption: EspEncryption::AesCbc { key_len: 32 },
            integrity: EspIntegrity::HmacSha256_128,
            lifetime: Duration::from_secs(3600),
        }
    } else {
        EspProposal {
            encryption: EspEncryption::AesCbc { key_len: 16 },
            integrity: EspIntegrity::HmacSha1_96,
            lifetime: Duration::from_secs(3600),
        }
    };
    let ts = |a: Ipv4Addr| TrafficSelector {
        id_type: IdType::Ipv4Addr,
        protocol: 17,
        port: 1701,
        data: a.octets().to_vec(),
    };
    QuickModeConfig {
        proposals: vec![esp],
        mode: EspMode::Transport,
        encapsulation: if nat_t {
            EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 }
        } else {
            EspEncapsulation::None
        },
        traffic_selectors: Some((ts(INITIATOR), ts(RESPONDER))),
        retransmit_timeout: Duration::from_secs(1),
        max_retransmits: 3,
        pfs_group: None,
        nat_oa: None,
    }
}

/// What a scenario runs besides the Quick Mode.
#[derive(Clone, Copy)]
struct Flow {
    /// Aggressive Mode (three messages) instead of Main Mode.
    aggressive: bool,
    /// After the Quick Mode: R-U-THERE from the initiator, the responder's ACK, then the
    /// initiator's Deletes of its ESP SA and of the ISAKMP SA.
    informational: bool,
}

const MAIN_MODE: Flow = Flow { aggressive: false, informational: false };

/// Runs Main Mode then Quick Mode between two l2sec peers; returns every datagram in
/// order and the key-log line (checked to be the same on both sides).
fn run_exchange(aes256_sha256: bool, nat_t: bool, seed: u64) -> (Vec<Datagram>, String) {
    run_flow(aes256_sha256, nat_t, seed, MAIN_MODE)
}

/// [`run_exchange`] with the phase-1 mode and the informational tail of `flow`.
fn run_flow(aes256_sha256: bool, nat_t: bool, seed: u64, flow: Flow) -> (Vec<Datagram>, String) {
    let now = Instant::now();
    let cfg = |local: Ipv4Addr, remote: Ipv4Addr, force| {
        let mut c = Phase1Config::new(b"tshark interop psk", Identity::ipv4(local));
        c.proposals = vec![proposal(aes256_sha256)];
        c.allow_aggressive = flow.aggressive;
        if nat_t {
            c.nat_traversal = Some(NatTraversal {
                local: (local, 500).into(),
                remote: (remote, 500).into(),
                // No real NAT here: the initiator claims one (strongSwan's encap=yes) so
                // that IKE floats to 4500 and ESP is UDP-encapsulated.
                force_encapsulation: force,
            });
        }
        c
    };
    let initiator_cfg = cfg(INITIATOR, RESPONDER, true);
    let rng = ChaCha20Rng::seed_from_u64(seed);
    let mut i = if flow.aggressive {
        Phase1::initiate_aggressive(initiator_cfg, rng, now).unwrap()
    } else {
        Phase1::initiate(initiator_cfg, rng, now).unwrap()
    };
    let mut r = Phase1::respond(cfg(RESPONDER, INITIATOR, false), ChaCha20Rng::seed_from_u64(seed + 1), now);
    let mut wire = Vec::new();
    for _ in 0..10 {
        let mut quiet = true;
        let mut buf = Vec::new();
        while let Some(t) = i.poll_transmit(now, &mut buf) {
            quiet = false;
            r.handle_input(now, &buf).unwrap();
            wire.push(Datagram { from_initiator: true, udp_encapsulated: t.udp_encapsulated, isakmp: buf });
            buf = Vec::new();
        }
        while let Some(t) = r.poll_transmit(now, &mut buf) {
            quiet = false;
            i.handle_input(now, &buf).unwrap();
            wire.push(Datagram { from_initiator: false, udp_encapsulated: t.udp_encapsulated, isakmp: buf });
            buf = Vec::new();
        }
        if quiet {
            break;
        }
    }
    assert_eq!(i.state(), State::Established);
    assert_eq!(r.state(), State::Established);
    let phase1_len = if flow.aggressive { 3 } else { 6 };
    assert_eq!(wire.len(), phase1_len, "Main Mode is six messages, Aggressive Mode three");
    for m in [&mut i, &mut r] {
        match m.poll_event() {
            Some(Event::Established { nat, proposal: p, .. }) => {
                assert_eq!(p.encryption, proposal(aes256_sha256).encryption);
                assert_eq!(nat.is_some_and(|n| n.nat_detected()), nat_t);
            }
            other => panic!("expected Established, got {other:?}"),
        }
    }
    // Main Mode floats to 4500 for MM5/MM6, Aggressive Mode for AM3.
    let floated = match (nat_t, flow.aggressive) {
        (false, _) => 0,
        (true, false) => 2,
        (true, true) => 1,
    };
    assert_eq!(wire.iter().filter(|d| d.udp_encapsulated).count(), floated);
    let line = keylog::ikev1_line_for_phase1(&i).unwrap();
    assert_eq!(keylog::ikev1_line_for_phase1(&r).unwrap(), line);

    // Quick Mode: HASH(1), SA, Ni, IDci, IDcr / HASH(2), ... / HASH(3).
    let (ci, cr) = (i.isakmp_context().unwrap(), r.isakmp_context().unwrap());
    // Informational exchanges use the ISAKMP SA's keys and phase-1 IV chain too.
    let (info_i, info_r) = (ci.clone(), cr.clone());
    assert_eq!(ci.udp_encapsulated, nat_t);
    let qcfg = l2tp_quick_mode(aes256_sha256, nat_t);
    let mut qi = QuickMode::initiate(ci, qcfg.clone(), ChaCha20Rng::seed_from_u64(seed + 2), now).unwrap();
    let mut send = |q: &mut QuickMode<ChaCha20Rng>, from_initiator: bool| {
        let mut buf = Vec::new();
        let t = q.poll_transmit(now, &mut buf).expect("a Quick Mode message");
        wire.push(Datagram { from_initiator, udp_encapsulated: t.udp_encapsulated, isakmp: buf.clone() });
        buf
    };
    let m1 = send(&mut qi, true);
    let mut qr = QuickMode::respond(cr, qcfg, ChaCha20Rng::seed_from_u64(seed + 3), now, &m1).unwrap();
    let m2 = send(&mut qr, false);
    qi.handle_input(now, &m2).unwrap();
    let m3 = send(&mut qi, true);
    qr.handle_input(now, &m3).unwrap();
    let mut inbound_spis = Vec::new();
    for q in [&mut qi, &mut qr] {
        assert_eq!(q.state(), QuickModeState::Established);
        match q.poll_event() {
            Some(QuickModeEvent::Established { child, .. }) => {
                assert_eq!(child.mode, EspMode::Transport);
                inbound_spis.push(child.spi_in);
            }
            other => panic!("expected Established, got {other:?}"),
        }
    }
    let qi_inbound_spi = inbound_spis[0];
    assert_eq!(wire.len(), phase1_len + 3);
    if flow.informational {
        let mut rng = ChaCha20Rng::seed_from_u64(seed + 4);
        let mut tell = |ctx: &_, info: &Informational, from_initiator: bool| {
            let message = info::encode(ctx, info, &mut rng).unwrap();
            let peer = if from_initiator { &info_r } else { &info_i };
            assert_eq!(&info::decode(peer, &message).unwrap(), std::slice::from_ref(info));
            wire.push(Datagram { from_initiator, udp_encapsulated: nat_t, isakmp: message });
        };
        tell(&info_i, &Informational::dpd(&info_i, 7, false), true);
        tell(&info_r, &Informational::dpd(&info_r, 7, true), false);
        let esp_spi = qi_inbound_spi.to_be_bytes().to_vec();
        tell(
            &info_i,
            &Informational::Delete { protocol_id: ProtocolId::IpsecEsp, spis: vec![esp_spi] },
            true,
        );
        let mut cookies = info_i.cookies.0.to_vec();
        cookies.extend_from_slice(&info_i.cookies.1);
        tell(&info_i, &Informational::Delete { protocol_id: ProtocolId::Isakmp, spis: vec![cookies] }, true);
        assert_eq!(wire.len(), phase1_len + 7, "two DPD and two Delete messages follow the Quick Mode");
        assert!(wire[phase1_len + 3..].iter().all(|d| d.isakmp[18] == 5), "informational exchanges");
    }
    (wire, line.as_str().to_owned())
}

/// RFC 1071 Internet checksum over `parts`.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    let bytes = parts.iter().flat_map(|p| p.iter().copied());
    let mut hi = None;
    for b in bytes {
        match hi.take() {
            None => hi = Some(b),
            Some(h) => sum += u32::from(u16::from_be_bytes([h, b])),
        }
    }
    if let Some(h) = hi {
        sum += u32::from(u16::from_be_bytes([h, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 + UDP packet carrying `payload` (LINKTYPE_RAW).
fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, port: u16, payload: &[u8], ip_id: u16) -> Vec<u8> {
    let udp_len = u16::try_from(8 + payload.len()).unwrap();
    let total = udp_len + 20;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&ip_id.to_be_bytes());
    ip.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut udp = Vec::with_capacity(usize::from(udp_len));
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

/// A classic pcap file (microsecond timestamps, LINKTYPE_RAW = 101) of the exchange.
fn pcap(wire: &[Datagram]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes());
    for (n, d) in wire.iter().enumerate() {
        let (src, dst) = if d.from_initiator { (INITIATOR, RESPONDER) } else { (RESPONDER, INITIATOR) };
        let (port, payload) = if d.udp_encapsulated {
            (4500, [&NON_ESP_MARKER[..], &d.isakmp].concat())
        } else {
            (500, d.isakmp.clone())
        };
        let n16 = u16::try_from(n).unwrap();
        let packet = ipv4_udp(src, dst, port, &payload, 0x1000 + n16);
        let len = u32::try_from(packet.len()).unwrap();
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&(u32::from(n16) * 10_000).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&packet);
    }
    out
}

/// A fresh private directory under the system temp dir.
fn scratch_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("l2sec-ike-tshark-{}-{name}-{nanos}", std::process::id()));
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

/// Writes the capture and key log into `dir`, then checks tshark's dissection.
fn check_with_tshark(dir: &Path, name: &str, wire: &[Datagram], keylog_line: &str) {
    let ws = dir.join("ws");
    let pcap_path = dir.join("ike.pcap");
    std::fs::write(&pcap_path, pcap(wire)).unwrap();
    std::fs::write(
        ws.join(keylog::IKEV1_DECRYPTION_TABLE),
        keylog::ikev1_decryption_table([keylog_line]).as_bytes(),
    )
    .unwrap();
    let ctx = format!("{name} (capture and keys kept in {})", dir.display());

    // Every frame is ISAKMP.
    let protocols = tshark(&ws, &pcap_path, &["-T", "fields", "-e", "frame.protocols"]);
    let protocols: Vec<&str> = protocols.lines().collect();
    assert_eq!(protocols.len(), wire.len(), "{ctx}: frame count");
    for (n, (p, d)) in protocols.iter().zip(wire).enumerate() {
        let want = if d.udp_encapsulated { "raw:ip:udp:udpencap:isakmp" } else { "raw:ip:udp:isakmp" };
        assert_eq!(*p, want, "{ctx}: frame {} protocols", n + 1);
    }

    // Nothing malformed, no expert item of severity warning (0x00600000) or above.
    let bad = tshark(
        &ws,
        &pcap_path,
        &["-Y", "_ws.malformed || _ws.expert.severity >= 0x00600000", "-T", "fields", "-e", "frame.number"],
    );
    assert!(bad.trim().is_empty(), "{ctx}: frames with malformed/expert warnings: {bad}");

    // Every encrypted message was decrypted: its HASH payload (the first payload of
    // MM5/MM6 after the ID, and of every Quick Mode message) is visible.
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
            "isakmp.flag_e",
            "-e",
            "isakmp.hash",
            "-e",
            "isakmp.id.port",
        ],
    );
    let mut encrypted = 0;
    let mut l2tp_ports = 0;
    for (line, d) in fields.lines().zip(wire) {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f.len(), 5, "{ctx}: {line}");
        let exchange_type = d.isakmp[18];
        let e_flag = d.isakmp[19] & 1 == 1;
        assert_eq!(f[1], exchange_type.to_string(), "{ctx}: exchange type of frame {}", f[0]);
        assert_eq!(f[2] == "1" || f[2] == "True", e_flag, "{ctx}: E flag of frame {}", f[0]);
        if e_flag {
            encrypted += 1;
            assert!(!f[3].is_empty(), "{ctx}: frame {} (exchange {exchange_type}) not decrypted", f[0]);
        } else if exchange_type != 4 {
            // Aggressive Mode's AM2 carries HASH_R in clear text; nothing else does.
            assert!(f[3].is_empty(), "{ctx}: frame {} is clear text and has no HASH", f[0]);
        }
        if exchange_type == 32 {
            // IDci/IDcr in HASH(1) and HASH(2): the L2TP traffic selectors UDP/1701, seen
            // only after decryption; HASH(3) carries none.
            let want = if l2tp_ports < 2 { "1701,1701" } else { "" };
            assert_eq!(f[4], want, "{ctx}: Quick Mode IDs of frame {}", f[0]);
            l2tp_ports += 1;
        }
    }
    let want_encrypted = wire.iter().filter(|d| d.isakmp[19] & 1 == 1).count();
    assert!(want_encrypted >= 4, "{ctx}: at least the Quick Mode and the last phase-1 message are encrypted");
    assert_eq!(encrypted, want_encrypted, "{ctx}: encrypted messages");
    assert_eq!(l2tp_ports, 3, "{ctx}: three Quick Mode messages");

    // The lab's decoder agrees.
    let decode = Path::new(LAB).join("strongswan/tools/decode.sh");
    assert!(decode.exists(), "{ctx}: lab decoder {} missing", decode.display());
    let out = Command::new("bash").arg(&decode).arg(&pcap_path).arg(&ws).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{ctx}: decode.sh failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary =
        format!("SUMMARY ike={} ike_encrypted={want_encrypted} ike_decrypted={want_encrypted} ", wire.len());
    assert!(stdout.contains(&summary), "{ctx}: decode.sh said (wanted {summary:?}):\n{stdout}");
}

fn scenario(name: &str, aes256_sha256: bool, nat_t: bool, seed: u64) {
    flow_scenario(name, aes256_sha256, nat_t, seed, MAIN_MODE);
}

fn flow_scenario(name: &str, aes256_sha256: bool, nat_t: bool, seed: u64, flow: Flow) {
    let (wire, line) = run_flow(aes256_sha256, nat_t, seed, flow);
    let dir = scratch_dir(name);
    check_with_tshark(&dir, name, &wire, &line);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_aes128_sha1_modp2048() {
    scenario("aes128-sha1", false, false, 100);
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_aes128_sha1_modp2048_nat_t() {
    scenario("aes128-sha1-natt", false, true, 200);
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_aes256_sha256_modp2048() {
    scenario("aes256-sha256", true, false, 300);
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_aes256_sha256_modp2048_nat_t() {
    scenario("aes256-sha256-natt", true, true, 400);
}

/// The check can fail: with a wrong Ka the decrypted bytes are garbage (malformed
/// payloads); with another SA's cookie nothing is decrypted at all.
#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_main_mode_dpd_and_deletes() {
    let flow = Flow { aggressive: false, informational: true };
    flow_scenario("mm-info", false, false, 61, flow);
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_aggressive_mode_dpd_and_deletes() {
    let flow = Flow { aggressive: true, informational: true };
    flow_scenario("am-info", false, false, 71, flow);
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_aggressive_mode_nat_t_aes256_sha256() {
    let flow = Flow { aggressive: true, informational: true };
    flow_scenario("am-nat-t", true, true, 81, flow);
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_check_fails_with_a_wrong_key_log() {
    let (wire, line) = run_exchange(false, true, 500);
    let (cookie, ka) = line.split_once(',').unwrap();
    let flip = |s: &str| s.chars().map(|c| if c == '0' { '1' } else { '0' }).collect::<String>();
    for (name, log, expect) in [
        ("wrong-ka", format!("{cookie},{}", flip(ka)), "malformed"),
        ("wrong-cookie", format!("{},{ka}", flip(cookie)), "not decrypted"),
    ] {
        let dir = scratch_dir(name);
        let result = std::panic::catch_unwind(|| check_with_tshark(&dir, name, &wire, &log));
        std::fs::remove_dir_all(&dir).unwrap();
        let Err(e) = result else { panic!("{name}: tshark check passed with a wrong key log") };
        let message = e.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains(expect), "{name}: {message}");
    }
}

// ------------------------------------------------------------------------------------
// IKEv2: tshark decrypts IKE_AUTH with the key log l2sec writes
// ------------------------------------------------------------------------------------

/// An IKEv2 IKE_SA_INIT + IKE_AUTH with a transport-mode UDP/1701 child between l2sec's
/// initiator and responder; returns the datagrams and the initiator's key log line.
fn run_ikev2(suite: l2sec_ike::v2::keys::IkeSuite, nat_t: bool, seed: u64) -> (Vec<Datagram>, String) {
    use l2sec_ike::v2::ike_sa::{ChildConfig, Event as V2Event, Identity as V2Identity, IkeSa, IkeSaConfig};
    let now = Instant::now();
    let addr = |ip: Ipv4Addr| std::net::SocketAddr::new(ip.into(), 500);
    let psk = b"tshark interop v2 psk";
    let mut ic = IkeSaConfig::new(psk, V2Identity::fqdn("client.example"), addr(INITIATOR), addr(RESPONDER));
    let mut rc = IkeSaConfig::new(psk, V2Identity::fqdn("server.example"), addr(RESPONDER), addr(INITIATOR));
    ic.proposals = vec![suite];
    rc.proposals = vec![suite];
    ic.force_encapsulation = nat_t;
    ic.child = ChildConfig::l2tp(INITIATOR.into(), RESPONDER.into());
    rc.child = ChildConfig::l2tp(RESPONDER.into(), INITIATOR.into());
    let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(seed), now).unwrap();
    let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(seed + 1), now);
    let mut wire = Vec::new();
    let mut buf = Vec::new();
    for _ in 0..6 {
        while let Some(t) = i.poll_transmit(now, &mut buf) {
            let isakmp = buf[buf.len() - t.size..].to_vec();
            r.handle_input(now, &isakmp).unwrap();
            wire.push(Datagram { from_initiator: true, udp_encapsulated: t.udp_encapsulated, isakmp });
            buf.clear();
        }
        while let Some(t) = r.poll_transmit(now, &mut buf) {
            let isakmp = buf[buf.len() - t.size..].to_vec();
            i.handle_input(now, &isakmp).unwrap();
            wire.push(Datagram { from_initiator: false, udp_encapsulated: t.udp_encapsulated, isakmp });
            buf.clear();
        }
    }
    for sa in [&mut i, &mut r] {
        let up = std::iter::from_fn(|| sa.poll_event()).any(|e| matches!(e, V2Event::Established { .. }));
        assert!(up, "IKEv2 SA not established");
    }
    assert_eq!(wire.len(), 4, "IKE_SA_INIT and IKE_AUTH");
    let line = keylog::ikev2_line_for_sa(&i).expect("keys exist");
    assert_eq!(Some(line.as_str()), keylog::ikev2_line_for_sa(&r).as_deref().map(String::as_str));
    (wire, line.to_string())
}

fn check_ikev2_with_tshark(name: &str, wire: &[Datagram], line: &str) {
    let dir = scratch_dir(name);
    let ws = dir.join("ws");
    std::fs::write(ws.join(keylog::IKEV2_DECRYPTION_TABLE), format!("{}\n{line}\n", keylog::UAT_HEADER))
        .unwrap();
    let pcap_path = dir.join("ikev2.pcap");
    std::fs::write(&pcap_path, pcap(wire)).unwrap();
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
            "isakmp.exchangetype",
            "-e",
            "isakmp.enc.decrypted",
            "-e",
            "_ws.malformed",
        ],
    );
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), wire.len(), "{fields}");
    for l in &lines {
        let f: Vec<&str> = l.split('|').collect();
        assert!(f[3].is_empty(), "{name}: malformed frame {l}");
        if f[1] == "35" {
            assert!(!f[2].is_empty(), "{name}: IKE_AUTH not decrypted by tshark: {l}");
        }
    }
    assert_eq!(lines.iter().filter(|l| l.split('|').nth(1) == Some("35")).count(), 2, "{fields}");
    let bad = tshark(&ws, &pcap_path, &["-Y", "_ws.malformed || _ws.expert.severity >= 0x00600000"]);
    assert!(bad.is_empty(), "{name}: tshark flagged:\n{bad}");
    let decode =
        Command::new(format!("{LAB}/strongswan/tools/decode.sh")).arg(&pcap_path).arg(&ws).output().unwrap();
    assert!(decode.status.success(), "{name}: decode.sh: {}", String::from_utf8_lossy(&decode.stdout));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_ikev2_aes_cbc_sha256() {
    use l2sec_ike::v2::keys::IkeSuite;
    let (wire, line) = run_ikev2(IkeSuite::aes128_sha256(DhGroup::Modp2048), false, 70);
    check_ikev2_with_tshark("v2-cbc", &wire, &line);
    let (wire, line) = run_ikev2(IkeSuite::aes256_sha256(DhGroup::Curve25519), true, 72);
    check_ikev2_with_tshark("v2-cbc-nat-t", &wire, &line);
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_decrypts_ikev2_aes_gcm() {
    use l2sec_ike::v2::keys::IkeSuite;
    let (wire, line) = run_ikev2(IkeSuite::aes_gcm16(16, DhGroup::Ecp256), false, 74);
    check_ikev2_with_tshark("v2-gcm", &wire, &line);
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_ikev2_check_fails_with_a_wrong_key_log() {
    use l2sec_ike::v2::keys::IkeSuite;
    let (wire, line) = run_ikev2(IkeSuite::aes128_sha256(DhGroup::Modp2048), false, 76);
    // Flip one hex digit of SK_ei (the third field).
    let mut fields: Vec<String> = line.split(',').map(str::to_owned).collect();
    let c = fields[2].remove(0);
    fields[2].insert(0, if c == '0' { '1' } else { '0' });
    let broken = fields.join(",");
    let r = std::panic::catch_unwind(|| check_ikev2_with_tshark("v2-wrong-key", &wire, &broken));
    assert!(r.is_err(), "a wrong key log must make the check fail");
}

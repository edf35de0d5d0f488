//! Interop: RFC 7383 IKE fragmentation against a real strongSwan charon, both directions.
//!
//! charon gets `charon { fragment_size = 160 }` (through the lab's `EXTRA_CONF`), so its
//! IKE_AUTH messages, which are far longer, go out in Encrypted Fragment (SKF) payloads;
//! our side fragments too, with the smallest size it allows
//! ([`IkeSaConfig::fragment_size`] `Some(200)`, IKE message bytes). Then charon must hold
//! an established IKE SA with an installed CHILD_SA, and its log must show it reassembled
//! our fragments. Covers our initiator with AES-CBC and AES-GCM and our responder with
//! charon initiating (`interop_strongswan_v2_rekey.rs` has the initiator with 300 bytes
//! and a fragmented CREATE_CHILD_SA). Needs root and the lab packages; it fails (never
//! skips) without them.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use l2sec_ike::child::{EspEncryption, EspIntegrity, EspMode};
use l2sec_ike::crypto::DhGroup;
use l2sec_ike::v2::ike_sa::{Event, Identity, IkeSa, IkeSaConfig};
use l2sec_ike::v2::keys::IkeSuite;
use l2sec_ike::wire::v2::TrafficSelector;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const INNER_ENV: &str = "L2SEC_IKEV2_FRAG_INNER";
const PSK: &[u8] = b"lab-psk-0123456789";
/// The IP datagram size charon fragments for.
const PATH: usize = 160;
/// The IKE message size we fragment for (the smallest `IkeSaConfig::fragment_size` takes).
const OURS: usize = 200;
/// The IKE Next Payload value of an Encrypted Fragment payload (RFC 7383 §2.5).
const SKF: u8 = 53;

mod strongswan_lab;

use strongswan_lab::Lab;

/// Writes the strongswan.conf fragment that makes charon fragment for a small path.
fn extra_conf(lab: &Lab) -> String {
    let path = lab.state.join("fragment.conf");
    std::fs::write(&path, format!("charon {{\n  fragment_size = {PATH}\n}}\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Our initiator (LAB-a) against charon's `r-v2` responder (LAB-b), child `v2-tun`.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_fragmented_initiator_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner(true, false);
        return;
    }
    let lab = Lab::up("hv2x", INNER_ENV);
    let extra = extra_conf(&lab);
    lab.run_env(&["start", "srv", "hv2x-b", "responder"], &[("EXTRA_CONF", &extra)]);
    let inner = lab.spawn_inner("a", "ikev2_fragmented_initiator_against_charon");
    let inner = inner.wait_with_output().unwrap();
    check(&lab, "srv", &inner);
}

/// The same with AES-GCM-16 (RFC 5282) for the IKE SA: each fragment is sealed with its
/// own IV and tag, the associated data ending with the SKF fragment fields.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_fragmented_initiator_aes_gcm_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner(true, true);
        return;
    }
    let lab = Lab::up("hv2y", INNER_ENV);
    let extra = extra_conf(&lab);
    lab.run_env(&["start", "srv", "hv2y-b", "responder"], &[("EXTRA_CONF", &extra)]);
    let inner = lab.spawn_inner("a", "ikev2_fragmented_initiator_aes_gcm_against_charon");
    let inner = inner.wait_with_output().unwrap();
    check(&lab, "srv", &inner);
    let sas = lab.run(&["swanctl", "srv", "--list-sas", "--raw"]);
    assert!(String::from_utf8_lossy(&sas.stdout).contains("encr-alg=AES_GCM_16"), "not AES-GCM");
}

/// charon's `i-v2` initiator (LAB-a), child `v2-tun`, against our responder (LAB-b).
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_fragmented_responder_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner(false, false);
        return;
    }
    let lab = Lab::up("hv2z", INNER_ENV);
    let extra = extra_conf(&lab);
    lab.run_env(&["start", "cli", "hv2z-a", "initiator"], &[("EXTRA_CONF", &extra)]);
    let inner = lab.spawn_inner("b", "ikev2_fragmented_responder_against_charon");
    std::thread::sleep(Duration::from_millis(300)); // let the responder bind its ports
    let up = lab.cmd().args(["up", "cli", "v2-tun", "10"]).output().unwrap();
    let inner = inner.wait_with_output().unwrap();
    assert!(
        up.status.success(),
        "charon's `up` failed:\n{}\n{}\n--- inner:\n{}",
        String::from_utf8_lossy(&up.stdout),
        lab.charon_log("cli", 60),
        String::from_utf8_lossy(&inner.stdout)
    );
    check(&lab, "cli", &inner);
}

/// The inner run established with fragments both ways, and charon agrees.
fn check(lab: &Lab, charon: &str, inner: &std::process::Output) {
    let inner_out = String::from_utf8_lossy(&inner.stdout);
    assert!(
        inner.status.success(),
        "inner run failed:\n{inner_out}\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stderr),
        lab.charon_log(charon, 80)
    );
    let ours = inner_out.lines().find(|l| l.starts_with("established")).unwrap_or_else(|| {
        panic!(
            "inner run did not establish:\n{inner_out}\n--- charon log tail:\n{}",
            lab.charon_log(charon, 80)
        )
    });
    println!("{ours}");
    let count = |key: &str| -> usize {
        ours.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {ours}"))
    };
    assert!(count("fragments_sent=") >= 2, "we sent no fragments: {ours}");
    assert!(count("fragments_received=") >= 2, "charon sent no fragments: {ours}");
    assert!(count("largest_fragment=") <= OURS, "a fragment longer than {OURS} bytes: {ours}");
    let sas = lab.run(&["swanctl", charon, "--list-sas", "--raw"]);
    let sas = String::from_utf8_lossy(&sas.stdout);
    println!("charon: {sas}");
    assert!(
        sas.contains("version=2") && sas.contains("state=ESTABLISHED") && sas.contains("state=INSTALLED"),
        "charon has no established IKEv2 SA with an installed CHILD_SA:\n{sas}\n--- charon log tail:\n{}",
        lab.charon_log(charon, 80)
    );
    let log = lab.charon_log_full(charon);
    let reassembled = log.lines().find(|l| l.contains("reassembled fragmented IKE message"));
    assert!(
        reassembled.is_some(),
        "charon did not reassemble our fragments:\n{}",
        lab.charon_log(charon, 80)
    );
    println!("charon: {}", reassembled.unwrap_or_default());
    if let Some(split) = log.lines().find(|l| l.contains("splitting IKE message")) {
        println!("charon: {split}");
    }
    // The ESP keys charon logged are the ones we derived.
    let ws = lab.state.join("ws");
    lab.run(&["keys", ws.to_str().unwrap(), charon]);
    let esp_sa = std::fs::read_to_string(ws.join("esp_sa")).unwrap_or_default();
    for key in ours.split_whitespace().filter_map(|w| w.strip_prefix("key=")) {
        assert!(esp_sa.contains(&format!("0x{key}")), "charon did not install our key {key}:\n{esp_sa}");
    }
}

/// Runs inside the lab: our initiator in LAB-a or our responder in LAB-b, over UDP 500
/// and 4500, fragmenting IKE messages longer than 200 bytes.
fn inner(initiator: bool, gcm: bool) {
    let (me, peer_ip, inner_me, inner_peer) = if initiator {
        ("192.0.2.1", "192.0.2.2", "192.0.2.201", "192.0.2.202")
    } else {
        ("192.0.2.2", "192.0.2.1", "192.0.2.202", "192.0.2.201")
    };
    let s500 = UdpSocket::bind(format!("{me}:500")).expect("bind 500");
    let s4500 = UdpSocket::bind(format!("{me}:4500")).expect("bind 4500");
    for s in [&s500, &s4500] {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    }
    let mut peer500: SocketAddr = format!("{peer_ip}:500").parse().unwrap();
    let mut peer4500: SocketAddr = format!("{peer_ip}:4500").parse().unwrap();
    let mut config = IkeSaConfig::new(
        PSK,
        Identity::ip(me.parse().unwrap()),
        format!("{me}:500").parse().unwrap(),
        peer500,
    );
    config.fragment_size = Some(OURS);
    if gcm {
        config.proposals = vec![IkeSuite::aes_gcm16(16, DhGroup::Ecp256)];
        config.child.proposals = vec![(EspEncryption::AesGcm16 { key_len: 16 }, EspIntegrity::None)];
    }
    // libipsec in the lab only does tunnel mode with UDP encapsulation (lab README).
    config.force_encapsulation = initiator;
    config.child.mode = EspMode::Tunnel;
    config.child.local_ts = vec![TrafficSelector::ipv4_host(inner_me.parse().unwrap(), 0, None)];
    config.child.remote_ts = vec![TrafficSelector::ipv4_host(inner_peer.parse().unwrap(), 0, None)];
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let rng = ChaCha20Rng::seed_from_u64(seed);
    let mut sa = if initiator {
        IkeSa::initiate(config, rng, Instant::now()).expect("initiate")
    } else {
        IkeSa::respond(config, rng, Instant::now())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut sent, mut received, mut largest) = (0usize, 0usize, 0usize);
    let mut established: Option<(Instant, String)> = None;
    let mut buf = Vec::new();
    let mut rx = [0u8; 65536];
    loop {
        let now = Instant::now();
        assert!(now < deadline, "no result within 20 s, state {:?}", sa.state());
        if let Some((at, line)) = &established
            && now > *at + Duration::from_millis(800)
        {
            println!("{line} fragments_sent={sent} fragments_received={received} largest_fragment={largest}");
            return;
        }
        buf.clear();
        while let Some(t) = sa.poll_transmit(now, &mut buf) {
            if buf.get(16) == Some(&SKF) {
                sent += 1;
                largest = largest.max(buf.len());
            }
            if t.udp_encapsulated {
                let mut d = vec![0u8; 4];
                d.extend_from_slice(&buf);
                s4500.send_to(&d, peer4500).unwrap();
            } else {
                s500.send_to(&buf, peer500).unwrap();
            }
            buf.clear();
        }
        if let Some(event) = sa.poll_event() {
            match event {
                Event::Established { child, suite, nat, .. } => {
                    let line = format!(
                        "established with charon: {suite:?} nat {nat:?} spi_in {:08x} spi_out {:08x} key={} key={}",
                        child.spi_in,
                        child.spi_out,
                        hex::encode(&child.keys_in.encryption),
                        hex::encode(&child.keys_out.encryption),
                    );
                    // Keep answering a while in case our last message is lost.
                    established = Some((now, line));
                }
                Event::Failed(e) => panic!("IKEv2 handshake failed: {e}"),
                other => println!("event {other:?}"),
            }
        }
        let mut got = None;
        for (sock, encapsulated) in [(&s500, false), (&s4500, true)] {
            if let Ok((n, from)) = sock.recv_from(&mut rx) {
                got = Some((n, from, encapsulated));
                break;
            }
        }
        let Some((n, from, encapsulated)) = got else {
            sa.handle_timeout(Instant::now());
            continue;
        };
        let data = if encapsulated {
            peer4500 = from;
            match rx.get(..4) {
                Some([0, 0, 0, 0]) => &rx[4..n],
                _ => continue, // ESP or keepalive, not IKE
            }
        } else {
            peer500 = from;
            &rx[..n]
        };
        if data.get(16) == Some(&SKF) {
            received += 1;
        }
        if let Err(e) = sa.handle_input(Instant::now(), data) {
            println!("dropped a datagram: {e}");
        }
    }
}

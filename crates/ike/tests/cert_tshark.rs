//! Wireshark as an independent dissector of our certificate exchanges: IKEv1 Main Mode
//! with RSA signatures and IKEv2 with RSA / ECDSA certificates, between our own initiator
//! and responder. Every datagram goes into a pcap, the keys into Wireshark key logs
//! (`keylog`), and tshark must dissect every frame without a malformed or expert-warning
//! item, decrypt the encrypted messages and find the CR/CERTREQ, CERT (as X.509 with
//! our subjectAltName), SIG and AUTH payloads where they belong.
//!
//! Needs `tshark` (Wireshark 4.0 or later); fails when it is missing.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use l2sec_ike::cert::{Certificate, CertificateAuth, PrivateKey, TrustStore, UnixTime};
use l2sec_ike::keylog;
use l2sec_ike::v1::phase1::{Identity, Phase1, Phase1Config, State};
use l2sec_ike::v2::ike_sa::{Identity as V2Identity, IkeSa, IkeSaConfig, State as V2State};
use l2sec_ike::wire::v1::IdType;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const INITIATOR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const RESPONDER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/certs/");
const NOW: UnixTime = UnixTime(1_767_225_600);

fn auth(name: &str, ca: &str) -> CertificateAuth {
    let read = |f: String| std::fs::read(format!("{DIR}{f}")).unwrap();
    let cert = Certificate::from_pem(&read(format!("{name}.pem"))).unwrap();
    let key = PrivateKey::from_pem(&read(format!("{name}.key"))).unwrap();
    let trust = TrustStore::from_pem_bundle(&read(format!("{ca}.pem"))).unwrap();
    CertificateAuth::new(vec![cert], key, trust, NOW).unwrap()
}

/// Datagrams as (from initiator, ISAKMP bytes); no NAT-T here.
type Wire = Vec<(bool, Vec<u8>)>;

fn run_v1() -> (Wire, String) {
    let now = Instant::now();
    let cfg = |a: CertificateAuth| {
        let id =
            Identity { id_type: IdType::DerAsn1Dn, data: a.certificate().unwrap().subject_der().to_vec() };
        let mut c = Phase1Config::new(b"unused", id);
        c.certificate = Some(a);
        c
    };
    let mut i =
        Phase1::initiate(cfg(auth("client-rsa", "ca-rsa")), ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = Phase1::respond(cfg(auth("server-rsa", "ca-rsa")), ChaCha20Rng::seed_from_u64(2), now);
    let mut wire = Vec::new();
    for _ in 0..6 {
        let mut buf = Vec::new();
        while i.poll_transmit(now, &mut buf).is_some() {
            r.handle_input(now, &buf).unwrap();
            wire.push((true, std::mem::take(&mut buf)));
        }
        while r.poll_transmit(now, &mut buf).is_some() {
            i.handle_input(now, &buf).unwrap();
            wire.push((false, std::mem::take(&mut buf)));
        }
    }
    assert_eq!((i.state(), r.state()), (State::Established, State::Established));
    assert_eq!(wire.len(), 6);
    let line = keylog::ikev1_line_for_phase1(&i).unwrap();
    (wire, line.as_str().to_owned())
}

fn run_v2(client: &str, server: &str, ca: &str) -> (Wire, String) {
    let now = Instant::now();
    let a = std::net::SocketAddr::new(INITIATOR.into(), 500);
    let b = std::net::SocketAddr::new(RESPONDER.into(), 500);
    let mut ic = IkeSaConfig::new(b"unused", V2Identity::fqdn("client.l2sec.test"), a, b);
    ic.certificate = Some(auth(client, ca));
    let mut rc = IkeSaConfig::new(b"unused", V2Identity::fqdn("server.l2sec.test"), b, a);
    rc.certificate = Some(auth(server, ca));
    let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(3), now).unwrap();
    let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(4), now);
    let mut wire = Vec::new();
    for _ in 0..4 {
        let mut buf = Vec::new();
        while i.poll_transmit(now, &mut buf).is_some() {
            r.handle_input(now, &buf).unwrap();
            wire.push((true, std::mem::take(&mut buf)));
        }
        while r.poll_transmit(now, &mut buf).is_some() {
            i.handle_input(now, &buf).unwrap();
            wire.push((false, std::mem::take(&mut buf)));
        }
    }
    assert_eq!((i.state(), r.state()), (V2State::Established, V2State::Established));
    assert_eq!(wire.len(), 4);
    (wire, keylog::ikev2_line_for_sa(&i).unwrap().to_string())
}

/// RFC 1071 Internet checksum over `parts`.
fn checksum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut sum: u32 =
        bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A classic pcap (LINKTYPE_RAW) of IPv4/UDP 500 datagrams.
fn pcap(wire: &Wire) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [
        0xa1b2_c3d4u32.to_le_bytes(),
        [2, 0, 4, 0],
        [0; 4],
        [0; 4],
        65_535u32.to_le_bytes(),
        101u32.to_le_bytes(),
    ] {
        out.extend_from_slice(&v);
    }
    for (n, (from_initiator, payload)) in wire.iter().enumerate() {
        let (src, dst) = if *from_initiator { (INITIATOR, RESPONDER) } else { (RESPONDER, INITIATOR) };
        let udp_len = u16::try_from(8 + payload.len()).unwrap();
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&(udp_len + 20).to_be_bytes());
        ip.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        ip.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]);
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        let c = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut udp = [500u16.to_be_bytes(), 500u16.to_be_bytes(), udp_len.to_be_bytes(), [0, 0]].concat();
        udp.extend_from_slice(payload);
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

fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("l2sec-cert-tshark-{}-{name}-{nanos}", std::process::id()));
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

/// Per frame: the values of `fields` (aggregated with ','), after checking that nothing
/// is malformed or flagged as a warning.
fn dissect(dir: &Path, wire: &Wire, fields: &[&str]) -> Vec<Vec<String>> {
    let ws = dir.join("ws");
    let pcap_path = dir.join("cert.pcap");
    std::fs::write(&pcap_path, pcap(wire)).unwrap();
    let bad = tshark(&ws, &pcap_path, &["-Y", "_ws.malformed || _ws.expert.severity >= 0x00600000"]);
    assert!(bad.trim().is_empty(), "tshark flagged (kept in {}):\n{bad}", dir.display());
    let mut args = vec!["-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"];
    for f in fields {
        args.extend(["-e", f]);
    }
    let out = tshark(&ws, &pcap_path, &args);
    let rows: Vec<Vec<String>> = out.lines().map(|l| l.split('|').map(str::to_owned).collect()).collect();
    assert_eq!(rows.len(), wire.len(), "{out}");
    rows
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_dissects_main_mode_with_rsa_signatures() {
    let (wire, line) = run_v1();
    let dir = scratch("v1");
    std::fs::write(
        dir.join("ws").join(keylog::IKEV1_DECRYPTION_TABLE),
        keylog::ikev1_decryption_table([line.as_str()]).as_bytes(),
    )
    .unwrap();
    let rows = dissect(
        &dir,
        &wire,
        &[
            "isakmp.ike.attr.authentication_method",
            "isakmp.certreq.type",
            "isakmp.cert.encoding",
            "isakmp.sig",
            "x509ce.dNSName",
            "isakmp.hash",
        ],
    );
    // MM1/MM2: RSA signatures (3) in every transform offered, and in the one chosen.
    assert_eq!(rows[0][0], "3,3");
    assert_eq!(rows[1][0], "3");
    // MM3/MM4: a CR for an X.509 signature certificate (4).
    assert_eq!((rows[2][1].as_str(), rows[3][1].as_str()), ("4", "4"));
    // MM5/MM6, decrypted: CERT (4) holding our certificate, SIG, no HASH payload.
    for (row, name) in [(&rows[4], "client.l2sec.test"), (&rows[5], "server.l2sec.test")] {
        assert_eq!(row[2], "4", "{row:?}");
        assert!(!row[3].is_empty(), "no SIG: {row:?}");
        assert!(row[4].contains(name), "{row:?}");
        assert!(row[5].is_empty(), "{row:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn tshark_dissects_ikev2_certificate_authentication() {
    for (client, server, ca) in
        [("client-rsa", "server-rsa", "ca-rsa"), ("client-ecdsa", "server-ecdsa", "ca-ecdsa")]
    {
        let (wire, line) = run_v2(client, server, ca);
        let dir = scratch(client);
        std::fs::write(
            dir.join("ws").join(keylog::IKEV2_DECRYPTION_TABLE),
            format!("{}\n{line}\n", keylog::UAT_HEADER),
        )
        .unwrap();
        let rows = dissect(
            &dir,
            &wire,
            &[
                "isakmp.notify.data.signature_hash_algorithms",
                "isakmp.certreq.type",
                "isakmp.cert.encoding",
                "isakmp.auth.method",
                "isakmp.auth.data.sig.asn1.data",
                "x509ce.dNSName",
            ],
        );
        // IKE_SA_INIT: both announce SHA2-256/384/512; the responder asks for a certificate.
        assert_eq!(rows[0][0], "2,3,4", "{rows:?}");
        assert_eq!(rows[1][0], "2,3,4", "{rows:?}");
        assert_eq!(rows[1][1], "4", "{rows:?}");
        // IKE_AUTH, decrypted: CERTREQ from the initiator, CERT, AUTH method 14 with an
        // AlgorithmIdentifier Wireshark reads.
        assert_eq!(rows[2][1], "4", "{rows:?}");
        for (row, name) in [(&rows[2], "client.l2sec.test"), (&rows[3], "server.l2sec.test")] {
            assert_eq!(row[2], "4", "{row:?}");
            assert_eq!(row[3], "14", "{row:?}");
            assert!(!row[4].is_empty(), "{row:?}");
            assert!(row[5].contains(name), "{row:?}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

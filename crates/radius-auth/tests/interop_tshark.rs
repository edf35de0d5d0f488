//! tshark and the lab's radius-check.py as independent oracles for the packets this crate
//! builds: a transcript of requests (PAP, CHAP, MS-CHAPv2, EAP split over several
//! attributes, Status-Server, accounting) and answers is written to a pcap; tshark must
//! decode it without any warning or invalid authenticator, and radius-check.py must verify
//! every Message-Authenticator, Request and Response Authenticator.

mod common;

use std::process::Command;
use std::time::Instant;

use common::FakeServer;
use l2sec_radius_auth::attr::{AcctStatusType, AcctTerminateCause};
use l2sec_radius_auth::ms::MsChap2Response;
use l2sec_radius_auth::wire::{Code, Packet};
use l2sec_radius_auth::{
    AccessRequest, AccountingRequest, Client, ClientConfig, Credentials, NasIdentity, ServerConfig,
    ServerRole, SessionCounters, SessionInfo, TunnelInfo,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const TSHARK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/lab/radius-l2tp/tshark");
const AUTH: &str = "127.0.0.1:1812";
const ACCT: &str = "127.0.0.1:1813";
const NAS: &str = "127.0.0.1:40000";

fn transcript() -> Vec<String> {
    let auth = FakeServer::new(AUTH, b"testing123");
    let acct = FakeServer::new(ACCT, b"testing123");
    let cfg = ClientConfig::new(
        NasIdentity { ip_address: Some("127.0.0.1".parse().unwrap()), identifier: Some("l2sec".into()) },
        vec![
            ServerConfig::new(auth.address, "testing123", ServerRole::Authentication),
            ServerConfig::new(acct.address, "testing123", ServerRole::Accounting),
        ],
    );
    let mut c = Client::new(cfg, ChaCha20Rng::seed_from_u64(11)).unwrap();
    let now = Instant::now();
    let session = SessionInfo {
        nas_port: Some(3),
        calling_station_id: Some("198.51.100.7".into()),
        acct_session_id: Some("s-1".into()),
        tunnel: Some(TunnelInfo {
            client_endpoint: "198.51.100.7".into(),
            server_endpoint: "203.0.113.1".into(),
        }),
        ..SessionInfo::default()
    };
    let mut lines = Vec::new();
    let mut line =
        |from: &str, to: &str, bytes: &[u8]| lines.push(format!("{from} {to} {}", hex::encode(bytes)));
    let mut reqs = vec![
        AccessRequest::pap("alice", "alicepass"),
        AccessRequest::pap("longpass", "x".repeat(100)),
        AccessRequest::chap("alice", 9, b"0123456789abcdef", [7; 16]),
        AccessRequest::ms_chap_v2(
            "User",
            [1; 16],
            MsChap2Response {
                ident: 1,
                flags: 0,
                peer_challenge: [2; 16],
                reserved: [0; 8],
                nt_response: [3; 24],
            },
        ),
        AccessRequest::new(
            "eap",
            Credentials::Eap { message: [&[2u8, 1, 0x01, 0x2c, 1][..], &[0x41; 295]].concat() },
        ),
    ];
    for r in &mut reqs {
        r.session = session.clone();
    }
    for (i, r) in reqs.into_iter().enumerate() {
        c.authenticate(now, r).unwrap();
        let mut b = Vec::new();
        let t = c.poll_transmit(now, &mut b).unwrap();
        line(NAS, AUTH, &b);
        let code = if i % 2 == 0 { Code::ACCESS_ACCEPT } else { Code::ACCESS_REJECT };
        let a = auth.answer(&b, code);
        c.handle_input(now, t.socket, auth.address, &a).unwrap();
        line(AUTH, NAS, &a);
    }
    for (status, cause) in
        [(AcctStatusType::START, None), (AcctStatusType::STOP, Some(AcctTerminateCause::LOST_CARRIER))]
    {
        let mut r = AccountingRequest::new(status, "s-1");
        r.user_name = Some("alice".into());
        r.session = session.clone();
        r.terminate_cause = cause;
        r.counters =
            cause.map(|_| SessionCounters { session_time: 9, input_octets: 1 << 33, ..Default::default() });
        c.account(now, r).unwrap();
        let mut b = Vec::new();
        let t = c.poll_transmit(now, &mut b).unwrap();
        line(NAS, ACCT, &b);
        let a = acct.answer(&b, Code::ACCOUNTING_RESPONSE);
        c.handle_input(now, t.socket, acct.address, &a).unwrap();
        line(ACCT, NAS, &a);
    }
    // A Status-Server as the client's probe builds it.
    let mut b = Vec::new();
    l2sec_radius_auth::request::encode_status_server(
        &NasIdentity { identifier: Some("l2sec".into()), ..NasIdentity::default() },
        200,
        [9; 16],
        b"testing123",
        &mut b,
    )
    .unwrap();
    assert_eq!(Packet::parse(&b).unwrap().code(), Code::STATUS_SERVER);
    line(NAS, AUTH, &b);
    let a = auth.answer(&b, Code::ACCESS_ACCEPT);
    line(AUTH, NAS, &a);
    lines
}

fn check(lines: &[String]) -> (bool, bool, String) {
    let dir =
        std::env::temp_dir().join(format!("l2sec-radius-tshark-{}-{}", std::process::id(), lines.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("radius.pcap");
    let spec = dir.join("spec.txt");
    std::fs::write(&spec, lines.join("\n") + "\n").unwrap();
    let mk =
        Command::new(format!("{TSHARK}/mkpcap.py")).arg(&pcap).arg(&spec).output().expect("run mkpcap.py");
    assert!(mk.status.success(), "mkpcap.py: {}", String::from_utf8_lossy(&mk.stderr));
    let dec = Command::new(format!("{TSHARK}/decode.sh"))
        .arg(&pcap)
        .env("RADIUS_SECRET", "testing123")
        .output()
        .unwrap();
    assert_ne!(
        dec.status.code(),
        Some(2),
        "tshark missing or failed: {}",
        String::from_utf8_lossy(&dec.stderr)
    );
    let chk = Command::new(format!("{TSHARK}/radius-check.py"))
        .arg(&pcap)
        .arg("testing123")
        .env("REQUIRE_MA", "1")
        .output()
        .unwrap();
    assert_ne!(
        chk.status.code(),
        Some(2),
        "radius-check.py failed to run: {}",
        String::from_utf8_lossy(&chk.stderr)
    );
    let out = format!(
        "{}{}{}{}",
        String::from_utf8_lossy(&dec.stdout),
        String::from_utf8_lossy(&dec.stderr),
        String::from_utf8_lossy(&chk.stdout),
        String::from_utf8_lossy(&chk.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    (dec.status.success(), chk.status.success(), out)
}

#[test]
#[ignore = "interop: needs tshark; run by .ci/run with --ignored"]
fn interop_tshark_and_radius_check_accept_our_packets() {
    let found = Command::new("sh").args(["-c", "command -v tshark"]).output().map(|o| o.status.success());
    assert_eq!(found.ok(), Some(true), "tshark is not installed (apt-get install tshark)");
    let lines = transcript();
    assert_eq!(lines.len(), 2 * 5 + 2 * 2 + 2);
    let (decoded, verified, out) = check(&lines);
    assert!(decoded, "tshark flagged our packets:\n{out}");
    assert!(verified, "radius-check.py flagged our packets:\n{out}");
    assert!(out.contains("alicepass"), "radius-check decrypts our User-Password:\n{out}");

    // The oracle is alive: one flipped bit in a Message-Authenticator is caught.
    let mut bad = lines.clone();
    let first = &mut bad[0];
    let hex_start = first.rfind(' ').unwrap() + 1;
    let mut bytes = hex::decode(&first[hex_start..]).unwrap();
    bytes[22] ^= 1; // first attribute is the Message-Authenticator
    *first = format!("{}{}", &first[..hex_start], hex::encode(bytes));
    let (_, verified, out) = check(&bad);
    assert!(!verified, "radius-check.py missed a bad Message-Authenticator:\n{out}");
}

//! ESP as IP protocol 50 (`--raw-esp`): the l2sec client against the l2sec server on
//! 127.0.0.1 with raw sockets on both sides, IKEv1 and IKEv2, and pings through the
//! tunnel. No NAT lies between them and neither pretends one, so the SAs are plain
//! transport mode and every ESP packet must travel as protocol 50: the counters show ESP
//! sent and accepted on the raw sockets and none sent in UDP, and a capture of the
//! loopback interface (dumpcap/tshark) holds every one of those packets as protocol 50
//! with the negotiated SPIs and nothing on the NAT-T port.
//!
//! Both raw sockets see every ESP packet on the loopback interface (both directions, and
//! the other test's when they run at once): each side must drop SPIs it does not know
//! and still get its own traffic through.
//!
//! Needs root (a raw socket, and capturing) and dumpcap/tshark; without them the tests
//! fail with a message saying so.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l2sec::client::{ClientEvent, IkeVersion, icmp_echo_request};
use l2sec::driver::raw_esp::RawEspStats;
use l2sec::driver::{ClientConnection, ClientRun, Server, ServerConfig};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

const PSK: &[u8] = b"raw esp psk";
const PINGS: u16 = 3;

/// What the capture saw.
#[derive(Debug)]
struct Captured {
    /// ESP frames (IP protocol 50, not in UDP) with one of the session's SPIs.
    esp: u64,
    /// UDP frames to or from the NAT-T port.
    natt: u64,
}

/// Reads the capture: frames of the session's SPIs, frames on the NAT-T port.
fn read_capture(pcap: &Path, spis: [u32; 2], natt_port: u16) -> Captured {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(pcap)
        .args([
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "frame.protocols",
            "-e",
            "esp.spi",
            "-e",
            "udp.port",
        ])
        .output()
        .expect("interop: tshark is missing (install it with .ci/install-peers.sh)");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut c = Captured { esp: 0, natt: 0 };
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let spi = f.get(1).and_then(|s| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok());
        if f[0].contains(":esp") && !f[0].contains("udp") && spi.is_some_and(|s| spis.contains(&s)) {
            c.esp += 1;
        }
        if f.get(2).is_some_and(|p| p.split(',').any(|p| p == natt_port.to_string())) {
            c.natt += 1;
        }
    }
    c
}

/// Brings a raw-ESP client up against a raw-ESP server, pings the server's tunnel address
/// `PINGS` times while capturing the loopback interface; returns (client stats, server
/// stats, server events, capture).
/// `client_raw` false: the client keeps the default (pretends a NAT, ESP in UDP).
fn ping_over_raw_esp(
    ike: IkeVersion,
    client_raw: bool,
) -> (Option<RawEspStats>, RawEspStats, String, Captured) {
    let users = ChapSecrets::parse("alice * alicepass *\n").unwrap();
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    let mut config = ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, PSK, users, pool, [None, None]);
    config.raw_esp = true;
    let mut server = Server::bind(config)
        .unwrap_or_else(|e| panic!("raw-ESP server (run as root: it needs a raw socket): {e}"));
    let (ike_addr, natt) = server.local_addrs().unwrap();
    let dir = std::env::temp_dir().join(format!("l2sec-raw-esp-{}-{ike:?}-{client_raw}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("lo.pcapng");
    let _ = std::fs::remove_file(&pcap);
    let filter = format!("ip proto 50 or udp port {}", natt.port());
    let mut dumpcap = Command::new("dumpcap")
        .args(["-q", "-i", "lo", "-f", &filter, "-w"])
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("interop: dumpcap is missing (install tshark with .ci/install-peers.sh)");
    // dumpcap creates the file once it is capturing.
    for _ in 0..100 {
        if pcap.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(pcap.exists(), "dumpcap did not start capturing on lo (needs root)");
    std::thread::sleep(Duration::from_millis(300));
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(Mutex::new(Vec::new()));
    let thread = {
        let (stop, events) = (stop.clone(), events.clone());
        std::thread::spawn(move || {
            server.run(&stop, |e| events.lock().unwrap().push(e.to_json())).map(|()| server.raw_esp_stats())
        })
    };
    let run = ClientRun {
        server: ike_addr,
        natt_port: natt.port(),
        psk: PSK.to_vec(),
        user: "alice".into(),
        password: "alicepass".into(),
        ping: None,
        timeout: Duration::from_secs(20),
    };
    let mut client = ClientConnection::start_with(&run, |c| {
        c.ike = ike;
        c.raw_esp = client_raw;
    })
    .unwrap_or_else(|e| panic!("raw-ESP client (run as root: it needs a raw socket): {e}"));
    let start = Instant::now();
    let (mut sent, mut received) = (0u16, 0u16);
    let mut next_ping = None;
    let mut log = Vec::new();
    let mut spis = None;
    while start.elapsed() < run.timeout && received < PINGS {
        let busy = client
            .step(&mut |e| {
                if let ClientEvent::EspUp { spi_in, spi_out } = e {
                    spis = Some([*spi_in, *spi_out]);
                }
                log.push(format!("{e:?}"));
            })
            .unwrap();
        assert!(client.failure().is_none(), "client failed: {:?}; events {log:?}", client.failure());
        let now = Instant::now();
        if let (None, Some(_)) = (next_ping, client.address()) {
            next_ping = Some(now);
        }
        while let Some(p) = client.poll_ip() {
            if p.len() >= 28 && p[9] == 1 && p[20] == 0 && p[24..26] == [0x72, 0x65] {
                received += 1;
            }
        }
        if let (Some(at), Some(me), Some(peer)) = (next_ping, client.address(), client.peer())
            && now >= at
            && sent < PINGS
        {
            sent += 1;
            client.send_ip(&icmp_echo_request(me, peer, 0x7265, sent, b"raw esp")).unwrap();
            next_ping = Some(now + Duration::from_millis(200));
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let client_stats = client.raw_esp_stats();
    assert_eq!(client_stats.is_some(), client_raw, "the client opens a raw socket only with raw_esp");
    drop(client);
    stop.store(true, Ordering::Relaxed);
    let server_stats = thread.join().unwrap().unwrap().expect("server opened a raw socket");
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill").arg("-INT").arg(dumpcap.id().to_string()).status();
    let _ = dumpcap.wait();
    let events = events.lock().unwrap().join("\n");
    assert_eq!(received, PINGS, "echo replies; client events {log:?}\nserver events:\n{events}");
    let captured = read_capture(&pcap, spis.expect("ESP SAs negotiated"), natt.port());
    let _ = std::fs::remove_dir_all(&dir);
    (client_stats, server_stats, events, captured)
}

fn check(ike: IkeVersion) {
    let (client, server, events, captured) = ping_over_raw_esp(ike, true);
    let client = client.expect("client raw socket");
    println!("{ike:?}: client {client:?}, server {server:?}, capture {captured:?}");
    for e in ["ike_up", "esp_up", "ppp_auth_ok", "ipcp_up"] {
        assert!(events.contains(&format!("\"event\":\"{e}\"")), "missing {e} in\n{events}");
    }
    // L2TP (SCCRQ, SCCCN, ICRQ, ICCN, ZLBs), PPP (LCP, MS-CHAPv2, IPCP) and the pings:
    // far more than PINGS packets each way, all as protocol 50.
    assert!(
        client.raw_sent > u64::from(PINGS) && client.raw_received > u64::from(PINGS),
        "client {client:?}"
    );
    assert!(
        server.raw_sent > u64::from(PINGS) && server.raw_received > u64::from(PINGS),
        "server {server:?}"
    );
    assert_eq!(
        (client.udp_sent, server.udp_sent),
        (0, 0),
        "ESP in UDP: client {client:?}, server {server:?}"
    );
    // Each side accepted what the other sent and nothing of its own (which it also saw
    // on the loopback interface): receipts never exceed the peer's sends.
    assert!(client.raw_received <= server.raw_sent, "client {client:?}, server {server:?}");
    assert!(server.raw_received <= client.raw_sent, "client {client:?}, server {server:?}");
    assert!(!events.contains("raw esp from"), "raw ESP errors at the server:\n{events}");
    // On the wire: every ESP packet either side sent, as protocol 50 with the session's
    // SPIs, and nothing at all on the NAT-T port.
    assert_eq!(captured.esp, client.raw_sent + server.raw_sent, "capture {captured:?}");
    assert_eq!(captured.natt, 0, "capture {captured:?}");
}

#[test]
#[ignore = "interop: needs root for a raw socket; run by .ci/run with --ignored"]
fn ikev1_l2tp_over_raw_esp_pings() {
    check(IkeVersion::V1);
}

#[test]
#[ignore = "interop: needs root for a raw socket; run by .ci/run with --ignored"]
fn ikev2_l2tp_over_raw_esp_pings() {
    check(IkeVersion::V2);
}

/// A client that pretends a NAT (the default) still gets ESP in UDP from a raw-ESP
/// server: NAT detection decides, per client.
fn check_nat_client(ike: IkeVersion) {
    let (client, server, events, captured) = ping_over_raw_esp(ike, false);
    println!("{ike:?} behind a (pretended) NAT: server {server:?}, capture {captured:?}");
    assert!(client.is_none());
    assert!(server.udp_sent > u64::from(PINGS), "server {server:?}\n{events}");
    assert_eq!((server.raw_sent, server.raw_received), (0, 0), "server {server:?}");
    assert_eq!(captured.esp, 0, "no protocol-50 ESP of this session: {captured:?}");
    assert!(captured.natt > 2 * u64::from(PINGS), "ESP (and IKE) on the NAT-T port: {captured:?}");
}

#[test]
#[ignore = "interop: needs root for a raw socket; run by .ci/run with --ignored"]
fn ikev1_client_behind_nat_keeps_udp_with_a_raw_esp_server() {
    check_nat_client(IkeVersion::V1);
}

#[test]
#[ignore = "interop: needs root for a raw socket; run by .ci/run with --ignored"]
fn ikev2_client_behind_nat_keeps_udp_with_a_raw_esp_server() {
    check_nat_client(IkeVersion::V2);
}

//! ESP as IP protocol 50 (`--raw-esp`): the l2sec client against the l2sec server on
//! 127.0.0.1 with raw sockets on both sides, IKEv1 and IKEv2, and pings through the
//! tunnel. No NAT lies between them and neither pretends one, so the SAs are plain
//! transport mode and every ESP packet must travel as protocol 50: the counters show ESP
//! sent and accepted on the raw sockets and none sent in UDP.
//!
//! Both raw sockets see every ESP packet on the loopback interface (both directions, and
//! the other test's when they run at once): each side must drop SPIs it does not know
//! and still get its own traffic through.
//!
//! Needs root (a raw socket); without it the tests fail with the server's error.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l2sec::client::{IkeVersion, icmp_echo_request};
use l2sec::driver::raw_esp::RawEspStats;
use l2sec::driver::{ClientConnection, ClientRun, Server, ServerConfig};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

const PSK: &[u8] = b"raw esp psk";
const PINGS: u16 = 3;

/// Brings a raw-ESP client up against a raw-ESP server, pings the server's tunnel address
/// `PINGS` times; returns (client stats, server stats, server events, replies).
fn ping_over_raw_esp(ike: IkeVersion) -> (RawEspStats, RawEspStats, String, u16) {
    let users = ChapSecrets::parse("alice * alicepass *\n").unwrap();
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    let mut config = ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, PSK, users, pool, [None, None]);
    config.raw_esp = true;
    let mut server = Server::bind(config)
        .unwrap_or_else(|e| panic!("raw-ESP server (run as root: it needs a raw socket): {e}"));
    let (ike_addr, natt) = server.local_addrs().unwrap();
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
        c.raw_esp = true;
    })
    .unwrap_or_else(|e| panic!("raw-ESP client (run as root: it needs a raw socket): {e}"));
    let start = Instant::now();
    let (mut sent, mut received) = (0u16, 0u16);
    let mut next_ping = None;
    let mut log = Vec::new();
    while start.elapsed() < run.timeout && received < PINGS {
        let busy = client.step(&mut |e| log.push(format!("{e:?}"))).unwrap();
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
    let client_stats = client.raw_esp_stats().expect("client opened a raw socket");
    drop(client);
    stop.store(true, Ordering::Relaxed);
    let server_stats = thread.join().unwrap().unwrap().expect("server opened a raw socket");
    let events = events.lock().unwrap().join("\n");
    assert_eq!(received, PINGS, "echo replies; client events {log:?}\nserver events:\n{events}");
    (client_stats, server_stats, events, received)
}

fn check(ike: IkeVersion) {
    let (client, server, events, _) = ping_over_raw_esp(ike);
    println!("{ike:?}: client {client:?}, server {server:?}");
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

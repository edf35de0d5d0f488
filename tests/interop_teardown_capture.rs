//! The polite teardown on the wire: a session comes up, the server shuts down, and a
//! capture decrypted with the key log shows each layer's goodbye in order: PPP LCP
//! Terminate-Request and -Ack, L2TP CDN and StopCCN (inside ESP), then IKEv1 Deletes of the
//! ESP SA and of the ISAKMP SA, with no malformed packet.

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use l2sec::client::ClientEvent;
use l2sec::driver::{ClientConnection, ClientRun, Server, ServerConfig};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

#[test]
#[ignore = "interop: needs dumpcap/tshark and root to capture on lo; run by .ci/run with --ignored"]
fn the_servers_goodbye_is_on_the_wire_layer_by_layer() {
    let dir = std::env::temp_dir().join(format!("l2sec-teardown-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keylog = dir.join("wireshark");
    let pcap = dir.join("teardown.pcapng");
    let users = ChapSecrets::parse("alice * alicepass *\n").unwrap();
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    // The server on 127.0.0.3, the client on 127.0.0.1 (Wireshark tells the IKE initiator
    // from the responder by address).
    let listen = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let mut config = ServerConfig::new(listen, 0, 0, b"teardown psk", users, pool, [None, None]);
    config.keylog = Some(keylog.clone());
    let mut server = Server::bind(config).unwrap();
    let (ike, natt) = server.local_addrs().unwrap();
    let filter = format!("udp port {} or udp port {}", ike.port(), natt.port());
    let mut dumpcap = Command::new("dumpcap")
        .args(["-q", "-i", "lo", "-f", &filter, "-w"])
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("interop: dumpcap is missing (install tshark with .ci/install-peers.sh)");
    for _ in 0..100 {
        if pcap.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));

    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            server.run(&stop, |_| {})?;
            server.shutdown(|_| {})
        })
    };
    let run = ClientRun {
        server: ike,
        natt_port: natt.port(),
        psk: b"teardown psk".to_vec(),
        user: "alice".into(),
        password: "alicepass".into(),
        ping: None,
        timeout: Duration::from_secs(20),
    };
    let mut c = ClientConnection::start(&run).unwrap();
    let start = Instant::now();
    let step = |c: &mut ClientConnection| {
        if !c.step(&mut |_: &ClientEvent| {}).unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    while c.address().is_none() {
        assert!(start.elapsed() < Duration::from_secs(15), "no tunnel: {:?}", c.failure());
        step(&mut c);
    }
    // The server goes down while the client keeps answering.
    stop.store(true, Ordering::Relaxed);
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until && !runner.is_finished() {
        step(&mut c);
    }
    runner.join().unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill").arg("-INT").arg(dumpcap.id().to_string()).status();
    let _ = dumpcap.wait();

    let out = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", &keylog)
        .args(["-n", "-r"])
        .arg(&pcap)
        .args([
            "-d",
            &format!("udp.port=={},isakmp", ike.port()),
            "-d",
            &format!("udp.port=={},udpencap", natt.port()),
        ])
        .args(["-T", "fields", "-E", "separator=|", "-E", "aggregator=,", "-e", "frame.number"])
        .args(["-e", "ip.src", "-e", "_ws.malformed", "-e", "ppp.code", "-e", "l2tp.avp.message_type"])
        .args(["-e", "isakmp.delete.protoid", "-e", "isakmp.delete.spi"])
        .output()
        .expect("run tshark");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // (frame, what) for each goodbye seen, in capture order.
    let mut seen: Vec<(u32, &str)> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        assert!(f[2].is_empty(), "malformed frame: {line}\n{text}");
        let frame: u32 = f[0].parse().unwrap();
        let from_server = f[1] == "127.0.0.3";
        // LCP Terminate-Request (5) from the server, Terminate-Ack (6) from the client.
        if f[3].split(',').any(|c| c == "5") && from_server {
            seen.push((frame, "lcp-terminate-request"));
        }
        if f[3].split(',').any(|c| c == "6") && !from_server {
            seen.push((frame, "lcp-terminate-ack"));
        }
        // L2TP CDN (14) and StopCCN (4) from the server.
        if from_server && f[4].split(',').any(|m| m == "14") {
            seen.push((frame, "cdn"));
        }
        if from_server && f[4].split(',').any(|m| m == "4") {
            seen.push((frame, "stopccn"));
        }
        // ISAKMP Deletes: protocol 3 (ESP) and 1 (ISAKMP).
        if from_server && f[5].split(',').any(|p| p == "3") {
            seen.push((frame, "delete-esp"));
        }
        if from_server && f[5].split(',').any(|p| p == "1") {
            seen.push((frame, "delete-isakmp"));
        }
    }
    let order: Vec<&str> = seen.iter().map(|(_, w)| *w).collect();
    let at = |w: &str| {
        seen.iter()
            .find(|(_, x)| *x == w)
            .map(|(f, _)| *f)
            .unwrap_or_else(|| panic!("no {w} in the capture: {order:?}\n{text}"))
    };
    let steps =
        ["lcp-terminate-request", "lcp-terminate-ack", "cdn", "stopccn", "delete-esp", "delete-isakmp"];
    for pair in steps.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{} should come before {}: {order:?}", pair[0], pair[1]);
    }
    std::fs::remove_dir_all(&dir).ok();
}

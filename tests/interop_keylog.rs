//! A capture of a whole session decrypts in tshark with the server's key log: every
//! encrypted IKEv1 message, and every ESP packet with L2TP and PPP (and the pings) inside,
//! with no malformed packet.

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use l2sec::driver::{ClientRun, Server, ServerConfig, run_client};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

#[test]
#[ignore = "interop: needs dumpcap/tshark and root to capture on lo; run by .ci/run with --ignored"]
fn a_captured_session_decrypts_with_the_key_log() {
    let dir = std::env::temp_dir().join(format!("l2sec-keylog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keylog = dir.join("wireshark");
    let pcap = dir.join("session.pcapng");

    let users = ChapSecrets::parse("alice * alicepass *\n").unwrap();
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    // The server on 127.0.0.2, the client on 127.0.0.1: Wireshark tells the IKE initiator
    // from the responder by address.
    let listen = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut config = ServerConfig::new(listen, 0, 0, b"keylog psk", users, pool, [None, None]);
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
    // dumpcap creates the file once it is capturing.
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
        std::thread::spawn(move || server.run(&stop, |_| {}))
    };
    let run = ClientRun {
        server: ike,
        natt_port: natt.port(),
        psk: b"keylog psk".to_vec(),
        user: "alice".into(),
        password: "alicepass".into(),
        ping: Some((None, 3)),
        timeout: Duration::from_secs(20),
    };
    let report = run_client(&run, |_| {}).unwrap();
    assert_eq!(report.pings_received, 3);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    runner.join().unwrap().unwrap();
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
        .args(["-T", "fields", "-E", "separator=|", "-e", "frame.number", "-e", "frame.protocols"])
        .args(["-e", "isakmp.flag_e", "-e", "isakmp.hash", "-e", "esp.icv_good", "-e", "_ws.malformed"])
        .output()
        .expect("run tshark");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (mut ike_encrypted, mut esp, mut l2tp, mut ppp, mut icmp) = (0, 0, 0, 0, 0);
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        assert!(f[5].is_empty(), "malformed frame: {line}\n{text}");
        let protocols = f[1];
        if protocols.contains("isakmp") && (f[2] == "1" || f[2] == "True") {
            ike_encrypted += 1;
            assert!(!f[3].is_empty(), "encrypted IKE message not decrypted: {line}");
        }
        if protocols.contains(":esp") {
            esp += 1;
            assert_eq!(f[4], "1", "ESP not authenticated by tshark: {line}");
            // Every ESP packet carries L2TP; data messages carry PPP.
            if protocols.contains(":udp:l2tp") {
                l2tp += 1;
            }
            if protocols.contains(":ppp") {
                ppp += 1;
            }
            if protocols.contains("icmp") {
                icmp += 1;
            }
        }
    }
    assert!(ike_encrypted >= 5, "{ike_encrypted} encrypted IKE messages:\n{text}");
    assert!(esp >= 10 && l2tp == esp, "{esp} ESP packets, {l2tp} with L2TP inside:\n{text}");
    assert!(ppp >= 10, "{ppp} PPP frames decrypted:\n{text}");
    assert!(icmp >= 6, "{icmp} pings and replies decrypted:\n{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The same with IKEv2: the server's `ikev2_decryption_table` lets tshark decrypt the
/// IKE_AUTH exchange (on UDP/4500 after the non-ESP marker) and the client's Delete, and
/// its `esp_sa` every ESP packet down to L2TP, PPP and the pings.
#[test]
#[ignore = "interop: needs dumpcap/tshark and root to capture on lo; run by .ci/run with --ignored"]
fn an_ikev2_session_decrypts_with_the_key_log() {
    use l2sec::client::IkeVersion;
    use l2sec::driver::ClientConnection;

    let dir = std::env::temp_dir().join(format!("l2sec-keylog-v2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keylog = dir.join("wireshark");
    let pcap = dir.join("session.pcapng");

    let users = ChapSecrets::parse("alice * alicepass *\n").unwrap();
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    let listen = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut config = ServerConfig::new(listen, 0, 0, b"keylog psk", users, pool, [None, None]);
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
        std::thread::spawn(move || server.run(&stop, |_| {}))
    };
    let run = ClientRun {
        server: ike,
        natt_port: natt.port(),
        psk: b"keylog psk".to_vec(),
        user: "alice".into(),
        password: "alicepass".into(),
        ping: Some((None, 3)),
        timeout: Duration::from_secs(20),
    };
    // The tunnel, pings through it, then an IKEv2 Delete (INFORMATIONAL, encrypted).
    let mut c = ClientConnection::start_ike(&run, IkeVersion::V2).unwrap();
    let start = std::time::Instant::now();
    let mut replies = 0;
    let mut sent = 0u16;
    while replies < 3 {
        assert!(start.elapsed() < run.timeout, "no tunnel or no echo replies: {:?}", c.failure());
        let busy = c.step(&mut |_| {}).unwrap();
        if let (Some(me), Some(peer)) = (c.address(), c.peer())
            && sent < 3
        {
            sent += 1;
            c.send_ip(&l2sec::client::icmp_echo_request(me, peer, 0x4c32, sent, b"l2sec ping")).unwrap();
        }
        while let Some(p) = c.poll_ip() {
            replies += usize::from(p.get(20) == Some(&0));
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    c.delete_ike_sa().unwrap();
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_millis(500) {
        c.step(&mut |_| {}).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    runner.join().unwrap().unwrap();
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
        .args(["-T", "fields", "-E", "separator=|", "-e", "frame.number", "-e", "frame.protocols"])
        .args(["-e", "isakmp.exchangetype", "-e", "isakmp.enc.decrypted", "-e", "esp.icv_good"])
        .args(["-e", "_ws.malformed", "-e", "isakmp.version"])
        .output()
        .expect("run tshark");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (mut init, mut encrypted, mut esp, mut l2tp, mut ppp, mut icmp) = (0, 0, 0, 0, 0, 0);
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        assert!(f[5].is_empty(), "malformed frame: {line}\n{text}");
        let protocols = f[1];
        if protocols.contains("isakmp") {
            assert_eq!(f[6], "0x20", "an IKEv2 message: {line}");
            match f[2] {
                "34" => init += 1,
                "35" | "37" => {
                    encrypted += 1;
                    assert!(!f[3].is_empty(), "encrypted IKEv2 message not decrypted: {line}\n{text}");
                }
                other => panic!("unexpected exchange {other}: {line}"),
            }
        }
        if protocols.contains(":esp") {
            esp += 1;
            assert_eq!(f[4], "1", "ESP not authenticated by tshark: {line}");
            if protocols.contains(":udp:l2tp") {
                l2tp += 1;
            }
            if protocols.contains(":ppp") {
                ppp += 1;
            }
            if protocols.contains("icmp") {
                icmp += 1;
            }
        }
    }
    assert_eq!(init, 2, "IKE_SA_INIT request and response:\n{text}");
    assert!(encrypted >= 4, "{encrypted} encrypted IKEv2 messages (IKE_AUTH, Delete):\n{text}");
    assert!(esp >= 10 && l2tp == esp, "{esp} ESP packets, {l2tp} with L2TP inside:\n{text}");
    assert!(ppp >= 10, "{ppp} PPP frames decrypted:\n{text}");
    assert!(icmp >= 6, "{icmp} pings and replies decrypted:\n{text}");
    std::fs::remove_dir_all(&dir).ok();
}

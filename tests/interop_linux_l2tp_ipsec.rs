//! The final judge: the stock Linux L2TP/IPsec client against the l2sec server.
//!
//! The lab's client VM (../shared/lab/vm: strongSwan 5.9.8 charon, xl2tpd 1.3.18 and
//! pppd 2.4.9 with the guest kernel's ESP and PPP, behind slirp's NAT) dials
//! `driver::Server` on 127.0.0.1: IKEv1 Main Mode with a PSK and NAT-T, Quick Mode for
//! UDP/1701 in transport mode, ESP in UDP, L2TP, PPP with MS-CHAPv2, IPCP, and three
//! pings to the server's tunnel address, answered by the built-in virtual network.
//!
//! Needs the VM images (`vm/build.sh`, root and Debian's archive the first time) and
//! qemu; fails loudly without them.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use l2sec::driver::{Server, ServerConfig};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

const VM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/lab/vm");
const SERVER_TUNNEL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
// The lab client's defaults (vm/README.md): PSK, user and password.
const PSK: &[u8] = b"labpsk-0123";
const SECRETS: &str = "labuser * labpass-0123 *\n";

fn config(ike_port: u16, natt_port: u16) -> ServerConfig {
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    let users = ChapSecrets::parse(SECRETS).unwrap();
    let listen = IpAddr::V4(Ipv4Addr::LOCALHOST);
    ServerConfig::new(listen, ike_port, natt_port, PSK, users, pool, [Some(SERVER_TUNNEL), None])
}

#[test]
#[ignore = "interop: needs qemu and the lab VM images; run by .ci/run with --ignored"]
fn linux_strongswan_xl2tpd_pppd_client_connects_and_pings() {
    let build = Command::new(format!("{VM}/build.sh")).arg("strongswan").output().expect("run vm/build.sh");
    assert!(
        build.status.success(),
        "interop: the lab VM images could not be built:\n{}{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
    let (ike_port, natt_port) = (20500, 20501);
    let mut server = Server::bind(config(ike_port, natt_port)).expect("bind 127.0.0.1:20500/20501");
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let runner = {
        let (stop, events) = (stop.clone(), events.clone());
        std::thread::spawn(move || server.run(&stop, |e| events.lock().unwrap().push(e.to_json())))
    };

    let client = Command::new(format!("{VM}/start-client.sh"))
        .arg("strongswan")
        .env("IKE_PORT", ike_port.to_string())
        .env("NATT_PORT", natt_port.to_string())
        .env("LAB_SERVER_ID", "127.0.0.1")
        .output()
        .expect("run vm/start-client.sh");
    // stop.sh hangs the client up politely: CDN/StopCCN, then an IKE Delete.
    let _ = Command::new(format!("{VM}/stop.sh")).arg("client").output();
    for _ in 0..50 {
        if events.lock().unwrap().iter().any(|e| e.contains(r#""event":"ike_down""#)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    runner.join().unwrap().expect("server loop");

    let stdout = String::from_utf8_lossy(&client.stdout);
    let events = events.lock().unwrap().join("\n");
    let result = stdout.lines().find(|l| l.starts_with("RESULT:")).unwrap_or("no RESULT line");
    assert!(
        client.status.success() && result.starts_with("RESULT: PASS"),
        "the Linux client did not get through:\n{result}\n--- client output:\n{stdout}\n{}\n--- server events:\n{events}",
        String::from_utf8_lossy(&client.stderr)
    );
    assert!(events.contains(r#""event":"esp_up""#), "{events}");
    assert!(events.contains(r#""event":"ipcp_up","user":"labuser","address":"198.51.100.2""#), "{events}");
    assert!(result.contains("ping 198.51.100.1 3/3"), "{result}");
    assert!(events.contains(r#""event":"session_down""#), "the hang-up ended the PPP session:\n{events}");
    assert!(
        events.contains(r#""event":"ike_down","remote":"127.0.0.1:"#),
        "the IKE Delete removed the connection:\n{events}"
    );
    assert!(events.contains(r#""cause":"delete"}"#), "{events}");
}

#[test]
#[ignore = "interop: needs qemu and the lab VM images; run by .ci/run with --ignored"]
fn l2sec_client_connects_to_the_linux_strongswan_xl2tpd_pppd_server_and_pings() {
    use l2sec::driver::{ClientRun, run_client};
    let build = Command::new(format!("{VM}/build.sh")).arg("strongswan").output().expect("run vm/build.sh");
    assert!(build.status.success(), "interop: the lab VM images could not be built");
    let (ike_port, natt_port) = (21500u16, 21501u16);
    let server = Command::new(format!("{VM}/start-server.sh"))
        .arg("strongswan")
        .env("IKE_PORT", ike_port.to_string())
        .env("NATT_PORT", natt_port.to_string())
        .env("CTRL_PORT", "10032")
        .output()
        .expect("run vm/start-server.sh");
    let stdout = String::from_utf8_lossy(&server.stdout).into_owned();
    struct Stop;
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new(format!("{VM}/stop.sh")).arg("server").output();
        }
    }
    let _stop = Stop;
    assert!(server.status.success(), "the Linux server VM did not start:\n{stdout}");
    let run = ClientRun {
        server: (Ipv4Addr::LOCALHOST, ike_port).into(),
        natt_port,
        psk: PSK.to_vec(),
        user: "labuser".into(),
        password: "labpass-0123".into(),
        ping: Some((None, 3)),
        timeout: Duration::from_secs(60),
    };
    let mut seen = Vec::new();
    let report = run_client(&run, |e| seen.push(format!("{e:?}")));
    let log = Command::new(format!("{VM}/vmexec.sh"))
        .env("CTRL_PORT", "10032")
        .args([
            "server",
            "tail -n 30 /var/log/charon.log; tail -n 20 /var/log/xl2tpd.log; tail -n 30 /var/log/pppd.log",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let report =
        report.unwrap_or_else(|e| panic!("client failed: {e}\nevents: {seen:?}\n--- server VM:\n{log}"));
    assert!(report.address.is_some(), "no address; events: {seen:?}\n--- server VM:\n{log}");
    assert_eq!(report.peer, Some(Ipv4Addr::new(198, 51, 100, 1)), "{seen:?}");
    assert_eq!((report.pings_sent, report.pings_received), (3, 3), "{seen:?}\n--- server VM:\n{log}");
}

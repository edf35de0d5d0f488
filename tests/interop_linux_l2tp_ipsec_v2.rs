//! IKEv2 between l2sec and the stock Linux L2TP/IPsec stack, both ways: the Linux client
//! against the l2sec server, and the l2sec client against the Linux server.
//!
//! The lab's client VM (../shared/lab/vm: strongSwan 5.9.8 charon, xl2tpd 1.3.18 and
//! pppd 2.4.9 with the guest kernel's ESP and PPP, behind slirp's NAT) is booted without
//! connecting; its `ipsec.conf` connection is switched from `keyexchange=ikev1` to
//! `keyexchange=ikev2` (the recipe's only IKEv1-specific line), and then it dials
//! `driver::Server` on 127.0.0.1: IKE_SA_INIT and IKE_AUTH with a PSK and NAT-T, the
//! transport-mode Child SA for UDP/1701, ESP in UDP, L2TP, PPP with MS-CHAPv2, IPCP, and
//! three pings to the server's tunnel address. Hanging up sends an IKEv2 Delete, which
//! ends the connection on the server.
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
/// This test's VM name and control port (other tests use the defaults).
const NAME: &str = "l2secv2c";
const CTRL_PORT: &str = "10043";

fn vmexec(cmd: &str, timeout: u32) -> (bool, String) {
    let out = Command::new(format!("{VM}/vmexec.sh"))
        .args([NAME, cmd, &timeout.to_string()])
        .output()
        .expect("run vm/vmexec.sh");
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
#[ignore = "interop: needs qemu and the lab VM images; run by .ci/run with --ignored"]
fn linux_strongswan_ikev2_xl2tpd_pppd_client_connects_and_pings() {
    let build = Command::new(format!("{VM}/build.sh")).arg("strongswan").output().expect("run vm/build.sh");
    assert!(
        build.status.success(),
        "interop: the lab VM images could not be built:\n{}{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
    let (ike_port, natt_port) = (24500, 24501);
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    let users = ChapSecrets::parse(SECRETS).unwrap();
    let listen = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let config =
        ServerConfig::new(listen, ike_port, natt_port, PSK, users, pool, [Some(SERVER_TUNNEL), None]);
    let mut server = Server::bind(config).expect("bind 127.0.0.1:24500/24501");
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let runner = {
        let (stop, events) = (stop.clone(), events.clone());
        std::thread::spawn(move || server.run(&stop, |e| events.lock().unwrap().push(e.to_json())))
    };
    struct StopVm;
    impl Drop for StopVm {
        fn drop(&mut self) {
            let _ = Command::new(format!("{VM}/stop.sh")).arg(NAME).output();
        }
    }
    let stop_vm = StopVm;

    // Boot the client without dialing: its IKE version is set first.
    let boot = Command::new(format!("{VM}/start-client.sh"))
        .arg("strongswan")
        .env("LAB_NAME", NAME)
        .env("CTRL_PORT", CTRL_PORT)
        .env("IKE_PORT", ike_port.to_string())
        .env("NATT_PORT", natt_port.to_string())
        .env("LAB_SERVER_ID", "127.0.0.1")
        .env("LAB_AUTOCONNECT", "0")
        // IKEv2 PRF and integrity from SHA2-256; ESP as the recipe has it (AES-128-CBC +
        // HMAC-SHA1-96).
        .env("LAB_IKE", "aes128-sha256-modp2048")
        .output()
        .expect("run vm/start-client.sh");
    let boot_out = String::from_utf8_lossy(&boot.stdout).into_owned();
    // start-client.sh with LAB_AUTOCONNECT=0 can exit 1 without a RESULT line although the
    // guest is ready (its `set -o pipefail` trips over the missing LAB-RESULT): the guest
    // answering with a loaded `lab` connection is the proof it booted.
    let (ready, out) = vmexec("ipsec statusall | grep -q 'lab:' && pgrep xl2tpd >/dev/null", 30);
    assert!(
        ready,
        "the client VM did not boot (status {:?}):\n{boot_out}\n{}\n{out}",
        boot.status,
        String::from_utf8_lossy(&boot.stderr)
    );
    let (switched, out) = vmexec(
        "sed -i 's/keyexchange=ikev1/keyexchange=ikev2/' /etc/ipsec.conf && grep -q keyexchange=ikev2 /etc/ipsec.conf && ipsec update",
        30,
    );
    assert!(switched, "switching the client to IKEv2 failed:\n{out}");
    let (_, connect) = vmexec("sh /lab/connect.sh", 150);
    let (_, logs) =
        vmexec("ipsec statusall; tail -n 40 /var/log/charon.log; tail -n 20 /var/log/pppd.log", 30);
    // stop.sh hangs the client up politely: CDN/StopCCN, then the IKEv2 Delete.
    drop(stop_vm);
    for _ in 0..50 {
        if events.lock().unwrap().iter().any(|e| e.contains(r#""event":"ike_down""#)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    runner.join().unwrap().expect("server loop");

    let events = events.lock().unwrap().join("\n");
    let result = connect.lines().find(|l| l.starts_with("LAB-RESULT")).unwrap_or("no LAB-RESULT line");
    assert!(
        result.starts_with("LAB-RESULT PASS"),
        "the Linux IKEv2 client did not get through:\n{result}\n--- connect:\n{connect}\n--- client logs:\n{logs}\n--- server events:\n{events}"
    );
    assert!(logs.contains("IKEv2 SPIs"), "the client spoke IKEv2:\n{logs}");
    assert!(events.contains(r#""event":"ike_up""#), "{events}");
    assert!(events.contains(r#""event":"esp_up""#), "{events}");
    assert!(events.contains(r#""event":"ipcp_up","user":"labuser","address":"198.51.100.2""#), "{events}");
    assert!(result.contains("ping 198.51.100.1 3/3"), "{result}");
    assert!(events.contains(r#""event":"session_down""#), "the hang-up ended the PPP session:\n{events}");
    assert!(
        events.contains(r#""event":"ike_down","remote":"127.0.0.1:"#)
            && events.contains(r#""cause":"delete"}"#),
        "the IKEv2 Delete removed the connection:\n{events}"
    );
}

/// The other direction: the l2sec client speaks IKEv2 to the stock Linux server (the lab's
/// server VM: strongSwan charon, xl2tpd LNS, pppd), whose connection is switched from
/// `keyexchange=ikev1` to `keyexchange=ikev2`: IKE_SA_INIT and IKE_AUTH with NAT-T, the
/// transport-mode Child SA in the guest kernel's ESP, L2TP, PPP and three pings.
#[test]
#[ignore = "interop: needs qemu and the lab VM images; run by .ci/run with --ignored"]
fn l2sec_ikev2_client_connects_to_the_linux_strongswan_xl2tpd_pppd_server_and_pings() {
    use l2sec::client::IkeVersion;
    use l2sec::driver::{ClientRun, run_client_ike};
    const SERVER: &str = "l2secv2s";
    const SERVER_CTRL: &str = "10044";
    let build = Command::new(format!("{VM}/build.sh")).arg("strongswan").output().expect("run vm/build.sh");
    assert!(build.status.success(), "interop: the lab VM images could not be built");
    let (ike_port, natt_port) = (24510u16, 24511u16);
    struct StopServer;
    impl Drop for StopServer {
        fn drop(&mut self) {
            let _ = Command::new(format!("{VM}/stop.sh")).arg(SERVER).output();
        }
    }
    let _stop = StopServer;
    let server = Command::new(format!("{VM}/start-server.sh"))
        .arg("strongswan")
        .env("LAB_NAME", SERVER)
        .env("CTRL_PORT", SERVER_CTRL)
        .env("IKE_PORT", ike_port.to_string())
        .env("NATT_PORT", natt_port.to_string())
        .output()
        .expect("run vm/start-server.sh");
    let stdout = String::from_utf8_lossy(&server.stdout).into_owned();
    assert!(server.status.success(), "the Linux server VM did not start:\n{stdout}");
    let exec = |cmd: &str| {
        let out = Command::new(format!("{VM}/vmexec.sh")).args([SERVER, cmd, "30"]).output().expect("vmexec");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (switched, out) = exec(
        "sed -i 's/keyexchange=ikev1/keyexchange=ikev2/' /etc/ipsec.conf && grep -q keyexchange=ikev2 /etc/ipsec.conf && ipsec update",
    );
    assert!(switched, "switching the server to IKEv2 failed:\n{out}");
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
    let report = run_client_ike(&run, IkeVersion::V2, |e| seen.push(format!("{e:?}")));
    let (_, log) = exec(
        "ipsec statusall; tail -n 30 /var/log/charon.log; tail -n 20 /var/log/xl2tpd.log; tail -n 30 /var/log/pppd.log",
    );
    let report =
        report.unwrap_or_else(|e| panic!("client failed: {e}\nevents: {seen:?}\n--- server VM:\n{log}"));
    assert!(report.address.is_some(), "no address; events: {seen:?}\n--- server VM:\n{log}");
    assert_eq!(report.peer, Some(Ipv4Addr::new(198, 51, 100, 1)), "{seen:?}");
    assert_eq!((report.pings_sent, report.pings_received), (3, 3), "{seen:?}\n--- server VM:\n{log}");
    assert!(log.contains("IKEv2 SPIs"), "the server spoke IKEv2:\n{log}");
}

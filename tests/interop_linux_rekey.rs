//! Rekeys by the stock Linux L2TP/IPsec client against the l2sec server: the VPN session
//! (L2TP tunnel, PPP session, address) must live through every rekey while a ping runs.
//!
//! The lab's client VM (../shared/lab/vm: strongSwan 5.9.8 charon, xl2tpd, pppd, the
//! guest kernel's ESP, behind slirp's NAT) is booted without connecting; its `ipsec.conf`
//! connection gets short lifetimes (Child SA 30 s, IKE SA 50 s, 10 s margin, no fuzz: a
//! Child SA rekey about every 20 s and an IKE SA rekey or re-authentication at about 40 s)
//! and, for IKEv2, `keyexchange=ikev2`. Then it dials `driver::Server` on 127.0.0.1 and
//! pings the server's tunnel address once a second for 75 s. The server's events must show
//! the rekeys (`esp_rekeyed`, `ike_rekeyed`) and no `session_down`/`ike_down` before the
//! hang-up; charon's log must show it rekeyed; nearly every echo must come back.
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
/// Echoes sent across the rekeys (one a second).
const PINGS: u32 = 75;

/// How the client's connection is set up for one run.
struct Case {
    /// VM name and control port (unique to this test).
    name: &'static str,
    ctrl_port: u16,
    /// The server's IKE and NAT-T ports.
    ports: (u16, u16),
    ikev2: bool,
    /// strongSwan `reauth`: IKEv1 phase 1 (or the IKEv2 IKE SA) is renewed by a new
    /// authentication (with new Child SAs) instead of a rekey.
    reauth: bool,
}

fn run(case: &Case) {
    let build = Command::new(format!("{VM}/build.sh")).arg("strongswan").output().expect("run vm/build.sh");
    assert!(
        build.status.success(),
        "interop: the lab VM images could not be built:\n{}{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
    let (ike_port, natt_port) = case.ports;
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    let users = ChapSecrets::parse(SECRETS).unwrap();
    let listen = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let config =
        ServerConfig::new(listen, ike_port, natt_port, PSK, users, pool, [Some(SERVER_TUNNEL), None]);
    let mut server = Server::bind(config).expect("bind the server's ports on 127.0.0.1");
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let runner = {
        let (stop, events) = (stop.clone(), events.clone());
        std::thread::spawn(move || server.run(&stop, |e| events.lock().unwrap().push(e.to_json())))
    };
    struct StopVm(&'static str);
    impl Drop for StopVm {
        fn drop(&mut self) {
            let _ = Command::new(format!("{VM}/stop.sh")).arg(self.0).output();
        }
    }
    let stop_vm = StopVm(case.name);
    let vmexec = |cmd: &str, timeout: u32| {
        let out = Command::new(format!("{VM}/vmexec.sh"))
            .args([case.name, cmd, &timeout.to_string()])
            .output()
            .expect("run vm/vmexec.sh");
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };

    let boot = Command::new(format!("{VM}/start-client.sh"))
        .arg("strongswan")
        .env("LAB_NAME", case.name)
        .env("CTRL_PORT", case.ctrl_port.to_string())
        .env("IKE_PORT", ike_port.to_string())
        .env("NATT_PORT", natt_port.to_string())
        .env("LAB_SERVER_ID", "127.0.0.1")
        .env("LAB_AUTOCONNECT", "0")
        // IKEv2: PRF and integrity from SHA2-256 (IKEv1 keeps the recipe's SHA1).
        .env("LAB_IKE", if case.ikev2 { "aes128-sha256-modp2048" } else { "aes128-sha1-modp2048" })
        .output()
        .expect("run vm/start-client.sh");
    // As in interop_linux_l2tp_ipsec_v2.rs: the guest answering with a loaded `lab`
    // connection is the proof it booted.
    let (ready, out) = vmexec("ipsec statusall | grep -q 'lab:' && pgrep xl2tpd >/dev/null", 30);
    assert!(
        ready,
        "the client VM did not boot (status {:?}):\n{}\n{}\n{out}",
        boot.status,
        String::from_utf8_lossy(&boot.stdout),
        String::from_utf8_lossy(&boot.stderr)
    );
    let version = if case.ikev2 { "ikev2" } else { "ikev1" };
    let reauth = if case.reauth { "yes" } else { "no" };
    let edit = format!(
        "sed -i 's/keyexchange=ikev1/keyexchange={version}/; /esp=/a\\    ikelifetime=50s\\n    lifetime=30s\\n    margintime=10s\\n    rekeyfuzz=0%\\n    reauth={reauth}' /etc/ipsec.conf \
         && grep -q 'lifetime=30s' /etc/ipsec.conf && grep -q keyexchange={version} /etc/ipsec.conf && ipsec update && cat /etc/ipsec.conf"
    );
    let (edited, out) = vmexec(&edit, 30);
    assert!(edited, "giving the client short lifetimes failed:\n{out}");
    let (_, connect) = vmexec("sh /lab/connect.sh", 150);
    let result =
        connect.lines().find(|l| l.starts_with("LAB-RESULT")).unwrap_or("no LAB-RESULT line").to_owned();
    let (_, ping) = vmexec(
        &format!("ping -c {PINGS} -i 1 -W 3 -I ppp0 198.51.100.1 | tail -n 3; ip -4 -o addr show ppp0"),
        PINGS + 40,
    );
    let (_, logs) =
        vmexec("ipsec statusall; tail -n 150 /var/log/charon.log; tail -n 20 /var/log/pppd.log", 30);
    let during = events.lock().unwrap().clone();
    // stop.sh hangs the client up politely: CDN/StopCCN, then the IKE Delete.
    drop(stop_vm);
    for _ in 0..50 {
        if events.lock().unwrap().iter().any(|e| e.contains(r#""event":"ike_down""#)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    runner.join().unwrap().expect("server loop");
    let all = events.lock().unwrap().join("\n");
    let during = during.join("\n");
    let context = format!(
        "--- connect:\n{connect}\n--- ping:\n{ping}\n--- client logs:\n{logs}\n--- server events:\n{all}"
    );

    assert!(
        result.starts_with("LAB-RESULT PASS"),
        "the Linux client did not get through:\n{result}\n{context}"
    );
    let received = ping
        .lines()
        .find_map(|l| l.split(" received").next().filter(|_| l.contains(" received")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no ping summary\n{context}"));
    println!("{version} reauth={reauth}: {received}/{PINGS} echoes across the rekeys");
    let keywords = ["rekey", "reauth", "initiating", "established", "DELETE"];
    for l in logs.lines().filter(|l| keywords.iter().any(|k| l.contains(k))) {
        println!("  charon: {l}");
    }
    let count = |what: &str| during.matches(&format!(r#""event":"{what}""#)).count();
    let (esp_rekeyed, ike_rekeyed) = (count("esp_rekeyed"), count("ike_rekeyed"));
    println!(
        "server events during the run: esp_rekeyed {esp_rekeyed}, ike_rekeyed {ike_rekeyed}, esp_down {}",
        count("esp_down")
    );
    assert!(esp_rekeyed >= 2, "at least two Child SA rekeys expected:\n{context}");
    assert!(ike_rekeyed >= 1, "at least one IKE SA rekey expected:\n{context}");
    assert!(count("esp_down") >= 1, "an old SA pair was removed:\n{context}");
    assert_eq!(count("session_down"), 0, "the session went down during the rekeys:\n{context}");
    assert_eq!(count("ike_down"), 0, "the connection went down during the rekeys:\n{context}");
    assert_eq!(count("ipcp_up"), 1, "one PPP session all along:\n{context}");
    assert!(received + 2 >= PINGS, "echoes lost across the rekeys: {received}/{PINGS}\n{context}");
    assert!(ping.contains("198.51.100.2"), "ppp0 kept its address:\n{context}");
    let rekeyed_log = if case.ikev2 || !case.reauth { "rekey" } else { "reauth" };
    assert!(logs.to_lowercase().contains(rekeyed_log), "charon did not log a {rekeyed_log}:\n{context}");
    assert!(all.contains(r#""event":"session_down""#), "the hang-up ended the session:\n{all}");
}

/// IKEv1: Quick Mode rekeys every ~20 s, and a phase-1 rekey (strongSwan `reauth=no`: a
/// new Main Mode, the ESP SAs move to it, the old ISAKMP SA is deleted) at ~40 s.
#[test]
#[ignore = "interop: needs qemu and the lab VM images; run by .ci/run with --ignored"]
fn linux_ikev1_client_rekeys_quick_mode_and_phase1_while_pinging() {
    run(&Case { name: "l2secrk1", ctrl_port: 10061, ports: (24520, 24521), ikev2: false, reauth: false });
}

/// IKEv1 with re-authentication (strongSwan's default `reauth=yes`, what Windows does at
/// phase-1 end): a new Main Mode and new Quick Modes, then Deletes of the old ESP SAs and
/// the old ISAKMP SA.
#[test]
#[ignore = "interop: needs qemu and the lab VM images; run by .ci/run with --ignored"]
fn linux_ikev1_client_reauthenticates_while_pinging() {
    run(&Case { name: "l2secrk2", ctrl_port: 10062, ports: (24530, 24531), ikev2: false, reauth: true });
}

/// IKEv2: CREATE_CHILD_SA rekeys of the Child SA every ~20 s and of the IKE SA at ~40 s.
#[test]
#[ignore = "interop: needs qemu and the lab VM images; run by .ci/run with --ignored"]
fn linux_ikev2_client_rekeys_child_and_ike_sa_while_pinging() {
    run(&Case { name: "l2secrk3", ctrl_port: 10063, ports: (24540, 24541), ikev2: true, reauth: false });
}

//! Interop: the ikepeer example binary against strongSwan charon in the lab namespaces
//! (../shared/lab/strongswan): IKEv1 Main Mode both roles, IKEv1 Aggressive Mode, IKEv2
//! both roles, NAT-T through the lab's NAT, tunnel mode with pings through charon's
//! kernel-libipsec (ikepeer answering itself, or through its TUN device), transport mode
//! for UDP/1701, `--events json` lines, `--keylog` tables decrypting a capture in
//! tshark (the lab's tools/decode.sh), and rekeying: ikepeer with lifetimes of a few
//! seconds rekeying both IKEv1 phases and the IKEv2 Child and IKE SAs with charon, and
//! charon's rekeys (`swanctl --rekey`) answered by ikepeer as responder, with pings
//! through the tunnel after each. Needs root and the lab packages; fails (never
//! skips) without them.
//!
//! ikepeer runs inside a lab namespace through `peer.sh exec`. Cargo does not give
//! integration tests the path of examples, so the test builds it with the cargo that runs
//! it (`$CARGO build -p l2sec-ike --example ikepeer --message-format=json`, same profile
//! and target directory) and takes the path from cargo's `compiler-artifact` message.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

mod strongswan_lab;

use strongswan_lab::Lab;

/// Never set: these tests do not re-run themselves inside a namespace.
const INNER_ENV: &str = "L2SEC_IKEPEER_INTEROP_INNER";
const PSK: &str = "lab-psk-0123456789";

/// Builds the example (once per test process) and returns its path.
fn ikepeer() -> &'static Path {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "l2sec-ike", "--example", "ikepeer", "--message-format=json"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let out = cmd.stderr(Stdio::inherit()).output().expect("run cargo build --example ikepeer");
        assert!(out.status.success(), "cargo build --example ikepeer failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "ikepeer")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no ikepeer executable")
    })
}

/// One ikepeer process inside a lab namespace, its stdout read line by line.
struct Ikepeer {
    child: Child,
    lines: mpsc::Receiver<String>,
    events: Vec<Value>,
}

impl Ikepeer {
    /// Starts `ikepeer args` in namespace `ns` (a or b) with `--events json`.
    fn start(lab: &Lab, ns: &str, args: &[&str]) -> Self {
        let mut child = lab
            .cmd()
            .args(["exec", ns])
            .arg(ikepeer())
            .args(args)
            .args(["--events", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ikepeer in the lab");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, events: Vec::new() }
    }

    fn take(&mut self, line: &str) {
        take(&mut self.events, line);
    }

    /// Waits for event `name`; panics after `limit` with what was seen.
    fn wait_event(&mut self, name: &str, limit: Duration) -> Value {
        let until = Instant::now() + limit;
        loop {
            if let Some(e) = self.events.iter().find(|e| e["event"] == name) {
                return e.clone();
            }
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.take(&line),
                Err(_) => panic!("no {name} event within {limit:?}; events so far: {:#?}", self.events),
            }
        }
    }

    /// Waits until `done` holds for the events so far; panics after `limit`.
    fn wait_until(&mut self, what: &str, limit: Duration, done: impl Fn(&[Value]) -> bool) {
        let until = Instant::now() + limit;
        while !done(&self.events) {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.take(&line),
                Err(_) => panic!("{what}: not within {limit:?}; events so far: {:#?}", self.events),
            }
        }
    }

    /// Reads what arrived without waiting.
    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.take(&line);
        }
    }

    /// SIGTERM (ikepeer then sends its Deletes), then [`Self::finish`].
    fn terminate(self, limit: Duration) -> (Output, Vec<Value>) {
        // Only the process we started, by its id (`ip netns exec` execs ikepeer itself).
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.finish(limit)
    }

    /// Waits for the exit (SIGKILL after `limit`) and returns the output and all events.
    fn finish(self, limit: Duration) -> (Output, Vec<Value>) {
        let Self { child, lines, mut events } = self;
        let id = child.id();
        let start = Instant::now();
        let out = std::thread::scope(|s| {
            let h = s.spawn(move || child.wait_with_output().expect("wait for ikepeer"));
            while !h.is_finished() {
                if start.elapsed() > limit {
                    let _ = Command::new("kill").arg("-KILL").arg(id.to_string()).status();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            h.join().expect("join")
        });
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            take(&mut events, &line);
        }
        (out, events)
    }
}

/// Parses one `--events json` line: a JSON object with an `event` name.
fn take(events: &mut Vec<Value>, line: &str) {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    assert!(v["event"].is_string(), "no event name: {line}");
    println!("ikepeer: {line}");
    events.push(v);
}

fn find<'a>(events: &'a [Value], name: &str) -> &'a Value {
    events.iter().find(|e| e["event"] == name).unwrap_or_else(|| panic!("no {name} event in {events:#?}"))
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn stderr(out: &Output) -> String {
    format!("status {:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr))
}

/// The first line of charon's log (instance `name`) containing `needle`.
fn charon_says(lab: &Lab, name: &str, needle: &str) -> String {
    let log = lab.charon_log_full(name);
    let line = log.lines().find(|l| l.contains(needle)).map(str::to_owned);
    line.unwrap_or_else(|| panic!("charon log lacks {needle:?}:\n{}", tail(&log, 60)))
}

/// charon's log line naming the IKE SA whose SPIs (initiator's then responder's, 32 hex
/// digits as ikepeer prints them) are `spis`: proof that charon runs on our new IKE SA.
fn charon_knows_ike_sa(lab: &Lab, name: &str, spis: &Value) -> String {
    let spis = spis.as_str().unwrap_or_default();
    assert_eq!(spis.len(), 32, "{spis}");
    charon_says(lab, name, &format!("{}_i {}_r", &spis[..16], &spis[16..]))
}

/// Decodes capture `tag` with the tables in `ws` (lab tools/decode.sh: exit 0 iff every
/// encrypted IKE message and every ESP packet decrypted); returns the summary line.
fn decode(lab: &Lab, tag: &str, ws: &Path) -> String {
    let pcap = lab.state.join("ss").join(format!("{tag}.pcapng"));
    let out = Command::new("bash")
        .arg(strongswan_lab::lab_dir().join("tools/decode.sh"))
        .arg(&pcap)
        .arg(ws)
        .output()
        .expect("run decode.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text.lines().find(|l| l.starts_with("SUMMARY")).unwrap_or("(no summary)").to_owned();
    assert!(
        out.status.success(),
        "tshark did not decrypt everything with ikepeer's key log:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("decode.sh: {summary}");
    summary
}

fn count(summary: &str, key: &str) -> u64 {
    summary
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The checks of an initiator run that pinged through charon and deleted its SAs.
fn check_pinged_and_deleted(events: &[Value], version: u64, pings: u64) {
    let up = find(events, "ike_up");
    assert_eq!(up["version"], version, "{up}");
    assert_eq!(up["peer_id"], "192.0.2.2", "{up}");
    let child = find(events, "child_up");
    assert_eq!(child["mode"], "tunnel", "{child}");
    assert_eq!(child["udp_encap"], true, "{child}");
    for key in ["spi_in", "spi_out"] {
        let spi = child[key].as_str().unwrap_or_default();
        assert!(spi.len() == 8 && u32::from_str_radix(spi, 16).is_ok(), "{child}");
    }
    let replies = events.iter().filter(|e| e["event"] == "ping_reply").count();
    assert_eq!(replies as u64, pings, "echo replies through charon: {events:#?}");
    let deleted = events.iter().find(|e| e["event"] == "deleted" && e["sa"] == "ike").expect("deleted event");
    assert_eq!(deleted["by"], "local", "{deleted}");
    assert!(deleted["esp_in"].as_u64() >= Some(pings), "{deleted}");
}

/// IKEv1 Main Mode initiator against charon's `r-v1-mm`/`mm-tun`: pings through
/// charon's libipsec answered by LAB-b, our Deletes taken by charon, and tshark decrypts
/// every IKE message and ESP packet of the capture with ikepeer's `--keylog` tables.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl), tshark and root; run by .ci/run with --ignored"]
fn ikepeer_v1_main_mode_initiator_against_charon() {
    let lab = Lab::up("hpeer1", INNER_ENV);
    lab.run(&["start", "srv", "hpeer1-b", "responder"]);
    lab.run(&["cap-start", "t", "hpeer1-b", "hpeer1b0"]);
    let ws = lab.state.join("keylog");
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v1",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
        "--proposal",
        "aes256-sha256-modp2048",
        "--esp",
        "aes128-sha1",
        "--tunnel-inner",
        "192.0.2.201,192.0.2.202",
        "--ping",
        "3",
        "--keylog",
        ws.to_str().unwrap(),
    ];
    let (out, events) = Ikepeer::start(&lab, "a", &args).finish(Duration::from_secs(30));
    lab.run(&["cap-stop", "t"]);
    assert!(out.status.success(), "{}\n--- charon:\n{}", stderr(&out), lab.charon_log("srv", 60));
    check_pinged_and_deleted(&events, 1, 3);
    let up = find(&events, "ike_up");
    assert_eq!(
        (up["exchange"].as_str(), up["proposal"].as_str()),
        (Some("main"), Some("aes256-sha256-modp2048"))
    );
    assert_eq!(find(&events, "child_up")["transform"], "aes128-sha1");
    println!("charon: {}", charon_says(&lab, "srv", "IKE_SA r-v1-mm[1] established between"));
    println!("charon: {}", charon_says(&lab, "srv", "received DELETE for IKE_SA"));
    let summary = decode(&lab, "t", &ws);
    assert!(count(&summary, "ike_encrypted") >= 4 && count(&summary, "esp") >= 6, "{summary}");
}

/// charon (`i-v1-mm`, child `mm-tun`) initiates to ikepeer, which accepts both versions
/// on its port and answers charon's pings itself (no TUN); SIGTERM sends our Deletes.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikepeer_v1_main_mode_responder_against_charon() {
    responder_against_charon("hpeer2", "mm-tun", 1, "IKE_SA i-v1-mm[1] established between");
}

/// charon (`i-v2`, child `v2-tun`) initiates IKEv2 to the same responder command line.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikepeer_v2_responder_against_charon() {
    responder_against_charon("hpeer5", "v2-tun", 2, "IKE_SA i-v2[1] established between");
}

fn responder_against_charon(name: &'static str, child: &str, version: u64, established: &str) {
    let lab = Lab::up(name, INNER_ENV);
    lab.run_env(&["start", "cli", &format!("{name}-a"), "initiator"], &[("ENCAP", "yes")]);
    let args = [
        "--role",
        "responder",
        "--local",
        "192.0.2.2",
        "--remote",
        "192.0.2.1",
        "--psk",
        PSK,
        "--tunnel-inner",
        "192.0.2.202,192.0.2.201",
        "--timeout",
        "30",
    ];
    let mut peer = Ikepeer::start(&lab, "b", &args);
    peer.wait_event("started", Duration::from_secs(10));
    let up = lab.cmd().args(["up", "cli", child, "10"]).output().unwrap();
    assert!(
        up.status.success(),
        "charon's up {child} failed:\n{}\n{}",
        String::from_utf8_lossy(&up.stdout),
        lab.charon_log("cli", 60)
    );
    let child_up = peer.wait_event("child_up", Duration::from_secs(5));
    let ping = lab
        .cmd()
        .args([
            "exec",
            "a",
            "ping",
            "-n",
            "-c",
            "3",
            "-i",
            "0.3",
            "-W",
            "2",
            "-I",
            "192.0.2.201",
            "192.0.2.202",
        ])
        .output()
        .unwrap();
    let ping_out = String::from_utf8_lossy(&ping.stdout);
    println!("{ping_out}");
    let (out, events) = peer.terminate(Duration::from_secs(10));
    assert!(
        ping.status.success() && ping_out.contains("3 received"),
        "ping through ikepeer failed:\n{ping_out}\n{}",
        stderr(&out)
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ike_up = find(&events, "ike_up");
    assert_eq!(ike_up["version"], version, "{ike_up}");
    assert_eq!(ike_up["peer_id"], "192.0.2.1", "{ike_up}");
    assert_eq!(child_up["mode"], "tunnel");
    let deleted = events.iter().find(|e| e["event"] == "deleted" && e["sa"] == "ike").expect("deleted");
    assert_eq!(deleted["by"], "local");
    assert!(deleted["esp_in"].as_u64() >= Some(3) && deleted["esp_out"].as_u64() >= Some(3), "{deleted}");
    println!("charon: {}", charon_says(&lab, "cli", established));
    println!("charon: {}", charon_says(&lab, "cli", "received DELETE for IKE_SA"));
}

/// IKEv1 Aggressive Mode initiator (FQDN identity) against charon's `r-v1-am`/`am-tun`.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikepeer_v1_aggressive_initiator_against_charon() {
    let lab = Lab::up("hpeer3", INNER_ENV);
    lab.run(&["start", "srv", "hpeer3-b", "responder"]);
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v1",
        "--aggressive",
        "--id",
        "@am-client.lab",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
        "--tunnel-inner",
        "192.0.2.201,192.0.2.202",
        "--ping",
        "3",
    ];
    let (out, events) = Ikepeer::start(&lab, "a", &args).finish(Duration::from_secs(30));
    assert!(out.status.success(), "{}\n--- charon:\n{}", stderr(&out), lab.charon_log("srv", 60));
    check_pinged_and_deleted(&events, 1, 3);
    assert_eq!(find(&events, "ike_up")["exchange"], "aggressive");
    println!("charon: {}", charon_says(&lab, "srv", "IKE_SA r-v1-am[1] established between"));
    println!("charon: {}", charon_says(&lab, "srv", "am-client.lab"));
}

/// IKEv2 initiator against charon's `r-v2`/`v2-tun` with AES-GCM and ECP-256, pings,
/// Delete, and tshark decrypting the capture with ikepeer's key log.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl), tshark and root; run by .ci/run with --ignored"]
fn ikepeer_v2_initiator_against_charon() {
    let lab = Lab::up("hpeer4", INNER_ENV);
    lab.run_env(
        &["start", "srv", "hpeer4-b", "responder"],
        &[
            ("V2_IKE_PROPOSALS_RESP", "aes128gcm16-prfsha256-ecp256"),
            ("V2_ESP_PROPOSALS_RESP", "aes128gcm16"),
        ],
    );
    lab.run(&["cap-start", "t", "hpeer4-b", "hpeer4b0"]);
    let ws = lab.state.join("keylog");
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v2",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
        "--proposal",
        "aes128gcm16-prfsha256-ecp256",
        "--esp",
        "aes128gcm16",
        "--tunnel-inner",
        "192.0.2.201,192.0.2.202",
        "--ping",
        "3",
        "--keylog",
        ws.to_str().unwrap(),
    ];
    let (out, events) = Ikepeer::start(&lab, "a", &args).finish(Duration::from_secs(30));
    lab.run(&["cap-stop", "t"]);
    assert!(out.status.success(), "{}\n--- charon:\n{}", stderr(&out), lab.charon_log("srv", 60));
    check_pinged_and_deleted(&events, 2, 3);
    assert_eq!(find(&events, "ike_up")["proposal"], "aes128gcm16-prfsha256-ecp256");
    assert_eq!(find(&events, "child_up")["transform"], "aes128gcm16");
    println!("charon: {}", charon_says(&lab, "srv", "IKE_SA r-v2[1] established between"));
    println!("charon: {}", charon_says(&lab, "srv", "selected proposal: ESP:AES_GCM_16_128"));
    println!("charon: {}", charon_says(&lab, "srv", "received DELETE for IKE_SA"));
    let summary = decode(&lab, "t", &ws);
    assert!(count(&summary, "ike_encrypted") >= 3 && count(&summary, "esp") >= 6, "{summary}");
}

/// NAT-T through the lab's `nat` topology: ikepeer at 192.0.2.65 behind a masquerading
/// router (192.0.2.3), IKEv1 Main Mode, floating to the NAT-T port, pings through ESP in UDP.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl), nftables and root; run by .ci/run with --ignored"]
fn ikepeer_v1_nat_traversal_against_charon() {
    let lab = Lab::up("hpeer6", INNER_ENV);
    lab.run(&["net-down"]);
    lab.run(&["net-up", "nat"]);
    lab.run(&["start", "srv", "hpeer6-b", "responder"]);
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v1",
        "--local",
        "192.0.2.65",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
        "--tunnel-inner",
        "192.0.2.201,192.0.2.202",
        "--ping",
        "3",
    ];
    let (out, events) = Ikepeer::start(&lab, "a", &args).finish(Duration::from_secs(30));
    assert!(out.status.success(), "{}\n--- charon:\n{}", stderr(&out), lab.charon_log("srv", 60));
    check_pinged_and_deleted(&events, 1, 3);
    let up = find(&events, "ike_up");
    assert_eq!((up["nat_local"].as_bool(), up["floated"].as_bool()), (Some(true), Some(true)), "{up}");
    // charon sees the router's address and a real NAT in front of us.
    println!("charon: {}", charon_says(&lab, "srv", "192.0.2.3"));
    println!("charon: {}", charon_says(&lab, "srv", "remote host is behind NAT"));
}

/// Tunnel mode through ikepeer's TUN device: the kernel in LAB-a pings charon's inner
/// host, and LAB-b pings ours, through l2sec-esp and charon's libipsec.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl), TUN and root; run by .ci/run with --ignored"]
fn ikepeer_tun_device_against_charon() {
    let lab = Lab::up("hpeer9", INNER_ENV);
    lab.run(&["start", "srv", "hpeer9-b", "responder"]);
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v2",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
        "--tunnel-inner",
        "192.0.2.201,192.0.2.202",
        "--tun",
        "ikp0",
        "--timeout",
        "30",
    ];
    let mut peer = Ikepeer::start(&lab, "a", &args);
    peer.wait_event("child_up", Duration::from_secs(15));
    let ping = |ns: &str, from: &str, to: &str| {
        let out = lab
            .cmd()
            .args(["exec", ns, "ping", "-n", "-c", "3", "-i", "0.3", "-W", "2", "-I", from, to])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        println!("{text}");
        (out.status.success() && text.contains("3 received"), text)
    };
    let routes = lab.cmd().args(["exec", "a", "ip", "route", "get", "192.0.2.202"]).output().unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout).into_owned();
    let (a_ok, a_text) = ping("a", "192.0.2.201", "192.0.2.202");
    let (b_ok, b_text) = ping("b", "192.0.2.202", "192.0.2.201");
    let (out, events) = peer.terminate(Duration::from_secs(10));
    assert!(routes.contains("dev ikp0"), "no route into the TUN device: {routes}");
    assert!(a_ok, "ping from LAB-a through the TUN device failed:\n{a_text}\n{}", stderr(&out));
    assert!(b_ok, "ping from LAB-b to the TUN side failed:\n{b_text}\n{}", stderr(&out));
    assert!(out.status.success(), "{}", stderr(&out));
    let deleted = events.iter().find(|e| e["event"] == "deleted" && e["sa"] == "ike").expect("deleted");
    assert!(deleted["esp_in"].as_u64() >= Some(6) && deleted["esp_out"].as_u64() >= Some(6), "{deleted}");
    println!("charon: {}", charon_says(&lab, "srv", "received DELETE for IKE_SA"));
}

/// The L2TP/IPsec shape with IKEv1: a transport-mode Quick Mode for UDP/1701 with
/// charon's `mm-l2tp`. charon completes it with our selectors, then deletes the ESP SA
/// because libipsec cannot install transport mode (lab README): ikepeer reports both.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikepeer_v1_transport_mode_l2tp_against_charon() {
    let lab = Lab::up("hpeer7", INNER_ENV);
    lab.run(&["start", "srv", "hpeer7-b", "responder"]);
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v1",
        "--mode",
        "transport",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
    ];
    let mut peer = Ikepeer::start(&lab, "a", &args);
    let child = peer.wait_event("child_up", Duration::from_secs(15));
    assert_eq!(child["mode"], "transport", "{child}");
    let deleted = peer.wait_event("deleted", Duration::from_secs(10));
    let (out, _) = peer.terminate(Duration::from_secs(10));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((deleted["sa"].as_str(), deleted["by"].as_str()), (Some("child"), Some("peer")), "{deleted}");
    assert_eq!(deleted["spi_in"], child["spi_in"], "{deleted}");
    for needle in [
        "192.0.2.2/32[udp/l2f]",
        "selected proposal: ESP:AES_CBC_128/HMAC_SHA1_96",
        "received DELETE for IKE_SA",
    ] {
        println!("charon: {}", charon_says(&lab, "srv", needle));
    }
}

/// The same with IKEv2 (`v2-l2tp`, USE_TRANSPORT_MODE): charon authenticates us and
/// selects the child, cannot install it and refuses it; ikepeer reports the IKE SA up and
/// the refused child, and deletes the IKE SA on SIGTERM.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikepeer_v2_transport_mode_l2tp_against_charon() {
    let lab = Lab::up("hpeer8", INNER_ENV);
    lab.run(&["start", "srv", "hpeer8-b", "responder"]);
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v2",
        "--mode",
        "transport",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
    ];
    let mut peer = Ikepeer::start(&lab, "a", &args);
    peer.wait_event("ike_up", Duration::from_secs(15));
    let refused = peer.wait_event("error", Duration::from_secs(5));
    let (out, events) = peer.terminate(Duration::from_secs(10));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(refused["message"].as_str().is_some_and(|m| m.contains("child SA refused")), "{refused}");
    assert!(events.iter().all(|e| e["event"] != "child_up"), "{events:#?}");
    for needle in [
        "received: 192.0.2.2/32[udp/l2f] => match: 192.0.2.2/32[udp/l2f]",
        "CHILD_SA v2-l2tp{1} state change: CREATED => INSTALLING",
        "received DELETE for IKE_SA r-v2",
    ] {
        println!("charon: {}", charon_says(&lab, "srv", needle));
    }
}

/// The IKEv1 proposal list, one ikepeer run each against one charon responder
/// configured with exactly these proposals: each must establish, ping and delete.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikepeer_v1_proposals_against_charon() {
    const PROPOSALS: [&str; 7] = [
        "aes128-sha1-modp2048",
        "aes256-sha1-modp2048",
        "aes256-sha256-modp2048",
        "aes128-sha1-ecp256",
        "aes256-sha1-ecp384",
        "3des-sha1-modp1024",
        "aes128-sha256-x25519",
    ];
    let lab = Lab::up("hpeerp", INNER_ENV);
    let all = PROPOSALS.join(",");
    lab.run_env(&["start", "srv", "hpeerp-b", "responder"], &[("V1_IKE_PROPOSALS_RESP", &all)]);
    for proposal in PROPOSALS {
        let args = [
            "--role",
            "initiator",
            "--ike",
            "v1",
            "--local",
            "192.0.2.1",
            "--remote",
            "192.0.2.2",
            "--psk",
            PSK,
            "--proposal",
            proposal,
            "--tunnel-inner",
            "192.0.2.201,192.0.2.202",
            "--ping",
            "1",
        ];
        let (out, events) = Ikepeer::start(&lab, "a", &args).finish(Duration::from_secs(30));
        assert!(
            out.status.success(),
            "{proposal}: {}\n--- charon:\n{}",
            stderr(&out),
            lab.charon_log("srv", 40)
        );
        check_pinged_and_deleted(&events, 1, 1);
        assert_eq!(find(&events, "ike_up")["proposal"], proposal);
    }
}

/// Dead Peer Detection with charon (DPD delay 1 s both sides): R-U-THERE exchanges while
/// the link is up, then the link goes down and ikepeer reports `peer_dead` (exit 3).
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikepeer_v1_dpd_peer_dead_against_charon() {
    let lab = Lab::up("hpeerd", INNER_ENV);
    lab.run_env(&["start", "srv", "hpeerd-b", "responder"], &[("DPD_DELAY", "1s")]);
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v1",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
        "--tunnel-inner",
        "192.0.2.201,192.0.2.202",
        "--dpd",
        "1",
        "--timeout",
        "30",
    ];
    let mut peer = Ikepeer::start(&lab, "a", &args);
    peer.wait_event("child_up", Duration::from_secs(15));
    std::thread::sleep(Duration::from_secs(3));
    let dpd = charon_says(&lab, "srv", "N(DPD_ACK)");
    lab.run(&["exec", "b", "ip", "link", "set", "hpeerdb0", "down"]);
    let dead = peer.wait_event("peer_dead", Duration::from_secs(15));
    let (out, _) = peer.finish(Duration::from_secs(5));
    println!("charon: {dpd}\n{dead}");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

/// IKEv2 through the lab's NAT: ikepeer at 192.0.2.65, charon sees 192.0.2.3.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl), nftables and root; run by .ci/run with --ignored"]
fn ikepeer_v2_nat_traversal_against_charon() {
    let lab = Lab::up("hpeern", INNER_ENV);
    lab.run(&["net-down"]);
    lab.run(&["net-up", "nat"]);
    lab.run(&["start", "srv", "hpeern-b", "responder"]);
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v2",
        "--local",
        "192.0.2.65",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
        "--tunnel-inner",
        "192.0.2.201,192.0.2.202",
        "--ping",
        "3",
    ];
    let (out, events) = Ikepeer::start(&lab, "a", &args).finish(Duration::from_secs(30));
    assert!(out.status.success(), "{}\n--- charon:\n{}", stderr(&out), lab.charon_log("srv", 60));
    check_pinged_and_deleted(&events, 2, 3);
    println!("charon: {}", charon_says(&lab, "srv", "192.0.2.3"));
    println!("charon: {}", charon_says(&lab, "srv", "remote host is behind NAT"));
}

/// IKEv2 transform sets, one ikepeer run each against one charon responder configured
/// with exactly these: each must establish, ping and delete.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikepeer_v2_proposals_against_charon() {
    const PROPOSALS: [(&str, &str); 4] = [
        ("aes128-sha256-prfsha256-modp2048", "aes128-sha256"),
        ("aes256-sha384-prfsha384-ecp384", "aes256-sha256"),
        ("aes128-sha1-prfsha1-x25519", "aes128-sha1"),
        ("aes256gcm16-prfsha256-x25519", "aes256gcm16"),
    ];
    let lab = Lab::up("hpeerq", INNER_ENV);
    let ike: Vec<&str> = PROPOSALS.iter().map(|p| p.0).collect();
    let esp: Vec<&str> = PROPOSALS.iter().map(|p| p.1).collect();
    lab.run_env(
        &["start", "srv", "hpeerq-b", "responder"],
        &[("V2_IKE_PROPOSALS_RESP", &ike.join(",")), ("V2_ESP_PROPOSALS_RESP", &esp.join(","))],
    );
    for (proposal, transform) in PROPOSALS {
        let args = [
            "--role",
            "initiator",
            "--ike",
            "v2",
            "--local",
            "192.0.2.1",
            "--remote",
            "192.0.2.2",
            "--psk",
            PSK,
            "--proposal",
            proposal,
            "--esp",
            transform,
            "--tunnel-inner",
            "192.0.2.201,192.0.2.202",
            "--ping",
            "1",
        ];
        let (out, events) = Ikepeer::start(&lab, "a", &args).finish(Duration::from_secs(30));
        assert!(
            out.status.success(),
            "{proposal}: {}\n--- charon:\n{}",
            stderr(&out),
            lab.charon_log("srv", 40)
        );
        check_pinged_and_deleted(&events, 2, 1);
        assert_eq!(find(&events, "ike_up")["proposal"], proposal);
        assert_eq!(find(&events, "child_up")["transform"], transform);
    }
}

/// IKEv1 Quick Mode with PFS from `--esp aes128-sha1-ecp256`; charon's responder
/// requires that group.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikepeer_v1_pfs_against_charon() {
    let lab = Lab::up("hpeerf", INNER_ENV);
    lab.run_env(
        &["start", "srv", "hpeerf-b", "responder"],
        &[("V1_ESP_PROPOSALS_RESP", "aes128-sha1-ecp256")],
    );
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v1",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
        "--esp",
        "aes128-sha1-ecp256",
        "--tunnel-inner",
        "192.0.2.201,192.0.2.202",
        "--ping",
        "2",
    ];
    let (out, events) = Ikepeer::start(&lab, "a", &args).finish(Duration::from_secs(30));
    assert!(out.status.success(), "{}\n--- charon:\n{}", stderr(&out), lab.charon_log("srv", 60));
    check_pinged_and_deleted(&events, 1, 2);
    println!(
        "charon: {}",
        charon_says(&lab, "srv", "selected proposal: ESP:AES_CBC_128/HMAC_SHA1_96/ECP_256")
    );
}

// --- rekeying -------------------------------------------------------------------------------

/// Events `name` (`rekeyed`, `deleted`) of kind or SA `kind` (child, ike).
fn named<'a>(events: &'a [Value], name: &str, kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name && (e["kind"] == kind || e["sa"] == kind)).collect()
}

/// `n` pings from LAB-a's inner address to LAB-b's through the tunnel; panics unless all
/// are answered.
fn ping_a_to_b(lab: &Lab, n: u32, when: &str) {
    let out = lab
        .cmd()
        .args(["exec", "a", "ping", "-n", "-c", &n.to_string(), "-i", "0.3", "-W", "2"])
        .args(["-I", "192.0.2.201", "192.0.2.202"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(&format!("{n} received")), "ping {when} failed:\n{text}");
    println!("ping {when}: {}", text.lines().find(|l| l.contains("received")).unwrap_or_default());
}

/// The rekey checks of an ikepeer initiator run against charon: at least `children`
/// Child SA and `ikes` IKE SA rekeys, each replacing the SA in use, the old pairs
/// deleted, every ping answered with answers after the first rekey of each kind, and our
/// Delete of the newest IKE SA at the end.
fn check_initiator_rekeys(events: &[Value], version: u64, pings: u64, children: usize, ikes: usize) {
    let (child, ike) = (named(events, "rekeyed", "child"), named(events, "rekeyed", "ike"));
    assert!(child.len() >= children && ike.len() >= ikes, "rekeys: {events:#?}");
    let mut current = find(events, "child_up")["spi_in"].clone();
    for rk in &child {
        assert_eq!(rk["old_spi_in"], current, "rekey of the SA in use: {rk}");
        current = rk["spi_in"].clone();
        let gone = events
            .iter()
            .find(|e| e["event"] == "deleted" && e["sa"] == "child" && e["spi_in"] == rk["old_spi_in"])
            .unwrap_or_else(|| panic!("old pair of {rk} not deleted: {events:#?}"));
        assert_eq!(gone["replaced"], true, "{gone}");
    }
    for rk in &ike {
        assert_ne!(rk["spi"], rk["old_spi"], "{rk}");
    }
    let replies: Vec<u64> =
        events.iter().filter(|e| e["event"] == "ping_reply").filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(replies, (1..=pings).collect::<Vec<_>>(), "echo replies through charon: {events:#?}");
    let position = |e: &Value| events.iter().position(|x| std::ptr::eq(x, e)).unwrap();
    let last_reply = events.iter().rposition(|e| e["event"] == "ping_reply").unwrap();
    for first in [child.first(), ike.first()].into_iter().flatten() {
        assert!(position(first) < last_reply, "no echo reply after {first}");
    }
    let up = find(events, "ike_up");
    assert_eq!(up["version"], version, "{up}");
    let end: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "deleted" && e["sa"] == "ike" && e["replaced"] == false)
        .collect();
    assert_eq!(end.len(), 1, "{events:#?}");
    assert_eq!(end[0]["by"], "local", "{}", end[0]);
    println!("{} child and {} IKE SA rekeys; last: {}", child.len(), ike.len(), child.last().unwrap());
}

/// ikepeer as IKEv1 initiator with an 8 s ESP and a 14 s ISAKMP lifetime against
/// charon's `r-v1-mm`: Quick Mode rekeys and a new Main Mode of ours, the replaced SAs
/// deleted (charon logs our Deletes), one ping a second answered throughout; and the
/// `--keylog` tables, which follow every rekey, let tshark decrypt the whole capture.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl), tshark and root; run by .ci/run with --ignored"]
fn ikepeer_v1_initiator_rekeys_both_phases_against_charon() {
    let lab = Lab::up("hpeer2i", INNER_ENV);
    lab.run(&["start", "srv", "hpeer2i-b", "responder"]);
    lab.run(&["cap-start", "t", "hpeer2i-b", "hpeer2ib0"]);
    let ws = lab.state.join("keylog");
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v1",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
        "--tunnel-inner",
        "192.0.2.201,192.0.2.202",
        "--lifetime",
        "8",
        "--ike-lifetime",
        "14",
        "--ping",
        "18",
        "--timeout",
        "40",
        "--keylog",
        ws.to_str().unwrap(),
    ];
    let (out, events) = Ikepeer::start(&lab, "a", &args).finish(Duration::from_secs(45));
    lab.run(&["cap-stop", "t"]);
    assert!(out.status.success(), "{}\n--- charon:\n{}", stderr(&out), lab.charon_log("srv", 80));
    check_initiator_rekeys(&events, 1, 18, 2, 1);
    // Every Quick Mode, informational and ESP packet of every SA, old and new, decrypts.
    let summary = decode(&lab, "t", &ws);
    let table = std::fs::read_to_string(ws.join("ikev1_decryption_table")).unwrap();
    let isakmp_sas = 1 + named(&events, "rekeyed", "ike").len();
    assert_eq!(table.lines().filter(|l| !l.starts_with('#')).count(), isakmp_sas, "{table}");
    assert!(count(&summary, "ike_encrypted") >= 12 && count(&summary, "esp") >= 36, "{summary}");
    let ike = named(&events, "rekeyed", "ike")[0];
    println!("charon: {}", charon_knows_ike_sa(&lab, "srv", &ike["spi"]));
    for needle in ["received 8s lifetime", "received DELETE for ESP CHILD_SA", "received DELETE for IKE_SA"] {
        println!("charon: {}", charon_says(&lab, "srv", needle));
    }
    // Two ISAKMP SAs established in turn: the first, and our rekey.
    let log = lab.charon_log_full("srv");
    let established =
        log.lines().filter(|l| l.contains("IKE_SA r-v1-mm[") && l.contains("established")).count();
    assert!(established >= 2, "charon established {established} ISAKMP SAs:\n{}", tail(&log, 80));
}

/// ikepeer as IKEv2 initiator with an 8 s Child SA and a 14 s IKE SA lifetime against
/// charon's `r-v2`: CREATE_CHILD_SA rekeys of both, pings answered throughout.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikepeer_v2_initiator_rekeys_child_and_ike_sa_against_charon() {
    let lab = Lab::up("hpeer2j", INNER_ENV);
    lab.run(&["start", "srv", "hpeer2j-b", "responder"]);
    let args = [
        "--role",
        "initiator",
        "--ike",
        "v2",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--psk",
        PSK,
        "--tunnel-inner",
        "192.0.2.201,192.0.2.202",
        "--lifetime",
        "8",
        "--ike-lifetime",
        "14",
        "--ping",
        "18",
        "--timeout",
        "40",
    ];
    let (out, events) = Ikepeer::start(&lab, "a", &args).finish(Duration::from_secs(45));
    assert!(out.status.success(), "{}\n--- charon:\n{}", stderr(&out), lab.charon_log("srv", 80));
    check_initiator_rekeys(&events, 2, 18, 2, 1);
    let ike = named(&events, "rekeyed", "ike")[0];
    println!("charon: {}", charon_knows_ike_sa(&lab, "srv", &ike["spi"]));
    println!("charon: {}", charon_says(&lab, "srv", "REKEYING => REKEYED"));
    println!("charon: {}", charon_says(&lab, "srv", "received DELETE for ESP CHILD_SA"));
}

/// charon (`i-v1-mm`/`mm-tun`) rekeys its CHILD_SA and reauthenticates its IKE_SA
/// (`swanctl --rekey`) with ikepeer as responder; charon's ping goes through after each,
/// and charon's Delete of its old ISAKMP SA leaves ikepeer running on the new one.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn charon_rekeys_against_ikepeer_v1_responder() {
    let lab = Lab::up("hpeer2k", INNER_ENV);
    lab.run_env(&["start", "cli", "hpeer2k-a", "initiator"], &[("ENCAP", "yes")]);
    let mut peer = Ikepeer::start(&lab, "b", &responder_args());
    peer.wait_event("started", Duration::from_secs(10));
    lab.run(&["up", "cli", "mm-tun", "10"]);
    let up = peer.wait_event("child_up", Duration::from_secs(5));
    ping_a_to_b(&lab, 2, "before the rekeys");

    lab.run(&["swanctl", "cli", "--rekey", "--child", "mm-tun"]);
    peer.wait_until("charon's CHILD_SA rekey", Duration::from_secs(10), |e| {
        named(e, "rekeyed", "child").iter().any(|r| r["old_spi_in"] == up["spi_in"])
    });
    ping_a_to_b(&lab, 2, "after charon's Quick Mode rekey");

    lab.run(&["swanctl", "cli", "--rekey", "--ike", "i-v1-mm"]);
    peer.wait_until("charon's new ISAKMP SA", Duration::from_secs(15), |e| {
        !named(e, "rekeyed", "ike").is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    ping_a_to_b(&lab, 2, "after charon's reauthentication");
    // charon keeps its old IKE_SA (make-before-break) until it is terminated; its Delete
    // must not end our run.
    lab.run(&["swanctl", "cli", "--terminate", "--ike-id", "1", "--timeout", "5"]);
    peer.wait_until("charon's Delete of the old ISAKMP SA", Duration::from_secs(10), |e| {
        named(e, "deleted", "ike").iter().any(|d| d["replaced"] == true)
    });
    ping_a_to_b(&lab, 2, "after the old ISAKMP SA is gone");
    peer.drain();
    let old = named(&peer.events, "deleted", "ike")[0].clone();
    let ike = named(&peer.events, "rekeyed", "ike")[0].clone();
    assert_eq!((old["by"].as_str(), &old["spi"]), (Some("peer"), &ike["old_spi"]), "{old}");

    let (out, events) = peer.terminate(Duration::from_secs(10));
    assert!(out.status.success(), "{}", stderr(&out));
    let end: Vec<&Value> =
        named(&events, "deleted", "ike").into_iter().filter(|e| e["replaced"] == false).collect();
    assert!(end.iter().any(|e| e["by"] == "local" && e["spi"] == ike["spi"]), "{events:#?}");
    println!("charon: {}", charon_says(&lab, "cli", "REKEYING => REKEYED"));
    println!("charon: {}", charon_knows_ike_sa(&lab, "cli", &ike["spi"]));
}

/// charon (`i-v2`/`v2-tun`) rekeys its CHILD_SA and its IKE_SA with CREATE_CHILD_SA;
/// ikepeer answers as responder, and charon's pings go through after each.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn charon_rekeys_against_ikepeer_v2_responder() {
    let lab = Lab::up("hpeer2l", INNER_ENV);
    lab.run_env(&["start", "cli", "hpeer2l-a", "initiator"], &[("ENCAP", "yes")]);
    let mut peer = Ikepeer::start(&lab, "b", &responder_args());
    peer.wait_event("started", Duration::from_secs(10));
    lab.run(&["up", "cli", "v2-tun", "10"]);
    let up = peer.wait_event("child_up", Duration::from_secs(5));
    ping_a_to_b(&lab, 2, "before the rekeys");

    lab.run(&["swanctl", "cli", "--rekey", "--child", "v2-tun"]);
    peer.wait_until("charon's Child SA rekey", Duration::from_secs(10), |e| {
        named(e, "rekeyed", "child").iter().any(|r| r["old_spi_in"] == up["spi_in"])
            && named(e, "deleted", "child").iter().any(|d| d["spi_in"] == up["spi_in"])
    });
    ping_a_to_b(&lab, 2, "after charon's Child SA rekey");

    lab.run(&["swanctl", "cli", "--rekey", "--ike", "i-v2"]);
    peer.wait_until("charon's IKE SA rekey", Duration::from_secs(10), |e| {
        !named(e, "rekeyed", "ike").is_empty()
    });
    ping_a_to_b(&lab, 2, "after charon's IKE SA rekey");
    // The rekeyed IKE SA carries on: another Child SA rekey under it.
    lab.run(&["swanctl", "cli", "--rekey", "--child", "v2-tun"]);
    peer.wait_until("a Child SA rekey under the new IKE SA", Duration::from_secs(10), |e| {
        named(e, "rekeyed", "child").len() >= 2
    });
    ping_a_to_b(&lab, 2, "after the second Child SA rekey");
    let (out, events) = peer.terminate(Duration::from_secs(10));
    assert!(out.status.success(), "{}", stderr(&out));
    let ike = named(&events, "rekeyed", "ike")[0];
    let end: Vec<&Value> =
        named(&events, "deleted", "ike").into_iter().filter(|e| e["replaced"] == false).collect();
    assert!(end.iter().any(|e| e["by"] == "local" && e["spi"] == ike["spi"]), "{events:#?}");
    println!("charon: {}", charon_says(&lab, "cli", "REKEYING => REKEYED"));
    println!("charon: {}", charon_knows_ike_sa(&lab, "cli", &ike["spi"]));
}

/// Rekeys through the lab's NAT: ikepeer (IKEv1 and IKEv2 in turn) at 192.0.2.65 behind
/// the masquerading router, charon seeing 192.0.2.3; every rekey runs on the floated
/// NAT-T port and the pings keep going through ESP in UDP.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl), nftables and root; run by .ci/run with --ignored"]
fn ikepeer_rekeys_through_nat_against_charon() {
    let lab = Lab::up("hpeer2n", INNER_ENV);
    lab.run(&["net-down"]);
    lab.run(&["net-up", "nat"]);
    lab.run(&["start", "srv", "hpeer2n-b", "responder"]);
    for (version, v) in [("v1", 1), ("v2", 2)] {
        let args = [
            "--role",
            "initiator",
            "--ike",
            version,
            "--local",
            "192.0.2.65",
            "--remote",
            "192.0.2.2",
            "--psk",
            PSK,
            "--tunnel-inner",
            "192.0.2.201,192.0.2.202",
            "--lifetime",
            "6",
            "--ike-lifetime",
            "9",
            "--ping",
            "11",
            "--timeout",
            "40",
        ];
        let (out, events) = Ikepeer::start(&lab, "a", &args).finish(Duration::from_secs(40));
        assert!(
            out.status.success(),
            "{version}: {}\n--- charon:\n{}",
            stderr(&out),
            lab.charon_log("srv", 80)
        );
        let up = find(&events, "ike_up");
        assert_eq!((up["nat_local"].as_bool(), up["floated"].as_bool()), (Some(true), Some(true)), "{up}");
        check_initiator_rekeys(&events, v, 11, 1, 1);
        let ike = named(&events, "rekeyed", "ike")[0];
        println!("charon ({version}): {}", charon_knows_ike_sa(&lab, "srv", &ike["spi"]));
    }
    println!("charon: {}", charon_says(&lab, "srv", "remote host is behind NAT"));
}

/// The responder command line of the charon-initiated rekey tests.
fn responder_args() -> [&'static str; 12] {
    [
        "--role",
        "responder",
        "--local",
        "192.0.2.2",
        "--remote",
        "192.0.2.1",
        "--psk",
        PSK,
        "--tunnel-inner",
        "192.0.2.202,192.0.2.201",
        "--timeout",
        "60",
    ]
}

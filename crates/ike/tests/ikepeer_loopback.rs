//! The ikepeer example against itself on loopback addresses, without root: a responder on
//! 127.0.0.2 and an initiator on 127.0.0.1 (high ports), IKEv1 Main Mode, IKEv1
//! Aggressive Mode and IKEv2, then three pings through the tunnel-mode Child SA, which
//! the responder answers itself (no TUN), and Deletes. With lifetimes of a few seconds
//! (`--lifetime`, `--ike-lifetime`) both versions rekey the Child SA and the IKE SA
//! several times while one ping a second keeps getting answered.
//!
//! Cargo gives integration tests the path of binaries (`CARGO_BIN_EXE_*`) but not of
//! examples, so the test builds the example itself with the cargo that runs it
//! (`$CARGO build -p l2sec-ike --example ikepeer --message-format=json`, same profile and
//! target directory) and takes the executable path from cargo's `compiler-artifact`
//! message: no guessing of `target/<profile>/examples/` layouts.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Builds the example (once per test process) and returns its path.
fn ikepeer() -> &'static std::path::Path {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
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
            .find_map(|m| m["executable"].as_str().map(std::path::PathBuf::from))
            .expect("cargo reported no ikepeer executable")
    })
}

/// The events an ikepeer run printed (`--events json`), checked to be JSON objects with
/// an `event` name.
fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v["event"].is_string(), "no event name: {l}");
            v
        })
        .collect()
}

fn find<'a>(events: &'a [Value], name: &str) -> &'a Value {
    events.iter().find(|e| e["event"] == name).unwrap_or_else(|| panic!("no {name} event in {events:#?}"))
}

fn spawn(args: &[&str]) -> Child {
    Command::new(ikepeer())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ikepeer")
}

fn wait(child: Child, limit: Duration) -> Output {
    let id = child.id();
    let start = Instant::now();
    std::thread::scope(|s| {
        let h = s.spawn(move || child.wait_with_output().expect("wait"));
        while !h.is_finished() {
            if start.elapsed() > limit {
                // Only the process we started, by its id.
                let _ = Command::new("kill").arg("-KILL").arg(id.to_string()).status();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        h.join().expect("join")
    })
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a responder (accepting both versions) and an initiator with `extra` arguments;
/// returns both outputs after checking their exit status.
fn pair(ports: (u16, u16), initiator_extra: &[&str], responder_extra: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let (ike, natt) = (ports.0.to_string(), ports.1.to_string());
    let common = ["--psk", "loopback-psk", "--ike-port", &ike, "--natt-port", &natt, "--events", "json"];
    let mut r_args = vec!["--role", "responder", "--local", "127.0.0.2", "--remote", "127.0.0.1"];
    r_args.extend(common);
    r_args.extend(["--tunnel-inner", "10.77.0.2,10.77.0.1", "--timeout", "15"]);
    r_args.extend(responder_extra);
    let responder = spawn(&r_args);
    std::thread::sleep(Duration::from_millis(300));
    let mut i_args = vec!["--role", "initiator", "--local", "127.0.0.1", "--remote", "127.0.0.2"];
    i_args.extend(common);
    i_args.extend(["--tunnel-inner", "10.77.0.1,10.77.0.2", "--ping", "3", "--timeout", "15"]);
    i_args.extend(initiator_extra);
    let i = wait(spawn(&i_args), Duration::from_secs(30));
    let r = wait(responder, Duration::from_secs(10));
    assert!(i.status.success(), "initiator:\n{}\nresponder:\n{}", show(&i), show(&r));
    assert!(r.status.success(), "responder:\n{}\ninitiator:\n{}", show(&r), show(&i));
    (events(&i), events(&r))
}

/// The checks every version shares: both sides up with mirrored SPIs, three echo replies
/// through ESP, our Delete seen by the responder.
fn check(i: &[Value], r: &[Value], version: u64, proposal: &str, transform: &str, initiator_id: &str) {
    for (side, peer_id) in [(i, "127.0.0.2"), (r, initiator_id)] {
        let up = find(side, "ike_up");
        assert_eq!(up["version"], version, "{up}");
        assert_eq!(up["proposal"], proposal, "{up}");
        assert_eq!(up["peer_id"], peer_id, "{up}");
        assert_eq!(up["floated"], true, "{up}");
        let child = find(side, "child_up");
        assert_eq!(child["transform"], transform, "{child}");
        assert_eq!(child["mode"], "tunnel", "{child}");
        assert_eq!(child["udp_encap"], true, "{child}");
        assert!(child["elapsed_ms"].as_u64().is_some_and(|ms| ms < 15_000), "{child}");
    }
    let (ci, cr) = (find(i, "child_up"), find(r, "child_up"));
    assert_eq!(ci["spi_in"], cr["spi_out"]);
    assert_eq!(ci["spi_out"], cr["spi_in"]);
    let replies: Vec<u64> =
        i.iter().filter(|e| e["event"] == "ping_reply").filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(replies, [1, 2, 3], "{i:#?}");
    let done = find(i, "ping_done");
    assert_eq!((done["sent"].as_u64(), done["received"].as_u64()), (Some(3), Some(3)));
    let ours = i.iter().find(|e| e["event"] == "deleted" && e["sa"] == "ike").expect("initiator deleted");
    assert_eq!(ours["by"], "local");
    assert_eq!((ours["esp_out"].as_u64(), ours["esp_in"].as_u64()), (Some(3), Some(3)), "{ours}");
    let theirs =
        r.iter().find(|e| e["event"] == "deleted" && e["sa"] == "ike").expect("responder saw the Delete");
    assert_eq!(theirs["by"], "peer");
    assert_eq!((theirs["esp_in"].as_u64(), theirs["esp_out"].as_u64()), (Some(3), Some(3)), "{theirs}");
    println!("{ci}\n{cr}\n{ours}");
}

#[test]
fn ikepeer_v1_main_mode_loopback() {
    let (i, r) = pair(
        (15510, 15511),
        &["--ike", "v1", "--proposal", "aes256-sha256-ecp256", "--esp", "aes256-sha256"],
        &[],
    );
    check(&i, &r, 1, "aes256-sha256-ecp256", "aes256-sha256", "127.0.0.1");
    assert_eq!(find(&i, "ike_up")["exchange"], "main");
}

#[test]
fn ikepeer_v1_aggressive_mode_pfs_loopback() {
    let (i, r) = pair(
        (15520, 15521),
        &["--ike", "v1", "--aggressive", "--id", "@client.loop", "--esp", "aes128gcm16-x25519"],
        &["--aggressive", "--esp", "aes128gcm16-x25519"],
    );
    check(&i, &r, 1, "aes128-sha1-modp2048", "aes128gcm16", "client.loop");
    assert_eq!(find(&i, "ike_up")["exchange"], "aggressive");
}

#[test]
fn ikepeer_v2_loopback() {
    let (i, r) = pair((15530, 15531), &["--ike", "v2", "--proposal", "aes128gcm16-prfsha256-x25519"], &[]);
    check(&i, &r, 2, "aes128gcm16-prfsha256-x25519", "aes128-sha256", "127.0.0.1");
}

/// The responder accepts IKEv2 only when told so, and refuses an IKEv1 initiator.
#[test]
fn ikepeer_responder_restricted_to_v2_ignores_v1() {
    let common =
        ["--psk", "p", "--ike-port", "15540", "--natt-port", "15541", "--events", "json", "--timeout", "2"];
    let mut r_args =
        vec!["--role", "responder", "--ike", "v2", "--local", "127.0.0.2", "--remote", "127.0.0.1"];
    r_args.extend(common);
    let responder = spawn(&r_args);
    std::thread::sleep(Duration::from_millis(300));
    let mut i_args =
        vec!["--role", "initiator", "--ike", "v1", "--local", "127.0.0.1", "--remote", "127.0.0.2"];
    i_args.extend(common);
    let i = wait(spawn(&i_args), Duration::from_secs(10));
    let r = wait(responder, Duration::from_secs(10));
    assert!(!i.status.success() && !r.status.success(), "{}\n{}", show(&i), show(&r));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--ike says otherwise"), "{}", show(&r));
    let ie = events(&i);
    assert!(ie.iter().all(|e| e["event"] != "ike_up"), "{ie:#?}");
    assert!(find(&ie, "error")["message"].as_str().is_some_and(|m| m.contains("no SA within")), "{ie:#?}");
}

/// A wrong PSK on one side: no SA, an error event, a failing exit status.
#[test]
fn ikepeer_wrong_psk_fails_cleanly() {
    let common = ["--ike-port", "15550", "--natt-port", "15551", "--events", "json", "--timeout", "4"];
    let mut r_args =
        vec!["--role", "responder", "--local", "127.0.0.2", "--remote", "127.0.0.1", "--psk", "right"];
    r_args.extend(common);
    let responder = spawn(&r_args);
    std::thread::sleep(Duration::from_millis(300));
    let mut i_args = vec![
        "--role",
        "initiator",
        "--ike",
        "v2",
        "--local",
        "127.0.0.1",
        "--remote",
        "127.0.0.2",
        "--psk",
        "wrong",
    ];
    i_args.extend(common);
    let i = wait(spawn(&i_args), Duration::from_secs(15));
    let r = wait(responder, Duration::from_secs(15));
    assert!(!i.status.success(), "{}", show(&i));
    assert!(!r.status.success(), "{}", show(&r));
    let ie = events(&i);
    assert!(ie.iter().all(|e| e["event"] != "child_up"), "{ie:#?}");
    println!("initiator: {}", find(&ie, "error"));
    println!("responder: {}", find(&events(&r), "error"));
}

/// Bad command lines are refused with a message naming the problem and status 2.
#[test]
fn ikepeer_rejects_bad_arguments() {
    for (args, needle) in [
        (
            vec![
                "--role",
                "initiator",
                "--local",
                "127.0.0.1",
                "--remote",
                "127.0.0.2",
                "--psk",
                "p",
                "--proposal",
                "aes128-sha1-modp2047",
            ],
            "\"modp2047\"",
        ),
        (
            vec![
                "--role",
                "initiator",
                "--local",
                "127.0.0.1",
                "--remote",
                "127.0.0.2",
                "--psk",
                "p",
                "--esp",
                "aes128-shaX",
            ],
            "\"shaX\"",
        ),
        (vec!["--role", "boss", "--local", "127.0.0.1", "--remote", "127.0.0.2", "--psk", "p"], "--role"),
        (
            vec![
                "--role",
                "initiator",
                "--local",
                "127.0.0.1",
                "--remote",
                "127.0.0.2",
                "--psk",
                "p",
                "--lifetime",
                "1",
            ],
            "too short",
        ),
        (
            vec![
                "--role",
                "initiator",
                "--ike",
                "v2",
                "--local",
                "127.0.0.1",
                "--remote",
                "127.0.0.2",
                "--psk",
                "p",
                "--lifetime-kb",
                "100",
            ],
            "IKEv1 option",
        ),
        (vec!["--role", "initiator", "--local", "127.0.0.1", "--remote", "127.0.0.2"], "--psk is required"),
    ] {
        let out = wait(spawn(&args), Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle) && err.contains("usage:"), "{args:?}: {err}");
    }
}

/// SIGINT on the responder: it sends its Delete and exits 0; the initiator learns of it
/// and exits 0 too (IKEv1: ESP and ISAKMP Deletes in informational exchanges).
#[test]
fn ikepeer_sigint_sends_deletes() {
    let common =
        ["--psk", "p", "--ike-port", "15560", "--natt-port", "15561", "--events", "json", "--timeout", "15"];
    let mut r_args = vec!["--role", "responder", "--local", "127.0.0.2", "--remote", "127.0.0.1"];
    r_args.extend(common);
    let responder = spawn(&r_args);
    std::thread::sleep(Duration::from_millis(300));
    let mut i_args =
        vec!["--role", "initiator", "--ike", "v1", "--local", "127.0.0.1", "--remote", "127.0.0.2"];
    i_args.extend(common);
    let initiator = spawn(&i_args);
    std::thread::sleep(Duration::from_millis(1500));
    // Only the process we started, by its id.
    let _ = Command::new("kill").arg("-INT").arg(responder.id().to_string()).status();
    let r = wait(responder, Duration::from_secs(10));
    let i = wait(initiator, Duration::from_secs(10));
    assert!(r.status.success(), "{}", show(&r));
    assert!(i.status.success(), "{}", show(&i));
    let (ie, re) = (events(&i), events(&r));
    find(&re, "child_up");
    let ours = re.iter().find(|e| e["event"] == "deleted" && e["sa"] == "ike").expect("responder deleted");
    assert_eq!(ours["by"], "local");
    let child =
        ie.iter().find(|e| e["event"] == "deleted" && e["sa"] == "child").expect("initiator: child deleted");
    assert_eq!(
        (child["by"].as_str(), child["spi_in"].as_str()),
        (Some("peer"), find(&ie, "child_up")["spi_in"].as_str())
    );
    let theirs =
        ie.iter().find(|e| e["event"] == "deleted" && e["sa"] == "ike").expect("initiator: IKE SA deleted");
    assert_eq!(theirs["by"], "peer");
}

/// Runs a pair with `pings` echo requests and the given extra arguments; returns both
/// sides' events after checking both exit 0.
fn rekey_pair(
    ports: (u16, u16),
    pings: u32,
    initiator_extra: &[&str],
    responder_extra: &[&str],
) -> (Vec<Value>, Vec<Value>) {
    let pings = pings.to_string();
    let mut i_extra = vec!["--ping", &pings, "--timeout", "40"];
    i_extra.extend(initiator_extra);
    let mut r_extra = vec!["--timeout", "40"];
    r_extra.extend(responder_extra);
    pair(ports, &i_extra, &r_extra)
}

fn named<'a>(events: &'a [Value], name: &str, kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name && (e["kind"] == kind || e["sa"] == kind)).collect()
}

/// The rekey checks: at least `children` Child SA and `ikes` IKE SA rekeys on both sides,
/// each one seen by both with mirrored SPIs, every old pair deleted and flagged as
/// replaced, every echo request answered, answers after the first rekey of each kind
/// (so traffic moved to the new SAs; the old ones are deleted by then), and the run ended by our Delete of the newest IKE
/// SA.
fn check_rekeys(i: &[Value], r: &[Value], pings: u64, children: usize, ikes: usize) {
    let (ic, rc) = (named(i, "rekeyed", "child"), named(r, "rekeyed", "child"));
    let (ii, ri) = (named(i, "rekeyed", "ike"), named(r, "rekeyed", "ike"));
    assert!(ic.len() >= children && ii.len() >= ikes, "initiator rekeys: {i:#?}");
    assert_eq!((ic.len(), ii.len()), (rc.len(), ri.len()), "both sides see every rekey:\n{i:#?}\n{r:#?}");
    for (a, b) in ic.iter().zip(&rc) {
        assert_eq!((&a["spi_in"], &a["spi_out"]), (&b["spi_out"], &b["spi_in"]), "{a} vs {b}");
        assert_eq!(
            (&a["old_spi_in"], &a["old_spi_out"]),
            (&b["old_spi_out"], &b["old_spi_in"]),
            "{a} vs {b}"
        );
        assert_ne!(a["spi_in"], a["old_spi_in"]);
    }
    for (a, b) in ii.iter().zip(&ri) {
        assert_eq!((&a["old_spi"], &a["spi"]), (&b["old_spi"], &b["spi"]), "{a} vs {b}");
        assert_ne!(a["spi"], a["old_spi"]);
    }
    // The Child SA chain: child_up, then each rekey replaces the previous one.
    let mut current = find(i, "child_up")["spi_in"].clone();
    for rk in &ic {
        assert_eq!(rk["old_spi_in"], current, "rekey of the SA in use: {rk}");
        current = rk["spi_in"].clone();
    }
    // Every replaced SA is deleted, on both sides, and flagged so.
    for (side, rekeys) in [(i, &ic), (r, &rc)] {
        for rk in rekeys {
            let gone = side
                .iter()
                .find(|e| e["event"] == "deleted" && e["sa"] == "child" && e["spi_in"] == rk["old_spi_in"])
                .unwrap_or_else(|| panic!("old pair of {rk} not deleted: {side:#?}"));
            assert_eq!(gone["replaced"], true, "{gone}");
        }
    }
    for rk in &ii {
        let gone = i
            .iter()
            .find(|e| e["event"] == "deleted" && e["sa"] == "ike" && e["spi"] == rk["old_spi"])
            .unwrap_or_else(|| panic!("old IKE SA of {rk} not deleted: {i:#?}"));
        assert_eq!(gone["replaced"], true, "{gone}");
    }
    let replies: Vec<u64> =
        i.iter().filter(|e| e["event"] == "ping_reply").filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(replies, (1..=pings).collect::<Vec<_>>(), "{i:#?}");
    let position = |e: &Value| i.iter().position(|x| std::ptr::eq(x, e)).unwrap();
    let last_reply = i.iter().rposition(|e| e["event"] == "ping_reply").unwrap();
    for first in [ic.first(), ii.first()].into_iter().flatten() {
        assert!(position(first) < last_reply, "no echo reply after {first}");
    }
    let unreplaced = |side: &[Value]| -> Value {
        let ends: Vec<&Value> = side
            .iter()
            .filter(|e| e["event"] == "deleted" && e["sa"] == "ike" && e["replaced"] == false)
            .collect();
        assert_eq!(ends.len(), 1, "one IKE SA not replaced by a rekey: {side:#?}");
        ends[0].clone()
    };
    let end = unreplaced(i);
    assert_eq!((end["by"].as_str(), end["replaced"].as_bool()), (Some("local"), Some(false)), "{end}");
    assert_eq!(end["esp_in"].as_u64(), Some(pings), "{end}");
    assert_eq!(unreplaced(r)["by"], "peer");
    println!(
        "{} child and {} IKE SA rekeys, {pings} echo replies\n{}\n{}",
        ic.len(),
        ii.len(),
        ic.last().unwrap(),
        ii.last().unwrap()
    );
}

/// IKEv1 with a 4 s ESP and a 7 s ISAKMP lifetime on both sides for 13 s: Quick Mode
/// rekeys (at about 3.5 s, 7 s, 10.5 s) and phase-1 rekeys, old SAs deleted, the pings
/// answered throughout.
#[test]
fn ikepeer_v1_rekeys_both_phases_loopback() {
    let life = ["--lifetime", "4", "--ike-lifetime", "7"];
    // The initiator keeps a key log: it must follow every rekey.
    let ws = std::env::temp_dir().join(format!("ikepeer-v1-rekey-keylog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ws);
    let keylog = ["--keylog", ws.to_str().unwrap()];
    let (i, r) = rekey_pair((15570, 15571), 13, &[&["--ike", "v1"][..], &life, &keylog].concat(), &life);
    check_rekeys(&i, &r, 13, 3, 1);
    // One ISAKMP line per SA (the first and each rekey), named by its CKY-I, and both
    // ESP SAs of every pair.
    let read = |name: &str| std::fs::read_to_string(ws.join(name)).unwrap_or_default();
    let ikev1 = read("ikev1_decryption_table");
    let esp = read("esp_sa");
    let _ = std::fs::remove_dir_all(&ws);
    let lines: Vec<&str> = ikev1.lines().filter(|l| !l.starts_with('#')).collect();
    let mut sas = vec![find(&i, "ike_up")["spi"].as_str().unwrap().to_owned()];
    sas.extend(named(&i, "rekeyed", "ike").iter().map(|e| e["spi"].as_str().unwrap().to_owned()));
    assert_eq!(lines.len(), sas.len(), "{ikev1}\n{sas:?}");
    for (line, sa) in lines.iter().zip(&sas) {
        assert_eq!(line.split(',').next(), Some(&sa[..16]), "{line} for {sa}");
    }
    let mut spis = vec![find(&i, "child_up")["spi_in"].as_str().unwrap().to_owned()];
    spis.extend(named(&i, "rekeyed", "child").iter().map(|e| e["spi_in"].as_str().unwrap().to_owned()));
    for spi in &spis {
        assert!(esp.contains(&format!("0x{spi}")), "ESP key line for {spi}:\n{esp}");
    }
}

/// IKEv2 with the same lifetimes: CREATE_CHILD_SA rekeys of the Child SA and the IKE SA.
#[test]
fn ikepeer_v2_rekeys_child_and_ike_sa_loopback() {
    let life = ["--lifetime", "4", "--ike-lifetime", "7"];
    let (i, r) = rekey_pair((15580, 15581), 13, &[&["--ike", "v2"][..], &life].concat(), &life);
    check_rekeys(&i, &r, 13, 3, 1);
}

/// IKEv2 where only the responder has short lifetimes: it starts every rekey, the
/// initiator answers them, and the traffic follows.
#[test]
fn ikepeer_v2_responder_rekeys_loopback() {
    let (i, r) = rekey_pair((15600, 15601), 9, &["--ike", "v2"], &["--lifetime", "3", "--ike-lifetime", "5"]);
    check_rekeys(&i, &r, 9, 2, 1);
}

/// IKEv1 with a 1-kilobyte ESP lifetime (`--lifetime-kb 1`, the responder adopting the
/// initiator's offer): the echo traffic itself wears the pair out within a few seconds,
/// and a Quick Mode rekey replaces it while the pings go on.
#[test]
fn ikepeer_v1_kilobyte_lifetime_rekeys_loopback() {
    let (i, r) = rekey_pair((15610, 15611), 9, &["--ike", "v1", "--lifetime-kb", "1"], &[]);
    let rekeys = named(&i, "rekeyed", "child");
    assert!(!rekeys.is_empty() && !named(&r, "rekeyed", "child").is_empty(), "{i:#?}\n{r:#?}");
    assert_eq!(rekeys[0]["old_spi_in"], find(&i, "child_up")["spi_in"], "{}", rekeys[0]);
    let replies: Vec<u64> =
        i.iter().filter(|e| e["event"] == "ping_reply").filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(replies, (1..=9).collect::<Vec<_>>(), "{i:#?}");
    let first = i.iter().position(|e| e["event"] == "rekeyed").unwrap();
    let last_reply = i.iter().rposition(|e| e["event"] == "ping_reply").unwrap();
    assert!(first < last_reply, "no echo reply after the volume rekey: {i:#?}");
    println!("{}", rekeys[0]);
}

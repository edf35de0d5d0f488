//! The TUN packet sink on both ends, in two network namespaces this test creates (joined by
//! a veth pair): the example server (`--tun`) routes its pool into its device, the example
//! client (`--tun`) puts the assigned address on its device, and the kernel of the client's
//! namespace pings the server's tunnel address through both devices and the ESP tunnel.
//! Needs root, `ip` and `ping`; CI runs it as root. `cargo test` builds the examples
//! first; with `--test tun_netns` alone run `cargo build --examples` before it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(|d| d.parent()).unwrap().join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples first (`cargo test -p l2sec` builds them, or `cargo build --examples`)",
        path.display()
    );
    path
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip (iproute2)");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// The namespaces and the processes in them; removed on drop, pass or fail.
struct Lab {
    server_ns: String,
    client_ns: String,
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "delete", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn in_ns(ns: &str, program: &PathBuf, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(program).args(args);
    c
}

#[test]
#[ignore = "needs root and ip netns; run by .ci/run with --ignored"]
fn kernel_pings_through_both_tun_devices() {
    let id = std::process::id() % 100_000;
    let mut lab = Lab {
        server_ns: format!("l2gs{id}"),
        client_ns: format!("l2gc{id}"),
        children: Vec::new(),
        dir: std::env::temp_dir().join(format!("l2sec-tun-{id}")),
    };
    std::fs::create_dir_all(&lab.dir).unwrap();
    let (s, c) = (lab.server_ns.clone(), lab.client_ns.clone());
    let (vs, vc) = (format!("l2gvs{id}"), format!("l2gvc{id}"));
    ip(&["netns", "add", &s]);
    ip(&["netns", "add", &c]);
    ip(&["link", "add", &vs, "type", "veth", "peer", "name", &vc]);
    ip(&["link", "set", &vs, "netns", &s]);
    ip(&["link", "set", &vc, "netns", &c]);
    ip(&["-n", &s, "addr", "add", "10.231.0.1/24", "dev", &vs]);
    ip(&["-n", &c, "addr", "add", "10.231.0.2/24", "dev", &vc]);
    for (ns, dev) in [(&s, &vs), (&c, &vc)] {
        ip(&["-n", ns, "link", "set", dev, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    let users = lab.dir.join("users");
    std::fs::write(&users, "tunuser * tunpass *\n").unwrap();
    let server = in_ns(
        &s,
        &example("server"),
        &[
            "--listen",
            "10.231.0.1",
            "--psk",
            "tun psk",
            "--users",
            users.to_str().unwrap(),
            "--pool",
            "10.232.0.0/24",
            "--tun",
            "l2tun0",
            "--events",
            "json",
        ],
    )
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    lab.children.push(server);
    std::thread::sleep(Duration::from_millis(500));
    let mut client = in_ns(
        &c,
        &example("client"),
        &[
            "--server",
            "10.231.0.1",
            "--psk",
            "tun psk",
            "--user",
            "tunuser",
            "--password",
            "tunpass",
            "--tun",
            "l2tun1",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let out = client.stdout.take().unwrap();
    lab.children.push(client);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let up = rx.recv_timeout(Duration::from_secs(20)).expect("the client did not bring the tunnel up");
    assert!(up.starts_with("tunnel up: address 10.232.0."), "{up}");
    // The client's device has the address, with the server's tunnel address as peer.
    let addr = Command::new("ip").args(["-n", &c, "-4", "addr", "show", "dev", "l2tun1"]).output().unwrap();
    let addr = String::from_utf8_lossy(&addr.stdout).into_owned();
    assert!(addr.contains("peer 10.232.0.1"), "{addr}");
    let start = Instant::now();
    let ping = Command::new("ip")
        .args(["netns", "exec", &c, "ping", "-c", "3", "-i", "0.3", "-W", "2", "10.232.0.1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ping.stdout);
    assert!(ping.status.success(), "ping through the tunnel failed:\n{text}");
    assert!(text.contains("3 received"), "{text}");
    // A packet as large as the tunnel MTU allows, with DF: no fragmentation needed.
    let mtu_out = Command::new("ip").args(["-n", &c, "link", "show", "dev", "l2tun1"]).output().unwrap();
    let mtu_text = String::from_utf8_lossy(&mtu_out.stdout).into_owned();
    let mtu: u32 = mtu_text.split("mtu ").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
    assert!((576..=1500).contains(&mtu) && mtu < 1500, "tunnel MTU {mtu} should be below the outer 1500");
    let size = (mtu - 28).to_string();
    let big = Command::new("ip")
        .args([
            "netns",
            "exec",
            &c,
            "ping",
            "-c",
            "2",
            "-i",
            "0.3",
            "-W",
            "2",
            "-M",
            "do",
            "-s",
            &size,
            "10.232.0.1",
        ])
        .output()
        .unwrap();
    assert!(big.status.success(), "a {mtu}-byte ping failed:\n{}", String::from_utf8_lossy(&big.stdout));
    assert!(start.elapsed() < Duration::from_secs(15));
}

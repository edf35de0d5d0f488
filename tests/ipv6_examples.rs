//! IPv6 from the command line: the `server` example with `ipv6 = true` in its config file
//! and the `client` example with `--ipv6` open IPV6CP besides IPCP; the client reports
//! both link-local addresses in an `ipv6cp_up` event and still pings over IPv4.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An example's binary, next to this test's (`target/<profile>/examples/NAME`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "{} is missing: `cargo test -p l2sec` builds the examples", path.display());
    path
}

/// Two adjacent free UDP ports on 127.0.0.1 (IKE, NAT-T).
fn free_ports() -> (u16, u16) {
    for _ in 0..100 {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < u16::MAX && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok() {
            return (port, port + 1);
        }
    }
    panic!("no two adjacent free UDP ports on 127.0.0.1");
}

/// Runs the client example against a server example started with `server_ipv6`; returns
/// the client's exit success and its JSON event lines.
fn session(server_ipv6: bool) -> (bool, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("l2sec-ipv6-ex-{}-{server_ipv6}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ike, natt) = free_ports();
    std::fs::write(dir.join("users"), "alice * alicepass *\n").unwrap();
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1\"\nike-port = {ike}\nnatt-port = {natt}\npsk = \"ipv6 psk\"\n\
             users = \"{}\"\nipv6 = {server_ipv6}\n",
            dir.join("users").display()
        ),
    )
    .unwrap();
    let mut server = Command::new(example("server"))
        .args(["--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Give the server a moment to bind; the client retransmits IKE anyway.
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let mut client = Command::new(example("client"))
        .args(["--server", &format!("127.0.0.1:{ike}"), "--natt-port", &natt.to_string()])
        .args(["--psk", "ipv6 psk", "--user", "alice", "--password", "alicepass", "--ipv6"])
        .args(["--ping", "peer", "--count", "2", "--events", "json", "--timeout", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> =
        BufReader::new(client.stdout.take().unwrap()).lines().map_while(Result::ok).collect();
    let status = client.wait().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(start.elapsed() < Duration::from_secs(40), "the client took {:?}", start.elapsed());
    (status.success(), lines)
}

#[test]
fn ipv6_from_the_command_line_opens_ipv6cp_next_to_ipcp() {
    let (ok, lines) = session(true);
    assert!(ok, "client failed: {lines:#?}");
    let up = lines.iter().find(|l| l.contains(r#""event":"ipv6cp_up""#)).unwrap_or_else(|| {
        panic!("no ipv6cp_up event: {lines:#?}");
    });
    // Both ends are link-local (fe80::/64 with the negotiated interface identifiers).
    assert_eq!(up.matches(r#":"fe80::"#).count(), 2, "{up}");
    assert!(lines.iter().any(|l| l.contains(r#""event":"ipcp_up""#)), "{lines:#?}");
}

#[test]
fn without_the_servers_ipv6_the_session_is_ipv4_only() {
    let (ok, lines) = session(false);
    assert!(ok, "client failed: {lines:#?}");
    assert!(lines.iter().any(|l| l.contains(r#""event":"ipcp_up""#)), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("ipv6cp_up")), "{lines:#?}");
}

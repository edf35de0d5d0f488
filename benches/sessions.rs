//! Sessions established per second and the server's memory per established session, over
//! real UDP sockets on 127.0.0.1: N l2sec clients (IKEv1 PSK with NAT-T, ESP, L2TP, PPP
//! MS-CHAPv2) brought up at once against one l2sec server.
//!
//! The server runs in a child process (this binary again, with `L2SEC_BENCH_SERVER=1`) so
//! that its resident set (VmRSS in /proc/PID/status) counts the server's state alone:
//! memory per session = RSS growth while the N sessions come up, divided by N. Sockets'
//! kernel buffers are not in it. `cargo bench -p l2sec --bench sessions [N]` (N = 200).
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use l2sec::client::ClientEvent;
use l2sec::driver::{ClientConnection, ClientRun, Server, ServerConfig};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

const PSK: &[u8] = b"bench psk";

/// The child: a server on ephemeral ports, printed on stdout; runs until stdin closes.
fn serve() {
    let users = ChapSecrets::parse("bench * benchpass *\n").unwrap();
    let pool = AddressPool::parse_cidr("10.64.0.0/16").unwrap().unwrap();
    let config = ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, PSK, users, pool, [None, None]);
    let mut server = Server::bind(config).unwrap();
    let (ike, natt) = server.local_addrs().unwrap();
    println!("{} {}", ike.port(), natt.port());
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            stop.store(true, Ordering::Relaxed);
        });
    }
    server.run(&stop, |_| {}).unwrap();
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    if std::env::var_os("L2SEC_BENCH_SERVER").is_some() {
        serve();
        return;
    }
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("L2SEC_BENCH_SERVER", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ports: Vec<u16> = line.split_whitespace().map(|p| p.parse().unwrap()).collect();
    let run = ClientRun {
        server: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), ports[0]),
        natt_port: ports[1],
        psk: PSK.to_vec(),
        user: "bench".into(),
        password: "benchpass".into(),
        ping: None,
        timeout: Duration::from_secs(60),
    };
    // One session first, so that one-time growth (buffers, tables) is not counted per session.
    let mut warm = ClientConnection::start(&run).unwrap();
    while warm.address().is_none() {
        if !warm.step(&mut |_: &ClientEvent| {}).unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let before = vm_rss_kib(child.id());
    let start = Instant::now();
    let mut clients: Vec<ClientConnection> = (0..n).map(|_| ClientConnection::start(&run).unwrap()).collect();
    let mut up = 0;
    while up < n && start.elapsed() < Duration::from_secs(120) {
        let mut busy = false;
        for c in &mut clients {
            busy |= c.step(&mut |_: &ClientEvent| {}).unwrap();
        }
        up = clients.iter().filter(|c| c.address().is_some()).count();
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let elapsed = start.elapsed();
    // Let the server settle (last acknowledgements) before reading its memory.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(300) {
        for c in &mut clients {
            let _ = c.step(&mut |_: &ClientEvent| {});
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let after = vm_rss_kib(child.id());
    drop(child.stdin.take());
    let _ = child.wait();
    println!("sessions: {up} of {n} established at once in {:.2} s", elapsed.as_secs_f64());
    println!("sessions established per second: {:.1}", up as f64 / elapsed.as_secs_f64());
    println!(
        "server memory per established session (VmRSS growth {before} -> {after} KiB): {:.1} KiB",
        after.saturating_sub(before) as f64 / up.max(1) as f64
    );
    assert_eq!(up, n, "not every session came up");
}

//! Sessions established per second and memory per established session, over real UDP
//! sockets on 127.0.0.1: one l2sec server (in a thread) and N l2sec clients (IKEv1 PSK with
//! NAT-T, ESP, L2TP, PPP MS-CHAPv2) brought up at once from this process.
//!
//! Memory is the growth of this process's resident set (from /proc/self/statm) while the
//! sessions come up, divided by their number: it counts the server's and the client's
//! state of each session (sockets' kernel buffers excluded), so it is an upper bound for
//! the server alone. `cargo bench -p l2sec --bench sessions [N]` (N = 200 by default).
#![allow(clippy::print_stdout)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use l2sec::client::ClientEvent;
use l2sec::driver::{ClientConnection, ClientRun, Server, ServerConfig};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200);
    let users = ChapSecrets::parse("bench * benchpass *\n").unwrap();
    let pool = AddressPool::parse_cidr("10.64.0.0/16").unwrap().unwrap();
    let config =
        ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, b"bench psk", users, pool, [None, None]);
    let mut server = Server::bind(config).unwrap();
    let (ike, natt) = server.local_addrs().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::spawn(move || server.run(&stop, |_| {}))
    };
    let run = ClientRun {
        server: ike,
        natt_port: natt.port(),
        psk: b"bench psk".to_vec(),
        user: "bench".into(),
        password: "benchpass".into(),
        ping: None,
        timeout: Duration::from_secs(60),
    };
    let before = rss_bytes();
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
    let after = rss_bytes();
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap().unwrap();
    println!("sessions: {up} of {n} established in {:.2} s", elapsed.as_secs_f64());
    println!("sessions established per second: {:.1}", up as f64 / elapsed.as_secs_f64());
    println!(
        "memory per established session (server + client state, RSS growth): {:.1} KiB",
        after.saturating_sub(before) as f64 / 1024.0 / up.max(1) as f64
    );
    assert_eq!(up, n, "not every session came up");
}

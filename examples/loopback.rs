//! An L2TP/IPsec server and client in one process over real UDP sockets on 127.0.0.1:
//! prints each layer as it comes up, then pushes UDP through the tunnel to the server's
//! echo service and prints the throughput.
//!
//! `cargo run --release --example loopback [-- [--ike v1|v2] SECONDS [PAYLOAD_BYTES]]`
//! (`--ike v2`: the client speaks IKEv2 to the same server; IKEv1 by default)
//!
//! Every packet crosses the whole stack twice (client PPP, L2TP, UDP, ESP, UDP/4500 and
//! back through the server's, then the echo the same way back), in user space at both ends.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use l2sec::client::udp_packet;
use l2sec::driver::{ClientConnection, ClientRun, Server, ServerConfig};
use l2sec::pool::AddressPool;
use l2sec::virtual_net::UDP_ECHO_PORT;
use l2sec_ppp::secrets::ChapSecrets;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let mut version = l2sec::client::IkeVersion::V1;
    if args.peek().is_some_and(|a| a == "--ike") {
        args.next();
        version = args.next().ok_or("--ike needs v1 or v2")?.parse()?;
    }
    let seconds: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2.0);
    let payload: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1200);
    let psk = b"loopback demo psk";

    let users = ChapSecrets::parse("demo * demopass *\n")?;
    let pool = AddressPool::parse_cidr("198.51.100.0/24").ok_or("pool")??;
    let config = ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, psk, users, pool, [None, None]);
    let mut server = Server::bind(config)?;
    let (ike, natt) = server.local_addrs()?;
    println!("server: IKE {ike}, NAT-T {natt}");
    let stop = Arc::new(AtomicBool::new(false));
    let server_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            server.run(&stop, |e| match e {
                l2sec::driver::ServerEvent::Error(m) => eprintln!("server warning: {m}"),
                other => println!("server: {other:?}"),
            })
        })
    };

    let run = ClientRun {
        server: ike,
        natt_port: natt.port(),
        psk: psk.to_vec(),
        user: "demo".into(),
        password: "demopass".into(),
        ping: None,
        timeout: Duration::from_secs(20),
    };
    let start = Instant::now();
    println!("client: IKE{version}");
    let mut client = ClientConnection::start_ike(&run, version)?;
    let mut print = |e: &l2sec::client::ClientEvent| println!("client: {e:?}");
    while client.address().is_none() {
        if start.elapsed() > run.timeout {
            return Err("the tunnel did not come up".into());
        }
        if let Some(f) = client.failure() {
            return Err(f.to_owned().into());
        }
        if !client.step(&mut print)? {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let (me, server_ip) = (client.address().ok_or("address")?, client.peer().ok_or("peer")?);
    println!("tunnel up in {:.1} ms: {me} <-> {server_ip}", start.elapsed().as_secs_f64() * 1e3);

    // UDP echo through the tunnel, with a window of packets in flight.
    let data = vec![0x5a; payload];
    let packet = udp_packet(me, server_ip, 40_000, UDP_ECHO_PORT, &data);
    let (mut sent, mut received) = (0u64, 0u64);
    let window = 32;
    let t0 = Instant::now();
    let budget = Duration::from_secs_f64(seconds);
    while t0.elapsed() < budget {
        while sent - received < window {
            client.send_ip(&packet)?;
            sent += 1;
        }
        let busy = client.step(&mut |_| {})?;
        while let Some(p) = client.poll_ip() {
            if p.len() == packet.len() && p[9] == 17 {
                received += 1;
            }
        }
        if !busy {
            std::thread::yield_now();
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{received} echoes of {payload} bytes in {secs:.2} s: {:.0} packets/s each way, {:.1} Mbit/s of payload each way \
         ({} sent, {} lost or in flight)",
        received as f64 / secs,
        received as f64 * payload as f64 * 8.0 / secs / 1e6,
        sent,
        sent - received
    );
    stop.store(true, Ordering::Relaxed);
    server_thread.join().map_err(|_| "server thread panicked")??;
    Ok(())
}

//! The MRU PPP negotiates over real sockets fits the outer path: with the default outer
//! MTU of 1500 and AES-128-CBC + HMAC-SHA1-96 (the first proposal), both ends offer 1394;
//! a 1394-byte ping goes through and comes back in UDP datagrams no larger than
//! 1500 - 20 (IPv4) - 8 (UDP) = 1472 bytes, measured by a relay between the two.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use l2sec::client::{ClientEvent, icmp_echo_request};
use l2sec::driver::{ClientConnection, ClientRun, Server, ServerConfig};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

/// Relays between the client and `server`, recording the largest datagram either way.
fn relay(server: SocketAddr, stop: Arc<AtomicBool>, largest: Arc<AtomicUsize>) -> SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0").unwrap();
    let back = UdpSocket::bind("127.0.0.1:0").unwrap();
    front.set_nonblocking(true).unwrap();
    back.set_nonblocking(true).unwrap();
    let addr = front.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut client = None;
        let mut buf = [0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            let mut busy = false;
            if let Ok((n, from)) = front.recv_from(&mut buf) {
                busy = true;
                client = Some(from);
                largest.fetch_max(n, Ordering::Relaxed);
                let _ = back.send_to(&buf[..n], server);
            }
            if let (Ok((n, _)), Some(c)) = (back.recv_from(&mut buf), client) {
                busy = true;
                largest.fetch_max(n, Ordering::Relaxed);
                let _ = front.send_to(&buf[..n], c);
            }
            if !busy {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    addr
}

#[test]
fn the_negotiated_mru_fits_a_1500_byte_path() {
    let users = ChapSecrets::parse("mia * miapass *\n").unwrap();
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    let config =
        ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, b"mtu psk", users, pool, [None, None]);
    assert_eq!(config.outer_mtu, Some(1500));
    let mut server = Server::bind(config).unwrap();
    let (ike, natt) = server.local_addrs().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::spawn(move || server.run(&stop, |_| {}))
    };
    let largest = Arc::new(AtomicUsize::new(0));
    let ike_relay = relay(ike, stop.clone(), largest.clone());
    let natt_relay = relay(natt, stop.clone(), largest.clone());
    let run = ClientRun {
        server: ike_relay,
        natt_port: natt_relay.port(),
        psk: b"mtu psk".to_vec(),
        user: "mia".into(),
        password: "miapass".into(),
        ping: None,
        timeout: Duration::from_secs(10),
    };
    let mut c = ClientConnection::start(&run).unwrap();
    let start = Instant::now();
    while c.address().is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", c.failure());
        if !c.step(&mut |_: &ClientEvent| {}).unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Both MRUs are the path's: the tunnel MTU is 1394.
    assert_eq!(c.mtu(), 1394);
    let (me, peer) = (c.address().unwrap(), c.peer().unwrap());
    // The largest echo that fits (1394 - 28 bytes of data) goes through and comes back;
    // one byte more is refused by PPP before it leaves.
    let big = icmp_echo_request(me, peer, 0x1394, 1, &vec![0xa5; 1394 - 28]);
    assert_eq!(big.len(), 1394);
    c.send_ip(&big).unwrap();
    let too_big = icmp_echo_request(me, peer, 0x1394, 2, &vec![0xa5; 1394 - 27]);
    assert!(c.send_ip(&too_big).is_err(), "a 1395-byte packet exceeds the server's MRU");
    let start = Instant::now();
    let reply = loop {
        assert!(start.elapsed() < Duration::from_secs(5), "no reply to the 1394-byte ping");
        let busy = c.step(&mut |_: &ClientEvent| {}).unwrap();
        if let Some(p) = c.poll_ip() {
            break p;
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    assert_eq!(reply.len(), 1394);
    assert_eq!(reply[20], 0, "an echo reply");
    // A client on a smaller path (1400) offers 1298, and the tunnel MTU is the smaller MRU.
    let mut small = ClientConnection::start_with(&run, |config| config.outer_mtu = 1400).unwrap();
    let start = Instant::now();
    while small.address().is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", small.failure());
        if !small.step(&mut |_: &ClientEvent| {}).unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(small.mtu(), 1298);
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap().unwrap();
    let largest = largest.load(Ordering::Relaxed);
    assert!(largest <= 1472, "a {largest}-byte UDP payload would not fit a 1500-byte path");
    assert!(largest > 1400, "the big ping was carried ({largest} bytes)");
}

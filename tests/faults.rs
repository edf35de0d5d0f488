//! Faults over real UDP sockets on 127.0.0.1: a lossy, reordering, duplicating proxy; a
//! flood of garbage to every port; a client that vanishes; a server restart.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l2sec::client::{ClientEvent, icmp_echo_request};
use l2sec::driver::{ClientConnection, ClientRun, ClientSession, Server, ServerConfig, ServerEvent};
use l2sec::lns::DownCause;
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

const PSK: &[u8] = b"faults psk";

struct Running {
    stop: Arc<AtomicBool>,
    /// Set with `stop` for a crash: no polite shutdown.
    crash: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    ike: SocketAddr,
    natt: SocketAddr,
    events: Arc<Mutex<Vec<ServerEvent>>>,
}

impl Running {
    fn start(ike_port: u16, natt_port: u16, tune: impl FnOnce(&mut ServerConfig)) -> Self {
        let users = ChapSecrets::parse("carol * carolpass *\n").unwrap();
        let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
        let mut config = ServerConfig::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            ike_port,
            natt_port,
            PSK,
            users,
            pool,
            [None, None],
        );
        tune(&mut config);
        let mut server = Server::bind(config).unwrap();
        let (ike, natt) = server.local_addrs().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let crash = Arc::new(AtomicBool::new(false));
        let events = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, crash, events) = (stop.clone(), crash.clone(), events.clone());
            std::thread::spawn(move || {
                server.run(&stop, |e| events.lock().unwrap().push(e.clone()))?;
                if crash.load(Ordering::Relaxed) {
                    return Ok(());
                }
                server.shutdown(|e| events.lock().unwrap().push(e.clone()))
            })
        };
        Running { stop, crash, thread: Some(thread), ike, natt, events }
    }

    fn run(&self, server: SocketAddr, natt_port: u16) -> ClientRun {
        ClientRun {
            server,
            natt_port,
            psk: PSK.to_vec(),
            user: "carol".into(),
            password: "carolpass".into(),
            ping: None,
            timeout: Duration::from_secs(20),
        }
    }

    fn saw(&self, f: impl Fn(&ServerEvent) -> bool) -> bool {
        self.events.lock().unwrap().iter().any(f)
    }

    /// Ends the server as a crash would: sockets closed, nobody told.
    fn crash(&mut self) {
        self.crash.store(true, Ordering::Relaxed);
        self.stop();
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn up(run: &ClientRun, within: Duration) -> ClientConnection {
    let mut c = ClientConnection::start(run).unwrap();
    let start = Instant::now();
    while c.address().is_none() {
        assert!(start.elapsed() < within, "no tunnel within {within:?}: {:?}", c.failure());
        assert!(c.failure().is_none(), "{:?}", c.failure());
        if !c.step(&mut |_: &ClientEvent| {}).unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    c
}

/// Pings the server's tunnel address until `want` replies came back (a request every
/// 300 ms), or panics after `within`.
fn ping(c: &mut ClientConnection, want: u16, within: Duration) {
    let (me, server) = (c.address().unwrap(), c.peer().unwrap());
    let start = Instant::now();
    let mut next = Instant::now();
    let (mut seq, mut got) = (0u16, 0u16);
    while got < want {
        assert!(start.elapsed() < within, "{got} of {want} echo replies within {within:?}");
        if Instant::now() >= next {
            seq += 1;
            c.send_ip(&icmp_echo_request(me, server, 0x7777, seq, b"faults")).unwrap();
            next = Instant::now() + Duration::from_millis(300);
        }
        let busy = c.step(&mut |_: &ClientEvent| {}).unwrap();
        while let Some(p) = c.poll_ip() {
            if p.len() >= 28 && p[9] == 1 && p[20] == 0 && p[24..26] == [0x77, 0x77] {
                got += 1;
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A small deterministic generator (xorshift) for the proxy's and the flood's choices.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn percent(&mut self) -> u64 {
        self.next() % 100
    }
}

/// One direction-pair of the proxy: the client talks to `front`, which forwards to
/// `server` from `back`; answers go back to the client's last address. Each datagram is
/// dropped (5 %), duplicated (10 %) or held and sent after the next one (10 %).
fn proxy(
    server: SocketAddr,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> (SocketAddr, std::thread::JoinHandle<[u64; 3]>) {
    let front = UdpSocket::bind("127.0.0.1:0").unwrap();
    let back = UdpSocket::bind("127.0.0.1:0").unwrap();
    front.set_nonblocking(true).unwrap();
    back.set_nonblocking(true).unwrap();
    let addr = front.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let mut rng = XorShift(seed);
        let mut client = None;
        let mut held: [Option<Vec<u8>>; 2] = [None, None];
        let mut buf = [0u8; 65536];
        // Dropped, duplicated, reordered.
        let mut faults = [0u64; 3];
        while !stop.load(Ordering::Relaxed) {
            let mut busy = false;
            #[allow(clippy::needless_range_loop)] // `dir` also picks the sockets
            for dir in 0..2 {
                let got = if dir == 0 { front.recv_from(&mut buf) } else { back.recv_from(&mut buf) };
                let Ok((n, from)) = got else { continue };
                busy = true;
                if dir == 0 {
                    client = Some(from);
                }
                let send = |d: &[u8]| {
                    let _ = if dir == 0 {
                        back.send_to(d, server)
                    } else {
                        front.send_to(d, client.unwrap_or(from))
                    };
                };
                let roll = rng.percent();
                if roll < 5 {
                    faults[0] += 1;
                } else if roll < 15 {
                    faults[1] += 1;
                    send(&buf[..n]);
                    send(&buf[..n]);
                } else if roll < 25 && held[dir].is_none() {
                    faults[2] += 1;
                    held[dir] = Some(buf[..n].to_vec());
                    continue;
                } else {
                    send(&buf[..n]);
                }
                if let Some(h) = held[dir].take() {
                    send(&h);
                }
            }
            if !busy {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        faults
    });
    (addr, thread)
}

#[test]
fn a_lossy_reordering_duplicating_path_still_converges_and_pings() {
    let mut server = Running::start(0, 0, |_| {});
    let stop = Arc::new(AtomicBool::new(false));
    let (ike, t1) = proxy(server.ike, stop.clone(), 0x1234_5678_9abc_def1);
    let (natt, t2) = proxy(server.natt, stop.clone(), 0x0fed_cba9_8765_4321);
    let run = server.run(ike, natt.port());
    // PPP's restart timer is 3 s (RFC 1661 §4.6), so each lost PPP negotiation packet
    // costs 3 s: the tunnel comes up in 3 to 12 s.
    let mut c = up(&run, Duration::from_secs(16));
    ping(&mut c, 3, Duration::from_secs(8));
    stop.store(true, Ordering::Relaxed);
    let (f1, f2) = (t1.join().unwrap(), t2.join().unwrap());
    let faults = [f1[0] + f2[0], f1[1] + f2[1], f1[2] + f2[2]];
    assert!(faults.iter().all(|&n| n >= 1), "dropped, duplicated, reordered: {faults:?}");
    // No polite goodbye through a stopped proxy (it would only wait out its grace periods).
    server.crash();
}

#[test]
fn a_flood_of_garbage_to_every_port_does_not_disturb_established_sessions() {
    let server = Running::start(0, 0, |_| {});
    let run = server.run(server.ike, server.natt.port());
    let mut c = up(&run, Duration::from_secs(10));
    ping(&mut c, 1, Duration::from_secs(5));
    let spi = c.inbound_spi();
    let (ike, natt) = (server.ike, server.natt);
    let flood = std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut rng = XorShift(0x5eed);
        for i in 0..6000u32 {
            let len = (rng.next() % 300) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            match i % 4 {
                // ISAKMP-looking: a header with random cookies and exchange types.
                0 if d.len() >= 28 => d[17] = 0x10,
                // Non-ESP marker then junk (IKE on 4500).
                1 if d.len() >= 4 => d[..4].fill(0),
                // ESP-looking with a random SPI.
                2 if d.len() >= 8 => d[..4].copy_from_slice(&(rng.next() as u32 | 1).to_be_bytes()),
                _ => {}
            }
            let _ = s.send_to(&d, if i % 2 == 0 { ike } else { natt });
        }
    });
    // Traffic through the tunnel during the flood.
    ping(&mut c, 3, Duration::from_secs(10));
    flood.join().unwrap();
    ping(&mut c, 2, Duration::from_secs(5));
    assert!(c.failure().is_none(), "{:?}", c.failure());
    assert_eq!(c.inbound_spi(), spi, "the SA was not renegotiated");
    assert_eq!(
        server.events.lock().unwrap().iter().filter(|e| matches!(e, ServerEvent::IpcpUp { .. })).count(),
        1
    );
    assert!(!server.saw(|e| matches!(e, ServerEvent::SessionDown { .. } | ServerEvent::IkeDown { .. })));
}

#[test]
fn a_vanished_client_is_detected_and_its_address_returns_to_the_pool() {
    let server = Running::start(0, 0, |c| {
        c.dpd = l2sec_ike::v1::dpd::DpdConfig {
            idle: Duration::from_millis(800),
            retransmit_timeout: Duration::from_millis(400),
            max_retransmits: 2,
        };
    });
    let run = server.run(server.ike, server.natt.port());
    let c = up(&run, Duration::from_secs(10));
    let address = c.address().unwrap();
    // Vanish: the sockets close without a word.
    drop(c);
    let start = Instant::now();
    while !server.saw(|e| matches!(e, ServerEvent::SessionDown { address: Some(a), cause: DownCause::LostService } if *a == address)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not detected: {:?}",
            server.events.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.saw(|e| matches!(e, ServerEvent::IkeDown { dead: true, .. })), "DPD declared it dead");
    // The address is free again: the next client (lowest free address first) gets it.
    let c2 = up(&run, Duration::from_secs(10));
    assert_eq!(c2.address(), Some(address));
}

#[test]
fn a_server_crash_and_restart_makes_the_client_reconnect_through_dpd() {
    let mut first = Running::start(0, 0, |_| {});
    let (ike, natt) = (first.ike, first.natt);
    let run = first.run(ike, natt.port());
    let stop = Arc::new(AtomicBool::new(false));
    // The client's key log keeps the SAs of both connections.
    let keylog = std::env::temp_dir().join(format!("l2sec-faults-keylog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&keylog);
    let mut options = l2sec::driver::ClientOptions::default();
    options.keylog = Some(keylog.clone());
    let client = {
        let (run, stop) = (run.clone(), stop.clone());
        std::thread::spawn(move || {
            let dpd = l2sec_ike::v1::dpd::DpdConfig {
                idle: Duration::from_millis(500),
                retransmit_timeout: Duration::from_millis(300),
                max_retransmits: 2,
            };
            ClientSession {
                run: &run,
                stop: &stop,
                reconnect: true,
                sink: None,
                dpd: Some(dpd),
                outer_mtu: None,
                ike: l2sec::client::IkeVersion::V1,
                options,
            }
            .run(|_: &ClientEvent| {})
        })
    };
    let wait = |r: &Running, what: &str| {
        let start = Instant::now();
        while !r.saw(|e| matches!(e, ServerEvent::IpcpUp { .. })) {
            assert!(start.elapsed() < Duration::from_secs(15), "{what}: {:?}", r.events.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait(&first, "first connection");
    // The server dies without a word and a fresh one (no memory of the client) takes its
    // ports: only the client's Dead Peer Detection can notice.
    first.crash();
    let second = Running::start(ike.port(), natt.port(), |_| {});
    wait(&second, "the client did not reconnect");
    // The server's IPCP opens a moment before the client's (its last Configure-Ack is on
    // the way): let the client see it before stopping it.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let report = client.join().unwrap().unwrap();
    assert_eq!(report.connections, 2, "{report:?}");
    let lines = |name: &str| {
        let text = std::fs::read_to_string(keylog.join(name)).unwrap();
        text.lines()
            .filter(|l| l.starts_with('"') || l.chars().next().is_some_and(|c| c.is_ascii_hexdigit()))
            .count()
    };
    assert_eq!((lines("ikev1_decryption_table"), lines("esp_sa")), (2, 4), "both connections' SAs");
    std::fs::remove_dir_all(&keylog).ok();
}

#[test]
fn a_server_restart_makes_the_client_reconnect() {
    let mut first = Running::start(0, 0, |_| {});
    let (ike, natt) = (first.ike, first.natt);
    let run = first.run(ike, natt.port());
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (run, stop) = (run.clone(), stop.clone());
        std::thread::spawn(move || {
            ClientSession {
                run: &run,
                stop: &stop,
                reconnect: true,
                sink: None,
                dpd: None,
                outer_mtu: None,
                ike: l2sec::client::IkeVersion::V1,
                options: Default::default(),
            }
            .run(|_: &ClientEvent| {})
        })
    };
    let wait = |r: &Running, what: &str| {
        let start = Instant::now();
        while !r.saw(|e| matches!(e, ServerEvent::IpcpUp { .. })) {
            assert!(start.elapsed() < Duration::from_secs(15), "{what}: {:?}", r.events.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait(&first, "first connection");
    // Restart: the server hangs up (Deletes) and a new one binds the same ports.
    first.stop();
    let second = Running::start(ike.port(), natt.port(), |_| {});
    wait(&second, "the client did not reconnect");
    // The server's IPCP opens a moment before the client's (its last Configure-Ack is on
    // the way): let the client see it before stopping it.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let report = client.join().unwrap().unwrap();
    assert_eq!(report.connections, 2, "{report:?}");
    assert!(report.last.address.is_some());
}

//! The l2sec client against the l2sec server over real UDP sockets on 127.0.0.1: IKEv1
//! PSK with NAT-T, ESP transport mode in UDP, L2TP, PPP MS-CHAPv2, and pings through the
//! tunnel to the server's virtual network; a wrong password or PSK gets nowhere.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use l2sec::driver::{ClientRun, Server, ServerConfig, run_client};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    ike: SocketAddr,
    natt_port: u16,
    events: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(psk: &[u8]) -> Self {
        let users = ChapSecrets::parse("alice * alicepass *\n").unwrap();
        let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
        let config = ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, psk, users, pool, [None, None]);
        let mut server = Server::bind(config).unwrap();
        let (ike, natt) = server.local_addrs().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, events) = (stop.clone(), events.clone());
            std::thread::spawn(move || server.run(&stop, |e| events.lock().unwrap().push(e.to_json())))
        };
        Running { stop, thread: Some(thread), ike, natt_port: natt.port(), events }
    }

    fn client(&self, psk: &[u8], password: &str) -> ClientRun {
        ClientRun {
            server: self.ike,
            natt_port: self.natt_port,
            psk: psk.to_vec(),
            user: "alice".into(),
            password: password.into(),
            ping: Some((None, 3)),
            timeout: Duration::from_secs(20),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap().unwrap();
        }
    }
}

#[test]
fn l2sec_client_connects_to_l2sec_server_and_pings() {
    let server = Running::start(b"loopback psk");
    let mut seen = Vec::new();
    let report =
        run_client(&server.client(b"loopback psk", "alicepass"), |e| seen.push(format!("{e:?}"))).unwrap();
    assert_eq!(report.address, Some(Ipv4Addr::new(198, 51, 100, 2)), "client events: {seen:?}");
    assert_eq!(report.peer, Some(Ipv4Addr::new(198, 51, 100, 1)));
    assert_eq!((report.pings_sent, report.pings_received), (3, 3));
    let events = server.events.lock().unwrap().join("\n");
    for e in ["ike_up", "esp_up", "ppp_auth_ok", "ipcp_up"] {
        assert!(events.contains(&format!("\"event\":\"{e}\"")), "missing {e} in\n{events}");
    }
}

#[test]
fn a_wrong_password_or_psk_gets_no_address() {
    let server = Running::start(b"loopback psk");
    let mut run = server.client(b"loopback psk", "wrong");
    run.timeout = Duration::from_secs(8);
    let report = run_client(&run, |_| {});
    assert!(report.map_or(true, |r| r.address.is_none()), "a wrong password must not get an address");
    let mut run = server.client(b"another psk", "alicepass");
    run.timeout = Duration::from_secs(5);
    let report = run_client(&run, |_| {});
    assert!(report.map_or(true, |r| r.address.is_none()), "a wrong PSK must not get an address");
    let events = server.events.lock().unwrap().join("\n");
    assert!(!events.contains("ipcp_up"), "{events}");
}

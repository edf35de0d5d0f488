//! IKEv2 between the l2sec client and the l2sec server over real UDP sockets on
//! 127.0.0.1: IKE_SA_INIT and IKE_AUTH with a PSK, NAT-T forced (IKE_AUTH and ESP over
//! UDP/4500 with the non-ESP marker), the L2TP transport-mode Child SA, L2TP, PPP with
//! PAP, CHAP and MS-CHAPv2, and pings through the tunnel. The same server ports take
//! IKEv1 and IKEv2 clients at once; a client's Delete, or its silence, ends its session and
//! returns its address to the pool.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l2sec::client::IkeVersion;
use l2sec::driver::{ClientConnection, ClientRun, Server, ServerConfig, run_client_ike};
use l2sec::pool::AddressPool;
use l2sec_ppp::AuthMethod;
use l2sec_ppp::secrets::ChapSecrets;

const PSK: &[u8] = b"ikev2 loopback psk";

struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    ike: SocketAddr,
    natt_port: u16,
    events: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let users = ChapSecrets::parse("alice * alicepass *\nbob * bobpass *\n").unwrap();
        let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
        let mut config =
            ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, PSK, users, pool, [None, None]);
        tweak(&mut config);
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

    fn client(&self, user: &str, password: &str) -> ClientRun {
        ClientRun {
            server: self.ike,
            natt_port: self.natt_port,
            psk: PSK.to_vec(),
            user: user.into(),
            password: password.into(),
            ping: Some((None, 3)),
            timeout: Duration::from_secs(20),
        }
    }

    fn events(&self) -> String {
        self.events.lock().unwrap().join("\n")
    }

    /// Waits until the server reported an event containing `needle` `count` times.
    fn wait_for(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.events.lock().unwrap().iter().filter(|e| e.contains(needle)).count() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
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

fn connect_and_ping(auth: AuthMethod) {
    let server = Running::start(|c| c.lns.ppp.auth_methods = vec![auth]);
    let mut seen = Vec::new();
    let report =
        run_client_ike(&server.client("alice", "alicepass"), IkeVersion::V2, |e| seen.push(format!("{e:?}")))
            .unwrap();
    let events = server.events();
    assert_eq!(report.address, Some(Ipv4Addr::new(198, 51, 100, 2)), "client: {seen:?}\nserver:\n{events}");
    assert_eq!(report.peer, Some(Ipv4Addr::new(198, 51, 100, 1)));
    assert_eq!((report.pings_sent, report.pings_received), (3, 3));
    for e in ["ike_up", "esp_up", "ppp_auth_ok", "ipcp_up"] {
        assert!(events.contains(&format!("\"event\":\"{e}\"")), "missing {e} in\n{events}");
    }
    assert!(seen.iter().any(|e| e == "IkeUp"), "{seen:?}");
}

#[test]
fn ikev2_client_pings_through_the_server_with_mschapv2() {
    connect_and_ping(AuthMethod::MsChapV2);
}

#[test]
fn ikev2_client_pings_through_the_server_with_chap() {
    connect_and_ping(AuthMethod::ChapMd5);
}

#[test]
fn ikev2_client_pings_through_the_server_with_pap() {
    connect_and_ping(AuthMethod::Pap);
}

/// NAT-T is forced by the client: IKE_SA_INIT on the IKE port, then IKE_AUTH on the
/// NAT-T port with the non-ESP marker, and the Child SA says ESP goes in UDP.
#[test]
fn ikev2_moves_to_the_natt_port_and_encapsulates_esp() {
    use l2sec::client::{ClientConfig, ClientTransmit, L2tpIpsecClient};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    let server = Running::start(|_| {});
    let ike = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let natt = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ike.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    natt.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut config = ClientConfig::new(ike.local_addr().unwrap(), server.ike, PSK, "alice", "alicepass");
    config.ike = IkeVersion::V2;
    let now = Instant::now();
    let mut client = L2tpIpsecClient::connect(config, &mut ChaCha20Rng::seed_from_u64(7), now).unwrap();
    let natt_server = SocketAddr::new(server.ike.ip(), server.natt_port);
    let mut buf = vec![0u8; 65_536];
    // IKE_SA_INIT: plain, to the IKE port.
    let Some(ClientTransmit::Ike { udp_encapsulated: false, message }) = client.poll_transmit() else {
        panic!("IKE_SA_INIT first")
    };
    assert_eq!(message[17], 0x20, "an IKEv2 header");
    ike.send_to(&message, server.ike).unwrap();
    let (n, from) = ike.recv_from(&mut buf).unwrap();
    assert_eq!(from, server.ike);
    client.handle_ike(now, &buf[..n]).unwrap();
    // IKE_AUTH: encapsulated, to the NAT-T port; the answer comes back there with the marker.
    let Some(ClientTransmit::Ike { udp_encapsulated: true, message }) = client.poll_transmit() else {
        panic!("IKE_AUTH on the NAT-T port")
    };
    let mut m = l2sec_esp::natt::NON_ESP_MARKER.to_vec();
    m.extend_from_slice(&message);
    natt.send_to(&m, natt_server).unwrap();
    let (n, from) = natt.recv_from(&mut buf).unwrap();
    assert_eq!(from, natt_server);
    assert_eq!(buf[..4], l2sec_esp::natt::NON_ESP_MARKER, "the IKE_AUTH response carries the marker");
    client.handle_udp4500(now, &mut buf[..n]).unwrap();
    let mut events = Vec::new();
    while let Some(e) = client.poll_event() {
        events.push(e);
    }
    assert!(
        matches!(
            events.as_slice(),
            [l2sec::client::ClientEvent::IkeUp, l2sec::client::ClientEvent::EspUp { .. }]
        ),
        "{events:?}"
    );
    // The first L2TP message (SCCRQ) goes out as ESP in UDP, without the marker.
    let Some(ClientTransmit::Esp(esp)) = client.poll_transmit() else { panic!("SCCRQ in ESP") };
    assert_eq!(Some(esp[..4].to_vec()), client.inbound_spi().map(|_| esp[..4].to_vec()));
    assert_ne!(esp[..4], [0; 4], "an SPI, not the non-ESP marker");
    assert!(server.wait_for("esp_up", 1, Duration::from_secs(2)), "{}", server.events());
}

/// One server, one IKE port: an IKEv1 client and an IKEv2 client connect at the same time,
/// get different addresses and both ping.
#[test]
fn ikev1_and_ikev2_clients_share_one_server() {
    let server = Arc::new(Running::start(|_| {}));
    let threads: Vec<_> = [(IkeVersion::V1, "alice", "alicepass"), (IkeVersion::V2, "bob", "bobpass")]
        .into_iter()
        .map(|(ike, user, password)| {
            let run = server.client(user, password);
            std::thread::spawn(move || (ike, run_client_ike(&run, ike, |_| {})))
        })
        .collect();
    let mut addresses = Vec::new();
    for t in threads {
        let (ike, report) = t.join().unwrap();
        let report = report.unwrap_or_else(|e| panic!("IKE{ike} client: {e}\n{}", server.events()));
        assert_eq!((report.pings_sent, report.pings_received), (3, 3), "IKE{ike}");
        addresses.push(report.address.unwrap());
    }
    assert_ne!(addresses[0], addresses[1]);
    let events = server.events();
    assert_eq!(events.matches("\"event\":\"ike_up\"").count(), 2, "{events}");
    assert_eq!(events.matches("\"event\":\"ipcp_up\"").count(), 2, "{events}");
}

fn connected(server: &Running, user: &str, password: &str) -> ClientConnection {
    let run = server.client(user, password);
    let mut c = ClientConnection::start_ike(&run, IkeVersion::V2).unwrap();
    let start = Instant::now();
    while c.address().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no tunnel: {:?}\n{}",
            c.failure(),
            server.events()
        );
        if !c.step(&mut |_| {}).unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    c
}

/// RFC 7296 §1.4.1: the client deletes its IKE SA; the server removes the connection, hangs
/// up the PPP session and the address goes back to the pool.
#[test]
fn a_client_delete_ends_its_session() {
    let server = Running::start(|_| {});
    let mut c = connected(&server, "alice", "alicepass");
    assert_eq!(c.address(), Some(Ipv4Addr::new(198, 51, 100, 2)));
    c.delete_ike_sa().unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        c.step(&mut |_| {}).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(server.wait_for("\"cause\":\"delete\"", 1, Duration::from_secs(3)), "{}", server.events());
    let t = Instant::now();
    assert!(
        server.wait_for(
            "\"event\":\"session_down\",\"address\":\"198.51.100.2\"",
            1,
            Duration::from_secs(15)
        ),
        "the session was not ended:\n{}",
        server.events()
    );
    eprintln!("session down {:?} after the Delete was answered", t.elapsed());
    // The address is free again: the next client gets it.
    let report = run_client_ike(&server.client("bob", "bobpass"), IkeVersion::V2, |_| {}).unwrap();
    assert_eq!(report.address, Some(Ipv4Addr::new(198, 51, 100, 2)), "{}", server.events());
}

/// RFC 7296 §2.4: a client that vanishes does not answer the liveness check; the server
/// declares it dead and frees its session and address.
#[test]
fn a_vanished_client_is_declared_dead() {
    let server = Running::start(|c| {
        c.ikev2.liveness_interval = Duration::from_millis(500);
        c.ikev2.template.retransmit_timeout = Duration::from_millis(100);
        c.ikev2.template.max_retransmits = 2;
    });
    let c = connected(&server, "alice", "alicepass");
    let t = Instant::now();
    drop(c);
    assert!(server.wait_for("\"cause\":\"dpd\"", 1, Duration::from_secs(10)), "{}", server.events());
    eprintln!("declared dead after {:?}", t.elapsed());
    assert!(
        server.wait_for(
            "\"event\":\"session_down\",\"address\":\"198.51.100.2\"",
            1,
            Duration::from_secs(15)
        ),
        "the session was not ended:\n{}",
        server.events()
    );
    eprintln!("session down after {:?}", t.elapsed());
}

/// A live client answers the liveness checks and keeps its connection.
#[test]
fn a_live_client_survives_liveness_checks() {
    let server = Running::start(|c| {
        c.ikev2.liveness_interval = Duration::from_millis(300);
        c.ikev2.template.retransmit_timeout = Duration::from_millis(100);
        c.ikev2.template.max_retransmits = 2;
    });
    let mut c = connected(&server, "alice", "alicepass");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        c.step(&mut |_| {}).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let events = server.events();
    assert!(!events.contains("ike_down") && !events.contains("session_down"), "{events}");
}

#[test]
fn ikev2_with_a_wrong_psk_or_password_gets_no_address() {
    let server = Running::start(|_| {});
    let mut run = server.client("alice", "wrong");
    run.timeout = Duration::from_secs(8);
    let report = run_client_ike(&run, IkeVersion::V2, |_| {});
    assert!(report.map_or(true, |r| r.address.is_none()), "a wrong password must not get an address");
    let mut run = server.client("alice", "alicepass");
    run.psk = b"another psk".to_vec();
    run.timeout = Duration::from_secs(5);
    let report = run_client_ike(&run, IkeVersion::V2, |_| {});
    assert!(report.is_err(), "a wrong PSK fails IKE_AUTH: {report:?}\n{}", server.events());
    let events = server.events();
    assert!(!events.contains("ipcp_up"), "{events}");
    assert!(events.contains("ikev2 with"), "the failed IKE_AUTH is reported: {events}");
}

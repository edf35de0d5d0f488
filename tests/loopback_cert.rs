//! Certificate authentication between the l2sec client and the l2sec server over real UDP
//! sockets on 127.0.0.1, IKEv1 (Main Mode with RSA signatures) and IKEv2 (digital
//! signatures), then ESP, L2TP, PPP and pings through the tunnel. The test PKI is
//! `tests/data/certs` (`gen.sh`): a CA, the server `vpn.l2sec.test` (and 127.0.0.1), the
//! client `alice.l2sec.test`, and a client of another CA, which the server refuses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l2sec::cert::CertFiles;
use l2sec::client::IkeVersion;
use l2sec::driver::{ClientConnection, ClientOptions, ClientRun, Server, ServerConfig, run_client_with};
use l2sec::ike::cert::{CertificateAuth, PeerName};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

const PSK: &[u8] = b"cert loopback psk";

fn pki(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/certs").join(name)
}

fn load(who: &str, ca: &str) -> CertificateAuth {
    CertFiles { cert: pki(&format!("{who}.pem")), key: pki(&format!("{who}.key")), ca: pki(ca) }
        .load()
        .unwrap()
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    ike: SocketAddr,
    natt_port: u16,
    events: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// A server with the server certificate (and, with `keep_psk`, IKEv1 PSK too); with
    /// `cert` false, a PSK-only server.
    fn start(cert: bool, keep_psk: bool) -> Self {
        let users = ChapSecrets::parse("alice * alicepass *\n").unwrap();
        let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
        let mut config =
            ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, PSK, users, pool, [None, None]);
        if cert {
            config.use_certificate(load("server", "ca.pem"), keep_psk);
        }
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

    fn run(&self, psk: &[u8], timeout: u64) -> ClientRun {
        ClientRun {
            server: self.ike,
            natt_port: self.natt_port,
            psk: psk.to_vec(),
            user: "alice".into(),
            password: "alicepass".into(),
            ping: Some((None, 3)),
            timeout: Duration::from_secs(timeout),
        }
    }

    /// The `"event"` names of the server's JSON lines, in order.
    fn event_names(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| {
                let rest = l.split("\"event\":\"").nth(1)?;
                Some(rest[..rest.find('"')?].to_owned())
            })
            .collect()
    }

    fn events(&self) -> String {
        self.events.lock().unwrap().join("\n")
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

fn cert_options(who: &str, ca: &str, server_name: Option<PeerName>) -> ClientOptions {
    let mut o = ClientOptions::default();
    o.certificate = Some(load(who, ca));
    o.server_name = server_name;
    o
}

fn vpn_name() -> Option<PeerName> {
    Some(PeerName::Fqdn("vpn.l2sec.test".into()))
}

/// Connects with certificates and pings; returns the server's event names.
fn connects_and_pings(ike: IkeVersion, server_name: Option<PeerName>) -> Vec<String> {
    let server = Running::start(true, false);
    let mut seen = Vec::new();
    let report =
        run_client_with(&server.run(b"", 20), ike, &cert_options("client", "ca.pem", server_name), |e| {
            seen.push(format!("{e:?}"))
        })
        .unwrap_or_else(|e| panic!("{ike}: {e}\nclient: {seen:?}\nserver:\n{}", server.events()));
    assert_eq!(report.address, Some(Ipv4Addr::new(198, 51, 100, 2)), "{seen:?}");
    assert_eq!((report.pings_sent, report.pings_received), (3, 3), "{seen:?}");
    server.event_names()
}

/// The same session with a PSK, for comparing the event lines.
fn psk_event_names(ike: IkeVersion) -> Vec<String> {
    let server = Running::start(false, false);
    let report = run_client_with(&server.run(PSK, 20), ike, &ClientOptions::default(), |_| {}).unwrap();
    assert_eq!(report.pings_received, 3);
    server.event_names()
}

#[test]
fn ikev1_with_certificates_connects_and_pings_with_the_same_event_lines() {
    let names = connects_and_pings(IkeVersion::V1, vpn_name());
    for e in ["ike_up", "esp_up", "ppp_auth_ok", "ipcp_up"] {
        assert!(names.iter().any(|n| n == e), "missing {e} in {names:?}");
    }
    assert_eq!(names, psk_event_names(IkeVersion::V1), "--events json lines differ from PSK");
}

#[test]
fn ikev2_with_certificates_connects_and_pings_with_the_same_event_lines() {
    let names = connects_and_pings(IkeVersion::V2, vpn_name());
    for e in ["ike_up", "esp_up", "ppp_auth_ok", "ipcp_up"] {
        assert!(names.iter().any(|n| n == e), "missing {e} in {names:?}");
    }
    assert_eq!(names, psk_event_names(IkeVersion::V2), "--events json lines differ from PSK");
}

#[test]
fn by_default_the_server_certificate_must_name_the_server_address() {
    // server.pem carries IP 127.0.0.1: without --server-name the address is the name.
    connects_and_pings(IkeVersion::V1, None);
    connects_and_pings(IkeVersion::V2, Some(PeerName::Ip(Ipv4Addr::LOCALHOST.into())));
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let server = Running::start(true, false);
    for ike in [IkeVersion::V1, IkeVersion::V2] {
        // The client trusts the server's CA, but its own certificate is from other-ca.
        let options = cert_options("other-client", "ca.pem", vpn_name());
        let report = run_client_with(&server.run(b"", 6), ike, &options, |_| {});
        assert!(report.map_or(true, |r| r.address.is_none()), "{ike}: a foreign client got an address");
    }
    let events = server.events();
    assert!(!events.contains("\"ike_up\"") && !events.contains("ipcp_up"), "{events}");
    assert!(events.matches("no trusted issuer").count() >= 2, "both refusals are reported: {events}");
    assert!(events.contains("ikev2 with"), "the IKEv2 refusal is reported: {events}");
}

#[test]
fn a_server_with_another_name_or_ca_is_refused_by_the_client() {
    let server = Running::start(true, false);
    for ike in [IkeVersion::V1, IkeVersion::V2] {
        let wrong_name = cert_options("client", "ca.pem", Some(PeerName::Fqdn("other.l2sec.test".into())));
        let r = run_client_with(&server.run(b"", 6), ike, &wrong_name, |_| {});
        assert!(r.map_or(true, |r| r.address.is_none()), "{ike}: a server with another name was accepted");
        let wrong_ca = cert_options("client", "other-ca.pem", vpn_name());
        let r = run_client_with(&server.run(b"", 6), ike, &wrong_ca, |_| {});
        assert!(r.map_or(true, |r| r.address.is_none()), "{ike}: a server of an untrusted CA was accepted");
    }
    assert!(!server.events().contains("ipcp_up"), "{}", server.events());
    // The client says why: the server's certificate is not the expected peer's.
    for ike in [IkeVersion::V1, IkeVersion::V2] {
        let wrong_name = cert_options("client", "ca.pem", Some(PeerName::Fqdn("other.l2sec.test".into())));
        let mut c =
            ClientConnection::start_with_options(&server.run(b"", 5), &wrong_name, |c| c.ike = ike).unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) && c.failure().is_none() && c.last_refusal().is_none()
        {
            c.step(&mut |_| {}).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        let why = format!("{:?} {:?}", c.failure(), c.last_refusal());
        assert!(why.contains("expected peer"), "{ike}: {why}");
    }
}

#[test]
fn psk_clients_need_the_psk_kept_and_ikev1() {
    // Certificates only: an IKEv1 PSK client is refused.
    let server = Running::start(true, false);
    let r = run_client_with(&server.run(PSK, 6), IkeVersion::V1, &ClientOptions::default(), |_| {});
    assert!(r.map_or(true, |r| r.address.is_none()), "a PSK client got in a certificate-only server");
    drop(server);
    // Certificates plus the PSK: IKEv1 PSK and certificate clients are both served; an
    // IKEv2 PSK client is not (one method per IKEv2 responder).
    let server = Running::start(true, true);
    let r = run_client_with(&server.run(PSK, 20), IkeVersion::V1, &ClientOptions::default(), |_| {}).unwrap();
    assert_eq!(r.pings_received, 3);
    let r = run_client_with(
        &server.run(b"", 20),
        IkeVersion::V1,
        &cert_options("client", "ca.pem", vpn_name()),
        |_| {},
    )
    .unwrap();
    assert_eq!(r.pings_received, 3);
    let r = run_client_with(&server.run(PSK, 6), IkeVersion::V2, &ClientOptions::default(), |_| {});
    assert!(r.map_or(true, |r| r.address.is_none()), "an IKEv2 PSK client got in");
}

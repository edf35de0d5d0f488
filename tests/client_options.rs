//! The client's `--auth` and `--keylog` over real UDP sockets on 127.0.0.1: a client
//! that accepts only some PPP authentication protocols fails clearly against a server
//! that demands another, and connects with one that offers its choice; the client's key
//! log holds Wireshark's tables for its IKE and ESP SAs, in the server's format.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use l2sec::client::IkeVersion;
use l2sec::driver::{ClientOptions, ClientRun, Server, ServerConfig, run_client_with};
use l2sec::pool::AddressPool;
use l2sec_ppp::AuthMethod;
use l2sec_ppp::secrets::ChapSecrets;

const PSK: &[u8] = b"client options psk";

struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    ike: SocketAddr,
    natt_port: u16,
    events: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let users = ChapSecrets::parse("alice * alicepass *\n").unwrap();
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

    fn run(&self, timeout: u64) -> ClientRun {
        ClientRun {
            server: self.ike,
            natt_port: self.natt_port,
            psk: PSK.to_vec(),
            user: "alice".into(),
            password: "alicepass".into(),
            ping: Some((None, 2)),
            timeout: Duration::from_secs(timeout),
        }
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

fn auth(methods: &[AuthMethod]) -> ClientOptions {
    let mut o = ClientOptions::default();
    o.auth = Some(methods.to_vec());
    o
}

#[test]
fn a_pap_only_client_fails_clearly_against_an_mschapv2_server() {
    // The default server demands MS-CHAPv2 only.
    let server = Running::start(|_| {});
    for ike in [IkeVersion::V1, IkeVersion::V2] {
        let mut seen = Vec::new();
        let r =
            run_client_with(&server.run(15), ike, &auth(&[AuthMethod::Pap]), |e| seen.push(format!("{e:?}")));
        let e = r.expect_err("a PAP-only client must not come up against an MS-CHAPv2-only server");
        let text = e.to_string();
        assert!(
            text.contains("PPP") && text.contains("authentication protocol") && text.contains("[Pap]"),
            "{ike}: the failure names PPP authentication: {text}\nclient: {seen:?}"
        );
        assert!(seen.iter().any(|s| s.contains("L2tpUp")), "{ike}: it got as far as PPP: {seen:?}");
    }
    let events = server.events();
    assert!(!events.contains("ppp_auth_ok") && !events.contains("ipcp_up"), "{events}");
}

#[test]
fn the_client_uses_only_the_protocols_it_accepts() {
    let server = Running::start(|c| c.lns.ppp.auth_methods = vec![AuthMethod::Pap]);
    // Insisting on MS-CHAPv2 against a PAP-only server fails...
    let r = run_client_with(&server.run(15), IkeVersion::V1, &auth(&[AuthMethod::MsChapV2]), |_| {});
    assert!(r.is_err_and(|e| e.to_string().contains("PPP")), "an MS-CHAPv2-only client came up with PAP");
    assert!(!server.events().contains("ppp_auth_ok"), "{}", server.events());
    // ...accepting PAP works, with either IKE.
    for ike in [IkeVersion::V1, IkeVersion::V2] {
        let r = run_client_with(&server.run(20), ike, &auth(&[AuthMethod::Pap]), |_| {}).unwrap();
        assert_eq!(r.pings_received, 2, "{ike}");
    }
    assert_eq!(server.events().matches("ppp_auth_ok").count(), 2, "{}", server.events());
}

fn table(dir: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

fn keylog_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("l2sec-client-keylog-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn the_client_key_log_holds_its_ike_and_esp_sas_in_the_servers_format() {
    for ike in [IkeVersion::V1, IkeVersion::V2] {
        let (client_dir, server_dir) = (keylog_dir(&format!("c{ike}")), keylog_dir(&format!("s{ike}")));
        let server = Running::start(|c| c.keylog = Some(server_dir.clone()));
        let mut o = ClientOptions::default();
        o.keylog = Some(client_dir.clone());
        let r = run_client_with(&server.run(20), ike, &o, |_| {}).unwrap();
        assert_eq!(r.pings_received, 2);
        drop(server);
        let ike_table = match ike {
            IkeVersion::V1 => l2sec::ike::keylog::IKEV1_DECRYPTION_TABLE,
            IkeVersion::V2 => l2sec::ike::keylog::IKEV2_DECRYPTION_TABLE,
        };
        // The same files as the server's, and the same SAs in them (both ends log the
        // IKE SA by its SPIs and both ESP SAs).
        for name in ["preferences", ike_table, "esp_sa"] {
            let (mut c, mut s) = (table(&client_dir, name), table(&server_dir, name));
            c.sort();
            s.sort();
            assert_eq!(c, s, "{ike}: {name} differs between client and server");
        }
        assert_eq!(table(&client_dir, ike_table).len(), 1, "{ike}: one IKE SA");
        assert_eq!(table(&client_dir, "esp_sa").len(), 2, "{ike}: two ESP SAs");
        std::fs::remove_dir_all(&client_dir).ok();
        std::fs::remove_dir_all(&server_dir).ok();
    }
}

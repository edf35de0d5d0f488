//! The l2sec server authenticating PPP users against FreeRADIUS: the l2sec client connects
//! over real sockets (IKEv1, ESP, L2TP), PPP's MS-CHAPv2 response goes to the lab's
//! FreeRADIUS 3.2 as an Access-Request, its MS-CHAP2-Success (the `S=` the client checks)
//! comes back through PPP, and the client pings through the tunnel. A wrong password is
//! rejected by FreeRADIUS and gets no address.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use l2sec::driver::{ClientRun, Server, ServerConfig, run_client};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;
use l2sec_radius_auth::{ClientConfig, NasIdentity, ServerRole};

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/lab/radius-l2tp/freeradius");
const PSK: &[u8] = b"radius vpn psk";
const AUTH_PORT: u16 = 18127;

struct Radiusd(std::path::PathBuf);

impl Radiusd {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("l2sec-radius-vpn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new(format!("{LAB}/radius-start.sh"))
            .arg(dir.join("radius"))
            .env("AUTH_PORT", AUTH_PORT.to_string())
            .env("ACCT_PORT", (AUTH_PORT + 10).to_string())
            .output()
            .expect("run radius-start.sh");
        assert!(
            out.status.success(),
            "interop: FreeRADIUS did not start (install it with .ci/install-peers.sh): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Radiusd(dir)
    }
}

impl Drop for Radiusd {
    fn drop(&mut self) {
        let _ = Command::new(format!("{LAB}/radius-stop.sh")).arg(self.0.join("radius")).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
#[ignore = "interop: needs FreeRADIUS; run by .ci/run with --ignored"]
fn ppp_users_are_authenticated_by_freeradius() {
    let _radiusd = Radiusd::start();
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    // No local users: only RADIUS can accept anyone.
    let users = ChapSecrets::parse("").unwrap();
    let mut config = ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, PSK, users, pool, [None, None]);
    let mut radius_server = l2sec_radius_auth::ServerConfig::new(
        (Ipv4Addr::LOCALHOST, AUTH_PORT).into(),
        "testing123",
        ServerRole::Authentication,
    );
    // FreeRADIUS 3.2.1 does not sign its answers with a Message-Authenticator; the client
    // accepts them only because this switch says so.
    radius_server.require_message_authenticator = false;
    let nas = NasIdentity { ip_address: Some(Ipv4Addr::LOCALHOST), identifier: Some("l2sec-vpn".into()) };
    config.radius = Some(ClientConfig::new(nas, vec![radius_server]));
    let mut server = Server::bind(config).unwrap();
    let (ike, natt) = server.local_addrs().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let runner = {
        let (stop, events) = (stop.clone(), events.clone());
        std::thread::spawn(move || server.run(&stop, |e| events.lock().unwrap().push(e.to_json())))
    };
    let run = |user: &str, password: &str, timeout: u64| ClientRun {
        server: ike,
        natt_port: natt.port(),
        psk: PSK.to_vec(),
        user: user.into(),
        password: password.into(),
        ping: Some((None, 3)),
        timeout: Duration::from_secs(timeout),
    };
    let good = run_client(&run("msuser", "mspass", 30), |_| {});
    let bad = run_client(&run("msuser", "wrong", 10), |_| {});
    stop.store(true, Ordering::Relaxed);
    runner.join().unwrap().unwrap();
    let events = events.lock().unwrap().join("\n");
    let good = good.unwrap_or_else(|e| panic!("client failed: {e}\n{events}"));
    assert_eq!(good.address, Some(Ipv4Addr::new(198, 51, 100, 2)), "{events}");
    assert_eq!((good.pings_sent, good.pings_received), (3, 3), "{events}");
    assert!(bad.map_or(true, |r| r.address.is_none()), "a wrong password got an address:\n{events}");
    assert!(events.contains(r#"{"event":"ppp_auth_ok","user":"msuser"}"#), "{events}");
    assert!(events.contains(r#"{"event":"ppp_auth_failed","user":"msuser"}"#), "{events}");
}

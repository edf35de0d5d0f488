//! The l2sec server authenticating PPP users against FreeRADIUS: the l2sec client connects
//! over real sockets (IKEv1, ESP, L2TP), PPP's MS-CHAPv2 response goes to the lab's
//! FreeRADIUS 3.2 as an Access-Request, its MS-CHAP2-Success (the `S=` the client checks)
//! comes back through PPP, and the client pings through the tunnel. A wrong password is
//! rejected by FreeRADIUS and gets no address. A user with a Framed-IP-Address gets that
//! address instead of the pool's. Every session is accounted: the Start and Stop records
//! FreeRADIUS wrote to its detail file carry the session id, the address, the counters and
//! the terminate cause.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use l2sec::driver::{ClientRun, ClientSession, Server, ServerConfig, run_client};
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
    let mut accounting_server = l2sec_radius_auth::ServerConfig::new(
        (Ipv4Addr::LOCALHOST, AUTH_PORT + 10).into(),
        "testing123",
        ServerRole::Accounting,
    );
    accounting_server.require_message_authenticator = false;
    let nas = NasIdentity { ip_address: Some(Ipv4Addr::LOCALHOST), identifier: Some("l2sec-vpn".into()) };
    config.radius = Some(ClientConfig::new(nas, vec![radius_server, accounting_server]));
    let mut server = Server::bind(config).unwrap();
    let (ike, natt) = server.local_addrs().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let runner = {
        let (stop, events) = (stop.clone(), events.clone());
        std::thread::spawn(move || {
            server.run(&stop, |e| events.lock().unwrap().push(e.to_json()))?;
            server.shutdown(|e| events.lock().unwrap().push(e.to_json()))
        })
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
    // The held session hangs up politely once its pings are answered (a Stop follows).
    let session = |user: &str, password: &str| {
        let never = AtomicBool::new(false);
        ClientSession {
            run: &run(user, password, 30),
            stop: &never,
            reconnect: false,
            sink: None,
            dpd: None,
            outer_mtu: None,
            ike: l2sec::client::IkeVersion::V1,
            options: Default::default(),
        }
        .run(|_| {})
        .map(|r| r.last)
    };
    let good = session("msuser", "mspass");
    let bad = run_client(&run("msuser", "wrong", 10), |_| {});
    let fixed = session("fixedip", "fixedpass");
    // The Stops go out as the sessions end; give FreeRADIUS a moment to write them.
    let detail_dir = _radiusd.0.join("radius/radacct/127.0.0.1");
    let read_detail = || -> String {
        std::fs::read_dir(&detail_dir)
            .map(|d| d.flatten().map(|f| std::fs::read_to_string(f.path()).unwrap_or_default()).collect())
            .unwrap_or_default()
    };
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while read_detail().matches("Acct-Status-Type = Stop").count() < 2 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    runner.join().unwrap().unwrap();
    let events = events.lock().unwrap().join("\n");
    let good = good.unwrap_or_else(|e| panic!("client failed: {e}\n{events}"));
    assert_eq!(good.address, Some(Ipv4Addr::new(198, 51, 100, 2)), "{events}");
    assert_eq!((good.pings_sent, good.pings_received), (3, 3), "{events}");
    assert!(bad.map_or(true, |r| r.address.is_none()), "a wrong password got an address:\n{events}");
    assert!(events.contains(r#"{"event":"ppp_auth_ok","user":"msuser"}"#), "{events}");
    assert!(events.contains(r#"{"event":"ppp_auth_failed","user":"msuser"}"#), "{events}");
    // FreeRADIUS's Framed-IP-Address, not the pool's.
    let fixed = fixed.unwrap_or_else(|e| panic!("fixedip failed: {e}\n{events}"));
    assert_eq!(fixed.address, Some(Ipv4Addr::new(192, 0, 2, 10)), "{events}");
    assert_eq!(fixed.pings_received, 3, "{events}");

    // The accounting records, one block per request in the detail file.
    let detail = read_detail();
    let records: Vec<&str> = detail.split("\n\n").filter(|r| r.contains("Acct-Status-Type")).collect();
    let field = |r: &str, name: &str| -> Option<String> {
        r.lines().find_map(|l| {
            l.trim().strip_prefix(&format!("{name} = ")).map(|v| v.trim_matches('"').to_owned())
        })
    };
    for (user, address) in [("msuser", "198.51.100.2"), ("fixedip", "192.0.2.10")] {
        let mine: Vec<&&str> =
            records.iter().filter(|r| field(r, "User-Name").as_deref() == Some(user)).collect();
        let start = mine.iter().find(|r| field(r, "Acct-Status-Type").as_deref() == Some("Start"));
        let stop = mine.iter().find(|r| field(r, "Acct-Status-Type").as_deref() == Some("Stop"));
        let (start, stop) = match (start, stop) {
            (Some(a), Some(b)) => (a, b),
            _ => panic!("no Start and Stop for {user} in the detail file:\n{detail}"),
        };
        let id = field(start, "Acct-Session-Id").expect("Acct-Session-Id");
        assert_eq!(field(stop, "Acct-Session-Id"), Some(id), "{detail}");
        assert_eq!(field(start, "Framed-IP-Address").as_deref(), Some(address), "{detail}");
        assert_eq!(field(stop, "Framed-IP-Address").as_deref(), Some(address), "{detail}");
        assert_eq!(field(stop, "Acct-Terminate-Cause").as_deref(), Some("User-Request"), "{detail}");
        assert_eq!(field(stop, "NAS-Port-Type").as_deref(), Some("Virtual"), "{detail}");
        assert_eq!(field(stop, "Calling-Station-Id").as_deref(), Some("127.0.0.1"), "{detail}");
        // Three echo requests in and three replies out, 38 octets each (20 IPv4 + 8 ICMP
        // + the 10-byte payload).
        let n = |name: &str| field(stop, name).and_then(|v| v.parse::<u64>().ok());
        assert_eq!(n("Acct-Input-Packets"), Some(3), "{detail}");
        assert_eq!(n("Acct-Output-Packets"), Some(3), "{detail}");
        assert_eq!(n("Acct-Input-Octets"), Some(3 * 38), "{detail}");
        assert_eq!(n("Acct-Output-Octets"), Some(3 * 38), "{detail}");
        assert!(n("Acct-Session-Time").is_some_and(|t| t < 60), "{detail}");
    }
    // The Class of fixedip's Access-Accept comes back in its accounting.
    let fixed_stop = records
        .iter()
        .find(|r| field(r, "User-Name").as_deref() == Some("fixedip") && r.contains("Stop"))
        .unwrap();
    assert!(
        fixed_stop.contains("lab-class-1") || fixed_stop.contains("0x6c61622d636c6173732d31"),
        "{fixed_stop}"
    );
}

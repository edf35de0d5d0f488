//! The stock Linux L2TP client against the l2sec LNS: xl2tpd 1.3.18 as LAC with a real
//! pppd 2.4.9 (kernel PPP) in the lab's QEMU guest dials `Lns` over a real UDP socket on
//! 127.0.0.1, authenticates with MS-CHAPv2, gets an address from the pool, pings the
//! server's tunnel address (answered by the built-in virtual network) and hangs up.
//!
//! Needs qemu-system-x86_64 and the lab guest (built with the lab's build.sh when `$VMDIR`
//! has none); fails, loudly, when they are missing.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use l2sec::lns::{Lns, LnsConfig, LnsEvent};
use l2sec::pool::AddressPool;
use l2sec::virtual_net;
use l2sec_l2tp as l2tp;
use l2sec_ppp::secrets::ChapSecrets;
use l2sec_ppp::{self as ppp, AuthMethod, Datagram};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/lab/radius-l2tp");
const GUEST_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/guest/guest-xl2tpd-lac.sh");
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn vmdir() -> PathBuf {
    if let Ok(v) = std::env::var("VMDIR") {
        return v.into();
    }
    let state = std::env::var("LAB_STATE").unwrap_or_else(|_| "/tmp/l2sec-lab".into());
    PathBuf::from(state).join("pppvm")
}

fn ensure_guest() -> PathBuf {
    let ok = Command::new("sh").args(["-c", "command -v qemu-system-x86_64"]).output();
    assert!(
        ok.is_ok_and(|o| o.status.success()),
        "interop: qemu-system-x86_64 is missing (install it with .ci/install-peers.sh)"
    );
    let dir = vmdir();
    if !dir.join("vmlinuz").exists() || !dir.join("initramfs.gz").exists() {
        let out = Command::new(format!("{LAB}/pppvm/build.sh")).arg(&dir).output().expect("run build.sh");
        assert!(
            out.status.success(),
            "interop: pppvm/build.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

/// A free UDP port on 127.0.0.1 (for the guest's unused hostfwd, which run.sh needs to
/// give the guest a network).
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Guest(PathBuf);

impl Guest {
    fn console(&self) -> String {
        std::fs::read_to_string(self.0.join("console.log")).unwrap_or_default()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = Command::new(format!("{LAB}/pppvm/stop.sh")).arg(&self.0).status();
    }
}

#[test]
#[ignore = "interop: needs qemu and the lab's pppvm guest; run by .ci/run with --ignored"]
fn linux_xl2tpd_and_pppd_connect_to_the_l2sec_lns_and_ping_through_it() {
    let vmdir = ensure_guest();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let lns_port = socket.local_addr().unwrap().port();

    let mut ppp_cfg = ppp::Config::authenticator("l2sec");
    ppp_cfg.auth_methods = vec![AuthMethod::MsChapV2];
    ppp_cfg.ipcp.local = Some(SERVER);
    ppp_cfg.ipcp.dns = [Some(Ipv4Addr::new(198, 51, 100, 53)), None];
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    let config = LnsConfig { l2tp: l2tp::Config::default(), ppp: ppp_cfg, pool };
    let mut lns: Lns<SocketAddr, ChaCha20Rng> = Lns::new(config, ChaCha20Rng::seed_from_u64(42));
    let users = ChapSecrets::parse("msuser * mspass *\n").unwrap();

    let run = std::env::temp_dir().join(format!("l2sec-linux-lac-{}", std::process::id()));
    std::fs::create_dir_all(&run).unwrap();
    let out = Command::new(format!("{LAB}/pppvm/run.sh"))
        .arg(&run)
        .arg(GUEST_SCRIPT)
        .env("VMDIR", &vmdir)
        .env("SERIAL", "socket")
        .env("L2TP_HOSTPORT", free_udp_port().to_string())
        .env("GUEST_ENV", format!("LNS_PORT={lns_port};PPP_USER=msuser;PPP_PASS=mspass;SERVER_IP={SERVER}"))
        .output()
        .expect("run pppvm/run.sh");
    assert!(out.status.success(), "guest did not start: {}", String::from_utf8_lossy(&out.stderr));
    let guest = Guest(run);

    let (mut up, mut down, mut echoes) = (None, false, 0);
    let mut buf = vec![0u8; 4096];
    let mut tx = Vec::new();
    let mut reply = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(150);
    while Instant::now() < deadline && !(down && guest.console().contains("LAB-DONE")) {
        let now = Instant::now();
        if let Ok((n, from)) = socket.recv_from(&mut buf)
            && let Ok(Some((_, Datagram::Ipv4(packet)))) = lns.handle_input(now, from, &buf[..n])
            && virtual_net::answer(packet, SERVER, &mut reply)
        {
            echoes += 1;
            tx.clear();
            let t = lns.send_ip(&reply, &mut tx).unwrap();
            socket.send_to(&tx[tx.len() - t.size..], t.destination).unwrap();
        }
        if lns.poll_timeout().is_some_and(|t| t <= now) {
            lns.handle_timeout(now);
        }
        while let Some(ev) = lns.poll_event() {
            match ev {
                LnsEvent::Authenticate { session, request } => {
                    let verdict = users.verify("l2sec", &request);
                    lns.answer_auth(now, session, request.id, verdict).unwrap();
                }
                LnsEvent::SessionUp { username, address, .. } => up = Some((username, address)),
                LnsEvent::SessionDown { .. } => down = true,
                _ => {}
            }
        }
        tx.clear();
        while let Some(t) = lns.poll_transmit(now, &mut tx) {
            socket.send_to(&tx[tx.len() - t.size..], t.destination).unwrap();
            tx.clear();
        }
    }
    let console = guest.console();
    let (user, address) = up.unwrap_or_else(|| panic!("no PPP session came up; guest console:\n{console}"));
    assert_eq!(user, b"msuser");
    assert_eq!(address, Ipv4Addr::new(198, 51, 100, 2));
    assert!(console.contains("LAB-PING-RESULT rc=0"), "the guest's ping failed:\n{console}");
    assert!(echoes >= 3, "the LNS answered {echoes} echo requests");
    assert!(down, "the guest's hang-up did not end the session:\n{console}");
    assert_eq!(lns.addresses_in_use(), 0);
}

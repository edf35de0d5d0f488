//! Interop: CREATE_CHILD_SA against a real strongSwan charon: Child SA and IKE SA rekeys
//! started by l2sec and by charon (`swanctl --rekey`), an additional Child SA, Delete of
//! one Child SA, a ping through the rekeyed tunnel-mode Child SA, and, with charon as
//! initiator, l2sec's responder COOKIE (threshold 0) and a virtual IP assigned through
//! the Configuration payload (charon `vips = 0.0.0.0`).
//!
//! Like `interop_strongswan_v2.rs`, the test brings up the lab namespaces with
//! `shared/lab/strongswan/peer.sh` and runs itself again inside one of them. Needs root
//! and the lab packages; it fails (never skips) without them.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use l2sec_ike::child::{ChildSa, EspMode};
use l2sec_ike::crypto::DhGroup;
use l2sec_ike::v2::ike_sa::{Event, Identity, IkeSa, IkeSaConfig, InternalConfig};
use l2sec_ike::v2::keys::IkeSuite;
use l2sec_ike::v2::responder::{CookieGuard, CookieVerdict};
use l2sec_ike::wire::v2::TrafficSelector;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const INNER_ENV: &str = "L2SEC_IKEV2_REKEY_INTEROP_INNER";
const PSK: &[u8] = b"lab-psk-0123456789";

mod strongswan_lab;

use strongswan_lab::Lab;

fn seed() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// A real-time owner loop around one `IkeSa`, on UDP 500 and 4500.
struct Driver {
    s500: UdpSocket,
    s4500: UdpSocket,
    peer500: SocketAddr,
    peer4500: SocketAddr,
    sa: Option<IkeSa<ChaCha20Rng>>,
    /// Before the responder exists: the cookie guard and the responder's config.
    guard: Option<(CookieGuard<ChaCha20Rng>, IkeSaConfig)>,
    challenges: usize,
    rx: Vec<u8>,
    /// ESP datagrams received while waiting for IKE (handed to the ping).
    esp: Vec<Vec<u8>>,
    /// When the peer's next CREATE_CHILD_SA request arrives, start this rekey of ours
    /// and send it before handling the peer's: the two rekeys cross.
    collide: Option<Collide>,
}

/// The rekey to cross with the peer's.
#[derive(Clone, Copy, Debug)]
enum Collide {
    Child(u32),
    Ike,
}

impl Driver {
    fn bind(me: &str, peer: &str) -> Self {
        let s500 = UdpSocket::bind(format!("{me}:500")).expect("bind 500");
        let s4500 = UdpSocket::bind(format!("{me}:4500")).expect("bind 4500");
        for s in [&s500, &s4500] {
            s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        }
        Self {
            s500,
            s4500,
            peer500: format!("{peer}:500").parse().unwrap(),
            peer4500: format!("{peer}:4500").parse().unwrap(),
            sa: None,
            guard: None,
            challenges: 0,
            rx: vec![0; 65536],
            esp: Vec::new(),
            collide: None,
        }
    }

    fn sa(&mut self) -> &mut IkeSa<ChaCha20Rng> {
        self.sa.as_mut().expect("no IKE SA yet")
    }

    /// Sends what is queued, reads one datagram (or runs the timers).
    fn step(&mut self) {
        self.flush();
        self.receive();
    }

    fn flush(&mut self) {
        let now = Instant::now();
        let mut buf = Vec::new();
        if let Some(sa) = self.sa.as_mut() {
            while let Some(t) = sa.poll_transmit(now, &mut buf) {
                if t.udp_encapsulated {
                    let mut d = vec![0u8; 4];
                    d.extend_from_slice(&buf);
                    self.s4500.send_to(&d, self.peer4500).unwrap();
                } else {
                    self.s500.send_to(&buf, self.peer500).unwrap();
                }
                buf.clear();
            }
        }
    }

    fn receive(&mut self) {
        let mut got = None;
        for (sock, encapsulated) in [(&self.s500, false), (&self.s4500, true)] {
            if let Ok((n, from)) = sock.recv_from(&mut self.rx) {
                got = Some((n, from, encapsulated));
                break;
            }
        }
        let Some((n, from, encapsulated)) = got else {
            if let Some(sa) = self.sa.as_mut() {
                sa.handle_timeout(Instant::now());
            }
            return;
        };
        let data = if encapsulated {
            self.peer4500 = from;
            match self.rx.get(..4) {
                Some([0, 0, 0, 0]) => self.rx[4..n].to_vec(),
                _ if n > 8 => {
                    self.esp.push(self.rx[..n].to_vec());
                    return;
                }
                _ => return, // keepalive
            }
        } else {
            self.peer500 = from;
            self.rx[..n].to_vec()
        };
        if self.sa.is_none() {
            let (guard, config) = self.guard.as_mut().expect("responder without guard");
            match guard.check(Instant::now(), &data, from) {
                Ok(CookieVerdict::Challenge(answer)) => {
                    self.challenges += 1;
                    println!("COOKIE challenge sent to charon");
                    self.s500.send_to(&answer, from).unwrap();
                    return;
                }
                Ok(CookieVerdict::Proceed) => {
                    println!("charon passed the COOKIE check");
                    guard.half_open_started();
                    self.sa = Some(IkeSa::respond(
                        config.clone(),
                        ChaCha20Rng::seed_from_u64(seed()),
                        Instant::now(),
                    ));
                }
                Err(e) => {
                    eprintln!("dropped a datagram before the IKE SA: {e}");
                    return;
                }
            }
        }
        let is_create_child_request = data.len() > 19 && data[18] == 36 && data[19] & 0x20 == 0;
        if is_create_child_request && let Some(c) = self.collide.take() {
            match c {
                Collide::Child(spi) => self.sa().rekey_child(Instant::now(), spi).unwrap(),
                Collide::Ike => self.sa().rekey_ike(Instant::now()).unwrap(),
            }
            // Ours goes out before we even look at the peer's.
            self.flush();
            println!("sent our {c:?} rekey across charon's");
        }
        if let Err(e) = self.sa().handle_input(Instant::now(), &data) {
            eprintln!("dropped a datagram: {e}");
        }
    }

    /// Runs until the IKE SA reports an event.
    fn event(&mut self, deadline: Instant, waiting_for: &str) -> Event {
        loop {
            assert!(Instant::now() < deadline, "no event within the time limit, waiting for {waiting_for}");
            if let Some(e) = self.sa.as_mut().and_then(IkeSa::poll_event) {
                println!("event: {}", short(&e));
                return e;
            }
            self.step();
        }
    }

    /// An ICMP echo 192.0.2.201 -> 192.0.2.202 (or from `src`) through `child`; the reply
    /// must come back in it. Keeps the IKE SA running meanwhile.
    fn ping(&mut self, child: &ChildSa, src: [u8; 4], dst: [u8; 4], what: &str) {
        let (inbound, outbound) = child.esp_params().expect("ESP parameters");
        let mut sender = l2sec_esp::OutboundSa::new(&outbound).unwrap();
        let mut receiver = l2sec_esp::InboundSa::new(&inbound).unwrap();
        let deadline = Instant::now() + Duration::from_secs(6);
        let mut seq = 0u16;
        while Instant::now() < deadline {
            seq += 1;
            let packet = echo_request(0x4c33, seq, src, dst);
            let head = sender.headroom();
            let mut buf = vec![0u8; head + packet.len() + sender.tailroom()];
            buf[head..head + packet.len()].copy_from_slice(&packet);
            let esp = sender.encapsulate(&mut buf, head..head + packet.len(), 4).unwrap();
            self.s4500.send_to(esp, self.peer4500).unwrap();
            let wait = Instant::now() + Duration::from_millis(500);
            while Instant::now() < wait {
                self.step();
                for mut d in std::mem::take(&mut self.esp) {
                    if d[..4] != child.spi_in.to_be_bytes() {
                        continue;
                    }
                    let opened =
                        receiver.decapsulate(&mut d).expect("charon's ESP decrypts with our inbound SA");
                    let reply = &opened.payload[..];
                    assert_eq!((reply[9], reply[20]), (1, 0), "ICMP echo reply");
                    assert_eq!((&reply[12..16], &reply[16..20]), (&dst[..], &src[..]));
                    println!("ping through charon {what}: echo reply in ESP spi {:08x}", child.spi_in);
                    return;
                }
            }
        }
        panic!("no ESP echo reply from charon {what} within 6 s");
    }
}

fn short(e: &Event) -> String {
    match e {
        Event::Established { child, internal, initial_contact, .. } => format!(
            "Established spi_in {:08x} spi_out {:08x} internal {internal:?} initial_contact {initial_contact}",
            child.spi_in, child.spi_out
        ),
        Event::ChildSaCreated { child, .. } => {
            format!("ChildSaCreated spi_in {:08x} spi_out {:08x}", child.spi_in, child.spi_out)
        }
        Event::ChildSaRekeyed { old_spi_in, child, .. } => format!(
            "ChildSaRekeyed old {old_spi_in:08x} -> spi_in {:08x} spi_out {:08x}",
            child.spi_in, child.spi_out
        ),
        Event::IkeSaRekeyed { spis, .. } => {
            format!("IkeSaRekeyed {}_i {}_r", hex::encode(spis.0), hex::encode(spis.1))
        }
        other => format!("{other:?}"),
    }
}

/// RFC 1071 Internet checksum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 =
        data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(id: u16, seq: u16, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"l2sec ikev2 rekey ping");
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = u16::try_from(20 + icmp.len()).unwrap();
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

fn tunnel_config(me: &str, peer: &str, local: &str, remote: &str) -> IkeSaConfig {
    let mut config = IkeSaConfig::new(
        PSK,
        Identity::ip(me.parse().unwrap()),
        format!("{me}:500").parse().unwrap(),
        format!("{peer}:500").parse().unwrap(),
    );
    config.proposals = vec![IkeSuite::aes128_sha256(DhGroup::Modp2048)];
    // libipsec in the lab only does tunnel mode with UDP encapsulation (lab README).
    config.force_encapsulation = true;
    config.child.mode = EspMode::Tunnel;
    config.child.local_ts = vec![TrafficSelector::ipv4_host(local.parse().unwrap(), 0, None)];
    config.child.remote_ts = vec![TrafficSelector::ipv4_host(remote.parse().unwrap(), 0, None)];
    config
}

fn log_lines<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

fn assert_log(lab: &Lab, name: &str, needles: &[&str]) {
    let log = lab.charon_log_full(name);
    for needle in needles {
        let lines = log_lines(&log, needle);
        assert!(!lines.is_empty(), "charon log lacks {needle:?}:\n{}", lab.charon_log(name, 80));
        println!("charon: {}", lines[0]);
    }
}

fn finish_inner(lab: &Lab, inner: std::process::Child, charon: &str) -> String {
    let inner = inner.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&inner.stdout).into_owned();
    assert!(
        inner.status.success(),
        "inner run failed:\n{out}\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stderr),
        lab.charon_log(charon, 80)
    );
    println!("{out}");
    out
}

/// l2sec initiates everything: a Child SA rekey, a ping through the new Child SA, an IKE
/// SA rekey, a ping through the Child SA on the new IKE SA, an additional Child SA with
/// PFS, its Delete, and the Delete of the IKE SA.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_rekeys_started_by_l2sec_against_charon() {
    let test = "ikev2_rekeys_started_by_l2sec_against_charon";
    if std::env::var_os(INNER_ENV).is_some() {
        return inner_l2sec_rekeys();
    }
    let lab = Lab::up("hv2i", INNER_ENV);
    // The additional Child SA asks for PFS with MODP-2048.
    lab.run_env(
        &["start", "srv", "hv2i-b", "responder"],
        &[("V2_ESP_PROPOSALS_RESP", "aes128-sha256, aes128-sha256-modp2048")],
    );
    let inner = lab.spawn_inner("a", test);
    let out = finish_inner(&lab, inner, "srv");
    for needle in [
        "ping through charon after the Child SA rekey",
        "ping through charon after the IKE SA rekey",
        "additional Child SA",
        "closed by our Delete",
    ] {
        assert!(out.contains(needle), "inner run lacks {needle:?}:\n{out}");
    }
    assert_log(
        &lab,
        "srv",
        &[
            // INITIAL_CONTACT in our IKE_AUTH.
            "parsed IKE_AUTH request 1 [ IDi AUTH N(INIT_CONTACT) SA TSi TSr ]",
            // The Child SA rekey, the IKE SA rekey, the additional Child SA with PFS.
            "parsed CREATE_CHILD_SA request 2 [ N(REKEY_SA) SA No TSi TSr ]",
            "parsed CREATE_CHILD_SA request 4 [ SA No KE ]",
            "parsed CREATE_CHILD_SA request 0 [ SA No KE TSi TSr ]",
            "received DELETE for ESP CHILD_SA",
            "received DELETE for IKE_SA r-v2",
        ],
    );
}

fn inner_l2sec_rekeys() {
    let mut d = Driver::bind("192.0.2.1", "192.0.2.2");
    let config = tunnel_config("192.0.2.1", "192.0.2.2", "192.0.2.201", "192.0.2.202");
    let extra_child = {
        let mut c = config.child.clone();
        c.pfs = Some(DhGroup::Modp2048);
        c
    };
    d.sa =
        Some(IkeSa::initiate(config, ChaCha20Rng::seed_from_u64(seed()), Instant::now()).expect("initiate"));
    let deadline = Instant::now() + Duration::from_secs(40);
    let Event::Established { child, .. } = d.event(deadline, "Established") else {
        panic!("not established")
    };
    d.ping(&child, [192, 0, 2, 201], [192, 0, 2, 202], "on the first Child SA");
    let spis = d.sa().spis();
    d.sa().rekey_child(Instant::now(), child.spi_in).unwrap();
    let Event::ChildSaRekeyed { old_spi_in, child: new, .. } = d.event(deadline, "ChildSaRekeyed") else {
        panic!("no Child SA rekey")
    };
    assert_eq!(old_spi_in, child.spi_in);
    assert_eq!(d.event(deadline, "ChildDeleted"), Event::ChildDeleted { spi_in: child.spi_in });
    d.ping(&new, [192, 0, 2, 201], [192, 0, 2, 202], "after the Child SA rekey");
    d.sa().rekey_ike(Instant::now()).unwrap();
    let Event::IkeSaRekeyed { spis: new_spis, .. } = d.event(deadline, "IkeSaRekeyed") else {
        panic!("no IKE SA rekey")
    };
    assert!(new_spis.0 != spis.0 && new_spis.1 != spis.1);
    // Let the old IKE SA's Delete be answered, then use the new one.
    let settle = Instant::now() + Duration::from_millis(700);
    while Instant::now() < settle {
        d.step();
    }
    d.ping(&new, [192, 0, 2, 201], [192, 0, 2, 202], "after the IKE SA rekey");
    d.sa().create_child(Instant::now(), extra_child).unwrap();
    let Event::ChildSaCreated { child: extra, .. } = d.event(deadline, "ChildSaCreated") else {
        panic!("no additional Child SA")
    };
    println!("additional Child SA with PFS: spi_in {:08x}", extra.spi_in);
    d.sa().delete_child(Instant::now(), extra.spi_in).unwrap();
    assert_eq!(d.event(deadline, "ChildDeleted"), Event::ChildDeleted { spi_in: extra.spi_in });
    d.sa().delete(Instant::now()).unwrap();
    assert_eq!(d.event(deadline, "Closed"), Event::Closed);
    println!("closed by our Delete");
}

/// charon starts the rekeys (`swanctl --rekey --child`, then `--ike`) of an IKE SA l2sec
/// initiated; l2sec answers as responder of those exchanges and pings through the new
/// Child SA.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_rekeys_started_by_charon() {
    let test = "ikev2_rekeys_started_by_charon";
    if std::env::var_os(INNER_ENV).is_some() {
        return inner_charon_rekeys();
    }
    let lab = Lab::up("hv2c", INNER_ENV);
    lab.run(&["start", "srv", "hv2c-b", "responder"]);
    let inner = lab.spawn_inner("a", test);
    wait_for(&lab, "srv", "state=INSTALLED", 20);
    std::thread::sleep(Duration::from_millis(1500)); // the first ping
    let rekey_child = lab.run(&["swanctl", "srv", "--rekey", "--child", "v2-tun"]);
    println!("{}", String::from_utf8_lossy(&rekey_child.stdout).trim());
    std::thread::sleep(Duration::from_millis(1500));
    let rekey_ike = lab.run(&["swanctl", "srv", "--rekey", "--ike", "r-v2"]);
    println!("{}", String::from_utf8_lossy(&rekey_ike.stdout).trim());
    let out = finish_inner(&lab, inner, "srv");
    assert!(out.contains("ping through charon after charon's rekeys"), "{out}");
    assert_log(
        &lab,
        "srv",
        &[
            "generating CREATE_CHILD_SA request 0 [ N(REKEY_SA) SA No TSi TSr ]",
            "sending DELETE for ESP CHILD_SA",
            "generating CREATE_CHILD_SA request 2 [ SA No KE ]",
            "parsed CREATE_CHILD_SA response 2 [ SA No KE ]",
            "rekeyed between 192.0.2.2[192.0.2.2]...192.0.2.1[192.0.2.1]",
        ],
    );
}

fn wait_for(lab: &Lab, name: &str, needle: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let sas = lab.run(&["swanctl", name, "--list-sas", "--raw"]);
        if String::from_utf8_lossy(&sas.stdout).contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "charon never showed {needle}:\n{}", lab.charon_log(name, 60));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn inner_charon_rekeys() {
    let mut d = Driver::bind("192.0.2.1", "192.0.2.2");
    let config = tunnel_config("192.0.2.1", "192.0.2.2", "192.0.2.201", "192.0.2.202");
    d.sa =
        Some(IkeSa::initiate(config, ChaCha20Rng::seed_from_u64(seed()), Instant::now()).expect("initiate"));
    let deadline = Instant::now() + Duration::from_secs(40);
    let Event::Established { child, .. } = d.event(deadline, "Established") else {
        panic!("not established")
    };
    d.ping(&child, [192, 0, 2, 201], [192, 0, 2, 202], "on the first Child SA");
    let mut current = child.clone();
    let (mut child_rekeyed, mut old_deleted, mut ike_rekeyed) = (false, false, false);
    while !(child_rekeyed && old_deleted && ike_rekeyed) {
        match d.event(deadline, "charon's rekeys") {
            Event::ChildSaRekeyed { old_spi_in, child: new, .. } => {
                assert_eq!(old_spi_in, current.spi_in);
                current = new;
                child_rekeyed = true;
            }
            Event::ChildDeleted { spi_in } => {
                assert_eq!(spi_in, child.spi_in, "charon deletes the old Child SA");
                old_deleted = true;
            }
            Event::IkeSaRekeyed { .. } => ike_rekeyed = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    let settle = Instant::now() + Duration::from_millis(700);
    while Instant::now() < settle {
        d.step();
    }
    d.ping(&current, [192, 0, 2, 201], [192, 0, 2, 202], "after charon's rekeys");
    d.sa().delete(Instant::now()).unwrap();
    assert_eq!(d.event(deadline, "Closed"), Event::Closed);
}

/// charon initiates with a virtual IP request (`vips = 0.0.0.0`) against l2sec's
/// responder, which demands a COOKIE first (threshold 0) and assigns 10.99.0.7 and a DNS
/// server through CP; then charon rekeys the Child SA and the IKE SA, l2sec (the
/// responder) rekeys the Child SA, and the ping goes through it from the virtual IP.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_responder_cookie_and_virtual_ip_against_charon() {
    let test = "ikev2_responder_cookie_and_virtual_ip_against_charon";
    if std::env::var_os(INNER_ENV).is_some() {
        return inner_vip_responder();
    }
    let lab = Lab::up("hv2v", INNER_ENV);
    lab.run(&["start", "cli", "hv2v-a", "initiator"]);
    let conf = lab.state.join("vip.conf");
    std::fs::write(
        &conf,
        "connections {
    i-vip {
        version = 2
        local_addrs = %any
        remote_addrs = 192.0.2.2
        proposals = aes128-sha256-modp2048
        vips = 0.0.0.0
        encap = yes
        mobike = no
        local {
            auth = psk
        }
        remote {
            auth = psk
            id = %any
        }
        children {
            v2-vip {
                mode = tunnel
                local_ts = dynamic
                remote_ts = 192.0.2.202/32
                esp_proposals = aes128-sha256
            }
        }
    }
}
",
    )
    .unwrap();
    lab.run(&["swanctl", "cli", "--load-conns", "--file", conf.to_str().unwrap()]);
    let inner = lab.spawn_inner("b", test);
    std::thread::sleep(Duration::from_millis(300)); // let the responder bind its ports
    let up = lab.cmd().args(["up", "cli", "v2-vip", "15"]).output().unwrap();
    println!("{}", String::from_utf8_lossy(&up.stdout));
    assert!(up.status.success(), "charon's `up` failed:\n{}", lab.charon_log("cli", 80));
    let sas = lab.run(&["swanctl", "cli", "--list-sas", "--raw"]);
    let sas = String::from_utf8_lossy(&sas.stdout).into_owned();
    assert!(sas.contains("10.99.0.7"), "charon did not take the virtual IP:\n{sas}");
    std::thread::sleep(Duration::from_millis(500));
    lab.run(&["swanctl", "cli", "--rekey", "--child", "v2-vip"]);
    std::thread::sleep(Duration::from_millis(1500));
    lab.run(&["swanctl", "cli", "--rekey", "--ike", "i-vip"]);
    let out = finish_inner(&lab, inner, "cli");
    for needle in [
        "COOKIE challenge sent to charon",
        "charon passed the COOKIE check",
        "assigned 10.99.0.7",
        "ping through charon after all rekeys",
    ] {
        assert!(out.contains(needle), "inner run lacks {needle:?}:\n{out}");
    }
    assert_log(
        &lab,
        "cli",
        &[
            "received COOKIE notify",
            "installing new virtual IP 10.99.0.7",
            // Its own Child SA and IKE SA rekeys, then ours of the Child SA.
            "generating CREATE_CHILD_SA request 2 [ N(REKEY_SA) SA No TSi TSr ]",
            "generating CREATE_CHILD_SA request 4 [ SA No KE ]",
            "parsed CREATE_CHILD_SA request 0 [ N(REKEY_SA) SA No TSi TSr ]",
        ],
    );
}

fn inner_vip_responder() {
    let mut d = Driver::bind("192.0.2.2", "192.0.2.1");
    let mut config = tunnel_config("192.0.2.2", "192.0.2.1", "192.0.2.202", "10.99.0.7");
    config.force_encapsulation = false;
    config.internal_config = Some(InternalConfig {
        address: Some(Ipv4Addr::new(10, 99, 0, 7)),
        dns: vec![Ipv4Addr::new(10, 99, 0, 53)],
    });
    let guard =
        CookieGuard::new(0, Duration::from_secs(60), ChaCha20Rng::seed_from_u64(seed()), Instant::now());
    d.guard = Some((guard, config));
    let deadline = Instant::now() + Duration::from_secs(40);
    while d.sa.is_none() {
        assert!(Instant::now() < deadline, "charon never got past the COOKIE");
        d.step();
    }
    let Event::Established { child, internal, initial_contact, .. } = d.event(deadline, "Established") else {
        panic!("not established")
    };
    let internal = internal.expect("charon asked for an address");
    println!("assigned {} (INITIAL_CONTACT {initial_contact})", internal.address.unwrap());
    assert!(d.challenges >= 1);
    let mut current = child.clone();
    let (mut child_rekeyed, mut ike_rekeyed) = (false, false);
    while !(child_rekeyed && ike_rekeyed) {
        match d.event(deadline, "charon's rekeys") {
            Event::ChildSaRekeyed { old_spi_in, child: new, .. } => {
                assert_eq!(old_spi_in, current.spi_in);
                current = new;
                child_rekeyed = true;
            }
            Event::ChildDeleted { .. } => {}
            Event::IkeSaRekeyed { .. } => ike_rekeyed = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    // Now the responder rekeys the Child SA itself.
    let settle = Instant::now() + Duration::from_millis(700);
    while Instant::now() < settle {
        d.step();
    }
    d.sa().rekey_child(Instant::now(), current.spi_in).unwrap();
    let Event::ChildSaRekeyed { child: ours, .. } = d.event(deadline, "our ChildSaRekeyed") else {
        panic!("our Child SA rekey failed")
    };
    assert!(matches!(d.event(deadline, "ChildDeleted"), Event::ChildDeleted { .. }));
    // The tunnel: 192.0.2.202 (our side) <-> 10.99.0.7 (charon's virtual IP).
    d.ping(&ours, [192, 0, 2, 202], [10, 99, 0, 7], "after all rekeys");
    d.sa().delete(Instant::now()).unwrap();
    assert_eq!(d.event(deadline, "Closed"), Event::Closed);
}

/// RFC 7383 against charon: both sides with small fragment sizes (ours 300 bytes,
/// charon's `fragment_size = 300`), so IKE_AUTH and a CREATE_CHILD_SA with a MODP-2048 KE
/// go as fragments both ways; then a ping through the Child SA.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_fragmentation_against_charon() {
    let test = "ikev2_fragmentation_against_charon";
    if std::env::var_os(INNER_ENV).is_some() {
        return inner_fragmentation();
    }
    let lab = Lab::up("hv2f", INNER_ENV);
    let extra = lab.state.join("frag.conf");
    std::fs::write(&extra, "charon {\n    fragment_size = 300\n}\n").unwrap();
    lab.run_env(
        &["start", "srv", "hv2f-b", "responder"],
        &[
            ("EXTRA_CONF", extra.to_str().unwrap()),
            ("V2_ESP_PROPOSALS_RESP", "aes128-sha256, aes128-sha256-modp2048"),
        ],
    );
    let inner = lab.spawn_inner("a", test);
    let out = finish_inner(&lab, inner, "srv");
    for needle in ["fragments sent", "ping through charon over fragmented IKE", "closed by our Delete"] {
        assert!(out.contains(needle), "inner run lacks {needle:?}:\n{out}");
    }
    assert_log(
        &lab,
        "srv",
        &[
            "received fragment #1 of",
            "IKE_AUTH request 1 [ EF(1/",
            "reassembled fragmented IKE message",
            "generating IKE_AUTH response 1 [ IDr AUTH SA TSi TSr ]",
            "splitting IKE message",
        ],
    );
}

fn inner_fragmentation() {
    let mut d = Driver::bind("192.0.2.1", "192.0.2.2");
    let mut config = tunnel_config("192.0.2.1", "192.0.2.2", "192.0.2.201", "192.0.2.202");
    config.fragment_size = Some(300);
    let mut extra_child = config.child.clone();
    extra_child.pfs = Some(DhGroup::Modp2048);
    d.sa =
        Some(IkeSa::initiate(config, ChaCha20Rng::seed_from_u64(seed()), Instant::now()).expect("initiate"));
    let deadline = Instant::now() + Duration::from_secs(40);
    let Event::Established { child, .. } = d.event(deadline, "Established") else {
        panic!("not established")
    };
    println!("IKE_AUTH fragments sent and charon's reassembled");
    d.sa().create_child(Instant::now(), extra_child).unwrap();
    let Event::ChildSaCreated { child: extra, .. } = d.event(deadline, "ChildSaCreated") else {
        panic!("no additional Child SA")
    };
    d.sa().delete_child(Instant::now(), extra.spi_in).unwrap();
    assert_eq!(d.event(deadline, "ChildDeleted"), Event::ChildDeleted { spi_in: extra.spi_in });
    d.ping(&child, [192, 0, 2, 201], [192, 0, 2, 202], "over fragmented IKE");
    d.sa().delete(Instant::now()).unwrap();
    assert_eq!(d.event(deadline, "Closed"), Event::Closed);
    println!("closed by our Delete");
}

/// RFC 7296 §2.8.1, §2.8.2 against charon: when charon's rekey request arrives, l2sec
/// sends its own rekey of the same SA first, so the two cross (a Child SA rekey, then an
/// IKE SA rekey). Both sides must settle on the same survivor: one IKE SA, one Child SA,
/// and the ping goes through it.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_simultaneous_rekeys_with_charon() {
    let test = "ikev2_simultaneous_rekeys_with_charon";
    if std::env::var_os(INNER_ENV).is_some() {
        return inner_simultaneous();
    }
    let lab = Lab::up("hv2s", INNER_ENV);
    lab.run(&["start", "srv", "hv2s-b", "responder"]);
    let inner = lab.spawn_inner("a", test);
    wait_for(&lab, "srv", "state=INSTALLED", 20);
    std::thread::sleep(Duration::from_millis(1500)); // the first ping
    lab.run(&["swanctl", "srv", "--rekey", "--child", "v2-tun"]);
    std::thread::sleep(Duration::from_millis(2500));
    lab.run(&["swanctl", "srv", "--rekey", "--ike", "r-v2"]);
    std::thread::sleep(Duration::from_millis(2500));
    let sas = lab.run(&["swanctl", "srv", "--list-sas", "--raw"]);
    let sas = String::from_utf8_lossy(&sas.stdout).into_owned();
    let out = finish_inner(&lab, inner, "srv");
    assert!(out.contains("sent our Child"), "{out}");
    assert!(out.contains("sent our Ike"), "{out}");
    assert!(out.contains("ping through charon after both collisions"), "{out}");
    println!("charon after the collisions: {sas}");
    assert_eq!(sas.matches("r-v2 {").count(), 1, "charon should keep one IKE SA:\n{sas}");
    assert_eq!(sas.matches("state=INSTALLED").count(), 1, "charon should keep one Child SA:\n{sas}");
    assert!(out.contains("survivor spi_in"), "{out}");
    let survivor = out.lines().find(|l| l.starts_with("survivor")).unwrap();
    let spi_out = survivor.split_whitespace().last().unwrap();
    assert!(sas.contains(&format!("spi-in={spi_out}")), "charon's survivor is not ours ({spi_out}):\n{sas}");
    // Both kept the same IKE SA.
    let ike = out.lines().find(|l| l.starts_with("event: IkeSaRekeyed")).unwrap();
    let spi_i = ike.split_whitespace().nth(2).unwrap().trim_end_matches("_i");
    assert!(
        sas.contains(&format!("initiator-spi={spi_i}")),
        "charon kept another IKE SA than {spi_i}:\n{sas}"
    );
    assert_log(&lab, "srv", &["CHILD_SA rekey collision", "IKE_SA rekey collision"]);
}

fn inner_simultaneous() {
    let mut d = Driver::bind("192.0.2.1", "192.0.2.2");
    let config = tunnel_config("192.0.2.1", "192.0.2.2", "192.0.2.201", "192.0.2.202");
    d.sa =
        Some(IkeSa::initiate(config, ChaCha20Rng::seed_from_u64(seed()), Instant::now()).expect("initiate"));
    let deadline = Instant::now() + Duration::from_secs(40);
    let Event::Established { child, .. } = d.event(deadline, "Established") else {
        panic!("not established")
    };
    d.ping(&child, [192, 0, 2, 201], [192, 0, 2, 202], "on the first Child SA");
    d.collide = Some(Collide::Child(child.spi_in));
    let mut current = child.clone();
    let (mut rekeyed, mut deleted) = (false, false);
    while !(rekeyed && deleted) {
        match d.event(deadline, "the Child SA collision") {
            Event::ChildSaRekeyed { old_spi_in, child: new, .. } => {
                assert_eq!(old_spi_in, child.spi_in);
                current = new;
                rekeyed = true;
            }
            Event::ChildDeleted { spi_in } => {
                assert_eq!(spi_in, child.spi_in);
                deleted = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    d.collide = Some(Collide::Ike);
    match d.event(deadline, "the IKE SA collision") {
        Event::IkeSaRekeyed { .. } => {}
        other => panic!("unexpected {other:?}"),
    }
    let settle = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < settle {
        d.step();
        if let Some(e) = d.sa().poll_event() {
            panic!("unexpected {e:?}");
        }
    }
    assert_eq!(d.sa().child_spis(), [current.spi_in]);
    d.ping(&current, [192, 0, 2, 201], [192, 0, 2, 202], "after both collisions");
    println!("survivor spi_in {:08x} spi_out {:08x}", current.spi_in, current.spi_out);
    // Stay until the outer run has looked at charon's SAs.
    let stay = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < stay {
        d.step();
    }
}

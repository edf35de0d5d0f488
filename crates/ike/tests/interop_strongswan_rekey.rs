//! Interop: the IKEv1 [`Connection`] against a real strongSwan charon: rekeying of both
//! phases started by either side, Deletes both ways, a ping through the tunnel-mode
//! Child SA (charon's kernel-libipsec on one end, l2sec-esp on ours) before and after a
//! rekey, and the phase-1 proposals issue 3 names.
//!
//! Each test brings up the lab (../shared/lab/strongswan/peer.sh), starts charon in one
//! namespace and runs itself again in the other, where a [`Endpoint`] drives the
//! connection over UDP 500/4500 and commands charon through `peer.sh swanctl` (the
//! vici socket is a file, reachable from either namespace). Needs root and the lab
//! packages; fails (never skips) without them.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child as Process, Command};
use std::time::{Duration, Instant, SystemTime};

use l2sec_ike::child::{ChildSa, EspEncapsulation, EspEncryption, EspIntegrity, EspMode};
use l2sec_ike::crypto::{CipherAlgorithm, DhGroup, PrfAlgorithm};
use l2sec_ike::v1::connection::{Connection, ConnectionConfig, ConnectionEvent, DeleteReason};
use l2sec_ike::v1::phase1::{Identity, NatTraversal, Phase1Config, Phase1Proposal};
use l2sec_ike::v1::quick::{EspProposal, QuickModeConfig, SelectorPattern, SelectorPolicy, TrafficSelector};
use l2sec_ike::wire::v1::IdType;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

mod strongswan_lab;

use strongswan_lab::{Lab, lab_dir};

const INNER_ENV: &str = "L2SEC_IKE_REKEY_INNER";
const PSK: &[u8] = b"lab-psk-0123456789";

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs the inner half in namespace `ns` and checks it succeeded; returns its stdout.
fn run_inner(lab: &Lab, ns: &str, test: &str, charon: &str) -> String {
    let inner = lab.spawn_inner(ns, test).wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&inner.stdout).into_owned();
    assert!(
        inner.status.success(),
        "inner run failed:\n{}\n{}\n--- charon log tail:\n{}",
        tail(&out, 80),
        String::from_utf8_lossy(&inner.stderr),
        tail(&lab.charon_log_full(charon), 80)
    );
    for l in
        out.lines().filter(|l| l.starts_with("STEP") || (l.starts_with("EVENT") && l.contains("Deleted")))
    {
        println!("{l}");
    }
    out
}

/// [`Lab::spawn_inner`] with extra environment for the inner run.
fn spawn_inner_with(lab: &Lab, ns: &str, test: &str, env: &[(&str, &str)]) -> Process {
    lab.cmd()
        .args(["exec", ns])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--ignored", "--nocapture"])
        .env(INNER_ENV, "1")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap()
}

/// tshark as the oracle: every IKE message of the capture (rekeys, Deletes, notifies
/// included) decodes without a malformed or error-level expert note, and every encrypted
/// one and every ESP packet decrypts with the keys charon logged (the lab's decode.sh).
fn check_capture(lab: &Lab, charon: &str, tag: &str) {
    let root = lab.state.join("ss");
    let pcap = root.join(format!("{tag}.pcapng"));
    let ws = root.join("ws");
    lab.run(&["keys", ws.to_str().unwrap(), charon]);
    let decode = Command::new(lab_dir().join("tools/decode.sh")).arg(&pcap).arg(&ws).output().unwrap();
    let summary = String::from_utf8_lossy(&decode.stdout);
    println!("decode.sh: {}", summary.lines().last().unwrap_or(""));
    assert!(decode.status.success(), "decode.sh:\n{summary}");
    let full = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", &ws)
        .args(["-n", "-r"])
        .arg(&pcap)
        .args(["-V", "-Y", "isakmp"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&full.stdout);
    assert!(!text.contains("Malformed"), "tshark found a malformed packet");
    assert!(!text.contains("[Severity level: Error]"), "tshark expert error");
    let delete_payloads = text.matches("Payload: Delete").count();
    println!("tshark: {delete_payloads} ISAKMP Delete payloads decoded");
    assert!(
        delete_payloads >= 4,
        "expected our Deletes (2 ESP after rekeys, 1 ISAKMP, close): {delete_payloads}"
    );
}

// --- the inner half ---------------------------------------------------------------------

/// `peer.sh swanctl NAME ARGS` from inside a namespace (environment inherited from the
/// outer `peer.sh exec`).
fn swanctl(name: &str, args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(lab_dir().join("peer.sh"))
        .arg("swanctl")
        .arg(name)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The same, in the background (commands that wait for an exchange to finish).
fn swanctl_spawn(name: &str, args: &[&str]) -> Process {
    Command::new("bash")
        .arg(lab_dir().join("peer.sh"))
        .arg("swanctl")
        .arg(name)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn seed() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Our configuration: tunnel .201 <-> .202 in UDP encapsulation (charon's libipsec
/// needs it), NAT-T with forced encapsulation, the given phase-1 proposals and lifetimes.
fn config(initiator: bool, proposals: Vec<Phase1Proposal>, child_life: Duration) -> ConnectionConfig {
    let (me, peer) = if initiator { ("192.0.2.1", "192.0.2.2") } else { ("192.0.2.2", "192.0.2.1") };
    let mut p1 = Phase1Config::new(PSK, Identity::ipv4(me.parse().unwrap()));
    p1.proposals = proposals;
    p1.nat_traversal = Some(NatTraversal {
        local: format!("{me}:500").parse().unwrap(),
        remote: format!("{peer}:500").parse().unwrap(),
        force_encapsulation: initiator,
    });
    let (local, remote) = if initiator { (201, 202) } else { (202, 201) };
    let quick = QuickModeConfig {
        proposals: vec![EspProposal {
            encryption: EspEncryption::AesCbc { key_len: 16 },
            integrity: EspIntegrity::HmacSha1_96,
            lifetime: child_life,
        }],
        mode: EspMode::Tunnel,
        encapsulation: EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 },
        traffic_selectors: Some((
            TrafficSelector { id_type: IdType::Ipv4Addr, protocol: 0, port: 0, data: vec![192, 0, 2, local] },
            TrafficSelector {
                id_type: IdType::Ipv4Addr,
                protocol: 0,
                port: 0,
                data: vec![192, 0, 2, remote],
            },
        )),
        retransmit_timeout: Duration::from_secs(1),
        max_retransmits: 4,
        pfs_group: None,
        nat_oa: None,
    };
    let mut c = ConnectionConfig::new(p1, quick);
    c.delete_rekeyed_after = Duration::from_millis(500);
    c
}

fn proposal(
    encryption: CipherAlgorithm,
    hash: PrfAlgorithm,
    group: DhGroup,
    life: Duration,
) -> Phase1Proposal {
    Phase1Proposal { encryption, hash, group, lifetime: life }
}

/// Our IKE endpoint: a [`Connection`] on UDP 500 and 4500, with the ESP SAs it
/// negotiated (for pings).
struct Endpoint {
    conn: Connection<ChaCha20Rng>,
    s500: UdpSocket,
    s4500: UdpSocket,
    peer500: SocketAddr,
    peer4500: SocketAddr,
    children: HashMap<u32, ChildSa>,
    inbound: HashMap<u32, l2sec_esp::InboundSa>,
    events: Vec<ConnectionEvent>,
    /// Inbound SPIs on which an ICMP echo reply arrived.
    ping_replies: Vec<u32>,
    started: Instant,
    /// (our inner host, charon's inner host), last address byte.
    inner: (u8, u8),
}

impl Endpoint {
    fn new(initiator: bool, config: ConnectionConfig) -> Self {
        let (me, peer) = if initiator { ("192.0.2.1", "192.0.2.2") } else { ("192.0.2.2", "192.0.2.1") };
        Self::at(me, peer, initiator, config)
    }

    /// An endpoint on `me`, talking to `peer` (ports 500/4500 on both).
    fn at(me: &str, peer: &str, initiator: bool, config: ConnectionConfig) -> Self {
        let s500 = UdpSocket::bind(format!("{me}:500")).expect("bind 500");
        let s4500 = UdpSocket::bind(format!("{me}:4500")).expect("bind 4500");
        for s in [&s500, &s4500] {
            s.set_nonblocking(true).unwrap();
        }
        Self {
            conn: Connection::new(config, ChaCha20Rng::seed_from_u64(seed())),
            s500,
            s4500,
            peer500: format!("{peer}:500").parse().unwrap(),
            peer4500: format!("{peer}:4500").parse().unwrap(),
            children: HashMap::new(),
            inbound: HashMap::new(),
            events: Vec::new(),
            ping_replies: Vec::new(),
            started: Instant::now(),
            inner: if initiator { (201, 202) } else { (202, 201) },
        }
    }

    fn log(&self, what: &str) {
        println!("STEP {:>6.2}s {what}", self.started.elapsed().as_secs_f64());
    }

    /// One round: receive what is there, run timers, then send and collect events.
    fn step(&mut self) {
        self.flush();
        let got = self.receive();
        let now = Instant::now();
        if self.conn.poll_timeout().is_some_and(|t| t <= now) {
            self.conn.handle_timeout(now);
        }
        self.flush();
        if !got {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends what the connection has queued and records its events.
    fn flush(&mut self) {
        let now = Instant::now();
        let mut buf = Vec::new();
        while let Some(t) = self.conn.poll_transmit(now, &mut buf) {
            if t.udp_encapsulated {
                let mut d = vec![0u8; 4];
                d.extend_from_slice(&buf);
                let _ = self.s4500.send_to(&d, self.peer4500);
            } else {
                let _ = self.s500.send_to(&buf, self.peer500);
            }
            buf.clear();
        }
        while let Some(e) = self.conn.poll_event() {
            println!("EVENT {:>6.2}s {e:?}", self.started.elapsed().as_secs_f64());
            match &e {
                ConnectionEvent::ChildSaUp { child, .. } | ConnectionEvent::ChildSaRekeyed { child, .. } => {
                    let (inbound, _) = child.esp_params().expect("ESP parameters");
                    self.inbound.insert(child.spi_in, l2sec_esp::InboundSa::new(&inbound).unwrap());
                    self.children.insert(child.spi_in, (**child).clone());
                }
                ConnectionEvent::ChildSaDeleted { spi_in, .. } => {
                    self.inbound.remove(spi_in);
                    self.children.remove(spi_in);
                }
                _ => {}
            }
            self.events.push(e);
        }
    }

    /// Feeds one datagram from each socket, if any arrived.
    fn receive(&mut self) -> bool {
        let mut rx = [0u8; 65536];
        let mut got = false;
        if let Ok((n, from)) = self.s500.recv_from(&mut rx) {
            self.peer500 = from;
            got = true;
            if let Err(e) = self.conn.handle_input(Instant::now(), &rx[..n]) {
                println!("dropped (500): {e}");
            }
        }
        if let Ok((n, from)) = self.s4500.recv_from(&mut rx) {
            self.peer4500 = from;
            got = true;
            if n >= 4 && rx[..4] == [0, 0, 0, 0] {
                if let Err(e) = self.conn.handle_input(Instant::now(), &rx[4..n]) {
                    println!("dropped (4500): {e}");
                }
            } else if n >= 8 {
                self.esp_input(&mut rx[..n]);
            }
        }
        got
    }

    fn esp_input(&mut self, packet: &mut [u8]) {
        let spi = u32::from_be_bytes([packet[0], packet[1], packet[2], packet[3]]);
        let Some(sa) = self.inbound.get_mut(&spi) else {
            println!("ESP for unknown SPI {spi:08x}");
            return;
        };
        let opened = sa.decapsulate(packet).expect("charon's ESP decrypts with our inbound SA");
        let ip = &opened.payload[..];
        let (me, peer) = self.inner;
        if opened.next_header == 4
            && ip.len() >= 28
            && ip[9] == 1
            && ip[20] == 0
            && ip[15] == peer
            && ip[19] == me
        {
            println!("ping reply from {:?} in ESP spi {spi:08x}", &ip[12..16]);
            self.ping_replies.push(spi);
        }
    }

    /// Steps until `done` holds; panics after `secs`.
    fn until(&mut self, what: &str, secs: u64, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}; events:\n{:#?}", self.events);
            self.step();
        }
        self.log(what);
    }

    /// Steps for `d`.
    fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.step();
        }
    }

    /// Steps while a background `swanctl` runs (at most `secs`).
    fn run_while(&mut self, mut p: Process, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while p.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "swanctl did not finish");
            self.step();
        }
    }

    fn count(&self, f: impl Fn(&ConnectionEvent) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }

    /// ICMP echo from our inner host to charon's through the pair `spi_in`; waits for the reply to
    /// decrypt with that pair's inbound SA.
    fn ping(&mut self, spi_in: u32) {
        let child = self.children.get(&spi_in).expect("installed child").clone();
        let (_, outbound) = child.esp_params().unwrap();
        let mut sender = l2sec_esp::OutboundSa::new(&outbound).unwrap();
        let before = self.ping_replies.iter().filter(|s| **s == spi_in).count();
        for seq in 1..=10u16 {
            let packet = echo_request(0x4c31, seq, self.inner.0, self.inner.1);
            let head = sender.headroom();
            let mut buf = vec![0u8; head + packet.len() + sender.tailroom()];
            buf[head..head + packet.len()].copy_from_slice(&packet);
            let esp = sender.encapsulate(&mut buf, head..head + packet.len(), 4).unwrap();
            self.s4500.send_to(esp, self.peer4500).unwrap();
            let wait = Instant::now() + Duration::from_millis(500);
            while Instant::now() < wait {
                self.step();
                if self.ping_replies.iter().filter(|s| **s == spi_in).count() > before {
                    self.log(&format!("ping through charon on ESP SA {spi_in:08x}"));
                    return;
                }
            }
        }
        panic!("no echo reply through the ESP SA {spi_in:08x}");
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 =
        data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request between the tunnel's inner hosts 192.0.2.`src` -> .`dst`.
fn echo_request(id: u16, seq: u16, src: u8, dst: u8) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"l2sec ikev1 interop ping");
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = u16::try_from(20 + icmp.len()).unwrap();
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 1, 0, 0, 192, 0, 2, src, 192, 0, 2, dst]);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn default_proposals(life: Duration) -> Vec<Phase1Proposal> {
    vec![proposal(CipherAlgorithm::AesCbc128, PrfAlgorithm::HmacSha1, DhGroup::Modp2048, life)]
}

// --- l2sec initiates, charon answers -----------------------------------------------------

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn l2sec_rekeys_both_phases_and_deletes_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_l2sec_initiator();
        return;
    }
    let lab = Lab::up("hv1i", INNER_ENV);
    lab.run(&["start", "srv", "hv1i-b", "responder"]);
    lab.run(&["cap-start", "t", "hv1i-b", "hv1ib0"]);
    let out = run_inner(&lab, "a", "l2sec_rekeys_both_phases_and_deletes_against_charon", "srv");
    lab.run(&["cap-stop", "t"]);
    check_capture(&lab, "srv", "t");
    assert!(out.contains("STEP") && out.contains("closed"), "{}", tail(&out, 40));
    let log = lab.charon_log_full("srv");
    // charon saw our Deletes: for the rekeyed ESP SA, the old ISAKMP SA, and at close.
    assert!(log.contains("received DELETE for ESP CHILD_SA"), "{}", tail(&log, 60));
    assert!(log.contains("received DELETE for IKE_SA"), "{}", tail(&log, 60));
    // charon read our lifetimes: the 12 s and the volume in the variable form.
    for l in log.lines().filter(|l| l.contains("lifetime") || l.contains("lifebytes")).take(4) {
        println!("charon: {l}");
    }
    assert!(log.contains("received 12s lifetime"), "{}", tail(&log, 60));
    // (strongSwan counts a kilobyte as 1000 bytes.)
    assert!(log.contains("received 2000000000 lifebytes"), "charon did not see our volume lifetime");
}

fn inner_l2sec_initiator() {
    // Child lifetime 12 s: the Connection rekeys it by itself at about 10.2-10.8 s. The
    // phase-1 lifetime (100000 s) and the child's volume (2000000 kB) need the variable
    // attribute form.
    let mut config = config(true, default_proposals(Duration::from_secs(100_000)), Duration::from_secs(12));
    config.child_lifetime_kilobytes = Some(2_000_000);
    let mut ep = Endpoint::new(true, config);
    ep.conn.connect(Instant::now()).unwrap();
    ep.until("child up", 15, |e| !e.conn.active_children().is_empty());
    let first = ep.conn.active_children()[0];
    ep.ping(first);
    let first_out = ep.children[&first].spi_out;
    let sas = swanctl("srv", &["--list-sas", "--raw"]);
    assert!(sas.contains(&format!("spi-in={first_out:08x}")), "charon lacks our first SA:\n{sas}");

    // Phase-2 rekey by command.
    ep.conn.rekey_child(Instant::now(), first).unwrap();
    ep.until("child rekeyed by command", 10, |e| {
        e.count(|x| matches!(x, ConnectionEvent::ChildSaRekeyed { old_spi_in, .. } if *old_spi_in == first))
            == 1
    });
    let second = *ep.conn.active_children().last().unwrap();
    ep.until("old child deleted", 5, |e| !e.conn.installed_children().contains(&first));
    ep.ping(second);
    ep.run_for(Duration::from_millis(300));
    let sas = swanctl("srv", &["--list-sas", "--raw"]);
    let second_out = ep.children[&second].spi_out;
    assert!(sas.contains(&format!("spi-in={second_out:08x}")), "charon lacks the rekeyed SA:\n{sas}");
    assert!(!sas.contains(&format!("spi-in={first_out:08x}")), "charon kept the deleted SA:\n{sas}");
    ep.log("charon holds only the new ESP SA");

    // Phase-1 rekey by command: the old ISAKMP SA is deleted, charon keeps the new one.
    let old_sa = ep.conn.current_isakmp_sa().unwrap();
    ep.conn.rekey_phase1(Instant::now()).unwrap();
    ep.until("phase 1 rekeyed", 10, |e| e.count(|x| matches!(x, ConnectionEvent::Phase1Rekeyed { .. })) == 1);
    ep.until("old ISAKMP SA deleted", 5, |e| e.conn.isakmp_sas().len() == 1);
    let new_sa = ep.conn.current_isakmp_sa().unwrap();
    assert_ne!(old_sa, new_sa);
    ep.run_for(Duration::from_millis(300));
    let sas = swanctl("srv", &["--list-sas", "--raw"]);
    assert!(sas.contains(&hex(&new_sa.0)), "charon lacks the new ISAKMP SA:\n{sas}");
    assert!(!sas.contains(&hex(&old_sa.0)), "charon kept the old ISAKMP SA:\n{sas}");
    ep.log("charon holds only the new ISAKMP SA");

    // Phase-2 rekey by lifetime, under the new ISAKMP SA.
    ep.until("child rekeyed by lifetime", 15, |e| {
        e.count(|x| matches!(x, ConnectionEvent::ChildSaRekeyed { old_spi_in, .. } if *old_spi_in == second))
            == 1
    });
    let third = *ep.conn.active_children().last().unwrap();
    ep.until("second old child deleted", 5, |e| !e.conn.installed_children().contains(&second));
    ep.ping(third);

    // Delete one ESP SA, then close everything.
    ep.conn.delete_child(Instant::now(), third).unwrap();
    ep.run_for(Duration::from_millis(500));
    let sas = swanctl("srv", &["--list-sas", "--raw"]);
    assert!(!sas.contains("state=INSTALLED"), "charon kept a deleted ESP SA:\n{sas}");
    assert!(sas.contains("state=ESTABLISHED"), "the ISAKMP SA should stay:\n{sas}");
    ep.log("charon removed the ESP SA we deleted");
    ep.conn.close(Instant::now());
    ep.run_for(Duration::from_millis(500));
    let sas = swanctl("srv", &["--list-sas", "--raw"]);
    assert!(!sas.contains("state=ESTABLISHED"), "charon kept the ISAKMP SA after our Delete:\n{sas}");
    ep.log("closed: charon holds no SA");
}

// --- charon initiates, l2sec answers -----------------------------------------------------

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn charon_rekeys_both_phases_and_deletes_against_l2sec() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_l2sec_responder();
        return;
    }
    let lab = Lab::up("hv1r", INNER_ENV);
    lab.run_env(&["start", "cli", "hv1r-a", "initiator"], &[("ENCAP", "yes")]);
    let out = run_inner(&lab, "b", "charon_rekeys_both_phases_and_deletes_against_l2sec", "cli");
    assert!(out.contains("closed"), "{}", tail(&out, 40));
    // Our responder policy: charon offers its 3960 s ESP lifetime, we allow 600 s and
    // answer with that; charon adopts it.
    let log = lab.charon_log_full("cli");
    let adopted = log.lines().find(|l| l.contains("received 600s lifetime, configured 3960s"));
    println!("charon: {}", adopted.unwrap_or("(lifetime line missing)"));
    assert!(adopted.is_some(), "{}", tail(&log, 40));
}

fn inner_l2sec_responder() {
    let mut config = config(false, default_proposals(Duration::from_secs(3600)), Duration::from_secs(600));
    config.phase1.proposals.push(proposal(
        CipherAlgorithm::TripleDesCbc,
        PrfAlgorithm::HmacSha1,
        DhGroup::Modp1024,
        Duration::from_secs(3600),
    ));
    let mut ep = Endpoint::new(false, config);
    let up = swanctl_spawn("cli", &["--initiate", "--child", "mm-tun", "--timeout", "15"]);
    ep.run_while(up, 20);
    ep.until("child up (charon initiated)", 5, |e| !e.conn.active_children().is_empty());
    let first = ep.conn.active_children()[0];

    // charon rekeys the CHILD_SA: a Quick Mode with the same selectors.
    let p = swanctl_spawn("cli", &["--rekey", "--child", "mm-tun"]);
    ep.run_while(p, 10);
    ep.until("child rekeyed by charon", 10, |e| {
        e.count(|x| matches!(x, ConnectionEvent::ChildSaRekeyed { old_spi_in, .. } if *old_spi_in == first))
            == 1
    });
    ep.run_for(Duration::from_millis(500));
    let sas = swanctl("cli", &["--list-sas", "--raw"]);
    let second = *ep.conn.active_children().last().unwrap();
    let second_out = ep.children[&second].spi_out;
    assert!(sas.contains(&format!("spi-in={second_out:08x}")), "charon lacks the rekeyed SA:\n{sas}");
    ep.ping(second);

    // charon rekeys the IKE_SA (for IKEv1: a new Main Mode, then it deletes the old one).
    let old_sa = ep.conn.current_isakmp_sa().unwrap();
    let p = swanctl_spawn("cli", &["--rekey", "--ike", "i-v1-mm"]);
    ep.run_while(p, 10);
    ep.until("new ISAKMP SA from charon", 15, |e| e.conn.current_isakmp_sa().is_some_and(|c| c != old_sa));
    // charon 5.9 reauthenticates IKEv1 make-before-break: the new IKE_SA re-creates the
    // CHILD_SA (we take it as a rekey of ours) and the old IKE_SA stays until it is
    // terminated; its Delete must then remove it on our side.
    ep.run_for(Duration::from_millis(500));
    let p = swanctl_spawn("cli", &["--terminate", "--ike-id", "1", "--timeout", "5"]);
    ep.run_while(p, 10);
    ep.until("charon's old ISAKMP SA gone", 15, |e| !e.conn.isakmp_sas().contains(&old_sa));
    ep.run_for(Duration::from_millis(500));
    assert!(
        ep.events.iter().any(|x| matches!(x, ConnectionEvent::Phase1Deleted { cookies, reason: DeleteReason::PeerDeleted } if *cookies == old_sa)),
        "charon's Delete for the old ISAKMP SA: {:#?}",
        ep.events
    );
    let new_sa = ep.conn.current_isakmp_sa().unwrap();
    let sas = swanctl("cli", &["--list-sas", "--raw"]);
    assert!(sas.contains(&hex(&new_sa.0)), "charon is not on the new ISAKMP SA:\n{sas}");
    ep.ping(*ep.conn.active_children().last().unwrap());

    // Our own rekey of the child under charon's new ISAKMP SA (l2sec as Quick Mode
    // initiator toward charon the phase-1 initiator).
    let active = *ep.conn.active_children().last().expect("a child survives the phase-1 rekey");
    ep.conn.rekey_child(Instant::now(), active).unwrap();
    ep.until("child rekeyed by l2sec", 10, |e| {
        e.count(|x| matches!(x, ConnectionEvent::ChildSaRekeyed { old_spi_in, .. } if *old_spi_in == active))
            == 1
    });
    ep.until("replaced child deleted", 5, |e| !e.conn.installed_children().contains(&active));
    ep.ping(*ep.conn.active_children().last().unwrap());

    // charon deletes the CHILD_SA, then the IKE_SA.
    let p = swanctl_spawn("cli", &["--terminate", "--child", "mm-tun", "--timeout", "5"]);
    ep.run_while(p, 10);
    ep.until("child deleted by charon", 5, |e| e.conn.active_children().is_empty());
    assert!(
        ep.count(|x| matches!(x, ConnectionEvent::ChildSaDeleted { reason: DeleteReason::PeerDeleted, .. }))
            >= 1
    );
    let p = swanctl_spawn("cli", &["--terminate", "--ike", "i-v1-mm", "--timeout", "5"]);
    ep.run_while(p, 10);
    ep.until("ISAKMP SA deleted by charon", 5, |e| e.conn.isakmp_sas().is_empty());
    ep.log("closed by charon");
}

// --- proposals ------------------------------------------------------------------------------

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn phase1_proposals_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_proposals();
        return;
    }
    let lab = Lab::up("hv1p", INNER_ENV);
    let out = std::env::temp_dir().join(format!("hv1p-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    for (name, _) in PROPOSALS {
        lab.run_env(
            &["start", "srv", "hv1p-b", "responder"],
            &[("V1_IKE_PROPOSALS_RESP", name), ("V1_ESP_PROPOSALS_RESP", "aes128-sha1")],
        );
        let inner =
            spawn_inner_with(&lab, "a", "phase1_proposals_against_charon", &[("L2SEC_PROPOSAL", name)]);
        let output = inner.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{name}: inner run failed:\n{}\n--- charon log tail:\n{}",
            tail(&stdout, 40),
            tail(&lab.charon_log_full("srv"), 60)
        );
        for l in stdout.lines().filter(|l| l.starts_with("STEP")) {
            println!("{l}");
        }
        let sas =
            String::from_utf8_lossy(&lab.run(&["swanctl", "srv", "--list-sas", "--raw"]).stdout).into_owned();
        assert!(sas.contains("state=ESTABLISHED") && sas.contains("state=INSTALLED"), "{name}:\n{sas}");
        println!("{name}: charon established phase 1 and installed the ESP SA");
        lab.run(&["stop", "srv"]);
    }
}

/// The issue's phase-1 proposals in strongSwan spelling, with ours.
const PROPOSALS: [(&str, (CipherAlgorithm, PrfAlgorithm, DhGroup)); 7] = [
    ("aes128-sha1-modp2048", (CipherAlgorithm::AesCbc128, PrfAlgorithm::HmacSha1, DhGroup::Modp2048)),
    ("aes256-sha1-modp2048", (CipherAlgorithm::AesCbc256, PrfAlgorithm::HmacSha1, DhGroup::Modp2048)),
    ("aes256-sha256-modp2048", (CipherAlgorithm::AesCbc256, PrfAlgorithm::HmacSha256, DhGroup::Modp2048)),
    ("aes128-sha1-ecp256", (CipherAlgorithm::AesCbc128, PrfAlgorithm::HmacSha1, DhGroup::Ecp256)),
    ("aes256-sha1-ecp384", (CipherAlgorithm::AesCbc256, PrfAlgorithm::HmacSha1, DhGroup::Ecp384)),
    ("3des-sha1-modp1024", (CipherAlgorithm::TripleDesCbc, PrfAlgorithm::HmacSha1, DhGroup::Modp1024)),
    ("aes128-sha256-x25519", (CipherAlgorithm::AesCbc128, PrfAlgorithm::HmacSha256, DhGroup::Curve25519)),
];

fn inner_proposals() {
    let name = std::env::var("L2SEC_PROPOSAL").unwrap();
    let (_, (enc, hash, group)) = PROPOSALS.iter().find(|(n, _)| *n == name).unwrap();
    let config = config(
        true,
        vec![proposal(*enc, *hash, *group, Duration::from_secs(3600))],
        Duration::from_secs(3600),
    );
    let mut ep = Endpoint::new(true, config);
    ep.conn.connect(Instant::now()).unwrap();
    ep.until(&format!("{name}: child up"), 15, |e| !e.conn.active_children().is_empty());
    let spi = ep.conn.active_children()[0];
    ep.ping(spi);
}

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn phase1_kilobyte_lifetime_offer_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_kilobyte_offer();
        return;
    }
    let lab = Lab::up("hv1m", INNER_ENV);
    lab.run_env(&["start", "srv", "hv1m-b", "responder"], &[("V1_ESP_PROPOSALS_RESP", "aes128-sha1")]);
    let out = run_inner(&lab, "a", "phase1_kilobyte_lifetime_offer_against_charon", "srv");
    assert!(out.contains("kilobyte offer accepted"), "{}", tail(&out, 40));
    let sas =
        String::from_utf8_lossy(&lab.run(&["swanctl", "srv", "--list-sas", "--raw"]).stdout).into_owned();
    assert!(sas.contains("state=ESTABLISHED") && sas.contains("state=INSTALLED"), "{sas}");
    println!("charon established phase 1 offered with a kilobyte lifetime and installed the ESP SA");
}

fn inner_kilobyte_offer() {
    // RFC 2409 Appendix A: a seconds pair and a kilobytes pair (100000 kB, variable form).
    let mut config = config(true, default_proposals(Duration::from_secs(3600)), Duration::from_secs(3600));
    config.phase1.lifetime_kilobytes = Some(100_000);
    let mut ep = Endpoint::new(true, config);
    ep.conn.connect(Instant::now()).unwrap();
    ep.until("child up", 15, |e| !e.conn.active_children().is_empty());
    let spi = ep.conn.active_children()[0];
    ep.ping(spi);
    ep.log("kilobyte offer accepted");
}

// --- Aggressive Mode with a key table ----------------------------------------------------

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn charon_aggressive_mode_against_l2sec_psk_table() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_aggressive_responder();
        return;
    }
    let lab = Lab::up("hv1a", INNER_ENV);
    lab.run_env(&["start", "cli", "hv1a-a", "initiator"], &[("ENCAP", "yes")]);
    let out = run_inner(&lab, "b", "charon_aggressive_mode_against_l2sec_psk_table", "cli");
    assert!(out.contains("closed"), "{}", tail(&out, 40));
}

fn inner_aggressive_responder() {
    let mut config = config(false, default_proposals(Duration::from_secs(3600)), Duration::from_secs(3600));
    config.phase1.proposals.push(proposal(
        CipherAlgorithm::TripleDesCbc,
        PrfAlgorithm::HmacSha1,
        DhGroup::Modp1024,
        Duration::from_secs(3600),
    ));
    // The lab key only under charon's Aggressive Mode identity; the default key is wrong.
    config.phase1.psk = l2sec_ike::v1::SecretBytes::new(b"not-the-lab-key".to_vec());
    config.phase1.allow_aggressive = true;
    let mut table = l2sec_ike::v1::psk::PskTable::new();
    table.insert(Identity::fqdn("someone-else.lab"), b"wrong-key-for-someone-else");
    table.insert(Identity::fqdn("am-client.lab"), PSK);
    config.psks = Some(table);
    let mut ep = Endpoint::new(false, config);
    let up = swanctl_spawn("cli", &["--initiate", "--child", "am-tun", "--timeout", "15"]);
    ep.run_while(up, 20);
    ep.until("Aggressive Mode child up (key by IDii)", 5, |e| !e.conn.active_children().is_empty());
    let peer = ep.events.iter().find_map(|e| match e {
        ConnectionEvent::Phase1Established { peer_id, .. } => Some(peer_id.clone()),
        _ => None,
    });
    assert_eq!(peer, Some(Identity::fqdn("am-client.lab")));
    ep.ping(ep.conn.active_children()[0]);
    let p = swanctl_spawn("cli", &["--terminate", "--ike", "i-v1-am", "--timeout", "5"]);
    ep.run_while(p, 10);
    ep.until("ISAKMP SA deleted by charon", 5, |e| e.conn.isakmp_sas().is_empty());
    ep.log("closed by charon");
}

// --- charon rekeys by lifetime -------------------------------------------------------------

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn charon_rekeys_by_its_lifetimes_against_l2sec() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_lifetime_responder();
        return;
    }
    let lab = Lab::up("hv1l", INNER_ENV);
    lab.run_env(&["start", "cli", "hv1l-a", "initiator"], &[("ENCAP", "yes")]);
    // Short lifetimes in charon's (private, generated) swanctl.conf: the CHILD_SA rekeys
    // after 8 s and the IKEv1 SA is reauthenticated after 14 s.
    let conf = lab.state.join("ss").join("cli").join("swanctl.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let text = text
        .replacen(
            "    i-v1-mm {\n        version = 1\n",
            "    i-v1-mm {\n        version = 1\n        reauth_time = 14s\n        over_time = 10s\n        rand_time = 0s\n",
            1,
        )
        .replacen(
            "            mm-tun {\n                mode = tunnel\n",
            "            mm-tun {\n                mode = tunnel\n                rekey_time = 8s\n                life_time = 12s\n                rand_time = 0s\n",
            1,
        );
    assert!(
        text.contains("reauth_time = 14s") && text.contains("rekey_time = 8s"),
        "template changed:\n{text}"
    );
    std::fs::write(&conf, text).unwrap();
    let conf = conf.to_string_lossy().into_owned();
    lab.run(&["swanctl", "cli", "--load-conns", "--file", &conf]);
    let out = run_inner(&lab, "b", "charon_rekeys_by_its_lifetimes_against_l2sec", "cli");
    assert!(out.contains("done"), "{}", tail(&out, 40));
}

fn inner_lifetime_responder() {
    // We keep long lifetimes and do not rekey: every rekey here is charon's.
    let mut config = config(false, default_proposals(Duration::from_secs(3600)), Duration::from_secs(3600));
    config.auto_rekey = false;
    let mut ep = Endpoint::new(false, config);
    let up = swanctl_spawn("cli", &["--initiate", "--child", "mm-tun", "--timeout", "15"]);
    ep.run_while(up, 20);
    ep.until("child up", 5, |e| !e.conn.active_children().is_empty());
    let first = ep.conn.active_children()[0];
    let first_sa = ep.conn.current_isakmp_sa().unwrap();
    // charon offered its 12 s life_time, which is below our maximum: we took it.
    assert_eq!(ep.children[&first].hard_lifetime.time, Some(Duration::from_secs(12)));
    ep.until("charon rekeyed the child by lifetime", 12, |e| {
        e.count(|x| matches!(x, ConnectionEvent::ChildSaRekeyed { old_spi_in, .. } if *old_spi_in == first))
            == 1
    });
    let second = *ep.conn.active_children().last().unwrap();
    ep.ping(second);
    ep.until("charon reauthenticated phase 1 by lifetime", 20, |e| {
        e.conn.current_isakmp_sa().is_some_and(|c| c != first_sa)
    });
    ep.until("a child under the new ISAKMP SA", 5, |e| {
        e.conn.active_children().last().is_some_and(|c| *c != second)
    });
    ep.ping(*ep.conn.active_children().last().unwrap());
    // The replaced pairs go away: deleted by charon or expired (12 s) on our side.
    ep.until("replaced pairs gone", 15, |e| !e.conn.installed_children().contains(&first));
    assert!(
        !ep.events.iter().any(|x| matches!(x, ConnectionEvent::QuickModeFailed { .. })),
        "{:#?}",
        ep.events
    );
    ep.log("done");
}

// --- refusals ----------------------------------------------------------------------------------

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn charon_refusal_ends_our_quick_mode_at_once() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_refused();
        return;
    }
    let lab = Lab::up("hv1n", INNER_ENV);
    lab.run(&["start", "srv", "hv1n-b", "responder"]);
    let out = run_inner(&lab, "a", "charon_refusal_ends_our_quick_mode_at_once", "srv");
    assert!(out.contains("refused"), "{}", tail(&out, 40));
}

fn inner_refused() {
    // Selectors charon has no child config for (.203 instead of .202).
    let mut config = config(true, default_proposals(Duration::from_secs(3600)), Duration::from_secs(3600));
    if let Some((_, remote)) = &mut config.quick.traffic_selectors {
        remote.data = vec![192, 0, 2, 203];
    }
    let mut ep = Endpoint::new(true, config);
    ep.conn.connect(Instant::now()).unwrap();
    ep.until("phase 1 up", 10, |e| e.conn.current_isakmp_sa().is_some());
    let start = Instant::now();
    // charon answers with INVALID-ID-INFORMATION (18): the exchange ends without
    // waiting for its retransmissions.
    ep.until("refused by charon", 5, |e| {
        e.count(|x| {
            matches!(x, ConnectionEvent::QuickModeFailed { error: l2sec_ike::Error::PeerRefused(18), .. })
        }) == 1
    });
    // Without the notification the exchange would end after its four retries (~15 s).
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
    assert!(ep.conn.active_children().is_empty());
    ep.log("refused at once");
}

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn our_refusal_reaches_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_refusing_responder();
        return;
    }
    let lab = Lab::up("hv1o", INNER_ENV);
    lab.run_env(&["start", "cli", "hv1o-a", "initiator"], &[("ENCAP", "yes")]);
    let out = run_inner(&lab, "b", "our_refusal_reaches_charon", "cli");
    assert!(out.contains("refused"), "{}", tail(&out, 40));
    let log = lab.charon_log_full("cli");
    let line = log.lines().find(|l| l.contains("received NO_PROPOSAL_CHOSEN error notify"));
    println!("charon: {}", line.unwrap_or("(no notify seen)"));
    assert!(line.is_some(), "{}", tail(&log, 40));
}

fn inner_refusing_responder() {
    // charon offers aes128-sha1 and 3des-sha1; we accept only AES-256/HMAC-SHA2-256.
    let mut config = config(false, default_proposals(Duration::from_secs(3600)), Duration::from_secs(3600));
    config.quick.proposals[0].encryption = EspEncryption::AesCbc { key_len: 32 };
    config.quick.proposals[0].integrity = EspIntegrity::HmacSha256_128;
    let mut ep = Endpoint::new(false, config);
    let up = swanctl_spawn("cli", &["--initiate", "--child", "mm-tun", "--timeout", "5"]);
    ep.run_while(up, 10);
    assert!(ep.conn.current_isakmp_sa().is_some());
    assert!(ep.conn.active_children().is_empty());
    ep.log("refused charon's Quick Mode");
}

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn our_selector_policy_refusal_reaches_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_selector_policy_responder();
        return;
    }
    let lab = Lab::up("hv1l", INNER_ENV);
    lab.run_env(&["start", "cli", "hv1l-a", "initiator"], &[("ENCAP", "yes")]);
    let out = run_inner(&lab, "b", "our_selector_policy_refusal_reaches_charon", "cli");
    assert!(out.contains("refused by selector policy"), "{}", tail(&out, 40));
    let log = lab.charon_log_full("cli");
    let line = log.lines().find(|l| l.contains("received INVALID_ID_INFORMATION error notify"));
    println!("charon: {}", line.unwrap_or("(no notify seen)"));
    assert!(line.is_some(), "{}", tail(&log, 40));
}

fn inner_selector_policy_responder() {
    // charon proposes 192.0.2.201 <-> 192.0.2.202; we accept only 10.0.0.0/8 on our side.
    let mut config = config(false, default_proposals(Duration::from_secs(3600)), Duration::from_secs(3600));
    let any = SelectorPattern { address: [0, 0, 0, 0].into(), prefix_len: 0, protocol: 0, port: 0 };
    config.responder_selectors = Some(vec![SelectorPolicy {
        local: SelectorPattern { address: [10, 0, 0, 0].into(), prefix_len: 8, ..any },
        remote: any,
    }]);
    let mut ep = Endpoint::new(false, config);
    let up = swanctl_spawn("cli", &["--initiate", "--child", "mm-tun", "--timeout", "5"]);
    ep.run_while(up, 10);
    assert!(ep.conn.current_isakmp_sa().is_some());
    assert!(ep.conn.active_children().is_empty());
    let refused = ep.events.iter().find_map(|e| match e {
        ConnectionEvent::QuickModeRefused { traffic_selectors, .. } => Some(traffic_selectors.clone()),
        _ => None,
    });
    assert!(refused.is_some(), "no QuickModeRefused event");
    ep.log(&format!("refused by selector policy: {refused:?}"));
}

// --- behind a NAT, with DPD -------------------------------------------------------------------

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn rekeys_and_dpd_through_a_nat_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_behind_nat();
        return;
    }
    let lab = Lab::up("hv1t", INNER_ENV);
    // The lab's NAT topology: we are 192.0.2.65 behind a masquerading router (192.0.2.3).
    lab.run(&["net-down"]);
    lab.run(&["net-up", "nat"]);
    lab.run_env(&["start", "srv", "hv1t-b", "responder"], &[("DPD_DELAY", "1s")]);
    let out = run_inner(&lab, "a", "rekeys_and_dpd_through_a_nat_against_charon", "srv");
    assert!(out.contains("done"), "{}", tail(&out, 40));
    let log = lab.charon_log_full("srv");
    // DPD on the new ISAKMP SA (charon's IKE_SA #2): charon probes every second and we
    // answer. (Its probes keep us from probing: RFC 3706 probes only an idle peer.)
    let answered =
        log.lines().find(|l| l.contains("<r-v1-mm|2>") && l.contains("parsed") && l.contains("N(DPD_ACK)"));
    println!("charon: {}", answered.unwrap_or("(charon got no DPD ACK on the new SA)"));
    assert!(answered.is_some(), "{}", tail(&log, 60));
    let nat = log.lines().find(|l| l.contains("remote host is behind NAT"));
    println!("charon: {}", nat.unwrap_or("(no NAT seen)"));
    assert!(nat.is_some(), "charon did not detect the NAT");
}

fn inner_behind_nat() {
    let (me, peer) = ("192.0.2.65", "192.0.2.2");
    let mut p1 = config(true, default_proposals(Duration::from_secs(3600)), Duration::from_secs(3600));
    p1.phase1.nat_traversal = Some(NatTraversal {
        local: format!("{me}:500").parse().unwrap(),
        remote: format!("{peer}:500").parse().unwrap(),
        force_encapsulation: false,
    });
    p1.dpd = Some(l2sec_ike::v1::dpd::DpdConfig {
        idle: Duration::from_secs(2),
        retransmit_timeout: Duration::from_secs(1),
        max_retransmits: 3,
    });
    let mut ep = Endpoint::at(me, peer, true, p1);
    ep.conn.connect(Instant::now()).unwrap();
    ep.until("child up through the NAT", 15, |e| !e.conn.active_children().is_empty());
    let nat = ep.events.iter().find_map(|e| match e {
        ConnectionEvent::Phase1Established { nat, .. } => *nat,
        _ => None,
    });
    // Our address is translated (we do not force encapsulation here); charon claims to
    // be behind a NAT too, since its libipsec needs UDP encapsulation (lab README).
    assert!(nat.is_some_and(|n| n.local_behind_nat), "{nat:?}");
    let first = ep.conn.active_children()[0];
    ep.ping(first);
    ep.conn.rekey_phase1(Instant::now()).unwrap();
    ep.until("phase 1 rekeyed through the NAT", 10, |e| {
        e.count(|x| matches!(x, ConnectionEvent::Phase1Rekeyed { .. })) == 1 && e.conn.isakmp_sas().len() == 1
    });
    ep.conn.rekey_child(Instant::now(), first).unwrap();
    ep.until("child rekeyed through the NAT", 10, |e| !e.conn.installed_children().contains(&first));
    ep.ping(*ep.conn.active_children().last().unwrap());
    // Idle for a while: DPD runs both ways on the new ISAKMP SA, nobody declares the
    // other dead.
    ep.run_for(Duration::from_secs(5));
    assert!(!ep.events.iter().any(|e| matches!(e, ConnectionEvent::PeerDead)));
    assert_eq!(ep.conn.active_children().len(), 1);
    ep.log("done");
}

// --- Aggressive Mode initiator ---------------------------------------------------------------

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn aggressive_mode_connection_rekeys_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_aggressive_initiator();
        return;
    }
    let lab = Lab::up("hv1g", INNER_ENV);
    lab.run(&["start", "srv", "hv1g-b", "responder"]);
    let out = run_inner(&lab, "a", "aggressive_mode_connection_rekeys_against_charon", "srv");
    assert!(out.contains("closed"), "{}", tail(&out, 40));
    let log = lab.charon_log_full("srv");
    let am =
        log.lines().filter(|l| l.contains("IKE_SA r-v1-am[") && l.contains("established between")).count();
    println!("charon: {am} Aggressive Mode IKE_SAs established");
    assert!(am >= 2, "{}", tail(&log, 60));
}

fn inner_aggressive_initiator() {
    let mut config = config(true, default_proposals(Duration::from_secs(3600)), Duration::from_secs(3600));
    config.aggressive = true;
    let mut ep = Endpoint::new(true, config);
    ep.conn.connect(Instant::now()).unwrap();
    ep.until("Aggressive Mode child up", 15, |e| !e.conn.active_children().is_empty());
    let first = ep.conn.active_children()[0];
    ep.ping(first);
    ep.conn.rekey_phase1(Instant::now()).unwrap();
    ep.until("Aggressive Mode phase 1 rekeyed", 10, |e| {
        e.count(|x| matches!(x, ConnectionEvent::Phase1Rekeyed { .. })) == 1 && e.conn.isakmp_sas().len() == 1
    });
    ep.conn.rekey_child(Instant::now(), first).unwrap();
    ep.until("child rekeyed under the new SA", 10, |e| !e.conn.installed_children().contains(&first));
    ep.ping(*ep.conn.active_children().last().unwrap());
    ep.conn.close(Instant::now());
    ep.run_for(Duration::from_millis(500));
    let sas = swanctl("srv", &["--list-sas", "--raw"]);
    assert!(!sas.contains("state=ESTABLISHED"), "charon kept an SA after our Deletes:\n{sas}");
    ep.log("closed");
}

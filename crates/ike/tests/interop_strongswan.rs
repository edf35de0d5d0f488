//! Interop: our IKEv1 Main Mode PSK initiator against a real strongSwan charon responder.
//!
//! The test brings up the lab namespaces with `shared/lab/strongswan/peer.sh`, starts
//! charon as responder in `LAB-b` (192.0.2.2), then runs itself again inside `LAB-a`
//! (192.0.2.1) where the inner run speaks IKE over a plain UDP socket on port 500. Finally
//! charon is asked whether it holds an established IKEv1 SA. Needs root and the lab
//! packages; it fails (never skips) without them.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use l2sec_ike::child::{EspEncapsulation, EspEncryption, EspIntegrity, EspMode};
use l2sec_ike::crypto::{CipherAlgorithm, DhGroup, PrfAlgorithm};
use l2sec_ike::v1::phase1::{Event, Identity, NatTraversal, Phase1, Phase1Config, Phase1Proposal, State};
use l2sec_ike::v1::quick::TrafficSelector;
use l2sec_ike::v1::quick::{EspProposal, QuickMode, QuickModeConfig, QuickModeEvent};
use l2sec_ike::wire::v1::IdType;
use l2sec_ike::wire::v1::{ExchangeType, Message};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const INNER_ENV: &str = "L2SEC_IKE_INTEROP_INNER";
const PSK: &[u8] = b"lab-psk-0123456789";

mod strongswan_lab;

use strongswan_lab::Lab;

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn main_mode_psk_initiator_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_initiator();
        return;
    }
    let lab = Lab::up("l2ikei", INNER_ENV);
    lab.run(&["start", "srv", "l2ikei-b", "responder"]);

    let inner = lab.spawn_inner("a", "main_mode_psk_initiator_against_charon").wait_with_output().unwrap();
    assert!(
        inner.status.success(),
        "inner run failed:\n{}\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stdout),
        String::from_utf8_lossy(&inner.stderr),
        lab.charon_log("srv", 40)
    );
    let inner_out = String::from_utf8_lossy(&inner.stdout);
    assert!(inner_out.contains("established with charon"), "inner run did not establish:\n{inner_out}");
    let sas = lab.run(&["swanctl", "srv", "--list-sas", "--raw"]);
    let sas = String::from_utf8_lossy(&sas.stdout);
    println!("{}", inner_out.lines().find(|l| l.contains("established")).unwrap_or(""));
    println!("charon: {sas}");
    assert!(
        sas.contains("version=1") && sas.contains("state=ESTABLISHED"),
        "charon has no established IKEv1 SA:\n{sas}\n--- charon log tail:\n{}",
        lab.charon_log("srv", 40)
    );
}

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn main_mode_psk_responder_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_responder();
        return;
    }
    let lab = Lab::up("l2iker", INNER_ENV);
    lab.run(&["start", "cli", "l2iker-a", "initiator"]);
    let inner = lab.spawn_inner("b", "main_mode_psk_responder_against_charon");
    std::thread::sleep(Duration::from_millis(300)); // let the responder bind port 500
    // charon runs Main Mode, then Quick Mode, which we do not answer yet: `up` fails.
    let up = lab.cmd().args(["up", "cli", "mm-tun", "4"]).output().unwrap();
    let inner = inner.wait_with_output().unwrap();
    assert!(
        inner.status.success(),
        "inner responder failed:\n{}\n{}\n--- charon up:\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stdout),
        String::from_utf8_lossy(&inner.stderr),
        String::from_utf8_lossy(&up.stdout),
        lab.charon_log("cli", 40)
    );
    let inner_out = String::from_utf8_lossy(&inner.stdout);
    assert!(inner_out.contains("established with charon"), "{inner_out}");
    assert!(
        inner_out.contains("quick mode established") || inner_out.contains("quick mode answered"),
        "{inner_out}"
    );
    for l in inner_out.lines().filter(|l| l.contains("established")) {
        println!("{l}");
    }
    let log = lab.charon_log_full("cli");
    let line = log.lines().find(|l| l.contains("IKE_SA i-v1-mm[") && l.contains("established between"));
    assert!(line.is_some(), "charon did not establish phase 1:\n{}", tail(&log, 60));
    println!("charon: {}", line.unwrap_or_default());
    // charon verified our HASH(2) and took our SA: it selects the proposal we returned.
    // (Installing it then fails in the lab: libipsec needs UDP encapsulation, i.e. NAT-T,
    // which our Main Mode does not negotiate yet.)
    let selected = log.lines().find(|l| l.contains("selected proposal: ESP:AES_CBC_128/HMAC_SHA1_96"));
    println!("charon: {}", selected.unwrap_or("(no ESP proposal selected)"));
    assert!(selected.is_some(), "charon did not accept our Quick Mode answer:\n{}", tail(&log, 60));
    assert!(!log.to_lowercase().contains("invalid hash"), "{}", tail(&log, 60));
}

/// Runs inside LAB-b: answers charon's Main Mode, then its Quick Mode.
fn inner_responder() {
    let socket = UdpSocket::bind("192.0.2.2:500").expect("bind 192.0.2.2:500 in LAB-b");
    let config = Phase1Config::new(PSK, Identity::ipv4("192.0.2.2".parse().unwrap()));
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut mm = Phase1::respond(config, ChaCha20Rng::seed_from_u64(seed), Instant::now());
    let mut quick: Option<QuickMode<ChaCha20Rng>> = None;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut peer = None;
    let mut buf = Vec::new();
    let mut rx = [0u8; 65536];
    loop {
        let now = Instant::now();
        assert!(now < deadline, "no result within 15 s, state {:?}", mm.state());
        buf.clear();
        while mm.poll_transmit(now, &mut buf).is_some() {
            socket.send_to(&buf, peer.expect("a peer before any reply")).unwrap();
            buf.clear();
        }
        if let Some(event) = mm.poll_event() {
            match event {
                Event::Established { peer_id, proposal, .. } => {
                    assert_eq!(peer_id.data, vec![192, 0, 2, 1], "charon's ID");
                    println!("established with charon: {peer_id:?} {proposal:?}");
                }
                Event::Failed(e) => panic!("Main Mode failed: {e}"),
                other => panic!("unexpected event {other:?}"),
            }
        }
        if let Some(q) = quick.as_mut() {
            while q.poll_transmit(now, &mut buf).is_some() {
                socket.send_to(&buf, peer.expect("a peer")).unwrap();
                buf.clear();
            }
            if let Some(event) = q.poll_event() {
                match event {
                    QuickModeEvent::Established { child, traffic_selectors, .. } => {
                        println!(
                            "quick mode established: spi_in {:08x} spi_out {:08x} {:?} {:?} {:?}",
                            child.spi_in, child.spi_out, child.encryption, child.integrity, traffic_selectors
                        );
                        // Stay a moment so a repeated message still gets its answer.
                        std::thread::sleep(Duration::from_millis(300));
                        return;
                    }
                    QuickModeEvent::Failed(e) => panic!("Quick Mode failed: {e}"),
                    other => panic!("unexpected event {other:?}"),
                }
            }
        }
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        match socket.recv_from(&mut rx) {
            Ok((n, from)) => {
                peer = Some(from);
                let data = &rx[..n];
                let phase2 = Message::parse(data).is_ok_and(|m| m.header.message_id != 0);
                let informational =
                    Message::parse(data).is_ok_and(|m| m.header.exchange_type == ExchangeType::Informational);
                if informational && quick.is_some() {
                    // charon accepted HASH(2) and our SA, then could not install the SA
                    // in libipsec without UDP encapsulation (lab README): it answers
                    // with an informational instead of HASH(3).
                    println!("quick mode answered; charon sent an informational");
                    std::thread::sleep(Duration::from_millis(300));
                    return;
                }
                let result = match (phase2, quick.as_mut(), mm.isakmp_context()) {
                    (false, _, _) => mm.handle_input(Instant::now(), data),
                    (true, Some(q), _) => q.handle_input(Instant::now(), data),
                    (true, None, Some(ctx)) => QuickMode::respond(
                        ctx,
                        quick_config(),
                        ChaCha20Rng::seed_from_u64(seed ^ 1),
                        Instant::now(),
                        data,
                    )
                    .map(|q| quick = Some(q)),
                    (true, None, None) => Err(l2sec_ike::Error::UnexpectedMessage("phase 2 before phase 1")),
                };
                if let Err(e) = result {
                    eprintln!("dropped a datagram: {e}");
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                mm.handle_timeout(Instant::now());
                if let Some(q) = quick.as_mut() {
                    q.handle_timeout(Instant::now());
                }
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// What charon's `mm-tun` child offers first: AES-128/HMAC-SHA1 in tunnel mode.
fn quick_config() -> QuickModeConfig {
    QuickModeConfig {
        proposals: vec![EspProposal {
            encryption: EspEncryption::AesCbc { key_len: 16 },
            integrity: EspIntegrity::HmacSha1_96,
            lifetime: Duration::from_secs(3600),
        }],
        mode: EspMode::Tunnel,
        encapsulation: EspEncapsulation::None,
        traffic_selectors: None,
        retransmit_timeout: Duration::from_secs(1),
        max_retransmits: 3,
        pfs_group: None,
        nat_oa: None,
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs inside LAB-a: a real-time owner loop around the Main Mode machine.
fn inner_initiator() {
    let socket = UdpSocket::bind("192.0.2.1:500").expect("bind 192.0.2.1:500 in LAB-a");
    socket.connect("192.0.2.2:500").unwrap();
    let mut config = Phase1Config::new(PSK, Identity::ipv4("192.0.2.1".parse().unwrap()));
    config.proposals = vec![Phase1Proposal {
        encryption: CipherAlgorithm::AesCbc128,
        hash: PrfAlgorithm::HmacSha1,
        group: DhGroup::Modp2048,
        lifetime: Duration::from_secs(3600),
    }];
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut mm =
        Phase1::initiate(config, ChaCha20Rng::seed_from_u64(seed), Instant::now()).expect("initiate");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = Vec::new();
    let mut rx = [0u8; 65536];
    loop {
        let now = Instant::now();
        assert!(now < deadline, "no result within 20 s, state {:?}", mm.state());
        buf.clear();
        while mm.poll_transmit(now, &mut buf).is_some() {
            socket.send(&buf).unwrap();
            buf.clear();
        }
        if let Some(event) = mm.poll_event() {
            match event {
                Event::Established { peer_id, proposal, .. } => {
                    assert_eq!(peer_id.data, vec![192, 0, 2, 2], "charon's ID");
                    assert_eq!(proposal.group, DhGroup::Modp2048);
                    assert_eq!(mm.state(), State::Established);
                    println!("established with charon: {peer_id:?}");
                    return;
                }
                Event::Failed(e) => panic!("Main Mode failed: {e}"),
                other => panic!("unexpected event {other:?}"),
            }
        }
        let wait = mm
            .poll_timeout()
            .map_or(Duration::from_millis(200), |t| t.saturating_duration_since(now))
            .clamp(Duration::from_millis(1), Duration::from_millis(200));
        socket.set_read_timeout(Some(wait)).unwrap();
        match socket.recv(&mut rx) {
            Ok(n) => {
                if let Err(e) = mm.handle_input(Instant::now(), &rx[..n]) {
                    eprintln!("dropped a datagram: {e}");
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                mm.handle_timeout(Instant::now());
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

// --- NAT-T: Main Mode then Quick Mode with UDP encapsulation ---------------------------

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn nat_t_quick_mode_responder_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        nat_t_owner(false);
        return;
    }
    let lab = Lab::up("l2iknr", INNER_ENV);
    // charon forces UDP encapsulation (libipsec needs it), so both sides float to 4500.
    lab.run_env(&["start", "cli", "l2iknr-a", "initiator"], &[("ENCAP", "yes")]);
    let inner = lab.spawn_inner("b", "nat_t_quick_mode_responder_against_charon");
    std::thread::sleep(Duration::from_millis(300));
    let up = lab.cmd().args(["up", "cli", "mm-tun", "10"]).output().unwrap();
    let inner = inner.wait_with_output().unwrap();
    let log = lab.charon_log_full("cli");
    assert!(
        inner.status.success(),
        "inner responder failed:\n{}\n{}\n--- up:\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stdout),
        String::from_utf8_lossy(&inner.stderr),
        String::from_utf8_lossy(&up.stdout),
        tail(&log, 60)
    );
    let out = String::from_utf8_lossy(&inner.stdout);
    for l in out.lines().filter(|l| l.contains("established")) {
        println!("{l}");
    }
    let child = log.lines().find(|l| l.contains("CHILD_SA mm-tun{") && l.contains("established"));
    println!("charon: {}", child.unwrap_or("(none)"));
    assert!(child.is_some(), "charon did not install the CHILD_SA:\n{}", tail(&log, 60));
    check_esp_keys(&lab, "cli", &out);
    assert!(up.status.success(), "swanctl --initiate failed:\n{}", String::from_utf8_lossy(&up.stdout));
}

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn nat_t_quick_mode_initiator_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        nat_t_owner(true);
        return;
    }
    let lab = Lab::up("l2ikni", INNER_ENV);
    lab.run(&["start", "srv", "l2ikni-b", "responder"]);
    let inner = lab.spawn_inner("a", "nat_t_quick_mode_initiator_against_charon").wait_with_output().unwrap();
    let log = lab.charon_log_full("srv");
    assert!(
        inner.status.success(),
        "inner initiator failed:\n{}\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stdout),
        String::from_utf8_lossy(&inner.stderr),
        tail(&log, 60)
    );
    let out = String::from_utf8_lossy(&inner.stdout);
    for l in out.lines().filter(|l| l.contains("established")) {
        println!("{l}");
    }
    let sas = lab.run(&["swanctl", "srv", "--list-sas", "--raw"]);
    let sas = String::from_utf8_lossy(&sas.stdout);
    println!("charon: {sas}");
    assert!(
        sas.contains("state=INSTALLED") && sas.contains("encap=yes"),
        "charon has no installed UDP-encapsulated CHILD_SA:\n{sas}\n{}",
        tail(&log, 60)
    );
    check_esp_keys(&lab, "srv", &out);
}

/// Our IKE endpoint in a lab namespace: sockets on 500 and 4500, Main Mode then Quick
/// Mode, NAT-T with forced encapsulation on our side when initiating.
fn nat_t_owner(initiator: bool) {
    nat_t_owner_mode(initiator, false, None);
}

fn nat_t_owner_mode(initiator: bool, aggressive: bool, pfs_group: Option<DhGroup>) {
    nat_t_owner_full(initiator, aggressive, pfs_group, false);
}

/// `l2tp`: transport mode for UDP/1701 between the outer addresses (the L2TP/IPsec shape)
/// instead of the tunnel between the inner hosts.
fn nat_t_owner_full(initiator: bool, aggressive: bool, pfs_group: Option<DhGroup>, l2tp: bool) {
    let (me, peer_ip) = if initiator { ("192.0.2.1", "192.0.2.2") } else { ("192.0.2.2", "192.0.2.1") };
    let s500 = UdpSocket::bind(format!("{me}:500")).expect("bind 500");
    let s4500 = UdpSocket::bind(format!("{me}:4500")).expect("bind 4500");
    for s in [&s500, &s4500] {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    }
    let mut peer500: SocketAddr = format!("{peer_ip}:500").parse().unwrap();
    let mut peer4500: SocketAddr = format!("{peer_ip}:4500").parse().unwrap();
    let mut config = Phase1Config::new(PSK, Identity::ipv4(me.parse().unwrap()));
    config.nat_traversal = Some(NatTraversal {
        local: format!("{me}:500").parse().unwrap(),
        remote: peer500,
        force_encapsulation: initiator,
    });
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let now = Instant::now();
    config.allow_aggressive = aggressive;
    let mut mm = if initiator && aggressive {
        Phase1::initiate_aggressive(config, ChaCha20Rng::seed_from_u64(seed), now).unwrap()
    } else if initiator {
        Phase1::initiate(config, ChaCha20Rng::seed_from_u64(seed), now).unwrap()
    } else {
        Phase1::respond(config, ChaCha20Rng::seed_from_u64(seed), now)
    };
    let mut quick: Option<QuickMode<ChaCha20Rng>> = None;
    let mut qconfig = QuickModeConfig {
        proposals: vec![EspProposal {
            encryption: EspEncryption::AesCbc { key_len: 16 },
            integrity: EspIntegrity::HmacSha1_96,
            lifetime: Duration::from_secs(3600),
        }],
        mode: EspMode::Tunnel,
        encapsulation: EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 },
        traffic_selectors: Some((
            TrafficSelector { id_type: IdType::Ipv4Addr, protocol: 0, port: 0, data: vec![192, 0, 2, 201] },
            TrafficSelector { id_type: IdType::Ipv4Addr, protocol: 0, port: 0, data: vec![192, 0, 2, 202] },
        )),
        retransmit_timeout: Duration::from_secs(1),
        max_retransmits: 3,
        pfs_group,
        nat_oa: None,
    };
    if l2tp {
        let (ci, cr) =
            if initiator { ([192, 0, 2, 1], [192, 0, 2, 2]) } else { ([192, 0, 2, 2], [192, 0, 2, 1]) };
        qconfig.mode = EspMode::Transport;
        qconfig.nat_oa = Some(l2sec_ike::v1::quick::NatOa {
            local: me.parse().unwrap(),
            remote: peer_ip.parse().unwrap(),
            draft: false,
        });
        qconfig.traffic_selectors = Some((
            TrafficSelector { id_type: IdType::Ipv4Addr, protocol: 17, port: 1701, data: ci.to_vec() },
            TrafficSelector { id_type: IdType::Ipv4Addr, protocol: 17, port: 1701, data: cr.to_vec() },
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut rx = [0u8; 65536];
    let send = |t: l2sec_ike::v1::phase1::Transmit, buf: &[u8], p500: SocketAddr, p4500: SocketAddr| {
        if t.udp_encapsulated {
            let mut d = vec![0u8; 4];
            d.extend_from_slice(buf);
            s4500.send_to(&d, p4500).unwrap();
        } else {
            s500.send_to(buf, p500).unwrap();
        }
    };
    loop {
        let now = Instant::now();
        assert!(
            now < deadline,
            "no result within 15 s: {:?} {:?}",
            mm.state(),
            quick.as_ref().map(|q| q.state())
        );
        let mut buf = Vec::new();
        while let Some(t) = mm.poll_transmit(now, &mut buf) {
            send(t, &buf, peer500, peer4500);
            buf.clear();
        }
        if let Some(event) = mm.poll_event() {
            match event {
                Event::Established { peer_id, nat, .. } => {
                    println!(
                        "phase 1 ({:?}) established with charon: {peer_id:?} nat {nat:?}",
                        mm.exchange_type()
                    );
                    assert!(nat.is_some_and(|n| n.nat_detected()), "{nat:?}");
                    if initiator {
                        let ctx = mm.isakmp_context().unwrap();
                        let q = QuickMode::initiate(
                            ctx,
                            qconfig.clone(),
                            ChaCha20Rng::seed_from_u64(seed ^ 7),
                            now,
                        )
                        .unwrap();
                        quick = Some(q);
                    }
                }
                Event::Failed(e) => panic!("Main Mode failed: {e}"),
                other => panic!("unexpected event {other:?}"),
            }
        }
        if let Some(q) = quick.as_mut() {
            while let Some(t) = q.poll_transmit(now, &mut buf) {
                send(t, &buf, peer500, peer4500);
                buf.clear();
            }
            if let Some(event) = q.poll_event() {
                match event {
                    QuickModeEvent::Established { child, traffic_selectors, peer_original_addresses } => {
                        println!(
                            "quick mode established: spi_in {:08x} spi_out {:08x} {:?} {:?} {:?} {:?}",
                            child.spi_in,
                            child.spi_out,
                            child.mode,
                            child.encapsulation,
                            child.encryption,
                            traffic_selectors
                        );
                        assert_eq!(
                            child.encapsulation,
                            EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 }
                        );
                        for (spi, keys) in [(child.spi_in, &child.keys_in), (child.spi_out, &child.keys_out)]
                        {
                            println!(
                                "esp key: {spi:08x} {} {}",
                                hex::encode(&keys.encryption),
                                hex::encode(&keys.integrity)
                            );
                        }
                        println!("quick mode peer NAT-OA: {peer_original_addresses:?}");
                        // Stay a moment so a repeated message still gets its answer.
                        let until = Instant::now() + Duration::from_millis(500);
                        while Instant::now() < until {
                            if let Ok((n, _)) = s4500.recv_from(&mut rx) {
                                let _ = q.handle_input(Instant::now(), rx.get(4..n).unwrap_or(&[]));
                                while let Some(t) = q.poll_transmit(Instant::now(), &mut buf) {
                                    send(t, &buf, peer500, peer4500);
                                    buf.clear();
                                }
                            }
                        }
                        return;
                    }
                    QuickModeEvent::Failed(e) => panic!("Quick Mode failed: {e}"),
                    other => panic!("unexpected event {other:?}"),
                }
            }
        }
        // One datagram from either port (4500 carries the non-ESP marker).
        let mut got = None;
        for (sock, encapsulated) in [(&s500, false), (&s4500, true)] {
            if let Ok((n, from)) = sock.recv_from(&mut rx) {
                got = Some((n, from, encapsulated));
                break;
            }
        }
        let Some((n, from, encapsulated)) = got else {
            mm.handle_timeout(Instant::now());
            if let Some(q) = quick.as_mut() {
                q.handle_timeout(Instant::now());
            }
            continue;
        };
        let data = if encapsulated {
            peer4500 = from;
            match rx.get(..4) {
                Some([0, 0, 0, 0]) => &rx[4..n],
                _ => continue, // ESP or keepalive, not IKE
            }
        } else {
            peer500 = from;
            &rx[..n]
        };
        let phase2 = Message::parse(data).is_ok_and(|m| m.header.message_id != 0);
        let quick_mode =
            Message::parse(data).is_ok_and(|m| m.header.exchange_type == ExchangeType::QuickMode);
        let result = match (phase2, quick.as_mut(), mm.isakmp_context()) {
            (false, _, _) => mm.handle_input(Instant::now(), data),
            (true, Some(q), _) if quick_mode => q.handle_input(Instant::now(), data),
            (true, None, Some(ctx)) if quick_mode && !initiator => QuickMode::respond(
                ctx,
                qconfig.clone(),
                ChaCha20Rng::seed_from_u64(seed ^ 1),
                Instant::now(),
                data,
            )
            .map(|q| quick = Some(q)),
            _ => Err(l2sec_ike::Error::UnexpectedMessage("not handled in this test")),
        };
        if let Err(e) = result {
            eprintln!("dropped a datagram: {e}");
        }
    }
}

/// Compares the ESP keys our Quick Mode derived (printed by the inner run as
/// `esp key: SPI ENC INTEG`) with the keys charon logged, via the lab's Wireshark
/// decryption table (`peer.sh keys`).
fn check_esp_keys(lab: &Lab, instance: &str, inner_out: &str) {
    let ws = lab.state.join("ws");
    lab.run(&["keys", ws.to_str().unwrap(), instance]);
    let table = std::fs::read_to_string(ws.join("esp_sa")).expect("esp_sa table");
    let ours: Vec<&str> = inner_out.lines().filter(|l| l.starts_with("esp key: ")).collect();
    assert_eq!(ours.len(), 2, "{inner_out}");
    for line in ours {
        let f: Vec<&str> = line["esp key: ".len()..].split_whitespace().collect();
        let row = table
            .lines()
            .find(|r| r.contains(&format!("\"0x{}\"", f[0])))
            .unwrap_or_else(|| panic!("charon logged no SA with SPI {}:\n{table}", f[0]));
        assert!(
            row.contains(&format!("\"0x{}\"", f[1])) && row.contains(&format!("\"0x{}\"", f[2])),
            "keys differ for SPI {}: ours {} {}, charon {row}",
            f[0],
            f[1],
            f[2]
        );
        println!("charon has the same ESP keys for SPI {}", f[0]);
    }
}

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn aggressive_mode_initiator_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        nat_t_owner_mode(true, true, None);
        return;
    }
    let lab = Lab::up("l2ikai", INNER_ENV);
    lab.run(&["start", "srv", "l2ikai-b", "responder"]);
    let inner = lab.spawn_inner("a", "aggressive_mode_initiator_against_charon").wait_with_output().unwrap();
    let log = lab.charon_log_full("srv");
    assert!(
        inner.status.success(),
        "inner initiator failed:\n{}\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stdout),
        String::from_utf8_lossy(&inner.stderr),
        tail(&log, 60)
    );
    let out = String::from_utf8_lossy(&inner.stdout);
    for l in out.lines().filter(|l| l.contains("established")) {
        println!("{l}");
    }
    let sas = lab.run(&["swanctl", "srv", "--list-sas", "--raw"]);
    let sas = String::from_utf8_lossy(&sas.stdout);
    println!("charon: {sas}");
    assert!(sas.contains("r-v1-am") && sas.contains("state=INSTALLED"), "{sas}\n{}", tail(&log, 60));
    check_esp_keys(&lab, "srv", &out);
}

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn aggressive_mode_responder_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        nat_t_owner_mode(false, true, None);
        return;
    }
    let lab = Lab::up("l2ikar", INNER_ENV);
    lab.run_env(&["start", "cli", "l2ikar-a", "initiator"], &[("ENCAP", "yes")]);
    let inner = lab.spawn_inner("b", "aggressive_mode_responder_against_charon");
    std::thread::sleep(Duration::from_millis(300));
    let up = lab.cmd().args(["up", "cli", "am-tun", "10"]).output().unwrap();
    let inner = inner.wait_with_output().unwrap();
    let log = lab.charon_log_full("cli");
    assert!(
        inner.status.success(),
        "inner responder failed:\n{}\n{}\n--- up:\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stdout),
        String::from_utf8_lossy(&inner.stderr),
        String::from_utf8_lossy(&up.stdout),
        tail(&log, 60)
    );
    let out = String::from_utf8_lossy(&inner.stdout);
    for l in out.lines().filter(|l| l.contains("established")) {
        println!("{l}");
    }
    let child = log.lines().find(|l| l.contains("CHILD_SA am-tun{") && l.contains("established"));
    println!("charon: {}", child.unwrap_or("(none)"));
    assert!(child.is_some(), "charon did not install the CHILD_SA:\n{}", tail(&log, 60));
    check_esp_keys(&lab, "cli", &out);
}

/// Quick Mode with PFS (ECP-256) from our initiator; charon's responder requires it.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn pfs_quick_mode_initiator_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        nat_t_owner_mode(true, false, Some(DhGroup::Ecp256));
        return;
    }
    let lab = Lab::up("l2ikpi", INNER_ENV);
    lab.run_env(
        &["start", "srv", "l2ikpi-b", "responder"],
        &[("V1_ESP_PROPOSALS_RESP", "aes128-sha1-ecp256")],
    );
    let inner = lab.spawn_inner("a", "pfs_quick_mode_initiator_against_charon").wait_with_output().unwrap();
    let log = lab.charon_log_full("srv");
    assert!(
        inner.status.success(),
        "inner initiator failed:\n{}\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stdout),
        String::from_utf8_lossy(&inner.stderr),
        tail(&log, 60)
    );
    let out = String::from_utf8_lossy(&inner.stdout);
    let sas = lab.run(&["swanctl", "srv", "--list-sas", "--raw"]);
    let sas = String::from_utf8_lossy(&sas.stdout);
    println!("charon: {sas}");
    assert!(sas.contains("state=INSTALLED") && sas.contains("dh-group=ECP_256"), "{sas}\n{}", tail(&log, 60));
    check_esp_keys(&lab, "srv", &out);
}

/// Quick Mode with PFS (MODP-2048) offered by charon's initiator, answered by us.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn pfs_quick_mode_responder_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        nat_t_owner_mode(false, false, Some(DhGroup::Modp2048));
        return;
    }
    let lab = Lab::up("l2ikpr", INNER_ENV);
    lab.run_env(
        &["start", "cli", "l2ikpr-a", "initiator"],
        &[("ENCAP", "yes"), ("V1_ESP_PROPOSALS", "aes128-sha1-modp2048")],
    );
    let inner = lab.spawn_inner("b", "pfs_quick_mode_responder_against_charon");
    std::thread::sleep(Duration::from_millis(300));
    let up = lab.cmd().args(["up", "cli", "mm-tun", "10"]).output().unwrap();
    let inner = inner.wait_with_output().unwrap();
    let log = lab.charon_log_full("cli");
    assert!(
        inner.status.success(),
        "inner responder failed:\n{}\n{}\n--- up:\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stdout),
        String::from_utf8_lossy(&inner.stderr),
        String::from_utf8_lossy(&up.stdout),
        tail(&log, 60)
    );
    let out = String::from_utf8_lossy(&inner.stdout);
    let child = log.lines().find(|l| l.contains("CHILD_SA mm-tun{") && l.contains("established"));
    println!("charon: {}", child.unwrap_or("(none)"));
    assert!(child.is_some(), "charon did not install the CHILD_SA:\n{}", tail(&log, 60));
    assert!(log.contains("MODP_2048"), "charon did not use PFS:\n{}", tail(&log, 60));
    check_esp_keys(&lab, "cli", &out);
}

/// The L2TP/IPsec shape: Main Mode, then a transport-mode Quick Mode for UDP/1701 with
/// UDP encapsulation (RFC 3947 mode 4). charon completes the exchange (it receives our
/// HASH(3)) and derives the same keys, but the lab's libipsec cannot install transport
/// SAs, so charon then deletes the ESP SA (see the lab README).
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn l2tp_transport_quick_mode_initiator_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        nat_t_owner_full(true, false, None, true);
        return;
    }
    let lab = Lab::up("l2iklt", INNER_ENV);
    lab.run(&["start", "srv", "l2iklt-b", "responder"]);
    let inner = lab
        .spawn_inner("a", "l2tp_transport_quick_mode_initiator_against_charon")
        .wait_with_output()
        .unwrap();
    let log = lab.charon_log_full("srv");
    assert!(
        inner.status.success(),
        "inner initiator failed:\n{}\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stdout),
        String::from_utf8_lossy(&inner.stderr),
        tail(&log, 60)
    );
    let out = String::from_utf8_lossy(&inner.stdout);
    for l in out.lines().filter(|l| l.contains("established")) {
        println!("{l}");
    }
    let selected = log.lines().find(|l| l.contains("selected proposal: ESP:AES_CBC_128/HMAC_SHA1_96"));
    println!("charon: {}", selected.unwrap_or("(none)"));
    assert!(selected.is_some(), "{}", tail(&log, 60));
    let qm3 = log.lines().find(|l| l.contains("parsed QUICK_MODE request") && l.contains("[ HASH ]"));
    println!("charon: {}", qm3.unwrap_or("(no HASH(3) parsed)"));
    assert!(qm3.is_some(), "charon did not take our HASH(3):\n{}", tail(&log, 60));
    let ts =
        log.lines().find(|l| l.contains("192.0.2.2/32[udp/l2f]") || l.contains("192.0.2.2/32[udp/1701]"));
    println!("charon: {}", ts.unwrap_or("(no L2TP traffic selector)"));
    assert!(ts.is_some(), "{}", tail(&log, 60));
    check_esp_keys(&lab, "srv", &out);
}

/// Dead Peer Detection with charon (DPD delay 1 s): we answer charon's R-U-THERE, then
/// probe charon and get its acknowledgement.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn dpd_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        dpd_owner();
        return;
    }
    let lab = Lab::up("l2ikdp", INNER_ENV);
    lab.run_env(&["start", "srv", "l2ikdp-b", "responder"], &[("DPD_DELAY", "1s")]);
    let inner = lab.spawn_inner("a", "dpd_against_charon").wait_with_output().unwrap();
    let log = lab.charon_log_full("srv");
    let out = String::from_utf8_lossy(&inner.stdout);
    assert!(
        inner.status.success(),
        "inner run failed:\n{out}\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stderr),
        tail(&log, 60)
    );
    for l in out.lines().filter(|l| l.starts_with("dpd")) {
        println!("{l}");
    }
    let acked = log.lines().find(|l| l.contains("generating") && l.contains("N(DPD_ACK)"));
    println!("charon: {}", acked.unwrap_or("(no ACK line)"));
    assert!(acked.is_some(), "{}", tail(&log, 60));
}

fn dpd_owner() {
    use l2sec_ike::v1::dpd::{Dpd, DpdConfig};
    let socket = UdpSocket::bind("192.0.2.1:500").expect("bind");
    socket.connect("192.0.2.2:500").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let config = Phase1Config::new(PSK, Identity::ipv4("192.0.2.1".parse().unwrap()));
    let mut mm = Phase1::initiate(config, ChaCha20Rng::seed_from_u64(seed), Instant::now()).unwrap();
    let mut rx = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    // Phase 1.
    let ctx = loop {
        assert!(Instant::now() < deadline, "phase 1 did not finish");
        let mut buf = Vec::new();
        while mm.poll_transmit(Instant::now(), &mut buf).is_some() {
            socket.send(&buf).unwrap();
            buf.clear();
        }
        if let Some(event) = mm.poll_event() {
            match event {
                Event::Established { peer_supports_dpd, .. } => {
                    assert!(peer_supports_dpd, "charon announces DPD");
                    break mm.isakmp_context().unwrap();
                }
                other => panic!("{other:?}"),
            }
        }
        match socket.recv(&mut rx) {
            Ok(n) => {
                let _ = mm.handle_input(Instant::now(), &rx[..n]);
            }
            Err(_) => mm.handle_timeout(Instant::now()),
        }
    };
    // Run a DPD machine for `secs`, answering and probing; returns its counters.
    let mut run = |dpd: &mut Dpd<ChaCha20Rng>, secs: u64| {
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            let mut buf = Vec::new();
            while dpd.poll_transmit(Instant::now(), &mut buf).is_some() {
                socket.send(&buf).unwrap();
                buf.clear();
            }
            assert!(dpd.poll_event().is_none(), "charon declared dead");
            match socket.recv(&mut rx) {
                Ok(n) => {
                    if let Err(e) = dpd.handle_input(Instant::now(), &rx[..n]) {
                        eprintln!("dropped: {e}");
                    }
                }
                Err(_) => dpd.handle_timeout(Instant::now()),
            }
        }
        dpd.stats()
    };
    // 1: never probe ourselves; charon probes us after 1 s of silence.
    let quiet = DpdConfig { idle: Duration::from_secs(60), ..DpdConfig::default() };
    let mut answering = Dpd::new(ctx.clone(), quiet, ChaCha20Rng::seed_from_u64(seed ^ 3), Instant::now());
    let a = run(&mut answering, 3);
    println!("dpd answered {} R-U-THERE from charon", a.requests_answered);
    assert!(a.requests_answered >= 1, "{a:?}");
    // 2: probe charon quickly.
    let eager = DpdConfig { idle: Duration::from_millis(200), ..DpdConfig::default() };
    let mut probing = Dpd::new(ctx, eager, ChaCha20Rng::seed_from_u64(seed ^ 5), Instant::now());
    let b = run(&mut probing, 2);
    println!("dpd probes {} acks {}", b.probes_sent, b.acks_received);
    assert!(b.acks_received >= 1, "{b:?}");
}

//! IPv6 through the tunnel: the l2sec client and server open IPV6CP (RFC 5072) beside
//! IPCP over real UDP sockets on 127.0.0.1, and the client pings the server's link-local
//! address over ICMPv6; the built-in virtual network answers. IPv4 keeps working in the
//! same session; IPv6 from any other source than the client's link-local address is
//! refused. IKEv1 and IKEv2.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l2sec::client::{ClientEvent, IkeVersion, icmp_echo_request};
use l2sec::driver::{ClientConnection, ClientRun, Server, ServerConfig};
use l2sec::pool::AddressPool;
use l2sec::virtual_net::icmpv6_echo;
use l2sec_ppp::secrets::ChapSecrets;

const PSK: &[u8] = b"ipv6 psk";
const PINGS: u16 = 3;

fn ping6(ike: IkeVersion) {
    let users = ChapSecrets::parse("alice * alicepass *\n").unwrap();
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    let mut config = ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, PSK, users, pool, [None, None]);
    config.lns.ppp.ipv6cp = true;
    let mut server = Server::bind(config).unwrap();
    let (ike_addr, natt) = server.local_addrs().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(Mutex::new(Vec::new()));
    let thread = {
        let (stop, events) = (stop.clone(), events.clone());
        std::thread::spawn(move || server.run(&stop, |e| events.lock().unwrap().push(e.to_json())))
    };
    let run = ClientRun {
        server: ike_addr,
        natt_port: natt.port(),
        psk: PSK.to_vec(),
        user: "alice".into(),
        password: "alicepass".into(),
        ping: None,
        timeout: Duration::from_secs(20),
    };
    let mut client = ClientConnection::start_with(&run, |c| {
        c.ike = ike;
        c.ipv6 = true;
    })
    .unwrap();
    let start = Instant::now();
    let mut v6: Option<(Ipv6Addr, Ipv6Addr)> = None;
    let mut log = Vec::new();
    let (mut sent, mut replies6, mut replies4) = (0u16, 0u16, 0u16);
    let mut next = Instant::now();
    while start.elapsed() < run.timeout && (replies6 < PINGS || replies4 < PINGS) {
        let busy = client
            .step(&mut |e| {
                if let ClientEvent::Ipv6Up { local, peer } = e {
                    v6 = Some((*local, *peer));
                }
                log.push(format!("{e:?}"));
            })
            .unwrap();
        assert!(client.failure().is_none(), "client failed: {:?}; events {log:?}", client.failure());
        while let Some(p) = client.poll_ip() {
            match p.first().map(|b| b >> 4) {
                // ICMPv6 echo reply (129) from the server's link-local address to ours.
                Some(6) => {
                    let (local, peer) = v6.expect("IPv6 before IPV6CP");
                    assert_eq!((&p[8..24], &p[24..40]), (&peer.octets()[..], &local.octets()[..]));
                    if p[6] == 58 && p[40] == 129 && p[44..46] == [0x36, 0x36] {
                        replies6 += 1;
                    }
                }
                Some(4) if p[9] == 1 && p[20] == 0 && p[24..26] == [0x34, 0x34] => replies4 += 1,
                _ => {}
            }
        }
        let now = Instant::now();
        if let (Some((local, peer)), Some(me), Some(server4)) = (v6, client.address(), client.peer())
            && now >= next
            && sent < PINGS
        {
            sent += 1;
            client.send_ip(&icmpv6_echo(local, peer, false, 0x3636, sent, b"ping over ipv6cp")).unwrap();
            client.send_ip(&icmp_echo_request(me, server4, 0x3434, sent, b"ping over ipcp")).unwrap();
            next = now + Duration::from_millis(200);
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // An IPv6 packet from a source that is not the client's link-local address: the
    // server refuses it (no answer, an error event naming the forged source).
    let mut forged_answered = false;
    if let Some((_, peer)) = v6 {
        let forged: Ipv6Addr = "fe80::bad:bad:bad:bad".parse().unwrap();
        client.send_ip(&icmpv6_echo(forged, peer, false, 0x3636, 99, b"forged")).unwrap();
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            client.step(&mut |_| {}).unwrap();
            forged_answered |= client.poll_ip().is_some();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    drop(client);
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap().unwrap();
    let events = events.lock().unwrap().join("\n");
    let (local, peer) = v6.unwrap_or_else(|| panic!("IPV6CP never opened; client events {log:?}\n{events}"));
    assert!(local.is_unicast_link_local() && peer.is_unicast_link_local() && local != peer);
    assert_eq!(
        (replies6, replies4),
        (PINGS, PINGS),
        "ICMPv6 and ICMP replies; client events {log:?}\n{events}"
    );
    assert!(!forged_answered, "a packet from a forged IPv6 source was answered");
    assert!(events.contains("sent an IPv6 packet from fe80::bad:bad:bad:bad"), "no refusal in\n{events}");
}

#[test]
fn ikev1_session_carries_ipv6_and_ipv4() {
    ping6(IkeVersion::V1);
}

#[test]
fn ikev2_session_carries_ipv6_and_ipv4() {
    ping6(IkeVersion::V2);
}

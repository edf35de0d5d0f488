//! The l2sec L2TP/IPsec VPN client.
//!
//! `cargo run --release --example client -- --server HOST[:PORT] --psk TEXT --user NAME
//!  --password TEXT [--ike v1|v2] [--natt-port N] [--ping IP --count N] [--reconnect]
//!  [--tun NAME] [--mtu N] [--raw-esp] [--events json] [--timeout SECONDS]`
//!
//! Brings the tunnel up (IKEv1 or, with `--ike v2`, IKEv2; PSK, NAT-T, ESP transport mode
//! in UDP, L2TP, PPP) and prints the assigned address. With `--ping` it sends N echo requests through the tunnel
//! (to the server's tunnel address if IP is `peer`) and exits 0 only if all came back.
//! Without `--ping` it holds the tunnel until SIGINT or SIGTERM; `--reconnect` connects
//! again when the server goes away. Either way it hangs up politely at the end (PPP LCP
//! Terminate, L2TP StopCCN, IKE Delete of the ESP and ISAKMP SAs).
//!
//! `--tun NAME` (root) creates a TUN device that gets the assigned address, with the
//! server's tunnel address as its point-to-point peer, and carries IP between it and the
//! tunnel (TCP MSS clamped to the tunnel MTU) until SIGINT/SIGTERM. PPP offers the MRU
//! that fits an outer path of `--mtu N` bytes (1500) after ESP, UDP and L2TP overhead.
//!
//! `--raw-esp` (root) does not pretend a NAT: without one, ESP travels as IP protocol 50
//! (a raw socket) instead of in UDP/4500; the server must allow it (its `--raw-esp`).
//!
//! Not implemented yet (they exit with an error saying so): `--auth` other
//! than the server's choice, `--keylog`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use l2sec::client::{ClientEvent, IkeVersion};
use l2sec::driver::{ClientRun, ClientSession};

fn usage() -> &'static str {
    "usage: client --server HOST[:PORT] --psk TEXT --user NAME --password TEXT [--ike v1|v2] [--natt-port N] \
     [--ping IP|peer --count N] [--reconnect] [--tun NAME] [--mtu N] [--raw-esp] [--events json] [--timeout SECONDS]"
}

/// What the command line asks beyond the connection itself.
struct Extra {
    json: bool,
    reconnect: bool,
    tun: Option<String>,
    mtu: Option<u16>,
    ike: IkeVersion,
    raw_esp: bool,
}

fn parse() -> Result<(ClientRun, Extra), String> {
    let mut server = None;
    let (mut psk, mut user, mut password) = (None, None, None);
    let mut natt_port = None;
    let (mut ping, mut count) = (None, 3u16);
    let mut json = false;
    let mut reconnect = false;
    let mut tun = None;
    let mut mtu = None;
    let mut ike = IkeVersion::V1;
    let mut raw_esp = false;
    let mut timeout = Duration::from_secs(30);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--server" => {
                let v = value("--server")?;
                let with_port = if v.contains(':') { v.clone() } else { format!("{v}:500") };
                let addr: SocketAddr = with_port
                    .to_socket_addrs()
                    .map_err(|e| format!("--server {v}: {e}"))?
                    .find(SocketAddr::is_ipv4)
                    .ok_or_else(|| format!("--server {v}: no IPv4 address"))?;
                server = Some(addr);
            }
            "--psk" => psk = Some(value("--psk")?),
            "--user" => user = Some(value("--user")?),
            "--password" => password = Some(value("--password")?),
            "--natt-port" => {
                natt_port = Some(value("--natt-port")?.parse().map_err(|e| format!("--natt-port: {e}"))?)
            }
            "--ping" => {
                let v = value("--ping")?;
                ping = Some(if v == "peer" {
                    None
                } else {
                    Some(v.parse::<Ipv4Addr>().map_err(|e| format!("--ping: {e}"))?)
                });
            }
            "--count" => count = value("--count")?.parse().map_err(|e| format!("--count: {e}"))?,
            "--events" => match value("--events")?.as_str() {
                "json" => json = true,
                other => return Err(format!("--events: unknown format {other:?} (json)")),
            },
            "--timeout" => {
                timeout =
                    Duration::from_secs(value("--timeout")?.parse().map_err(|e| format!("--timeout: {e}"))?)
            }
            "--reconnect" => reconnect = true,
            "--raw-esp" => raw_esp = true,
            "--tun" => tun = Some(value("--tun")?),
            "--mtu" => mtu = Some(value("--mtu")?.parse().map_err(|e| format!("--mtu: {e}"))?),
            "--ike" => ike = value("--ike")?.parse().map_err(|e| format!("--ike: {e}"))?,
            "--auth" | "--keylog" => {
                return Err(format!("{flag} is not implemented yet in this version of l2sec"));
            }
            "-h" | "--help" => return Err(usage().into()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    let need = |v: Option<String>, name: &str| v.ok_or_else(|| format!("{name} is required\n{}", usage()));
    let server = server.ok_or_else(|| format!("--server is required\n{}", usage()))?;
    Ok((
        ClientRun {
            server,
            natt_port: natt_port.unwrap_or(if server.port() == 500 { 4500 } else { server.port() + 1 }),
            psk: need(psk, "--psk")?.into_bytes(),
            user: need(user, "--user")?,
            password: need(password, "--password")?,
            ping: ping.map(|target| (target, count)),
            timeout,
        },
        Extra { json, reconnect, tun, mtu, ike, raw_esp },
    ))
}

fn json(e: &ClientEvent) -> String {
    match e {
        ClientEvent::IkeUp => r#"{"event":"ike_up"}"#.to_owned(),
        ClientEvent::EspUp { spi_in, spi_out } => {
            format!(r#"{{"event":"esp_up","spi_in":"{spi_in:08x}","spi_out":"{spi_out:08x}"}}"#)
        }
        ClientEvent::L2tpUp => r#"{"event":"l2tp_session_up"}"#.to_owned(),
        ClientEvent::PppUp { address, peer, .. } => {
            format!(r#"{{"event":"ipcp_up","address":"{address}","peer":"{peer}"}}"#)
        }
        ClientEvent::Failed(m) => format!(r#"{{"event":"session_down","cause":{:?}}}"#, m),
        other => format!(r#"{{"event":"other","detail":{:?}}}"#, format!("{other:?}")),
    }
}

fn main() -> ExitCode {
    let (run, Extra { json: as_json, reconnect, tun: tun_name, mtu, ike, raw_esp }) = match parse() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let stop = match l2sec::signals::stop_on_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("installing signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut tun = match tun_name.as_deref().map(l2sec::tun::TunDevice::open).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("--tun: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(t) = tun.as_mut() {
        // Clamp TCP MSS to the tunnel MTU (set when PPP is up).
        t.set_clamp(Some(1500));
    }
    let sink = tun.as_mut().map(|t| t as &mut dyn l2sec::driver::PacketSink);
    let session = ClientSession { run: &run, stop: &stop, reconnect, sink, dpd: None, outer_mtu: mtu, ike };
    let report = session.run_with(
        |c| c.raw_esp = raw_esp,
        |e| {
            if as_json {
                println!("{}", json(e));
            } else {
                eprintln!("{e:?}");
            }
            if let (ClientEvent::PppUp { address, peer, .. }, false) = (e, as_json) {
                println!("tunnel up: address {address}, server {peer}");
            }
        },
    );
    match report.map(|r| r.last) {
        Ok(r) => {
            let Some(address) = r.address else {
                eprintln!("no tunnel within {:?}", run.timeout);
                return ExitCode::FAILURE;
            };
            let _ = address;
            match run.ping {
                Some((_, count)) if r.pings_received < count => {
                    eprintln!("ping: {} of {} replies", r.pings_received, r.pings_sent);
                    ExitCode::FAILURE
                }
                Some(_) => {
                    if !as_json {
                        println!("ping: {} of {} replies", r.pings_received, r.pings_sent);
                    }
                    ExitCode::SUCCESS
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("client failed: {e}");
            ExitCode::FAILURE
        }
    }
}

//! The l2sec L2TP/IPsec VPN client.
//!
//! `cargo run --release --example client -- --server HOST[:PORT] (--psk TEXT | --cert F
//!  --key F --ca F [--server-name NAME]) --user NAME --password TEXT [--ike v1|v2]
//!  [--auth pap|chap|mschapv2[,...]] [--natt-port N] [--ping IP --count N] [--reconnect]
//!  [--tun NAME] [--mtu N] [--raw-esp] [--ipv6] [--keylog DIR] [--events json] [--timeout SECONDS]`
//!
//! Brings the tunnel up (IKEv1 or, with `--ike v2`, IKEv2; PSK or certificates, NAT-T,
//! ESP transport mode in UDP, L2TP, PPP) and prints the assigned address. With `--ping` it sends N echo requests through the tunnel
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
//! `--cert/--key/--ca`: IKE authenticates with our certificate (PEM chain or DER, and its
//! key) instead of the PSK, and the server's certificate must chain to `--ca` and carry
//! `--server-name` (a DNS name, e-mail address or IP address from its subjectAltName;
//! by default the host name given to `--server`, or the server's IP address if that was
//! an address). `--auth` lists the PPP authentication protocols
//! the client accepts (all three by default): if the server demands another one, PPP
//! fails. `--keylog DIR` writes Wireshark's decryption tables (`ikev1_decryption_table`
//! or `ikev2_decryption_table`, `esp_sa`, `preferences`) for our SAs into DIR, as the
//! server's `--keylog` does; point `WIRESHARK_CONFIG_DIR` at it.
//!
//! `--raw-esp` (root) does not pretend a NAT: without one, ESP travels as IP protocol 50
//! (a raw socket) instead of in UDP/4500; the server must allow it (its `--raw-esp`).
//! `--ipv6` also opens IPV6CP: IPv6 between the link-local addresses of both ends (the
//! server needs its `--ipv6`); an `ipv6cp_up` event names them.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use l2sec::client::{ClientEvent, IkeVersion};
use l2sec::driver::{ClientOptions, ClientRun, ClientSession};
use l2sec::ike::cert::PeerName;
use l2sec::ppp::AuthMethod;

fn usage() -> &'static str {
    "usage: client --server HOST[:PORT] (--psk TEXT | --cert F --key F --ca F [--server-name NAME]) --user NAME \
     --password TEXT [--ike v1|v2] [--auth pap|chap|mschapv2[,...]] [--natt-port N] [--ping IP|peer --count N] \
     [--reconnect] [--tun NAME] [--mtu N] [--raw-esp] [--ipv6] [--keylog DIR] [--events json] [--timeout SECONDS]"
}

/// What the command line asks beyond the connection itself.
struct Extra {
    json: bool,
    reconnect: bool,
    tun: Option<String>,
    mtu: Option<u16>,
    ike: IkeVersion,
    options: ClientOptions,
    raw_esp: bool,
    ipv6: bool,
}

/// `--auth`: a comma-separated list of PPP authentication protocols.
fn auth_methods(v: &str) -> Result<Vec<AuthMethod>, String> {
    v.split(',')
        .map(|m| match m.trim().to_ascii_lowercase().as_str() {
            "pap" => Ok(AuthMethod::Pap),
            "chap" | "chap-md5" => Ok(AuthMethod::ChapMd5),
            "mschapv2" | "ms-chap-v2" | "mschap-v2" => Ok(AuthMethod::MsChapV2),
            other => Err(format!("--auth: unknown method {other:?} (pap, chap, mschapv2)")),
        })
        .collect()
}

/// `--server-name`: an IP address, an e-mail address or a DNS name.
fn peer_name(v: &str) -> PeerName {
    match v.parse() {
        Ok(ip) => PeerName::Ip(ip),
        Err(_) if v.contains('@') => PeerName::UserFqdn(v.to_owned()),
        Err(_) => PeerName::Fqdn(v.to_owned()),
    }
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
    let mut ipv6 = false;
    let mut timeout = Duration::from_secs(30);
    let (mut cert, mut key, mut ca) = (None, None, None);
    let mut options = ClientOptions::default();
    let mut server_host = None;
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
                // A DNS name dialled is the name the server's certificate must carry
                // (unless --server-name says otherwise).
                let host = v.rsplit_once(':').map_or(v.as_str(), |(h, _)| h);
                server_host = (host.parse::<std::net::IpAddr>().is_err()).then(|| host.to_owned());
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
            "--ipv6" => ipv6 = true,
            "--tun" => tun = Some(value("--tun")?),
            "--mtu" => mtu = Some(value("--mtu")?.parse().map_err(|e| format!("--mtu: {e}"))?),
            "--ike" => ike = value("--ike")?.parse().map_err(|e| format!("--ike: {e}"))?,
            "--auth" => options.auth = Some(auth_methods(&value("--auth")?)?),
            "--keylog" => options.keylog = Some(value("--keylog")?.into()),
            "--cert" => cert = Some(value("--cert")?),
            "--key" => key = Some(value("--key")?),
            "--ca" => ca = Some(value("--ca")?),
            "--server-name" => options.server_name = Some(peer_name(&value("--server-name")?)),
            "-h" | "--help" => return Err(usage().into()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    let need = |v: Option<String>, name: &str| v.ok_or_else(|| format!("{name} is required\n{}", usage()));
    let server = server.ok_or_else(|| format!("--server is required\n{}", usage()))?;
    match (cert, key, ca) {
        (None, None, None) => {}
        (Some(cert), Some(key), Some(ca)) => {
            let files = l2sec::cert::CertFiles { cert: cert.into(), key: key.into(), ca: ca.into() };
            options.certificate = Some(files.load().map_err(|e| format!("--cert: {e}"))?);
        }
        _ => return Err(format!("--cert, --key and --ca go together\n{}", usage())),
    }
    if options.server_name.is_none() && options.certificate.is_some() {
        options.server_name = server_host.map(PeerName::Fqdn);
    }
    if options.server_name.is_some() && options.certificate.is_none() {
        return Err("--server-name needs --cert, --key and --ca".into());
    }
    let psk = match psk {
        Some(p) => p.into_bytes(),
        None if options.certificate.is_some() => Vec::new(),
        None => return Err(format!("--psk (or --cert, --key and --ca) is required\n{}", usage())),
    };
    Ok((
        ClientRun {
            server,
            natt_port: natt_port.unwrap_or(if server.port() == 500 { 4500 } else { server.port() + 1 }),
            psk,
            user: need(user, "--user")?,
            password: need(password, "--password")?,
            ping: ping.map(|target| (target, count)),
            timeout,
        },
        Extra { json, reconnect, tun, mtu, ike, options, raw_esp, ipv6 },
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
        ClientEvent::Ipv6Up { local, peer } => {
            format!(r#"{{"event":"ipv6cp_up","local":"{local}","peer":"{peer}"}}"#)
        }
        ClientEvent::Failed(m) => format!(r#"{{"event":"session_down","cause":{:?}}}"#, m),
        other => format!(r#"{{"event":"other","detail":{:?}}}"#, format!("{other:?}")),
    }
}

fn main() -> ExitCode {
    let (run, Extra { json: as_json, reconnect, tun: tun_name, mtu, ike, options, raw_esp, ipv6 }) =
        match parse() {
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
    let session =
        ClientSession { run: &run, stop: &stop, reconnect, sink, dpd: None, outer_mtu: mtu, ike, options };
    let report = session.run_with(
        |c| {
            c.raw_esp = raw_esp;
            c.ipv6 = ipv6;
        },
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

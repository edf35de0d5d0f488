//! The l2sec L2TP/IPsec VPN server.
//!
//! `cargo run --release --example server -- [--listen ADDR] [--ike-port N] [--natt-port N]
//!  [--psk TEXT | --psk-file F] [--users FILE] [--pool CIDR] [--dns IP ...]
//!  [--radius HOST:PORT --radius-secret TEXT ... [--radius-allow-unsigned]]
//!  [--allow-plaintext-l2tp [--l2tp-port N]] [--keylog DIR] [--events json]`
//!
//! Built-in clients of Windows, macOS/iOS, Android and Linux connect with IKEv1 + PSK, ESP
//! transport mode over NAT-T, L2TP and PPP with MS-CHAPv2. Each client gets an address from
//! the pool; the server's tunnel address (the pool's first host) answers ping and UDP echo.
//! IKEv2 clients (PSK, the L2TP transport-mode Child SA) are answered on the same ports.
//!
//! With no arguments it starts a demo on 127.0.0.1 ports 20500/20501 with PSK
//! `labpsk-0123` and user `labuser` / `labpass-0123`, and prints how to connect to it.
//!
//! With `--radius`, PPP users (MS-CHAPv2 by default) are checked by the RADIUS servers in
//! order, with failover; answers must carry a Message-Authenticator unless
//! `--radius-allow-unsigned` (for servers that cannot, e.g. FreeRADIUS before 3.2.5).
//!
//! `--keylog DIR` writes Wireshark's decryption tables for every SA into DIR; run
//! `WIRESHARK_CONFIG_DIR=DIR wireshark capture.pcap` to see IKE, ESP, L2TP and PPP inside.
//!
//! Not implemented yet (they exit with an error saying so): `--config`, certificates,
//! `--tun`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use l2sec::driver::{Server, ServerConfig, ServerEvent};
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

struct Args {
    listen: IpAddr,
    ike_port: u16,
    natt_port: u16,
    psk: Option<Vec<u8>>,
    users: Option<String>,
    pool: String,
    dns: Vec<Ipv4Addr>,
    plaintext: Option<u16>,
    json: bool,
    radius: Vec<(std::net::SocketAddr, String)>,
    radius_unsigned: bool,
    keylog: Option<std::path::PathBuf>,
}

fn usage() -> &'static str {
    "usage: server [--listen ADDR] [--ike-port N] [--natt-port N] [--psk TEXT | --psk-file F] \
     [--users FILE] [--radius HOST:PORT --radius-secret TEXT] [--pool CIDR] [--dns IP ...] \
     [--allow-plaintext-l2tp [--l2tp-port N]] [--keylog DIR] [--events json]"
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<(Args, bool), String> {
    let mut a = Args {
        listen: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ike_port: 500,
        natt_port: 4500,
        psk: None,
        users: None,
        pool: "198.51.100.0/24".into(),
        dns: Vec::new(),
        plaintext: None,
        json: false,
        radius: Vec::new(),
        radius_unsigned: false,
        keylog: None,
    };
    let mut any = false;
    let mut l2tp_port = 1701;
    while let Some(flag) = it.next() {
        any = true;
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--listen" => a.listen = value("--listen")?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--ike-port" => {
                a.ike_port = value("--ike-port")?.parse().map_err(|e| format!("--ike-port: {e}"))?
            }
            "--natt-port" => {
                a.natt_port = value("--natt-port")?.parse().map_err(|e| format!("--natt-port: {e}"))?
            }
            "--psk" => a.psk = Some(value("--psk")?.into_bytes()),
            "--psk-file" => {
                let f = value("--psk-file")?;
                let text = std::fs::read_to_string(&f).map_err(|e| format!("--psk-file {f}: {e}"))?;
                a.psk = Some(text.trim_end_matches(['\n', '\r']).as_bytes().to_vec());
            }
            "--users" => a.users = Some(value("--users")?),
            "--pool" => a.pool = value("--pool")?,
            "--dns" => a.dns.push(value("--dns")?.parse().map_err(|e| format!("--dns: {e}"))?),
            "--allow-plaintext-l2tp" => a.plaintext = Some(l2tp_port),
            "--l2tp-port" => {
                l2tp_port = value("--l2tp-port")?.parse().map_err(|e| format!("--l2tp-port: {e}"))?;
                if a.plaintext.is_some() {
                    a.plaintext = Some(l2tp_port);
                }
            }
            "--events" => match value("--events")?.as_str() {
                "json" => a.json = true,
                other => return Err(format!("--events: unknown format {other:?} (json)")),
            },
            "--radius" => {
                let v = value("--radius")?;
                let addr = v.parse().map_err(|e| format!("--radius {v}: {e} (HOST:PORT)"))?;
                a.radius.push((addr, String::new()));
            }
            "--radius-secret" => {
                let secret = value("--radius-secret")?;
                let last = a.radius.last_mut().ok_or("--radius-secret follows a --radius")?;
                last.1 = secret;
            }
            "--radius-allow-unsigned" => a.radius_unsigned = true,
            "--keylog" => a.keylog = Some(value("--keylog")?.into()),
            "--config" | "--cert" | "--key" | "--ca" | "--tun" | "--ike" => {
                return Err(format!("{flag} is not implemented yet in this version of l2sec"));
            }
            "-h" | "--help" => return Err(usage().into()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    Ok((a, any))
}

fn main() -> ExitCode {
    let (mut args, any) = match parse(std::env::args().skip(1)) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let users_text = if any {
        match &args.users {
            None if !args.radius.is_empty() => String::new(),
            Some(f) => match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("--users {f}: {e}");
                    return ExitCode::from(2);
                }
            },
            None => {
                eprintln!("--users FILE (pppd chap-secrets format) is required");
                return ExitCode::from(2);
            }
        }
    } else {
        // The demo: loopback, high ports, the lab's credentials.
        args.listen = IpAddr::V4(Ipv4Addr::LOCALHOST);
        args.ike_port = 20500;
        args.natt_port = 20501;
        args.psk = Some(b"labpsk-0123".to_vec());
        "labuser * labpass-0123 *\n".to_owned()
    };
    let Some(psk) = args.psk.clone() else {
        eprintln!("--psk or --psk-file is required");
        return ExitCode::from(2);
    };
    let users = match ChapSecrets::parse(&users_text) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("users file: {e}");
            return ExitCode::from(2);
        }
    };
    let pool = match AddressPool::parse_cidr(&args.pool) {
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("--pool: {e}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("--pool: expected a.b.c.d/n");
            return ExitCode::from(2);
        }
    };
    let dns = [args.dns.first().copied(), args.dns.get(1).copied()];
    let mut config = ServerConfig::new(args.listen, args.ike_port, args.natt_port, &psk, users, pool, dns);
    config.l2tp_port = args.plaintext;
    config.keylog = args.keylog.clone();
    if !args.radius.is_empty() {
        if let Some((addr, _)) = args.radius.iter().find(|(_, secret)| secret.is_empty()) {
            eprintln!("--radius {addr} needs a --radius-secret after it");
            return ExitCode::from(2);
        }
        if args.radius_unsigned {
            eprintln!(
                "warning: accepting RADIUS answers without Message-Authenticator (Blast-RADIUS, CVE-2024-3596)"
            );
        }
        let servers = args
            .radius
            .iter()
            .map(|(addr, secret)| {
                let mut s = l2sec_radius_auth::ServerConfig::new(
                    *addr,
                    secret,
                    l2sec_radius_auth::ServerRole::Authentication,
                );
                s.require_message_authenticator = !args.radius_unsigned;
                s
            })
            .collect();
        let nas = l2sec_radius_auth::NasIdentity { ip_address: None, identifier: Some("l2sec".into()) };
        config.radius = Some(l2sec_radius_auth::ClientConfig::new(nas, servers));
    }
    let mut server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("binding {}:{}/{}: {e}", args.listen, args.ike_port, args.natt_port);
            return ExitCode::FAILURE;
        }
    };
    if !any {
        println!(
            "l2sec demo server on 127.0.0.1: IKE 20500, NAT-T 20501, PSK labpsk-0123, user labuser / labpass-0123"
        );
        println!("connect with the l2sec client:");
        println!(
            "  cargo run --release --example client -- --server 127.0.0.1:20500 --psk labpsk-0123 \\
             --user labuser --password labpass-0123 --ping peer --count 3"
        );
        println!("  (add --ike v2 to speak IKEv2: this server answers both on the same ports)");
        println!("or the stock Linux L2TP/IPsec client from the lab:");
        println!(
            "  IKE_PORT=20500 NATT_PORT=20501 LAB_SERVER_ID=127.0.0.1 ../shared/lab/vm/start-client.sh strongswan"
        );
    }
    let stop = AtomicBool::new(false);
    let json = args.json;
    let result = server.run(&stop, |e| {
        if json {
            println!("{}", e.to_json());
        } else {
            match e {
                ServerEvent::Error(m) => eprintln!("warning: {m}"),
                other => println!("{other:?}"),
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

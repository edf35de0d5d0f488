//! The l2sec L2TP/IPsec VPN server.
//!
//! `cargo run --release --example server -- [--config FILE] [--listen ADDR] [--ike-port N]
//!  [--natt-port N] [--psk TEXT | --psk-file F] [--cert F --key F --ca F] [--users FILE] [--pool CIDR] [--dns IP ...]
//!  [--radius HOST:PORT --radius-secret TEXT ... [--radius-allow-unsigned]]
//!  [--allow-plaintext-l2tp [--l2tp-port N]] [--keylog DIR] [--events json] [--tun NAME]
//!  [--mtu N] [--no-mss-clamp] [--raw-esp]`
//!
//! Built-in clients of Windows, macOS/iOS, Android and Linux connect with IKEv1 + PSK, ESP
//! transport mode over NAT-T, L2TP and PPP with MS-CHAPv2. Each client gets an address from
//! the pool; the server's tunnel address (the pool's first host) answers ping and UDP echo.
//! IKEv2 clients (PSK, the L2TP transport-mode Child SA) are answered on the same ports.
//!
//! `--raw-esp` (root) also speaks ESP as IP protocol 50: clients not behind a NAT are no
//! longer made to encapsulate ESP in UDP/4500 (NAT detection decides).
//!
//! `--config FILE` reads every option from a TOML file (see `examples/server.toml` and
//! [`l2sec::config`]); flags on the command line override it.
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
//! `--tun NAME` (root) replaces the virtual network with a Linux TUN device holding the
//! server's tunnel address with the pool's prefix, so the kernel routes the pool into it.
//! PPP offers each client the MRU that fits an outer path of `--mtu` bytes (1500) with its
//! ESP transform, and TCP SYNs between the device and the tunnel get their MSS clamped.
//!
//! `--tun NAME` (root) replaces the virtual network with a Linux TUN device holding the
//! server's tunnel address with the pool's prefix, so the kernel routes the pool into it.
//! PPP offers each client the MRU that fits an outer path of `--mtu` bytes (1500) with its
//! ESP transform, and TCP SYNs between the device and the tunnel get their MSS clamped.
//!
//! SIGINT or SIGTERM hang every session up politely (PPP LCP Terminate, L2TP CDN and
//! StopCCN, IKE Delete of the ESP and ISAKMP SAs) and exit.
//!
//! `--cert F --key F --ca F`: both IKE versions authenticate the server with its
//! certificate and require a client certificate that chains to `--ca` (IKEv1 RSA or ECDSA
//! signatures, IKEv2 digital signatures). With a PSK given too, IKEv1 clients that propose
//! the PSK are still accepted; IKEv2 clients must then use certificates.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use l2sec::config::{ConfigError, EventFormat, ServerOptions};
use l2sec::driver::{Server, ServerEvent};

fn main() -> ExitCode {
    let (options, any) = match ServerOptions::from_args(std::env::args().skip(1)) {
        Ok(v) => v,
        Err(e @ ConfigError::Help) => {
            println!("{e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // The demo: loopback, high ports, the lab's credentials.
    let (options, users) =
        if any { (options, None) } else { (ServerOptions::demo(), Some("labuser * labpass-0123 *\n")) };
    let setup = match options.build(users) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if options.radius_allow_unsigned && !options.radius.is_empty() {
        eprintln!(
            "warning: accepting RADIUS answers without Message-Authenticator (Blast-RADIUS, CVE-2024-3596)"
        );
    }
    let mut server = match Server::bind(setup.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("binding {}:{}/{}: {e}", options.listen, options.ike_port, options.natt_port);
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
    let stop = match l2sec::signals::stop_on_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("installing signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = setup.events == EventFormat::Json;
    let mut print = |e: &ServerEvent| {
        if json {
            println!("{}", e.to_json());
        } else {
            match e {
                ServerEvent::Error(m) => eprintln!("warning: {m}"),
                other => println!("{other:?}"),
            }
        }
    };
    let result = server.run(&stop, &mut print).and_then(|()| server.shutdown(&mut print));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Interop: our IKEv2 responder with EAP-MSCHAPv2 (RFC 7296 §2.16) against a real
//! strongSwan charon as the EAP client (`local.auth = eap-mschapv2`, `eap_id = alice`),
//! our side authenticating with the lab PSK.
//!
//! The test brings up the lab namespaces with `shared/lab/strongswan/peer.sh`, starts
//! charon as initiator in `LAB-a` with the `eap-mschapv2` plugin, loads a private
//! swanctl.conf (connection `i-eap`, child `eap-tun`, written into the instance's state
//! directory), runs itself again inside `LAB-b` as the responder, whose owner loop checks
//! the MS-CHAPv2 Response against its one-user database (l2sec-ppp's RFC 2759
//! functions), and has charon initiate. Accepted: both sides establish, charon installs
//! the CHILD_SA with our keys (which proves both AUTH payloads keyed with the MSK
//! matched). Wrong password: our owner rejects, charon reports the EAP failure and
//! `--initiate` fails. Needs root and the lab packages; it fails (never skips) without
//! them.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use l2sec_ike::Error;
use l2sec_ike::cert::{Certificate, CertificateAuth, PrivateKey, TrustStore, UnixTime};
use l2sec_ike::child::EspMode;
use l2sec_ike::v2::eap::{EapAcceptance, EapConfig, EapVerdict, MsChapV2Credentials, Msk};
use l2sec_ike::v2::ike_sa::{Event, Identity, IkeSa, IkeSaConfig};
use l2sec_ike::wire::v2::TrafficSelector;
use l2sec_ppp::crypto::{mschapv2_verify, nt_password_hash};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const INNER_ENV: &str = "L2SEC_IKEV2_EAP_INTEROP_INNER";
const PSK: &str = "lab-psk-0123456789";
const USER: &str = "alice";
const PASSWORD: &str = "wonderland";

mod strongswan_lab;

use strongswan_lab::Lab;

/// The lab's default plugins plus the EAP Identity and EAP-MSCHAPv2 client methods (MD4 and DES come from
/// the openssl plugin).
const PLUGINS: &str = "random nonce openssl aes sha1 sha2 md5 hmac gmp curve25519 kdf pem pkcs1 pkcs8 \
                       x509 pubkey revocation constraints xcbc cmac ctr ccm gcm attr xauth-generic \
                       eap-identity eap-mschapv2 kernel-libipsec kernel-netlink socket-default vici";

/// Our responder's proof of identity in the first IKE_AUTH response.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ServerAuth {
    /// The lab PSK.
    Psk,
    /// `tests/data/certs/server-rsa` (SAN IP 192.0.2.2), issued by `ca-rsa`, which
    /// charon trusts: what native IKEv2 EAP clients (Windows, iOS, Android) require.
    Certificate,
}

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/certs/");

fn swanctl_conf(password: &str, server: ServerAuth) -> String {
    let remote_auth = match server {
        ServerAuth::Psk => "psk",
        ServerAuth::Certificate => "pubkey",
    };
    format!(
        r#"connections {{
    i-eap {{
        version = 2
        local_addrs = %any
        remote_addrs = 192.0.2.2
        proposals = aes128-sha256-modp2048
        encap = yes
        mobike = no
        local {{
            auth = eap-mschapv2
            eap_id = {USER}
        }}
        remote {{
            auth = {remote_auth}
            id = 192.0.2.2
        }}
        children {{
            eap-tun {{
                mode = tunnel
                local_ts = 192.0.2.201/32
                remote_ts = 192.0.2.202/32
                esp_proposals = aes128-sha256
            }}
        }}
    }}
}}
secrets {{
    eap-user {{
        id = {USER}
        secret = "{password}"
    }}
    ike-server {{
        secret = "{PSK}"
    }}
}}
"#
    )
}

/// charon initiates with EAP-MSCHAPv2 and the right password: established on both sides.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_eap_mschapv2_responder_against_charon() {
    run("heap", "ikev2_eap_mschapv2_responder_against_charon", PASSWORD, true, ServerAuth::Psk);
}

/// The same with our responder authenticating with an RSA certificate (charon checks
/// it against its CA and our IDr) before EAP-MSCHAPv2.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_eap_mschapv2_certificate_responder_against_charon() {
    run(
        "heapc",
        "ikev2_eap_mschapv2_certificate_responder_against_charon",
        PASSWORD,
        true,
        ServerAuth::Certificate,
    );
}

/// charon's password is wrong: our owner rejects, charon reports the failure.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_eap_mschapv2_wrong_password_against_charon() {
    run(
        "heapw",
        "ikev2_eap_mschapv2_wrong_password_against_charon",
        "not-wonderland",
        false,
        ServerAuth::Psk,
    );
}

fn run(lab_name: &'static str, test: &str, password: &str, accept: bool, server: ServerAuth) {
    if std::env::var_os(INNER_ENV).is_some() {
        inner_responder(accept, server);
        return;
    }
    let lab = Lab::up(lab_name, INNER_ENV);
    let ns_a = format!("{lab_name}-a");
    lab.run_env(&["start", "cli", &ns_a, "initiator"], &[("PLUGINS", PLUGINS)]);
    let dir = lab.state.join("ss").join("cli");
    let conf = dir.join("eap.swanctl.conf");
    std::fs::write(&conf, swanctl_conf(password, server)).unwrap();
    if server == ServerAuth::Certificate {
        // swanctl loads the CAs from x509ca/ next to the file it is given.
        std::fs::create_dir_all(dir.join("x509ca")).unwrap();
        std::fs::copy(format!("{CERTS}ca-rsa.pem"), dir.join("x509ca").join("ca-rsa.pem")).unwrap();
    }
    let loaded = lab.run(&["swanctl", "cli", "--load-all", "--file", conf.to_str().unwrap()]);
    let loaded = String::from_utf8_lossy(&loaded.stdout).into_owned();
    assert!(loaded.contains("i-eap"), "charon did not load the EAP connection:\n{loaded}");
    if server == ServerAuth::Certificate {
        assert!(loaded.contains("loaded certificate"), "charon did not load the CA:\n{loaded}");
    }
    let ns_b = format!("{lab_name}-b");
    lab.run(&["cap-start", "t", &ns_b, &format!("{lab_name}b0")]);
    let inner = lab.spawn_inner("b", test);
    std::thread::sleep(Duration::from_millis(300)); // let the responder bind its ports
    let up = lab.cmd().args(["up", "cli", "eap-tun", "10"]).output().unwrap();
    let inner = inner.wait_with_output().unwrap();
    lab.run(&["cap-stop", "t"]);
    let inner_out = String::from_utf8_lossy(&inner.stdout);
    let log = lab.charon_log_full("cli");
    let tail = lab.charon_log("cli", 60);
    assert!(
        inner.status.success(),
        "inner responder failed:\n{inner_out}\n{}\n--- charon up:\n{}\n--- charon log tail:\n{tail}",
        String::from_utf8_lossy(&inner.stderr),
        String::from_utf8_lossy(&up.stdout),
    );
    let eap_line = inner_out.lines().find(|l| l.starts_with("eap user=")).unwrap_or_else(|| {
        panic!("our responder never saw an MS-CHAPv2 Response:\n{inner_out}\n--- charon log tail:\n{tail}")
    });
    println!("{eap_line}");
    assert!(eap_line.contains(&format!("user={USER}")), "{eap_line}");
    if !accept {
        assert!(inner_out.contains("rejected"), "our side did not reject:\n{inner_out}");
        assert!(!up.status.success(), "charon's initiate succeeded with a wrong password:\n{tail}");
        assert!(
            log.contains("EAP-MS-CHAPv2 failed with error ERROR_AUTHENTICATION_FAILURE"),
            "charon did not read our MS-CHAPv2 Failure Request:\n{tail}"
        );
        // charon ends with INFORMATIONAL [ N(AUTH_FAILED) ], which our side answers.
        assert!(
            log.contains("EAP_MSCHAPV2 method failed") && log.contains("[ N(AUTH_FAILED) ]"),
            "charon did not report the EAP failure:\n{tail}"
        );
        assert!(!log.contains("state change: CONNECTING => ESTABLISHED"), "charon established:\n{tail}");
        let says: Vec<&str> =
            log.lines().filter(|l| l.contains("EAP") || l.contains("AUTHENTICATION_FAILED")).collect();
        println!("charon:\n{}", says.join("\n"));
        return;
    }
    let ours = inner_out
        .lines()
        .find(|l| l.starts_with("established"))
        .unwrap_or_else(|| panic!("inner run did not establish:\n{inner_out}\n--- charon log tail:\n{tail}"));
    println!("{ours}");
    assert!(up.status.success(), "charon's `up` failed:\n{}\n{tail}", String::from_utf8_lossy(&up.stdout),);
    assert!(
        log.contains("EAP method EAP_MSCHAPV2 succeeded"),
        "charon did not complete EAP-MSCHAPv2:\n{tail}"
    );
    let how = match server {
        ServerAuth::Psk => "authentication of '192.0.2.2' with pre-shared key successful",
        ServerAuth::Certificate => "authentication of '192.0.2.2' with RSA",
    };
    assert!(log.contains(how), "charon did not authenticate us as expected ({how}):\n{tail}");
    let sas = lab.run(&["swanctl", "cli", "--list-sas", "--raw"]);
    let sas = String::from_utf8_lossy(&sas.stdout);
    println!("charon: {sas}");
    assert!(
        sas.contains("version=2") && sas.contains("state=ESTABLISHED") && sas.contains("state=INSTALLED"),
        "charon has no established IKEv2 SA with an installed CHILD_SA:\n{sas}\n--- charon log tail:\n{tail}",
    );
    let ws = lab.state.join("ws");
    lab.run(&["keys", ws.to_str().unwrap(), "cli"]);
    let esp_sa = std::fs::read_to_string(ws.join("esp_sa")).unwrap_or_default();
    let keys: Vec<&str> = ours.split_whitespace().filter_map(|w| w.strip_prefix("key=")).collect();
    assert_eq!(keys.len(), 2, "{ours}");
    for key in keys {
        assert!(esp_sa.contains(&format!("0x{key}")), "charon did not install our key {key}:\n{esp_sa}");
    }
    // tshark decrypts all ten IKE_AUTH messages (five exchanges) with charon's keys.
    let decoded = Command::new("bash")
        .arg(strongswan_lab::lab_dir().join("tools/decode.sh"))
        .arg(lab.state.join("ss").join("t.pcapng"))
        .arg(&ws)
        .output()
        .expect("run decode.sh");
    let text = String::from_utf8_lossy(&decoded.stdout);
    assert!(decoded.status.success(), "tshark did not decrypt everything:\n{text}");
    let summary = text.lines().find(|l| l.starts_with("SUMMARY")).unwrap_or_default();
    println!("decode.sh: {summary}");
    let encrypted = summary
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ike_encrypted="))
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    assert!(encrypted >= 10, "fewer than 10 decrypted IKE messages:\n{text}");
}

/// The owner's user database: one user.
fn check(c: &MsChapV2Credentials) -> EapVerdict {
    if c.user != USER.as_bytes() {
        return EapVerdict::Reject;
    }
    let hash = nt_password_hash(PASSWORD);
    match mschapv2_verify(&hash, &c.authenticator_challenge, &c.peer_challenge, &c.user, &c.nt_response) {
        Some(o) => EapVerdict::Accept(EapAcceptance {
            authenticator_response: o.authenticator_response,
            message: "welcome to l2sec".into(),
            msk: Msk::from_mschapv2(&o.mppe.send, &o.mppe.recv),
        }),
        None => EapVerdict::Reject,
    }
}

/// Runs inside LAB-b: our IKEv2 EAP responder for charon's `eap-tun`.
fn inner_responder(expect_accept: bool, server: ServerAuth) {
    let (me, peer_ip) = ("192.0.2.2", "192.0.2.1");
    let s500 = UdpSocket::bind(format!("{me}:500")).expect("bind 500");
    let s4500 = UdpSocket::bind(format!("{me}:4500")).expect("bind 4500");
    for s in [&s500, &s4500] {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    }
    let mut peer500: SocketAddr = format!("{peer_ip}:500").parse().unwrap();
    let mut peer4500: SocketAddr = format!("{peer_ip}:4500").parse().unwrap();
    let mut config = IkeSaConfig::new(
        PSK.as_bytes(),
        Identity::ip(me.parse().unwrap()),
        format!("{me}:500").parse().unwrap(),
        peer500,
    );
    config.child.mode = EspMode::Tunnel;
    config.child.local_ts = vec![TrafficSelector::ipv4_host("192.0.2.202".parse().unwrap(), 0, None)];
    config.child.remote_ts = vec![TrafficSelector::ipv4_host("192.0.2.201".parse().unwrap(), 0, None)];
    if server == ServerAuth::Certificate {
        let read = |name: &str| std::fs::read(format!("{CERTS}{name}")).unwrap();
        let mut trust = TrustStore::new();
        trust.add(Certificate::from_pem(&read("ca-rsa.pem")).unwrap()).unwrap();
        let unix = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        config.certificate = Some(
            CertificateAuth::new(
                vec![Certificate::from_pem(&read("server-rsa.pem")).unwrap()],
                PrivateKey::from_pem(&read("server-rsa.key")).unwrap(),
                trust,
                UnixTime(unix),
            )
            .expect("server certificate"),
        );
    }
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let eap = EapConfig::default();
    let mut sa = IkeSa::respond_with_eap(config, eap, ChaCha20Rng::seed_from_u64(seed), Instant::now());
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut done_at: Option<Instant> = None;
    let mut buf = Vec::new();
    let mut rx = [0u8; 65536];
    loop {
        let now = Instant::now();
        assert!(now < deadline, "no result within 15 s, state {:?}", sa.state());
        if done_at.is_some_and(|t| now > t + Duration::from_millis(500)) {
            return;
        }
        buf.clear();
        while let Some(t) = sa.poll_transmit(now, &mut buf) {
            if t.udp_encapsulated {
                let mut d = vec![0u8; 4];
                d.extend_from_slice(&buf);
                s4500.send_to(&d, peer4500).unwrap();
            } else {
                s500.send_to(&buf, peer500).unwrap();
            }
            buf.clear();
        }
        while let Some(event) = sa.poll_event() {
            match event {
                Event::EapMsChapV2(c) => {
                    let verdict = check(&c);
                    let accepted = matches!(verdict, EapVerdict::Accept(_));
                    println!(
                        "eap user={} eap_identity={:?} peer_id={:?} accepted={accepted}",
                        String::from_utf8_lossy(&c.user),
                        c.eap_identity.as_deref().map(String::from_utf8_lossy),
                        c.peer_id
                    );
                    sa.answer_eap(now, verdict).expect("answer_eap");
                }
                Event::Established { child, suite, peer_id, nat, .. } => {
                    assert!(expect_accept, "established with a wrong password");
                    assert_eq!(peer_id.data, vec![192, 0, 2, 1], "charon's IKE ID");
                    println!(
                        "established with charon over EAP-MSCHAPv2: {suite:?} nat {nat:?} spi_in {:08x} \
                         spi_out {:08x} key={} key={}",
                        child.spi_in,
                        child.spi_out,
                        hex::encode(&child.keys_in.encryption),
                        hex::encode(&child.keys_out.encryption),
                    );
                    done_at = Some(now);
                }
                Event::Failed(Error::AuthenticationFailed) if !expect_accept => {
                    println!(
                        "rejected: MS-CHAPv2 Failure (E=691), EAP-Failure and AUTHENTICATION_FAILED sent"
                    );
                    done_at = Some(now);
                }
                Event::Failed(e) => panic!("IKEv2 handshake failed: {e}"),
                other => panic!("unexpected event {other:?}"),
            }
        }
        let mut got = None;
        for (sock, encapsulated) in [(&s500, false), (&s4500, true)] {
            if let Ok((n, from)) = sock.recv_from(&mut rx) {
                got = Some((n, from, encapsulated));
                break;
            }
        }
        let Some((n, from, encapsulated)) = got else {
            sa.handle_timeout(Instant::now());
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
        if let Err(e) = sa.handle_input(Instant::now(), data) {
            eprintln!("dropped a datagram: {e}");
        }
    }
}

//! Interop with certificates: our IKEv1 Main Mode with RSA signatures and our IKEv2
//! certificate authentication (RSA and ECDSA) against a real strongSwan charon, both
//! directions.
//!
//! The lab's swanctl templates are PSK-only, so after `peer.sh start` each test writes a
//! private `cert.swanctl.conf` into the charon instance's state directory, puts the test
//! PKI of `tests/data/certs` into the credential directories next to it (x509, x509ca,
//! private) and loads it with `swanctl --load-all --file`. The shared lab is not changed.
//! Then the test runs itself again inside the other namespace, where the inner run speaks
//! IKE over UDP sockets on 500 and 4500. Both sides must report the IKE SA established,
//! and charon's log must show our certificate accepted and our signature verified.
//! Needs root and the lab packages; it fails (never skips) without them.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use l2sec_ike::cert::{Certificate, CertificateAuth, PeerName, PrivateKey, TrustStore, UnixTime};
use l2sec_ike::child::EspMode;
use l2sec_ike::crypto::DhGroup;
use l2sec_ike::v1::phase1::{self, Phase1, Phase1Config};
use l2sec_ike::v2::ike_sa::{self, IkeSa, IkeSaConfig};
use l2sec_ike::v2::keys::IkeSuite;
use l2sec_ike::wire::v1::IdType as IdTypeV1;
use l2sec_ike::wire::v2::TrafficSelector;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

mod strongswan_lab;

use strongswan_lab::Lab;

const INNER_ENV: &str = "L2SEC_CERT_INTEROP_INNER";
const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/certs/");
const CLIENT_IP: &str = "192.0.2.1";
const SERVER_IP: &str = "192.0.2.2";

/// Which certificates a scenario uses.
#[derive(Clone, Copy, Debug)]
enum Pki {
    /// RSA CA, RSA end entities.
    Rsa,
    /// P-384 CA; P-256 server, P-384 client.
    Ecdsa,
}

impl Pki {
    fn ca(self) -> &'static str {
        match self {
            Self::Rsa => "ca-rsa",
            Self::Ecdsa => "ca-ecdsa",
        }
    }

    fn server(self) -> &'static str {
        match self {
            Self::Rsa => "server-rsa",
            Self::Ecdsa => "server-ecdsa",
        }
    }

    fn client(self) -> &'static str {
        match self {
            Self::Rsa => "client-rsa",
            Self::Ecdsa => "client-ecdsa",
        }
    }
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{CERTS}{name}")).unwrap_or_else(|e| panic!("{CERTS}{name}: {e}"))
}

/// Our certificate configuration for end entity `name` under `ca`, at the real time.
fn our_auth(name: &str, ca: &str, rfc7427: bool) -> CertificateAuth {
    let cert = Certificate::from_pem(&read(&format!("{name}.pem"))).unwrap();
    let key = PrivateKey::from_pem(&read(&format!("{name}.key"))).unwrap();
    let mut trust = TrustStore::new();
    trust.add(Certificate::from_pem(&read(&format!("{ca}.pem"))).unwrap()).unwrap();
    let mut auth = CertificateAuth::new(vec![cert], key, trust, UnixTime::from(SystemTime::now())).unwrap();
    auth.rfc7427 = rfc7427;
    auth
}

/// Replaces charon instance `inst`'s connections with `conf` and gives it the end entity
/// `ee` (certificate and key) and the CA `ca`.
fn load_charon_config(lab: &Lab, inst: &str, conf: &str, ee: &str, ca: &str) {
    let dir = lab.state.join("ss").join(inst);
    let copy = |from: &str, to: &Path| {
        std::fs::write(to, read(from)).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    };
    copy(&format!("{ee}.pem"), &dir.join("x509").join(format!("{ee}.pem")));
    copy(&format!("{ee}.key"), &dir.join("private").join(format!("{ee}.key")));
    copy(&format!("{ca}.pem"), &dir.join("x509ca").join(format!("{ca}.pem")));
    let file = dir.join("cert.swanctl.conf");
    std::fs::write(&file, conf).unwrap();
    let out = lab.run(&["swanctl", inst, "--load-all", "--file", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("loaded certificate") && text.contains("loaded "), "swanctl --load-all:\n{text}");
}

/// A charon connection authenticating with `ee`'s certificate and accepting peers
/// certified by `ca`. IKEv2 uses FQDN identities, IKEv1 the subject DNs.
fn charon_conf(name: &str, version: u8, ee: &str, ca: &str, local_id: &str, remote: Option<&str>) -> String {
    charon_conf_mode(name, version, false, ee, ca, local_id, remote)
}

/// As [`charon_conf`]; `aggressive` selects IKEv1 Aggressive Mode.
fn charon_conf_mode(
    name: &str,
    version: u8,
    aggressive: bool,
    ee: &str,
    ca: &str,
    local_id: &str,
    remote: Option<&str>,
) -> String {
    let aggressive = if aggressive { "yes" } else { "no" };
    let remote_addrs = remote.map_or("%any".to_owned(), str::to_owned);
    let (local_ts, remote_ts) = if remote.is_some() {
        ("192.0.2.201/32", "192.0.2.202/32")
    } else {
        ("192.0.2.202/32", "192.0.2.201/32")
    };
    let (ike, esp) = if version == 2 {
        ("aes128-sha256-modp2048, default", "aes128-sha256, default")
    } else {
        ("aes128-sha1-modp2048, aes256-sha256-modp2048", "aes128-sha1")
    };
    let id = if local_id.is_empty() { String::new() } else { format!("id = {local_id}") };
    format!(
        "connections {{
    {name} {{
        version = {version}
        aggressive = {aggressive}
        local_addrs = %any
        remote_addrs = {remote_addrs}
        proposals = {ike}
        mobike = no
        local {{
            auth = pubkey
            certs = {ee}.pem
            {id}
        }}
        remote {{
            auth = pubkey
            cacerts = {ca}.pem
            id = %any
        }}
        children {{
            cert-tun {{
                mode = tunnel
                local_ts = {local_ts}
                remote_ts = {remote_ts}
                esp_proposals = {esp}
            }}
        }}
    }}
}}
"
    )
}

// --- IKEv2 ----------------------------------------------------------------------------

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_rsa_certificate_initiator_against_charon() {
    v2_initiator("hcert2ri", "ikev2_rsa_certificate_initiator_against_charon", Pki::Rsa, false);
}

/// Our initiator signs with RSASSA-PSS (method 14, SHA-256, salt 32); charon verifies it.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_rsa_pss_initiator_against_charon() {
    if std::env::var_os(INNER_ENV).is_some() {
        let me: SocketAddr = format!("{CLIENT_IP}:500").parse().unwrap();
        let peer: SocketAddr = format!("{SERVER_IP}:500").parse().unwrap();
        let mut config = IkeSaConfig::new(b"unused", ike_sa::Identity::fqdn("client.l2sec.test"), me, peer);
        tunnel_child(&mut config, "192.0.2.201", "192.0.2.202");
        let mut auth = our_auth("client-rsa", "ca-rsa", true);
        auth.rsa_pss = true;
        config.certificate = Some(auth);
        let sa = IkeSa::initiate(config, rng(), Instant::now()).unwrap();
        drive(V2(sa), CLIENT_IP, SERVER_IP, Duration::ZERO);
        return;
    }
    let lab = Lab::up("hcert2pi", INNER_ENV);
    lab.run(&["start", "srv", "hcert2pi-b", "responder"]);
    let conf = charon_conf("r-cert", 2, "server-rsa", "ca-rsa", "server.l2sec.test", None);
    load_charon_config(&lab, "srv", &conf, "server-rsa", "ca-rsa");
    let inner = lab.spawn_inner("a", "ikev2_rsa_pss_initiator_against_charon").wait_with_output().unwrap();
    check(&lab, "srv", &inner, 2, "client.l2sec.test", "RSA_EMSA_PSS_SHA2_256_SALT_32");
}

/// charon signs its AUTH with RSASSA-PSS (`charon.rsa_pss = yes`), which we verify
/// (RFC 7427 method 14 with an RSASSA-PSS AlgorithmIdentifier).
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_rsa_pss_from_charon_is_verified() {
    v2_initiator("hcert2p", "ikev2_rsa_pss_from_charon_is_verified", Pki::Rsa, true);
}

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_ecdsa_certificate_initiator_against_charon() {
    v2_initiator("hcert2ei", "ikev2_ecdsa_certificate_initiator_against_charon", Pki::Ecdsa, false);
}

/// Our responder does not announce SIGNATURE_HASH_ALGORITHMS here, so both sides use the
/// classic RSA method (1).
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_rsa_certificate_responder_against_charon() {
    v2_responder("hcert2rr", "ikev2_rsa_certificate_responder_against_charon", Pki::Rsa, false);
}

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_ecdsa_certificate_responder_against_charon() {
    v2_responder("hcert2er", "ikev2_ecdsa_certificate_responder_against_charon", Pki::Ecdsa, true);
}

fn v2_initiator(lab_name: &'static str, test: &str, pki: Pki, charon_pss: bool) {
    if std::env::var_os(INNER_ENV).is_some() {
        let me: SocketAddr = format!("{CLIENT_IP}:500").parse().unwrap();
        let peer: SocketAddr = format!("{SERVER_IP}:500").parse().unwrap();
        let mut config = IkeSaConfig::new(b"unused", ike_sa::Identity::fqdn("client.l2sec.test"), me, peer);
        config.proposals = vec![IkeSuite::aes128_sha256(DhGroup::Modp2048)];
        tunnel_child(&mut config, "192.0.2.201", "192.0.2.202");
        let mut auth = our_auth(pki.client(), pki.ca(), true);
        // Only the server's certificate will do, not any other one from the same CA.
        auth.expected_peer = Some(PeerName::Fqdn("server.l2sec.test".into()));
        config.certificate = Some(auth);
        let sa = IkeSa::initiate(config, rng(), Instant::now()).unwrap();
        drive(V2(sa), CLIENT_IP, SERVER_IP, Duration::ZERO);
        return;
    }
    let lab = Lab::up(lab_name, INNER_ENV);
    let extra = lab.state.join("pss.conf");
    std::fs::write(&extra, "charon {\n    rsa_pss = yes\n}\n").unwrap();
    let env: &[(&str, &str)] = if charon_pss { &[("EXTRA_CONF", extra.to_str().unwrap())] } else { &[] };
    lab.run_env(&["start", "srv", &format!("{lab_name}-b"), "responder"], env);
    let conf = charon_conf("r-cert", 2, pki.server(), pki.ca(), "server.l2sec.test", None);
    load_charon_config(&lab, "srv", &conf, pki.server(), pki.ca());
    let inner = lab.spawn_inner("a", test).wait_with_output().unwrap();
    let scheme = match pki {
        Pki::Rsa => "RSA_EMSA_PKCS1_SHA2_256", // RFC 7427 method 14
        Pki::Ecdsa => "ECDSA_WITH_SHA384_DER", // method 14 with our P-384 key
    };
    check(&lab, "srv", &inner, 2, "client.l2sec.test", scheme);
    if charon_pss {
        let log = lab.charon_log_full("srv");
        let own = log.lines().find(|l| l.contains("(myself) with RSA_EMSA_PSS"));
        assert!(own.is_some(), "charon did not sign with RSASSA-PSS:\n{}", lab.charon_log("srv", 60));
        println!("charon: {}", own.unwrap_or_default());
    }
}

fn v2_responder(lab_name: &'static str, test: &str, pki: Pki, rfc7427: bool) {
    if std::env::var_os(INNER_ENV).is_some() {
        let me: SocketAddr = format!("{SERVER_IP}:500").parse().unwrap();
        let peer: SocketAddr = format!("{CLIENT_IP}:500").parse().unwrap();
        let mut config = IkeSaConfig::new(b"unused", ike_sa::Identity::fqdn("server.l2sec.test"), me, peer);
        tunnel_child(&mut config, "192.0.2.202", "192.0.2.201");
        config.certificate = Some(our_auth(pki.server(), pki.ca(), rfc7427));
        let sa = IkeSa::respond(config, rng(), Instant::now());
        drive(V2(sa), SERVER_IP, CLIENT_IP, Duration::from_millis(500));
        return;
    }
    let lab = Lab::up(lab_name, INNER_ENV);
    lab.run(&["start", "cli", &format!("{lab_name}-a"), "initiator"]);
    let conf = charon_conf("i-cert", 2, pki.client(), pki.ca(), "client.l2sec.test", Some(SERVER_IP));
    load_charon_config(&lab, "cli", &conf, pki.client(), pki.ca());
    let inner = lab.spawn_inner("b", test);
    std::thread::sleep(Duration::from_millis(300)); // let the responder bind its ports
    let up =
        lab.cmd().args(["swanctl", "cli", "--initiate", "--child", "cert-tun", "--timeout", "10"]).output();
    let inner = inner.wait_with_output().unwrap();
    let up = up.unwrap();
    println!("charon --initiate: {}", String::from_utf8_lossy(&up.stdout).lines().last().unwrap_or(""));
    let scheme = match (pki, rfc7427) {
        (Pki::Rsa, false) => "RSA signature", // classic method 1
        (Pki::Rsa, true) => "RSA_EMSA_PKCS1_SHA2_256",
        (Pki::Ecdsa, false) => "ECDSA-256 signature",  // method 9
        (Pki::Ecdsa, true) => "ECDSA_WITH_SHA256_DER", // method 14 with our P-256 key
    };
    check(&lab, "cli", &inner, 2, "server.l2sec.test", scheme);
    assert!(up.status.success(), "charon's initiate failed:\n{}", String::from_utf8_lossy(&up.stdout));
}

/// charon's certificate comes from a CA we do not trust: our initiator must refuse it
/// (after charon, which trusts our CA, has accepted us).
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn ikev2_initiator_refuses_an_untrusted_charon_certificate() {
    if std::env::var_os(INNER_ENV).is_some() {
        let me: SocketAddr = format!("{CLIENT_IP}:500").parse().unwrap();
        let peer: SocketAddr = format!("{SERVER_IP}:500").parse().unwrap();
        let mut config = IkeSaConfig::new(b"unused", ike_sa::Identity::fqdn("client.l2sec.test"), me, peer);
        tunnel_child(&mut config, "192.0.2.201", "192.0.2.202");
        // Our certificate is RSA, but we trust only the ECDSA CA.
        config.certificate = Some(our_auth("client-rsa", "ca-ecdsa", true));
        let sa = IkeSa::initiate(config, rng(), Instant::now()).unwrap();
        let error = drive_to_end(V2(sa), CLIENT_IP, SERVER_IP, Duration::ZERO).unwrap_err();
        println!("refused: {error}");
        return;
    }
    let lab = Lab::up("hcert2u", INNER_ENV);
    lab.run(&["start", "srv", "hcert2u-b", "responder"]);
    let conf = charon_conf("r-cert", 2, "server-rsa", "ca-rsa", "server.l2sec.test", None);
    load_charon_config(&lab, "srv", &conf, "server-rsa", "ca-rsa");
    let inner = lab
        .spawn_inner("a", "ikev2_initiator_refuses_an_untrusted_charon_certificate")
        .wait_with_output()
        .unwrap();
    let inner_out = String::from_utf8_lossy(&inner.stdout);
    assert!(
        inner.status.success() && inner_out.contains("refused: certificate: no trusted issuer"),
        "inner run:\n{inner_out}\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stderr),
        lab.charon_log("srv", 60)
    );
    println!("{}", inner_out.lines().find(|l| l.starts_with("refused")).unwrap_or_default());
}

fn tunnel_child(config: &mut IkeSaConfig, local: &str, remote: &str) {
    config.child.mode = EspMode::Tunnel;
    config.child.local_ts = vec![TrafficSelector::ipv4_host(local.parse().unwrap(), 0, None)];
    config.child.remote_ts = vec![TrafficSelector::ipv4_host(remote.parse().unwrap(), 0, None)];
}

// --- IKEv1 ----------------------------------------------------------------------------

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn main_mode_rsa_signature_initiator_against_charon() {
    let test = "main_mode_rsa_signature_initiator_against_charon";
    if std::env::var_os(INNER_ENV).is_some() {
        let mm = Phase1::initiate(v1_config("client-rsa"), rng(), Instant::now()).unwrap();
        drive(V1(mm), CLIENT_IP, SERVER_IP, Duration::ZERO);
        return;
    }
    let lab = Lab::up("hcert1i", INNER_ENV);
    lab.run(&["start", "srv", "hcert1i-b", "responder"]);
    let conf = charon_conf("r-cert", 1, "server-rsa", "ca-rsa", "", None);
    load_charon_config(&lab, "srv", &conf, "server-rsa", "ca-rsa");
    let inner = lab.spawn_inner("a", test).wait_with_output().unwrap();
    check(&lab, "srv", &inner, 1, "CN=client.l2sec.test", "RSA_EMSA_PKCS1_NULL");
}

#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn main_mode_rsa_signature_responder_against_charon() {
    let test = "main_mode_rsa_signature_responder_against_charon";
    if std::env::var_os(INNER_ENV).is_some() {
        let mm = Phase1::respond(v1_config("server-rsa"), rng(), Instant::now());
        // charon goes on with Quick Mode, which this test does not answer.
        drive(V1(mm), SERVER_IP, CLIENT_IP, Duration::from_millis(500));
        return;
    }
    let lab = Lab::up("hcert1r", INNER_ENV);
    lab.run(&["start", "cli", "hcert1r-a", "initiator"]);
    let conf = charon_conf("i-cert", 1, "client-rsa", "ca-rsa", "", Some(SERVER_IP));
    load_charon_config(&lab, "cli", &conf, "client-rsa", "ca-rsa");
    let inner = lab.spawn_inner("b", test);
    std::thread::sleep(Duration::from_millis(300));
    // Quick Mode will not complete (nobody answers it): a short timeout.
    let _ =
        lab.cmd().args(["swanctl", "cli", "--initiate", "--child", "cert-tun", "--timeout", "3"]).output();
    let inner = inner.wait_with_output().unwrap();
    check(&lab, "cli", &inner, 1, "CN=server.l2sec.test", "RSA_EMSA_PKCS1_NULL");
}

/// Main Mode with ECDSA signatures (RFC 4754: our P-384 key, method 10; charon's P-256),
/// our initiator against charon.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn main_mode_ecdsa_signature_initiator_against_charon() {
    let test = "main_mode_ecdsa_signature_initiator_against_charon";
    if std::env::var_os(INNER_ENV).is_some() {
        let mm = Phase1::initiate(v1_config_ca("client-ecdsa", "ca-ecdsa"), rng(), Instant::now()).unwrap();
        drive(V1(mm), CLIENT_IP, SERVER_IP, Duration::ZERO);
        return;
    }
    let lab = Lab::up("hcert1ei", INNER_ENV);
    lab.run(&["start", "srv", "hcert1ei-b", "responder"]);
    let conf = charon_conf("r-cert", 1, "server-ecdsa", "ca-ecdsa", "", None);
    load_charon_config(&lab, "srv", &conf, "server-ecdsa", "ca-ecdsa");
    let inner = lab.spawn_inner("a", test).wait_with_output().unwrap();
    check(&lab, "srv", &inner, 1, "CN=client.l2sec.test", "ECDSA_WITH_NULL");
}

/// Main Mode with ECDSA signatures, charon (P-384 client certificate) initiating to our
/// P-256 responder.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn main_mode_ecdsa_signature_responder_against_charon() {
    let test = "main_mode_ecdsa_signature_responder_against_charon";
    if std::env::var_os(INNER_ENV).is_some() {
        let mm = Phase1::respond(v1_config_ca("server-ecdsa", "ca-ecdsa"), rng(), Instant::now());
        drive(V1(mm), SERVER_IP, CLIENT_IP, Duration::from_millis(500));
        return;
    }
    let lab = Lab::up("hcert1er", INNER_ENV);
    lab.run(&["start", "cli", "hcert1er-a", "initiator"]);
    let conf = charon_conf("i-cert", 1, "client-ecdsa", "ca-ecdsa", "", Some(SERVER_IP));
    load_charon_config(&lab, "cli", &conf, "client-ecdsa", "ca-ecdsa");
    let inner = lab.spawn_inner("b", test);
    std::thread::sleep(Duration::from_millis(300));
    let _ =
        lab.cmd().args(["swanctl", "cli", "--initiate", "--child", "cert-tun", "--timeout", "3"]).output();
    let inner = inner.wait_with_output().unwrap();
    check(&lab, "cli", &inner, 1, "CN=server.l2sec.test", "ECDSA_WITH_NULL");
}

/// Aggressive Mode with RSA signatures, our initiator against charon's responder.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn aggressive_mode_rsa_signature_initiator_against_charon() {
    let test = "aggressive_mode_rsa_signature_initiator_against_charon";
    if std::env::var_os(INNER_ENV).is_some() {
        let mm = Phase1::initiate_aggressive(v1_config("client-rsa"), rng(), Instant::now()).unwrap();
        drive(V1(mm), CLIENT_IP, SERVER_IP, Duration::from_millis(300));
        return;
    }
    let lab = Lab::up("hcert1ai", INNER_ENV);
    lab.run(&["start", "srv", "hcert1ai-b", "responder"]);
    let conf = charon_conf_mode("r-cert", 1, true, "server-rsa", "ca-rsa", "", None);
    load_charon_config(&lab, "srv", &conf, "server-rsa", "ca-rsa");
    let inner = lab.spawn_inner("a", test).wait_with_output().unwrap();
    check(&lab, "srv", &inner, 1, "CN=client.l2sec.test", "RSA_EMSA_PKCS1_NULL");
    assert!(String::from_utf8_lossy(&inner.stdout).contains("established IKEv1 Aggressive"));
}

/// Aggressive Mode with RSA signatures, charon initiating to our responder.
#[test]
#[ignore = "interop: needs strongSwan (charon, swanctl) and root; run by .ci/run with --ignored"]
fn aggressive_mode_rsa_signature_responder_against_charon() {
    let test = "aggressive_mode_rsa_signature_responder_against_charon";
    if std::env::var_os(INNER_ENV).is_some() {
        let mut config = v1_config("server-rsa");
        config.allow_aggressive = true;
        let mm = Phase1::respond(config, rng(), Instant::now());
        drive(V1(mm), SERVER_IP, CLIENT_IP, Duration::from_millis(500));
        return;
    }
    let lab = Lab::up("hcert1ar", INNER_ENV);
    lab.run(&["start", "cli", "hcert1ar-a", "initiator"]);
    let conf = charon_conf_mode("i-cert", 1, true, "client-rsa", "ca-rsa", "", Some(SERVER_IP));
    load_charon_config(&lab, "cli", &conf, "client-rsa", "ca-rsa");
    let inner = lab.spawn_inner("b", test);
    std::thread::sleep(Duration::from_millis(300));
    let _ =
        lab.cmd().args(["swanctl", "cli", "--initiate", "--child", "cert-tun", "--timeout", "3"]).output();
    let inner = inner.wait_with_output().unwrap();
    check(&lab, "cli", &inner, 1, "CN=server.l2sec.test", "RSA_EMSA_PKCS1_NULL");
    assert!(String::from_utf8_lossy(&inner.stdout).contains("established IKEv1 Aggressive"));
}

/// Main Mode with our certificate, identified by its subject DN (the usual IKEv1 form).
fn v1_config(ee: &str) -> Phase1Config {
    v1_config_ca(ee, "ca-rsa")
}

/// As [`v1_config`], under CA `ca`.
fn v1_config_ca(ee: &str, ca: &str) -> Phase1Config {
    let auth = our_auth(ee, ca, true);
    let id = phase1::Identity {
        id_type: IdTypeV1::DerAsn1Dn,
        data: auth.certificate().unwrap().subject_der().to_vec(),
    };
    let mut config = Phase1Config::new(b"unused", id);
    config.certificate = Some(auth);
    config
}

// --- common -----------------------------------------------------------------------------

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64
    )
}

/// Checks the inner run and charon's view: the IKE SA of `version` is established and
/// charon authenticated our certificate (`our_id` appears in its success line).
fn check(lab: &Lab, inst: &str, inner: &std::process::Output, version: u8, our_id: &str, scheme: &str) {
    let inner_out = String::from_utf8_lossy(&inner.stdout);
    let log = lab.charon_log_full(inst);
    assert!(
        inner.status.success() && inner_out.contains("established"),
        "inner run failed:\n{inner_out}\n{}\n--- charon log tail:\n{}",
        String::from_utf8_lossy(&inner.stderr),
        lab.charon_log(inst, 80)
    );
    for line in inner_out.lines().filter(|l| l.starts_with("established")) {
        println!("{line}");
    }
    let sas = lab.run(&["swanctl", inst, "--list-sas", "--raw"]);
    let sas = String::from_utf8_lossy(&sas.stdout);
    assert!(
        sas.contains(&format!("version={version}")) && sas.contains("state=ESTABLISHED"),
        "charon has no established IKEv{version} SA:\n{sas}\n--- charon log tail:\n{}",
        lab.charon_log(inst, 80)
    );
    let auth_line = log
        .lines()
        .find(|l| l.contains("authentication of '") && l.contains(our_id) && l.contains("successful"));
    assert!(auth_line.is_some(), "charon did not authenticate {our_id}:\n{}", lab.charon_log(inst, 80));
    assert!(
        auth_line.is_some_and(|l| l.contains(&format!("with {scheme} successful"))),
        "charon did not verify a {scheme} signature: {auth_line:?}"
    );
    println!("charon: {}", auth_line.unwrap_or_default());
    if let Some(l) = log.lines().find(|l| l.contains("received end entity cert")) {
        println!("charon: {l}");
    }
}

/// One of our machines, as the UDP loop sees it.
trait Machine {
    fn input(&mut self, now: Instant, data: &[u8]) -> Result<(), String>;
    fn timeout(&mut self, now: Instant);
    /// Appends a datagram; `Some(encapsulated)`.
    fn transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<bool>;
    /// `Some(Ok(summary))` once established, `Some(Err(..))` on failure.
    fn outcome(&mut self) -> Option<Result<String, String>>;
}

struct V1(Phase1<ChaCha20Rng>);
struct V2(IkeSa<ChaCha20Rng>);

impl Machine for V1 {
    fn input(&mut self, now: Instant, data: &[u8]) -> Result<(), String> {
        self.0.handle_input(now, data).map_err(|e| e.to_string())
    }
    fn timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
    fn transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<bool> {
        self.0.poll_transmit(now, buf).map(|t| t.udp_encapsulated)
    }
    fn outcome(&mut self) -> Option<Result<String, String>> {
        match self.0.poll_event()? {
            phase1::Event::Established { peer_id, proposal, .. } => {
                let cert = self.0.peer_certificate().map(Certificate::subject_string).unwrap_or_default();
                assert_eq!(peer_id.id_type, IdTypeV1::DerAsn1Dn);
                assert_eq!(
                    Some(peer_id.data.as_slice()),
                    self.0.peer_certificate().map(Certificate::subject_der)
                );
                let mode = self.0.exchange_type();
                Some(Ok(format!(
                    "established IKEv1 {mode:?} (RSA signatures) {proposal:?}, peer certificate {cert}"
                )))
            }
            phase1::Event::Failed(e) => Some(Err(e.to_string())),
            _ => None,
        }
    }
}

impl Machine for V2 {
    fn input(&mut self, now: Instant, data: &[u8]) -> Result<(), String> {
        self.0.handle_input(now, data).map_err(|e| e.to_string())
    }
    fn timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
    fn transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<bool> {
        self.0.poll_transmit(now, buf).map(|t| t.udp_encapsulated)
    }
    fn outcome(&mut self) -> Option<Result<String, String>> {
        match self.0.poll_event()? {
            ike_sa::Event::Established { peer_id, suite, child, .. } => {
                let cert = self.0.peer_certificate().map(Certificate::subject_string).unwrap_or_default();
                Some(Ok(format!(
                    "established IKEv2 with certificates {suite:?}, peer {} certificate {cert}, child spi_in {:08x}",
                    String::from_utf8_lossy(&peer_id.data),
                    child.spi_in
                )))
            }
            ike_sa::Event::EstablishedWithoutChild { refused, .. } => {
                Some(Err(format!("authenticated but the child was refused: {refused}")))
            }
            ike_sa::Event::Failed(e) => Some(Err(e.to_string())),
            _ => None,
        }
    }
}

/// Runs `m` over UDP 500/4500 at `me` with the peer at `peer_ip` until it is established
/// (then `linger` longer, answering retransmissions) or fails (panic).
fn drive(m: impl Machine, me: &str, peer_ip: &str, linger: Duration) {
    if let Err(e) = drive_to_end(m, me, peer_ip, linger) {
        panic!("handshake failed: {e}");
    }
}

/// As [`drive`], returning the failure instead of panicking.
fn drive_to_end(mut m: impl Machine, me: &str, peer_ip: &str, linger: Duration) -> Result<(), String> {
    let s500 = UdpSocket::bind(format!("{me}:500")).expect("bind 500");
    let s4500 = UdpSocket::bind(format!("{me}:4500")).expect("bind 4500");
    for s in [&s500, &s4500] {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    }
    let mut peer500: SocketAddr = format!("{peer_ip}:500").parse().unwrap();
    let mut peer4500: SocketAddr = format!("{peer_ip}:4500").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut done_at: Option<Instant> = None;
    let mut buf = Vec::new();
    let mut rx = [0u8; 65536];
    loop {
        let now = Instant::now();
        assert!(now < deadline, "no result within 20 s");
        if done_at.is_some_and(|t| now >= t + linger) {
            return Ok(());
        }
        buf.clear();
        while let Some(encapsulated) = m.transmit(now, &mut buf) {
            if encapsulated {
                let mut d = vec![0u8; 4];
                d.extend_from_slice(&buf);
                s4500.send_to(&d, peer4500).unwrap();
            } else {
                s500.send_to(&buf, peer500).unwrap();
            }
            buf.clear();
        }
        match m.outcome() {
            Some(Ok(summary)) => {
                println!("{summary}");
                done_at = Some(now);
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
        let mut got = None;
        for (sock, encapsulated) in [(&s500, false), (&s4500, true)] {
            if let Ok((n, from)) = sock.recv_from(&mut rx) {
                got = Some((n, from, encapsulated));
                break;
            }
        }
        let Some((n, from, encapsulated)) = got else {
            m.timeout(Instant::now());
            continue;
        };
        let data = if encapsulated {
            peer4500 = from;
            match rx.get(..4) {
                Some([0, 0, 0, 0]) => &rx[4..n],
                _ => continue, // ESP or a keepalive
            }
        } else {
            peer500 = from;
            &rx[..n]
        };
        if let Err(e) = m.input(Instant::now(), data) {
            eprintln!("dropped a datagram: {e}");
        }
    }
}

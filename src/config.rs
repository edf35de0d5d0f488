//! The server's options: a TOML file (`--config FILE`) and command-line flags, which
//! override the file.
//!
//! Every key of the file is the name of a command-line flag without its `--`; unknown keys
//! are refused with an error naming them. The defaults, which an empty file gives:
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `listen` | `"0.0.0.0"` | address to bind |
//! | `ike-port` | `500` | IKE (UDP) |
//! | `natt-port` | `4500` | NAT-T: IKE with the non-ESP marker and ESP in UDP |
//! | `psk` / `psk-file` | none (required without `cert`) | the IPsec pre-shared key, or a file holding it |
//! | `cert`, `key`, `ca` | none | our certificate (PEM chain or DER), its private key, and the CAs client certificates must chain to: IKEv1 and IKEv2 authenticate with them (see below) |
//! | `users` | none | users file in pppd's `chap-secrets` format (required without RADIUS) |
//! | `[[radius]]` `address`, `secret` | none | RADIUS servers, tried in order |
//! | `radius-allow-unsigned` | `false` | accept RADIUS answers without Message-Authenticator |
//! | `radius-accounting` | `true` | Accounting-Request Start/Stop to the RADIUS servers |
//! | `pool` | `"198.51.100.0/24"` | client addresses; its first host is the server's |
//! | `dns` | `[]` | up to two DNS servers pushed over IPCP |
//! | `allow-plaintext-l2tp` | `false` | serve L2TP outside ESP too |
//! | `l2tp-port` | `1701` | the port for plaintext L2TP |
//! | `keylog` | none | directory for Wireshark's decryption tables |
//! | `events` | `"text"` | `"json"`: one JSON object per line per event |
//! | `tun` | none | a Linux TUN device as the packet sink instead of the virtual network |
//! | `mtu` | `1500` | MTU of the outer path, from which the PPP MRU is computed |
//! | `mss-clamp` | `true` | clamp the MSS of TCP SYNs through the tunnel |
//! | `raw-esp` | `false` | ESP as IP protocol 50 for clients not behind a NAT (root) |
//! | `ipv6` | `false` | PPP also opens IPV6CP: IPv6 between the link-local addresses of each session |
//!
//! `examples/server.toml` in the repository sets every key.
//!
//! With `cert`, `key` and `ca` (all three), the server signs with its certificate (ID
//! `ID_DER_ASN1_DN` of its subject) and requires every IKEv2 client, and every IKEv1
//! client that proposes signatures, to present a certificate chaining to `ca`. If a `psk`
//! is given too, IKEv1 clients that propose the pre-shared key are still accepted with
//! it; IKEv2 clients cannot be (the IKEv2 responder chooses one method for all).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::driver::ServerConfig;
use crate::pool::AddressPool;

/// A secret from the file or the command line: kept out of `Debug`, wiped on drop.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretText(String);

impl SecretText {
    /// Wraps a secret.
    #[must_use]
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret's bytes.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(..)")
    }
}

impl Drop for SecretText {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// One RADIUS server (`[[radius]]` in the file, `--radius HOST:PORT --radius-secret TEXT`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusServer {
    /// Its authentication address; accounting goes to the next port up (1812 → 1813)
    /// unless `accounting-address` says otherwise.
    pub address: SocketAddr,
    /// The shared secret.
    pub secret: SecretText,
    /// Its accounting address.
    #[serde(default, rename = "accounting-address")]
    pub accounting_address: Option<SocketAddr>,
}

/// The format of the event lines on stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line ([`ServerEvent::to_json`](crate::driver::ServerEvent::to_json)).
    Json,
}

/// Every option of the server, as read from a TOML file and then the command line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct ServerOptions {
    /// Address to bind.
    pub listen: IpAddr,
    /// IKE port.
    pub ike_port: u16,
    /// NAT-T port.
    pub natt_port: u16,
    /// The pre-shared key.
    pub psk: Option<SecretText>,
    /// A file holding the pre-shared key (its trailing newline is not part of it).
    pub psk_file: Option<PathBuf>,
    /// Users in pppd's `chap-secrets` format.
    pub users: Option<PathBuf>,
    /// RADIUS servers, tried in order.
    pub radius: Vec<RadiusServer>,
    /// Accept RADIUS answers without Message-Authenticator (Blast-RADIUS risk).
    pub radius_allow_unsigned: bool,
    /// Account sessions to the RADIUS servers.
    pub radius_accounting: bool,
    /// Client address pool, `a.b.c.d/n`.
    pub pool: String,
    /// DNS servers pushed over IPCP (at most two).
    pub dns: Vec<Ipv4Addr>,
    /// Serve L2TP outside ESP.
    pub allow_plaintext_l2tp: bool,
    /// The plaintext L2TP port.
    pub l2tp_port: u16,
    /// Wireshark key-log directory.
    pub keylog: Option<PathBuf>,
    /// Event line format.
    pub events: EventFormat,
    /// TUN device name.
    pub tun: Option<String>,
    /// The outer path MTU.
    pub mtu: u16,
    /// Clamp TCP MSS in SYNs through the tunnel.
    pub mss_clamp: bool,
    /// Our certificate (PEM: end entity then intermediates; or DER).
    pub cert: Option<PathBuf>,
    /// The private key of `cert`.
    pub key: Option<PathBuf>,
    /// The CAs client certificates must chain to.
    pub ca: Option<PathBuf>,
    /// ESP as IP protocol 50 too (a raw socket): UDP encapsulation only behind a NAT.
    pub raw_esp: bool,
    /// PPP also negotiates IPV6CP (RFC 5072): IPv6 between link-local addresses.
    pub ipv6: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            listen: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ike_port: 500,
            natt_port: 4500,
            psk: None,
            psk_file: None,
            users: None,
            radius: Vec::new(),
            radius_allow_unsigned: false,
            radius_accounting: true,
            pool: "198.51.100.0/24".into(),
            dns: Vec::new(),
            allow_plaintext_l2tp: false,
            l2tp_port: 1701,
            keylog: None,
            events: EventFormat::Text,
            tun: None,
            mtu: 1500,
            mss_clamp: true,
            raw_esp: false,
            ipv6: false,
            cert: None,
            key: None,
            ca: None,
        }
    }
}

/// What is wrong with the options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these options (the message names the key, line and
    /// column).
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value (from the file or a flag) is not acceptable.
    #[error("{key}: {message}")]
    Invalid {
        /// The key or flag.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A flag the server does not know.
    #[error("unknown argument {0:?}\n{usage}", usage = USAGE)]
    UnknownFlag(String),
    /// `-h`/`--help`.
    #[error("{USAGE}")]
    Help,
}

/// The command line, for `--help` and errors.
pub const USAGE: &str = "usage: server [--config FILE] [--listen ADDR] [--ike-port N] [--natt-port N] \
     [--psk TEXT | --psk-file F] [--cert F --key F --ca F] [--users FILE] [--radius HOST:PORT --radius-secret TEXT ...] \
     [--radius-accounting-address HOST:PORT] [--radius-allow-unsigned] [--no-radius-accounting] [--pool CIDR] [--dns IP ...] [--tun NAME] \
     [--mtu N] [--no-mss-clamp] [--raw-esp] [--ipv6] [--allow-plaintext-l2tp [--l2tp-port N]] [--keylog DIR] \
     [--events json|text]";

fn invalid(key: &'static str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid { key, message: message.to_string() }
}

/// The server's setup built from [`ServerOptions`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerSetup {
    /// The driver's configuration.
    pub config: ServerConfig,
    /// How to print events.
    pub events: EventFormat,
}

impl ServerOptions {
    /// Parses a TOML document.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Toml { path: path.to_owned(), message: e.to_string() })
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_toml(&text, path)
    }

    /// The no-argument demo: loopback, ports 20500/20501, PSK `labpsk-0123`, user
    /// `labuser` / `labpass-0123` (the users are given by [`Self::build`]'s caller).
    #[must_use]
    pub fn demo() -> Self {
        Self {
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ike_port: 20500,
            natt_port: 20501,
            psk: Some(SecretText::new("labpsk-0123")),
            ..Self::default()
        }
    }

    /// Options from command-line arguments (without the program name): the file of
    /// `--config` first (wherever the flag stands), then every other flag over it.
    /// Returns the options and whether any argument was given.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<(Self, bool), ConfigError> {
        let args: Vec<String> = args.into_iter().collect();
        let mut options = Self::default();
        if let Some(i) = args.iter().position(|a| a == "--config") {
            let path = args.get(i + 1).ok_or_else(|| invalid("--config", "needs a value"))?;
            options = Self::load(Path::new(path))?;
        }
        options.apply_args(&args)?;
        Ok((options, !args.is_empty()))
    }

    /// Applies command-line flags over these options. `--radius` flags replace the file's
    /// RADIUS servers; `--psk` and `--psk-file` replace each other.
    pub fn apply_args(&mut self, args: &[String]) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(key: &'static str, v: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            v.parse().map_err(|e| invalid(key, format!("{v:?}: {e}")))
        }
        let mut it = args.iter();
        let mut cli_radius = false;
        let mut cli_dns = false;
        while let Some(flag) = it.next() {
            let mut value = |key: &'static str| {
                it.next().map(String::as_str).ok_or_else(|| invalid(key, "needs a value"))
            };
            match flag.as_str() {
                "--config" => {
                    value("--config")?;
                }
                "--listen" => self.listen = num("--listen", value("--listen")?)?,
                "--ike-port" => self.ike_port = num("--ike-port", value("--ike-port")?)?,
                "--natt-port" => self.natt_port = num("--natt-port", value("--natt-port")?)?,
                "--psk" => {
                    self.psk = Some(SecretText::new(value("--psk")?));
                    self.psk_file = None;
                }
                "--psk-file" => {
                    self.psk_file = Some(value("--psk-file")?.into());
                    self.psk = None;
                }
                "--users" => self.users = Some(value("--users")?.into()),
                "--radius" => {
                    let v = value("--radius")?;
                    let address = num("--radius", v)?;
                    if !cli_radius {
                        self.radius.clear();
                        cli_radius = true;
                    }
                    self.radius.push(RadiusServer {
                        address,
                        secret: SecretText::default(),
                        accounting_address: None,
                    });
                }
                "--radius-secret" => {
                    let secret = value("--radius-secret")?;
                    let last = self
                        .radius
                        .last_mut()
                        .filter(|_| cli_radius)
                        .ok_or_else(|| invalid("--radius-secret", "follows a --radius"))?;
                    last.secret = SecretText::new(secret);
                }
                "--radius-allow-unsigned" => self.radius_allow_unsigned = true,
                "--radius-accounting-address" => {
                    let v = value("--radius-accounting-address")?;
                    let a = num("--radius-accounting-address", v)?;
                    let last = self
                        .radius
                        .last_mut()
                        .filter(|_| cli_radius)
                        .ok_or_else(|| invalid("--radius-accounting-address", "follows a --radius"))?;
                    last.accounting_address = Some(a);
                }
                "--no-radius-accounting" => self.radius_accounting = false,
                "--pool" => self.pool = value("--pool")?.to_owned(),
                "--dns" => {
                    let a = num("--dns", value("--dns")?)?;
                    if !cli_dns {
                        self.dns.clear();
                        cli_dns = true;
                    }
                    self.dns.push(a);
                }
                "--allow-plaintext-l2tp" => self.allow_plaintext_l2tp = true,
                "--l2tp-port" => self.l2tp_port = num("--l2tp-port", value("--l2tp-port")?)?,
                "--keylog" => self.keylog = Some(value("--keylog")?.into()),
                "--events" => {
                    self.events = match value("--events")? {
                        "json" => EventFormat::Json,
                        "text" => EventFormat::Text,
                        other => {
                            return Err(invalid(
                                "--events",
                                format!("unknown format {other:?} (json, text)"),
                            ));
                        }
                    }
                }
                "--tun" => self.tun = Some(value("--tun")?.to_owned()),
                "--mtu" => self.mtu = num("--mtu", value("--mtu")?)?,
                "--no-mss-clamp" => self.mss_clamp = false,
                "--raw-esp" => self.raw_esp = true,
                "--ipv6" => self.ipv6 = true,
                "--cert" => self.cert = Some(value("--cert")?.into()),
                "--key" => self.key = Some(value("--key")?.into()),
                "--ca" => self.ca = Some(value("--ca")?.into()),
                "-h" | "--help" => return Err(ConfigError::Help),
                other => return Err(ConfigError::UnknownFlag(other.to_owned())),
            }
        }
        Ok(())
    }

    /// The pre-shared key: `psk`, or the first line of `psk-file`.
    pub fn psk_bytes(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, ConfigError> {
        match (&self.psk, &self.psk_file) {
            (Some(_), Some(_)) => Err(invalid("psk", "give psk or psk-file, not both")),
            (Some(p), None) if p.expose().is_empty() => Err(invalid("psk", "is empty")),
            (Some(p), None) => Ok(zeroize::Zeroizing::new(p.expose().as_bytes().to_vec())),
            (None, Some(f)) => {
                let text = zeroize::Zeroizing::new(
                    std::fs::read_to_string(f)
                        .map_err(|e| invalid("psk-file", format!("{}: {e}", f.display())))?,
                );
                let psk = text.trim_end_matches(['\n', '\r']);
                if psk.is_empty() {
                    return Err(invalid("psk-file", format!("{} is empty", f.display())));
                }
                Ok(zeroize::Zeroizing::new(psk.as_bytes().to_vec()))
            }
            (None, None) => Err(invalid("psk", "is required (psk or psk-file; or cert, key and ca)")),
        }
    }

    /// Checks everything and builds the driver's configuration. `users_text` overrides the
    /// `users` file (the demo's built-in user).
    pub fn build(&self, users_text: Option<&str>) -> Result<ServerSetup, ConfigError> {
        let certificate = match (&self.cert, &self.key, &self.ca) {
            (None, None, None) => None,
            (Some(cert), Some(key), Some(ca)) => {
                let files = crate::cert::CertFiles { cert: cert.clone(), key: key.clone(), ca: ca.clone() };
                Some(files.load().map_err(|e| invalid("cert", e))?)
            }
            (None, ..) => return Err(invalid("cert", "key and ca need cert")),
            (_, None, _) => return Err(invalid("key", "cert needs its private key (key)")),
            (.., None) => return Err(invalid("ca", "cert needs the CAs of the clients (ca)")),
        };
        let psk = match (&certificate, &self.psk, &self.psk_file) {
            (Some(_), None, None) => None,
            _ => Some(self.psk_bytes()?),
        };
        let pool = match AddressPool::parse_cidr(&self.pool) {
            Some(Ok(p)) => p,
            Some(Err(e)) => return Err(invalid("pool", e)),
            None => return Err(invalid("pool", format!("{:?} is not a.b.c.d/n", self.pool))),
        };
        if self.dns.len() > 2 {
            return Err(invalid(
                "dns",
                format!("IPCP carries at most two servers, {} given", self.dns.len()),
            ));
        }
        if self.mtu < 576 {
            return Err(invalid("mtu", format!("{} is below the IPv4 minimum of 576", self.mtu)));
        }
        if self.tun.as_deref().is_some_and(str::is_empty) {
            return Err(invalid("tun", "the device name is empty"));
        }
        let users_text = match (users_text, &self.users) {
            (Some(t), _) => t.to_owned(),
            (None, Some(f)) => {
                std::fs::read_to_string(f).map_err(|e| invalid("users", format!("{}: {e}", f.display())))?
            }
            (None, None) if !self.radius.is_empty() => String::new(),
            (None, None) => {
                return Err(invalid(
                    "users",
                    "a users file (pppd chap-secrets format) or RADIUS is required",
                ));
            }
        };
        let users = l2sec_ppp::secrets::ChapSecrets::parse(&users_text).map_err(|e| invalid("users", e))?;
        let dns = [self.dns.first().copied(), self.dns.get(1).copied()];
        let mut config = ServerConfig::new(
            self.listen,
            self.ike_port,
            self.natt_port,
            psk.as_deref().map_or(&[][..], |p| p),
            users,
            pool,
            dns,
        );
        if let Some(auth) = certificate {
            config.use_certificate(auth, psk.is_some());
        }
        config.l2tp_port = self.allow_plaintext_l2tp.then_some(self.l2tp_port);
        config.keylog.clone_from(&self.keylog);
        config.outer_mtu = Some(self.mtu);
        config.mss_clamp = self.mss_clamp;
        config.raw_esp = self.raw_esp;
        config.lns.ppp.ipv6cp = self.ipv6;
        config.tun.clone_from(&self.tun);
        if !self.radius.is_empty() {
            let mut servers = Vec::new();
            for r in &self.radius {
                if r.secret.expose().is_empty() {
                    return Err(invalid("radius", format!("server {} has no secret", r.address)));
                }
                let mut s = l2sec_radius_auth::ServerConfig::new(
                    r.address,
                    r.secret.expose(),
                    l2sec_radius_auth::ServerRole::Authentication,
                );
                s.require_message_authenticator = !self.radius_allow_unsigned;
                servers.push(s);
            }
            if self.radius_accounting {
                for r in &self.radius {
                    let mut address = r.address;
                    address.set_port(r.address.port().wrapping_add(1));
                    let mut s = l2sec_radius_auth::ServerConfig::new(
                        r.accounting_address.unwrap_or(address),
                        r.secret.expose(),
                        l2sec_radius_auth::ServerRole::Accounting,
                    );
                    s.require_message_authenticator = !self.radius_allow_unsigned;
                    servers.push(s);
                }
            }
            let nas = l2sec_radius_auth::NasIdentity { ip_address: None, identifier: Some("l2sec".into()) };
            config.radius = Some(l2sec_radius_auth::ClientConfig::new(nas, servers));
        }
        Ok(ServerSetup { config, events: self.events })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn empty_file_gives_the_documented_defaults() {
        let o = ServerOptions::from_toml("", Path::new("x.toml")).unwrap();
        assert_eq!(o, ServerOptions::default());
        assert_eq!(o.ike_port, 500);
        assert_eq!(o.natt_port, 4500);
        assert_eq!(o.l2tp_port, 1701);
        assert_eq!(o.pool, "198.51.100.0/24");
        assert_eq!(o.mtu, 1500);
        assert!(o.mss_clamp && o.radius_accounting && !o.allow_plaintext_l2tp);
    }

    #[test]
    fn every_key_is_read() {
        let o = ServerOptions::from_toml(
            r#"
            listen = "127.0.0.1"
            ike-port = 1500
            natt-port = 14500
            psk = "s3cret"
            users = "/etc/ppp/chap-secrets"
            radius-allow-unsigned = true
            radius-accounting = false
            pool = "10.9.0.0/24"
            dns = ["10.9.0.1", "9.9.9.9"]
            allow-plaintext-l2tp = true
            l2tp-port = 11701
            keylog = "/tmp/k"
            events = "json"
            tun = "l2sec0"
            mtu = 1400
            mss-clamp = false
            [[radius]]
            address = "127.0.0.1:1812"
            secret = "testing123"
            [[radius]]
            address = "127.0.0.2:1812"
            secret = "other"
            accounting-address = "127.0.0.2:1900"
            "#,
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(o.listen, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!((o.ike_port, o.natt_port, o.l2tp_port, o.mtu), (1500, 14500, 11701, 1400));
        assert_eq!(o.psk.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(o.dns, vec![Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(9, 9, 9, 9)]);
        assert_eq!(o.radius.len(), 2);
        assert_eq!(o.radius[1].secret.expose(), "other");
        assert_eq!(o.radius[1].accounting_address, Some("127.0.0.2:1900".parse().unwrap()));
        assert_eq!(o.events, EventFormat::Json);
        assert_eq!(o.tun.as_deref(), Some("l2sec0"));
        assert!(o.allow_plaintext_l2tp && o.radius_allow_unsigned && !o.radius_accounting && !o.mss_clamp);
    }

    #[test]
    fn certificate_paths_are_loaded_into_both_ike_servers() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/certs");
        let toml = format!(
            "cert = \"{0}/server.pem\"\nkey = \"{0}/server.key\"\nca = \"{0}/ca.pem\"\n",
            dir.display()
        );
        let o = ServerOptions::from_toml(&toml, Path::new("c.toml")).unwrap();
        assert_eq!(o.cert.as_deref(), Some(dir.join("server.pem").as_path()));
        let setup = o.build(Some("u * p *\n")).unwrap();
        let (v1, v2) = (&setup.config.phase1, &setup.config.ikev2.template);
        let subject = v1.certificate.as_ref().unwrap().chain[0].subject_der().to_vec();
        assert_eq!(v1.local_id.data, subject);
        assert_eq!(v2.local_id.data, subject);
        assert!(v2.certificate.is_some());
        assert!(setup.config.phase1_psk_fallback.is_none(), "no psk: certificates only");
        // With a psk too, IKEv1 PSK clients keep being served.
        let mut o = o;
        o.apply_args(&args("--psk k")).unwrap();
        let setup = o.build(Some("u * p *\n")).unwrap();
        let fallback = setup.config.phase1_psk_fallback.unwrap();
        assert!(fallback.certificate.is_none());
        // A key that is not the certificate's is refused, naming the file.
        o.apply_args(&args(&format!("--key {}/client.key", dir.display()))).unwrap();
        let e = o.build(Some("u * p *\n")).unwrap_err().to_string();
        assert!(e.starts_with("cert") && e.contains("client.key"), "{e}");
    }

    #[test]
    fn unknown_and_mistyped_keys_are_named() {
        let e = ServerOptions::from_toml("ike_port = 5\n", Path::new("s.toml")).unwrap_err().to_string();
        assert!(e.contains("ike_port") && e.contains("s.toml"), "{e}");
        let e = ServerOptions::from_toml("natt-port = \"x\"\n", Path::new("s.toml")).unwrap_err().to_string();
        assert!(e.contains("natt-port"), "{e}");
        let e = ServerOptions::from_toml(
            "[[radius]]\naddress = \"1.2.3.4:1812\"\nsecrte = \"x\"\n",
            Path::new("s"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("secrte"), "{e}");
        let e = ServerOptions::from_toml("events = \"xml\"\n", Path::new("s")).unwrap_err().to_string();
        assert!(e.contains("xml"), "{e}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("l2sec-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("server.toml");
        std::fs::write(
            &file,
            "ike-port = 1500\npsk = \"from-file\"\ndns = [\"1.1.1.1\"]\n[[radius]]\naddress = \"127.0.0.1:1812\"\nsecret = \"a\"\n",
        )
        .unwrap();
        let (o, any) = ServerOptions::from_args(args(&format!(
            "--ike-port 2500 --config {} --psk-file /p --dns 8.8.8.8 --radius 127.0.0.9:1812 --radius-secret b",
            file.display()
        )))
        .unwrap();
        assert!(any);
        assert_eq!(o.ike_port, 2500);
        assert_eq!((o.psk.as_ref(), o.psk_file.as_deref()), (None, Some(Path::new("/p"))));
        assert_eq!(o.dns, vec![Ipv4Addr::new(8, 8, 8, 8)]);
        assert_eq!(o.radius.len(), 1);
        assert_eq!(o.radius[0].secret.expose(), "b");
        // Without flags the file stands.
        let (o, _) = ServerOptions::from_args(args(&format!("--config {}", file.display()))).unwrap();
        assert_eq!((o.ike_port, o.psk.unwrap().expose()), (1500, "from-file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_values_name_their_key() {
        let check = |a: &str, key: &str| {
            let e = ServerOptions::from_args(args(a)).unwrap_err().to_string();
            assert!(e.starts_with(key), "{a}: {e}");
        };
        check("--ike-port 70000", "--ike-port");
        check("--listen nowhere", "--listen");
        check("--radius-secret x", "--radius-secret");
        check("--events xml", "--events");
        check("--psk", "--psk");
        assert!(matches!(ServerOptions::from_args(args("--bogus")), Err(ConfigError::UnknownFlag(_))));
        let build = |a: &str| ServerOptions::from_args(args(a)).unwrap().0.build(Some("u * p *\n"));
        let key = |r: Result<ServerSetup, ConfigError>| match r {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("{other:?}"),
        };
        assert_eq!(key(build("--pool 10.0.0.0/31 --psk k")), "pool");
        assert_eq!(key(build("--pool nonsense --psk k")), "pool");
        assert_eq!(key(build("--dns 1.1.1.1 --dns 2.2.2.2 --dns 3.3.3.3 --psk k")), "dns");
        assert_eq!(key(build("")), "psk");
        assert_eq!(key(build("--mtu 100 --psk k")), "mtu");
        assert_eq!(key(build("--cert c.pem --psk k")), "key");
        assert_eq!(key(build("--cert c.pem --key k.pem --psk k")), "ca");
        assert_eq!(key(build("--ca c.pem --psk k")), "cert");
        assert_eq!(key(build("--cert /nonexistent.pem --key k.pem --ca c.pem")), "cert");
        assert_eq!(key(build("--radius 127.0.0.1:1812 --psk k")), "radius");
        let none = ServerOptions::from_args(args("--psk k")).unwrap().0.build(None);
        assert_eq!(key(none), "users");
    }

    #[test]
    fn build_carries_the_options_into_the_driver_config() {
        let (o, _) = ServerOptions::from_args(args(
            "--listen 127.0.0.1 --ike-port 1 --natt-port 2 --psk k --pool 10.1.0.0/16 --dns 10.1.0.1 \
             --allow-plaintext-l2tp --l2tp-port 3 --radius 127.0.0.1:1812 --radius-secret s --events json",
        ))
        .unwrap();
        let s = o.build(None).unwrap();
        assert_eq!(s.events, EventFormat::Json);
        assert_eq!((s.config.ike_port, s.config.natt_port, s.config.l2tp_port), (1, 2, Some(3)));
        assert_eq!(s.config.lns.ppp.ipcp.local, Some(Ipv4Addr::new(10, 1, 0, 1)));
        assert_eq!(s.config.lns.ppp.ipcp.dns, [Some(Ipv4Addr::new(10, 1, 0, 1)), None]);
        // Authentication at 1812 and accounting at the next port.
        let radius = s.config.radius.unwrap();
        let roles: Vec<(u16, l2sec_radius_auth::ServerRole)> =
            radius.servers.iter().map(|s| (s.address.port(), s.role)).collect();
        assert_eq!(
            roles,
            [
                (1812, l2sec_radius_auth::ServerRole::Authentication),
                (1813, l2sec_radius_auth::ServerRole::Accounting)
            ]
        );
        let (o, _) = ServerOptions::from_args(args(
            "--psk k --radius 127.0.0.1:18127 --radius-secret s --radius-accounting-address 127.0.0.1:18137",
        ))
        .unwrap();
        let radius = o.build(None).unwrap().config.radius.unwrap();
        assert_eq!(radius.servers[1].address.port(), 18137);
        let (o, _) = ServerOptions::from_args(args(
            "--psk k --radius 127.0.0.1:1812 --radius-secret s --no-radius-accounting",
        ))
        .unwrap();
        assert_eq!(o.build(None).unwrap().config.radius.unwrap().servers.len(), 1);
    }

    #[test]
    fn the_example_config_loads_and_builds() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/server.toml"));
        let o = ServerOptions::load(path).unwrap();
        assert_eq!(o.psk.as_ref().map(SecretText::expose), Some("change-me-0123"));
        assert_eq!(o.dns, vec![Ipv4Addr::new(198, 51, 100, 1)]);
        // Apart from the example values, the file spells out the defaults.
        let defaults = ServerOptions {
            psk: o.psk.clone(),
            users: o.users.clone(),
            dns: o.dns.clone(),
            ..ServerOptions::default()
        };
        assert_eq!(o, defaults);
        let s = o.build(Some("alice * secret *\n")).unwrap();
        assert_eq!((s.config.ike_port, s.config.natt_port, s.config.l2tp_port), (500, 4500, None));
    }

    #[test]
    fn ipv6_from_the_file_or_the_flag() {
        let o = ServerOptions::from_toml("ipv6 = true\npsk = \"k\"\n", Path::new("x.toml")).unwrap();
        assert!(o.ipv6 && o.build(Some("")).unwrap().config.lns.ppp.ipv6cp);
        let o = ServerOptions::from_toml("psk = \"k\"\n", Path::new("x.toml")).unwrap();
        assert!(!o.ipv6 && !o.build(Some("")).unwrap().config.lns.ppp.ipv6cp);
        let (o, _) = ServerOptions::from_args(args("--psk k --ipv6")).unwrap();
        assert!(o.ipv6 && o.build(Some("")).unwrap().config.lns.ppp.ipv6cp);
    }

    #[test]
    fn raw_esp_from_the_file_or_the_flag() {
        let o = ServerOptions::from_toml("raw-esp = true\npsk = \"k\"\n", Path::new("x.toml")).unwrap();
        assert!(o.raw_esp && o.build(Some("")).unwrap().config.raw_esp);
        let (o, _) = ServerOptions::from_args(args("--psk k")).unwrap();
        assert!(!o.raw_esp && !o.build(Some("")).unwrap().config.raw_esp);
        let (o, _) = ServerOptions::from_args(args("--psk k --raw-esp")).unwrap();
        assert!(o.raw_esp && o.build(Some("")).unwrap().config.raw_esp);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let (o, _) =
            ServerOptions::from_args(args("--psk hunter2 --radius 127.0.0.1:1812 --radius-secret swordfish"))
                .unwrap();
        let d = format!("{o:?}");
        assert!(!d.contains("hunter2") && !d.contains("swordfish"), "{d}");
    }
}

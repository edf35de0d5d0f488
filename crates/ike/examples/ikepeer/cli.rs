//! Command line of ikepeer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use l2sec_ike::child::EspMode;
use l2sec_ike::proposal::{EspProposal, IkeProposal, parse_esp_list, parse_ike_list};

pub const USAGE: &str = "\
usage: ikepeer --role initiator|responder --local ADDR --remote ADDR[:PORT] --psk TEXT
               [--ike v1|v2] [--ike-port N] [--natt-port N] [--remote-natt-port N]
               [--proposal LIST] [--esp LIST] [--mode tunnel|transport] [--aggressive]
               [--id ID] [--tunnel-inner LOCAL,REMOTE] [--tun NAME]
               [--keylog DIR] [--events json] [--dpd SECS] [--ping COUNT]
               [--lifetime SECS] [--lifetime-kb KB] [--ike-lifetime SECS]
               [--timeout SECS]";

/// Which side starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Responder,
}

/// IKE version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Everything the command line says.
#[derive(Debug, Clone)]
pub struct Args {
    pub role: Role,
    pub local: IpAddr,
    pub remote: IpAddr,
    /// The peer's IKE port (`--remote ADDR:PORT`, else `--ike-port`).
    pub remote_ike_port: u16,
    /// The peer's NAT-T port (`--remote-natt-port`, else `--natt-port`).
    pub remote_natt_port: u16,
    pub psk: String,
    /// `None`: initiator v1, responder accepts both.
    pub ike: Option<Version>,
    pub ike_port: u16,
    pub natt_port: u16,
    pub proposals: Option<Vec<IkeProposal>>,
    pub esp: Option<Vec<EspProposal>>,
    pub mode: EspMode,
    pub aggressive: bool,
    pub id: Option<String>,
    /// The tunnel's inner addresses (ours, the peer's).
    pub tunnel_inner: Option<(Ipv4Addr, Ipv4Addr)>,
    pub tun: Option<String>,
    pub keylog: Option<PathBuf>,
    pub json: bool,
    /// v1: DPD idle time; v2: liveness check interval.
    pub dpd: Option<Duration>,
    /// Echo requests to send to the peer's inner address once the Child SA is up.
    pub ping: u32,
    /// Give up (exit 1) when no Child SA is up after this long.
    pub timeout: Duration,
    /// Hard lifetime of Child SAs (IKEv1: proposed in Quick Mode, and the most a
    /// responder accepts; IKEv2: local). Rekeyed at about 90 %.
    pub lifetime: Option<Duration>,
    /// IKEv1 only: kilobyte lifetime of ESP SAs (RFC 2407 §4.5).
    pub lifetime_kb: Option<u64>,
    /// Hard lifetime of the ISAKMP / IKE SA. Rekeyed at about 90 %.
    pub ike_lifetime: Option<Duration>,
}

impl Args {
    pub fn local_ike(&self) -> SocketAddr {
        SocketAddr::new(self.local, self.ike_port)
    }

    pub fn remote_ike(&self) -> SocketAddr {
        SocketAddr::new(self.remote, self.remote_ike_port)
    }

    pub fn remote_natt(&self) -> SocketAddr {
        SocketAddr::new(self.remote, self.remote_natt_port)
    }

    /// The tunnel's inner addresses, defaulting to the outer ones.
    pub fn inner(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        self.tunnel_inner.or(match (self.local, self.remote) {
            (IpAddr::V4(l), IpAddr::V4(r)) => Some((l, r)),
            _ => None,
        })
    }
}

fn value<'a>(it: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<&'a str, String> {
    it.next().map(String::as_str).ok_or_else(|| format!("{flag} needs a value"))
}

fn number<T: std::str::FromStr>(s: &str, flag: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("{flag}: {s:?} is not a valid number"))
}

/// A lifetime in whole seconds, at least 2 (the rekey point is before the end).
fn seconds(s: &str, flag: &str) -> Result<Duration, String> {
    let secs: u64 = number(s, flag)?;
    if secs < 2 {
        return Err(format!("{flag}: {secs} s is too short (2 s at least)"));
    }
    Ok(Duration::from_secs(secs))
}

fn ip(s: &str, flag: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("{flag}: {s:?} is not an IP address"))
}

/// Parses the arguments (without the program name).
pub fn parse(argv: &[String]) -> Result<Args, String> {
    let mut role = None;
    let mut local = None;
    let mut remote = None;
    let mut remote_port = None;
    let mut remote_natt_port = None;
    let mut psk = None;
    let mut a = Args {
        role: Role::Initiator,
        local: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        remote: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        remote_ike_port: 500,
        remote_natt_port: 4500,
        psk: String::new(),
        ike: None,
        ike_port: 500,
        natt_port: 4500,
        proposals: None,
        esp: None,
        mode: EspMode::Tunnel,
        aggressive: false,
        id: None,
        tunnel_inner: None,
        tun: None,
        keylog: None,
        json: false,
        dpd: None,
        ping: 0,
        timeout: Duration::from_secs(30),
        lifetime: None,
        lifetime_kb: None,
        ike_lifetime: None,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let f = flag.as_str();
        match f {
            "--role" => {
                role = Some(match value(&mut it, f)? {
                    "initiator" => Role::Initiator,
                    "responder" => Role::Responder,
                    other => return Err(format!("--role: {other:?} is neither initiator nor responder")),
                });
            }
            "--local" => local = Some(ip(value(&mut it, f)?, f)?),
            "--remote" => {
                let v = value(&mut it, f)?;
                if let Ok(sa) = v.parse::<SocketAddr>() {
                    remote = Some(sa.ip());
                    remote_port = Some(sa.port());
                } else {
                    remote = Some(ip(v, f)?);
                }
            }
            "--psk" => psk = Some(value(&mut it, f)?.to_owned()),
            "--ike" => {
                a.ike = Some(match value(&mut it, f)? {
                    "v1" | "1" | "ikev1" => Version::V1,
                    "v2" | "2" | "ikev2" => Version::V2,
                    other => return Err(format!("--ike: {other:?} is neither v1 nor v2")),
                });
            }
            "--ike-port" => a.ike_port = number(value(&mut it, f)?, f)?,
            "--natt-port" => a.natt_port = number(value(&mut it, f)?, f)?,
            "--remote-natt-port" => remote_natt_port = Some(number(value(&mut it, f)?, f)?),
            "--proposal" => {
                a.proposals =
                    Some(parse_ike_list(value(&mut it, f)?).map_err(|e| format!("--proposal: {e}"))?);
            }
            "--esp" => a.esp = Some(parse_esp_list(value(&mut it, f)?).map_err(|e| format!("--esp: {e}"))?),
            "--mode" => {
                a.mode = match value(&mut it, f)? {
                    "tunnel" => EspMode::Tunnel,
                    "transport" => EspMode::Transport,
                    other => return Err(format!("--mode: {other:?} is neither tunnel nor transport")),
                };
            }
            "--aggressive" => a.aggressive = true,
            "--id" => a.id = Some(value(&mut it, f)?.to_owned()),
            "--tunnel-inner" => {
                let v = value(&mut it, f)?;
                let (l, r) =
                    v.split_once(',').ok_or_else(|| format!("--tunnel-inner: {v:?} is not LOCAL,REMOTE"))?;
                let v4 = |s: &str| {
                    s.trim()
                        .parse::<Ipv4Addr>()
                        .map_err(|_| format!("--tunnel-inner: {s:?} is not an IPv4 address"))
                };
                a.tunnel_inner = Some((v4(l)?, v4(r)?));
            }
            "--tun" => a.tun = Some(value(&mut it, f)?.to_owned()),
            "--keylog" => a.keylog = Some(PathBuf::from(value(&mut it, f)?)),
            "--events" => match value(&mut it, f)? {
                "json" => a.json = true,
                "text" => a.json = false,
                other => return Err(format!("--events: {other:?} is neither json nor text")),
            },
            "--dpd" => a.dpd = Some(Duration::from_secs(number(value(&mut it, f)?, f)?)),
            "--ping" => a.ping = number(value(&mut it, f)?, f)?,
            "--lifetime" => a.lifetime = Some(seconds(value(&mut it, f)?, f)?),
            "--ike-lifetime" => a.ike_lifetime = Some(seconds(value(&mut it, f)?, f)?),
            "--lifetime-kb" => a.lifetime_kb = Some(number(value(&mut it, f)?, f)?),
            "--timeout" => a.timeout = Duration::from_secs(number(value(&mut it, f)?, f)?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    a.role = role.ok_or("--role is required")?;
    a.local = local.ok_or("--local is required")?;
    a.remote = remote.ok_or("--remote is required")?;
    a.psk = psk.ok_or("--psk is required")?;
    a.remote_ike_port = remote_port.unwrap_or(a.ike_port);
    a.remote_natt_port = remote_natt_port.unwrap_or(a.natt_port);
    if a.local.is_ipv4() != a.remote.is_ipv4() {
        return Err("--local and --remote must be of one IP version".to_owned());
    }
    if a.aggressive && a.ike == Some(Version::V2) {
        return Err("--aggressive is an IKEv1 mode".to_owned());
    }
    if a.mode == EspMode::Transport && (a.tun.is_some() || a.tunnel_inner.is_some()) {
        return Err("--tun and --tunnel-inner need --mode tunnel".to_owned());
    }
    if a.lifetime_kb == Some(0) {
        return Err("--lifetime-kb: 0 is not a lifetime".to_owned());
    }
    if a.lifetime_kb.is_some() && a.ike == Some(Version::V2) {
        return Err("--lifetime-kb is an IKEv1 option".to_owned());
    }
    if a.tun.is_some() && a.inner().is_none() {
        return Err("--tun needs IPv4 inner addresses (--tunnel-inner)".to_owned());
    }
    Ok(a)
}

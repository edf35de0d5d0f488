//! IKEv1 through the library's [`Connection`]: Main Mode or Aggressive Mode with PSK and
//! NAT-T, Quick Mode, DPD, lifetimes with rekeying of both phases in either role, and
//! Deletes both ways.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2sec_ike::child::{EspEncapsulation, EspMode};
use l2sec_ike::proposal::{EspProposal, IkeProposal, parse_esp_list, parse_ike_list, phase1_name};
use l2sec_ike::v1::connection::{Connection, ConnectionConfig, ConnectionEvent, Cookies, DeleteReason};
use l2sec_ike::v1::dpd::DpdConfig;
use l2sec_ike::v1::phase1::{Identity, NatTraversal, Phase1Config};
use l2sec_ike::v1::quick::{NatOa, QuickModeConfig, TrafficSelector};
use l2sec_ike::wire::v1::{ExchangeType, Header, IdType};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::cli::{Args, Role};
use crate::{By, IkePeer, KeyTable, PeerEvent, id_text};

/// What a responder accepts when `--proposal` is not given.
const DEFAULT_RESPONDER_IKE: &str = "aes128-aes256-aes192-sha1-sha256-sha384-sha512-\
     modp2048-ecp256-ecp384-x25519-modp3072-modp4096-modp1536-modp1024,3des-sha1-sha256-modp2048-modp1536-modp1024";
/// What an initiator offers when `--proposal` is not given (strongSwan's lab initiator).
const DEFAULT_INITIATOR_IKE: &str = "aes128-sha1-modp2048,3des-sha1-modp1024";
const DEFAULT_INITIATOR_ESP: &str = "aes128-sha1,3des-sha1";
/// What a responder accepts when `--esp` is not given (no PFS).
const DEFAULT_RESPONDER_ESP: &str =
    "aes128-aes256-aes192-sha1-sha256-sha384-sha512,aes128gcm16-aes256gcm16,3des-sha1";

/// Lifetimes we propose (and, as responder, the most we accept) without `--ike-lifetime`
/// / `--lifetime`: 8 h for the ISAKMP SA, 1 h for ESP.
pub const IKE_LIFETIME: Duration = Duration::from_secs(8 * 3600);
pub const ESP_LIFETIME: Duration = Duration::from_secs(3600);

/// The phase-1, Quick Mode and DPD settings of a run.
pub struct Settings {
    pub phase1: Phase1Config,
    pub quick: QuickModeConfig,
    pub dpd: DpdConfig,
}

fn identity(args: &Args) -> Identity {
    match &args.id {
        Some(id) => match id.parse() {
            Ok(std::net::IpAddr::V4(a)) => Identity::ipv4(a),
            _ => Identity::fqdn(id.trim_start_matches('@')),
        },
        None => match args.local {
            std::net::IpAddr::V4(a) => Identity::ipv4(a),
            other => Identity::fqdn(&other.to_string()),
        },
    }
}

fn selector(addr: std::net::Ipv4Addr, protocol: u8, port: u16) -> TrafficSelector {
    TrafficSelector { id_type: IdType::Ipv4Addr, protocol, port, data: addr.octets().to_vec() }
}

/// Phase-1, Quick Mode and DPD settings from the command line; `remote` is where the
/// peer's IKE datagrams come from.
pub fn settings(args: &Args, remote: SocketAddr) -> Result<Settings, String> {
    let initiator = args.role == Role::Initiator;
    let ike: Vec<IkeProposal> = match &args.proposals {
        Some(p) => p.clone(),
        None => parse_ike_list(if initiator { DEFAULT_INITIATOR_IKE } else { DEFAULT_RESPONDER_IKE })
            .map_err(|e| e.to_string())?,
    };
    let esp: Vec<EspProposal> = match &args.esp {
        Some(p) => p.clone(),
        None => parse_esp_list(if initiator { DEFAULT_INITIATOR_ESP } else { DEFAULT_RESPONDER_ESP })
            .map_err(|e| e.to_string())?,
    };
    // Aggressive Mode sends its KE in the first message: one group for all proposals.
    let ike: Vec<IkeProposal> = if args.aggressive && args.proposals.is_none() {
        ike.iter().filter(|p| p.group == ike[0].group).copied().collect()
    } else {
        ike
    };
    let mut phase1 = Phase1Config::new(args.psk.as_bytes(), identity(args));
    let ike_lifetime = args.ike_lifetime.unwrap_or(IKE_LIFETIME);
    phase1.proposals = ike
        .iter()
        .map(|p| p.v1(ike_lifetime))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--proposal: {e}"))?;
    // ikepeer carries ESP only in UDP (no raw ESP socket), so it always asks for
    // encapsulation: it claims a NAT even where there is none.
    phase1.nat_traversal = Some(NatTraversal { local: args.local_ike(), remote, force_encapsulation: true });
    phase1.allow_aggressive = args.aggressive;
    let pfs_group = esp.first().and_then(|p| p.pfs_group);
    if esp.iter().any(|p| p.pfs_group != pfs_group) {
        return Err("--esp: IKEv1 Quick Mode takes one PFS group for all proposals".to_owned());
    }
    let (mode, traffic_selectors, nat_oa) = match args.mode {
        EspMode::Tunnel => {
            let ts = args.inner().map(|(l, r)| (selector(l, 0, 0), selector(r, 0, 0)));
            (EspMode::Tunnel, ts, None)
        }
        EspMode::Transport => {
            let (std::net::IpAddr::V4(l), std::net::IpAddr::V4(r)) = (args.local, args.remote) else {
                return Err("transport mode for UDP/1701 needs IPv4 addresses".to_owned());
            };
            let oa = NatOa { local: args.local, remote: args.remote, draft: false };
            (EspMode::Transport, Some((selector(l, 17, 1701), selector(r, 17, 1701))), Some(oa))
        }
    };
    let esp_lifetime = args.lifetime.unwrap_or(ESP_LIFETIME);
    let quick = QuickModeConfig {
        proposals: esp.iter().map(|p| p.v1(esp_lifetime)).collect(),
        mode,
        encapsulation: EspEncapsulation::Udp {
            local_port: args.natt_port,
            remote_port: args.remote_natt_port,
        },
        traffic_selectors,
        retransmit_timeout: Duration::from_secs(1),
        max_retransmits: 5,
        pfs_group,
        nat_oa,
    };
    // --dpd also shortens the probe retries, so a dead peer shows within a few idle
    // periods (3 retries, each at most 5 s).
    let dpd = match args.dpd {
        Some(idle) => {
            DpdConfig { idle, retransmit_timeout: idle.min(Duration::from_secs(5)), max_retransmits: 3 }
        }
        None => DpdConfig::default(),
    };
    Ok(Settings { phase1, quick, dpd })
}

/// Eight bytes as hex (an ISAKMP cookie).
fn cookie_hex(c: &[u8; 8]) -> String {
    c.iter().map(|b| format!("{b:02x}")).collect()
}

/// An ISAKMP SA's name in events: CKY-I and CKY-R in hex.
fn cookies_hex(c: &Cookies) -> String {
    format!("{}{}", cookie_hex(&c.0), cookie_hex(&c.1))
}

fn by(reason: DeleteReason) -> By {
    match reason {
        DeleteReason::PeerDeleted | DeleteReason::InitialContact => By::Peer,
        DeleteReason::Expired => By::Lifetime,
        DeleteReason::Rekeyed => By::Rekey,
        _ => By::Local,
    }
}

/// One IKEv1 peer relationship, rekeyed and deleted by the library's [`Connection`].
pub struct V1Peer {
    conn: Connection<ChaCha20Rng>,
    initiator: bool,
    aggressive: bool,
    /// Outbound SPI of every ESP SA pair by inbound SPI (for the `rekeyed` event).
    children: HashMap<u32, u32>,
    /// Inbound SPIs of pairs replaced by a rekey.
    replaced: Vec<u32>,
    /// ISAKMP SAs replaced by a rekey.
    replaced_sas: Vec<Cookies>,
    /// The exchange type of the peer's first phase-1 message (responder).
    peer_exchange: Option<ExchangeType>,
    /// We are closing: ISAKMP Deletes are ours.
    closing: bool,
    events: VecDeque<PeerEvent>,
}

impl V1Peer {
    /// Builds the machine: `remote` is where the peer's IKE datagrams come from.
    pub fn new(args: &Args, rng: ChaCha20Rng, remote: SocketAddr, now: Instant) -> Result<Self, String> {
        let initiator = args.role == Role::Initiator;
        let s = settings(args, remote)?;
        let mut config = ConnectionConfig::new(s.phase1, s.quick);
        config.aggressive = initiator && args.aggressive;
        config.dpd = Some(s.dpd);
        config.child_lifetime_kilobytes = args.lifetime_kb;
        let mut conn = Connection::new(config, rng);
        if initiator {
            conn.connect(now).map_err(|e| e.to_string())?;
        }
        Ok(Self {
            conn,
            initiator,
            aggressive: args.aggressive,
            children: HashMap::new(),
            replaced: Vec::new(),
            replaced_sas: Vec::new(),
            peer_exchange: None,
            closing: false,
            events: VecDeque::new(),
        })
    }

    /// The Wireshark key-log line of an ISAKMP SA that came up (first or by a rekey), so
    /// that `--keylog` decrypts the whole run.
    fn keylog(&mut self, cookies: Cookies) {
        if let Some(line) = self.conn.keylog_line(cookies) {
            self.events.push_back(PeerEvent::Keylog(KeyTable::V1, line));
        }
    }

    /// Turns the connection's events into ours.
    fn pump(&mut self) {
        while let Some(e) = self.conn.poll_event() {
            match e {
                ConnectionEvent::Phase1Established { cookies, peer_id, proposal, nat } => {
                    self.keylog(cookies);
                    let aggressive = if self.initiator {
                        self.aggressive
                    } else {
                        self.peer_exchange == Some(ExchangeType::Aggressive)
                    };
                    self.events.push_back(PeerEvent::IkeUp(json!({
                        "version": 1,
                        "exchange": if aggressive { "aggressive" } else { "main" },
                        "proposal": phase1_name(&proposal),
                        "peer_id": id_text(peer_id.id_type == IdType::Ipv4Addr, &peer_id.data),
                        "nat_local": nat.is_some_and(|n| n.local_behind_nat),
                        "nat_remote": nat.is_some_and(|n| n.remote_behind_nat),
                        "floated": nat.is_some_and(|n| n.local_behind_nat || n.remote_behind_nat),
                        "spi": cookies_hex(&cookies),
                        "lifetime_s": proposal.lifetime.as_secs(),
                    })));
                }
                ConnectionEvent::Phase1Rekeyed { old, new, proposal } => {
                    self.keylog(new);
                    self.replaced_sas.push(old);
                    self.events.push_back(PeerEvent::IkeRekeyed {
                        old: cookies_hex(&old),
                        new: cookies_hex(&new),
                        lifetime: Some(proposal.lifetime),
                    });
                }
                ConnectionEvent::Phase1Deleted { cookies, reason } => {
                    let replaced = self.replaced_sas.contains(&cookies);
                    self.replaced_sas.retain(|c| *c != cookies);
                    let last = self.conn.current_isakmp_sa().is_none();
                    let by = if self.closing { By::Local } else { by(reason) };
                    self.events.push_back(PeerEvent::IkeDeleted {
                        by,
                        spi: Some(cookies_hex(&cookies)),
                        replaced,
                        last,
                    });
                }
                ConnectionEvent::ChildSaUp { child, .. } => {
                    self.children.insert(child.spi_in, child.spi_out);
                    self.events.push_back(PeerEvent::ChildUp(child));
                }
                ConnectionEvent::ChildSaRekeyed { old_spi_in, child, .. } => {
                    self.children.insert(child.spi_in, child.spi_out);
                    self.replaced.push(old_spi_in);
                    let old_spi_out = self.children.get(&old_spi_in).copied();
                    self.events.push_back(PeerEvent::ChildRekeyed { old_spi_in, old_spi_out, child });
                }
                ConnectionEvent::ChildSaDeleted { spi_in, reason, .. } => {
                    self.children.remove(&spi_in);
                    let replaced = self.replaced.contains(&spi_in);
                    self.replaced.retain(|s| *s != spi_in);
                    let by = if self.closing { By::Local } else { by(reason) };
                    self.events.push_back(PeerEvent::ChildDeleted { spi_in, by, replaced });
                }
                ConnectionEvent::RekeyDue { spi_in } => {
                    eprintln!("ikepeer: rekey due for {spi_in:?} (auto rekey is on; not expected)");
                }
                ConnectionEvent::QuickModeFailed { message_id, rekey_of, error } => {
                    // The first Quick Mode failing ends the run; a failed rekey leaves the
                    // old pair until it expires.
                    let fatal = rekey_of.is_none() && self.children.is_empty() && self.initiator;
                    self.events.push_back(PeerEvent::Error {
                        message: format!("quick mode {message_id:08x} (rekey of {rekey_of:08x?}): {error}"),
                        fatal,
                    });
                }
                ConnectionEvent::Phase1Failed { error, rekey } => {
                    let fatal = !rekey && self.initiator;
                    let what = if rekey { "phase 1 rekey" } else { "phase 1" };
                    self.events.push_back(PeerEvent::Error { message: format!("{what}: {error}"), fatal });
                }
                ConnectionEvent::PeerDead => self.events.push_back(PeerEvent::PeerDead),
                other => eprintln!("ikepeer: IKEv1 event {other:?}"),
            }
        }
    }
}

impl IkePeer for V1Peer {
    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if let Ok(h) = Header::parse(data)
            && h.message_id == 0
            && self.peer_exchange.is_none()
        {
            self.peer_exchange = Some(h.exchange_type);
        }
        if let Err(e) = self.conn.handle_input(now, data) {
            eprintln!("ikepeer: dropped an IKEv1 datagram: {e}");
        }
        self.pump();
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.conn.poll_timeout().is_some_and(|t| t <= now) {
            self.conn.handle_timeout(now);
        }
        self.pump();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<bool> {
        self.conn.poll_transmit(now, buf).map(|t| t.udp_encapsulated)
    }

    fn poll_event(&mut self) -> Option<PeerEvent> {
        self.pump();
        self.events.pop_front()
    }

    fn delete(&mut self, now: Instant) -> bool {
        if self.conn.isakmp_sas().is_empty() && self.children.is_empty() {
            return false;
        }
        self.closing = true;
        // IKEv1 Deletes are not acknowledged (RFC 2408 §4.8): the SAs are gone once sent.
        self.conn.close(now);
        self.pump();
        true
    }

    fn esp_traffic(&mut self, now: Instant, spi_in: u32, bytes: u64, inbound: bool) {
        self.conn.child_traffic(now, spi_in, bytes, inbound);
        self.pump();
    }
}

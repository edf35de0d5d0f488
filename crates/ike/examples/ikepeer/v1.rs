//! IKEv1: Main Mode or Aggressive Mode with PSK and NAT-T, one Quick Mode, DPD, Deletes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2sec_ike::child::{EspEncapsulation, EspMode};
use l2sec_ike::proposal::{EspProposal, IkeProposal, parse_esp_list, parse_ike_list, phase1_name};
use l2sec_ike::v1::dpd::{Dpd, DpdConfig, DpdEvent};
use l2sec_ike::v1::info::{self, Informational};
use l2sec_ike::v1::phase1::{Event, Identity, NatTraversal, Phase1, Phase1Config};
use l2sec_ike::v1::quick::{
    IsakmpContext, NatOa, QuickMode, QuickModeConfig, QuickModeEvent, QuickModeState, TrafficSelector,
};
use l2sec_ike::wire::v1::{ExchangeType, IdType, Message, ProtocolId};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::cli::{Args, Role};
use crate::{By, IkePeer, KeyTable, PeerEvent, child_rng, id_text};

/// What a responder accepts when `--proposal` is not given.
const DEFAULT_RESPONDER_IKE: &str = "aes128-aes256-aes192-sha1-sha256-sha384-sha512-\
     modp2048-ecp256-ecp384-x25519-modp3072-modp4096-modp1536-modp1024,3des-sha1-sha256-modp2048-modp1536-modp1024";
/// What an initiator offers when `--proposal` is not given (strongSwan's lab initiator).
const DEFAULT_INITIATOR_IKE: &str = "aes128-sha1-modp2048,3des-sha1-modp1024";
const DEFAULT_INITIATOR_ESP: &str = "aes128-sha1,3des-sha1";
/// What a responder accepts when `--esp` is not given (no PFS).
const DEFAULT_RESPONDER_ESP: &str =
    "aes128-aes256-aes192-sha1-sha256-sha384-sha512,aes128gcm16-aes256gcm16,3des-sha1";

/// Lifetimes we propose: 8 h for the ISAKMP SA, 1 h for ESP.
const IKE_LIFETIME: Duration = Duration::from_secs(8 * 3600);
const ESP_LIFETIME: Duration = Duration::from_secs(3600);

pub struct V1Peer {
    phase1: Phase1<ChaCha20Rng>,
    quick: Option<QuickMode<ChaCha20Rng>>,
    qconfig: QuickModeConfig,
    ctx: Option<IsakmpContext>,
    dpd: Option<Dpd<ChaCha20Rng>>,
    dpd_config: DpdConfig,
    rng: ChaCha20Rng,
    initiator: bool,
    /// (spi_in, spi_out) of the Child SA.
    child: Option<(u32, u32)>,
    outbox: VecDeque<(Vec<u8>, bool)>,
    events: VecDeque<PeerEvent>,
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

impl V1Peer {
    /// Builds the machine: `remote` is where the peer's IKE datagrams come from.
    pub fn new(args: &Args, mut rng: ChaCha20Rng, remote: SocketAddr, now: Instant) -> Result<Self, String> {
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
        let mut config = Phase1Config::new(args.psk.as_bytes(), identity(args));
        config.proposals = ike
            .iter()
            .map(|p| p.v1(IKE_LIFETIME))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--proposal: {e}"))?;
        // ikepeer carries ESP only in UDP (no raw ESP socket), so it always asks for
        // encapsulation: it claims a NAT even where there is none.
        config.nat_traversal =
            Some(NatTraversal { local: args.local_ike(), remote, force_encapsulation: true });
        config.allow_aggressive = args.aggressive;
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
        let qconfig = QuickModeConfig {
            proposals: esp.iter().map(|p| p.v1(ESP_LIFETIME)).collect(),
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
        let machine_rng = child_rng(&mut rng);
        let phase1 = match (initiator, args.aggressive) {
            (true, true) => Phase1::initiate_aggressive(config, machine_rng, now),
            (true, false) => Phase1::initiate(config, machine_rng, now),
            (false, _) => Ok(Phase1::respond(config, machine_rng, now)),
        }
        .map_err(|e| e.to_string())?;
        // --dpd also shortens the probe retries, so a dead peer shows within a few idle
        // periods (3 retries, each at most 5 s).
        let dpd_config = match args.dpd {
            Some(idle) => {
                DpdConfig { idle, retransmit_timeout: idle.min(Duration::from_secs(5)), max_retransmits: 3 }
            }
            None => DpdConfig::default(),
        };
        Ok(Self {
            phase1,
            quick: None,
            qconfig,
            ctx: None,
            dpd: None,
            dpd_config,
            rng,
            initiator,
            child: None,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// Moves the machines' events into ours, starting what follows.
    fn pump(&mut self, now: Instant) {
        while let Some(e) = self.phase1.poll_event() {
            match e {
                Event::Established { peer_id, proposal, nat, .. } => {
                    let Some(ctx) = self.phase1.isakmp_context() else { continue };
                    if let Some(line) = l2sec_ike::keylog::ikev1_line_for_phase1(&self.phase1) {
                        self.events.push_back(PeerEvent::Keylog(KeyTable::V1, line));
                    }
                    let exchange = if self.phase1.exchange_type() == ExchangeType::Aggressive {
                        "aggressive"
                    } else {
                        "main"
                    };
                    self.events.push_back(PeerEvent::IkeUp(json!({
                        "version": 1,
                        "exchange": exchange,
                        "proposal": phase1_name(&proposal),
                        "peer_id": id_text(peer_id.id_type == IdType::Ipv4Addr, &peer_id.data),
                        "nat_local": nat.is_some_and(|n| n.local_behind_nat),
                        "nat_remote": nat.is_some_and(|n| n.remote_behind_nat),
                        "floated": ctx.udp_encapsulated,
                    })));
                    self.dpd = Some(Dpd::new(ctx.clone(), self.dpd_config, child_rng(&mut self.rng), now));
                    if self.initiator {
                        match QuickMode::initiate(
                            ctx.clone(),
                            self.qconfig.clone(),
                            child_rng(&mut self.rng),
                            now,
                        ) {
                            Ok(q) => self.quick = Some(q),
                            Err(e) => self.events.push_back(PeerEvent::fatal(format!("quick mode: {e}"))),
                        }
                    }
                    self.ctx = Some(ctx);
                }
                Event::Failed(e) => self.events.push_back(PeerEvent::fatal(format!("phase 1: {e}"))),
                Event::RekeyDue => {
                    eprintln!("ikepeer: ISAKMP SA rekey due; this IKEv1 machine does not rekey yet");
                }
                Event::Expired => self.events.push_back(PeerEvent::IkeDeleted { by: By::Lifetime }),
                other => eprintln!("ikepeer: phase 1 event {other:?}"),
            }
        }
        if let Some(q) = self.quick.as_mut() {
            while let Some(e) = q.poll_event() {
                match e {
                    QuickModeEvent::Established { child, .. } => {
                        self.child = Some((child.spi_in, child.spi_out));
                        self.events.push_back(PeerEvent::ChildUp(child));
                    }
                    QuickModeEvent::Failed(e) => {
                        self.events.push_back(PeerEvent::fatal(format!("quick mode: {e}")));
                    }
                    other => eprintln!("ikepeer: quick mode event {other:?}"),
                }
            }
        }
        if let Some(d) = self.dpd.as_mut() {
            while let Some(e) = d.poll_event() {
                match e {
                    DpdEvent::PeerDead => self.events.push_back(PeerEvent::PeerDead),
                    other => eprintln!("ikepeer: DPD event {other:?}"),
                }
            }
        }
    }

    /// An informational exchange from the peer (after DPD took what is its own).
    fn informational(&mut self, items: Vec<Informational>) {
        for item in items {
            match item {
                Informational::Delete { protocol_id: ProtocolId::IpsecEsp, spis } => {
                    // RFC 2408 §3.15 does not say whose SPI a Delete names: the sender's
                    // inbound one usually, but charon, failing to install an SA, names
                    // the one it would have sent with. Either identifies the pair.
                    if let Some((spi_in, spi_out)) = self.child
                        && spis.iter().any(|s| {
                            s.as_slice() == spi_out.to_be_bytes() || s.as_slice() == spi_in.to_be_bytes()
                        })
                    {
                        self.child = None;
                        self.events.push_back(PeerEvent::ChildDeleted { spi_in, by: By::Peer });
                    }
                }
                Informational::Delete { protocol_id: ProtocolId::Isakmp, .. } => {
                    self.events.push_back(PeerEvent::IkeDeleted { by: By::Peer });
                }
                other => eprintln!("ikepeer: informational from the peer: {other:?}"),
            }
        }
    }

    fn handle_phase2(&mut self, now: Instant, m: &Message<'_>, data: &[u8]) -> Result<(), String> {
        let Some(ctx) = self.ctx.clone() else {
            return Err("phase-2 message before phase 1 is up".to_owned());
        };
        match m.header.exchange_type {
            ExchangeType::QuickMode => match self.quick.as_mut() {
                Some(q) if q.message_id() == m.header.message_id => {
                    q.handle_input(now, data).map_err(|e| e.to_string())
                }
                Some(q) if q.state() == QuickModeState::Established => {
                    Err("another Quick Mode (rekey?) is not supported yet; ignored".to_owned())
                }
                Some(_) => Err("Quick Mode message with another message ID".to_owned()),
                None if !self.initiator => {
                    let q =
                        QuickMode::respond(ctx, self.qconfig.clone(), child_rng(&mut self.rng), now, data)
                            .map_err(|e| e.to_string())?;
                    self.quick = Some(q);
                    Ok(())
                }
                None => Err("Quick Mode from the responder before ours".to_owned()),
            },
            ExchangeType::Informational => {
                let items = match self.dpd.as_mut() {
                    Some(d) => d.handle_input(now, data),
                    None => info::decode(&ctx, data),
                }
                .map_err(|e| e.to_string())?;
                self.informational(items);
                Ok(())
            }
            other => Err(format!("exchange {other:?} not handled")),
        }
    }
}

impl IkePeer for V1Peer {
    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        let result = match Message::parse(data) {
            Err(e) => Err(format!("not an ISAKMP message: {e}")),
            Ok(m) if m.header.message_id == 0 => {
                self.phase1.handle_input(now, data).map_err(|e| e.to_string())
            }
            Ok(m) => self.handle_phase2(now, &m, data),
        };
        if let Err(e) = result {
            eprintln!("ikepeer: dropped an IKEv1 datagram: {e}");
        }
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.phase1.poll_timeout().is_some_and(|t| t <= now) {
            self.phase1.handle_timeout(now);
        }
        if let Some(q) = self.quick.as_mut().filter(|q| q.poll_timeout().is_some_and(|t| t <= now)) {
            q.handle_timeout(now);
        }
        if let Some(d) = self.dpd.as_mut().filter(|d| d.poll_timeout().is_some_and(|t| t <= now)) {
            d.handle_timeout(now);
        }
        self.pump(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.phase1.poll_timeout(),
            self.quick.as_ref().and_then(QuickMode::poll_timeout),
            self.dpd.as_ref().and_then(Dpd::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<bool> {
        if let Some((d, encap)) = self.outbox.pop_front() {
            buf.extend_from_slice(&d);
            return Some(encap);
        }
        if let Some(t) = self.phase1.poll_transmit(now, buf) {
            return Some(t.udp_encapsulated);
        }
        if let Some(t) = self.quick.as_mut().and_then(|q| q.poll_transmit(now, buf)) {
            return Some(t.udp_encapsulated);
        }
        self.dpd.as_mut().and_then(|d| d.poll_transmit(now, buf)).map(|t| t.udp_encapsulated)
    }

    fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    fn delete(&mut self, _now: Instant) -> bool {
        let Some(ctx) = self.ctx.clone() else { return false };
        let mut items = Vec::new();
        if let Some((spi_in, _)) = self.child.take() {
            items.push(Informational::Delete {
                protocol_id: ProtocolId::IpsecEsp,
                spis: vec![spi_in.to_be_bytes().to_vec()],
            });
            self.events.push_back(PeerEvent::ChildDeleted { spi_in, by: By::Local });
        }
        let mut cookies = ctx.cookies.0.to_vec();
        cookies.extend_from_slice(&ctx.cookies.1);
        items.push(Informational::Delete { protocol_id: ProtocolId::Isakmp, spis: vec![cookies] });
        for item in items {
            match info::encode(&ctx, &item, &mut self.rng) {
                Ok(m) => self.outbox.push_back((m, ctx.udp_encapsulated)),
                Err(e) => eprintln!("ikepeer: cannot encode a Delete: {e}"),
            }
        }
        // IKEv1 Deletes are not acknowledged (RFC 2408 §4.8): the SA is gone once sent.
        self.events.push_back(PeerEvent::IkeDeleted { by: By::Local });
        true
    }

    fn traffic_seen(&mut self, now: Instant) {
        if let Some(d) = self.dpd.as_mut() {
            d.traffic_seen(now);
        }
    }
}

//! IKEv1 composed by hand from the library's Phase1, QuickMode and Dpd machines: one
//! ISAKMP SA and one ESP SA pair, DPD, Deletes, no rekeying. ikepeer uses it only with
//! `--keylog` (because [`l2sec_ike::v1::connection::Connection`] does not hand out the
//! ISAKMP keys a Wireshark key-log line needs) and in transport mode (charon's Delete of
//! an SA it could not install names our inbound SPI, which Connection ignores).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use l2sec_ike::proposal::phase1_name;
use l2sec_ike::v1::dpd::{Dpd, DpdConfig, DpdEvent};
use l2sec_ike::v1::info::{self, Informational};
use l2sec_ike::v1::phase1::{Event, Phase1};
use l2sec_ike::v1::quick::{IsakmpContext, QuickMode, QuickModeConfig, QuickModeEvent, QuickModeState};
use l2sec_ike::wire::v1::{ExchangeType, IdType, Message, ProtocolId};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::cli::{Args, Role};
use crate::{By, IkePeer, KeyTable, PeerEvent, child_rng, id_text};

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

impl V1Peer {
    /// Builds the machine: `remote` is where the peer's IKE datagrams come from.
    pub fn new(args: &Args, mut rng: ChaCha20Rng, remote: SocketAddr, now: Instant) -> Result<Self, String> {
        let initiator = args.role == Role::Initiator;
        let crate::v1::Settings { phase1: config, quick: qconfig, dpd: dpd_config } =
            crate::v1::settings(args, remote)?;
        let machine_rng = child_rng(&mut rng);
        let phase1 = match (initiator, args.aggressive) {
            (true, true) => Phase1::initiate_aggressive(config, machine_rng, now),
            (true, false) => Phase1::initiate(config, machine_rng, now),
            (false, _) => Ok(Phase1::respond(config, machine_rng, now)),
        }
        .map_err(|e| e.to_string())?;
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
                Event::Expired => self.events.push_back(PeerEvent::IkeDeleted {
                    by: By::Lifetime,
                    spi: None,
                    replaced: false,
                    last: true,
                }),
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
                        self.events.push_back(PeerEvent::ChildDeleted {
                            spi_in,
                            by: By::Peer,
                            replaced: false,
                        });
                    }
                }
                Informational::Delete { protocol_id: ProtocolId::Isakmp, .. } => {
                    self.events.push_back(PeerEvent::IkeDeleted {
                        by: By::Peer,
                        spi: None,
                        replaced: false,
                        last: true,
                    });
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
            self.events.push_back(PeerEvent::ChildDeleted { spi_in, by: By::Local, replaced: false });
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
        self.events.push_back(PeerEvent::IkeDeleted {
            by: By::Local,
            spi: None,
            replaced: false,
            last: true,
        });
        true
    }

    fn esp_traffic(&mut self, now: Instant, _spi_in: u32, _bytes: u64, inbound: bool) {
        if !inbound {
            return;
        }
        if let Some(d) = self.dpd.as_mut() {
            d.traffic_seen(now);
        }
    }
}

//! The established IKE SA: CREATE_CHILD_SA (more Child SAs, Child SA rekey, IKE SA
//! rekey, RFC 7296 §1.3, §2.8, §2.17, §2.18), Delete of single Child SAs, lifetimes, and
//! the old IKE SAs a rekey leaves behind until they are deleted.
//!
//! Everything here runs on top of the window-size-1 request/response machinery of
//! [`IkeSa`]: at most one request of ours is outstanding; further commands (the owner's,
//! or those of the lifetime timers) wait in a queue and go out one after the other.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand_core::CryptoRng;

use super::{
    ChildConfig, Event, IkeSa, Request, Role, State, Timer, esp_transforms, narrow, nat_transport_view,
    offers, owned_ts, within,
};
use crate::Error;
use crate::child::{ChildSa, EspEncapsulation, EspEncryption, EspIntegrity, EspMode, Lifetime};
use crate::crypto::{DhGroup, KeyExchange};
use crate::v2::keys::{IkeKeys, IkeSuite, child_keys, group_from_id, group_id, open, seal};
use crate::wire::v2::{
    CfgAttribute, CfgAttributeType, CfgType, CfgValue, ChainBuilder, Configuration, Delete, ExchangeType,
    Flags, Header, Message, NONCE_MAX_LEN, NONCE_MIN_LEN, Notify, NotifyType, Payload, PayloadIter,
    PayloadType, Proposal, ProtocolId, SecurityAssociation, TrafficSelector, TrafficSelectors, Transform,
    TransformType,
};

/// Our nonce length in CREATE_CHILD_SA.
const NONCE_LEN: usize = 32;
/// How long an old IKE SA is kept to answer (or repeat) the Delete that ends it.
const RETIRED_LINGER: Duration = Duration::from_secs(30);
/// Delay before a rekey the peer refused with TEMPORARY_FAILURE is tried again.
const RETRY_DELAY: Duration = Duration::from_secs(2);
/// Most Child SAs one IKE SA keeps (beyond it the peer gets NO_ADDITIONAL_SAS).
pub const MAX_CHILD_SAS: usize = 64;
/// Most old IKE SAs kept at once waiting for their Delete (the oldest is forgotten).
const MAX_RETIRED: usize = 8;

/// Addresses a responder hands out through the Configuration payload (RFC 7296 §3.15).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InternalConfig {
    /// INTERNAL_IP4_ADDRESS.
    pub address: Option<Ipv4Addr>,
    /// INTERNAL_IP4_DNS servers.
    pub dns: Vec<Ipv4Addr>,
}

impl InternalConfig {
    /// The CFG_REPLY attributes answering a request (RFC 7296 §2.19): the address when
    /// asked for and known, the DNS servers when asked for.
    pub(super) fn reply_attributes(&self, asked: &CpRequest) -> Vec<CfgAttribute<'static>> {
        let mut out = Vec::new();
        if let (true, Some(a)) = (asked.address, self.address) {
            out.push(CfgAttribute::new(CfgAttributeType::InternalIp4Address, CfgValue::Ipv4(a)));
        }
        if asked.dns {
            out.extend(
                self.dns
                    .iter()
                    .map(|d| CfgAttribute::new(CfgAttributeType::InternalIp4Dns, CfgValue::Ipv4(*d))),
            );
        }
        out
    }

    /// Reads a CFG_REPLY.
    pub(super) fn from_reply(cp: &Configuration<'_>) -> Option<Self> {
        if cp.cfg_type != CfgType::Reply {
            return None;
        }
        let mut out = Self::default();
        for a in &cp.attributes {
            match (a.attribute_type, a.value) {
                (CfgAttributeType::InternalIp4Address, CfgValue::Ipv4(addr)) if out.address.is_none() => {
                    out.address = Some(addr);
                }
                (CfgAttributeType::InternalIp4Dns, CfgValue::Ipv4(addr)) if out.dns.len() < 8 => {
                    out.dns.push(addr)
                }
                _ => {}
            }
        }
        Some(out)
    }
}

/// What a CFG_REQUEST asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct CpRequest {
    pub(super) address: bool,
    pub(super) dns: bool,
}

impl CpRequest {
    pub(super) fn from_request(cp: &Configuration<'_>) -> Option<Self> {
        (cp.cfg_type == CfgType::Request).then(|| Self {
            address: cp.get(CfgAttributeType::InternalIp4Address).is_some(),
            dns: cp.get(CfgAttributeType::InternalIp4Dns).is_some(),
        })
    }

    /// The CFG_REQUEST an initiator sends for an address and DNS servers.
    pub(super) fn request_payload() -> Configuration<'static> {
        Configuration::new(
            CfgType::Request,
            vec![
                CfgAttribute::request(CfgAttributeType::InternalIp4Address),
                CfgAttribute::request(CfgAttributeType::InternalIp4Dns),
            ],
        )
    }
}

/// Where one Child SA of this IKE SA stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChildStatus {
    /// In use.
    Live,
    /// Our rekey of it is queued or outstanding.
    Rekeying,
    /// A newer Child SA replaced it; its Delete is pending.
    Replaced,
}

/// One Child SA as the IKE SA remembers it (no keys: those went to the owner).
#[derive(Debug, Clone)]
struct ChildEntry {
    spi_in: u32,
    spi_out: u32,
    encryption: EspEncryption,
    integrity: EspIntegrity,
    config: ChildConfig,
    local_ts: Vec<TrafficSelector<'static>>,
    remote_ts: Vec<TrafficSelector<'static>>,
    /// Handed to the owner (a Child SA that lost a simultaneous rekey never is).
    announced: bool,
    status: ChildStatus,
    soft: Option<Instant>,
    hard: Option<Instant>,
    /// RFC 7296 §2.8.1: the Child SA the peer created by rekeying this one while our own
    /// rekey of it was outstanding, with that exchange's nonces (Ni, Nr).
    collision: Option<Box<Collision>>,
}

/// The peer's Child SA from a rekey that crossed ours, and that exchange's (Ni, Nr).
type Collision = (ChildSa, ChildEntry, Vec<u8>, Vec<u8>);

/// Commands waiting for the window.
#[derive(Debug, Clone)]
pub(super) enum Command {
    /// A new Child SA.
    Create(ChildConfig),
    /// Rekey the Child SA with this inbound SPI.
    RekeyChild(u32),
    /// Rekey the IKE SA.
    RekeyIke,
    /// Delete the Child SA with this inbound SPI.
    DeleteChild(u32),
}

/// Our outstanding CREATE_CHILD_SA for a Child SA.
#[derive(Debug)]
pub(super) struct ChildExchange {
    /// The Child SA being rekeyed (its inbound SPI).
    rekeying: Option<u32>,
    config: ChildConfig,
    spi_in: u32,
    ni: Vec<u8>,
    kx: Option<KeyExchange>,
}

/// Our outstanding CREATE_CHILD_SA rekeying the IKE SA.
#[derive(Debug)]
pub(super) struct IkeExchange {
    spi: [u8; 8],
    ni: Vec<u8>,
    kx: KeyExchange,
}

/// A new IKE SA, made by a rekey.
#[derive(Debug, Clone)]
struct NewIke {
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    /// Our role in it (the rekey's initiator is the new SA's initiator).
    role: Role,
    suite: IkeSuite,
    keys: IkeKeys,
    ni: Vec<u8>,
    nr: Vec<u8>,
}

/// An IKE SA replaced by a rekey (or a redundant one from a simultaneous rekey), kept
/// until its Delete is done.
#[derive(Debug)]
struct Retired {
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    role: Role,
    suite: IkeSuite,
    keys: IkeKeys,
    own_next_id: u32,
    peer_next_id: u32,
    last_request: Option<Vec<u8>>,
    last_response: Option<Vec<u8>>,
    /// Our Delete of it: message ID, datagram, retransmissions so far, next resend.
    delete: Option<(u32, Vec<u8>, u32, Instant)>,
    /// Forgotten after this.
    until: Instant,
}

/// The state of the established IKE SA kept beside the handshake's.
#[derive(Debug, Default)]
pub(super) struct Established {
    children: Vec<ChildEntry>,
    pub(super) queue: VecDeque<Command>,
    retired: Vec<Retired>,
    /// Datagrams of retired IKE SAs waiting for `poll_transmit`.
    pub(super) outbox: VecDeque<(Vec<u8>, bool)>,
    ike_soft: Option<Instant>,
    ike_hard: Option<Instant>,
    /// RFC 7296 §2.8.2: the IKE SA the peer made by rekeying while our rekey was
    /// outstanding.
    ike_collision: Option<NewIke>,
}

/// Values read from a CREATE_CHILD_SA message.
#[derive(Default)]
struct CreatePayloads<'a> {
    sa: Option<SecurityAssociation<'a>>,
    nonce: Option<&'a [u8]>,
    ke: Option<(u16, &'a [u8])>,
    tsi: Vec<TrafficSelector<'static>>,
    tsr: Vec<TrafficSelector<'static>>,
    transport: bool,
    rekey_spi: Option<u32>,
    error: Option<(NotifyType, Vec<u8>)>,
}

fn create_payloads(first: PayloadType, chain: &[u8]) -> Result<CreatePayloads<'_>, Error> {
    let iter = PayloadIter::new(first, chain);
    if iter.clone().unsupported_critical_payload()?.is_some() {
        return Err(Error::UnexpectedMessage("unsupported critical payload"));
    }
    let mut p = CreatePayloads::default();
    for raw in iter {
        match raw?.parse()? {
            Payload::SecurityAssociation(sa) => p.sa = Some(sa),
            Payload::Nonce(n) => p.nonce = Some(n),
            Payload::KeyExchange(ke) => p.ke = Some((ke.group.value(), ke.data)),
            Payload::TrafficSelectorsInitiator(ts) => p.tsi = owned_ts(&ts),
            Payload::TrafficSelectorsResponder(ts) => p.tsr = owned_ts(&ts),
            Payload::Notify(n) if n.notify_type == NotifyType::UseTransportMode => p.transport = true,
            Payload::Notify(n) if n.notify_type == NotifyType::RekeySa => {
                p.rekey_spi = <[u8; 4]>::try_from(n.spi).ok().map(u32::from_be_bytes);
            }
            Payload::Notify(n) if n.is_error() && p.error.is_none() => {
                p.error = Some((n.notify_type, n.data.to_vec()))
            }
            _ => {}
        }
    }
    if let Some(n) = p.nonce
        && !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&n.len())
    {
        return Err(Error::UnexpectedMessage("nonce length"));
    }
    Ok(p)
}

/// ESP transforms plus the PFS group's key exchange transform.
fn child_transforms(
    enc: EspEncryption,
    integ: EspIntegrity,
    pfs: Option<DhGroup>,
) -> Option<Vec<Transform<'static>>> {
    let mut t = esp_transforms(enc, integ)?;
    if let Some(g) = pfs {
        t.push(Transform::key_exchange(group_id(g)));
    }
    Some(t)
}

/// RFC 7296 §2.8.1, §2.8.2: the smallest of an exchange's two nonces.
fn min_nonce<'a>(ni: &'a [u8], nr: &'a [u8]) -> &'a [u8] {
    if ni.cmp(nr) == Ordering::Less { ni } else { nr }
}

/// `hard * 9/10` minus up to a twentieth of `hard` of jitter: the rekey deadline.
fn soft_deadline<R: CryptoRng>(rng: &mut R, now: Instant, hard: Duration) -> Instant {
    let span = u64::try_from((hard / 20).as_millis()).unwrap_or(u64::MAX).max(1);
    let jitter = Duration::from_millis(rng.next_u64() % span);
    now + (hard * 9 / 10).saturating_sub(jitter)
}

impl<R: CryptoRng> IkeSa<R> {
    // --- owner's commands ---------------------------------------------------------------

    fn command(&mut self, now: Instant, command: Command) -> Result<(), Error> {
        if self.state != State::Established {
            return Err(Error::UnexpectedMessage("IKE SA not established"));
        }
        self.ext.queue.push_back(command);
        self.pump(now);
        Ok(())
    }

    /// RFC 7296 §1.3.1: negotiates one more Child SA with `config` (PFS when
    /// `config.pfs` names a group). Reported as [`Event::ChildSaCreated`], or
    /// [`Event::CreateChildFailed`]. Waits for the window when a request is outstanding.
    ///
    /// # Errors
    /// The IKE SA is not established.
    pub fn create_child(&mut self, now: Instant, config: ChildConfig) -> Result<(), Error> {
        if config.proposals.is_empty() {
            return Err(Error::Configuration("no ESP proposals"));
        }
        self.command(now, Command::Create(config))
    }

    /// RFC 7296 §1.3.3: replaces the Child SA whose inbound SPI is `spi_in` with a new
    /// one ([`Event::ChildSaRekeyed`]), then deletes the old one ([`Event::ChildDeleted`]).
    ///
    /// # Errors
    /// Not established, or no such Child SA.
    pub fn rekey_child(&mut self, now: Instant, spi_in: u32) -> Result<(), Error> {
        if !self.ext.children.iter().any(|c| c.spi_in == spi_in && c.status == ChildStatus::Live) {
            return Err(Error::Configuration("no such Child SA"));
        }
        self.command(now, Command::RekeyChild(spi_in))
    }

    /// RFC 7296 §1.3.2, §2.18: replaces this IKE SA with a new one (new SPIs and keys;
    /// the Child SAs move to it) and deletes the old one. Reported as
    /// [`Event::IkeSaRekeyed`].
    ///
    /// # Errors
    /// The IKE SA is not established.
    pub fn rekey_ike(&mut self, now: Instant) -> Result<(), Error> {
        self.command(now, Command::RekeyIke)
    }

    /// RFC 7296 §1.4.1: deletes the Child SA whose inbound SPI is `spi_in`
    /// ([`Event::ChildDeleted`] once the peer answered).
    ///
    /// # Errors
    /// Not established, or no such Child SA.
    pub fn delete_child(&mut self, now: Instant, spi_in: u32) -> Result<(), Error> {
        if !self.ext.children.iter().any(|c| c.spi_in == spi_in) {
            return Err(Error::Configuration("no such Child SA"));
        }
        self.command(now, Command::DeleteChild(spi_in))
    }

    /// The inbound SPIs of the Child SAs in use.
    #[must_use]
    pub fn child_spis(&self) -> Vec<u32> {
        self.ext
            .children
            .iter()
            .filter(|c| c.announced && c.status != ChildStatus::Replaced)
            .map(|c| c.spi_in)
            .collect()
    }

    /// Sends the next queued command when the window is free.
    pub(super) fn pump(&mut self, now: Instant) {
        while self.outstanding.is_none() && self.state == State::Established {
            let Some(command) = self.ext.queue.pop_front() else { return };
            let result = match command {
                Command::Create(config) => self.send_create_child(now, config, None),
                Command::RekeyChild(spi_in) => {
                    let Some(c) = self.ext.children.iter_mut().find(|c| {
                        c.spi_in == spi_in && matches!(c.status, ChildStatus::Live | ChildStatus::Rekeying)
                    }) else {
                        continue;
                    };
                    c.status = ChildStatus::Rekeying;
                    c.soft = None;
                    let mut config = c.config.clone();
                    // Propose what is in use first.
                    let used = (c.encryption, c.integrity);
                    config.proposals.retain(|p| *p != used);
                    config.proposals.insert(0, used);
                    config.local_ts.clone_from(&c.local_ts);
                    config.remote_ts.clone_from(&c.remote_ts);
                    self.send_create_child(now, config, Some(spi_in))
                }
                Command::RekeyIke => self.send_rekey_ike(now),
                Command::DeleteChild(spi_in) => {
                    if !self.ext.children.iter().any(|c| c.spi_in == spi_in) {
                        continue;
                    }
                    let spi = spi_in.to_be_bytes();
                    let Some(d) = Delete::child_sas(ProtocolId::Esp, &spi) else { continue };
                    self.informational_request(now, Request::DeleteChild(spi_in), Some(&Payload::Delete(d)))
                }
            };
            if let Err(e) = result {
                self.events.push_back(Event::CreateChildFailed { rekeying: None, error: e });
            }
        }
    }

    fn fresh_nonce(&mut self) -> Vec<u8> {
        let mut n = vec![0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut n);
        n
    }

    fn send_request_payloads(
        &mut self,
        now: Instant,
        exchange: ExchangeType,
        request: Request,
        payloads: &[Payload<'_>],
    ) -> Result<(), Error> {
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        for p in payloads {
            c.push(p).map_err(|_| Error::Configuration("request does not encode"))?;
        }
        let first = c.finish();
        let id = self.own_next_id;
        let out = self.protect_with(exchange, id, false, &inner, first)?;
        self.outstanding = Some((id, request));
        self.own_next_id = id.wrapping_add(1);
        self.send_request(out, self.nat.nat_detected(), now);
        Ok(())
    }

    fn send_create_child(
        &mut self,
        now: Instant,
        config: ChildConfig,
        rekeying: Option<u32>,
    ) -> Result<(), Error> {
        let spi_in = self.random_spi();
        let spi = spi_in.to_be_bytes();
        let ni = self.fresh_nonce();
        let kx = config.pfs.map(|g| KeyExchange::generate(g, &mut self.rng));
        let proposals: Vec<Proposal<'_>> = config
            .proposals
            .iter()
            .enumerate()
            .filter_map(|(i, (e, a))| {
                Some(Proposal::new(
                    u8::try_from(i + 1).ok()?,
                    ProtocolId::Esp,
                    &spi,
                    child_transforms(*e, *a, config.pfs)?,
                ))
            })
            .collect();
        let rekey_spi = rekeying.map(u32::to_be_bytes);
        let mut payloads = Vec::new();
        if let Some(old) = &rekey_spi {
            payloads.push(Payload::Notify(Notify {
                protocol_id: ProtocolId::Esp,
                spi: old,
                ..Notify::new(NotifyType::RekeySa, &[])
            }));
        }
        if config.mode == EspMode::Transport {
            payloads.push(Payload::Notify(Notify::new(NotifyType::UseTransportMode, &[])));
        }
        payloads.push(Payload::SecurityAssociation(SecurityAssociation { proposals }));
        payloads.push(Payload::Nonce(&ni));
        if let Some(kx) = &kx {
            payloads.push(Payload::KeyExchange(crate::wire::v2::KeyExchange::new(
                group_id(kx.group()),
                kx.public_value(),
            )));
        }
        payloads.push(Payload::TrafficSelectorsInitiator(TrafficSelectors::new(config.local_ts.clone())));
        payloads.push(Payload::TrafficSelectorsResponder(TrafficSelectors::new(config.remote_ts.clone())));
        let payloads = payloads;
        let exchange = ChildExchange { rekeying, config: config.clone(), spi_in, ni: ni.clone(), kx: None };
        self.send_request_payloads(
            now,
            ExchangeType::CreateChildSa,
            Request::Child(Box::new(exchange)),
            &payloads,
        )?;
        if let Some((_, Request::Child(x))) = &mut self.outstanding {
            x.kx = kx;
        }
        Ok(())
    }

    fn send_rekey_ike(&mut self, now: Instant) -> Result<(), Error> {
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let mut spi = [0u8; 8];
        while spi == [0; 8] {
            self.rng.fill_bytes(&mut spi);
        }
        let ni = self.fresh_nonce();
        let kx = KeyExchange::generate(suite.group, &mut self.rng);
        // The suite in use first, then the configured ones.
        let mut suites = vec![suite];
        suites.extend(self.config.proposals.iter().copied().filter(|s| *s != suite));
        let proposals: Vec<Proposal<'_>> = suites
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                Some(Proposal::new(u8::try_from(i + 1).ok()?, ProtocolId::Ike, &spi, s.transforms()))
            })
            .collect();
        let public = kx.public_value().to_vec();
        let payloads = [
            Payload::SecurityAssociation(SecurityAssociation { proposals }),
            Payload::Nonce(&ni),
            Payload::KeyExchange(crate::wire::v2::KeyExchange::new(group_id(kx.group()), &public)),
        ];
        let x = IkeExchange { spi, ni: ni.clone(), kx };
        self.send_request_payloads(
            now,
            ExchangeType::CreateChildSa,
            Request::RekeyIke(Box::new(x)),
            &payloads,
        )
    }

    // --- established-state dispatch -----------------------------------------------------

    /// A message on the established IKE SA (its SPIs, from the peer's side).
    pub(super) fn established_input(
        &mut self,
        now: Instant,
        m: &Message<'_>,
        data: &[u8],
    ) -> Result<(), Error> {
        let h = m.header;
        if h.flags.response() {
            return match h.exchange_type {
                ExchangeType::Informational => self.on_informational_response(now, m),
                ExchangeType::CreateChildSa => self.on_create_child_response(now, m),
                _ => Err(Error::UnexpectedMessage("no such request outstanding")),
            };
        }
        if self.last_request.as_deref() == Some(data) {
            // RFC 7296 §2.1: our response was lost; send the same one again.
            self.response_pending = true;
            return Ok(());
        }
        match h.exchange_type {
            ExchangeType::Informational => self.on_informational(m, data),
            ExchangeType::CreateChildSa => self.on_create_child_request(now, m, data),
            _ => Err(Error::UnexpectedMessage("no such exchange on an established IKE SA")),
        }
    }

    /// Records the first Child SA (IKE_AUTH) and arms the lifetimes.
    pub(super) fn adopt_first_child(&mut self, now: Instant, event: &Event) {
        if let Some(hard) = self.config.ike_lifetime {
            let soft = soft_deadline(&mut self.rng, now, hard);
            self.ext.ike_soft = Some(soft);
            self.ext.ike_hard = Some(now + hard);
        }
        if let Event::Established { child, local_ts, remote_ts, .. } = event {
            self.child_spi_out = Some(child.spi_out);
            let config = self.config.child.clone();
            let entry = self.child_entry(now, child, config, local_ts.clone(), remote_ts.clone());
            self.ext.children.push(entry);
        }
    }

    fn child_entry(
        &mut self,
        now: Instant,
        child: &ChildSa,
        config: ChildConfig,
        local_ts: Vec<TrafficSelector<'static>>,
        remote_ts: Vec<TrafficSelector<'static>>,
    ) -> ChildEntry {
        let (soft, hard) = match config.lifetime.time {
            Some(t) => (Some(soft_deadline(&mut self.rng, now, t)), Some(now + t)),
            None => (None, None),
        };
        ChildEntry {
            spi_in: child.spi_in,
            spi_out: child.spi_out,
            encryption: child.encryption,
            integrity: child.integrity,
            config,
            local_ts,
            remote_ts,
            announced: true,
            status: ChildStatus::Live,
            soft,
            hard,
            collision: None,
        }
    }

    fn new_child_sa(
        &self,
        spi_in: u32,
        spi_out: u32,
        (encryption, integrity): (EspEncryption, EspIntegrity),
        keys_in: crate::child::EspKeys,
        keys_out: crate::child::EspKeys,
        config: &ChildConfig,
    ) -> ChildSa {
        let hard = config.lifetime;
        let soft = Lifetime { time: hard.time.map(|t| t * 9 / 10), bytes: hard.bytes.map(|b| b / 10 * 9) };
        ChildSa {
            spi_in,
            spi_out,
            encryption,
            integrity,
            keys_in,
            keys_out,
            mode: config.mode,
            encapsulation: if self.nat.nat_detected() {
                EspEncapsulation::Udp { local_port: 4500, remote_port: 4500 }
            } else {
                EspEncapsulation::None
            },
            extended_sequence_numbers: false,
            hard_lifetime: hard,
            soft_lifetime: soft,
        }
    }

    /// RFC 7296 §1.4.1: the peer deleted Child SAs whose outbound SPIs are given. Returns
    /// our inbound SPIs of the pairs, for the answer; reports each announced one.
    pub(super) fn peer_deleted_children(&mut self, spis_out: &[u32]) -> Vec<u32> {
        let mut ours = Vec::new();
        self.ext.children.retain(|c| {
            if spis_out.contains(&c.spi_out) {
                ours.push((c.spi_in, c.announced));
                false
            } else {
                true
            }
        });
        for (spi_in, announced) in &ours {
            if *announced {
                self.events.push_back(Event::ChildDeleted { spi_in: *spi_in });
            }
            if self.child_spi == *spi_in {
                self.child_spi_out = None;
            }
        }
        ours.into_iter().map(|(s, _)| s).collect()
    }

    /// Our Delete of a Child SA was answered.
    pub(super) fn child_delete_done(&mut self, spi_in: u32) {
        if let Some(i) = self.ext.children.iter().position(|c| c.spi_in == spi_in) {
            let c = self.ext.children.remove(i);
            if c.announced {
                self.events.push_back(Event::ChildDeleted { spi_in });
            }
        }
    }

    // --- CREATE_CHILD_SA as responder ---------------------------------------------------

    fn respond_create(
        &mut self,
        data: &[u8],
        message_id: u32,
        payloads: &[Payload<'_>],
    ) -> Result<(), Error> {
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        for p in payloads {
            c.push(p).map_err(|_| Error::Configuration("response does not encode"))?;
        }
        let first = c.finish();
        let out = self.protect_with(ExchangeType::CreateChildSa, message_id, true, &inner, first)?;
        self.send_response(data, out, self.nat.nat_detected());
        self.peer_next_id = self.peer_next_id.wrapping_add(1);
        Ok(())
    }

    fn refuse(
        &mut self,
        data: &[u8],
        message_id: u32,
        notify: NotifyType,
        notify_data: &[u8],
    ) -> Result<(), Error> {
        self.respond_create(data, message_id, &[Payload::Notify(Notify::new(notify, notify_data))])
    }

    fn on_create_child_request(&mut self, now: Instant, m: &Message<'_>, data: &[u8]) -> Result<(), Error> {
        let id = m.header.message_id;
        if id != self.peer_next_id {
            return Err(Error::UnexpectedMessage("CREATE_CHILD_SA with an unexpected Message ID"));
        }
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?;
        let opened = open(&suite, keys.sender(self.role == Role::Responder), m)?;
        let p = create_payloads(opened.first_inner, &opened.chain)?;
        let sa = p.sa.as_ref().ok_or(Error::UnexpectedMessage("CREATE_CHILD_SA without SA"))?;
        let ni = p.nonce.ok_or(Error::UnexpectedMessage("CREATE_CHILD_SA without nonce"))?;
        if sa.proposals.iter().any(|pr| pr.protocol_id == ProtocolId::Ike) {
            return self.on_rekey_ike_request(now, data, id, sa, ni, p.ke);
        }
        let limit = if p.rekey_spi.is_some() { MAX_CHILD_SAS + MAX_RETIRED } else { MAX_CHILD_SAS };
        if self.ext.children.len() >= limit {
            // RFC 7296 §3.10.1: a resource limit, not an error of the peer's message.
            return self.refuse(data, id, NotifyType::NoAdditionalSas, &[]);
        }
        // Which Child SA it rekeys, and the policy the new one follows.
        let (config, rekeying) = match p.rekey_spi {
            Some(spi) => match self.ext.children.iter().find(|c| c.spi_out == spi) {
                None => {
                    let spi = spi.to_be_bytes();
                    let n = Notify {
                        protocol_id: ProtocolId::Esp,
                        spi: &spi,
                        ..Notify::new(NotifyType::ChildSaNotFound, &[])
                    };
                    return self.respond_create(data, id, &[Payload::Notify(n)]);
                }
                Some(c) if c.status == ChildStatus::Replaced => {
                    // RFC 7296 §2.25: it is being deleted already.
                    return self.refuse(data, id, NotifyType::TemporaryFailure, &[]);
                }
                Some(c) => (c.config.clone(), Some(c.spi_in)),
            },
            None => (self.config.child.clone(), None),
        };
        // RFC 7296 §2.8: first the ESP proposal, with the PFS group the KE names.
        let mut chosen = None;
        let mut wanted_group = None;
        for pr in sa.proposals.iter().filter(|pr| pr.protocol_id == ProtocolId::Esp) {
            let Ok(spi) = <[u8; 4]>::try_from(pr.spi) else { continue };
            let groups: Vec<DhGroup> = pr
                .transforms
                .iter()
                .filter(|t| t.transform_type == TransformType::KeyExchange)
                .filter_map(|t| group_from_id(t.transform_id.into()))
                .collect();
            let pfs = match (groups.is_empty(), p.ke) {
                (true, _) => None,
                (false, Some((g, _))) if groups.iter().any(|x| x.id() == g) => group_from_id(g.into()),
                (false, _) => {
                    wanted_group = wanted_group.or(groups.first().copied());
                    continue;
                }
            };
            if let Some((e, a)) = config
                .proposals
                .iter()
                .find(|(e, a)| child_transforms(*e, *a, pfs).is_some_and(|t| offers(pr, &t)))
            {
                chosen = Some((pr.number, *e, *a, u32::from_be_bytes(spi), pfs));
                break;
            }
        }
        let Some((number, enc, integ, spi_out, pfs)) = chosen else {
            if let Some(g) = wanted_group {
                return self.refuse(data, id, NotifyType::InvalidKePayload, &g.id().to_be_bytes());
            }
            return self.refuse(data, id, NotifyType::NoProposalChosen, &[]);
        };
        if (config.mode == EspMode::Transport) != p.transport {
            return self.refuse(data, id, NotifyType::NoProposalChosen, &[]);
        }
        let tsi = narrow(&p.tsi, &config.remote_ts);
        let tsr = narrow(&p.tsr, &config.local_ts);
        if tsi.is_empty() || tsr.is_empty() {
            return self.refuse(data, id, NotifyType::TsUnacceptable, &[]);
        }
        let (kx, g_ir) = match (pfs, p.ke) {
            (Some(g), Some((_, kei))) => {
                let kx = KeyExchange::generate(g, &mut self.rng);
                let s = kx.shared_secret(kei)?;
                (Some(kx), Some(s))
            }
            _ => (None, None),
        };
        let nr = self.fresh_nonce();
        let keys = self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?;
        let (i2r, r2i) =
            child_keys(suite.prf, &keys.sk_d, g_ir.as_ref().map(|s| s.as_bytes()), ni, &nr, enc, integ)?;
        let spi_in = self.random_spi();
        let child = self.new_child_sa(spi_in, spi_out, (enc, integ), i2r, r2i, &config);
        let spi = spi_in.to_be_bytes();
        let t = child_transforms(enc, integ, pfs).ok_or(Error::NoProposalChosen)?;
        let mut payloads = Vec::new();
        if config.mode == EspMode::Transport {
            payloads.push(Payload::Notify(Notify::new(NotifyType::UseTransportMode, &[])));
        }
        payloads.push(Payload::SecurityAssociation(SecurityAssociation {
            proposals: vec![Proposal::new(number, ProtocolId::Esp, &spi, t)],
        }));
        payloads.push(Payload::Nonce(&nr));
        if let Some(kx) = &kx {
            payloads.push(Payload::KeyExchange(crate::wire::v2::KeyExchange::new(
                group_id(kx.group()),
                kx.public_value(),
            )));
        }
        payloads.push(Payload::TrafficSelectorsInitiator(TrafficSelectors::new(tsi.clone())));
        payloads.push(Payload::TrafficSelectorsResponder(TrafficSelectors::new(tsr.clone())));
        self.respond_create(data, id, &payloads)?;
        let mut entry = self.child_entry(now, &child, config, tsr.clone(), tsi.clone());
        match rekeying {
            None => {
                self.ext.children.push(entry);
                self.events.push_back(Event::ChildSaCreated { child, local_ts: tsr, remote_ts: tsi });
            }
            Some(old) => {
                let Some(x) = self.ext.children.iter_mut().find(|c| c.spi_in == old) else { return Ok(()) };
                if x.status == ChildStatus::Rekeying {
                    // RFC 7296 §2.8.1: both of us rekey it; decided when our answer comes.
                    entry.announced = false;
                    x.collision = Some(Box::new((child, entry, ni.to_vec(), nr)));
                } else {
                    // The peer deletes the old one.
                    x.status = ChildStatus::Replaced;
                    x.soft = None;
                    self.ext.children.push(entry);
                    self.events.push_back(Event::ChildSaRekeyed {
                        old_spi_in: old,
                        child,
                        local_ts: tsr,
                        remote_ts: tsi,
                    });
                }
            }
        }
        Ok(())
    }

    fn on_rekey_ike_request(
        &mut self,
        now: Instant,
        data: &[u8],
        id: u32,
        sa: &SecurityAssociation<'_>,
        ni: &[u8],
        ke: Option<(u16, &[u8])>,
    ) -> Result<(), Error> {
        let ours_pending = match &self.outstanding {
            None => false,
            Some((_, Request::RekeyIke(_))) => true,
            Some(_) => {
                // RFC 7296 §2.25: our own exchange must finish first.
                return self.refuse(data, id, NotifyType::TemporaryFailure, &[]);
            }
        };
        let chosen =
            sa.proposals.iter().filter(|p| p.protocol_id == ProtocolId::Ike && p.spi.len() == 8).find_map(
                |p| {
                    let s = self.config.proposals.iter().find(|s| offers(p, &s.transforms()))?;
                    Some((p.number, *s, <[u8; 8]>::try_from(p.spi).ok()?))
                },
            );
        let Some((number, suite, spi_i)) = chosen else {
            return self.refuse(data, id, NotifyType::NoProposalChosen, &[]);
        };
        let Some((group, kei)) = ke else {
            return self.refuse(data, id, NotifyType::InvalidSyntax, &[]);
        };
        if group != suite.group.id() {
            return self.refuse(data, id, NotifyType::InvalidKePayload, &suite.group.id().to_be_bytes());
        }
        let kx = KeyExchange::generate(suite.group, &mut self.rng);
        let g_ir = kx.shared_secret(kei)?;
        let mut spi_r = [0u8; 8];
        while spi_r == [0; 8] {
            self.rng.fill_bytes(&mut spi_r);
        }
        let nr = self.fresh_nonce();
        let keys = self.rekeyed_keys(&suite, g_ir.as_bytes(), ni, &nr, &spi_i, &spi_r)?;
        let new =
            NewIke { spi_i, spi_r, role: Role::Responder, suite, keys, ni: ni.to_vec(), nr: nr.clone() };
        let payloads = [
            Payload::SecurityAssociation(SecurityAssociation {
                proposals: vec![Proposal::new(number, ProtocolId::Ike, &spi_r, suite.transforms())],
            }),
            Payload::Nonce(&nr),
            Payload::KeyExchange(crate::wire::v2::KeyExchange::new(group_id(suite.group), kx.public_value())),
        ];
        self.respond_create(data, id, &payloads)?;
        if ours_pending {
            // RFC 7296 §2.8.2: decided when the answer to ours comes.
            self.ext.ike_collision = Some(new);
        } else {
            // The peer deletes the old IKE SA.
            self.switch_ike(now, new, false);
        }
        Ok(())
    }

    /// RFC 7296 §2.18: `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` with the old
    /// SA's PRF, then the seven keys from it with the new SPIs and the new suite.
    fn rekeyed_keys(
        &self,
        suite: &IkeSuite,
        g_ir: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<IkeKeys, Error> {
        let old = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let sk_d = &self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?.sk_d;
        let skeyseed = zeroize::Zeroizing::new(old.prf.prf(sk_d, &[g_ir, ni, nr]).as_bytes().to_vec());
        IkeKeys::from_skeyseed(suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    /// Makes `new` the IKE SA; the current one is kept as retired, deleted by us when
    /// `delete_old`.
    fn switch_ike(&mut self, now: Instant, new: NewIke, delete_old: bool) {
        if self.suite.is_none() || self.keys.is_none() {
            return;
        }
        if self.response_pending
            && let Some(r) = self.last_response.clone()
        {
            // An answer on the old IKE SA not sent yet goes first, in fragments (RFC 7383)
            // when it is too long, cut while the old keys are still ours.
            let parts = self.fragments_for(&r).unwrap_or_else(|| vec![r]);
            for part in parts {
                self.ext.outbox.push_back((part, self.last_response_encapsulated));
            }
        }
        let (Some(suite), Some(keys)) = (self.suite, self.keys.take()) else { return };
        let old = Retired {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            role: self.role,
            suite,
            keys,
            own_next_id: self.own_next_id,
            peer_next_id: self.peer_next_id,
            last_request: self.last_request.take(),
            last_response: self.last_response.take(),
            delete: None,
            until: now + RETIRED_LINGER,
        };
        self.push_retired(old);
        if delete_old {
            let i = self.ext.retired.len() - 1;
            self.retire_with_delete(now, i);
        }
        self.spi_i = new.spi_i;
        self.spi_r = new.spi_r;
        self.role = new.role;
        self.suite = Some(new.suite);
        self.keys = Some(new.keys);
        self.ni = new.ni;
        self.nr = new.nr;
        self.own_next_id = 0;
        self.peer_next_id = 0;
        self.response_pending = false;
        if let Some(hard) = self.config.ike_lifetime {
            self.ext.ike_soft = Some(soft_deadline(&mut self.rng, now, hard));
            self.ext.ike_hard = Some(now + hard);
        }
        self.events.push_back(Event::IkeSaRekeyed { spis: (self.spi_i, self.spi_r), suite: new.suite });
    }

    fn push_retired(&mut self, r: Retired) {
        if self.ext.retired.len() >= MAX_RETIRED {
            self.ext.retired.remove(0);
        }
        self.ext.retired.push(r);
    }

    /// Keeps `new` as a retired IKE SA (a redundant one of a simultaneous rekey).
    fn retire(&mut self, now: Instant, new: NewIke, delete: bool) {
        self.push_retired(Retired {
            spi_i: new.spi_i,
            spi_r: new.spi_r,
            role: new.role,
            suite: new.suite,
            keys: new.keys,
            own_next_id: 0,
            peer_next_id: 0,
            last_request: None,
            last_response: None,
            delete: None,
            until: now + RETIRED_LINGER,
        });
        if delete {
            let i = self.ext.retired.len() - 1;
            self.retire_with_delete(now, i);
        }
    }

    /// Sends the Delete of retired IKE SA `i`.
    fn retire_with_delete(&mut self, now: Instant, i: usize) {
        let r = &mut self.ext.retired[i];
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        if c.push(&Payload::Delete(Delete::IKE_SA)).is_err() {
            return;
        }
        let first = c.finish();
        let flags = if r.role == Role::Initiator { Flags::INITIATOR } else { Flags(0) };
        let header = Header::new(r.spi_i, r.spi_r, ExchangeType::Informational, flags, r.own_next_id);
        let Ok(out) =
            seal(&r.suite, r.keys.sender(r.role == Role::Initiator), &header, first, &inner, &mut self.rng)
        else {
            return;
        };
        r.delete = Some((r.own_next_id, out.clone(), 0, now + self.config.retransmit_timeout));
        r.own_next_id = r.own_next_id.wrapping_add(1);
        self.ext.outbox.push_back((out, self.nat.nat_detected()));
    }

    // --- CREATE_CHILD_SA as initiator ---------------------------------------------------

    fn on_create_child_response(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        match &self.outstanding {
            Some((id, Request::Child(_) | Request::RekeyIke(_))) if *id == m.header.message_id => {}
            _ => return Err(Error::UnexpectedMessage("no CREATE_CHILD_SA outstanding with this Message ID")),
        }
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?;
        let opened = open(&suite, keys.sender(self.role == Role::Responder), m)?;
        let p = create_payloads(opened.first_inner, &opened.chain)?;
        // Authentic: the exchange is over whatever it says.
        let Some((_, request)) = self.outstanding.take() else { return Ok(()) };
        self.timers[Timer::Retransmit as usize] = None;
        match request {
            Request::Child(x) => self.finish_create_child(now, *x, &p),
            Request::RekeyIke(x) => self.finish_rekey_ike(now, *x, &p),
            _ => {}
        }
        self.pump(now);
        Ok(())
    }

    fn child_failed(&mut self, now: Instant, x: &ChildExchange, error: Error, temporary: bool) {
        if let Some(old) = x.rekeying
            && let Some(c) = self.ext.children.iter_mut().find(|c| c.spi_in == old)
        {
            if let Some(b) = c.collision.take() {
                // The peer's rekey of it stands.
                let (child, mut entry, _, _) = *b;
                c.status = ChildStatus::Replaced;
                entry.announced = true;
                let (local_ts, remote_ts) = (entry.local_ts.clone(), entry.remote_ts.clone());
                self.ext.children.push(entry);
                self.events.push_back(Event::ChildSaRekeyed { old_spi_in: old, child, local_ts, remote_ts });
                return;
            }
            c.status = ChildStatus::Live;
            if temporary {
                c.soft = Some(now + RETRY_DELAY);
            }
        }
        self.events.push_back(Event::CreateChildFailed { rekeying: x.rekeying, error });
    }

    fn finish_create_child(&mut self, now: Instant, x: ChildExchange, p: &CreatePayloads<'_>) {
        if let Some((notify, data)) = &p.error {
            if *notify == NotifyType::InvalidKePayload
                && let Ok(g) = <[u8; 2]>::try_from(data.as_slice())
                && let Some(g) = group_from_id(u16::from_be_bytes(g).into())
                && x.config.pfs != Some(g)
            {
                // RFC 7296 §1.3: once more with the group the peer wants.
                let mut config = x.config.clone();
                config.pfs = Some(g);
                if self.send_create_child(now, config, x.rekeying).is_ok() {
                    return;
                }
            }
            let temporary = *notify == NotifyType::TemporaryFailure;
            let e = match notify {
                NotifyType::NoProposalChosen | NotifyType::TsUnacceptable => Error::NoProposalChosen,
                _ => Error::UnexpectedMessage("CREATE_CHILD_SA refused"),
            };
            return self.child_failed(now, &x, e, temporary);
        }
        match self.accept_child(&x, p) {
            Ok((child, entry)) => self.child_created(now, x, child, entry, p.nonce.unwrap_or_default()),
            Err(e) => self.child_failed(now, &x, e, false),
        }
    }

    fn accept_child(
        &mut self,
        x: &ChildExchange,
        p: &CreatePayloads<'_>,
    ) -> Result<(ChildSa, ChildEntry), Error> {
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let sa = p.sa.as_ref().ok_or(Error::UnexpectedMessage("CREATE_CHILD_SA response without SA"))?;
        let [proposal] = sa.proposals.as_slice() else {
            return Err(Error::UnexpectedMessage("responder must choose one ESP proposal"));
        };
        let spi_out: [u8; 4] =
            proposal.spi.try_into().map_err(|_| Error::UnexpectedMessage("ESP SPI size"))?;
        let pfs = x.kx.as_ref().map(KeyExchange::group);
        let (enc, integ) = x
            .config
            .proposals
            .iter()
            .copied()
            .find(|(e, a)| {
                proposal.protocol_id == ProtocolId::Esp
                    && child_transforms(*e, *a, pfs)
                        .is_some_and(|t| offers(proposal, &t) && proposal.transforms.len() <= t.len())
            })
            .ok_or(Error::NoProposalChosen)?;
        if p.transport != (x.config.mode == EspMode::Transport) {
            return Err(Error::NoProposalChosen);
        }
        let (local_ts, remote_ts) = if p.transport && self.nat.nat_detected() {
            // RFC 7296 §2.23.1: behind a NAT in transport mode the responder answers with
            // the addresses it sees; we keep our own view of them.
            let own = |answer: &[TrafficSelector<'static>], ours: &[TrafficSelector<'static>]| {
                nat_transport_view(answer, ours).ok_or(Error::NoProposalChosen)
            };
            (own(&p.tsi, &x.config.local_ts)?, own(&p.tsr, &x.config.remote_ts)?)
        } else if within(&p.tsi, &x.config.local_ts) && within(&p.tsr, &x.config.remote_ts) {
            (p.tsi.clone(), p.tsr.clone())
        } else {
            return Err(Error::NoProposalChosen);
        };
        let nr = p.nonce.ok_or(Error::UnexpectedMessage("CREATE_CHILD_SA response without nonce"))?;
        let g_ir = match (&x.kx, p.ke) {
            (Some(kx), Some((g, ker))) if g == kx.group().id() => Some(kx.shared_secret(ker)?),
            (Some(_), _) => return Err(Error::UnexpectedMessage("PFS without the responder's KE")),
            (None, _) => None,
        };
        let keys = self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?;
        let (i2r, r2i) =
            child_keys(suite.prf, &keys.sk_d, g_ir.as_ref().map(|s| s.as_bytes()), &x.ni, nr, enc, integ)?;
        let child =
            self.new_child_sa(x.spi_in, u32::from_be_bytes(spi_out), (enc, integ), r2i, i2r, &x.config);
        Ok((
            child,
            ChildEntry {
                spi_in: x.spi_in,
                spi_out: u32::from_be_bytes(spi_out),
                encryption: enc,
                integrity: integ,
                config: x.config.clone(),
                local_ts,
                remote_ts,
                announced: true,
                status: ChildStatus::Live,
                soft: None,
                hard: None,
                collision: None,
            },
        ))
    }

    fn child_created(
        &mut self,
        now: Instant,
        x: ChildExchange,
        child: ChildSa,
        mut entry: ChildEntry,
        nr: &[u8],
    ) {
        if let Some(t) = x.config.lifetime.time {
            entry.soft = Some(soft_deadline(&mut self.rng, now, t));
            entry.hard = Some(now + t);
        }
        let (local_ts, remote_ts) = (entry.local_ts.clone(), entry.remote_ts.clone());
        let Some(old) = x.rekeying else {
            self.ext.children.push(entry);
            self.events.push_back(Event::ChildSaCreated { child, local_ts, remote_ts });
            return;
        };
        let Some(c) = self.ext.children.iter_mut().find(|c| c.spi_in == old) else {
            // Deleted meanwhile: keep the new one all the same.
            self.ext.children.push(entry);
            self.events.push_back(Event::ChildSaCreated { child, local_ts, remote_ts });
            return;
        };
        c.status = ChildStatus::Replaced;
        c.soft = None;
        match c.collision.take() {
            Some(b) => {
                let (peer_child, mut peer_entry, peer_ni, peer_nr) = *b;
                // RFC 7296 §2.8.1: the exchange holding the lowest nonce made the redundant SA;
                // its initiator deletes it, the winner deletes the old one.
                let we_lose = min_nonce(&x.ni, nr) < min_nonce(&peer_ni, &peer_nr);
                if we_lose {
                    entry.announced = false;
                    let redundant = entry.spi_in;
                    self.ext.children.push(entry);
                    peer_entry.announced = true;
                    let (l, r) = (peer_entry.local_ts.clone(), peer_entry.remote_ts.clone());
                    self.ext.children.push(peer_entry);
                    self.events.push_back(Event::ChildSaRekeyed {
                        old_spi_in: old,
                        child: peer_child,
                        local_ts: l,
                        remote_ts: r,
                    });
                    self.ext.queue.push_front(Command::DeleteChild(redundant));
                } else {
                    // The peer deletes its redundant one (never announced).
                    self.ext.children.push(peer_entry);
                    self.ext.children.push(entry);
                    self.events.push_back(Event::ChildSaRekeyed {
                        old_spi_in: old,
                        child,
                        local_ts,
                        remote_ts,
                    });
                    self.ext.queue.push_front(Command::DeleteChild(old));
                }
            }
            None => {
                self.ext.children.push(entry);
                self.events.push_back(Event::ChildSaRekeyed { old_spi_in: old, child, local_ts, remote_ts });
                self.ext.queue.push_front(Command::DeleteChild(old));
            }
        }
    }

    fn finish_rekey_ike(&mut self, now: Instant, x: IkeExchange, p: &CreatePayloads<'_>) {
        let result = (|| {
            if let Some((notify, data)) = &p.error {
                if *notify == NotifyType::TemporaryFailure {
                    return Err((Error::UnexpectedMessage("IKE SA rekey refused for now"), true));
                }
                let _ = data;
                return Err((Error::UnexpectedMessage("IKE SA rekey refused"), false));
            }
            let sa = p.sa.as_ref().ok_or((Error::UnexpectedMessage("rekey response without SA"), false))?;
            let [proposal] = sa.proposals.as_slice() else {
                return Err((Error::UnexpectedMessage("responder must choose one proposal"), false));
            };
            let spi_r: [u8; 8] =
                proposal.spi.try_into().map_err(|_| (Error::UnexpectedMessage("IKE SPI size"), false))?;
            let suite = super::accepted_suite(proposal, &self.config.proposals)
                .filter(|s| s.group == x.kx.group())
                .ok_or((Error::NoProposalChosen, false))?;
            let nr = p.nonce.ok_or((Error::UnexpectedMessage("rekey response without nonce"), false))?;
            let (g, ker) = p.ke.ok_or((Error::UnexpectedMessage("rekey response without KE"), false))?;
            if g != suite.group.id() || spi_r == [0; 8] {
                return Err((Error::UnexpectedMessage("rekey response KE or SPI"), false));
            }
            let g_ir = x.kx.shared_secret(ker).map_err(|e| (e.into(), false))?;
            let keys = self
                .rekeyed_keys(&suite, g_ir.as_bytes(), &x.ni, nr, &x.spi, &spi_r)
                .map_err(|e| (e, false))?;
            Ok(NewIke {
                spi_i: x.spi,
                spi_r,
                role: Role::Initiator,
                suite,
                keys,
                ni: x.ni.clone(),
                nr: nr.to_vec(),
            })
        })();
        let collision = self.ext.ike_collision.take();
        match (result, collision) {
            (Ok(ours), None) => self.switch_ike(now, ours, true),
            (Ok(ours), Some(theirs)) => {
                // RFC 7296 §2.8.2: the SA made with the lowest nonce is redundant and closed
                // by whoever made it; the winner's initiator deletes the old SA.
                if min_nonce(&ours.ni, &ours.nr) < min_nonce(&theirs.ni, &theirs.nr) {
                    self.switch_ike(now, theirs, false);
                    self.retire(now, ours, true);
                } else {
                    self.switch_ike(now, ours, true);
                    self.retire(now, theirs, false);
                }
            }
            (Err(_), Some(theirs)) => self.switch_ike(now, theirs, false),
            (Err((error, temporary)), None) => {
                if temporary {
                    self.ext.ike_soft = Some(now + RETRY_DELAY);
                }
                self.events.push_back(Event::CreateChildFailed { rekeying: None, error });
            }
        }
    }

    // --- retired IKE SAs ----------------------------------------------------------------

    /// A message for a retired IKE SA, if it is one.
    pub(super) fn retired_input(
        &mut self,
        now: Instant,
        m: &Message<'_>,
        data: &[u8],
    ) -> Option<Result<(), Error>> {
        let h = m.header;
        let i =
            self.ext.retired.iter().position(|r| r.spi_i == h.initiator_spi && r.spi_r == h.responder_spi)?;
        let encapsulated = self.nat.nat_detected();
        let r = &mut self.ext.retired[i];
        let from_initiator = r.role == Role::Responder;
        if h.flags.initiator() != from_initiator {
            return Some(Err(Error::UnexpectedMessage("not from the peer")));
        }
        if h.flags.response() {
            let Some((id, ..)) = &r.delete else {
                return Some(Err(Error::UnexpectedMessage("no request outstanding")));
            };
            if *id != h.message_id {
                return Some(Err(Error::UnexpectedMessage("response to another Message ID")));
            }
            if let Err(e) = open(&r.suite, r.keys.sender(from_initiator), m) {
                return Some(Err(e));
            }
            self.ext.retired.remove(i);
            return Some(Ok(()));
        }
        if r.last_request.as_deref() == Some(data) {
            if let Some(resp) = &r.last_response {
                self.ext.outbox.push_back((resp.clone(), encapsulated));
            }
            return Some(Ok(()));
        }
        if h.message_id != r.peer_next_id {
            return Some(Err(Error::UnexpectedMessage("unexpected Message ID on an old IKE SA")));
        }
        let opened = match open(&r.suite, r.keys.sender(from_initiator), m) {
            Ok(o) => o,
            Err(e) => return Some(Err(e)),
        };
        let mut deleting = false;
        for raw in PayloadIter::new(opened.first_inner, &opened.chain) {
            match raw.and_then(|raw| raw.parse()) {
                Ok(Payload::Delete(d)) if d.protocol_id == ProtocolId::Ike => deleting = true,
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
        }
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        if h.exchange_type == ExchangeType::CreateChildSa {
            // RFC 7296 §2.25: this IKE SA is on its way out.
            let _ = c.push(&Payload::Notify(Notify::new(NotifyType::TemporaryFailure, &[])));
        }
        let first = c.finish();
        let mut flags = if r.role == Role::Initiator { Flags::INITIATOR } else { Flags(0) };
        flags = flags | Flags::RESPONSE;
        let header = Header::new(r.spi_i, r.spi_r, h.exchange_type, flags, h.message_id);
        let out = match seal(
            &r.suite,
            r.keys.sender(r.role == Role::Initiator),
            &header,
            first,
            &inner,
            &mut self.rng,
        ) {
            Ok(o) => o,
            Err(e) => return Some(Err(e)),
        };
        r.peer_next_id = r.peer_next_id.wrapping_add(1);
        r.last_request = (data.len() <= super::MAX_REMEMBERED).then(|| data.to_vec());
        r.last_response = Some(out.clone());
        if deleting {
            r.delete = None;
            r.until = now + RETIRED_LINGER;
        }
        self.ext.outbox.push_back((out, encapsulated));
        Some(Ok(()))
    }

    // --- timers -------------------------------------------------------------------------

    /// The earliest lifetime or retired-SA deadline.
    pub(super) fn established_deadline(&self) -> Option<Instant> {
        if self.state != State::Established {
            return None;
        }
        let children = self.ext.children.iter().flat_map(|c| [c.soft, c.hard]).flatten();
        let retired =
            self.ext.retired.iter().flat_map(|r| [r.delete.as_ref().map(|d| d.3), Some(r.until)]).flatten();
        [self.ext.ike_soft, self.ext.ike_hard].into_iter().flatten().chain(children).chain(retired).min()
    }

    /// Lifetimes (rekey at the soft one, delete at the hard one) and the retired SAs'
    /// Delete retransmissions.
    pub(super) fn established_timeout(&mut self, now: Instant) {
        if self.state != State::Established {
            return;
        }
        if self.ext.ike_hard.is_some_and(|t| t <= now) {
            self.ext.ike_hard = None;
            self.ext.ike_soft = None;
            if self.delete(now).is_err() {
                self.close();
            }
            return;
        }
        if self.ext.ike_soft.is_some_and(|t| t <= now) {
            self.ext.ike_soft = None;
            if !self.ext.queue.iter().any(|c| matches!(c, Command::RekeyIke)) {
                self.ext.queue.push_back(Command::RekeyIke);
            }
        }
        let mut expired = Vec::new();
        for c in &mut self.ext.children {
            if c.hard.is_some_and(|t| t <= now) {
                c.hard = None;
                c.soft = None;
                // Out of use now, whether or not the window lets the Delete go at once.
                if c.announced {
                    c.announced = false;
                    self.events.push_back(Event::ChildDeleted { spi_in: c.spi_in });
                }
                expired.push(Command::DeleteChild(c.spi_in));
            } else if c.soft.is_some_and(|t| t <= now) {
                c.soft = None;
                if c.status == ChildStatus::Live {
                    c.status = ChildStatus::Rekeying;
                    expired.push(Command::RekeyChild(c.spi_in));
                }
            }
        }
        for e in expired.into_iter().rev() {
            self.ext.queue.push_front(e);
        }
        let max = self.config.max_retransmits;
        let base = self.config.retransmit_timeout;
        let encapsulated = self.nat.nat_detected();
        let mut resend = Vec::new();
        self.ext.retired.retain_mut(|r| {
            if let Some((_, datagram, tries, at)) = &mut r.delete
                && *at <= now
            {
                if *tries >= max {
                    return false;
                }
                *tries += 1;
                *at = now + base * 2u32.saturating_pow(*tries);
                resend.push(datagram.clone());
            }
            r.until > now || r.delete.is_some()
        });
        self.ext.outbox.extend(resend.into_iter().map(|d| (d, encapsulated)));
        self.pump(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// RFC 7296 §3.15: what a responder assigns survives its CFG_REPLY on the wire
        /// (DNS servers up to the 8 we keep), and only what was asked for is answered.
        #[test]
        fn cp_reply_round_trip(
            address in proptest::option::of(any::<[u8; 4]>()),
            dns in proptest::collection::vec(any::<[u8; 4]>(), 0..8),
            ask_address in any::<bool>(),
            ask_dns in any::<bool>(),
        ) {
            let cfg = InternalConfig {
                address: address.map(Ipv4Addr::from),
                dns: dns.iter().copied().map(Ipv4Addr::from).collect(),
            };
            let request = CpRequest::request_payload();
            let mut body = Vec::new();
            request.encode_body(&mut body).unwrap();
            let parsed = Configuration::parse(&body).unwrap();
            prop_assert_eq!(CpRequest::from_request(&parsed), Some(CpRequest { address: true, dns: true }));
            let asked = CpRequest { address: ask_address, dns: ask_dns };
            let reply = Configuration::new(CfgType::Reply, cfg.reply_attributes(&asked));
            let mut body = Vec::new();
            reply.encode_body(&mut body).unwrap();
            let got = InternalConfig::from_reply(&Configuration::parse(&body).unwrap()).unwrap();
            prop_assert_eq!(got.address, cfg.address.filter(|_| ask_address));
            prop_assert_eq!(got.dns, if ask_dns { cfg.dns.clone() } else { Vec::new() });
            // A request is not a reply and the other way round.
            prop_assert!(InternalConfig::from_reply(&parsed).is_none());
            prop_assert!(CpRequest::from_request(&reply).is_none());
        }

        /// The rekey deadline lies between 85 % and 90 % of the lifetime.
        #[test]
        fn soft_deadline_jitter(seed in any::<u64>(), secs in 1u64..100_000) {
            use rand_core::SeedableRng;
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
            let now = Instant::now();
            let hard = Duration::from_secs(secs);
            let soft = soft_deadline(&mut rng, now, hard) - now;
            prop_assert!(soft <= hard * 9 / 10);
            prop_assert!(soft + hard / 20 + Duration::from_millis(1) >= hard * 9 / 10);
        }
    }
}

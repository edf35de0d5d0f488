//! Quick Mode (RFC 2409 §5.5): the [`QuickMode`] machine that negotiates an ESP SA pair
//! under an ISAKMP SA, and [`child_sa`], which turns the negotiated values into a
//! [`ChildSa`].
//!
//! ```text
//! Initiator                                      Responder
//!  HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr]  -->
//!                                               <--  HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr]
//!  HDR*, HASH(3)                                -->
//! ```

use crate::child::{ChildSa, EspEncapsulation, EspEncryption, EspIntegrity, EspKeys, EspMode, Lifetime};
use crate::error::Error;

use super::keys::Phase1Keys;

/// RFC 2407 §4.4.1: PROTO_IPSEC_ESP, the protocol byte mixed into KEYMAT.
const PROTO_IPSEC_ESP: u8 = 3;

/// What a Quick Mode negotiated for one ESP SA pair.
#[derive(Debug, Clone, Copy)]
pub struct NegotiatedEsp<'a> {
    /// The SPI we chose (in our proposal): the peer sends to it.
    pub spi_in: u32,
    /// The SPI the peer chose: we send to it.
    pub spi_out: u32,
    /// Encryption transform.
    pub encryption: EspEncryption,
    /// Integrity transform.
    pub integrity: EspIntegrity,
    /// Tunnel or transport.
    pub mode: EspMode,
    /// Plain ESP or UDP-encapsulated (RFC 3947 encapsulation modes 3/4).
    pub encapsulation: EspEncapsulation,
    /// The initiator's Quick Mode nonce body (Ni_b).
    pub ni_b: &'a [u8],
    /// The responder's Quick Mode nonce body (Nr_b).
    pub nr_b: &'a [u8],
    /// With PFS: the Quick Mode Diffie-Hellman shared secret g(qm)^xy.
    pub pfs_g_xy: Option<&'a [u8]>,
    /// Hard lifetime.
    pub hard_lifetime: Lifetime,
    /// Soft lifetime.
    pub soft_lifetime: Lifetime,
}

/// RFC 2409 §5.5: derives the keys of both SAs and describes the pair. KEYMAT for an SA
/// is keyed by the SPI its receiver chose, so the inbound keys come from `spi_in` and
/// the outbound keys from `spi_out`, whichever side initiated.
///
/// # Errors
/// [`Error::Configuration`] if the transforms need no keys at all (NULL with no
/// integrity).
pub fn child_sa(keys: &Phase1Keys, esp: &NegotiatedEsp<'_>) -> Result<ChildSa, Error> {
    let len = esp.encryption.keymat_len() + esp.integrity.keymat_len();
    if len == 0 {
        return Err(Error::Configuration("ESP without encryption and integrity"));
    }
    let derive = |spi: u32| {
        let keymat = keys.keymat(esp.pfs_g_xy, PROTO_IPSEC_ESP, &spi.to_be_bytes(), esp.ni_b, esp.nr_b, len);
        EspKeys::from_keymat(keymat.as_bytes(), esp.encryption, esp.integrity)
            .ok_or(Error::Configuration("KEYMAT too short"))
    };
    Ok(ChildSa {
        spi_in: esp.spi_in,
        spi_out: esp.spi_out,
        encryption: esp.encryption,
        integrity: esp.integrity,
        keys_in: derive(esp.spi_in)?,
        keys_out: derive(esp.spi_out)?,
        mode: esp.mode,
        encapsulation: esp.encapsulation,
        extended_sequence_numbers: false,
        hard_lifetime: esp.hard_lifetime,
        soft_lifetime: esp.soft_lifetime,
    })
}

// --- the Quick Mode exchange -----------------------------------------------------------

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand_core::CryptoRng;

use super::crypt;
use super::keys::Iv;
use super::lifetime::{Life, LifeStore, life_attributes, min_limit, parse_life, replace_life};
use crate::crypto::{DhGroup, KeyExchange, SharedSecret};
use crate::wire::v1::{
    Attribute, DOI_IPSEC, EncapsulationMode, ExchangeType, Flags, Header, IdType, Identification,
    IpsecAttributeType, Message, NatOriginalAddress, Payload, PayloadType, Proposal, ProtocolId,
    SecurityAssociation, Transform, encode_payload_chain, parse_payload_chain, split_payload_chain,
};

/// Nonce length we send (RFC 2409 §5: 8 to 256 bytes).
const QM_NONCE_LEN: usize = 32;

/// One acceptable ESP transform set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspProposal {
    /// Encryption.
    pub encryption: EspEncryption,
    /// Integrity.
    pub integrity: EspIntegrity,
    /// SA lifetime (RFC 2407 §4.5 SA Life Type seconds).
    pub lifetime: Duration,
}

/// A Quick Mode client ID (RFC 2409 §5.5 IDci/IDcr: the traffic selector), owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSelector {
    /// ID type (address, subnet, range).
    pub id_type: IdType,
    /// IP protocol (0 = any; 17 for L2TP's UDP).
    pub protocol: u8,
    /// Port (0 = any; 1701 for L2TP).
    pub port: u16,
    /// Address bytes.
    pub data: Vec<u8>,
}

impl TrafficSelector {
    fn view(&self) -> Identification<'_> {
        Identification {
            id_type: self.id_type,
            protocol_id: self.protocol,
            port: self.port,
            data: &self.data,
        }
    }

    fn from_view(id: &Identification<'_>) -> Self {
        Self { id_type: id.id_type, protocol: id.protocol_id, port: id.port, data: id.data.to_vec() }
    }
}

/// One side of an acceptable traffic selector (a responder policy entry): an address
/// block, an IP protocol and a port, where 0 means any protocol / any port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectorPattern {
    /// Network address of the block.
    pub address: IpAddr,
    /// Prefix length of the block (0 = the whole address family).
    pub prefix_len: u8,
    /// IP protocol the selector must name (0 = any).
    pub protocol: u8,
    /// Port the selector must name (0 = any).
    pub port: u16,
}

impl SelectorPattern {
    /// Whether every address `ts` covers lies in this block, with the same family, and
    /// its protocol and port are the ones required. RFC 2407 §4.6.2: the selector is an
    /// address, a subnet (address and mask) or a range (first and last address).
    #[must_use]
    pub fn contains(&self, ts: &TrafficSelector) -> bool {
        if self.protocol != 0 && ts.protocol != self.protocol {
            return false;
        }
        if self.port != 0 && ts.port != self.port {
            return false;
        }
        let (v6, ours) = match self.address {
            IpAddr::V4(a) => (false, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, u128::from(a)),
        };
        let bits: u32 = if v6 { 128 } else { 32 };
        let prefix = u32::from(self.prefix_len).min(bits);
        let host_mask = if prefix == 0 { u128::MAX >> (128 - bits) } else { (1u128 << (bits - prefix)) - 1 };
        let (first, last) = (ours & !host_mask, ours | host_mask);
        let Some((lo, hi)) = selector_range(ts, v6) else { return false };
        lo <= hi && lo >= first && hi <= last
    }
}

/// The lowest and highest address `ts` covers, as integers, if it is of the family
/// (`v6`) and well formed. A non-contiguous subnet mask yields its enclosing range.
fn selector_range(ts: &TrafficSelector, v6: bool) -> Option<(u128, u128)> {
    let n = if v6 { 16 } else { 4 };
    let int = |b: &[u8]| b.iter().fold(0u128, |acc, x| (acc << 8) | u128::from(*x));
    let all = if v6 { u128::MAX } else { u128::from(u32::MAX) };
    let (single, subnet, range) = if v6 {
        (IdType::Ipv6Addr, IdType::Ipv6AddrSubnet, IdType::Ipv6AddrRange)
    } else {
        (IdType::Ipv4Addr, IdType::Ipv4AddrSubnet, IdType::Ipv4AddrRange)
    };
    let d = &ts.data;
    if ts.id_type == single && d.len() == n {
        let a = int(d);
        Some((a, a))
    } else if ts.id_type == subnet && d.len() == 2 * n {
        let (a, m) = (int(&d[..n]), int(&d[n..]));
        Some((a & m, (a & m) | (!m & all)))
    } else if ts.id_type == range && d.len() == 2 * n {
        Some((int(&d[..n]), int(&d[n..])))
    } else {
        None
    }
}

/// A responder policy entry: the (local, remote) selector pair it accepts, local being
/// the responder's side (the initiator's IDcr) and remote the initiator's (IDci).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectorPolicy {
    /// What the initiator's IDcr (our side) must lie in.
    pub local: SelectorPattern,
    /// What the initiator's IDci (its side) must lie in.
    pub remote: SelectorPattern,
}

impl SelectorPolicy {
    /// Whether the initiator's (IDci, IDcr) pair lies within this entry.
    #[must_use]
    pub fn accepts(&self, idci: &TrafficSelector, idcr: &TrafficSelector) -> bool {
        self.remote.contains(idci) && self.local.contains(idcr)
    }
}

/// Settings of one Quick Mode exchange.
#[derive(Debug, Clone)]
pub struct QuickModeConfig {
    /// Acceptable ESP transforms, most preferred first.
    pub proposals: Vec<EspProposal>,
    /// Tunnel or transport.
    pub mode: EspMode,
    /// UDP encapsulation (after NAT detection) or none.
    pub encapsulation: EspEncapsulation,
    /// Initiator: the (IDci, IDcr) pair to send, or `None` to send no IDs (the SA then
    /// covers the phase-1 addresses). Ignored by a responder, which echoes the
    /// initiator's IDs and reports them in [`QuickModeEvent::Established`].
    pub traffic_selectors: Option<(TrafficSelector, TrafficSelector)>,
    /// First retransmission delay; doubles on each retry.
    pub retransmit_timeout: Duration,
    /// Retransmissions before giving up.
    pub max_retransmits: u32,
    /// Perfect forward secrecy (RFC 2409 §5.5): a fresh Diffie-Hellman exchange in this
    /// group, mixed into KEYMAT. A responder with `None` refuses PFS offers; with a group
    /// it requires that group.
    pub pfs_group: Option<DhGroup>,
    /// RFC 3947 §5.2: send NAT-OA payloads (transport mode behind a NAT, so the peer can
    /// fix TCP/UDP checksums).
    pub nat_oa: Option<NatOa>,
}

/// Original addresses for the NAT-OA payloads, as this endpoint knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatOa {
    /// Our own (untranslated) address.
    pub local: IpAddr,
    /// The peer's address as we address it.
    pub remote: IpAddr,
    /// Use the draft payload number (131) instead of RFC 3947's (21).
    pub draft: bool,
}

impl NatOa {
    /// (NAT-OAi, NAT-OAr): the initiator's and the responder's original address.
    const fn ordered(&self, initiator: bool) -> (IpAddr, IpAddr) {
        if initiator { (self.local, self.remote) } else { (self.remote, self.local) }
    }
}

fn address_bytes(ip: &IpAddr) -> (IdType, Vec<u8>) {
    match ip {
        IpAddr::V4(a) => (IdType::Ipv4Addr, a.octets().to_vec()),
        IpAddr::V6(a) => (IdType::Ipv6Addr, a.octets().to_vec()),
    }
}

/// The NAT-OA payloads the peer sent, as addresses (others are skipped).
fn received_nat_oa(payloads: &[Payload<'_>]) -> Vec<IpAddr> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::NatOriginalAddress { address, .. } => match address.id_type {
                IdType::Ipv4Addr => <[u8; 4]>::try_from(address.address).ok().map(IpAddr::from),
                IdType::Ipv6Addr => <[u8; 16]>::try_from(address.address).ok().map(IpAddr::from),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// What a Quick Mode exchange tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuickModeEvent {
    /// The ESP SA pair is negotiated: install it.
    Established {
        /// The SA pair.
        child: Box<ChildSa>,
        /// The traffic selectors (IDci, IDcr), if the exchange carried them.
        traffic_selectors: Option<(TrafficSelector, TrafficSelector)>,
        /// RFC 3947 §5.2: the original addresses the peer declared in NAT-OA payloads
        /// (NAT-OAi then NAT-OAr), empty if none.
        peer_original_addresses: Vec<IpAddr>,
    },
    /// The exchange failed.
    Failed(Error),
}

/// Where a Quick Mode exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuickModeState {
    /// Initiator sent HASH(1), waits for HASH(2).
    SentFirst,
    /// Responder sent HASH(2), waits for HASH(3).
    SentSecond,
    /// Done.
    Established,
    /// Given up.
    Failed,
}

/// The ISAKMP SA context a Quick Mode runs under.
#[derive(Debug, Clone)]
pub struct IsakmpContext {
    /// The ISAKMP SA keys.
    pub keys: Phase1Keys,
    /// The last phase-1 CBC block (the phase-1 IV after MM6/AM3), from which the
    /// exchange's first IV is derived.
    pub phase1_iv: Iv,
    /// (CKY-I, CKY-R).
    pub cookies: ([u8; 8], [u8; 8]),
    /// IKE runs on port 4500 with the non-ESP marker (NAT detected in phase 1).
    pub udp_encapsulated: bool,
}

/// One IKEv1 Quick Mode exchange (RFC 2409 §5.5), with optional PFS, as a sans-IO machine.
/// The owner routes to it the ISAKMP messages whose Message ID equals
/// [`QuickMode::message_id`], and drains it like the other machines.
pub struct QuickMode<R> {
    initiator: bool,
    state: QuickModeState,
    ctx: IsakmpContext,
    config: QuickModeConfig,
    rng: R,
    message_id: u32,
    iv: Iv,
    /// RFC 2407 §4.5: our kilobyte lifetime (offered as initiator, a maximum as
    /// responder); `None` for no volume limit.
    kilobytes: Option<u64>,
    spi_in: u32,
    ni_b: Vec<u8>,
    /// Nr_b once known (the initiator after message 2, the responder at once).
    nr_b: Vec<u8>,
    sa_i: Vec<u8>,
    kx: Option<KeyExchange>,
    ids: Option<(TrafficSelector, TrafficSelector)>,
    peer_nat_oa: Vec<IpAddr>,
    pending_child: Option<ChildSa>,
    last_sent: Option<Vec<u8>>,
    send_pending: bool,
    last_received: Option<Vec<u8>>,
    retransmits: u32,
    retransmit_at: Option<Instant>,
    events: VecDeque<QuickModeEvent>,
}

impl<R> core::fmt::Debug for QuickMode<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QuickMode")
            .field("initiator", &self.initiator)
            .field("state", &self.state)
            .field("message_id", &self.message_id)
            .field("iv", &self.iv)
            .finish_non_exhaustive()
    }
}

impl EspProposal {
    fn transform<'a>(
        &self,
        number: u8,
        config: &QuickModeConfig,
        kilobytes: Option<u64>,
        store: &'a mut LifeStore,
    ) -> Transform<'a> {
        let (id, key_bits) = match self.encryption {
            EspEncryption::TripleDesCbc => (3, None),
            EspEncryption::AesCbc { key_len } => (12, Some(key_len * 8)),
            EspEncryption::AesGcm16 { key_len } => (20, Some(key_len * 8)),
            // Null and later additions.
            _ => (11, None),
        };
        // RFC 2407 §4.5: seconds (and kilobytes) pairs; long values in the variable form.
        let mut attributes = life_attributes(
            IpsecAttributeType::SaLifeType.into(),
            IpsecAttributeType::SaLifeDuration.into(),
            self.lifetime.as_secs(),
            kilobytes,
            store,
        );
        attributes.push(Attribute::basic(
            IpsecAttributeType::EncapsulationMode.into(),
            encapsulation_mode(config.mode, config.encapsulation).into(),
        ));
        if self.integrity != EspIntegrity::None {
            attributes.push(Attribute::basic(
                IpsecAttributeType::AuthenticationAlgorithm.into(),
                self.integrity.ikev1_id(),
            ));
        }
        if let Some(bits) = key_bits {
            attributes.push(Attribute::basic(
                IpsecAttributeType::KeyLength.into(),
                u16::try_from(bits).unwrap_or(u16::MAX),
            ));
        }
        if let Some(group) = config.pfs_group {
            attributes.push(Attribute::basic(IpsecAttributeType::GroupDescription.into(), group.id()));
        }
        Transform { number, transform_id: id, attributes }
    }

    /// The proposal, its encapsulation mode and its PFS group (`Some(Err(n))` for a group
    /// number this crate does not implement).
    fn from_transform(t: &Transform<'_>) -> Option<(Self, EncapsulationMode, Option<DhGroup>)> {
        let key_bits = t.basic(IpsecAttributeType::KeyLength.into());
        let encryption = EspEncryption::from_ikev1(t.transform_id, key_bits)?;
        let integrity =
            EspIntegrity::from_ikev1(t.basic(IpsecAttributeType::AuthenticationAlgorithm.into()))?;
        let pfs = match t.basic(IpsecAttributeType::GroupDescription.into()) {
            None => None,
            Some(id) => Some(DhGroup::from_id(id).ok()?),
        };
        let mode =
            EncapsulationMode::from(t.basic(IpsecAttributeType::EncapsulationMode.into()).unwrap_or(1));
        let lifetime = esp_life(t).duration();
        Some((Self { encryption, integrity, lifetime }, mode, pfs))
    }
}

/// RFC 2407 §4.5: the life pairs of an ESP transform.
fn esp_life(t: &Transform<'_>) -> Life {
    parse_life(t, IpsecAttributeType::SaLifeType.into(), IpsecAttributeType::SaLifeDuration.into())
}

/// The lifetimes an ESP SA gets: hard as negotiated, soft at 90 % of it. A kilobyte is
/// counted as 1024 bytes here (strongSwan counts 1000; the 2.4 % difference only makes
/// us expire a little later than it does).
fn child_lifetimes(seconds: Duration, kilobytes: Option<u64>) -> (Lifetime, Lifetime) {
    let bytes = kilobytes.map(|k| k.saturating_mul(1024));
    (
        Lifetime { time: Some(seconds), bytes },
        Lifetime { time: Some(seconds / 10 * 9), bytes: bytes.map(|b| b / 10 * 9) },
    )
}

/// RFC 2407 §4.5 / RFC 3947 §5: the Encapsulation Mode value for a mode and encapsulation.
fn encapsulation_mode(mode: EspMode, encapsulation: EspEncapsulation) -> EncapsulationMode {
    match (mode, encapsulation) {
        (EspMode::Tunnel, EspEncapsulation::None) => EncapsulationMode::Tunnel,
        (EspMode::Transport, EspEncapsulation::None) => EncapsulationMode::Transport,
        (EspMode::Tunnel, EspEncapsulation::Udp { .. }) => EncapsulationMode::UdpTunnel,
        (EspMode::Transport, EspEncapsulation::Udp { .. }) => EncapsulationMode::UdpTransport,
    }
}

fn mode_matches(wanted: EncapsulationMode, got: EncapsulationMode) -> bool {
    use EncapsulationMode as E;
    let norm = |m| match m {
        E::UdpTunnelDraft => E::UdpTunnel,
        E::UdpTransportDraft => E::UdpTransport,
        other => other,
    };
    norm(wanted) == norm(got)
}

impl<R: CryptoRng> QuickMode<R> {
    fn blank(ctx: IsakmpContext, config: QuickModeConfig, rng: R, initiator: bool) -> Self {
        Self {
            initiator,
            state: QuickModeState::SentFirst,
            iv: ctx.phase1_iv,
            ctx,
            config,
            rng,
            message_id: 0,
            kilobytes: None,
            spi_in: 0,
            ni_b: Vec::new(),
            nr_b: Vec::new(),
            sa_i: Vec::new(),
            kx: None,
            ids: None,
            peer_nat_oa: Vec::new(),
            pending_child: None,
            last_sent: None,
            send_pending: false,
            last_received: None,
            retransmits: 0,
            retransmit_at: None,
            events: VecDeque::new(),
        }
    }

    /// Starts a Quick Mode as initiator: draws a Message ID, an SPI and a nonce and
    /// queues HASH(1), SA, Ni [, IDci, IDcr].
    ///
    /// # Errors
    /// [`Error::Configuration`] without proposals.
    pub fn initiate(
        ctx: IsakmpContext,
        config: QuickModeConfig,
        rng: R,
        now: Instant,
    ) -> Result<Self, Error> {
        Self::initiate_with_lifebytes(ctx, config, None, rng, now)
    }

    /// [`Self::initiate`], also offering a volume lifetime of `kilobytes` (RFC 2407 §4.5
    /// SA Life Type kilobytes) next to the seconds of each proposal.
    ///
    /// # Errors
    /// [`Error::Configuration`] without proposals.
    pub fn initiate_with_lifebytes(
        ctx: IsakmpContext,
        config: QuickModeConfig,
        kilobytes: Option<u64>,
        rng: R,
        now: Instant,
    ) -> Result<Self, Error> {
        if config.proposals.is_empty() || config.proposals.len() > 255 {
            return Err(Error::Configuration("1 to 255 ESP proposals needed"));
        }
        let mut q = Self::blank(ctx, config, rng, true);
        q.kilobytes = kilobytes;
        while q.message_id == 0 {
            q.message_id = q.rng.next_u32();
        }
        q.iv = q.ctx.keys.phase2_iv(&q.ctx.phase1_iv, q.message_id);
        q.spi_in = q.fresh_spi();
        let mut ni = vec![0u8; QM_NONCE_LEN];
        q.rng.fill_bytes(&mut ni);
        let spi = q.spi_in.to_be_bytes();
        let mut stores: Vec<LifeStore> = q.config.proposals.iter().map(|_| LifeStore::default()).collect();
        let transforms = q
            .config
            .proposals
            .iter()
            .zip(stores.iter_mut())
            .enumerate()
            .map(|(i, (p, store))| {
                p.transform(u8::try_from(i + 1).unwrap_or(u8::MAX), &q.config, q.kilobytes, store)
            })
            .collect();
        let sa = SecurityAssociation {
            doi: DOI_IPSEC,
            situation: 1,
            proposals: vec![Proposal { number: 1, protocol_id: ProtocolId::IpsecEsp, spi: &spi, transforms }],
        };
        let ids = q.config.traffic_selectors.clone();
        let kx = q.config.pfs_group.map(|g| KeyExchange::generate(g, &mut q.rng));
        let mut rest = vec![Payload::SecurityAssociation(sa), Payload::Nonce(&ni)];
        if let Some(kx) = &kx {
            rest.push(Payload::KeyExchange(kx.public_value()));
        }
        if let Some((ci, cr)) = &ids {
            rest.push(Payload::Identification(ci.view()));
            rest.push(Payload::Identification(cr.view()));
        }
        let oa = q.config.nat_oa.map(|n| (n.draft, n.ordered(true)));
        let oa_bytes = oa.map(|(_, (i, r))| (address_bytes(&i), address_bytes(&r)));
        if let (Some((draft, _)), Some(((ti, bi), (tr, br)))) = (oa, &oa_bytes) {
            rest.push(Payload::NatOriginalAddress {
                draft,
                address: NatOriginalAddress { id_type: *ti, address: bi },
            });
            rest.push(Payload::NatOriginalAddress {
                draft,
                address: NatOriginalAddress { id_type: *tr, address: br },
            });
        }
        let mut after = Vec::new();
        encode_payload_chain(&rest, &mut after);
        let hash1 = q.ctx.keys.quick_hash1(q.message_id, &after);
        let msg = q.seal(hash1.as_bytes(), &rest)?;
        drop(rest);
        q.ni_b = ni;
        q.ids = ids;
        q.sa_i = after;
        q.kx = kx;
        q.send(now, msg);
        Ok(q)
    }

    /// Answers a Quick Mode first message (HASH(1), SA, Ni [, IDci, IDcr]) as responder.
    /// The new machine has HASH(2) queued.
    ///
    /// # Errors
    /// A message that does not decrypt, authenticate or offer an acceptable proposal;
    /// nothing is created then.
    pub fn respond(
        ctx: IsakmpContext,
        config: QuickModeConfig,
        rng: R,
        now: Instant,
        data: &[u8],
    ) -> Result<Self, Error> {
        Self::respond_with_lifebytes(ctx, config, None, rng, now, data)
    }

    /// [`Self::respond`] with a volume lifetime limit. Lifetime policy (RFC 2407
    /// §4.6.3.1): an offered lifetime up to ours is accepted as is; a longer one (or none,
    /// when we have a limit) is answered with ours in the returned transform, which the
    /// initiator then uses (strongSwan adopts the responder's values).
    ///
    /// # Errors
    /// As [`Self::respond`].
    pub fn respond_with_lifebytes(
        ctx: IsakmpContext,
        config: QuickModeConfig,
        kilobytes: Option<u64>,
        rng: R,
        now: Instant,
        data: &[u8],
    ) -> Result<Self, Error> {
        let m = Message::parse(data)?;
        if m.header.exchange_type != ExchangeType::QuickMode || m.header.message_id == 0 {
            return Err(Error::UnexpectedMessage("not a Quick Mode message"));
        }
        let mut q = Self::blank(ctx, config, rng, false);
        q.kilobytes = kilobytes;
        q.message_id = m.header.message_id;
        q.iv = q.ctx.keys.phase2_iv(&q.ctx.phase1_iv, q.message_id);
        q.check_cookies(&m)?;
        let opened = q.open(&m)?;
        if !q.ctx.keys.quick_hash1(q.message_id, &opened.after).ct_eq_bytes(&opened.hash) {
            return Err(Error::AuthenticationFailed);
        }
        let payloads = opened.payloads()?;
        let sa = payloads
            .iter()
            .find_map(|p| match p {
                Payload::SecurityAssociation(sa) => Some(sa),
                _ => None,
            })
            .ok_or(Error::UnexpectedMessage("no SA payload"))?;
        let ni_b = payloads
            .iter()
            .find_map(|p| match p {
                Payload::Nonce(n) => Some(*n),
                _ => None,
            })
            .ok_or(Error::UnexpectedMessage("no Nonce payload"))?;
        let peer_ke = payloads.iter().find_map(|p| match p {
            Payload::KeyExchange(k) => Some(*k),
            _ => None,
        });
        let ids: Vec<TrafficSelector> = payloads
            .iter()
            .filter_map(|p| match p {
                Payload::Identification(id) => Some(TrafficSelector::from_view(id)),
                _ => None,
            })
            .collect();
        let ids = match ids.as_slice() {
            [] => None,
            [ci, cr] => Some((ci.clone(), cr.clone())),
            _ => return Err(Error::UnexpectedMessage("IDci and IDcr come in pairs")),
        };
        let wanted = encapsulation_mode(q.config.mode, q.config.encapsulation);
        let mut chosen = None;
        'outer: for p in &sa.proposals {
            if p.protocol_id != ProtocolId::IpsecEsp || p.spi.len() != 4 {
                continue;
            }
            for t in &p.transforms {
                if let Some((offer, mode, pfs)) = EspProposal::from_transform(t)
                    && mode_matches(wanted, mode)
                    && pfs == q.config.pfs_group
                    && pfs.is_some() == peer_ke.is_some()
                    && q.config
                        .proposals
                        .iter()
                        .any(|o| o.encryption == offer.encryption && o.integrity == offer.integrity)
                {
                    let mut spi = [0u8; 4];
                    spi.copy_from_slice(p.spi);
                    chosen = Some((p.number, t.clone(), offer, u32::from_be_bytes(spi)));
                    break 'outer;
                }
            }
        }
        let (number, transform, offer, spi_out) = chosen.ok_or(Error::NoProposalChosen)?;
        let ours = q
            .config
            .proposals
            .iter()
            .find(|o| o.encryption == offer.encryption && o.integrity == offer.integrity)
            .map_or(offer.lifetime, |o| o.lifetime);
        let offered = esp_life(&transform);
        let seconds = offer.lifetime.min(ours);
        let kilobytes = min_limit(offered.kilobytes, q.kilobytes);
        let mut life_store = LifeStore::default();
        let transform = if seconds == offer.lifetime && kilobytes == offered.kilobytes {
            transform
        } else {
            replace_life(
                &transform,
                IpsecAttributeType::SaLifeType.into(),
                IpsecAttributeType::SaLifeDuration.into(),
                Life { seconds: Some(seconds.as_secs()), kilobytes },
                &mut life_store,
            )
        };
        let (hard_lifetime, soft_lifetime) = child_lifetimes(seconds, kilobytes);
        let (kx, g_qm) = match (q.config.pfs_group, peer_ke) {
            (Some(group), Some(ke)) => {
                let kx = KeyExchange::generate(group, &mut q.rng);
                let g = kx.shared_secret(ke)?;
                (Some(kx), Some(g))
            }
            _ => (None, None),
        };
        q.spi_in = q.fresh_spi();
        let mut nr = vec![0u8; QM_NONCE_LEN];
        q.rng.fill_bytes(&mut nr);
        let spi = q.spi_in.to_be_bytes();
        let reply_sa = SecurityAssociation {
            doi: DOI_IPSEC,
            situation: sa.situation,
            proposals: vec![Proposal {
                number,
                protocol_id: ProtocolId::IpsecEsp,
                spi: &spi,
                transforms: vec![transform],
            }],
        };
        let mut rest = vec![Payload::SecurityAssociation(reply_sa), Payload::Nonce(&nr)];
        if let Some(kx) = &kx {
            rest.push(Payload::KeyExchange(kx.public_value()));
        }
        if let Some((ci, cr)) = &ids {
            rest.push(Payload::Identification(ci.view()));
            rest.push(Payload::Identification(cr.view()));
        }
        let peer_nat_oa = received_nat_oa(&payloads);
        let oa = q.config.nat_oa.map(|n| (n.draft, n.ordered(false)));
        let oa_bytes = oa.map(|(_, (i, r))| (address_bytes(&i), address_bytes(&r)));
        if let (Some((draft, _)), Some(((ti, bi), (tr, br)))) = (oa, &oa_bytes) {
            rest.push(Payload::NatOriginalAddress {
                draft,
                address: NatOriginalAddress { id_type: *ti, address: bi },
            });
            rest.push(Payload::NatOriginalAddress {
                draft,
                address: NatOriginalAddress { id_type: *tr, address: br },
            });
        }
        let mut after2 = Vec::new();
        encode_payload_chain(&rest, &mut after2);
        let hash2 = q.ctx.keys.quick_hash2(q.message_id, ni_b, &after2);
        let child = child_sa(
            &q.ctx.keys,
            &NegotiatedEsp {
                spi_in: q.spi_in,
                spi_out,
                encryption: offer.encryption,
                integrity: offer.integrity,
                mode: q.config.mode,
                encapsulation: q.config.encapsulation,
                ni_b,
                nr_b: &nr,
                pfs_g_xy: g_qm.as_ref().map(SharedSecret::as_bytes),
                hard_lifetime,
                soft_lifetime,
            },
        )?;
        q.iv = opened.next_iv;
        let msg = q.seal(hash2.as_bytes(), &rest)?;
        drop(rest);
        q.ni_b = ni_b.to_vec();
        q.nr_b.clone_from(&nr);
        q.sa_i = nr; // the responder keeps Nr_b here for HASH(3)
        q.ids = ids;
        q.peer_nat_oa = peer_nat_oa;
        q.pending_child = Some(child);
        q.state = QuickModeState::SentSecond;
        q.last_received = Some(data.to_vec());
        q.send(now, msg);
        Ok(q)
    }

    /// The traffic selectors (IDci, IDcr) of this exchange, if it carried them: the
    /// configured ones as initiator, the initiator's as responder.
    #[must_use]
    pub fn traffic_selectors(&self) -> Option<&(TrafficSelector, TrafficSelector)> {
        self.ids.as_ref()
    }

    /// The exchange's Message ID.
    #[must_use]
    pub const fn message_id(&self) -> u32 {
        self.message_id
    }

    /// The SPI we chose for the inbound SA (zero before it is drawn).
    #[must_use]
    pub const fn spi_in(&self) -> u32 {
        self.spi_in
    }

    /// The nonce bodies (Ni_b, Nr_b) of the exchange; Nr_b is empty until the
    /// initiator has message 2.
    #[must_use]
    pub fn nonces(&self) -> (&[u8], &[u8]) {
        (&self.ni_b, &self.nr_b)
    }

    /// This side started the exchange.
    #[must_use]
    pub const fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// Where the exchange stands.
    #[must_use]
    pub const fn state(&self) -> QuickModeState {
        self.state
    }

    /// Feeds a datagram of this exchange. On error it is dropped and nothing changes.
    ///
    /// # Errors
    /// Why the datagram was dropped.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        let m = Message::parse(data)?;
        if m.header.exchange_type != ExchangeType::QuickMode || m.header.message_id != self.message_id {
            return Err(Error::UnexpectedMessage("not this Quick Mode exchange"));
        }
        self.check_cookies(&m)?;
        if self.last_received.as_deref() == Some(data) {
            if !self.initiator || self.state == QuickModeState::Established {
                self.send_pending = self.last_sent.is_some();
            }
            return Ok(());
        }
        match (self.initiator, self.state) {
            (true, QuickModeState::SentFirst) => self.on_second(now, &m, data),
            (false, QuickModeState::SentSecond) => self.on_third(&m, data),
            _ => Err(Error::UnexpectedMessage("no message expected")),
        }
    }

    fn on_second(&mut self, now: Instant, m: &Message<'_>, data: &[u8]) -> Result<(), Error> {
        let opened = self.open(m)?;
        if !self.ctx.keys.quick_hash2(self.message_id, &self.ni_b, &opened.after).ct_eq_bytes(&opened.hash) {
            return Err(Error::AuthenticationFailed);
        }
        let payloads = opened.payloads()?;
        let sa = payloads
            .iter()
            .find_map(|p| match p {
                Payload::SecurityAssociation(sa) => Some(sa),
                _ => None,
            })
            .ok_or(Error::UnexpectedMessage("no SA payload"))?;
        let nr_b = payloads
            .iter()
            .find_map(|p| match p {
                Payload::Nonce(n) => Some(*n),
                _ => None,
            })
            .ok_or(Error::UnexpectedMessage("no Nonce payload"))?;
        let [p] = sa.proposals.as_slice() else {
            return Err(Error::UnexpectedMessage("one proposal expected"));
        };
        let [t] = p.transforms.as_slice() else {
            return Err(Error::UnexpectedMessage("one transform expected"));
        };
        let spi_out = <[u8; 4]>::try_from(p.spi)
            .map(u32::from_be_bytes)
            .map_err(|_| Error::UnexpectedMessage("ESP SPI must be 4 bytes"))?;
        let (chosen, mode, pfs) = EspProposal::from_transform(t).ok_or(Error::NoProposalChosen)?;
        if pfs != self.config.pfs_group {
            return Err(Error::NoProposalChosen);
        }
        let peer_ke = payloads.iter().find_map(|p| match p {
            Payload::KeyExchange(k) => Some(*k),
            _ => None,
        });
        let g_qm = match (&self.kx, peer_ke) {
            (Some(kx), Some(ke)) => Some(kx.shared_secret(ke)?),
            (None, None) => None,
            _ => return Err(Error::UnexpectedMessage("KE payload and PFS disagree")),
        };
        let ours = self
            .config
            .proposals
            .iter()
            .find(|o| o.encryption == chosen.encryption && o.integrity == chosen.integrity)
            .ok_or(Error::NoProposalChosen)?;
        if !mode_matches(encapsulation_mode(self.config.mode, self.config.encapsulation), mode) {
            return Err(Error::NoProposalChosen);
        }
        let lifetime = chosen.lifetime.min(ours.lifetime);
        let (hard_lifetime, soft_lifetime) =
            child_lifetimes(lifetime, min_limit(esp_life(t).kilobytes, self.kilobytes));
        let child = child_sa(
            &self.ctx.keys,
            &NegotiatedEsp {
                spi_in: self.spi_in,
                spi_out,
                encryption: chosen.encryption,
                integrity: chosen.integrity,
                mode: self.config.mode,
                encapsulation: self.config.encapsulation,
                ni_b: &self.ni_b,
                nr_b,
                pfs_g_xy: g_qm.as_ref().map(SharedSecret::as_bytes),
                hard_lifetime,
                soft_lifetime,
            },
        )?;
        let hash3 = self.ctx.keys.quick_hash3(self.message_id, &self.ni_b, nr_b);
        let saved_iv = self.iv;
        self.iv = opened.next_iv;
        let msg = match self.seal(hash3.as_bytes(), &[]) {
            Ok(msg) => msg,
            Err(e) => {
                self.iv = saved_iv;
                return Err(e);
            }
        };
        self.nr_b = nr_b.to_vec();
        self.last_received = Some(data.to_vec());
        self.send(now, msg);
        // The initiator does not retransmit HASH(3) on a timer: a repeated HASH(2)
        // triggers it.
        self.retransmit_at = None;
        self.state = QuickModeState::Established;
        self.kx = None;
        self.events.push_back(QuickModeEvent::Established {
            child: Box::new(child),
            traffic_selectors: self.ids.clone(),
            peer_original_addresses: received_nat_oa(&payloads),
        });
        Ok(())
    }

    fn on_third(&mut self, m: &Message<'_>, data: &[u8]) -> Result<(), Error> {
        let opened = self.open(m)?;
        let expected = self.ctx.keys.quick_hash3(self.message_id, &self.ni_b, &self.sa_i);
        if !expected.ct_eq_bytes(&opened.hash) {
            return Err(Error::AuthenticationFailed);
        }
        self.iv = opened.next_iv;
        self.last_received = Some(data.to_vec());
        self.retransmit_at = None;
        self.state = QuickModeState::Established;
        if let Some(child) = self.pending_child.take() {
            self.events.push_back(QuickModeEvent::Established {
                child: Box::new(child),
                traffic_selectors: self.ids.clone(),
                peer_original_addresses: std::mem::take(&mut self.peer_nat_oa),
            });
        }
        Ok(())
    }

    /// Resends on the retransmission deadline; fails after the configured retries.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.retransmit_at.is_some_and(|t| t <= now) {
            if self.retransmits >= self.config.max_retransmits {
                self.state = QuickModeState::Failed;
                self.retransmit_at = None;
                self.send_pending = false;
                self.events.push_back(QuickModeEvent::Failed(Error::Timeout));
                return;
            }
            self.retransmits += 1;
            self.send_pending = true;
            self.retransmit_at =
                Some(now + self.config.retransmit_timeout * 2u32.saturating_pow(self.retransmits));
        }
    }

    /// Appends the next datagram to send to `buf`, if any.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<super::phase1::Transmit> {
        if !self.send_pending {
            return None;
        }
        self.send_pending = false;
        let msg = self.last_sent.as_ref()?;
        buf.extend_from_slice(msg);
        Some(super::phase1::Transmit { size: msg.len(), udp_encapsulated: self.ctx.udp_encapsulated })
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<QuickModeEvent> {
        self.events.pop_front()
    }

    /// The next deadline, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.retransmit_at
    }

    // --- helpers ----------------------------------------------------------------------

    fn fresh_spi(&mut self) -> u32 {
        // RFC 4303 §2.1: SPIs 0-255 are reserved.
        loop {
            let spi = self.rng.next_u32();
            if spi > 255 {
                return spi;
            }
        }
    }

    fn check_cookies(&self, m: &Message<'_>) -> Result<(), Error> {
        if (m.header.initiator_spi, m.header.responder_spi) == self.ctx.cookies {
            Ok(())
        } else {
            Err(Error::UnexpectedMessage("not this ISAKMP SA"))
        }
    }

    /// Encrypts HASH(n) followed by `rest` with the exchange's current IV, advancing it.
    fn seal(&mut self, hash: &[u8], rest: &[Payload<'_>]) -> Result<Vec<u8>, Error> {
        let mut payloads = Vec::with_capacity(rest.len() + 1);
        payloads.push(Payload::Hash(hash));
        payloads.extend_from_slice(rest);
        let mut chain = zeroize::Zeroizing::new(Vec::new());
        let first = encode_payload_chain(&payloads, &mut chain);
        let header = Header {
            initiator_spi: self.ctx.cookies.0,
            responder_spi: self.ctx.cookies.1,
            next_payload: first,
            version: Header::VERSION_1_0,
            exchange_type: ExchangeType::QuickMode,
            flags: Flags(Flags::ENCRYPTION),
            message_id: self.message_id,
            length: 0,
        };
        let mut out = Vec::new();
        let keys = &self.ctx.keys;
        self.iv = crypt::encrypt(keys.cipher(), keys.encryption_key(), &self.iv, &header, &chain, &mut out)?;
        Ok(out)
    }

    /// Decrypts a message of this exchange with the current IV (not advancing it) and
    /// splits off the leading HASH payload.
    fn open(&self, m: &Message<'_>) -> Result<Opened, Error> {
        let keys = &self.ctx.keys;
        let d = crypt::decrypt(keys.cipher(), keys.encryption_key(), &self.iv, m)?;
        let plaintext = d.plaintext;
        let (raw, padding) = split_payload_chain(m.header.next_payload, &plaintext)
            .map_err(|_| Error::AuthenticationFailed)?;
        let Some(first) = raw.first().filter(|p| p.payload_type == PayloadType::Hash) else {
            return Err(Error::UnexpectedMessage("HASH must come first"));
        };
        let hash = first.body.to_vec();
        let after = plaintext[4 + hash.len()..plaintext.len() - padding.len()].to_vec();
        let first = raw.get(1).map_or(PayloadType::None, |p| p.payload_type);
        Ok(Opened { hash, after, first, next_iv: d.next_iv })
    }

    fn send(&mut self, now: Instant, msg: Vec<u8>) {
        self.last_sent = Some(msg);
        self.send_pending = true;
        self.retransmits = 0;
        self.retransmit_at = Some(now + self.config.retransmit_timeout);
    }
}

/// A decrypted Quick Mode message: its HASH, the payload bytes after it, and the IV
/// that follows it.
struct Opened {
    hash: Vec<u8>,
    after: Vec<u8>,
    first: PayloadType,
    next_iv: Iv,
}

impl Opened {
    fn payloads(&self) -> Result<Vec<Payload<'_>>, Error> {
        let (payloads, rest) =
            parse_payload_chain(self.first, &self.after).map_err(|_| Error::AuthenticationFailed)?;
        if rest.is_empty() {
            Ok(payloads)
        } else {
            Err(Error::UnexpectedMessage("bytes after the payload chain"))
        }
    }
}

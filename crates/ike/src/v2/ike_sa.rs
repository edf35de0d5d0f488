//! The IKE_SA_INIT and IKE_AUTH exchanges with a pre-shared key, in both roles, ending
//! with the first Child SA (RFC 7296 §1.2, §2.15, §2.17, §2.23).
//!
//! One [`IkeSa`] is one IKE SA with one peer. The initiator sends IKE_SA_INIT (SA, KE,
//! Ni, NAT-D), then IKE_AUTH (IDi, AUTH, SAi2, TSi, TSr) protected with the new keys; the
//! responder answers each. Window size is 1: the initiator has at most one request
//! outstanding and retransmits it with exponential back-off; the responder keeps its last
//! response and sends it again when the same request arrives again (RFC 7296 §2.1, §2.3).
//!
//! Datagrams are given and taken without the 4-byte non-ESP marker of UDP/4500;
//! [`Transmit::udp_encapsulated`] says when to send from and to port 4500 with it.
//!
//! Once established, the peer's INFORMATIONAL requests are answered (liveness checks,
//! Delete of the Child SA or of the IKE SA, RFC 7296 §1.4), and the owner can check the
//! peer's liveness ([`IkeSa::check_liveness`]) or delete the IKE SA ([`IkeSa::delete`]).
//! The initiator honours a responder's COOKIE (RFC 7296 §2.6).
//!
//! With [`IkeSaConfig::certificate`] set, both sides authenticate with X.509
//! certificates instead (RFC 7296 §2.15, RFC 7427): SIGNATURE_HASH_ALGORITHMS in
//! IKE_SA_INIT, CERTREQ naming our CAs, CERT and a signature AUTH (method 14 when the
//! peer announced hashes, else 1 / 9 / 10) in IKE_AUTH; see [`super::sig_auth`].
//!
//! On the established IKE SA (see `create_child.rs`): CREATE_CHILD_SA for more Child SAs
//! ([`IkeSa::create_child`], optional PFS), Child SA rekey ([`IkeSa::rekey_child`]) and
//! IKE SA rekey ([`IkeSa::rekey_ike`]) with the simultaneous-rekey rules of RFC 7296
//! §2.8.1/§2.8.2, the same exchanges started by the peer, Delete of single Child SAs
//! ([`IkeSa::delete_child`]), and local lifetimes (rekey at the soft one, with random
//! jitter; delete at the hard one). Commands wait in a queue for the window. The initiator
//! says INITIAL_CONTACT and can ask for an inner address (CP); the responder assigns what
//! [`IkeSaConfig::internal_config`] holds.
//!
//! Long protected messages go out as RFC 7383 fragments when both sides announced
//! support ([`IkeSaConfig::fragment_size`]).
//!
//! A responder made with [`IkeSa::respond_with_eap`] requires EAP-MSCHAPv2 from the
//! initiator (RFC 7296 §2.16) and asks its owner to check the credentials; see
//! [`super::eap`].
//!
//! Not here yet: EAP as initiator, mixed PSK/certificate authentication. A refused first
//! Child SA leaves an established IKE SA without Child SA ([`Event::EstablishedWithoutChild`]).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand_core::CryptoRng;

mod create_child;
mod fragment;
pub use create_child::{InternalConfig, MAX_CHILD_SAS};
pub use fragment::MAX_FRAGMENTS;
mod eap;

use super::auth::psk_auth;
use super::keys::{
    IkeEncryption, IkeIntegrity, IkeKeys, IkeSuite, child_keys, group_from_id, group_id, open, prf_from_id,
    seal,
};
use super::sig_auth::{AuthSignature, signature_hash_algorithms_data, signed_octets};
use crate::Error;
use crate::cert::{Certificate as X509Certificate, CertificateAuth, MAX_CHAIN_DEPTH};
use crate::child::{ChildSa, EspEncapsulation, EspEncryption, EspIntegrity, EspMode, Lifetime};
use crate::crypto::{KeyExchange, PrfAlgorithm};
use crate::v1::keys::SecretBytes;
use crate::wire::v2::{
    AuthMethod, Authentication, CertEncoding, Certificate, ChainBuilder, EncryptionId, EsnId, ExchangeType,
    Flags, Header, IdType, Identification, IntegrityId, Message, MessageBuilder, NONCE_MAX_LEN,
    NONCE_MIN_LEN, Notify, NotifyType, Payload, PayloadIter, PayloadType, Proposal, ProtocolId,
    SecurityAssociation, TrafficSelector, TrafficSelectors, Transform, TransformType,
};

/// The longest datagram remembered for duplicate detection.
const MAX_REMEMBERED: usize = 64 * 1024;
/// Our nonce length (RFC 7296 §2.10: at least half the PRF key size, at least 16).
const NONCE_LEN: usize = 32;

/// An IKEv2 identity (RFC 7296 §3.5), owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// ID Type.
    pub id_type: IdType,
    /// Identification data (address bytes, FQDN text, ...).
    pub data: Vec<u8>,
}

impl Identity {
    /// An ID_FQDN identity.
    #[must_use]
    pub fn fqdn(name: &str) -> Self {
        Self { id_type: IdType::Fqdn, data: name.as_bytes().to_vec() }
    }

    /// An ID_IPV4_ADDR or ID_IPV6_ADDR identity.
    #[must_use]
    pub fn ip(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => Self { id_type: IdType::Ipv4Addr, data: a.octets().to_vec() },
            IpAddr::V6(a) => Self { id_type: IdType::Ipv6Addr, data: a.octets().to_vec() },
        }
    }
}

/// The first Child SA's settings.
#[derive(Debug, Clone)]
pub struct ChildConfig {
    /// ESP transforms, most preferred first; [`EspIntegrity::None`] with AES-GCM.
    pub proposals: Vec<(EspEncryption, EspIntegrity)>,
    /// Tunnel or transport (RFC 7296 §1.3.1 USE_TRANSPORT_MODE).
    pub mode: EspMode,
    /// Our traffic selectors (TSi for the initiator, TSr for the responder); a responder
    /// narrows the peer's offer to them.
    pub local_ts: Vec<TrafficSelector<'static>>,
    /// The peer's traffic selectors.
    pub remote_ts: Vec<TrafficSelector<'static>>,
    /// Hard lifetime of the Child SA. IKEv2 lifetimes are local (RFC 7296 §2.8): the
    /// Child SA is rekeyed at about 90 % of the time (minus a random jitter of up to
    /// 5 %), and deleted when the time is up.
    pub lifetime: Lifetime,
    /// RFC 7296 §1.3.1: the Diffie-Hellman group for perfect forward secrecy of Child SAs
    /// made by CREATE_CHILD_SA (the first one, in IKE_AUTH, never has its own).
    pub pfs: Option<crate::crypto::DhGroup>,
}

impl ChildConfig {
    /// L2TP/IPsec: transport mode, UDP/1701 between the two hosts, AES-CBC-128 and
    /// AES-CBC-256 with HMAC-SHA2-256-128, then AES-GCM-16-128.
    #[must_use]
    pub fn l2tp(local: IpAddr, remote: IpAddr) -> Self {
        let ts = |a: IpAddr| match a {
            IpAddr::V4(a) => TrafficSelector::ipv4_host(a, 17, Some(1701)),
            IpAddr::V6(a) => {
                TrafficSelector::Ipv6 { ip_protocol: 17, start_port: 1701, end_port: 1701, start: a, end: a }
            }
        };
        Self {
            proposals: default_esp_proposals(),
            mode: EspMode::Transport,
            local_ts: vec![ts(local)],
            remote_ts: vec![ts(remote)],
            lifetime: Lifetime { time: Some(Duration::from_secs(3600)), bytes: None },
            pfs: None,
        }
    }
}

fn default_esp_proposals() -> Vec<(EspEncryption, EspIntegrity)> {
    vec![
        (EspEncryption::AesCbc { key_len: 16 }, EspIntegrity::HmacSha256_128),
        (EspEncryption::AesCbc { key_len: 32 }, EspIntegrity::HmacSha256_128),
        (EspEncryption::AesGcm16 { key_len: 16 }, EspIntegrity::None),
    ]
}

/// Settings of one IKE SA.
#[derive(Debug, Clone)]
pub struct IkeSaConfig {
    /// The pre-shared key.
    pub psk: SecretBytes,
    /// Our identity (IDi / IDr).
    pub local_id: Identity,
    /// Acceptable IKE transform sets, most preferred first (the initiator offers them in
    /// order and sends its KE for the first one's group).
    pub proposals: Vec<IkeSuite>,
    /// The first Child SA.
    pub child: ChildConfig,
    /// Our address and IKE port, as we send from them (NAT detection).
    pub local: SocketAddr,
    /// The peer's address and port, as we see them (NAT detection).
    pub remote: SocketAddr,
    /// Pretend to be behind a NAT (bogus NAT_DETECTION_SOURCE_IP) so ESP is
    /// UDP-encapsulated anyway.
    pub force_encapsulation: bool,
    /// First retransmission delay; doubles on every retry.
    pub retransmit_timeout: Duration,
    /// Retransmissions before giving up.
    pub max_retransmits: u32,
    /// The whole handshake must finish within this.
    pub handshake_timeout: Duration,
    /// Hard lifetime of the IKE SA (RFC 7296 §2.8: local); it is rekeyed at about 90 %
    /// of it (minus up to 5 % of random jitter). `None`: no lifetime.
    pub ike_lifetime: Option<Duration>,
    /// RFC 7296 §2.4: the initiator says INITIAL_CONTACT in IKE_AUTH (this is the only
    /// IKE SA it has with the responder, which may drop older ones).
    pub initial_contact: bool,
    /// RFC 7296 §2.19: the initiator asks for an inner IPv4 address and DNS servers
    /// (CP(CFG_REQUEST) in IKE_AUTH).
    pub request_internal_address: bool,
    /// RFC 7296 §2.19: what a responder assigns when the initiator asks (the owner
    /// fills it before creating the responder, e.g. from its address pool).
    pub internal_config: Option<InternalConfig>,
    /// Authenticate with a certificate (and require one from the peer) instead of the
    /// pre-shared key; `None` by default.
    pub certificate: Option<CertificateAuth>,
    /// RFC 7383: announce IKEV2_FRAGMENTATION_SUPPORTED and, when the peer does too,
    /// send protected messages longer than this many bytes (at least 200) as fragments.
    /// `None`: no fragmentation.
    pub fragment_size: Option<usize>,
}

impl IkeSaConfig {
    /// Defaults: AES-CBC-128 and AES-CBC-256 with HMAC-SHA2-256-128 and
    /// PRF-HMAC-SHA2-256 over MODP-2048, ECP-256 and Curve25519, then AES-GCM-16-128 /
    /// AES-GCM-16-256; an L2TP transport-mode Child SA; 1 s first retransmission, 5
    /// retries, 30 s handshake limit.
    #[must_use]
    pub fn new(psk: &[u8], local_id: Identity, local: SocketAddr, remote: SocketAddr) -> Self {
        use crate::crypto::DhGroup::{Curve25519, Ecp256, Modp2048};
        Self {
            psk: SecretBytes::new(psk.to_vec()),
            local_id,
            proposals: vec![
                IkeSuite::aes128_sha256(Modp2048),
                IkeSuite::aes256_sha256(Modp2048),
                IkeSuite::aes128_sha256(Ecp256),
                IkeSuite::aes128_sha256(Curve25519),
                IkeSuite::aes_gcm16(16, Modp2048),
                IkeSuite::aes_gcm16(32, Curve25519),
            ],
            child: ChildConfig::l2tp(local.ip(), remote.ip()),
            local,
            remote,
            force_encapsulation: false,
            retransmit_timeout: Duration::from_secs(1),
            max_retransmits: 5,
            handshake_timeout: Duration::from_secs(30),
            ike_lifetime: Some(Duration::from_secs(4 * 3600)),
            initial_contact: true,
            request_internal_address: false,
            internal_config: None,
            certificate: None,
            fragment_size: None,
        }
    }
}

/// Which side of the exchange this machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sent IKE_SA_INIT.
    Initiator,
    /// Answers it.
    Responder,
}

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Responder waiting for IKE_SA_INIT.
    AwaitingInit,
    /// Initiator sent IKE_SA_INIT.
    InitSent,
    /// Responder answered IKE_SA_INIT, waits for IKE_AUTH.
    InitReplied,
    /// Initiator sent IKE_AUTH.
    AuthSent,
    /// Authenticated, the first Child SA is up.
    Established,
    /// The handshake failed for good.
    Failed,
    /// The IKE SA was deleted, by the peer or by us (RFC 7296 §1.4.1).
    Closed,
}

/// RFC 7296 §2.23 NAT detection result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NatStatus {
    /// Our address is translated (or we forced encapsulation).
    pub local_behind_nat: bool,
    /// The peer's address is translated (or the peer forced encapsulation).
    pub remote_behind_nat: bool,
}

impl NatStatus {
    /// IKE moves to port 4500 and ESP is UDP-encapsulated.
    #[must_use]
    pub const fn nat_detected(&self) -> bool {
        self.local_behind_nat || self.remote_behind_nat
    }
}

/// What the owner must know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// One event per handshake: boxing the Child SA would only cost the owner a dereference.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// The peer is authenticated and the first Child SA negotiated.
    Established {
        /// The Child SA, ready for the ESP data plane.
        child: ChildSa,
        /// The IKE SA transforms.
        suite: IkeSuite,
        /// The identity the peer proved.
        peer_id: Identity,
        /// NAT detection.
        nat: NatStatus,
        /// Our side's traffic selectors, as agreed.
        local_ts: Vec<TrafficSelector<'static>>,
        /// The peer's traffic selectors, as agreed.
        remote_ts: Vec<TrafficSelector<'static>>,
        /// RFC 7296 §2.19: the initiator's assigned inner address and DNS servers (when
        /// it asked and the responder answered); for a responder, what it assigned.
        internal: Option<InternalConfig>,
        /// RFC 7296 §2.4: (responder) the initiator said INITIAL_CONTACT: it has no
        /// other IKE SA with us, so the owner may delete older IKE SAs with the same
        /// peer identity. Always false for an initiator.
        initial_contact: bool,
    },
    /// RFC 7296 §1.2: the peer is authenticated and the IKE SA is up, but the first Child
    /// SA was refused (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, ...). The IKE SA stays usable
    /// (INFORMATIONAL, [`IkeSa::delete`]).
    EstablishedWithoutChild {
        /// The IKE SA transforms.
        suite: IkeSuite,
        /// The identity the peer proved.
        peer_id: Identity,
        /// NAT detection.
        nat: NatStatus,
        /// Why there is no Child SA.
        refused: Error,
    },
    /// The handshake failed and will not recover.
    Failed(Error),
    /// RFC 7296 §1.4.1: the peer deleted the Child SA whose inbound SPI is given (we
    /// answered with our half); remove both ESP SAs.
    ChildDeleted {
        /// Our inbound SPI of the deleted pair.
        spi_in: u32,
    },
    /// The IKE SA (and with it every Child SA) is gone: the peer deleted it and we
    /// answered, or we deleted it ([`IkeSa::delete`]).
    Closed,
    /// RFC 7296 §1.3.1: a further Child SA, made by CREATE_CHILD_SA (ours or the
    /// peer's).
    ChildSaCreated {
        /// The Child SA, ready for the ESP data plane.
        child: ChildSa,
        /// Our side's traffic selectors.
        local_ts: Vec<TrafficSelector<'static>>,
        /// The peer's traffic selectors.
        remote_ts: Vec<TrafficSelector<'static>>,
    },
    /// RFC 7296 §1.3.3, §2.8: `child` replaces the Child SA whose inbound SPI is
    /// `old_spi_in`. Install the new one; keep accepting on the old one until its
    /// [`Event::ChildDeleted`].
    ChildSaRekeyed {
        /// Inbound SPI of the replaced Child SA.
        old_spi_in: u32,
        /// The new Child SA.
        child: ChildSa,
        /// Our side's traffic selectors.
        local_ts: Vec<TrafficSelector<'static>>,
        /// The peer's traffic selectors.
        remote_ts: Vec<TrafficSelector<'static>>,
    },
    /// RFC 7296 §1.3.2, §2.18: the IKE SA was rekeyed; it now has these SPIs
    /// `(initiator, responder)` and transforms (write a new key-log line). Child SAs
    /// are unchanged.
    IkeSaRekeyed {
        /// The new SPIs.
        spis: ([u8; 8], [u8; 8]),
        /// The new transforms.
        suite: IkeSuite,
    },
    /// RFC 7296 §2.16, RFC 2759: (responder with EAP) the initiator answered our
    /// EAP-MSCHAPv2 Challenge. Check the credentials and answer with
    /// [`IkeSa::answer_eap`]; until then the exchange waits (within the handshake
    /// timeout).
    EapMsChapV2(crate::v2::eap::MsChapV2Credentials),
    /// A CREATE_CHILD_SA of ours failed; the IKE SA and the existing Child SAs stay.
    CreateChildFailed {
        /// The inbound SPI of the Child SA we tried to rekey, if it was a Child SA rekey.
        rekeying: Option<u32>,
        /// Why.
        error: Error,
    },
}

/// A datagram written by [`IkeSa::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Bytes appended to the caller's buffer.
    pub size: usize,
    /// RFC 7296 §2.23: send from port 4500 to the peer's port 4500 with the 4-byte
    /// non-ESP marker in front (after NAT detection, from IKE_AUTH on).
    pub udp_encapsulated: bool,
}

/// A request of ours on the established SA.
#[derive(Debug)]
enum Request {
    /// RFC 7296 §1.4.1: Delete of the IKE SA.
    Delete,
    /// RFC 7296 §2.4: an empty request proving the peer is alive.
    Liveness,
    /// RFC 7296 §1.4.1: Delete of the Child SA with this inbound SPI.
    DeleteChild(u32),
    /// RFC 7296 §1.3.1, §1.3.3: CREATE_CHILD_SA for a new or a rekeyed Child SA.
    Child(Box<create_child::ChildExchange>),
    /// RFC 7296 §1.3.2: CREATE_CHILD_SA rekeying the IKE SA.
    RekeyIke(Box<create_child::IkeExchange>),
}

/// The machine's timers, indexing its deadline table.
#[derive(Debug, Clone, Copy)]
enum Timer {
    /// Resend the outstanding request.
    Retransmit = 0,
    /// Give up on an unfinished handshake.
    Handshake = 1,
}

const TIMER_COUNT: usize = 2;

/// One IKE SA handshake (IKE_SA_INIT + IKE_AUTH with PSK), initiator or responder.
///
/// ```
/// use std::time::Instant;
/// use l2sec_ike::v2::ike_sa::{Event, Identity, IkeSa, IkeSaConfig};
/// use rand_chacha::ChaCha20Rng;
/// use rand_core::SeedableRng;
///
/// let now = Instant::now();
/// let (a, b) = ("192.0.2.1:500".parse()?, "192.0.2.2:500".parse()?);
/// let mut client =
///     IkeSa::initiate(IkeSaConfig::new(b"psk", Identity::fqdn("client"), a, b), ChaCha20Rng::seed_from_u64(1), now)?;
/// let mut server = IkeSa::respond(IkeSaConfig::new(b"psk", Identity::fqdn("server"), b, a), ChaCha20Rng::seed_from_u64(2), now);
/// let mut buf = Vec::new();
/// loop {
///     buf.clear();
///     if client.poll_transmit(now, &mut buf).is_some() {
///         server.handle_input(now, &buf)?;
///     } else if server.poll_transmit(now, &mut buf).is_some() {
///         client.handle_input(now, &buf)?;
///     } else {
///         break;
///     }
/// }
/// let Some(Event::Established { child: c, .. }) = client.poll_event() else { panic!() };
/// let Some(Event::Established { child: s, .. }) = server.poll_event() else { panic!() };
/// assert_eq!(c.keys_out, s.keys_in);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct IkeSa<R> {
    config: IkeSaConfig,
    rng: R,
    role: Role,
    state: State,
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    suite: Option<IkeSuite>,
    kx: Option<KeyExchange>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    /// The IKE_SA_INIT request and response as sent (AUTH signs them).
    init_request: Vec<u8>,
    init_response: Vec<u8>,
    keys: Option<IkeKeys>,
    child_spi: u32,
    /// The peer's SPI of the established Child SA.
    child_spi_out: Option<u32>,
    /// RFC 7296 §2.6: the responder's COOKIE, sent first in IKE_SA_INIT from then on.
    cookie: Option<Vec<u8>>,
    /// RFC 7296 §2.2: the Message ID the peer's next request must carry.
    peer_next_id: u32,
    /// The Message ID of our next request on the established SA.
    own_next_id: u32,
    /// Our outstanding INFORMATIONAL request, if any (window size 1).
    outstanding: Option<(u32, Request)>,
    nat: NatStatus,
    /// Our last request, retransmitted on the timer.
    last_sent: Option<Vec<u8>>,
    last_sent_encapsulated: bool,
    /// The last request of the peer we answered, to spot its retransmissions.
    last_request: Option<Vec<u8>>,
    /// Our answer to it, sent again when the request is.
    last_response: Option<Vec<u8>>,
    last_response_encapsulated: bool,
    send_pending: bool,
    response_pending: bool,
    timers: [Option<Instant>; TIMER_COUNT],
    retransmits: u32,
    events: VecDeque<Event>,
    /// Child SAs, queued commands, lifetimes and retired IKE SAs of the established SA.
    ext: create_child::Established,
    /// RFC 7427 §4: the hash algorithms the peer announced.
    peer_signature_hashes: Vec<u16>,
    /// The peer's end-entity certificate, once authenticated with it.
    peer_certificate: Option<X509Certificate>,
    /// RFC 7383 fragmentation.
    frag: fragment::Fragmentation,
    /// RFC 7296 §2.16: the EAP exchange of a responder that requires EAP.
    eap: Option<Box<eap::EapServer>>,
}

/// Values read from an IKE_SA_INIT message.
struct InitPayloads<'a> {
    sa: Option<SecurityAssociation<'a>>,
    ke: Option<(u16, &'a [u8])>,
    nonce: Option<&'a [u8]>,
    nat_source: Vec<&'a [u8]>,
    nat_destination: Option<&'a [u8]>,
    cookie: Option<&'a [u8]>,
    error: Option<Notify<'a>>,
    signature_hashes: Vec<u16>,
    fragmentation: bool,
}

fn init_payloads<'a>(m: &Message<'a>) -> Result<InitPayloads<'a>, Error> {
    let mut p = InitPayloads {
        sa: None,
        ke: None,
        nonce: None,
        nat_source: Vec::new(),
        nat_destination: None,
        cookie: None,
        error: None,
        signature_hashes: Vec::new(),
        fragmentation: false,
    };
    if m.unsupported_critical_payload()?.is_some() {
        return Err(Error::UnexpectedMessage("unsupported critical payload"));
    }
    for raw in m.payloads() {
        match raw?.parse()? {
            Payload::SecurityAssociation(sa) => p.sa = Some(sa),
            Payload::KeyExchange(ke) => p.ke = Some((ke.group.value(), ke.data)),
            Payload::Nonce(n) => p.nonce = Some(n),
            Payload::Notify(n) if n.notify_type == NotifyType::NatDetectionSourceIp => {
                p.nat_source.push(n.data)
            }
            Payload::Notify(n) if n.notify_type == NotifyType::NatDetectionDestinationIp => {
                p.nat_destination = Some(n.data);
            }
            Payload::Notify(n) if n.notify_type == NotifyType::Cookie => p.cookie = Some(n.data),
            Payload::Notify(n) if n.notify_type == NotifyType::SignatureHashAlgorithms => {
                p.signature_hashes = n.signature_hash_algorithms().take(16).collect();
            }
            Payload::Notify(n) if n.notify_type == NotifyType::Ikev2FragmentationSupported => {
                p.fragmentation = true
            }
            Payload::Notify(n) if n.is_error() && p.error.is_none() => p.error = Some(n),
            _ => {}
        }
    }
    Ok(p)
}

/// Values read from a decrypted IKE_AUTH chain.
#[derive(Default)]
struct AuthPayloads<'a> {
    id: Option<(Identification<'a>, &'a [u8])>,
    auth: Option<Authentication<'a>>,
    sa: Option<SecurityAssociation<'a>>,
    tsi: Vec<TrafficSelector<'static>>,
    tsr: Vec<TrafficSelector<'static>>,
    transport: bool,
    error: Option<NotifyType>,
    initial_contact: bool,
    cp_request: Option<create_child::CpRequest>,
    cp_reply: Option<InternalConfig>,
    /// X.509 certificates (CERT payloads), end entity first; at most [`MAX_CHAIN_DEPTH`].
    certs: Vec<&'a [u8]>,
}

fn owned_ts(ts: &TrafficSelectors<'_>) -> Vec<TrafficSelector<'static>> {
    ts.selectors
        .iter()
        .filter_map(|t| match *t {
            TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, start, end } => {
                Some(TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, start, end })
            }
            TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, start, end } => {
                Some(TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, start, end })
            }
            TrafficSelector::Other { .. } => None,
        })
        .collect()
}

fn auth_payloads(first: PayloadType, chain: &[u8], from_initiator: bool) -> Result<AuthPayloads<'_>, Error> {
    let iter = PayloadIter::new(first, chain);
    if iter.clone().unsupported_critical_payload()?.is_some() {
        return Err(Error::UnexpectedMessage("unsupported critical payload"));
    }
    let mut p = AuthPayloads::default();
    for raw in iter {
        let raw = raw?;
        match raw.parse()? {
            // The sender's own ID: IDi in a request, IDr in a response (an initiator may
            // also name the responder it wants with IDr; that is not its identity).
            Payload::IdentificationInitiator(id) if from_initiator => p.id = Some((id, raw.body)),
            Payload::IdentificationResponder(id) if !from_initiator => p.id = Some((id, raw.body)),
            Payload::Authentication(a) => p.auth = Some(a),
            Payload::Certificate(c)
                if c.encoding == CertEncoding::X509Signature && p.certs.len() < MAX_CHAIN_DEPTH =>
            {
                p.certs.push(c.data);
            }
            Payload::SecurityAssociation(sa) => p.sa = Some(sa),
            Payload::TrafficSelectorsInitiator(ts) => p.tsi = owned_ts(&ts),
            Payload::TrafficSelectorsResponder(ts) => p.tsr = owned_ts(&ts),
            Payload::Notify(n) if n.notify_type == NotifyType::UseTransportMode => p.transport = true,
            Payload::Notify(n) if n.notify_type == NotifyType::InitialContact => p.initial_contact = true,
            Payload::Notify(n) if n.is_error() && p.error.is_none() => p.error = Some(n.notify_type),
            Payload::Configuration(cp) => {
                p.cp_request = create_child::CpRequest::from_request(&cp);
                p.cp_reply = InternalConfig::from_reply(&cp);
            }
            _ => {}
        }
    }
    Ok(p)
}

/// RFC 7296 §2.23: `SHA-1(SPIi | SPIr | IP address | port)`.
fn nat_hash(spi_i: &[u8; 8], spi_r: &[u8; 8], addr: SocketAddr) -> Vec<u8> {
    let ip = match addr.ip() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    PrfAlgorithm::HmacSha1.hash(&[spi_i, spi_r, &ip, &addr.port().to_be_bytes()]).as_bytes().to_vec()
}

/// The ESP transforms of a Child SA proposal.
fn esp_transforms(enc: EspEncryption, integ: EspIntegrity) -> Option<Vec<Transform<'static>>> {
    let bits = |k: usize| u16::try_from(k * 8).ok();
    let mut t = vec![match enc {
        EspEncryption::AesCbc { key_len } => Transform::encryption(EncryptionId::AesCbc, bits(key_len)),
        EspEncryption::AesGcm16 { key_len } => Transform::encryption(EncryptionId::AesGcm16, bits(key_len)),
        EspEncryption::TripleDesCbc => Transform::encryption(EncryptionId::TripleDes, None),
        EspEncryption::Null => Transform::encryption(EncryptionId::Null, None),
    }];
    let integ_id = match integ {
        EspIntegrity::None => None,
        EspIntegrity::HmacMd5_96 => Some(IntegrityId::HmacMd5_96),
        EspIntegrity::HmacSha1_96 => Some(IntegrityId::HmacSha1_96),
        EspIntegrity::HmacSha256_128 => Some(IntegrityId::HmacSha2_256_128),
        EspIntegrity::HmacSha384_192 => Some(IntegrityId::HmacSha2_384_192),
        EspIntegrity::HmacSha512_256 => Some(IntegrityId::HmacSha2_512_256),
    };
    if let Some(id) = integ_id {
        t.push(Transform::integrity(id));
    }
    t.push(Transform::esn(EsnId::NoEsn));
    Some(t)
}

/// Whether a received proposal offers every transform of `ours` (ESN: "no ESN" must be
/// offered, or no ESN transform at all).
fn offers(p: &Proposal<'_>, ours: &[Transform<'_>]) -> bool {
    ours.iter().all(|o| {
        p.transforms.iter().any(|t| {
            t.transform_type == o.transform_type
                && t.transform_id == o.transform_id
                && t.key_length() == o.key_length()
        }) || (o.transform_type == TransformType::ExtendedSequenceNumbers
            && !p.transforms.iter().any(|t| t.transform_type == TransformType::ExtendedSequenceNumbers))
    }) && p.transforms.iter().all(|t| ours.iter().any(|o| o.transform_type == t.transform_type))
}

/// The IKE suite a responder's single-proposal answer names, if it is one of `ours`.
fn accepted_suite(p: &Proposal<'_>, ours: &[IkeSuite]) -> Option<IkeSuite> {
    let mut enc = None;
    let mut prf = None;
    let mut integ = None;
    let mut group = None;
    for t in &p.transforms {
        match t.transform_type {
            TransformType::Encryption => enc = Some(IkeEncryption::from_transform(t)?),
            TransformType::PseudoRandomFunction => prf = Some(prf_from_id(t.transform_id.into())?),
            TransformType::Integrity => integ = Some(IkeIntegrity::from_id(t.transform_id.into())?),
            TransformType::KeyExchange => group = Some(group_from_id(t.transform_id.into())?),
            _ => return None,
        }
    }
    let suite = IkeSuite { encryption: enc?, integrity: integ, prf: prf?, group: group? };
    ours.contains(&suite).then_some(suite)
}

/// Intersection of two selectors of the same family, if not empty.
fn intersect(a: &TrafficSelector<'static>, b: &TrafficSelector<'static>) -> Option<TrafficSelector<'static>> {
    fn proto(a: u8, b: u8) -> Option<u8> {
        match (a, b) {
            (0, x) | (x, 0) => Some(x),
            (x, y) if x == y => Some(x),
            _ => None,
        }
    }
    match (*a, *b) {
        (
            TrafficSelector::Ipv4 { ip_protocol: pa, start_port: sa, end_port: ea, start: a1, end: a2 },
            TrafficSelector::Ipv4 { ip_protocol: pb, start_port: sb, end_port: eb, start: b1, end: b2 },
        ) => {
            let (sp, ep, s, e) = (sa.max(sb), ea.min(eb), a1.max(b1), a2.min(b2));
            (sp <= ep && s <= e).then_some(())?;
            Some(TrafficSelector::Ipv4 {
                ip_protocol: proto(pa, pb)?,
                start_port: sp,
                end_port: ep,
                start: s,
                end: e,
            })
        }
        (
            TrafficSelector::Ipv6 { ip_protocol: pa, start_port: sa, end_port: ea, start: a1, end: a2 },
            TrafficSelector::Ipv6 { ip_protocol: pb, start_port: sb, end_port: eb, start: b1, end: b2 },
        ) => {
            let (sp, ep, s, e) = (sa.max(sb), ea.min(eb), a1.max(b1), a2.min(b2));
            (sp <= ep && s <= e).then_some(())?;
            Some(TrafficSelector::Ipv6 {
                ip_protocol: proto(pa, pb)?,
                start_port: sp,
                end_port: ep,
                start: s,
                end: e,
            })
        }
        _ => None,
    }
}

/// RFC 7296 §2.9: the responder's narrowing: every non-empty intersection of an
/// offered selector with a configured one.
fn narrow(
    offered: &[TrafficSelector<'static>],
    allowed: &[TrafficSelector<'static>],
) -> Vec<TrafficSelector<'static>> {
    let mut out = Vec::new();
    for o in offered {
        for a in allowed {
            if let Some(ts) = intersect(o, a)
                && !out.contains(&ts)
            {
                out.push(ts);
            }
        }
    }
    out
}

/// RFC 7296 §2.23.1: the responder's answer in transport mode across a NAT, seen from
/// our side: each answered selector's protocol and ports must lie within one of `ours`
/// (its addresses are the NAT's view and are not compared); the result keeps the
/// answered protocol and ports with the addresses of that selector of ours. `None` when
/// some answered selector fits none of ours, or nothing was answered.
fn nat_transport_view(
    answer: &[TrafficSelector<'static>],
    ours: &[TrafficSelector<'static>],
) -> Option<Vec<TrafficSelector<'static>>> {
    let rebase = |a: &TrafficSelector<'static>, o: &TrafficSelector<'static>| match (*a, *o) {
        (
            TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, .. },
            TrafficSelector::Ipv4 { start, end, .. },
        ) => Some(TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, start, end }),
        (
            TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, .. },
            TrafficSelector::Ipv6 { start, end, .. },
        ) => Some(TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, start, end }),
        _ => None,
    };
    let mut out = Vec::new();
    for a in answer {
        let seen = ours.iter().find_map(|o| rebase(a, o).filter(|r| intersect(o, r).as_ref() == Some(r)))?;
        if !out.contains(&seen) {
            out.push(seen);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Every selector of `inner` lies within one of `outer`.
fn within(inner: &[TrafficSelector<'static>], outer: &[TrafficSelector<'static>]) -> bool {
    !inner.is_empty() && inner.iter().all(|i| outer.iter().any(|o| intersect(o, i).as_ref() == Some(i)))
}

impl<R: CryptoRng> IkeSa<R> {
    fn blank(config: IkeSaConfig, rng: R, role: Role, state: State, now: Instant) -> Self {
        let mut m = Self {
            config,
            rng,
            role,
            state,
            spi_i: [0; 8],
            spi_r: [0; 8],
            suite: None,
            kx: None,
            ni: Vec::new(),
            nr: Vec::new(),
            init_request: Vec::new(),
            init_response: Vec::new(),
            keys: None,
            child_spi: 0,
            child_spi_out: None,
            cookie: None,
            peer_next_id: 0,
            own_next_id: 0,
            outstanding: None,
            nat: NatStatus::default(),
            last_sent: None,
            last_sent_encapsulated: false,
            last_response: None,
            last_response_encapsulated: false,
            response_pending: false,
            last_request: None,
            send_pending: false,
            timers: [None; TIMER_COUNT],
            retransmits: 0,
            events: VecDeque::new(),
            ext: create_child::Established::default(),
            peer_signature_hashes: Vec::new(),
            peer_certificate: None,
            frag: fragment::Fragmentation::default(),
            eap: None,
        };
        m.timers[Timer::Handshake as usize] = Some(now + m.config.handshake_timeout);
        m
    }

    /// Starts an IKE SA as initiator: the IKE_SA_INIT request is ready to send.
    ///
    /// # Errors
    /// [`Error::Configuration`] without IKE or ESP proposals.
    pub fn initiate(config: IkeSaConfig, rng: R, now: Instant) -> Result<Self, Error> {
        if config.proposals.is_empty() || config.child.proposals.is_empty() {
            return Err(Error::Configuration("no IKE or ESP proposals"));
        }
        let mut m = Self::blank(config, rng, Role::Initiator, State::InitSent, now);
        m.rng.fill_bytes(&mut m.spi_i);
        m.child_spi = m.random_spi();
        m.start_init(now, true)?;
        Ok(m)
    }

    /// A responder waiting for an IKE_SA_INIT request.
    #[must_use]
    pub fn respond(config: IkeSaConfig, rng: R, now: Instant) -> Self {
        Self::blank(config, rng, Role::Responder, State::AwaitingInit, now)
    }

    fn random_spi(&mut self) -> u32 {
        loop {
            let spi = self.rng.next_u32();
            // SPIs 1..=255 are reserved (RFC 4303 §2.1).
            if spi > 255 {
                return spi;
            }
        }
    }

    /// Builds (again) the IKE_SA_INIT request for the current first proposal's group.
    /// `fresh`: a new key exchange value and nonce (first request, or another group);
    /// otherwise the same ones again (RFC 7296 §2.6: the retry with a COOKIE changes
    /// nothing else).
    fn start_init(&mut self, now: Instant, fresh: bool) -> Result<(), Error> {
        let group = self.config.proposals[0].group;
        let (kx, ni) = match (fresh, self.kx.take()) {
            (false, Some(kx)) => (kx, core::mem::take(&mut self.ni)),
            _ => {
                let kx = KeyExchange::generate(group, &mut self.rng);
                let mut ni = vec![0u8; NONCE_LEN];
                self.rng.fill_bytes(&mut ni);
                (kx, ni)
            }
        };
        let proposals: Vec<Proposal<'_>> = self
            .config
            .proposals
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Proposal::new(u8::try_from(i + 1).unwrap_or(u8::MAX), ProtocolId::Ike, &[], s.transforms())
            })
            .collect();
        let header = Header::new(self.spi_i, [0; 8], ExchangeType::IkeSaInit, Flags::INITIATOR, 0);
        let (src, dst) = self.nat_hashes(&[0; 8]);
        let mut out = Vec::new();
        let mut b = MessageBuilder::new(&mut out, &header);
        let enc = |_| Error::Configuration("IKE_SA_INIT does not encode");
        if let Some(cookie) = &self.cookie {
            b.push(&Payload::Notify(Notify::new(NotifyType::Cookie, cookie))).map_err(enc)?;
        }
        b.push(&Payload::SecurityAssociation(SecurityAssociation { proposals })).map_err(enc)?;
        b.push(&Payload::KeyExchange(crate::wire::v2::KeyExchange::new(
            group_id(kx.group()),
            kx.public_value(),
        )))
        .map_err(enc)?;
        b.push(&Payload::Nonce(&ni)).map_err(enc)?;
        b.push(&Payload::Notify(Notify::new(NotifyType::NatDetectionSourceIp, &src))).map_err(enc)?;
        b.push(&Payload::Notify(Notify::new(NotifyType::NatDetectionDestinationIp, &dst))).map_err(enc)?;
        if self.config.certificate.as_ref().is_some_and(|c| c.rfc7427) {
            let hashes = signature_hash_algorithms_data();
            b.push(&Payload::Notify(Notify::new(NotifyType::SignatureHashAlgorithms, &hashes)))
                .map_err(enc)?;
        }
        if self.config.fragment_size.is_some() {
            b.push(&Payload::Notify(Notify::new(NotifyType::Ikev2FragmentationSupported, &[])))
                .map_err(enc)?;
        }
        b.finish().map_err(enc)?;
        self.kx = Some(kx);
        self.ni = ni;
        self.init_request.clone_from(&out);
        self.send_request(out, false, now);
        Ok(())
    }

    /// Our NAT_DETECTION_SOURCE_IP and _DESTINATION_IP data for a message with these SPIs.
    fn nat_hashes(&mut self, spi_r: &[u8; 8]) -> (Vec<u8>, Vec<u8>) {
        let mut src = nat_hash(&self.spi_i, spi_r, self.config.local);
        if self.config.force_encapsulation {
            self.rng.fill_bytes(&mut src);
        }
        (src, nat_hash(&self.spi_i, spi_r, self.config.remote))
    }

    /// RFC 7296 §2.23: compares the peer's NAT-D data with what we see; `None` when the
    /// peer sent none.
    fn check_nat(&self, spi_r: &[u8; 8], p: &InitPayloads<'_>) -> Option<NatStatus> {
        let dst = p.nat_destination?;
        if p.nat_source.is_empty() {
            return None;
        }
        let remote = nat_hash(&self.spi_i, spi_r, self.config.remote);
        let local = nat_hash(&self.spi_i, spi_r, self.config.local);
        Some(NatStatus {
            remote_behind_nat: !p.nat_source.iter().any(|s| *s == remote),
            local_behind_nat: dst != local || self.config.force_encapsulation,
        })
    }

    fn send_request(&mut self, datagram: Vec<u8>, encapsulated: bool, now: Instant) {
        self.last_sent = Some(datagram);
        self.last_sent_encapsulated = encapsulated;
        self.send_pending = true;
        self.retransmits = 0;
        self.timers[Timer::Retransmit as usize] = Some(now + self.config.retransmit_timeout);
    }

    fn send_response(&mut self, request: &[u8], datagram: Vec<u8>, encapsulated: bool) {
        self.last_request = (request.len() <= MAX_REMEMBERED).then(|| request.to_vec());
        self.last_response = Some(datagram);
        self.last_response_encapsulated = encapsulated;
        self.response_pending = true;
    }

    fn fail(&mut self, error: Error) {
        self.state = State::Failed;
        self.timers = [None; TIMER_COUNT];
        self.events.push_back(Event::Failed(error));
    }

    /// Where the handshake stands.
    #[must_use]
    pub const fn state(&self) -> State {
        self.state
    }

    /// Initiator or responder.
    #[must_use]
    pub const fn role(&self) -> Role {
        self.role
    }

    /// The IKE SA keys, once derived (after IKE_SA_INIT).
    #[must_use]
    pub const fn keys(&self) -> Option<&IkeKeys> {
        self.keys.as_ref()
    }

    /// The negotiated IKE SA transforms, once IKE_SA_INIT is done.
    #[must_use]
    pub const fn suite(&self) -> Option<&IkeSuite> {
        self.suite.as_ref()
    }

    /// The SPIs `(initiator, responder)` (the responder's is zero until IKE_SA_INIT is
    /// answered).
    #[must_use]
    pub const fn spis(&self) -> ([u8; 8], [u8; 8]) {
        (self.spi_i, self.spi_r)
    }

    /// NAT detection result (all false before IKE_SA_INIT completes or without NAT-D).
    #[must_use]
    pub const fn nat_status(&self) -> NatStatus {
        self.nat
    }

    /// The peer's end-entity certificate, once the peer authenticated with it.
    #[must_use]
    pub const fn peer_certificate(&self) -> Option<&X509Certificate> {
        self.peer_certificate.as_ref()
    }

    /// The next event for the owner, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline at which [`Self::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().copied().chain(self.established_deadline()).min()
    }

    /// Appends the next datagram to send to `buf` (without the non-ESP marker), if any.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (msg, udp_encapsulated) = if self.response_pending {
            self.response_pending = false;
            (self.last_response.as_ref()?, self.last_response_encapsulated)
        } else if self.send_pending {
            self.send_pending = false;
            (self.last_sent.as_ref()?, self.last_sent_encapsulated)
        } else if let Some((msg, udp_encapsulated)) = self.ext.outbox.pop_front() {
            // Retired IKE SAs' Delete requests and answers.
            buf.extend_from_slice(&msg);
            return Some(Transmit { size: msg.len(), udp_encapsulated });
        } else {
            return None;
        };
        let msg = msg.clone();
        if let Some(fragments) = self.fragments_for(&msg) {
            // RFC 7383: the first fragment now, the others right after it.
            let mut rest = fragments.into_iter();
            let first = rest.next()?;
            for (k, f) in rest.enumerate() {
                self.ext.outbox.insert(k, (f, udp_encapsulated));
            }
            buf.extend_from_slice(&first);
            return Some(Transmit { size: first.len(), udp_encapsulated });
        }
        buf.extend_from_slice(&msg);
        Some(Transmit { size: msg.len(), udp_encapsulated })
    }

    /// Runs the timers due at `now`: retransmission with back-off, or failure when the
    /// retries or the handshake time are used up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers[Timer::Handshake as usize].is_some_and(|t| t <= now) {
            self.fail(Error::Timeout);
            return;
        }
        if self.timers[Timer::Retransmit as usize].is_some_and(|t| t <= now) {
            if self.retransmits >= self.config.max_retransmits {
                if matches!(self.outstanding, Some((_, Request::Delete))) {
                    // RFC 7296 §1.4.1: without an answer the IKE SA is gone all the same.
                    self.close();
                } else {
                    self.fail(Error::Timeout);
                }
                return;
            }
            self.retransmits += 1;
            self.send_pending = true;
            let backoff = self.config.retransmit_timeout * 2u32.saturating_pow(self.retransmits);
            self.timers[Timer::Retransmit as usize] = Some(now + backoff);
        }
        self.established_timeout(now);
    }

    /// Feeds one received IKEv2 datagram (without the non-ESP marker). On error the
    /// datagram is dropped and the machine is unchanged, except where the error ends
    /// the handshake (it is then also reported as [`Event::Failed`]).
    ///
    /// # Errors
    /// Why the datagram was dropped or the handshake failed.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        if matches!(self.state, State::Failed | State::Closed) {
            if self.last_request.as_deref() == Some(data) {
                // The answer to the peer's Delete (or our AUTHENTICATION_FAILED) was lost.
                self.response_pending = true;
                return Ok(());
            }
            return Err(Error::UnexpectedMessage("IKE SA failed or closed"));
        }
        let m = Message::parse(data)?;
        let h = m.header;
        if let Some(result) = self.retired_input(now, &m, data) {
            return result;
        }
        if h.next_payload == PayloadType::EncryptedFragment {
            // RFC 7383: handled once every fragment is in.
            return match self.on_fragment(&m)? {
                Some(whole) => self.handle_input(now, &whole),
                None => Ok(()),
            };
        }
        if h.initiator_spi != self.spi_i && self.state != State::AwaitingInit {
            return Err(Error::UnexpectedMessage("unknown IKE SA"));
        }
        let from_initiator = self.role == Role::Responder;
        if self.state == State::Established
            && h.flags.initiator() == from_initiator
            && h.responder_spi == self.spi_r
            && matches!(h.exchange_type, ExchangeType::Informational | ExchangeType::CreateChildSa)
        {
            return self.established_input(now, &m, data);
        }
        match self.role {
            Role::Initiator => {
                if !h.flags.response() || h.flags.initiator() {
                    return Err(Error::UnexpectedMessage("not a response from the responder"));
                }
                match (self.state, h.exchange_type, h.message_id) {
                    (State::InitSent, ExchangeType::IkeSaInit, 0) => self.on_init_response(now, &m),
                    (State::AuthSent, ExchangeType::IkeAuth, 1) if h.responder_spi == self.spi_r => {
                        self.on_auth_response(now, &m)
                    }
                    _ => Err(Error::UnexpectedMessage("no such request outstanding")),
                }
            }
            Role::Responder => {
                if h.flags.response() || !h.flags.initiator() {
                    return Err(Error::UnexpectedMessage("not a request from the initiator"));
                }
                if self.last_request.as_deref() == Some(data) {
                    // RFC 7296 §2.1: our response was lost; send it again.
                    self.response_pending = true;
                    return Ok(());
                }
                match (self.state, h.exchange_type, h.message_id) {
                    (State::AwaitingInit, ExchangeType::IkeSaInit, 0) if h.responder_spi == [0; 8] => {
                        self.on_init_request(now, &m, data)
                    }
                    (State::InitReplied, ExchangeType::IkeAuth, 1) if h.responder_spi == self.spi_r => {
                        self.on_auth_request(now, &m, data)
                    }
                    (State::InitReplied, ExchangeType::IkeAuth, id)
                        if h.responder_spi == self.spi_r && id == self.peer_next_id && self.eap.is_some() =>
                    {
                        self.on_eap_request(now, &m, data)
                    }
                    (State::InitReplied, ExchangeType::Informational, id)
                        if h.responder_spi == self.spi_r && id == self.peer_next_id && self.eap.is_some() =>
                    {
                        self.on_eap_informational(&m, data)
                    }
                    _ => Err(Error::UnexpectedMessage("no such request expected")),
                }
            }
        }
    }

    /// RFC 7296 §1.4.1: deletes the IKE SA (and its Child SA): sends an INFORMATIONAL
    /// request with a Delete payload. When the peer answers, or when it never does, the
    /// machine reports [`Event::Closed`].
    ///
    /// # Errors
    /// Not established, or another request of ours is still outstanding (window size 1).
    pub fn delete(&mut self, now: Instant) -> Result<(), Error> {
        let payload = Payload::Delete(crate::wire::v2::Delete::IKE_SA);
        self.informational_request(now, Request::Delete, Some(&payload))
    }

    /// RFC 7296 §2.4: asks the peer whether it is alive with an empty INFORMATIONAL
    /// request. An answer changes nothing; no answer after the retransmissions ends the
    /// SA with [`Event::Failed`] ([`Error::Timeout`]).
    ///
    /// # Errors
    /// As [`IkeSa::delete`].
    pub fn check_liveness(&mut self, now: Instant) -> Result<(), Error> {
        self.informational_request(now, Request::Liveness, None)
    }

    fn informational_request(
        &mut self,
        now: Instant,
        request: Request,
        payload: Option<&Payload<'_>>,
    ) -> Result<(), Error> {
        if self.state != State::Established {
            return Err(Error::UnexpectedMessage("IKE SA not established"));
        }
        if self.outstanding.is_some() {
            return Err(Error::UnexpectedMessage("a request is still outstanding"));
        }
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        if let Some(p) = payload {
            c.push(p).map_err(|_| Error::Configuration("INFORMATIONAL does not encode"))?;
        }
        let first = c.finish();
        let id = self.own_next_id;
        let out = self.protect_with(ExchangeType::Informational, id, false, &inner, first)?;
        self.outstanding = Some((id, request));
        self.own_next_id = id.wrapping_add(1);
        self.send_request(out, self.nat.nat_detected(), now);
        Ok(())
    }

    fn on_informational_response(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        match &self.outstanding {
            Some((id, Request::Delete | Request::Liveness | Request::DeleteChild(_))) => {
                if m.header.message_id != *id {
                    return Err(Error::UnexpectedMessage("response to another Message ID"));
                }
            }
            _ => return Err(Error::UnexpectedMessage("no INFORMATIONAL request outstanding")),
        }
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?;
        let opened = open(&suite, keys.sender(self.role == Role::Responder), m)?;
        for raw in PayloadIter::new(opened.first_inner, &opened.chain) {
            raw?.parse()?;
        }
        let request = self.outstanding.take().map(|(_, r)| r);
        self.timers[Timer::Retransmit as usize] = None;
        match request {
            Some(Request::Delete) => self.close(),
            Some(Request::DeleteChild(spi_in)) => self.child_delete_done(spi_in),
            _ => {}
        }
        self.pump(now);
        Ok(())
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.timers = [None; TIMER_COUNT];
        self.outstanding = None;
        self.events.push_back(Event::Closed);
    }

    /// RFC 7296 §1.4, §1.5: an INFORMATIONAL request from the peer on the established SA
    /// (liveness check, Delete). Answered with an empty response, or with the Delete of
    /// our half of a deleted Child SA.
    fn on_informational(&mut self, m: &Message<'_>, data: &[u8]) -> Result<(), Error> {
        if self.last_request.as_deref() == Some(data) {
            self.response_pending = true;
            return Ok(());
        }
        if m.header.message_id != self.peer_next_id {
            return Err(Error::UnexpectedMessage("INFORMATIONAL with an unexpected Message ID"));
        }
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?;
        let opened = open(&suite, keys.sender(self.role == Role::Responder), m)?;
        let mut delete_ike = false;
        let mut deleted_out = Vec::new();
        for raw in PayloadIter::new(opened.first_inner, &opened.chain) {
            if let Payload::Delete(d) = raw?.parse()? {
                match d.protocol_id {
                    ProtocolId::Ike => delete_ike = true,
                    ProtocolId::Esp => deleted_out.extend(
                        d.spis().filter_map(|s| <[u8; 4]>::try_from(s).ok()).map(u32::from_be_bytes).take(64),
                    ),
                    _ => {}
                }
            }
        }
        let ours: Vec<u8> = if delete_ike {
            Vec::new()
        } else {
            self.peer_deleted_children(&deleted_out).iter().flat_map(|s| s.to_be_bytes()).collect()
        };
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        if !ours.is_empty() {
            let d = crate::wire::v2::Delete::child_sas(ProtocolId::Esp, &ours)
                .ok_or(Error::Configuration("delete"))?;
            c.push(&Payload::Delete(d)).map_err(|_| Error::Configuration("delete"))?;
        }
        let first = c.finish();
        let out = self.protect_with(ExchangeType::Informational, m.header.message_id, true, &inner, first)?;
        self.send_response(data, out, self.nat.nat_detected());
        self.peer_next_id = self.peer_next_id.wrapping_add(1);
        if delete_ike {
            self.close();
        }
        Ok(())
    }

    // --- initiator ----------------------------------------------------------------------

    fn on_init_response(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        let p = init_payloads(m)?;
        if let (Some(cookie), None) = (p.cookie, &p.sa) {
            // RFC 7296 §2.6: the responder wants proof of our address first; repeat the
            // request with its cookie in front (once per distinct cookie).
            if cookie.is_empty() || cookie.len() > 64 || self.cookie.as_deref() == Some(cookie) {
                return Err(Error::UnexpectedMessage("unusable or repeated COOKIE"));
            }
            self.cookie = Some(cookie.to_vec());
            return self.start_init(now, false);
        }
        if let Some(n) = &p.error {
            if let Some(group) = n.invalid_ke_payload_group() {
                // RFC 7296 §1.2: retry with the group the responder wants, if we offer it.
                let group = group_from_id(group).ok_or(Error::NoProposalChosen)?;
                let current = self.kx.as_ref().map(KeyExchange::group);
                if current == Some(group) || !self.config.proposals.iter().any(|s| s.group == group) {
                    return Err(Error::UnexpectedMessage("INVALID_KE_PAYLOAD for an unusable group"));
                }
                self.config.proposals.sort_by_key(|s| s.group != group);
                return self.start_init(now, true);
            }
            let e = if n.notify_type == NotifyType::NoProposalChosen {
                Error::NoProposalChosen
            } else {
                Error::UnexpectedMessage("IKE_SA_INIT refused")
            };
            self.fail(e.clone());
            return Err(e);
        }
        let sa = p.sa.as_ref().ok_or(Error::UnexpectedMessage("IKE_SA_INIT response without SA"))?;
        let [proposal] = sa.proposals.as_slice() else {
            return Err(Error::UnexpectedMessage("responder must choose one proposal"));
        };
        let suite = accepted_suite(proposal, &self.config.proposals).ok_or(Error::NoProposalChosen)?;
        let kx = self.kx.as_ref().ok_or(Error::Configuration("no key exchange"))?;
        let (ke_group, ke_data) = p.ke.ok_or(Error::UnexpectedMessage("IKE_SA_INIT response without KE"))?;
        if ke_group != suite.group.id() || kx.group() != suite.group {
            return Err(Error::UnexpectedMessage("KE group differs from the chosen one"));
        }
        let nr = p.nonce.ok_or(Error::UnexpectedMessage("IKE_SA_INIT response without nonce"))?;
        if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&nr.len()) {
            return Err(Error::UnexpectedMessage("nonce length"));
        }
        let spi_r = m.header.responder_spi;
        if spi_r == [0; 8] {
            return Err(Error::UnexpectedMessage("zero responder SPI"));
        }
        let g_ir = kx.shared_secret(ke_data)?;
        let keys = IkeKeys::derive(&suite, &self.ni, nr, g_ir.as_bytes(), &self.spi_i, &spi_r)?;
        let nat = self.check_nat(&spi_r, &p).unwrap_or_default();
        // Accepted: commit.
        self.frag.negotiated = p.fragmentation && self.config.fragment_size.is_some();
        self.spi_r = spi_r;
        self.suite = Some(suite);
        self.nr = nr.to_vec();
        self.init_response = m.bytes().to_vec();
        self.keys = Some(keys);
        self.nat = nat;
        self.peer_signature_hashes = p.signature_hashes;
        let request = self.build_auth_request()?;
        self.state = State::AuthSent;
        self.send_request(request, nat.nat_detected(), now);
        Ok(())
    }

    fn id_body(&self) -> Vec<u8> {
        let mut body = vec![u8::from(self.config.local_id.id_type), 0, 0, 0];
        body.extend_from_slice(&self.config.local_id.data);
        body
    }

    /// Our AUTH payload: the PSK MAC, or with [`IkeSaConfig::certificate`] a signature.
    fn own_auth(&mut self, suite: &IkeSuite, keys: &IkeKeys) -> Result<(AuthMethod, Vec<u8>), Error> {
        let (first, peer_nonce, sk_p) = match self.role {
            Role::Initiator => (&self.init_request, &self.nr, &keys.sk_pi),
            Role::Responder => (&self.init_response, &self.ni, &keys.sk_pr),
        };
        let id_body = self.id_body();
        if let Some(cert) = &self.config.certificate {
            let octets = signed_octets(suite.prf, first, peer_nonce, sk_p, &id_body);
            let how =
                AuthSignature::choose(&cert.key, &self.peer_signature_hashes, cert.rfc7427, cert.rsa_pss);
            let data = how.sign(&cert.key, &octets, &mut self.rng)?;
            return Ok((how.method, data));
        }
        let mac = psk_auth(suite.prf, self.config.psk.as_bytes(), first, peer_nonce, sk_p, &id_body);
        Ok((AuthMethod::SharedKeyMic, mac.as_bytes().to_vec()))
    }

    /// Checks the peer's AUTH (and, with certificates, its CERT chain and that its ID
    /// names the certificate). Returns the peer's certificate, if it used one.
    fn check_peer_auth(
        &self,
        suite: &IkeSuite,
        keys: &IkeKeys,
        id: &Identification<'_>,
        id_body: &[u8],
        certs: &[&[u8]],
        auth: &Authentication<'_>,
    ) -> Result<Option<X509Certificate>, Error> {
        let (first, own_nonce, sk_p) = match self.role {
            Role::Initiator => (&self.init_response, &self.ni, &keys.sk_pr),
            Role::Responder => (&self.init_request, &self.nr, &keys.sk_pi),
        };
        if let Some(cert) = &self.config.certificate {
            if auth.method == AuthMethod::SharedKeyMic {
                return Err(Error::AuthenticationFailed);
            }
            let (peer_cert, key) = cert.verify_peer(certs, id.id_type.into(), id.data)?;
            let octets = signed_octets(suite.prf, first, own_nonce, sk_p, id_body);
            super::sig_auth::verify(&key, auth, &octets)?;
            return Ok(Some(peer_cert));
        }
        let ok = auth.method == AuthMethod::SharedKeyMic
            && psk_auth(suite.prf, self.config.psk.as_bytes(), first, own_nonce, sk_p, id_body)
                .ct_eq_bytes(auth.data);
        if ok { Ok(None) } else { Err(Error::AuthenticationFailed) }
    }

    /// CERT payload data (our chain, end entity first) and CERTREQ data (our CAs' key
    /// hashes) to send in IKE_AUTH; empty without certificates.
    fn cert_payload_data(&self) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
        match &self.config.certificate {
            Some(c) => (
                c.chain.iter().map(|x| x.der().to_vec()).collect(),
                (c.send_cert_request && !c.trust.cas().is_empty()).then(|| c.trust.ca_key_hashes()),
            ),
            None => (Vec::new(), None),
        }
    }

    /// Our requests as initiator, our responses as responder (the handshake).
    fn protect(
        &mut self,
        exchange: ExchangeType,
        message_id: u32,
        inner: &[u8],
        first: PayloadType,
    ) -> Result<Vec<u8>, Error> {
        self.protect_with(exchange, message_id, self.role == Role::Responder, inner, first)
    }

    /// RFC 7296 §3.1: I is set by the original initiator, R on responses.
    fn protect_with(
        &mut self,
        exchange: ExchangeType,
        message_id: u32,
        response: bool,
        inner: &[u8],
        first: PayloadType,
    ) -> Result<Vec<u8>, Error> {
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?;
        let mut flags = if self.role == Role::Initiator { Flags::INITIATOR } else { Flags(0) };
        if response {
            flags = flags | Flags::RESPONSE;
        }
        let header = Header::new(self.spi_i, self.spi_r, exchange, flags, message_id);
        seal(&suite, keys.sender(self.role == Role::Initiator), &header, first, inner, &mut self.rng)
    }

    fn build_auth_request(&mut self) -> Result<Vec<u8>, Error> {
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = keys.clone();
        let (auth_method, auth) = self.own_auth(&suite, &keys)?;
        let (certs, certreq) = self.cert_payload_data();
        let spi = self.child_spi.to_be_bytes();
        let proposals: Vec<Proposal<'_>> = self
            .config
            .child
            .proposals
            .iter()
            .enumerate()
            .filter_map(|(i, (e, a))| {
                Some(Proposal::new(u8::try_from(i + 1).ok()?, ProtocolId::Esp, &spi, esp_transforms(*e, *a)?))
            })
            .collect();
        let enc = |_| Error::Configuration("IKE_AUTH does not encode");
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        c.push(&Payload::IdentificationInitiator(Identification::new(
            self.config.local_id.id_type,
            &self.config.local_id.data,
        )))
        .map_err(enc)?;
        for der in &certs {
            c.push(&Payload::Certificate(Certificate { encoding: CertEncoding::X509Signature, data: der }))
                .map_err(enc)?;
        }
        if let Some(req) = &certreq {
            c.push(&Payload::CertificateRequest(Certificate {
                encoding: CertEncoding::X509Signature,
                data: req,
            }))
            .map_err(enc)?;
        }
        c.push(&Payload::Authentication(Authentication::new(auth_method, &auth))).map_err(enc)?;
        if self.config.initial_contact {
            c.push(&Payload::Notify(Notify::new(NotifyType::InitialContact, &[]))).map_err(enc)?;
        }
        if self.config.request_internal_address {
            c.push(&Payload::Configuration(create_child::CpRequest::request_payload())).map_err(enc)?;
        }
        if self.config.child.mode == EspMode::Transport {
            c.push(&Payload::Notify(Notify::new(NotifyType::UseTransportMode, &[]))).map_err(enc)?;
        }
        c.push(&Payload::SecurityAssociation(SecurityAssociation { proposals })).map_err(enc)?;
        c.push(&Payload::TrafficSelectorsInitiator(TrafficSelectors::new(
            self.config.child.local_ts.clone(),
        )))
        .map_err(enc)?;
        c.push(&Payload::TrafficSelectorsResponder(TrafficSelectors::new(
            self.config.child.remote_ts.clone(),
        )))
        .map_err(enc)?;
        let first = c.finish();
        self.protect(ExchangeType::IkeAuth, 1, &inner, first)
    }

    fn on_auth_response(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?;
        let opened = open(&suite, keys.sender(false), m)?;
        let p = auth_payloads(opened.first_inner, &opened.chain, self.role == Role::Responder)?;
        // The message is authentic (integrity checked with SK_ar): errors in it are final.
        let outcome = self.finish_initiator(&suite, keys, &p);
        match outcome {
            Ok((event, peer_certificate)) => {
                self.peer_certificate = peer_certificate;
                self.peer_next_id = 0;
                self.own_next_id = 2;
                self.state = State::Established;
                self.timers = [None; TIMER_COUNT];
                self.adopt_first_child(now, &event);
                self.events.push_back(event);
                self.pump(now);
                Ok(())
            }
            Err(e) => {
                self.fail(e.clone());
                Err(e)
            }
        }
    }

    fn finish_initiator(
        &self,
        suite: &IkeSuite,
        keys: &IkeKeys,
        p: &AuthPayloads<'_>,
    ) -> Result<(Event, Option<X509Certificate>), Error> {
        let refused = match p.error {
            Some(NotifyType::AuthenticationFailed) => return Err(Error::AuthenticationFailed),
            Some(NotifyType::NoProposalChosen | NotifyType::TsUnacceptable) => Some(Error::NoProposalChosen),
            Some(_) => Some(Error::UnexpectedMessage("IKE_AUTH refused")),
            None => None,
        };
        // RFC 7296 §1.2: a refused Child SA can come with IDr and AUTH; the responder is
        // authenticated first, then the refusal reported.
        let (Some((id, id_body)), Some(auth)) = (p.id.as_ref(), p.auth.as_ref()) else {
            return Err(refused.unwrap_or(Error::UnexpectedMessage("IKE_AUTH response without IDr or AUTH")));
        };
        let peer_certificate = self.check_peer_auth(suite, keys, id, id_body, &p.certs, auth)?;
        if let Some(refused) = refused {
            let event = Event::EstablishedWithoutChild {
                suite: *suite,
                peer_id: Identity { id_type: id.id_type, data: id.data.to_vec() },
                nat: self.nat,
                refused,
            };
            return Ok((event, peer_certificate));
        }
        let sa = p.sa.as_ref().ok_or(Error::NoProposalChosen)?;
        let [proposal] = sa.proposals.as_slice() else {
            return Err(Error::UnexpectedMessage("responder must choose one ESP proposal"));
        };
        let spi_out: [u8; 4] =
            proposal.spi.try_into().map_err(|_| Error::UnexpectedMessage("ESP SPI size"))?;
        let (enc, integ) = self
            .config
            .child
            .proposals
            .iter()
            .copied()
            .find(|(e, a)| {
                proposal.protocol_id == ProtocolId::Esp
                    && esp_transforms(*e, *a)
                        .is_some_and(|t| offers(proposal, &t) && proposal.transforms.len() <= t.len())
            })
            .ok_or(Error::NoProposalChosen)?;
        let transport = p.transport;
        if transport != (self.config.child.mode == EspMode::Transport) {
            return Err(Error::NoProposalChosen);
        }
        let (local_ts, remote_ts) = if transport && self.nat.nat_detected() {
            // RFC 7296 §2.23.1: behind a NAT in transport mode the responder answers with
            // the addresses it sees; we keep our own view of them.
            let own = |answer: &[TrafficSelector<'static>], ours: &[TrafficSelector<'static>]| {
                nat_transport_view(answer, ours).ok_or(Error::NoProposalChosen)
            };
            (own(&p.tsi, &self.config.child.local_ts)?, own(&p.tsr, &self.config.child.remote_ts)?)
        } else if within(&p.tsi, &self.config.child.local_ts) && within(&p.tsr, &self.config.child.remote_ts)
        {
            (p.tsi.clone(), p.tsr.clone())
        } else {
            return Err(Error::NoProposalChosen);
        };
        let (i2r, r2i) = child_keys(suite.prf, &keys.sk_d, None, &self.ni, &self.nr, enc, integ)?;
        let child = self.child_sa(u32::from_be_bytes(spi_out), enc, integ, r2i, i2r);
        let event = Event::Established {
            child,
            suite: *suite,
            peer_id: Identity { id_type: id.id_type, data: id.data.to_vec() },
            nat: self.nat,
            local_ts,
            remote_ts,
            internal: p.cp_reply.clone(),
            initial_contact: false,
        };
        Ok((event, peer_certificate))
    }

    fn child_sa(
        &self,
        spi_out: u32,
        encryption: EspEncryption,
        integrity: EspIntegrity,
        keys_in: crate::child::EspKeys,
        keys_out: crate::child::EspKeys,
    ) -> ChildSa {
        let hard = self.config.child.lifetime;
        let soft = Lifetime { time: hard.time.map(|t| t * 9 / 10), bytes: hard.bytes.map(|b| b / 10 * 9) };
        ChildSa {
            spi_in: self.child_spi,
            spi_out,
            encryption,
            integrity,
            keys_in,
            keys_out,
            mode: self.config.child.mode,
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

    // --- responder ----------------------------------------------------------------------

    /// The first of the initiator's proposals (its preference) that one of our suites
    /// fully matches.
    fn choose_suite(&self, sa: &SecurityAssociation<'_>) -> Option<(u8, IkeSuite)> {
        sa.proposals.iter().filter(|p| p.protocol_id == ProtocolId::Ike && p.spi.is_empty()).find_map(|p| {
            self.config.proposals.iter().find(|s| offers(p, &s.transforms())).map(|s| (p.number, *s))
        })
    }

    /// An unprotected IKE_SA_INIT error response (RFC 7296 §1.2, §2.6).
    fn init_error(&mut self, m: &Message<'_>, notify: Notify<'_>) -> Result<(), Error> {
        let header = Header::new(m.header.initiator_spi, [0; 8], ExchangeType::IkeSaInit, Flags::RESPONSE, 0);
        let mut out = Vec::new();
        let mut b = MessageBuilder::new(&mut out, &header);
        b.push(&Payload::Notify(notify)).map_err(|_| Error::Configuration("notify does not encode"))?;
        b.finish().map_err(|_| Error::Configuration("notify does not encode"))?;
        // Stateless: nothing is remembered but the datagram to send.
        self.last_response = Some(out);
        self.last_response_encapsulated = false;
        self.response_pending = true;
        Ok(())
    }

    fn on_init_request(&mut self, _now: Instant, m: &Message<'_>, data: &[u8]) -> Result<(), Error> {
        if let Some(t) = m.unsupported_critical_payload()? {
            // RFC 7296 §2.5: refuse the whole message, naming the payload type.
            self.init_error(m, Notify::unsupported_critical_payload(t))?;
            return Err(Error::UnexpectedMessage("unsupported critical payload"));
        }
        let p = init_payloads(m)?;
        let sa = p.sa.as_ref().ok_or(Error::UnexpectedMessage("IKE_SA_INIT without SA"))?;
        let (ke_group, ke_data) = p.ke.ok_or(Error::UnexpectedMessage("IKE_SA_INIT without KE"))?;
        let ni = p.nonce.ok_or(Error::UnexpectedMessage("IKE_SA_INIT without nonce"))?;
        if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&ni.len()) {
            return Err(Error::UnexpectedMessage("nonce length"));
        }
        let Some((number, suite)) = self.choose_suite(sa) else {
            self.init_error(m, Notify::new(NotifyType::NoProposalChosen, &[]))?;
            return Err(Error::NoProposalChosen);
        };
        if ke_group != suite.group.id() {
            // RFC 7296 §1.2: tell the initiator which group to use; keep no state.
            let wanted = suite.group.id().to_be_bytes();
            return self.init_error(m, Notify::new(NotifyType::InvalidKePayload, &wanted));
        }
        let kx = KeyExchange::generate(suite.group, &mut self.rng);
        let g_ir = kx.shared_secret(ke_data)?;
        let spi_i = m.header.initiator_spi;
        let mut spi_r = [0u8; 8];
        while spi_r == [0; 8] {
            self.rng.fill_bytes(&mut spi_r);
        }
        let mut nr = vec![0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nr);
        let keys = IkeKeys::derive(&suite, ni, &nr, g_ir.as_bytes(), &spi_i, &spi_r)?;
        // Commit.
        self.spi_i = spi_i;
        let nat = self.check_nat(&[0; 8], &p).unwrap_or_default();
        self.spi_r = spi_r;
        self.nat = nat;
        let (src, dst) = self.nat_hashes(&spi_r);
        let header = Header::new(spi_i, spi_r, ExchangeType::IkeSaInit, Flags::RESPONSE, 0);
        let mut out = Vec::new();
        let mut b = MessageBuilder::new(&mut out, &header);
        let enc = |_| Error::Configuration("IKE_SA_INIT does not encode");
        let proposal = Proposal::new(number, ProtocolId::Ike, &[], suite.transforms());
        b.push(&Payload::SecurityAssociation(SecurityAssociation { proposals: vec![proposal] }))
            .map_err(enc)?;
        b.push(&Payload::KeyExchange(crate::wire::v2::KeyExchange::new(
            group_id(suite.group),
            kx.public_value(),
        )))
        .map_err(enc)?;
        b.push(&Payload::Nonce(&nr)).map_err(enc)?;
        b.push(&Payload::Notify(Notify::new(NotifyType::NatDetectionSourceIp, &src))).map_err(enc)?;
        b.push(&Payload::Notify(Notify::new(NotifyType::NatDetectionDestinationIp, &dst))).map_err(enc)?;
        if let Some(cert) = &self.config.certificate {
            // RFC 7296 §3.7: the responder asks for a certificate in IKE_SA_INIT.
            let (_, certreq) = self.cert_payload_data();
            if let Some(req) = &certreq {
                let req = Certificate { encoding: CertEncoding::X509Signature, data: req };
                b.push(&Payload::CertificateRequest(req)).map_err(enc)?;
            }
            if cert.rfc7427 && !p.signature_hashes.is_empty() {
                let hashes = signature_hash_algorithms_data();
                b.push(&Payload::Notify(Notify::new(NotifyType::SignatureHashAlgorithms, &hashes)))
                    .map_err(enc)?;
            }
        }
        let fragmentation = p.fragmentation && self.config.fragment_size.is_some();
        if fragmentation {
            b.push(&Payload::Notify(Notify::new(NotifyType::Ikev2FragmentationSupported, &[])))
                .map_err(enc)?;
        }
        b.finish().map_err(enc)?;
        self.frag.negotiated = fragmentation;
        self.peer_signature_hashes.clone_from(&p.signature_hashes);
        self.suite = Some(suite);
        self.kx = Some(kx);
        self.ni = ni.to_vec();
        self.nr = nr;
        self.keys = Some(keys);
        self.child_spi = self.random_spi();
        self.init_request = data.to_vec();
        self.init_response.clone_from(&out);
        self.state = State::InitReplied;
        self.send_response(data, out, false);
        Ok(())
    }

    fn on_auth_request(&mut self, now: Instant, m: &Message<'_>, data: &[u8]) -> Result<(), Error> {
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = self.keys.clone().ok_or(Error::Configuration("no IKE SA keys"))?;
        let opened = open(&suite, keys.sender(true), m)?;
        let p = auth_payloads(opened.first_inner, &opened.chain, self.role == Role::Responder)?;
        let (id, id_body) = p.id.as_ref().ok_or(Error::UnexpectedMessage("IKE_AUTH without IDi"))?;
        if self.eap.is_some() {
            // RFC 7296 §2.16: EAP is required of the initiator; its first IKE_AUTH
            // request carries no AUTH.
            if p.auth.is_none() {
                return self.eap_first_request(&suite, &keys, &opened, data);
            }
            self.auth_failed(data, 1, Error::AuthenticationFailed)?;
            return Err(Error::AuthenticationFailed);
        }
        let auth = p.auth.as_ref().ok_or(Error::UnexpectedMessage("IKE_AUTH without AUTH"))?;
        let checked = self.check_peer_auth(&suite, &keys, id, id_body, &p.certs, auth);
        if let Err(error) = checked {
            // RFC 7296 §2.21.2: answer AUTHENTICATION_FAILED and forget the IKE SA.
            self.auth_failed(data, 1, error.clone())?;
            return Err(error);
        }
        let peer_certificate = checked.ok().flatten();
        let peer_id = Identity { id_type: id.id_type, data: id.data.to_vec() };
        let (own_method, own_auth) = self.own_auth(&suite, &keys)?;
        let (certs, _) = self.cert_payload_data();
        let local_id = self.config.local_id.clone();
        let mut head =
            vec![Payload::IdentificationResponder(Identification::new(local_id.id_type, &local_id.data))];
        head.extend(certs.iter().map(|der| {
            Payload::Certificate(Certificate { encoding: CertEncoding::X509Signature, data: der })
        }));
        head.push(Payload::Authentication(Authentication::new(own_method, &own_auth)));
        self.peer_certificate = peer_certificate;
        self.finish_auth_response(now, &keys, &p, peer_id, &head, 1, data)
    }

    /// RFC 7296 §2.21.2: answers the IKE_AUTH request `message_id` with
    /// AUTHENTICATION_FAILED and ends the IKE SA.
    fn auth_failed(&mut self, data: &[u8], message_id: u32, error: Error) -> Result<(), Error> {
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        c.push(&Payload::Notify(Notify::new(NotifyType::AuthenticationFailed, &[])))
            .map_err(|_| Error::Configuration("notify"))?;
        let first = c.finish();
        let out = self.protect(ExchangeType::IkeAuth, message_id, &inner, first)?;
        self.send_response(data, out, self.nat.nat_detected());
        self.fail(error);
        Ok(())
    }

    /// The last IKE_AUTH response: `head` (IDr, CERT and AUTH, or with EAP only the AUTH
    /// keyed with the MSK), the CP reply, the first Child SA (or why not); sends it as
    /// the answer to request `message_id` and establishes the IKE SA. `p` holds the
    /// payloads of the initiator's first IKE_AUTH request.
    #[allow(clippy::too_many_arguments)]
    fn finish_auth_response(
        &mut self,
        now: Instant,
        keys: &IkeKeys,
        p: &AuthPayloads<'_>,
        peer_id: Identity,
        head: &[Payload<'_>],
        message_id: u32,
        data: &[u8],
    ) -> Result<(), Error> {
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let encapsulated = self.nat.nat_detected();
        let child = self.choose_child(p);
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        let enc = |_| Error::Configuration("IKE_AUTH does not encode");
        for payload in head {
            c.push(payload).map_err(enc)?;
        }
        // RFC 7296 §2.19: answer a CFG_REQUEST with what the owner configured.
        let assigned = match (&p.cp_request, &self.config.internal_config) {
            (Some(asked), Some(cfg)) => {
                let attributes = cfg.reply_attributes(asked);
                c.push(&Payload::Configuration(crate::wire::v2::Configuration::new(
                    crate::wire::v2::CfgType::Reply,
                    attributes,
                )))
                .map_err(enc)?;
                Some(InternalConfig {
                    address: cfg.address.filter(|_| asked.address),
                    dns: if asked.dns { cfg.dns.clone() } else { Vec::new() },
                })
            }
            _ => None,
        };
        let spi = self.child_spi.to_be_bytes();
        let event = match &child {
            Ok((number, enc_alg, integ, spi_out, tsi, tsr)) => {
                if self.config.child.mode == EspMode::Transport {
                    c.push(&Payload::Notify(Notify::new(NotifyType::UseTransportMode, &[]))).map_err(enc)?;
                }
                let t = esp_transforms(*enc_alg, *integ).ok_or(Error::NoProposalChosen)?;
                let proposal = Proposal::new(*number, ProtocolId::Esp, &spi, t);
                c.push(&Payload::SecurityAssociation(SecurityAssociation { proposals: vec![proposal] }))
                    .map_err(enc)?;
                c.push(&Payload::TrafficSelectorsInitiator(TrafficSelectors::new(tsi.clone())))
                    .map_err(enc)?;
                c.push(&Payload::TrafficSelectorsResponder(TrafficSelectors::new(tsr.clone())))
                    .map_err(enc)?;
                let (i2r, r2i) =
                    child_keys(suite.prf, &keys.sk_d, None, &self.ni, &self.nr, *enc_alg, *integ)?;
                let child = self.child_sa(*spi_out, *enc_alg, *integ, i2r, r2i);
                Event::Established {
                    child,
                    suite,
                    peer_id,
                    nat: self.nat,
                    local_ts: tsr.clone(),
                    remote_ts: tsi.clone(),
                    internal: assigned.clone(),
                    initial_contact: p.initial_contact,
                }
            }
            Err(notify) => {
                c.push(&Payload::Notify(Notify::new(*notify, &[]))).map_err(enc)?;
                // RFC 7296 §1.2: the IKE SA is up even though the Child SA is not.
                Event::EstablishedWithoutChild {
                    suite,
                    peer_id,
                    nat: self.nat,
                    refused: Error::NoProposalChosen,
                }
            }
        };
        let first = c.finish();
        let out = self.protect(ExchangeType::IkeAuth, message_id, &inner, first)?;
        self.send_response(data, out, encapsulated);
        self.peer_next_id = message_id.wrapping_add(1);
        self.own_next_id = 0;
        self.state = State::Established;
        self.timers = [None; TIMER_COUNT];
        self.adopt_first_child(now, &event);
        self.events.push_back(event);
        Ok(())
    }

    /// The ESP proposal (initiator's preference), mode and narrowed selectors, or the
    /// error notification to answer with.
    #[allow(clippy::type_complexity)]
    fn choose_child(
        &self,
        p: &AuthPayloads<'_>,
    ) -> Result<
        (u8, EspEncryption, EspIntegrity, u32, Vec<TrafficSelector<'static>>, Vec<TrafficSelector<'static>>),
        NotifyType,
    > {
        let sa = p.sa.as_ref().ok_or(NotifyType::NoProposalChosen)?;
        let (number, enc, integ, spi) = sa
            .proposals
            .iter()
            .filter(|pr| pr.protocol_id == ProtocolId::Esp)
            .find_map(|pr| {
                let spi: [u8; 4] = pr.spi.try_into().ok()?;
                self.config
                    .child
                    .proposals
                    .iter()
                    .find(|(e, a)| esp_transforms(*e, *a).is_some_and(|t| offers(pr, &t)))
                    .map(|(e, a)| (pr.number, *e, *a, u32::from_be_bytes(spi)))
            })
            .ok_or(NotifyType::NoProposalChosen)?;
        if (self.config.child.mode == EspMode::Transport) != p.transport {
            return Err(NotifyType::NoProposalChosen);
        }
        let tsi = narrow(&p.tsi, &self.config.child.remote_ts);
        let tsr = narrow(&p.tsr, &self.config.child.local_ts);
        if tsi.is_empty() || tsr.is_empty() {
            return Err(NotifyType::TsUnacceptable);
        }
        Ok((number, enc, integ, spi, tsi, tsr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ts(a: [u8; 4], b: [u8; 4], proto: u8, ports: (u16, u16)) -> TrafficSelector<'static> {
        TrafficSelector::Ipv4 {
            ip_protocol: proto,
            start_port: ports.0,
            end_port: ports.1,
            start: Ipv4Addr::from(a),
            end: Ipv4Addr::from(b),
        }
    }

    /// RFC 7296 §2.9 narrowing: protocol "any" yields to a specific one, port and
    /// address ranges intersect, disjoint ranges give nothing.
    #[test]
    fn traffic_selector_narrowing() {
        let any = TrafficSelector::IPV4_ANY;
        let l2tp = ts([10, 0, 0, 1], [10, 0, 0, 1], 17, (1701, 1701));
        assert_eq!(narrow(&[any], &[l2tp]), vec![l2tp]);
        let net = ts([10, 0, 0, 0], [10, 0, 0, 255], 0, (0, 65535));
        let other = ts([10, 0, 1, 0], [10, 0, 1, 255], 0, (0, 65535));
        assert!(narrow(&[net], &[other]).is_empty());
        let tcp = ts([10, 0, 0, 1], [10, 0, 0, 1], 6, (0, 65535));
        assert!(intersect(&l2tp, &tcp).is_none());
        assert!(within(&[l2tp], &[any]));
        assert!(!within(&[any], &[l2tp]));
        assert!(!within(&[], &[any]));
    }

    /// RFC 7296 §2.23.1: the NAT's addresses in an answer are replaced by ours; protocol
    /// and ports still have to fit.
    #[test]
    fn nat_transport_view_keeps_our_addresses() {
        let ours = ts([10, 0, 0, 2], [10, 0, 0, 2], 17, (1701, 1701));
        let seen_by_nat = ts([198, 51, 100, 7], [198, 51, 100, 7], 17, (1701, 1701));
        assert_eq!(nat_transport_view(&[seen_by_nat], &[ours]), Some(vec![ours]));
        // Narrowed ports are kept, on our address.
        let wide = ts([10, 0, 0, 2], [10, 0, 0, 2], 17, (0, 65535));
        assert_eq!(nat_transport_view(&[seen_by_nat], &[wide]), Some(vec![ours]));
        // Other protocol or ports than ours: refused.
        let tcp = ts([198, 51, 100, 7], [198, 51, 100, 7], 6, (1701, 1701));
        assert_eq!(nat_transport_view(&[tcp], &[ours]), None);
        let port = ts([198, 51, 100, 7], [198, 51, 100, 7], 17, (1702, 1702));
        assert_eq!(nat_transport_view(&[port], &[ours]), None);
        assert_eq!(nat_transport_view(&[], &[ours]), None);
    }

    /// RFC 7296 §2.23: SHA-1 over SPIi | SPIr | IPv4 address | port.
    #[test]
    fn nat_detection_hash_input() {
        let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let h = nat_hash(&[1; 8], &[2; 8], a);
        let expect = PrfAlgorithm::HmacSha1.hash(&[&[1; 8], &[2; 8], &[192, 0, 2, 1], &[0x01, 0xf4]]);
        assert_eq!(h, expect.as_bytes());
        assert_ne!(h, nat_hash(&[1; 8], &[2; 8], "192.0.2.1:4500".parse().unwrap()));
    }
}

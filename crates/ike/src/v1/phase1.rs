//! IKEv1 phase 1 with pre-shared key authentication: Main Mode (RFC 2409 §5, §5.4) and
//! Aggressive Mode (§5, §5.4), both roles, as one sans-IO machine, [`Phase1`].
//!
//! ```text
//! Initiator                         Responder
//!  MM1  HDR, SA               -->
//!                             <--   MM2  HDR, SA
//!  MM3  HDR, KE, Ni           -->
//!                             <--   MM4  HDR, KE, Nr
//!  MM5  HDR*, IDii, HASH_I    -->
//!                             <--   MM6  HDR*, IDir, HASH_R
//!
//!  AM1  HDR, SA, KE, Ni, IDii -->
//!                             <--   AM2  HDR, SA, KE, Nr, IDir, HASH_R
//!  AM3  HDR*, HASH_I          -->
//! ```
//!
//! Aggressive Mode with a pre-shared key exposes a hash an eavesdropper can attack
//! offline; a responder accepts it only with [`Phase1Config::allow_aggressive`].
//!
//! Drive it like every l2sec machine: after [`Phase1::handle_input`] or
//! [`Phase1::handle_timeout`], drain [`Phase1::poll_transmit`] and
//! [`Phase1::poll_event`] until both return `None`, then sleep until
//! [`Phase1::poll_timeout`].
//!
//! NAT traversal (RFC 3947): with [`Phase1Config::nat_traversal`] set, both sides send
//! the NAT-T Vendor IDs in MM1/MM2 and NAT-D payloads in MM3/MM4; when a NAT is detected
//! (or encapsulation is forced) MM5 onwards go to port 4500 ([`Transmit::udp_encapsulated`])
//! and the result is reported in [`Event::Established`].
//!
//! With [`Phase1Config::certificate`] set, Main Mode and Aggressive Mode authenticate
//! with RSA signatures and X.509 certificates instead (RFC 2409 §5.1, auth method 3):
//! see [`super::sig`].
//!
//! Not yet done (later sessions): INITIAL-CONTACT, DPD, notifications to the peer on
//! failure, lifetime expiry.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_core::CryptoRng;

use super::crypt::{self, IvChain};
use super::keys::{Phase1Exchange, Phase1Keys, SecretBytes, skeyid_psk, skeyid_signature};
use super::natt::{VENDOR_ID_DPD, VENDOR_ID_NAT_T_DRAFT_02N, VENDOR_ID_RFC3947, nat_discovery_hash};
use super::sig::{self as sig_auth, SignaturePayloads};
use crate::cert::{Certificate as X509Certificate, CertificateAuth};
use crate::crypto::{CipherAlgorithm, DhGroup, KeyExchange, PrfAlgorithm, PrfOutput};
use crate::error::Error;
use crate::wire::v1::{
    Attribute, AttributeValue, AuthMethod, CertEncoding, Certificate, DOI_IPSEC, ExchangeType, Flags, Header,
    IdType, Identification, IkeAttributeType, KEY_IKE, Message, MessageRepr, Notification, NotifyType,
    Payload, PayloadType, Proposal, ProtocolId, SecurityAssociation, Transform, encode_payload_chain,
    parse_payload_chain,
};

/// Length of the nonces we send (RFC 2409 §5: 8 to 256 bytes).
const NONCE_LEN: usize = 32;
/// RFC 2407 §4.6.1 SIT_IDENTITY_ONLY.
const SIT_IDENTITY_ONLY: u32 = 1;
/// Largest message kept for duplicate detection.
const MAX_REMEMBERED: usize = 4096;

/// One acceptable set of ISAKMP SA algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase1Proposal {
    /// Cipher protecting phase-1/2 messages.
    pub encryption: CipherAlgorithm,
    /// Hash (and HMAC PRF).
    pub hash: PrfAlgorithm,
    /// Diffie-Hellman group.
    pub group: DhGroup,
    /// ISAKMP SA lifetime.
    pub lifetime: Duration,
}

impl Phase1Proposal {
    /// RFC 2409 Appendix A attributes of this proposal with authentication `auth`.
    /// `lifetime` holds the 4-byte lifetime for the variable form.
    fn attributes<'a>(&self, lifetime: &'a [u8; 4], auth: AuthMethod) -> Vec<Attribute<'a>> {
        let mut a = Vec::with_capacity(7);
        let (enc, key_bits) = match self.encryption {
            CipherAlgorithm::TripleDesCbc => (5, None),
            CipherAlgorithm::AesCbc128 => (7, Some(128)),
            CipherAlgorithm::AesCbc192 => (7, Some(192)),
            // AesCbc256 and any later addition.
            _ => (7, Some(256)),
        };
        a.push(Attribute::basic(IkeAttributeType::EncryptionAlgorithm.into(), enc));
        if let Some(bits) = key_bits {
            a.push(Attribute::basic(IkeAttributeType::KeyLength.into(), bits));
        }
        a.push(Attribute::basic(IkeAttributeType::HashAlgorithm.into(), self.hash.ikev1_hash_id()));
        a.push(Attribute::basic(IkeAttributeType::AuthenticationMethod.into(), auth.into()));
        a.push(Attribute::basic(IkeAttributeType::GroupDescription.into(), self.group.id()));
        a.push(Attribute::basic(IkeAttributeType::LifeType.into(), 1));
        let secs = self.lifetime.as_secs().min(u64::from(u32::MAX));
        a.push(match u16::try_from(secs) {
            Ok(s) => Attribute::basic(IkeAttributeType::LifeDuration.into(), s),
            Err(_) => Attribute {
                kind: IkeAttributeType::LifeDuration.into(),
                value: AttributeValue::Variable(lifetime),
            },
        });
        a
    }

    /// Reads a phase-1 transform; `None` unless it is KEY_IKE with authentication `want`
    /// and algorithms this crate implements.
    fn from_transform(t: &Transform<'_>, want: AuthMethod) -> Option<Self> {
        if t.transform_id != KEY_IKE {
            return None;
        }
        let enc = t.basic(IkeAttributeType::EncryptionAlgorithm.into())?;
        let key_bits = t.basic(IkeAttributeType::KeyLength.into());
        let encryption = CipherAlgorithm::from_ikev1(enc, key_bits)?;
        let hash = PrfAlgorithm::from_ikev1_hash(t.basic(IkeAttributeType::HashAlgorithm.into())?)?;
        let auth = t.basic(IkeAttributeType::AuthenticationMethod.into())?;
        if !sig_auth::same_auth_family(AuthMethod::from(auth), want) {
            return None;
        }
        let group = DhGroup::from_id(t.basic(IkeAttributeType::GroupDescription.into())?).ok()?;
        if t.attributes.iter().any(|a| a.kind == u16::from(IkeAttributeType::Prf)) {
            return None; // RFC 2409: no PRF is defined besides the HMAC form; refuse others.
        }
        // RFC 2409 Appendix A: life pairs (the kilobyte one is read by `kilobytes_of`).
        let lifetime = super::lifetime::parse_life(
            t,
            IkeAttributeType::LifeType.into(),
            IkeAttributeType::LifeDuration.into(),
        )
        .duration();
        Some(Self { encryption, hash, group, lifetime })
    }

    fn same_algorithms(&self, other: &Self) -> bool {
        self.encryption == other.encryption && self.hash == other.hash && self.group == other.group
    }
}

/// A phase-1 identity (RFC 2407 §4.6.2), owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// ID type.
    pub id_type: IdType,
    /// ID data (address bytes, FQDN text, ...).
    pub data: Vec<u8>,
}

impl Identity {
    /// An ID_IPV4_ADDR identity.
    #[must_use]
    pub fn ipv4(addr: std::net::Ipv4Addr) -> Self {
        Self { id_type: IdType::Ipv4Addr, data: addr.octets().to_vec() }
    }

    /// An ID_FQDN identity.
    #[must_use]
    pub fn fqdn(name: &str) -> Self {
        Self { id_type: IdType::Fqdn, data: name.as_bytes().to_vec() }
    }

    fn payload(&self) -> Identification<'_> {
        // RFC 2409 §5: in phase 1 the protocol/port are 0/0 or UDP/500.
        Identification { id_type: self.id_type, protocol_id: 17, port: 500, data: &self.data }
    }
}

/// Addresses for NAT detection (RFC 3947 §3), as this endpoint sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatTraversal {
    /// Our address and IKE port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// Claim to be behind a NAT (send a bogus NAT-D for our address) so that ESP is
    /// UDP-encapsulated even without a NAT (strongSwan's `encap = yes`).
    pub force_encapsulation: bool,
}

/// Which NAT-T dialect the peers agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatTVariant {
    /// RFC 3947 (NAT-D = 20, NAT-OA = 21, encapsulation modes 3/4).
    Rfc3947,
    /// draft-ietf-ipsec-nat-t-ike-02/03 (NAT-D = 130, NAT-OA = 131, modes 61443/61444).
    Draft,
}

/// The outcome of NAT detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatStatus {
    /// The negotiated NAT-T dialect.
    pub variant: NatTVariant,
    /// Our address is translated (or we forced encapsulation).
    pub local_behind_nat: bool,
    /// The peer's address is translated (or the peer forced encapsulation).
    pub remote_behind_nat: bool,
}

impl NatStatus {
    /// ESP must be UDP-encapsulated and IKE moves to port 4500.
    #[must_use]
    pub const fn nat_detected(&self) -> bool {
        self.local_behind_nat || self.remote_behind_nat
    }
}

/// Settings of a Main Mode exchange.
#[derive(Debug, Clone)]
pub struct Phase1Config {
    /// The pre-shared key.
    pub psk: SecretBytes,
    /// Our identity, sent in MM5/MM6.
    pub local_id: Identity,
    /// Acceptable proposals, most preferred first (the initiator offers them in order).
    pub proposals: Vec<Phase1Proposal>,
    /// First retransmission delay; doubles on every retry.
    pub retransmit_timeout: Duration,
    /// Retransmissions before giving up.
    pub max_retransmits: u32,
    /// The whole exchange must finish within this.
    pub handshake_timeout: Duration,
    /// NAT traversal (RFC 3947); `None` sends no NAT-T Vendor IDs and never floats.
    pub nat_traversal: Option<NatTraversal>,
    /// Responder: also answer Aggressive Mode (off by default).
    pub allow_aggressive: bool,
    /// Announce RFC 3706 Dead Peer Detection support (Vendor ID); on by default.
    pub dpd: bool,
    /// Initiator: send INITIAL-CONTACT (RFC 2407 §4.6.3.3) with MM5/AM3, telling the
    /// responder to drop older SAs with us; on by default.
    pub initial_contact: bool,
    /// Authenticate with signatures and X.509 certificates (auth method 3 for an RSA key,
    /// RFC 4754 methods 9 / 10 for ECDSA P-256 / P-384) instead of the pre-shared key, and
    /// require the same of the peer; `None` by default.
    pub certificate: Option<CertificateAuth>,
    /// RFC 2407 §4.5 / RFC 2409 Appendix A: kilobyte lifetime of the ISAKMP SA (the bytes
    /// of the encrypted IKE messages it protects): offered by an initiator, the maximum a
    /// responder accepts; `None` (default) offers none and accepts the peer's.
    pub lifetime_kilobytes: Option<u64>,
}

impl Phase1Config {
    /// A configuration with defaults: AES-128/SHA-1/MODP-2048 then AES-256/SHA-256/MODP-2048,
    /// 8 h lifetime, 1 s first retransmission, 5 retries, 30 s handshake limit.
    #[must_use]
    pub fn new(psk: &[u8], local_id: Identity) -> Self {
        let lifetime = Duration::from_secs(28_800);
        Self {
            psk: SecretBytes::new(psk.to_vec()),
            local_id,
            proposals: vec![
                Phase1Proposal {
                    encryption: CipherAlgorithm::AesCbc128,
                    hash: PrfAlgorithm::HmacSha1,
                    group: DhGroup::Modp2048,
                    lifetime,
                },
                Phase1Proposal {
                    encryption: CipherAlgorithm::AesCbc256,
                    hash: PrfAlgorithm::HmacSha256,
                    group: DhGroup::Modp2048,
                    lifetime,
                },
            ],
            retransmit_timeout: Duration::from_secs(1),
            max_retransmits: 5,
            handshake_timeout: Duration::from_secs(30),
            nat_traversal: None,
            allow_aggressive: false,
            dpd: true,
            initial_contact: true,
            certificate: None,
            lifetime_kilobytes: None,
        }
    }

    /// The phase-1 authentication method offered: with [`Self::certificate`] the one of
    /// its key (RSA signatures, or RFC 4754 ECDSA-256/384), else pre-shared key.
    #[must_use]
    pub fn auth_method(&self) -> AuthMethod {
        self.certificate.as_ref().map_or(AuthMethod::PreSharedKey, sig_auth::auth_method)
    }
}

/// Which side of the exchange this machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sent MM1.
    Initiator,
    /// Answered MM1.
    Responder,
}

/// Where the exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Responder waiting for MM1.
    AwaitingSa,
    /// Initiator sent MM1, waits for MM2.
    SentSa,
    /// Responder sent MM2, waits for MM3.
    SentSaReply,
    /// Initiator sent MM3, waits for MM4.
    SentKe,
    /// Responder sent MM4, waits for MM5.
    SentKeReply,
    /// Initiator sent MM5, waits for MM6.
    SentId,
    /// The ISAKMP SA is up.
    Established,
    /// The exchange failed for good.
    Failed,
    /// The ISAKMP SA reached its lifetime and must not be used any more.
    Expired,
}

/// What the owner must know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The ISAKMP SA is established and the peer authenticated.
    Established {
        /// The identity the peer proved.
        peer_id: Identity,
        /// The negotiated algorithms.
        proposal: Phase1Proposal,
        /// NAT detection result, when NAT-T was negotiated.
        nat: Option<NatStatus>,
        /// The peer sent the RFC 3706 DPD Vendor ID.
        peer_supports_dpd: bool,
        /// The initiator sent INITIAL-CONTACT: the owner should delete older SAs with it.
        initial_contact: bool,
    },
    /// The exchange failed and will not recover.
    Failed(Error),
    /// 90 % of the negotiated lifetime has passed: negotiate a new ISAKMP SA now.
    RekeyDue,
    /// The negotiated lifetime is over: delete this ISAKMP SA (and stop using its keys).
    Expired,
}

/// A datagram written by [`Phase1::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Bytes appended to the caller's buffer.
    pub size: usize,
    /// RFC 3947 §4: send from port 4500 to the peer's NAT-T port, with the 4-byte
    /// non-ESP marker (zero) in front of the bytes.
    pub udp_encapsulated: bool,
}

/// The machine's timers, indexing its deadline table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Resend our last message.
    Retransmit = 0,
    /// Give up on an unfinished exchange.
    Handshake = 1,
    /// Soft lifetime (90 %): time to rekey.
    Rekey = 2,
    /// Hard lifetime: the ISAKMP SA is gone.
    Expire = 3,
}

const TIMER_COUNT: usize = 4;

/// Values learned during the exchange.
struct Exchange {
    proposal: Option<Phase1Proposal>,
    kx: Option<KeyExchange>,
    sai_b: Vec<u8>,
    ni_b: Vec<u8>,
    nr_b: Vec<u8>,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    /// Aggressive Mode responder: the initiator's ID payload body and identity from AM1.
    idii: Option<(Vec<u8>, Identity)>,
    /// The authentication method of the SA (ours as initiator, the chosen transform's as
    /// responder); ECDSA methods change the HASH_I/HASH_R PRF (see [`sig_auth::hash_i`]).
    auth: AuthMethod,
    /// The negotiated kilobyte lifetime (the smaller of the peer's and ours).
    kilobytes: Option<u64>,
}

/// An IKEv1 phase-1 exchange (Main or Aggressive Mode, PSK) producing an ISAKMP SA.
pub struct Phase1<R> {
    role: Role,
    exchange: ExchangeType,
    state: State,
    config: Phase1Config,
    rng: R,
    cky_i: [u8; 8],
    cky_r: [u8; 8],
    ex: Exchange,
    keys: Option<Phase1Keys>,
    ivs: Option<IvChain>,
    last_sent: Option<Vec<u8>>,
    send_pending: bool,
    last_received: Option<Vec<u8>>,
    retransmits: u32,
    auth_failures: u32,
    natt: Option<NatTVariant>,
    nat: Option<NatStatus>,
    peer_dpd: bool,
    timers: [Option<Instant>; TIMER_COUNT],
    events: VecDeque<Event>,
    /// Aggressive Mode responder: keys by the initiator's identity.
    psks: Option<super::psk::PskTable>,
    /// The peer's certificate, once it authenticated with one.
    peer_certificate: Option<X509Certificate>,
}

impl<R> core::fmt::Debug for Phase1<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Phase1")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("cky_i", &self.cky_i)
            .field("cky_r", &self.cky_r)
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> Phase1<R> {
    fn new(role: Role, config: Phase1Config, rng: R, now: Instant) -> Self {
        let mut m = Self {
            role,
            state: if role == Role::Initiator { State::SentSa } else { State::AwaitingSa },
            config,
            rng,
            cky_i: [0; 8],
            cky_r: [0; 8],
            ex: Exchange {
                proposal: None,
                kx: None,
                sai_b: Vec::new(),
                ni_b: Vec::new(),
                nr_b: Vec::new(),
                g_xi: Vec::new(),
                g_xr: Vec::new(),
                idii: None,
                auth: AuthMethod::PreSharedKey,
                kilobytes: None,
            },
            exchange: ExchangeType::IdentityProtection,
            keys: None,
            ivs: None,
            last_sent: None,
            send_pending: false,
            last_received: None,
            retransmits: 0,
            auth_failures: 0,
            natt: None,
            nat: None,
            peer_dpd: false,
            timers: [None; TIMER_COUNT],
            events: VecDeque::new(),
            psks: None,
            peer_certificate: None,
        };
        m.timers[Timer::Handshake as usize] = Some(now + m.config.handshake_timeout);
        m.ex.auth = m.config.auth_method();
        m
    }

    /// Starts an exchange as initiator: MM1 is ready in [`Self::poll_transmit`].
    ///
    /// # Errors
    /// [`Error::Configuration`] with no proposals.
    pub fn initiate(config: Phase1Config, rng: R, now: Instant) -> Result<Self, Error> {
        if config.proposals.is_empty() || config.proposals.len() > 255 {
            return Err(Error::Configuration("1 to 255 phase-1 proposals needed"));
        }
        let mut m = Self::new(Role::Initiator, config, rng, now);
        m.rng.fill_bytes(&mut m.cky_i);
        let sai_b = m.offer_sa_body();
        let sa = SecurityAssociation::parse(&sai_b)?;
        let mut payloads = vec![Payload::SecurityAssociation(sa)];
        if m.config.nat_traversal.is_some() {
            payloads.push(Payload::VendorId(&VENDOR_ID_RFC3947));
            payloads.push(Payload::VendorId(&VENDOR_ID_NAT_T_DRAFT_02N));
        }
        if m.config.dpd {
            payloads.push(Payload::VendorId(&VENDOR_ID_DPD));
        }
        let msg = m.plain_message(payloads);
        m.ex.sai_b = sai_b;
        m.send(now, msg);
        Ok(m)
    }

    /// Starts an Aggressive Mode exchange as initiator: AM1 (SA, KE, Ni, IDii) is ready in
    /// [`Self::poll_transmit`]. All proposals must use the same DH group, since AM1 already
    /// carries the public value.
    ///
    /// # Errors
    /// [`Error::Configuration`] with no proposals or mixed groups.
    pub fn initiate_aggressive(config: Phase1Config, rng: R, now: Instant) -> Result<Self, Error> {
        if config.proposals.is_empty() || config.proposals.len() > 255 {
            return Err(Error::Configuration("1 to 255 phase-1 proposals needed"));
        }
        let group = config.proposals[0].group;
        if config.proposals.iter().any(|p| p.group != group) {
            return Err(Error::Configuration("Aggressive Mode proposals must share one DH group"));
        }
        let mut m = Self::new(Role::Initiator, config, rng, now);
        m.exchange = ExchangeType::Aggressive;
        m.rng.fill_bytes(&mut m.cky_i);
        let sai_b = m.offer_sa_body();
        let kx = KeyExchange::generate(group, &mut m.rng);
        let mut ni = vec![0u8; NONCE_LEN];
        m.rng.fill_bytes(&mut ni);
        let g_xi = kx.public_value().to_vec();
        let id = m.config.local_id.clone();
        let sa = SecurityAssociation::parse(&sai_b)?;
        let requests = m.config.certificate.as_ref().map(sig_auth::certificate_requests).unwrap_or_default();
        let mut payloads = vec![
            Payload::SecurityAssociation(sa),
            Payload::KeyExchange(&g_xi),
            Payload::Nonce(&ni),
            Payload::Identification(id.payload()),
        ];
        payloads.extend(requests.iter().map(|ca| cert_request(ca)));
        if m.config.nat_traversal.is_some() {
            payloads.push(Payload::VendorId(&VENDOR_ID_RFC3947));
            payloads.push(Payload::VendorId(&VENDOR_ID_NAT_T_DRAFT_02N));
        }
        if m.config.dpd {
            payloads.push(Payload::VendorId(&VENDOR_ID_DPD));
        }
        let msg = m.plain_message(payloads);
        m.ex.sai_b = sai_b;
        m.ex.kx = Some(kx);
        m.ex.g_xi = g_xi;
        m.ex.ni_b = ni;
        m.send(now, msg);
        Ok(m)
    }

    /// Our offer: one ISAKMP proposal with a transform per configured proposal, encoded
    /// as an SA payload body.
    fn offer_sa_body(&self) -> Vec<u8> {
        let lifetimes: Vec<[u8; 4]> = self
            .config
            .proposals
            .iter()
            .map(|p| u32::try_from(p.lifetime.as_secs()).unwrap_or(u32::MAX).to_be_bytes())
            .collect();
        // RFC 2409 Appendix A: an optional kilobytes pair after the seconds one.
        let kb = self.config.lifetime_kilobytes.map(|k| u32::try_from(k).unwrap_or(u32::MAX).to_be_bytes());
        let sa = SecurityAssociation {
            doi: DOI_IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals: vec![Proposal {
                number: 1,
                protocol_id: ProtocolId::Isakmp,
                spi: &[],
                transforms: self
                    .config
                    .proposals
                    .iter()
                    .zip(&lifetimes)
                    .enumerate()
                    .map(|(i, (p, l))| {
                        let mut attributes = p.attributes(l, self.config.auth_method());
                        if let Some(kb) = &kb {
                            attributes.push(Attribute::basic(
                                IkeAttributeType::LifeType.into(),
                                super::lifetime::LIFE_KILOBYTES,
                            ));
                            attributes.push(Attribute {
                                kind: IkeAttributeType::LifeDuration.into(),
                                value: AttributeValue::Variable(kb),
                            });
                        }
                        Transform {
                            number: u8::try_from(i + 1).unwrap_or(u8::MAX),
                            transform_id: KEY_IKE,
                            attributes,
                        }
                    })
                    .collect(),
            }],
        };
        let mut body = Vec::new();
        sa.encode_body(&mut body);
        body
    }

    /// A responder waiting for MM1.
    #[must_use]
    pub fn respond(config: Phase1Config, rng: R, now: Instant) -> Self {
        Self::new(Role::Responder, config, rng, now)
    }

    /// A responder that answers Aggressive Mode with the key `psks` holds for the
    /// initiator's identity (IDii in AM1), and Main Mode with `config.psk`. An AM1 from
    /// an identity the table does not know is dropped as [`Error::AuthenticationFailed`].
    #[must_use]
    pub fn respond_with_psks(config: Phase1Config, psks: super::psk::PskTable, rng: R, now: Instant) -> Self {
        let mut m = Self::new(Role::Responder, config, rng, now);
        m.psks = Some(psks);
        m
    }

    /// Our role.
    #[must_use]
    pub const fn role(&self) -> Role {
        self.role
    }

    /// Where the exchange stands.
    #[must_use]
    pub const fn state(&self) -> State {
        self.state
    }

    /// The cookies (CKY-I, CKY-R); CKY-R is zero until MM2.
    #[must_use]
    pub const fn cookies(&self) -> ([u8; 8], [u8; 8]) {
        (self.cky_i, self.cky_r)
    }

    /// The ISAKMP SA keys, once derived (after MM3/MM4).
    #[must_use]
    pub fn keys(&self) -> Option<&Phase1Keys> {
        self.keys.as_ref()
    }

    /// What a Quick Mode needs from this ISAKMP SA, once established.
    #[must_use]
    pub fn isakmp_context(&self) -> Option<super::quick::IsakmpContext> {
        if self.state != State::Established {
            return None;
        }
        let keys = self.keys.clone()?;
        let phase1_iv = self.ivs.as_ref()?.iv_for(&keys, 0);
        Some(super::quick::IsakmpContext {
            keys,
            phase1_iv,
            cookies: (self.cky_i, self.cky_r),
            udp_encapsulated: self.floated(),
        })
    }

    /// The IV chain, for the phase-2 exchanges that follow.
    #[must_use]
    pub fn iv_chain(&self) -> Option<&IvChain> {
        self.ivs.as_ref()
    }

    /// Feeds one received ISAKMP datagram (no non-ESP marker). On error the message is
    /// dropped and the machine is unchanged. A message whose HASH does not verify is
    /// dropped too (it may be forged); if the exchange then times out, the failure is
    /// reported as [`Error::AuthenticationFailed`] rather than [`Error::Timeout`].
    ///
    /// # Errors
    /// Why the message was dropped.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        if matches!(self.state, State::Failed | State::Expired) {
            return Err(Error::UnexpectedMessage("exchange failed or SA expired"));
        }
        let message = Message::parse(data)?;
        let h = message.header;
        let aggressive_ok = self.state == State::AwaitingSa && self.config.allow_aggressive;
        let exchange_ok = h.exchange_type == self.exchange
            || (aggressive_ok && h.exchange_type == ExchangeType::Aggressive);
        if !exchange_ok || h.message_id != 0 {
            return Err(Error::UnexpectedMessage("not a message of this phase-1 exchange"));
        }
        if self.state != State::AwaitingSa && h.initiator_spi != self.cky_i {
            return Err(Error::UnexpectedMessage("unknown initiator cookie"));
        }
        if self.last_received.as_deref() == Some(data) {
            // RFC 2408 §5.? / common practice: a repeated message means our answer was
            // lost; send it again.
            // In Aggressive Mode a repeated AM2 means AM3 was lost.
            let aggressive_initiator = self.exchange == ExchangeType::Aggressive
                && self.role == Role::Initiator
                && self.state == State::Established;
            if self.last_sent.is_some() && (self.role == Role::Responder || aggressive_initiator) {
                self.send_pending = true;
            }
            return Ok(());
        }
        let result = match (self.role, self.state) {
            (Role::Responder, State::AwaitingSa) if h.exchange_type == ExchangeType::Aggressive => {
                self.on_am1(now, &message)
            }
            (Role::Initiator, State::SentSa) if self.exchange == ExchangeType::Aggressive => {
                self.on_am2(now, &message)
            }
            (Role::Responder, State::SentSaReply) if self.exchange == ExchangeType::Aggressive => {
                self.on_am3(now, &message)
            }
            (Role::Responder, State::AwaitingSa) => self.on_mm1(now, &message),
            (Role::Initiator, State::SentSa) => self.on_mm2(now, &message),
            (Role::Responder, State::SentSaReply) => self.on_mm3(now, &message),
            (Role::Initiator, State::SentKe) => self.on_mm4(now, &message),
            (Role::Responder, State::SentKeReply) => self.on_mm5(now, &message),
            (Role::Initiator, State::SentId) => self.on_mm6(now, &message),
            _ => Err(Error::UnexpectedMessage("no message expected in this state")),
        };
        match result {
            Ok(()) => {
                if data.len() <= MAX_REMEMBERED {
                    self.last_received = Some(data.to_vec());
                }
                Ok(())
            }
            Err(e @ (Error::AuthenticationFailed | Error::Certificate(_))) => {
                // A forged message must not end the exchange: drop it, remember the
                // failure, and report it if the exchange later gives up.
                self.auth_failures = self.auth_failures.saturating_add(1);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs the timers due at `now`: retransmission, or failure when retries or the
    /// handshake time are used up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers[Timer::Expire as usize].is_some_and(|t| t <= now) {
            self.timers = [None; TIMER_COUNT];
            self.state = State::Expired;
            self.events.push_back(Event::Expired);
            return;
        }
        if self.timers[Timer::Rekey as usize].is_some_and(|t| t <= now) {
            self.timers[Timer::Rekey as usize] = None;
            self.events.push_back(Event::RekeyDue);
        }
        let give_up = if self.auth_failures > 0 { Error::AuthenticationFailed } else { Error::Timeout };
        if self.timers[Timer::Handshake as usize].is_some_and(|t| t <= now) {
            self.fail(give_up);
            return;
        }
        if self.timers[Timer::Retransmit as usize].is_some_and(|t| t <= now) {
            if self.retransmits >= self.config.max_retransmits {
                self.fail(give_up);
                return;
            }
            self.retransmits += 1;
            self.send_pending = true;
            let backoff = self.config.retransmit_timeout * 2u32.saturating_pow(self.retransmits);
            self.timers[Timer::Retransmit as usize] = Some(now + backoff);
        }
    }

    /// Appends the next datagram to send to `buf`, if any.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if !self.send_pending {
            return None;
        }
        self.send_pending = false;
        let msg = self.last_sent.as_ref()?;
        buf.extend_from_slice(msg);
        Some(Transmit { size: msg.len(), udp_encapsulated: self.floated() })
    }

    /// RFC 3947 §4: after NAT detection the initiator moves to port 4500 from MM5 on, and
    /// the responder answers there.
    fn floated(&self) -> bool {
        self.nat.is_some_and(|n| n.nat_detected()) && matches!(self.state, State::SentId | State::Established)
    }

    /// Main Mode or Aggressive Mode.
    #[must_use]
    pub const fn exchange_type(&self) -> ExchangeType {
        self.exchange
    }

    /// NAT detection result, once MM3/MM4 were processed with NAT-T negotiated.
    #[must_use]
    pub const fn nat_status(&self) -> Option<NatStatus> {
        self.nat
    }

    /// The peer's certificate, once the peer authenticated with it.
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
        self.timers.iter().flatten().min().copied()
    }

    /// RFC 2407 §4.5: the negotiated kilobyte lifetime of the ISAKMP SA (the smaller of
    /// the peer's and [`Phase1Config::lifetime_kilobytes`]), once the SA was chosen;
    /// `None` means no volume limit. The owner counts the bytes (see
    /// [`super::connection::Connection`]).
    #[must_use]
    pub fn lifetime_kilobytes(&self) -> Option<u64> {
        self.ex.kilobytes
    }

    /// The kilobyte lifetime to use for transform `t`: the peer's, capped by ours.
    fn kilobytes_of(&self, t: &Transform<'_>) -> Option<u64> {
        let life = super::lifetime::parse_life(
            t,
            IkeAttributeType::LifeType.into(),
            IkeAttributeType::LifeDuration.into(),
        );
        super::lifetime::min_limit(life.kilobytes, self.config.lifetime_kilobytes)
    }

    // --- steps ------------------------------------------------------------------------

    /// The first transform of the initiator (its preference) that we accept.
    fn choose<'a>(&self, sa: &SecurityAssociation<'a>) -> Option<(u8, Transform<'a>, Phase1Proposal)> {
        for p in &sa.proposals {
            if p.protocol_id != ProtocolId::Isakmp {
                continue;
            }
            for t in &p.transforms {
                if let Some(offer) = Phase1Proposal::from_transform(t, self.config.auth_method())
                    && let Some(ours) = self.config.proposals.iter().find(|o| o.same_algorithms(&offer))
                {
                    // Lifetime policy: up to our lifetime as offered, else ours.
                    let lifetime = offer.lifetime.min(ours.lifetime);
                    return Some((p.number, t.clone(), Phase1Proposal { lifetime, ..offer }));
                }
            }
        }
        None
    }

    fn on_am1(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        let payloads = m.payloads()?;
        let sa = find_sa(&payloads)?;
        if sa.doi != DOI_IPSEC {
            return Err(Error::UnexpectedMessage("SA not in the IPsec DOI"));
        }
        let (number, transform, proposal) = self.choose(sa).ok_or(Error::NoProposalChosen)?;
        let (g_xi, ni_b) = find_ke_nonce(&payloads)?;
        let idii = find_id(&payloads)?;
        let natt = self.config.nat_traversal.and(natt_variant(&payloads));
        let kx = KeyExchange::generate(proposal.group, &mut self.rng);
        let g_xy = kx.shared_secret(g_xi)?;
        let mut cky_r = [0u8; 8];
        self.rng.fill_bytes(&mut cky_r);
        let mut nr = vec![0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nr);
        let cky_i = m.header.initiator_spi;
        let skeyid = if self.config.certificate.is_some() {
            self.skeyid(proposal.hash, ni_b, &nr, g_xy.as_bytes())
        } else {
            let psk = match &self.psks {
                Some(table) => table.get(&idii.1).ok_or(Error::AuthenticationFailed)?,
                None => &self.config.psk,
            };
            skeyid_psk(proposal.hash, psk.as_bytes(), ni_b, &nr)
        };
        let keys =
            Phase1Keys::derive(proposal.hash, proposal.encryption, &skeyid, g_xy.as_bytes(), &cky_i, &cky_r);
        let g_xr = kx.public_value().to_vec();
        let mut sai_b = Vec::new();
        sa.encode_body(&mut sai_b);
        // Commit.
        self.peer_dpd = has_vid(&payloads, &VENDOR_ID_DPD);
        self.exchange = ExchangeType::Aggressive;
        self.cky_i = cky_i;
        self.cky_r = cky_r;
        self.natt = natt;
        self.ivs = Some(IvChain::new(keys.initial_iv(g_xi, &g_xr)));
        self.ex = Exchange {
            proposal: Some(proposal),
            kx: Some(kx),
            sai_b,
            ni_b: ni_b.to_vec(),
            nr_b: nr,
            g_xi: g_xi.to_vec(),
            g_xr,
            idii: Some((idii.0, idii.1)),
            auth: transform_auth(&transform),
            kilobytes: None,
        };
        let id = self.config.local_id.clone();
        let mut idir_b = Vec::new();
        id.payload().encode_body(&mut idir_b);
        let hash_r = sig_auth::hash_r(self.ex.auth, &keys, &self.exchange_values(), &idir_b);
        let auth = self.own_auth(&hash_r)?;
        let requests =
            self.config.certificate.as_ref().map(sig_auth::certificate_requests).unwrap_or_default();
        self.keys = Some(keys);
        let mut life_store = super::lifetime::LifeStore::default();
        self.ex.kilobytes = self.kilobytes_of(&transform);
        let transform = answer_transform(transform, &proposal, self.ex.kilobytes, &mut life_store);
        let reply = SecurityAssociation {
            doi: DOI_IPSEC,
            situation: sa.situation,
            proposals: vec![Proposal {
                number,
                protocol_id: ProtocolId::Isakmp,
                spi: &[],
                transforms: vec![transform],
            }],
        };
        let natd = self.nat_discovery_payloads(proposal.hash);
        let mut out = vec![
            Payload::SecurityAssociation(reply),
            Payload::KeyExchange(&self.ex.g_xr),
            Payload::Nonce(&self.ex.nr_b),
            Payload::Identification(id.payload()),
        ];
        auth.push_to(&mut out, &hash_r);
        out.extend(requests.iter().map(|ca| cert_request(ca)));
        match natt {
            Some(NatTVariant::Rfc3947) => out.push(Payload::VendorId(&VENDOR_ID_RFC3947)),
            Some(NatTVariant::Draft) => out.push(Payload::VendorId(&VENDOR_ID_NAT_T_DRAFT_02N)),
            None => {}
        }
        if self.config.dpd {
            out.push(Payload::VendorId(&VENDOR_ID_DPD));
        }
        out.extend(natd.iter().map(|(draft, h)| Payload::NatDiscovery { draft: *draft, hash: h }));
        let msg = self.plain_message(out);
        self.state = State::SentSaReply;
        self.send(now, msg);
        Ok(())
    }

    fn on_am2(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        let payloads = m.payloads()?;
        let sa = find_sa(&payloads)?;
        let [p] = sa.proposals.as_slice() else {
            return Err(Error::UnexpectedMessage("AM2 must carry one proposal"));
        };
        let [t] = p.transforms.as_slice() else {
            return Err(Error::UnexpectedMessage("AM2 must carry one transform"));
        };
        let chosen =
            Phase1Proposal::from_transform(t, self.config.auth_method()).ok_or(Error::NoProposalChosen)?;
        let ours = self
            .config
            .proposals
            .iter()
            .find(|o| o.same_algorithms(&chosen))
            .ok_or(Error::NoProposalChosen)?;
        if m.header.responder_spi == [0; 8] {
            return Err(Error::UnexpectedMessage("AM2 without responder cookie"));
        }
        let proposal = Phase1Proposal { lifetime: chosen.lifetime.min(ours.lifetime), ..chosen };
        let kilobytes = self.kilobytes_of(t);
        let (g_xr, nr_b) = find_ke_nonce(&payloads)?;
        let (idir_b, peer_id) = find_id(&payloads)?;
        let hash = if self.config.certificate.is_some() { None } else { Some(find_hash(&payloads)?) };
        let signature = SignaturePayloads::collect(&payloads);
        let kx = self.ex.kx.as_ref().ok_or(Error::UnexpectedMessage("no KE"))?;
        let g_xy = kx.shared_secret(g_xr)?;
        let cky_r = m.header.responder_spi;
        let skeyid = self.skeyid(proposal.hash, &self.ex.ni_b, nr_b, g_xy.as_bytes());
        let keys = Phase1Keys::derive(
            proposal.hash,
            proposal.encryption,
            &skeyid,
            g_xy.as_bytes(),
            &self.cky_i,
            &cky_r,
        );
        let ex = Phase1Exchange {
            g_xi: &self.ex.g_xi,
            g_xr,
            cky_i: &self.cky_i,
            cky_r: &cky_r,
            sai_b: &self.ex.sai_b,
        };
        let peer_certificate = self.check_peer_auth(
            &peer_id,
            hash,
            &signature,
            &sig_auth::hash_r(self.ex.auth, &keys, &ex, &idir_b),
        )?;
        let mut idii_b = Vec::new();
        self.config.local_id.payload().encode_body(&mut idii_b);
        let hash_i = sig_auth::hash_i(self.ex.auth, &keys, &ex, &idii_b);
        let auth = self.own_auth(&hash_i)?;
        // Commit.
        self.cky_r = cky_r;
        self.peer_dpd = has_vid(&payloads, &VENDOR_ID_DPD);
        self.natt = self.config.nat_traversal.and(natt_variant(&payloads));
        self.nat = self.detect_nat(proposal.hash, &payloads);
        self.ex.proposal = Some(proposal);
        self.ex.kilobytes = kilobytes;
        self.ex.g_xr = g_xr.to_vec();
        self.ex.nr_b = nr_b.to_vec();
        let mut ivs = IvChain::new(keys.initial_iv(&self.ex.g_xi, g_xr));
        let natd = self.nat_discovery_payloads(proposal.hash);
        let mut out = Vec::new();
        auth.push_to(&mut out, &hash_i);
        out.extend(natd.iter().map(|(draft, h)| Payload::NatDiscovery { draft: *draft, hash: h }));
        let spi = self.cookie_pair();
        if self.config.initial_contact {
            out.push(initial_contact(&spi));
        }
        let msg = self.encrypted_message(&keys, &mut ivs, &out)?;
        self.keys = Some(keys);
        self.ivs = Some(ivs);
        self.peer_certificate = peer_certificate;
        self.established(now, peer_id, false);
        self.send(now, msg);
        // AM3 is not retransmitted on a timer: a repeated AM2 triggers it.
        self.timers[Timer::Retransmit as usize] = None;
        Ok(())
    }

    fn on_am3(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        self.check_responder_cookie(m)?;
        let keys = self.keys.clone().ok_or(Error::UnexpectedMessage("no keys"))?;
        let mut ivs = self.ivs.clone().ok_or(Error::UnexpectedMessage("no IV"))?;
        let proposal = self.ex.proposal.ok_or(Error::UnexpectedMessage("no SA"))?;
        // RFC 2409 shows AM3 in clear; strongSwan and others encrypt it. Take both.
        let plaintext;
        let (body, next_iv) = if m.header.flags.encrypted() {
            let d = crypt::decrypt(keys.cipher(), keys.encryption_key(), &ivs.iv_for(&keys, 0), m)?;
            plaintext = d.plaintext;
            (&plaintext[..], Some(d.next_iv))
        } else {
            (m.body, None)
        };
        let (payloads, _padding) =
            parse_payload_chain(m.header.next_payload, body).map_err(|_| Error::AuthenticationFailed)?;
        let hash = if self.config.certificate.is_some() { None } else { Some(find_hash(&payloads)?) };
        let signature = SignaturePayloads::collect(&payloads);
        let (idii_b, peer_id) = self.ex.idii.clone().ok_or(Error::UnexpectedMessage("no IDii"))?;
        let expected = sig_auth::hash_i(self.ex.auth, &keys, &self.exchange_values(), &idii_b);
        let peer_certificate = self.check_peer_auth(&peer_id, hash, &signature, &expected)?;
        let nat = self.detect_nat(proposal.hash, &payloads);
        if let Some(iv) = next_iv {
            ivs.commit(0, iv);
        }
        self.ivs = Some(ivs);
        self.nat = nat;
        self.timers[Timer::Retransmit as usize] = None;
        self.auth_failures = 0;
        self.peer_certificate = peer_certificate;
        let contact = has_initial_contact(&payloads);
        self.established(now, peer_id, contact);
        Ok(())
    }

    fn on_mm1(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        let payloads = m.payloads()?;
        let sa = find_sa(&payloads)?;
        if sa.doi != DOI_IPSEC {
            return Err(Error::UnexpectedMessage("SA not in the IPsec DOI"));
        }
        let (number, transform, proposal) = self.choose(sa).ok_or(Error::NoProposalChosen)?;
        let natt = self.config.nat_traversal.and(natt_variant(&payloads));
        let mut sai_b = Vec::new();
        sa.encode_body(&mut sai_b);
        let mut cky_r = [0u8; 8];
        self.rng.fill_bytes(&mut cky_r);
        // Commit.
        self.cky_i = m.header.initiator_spi;
        self.cky_r = cky_r;
        self.ex.sai_b = sai_b;
        self.ex.proposal = Some(proposal);
        self.ex.auth = transform_auth(&transform);
        let mut life_store = super::lifetime::LifeStore::default();
        self.ex.kilobytes = self.kilobytes_of(&transform);
        let transform = answer_transform(transform, &proposal, self.ex.kilobytes, &mut life_store);
        let reply = SecurityAssociation {
            doi: DOI_IPSEC,
            situation: sa.situation,
            proposals: vec![Proposal {
                number,
                protocol_id: ProtocolId::Isakmp,
                spi: &[],
                transforms: vec![transform],
            }],
        };
        let mut reply_payloads = vec![Payload::SecurityAssociation(reply)];
        match natt {
            Some(NatTVariant::Rfc3947) => reply_payloads.push(Payload::VendorId(&VENDOR_ID_RFC3947)),
            Some(NatTVariant::Draft) => {
                reply_payloads.push(Payload::VendorId(&VENDOR_ID_NAT_T_DRAFT_02N));
            }
            None => {}
        }
        if self.config.dpd {
            reply_payloads.push(Payload::VendorId(&VENDOR_ID_DPD));
        }
        self.peer_dpd = has_vid(&payloads, &VENDOR_ID_DPD);
        self.natt = natt;
        let msg = self.plain_message(reply_payloads);
        self.state = State::SentSaReply;
        self.send(now, msg);
        Ok(())
    }

    fn on_mm2(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        let payloads = m.payloads()?;
        let sa = find_sa(&payloads)?;
        let [p] = sa.proposals.as_slice() else {
            return Err(Error::UnexpectedMessage("MM2 must carry one proposal"));
        };
        let [t] = p.transforms.as_slice() else {
            return Err(Error::UnexpectedMessage("MM2 must carry one transform"));
        };
        let chosen =
            Phase1Proposal::from_transform(t, self.config.auth_method()).ok_or(Error::NoProposalChosen)?;
        let ours = self
            .config
            .proposals
            .iter()
            .find(|o| o.same_algorithms(&chosen))
            .ok_or(Error::NoProposalChosen)?;
        if m.header.responder_spi == [0; 8] {
            return Err(Error::UnexpectedMessage("MM2 without responder cookie"));
        }
        let proposal = Phase1Proposal { lifetime: chosen.lifetime.min(ours.lifetime), ..chosen };
        let kilobytes = self.kilobytes_of(t);
        let natt = self.config.nat_traversal.and(natt_variant(&payloads));
        let kx = KeyExchange::generate(proposal.group, &mut self.rng);
        let mut ni = vec![0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut ni);
        self.cky_r = m.header.responder_spi;
        self.natt = natt;
        self.peer_dpd = has_vid(&payloads, &VENDOR_ID_DPD);
        self.ex.proposal = Some(proposal);
        self.ex.kilobytes = kilobytes;
        self.ex.g_xi = kx.public_value().to_vec();
        self.ex.kx = Some(kx);
        self.ex.ni_b = ni;
        let natd = self.nat_discovery_payloads(proposal.hash);
        let requests =
            self.config.certificate.as_ref().map(sig_auth::certificate_requests).unwrap_or_default();
        let mut payloads = vec![Payload::KeyExchange(&self.ex.g_xi), Payload::Nonce(&self.ex.ni_b)];
        payloads.extend(requests.iter().map(|ca| cert_request(ca)));
        payloads.extend(natd.iter().map(|(draft, h)| Payload::NatDiscovery { draft: *draft, hash: h }));
        let msg = self.plain_message(payloads);
        self.state = State::SentKe;
        self.send(now, msg);
        Ok(())
    }

    fn on_mm3(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        self.check_responder_cookie(m)?;
        let payloads = m.payloads()?;
        let (g_xi, ni_b) = find_ke_nonce(&payloads)?;
        let proposal = self.ex.proposal.ok_or(Error::UnexpectedMessage("no SA"))?;
        let nat = self.detect_nat(proposal.hash, &payloads);
        let kx = KeyExchange::generate(proposal.group, &mut self.rng);
        let g_xy = kx.shared_secret(g_xi)?;
        let mut nr = vec![0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nr);
        let skeyid = self.skeyid(proposal.hash, ni_b, &nr, g_xy.as_bytes());
        let keys = Phase1Keys::derive(
            proposal.hash,
            proposal.encryption,
            &skeyid,
            g_xy.as_bytes(),
            &self.cky_i,
            &self.cky_r,
        );
        let g_xr = kx.public_value().to_vec();
        self.ivs = Some(IvChain::new(keys.initial_iv(g_xi, &g_xr)));
        self.keys = Some(keys);
        self.ex.g_xi = g_xi.to_vec();
        self.ex.g_xr = g_xr;
        self.ex.ni_b = ni_b.to_vec();
        self.ex.nr_b = nr;
        self.ex.kx = Some(kx);
        self.nat = nat;
        let natd = self.nat_discovery_payloads(proposal.hash);
        let requests =
            self.config.certificate.as_ref().map(sig_auth::certificate_requests).unwrap_or_default();
        let mut payloads = vec![Payload::KeyExchange(&self.ex.g_xr), Payload::Nonce(&self.ex.nr_b)];
        payloads.extend(requests.iter().map(|ca| cert_request(ca)));
        payloads.extend(natd.iter().map(|(draft, h)| Payload::NatDiscovery { draft: *draft, hash: h }));
        let msg = self.plain_message(payloads);
        self.state = State::SentKeReply;
        self.send(now, msg);
        Ok(())
    }

    fn on_mm4(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        self.check_responder_cookie(m)?;
        let payloads = m.payloads()?;
        let (g_xr, nr_b) = find_ke_nonce(&payloads)?;
        let proposal = self.ex.proposal.ok_or(Error::UnexpectedMessage("no SA"))?;
        let nat = self.detect_nat(proposal.hash, &payloads);
        let kx = self.ex.kx.as_ref().ok_or(Error::UnexpectedMessage("no KE"))?;
        let g_xy = kx.shared_secret(g_xr)?;
        let skeyid = self.skeyid(proposal.hash, &self.ex.ni_b, nr_b, g_xy.as_bytes());
        let keys = Phase1Keys::derive(
            proposal.hash,
            proposal.encryption,
            &skeyid,
            g_xy.as_bytes(),
            &self.cky_i,
            &self.cky_r,
        );
        let mut ivs = IvChain::new(keys.initial_iv(&self.ex.g_xi, g_xr));
        self.ex.g_xr = g_xr.to_vec();
        self.ex.nr_b = nr_b.to_vec();
        // MM5: IDii, HASH_I, encrypted.
        let id = self.config.local_id.clone();
        let mut idii_b = Vec::new();
        id.payload().encode_body(&mut idii_b);
        let hash_i = sig_auth::hash_i(self.ex.auth, &keys, &self.exchange_values(), &idii_b);
        let spi = self.cookie_pair();
        let auth = self.own_auth(&hash_i)?;
        let mut payloads = vec![Payload::Identification(id.payload())];
        auth.push_to(&mut payloads, &hash_i);
        if self.config.initial_contact {
            payloads.push(initial_contact(&spi));
        }
        let msg = self.encrypted_message(&keys, &mut ivs, &payloads)?;
        self.keys = Some(keys);
        self.ivs = Some(ivs);
        self.nat = nat;
        self.state = State::SentId;
        self.send(now, msg);
        Ok(())
    }

    fn on_mm5(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        self.check_responder_cookie(m)?;
        let keys = self.keys.clone().ok_or(Error::UnexpectedMessage("no keys"))?;
        let mut ivs = self.ivs.clone().ok_or(Error::UnexpectedMessage("no IV"))?;
        let peer = self.decrypt_id_hash(&keys, &ivs, m)?;
        let hash_i = sig_auth::hash_i(self.ex.auth, &keys, &self.exchange_values(), &peer.id_b);
        let peer_certificate =
            self.check_peer_auth(&peer.id, peer.hash.as_deref(), &peer.signature, &hash_i)?;
        ivs.commit(0, peer.next_iv);
        let peer_id = peer.id;
        let id = self.config.local_id.clone();
        let mut idir_b = Vec::new();
        id.payload().encode_body(&mut idir_b);
        let hash_r = sig_auth::hash_r(self.ex.auth, &keys, &self.exchange_values(), &idir_b);
        let auth = self.own_auth(&hash_r)?;
        let mut payloads = vec![Payload::Identification(id.payload())];
        auth.push_to(&mut payloads, &hash_r);
        let msg = self.encrypted_message(&keys, &mut ivs, &payloads)?;
        self.ivs = Some(ivs);
        self.peer_certificate = peer_certificate;
        self.established(now, peer_id, peer.initial_contact);
        self.send(now, msg);
        // The responder does not retransmit MM6 on a timer; a repeated MM5 triggers it.
        self.timers[Timer::Retransmit as usize] = None;
        self.auth_failures = 0;
        Ok(())
    }

    fn on_mm6(&mut self, now: Instant, m: &Message<'_>) -> Result<(), Error> {
        self.check_responder_cookie(m)?;
        let keys = self.keys.clone().ok_or(Error::UnexpectedMessage("no keys"))?;
        let mut ivs = self.ivs.clone().ok_or(Error::UnexpectedMessage("no IV"))?;
        let peer = self.decrypt_id_hash(&keys, &ivs, m)?;
        let hash_r = sig_auth::hash_r(self.ex.auth, &keys, &self.exchange_values(), &peer.id_b);
        let peer_certificate =
            self.check_peer_auth(&peer.id, peer.hash.as_deref(), &peer.signature, &hash_r)?;
        ivs.commit(0, peer.next_iv);
        let peer_id = peer.id;
        self.ivs = Some(ivs);
        self.peer_certificate = peer_certificate;
        self.timers[Timer::Retransmit as usize] = None;
        self.established(now, peer_id, false);
        Ok(())
    }

    // --- helpers ----------------------------------------------------------------------

    /// RFC 2409 §5: SKEYID for the configured authentication (PSK or signatures).
    fn skeyid(&self, hash: PrfAlgorithm, ni_b: &[u8], nr_b: &[u8], g_xy: &[u8]) -> PrfOutput {
        if self.config.certificate.is_some() {
            skeyid_signature(hash, ni_b, nr_b, g_xy)
        } else {
            skeyid_psk(hash, self.config.psk.as_bytes(), ni_b, nr_b)
        }
    }

    /// How we prove HASH_I / HASH_R: the HASH itself (PSK) or CERT + SIG.
    fn own_auth(&mut self, hash: &PrfOutput) -> Result<OwnAuth, Error> {
        match &self.config.certificate {
            None => Ok(OwnAuth::Hash),
            Some(c) => Ok(OwnAuth::Signature {
                certs: c.chain.iter().map(|x| x.der().to_vec()).collect(),
                signature: sig_auth::sign(c, hash.as_bytes(), &mut self.rng)?,
            }),
        }
    }

    /// Checks the peer's HASH (PSK) or certificate and SIG against the expected hash.
    fn check_peer_auth(
        &self,
        id: &Identity,
        hash: Option<&[u8]>,
        signature: &SignaturePayloads,
        expected: &PrfOutput,
    ) -> Result<Option<X509Certificate>, Error> {
        match &self.config.certificate {
            None => match hash {
                Some(h) if expected.ct_eq_bytes(h) => Ok(None),
                _ => Err(Error::AuthenticationFailed),
            },
            Some(c) => {
                sig_auth::verify(c, signature, id.id_type.into(), &id.data, expected.as_bytes()).map(Some)
            }
        }
    }

    fn exchange_values(&self) -> Phase1Exchange<'_> {
        Phase1Exchange {
            g_xi: &self.ex.g_xi,
            g_xr: &self.ex.g_xr,
            cky_i: &self.cky_i,
            cky_r: &self.cky_r,
            sai_b: &self.ex.sai_b,
        }
    }

    /// RFC 3947 §3.2: NAT-D payloads for MM3/MM4: the peer's address first, then ours
    /// (a random value instead when encapsulation is forced). Empty without NAT-T.
    fn nat_discovery_payloads(&mut self, hash: PrfAlgorithm) -> Vec<(bool, Vec<u8>)> {
        let (Some(variant), Some(addrs)) = (self.natt, self.config.nat_traversal) else {
            return Vec::new();
        };
        let draft = variant == NatTVariant::Draft;
        let remote = nat_discovery_hash(hash, &self.cky_i, &self.cky_r, addrs.remote);
        let mut local = nat_discovery_hash(hash, &self.cky_i, &self.cky_r, addrs.local).as_bytes().to_vec();
        if addrs.force_encapsulation {
            self.rng.fill_bytes(&mut local);
        }
        vec![(draft, remote.as_bytes().to_vec()), (draft, local)]
    }

    /// RFC 3947 §3.2: compares the peer's NAT-D payloads with the addresses we see. The
    /// first one hashes our address as the peer saw it; the others the peer's own.
    fn detect_nat(&self, hash: PrfAlgorithm, payloads: &[Payload<'_>]) -> Option<NatStatus> {
        let variant = self.natt?;
        let addrs = self.config.nat_traversal?;
        let hashes: Vec<&[u8]> = payloads
            .iter()
            .filter_map(|p| match p {
                Payload::NatDiscovery { hash, .. } => Some(*hash),
                _ => None,
            })
            .collect();
        let (first, others) = hashes.split_first()?;
        let ours = nat_discovery_hash(hash, &self.cky_i, &self.cky_r, addrs.local);
        let theirs = nat_discovery_hash(hash, &self.cky_i, &self.cky_r, addrs.remote);
        Some(NatStatus {
            variant,
            local_behind_nat: addrs.force_encapsulation || !ours.ct_eq_bytes(first),
            remote_behind_nat: !others.iter().any(|h| theirs.ct_eq_bytes(h)),
        })
    }

    /// CKY-I | CKY-R, the SPI of the ISAKMP SA in notifications.
    fn cookie_pair(&self) -> [u8; 16] {
        let mut spi = [0u8; 16];
        spi[..8].copy_from_slice(&self.cky_i);
        spi[8..].copy_from_slice(&self.cky_r);
        spi
    }

    fn check_responder_cookie(&self, m: &Message<'_>) -> Result<(), Error> {
        if m.header.responder_spi == self.cky_r {
            Ok(())
        } else {
            Err(Error::UnexpectedMessage("unknown responder cookie"))
        }
    }

    /// Decrypts MM5/MM6 and returns the peer's identity (and its ID body as sent), the
    /// received hash and the IV after this message. Nothing is committed.
    fn decrypt_id_hash(&self, keys: &Phase1Keys, ivs: &IvChain, m: &Message<'_>) -> Result<PeerAuth, Error> {
        if !m.header.flags.encrypted() {
            return Err(Error::UnexpectedMessage("MM5/MM6 must be encrypted"));
        }
        let d = crypt::decrypt(keys.cipher(), keys.encryption_key(), &ivs.iv_for(keys, 0), m)?;
        // With PSK authentication a wrong key shows up as garbage after decryption, so
        // an undecodable MM5/MM6 counts as a failed authentication.
        let (payloads, _padding) = parse_payload_chain(m.header.next_payload, &d.plaintext)
            .map_err(|_| Error::AuthenticationFailed)?;
        let id = payloads
            .iter()
            .find_map(|p| match p {
                Payload::Identification(id) => Some(*id),
                _ => None,
            })
            .ok_or(Error::UnexpectedMessage("no ID payload"))?;
        if id.protocol_id != 17 && id.protocol_id != 0 {
            return Err(Error::UnexpectedMessage("phase-1 ID with a protocol other than UDP"));
        }
        let hash = payloads.iter().find_map(|p| match p {
            Payload::Hash(h) => Some(h.to_vec()),
            _ => None,
        });
        let signature = SignaturePayloads::collect(&payloads);
        if hash.is_none() && signature.signature.is_none() {
            return Err(Error::UnexpectedMessage("no HASH or SIG payload"));
        }
        // The HASH covers the ID body as sent; the codec re-encodes it byte for byte.
        let mut id_b = Vec::new();
        id.encode_body(&mut id_b);
        Ok(PeerAuth {
            id: Identity { id_type: id.id_type, data: id.data.to_vec() },
            id_b,
            hash,
            signature,
            next_iv: d.next_iv,
            initial_contact: has_initial_contact(&payloads),
        })
    }

    fn plain_message(&self, payloads: Vec<Payload<'_>>) -> Vec<u8> {
        let repr = MessageRepr { header: self.header(Flags(0)), payloads };
        let mut out = Vec::new();
        repr.encode(&mut out);
        out
    }

    fn encrypted_message(
        &self,
        keys: &Phase1Keys,
        ivs: &mut IvChain,
        payloads: &[Payload<'_>],
    ) -> Result<Vec<u8>, Error> {
        let mut chain = zeroize::Zeroizing::new(Vec::new());
        let first = encode_payload_chain(payloads, &mut chain);
        let mut header = self.header(Flags(Flags::ENCRYPTION));
        header.next_payload = first;
        let mut out = Vec::new();
        let next = crypt::encrypt(
            keys.cipher(),
            keys.encryption_key(),
            &ivs.iv_for(keys, 0),
            &header,
            &chain,
            &mut out,
        )?;
        ivs.commit(0, next);
        Ok(out)
    }

    fn header(&self, flags: Flags) -> Header {
        Header {
            initiator_spi: self.cky_i,
            responder_spi: self.cky_r,
            next_payload: PayloadType::None,
            version: Header::VERSION_1_0,
            exchange_type: self.exchange,
            flags,
            message_id: 0,
            length: 0,
        }
    }

    fn send(&mut self, now: Instant, msg: Vec<u8>) {
        self.last_sent = Some(msg);
        self.send_pending = true;
        self.retransmits = 0;
        self.timers[Timer::Retransmit as usize] = Some(now + self.config.retransmit_timeout);
    }

    fn established(&mut self, now: Instant, peer_id: Identity, initial_contact: bool) {
        self.state = State::Established;
        self.timers[Timer::Handshake as usize] = None;
        if let Some(p) = self.ex.proposal {
            self.timers[Timer::Rekey as usize] = now.checked_add(p.lifetime / 10 * 9);
            self.timers[Timer::Expire as usize] = now.checked_add(p.lifetime);
        }
        self.ex.kx = None;
        if let Some(proposal) = self.ex.proposal {
            self.events.push_back(Event::Established {
                peer_id,
                proposal,
                nat: self.nat,
                peer_supports_dpd: self.peer_dpd,
                initial_contact,
            });
        }
    }

    fn fail(&mut self, error: Error) {
        self.state = State::Failed;
        self.timers = [None; TIMER_COUNT];
        self.send_pending = false;
        self.ex.kx = None;
        self.events.push_back(Event::Failed(error));
    }
}

/// The transform a responder returns: as offered, or with our lower lifetimes in place of
/// the offered ones (the initiator adopts them).
fn answer_transform<'a>(
    t: Transform<'a>,
    chosen: &Phase1Proposal,
    kilobytes: Option<u64>,
    store: &'a mut super::lifetime::LifeStore,
) -> Transform<'a> {
    let (ty, du) = (IkeAttributeType::LifeType.into(), IkeAttributeType::LifeDuration.into());
    let offered = super::lifetime::parse_life(&t, ty, du);
    if offered.duration() == chosen.lifetime && offered.kilobytes == kilobytes {
        return t;
    }
    let life = super::lifetime::Life { seconds: Some(chosen.lifetime.as_secs()), kilobytes };
    super::lifetime::replace_life(&t, ty, du, life, store)
}

/// What MM5/MM6 carried.
struct PeerAuth {
    id: Identity,
    id_b: Vec<u8>,
    hash: Option<Vec<u8>>,
    signature: SignaturePayloads,
    next_iv: super::keys::Iv,
    initial_contact: bool,
}

/// Our authentication payloads in MM5 / MM6.
enum OwnAuth {
    /// HASH_I / HASH_R (pre-shared key).
    Hash,
    /// CERT payloads and the SIG payload (RFC 2409 §5.1).
    Signature { certs: Vec<Vec<u8>>, signature: Vec<u8> },
}

impl OwnAuth {
    fn push_to<'a>(&'a self, payloads: &mut Vec<Payload<'a>>, hash: &'a PrfOutput) {
        match self {
            Self::Hash => payloads.push(Payload::Hash(hash.as_bytes())),
            Self::Signature { certs, signature } => {
                payloads.extend(certs.iter().map(|c| {
                    Payload::Certificate(Certificate { encoding: CertEncoding::X509Signature, data: c })
                }));
                payloads.push(Payload::Signature(signature));
            }
        }
    }
}

/// RFC 2408 §3.10: a CR payload asking for an X.509 signature certificate from the CA
/// with DER subject `ca`.
fn cert_request(ca: &[u8]) -> Payload<'_> {
    Payload::CertificateRequest(Certificate { encoding: CertEncoding::X509Signature, data: ca })
}

/// RFC 2407 §4.6.3.3: an INITIAL-CONTACT notification for the ISAKMP SA `spi`.
fn initial_contact(spi: &[u8; 16]) -> Payload<'_> {
    Payload::Notification(Notification {
        doi: DOI_IPSEC,
        protocol_id: ProtocolId::Isakmp,
        notify_type: NotifyType::InitialContact,
        spi,
        data: &[],
    })
}

fn has_initial_contact(payloads: &[Payload<'_>]) -> bool {
    payloads
        .iter()
        .any(|p| matches!(p, Payload::Notification(n) if n.notify_type == NotifyType::InitialContact))
}

/// The authentication method attribute of a phase-1 transform.
fn transform_auth(t: &Transform<'_>) -> AuthMethod {
    t.basic(IkeAttributeType::AuthenticationMethod.into()).map_or(AuthMethod::PreSharedKey, AuthMethod::from)
}

fn has_vid(payloads: &[Payload<'_>], vid: &[u8]) -> bool {
    payloads.iter().any(|p| matches!(p, Payload::VendorId(x) if *x == vid))
}

/// RFC 3947 §2: the NAT-T dialect a peer announced with its Vendor IDs, RFC first.
fn natt_variant(payloads: &[Payload<'_>]) -> Option<NatTVariant> {
    let vid = |v: &[u8]| payloads.iter().any(|p| matches!(p, Payload::VendorId(x) if *x == v));
    if vid(&VENDOR_ID_RFC3947) {
        Some(NatTVariant::Rfc3947)
    } else if vid(&VENDOR_ID_NAT_T_DRAFT_02N) {
        Some(NatTVariant::Draft)
    } else {
        None
    }
}

/// The first ID payload: its body as sent and the identity.
fn find_id(payloads: &[Payload<'_>]) -> Result<(Vec<u8>, Identity), Error> {
    let id = payloads
        .iter()
        .find_map(|p| match p {
            Payload::Identification(id) => Some(*id),
            _ => None,
        })
        .ok_or(Error::UnexpectedMessage("no ID payload"))?;
    let mut body = Vec::new();
    id.encode_body(&mut body);
    Ok((body, Identity { id_type: id.id_type, data: id.data.to_vec() }))
}

fn find_hash<'a>(payloads: &[Payload<'a>]) -> Result<&'a [u8], Error> {
    payloads
        .iter()
        .find_map(|p| match p {
            Payload::Hash(h) => Some(*h),
            _ => None,
        })
        .ok_or(Error::UnexpectedMessage("no HASH payload"))
}

fn find_sa<'a, 'b>(payloads: &'b [Payload<'a>]) -> Result<&'b SecurityAssociation<'a>, Error> {
    payloads
        .iter()
        .find_map(|p| match p {
            Payload::SecurityAssociation(sa) => Some(sa),
            _ => None,
        })
        .ok_or(Error::UnexpectedMessage("no SA payload"))
}

fn find_ke_nonce<'a>(payloads: &[Payload<'a>]) -> Result<(&'a [u8], &'a [u8]), Error> {
    let ke = payloads.iter().find_map(|p| match p {
        Payload::KeyExchange(k) => Some(*k),
        _ => None,
    });
    let nonce = payloads.iter().find_map(|p| match p {
        Payload::Nonce(n) => Some(*n),
        _ => None,
    });
    match (ke, nonce) {
        (Some(k), Some(n)) if (8..=256).contains(&n.len()) => Ok((k, n)),
        (Some(_), Some(_)) => Err(Error::UnexpectedMessage("nonce not 8 to 256 bytes")),
        _ => Err(Error::UnexpectedMessage("KE and Nonce payloads required")),
    }
}

//! One IKEv1 peer relationship over time: [`Connection`] owns the ISAKMP SAs (the
//! current one and those being replaced), the Quick Mode exchanges by Message ID, Dead
//! Peer Detection, the ESP SA pairs and their lifetimes, and runs rekeying and deletion
//! of both phases, in either role.
//!
//! - **Lifetimes** (RFC 2407 §4.5): every SA has a hard lifetime (as negotiated) and a
//!   soft one (the rekey point: [`ConnectionConfig::rekey_margin`] before the end, minus a
//!   random jitter of up to [`ConnectionConfig::rekey_jitter`] drawn from the injected
//!   RNG). ESP SAs also expire by volume when a kilobyte lifetime was negotiated; the
//!   owner reports ESP traffic with [`Connection::child_traffic`]. ISAKMP SAs expire by
//!   volume too ([`super::phase1::Phase1Config::lifetime_kilobytes`]): the connection
//!   counts the encrypted IKE messages it sends and receives on each.
//! - **Phase-2 rekey**: at the soft point a new Quick Mode with the same traffic
//!   selectors runs under the newest ISAKMP SA; once it is up
//!   ([`ConnectionEvent::ChildSaRekeyed`]) the old pair is deleted with an informational
//!   Delete (ESP, our inbound SPI) after [`ConnectionConfig::delete_rekeyed_after`].
//!   A Quick Mode started by the peer with the traffic selectors of an existing pair is
//!   taken as the peer's rekey of that pair; the old pair then lives until the peer
//!   deletes it or it expires. When both sides rekey one pair at once, two new pairs
//!   replace it: as in IKEv2 (RFC 7296 §2.8.1), the one whose Quick Mode used the lowest
//!   nonce is redundant, both sides stop sending on it and its initiator deletes it.
//! - **Phase-1 rekey**: a new Main (or Aggressive) Mode with the same peer, without
//!   INITIAL-CONTACT; Quick Modes then use the newest ISAKMP SA, and the old one is
//!   deleted (ISAKMP Delete with both cookies). A new phase 1 started by the peer while one
//!   is up is accepted the same way. ESP SAs outlive the ISAKMP SA they came from (IKEv1).
//! - **Deletes** received remove the SAs they name; on [`Connection::close`] we send a
//!   Delete for every ESP SA and every ISAKMP SA.
//! - **Duplicates and Message IDs**: a repeated message gets the stored answer from the
//!   exchange it belongs to; each ISAKMP SA remembers the Message IDs of finished
//!   exchanges, so a replayed Quick Mode or informational message is not a new exchange.
//! - **Half-open SAs**: at most [`ConnectionConfig::max_half_open`] phase-1 exchanges the
//!   peer started and that are not yet established; [`Responders`] adds a limit over all
//!   peers.
//!
//! Drive it like every l2sec machine: after [`Connection::handle_input`],
//! [`Connection::handle_timeout`] or a command, drain [`Connection::poll_transmit`] and
//! [`Connection::poll_event`] until both return `None`, then sleep until
//! [`Connection::poll_timeout`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use l2sec_ike::child::{EspEncapsulation, EspEncryption, EspIntegrity, EspMode};
//! use l2sec_ike::v1::connection::{Connection, ConnectionConfig, ConnectionEvent};
//! use l2sec_ike::v1::phase1::{Identity, Phase1Config};
//! use l2sec_ike::v1::quick::{EspProposal, QuickModeConfig};
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let quick = QuickModeConfig {
//!     proposals: vec![EspProposal {
//!         encryption: EspEncryption::AesCbc { key_len: 16 },
//!         integrity: EspIntegrity::HmacSha1_96,
//!         lifetime: Duration::from_secs(60),
//!     }],
//!     mode: EspMode::Tunnel,
//!     encapsulation: EspEncapsulation::None,
//!     traffic_selectors: None,
//!     retransmit_timeout: Duration::from_secs(1),
//!     max_retransmits: 3,
//!     pfs_group: None,
//!     nat_oa: None,
//! };
//! let config = |id| ConnectionConfig::new(Phase1Config::new(b"psk", Identity::fqdn(id)), quick.clone());
//! let mut a = Connection::new(config("a"), ChaCha20Rng::seed_from_u64(1));
//! let mut b = Connection::new(config("b"), ChaCha20Rng::seed_from_u64(2));
//! let mut now = Instant::now();
//! a.connect(now)?;
//! let (mut rekeyed, mut buf) = (0, Vec::new());
//! // Two minutes on a virtual clock: the 60 s ESP SA pair is rekeyed at least once.
//! let end = now + Duration::from_secs(120);
//! while now < end {
//!     while a.poll_transmit(now, &mut buf).is_some() {
//!         b.handle_input(now, &buf)?;
//!         buf.clear();
//!     }
//!     while b.poll_transmit(now, &mut buf).is_some() {
//!         a.handle_input(now, &buf)?;
//!         buf.clear();
//!     }
//!     while let Some(e) = a.poll_event() {
//!         rekeyed += usize::from(matches!(e, ConnectionEvent::ChildSaRekeyed { .. }));
//!     }
//!     while b.poll_event().is_some() {}
//!     // Sleep until the next deadline (here: jump to it).
//!     let next = [a.poll_timeout(), b.poll_timeout()].into_iter().flatten().min();
//!     now = next.map_or(now + Duration::from_secs(1), |t| t.max(now));
//!     a.handle_timeout(now);
//!     b.handle_timeout(now);
//! }
//! assert!(rekeyed >= 1);
//! assert_eq!(a.active_children().len(), 1);
//! # Ok::<(), l2sec_ike::Error>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand_core::{CryptoRng, SeedableRng};

use super::dpd::{Dpd, DpdConfig, DpdEvent};
use super::info::{self, Informational};
use super::lifetime::soft_deadline;
use super::phase1::{
    Event as Phase1Event, Identity, NatStatus, Phase1, Phase1Config, Phase1Proposal, State, Transmit,
};
use super::quick::{IsakmpContext, QuickMode, QuickModeConfig, QuickModeEvent, TrafficSelector};
use crate::child::ChildSa;
use crate::error::Error;
use crate::wire::v1::{ExchangeType, Header, ProtocolId};

/// How many finished exchange Message IDs an ISAKMP SA remembers.
const REMEMBERED_IDS: usize = 256;
/// Quick Mode exchanges (running or lingering) a connection keeps at most.
const MAX_EXCHANGES: usize = 64;
/// ESP SA pairs a connection keeps at most (an authenticated peer could otherwise make
/// us hold any number).
const MAX_CHILDREN: usize = 64;
/// How long a finished Quick Mode stays around to answer a repeated last message.
const QUICK_MODE_LINGER: Duration = Duration::from_secs(30);

/// The pair of cookies (CKY-I, CKY-R) naming an ISAKMP SA.
pub type Cookies = ([u8; 8], [u8; 8]);

/// Settings of a [`Connection`].
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Phase-1 settings (also used for every phase-1 rekey).
    pub phase1: Phase1Config,
    /// Quick Mode settings for the ESP SAs we start (and accept).
    pub quick: QuickModeConfig,
    /// Initiator: use Aggressive Mode instead of Main Mode.
    pub aggressive: bool,
    /// Run RFC 3706 DPD on the newest ISAKMP SA when the peer supports it.
    pub dpd: Option<DpdConfig>,
    /// RFC 2407 §4.5 kilobyte lifetime of ESP SAs (offered, and the maximum accepted).
    pub child_lifetime_kilobytes: Option<u64>,
    /// Rekey this long before the end of an SA's life, in per-mille of the lifetime
    /// (default 100, i.e. at 90 %). SAs the peer started use half the margin, so that
    /// the side that started an SA normally rekeys it first.
    pub rekey_margin: u32,
    /// Random extra advance of the rekey point, in per-mille of the lifetime (default 50).
    pub rekey_jitter: u32,
    /// Rekey automatically at the soft lifetime (default); otherwise emit
    /// [`ConnectionEvent::RekeyDue`] and wait for a command.
    pub auto_rekey: bool,
    /// After a rekey we started, delete the replaced SA this much later (default 2 s, so
    /// packets in flight on the old SA are still accepted).
    pub delete_rekeyed_after: Duration,
    /// Phase-1 exchanges started by the peer and not yet established (default 4).
    pub max_half_open: usize,
    /// Responder: Aggressive Mode keys by the initiator's identity (see
    /// [`super::psk`]); `None` uses `phase1.psk` for everyone.
    pub psks: Option<super::psk::PskTable>,
    /// Responder policy for Quick Mode traffic selectors: the initiator's (IDci, IDcr)
    /// must lie within one entry, else the Quick Mode is refused with an authenticated
    /// INVALID-ID-INFORMATION notification (RFC 2407 §4.6.3, RFC 2408 §3.14.1 type 18)
    /// and [`ConnectionEvent::QuickModeRefused`]. `None` (default) accepts and echoes
    /// any selectors. A Quick Mode without IDs (the SA between the phase-1 addresses)
    /// is not subject to it.
    pub responder_selectors: Option<Vec<super::quick::SelectorPolicy>>,
}

impl ConnectionConfig {
    /// A configuration with the defaults listed on each field.
    #[must_use]
    pub fn new(phase1: Phase1Config, quick: QuickModeConfig) -> Self {
        Self {
            phase1,
            quick,
            aggressive: false,
            dpd: None,
            child_lifetime_kilobytes: None,
            rekey_margin: 100,
            rekey_jitter: 50,
            auto_rekey: true,
            delete_rekeyed_after: Duration::from_secs(2),
            max_half_open: 4,
            psks: None,
            responder_selectors: None,
        }
    }
}

/// Why an SA went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeleteReason {
    /// The peer sent a Delete for it.
    PeerDeleted,
    /// Its hard lifetime (time or volume) ran out; we sent a Delete.
    Expired,
    /// It was replaced by a rekey and deleted (by us, with a Delete).
    Rekeyed,
    /// The owner asked ([`Connection::delete_child`], [`Connection::close`]).
    Local,
    /// The peer's new phase 1 carried INITIAL-CONTACT (RFC 2407 §4.6.3.3): it has
    /// forgotten every older SA with us.
    InitialContact,
}

/// What the owner must know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The first ISAKMP SA with the peer is up.
    Phase1Established {
        /// Its cookies.
        cookies: Cookies,
        /// The identity the peer proved.
        peer_id: Identity,
        /// The negotiated algorithms and lifetime.
        proposal: Phase1Proposal,
        /// NAT detection result.
        nat: Option<NatStatus>,
    },
    /// A new ISAKMP SA replaced `old` (our rekey or the peer's).
    Phase1Rekeyed {
        /// The replaced SA.
        old: Cookies,
        /// The new SA; Quick Modes now run under it.
        new: Cookies,
        /// The negotiated algorithms and lifetime of the new SA.
        proposal: Phase1Proposal,
    },
    /// An ISAKMP SA is gone.
    Phase1Deleted {
        /// Its cookies.
        cookies: Cookies,
        /// Why.
        reason: DeleteReason,
    },
    /// A new ESP SA pair: install it.
    ChildSaUp {
        /// The SA pair (use [`ChildSa::esp_params`]).
        child: Box<ChildSa>,
        /// The traffic selectors (IDci, IDcr), if the Quick Mode carried them.
        traffic_selectors: Option<(TrafficSelector, TrafficSelector)>,
        /// NAT-OA addresses the peer declared.
        peer_original_addresses: Vec<IpAddr>,
    },
    /// A new ESP SA pair replaces the pair with inbound SPI `old_spi_in`: install the new
    /// one and send on it; keep accepting on the old one until
    /// [`ConnectionEvent::ChildSaDeleted`].
    ChildSaRekeyed {
        /// Inbound SPI of the replaced pair.
        old_spi_in: u32,
        /// The new pair.
        child: Box<ChildSa>,
        /// Its traffic selectors.
        traffic_selectors: Option<(TrafficSelector, TrafficSelector)>,
    },
    /// An ESP SA pair is gone: remove it.
    ChildSaDeleted {
        /// Our inbound SPI.
        spi_in: u32,
        /// The peer's inbound SPI (our outbound).
        spi_out: u32,
        /// Why.
        reason: DeleteReason,
    },
    /// With [`ConnectionConfig::auto_rekey`] off: an SA reached its soft lifetime.
    RekeyDue {
        /// The ESP SA pair (inbound SPI), or `None` for the ISAKMP SA.
        spi_in: Option<u32>,
    },
    /// A Quick Mode failed (the SAs it was to replace, if any, stay until they expire).
    QuickModeFailed {
        /// Its Message ID.
        message_id: u32,
        /// Inbound SPI of the pair it was rekeying, if any.
        rekey_of: Option<u32>,
        /// Why.
        error: Error,
    },
    /// As responder, we refused a Quick Mode whose traffic selectors lie outside
    /// [`ConnectionConfig::responder_selectors`] (and told the peer with
    /// INVALID-ID-INFORMATION); nothing else changed.
    QuickModeRefused {
        /// Its Message ID.
        message_id: u32,
        /// The initiator's (IDci, IDcr).
        traffic_selectors: (TrafficSelector, TrafficSelector),
    },
    /// A phase-1 exchange failed. With no other ISAKMP SA this ends the connection's
    /// ability to negotiate until [`Connection::connect`] is called again.
    Phase1Failed {
        /// Why.
        error: Error,
        /// It was a rekey (an older ISAKMP SA is still up).
        rekey: bool,
    },
    /// DPD declared the peer dead: every SA is dropped (no Delete is sent).
    PeerDead,
}

/// What [`Connection::child_up`] needs of a finished Quick Mode.
struct QuickModeDone {
    rekey_of: Option<u32>,
    /// We started it.
    ours: bool,
    started_at: Instant,
    lowest_nonce: Vec<u8>,
}

/// A command that cannot be carried out.
fn no_child() -> Error {
    Error::UnexpectedMessage("no such ESP SA")
}

struct IsakmpSa<R> {
    phase1: Phase1<R>,
    ctx: Option<IsakmpContext>,
    /// We started this phase 1.
    ours: bool,
    soft_at: Option<Instant>,
    hard_at: Option<Instant>,
    /// Bytes of encrypted IKE messages sent and received on this SA (RFC 2407 §4.5
    /// kilobyte lifetime).
    bytes: u64,
    soft_bytes: Option<u64>,
    hard_bytes: Option<u64>,
    /// A newer ISAKMP SA replaced this one.
    replaced: bool,
    delete_at: Option<Instant>,
    /// Message IDs of finished (or started) phase-2 and informational exchanges.
    seen_ids: VecDeque<u32>,
}

impl<R: CryptoRng> IsakmpSa<R> {
    fn cookies(&self) -> Cookies {
        self.phase1.cookies()
    }

    fn established(&self) -> bool {
        self.ctx.is_some()
    }

    fn half_open(&self) -> bool {
        !self.ours && self.ctx.is_none() && !matches!(self.phase1.state(), State::Failed | State::Expired)
    }

    fn remember(&mut self, id: u32) {
        if self.seen_ids.len() >= REMEMBERED_IDS {
            self.seen_ids.pop_front();
        }
        self.seen_ids.push_back(id);
    }
}

struct Exchange<R> {
    qm: QuickMode<R>,
    cookies: Cookies,
    rekey_of: Option<u32>,
    done_at: Option<Instant>,
    started_at: Instant,
}

struct Child {
    spi_in: u32,
    spi_out: u32,
    /// The selectors as (ours, the peer's), whichever side sent IDci.
    selectors: Option<(TrafficSelector, TrafficSelector)>,
    soft_at: Option<Instant>,
    hard_at: Option<Instant>,
    soft_bytes: Option<u64>,
    hard_bytes: Option<u64>,
    bytes: u64,
    /// A newer pair replaced this one.
    replaced: bool,
    /// A rekey Quick Mode for it is under way.
    rekeying: bool,
    delete_at: Option<Instant>,
    /// The pair this one replaced (by our rekey or the peer's).
    replaces: Option<u32>,
    /// When it came up.
    up_at: Instant,
    /// The lower of its Quick Mode's two nonces (Ni_b, Nr_b), which settles
    /// simultaneous rekeys.
    lowest_nonce: Vec<u8>,
    /// We started its Quick Mode.
    initiated: bool,
}

/// The IKEv1 SAs with one peer, as a sans-IO machine (see the module documentation).
pub struct Connection<R> {
    config: ConnectionConfig,
    rng: R,
    sas: Vec<IsakmpSa<R>>,
    exchanges: Vec<Exchange<R>>,
    children: Vec<Child>,
    dpd: Option<(Cookies, Dpd<R>)>,
    /// Quick Modes to start once an ISAKMP SA is up (the pair each rekeys, if any).
    waiting: Vec<Option<u32>>,
    connected_once: bool,
    outbox: VecDeque<(Vec<u8>, bool)>,
    events: VecDeque<ConnectionEvent>,
}

impl<R> core::fmt::Debug for Connection<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("isakmp_sas", &self.sas.len())
            .field("exchanges", &self.exchanges.len())
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng + SeedableRng> Connection<R> {
    /// A connection that answers the peer (and can [`Self::connect`] later). Every
    /// machine it starts gets its own RNG seeded from `rng`.
    #[must_use]
    pub fn new(config: ConnectionConfig, rng: R) -> Self {
        Self {
            config,
            rng,
            sas: Vec::new(),
            exchanges: Vec::new(),
            children: Vec::new(),
            dpd: None,
            waiting: Vec::new(),
            connected_once: false,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Negotiates one more ESP SA pair with [`ConnectionConfig::quick`]: at once under
    /// the current ISAKMP SA, or after the phase 1 this starts (as initiator) or that is
    /// already under way.
    ///
    /// # Errors
    /// The phase-1 or Quick Mode configuration is unusable.
    pub fn connect(&mut self, now: Instant) -> Result<(), Error> {
        if self.current_isakmp_sa().is_some() {
            return self.start_quick_mode(now, None);
        }
        if !self.sas.iter().any(|s| s.ours && !s.established() && s.phase1.state() != State::Failed) {
            self.start_phase1(now)?;
        }
        self.waiting.push(None);
        Ok(())
    }

    /// Starts a rekey of the ESP SA pair with inbound SPI `spi_in` now.
    ///
    /// # Errors
    /// No such pair.
    pub fn rekey_child(&mut self, now: Instant, spi_in: u32) -> Result<(), Error> {
        let child = self.children.iter().find(|c| c.spi_in == spi_in && !c.replaced).ok_or_else(no_child)?;
        if child.rekeying {
            return Ok(());
        }
        self.start_quick_mode(now, Some(spi_in))
    }

    /// Starts a new ISAKMP SA with the peer now; the current one is deleted once it is up.
    ///
    /// # Errors
    /// The phase-1 configuration is unusable.
    pub fn rekey_phase1(&mut self, now: Instant) -> Result<(), Error> {
        if self.sas.iter().any(|s| s.ours && !s.established() && s.phase1.state() != State::Failed) {
            return Ok(()); // one is already under way
        }
        self.start_phase1(now)
    }

    /// Deletes the ESP SA pair with inbound SPI `spi_in`: sends a Delete and reports
    /// [`ConnectionEvent::ChildSaDeleted`].
    ///
    /// # Errors
    /// No such pair.
    pub fn delete_child(&mut self, _now: Instant, spi_in: u32) -> Result<(), Error> {
        let i = self.children.iter().position(|c| c.spi_in == spi_in).ok_or_else(no_child)?;
        self.remove_child(i, DeleteReason::Local, true);
        Ok(())
    }

    /// Deletes the ISAKMP SA (all of them), keeping the ESP SAs.
    pub fn delete(&mut self, _now: Instant) {
        while !self.sas.is_empty() {
            self.remove_sa(self.sas.len() - 1, DeleteReason::Local, true);
        }
    }

    /// Tears everything down: a Delete for every ESP SA pair, then for every ISAKMP SA.
    pub fn close(&mut self, now: Instant) {
        while !self.children.is_empty() {
            self.remove_child(self.children.len() - 1, DeleteReason::Local, true);
        }
        self.exchanges.clear();
        self.waiting.clear();
        self.delete(now);
    }

    /// The owner saw `bytes` of ESP traffic on the pair with inbound SPI `spi_in` (either
    /// direction): counts against a kilobyte lifetime, and tells DPD the peer is alive
    /// when `inbound`.
    pub fn child_traffic(&mut self, now: Instant, spi_in: u32, bytes: u64, inbound: bool) {
        if let Some(c) = self.children.iter_mut().find(|c| c.spi_in == spi_in) {
            c.bytes = c.bytes.saturating_add(bytes);
        }
        if inbound && let Some((_, dpd)) = &mut self.dpd {
            dpd.traffic_seen(now);
        }
        self.check_volume(now);
    }

    /// The cookies of the newest established ISAKMP SA.
    #[must_use]
    pub fn current_isakmp_sa(&self) -> Option<Cookies> {
        self.sas.iter().rev().find(|s| s.established() && !s.replaced).map(IsakmpSa::cookies)
    }

    /// The line of Wireshark's `ikev1_decryption_table` for the ISAKMP SA `cookies`
    /// ([`crate::keylog`]): available once its keys are derived (so at
    /// [`ConnectionEvent::Phase1Established`] and [`ConnectionEvent::Phase1Rekeyed`] for
    /// the new SA), `None` for an SA this connection does not hold. Owners that keep a
    /// key log append it at each of those events, so that a capture stays decryptable
    /// across phase-1 rekeys. **The line holds the SA's encryption key.**
    #[must_use]
    pub fn keylog_line(&self, cookies: Cookies) -> Option<zeroize::Zeroizing<String>> {
        let sa = self.sas.iter().find(|s| s.cookies() == cookies)?;
        crate::keylog::ikev1_line_for_phase1(&sa.phase1)
    }

    /// The keys and IV state of the established ISAKMP SA `cookies`, for an owner that
    /// sends informational messages of its own ([`info::encode`]) or keeps a key log
    /// ([`crate::keylog::ikev1_line_for_context`]). **It holds the SA's keys.**
    #[must_use]
    pub fn isakmp_context(&self, cookies: Cookies) -> Option<&IsakmpContext> {
        self.sas.iter().find(|s| s.cookies() == cookies)?.ctx.as_ref()
    }

    /// The ISAKMP SAs (established or not) this connection holds.
    #[must_use]
    pub fn isakmp_sas(&self) -> Vec<Cookies> {
        self.sas.iter().map(IsakmpSa::cookies).collect()
    }

    /// Inbound SPIs of the ESP SA pairs in use (not yet replaced), oldest first.
    #[must_use]
    pub fn active_children(&self) -> Vec<u32> {
        self.children.iter().filter(|c| !c.replaced).map(|c| c.spi_in).collect()
    }

    /// Inbound SPIs of every ESP SA pair still installed, replaced ones included.
    #[must_use]
    pub fn installed_children(&self) -> Vec<u32> {
        self.children.iter().map(|c| c.spi_in).collect()
    }

    /// Phase-1 exchanges the peer started that are not established yet.
    #[must_use]
    pub fn half_open(&self) -> usize {
        self.sas.iter().filter(|s| s.half_open()).count()
    }

    /// Feeds one received ISAKMP datagram (no non-ESP marker).
    ///
    /// # Errors
    /// Why the datagram was dropped; nothing changes then.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        let h = Header::parse(data)?;
        let cookies = (h.initiator_spi, h.responder_spi);
        if h.flags.encrypted() {
            self.count_isakmp_bytes(now, cookies, data.len());
        }
        let result = match h.exchange_type {
            ExchangeType::IdentityProtection | ExchangeType::Aggressive if h.message_id == 0 => {
                self.phase1_input(now, &h, data)
            }
            ExchangeType::QuickMode => self.quick_input(now, cookies, h.message_id, data),
            ExchangeType::Informational => self.info_input(now, cookies, h.message_id, data),
            _ => Err(Error::UnexpectedMessage("exchange type not handled")),
        };
        self.pump(now);
        result
    }

    fn phase1_input(&mut self, now: Instant, h: &Header, data: &[u8]) -> Result<(), Error> {
        let existing = self.sas.iter_mut().find(|s| {
            let (i, r) = s.cookies();
            i == h.initiator_spi && (r == h.responder_spi || r == [0; 8] || h.responder_spi == [0; 8])
        });
        if let Some(sa) = existing {
            return sa.phase1.handle_input(now, data);
        }
        if h.responder_spi != [0; 8] {
            return Err(Error::UnexpectedMessage("unknown ISAKMP SA"));
        }
        if self.half_open() >= self.config.max_half_open {
            return Err(Error::ResourceLimit("half-open ISAKMP SAs for this peer"));
        }
        let rng = R::from_rng(&mut self.rng);
        let mut phase1 = match &self.config.psks {
            Some(psks) => Phase1::respond_with_psks(self.config.phase1.clone(), psks.clone(), rng, now),
            None => Phase1::respond(self.config.phase1.clone(), rng, now),
        };
        phase1.handle_input(now, data)?;
        self.sas.push(IsakmpSa {
            phase1,
            ctx: None,
            ours: false,
            soft_at: None,
            hard_at: None,
            bytes: 0,
            soft_bytes: None,
            hard_bytes: None,
            replaced: false,
            delete_at: None,
            seen_ids: VecDeque::new(),
        });
        Ok(())
    }

    fn quick_input(
        &mut self,
        now: Instant,
        cookies: Cookies,
        message_id: u32,
        data: &[u8],
    ) -> Result<(), Error> {
        if let Some(x) =
            self.exchanges.iter_mut().find(|x| x.cookies == cookies && x.qm.message_id() == message_id)
        {
            return x.qm.handle_input(now, data);
        }
        let sa = self
            .sas
            .iter_mut()
            .find(|s| s.cookies() == cookies && s.established())
            .ok_or(Error::UnexpectedMessage("Quick Mode for an unknown ISAKMP SA"))?;
        if message_id == 0 || sa.seen_ids.contains(&message_id) {
            return Err(Error::UnexpectedMessage("Message ID of a finished exchange"));
        }
        if self.exchanges.len() >= MAX_EXCHANGES || self.children.len() >= MAX_CHILDREN {
            return Err(Error::ResourceLimit("Quick Modes or ESP SAs with this peer"));
        }
        let ctx = sa.ctx.clone().ok_or(Error::UnexpectedMessage("phase 1 incomplete"))?;
        let rng = R::from_rng(&mut self.rng);
        let qm = match QuickMode::respond_with_lifebytes(
            ctx.clone(),
            self.config.quick.clone(),
            self.config.child_lifetime_kilobytes,
            rng,
            now,
            data,
        ) {
            Ok(qm) => qm,
            Err(Error::NoProposalChosen) => {
                // HASH(1) verified (it is checked first): tell the peer (RFC 2408
                // §3.14.1) so its exchange ends now, and answer no repeat of it.
                sa.remember(message_id);
                let refusal = Informational::Notify {
                    protocol_id: ProtocolId::IpsecEsp,
                    notify_type: crate::wire::v1::NotifyType::NoProposalChosen,
                    spi: Vec::new(),
                    data: Vec::new(),
                };
                if let Ok(msg) = info::encode(&ctx, &refusal, &mut self.rng) {
                    self.outbox.push_back((msg, ctx.udp_encapsulated));
                }
                return Err(Error::NoProposalChosen);
            }
            Err(e) => return Err(e),
        };
        sa.remember(message_id);
        if let (Some(policy), Some((idci, idcr))) = (&self.config.responder_selectors, qm.traffic_selectors())
            && !policy.iter().any(|p| p.accepts(idci, idcr))
        {
            // HASH(1) verified: refuse (RFC 2407 §4.6.3) and drop the exchange before
            // its answer goes out; the Message ID stays remembered so a repeat is not
            // a new exchange.
            let refusal = Informational::Notify {
                protocol_id: ProtocolId::IpsecEsp,
                notify_type: crate::wire::v1::NotifyType::InvalidIdInformation,
                spi: Vec::new(),
                data: Vec::new(),
            };
            if let Ok(msg) = info::encode(&ctx, &refusal, &mut self.rng) {
                self.outbox.push_back((msg, ctx.udp_encapsulated));
            }
            self.events.push_back(ConnectionEvent::QuickModeRefused {
                message_id,
                traffic_selectors: (idci.clone(), idcr.clone()),
            });
            return Err(Error::UnexpectedMessage("traffic selectors outside the responder policy"));
        }
        self.exchanges.push(Exchange { qm, cookies, rekey_of: None, done_at: None, started_at: now });
        Ok(())
    }

    fn info_input(
        &mut self,
        now: Instant,
        cookies: Cookies,
        message_id: u32,
        data: &[u8],
    ) -> Result<(), Error> {
        let sa_index = self
            .sas
            .iter()
            .position(|s| s.cookies() == cookies && s.established())
            .ok_or(Error::UnexpectedMessage("informational for an unknown ISAKMP SA"))?;
        if self.sas[sa_index].seen_ids.contains(&message_id) {
            return Err(Error::UnexpectedMessage("replayed informational Message ID"));
        }
        let items = match &mut self.dpd {
            Some((c, dpd)) if *c == cookies => dpd.handle_input(now, data)?,
            _ => {
                let ctx = self.sas[sa_index].ctx.as_ref().ok_or(Error::UnexpectedMessage("no keys"))?;
                let items = info::decode(ctx, data)?;
                // DPD on an older ISAKMP SA: still answer R-U-THERE.
                let mut rest = Vec::new();
                for item in items {
                    match item.as_dpd() {
                        Some((seq, false)) => {
                            let ack = info::encode(ctx, &Informational::dpd(ctx, seq, true), &mut self.rng)?;
                            self.outbox.push_back((ack, ctx.udp_encapsulated));
                        }
                        Some((_, true)) => {}
                        None => rest.push(item),
                    }
                }
                rest
            }
        };
        self.sas[sa_index].remember(message_id);
        if let Some((_, dpd)) = &mut self.dpd {
            dpd.traffic_seen(now);
        }
        for item in items {
            match item {
                Informational::Delete { protocol_id, spis } => self.peer_delete(protocol_id, &spis),
                Informational::Notify { protocol_id, notify_type, spi, .. } => {
                    self.peer_refused(cookies, protocol_id, u16::from(notify_type), &spi);
                }
            }
        }
        Ok(())
    }

    /// RFC 2408 §3.14.1: an (authenticated) error notification ends a Quick Mode of ours
    /// at once instead of after its retries: the one whose ESP SPI it names, or, when it
    /// names none we know (charon refuses unknown traffic selectors with
    /// INVALID-ID-INFORMATION and no SPI), the only one running under that ISAKMP SA if
    /// the type is one of the proposal/ID errors 11-18.
    fn peer_refused(&mut self, cookies: Cookies, protocol_id: ProtocolId, notify_type: u16, spi: &[u8]) {
        if !(1..8192).contains(&notify_type) {
            return;
        }
        let running = |x: &Exchange<R>| x.done_at.is_none() && x.qm.is_initiator();
        let by_spi = <[u8; 4]>::try_from(spi)
            .ok()
            .map(u32::from_be_bytes)
            .filter(|_| protocol_id != ProtocolId::Isakmp)
            .and_then(|spi| self.exchanges.iter().position(|x| running(x) && x.qm.spi_in() == spi));
        let only = || {
            let mut on_sa =
                self.exchanges.iter().enumerate().filter(|(_, x)| running(x) && x.cookies == cookies);
            match (on_sa.next(), on_sa.next()) {
                (Some((i, _)), None) if (11..=18).contains(&notify_type) => Some(i),
                _ => None,
            }
        };
        let Some(i) = by_spi.or_else(only) else { return };
        let x = self.exchanges.remove(i);
        if let Some(c) = x.rekey_of.and_then(|s| self.children.iter_mut().find(|c| c.spi_in == s)) {
            c.rekeying = false;
        }
        let error = if notify_type == u16::from(crate::wire::v1::NotifyType::NoProposalChosen) {
            Error::NoProposalChosen
        } else {
            Error::PeerRefused(notify_type)
        };
        self.events.push_back(ConnectionEvent::QuickModeFailed {
            message_id: x.qm.message_id(),
            rekey_of: x.rekey_of,
            error,
        });
    }

    /// RFC 2408 §3.15: the peer deleted SAs. ESP SPIs are normally the peer's inbound
    /// ones (our outbound), but §3.15 does not say whose, so our inbound SPI names the
    /// pair too; ISAKMP SPIs are cookie pairs.
    fn peer_delete(&mut self, protocol_id: ProtocolId, spis: &[Vec<u8>]) {
        for spi in spis {
            match protocol_id {
                ProtocolId::IpsecEsp | ProtocolId::IpsecAh => {
                    let Ok(spi) = <[u8; 4]>::try_from(spi.as_slice()).map(u32::from_be_bytes) else {
                        continue;
                    };
                    // Normally the peer names its inbound SPI (our outbound); charon,
                    // when it could not install a pair, names the SPI it would have sent
                    // to (our inbound). Either names one pair; the peer's own SPI wins.
                    let i = self
                        .children
                        .iter()
                        .position(|c| c.spi_out == spi)
                        .or_else(|| self.children.iter().position(|c| c.spi_in == spi));
                    if let Some(i) = i {
                        self.remove_child(i, DeleteReason::PeerDeleted, false);
                    }
                }
                ProtocolId::Isakmp => {
                    let Ok(pair) = <[u8; 16]>::try_from(spi.as_slice()) else { continue };
                    let mut i = [0u8; 8];
                    let mut r = [0u8; 8];
                    i.copy_from_slice(&pair[..8]);
                    r.copy_from_slice(&pair[8..]);
                    if let Some(idx) = self.sas.iter().position(|s| s.cookies() == (i, r)) {
                        self.remove_sa(idx, DeleteReason::PeerDeleted, false);
                    }
                }
                _ => {}
            }
        }
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for sa in &mut self.sas {
            sa.phase1.handle_timeout(now);
        }
        for x in &mut self.exchanges {
            x.qm.handle_timeout(now);
        }
        if let Some((_, dpd)) = &mut self.dpd {
            dpd.handle_timeout(now);
        }
        self.pump(now);
        // Finished Quick Modes stop lingering.
        self.exchanges.retain(|x| x.done_at.is_none_or(|t| t + QUICK_MODE_LINGER > now));
        // ESP SA lifetimes.
        let mut i = 0;
        while i < self.children.len() {
            let c = &self.children[i];
            if c.delete_at.is_some_and(|t| t <= now) {
                self.remove_child(i, DeleteReason::Rekeyed, true);
                continue;
            }
            if c.hard_at.is_some_and(|t| t <= now) {
                self.remove_child(i, DeleteReason::Expired, true);
                continue;
            }
            if c.soft_at.is_some_and(|t| t <= now) {
                self.children[i].soft_at = None;
                self.child_soft(now, i);
            }
            i += 1;
        }
        // ISAKMP SA lifetimes.
        let mut i = 0;
        while i < self.sas.len() {
            let sa = &self.sas[i];
            if sa.delete_at.is_some_and(|t| t <= now) {
                self.remove_sa(i, DeleteReason::Rekeyed, true);
                continue;
            }
            if sa.hard_at.is_some_and(|t| t <= now) {
                self.remove_sa(i, DeleteReason::Expired, true);
                continue;
            }
            if sa.soft_at.is_some_and(|t| t <= now) {
                self.sas[i].soft_at = None;
                if !self.sas[i].replaced {
                    if self.config.auto_rekey {
                        if let Err(error) = self.rekey_phase1(now) {
                            self.events.push_back(ConnectionEvent::Phase1Failed { error, rekey: true });
                        }
                    } else {
                        self.events.push_back(ConnectionEvent::RekeyDue { spi_in: None });
                    }
                }
            }
            i += 1;
        }
        self.pump(now);
    }

    /// Appends the next datagram to send to `buf`, if any.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let start = buf.len();
        let t = self.next_transmit(now, buf)?;
        if let Some(msg) = buf.get(start..)
            && let Ok(h) = Header::parse(msg)
            && h.flags.encrypted()
        {
            self.count_isakmp_bytes(now, (h.initiator_spi, h.responder_spi), msg.len());
        }
        Some(t)
    }

    /// RFC 2407 §4.5: counts `len` bytes against the kilobyte lifetime of the ISAKMP SA
    /// `cookies`; a limit reached arms the matching deadline at `now`, so the next
    /// [`Self::handle_timeout`] rekeys or deletes the SA as for its time lifetime.
    fn count_isakmp_bytes(&mut self, now: Instant, cookies: Cookies, len: usize) {
        let Some(sa) = self.sas.iter_mut().find(|s| s.established() && s.cookies() == cookies) else {
            return;
        };
        sa.bytes = sa.bytes.saturating_add(len as u64);
        if sa.hard_bytes.is_some_and(|b| sa.bytes >= b) {
            sa.hard_bytes = None;
            sa.hard_at = Some(now);
        }
        if sa.soft_bytes.is_some_and(|b| sa.bytes >= b) {
            sa.soft_bytes = None;
            sa.soft_at = Some(now);
        }
    }

    fn next_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((msg, udp_encapsulated)) = self.outbox.pop_front() {
            buf.extend_from_slice(&msg);
            return Some(Transmit { size: msg.len(), udp_encapsulated });
        }
        for sa in &mut self.sas {
            if let Some(t) = sa.phase1.poll_transmit(now, buf) {
                return Some(t);
            }
        }
        for x in &mut self.exchanges {
            if let Some(t) = x.qm.poll_transmit(now, buf) {
                return Some(t);
            }
        }
        if let Some((_, dpd)) = &mut self.dpd {
            return dpd.poll_transmit(now, buf);
        }
        None
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ConnectionEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline at which [`Self::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sas = self.sas.iter().flat_map(|s| [s.phase1.poll_timeout(), s.soft_at, s.hard_at, s.delete_at]);
        let qms = self
            .exchanges
            .iter()
            .flat_map(|x| [x.qm.poll_timeout(), x.done_at.map(|t| t + QUICK_MODE_LINGER)]);
        let children = self.children.iter().flat_map(|c| [c.soft_at, c.hard_at, c.delete_at]);
        let dpd = self.dpd.iter().map(|(_, d)| d.poll_timeout());
        sas.chain(qms).chain(children).chain(dpd).flatten().min()
    }

    // --- internals ------------------------------------------------------------------------

    fn start_phase1(&mut self, now: Instant) -> Result<(), Error> {
        let mut config = self.config.phase1.clone();
        // RFC 2407 §4.6.3.3: INITIAL-CONTACT only on the first contact, never on a rekey
        // (it would make the peer drop the SAs we are keeping).
        config.initial_contact &= !self.connected_once && self.children.is_empty();
        let rng = R::from_rng(&mut self.rng);
        let phase1 = if self.config.aggressive {
            Phase1::initiate_aggressive(config, rng, now)?
        } else {
            Phase1::initiate(config, rng, now)?
        };
        self.connected_once = true;
        self.sas.push(IsakmpSa {
            phase1,
            ctx: None,
            ours: true,
            soft_at: None,
            hard_at: None,
            bytes: 0,
            soft_bytes: None,
            hard_bytes: None,
            replaced: false,
            delete_at: None,
            seen_ids: VecDeque::new(),
        });
        Ok(())
    }

    fn start_quick_mode(&mut self, now: Instant, rekey_of: Option<u32>) -> Result<(), Error> {
        let Some(sa) = self.sas.iter_mut().rev().find(|s| s.established() && !s.replaced) else {
            // No ISAKMP SA: negotiate one first.
            self.waiting.push(rekey_of);
            if !self.sas.iter().any(|s| s.ours && !s.established()) {
                self.start_phase1(now)?;
            }
            return Ok(());
        };
        let ctx = sa.ctx.clone().ok_or(Error::UnexpectedMessage("phase 1 incomplete"))?;
        let cookies = sa.cookies();
        let mut config = self.config.quick.clone();
        if let Some(old) = rekey_of.and_then(|s| self.children.iter().find(|c| c.spi_in == s)) {
            // As Quick Mode initiator we send IDci = ours, IDcr = the peer's.
            config.traffic_selectors.clone_from(&old.selectors);
        }
        let rng = R::from_rng(&mut self.rng);
        let qm =
            QuickMode::initiate_with_lifebytes(ctx, config, self.config.child_lifetime_kilobytes, rng, now)?;
        if let Some(sa) = self.sas.iter_mut().find(|s| s.cookies() == cookies) {
            sa.remember(qm.message_id());
        }
        if let Some(c) = rekey_of.and_then(|s| self.children.iter_mut().find(|c| c.spi_in == s)) {
            c.rekeying = true;
        }
        self.exchanges.push(Exchange { qm, cookies, rekey_of, done_at: None, started_at: now });
        Ok(())
    }

    fn child_soft(&mut self, now: Instant, i: usize) {
        let c = &self.children[i];
        if c.replaced || c.rekeying {
            return;
        }
        let spi_in = c.spi_in;
        if self.config.auto_rekey {
            if let Err(error) = self.start_quick_mode(now, Some(spi_in)) {
                self.events.push_back(ConnectionEvent::QuickModeFailed {
                    message_id: 0,
                    rekey_of: Some(spi_in),
                    error,
                });
            }
        } else {
            self.events.push_back(ConnectionEvent::RekeyDue { spi_in: Some(spi_in) });
        }
    }

    fn check_volume(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.children.len() {
            let c = &self.children[i];
            if c.hard_bytes.is_some_and(|b| c.bytes >= b) {
                self.remove_child(i, DeleteReason::Expired, true);
                continue;
            }
            if c.soft_bytes.is_some_and(|b| c.bytes >= b) {
                self.children[i].soft_bytes = None;
                self.child_soft(now, i);
            }
            i += 1;
        }
    }

    /// Sends an informational message on the newest established ISAKMP SA.
    fn send_info(&mut self, info: &Informational, prefer: Option<Cookies>) {
        let sa = prefer
            .and_then(|c| self.sas.iter().find(|s| s.cookies() == c && s.established()))
            .or_else(|| self.sas.iter().rev().find(|s| s.established() && !s.replaced))
            .or_else(|| self.sas.iter().rev().find(|s| s.established()));
        let Some(ctx) = sa.and_then(|s| s.ctx.as_ref()) else { return };
        if let Ok(msg) = info::encode(ctx, info, &mut self.rng) {
            self.outbox.push_back((msg, ctx.udp_encapsulated));
        }
    }

    fn remove_child(&mut self, i: usize, reason: DeleteReason, notify_peer: bool) {
        let c = self.children.remove(i);
        if notify_peer {
            // RFC 2408 §3.15: we name the SPI we chose, the one the peer sends to.
            self.send_info(
                &Informational::Delete {
                    protocol_id: ProtocolId::IpsecEsp,
                    spis: vec![c.spi_in.to_be_bytes().to_vec()],
                },
                None,
            );
        }
        self.events.push_back(ConnectionEvent::ChildSaDeleted {
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            reason,
        });
    }

    fn remove_sa(&mut self, i: usize, reason: DeleteReason, notify_peer: bool) {
        let cookies = self.sas[i].cookies();
        let established = self.sas[i].established();
        if notify_peer && established {
            let mut spi = cookies.0.to_vec();
            spi.extend_from_slice(&cookies.1);
            self.send_info(
                &Informational::Delete { protocol_id: ProtocolId::Isakmp, spis: vec![spi] },
                Some(cookies),
            );
        }
        self.sas.remove(i);
        self.exchanges.retain(|x| x.cookies != cookies || x.done_at.is_some());
        if self.dpd.as_ref().is_some_and(|(c, _)| *c == cookies) {
            self.dpd = None;
        }
        if established {
            self.events.push_back(ConnectionEvent::Phase1Deleted { cookies, reason });
        }
    }

    /// Collects the events of the machines this connection owns and acts on them.
    fn pump(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.sas.len() {
            let mut removed = false;
            while let Some(e) = self.sas[i].phase1.poll_event() {
                match e {
                    Phase1Event::Established {
                        peer_id,
                        proposal,
                        nat,
                        peer_supports_dpd,
                        initial_contact,
                    } => {
                        self.phase1_up(now, i, peer_id, proposal, nat, peer_supports_dpd, initial_contact);
                    }
                    Phase1Event::Failed(error) => {
                        let rekey = self.sas.iter().any(IsakmpSa::established);
                        let ours = self.sas[i].ours;
                        self.sas.remove(i);
                        removed = true;
                        if ours && !rekey {
                            // The Quick Modes waiting for it will not run.
                            self.waiting.clear();
                        }
                        if ours {
                            self.events.push_back(ConnectionEvent::Phase1Failed { error, rekey });
                        }
                        break;
                    }
                    // Lifetimes are run by this connection's own timers.
                    _ => {}
                }
            }
            if !removed {
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.exchanges.len() {
            while let Some(e) = self.exchanges[i].qm.poll_event() {
                match e {
                    QuickModeEvent::Established { child, traffic_selectors, peer_original_addresses } => {
                        self.exchanges[i].done_at = Some(now);
                        let x = &self.exchanges[i];
                        let (ni, nr) = x.qm.nonces();
                        let done = QuickModeDone {
                            rekey_of: x.rekey_of,
                            ours: x.qm.is_initiator(),
                            started_at: x.started_at,
                            lowest_nonce: ni.min(nr).to_vec(),
                        };
                        self.child_up(now, child, traffic_selectors, peer_original_addresses, done);
                    }
                    QuickModeEvent::Failed(error) => {
                        let x = &mut self.exchanges[i];
                        x.done_at = Some(now);
                        let rekey_of = x.rekey_of;
                        let message_id = x.qm.message_id();
                        if let Some(c) =
                            rekey_of.and_then(|s| self.children.iter_mut().find(|c| c.spi_in == s))
                        {
                            c.rekeying = false;
                        }
                        self.events.push_back(ConnectionEvent::QuickModeFailed {
                            message_id,
                            rekey_of,
                            error,
                        });
                    }
                }
            }
            i += 1;
        }
        if let Some((_, dpd)) = &mut self.dpd
            && let Some(DpdEvent::PeerDead) = dpd.poll_event()
        {
            self.dpd = None;
            self.sas.clear();
            self.exchanges.clear();
            self.waiting.clear();
            for c in std::mem::take(&mut self.children) {
                self.events.push_back(ConnectionEvent::ChildSaDeleted {
                    spi_in: c.spi_in,
                    spi_out: c.spi_out,
                    reason: DeleteReason::Expired,
                });
            }
            self.events.push_back(ConnectionEvent::PeerDead);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn phase1_up(
        &mut self,
        now: Instant,
        i: usize,
        peer_id: Identity,
        proposal: Phase1Proposal,
        nat: Option<NatStatus>,
        peer_supports_dpd: bool,
        initial_contact: bool,
    ) {
        let Some(ctx) = self.sas[i].phase1.isakmp_context() else { return };
        let cookies = self.sas[i].cookies();
        let ours = self.sas[i].ours;
        let margin = if ours { self.config.rekey_margin } else { self.config.rekey_margin / 2 };
        let soft = soft_deadline(proposal.lifetime, margin, self.config.rekey_jitter, &mut self.rng);
        {
            let sa = &mut self.sas[i];
            sa.ctx = Some(ctx.clone());
            // A lifetime beyond the clock's range means none.
            sa.hard_at = now.checked_add(proposal.lifetime);
            sa.soft_at = now.checked_add(soft);
            // RFC 2407 §4.5 kilobyte lifetime, with the same margin as the time one.
            sa.hard_bytes = sa.phase1.lifetime_kilobytes().map(|k| k.saturating_mul(1024));
            sa.soft_bytes = sa.hard_bytes.map(|b| b / 1000 * u64::from(1000 - margin.min(1000)));
        }
        if initial_contact && !ours {
            // The peer restarted: everything older with it is gone on its side.
            let mut j = 0;
            while j < self.sas.len() {
                if self.sas[j].cookies() != cookies && self.sas[j].established() {
                    self.remove_sa(j, DeleteReason::InitialContact, false);
                } else {
                    j += 1;
                }
            }
            for c in std::mem::take(&mut self.children) {
                self.events.push_back(ConnectionEvent::ChildSaDeleted {
                    spi_in: c.spi_in,
                    spi_out: c.spi_out,
                    reason: DeleteReason::InitialContact,
                });
            }
        }
        let old: Vec<Cookies> = self
            .sas
            .iter()
            .filter(|s| s.established() && !s.replaced && s.cookies() != cookies)
            .map(IsakmpSa::cookies)
            .collect();
        for sa in &mut self.sas {
            if old.contains(&sa.cookies()) {
                sa.replaced = true;
                sa.soft_at = None;
                sa.soft_bytes = None;
                if ours {
                    sa.delete_at = now.checked_add(self.config.delete_rekeyed_after);
                }
            }
        }
        match old.last() {
            Some(&previous) => self.events.push_back(ConnectionEvent::Phase1Rekeyed {
                old: previous,
                new: cookies,
                proposal,
            }),
            None => {
                self.events.push_back(ConnectionEvent::Phase1Established { cookies, peer_id, proposal, nat })
            }
        }
        self.dpd = match (self.config.dpd, peer_supports_dpd) {
            (Some(dpd), true) => Some((cookies, Dpd::new(ctx, dpd, R::from_rng(&mut self.rng), now))),
            _ => None,
        };
        for rekey_of in std::mem::take(&mut self.waiting) {
            if let Err(error) = self.start_quick_mode(now, rekey_of) {
                self.events.push_back(ConnectionEvent::QuickModeFailed { message_id: 0, rekey_of, error });
            }
        }
    }

    fn child_up(
        &mut self,
        now: Instant,
        child: Box<ChildSa>,
        traffic_selectors: Option<(TrafficSelector, TrafficSelector)>,
        peer_original_addresses: Vec<IpAddr>,
        done: QuickModeDone,
    ) {
        let QuickModeDone { rekey_of, ours, started_at, lowest_nonce } = done;
        // RFC 2409 §5.5: IDci names the initiator's side; keep them as (ours, peer's).
        let selectors = traffic_selectors.clone().map(|(ci, cr)| if ours { (ci, cr) } else { (cr, ci) });
        // A pair the peer started with the selectors of a pair we have is its rekey.
        let mut replaces = rekey_of.or_else(|| {
            self.children
                .iter()
                .rev()
                .find(|c| !ours && !c.replaced && c.selectors == selectors)
                .map(|c| c.spi_in)
        });
        // Simultaneous rekeys: both sides rekeyed the same pair at once, so two new pairs
        // replace it. Found either way round: our rekey finds its pair already replaced
        // by the peer's, or the peer's Quick Mode finds the pair our rekey brought up
        // while it ran or so recently that the pair it replaced is still installed (the
        // peer started before it saw our rekey end: its first message may come after our
        // last one).
        let sibling = match replaces.and_then(|s| self.children.iter().find(|c| c.spi_in == s)) {
            Some(c) if rekey_of.is_some() && c.replaced => {
                self.children.iter().find(|w| w.replaces == Some(c.spi_in) && !w.replaced).map(|w| w.spi_in)
            }
            Some(c)
                if rekey_of.is_none()
                    && c.replaces.is_some()
                    && (c.up_at >= started_at || (c.initiated && self.replaced_pair_installed(c))) =>
            {
                replaces = c.replaces;
                Some(c.spi_in)
            }
            _ => None,
        };
        let margin = if ours { self.config.rekey_margin } else { self.config.rekey_margin / 2 };
        let soft_at = child.hard_lifetime.time.and_then(|hard| {
            now.checked_add(soft_deadline(hard, margin, self.config.rekey_jitter, &mut self.rng))
        });
        let hard_bytes = child.hard_lifetime.bytes;
        let soft_bytes = hard_bytes.map(|b| b / 1000 * u64::from(1000 - margin.min(1000)));
        self.children.push(Child {
            spi_in: child.spi_in,
            spi_out: child.spi_out,
            selectors,
            soft_at,
            hard_at: child.hard_lifetime.time.and_then(|t| now.checked_add(t)),
            soft_bytes,
            hard_bytes,
            bytes: 0,
            replaced: false,
            rekeying: false,
            delete_at: None,
            replaces,
            up_at: now,
            lowest_nonce,
            initiated: ours,
        });
        if let Some(w) = sibling {
            self.settle_simultaneous_rekey(now, child, traffic_selectors, peer_original_addresses, w);
            return;
        }
        let old = replaces
            .and_then(|s| self.children.iter_mut().find(|c| c.spi_in == s && c.spi_in != child.spi_in));
        match old {
            Some(old) => {
                old.replaced = true;
                old.rekeying = false;
                old.soft_at = None;
                old.soft_bytes = None;
                if rekey_of.is_some() {
                    old.delete_at = now.checked_add(self.config.delete_rekeyed_after);
                }
                let old_spi_in = old.spi_in;
                self.events.push_back(ConnectionEvent::ChildSaRekeyed {
                    old_spi_in,
                    child,
                    traffic_selectors,
                });
            }
            None => self.events.push_back(ConnectionEvent::ChildSaUp {
                child,
                traffic_selectors,
                peer_original_addresses,
            }),
        }
    }

    /// The pair `c` replaced by a rekey of ours is still installed (its Delete is due
    /// [`ConnectionConfig::delete_rekeyed_after`] after the rekey).
    fn replaced_pair_installed(&self, c: &Child) -> bool {
        c.replaces.is_some_and(|r| self.children.iter().any(|o| o.spi_in == r))
    }

    /// Two new pairs (the one just up, the last in the list, and `sibling`) replace the
    /// same pair because both sides rekeyed it at once. As RFC 7296 §2.8.1 settles the
    /// same race in IKEv2 (IKEv1 has no rule), the pair whose Quick Mode used the lowest
    /// of the four nonces is redundant: both sides stop using it and the side that
    /// started it deletes it (after [`ConnectionConfig::delete_rekeyed_after`]). The
    /// other pair carries on alone; the pair both replaced is deleted as after any rekey.
    fn settle_simultaneous_rekey(
        &mut self,
        now: Instant,
        child: Box<ChildSa>,
        traffic_selectors: Option<(TrafficSelector, TrafficSelector)>,
        peer_original_addresses: Vec<IpAddr>,
        sibling: u32,
    ) {
        let n = self.children.len() - 1;
        let Some(w) = self.children.iter().position(|c| c.spi_in == sibling) else { return };
        let key = |c: &Child| (c.lowest_nonce.clone(), c.spi_in.min(c.spi_out));
        let new_wins = key(&self.children[n]) > key(&self.children[w]);
        let (winner, loser) = if new_wins { (n, w) } else { (w, n) };
        let delete_after = self.config.delete_rekeyed_after;
        let l = &mut self.children[loser];
        l.replaced = true;
        l.soft_at = None;
        l.soft_bytes = None;
        l.rekeying = false;
        if l.initiated {
            l.delete_at = now.checked_add(delete_after);
        }
        let loser_spi = l.spi_in;
        // The pair both replaced: gone as after any rekey (once, not twice).
        if let Some(old) = self.children[winner].replaces
            && let Some(o) = self.children.iter_mut().find(|c| c.spi_in == old)
        {
            o.replaced = true;
            o.rekeying = false;
            o.soft_at = None;
            o.soft_bytes = None;
            if o.delete_at.is_none() {
                o.delete_at = now.checked_add(delete_after);
            }
        }
        if new_wins {
            // The owner sends on the new pair from now on; the redundant one receives
            // until it is deleted.
            self.events.push_back(ConnectionEvent::ChildSaRekeyed {
                old_spi_in: loser_spi,
                child,
                traffic_selectors,
            });
        } else {
            // Redundant from the start: installed so that whatever the peer sends on it
            // arrives, and deleted soon (by us or by the peer).
            self.events.push_back(ConnectionEvent::ChildSaUp {
                child,
                traffic_selectors,
                peer_original_addresses,
            });
        }
    }
}

/// Phase-1 responders for many peers, with a limit on half-open ISAKMP SAs over all of
/// them: one [`Connection`] per peer address, created by the first datagram from it.
/// A peer whose port changes (the float to 4500 after NAT detection, RFC 3947 §4, or a
/// NAT rebinding) is found again by the cookies of its ISAKMP SA and keyed by its new
/// address after the first encrypted message that its connection accepts from there.
pub struct Responders<R> {
    template: ConnectionConfig,
    max_half_open_total: usize,
    max_peers: usize,
    rng: R,
    peers: HashMap<SocketAddr, Connection<R>>,
}

impl<R> core::fmt::Debug for Responders<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Responders").field("peers", &self.peers.len()).finish_non_exhaustive()
    }
}

impl<R: CryptoRng + SeedableRng> Responders<R> {
    /// A table answering with `template` (NAT-T addresses are set per peer), at most
    /// `max_half_open_total` half-open ISAKMP SAs and `max_peers` peers.
    #[must_use]
    pub fn new(template: ConnectionConfig, max_half_open_total: usize, max_peers: usize, rng: R) -> Self {
        Self { template, max_half_open_total, max_peers, rng, peers: HashMap::new() }
    }

    /// Half-open ISAKMP SAs over all peers.
    #[must_use]
    pub fn half_open(&self) -> usize {
        self.peers.values().map(Connection::half_open).sum()
    }

    /// Feeds a datagram from `from` (to our `local` address).
    ///
    /// # Errors
    /// [`Error::ResourceLimit`] when a new phase 1 would pass a limit; otherwise as
    /// [`Connection::handle_input`].
    pub fn handle_input(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), Error> {
        let h = Header::parse(data)?;
        let opens = h.responder_spi == [0; 8] && h.message_id == 0;
        if opens && self.half_open() >= self.max_half_open_total {
            return Err(Error::ResourceLimit("half-open ISAKMP SAs in total"));
        }
        if !self.peers.contains_key(&from) && !opens {
            return self.moved_peer_input(now, from, &h, data);
        }
        if !self.peers.contains_key(&from) {
            if !opens {
                return Err(Error::UnexpectedMessage("unknown peer"));
            }
            if self.peers.len() >= self.max_peers {
                return Err(Error::ResourceLimit("peers"));
            }
            let mut config = self.template.clone();
            if let Some(n) = &mut config.phase1.nat_traversal {
                n.local = local;
                n.remote = from;
            }
            let mut c = Connection::new(config, R::from_rng(&mut self.rng));
            c.handle_input(now, data)?;
            self.peers.insert(from, c);
            return Ok(());
        }
        self.peers.get_mut(&from).map_or(Ok(()), |c| c.handle_input(now, data))
    }

    /// A datagram from an address we hold no connection for, which does not open an SA:
    /// RFC 3947 §4 moves the peer to port 4500 after the NAT detection (and a NAT may
    /// change the port of its mapping later). It goes to the connection with the same IP
    /// address that holds the ISAKMP SA its cookies name; if that connection accepts it
    /// and the message was encrypted (so it decrypted under the SA's keys and passed its
    /// hash check), the peer is known under the new address from then on.
    fn moved_peer_input(
        &mut self,
        now: Instant,
        from: SocketAddr,
        h: &Header,
        data: &[u8],
    ) -> Result<(), Error> {
        let cookies = (h.initiator_spi, h.responder_spi);
        let old = self
            .peers
            .iter()
            .find(|(addr, c)| addr.ip() == from.ip() && c.sas.iter().any(|s| s.cookies() == cookies))
            .map(|(addr, _)| *addr)
            .ok_or(Error::UnexpectedMessage("unknown peer"))?;
        let c = self.peers.get_mut(&old).ok_or(Error::UnexpectedMessage("unknown peer"))?;
        c.handle_input(now, data)?;
        if h.flags.encrypted()
            && let Some(mut c) = self.peers.remove(&old)
        {
            if let Some(n) = &mut c.config.phase1.nat_traversal {
                n.remote = from;
            }
            self.peers.insert(from, c);
        }
        Ok(())
    }

    /// The connection with `peer`, if any.
    pub fn get_mut(&mut self, peer: &SocketAddr) -> Option<&mut Connection<R>> {
        self.peers.get_mut(peer)
    }

    /// Every peer's connection.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&SocketAddr, &mut Connection<R>)> {
        self.peers.iter_mut()
    }

    /// Drops connections that hold no SA any more.
    pub fn prune(&mut self) {
        self.peers.retain(|_, c| !c.sas.is_empty() || !c.children.is_empty() || !c.events.is_empty());
    }
}

//! Dead Peer Detection (RFC 3706) for an established ISAKMP SA, as a sans-IO machine.
//!
//! After [`DpdConfig::idle`] without hearing from the peer, [`Dpd`] sends an R-U-THERE
//! and expects the R-U-THERE-ACK; it retries with a fresh sequence number each time and
//! reports [`DpdEvent::PeerDead`] when retries run out. It answers the peer's R-U-THERE
//! with an acknowledgement. The owner feeds it every informational message of the ISAKMP
//! SA ([`Dpd::handle_input`] returns the non-DPD items, e.g. deletes) and calls
//! [`Dpd::traffic_seen`] whenever anything authenticated arrives from the peer (IKE or
//! ESP), which postpones the next probe (RFC 3706 §5.3: probe only when idle).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand_core::CryptoRng;

use super::info::{self, Informational};
use super::phase1::Transmit;
use super::quick::IsakmpContext;
use crate::error::Error;

/// DPD timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpdConfig {
    /// Silence from the peer before a probe.
    pub idle: Duration,
    /// Wait for an acknowledgement before retrying.
    pub retransmit_timeout: Duration,
    /// Unanswered retries before the peer is declared dead.
    pub max_retransmits: u32,
}

impl Default for DpdConfig {
    /// 30 s idle, 5 s per try, 5 retries (strongSwan-like).
    fn default() -> Self {
        Self { idle: Duration::from_secs(30), retransmit_timeout: Duration::from_secs(5), max_retransmits: 5 }
    }
}

/// What the DPD machine tells its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpdEvent {
    /// The peer answered none of the probes: tear the SAs down.
    PeerDead,
}

/// Counters, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DpdStats {
    /// R-U-THERE messages sent (retries included).
    pub probes_sent: u32,
    /// Acknowledgements of our probes received.
    pub acks_received: u32,
    /// Peer's R-U-THERE answered.
    pub requests_answered: u32,
}

/// Dead Peer Detection for one ISAKMP SA.
pub struct Dpd<R> {
    ctx: IsakmpContext,
    config: DpdConfig,
    rng: R,
    /// Sequence number of our last probe.
    seq: u32,
    /// Sequence numbers of the probes of the current round (first, last).
    outstanding: Option<(u32, u32)>,
    retransmits: u32,
    probe_at: Option<Instant>,
    /// Highest R-U-THERE sequence number answered (replays are ignored).
    peer_seq: Option<u32>,
    outbox: VecDeque<Vec<u8>>,
    events: VecDeque<DpdEvent>,
    stats: DpdStats,
    dead: bool,
}

impl<R> core::fmt::Debug for Dpd<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dpd")
            .field("seq", &self.seq)
            .field("outstanding", &self.outstanding)
            .field("probe_at", &self.probe_at)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> Dpd<R> {
    /// Starts DPD for the ISAKMP SA `ctx`; the first probe is due `config.idle` from now.
    pub fn new(ctx: IsakmpContext, config: DpdConfig, mut rng: R, now: Instant) -> Self {
        // RFC 3706 §7: start from a random sequence number (kept below 2^31 so it does
        // not wrap soon).
        let seq = rng.next_u32() & 0x7fff_ffff;
        Self {
            ctx,
            config,
            rng,
            seq,
            outstanding: None,
            retransmits: 0,
            probe_at: Some(now + config.idle),
            peer_seq: None,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            stats: DpdStats::default(),
            dead: false,
        }
    }

    /// Feeds an informational message of this ISAKMP SA. DPD notifications are handled
    /// here; everything else it carried (deletes, other notifications) is returned.
    ///
    /// # Errors
    /// The message does not decrypt or authenticate (then nothing changes).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<Vec<Informational>, Error> {
        let items = info::decode(&self.ctx, data)?;
        let mut rest = Vec::new();
        for item in items {
            match item.as_dpd() {
                Some((seq, false)) => {
                    if self.peer_seq.is_some_and(|last| seq <= last) {
                        continue; // replayed or stale R-U-THERE
                    }
                    self.peer_seq = Some(seq);
                    let ack =
                        info::encode(&self.ctx, &Informational::dpd(&self.ctx, seq, true), &mut self.rng)?;
                    self.outbox.push_back(ack);
                    self.stats.requests_answered += 1;
                    self.alive(now);
                }
                Some((seq, true)) => {
                    if self.outstanding.is_some_and(|(first, last)| (first..=last).contains(&seq)) {
                        self.stats.acks_received += 1;
                        self.alive(now);
                    }
                }
                None => rest.push(item),
            }
        }
        Ok(rest)
    }

    /// The peer was heard from (any authenticated IKE or ESP traffic): postpone probing.
    pub fn traffic_seen(&mut self, now: Instant) {
        self.alive(now);
    }

    fn alive(&mut self, now: Instant) {
        if self.dead {
            return;
        }
        self.outstanding = None;
        self.retransmits = 0;
        self.probe_at = Some(now + self.config.idle);
    }

    /// Sends a probe when the peer has been idle, retries, or declares it dead.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(at) = self.probe_at else { return };
        if at > now {
            return;
        }
        if self.outstanding.is_some() && self.retransmits >= self.config.max_retransmits {
            self.probe_at = None;
            self.outstanding = None;
            self.dead = true;
            self.events.push_back(DpdEvent::PeerDead);
            return;
        }
        if self.outstanding.is_some() {
            self.retransmits += 1;
        }
        self.seq = self.seq.wrapping_add(1);
        let first = self.outstanding.map_or(self.seq, |(first, _)| first);
        self.outstanding = Some((first, self.seq));
        if let Ok(probe) =
            info::encode(&self.ctx, &Informational::dpd(&self.ctx, self.seq, false), &mut self.rng)
        {
            self.outbox.push_back(probe);
            self.stats.probes_sent += 1;
        }
        self.probe_at = Some(now + self.config.retransmit_timeout);
    }

    /// Appends the next datagram to send to `buf`, if any.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let msg = self.outbox.pop_front()?;
        buf.extend_from_slice(&msg);
        Some(Transmit { size: msg.len(), udp_encapsulated: self.ctx.udp_encapsulated })
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<DpdEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.probe_at
    }

    /// Counters.
    #[must_use]
    pub const fn stats(&self) -> DpdStats {
        self.stats
    }
}

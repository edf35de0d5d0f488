//! A virtual-clock LAC ↔ LNS pair over an emulated link that can drop, duplicate and
//! reorder datagrams. No sockets, no sleeping: time jumps to the next deadline.

use std::time::{Duration, Instant};

use l2sec_l2tp::{Config, Endpoint, Event, Input, SessionHandle};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

pub const LAC: u8 = 1;
pub const LNS: u8 = 2;

/// Link behaviour, in percent per datagram.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkProfile {
    pub drop_pct: u32,
    pub duplicate_pct: u32,
    /// Extra random delay up to this many ms (reorders datagrams).
    pub jitter_ms: u64,
    /// Apply loss/dup/jitter to control messages only (data passes cleanly).
    pub control_only: bool,
}

#[derive(Debug)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: u8,
    bytes: Vec<u8>,
}

pub struct Pair {
    pub lac: Endpoint<u8, ChaCha20Rng>,
    pub lns: Endpoint<u8, ChaCha20Rng>,
    pub now: Instant,
    pub start: Instant,
    pub link: LinkProfile,
    link_rng: ChaCha20Rng,
    in_flight: Vec<InFlight>,
    seq: u64,
    pub lac_events: Vec<Event>,
    pub lns_events: Vec<Event>,
    /// PPP frames delivered: (receiver, session, frame).
    pub data: Vec<(u8, SessionHandle, Vec<u8>)>,
    /// Every datagram each side sent: (sender, bytes).
    pub wire: Vec<(u8, Vec<u8>)>,
    /// When each `wire` entry was sent (since the start).
    pub wire_times: Vec<Duration>,
    /// Input errors (dropped datagrams) per receiver.
    pub errors: Vec<(u8, l2sec_l2tp::Error)>,
    /// Stop delivering anything to this side (it went silent / unplugged).
    pub blackhole: Option<u8>,
    pub base_delay: Duration,
}

impl Pair {
    pub fn new(lac: Config, lns: Config, seed: u64, link: LinkProfile) -> Self {
        let now = Instant::now();
        Self {
            lac: Endpoint::new(lac, ChaCha20Rng::seed_from_u64(seed)),
            lns: Endpoint::new(lns, ChaCha20Rng::seed_from_u64(seed ^ 0x5555)),
            now,
            start: now,
            link,
            link_rng: ChaCha20Rng::seed_from_u64(seed ^ 0xaaaa),
            in_flight: Vec::new(),
            seq: 0,
            lac_events: Vec::new(),
            lns_events: Vec::new(),
            data: Vec::new(),
            wire: Vec::new(),
            wire_times: Vec::new(),
            errors: Vec::new(),
            blackhole: None,
            base_delay: Duration::from_millis(5),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Puts a datagram on the link from `from` (applying the link profile).
    pub fn send(&mut self, from: u8, bytes: Vec<u8>) {
        let to = if from == LAC { LNS } else { LAC };
        self.wire.push((from, bytes.clone()));
        self.wire_times.push(self.now - self.start);
        let lossy = !self.link.control_only || l2sec_l2tp::wire::is_control(&bytes);
        let mut copies = 1;
        if lossy {
            if self.link_rng.next_u32() % 100 < self.link.drop_pct {
                copies = 0;
            } else if self.link_rng.next_u32() % 100 < self.link.duplicate_pct {
                copies = 2;
            }
        }
        for _ in 0..copies {
            let jitter = if lossy && self.link.jitter_ms > 0 {
                Duration::from_millis(self.link_rng.next_u64() % self.link.jitter_ms)
            } else {
                Duration::ZERO
            };
            self.seq += 1;
            self.in_flight.push(InFlight {
                at: self.now + self.base_delay + jitter,
                seq: self.seq,
                to,
                bytes: bytes.clone(),
            });
        }
    }

    fn drain(&mut self) {
        let mut buf = Vec::new();
        loop {
            let mut any = false;
            while let Some(t) = self.lac.poll_transmit(self.now, &mut buf) {
                assert_eq!(t.destination, LNS);
                assert_eq!(t.size, buf.len());
                let b = std::mem::take(&mut buf);
                self.send(LAC, b);
                any = true;
            }
            while let Some(t) = self.lns.poll_transmit(self.now, &mut buf) {
                assert_eq!(t.destination, LAC);
                let b = std::mem::take(&mut buf);
                self.send(LNS, b);
                any = true;
            }
            while let Some(e) = self.lac.poll_event() {
                self.lac_events.push(e);
            }
            while let Some(e) = self.lns.poll_event() {
                self.lns_events.push(e);
            }
            if !any {
                break;
            }
        }
    }

    /// Hands one datagram to a side, as if it arrived now.
    pub fn deliver(&mut self, to: u8, bytes: &[u8]) {
        let (ep, from) = if to == LAC { (&mut self.lac, LNS) } else { (&mut self.lns, LAC) };
        match ep.handle_input(self.now, from, bytes) {
            Ok(Input::Data { session, ppp }) => self.data.push((to, session, ppp.to_vec())),
            Ok(Input::Control) => {}
            Err(e) => self.errors.push((to, e)),
        }
        self.drain();
    }

    /// Runs until nothing is in flight and no timer is due before `limit` from now.
    pub fn run_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        self.drain();
        loop {
            let next_packet = self.in_flight.iter().map(|p| (p.at, p.seq)).min();
            let next_timer = [self.lac.poll_timeout(), self.lns.poll_timeout()].into_iter().flatten().min();
            let next = match (next_packet, next_timer) {
                (Some((p, _)), Some(t)) => p.min(t),
                (Some((p, _)), None) => p,
                (None, Some(t)) => t,
                (None, None) => break,
            };
            if next > end {
                self.now = end;
                break;
            }
            self.now = self.now.max(next);
            if let Some((_, seq)) = next_packet.filter(|(p, _)| *p <= self.now) {
                let i = self.in_flight.iter().position(|p| p.seq == seq).unwrap();
                let p = self.in_flight.swap_remove(i);
                if self.blackhole != Some(p.to) {
                    self.deliver(p.to, &p.bytes);
                }
            }
            let now = self.now;
            if self.lac.poll_timeout().is_some_and(|t| t <= now) {
                self.lac.handle_timeout(now);
            }
            if self.lns.poll_timeout().is_some_and(|t| t <= now) {
                self.lns.handle_timeout(now);
            }
            self.drain();
        }
        self.drain();
    }

    /// Runs until the link is idle (all acknowledged), at most `limit`.
    pub fn settle(&mut self, limit: Duration) {
        // HELLO timers keep ticking forever, so stop once nothing is in flight and the only
        // pending deadlines are beyond a few retransmission periods.
        let end = self.now + limit;
        while self.now < end {
            self.run_for(Duration::from_secs(1));
            if self.in_flight.is_empty() {
                let horizon = self.now + Duration::from_secs(40);
                let quiet = [self.lac.poll_timeout(), self.lns.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .all(|t| t > horizon);
                if quiet {
                    break;
                }
            }
        }
    }

    pub fn count<F: Fn(&Event) -> bool>(events: &[Event], f: F) -> usize {
        events.iter().filter(|e| f(e)).count()
    }
}

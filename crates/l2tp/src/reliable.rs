//! Reliable delivery of control messages (RFC 2661 §5.8): Ns/Nr, acknowledgements, the
//! peer's receive window, retransmission with back-off and a bounded out-of-order queue.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// RFC 2661 §5.8: `a` comes before `b` in 16-bit serial arithmetic (up to 32767 ahead).
#[must_use]
pub(crate) fn seq_lt(a: u16, b: u16) -> bool {
    let d = b.wrapping_sub(a);
    d != 0 && d < 0x8000
}

/// One control message handed to the reliable layer, encoded with its Ns.
#[derive(Debug)]
struct Outgoing {
    ns: u16,
    bytes: Vec<u8>,
    transmitted: bool,
}

/// What to do with a received non-ZLB control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// In order: process it now.
    Deliver,
    /// Already delivered (a retransmission): acknowledge again, do not process.
    Duplicate,
    /// Ahead of the expected Ns: kept until the gap fills.
    Queued,
    /// Ahead but beyond the window or the queue is full: dropped (the peer will resend).
    Dropped,
}

/// Timers and counters of the reliable layer.
#[derive(Debug)]
pub(crate) struct Reliable {
    /// Ns to give the next new message.
    next_ns: u16,
    /// Our Nr: the next Ns we expect from the peer.
    expected: u16,
    /// RFC 2661 §5.8: how many unacknowledged messages the peer accepts.
    peer_window: u16,
    /// Our advertised window; bounds the out-of-order queue.
    local_window: u16,
    queue: VecDeque<Outgoing>,
    out_of_order: BTreeMap<u16, Vec<u8>>,
    /// An acknowledgement is owed to the peer.
    pub(crate) ack_owed: bool,
    retries: u32,
    rto: Duration,
    initial_rto: Duration,
    max_rto: Duration,
    max_retries: u32,
    queue_limit: usize,
    /// When the oldest transmitted message is resent.
    pub(crate) retransmit_at: Option<Instant>,
}

/// The retry limit was reached: the peer is considered gone (RFC 2661 §5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetriesExhausted;

impl Reliable {
    pub(crate) fn new(
        local_window: u16,
        initial_rto: Duration,
        max_rto: Duration,
        max_retries: u32,
        queue_limit: usize,
    ) -> Self {
        Self {
            next_ns: 0,
            expected: 0,
            peer_window: 4,
            local_window: local_window.max(1),
            queue: VecDeque::new(),
            out_of_order: BTreeMap::new(),
            ack_owed: false,
            retries: 0,
            rto: initial_rto,
            initial_rto,
            max_rto,
            max_retries,
            queue_limit,
            retransmit_at: None,
        }
    }

    /// RFC 2661 §4.4.3: the peer's Receive Window Size (0 is not allowed; treated as 1).
    pub(crate) fn set_peer_window(&mut self, w: u16) {
        self.peer_window = w.max(1);
    }

    pub(crate) fn next_ns(&self) -> u16 {
        self.next_ns
    }

    pub(crate) fn expected(&self) -> u16 {
        self.expected
    }

    pub(crate) fn unacked(&self) -> usize {
        self.queue.len()
    }

    /// True when another message can be queued.
    pub(crate) fn has_room(&self) -> bool {
        self.queue.len() < self.queue_limit
    }

    /// Queues an encoded message whose header carries `next_ns()`; `force` ignores the queue
    /// limit (for StopCCN/CDN, which must always go out).
    pub(crate) fn push(&mut self, bytes: Vec<u8>, force: bool) -> bool {
        if !force && !self.has_room() {
            return false;
        }
        self.queue.push_back(Outgoing { ns: self.next_ns, bytes, transmitted: false });
        self.next_ns = self.next_ns.wrapping_add(1);
        true
    }

    /// Processes a received Nr (RFC 2661 §5.8): drops every queued message it acknowledges.
    /// An Nr acknowledging something never sent is ignored. Returns true on progress.
    pub(crate) fn on_nr(&mut self, now: Instant, nr: u16) -> bool {
        let oldest = match self.queue.front() {
            Some(o) => o.ns,
            None => return false,
        };
        // Valid Nr: oldest < nr <= next_ns.
        if !seq_lt(oldest, nr) || seq_lt(self.next_ns, nr) {
            return false;
        }
        while self.queue.front().is_some_and(|o| seq_lt(o.ns, nr)) {
            self.queue.pop_front();
        }
        self.retries = 0;
        self.rto = self.initial_rto;
        self.retransmit_at =
            if self.queue.iter().any(|o| o.transmitted) { Some(now + self.rto) } else { None };
        true
    }

    /// Classifies a received message by its Ns; `bytes` is kept if it must wait.
    pub(crate) fn on_ns(&mut self, ns: u16, bytes: &[u8]) -> Arrival {
        if ns == self.expected {
            // A copy that arrived early (or a forgery with the same Ns) is now stale.
            self.out_of_order.remove(&ns);
            self.expected = self.expected.wrapping_add(1);
            self.ack_owed = true;
            Arrival::Deliver
        } else if seq_lt(ns, self.expected) {
            self.ack_owed = true;
            Arrival::Duplicate
        } else {
            let ahead = ns.wrapping_sub(self.expected);
            if ahead < self.local_window && self.out_of_order.len() < usize::from(self.local_window) {
                self.out_of_order.entry(ns).or_insert_with(|| bytes.to_vec());
                Arrival::Queued
            } else {
                Arrival::Dropped
            }
        }
    }

    /// The next queued message that became in-order, if any (advances Nr).
    pub(crate) fn pop_in_order(&mut self) -> Option<Vec<u8>> {
        let bytes = self.out_of_order.remove(&self.expected)?;
        self.expected = self.expected.wrapping_add(1);
        self.ack_owed = true;
        Some(bytes)
    }

    /// Collects every message that may be (re)sent now into `out`, with Nr patched to the
    /// current value. Returns true if something was added.
    pub(crate) fn transmit(&mut self, now: Instant, out: &mut VecDeque<Vec<u8>>) -> bool {
        let window = usize::from(self.peer_window);
        let mut sent = false;
        let nr = self.expected.to_be_bytes();
        for o in self.queue.iter_mut().take(window) {
            if !o.transmitted {
                o.transmitted = true;
                o.bytes[10..12].copy_from_slice(&nr);
                out.push_back(o.bytes.clone());
                sent = true;
            }
        }
        if sent {
            self.ack_owed = false;
            if self.retransmit_at.is_none() {
                self.retransmit_at = Some(now + self.rto);
            }
        }
        sent
    }

    /// Retransmission timer expiry: resends the window with back-off (capped), or reports
    /// that the retry limit was reached.
    pub(crate) fn on_retransmit_timeout(
        &mut self,
        now: Instant,
        out: &mut VecDeque<Vec<u8>>,
    ) -> Result<(), RetriesExhausted> {
        if self.retransmit_at.is_none_or(|t| t > now) {
            return Ok(());
        }
        if self.retries >= self.max_retries {
            self.retransmit_at = None;
            return Err(RetriesExhausted);
        }
        self.retries += 1;
        self.rto = (self.rto * 2).min(self.max_rto);
        let nr = self.expected.to_be_bytes();
        let window = usize::from(self.peer_window);
        for o in self.queue.iter_mut().take(window) {
            o.transmitted = true;
            o.bytes[10..12].copy_from_slice(&nr);
            out.push_back(o.bytes.clone());
        }
        self.ack_owed = false;
        self.retransmit_at = if self.queue.is_empty() { None } else { Some(now + self.rto) };
        Ok(())
    }

    /// The peer closed: nothing we queued needs to reach it any more, but acknowledgements
    /// are still owed.
    pub(crate) fn clear_queue_for_close(&mut self) {
        self.queue.clear();
        self.out_of_order.clear();
        self.retransmit_at = None;
    }

    /// Forgets everything queued (the tunnel is gone).
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.out_of_order.clear();
        self.retransmit_at = None;
        self.ack_owed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_arithmetic_wraps() {
        assert!(seq_lt(0, 1));
        assert!(seq_lt(65535, 0));
        assert!(!seq_lt(1, 0));
        assert!(!seq_lt(5, 5));
        assert!(seq_lt(0, 32767));
        assert!(!seq_lt(0, 32768));
    }

    #[test]
    fn out_of_order_is_bounded_by_window() {
        let mut r = Reliable::new(2, Duration::from_secs(1), Duration::from_secs(8), 5, 8);
        assert_eq!(r.on_ns(1, b"one"), Arrival::Queued);
        assert_eq!(r.on_ns(2, b"two"), Arrival::Dropped); // 2 ahead of 0, window 2
        assert_eq!(r.on_ns(0, b"zero"), Arrival::Deliver);
        assert_eq!(r.pop_in_order().as_deref(), Some(&b"one"[..]));
        assert_eq!(r.pop_in_order(), None);
        assert_eq!(r.on_ns(1, b"one"), Arrival::Duplicate);
        assert_eq!(r.expected(), 2);
    }

    #[test]
    fn nr_beyond_what_was_sent_is_ignored() {
        let now = Instant::now();
        let mut r = Reliable::new(4, Duration::from_secs(1), Duration::from_secs(8), 5, 8);
        let mut out = VecDeque::new();
        r.push(vec![0; 12], false);
        r.transmit(now, &mut out);
        assert!(!r.on_nr(now, 5));
        assert_eq!(r.unacked(), 1);
        assert!(r.on_nr(now, 1));
        assert_eq!(r.unacked(), 0);
    }

    #[test]
    fn backoff_doubles_up_to_cap_then_gives_up() {
        let t0 = Instant::now();
        let mut r = Reliable::new(4, Duration::from_secs(1), Duration::from_secs(4), 3, 8);
        let mut out = VecDeque::new();
        r.push(vec![0; 12], false);
        r.transmit(t0, &mut out);
        let mut deadlines = vec![r.retransmit_at.unwrap() - t0];
        while let Some(at) = r.retransmit_at {
            let now = at;
            if r.on_retransmit_timeout(now, &mut out).is_err() {
                break;
            }
            if let Some(next) = r.retransmit_at {
                deadlines.push(next - now);
            }
        }
        let secs: Vec<u64> = deadlines.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, vec![1, 2, 4, 4]);
        assert_eq!(out.len(), 4); // first send + 3 retries
    }
}

//! The anti-replay window of RFC 4303 §3.4.3 and Appendix A, with extended sequence
//! numbers inferred from their low 32 bits (Appendix A2).
//!
//! The window is a ring of 64-bit words indexed by sequence number (the RFC 6479 layout):
//! advancing the window clears whole words instead of shifting a bitmap, so the cost of a
//! check or an update does not grow with the window size.

/// The smallest window the receiver accepts (RFC 4303 §3.4.3 requires 32).
pub const MIN_WINDOW: u32 = 32;
/// The largest window this implementation supports.
pub const MAX_WINDOW: u32 = 1 << 16;

/// Anti-replay state of one inbound SA.
///
/// Use it in two steps, as RFC 4303 §3.4.3 orders: [`check`](Self::check) before the ICV is
/// verified (cheap rejection of replays), and [`accept`](Self::accept) only after the
/// packet was authenticated.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    /// Highest sequence number accepted so far (0: none yet).
    top: u64,
    /// Number of sequence numbers at and below `top` that are tracked.
    size: u64,
    /// Ring of bits; bit `s % (64 * words)` is set when `s` was accepted.
    bits: Box<[u64]>,
    esn: bool,
}

/// Outcome of [`ReplayWindow::check`] for a packet that may be new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The full (64-bit with ESN) sequence number the packet is taken to carry.
    pub seq: u64,
}

impl ReplayWindow {
    /// A window tracking `size` sequence numbers (32 ..= 65536), for 32-bit or extended
    /// sequence numbers.
    pub fn new(size: u32, esn: bool) -> Result<Self, crate::Error> {
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&size) {
            return Err(crate::Error::Config("replay window must be 32 ..= 65536"));
        }
        // One spare word so that the word holding `top` never overlaps the oldest one.
        let words = (size as usize).div_ceil(64) + 1;
        Ok(Self { top: 0, size: u64::from(size), bits: vec![0; words].into_boxed_slice(), esn })
    }

    /// The number of sequence numbers the window tracks.
    #[must_use]
    pub fn size(&self) -> u32 {
        self.size as u32
    }

    /// The highest sequence number accepted so far (0 before the first packet).
    #[must_use]
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Infers the full sequence number of a packet carrying `seq_low` and checks that it is
    /// neither a replay nor left of the window. Does not change the window.
    ///
    /// Without ESN the sequence number is `seq_low` itself. With ESN the high half is
    /// guessed as RFC 4303 Appendix A2.2 describes; a wrong guess fails the ICV.
    pub fn check(&self, seq_low: u32) -> Result<Candidate, u64> {
        let seq = if self.esn { self.infer(seq_low).ok_or(u64::from(seq_low))? } else { u64::from(seq_low) };
        if seq == 0 {
            // Sequence number 0 is never sent (RFC 4303 §3.3.3: the first packet is 1).
            return Err(0);
        }
        if seq > self.top {
            return Ok(Candidate { seq });
        }
        if self.top - seq >= self.size || self.is_set(seq) {
            return Err(seq);
        }
        Ok(Candidate { seq })
    }

    /// Records an authenticated packet. `candidate` must come from [`check`](Self::check)
    /// on this window with no other `accept` in between, or from a check made after the
    /// last `accept` (the usual receive path).
    pub fn accept(&mut self, candidate: Candidate) {
        let seq = candidate.seq;
        if seq > self.top {
            self.clear_between(self.top, seq);
            self.top = seq;
        }
        self.set(seq);
    }

    /// RFC 4303 Appendix A2.2: pick the high 32 bits for `seq_low` relative to the window.
    fn infer(&self, seq_low: u32) -> Option<u64> {
        let t_low = self.top as u32;
        let t_high = (self.top >> 32) as u32;
        let w = self.size as u32; // size ≤ 65536 fits in u32
        let bottom_low = t_low.wrapping_sub(w - 1);
        let high = if t_low >= w - 1 {
            // Case A: the window lies within one 2^32 subspace.
            if seq_low >= bottom_low { t_high } else { t_high.checked_add(1)? }
        } else {
            // Case B: the window spans two subspaces.
            if seq_low >= bottom_low { t_high.checked_sub(1)? } else { t_high }
        };
        Some((u64::from(high) << 32) | u64::from(seq_low))
    }

    fn ring_bits(&self) -> u64 {
        self.bits.len() as u64 * 64
    }

    fn is_set(&self, seq: u64) -> bool {
        let i = seq % self.ring_bits();
        self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, seq: u64) {
        let i = seq % self.ring_bits();
        self.bits[(i / 64) as usize] |= 1 << (i % 64);
    }

    /// Clears the words for sequence numbers in (old_top, new_top] before they are reused.
    fn clear_between(&mut self, old_top: u64, new_top: u64) {
        let words = self.bits.len() as u64;
        let first = old_top / 64 + 1;
        let last = new_top / 64;
        if last < first {
            return; // same word as the current top: its higher bits are still clear
        }
        if last - first + 1 >= words {
            self.bits.fill(0);
            return;
        }
        for w in first..=last {
            self.bits[(w % words) as usize] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain model: the set of accepted sequence numbers and the highest one.
    struct Model {
        seen: std::collections::BTreeSet<u64>,
        top: u64,
        size: u64,
    }

    impl Model {
        fn offer(&mut self, seq: u64) -> bool {
            if seq == 0 || (seq <= self.top && (self.top - seq >= self.size || self.seen.contains(&seq))) {
                return false;
            }
            self.seen.insert(seq);
            self.top = self.top.max(seq);
            true
        }
    }

    fn offer(w: &mut ReplayWindow, seq: u64) -> bool {
        match w.check(seq as u32) {
            Ok(c) if c.seq == seq => {
                w.accept(c);
                true
            }
            Ok(_) | Err(_) => false,
        }
    }

    #[test]
    fn first_packet_and_duplicates() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        assert_eq!(w.check(0), Err(0));
        assert!(offer(&mut w, 1));
        assert!(!offer(&mut w, 1));
        assert!(offer(&mut w, 3));
        assert!(offer(&mut w, 2));
        assert!(!offer(&mut w, 2));
    }

    #[test]
    fn left_edge_of_window() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        assert!(offer(&mut w, 100));
        assert!(!offer(&mut w, 36), "100 - 36 = 64 is outside a 64-wide window");
        assert!(offer(&mut w, 37), "100 - 37 = 63 is the oldest tracked number");
        assert!(!offer(&mut w, 37));
    }

    #[test]
    fn big_jump_clears_old_bits() {
        let mut w = ReplayWindow::new(128, false).unwrap();
        for s in 1..=200 {
            assert!(offer(&mut w, s));
        }
        assert!(offer(&mut w, 10_000));
        // 9_950 maps to a ring slot that held an old, accepted number; it must be new now.
        assert!(offer(&mut w, 9_950));
        assert!(!offer(&mut w, 9_950));
    }

    #[test]
    fn window_sizes_are_validated() {
        assert!(ReplayWindow::new(31, false).is_err());
        assert!(ReplayWindow::new(32, false).is_ok());
        assert!(ReplayWindow::new(4096, true).is_ok());
        assert!(ReplayWindow::new(MAX_WINDOW + 1, false).is_err());
    }

    #[test]
    fn esn_crosses_the_32_bit_boundary() {
        let mut w = ReplayWindow::new(64, true).unwrap();
        let base = (1u64 << 32) - 10;
        w.accept(Candidate { seq: base });
        // Low half wrapped: must be inferred as the next subspace.
        assert_eq!(w.check(5).unwrap().seq, (1 << 32) + 5);
        w.accept(w.check(5).unwrap());
        // A late packet from the old subspace, still inside the window (case B).
        assert_eq!(w.check(u32::MAX - 3).unwrap().seq, (1 << 32) - 4);
        // Exactly the old top: a replay.
        assert_eq!(w.check((base & 0xffff_ffff) as u32), Err(base));
    }

    #[test]
    fn esn_never_infers_below_zero() {
        let w = ReplayWindow::new(64, true).unwrap();
        // Top is 0: case B with high = 0; a low value at the top of the space would need
        // high = -1.
        assert!(w.check(u32::MAX).is_err());
    }

    proptest::proptest! {
        #[test]
        fn matches_reference_model(size in 32u32..300, seqs in proptest::collection::vec(1u64..2000, 1..400)) {
            let mut w = ReplayWindow::new(size, false).unwrap();
            let mut m = Model { seen: Default::default(), top: 0, size: u64::from(size) };
            for s in seqs {
                proptest::prop_assert_eq!(offer(&mut w, s), m.offer(s), "seq {}", s);
            }
        }

        #[test]
        fn esn_matches_reference_model_near_wrap(size in 32u32..300, deltas in proptest::collection::vec(-400i64..400, 1..300)) {
            // Sequence numbers around the 2^32 boundary, offered with their low 32 bits only.
            let start = (1u64 << 32) - 200;
            let mut w = ReplayWindow::new(size, true).unwrap();
            let mut m = Model { seen: Default::default(), top: 0, size: u64::from(size) };
            w.accept(Candidate { seq: start });
            m.offer(start);
            for d in deltas {
                let seq = (start as i64 + d) as u64;
                proptest::prop_assert_eq!(offer(&mut w, seq), m.offer(seq), "seq {}", seq);
            }
        }
    }
}

//! The option negotiation automaton of RFC 1661 §4, shared by LCP, IPCP and IPV6CP.
//!
//! [`transition`] is the §4.1 state transition table as a pure function. [`Automaton`]
//! wraps it with the Restart timer and counters of §4.6 (irc/zrc, Max-Configure,
//! Max-Terminate, Max-Failure); the protocol that owns it performs the send and layer
//! actions it returns.

use std::time::{Duration, Instant};

/// The ten states of RFC 1661 §4.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// 0: lower layer down, no Open.
    Initial,
    /// 1: Open issued, waiting for the lower layer (this-layer-started sent).
    Starting,
    /// 2: lower layer up, administratively closed.
    Closed,
    /// 3: terminated or failed, waiting for the peer or a restart.
    Stopped,
    /// 4: Terminate-Request sent after a Close.
    Closing,
    /// 5: Terminate-Request sent (or received) without a Close.
    Stopping,
    /// 6: Configure-Request sent, nothing acked yet.
    ReqSent,
    /// 7: our Configure-Request acked, the peer's not yet.
    AckRcvd,
    /// 8: the peer's Configure-Request acked, ours not yet.
    AckSent,
    /// 9: both directions configured.
    Opened,
}

impl State {
    /// All states in table order (0 to 9).
    pub const ALL: [State; 10] = [
        State::Initial,
        State::Starting,
        State::Closed,
        State::Stopped,
        State::Closing,
        State::Stopping,
        State::ReqSent,
        State::AckRcvd,
        State::AckSent,
        State::Opened,
    ];

    /// RFC 1661 §4.6: the states in which the Restart timer runs.
    #[must_use]
    pub fn restart_timer_runs(self) -> bool {
        matches!(self, State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent)
    }
}

/// The events of RFC 1661 §4.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Up: the lower layer is ready.
    Up,
    /// Down: the lower layer is gone.
    Down,
    /// Open: administrative open.
    Open,
    /// Close: administrative close.
    Close,
    /// TO+: Restart timer expired with the counter above zero.
    TimeoutPlus,
    /// TO−: Restart timer expired with the counter exhausted.
    TimeoutMinus,
    /// RCR+: good Configure-Request received.
    RcrGood,
    /// RCR−: bad Configure-Request received (to be Nak'd or Rejected).
    RcrBad,
    /// RCA: Configure-Ack received.
    Rca,
    /// RCN: Configure-Nak or Configure-Reject received.
    Rcn,
    /// RTR: Terminate-Request received.
    Rtr,
    /// RTA: Terminate-Ack received.
    Rta,
    /// RUC: packet with an unknown code received.
    Ruc,
    /// RXJ+: permitted Code-Reject or Protocol-Reject received.
    RxjGood,
    /// RXJ−: catastrophic Code-Reject or Protocol-Reject received.
    RxjBad,
    /// RXR: Echo-Request, Echo-Reply or Discard-Request received.
    Rxr,
}

impl Event {
    /// All events in table order.
    pub const ALL: [Event; 16] = [
        Event::Up,
        Event::Down,
        Event::Open,
        Event::Close,
        Event::TimeoutPlus,
        Event::TimeoutMinus,
        Event::RcrGood,
        Event::RcrBad,
        Event::Rca,
        Event::Rcn,
        Event::Rtr,
        Event::Rta,
        Event::Ruc,
        Event::RxjGood,
        Event::RxjBad,
        Event::Rxr,
    ];
}

/// A set of the actions of RFC 1661 §4.4, as bit flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Actions(u16);

impl Actions {
    /// No action.
    pub const NONE: Actions = Actions(0);
    /// tlu: This-Layer-Up.
    pub const TLU: Actions = Actions(1 << 0);
    /// tld: This-Layer-Down.
    pub const TLD: Actions = Actions(1 << 1);
    /// tls: This-Layer-Started.
    pub const TLS: Actions = Actions(1 << 2);
    /// tlf: This-Layer-Finished.
    pub const TLF: Actions = Actions(1 << 3);
    /// irc: Initialize-Restart-Count.
    pub const IRC: Actions = Actions(1 << 4);
    /// zrc: Zero-Restart-Count.
    pub const ZRC: Actions = Actions(1 << 5);
    /// scr: Send-Configure-Request.
    pub const SCR: Actions = Actions(1 << 6);
    /// sca: Send-Configure-Ack.
    pub const SCA: Actions = Actions(1 << 7);
    /// scn: Send-Configure-Nak (or Configure-Reject).
    pub const SCN: Actions = Actions(1 << 8);
    /// str: Send-Terminate-Request.
    pub const STR: Actions = Actions(1 << 9);
    /// sta: Send-Terminate-Ack.
    pub const STA: Actions = Actions(1 << 10);
    /// scj: Send-Code-Reject.
    pub const SCJ: Actions = Actions(1 << 11);
    /// ser: Send-Echo-Reply.
    pub const SER: Actions = Actions(1 << 12);
    /// Not an RFC action: the event is not allowed in this state (the table's "-").
    pub const ILLEGAL: Actions = Actions(1 << 15);

    /// Whether every action in `other` is in `self`.
    #[must_use]
    pub fn contains(self, other: Actions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Names in RFC order, for diagnostics and tests.
    #[must_use]
    pub fn names(self) -> Vec<&'static str> {
        const N: [&str; 13] =
            ["tlu", "tld", "tls", "tlf", "irc", "zrc", "scr", "sca", "scn", "str", "sta", "scj", "ser"];
        let mut v: Vec<&str> = (0..13).filter(|b| self.0 & (1 << b) != 0).map(|b| N[b]).collect();
        if self.contains(Actions::ILLEGAL) {
            v.push("illegal");
        }
        v
    }
}

impl std::ops::BitOr for Actions {
    type Output = Actions;
    fn bitor(self, rhs: Actions) -> Actions {
        Actions(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Actions {
    fn bitor_assign(&mut self, rhs: Actions) {
        self.0 |= rhs.0;
    }
}

impl std::fmt::Debug for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Actions{:?}", self.names())
    }
}

/// RFC 1661 §4.1: the state transition table. Returns the next state and the actions, in
/// the order the table lists them. An illegal event ("-") leaves the state unchanged and
/// returns [`Actions::ILLEGAL`]. Open in Stopped/Closing/Stopping and Open in Opened use
/// no restart option (footnote r); TO− in Req-Sent/Ack-Rcvd/Ack-Sent goes to Stopped (footnote p: it is the
/// owner's choice of whether to Open passively afterwards).
#[must_use]
pub fn transition(state: State, event: Event) -> (State, Actions) {
    use Actions as A;
    use Event as E;
    use State as S;
    let none = A::NONE;
    match (event, state) {
        (E::Up, S::Initial) => (S::Closed, none),
        (E::Up, S::Starting) => (S::ReqSent, A::IRC | A::SCR),
        (E::Up, s) => (s, A::ILLEGAL),

        (E::Down, S::Initial | S::Starting) => (state, A::ILLEGAL),
        (E::Down, S::Closed) => (S::Initial, none),
        (E::Down, S::Stopped) => (S::Starting, A::TLS),
        (E::Down, S::Closing) => (S::Initial, none),
        (E::Down, S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent) => (S::Starting, none),
        (E::Down, S::Opened) => (S::Starting, A::TLD),

        (E::Open, S::Initial) => (S::Starting, A::TLS),
        (E::Open, S::Starting) => (S::Starting, none),
        (E::Open, S::Closed) => (S::ReqSent, A::IRC | A::SCR),
        (E::Open, S::Stopped) => (S::Stopped, none),
        (E::Open, S::Closing | S::Stopping) => (S::Stopping, none),
        (E::Open, s) => (s, none),

        (E::Close, S::Initial) => (S::Initial, none),
        (E::Close, S::Starting) => (S::Initial, A::TLF),
        (E::Close, S::Closed | S::Stopped) => (S::Closed, none),
        (E::Close, S::Closing | S::Stopping) => (S::Closing, none),
        (E::Close, S::ReqSent | S::AckRcvd | S::AckSent) => (S::Closing, A::IRC | A::STR),
        (E::Close, S::Opened) => (S::Closing, A::TLD | A::IRC | A::STR),

        (E::TimeoutPlus, S::Closing) => (S::Closing, A::STR),
        (E::TimeoutPlus, S::Stopping) => (S::Stopping, A::STR),
        (E::TimeoutPlus, S::ReqSent | S::AckRcvd) => (S::ReqSent, A::SCR),
        (E::TimeoutPlus, S::AckSent) => (S::AckSent, A::SCR),
        (E::TimeoutPlus, s) => (s, A::ILLEGAL),

        (E::TimeoutMinus, S::Closing) => (S::Closed, A::TLF),
        (E::TimeoutMinus, S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent) => (S::Stopped, A::TLF),
        (E::TimeoutMinus, s) => (s, A::ILLEGAL),

        (E::RcrGood | E::RcrBad | E::Rca | E::Rcn | E::Rtr | E::Rta, S::Initial | S::Starting) => {
            (state, A::ILLEGAL)
        }
        (E::RcrGood | E::RcrBad | E::Rca | E::Rcn, S::Closed) => (S::Closed, A::STA),
        (E::RcrGood, S::Stopped) => (S::AckSent, A::IRC | A::SCR | A::SCA),
        (E::RcrBad, S::Stopped) => (S::ReqSent, A::IRC | A::SCR | A::SCN),
        (E::Rca | E::Rcn, S::Stopped) => (S::Stopped, A::STA),
        (E::RcrGood | E::RcrBad | E::Rca | E::Rcn, S::Closing | S::Stopping) => (state, none),

        (E::RcrGood, S::ReqSent | S::AckSent) => (S::AckSent, A::SCA),
        (E::RcrGood, S::AckRcvd) => (S::Opened, A::SCA | A::TLU),
        (E::RcrGood, S::Opened) => (S::AckSent, A::TLD | A::SCR | A::SCA),
        (E::RcrBad, S::ReqSent | S::AckSent) => (S::ReqSent, A::SCN),
        (E::RcrBad, S::AckRcvd) => (S::AckRcvd, A::SCN),
        (E::RcrBad, S::Opened) => (S::ReqSent, A::TLD | A::SCR | A::SCN),

        (E::Rca, S::ReqSent) => (S::AckRcvd, A::IRC),
        (E::Rca, S::AckRcvd) => (S::ReqSent, A::SCR),
        (E::Rca, S::AckSent) => (S::Opened, A::IRC | A::TLU),
        (E::Rca, S::Opened) => (S::ReqSent, A::TLD | A::SCR),

        (E::Rcn, S::ReqSent) => (S::ReqSent, A::IRC | A::SCR),
        (E::Rcn, S::AckRcvd) => (S::ReqSent, A::SCR),
        (E::Rcn, S::AckSent) => (S::AckSent, A::IRC | A::SCR),
        (E::Rcn, S::Opened) => (S::ReqSent, A::TLD | A::SCR),

        (E::Rtr, S::Closed | S::Stopped | S::Closing | S::Stopping) => (state, A::STA),
        (E::Rtr, S::ReqSent | S::AckRcvd | S::AckSent) => (S::ReqSent, A::STA),
        (E::Rtr, S::Opened) => (S::Stopping, A::TLD | A::ZRC | A::STA),

        (E::Rta, S::Closed | S::Stopped) => (state, none),
        (E::Rta, S::Closing) => (S::Closed, A::TLF),
        (E::Rta, S::Stopping) => (S::Stopped, A::TLF),
        (E::Rta, S::ReqSent | S::AckRcvd) => (S::ReqSent, none),
        (E::Rta, S::AckSent) => (S::AckSent, none),
        (E::Rta, S::Opened) => (S::ReqSent, A::TLD | A::SCR),

        (E::Ruc, S::Initial | S::Starting) => (state, A::ILLEGAL),
        (E::Ruc, s) => (s, A::SCJ),

        (E::RxjGood, S::Initial | S::Starting) => (state, A::ILLEGAL),
        (E::RxjGood, S::AckRcvd) => (S::ReqSent, none),
        (E::RxjGood, s) => (s, none),

        (E::RxjBad, S::Initial | S::Starting) => (state, A::ILLEGAL),
        (E::RxjBad, S::Closed | S::Closing) => (S::Closed, A::TLF),
        (E::RxjBad, S::Stopped | S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent) => (S::Stopped, A::TLF),
        (E::RxjBad, S::Opened) => (S::Stopping, A::TLD | A::IRC | A::STR),

        (E::Rxr, S::Initial | S::Starting) => (state, A::ILLEGAL),
        (E::Rxr, S::Opened) => (S::Opened, A::SER),
        (E::Rxr, s) => (s, none),
    }
}

/// Counters and timer settings of RFC 1661 §4.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Restart timer period (default 3 s).
    pub restart: Duration,
    /// Max-Terminate: Terminate-Requests sent without an Ack (default 2).
    pub max_terminate: u32,
    /// Max-Configure: Configure-Requests sent without an Ack (default 10).
    pub max_configure: u32,
    /// Max-Failure: Configure-Naks sent without an Ack before Naks turn into Rejects
    /// (default 5).
    pub max_failure: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { restart: Duration::from_secs(3), max_terminate: 2, max_configure: 10, max_failure: 5 }
    }
}

/// One running automaton: state, Restart counter and timer, failure counter.
#[derive(Debug, Clone)]
pub struct Automaton {
    state: State,
    timing: Timing,
    restart_count: u32,
    failures: u32,
    deadline: Option<Instant>,
    illegal_events: u64,
}

impl Automaton {
    /// A new automaton in the Initial state.
    #[must_use]
    pub fn new(timing: Timing) -> Self {
        Automaton {
            state: State::Initial,
            timing,
            restart_count: 0,
            failures: 0,
            deadline: None,
            illegal_events: 0,
        }
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// The current Restart counter.
    #[must_use]
    pub fn restart_count(&self) -> u32 {
        self.restart_count
    }

    /// How many events arrived that the table does not allow in their state.
    #[must_use]
    pub fn illegal_events(&self) -> u64 {
        self.illegal_events
    }

    /// The Restart timer deadline, if it runs.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The timing settings.
    #[must_use]
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// RFC 1661 §4.6 Max-Failure: whether the next negative answer must be a Reject
    /// rather than a Nak.
    #[must_use]
    pub fn must_reject(&self) -> bool {
        self.failures >= self.timing.max_failure
    }

    /// Records that a Configure-Nak was sent (counts toward Max-Failure).
    pub fn nak_sent(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }

    /// Applies `event` at `now`: changes state, runs irc/zrc, counts sent requests against
    /// the Restart counter and (re)arms or stops the Restart timer. Returns the actions the
    /// protocol must still perform (tlu, tld, tls, tlf and the send actions); irc and zrc are
    /// already done but stay in the set.
    pub fn handle(&mut self, now: Instant, event: Event) -> Actions {
        let (next, actions) = transition(self.state, event);
        if actions.contains(Actions::ILLEGAL) {
            self.illegal_events += 1;
            return actions;
        }
        self.state = next;
        if actions.contains(Actions::IRC) {
            self.restart_count = if actions.contains(Actions::STR) {
                self.timing.max_terminate
            } else {
                self.timing.max_configure
            };
        }
        if actions.contains(Actions::ZRC) {
            self.restart_count = 0;
            self.deadline = Some(now + self.timing.restart);
        }
        if actions.contains(Actions::SCR) || actions.contains(Actions::STR) {
            // §4.6: the counter is decremented each time a request is sent, and the timer
            // restarted.
            self.restart_count = self.restart_count.saturating_sub(1);
            self.deadline = Some(now + self.timing.restart);
        }
        if actions.contains(Actions::SCA) {
            self.failures = 0;
        }
        if !self.state.restart_timer_runs() {
            self.deadline = None;
        } else if self.deadline.is_none() {
            self.deadline = Some(now + self.timing.restart);
        }
        actions
    }

    /// Fires the Restart timer if it is due: TO+ while the counter is positive, TO−
    /// otherwise. Returns `None` if the timer is not due.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<(Event, Actions)> {
        match self.deadline {
            Some(d) if d <= now => {
                self.deadline = None;
                let ev = if self.restart_count > 0 { Event::TimeoutPlus } else { Event::TimeoutMinus };
                Some((ev, self.handle(now, ev)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1661 §4.1, transcribed as text: one row per event, one cell per state
    /// (0 Initial … 9 Opened). A cell is `-` (illegal) or `actions/next`.
    const TABLE: &str = "
Up   | 2                | irc,scr/6 | -         | -             | -       | -       | -           | -         | -          | -
Down | -                | -         | 0         | tls/1         | 0       | 1       | 1           | 1         | 1          | tld/1
Open | tls/1            | 1         | irc,scr/6 | 3             | 5       | 5       | 6           | 7         | 8          | 9
Close| 0                | tlf/0     | 2         | 2             | 4       | 4       | irc,str/4   | irc,str/4 | irc,str/4  | tld,irc,str/4
TO+  | -                | -         | -         | -             | str/4   | str/5   | scr/6       | scr/6     | scr/8      | -
TO-  | -                | -         | -         | -             | tlf/2   | tlf/3   | tlf/3       | tlf/3     | tlf/3      | -
RCR+ | -                | -         | sta/2     | irc,scr,sca/8 | 4       | 5       | sca/8       | sca,tlu/9 | sca/8      | tld,scr,sca/8
RCR- | -                | -         | sta/2     | irc,scr,scn/6 | 4       | 5       | scn/6       | scn/7     | scn/6      | tld,scr,scn/6
RCA  | -                | -         | sta/2     | sta/3         | 4       | 5       | irc/7       | scr/6     | irc,tlu/9  | tld,scr/6
RCN  | -                | -         | sta/2     | sta/3         | 4       | 5       | irc,scr/6   | scr/6     | irc,scr/8  | tld,scr/6
RTR  | -                | -         | sta/2     | sta/3         | sta/4   | sta/5   | sta/6       | sta/6     | sta/6      | tld,zrc,sta/5
RTA  | -                | -         | 2         | 3             | tlf/2   | tlf/3   | 6           | 6         | 8          | tld,scr/6
RUC  | -                | -         | scj/2     | scj/3         | scj/4   | scj/5   | scj/6       | scj/7     | scj/8      | scj/9
RXJ+ | -                | -         | 2         | 3             | 4       | 5       | 6           | 6         | 8          | 9
RXJ- | -                | -         | tlf/2     | tlf/3         | tlf/2   | tlf/3   | tlf/3       | tlf/3     | tlf/3      | tld,irc,str/5
RXR  | -                | -         | 2         | 3             | 4       | 5       | 6           | 7         | 8          | ser/9
";

    fn action(name: &str) -> Actions {
        match name {
            "tlu" => Actions::TLU,
            "tld" => Actions::TLD,
            "tls" => Actions::TLS,
            "tlf" => Actions::TLF,
            "irc" => Actions::IRC,
            "zrc" => Actions::ZRC,
            "scr" => Actions::SCR,
            "sca" => Actions::SCA,
            "scn" => Actions::SCN,
            "str" => Actions::STR,
            "sta" => Actions::STA,
            "scj" => Actions::SCJ,
            "ser" => Actions::SER,
            other => panic!("unknown action {other}"),
        }
    }

    fn event(name: &str) -> Event {
        let i = [
            "Up", "Down", "Open", "Close", "TO+", "TO-", "RCR+", "RCR-", "RCA", "RCN", "RTR", "RTA", "RUC",
            "RXJ+", "RXJ-", "RXR",
        ]
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("unknown event {name}"));
        Event::ALL[i]
    }

    /// Every one of the 160 state×event cells of RFC 1661 §4.1.
    #[test]
    fn transition_table_every_cell() {
        let mut cells = 0;
        for line in TABLE.lines().filter(|l| !l.trim().is_empty()) {
            let mut cols = line.split('|').map(str::trim);
            let ev = event(cols.next().unwrap());
            for (i, cell) in cols.enumerate() {
                let state = State::ALL[i];
                let got = transition(state, ev);
                let want = if cell == "-" {
                    (state, Actions::ILLEGAL)
                } else {
                    let (acts, next) = match cell.split_once('/') {
                        Some((a, n)) => (a, n),
                        None => ("", cell),
                    };
                    let mut a = Actions::NONE;
                    for n in acts.split(',').filter(|s| !s.is_empty()) {
                        a |= action(n);
                    }
                    (State::ALL[next.parse::<usize>().unwrap()], a)
                };
                assert_eq!(got, want, "{ev:?} in {state:?}");
                cells += 1;
            }
        }
        assert_eq!(cells, 160);
    }

    /// Every cell through the running automaton: an illegal event never changes the state;
    /// the Restart timer runs exactly in the five §4.6 states afterwards.
    #[test]
    fn automaton_every_cell_keeps_timer_invariant() {
        let t0 = Instant::now();
        for &s in &State::ALL {
            for &e in &Event::ALL {
                let mut a = Automaton::new(Timing::default());
                a.state = s;
                a.restart_count = 3;
                if s.restart_timer_runs() {
                    a.deadline = Some(t0 + Duration::from_secs(1));
                }
                let acts = a.handle(t0, e);
                if acts.contains(Actions::ILLEGAL) {
                    assert_eq!(a.state(), s);
                    assert_eq!(a.illegal_events(), 1);
                } else {
                    assert_eq!(a.state(), transition(s, e).0);
                    assert_eq!(a.deadline().is_some(), a.state().restart_timer_runs(), "{e:?} in {s:?}");
                }
            }
        }
    }

    #[test]
    fn restart_counter_max_configure_then_stopped() {
        let t0 = Instant::now();
        let timing = Timing::default();
        let mut a = Automaton::new(timing);
        assert_eq!(a.handle(t0, Event::Open), Actions::TLS);
        assert_eq!(a.handle(t0, Event::Up), Actions::IRC | Actions::SCR);
        assert_eq!(a.state(), State::ReqSent);
        assert_eq!(a.restart_count(), timing.max_configure - 1);
        let mut now = t0;
        let mut sent = 1;
        loop {
            assert!(a.handle_timeout(now).is_none() || now == t0);
            now += timing.restart;
            let (ev, acts) = a.handle_timeout(now).expect("timer due");
            if ev == Event::TimeoutMinus {
                assert_eq!(acts, Actions::TLF);
                break;
            }
            assert!(acts.contains(Actions::SCR));
            sent += 1;
        }
        // Max-Configure requests in all, then TO- after one more period.
        assert_eq!(sent, timing.max_configure);
        assert_eq!(a.state(), State::Stopped);
        assert_eq!(a.deadline(), None);
    }

    #[test]
    fn terminate_uses_max_terminate_and_zrc_waits_one_period() {
        let t0 = Instant::now();
        let timing = Timing::default();
        let mut a = Automaton::new(timing);
        a.handle(t0, Event::Up);
        a.handle(t0, Event::Open);
        a.handle(t0, Event::RcrGood);
        a.handle(t0, Event::Rca);
        assert_eq!(a.state(), State::Opened);
        a.handle(t0, Event::Close);
        assert_eq!(a.restart_count(), timing.max_terminate - 1);
        let (ev, _) = a.handle_timeout(t0 + timing.restart).unwrap();
        assert_eq!(ev, Event::TimeoutPlus);
        let (ev, acts) = a.handle_timeout(t0 + timing.restart * 2).unwrap();
        assert_eq!((ev, acts), (Event::TimeoutMinus, Actions::TLF));
        assert_eq!(a.state(), State::Closed);

        // RTR in Opened: zero counter, Stopping, TO- after one period.
        let mut b = Automaton::new(timing);
        b.handle(t0, Event::Up);
        b.handle(t0, Event::Open);
        b.handle(t0, Event::RcrGood);
        b.handle(t0, Event::Rca);
        let acts = b.handle(t0, Event::Rtr);
        assert!(acts.contains(Actions::ZRC));
        assert_eq!(b.state(), State::Stopping);
        assert_eq!(b.deadline(), Some(t0 + timing.restart));
        let (ev, _) = b.handle_timeout(t0 + timing.restart).unwrap();
        assert_eq!(ev, Event::TimeoutMinus);
        assert_eq!(b.state(), State::Stopped);
    }

    #[test]
    fn max_failure_turns_naks_into_rejects() {
        let mut a = Automaton::new(Timing::default());
        for _ in 0..5 {
            assert!(!a.must_reject());
            a.nak_sent();
        }
        assert!(a.must_reject());
        a.state = State::ReqSent;
        a.handle(Instant::now(), Event::RcrGood);
        assert!(!a.must_reject());
    }
}

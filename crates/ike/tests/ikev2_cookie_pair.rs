//! RFC 7296 §2.6: our responder endpoint behind a `CookieGuard`, our initiator passing
//! its cookie, on a virtual clock with a lossy link.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2sec_ike::v2::ike_sa::{Event, Identity, IkeSa, IkeSaConfig, State};
use l2sec_ike::v2::responder::{CookieGuard, CookieVerdict};
use l2sec_ike::wire::v2::{Message, NotifyType, Payload};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Sa = IkeSa<ChaCha20Rng>;

/// An endpoint: the guard, and the responder made once a request passes it.
struct Endpoint {
    guard: CookieGuard<ChaCha20Rng>,
    sa: Option<Sa>,
    config: IkeSaConfig,
    challenges: usize,
}

impl Endpoint {
    fn input(&mut self, now: Instant, d: &[u8], from: SocketAddr) -> Vec<Vec<u8>> {
        if self.sa.is_none() {
            match self.guard.check(now, d, from).unwrap() {
                CookieVerdict::Challenge(answer) => {
                    self.challenges += 1;
                    return vec![answer];
                }
                CookieVerdict::Proceed => {
                    self.sa = Some(IkeSa::respond(self.config.clone(), ChaCha20Rng::seed_from_u64(2), now));
                    self.guard.half_open_started();
                }
            }
        }
        let sa = self.sa.as_mut().unwrap();
        let _ = sa.handle_input(now, d);
        let mut out = Vec::new();
        loop {
            let mut buf = Vec::new();
            if sa.poll_transmit(now, &mut buf).is_none() {
                return out;
            }
            out.push(buf);
        }
    }
}

#[test]
fn initiator_passes_the_cookie_even_when_the_challenge_is_lost() {
    for lose_first_challenge in [false, true] {
        let now = Instant::now();
        let (a, b): (SocketAddr, SocketAddr) =
            ("192.0.2.1:500".parse().unwrap(), "192.0.2.2:500".parse().unwrap());
        let mut i: Sa = IkeSa::initiate(
            IkeSaConfig::new(b"k", Identity::fqdn("c"), a, b),
            ChaCha20Rng::seed_from_u64(1),
            now,
        )
        .unwrap();
        let mut server = Endpoint {
            guard: CookieGuard::new(0, Duration::from_secs(60), ChaCha20Rng::seed_from_u64(7), now),
            sa: None,
            config: IkeSaConfig::new(b"k", Identity::fqdn("s"), b, a),
            challenges: 0,
        };
        let mut t = now;
        let mut first_requests = Vec::new();
        let mut dropped = false;
        for _ in 0..50 {
            let mut buf = Vec::new();
            while i.poll_transmit(t, &mut buf).is_some() {
                if first_requests.len() < 3 {
                    first_requests.push(buf.clone());
                }
                for answer in server.input(t, &buf, a) {
                    let is_challenge = Message::parse(&answer).unwrap().payloads().next().is_some_and(|p| {
                        matches!(p.unwrap().parse().unwrap(), Payload::Notify(n) if n.notify_type == NotifyType::Cookie)
                    });
                    if is_challenge && lose_first_challenge && !dropped {
                        dropped = true;
                        continue;
                    }
                    let _ = i.handle_input(t, &answer);
                }
                buf.clear();
            }
            if i.state() == State::Established {
                break;
            }
            let Some(next) = i.poll_timeout() else { break };
            t = next;
            i.handle_timeout(t);
        }
        assert_eq!(i.state(), State::Established);
        assert!(matches!(i.poll_event(), Some(Event::Established { .. })));
        let r = server.sa.as_mut().unwrap();
        assert!(matches!(r.poll_event(), Some(Event::Established { .. })));
        assert_eq!(server.challenges, if lose_first_challenge { 2 } else { 1 });
        // The second request is the first one with the COOKIE in front.
        let with_cookie = first_requests.iter().find(|d| {
            Message::parse(d).unwrap().payloads().next().is_some_and(|p| {
                matches!(p.unwrap().parse().unwrap(), Payload::Notify(n) if n.notify_type == NotifyType::Cookie)
            })
        });
        assert!(with_cookie.is_some());
        if lose_first_challenge {
            assert!(t > now, "the lost challenge cost one retransmission");
        }
    }
}

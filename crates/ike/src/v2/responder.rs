//! RFC 7296 §2.6: a responder's defence against floods of IKE_SA_INIT requests.
//!
//! A [`CookieGuard`] sits in front of the responder [`IkeSa`](super::ike_sa::IkeSa)s of
//! one endpoint. The owner counts its half-open IKE SAs through it (started: IKE_SA_INIT
//! answered; ended: established, failed or dropped) and asks it about every new
//! IKE_SA_INIT request before creating an `IkeSa`. Once the half-open count reaches the
//! threshold, requests without a valid COOKIE get a stateless answer carrying one, and
//! only requests that return it are let through: the initiator has shown it receives at
//! its source address.
//!
//! The cookie is `<secret version> | SHA-256(Ni | IPi | SPIi | <secret>)` (the shape
//! RFC 7296 §2.6 suggests). The secret comes from the injected RNG and is replaced every
//! [`CookieGuard::rotation`]; cookies made with the previous secret are still accepted.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::Error;
use crate::crypto::PrfAlgorithm;
use crate::wire::v2::{ExchangeType, Flags, Header, Message, MessageBuilder, Notify, NotifyType, Payload};

/// Length of our cookies: one version byte and a SHA-256 digest.
pub const COOKIE_LEN: usize = 33;

/// What to do with an IKE_SA_INIT request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieVerdict {
    /// Hand it to a new responder `IkeSa`.
    Proceed,
    /// Send this IKE_SA_INIT response with a COOKIE back to the request's source, and
    /// keep no state.
    Challenge(Vec<u8>),
}

/// One secret and its version number.
#[derive(Clone)]
struct Secret {
    version: u8,
    bytes: [u8; 32],
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// RFC 7296 §2.6: the half-open count and the stateless cookie check of one responder
/// endpoint.
///
/// ```
/// use std::time::{Duration, Instant};
/// use l2sec_ike::v2::ike_sa::{Identity, IkeSa, IkeSaConfig};
/// use l2sec_ike::v2::responder::{CookieGuard, CookieVerdict};
/// use rand_chacha::ChaCha20Rng;
/// use rand_core::SeedableRng;
///
/// let now = Instant::now();
/// let (a, b) = ("192.0.2.1:500".parse()?, "192.0.2.2:500".parse()?);
/// // Threshold 0: every request must bring a cookie.
/// let mut guard = CookieGuard::new(0, Duration::from_secs(60), ChaCha20Rng::seed_from_u64(9), now);
/// let mut client = IkeSa::initiate(IkeSaConfig::new(b"k", Identity::fqdn("c"), a, b), ChaCha20Rng::seed_from_u64(1), now)?;
/// let mut buf = Vec::new();
/// client.poll_transmit(now, &mut buf);
/// let CookieVerdict::Challenge(answer) = guard.check(now, &buf, a)? else { panic!() };
/// client.handle_input(now, &answer)?; // the client repeats its request with the cookie
/// buf.clear();
/// client.poll_transmit(now, &mut buf);
/// assert_eq!(guard.check(now, &buf, a)?, CookieVerdict::Proceed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CookieGuard<R> {
    rng: R,
    threshold: usize,
    half_open: usize,
    rotation: Duration,
    current: Secret,
    previous: Option<Secret>,
    next_rotation: Instant,
}

impl<R> core::fmt::Debug for CookieGuard<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CookieGuard")
            .field("threshold", &self.threshold)
            .field("half_open", &self.half_open)
            .field("rotation", &self.rotation)
            .finish_non_exhaustive()
    }
}

fn cookie_for(secret: &Secret, ni: &[u8], peer: IpAddr, spi_i: &[u8; 8]) -> [u8; COOKIE_LEN] {
    let ip = match peer {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let digest = PrfAlgorithm::HmacSha256.hash(&[ni, &ip, spi_i, &secret.bytes]);
    let mut out = [0u8; COOKIE_LEN];
    out[0] = secret.version;
    out[1..].copy_from_slice(&digest.as_bytes()[..32]);
    out
}

impl<R: CryptoRng> CookieGuard<R> {
    /// A guard asking for cookies once `threshold` IKE SAs are half open (0: always),
    /// with a secret replaced every `rotation`.
    pub fn new(threshold: usize, rotation: Duration, mut rng: R, now: Instant) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self {
            rng,
            threshold,
            half_open: 0,
            rotation,
            current: Secret { version: 0, bytes },
            previous: None,
            next_rotation: now + rotation,
        }
    }

    /// How often the secret changes.
    #[must_use]
    pub const fn rotation(&self) -> Duration {
        self.rotation
    }

    /// The half-open IKE SAs counted now.
    #[must_use]
    pub const fn half_open(&self) -> usize {
        self.half_open
    }

    /// A responder IKE SA answered IKE_SA_INIT.
    pub const fn half_open_started(&mut self) {
        self.half_open = self.half_open.saturating_add(1);
    }

    /// A half-open IKE SA was established, failed or dropped.
    pub const fn half_open_ended(&mut self) {
        self.half_open = self.half_open.saturating_sub(1);
    }

    /// When the secret is replaced next ([`Self::handle_timeout`]).
    #[must_use]
    pub const fn poll_timeout(&self) -> Instant {
        self.next_rotation
    }

    /// Replaces the secret when it is time; the old one stays valid for one more period.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_rotation {
            return;
        }
        let mut bytes = [0u8; 32];
        self.rng.fill_bytes(&mut bytes);
        let next = Secret { version: self.current.version.wrapping_add(1), bytes };
        self.previous = Some(core::mem::replace(&mut self.current, next));
        self.next_rotation = now + self.rotation;
    }

    /// RFC 7296 §2.6: decides about an IKE_SA_INIT request from `peer` (datagram
    /// without the non-ESP marker).
    ///
    /// # Errors
    /// Not a parseable IKE_SA_INIT request, or one without a nonce.
    pub fn check(&mut self, now: Instant, datagram: &[u8], peer: SocketAddr) -> Result<CookieVerdict, Error> {
        self.handle_timeout(now);
        let m = Message::parse(datagram)?;
        let h = m.header;
        if h.exchange_type != ExchangeType::IkeSaInit
            || h.flags.response()
            || !h.flags.initiator()
            || h.message_id != 0
            || h.responder_spi != [0; 8]
        {
            return Err(Error::UnexpectedMessage("not an IKE_SA_INIT request"));
        }
        let mut nonce = None;
        let mut cookie = None;
        for (n, raw) in m.payloads().enumerate() {
            match raw?.parse()? {
                Payload::Nonce(ni) => nonce = Some(ni),
                // RFC 7296 §2.6: the COOKIE comes first.
                Payload::Notify(c) if n == 0 && c.notify_type == NotifyType::Cookie => cookie = Some(c.data),
                _ => {}
            }
        }
        let ni = nonce.ok_or(Error::UnexpectedMessage("IKE_SA_INIT without nonce"))?;
        if self.half_open < self.threshold {
            return Ok(CookieVerdict::Proceed);
        }
        let valid = |s: &Secret, c: &[u8]| {
            c.len() == COOKIE_LEN
                && c[0] == s.version
                && bool::from(cookie_for(s, ni, peer.ip(), &h.initiator_spi).ct_eq(c))
        };
        if let Some(c) = cookie
            && (valid(&self.current, c) || self.previous.as_ref().is_some_and(|p| valid(p, c)))
        {
            return Ok(CookieVerdict::Proceed);
        }
        let fresh = cookie_for(&self.current, ni, peer.ip(), &h.initiator_spi);
        let header = Header::new(h.initiator_spi, [0; 8], ExchangeType::IkeSaInit, Flags::RESPONSE, 0);
        let mut out = Vec::new();
        let mut b = MessageBuilder::new(&mut out, &header);
        let enc = |_| Error::Configuration("COOKIE does not encode");
        b.push(&Payload::Notify(Notify::new(NotifyType::Cookie, &fresh))).map_err(enc)?;
        b.finish().map_err(enc)?;
        Ok(CookieVerdict::Challenge(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn request(spi: [u8; 8], cookie: Option<&[u8]>, ni: &[u8]) -> Vec<u8> {
        let header = Header::new(spi, [0; 8], ExchangeType::IkeSaInit, Flags::INITIATOR, 0);
        let mut out = Vec::new();
        let mut b = MessageBuilder::new(&mut out, &header);
        if let Some(c) = cookie {
            b.push(&Payload::Notify(Notify::new(NotifyType::Cookie, c))).unwrap();
        }
        b.push(&Payload::Nonce(ni)).unwrap();
        b.finish().unwrap();
        out
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic the guard; an arbitrary well-formed request is
        /// challenged at threshold 0 and let through with the cookie it was given.
        #[test]
        fn arbitrary_input_and_challenge_round_trip(
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            spi in proptest::prelude::any::<[u8; 8]>(),
            ni in proptest::collection::vec(proptest::prelude::any::<u8>(), 16..64),
            ip in proptest::prelude::any::<[u8; 4]>(),
        ) {
            let now = Instant::now();
            let peer = SocketAddr::from((ip, 500));
            let mut g = CookieGuard::new(0, Duration::from_secs(10), ChaCha20Rng::seed_from_u64(5), now);
            let _ = g.check(now, &junk, peer);
            let plain = request(spi, None, &ni);
            let CookieVerdict::Challenge(a) = g.check(now, &plain, peer).unwrap() else { panic!("no challenge") };
            let c = cookie_of(&a);
            proptest::prop_assert_eq!(g.check(now, &request(spi, Some(&c), &ni), peer).unwrap(), CookieVerdict::Proceed);
        }
    }

    fn cookie_of(answer: &[u8]) -> Vec<u8> {
        let m = Message::parse(answer).unwrap();
        assert!(m.header.flags.response());
        let Payload::Notify(n) = m.payloads().next().unwrap().unwrap().parse().unwrap() else { panic!() };
        assert_eq!(n.notify_type, NotifyType::Cookie);
        n.data.to_vec()
    }

    /// Below the threshold requests pass; at it, only with the right cookie, from the
    /// same address, for the same SPI and nonce; a rotated secret still works once, not
    /// twice.
    #[test]
    fn threshold_binding_and_rotation() {
        let now = Instant::now();
        let peer: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let mut g = CookieGuard::new(1, Duration::from_secs(10), ChaCha20Rng::seed_from_u64(3), now);
        let ni = [7u8; 32];
        let plain = request([1; 8], None, &ni);
        assert_eq!(g.check(now, &plain, peer).unwrap(), CookieVerdict::Proceed);
        g.half_open_started();
        let CookieVerdict::Challenge(a) = g.check(now, &plain, peer).unwrap() else { panic!("no challenge") };
        let c = cookie_of(&a);
        assert_eq!(c.len(), COOKIE_LEN);
        assert_eq!(g.check(now, &request([1; 8], Some(&c), &ni), peer).unwrap(), CookieVerdict::Proceed);
        // Bound to address, SPI and nonce; a flipped bit fails.
        let other: SocketAddr = "192.0.2.9:500".parse().unwrap();
        assert!(matches!(
            g.check(now, &request([1; 8], Some(&c), &ni), other).unwrap(),
            CookieVerdict::Challenge(_)
        ));
        assert!(matches!(
            g.check(now, &request([2; 8], Some(&c), &ni), peer).unwrap(),
            CookieVerdict::Challenge(_)
        ));
        assert!(matches!(
            g.check(now, &request([1; 8], Some(&c), &[8; 32]), peer).unwrap(),
            CookieVerdict::Challenge(_)
        ));
        let mut bad = c.clone();
        bad[5] ^= 1;
        assert!(matches!(
            g.check(now, &request([1; 8], Some(&bad), &ni), peer).unwrap(),
            CookieVerdict::Challenge(_)
        ));
        // One rotation: still valid; two: not.
        let t1 = now + Duration::from_secs(10);
        assert_eq!(g.check(t1, &request([1; 8], Some(&c), &ni), peer).unwrap(), CookieVerdict::Proceed);
        let CookieVerdict::Challenge(a2) = g.check(t1, &plain, peer).unwrap() else { panic!() };
        assert_ne!(cookie_of(&a2), c, "a new secret makes new cookies");
        let t2 = now + Duration::from_secs(20);
        assert!(matches!(
            g.check(t2, &request([1; 8], Some(&c), &ni), peer).unwrap(),
            CookieVerdict::Challenge(_)
        ));
        // Back under the threshold, no cookie needed.
        g.half_open_ended();
        assert_eq!(g.check(t2, &plain, peer).unwrap(), CookieVerdict::Proceed);
        // Not a request: refused.
        assert!(g.check(t2, &a, peer).is_err());
        assert!(g.check(t2, &[0u8; 10], peer).is_err());
    }
}

//! RFC 7383: IKEv2 fragmentation. When both sides announced
//! IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT, a protected message longer than
//! [`IkeSaConfig::fragment_size`](super::IkeSaConfig::fragment_size) goes out as several
//! Encrypted Fragment (SKF) messages, each protected on its own; the peer's fragments are
//! checked one by one and put back together (with bounds on their number and total size)
//! before the message is handled like any other. Only fragments of the exchange expected
//! are kept: a request with the peer's next Message ID or the answer to our outstanding
//! request; the first fragment of the request answered last brings that answer again.

use zeroize::Zeroizing;

use rand_core::CryptoRng;

use super::{IkeSa, MAX_REMEMBERED, Role, State};
use crate::Error;
use crate::v2::keys::{open_any, seal_fragment, seal_with_iv};
use crate::wire::v2::{Fragment, Message, PayloadType};

/// Most fragments of one message we accept (RFC 7383 §2.5 leaves the bound to us).
pub const MAX_FRAGMENTS: u16 = 64;
/// The smallest fragment size we use: room for headers and some content.
const MIN_FRAGMENT_SIZE: usize = 200;

/// What a fragment's Message ID says about it (RFC 7383 §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// Part of the exchange we expect: kept.
    Keep,
    /// Part of the request we answered last: its first fragment brings the answer again.
    Answered,
    /// Part of no exchange we expect: dropped.
    Stray,
}

/// A message of the peer's being put back together.
#[derive(Debug)]
struct Reassembly {
    message_id: u32,
    response: bool,
    first_inner: PayloadType,
    parts: Vec<Option<Zeroizing<Vec<u8>>>>,
    bytes: usize,
}

/// Fragmentation state of one IKE SA.
#[derive(Debug, Default)]
pub(super) struct Fragmentation {
    /// Both sides support it (RFC 7383 §2.3).
    pub(super) negotiated: bool,
    /// Our last fragmented messages and their fragments, so that a retransmission sends
    /// the same fragments.
    cache: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    reassembly: Option<Reassembly>,
}

impl<R: CryptoRng> IkeSa<R> {
    /// RFC 7383 §2.6: a fragment of the peer's; returns the whole message once the last
    /// fragment is in (protected again with the peer's keys and a fixed IV, so the state
    /// machine handles it, and spots its retransmission, like an unfragmented one).
    pub(super) fn on_fragment(&mut self, m: &Message<'_>) -> Result<Option<Vec<u8>>, Error> {
        if self.config.fragment_size.is_none() || !self.frag.negotiated {
            return Err(Error::UnexpectedMessage("IKE fragment without fragmentation negotiated"));
        }
        let h = m.header;
        if h.initiator_spi != self.spi_i || h.responder_spi != self.spi_r {
            return Err(Error::UnexpectedMessage("IKE fragment for another IKE SA"));
        }
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?;
        let peer_is_initiator = self.role == Role::Responder;
        if h.flags.initiator() != peer_is_initiator {
            return Err(Error::UnexpectedMessage("IKE fragment not from the peer"));
        }
        let response = h.flags.response();
        let expected = self.fragment_expected(response, h.message_id);
        if expected == Expected::Stray {
            return Err(Error::UnexpectedMessage("IKE fragment of an exchange not expected"));
        }
        let (fragment, opened) = open_any(&suite, keys.sender(peer_is_initiator), m)?;
        let Fragment { number, total } = fragment.ok_or(Error::UnexpectedMessage("not a fragment"))?;
        if total > MAX_FRAGMENTS {
            return Err(Error::UnexpectedMessage("too many IKE fragments"));
        }
        if expected == Expected::Answered {
            // RFC 7383 §2.6.1: only the first fragment of a retransmitted request brings
            // the answer again; the others are ignored.
            if number == 1 {
                self.response_pending = true;
            }
            return Ok(None);
        }
        let r = match &mut self.frag.reassembly {
            Some(r)
                if r.message_id == h.message_id
                    && r.response == response
                    && r.parts.len() >= usize::from(total) =>
            {
                if r.parts.len() > usize::from(total) {
                    // RFC 7383 §2.6.1: fragments of an older, finer split; ignore.
                    return Ok(None);
                }
                r
            }
            slot => slot.insert(Reassembly {
                message_id: h.message_id,
                response,
                first_inner: PayloadType::None,
                parts: (0..total).map(|_| None).collect(),
                bytes: 0,
            }),
        };
        let i = usize::from(number - 1);
        if r.parts[i].is_some() {
            return Ok(None);
        }
        if r.bytes + opened.chain.len() > MAX_REMEMBERED {
            self.frag.reassembly = None;
            return Err(Error::UnexpectedMessage("IKE fragments too long together"));
        }
        if number == 1 {
            r.first_inner = opened.first_inner;
        }
        r.bytes += opened.chain.len();
        r.parts[i] = Some(opened.chain);
        if r.parts.iter().any(Option::is_none) {
            return Ok(None);
        }
        let Some(r) = self.frag.reassembly.take() else { return Ok(None) };
        let mut chain = Zeroizing::new(Vec::with_capacity(r.bytes));
        for p in r.parts.iter().flatten() {
            chain.extend_from_slice(p);
        }
        let iv = vec![0u8; suite.encryption.iv_len()];
        let whole =
            seal_with_iv(&suite, keys.sender(peer_is_initiator), &h, r.first_inner, None, &chain, &iv)?;
        Ok(Some(whole))
    }

    /// RFC 7383 §2.6: whether a fragment with Message ID `id` belongs to an exchange we
    /// expect: a request with the peer's next Message ID, the answer to our outstanding
    /// request, or (a retransmission) the request we answered last.
    fn fragment_expected(&self, response: bool, id: u32) -> Expected {
        if response {
            let awaited = match self.state {
                State::Established => matches!(self.outstanding, Some((o, _)) if o == id),
                // RFC 7296 §1.2: the IKE_AUTH request is Message ID 1.
                State::AuthSent => id == 1,
                _ => false,
            };
            return if awaited { Expected::Keep } else { Expected::Stray };
        }
        let next = match (self.role, self.state) {
            // Before IKE_AUTH the peer's next request is Message ID 1.
            (Role::Responder, State::InitReplied) if self.peer_next_id == 0 => 1,
            (Role::Responder, State::InitReplied) | (_, State::Established) => self.peer_next_id,
            _ => return Expected::Stray,
        };
        if id == next {
            Expected::Keep
        } else if id.wrapping_add(1) == next && self.last_response.is_some() {
            Expected::Answered
        } else {
            Expected::Stray
        }
    }

    /// RFC 7383 §2.5: our message `msg` as fragments, when fragmentation is negotiated and
    /// it is too long; the same fragments again for a retransmission.
    pub(super) fn fragments_for(&mut self, msg: &[u8]) -> Option<Vec<Vec<u8>>> {
        let size = self.config.fragment_size?.max(MIN_FRAGMENT_SIZE);
        if !self.frag.negotiated || msg.len() <= size {
            return None;
        }
        if let Some((_, f)) = self.frag.cache.iter().find(|(m, _)| m == msg) {
            return Some(f.clone());
        }
        let m = Message::parse(msg).ok()?;
        let suite = self.suite?;
        let keys = self.keys.as_ref()?;
        let own = keys.sender(self.role == Role::Initiator);
        let (None, opened) = open_any(&suite, own, &m).ok()? else { return None };
        // Header, SKF header with the fragment fields, IV, ICV, padding and its length.
        let block = if suite.encryption.is_aead() { 0 } else { 16 };
        let overhead = 28 + 8 + suite.encryption.iv_len() + suite.icv_len() + block + 1;
        let piece = size.checked_sub(overhead)?.max(1);
        let total = u16::try_from(opened.chain.len().div_ceil(piece)).ok()?.max(1);
        let mut out = Vec::with_capacity(usize::from(total));
        for (n, chunk) in opened.chain.chunks(piece).enumerate() {
            let number = u16::try_from(n + 1).ok()?;
            let first = if number == 1 { opened.first_inner } else { PayloadType::None };
            let f = Fragment { number, total };
            out.push(seal_fragment(&suite, own, &m.header, first, f, chunk, &mut self.rng).ok()?);
        }
        if self.frag.cache.len() >= 2 {
            self.frag.cache.remove(0);
        }
        self.frag.cache.push((msg.to_vec(), out.clone()));
        Some(out)
    }
}

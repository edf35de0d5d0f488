//! LCP option negotiation (RFC 1661 §6): MRU, ACCM, Authentication-Protocol,
//! Magic-Number with loop detection, PFC, ACFC.

use rand_core::Rng;

use crate::auth::AuthMethod;
use crate::cp::{Judgement, Negotiator};
use crate::wire::{self, LcpOption, lcp_option};

/// RFC 1661 §6.1: the MRU every implementation must accept.
pub const DEFAULT_MRU: u16 = 1500;
/// The smallest MRU this implementation agrees to send with.
pub const MIN_MRU: u16 = 128;

/// LCP settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcpConfig {
    /// The MRU to announce (not sent when it is the default 1500).
    pub mru: u16,
    /// Whether to accept the peer's PFC and ACFC options.
    pub accept_compression: bool,
    /// Whether to request PFC and ACFC ourselves.
    pub request_compression: bool,
    /// Whether to send a Magic-Number (RFC 1661 §6.4 recommends it).
    pub magic_number: bool,
}

impl Default for LcpConfig {
    fn default() -> Self {
        LcpConfig {
            mru: DEFAULT_MRU,
            accept_compression: true,
            request_compression: false,
            magic_number: true,
        }
    }
}

/// What LCP has agreed, plus the role-specific authentication negotiation.
#[derive(Debug, Clone)]
pub(crate) struct Lcp {
    pub config: LcpConfig,
    /// Methods, in preference order: to demand (authenticator) or to accept (peer).
    pub methods: Vec<AuthMethod>,
    /// Whether we are the authenticator (we put Authentication-Protocol in our request).
    pub authenticator: bool,
    /// Whether the peer role has credentials (can accept an authentication demand).
    pub can_authenticate: bool,

    // Our request.
    want_mru: Option<u16>,
    pub magic: u32,
    want_magic: bool,
    want_auth: Option<AuthMethod>,
    tried_auth: Vec<AuthMethod>,
    want_pfc: bool,
    want_acfc: bool,
    /// The authenticator's method was refused by every option: the link cannot be used.
    pub auth_refused: bool,

    // Agreed values.
    /// The peer's MRU: how large our frames may be.
    pub peer_mru: u16,
    /// Our request with Authentication-Protocol was acked: the method we run as authenticator.
    pub our_auth: Option<AuthMethod>,
    /// The method the peer demands of us (peer role).
    pub peer_auth: Option<AuthMethod>,
    /// The peer's Magic-Number.
    pub peer_magic: u32,
    /// We may send one-octet protocol fields.
    pub send_pfc: bool,
    /// We may omit address/control.
    pub send_acfc: bool,
    /// Magic-Number collisions in a row (RFC 1661 §6.4 loop detection).
    pub magic_collisions: u32,
}

impl Lcp {
    pub fn new(
        config: LcpConfig,
        methods: Vec<AuthMethod>,
        authenticator: bool,
        can_authenticate: bool,
        rng: &mut dyn Rng,
    ) -> Self {
        let mut l = Lcp {
            config,
            methods,
            authenticator,
            can_authenticate,
            want_mru: None,
            magic: 0,
            want_magic: false,
            want_auth: None,
            tried_auth: Vec::new(),
            want_pfc: false,
            want_acfc: false,
            auth_refused: false,
            peer_mru: DEFAULT_MRU,
            our_auth: None,
            peer_auth: None,
            peer_magic: 0,
            send_pfc: false,
            send_acfc: false,
            magic_collisions: 0,
        };
        l.restart(rng);
        l
    }

    fn new_magic(&mut self, rng: &mut dyn Rng) {
        loop {
            let m = rng.next_u32();
            if m != 0 && m != self.magic {
                self.magic = m;
                return;
            }
        }
    }

    fn next_auth_candidate(&self) -> Option<AuthMethod> {
        self.methods.iter().copied().find(|m| !self.tried_auth.contains(m))
    }
}

impl Negotiator for Lcp {
    fn request_options(&mut self, out: &mut Vec<u8>) {
        if let Some(mru) = self.want_mru {
            LcpOption::Mru(mru).encode(out);
        }
        if let Some(m) = self.want_auth {
            LcpOption::AuthProtocol(m.protocol()).encode(out);
        }
        if self.want_magic {
            LcpOption::MagicNumber(self.magic).encode(out);
        }
        if self.want_pfc {
            LcpOption::Pfc.encode(out);
        }
        if self.want_acfc {
            LcpOption::Acfc.encode(out);
        }
    }

    fn judge_request(
        &mut self,
        options: &[u8],
        reject_only: bool,
        reply: &mut Vec<u8>,
        rng: &mut dyn Rng,
    ) -> Judgement {
        let mut rejects = Vec::new();
        let mut naks = Vec::new();
        let mut collided = false;
        for raw in wire::options(options).flatten() {
            match LcpOption::from_raw(raw) {
                LcpOption::Mru(m) if m < MIN_MRU => {
                    LcpOption::Mru(MIN_MRU).encode(&mut naks);
                }
                LcpOption::Mru(_) | LcpOption::Accm(_) => {}
                LcpOption::AuthProtocol(p) => {
                    let asked = AuthMethod::from_protocol(p);
                    if self.authenticator || !self.can_authenticate {
                        // We do not authenticate ourselves to the peer.
                        raw.encode(&mut rejects);
                    } else if asked.is_some_and(|m| self.methods.contains(&m)) {
                    } else if let Some(m) = self.methods.first() {
                        // RFC 1661 §6.2: Nak with the one protocol we prefer.
                        LcpOption::AuthProtocol(m.protocol()).encode(&mut naks);
                    } else {
                        raw.encode(&mut rejects);
                    }
                }
                LcpOption::MagicNumber(m) => {
                    if m == 0 {
                        raw.encode(&mut rejects);
                    } else if self.want_magic && m == self.magic {
                        // RFC 1661 §6.4: possibly looped back; Nak with another number.
                        collided = true;
                        let mut other = rng.next_u32();
                        while other == 0 || other == self.magic {
                            other = rng.next_u32();
                        }
                        LcpOption::MagicNumber(other).encode(&mut naks);
                    }
                }
                LcpOption::Pfc | LcpOption::Acfc if self.config.accept_compression => {}
                _ => raw.encode(&mut rejects),
            }
        }
        if collided {
            self.magic_collisions += 1;
        } else {
            self.magic_collisions = 0;
        }
        if !rejects.is_empty() {
            *reply = rejects;
            Judgement::Reject
        } else if !naks.is_empty() {
            if reject_only {
                // Max-Failure: reject the options we would have Nak'd (one pass over the
                // request, so repeated options cannot multiply the reply).
                let mut naked = [false; 256];
                for raw in wire::options(&naks).flatten() {
                    naked[usize::from(raw.kind)] = true;
                }
                for orig in wire::options(options).flatten() {
                    if naked[usize::from(orig.kind)] {
                        orig.encode(reply);
                    }
                }
                Judgement::Reject
            } else {
                *reply = crate::cp::first_of_each_kind(&naks);
                Judgement::Nak
            }
        } else {
            Judgement::Ack
        }
    }

    fn peer_request_acked(&mut self, options: &[u8]) {
        self.peer_mru = DEFAULT_MRU;
        self.peer_auth = None;
        self.peer_magic = 0;
        self.send_pfc = false;
        self.send_acfc = false;
        for raw in wire::options(options).flatten() {
            match LcpOption::from_raw(raw) {
                LcpOption::Mru(m) => self.peer_mru = m,
                LcpOption::AuthProtocol(p) => self.peer_auth = AuthMethod::from_protocol(p),
                LcpOption::MagicNumber(m) => self.peer_magic = m,
                LcpOption::Pfc => self.send_pfc = true,
                LcpOption::Acfc => self.send_acfc = true,
                _ => {}
            }
        }
    }

    fn request_acked(&mut self) {
        self.our_auth = self.want_auth;
    }

    fn request_naked(&mut self, options: &[u8], rng: &mut dyn Rng) {
        for raw in wire::options(options).flatten() {
            match LcpOption::from_raw(raw) {
                LcpOption::Mru(m) if self.want_mru.is_some() || m < DEFAULT_MRU => {
                    // Accept a smaller MRU suggestion, never below the floor.
                    self.want_mru = Some(m.max(MIN_MRU).min(self.config.mru.max(MIN_MRU)));
                }
                LcpOption::AuthProtocol(p) if self.authenticator => {
                    if let Some(cur) = self.want_auth {
                        self.tried_auth.push(cur);
                    }
                    let suggested = AuthMethod::from_protocol(p)
                        .filter(|m| self.methods.contains(m) && !self.tried_auth.contains(m));
                    self.want_auth = suggested.or_else(|| self.next_auth_candidate());
                    if self.want_auth.is_none() {
                        self.auth_refused = true;
                    }
                }
                LcpOption::MagicNumber(_) if self.want_magic => self.new_magic(rng),
                _ => {}
            }
        }
    }

    fn request_rejected(&mut self, options: &[u8]) {
        for raw in wire::options(options).flatten() {
            match raw.kind {
                lcp_option::MRU => self.want_mru = None,
                lcp_option::AUTH_PROTOCOL if self.authenticator => {
                    self.want_auth = None;
                    self.auth_refused = true;
                }
                lcp_option::MAGIC_NUMBER => self.want_magic = false,
                lcp_option::PFC => self.want_pfc = false,
                lcp_option::ACFC => self.want_acfc = false,
                _ => {}
            }
        }
    }

    fn restart(&mut self, rng: &mut dyn Rng) {
        self.want_mru = (self.config.mru != DEFAULT_MRU).then_some(self.config.mru);
        self.want_magic = self.config.magic_number;
        if self.want_magic {
            self.new_magic(rng);
        } else {
            self.magic = 0;
        }
        self.tried_auth.clear();
        self.want_auth = if self.authenticator { self.methods.first().copied() } else { None };
        self.auth_refused = self.authenticator && self.want_auth.is_none();
        self.want_pfc = self.config.request_compression;
        self.want_acfc = self.config.request_compression;
        self.our_auth = None;
        self.peer_auth = None;
        self.peer_mru = DEFAULT_MRU;
        self.send_pfc = false;
        self.send_acfc = false;
    }
}

/// Builds an Authentication-Protocol option for `m` (used in tests and by callers that
/// assemble their own requests).
#[must_use]
pub fn auth_option(m: AuthMethod) -> Vec<u8> {
    let mut v = Vec::new();
    LcpOption::AuthProtocol(m.protocol()).encode(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{AuthProtocol, ConfigOption, chap_algorithm};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn opts(list: &[LcpOption<'_>]) -> Vec<u8> {
        let mut v = Vec::new();
        for o in list {
            o.encode(&mut v);
        }
        v
    }

    fn peer(methods: Vec<AuthMethod>, rng: &mut ChaCha20Rng) -> Lcp {
        Lcp::new(LcpConfig::default(), methods, false, true, rng)
    }

    #[test]
    fn unsupported_options_rejected_exactly() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut l = peer(vec![AuthMethod::MsChapV2], &mut rng);
        let mrru = ConfigOption { kind: lcp_option::MRRU, data: &[0x05, 0xdc] };
        let callback = ConfigOption { kind: lcp_option::CALLBACK, data: &[6] };
        let quality = LcpOption::QualityProtocol { protocol: 0xc025, data: &[0, 0, 0, 10] };
        let req = opts(&[
            LcpOption::Mru(1400),
            LcpOption::Accm(0),
            LcpOption::Other(mrru),
            LcpOption::MagicNumber(0x1234_5678),
            LcpOption::Other(callback),
            quality,
            LcpOption::Pfc,
            LcpOption::Acfc,
        ]);
        let mut reply = Vec::new();
        assert_eq!(l.judge_request(&req, false, &mut reply, &mut rng), Judgement::Reject);
        assert_eq!(reply, opts(&[LcpOption::Other(mrru), LcpOption::Other(callback), quality]));
        // Without them the same request is acked and its values adopted.
        let req =
            opts(&[LcpOption::Mru(1400), LcpOption::Accm(0), LcpOption::MagicNumber(7), LcpOption::Pfc]);
        assert_eq!(l.judge_request(&req, false, &mut Vec::new(), &mut rng), Judgement::Ack);
        l.peer_request_acked(&req);
        assert_eq!((l.peer_mru, l.peer_magic, l.send_pfc, l.send_acfc), (1400, 7, true, false));
    }

    #[test]
    fn naks_small_mru_own_magic_and_unwanted_auth() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut l = peer(vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5], &mut rng);
        let req = opts(&[
            LcpOption::Mru(64),
            LcpOption::AuthProtocol(AuthProtocol::Pap),
            LcpOption::MagicNumber(l.magic),
        ]);
        let mut reply = Vec::new();
        assert_eq!(l.judge_request(&req, false, &mut reply, &mut rng), Judgement::Nak);
        let got: Vec<_> = wire::options(&reply).map(|o| LcpOption::from_raw(o.unwrap())).collect();
        assert_eq!(got[0], LcpOption::Mru(MIN_MRU));
        assert_eq!(got[1], LcpOption::AuthProtocol(AuthProtocol::Chap(chap_algorithm::MSCHAP_V2)));
        assert!(matches!(got[2], LcpOption::MagicNumber(m) if m != l.magic && m != 0));
        assert_eq!(l.magic_collisions, 1);
        // Max-Failure reached: the same options are rejected instead.
        let mut reply = Vec::new();
        assert_eq!(l.judge_request(&req, true, &mut reply, &mut rng), Judgement::Reject);
        assert_eq!(wire::options(&reply).count(), 3);
        // EAP is not implemented: Nak'd toward what we accept.
        let mut reply = Vec::new();
        let eap = opts(&[LcpOption::AuthProtocol(AuthProtocol::Eap)]);
        assert_eq!(l.judge_request(&eap, false, &mut reply, &mut rng), Judgement::Nak);
    }

    #[test]
    fn authenticator_rejects_auth_demand_and_walks_its_methods() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut l = Lcp::new(
            LcpConfig::default(),
            vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5],
            true,
            false,
            &mut rng,
        );
        let mut reply = Vec::new();
        let req = opts(&[LcpOption::AuthProtocol(AuthProtocol::Pap)]);
        assert_eq!(l.judge_request(&req, false, &mut reply, &mut rng), Judgement::Reject);
        let mut ours = Vec::new();
        l.request_options(&mut ours);
        assert!(ours.windows(5).any(|w| w == [3, 5, 0xc2, 0x23, 0x81]));
        // The peer Naks toward PAP (not ours): we fall back to our next method, CHAP-MD5.
        l.request_naked(&opts(&[LcpOption::AuthProtocol(AuthProtocol::Pap)]), &mut rng);
        let mut ours = Vec::new();
        l.request_options(&mut ours);
        assert!(ours.windows(5).any(|w| w == [3, 5, 0xc2, 0x23, 0x05]));
        assert!(!l.auth_refused);
        l.request_naked(&opts(&[LcpOption::AuthProtocol(AuthProtocol::Pap)]), &mut rng);
        assert!(l.auth_refused);
        // A rejected Magic-Number is dropped from our next request.
        l.request_rejected(&opts(&[LcpOption::MagicNumber(l.magic)]));
        let mut ours = Vec::new();
        l.request_options(&mut ours);
        assert!(!wire::options(&ours).flatten().any(|o| o.kind == lcp_option::MAGIC_NUMBER));
    }
}

#[cfg(test)]
mod hostile {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// A request made of thousands of colliding Magic-Numbers: the Nak and the Max-Failure
    /// Reject stay as large as the request, never larger.
    #[test]
    fn repeated_options_do_not_amplify_the_reply() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut l = Lcp::new(LcpConfig::default(), vec![], false, false, &mut rng);
        let mut req = Vec::new();
        for _ in 0..10_000 {
            LcpOption::MagicNumber(l.magic).encode(&mut req);
        }
        for reject_only in [false, true] {
            let mut reply = Vec::new();
            let j = l.judge_request(&req, reject_only, &mut reply, &mut rng);
            if reject_only {
                assert_eq!((j, reply.len()), (Judgement::Reject, req.len()));
            } else {
                assert_eq!((j, reply.len()), (Judgement::Nak, 6));
            }
        }
    }
}

#[cfg(test)]
mod hostile_nak {
    use super::*;
    use crate::wire::AuthProtocol;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// 4-octet PAP options Nak'd with 5-octet MS-CHAPv2 ones would outgrow a maximal
    /// request; the Nak carries one suggestion per option type.
    #[test]
    fn nak_has_one_suggestion_per_type() {
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        let mut l = Lcp::new(LcpConfig::default(), vec![AuthMethod::MsChapV2], false, true, &mut rng);
        let mut req = Vec::new();
        for _ in 0..16_000 {
            LcpOption::AuthProtocol(AuthProtocol::Pap).encode(&mut req);
        }
        let mut reply = Vec::new();
        assert_eq!(l.judge_request(&req, false, &mut reply, &mut rng), Judgement::Nak);
        assert_eq!(reply, vec![3, 5, 0xc2, 0x23, 0x81]);
    }
}

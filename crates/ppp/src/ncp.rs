//! The network control protocols: IPCP (RFC 1332, RFC 1877 name servers) and IPV6CP
//! (RFC 5072 interface identifiers).

use std::net::Ipv4Addr;

use rand_core::Rng;

use crate::cp::{Judgement, Negotiator};
use crate::wire::{self, IpcpOption, Ipv6cpOption, ipcp_option};

/// IPCP settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpcpConfig {
    /// Our own address. The authenticator normally sets it; a peer leaves it `None` to be
    /// assigned one (it then requests 0.0.0.0, RFC 1332 §3.3).
    pub local: Option<Ipv4Addr>,
    /// The address to give the peer (authenticator). An `Accept` verdict may override it.
    pub peer: Option<Ipv4Addr>,
    /// Primary and secondary DNS servers to hand out (authenticator, RFC 1877).
    pub dns: [Option<Ipv4Addr>; 2],
    /// Primary and secondary NBNS servers to hand out (authenticator, RFC 1877).
    pub nbns: [Option<Ipv4Addr>; 2],
    /// Whether to ask the peer for DNS servers (peer role, RFC 1877).
    pub request_dns: bool,
}

/// What IPCP agreed when it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Params {
    /// Our address.
    pub local: Ipv4Addr,
    /// The peer's address.
    pub peer: Ipv4Addr,
    /// DNS servers learnt from the peer (peer role) or handed out (authenticator).
    pub dns: [Option<Ipv4Addr>; 2],
    /// NBNS servers, likewise.
    pub nbns: [Option<Ipv4Addr>; 2],
}

const NS_KINDS: [u8; 4] = [
    ipcp_option::PRIMARY_DNS,
    ipcp_option::SECONDARY_DNS,
    ipcp_option::PRIMARY_NBNS,
    ipcp_option::SECONDARY_NBNS,
];

fn ns_index(kind: u8) -> Option<usize> {
    NS_KINDS.iter().position(|&k| k == kind)
}

#[derive(Debug, Clone)]
pub(crate) struct Ipcp {
    pub config: IpcpConfig,
    /// The address to assign the peer (config or the auth verdict).
    pub assign: Option<Ipv4Addr>,
    want_addr: Option<Ipv4Addr>,
    want_ns: [Option<Ipv4Addr>; 4],
    /// Our agreed address.
    pub local: Option<Ipv4Addr>,
    /// The peer's agreed address.
    pub peer: Option<Ipv4Addr>,
    /// Name servers learnt (peer role) — DNS1, DNS2, NBNS1, NBNS2.
    pub learnt_ns: [Option<Ipv4Addr>; 4],
}

impl Ipcp {
    pub fn new(config: IpcpConfig) -> Self {
        let assign = config.peer;
        let mut i = Ipcp {
            config,
            assign,
            want_addr: None,
            want_ns: [None; 4],
            local: None,
            peer: None,
            learnt_ns: [None; 4],
        };
        i.reset();
        i
    }

    fn reset(&mut self) {
        self.want_addr = Some(self.config.local.unwrap_or(Ipv4Addr::UNSPECIFIED));
        let z = self.config.request_dns.then_some(Ipv4Addr::UNSPECIFIED);
        self.want_ns = [z, z, None, None];
        self.local = None;
        self.peer = None;
        self.learnt_ns = [None; 4];
    }

    fn served_ns(&self, i: usize) -> Option<Ipv4Addr> {
        match i {
            0 | 1 => self.config.dns[i],
            _ => self.config.nbns[i - 2],
        }
    }

    /// The parameters once opened.
    pub fn params(&self) -> Ipv4Params {
        let authenticator_ns = [self.served_ns(0), self.served_ns(1)];
        let dns = if self.learnt_ns[..2].iter().any(Option::is_some) {
            [self.learnt_ns[0], self.learnt_ns[1]]
        } else {
            authenticator_ns
        };
        let nbns = if self.learnt_ns[2..].iter().any(Option::is_some) {
            [self.learnt_ns[2], self.learnt_ns[3]]
        } else {
            [self.served_ns(2), self.served_ns(3)]
        };
        Ipv4Params {
            local: self.local.unwrap_or(Ipv4Addr::UNSPECIFIED),
            peer: self.peer.unwrap_or(Ipv4Addr::UNSPECIFIED),
            dns,
            nbns,
        }
    }
}

impl Negotiator for Ipcp {
    fn request_options(&mut self, out: &mut Vec<u8>) {
        if let Some(a) = self.want_addr {
            IpcpOption::IpAddress(a).encode(out);
        }
        for (i, ns) in self.want_ns.iter().enumerate() {
            if let Some(a) = ns {
                IpcpOption::NameServer(NS_KINDS[i], *a).encode(out);
            }
        }
    }

    fn judge_request(
        &mut self,
        options: &[u8],
        reject_only: bool,
        reply: &mut Vec<u8>,
        _rng: &mut dyn Rng,
    ) -> Judgement {
        let mut rejects = Vec::new();
        let mut naks = Vec::new();
        for raw in wire::options(options).flatten() {
            match IpcpOption::from_raw(raw) {
                IpcpOption::IpAddress(a) => match self.assign {
                    Some(x) if x == a => {}
                    Some(x) if !reject_only => IpcpOption::IpAddress(x).encode(&mut naks),
                    // RFC 1332 §3.3: 0.0.0.0 asks us for an address we do not have.
                    None if !a.is_unspecified() => {}
                    _ => raw.encode(&mut rejects),
                },
                IpcpOption::NameServer(k, a) => {
                    let served = ns_index(k).and_then(|i| self.served_ns(i));
                    match served {
                        Some(x) if x == a => {}
                        Some(x) if !reject_only => {
                            IpcpOption::NameServer(k, x).encode(&mut naks);
                        }
                        _ => raw.encode(&mut rejects),
                    }
                }
                // Van Jacobson compression (RFC 1332 §3.2), IP-Addresses and anything else.
                _ => raw.encode(&mut rejects),
            }
        }
        if !rejects.is_empty() {
            *reply = rejects;
            Judgement::Reject
        } else if !naks.is_empty() {
            *reply = crate::cp::first_of_each_kind(&naks);
            Judgement::Nak
        } else {
            Judgement::Ack
        }
    }

    fn peer_request_acked(&mut self, options: &[u8]) {
        for raw in wire::options(options).flatten() {
            if let IpcpOption::IpAddress(a) = IpcpOption::from_raw(raw) {
                self.peer = Some(a);
            }
        }
        if self.peer.is_none() {
            self.peer = self.assign;
        }
    }

    fn request_acked(&mut self) {
        self.local = self.want_addr;
        for (i, ns) in self.want_ns.iter().enumerate() {
            self.learnt_ns[i] = ns.filter(|a| !a.is_unspecified());
        }
    }

    fn request_naked(&mut self, options: &[u8], _rng: &mut dyn Rng) {
        for raw in wire::options(options).flatten() {
            match IpcpOption::from_raw(raw) {
                // Take the suggested address unless ours is fixed by configuration.
                IpcpOption::IpAddress(a) if !a.is_unspecified() && self.config.local.is_none() => {
                    self.want_addr = Some(a);
                }
                IpcpOption::NameServer(k, a) => {
                    if let Some(i) = ns_index(k)
                        && self.want_ns[i].is_some()
                    {
                        self.want_ns[i] = Some(a);
                    }
                }
                _ => {}
            }
        }
    }

    fn request_rejected(&mut self, options: &[u8]) {
        for raw in wire::options(options).flatten() {
            match raw.kind {
                ipcp_option::IP_ADDRESS => self.want_addr = None,
                k => {
                    if let Some(i) = ns_index(k) {
                        self.want_ns[i] = None;
                    }
                }
            }
        }
    }

    fn restart(&mut self, _rng: &mut dyn Rng) {
        self.reset();
    }
}

/// What IPV6CP agreed when it opened: the two interface identifiers (RFC 5072 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Params {
    /// Our interface identifier (the low 64 bits of our link-local address).
    pub local: [u8; 8],
    /// The peer's interface identifier.
    pub peer: [u8; 8],
}

impl Ipv6Params {
    /// Our link-local address fe80::/64 + identifier (RFC 5072 §5).
    #[must_use]
    pub fn local_link_local(&self) -> std::net::Ipv6Addr {
        link_local(&self.local)
    }

    /// The peer's link-local address.
    #[must_use]
    pub fn peer_link_local(&self) -> std::net::Ipv6Addr {
        link_local(&self.peer)
    }
}

fn link_local(id: &[u8; 8]) -> std::net::Ipv6Addr {
    let mut o = [0u8; 16];
    o[0] = 0xfe;
    o[1] = 0x80;
    o[8..].copy_from_slice(id);
    o.into()
}

#[derive(Debug, Clone)]
pub(crate) struct Ipv6cp {
    want_id: Option<[u8; 8]>,
    pub local: Option<[u8; 8]>,
    pub peer: Option<[u8; 8]>,
}

fn random_id(rng: &mut dyn Rng, avoid: Option<[u8; 8]>) -> [u8; 8] {
    loop {
        let mut id = [0u8; 8];
        rng.fill_bytes(&mut id);
        if id != [0; 8] && Some(id) != avoid {
            return id;
        }
    }
}

impl Ipv6cp {
    pub fn new(rng: &mut dyn Rng) -> Self {
        Ipv6cp { want_id: Some(random_id(rng, None)), local: None, peer: None }
    }

    pub fn params(&self) -> Ipv6Params {
        Ipv6Params { local: self.local.unwrap_or_default(), peer: self.peer.unwrap_or_default() }
    }
}

impl Negotiator for Ipv6cp {
    fn request_options(&mut self, out: &mut Vec<u8>) {
        if let Some(id) = self.want_id {
            Ipv6cpOption::InterfaceIdentifier(id).encode(out);
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
        for raw in wire::options(options).flatten() {
            match Ipv6cpOption::from_raw(raw) {
                // RFC 5072 §4.1: a zero identifier or one equal to ours gets a Nak with a
                // fresh, different suggestion.
                Ipv6cpOption::InterfaceIdentifier(id)
                    if (id == [0; 8] || Some(id) == self.want_id) && !reject_only =>
                {
                    let s = random_id(rng, self.want_id);
                    Ipv6cpOption::InterfaceIdentifier(s).encode(&mut naks);
                }
                Ipv6cpOption::InterfaceIdentifier(id) if id != [0; 8] && Some(id) != self.want_id => {}
                _ => raw.encode(&mut rejects),
            }
        }
        if !rejects.is_empty() {
            *reply = rejects;
            Judgement::Reject
        } else if !naks.is_empty() {
            *reply = crate::cp::first_of_each_kind(&naks);
            Judgement::Nak
        } else {
            Judgement::Ack
        }
    }

    fn peer_request_acked(&mut self, options: &[u8]) {
        for raw in wire::options(options).flatten() {
            if let Ipv6cpOption::InterfaceIdentifier(id) = Ipv6cpOption::from_raw(raw) {
                self.peer = Some(id);
            }
        }
    }

    fn request_acked(&mut self) {
        self.local = self.want_id;
    }

    fn request_naked(&mut self, options: &[u8], rng: &mut dyn Rng) {
        for raw in wire::options(options).flatten() {
            if let Ipv6cpOption::InterfaceIdentifier(id) = Ipv6cpOption::from_raw(raw) {
                self.want_id =
                    Some(if id != [0; 8] && Some(id) != self.peer { id } else { random_id(rng, self.peer) });
            }
        }
    }

    fn request_rejected(&mut self, options: &[u8]) {
        if wire::options(options).flatten().any(|o| o.kind == wire::ipv6cp_option::INTERFACE_IDENTIFIER) {
            self.want_id = None;
        }
    }

    fn restart(&mut self, _rng: &mut dyn Rng) {
        self.local = None;
        self.peer = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ConfigOption;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn opts(list: &[IpcpOption<'_>]) -> Vec<u8> {
        let mut v = Vec::new();
        for o in list {
            o.encode(&mut v);
        }
        v
    }

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

    fn server() -> Ipcp {
        Ipcp::new(IpcpConfig {
            local: Some(Ipv4Addr::new(192, 0, 2, 1)),
            peer: Some(A),
            dns: [Some(Ipv4Addr::new(192, 0, 2, 53)), None],
            nbns: [Some(Ipv4Addr::new(192, 0, 2, 139)), None],
            request_dns: false,
        })
    }

    #[test]
    fn authenticator_assigns_address_and_name_servers() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut s = server();
        let z = Ipv4Addr::UNSPECIFIED;
        // What Windows and pppd clients ask: address, DNS and NBNS, all zero.
        let req = opts(&[
            IpcpOption::IpAddress(z),
            IpcpOption::NameServer(ipcp_option::PRIMARY_DNS, z),
            IpcpOption::NameServer(ipcp_option::PRIMARY_NBNS, z),
        ]);
        let mut reply = Vec::new();
        assert_eq!(s.judge_request(&req, false, &mut reply, &mut rng), Judgement::Nak);
        assert_eq!(
            reply,
            opts(&[
                IpcpOption::IpAddress(A),
                IpcpOption::NameServer(ipcp_option::PRIMARY_DNS, Ipv4Addr::new(192, 0, 2, 53)),
                IpcpOption::NameServer(ipcp_option::PRIMARY_NBNS, Ipv4Addr::new(192, 0, 2, 139)),
            ])
        );
        // The secondary DNS is not configured: rejected. VJ compression: rejected.
        let req = opts(&[
            IpcpOption::IpAddress(A),
            IpcpOption::IpCompression { protocol: 0x002d, data: &[0x0f, 0x01] },
            IpcpOption::NameServer(ipcp_option::SECONDARY_DNS, z),
        ]);
        let mut reply = Vec::new();
        assert_eq!(s.judge_request(&req, false, &mut reply, &mut rng), Judgement::Reject);
        assert_eq!(
            reply,
            opts(&[
                IpcpOption::IpCompression { protocol: 0x002d, data: &[0x0f, 0x01] },
                IpcpOption::NameServer(ipcp_option::SECONDARY_DNS, z),
            ])
        );
        // The Nak'd values, asked again, are acked and recorded.
        let req = opts(&[IpcpOption::IpAddress(A)]);
        assert_eq!(s.judge_request(&req, false, &mut Vec::new(), &mut rng), Judgement::Ack);
        s.peer_request_acked(&req);
        assert_eq!(s.peer, Some(A));
        // The deprecated IP-Addresses option is rejected.
        let old = opts(&[IpcpOption::Other(ConfigOption { kind: 1, data: &[0; 8] })]);
        assert_eq!(s.judge_request(&old, false, &mut Vec::new(), &mut rng), Judgement::Reject);
    }

    #[test]
    fn peer_learns_from_nak_and_drops_rejected() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut p = Ipcp::new(IpcpConfig { request_dns: true, ..IpcpConfig::default() });
        let mut req = Vec::new();
        p.request_options(&mut req);
        assert_eq!(wire::options(&req).count(), 3);
        p.request_naked(
            &opts(&[
                IpcpOption::IpAddress(A),
                IpcpOption::NameServer(ipcp_option::PRIMARY_DNS, Ipv4Addr::new(9, 9, 9, 9)),
            ]),
            &mut rng,
        );
        p.request_rejected(&opts(&[IpcpOption::NameServer(
            ipcp_option::SECONDARY_DNS,
            Ipv4Addr::UNSPECIFIED,
        )]));
        let mut req = Vec::new();
        p.request_options(&mut req);
        assert_eq!(
            req,
            opts(&[
                IpcpOption::IpAddress(A),
                IpcpOption::NameServer(ipcp_option::PRIMARY_DNS, Ipv4Addr::new(9, 9, 9, 9))
            ])
        );
        p.request_acked();
        assert_eq!(p.params().dns, [Some(Ipv4Addr::new(9, 9, 9, 9)), None]);
        // A peer without an address to give rejects a request for one (0.0.0.0).
        let mut reply = Vec::new();
        let ask = opts(&[IpcpOption::IpAddress(Ipv4Addr::UNSPECIFIED)]);
        assert_eq!(p.judge_request(&ask, false, &mut reply, &mut rng), Judgement::Reject);
    }

    #[test]
    fn ipv6cp_naks_zero_and_equal_identifiers() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut v = Ipv6cp::new(&mut rng);
        let ours = v.want_id.unwrap();
        for bad in [[0u8; 8], ours] {
            let mut req = Vec::new();
            Ipv6cpOption::InterfaceIdentifier(bad).encode(&mut req);
            let mut reply = Vec::new();
            assert_eq!(v.judge_request(&req, false, &mut reply, &mut rng), Judgement::Nak);
            let o = wire::options(&reply).next().unwrap().unwrap();
            let Ipv6cpOption::InterfaceIdentifier(s) = Ipv6cpOption::from_raw(o) else { panic!() };
            assert!(s != [0; 8] && s != ours);
        }
        let mut req = Vec::new();
        Ipv6cpOption::InterfaceIdentifier([1, 2, 3, 4, 5, 6, 7, 8]).encode(&mut req);
        assert_eq!(v.judge_request(&req, false, &mut Vec::new(), &mut rng), Judgement::Ack);
    }
}

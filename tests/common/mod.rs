//! An in-process L2TP/PPP client for the server tests: one l2sec LAC (tunnel to peer 0)
//! with an l2sec PPP peer per call, driven with a virtual clock.
#![allow(dead_code)]

pub mod stack;

use std::net::Ipv4Addr;
use std::time::Instant;

use l2sec::lns::LnsConfig;
use l2sec::pool::AddressPool;
use l2sec_l2tp::{self as l2tp, Input, SessionHandle};
use l2sec_ppp::{self as ppp, AuthMethod, Datagram, PeerCredentials};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

/// One PPP call over the LAC's tunnel.
pub struct Call {
    /// The LAC's handle of the L2TP session.
    pub handle: SessionHandle,
    /// The client's PPP.
    pub ppp: ppp::Session<ChaCha20Rng>,
    /// The address IPCP gave it.
    pub address: Option<Ipv4Addr>,
    /// IPv4 packets it received.
    pub received: Vec<Vec<u8>>,
}

/// The client side.
pub struct Lac {
    pub l2tp: l2tp::Endpoint<u8, ChaCha20Rng>,
    pub tunnel: l2tp::TunnelId,
    pub calls: Vec<Call>,
    seed: u64,
}

impl Lac {
    /// A LAC that starts a tunnel to the server (its peer 0).
    pub fn new(now: Instant, seed: u64) -> Self {
        let mut l2tp = l2tp::Endpoint::new(l2tp::Config::default(), ChaCha20Rng::seed_from_u64(seed));
        let tunnel = l2tp.connect(now, 0u8).unwrap();
        Lac { l2tp, tunnel, calls: Vec::new(), seed }
    }

    /// Places a call that will authenticate as `user`.
    pub fn call(&mut self, now: Instant, user: &str, password: &str) -> usize {
        let handle = self.l2tp.open_session(now, self.tunnel).unwrap();
        let mut cfg = ppp::Config::peer(PeerCredentials::new(user, password));
        cfg.ipcp.request_dns = true;
        let rng = ChaCha20Rng::seed_from_u64(self.seed * 1000 + self.calls.len() as u64);
        self.calls.push(Call {
            handle,
            ppp: ppp::Session::new(cfg, rng),
            address: None,
            received: Vec::new(),
        });
        self.calls.len() - 1
    }

    fn call_mut(&mut self, h: SessionHandle) -> Option<&mut Call> {
        self.calls.iter_mut().find(|c| c.handle == h)
    }

    /// An L2TP datagram from the server. The LAC's events are handled at once, as a real
    /// LAC does: PPP opens as soon as its L2TP session is up.
    pub fn receive(&mut self, now: Instant, datagram: &[u8]) {
        let input = self.l2tp.handle_input(now, 0, datagram);
        while let Some(ev) = self.l2tp.poll_event() {
            if let l2tp::Event::SessionUp { session, .. } = ev
                && let Some(c) = self.call_mut(session)
            {
                c.ppp.open(now);
            }
        }
        if let Ok(Input::Data { session, ppp: frame }) = input
            && let Some(c) = self.call_mut(session)
            && let Ok(Some(Datagram::Ipv4(p))) = c.ppp.handle_input(now, frame)
        {
            c.received.push(p.to_vec());
        }
    }

    /// Everything the client has to send, control messages (e.g. ICCN) before the PPP
    /// frames that follow them.
    pub fn outgoing(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for c in &mut self.calls {
            while let Some(ev) = c.ppp.poll_event() {
                if let ppp::Event::Ipv4Up(p) = ev {
                    c.address = Some(p.local);
                }
            }
            let mut f = Vec::new();
            while c.ppp.poll_transmit(now, &mut f).is_some() {
                frames.push((c.handle, std::mem::take(&mut f)));
            }
        }
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while let Some(t) = self.l2tp.poll_transmit(now, &mut buf) {
            out.push(buf[buf.len() - t.size..].to_vec());
            buf.clear();
        }
        for (h, f) in frames {
            if let Ok(t) = self.l2tp.encapsulate(h, &f, &mut buf) {
                out.push(buf[buf.len() - t.size..].to_vec());
            }
            buf.clear();
        }
        out
    }

    /// Runs the client's timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.l2tp.handle_timeout(now);
        for c in &mut self.calls {
            c.ppp.handle_timeout(now);
        }
    }

    /// The L2TP datagram carrying an IPv4 packet of call `i`.
    pub fn ip_datagram(&mut self, i: usize, packet: &[u8]) -> Vec<u8> {
        let c = &mut self.calls[i];
        let mut frame = Vec::new();
        c.ppp.encode_datagram(Datagram::Ipv4(packet), &mut frame).unwrap();
        let mut buf = Vec::new();
        let t = self.l2tp.encapsulate(c.handle, &frame, &mut buf).unwrap();
        buf[buf.len() - t.size..].to_vec()
    }
}

/// A minimal IPv4 packet (no checksum: nothing on the path checks it).
pub fn ipv4_packet(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// An LNS configuration: PPP authenticator `l2sec` with these methods, the server at
/// `server`, clients from `pool`.
pub fn lns_config(pool: &str, methods: Vec<AuthMethod>, server: Ipv4Addr) -> LnsConfig {
    let mut ppp_cfg = ppp::Config::authenticator("l2sec");
    ppp_cfg.auth_methods = methods;
    ppp_cfg.ipcp.local = Some(server);
    ppp_cfg.ipcp.dns = [Some(Ipv4Addr::new(192, 0, 2, 53)), None];
    LnsConfig {
        l2tp: l2tp::Config::default(),
        ppp: ppp_cfg,
        pool: AddressPool::parse_cidr(pool).unwrap().unwrap(),
    }
}

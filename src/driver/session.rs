//! A client that stays connected: [`ClientSession`] brings the tunnel up, pings through
//! it if asked, otherwise holds it (moving IP between the tunnel and an optional packet
//! sink) until a stop flag is set (SIGINT/SIGTERM in the example), reconnecting when the
//! server goes away if asked to, and hangs up politely at the end.

use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{ClientConnection, ClientReport, ClientRun};
use crate::client::{ClientEvent, icmp_echo_request};

/// Where the client's IP packets go when it is not pinging: a TUN device, or nowhere.
pub trait PacketSink: std::fmt::Debug {
    /// Our tunnel address is known (PPP is up): configure the device.
    fn configure(&mut self, address: Ipv4Addr, peer: Ipv4Addr, mtu: u16) -> io::Result<()>;
    /// A packet from the tunnel.
    fn deliver(&mut self, packet: &[u8]) -> io::Result<()>;
    /// The next packet for the tunnel, if one is waiting (non-blocking).
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
}

/// How a [`ClientSession`] ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionReport {
    /// The last connection's figures (address, pings).
    pub last: ClientReport,
    /// How many times the tunnel came up (more than 1 after reconnects).
    pub connections: u32,
}

/// A client run that holds the tunnel: see the module documentation.
#[derive(Debug)]
pub struct ClientSession<'a> {
    /// What to connect to, the credentials, pings and the timeout for coming up.
    pub run: &'a ClientRun,
    /// Set to end the session (politely).
    pub stop: &'a AtomicBool,
    /// Connect again (after a pause) when the server goes away, instead of returning an
    /// error.
    pub reconnect: bool,
    /// Where IP goes while the tunnel is held (ignored while pinging).
    pub sink: Option<&'a mut dyn PacketSink>,
    /// The IKE version to speak.
    pub ike: crate::client::IkeVersion,
    /// Dead Peer Detection timing (the default: 30 s idle, 5 probes 5 s apart); DPD is
    /// what notices a server that vanished without a Delete.
    pub dpd: Option<l2sec_ike::v1::dpd::DpdConfig>,
    /// The outer path MTU (1500 when `None`), from which PPP's MRU is computed.
    pub outer_mtu: Option<u16>,
    /// Certificate, PPP authentication protocols, key log.
    pub options: super::ClientOptions,
}

impl ClientConnection {
    /// The tunnel's IP MTU (after PPP negotiated the MRUs).
    #[must_use]
    pub fn mtu(&self) -> u16 {
        self.client.mtu()
    }

    /// Our inbound ESP SPI, once negotiated.
    #[must_use]
    pub fn inbound_spi(&self) -> Option<u32> {
        self.client.inbound_spi()
    }
}

/// The pause before connecting again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

impl ClientSession<'_> {
    /// Runs until the pings are answered (with `run.ping`), or until `stop` (without);
    /// then disconnects politely. Errors: the tunnel did not come up within
    /// `run.timeout`, or it failed and `reconnect` is off.
    pub fn run(self, on_event: impl FnMut(&ClientEvent)) -> io::Result<SessionReport> {
        self.run_with(|_| {}, on_event)
    }

    /// [`run`](Self::run), with a last say on each connection's client configuration
    /// (e.g. [`raw_esp`](crate::client::ClientConfig::raw_esp)).
    pub fn run_with(
        mut self,
        tweak: impl Fn(&mut crate::client::ClientConfig),
        mut on_event: impl FnMut(&ClientEvent),
    ) -> io::Result<SessionReport> {
        let mut result = SessionReport::default();
        // The key log carries over reconnections: every connection's SAs stay in it.
        let mut keylog = None;
        loop {
            let (dpd, mtu, ike) = (self.dpd, self.outer_mtu, self.ike);
            let mut c = ClientConnection::start_inner(self.run, &self.options, keylog.take(), |config| {
                config.ike = ike;
                if let Some(d) = dpd {
                    config.dpd = d;
                }
                if let Some(m) = mtu {
                    config.outer_mtu = m;
                }
                tweak(config);
            })?;
            let outcome = self.one_connection(&mut c, &mut result, &mut on_event);
            let stopping = self.stop.load(Ordering::Relaxed);
            match outcome {
                Ok(true) => {
                    c.disconnect(&mut on_event)?;
                    return Ok(result);
                }
                Ok(false) if stopping => {
                    c.disconnect(&mut on_event)?;
                    return Ok(result);
                }
                Err(e) if !self.reconnect || stopping || result.connections == 0 => {
                    if c.address().is_some() || stopping {
                        let _ = c.disconnect(&mut on_event);
                    }
                    return Err(e);
                }
                _ => {
                    keylog = c.keylog.take();
                    // The server went away: a fresh connection after a pause.
                    let until = Instant::now() + RECONNECT_PAUSE;
                    while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    if self.stop.load(Ordering::Relaxed) {
                        return Ok(result);
                    }
                }
            }
        }
    }

    /// Drives one connection. `Ok(true)`: the pings are done; `Ok(false)`: stopped;
    /// `Err`: it failed or never came up.
    fn one_connection(
        &mut self,
        c: &mut ClientConnection,
        result: &mut SessionReport,
        on_event: &mut impl FnMut(&ClientEvent),
    ) -> io::Result<bool> {
        let start = Instant::now();
        let mut report = ClientReport::default();
        let mut next_ping = None;
        let mut buf = vec![0u8; 65_536];
        loop {
            if self.stop.load(Ordering::Relaxed) {
                result.last = report;
                return Ok(false);
            }
            let mut busy = c.step(on_event)?;
            if let Some(e) = c.failure() {
                result.last = report;
                return Err(io::Error::other(e.to_owned()));
            }
            let now = Instant::now();
            if report.address.is_none() {
                if let Some(address) = c.address() {
                    report.address = Some(address);
                    report.peer = c.peer();
                    result.connections += 1;
                    if self.run.ping.is_some() {
                        next_ping = Some(now + Duration::from_secs(1));
                    } else if let Some(sink) = self.sink.as_mut() {
                        sink.configure(address, c.peer().unwrap_or(Ipv4Addr::UNSPECIFIED), c.mtu())?;
                    }
                } else if start.elapsed() >= self.run.timeout {
                    result.last = report;
                    let why = c.last_refusal().map(|r| format!(" (last refusal: {r})")).unwrap_or_default();
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no tunnel within the timeout{why}"),
                    ));
                }
            }
            while let Some(p) = c.poll_ip() {
                let ihl = usize::from(p.first().map_or(0, |b| b & 0x0f)) * 4;
                if self.run.ping.is_some() {
                    if p.len() >= ihl + 8 && p[9] == 1 && p[ihl] == 0 && p[ihl + 4..ihl + 6] == [0x4c, 0x32] {
                        report.pings_received += 1;
                    }
                } else if let Some(sink) = self.sink.as_mut() {
                    sink.deliver(&p)?;
                }
            }
            if let (Some(me), None) = (report.address, self.run.ping)
                && let Some(sink) = self.sink.as_mut()
            {
                while let Some(n) = sink.receive(&mut buf)? {
                    busy = true;
                    if buf.get(12..16) == Some(&me.octets()[..]) {
                        c.send_ip(&buf[..n])?;
                    }
                }
            }
            if let (Some((target, count)), Some(at), Some(me)) = (self.run.ping, next_ping, report.address) {
                if report.pings_received >= count {
                    result.last = report;
                    return Ok(true);
                }
                if now >= at && report.pings_sent < count {
                    let dst = target.or(report.peer).unwrap_or(Ipv4Addr::UNSPECIFIED);
                    let seq = report.pings_sent + 1;
                    c.send_ip(&icmp_echo_request(me, dst, 0x4c32, seq, b"l2sec ping"))?;
                    report.pings_sent = seq;
                    next_ping = Some(now + Duration::from_secs(1));
                } else if report.pings_sent >= count && start.elapsed() >= self.run.timeout {
                    result.last = report;
                    return Ok(true);
                }
            }
            if !busy {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

//! The ESP data plane: the Child SA pairs in l2sec-esp (the newest sends, every
//! installed one receives, so packets in flight across a rekey still arrive), ESP in UDP (RFC 3948) on the NAT-T
//! socket, and either a TUN device or a built-in ICMP echo responder for the inner side.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use l2sec_esp::natt::internet_checksum;
use l2sec_esp::{InboundSa, OutboundSa};
use l2sec_ike::child::{ChildSa, EspMode};

/// RFC 3948 §2.3: keepalives keep the NAT mapping; 20 s as usual.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// Echo requests we send (`--ping`): one per second.
const PING_INTERVAL: Duration = Duration::from_secs(1);
const PING_ID: u16 = 0x6970; // "ip"
/// The first echo request goes this long after the Child SA is up.
const FIRST_PING_DELAY: Duration = Duration::from_millis(300);

/// The TUN device: created with the local inner address and the remote inner address as
/// point-to-point peer, which makes the kernel route that address into the device
/// (netlink, through tun-rs).
pub fn open_tun(name: &str, local: Ipv4Addr, remote: Ipv4Addr) -> std::io::Result<tun_rs::SyncDevice> {
    tun_rs::DeviceBuilder::new().name(name).ipv4(local, 32, Some(remote)).mtu(1400).build_sync()
}

/// What happened to one ESP packet from the peer.
#[derive(Debug)]
pub enum Inbound {
    /// Nothing to send (written to the TUN device, or counted).
    Consumed,
    /// An echo reply to a ping of ours arrived.
    PingReply { seq: u16, rtt: Duration },
    /// Send this ESP packet back (our answer to an echo request).
    Reply(Vec<u8>),
}

/// One installed Child SA pair.
struct Pair {
    spi_in: u32,
    inbound: InboundSa,
    outbound: OutboundSa,
    mode: EspMode,
}

/// The installed Child SAs and the inner side.
pub struct DataPlane {
    /// Oldest first; the last one sends.
    pairs: Vec<Pair>,
    /// Our inner address (answers echo requests to it without TUN) and the peer's.
    inner: Option<(Ipv4Addr, Ipv4Addr)>,
    tun: Option<Arc<tun_rs::SyncDevice>>,
    pings_left: u32,
    ping_seq: u16,
    next_ping: Option<Instant>,
    sent_at: Vec<(u16, Instant)>,
    next_keepalive: Option<Instant>,
    pub esp_in: u64,
    pub esp_out: u64,
    pub esp_dropped: u64,
}

impl std::fmt::Debug for DataPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataPlane").field("esp_in", &self.esp_in).field("esp_out", &self.esp_out).finish()
    }
}

impl DataPlane {
    pub fn new(
        inner: Option<(Ipv4Addr, Ipv4Addr)>,
        tun: Option<Arc<tun_rs::SyncDevice>>,
        pings: u32,
    ) -> Self {
        Self {
            pairs: Vec::new(),
            inner,
            tun,
            pings_left: pings,
            ping_seq: 0,
            next_ping: None,
            sent_at: Vec::new(),
            next_keepalive: None,
            esp_in: 0,
            esp_out: 0,
            esp_dropped: 0,
        }
    }

    /// Installs a Child SA pair: it receives at once and sends from now on (a rekey:
    /// the older pairs keep receiving until removed).
    pub fn install(&mut self, child: &ChildSa, now: Instant) -> Result<(), l2sec_esp::Error> {
        let (inbound, outbound) = child.esp_params()?;
        let pair = Pair {
            spi_in: child.spi_in,
            inbound: InboundSa::new(&inbound)?,
            outbound: OutboundSa::new(&outbound)?,
            mode: child.mode,
        };
        let first = self.pairs.is_empty();
        self.pairs.retain(|p| p.spi_in != child.spi_in);
        self.pairs.push(pair);
        if first && self.next_ping.is_none() && self.pings_left > 0 && child.mode == EspMode::Tunnel {
            // The peer may install its SAs only after our last message (IKEv1 HASH(3)).
            self.next_ping = Some(now + FIRST_PING_DELAY);
        }
        Ok(())
    }

    /// Removes the Child SA pair with this inbound SPI.
    pub fn remove(&mut self, spi_in: u32) {
        self.pairs.retain(|p| p.spi_in != spi_in);
        if self.pairs.is_empty() {
            self.next_ping = None;
        }
    }

    /// True when a pair with this inbound SPI is installed.
    pub fn accepts(&self, spi: u32) -> bool {
        self.pairs.iter().any(|p| p.spi_in == spi)
    }

    /// The inbound SPI of the pair we send on.
    pub fn sending_spi(&self) -> Option<u32> {
        self.pairs.last().map(|p| p.spi_in)
    }

    /// Starts the keepalive timer (IKE floated to the NAT-T port).
    pub fn start_keepalives(&mut self, now: Instant) {
        self.next_keepalive.get_or_insert(now + KEEPALIVE_INTERVAL);
    }

    /// True when a keepalive is due (and re-arms the timer).
    pub fn keepalive_due(&mut self, now: Instant) -> bool {
        match self.next_keepalive {
            Some(t) if t <= now => {
                self.next_keepalive = Some(now + KEEPALIVE_INTERVAL);
                true
            }
            _ => false,
        }
    }

    /// The next time [`Self::poll`] or [`Self::keepalive_due`] wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_ping, self.next_keepalive].into_iter().flatten().min()
    }

    /// True once every ping asked for was sent and answered or given up on (1 s after
    /// the last one).
    pub fn pings_done(&self) -> bool {
        self.pings_left == 0 && self.next_ping.is_none()
    }

    /// An echo request to send now, as an ESP packet, when `--ping` asks for one.
    pub fn poll_ping(&mut self, now: Instant) -> Option<Vec<u8>> {
        let due = self.next_ping.filter(|t| *t <= now)?;
        if self.pings_left == 0 {
            // The grace second after the last ping is over.
            self.next_ping = None;
            return None;
        }
        let (local, remote) = self.inner?;
        self.pings_left -= 1;
        self.next_ping = Some(due + PING_INTERVAL);
        self.ping_seq = self.ping_seq.wrapping_add(1);
        self.sent_at.push((self.ping_seq, now));
        let packet = icmp_echo(8, local, remote, PING_ID, self.ping_seq, b"l2sec ikepeer ping");
        self.seal(&packet)
    }

    /// Protects an inner IP packet (tunnel mode) for the peer.
    pub fn seal(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        let Pair { outbound: out, mode, .. } = self.pairs.last_mut()?;
        if *mode != EspMode::Tunnel {
            return None;
        }
        let head = out.headroom();
        let mut buf = vec![0u8; head + packet.len() + out.tailroom()];
        buf[head..head + packet.len()].copy_from_slice(packet);
        match out.encapsulate_tunnel(&mut buf, head..head + packet.len()) {
            Ok(esp) => {
                self.esp_out += 1;
                Some(esp.to_vec())
            }
            Err(_) => None,
        }
    }

    /// One ESP packet with SPI `spi` from the NAT-T socket (starting at the SPI).
    pub fn open(&mut self, spi: u32, datagram: &mut [u8], now: Instant) -> Inbound {
        let Some(Pair { inbound, mode, .. }) = self.pairs.iter_mut().find(|p| p.spi_in == spi) else {
            self.esp_dropped += 1;
            return Inbound::Consumed;
        };
        let mode = *mode;
        let Ok(opened) = inbound.decapsulate(datagram) else {
            self.esp_dropped += 1;
            return Inbound::Consumed;
        };
        self.esp_in += 1;
        if mode != EspMode::Tunnel || opened.next_header != 4 {
            return Inbound::Consumed; // transport mode: counted only (no L2TP here)
        }
        let packet: Vec<u8> = opened.payload.to_vec();
        if let Some(reply) = self.ping_reply(&packet, now) {
            return reply;
        }
        if let Some(tun) = &self.tun {
            let _ = tun.send(&packet);
            return Inbound::Consumed;
        }
        // No TUN: answer echo requests to our inner address ourselves.
        let Some((local, _)) = self.inner else { return Inbound::Consumed };
        match parse_icmp_echo(&packet) {
            Some(e) if e.kind == 8 && e.dst == local => {
                let answer = icmp_echo(0, e.dst, e.src, e.id, e.seq, e.data);
                self.seal(&answer).map_or(Inbound::Consumed, Inbound::Reply)
            }
            _ => Inbound::Consumed,
        }
    }

    fn ping_reply(&mut self, packet: &[u8], now: Instant) -> Option<Inbound> {
        let e = parse_icmp_echo(packet)?;
        if e.kind != 0 || e.id != PING_ID || self.inner.is_none_or(|(l, _)| l != e.dst) {
            return None;
        }
        let at = self.sent_at.iter().position(|(s, _)| *s == e.seq)?;
        let (seq, sent) = self.sent_at.swap_remove(at);
        Some(Inbound::PingReply { seq, rtt: now.saturating_duration_since(sent) })
    }
}

struct Echo<'a> {
    kind: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    seq: u16,
    data: &'a [u8],
}

/// An IPv4 ICMP echo request (8) or reply (0), if `packet` is one.
fn parse_icmp_echo(packet: &[u8]) -> Option<Echo<'_>> {
    let ihl = usize::from(*packet.first()? & 0x0f) * 4;
    if packet[0] >> 4 != 4 || ihl < 20 || packet.len() < ihl + 8 || packet[9] != 1 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let icmp = packet.get(ihl..total.min(packet.len()))?;
    if icmp.len() < 8 || !matches!(icmp[0], 0 | 8) || icmp[1] != 0 {
        return None;
    }
    Some(Echo {
        kind: icmp[0],
        src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
        dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
        id: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        data: &icmp[8..],
    })
}

/// Builds an IPv4 ICMP echo message (RFC 792).
fn icmp_echo(kind: u8, src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut icmp = vec![kind, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(data);
    let c = internet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = u16::try_from(20 + icmp.len()).unwrap_or(u16::MAX);
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

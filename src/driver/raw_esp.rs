//! ESP as IP protocol 50 (RFC 4303 §2), beside ESP in UDP/4500 (RFC 3948): an option for
//! peers that are not behind a NAT.
//!
//! With it, the IKE servers stop pretending a NAT: NAT detection decides, a peer behind a
//! NAT still gets ESP in UDP, any other peer plain ESP in transport mode. Inbound ESP from
//! the raw socket goes to the same SPI demultiplexer as ESP from UDP/4500; outbound ESP of
//! an SA negotiated without UDP encapsulation leaves through the raw socket.
//!
//! A raw socket sees every protocol-50 packet the host receives, other daemons' and (on
//! the loopback interface) our own outgoing ones too: packets for SPIs we do not know are
//! dropped quietly. Opening it needs root (or `CAP_NET_RAW`).
//!
//! The socket is made with `socket2` and then handled as a [`UdpSocket`]: `recvfrom` and
//! `sendto` are the same system calls for any datagram socket, which keeps this code free
//! of `unsafe` (socket2's receive calls take uninitialised buffers). On an IPv4 raw socket
//! the kernel hands received packets over with their IP header (raw(7)), which is
//! stripped here; it builds the header of sent packets itself (no `IP_HDRINCL`). On IPv6
//! neither direction carries the header.

use std::cell::Cell;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::Range;
use std::time::Instant;

use l2sec_ike::child::{ChildSa, EspEncapsulation};
use l2sec_ppp::Datagram;
use socket2::{Domain, Protocol, Socket, Type};

use super::{Server, ServerEvent};
use crate::ipsec_lns::{ConnId, IpsecLnsError, Received};

/// The IP protocol number of ESP (RFC 4303 §2).
pub const IPPROTO_ESP: i32 = 50;

/// Packet counts of one endpoint's ESP, by how it travelled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawEspStats {
    /// ESP packets sent as IP protocol 50.
    pub raw_sent: u64,
    /// ESP packets received as IP protocol 50 and accepted (known SPI, authentic).
    pub raw_received: u64,
    /// ESP packets sent in UDP (SAs behind a NAT).
    pub udp_sent: u64,
}

/// A raw IP socket for protocol 50, non-blocking.
#[derive(Debug)]
pub struct RawEspSocket {
    socket: UdpSocket,
    ipv4: bool,
    raw_sent: Cell<u64>,
    raw_received: Cell<u64>,
    udp_sent: Cell<u64>,
}

impl RawEspSocket {
    /// Opens a raw protocol-50 socket bound to `local` (the unspecified address for
    /// every local address).
    ///
    /// # Errors
    /// Without root or `CAP_NET_RAW` the system refuses: the error says so.
    pub fn open(local: IpAddr) -> io::Result<Self> {
        let domain = if local.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
        let socket = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_ESP))).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("raw ESP (IP protocol 50) needs a raw socket, which needs root or CAP_NET_RAW: {e}"),
            )
        })?;
        socket.bind(&SocketAddr::new(local, 0).into())?;
        socket.set_nonblocking(true)?;
        Ok(Self {
            socket: socket.into(),
            ipv4: local.is_ipv4(),
            raw_sent: Cell::new(0),
            raw_received: Cell::new(0),
            udp_sent: Cell::new(0),
        })
    }

    /// Receives one packet into `buf`: its source and where the ESP packet (SPI first)
    /// lies in `buf`. `None` when nothing is waiting or the packet is not ESP.
    ///
    /// # Errors
    /// The socket failed.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(IpAddr, Range<usize>)>> {
        let (n, from) = match self.socket.recv_from(buf) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        let start = if self.ipv4 {
            // RFC 791 §3.1: IHL counts 32-bit words; the protocol octet is at offset 9.
            let ihl = usize::from(buf.first().map_or(0, |b| b & 0x0f)) * 4;
            if ihl < 20 || n < ihl || buf[9] != IPPROTO_ESP as u8 {
                return Ok(None);
            }
            ihl
        } else {
            0
        };
        Ok(Some((from.ip(), start..n)))
    }

    /// Sends one ESP packet (SPI first) to `to` as IP protocol 50.
    ///
    /// # Errors
    /// The socket failed.
    pub fn send_to(&self, esp: &[u8], to: IpAddr) -> io::Result<()> {
        self.socket.send_to(esp, SocketAddr::new(to, 0))?;
        self.raw_sent.set(self.raw_sent.get() + 1);
        Ok(())
    }

    /// Counts an ESP packet received as protocol 50 and accepted.
    pub fn count_received(&self) {
        self.raw_received.set(self.raw_received.get() + 1);
    }

    /// Counts an ESP packet sent in UDP instead.
    pub fn count_udp_sent(&self) {
        self.udp_sent.set(self.udp_sent.get() + 1);
    }

    /// The counts so far.
    #[must_use]
    pub fn stats(&self) -> RawEspStats {
        RawEspStats {
            raw_sent: self.raw_sent.get(),
            raw_received: self.raw_received.get(),
            udp_sent: self.udp_sent.get(),
        }
    }
}

/// True if a negotiated Child SA is plain ESP (no UDP encapsulation).
#[must_use]
pub fn is_raw(child: &ChildSa) -> bool {
    child.encapsulation == EspEncapsulation::None
}

impl Server {
    /// The raw ESP counts (`None` without `raw_esp`).
    #[must_use]
    pub fn raw_esp_stats(&self) -> Option<RawEspStats> {
        self.raw_esp.as_ref().map(RawEspSocket::stats)
    }

    /// A Child SA was installed for `conn`: with a raw socket, an SA negotiated without
    /// UDP encapsulation sends through it.
    pub(super) fn note_child_encapsulation(&mut self, conn: ConnId, child: &ChildSa) {
        if self.raw_esp.is_some() {
            self.data.set_udp_encapsulated(conn, !is_raw(child));
        }
    }

    /// Sends an ESP packet of the data path: raw for raw SAs, else from UDP/4500.
    pub(super) fn send_esp(&self, esp: &[u8], to: SocketAddr, raw: bool) -> io::Result<()> {
        match &self.raw_esp {
            Some(r) if raw => r.send_to(esp, to.ip()),
            Some(r) => {
                r.count_udp_sent();
                self.natt_socket.send_to(esp, to).map(|_| ())
            }
            None => self.natt_socket.send_to(esp, to).map(|_| ()),
        }
    }

    /// Reads one packet from the raw ESP socket, if any, and hands it to the data path.
    /// Returns true if something arrived.
    pub(super) fn read_raw_esp(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        out: &mut Vec<u8>,
        on_event: &mut impl FnMut(&ServerEvent),
    ) -> io::Result<bool> {
        let Some(raw) = self.raw_esp.as_ref() else { return Ok(false) };
        let Some((from, range)) = raw.recv(buf)? else { return Ok(false) };
        match self.data.handle_esp(now, from, &mut buf[range]) {
            Ok(received) => {
                if let Some(r) = self.raw_esp.as_ref() {
                    r.count_received();
                }
                match received {
                    Received::Ip { peer, packet } => {
                        self.seen(now, peer);
                        let (Datagram::Ipv4(p) | Datagram::Ipv6(p)) = packet;
                        self.answer_ip(p, out)?;
                    }
                    Received::Control { peer } => self.seen(now, peer),
                    _ => {}
                }
            }
            // Someone else's SA (or our own packets going out, seen on loopback).
            Err(IpsecLnsError::Esp(l2sec_esp::Error::UnknownSpi(_))) => {}
            Err(e) => on_event(&ServerEvent::Error(format!("raw esp from {from}: {e}"))),
        }
        Ok(true)
    }
}

impl super::ClientConnection {
    /// The raw ESP counts (`None` without [`ClientConfig::raw_esp`](crate::client::ClientConfig::raw_esp)).
    #[must_use]
    pub fn raw_esp_stats(&self) -> Option<RawEspStats> {
        self.raw_esp.as_ref().map(RawEspSocket::stats)
    }

    /// Reads one packet from the raw ESP socket, if any: ESP from the server goes to the
    /// client, anything else is dropped. Returns true if something arrived.
    pub(super) fn read_raw_esp(&mut self, now: Instant) -> io::Result<bool> {
        let Some(raw) = self.raw_esp.as_ref() else { return Ok(false) };
        let Some((from, range)) = raw.recv(&mut self.buf)? else { return Ok(false) };
        if from == self.natt_socket.peer_addr()?.ip()
            && self.client.handle_esp(now, &mut self.buf[range]).is_ok()
        {
            raw.count_received();
        }
        Ok(true)
    }
}

//! The server's TUN device in place of the virtual network: IP from clients goes to the
//! kernel, and what the kernel routes into the device (the pool's subnet) goes to the
//! client that has the destination address. TCP SYNs get their MSS clamped to the
//! session's MTU both ways.

use std::io;
use std::net::Ipv4Addr;

use super::Server;

/// Packets taken from the device per round, so that sockets are not starved.
const BURST: usize = 64;

fn address(packet: &[u8], at: usize) -> Option<Ipv4Addr> {
    let b: [u8; 4] = packet.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

impl Server {
    /// An IP packet from a client: into the kernel.
    pub(super) fn write_tun(&mut self, packet: &[u8]) -> io::Result<()> {
        let Some(tun) = self.tun.as_ref() else { return Ok(()) };
        let mtu = address(packet, 12).and_then(|a| self.data.lns().session_mtu(a));
        let mut p = packet.to_vec();
        tun.write_packet(&mut p, mtu)
    }

    /// Packets the kernel routed into the device: to their clients. Returns true if any.
    pub(super) fn read_tun(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        let mut buf = [0u8; 2048];
        let mut any = false;
        for _ in 0..BURST {
            let Some(tun) = self.tun.as_ref() else { return Ok(false) };
            let Some(n) = tun.read_packet(&mut buf)? else { break };
            any = true;
            let packet = &mut buf[..n];
            let v4 = match packet.first().map(|b| b >> 4) {
                Some(4) => true,
                // IPv6 (IPV6CP sessions): routed by the link-local destination.
                Some(6) => false,
                _ => continue,
            };
            if let Some(mtu) = address(packet, 16).filter(|_| v4).and_then(|a| self.data.lns().session_mtu(a))
            {
                crate::mtu::clamp_mss(packet, crate::mtu::mss_for_mtu(mtu));
            }
            // No session for the destination, or too large for it: dropped.
            if let Ok(t) = self.data.send_ip(packet, out) {
                self.send_data(t, out)?;
            }
        }
        Ok(any)
    }
}

//! A Linux TUN device as the packet sink (needs `CAP_NET_ADMIN`): the server's device holds
//! its tunnel address with the pool's prefix, so the kernel routes the pool into it; the
//! client's device gets the assigned address with the server's tunnel address as its
//! point-to-point peer. TCP SYNs crossing between the device and the tunnel get their MSS
//! clamped to the tunnel's MTU ([`crate::mtu::clamp_mss`]).

use std::io;
use std::net::Ipv4Addr;

use crate::driver::PacketSink;

/// An open TUN device in non-blocking mode (no packet-information header: raw IP).
pub struct TunDevice {
    device: tun_rs::SyncDevice,
    name: String,
    /// Clamp the MSS of SYNs to this tunnel MTU, if set.
    clamp_mtu: Option<u16>,
}

impl std::fmt::Debug for TunDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunDevice").field("name", &self.name).field("clamp_mtu", &self.clamp_mtu).finish()
    }
}

impl TunDevice {
    /// Creates (or reuses) the device `name` without an address, up.
    pub fn open(name: &str) -> io::Result<Self> {
        let device = tun_rs::DeviceBuilder::new().name(name).build_sync()?;
        device.set_nonblocking(true)?;
        Ok(Self { device, name: name.to_owned(), clamp_mtu: None })
    }

    /// The server's device: `address/prefix` (the server's tunnel address in the pool's
    /// subnet, so that the kernel routes the whole pool into the device), MTU `mtu`.
    pub fn open_server(name: &str, address: Ipv4Addr, prefix: u8, mtu: u16) -> io::Result<Self> {
        let device =
            tun_rs::DeviceBuilder::new().name(name).ipv4(address, prefix, None).mtu(mtu).build_sync()?;
        device.set_nonblocking(true)?;
        Ok(Self { device, name: name.to_owned(), clamp_mtu: None })
    }

    /// The device's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Clamp the MSS of TCP SYNs in both directions to fit a tunnel MTU of `mtu`
    /// (`None`: leave SYNs alone).
    pub fn set_clamp(&mut self, mtu: Option<u16>) {
        self.clamp_mtu = mtu;
    }

    /// Writes an IP packet from the tunnel into the kernel (MSS clamped with `mtu`).
    pub fn write_packet(&self, packet: &mut [u8], mtu: Option<u16>) -> io::Result<()> {
        if let Some(m) = mtu.or(self.clamp_mtu) {
            crate::mtu::clamp_mss(packet, crate::mtu::mss_for_mtu(m));
        }
        match self.device.send(packet) {
            Ok(_) => Ok(()),
            // A full queue drops the packet, like any router would.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads the next IP packet the kernel routed into the device, if any.
    pub fn read_packet(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.device.recv(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl PacketSink for TunDevice {
    fn configure(&mut self, address: Ipv4Addr, peer: Ipv4Addr, mtu: u16) -> io::Result<()> {
        self.device.set_network_address(address, 32u8, Some(peer))?;
        self.device.set_mtu(mtu)?;
        self.device.enabled(true)?;
        if self.clamp_mtu.is_some() {
            self.clamp_mtu = Some(mtu);
        }
        Ok(())
    }

    fn deliver(&mut self, packet: &[u8]) -> io::Result<()> {
        let mut p = packet.to_vec();
        self.write_packet(&mut p, None)
    }

    fn receive(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let n = self.read_packet(buf)?;
        if let (Some(n), Some(m)) = (n, self.clamp_mtu) {
            crate::mtu::clamp_mss(&mut buf[..n], crate::mtu::mss_for_mtu(m));
        }
        Ok(n)
    }
}

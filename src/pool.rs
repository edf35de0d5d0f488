//! IPv4 address pool for the tunnel addresses the server hands out over IPCP.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Addresses of one IPv4 subnet, handed out one per session and returned when it ends.
///
/// The network and broadcast addresses and any reserved address (the server's own tunnel
/// address) are never handed out. Allocation takes the lowest free address, so a
/// returning client often gets the address it had.
#[derive(Debug, Clone)]
pub struct AddressPool {
    network: u32,
    prefix: u8,
    reserved: BTreeSet<u32>,
    in_use: BTreeSet<u32>,
}

/// Why an address pool could not be built or an address not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The prefix is longer than 30 bits: no room for hosts.
    #[error("prefix /{0} leaves no host addresses")]
    TooSmall(u8),
    /// The address is outside the pool's subnet, reserved, or already in use.
    #[error("address {0} is not available in this pool")]
    Unavailable(Ipv4Addr),
}

impl AddressPool {
    /// A pool of the hosts of `network/prefix` (e.g. 192.0.2.0/24 gives .1 to .254).
    pub fn new(network: Ipv4Addr, prefix: u8) -> Result<Self, PoolError> {
        if prefix > 30 {
            return Err(PoolError::TooSmall(prefix));
        }
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        Ok(Self {
            network: u32::from(network) & mask,
            prefix,
            reserved: BTreeSet::new(),
            in_use: BTreeSet::new(),
        })
    }

    /// Parses `a.b.c.d/n`.
    pub fn parse_cidr(cidr: &str) -> Option<Result<Self, PoolError>> {
        let (addr, prefix) = cidr.split_once('/')?;
        Some(Self::new(addr.parse().ok()?, prefix.parse().ok()?))
    }

    fn first(&self) -> u32 {
        self.network + 1
    }

    /// The prefix length of the pool's subnet.
    #[must_use]
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The first host address (e.g. .1 of a /24): the usual server tunnel address.
    #[must_use]
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first())
    }

    fn last_host(&self) -> u32 {
        self.network + (u32::MAX >> self.prefix) - 1
    }

    /// True if `addr` is a host address of the subnet.
    #[must_use]
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        (self.first()..=self.last_host()).contains(&u32::from(addr))
    }

    /// Never hand out `addr` (e.g. the server's own tunnel address).
    pub fn reserve(&mut self, addr: Ipv4Addr) {
        self.reserved.insert(u32::from(addr));
    }

    /// Takes the lowest free address, or `None` when the pool is exhausted.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        // The first host that is neither in use nor reserved: O(k log n) for the k taken
        // addresses at the bottom of the range.
        let mut candidate = self.first();
        while candidate <= self.last_host()
            && (self.in_use.contains(&candidate) || self.reserved.contains(&candidate))
        {
            candidate += 1;
        }
        if candidate > self.last_host() {
            return None;
        }
        self.in_use.insert(candidate);
        Some(Ipv4Addr::from(candidate))
    }

    /// Takes a specific address (one a RADIUS server assigned, say).
    pub fn take(&mut self, addr: Ipv4Addr) -> Result<(), PoolError> {
        let a = u32::from(addr);
        if !self.contains(addr) || self.reserved.contains(&a) || !self.in_use.insert(a) {
            return Err(PoolError::Unavailable(addr));
        }
        Ok(())
    }

    /// Returns an address to the pool; returns false if it was not in use.
    pub fn release(&mut self, addr: Ipv4Addr) -> bool {
        self.in_use.remove(&u32::from(addr))
    }

    /// Number of addresses handed out.
    #[must_use]
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_hosts_in_order_skipping_reserved_and_reuses_released() {
        let mut p = AddressPool::parse_cidr("192.0.2.0/29").unwrap().unwrap();
        p.reserve(Ipv4Addr::new(192, 0, 2, 1));
        let got: Vec<_> = std::iter::from_fn(|| p.allocate()).collect();
        assert_eq!(got, (2..=6).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect::<Vec<_>>());
        assert_eq!(p.in_use(), 5);
        assert!(p.release(Ipv4Addr::new(192, 0, 2, 4)));
        assert!(!p.release(Ipv4Addr::new(192, 0, 2, 4)));
        assert_eq!(p.allocate(), Some(Ipv4Addr::new(192, 0, 2, 4)));
        assert_eq!(p.allocate(), None);
    }

    #[test]
    fn take_checks_range_reservation_and_use() {
        let mut p = AddressPool::new(Ipv4Addr::new(10, 1, 2, 99), 24).unwrap();
        p.reserve(Ipv4Addr::new(10, 1, 2, 1));
        assert_eq!(
            p.take(Ipv4Addr::new(10, 1, 2, 1)),
            Err(PoolError::Unavailable(Ipv4Addr::new(10, 1, 2, 1)))
        );
        assert_eq!(
            p.take(Ipv4Addr::new(10, 1, 2, 255)),
            Err(PoolError::Unavailable(Ipv4Addr::new(10, 1, 2, 255)))
        );
        assert_eq!(
            p.take(Ipv4Addr::new(10, 1, 3, 5)),
            Err(PoolError::Unavailable(Ipv4Addr::new(10, 1, 3, 5)))
        );
        assert_eq!(p.take(Ipv4Addr::new(10, 1, 2, 2)), Ok(()));
        assert!(p.take(Ipv4Addr::new(10, 1, 2, 2)).is_err());
        assert_eq!(p.allocate(), Some(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(AddressPool::new(Ipv4Addr::new(10, 0, 0, 0), 31).is_err());
        assert!(AddressPool::parse_cidr("10.0.0.0").is_none());
    }
}

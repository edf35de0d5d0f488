//! The inbound SA table: finds the SA of a received ESP packet by its SPI.
//!
//! One endpoint serves many peers, including many behind one NAT address, so inbound SAs
//! are keyed by SPI alone (RFC 4301 §4.1: for unicast SAs the SPI suffices). The SPIs are
//! chosen locally, at random, so the table stays evenly spread whoever the peers are.

use std::collections::HashMap;

use rand_core::CryptoRng;

use crate::Error;
use crate::sa::{Decapsulated, InboundSa, peek_spi};

/// Inbound SAs by SPI.
#[derive(Debug, Default)]
pub struct SaTable {
    sas: HashMap<u32, InboundSa>,
}

impl SaTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Picks a random SPI (≥ 256) that no SA in the table uses. Reserve it by inserting the
    /// SA before picking again.
    pub fn allocate_spi<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> u32 {
        loop {
            let spi = rng.next_u32();
            if spi >= 256 && !self.sas.contains_key(&spi) {
                return spi;
            }
        }
    }

    /// Adds an SA; fails if its SPI is taken.
    pub fn insert(&mut self, sa: InboundSa) -> Result<(), Error> {
        let spi = sa.spi();
        if self.sas.contains_key(&spi) {
            return Err(Error::DuplicateSpi(spi));
        }
        self.sas.insert(spi, sa);
        Ok(())
    }

    /// Removes and returns the SA with this SPI.
    pub fn remove(&mut self, spi: u32) -> Option<InboundSa> {
        self.sas.remove(&spi)
    }

    /// The SA with this SPI.
    #[must_use]
    pub fn get(&self, spi: u32) -> Option<&InboundSa> {
        self.sas.get(&spi)
    }

    /// The SA with this SPI, mutably.
    pub fn get_mut(&mut self, spi: u32) -> Option<&mut InboundSa> {
        self.sas.get_mut(&spi)
    }

    /// Number of SAs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sas.len()
    }

    /// True when the table holds no SA.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    /// Finds the SA for the ESP packet by its SPI and decapsulates the packet in place.
    /// Returns the SPI with the result so the caller knows which peer sent it.
    pub fn decapsulate<'b>(&mut self, packet: &'b mut [u8]) -> Result<(u32, Decapsulated<'b>), Error> {
        let spi = peek_spi(packet)?;
        let sa = self.sas.get_mut(&spi).ok_or(Error::UnknownSpi(spi))?;
        Ok((spi, sa.decapsulate(packet)?))
    }

    /// Iterates over the SAs.
    pub fn iter(&self) -> impl Iterator<Item = &InboundSa> {
        self.sas.values()
    }
}

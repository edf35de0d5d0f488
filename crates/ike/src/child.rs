//! The description of a negotiated ESP SA pair ("Child SA", IKEv1 "IPsec SA").
//!
//! This is what a finished Quick Mode (or, later, an IKEv2 CREATE_CHILD_SA / IKE_AUTH)
//! hands to its owner. It carries everything the ESP data plane needs and nothing about
//! how it was negotiated, so turning it into `l2sec-esp` SA parameters is one function.
//!
//! Directions are from the local endpoint's point of view: *inbound* is what the peer
//! sends to us (our SPI, the peer's keys), *outbound* is what we send (the peer's SPI).

use core::fmt;
use std::time::Duration;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// ESP encryption transform, by IANA number (RFC 2407 §4.4.4 IPSEC ESP Transform
/// Identifiers; the same numbers as IKEv2 Transform Type 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EspEncryption {
    /// ESP_3DES (3), 24-byte key.
    TripleDesCbc,
    /// ESP_AES-CBC (12, RFC 3602) with a 16, 24 or 32 byte key.
    AesCbc {
        /// Key length in bytes (16, 24, 32).
        key_len: usize,
    },
    /// ESP_AES-GCM with a 16-byte ICV (20, RFC 4106); the key includes the 4-byte salt.
    AesGcm16 {
        /// AES key length in bytes, without the salt (16, 24, 32).
        key_len: usize,
    },
    /// ESP_NULL (11): no encryption (RFC 2410).
    Null,
}

impl EspEncryption {
    /// The IANA transform number.
    #[must_use]
    pub const fn transform_id(self) -> u16 {
        match self {
            Self::TripleDesCbc => 3,
            Self::AesCbc { .. } => 12,
            Self::AesGcm16 { .. } => 20,
            Self::Null => 11,
        }
    }

    /// RFC 2407 §4.4.4 ESP transform ID with the Key Length attribute (bits) of an IKEv1
    /// Quick Mode transform (RFC 3602 §5.1: AES-CBC defaults to 128 bits when absent;
    /// RFC 4106 §8.4: AES-GCM needs it).
    #[must_use]
    pub const fn from_ikev1(transform_id: u8, key_bits: Option<u16>) -> Option<Self> {
        let key_len = match key_bits {
            None => None,
            Some(128) => Some(16),
            Some(192) => Some(24),
            Some(256) => Some(32),
            Some(_) => return None,
        };
        match (transform_id, key_len) {
            (3, None) => Some(Self::TripleDesCbc),
            (11, None) => Some(Self::Null),
            (12, None) => Some(Self::AesCbc { key_len: 16 }),
            (12, Some(key_len)) => Some(Self::AesCbc { key_len }),
            (20, Some(key_len)) => Some(Self::AesGcm16 { key_len }),
            _ => None,
        }
    }

    /// Bytes of KEYMAT the transform consumes (RFC 4106 §8.1: AES-GCM adds a 4-byte salt).
    #[must_use]
    pub const fn keymat_len(self) -> usize {
        match self {
            Self::TripleDesCbc => 24,
            Self::AesCbc { key_len } => key_len,
            Self::AesGcm16 { key_len } => key_len + 4,
            Self::Null => 0,
        }
    }
}

/// ESP integrity transform, by IKEv1 Authentication Algorithm attribute value
/// (RFC 2407 §4.5; RFC 4868 §2.4 for SHA-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EspIntegrity {
    /// HMAC-MD5-96 (1, RFC 2403), 16-byte key.
    HmacMd5_96,
    /// HMAC-SHA1-96 (2, RFC 2404), 20-byte key.
    HmacSha1_96,
    /// HMAC-SHA2-256-128 (5, RFC 4868), 32-byte key.
    HmacSha256_128,
    /// HMAC-SHA2-384-192 (6, RFC 4868), 48-byte key.
    HmacSha384_192,
    /// HMAC-SHA2-512-256 (7, RFC 4868), 64-byte key.
    HmacSha512_256,
    /// No separate integrity (combined-mode cipher such as AES-GCM).
    None,
}

impl EspIntegrity {
    /// The IKEv1 Authentication Algorithm attribute value (0 for none).
    #[must_use]
    pub const fn ikev1_id(self) -> u16 {
        match self {
            Self::HmacMd5_96 => 1,
            Self::HmacSha1_96 => 2,
            Self::HmacSha256_128 => 5,
            Self::HmacSha384_192 => 6,
            Self::HmacSha512_256 => 7,
            Self::None => 0,
        }
    }

    /// The transform for an IKEv1 Authentication Algorithm attribute value (absent
    /// attribute: none, for combined-mode ciphers).
    #[must_use]
    pub const fn from_ikev1(id: Option<u16>) -> Option<Self> {
        match id {
            None => Some(Self::None),
            Some(1) => Some(Self::HmacMd5_96),
            Some(2) => Some(Self::HmacSha1_96),
            Some(5) => Some(Self::HmacSha256_128),
            Some(6) => Some(Self::HmacSha384_192),
            Some(7) => Some(Self::HmacSha512_256),
            Some(_) => None,
        }
    }

    /// Bytes of KEYMAT the transform consumes.
    #[must_use]
    pub const fn keymat_len(self) -> usize {
        match self {
            Self::HmacMd5_96 => 16,
            Self::HmacSha1_96 => 20,
            Self::HmacSha256_128 => 32,
            Self::HmacSha384_192 => 48,
            Self::HmacSha512_256 => 64,
            Self::None => 0,
        }
    }
}

/// ESP mode (RFC 4301 §4.1; IKEv1 Encapsulation Mode attribute, RFC 2407 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EspMode {
    /// Tunnel mode: a whole inner IP packet is protected.
    Tunnel,
    /// Transport mode: the upper-layer payload is protected (L2TP/IPsec uses this).
    Transport,
}

/// How ESP packets travel (RFC 3948: UDP encapsulation after NAT detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EspEncapsulation {
    /// Plain ESP, IP protocol 50.
    None,
    /// ESP in UDP (RFC 3948) between the given ports (normally 4500 ↔ 4500).
    Udp {
        /// Our UDP port.
        local_port: u16,
        /// The peer's UDP port.
        remote_port: u16,
    },
}

/// Lifetime limits of an SA; `None` means no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Lifetime {
    /// Expire after this long.
    pub time: Option<Duration>,
    /// Expire after this many bytes (RFC 2407 §4.5 SA Life Type kilobytes × 1024).
    pub bytes: Option<u64>,
}

/// Keys for one direction of an ESP SA. Wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct EspKeys {
    /// Encryption key (for AES-GCM: key followed by the 4-byte salt).
    pub encryption: Vec<u8>,
    /// Integrity key (empty for combined-mode ciphers).
    pub integrity: Vec<u8>,
}

impl fmt::Debug for EspKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EspKeys")
            .field("encryption_len", &self.encryption.len())
            .field("integrity_len", &self.integrity.len())
            .finish_non_exhaustive()
    }
}

impl EspKeys {
    /// Splits one direction's KEYMAT: RFC 2409 §5.5 / RFC 7296 §2.17, encryption key
    /// first, then the integrity key.
    #[must_use]
    pub fn from_keymat(keymat: &[u8], encryption: EspEncryption, integrity: EspIntegrity) -> Option<Self> {
        let e = encryption.keymat_len();
        let i = integrity.keymat_len();
        if keymat.len() < e + i {
            return None;
        }
        Some(Self { encryption: keymat[..e].to_vec(), integrity: keymat[e..e + i].to_vec() })
    }
}

/// A negotiated pair of ESP SAs, ready to be installed in the data plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSa {
    /// SPI of the inbound SA (chosen by us, sent to the peer).
    pub spi_in: u32,
    /// SPI of the outbound SA (chosen by the peer).
    pub spi_out: u32,
    /// Encryption transform.
    pub encryption: EspEncryption,
    /// Integrity transform.
    pub integrity: EspIntegrity,
    /// Keys protecting what we receive.
    pub keys_in: EspKeys,
    /// Keys protecting what we send.
    pub keys_out: EspKeys,
    /// Tunnel or transport.
    pub mode: EspMode,
    /// Plain ESP or ESP-in-UDP.
    pub encapsulation: EspEncapsulation,
    /// Extended (64-bit) sequence numbers negotiated (RFC 4304).
    pub extended_sequence_numbers: bool,
    /// Hard lifetime: the SA must be removed when reached.
    pub hard_lifetime: Lifetime,
    /// Soft lifetime: rekeying should start when reached.
    pub soft_lifetime: Lifetime,
}

impl ChildSa {
    /// The `l2sec-esp` parameters of the two SAs: `(inbound, outbound)`. Byte lifetimes
    /// become ESP limits; time lifetimes stay with the key exchange, which owns the clock.
    /// HMAC-MD5-96 (legacy, negotiable for old peers) has no ESP implementation here.
    pub fn esp_params(&self) -> Result<(l2sec_esp::SaParams, l2sec_esp::SaParams), l2sec_esp::Error> {
        use l2sec_esp::{Encryption, Integrity, Limits, Mode, SaParams};
        let encryption = match self.encryption {
            EspEncryption::TripleDesCbc => Encryption::TripleDesCbc,
            EspEncryption::AesCbc { .. } => Encryption::AesCbc,
            EspEncryption::AesGcm16 { .. } => Encryption::AesGcm16,
            EspEncryption::Null => Encryption::Null,
        };
        let integrity = match self.integrity {
            EspIntegrity::HmacMd5_96 => {
                return Err(l2sec_esp::Error::Config("HMAC-MD5-96 is not supported for ESP"));
            }
            EspIntegrity::HmacSha1_96 => Integrity::HmacSha1_96,
            EspIntegrity::HmacSha256_128 => Integrity::HmacSha256_128,
            EspIntegrity::HmacSha384_192 => Integrity::HmacSha384_192,
            EspIntegrity::HmacSha512_256 => Integrity::HmacSha512_256,
            EspIntegrity::None => Integrity::None,
        };
        let mode = match self.mode {
            EspMode::Tunnel => Mode::Tunnel,
            EspMode::Transport => Mode::Transport,
        };
        let make = |spi: u32, keys: &EspKeys| {
            let mut p = SaParams::new(spi, mode, encryption, integrity, &keys.encryption, &keys.integrity);
            p.esn = self.extended_sequence_numbers;
            p.lifetime.soft = Limits { packets: None, bytes: self.soft_lifetime.bytes };
            p.lifetime.hard = Limits { packets: None, bytes: self.hard_lifetime.bytes };
            p
        };
        Ok((make(self.spi_in, &self.keys_in), make(self.spi_out, &self.keys_out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ikev1_transform_mapping_and_keymat_split() {
        assert_eq!(EspEncryption::from_ikev1(12, Some(256)), Some(EspEncryption::AesCbc { key_len: 32 }));
        assert_eq!(EspEncryption::from_ikev1(12, None), Some(EspEncryption::AesCbc { key_len: 16 }));
        assert_eq!(EspEncryption::from_ikev1(20, None), None);
        assert_eq!(EspEncryption::from_ikev1(12, Some(100)), None);
        assert_eq!(EspEncryption::from_ikev1(20, Some(128)).map(EspEncryption::keymat_len), Some(20));
        assert_eq!(EspIntegrity::from_ikev1(Some(2)), Some(EspIntegrity::HmacSha1_96));
        assert_eq!(EspIntegrity::from_ikev1(Some(3)), None);
        for i in [1u16, 2, 5, 6, 7] {
            assert_eq!(EspIntegrity::from_ikev1(Some(i)).map(EspIntegrity::ikev1_id), Some(i));
        }
        let keymat: Vec<u8> = (0..40).collect();
        let k =
            EspKeys::from_keymat(&keymat, EspEncryption::AesCbc { key_len: 16 }, EspIntegrity::HmacSha1_96)
                .unwrap();
        assert_eq!(k.encryption, (0..16).collect::<Vec<u8>>());
        assert_eq!(k.integrity, (16..36).collect::<Vec<u8>>());
        assert!(
            EspKeys::from_keymat(
                &keymat[..35],
                EspEncryption::AesCbc { key_len: 16 },
                EspIntegrity::HmacSha1_96
            )
            .is_none()
        );
        assert!(!format!("{k:?}").contains("[0, 1"));
    }
}

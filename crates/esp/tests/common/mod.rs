//! Shared fixtures: one SA description per supported transform.
#![allow(dead_code)]

use l2sec_esp::{Encryption, Integrity, Mode, Provider, SaParams};

/// (name, encryption, integrity, encryption key length incl. salt, integrity key length)
pub const SUITES: &[(&str, Encryption, Integrity, usize)] = &[
    ("aes128-cbc/sha1-96", Encryption::AesCbc, Integrity::HmacSha1_96, 16),
    ("aes192-cbc/sha256-128", Encryption::AesCbc, Integrity::HmacSha256_128, 24),
    ("aes256-cbc/sha256-128", Encryption::AesCbc, Integrity::HmacSha256_128, 32),
    ("aes256-cbc/sha256-96", Encryption::AesCbc, Integrity::HmacSha256_96, 32),
    ("aes256-cbc/sha384-192", Encryption::AesCbc, Integrity::HmacSha384_192, 32),
    ("aes128-cbc/sha512-256", Encryption::AesCbc, Integrity::HmacSha512_256, 16),
    ("3des-cbc/sha1-96", Encryption::TripleDesCbc, Integrity::HmacSha1_96, 24),
    ("null/sha1-96", Encryption::Null, Integrity::HmacSha1_96, 0),
    ("null/sha256-128", Encryption::Null, Integrity::HmacSha256_128, 0),
    ("aes128-gcm16", Encryption::AesGcm16, Integrity::None, 20),
    ("aes192-gcm16", Encryption::AesGcm16, Integrity::None, 28),
    ("aes256-gcm16", Encryption::AesGcm16, Integrity::None, 36),
];

pub fn providers() -> Vec<Provider> {
    let mut v = vec![Provider::RUSTCRYPTO];
    #[cfg(feature = "ring")]
    v.push(Provider::RING);
    v
}

pub fn params(suite: usize, mode: Mode, esn: bool) -> SaParams {
    let (_, enc, integ, enc_len) = SUITES[suite];
    let enc_key: Vec<u8> = (0..enc_len as u8).map(|i| i.wrapping_mul(7).wrapping_add(1)).collect();
    let integ_key: Vec<u8> = (0..integ.key_len() as u8).map(|i| i.wrapping_mul(13).wrapping_add(5)).collect();
    let mut p = SaParams::new(0x0bad_cafe, mode, enc, integ, &enc_key, &integ_key);
    p.esn = esn;
    p
}

/// A minimal IPv4/UDP packet with `payload`, valid lengths, zero checksums.
pub fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let sum = l2sec_esp::natt::internet_checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&[0x06, 0xa5, 0x06, 0xa5]);
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// A minimal IPv6/UDP packet with `payload`.
pub fn ipv6_udp(payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[17, 64]);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(&[0x06, 0xa5, 0x06, 0xa5]);
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

//! Wireshark decryption tables for ESP SAs, so that a capture of any session can be
//! decrypted and authenticated in Wireshark or tshark.
//!
//! Wireshark reads ESP keys from the `esp_sa` file (a UAT table) in its configuration
//! directory; [`esp_sa_line`] formats one SA as a line of that file, in the column layout
//! and algorithm names of Wireshark 4.0. Turn decryption on with the preferences
//! `esp.enable_encryption_decode: TRUE` and `esp.enable_authentication_check: TRUE`.

use core::fmt::Write;
use core::net::IpAddr;

use crate::{Encryption, Integrity, SaParams};

/// Wireshark's name for an encryption algorithm.
fn encryption_name(e: Encryption) -> &'static str {
    match e {
        Encryption::Null => "NULL",
        Encryption::AesCbc => "AES-CBC [RFC3602]",
        Encryption::TripleDesCbc => "TripleDES-CBC [RFC2451]",
        Encryption::AesGcm16 => "AES-GCM with 16 octet ICV [RFC4106]",
    }
}

/// Wireshark's name for an integrity algorithm.
fn integrity_name(i: Integrity) -> &'static str {
    match i {
        Integrity::None => "NULL",
        Integrity::HmacSha1_96 => "HMAC-SHA-1-96 [RFC2404]",
        Integrity::HmacSha256_128 => "HMAC-SHA-256-128 [RFC4868]",
        Integrity::HmacSha256_96 => "HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]",
        Integrity::HmacSha384_192 => "HMAC-SHA-384-192 [RFC4868]",
        Integrity::HmacSha512_256 => "HMAC-SHA-512-256 [RFC4868]",
    }
}

fn hex_key(out: &mut String, key: &[u8]) {
    if !key.is_empty() {
        out.push_str("0x");
        for b in key {
            let _ = write!(out, "{b:02x}");
        }
    }
}

/// One line of Wireshark's `esp_sa` table for the SA (no trailing newline). `src` and
/// `dst` are the SA's outer addresses; `None` matches any address, which keeps the line
/// valid when a NAT rewrites them.
///
/// The line contains the SA's keys in clear text: write it only where the user asked for
/// a key log.
#[must_use]
pub fn esp_sa_line(params: &SaParams, src: Option<IpAddr>, dst: Option<IpAddr>) -> String {
    let v6 = matches!(src, Some(IpAddr::V6(_))) || matches!(dst, Some(IpAddr::V6(_)));
    let addr = |a: Option<IpAddr>| a.map_or_else(|| "*".to_owned(), |a| a.to_string());
    let mut line = format!(
        "\"{}\",\"{}\",\"{}\",\"{:#010x}\",\"{}\",\"",
        if v6 { "IPv6" } else { "IPv4" },
        addr(src),
        addr(dst),
        params.spi,
        encryption_name(params.encryption)
    );
    hex_key(&mut line, &params.encryption_key);
    let _ = write!(line, "\",\"{}\",\"", integrity_name(params.integrity));
    hex_key(&mut line, &params.integrity_key);
    line.push('"');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    #[test]
    fn formats_a_line_like_wireshark_writes_it() {
        let p = SaParams::new(
            0xd431_7b60,
            Mode::Tunnel,
            Encryption::AesCbc,
            Integrity::HmacSha1_96,
            &[0xc2; 16],
            &[0x8a; 20],
        );
        assert_eq!(
            esp_sa_line(&p, None, None),
            format!(
                "\"IPv4\",\"*\",\"*\",\"0xd4317b60\",\"AES-CBC [RFC3602]\",\"0x{}\",\"HMAC-SHA-1-96 [RFC2404]\",\"0x{}\"",
                "c2".repeat(16),
                "8a".repeat(20)
            )
        );
        let g = SaParams::new(0x300, Mode::Transport, Encryption::AesGcm16, Integrity::None, &[1; 20], &[]);
        let line = esp_sa_line(&g, Some("2001:db8::1".parse().unwrap()), None);
        assert!(line.starts_with(
            "\"IPv6\",\"2001:db8::1\",\"*\",\"0x00000300\",\"AES-GCM with 16 octet ICV [RFC4106]\""
        ));
        assert!(line.ends_with("\"NULL\",\"\""), "{line}");
    }
}

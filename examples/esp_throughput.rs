//! Pushes packets through a pair of ESP SAs (sender and receiver, in one process) and
//! prints the throughput of each transform.
//!
//! `cargo run --release --example esp_throughput [-- PAYLOAD_BYTES [SECONDS]]`
//!
//! Each packet is sealed by an `OutboundSa` and opened by the matching `InboundSa` in the
//! same buffer, as a VPN endpoint does with the datagrams it sends and receives; the
//! figure counts payload bytes that made the whole round trip.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use l2sec::esp::{Encryption, InboundSa, Integrity, Mode, OutboundSa, Provider, SaParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let payload: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1400);
    let seconds: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(0.5);

    // RustCrypto, and ring too when the `ring` feature makes it the default.
    let mut providers = vec![Provider::RUSTCRYPTO, Provider::default()];
    providers.dedup_by_key(|p| p.name);

    println!("ESP round trips (seal + open) of {payload}-byte payloads, {seconds} s per transform");
    println!("{:<44} {:>12} {:>10} {:>12}", "transform", "packets/s", "Gbit/s", "ns/packet");
    let suites: [(&str, Encryption, Integrity, usize); 5] = [
        ("aes128-gcm16", Encryption::AesGcm16, Integrity::None, 20),
        ("aes256-gcm16", Encryption::AesGcm16, Integrity::None, 36),
        ("aes128-cbc + hmac-sha1-96", Encryption::AesCbc, Integrity::HmacSha1_96, 16),
        ("aes256-cbc + hmac-sha2-256-128", Encryption::AesCbc, Integrity::HmacSha256_128, 32),
        ("3des-cbc + hmac-sha1-96", Encryption::TripleDesCbc, Integrity::HmacSha1_96, 24),
    ];
    for provider in &providers {
        for (name, enc, integ, key_len) in suites {
            if provider.name != "rustcrypto" && enc != Encryption::AesGcm16 {
                continue; // other providers differ only in AES-GCM
            }
            let params = SaParams::new(
                0x0001_0001,
                Mode::Transport,
                enc,
                integ,
                &vec![0x11; key_len],
                &vec![0x22; integ.key_len()],
            );
            let mut tx = OutboundSa::with_provider(&params, provider)?;
            let mut rx = InboundSa::with_provider(&params, provider)?;
            let head = tx.headroom();
            let mut buf = vec![0u8; head + payload + tx.tailroom()];
            let mut packets = 0u64;
            let start = Instant::now();
            let budget = Duration::from_secs_f64(seconds);
            while start.elapsed() < budget {
                for _ in 0..256 {
                    // A fake UDP payload that varies per packet.
                    buf[head..head + 8].copy_from_slice(&packets.to_be_bytes());
                    let sealed = tx.encapsulate(&mut buf, head..head + payload, 99)?;
                    let opened = rx.decapsulate(sealed)?;
                    assert_eq!(opened.payload.len(), payload);
                    packets += 1;
                }
            }
            let secs = start.elapsed().as_secs_f64();
            let pps = packets as f64 / secs;
            println!(
                "{:<44} {:>12.0} {:>10.2} {:>12.0}",
                format!("{name} ({})", provider.name),
                pps,
                pps * payload as f64 * 8.0 / 1e9,
                1e9 / pps
            );
        }
    }
    Ok(())
}

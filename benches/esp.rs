//! ESP encapsulate/decapsulate throughput, next to the raw cipher it is built on.
//!
//! `cargo bench --features ring --bench esp` runs criterion over 64, 512, 1400 and 8192-byte
//! payloads for AES-128-GCM (RustCrypto and ring), AES-128-CBC + HMAC-SHA1-96 and
//! AES-256-CBC + HMAC-SHA2-256-128, then prints a summary measured in the same run: the raw
//! primitive's throughput (the same cipher and MAC over the same bytes, with no ESP around
//! it) and the ratio ESP/raw. `-- summary` (a filter no criterion bench matches) prints only
//! that table. The goal is at most 10% ESP overhead at 1400 bytes, and the
//! ring AES-GCM path at least 1.5x the default one.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aead::{AeadInOut, KeyInit};
use cipher::{BlockModeDecrypt, BlockModeEncrypt};
use criterion::{BenchmarkId, Criterion, Throughput};
use hmac::Mac;
use l2sec::esp::{Encryption, InboundSa, Integrity, Mode, OutboundSa, Provider, SaParams};

const SIZES: [usize; 4] = [64, 512, 1400, 8192];

#[derive(Clone, Copy)]
struct Suite {
    name: &'static str,
    provider: Option<Provider>,
    encryption: Encryption,
    integrity: Integrity,
    enc_key_len: usize,
    raw: Raw,
}

#[derive(Clone, Copy)]
enum Raw {
    GcmRustCrypto,
    GcmRing,
    Cbc128Sha1,
    Cbc256Sha256,
}

fn suites() -> Vec<Suite> {
    let ring = {
        #[cfg(feature = "ring")]
        {
            Some(Provider::RING)
        }
        #[cfg(not(feature = "ring"))]
        {
            None
        }
    };
    vec![
        Suite {
            name: "aes128gcm16-rustcrypto",
            provider: Some(Provider::RUSTCRYPTO),
            encryption: Encryption::AesGcm16,
            integrity: Integrity::None,
            enc_key_len: 20,
            raw: Raw::GcmRustCrypto,
        },
        Suite {
            name: "aes128gcm16-ring",
            provider: ring,
            encryption: Encryption::AesGcm16,
            integrity: Integrity::None,
            enc_key_len: 20,
            raw: Raw::GcmRing,
        },
        Suite {
            name: "aes128cbc-sha1_96",
            provider: Some(Provider::RUSTCRYPTO),
            encryption: Encryption::AesCbc,
            integrity: Integrity::HmacSha1_96,
            enc_key_len: 16,
            raw: Raw::Cbc128Sha1,
        },
        Suite {
            name: "aes256cbc-sha256_128",
            provider: Some(Provider::RUSTCRYPTO),
            encryption: Encryption::AesCbc,
            integrity: Integrity::HmacSha256_128,
            enc_key_len: 32,
            raw: Raw::Cbc256Sha256,
        },
    ]
}

fn params(s: &Suite) -> SaParams {
    let mut p = SaParams::new(
        0x1234_5678,
        Mode::Transport,
        s.encryption,
        s.integrity,
        &vec![0x42; s.enc_key_len],
        &vec![0x24; s.integrity.key_len()],
    );
    p.replay_window = 0; // decapsulation benches reopen the same packet
    p
}

/// One ESP direction, ready to run once per call on a fixed buffer.
struct EspPath {
    tx: OutboundSa,
    rx: InboundSa,
    buf: Vec<u8>,
    sealed: Vec<u8>,
    head: usize,
    len: usize,
}

impl EspPath {
    fn new(s: &Suite, provider: &Provider, len: usize) -> Self {
        let p = params(s);
        let mut tx = OutboundSa::with_provider(&p, provider).unwrap();
        let rx = InboundSa::with_provider(&p, provider).unwrap();
        let head = tx.headroom();
        let mut buf = vec![0x5a; head + len + tx.tailroom()];
        let sealed = tx.encapsulate(&mut buf, head..head + len, 99).unwrap().to_vec();
        Self { tx, rx, buf, sealed, head, len }
    }

    fn encapsulate(&mut self) {
        let pkt = self.tx.encapsulate(&mut self.buf, self.head..self.head + self.len, 99).unwrap();
        black_box(pkt);
    }

    fn decapsulate(&mut self) {
        let n = self.sealed.len();
        self.buf[..n].copy_from_slice(&self.sealed);
        let d = self.rx.decapsulate(&mut self.buf[..n]).unwrap();
        black_box(d.payload);
    }
}

/// The bare primitive over the same bytes: what ESP cannot be faster than.
struct RawPath {
    kind: Raw,
    buf: Vec<u8>,
    sealed: Vec<u8>,
    tag: [u8; 32],
    /// The tag of `sealed` (later seals overwrite `tag`).
    sealed_tag: [u8; 32],
    len: usize,
    gcm: aes_gcm::Aes128Gcm,
    ring: ring::aead::LessSafeKey,
    cbc128: aes::Aes128,
    cbc256: aes::Aes256,
    sha1: hmac::Hmac<sha1::Sha1>,
    sha256: hmac::Hmac<sha2::Sha256>,
}

impl RawPath {
    fn new(kind: Raw, payload_len: usize) -> Self {
        // The same body length ESP encrypts: payload + trailer, padded to the block.
        let block = if matches!(kind, Raw::GcmRustCrypto | Raw::GcmRing) { 4 } else { 16 };
        let len = (payload_len + 2).next_multiple_of(block);
        let mut r = Self {
            kind,
            buf: vec![0x5a; len + 16],
            sealed: Vec::new(),
            tag: [0; 32],
            sealed_tag: [0; 32],
            len,
            gcm: aes_gcm::Aes128Gcm::new_from_slice(&[0x42; 16]).unwrap(),
            ring: ring::aead::LessSafeKey::new(
                ring::aead::UnboundKey::new(&ring::aead::AES_128_GCM, &[0x42; 16]).unwrap(),
            ),
            cbc128: aes::Aes128::new_from_slice(&[0x42; 16]).unwrap(),
            cbc256: aes::Aes256::new_from_slice(&[0x42; 32]).unwrap(),
            sha1: <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&[0x24; 20]).unwrap(),
            sha256: <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&[0x24; 32]).unwrap(),
        };
        r.seal();
        r.sealed = r.buf.clone();
        r.sealed_tag = r.tag;
        r
    }

    fn seal(&mut self) {
        let aad = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1];
        let nonce = [7u8; 12];
        let body = &mut self.buf[..self.len];
        match self.kind {
            Raw::GcmRustCrypto => {
                let t = self.gcm.encrypt_inout_detached(&nonce.into(), &aad, body.into()).unwrap();
                self.tag[..16].copy_from_slice(&t);
            }
            Raw::GcmRing => {
                let n = ring::aead::Nonce::assume_unique_for_key(nonce);
                let t = self.ring.seal_in_place_separate_tag(n, ring::aead::Aad::from(&aad), body).unwrap();
                self.tag[..16].copy_from_slice(t.as_ref());
            }
            Raw::Cbc128Sha1 => {
                cbc::Encryptor::<aes::Aes128>::inner_iv_init(self.cbc128.clone(), &[9u8; 16].into())
                    .encrypt_padded::<cipher::block_padding::NoPadding>(body, self.len)
                    .unwrap();
                let mut m = self.sha1.clone();
                m.update(&self.buf[..self.len]);
                self.tag[..20].copy_from_slice(&m.finalize().into_bytes());
            }
            Raw::Cbc256Sha256 => {
                cbc::Encryptor::<aes::Aes256>::inner_iv_init(self.cbc256.clone(), &[9u8; 16].into())
                    .encrypt_padded::<cipher::block_padding::NoPadding>(body, self.len)
                    .unwrap();
                let mut m = self.sha256.clone();
                m.update(&self.buf[..self.len]);
                self.tag[..32].copy_from_slice(&m.finalize().into_bytes());
            }
        }
        black_box(&self.tag);
    }

    fn open(&mut self) {
        let aad = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1];
        let nonce = [7u8; 12];
        self.buf[..self.len].copy_from_slice(&self.sealed[..self.len]);
        let body = &mut self.buf[..self.len];
        match self.kind {
            Raw::GcmRustCrypto => {
                let tag = aead::Tag::<aes_gcm::Aes128Gcm>::try_from(&self.sealed_tag[..16]).unwrap();
                self.gcm.decrypt_inout_detached(&nonce.into(), &aad, body.into(), &tag).unwrap();
            }
            Raw::GcmRing => {
                let n = ring::aead::Nonce::assume_unique_for_key(nonce);
                let tag = ring::aead::Tag::from(<[u8; 16]>::try_from(&self.sealed_tag[..16]).unwrap());
                self.ring.open_in_place_separate_tag(n, ring::aead::Aad::from(&aad), tag, body, 0..).unwrap();
            }
            Raw::Cbc128Sha1 => {
                let mut m = self.sha1.clone();
                m.update(body);
                black_box(m.finalize().into_bytes());
                cbc::Decryptor::<aes::Aes128>::inner_iv_init(self.cbc128.clone(), &[9u8; 16].into())
                    .decrypt_padded::<cipher::block_padding::NoPadding>(body)
                    .unwrap();
            }
            Raw::Cbc256Sha256 => {
                let mut m = self.sha256.clone();
                m.update(body);
                black_box(m.finalize().into_bytes());
                cbc::Decryptor::<aes::Aes256>::inner_iv_init(self.cbc256.clone(), &[9u8; 16].into())
                    .decrypt_padded::<cipher::block_padding::NoPadding>(body)
                    .unwrap();
            }
        }
        black_box(&self.buf);
    }
}

use cipher::InnerIvInit;

fn criterion_benches(c: &mut Criterion) {
    for s in suites() {
        let Some(provider) = s.provider else { continue };
        let mut g = c.benchmark_group(format!("esp/{}", s.name));
        for len in SIZES {
            g.throughput(Throughput::Bytes(len as u64));
            let mut esp = EspPath::new(&s, &provider, len);
            g.bench_function(BenchmarkId::new("encapsulate", len), |b| b.iter(|| esp.encapsulate()));
            g.bench_function(BenchmarkId::new("decapsulate", len), |b| b.iter(|| esp.decapsulate()));
            let mut raw = RawPath::new(s.raw, len);
            g.bench_function(BenchmarkId::new("raw-seal", len), |b| b.iter(|| raw.seal()));
            g.bench_function(BenchmarkId::new("raw-open", len), |b| b.iter(|| raw.open()));
        }
        g.finish();
    }
}

/// Nanoseconds per call of `esp` and of `raw`, measured in alternating batches so that
/// load from elsewhere on the machine hits both alike; the best batch of each counts.
fn ns_per_op_pair(mut esp: impl FnMut(), mut raw: impl FnMut()) -> (f64, f64) {
    for _ in 0..200 {
        esp();
        raw();
    }
    let batch = |f: &mut dyn FnMut()| {
        let n = 1000;
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed().as_nanos() as f64 / f64::from(n)
    };
    let (mut best_esp, mut best_raw) = (f64::MAX, f64::MAX);
    for _ in 0..15 {
        best_esp = best_esp.min(batch(&mut esp));
        best_raw = best_raw.min(batch(&mut raw));
    }
    (best_esp, best_raw)
}

fn summary() {
    println!();
    println!("ESP vs raw primitive, same run (payload bytes; MB/s = 10^6 payload bytes per second)");
    println!(
        "{:<24} {:>6} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7}",
        "transform", "bytes", "encap MB/s", "raw MB/s", "ratio", "decap MB/s", "raw MB/s", "ratio"
    );
    let mut gcm_1400 = [None, None];
    for s in suites() {
        let Some(provider) = s.provider else {
            println!("{:<24} (not compiled: run with --features ring)", s.name);
            continue;
        };
        for len in SIZES {
            let mut esp = EspPath::new(&s, &provider, len);
            let mut raw = RawPath::new(s.raw, len);
            let mbps = |ns: f64| len as f64 / ns * 1e3;
            let (e, rs) = ns_per_op_pair(|| esp.encapsulate(), || raw.seal());
            let (d, ro) = ns_per_op_pair(|| esp.decapsulate(), || raw.open());
            println!(
                "{:<24} {:>6} {:>10.0} {:>10.0} {:>7.3} {:>10.0} {:>10.0} {:>7.3}",
                s.name,
                len,
                mbps(e),
                mbps(rs),
                e / rs,
                mbps(d),
                mbps(ro),
                d / ro
            );
            if len == 1400 {
                match s.raw {
                    Raw::GcmRustCrypto => gcm_1400[0] = Some(e + d),
                    Raw::GcmRing => gcm_1400[1] = Some(e + d),
                    _ => {}
                }
            }
        }
    }
    if let [Some(rc), Some(ring)] = gcm_1400 {
        println!("AES-128-GCM at 1400 bytes: ring is {:.2}x the RustCrypto path (encap+decap)", rc / ring);
    }
    println!("ratio = ESP time / raw time; 1.10 is the goal's ceiling at 1400 bytes");
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
    summary();
}

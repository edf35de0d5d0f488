//! Fuzzes the certificate-authenticated handshakes: an IKEv1 Main Mode (RSA signatures)
//! or IKEv2 (ECDSA certificates) responder and initiator, chosen by the first byte, are
//! fed arbitrary datagrams, clock jumps and rounds of their own conversation (so the
//! CR/CERTREQ, CERT, SIG and AUTH steps are reached). Nothing may panic.
#![no_main]

use std::time::{Duration, Instant};

use l2sec_ike::cert::{Certificate, CertificateAuth, PrivateKey, TrustStore, UnixTime};
use l2sec_ike::crypto::DhGroup;
use l2sec_ike::v1::phase1::{self, Phase1, Phase1Config};
use l2sec_ike::v2::ike_sa::{self, IkeSa, IkeSaConfig};
use l2sec_ike::v2::keys::IkeSuite;
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

macro_rules! pki {
    ($f:literal) => {
        include_bytes!(concat!("../../crates/ike/tests/data/certs/", $f))
    };
}

fn auth(cert: &[u8], key: &[u8], ca: &[u8]) -> CertificateAuth {
    let chain = vec![Certificate::from_pem(cert).unwrap()];
    let key = PrivateKey::from_pem(key).unwrap();
    let trust = TrustStore::from_pem_bundle(ca).unwrap();
    CertificateAuth::new(chain, key, trust, UnixTime(1_767_225_600)).unwrap()
}

/// The operations both machine kinds offer.
trait M {
    fn input(&mut self, now: Instant, d: &[u8]);
    fn timeout(&mut self, now: Instant);
    fn transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool;
    fn drain_events(&mut self);
}

impl M for Phase1<ChaCha20Rng> {
    fn input(&mut self, now: Instant, d: &[u8]) {
        let _ = self.handle_input(now, d);
    }
    fn timeout(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
    fn transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        self.poll_transmit(now, buf).is_some()
    }
    fn drain_events(&mut self) {
        while self.poll_event().is_some() {}
        let _ = self.peer_certificate();
    }
}

impl M for IkeSa<ChaCha20Rng> {
    fn input(&mut self, now: Instant, d: &[u8]) {
        let _ = self.handle_input(now, d);
    }
    fn timeout(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
    fn transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        self.poll_transmit(now, buf).is_some()
    }
    fn drain_events(&mut self) {
        while self.poll_event().is_some() {}
        let _ = self.peer_certificate();
    }
}

fn run(initiator: &mut dyn M, responder: &mut dyn M, data: &[u8], start: Instant) {
    let mut now = start;
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        rest = after;
        match op % 4 {
            0 => responder.input(now, chunk),
            1 => initiator.input(now, chunk),
            2 => {
                now += Duration::from_millis(u64::from(*len) * 100);
                responder.timeout(now);
                initiator.timeout(now);
            }
            _ => {
                let mut buf = Vec::new();
                if initiator.transmit(now, &mut buf) {
                    responder.input(now, &buf);
                }
                buf.clear();
                if responder.transmit(now, &mut buf) {
                    initiator.input(now, &buf);
                }
            }
        }
        let mut buf = Vec::new();
        while responder.transmit(now, &mut buf) {}
        while initiator.transmit(now, &mut buf) {}
        responder.drain_events();
        initiator.drain_events();
    }
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let ca = pki!("ca-rsa.pem");
        let cfg = |cert: &[u8], key: &[u8], id: &str| {
            let mut c = Phase1Config::new(b"", phase1::Identity::fqdn(id));
            c.proposals.truncate(1);
            c.certificate = Some(auth(cert, key, ca));
            c
        };
        let i = cfg(pki!("client-rsa.pem"), pki!("client-rsa.key"), "client.l2sec.test");
        let r = cfg(pki!("server-rsa.pem"), pki!("server-rsa.key"), "server.l2sec.test");
        let Ok(mut initiator) = Phase1::initiate(i, ChaCha20Rng::seed_from_u64(1), start) else {
            return;
        };
        let mut responder = Phase1::respond(r, ChaCha20Rng::seed_from_u64(2), start);
        run(&mut initiator, &mut responder, data, start);
    } else {
        let ca = pki!("ca-ecdsa.pem");
        let (a, b) = ("192.0.2.1:500".parse().unwrap(), "192.0.2.2:500".parse().unwrap());
        let cfg = |cert: &[u8], key: &[u8], id: &str, l, r| {
            let mut c = IkeSaConfig::new(b"", ike_sa::Identity::fqdn(id), l, r);
            c.proposals = vec![IkeSuite::aes_gcm16(16, DhGroup::Curve25519)];
            c.certificate = Some(auth(cert, key, ca));
            c.certificate.as_mut().unwrap().rfc7427 = mode & 2 == 0;
            c
        };
        let i = cfg(pki!("client-ecdsa.pem"), pki!("client-ecdsa.key"), "client.l2sec.test", a, b);
        let r = cfg(pki!("server-ecdsa.pem"), pki!("server-ecdsa.key"), "server.l2sec.test", b, a);
        let Ok(mut initiator) = IkeSa::initiate(i, ChaCha20Rng::seed_from_u64(1), start) else {
            return;
        };
        let mut responder = IkeSa::respond(r, ChaCha20Rng::seed_from_u64(2), start);
        run(&mut initiator, &mut responder, data, start);
    }
});

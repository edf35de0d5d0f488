//! Test helpers shared by the integration tests: a scripted RADIUS server for the
//! virtual-clock tests, and (in `mschapv2`) the MS-CHAPv2 math.
#![allow(dead_code)]

pub mod mschapv2;

use std::net::SocketAddr;

use l2sec_radius_auth::crypto;
use l2sec_radius_auth::wire::{Code, Packet, PacketWriter};

/// A RADIUS server played by the test: it checks the requests it is given and builds
/// answers.
#[derive(Debug, Clone)]
pub struct FakeServer {
    pub address: SocketAddr,
    pub secret: Vec<u8>,
    /// Put a Message-Authenticator in answers.
    pub with_ma: bool,
}

impl FakeServer {
    pub fn new(address: &str, secret: &[u8]) -> Self {
        Self { address: address.parse().unwrap(), secret: secret.to_vec(), with_ma: true }
    }

    /// Check a request the way a server must, panicking if it is not valid for this
    /// server's secret: Message-Authenticator present and valid, and for accounting the
    /// Request Authenticator.
    pub fn check_request(&self, request: &[u8]) {
        let p = Packet::parse(request).expect("client sent a malformed packet");
        let auth = if p.code() == Code::ACCOUNTING_REQUEST {
            assert!(p.verify_accounting_request(&self.secret), "accounting authenticator");
            [0; 16]
        } else {
            p.authenticator()
        };
        assert_eq!(
            p.verify_message_authenticator(&auth, &self.secret),
            Some(true),
            "every request carries a valid Message-Authenticator"
        );
        assert_eq!(p.attributes().next().unwrap().typ, 80, "Message-Authenticator comes first");
    }

    /// Build an answer of `code` to `request`, with attributes added by `f`.
    pub fn answer_with(
        &self,
        request: &[u8],
        code: Code,
        f: impl FnOnce(&mut PacketWriter<'_>, &[u8; 16]),
    ) -> Vec<u8> {
        let req = Packet::parse(request).unwrap();
        let ra = req.authenticator();
        let mut out = Vec::new();
        let mut w = PacketWriter::new(&mut out, code, req.identifier(), [0; 16]);
        if self.with_ma {
            w.push_message_authenticator().unwrap();
        }
        f(&mut w, &ra);
        w.finish_response(&ra, &self.secret);
        out
    }

    pub fn answer(&self, request: &[u8], code: Code) -> Vec<u8> {
        self.answer_with(request, code, |_, _| {})
    }

    /// The password of a PAP request, recovered with this server's secret.
    pub fn pap_password(&self, request: &[u8]) -> Vec<u8> {
        let p = Packet::parse(request).unwrap();
        crypto::recover_user_password(p.find(2).unwrap(), &self.secret, &p.authenticator()).unwrap().to_vec()
    }
}

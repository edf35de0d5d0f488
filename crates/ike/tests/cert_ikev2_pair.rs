//! IKEv2 IKE_SA_INIT + IKE_AUTH with X.509 certificates (RFC 7296 §2.15, RFC 7427):
//! our initiator and responder back to back on a virtual clock, with RSA and ECDSA
//! certificates, the RFC 7427 Digital Signature method and the classic methods, and the
//! failures a certificate check must catch. The IKE_AUTH messages are decrypted with the
//! negotiated keys to check which payloads and AUTH method went over the wire.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2sec_ike::Error;
use l2sec_ike::cert::{CertError, Certificate, CertificateAuth, PeerName, PrivateKey, TrustStore, UnixTime};
use l2sec_ike::v2::ike_sa::{Event, Identity, IkeSa, IkeSaConfig, State};
use l2sec_ike::v2::keys::open;
use l2sec_ike::wire::v2::{
    AuthMethod, CertEncoding, ExchangeType, IdType, Message, NotifyType, Payload, PayloadIter,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Sa = IkeSa<ChaCha20Rng>;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/certs/");
/// 2026-01-01: inside the test certificates' validity (2025-2045).
const NOW: UnixTime = UnixTime(1_767_225_600);

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A certificate configuration from `tests/data/certs`: `name.pem` + `name.key` (plus
/// `extra` chain certificates) trusting the `cas`.
fn auth(name: &str, extra: &[&str], cas: &[&str], now: UnixTime) -> CertificateAuth {
    let mut chain = vec![Certificate::from_pem(&read(&format!("{name}.pem"))).unwrap()];
    chain.extend(extra.iter().map(|e| Certificate::from_pem(&read(&format!("{e}.pem"))).unwrap()));
    let key = PrivateKey::from_pem(&read(&format!("{name}.key"))).unwrap();
    let mut trust = TrustStore::new();
    for ca in cas {
        trust.add(Certificate::from_pem(&read(&format!("{ca}.pem"))).unwrap()).unwrap();
    }
    CertificateAuth::new(chain, key, trust, now).unwrap()
}

fn config(id: Identity, local: &str, remote: &str, cert: CertificateAuth) -> IkeSaConfig {
    let mut c = IkeSaConfig::new(b"unused psk", id, addr(local), addr(remote));
    c.certificate = Some(cert);
    c
}

const CLIENT: &str = "192.0.2.1:500";
const SERVER: &str = "192.0.2.2:500";

fn drain(m: &mut Sa, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        if m.poll_transmit(now, &mut buf).is_none() {
            return out;
        }
        out.push(buf);
    }
}

/// Runs the pair to completion; returns every datagram (true: from the initiator).
fn run(i: &mut Sa, r: &mut Sa, mut now: Instant) -> Vec<(bool, Vec<u8>)> {
    let mut sent = Vec::new();
    for _ in 0..100 {
        let mut idle = true;
        for d in drain(i, now) {
            idle = false;
            let _ = r.handle_input(now, &d);
            sent.push((true, d));
        }
        for d in drain(r, now) {
            idle = false;
            let _ = i.handle_input(now, &d);
            sent.push((false, d));
        }
        if idle {
            let done = |m: &Sa| matches!(m.state(), State::Established | State::Failed);
            if done(i) && done(r) {
                break;
            }
            let Some(next) = [i.poll_timeout(), r.poll_timeout()].into_iter().flatten().min() else { break };
            now = now.max(next);
            i.handle_timeout(now);
            r.handle_timeout(now);
        }
    }
    sent
}

fn pair(ic: IkeSaConfig, rc: IkeSaConfig) -> (Sa, Sa, Vec<(bool, Vec<u8>)>) {
    let now = Instant::now();
    let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
    let sent = run(&mut i, &mut r, now);
    (i, r, sent)
}

fn peer_id(m: &mut Sa) -> Identity {
    let ev: Vec<Event> = std::iter::from_fn(|| m.poll_event()).collect();
    match ev.as_slice() {
        [Event::Established { peer_id, .. }] => peer_id.clone(),
        other => panic!("not established: {other:?}"),
    }
}

fn failure(m: &mut Sa) -> Error {
    assert_eq!(m.state(), State::Failed);
    let ev: Vec<Event> = std::iter::from_fn(|| m.poll_event()).collect();
    match ev.as_slice() {
        [Event::Failed(e)] => e.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// What an IKE_AUTH message carried: AUTH method, CERT payload count, CERTREQ present.
#[derive(Debug, PartialEq, Eq)]
struct AuthSummary {
    method: AuthMethod,
    certs: usize,
    certreq: bool,
}

fn summarize(i: &Sa, datagram: &[u8], from_initiator: bool) -> AuthSummary {
    let m = Message::parse(datagram).unwrap();
    assert_eq!(m.header.exchange_type, ExchangeType::IkeAuth);
    let keys = i.keys().unwrap();
    let opened = open(i.suite().unwrap(), keys.sender(from_initiator), &m).unwrap();
    let mut s = AuthSummary { method: AuthMethod::Null, certs: 0, certreq: false };
    for p in PayloadIter::new(opened.first_inner, &opened.chain) {
        match p.unwrap().parse().unwrap() {
            Payload::Authentication(a) => s.method = a.method,
            Payload::Certificate(c) => {
                assert_eq!(c.encoding, CertEncoding::X509Signature);
                Certificate::from_der(c.data).unwrap();
                s.certs += 1;
            }
            Payload::CertificateRequest(c) => {
                assert_eq!(c.ca_key_hashes().map(Iterator::count), Some(1));
                s.certreq = true;
            }
            _ => {}
        }
    }
    s
}

/// The IKE_SA_INIT messages: (initiator announced hashes, responder announced hashes,
/// responder sent a CERTREQ).
fn init_flags(sent: &[(bool, Vec<u8>)]) -> (bool, bool, bool) {
    let has = |d: &[u8], t: NotifyType| {
        Message::parse(d)
            .unwrap()
            .payloads()
            .any(|p| matches!(p.unwrap().parse().unwrap(), Payload::Notify(n) if n.notify_type == t))
    };
    let certreq = |d: &[u8]| {
        Message::parse(d)
            .unwrap()
            .payloads()
            .any(|p| matches!(p.unwrap().parse().unwrap(), Payload::CertificateRequest(_)))
    };
    (
        has(&sent[0].1, NotifyType::SignatureHashAlgorithms),
        has(&sent[1].1, NotifyType::SignatureHashAlgorithms),
        certreq(&sent[1].1),
    )
}

fn fqdn(s: &str) -> Identity {
    Identity::fqdn(s)
}

#[test]
fn rsa_certificates_with_rfc7427_digital_signatures() {
    let ic = config(fqdn("client.l2sec.test"), CLIENT, SERVER, auth("client-rsa", &[], &["ca-rsa"], NOW));
    let rc = config(fqdn("server.l2sec.test"), SERVER, CLIENT, auth("server-rsa", &[], &["ca-rsa"], NOW));
    let (mut i, mut r, sent) = pair(ic, rc);
    assert_eq!(sent.len(), 4);
    assert_eq!(init_flags(&sent), (true, true, true));
    assert_eq!(peer_id(&mut i), fqdn("server.l2sec.test"));
    assert_eq!(peer_id(&mut r), fqdn("client.l2sec.test"));
    assert_eq!(
        summarize(&i, &sent[2].1, true),
        AuthSummary { method: AuthMethod::DigitalSignature, certs: 1, certreq: true }
    );
    assert_eq!(
        summarize(&i, &sent[3].1, false),
        AuthSummary { method: AuthMethod::DigitalSignature, certs: 1, certreq: false }
    );
    assert!(i.peer_certificate().unwrap().subject_string().contains("server.l2sec.test"));
    assert!(r.peer_certificate().unwrap().subject_string().contains("client.l2sec.test"));
}

#[test]
fn rsa_pss_signatures() {
    let mut a = auth("client-rsa", &[], &["ca-rsa"], NOW);
    a.rsa_pss = true;
    let mut b = auth("server-rsa", &[], &["ca-rsa"], NOW);
    b.rsa_pss = true;
    let ic = config(fqdn("client.l2sec.test"), CLIENT, SERVER, a);
    let rc = config(fqdn("server.l2sec.test"), SERVER, CLIENT, b);
    let (mut i, mut r, sent) = pair(ic, rc);
    assert_eq!(peer_id(&mut i), fqdn("server.l2sec.test"));
    assert_eq!(peer_id(&mut r), fqdn("client.l2sec.test"));
    assert_eq!(summarize(&i, &sent[2].1, true).method, AuthMethod::DigitalSignature);
}

#[test]
fn rsa_certificates_with_the_classic_method_and_dn_identities() {
    let mut a = auth("client-rsa", &[], &["ca-rsa"], NOW);
    a.rfc7427 = false;
    let mut b = auth("server-rsa", &[], &["ca-rsa"], NOW);
    b.rfc7427 = false;
    let dn = |c: &CertificateAuth| Identity {
        id_type: IdType::DerAsn1Dn,
        data: c.certificate().unwrap().subject_der().to_vec(),
    };
    let (ida, idb) = (dn(&a), dn(&b));
    let ic = config(ida.clone(), CLIENT, SERVER, a);
    let rc = config(idb.clone(), SERVER, CLIENT, b);
    let (mut i, mut r, sent) = pair(ic, rc);
    assert_eq!(init_flags(&sent), (false, false, true));
    assert_eq!(peer_id(&mut i), idb);
    assert_eq!(peer_id(&mut r), ida);
    assert_eq!(summarize(&i, &sent[2].1, true).method, AuthMethod::RsaDigitalSignature);
    assert_eq!(summarize(&i, &sent[3].1, false).method, AuthMethod::RsaDigitalSignature);
}

#[test]
fn ecdsa_certificates_both_methods() {
    for rfc7427 in [true, false] {
        // Client P-384, server P-256, both under the P-384 ECDSA CA.
        let mut a = auth("client-ecdsa", &[], &["ca-ecdsa"], NOW);
        a.rfc7427 = rfc7427;
        let mut b = auth("server-ecdsa", &[], &["ca-ecdsa"], NOW);
        b.rfc7427 = rfc7427;
        let ic = config(Identity::ip([192, 0, 2, 1].into()), CLIENT, SERVER, a);
        let rc = config(fqdn("server.l2sec.test"), SERVER, CLIENT, b);
        let (mut i, mut r, sent) = pair(ic, rc);
        assert_eq!(peer_id(&mut i), fqdn("server.l2sec.test"));
        assert_eq!(peer_id(&mut r), Identity::ip([192, 0, 2, 1].into()));
        let (mi, mr) = (summarize(&i, &sent[2].1, true).method, summarize(&i, &sent[3].1, false).method);
        if rfc7427 {
            assert_eq!((mi, mr), (AuthMethod::DigitalSignature, AuthMethod::DigitalSignature));
        } else {
            assert_eq!((mi, mr), (AuthMethod::EcdsaSha384P384, AuthMethod::EcdsaSha256P256));
        }
    }
}

#[test]
fn mixed_rsa_and_ecdsa_with_an_intermediate_ca() {
    // The client's certificate comes through an intermediate it sends along.
    let ic =
        config(fqdn("leaf.l2sec.test"), CLIENT, SERVER, auth("leaf-int", &["int-rsa"], &["ca-ecdsa"], NOW));
    let rc = config(fqdn("server.l2sec.test"), SERVER, CLIENT, auth("server-ecdsa", &[], &["ca-rsa"], NOW));
    let (mut i, mut r, sent) = pair(ic, rc);
    assert_eq!(peer_id(&mut i), fqdn("server.l2sec.test"));
    assert_eq!(peer_id(&mut r), fqdn("leaf.l2sec.test"));
    assert_eq!(summarize(&i, &sent[2].1, true).certs, 2);
}

#[test]
fn a_missing_intermediate_fails() {
    let ic = config(fqdn("leaf.l2sec.test"), CLIENT, SERVER, auth("leaf-int", &[], &["ca-rsa"], NOW));
    let rc = config(fqdn("server.l2sec.test"), SERVER, CLIENT, auth("server-rsa", &[], &["ca-rsa"], NOW));
    let (mut i, mut r, _) = pair(ic, rc);
    assert_eq!(failure(&mut r), Error::Certificate(CertError::UnknownIssuer));
    assert_eq!(failure(&mut i), Error::AuthenticationFailed);
}

#[test]
fn an_identity_the_certificate_does_not_name_fails() {
    let ic = config(fqdn("server.l2sec.test"), CLIENT, SERVER, auth("client-rsa", &[], &["ca-rsa"], NOW));
    let rc = config(fqdn("server.l2sec.test"), SERVER, CLIENT, auth("server-rsa", &[], &["ca-rsa"], NOW));
    let (mut i, mut r, _) = pair(ic, rc);
    assert_eq!(failure(&mut r), Error::Certificate(CertError::IdentityMismatch));
    assert_eq!(failure(&mut i), Error::AuthenticationFailed);
}

#[test]
fn the_responder_is_checked_by_the_initiator() {
    // The initiator trusts only the ECDSA CA; the responder has an RSA certificate.
    let ic = config(fqdn("client.l2sec.test"), CLIENT, SERVER, auth("client-rsa", &[], &["ca-ecdsa"], NOW));
    let rc = config(fqdn("server.l2sec.test"), SERVER, CLIENT, auth("server-rsa", &[], &["ca-rsa"], NOW));
    let (mut i, r, _) = pair(ic, rc);
    assert_eq!(failure(&mut i), Error::Certificate(CertError::UnknownIssuer));
    // The responder authenticated the initiator and considers the SA up.
    assert_eq!(r.state(), State::Established);
}

/// A responder with another valid certificate of the same CA, under that certificate's
/// own name, is refused when the initiator expects the server's name.
#[test]
fn the_initiator_refuses_a_responder_it_did_not_expect() {
    let mut a = auth("client-ecdsa", &[], &["ca-ecdsa"], NOW);
    a.expected_peer = Some(PeerName::Fqdn("server.l2sec.test".into()));
    let ic = config(fqdn("client.l2sec.test"), CLIENT, SERVER, a);
    // The "server" presents a client certificate (same CA) and its matching identity.
    let rc = config(fqdn("client.l2sec.test"), SERVER, CLIENT, auth("client-ecdsa", &[], &["ca-ecdsa"], NOW));
    let (mut i, _, _) = pair(ic, rc);
    assert_eq!(failure(&mut i), Error::Certificate(CertError::UnexpectedPeer));
    // The genuine server passes.
    let mut a = auth("client-ecdsa", &[], &["ca-ecdsa"], NOW);
    a.expected_peer = Some(PeerName::Fqdn("server.l2sec.test".into()));
    let ic = config(fqdn("client.l2sec.test"), CLIENT, SERVER, a);
    let rc = config(fqdn("server.l2sec.test"), SERVER, CLIENT, auth("server-ecdsa", &[], &["ca-ecdsa"], NOW));
    let (mut i, _, _) = pair(ic, rc);
    assert_eq!(peer_id(&mut i), fqdn("server.l2sec.test"));
}

#[test]
fn validity_is_checked_against_the_supplied_wall_clock() {
    let later = UnixTime(2_400_000_000); // 2046
    let ic = config(fqdn("client.l2sec.test"), CLIENT, SERVER, auth("client-rsa", &[], &["ca-rsa"], NOW));
    let rc = config(fqdn("server.l2sec.test"), SERVER, CLIENT, auth("server-rsa", &[], &["ca-rsa"], later));
    let (_, mut r, _) = pair(ic, rc);
    assert_eq!(failure(&mut r), Error::Certificate(CertError::Expired));
}

#[test]
fn a_psk_peer_is_refused_by_a_certificate_peer() {
    let ic = IkeSaConfig::new(b"unused psk", fqdn("client.l2sec.test"), addr(CLIENT), addr(SERVER));
    let rc = config(fqdn("server.l2sec.test"), SERVER, CLIENT, auth("server-rsa", &[], &["ca-rsa"], NOW));
    let (mut i, mut r, _) = pair(ic, rc);
    assert_eq!(failure(&mut r), Error::AuthenticationFailed);
    assert_eq!(failure(&mut i), Error::AuthenticationFailed);
}

#[test]
fn a_lost_ike_auth_response_is_resent_with_the_same_signature() {
    let ic = config(fqdn("client.l2sec.test"), CLIENT, SERVER, auth("client-ecdsa", &[], &["ca-ecdsa"], NOW));
    let rc = config(fqdn("server.l2sec.test"), SERVER, CLIENT, auth("server-ecdsa", &[], &["ca-ecdsa"], NOW));
    let now = Instant::now();
    let mut i = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(5), now).unwrap();
    let mut r = IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(6), now);
    for d in drain(&mut i, now) {
        r.handle_input(now, &d).unwrap();
    }
    for d in drain(&mut r, now) {
        i.handle_input(now, &d).unwrap();
    }
    let auth_request = drain(&mut i, now);
    r.handle_input(now, &auth_request[0]).unwrap();
    let first = drain(&mut r, now); // lost
    let later = now + Duration::from_secs(1);
    i.handle_timeout(later);
    let again = drain(&mut i, later);
    assert_eq!(again, auth_request);
    r.handle_input(later, &again[0]).unwrap();
    let second = drain(&mut r, later);
    assert_eq!(first, second);
    i.handle_input(later, &second[0]).unwrap();
    assert_eq!(peer_id(&mut i), fqdn("server.l2sec.test"));
}

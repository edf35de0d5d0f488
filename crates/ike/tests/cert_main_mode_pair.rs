//! IKEv1 Main Mode with RSA signatures and X.509 certificates (RFC 2409 §5.1): our
//! initiator and responder back to back on a virtual clock. MM5/MM6 are decrypted with
//! the negotiated keys to check the CERT and SIG payloads, and the SIG is checked
//! against the sender's certificate independently of the machine.

use std::time::Instant;

use l2sec_ike::Error;
use l2sec_ike::cert::{CertError, Certificate, CertificateAuth, PrivateKey, TrustStore, UnixTime};
use l2sec_ike::v1::crypt;
use l2sec_ike::v1::phase1::{Event, Identity, Phase1, Phase1Config, State};
use l2sec_ike::wire::v1::{
    AttributeValue, AuthMethod, CertEncoding, IdType, IkeAttributeType, Message, Payload, parse_payload_chain,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Mm = Phase1<ChaCha20Rng>;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/certs/");
/// 2026-01-01: inside the test certificates' validity (2025-2045).
const NOW: UnixTime = UnixTime(1_767_225_600);

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).unwrap()
}

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

/// A Main Mode configuration identified by the certificate's subject DN.
fn dn_config(cert: CertificateAuth) -> Phase1Config {
    let id =
        Identity { id_type: IdType::DerAsn1Dn, data: cert.certificate().unwrap().subject_der().to_vec() };
    let mut c = Phase1Config::new(b"unused", id);
    c.certificate = Some(cert);
    c
}

fn drain(m: &mut Mm, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        if m.poll_transmit(now, &mut buf).is_none() {
            return out;
        }
        out.push(buf);
    }
}

fn run(i: &mut Mm, r: &mut Mm, mut now: Instant, drop: impl Fn(usize) -> bool) -> Vec<Vec<u8>> {
    let mut sent = Vec::new();
    for _ in 0..200 {
        let mut idle = true;
        for d in drain(i, now) {
            idle = false;
            sent.push(d.clone());
            if !drop(sent.len()) {
                let _ = r.handle_input(now, &d);
            }
        }
        for d in drain(r, now) {
            idle = false;
            sent.push(d.clone());
            if !drop(sent.len()) {
                let _ = i.handle_input(now, &d);
            }
        }
        if idle {
            let done = |m: &Mm| matches!(m.state(), State::Established | State::Failed);
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

fn pair(ic: Phase1Config, rc: Phase1Config, drop: impl Fn(usize) -> bool) -> (Mm, Mm, Vec<Vec<u8>>) {
    let now = Instant::now();
    let mut i = Phase1::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = Phase1::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
    let sent = run(&mut i, &mut r, now, drop);
    (i, r, sent)
}

fn peer_id(m: &mut Mm) -> Identity {
    let ev: Vec<Event> = std::iter::from_fn(|| m.poll_event()).collect();
    match ev.as_slice() {
        [Event::Established { peer_id, .. }] => peer_id.clone(),
        other => panic!("not established: {other:?}"),
    }
}

fn failure(m: &mut Mm) -> Error {
    assert_eq!(m.state(), State::Failed);
    let ev: Vec<Event> = std::iter::from_fn(|| m.poll_event()).collect();
    match ev.as_slice() {
        [Event::Failed(e)] => e.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn ke(d: &[u8]) -> Vec<u8> {
    let m = Message::parse(d).unwrap();
    m.payloads()
        .unwrap()
        .iter()
        .find_map(|p| if let Payload::KeyExchange(k) = p { Some(k.to_vec()) } else { None })
        .unwrap()
}

fn cert_requests(d: &[u8]) -> Vec<Vec<u8>> {
    let m = Message::parse(d).unwrap();
    m.payloads()
        .unwrap()
        .iter()
        .filter_map(|p| match p {
            Payload::CertificateRequest(c) => {
                assert_eq!(c.encoding, CertEncoding::X509Signature);
                Some(c.data.to_vec())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn rsa_signatures_with_certificates() {
    let ia = auth("client-rsa", &[], &["ca-rsa"], NOW);
    let ra = auth("server-rsa", &[], &["ca-rsa"], NOW);
    let (i_subject, r_subject) =
        (ia.certificate().unwrap().subject_der().to_vec(), ra.certificate().unwrap().subject_der().to_vec());
    let ca_subject = ia.trust.cas()[0].subject_der().to_vec();
    let (mut i, mut r, sent) = pair(dn_config(ia), dn_config(ra), |_| false);
    assert_eq!(sent.len(), 6, "six Main Mode messages");
    assert_eq!(peer_id(&mut i), Identity { id_type: IdType::DerAsn1Dn, data: r_subject.clone() });
    assert_eq!(peer_id(&mut r), Identity { id_type: IdType::DerAsn1Dn, data: i_subject });
    assert_eq!(i.peer_certificate().unwrap().subject_der(), r_subject.as_slice());
    assert!(r.peer_certificate().is_some());
    let (ki, kr) = (i.keys().unwrap(), r.keys().unwrap());
    assert_eq!(ki.skeyid_d(), kr.skeyid_d());
    assert_eq!(ki.encryption_key(), kr.encryption_key());

    // MM1 offers RSA signatures (auth method 3).
    let mm1 = Message::parse(&sent[0]).unwrap();
    let payloads = mm1.payloads().unwrap();
    let Payload::SecurityAssociation(sa) = &payloads[0] else { panic!("MM1 starts with SA") };
    let auth_attr = sa.proposals[0].transforms[0]
        .attributes
        .iter()
        .find(|a| a.kind == u16::from(IkeAttributeType::AuthenticationMethod))
        .unwrap();
    assert_eq!(auth_attr.value, AttributeValue::Basic(u16::from(AuthMethod::RsaSignatures)));
    // MM3 and MM4 ask for certificates from the CA, by DN.
    assert_eq!(cert_requests(&sent[2]), std::slice::from_ref(&ca_subject));
    assert_eq!(cert_requests(&sent[3]), [ca_subject]);

    // MM5 and MM6 carry ID, CERT and SIG; SIG verifies with the sender's certificate
    // over a HASH the machine would have computed (checked by flipping it).
    let iv0 = ki.initial_iv(&ke(&sent[2]), &ke(&sent[3]));
    let mm5 = Message::parse(&sent[4]).unwrap();
    let d5 = crypt::decrypt(ki.cipher(), ki.encryption_key(), &iv0, &mm5).unwrap();
    let (p5, _) = parse_payload_chain(mm5.header.next_payload, &d5.plaintext).unwrap();
    let mm6 = Message::parse(&sent[5]).unwrap();
    let d6 = crypt::decrypt(ki.cipher(), ki.encryption_key(), &d5.next_iv, &mm6).unwrap();
    let (p6, _) = parse_payload_chain(mm6.header.next_payload, &d6.plaintext).unwrap();
    for (payloads, who) in [(&p5, "client"), (&p6, "server")] {
        let kinds: Vec<&str> = payloads
            .iter()
            .map(|p| match p {
                Payload::Identification(_) => "ID",
                Payload::Certificate(_) => "CERT",
                Payload::Signature(_) => "SIG",
                Payload::Hash(_) => "HASH",
                Payload::Notification(_) => "N",
                _ => "other",
            })
            .collect();
        assert_eq!(&kinds[..3], ["ID", "CERT", "SIG"], "{who}");
        let Payload::Certificate(c) = &payloads[1] else { unreachable!() };
        let cert = Certificate::from_der(c.data).unwrap();
        assert!(cert.subject_string().contains(&format!("{who}.l2sec.test")));
        let Payload::Signature(sig) = &payloads[2] else { unreachable!() };
        assert_eq!(sig.len(), 256);
    }
}

/// RFC 4754 ECDSA in IKEv1: the initiator (P-384) offers method 10, the responder (P-256)
/// accepts it as ECDSA and signs with its own curve; SHA-1 and SHA-256 PRFs (a 20-byte
/// HASH is shorter than both curves).
#[test]
fn ecdsa_signatures_with_certificates() {
    for sha256 in [false, true] {
        let mut ic = dn_config(auth("client-ecdsa", &[], &["ca-ecdsa"], NOW));
        let mut rc = dn_config(auth("server-ecdsa", &[], &["ca-ecdsa"], NOW));
        if sha256 {
            ic.proposals.remove(0);
            rc.proposals.remove(0);
        }
        let (i_id, r_id) = (ic.local_id.clone(), rc.local_id.clone());
        let (mut i, mut r, sent) = pair(ic, rc, |_| false);
        assert_eq!(sent.len(), 6);
        assert_eq!(peer_id(&mut i), r_id);
        assert_eq!(peer_id(&mut r), i_id);
        let mm1 = Message::parse(&sent[0]).unwrap();
        let payloads = mm1.payloads().unwrap();
        let Payload::SecurityAssociation(sa) = &payloads[0] else { panic!("MM1 starts with SA") };
        let auth_attr = sa.proposals[0].transforms[0]
            .attributes
            .iter()
            .find(|a| a.kind == u16::from(IkeAttributeType::AuthenticationMethod))
            .unwrap();
        assert_eq!(auth_attr.value, AttributeValue::Basic(10), "ECDSA-384");
    }
    // An RSA peer and an ECDSA peer do not agree on a method.
    let ic = dn_config(auth("client-rsa", &[], &["ca-ecdsa"], NOW));
    let rc = dn_config(auth("server-ecdsa", &[], &["ca-rsa"], NOW));
    let (mut i, _, _) = pair(ic, rc, |_| false);
    assert_eq!(failure(&mut i), Error::Timeout);
}

#[test]
fn fqdn_identities_and_an_intermediate_survive_loss() {
    let mut ic = dn_config(auth("leaf-int", &["int-rsa"], &["ca-rsa"], NOW));
    ic.local_id = Identity::fqdn("leaf.l2sec.test");
    let mut rc = dn_config(auth("server-rsa", &[], &["ca-rsa"], NOW));
    rc.local_id = Identity::ipv4([192, 0, 2, 2].into());
    // Lose MM3 and MM6 once each.
    let (mut i, mut r, sent) = pair(ic, rc, |n| n == 3 || n == 6);
    assert!(sent.len() > 6);
    assert_eq!(peer_id(&mut i), Identity::ipv4([192, 0, 2, 2].into()));
    assert_eq!(peer_id(&mut r), Identity::fqdn("leaf.l2sec.test"));
}

#[test]
fn untrusted_expired_or_misnamed_peers_are_refused() {
    // Initiator's chain does not reach the responder's CA.
    let (mut i, mut r, _) = pair(
        dn_config(auth("leaf-int", &[], &["ca-rsa"], NOW)),
        dn_config(auth("server-rsa", &[], &["ca-rsa"], NOW)),
        |_| false,
    );
    // The responder drops the unverifiable MM5 (it may be forged) and gives up later.
    assert_eq!(failure(&mut r), Error::AuthenticationFailed);
    assert_eq!(failure(&mut i), Error::Timeout);
    // The initiator sees an expired certificate (its wall clock is in 2046).
    let (mut i, _, _) = pair(
        dn_config(auth("client-rsa", &[], &["ca-rsa"], UnixTime(2_400_000_000))),
        dn_config(auth("server-rsa", &[], &["ca-rsa"], NOW)),
        |_| false,
    );
    assert_eq!(failure(&mut i), Error::AuthenticationFailed);
    // An identity the certificate does not carry.
    let mut ic = dn_config(auth("client-rsa", &[], &["ca-rsa"], NOW));
    ic.local_id = Identity::fqdn("server.l2sec.test");
    let (_, mut r, _) = pair(ic, dn_config(auth("server-rsa", &[], &["ca-rsa"], NOW)), |_| false);
    assert_eq!(failure(&mut r), Error::AuthenticationFailed);
}

#[test]
fn the_certificate_error_is_returned_to_the_owner() {
    let now = Instant::now();
    let mut ic = dn_config(auth("client-rsa", &[], &["ca-rsa"], NOW));
    ic.local_id = Identity::fqdn("server.l2sec.test");
    let mut i = Phase1::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = Phase1::respond(
        dn_config(auth("server-rsa", &[], &["ca-rsa"], NOW)),
        ChaCha20Rng::seed_from_u64(2),
        now,
    );
    let mut last = Ok(());
    for _ in 0..3 {
        for d in drain(&mut i, now) {
            last = r.handle_input(now, &d);
        }
        for d in drain(&mut r, now) {
            i.handle_input(now, &d).unwrap();
        }
    }
    assert_eq!(last, Err(Error::Certificate(CertError::IdentityMismatch)));
    // The bad MM5 left the responder waiting for a good one.
    assert_eq!(r.state(), State::SentKeReply);
}

#[test]
fn psk_and_certificate_configurations_do_not_agree() {
    let ic = Phase1Config::new(b"psk", Identity::fqdn("client.l2sec.test"));
    let (mut i, mut r, _) = pair(ic, dn_config(auth("server-rsa", &[], &["ca-rsa"], NOW)), |_| false);
    assert_eq!(failure(&mut i), Error::Timeout);
    assert!(matches!(failure(&mut r), Error::Timeout | Error::NoProposalChosen));
}

/// RFC 2409 §5.1 Aggressive Mode with signatures: AM2 carries IDir, CERT and SIG_R, AM3
/// (encrypted) CERT and SIG_I. The responder accepts it only with `allow_aggressive`.
#[test]
fn aggressive_mode_with_rsa_signatures() {
    let now = Instant::now();
    let ic = dn_config(auth("client-rsa", &[], &["ca-rsa"], NOW));
    let mut rc = dn_config(auth("server-rsa", &[], &["ca-rsa"], NOW));
    let (i_subject, r_subject) = (ic.local_id.clone(), rc.local_id.clone());
    rc.allow_aggressive = true;
    let mut i = Phase1::initiate_aggressive(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = Phase1::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
    let sent = run(&mut i, &mut r, now, |_| false);
    assert_eq!(sent.len(), 3, "three Aggressive Mode messages");
    assert_eq!(peer_id(&mut i), r_subject);
    assert_eq!(peer_id(&mut r), i_subject);
    assert!(i.peer_certificate().is_some() && r.peer_certificate().is_some());
    assert_eq!(i.keys().unwrap().skeyid_d(), r.keys().unwrap().skeyid_d());
    // AM1 asks for a certificate; AM2 carries CERT and SIG in clear, and no HASH.
    assert_eq!(cert_requests(&sent[0]).len(), 1);
    let am2 = Message::parse(&sent[1]).unwrap();
    let p = am2.payloads().unwrap();
    assert!(
        p.iter().any(|p| matches!(p, Payload::Certificate(c) if c.encoding == CertEncoding::X509Signature))
    );
    assert!(p.iter().any(|p| matches!(p, Payload::Signature(s) if s.len() == 256)));
    assert!(!p.iter().any(|p| matches!(p, Payload::Hash(_))));

    // Without allow_aggressive the responder refuses.
    let ic = dn_config(auth("client-rsa", &[], &["ca-rsa"], NOW));
    let rc = dn_config(auth("server-rsa", &[], &["ca-rsa"], NOW));
    let mut i = Phase1::initiate_aggressive(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = Phase1::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
    run(&mut i, &mut r, now, |_| false);
    assert_eq!(failure(&mut i), Error::Timeout);
}

/// A forged AM2 (SIG_R over something else) is dropped; the exchange then times out as
/// an authentication failure.
#[test]
fn aggressive_mode_with_a_wrong_responder_certificate_fails() {
    let now = Instant::now();
    // The responder's certificate does not name its ID.
    let ic = dn_config(auth("client-rsa", &[], &["ca-rsa"], NOW));
    let mut rc = dn_config(auth("server-rsa", &[], &["ca-rsa"], NOW));
    rc.local_id = Identity::fqdn("client.l2sec.test");
    rc.allow_aggressive = true;
    let mut i = Phase1::initiate_aggressive(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap();
    let mut r = Phase1::respond(rc, ChaCha20Rng::seed_from_u64(2), now);
    run(&mut i, &mut r, now, |_| false);
    assert_eq!(failure(&mut i), Error::AuthenticationFailed);
}

//! IKEv2 with EAP-MSCHAPv2 (RFC 7296 §2.16): our responder against an initiator played
//! by hand on a virtual clock.
//!
//! IKE_SA_INIT is done by our own initiator (its IKE_AUTH request is thrown away); the
//! test then speaks IKE_AUTH with the derived keys itself: IDi without AUTH, the
//! MS-CHAPv2 Response computed with l2sec-ppp's RFC 2759 functions (checked against the
//! RFC 2759 §9.2 vectors below), the Success Response, and the AUTH keyed with the MSK.
//! The "owner" of the responder checks the NT-Response the same way a user database
//! would.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2sec_ike::Error;
use l2sec_ike::child::{EspEncryption, EspIntegrity};
use l2sec_ike::v2::auth::psk_auth;
use l2sec_ike::v2::eap::{EapAcceptance, EapConfig, EapVerdict, MsChapV2Credentials, Msk};
use l2sec_ike::v2::ike_sa::{Event, Identity, IkeSa, IkeSaConfig, State};
use l2sec_ike::v2::keys::{IkeKeys, IkeSuite, child_keys, open, seal};
use l2sec_ike::wire::v2::mschapv2::{MsChapV2, parse_success_message};
use l2sec_ike::wire::v2::{
    AuthMethod, Authentication, ChainBuilder, Eap, EapCode, EapType, EncryptionId, EsnId, ExchangeType,
    Flags, Header, IdType, Identification, IntegrityId, Message, Notify, NotifyType, Payload, PayloadIter,
    Proposal, ProtocolId, SecurityAssociation, TrafficSelector, TrafficSelectors, Transform,
};
use l2sec_ppp::crypto::{
    Side, mppe_asymmetric_start_key, mppe_master_key, mschapv2_authenticator_response, mschapv2_nt_response,
    mschapv2_verify, nt_password_hash,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Sa = IkeSa<ChaCha20Rng>;

const CLIENT: &str = "192.0.2.1:500";
const SERVER: &str = "192.0.2.2:500";
const PSK: &[u8] = b"server-psk";
const USER: &str = "alice";
const PASSWORD: &str = "wonderland";

// RFC 2759 §9.2 (and RFC 3079 §3.5.3 for the master key).
const RFC_USER: &str = "User";
const RFC_PASSWORD: &str = "clientPass";
const RFC_AUTH_CHALLENGE: &str = "5B5D7C7D7B3F2F3E3C2C602132262628";
const RFC_PEER_CHALLENGE: &str = "21402324255E262A28295F2B3A337C7E";
const RFC_NT_RESPONSE: &str = "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF";
const RFC_AUTHENTICATOR_RESPONSE: &str = "S=407A5589115FD0D6209F510FE9C04566932CDA56";
const RFC_MASTER_KEY: &str = "FDECE3717A8C838CB388E527AE3CDD31";

fn h16(s: &str) -> [u8; 16] {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The RFC 2759 §9.2 vectors for the computations the owner and the test client use,
/// and the success text our responder sends.
#[test]
fn rfc2759_vectors() {
    let (ac, pc) = (h16(RFC_AUTH_CHALLENGE), h16(RFC_PEER_CHALLENGE));
    let nt = mschapv2_nt_response(&ac, &pc, RFC_USER.as_bytes(), RFC_PASSWORD);
    assert_eq!(hex::encode_upper(nt), RFC_NT_RESPONSE);
    let hash = nt_password_hash(RFC_PASSWORD);
    let ar = mschapv2_authenticator_response(&hash, &nt, &pc, &ac, RFC_USER.as_bytes());
    let text = l2sec_ike::wire::v2::mschapv2::success_message(&ar, "");
    assert_eq!(text, RFC_AUTHENTICATOR_RESPONSE.as_bytes());
    assert_eq!(hex::encode_upper(*mppe_master_key(&hash, &nt)), RFC_MASTER_KEY);
    // The MSK: the server's receive key (Magic2) first, then its send key (Magic3); the
    // client derives the same bytes as its send key then its receive key.
    let outcome = mschapv2_verify(&hash, &ac, &pc, RFC_USER.as_bytes(), &nt).unwrap();
    let msk = Msk::from_mschapv2(&outcome.mppe.send, &outcome.mppe.recv);
    let master = mppe_master_key(&hash, &nt);
    assert_eq!(msk.as_bytes()[..16], *mppe_asymmetric_start_key(&master, true, Side::Client));
    assert_eq!(msk.as_bytes()[16..32], *mppe_asymmetric_start_key(&master, false, Side::Client));
    assert_eq!(msk.as_bytes()[32..], [0; 32]);
}

/// What the test's initiator read from one response.
#[derive(Debug, Default)]
struct Reply {
    idr_body: Option<Vec<u8>>,
    auth: Option<(AuthMethod, Vec<u8>)>,
    eap: Option<(EapCode, u8, Option<EapType>, Vec<u8>)>,
    notifies: Vec<NotifyType>,
    sa: Option<(Vec<u8>, u8)>,
}

/// The initiator played by hand after IKE_SA_INIT.
struct Client {
    suite: IkeSuite,
    keys: IkeKeys,
    spis: ([u8; 8], [u8; 8]),
    ni: Vec<u8>,
    nr: Vec<u8>,
    init_request: Vec<u8>,
    init_response: Vec<u8>,
    rng: ChaCha20Rng,
    next_id: u32,
}

fn nonce(datagram: &[u8]) -> Vec<u8> {
    let m = Message::parse(datagram).unwrap();
    m.payloads()
        .find_map(|p| match p.unwrap().parse().unwrap() {
            Payload::Nonce(n) => Some(n.to_vec()),
            _ => None,
        })
        .unwrap()
}

const IDI: &[u8] = b"client.example";
const CHILD_SPI: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

fn idi_body() -> Vec<u8> {
    let mut b = vec![u8::from(IdType::Fqdn), 0, 0, 0];
    b.extend_from_slice(IDI);
    b
}

impl Client {
    fn request(&mut self, payloads: &[Payload<'_>]) -> Vec<u8> {
        self.request_in(ExchangeType::IkeAuth, payloads)
    }

    fn request_in(&mut self, exchange: ExchangeType, payloads: &[Payload<'_>]) -> Vec<u8> {
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        for p in payloads {
            c.push(p).unwrap();
        }
        let first = c.finish();
        let header = Header::new(self.spis.0, self.spis.1, exchange, Flags::INITIATOR, self.next_id);
        self.next_id += 1;
        seal(&self.suite, self.keys.sender(true), &header, first, &inner, &mut self.rng).unwrap()
    }

    fn first_request(&mut self) -> Vec<u8> {
        let transforms = vec![
            Transform::encryption(EncryptionId::AesCbc, Some(128)),
            Transform::integrity(IntegrityId::HmacSha2_256_128),
            Transform::esn(EsnId::NoEsn),
        ];
        let ts = |a: &str| {
            let SocketAddr::V4(a) = addr(a) else { unreachable!() };
            TrafficSelectors::new(vec![TrafficSelector::ipv4_host(*a.ip(), 17, Some(1701))])
        };
        self.request(&[
            Payload::IdentificationInitiator(Identification::new(IdType::Fqdn, IDI)),
            Payload::Notify(Notify::new(NotifyType::UseTransportMode, &[])),
            Payload::SecurityAssociation(SecurityAssociation {
                proposals: vec![Proposal::new(1, ProtocolId::Esp, &CHILD_SPI, transforms)],
            }),
            Payload::TrafficSelectorsInitiator(ts(CLIENT)),
            Payload::TrafficSelectorsResponder(ts(SERVER)),
        ])
    }

    fn eap(&mut self, code: EapCode, identifier: u8, ms: &MsChapV2<'_>) -> Vec<u8> {
        let mut data = Vec::new();
        ms.encode(&mut data).unwrap();
        self.request(&[Payload::ExtensibleAuthentication(Eap::new(
            code,
            identifier,
            EapType::MsChapV2,
            &data,
        ))])
    }

    fn read(&self, datagram: &[u8]) -> Reply {
        let m = Message::parse(datagram).unwrap();
        assert!(m.header.flags.response());
        assert_eq!(m.header.exchange_type, ExchangeType::IkeAuth);
        let opened = open(&self.suite, self.keys.sender(false), &m).unwrap();
        let mut r = Reply::default();
        for raw in PayloadIter::new(opened.first_inner, &opened.chain) {
            let raw = raw.unwrap();
            match raw.parse().unwrap() {
                Payload::IdentificationResponder(_) => r.idr_body = Some(raw.body.to_vec()),
                Payload::Authentication(a) => r.auth = Some((a.method, a.data.to_vec())),
                Payload::ExtensibleAuthentication(e) => {
                    r.eap = Some((e.code, e.identifier, e.eap_type, e.data.to_vec()));
                }
                Payload::Notify(n) => r.notifies.push(n.notify_type),
                Payload::SecurityAssociation(sa) => {
                    let p = &sa.proposals[0];
                    r.sa = Some((p.spi.to_vec(), p.number));
                }
                _ => {}
            }
        }
        r
    }
}

/// IKE_SA_INIT between our initiator and an EAP responder; returns the hand-played
/// client with the keys.
fn setup(now: Instant, seed: u64) -> (Client, Sa) {
    setup_with(now, seed, false)
}

/// As [`setup`]; `ask_identity`: the responder starts with EAP-Request/Identity.
fn setup_with(now: Instant, seed: u64, ask_identity: bool) -> (Client, Sa) {
    let mut ic = IkeSaConfig::new(b"unused", Identity::fqdn("client.example"), addr(CLIENT), addr(SERVER));
    let mut rc = IkeSaConfig::new(PSK, Identity::fqdn("server.example"), addr(SERVER), addr(CLIENT));
    for c in [&mut ic, &mut rc] {
        c.ike_lifetime = None;
        c.child.lifetime.time = None;
    }
    let mut init = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(seed), now).unwrap();
    let eap = EapConfig { name: b"l2sec".to_vec(), ask_identity };
    let mut server = IkeSa::respond_with_eap(rc, eap, ChaCha20Rng::seed_from_u64(seed + 100), now);
    let init_request = transmit(&mut init, now).unwrap();
    server.handle_input(now, &init_request).unwrap();
    let init_response = transmit(&mut server, now).unwrap();
    init.handle_input(now, &init_response).unwrap();
    let client = Client {
        suite: *init.suite().unwrap(),
        keys: init.keys().unwrap().clone(),
        spis: init.spis(),
        ni: nonce(&init_request),
        nr: nonce(&init_response),
        init_request,
        init_response,
        rng: ChaCha20Rng::seed_from_u64(seed + 200),
        next_id: 1,
    };
    (client, server)
}

fn transmit(m: &mut Sa, now: Instant) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    m.poll_transmit(now, &mut buf)?;
    Some(buf)
}

fn exchange(server: &mut Sa, now: Instant, request: &[u8]) -> Vec<u8> {
    server.handle_input(now, request).unwrap();
    let out = transmit(server, now).expect("a response");
    assert!(transmit(server, now).is_none());
    out
}

/// The owner's check: the user database knows alice / wonderland.
fn verdict(c: &MsChapV2Credentials) -> EapVerdict {
    if c.user != USER.as_bytes() {
        return EapVerdict::Reject;
    }
    let hash = nt_password_hash(PASSWORD);
    match mschapv2_verify(&hash, &c.authenticator_challenge, &c.peer_challenge, &c.user, &c.nt_response) {
        Some(o) => EapVerdict::Accept(EapAcceptance {
            authenticator_response: o.authenticator_response,
            message: "welcome".into(),
            msk: Msk::from_mschapv2(&o.mppe.send, &o.mppe.recv),
        }),
        None => EapVerdict::Reject,
    }
}

/// The first exchange: the responder authenticates with its PSK and challenges.
fn challenge(client: &mut Client, server: &mut Sa, now: Instant) -> (u8, [u8; 16]) {
    let req = client.first_request();
    let reply = client.read(&exchange(server, now, &req));
    let (method, auth) = reply.auth.expect("responder AUTH");
    assert_eq!(method, AuthMethod::SharedKeyMic);
    let idr = reply.idr_body.expect("IDr");
    let want = psk_auth(client.suite.prf, PSK, &client.init_response, &client.ni, &client.keys.sk_pr, &idr);
    assert!(want.ct_eq_bytes(&auth), "responder's PSK AUTH");
    assert!(reply.sa.is_none(), "no Child SA before EAP is done");
    let mut eap = reply.eap.expect("EAP request");
    if eap.2 == Some(EapType::Identity) {
        // RFC 3748 §5.1: answer the Identity Request first.
        assert_eq!((eap.0, eap.3.len()), (EapCode::Request, 0));
        let req = client.request(&[Payload::ExtensibleAuthentication(Eap::new(
            EapCode::Response,
            eap.1,
            EapType::Identity,
            USER.as_bytes(),
        ))]);
        let reply = client.read(&exchange(server, now, &req));
        let next = reply.eap.expect("EAP request after the identity");
        assert_eq!(next.1, eap.1.wrapping_add(1), "a new Identifier");
        eap = next;
    }
    let (code, identifier, eap_type, data) = eap;
    assert_eq!((code, eap_type), (EapCode::Request, Some(EapType::MsChapV2)));
    let MsChapV2::Challenge { id, challenge, name } = MsChapV2::parse(&data).unwrap() else {
        panic!("not a Challenge")
    };
    assert_eq!((id, name), (identifier, &b"l2sec"[..]));
    assert!(server.poll_event().is_none());
    (identifier, *challenge)
}

/// The Response, as the peer computes it with `password`.
fn response(
    client: &mut Client,
    identifier: u8,
    challenge: &[u8; 16],
    password: &str,
) -> (Vec<u8>, [u8; 24]) {
    let peer_challenge = [0x42; 16];
    let nt = mschapv2_nt_response(challenge, &peer_challenge, USER.as_bytes(), password);
    let ms = MsChapV2::Response {
        id: identifier,
        peer_challenge: &peer_challenge,
        reserved: &[0; 8],
        nt_response: &nt,
        flags: 0,
        name: USER.as_bytes(),
    };
    (client.eap(EapCode::Response, identifier, &ms), nt)
}

fn credentials(server: &mut Sa) -> MsChapV2Credentials {
    match server.poll_event() {
        Some(Event::EapMsChapV2(c)) => c,
        other => panic!("expected the EAP event, got {other:?}"),
    }
}

/// The whole conversation, accepted; returns the client-side MSK.
fn run_accept(client: &mut Client, server: &mut Sa, now: Instant, duplicate: bool) -> Msk {
    let (identifier, ch) = challenge(client, server, now);
    let (req, nt) = response(client, identifier, &ch, PASSWORD);
    server.handle_input(now, &req).unwrap();
    assert!(transmit(server, now).is_none(), "nothing before the owner answers");
    let creds = credentials(server);
    assert_eq!(creds.user, USER.as_bytes());
    assert_eq!(creds.authenticator_challenge, ch);
    assert_eq!(creds.peer_challenge, [0x42; 16]);
    assert_eq!(creds.nt_response, nt);
    let shown = format!("{creds:?}");
    assert!(shown.contains("alice") && !shown.contains(&format!("{:?}", creds.nt_response)), "{shown}");
    assert_eq!(creds.peer_id, Identity::fqdn("client.example"));
    let asked = client.next_id == 4;
    assert_eq!(creds.eap_identity, asked.then(|| USER.as_bytes().to_vec()));
    if duplicate {
        // The initiator retransmits while the owner decides: no second event, no answer.
        server.handle_input(now, &req).unwrap();
        assert!(transmit(server, now).is_none());
        assert!(server.poll_event().is_none());
    }
    server.answer_eap(now, verdict(&creds)).unwrap();
    assert!(server.answer_eap(now, EapVerdict::Reject).is_err(), "answered once");
    let success_request = transmit(server, now).unwrap();
    if duplicate {
        server.handle_input(now, &req).unwrap();
        assert_eq!(transmit(server, now).unwrap(), success_request, "the same answer again");
    }
    let reply = client.read(&success_request);
    let (code, id2, ty, data) = reply.eap.unwrap();
    assert_eq!((code, ty), (EapCode::Request, Some(EapType::MsChapV2)));
    assert_eq!(id2, identifier.wrapping_add(1));
    let MsChapV2::SuccessRequest { id, message } = MsChapV2::parse(&data).unwrap() else { panic!() };
    assert_eq!(id, identifier);
    // The peer checks the authenticator response (RFC 2759 §8.7).
    let hash = nt_password_hash(PASSWORD);
    let ar = mschapv2_authenticator_response(&hash, &nt, &[0x42; 16], &ch, USER.as_bytes());
    assert_eq!(parse_success_message(message), Some(ar));
    assert!(message.ends_with(b" M=welcome"));
    // Success Response → EAP-Success.
    let req = client.eap(EapCode::Response, id2, &MsChapV2::SuccessResponse);
    let reply = client.read(&exchange(server, now, &req));
    let (code, id3, ty, data) = reply.eap.unwrap();
    assert_eq!((code, id3, ty, data.len()), (EapCode::Success, id2, None, 0));
    // The client's MSK: its send key, its receive key, zeros.
    let master = mppe_master_key(&hash, &nt);
    let mut msk = [0u8; 64];
    msk[..16].copy_from_slice(&*mppe_asymmetric_start_key(&master, true, Side::Client));
    msk[16..32].copy_from_slice(&*mppe_asymmetric_start_key(&master, false, Side::Client));
    Msk::new(msk)
}

fn final_auth(client: &mut Client, msk: &Msk) -> Vec<u8> {
    let auth = psk_auth(
        client.suite.prf,
        msk.as_bytes(),
        &client.init_request,
        &client.nr,
        &client.keys.sk_pi,
        &idi_body(),
    );
    client.request(&[Payload::Authentication(Authentication::new(AuthMethod::SharedKeyMic, auth.as_bytes()))])
}

#[test]
fn accepted_user_gets_a_child_sa() {
    let now = Instant::now();
    let (mut client, mut server) = setup(now, 1);
    let msk = run_accept(&mut client, &mut server, now, false);
    let req = final_auth(&mut client, &msk);
    let reply = client.read(&exchange(&mut server, now, &req));
    // The responder's AUTH keyed with the MSK over its IKE_SA_INIT response.
    let idr = {
        let mut b = vec![u8::from(IdType::Fqdn), 0, 0, 0];
        b.extend_from_slice(b"server.example");
        b
    };
    let want = psk_auth(
        client.suite.prf,
        msk.as_bytes(),
        &client.init_response,
        &client.ni,
        &client.keys.sk_pr,
        &idr,
    );
    let (method, auth) = reply.auth.unwrap();
    assert_eq!(method, AuthMethod::SharedKeyMic);
    assert!(want.ct_eq_bytes(&auth), "responder's MSK AUTH");
    assert!(reply.notifies.contains(&NotifyType::UseTransportMode));
    let (spi_r, _) = reply.sa.expect("Child SA");
    let Some(Event::Established { child, peer_id, .. }) = server.poll_event() else {
        panic!("not established")
    };
    assert_eq!(server.state(), State::Established);
    assert_eq!(peer_id, Identity::fqdn("client.example"));
    assert_eq!(child.spi_out, u32::from_be_bytes(CHILD_SPI));
    assert_eq!(child.spi_in.to_be_bytes().to_vec(), spi_r);
    let (i2r, r2i) = child_keys(
        client.suite.prf,
        &client.keys.sk_d,
        None,
        &client.ni,
        &client.nr,
        EspEncryption::AesCbc { key_len: 16 },
        EspIntegrity::HmacSha256_128,
    )
    .unwrap();
    assert_eq!(child.keys_in, i2r);
    assert_eq!(child.keys_out, r2i);
    // The established SA answers the initiator's INFORMATIONAL with the next Message ID.
    assert!(server.poll_timeout().is_none());
}

/// The same, starting with EAP-Request/Identity (the default, what strongSwan needs).
#[test]
fn identity_first_then_challenge() {
    let now = Instant::now();
    let (mut client, mut server) = setup_with(now, 10, true);
    let msk = run_accept(&mut client, &mut server, now, false);
    let req = final_auth(&mut client, &msk);
    assert_eq!(client.next_id, 6, "five IKE_AUTH exchanges");
    let reply = client.read(&exchange(&mut server, now, &req));
    assert!(reply.sa.is_some());
    assert!(matches!(server.poll_event(), Some(Event::Established { .. })));
}

#[test]
fn duplicated_requests_are_answered_once() {
    let now = Instant::now();
    let (mut client, mut server) = setup(now, 2);
    let msk = run_accept(&mut client, &mut server, now, true);
    let req = final_auth(&mut client, &msk);
    let first = exchange(&mut server, now, &req);
    // The last response was lost: the retransmitted request gets it again.
    server.handle_input(now, &req).unwrap();
    assert_eq!(transmit(&mut server, now).unwrap(), first);
    let events: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(events[0], Event::Established { .. }));
}

#[test]
fn wrong_password_is_rejected_with_eap_failure() {
    let now = Instant::now();
    let (mut client, mut server) = setup(now, 3);
    let (identifier, ch) = challenge(&mut client, &mut server, now);
    let (req, _) = response(&mut client, identifier, &ch, "not-the-password");
    server.handle_input(now, &req).unwrap();
    let creds = credentials(&mut server);
    let v = verdict(&creds);
    assert!(matches!(v, EapVerdict::Reject));
    server.answer_eap(now, v).unwrap();
    // RFC 2759 §6: the MS-CHAPv2 Failure Request (E=691, no retry) first.
    let reply = client.read(&transmit(&mut server, now).unwrap());
    let (code, id2, ty, data) = reply.eap.unwrap();
    assert_eq!((code, id2, ty), (EapCode::Request, identifier.wrapping_add(1), Some(EapType::MsChapV2)));
    let MsChapV2::FailureRequest { id, message } = MsChapV2::parse(&data).unwrap() else { panic!() };
    assert_eq!(id, identifier);
    assert!(message.starts_with(b"E=691 R=0 C="), "{}", String::from_utf8_lossy(message));
    assert!(message.ends_with(b" V=3 M=authentication failed"));
    assert!(server.poll_event().is_none(), "not failed before the peer has seen the Failure Request");
    // The Failure Response gets EAP-Failure and AUTHENTICATION_FAILED.
    let req = client.eap(EapCode::Response, id2, &MsChapV2::FailureResponse);
    server.handle_input(now, &req).unwrap();
    let out = transmit(&mut server, now).unwrap();
    let reply = client.read(&out);
    assert_eq!(reply.eap.map(|e| (e.0, e.1)), Some((EapCode::Failure, id2)));
    assert!(reply.notifies.contains(&NotifyType::AuthenticationFailed));
    assert!(matches!(server.poll_event(), Some(Event::Failed(Error::AuthenticationFailed))));
    assert_eq!(server.state(), State::Failed);
    // The lost answer is sent again for the repeated request.
    server.handle_input(now, &req).unwrap();
    assert_eq!(transmit(&mut server, now).unwrap(), out);
}

/// strongSwan's way of ending after our Failure Request: an INFORMATIONAL request with
/// AUTHENTICATION_FAILED instead of a Failure Response. It is answered and ends the SA.
#[test]
fn informational_auth_failed_after_failure_request() {
    let now = Instant::now();
    let (mut client, mut server) = setup(now, 11);
    let (identifier, ch) = challenge(&mut client, &mut server, now);
    let (req, _) = response(&mut client, identifier, &ch, "guess");
    server.handle_input(now, &req).unwrap();
    let creds = credentials(&mut server);
    server.answer_eap(now, verdict(&creds)).unwrap();
    let reply = client.read(&transmit(&mut server, now).unwrap());
    let data = reply.eap.unwrap().3;
    assert!(matches!(MsChapV2::parse(&data).unwrap(), MsChapV2::FailureRequest { .. }));
    let info = client.request_in(
        ExchangeType::Informational,
        &[Payload::Notify(Notify::new(NotifyType::AuthenticationFailed, &[]))],
    );
    // A forged copy changes nothing.
    let mut forged = info.clone();
    let n = forged.len();
    forged[n - 1] ^= 0x80;
    assert!(server.handle_input(now, &forged).is_err());
    assert!(server.poll_event().is_none());
    server.handle_input(now, &info).unwrap();
    let out = transmit(&mut server, now).unwrap();
    let m = Message::parse(&out).unwrap();
    assert_eq!(m.header.exchange_type, ExchangeType::Informational);
    assert!(m.header.flags.response());
    assert_eq!(m.header.message_id, 3);
    open(&client.suite, client.keys.sender(false), &m).unwrap();
    assert!(matches!(server.poll_event(), Some(Event::Failed(Error::AuthenticationFailed))));
    assert_eq!(server.state(), State::Failed);
}

#[test]
fn wrong_msk_in_the_last_auth_fails() {
    let now = Instant::now();
    let (mut client, mut server) = setup(now, 4);
    let _ = run_accept(&mut client, &mut server, now, false);
    let req = final_auth(&mut client, &Msk::new([7; 64]));
    assert_eq!(server.handle_input(now, &req), Err(Error::AuthenticationFailed));
    let reply = client.read(&transmit(&mut server, now).unwrap());
    assert!(reply.notifies.contains(&NotifyType::AuthenticationFailed));
    assert!(reply.sa.is_none());
    assert!(matches!(server.poll_event(), Some(Event::Failed(Error::AuthenticationFailed))));
}

/// Forged, truncated or replayed datagrams at every step are dropped and change
/// nothing; the conversation then completes.
#[test]
fn bad_input_never_corrupts_state() {
    let now = Instant::now();
    let (mut client, mut server) = setup(now, 5);
    let tamper = |d: &[u8]| {
        let mut d = d.to_vec();
        let n = d.len();
        d[n - 1] ^= 1;
        d
    };
    let req = client.first_request();
    assert!(server.handle_input(now, &tamper(&req)).is_err());
    assert!(server.handle_input(now, &req[..req.len() - 3]).is_err());
    assert!(transmit(&mut server, now).is_none());
    client.next_id = 1;
    let (identifier, ch) = challenge(&mut client, &mut server, now);
    let (req, _) = response(&mut client, identifier, &ch, PASSWORD);
    assert!(server.handle_input(now, &tamper(&req)).is_err());
    assert!(server.poll_event().is_none());
    // Answering before anything was asked is refused.
    assert!(server.answer_eap(now, EapVerdict::Reject).is_err());
    server.handle_input(now, &req).unwrap();
    let creds = credentials(&mut server);
    // Another request while the owner decides is refused, the pending one kept.
    let other = client.eap(EapCode::Response, identifier, &MsChapV2::SuccessResponse);
    client.next_id -= 1;
    assert!(server.handle_input(now, &other).is_err());
    server.answer_eap(now, verdict(&creds)).unwrap();
    let reply = client.read(&transmit(&mut server, now).unwrap());
    let id2 = reply.eap.unwrap().1;
    let req = client.eap(EapCode::Response, id2, &MsChapV2::SuccessResponse);
    assert!(server.handle_input(now, &tamper(&req)).is_err());
    let reply = client.read(&exchange(&mut server, now, &req));
    assert_eq!(reply.eap.unwrap().0, EapCode::Success);
    assert_eq!(server.state(), State::InitReplied);
    assert!(server.poll_event().is_none());
}

/// An authentic but wrong EAP answer (a Nak) ends the exchange with EAP-Failure.
#[test]
fn nak_gets_eap_failure() {
    let now = Instant::now();
    let (mut client, mut server) = setup(now, 6);
    let (identifier, _) = challenge(&mut client, &mut server, now);
    // Legacy Nak asking for EAP-MD5 instead.
    let req = client.request(&[Payload::ExtensibleAuthentication(Eap::new(
        EapCode::Response,
        identifier,
        EapType::Nak,
        &[4],
    ))]);
    assert_eq!(server.handle_input(now, &req), Err(Error::AuthenticationFailed));
    let reply = client.read(&transmit(&mut server, now).unwrap());
    assert_eq!(reply.eap.unwrap().0, EapCode::Failure);
    assert!(matches!(server.poll_event(), Some(Event::Failed(Error::AuthenticationFailed))));
}

/// The owner never answers: the handshake timer ends the IKE SA.
#[test]
fn owner_silence_times_out() {
    let now = Instant::now();
    let (mut client, mut server) = setup(now, 7);
    let (identifier, ch) = challenge(&mut client, &mut server, now);
    let (req, _) = response(&mut client, identifier, &ch, PASSWORD);
    server.handle_input(now, &req).unwrap();
    let _ = credentials(&mut server);
    let deadline = server.poll_timeout().expect("handshake deadline");
    assert!(deadline <= now + Duration::from_secs(30));
    server.handle_timeout(deadline);
    assert!(matches!(server.poll_event(), Some(Event::Failed(Error::Timeout))));
    assert!(server.answer_eap(deadline, EapVerdict::Reject).is_err());
}

/// An initiator that authenticates with the PSK instead of EAP is refused.
#[test]
fn psk_initiator_refused_by_eap_responder() {
    let now = Instant::now();
    let ic = IkeSaConfig::new(PSK, Identity::fqdn("client.example"), addr(CLIENT), addr(SERVER));
    let rc = IkeSaConfig::new(PSK, Identity::fqdn("server.example"), addr(SERVER), addr(CLIENT));
    let mut init = IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(8), now).unwrap();
    let mut server = IkeSa::respond_with_eap(rc, EapConfig::default(), ChaCha20Rng::seed_from_u64(9), now);
    for _ in 0..2 {
        let a = transmit(&mut init, now).unwrap();
        let _ = server.handle_input(now, &a);
        let b = transmit(&mut server, now).unwrap();
        let _ = init.handle_input(now, &b);
    }
    assert!(matches!(server.poll_event(), Some(Event::Failed(Error::AuthenticationFailed))));
    assert!(matches!(init.poll_event(), Some(Event::Failed(Error::AuthenticationFailed))));
}

/// Sends `request` `copies` times (the initiator's retransmissions after lost responses):
/// the first is processed, every copy gets the very same response.
fn lossy_exchange(server: &mut Sa, now: Instant, request: &[u8], copies: u8) -> Vec<u8> {
    let first = exchange(server, now, request);
    for _ in 1..copies {
        assert_eq!(exchange(server, now, request), first, "the same response to a retransmission");
    }
    first
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
    /// The whole EAP conversation with every request retransmitted 1-3 times (its
    /// responses lost), also while the owner decides: one EAP event, one Established.
    #[test]
    fn lossy_conversation_establishes_once(copies in proptest::collection::vec(1u8..4, 6), seed in 20u64..1000) {
        let now = Instant::now();
        let (mut client, mut server) = setup_with(now, seed, true);
        let req = client.first_request();
        let reply = client.read(&lossy_exchange(&mut server, now, &req, copies[0]));
        let id = reply.eap.unwrap().1;
        let req = client.request(&[Payload::ExtensibleAuthentication(Eap::new(
            EapCode::Response, id, EapType::Identity, USER.as_bytes(),
        ))]);
        let reply = client.read(&lossy_exchange(&mut server, now, &req, copies[1]));
        let (_, id, _, data) = reply.eap.unwrap();
        let MsChapV2::Challenge { challenge, .. } = MsChapV2::parse(&data).unwrap() else { panic!() };
        let (req, _) = response(&mut client, id, challenge, PASSWORD);
        for _ in 0..copies[2] {
            server.handle_input(now, &req).unwrap();
            proptest::prop_assert!(transmit(&mut server, now).is_none());
        }
        let creds = credentials(&mut server);
        proptest::prop_assert!(server.poll_event().is_none());
        server.answer_eap(now, verdict(&creds)).unwrap();
        let first = transmit(&mut server, now).unwrap();
        for _ in 1..copies[3] {
            proptest::prop_assert_eq!(exchange(&mut server, now, &req), first.clone());
        }
        let id = client.read(&first).eap.unwrap().1;
        let req = client.eap(EapCode::Response, id, &MsChapV2::SuccessResponse);
        let reply = client.read(&lossy_exchange(&mut server, now, &req, copies[4]));
        proptest::prop_assert_eq!(reply.eap.unwrap().0, EapCode::Success);
        let hash = nt_password_hash(PASSWORD);
        let nt = mschapv2_nt_response(challenge, &[0x42; 16], USER.as_bytes(), PASSWORD);
        let master = mppe_master_key(&hash, &nt);
        let mut msk = [0u8; 64];
        msk[..16].copy_from_slice(&*mppe_asymmetric_start_key(&master, true, Side::Client));
        msk[16..32].copy_from_slice(&*mppe_asymmetric_start_key(&master, false, Side::Client));
        let req = final_auth(&mut client, &Msk::new(msk));
        let reply = client.read(&lossy_exchange(&mut server, now, &req, copies[5]));
        proptest::prop_assert!(reply.sa.is_some());
        let events: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
        proptest::prop_assert_eq!(events.len(), 1);
        let established = matches!(events[0], Event::Established { .. });
        proptest::prop_assert!(established, "not established: {:?}", events);
    }
}

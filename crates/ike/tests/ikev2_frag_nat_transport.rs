//! RFC 7296 §2.23.1, transport mode across a NAT: the responder answers the initiator's
//! traffic selectors with the addresses it sees (the NAT's), as strongSwan does; our
//! initiator must accept that answer and keep its own view of the addresses. (This file
//! sits beside the fragmentation tests because the same change brought it.)
//!
//! The responder here is ours, so its IKE_AUTH response is rewritten on the wire (opened
//! with its keys, TSi replaced by the NAT's address, sealed again) to play the part.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use l2sec_ike::Error;
use l2sec_ike::v2::ike_sa::{ChildConfig, Event, Identity, IkeSa, IkeSaConfig, State};
use l2sec_ike::v2::keys::{open, seal};
use l2sec_ike::wire::v2::{
    ChainBuilder, ExchangeType, Message, Payload, PayloadIter, PayloadType, TrafficSelector, TrafficSelectors,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Sa = IkeSa<ChaCha20Rng>;

const PRIVATE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const NAT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

fn l2tp(a: Ipv4Addr) -> TrafficSelector<'static> {
    TrafficSelector::ipv4_host(a, 17, Some(1701))
}

/// The client behind the NAT proposes its own address; the server allows any L2TP peer.
fn pair(now: Instant, transport: bool) -> (Sa, Sa) {
    let client: SocketAddr = (PRIVATE, 500).into();
    let server: SocketAddr = (SERVER, 500).into();
    let seen: SocketAddr = (NAT, 4500).into();
    let mut ic = IkeSaConfig::new(b"psk", Identity::fqdn("client"), client, server);
    let mut rc = IkeSaConfig::new(b"psk", Identity::fqdn("server"), server, seen);
    ic.child = ChildConfig::l2tp(PRIVATE.into(), SERVER.into());
    rc.child = ChildConfig::l2tp(SERVER.into(), NAT.into());
    rc.child.remote_ts = vec![TrafficSelector::Ipv4 {
        ip_protocol: 17,
        start_port: 1701,
        end_port: 1701,
        start: Ipv4Addr::UNSPECIFIED,
        end: Ipv4Addr::BROADCAST,
    }];
    if !transport {
        ic.child.mode = l2sec_ike::child::EspMode::Tunnel;
        rc.child.mode = l2sec_ike::child::EspMode::Tunnel;
    }
    (
        IkeSa::initiate(ic, ChaCha20Rng::seed_from_u64(1), now).unwrap(),
        IkeSa::respond(rc, ChaCha20Rng::seed_from_u64(2), now),
    )
}

fn one(m: &mut Sa, now: Instant) -> Vec<u8> {
    let mut buf = Vec::new();
    m.poll_transmit(now, &mut buf).expect("a datagram");
    assert!(m.poll_transmit(now, &mut Vec::new()).is_none(), "one datagram expected");
    buf
}

/// The responder's IKE_AUTH response with TSi replaced by the NAT's view.
fn as_the_nat_sees_it(r: &Sa, response: &[u8]) -> Vec<u8> {
    let m = Message::parse(response).unwrap();
    assert_eq!(m.header.exchange_type, ExchangeType::IkeAuth);
    let keys = r.keys().unwrap().sender(false);
    let opened = open(r.suite().unwrap(), keys, &m).unwrap();
    let mut chain = Vec::new();
    let mut c = ChainBuilder::new(&mut chain);
    let mut replaced = false;
    for raw in PayloadIter::new(opened.first_inner, &opened.chain) {
        let raw = raw.unwrap();
        if raw.payload_type == PayloadType::TrafficSelectorsInitiator {
            let Payload::TrafficSelectorsInitiator(ts) = raw.parse().unwrap() else { unreachable!() };
            assert_eq!(ts.selectors, vec![l2tp(PRIVATE)], "the responder narrowed to the offer");
            c.push(&Payload::TrafficSelectorsInitiator(TrafficSelectors::new(vec![l2tp(NAT)]))).unwrap();
            replaced = true;
        } else {
            c.push_raw(&raw).unwrap();
        }
    }
    assert!(replaced);
    let first = c.finish();
    seal(r.suite().unwrap(), keys, &m.header, first, &chain, &mut ChaCha20Rng::seed_from_u64(3)).unwrap()
}

fn handshake(transport: bool) -> (Sa, Sa) {
    let now = Instant::now();
    let (mut i, mut r) = pair(now, transport);
    r.handle_input(now, &one(&mut i, now)).unwrap();
    i.handle_input(now, &one(&mut r, now)).unwrap();
    assert!(i.nat_status().local_behind_nat, "{:?}", i.nat_status());
    r.handle_input(now, &one(&mut i, now)).unwrap();
    let response = one(&mut r, now);
    let response = as_the_nat_sees_it(&r, &response);
    let _ = i.handle_input(now, &response);
    (i, r)
}

#[test]
fn transport_mode_behind_nat_accepts_the_nat_address_in_tsi() {
    let (mut i, _r) = handshake(true);
    assert_eq!(i.state(), State::Established);
    let ev: Vec<Event> = std::iter::from_fn(|| i.poll_event()).collect();
    let [Event::Established { local_ts, remote_ts, nat, .. }] = ev.as_slice() else {
        panic!("not established: {ev:?}")
    };
    assert!(nat.nat_detected());
    // Our own view: the private address, not the NAT's.
    assert_eq!(local_ts, &vec![l2tp(PRIVATE)]);
    assert_eq!(remote_ts, &vec![l2tp(SERVER)]);
}

/// In tunnel mode the selectors are inner addresses and the answer must fit the offer.
#[test]
fn tunnel_mode_still_refuses_foreign_selectors() {
    let (mut i, _r) = handshake(false);
    assert_eq!(i.state(), State::Failed);
    let ev: Vec<Event> = std::iter::from_fn(|| i.poll_event()).collect();
    assert!(matches!(ev.as_slice(), [Event::Failed(Error::NoProposalChosen)]), "{ev:?}");
}

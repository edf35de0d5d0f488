//! A sans-IO RADIUS client for a VPN server acting as NAS: it authenticates PPP users
//! (PAP, CHAP, MS-CHAPv2, EAP pass-through) and accounts for their sessions.
//!
//! * [`wire`]: the packet codec (RFC 2865 §3), zero-copy [`Packet`] views and a
//!   [`PacketWriter`];
//! * [`attr`] and [`ms`]: every standard attribute typed (RFC 2865, 2866, 2867, 2868, 2869,
//!   3579) and the Microsoft vendor-specific attributes (RFC 2548); unknown attributes
//!   kept raw;
//! * [`crypto`]: authenticators, Message-Authenticator, User-Password hiding, salted MPPE
//!   key and Tunnel-Password encryption;
//! * [`request`] / [`reply`]: what the NAS asks and what it gets back;
//! * [`client`]: the state machine: Identifiers over several source ports, retransmission
//!   with back-off (RFC 5080), failover, dead-server detection with Status-Server
//!   (RFC 5997), a bounded queue, and Message-Authenticator required on every response
//!   (Blast-RADIUS, CVE-2024-3596).
//!
//! Time is an argument, randomness is injected, and nothing here does I/O.
//!
//! # Example
//!
//! ```
//! use std::time::Instant;
//! use l2sec_radius_auth::{
//!     AccessRequest, Client, ClientConfig, Event, NasIdentity, Reply, ServerConfig, ServerRole,
//! };
//! use l2sec_radius_auth::wire::{Code, Packet, PacketWriter};
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let server = "127.0.0.1:1812".parse().unwrap();
//! let nas = NasIdentity { identifier: Some("vpn1".into()), ..NasIdentity::default() };
//! let config = ClientConfig::new(nas, vec![ServerConfig::new(server, "s3cret", ServerRole::Authentication)]);
//! let mut client = Client::new(config, ChaCha20Rng::seed_from_u64(1)).unwrap();
//!
//! let now = Instant::now();
//! let handle = client.authenticate(now, AccessRequest::pap("alice", "alicepass")).unwrap();
//! let mut buf = Vec::new();
//! let t = client.poll_transmit(now, &mut buf).unwrap();
//! assert_eq!(t.destination, server);
//!
//! // Play the server: answer with an Access-Accept carrying a Message-Authenticator.
//! let request = Packet::parse(&buf).unwrap();
//! let mut answer = Vec::new();
//! let mut w = PacketWriter::new(&mut answer, Code::ACCESS_ACCEPT, request.identifier(), [0; 16]);
//! w.push_message_authenticator().unwrap();
//! w.finish_response(&request.authenticator(), b"s3cret");
//!
//! client.handle_input(now, t.socket, server, &answer).unwrap();
//! match client.poll_event() {
//!     Some(Event::Reply { handle: h, reply: Reply::AccessAccept(_), .. }) => assert_eq!(h, handle),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```
#![forbid(unsafe_code)]

pub mod attr;
pub mod client;
pub mod crypto;
pub mod error;
pub mod ms;
pub mod reply;
pub mod request;
pub mod wire;

/// The `rand_core` this crate takes its RNG trait from, so that owners (and fuzz targets)
/// name the same version.
pub use rand_core;

pub use attr::Attribute;
pub use client::{
    Client, ClientConfig, Event, RequestHandle, RetransmitPolicy, Secret, ServerConfig, ServerHealth,
    ServerRole, Transmit,
};
pub use error::{EncodeError, Error, ParseError};
pub use ms::MsAttribute;
pub use reply::{AccessAccept, AccessChallenge, AccessReject, MppeKeys, MsChap2Success, Reply};
pub use request::{
    AccessRequest, AccountingRequest, Credentials, NasIdentity, SessionCounters, SessionInfo, TunnelInfo,
};
pub use wire::{Code, Packet, PacketWriter};

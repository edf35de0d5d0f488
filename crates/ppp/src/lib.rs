//! Sans-IO PPP (RFC 1661) for l2sec: LCP, PAP, CHAP-MD5, MS-CHAPv1/v2, IPCP and IPV6CP,
//! as the peer (VPN client) or the authenticator (VPN server), for frames carried over
//! L2TP (no HDLC framing; the `FF 03` address/control prefix optional on input).
//!
//! # Shape
//!
//! A [`Session`] owns no socket, clock or thread. The owner feeds it what happens and drains
//! what it must do:
//!
//! * [`Session::open`] when the lower layer (the L2TP session) is up;
//!   [`Session::lower_down`] when it goes away; [`Session::close`] to hang up.
//! * [`Session::handle_input`] with every PPP frame received. It returns the IPv4/IPv6
//!   datagram the frame carried, borrowed from the input, once the matching NCP is Opened.
//! * [`Session::handle_timeout`] when [`Session::poll_timeout`] has passed.
//! * After **each** of these calls: drain [`Session::poll_transmit`] (frames to send, written
//!   into the caller's buffer) and [`Session::poll_event`] (what the owner must know or
//!   decide) until both return `None`, then re-read [`Session::poll_timeout`].
//! * The authenticator never decides by itself: [`Event::Authenticate`] carries what the
//!   peer presented (for MS-CHAPv2 the two challenges and the NT-Response), and the owner
//!   answers with [`Session::answer_auth`] — from a local [`secrets::ChapSecrets`] file or
//!   from RADIUS (whose MS-CHAP2-Success and MPPE keys go into [`Acceptance`]).
//! * [`Session::encode_datagram`] frames an outgoing IP packet.
//!
//! Randomness (Magic-Numbers, challenges, interface identifiers) comes from the
//! `rand_core::CryptoRng` given to [`Session::new`].
//!
//! # Example: both ends in one process
//!
//! ```
//! use std::time::Instant;
//! use l2sec_ppp::{AuthMethod, Config, Event, PeerCredentials, Session};
//! use l2sec_ppp::secrets::ChapSecrets;
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let mut server_cfg = Config::authenticator("vpn");
//! server_cfg.auth_methods = vec![AuthMethod::MsChapV2];
//! server_cfg.ipcp.local = Some([192, 0, 2, 1].into());
//! server_cfg.ipcp.peer = Some([192, 0, 2, 10].into());
//! server_cfg.ipcp.dns = [Some([192, 0, 2, 53].into()), None];
//! let mut server = Session::new(server_cfg, ChaCha20Rng::seed_from_u64(1));
//! let mut client = Session::new(
//!     Config::peer(PeerCredentials::new("msuser", "mspass")),
//!     ChaCha20Rng::seed_from_u64(2),
//! );
//! let users = ChapSecrets::parse("msuser * mspass *").unwrap();
//!
//! let now = Instant::now();
//! server.open(now);
//! client.open(now);
//! let mut buf = Vec::new();
//! for _ in 0..20 {
//!     while server.poll_transmit(now, &mut buf).is_some() {
//!         client.handle_input(now, &buf).unwrap();
//!         buf.clear();
//!     }
//!     while let Some(ev) = server.poll_event() {
//!         if let Event::Authenticate(req) = ev {
//!             let verdict = users.verify("vpn", &req);
//!             server.answer_auth(now, req.id, verdict).unwrap();
//!         }
//!     }
//!     while client.poll_transmit(now, &mut buf).is_some() {
//!         server.handle_input(now, &buf).unwrap();
//!         buf.clear();
//!     }
//!     while client.poll_event().is_some() {}
//! }
//! let ip = client.ipv4().expect("IPCP opened");
//! assert_eq!(ip.local, std::net::Ipv4Addr::new(192, 0, 2, 10));
//! assert_eq!(ip.dns[0], Some(std::net::Ipv4Addr::new(192, 0, 2, 53)));
//! ```
//!
//! # Modules
//!
//! * [`wire`]: frames, LCP/NCP/PAP/CHAP packets and options (zero-copy views, exact
//!   re-encoding).
//! * [`fsm`]: the RFC 1661 §4 automaton, shared by LCP, IPCP and IPV6CP.
//! * [`lcp`], [`ncp`]: option negotiation settings and results.
//! * [`auth`]: authentication types (requests, verdicts, failures).
//! * [`crypto`]: CHAP-MD5, MS-CHAPv1, MS-CHAPv2 and MPPE key derivation (RFC 3079).
//! * [`secrets`]: a pppd-style `chap-secrets` reader and local verifier.
//!
//! Not implemented: CCP/MPPE encryption of the data plane (CCP is answered with
//! Protocol-Reject), EAP (rejected, or Nak'd toward a configured method), the MS-CHAPv2
//! Change-Password exchange (error 648 is reported to the owner), multilink, LQR.
#![forbid(unsafe_code)]

pub mod auth;
mod cp;
pub mod crypto;
pub mod fsm;
pub mod lcp;
pub mod ncp;
pub mod secrets;
pub mod session;
pub mod wire;

pub use auth::{
    Acceptance, AuthFailure, AuthMethod, AuthRequest, AuthRequestId, AuthVerdict, Authenticated, Credentials,
    PeerCredentials, Rejection,
};
pub use crypto::MppeKeys;
/// The `rand_core` this crate takes its random number generator from.
pub use rand_core;
pub use session::{Config, Datagram, Error, Event, Phase, Role, Session, Stats, Timer, Transmit};

//! Sans-IO L2TPv2 (RFC 2661) for l2sec: LAC and LNS.
//!
//! The crate never touches a socket or a clock. The owner receives UDP payloads and hands
//! them to an [`Endpoint`] with the current time, sends what [`Endpoint::poll_transmit`]
//! writes into its buffer, reacts to [`Event`]s and calls [`Endpoint::handle_timeout`] at
//! [`Endpoint::poll_timeout`]. Peers are named by any `P` the owner chooses (a `SocketAddr`,
//! or an ESP SA plus inner ports when L2TP rides in ESP transport mode), so the same code
//! runs over plain UDP or inside IPsec.
//!
//! - [`wire`]: zero-copy header and AVP views with typed values for every RFC 2661 §4.4 AVP;
//!   `encode(parse(x)) == x`.
//! - [`TunnelSecret`]: Challenge Response (§4.4.3) and hidden AVPs (§4.3).
//! - [`Endpoint`]: control connections (§7.2) with reliable delivery (§5.8), sessions
//!   (§7.4, §7.5) and the data path.
//!
//! # When to call what
//!
//! - [`Endpoint::handle_input`] for every UDP payload received from a peer. Control messages
//!   are processed; a data message returns [`Input::Data`] with the PPP frame borrowed from
//!   the datagram. An `Err` means the datagram was dropped and nothing changed.
//! - [`Endpoint::handle_timeout`] whenever [`Endpoint::poll_timeout`] has passed
//!   (retransmissions, delayed ZLB acknowledgements, HELLO, forgetting closed tunnels).
//! - After any input, timeout or command: [`Endpoint::poll_transmit`] until `None` (each
//!   call appends one datagram to the buffer and says where it goes), then
//!   [`Endpoint::poll_event`] until `None`.
//! - Commands: [`Endpoint::connect`], [`Endpoint::open_session`], [`Endpoint::accept_call`],
//!   [`Endpoint::close_session`],
//!   [`Endpoint::close_tunnel`], [`Endpoint::wan_error_notify`], [`Endpoint::set_link_info`],
//!   [`Endpoint::shutdown`]; PPP frames go out with [`Endpoint::encapsulate`], which writes
//!   the datagram straight into the caller's buffer.
//!
//! Incoming tunnels (SCCRQ) are accepted within the limits of [`Config`] and reported with
//! [`Event::TunnelUp`]. Incoming calls (ICRQ) are answered at once by default; with
//! `Config::answer_calls_automatically = false` the decision goes out as
//! [`Event::IncomingCall`] and comes back as [`Endpoint::accept_call`] or
//! [`Endpoint::close_session`]. The owner may close anything at any time.
//!
//! # Run loop
//!
//! ```
//! use std::time::{Duration, Instant};
//! use l2sec_l2tp::{Config, Endpoint, Event, Input};
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! // A LAC and an LNS wired back to back; peers are named by a small integer.
//! let mut lac = Endpoint::new(Config::default(), ChaCha20Rng::seed_from_u64(1));
//! let mut lns = Endpoint::new(Config::default(), ChaCha20Rng::seed_from_u64(2));
//! let now = Instant::now();
//! let tunnel = lac.connect(now, 2u8).unwrap();
//! let session = lac.open_session(now, tunnel).unwrap();
//!
//! let mut buf = Vec::new();
//! for _ in 0..10 {
//!     // Deliver everything each side wants to send to the other.
//!     while let Some(t) = lac.poll_transmit(now, &mut buf) {
//!         lns.handle_input(now, 1u8, &buf[buf.len() - t.size..]).unwrap();
//!     }
//!     buf.clear();
//!     while let Some(t) = lns.poll_transmit(now, &mut buf) {
//!         lac.handle_input(now, 2u8, &buf[buf.len() - t.size..]).unwrap();
//!     }
//!     buf.clear();
//! }
//! let events: Vec<Event> = std::iter::from_fn(|| lac.poll_event()).collect();
//! assert!(events.iter().any(|e| matches!(e, Event::SessionUp { .. })));
//!
//! // A PPP frame from the LAC to the LNS, decapsulated without a copy.
//! let t = lac.encapsulate(session, &[0xff, 0x03, 0xc0, 0x21], &mut buf).unwrap();
//! match lns.handle_input(now, 1u8, &buf[..t.size]).unwrap() {
//!     Input::Data { ppp, .. } => assert_eq!(ppp, &[0xff, 0x03, 0xc0, 0x21]),
//!     other => panic!("expected data, got {other:?}"),
//! }
//! # let _ = Duration::ZERO;
//! ```
#![forbid(unsafe_code)]

mod attrs;
mod config;
mod endpoint;
mod event;
mod reliable;
mod secret;
mod session;
mod tunnel;
pub mod wire;

/// The `rand_core` this crate takes its generator from, so owners name the same trait version.
pub use rand_core;

pub use config::Config;
pub use endpoint::{Endpoint, Input, SessionInfo, TunnelInfo};
pub use event::{
    CloseReason, Error, Event, SessionHandle, Transmit, TunnelId, cdn_result, error_code, stopccn_result,
};
pub use secret::TunnelSecret;
pub use session::SessionState;
pub use tunnel::TunnelState;

//! Sans-IO PPP (RFC 1661) for l2sec: LCP, PAP, CHAP-MD5, MS-CHAPv1/v2, IPCP and IPV6CP,
//! as the peer (VPN client) or the authenticator (VPN server), over L2TP.
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

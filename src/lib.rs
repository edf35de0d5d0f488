//! l2sec: an L2TP/IPsec VPN toolkit in Rust.
//!
//! This root package composes the sans-IO protocol crates into a VPN endpoint. The
//! protocol crates are re-exported here so that one dependency brings the whole stack:
//!
//! | module | crate | protocol |
//! |---|---|---|
//! | [`esp`] | `l2sec-esp` | ESP data plane (RFC 4303), UDP encapsulation (RFC 3948) |
//! | [`ike`] | `l2sec-ike` | IKEv1 (RFC 2409) and IKEv2 (RFC 7296) |
//! | [`l2tp`] | `l2sec-l2tp` | L2TPv2 (RFC 2661) |
//! | [`ppp`] | `l2sec-ppp` | PPP (RFC 1661) and its authentication protocols |
//! | [`radius`] | `l2sec-radius-auth` | RADIUS client (RFC 2865/2866) |
//!
//! The composition so far: [`lns::Lns`], the L2TP network server with a PPP authenticator
//! per session and an [`pool::AddressPool`] of client addresses. IKE, the ESP data path
//! and the socket driver join it as the key exchange lands.
#![forbid(unsafe_code)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod cert;
pub mod client;
pub mod config;
pub mod driver;
pub mod ike_v1;
pub mod ike_v2;
pub mod ipsec_lns;
pub mod lns;
pub mod mtu;
pub mod pool;
pub mod radius_ppp;
pub mod signals;
pub mod tun;
pub mod virtual_net;

pub use l2sec_esp as esp;
pub use l2sec_ike as ike;
pub use l2sec_l2tp as l2tp;
pub use l2sec_ppp as ppp;
pub use l2sec_radius_auth as radius;

//! Authentication phase, both roles: PAP (RFC 1334), CHAP-MD5 (RFC 1994), MS-CHAPv1
//! (RFC 2433) and MS-CHAPv2 (RFC 2759).
//!
//! The authenticator never decides by itself: it emits [`AuthRequest`] (inside
//! [`crate::Event::Authenticate`]) with everything a verifier needs, and the owner answers
//! with [`AuthVerdict`] through [`crate::Session::answer_auth`]. [`crate::secrets`] is a
//! ready-made local verifier.

use std::net::Ipv4Addr;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::MppeKeys;
use crate::wire::{AuthProtocol, chap_algorithm};

/// An authentication method negotiated in LCP (RFC 1661 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// PAP, RFC 1334 (the password travels in clear).
    Pap,
    /// CHAP with MD5, RFC 1994.
    ChapMd5,
    /// MS-CHAP version 1, RFC 2433.
    MsChapV1,
    /// MS-CHAP version 2, RFC 2759.
    MsChapV2,
}

impl AuthMethod {
    /// The Authentication-Protocol option value for this method.
    #[must_use]
    pub fn protocol(self) -> AuthProtocol<'static> {
        match self {
            AuthMethod::Pap => AuthProtocol::Pap,
            AuthMethod::ChapMd5 => AuthProtocol::Chap(chap_algorithm::MD5),
            AuthMethod::MsChapV1 => AuthProtocol::Chap(chap_algorithm::MSCHAP),
            AuthMethod::MsChapV2 => AuthProtocol::Chap(chap_algorithm::MSCHAP_V2),
        }
    }

    /// The method an Authentication-Protocol option asks for, if this crate implements it
    /// (EAP is not implemented: it is rejected, or Nak'd toward a configured method).
    #[must_use]
    pub fn from_protocol(p: AuthProtocol<'_>) -> Option<Self> {
        match p {
            AuthProtocol::Pap => Some(AuthMethod::Pap),
            AuthProtocol::Chap(chap_algorithm::MD5) => Some(AuthMethod::ChapMd5),
            AuthProtocol::Chap(chap_algorithm::MSCHAP) => Some(AuthMethod::MsChapV1),
            AuthProtocol::Chap(chap_algorithm::MSCHAP_V2) => Some(AuthMethod::MsChapV2),
            _ => None,
        }
    }

    /// Whether the method runs over the CHAP protocol number.
    #[must_use]
    pub fn is_chap(self) -> bool {
        !matches!(self, AuthMethod::Pap)
    }
}

/// The peer's credentials (user name and password), zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PeerCredentials {
    /// The user name sent as Peer-ID (PAP) or Name (CHAP).
    pub username: String,
    /// The password.
    pub password: String,
}

impl PeerCredentials {
    /// Credentials from a user name and a password.
    #[must_use]
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        PeerCredentials { username: username.into(), password: password.into() }
    }
}

impl std::fmt::Debug for PeerCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerCredentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// Identifies one pending authentication decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthRequestId(pub u64);

/// What the peer presented, with everything a verifier needs.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
#[non_exhaustive]
pub enum Credentials {
    /// PAP Authenticate-Request (RFC 1334 §2.2.1).
    Pap {
        /// The clear-text password.
        password: Vec<u8>,
    },
    /// CHAP-MD5 Response (RFC 1994 §4.1): check MD5(identifier ‖ secret ‖ challenge).
    ChapMd5 {
        /// The CHAP identifier of the exchange.
        identifier: u8,
        /// The challenge we sent.
        challenge: Vec<u8>,
        /// The 16-octet response.
        response: [u8; 16],
    },
    /// MS-CHAPv1 Response (RFC 2433 §3).
    MsChapV1 {
        /// The CHAP identifier (RADIUS MS-CHAP-Response carries it as Ident, RFC 2548).
        identifier: u8,
        /// The 8-octet challenge we sent.
        challenge: [u8; 8],
        /// The LM response (usually zero).
        lm_response: [u8; 24],
        /// The NT response.
        nt_response: [u8; 24],
        /// The use-NT flag.
        use_nt: bool,
    },
    /// MS-CHAPv2 Response (RFC 2759 §4).
    MsChapV2 {
        /// The CHAP identifier (RADIUS MS-CHAP2-Response carries it as Ident, RFC 2548
        /// §2.3.2, and MS-CHAP2-Success echoes it).
        identifier: u8,
        /// The 16-octet authenticator challenge we sent.
        authenticator_challenge: [u8; 16],
        /// The peer's 16-octet challenge.
        peer_challenge: [u8; 16],
        /// The 24-octet NT-Response.
        nt_response: [u8; 24],
        /// The flags octet.
        flags: u8,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Credentials::Pap { .. } => "Pap",
            Credentials::ChapMd5 { .. } => "ChapMd5",
            Credentials::MsChapV1 { .. } => "MsChapV1",
            Credentials::MsChapV2 { .. } => "MsChapV2",
        };
        write!(f, "Credentials::{name}{{..}}")
    }
}

impl Credentials {
    /// The method these credentials belong to.
    #[must_use]
    pub fn method(&self) -> AuthMethod {
        match self {
            Credentials::Pap { .. } => AuthMethod::Pap,
            Credentials::ChapMd5 { .. } => AuthMethod::ChapMd5,
            Credentials::MsChapV1 { .. } => AuthMethod::MsChapV1,
            Credentials::MsChapV2 { .. } => AuthMethod::MsChapV2,
        }
    }
}

/// A request for an authentication decision (authenticator role).
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// Pass this back in [`crate::Session::answer_auth`].
    pub id: AuthRequestId,
    /// The name the peer gave (PAP Peer-ID, CHAP Name), raw.
    pub username: Vec<u8>,
    /// What the peer presented.
    pub credentials: Credentials,
}

/// The owner's answer to an [`AuthRequest`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthVerdict {
    /// Access granted.
    Accept(Acceptance),
    /// Access denied.
    Reject(Rejection),
}

/// Details of an accepted authentication.
#[derive(Clone, Default)]
pub struct Acceptance {
    /// Text for the Success/Ack message (MS-CHAPv2: the `M=` part).
    pub message: String,
    /// MS-CHAPv2: the authenticator response for `S=` (RFC 2759 §8.7). Required for
    /// MS-CHAPv2; RADIUS carries it in MS-CHAP2-Success.
    pub authenticator_response: Option<[u8; 20]>,
    /// MPPE keys from the verifier (RADIUS MS-MPPE-Send/Recv-Key), exposed in
    /// [`crate::Event::Authenticated`].
    pub mppe: Option<MppeKeys>,
    /// An address to assign the peer (RADIUS Framed-IP-Address), overriding the
    /// configured one.
    pub peer_address: Option<Ipv4Addr>,
}

impl std::fmt::Debug for Acceptance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptance")
            .field("message", &self.message)
            .field("peer_address", &self.peer_address)
            .finish_non_exhaustive()
    }
}

/// Details of a rejected authentication.
#[derive(Debug, Clone, Default)]
pub struct Rejection {
    /// Text for the Failure/Nak message.
    pub message: String,
    /// MS-CHAP error code (RFC 2759 §6); 691 when `None`.
    pub mschap_error: Option<u32>,
    /// MS-CHAPv2: allow the peer to retry with a new challenge (`R=1`), if the session's
    /// retry budget allows.
    pub retry: bool,
}

/// Why authentication failed (reported in [`crate::Event::AuthFailed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The owner rejected the peer (authenticator role).
    Rejected {
        /// The message sent.
        message: String,
    },
    /// The authenticator refused us: PAP Nak or CHAP Failure (peer role).
    Refused {
        /// MS-CHAP error code, if any (648 = password expired, 691 = bad credentials).
        mschap_error: Option<u32>,
        /// Whether the authenticator allowed a retry.
        retry: bool,
        /// The message text.
        message: String,
    },
    /// MS-CHAPv2: the authenticator's `S=` response did not match (it does not know the
    /// password): RFC 2759 §5 says to drop the link.
    BadAuthenticatorResponse,
    /// The exchange did not complete in time.
    Timeout,
    /// Nothing acceptable to both sides was negotiated in LCP.
    NoCommonMethod,
}

/// Secret-free summary of a successful authentication (both roles).
#[derive(Clone)]
pub struct Authenticated {
    /// The method used.
    pub method: AuthMethod,
    /// The authenticated user name (the peer's, or ours in the peer role).
    pub username: Vec<u8>,
    /// MPPE start keys of this end (from the verdict, or derived locally by the peer).
    pub mppe: Option<MppeKeys>,
}

impl std::fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticated")
            .field("method", &self.method)
            .field("username", &String::from_utf8_lossy(&self.username))
            .field("mppe", &self.mppe.as_ref().map(|_| ".."))
            .finish()
    }
}

//! What an [`Endpoint`](crate::Endpoint) tells its owner: events, handles, errors and
//! outgoing datagrams.

use crate::wire::{Accm, CallErrors, ParseError};

/// A tunnel (control connection), named by our local Tunnel ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TunnelId(pub u16);

/// A session, named by our local Tunnel ID and Session ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle {
    /// Local Tunnel ID.
    pub tunnel: TunnelId,
    /// Local Session ID.
    pub session: u16,
}

/// StopCCN Result Codes (RFC 2661 §4.4.2).
pub mod stopccn_result {
    /// General request to clear control connection.
    pub const GENERAL_REQUEST: u16 = 1;
    /// General error; the Error Code says which.
    pub const GENERAL_ERROR: u16 = 2;
    /// Control channel already exists.
    pub const ALREADY_EXISTS: u16 = 3;
    /// Requester is not authorized to establish a control channel.
    pub const NOT_AUTHORIZED: u16 = 4;
    /// The protocol version of the requester is not supported.
    pub const BAD_PROTOCOL_VERSION: u16 = 5;
    /// Requester is being shut down.
    pub const SHUTTING_DOWN: u16 = 6;
    /// Finite State Machine error.
    pub const FSM_ERROR: u16 = 7;
}

/// CDN Result Codes (RFC 2661 §4.4.2).
pub mod cdn_result {
    /// Call disconnected due to loss of carrier.
    pub const LOST_CARRIER: u16 = 1;
    /// Call disconnected for the reason indicated in the error code.
    pub const GENERAL_ERROR: u16 = 2;
    /// Call disconnected for administrative reasons.
    pub const ADMINISTRATIVE: u16 = 3;
    /// Call failed due to lack of appropriate facilities (temporary condition).
    pub const NO_FACILITIES_TEMPORARY: u16 = 4;
    /// Call failed due to lack of appropriate facilities (permanent condition).
    pub const NO_FACILITIES_PERMANENT: u16 = 5;
}

/// General Error Codes (RFC 2661 §4.4.2), used with result code 2.
pub mod error_code {
    /// No general error.
    pub const NO_ERROR: u16 = 0;
    /// No control connection exists yet for this LAC-LNS pair.
    pub const NO_CONTROL_CONNECTION: u16 = 1;
    /// Length is wrong.
    pub const BAD_LENGTH: u16 = 2;
    /// One of the field values was out of range or a reserved field was non-zero.
    pub const BAD_VALUE: u16 = 3;
    /// Insufficient resources to handle this operation now.
    pub const INSUFFICIENT_RESOURCES: u16 = 4;
    /// The Session ID is invalid in this context.
    pub const INVALID_SESSION_ID: u16 = 5;
    /// A generic vendor-specific error occurred in the LAC.
    pub const VENDOR_SPECIFIC: u16 = 6;
    /// Try another LNS.
    pub const TRY_ANOTHER: u16 = 7;
    /// Shut down because an unknown AVP with the M bit set was received.
    pub const UNKNOWN_MANDATORY_AVP: u16 = 8;
}

/// Why a tunnel or session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The owner asked (close command).
    Local,
    /// The peer sent StopCCN or CDN with this Result Code AVP.
    Peer {
        /// Result code.
        result: u16,
        /// Error code, if sent.
        error: Option<u16>,
        /// Error message, if sent.
        message: Vec<u8>,
    },
    /// We ended it because the peer misbehaved; this is what we sent.
    Protocol {
        /// Result code we sent.
        result: u16,
        /// Error code we sent.
        error: u16,
    },
    /// Tunnel authentication failed (bad or missing Challenge Response).
    AuthenticationFailed,
    /// The retry limit was reached without an acknowledgement (RFC 2661 §5.8).
    RetriesExhausted,
    /// Both sides opened a tunnel at once and the peer's SCCRQ won (RFC 2661 §4.4.3).
    TieBreakerLost,
    /// The tunnel carrying the session went away.
    TunnelClosed,
}

/// Something the owner must know about. Drain with `Endpoint::poll_event` after every input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The control connection is established (SCCCN sent or received).
    TunnelUp {
        /// The tunnel.
        tunnel: TunnelId,
        /// The peer's Host Name AVP.
        peer_host_name: Vec<u8>,
    },
    /// The tunnel is gone (its sessions with it, each reported as `SessionDown` first).
    /// Also reported for a tunnel that never came up (refused, failed authentication,
    /// retries exhausted during setup).
    TunnelDown {
        /// The tunnel.
        tunnel: TunnelId,
        /// Why.
        reason: CloseReason,
    },
    /// An incoming call arrived (ICRQ). Data may flow once `SessionUp` follows.
    IncomingCall {
        /// The new session.
        session: SessionHandle,
        /// Call Serial Number AVP, if any.
        call_serial_number: Option<u32>,
        /// ICRP already went out (`Config::answer_calls_automatically`); when false the
        /// owner must call `Endpoint::accept_call` or refuse with `Endpoint::close_session`.
        answered: bool,
    },
    /// The session is established (ICCN sent or received): PPP frames may flow.
    SessionUp {
        /// The session.
        session: SessionHandle,
        /// Data messages carry sequence numbers.
        sequencing: bool,
    },
    /// The session ended.
    SessionDown {
        /// The session.
        session: SessionHandle,
        /// Why.
        reason: CloseReason,
    },
    /// WAN-Error-Notify from the LAC (RFC 2661 §6.14).
    WanError {
        /// The session.
        session: SessionHandle,
        /// The counters.
        errors: CallErrors,
    },
    /// Set-Link-Info from the peer (RFC 2661 §6.15): the PPP ACCM to use.
    LinkInfo {
        /// The session.
        session: SessionHandle,
        /// The ACCM.
        accm: Accm,
    },
}

/// A datagram to send, written into the caller's buffer by `poll_transmit`/`encapsulate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit<P> {
    /// Where to send it.
    pub destination: P,
    /// How many bytes were appended to the buffer (the datagram is its last `size` bytes).
    pub size: usize,
}

/// Errors of the protocol layer. Returned errors never change state: the input was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datagram does not parse (peer misbehaved or garbage).
    #[error("malformed message: {0}")]
    Malformed(#[from] ParseError),
    /// No tunnel with this local Tunnel ID (stale or forged).
    #[error("unknown tunnel {0}")]
    UnknownTunnel(u16),
    /// No usable session with this local Session ID.
    #[error("unknown session {0}")]
    UnknownSession(u16),
    /// The message came from another peer than the tunnel's.
    #[error("message from the wrong peer")]
    WrongPeer,
    /// A required AVP is missing or the message is not allowed here (peer misbehaved).
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// A data message arrived with a sequence number already passed.
    #[error("stale data sequence number")]
    StaleData,
    /// A configured limit was reached (tunnels, sessions, queue).
    #[error("resource limit: {0}")]
    ResourceLimit(&'static str),
    /// The tunnel or session is not in a state that allows this command.
    #[error("invalid state for this command")]
    InvalidState,
    /// Local configuration does not allow this.
    #[error("configuration: {0}")]
    Config(&'static str),
}

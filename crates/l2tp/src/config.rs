//! Configuration: identity, tunnel secret, timers and resource limits.

use std::time::Duration;

use crate::secret::TunnelSecret;

/// Settings of an [`Endpoint`](crate::Endpoint). Every limit an attacker could push on is
/// here, with a bounded default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Host Name AVP we send (RFC 2661 §4.4.3).
    pub host_name: Vec<u8>,
    /// Vendor Name AVP we send, if any.
    pub vendor_name: Option<Vec<u8>>,
    /// Firmware Revision AVP we send, if any.
    pub firmware_revision: Option<u16>,
    /// Framing Capabilities we announce (bit 0x1 sync, 0x2 async).
    pub framing_capabilities: u32,
    /// Bearer Capabilities we announce, if any.
    pub bearer_capabilities: Option<u32>,
    /// Tunnel secret: enables Challenge / Challenge Response (RFC 2661 §5.1.1) and lets us
    /// reveal hidden AVPs (§4.3).
    pub secret: Option<TunnelSecret>,
    /// Hide the session AVPs we send (Assigned Session ID, Call Serial Number) with the
    /// secret (RFC 2661 §4.3). Needs `secret`. Never applied to SCCRQ.
    pub hide_avps: bool,
    /// Send a Tie Breaker AVP in our SCCRQ (RFC 2661 §4.4.3).
    pub tie_breaker: bool,
    /// Receive Window Size we advertise; also bounds the out-of-order queue (RFC 2661 §5.8).
    pub receive_window: u16,
    /// Send HELLO after this long with nothing received (RFC 2661 §6.5); `None` disables.
    pub hello_interval: Option<Duration>,
    /// First retransmission timeout (RFC 2661 §5.8 recommends 1 s).
    pub retransmit_initial: Duration,
    /// Cap of the exponential back-off (RFC 2661 §5.8: at least 8 s).
    pub retransmit_max: Duration,
    /// Retransmissions of one message before the tunnel is torn down.
    pub max_retries: u32,
    /// How long an acknowledgement may wait for a message to piggyback on before a ZLB goes.
    pub ack_delay: Duration,
    /// How long a closed tunnel keeps its state to acknowledge a retransmitted StopCCN
    /// (RFC 2661 §5.7 suggests a full retransmission cycle).
    pub close_hold: Duration,
    /// Most tunnels at once.
    pub max_tunnels: usize,
    /// Most sessions in one tunnel.
    pub max_sessions_per_tunnel: usize,
    /// Most control messages queued (sent and unacknowledged or waiting for the peer's
    /// window) per tunnel; StopCCN and CDN always get through.
    pub send_queue_limit: usize,
    /// Answer SCCRQ from peers (act as a listener, typically the LNS).
    pub accept_tunnels: bool,
    /// Answer ICRQ (act as LNS for incoming calls).
    pub accept_incoming_calls: bool,
    /// Answer an acceptable ICRQ with ICRP at once. When false, the call waits in
    /// [`SessionState::WaitAnswer`](crate::SessionState::WaitAnswer) after
    /// [`Event::IncomingCall`](crate::Event::IncomingCall) until the owner calls
    /// [`Endpoint::accept_call`](crate::Endpoint::accept_call) or refuses it with
    /// [`Endpoint::close_session`](crate::Endpoint::close_session).
    pub answer_calls_automatically: bool,
    /// Ask for sequence numbers on data messages (Sequencing Required AVP in ICCN/ICRP)
    /// and send them.
    pub data_sequencing: bool,
    /// Set the L bit (Length field) on data messages we send.
    pub data_length_bit: bool,
    /// Offset padding (bytes) in data messages we send; `None` for no O bit.
    pub data_offset: Option<u16>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host_name: b"l2sec".to_vec(),
            vendor_name: Some(b"l2sec".to_vec()),
            firmware_revision: Some(0x0100),
            framing_capabilities: 0x3,
            bearer_capabilities: None,
            secret: None,
            hide_avps: false,
            tie_breaker: true,
            receive_window: 16,
            hello_interval: Some(Duration::from_secs(60)),
            retransmit_initial: Duration::from_secs(1),
            retransmit_max: Duration::from_secs(8),
            max_retries: 5,
            ack_delay: Duration::from_millis(100),
            close_hold: Duration::from_secs(31),
            max_tunnels: 1024,
            max_sessions_per_tunnel: 1024,
            send_queue_limit: 256,
            accept_tunnels: true,
            accept_incoming_calls: true,
            answer_calls_automatically: true,
            data_sequencing: false,
            data_length_bit: false,
            data_offset: None,
        }
    }
}

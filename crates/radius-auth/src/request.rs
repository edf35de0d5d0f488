//! What the NAS asks: [`AccessRequest`] (PAP, CHAP, MS-CHAPv2, EAP) and
//! [`AccountingRequest`], kept in abstract form so that they can be encoded again for
//! another server (new Identifier, new Request Authenticator, password hidden with that
//! server's secret: RFC 5080 §2.2.1).

use core::fmt;
use std::net::Ipv4Addr;

use zeroize::Zeroizing;

use crate::attr::{
    AcctAuthentic, AcctStatusType, AcctTerminateCause, Attribute, ChapPassword, FramedProtocol, NasPortType,
    ServiceType, TaggedInt, TaggedText, Text, TunnelMediumType, TunnelType, VendorSpecific,
};
use crate::crypto;
use crate::error::EncodeError;
use crate::ms::{MsAttribute, MsChap2Response};
use crate::wire::{Code, EAP_MESSAGE, MESSAGE_AUTHENTICATOR, PacketWriter};

/// How the NAS names itself (RFC 2865 §4.1: at least one of NAS-IP-Address and
/// NAS-Identifier).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NasIdentity {
    /// NAS-IP-Address (RFC 2865 §5.4).
    pub ip_address: Option<Ipv4Addr>,
    /// NAS-Identifier (RFC 2865 §5.32).
    pub identifier: Option<String>,
}

/// The tunnel a PPP session arrived through (RFC 2868 §3), sent as Tunnel-Type = L2TP,
/// Tunnel-Medium-Type = IPv4 and the two endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelInfo {
    /// Tunnel-Client-Endpoint: the client's (LAC's) address.
    pub client_endpoint: String,
    /// Tunnel-Server-Endpoint: this server's (LNS's) address.
    pub server_endpoint: String,
}

/// Per-session attributes shared by access and accounting requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// NAS-Port (RFC 2865 §5.5): e.g. the L2TP session number.
    pub nas_port: Option<u32>,
    /// NAS-Port-Type (RFC 2865 §5.41); [`NasPortType::VIRTUAL`] for tunnelled PPP.
    pub nas_port_type: NasPortType,
    /// Calling-Station-Id (RFC 2865 §5.31): the client's public address.
    pub calling_station_id: Option<String>,
    /// Called-Station-Id (RFC 2865 §5.30): the address the client connected to.
    pub called_station_id: Option<String>,
    /// Acct-Session-Id (RFC 2866 §5.5), also sent in the Access-Request so the server
    /// can tie the two together.
    pub acct_session_id: Option<String>,
    /// Tunnel-* attributes (RFC 2868), when useful.
    pub tunnel: Option<TunnelInfo>,
}

impl Default for SessionInfo {
    fn default() -> Self {
        Self {
            nas_port: None,
            nas_port_type: NasPortType::VIRTUAL,
            calling_station_id: None,
            called_station_id: None,
            acct_session_id: None,
            tunnel: None,
        }
    }
}

/// The user's credentials as PPP collected them.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// PAP (RFC 1334): the cleartext password, hidden as User-Password (RFC 2865 §5.2);
    /// 1..=128 octets.
    Pap {
        /// The password.
        password: Zeroizing<Vec<u8>>,
    },
    /// CHAP-MD5 (RFC 1994): sent as CHAP-Password and CHAP-Challenge (RFC 2865 §5.3, §5.40).
    Chap {
        /// CHAP Identifier of the exchange.
        ident: u8,
        /// The challenge the NAS sent.
        challenge: Vec<u8>,
        /// The peer's 16-octet response.
        response: [u8; 16],
    },
    /// MS-CHAPv2 (RFC 2759): MS-CHAP-Challenge and MS-CHAP2-Response (RFC 2548 §2.3.2).
    MsChapV2 {
        /// The 16-octet Authenticator Challenge the NAS sent.
        authenticator_challenge: [u8; 16],
        /// The peer's Response packet contents.
        response: MsChap2Response,
    },
    /// EAP (RFC 3579): the EAP packet, split into EAP-Message attributes.
    Eap {
        /// The EAP packet from the peer.
        message: Vec<u8>,
    },
    /// No credentials (e.g. an authorize-only request); the State from a challenge may
    /// still be sent.
    None,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pap { .. } => f.write_str("Pap { password: <redacted> }"),
            Self::Chap { ident, .. } => write!(f, "Chap {{ ident: {ident}, .. }}"),
            Self::MsChapV2 { response, .. } => {
                write!(f, "MsChapV2 {{ ident: {}, .. }}", response.ident)
            }
            Self::Eap { message } => write!(f, "Eap {{ {} octets }}", message.len()),
            Self::None => f.write_str("None"),
        }
    }
}

/// An Access-Request to send (RFC 2865 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// User-Name (RFC 2865 §5.1).
    pub user_name: String,
    /// How the user authenticated to the NAS.
    pub credentials: Credentials,
    /// Port, station ids, tunnel.
    pub session: SessionInfo,
    /// State (RFC 2865 §5.24) copied from an Access-Challenge, when answering one.
    pub state: Option<Vec<u8>>,
    /// Further attributes, as (type, value); values longer than 253 octets are refused.
    /// A Message-Authenticator (80) here is skipped: the encoder adds its own.
    pub extra: Vec<(u8, Vec<u8>)>,
}

impl AccessRequest {
    /// A PAP request.
    #[must_use]
    pub fn pap(user_name: impl Into<String>, password: impl AsRef<[u8]>) -> Self {
        Self::new(user_name, Credentials::Pap { password: Zeroizing::new(password.as_ref().to_vec()) })
    }

    /// A CHAP-MD5 request.
    #[must_use]
    pub fn chap(user_name: impl Into<String>, ident: u8, challenge: &[u8], response: [u8; 16]) -> Self {
        Self::new(user_name, Credentials::Chap { ident, challenge: challenge.to_vec(), response })
    }

    /// An MS-CHAPv2 request.
    #[must_use]
    pub fn ms_chap_v2(
        user_name: impl Into<String>,
        authenticator_challenge: [u8; 16],
        response: MsChap2Response,
    ) -> Self {
        Self::new(user_name, Credentials::MsChapV2 { authenticator_challenge, response })
    }

    /// A request with the given credentials and default session attributes.
    #[must_use]
    pub fn new(user_name: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            user_name: user_name.into(),
            credentials,
            session: SessionInfo::default(),
            state: None,
            extra: Vec::new(),
        }
    }

    /// Append the request as a complete Access-Request to `out`, signed with `secret`.
    /// The Message-Authenticator comes first (the Blast-RADIUS advice), then User-Name,
    /// the credentials, Service-Type = Framed, Framed-Protocol = PPP and the NAS and
    /// session attributes.
    ///
    /// # Errors
    /// [`EncodeError`] when a value does not fit; `out` may then hold a partial packet.
    pub fn encode(
        &self,
        nas: &NasIdentity,
        identifier: u8,
        request_authenticator: [u8; 16],
        secret: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let mut w = PacketWriter::new(out, Code::ACCESS_REQUEST, identifier, request_authenticator);
        w.push_message_authenticator()?;
        w.push(&Attribute::UserName(Text(self.user_name.as_bytes())))?;
        match &self.credentials {
            Credentials::Pap { password } => {
                w.push_with(2, |o| crypto::hide_user_password(password, secret, &request_authenticator, o))?;
            }
            Credentials::Chap { ident, challenge, response } => {
                w.push(&Attribute::ChapPassword(ChapPassword { ident: *ident, response: *response }))?;
                w.push(&Attribute::ChapChallenge(challenge))?;
            }
            Credentials::MsChapV2 { authenticator_challenge, response } => {
                w.push(&Attribute::VendorSpecific(VendorSpecific::Microsoft(MsAttribute::ChapChallenge(
                    authenticator_challenge,
                ))))?;
                w.push(&Attribute::VendorSpecific(VendorSpecific::Microsoft(MsAttribute::Chap2Response(
                    *response,
                ))))?;
            }
            Credentials::Eap { message } => w.push_split(EAP_MESSAGE, message)?,
            Credentials::None => {}
        }
        w.push(&Attribute::ServiceType(ServiceType::FRAMED))?;
        w.push(&Attribute::FramedProtocol(FramedProtocol::PPP))?;
        push_nas(&mut w, nas)?;
        push_session(&mut w, &self.session)?;
        if let Some(state) = &self.state {
            w.push(&Attribute::State(state))?;
        }
        for (typ, value) in self.extra.iter().filter(|(t, _)| *t != MESSAGE_AUTHENTICATOR) {
            w.push_raw(*typ, value)?;
        }
        w.finish_request(secret);
        Ok(())
    }
}

fn push_nas(w: &mut PacketWriter<'_>, nas: &NasIdentity) -> Result<(), EncodeError> {
    if let Some(ip) = nas.ip_address {
        w.push(&Attribute::NasIpAddress(ip))?;
    }
    if let Some(id) = &nas.identifier {
        w.push(&Attribute::NasIdentifier(Text(id.as_bytes())))?;
    }
    Ok(())
}

fn push_session(w: &mut PacketWriter<'_>, s: &SessionInfo) -> Result<(), EncodeError> {
    if let Some(port) = s.nas_port {
        w.push(&Attribute::NasPort(port))?;
    }
    w.push(&Attribute::NasPortType(s.nas_port_type))?;
    if let Some(v) = &s.calling_station_id {
        w.push(&Attribute::CallingStationId(Text(v.as_bytes())))?;
    }
    if let Some(v) = &s.called_station_id {
        w.push(&Attribute::CalledStationId(Text(v.as_bytes())))?;
    }
    if let Some(v) = &s.acct_session_id {
        w.push(&Attribute::AcctSessionId(Text(v.as_bytes())))?;
    }
    if let Some(t) = &s.tunnel {
        w.push(&Attribute::TunnelType(TaggedInt { tag: 0, value: TunnelType::L2TP }))?;
        w.push(&Attribute::TunnelMediumType(TaggedInt { tag: 0, value: TunnelMediumType::IPV4 }))?;
        w.push(&Attribute::TunnelClientEndpoint(TaggedText {
            tag: Some(0),
            text: Text(t.client_endpoint.as_bytes()),
        }))?;
        w.push(&Attribute::TunnelServerEndpoint(TaggedText {
            tag: Some(0),
            text: Text(t.server_endpoint.as_bytes()),
        }))?;
    }
    Ok(())
}

/// Traffic counters of a session (RFC 2866 §5.3, §5.4, §5.7-§5.9, RFC 2869 §5.1-§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionCounters {
    /// Acct-Session-Time, seconds.
    pub session_time: u32,
    /// Octets received from the user; sent as Acct-Input-Octets plus
    /// Acct-Input-Gigawords for the part above 2^32.
    pub input_octets: u64,
    /// Octets sent to the user (Acct-Output-Octets / -Gigawords).
    pub output_octets: u64,
    /// Acct-Input-Packets.
    pub input_packets: u32,
    /// Acct-Output-Packets.
    pub output_packets: u32,
}

/// An Accounting-Request to send (RFC 2866 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingRequest {
    /// Acct-Status-Type.
    pub status: AcctStatusType,
    /// Acct-Session-Id (RFC 2866 §5.5: present in every Accounting-Request).
    pub session_id: String,
    /// User-Name.
    pub user_name: Option<String>,
    /// Port, station ids, tunnel.
    pub session: SessionInfo,
    /// Framed-IP-Address given to the user.
    pub framed_ip_address: Option<Ipv4Addr>,
    /// Acct-Authentic (how the user was authenticated).
    pub authentic: Option<AcctAuthentic>,
    /// Counters (Interim-Update and Stop).
    pub counters: Option<SessionCounters>,
    /// Acct-Terminate-Cause (Stop).
    pub terminate_cause: Option<AcctTerminateCause>,
    /// Class values from the Access-Accept, echoed unchanged (RFC 2865 §5.25).
    pub class: Vec<Vec<u8>>,
    /// Event-Timestamp (RFC 2869 §5.3), seconds since the Unix epoch, if the owner
    /// knows the wall-clock time.
    pub event_timestamp: Option<u32>,
    /// Further attributes, as (type, value). A Message-Authenticator (80) here is skipped:
    /// the encoder adds its own.
    pub extra: Vec<(u8, Vec<u8>)>,
}

impl AccountingRequest {
    /// A request with the given status type and session id and nothing else.
    #[must_use]
    pub fn new(status: AcctStatusType, session_id: impl Into<String>) -> Self {
        Self {
            status,
            session_id: session_id.into(),
            user_name: None,
            session: SessionInfo::default(),
            framed_ip_address: None,
            authentic: None,
            counters: None,
            terminate_cause: None,
            class: Vec::new(),
            event_timestamp: None,
            extra: Vec::new(),
        }
    }

    /// Append the request as a complete Accounting-Request to `out`, signed with
    /// `secret`. `delay` becomes Acct-Delay-Time (RFC 2866 §5.2) when non-zero.
    ///
    /// # Errors
    /// [`EncodeError`] when a value does not fit; `out` may then hold a partial packet.
    pub fn encode(
        &self,
        nas: &NasIdentity,
        identifier: u8,
        delay: u32,
        secret: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let mut w = PacketWriter::new(out, Code::ACCOUNTING_REQUEST, identifier, [0; 16]);
        w.push_message_authenticator()?;
        w.push(&Attribute::AcctStatusType(self.status))?;
        w.push(&Attribute::AcctSessionId(Text(self.session_id.as_bytes())))?;
        if let Some(u) = &self.user_name {
            w.push(&Attribute::UserName(Text(u.as_bytes())))?;
        }
        push_nas(&mut w, nas)?;
        let on_off = matches!(self.status, AcctStatusType::ACCOUNTING_ON | AcctStatusType::ACCOUNTING_OFF);
        if !on_off {
            w.push(&Attribute::ServiceType(ServiceType::FRAMED))?;
            w.push(&Attribute::FramedProtocol(FramedProtocol::PPP))?;
            let mut session = self.session.clone();
            session.acct_session_id = None; // already sent above
            push_session(&mut w, &session)?;
        }
        if let Some(ip) = self.framed_ip_address {
            w.push(&Attribute::FramedIpAddress(ip))?;
        }
        if let Some(a) = self.authentic {
            w.push(&Attribute::AcctAuthentic(a))?;
        }
        if let Some(c) = &self.counters {
            w.push(&Attribute::AcctSessionTime(c.session_time))?;
            w.push(&Attribute::AcctInputOctets(c.input_octets as u32))?;
            w.push(&Attribute::AcctOutputOctets(c.output_octets as u32))?;
            w.push(&Attribute::AcctInputGigawords((c.input_octets >> 32) as u32))?;
            w.push(&Attribute::AcctOutputGigawords((c.output_octets >> 32) as u32))?;
            w.push(&Attribute::AcctInputPackets(c.input_packets))?;
            w.push(&Attribute::AcctOutputPackets(c.output_packets))?;
        }
        if let Some(t) = self.terminate_cause {
            w.push(&Attribute::AcctTerminateCause(t))?;
        }
        for class in &self.class {
            w.push(&Attribute::Class(class))?;
        }
        if let Some(ts) = self.event_timestamp {
            w.push(&Attribute::EventTimestamp(ts))?;
        }
        if delay > 0 {
            w.push(&Attribute::AcctDelayTime(delay))?;
        }
        for (typ, value) in self.extra.iter().filter(|(t, _)| *t != MESSAGE_AUTHENTICATOR) {
            w.push_raw(*typ, value)?;
        }
        w.finish_accounting_request(secret);
        Ok(())
    }
}

/// Append a Status-Server request (RFC 5997 §3) to `out`: Message-Authenticator (which
/// RFC 5997 requires) and the NAS identity.
///
/// # Errors
/// [`EncodeError`] when the NAS-Identifier does not fit.
pub fn encode_status_server(
    nas: &NasIdentity,
    identifier: u8,
    request_authenticator: [u8; 16],
    secret: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mut w = PacketWriter::new(out, Code::STATUS_SERVER, identifier, request_authenticator);
    w.push_message_authenticator()?;
    push_nas(&mut w, nas)?;
    w.finish_request(secret);
    Ok(())
}

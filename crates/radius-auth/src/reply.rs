//! What the server answered, as owned values the NAS acts on (RFC 2865 §4.2-§4.4,
//! RFC 2866 §4.2, RFC 2548).

use core::fmt;
use std::net::Ipv4Addr;

use zeroize::Zeroizing;

use crate::attr::{Attribute, FramedProtocol, ServiceType, VendorSpecific};
use crate::ms::{MppeEncryptionPolicy, MppeEncryptionTypes, MsAttribute};
use crate::wire::{Code, Packet};

/// One attribute, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedAttribute {
    /// Attribute type.
    pub typ: u8,
    /// Attribute value.
    pub value: Vec<u8>,
}

impl OwnedAttribute {
    /// The typed view.
    #[must_use]
    pub fn typed(&self) -> Attribute<'_> {
        Attribute::decode(self.typ, &self.value)
    }
}

/// MS-CHAP2-Success (RFC 2548 §2.3.3): what the NAS puts in the MS-CHAPv2 Success packet
/// to the peer (RFC 2759 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsChap2Success {
    /// PPP CHAP Identifier.
    pub ident: u8,
    /// The message, `S=<authenticator response>` (and possibly ` M=...`).
    pub message: Vec<u8>,
}

/// MPPE keys from MS-MPPE-Send-Key / MS-MPPE-Recv-Key (RFC 2548 §2.4.2, §2.4.3),
/// decrypted. Zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MppeKeys {
    /// Key for traffic from the NAS to the peer.
    pub send_key: Zeroizing<Vec<u8>>,
    /// Key for traffic from the peer to the NAS.
    pub recv_key: Zeroizing<Vec<u8>>,
    /// MS-MPPE-Encryption-Policy, if sent.
    pub policy: Option<MppeEncryptionPolicy>,
    /// MS-MPPE-Encryption-Types, if sent.
    pub types: Option<MppeEncryptionTypes>,
}

impl fmt::Debug for MppeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MppeKeys")
            .field("send_key", &format_args!("<{} octets>", self.send_key.len()))
            .field("recv_key", &format_args!("<{} octets>", self.recv_key.len()))
            .field("policy", &self.policy)
            .field("types", &self.types)
            .finish()
    }
}

/// Access-Accept (RFC 2865 §4.2), with the attributes a PPP NAS acts on pulled out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessAccept {
    /// Service-Type.
    pub service_type: Option<ServiceType>,
    /// Framed-Protocol.
    pub framed_protocol: Option<FramedProtocol>,
    /// Framed-IP-Address: the address to give the peer (IPCP).
    pub framed_ip_address: Option<Ipv4Addr>,
    /// Framed-IP-Netmask.
    pub framed_ip_netmask: Option<Ipv4Addr>,
    /// Framed-MTU.
    pub framed_mtu: Option<u32>,
    /// Session-Timeout, seconds.
    pub session_timeout: Option<u32>,
    /// Idle-Timeout, seconds.
    pub idle_timeout: Option<u32>,
    /// Acct-Interim-Interval, seconds.
    pub acct_interim_interval: Option<u32>,
    /// Class values, to echo in accounting (RFC 2865 §5.25).
    pub class: Vec<Vec<u8>>,
    /// Reply-Message texts, in order.
    pub reply_message: Vec<String>,
    /// MS-CHAP2-Success.
    pub ms_chap2_success: Option<MsChap2Success>,
    /// MPPE keys, when both were present and decrypted.
    pub mppe: Option<MppeKeys>,
    /// MS-Primary-DNS-Server.
    pub primary_dns: Option<Ipv4Addr>,
    /// MS-Secondary-DNS-Server.
    pub secondary_dns: Option<Ipv4Addr>,
    /// EAP-Message fragments joined (RFC 3579 §3.1).
    pub eap_message: Option<Vec<u8>>,
    /// Every attribute as received.
    pub attributes: Vec<OwnedAttribute>,
}

/// Access-Reject (RFC 2865 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessReject {
    /// Reply-Message texts, in order.
    pub reply_message: Vec<String>,
    /// MS-CHAP-Error (RFC 2548 §2.1.5): ident and e.g. `E=691 R=0 ...`.
    pub ms_chap_error: Option<(u8, String)>,
    /// EAP-Message fragments joined.
    pub eap_message: Option<Vec<u8>>,
    /// Every attribute as received.
    pub attributes: Vec<OwnedAttribute>,
}

/// Access-Challenge (RFC 2865 §4.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessChallenge {
    /// State, to return in the next Access-Request.
    pub state: Option<Vec<u8>>,
    /// Reply-Message texts (the prompt).
    pub reply_message: Vec<String>,
    /// Session-Timeout: how long to wait for the user's answer.
    pub session_timeout: Option<u32>,
    /// EAP-Message fragments joined.
    pub eap_message: Option<Vec<u8>>,
    /// Every attribute as received.
    pub attributes: Vec<OwnedAttribute>,
}

/// A verified answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Access-Accept.
    AccessAccept(Box<AccessAccept>),
    /// Access-Reject.
    AccessReject(AccessReject),
    /// Access-Challenge.
    AccessChallenge(AccessChallenge),
    /// Accounting-Response: the server recorded the request.
    AccountingResponse,
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

impl Reply {
    /// Build the owned reply from a response whose authenticators the caller has verified
    /// ([`Client`](crate::Client) does). `secret` and `request_authenticator` decrypt the
    /// MPPE keys. `None` for a code that is not a response.
    #[must_use]
    pub fn from_verified(
        packet: &Packet<'_>,
        secret: &[u8],
        request_authenticator: &[u8; 16],
    ) -> Option<Self> {
        let attributes: Vec<OwnedAttribute> =
            packet.attributes().map(|a| OwnedAttribute { typ: a.typ, value: a.value.to_vec() }).collect();
        let mut reply_message = Vec::new();
        for a in packet.typed_attributes() {
            if let Attribute::ReplyMessage(t) = a {
                reply_message.push(text(t.0));
            }
        }
        let eap_message = packet.eap_message();
        match packet.code() {
            Code::ACCESS_ACCEPT => {
                let mut acc = AccessAccept { reply_message, eap_message, ..AccessAccept::default() };
                let (mut send, mut recv) = (None, None);
                let (mut policy, mut types) = (None, None);
                for a in packet.typed_attributes() {
                    match a {
                        Attribute::ServiceType(v) => acc.service_type = Some(v),
                        Attribute::FramedProtocol(v) => acc.framed_protocol = Some(v),
                        Attribute::FramedIpAddress(v) => acc.framed_ip_address = Some(v),
                        Attribute::FramedIpNetmask(v) => acc.framed_ip_netmask = Some(v),
                        Attribute::FramedMtu(v) => acc.framed_mtu = Some(v),
                        Attribute::SessionTimeout(v) => acc.session_timeout = Some(v),
                        Attribute::IdleTimeout(v) => acc.idle_timeout = Some(v),
                        Attribute::AcctInterimInterval(v) => acc.acct_interim_interval = Some(v),
                        Attribute::Class(v) => acc.class.push(v.to_vec()),
                        Attribute::VendorSpecific(VendorSpecific::Microsoft(ms)) => match ms {
                            MsAttribute::Chap2Success(s) => {
                                acc.ms_chap2_success =
                                    Some(MsChap2Success { ident: s.ident, message: s.text.0.to_vec() });
                            }
                            MsAttribute::MppeSendKey(k) => {
                                send = k.decrypt(secret, request_authenticator);
                            }
                            MsAttribute::MppeRecvKey(k) => {
                                recv = k.decrypt(secret, request_authenticator);
                            }
                            MsAttribute::MppeEncryptionPolicy(p) => policy = Some(p),
                            MsAttribute::MppeEncryptionTypes(t) => types = Some(t),
                            MsAttribute::PrimaryDnsServer(ip) => acc.primary_dns = Some(ip),
                            MsAttribute::SecondaryDnsServer(ip) => acc.secondary_dns = Some(ip),
                            _ => {}
                        },
                        _ => {}
                    }
                }
                if let (Some(send_key), Some(recv_key)) = (send, recv) {
                    acc.mppe = Some(MppeKeys { send_key, recv_key, policy, types });
                }
                acc.attributes = attributes;
                Some(Self::AccessAccept(Box::new(acc)))
            }
            Code::ACCESS_REJECT => {
                let mut rej = AccessReject { reply_message, eap_message, ..AccessReject::default() };
                for a in packet.typed_attributes() {
                    if let Attribute::VendorSpecific(VendorSpecific::Microsoft(MsAttribute::ChapError(e))) = a
                    {
                        rej.ms_chap_error = Some((e.ident, text(e.text.0)));
                    }
                }
                rej.attributes = attributes;
                Some(Self::AccessReject(rej))
            }
            Code::ACCESS_CHALLENGE => {
                let mut ch = AccessChallenge { reply_message, eap_message, ..AccessChallenge::default() };
                for a in packet.typed_attributes() {
                    match a {
                        Attribute::State(s) => ch.state = Some(s.to_vec()),
                        Attribute::SessionTimeout(t) => ch.session_timeout = Some(t),
                        _ => {}
                    }
                }
                ch.attributes = attributes;
                Some(Self::AccessChallenge(ch))
            }
            Code::ACCOUNTING_RESPONSE => Some(Self::AccountingResponse),
            _ => None,
        }
    }
}

//! The AVPs of one received control message, revealed (hidden AVPs) and gathered into the
//! fields the state machines use.

use crate::secret::TunnelSecret;
use crate::wire::{Accm, AvpValue, CallErrors, ControlMessage, MAX_AVP_VALUE_LEN, MessageType, ParseError};

/// A bounded copy of a string-like AVP value (at most one AVP's worth of bytes).
pub(crate) fn owned(b: &[u8]) -> Vec<u8> {
    b[..b.len().min(MAX_AVP_VALUE_LEN)].to_vec()
}

/// Result Code AVP contents, owned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResultInfo {
    pub result: u16,
    pub error: Option<u16>,
    pub message: Vec<u8>,
}

/// Everything the state machines read from a control message.
#[derive(Debug, Default)]
pub(crate) struct Attrs {
    pub message_type: Option<MessageType>,
    pub message_type_mandatory: bool,
    pub result: Option<ResultInfo>,
    pub protocol_version: Option<(u8, u8)>,
    pub host_name: Option<Vec<u8>>,
    pub tie_breaker: Option<u64>,
    pub assigned_tunnel_id: Option<u16>,
    pub receive_window: Option<u16>,
    pub challenge: Option<Vec<u8>>,
    pub challenge_response: Option<Vec<u8>>,
    pub assigned_session_id: Option<u16>,
    pub call_serial_number: Option<u32>,
    pub sequencing_required: bool,
    pub call_errors: Option<CallErrors>,
    pub accm: Option<Accm>,
    pub tx_connect_speed: Option<u32>,
    pub framing_type: Option<u32>,
    /// The first AVP with the M bit that could not be understood (type, vendor).
    pub unknown_mandatory: Option<(u16, u16)>,
    /// A mandatory known AVP had a length the RFC does not allow.
    pub invalid_mandatory: Option<u16>,
    /// A hidden AVP could not be revealed (no secret, no Random Vector, or wrong key).
    pub hidden_failed: bool,
}

impl Attrs {
    /// Gathers the AVPs. Fails only on a structurally broken AVP list.
    pub(crate) fn collect(
        msg: &ControlMessage<'_>,
        secret: Option<&TunnelSecret>,
    ) -> Result<Self, ParseError> {
        let mut a = Attrs::default();
        let mut random_vector: Option<&[u8]> = None;
        let mut buf = [0u8; MAX_AVP_VALUE_LEN];
        for (i, avp) in msg.avps().enumerate() {
            let avp = avp?;
            if avp.vendor_id != 0 {
                if avp.mandatory && a.unknown_mandatory.is_none() {
                    a.unknown_mandatory = Some((avp.attribute_type, avp.vendor_id));
                }
                continue;
            }
            let value = match avp.value {
                AvpValue::Hidden(h) => {
                    let revealed = match (secret, random_vector) {
                        (Some(s), Some(rv)) => s.reveal(avp.attribute_type, rv, h, &mut buf).ok(),
                        _ => None,
                    };
                    match revealed {
                        Some(clear) => AvpValue::parse(avp.attribute_type, clear),
                        None => {
                            a.hidden_failed = true;
                            if avp.mandatory && a.unknown_mandatory.is_none() {
                                a.unknown_mandatory = Some((avp.attribute_type, 0));
                            }
                            continue;
                        }
                    }
                }
                v => v,
            };
            if i == 0 {
                a.message_type_mandatory = avp.mandatory;
            }
            a.take(value, avp.mandatory, avp.attribute_type, i == 0);
            if let AvpValue::RandomVector(rv) = avp.value {
                random_vector = Some(rv);
            }
        }
        Ok(a)
    }

    fn take(&mut self, value: AvpValue<'_>, mandatory: bool, attribute_type: u16, first: bool) {
        match value {
            AvpValue::MessageType(t) if first => self.message_type = Some(t),
            AvpValue::ResultCode(r) => {
                self.result = Some(ResultInfo {
                    result: r.result,
                    error: r.error,
                    message: r.message.map(owned).unwrap_or_default(),
                });
            }
            AvpValue::ProtocolVersion { version, revision } => {
                self.protocol_version = Some((version, revision));
            }
            AvpValue::HostName(h) => self.host_name = Some(owned(h)),
            AvpValue::TieBreaker(t) => self.tie_breaker = Some(t),
            AvpValue::AssignedTunnelId(t) => self.assigned_tunnel_id = Some(t),
            AvpValue::ReceiveWindowSize(w) => self.receive_window = Some(w),
            AvpValue::Challenge(c) => self.challenge = Some(owned(c)),
            AvpValue::ChallengeResponse(r) => self.challenge_response = Some(owned(r)),
            AvpValue::AssignedSessionId(s) => self.assigned_session_id = Some(s),
            AvpValue::CallSerialNumber(n) => self.call_serial_number = Some(n),
            AvpValue::SequencingRequired => self.sequencing_required = true,
            AvpValue::CallErrors(c) => self.call_errors = Some(c),
            AvpValue::Accm(x) => self.accm = Some(x),
            AvpValue::TxConnectSpeed(x) => self.tx_connect_speed = Some(x),
            AvpValue::FramingType(x) => self.framing_type = Some(x),
            AvpValue::Unknown(_) if mandatory && self.unknown_mandatory.is_none() => {
                self.unknown_mandatory = Some((attribute_type, 0));
            }
            AvpValue::Invalid(_) if mandatory && self.invalid_mandatory.is_none() => {
                self.invalid_mandatory = Some(attribute_type);
            }
            // Every other known AVP is understood and carries nothing the machines need;
            // a Message Type anywhere but first is ignored.
            _ => {}
        }
    }
}

//! EAP-MSCHAPv2 (EAP Type 26, draft-kamath-pppext-eap-mschapv2-02 §2): the Type-Data of
//! an EAP Request / Response carrying MS-CHAPv2 (RFC 2759) packets.
//!
//! Every packet starts with an OpCode. Challenge, Response and the Success / Failure
//! Requests continue with MS-CHAPv2-ID (one byte) and MS-Length (two bytes: the length of
//! the Type-Data from the OpCode on); the peer's Success / Failure Responses are the
//! OpCode alone.

use nom::{
    Parser,
    number::complete::{be_u8, be_u16},
};

use super::{EncodeError, ParseError, len_u16, truncated};

/// OpCode of an MS-CHAPv2 Challenge (authenticator → peer).
pub const OP_CHALLENGE: u8 = 1;
/// OpCode of an MS-CHAPv2 Response (peer → authenticator).
pub const OP_RESPONSE: u8 = 2;
/// OpCode of a Success Request (authenticator) / Success Response (peer).
pub const OP_SUCCESS: u8 = 3;
/// OpCode of a Failure Request (authenticator) / Failure Response (peer).
pub const OP_FAILURE: u8 = 4;

/// RFC 2759 §4: the authenticator challenge is 16 bytes.
const CHALLENGE_LEN: usize = 16;
/// RFC 2759 §4: Peer-Challenge (16), Reserved (8), NT-Response (24), Flags (1).
const RESPONSE_LEN: usize = 49;

/// One EAP-MSCHAPv2 packet (the EAP Type-Data after the Type byte 26).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsChapV2<'a> {
    /// The authenticator's Challenge: 16 random bytes and its name.
    Challenge {
        /// MS-CHAPv2-ID, echoed in the Response.
        id: u8,
        /// The Authenticator Challenge.
        challenge: &'a [u8; 16],
        /// The authenticator's name (may be empty).
        name: &'a [u8],
    },
    /// The peer's Response to a Challenge.
    Response {
        /// MS-CHAPv2-ID of the Challenge answered.
        id: u8,
        /// The Peer-Challenge.
        peer_challenge: &'a [u8; 16],
        /// RFC 2759 §4: must be zero; kept as sent.
        reserved: &'a [u8; 8],
        /// The NT-Response (RFC 2759 §8.1).
        nt_response: &'a [u8; 24],
        /// RFC 2759 §4: must be zero; kept as sent.
        flags: u8,
        /// The user name.
        name: &'a [u8],
    },
    /// The authenticator's Success Request: `S=<authenticator response> M=<message>`.
    SuccessRequest {
        /// MS-CHAPv2-ID.
        id: u8,
        /// The text.
        message: &'a [u8],
    },
    /// The authenticator's Failure Request: `E=eeeeeeeeee R=r C=cccc V=vvvv M=<msg>`.
    FailureRequest {
        /// MS-CHAPv2-ID.
        id: u8,
        /// The text.
        message: &'a [u8],
    },
    /// The peer acknowledges a Success Request (OpCode only).
    SuccessResponse,
    /// The peer acknowledges a Failure Request (OpCode only).
    FailureResponse,
    /// Another OpCode (Change-Password, ...), kept raw.
    Other {
        /// The OpCode.
        op_code: u8,
        /// Everything after it.
        data: &'a [u8],
    },
}

impl<'a> MsChapV2<'a> {
    /// Parses EAP-MSCHAPv2 Type-Data.
    ///
    /// # Errors
    /// Empty input, an MS-Length that is not the Type-Data length, or a Challenge /
    /// Response whose Value-Size is not 16 / 49.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let (rest, op_code) = be_u8::<&[u8], ()>(data).map_err(truncated("MS-CHAPv2 OpCode"))?;
        if matches!(op_code, OP_SUCCESS | OP_FAILURE) && rest.is_empty() {
            return Ok(if op_code == OP_SUCCESS { Self::SuccessResponse } else { Self::FailureResponse });
        }
        if !matches!(op_code, OP_CHALLENGE | OP_RESPONSE | OP_SUCCESS | OP_FAILURE) {
            return Ok(Self::Other { op_code, data: rest });
        }
        let (rest, (id, ms_length)) =
            (be_u8::<&[u8], ()>, be_u16).parse(rest).map_err(truncated("MS-CHAPv2 header"))?;
        if usize::from(ms_length) != data.len() {
            return Err(ParseError::BadLength { what: "MS-CHAPv2 MS-Length" });
        }
        match op_code {
            OP_SUCCESS => Ok(Self::SuccessRequest { id, message: rest }),
            OP_FAILURE => Ok(Self::FailureRequest { id, message: rest }),
            OP_CHALLENGE => {
                let (rest, size) = be_u8::<&[u8], ()>(rest).map_err(truncated("MS-CHAPv2 Value-Size"))?;
                if usize::from(size) != CHALLENGE_LEN {
                    return Err(ParseError::BadLength { what: "MS-CHAPv2 Challenge Value-Size" });
                }
                let (challenge, name) =
                    rest.split_first_chunk().ok_or(ParseError::Truncated { what: "MS-CHAPv2 Challenge" })?;
                Ok(Self::Challenge { id, challenge, name })
            }
            _ => {
                let (rest, size) = be_u8::<&[u8], ()>(rest).map_err(truncated("MS-CHAPv2 Value-Size"))?;
                if usize::from(size) != RESPONSE_LEN {
                    return Err(ParseError::BadLength { what: "MS-CHAPv2 Response Value-Size" });
                }
                let short = ParseError::Truncated { what: "MS-CHAPv2 Response" };
                let (peer_challenge, rest) = rest.split_first_chunk().ok_or(short)?;
                let (reserved, rest) = rest.split_first_chunk().ok_or(short)?;
                let (nt_response, rest) = rest.split_first_chunk().ok_or(short)?;
                let (&flags, name) = rest.split_first().ok_or(short)?;
                Ok(Self::Response { id, peer_challenge, reserved, nt_response, flags, name })
            }
        }
    }

    /// The OpCode.
    #[must_use]
    pub const fn op_code(&self) -> u8 {
        match self {
            Self::Challenge { .. } => OP_CHALLENGE,
            Self::Response { .. } => OP_RESPONSE,
            Self::SuccessRequest { .. } | Self::SuccessResponse => OP_SUCCESS,
            Self::FailureRequest { .. } | Self::FailureResponse => OP_FAILURE,
            Self::Other { op_code, .. } => *op_code,
        }
    }

    /// Appends the Type-Data.
    ///
    /// # Errors
    /// Longer than MS-Length can say, or an [`MsChapV2::Other`] whose OpCode is one of
    /// the four known ones (it would not parse back the same).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let op = self.op_code();
        let header = |out: &mut Vec<u8>, id: u8, body_len: usize| -> Result<(), EncodeError> {
            let len = len_u16(4 + body_len, "MS-CHAPv2 packet")?;
            out.push(op);
            out.push(id);
            out.extend_from_slice(&len.to_be_bytes());
            Ok(())
        };
        match *self {
            Self::Challenge { id, challenge, name } => {
                header(out, id, 1 + CHALLENGE_LEN + name.len())?;
                out.push(16);
                out.extend_from_slice(challenge);
                out.extend_from_slice(name);
            }
            Self::Response { id, peer_challenge, reserved, nt_response, flags, name } => {
                header(out, id, 1 + RESPONSE_LEN + name.len())?;
                out.push(49);
                out.extend_from_slice(peer_challenge);
                out.extend_from_slice(reserved);
                out.extend_from_slice(nt_response);
                out.push(flags);
                out.extend_from_slice(name);
            }
            Self::SuccessRequest { id, message } | Self::FailureRequest { id, message } => {
                header(out, id, message.len())?;
                out.extend_from_slice(message);
            }
            Self::SuccessResponse | Self::FailureResponse => out.push(op),
            Self::Other { op_code, data } => {
                if matches!(op_code, OP_CHALLENGE | OP_RESPONSE | OP_SUCCESS | OP_FAILURE) {
                    return Err(EncodeError::Invalid { what: "MS-CHAPv2 OpCode of an Other packet" });
                }
                out.push(op_code);
                out.extend_from_slice(data);
            }
        }
        Ok(())
    }
}

/// RFC 2759 §5: the Success Request text, `S=` and the 20-byte authenticator response as
/// 40 upper-case hex digits, then ` M=` and a message.
#[must_use]
pub fn success_message(authenticator_response: &[u8; 20], message: &str) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(45 + message.len());
    out.extend_from_slice(b"S=");
    for b in authenticator_response {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
    if !message.is_empty() {
        out.extend_from_slice(b" M=");
        out.extend_from_slice(message.as_bytes());
    }
    out
}

/// RFC 2759 §6: ERROR_AUTHENTICATION_FAILURE, the Failure code for a wrong user name or
/// password.
pub const ERROR_AUTHENTICATION_FAILURE: u32 = 691;

/// RFC 2759 §6: the Failure Request text `E=<error> R=<0|1> C=<32 hex digits> V=3 M=<msg>`
/// (`C` is a new authenticator challenge for a retry, `V` the password-change version).
#[must_use]
pub fn failure_message(error: u32, retry: bool, challenge: &[u8; 16], message: &str) -> Vec<u8> {
    let mut out = format!("E={error} R={} C=", u8::from(retry)).into_bytes();
    for b in challenge {
        out.extend_from_slice(format!("{b:02X}").as_bytes());
    }
    out.extend_from_slice(b" V=3");
    if !message.is_empty() {
        out.extend_from_slice(b" M=");
        out.extend_from_slice(message.as_bytes());
    }
    out
}

/// RFC 2759 §5: reads the 20-byte authenticator response from a Success Request's
/// `S=` field (upper- or lower-case hex), if well formed.
#[must_use]
pub fn parse_success_message(message: &[u8]) -> Option<[u8; 20]> {
    let hex = message.strip_prefix(b"S=")?.get(..40)?;
    if message.len() > 42 && message[42] != b' ' {
        return None;
    }
    let nibble = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(hex[2 * i])? << 4) | nibble(hex[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(p: &MsChapV2<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        p.encode(&mut out).unwrap();
        assert_eq!(MsChapV2::parse(&out).unwrap(), *p);
        out
    }

    /// draft-kamath-pppext-eap-mschapv2 §2: the Challenge layout, byte by byte.
    #[test]
    fn challenge_layout() {
        let c = [0x5b; 16];
        let out = round_trip(&MsChapV2::Challenge { id: 7, challenge: &c, name: b"srv" });
        assert_eq!(&out[..5], &[1, 7, 0, 24, 16]);
        assert_eq!(&out[5..21], &c);
        assert_eq!(&out[21..], b"srv");
    }

    #[test]
    fn response_layout() {
        let out = round_trip(&MsChapV2::Response {
            id: 9,
            peer_challenge: &[1; 16],
            reserved: &[0; 8],
            nt_response: &[2; 24],
            flags: 0,
            name: b"User",
        });
        assert_eq!(&out[..5], &[2, 9, 0, 58, 49]);
        assert_eq!(out.len(), 58);
        assert_eq!(&out[5..21], &[1; 16]);
        assert_eq!(&out[29..53], &[2; 24]);
        assert_eq!(&out[54..], b"User");
    }

    #[test]
    fn success_and_failure() {
        assert_eq!(round_trip(&MsChapV2::SuccessResponse), [3]);
        assert_eq!(round_trip(&MsChapV2::FailureResponse), [4]);
        let out = round_trip(&MsChapV2::SuccessRequest { id: 1, message: b"S=00 M=ok" });
        assert_eq!(&out[..4], &[3, 1, 0, 13]);
        round_trip(&MsChapV2::FailureRequest { id: 1, message: b"E=691 R=0 V=3" });
        round_trip(&MsChapV2::Other { op_code: 7, data: b"xyz" });
        assert!(MsChapV2::Other { op_code: 1, data: b"" }.encode(&mut Vec::new()).is_err());
    }

    #[test]
    fn malformed() {
        assert!(MsChapV2::parse(&[]).is_err());
        // MS-Length disagrees with the data.
        assert!(MsChapV2::parse(&[3, 1, 0, 9, b'S']).is_err());
        // Value-Size other than 16 / 49.
        let mut c = vec![1, 1, 0, 21, 15];
        c.extend_from_slice(&[0; 16]);
        assert!(MsChapV2::parse(&c).is_err());
        assert!(MsChapV2::parse(&[2, 1, 0, 5, 49]).is_err());
        assert!(MsChapV2::parse(&[1, 1, 0, 5, 16]).is_err());
    }

    /// RFC 2759 §9.2: "S=407A5589115FD0D6209F510FE9C04566932CDA56".
    #[test]
    fn success_text() {
        let ar: [u8; 20] =
            hex::decode("407A5589115FD0D6209F510FE9C04566932CDA56").unwrap().try_into().unwrap();
        let text = success_message(&ar, "");
        assert_eq!(text, b"S=407A5589115FD0D6209F510FE9C04566932CDA56");
        assert_eq!(parse_success_message(&text), Some(ar));
        let text = success_message(&ar, "welcome");
        assert!(text.ends_with(b" M=welcome"));
        assert_eq!(parse_success_message(&text), Some(ar));
        assert_eq!(parse_success_message(b"S=407A"), None);
        assert_eq!(parse_success_message(b"S=407A5589115FD0D6209F510FE9C04566932CDA5G"), None);
        assert_eq!(parse_success_message(b"S=407A5589115FD0D6209F510FE9C04566932CDA56X"), None);
    }

    /// RFC 2759 §6 layout.
    #[test]
    fn failure_text() {
        let text = failure_message(ERROR_AUTHENTICATION_FAILURE, false, &[0xab; 16], "bad password");
        assert_eq!(text, b"E=691 R=0 C=ABABABABABABABABABABABABABABABAB V=3 M=bad password".as_slice());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = MsChapV2::parse(&data) {
                let mut out = Vec::new();
                p.encode(&mut out).unwrap();
                prop_assert_eq!(out, data);
            }
        }

        #[test]
        fn responses_round_trip(
            id in any::<u8>(), pc in any::<[u8; 16]>(), nt in any::<[u8; 24]>(), flags in any::<u8>(),
            name in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let p = MsChapV2::Response { id, peer_challenge: &pc, reserved: &[0; 8], nt_response: &nt, flags, name: &name };
            let mut out = Vec::new();
            p.encode(&mut out).unwrap();
            prop_assert_eq!(MsChapV2::parse(&out).unwrap(), p);
        }

        #[test]
        fn challenges_round_trip(id in any::<u8>(), c in any::<[u8; 16]>(), name in proptest::collection::vec(any::<u8>(), 0..40)) {
            let p = MsChapV2::Challenge { id, challenge: &c, name: &name };
            let mut out = Vec::new();
            p.encode(&mut out).unwrap();
            prop_assert_eq!(MsChapV2::parse(&out).unwrap(), p);
        }
    }
}

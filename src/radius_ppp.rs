//! PPP authentication answered by RADIUS: what the PPP authenticator asks becomes an
//! Access-Request, and the server's answer becomes the PPP verdict (with MS-CHAPv2's
//! authenticator response and MPPE keys carried over).

use l2sec_ppp::{Acceptance, AuthRequest, AuthVerdict, Credentials, MppeKeys, Rejection};
use l2sec_radius_auth::ms::MsChap2Response;
use l2sec_radius_auth::{AccessRequest, Reply};

/// The Access-Request for a PPP authentication request, or `None` for a method RADIUS
/// is not asked about here (MS-CHAPv1).
#[must_use]
pub fn access_request(request: &AuthRequest) -> Option<AccessRequest> {
    let user = String::from_utf8_lossy(&request.username).into_owned();
    Some(match &request.credentials {
        Credentials::Pap { password } => AccessRequest::pap(user, password),
        Credentials::ChapMd5 { identifier, challenge, response } => {
            AccessRequest::chap(user, *identifier, challenge, *response)
        }
        Credentials::MsChapV2 { identifier, authenticator_challenge, peer_challenge, nt_response, flags } => {
            let response = MsChap2Response {
                ident: *identifier,
                flags: *flags,
                peer_challenge: *peer_challenge,
                reserved: [0; 8],
                nt_response: *nt_response,
            };
            AccessRequest::ms_chap_v2(user, *authenticator_challenge, response)
        }
        _ => return None,
    })
}

/// Parses the `S=` authenticator response of an MS-CHAP2-Success message (RFC 2759 §5).
fn authenticator_response(message: &[u8]) -> Option<[u8; 20]> {
    let text = std::str::from_utf8(message).ok()?;
    let hex = text.strip_prefix("S=")?.get(..40)?;
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// RFC 2865 §5.8: a Framed-IP-Address to give the client, except the two special values
/// 255.255.255.255 (let the user choose) and 255.255.255.254 (the NAS picks from its pool),
/// for which the pool's address stands.
fn framed_address(a: Option<std::net::Ipv4Addr>) -> Option<std::net::Ipv4Addr> {
    a.filter(|a| !a.is_unspecified() && u32::from(*a) < 0xffff_fffe)
}

/// The PPP verdict for a RADIUS answer (`None`: the request timed out or failed).
#[must_use]
pub fn verdict(reply: Option<&Reply>) -> AuthVerdict {
    let reject =
        |message: String| AuthVerdict::Reject(Rejection { message, mschap_error: None, retry: false });
    match reply {
        Some(Reply::AccessAccept(a)) => {
            let mppe = a.mppe.as_ref().and_then(|k| {
                Some(MppeKeys {
                    send: k.send_key.get(..16)?.try_into().ok()?,
                    recv: k.recv_key.get(..16)?.try_into().ok()?,
                })
            });
            AuthVerdict::Accept(Acceptance {
                message: a.reply_message.first().cloned().unwrap_or_else(|| "Access granted".into()),
                authenticator_response: a
                    .ms_chap2_success
                    .as_ref()
                    .and_then(|s| authenticator_response(&s.message)),
                mppe,
                peer_address: framed_address(a.framed_ip_address),
            })
        }
        Some(Reply::AccessReject(r)) => {
            reject(r.reply_message.first().cloned().unwrap_or_else(|| "Authentication failed".into()))
        }
        Some(_) => reject("Authentication failed (unexpected RADIUS answer)".into()),
        None => reject("Authentication service unavailable".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_authenticator_response() {
        // RFC 2759 §9.2: the authenticator response of the example.
        let m = b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=ok";
        assert_eq!(
            authenticator_response(m),
            Some([
                0x40, 0x7a, 0x55, 0x89, 0x11, 0x5f, 0xd0, 0xd6, 0x20, 0x9f, 0x51, 0x0f, 0xe9, 0xc0, 0x45,
                0x66, 0x93, 0x2c, 0xda, 0x56
            ])
        );
        assert_eq!(authenticator_response(b"S=407A"), None);
        assert_eq!(authenticator_response(b"E=691"), None);
    }

    #[test]
    fn framed_ip_address_becomes_the_peer_address_except_the_special_values() {
        use std::net::Ipv4Addr;
        let accept = |a: Option<Ipv4Addr>| {
            let r = Reply::AccessAccept(Box::new(l2sec_radius_auth::AccessAccept {
                framed_ip_address: a,
                ..Default::default()
            }));
            match verdict(Some(&r)) {
                AuthVerdict::Accept(a) => a.peer_address,
                _ => panic!("rejected"),
            }
        };
        assert_eq!(accept(Some(Ipv4Addr::new(192, 0, 2, 10))), Some(Ipv4Addr::new(192, 0, 2, 10)));
        assert_eq!(accept(Some(Ipv4Addr::BROADCAST)), None);
        assert_eq!(accept(Some(Ipv4Addr::new(255, 255, 255, 254))), None);
        assert_eq!(accept(None), None);
    }

    #[test]
    fn no_answer_is_a_rejection() {
        assert!(matches!(verdict(None), AuthVerdict::Reject(_)));
    }
}

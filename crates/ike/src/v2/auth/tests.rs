//! The AUTH payloads of strongSwan's IKEv2 exchange in `demo-direct.pcapng` (PSK
//! `lab-psk-0123456789`, the lab default), recomputed from the captured messages.

use super::*;
use crate::v2::keys::open;
use crate::v2::keys::tests::{SUITE, capture, captured_keys, h, nonce};
use crate::wire::v2::{AuthMethod, Message, Payload, PayloadIter, PayloadType};

const PSK: &[u8] = b"lab-psk-0123456789";

/// (ID payload body, AUTH data) from the decrypted IKE_AUTH message.
fn id_and_auth(datagram: &str, initiator: bool) -> (Vec<u8>, Vec<u8>) {
    let bytes = h(datagram);
    let keys = captured_keys();
    let o = open(&SUITE, keys.sender(initiator), &Message::parse(&bytes[4..]).unwrap()).unwrap();
    let mut id = None;
    let mut auth = None;
    for p in PayloadIter::new(o.first_inner, &o.chain) {
        let p = p.unwrap();
        match p.payload_type {
            PayloadType::IdentificationInitiator | PayloadType::IdentificationResponder => {
                id = Some(p.body.to_vec());
            }
            PayloadType::Authentication => {
                let Payload::Authentication(a) = p.parse().unwrap() else { unreachable!() };
                assert_eq!(a.method, AuthMethod::SharedKeyMic);
                auth = Some(a.data.to_vec());
            }
            _ => {}
        }
    }
    (id.unwrap(), auth.unwrap())
}

#[test]
fn strongswan_initiator_and_responder_auth() {
    let init_req = h(capture::IKE_SA_INIT_REQUEST);
    let init_resp = h(capture::IKE_SA_INIT_RESPONSE);
    let keys = captured_keys();
    let (idi, auth_i) = id_and_auth(capture::IKE_AUTH_REQUEST, true);
    let mine = psk_auth(SUITE.prf, PSK, &init_req, &nonce(&init_resp), &keys.sk_pi, &idi);
    assert!(mine.ct_eq_bytes(&auth_i));
    let (idr, auth_r) = id_and_auth(capture::IKE_AUTH_RESPONSE, false);
    let mine = psk_auth(SUITE.prf, PSK, &init_resp, &nonce(&init_req), &keys.sk_pr, &idr);
    assert!(mine.ct_eq_bytes(&auth_r));
    // A wrong key or the other side's SK_p does not verify.
    assert!(
        !psk_auth(SUITE.prf, b"lab-psk-0123456788", &init_resp, &nonce(&init_req), &keys.sk_pr, &idr)
            .ct_eq_bytes(&auth_r)
    );
    assert!(!psk_auth(SUITE.prf, PSK, &init_resp, &nonce(&init_req), &keys.sk_pi, &idr).ct_eq_bytes(&auth_r));
}

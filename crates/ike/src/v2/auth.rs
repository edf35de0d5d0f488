//! RFC 7296 §2.15: authentication with a pre-shared key (AUTH method 2, Shared Key
//! Message Integrity Code).

use crate::crypto::{PrfAlgorithm, PrfOutput};

/// RFC 7296 §2.15: the fixed string the pre-shared key is first run through.
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// RFC 7296 §2.15: `AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)`
/// where the signed octets are the sender's first message (IKE_SA_INIT request for the
/// initiator, response for the responder) as sent, the peer's nonce, and
/// `prf(SK_px, RestOfIDPayload)`: the sender's ID payload body (ID Type, three RESERVED
/// bytes, identification data) keyed with the sender's SK_pi / SK_pr.
#[must_use]
pub fn psk_auth(
    prf: PrfAlgorithm,
    psk: &[u8],
    own_first_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_payload_body: &[u8],
) -> PrfOutput {
    let maced_id = prf.prf(sk_p, &[id_payload_body]);
    let key = prf.prf(psk, &[KEY_PAD]);
    prf.prf(key.as_bytes(), &[own_first_message, peer_nonce, maced_id.as_bytes()])
}

#[cfg(test)]
mod tests;

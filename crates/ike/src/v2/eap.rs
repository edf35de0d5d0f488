//! EAP in IKE_AUTH on the responder (RFC 7296 §2.16) with EAP-MSCHAPv2
//! (draft-kamath-pppext-eap-mschapv2, RFC 2759): what the owner of an
//! [`IkeSa`](super::ike_sa::IkeSa) is asked and how it answers.
//!
//! A responder made with [`IkeSa::respond_with_eap`](super::ike_sa::IkeSa::respond_with_eap)
//! requires EAP from the initiator. It authenticates itself as configured (pre-shared
//! key or certificate) in its first IKE_AUTH response, which carries an EAP-MSCHAPv2
//! Challenge of 16 random bytes. The initiator's Response becomes
//! [`Event::EapMsChapV2`](super::ike_sa::Event::EapMsChapV2) with
//! [`MsChapV2Credentials`]; the machine does not know passwords. The owner checks the
//! NT-Response against its user database (RFC 2759 §8.1) and calls
//! [`IkeSa::answer_eap`](super::ike_sa::IkeSa::answer_eap):
//!
//! - [`EapVerdict::Accept`] with the authenticator response (RFC 2759 §8.7) and the MSK
//!   ([`Msk::from_mschapv2`], RFC 3079 master keys): the machine sends the MS-CHAPv2
//!   Success Request, then EAP-Success, and the last IKE_AUTH exchange authenticates both
//!   sides with AUTH payloads keyed with the MSK (RFC 7296 §2.16) and makes the Child SA.
//! - [`EapVerdict::Reject`]: the MS-CHAPv2 Failure Request (E=691, no retry), and on
//!   the initiator's Failure Response EAP-Failure with AUTHENTICATION_FAILED (an
//!   initiator may instead send AUTHENTICATION_FAILED in an INFORMATIONAL request, which
//!   is answered); the IKE SA fails with [`crate::Error::AuthenticationFailed`].
//!
//! The owner's side, checking against one user with `l2sec-ppp`'s RFC 2759 functions
//! (a RADIUS server would answer with the same three values):
//!
//! ```
//! use std::time::Instant;
//! use l2sec_ike::v2::eap::{EapAcceptance, EapVerdict, MsChapV2Credentials, Msk};
//! use l2sec_ike::v2::ike_sa::{Event, IkeSa};
//! use l2sec_ppp::crypto::{mschapv2_verify, nt_password_hash};
//!
//! fn check(c: &MsChapV2Credentials) -> EapVerdict {
//!     let hash = nt_password_hash("wonderland");
//!     let user = l2sec_ppp::crypto::strip_domain(&c.user);
//!     match (user == b"alice")
//!         .then(|| mschapv2_verify(&hash, &c.authenticator_challenge, &c.peer_challenge, &c.user, &c.nt_response))
//!         .flatten()
//!     {
//!         Some(ok) => EapVerdict::Accept(EapAcceptance {
//!             authenticator_response: ok.authenticator_response,
//!             message: "welcome".into(),
//!             msk: Msk::from_mschapv2(&ok.mppe.send, &ok.mppe.recv),
//!         }),
//!         None => EapVerdict::Reject,
//!     }
//! }
//!
//! fn on_event<R: rand_core::CryptoRng>(sa: &mut IkeSa<R>, now: Instant, event: Event) {
//!     if let Event::EapMsChapV2(credentials) = event {
//!         sa.answer_eap(now, check(&credentials)).expect("a Response was waiting");
//!     }
//! }
//! # let _ = on_event::<rand_chacha::ChaCha20Rng>;
//! ```

use std::fmt;

use zeroize::Zeroizing;

use super::ike_sa::Identity;

/// Settings of the EAP server side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EapConfig {
    /// RFC 2759 §4: the authenticator's name, sent in the Challenge.
    pub name: Vec<u8>,
    /// RFC 3748 §5.1: start with EAP-Request/Identity (the default) rather than with the
    /// MS-CHAPv2 Challenge. Clients such as strongSwan use their configured EAP identity
    /// (for the password lookup and the MS-CHAPv2 user name) only when asked for it.
    pub ask_identity: bool,
}

impl Default for EapConfig {
    fn default() -> Self {
        Self { name: b"l2sec".to_vec(), ask_identity: true }
    }
}

/// RFC 2759 §4: what the initiator's MS-CHAPv2 Response carries, for the owner to check.
///
/// Its `Debug` leaves out the challenges and the NT-Response: together they allow an
/// offline dictionary attack on the password.
#[derive(Clone, PartialEq, Eq)]
pub struct MsChapV2Credentials {
    /// The initiator's IKE identity (IDi).
    pub peer_id: Identity,
    /// RFC 3748 §5.1: the EAP identity from the Identity Response, when we asked.
    pub eap_identity: Option<Vec<u8>>,
    /// The user name of the Response (the Name field; may carry a `DOMAIN\` prefix,
    /// which RFC 2759 §8.2 strips before hashing).
    pub user: Vec<u8>,
    /// The Authenticator Challenge we sent.
    pub authenticator_challenge: [u8; 16],
    /// The Peer-Challenge.
    pub peer_challenge: [u8; 16],
    /// The NT-Response (RFC 2759 §8.1).
    pub nt_response: [u8; 24],
}

impl fmt::Debug for MsChapV2Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsChapV2Credentials")
            .field("peer_id", &self.peer_id)
            .field("user", &String::from_utf8_lossy(&self.user))
            .field("eap_identity", &self.eap_identity.as_deref().map(String::from_utf8_lossy))
            .finish_non_exhaustive()
    }
}

/// The owner's answer to [`MsChapV2Credentials`].
#[derive(Debug, Clone)]
pub enum EapVerdict {
    /// The NT-Response is right.
    Accept(EapAcceptance),
    /// Wrong user or password (or the user may not connect).
    Reject,
}

/// An accepted MS-CHAPv2 authentication.
#[derive(Clone)]
pub struct EapAcceptance {
    /// RFC 2759 §8.7: the 20-byte authenticator response, sent as `S=` + 40 hex digits.
    pub authenticator_response: [u8; 20],
    /// RFC 2759 §5: the `M=` text of the Success Request (may be empty).
    pub message: String,
    /// The MSK both AUTH payloads of the last IKE_AUTH exchange are keyed with.
    pub msk: Msk,
}

impl fmt::Debug for EapAcceptance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EapAcceptance").field("message", &self.message).finish_non_exhaustive()
    }
}

/// The EAP Master Session Key (RFC 3748 §7.10), 64 bytes; zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Msk(Zeroizing<[u8; 64]>);

impl Msk {
    /// An MSK from its 64 bytes.
    #[must_use]
    pub fn new(bytes: [u8; 64]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The EAP-MSCHAPv2 MSK from the RFC 3079 §3.4 master keys as the authenticator
    /// (server) derives them: its MasterReceiveKey (= the peer's MasterSendKey), then its
    /// MasterSendKey, then 32 zero bytes: the RADIUS order MS-MPPE-Recv-Key ‖
    /// MS-MPPE-Send-Key, which is also what strongSwan's charon uses as the MSK (checked
    /// by the interop test against it).
    #[must_use]
    pub fn from_mschapv2(server_send_key: &[u8; 16], server_receive_key: &[u8; 16]) -> Self {
        let mut msk = [0u8; 64];
        msk[..16].copy_from_slice(server_receive_key);
        msk[16..32].copy_from_slice(server_send_key);
        let out = Self::new(msk);
        zeroize::Zeroize::zeroize(&mut msk);
        out
    }

    /// The key bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for Msk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Msk(..)")
    }
}

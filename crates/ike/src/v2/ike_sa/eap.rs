//! The responder's EAP exchange in IKE_AUTH (RFC 7296 §2.16) with EAP-MSCHAPv2; the
//! public side is [`crate::v2::eap`].
//!
//! Message IDs of the initiator's IKE_AUTH requests and our answers (with
//! [`EapConfig::ask_identity`]; without it the Identity round is left out and the rest
//! moves up by one):
//!
//! 1. IDi, SA, TSi, TSr, no AUTH → IDr, [CERT], AUTH, EAP-Request/Identity.
//! 2. EAP-Response/Identity → EAP-Request/MS-CHAPv2 Challenge.
//! 3. EAP-Response/MS-CHAPv2 Response → (the owner decides) EAP-Request/MS-CHAPv2
//!    Success Request, or Failure Request.
//! 4. EAP-Response/MS-CHAPv2 Success Response → EAP-Success (or Failure Response →
//!    EAP-Failure + AUTHENTICATION_FAILED, the end).
//! 5. AUTH (keyed with the MSK) → AUTH (keyed with the MSK), [CP], SA, TSi, TSr.

use std::time::Instant;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{Identity, IkeSa, IkeSaConfig, State, auth_payloads};
use crate::Error;
use crate::v2::auth::psk_auth;
use crate::v2::eap::{EapConfig, EapVerdict, MsChapV2Credentials, Msk};
use crate::v2::keys::{IkeKeys, IkeSuite, Opened, open};
use crate::wire::v2::mschapv2::{ERROR_AUTHENTICATION_FAILURE, MsChapV2, failure_message, success_message};
use crate::wire::v2::{
    AuthMethod, Authentication, CertEncoding, Certificate, ChainBuilder, Eap, EapCode, EapType, ExchangeType,
    Identification, Message, Notify, NotifyType, Payload, PayloadIter, PayloadType,
};

/// Where the EAP conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The initiator's first IKE_AUTH request has not come yet.
    Idle,
    /// We sent EAP-Request/Identity.
    IdentityAsked,
    /// We sent the MS-CHAPv2 Challenge.
    Challenged,
    /// The Response is with the owner ([`IkeSa::answer_eap`]).
    AwaitingOwner,
    /// We sent the MS-CHAPv2 Success Request.
    SuccessSent,
    /// We sent the MS-CHAPv2 Failure Request (the owner rejected).
    FailureSent,
    /// We sent EAP-Success; the initiator's AUTH keyed with the MSK comes next.
    Succeeded,
}

/// The EAP server's state inside an [`IkeSa`].
pub(super) struct EapServer {
    config: EapConfig,
    stage: Stage,
    /// The decrypted payloads of the initiator's first IKE_AUTH request (IDi, SA, TS,
    /// CP): the last exchange answers them.
    first_inner: PayloadType,
    first_chain: Zeroizing<Vec<u8>>,
    /// The EAP Identifier of our outstanding Request.
    identifier: u8,
    /// The MS-CHAPv2-ID of the Challenge.
    ms_id: u8,
    challenge: [u8; 16],
    /// RFC 3748 §5.1: the identity the initiator gave, if asked.
    identity: Option<Vec<u8>>,
    /// The request with the Response the owner is checking: (Message ID, datagram).
    pending: Option<(u32, Vec<u8>)>,
    msk: Option<Msk>,
}

impl std::fmt::Debug for EapServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EapServer").field("stage", &self.stage).finish_non_exhaustive()
    }
}

/// The EAP packet and AUTH payload of a decrypted IKE_AUTH request.
fn eap_and_auth(opened: &Opened) -> Result<(Option<Eap<'_>>, Option<Authentication<'_>>), Error> {
    let (mut eap, mut auth) = (None, None);
    for raw in PayloadIter::new(opened.first_inner, &opened.chain) {
        match raw?.parse()? {
            Payload::ExtensibleAuthentication(e) => eap = Some(e),
            Payload::Authentication(a) => auth = Some(a),
            _ => {}
        }
    }
    Ok((eap, auth))
}

impl<R: CryptoRng> IkeSa<R> {
    /// A responder that requires EAP-MSCHAPv2 from the initiator (RFC 7296 §2.16). It
    /// authenticates itself as `config` says (pre-shared key or certificate) and asks
    /// the owner to check the user's credentials ([`super::Event::EapMsChapV2`]).
    #[must_use]
    pub fn respond_with_eap(config: IkeSaConfig, eap: EapConfig, rng: R, now: Instant) -> Self {
        let mut m = Self::respond(config, rng, now);
        m.eap = Some(Box::new(EapServer {
            config: eap,
            stage: Stage::Idle,
            first_inner: PayloadType::None,
            first_chain: Zeroizing::new(Vec::new()),
            identifier: 0,
            ms_id: 0,
            challenge: [0; 16],
            identity: None,
            pending: None,
            msk: None,
        }));
        m
    }

    /// The owner's answer to [`super::Event::EapMsChapV2`]: accept (the MS-CHAPv2
    /// Success Request goes out) or reject (the MS-CHAPv2 Failure Request goes out; then
    /// EAP-Failure with AUTHENTICATION_FAILED, and the IKE SA fails with
    /// [`Error::AuthenticationFailed`]).
    ///
    /// # Errors
    /// No MS-CHAPv2 Response is waiting for an answer.
    pub fn answer_eap(&mut self, _now: Instant, verdict: EapVerdict) -> Result<(), Error> {
        let Some(server) = self.eap.as_deref() else {
            return Err(Error::Configuration("not an EAP responder"));
        };
        let (State::InitReplied, Stage::AwaitingOwner, Some((message_id, request))) =
            (self.state, server.stage, server.pending.clone())
        else {
            return Err(Error::UnexpectedMessage("no EAP response awaits an answer"));
        };
        let (identifier, ms_id) = (server.identifier, server.ms_id);
        match verdict {
            EapVerdict::Reject => {
                // RFC 2759 §6: a Failure Request with E=691, no retry; the peer's
                // Failure Response is answered with EAP-Failure.
                let next = identifier.wrapping_add(1);
                let mut retry_challenge = [0u8; 16];
                self.rng.fill_bytes(&mut retry_challenge);
                let text = failure_message(
                    ERROR_AUTHENTICATION_FAILURE,
                    false,
                    &retry_challenge,
                    "authentication failed",
                );
                let mut data = Vec::new();
                MsChapV2::FailureRequest { id: ms_id, message: &text }
                    .encode(&mut data)
                    .map_err(|_| Error::Configuration("Failure Request too long"))?;
                let eap = Eap::new(EapCode::Request, next, EapType::MsChapV2, &data);
                let out = self.eap_response(message_id, &[Payload::ExtensibleAuthentication(eap)])?;
                self.send_response(&request, out, self.nat.nat_detected());
                self.peer_next_id = message_id.wrapping_add(1);
                if let Some(server) = self.eap.as_deref_mut() {
                    server.stage = Stage::FailureSent;
                    server.identifier = next;
                    server.pending = None;
                }
                Ok(())
            }
            EapVerdict::Accept(acceptance) => {
                let next = identifier.wrapping_add(1);
                let text = success_message(&acceptance.authenticator_response, &acceptance.message);
                let mut data = Vec::new();
                MsChapV2::SuccessRequest { id: ms_id, message: &text }
                    .encode(&mut data)
                    .map_err(|_| Error::Configuration("Success Request too long"))?;
                let eap = Eap::new(EapCode::Request, next, EapType::MsChapV2, &data);
                let out = self.eap_response(message_id, &[Payload::ExtensibleAuthentication(eap)])?;
                self.send_response(&request, out, self.nat.nat_detected());
                self.peer_next_id = message_id.wrapping_add(1);
                if let Some(server) = self.eap.as_deref_mut() {
                    server.stage = Stage::SuccessSent;
                    server.identifier = next;
                    server.pending = None;
                    server.msk = Some(acceptance.msk);
                }
                Ok(())
            }
        }
    }

    /// A protected IKE_AUTH response with these payloads.
    fn eap_response(&mut self, message_id: u32, payloads: &[Payload<'_>]) -> Result<Vec<u8>, Error> {
        let mut inner = Vec::new();
        let mut c = ChainBuilder::new(&mut inner);
        for p in payloads {
            c.push(p).map_err(|_| Error::Configuration("IKE_AUTH does not encode"))?;
        }
        let first = c.finish();
        self.protect(ExchangeType::IkeAuth, message_id, &inner, first)
    }

    /// RFC 3748 §4.2, RFC 7296 §2.16: EAP-Failure (answering the Response with
    /// `identifier`) and AUTHENTICATION_FAILED; the IKE SA fails.
    fn eap_failure(&mut self, request: &[u8], message_id: u32, identifier: u8) -> Result<(), Error> {
        let failure = Eap::outcome(EapCode::Failure, identifier);
        let out = self.eap_response(
            message_id,
            &[
                Payload::ExtensibleAuthentication(failure),
                Payload::Notify(Notify::new(NotifyType::AuthenticationFailed, &[])),
            ],
        )?;
        self.send_response(request, out, self.nat.nat_detected());
        self.eap = None;
        self.fail(Error::AuthenticationFailed);
        Ok(())
    }

    /// A fresh MS-CHAPv2 Challenge (16 bytes from our RNG) with MS-CHAPv2-ID
    /// `identifier`: the EAP Type-Data and the challenge.
    fn challenge(&mut self, identifier: u8) -> Result<(Vec<u8>, [u8; 16]), Error> {
        let name = self.eap.as_deref().map(|s| s.config.name.clone()).unwrap_or_default();
        let mut challenge = [0u8; 16];
        self.rng.fill_bytes(&mut challenge);
        let mut data = Vec::new();
        MsChapV2::Challenge { id: identifier, challenge: &challenge, name: &name }
            .encode(&mut data)
            .map_err(|_| Error::Configuration("EAP name too long"))?;
        Ok((data, challenge))
    }

    /// The initiator's first IKE_AUTH request, without AUTH: we authenticate ourselves
    /// and send the MS-CHAPv2 Challenge.
    pub(super) fn eap_first_request(
        &mut self,
        suite: &IkeSuite,
        keys: &IkeKeys,
        opened: &Opened,
        data: &[u8],
    ) -> Result<(), Error> {
        let Some(server) = self.eap.as_deref() else {
            return Err(Error::Configuration("not an EAP responder"));
        };
        if server.stage != Stage::Idle {
            return Err(Error::UnexpectedMessage("EAP already started"));
        }
        let ask_identity = server.config.ask_identity;
        let identifier = self.rng.next_u32().to_be_bytes()[0];
        let (eap_type, eap_data, challenge) = if ask_identity {
            (EapType::Identity, Vec::new(), [0; 16])
        } else {
            let (data, challenge) = self.challenge(identifier)?;
            (EapType::MsChapV2, data, challenge)
        };
        let (own_method, own_auth) = self.own_auth(suite, keys)?;
        let (certs, _) = self.cert_payload_data();
        let local_id = self.config.local_id.clone();
        let mut payloads =
            vec![Payload::IdentificationResponder(Identification::new(local_id.id_type, &local_id.data))];
        payloads.extend(certs.iter().map(|der| {
            Payload::Certificate(Certificate { encoding: CertEncoding::X509Signature, data: der })
        }));
        payloads.push(Payload::Authentication(Authentication::new(own_method, &own_auth)));
        payloads.push(Payload::ExtensibleAuthentication(Eap::new(
            EapCode::Request,
            identifier,
            eap_type,
            &eap_data,
        )));
        let out = self.eap_response(1, &payloads)?;
        self.send_response(data, out, self.nat.nat_detected());
        self.peer_next_id = 2;
        if let Some(server) = self.eap.as_deref_mut() {
            server.stage = if ask_identity { Stage::IdentityAsked } else { Stage::Challenged };
            server.first_inner = opened.first_inner;
            server.first_chain = opened.chain.clone();
            server.identifier = identifier;
            server.ms_id = identifier;
            server.challenge = challenge;
        }
        Ok(())
    }

    /// An IKE_AUTH request after the first one (Message ID 2 on), while EAP runs.
    pub(super) fn on_eap_request(&mut self, now: Instant, m: &Message<'_>, data: &[u8]) -> Result<(), Error> {
        let Some(server) = self.eap.as_deref() else {
            return Err(Error::Configuration("not an EAP responder"));
        };
        let stage = server.stage;
        match stage {
            Stage::Idle => return Err(Error::UnexpectedMessage("IKE_AUTH request out of order")),
            Stage::AwaitingOwner => {
                // The initiator repeats its Response while the owner decides.
                return if server.pending.as_ref().is_some_and(|(_, d)| d == data) {
                    Ok(())
                } else {
                    Err(Error::UnexpectedMessage("an EAP response awaits the owner's answer"))
                };
            }
            _ => {}
        }
        let message_id = m.header.message_id;
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = self.keys.clone().ok_or(Error::Configuration("no IKE SA keys"))?;
        // Whatever does not decrypt and verify is dropped and changes nothing.
        let opened = open(&suite, keys.sender(true), m)?;
        let (eap, auth) = eap_and_auth(&opened)?;
        let identifier = server.identifier;
        // The message is authentic: from here on, a wrong answer ends the IKE SA.
        let response = eap.filter(|e| e.code == EapCode::Response && e.identifier == identifier);
        let ms = response
            .filter(|e| e.eap_type == Some(EapType::MsChapV2))
            .and_then(|e| MsChapV2::parse(e.data).ok());
        if let (Stage::IdentityAsked, Some(e)) = (stage, response)
            && e.eap_type == Some(EapType::Identity)
        {
            let identity = e.data.to_vec();
            let next = identifier.wrapping_add(1);
            let (eap_data, challenge) = self.challenge(next)?;
            let eap = Eap::new(EapCode::Request, next, EapType::MsChapV2, &eap_data);
            let out = self.eap_response(message_id, &[Payload::ExtensibleAuthentication(eap)])?;
            self.send_response(data, out, self.nat.nat_detected());
            self.peer_next_id = message_id.wrapping_add(1);
            if let Some(server) = self.eap.as_deref_mut() {
                server.stage = Stage::Challenged;
                server.identity = Some(identity);
                server.identifier = next;
                server.ms_id = next;
                server.challenge = challenge;
            }
            return Ok(());
        }
        match (stage, ms, auth) {
            (
                Stage::Challenged,
                Some(MsChapV2::Response { id, peer_challenge, nt_response, name, .. }),
                _,
            ) if id == server.ms_id => {
                let peer_id = {
                    let first = auth_payloads(server.first_inner, &server.first_chain, true)?;
                    let (id, _) = first.id.ok_or(Error::UnexpectedMessage("IKE_AUTH without IDi"))?;
                    Identity { id_type: id.id_type, data: id.data.to_vec() }
                };
                let credentials = MsChapV2Credentials {
                    peer_id,
                    eap_identity: server.identity.clone(),
                    user: name.to_vec(),
                    authenticator_challenge: server.challenge,
                    peer_challenge: *peer_challenge,
                    nt_response: *nt_response,
                };
                if let Some(server) = self.eap.as_deref_mut() {
                    server.stage = Stage::AwaitingOwner;
                    server.pending = Some((message_id, data.to_vec()));
                }
                self.events.push_back(super::Event::EapMsChapV2(credentials));
                Ok(())
            }
            (Stage::SuccessSent, Some(MsChapV2::SuccessResponse), _) => {
                let success = Eap::outcome(EapCode::Success, identifier);
                let out = self.eap_response(message_id, &[Payload::ExtensibleAuthentication(success)])?;
                self.send_response(data, out, self.nat.nat_detected());
                self.peer_next_id = message_id.wrapping_add(1);
                if let Some(server) = self.eap.as_deref_mut() {
                    server.stage = Stage::Succeeded;
                }
                Ok(())
            }
            (Stage::Succeeded, _, Some(auth)) => {
                let auth_method = auth.method;
                let auth_data = auth.data.to_vec();
                self.eap_final(now, &suite, &keys, auth_method, &auth_data, message_id, data)
            }
            (Stage::FailureSent, Some(MsChapV2::FailureResponse), _) => {
                // RFC 2759 §6: the peer saw our Failure Request; end with EAP-Failure.
                self.eap_failure(data, message_id, identifier)
            }
            _ => {
                // RFC 3748 §5.3.1: a Nak (the initiator does not do MS-CHAPv2), a
                // Failure Response, or anything else: the authentication has failed.
                self.eap_failure(data, message_id, identifier)?;
                Err(Error::AuthenticationFailed)
            }
        }
    }

    /// RFC 7296 §1.4, §2.21.2: an INFORMATIONAL request while EAP runs. strongSwan
    /// sends AUTHENTICATION_FAILED this way when it refuses our MS-CHAPv2 Failure (or
    /// Success) Request; that, or a Delete of the IKE SA, ends the handshake. It is
    /// answered with an empty response.
    pub(super) fn on_eap_informational(&mut self, m: &Message<'_>, data: &[u8]) -> Result<(), Error> {
        if self.eap.as_deref().is_none_or(|s| s.stage == Stage::Idle) {
            return Err(Error::UnexpectedMessage("INFORMATIONAL before IKE_AUTH"));
        }
        let suite = self.suite.ok_or(Error::Configuration("no IKE SA keys"))?;
        let keys = self.keys.as_ref().ok_or(Error::Configuration("no IKE SA keys"))?;
        let opened = open(&suite, keys.sender(true), m)?;
        let mut ends = None;
        for raw in PayloadIter::new(opened.first_inner, &opened.chain) {
            match raw?.parse()? {
                Payload::Notify(n) if n.notify_type == NotifyType::AuthenticationFailed => {
                    ends = Some(Error::AuthenticationFailed);
                }
                Payload::Delete(d) if d.protocol_id == crate::wire::v2::ProtocolId::Ike => {
                    ends = ends.or(Some(Error::UnexpectedMessage("IKE SA deleted by the peer during EAP")));
                }
                _ => {}
            }
        }
        let message_id = m.header.message_id;
        let mut inner = Vec::new();
        let first = ChainBuilder::new(&mut inner).finish();
        let out = self.protect_with(ExchangeType::Informational, message_id, true, &inner, first)?;
        self.send_response(data, out, self.nat.nat_detected());
        self.peer_next_id = message_id.wrapping_add(1);
        if let Some(error) = ends {
            self.eap = None;
            self.fail(error);
        }
        Ok(())
    }

    /// RFC 7296 §2.16: the last IKE_AUTH exchange, both AUTH payloads keyed with the MSK.
    #[allow(clippy::too_many_arguments)]
    fn eap_final(
        &mut self,
        now: Instant,
        suite: &IkeSuite,
        keys: &IkeKeys,
        method: AuthMethod,
        auth: &[u8],
        message_id: u32,
        data: &[u8],
    ) -> Result<(), Error> {
        let Some(server) = self.eap.take() else {
            return Err(Error::Configuration("not an EAP responder"));
        };
        let msk = server.msk.clone().ok_or(Error::Configuration("no MSK"))?;
        let first = auth_payloads(server.first_inner, &server.first_chain, true)?;
        let (id, id_body) = first.id.as_ref().ok_or(Error::UnexpectedMessage("IKE_AUTH without IDi"))?;
        let expected =
            psk_auth(suite.prf, msk.as_bytes(), &self.init_request, &self.nr, &keys.sk_pi, id_body);
        if method != AuthMethod::SharedKeyMic || !expected.ct_eq_bytes(auth) {
            self.auth_failed(data, message_id, Error::AuthenticationFailed)?;
            return Err(Error::AuthenticationFailed);
        }
        let own =
            psk_auth(suite.prf, msk.as_bytes(), &self.init_response, &self.ni, &keys.sk_pr, &self.id_body());
        let peer_id = Identity { id_type: id.id_type, data: id.data.to_vec() };
        let head = [Payload::Authentication(Authentication::new(AuthMethod::SharedKeyMic, own.as_bytes()))];
        self.finish_auth_response(now, keys, &first, peer_id, &head, message_id, data)
    }
}

//! The client's polite goodbye, layer by layer from the top: PPP LCP Terminate
//! (RFC 1661 §5.5), L2TP StopCCN (RFC 2661 §4.4.2), then IKEv1 Deletes of the ESP SA and
//! the ISAKMP SA (RFC 2408 §3.15). The owner drives it: [`L2tpIpsecClient::hang_up`], wait
//! a moment for [`L2tpIpsecClient::ppp_finished`], [`L2tpIpsecClient::close_l2tp`], wait
//! for [`L2tpIpsecClient::l2tp_closed`], then [`L2tpIpsecClient::delete_sas`].

use std::time::Instant;

use l2sec_ike::v1::info::{self, Informational};
use l2sec_ike::wire::v1::ProtocolId;

use super::{ClientTransmit, L2tpIpsecClient};

impl L2tpIpsecClient {
    /// Starts the PPP goodbye: LCP Terminate-Request with reason "user request".
    pub fn hang_up(&mut self, now: Instant) {
        self.ppp.close(now, "user request");
        self.progress(now);
    }

    /// True once PPP is over (our Terminate-Request was answered, the peer ended the link,
    /// or PPP never started).
    #[must_use]
    pub fn ppp_finished(&self) -> bool {
        self.ppp_finished || self.session.is_none()
    }

    /// Closes the L2TP tunnel: StopCCN with "shutting down".
    pub fn close_l2tp(&mut self, now: Instant) {
        self.lac.shutdown(now);
        self.lac_events(now);
        self.progress(now);
    }

    /// True once no L2TP tunnel remains (or none was ever made).
    #[must_use]
    pub fn l2tp_closed(&self) -> bool {
        self.lac.tunnel_count() == 0
    }

    /// Sends Deletes for our ESP SA (our inbound SPI) and the ISAKMP SA (its cookie pair),
    /// then drops the SAs: nothing more goes through the tunnel. IKEv1 Deletes are not
    /// acknowledged. Nothing is sent before phase 1 completed.
    pub fn delete_sas(&mut self, now: Instant) {
        if self.ikev2.is_some() {
            // IKEv2: one Delete of the IKE SA takes the Child SA with it.
            let _ = self.delete_ike_sa(now);
            self.sas = None;
            return;
        }
        let Some(ctx) = self.phase1.as_ref().and_then(|p| p.isakmp_context()) else { return };
        let mut rng = self.rng();
        let mut deletes = Vec::new();
        if let Some(spi) = self.inbound_spi() {
            deletes.push(Informational::Delete {
                protocol_id: ProtocolId::IpsecEsp,
                spis: vec![spi.to_be_bytes().to_vec()],
            });
        }
        let mut cookies = ctx.cookies.0.to_vec();
        cookies.extend_from_slice(&ctx.cookies.1);
        deletes.push(Informational::Delete { protocol_id: ProtocolId::Isakmp, spis: vec![cookies] });
        for d in &deletes {
            if let Ok(message) = info::encode(&ctx, d, &mut rng) {
                self.out.push_back(ClientTransmit::Ike { udp_encapsulated: ctx.udp_encapsulated, message });
            }
        }
        self.sas = None;
        self.dpd = None;
        self.quick = None;
    }
}

//! The client's PPP MRU from the path: once the ESP SA is known, PPP starts with the MRU
//! that fits the outer path ([`crate::mtu::ppp_mru`]).

use l2sec_ppp as ppp;

use super::L2tpIpsecClient;

impl L2tpIpsecClient {
    /// The outer path MTU (1500 unless told otherwise) from which the MRU is computed;
    /// takes effect for the next PPP session.
    pub fn set_outer_mtu(&mut self, mtu: u16) {
        self.outer_mtu = mtu;
    }

    /// The tunnel's IP MTU: the smaller of the MRU we offered and the server's.
    #[must_use]
    pub fn mtu(&self) -> u16 {
        self.mru.min(self.ppp.peer_mru())
    }

    /// Called as the L2TP session comes up, before PPP opens: a fresh PPP session whose
    /// LCP offers the path's MRU.
    pub(super) fn apply_path_mru(&mut self) {
        let Some((tx, _)) = self.sas.as_ref() else { return };
        let mut config = self.ppp_config.clone();
        config.lcp.mru = crate::mtu::ppp_mru(self.outer_mtu, tx);
        self.mru = config.lcp.mru;
        let rng = self.rng();
        self.ppp = ppp::Session::new(config, rng);
    }
}

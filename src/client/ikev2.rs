//! The client's IKEv2 side: an [`IkeSa`] initiator (IKE_SA_INIT, then IKE_AUTH with the
//! PSK and the L2TP transport-mode Child SA for UDP/1701, RFC 7296 §1.2, §1.3.1), in
//! place of IKEv1's Main Mode and Quick Mode. The ESP, L2TP and PPP layers above it are
//! the same for both versions.
//!
//! NAT-T is forced (RFC 7296 §2.23: a made-up NAT_DETECTION_SOURCE_IP), as for IKEv1: the
//! IKE_AUTH exchange and ESP then go over UDP/4500. The server's liveness checks and
//! Deletes are answered by the IKE SA itself.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2sec_esp::{InboundSa, OutboundSa};
use l2sec_ike::child::ChildSa;
use l2sec_ike::v2::ike_sa::{Event, Identity, IkeSa, IkeSaConfig, State};
use rand_chacha::ChaCha20Rng;

use super::{ClientEvent, ClientTransmit, L2tpIpsecClient};

/// Which IKE the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IkeVersion {
    /// IKEv1 (RFC 2409): Main Mode with a PSK, then Quick Mode. What built-in L2TP/IPsec
    /// clients use.
    #[default]
    V1,
    /// IKEv2 (RFC 7296): IKE_SA_INIT and IKE_AUTH with a PSK.
    V2,
}

impl std::str::FromStr for IkeVersion {
    type Err = String;

    /// `v1`, `1`, `ikev1`; `v2`, `2`, `ikev2`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "v1" | "1" | "ikev1" => Ok(Self::V1),
            "v2" | "2" | "ikev2" => Ok(Self::V2),
            other => Err(format!("unknown IKE version {other:?} (v1 or v2)")),
        }
    }
}

impl std::fmt::Display for IkeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        })
    }
}

/// IKEv2 defaults for a client at `local` talking to `server`: the suites and the L2TP
/// Child SA of [`IkeSaConfig::new`], our address as identity, NAT-T forced.
///
/// The Child SA's selectors are UDP/1701 of the two hosts, then UDP/1701 of any address
/// on both sides: behind a NAT the server answers with the addresses it sees (RFC 7296
/// §2.23.1; strongSwan puts the NAT's public address in TSi), which are neither ours nor
/// the one we dialled, and the answer must lie within what we proposed. Transport mode
/// carries only this pair's traffic anyway.
pub(super) fn default_config(local: SocketAddr, server: SocketAddr, psk: &[u8]) -> IkeSaConfig {
    use l2sec_ike::wire::v2::TrafficSelector;
    let mut c = IkeSaConfig::new(psk, Identity::ip(local.ip()), local, server);
    c.force_encapsulation = true;
    let l2tp = |v4: bool| {
        if v4 {
            TrafficSelector::Ipv4 {
                ip_protocol: 17,
                start_port: crate::ipsec_lns::L2TP_PORT,
                end_port: crate::ipsec_lns::L2TP_PORT,
                start: std::net::Ipv4Addr::UNSPECIFIED,
                end: std::net::Ipv4Addr::BROADCAST,
            }
        } else {
            TrafficSelector::Ipv6 {
                ip_protocol: 17,
                start_port: crate::ipsec_lns::L2TP_PORT,
                end_port: crate::ipsec_lns::L2TP_PORT,
                start: std::net::Ipv6Addr::UNSPECIFIED,
                end: std::net::Ipv6Addr::from([0xff; 16]),
            }
        }
    };
    let v4 = server.is_ipv4();
    // Our host first (what the server checks and narrows to), then the rest of UDP/1701 so
    // that the server's NAT-translated answer is within what we asked for.
    c.child.local_ts.push(l2tp(v4));
    c.child.remote_ts.push(l2tp(v4));
    c
}

/// RFC 7296 §2.4: how long the server may stay silent before we ask whether it is alive.
const LIVENESS_INTERVAL: Duration = Duration::from_secs(30);

/// Starts the IKE SA: IKE_SA_INIT is ready to send.
pub(super) fn initiate(
    config: IkeSaConfig,
    rng: ChaCha20Rng,
    now: Instant,
) -> Result<Box<Initiator>, l2sec_ike::Error> {
    IkeSa::initiate(config, rng, now).map(|sa| Box::new(Initiator { sa, last_seen: now }))
}

/// The client's IKE SA and its liveness check of the server (RFC 7296 §2.4): after
/// [`LIVENESS_INTERVAL`] without anything authenticated from the server, an empty
/// INFORMATIONAL request; when its retransmissions go unanswered the IKE SA fails
/// ([`ClientEvent::Failed`]).
pub(super) struct Initiator {
    sa: IkeSa<ChaCha20Rng>,
    /// Last authenticated datagram (IKE or ESP) from the server.
    last_seen: Instant,
}

impl Initiator {
    /// The SPIs `(ours, the server's)`.
    pub(super) const fn spis(&self) -> ([u8; 8], [u8; 8]) {
        self.sa.spis()
    }

    /// The IKE SA's own deadline, or the next liveness check once it is up.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let liveness = (self.sa.state() == State::Established).then_some(self.last_seen + LIVENESS_INTERVAL);
        self.sa.poll_timeout().into_iter().chain(liveness).min()
    }

    /// Runs what is due at `now`.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if self.sa.poll_timeout().is_some_and(|t| t <= now) {
            self.sa.handle_timeout(now);
        }
        if self.sa.state() == State::Established && self.last_seen + LIVENESS_INTERVAL <= now {
            // Refused while a request is outstanding: its retransmissions check already.
            let _ = self.sa.check_liveness(now);
            self.last_seen = now;
        }
    }

    /// ESP from the server authenticated: it is alive.
    pub(super) fn traffic_seen(&mut self, now: Instant) {
        self.last_seen = now;
    }
}

impl L2tpIpsecClient {
    /// An IKEv2 message from the server.
    pub(super) fn handle_ike_v2(&mut self, now: Instant, message: &[u8]) -> Result<(), l2sec_ike::Error> {
        let r = match self.ikev2.as_mut() {
            Some(i) => i.sa.handle_input(now, message).inspect(|()| i.last_seen = now),
            None => Err(l2sec_ike::Error::UnexpectedMessage("not speaking IKEv2")),
        };
        self.progress(now);
        r
    }

    /// RFC 7296 §1.4.1: deletes the IKEv2 IKE SA (and with it the Child SA): the server
    /// ends the connection at once instead of waiting for its liveness check to fail.
    ///
    /// # Errors
    /// Not speaking IKEv2 (IKEv1 Delete is not sent by this client yet), not established,
    /// or a request is still outstanding.
    pub fn delete_ike_sa(&mut self, now: Instant) -> Result<(), l2sec_ike::Error> {
        let i =
            self.ikev2.as_mut().ok_or(l2sec_ike::Error::Configuration("Delete is only sent with IKEv2"))?;
        i.sa.delete(now)?;
        self.progress(now);
        Ok(())
    }

    /// Moves IKEv2 forward: its datagrams out, its events to the owner, the Child SA into
    /// ESP and the L2TP tunnel started over it.
    pub(super) fn progress_v2(&mut self, now: Instant) {
        let Some(sa) = self.ikev2.as_mut().map(|i| &mut i.sa) else { return };
        let mut children = Vec::new();
        let mut delete = false;
        while let Some(ev) = sa.poll_event() {
            match ev {
                Event::Established { child, .. } => {
                    if let (Some(k), Some(line)) =
                        (self.keylog.as_mut(), l2sec_ike::keylog::ikev2_line_for_sa(sa))
                    {
                        k.push((super::KeyLogTable::Ikev2, line));
                    }
                    self.events.push_back(ClientEvent::IkeUp);
                    children.push(child);
                }
                Event::EstablishedWithoutChild { refused, .. } => {
                    self.events.push_back(ClientEvent::Failed(format!(
                        "IKEv2: the server refused the L2TP Child SA: {refused}"
                    )));
                    delete = true;
                }
                Event::Failed(e) => self.events.push_back(ClientEvent::Failed(format!("IKEv2: {e}"))),
                Event::ChildDeleted { .. } | Event::Closed => {
                    self.sas = None;
                    self.events.push_back(ClientEvent::Failed("the IKE SA was deleted".into()));
                }
                _ => {}
            }
        }
        if delete {
            let _ = sa.delete(now);
        }
        let mut buf = Vec::new();
        while let Some(t) = sa.poll_transmit(now, &mut buf) {
            let message = buf[buf.len() - t.size..].to_vec();
            self.out.push_back(ClientTransmit::Ike { udp_encapsulated: t.udp_encapsulated, message });
            buf.clear();
        }
        for child in children {
            self.child_up(now, &child);
        }
    }

    /// The L2TP Child SA is negotiated: ESP SAs in, then the L2TP tunnel and session.
    fn child_up(&mut self, now: Instant, child: &ChildSa) {
        let (inbound, outbound) = match child.esp_params() {
            Ok(p) => p,
            Err(e) => {
                self.events.push_back(ClientEvent::Failed(format!("ESP: {e}")));
                return;
            }
        };
        match (OutboundSa::new(&outbound), InboundSa::new(&inbound)) {
            (Ok(tx), Ok(rx)) => {
                self.log_esp(&inbound, &outbound);
                self.events.push_back(ClientEvent::EspUp { spi_in: inbound.spi, spi_out: outbound.spi });
                self.sas = Some((tx, rx));
                self.esp_udp = !crate::driver::raw_esp::is_raw(child);
                if let Err(e) = self.lac.connect(now, 0).and_then(|t| self.lac.open_session(now, t)) {
                    self.events.push_back(ClientEvent::Failed(format!("L2TP: {e}")));
                }
            }
            (Err(e), _) | (_, Err(e)) => self.events.push_back(ClientEvent::Failed(format!("ESP: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientConfig;
    use crate::ike_v2::{IkeV2Config, IkeV2Server};
    use rand_core::SeedableRng;

    /// The client comes up against the server's IKEv2 side, then the server goes silent:
    /// the client's liveness check goes unanswered and the connection fails.
    #[test]
    fn a_silent_server_fails_the_connection() {
        let (client, server) = ("192.0.2.20:500".parse().unwrap(), "192.0.2.1:500".parse().unwrap());
        let mut now = Instant::now();
        let mut s = IkeV2Server::new(
            IkeV2Config::new(b"psk", Identity::fqdn("server")),
            server,
            &mut ChaCha20Rng::seed_from_u64(1),
        );
        let mut config = ClientConfig::new(client, server, b"psk", "u", "p");
        config.ike = IkeVersion::V2;
        let mut c = L2tpIpsecClient::connect(config, &mut ChaCha20Rng::seed_from_u64(2), now).unwrap();
        let mut answered = true;
        let mut events = Vec::new();
        for _ in 0..200 {
            while let Some(t) = c.poll_transmit() {
                if let ClientTransmit::Ike { udp_encapsulated, message } = t
                    && answered
                {
                    let _ = s.handle_input(now, client, &message, udp_encapsulated);
                }
            }
            while let Some(t) = s.poll_transmit() {
                let _ = c.handle_ike(now, &t.message);
            }
            events.extend(std::iter::from_fn(|| c.poll_event()));
            if events.contains(&ClientEvent::IkeUp) {
                // From now on the server is gone.
                answered = false;
            }
            now += Duration::from_secs(1);
            c.handle_timeout(now);
        }
        assert!(events.iter().any(|e| matches!(e, ClientEvent::EspUp { .. })), "{events:?}");
        assert!(
            events.iter().any(|e| matches!(e, ClientEvent::Failed(m) if m.contains("IKEv2"))),
            "the silent server is noticed: {events:?}"
        );
    }
}

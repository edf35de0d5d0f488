//! The server's IKE ports answer IKEv1 and IKEv2 at once: each datagram goes to the
//! machine of its header's major version (RFC 7296 §3.1: the version octet sits at the
//! same place in both headers, 0x10 for ISAKMP, 0x20 for IKEv2). IKEv2's events meet the
//! data path here, as IKEv1's do in [`Server::flush`](super::Server).

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use l2sec_esp::natt::NON_ESP_MARKER;

use super::{Server, ServerEvent};
use crate::ike_v2::IkeV2Event;

/// Offset of the version octet in the ISAKMP and IKEv2 headers.
const VERSION_OFFSET: usize = 17;

/// The major version of an IKE message (high nibble of the version octet).
#[must_use]
pub fn ike_major_version(message: &[u8]) -> Option<u8> {
    message.get(VERSION_OFFSET).map(|v| v >> 4)
}

impl super::KeyLog {
    /// Rewrites Wireshark's `ikev2_decryption_table` from the lines collected so far.
    pub(super) fn write_ikev2(&self) -> io::Result<()> {
        let mut file = zeroize::Zeroizing::new(String::from(l2sec_ike::keylog::UAT_HEADER));
        file.push('\n');
        for l in &self.ikev2 {
            file.push_str(l);
            file.push('\n');
        }
        std::fs::write(self.dir.join(l2sec_ike::keylog::IKEV2_DECRYPTION_TABLE), file.as_bytes())
    }
}

impl Server {
    /// An IKE message from `from` (the non-ESP marker removed when `via_natt`): to IKEv1
    /// or IKEv2 by its version.
    pub(super) fn ike_input(
        &mut self,
        now: Instant,
        from: SocketAddr,
        message: &[u8],
        via_natt: bool,
        on_event: &mut impl FnMut(&ServerEvent),
    ) {
        // Certificates are checked against the wall clock, read here (the machines read
        // no clock).
        let wall = crate::cert::wall_clock();
        self.ike.set_wall_clock(wall);
        self.ike2.set_wall_clock(wall);
        let result = match ike_major_version(message) {
            Some(1) => self.ike.handle_input_via(now, from, message, via_natt),
            Some(2) => self.ike2.handle_input(now, from, message, via_natt),
            _ => Err(l2sec_ike::Error::UnexpectedMessage("unknown IKE version")),
        };
        if let Err(e) = result {
            on_event(&ServerEvent::Error(format!("ike from {from}: {e}")));
        }
    }

    /// Runs IKEv2's due timers, sends its datagrams and acts on its events: keys to the
    /// key log, Child SAs into the data path, ended connections out of it.
    pub(super) fn flush_ike_v2(
        &mut self,
        now: Instant,
        on_event: &mut impl FnMut(&ServerEvent),
    ) -> io::Result<()> {
        if self.ike2.poll_timeout().is_some_and(|t| t <= now) {
            self.ike2.handle_timeout(now);
        }
        while let Some(t) = self.ike2.poll_transmit() {
            if t.udp_encapsulated {
                let mut m = NON_ESP_MARKER.to_vec();
                m.extend_from_slice(&t.message);
                self.natt_socket.send_to(&m, t.destination)?;
            } else {
                self.ike_socket.send_to(&t.message, t.destination)?;
            }
        }
        while let Some(ev) = self.ike2.poll_event() {
            match ev {
                IkeV2Event::PeerUp { remote, keylog, .. } => {
                    if let Some(k) = self.keylog.as_mut() {
                        k.ikev2.push(keylog);
                        k.write_ikev2()?;
                    }
                    on_event(&ServerEvent::IkeUp { remote });
                }
                IkeV2Event::ChildSa { conn, remote, child } => {
                    if let Some((spi_in, spi_out)) = self.install_child(conn, remote, &child, on_event)? {
                        on_event(&ServerEvent::EspUp { remote, spi_in, spi_out });
                    }
                }
                IkeV2Event::ChildSaRekeyed { conn, remote, old_spi_in, child } => {
                    if let Some((spi_in, spi_out)) = self.install_child(conn, remote, &child, on_event)? {
                        on_event(&ServerEvent::EspRekeyed { remote, old_spi_in, spi_in, spi_out });
                    }
                }
                IkeV2Event::ChildSaRemoved { conn, spi_in } => {
                    self.data.remove_inbound_sa(spi_in);
                    on_event(&ServerEvent::EspDown { remote: self.data.remote_of(conn), spi_in });
                }
                IkeV2Event::IkeSaRekeyed { remote, keylog, .. } => {
                    if let Some(k) = self.keylog.as_mut() {
                        k.ikev2.push(keylog);
                        k.write_ikev2()?;
                    }
                    on_event(&ServerEvent::IkeRekeyed { remote });
                }
                IkeV2Event::PeerGone { conn, remote, dead } => {
                    self.data.end_connection(now, conn, dead);
                    on_event(&ServerEvent::IkeDown { remote, dead });
                }
                IkeV2Event::Failed { remote, error } => {
                    on_event(&ServerEvent::Error(format!("ikev2 with {remote}: {error}")))
                }
            }
        }
        Ok(())
    }
}

impl Server {
    /// Installs a negotiated Child SA (IKEv1 or IKEv2) for `conn` and logs its keys;
    /// returns `(spi_in, spi_out)`, or `None` after reporting why it could not.
    pub(super) fn install_child(
        &mut self,
        conn: crate::ipsec_lns::ConnId,
        remote: SocketAddr,
        child: &l2sec_ike::child::ChildSa,
        on_event: &mut impl FnMut(&ServerEvent),
    ) -> io::Result<Option<(u32, u32)>> {
        let (inbound, outbound) = match child.esp_params() {
            Ok(p) => p,
            Err(e) => {
                on_event(&ServerEvent::Error(format!("SAs for {remote}: {e}")));
                return Ok(None);
            }
        };
        if let Err(e) = self.data.install_child_sa(conn, remote, &inbound, &outbound) {
            on_event(&ServerEvent::Error(format!("installing SAs for {remote}: {e}")));
            return Ok(None);
        }
        // ESP in UDP, or raw (IP protocol 50) when negotiated without encapsulation.
        self.note_child_encapsulation(conn, child);
        if let Some(k) = self.keylog.as_mut() {
            for p in [&inbound, &outbound] {
                k.esp.push(zeroize::Zeroizing::new(l2sec_esp::keylog::esp_sa_line(p, None, None)));
            }
            k.write()?;
        }
        Ok(Some((inbound.spi, outbound.spi)))
    }
}

impl Server {
    /// RFC 7296 §1.4.1: sends every IKEv2 client a Delete of its IKE SA (for a polite
    /// shutdown; keep [`run`](Server::run)ning a moment for the answers, which end the
    /// connections).
    pub fn delete_ikev2_sas(&mut self) -> io::Result<()> {
        self.ike2.delete_all(Instant::now());
        while let Some(t) = self.ike2.poll_transmit() {
            if t.udp_encapsulated {
                let mut m = NON_ESP_MARKER.to_vec();
                m.extend_from_slice(&t.message);
                self.natt_socket.send_to(&m, t.destination)?;
            } else {
                self.ike_socket.send_to(&t.message, t.destination)?;
            }
        }
        Ok(())
    }
}

impl super::ClientConnection {
    /// RFC 7296 §1.4.1: deletes the client's IKEv2 IKE SA (the server ends the
    /// connection). Keep calling [`step`](Self::step) for the answer.
    ///
    /// # Errors
    /// The client speaks IKEv1, its IKE SA is not up, or sending failed.
    pub fn delete_ike_sa(&mut self) -> io::Result<()> {
        self.client.delete_ike_sa(Instant::now()).map_err(|e| io::Error::other(e.to_string()))?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::ike_major_version;

    /// RFC 2408 §3.1 / RFC 7296 §3.1: the version octet after the SPIs and Next Payload.
    #[test]
    fn major_version_from_the_header() {
        let mut h = [0u8; 28];
        h[17] = 0x10;
        assert_eq!(ike_major_version(&h), Some(1));
        h[17] = 0x20;
        assert_eq!(ike_major_version(&h), Some(2));
        assert_eq!(ike_major_version(&h[..17]), None);
    }
}

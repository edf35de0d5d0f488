//! Polite goodbyes on SIGINT/SIGTERM (or whenever the owner decides): every layer is told,
//! from the top down, before the process exits.
//!
//! The server: LCP Terminate-Request to every PPP session (each answered Terminate-Ack
//! ends the session with an L2TP CDN), then StopCCN on every L2TP tunnel, then IKEv1
//! Informational Deletes of each peer's ESP SAs and ISAKMP SA. The client does the same
//! for its one connection. IKEv1 Deletes are unacknowledged; the other steps wait for
//! their answers within a short grace period and go on without them.

use std::io;
use std::time::{Duration, Instant};

use super::{ClientConnection, Server, ServerEvent};

/// How long the server waits for PPP sessions to answer its Terminate-Requests.
const PPP_GRACE: Duration = Duration::from_millis(1500);
/// How long outstanding RADIUS requests (accounting Stops) get to be answered.
const RADIUS_GRACE: Duration = Duration::from_secs(2);
/// How long StopCCNs get to be acknowledged.
const L2TP_GRACE: Duration = Duration::from_millis(500);

impl Server {
    /// Hangs every session up politely (PPP, then L2TP, then IKE, each within a short
    /// grace period: about four seconds in all at worst, two of them for RADIUS accounting
    /// Stops) and sends what that produces.
    pub fn shutdown(&mut self, mut on_event: impl FnMut(&ServerEvent)) -> io::Result<()> {
        let start = Instant::now();
        self.ike.refuse_new_peers();
        self.data.close_all_sessions(start, "server shutting down");
        self.run_until(|s| s.data.lns().session_count() == 0 || start.elapsed() >= PPP_GRACE, &mut on_event)?;
        let l2tp_start = Instant::now();
        self.data.shutdown_tunnels(l2tp_start);
        self.run_until(
            |s| s.data.lns().tunnel_count() == 0 || l2tp_start.elapsed() >= L2TP_GRACE,
            &mut on_event,
        )?;
        let connections = self.data.connections();
        self.ike.delete_all(|conn| {
            connections.iter().find(|(c, _)| *c == conn).map(|(_, spis)| spis.clone()).unwrap_or_default()
        });
        let mut out = Vec::new();
        self.flush(Instant::now(), &mut out, &mut on_event)?;
        // Accounting Stops of the sessions that just ended get a moment to be answered.
        let radius_start = Instant::now();
        self.run_until(|s| s.radius_idle() || radius_start.elapsed() >= RADIUS_GRACE, &mut on_event)
    }
}

impl ClientConnection {
    /// Tears the connection down politely: LCP Terminate (up to a second for the answer),
    /// StopCCN (up to half a second), then IKE Deletes of the ESP and ISAKMP SAs.
    pub fn disconnect(&mut self, mut on_event: impl FnMut(&crate::client::ClientEvent)) -> io::Result<()> {
        let start = Instant::now();
        self.client.hang_up(start);
        self.flush()?;
        while !self.client.ppp_finished() && start.elapsed() < Duration::from_secs(1) {
            if !self.step(&mut on_event)? {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let l2tp_start = Instant::now();
        self.client.close_l2tp(l2tp_start);
        self.flush()?;
        while !self.client.l2tp_closed() && l2tp_start.elapsed() < L2TP_GRACE {
            if !self.step(&mut on_event)? {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.client.delete_sas(Instant::now());
        self.flush()
    }
}

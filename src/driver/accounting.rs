//! RADIUS accounting of the server's PPP sessions (RFC 2866): an Accounting-Request Start
//! when IPCP opens (user, Framed-IP-Address, Calling-Station-Id, the Class of the
//! Access-Accept), and a Stop when the session ends, with the same Acct-Session-Id, the
//! session time, octets and packets both ways and the terminate cause.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use l2sec_l2tp::SessionHandle;
use l2sec_radius_auth::attr::{AcctAuthentic, AcctStatusType, AcctTerminateCause, NasPortType};
use l2sec_radius_auth::{AccountingRequest, SessionCounters};

use crate::lns::{DownCause, SessionUsage};

/// One accounted session.
#[derive(Debug)]
struct Open {
    id: String,
    user: String,
    address: Ipv4Addr,
    calling_station: Option<String>,
    class: Vec<Vec<u8>>,
}

/// The accounting state: session ids and what Start said, per session.
#[derive(Debug)]
pub(super) struct Accounting {
    /// A random prefix per server run, so ids never repeat across restarts.
    boot: u32,
    next: u32,
    open: HashMap<SessionHandle, Open>,
    /// Class attributes of Access-Accepts, until the session's Start.
    class: HashMap<SessionHandle, Vec<Vec<u8>>>,
}

/// RFC 2866 §5.10 for a [`DownCause`].
fn terminate_cause(cause: DownCause) -> AcctTerminateCause {
    match cause {
        DownCause::LostCarrier => AcctTerminateCause::LOST_CARRIER,
        DownCause::LostService => AcctTerminateCause::LOST_SERVICE,
        DownCause::AdminReset => AcctTerminateCause::ADMIN_RESET,
        DownCause::AdminReboot => AcctTerminateCause::ADMIN_REBOOT,
        DownCause::UserError => AcctTerminateCause::USER_ERROR,
        _ => AcctTerminateCause::USER_REQUEST,
    }
}

impl Accounting {
    pub(super) fn new(boot: u32) -> Self {
        Self { boot, next: 1, open: HashMap::new(), class: HashMap::new() }
    }

    /// Remembers the Class of an Access-Accept for the session's Start and Stop.
    pub(super) fn accepted(&mut self, session: SessionHandle, class: Vec<Vec<u8>>) {
        if !class.is_empty() {
            self.class.insert(session, class);
        }
    }

    /// The Start of a session whose IPCP just opened.
    pub(super) fn start(
        &mut self,
        session: SessionHandle,
        user: &[u8],
        address: Ipv4Addr,
        calling: Option<SocketAddr>,
    ) -> AccountingRequest {
        let id = format!("{:08X}{:08X}", self.boot, self.next);
        self.next = self.next.wrapping_add(1);
        let open = Open {
            id,
            user: String::from_utf8_lossy(user).into_owned(),
            address,
            calling_station: calling.map(|a| a.ip().to_string()),
            class: self.class.remove(&session).unwrap_or_default(),
        };
        let r = self.request(AcctStatusType::START, &open);
        self.open.insert(session, open);
        r
    }

    /// The Stop of a session that had a Start (`None` otherwise).
    pub(super) fn stop(
        &mut self,
        now: Instant,
        session: SessionHandle,
        usage: &SessionUsage,
    ) -> Option<AccountingRequest> {
        self.class.remove(&session);
        let open = self.open.remove(&session)?;
        let mut r = self.request(AcctStatusType::STOP, &open);
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        r.counters = Some(SessionCounters {
            session_time: usage
                .up_since
                .map_or(0, |t| u32::try_from(now.saturating_duration_since(t).as_secs()).unwrap_or(u32::MAX)),
            input_octets: usage.input_octets,
            output_octets: usage.output_octets,
            input_packets: clamp(usage.input_packets),
            output_packets: clamp(usage.output_packets),
        });
        r.terminate_cause = Some(terminate_cause(usage.cause));
        Some(r)
    }

    fn request(&self, status: AcctStatusType, open: &Open) -> AccountingRequest {
        let mut r = AccountingRequest::new(status, open.id.clone());
        r.user_name = Some(open.user.clone());
        r.framed_ip_address = Some(open.address);
        r.authentic = Some(AcctAuthentic::RADIUS);
        r.session.nas_port_type = NasPortType::VIRTUAL;
        r.session.calling_station_id.clone_from(&open.calling_station);
        r.class.clone_from(&open.class);
        r
    }
}

impl super::Server {
    /// Sends the Start of a session whose IPCP opened (if accounting is on).
    pub(super) fn account_start(
        &mut self,
        now: Instant,
        session: SessionHandle,
        peer: crate::ipsec_lns::L2tpPeer,
        user: &[u8],
        address: Ipv4Addr,
        on_event: &mut impl FnMut(&super::ServerEvent),
    ) {
        let calling = match peer {
            crate::ipsec_lns::L2tpPeer::Ipsec { conn, .. } => self.data.remote_of(conn),
            crate::ipsec_lns::L2tpPeer::Plain(a) => Some(a),
        };
        let Some(r) = self.radius.as_mut() else { return };
        let Some(acct) = r.accounting.as_mut() else { return };
        let request = acct.start(session, user, address, calling);
        if let Err(e) = r.client.account(now, request) {
            on_event(&super::ServerEvent::Error(format!("radius accounting start: {e}")));
        }
    }

    /// Sends the Stop of a session that ended (if it had a Start).
    pub(super) fn account_stop(
        &mut self,
        now: Instant,
        session: SessionHandle,
        usage: &SessionUsage,
        on_event: &mut impl FnMut(&super::ServerEvent),
    ) {
        let Some(r) = self.radius.as_mut() else { return };
        let Some(acct) = r.accounting.as_mut() else { return };
        let Some(request) = acct.stop(now, session, usage) else { return };
        if let Err(e) = r.client.account(now, request) {
            on_event(&super::ServerEvent::Error(format!("radius accounting stop: {e}")));
        }
    }

    /// True when no RADIUS request is outstanding or queued.
    pub(super) fn radius_idle(&self) -> bool {
        self.radius.as_ref().is_none_or(|r| r.client.outstanding() == 0 && r.client.queued() == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn handle(n: u16) -> SessionHandle {
        SessionHandle { tunnel: l2sec_l2tp::TunnelId(1), session: n }
    }

    #[test]
    fn start_and_stop_share_the_session_id_and_carry_usage() {
        let mut a = Accounting::new(0xdead_beef);
        a.accepted(handle(1), vec![b"class-a".to_vec()]);
        let start =
            a.start(handle(1), b"alice", Ipv4Addr::new(10, 0, 0, 2), Some("192.0.2.9:4500".parse().unwrap()));
        let other = a.start(handle(2), b"bob", Ipv4Addr::new(10, 0, 0, 3), None);
        assert_eq!(start.session_id, "DEADBEEF00000001");
        assert_ne!(start.session_id, other.session_id);
        assert_eq!(start.status, AcctStatusType::START);
        assert_eq!(start.class, vec![b"class-a".to_vec()]);
        assert_eq!(start.session.calling_station_id.as_deref(), Some("192.0.2.9"));
        let t0 = Instant::now();
        let usage = SessionUsage {
            username: b"alice".to_vec(),
            up_since: Some(t0),
            input_packets: 3,
            input_octets: 252,
            output_packets: 2,
            output_octets: 168,
            cause: DownCause::LostService,
        };
        let stop = a.stop(t0 + Duration::from_secs(61), handle(1), &usage).unwrap();
        assert_eq!(stop.session_id, start.session_id);
        assert_eq!(stop.status, AcctStatusType::STOP);
        assert_eq!(stop.framed_ip_address, Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(stop.terminate_cause, Some(AcctTerminateCause::LOST_SERVICE));
        let c = stop.counters.unwrap();
        assert_eq!(
            (c.session_time, c.input_packets, c.input_octets, c.output_packets, c.output_octets),
            (61, 3, 252, 2, 168)
        );
        // Only once, and never for a session without a Start.
        assert!(a.stop(t0, handle(1), &usage).is_none());
        assert!(a.stop(t0, handle(9), &usage).is_none());
    }
}

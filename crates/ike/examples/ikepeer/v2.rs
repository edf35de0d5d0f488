//! IKEv2: IKE_SA_INIT + IKE_AUTH with PSK and NAT-T, the first Child SA, rekeying of the
//! Child SA and of the IKE SA by the local lifetimes (CREATE_CHILD_SA, either side),
//! liveness checks, Deletes.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use l2sec_ike::child::{EspMode, Lifetime};
use l2sec_ike::proposal::{ike_suite_name, parse_esp_list, parse_ike_list};
use l2sec_ike::v2::ike_sa::{ChildConfig, Event, Identity, IkeSa, IkeSaConfig};
use l2sec_ike::wire::v2::{IdType, TrafficSelector};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::cli::{Args, Role};
use crate::{By, IkePeer, KeyTable, PeerEvent, child_rng, id_text};

/// What an IKEv2 initiator offers when `--proposal` is not given (strongSwan's lab
/// initiator), and what a responder accepts.
const DEFAULT_INITIATOR_IKE: &str = "aes128-sha256-modp2048";
const DEFAULT_RESPONDER_IKE: &str = "aes128-aes256-aes192-sha256-sha1-sha384-sha512-\
     modp2048-ecp256-ecp384-x25519-modp3072-modp4096,aes128gcm16-aes256gcm16-prfsha256-prfsha384-prfsha512-\
     ecp256-x25519-modp2048-ecp384";
const DEFAULT_INITIATOR_ESP: &str = "aes128-sha256";
/// What a responder accepts when `--esp` is not given.
const DEFAULT_RESPONDER_ESP: &str = "aes128-aes256-aes192-sha256-sha1-sha384-sha512,aes128gcm16-aes256gcm16";

pub struct V2Peer {
    sa: IkeSa<ChaCha20Rng>,
    events: VecDeque<PeerEvent>,
    /// We sent a Delete of the IKE SA.
    deleting: bool,
    /// The IKE SA is up (a later timeout means the peer died).
    up: bool,
    keylogged: bool,
    liveness: Option<Duration>,
    next_liveness: Option<Instant>,
    ike_lifetime: Option<Duration>,
    /// A datagram taken from the machine early (see `handle_datagram`).
    held: VecDeque<Vec<u8>>,
    /// A shutdown waits for our outstanding request to finish.
    delete_wanted: bool,
    /// The IKE SA's SPIs as last announced (to name the old ones after a rekey).
    spis: ([u8; 8], [u8; 8]),
    /// Outbound SPI of every Child SA by inbound SPI.
    children: std::collections::HashMap<u32, u32>,
    /// Inbound SPIs of Child SAs replaced by a rekey.
    replaced: Vec<u32>,
}

fn spis_hex((i, r): &([u8; 8], [u8; 8])) -> String {
    i.iter().chain(r).map(|b| format!("{b:02x}")).collect()
}

fn identity(args: &Args) -> Identity {
    match &args.id {
        Some(id) => match id.parse::<IpAddr>() {
            Ok(a) => Identity::ip(a),
            Err(_) => Identity::fqdn(id.trim_start_matches('@')),
        },
        None => Identity::ip(args.local),
    }
}

impl V2Peer {
    pub fn new(args: &Args, mut rng: ChaCha20Rng, remote: SocketAddr, now: Instant) -> Result<Self, String> {
        let initiator = args.role == Role::Initiator;
        let ike = match &args.proposals {
            Some(p) => p.clone(),
            None => parse_ike_list(if initiator { DEFAULT_INITIATOR_IKE } else { DEFAULT_RESPONDER_IKE })
                .map_err(|e| e.to_string())?,
        };
        let esp = match &args.esp {
            Some(p) => p.clone(),
            None => parse_esp_list(if initiator { DEFAULT_INITIATOR_ESP } else { DEFAULT_RESPONDER_ESP })
                .map_err(|e| e.to_string())?,
        };
        if esp.iter().any(|p| p.pfs_group.is_some()) {
            // The first Child SA comes out of IKE_AUTH, which has no KE payload
            // (RFC 7296 §1.2): its keys come from the IKE SA's exchange anyway.
            eprintln!("ikepeer: IKEv2 ignores the PFS groups of --esp for the first Child SA");
        }
        let mut config = IkeSaConfig::new(args.psk.as_bytes(), identity(args), args.local_ike(), remote);
        config.proposals =
            ike.iter().map(|p| p.v2()).collect::<Result<_, _>>().map_err(|e| format!("--proposal: {e}"))?;
        // ESP goes in UDP only (see the IKEv1 side).
        config.force_encapsulation = true;
        config.ike_lifetime = args.ike_lifetime;
        config.child = match args.mode {
            EspMode::Transport => ChildConfig::l2tp(args.local, args.remote),
            EspMode::Tunnel => {
                let Some((l, r)) = args.inner() else {
                    return Err("tunnel mode needs IPv4 inner addresses (--tunnel-inner)".to_owned());
                };
                ChildConfig {
                    proposals: Vec::new(),
                    mode: EspMode::Tunnel,
                    local_ts: vec![TrafficSelector::ipv4_host(l, 0, None)],
                    remote_ts: vec![TrafficSelector::ipv4_host(r, 0, None)],
                    lifetime: Lifetime { time: Some(Duration::from_secs(3600)), bytes: None },
                    pfs: None,
                }
            }
        };
        config.child.proposals = esp.iter().map(|p| p.v2()).collect();
        if let Some(t) = args.lifetime {
            config.child.lifetime = Lifetime { time: Some(t), bytes: None };
        }
        let machine_rng = child_rng(&mut rng);
        let sa = if initiator {
            IkeSa::initiate(config, machine_rng, now).map_err(|e| e.to_string())?
        } else {
            IkeSa::respond(config, machine_rng, now)
        };
        Ok(Self {
            sa,
            events: VecDeque::new(),
            deleting: false,
            up: false,
            keylogged: false,
            liveness: args.dpd,
            next_liveness: None,
            ike_lifetime: args.ike_lifetime,
            held: VecDeque::new(),
            delete_wanted: false,
            spis: ([0; 8], [0; 8]),
            children: std::collections::HashMap::new(),
            replaced: Vec::new(),
        })
    }

    fn ike_up(
        &mut self,
        suite: &l2sec_ike::v2::keys::IkeSuite,
        peer_id: &Identity,
        nat_local: bool,
        nat_remote: bool,
    ) {
        self.up = true;
        self.events.push_back(PeerEvent::IkeUp(json!({
            "version": 2,
            "exchange": "ike_auth",
            "proposal": ike_suite_name(suite),
            "peer_id": id_text(peer_id.id_type == IdType::Ipv4Addr, &peer_id.data),
            "nat_local": nat_local,
            "nat_remote": nat_remote,
            "floated": nat_local || nat_remote,
        })));
    }

    fn pump(&mut self, now: Instant) {
        if self.delete_wanted && !self.deleting && self.sa.delete(now).is_ok() {
            self.delete_wanted = false;
            self.deleting = true;
        }
        if !self.keylogged
            && let Some(line) = l2sec_ike::keylog::ikev2_line_for_sa(&self.sa)
        {
            self.keylogged = true;
            self.events.push_back(PeerEvent::Keylog(KeyTable::V2, line));
        }
        while let Some(e) = self.sa.poll_event() {
            match e {
                Event::Established { child, suite, peer_id, nat, .. } => {
                    self.spis = self.sa.spis();
                    self.children.insert(child.spi_in, child.spi_out);
                    self.ike_up(&suite, &peer_id, nat.local_behind_nat, nat.remote_behind_nat);
                    self.events.push_back(PeerEvent::ChildUp(Box::new(child)));
                    self.next_liveness = self.liveness.map(|d| now + d);
                }
                Event::EstablishedWithoutChild { suite, peer_id, nat, refused } => {
                    self.spis = self.sa.spis();
                    self.ike_up(&suite, &peer_id, nat.local_behind_nat, nat.remote_behind_nat);
                    self.events.push_back(PeerEvent::Error {
                        message: format!("child SA refused: {refused}"),
                        fatal: false,
                    });
                    self.next_liveness = self.liveness.map(|d| now + d);
                }
                Event::Failed(l2sec_ike::Error::Timeout) if self.up => {
                    self.events.push_back(PeerEvent::PeerDead)
                }
                Event::Failed(e) => self.events.push_back(PeerEvent::fatal(format!("IKEv2: {e}"))),
                Event::ChildDeleted { spi_in } => {
                    self.children.remove(&spi_in);
                    let replaced = self.replaced.contains(&spi_in);
                    self.replaced.retain(|s| *s != spi_in);
                    // The machine does not say who sent the Delete: a replaced Child SA is
                    // deleted as part of the rekey (by whoever started it), any other one
                    // by the peer.
                    let by = match (self.deleting, replaced) {
                        (true, _) => By::Local,
                        (false, true) => By::Rekey,
                        (false, false) => By::Peer,
                    };
                    self.events.push_back(PeerEvent::ChildDeleted { spi_in, by, replaced });
                }
                Event::ChildSaCreated { child, .. } => {
                    self.children.insert(child.spi_in, child.spi_out);
                    self.events.push_back(PeerEvent::ChildUp(Box::new(child)));
                }
                Event::ChildSaRekeyed { old_spi_in, child, .. } => {
                    self.children.insert(child.spi_in, child.spi_out);
                    self.replaced.push(old_spi_in);
                    let old_spi_out = self.children.get(&old_spi_in).copied();
                    self.events.push_back(PeerEvent::ChildRekeyed {
                        old_spi_in,
                        old_spi_out,
                        child: Box::new(child),
                    });
                }
                Event::IkeSaRekeyed { spis, .. } => {
                    let old = std::mem::replace(&mut self.spis, spis);
                    // The new keys for the Wireshark table.
                    self.keylogged = false;
                    self.events.push_back(PeerEvent::IkeRekeyed {
                        old: spis_hex(&old),
                        new: spis_hex(&spis),
                        lifetime: self.ike_lifetime,
                    });
                    // RFC 7296 §2.18: the old IKE SA is deleted with the rekey (the
                    // machine runs that Delete itself).
                    self.events.push_back(PeerEvent::IkeDeleted {
                        by: By::Rekey,
                        spi: Some(spis_hex(&old)),
                        replaced: true,
                        last: false,
                    });
                }
                Event::CreateChildFailed { rekeying, error } => {
                    self.events.push_back(PeerEvent::Error {
                        message: format!("CREATE_CHILD_SA (rekey of {rekeying:08x?}): {error}"),
                        fatal: false,
                    });
                }
                Event::Closed => {
                    let by = if self.deleting { By::Local } else { By::Peer };
                    let spi = Some(spis_hex(&self.spis));
                    self.events.push_back(PeerEvent::IkeDeleted { by, spi, replaced: false, last: true });
                }
                other => eprintln!("ikepeer: IKEv2 event {other:?}"),
            }
        }
    }
}

impl IkePeer for V2Peer {
    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        let before = self.sa.spis();
        if let Err(e) = self.sa.handle_input(now, data) {
            eprintln!("ikepeer: dropped an IKEv2 datagram: {e}");
        }
        // Work-around: as responder of the peer's IKE SA rekey, the machine switches to
        // the new SA without sending its answer (it goes to the replaced SA with the
        // request). The replaced SA answers a repeated request, so repeat it now instead
        // of waiting for the peer's retransmission.
        let request = data.get(19).is_some_and(|flags| flags & 0x20 == 0);
        if request && self.up && self.sa.spis() != before && before.1 != [0; 8] {
            let mut probe = Vec::new();
            if self.sa.poll_transmit(now, &mut probe).is_some() {
                self.held.push_back(probe);
            } else if let Err(e) = self.sa.handle_input(now, data) {
                eprintln!("ikepeer: IKE SA rekey answer: {e}");
            }
        }
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.sa.poll_timeout().is_some_and(|t| t <= now) {
            self.sa.handle_timeout(now);
        }
        if let (Some(at), Some(every)) = (self.next_liveness, self.liveness)
            && at <= now
            && !self.deleting
        {
            // Window size 1: only when no request of ours is outstanding.
            if self.sa.poll_timeout().is_none() && self.sa.check_liveness(now).is_ok() {
                eprintln!("ikepeer: liveness check sent");
            }
            self.next_liveness = Some(now + every);
        }
        self.pump(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.sa.poll_timeout(), self.next_liveness].into_iter().flatten().min()
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<bool> {
        if let Some(d) = self.held.pop_front() {
            buf.extend_from_slice(&d);
            // After IKE_SA_INIT, IKEv2 always goes to the NAT-T port (forced encapsulation).
            return Some(true);
        }
        self.sa.poll_transmit(now, buf).map(|t| t.udp_encapsulated)
    }

    fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    fn delete(&mut self, now: Instant) -> bool {
        match self.sa.delete(now) {
            Ok(()) => {
                self.deleting = true;
                true
            }
            Err(e) if self.up && self.sa.poll_timeout().is_some() => {
                // A request of ours (a rekey, say) is outstanding: delete once it is done.
                eprintln!("ikepeer: delete waits for our outstanding request ({e})");
                self.delete_wanted = true;
                true
            }
            Err(e) => {
                eprintln!("ikepeer: cannot delete the IKE SA now: {e}");
                false
            }
        }
    }

    fn esp_traffic(&mut self, now: Instant, _spi_in: u32, _bytes: u64, inbound: bool) {
        if !inbound {
            return;
        }
        if let (Some(every), Some(_)) = (self.liveness, self.next_liveness) {
            self.next_liveness = Some(now + every);
        }
    }
}

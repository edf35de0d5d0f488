//! ikepeer: one IKE endpoint (IKEv1 or IKEv2, initiator or responder, PSK) over real UDP
//! sockets, with l2sec-esp carrying tunnel-mode traffic through a TUN device or answering
//! pings itself. See the "ikepeer" section of the crate README.
//!
//! The owner loop lives here: it reads datagrams (IKE port, NAT-T port), TUN packets and
//! signals from one channel fed by reader threads, feeds them to the IKE machines
//! (`v1.rs`, `v2.rs`) and the data plane (`dataplane.rs`), sends what they queue, prints
//! their events (`events.rs`) and sleeps until the next deadline.

mod cli;
mod dataplane;
mod events;
mod v1;
mod v2;

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use l2sec_esp::natt::{self, KEEPALIVE, NON_ESP_MARKER, Udp4500};
use l2sec_ike::child::{ChildSa, EspEncapsulation, EspMode};
use l2sec_ike::proposal::esp_transform_name;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use cli::{Args, Role, Version};
use dataplane::{DataPlane, Inbound};
use events::{Keylog, Output};

/// Who ended an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum By {
    Local,
    Peer,
    Lifetime,
    /// Replaced by a rekey and deleted as part of it.
    Rekey,
}

impl By {
    fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Peer => "peer",
            Self::Lifetime => "lifetime",
            Self::Rekey => "rekey",
        }
    }
}

/// Which Wireshark table a key-log line belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyTable {
    V1,
    V2,
}

/// What an IKE version module reports to the owner loop.
#[derive(Debug)]
pub(crate) enum PeerEvent {
    /// The IKE SA is up; the JSON fields of the `ike_up` event.
    IkeUp(Value),
    /// A Child SA is negotiated: install it.
    ChildUp(Box<ChildSa>),
    /// A Child SA replaces the pair with inbound SPI `old_spi_in`: install it and send on
    /// it; the old pair keeps receiving until its `ChildDeleted`.
    ChildRekeyed { old_spi_in: u32, old_spi_out: Option<u32>, child: Box<ChildSa> },
    /// The IKE SA was rekeyed: old and new SPIs (hex), the new SA's lifetime if known.
    IkeRekeyed { old: String, new: String, lifetime: Option<Duration> },
    /// A Child SA is gone; `replaced`: a rekey had replaced it.
    ChildDeleted { spi_in: u32, by: By, replaced: bool },
    /// An IKE SA is gone (`spi` in hex when known); `replaced`: a rekey had replaced it;
    /// `last`: no IKE SA is left, the run ends.
    IkeDeleted { by: By, spi: Option<String>, replaced: bool, last: bool },
    /// DPD / liveness: the peer stopped answering.
    PeerDead,
    /// Something failed; `fatal` ends the run.
    Error { message: String, fatal: bool },
    /// A line for the Wireshark key log.
    Keylog(KeyTable, Zeroizing<String>),
}

impl PeerEvent {
    fn fatal(message: String) -> Self {
        Self::Error { message, fatal: true }
    }
}

/// The owner loop's view of one IKE SA with its Child SA, whatever the version.
pub(crate) trait IkePeer {
    /// One IKE datagram (without non-ESP marker).
    fn handle_datagram(&mut self, now: Instant, data: &[u8]);
    /// Runs the timers due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next datagram into `buf`; `Some(true)` means the NAT-T port with the marker.
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<bool>;
    /// The next event.
    fn poll_event(&mut self) -> Option<PeerEvent>;
    /// Deletes the SAs (Delete payloads); false when there is nothing to delete.
    fn delete(&mut self, now: Instant) -> bool;
    /// `bytes` of ESP went through the pair with inbound SPI `spi_in` (`inbound`: from
    /// the peer, which postpones DPD); counts against kilobyte lifetimes.
    fn esp_traffic(&mut self, now: Instant, spi_in: u32, bytes: u64, inbound: bool);
}

/// A generator for one machine, drawn from the run's generator.
pub(crate) fn child_rng(rng: &mut ChaCha20Rng) -> ChaCha20Rng {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    ChaCha20Rng::from_seed(seed)
}

/// An identity as text: dotted quad for IPv4, the bytes as UTF-8 otherwise.
pub(crate) fn id_text(ipv4: bool, data: &[u8]) -> String {
    match <[u8; 4]>::try_from(data) {
        Ok(a) if ipv4 => std::net::Ipv4Addr::from(a).to_string(),
        _ => String::from_utf8_lossy(data).into_owned(),
    }
}

/// Everything the reader threads hand to the loop.
enum Input {
    /// A datagram on the IKE port (`natt` false) or the NAT-T port.
    Udp { natt: bool, from: SocketAddr, data: Vec<u8> },
    /// A packet from the TUN device.
    Tun(Vec<u8>),
    /// SIGINT or SIGTERM.
    Signal(i32),
}

fn spawn_udp_reader(socket: UdpSocket, natt: bool, tx: mpsc::Sender<Input>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if tx.send(Input::Udp { natt, from, data: buf[..n].to_vec() }).is_err() {
                break;
            }
        }
    });
}

fn spawn_tun_reader(tun: Arc<tun_rs::SyncDevice>, tx: mpsc::Sender<Input>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = tun.recv(&mut buf) {
            if tx.send(Input::Tun(buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
}

fn spawn_signal_reader(tx: mpsc::Sender<Input>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if tx.send(Input::Signal(sig)).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// Exit statuses.
const EXIT_ERROR: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_PEER_DEAD: u8 = 3;
const EXIT_PING_LOST: u8 = 4;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match cli::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("ikepeer: {e}");
            }
            eprintln!("{}", cli::USAGE);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let out = Output::new(args.json);
    match Peer::start(&args, &out).and_then(|mut p| p.run()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            out.error(&e);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The owner: sockets, machines, data plane, output.
struct Peer<'a> {
    args: &'a Args,
    out: &'a Output,
    keylog: Option<Keylog>,
    s_ike: UdpSocket,
    s_natt: UdpSocket,
    rx: mpsc::Receiver<Input>,
    rng: ChaCha20Rng,
    ike: Option<Box<dyn IkePeer>>,
    peer_ike: SocketAddr,
    peer_natt: SocketAddr,
    dp: DataPlane,
    started: Instant,
    child_up: bool,
    ike_up: bool,
    /// Set once we sent Deletes: exit when the peer answers, or at this deadline.
    exit_at: Option<Instant>,
    exit_code: u8,
    ping_replies: u32,
    /// When a responder received its first IKE datagram.
    first_datagram: Option<Instant>,
}

impl<'a> Peer<'a> {
    fn start(args: &'a Args, out: &'a Output) -> Result<Self, String> {
        let s_ike =
            UdpSocket::bind(args.local_ike()).map_err(|e| format!("bind {}: {e}", args.local_ike()))?;
        let natt_addr = SocketAddr::new(args.local, args.natt_port);
        let s_natt = UdpSocket::bind(natt_addr).map_err(|e| format!("bind {natt_addr}: {e}"))?;
        let (tx, rx) = mpsc::channel();
        spawn_udp_reader(s_ike.try_clone().map_err(|e| e.to_string())?, false, tx.clone());
        spawn_udp_reader(s_natt.try_clone().map_err(|e| e.to_string())?, true, tx.clone());
        spawn_signal_reader(tx.clone()).map_err(|e| format!("signals: {e}"))?;
        let tun = match (&args.tun, args.inner()) {
            (Some(name), Some((local, remote))) => {
                let dev = dataplane::open_tun(name, local, remote).map_err(|e| format!("TUN {name}: {e}"))?;
                let dev = Arc::new(dev);
                spawn_tun_reader(Arc::clone(&dev), tx.clone());
                Some(dev)
            }
            _ => None,
        };
        drop(tx);
        let keylog = match &args.keylog {
            Some(dir) => {
                Some(Keylog::create(dir.clone()).map_err(|e| format!("--keylog {}: {e}", dir.display()))?)
            }
            None => None,
        };
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| format!("no OS randomness: {e}"))?;
        let inner = if args.mode == EspMode::Tunnel { args.inner() } else { None };
        let mut peer = Self {
            args,
            out,
            keylog,
            s_ike,
            s_natt,
            rx,
            rng: ChaCha20Rng::from_seed(seed),
            ike: None,
            peer_ike: args.remote_ike(),
            peer_natt: args.remote_natt(),
            dp: DataPlane::new(inner, tun, args.ping),
            started: Instant::now(),
            child_up: false,
            ike_up: false,
            exit_at: None,
            exit_code: 0,
            ping_replies: 0,
            first_datagram: None,
        };
        if args.role == Role::Initiator {
            let version = args.ike.unwrap_or(Version::V1);
            peer.ike = Some(peer.machine(version, args.remote_ike(), Instant::now())?);
        }
        out.emit(
            "started",
            json!({
                "role": if args.role == Role::Initiator { "initiator" } else { "responder" },
                "ike": match args.ike { Some(Version::V1) => "v1", Some(Version::V2) => "v2", None if args.role == Role::Initiator => "v1", None => "v1+v2" },
                "local": args.local_ike().to_string(),
                "natt_port": args.natt_port,
                "tun": args.tun,
            }),
        );
        Ok(peer)
    }

    fn machine(
        &mut self,
        version: Version,
        remote: SocketAddr,
        now: Instant,
    ) -> Result<Box<dyn IkePeer>, String> {
        let rng = child_rng(&mut self.rng);
        Ok(match version {
            Version::V1 => Box::new(v1::V1Peer::new(self.args, rng, remote, now)?),
            Version::V2 => Box::new(v2::V2Peer::new(self.args, rng, remote, now)?),
        })
    }

    fn run(&mut self) -> Result<u8, String> {
        let mut buf = Vec::new();
        loop {
            let now = Instant::now();
            self.flush(now, &mut buf);
            self.events(now)?;
            self.data_plane_timers(now);
            self.flush(now, &mut buf);
            // What a shutdown started there (IKEv1 Deletes are done once sent).
            self.events(now)?;
            self.flush(now, &mut buf);
            if let Some(code) = self.finished(now) {
                return Ok(code);
            }
            let deadline = [
                self.ike.as_ref().and_then(|i| i.poll_timeout()),
                self.dp.poll_timeout(),
                self.exit_at,
                Some(self.started + self.args.timeout),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(1));
            match self.rx.recv_timeout(deadline.saturating_duration_since(now)) {
                Ok(input) => self.input(Instant::now(), input)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err("all readers stopped".to_owned()),
            }
            let now = Instant::now();
            if let Some(ike) = self.ike.as_mut() {
                ike.handle_timeout(now);
            }
        }
    }

    /// Milliseconds since the start (initiator) or since the first datagram (responder).
    fn elapsed_ms(&self, now: Instant) -> u64 {
        let since = self.first_datagram.unwrap_or(self.started);
        u64::try_from(now.saturating_duration_since(since).as_millis()).unwrap_or(u64::MAX)
    }

    /// Exit status once the run is over.
    fn finished(&mut self, now: Instant) -> Option<u8> {
        if self.exit_at.is_some_and(|t| t <= now) {
            return Some(self.exit_code);
        }
        if self.exit_at.is_none() && !self.child_up && !self.ike_up && now >= self.started + self.args.timeout
        {
            self.out.error(format!("no SA within {} s", self.args.timeout.as_secs()));
            return Some(EXIT_ERROR);
        }
        None
    }

    /// Starts the end of the run: Deletes, then exit once answered (or after 3 s).
    fn shut_down(&mut self, now: Instant, code: u8) {
        if self.exit_at.is_some() {
            return;
        }
        self.exit_code = code;
        let waiting = self.ike.as_mut().is_some_and(|i| i.delete(now));
        self.exit_at = Some(if waiting { now + Duration::from_secs(3) } else { now });
    }

    fn send(&self, encapsulated: bool, data: &[u8]) {
        let result = if encapsulated {
            let mut d = Vec::with_capacity(data.len() + 4);
            d.extend_from_slice(&NON_ESP_MARKER);
            d.extend_from_slice(data);
            self.s_natt.send_to(&d, self.peer_natt)
        } else {
            self.s_ike.send_to(data, self.peer_ike)
        };
        if let Err(e) = result {
            eprintln!("ikepeer: send: {e}");
        }
    }

    fn send_esp(&mut self, esp: &[u8]) {
        if let Err(e) = self.s_natt.send_to(esp, self.peer_natt) {
            eprintln!("ikepeer: send ESP: {e}");
        }
    }

    /// Sends every datagram the IKE machines queued.
    fn flush(&mut self, now: Instant, buf: &mut Vec<u8>) {
        loop {
            buf.clear();
            let Some(encapsulated) = self.ike.as_mut().and_then(|i| i.poll_transmit(now, buf)) else { break };
            if encapsulated {
                self.dp.start_keepalives(now);
            }
            self.send(encapsulated, buf);
        }
    }

    fn events(&mut self, now: Instant) -> Result<(), String> {
        while let Some(event) = self.ike.as_mut().and_then(|i| i.poll_event()) {
            match event {
                PeerEvent::IkeUp(fields) => {
                    self.ike_up = true;
                    let mut fields = fields;
                    fields["elapsed_ms"] = json!(self.elapsed_ms(now));
                    self.out.emit("ike_up", fields);
                }
                PeerEvent::ChildUp(child) => self.child_up(&child, now)?,
                PeerEvent::ChildRekeyed { old_spi_in, old_spi_out, child } => {
                    self.child_rekeyed(old_spi_in, old_spi_out, &child, now)?;
                }
                PeerEvent::IkeRekeyed { old, new, lifetime } => {
                    let mut fields = json!({ "kind": "ike", "old_spi": old, "spi": new, "elapsed_ms": self.elapsed_ms(now) });
                    if let Some(l) = lifetime {
                        fields["lifetime_s"] = json!(l.as_secs());
                    }
                    self.out.emit("rekeyed", fields);
                }
                PeerEvent::ChildDeleted { spi_in, by, replaced } => {
                    self.dp.remove(spi_in);
                    self.out.emit(
                        "deleted",
                        json!({ "sa": "child", "spi_in": hex32(spi_in), "by": by.as_str(), "replaced": replaced, "elapsed_ms": self.elapsed_ms(now) }),
                    );
                }
                PeerEvent::IkeDeleted { by, spi, replaced, last } => {
                    let mut fields = json!({ "sa": "ike", "by": by.as_str(), "replaced": replaced, "esp_in": self.dp.esp_in, "esp_out": self.dp.esp_out, "elapsed_ms": self.elapsed_ms(now) });
                    if let Some(spi) = spi {
                        fields["spi"] = json!(spi);
                    }
                    self.out.emit("deleted", fields);
                    if !last {
                        // A replaced IKE SA: its successor carries on.
                    } else if by != By::Local {
                        // The peer (or the lifetime) ended it: nothing left to delete.
                        self.exit_at.get_or_insert(now);
                    } else {
                        // Let the last Delete go out, then stop.
                        self.exit_at = Some(self.exit_at.map_or(now, |t| t.min(now)));
                    }
                }
                PeerEvent::PeerDead => {
                    self.out.emit("peer_dead", json!({}));
                    self.exit_code = EXIT_PEER_DEAD;
                    self.exit_at = Some(now);
                }
                PeerEvent::Error { message, fatal } => {
                    self.out.error(&message);
                    if fatal {
                        self.exit_code = EXIT_ERROR;
                        self.exit_at = Some(now);
                    }
                }
                PeerEvent::Keylog(table, line) => {
                    if let Some(k) = self.keylog.as_mut() {
                        let r = match table {
                            KeyTable::V1 => k.add_ikev1(line),
                            KeyTable::V2 => k.add_ikev2(line),
                        };
                        r.map_err(|e| format!("--keylog: {e}"))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn child_up(&mut self, child: &ChildSa, now: Instant) -> Result<(), String> {
        self.child_up = true;
        let encap = matches!(child.encapsulation, EspEncapsulation::Udp { .. });
        self.out.emit(
            "child_up",
            json!({
                "spi_in": hex32(child.spi_in),
                "spi_out": hex32(child.spi_out),
                "elapsed_ms": self.elapsed_ms(now),
                "transform": esp_transform_name(child.encryption, child.integrity),
                "mode": if child.mode == EspMode::Tunnel { "tunnel" } else { "transport" },
                "udp_encap": encap,
            }),
        );
        self.keylog_esp(child)?;
        if !encap {
            self.out.error("the Child SA is not UDP-encapsulated; ikepeer carries ESP only in UDP");
            return Ok(());
        }
        if let Err(e) = self.dp.install(child, now) {
            self.out.error(format!("ESP SA: {e}"));
        }
        self.dp.start_keepalives(now);
        Ok(())
    }

    /// A rekeyed Child SA: announce, key-log and install it (it sends from now on).
    fn child_rekeyed(
        &mut self,
        old_spi_in: u32,
        old_spi_out: Option<u32>,
        child: &ChildSa,
        now: Instant,
    ) -> Result<(), String> {
        self.out.emit(
            "rekeyed",
            json!({
                "kind": "child",
                "old_spi_in": hex32(old_spi_in),
                "old_spi_out": old_spi_out.map(hex32),
                "spi_in": hex32(child.spi_in),
                "spi_out": hex32(child.spi_out),
                "transform": esp_transform_name(child.encryption, child.integrity),
                "elapsed_ms": self.elapsed_ms(now),
            }),
        );
        self.keylog_esp(child)?;
        if let Err(e) = self.dp.install(child, now) {
            self.out.error(format!("ESP SA: {e}"));
        }
        Ok(())
    }

    fn keylog_esp(&mut self, child: &ChildSa) -> Result<(), String> {
        if let Some(k) = self.keylog.as_mut() {
            let (inbound, outbound) = child.esp_params().map_err(|e| e.to_string())?;
            for p in [&inbound, &outbound] {
                k.add_esp(l2sec_esp::keylog::esp_sa_line(p, None, None))
                    .map_err(|e| format!("--keylog: {e}"))?;
            }
        }
        Ok(())
    }

    /// Sends an ESP packet of ours and counts it against the sending pair's lifetime.
    fn send_esp_counted(&mut self, now: Instant, esp: &[u8]) {
        self.send_esp(esp);
        if let (Some(spi), Some(ike)) = (self.dp.sending_spi(), self.ike.as_mut()) {
            ike.esp_traffic(now, spi, esp.len() as u64, false);
        }
    }

    fn data_plane_timers(&mut self, now: Instant) {
        if self.dp.keepalive_due(now)
            && let Err(e) = self.s_natt.send_to(&KEEPALIVE, self.peer_natt)
        {
            eprintln!("ikepeer: keepalive: {e}");
        }
        while let Some(esp) = self.dp.poll_ping(now) {
            self.send_esp_counted(now, &esp);
        }
        if self.args.ping > 0 && self.args.role == Role::Initiator && self.dp.pings_done() && self.child_up {
            let code = if self.ping_replies == self.args.ping { 0 } else { EXIT_PING_LOST };
            if self.exit_at.is_none() {
                self.out.emit("ping_done", json!({ "sent": self.args.ping, "received": self.ping_replies }));
            }
            self.shut_down(now, code);
        }
    }

    fn input(&mut self, now: Instant, input: Input) -> Result<(), String> {
        match input {
            Input::Signal(sig) => {
                eprintln!("ikepeer: signal {sig}: deleting the SAs");
                self.shut_down(now, 0);
            }
            Input::Tun(packet) => {
                if let Some(esp) = self.dp.seal(&packet) {
                    self.send_esp_counted(now, &esp);
                }
            }
            Input::Udp { natt: false, from, data } => {
                if self.ike.is_none() {
                    let Some(version) = self.version_of(&data) else { return Ok(()) };
                    let machine = self.machine(version, from, now)?;
                    self.ike = Some(machine);
                    self.first_datagram = Some(now);
                }
                self.peer_ike = from;
                if let Some(ike) = self.ike.as_mut() {
                    ike.handle_datagram(now, &data);
                }
            }
            Input::Udp { natt: true, from, mut data } => match natt::classify(&data) {
                Ok(Udp4500::Keepalive) => {}
                Ok(Udp4500::Ike) => {
                    if self.ike.is_none() {
                        let Some(version) = self.version_of(&data[4..]) else { return Ok(()) };
                        let machine = self.machine(version, from, now)?;
                        self.ike = Some(machine);
                        self.first_datagram = Some(now);
                    }
                    self.peer_natt = from;
                    if let Some(ike) = self.ike.as_mut() {
                        ike.handle_datagram(now, &data[4..]);
                    }
                }
                Ok(Udp4500::Esp { spi }) => {
                    if !self.dp.accepts(spi) {
                        self.dp.esp_dropped += 1;
                        return Ok(());
                    }
                    self.peer_natt = from;
                    let bytes = data.len() as u64;
                    if let Some(ike) = self.ike.as_mut() {
                        ike.esp_traffic(now, spi, bytes, true);
                    }
                    match self.dp.open(spi, &mut data, now) {
                        Inbound::Consumed => {}
                        Inbound::Reply(esp) => self.send_esp_counted(now, &esp),
                        Inbound::PingReply { seq, rtt } => {
                            self.ping_replies += 1;
                            self.out.emit(
                                "ping_reply",
                                json!({ "seq": seq, "rtt_us": u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX) }),
                            );
                        }
                    }
                }
                Err(e) => eprintln!("ikepeer: dropped a NAT-T datagram: {e}"),
            },
        }
        Ok(())
    }

    /// The IKE version of a responder's first datagram (RFC 2408 §3.1 / RFC 7296 §3.1:
    /// the major version in the high nibble of byte 17), if we accept it.
    fn version_of(&self, data: &[u8]) -> Option<Version> {
        let version = match data.get(17).map(|v| v >> 4) {
            Some(1) => Version::V1,
            Some(2) => Version::V2,
            _ => {
                eprintln!("ikepeer: dropped a datagram that is not IKE");
                return None;
            }
        };
        if self.args.ike.is_some_and(|v| v != version) {
            eprintln!("ikepeer: dropped an IKE{version:?} datagram (--ike says otherwise)");
            return None;
        }
        Some(version)
    }
}

fn hex32(v: u32) -> String {
    format!("{v:08x}")
}

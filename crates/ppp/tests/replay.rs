//! Replays of real captures from the lab (`/work/shared/lab/radius-l2tp/samples`): two real
//! pppd 2.4.9 over a serial line, and real pppd behind xl2tpd over L2TP.
//!
//! 1. Every PPP frame parses, and re-encodes to the same bytes.
//! 2. l2sec plays one side: the other side's captured frames are fed to it. Replies that
//!    name one of our requests (Configure-Ack/Nak/Reject, Terminate-Ack, the CHAP Response
//!    identifier) are re-addressed to l2sec's own outstanding request, since our
//!    identifiers and Magic-Numbers differ from pppd's; everything else is fed as captured.
//!    The random challenge is scripted to the captured one, so l2sec's CHAP and MS-CHAPv2
//!    values must equal the ones pppd computed, byte for byte, and l2sec must reach the
//!    same states (LCP, authentication, IPCP with the same address, IPV6CP, terminate).

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use l2sec_ppp::fsm::State;
use l2sec_ppp::rand_core::{TryCryptoRng, TryRng};
use l2sec_ppp::secrets::ChapSecrets;
use l2sec_ppp::wire::{
    self, ChapPacket, CpPacket, Frame, IpcpOption, Packet, PapPacket, chap_code, code, protocol,
};
use l2sec_ppp::{AuthMethod, Config, Event, PeerCredentials, Session};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/lab/radius-l2tp/samples");

/// One captured PPP frame: time, direction (0/1), bytes.
type Captured = (f64, u8, Vec<u8>);

fn read_pcap(name: &str) -> Vec<Captured> {
    let path = format!("{SAMPLES}/{name}");
    let d = std::fs::read(&path).unwrap_or_else(|e| panic!("sample {path}: {e}"));
    assert_eq!(&d[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian microsecond pcap");
    let linktype = u32::from_le_bytes(d[20..24].try_into().unwrap());
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= d.len() {
        let sec = u32::from_le_bytes(d[i..i + 4].try_into().unwrap());
        let usec = u32::from_le_bytes(d[i + 4..i + 8].try_into().unwrap());
        let caplen = u32::from_le_bytes(d[i + 8..i + 12].try_into().unwrap()) as usize;
        let pkt = &d[i + 16..i + 16 + caplen];
        i += 16 + caplen;
        let ts = f64::from(sec) + f64::from(usec) / 1e6;
        match linktype {
            // LINKTYPE_PPP_WITH_DIR: direction octet, then the PPP frame.
            204 => out.push((ts, pkt[0], pkt[1..].to_vec())),
            // Ethernet / IPv4 / UDP / L2TPv2 data messages.
            1 => {
                if let Some((dir, ppp)) = l2tp_ppp(pkt) {
                    out.push((ts, dir, ppp.to_vec()));
                }
            }
            other => panic!("linktype {other}"),
        }
    }
    out
}

/// The PPP frame of an L2TP data message (RFC 2661 §3.1), and its direction: 1 from the
/// LNS (UDP 17101), 0 from the LAC.
fn l2tp_ppp(eth: &[u8]) -> Option<(u8, &[u8])> {
    if eth.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = &eth[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ip[9] != 17 {
        return None;
    }
    let udp = &ip[ihl..];
    let sport = u16::from_be_bytes([udp[0], udp[1]]);
    let l2tp = &udp[8..];
    let flags = u16::from_be_bytes([l2tp[0], l2tp[1]]);
    if flags & 0x8000 != 0 || flags & 0x000f != 2 {
        return None; // control message
    }
    let mut o = 2;
    if flags & 0x4000 != 0 {
        o += 2;
    }
    o += 4; // tunnel and session ids
    if flags & 0x0800 != 0 {
        o += 4;
    }
    if flags & 0x0200 != 0 {
        let off = usize::from(u16::from_be_bytes([l2tp[o], l2tp[o + 1]]));
        o += 2 + off;
    }
    Some((u8::from(sport == 17101), &l2tp[o..]))
}

const ALL: [&str; 4] = [
    "pppd-pair-chap-md5.pcap",
    "pppd-pair-mschapv2-mppe.pcap",
    "l2tp-real-pppd-mschapv2.pcap",
    "l2tp-real-pppd-chap-kernel-lns.pcap",
];

#[test]
fn every_captured_frame_parses_and_reencodes() {
    for name in ALL {
        let frames = read_pcap(name);
        assert!(frames.len() >= 20, "{name}: {} frames", frames.len());
        let mut typed = 0;
        for (_, _, f) in &frames {
            let fr = Frame::parse(f).unwrap_or_else(|e| panic!("{name}: {e} in {}", hex::encode(f)));
            let mut out = Vec::new();
            fr.encode(&mut out);
            assert_eq!(&out, f);
            let info = fr.information;
            let exact = |p: &Packet<'_>| info[..p.encoded_len()].to_vec();
            let mut re = Vec::new();
            match fr.protocol {
                protocol::LCP | protocol::IPCP | protocol::IPV6CP | protocol::CCP => {
                    let p = Packet::parse(info).unwrap();
                    let cp = CpPacket::from_packet(p, fr.protocol == protocol::LCP);
                    assert!(!matches!(cp, CpPacket::Other(_)), "{name}: untyped {cp:?}");
                    if let CpPacket::Configure { options, .. } = cp {
                        wire::validate_options(options).unwrap();
                    }
                    cp.encode(&mut re);
                    assert_eq!(re, exact(&p));
                    typed += 1;
                }
                protocol::CHAP => {
                    let p = Packet::parse(info).unwrap();
                    let c = ChapPacket::parse(info).unwrap();
                    assert!(!matches!(c, ChapPacket::Other(_)));
                    c.encode(&mut re);
                    assert_eq!(re, exact(&p));
                    typed += 1;
                }
                protocol::PAP => {
                    let p = Packet::parse(info).unwrap();
                    PapPacket::parse(info).unwrap().encode(&mut re);
                    assert_eq!(re, exact(&p));
                    typed += 1;
                }
                _ => {}
            }
        }
        assert!(typed >= 15, "{name}: {typed} control packets");
    }
}

/// A random number generator for replays: 16-octet fills (CHAP challenges, MS-CHAPv2 peer
/// challenges) come from a script, everything else from a seeded ChaCha20.
struct ScriptedRng {
    script: VecDeque<Vec<u8>>,
    inner: ChaCha20Rng,
}

impl TryRng for ScriptedRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.inner.next_u32())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.inner.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        if let Some(s) = self.script.front().filter(|s| s.len() == dst.len()) {
            dst.copy_from_slice(s);
            self.script.pop_front();
        } else {
            self.inner.fill_bytes(dst);
        }
        Ok(())
    }
}

impl TryCryptoRng for ScriptedRng {}

/// What l2sec has outstanding, learnt from the frames it sent.
#[derive(Default)]
struct Outstanding {
    configure: HashMap<u16, (u8, Vec<u8>)>,
    terminate: Option<u8>,
    challenge: Option<u8>,
    chap_response: Option<Vec<u8>>,
    chap_success: Option<Vec<u8>>,
    sent: Vec<Vec<u8>>,
}

impl Outstanding {
    fn learn(&mut self, f: &[u8]) {
        self.sent.push(f.to_vec());
        let fr = Frame::parse(f).unwrap();
        let Ok(p) = Packet::parse(fr.information) else { return };
        match (fr.protocol, p.code) {
            (protocol::LCP | protocol::IPCP | protocol::IPV6CP, code::CONFIGURE_REQUEST) => {
                self.configure.insert(fr.protocol, (p.identifier, p.data.to_vec()));
            }
            (protocol::LCP, code::TERMINATE_REQUEST) => self.terminate = Some(p.identifier),
            (protocol::CHAP, chap_code::CHALLENGE) => self.challenge = Some(p.identifier),
            (protocol::CHAP, chap_code::RESPONSE) => self.chap_response = Some(p.data.to_vec()),
            (protocol::CHAP, chap_code::SUCCESS) => self.chap_success = Some(p.data.to_vec()),
            _ => {}
        }
    }

    /// Re-addresses a captured reply to l2sec's outstanding request; `None` if l2sec has
    /// nothing it could answer (e.g. CCP, which l2sec Protocol-Rejects).
    fn translate(&self, f: &[u8]) -> Option<Vec<u8>> {
        let fr = Frame::parse(f).unwrap();
        let p = Packet::parse(fr.information).ok()?;
        let rebuild = |id: u8, data: &[u8]| {
            let mut v = Vec::new();
            wire::encode_header(fr.address_control, fr.protocol_compressed, fr.protocol, &mut v);
            wire::encode_packet(p.code, id, &[data], &mut v);
            Some(v)
        };
        match (fr.protocol, p.code) {
            (protocol::LCP | protocol::IPCP | protocol::IPV6CP, code::CONFIGURE_ACK) => {
                let (id, opts) = self.configure.get(&fr.protocol)?;
                rebuild(*id, opts)
            }
            (
                protocol::LCP | protocol::IPCP | protocol::IPV6CP,
                code::CONFIGURE_NAK | code::CONFIGURE_REJECT,
            ) => {
                let (id, _) = self.configure.get(&fr.protocol)?;
                rebuild(*id, p.data)
            }
            (protocol::LCP, code::TERMINATE_ACK) => rebuild(self.terminate?, p.data),
            (protocol::CHAP, chap_code::RESPONSE) => rebuild(self.challenge?, p.data),
            _ => Some(f.to_vec()),
        }
    }
}

fn ipcp_address_acked_for(frames: &[Captured], dir: u8) -> Ipv4Addr {
    ipcp_acked_for(frames, dir, 3).expect("an IPCP Configure-Ack with an address")
}

/// The address option `kind` in the last IPCP Configure-Ack sent by `dir`.
fn ipcp_acked_for(frames: &[Captured], dir: u8, kind: u8) -> Option<Ipv4Addr> {
    frames
        .iter()
        .filter(|(_, d, _)| *d == dir)
        .filter_map(|(_, _, f)| {
            let fr = Frame::parse(f).ok()?;
            let p = Packet::parse(fr.information).ok()?;
            (fr.protocol == protocol::IPCP && p.code == code::CONFIGURE_ACK).then_some(p.data)
        })
        .next_back()
        .and_then(|data| {
            wire::options(data).flatten().find(|o| o.kind == kind).and_then(|o| {
                match IpcpOption::from_raw(o) {
                    IpcpOption::IpAddress(a) | IpcpOption::NameServer(_, a) => Some(a),
                    _ => None,
                }
            })
        })
}

fn chap_of(frames: &[Captured], code_: u8) -> (u8, Vec<u8>, Vec<u8>) {
    frames
        .iter()
        .find_map(|(_, d, f)| {
            let fr = Frame::parse(f).ok()?;
            if fr.protocol != protocol::CHAP {
                return None;
            }
            match ChapPacket::parse(fr.information).ok()? {
                ChapPacket::Value { code: c, value, name, .. } if c == code_ => {
                    Some((*d, value.to_vec(), name.to_vec()))
                }
                ChapPacket::Result { code: c, message, .. } if c == code_ => {
                    Some((*d, message.to_vec(), Vec::new()))
                }
                _ => None,
            }
        })
        .expect("CHAP packet in capture")
}

struct Replay {
    s: Session<ScriptedRng>,
    out: Outstanding,
    events: Vec<Event>,
    now: Instant,
    /// The last captured Configure-Request fed to l2sec, per protocol.
    fed: HashMap<u16, (u8, Vec<u8>)>,
    /// Requests the shim re-sent on the captured side's behalf.
    emulated: usize,
}

impl Replay {
    fn new(s: Session<ScriptedRng>, now: Instant) -> Self {
        Replay { s, out: Outstanding::default(), events: Vec::new(), now, fed: HashMap::new(), emulated: 0 }
    }

    /// Feeds a captured frame (already re-addressed).
    fn feed(&mut self, name: &str, f: &[u8]) {
        let fr = Frame::parse(f).unwrap();
        if let Ok(p) = Packet::parse(fr.information)
            && p.code == code::CONFIGURE_REQUEST
        {
            self.fed.insert(fr.protocol, (p.identifier, p.data.to_vec()));
        }
        self.s.handle_input(self.now, f).unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    /// The captured side never saw l2sec's Configure-Nak/Reject (pppd got an Ack from its
    /// real partner). Do what RFC 1661 §5.3/§5.4 require of it, and what pppd does: send
    /// the request again with the rejected options left out and the Nak'd values taken.
    fn emulate_reaction(&mut self, ours: &[u8]) -> Option<Vec<u8>> {
        let fr = Frame::parse(ours).ok()?;
        let p = Packet::parse(fr.information).ok()?;
        if p.code != code::CONFIGURE_NAK && p.code != code::CONFIGURE_REJECT {
            return None;
        }
        let (id, opts) = self.fed.get(&fr.protocol)?.clone();
        if id != p.identifier {
            return None;
        }
        let answer: Vec<_> = wire::options(p.data).flatten().collect();
        let mut next = Vec::new();
        for o in wire::options(&opts).flatten() {
            match answer.iter().find(|a| a.kind == o.kind) {
                Some(_) if p.code == code::CONFIGURE_REJECT => {}
                Some(a) => a.encode(&mut next),
                None => o.encode(&mut next),
            }
        }
        let mut v = Vec::new();
        wire::encode_header(true, false, fr.protocol, &mut v);
        wire::encode_packet(code::CONFIGURE_REQUEST, id.wrapping_add(1), &[&next], &mut v);
        Some(v)
    }

    fn drain(&mut self, secrets: Option<&ChapSecrets>) {
        let mut buf = Vec::new();
        loop {
            let mut any = false;
            let mut again = Vec::new();
            while self.s.poll_transmit(self.now, &mut buf).is_some() {
                self.out.learn(&buf);
                again.extend(self.emulate_reaction(&buf));
                buf.clear();
                any = true;
            }
            for f in again {
                self.emulated += 1;
                self.feed("emulated", &f);
            }
            while let Some(e) = self.s.poll_event() {
                any = true;
                if let (Event::Authenticate(r), Some(sec)) = (&e, secrets) {
                    let v = sec.verify("l2sec", r);
                    self.s.answer_auth(self.now, r.id, v).unwrap();
                }
                self.events.push(e);
            }
            if !any {
                break;
            }
        }
    }

    fn has(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(f)
    }
}

/// l2sec as the peer, fed the captured authenticator's frames.
fn replay_as_peer(name: &str) {
    let frames = read_pcap(name);
    let (auth_dir, _, _) = chap_of(&frames, chap_code::CHALLENGE);
    let (_, captured_response, user) = chap_of(&frames, chap_code::RESPONSE);
    let user = String::from_utf8(user).unwrap();
    let password = match user.as_str() {
        "alice" => "alicepass",
        "msuser" => "mspass",
        other => panic!("unknown lab user {other}"),
    };
    let mschapv2 = captured_response.len() == 49;
    let mut cfg = Config::peer(PeerCredentials::new(user.clone(), password));
    cfg.ipv6cp = true;
    cfg.echo_interval = None;
    let script = if mschapv2 { vec![captured_response[..16].to_vec()] } else { vec![] };
    let rng = ScriptedRng { script: script.into(), inner: ChaCha20Rng::seed_from_u64(1) };
    let t0 = Instant::now();
    let mut r = Replay::new(Session::new(cfg, rng), t0);
    let first = frames[0].0;
    r.s.open(t0);
    r.drain(None);
    for (ts, dir, f) in &frames {
        r.now = t0 + Duration::from_secs_f64(ts - first);
        if *dir == auth_dir {
            if let Some(t) = r.out.translate(f) {
                r.feed(name, &t);
            }
        } else {
            // The captured peer's own actions that l2sec mirrors: an orderly close.
            let fr = Frame::parse(f).unwrap();
            if fr.protocol == protocol::LCP
                && Packet::parse(fr.information).is_ok_and(|p| p.code == code::TERMINATE_REQUEST)
            {
                r.s.close(r.now, "User request");
            }
        }
        r.drain(None);
    }
    // The CHAP/MS-CHAPv2 Response value l2sec computed equals pppd's.
    let ours = r.out.chap_response.clone().expect("l2sec sent a CHAP Response");
    let mut pkt = Vec::new();
    wire::encode_packet(2, 0, &[&ours], &mut pkt);
    let ours = ChapPacket::parse(&pkt).unwrap();
    let ChapPacket::Value { value, name: rname, .. } = ours else { panic!() };
    assert_eq!(hex::encode(value), hex::encode(&captured_response), "{name}: response value");
    assert_eq!(rname, user.as_bytes());
    let method = if mschapv2 { AuthMethod::MsChapV2 } else { AuthMethod::ChapMd5 };
    assert!(r.has(|e| matches!(e, Event::LinkUp)), "{name}");
    assert!(r.has(|e| matches!(e, Event::Authenticated(a) if a.method == method)), "{name}: {:?}", r.events);
    let addr = ipcp_address_acked_for(&frames, auth_dir);
    assert!(
        r.has(|e| matches!(e, Event::Ipv4Up(p) if p.local == addr)),
        "{name}: expected IPCP up with {addr}: {:?}",
        r.events
    );
    // The DNS server pppd handed its peer, if any, is the one l2sec learnt.
    let dns = ipcp_acked_for(&frames, auth_dir, wire::ipcp_option::PRIMARY_DNS);
    assert!(
        r.has(|e| matches!(e, Event::Ipv4Up(p) if p.dns[0] == dns)),
        "{name}: dns {dns:?}: {:?}",
        r.events
    );
    assert!(r.has(|e| matches!(e, Event::Ipv6Up(_))), "{name}: {:?}", r.events);
    assert!(r.has(|e| matches!(e, Event::Finished)), "{name}: {:?}", r.events);
    assert_eq!(r.s.lcp_state(), State::Closed);
    // CCP (and MPPE-compressed data) is not implemented: l2sec Protocol-Rejected it.
    assert!(r.out.sent.iter().any(|f| {
        let fr = Frame::parse(f).unwrap();
        fr.protocol == protocol::LCP && fr.information[0] == code::PROTOCOL_REJECT
    }));
}

#[test]
fn replay_peer_against_pppd_chap_md5_serial() {
    replay_as_peer("pppd-pair-chap-md5.pcap");
}

#[test]
fn replay_peer_against_pppd_mschapv2_serial() {
    replay_as_peer("pppd-pair-mschapv2-mppe.pcap");
}

#[test]
fn replay_peer_against_pppd_mschapv2_l2tp() {
    replay_as_peer("l2tp-real-pppd-mschapv2.pcap");
}

#[test]
fn replay_peer_against_pppd_chap_md5_l2tp_kernel_lns() {
    replay_as_peer("l2tp-real-pppd-chap-kernel-lns.pcap");
}

/// l2sec as the authenticator (MS-CHAPv2 captures: the challenge is 16 octets, which l2sec
/// also uses), fed the captured peer's frames; the challenge is scripted to pppd's, so
/// l2sec's `S=` must equal pppd's.
fn replay_as_authenticator(name: &str, server_name: &str) {
    let frames = read_pcap(name);
    let (auth_dir, challenge, _) = chap_of(&frames, chap_code::CHALLENGE);
    let (_, success, _) = chap_of(&frames, chap_code::SUCCESS);
    assert_eq!(challenge.len(), 16);
    let peer_dir = 1 - auth_dir;
    let assigned = ipcp_address_acked_for(&frames, auth_dir);
    let mut cfg = Config::authenticator(server_name);
    cfg.auth_methods = vec![AuthMethod::MsChapV2];
    cfg.ipcp.local = Some(Ipv4Addr::new(192, 0, 2, 1));
    cfg.ipcp.peer = Some(assigned);
    cfg.ipcp.dns = [Some(Ipv4Addr::new(192, 0, 2, 53)), None];
    cfg.ipv6cp = true;
    cfg.echo_interval = None;
    let rng = ScriptedRng { script: vec![challenge.clone()].into(), inner: ChaCha20Rng::seed_from_u64(2) };
    let t0 = Instant::now();
    let mut r = Replay::new(Session::new(cfg, rng), t0);
    let secrets = ChapSecrets::parse("msuser * mspass *\nalice * alicepass *\n").unwrap();
    let first = frames[0].0;
    r.s.open(t0);
    r.drain(Some(&secrets));
    for (ts, dir, f) in &frames {
        r.now = t0 + Duration::from_secs_f64(ts - first);
        if *dir == peer_dir
            && let Some(t) = r.out.translate(f)
        {
            r.feed(name, &t);
        }
        r.drain(Some(&secrets));
    }
    let ours = r.out.chap_success.clone().expect("l2sec sent CHAP Success");
    // pppd: "S=<40 hex> M=Access granted"; l2sec: the same S= and its own message.
    assert_eq!(&ours[..42], &success[..42], "{name}: authenticator response");
    assert!(r.has(
        |e| matches!(e, Event::Authenticated(a) if a.method == AuthMethod::MsChapV2 && a.mppe.is_some())
    ));
    assert!(r.has(|e| matches!(e, Event::Ipv4Up(p) if p.peer == assigned)), "{name}: {:?}", r.events);
    assert!(r.has(|e| matches!(e, Event::Ipv6Up(_))), "{name}: {:?}", r.events);
    // The peer's Terminate-Request: acked, then Stopped one Restart period later.
    r.now += Duration::from_secs(4);
    r.s.handle_timeout(r.now);
    r.drain(Some(&secrets));
    assert!(r.has(|e| matches!(e, Event::Finished)), "{name}: {:?}", r.events);
    assert_eq!(r.s.lcp_state(), State::Stopped);
}

#[test]
fn replay_authenticator_against_pppd_mschapv2_serial() {
    replay_as_authenticator("pppd-pair-mschapv2-mppe.pcap", "lab-pppd");
}

#[test]
fn replay_authenticator_against_pppd_mschapv2_l2tp() {
    replay_as_authenticator("l2tp-real-pppd-mschapv2.pcap", "lab-vm-lns");
}
